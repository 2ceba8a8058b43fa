# shellcheck shell=bash
# lib.sh: start and stop the cloud test servers (cloudfake.py, moto) from a
# test script, read their URLs, query and configure them. Source it after
# tests/lib/testlib.sh (it registers its cleanup with testlib's on_exit when
# that exists, else with its own EXIT trap):
#
#   . "$SKEIN_SOURCE_DIR/tests/lib/testlib.sh"
#   . "$SKEIN_SOURCE_DIR/tests/cloudfake/lib.sh"
#   scratch_dir
#   cloudfake_setup || exit 1           # the venv (PyPI the first time)
#   cloudfake_start cf --roles vertex,token,sagemaker,moto --aws-key-file keys
#   vertex=$(cloudfake_url cf vertex)
#   ...
#   cloudfake_stats cf vertex 's["creates"]'
#   cloudfake_stop cf                   # or leave it to the exit cleanup
#
# Functions (each returns non-zero and says why on stderr when it fails):
#   cloudfake_setup           sets $cloudfake_py to the venv's python
#                             (tests/cloudfake/setup.sh).
#   cloudfake_start NAME ARGS...
#                             starts `cloudfake.py serve ARGS...` (see its
#                             README) with --owner-pid $$ and --max-seconds
#                             $CLOUDFAKE_MAX_SECONDS (default 900), waits up
#                             to $CLOUDFAKE_START_TIMEOUT s (default 60) for
#                             its ready line, and registers its stop at exit.
#                             Its files are in $(cloudfake_dir NAME): ready.json
#                             (the line), stderr.log. Several instances may
#                             run at once under different NAMEs.
#   cloudfake_dir NAME        the instance's directory.
#   cloudfake_url NAME ROLE   the base URL of ROLE (no trailing slash).
#   cloudfake_stop NAME       SIGTERM, then SIGKILL after 5 s; waits until it
#                             is gone. Harmless when it is not running.
#   cloudfake_stats NAME ROLE [EXPR]
#                             GET ROLE/_fake/stats; with EXPR, prints the
#                             Python expression EXPR over it (`s`), printed
#                             as cloudfake_json does, e.g.
#                             's["requests"].get("POST create", 0)'.
#   cloudfake_config NAME ROLE JSON   POST ROLE/_fake/config.
#   cloudfake_reset NAME ROLE         POST ROLE/_fake/reset.
#   cloudfake_jobs NAME ROLE          GET ROLE/_fake/jobs (prints the JSON).
#   cloudfake_make_sa_key NAME OUT    writes a throwaway service-account key
#                             JSON whose token_uri is NAME's token role, and
#                             registers its public half with that role.
#   cloudfake_make_authorized_user NAME OUT   the same for authorized_user.
#   cloudfake_json FILE EXPR  prints the Python expression EXPR over the JSON
#                             document in FILE (`doc`): lists, objects and
#                             None as JSON, other values as Python prints
#                             them (True, 3, a string bare); jq is not
#                             assumed.
#
# The fake exits by itself when this shell is gone (--owner-pid), when its
# stdin (a FIFO this shell holds open) reaches EOF, or after --max-seconds,
# so nothing outlives a test even when the test is SIGKILLed.

CLOUDFAKE_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cloudfake_py=
declare -gA _cloudfake_pid=() _cloudfake_fd=() _cloudfake_dirs=()

_cloudfake_err() { echo "cloudfake: $*" >&2; }

# The venv's python once cloudfake_setup ran (it starts faster than a
# pyenv shim), else python3.
_cloudfake_python() { "${cloudfake_py:-python3}" "$@"; }

_cloudfake_on_exit() {
  if declare -F on_exit >/dev/null; then
    on_exit "$@"
  else
    _cloudfake_exit_cmds+=("$1")
    trap 'for _c in "${_cloudfake_exit_cmds[@]}"; do eval "$_c" || true; done' EXIT
  fi
}
_cloudfake_exit_cmds=()

cloudfake_setup() {
  [[ -n $cloudfake_py ]] && return 0
  cloudfake_py=$("$CLOUDFAKE_SRC/setup.sh") || {
    _cloudfake_err "setup.sh failed"
    cloudfake_py=
    return 1
  }
}

cloudfake_dir() {
  echo "${_cloudfake_dirs[$1]:?cloudfake instance $1 was not started}"
}

# Scalars print as Python prints them (True, 3, a string as is), lists and
# objects as JSON.
cloudfake_json() {
  _cloudfake_python -c '
import json, sys
with open(sys.argv[1], encoding="utf-8") as f:
    doc = json.load(f)
v = eval(sys.argv[2], {"doc": doc, "json": json})
print(json.dumps(v) if isinstance(v, (list, dict)) or v is None else v)' "$1" "$2"
}

# _cloudfake_ready FILE: the first line of FILE is complete JSON.
_cloudfake_ready() {
  [[ -s $1 ]] && _cloudfake_python -c 'import json,sys; json.loads(open(sys.argv[1]).readline())' "$1" 2>/dev/null
}

