# shellcheck shell=bash
# chaos/lib.sh: what the skeind robustness tests (test_skeind_chaos.sh,
# test_skeind_watch.sh, test_skeind_leader.sh) share. Source it after
# tests/lib/testlib.sh and scratch_dir; it uses $tmp, $root and $SKEIND.
#
#   chaos_start_cluster            starts the test cluster in $tmp/cluster
#                                  (environment settings pass through), stops
#                                  it at exit, sources its env; exits on failure
#   k ARGS...                      kubectl with a request timeout
#   start_skeind VAR [FLAGS...]    starts skeind (the test flags, then FLAGS)
#                                  logging to $tmp/skeind-N.log; VAR gets its
#                                  pid, skeind_log its log file
#   skeind_port LOG WHAT           waits for "WHAT on port N" in LOG, prints N
#   stop_skeind PID                SIGTERM, then waits (20 s) for it to exit;
#                                  sets stop_rc to its exit status (or
#                                  "running" when it did not exit)
#   kill_skeind PID                SIGKILL, and wait until it is gone
#   submit KIND NAME [NS]          creates a Workflow from chaos/KIND.yaml
#   all_final NS NAME...           succeeds when every named Workflow has
#                                  ended (Succeeded, Failed or Cancelled)
#   check_runs NS NAME...          chaos/check_runs.py over the namespace's
#                                  Workflows and Pods, one check per line
#   check_sanitizers               a check: no ASan/UBSan report in any log
#   dump_logs                      on failures, the tails of the logs
#
# SKEIND_KUBECONFIG, when set, is the kubeconfig skeind gets (e.g. one
# through chaos/tcp_proxy.py); SKEIN_CHAOS_KEEP=DIR copies the logs there at
# exit, for a look after a run.

chaos_dir=$root/tests/e2e/chaos
skeind_n=0
skeind_pids=()
if [[ -n ${SKEIN_CHAOS_KEEP:-} ]]; then
  on_exit "mkdir -p \"\$SKEIN_CHAOS_KEEP\" && cp \"\$tmp\"/*.log \"\$SKEIN_CHAOS_KEEP\"/ 2>/dev/null"
fi

chaos_start_cluster() {
  if ! "$root/tests/cluster/start.sh" "$tmp/cluster" >"$tmp/cluster-start.log" 2>&1; then
    fail "tests/cluster/start.sh"
    tail -n 30 "$tmp/cluster-start.log" >&2
    for f in "$tmp"/cluster/logs/*.log; do
      [[ -f $f ]] && { echo "--- $f" >&2; tail -n 15 "$f" >&2; }
    done
    "$root/tests/cluster/stop.sh" "$tmp/cluster" >/dev/null 2>&1
    exit 1
  fi
  on_exit "\"$root/tests/cluster/stop.sh\" \"$tmp/cluster\" >/dev/null 2>&1"
  on_exit _chaos_kill_all
  # shellcheck disable=SC1091
  . "$tmp/cluster/env"
  ok "test cluster up (apiserver $APISERVER_URL)"
}

k() { "$KUBECTL" --request-timeout=20s "$@"; }

# A skeind still running when the script ends (a failed check, a signal)
# must not outlive it: it would keep writing to a cluster being stopped.
# Registered after the cluster's stop, so it runs before it.
_chaos_kill_all() {
  local p
  for p in "${skeind_pids[@]}"; do
    disown "$p" 2>/dev/null
    kill -KILL "$p" 2>/dev/null || true
  done
}

start_skeind() {
  local var=$1
  shift
  skeind_n=$((skeind_n + 1))
  skeind_log=$tmp/skeind-$skeind_n.log
  # The log exists before the process does, so a reader never races it.
  : >"$skeind_log"
  "$SKEIND" --kubeconfig "${SKEIND_KUBECONFIG:-$KUBECONFIG}" \
    --metrics-bind-address=127.0.0.1:0 --health-probe-bind-address=127.0.0.1:0 -v 1 "$@" \
    >"$skeind_log" 2>&1 </dev/null &
  printf -v "$var" '%s' "$!"
  skeind_pids+=("$!")
}

skeind_port() {
  local log=$1 what=$2 port=
  _port_in_log() {
    port=$(sed -n "s/.*$what on port \([0-9]*\).*/\1/p" "$log" | head -n 1)
    [[ -n $port ]]
  }
  wait_for 20 _port_in_log || return 1
  echo "$port"
}

stop_skeind() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null
  if wait_for 20 gone "$pid"; then
    stop_rc=0
    wait "$pid" || stop_rc=$?
  else
    stop_rc=running
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  fi
}

# Its exit status is of no interest, so the job is disowned first: bash
# would otherwise report "Killed" for it.
kill_skeind() {
  disown "$1" 2>/dev/null
  kill -KILL "$1" 2>/dev/null
  wait_for 10 gone "$1"
}

submit() {
  local kind=$1 name=$2 ns=${3:-default}
  sed "s/@NAME@/$name/" "$chaos_dir/$kind.yaml" | k -n "$ns" create -f - >/dev/null
}

all_final() {
  local ns=$1 phases
  shift
  phases=$(k -n "$ns" get swf "$@" -o jsonpath='{range .items[*]}{.status.phase}{" "}{end}' 2>/dev/null) ||
    return 1
  local n=0 p
  for p in $phases; do
    case $p in Succeeded | Failed | Cancelled) n=$((n + 1)) ;; esac
  done
  [[ $n -eq $# ]]
}

check_runs() {
  local ns=$1 line
  shift
  k -n "$ns" get swf -o json >"$tmp/workflows.json" &&
    k -n "$ns" get pods -o json >"$tmp/pods.json" || {
    fail "reading the Workflows and Pods of namespace $ns"
    return
  }
  while IFS= read -r line; do
    case $line in
      "ok   "*) ok "${line#ok   }" ;;
      "FAIL: "*) fail "${line#FAIL: }" ;;
      *) echo "$line" ;;
    esac
  done < <(python3 "$chaos_dir/check_runs.py" "$tmp/workflows.json" "$tmp/pods.json" "$@")
}

check_sanitizers() {
  local hits
  hits=$(grep -l -E "ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:" \
    "$tmp"/skeind-*.log 2>/dev/null)
  if [[ -z $hits ]]; then
    ok "no sanitizer report in $skeind_n skeind log(s)"
  else
    fail "sanitizer reports in: $hits"
    for f in $hits; do
      grep -E -A 30 "ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:" "$f" | head -n 60 >&2
    done
  fi
}

dump_logs() {
  [[ $failures -gt 0 ]] || return 0
  local f
  for f in "$tmp"/skeind-*.log; do
    [[ -f $f ]] && { echo "--- $f (last 25 lines)" >&2; tail -n 25 "$f" >&2; }
  done
  for f in "${LOG_DIR:-/nonexistent}"/*.log; do
    [[ -f $f ]] && { echo "--- $f (last 10 lines)" >&2; tail -n 10 "$f" >&2; }
  done
}
