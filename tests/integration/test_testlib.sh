#!/usr/bin/env bash
# The shell test library itself (tests/lib/testlib.sh and jget.py), since
# every integration and end-to-end test trusts it to fail when a check fails
# and to clean up however a script ends: the counts and exit status of
# finish, on_exit order and kept exit status (on exit, on set -e, on a
# failing cleanup), scratch_dir removal, a background command killed at exit
# and reaped with its status, capture, wait_for's deadline, is_json and show,
# and what jget gives for a Workflow, a status.json and a bad expression.
# Each library behaviour runs in a child bash, as a test script would use it.
#
# ctest sets SKEIN_SOURCE_DIR (the source root).
set -euo pipefail

. "${SKEIN_SOURCE_DIR:?set SKEIN_SOURCE_DIR to the source root}/tests/lib/testlib.sh"

scratch_dir
cd "$tmp"

# child NAME <<'EOF' BODY EOF: runs BODY as a test script that sourced the
# library, from this directory, with its output in $tmp/NAME.out and .err;
# sets rc.
child() {
  local body
  body=$(cat)
  capture "$1" bash -c "set -euo pipefail
. \"\$SKEIN_SOURCE_DIR/tests/lib/testlib.sh\"
$body"
}

# 1. Checks and finish: a failure makes the exit status 1 and is counted.
child passing <<'EOF'
expect a 1 1
ok "b"
finish demo
EOF
expect "passing: exit code" "$rc" 0
expect "passing: ok lines" "$(grep -c '^ok   ' passing.out)" 2
expect "passing: expect shows what it got" "$(head -n 1 passing.out)" "ok   a (1)"
expect "passing: summary" "$(tail -n 1 passing.out)" "all demo checks passed (2 ok)"
child failing <<'EOF'
expect a 1 1
expect b x y
fail "c went wrong"
ok d
finish demo
EOF
expect "failing: exit code" "$rc" 1
expect "failing: stderr" "$(cat failing.err)" "FAIL: b: got 'x', want 'y'
FAIL: c went wrong
2 check(s) failed (2 ok)"
expect "failing: no summary of success" "$(grep -c 'checks passed' failing.out || true)" 0

# 2. on_exit: newest first; one argument is evaluated at exit, several run
# as given; the exit status is kept even when a cleanup fails; set -e ending
# the script runs them too.
child cleanup <<'EOF'
on_exit 'echo first >>cleanup.log'
on_exit false
on_exit 'echo "second $late" >>cleanup.log'
on_exit sh -c 'echo "$1" >>cleanup.log' sh 'third arg'
late=value
exit 3
EOF
expect "on_exit: the script's exit status kept" "$rc" 3
expect "on_exit: reverse order, a command line evaluated at exit" \
  "$(tr '\n' '|' <cleanup.log)" "third arg|second value|first|"
child errexit <<'EOF'
on_exit 'echo ran >errexit.log'
false
echo "not reached"
EOF
expect "set -e: exit code" "$rc" 1
expect "set -e: cleanup ran" "$(cat errexit.log 2>/dev/null)" ran
expect "set -e: the script stopped" "$(cat errexit.out)" ""

# 3. scratch_dir: a fresh directory in the named variable, removed at exit
# after the cleanups registered later (which may still need it).
child scratch <<'EOF'
scratch_dir work
echo "$work" >scratch.path
touch "$work/file"
on_exit "test -e '$work/file' && echo present >scratch.seen"
finish scratch
EOF
expect "scratch_dir: exit code" "$rc" 0
dir=$(cat scratch.path)
expect "scratch_dir: an absolute path" "$([[ $dir == /?* ]] && echo absolute || echo "'$dir'")" absolute
expect "scratch_dir: still there for the later cleanup" "$(cat scratch.seen 2>/dev/null)" present
expect "scratch_dir: removed at exit" "$(test -e "$dir" && echo exists || echo removed)" removed

