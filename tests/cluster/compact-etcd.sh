#!/usr/bin/env bash
# Compacts the etcd of the test cluster in DIR up to its current revision, so
# every older resourceVersion is gone: a watch or a list from one of them
# gets 410 Gone (reason Expired) instead of events. Prints the revision.
#
# Uses etcd's v3 JSON gateway (POST /v3/kv/range and /v3/kv/compaction).
# With the apiserver's watch cache on (the default) watches of cached
# resources are served from that cache and only expire once the cache has
# moved past them; events are never cached, and SKEIN_CLUSTER_WATCH_CACHE=0
# at start makes every watch read etcd.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
dir=$1
[[ -f "$dir/env" ]] || { echo "compact-etcd: no cluster started in $dir" >&2; exit 1; }
# shellcheck disable=SC1091
. "$dir/env"

# The revision of the whole store comes back in the header of any range.
resp=$(curl -fsS --max-time 10 -X POST "$ETCD_ENDPOINT/v3/kv/range" -d '{"key":"AA==","limit":1}')
rev=$(printf '%s' "$resp" | python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])')
[[ "$rev" =~ ^[0-9]+$ ]] || { echo "compact-etcd: no revision in: $resp" >&2; exit 1; }
out=$(curl -sS --max-time 30 -X POST "$ETCD_ENDPOINT/v3/kv/compaction" \
  -d "{\"revision\":\"$rev\",\"physical\":true}")
# Compacting twice to the same revision is fine for the caller: it is compacted.
if printf '%s' "$out" | grep -q '"header"' ||
   printf '%s' "$out" | grep -q 'required revision has been compacted'; then
  echo "$rev"
else
  echo "compact-etcd: compaction to $rev failed: $out" >&2
  exit 1
fi
