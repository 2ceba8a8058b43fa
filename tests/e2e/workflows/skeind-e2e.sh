# shellcheck shell=bash
# skeind-e2e.sh: what the tests/e2e/test_skeind*.sh scripts share, sourced
# after tests/lib/testlib.sh. (It lives with the workflows those tests apply
# because a tests/e2e/test_*.sh file would be run as a test of its own.)
#
#   e2e_cluster [NS]        checks SKEIND and SKEINCTL, makes $tmp, starts a
#                           test cluster in $tmp/cluster (stopped at exit),
#                           sources its env and creates namespace NS
#                           (default skein-e2e), kept in $ns.
#   k ARGS...               kubectl as the cluster's admin, bounded in time.
#   skeind_start NAME KUBECONFIG [FLAGS...]
#                           starts skeind with its log in $tmp/NAME.log
#                           ($skeind_log) and waits for /readyz to answer
#                           200, which it does once both informer caches
#                           have synced; sets skeind_pid, metrics_port and
#                           health_port. Killed at exit if still running.
#                           Several may run; each start sets these anew.
#   skeind_stop [PID]       SIGTERM to PID (default: $skeind_pid), then
#                           waits (bounded) for the exit and sets skeind_rc
#                           ("timeout" if it did not exit).
#   skeind_log_clean [LOG]  a check: no sanitizer report in LOG (default
#                           $skeind_log).
#   podwatch_start          records every Pod event of the namespace in
#                           $tmp/pods.watch (see podwatch.py), and returns
#                           once the watch is known to be established.
#   podwatch EXPR           evaluates podwatch.py's EXPR over the record.
#   wf_phase NAME           the Workflow's status.phase ("" when none yet).
#   wait_finished NAME SECS waits until NAME's phase is final; prints it.
#   wf_json NAME            writes the Workflow as JSON to $tmp/NAME.json.
#   pods_json WF            writes WF's Pods as JSON to $tmp/WF.pods.json.
#   no_pods WF              WF has no Pod left (by its label).
#   wf_gone NAME            the Workflow is not found.
#   ts_ms TIMESTAMP         an RFC 3339 time in ms since the epoch.
#   events_of NAME          "TYPE REASON: MESSAGE" lines of NAME's Events.
#   show_logs               on failure: the tail of each skeind's log and the
#                           cluster's logs, since $tmp goes at exit.

# An ASan build of skeind reports leaks too, and stops at the first error.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}

E2E_WORKFLOWS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

k() { "$KUBECTL" --kubeconfig="$KUBECONFIG" --request-timeout=30s "$@"; }

e2e_cluster() {
  SKEIND=${SKEIND:-$(dirname "${SKEINCTL:-build/skeinctl}")/skeind}
  if [[ ! -x "$SKEIND" ]]; then
    echo "FAIL: no skeind at $SKEIND: build it or set SKEIND" >&2
    exit 1
  fi
  scratch_dir
  ns=${1:-skein-e2e}
  # start.sh runs in this shell (not a subshell), so its watchdog keeps the
  # cluster while this script runs and stops it if the script is killed.
  on_exit "'$SKEIN_SOURCE_DIR/tests/cluster/stop.sh' '$tmp/cluster' >/dev/null 2>&1"
  if ! "$SKEIN_SOURCE_DIR/tests/cluster/start.sh" "$tmp/cluster" >"$tmp/start.log" 2>&1; then
    cat "$tmp/start.log" >&2
    tail -n 20 "$tmp"/cluster/logs/*.log >&2 2>/dev/null
    echo "FAIL: the test cluster did not start" >&2
    exit 1
  fi
  # shellcheck source=/dev/null
  . "$tmp/cluster/env"
  k create namespace "$ns" >/dev/null || { echo "FAIL: create namespace $ns" >&2; exit 1; }
}

# The skeinds still running (started, not yet stopped and reaped), so that
# the exit kills exactly those.
_skeind_live=()
_skeind_logs=()
_skeind_kill() {
  local p
  for p in "${_skeind_live[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
}

_skeind_port() {
  sed -n "s/.*skeind: $1 on port \([0-9][0-9]*\).*/\1/p" "$skeind_log" | head -n 1
}

