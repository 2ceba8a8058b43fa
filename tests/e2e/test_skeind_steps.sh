#!/usr/bin/env bash
# skeind running steps that end in every way, against a real kube-apiserver
# with kwok as the kubelet: the Workflows of tests/e2e/workflows/steps.yaml,
# whose pod.metadata annotations tell kwok how each Pod ends, and the
# quickstart example.
#
# - outputs flow: a step's termination message is its outputs, which the
#   next step's `when` and args (in its Pod spec, as stored) are templated
#   from; a fan-out's outputs arrive as a JSON list;
# - a step failing on every attempt is retried with backoff (Pods -1, -2,
#   -3, each created no earlier than the backoff after the previous one
#   failed), then the workflow is Failed with the step's message, with
#   Warning Events StepFailed and WorkflowFailed;
# - parallelism 3 over 10 one-second steps: the Pod watch never shows more
#   than 3 unfinished Pods at once (and does show 3);
# - activeDeadlineSeconds ends a step that never ends: Failed with the
#   deadline's message, its Pod deleted, the finally step run;
# - spec.shutdown Stop while a step runs: its Pod is deleted, the finally
#   step runs after, Cancelled; Terminate: the same without finally;
# - workflows/quickstart-cluster.yaml, made by `kubectl apply`, runs every
#   step as a Pod and Succeeds. kwok runs no Python, so the test gives each
#   step plausible outputs through the termination-message annotation
#   (workflows/quickstart-outputs.py says why and which);
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
skeind_start skeind "$KUBECONFIG" || { show_logs; finish test_skeind_steps; }

if out=$(k apply -n "$ns" -f "$wfdir/steps.yaml" 2>&1); then
  ok "kubectl apply -f steps.yaml ($(grep -c created <<<"$out") created)"
else
  fail "kubectl apply -f steps.yaml: $out"
fi
# Applied as the README says, with the test outputs added on the way.
k create -n "$ns" --dry-run=client -o json -f "$SKEIN_SOURCE_DIR/workflows/quickstart-cluster.yaml" |
  python3 "$wfdir/quickstart-outputs.py" >"$tmp/quickstart.json"
if out=$(k apply -n "$ns" -f "$tmp/quickstart.json" 2>&1) &&
  qs=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["metadata"]["name"])' "$tmp/quickstart.json"); then
  ok "kubectl apply -f quickstart-cluster.yaml (with test outputs): $qs"
else
  fail "kubectl apply quickstart: $out"
  qs=quickstart-missing
fi

# --- stop and terminate, while their step runs --------------------------------

pod_running() {
  [[ $(k get pod -n "$ns" "$1" -o jsonpath='{.status.phase}' 2>/dev/null) == Running ]]
}
pod_gone() { ! k get pod -n "$ns" "$1" >/dev/null 2>&1; }
for wf in stop terminate; do
  if wait_for 30 pod_running "$wf-forever-1"; then
    ok "$wf: Pod $wf-forever-1 is Running"
  else
    fail "$wf: Pod $wf-forever-1 never ran"
  fi
done
k patch swf -n "$ns" stop --type=merge -p '{"spec":{"shutdown":"Stop"}}' >/dev/null ||
  fail "patch stop"
k patch swf -n "$ns" terminate --type=merge -p '{"spec":{"shutdown":"Terminate"}}' >/dev/null ||
  fail "patch terminate"

expect "stop: phase" "$(wait_finished stop 30)" Cancelled
wf_json stop
expect "stop: message" "$(jget "$tmp/stop.json" "status.get('message')")" stopped
expect "stop: forever" "$(jget "$tmp/stop.json" "step('forever').get('phase')")" Cancelled
expect "stop: finally step cleanup" "$(jget "$tmp/stop.json" "step('cleanup').get('phase')")" Succeeded
if wait_for 10 pod_gone stop-forever-1; then ok "stop: the running Pod was deleted"; else fail "stop: stop-forever-1 is still there"; fi
# The delete of forever's Pod and the create of cleanup's go out together,
# so the API may see them in either order; the status orders the steps.
stop_fin=$(ts_ms "$(jget "$tmp/stop.json" "step('forever')['finishedAt']")")
cleanup_start=$(ts_ms "$(jget "$tmp/stop.json" "step('cleanup')['startedAt']")")
if [[ -n $stop_fin && -n $cleanup_start ]] && ((cleanup_start >= stop_fin)); then
  ok "stop: cleanup started when forever had ended (status)"
else
  fail "stop: cleanup started at $cleanup_start, forever ended at $stop_fin"
