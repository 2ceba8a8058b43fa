#!/usr/bin/env bash
# Crash safety of cloud steps: 20 Workflows, each with a Vertex AI job and a
# SageMaker training job (then a Pod with their outputs), submitted while
# skeind is SIGKILLed and restarted ten times at random moments, and while
# the fake clouds of tests/cloudfake answer about one request in five with
# a fault: 503, a reset connection, a slow answer, a create that succeeds
# but whose reply is lost, and two throttling answers each (429 with
# RetryInfo; ThrottlingException). Then one skeind runs until every
# Workflow has ended, and:
#   - every Workflow Succeeded, with both jobs' outputs in its last Pod;
#   - the fakes saw each job created exactly once: one Vertex job per label
#     set (skein-workflow-uid, skein-step, skein-attempt) and one SageMaker
#     job per name, 20 of each: a lost reply or a crash between the create
#     and the status write was adopted, never created again;
#   - faults did happen (the fakes' counts), and no skeind log has an
#     ASan/UBSan report; the last skeind exits 0 on SIGTERM.
# SKEIN_CHAOS_SEED replays the random kill times and fault dice.
set -uo pipefail

root=${SKEIN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$root/tests/lib/testlib.sh"
scratch_dir
. "$root/tests/e2e/chaos/lib.sh"
. "$root/tests/cloudfake/lib.sh"

SKEIND=${SKEIND:-$root/build/skeind}
[[ -x $SKEIND ]] || { fail "no skeind at '$SKEIND' (set SKEIND)"; finish skeind_cloud_chaos; }
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}

seed=${SKEIN_CHAOS_SEED:-$(($(date +%s) % 100000))}
RANDOM=$seed
echo "random seed $seed (SKEIN_CHAOS_SEED=$seed replays it)"

cloudfake_setup || { fail "cloudfake venv"; finish skeind_cloud_chaos; }
aws_id=AKIDSKEINCHAOS000001
aws_secret=skeinChaosSecretKey000000000000000000000
faults_common='{"kind": "503", "probability": 0.06},
  {"kind": "reset", "probability": 0.05},
  {"kind": "slow", "delay_ms": 400, "probability": 0.05}'
