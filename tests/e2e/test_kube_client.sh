#!/usr/bin/env bash
# The kube client and informers against a real kube-apiserver: starts an
# API-only test cluster with the watch cache off (so every watch reads etcd
# and a compaction expires old resourceVersions) and runs the C test
# tests/unit/test_kube_live.c (built next to skeinctl) against it.
set -uo pipefail
root=${SKEIN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
bin="$(dirname "${SKEINCTL:?SKEINCTL must name the built skeinctl}")/tests/test_kube_live"
if [[ ! -x "$bin" ]]; then
  echo "FAIL: $bin is not built"
  exit 1
fi
work=$(mktemp -d)
trap '"$root/tests/cluster/stop.sh" "$work/cluster" >/dev/null 2>&1; rm -rf "$work"' EXIT
if ! SKEIN_CLUSTER_NODES=0 SKEIN_CLUSTER_SCHEDULER=0 SKEIN_CLUSTER_WATCH_CACHE=0 \
  "$root/tests/cluster/start.sh" "$work/cluster"; then
  echo "FAIL: start.sh"
  tail -n 30 "$work"/cluster/logs/*.log 2>/dev/null
  exit 1
fi
# shellcheck disable=SC1091
. "$work/cluster/env"
compact="$root/tests/cluster/compact-etcd.sh $work/cluster"
if SKEIN_TEST_KUBECONFIG="$KUBECONFIG" SKEIN_TEST_COMPACT="$compact >/dev/null" "$bin"; then
  echo "ok   kube client and informers against kube-apiserver"
else
  echo "FAIL: $bin"
  tail -n 30 "$work"/cluster/logs/kube-apiserver*.log 2>/dev/null
  exit 1
fi
