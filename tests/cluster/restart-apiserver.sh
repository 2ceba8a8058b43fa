#!/usr/bin/env bash
# Restarts only the kube-apiserver of the test cluster in DIR, with the same
# arguments and port, and waits until it is ready again. etcd keeps its data,
# so objects survive; watches and connections of clients break, and the
# apiserver's watch cache starts afresh, as in a real control-plane restart.
#
# A graceful stop of kube-apiserver waits up to 60 s for its clients' watch
# connections (kwok's, the scheduler's, the daemon's under test) to go; so
# it gets SIGTERM and, after a short grace, SIGKILL, which to a client looks
# the same as a crash: connections reset, then refused until it is back.
#   SKEIN_APISERVER_GRACE=3    seconds between SIGTERM and SIGKILL (0: SIGKILL at once)
#   SKEIN_APISERVER_DOWN=0     seconds to stay down between stop and start
#   SKEIN_CLUSTER_TIMEOUT=90   seconds allowed to get ready
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

if [[ $# -ne 1 ]]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
dir=$(cd "$1" && pwd -P)
[[ -f "$dir/env" && -f "$dir/run/kube-apiserver.args" ]] || {
  cluster_log "no cluster started in $dir"
  exit 1
}
# shellcheck disable=SC1091
. "$dir/env"
timeout=${SKEIN_CLUSTER_TIMEOUT:-90}
down=${SKEIN_APISERVER_DOWN:-0}
grace=${SKEIN_APISERVER_GRACE:-3}

pidfile=$dir/pids/kube-apiserver.pid
proc_stop "$pidfile" "$grace" quiet
if [[ "$down" != 0 ]]; then
  sleep "$down"
fi

mapfile -t args <"$dir/run/kube-apiserver.args"
proc_start kube-apiserver "$pidfile" "$dir/logs/kube-apiserver.log" "$CLUSTER_BIN/kube-apiserver" "${args[@]}"
apiserver_up() {
  [[ "$(curl -sS --max-time 3 --cacert "$CA_FILE" -H "Authorization: Bearer $ADMIN_TOKEN" \
    "$APISERVER_URL/readyz")" == ok ]]
}
if ! wait_until kube-apiserver "$timeout" "$pidfile" apiserver_up; then
  log_tail "$dir/logs/kube-apiserver.log" 40
  exit 1
fi
new_pid=$(awk '{print $1}' "$pidfile")
# Keep the env file's pid current for later sourcing.
sed -i "s/^export APISERVER_PID=.*/export APISERVER_PID=$new_pid/" "$dir/env"
cluster_log "kube-apiserver restarted (pid $new_pid) at $APISERVER_URL"
