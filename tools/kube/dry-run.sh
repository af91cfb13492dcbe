#!/usr/bin/env bash
# Starts etcd and kube-apiserver (built by tools/kube) on loopback, then asks the real
# API server to accept everything the chart and manifests/ produce:
#   kubectl apply --dry-run=server --warnings-as-errors  (every rendered scenario,
#     manifests/ and its sidecar overlay), in namespaces labelled
#     pod-security.kubernetes.io/enforce=restricted and warn=restricted, so a pod
#     template that breaks the restricted standard fails;
#   helm install --dry-run=server for every scenario and the sidecar example;
#   and proves the admission is on: a privileged Deployment must be refused.
# Usage: dry-run.sh KUBE_BIN HELM OUT CHART SIDECAR_EXAMPLE_DIR
set -euo pipefail
KUBE_BIN=$1 HELM=$2 OUT=$3 CHART=$4 EXAMPLE=$5
ROOT=$PWD
RUN="$(mktemp -d /tmp/creditgate-apiserver.XXXXXX)"
# shellcheck source=tools/kube/apiserver.sh
source "$ROOT/tools/kube/apiserver.sh"
start_apiserver "$RUN" "$KUBE_BIN"
k() { "$KUBE_BIN/kubectl" "$@"; }

restricted_ns() {
  k create namespace "$1" >/dev/null
  k label namespace "$1" pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/warn=restricted >/dev/null
  # No controller-manager runs: make the ServiceAccount it would make.
  k -n "$1" create serviceaccount default >/dev/null
}

# The admission must be on, or the checks below prove nothing: a Deployment whose pod
# template sets no securityContext at all (root allowed, capabilities kept, no seccomp)
# is refused (as a warning, which --warnings-as-errors turns into a failure).
restricted_ns admission-probe
cat >"$RUN/unrestricted.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: {name: unrestricted, namespace: admission-probe}
spec:
  selector: {matchLabels: {app: p}}
  template:
    metadata: {labels: {app: p}}
    spec:
      containers:
        - {name: p, image: example/p}
EOF
if k apply --dry-run=server --warnings-as-errors -f "$RUN/unrestricted.yaml" >"$RUN/probe.txt" 2>&1; then
  echo "the API server accepted an unrestricted pod template in a restricted namespace: PodSecurity is off"; exit 1
fi
grep -q 'violate PodSecurity "restricted' "$RUN/probe.txt" || { cat "$RUN/probe.txt"; exit 1; }
echo "PodSecurity admission is on: an unrestricted Deployment is refused ($(grep -o 'violate PodSecurity "restricted:[^"]*"' "$RUN/probe.txt"))"

for f in "$OUT"/render-*.yaml; do
  name=$(basename "$f" .yaml)
  name=${name#render-}
  ns=creditgate
  [ "$name" = sidecar-example ] && ns=shop
  k get namespace "$ns" >/dev/null 2>&1 || restricted_ns "$ns"
  k apply --dry-run=server --warnings-as-errors -n "$ns" -f "$f" >"$RUN/apply-$name.txt" 2>&1 ||
    { cat "$RUN/apply-$name.txt"; echo "server-side dry-run refused scenario $name"; exit 1; }
  echo "$name: $(grep -c 'created (server dry run)' "$RUN/apply-$name.txt") objects accepted (server dry run)"
done

k apply --dry-run=server --warnings-as-errors -k manifests >"$RUN/apply-manifests.txt" 2>&1 ||
  { cat "$RUN/apply-manifests.txt"; exit 1; }
echo "manifests/: $(grep -c '(server dry run)' "$RUN/apply-manifests.txt") objects accepted"
k apply --dry-run=server --warnings-as-errors -k manifests/sidecar >"$RUN/apply-sidecar.txt" 2>&1 ||
  { cat "$RUN/apply-sidecar.txt"; exit 1; }
echo "manifests/sidecar: $(grep -c '(server dry run)' "$RUN/apply-sidecar.txt") objects accepted"

for f in "$CHART"/ci/*-values.yaml; do
  name=$(basename "$f" -values.yaml)
  "$HELM" install "cg-$name" "$CHART" -n creditgate -f "$f" --dry-run=server >"$RUN/helm-$name.txt" 2>&1 ||
    { cat "$RUN/helm-$name.txt"; echo "helm install --dry-run=server refused $name"; exit 1; }
done
"$HELM" install shop "$EXAMPLE" -n shop --dry-run=server >"$RUN/helm-example.txt" 2>&1 ||
  { cat "$RUN/helm-example.txt"; exit 1; }
echo "helm install --dry-run=server: every scenario and the sidecar example accepted"
echo "API server peak memory: $(awk '/VmHWM/ {printf "%d MiB", $2/1024}' /proc/${apiserver_pids[1]}/status)"
