# Shared helpers of the test cluster scripts (sourced, not run).
#
# Every server runs in its own session (setsid), so its pid is also its
# process group id and stopping it stops whatever it started. A pid file
# holds "PID PATH-OF-BINARY"; a pid is signalled only while /proc still shows
# that binary, so a recycled pid is never killed.

cluster_log() { echo "cluster: $*" >&2; }

# Prints N distinct free TCP ports on 127.0.0.1, one per line. They are free
# when printed; the caller must cope with losing one to a race before it
# binds (start.sh retries with new ports).
free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print("\n".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PY
}

# proc_alive PIDFILE: the process of PIDFILE still runs its own binary.
proc_alive() {
  local pidfile=$1 pid exe cur
  [[ -f "$pidfile" ]] || return 1
  read -r pid exe <"$pidfile" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  cur=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  # A binary replaced on disk while it runs shows as "PATH (deleted)".
  [[ "${cur% (deleted)}" == "$exe" ]]
}

# proc_start NAME PIDFILE LOGFILE BINARY ARGS... starts BINARY in a new
# session with stdout and stderr appended to LOGFILE and records its pid.
# BINARY must be an absolute path without symbolic links (what /proc shows).
proc_start() {
  local name=$1 pidfile=$2 logfile=$3 binary=$4 pid
  shift 4
  echo "=== $(date -u +%Y-%m-%dT%H:%M:%SZ) starting $name" >>"$logfile"
  # Without job control a background job is not a group leader, so setsid
  # does not fork and $! is the server's own pid (and its group id).
  setsid "$binary" "$@" </dev/null >>"$logfile" 2>&1 &
  pid=$!
  echo "$pid $binary" >"$pidfile"
}

# proc_stop PIDFILE [GRACE_SECONDS [quiet]]: SIGTERM to the process group,
# then SIGKILL after the grace period (default 10 s; 0 sends SIGKILL at
# once); waits until it is gone. "quiet" says nothing about the SIGKILL.
# Harmless when the process is already gone.
proc_stop() {
  local pidfile=$1 grace=${2:-10} quiet=${3:-} pid exe deadline
  if ! proc_alive "$pidfile"; then
    rm -f "$pidfile"
    return 0
  fi
  read -r pid exe <"$pidfile"
  if ((grace > 0)); then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  fi
  deadline=$((SECONDS + grace))
  while proc_alive "$pidfile" && ((SECONDS < deadline)); do
    sleep 0.1
  done
  if proc_alive "$pidfile"; then
    if [[ -z "$quiet" ]]; then
      cluster_log "$(basename "$exe") (pid $pid) still runs ${grace} s after SIGTERM; sending SIGKILL"
    fi
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 10))
    while proc_alive "$pidfile" && ((SECONDS < deadline)); do
      sleep 0.1
    done
    if proc_alive "$pidfile"; then
      cluster_log "error: pid $pid survived SIGKILL"
      return 1
    fi
  fi
  # The servers start no children, so nothing of the group outlives its
  # leader; the group is not signalled again once the leader is gone, since
  # its number could by then belong to someone else.
  rm -f "$pidfile"
}

# wait_until DESC SECONDS PIDFILE CMD...: runs CMD until it succeeds. Fails
# when the deadline passes or when the process of PIDFILE (if given) exits
# first, which is what a server that cannot bind its port does.
wait_until() {
  local desc=$1 secs=$2 pidfile=$3 deadline
  shift 3
  deadline=$((SECONDS + secs))
  while :; do
    if "$@" >/dev/null 2>&1; then
      return 0
    fi
    if [[ -n "$pidfile" ]] && ! proc_alive "$pidfile"; then
      cluster_log "$desc: the process exited"
      return 2
    fi
    if ((SECONDS >= deadline)); then
      cluster_log "$desc: not ready after ${secs} s"
      return 1
    fi
    sleep 0.2
  done
}

# The last lines of a log, to explain a failure.
log_tail() {
  [[ -f "$1" ]] || return 0
  echo "--- last lines of $1" >&2
  tail -n "${2:-30}" "$1" >&2
}
