#!/usr/bin/env bash
# Stops the test cluster started by tests/cluster/start.sh DIR: every server
# (and anything it started) by process group, SIGTERM first and SIGKILL after
# a grace period, and waits until all are gone. Safe to run twice, on a
# half-started cluster, or on a directory with nothing running. DIR itself
# is left for the logs; remove it when done.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

if [[ $# -ne 1 ]]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
dir=$1
[[ -d "$dir/pids" ]] || exit 0

rc=0
# The watchdog first, so that it does not stop the cluster a second time;
# then clients, so the apiserver does not log their errors; etcd last.
for name in watchdog kwok kube-scheduler kube-apiserver etcd; do
  proc_stop "$dir/pids/$name.pid" 10 || rc=1
done
# Anything else start.sh may add later.
for f in "$dir"/pids/*.pid; do
  [[ -e "$f" ]] || continue
  proc_stop "$f" 10 || rc=1
done
exit "$rc"
