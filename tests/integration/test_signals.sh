#!/usr/bin/env bash
# Killing steps: a timeout kills the whole process group (the grandchild a
# step left in the background is gone too); SIGINT or SIGTERM to skeinctl
# stops the run — running steps are killed, dependents do not start, the
# finally step still runs, exit 130, status.json says Cancelled; a second
# SIGINT terminates at once, without waiting out the SIGTERM grace period of
# a step that ignores SIGTERM.
#
# ctest sets SKEINCTL (the binary) and SKEIN_SOURCE_DIR (the source root).
set -euo pipefail

: "${SKEINCTL:?set SKEINCTL to the skeinctl binary}"
. "${SKEIN_SOURCE_DIR:?set SKEIN_SOURCE_DIR to the source root}/tests/lib/testlib.sh"
wf=$SKEIN_SOURCE_DIR/tests/integration/workflows

scratch_dir
cd "$tmp"

# pid_in FILE: the pid a step wrote, once it is complete.
pid_in() {
  wait_for 20 grep -qE '^[0-9]+$' "$1" || return 1
  cat "$1"
}

# start NAME FILE ARGS...: starts skeinctl run in the background. If a failed
# check ends the test first, `background` has it killed at exit.
start() {
  local name=$1 file=$2
  shift 2
  background "$name" "$SKEINCTL" run "$wf/$file" -o json --workdir "$tmp/$name" "$@"
}

# 1. A timeout kills the process group: the background grandchild dies too.
failures_before=$failures
t0=$(now_ms)
capture timeout "$SKEINCTL" run "$wf/timeout.yaml" -o json --workdir "$tmp/timeout"
took=$(($(now_ms) - t0))
expect "timeout: exit code" "$rc" 1
expect "timeout: message" "$(jget "$tmp/timeout.out" 'step("hang")["message"]')" "timed out after 1s"
if ((took < 10000)); then ok "timeout: ended in ${took} ms"; else fail "timeout: took ${took} ms"; fi
if gc=$(pid_in "$tmp/timeout/grandchild.pid"); then
  if wait_for 5 gone "$gc"; then
    ok "timeout: grandchild $gc is gone"
  else
    fail "timeout: grandchild $gc still runs"
    kill -KILL "$gc" 2>/dev/null || true
  fi
else
  fail "timeout: the step never recorded its grandchild"
fi
show timeout

# 2. SIGINT: stop; the finally step runs; exit 130; Cancelled everywhere.
for sig in INT TERM; do
  name=sig$sig
  failures_before=$failures
  start "$name" signal.yaml
  if ! wait_for 20 test -e "$tmp/$name/started"; then
    fail "$name: the long step never started"
  fi
  sleeper=$(pid_in "$tmp/$name/sleep.pid") || sleeper=
  kill -"$sig" "$bg_pid"
  reap
  expect "$name: exit code" "$rc" 130
  expect "$name: finally step ran, seeing the phase" "$(cat "$tmp/$name/finally-ran" 2>/dev/null)" Cancelled
  expect "$name: the dependent step never ran" "$(test -e "$tmp/$name/after-ran" && echo ran || echo no)" no
  expect "$name: status.json phase" "$(jget "$tmp/$name/status.json" 'doc["phase"]')" Cancelled
  expect "$name: long step" "$(jget "$tmp/$name/status.json" 'step("long")["phase"]')" Cancelled
  expect "$name: after step" "$(jget "$tmp/$name/status.json" 'step("after")["phase"]')" Cancelled
  expect "$name: cleanup step" "$(jget "$tmp/$name/status.json" 'step("cleanup")["phase"]')" Succeeded
  expect "$name: -o json phase" "$(jget "$tmp/$name.out" 'status["phase"]')" Cancelled
  if grep -qF "stopping: running steps are killed, finally steps still run (Ctrl-C again to terminate)" "$tmp/$name.err"; then
    ok "$name: the stopping message"
  else
    fail "$name: no stopping message"
  fi
  if [[ -n $sleeper ]] && wait_for 5 gone "$sleeper"; then
    ok "$name: the step's background sleep $sleeper is gone"
  else
    fail "$name: the step's background sleep '$sleeper' still runs"
  fi
  show "$name"
done

# 3. A second SIGINT terminates at once: the step ignores SIGTERM, so only
# the escalation to SIGKILL ends it, well before the 5 s grace.
failures_before=$failures
start stubborn stubborn.yaml
wait_for 20 test -e "$tmp/stubborn/started" || fail "stubborn: the step never started"
sleeper=$(pid_in "$tmp/stubborn/sleep.pid") || sleeper=
kill -INT "$bg_pid"
# The stop already ran the finally step; skeinctl now waits for the step.
wait_for 20 test -e "$tmp/stubborn/finally-ran" || fail "stubborn: the finally step did not run"
t0=$(now_ms)
kill -INT "$bg_pid"
reap
took=$(($(now_ms) - t0))
expect "stubborn: exit code" "$rc" 130
if ((took < 3000)); then ok "stubborn: ended ${took} ms after the second SIGINT"; else fail "stubborn: took ${took} ms after the second SIGINT"; fi
grep -qF "terminating: every step is killed now" "$tmp/stubborn.err" || fail "stubborn: no terminating message"
expect "stubborn: status.json phase" "$(jget "$tmp/stubborn/status.json" 'doc["phase"]')" Cancelled
if [[ -n $sleeper ]] && wait_for 5 gone "$sleeper"; then
  ok "stubborn: the background sleep $sleeper is gone"
else
  fail "stubborn: the background sleep '$sleeper' still runs"
fi
show stubborn

finish signal
