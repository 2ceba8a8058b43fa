#!/usr/bin/env bash
# skeind's watches against a real kube-apiserver whose watches read etcd
# (SKEIN_CLUSTER_WATCH_CACHE=0), so an etcd compaction expires every older
# resourceVersion:
#   1. Four 8-step Workflows run while, four times, skeind's connections
#      are cut (it talks to the apiserver through chaos/tcp_proxy.py, which
#      then refuses it until told otherwise), the store moves on (a
#      ConfigMap is written twice), etcd is compacted, and the proxy lets
#      skeind in again. Each informer then watches again from a
#      resourceVersion that is gone, gets 410 and relists: skeind's log
#      shows "(410), relisting" for the Workflow and the Pod informer in
#      every round, and every Workflow still Succeeds with
#      every step recorded once (attempt 1, one Pod each): no transition was
#      missed while a watch was down.
#   2. Four more run while etcd is compacted and the kube-apiserver is
#      restarted under them (tests/cluster/restart-apiserver.sh): the
#      informers back off, come back, and the work finishes.
# skeind exits 0 on SIGTERM; no ASan/UBSan report in its log.
set -uo pipefail

root=${SKEIN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$root/tests/lib/testlib.sh"
scratch_dir
. "$root/tests/e2e/chaos/lib.sh"

SKEIND=${SKEIND:-$root/build/skeind}
[[ -x $SKEIND ]] || { fail "no skeind at '$SKEIND' (set SKEIND)"; finish skeind_watch; }
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}

SKEIN_CLUSTER_WATCH_CACHE=0 chaos_start_cluster
ns=watch
k create namespace "$ns" >/dev/null || fail "create namespace $ns"

# The proxy between skeind and the apiserver, and a kubeconfig through it
# (the certificate is for 127.0.0.1, whatever the port).
python3 "$chaos_dir/tcp_proxy.py" "$tmp/proxy.port" 127.0.0.1 "$APISERVER_PORT" \
  >"$tmp/proxy.log" 2>&1 </dev/null &
proxy_pid=$!
on_exit "kill -TERM $proxy_pid 2>/dev/null"
wait_for 10 test -s "$tmp/proxy.port" || { fail "tcp_proxy.py did not start"; cat "$tmp/proxy.log" >&2; finish skeind_watch; }
proxy_port=$(cat "$tmp/proxy.port")
sed "s#server: .*#server: https://127.0.0.1:$proxy_port#" "$KUBECONFIG" >"$tmp/kubeconfig-proxy"
export SKEIND_KUBECONFIG=$tmp/kubeconfig-proxy
ok "tcp proxy on port $proxy_port in front of the apiserver"

start_skeind pid
log=$skeind_log
wf_inf="skein.dev/v1alpha1/workflows"
pod_inf="v1/pods with skein.dev/workflow"

# api METHOD PATH TYPE BODY: a write as admin, straight to the apiserver.
api() {
  curl -fsS -o /dev/null --max-time 10 --cacert "$CA_FILE" -H "Authorization: Bearer $ADMIN_TOKEN" \
    -X "$1" -H "Content-Type: $3" --data "$4" "$APISERVER_URL$2"
}

# inf_state DESC: the state the informer DESC last logged it moved to.
inf_state() {
  grep -F "informer $1: " "$log" | tail -n 1 | sed -n 's/.* -> \([A-Z]*\) (.*/\1/p'
}
both_watching() { [[ $(inf_state "$wf_inf") == WATCHING && $(inf_state "$pod_inf") == WATCHING ]]; }
relists() { grep -F "informer $1: " "$log" | grep -c "(410), relisting"; }
succeeded_lines() { grep -c -- "Running -> Succeeded" "$log"; }

if wait_for 30 both_watching; then
  ok "skeind logs its informers' transitions at -v 1 (both WATCHING)"
else
  fail "informers not WATCHING in the log at -v 1: $(grep informer "$log" | tail -n 4)"
fi

