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
pids=()
cleanup() {
  # The API server first (it would wait for a dead etcd), then etcd; SIGKILL after 10s.
  local i p
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    p=${pids[i]}
    kill "$p" 2>/dev/null || continue
    for _ in $(seq 20); do kill -0 "$p" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$RUN"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
  echo $((20000 + RANDOM % 20000)); }
ETCD_PORT=$(free_port) PEER_PORT=$(free_port) API_PORT=$(free_port)

"$KUBE_BIN/etcd" --name dryrun --data-dir "$RUN/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$PEER_PORT" \
  --initial-cluster "dryrun=http://127.0.0.1:$PEER_PORT" --log-level error >"$RUN/etcd.log" 2>&1 &
pids+=($!)

openssl genrsa -out "$RUN/sa.key" 2048 2>/dev/null
TOKEN=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "$TOKEN,ci-admin,ci-admin,system:masters" >"$RUN/tokens.csv"
"$KUBE_BIN/kube-apiserver" \
  --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
  --bind-address 127.0.0.1 --secure-port "$API_PORT" --cert-dir "$RUN/certs" \
  --token-auth-file "$RUN/tokens.csv" --authorization-mode RBAC \
  --service-account-issuer https://kubernetes.default.svc --service-account-key-file "$RUN/sa.key" \
  --service-account-signing-key-file "$RUN/sa.key" --service-cluster-ip-range 10.96.0.0/24 \
  --enable-admission-plugins PodSecurity,NamespaceLifecycle,ServiceAccount,DefaultStorageClass,ResourceQuota,LimitRanger \
  --enable-priority-and-fairness=false --v 0 >"$RUN/apiserver.log" 2>&1 &
pids+=($!)

export KUBECONFIG="$RUN/kubeconfig"
cat >"$KUBECONFIG" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: dryrun, cluster: {server: "https://127.0.0.1:$API_PORT", insecure-skip-tls-verify: true}}]
users: [{name: ci-admin, user: {token: "$TOKEN"}}]
contexts: [{name: dryrun, context: {cluster: dryrun, user: ci-admin}}]
current-context: dryrun
EOF
k() { "$KUBE_BIN/kubectl" "$@"; }

t0=$(date +%s)
until k get --raw /readyz >/dev/null 2>&1; do
  if [ $(($(date +%s) - t0)) -gt 120 ]; then
    echo "kube-apiserver not ready after 120s"; tail -30 "$RUN/apiserver.log"; tail -10 "$RUN/etcd.log"; exit 1
  fi
  sleep 1
done
echo "kube-apiserver $(k version -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])' 2>/dev/null || echo '?') ready in $(($(date +%s) - t0))s on 127.0.0.1:$API_PORT"

k apply -f charts/test/testdata/crds/ >/dev/null
k wait --for condition=established --timeout=60s crd/servicemonitors.monitoring.coreos.com crd/prometheusrules.monitoring.coreos.com >/dev/null

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
echo "API server peak memory: $(awk '/VmHWM/ {printf "%d MiB", $2/1024}' /proc/${pids[1]}/status)"
