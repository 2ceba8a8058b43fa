# shellcheck shell=bash
# testlib.sh: what every shell test of skein needs, written once.
#
# Source it near the top of a test script (it sets no shell options; the
# script keeps its own `set -euo pipefail`):
#
#   set -euo pipefail
#   . "${SKEIN_SOURCE_DIR:?set SKEIN_SOURCE_DIR to the source root}/tests/lib/testlib.sh"
#   scratch_dir            # $tmp: a fresh directory, removed at exit
#   cd "$tmp"
#   ...checks...
#   finish NAME            # the summary line and the exit status
#
# Checks. A test runs every check and reports each, rather than stopping at
# the first failure, so one run shows everything that is wrong.
#   ok MESSAGE...          prints "ok   MESSAGE" and counts a passed check.
#   fail MESSAGE...        prints "FAIL: MESSAGE" on stderr and counts a
#                          failed check.
#   expect DESC GOT WANT   ok when the strings GOT and WANT are equal (the
#                          ok line shows GOT), else a failure naming both.
#   finish NAME            at the end: with failures, prints how many on
#                          stderr and exits 1; else prints "all NAME checks
#                          passed" and returns 0. Both say how many ok lines
#                          there were.
#   $failures, $passes     the counts so far. Set failures_before=$failures
#                          before a group of checks; `show` then prints
#                          diagnostics only when that group failed.
#
# Waiting. Never sleep a fixed time to let something happen; wait for it.
#   wait_for SECONDS CMD...  runs CMD every 50 ms until it succeeds (returns
#                          0) or SECONDS have passed (returns 1). It counts
#                          whole seconds, so give a generous deadline.
#   now_ms                 prints the wall clock in milliseconds, for timing.
#   gone PID               succeeds when process PID no longer runs (absent,
#                          or a zombie nobody has reaped yet): for checking
#                          that something was killed, e.g. wait_for 5 gone "$pid".
#
# JSON.
#   jget FILE EXPR         prints a Python expression over the JSON in FILE:
#                          `doc`, `status`, step(NAME), instances(NAME),
#                          out(NAME, KEY), spec_step(NAME). jget.py next to
#                          this file says what each one means (status.json
#                          works as well as a Workflow).
#   is_json_file FILE      succeeds when FILE holds exactly one JSON document.
#
# Scratch space and cleanup.
#   scratch_dir [VAR]      makes a temporary directory and stores its path in
#                          VAR (default: tmp); it is removed at exit.
#   on_exit CMD...         registers a command to run when the script exits,
#                          however it exits (finish, exit, set -e, SIGTERM,
#                          SIGINT or SIGHUP; nothing can run on SIGKILL).
#                          Commands run in reverse order of
#                          registration, so what was set up last is taken
#                          down first: register the stop of a server after
#                          making the directory it lives in, and the server
#                          stops before its directory goes. One argument is a
#                          shell command line, evaluated at exit (so variables
#                          in single quotes take their values then):
#                            on_exit "tests/cluster/stop.sh $dir"
#                          several arguments are a command and its arguments,
#                          run as given. A failing command does not stop the
#                          others, and the script's exit status is kept.
#                          Do not set an EXIT trap of your own; it would
#                          replace this one.
#
# Running commands. Each keeps its output in $tmp (make it with scratch_dir
# first), with stdin from /dev/null so nothing waits on a terminal.
#   capture NAME CMD...    runs CMD with stdout in $tmp/NAME.out and stderr
#                          in $tmp/NAME.err; sets rc to its exit status and
#                          prints "run NAME: exit RC in N ms".
#   is_json [-q] NAME      a check: $tmp/NAME.out is exactly one JSON
#                          document. With -q it prints nothing when it
#                          passes (for a helper that checks every run), and
#                          is not counted among the ok lines.
#   show NAME [LINES]      when a check failed since failures_before was set,
#                          prints the last LINES (40) lines of $tmp/NAME.err
#                          on stderr, to explain the failure.
#   background NAME CMD... starts CMD in the background like capture (no
#                          line printed) and keeps its pid in bg_pid; one at
#                          a time. If the script ends first, it is killed.
#   reap                   waits for the background command; sets rc to its
#                          exit status and clears bg_pid.
#
# Nothing here depends on where the repository is: jget.py is found next to
# this file.

