#!/usr/bin/env bash
# skeind under its least-privilege identity, against a real kube-apiserver:
# the ServiceAccount, ClusterRole and leader-election Role of manifests/rbac
# (in the namespace of manifests/deploy), a token for that ServiceAccount
# from `kubectl create token`, and a kubeconfig with that token and the
# cluster's CA, as a Deployment's Pod would have.
#
# - the token is that ServiceAccount, and it may not read Secrets, exec
#   into Pods or create Deployments (what the Role grants is test_crds.sh's
#   subject; this checks that skeind really runs without those);
# - with --leader-elect, skeind takes the Lease skein-system/skeind and runs
#   the Workflows of workflows/rbac.yaml, which need every write it makes
#   (status, Pod create and delete, Events, Workflow delete), with no
#   request refused;
# - SIGTERM: it exits 0 and releases the Lease (holder cleared, duration
#   1 s), so a second skeind with the same identity takes over at once,
#   well within the 15 s lease, and runs a new Workflow: the Role's grants
#   on the Lease suffice for creating, renewing, releasing and taking it
#   over (leader election itself is test_skeind_leader.sh's subject);
# - no sanitizer report in either log.
#
# Environment (ctest sets it): SKEIN_SOURCE_DIR, SKEINCTL, SKEIND.
set -uo pipefail
SKEIN_SOURCE_DIR=${SKEIN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SKEIN_SOURCE_DIR/tests/lib/testlib.sh"
. "$SKEIN_SOURCE_DIR/tests/e2e/workflows/skeind-e2e.sh"
wfdir=$SKEIN_SOURCE_DIR/tests/e2e/workflows
manifests=$SKEIN_SOURCE_DIR/manifests

e2e_cluster
sa=system:serviceaccount:skein-system:skeind

# --- the identity --------------------------------------------------------------

if out=$(k apply -f "$manifests/deploy/namespace.yaml" -f "$manifests/rbac/" 2>&1); then
  ok "applied the namespace and manifests/rbac"
else
  fail "apply manifests/rbac: $out"
fi
token=$(k create token skeind -n skein-system --duration=1h) || fail "kubectl create token skeind"
kc=$tmp/skeind.kubeconfig
kcfg() { "$KUBECTL" config --kubeconfig="$kc" "$@" >/dev/null; }
kcfg set-cluster test --server="$APISERVER_URL" --certificate-authority="$CA_FILE" --embed-certs=true &&
  kcfg set-credentials skeind --token="$token" &&
  kcfg set-context skeind --cluster=test --user=skeind --namespace=skein-system &&
  kcfg use-context skeind || fail "writing the ServiceAccount's kubeconfig"
as_sa() { "$KUBECTL" --kubeconfig="$kc" --request-timeout=30s "$@"; }
expect "the token's user" "$(as_sa auth whoami -o jsonpath='{.status.userInfo.username}')" "$sa"
for what in "get secrets -n skein-e2e" "create pods --subresource=exec -n skein-e2e" \
  "create deployments.apps -n skein-system"; do
  # shellcheck disable=SC2086
  expect "as skeind's token: can-i $what" "$(as_sa auth can-i $what 2>/dev/null)" no
done

# --- a leader under RBAC ----------------------------------------------------------

podwatch_start
skeind_start leader "$kc" --leader-elect || { show_logs; finish test_skeind_rbac; }
first_pid=$skeind_pid first_log=$skeind_log first_metrics=$metrics_port
id1=$(sed -n 's/.*competing for Lease skein-system\/skeind as \(.*\)$/\1/p' "$first_log")
if wait_for 20 grep -q 'became leader' "$first_log"; then
  ok "skeind took the Lease as $id1"
else
  fail "skeind never became leader"
fi
lease_holder() {
  k get lease -n skein-system skeind -o jsonpath='{.spec.holderIdentity}' 2>/dev/null
}
expect "Lease skein-system/skeind holder" "$(lease_holder)" "$id1"

if out=$(k apply -n "$ns" -f "$wfdir/rbac.yaml" 2>&1); then
  ok "kubectl apply -f rbac.yaml"
else
  fail "kubectl apply -f rbac.yaml: $out"
fi
expect "rbac-run: phase" "$(wait_finished rbac-run 60)" Succeeded
expect "rbac-run: consume's command" "$(podwatch "pod('rbac-run-consume-1')['spec']['containers'][0]['command']")" \
  '["consume", "--version=7"]'
if wait_for 20 no_pods rbac-run; then ok "rbac-run: podGC deleted its Pods"; else fail "rbac-run: Pods left"; fi
expect "rbac-fail: phase" "$(wait_finished rbac-fail 60)" Failed
evs() { events_of rbac-fail | grep -c -e '^Warning StepFailed: .*no such model' -e '^Warning WorkflowFailed'; }
if wait_for 15 eval '[[ $(evs) == 2 ]]'; then
  ok "rbac-fail: Warning Events StepFailed and WorkflowFailed"
else
  fail "rbac-fail: Events: $(events_of rbac-fail)"
fi
if wait_for 30 wf_gone rbac-ttl; then
  ok "rbac-ttl: deleted after its ttl"
else
  fail "rbac-ttl: still there, phase '$(wf_phase rbac-ttl)'"
fi
expect "rbac-ttl: its Pod ran" "$(podwatch "phases('rbac-ttl-a-1')[-1:]")" '["Succeeded"]'
curl -s --max-time 5 "http://127.0.0.1:$first_metrics/metrics" >"$tmp/metrics.txt"
# 404 is routine (the Lease's first read); 401 or 403 would be a grant missing.
refused=$(grep -e '^skein_kube_requests_total{.*code="40[13]"}' "$tmp/metrics.txt")
if [[ -z $refused ]] && grep -q '^skein_kube_requests_total{verb="create",code="201"}' "$tmp/metrics.txt"; then
  ok "no request refused with 401 or 403 ($(grep -c '^skein_kube_requests_total{' "$tmp/metrics.txt") verb/code series)"
else
  fail "refused requests: ${refused:-(no create 201 either)}"
fi
if grep -i forbidden "$first_log"; then fail "'forbidden' in skeind's log"; else ok "no 'forbidden' in skeind's log"; fi

# --- SIGTERM releases the Lease ---------------------------------------------------

skeind_stop "$first_pid"
expect "skeind exit status after SIGTERM" "$skeind_rc" 0
if grep -q 'lease skein-system/skeind: released' "$first_log"; then ok "skeind logged the release"; else fail "no release in skeind's log"; fi
k get lease -n skein-system skeind -o json >"$tmp/lease.json"
expect "released Lease: holder, leaseDurationSeconds" \
  "$(jget "$tmp/lease.json" "[doc['spec'].get('holderIdentity', ''), doc['spec'].get('leaseDurationSeconds')]")" '["", 1]'
skeind_log_clean "$first_log"

# A second replica finds the Lease free (it would otherwise wait out the
# 15 s lease duration after the last renewal) and takes over.
t0=$(now_ms)
skeind_start successor "$kc" --leader-elect || { show_logs; finish test_skeind_rbac; }
if wait_for 20 grep -q 'became leader' "$skeind_log"; then
  took=$(($(now_ms) - t0))
  if ((took < 10000)); then
    ok "the successor took the released Lease in $took ms"
  else
    fail "the successor took the Lease only after $took ms: was it released?"
  fi
else
  fail "the successor never became leader"
fi
id2=$(sed -n 's/.*competing for Lease skein-system\/skeind as \(.*\)$/\1/p' "$skeind_log")
expect "Lease holder after the hand-over" "$(lease_holder)" "$id2"
k apply -n "$ns" -f "$wfdir/rbac-after.yaml" >/dev/null || fail "kubectl apply -f rbac-after.yaml"
expect "rbac-after: phase (run by the successor)" "$(wait_finished rbac-after 60)" Succeeded
if grep -q "skein-e2e/rbac-after: step b Running -> Succeeded" "$skeind_log"; then
  ok "rbac-after ran in the successor"
else
  fail "the successor's log does not show rbac-after"
fi
skeind_stop
expect "successor exit status after SIGTERM" "$skeind_rc" 0
skeind_log_clean
show_logs
finish test_skeind_rbac
