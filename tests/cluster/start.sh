#!/usr/bin/env bash
# Starts skein's test cluster in DIR (created if missing):
#
#   etcd, kube-apiserver (RBAC, static tokens, TLS from a throw-away CA),
#   skein's CRDs from manifests/crds/ (when there are any), N fake Nodes,
#   kwok (plays the kubelet of those Nodes) and kube-scheduler (binds pods
#   to them, so pods need no spec.nodeName).
#
# Everything listens on 127.0.0.1 on free ports. Afterwards DIR holds:
#   env              sourceable: KUBECONFIG, APISERVER_URL, ADMIN_TOKEN,
#                    USER_TOKEN, ETCD_ENDPOINT, ports, pids, KWOK_NODE, ...
#   kubeconfig       admin (system:masters, bearer token), context skein-test
#   kubeconfig-user  user skein-test-user: authenticated, no RBAC grants
#   kubeconfig-cert  admin through a client certificate
#   logs/*.log       one log per server
#   pki/, data/, run/, pids/
# Stop it with tests/cluster/stop.sh DIR (also after a failed start). A
# watchdog stops it anyway when the process that ran start.sh exits (a test
# killed by its timeout leaves nothing behind) or after two hours.
#
# Settings (environment):
#   SKEIN_CLUSTER_NODES=2         number of kwok Nodes
#   SKEIN_CLUSTER_POD_MS=800      default run time of a pod, Running to Succeeded
#   SKEIN_CLUSTER_SCHEDULER=1     0: no kube-scheduler; pods must set spec.nodeName
#   SKEIN_CLUSTER_WATCH_CACHE=1   0: apiserver without watch cache, so every
#                                 watch reads etcd and an etcd compaction
#                                 expires every older resourceVersion
#   SKEIN_CLUSTER_CRDS=DIR        CRD directory (default: the repo's manifests/crds;
#                                 "none" to skip)
#   SKEIN_CLUSTER_TIMEOUT=90      seconds allowed for each component to get ready
#   SKEIN_CLUSTER_BIN=DIR         use these binaries instead of tests/cluster/build.sh's
#   SKEIN_CLUSTER_OWNER_PID=PID   stop the cluster when PID is gone (default:
#                                 the process that ran start.sh; 0: never)
#   SKEIN_CLUSTER_MAX_SECONDS=7200  stop the cluster after this long (0: never)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