# 4. background: reap gives the status; a command still running at exit is killed.
child bg <<'EOF'
scratch_dir
background short sh -c "exit 7"
reap
echo "rc=$rc bg_pid=[$bg_pid]"
background long sleep 300
echo "$bg_pid" >bg.pid
exit 0
EOF
expect "background: exit code" "$rc" 0
expect "background: reap sets rc and clears bg_pid" "$(cat bg.out)" "rc=7 bg_pid=[]"
pid=$(cat bg.pid 2>/dev/null) || pid=
state="no pid recorded"
if [[ $pid =~ ^[0-9]+$ ]]; then
  # Only a pid seen still running is killed here, never a recycled one.
  wait_for 5 gone "$pid" && state=killed || { state="$pid still runs"; kill -KILL "$pid" 2>/dev/null || true; }
fi
expect "background: the running command was killed at exit" "$state" killed

# 5. capture, wait_for, is_json, show.
capture capt sh -c 'echo to-out; echo to-err >&2; exit 4'
expect "capture: rc" "$rc" 4
expect "capture: stdout" "$(cat capt.out)" to-out
expect "capture: stderr" "$(cat capt.err)" to-err
child waits <<'EOF'
wait_for 5 true && echo quick
start=$SECONDS
if wait_for 1 false; then echo "false succeeded"; fi
echo "$((SECONDS - start))"
EOF
expect "wait_for: a command that succeeds returns at once" "$(head -n 1 waits.out)" quick
if [[ $(sed -n 2p waits.out) =~ ^[12]$ && $(wc -l <waits.out) -eq 2 ]]; then
  ok "wait_for: gave up once the deadline passed"
else
  fail "wait_for: printed $(tr '\n' '|' <waits.out)"
fi
child json <<'EOF'
scratch_dir
echo '{"a": 1}' >"$tmp/good.out"
printf '{} {}' >"$tmp/bad.out"
is_json -q good
is_json good
failures_before=$failures
echo "some log" >"$tmp/good.err"
show good
is_json bad
show good 5
echo "failures=$failures passes=$passes"
EOF
expect "is_json: the counts (-q neither prints nor counts a pass)" \
  "$(tail -n 1 json.out)" "failures=1 passes=1"
expect "is_json and show: stderr" "$(cat json.err)" "FAIL: bad: stdout is not one JSON document:
{} {}--- stderr of run good
some log"

# 6. jget over a Workflow (as -o json prints it) and over a status.json.
cat >wf.json <<'EOF'
{"metadata": {"name": "w"},
 "spec": {"steps": [{"name": "a"}, {"name": "t"}], "finally": [{"name": "f", "retry": {"limit": 2}}]},
 "status": {"phase": "Failed", "steps": [
   {"name": "a", "phase": "Succeeded", "outputs": {"k": "v"}},
   {"name": "t-10", "phase": "Failed"}, {"name": "t-2", "phase": "Succeeded"},
   {"name": "t-0", "phase": "Succeeded"}, {"name": "tx-1"}]}}
EOF
cat >status.json <<'EOF'
{"phase": "Cancelled", "steps": [{"name": "a", "phase": "Cancelled"}]}
EOF
echo '{"status": null}' >null.json
expect "jget: status of a Workflow" "$(jget wf.json 'status["phase"]')" Failed
expect "jget: a status.json is its own status" "$(jget status.json 'status["phase"]')" Cancelled
expect "jget: step in a status.json" "$(jget status.json 'step("a")["phase"]')" Cancelled
expect "jget: a missing step is {}" "$(jget wf.json 'step("nope")')" "{}"
expect "jget: out" "$(jget wf.json 'out("a", "k")')" v
expect "jget: out of a missing step" "$(jget wf.json 'out("nope", "k")')" null
expect "jget: instances in index order, only that step's" \
  "$(jget wf.json '[r["name"] for r in instances("t")]')" '["t-0", "t-2", "t-10"]'
expect "jget: spec_step finds finally steps" "$(jget wf.json 'spec_step("f")["retry"]["limit"]')" 2
expect "jget: a null status" "$(jget null.json 'status.get("phase")')" null
expect "jget: true prints as JSON" "$(jget wf.json 'step("a")["phase"] == "Succeeded"')" true
rc=0
bad=$(jget wf.json 'step("nope")["phase"]' 2>jget.err) || rc=$?
expect "jget: a failing expression exits 1" "$rc" 1
expect "jget: and prints nothing on stdout" "$bad" ""
expect "jget: the traceback names the error" "$(tail -n 1 jget.err)" "KeyError: 'phase'"

finish testlib
# finish is under test here too: a broken one must not make this test pass.
[[ $failures -eq 0 ]]
