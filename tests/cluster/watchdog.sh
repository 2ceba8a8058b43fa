#!/usr/bin/env bash
# Started by start.sh: stops the cluster in DIR when the process OWNER is
# gone (the test that started it, even one killed by a ctest timeout) or
# after MAX seconds (0: no limit), so that no cluster outlives its user on a
# shared machine. stop.sh stops this watchdog first.
#   watchdog.sh DIR OWNER-PID MAX-SECONDS
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$1 owner=$2 max=$3

# A zombie is gone for this purpose; it only waits for its parent to reap it.
owner_alive() {
  local state
  state=$(awk '{print $3}' "/proc/$owner/stat" 2>/dev/null) || return 1
  [[ -n "$state" && "$state" != Z ]]
}

reason=
while :; do
  if [[ "$owner" != 0 ]] && ! owner_alive; then
    reason="process $owner, which started the cluster, is gone"
    break
  fi
  if ((max > 0 && SECONDS >= max)); then
    reason="the cluster reached its time limit of $max s (SKEIN_CLUSTER_MAX_SECONDS)"
    break
  fi
  sleep 1
done
# stop.sh would otherwise signal this process group, which it runs in.
rm -f "$dir/pids/watchdog.pid"
echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) watchdog: $reason; stopping the cluster"
exec "$here/stop.sh" "$dir"