if [[ $# -ne 1 ]]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
mkdir -p "$1"
dir=$(cd "$1" && pwd -P)

nodes=${SKEIN_CLUSTER_NODES:-2}
pod_ms=${SKEIN_CLUSTER_POD_MS:-800}
use_scheduler=${SKEIN_CLUSTER_SCHEDULER:-1}
watch_cache=${SKEIN_CLUSTER_WATCH_CACHE:-1}
timeout=${SKEIN_CLUSTER_TIMEOUT:-90}
owner=${SKEIN_CLUSTER_OWNER_PID:-$PPID}
max_seconds=${SKEIN_CLUSTER_MAX_SECONDS:-7200}
crd_dir=${SKEIN_CLUSTER_CRDS:-$repo/manifests/crds}
[[ "$nodes" =~ ^[0-9]+$ ]] || { cluster_log "SKEIN_CLUSTER_NODES must be a number"; exit 2; }
[[ "$pod_ms" =~ ^[0-9]+$ ]] || { cluster_log "SKEIN_CLUSTER_POD_MS must be a number"; exit 2; }
[[ "$timeout" =~ ^[0-9]+$ ]] || { cluster_log "SKEIN_CLUSTER_TIMEOUT must be a number"; exit 2; }
[[ "$owner" =~ ^[0-9]+$ ]] || { cluster_log "SKEIN_CLUSTER_OWNER_PID must be a number"; exit 2; }
[[ "$max_seconds" =~ ^[0-9]+$ ]] || { cluster_log "SKEIN_CLUSTER_MAX_SECONDS must be a number"; exit 2; }

if [[ -e "$dir/pids" ]] && compgen -G "$dir/pids/*.pid" >/dev/null; then
  for f in "$dir"/pids/*.pid; do
    if proc_alive "$f"; then
      cluster_log "a cluster already runs in $dir (stop it with stop.sh first)"
      exit 1
    fi
  done
fi

for tool in openssl curl python3 setsid; do
  command -v "$tool" >/dev/null 2>&1 || { cluster_log "$tool is needed (scripts/deps.sh --test installs it)"; exit 1; }
done

if [[ -n "${SKEIN_CLUSTER_BIN:-}" ]]; then
  bin=$SKEIN_CLUSTER_BIN
else
  bin=$("$here/build.sh" | tail -n 1)
fi
bin=$(cd "$bin" && pwd -P)
for b in etcd kube-apiserver kubectl kwok; do
  [[ -x "$bin/$b" ]] || { cluster_log "missing $bin/$b"; exit 1; }
done
if [[ "$use_scheduler" == 1 && ! -x "$bin/kube-scheduler" ]]; then
  cluster_log "missing $bin/kube-scheduler"
  exit 1
fi

mkdir -p "$dir"/{logs,pki,data,run,pids}
rm -rf "$dir/data/etcd"
started_ok=0
on_exit() {
  if ((started_ok == 0)); then
    cluster_log "start failed; stopping what was started"
    "$here/stop.sh" "$dir" || true
  fi
}
trap on_exit EXIT

# The watchdog comes first, so that even a start.sh killed half way leaves
# nothing running for long.
proc_start watchdog "$dir/pids/watchdog.pid" "$dir/logs/watchdog.log" \
  "$(readlink -f "$BASH")" "$here/watchdog.sh" "$dir" "$owner" "$max_seconds"

# --- credentials --------------------------------------------------------------

pki=$dir/pki
admin_token=$(openssl rand -hex 24)
user_token=$(openssl rand -hex 24)
{
  echo "$admin_token,skein-test-admin,uid-skein-test-admin,\"system:masters\""
  echo "$user_token,skein-test-user,uid-skein-test-user"
} >"$pki/tokens.csv"
chmod 600 "$pki/tokens.csv"

# P-256 keys: quick to generate, and accepted for serving, client
# certificates and service-account token signing (ES256).
genkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
# sign NAME SUBJECT EXTENSIONS: a certificate for pki/NAME.key signed by the CA.
sign() {
  local name=$1 subj=$2 ext=$3
  genkey "$pki/$name.key"
  openssl req -new -key "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr" 2>/dev/null
  printf '%s\n' "$ext" >"$pki/$name.ext"
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
    -CAcreateserial -days 3650 -extfile "$pki/$name.ext" -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.csr" "$pki/$name.ext"
}
genkey "$pki/ca.key"
openssl req -x509 -new -key "$pki/ca.key" -subj "/CN=skein-test-ca" -days 3650 \
  -out "$pki/ca.crt" 2>/dev/null
sign apiserver "/CN=kube-apiserver" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.0.0.1"
sign admin "/O=system:masters/CN=skein-test-admin-cert" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
genkey "$pki/sa.key"
openssl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
chmod 600 "$pki"/*.key

# --- etcd ---------------------------------------------------------------------

etcd_up() { curl -fsS --max-time 2 "http://127.0.0.1:$etcd_port/health" | grep -q '"health":"true"'; }
started=0
for attempt in 1 2 3 4 5; do
  mapfile -t ports < <(free_ports 2)
  etcd_port=${ports[0]} etcd_peer_port=${ports[1]}
  rm -rf "$dir/data/etcd"
  proc_start etcd "$dir/pids/etcd.pid" "$dir/logs/etcd.log" "$bin/etcd" \
    --name=skein-test \
    --data-dir="$dir/data/etcd" \
    --listen-client-urls="http://127.0.0.1:$etcd_port" \
    --advertise-client-urls="http://127.0.0.1:$etcd_port" \
    --listen-peer-urls="http://127.0.0.1:$etcd_peer_port" \
    --initial-advertise-peer-urls="http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster="skein-test=http://127.0.0.1:$etcd_peer_port" \
    --unsafe-no-fsync=true \
    --log-level=warn
  rc=0
  wait_until etcd "$timeout" "$dir/pids/etcd.pid" etcd_up || rc=$?
  if ((rc == 0)); then
    started=1
    break
  fi
  proc_stop "$dir/pids/etcd.pid" 5 || true
  # A port taken between choosing and binding it: choose again.
  if ((rc == 2)) && tail -n 20 "$dir/logs/etcd.log" | grep -qi "address already in use"; then
    cluster_log "etcd: port taken meanwhile (attempt $attempt); retrying with new ports"
    continue
  fi
  break
done
if ((started == 0)); then
  log_tail "$dir/logs/etcd.log"
  exit 1
fi
cluster_log "etcd ready on 127.0.0.1:$etcd_port"

# --- kube-apiserver -------------------------------------------------------------

apiserver_up() {
  [[ "$(curl -sS --max-time 3 --cacert "$pki/ca.crt" -H "Authorization: Bearer $admin_token" \
    "https://127.0.0.1:$api_port/readyz")" == ok ]]
}
started=0
for attempt in 1 2 3 4 5; do
  api_port=$(free_ports 1)
  args=(
    --etcd-servers="http://127.0.0.1:$etcd_port"
    --bind-address=127.0.0.1
    --advertise-address=127.0.0.1
    # The reconciler of the "kubernetes" Service refuses a loopback address;
    # nothing here reaches the apiserver through that Service anyway.
    --endpoint-reconciler-type=none
    --secure-port="$api_port"
    --cert-dir="$pki/apiserver-generated"
    --tls-cert-file="$pki/apiserver.crt"
    --tls-private-key-file="$pki/apiserver.key"
    --client-ca-file="$pki/ca.crt"
    --token-auth-file="$pki/tokens.csv"
    --authorization-mode=RBAC
    --service-account-issuer=https://kubernetes.default.svc.cluster.local
    --service-account-key-file="$pki/sa.pub"
    --service-account-signing-key-file="$pki/sa.key"
    --service-cluster-ip-range=10.0.0.0/24
    # There is no controller manager: nobody creates the default
    # ServiceAccounts, which ServiceAccount would demand of every pod, and
    # nobody lifts the not-ready taint that TaintNodesByCondition puts on
    # every new Node, which would leave every pod unschedulable.
    --disable-admission-plugins=ServiceAccount,TaintNodesByCondition
    --allow-privileged=true
    --profiling=false
    --watch-cache="$([[ "$watch_cache" == 1 ]] && echo true || echo false)"
  )
  # restart-apiserver.sh starts it again with exactly these arguments.
  printf '%s\n' "${args[@]}" >"$dir/run/kube-apiserver.args"
  proc_start kube-apiserver "$dir/pids/kube-apiserver.pid" "$dir/logs/kube-apiserver.log" \
    "$bin/kube-apiserver" "${args[@]}"
  rc=0
  wait_until kube-apiserver "$timeout" "$dir/pids/kube-apiserver.pid" apiserver_up || rc=$?
  if ((rc == 0)); then
    started=1
    break
  fi
  proc_stop "$dir/pids/kube-apiserver.pid" 5 || true
  if ((rc == 2)) && tail -n 40 "$dir/logs/kube-apiserver.log" | grep -qi "address already in use"; then
    cluster_log "kube-apiserver: port taken meanwhile (attempt $attempt); retrying with a new port"
    continue
  fi
  break
done
if ((started == 0)); then
  log_tail "$dir/logs/kube-apiserver.log" 40
  exit 1
fi
api_url="https://127.0.0.1:$api_port"
cluster_log "kube-apiserver ready at $api_url"

# --- kubeconfigs ----------------------------------------------------------------

ca_data=$(base64 -w0 <"$pki/ca.crt")
# write_kubeconfig FILE USER-NAME USER-FIELDS...: one cluster, one context.
write_kubeconfig() {
  local file=$1 user=$2
  shift 2
  {
    cat <<KC
apiVersion: v1
kind: Config
clusters:
- name: skein-test
  cluster:
    server: $api_url
    certificate-authority-data: $ca_data
users:
- name: $user
  user:
KC
    local line
    for line in "$@"; do
      echo "    $line"
    done
    cat <<KC
contexts:
- name: skein-test
  context:
    cluster: skein-test
    user: $user
    namespace: default
current-context: skein-test
KC
  } >"$file"
  chmod 600 "$file"
}
write_kubeconfig "$dir/kubeconfig" skein-test-admin "token: $admin_token"
write_kubeconfig "$dir/kubeconfig-user" skein-test-user "token: $user_token"
write_kubeconfig "$dir/kubeconfig-cert" skein-test-admin-cert \
  "client-certificate-data: $(base64 -w0 <"$pki/admin.crt")" \
  "client-key-data: $(base64 -w0 <"$pki/admin.key")"

kubectl=("$bin/kubectl" --kubeconfig="$dir/kubeconfig" --request-timeout=30s)

# --- CRDs -----------------------------------------------------------------------

crds=()
if [[ "$crd_dir" != none && -d "$crd_dir" ]]; then
  shopt -s nullglob
  crds=("$crd_dir"/*.yaml "$crd_dir"/*.yml)
  shopt -u nullglob
fi
if ((${#crds[@]} > 0)); then
  crd_args=()
  for f in "${crds[@]}"; do crd_args+=(-f "$f"); done
  if ! "${kubectl[@]}" apply "${crd_args[@]}" >"$dir/logs/crds.log" 2>&1; then
    log_tail "$dir/logs/crds.log"
    cluster_log "applying the CRDs in $crd_dir failed"
    exit 1
  fi
  if ! "${kubectl[@]}" wait --for=condition=Established --timeout="${timeout}s" \
      "${crd_args[@]}" >>"$dir/logs/crds.log" 2>&1; then
    log_tail "$dir/logs/crds.log"
    cluster_log "the CRDs in $crd_dir did not become Established"
    exit 1
  fi
  cluster_log "${#crds[@]} CRD file(s) applied and Established"
else
  cluster_log "no CRDs to apply (none in $crd_dir)"
fi

# --- Nodes, kwok, kube-scheduler ------------------------------------------------

node_names=()
for ((i = 0; i < nodes; i++)); do node_names+=("kwok-node-$i"); done
if ((nodes > 0)); then
  for n in "${node_names[@]}"; do
    cat <<NODE
apiVersion: v1
kind: Node
metadata:
  name: $n
  labels:
    kubernetes.io/hostname: $n
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
status:
  allocatable: {cpu: "64", memory: 256Gi, pods: "1000"}
  capacity: {cpu: "64", memory: 256Gi, pods: "1000"}
---
NODE
  done >"$dir/run/nodes.yaml"
  "${kubectl[@]}" apply -f "$dir/run/nodes.yaml" >/dev/null
fi

sed "s/@POD_DURATION_MS@/$pod_ms/g" "$here/kwok-stages.yaml" >"$dir/run/kwok.yaml"
mkdir -p "$dir/run/kwok-home"
# kwok also reads ~/.kwok/kwok.yaml when it exists; a HOME of its own keeps
# a developer's kwok settings out of the tests.
HOME="$dir/run/kwok-home" proc_start kwok "$dir/pids/kwok.pid" "$dir/logs/kwok.log" "$bin/kwok" \
  --kubeconfig="$dir/kubeconfig" \
  --config="$dir/run/kwok.yaml" \
  --manage-all-nodes=true \
  --node-lease-duration-seconds=0 \
  --node-ip=10.240.0.1 \
  --cidr=10.244.0.0/16

if [[ "$use_scheduler" == 1 ]]; then
  proc_start kube-scheduler "$dir/pids/kube-scheduler.pid" "$dir/logs/kube-scheduler.log" \
    "$bin/kube-scheduler" \
    --kubeconfig="$dir/kubeconfig" \
    --authentication-kubeconfig="$dir/kubeconfig" \
    --authorization-kubeconfig="$dir/kubeconfig" \
    --leader-elect=false \
    --bind-address=127.0.0.1 \
    --secure-port=0
fi

nodes_ready() {
  local n
  for n in "${node_names[@]}"; do
    [[ "$("${kubectl[@]}" get node "$n" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" == True ]] || return 1
  done
}
if ((nodes > 0)); then
  if ! wait_until "kwok nodes" "$timeout" "$dir/pids/kwok.pid" nodes_ready; then
    log_tail "$dir/logs/kwok.log"
    exit 1
  fi
  cluster_log "$nodes kwok node(s) Ready"
fi
if [[ "$use_scheduler" == 1 ]]; then
  # The scheduler serves nothing here (--secure-port=0); it is ready once it
  # has started its informers, which its log says. Polling for that line
  # bounds the wait; a pod created earlier would wait in Pending anyway.
  sched_up() { grep -q "Starting Kubernetes Scheduler\|Attempting to acquire\|successfully acquired" "$dir/logs/kube-scheduler.log"; }
  if ! wait_until kube-scheduler "$timeout" "$dir/pids/kube-scheduler.pid" sched_up; then
    log_tail "$dir/logs/kube-scheduler.log"
    exit 1
  fi
  cluster_log "kube-scheduler running"
fi

# --- env ------------------------------------------------------------------------

pid_of() { [[ -f "$dir/pids/$1.pid" ]] && awk '{print $1}' "$dir/pids/$1.pid" || true; }
{
  echo "# Written by tests/cluster/start.sh; source it to use this cluster."
  printf 'export CLUSTER_DIR=%q\n' "$dir"
  printf 'export CLUSTER_BIN=%q\n' "$bin"
  printf 'export KUBECTL=%q\n' "$bin/kubectl"
  printf 'export PATH=%q:"$PATH"\n' "$bin"
  printf 'export KUBECONFIG=%q\n' "$dir/kubeconfig"
  printf 'export KUBECONFIG_USER=%q\n' "$dir/kubeconfig-user"
  printf 'export KUBECONFIG_CERT=%q\n' "$dir/kubeconfig-cert"
  printf 'export APISERVER_URL=%q\n' "$api_url"
  printf 'export APISERVER_PORT=%q\n' "$api_port"
  printf 'export CA_FILE=%q\n' "$pki/ca.crt"
  printf 'export ADMIN_TOKEN=%q\n' "$admin_token"
  printf 'export USER_TOKEN=%q\n' "$user_token"
  printf 'export USER_NAME=%q\n' skein-test-user
  printf 'export ETCD_ENDPOINT=%q\n' "http://127.0.0.1:$etcd_port"
  printf 'export ETCD_PORT=%q\n' "$etcd_port"
  printf 'export ETCD_PEER_PORT=%q\n' "$etcd_peer_port"
  printf 'export DATA_DIR=%q\n' "$dir/data"
  printf 'export LOG_DIR=%q\n' "$dir/logs"
  printf 'export KWOK_NODES=%q\n' "${node_names[*]:-}"
  printf 'export KWOK_NODE=%q\n' "${node_names[0]:-}"
  printf 'export CLUSTER_SCHEDULER=%q\n' "$use_scheduler"
  printf 'export CLUSTER_POD_MS=%q\n' "$pod_ms"
  printf 'export ETCD_PID=%q\n' "$(pid_of etcd)"
  printf 'export APISERVER_PID=%q\n' "$(pid_of kube-apiserver)"
  printf 'export KWOK_PID=%q\n' "$(pid_of kwok)"
  printf 'export SCHEDULER_PID=%q\n' "$(pid_of kube-scheduler)"
  printf 'export WATCHDOG_PID=%q\n' "$(pid_of watchdog)"
} >"$dir/env"

started_ok=1
cluster_log "ready: source $dir/env (KUBECONFIG=$dir/kubeconfig)"
if [[ "$owner" != 0 ]]; then
  cluster_log "it stops by itself when process $owner exits (SKEIN_CLUSTER_OWNER_PID)"
fi
