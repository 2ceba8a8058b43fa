#!/usr/bin/env bash
# skeind running Vertex AI and SageMaker steps against a real kube-apiserver
# and the cloud test servers of tests/cloudfake (a fake Vertex AI and Google
# token endpoint, a SigV4-checking fake SageMaker, and moto):
#
# - pipeline: a Vertex job authorised with a service-account key from a
#   Secret (skeind has no ambient Google credentials here) and a SageMaker
#   training job signed with the ambient AWS keys both succeed; their
#   outputs (modelDir, modelArtifacts, state, jobName) reach the next Pod's
#   args; the status names each job; each job was created exactly once;
#   the finalizer skein.dev/cloud-jobs is gone once the workflow ends;
# - failing: the fake fails the job: the step fails with the cloud's reason;
# - timeout: the step's timeoutSeconds cancels the running job (the fake
#   counts the cancel) and fails the step;
# - deleted: deleting the Workflow stops its SageMaker job (StopTrainingJob
#   counted) and the Workflow goes once the finalizer is released;
# - nosecret: a secretRef to a Secret that does not exist fails the step
#   with a message naming it;
# - no secret value (the key's PEM, the AWS secret key) appears in skeind's
#   log, the Events or any Workflow;
# - moto: a second skeind pointed at moto's SageMaker runs a training job
#   to Succeeded;
# - SIGTERM: skeind exits 0 with no sanitizer report.
#
# Environment (ctest sets it): SKEIN_SOURCE_DIR, SKEINCTL, SKEIND.
set -uo pipefail
SKEIN_SOURCE_DIR=${SKEIN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SKEIN_SOURCE_DIR/tests/lib/testlib.sh"
. "$SKEIN_SOURCE_DIR/tests/e2e/workflows/skeind-e2e.sh"
. "$SKEIN_SOURCE_DIR/tests/cloudfake/lib.sh"
wfdir=$SKEIN_SOURCE_DIR/tests/e2e/workflows

e2e_cluster
cloudfake_setup || { fail "cloudfake venv"; finish test_skeind_cloud; }
aws_id=AKIDSKEINE2E00000001
aws_secret=skeinE2eSecretKey0000000000000000000000x
cloudfake_start cf --roles vertex,token,sagemaker,moto --aws-key "$aws_id:$aws_secret" ||
  { fail "cloud fakes did not start"; finish test_skeind_cloud; }
cloudfake_make_sa_key cf "$tmp/sa.json" || fail "make a service-account key"
vertex=$(cloudfake_url cf vertex)
sagemaker=$(cloudfake_url cf sagemaker)
moto=$(cloudfake_url cf moto)

# Scripts: "boom" jobs fail, "forever" ones and the deleted workflow's run until cancelled.
cloudfake_config cf vertex '{"scripts": [
  {"match": {"display_name_contains": "boom"}, "states": ["PENDING", "RUNNING", "FAILED"],
   "error": {"code": 3, "message": "trainer exited with status 3: loss is NaN"}},
  {"match": {"display_name_contains": "forever"}, "states": ["PENDING", {"state": "RUNNING", "repeat": 1000000}]}
]}' >/dev/null || fail "configure the fake Vertex AI"
cloudfake_config cf sagemaker '{"scripts": [
  {"kind": "training", "match": {"name_contains": "deleted-"},
   "states": ["InProgress:Starting", {"state": "InProgress:Training", "repeat": 1000000}]}
]}' >/dev/null || fail "configure the fake SageMaker"

k create secret generic gcp-sa -n "$ns" --from-file=key.json="$tmp/sa.json" >/dev/null ||
  fail "create Secret gcp-sa"