cloudfake_start() {
  local name=$1 base dir pid fd deadline
  shift
  cloudfake_setup || return 1
  if [[ -n ${_cloudfake_pid[$name]:-} ]]; then
    _cloudfake_err "instance $name is already running"
    return 1
  fi
  base=${CLOUDFAKE_WORK:-${tmp:-}}
  if [[ -z $base ]]; then
    base=$(mktemp -d)
    _cloudfake_on_exit "rm -rf '$base'"
  fi
  dir=$base/cloudfake-$name
  rm -rf "$dir"
  mkdir -p "$dir"
  mkfifo "$dir/stdin"
  # Opened read-write, the FIFO never blocks; this shell keeps the only
  # writer, so the fake sees EOF on stdin once this shell is gone.
  exec {fd}<>"$dir/stdin"
  "$cloudfake_py" "$CLOUDFAKE_SRC/cloudfake.py" serve --owner-pid $$ \
    --max-seconds "${CLOUDFAKE_MAX_SECONDS:-900}" "$@" \
    <"$dir/stdin" >"$dir/ready.json" 2>"$dir/stderr.log" {fd}>&- &
  pid=$!
  _cloudfake_pid[$name]=$pid
  _cloudfake_fd[$name]=$fd
  _cloudfake_dirs[$name]=$dir
  _cloudfake_on_exit "cloudfake_stop $name"
  deadline=$((SECONDS + ${CLOUDFAKE_START_TIMEOUT:-60}))
  until _cloudfake_ready "$dir/ready.json"; do
    # Not _cloudfake_running: just after the fork the child may not have
    # started python yet.
    if ! _cloudfake_alive "$pid"; then
      _cloudfake_err "instance $name exited before it was ready:"
      tail -n 30 "$dir/stderr.log" >&2
      cloudfake_stop "$name"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      _cloudfake_err "instance $name not ready after ${CLOUDFAKE_START_TIMEOUT:-60} s:"
      tail -n 30 "$dir/stderr.log" >&2
      cloudfake_stop "$name"
      return 1
    fi
    sleep 0.05
  done
}

# _cloudfake_alive PID: PID exists and is not a zombie.
_cloudfake_alive() {
  local state
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [[ -n $state && $state != Z && $state != X ]]
}

# _cloudfake_running PID: PID is alive and runs cloudfake.py (not a
# recycled pid), so signalling it hits only what cloudfake_start started.
_cloudfake_running() {
  _cloudfake_alive "$1" || return 1
  tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q 'cloudfake.py serve'
}

cloudfake_stop() {
  local name=$1 pid fd deadline
  pid=${_cloudfake_pid[$name]:-}
  fd=${_cloudfake_fd[$name]:-}
  [[ -n $pid ]] || return 0
  if [[ -n $fd ]]; then
    exec {fd}>&-
  fi
  if _cloudfake_running "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
  fi
  deadline=$((SECONDS + 5))
  while _cloudfake_running "$pid" && ((SECONDS < deadline)); do
    sleep 0.05
  done
  if _cloudfake_running "$pid"; then
    _cloudfake_err "instance $name (pid $pid) still runs 5 s after SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  unset "_cloudfake_pid[$name]" "_cloudfake_fd[$name]"
}

cloudfake_url() {
  local dir
  dir=$(cloudfake_dir "$1") || return 1
  _cloudfake_python -c '
import json, sys
with open(sys.argv[1], encoding="utf-8") as f:
    urls = json.loads(f.readline())["urls"]
if sys.argv[2] not in urls:
    sys.exit("cloudfake: no role %s in %s" % (sys.argv[2], sorted(urls)))
print(urls[sys.argv[2]])' "$dir/ready.json" "$2"
}

_cloudfake_curl() {
  curl -sS --fail-with-body --max-time 10 "$@"
}

cloudfake_stats() {
  local url out
  url=$(cloudfake_url "$1" "$2") || return 1
  out=$(_cloudfake_curl "$url/_fake/stats") || {
    _cloudfake_err "GET $2/_fake/stats failed: $out"
    return 1
  }
  if [[ $# -lt 3 ]]; then
    printf '%s\n' "$out"
    return 0
  fi
  printf '%s' "$out" | _cloudfake_python -c '
import json, sys
s = json.load(sys.stdin)
v = eval(sys.argv[1], {"s": s, "json": json})
print(json.dumps(v) if isinstance(v, (list, dict)) or v is None else v)' "$3"
}

cloudfake_config() {
  local url out
  url=$(cloudfake_url "$1" "$2") || return 1
  out=$(_cloudfake_curl -H 'Content-Type: application/json' --data-binary "$3" "$url/_fake/config") || {
    _cloudfake_err "POST $2/_fake/config failed: $out"
    return 1
  }
}

cloudfake_reset() {
  local url out
  url=$(cloudfake_url "$1" "$2") || return 1
  out=$(_cloudfake_curl -X POST "$url/_fake/reset") || {
    _cloudfake_err "POST $2/_fake/reset failed: $out"
    return 1
  }
}

cloudfake_jobs() {
  local url
  url=$(cloudfake_url "$1" "$2") || return 1
  _cloudfake_curl "$url/_fake/jobs"
  echo
}

cloudfake_make_sa_key() {
  local url
  url=$(cloudfake_url "$1" token) || return 1
  "$cloudfake_py" "$CLOUDFAKE_SRC/cloudfake.py" make-sa-key "$2" --token-uri "$url/token" --register "$url"
}

cloudfake_make_authorized_user() {
  local url
  url=$(cloudfake_url "$1" token) || return 1
  "$cloudfake_py" "$CLOUDFAKE_SRC/cloudfake.py" make-authorized-user "$2" --register "$url"
}
