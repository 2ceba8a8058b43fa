#!/usr/bin/env bash
# skeinctl run --resume DIR: a failed run continues where it stopped. Steps
# count their runs in marker files: after the fix, the resumed run runs only
# what did not succeed (the failed fan-out instance and the failed step),
# keeps the outputs of the steps it skips, and sets the old attempt logs
# aside. Resuming a run that succeeded does nothing; a run that another
# skeinctl is driving cannot be resumed meanwhile.
#
# ctest sets SKEINCTL (the binary) and SKEIN_SOURCE_DIR (the source root).
set -euo pipefail

: "${SKEINCTL:?set SKEINCTL to the skeinctl binary}"
. "${SKEIN_SOURCE_DIR:?set SKEIN_SOURCE_DIR to the source root}/tests/lib/testlib.sh"
wf=$SKEIN_SOURCE_DIR/tests/integration/workflows

scratch_dir
cd "$tmp"

# runs NAME: how many times the step behind marker NAME ran.
runs() {
  if [[ -f $marks/$1 ]]; then wc -l <"$marks/$1" | tr -d ' '; else echo 0; fi
}

# sk NAME ARGS...: runs skeinctl with stdout/stderr in $tmp/NAME.out/.err; sets rc.
sk() {
  local name=$1
  shift
  capture "$name" "$SKEINCTL" "$@"
}

marks=$tmp/marks
mkdir "$marks"

# 1. The first run fails: fan-1 (item b) and second fail; first and fan-0 succeed.
failures_before=$failures
sk first run "$wf/resume.yaml" -p "marks=$marks" --workdir "$tmp/run" -o json
expect "first run: exit code" "$rc" 1
expect "first run: phase" "$(jget "$tmp/run/status.json" 'doc["phase"]')" Failed
expect "first run: fan-0" "$(jget "$tmp/run/status.json" 'step("fan-0")["phase"]')" Succeeded
expect "first run: fan-1" "$(jget "$tmp/run/status.json" 'step("fan-1")["phase"]')" Failed
expect "first run: second" "$(jget "$tmp/run/status.json" 'step("second")["phase"]')" Failed
expect "first run: runs of first, fan-a, fan-b, second" \
  "$(runs first) $(runs fan-a) $(runs fan-b) $(runs second)" "1 1 1 1"
name=$(jget "$tmp/first.out" 'doc["metadata"]["name"]')
uid=$(jget "$tmp/first.out" 'doc["metadata"]["uid"]')
show first

# 2. Fixed: the resumed run runs only fan-1 and second, and succeeds.
failures_before=$failures
touch "$marks/fixed"
sk resumed run --resume "$tmp/run" -o json
expect "resumed: exit code" "$rc" 0
is_json resumed
expect "resumed: phase" "$(jget "$tmp/resumed.out" 'status["phase"]')" Succeeded
expect "resumed: runs of first, fan-a, fan-b, second" \
  "$(runs first) $(runs fan-a) $(runs fan-b) $(runs second)" "1 1 2 2"
expect "resumed: the kept step's outputs still flow" "$(tail -n 1 "$marks/second")" abc
expect "resumed: same workflow name" "$(jget "$tmp/resumed.out" 'doc["metadata"]["name"]')" "$name"
expect "resumed: same uid" "$(jget "$tmp/resumed.out" 'doc["metadata"]["uid"]')" "$uid"
expect "resumed: the parameter kept" \
  "$(jget "$tmp/resumed.out" '[p.get("value") for p in doc["spec"]["params"]][0]')" "$marks"
expect "resumed: first kept its attempt" "$(jget "$tmp/resumed.out" 'step("first")["attempt"]')" 1
expect "resumed: status.json phase" "$(jget "$tmp/run/status.json" 'doc["phase"]')" Succeeded
grep -q "^resuming workflow $name in $tmp/run" "$tmp/resumed.err" || fail "resumed: no resuming line"
expect "resumed: the failed attempt's log was set aside" \
  "$(cat "$tmp/run/steps/second/previous/attempt-1.log" 2>/dev/null)" "not fixed yet"
expect "resumed: the new attempt has its own log" \
  "$(wc -c <"$tmp/run/steps/second/attempt-1.log" | tr -d ' ')" 0
show resumed

# 3. Resuming a run that succeeded does nothing.
failures_before=$failures
sk again run --resume "$tmp/run"
expect "again: exit code" "$rc" 0
grep -qF "the run in $tmp/run already succeeded; nothing to resume" "$tmp/again.err" ||
  fail "again: no 'already succeeded' message"
expect "again: nothing ran" "$(runs first) $(runs fan-a) $(runs fan-b) $(runs second)" "1 1 2 2"
show again

# 4. A run another skeinctl is driving cannot be resumed at the same time.
failures_before=$failures
background busy "$SKEINCTL" run "$wf/signal.yaml" --workdir "$tmp/busy"
wait_for 20 test -e "$tmp/busy/started" || fail "busy: the long step never started"
sk busy-resume run --resume "$tmp/busy"
expect "busy: resume exit code" "$rc" 2
grep -qF "another skeinctl is working on the run in $tmp/busy" "$tmp/busy-resume.err" ||
  fail "busy: no 'another skeinctl' message: $(cat "$tmp/busy-resume.err")"
kill -INT "$bg_pid"
reap
expect "busy: the interrupted run's exit code" "$rc" 130
show busy

finish resume