# skeind's environment: the endpoints, ambient AWS keys, and no ambient
# Google credentials at all (an empty HOME, no key file, a metadata
# server that refuses connections), so Vertex works only through the Secret.
mkdir -p "$tmp/home"
export SKEIN_VERTEX_ENDPOINT=$vertex AWS_ENDPOINT_URL_SAGEMAKER=$sagemaker
export AWS_ACCESS_KEY_ID=$aws_id AWS_SECRET_ACCESS_KEY=$aws_secret AWS_REGION=us-east-1
export GCE_METADATA_HOST=127.0.0.1:9 HOME=$tmp/home
unset GOOGLE_APPLICATION_CREDENTIALS AWS_SESSION_TOKEN AWS_PROFILE || true

podwatch_start
skeind_start skeind "$KUBECONFIG" || { show_logs; finish test_skeind_cloud; }

if out=$(k apply -n "$ns" -f "$wfdir/cloud.yaml" 2>&1); then
  ok "kubectl apply -f cloud.yaml ($(grep -c created <<<"$out") created)"
else
  fail "kubectl apply -f cloud.yaml: $out"
fi

# --- the pipeline: both jobs, then the Pod with their outputs -----------------

pod_of_use_exists() { k get pod -n "$ns" pipeline-use-1 >/dev/null 2>&1; }
if wait_for 60 pod_of_use_exists; then
  ok "pipeline: the Pod after both cloud steps was created"
else
  fail "pipeline: no Pod for step use"
