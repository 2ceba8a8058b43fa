#!/usr/bin/env bash
# skeinctl run on this machine: the run directory and what a step's process
# sees; -o json printing only JSON; a failing step that exhausts its retries
# (exit 1, the attempts visible in -o json); outputs in both forms flowing
# between steps, a fan-out's outputs as a list, and an outputs file over the
# 4 KiB cap failing its step; parallelism respected by a fan-out.
#
# ctest sets SKEINCTL (the binary) and SKEIN_SOURCE_DIR (the source root).
set -euo pipefail

: "${SKEINCTL:?set SKEINCTL to the skeinctl binary}"
. "${SKEIN_SOURCE_DIR:?set SKEIN_SOURCE_DIR to the source root}/tests/lib/testlib.sh"
wf=$SKEIN_SOURCE_DIR/tests/integration/workflows

scratch_dir
cd "$tmp"
here=$(pwd -P)

# run NAME ARGS...: runs skeinctl run ARGS with stdout in $tmp/NAME.out and
# stderr in $tmp/NAME.err; sets rc.
run() {
  local name=$1
  shift
  capture "$name" "$SKEINCTL" run "$@"
}

# 1. The default run directory and the step's process environment.
failures_before=$failures
run env "$wf/env.yaml" -o json
expect "env: exit code" "$rc" 0
is_json env
dir=$here/.skein/runs/env-check
for f in workflow.json status.json steps/show/attempt-1.log steps/show/outputs-1; do
  if [[ -f $dir/$f ]]; then ok "env: $f exists"; else fail "env: $dir/$f is missing"; fi
done
[[ -d $dir/steps/show/work ]] || fail "env: $dir/steps/show/work is missing"
expect "env: SKEIN_STEP" "$(jget env.out 'out("show", "step")')" show
expect "env: SKEIN_ATTEMPT" "$(jget env.out 'out("show", "attempt")')" 1
expect "env: SKEIN_WORKFLOW" "$(jget env.out 'out("show", "workflow")')" env-check
expect "env: SKEIN_RUN_DIR" "$(jget env.out 'out("show", "run_dir")')" "$dir"
expect "env: SKEIN_INVOCATION_DIR" "$(jget env.out 'out("show", "invocation_dir")')" "$here"
expect "env: SKEIN_OUTPUTS" "$(jget env.out 'out("show", "outputs")')" "$dir/steps/show/outputs-1"
expect "env: working directory" "$(jget env.out 'out("show", "cwd")')" "$dir/steps/show/work"
expect "env: the step's env value" "$(jget env.out 'out("show", "mode")')" fast
expect "env: \$(VAR) in args expanded as a kubelet does" \
  "$(jget env.out 'out("show", "expanded")')" fast-show
expect "env: the parent environment is passed on" "$(jget env.out 'out("show", "home_set")')" yes
expect "env: workflow phase" "$(jget env.out 'status["phase"]')" Succeeded
expect "env: status.json agrees" "$(jget "$dir/status.json" 'doc["phase"]')" Succeeded
expect "env: namespace" "$(jget env.out 'doc["metadata"]["namespace"]')" default
if [[ $(jget env.out 'doc["metadata"]["uid"]') =~ ^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ ]]; then
  ok "env: uid is a UUIDv4"
else
  fail "env: uid '$(jget env.out 'doc["metadata"]["uid"]')' is not a UUIDv4"
fi
expect "env: workflow.json has the identity" \
  "$(jget "$dir/workflow.json" 'doc["metadata"]["uid"]')" "$(jget env.out 'doc["metadata"]["uid"]')"
expect "env: the attempt log has both streams" \
  "$(sort "$dir/steps/show/attempt-1.log" | tr '\n' '|')" "to stderr|to stdout|"
grep -qxF "[show] to stdout" "$tmp/env.err" || fail "env: stderr lacks '[show] to stdout'"
grep -qxF "[show] to stderr" "$tmp/env.err" || fail "env: stderr lacks '[show] to stderr'"
grep -qF "note: images are not used by skeinctl run; commands run on this machine" "$tmp/env.err" ||
  fail "env: the note about images is missing"
show env 60

# 2. Without -o json, step output and progress go to stdout, one line per
# transition when it is not a terminal; a param overrides its default.
failures_before=$failures
run env-text "$wf/env.yaml" -p mode=slow --workdir "$tmp/env-text"
expect "env-text: exit code" "$rc" 0
grep -qxF "[show] to stdout" "$tmp/env-text.out" || fail "env-text: stdout lacks '[show] to stdout'"
if grep -qE '^[0-9]{2}:[0-9]{2}:[0-9]{2} show  Succeeded$' "$tmp/env-text.out"; then
  ok "env-text: a transition line"
