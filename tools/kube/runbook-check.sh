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
# shellcheck source=tools/kube/apiserver.sh
source "$ROOT/tools/kube/apiserver.sh"
start_apiserver "$W" "$KUBE_BIN"
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
c0=$(kubectl -n payments get deploy creditgate -o jsonpath='{.spec.template.metadata.annotations.checksum/restart}')
[ -n "$c0" ] || { echo "no checksum/restart on the pod template"; exit 1; }

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
c1=$(kubectl -n payments get deploy creditgate -o jsonpath='{.spec.template.metadata.annotations.checksum/restart}')
[ "$c0" = "$c1" ] || { echo "adding a route changed checksum/restart: the pods would roll instead of reloading"; exit 1; }
kubectl -n payments get configmap creditgate -o jsonpath='{.data.config\.yaml}' | grep -q /stripe/webhook-test
kubectl -n payments get ingress creditgate -o jsonpath='{.spec.rules[0].http.paths[*].path}' | grep -q /stripe/webhook-test

# Rotate the Stripe signing secret: both, one per line
OLD_WHSEC=$STRIPE_WEBHOOK_SECRET NEW_WHSEC=whsec_runbook_new_9876543210
run sh -c "printf '%s\n%s\n' '$OLD_WHSEC' '$NEW_WHSEC' > stripe-signing-secrets.main"
run sh -c "kubectl -n payments create secret generic creditgate --dry-run=client -o yaml \
  --from-file=stripe-signing-secrets.main --from-file=forward-signing-keys.main --from-file=redis-url \
  --from-file=stripe-signing-secrets.test --from-file=forward-signing-keys.test | kubectl apply -f -"
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