fi
expect "stop: cleanup's Pod ran" "$(podwatch "phases('stop-cleanup-1')[-1:]")" '["Succeeded"]'
expect "stop: cleanup's Pod saw the phase" \
  "$(podwatch "pod('stop-cleanup-1')['spec']['containers'][0]['command']")" '["echo", "Cancelled"]'

expect "terminate: phase" "$(wait_finished terminate 30)" Cancelled
wf_json terminate
expect "terminate: message" "$(jget "$tmp/terminate.json" "status.get('message')")" terminated
expect "terminate: forever" "$(jget "$tmp/terminate.json" "step('forever').get('phase')")" Cancelled
expect "terminate: finally step cleanup" "$(jget "$tmp/terminate.json" "step('cleanup').get('phase')")" Cancelled
if wait_for 10 pod_gone terminate-forever-1; then ok "terminate: the running Pod was deleted"; else fail "terminate: terminate-forever-1 is still there"; fi
expect "terminate: Pods ever created" "$(podwatch "names('terminate')")" '["terminate-forever-1"]'

# --- the deadline --------------------------------------------------------------

expect "deadline: phase" "$(wait_finished deadline 30)" Failed
wf_json deadline
expect "deadline: message" "$(jget "$tmp/deadline.json" "status.get('message')")" \
  "activeDeadlineSeconds (3) exceeded"
expect "deadline: forever" \
  "$(jget "$tmp/deadline.json" "[step('forever').get('phase'), step('forever').get('message')]")" \
  '["Failed", "workflow deadline of 3s exceeded"]'
expect "deadline: finally step report" "$(jget "$tmp/deadline.json" "step('report').get('phase')")" Succeeded
if wait_for 10 pod_gone deadline-forever-1; then ok "deadline: the running Pod was deleted"; else fail "deadline: deadline-forever-1 is still there"; fi
started=$(ts_ms "$(jget "$tmp/deadline.json" "status['startedAt']")")
killed=$(ts_ms "$(jget "$tmp/deadline.json" "step('forever')['finishedAt']")")
if [[ -n $started && -n $killed ]] && ((killed - started >= 3000 && killed - started < 10000)); then
  ok "deadline: forever ended $((killed - started)) ms after the start (deadline 3 s)"
else
  fail "deadline: forever ended at $killed, workflow started at $started"
fi

# --- outputs ---------------------------------------------------------------------

expect "outputs: phase" "$(wait_finished outputs 60)" Succeeded
wf_json outputs
expect "outputs: produce's outputs" "$(jget "$tmp/outputs.json" "step('produce').get('outputs')")" \
  '{"accuracy": "0.93", "model": "gs://models/m1"}'
expect "outputs: square's instances" "$(jget "$tmp/outputs.json" "[out(r['name'], 'x') for r in instances('square')]")" \
  '["sq2", "sq3", "sq4"]'
expect "outputs: consume ran (its when was true)" "$(jget "$tmp/outputs.json" "step('consume').get('phase')")" Succeeded
k get pod -n "$ns" outputs-consume-1 -o json >"$tmp/consume.pod.json" 2>&1
expect "outputs: consume's Pod args in the API" \
  "$(jget "$tmp/consume.pod.json" "doc['spec']['containers'][0]['args']")" \
  '["--model=gs://models/m1", "--accuracy=0.93", "--squares=[\"sq2\",\"sq3\",\"sq4\"]"]'
expect "outputs: consume's Pod was created after produce's finished" \
  "$(podwatch "before('outputs-produce-1', 'outputs-consume-1')")" true

# --- retries -------------------------------------------------------------------

expect "retry: phase" "$(wait_finished retry 60)" Failed
wf_json retry
expect "retry: attempts" "$(jget "$tmp/retry.json" "step('upload').get('attempt')")" 3
msg=$(jget "$tmp/retry.json" "step('upload').get('message')")
if [[ $msg == 'failed after 3 attempts: exit code 3 (Error): upload refused: bucket is read-only' ]]; then
  ok "retry: step message: $msg"
else
  fail "retry: step message: $msg"
fi
msg=$(jget "$tmp/retry.json" "status.get('message')")
if [[ $msg == 'step upload failed: '*'upload refused: bucket is read-only' ]]; then
  ok "retry: workflow message: $msg"
else
  fail "retry: workflow message: $msg"
fi
pods_json retry
expect "retry: Pods" "$(jget "$tmp/retry.pods.json" "sorted(p['metadata']['name'] for p in doc['items'])")" \
  '["retry-upload-1", "retry-upload-2", "retry-upload-3"]'
