#!/usr/bin/env bash
# Runs the helm/kubectl commands of docs/kubernetes.md against a real kube-apiserver +
# etcd (tools/kube) on loopback. Objects are really stored (no --dry-run), but no
# controller or kubelet runs: no pod starts, so `rollout status`, `exec` and `logs` are
# not run here. Usage: bash tools/kube/runbook-check.sh  (after bash .ci/k8s built the tools)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
CACHE="${CREDITGATE_K8S_CACHE:-$ROOT/.cache/k8s}"
KUBE_BIN=$(ls -d "$CACHE"/bin/kube@*/ | head -1)
HELM=$(ls "$CACHE"/bin/helm@*/helm | head -1)
export PATH="$KUBE_BIN:$(dirname "$HELM"):$PATH"
export HELM_CACHE_HOME="$CACHE/helm/cache" HELM_CONFIG_HOME="$CACHE/helm/config" HELM_DATA_HOME="$CACHE/helm/data"
W="$(mktemp -d /tmp/creditgate-runbook.XXXXXX)"
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
  rm -rf "$W"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
E=$(port) P=$(port) A=$(port)
etcd --name rb --data-dir "$W/etcd" --listen-client-urls "http://127.0.0.1:$E" --advertise-client-urls "http://127.0.0.1:$E" \
  --listen-peer-urls "http://127.0.0.1:$P" --initial-advertise-peer-urls "http://127.0.0.1:$P" \
  --initial-cluster "rb=http://127.0.0.1:$P" --log-level error >"$W/etcd.log" 2>&1 &
pids+=($!)
openssl genrsa -out "$W/sa.key" 2048 2>/dev/null
T=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "$T,admin,admin,system:masters" >"$W/tokens.csv"
kube-apiserver --etcd-servers "http://127.0.0.1:$E" --bind-address 127.0.0.1 --secure-port "$A" --cert-dir "$W/certs" \
  --token-auth-file "$W/tokens.csv" --authorization-mode RBAC --service-account-issuer https://kubernetes.default.svc \
  --service-account-key-file "$W/sa.key" --service-account-signing-key-file "$W/sa.key" \
  --service-cluster-ip-range 10.96.0.0/24 --enable-priority-and-fairness=false >"$W/apiserver.log" 2>&1 &
pids+=($!)
export KUBECONFIG="$W/kubeconfig"
cat >"$KUBECONFIG" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: rb, cluster: {server: "https://127.0.0.1:$A", insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: "$T"}}]
contexts: [{name: rb, context: {cluster: rb, user: admin}}]
current-context: rb
EOF
for _ in $(seq 120); do kubectl get --raw /readyz >/dev/null 2>&1 && break; sleep 1; done
kubectl apply -f charts/test/testdata/crds/ >/dev/null
kubectl wait --for condition=established --timeout=60s crd --all >/dev/null
run() { printf '\n$ %s\n' "$*"; "$@"; }

cd "$W"
# Install
run kubectl create namespace payments
run kubectl label namespace payments pod-security.kubernetes.io/enforce=restricted
kubectl -n payments create serviceaccount default >/dev/null # what the controller-manager would do
STRIPE_WEBHOOK_SECRET=whsec_runbook_0123456789 REDIS_PASSWORD=runbook
printf '%s\n' "$STRIPE_WEBHOOK_SECRET" > stripe-signing-secrets.main
openssl rand -hex 32 > forward-signing-keys.main
printf '%s\n' "rediss://creditgate:$REDIS_PASSWORD@redis.example.com:6380/0" > redis-url
run kubectl -n payments create secret generic creditgate \
  --from-file=stripe-signing-secrets.main --from-file=forward-signing-keys.main --from-file=redis-url
cat >values.yaml <<'EOF'
routes:
  - name: main
    path: /stripe/webhook
    livemode: true
    forward:
      url: http://backend.shop.svc:8000/internal/credits
secrets:
  existingSecret: creditgate
ingress:
  className: nginx
  hosts: [pay.example.com]
  tls: [{secretName: creditgate-tls, hosts: [pay.example.com]}]
  annotations: {cert-manager.io/cluster-issuer: letsencrypt}
networkPolicy:
  backend:
    to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: shop}}}]
metrics:
  serviceMonitor: {enabled: true}
  prometheusRule: {enabled: true}
  dashboard: {enabled: true}
