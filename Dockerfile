# syntax=docker/dockerfile:1
# creditgate's image: a static Go binary on distroless, non-root, no shell.
#   docker build --build-arg VERSION=v0.1.0 -t ghcr.io/creditgate/creditgate:v0.1.0 .
# .ci/k8s lints this file with BuildKit's own checks and runs the build stage's
# commands outside Docker (tools/dockerfilecheck), so the build below is known to work.

# 1.26.10: the standard library security fixes govulncheck reports for earlier 1.26 releases.
ARG GO_VERSION=1.26.10

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
ARG TARGETOS=linux
ARG TARGETARCH=amd64
ARG VERSION=dev
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY cmd/ cmd/
COPY internal/ internal/
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    GOOS="$TARGETOS" GOARCH="$TARGETARCH" go build -trimpath \
      -ldflags "-s -w -X github.com/creditgate/creditgate/internal/cli.Version=${VERSION}" \
      -o bin/creditgate ./cmd/creditgate

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="creditgate" \
      org.opencontainers.image.description="Verifies Stripe webhooks, credits each purchase exactly once, forwards one signed request to the backend" \
      org.opencontainers.image.source="https://github.com/creditgate/creditgate" \
      org.opencontainers.image.url="https://github.com/creditgate/creditgate" \
      org.opencontainers.image.documentation="https://github.com/creditgate/creditgate/blob/main/docs/kubernetes.md" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.base.name="gcr.io/distroless/static-debian12:nonroot"
COPY --from=build /src/bin/creditgate /usr/local/bin/creditgate
# distroless' nonroot user; numeric, so runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/creditgate"]
CMD ["serve", "--config", "/etc/creditgate/config.yaml"]
