# Sourced by dry-run.sh and runbook-check.sh (from the repository root):
#   start_apiserver DIR KUBE_BIN
# starts etcd and kube-apiserver (built by tools/kube) on loopback ports, keeping their
# data and logs in DIR; writes DIR/kubeconfig (a token with system:masters) and exports
# KUBECONFIG; waits until the API server is ready (at most 120 s, else prints the logs
# and exits 1); and installs the stand-in CRDs of charts/test/testdata/crds. On exit the
# API server is stopped first (it would wait for a dead etcd), then etcd, each with
# SIGKILL after 10 s, and DIR is removed.

apiserver_pids=()
apiserver_dir=

stop_apiserver() {
  local i p
  for ((i = ${#apiserver_pids[@]} - 1; i >= 0; i--)); do
    p=${apiserver_pids[i]}
    kill "$p" 2>/dev/null || continue
    for _ in $(seq 20); do kill -0 "$p" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  [ -z "$apiserver_dir" ] || rm -rf "$apiserver_dir"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
  echo $((20000 + RANDOM % 20000)); }

start_apiserver() {
  local dir=$1 bin=$2 etcd_port peer_port api_port token t0
  apiserver_dir=$dir
  trap stop_apiserver EXIT
  etcd_port=$(free_port) peer_port=$(free_port) api_port=$(free_port)
  "$bin/etcd" --name local --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "local=http://127.0.0.1:$peer_port" --log-level error >"$dir/etcd.log" 2>&1 &
  apiserver_pids+=($!)

  openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
  token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
  echo "$token,admin,admin,system:masters" >"$dir/tokens.csv"
  "$bin/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --secure-port "$api_port" --cert-dir "$dir/certs" \
    --token-auth-file "$dir/tokens.csv" --authorization-mode RBAC \
    --service-account-issuer https://kubernetes.default.svc --service-account-key-file "$dir/sa.key" \
    --service-account-signing-key-file "$dir/sa.key" --service-cluster-ip-range 10.96.0.0/24 \
    --enable-admission-plugins PodSecurity,NamespaceLifecycle,ServiceAccount,DefaultStorageClass,ResourceQuota,LimitRanger \
    --enable-priority-and-fairness=false --v 0 >"$dir/apiserver.log" 2>&1 &
  apiserver_pids+=($!)

  export KUBECONFIG="$dir/kubeconfig"
  cat >"$KUBECONFIG" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: "https://127.0.0.1:$api_port", insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: "$token"}}]
contexts: [{name: local, context: {cluster: local, user: admin}}]
current-context: local
KUBECONFIG

  t0=$(date +%s)
  until "$bin/kubectl" get --raw /readyz >/dev/null 2>&1; do
    if [ $(($(date +%s) - t0)) -gt 120 ]; then
      echo "kube-apiserver not ready after 120s"; tail -30 "$dir/apiserver.log"; tail -10 "$dir/etcd.log"; exit 1
    fi
    sleep 1
  done
  echo "kube-apiserver $("$bin/kubectl" version -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])' 2>/dev/null || echo '?') ready in $(($(date +%s) - t0))s on 127.0.0.1:$api_port"

  "$bin/kubectl" apply -f charts/test/testdata/crds/ >/dev/null
  "$bin/kubectl" wait --for condition=established --timeout=60s crd --all >/dev/null
}
