#!/usr/bin/env bash
# Crash safety of skeind against a real kube-apiserver: 20 Workflows (12
# three-step chains, 6 fan-outs of 5, 2 with a step that fails on every
# attempt and has two retries) are submitted while skeind is SIGKILLed and
# restarted ten times, at random moments (0.3-2 s after it starts) and at
# the worst ones (just after it logs a step going Running, that is between
# the status write that records an attempt and the Pod's create). Then one
# skeind runs until every Workflow has ended, and from the API alone:
#   - every Workflow ends in its expected phase (chains and fan-outs
#     Succeeded, the failing ones Failed);
#   - each step record has the attempt count it must have (1 for a step
#     that succeeds at once, 3 for the failing one): a crash never makes an
#     attempt run again, nor loses a result;
#   - each started record has exactly the Pods <wf>-<instance>-1..N of its
#     N attempts, controlled by its Workflow; no Pod exists for a step that
#     never started (controller.h invariants I1-I3);
#   - the last skeind exits 0 on SIGTERM, and no skeind log has an
#     ASan/UBSan report.
# SKEIN_CHAOS_SEED replays the random kill times of an earlier run.
set -uo pipefail

root=${SKEIN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$root/tests/lib/testlib.sh"
scratch_dir
. "$root/tests/e2e/chaos/lib.sh"

SKEIND=${SKEIND:-$root/build/skeind}
[[ -x $SKEIND ]] || { fail "no skeind at '$SKEIND' (set SKEIND)"; finish skeind_chaos; }
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}

seed=${SKEIN_CHAOS_SEED:-$(($(date +%s) % 100000))}
RANDOM=$seed
echo "random seed $seed (SKEIN_CHAOS_SEED=$seed replays it)"

chaos_start_cluster
ns=chaos
k create namespace "$ns" >/dev/null || fail "create namespace $ns"

# The 20 runs, in the order they are submitted: two per skeind life.
names=()
for i in 01 02 03 04 05 06 07 08 09 10 11 12; do names+=("chain-$i"); done
for i in 1 2 3 4 5 6; do names+=("fan-$i"); done
names+=(fail-1 fail-2)
order=(chain-01 fan-1 chain-02 fail-1 chain-03 chain-04 fan-2 chain-05 fan-3 chain-06
  chain-07 fan-4 chain-08 fail-2 chain-09 fan-5 chain-10 chain-11 fan-6 chain-12)
kind_of() {
  case $1 in chain-*) echo chain ;; fan-*) echo fanout ;; fail-*) echo failing ;; esac
}

# running_lines LOG: how many step transitions to Running LOG shows.
running_lines() { grep -c -- "-> Running" "$1" 2>/dev/null || true; }

kills=10
killed_after_running=0
started_ms=$(now_ms)
for ((round = 1; round <= kills; round++)); do
  start_skeind pid
  log=$skeind_log
  for name in "${order[@]:$(((round - 1) * 2)):2}"; do
    submit "$(kind_of "$name")" "$name" "$ns" || fail "submit $name"
  done
  if ((round % 2 == 0)); then
    # The worst moment: right after this skeind logged a start, which it
    # does once the status write recording it is answered and before the
    # Pod's create goes out. Waiting for it is bounded; without one it is
    # a random kill.
    before=$(running_lines "$log")
    more_running() { (($(running_lines "$log") > before)); }
    if wait_for 5 more_running; then killed_after_running=$((killed_after_running + 1)); fi
  else
    # Chaos, not synchronisation: the point is a moment nobody chose.
    ms=$((300 + RANDOM % 1701))
    sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
  fi
  kill_skeind "$pid"
done
echo "10 skeind lives SIGKILLed in $(($(now_ms) - started_ms)) ms ($killed_after_running right after a step went Running)"
expect "SIGKILLs done" "$skeind_n" "$kills"
if ((killed_after_running >= 1)); then
  ok "at least one kill landed right after a start decision ($killed_after_running)"
else
  fail "no kill landed right after a step went Running"
fi

# One skeind finishes the job.
start_skeind pid
final_log=$skeind_log
if wait_for 120 all_final "$ns" "${names[@]}"; then
  ok "all ${#names[@]} Workflows ended after the crashes ($(($(now_ms) - started_ms)) ms since the first submit)"
else
  fail "not every Workflow ended: $(k -n "$ns" get swf --no-headers 2>&1 | awk '$2 != "Succeeded" && $2 != "Failed"' | head -n 10)"
fi
stop_skeind "$pid"
expect "final skeind exits 0 on SIGTERM" "$stop_rc" 0
if grep -q "stopped" "$final_log"; then ok "final skeind logged its orderly stop"; else fail "final skeind did not log 'stopped'"; fi

check_runs "$ns" "${names[@]}"

# A crash costs at most a few API calls, never a Pod: there are exactly as
# many step Pods as attempts (12 x 3 + 6 x 7 + 2 x (1 + 3)).
pods=$(k -n "$ns" get pods -l skein.dev/workflow --no-headers 2>/dev/null | wc -l)
expect "Pods in the namespace" "$pods" $((12 * 3 + 6 * 7 + 2 * 4))

check_sanitizers
dump_logs
finish skeind_chaos