fi
wf_json pipeline
expect "pipeline: train phase" "$(jget "$tmp/pipeline.json" 'step("train").get("phase")')" Succeeded
expect "pipeline: train-sm phase" "$(jget "$tmp/pipeline.json" 'step("train-sm").get("phase")')" Succeeded
vname=$(jget "$tmp/pipeline.json" 'step("train").get("ref", {}).get("name")')
[[ $vname == projects/*/locations/us-central1/customJobs/* ]] &&
  ok "pipeline: the status names the Vertex job ($vname)" ||
  fail "pipeline: Vertex ref name is '$vname'"
expect "pipeline: Vertex ref kind" "$(jget "$tmp/pipeline.json" 'step("train").get("ref", {}).get("kind")')" VertexCustomJob
expect "pipeline: Vertex ref done" "$(jget "$tmp/pipeline.json" 'step("train").get("ref", {}).get("done")')" true
smname=$(jget "$tmp/pipeline.json" 'step("train-sm").get("ref", {}).get("name")')
expect "pipeline: SageMaker jobName output is the ref's name" \
  "$(jget "$tmp/pipeline.json" '(step("train-sm").get("outputs") or {}).get("jobName")')" "$smname"
k get pod -n "$ns" pipeline-use-1 -o json >"$tmp/use.json"
args=$(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["spec"]["containers"][0]["args"]))' "$tmp/use.json")
expect "pipeline: outputs in the next Pod's args" "$args" \
  "gs://skein-test/pipeline/model/ s3://skein-test/out/$smname/output/model.tar.gz JOB_STATE_SUCCEEDED $smname"
expect "pipeline: workflow phase" "$(wait_finished pipeline 60)" Succeeded
wf_json pipeline
expect "pipeline: finalizer released" \
  "$(jget "$tmp/pipeline.json" '",".join(doc["metadata"].get("finalizers", []))')" ""
expect "pipeline: Vertex creates per label set all 1" \
  "$(cloudfake_stats cf vertex 'sorted(set(s["creates"].values()))')" "[1]"
expect "pipeline: SageMaker created the job once" \
  "$(cloudfake_stats cf sagemaker "s[\"creates\"].get(\"training/$smname\")")" 1

# --- failing, timeout, nosecret ----------------------------------------------

expect "failing: workflow phase" "$(wait_finished failing 60)" Failed
wf_json failing
msg=$(jget "$tmp/failing.json" 'step("train").get("message")')
[[ $msg == *"trainer exited with status 3: loss is NaN"* ]] &&
  ok "failing: the step's message has the cloud's reason ($msg)" ||
  fail "failing: step message is '$msg'"

expect "timeout: workflow phase" "$(wait_finished timeout 60)" Failed
wf_json timeout
tname=$(jget "$tmp/timeout.json" 'step("train").get("ref", {}).get("name")')
cancelled() { [[ $(cloudfake_stats cf vertex "s[\"cancels\"].get(\"$tname\", 0)") -ge 1 ]]; }
if [[ -n $tname ]] && wait_for 30 cancelled; then
  ok "timeout: the job was cancelled at the fake ($tname)"
else
  fail "timeout: no cancel of '$tname' reached the fake"
fi
msg=$(jget "$tmp/timeout.json" 'step("train").get("message")')
[[ $msg == *"timed out"* ]] && ok "timeout: step message '$msg'" || fail "timeout: step message '$msg'"

expect "nosecret: workflow phase" "$(wait_finished nosecret 60)" Failed
wf_json nosecret
msg=$(jget "$tmp/nosecret.json" 'step("train").get("message")')
[[ $msg == *"Secret $ns/nope was not found"* ]] &&
  ok "nosecret: step message names the Secret ($msg)" || fail "nosecret: step message '$msg'"

# --- deleted: the finalizer holds the Workflow until the job is stopped -------

deleted_running() { wf_json deleted && [[ -n $(jget "$tmp/deleted.json" 'step("train").get("ref", {}).get("name")') ]]; }
wait_for 30 deleted_running || fail "deleted: the job never got a name"
dname=$(jget "$tmp/deleted.json" 'step("train").get("ref", {}).get("name")')
expect "deleted: the finalizer is on while the job runs" \
  "$(jget "$tmp/deleted.json" '",".join(doc["metadata"].get("finalizers", []))')" skein.dev/cloud-jobs
k delete swf -n "$ns" deleted --wait=false >/dev/null || fail "kubectl delete swf deleted"
if wait_for 30 wf_gone deleted; then
  ok "deleted: the Workflow went"
else
  fail "deleted: the Workflow is still there"
fi
expect "deleted: StopTrainingJob reached the fake" \
  "$(cloudfake_stats cf sagemaker "s[\"stops\"].get(\"training/$dname\", 0) >= 1")" True

# --- no secret anywhere -------------------------------------------------------

k get swf -n "$ns" -o yaml >"$tmp/all-workflows.yaml"
k get events -n "$ns" -o yaml >"$tmp/events.yaml"
pem_line=$(python3 -c 'import json,sys; k=json.load(open(sys.argv[1]))["private_key"].splitlines(); print(k[len(k)//2])' "$tmp/sa.json")
leaks=0
for f in "$skeind_log" "$tmp/all-workflows.yaml" "$tmp/events.yaml"; do
  if grep -qF -e "$pem_line" -e "$aws_secret" "$f"; then
    fail "a secret value is in $(basename "$f")"
    leaks=1
  fi
done
[[ $leaks -eq 1 ]] || ok "no secret value in skeind's log, the Events or the Workflows"

skeind_stop
expect "skeind exit code on SIGTERM" "$skeind_rc" 0
skeind_log_clean

# --- moto ----------------------------------------------------------------------

export AWS_ENDPOINT_URL_SAGEMAKER=$moto
skeind_start skeind-moto "$KUBECONFIG" || { show_logs; finish test_skeind_cloud; }
python3 - "$wfdir/cloud.yaml" >"$tmp/moto.yaml" <<'PY'
import sys
text = open(sys.argv[1]).read()
doc = text.split("---")[3]  # the deleted workflow's SageMaker step
print(doc.replace("name: deleted", "name: moto"))
PY
k apply -n "$ns" -f "$tmp/moto.yaml" >/dev/null || fail "apply the moto workflow"
expect "moto: workflow phase" "$(wait_finished moto 60)" Succeeded
wf_json moto
expect "moto: modelArtifacts output" \
  "$(jget "$tmp/moto.json" '(step("train").get("outputs") or {}).get("modelArtifacts", "")[:5]')" "s3://"
skeind_stop
expect "skeind (moto) exit code on SIGTERM" "$skeind_rc" 0
skeind_log_clean

show_logs
finish test_skeind_cloud
