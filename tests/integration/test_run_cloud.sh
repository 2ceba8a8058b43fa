#!/usr/bin/env bash
# skeinctl run with vertex and sagemaker steps, against the fake clouds of
# tests/cloudfake/ (a fake Vertex AI and Google token endpoint, a fake
# SageMaker with faults, and moto's SageMaker), found through the same
# environment variables a user would set:
#
#  1. a Vertex AI job succeeds and its outputs (jobName, modelDir) reach a
#     later local step's args; the job is created once;
#  2. a Vertex AI job that fails fails the run with the cloud's reason;
#  3. a step timeout cancels the job (the fake counts the cancel);
#  4. SIGINT while a job runs cancels it, says so, and exits 130;
#  5. throttling of the create is waited out: the job is still created
#     once, and the run succeeds;
#  6. skeinctl killed while a job runs: --resume follows the same job;
#  7. a SageMaker training job against moto, and against the fake
#     SageMaker, outputs flowing to a local step;
#  8. a step's credentials.secretRef is ignored with a warning;
#  9. a job cancelled outside skeinctl fails its step;
# 10. skeinctl killed while its create is on the wire (the job's name never
#     recorded): --resume finds the job by its labels, creates none.
#
# ctest sets SKEINCTL (the binary) and SKEIN_SOURCE_DIR (the source root).
set -euo pipefail

: "${SKEINCTL:?set SKEINCTL to the skeinctl binary}"
. "${SKEIN_SOURCE_DIR:?set SKEIN_SOURCE_DIR to the source root}/tests/lib/testlib.sh"
. "$SKEIN_SOURCE_DIR/tests/cloudfake/lib.sh"
wf=$SKEIN_SOURCE_DIR/tests/integration/workflows/cloud

scratch_dir
cd "$tmp"

if ! cloudfake_setup; then
  fail "the cloud fakes' venv could not be made (tests/cloudfake/setup.sh)"
  finish run_cloud
fi

# Throwaway AWS keys the fake SageMaker accepts (moto accepts any).
akid=AKIA$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F)
secret=$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')
echo "$akid $secret" >"$tmp/aws-keys"
# A token of the test's own, to cancel a job from outside skeinctl.
token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
echo "$token" >"$tmp/google-token"
cloudfake_start cf --roles vertex,token,sagemaker,moto --aws-key-file "$tmp/aws-keys" \
  --aws-region us-east-1 --google-token "@$tmp/google-token" || {
  fail "the cloud fakes did not start"
  finish run_cloud
}
vertex=$(cloudfake_url cf vertex)
sagemaker=$(cloudfake_url cf sagemaker)
moto=$(cloudfake_url cf moto)
# A throwaway service-account key whose token_uri is the fake token
# endpoint, which trusts it.
cloudfake_make_sa_key cf "$tmp/sa.json" >/dev/null

# Scripts of the fake Vertex AI, chosen by display name: "fail" fails with a
# reason, "hang" runs until cancelled, "slow" takes a few seconds, anything
# else succeeds after a few polls.
cloudfake_config cf vertex '{"scripts": [
  {"match": {"display_name_contains": "fail"}, "states": ["QUEUED", "RUNNING", "FAILED"],
   "error_message": "boom: the trainer ran out of memory"},
  {"match": {"display_name_contains": "hang"}, "states": ["QUEUED", "PENDING", "RUNNING"]},
  {"match": {"display_name_contains": "slow"}, "states": ["QUEUED", "RUNNING", "SUCCEEDED"],
   "advance": "time", "step_seconds": 3}]}'

# Only what the test sets: no credentials, profiles or endpoints of the
# machine running it.
mkdir -p "$tmp/home"
cloud_env=(env -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_SHARED_CREDENTIALS_FILE
  -u AWS_CONFIG_FILE -u AWS_WEB_IDENTITY_TOKEN_FILE -u AWS_ROLE_ARN
  -u AWS_CONTAINER_CREDENTIALS_FULL_URI -u AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
  -u AWS_DEFAULT_REGION -u GOOGLE_CLOUD_PROJECT -u SKEIN_GOOGLE_TOKEN_URI
  -u AWS_ENDPOINT_URL_STS -u SKEIN_CLOUD_CA_FILE
  HOME="$tmp/home" NO_COLOR=1
  GOOGLE_APPLICATION_CREDENTIALS="$tmp/sa.json" SKEIN_VERTEX_ENDPOINT="$vertex"
  GCE_METADATA_HOST=127.0.0.1:9 AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:9
  AWS_ACCESS_KEY_ID="$akid" AWS_SECRET_ACCESS_KEY="$secret" AWS_REGION=us-east-1)