_readyz_ok() {
  [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$health_port/readyz") == 200 ]]
}

skeind_start() {
  local name=$1 kc=$2
  shift 2
  skeind_log=$tmp/$name.log
  "$SKEIND" --kubeconfig "$kc" --metrics-bind-address=127.0.0.1:0 \
    --health-probe-bind-address=127.0.0.1:0 -v 1 "$@" >"$skeind_log" 2>&1 </dev/null &
  skeind_pid=$!
  [[ ${#_skeind_live[@]} -gt 0 ]] || on_exit _skeind_kill
  _skeind_live+=("$skeind_pid")
  _skeind_logs+=("$skeind_log")
  if ! wait_for 20 grep -qs "health probes on port" "$skeind_log"; then
    fail "skeind $name did not open its ports"
    tail -n 30 "$skeind_log" >&2
    return 1
  fi
  metrics_port=$(_skeind_port metrics)
  health_port=$(_skeind_port "health probes")
  if wait_for 30 _readyz_ok; then
    ok "skeind $name is ready (/readyz 200; metrics on $metrics_port, probes on $health_port)"
  else
    fail "skeind $name: /readyz never answered 200"
    tail -n 30 "$skeind_log" >&2
    return 1
  fi
}

skeind_stop() {
  local pid=${1:-$skeind_pid} p live=()
  skeind_rc=
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null
  if wait_for 20 gone "$pid"; then
    wait "$pid"
    skeind_rc=$?
  else
    skeind_rc=timeout
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  fi
  for p in "${_skeind_live[@]}"; do [[ $p == "$pid" ]] || live+=("$p"); done
  _skeind_live=("${live[@]}")
  [[ $pid != "$skeind_pid" ]] || skeind_pid=
}

skeind_log_clean() {
  local log=${1:-$skeind_log} hits
  hits=$(grep -n -e 'ERROR: AddressSanitizer' -e 'ERROR: LeakSanitizer' -e 'runtime error:' \
    "$log" | head -n 20)
  if [[ -z $hits ]]; then
    ok "no sanitizer report in $(basename "$log")"
  else
    fail "sanitizer report in $(basename "$log"):"
    echo "$hits" >&2
    grep -A 30 -e 'ERROR: AddressSanitizer' -e 'ERROR: LeakSanitizer' "$log" | head -n 60 >&2
  fi
}

watch_pid=
_podwatch_kill() {
  if [[ -n $watch_pid ]]; then kill "$watch_pid" 2>/dev/null || true; fi
}

podwatch_start() {
  "$KUBECTL" --kubeconfig="$KUBECONFIG" get pods -n "$ns" -l skein.dev/workflow --watch \
    --output-watch-events -o json >"$tmp/pods.watch" 2>"$tmp/pods.watch.err" </dev/null &
  watch_pid=$!
  on_exit _podwatch_kill
  # A Pod of no workflow's, created once the watch runs, shows that it
  # does: events before that could be missing from the record.
  k run -n "$ns" watch-sentinel --image=busybox --restart=Never \
    --labels=skein.dev/workflow=watch-sentinel >/dev/null || fail "create the watch sentinel Pod"
  if wait_for 20 grep -q '"name":"watch-sentinel"' "$tmp/pods.watch"; then
    ok "pod watch established"
  else
    fail "pod watch: the sentinel never showed"
    cat "$tmp/pods.watch.err" >&2
  fi
}

podwatch() {
  python3 "$E2E_WORKFLOWS/podwatch.py" "$tmp/pods.watch" "$1"
}

wf_phase() {
  k get swf -n "$ns" "$1" -o jsonpath='{.status.phase}' 2>/dev/null
}

_wf_final() {
  case $(wf_phase "$1") in
  Succeeded | Failed | Cancelled) return 0 ;;
  *) return 1 ;;
  esac
}

wait_finished() {
  wait_for "$2" _wf_final "$1"
  wf_phase "$1"
}

wf_json() {
  k get swf -n "$ns" "$1" -o json >"$tmp/$1.json" 2>"$tmp/$1.json.err"
}

pods_json() {
  k get pods -n "$ns" -l "skein.dev/workflow=$1" -o json >"$tmp/$1.pods.json"
}

no_pods() {
  [[ -z $(k get pods -n "$ns" -l "skein.dev/workflow=$1" -o name) ]]
}

wf_gone() {
  ! k get swf -n "$ns" "$1" >/dev/null 2>&1
}

events_of() {
  k get events -n "$ns" --field-selector "involvedObject.name=$1,involvedObject.kind=Workflow" \
    -o jsonpath='{range .items[*]}{.type} {.reason}: {.message}{"\n"}{end}'
}

show_logs() {
  [[ $failures -gt 0 ]] || return 0
  local log
  for log in "${_skeind_logs[@]}"; do
    echo "--- tail of $(basename "$log")" >&2
    tail -n 60 "$log" >&2
  done
  echo "--- tail of the cluster's logs" >&2
  tail -n 10 "$tmp"/cluster/logs/*.log >&2 2>/dev/null
}

# ts_ms TIMESTAMP: an RFC 3339 time (as the API writes it, with or without
# fractional seconds) in milliseconds since the epoch.
ts_ms() {
  python3 -c '
import datetime, sys
t = sys.argv[1].replace("Z", "+00:00")
print(int(datetime.datetime.fromisoformat(t).timestamp() * 1000))' "$1"
}
