#!/usr/bin/env bash
# skeind's leader election against a real kube-apiserver, with short
# timings (lease 4 s, renew deadline 3 s, retry 0.5 s):
#   1. Two replicas: the first leads (the Lease names it, its metrics say
#      skein_leader 1), the second waits (its log names the leader, its
#      metrics say 0, it starts no controller and logs no step transition).
#   2. SIGKILL of the leader mid-run: the standby takes over once the lease
#      has run out (not before: at least 2.5 s; at most the lease + 3 s);
#      the runs finish with one Pod per attempt and no extra attempt.
#   3. SIGTERM of the leader mid-run: it releases the Lease, so a new
#      standby takes over at once (under 3 s, sooner than the 4 s lease),
#      and the old leader exits 0.
#   4. A leader whose Lease is taken over behind its back (holderIdentity
#      overwritten with kubectl) stops reconciling at once (no step
#      transition after it says so) and exits non-zero; the standby leads
#      once the intruder's lease has run out and the runs finish. A leader
#      whose Lease is deleted does the same.
#   5. A lone leader stopped with SIGTERM leaves the Lease released:
#      holderIdentity "" and leaseDurationSeconds 1.
# Every run ends as expected (chaos/check_runs.py) and no skeind log has an
# ASan/UBSan report.
set -uo pipefail

root=${SKEIN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$root/tests/lib/testlib.sh"
scratch_dir
. "$root/tests/e2e/chaos/lib.sh"

SKEIND=${SKEIND:-$root/build/skeind}
[[ -x $SKEIND ]] || { fail "no skeind at '$SKEIND' (set SKEIND)"; finish skeind_leader; }
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}

chaos_start_cluster
ns=leader
lns=skein-le
k create namespace "$ns" >/dev/null || fail "create namespace $ns"
k create namespace "$lns" >/dev/null || fail "create namespace $lns"
le=(--leader-elect "--leader-elect-namespace=$lns" --leader-elect-lease-duration=4
  --leader-elect-renew-deadline=3 --leader-elect-retry-period=0.5)

leads() { grep -q "skeind: became leader" "$1"; }
identity_of() { sed -n 's/.*competing for Lease [^ ]* as \(.*\)$/\1/p' "$1" | head -n 1; }
has_identity() { [[ -n $(identity_of "$1") ]]; }
lease_field() { k -n "$lns" get lease skeind -o jsonpath="{.spec.$1}" 2>/dev/null; }
leader_metric() {
  curl -fsS --max-time 5 "http://127.0.0.1:$1/metrics" 2>/dev/null | awk '$1 == "skein_leader" {print $2}'
}
# sees_leader LOG ID: the standby's log names ID as the leader.
sees_leader() { grep -q "leader is now $2" "$1"; }
# steps_logged LOG PATTERN: step transition lines of LOG matching PATTERN.
steps_logged() { grep -c -E "controller: $ns/$2: step " "$1"; }
# outside_leadership LOG: step transitions LOG shows while not leading:
# before "became leader", or after the elector's "stopped leading" (which a
# SIGTERM brings only once the controller has stopped, and a lost Lease at
# once). A transition is logged when its status write has been answered,
# so one write already on its way when the Lease was lost may still log
# within a moment (1 s); that is no reconcile started afterwards.
outside_leadership() {
  awk 'BEGIN {stop = -1}
       function ms(ts, d, t) {
         split(ts, d, "T"); split(d[2], t, ":")
         return ((substr(d[1], 9, 2) * 24 + t[1]) * 60 + t[2]) * 60000 + t[3] * 1000
       }
       /skeind: became leader/ {lead = 1; stop = -1}
       /leader-election: .* stopped leading/ {lead = 0; stop = ms($2)}
       /controller: .*: step / && !lead && !(stop >= 0 && ms($2) - stop <= 1000) {n++}
       END {print n + 0}' "$1"
}
# reap PID: waits (20 s) for a skeind already signalled or stopping by
# itself to exit; sets reap_rc to its exit status, or "running".
reap_skeind() {
  if wait_for 20 gone "$1"; then
    reap_rc=0
    wait "$1" || reap_rc=$?
  else
    reap_rc=running
  fi
}
# mid_run LOG NAME: NAME has started at least its third step under LOG.
mid_run() { grep -q -E "controller: $ns/$2: step s3 Pending -> Running" "$1"; }