cloudfake_start cf --roles vertex,token,sagemaker --seed "$seed" --aws-key "$aws_id:$aws_secret" \
  --faults "vertex=[{\"kind\": \"lost_reply\", \"route\": \"create\", \"probability\": 0.3},
    {\"kind\": \"throttle\", \"route\": \"get\", \"count\": 2, \"after\": 20, \"retry_delay\": \"1s\"}, $faults_common]" \
  --faults "sagemaker=[{\"kind\": \"lost_reply\", \"route\": \"CreateTrainingJob\", \"probability\": 0.3},
    {\"kind\": \"throttle\", \"route\": \"DescribeTrainingJob\", \"count\": 2, \"after\": 20}, $faults_common]" ||
  { fail "cloud fakes did not start"; finish skeind_cloud_chaos; }
cloudfake_make_sa_key cf "$tmp/sa.json" || fail "make a service-account key"
# Jobs take a few seconds of the fakes' time, whoever polls and how often.
cloudfake_config cf vertex '{"advance": "time", "step_seconds": 0.8}' >/dev/null || fail "vertex config"
cloudfake_config cf sagemaker '{"advance": "time", "step_seconds": 0.6}' >/dev/null || fail "sagemaker config"

chaos_start_cluster
ns=cloud-chaos
k create namespace "$ns" >/dev/null || fail "create namespace $ns"

# Ambient credentials for every skeind: the key file (ADC) and AWS keys.
# (HOME changes only now: the cluster and venv caches live under the real one.)
mkdir -p "$tmp/home"
export SKEIN_VERTEX_ENDPOINT=$(cloudfake_url cf vertex)
export AWS_ENDPOINT_URL_SAGEMAKER=$(cloudfake_url cf sagemaker)
export GOOGLE_APPLICATION_CREDENTIALS=$tmp/sa.json HOME=$tmp/home GCE_METADATA_HOST=127.0.0.1:9
export AWS_ACCESS_KEY_ID=$aws_id AWS_SECRET_ACCESS_KEY=$aws_secret AWS_REGION=us-east-1
unset AWS_SESSION_TOKEN AWS_PROFILE || true


names=()
for i in 01 02 03 04 05 06 07 08 09 10 11 12 13 14 15 16 17 18 19 20; do names+=("cloud-$i"); done

kills=10
started_ms=$(now_ms)
for ((round = 1; round <= kills; round++)); do
  start_skeind pid ${SKEIN_CHAOS_SKEIND_FLAGS:-}
  for name in "${names[@]:$(((round - 1) * 2)):2}"; do
    submit cloud "$name" "$ns" || fail "submit $name"
  done
  # Chaos, not synchronisation: the point is a moment nobody chose.
  ms=$((300 + RANDOM % 2201))
  sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
  kill_skeind "$pid"
done
echo "10 skeind lives SIGKILLed in $(($(now_ms) - started_ms)) ms"
expect "SIGKILLs done" "$skeind_n" "$kills"

start_skeind pid ${SKEIN_CHAOS_SKEIND_FLAGS:-}
final_log=$skeind_log
if wait_for 240 all_final "$ns" "${names[@]}"; then
  ok "all ${#names[@]} Workflows ended after the crashes ($(($(now_ms) - started_ms)) ms since the first submit)"
else
  fail "not every Workflow ended: $(k -n "$ns" get swf --no-headers 2>&1 | awk '$2 != "Succeeded"' | head -n 10)"
fi
stop_skeind "$pid"
expect "final skeind exits 0 on SIGTERM" "$stop_rc" 0

k -n "$ns" get swf -o json >"$tmp/wfs.json"
expect "Workflows Succeeded" \
  "$(cloudfake_json "$tmp/wfs.json" 'sum(1 for w in doc["items"] if w.get("status", {}).get("phase") == "Succeeded")')" 20
k -n "$ns" get pods -o json >"$tmp/pods.json"
expect "last Pods with both jobs' outputs in their args" \
  "$(cloudfake_json "$tmp/pods.json" 'sum(1 for p in doc["items"] if p["metadata"]["name"].endswith("-use-1") and p["spec"]["containers"][0]["args"][0].startswith("gs://skein-test/cloud-") and p["spec"]["containers"][0]["args"][1].startswith("s3://skein-test/out/"))')" 20

expect "Vertex jobs created, one per label set" "$(cloudfake_stats cf vertex 'len(s["creates"])')" 20
expect "no Vertex label set created twice" "$(cloudfake_stats cf vertex 'max(s["creates"].values())')" 1
echo "Vertex label sets created more than once: $(cloudfake_stats cf vertex '[k for k, v in s["creates"].items() if v > 1]')"
expect "Vertex jobs at the fake" "$(cloudfake_stats cf vertex 's["jobs"]')" 20
expect "SageMaker jobs created, one per name" "$(cloudfake_stats cf sagemaker 'len(s["creates"])')" 20
expect "no SageMaker name created twice" "$(cloudfake_stats cf sagemaker 'max(s["creates"].values())')" 1
echo "SageMaker names created more than once: $(cloudfake_stats cf sagemaker '[k for k, v in s["creates"].items() if v > 1]')"
vf=$(cloudfake_stats cf vertex 's["faults_total"]')
sf=$(cloudfake_stats cf sagemaker 's["faults_total"]')
vr=$(cloudfake_stats cf vertex 's["requests_total"]')
sr=$(cloudfake_stats cf sagemaker 's["requests_total"]')
echo "faults: vertex $vf of $vr requests, sagemaker $sf of $sr; lost replies: vertex $(cloudfake_stats cf vertex 's["faults"].get("lost_reply", 0)'), sagemaker $(cloudfake_stats cf sagemaker 's["faults"].get("lost_reply", 0)'); adopted after a lost create: sagemaker ResourceInUse $(cloudfake_stats cf sagemaker 'sum(s["create_conflicts"].values())')"
if ((vf >= 5 && sf >= 5)); then ok "faults were injected ($vf and $sf)"; else fail "too few faults ($vf, $sf)"; fi
expect "throttled answers" "$(cloudfake_stats cf vertex 's["throttled"]') $(cloudfake_stats cf sagemaker 's["throttled"]')" "2 2"

check_sanitizers
dump_logs
finish skeind_cloud_chaos