# ---- 1. compaction + lost watches while workflows run ----
batch1=(long-1 long-2 long-3 long-4)
for name in "${batch1[@]}"; do submit long "$name" "$ns" || fail "submit $name"; done
rounds=4
for ((r = 1; r <= rounds; r++)); do
  # Each round waits for some progress and for both watches to be up again
  # after the last round's relists (not merely asked for: a cut of a watch
  # request still in flight would fold two rounds into one relist), so that
  # every cut breaks two live watches in the middle of the runs.
  before=$(succeeded_lines)
  progressed() {
    (($(succeeded_lines) >= before + 2 && $(relists "$wf_inf") >= r - 1 &&
      $(relists "$pod_inf") >= r - 1)) && both_watching
  }
  wait_for 30 progressed || echo "round $r: no progress or watches not up: $(inf_state "$wf_inf")/$(inf_state "$pod_inf")"
  # Cut and stay down: from then on skeind reaches nothing, so its
  # informers' last resourceVersions stay as they are while two writes
  # they do not watch move the store on (a watch from resourceVersion R
  # starts at revision R + 1, which a compaction to exactly R + 1 would
  # keep) and etcd is compacted past them. Back up, each re-watch is sure
  # to get 410.
  kill -USR1 "$proxy_pid"
  cut_done() { [[ $(cat "$tmp/proxy.port.cuts" 2>/dev/null) == "$r" && $(cat "$tmp/proxy.port.state") == down ]]; }
  wait_for 10 cut_done || fail "the proxy did not cut connections (round $r)"
  api POST "/api/v1/namespaces/$ns/configmaps" application/json "{\"metadata\":{\"name\":\"bump-$r\"}}" &&
    api PATCH "/api/v1/namespaces/$ns/configmaps/bump-$r" application/merge-patch+json \
      "{\"data\":{\"round\":\"$r\"}}" || fail "writing configmap bump-$r"
  rev=$("$root/tests/cluster/compact-etcd.sh" "$tmp/cluster") || fail "compact-etcd.sh (round $r)"
  kill -USR2 "$proxy_pid"
  proxy_up() { [[ $(cat "$tmp/proxy.port.state") == up ]]; }
  wait_for 10 proxy_up || fail "the proxy did not come up again (round $r)"
  echo "round $r: cut skeind's connections, compacted etcd to revision $rev, reconnected"
done
if wait_for 90 all_final "$ns" "${batch1[@]}"; then
  ok "batch 1 ended after $rounds compactions with lost watches"
else
  fail "batch 1 did not end: $(k -n "$ns" get swf --no-headers 2>&1)"
fi
n_wf=$(relists "$wf_inf")
n_pod=$(relists "$pod_inf")
if ((n_wf >= rounds && n_pod >= rounds)); then
  ok "both informers relisted after 410 in every round (workflows $n_wf, pods $n_pod times)"
else
  fail "relists after 410: workflows $n_wf, pods $n_pod (want $rounds each)"
fi
check_runs "$ns" "${batch1[@]}"
# Every step's end was seen by skeind itself (from a watch event or a
# relist), not only written by someone: one log line per step at least.
# A status write cut by the proxy logs its transitions as "(status write
# not confirmed)": it may have been stored, and then none is planned again.
missing=
for name in "${batch1[@]}"; do
  for s in s1 s2 s3 s4 s5 s6 s7 s8; do
    grep -q -- "$ns/$name: step $s Running -> Succeeded" "$log" || missing+=" $name/$s"
  done
done
expect "steps whose Running -> Succeeded skeind did not log" "${missing:-none}" none
echo "status writes cut with transitions in them: $(grep -c "(status write not confirmed)" "$log" || true) transition line(s)"

# ---- 2. the apiserver restarts mid-run ----
batch2=(long-5 long-6 long-7 long-8)
for name in "${batch2[@]}"; do submit long "$name" "$ns" || fail "submit $name"; done
started_s2() { grep -q -- "$ns/long-5: step s2 Pending -> Running" "$log"; }
wait_for 30 started_s2 || fail "long-5 did not reach step s2 before the restart"
"$root/tests/cluster/compact-etcd.sh" "$tmp/cluster" >/dev/null || fail "compact-etcd.sh before the restart"
backoffs_before=$(grep -c -- "-> BACKOFF" "$log")
if SKEIN_APISERVER_GRACE=1 "$root/tests/cluster/restart-apiserver.sh" "$tmp/cluster" >"$tmp/restart.log" 2>&1; then
  ok "kube-apiserver restarted mid-run"
else
  fail "restart-apiserver.sh: $(tail -n 5 "$tmp/restart.log")"
fi
running_mid=$(k -n "$ns" get swf "${batch2[@]}" -o jsonpath='{range .items[*]}{.status.phase}{" "}{end}' 2>/dev/null)
echo "phases right after the restart: $running_mid"
if wait_for 90 all_final "$ns" "${batch2[@]}"; then
  ok "batch 2 ended after the apiserver restart"
else
  fail "batch 2 did not end: $(k -n "$ns" get swf --no-headers 2>&1)"
fi
backoffs=$(($(grep -c -- "-> BACKOFF" "$log") - backoffs_before))
if ((backoffs >= 1)) && both_watching; then
  ok "informers lost their watches ($backoffs backoff(s)) and watch again"
else
  fail "after the restart: $backoffs backoffs, informers $(inf_state "$wf_inf")/$(inf_state "$pod_inf")"
fi
check_runs "$ns" "${batch1[@]}" "${batch2[@]}"

stop_skeind "$pid"
expect "skeind exits 0 on SIGTERM" "$stop_rc" 0
check_sanitizers
dump_logs
finish skeind_watch