# ---- 1. one leader, one standby ----
start_skeind a_pid "${le[@]}"
a_log=$skeind_log
wait_for 30 leads "$a_log" || fail "replica A did not become leader: $(tail -n 5 "$a_log")"
a_id=$(identity_of "$a_log")
expect "the Lease names replica A" "$(lease_field holderIdentity)" "$a_id"
start_skeind b_pid "${le[@]}"
b_log=$skeind_log
wait_for 20 has_identity "$b_log" || fail "replica B did not log its identity"
b_id=$(identity_of "$b_log")
if wait_for 20 sees_leader "$b_log" "$a_id"; then
  ok "replica B waits and names A as the leader"
else
  fail "replica B's log does not name A ($a_id) as the leader: $(tail -n 5 "$b_log")"
fi
a_port=$(skeind_port "$a_log" metrics)
b_port=$(skeind_port "$b_log" metrics)
expect "skein_leader of A (leading)" "$(leader_metric "$a_port")" 1
expect "skein_leader of B (standby)" "$(leader_metric "$b_port")" 0

batch1=(long-1 long-2 long-3 long-4)
for name in "${batch1[@]}"; do submit long "$name" "$ns" || fail "submit $name"; done
wait_for 60 mid_run "$a_log" long-1 || fail "A did not get long-1 to its third step"
expect "step transitions in B's log while A leads" "$(steps_logged "$b_log" 'long-.*')" 0
if grep -q "reconciling Workflows" "$b_log"; then
  fail "B started its controller while A leads"
else
  ok "B started no controller while A leads"
fi

# ---- 2. SIGKILL of the leader ----
t0=$(now_ms)
kill_skeind "$a_pid"
if wait_for 20 leads "$b_log"; then
  took=$(($(now_ms) - t0))
  if ((took >= 2500 && took <= 7000)); then
    ok "B took over $took ms after A was killed (lease 4 s)"
  else
    fail "B took over $took ms after A was killed; want 2500..7000 (lease 4 s)"
  fi
else
  fail "B did not take over after A was killed: $(tail -n 5 "$b_log")"
fi
expect "the Lease names replica B" "$(lease_field holderIdentity)" "$b_id"
expect "skein_leader of B (leading)" "$(leader_metric "$b_port")" 1
if wait_for 90 all_final "$ns" "${batch1[@]}"; then
  ok "batch 1 ended under B"
else
  fail "batch 1 did not end: $(k -n "$ns" get swf --no-headers 2>&1)"
fi
check_runs "$ns" "${batch1[@]}"

# ---- 3. SIGTERM of the leader: released, taken over at once ----
start_skeind c_pid "${le[@]}"
c_log=$skeind_log
wait_for 20 sees_leader "$c_log" "$b_id" || fail "replica C does not name B as the leader"
c_id=$(identity_of "$c_log")
batch2=(long-5 long-6 long-7 long-8)
for name in "${batch2[@]}"; do submit long "$name" "$ns" || fail "submit $name"; done
wait_for 60 mid_run "$b_log" long-5 || fail "B did not get long-5 to its third step"
t0=$(now_ms)
kill -TERM "$b_pid"
if wait_for 10 leads "$c_log"; then
  took=$(($(now_ms) - t0))
  # Without the release C would wait out the lease: at least 3.5 s after
  # B's last renewal, which came at most 0.5 s before the signal.
  if ((took < 3000)); then
    ok "C took over $took ms after B's SIGTERM (released; the lease is 4 s)"
  else
    fail "C took over $took ms after B's SIGTERM: the release did not hand over at once"
  fi
else
  fail "C did not take over after B's SIGTERM: $(tail -n 5 "$c_log")"
fi
reap_skeind "$b_pid"
expect "B exits 0 on SIGTERM" "$reap_rc" 0
if grep -q "lease $lns/skeind: released" "$b_log"; then ok "B logged the release"; else fail "B did not log 'lease $lns/skeind: released'"; fi
if wait_for 90 all_final "$ns" "${batch2[@]}"; then
  ok "batch 2 ended under C"