else
  fail "env-text: no 'HH:MM:SS show  Succeeded' line"
fi
grep -qE '^workflow env-check Succeeded in ' "$tmp/env-text.out" || fail "env-text: no summary line"
grep -qxF "run directory: $tmp/env-text" "$tmp/env-text.out" || fail "env-text: no run directory line"
expect "env-text: -p reached the step" \
  "$(grep '^mode=' "$tmp/env-text/steps/show/outputs-1")" mode=slow
if grep -q $'\x1b' "$tmp/env-text.out"; then fail "env-text: escape sequences in a file"; fi
show env-text 60

# 3. A step that always fails: three attempts, exit 1, the finally step runs.
failures_before=$failures
run retry "$wf/retry-fail.yaml" -o json --workdir "$tmp/retry"
expect "retry: exit code" "$rc" 1
is_json retry
expect "retry: workflow phase" "$(jget retry.out 'status["phase"]')" Failed
expect "retry: flaky phase" "$(jget retry.out 'step("flaky")["phase"]')" Failed
expect "retry: flaky attempts" "$(jget retry.out 'step("flaky")["attempt"]')" 3
expect "retry: flaky message" "$(jget retry.out 'step("flaky")["message"]')" \
  "failed after 3 attempts: exited with code 3: disk quota exceeded on attempt 3"
expect "retry: the finally step ran" "$(jget retry.out 'step("report")["phase"]')" Succeeded
expect "retry: status.json phase" "$(jget "$tmp/retry/status.json" 'doc["phase"]')" Failed
for n in 1 2 3; do
  expect "retry: attempt-$n.log" "$(grep -c "attempt $n" "$tmp/retry/steps/flaky/attempt-$n.log")" 2
done
grep -qxF "[report] workflow ended Failed" "$tmp/retry.err" || fail "retry: the finally step did not see Failed"
show retry 60

# 4. Outputs: both forms, between steps, a fan-out's as a list, the cap.
failures_before=$failures
run outputs "$wf/outputs.yaml" -o json --workdir "$tmp/outputs"
expect "outputs: exit code" "$rc" 1
is_json outputs
expect "outputs: name=value lines" "$(jget outputs.out 'step("lines")["outputs"]')" \
  '{"rows": "3000", "path": "data/train.csv", "empty": ""}'
expect "outputs: a JSON object" "$(jget outputs.out 'step("json")["outputs"]')" \
  '{"accuracy": "0.93", "epochs": "5", "ok": "true", "note": "a b"}'
expect "outputs: fan-out instance" "$(jget outputs.out 'out("fan-1", "v")')" yy
expect "outputs: seen by a later step" "$(jget outputs.out 'out("consume", "seen")')" \
  "3000|data/train.csv|0.93|true|a b"
expect "outputs: a fan-out's outputs as a list" "$(jget outputs.out 'out("consume", "list")')" \
  '["xx","yy","zz"]'
size=$(tr -d ' \n' <"$tmp/outputs/big-size" 2>/dev/null || echo unknown)
expect "outputs: over the cap fails the step" "$(jget outputs.out 'step("big")["phase"]')" Failed
expect "outputs: the cap message" "$(jget outputs.out 'step("big")["message"]')" \
  "outputs file is $size bytes, over the 4096-byte limit (a Pod's termination message is capped the same way); pass large artifacts as files or URIs"
show outputs 60

# 5. parallelism: 2 — never more than two instances at once, and two do overlap.
failures_before=$failures
run parallel "$wf/parallel.yaml" --workdir "$tmp/parallel"
expect "parallel: exit code" "$rc" 0
overlap=$(python3 - "$tmp/parallel/times" <<'EOF'
import os
import sys

d = sys.argv[1]
events = []
for i in range(6):
    with open(os.path.join(d, "%d.start" % i)) as f:
        events.append((int(f.read()), 1))
    with open(os.path.join(d, "%d.end" % i)) as f:
        events.append((int(f.read()), -1))
# Ends sort before starts at the same instant: touching is not overlapping.
events.sort(key=lambda e: (e[0], e[1]))
cur = best = 0
for _, delta in events:
    cur += delta
    best = max(best, cur)
print(best)
EOF
) || overlap="unreadable"
expect "parallel: most instances running at once" "$overlap" 2
show parallel 60

finish run