EOF
run helm upgrade --install creditgate "$ROOT/charts/creditgate" -n payments -f values.yaml
run kubectl -n payments get deployment,service,ingress,networkpolicy,pdb,configmap,secret,servicemonitor,prometheusrule
c0=$(kubectl -n payments get deploy creditgate -o jsonpath='{.spec.template.metadata.annotations.checksum/config}')

# Check a config before it ships
run sh -c "helm template creditgate $ROOT/charts/creditgate -n payments -f values.yaml --show-only templates/configmap.yaml > cm.yaml"
grep -q 'config.yaml: |' cm.yaml

# existingSecret changed: restart
run kubectl -n payments rollout restart deployment/creditgate
kubectl -n payments get deploy creditgate -o jsonpath='{.spec.template.metadata.annotations.kubectl\.kubernetes\.io/restartedAt}' | grep -q . ||
  { echo "rollout restart did not stamp the pod template"; exit 1; }

# Add a route
cat >values-2.yaml <<'EOF'
routes:
  - name: main
    path: /stripe/webhook
    livemode: true
    forward: {url: http://backend.shop.svc:8000/internal/credits}
  - name: test
    path: /stripe/webhook-test
    livemode: false
    forward: {url: http://backend-staging.staging.svc:8000/internal/credits}
EOF
printf 'whsec_runbook_test_0123456789\n' > stripe-signing-secrets.test
openssl rand -hex 32 > forward-signing-keys.test
run sh -c "kubectl -n payments create secret generic creditgate --dry-run=client -o yaml \
  --from-file=stripe-signing-secrets.main --from-file=forward-signing-keys.main --from-file=redis-url \
  --from-file=stripe-signing-secrets.test --from-file=forward-signing-keys.test | kubectl apply -f -"
run helm upgrade creditgate "$ROOT/charts/creditgate" -n payments -f values.yaml -f values-2.yaml
c1=$(kubectl -n payments get deploy creditgate -o jsonpath='{.spec.template.metadata.annotations.checksum/config}')
[ "$c0" != "$c1" ] || { echo "adding a route did not change checksum/config"; exit 1; }
kubectl -n payments get ingress creditgate -o jsonpath='{.spec.rules[0].http.paths[*].path}' | grep -q /stripe/webhook-test

# Rotate the Stripe signing secret: both, one per line
OLD_WHSEC=$STRIPE_WEBHOOK_SECRET NEW_WHSEC=whsec_runbook_new_9876543210
run sh -c "printf '%s\n%s\n' '$OLD_WHSEC' '$NEW_WHSEC' > stripe-signing-secrets.main"
run sh -c "kubectl -n payments create secret generic creditgate --dry-run=client -o yaml \
  --from-file=stripe-signing-secrets.main --from-file=forward-signing-keys.main --from-file=redis-url \
  --from-file=stripe-signing-secrets.test --from-file=forward-signing-keys.test | kubectl apply -f -"
run kubectl -n payments rollout restart deployment/creditgate
[ "$(kubectl -n payments get secret creditgate -o jsonpath='{.data.stripe-signing-secrets\.main}' | base64 -d | wc -l)" = 2 ]

# Scale out
run helm upgrade creditgate "$ROOT/charts/creditgate" -n payments -f values.yaml -f values-2.yaml --set replicaCount=4
[ "$(kubectl -n payments get deploy creditgate -o jsonpath='{.spec.replicas}')" = 4 ]
run helm upgrade creditgate "$ROOT/charts/creditgate" -n payments -f values.yaml -f values-2.yaml \
  --set autoscaling.enabled=true --set autoscaling.minReplicas=2 --set autoscaling.maxReplicas=10
run kubectl -n payments get hpa creditgate
run helm rollback creditgate -n payments 3
run helm history creditgate -n payments

# Without Helm
run kubectl apply -f "$ROOT/manifests/namespace.yaml"
run kubectl -n creditgate create secret generic creditgate \
  --from-file=stripe-signing-secrets.main --from-file=forward-signing-keys.main --from-file=redis-url
kubectl -n creditgate create serviceaccount default >/dev/null
run kubectl apply -k "$ROOT/manifests/"
run sh -c "kubectl kustomize $ROOT/manifests/sidecar | grep -c '^kind:'"

# Sidecar example
cp -r "$ROOT/charts/examples/backend-with-creditgate" ex
sed -i "s|file://../../creditgate|file://$ROOT/charts/creditgate|" ex/Chart.yaml
run helm dependency build ex
run sh -c "helm template shop ex -n shop | grep -c '^kind:'"
echo
echo "runbook commands: all ran"