# sk NAME ARGS...: skeinctl with the cloud environment; sets rc.
sk() {
  local name=$1
  shift
  capture "$name" "${cloud_env[@]}" "$@" "$SKEINCTL" "${sk_args[@]}"
}
# vstat EXPR: an expression over the fake Vertex AI's stats (`s`).
vstat() { cloudfake_stats cf vertex "$1"; }
creates_of() { vstat "s[\"creates_by_name\"].get(\"$1\", 0)"; }
# cancels_of DISPLAY: cancels the fake counted for the job(s) of a display name.
cancels_of() {
  local names
  names=$(cloudfake_jobs cf vertex | python3 -c '
import json, sys
print(" ".join(j["name"] for j in json.load(sys.stdin).get("customJobs", [])
               if j["displayName"] == sys.argv[1]))' "$1")
  local n=0 name
  for name in $names; do
    n=$((n + $(vstat "s[\"cancels\"].get(\"$name\", 0)")))
  done
  echo "$n"
}
# has FILE TEXT DESC: a check that FILE contains TEXT.
has() {
  if grep -qF -- "$2" "$1"; then ok "$3"; else fail "$3: no \"$2\" in $1"; fi
}
# job_named DIR STEP: the job name in the status of a run directory.
job_named() {
  [[ -f $1/status.json ]] && jget "$1/status.json" "step(\"$2\").get(\"ref\", {}).get(\"name\", \"\")" 2>/dev/null |
    grep -q .
}

# 1. Success: the outputs flow to the local step; one job.
failures_before=$failures
sk_args=(run "$wf/vertex.yaml" -p display=ok-one --workdir "$tmp/ok" -o json)
sk ok
expect "vertex ok: exit code" "$rc" 0
is_json ok
job=$(jget "$tmp/ok.out" 'out("train", "jobName")')
case $job in
projects/*/locations/us-central1/customJobs/*) ok "vertex ok: jobName ($job)" ;;
*) fail "vertex ok: jobName is '$job'" ;;
esac
expect "vertex ok: the local step got jobName" "$(jget "$tmp/ok.out" 'out("use", "job")')" "$job"
expect "vertex ok: the local step got modelDir" "$(jget "$tmp/ok.out" 'out("use", "model")')" \
  gs://skein-test-bucket/runs/one/model/
expect "vertex ok: ref" "$(jget "$tmp/ok.out" 'step("train")["ref"]["kind"] + " " + step("train")["ref"]["name"]')" \
  "VertexCustomJob $job"
expect "vertex ok: created once" "$(creates_of ok-one)" 1
expect "vertex ok: the job record" "$(jget "$tmp/ok/steps/train/job-1.json" 'doc["name"] + " " + doc["phase"]')" \
  "$job Succeeded"
has "$tmp/ok.err" "train: submitted Vertex AI job $job" "vertex ok: the job is named on the progress stream"
show ok

# 2. The job fails: the run fails with the cloud's reason.
failures_before=$failures
sk_args=(run "$wf/vertex.yaml" -p display=fail-two --workdir "$tmp/fail")
sk fail
expect "vertex fail: exit code" "$rc" 1
msg=$(jget "$tmp/fail/status.json" 'step("train")["message"]')
case $msg in
*"ended JOB_STATE_FAILED: boom: the trainer ran out of memory") ok "vertex fail: step message ($msg)" ;;
*) fail "vertex fail: step message is '$msg'" ;;
esac
expect "vertex fail: the local step was skipped" "$(jget "$tmp/fail/status.json" 'step("use")["phase"]')" Skipped
if grep -q '^workflow .* Failed in .*: step train failed: .*boom: the trainer ran out of memory$' "$tmp/fail.out"; then
  ok "vertex fail: the summary says why"
else
  fail "vertex fail: no workflow line with the cloud's reason in $tmp/fail.out"
fi
expect "vertex fail: created once" "$(creates_of fail-two)" 1
show fail

# 3. A step timeout cancels the job.
failures_before=$failures
sk_args=(run "$wf/vertex-timeout.yaml" -p display=hang-three --workdir "$tmp/timeout")
sk timeout
expect "timeout: exit code" "$rc" 1
expect "timeout: step message" "$(jget "$tmp/timeout/status.json" 'step("train")["message"]')" \
  "timed out after 2s"
expect "timeout: the fake counted one cancel" "$(cancels_of hang-three)" 1
has "$tmp/timeout.out" "train: the cloud accepted the cancel of Vertex AI job" "timeout: says the cancel was accepted"
expect "timeout: the job record" "$(jget "$tmp/timeout/steps/train/job-1.json" 'doc.get("cancel")')" Accepted
show timeout

# 4. SIGINT while the job runs: cancelled, said so, exit 130.
failures_before=$failures
sk_args=(run "$wf/vertex.yaml" -p display=hang-four --workdir "$tmp/sigint")
background sigint "${cloud_env[@]}" "$SKEINCTL" "${sk_args[@]}"
if wait_for 30 job_named "$tmp/sigint" train; then
  ok "sigint: the job has a name"
else
  fail "sigint: no job name in status.json within 30 s"
fi
kill -INT "$bg_pid" 2>/dev/null || true
reap
expect "sigint: exit code" "$rc" 130
expect "sigint: the fake counted one cancel" "$(cancels_of hang-four)" 1
has "$tmp/sigint.out" "train: cancelling Vertex AI job" "sigint: says it cancels"
has "$tmp/sigint.out" "train: the cloud accepted the cancel of Vertex AI job" "sigint: says the cancel was accepted"
expect "sigint: workflow phase" "$(jget "$tmp/sigint/status.json" 'doc["phase"]')" Cancelled
show sigint

# 5. Throttling: the first create is answered 429; the job is created once.
failures_before=$failures
cloudfake_config cf vertex '{"faults": [{"kind": "throttle", "route": "create", "count": 1}]}'
sk_args=(run "$wf/vertex.yaml" -p display=ok-five --workdir "$tmp/throttle")
sk throttle
expect "throttle: exit code" "$rc" 0
expect "throttle: the fake throttled once" "$(vstat 's["throttled"]')" 1
expect "throttle: created once" "$(creates_of ok-five)" 1
has "$tmp/throttle.out" "throttled" "throttle: the wait is shown"
cloudfake_config cf vertex '{"faults": []}'
show throttle

# 6. skeinctl dies while the job runs: --resume follows the same job.
failures_before=$failures
sk_args=(run "$wf/vertex.yaml" -p display=slow-six --workdir "$tmp/resume")
background killed "${cloud_env[@]}" "$SKEINCTL" "${sk_args[@]}"
if wait_for 30 job_named "$tmp/resume" train; then
  ok "resume: the job has a name"
else
  fail "resume: no job name in status.json within 30 s"
fi
kill -KILL "$bg_pid" 2>/dev/null || true
reap
job=$(jget "$tmp/resume/status.json" 'step("train")["ref"]["name"]')
sk_args=(run --resume "$tmp/resume")
sk resumed
expect "resume: exit code" "$rc" 0
expect "resume: created once" "$(creates_of slow-six)" 1
expect "resume: the same job's outputs" "$(jget "$tmp/resume/status.json" 'step("use")["outputs"]["job"]')" "$job"
has "$tmp/resumed.out" "train: following Vertex AI job $job of the interrupted run" "resume: says it follows the job"
show resumed

# 7. SageMaker training jobs, against moto and against the fake SageMaker.
for target in moto sagemaker; do
  failures_before=$failures
  url=$moto
  [[ $target == sagemaker ]] && url=$sagemaker
  sk_args=(run "$wf/sagemaker.yaml" --workdir "$tmp/sm-$target" -o json)
  sk "sm-$target" AWS_ENDPOINT_URL_SAGEMAKER="$url"
  expect "sagemaker ($target): exit code" "$rc" 0
  name=$(jget "$tmp/sm-$target.out" 'out("train", "jobName")')
  expect "sagemaker ($target): the local step got jobName" "$(jget "$tmp/sm-$target.out" 'out("use", "job")')" "$name"
  artifacts=$(jget "$tmp/sm-$target.out" 'out("use", "model")')
  case $artifacts in
  s3://skein-test-bucket/out/*) ok "sagemaker ($target): modelArtifacts ($artifacts)" ;;
  *) fail "sagemaker ($target): modelArtifacts is '$artifacts'" ;;
  esac
  expect "sagemaker ($target): ref kind" "$(jget "$tmp/sm-$target.out" 'step("train")["ref"]["kind"]')" \
    SageMakerTrainingJob
  show "sm-$target"
done
expect "sagemaker (fake): created once" \
  "$(cloudfake_stats cf sagemaker 'sum(v for k, v in s["creates"].items() if k.startswith("training/"))')" 1
moto_jobs=$(curl -sS --max-time 10 -X POST "$moto/" \
  -H 'Content-Type: application/x-amz-json-1.1' -H 'X-Amz-Target: SageMaker.ListTrainingJobs' \
  -H "Authorization: AWS4-HMAC-SHA256 Credential=$akid/20260101/us-east-1/sagemaker/aws4_request, SignedHeaders=host, Signature=0" \
  -d '{}' | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["TrainingJobSummaries"]))')
expect "sagemaker (moto): created once" "$moto_jobs" 1

# 8. A secretRef: warned about, ignored, and the ambient keys work.
failures_before=$failures
sk_args=(run "$wf/sagemaker-secret.yaml" --workdir "$tmp/secret")
sk secret AWS_ENDPOINT_URL_SAGEMAKER="$sagemaker"
expect "secretRef: exit code" "$rc" 0
has "$tmp/secret.err" 'warning: step "prep": credentials.secretRef (Secret "aws-creds") is ignored by skeinctl run' \
  "secretRef: warned, naming the step"
expect "secretRef: warned once" "$(grep -c 'credentials.secretRef' "$tmp/secret.err")" 1
expect "secretRef: ref kind" "$(jget "$tmp/secret/status.json" 'step("prep")["ref"]["kind"]')" SageMakerProcessingJob
show secret

# 9. Someone else cancels the job: the step fails, and skeinctl sends no
# cancel of its own.
failures_before=$failures
sk_args=(run "$wf/vertex.yaml" -p display=hang-nine --workdir "$tmp/external")
background external "${cloud_env[@]}" "$SKEINCTL" "${sk_args[@]}"
if wait_for 30 job_named "$tmp/external" train; then
  ok "external cancel: the job has a name"
else
  fail "external cancel: no job name in status.json within 30 s"
fi
job=$(jget "$tmp/external/status.json" 'step("train")["ref"]["name"]')
curl -sS --fail --max-time 10 -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d '{}' "$vertex/v1/$job:cancel" >/dev/null || fail "external cancel: the cancel request failed"
if wait_for 60 gone "$bg_pid"; then
  ok "external cancel: skeinctl ended"
else
  fail "external cancel: skeinctl still runs 60 s after the cancel"
  kill -INT "$bg_pid" 2>/dev/null || true
fi
reap
expect "external cancel: exit code" "$rc" 1
expect "external cancel: step message" "$(jget "$tmp/external/status.json" 'step("train")["message"]')" \
  "job was cancelled (JOB_STATE_CANCELLED)"
expect "external cancel: only the outside cancel" "$(cancels_of hang-nine)" 1
show external

# 10. Killed while the create is on the wire: the fake holds the create
# for 3 s, skeinctl dies before the answer, and the fake then creates the
# job. The resumed run finds it by its labels instead of creating another.
failures_before=$failures
cloudfake_config cf vertex '{"faults": [{"kind": "slow", "route": "create", "delay_ms": 3000, "count": 1}]}'
# The fake counts a request when it arrives, before it holds it.
creates_seen() { [[ $(vstat 's["requests"].get("POST create", 0)') -ge $1 ]]; }
seen_before=$(vstat 's["requests"].get("POST create", 0)')
sk_args=(run "$wf/vertex.yaml" -p display=slow-ten --workdir "$tmp/adopt")
background adopt "${cloud_env[@]}" "$SKEINCTL" "${sk_args[@]}"
if wait_for 30 creates_seen $((seen_before + 1)); then
  ok "adopt: the create is on the wire"
else
  fail "adopt: no create within 30 s"
fi
kill -KILL "$bg_pid" 2>/dev/null || true
expect "adopt: the job record was written before the create" \
  "$(jget "$tmp/adopt/steps/train/job-1.json" 'doc["phase"]')" Submitting
reap
created() { [[ $(creates_of slow-ten) == 1 ]]; }
wait_for 30 created || fail "adopt: the fake did not create the job"
expect "adopt: no name was recorded" \
  "$(jget "$tmp/adopt/status.json" 'step("train").get("ref", {}).get("name", "")')" ""
cloudfake_config cf vertex '{"faults": []}'
sk_args=(run --resume "$tmp/adopt")
sk adopted
expect "adopt: exit code" "$rc" 0
expect "adopt: created once" "$(creates_of slow-ten)" 1
has "$tmp/adopted.out" "train: looking for the Vertex AI job of the interrupted run" "adopt: says it looks"
has "$tmp/adopted.out" "train: following Vertex AI job" "adopt: says it follows the job it found"
show adopted

# No secret reaches the output of any run.
if grep -rqF -e "$secret" -e "$token" -e "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["private_key_id"])' "$tmp/sa.json")" \
  "$tmp"/*.out "$tmp"/*.err; then
  fail "a secret appeared in skeinctl's output"
else
  ok "no secret in skeinctl's output"
fi

finish run_cloud