else
  fail "batch 2 did not end: $(k -n "$ns" get swf --no-headers 2>&1)"
fi
check_runs "$ns" "${batch2[@]}"

# ---- 4. the Lease taken behind the leader's back, then deleted ----
start_skeind d_pid "${le[@]}"
d_log=$skeind_log
wait_for 20 sees_leader "$d_log" "$c_id" || fail "replica D does not name C as the leader"
batch3=(long-9 long-10)
for name in "${batch3[@]}"; do submit long "$name" "$ns" || fail "submit $name"; done
wait_for 60 mid_run "$c_log" long-9 || fail "C did not get long-9 to its third step"
t0=$(now_ms)
k -n "$lns" patch lease skeind --type merge -p '{"spec":{"holderIdentity":"intruder"}}' >/dev/null ||
  fail "overwrite the Lease's holderIdentity"
reap_skeind "$c_pid"
took=$(($(now_ms) - t0))
# It notices at its next renewal (every 0.5 s), well before its renew
# deadline (3 s) would have stopped it anyway.
if [[ $reap_rc != 0 && $reap_rc != running ]] && ((took <= 2500)); then
  ok "C exited with $reap_rc $took ms after its Lease was taken (non-zero, at its next renewal)"
else
  fail "C after its Lease was taken: exit status '$reap_rc' after $took ms, want non-zero within 2500 ms"
fi
if grep -q "lost the leader lease" "$c_log"; then ok "C logged that it lost the lease"; else fail "C did not log 'lost the leader lease'"; fi
if wait_for 20 leads "$d_log"; then
  ok "D leads once the intruder's lease ran out"
else
  fail "D did not take over from the intruder: $(tail -n 5 "$d_log")"
fi
if wait_for 90 all_final "$ns" "${batch3[@]}"; then
  ok "batch 3 ended under D"
else
  fail "batch 3 did not end: $(k -n "$ns" get swf --no-headers 2>&1)"
fi
check_runs "$ns" "${batch3[@]}"

t0=$(now_ms)
k -n "$lns" delete lease skeind >/dev/null || fail "delete the Lease"
reap_skeind "$d_pid"
took=$(($(now_ms) - t0))
if [[ $reap_rc != 0 && $reap_rc != running ]] && ((took <= 2500)); then
  ok "D exited with $reap_rc $took ms after its Lease was deleted (non-zero, at its next renewal)"
else
  fail "D after its Lease was deleted: exit status '$reap_rc' after $took ms, want non-zero within 2500 ms"
fi
if k -n "$lns" get lease skeind >/dev/null 2>&1; then
  fail "the deleted Lease exists again, though its leader stopped: $(lease_field holderIdentity)"
else
  ok "the leader that lost its Lease did not create it again"
fi
if grep -q "lost the leader lease" "$d_log"; then ok "D logged that it lost the lease"; else fail "D did not log 'lost the leader lease'"; fi

# ---- 5. a lone leader's SIGTERM leaves the Lease released ----
start_skeind e_pid "${le[@]}"
e_log=$skeind_log
wait_for 30 leads "$e_log" || fail "replica E did not become leader (the Lease was deleted)"
expect "the Lease names replica E" "$(lease_field holderIdentity)" "$(identity_of "$e_log")"
stop_skeind "$e_pid"
expect "E exits 0 on SIGTERM" "$stop_rc" 0
expect "released Lease: holderIdentity" "$(lease_field holderIdentity)" ""
expect "released Lease: leaseDurationSeconds" "$(lease_field leaseDurationSeconds)" 1

# Only a leader ever logged a step transition, in every replica's log.
bad=
for log in "$a_log" "$b_log" "$c_log" "$d_log" "$e_log"; do
  n=$(outside_leadership "$log")
  [[ $n == 0 ]] || bad+=" $(basename "$log"):$n"
done
expect "step transitions logged while not leading" "${bad:-none}" none
all_steps=$(($(steps_logged "$a_log" 'long-.*') + $(steps_logged "$b_log" 'long-.*') +
  $(steps_logged "$c_log" 'long-.*') + $(steps_logged "$d_log" 'long-.*')))
echo "step transitions logged by the leaders: $all_steps"

check_sanitizers
dump_logs
finish skeind_leader