SKEIN_TESTLIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
failures=0
passes=0
bg_pid=
_testlib_bg_cleanup=
_testlib_exit_cmds=()

ok() {
  passes=$((passes + 1))
  echo "ok   $*"
}

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# expect DESCRIPTION GOT WANT: compares two strings and prints both on a mismatch.
expect() {
  if [[ "$2" == "$3" ]]; then
    ok "$1 ($2)"
  else
    fail "$1: got '$2', want '$3'"
  fi
}

# finish NAME: the summary, and a non-zero exit status when any check failed,
# which is what ctest looks at.
finish() {
  if [[ $failures -ne 0 ]]; then
    echo "$failures check(s) failed ($passes ok)" >&2
    exit 1
  fi
  echo "all $1 checks passed ($passes ok)"
}

# wait_for SECONDS COMMAND...: polls COMMAND until it succeeds or the
# deadline passes (then returns 1). SECONDS counts whole seconds, so the
# wait may be up to a second shorter than asked; callers give generous ones.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    if ((SECONDS >= deadline)); then return 1; fi
    sleep 0.05
  done
}

now_ms() {
  echo $(($(date +%s%N) / 1000000))
}

# gone PID: a zombie counts as gone, since it runs no more code and whether
# it was reaped yet depends on who its parent is.
gone() {
  [[ ! -e /proc/$1/stat ]] && return 0
  local state
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 0
  [[ -z $state || $state == Z || $state == X ]]
}

jget() {
  python3 "$SKEIN_TESTLIB_DIR/jget.py" "$@"
}

is_json_file() {
  python3 -m json.tool "$1" >/dev/null 2>&1
}

# The EXIT trap: the registered commands, newest first. Each runs on the
# left of `||`, where errexit does not apply, so one failing cleanup cannot
# skip the rest; bash then exits with the status the script was leaving with.
_testlib_on_exit() {
  local i
  for ((i = ${#_testlib_exit_cmds[@]} - 1; i >= 0; i--)); do
    eval "${_testlib_exit_cmds[i]}" || true
  done
}

on_exit() {
  if [[ $# -eq 1 ]]; then
    _testlib_exit_cmds+=("$1")
  else
    _testlib_exit_cmds+=("$(printf '%q ' "$@")")
  fi
  trap _testlib_on_exit EXIT
}

# scratch_dir [VAR]: it must run in the script's own shell, not in $(...),
# for the variable and the cleanup to outlive the call.
scratch_dir() {
  local dir
  dir=$(mktemp -d)
  on_exit rm -rf "$dir"
  printf -v "${1:-tmp}" '%s' "$dir"
}

capture() {
  local name=$1 start
  shift
  start=$(now_ms)
  rc=0
  "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" </dev/null || rc=$?
  echo "run $name: exit $rc in $(($(now_ms) - start)) ms"
}

is_json() {
  local quiet=
  if [[ $1 == -q ]]; then
    quiet=yes
    shift
  fi
  if is_json_file "$tmp/$1.out"; then
    [[ -n $quiet ]] || ok "$1: stdout is one JSON document"
  else
    fail "$1: stdout is not one JSON document:"
    head -c 2000 "$tmp/$1.out" >&2 || true
  fi
}

show() {
  [[ $failures -gt ${failures_before:-0} ]] || return 0
  echo "--- stderr of run $1" >&2
  tail -n "${2:-40}" "$tmp/$1.err" >&2 || true
}

# A command still running after a failed check must not outlive the test.
_testlib_kill_bg() {
  if [[ -n $bg_pid ]]; then kill -KILL "$bg_pid" 2>/dev/null || true; fi
}

background() {
  local name=$1
  shift
  if [[ -z $_testlib_bg_cleanup ]]; then
    on_exit _testlib_kill_bg
    _testlib_bg_cleanup=yes
  fi
  "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" </dev/null &
  bg_pid=$!
}

reap() {
  rc=0
  wait "$bg_pid" || rc=$?
  bg_pid=
}