# Attempt n+1's Pod may be created no earlier than backoff(n) = 2 * 2^(n-1)
# seconds after attempt n failed. Both times are whole seconds in the API
# (creationTimestamp, and kwok's finishedAt cut to seconds here), which
# keeps the comparison exact: floor(t + d) >= floor(t) + d.
failed_s() {
  jget "$tmp/retry.pods.json" \
    "[p['status']['containerStatuses'][0]['state']['terminated']['finishedAt'] for p in doc['items'] if p['metadata']['name'] == 'retry-upload-$1'][0]"
}
created_s() {
  jget "$tmp/retry.pods.json" \
    "[p['metadata']['creationTimestamp'] for p in doc['items'] if p['metadata']['name'] == 'retry-upload-$1'][0]"
}
for n in 1 2; do
  backoff=$((2 * (1 << (n - 1))))
  f=$(ts_ms "$(failed_s "$n")") c=$(ts_ms "$(created_s $((n + 1)))")
  if [[ -z $f || -z $c ]]; then
    fail "retry: no times for attempts $n and $((n + 1))"
    continue
  fi
  f=$((f / 1000 * 1000))
  gap=$((c - f))
  if ((gap >= backoff * 1000 && gap <= (backoff + 5) * 1000)); then
    ok "retry: Pod -$((n + 1)) created $gap ms after attempt $n failed (backoff ${backoff} s)"
  else
    fail "retry: Pod -$((n + 1)) created $gap ms after attempt $n failed, backoff is ${backoff} s"
  fi
done
evs=$(events_of retry)
if grep -q '^Warning StepFailed: .*upload refused' <<<"$evs" && grep -q '^Warning WorkflowFailed' <<<"$evs"; then
  ok "retry: Warning Events StepFailed and WorkflowFailed"
else
  fail "retry: Events: $evs"
fi

# --- parallelism ---------------------------------------------------------------

expect "parallel: phase" "$(wait_finished parallel 60)" Succeeded
expect "parallel: Pods" "$(podwatch "len(names('parallel'))")" 10
expect "parallel: most unfinished Pods at once (parallelism 3)" \
  "$(podwatch "max_unfinished('parallel')")" 3

# --- the quickstart --------------------------------------------------------------

expect "quickstart: phase" "$(wait_finished "$qs" 90)" Succeeded
wf_json "$qs"
expect "quickstart: steps" \
  "$(jget "$tmp/$qs.json" "[(r['name'], r['phase']) for r in status['steps']]")" \
  '[["prepare", "Succeeded"], ["train", "Succeeded"], ["train-0", "Succeeded"], ["train-1", "Succeeded"], ["train-2", "Succeeded"], ["evaluate", "Succeeded"], ["register", "Succeeded"], ["summary", "Succeeded"]]'
expect "quickstart: a Pod per step" "$(podwatch "sorted(names('$qs'))")" \
  "[\"$qs-evaluate-1\", \"$qs-prepare-1\", \"$qs-register-1\", \"$qs-summary-1\", \"$qs-train-0-1\", \"$qs-train-1-1\", \"$qs-train-2-1\"]"
expect "quickstart: evaluate got every model" \
  "$(podwatch "[json.loads(m)['learning_rate'] for e in pod('$qs-evaluate-1')['spec']['containers'][0]['env'] if e['name'] == 'MODELS' for m in json.loads(e['value'])]")" \
  '[0.3, 0.1, 0.03]'
expect "quickstart: register's uri" "$(jget "$tmp/$qs.json" "out('register', 'uri')")" \
  s3://skein-examples/model-registry/logreg-sgd/base/1.0/
if wait_for 20 no_pods "$qs"; then
  ok "quickstart: podGC OnWorkflowSuccess deleted its Pods"
else
  fail "quickstart: Pods left: $(k get pods -n "$ns" -l "skein.dev/workflow=$qs" -o name)"
fi

# --- metrics ---------------------------------------------------------------------

# Every attempt counted once: outputs 1+3+1, retry 3, parallel 10, deadline
# 1+1, stop 1+1, terminate 1, quickstart 1+3+1+1+1. The patches of stop and
# terminate race skeind's own writes; a status write that conflicts is
# planned again and must not count its starts twice.
curl -s --max-time 5 "http://127.0.0.1:$metrics_port/metrics" >"$tmp/metrics.txt"
expect "metrics: skein_steps_started_total{kind=\"pod\"}" \
  "$(awk '$1 == "skein_steps_started_total{kind=\"pod\"}" {print $2}' "$tmp/metrics.txt")" 30

# --- shutdown ----------------------------------------------------------------------

skeind_stop
expect "skeind exit status after SIGTERM" "$skeind_rc" 0
skeind_log_clean
show_logs
finish test_skeind_steps
