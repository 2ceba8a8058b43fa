#!/usr/bin/env bash
# skeind against a real kube-apiserver, as a user drives it with kubectl:
# the Workflows of tests/e2e/workflows/core.yaml, applied at once, and what
# the API shows afterwards.
#
# - a DAG runs its Pods in dependency order (in the order of the Pod watch,
#   which is etcd's, and in the status records' times), ends Succeeded, and
#   `kubectl get swf` shows its Phase and Progress;
# - a false `when` skips its step and its dependent, with no Pod for them;
# - a forEach of 50 makes 50 Pods with distinct names and arguments, and
#   the dependent step runs once, after all of them;
# - a Workflow the CRD's schema refuses never reaches skeind; one that only
#   skeind's validator refuses (a cycle, an unknown step) ends Failed with
#   the validator's messages and a Warning InvalidSpec Event, and no Pod;
# - podGC OnPodSuccess deletes each Pod after it succeeded, podGC Never
#   (the default) keeps them; ttlSecondsAfterFinished deletes the Workflow
#   and its Pods, not before the ttl;
# - /healthz, /readyz and /metrics answer, with the counts of what ran;
# - SIGTERM: skeind exits 0, with no sanitizer report in its log.
#
# Environment (ctest sets it): SKEIN_SOURCE_DIR, SKEINCTL, SKEIND.
set -uo pipefail
SKEIN_SOURCE_DIR=${SKEIN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SKEIN_SOURCE_DIR/tests/lib/testlib.sh"
. "$SKEIN_SOURCE_DIR/tests/e2e/workflows/skeind-e2e.sh"
wfdir=$SKEIN_SOURCE_DIR/tests/e2e/workflows

e2e_cluster
podwatch_start
skeind_start skeind "$KUBECONFIG" || { show_logs; finish test_skeind; }

# --- apply -----------------------------------------------------------------

if out=$(k apply -n "$ns" -f "$wfdir/core.yaml" 2>&1); then
  ok "kubectl apply -f core.yaml ($(grep -c created <<<"$out") created)"
else
  fail "kubectl apply -f core.yaml: $out"
fi

# Refused at the door: kubectl says which fields, and nothing is stored.
if out=$(k apply -n "$ns" -f "$wfdir/schema-invalid.yaml" 2>&1); then
  fail "the schema accepted schema-invalid.yaml: $out"
elif [[ $out == *'spec.steps[0].name'*'Train_Model'* && $out == *spec.parallelism* ]]; then
  ok "the CRD schema refuses schema-invalid.yaml, naming spec.steps[0].name and spec.parallelism"
else
  fail "schema-invalid.yaml refused without naming its fields: $out"
fi
if k get swf -n "$ns" schema-invalid >/dev/null 2>&1; then
  fail "schema-invalid was stored"
fi

# --- ttl (first: its Workflow is gone 3 s after it ends) ---------------------

expect "ttl: phase" "$(wait_finished ttl 60)" Succeeded
wf_json ttl
ttl_fin=$(ts_ms "$(jget "$tmp/ttl.json" "status['finishedAt']")")
if [[ -z $ttl_fin ]]; then
  fail "ttl: no finishedAt to count from (was it gone at once?)"
elif wait_for 30 wf_gone ttl; then
  gone_at=$(now_ms)
  if ((gone_at >= ttl_fin + 3000)); then
    ok "ttl: the Workflow was deleted $((gone_at - ttl_fin)) ms after it finished (ttl 3 s)"
  else
    fail "ttl: deleted $((gone_at - ttl_fin)) ms after it finished, before its ttl of 3 s"
  fi
else
  fail "ttl: the Workflow is still there"
fi
expect "ttl: its Pod ran" "$(podwatch "phases('ttl-a-1')[-1:]")" '["Succeeded"]'
if wait_for 10 no_pods ttl; then ok "ttl: its Pod was deleted"; else fail "ttl: its Pod is left"; fi

# --- the DAG ---------------------------------------------------------------

expect "dag: phase" "$(wait_finished dag 60)" Succeeded
wf_json dag
for s in a b c d; do
  expect "dag: step $s" "$(jget "$tmp/dag.json" "step('$s').get('phase')")" Succeeded
done
# The watch shows the API server's order of changes: a dependent's Pod
# appears only after its dependency's Pod finished.
for edge in a:b a:c b:d c:d; do
  dep=dag-${edge%%:*}-1 pod=dag-${edge##*:}-1
  expect "dag: $dep finished before $pod was created (watch order)" \
    "$(podwatch "before('$dep', '$pod')")" true
done
# The same in the status: each step started no earlier than its
# dependencies finished (their finishedAt is the container's, in seconds).
for edge in a:b a:c b:d c:d; do
  dep=${edge%%:*} s=${edge##*:}
  fin=$(ts_ms "$(jget "$tmp/dag.json" "step('$dep')['finishedAt']")")
  start=$(ts_ms "$(jget "$tmp/dag.json" "step('$s')['startedAt']")")
  if [[ -n $fin && -n $start && $start -ge $fin ]]; then
    ok "dag: status: $s startedAt >= $dep finishedAt (+$((start - fin)) ms)"
  else
    fail "dag: status: $s startedAt ($start) before $dep finishedAt ($fin)"
  fi
done
expect "dag: Pods" "$(podwatch "sorted(names('dag'))")" '["dag-a-1", "dag-b-1", "dag-c-1", "dag-d-1"]'
uid=$(jget "$tmp/dag.json" "doc['metadata']['uid']")
pods_json dag
expect "dag: every Pod is controlled by the Workflow" \
  "$(jget "$tmp/dag.pods.json" "sorted({o['uid'] for p in doc['items'] for o in p['metadata']['ownerReferences'] if o.get('controller')})")" \
  "[\"$uid\"]"
# The printer columns, as a user sees them.
table=$(k get swf -n "$ns" dag)
header=$(head -n 1 <<<"$table")
row=$(tail -n 1 <<<"$table")
if [[ $header == *PHASE*PROGRESS* && $row =~ ^dag[[:space:]]+Succeeded[[:space:]]+4/4[[:space:]] ]]; then
  ok "kubectl get swf dag: $(tr -s ' ' <<<"$row")"
else
  fail "kubectl get swf dag shows: $table"
fi
evs=$(events_of dag)
if grep -q '^Normal WorkflowRunning' <<<"$evs" && grep -q '^Normal WorkflowSucceeded' <<<"$evs"; then
  ok "dag: Events WorkflowRunning and WorkflowSucceeded"
else
  fail "dag: Events: $evs"
fi

# --- when ------------------------------------------------------------------

expect "gate: phase" "$(wait_finished gate 60)" Succeeded
wf_json gate
expect "gate: gated" "$(jget "$tmp/gate.json" "step('gated').get('phase')")" Skipped
expect "gate: gated's message" "$(jget "$tmp/gate.json" "step('gated').get('message')")" \
  "when was false: 0.42 >= 0.9"
expect "gate: after (needs gated)" "$(jget "$tmp/gate.json" "step('after').get('phase')")" Skipped
expect "gate: Pods ever created" "$(podwatch "names('gate')")" '["gate-first-1"]'

# --- fan-out of 50 -----------------------------------------------------------

expect "fanout: phase" "$(wait_finished fanout 90)" Succeeded
wf_json fanout
expect "fanout: progress" "$(jget "$tmp/fanout.json" "status.get('progress')")" 51/51
expect "fanout: shard instances Succeeded" \
  "$(jget "$tmp/fanout.json" "sum(1 for r in instances('shard') if r.get('phase') == 'Succeeded')")" 50
shards=$(podwatch "len(set(n for n in names('fanout') if n.startswith('fanout-shard-')))")
expect "fanout: distinct shard Pods" "$shards" 50
expect "fanout: join Pods" "$(podwatch "[n for n in names('fanout') if n.startswith('fanout-join-')]")" \
  '["fanout-join-1"]'
expect "fanout: every shard finished before the join Pod appeared" \
  "$(podwatch "all(before('fanout-shard-%d-1' % i, 'fanout-join-1') for i in range(50))")" true
pods_json fanout
expect "fanout: each shard Pod got its own item" \
  "$(jget "$tmp/fanout.pods.json" "len({tuple(p['spec']['containers'][0].get('args', [])) for p in doc['items'] if p['metadata']['name'].startswith('fanout-shard-')})")" 50
expect "fanout: shard-17's args" \
  "$(jget "$tmp/fanout.pods.json" "[p['spec']['containers'][0]['args'] for p in doc['items'] if p['metadata']['name'] == 'fanout-shard-17-1']")" \
  '[["shard 17"]]'

# --- invalid for skeind ------------------------------------------------------

expect "cycle: phase" "$(wait_finished cycle 30)" Failed
wf_json cycle
msg=$(jget "$tmp/cycle.json" "status.get('message')")
if [[ $msg == 'invalid spec: '*'dependency cycle: a -> b -> a'*'unknown step "nosuch"'* ]]; then
  ok "cycle: status.message has the validator's messages ($msg)"
else
  fail "cycle: status.message: $msg"
fi
if wait_for 10 eval 'events_of cycle | grep -q "^Warning InvalidSpec: invalid spec: .*dependency cycle"'; then
  ok "cycle: Warning InvalidSpec Event"
else
  fail "cycle: no InvalidSpec Event: $(events_of cycle)"
fi
expect "cycle: Pods ever created" "$(podwatch "names('cycle')")" '[]'

# --- podGC and ttl -----------------------------------------------------------

expect "gc-pods: phase" "$(wait_finished gc-pods 60)" Succeeded
if wait_for 20 no_pods gc-pods; then
  ok "gc-pods: podGC OnPodSuccess deleted its Pods"
else
  fail "gc-pods: Pods left: $(k get pods -n "$ns" -l skein.dev/workflow=gc-pods -o name)"
fi
expect "gc-pods: each Pod succeeded before it went" \
  "$(podwatch "[phases(n)[-1] for n in names('gc-pods')]")" '["Succeeded", "Succeeded"]'
wf_json gc-pods
expect "gc-pods: the status keeps both results" \
  "$(jget "$tmp/gc-pods.json" "[r['phase'] for r in status['steps']]")" '["Succeeded", "Succeeded"]'
expect "dag: podGC Never keeps the Pods" "$(k get pods -n "$ns" -l skein.dev/workflow=dag -o name | wc -l)" 4

# --- probes and metrics ------------------------------------------------------

body=$(curl -s --max-time 5 "http://127.0.0.1:$health_port/healthz")
expect "/healthz" "$body" ok
expect "/readyz" "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$health_port/readyz")" 200
curl -s --max-time 5 "http://127.0.0.1:$metrics_port/metrics" >"$tmp/metrics.txt"
metric() { awk -v m="$1" '$1 == m {print $2}' "$tmp/metrics.txt"; }
# dag 4 + gate 1 + fanout 51 + gc-pods 2 + ttl 1 attempts, none retried.
expect "metrics: skein_steps_started_total{kind=\"pod\"}" "$(metric 'skein_steps_started_total{kind="pod"}')" 59
# ttl was deleted; cycle is the one Failed.
expect "metrics: skein_workflows{phase=\"Succeeded\"}" "$(metric 'skein_workflows{phase="Succeeded"}')" 4
expect "metrics: skein_workflows{phase=\"Failed\"}" "$(metric 'skein_workflows{phase="Failed"}')" 1
expect "metrics: skein_events_dropped_total" "$(metric skein_events_dropped_total)" 0
creates=$(metric 'skein_kube_requests_total{verb="create",code="201"}')
if [[ -n $creates ]] && ((creates >= 59)); then
  ok "metrics: skein_kube_requests_total{verb=\"create\",code=\"201\"} $creates"
else
  fail "metrics: skein_kube_requests_total create 201: '$creates', want >= 59"
fi
# docs/metrics.md names every metric skeind exports, and nothing else.
served=$(sed -n 's/^# TYPE \(skein_[a-z_]*\) .*/\1/p' "$tmp/metrics.txt" | sort -u)
documented=$(grep -o '^| `skein_[a-z_]*`' "$SKEIN_SOURCE_DIR/docs/metrics.md" | tr -d '|` ' | sort -u)
expect "metrics served but not in docs/metrics.md" \
  "$(comm -23 <(echo "$served") <(echo "$documented") | tr '\n' ' ')" ""
expect "metrics in docs/metrics.md but not served" \
  "$(comm -13 <(echo "$served") <(echo "$documented") | tr '\n' ' ')" ""

# --- shutdown ----------------------------------------------------------------

skeind_stop
expect "skeind exit status after SIGTERM" "$skeind_rc" 0
if grep -q 'skeind: stopped' "$skeind_log"; then ok "skeind logged its orderly stop"; else fail "no 'stopped' in skeind's log"; fi
skeind_log_clean
show_logs
finish test_skeind
