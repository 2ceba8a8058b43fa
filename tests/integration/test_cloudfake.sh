#!/usr/bin/env bash
# The cloud test servers themselves (tests/cloudfake/), exercised with curl,
# openssl and python only, no skein code: moto's SageMaker and the fake
# SageMaker through curl's SigV4 signing (create, describe, duplicates,
# progression, stop, throttling, a wrong secret refused); an RS256 JWT made
# with openssl against the fake Google token endpoint (good signature ->
# token; tampered, too long-lived, wrong audience -> refused); that token on
# the fake Vertex AI (create, get through the scripted states, list by label
# with real pages, cancel, 401 without it); the metadata server with and
# without its header; STS AssumeRoleWithWebIdentity XML and its keys on the
# fake SageMaker; IMDSv2 and container credentials; injected faults (429
# with RetryInfo, 503, reset, slow, a create whose reply is lost), seeded
# dice that repeat; and /_fake/stats counting it all.
#
# It builds the venv of tests/cloudfake/setup.sh on first use (PyPI), then
# runs in well under a minute. ctest sets SKEIN_SOURCE_DIR (SKEINCTL unused).
set -euo pipefail

. "${SKEIN_SOURCE_DIR:?set SKEIN_SOURCE_DIR to the source root}/tests/lib/testlib.sh"
. "$SKEIN_SOURCE_DIR/tests/cloudfake/lib.sh"

scratch_dir
cd "$tmp"

# http NAME CURL-ARGS...: one request; body in $tmp/NAME.body, headers in
# $tmp/NAME.hdr; sets code to the HTTP status, or curlN when curl failed
# with exit status N before a reply.
http() {
  local name=$1 c
  shift
  if c=$(curl -sS --max-time 10 -o "$tmp/$name.body" -D "$tmp/$name.hdr" -w '%{http_code}' "$@" 2>"$tmp/$name.err"); then
    code=$c
  else
    code=curl$?
  fi
}

# jb NAME EXPR: a Python expression over the JSON body of request NAME.
jb() {
  cloudfake_json "$tmp/$1.body" "$2" 2>/dev/null || echo "(no JSON in $1: $(head -c 300 "$tmp/$1.body" 2>/dev/null))"
}

# hdr NAME HEADER: the value of a response header of request NAME.
hdr() {
  tr -d '\r' <"$tmp/$1.hdr" | awk -v h="$(echo "$2" | tr 'A-Z' 'a-z')" -F': ' \
    'tolower($1) == h { sub(/^[^:]*: /, ""); print; exit }'
}

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

# ---------------------------------------------------------------------------
# 0. The venv, and the SigV4 code against the published vectors.
failures_before=$failures
if ! cloudfake_setup; then
  fail "tests/cloudfake/setup.sh failed"
  finish cloudfake
fi
ok "venv ready: $(basename "$(dirname "$(dirname "$cloudfake_py")")")"
capture selftest "$cloudfake_py" "$SKEIN_SOURCE_DIR/tests/cloudfake/cloudfake.py" selftest
expect "selftest (SigV4 vectors, Vertex filters)" "$rc" 0
grep -q '^FAIL' "$tmp/selftest.out" && cat "$tmp/selftest.out" >&2
expect "curl has --aws-sigv4" "$(curl --help all 2>/dev/null | grep -c -- '--aws-sigv4' || true)" 1

# Secrets of this run: made here, never printed.
akid=AKIDCLOUDFAKETEST01
secret=$("$cloudfake_py" -c 'import secrets; print(secrets.token_urlsafe(30))')
echo "$akid $secret" >"$tmp/aws-keys"
wit=$("$cloudfake_py" -c 'import secrets; print("eyJ" + secrets.token_urlsafe(40))')
echo "$wit" >"$tmp/wit"
ctok=$("$cloudfake_py" -c 'import secrets; print(secrets.token_urlsafe(24))')
echo "$ctok" >"$tmp/ctok"
role_arn=arn:aws:iam::123456789012:role/skein-irsa

# A service account known by its public key alone, made with openssl.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/ci.pem" 2>/dev/null
openssl pkey -in "$tmp/ci.pem" -pubout -out "$tmp/ci.pub"
ci_email=ci@skein-test-project.iam.gserviceaccount.com

# ---------------------------------------------------------------------------
# 1. Start every role and moto in one process.
t0=$(now_ms)
if ! cloudfake_start cf --roles vertex,token,metadata,sagemaker,sts,imds,moto --seed 42 \
  --sa-public-key "$ci_email=$tmp/ci.pub" \
  --aws-key-file "$tmp/aws-keys" --sts-web-identity-token "@$tmp/wit" --sts-role-arn "$role_arn" \
  --container-token "@$tmp/ctok" --config 'vertex={"project_numbers": {"skein-test-project": "111222333444"}}'; then
  fail "cloudfake did not start"
  finish cloudfake
fi
ok "cloudfake with 7 roles ready in $(($(now_ms) - t0)) ms"
ready=$(cloudfake_dir cf)/ready.json
expect "ready line: pid is the process" "$(cloudfake_json "$ready" 'doc["pid"]')" "${_cloudfake_pid[cf]}"
expect "ready line: every URL on 127.0.0.1" \
  "$(cloudfake_json "$ready" 'all(u.startswith("http://127.0.0.1:") for u in doc["urls"].values()) and len(doc["urls"])')" 7
vertex=$(cloudfake_url cf vertex)
token=$(cloudfake_url cf token)
metadata=$(cloudfake_url cf metadata)
sagemaker=$(cloudfake_url cf sagemaker)
sts=$(cloudfake_url cf sts)
imds=$(cloudfake_url cf imds)
moto=$(cloudfake_url cf moto)

# ---------------------------------------------------------------------------
# 2. Google token endpoint: a JWT signed with openssl.
failures_before=$failures
cloudfake_make_sa_key cf "$tmp/sa.json"
expect "service-account key: token_uri is the fake's" "$(cloudfake_json "$tmp/sa.json" 'doc["token_uri"]')" "$token/token"
expect "service-account key: mode 600" "$(stat -c %a "$tmp/sa.json")" 600
cloudfake_json "$tmp/sa.json" 'doc["private_key"]' >"$tmp/sa.pem"
email=$(cloudfake_json "$tmp/sa.json" 'doc["client_email"]')
kid=$(cloudfake_json "$tmp/sa.json" 'doc["private_key_id"]')

# jwt KEY CLAIMS-JSON: a compact RS256 JWT.
jwt() {
  local h c s
  h=$(printf '{"alg":"RS256","typ":"JWT","kid":"%s"}' "$kid" | b64url)
  c=$(printf '%s' "$2" | b64url)
  s=$(printf '%s.%s' "$h" "$c" | openssl dgst -sha256 -sign "$1" -binary | b64url)
  printf '%s.%s.%s' "$h" "$c" "$s"
}
now=$(date +%s)
claims() { # claims SCOPE AUD IAT EXP
  printf '{"iss":"%s","scope":"%s","aud":"%s","iat":%d,"exp":%d}' "$email" "$1" "$2" "$3" "$4"
}
cp_scope=https://www.googleapis.com/auth/cloud-platform
good=$(jwt "$tmp/sa.pem" "$(claims "$cp_scope" "$token/token" "$now" $((now + 3600)))")
grant() { # grant NAME ASSERTION
  http "$1" --data-urlencode "grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer" \
    --data-urlencode "assertion=$2" "$token/token"
}
grant tok_good "$good"
expect "jwt-bearer grant: status" "$code" 200
expect "jwt-bearer grant: token_type, expires_in" "$(jb tok_good 'doc["token_type"] + " " + str(doc["expires_in"])')" "Bearer 3599"
gtoken=$(jb tok_good 'doc["access_token"]')

# The same signature over other claims: tampered.
IFS=. read -r jh _ js <<<"$good"
tampered="$jh.$(claims "$cp_scope https://www.googleapis.com/auth/devstorage.full_control" "$token/token" "$now" $((now + 3600)) | b64url).$js"
grant tok_tampered "$tampered"
expect "tampered JWT: status" "$code" 400
expect "tampered JWT: error" "$(jb tok_tampered 'doc["error"] + ": " + doc["error_description"]')" "invalid_grant: Invalid JWT Signature."
grant tok_long "$(jwt "$tmp/sa.pem" "$(claims "$cp_scope" "$token/token" "$now" $((now + 7200)))")"
expect "JWT living 2 h: refused" "$code $(jb tok_long 'doc["error"]')" "400 invalid_grant"
grant tok_expired "$(jwt "$tmp/sa.pem" "$(claims "$cp_scope" "$token/token" $((now - 4000)) $((now - 400)))")"
expect "expired JWT: refused" "$code $(jb tok_expired 'doc["error"]')" "400 invalid_grant"
grant tok_aud "$(jwt "$tmp/sa.pem" "$(claims "$cp_scope" "https://oauth2.googleapis.com/token" "$now" $((now + 3600)))")"
expect "JWT for another audience: refused" "$code $(jb tok_aud 'doc["error"]')" "400 invalid_grant"
grant tok_noscope "$(jwt "$tmp/sa.pem" "$(printf '{"iss":"%s","aud":"%s","iat":%d,"exp":%d}' "$email" "$token/token" "$now" $((now + 3600)))")"
expect "JWT without scope: refused" "$code $(jb tok_noscope 'doc["error"]')" "400 invalid_scope"
# A key the fake was never told about, same account: its signature fails.
"$cloudfake_py" "$SKEIN_SOURCE_DIR/tests/cloudfake/cloudfake.py" make-sa-key "$tmp/sa2.json" --token-uri "$token/token"
cloudfake_json "$tmp/sa2.json" 'doc["private_key"]' >"$tmp/sa2.pem"
grant tok_otherkey "$(jwt "$tmp/sa2.pem" "$(claims "$cp_scope" "$token/token" "$now" $((now + 3600)))")"
expect "JWT signed by an unknown key: refused" "$code $(jb tok_otherkey 'doc["error"]')" "400 invalid_grant"
grant tok_ci "$(jwt "$tmp/ci.pem" "$(printf '{"iss":"%s","scope":"%s","aud":"%s","iat":%d,"exp":%d}' "$ci_email" "$cp_scope" "$token/token" "$now" $((now + 600)))")"
expect "JWT of an account given by its public key (--sa-public-key): token" "$code $(jb tok_ci 'doc["token_type"]')" "200 Bearer"
http tok_form -H 'Content-Type: application/json' --data-binary '{}' "$token/token"
expect "token endpoint wants a form" "$code $(jb tok_form 'doc["error"]')" "400 invalid_request"

# authorized_user (gcloud ADC): refresh_token grant.
cloudfake_make_authorized_user cf "$tmp/adc.json"
refresh() { # refresh NAME SECRET
  http "$1" --data-urlencode grant_type=refresh_token \
    --data-urlencode "client_id=$(cloudfake_json "$tmp/adc.json" 'doc["client_id"]')" \
    --data-urlencode "client_secret=$2" \
    --data-urlencode "refresh_token=$(cloudfake_json "$tmp/adc.json" 'doc["refresh_token"]')" "$token/token"
}
refresh tok_refresh "$(cloudfake_json "$tmp/adc.json" 'doc["client_secret"]')"
expect "refresh_token grant: status" "$code" 200
utoken=$(jb tok_refresh 'doc["access_token"]')
refresh tok_badclient wrong-secret
expect "refresh_token grant, wrong client secret" "$code $(jb tok_badclient 'doc["error"]')" "401 invalid_client"
expect "token stats: 3 issued, errors by kind" \
  "$(cloudfake_stats cf token '[s["issued_total"], s["errors"]]')" \
  '[3, {"invalid_grant": 5, "invalid_scope": 1, "invalid_request": 1, "invalid_client": 1}]'
show selftest

# ---------------------------------------------------------------------------
# 3. Vertex AI CustomJob.
failures_before=$failures
parent=/v1/projects/skein-test-project/locations/us-central1
job_body() { # job_body DISPLAY-NAME LABELS-JSON
  printf '{"displayName":"%s","labels":%s,"jobSpec":{"workerPoolSpecs":[{"machineSpec":{"machineType":"n1-standard-4"},"replicaCount":"1","containerSpec":{"imageUri":"us-docker.pkg.dev/skein/train:1","args":["--epochs","5"]}}],"baseOutputDirectory":{"outputUriPrefix":"gs://skein-test/out"}}}' "$1" "$2"
}
vx() { # vx NAME METHOD PATH [BODY] (with $gtoken)
  local name=$1 method=$2 path=$3
  local args=(-X "$method" -H "Authorization: Bearer $gtoken")
  if [[ $# -ge 4 ]]; then args+=(-H 'Content-Type: application/json' --data-binary "$4"); fi
  http "$name" "${args[@]}" "$vertex$path"
}

http vx_noauth -X POST -H 'Content-Type: application/json' --data-binary "$(job_body x '{}')" "$vertex$parent/customJobs"
expect "vertex without a token: 401 UNAUTHENTICATED" "$code $(jb vx_noauth 'doc["error"]["status"]')" "401 UNAUTHENTICATED"
expect "vertex 401: WWW-Authenticate" "$(hdr vx_noauth WWW-Authenticate | cut -d, -f2)" ' error="invalid_token"'
http vx_badtok -H "Authorization: Bearer ya29.not-issued" "$vertex$parent/customJobs"
expect "vertex with a token nobody issued: 401" "$code" 401

vx vx_create POST "$parent/customJobs" "$(job_body train-1 '{"skein-workflow-uid":"uid-1","skein-step":"train","skein-attempt":"1"}')"
expect "create: status" "$code" 200
job1=$(jb vx_create 'doc["name"]')
expect "create: name holds the project number" \
  "$("$cloudfake_py" -c 'import re,sys; print(bool(re.fullmatch(r"projects/111222333444/locations/us-central1/customJobs/\d+", sys.argv[1])))' "$job1")" True
expect "create: state and labels" "$(jb vx_create 'doc["state"] + " " + doc["labels"]["skein-step"]')" "JOB_STATE_QUEUED train"
states=""
for i in 1 2 3 4; do
  vx vx_get "GET" "/v1/$job1"
  states+="$(jb vx_get 'doc["state"][10:]') "
done
expect "get: one state per poll" "$states" "PENDING RUNNING SUCCEEDED SUCCEEDED "
expect "get: startTime and endTime once finished" "$(jb vx_get '"startTime" in doc and "endTime" in doc and doc["endTime"].endswith("Z")')" True
vx vx_get_byid GET "/v1/projects/skein-test-project/locations/us-central1/customJobs/${job1##*/}"
expect "get by project id instead of number: same job" "$code $(jb vx_get_byid 'doc["name"]')" "200 $job1"
vx vx_404 GET "/v1/projects/111222333444/locations/us-central1/customJobs/1"
expect "get of an unknown job: 404 NOT_FOUND" "$code $(jb vx_404 'doc["error"]["status"]')" "404 NOT_FOUND"

vx vx_noname POST "$parent/customJobs" '{"jobSpec":{"workerPoolSpecs":[{"machineSpec":{"machineType":"n1"},"containerSpec":{"imageUri":"i"}}]}}'
expect "create without displayName: 400 INVALID_ARGUMENT" "$code $(jb vx_noname 'doc["error"]["status"]')" "400 INVALID_ARGUMENT"
vx vx_longname POST "$parent/customJobs" "$(job_body "$(printf 'n%.0s' {1..129})" '{}')"
expect "create with a 129-character displayName: 400" "$code" 400
vx vx_badlabel POST "$parent/customJobs" "$(job_body bad '{"Skein-Step":"train"}')"
expect "create with an upper-case label key: 400" "$code" 400
vx vx_badvalue POST "$parent/customJobs" "$(job_body bad "{\"k\":\"$(printf 'v%.0s' {1..65})\"}")"
expect "create with a 65-character label value: 400" "$code" 400
vx vx_nopools POST "$parent/customJobs" '{"displayName":"x","jobSpec":{}}'
expect "create without workerPoolSpecs: 400" "$code" 400
vx vx_unknown POST "$parent/customJobs" '{"displayName":"x","project":"p","jobSpec":{"workerPoolSpecs":[{"machineSpec":{"machineType":"n1"},"containerSpec":{"imageUri":"i"}}]}}'
expect "create with an unknown field: 400 naming it" "$code $(jb vx_unknown '"\"project\"" in doc["error"]["message"]')" "400 True"

# List by label, with real pages.
for s in a b c; do
  vx "vx_c_$s" POST "$parent/customJobs" "$(job_body "wf2-$s" "{\"skein-workflow-uid\":\"uid-2\",\"skein-step\":\"$s\"}")"
done
flt=$("$cloudfake_py" -c 'import urllib.parse; print(urllib.parse.quote("labels.skein-workflow-uid=\"uid-2\""))')
vx vx_list1 GET "$parent/customJobs?filter=$flt&pageSize=2"
expect "list page 1: two jobs and a next page" "$code $(jb vx_list1 'len(doc["customJobs"])') $(jb vx_list1 'bool(doc.get("nextPageToken"))')" "200 2 True"
vx vx_list2 GET "$parent/customJobs?filter=$flt&pageSize=2&pageToken=$(jb vx_list1 'doc["nextPageToken"]')"
expect "list page 2: the last job, no next page" "$(jb vx_list2 'len(doc["customJobs"])') $(jb vx_list2 '"nextPageToken" in doc')" "1 False"
expect "list pages: the three jobs of uid-2, each once" \
  "$("$cloudfake_py" -c 'import json,sys; print(sorted(j["labels"]["skein-step"] for f in sys.argv[1:] for j in json.load(open(f))["customJobs"]))' "$tmp/vx_list1.body" "$tmp/vx_list2.body")" \
  "['a', 'b', 'c']"
flt2=$("$cloudfake_py" -c 'import urllib.parse; print(urllib.parse.quote("labels.skein-workflow-uid=\"uid-2\" AND labels.skein-step=\"b\""))')
vx vx_list_and GET "$parent/customJobs?filter=$flt2"
expect "list with AND of two labels: one job" "$(jb vx_list_and '[j["displayName"] for j in doc["customJobs"]]')" '["wf2-b"]'
vx vx_list_none GET "$parent/customJobs?filter=$("$cloudfake_py" -c 'import urllib.parse; print(urllib.parse.quote("labels.skein-workflow-uid=\"nobody\""))')"
expect "list matching nothing: {} (no customJobs field, as Google sends)" "$code $(cat "$tmp/vx_list_none.body")" "200 {}"
vx vx_list_bad GET "$parent/customJobs?filter=labels.x%3D%3D"
expect "list with a bad filter: 400" "$code" 400
vx vx_list_badtoken GET "$parent/customJobs?filter=$flt&pageToken=garbage"
expect "list with a bad page token: 400" "$code" 400

# Cancel: CANCELLING, then CANCELLED on a later poll.
vx vx_cc POST "$parent/customJobs" "$(job_body to-cancel '{"skein-workflow-uid":"uid-3"}')"
job3=$(jb vx_cc 'doc["name"]')
vx vx_cancel POST "/v1/$job3:cancel"
expect "cancel: 200 {}" "$code $(cat "$tmp/vx_cancel.body")" "200 {}"
vx vx_g1 GET "/v1/$job3"
vx vx_g2 GET "/v1/$job3"
expect "after cancel: CANCELLING, then CANCELLED with error code 1" \
  "$(jb vx_g1 'doc["state"]') $(jb vx_g2 'doc["state"] + " " + str(doc["error"]["code"])')" \
  "JOB_STATE_CANCELLING JOB_STATE_CANCELLED 1"
vx vx_cancel_done POST "/v1/$job1:cancel"
expect "cancel of a finished job: 400 FAILED_PRECONDITION" "$code $(jb vx_cancel_done 'doc["error"]["status"]')" "400 FAILED_PRECONDITION"

# A scripted failure, chosen by displayName.
cloudfake_config cf vertex '{"scripts": [{"match": {"display_name_contains": "boom"}, "states": ["PENDING", "RUNNING", "FAILED"], "error_message": "exit status 3 in workerpool0-0"}]}'
vx vx_boom POST "$parent/customJobs" "$(job_body train-boom '{"skein-workflow-uid":"uid-4"}')"
jobb=$(jb vx_boom 'doc["name"]')
vx vx_b1 GET "/v1/$jobb"
vx vx_b2 GET "/v1/$jobb"
expect "scripted job: PENDING, RUNNING, FAILED with the message" \
  "$(jb vx_boom 'doc["state"]') $(jb vx_b1 'doc["state"]') $(jb vx_b2 'doc["state"] + ": " + doc["error"]["message"]')" \
  "JOB_STATE_PENDING JOB_STATE_RUNNING JOB_STATE_FAILED: exit status 3 in workerpool0-0"
vx vx_utok GET "/v1/$job1"
gtoken_saved=$gtoken
gtoken=$utoken
vx vx_utok GET "/v1/$job1"
gtoken=$gtoken_saved
expect "a token from the refresh_token grant works on vertex" "$code" 200
show vx_create

# ---------------------------------------------------------------------------
# 4. Faults on vertex.
failures_before=$failures
cloudfake_config cf vertex '{"faults": [{"kind": "429", "route": "get", "count": 1, "retry_delay": "3.5s"}]}'
vx vx_429 GET "/v1/$job1"
expect "429 fault: status" "$code $(jb vx_429 'doc["error"]["status"]')" "429 RESOURCE_EXHAUSTED"
expect "429 fault: RetryInfo" "$(jb vx_429 '[(d["@type"], d["retryDelay"]) for d in doc["error"]["details"]]')" \
  '[["type.googleapis.com/google.rpc.RetryInfo", "3.5s"]]'
vx vx_after429 GET "/v1/$job1"
expect "after the one 429: 200" "$code" 200
cloudfake_config cf vertex '{"faults": [{"kind": "503", "route": "get", "count": 2}]}'
codes=""
for i in 1 2 3; do
  vx vx_503 GET "/v1/$job1"
  codes+="$code "
done
expect "503 fault, count 2" "$codes" "503 503 200 "
cloudfake_config cf vertex '{"faults": [{"kind": "reset", "route": "get", "count": 1}]}'
vx vx_reset GET "/v1/$job1"
expect "reset fault: no reply (curl 56, connection reset)" "$code" curl56
cloudfake_config cf vertex '{"faults": [{"kind": "slow", "route": "get", "count": 1, "delay_ms": 400}]}'
t0=$(now_ms)
vx vx_slow GET "/v1/$job1"
elapsed=$(($(now_ms) - t0))
if [[ $code == 200 && $elapsed -ge 400 ]]; then ok "slow fault: 200 after $elapsed ms"; else fail "slow fault: $code after $elapsed ms, want 200 after >= 400"; fi
# A create that succeeds but whose reply is lost: the job exists, once.
cloudfake_config cf vertex '{"faults": [{"kind": "lost_reply", "route": "create", "count": 1}]}'
vx vx_lost POST "$parent/customJobs" "$(job_body lost '{"skein-workflow-uid":"uid-5","skein-step":"train"}')"
expect "lost reply: curl sees no reply" "$code" curl56
vx vx_lost_list GET "$parent/customJobs?filter=$("$cloudfake_py" -c 'import urllib.parse; print(urllib.parse.quote("labels.skein-workflow-uid=\"uid-5\""))')"
expect "lost reply: the job was created, list by label finds it" "$(jb vx_lost_list 'len(doc["customJobs"])')" 1
# Seeded dice: the same seed gives the same faults.
dice() {
  cloudfake_config cf vertex '{"seed": 7, "faults": [{"kind": "503", "route": "get", "probability": 0.5}]}'
  local out="" i
  for i in $(seq 16); do
    vx vx_dice GET "/v1/$job1"
    out+=${code:0:1}
  done
  echo "$out"
}
d1=$(dice)
d2=$(dice)
expect "seeded faults repeat" "$d1" "$d2"
if [[ $d1 == *2* && $d1 == *5* ]]; then ok "p=0.5 faults hit some requests and spare others ($d1)"; else fail "p=0.5 dice gave $d1"; fi
cloudfake_config cf vertex '{"faults": []}'
show vx_429

# ---------------------------------------------------------------------------
# 5. Vertex stats.
failures_before=$failures
stats=$tmp/vertex-stats.json
cloudfake_stats cf vertex >"$stats"
expect "stats: each label set created exactly once" \
  "$(cloudfake_json "$stats" 'sorted(doc["creates"].items())')" \
  '[["skein-attempt=1,skein-step=train,skein-workflow-uid=uid-1", 1], ["skein-step=a,skein-workflow-uid=uid-2", 1], ["skein-step=b,skein-workflow-uid=uid-2", 1], ["skein-step=c,skein-workflow-uid=uid-2", 1], ["skein-step=train,skein-workflow-uid=uid-5", 1], ["skein-workflow-uid=uid-3", 1], ["skein-workflow-uid=uid-4", 1]]'
expect "stats: POST create requests (7 jobs, 6 refused, 1 unauthenticated)" \
  "$(cloudfake_json "$stats" 'doc["requests"]["POST create"]')" 14
expect "stats: faults by kind" "$(cloudfake_json "$stats" '{k: doc["faults"][k] for k in ("throttle", "503", "reset", "slow", "lost_reply")}')" \
  '{"throttle": 1, "503": '"$((2 + $(tr -cd 5 <<<"$d1$d2" | wc -c)))"', "reset": 1, "slow": 1, "lost_reply": 1}'
expect "stats: throttled, auth failures" "$(cloudfake_json "$stats" '[doc["throttled"], doc["auth_failures"]]')" "[1, 2]"
expect "stats: one timestamp per GET get, in order" \
  "$(cloudfake_json "$stats" 'len(doc["log"]["get"]) == doc["requests"]["GET get"] and doc["log"]["get"] == sorted(doc["log"]["get"])')" True
expect "stats: cancels" "$(cloudfake_json "$stats" 'sorted(doc["cancels"].values())')" "[1, 1]"
expect "stats: no secret in them" "$(grep -c -F -e "$gtoken" -e "$utoken" "$stats" || true)" 0
url_nolog=$(curl -sS --max-time 10 "$vertex/_fake/stats?log=0" | "$cloudfake_py" -c 'import json,sys; print("log" in json.load(sys.stdin))')
expect "GET /_fake/stats?log=0" "$url_nolog" False
cloudfake_reset cf vertex
expect "reset: no jobs, no requests" "$(cloudfake_stats cf vertex '[s["jobs"], s["requests_total"]]')" "[0, 0]"
vx vx_afterreset GET "/v1/$job1"
expect "reset: jobs are gone, the token still works" "$code" 404
# An expired token is refused; a new one works (a client refreshes on 401).
cloudfake_config cf token '{"expire_tokens": true}'
vx vx_expired GET "/v1/$job1"
expect "expired token: 401" "$code" 401
now=$(date +%s)
grant tok_again "$(jwt "$tmp/sa.pem" "$(claims "$cp_scope" "$token/token" "$now" $((now + 3600)))")"
gtoken=$(jb tok_again 'doc["access_token"]')
vx vx_fresh GET "/v1/$job1"
expect "a fresh token: accepted again (404: the job went with the reset)" "$code" 404
show vx_fresh

# ---------------------------------------------------------------------------
# 6. Metadata server.
failures_before=$failures
http md_noflavor "$metadata/computeMetadata/v1/instance/service-accounts/default/token"
expect "metadata without Metadata-Flavor: 403" "$code" 403
http md_fwd -H 'Metadata-Flavor: Google' -H 'X-Forwarded-For: 10.0.0.1' "$metadata/computeMetadata/v1/project/project-id"
expect "metadata with X-Forwarded-For: 403" "$code" 403
http md_token -H 'Metadata-Flavor: Google' "$metadata/computeMetadata/v1/instance/service-accounts/default/token"
expect "metadata token: 200 Bearer, and the Metadata-Flavor reply header" \
  "$code $(jb md_token 'doc["token_type"]') $(hdr md_token Metadata-Flavor)" "200 Bearer Google"
http md_project -H 'Metadata-Flavor: Google' "$metadata/computeMetadata/v1/project/project-id"
expect "metadata project-id" "$code $(cat "$tmp/md_project.body")" "200 skein-test-project"
http md_root -H 'Metadata-Flavor: Google' "$metadata/"
expect "metadata root answers (detection)" "$code" 200
gtoken=$(jb md_token 'doc["access_token"]')
vx vx_mdtoken POST "$parent/customJobs" "$(job_body md '{"skein-workflow-uid":"uid-6"}')"
expect "a metadata token works on vertex" "$code" 200
http md_scoped -H 'Metadata-Flavor: Google' "$metadata/computeMetadata/v1/instance/service-accounts/default/token?scopes=https://www.googleapis.com/auth/devstorage.read_only"
gtoken=$(jb md_scoped 'doc["access_token"]')
vx vx_scope GET "$parent/customJobs"
expect "a token without the cloud-platform scope: 403 PERMISSION_DENIED" "$code $(jb vx_scope 'doc["error"]["status"]')" "403 PERMISSION_DENIED"
show md_token

# ---------------------------------------------------------------------------
# 7. The fake SageMaker, signed by curl.
failures_before=$failures
# sm NAME BASE-URL OPERATION BODY [CURL-ARGS...], signed with $sm_user.
sm_user="$akid:$secret"
sm() {
  local name=$1 url=$2 op=$3 body=$4
  shift 4
  http "$name" --aws-sigv4 "aws:amz:${sm_region:-us-east-1}:sagemaker" --user "$sm_user" \
    -H 'Content-Type: application/x-amz-json-1.1' -H "X-Amz-Target: SageMaker.$op" --data-binary "$body" "$@" "$url/"
}
tj_body() { # tj_body NAME
  printf '{"TrainingJobName":"%s","AlgorithmSpecification":{"TrainingImage":"123456789012.dkr.ecr.us-east-1.amazonaws.com/train:1","TrainingInputMode":"File"},"RoleArn":"arn:aws:iam::123456789012:role/skein-sagemaker","OutputDataConfig":{"S3OutputPath":"s3://skein-test/out"},"ResourceConfig":{"InstanceType":"ml.m5.large","InstanceCount":1,"VolumeSizeInGB":10},"StoppingCondition":{"MaxRuntimeInSeconds":3600},"HyperParameters":{"epochs":"5"}}' "$1"
}
sm sm_create "$sagemaker" CreateTrainingJob "$(tj_body skein-uid1-train-1)"
expect "fake CreateTrainingJob: ARN" "$code $(jb sm_create 'doc["TrainingJobArn"]')" \
  "200 arn:aws:sagemaker:us-east-1:123456789012:training-job/skein-uid1-train-1"
sm sm_dup "$sagemaker" CreateTrainingJob "$(tj_body skein-uid1-train-1)"
expect "fake duplicate create: 400 ResourceInUse (header and body)" \
  "$code $(hdr sm_dup x-amzn-ErrorType) $(jb sm_dup 'doc["__type"]')" "400 ResourceInUse ResourceInUse"
seen=""
for i in 1 2 3 4; do
  sm sm_desc "$sagemaker" DescribeTrainingJob '{"TrainingJobName":"skein-uid1-train-1"}'
  seen+="$(jb sm_desc 'doc["TrainingJobStatus"] + "/" + doc["SecondaryStatus"]') "
done
expect "fake DescribeTrainingJob: progression over polls" "$seen" \
  "InProgress/Downloading InProgress/Training InProgress/Uploading Completed/Completed "
expect "fake Completed: model artifacts" "$(jb sm_desc 'doc["ModelArtifacts"]["S3ModelArtifacts"]')" \
  "s3://skein-test/out/skein-uid1-train-1/output/model.tar.gz"
expect "fake timestamps are epoch numbers" \
  "$(jb sm_desc 'all(isinstance(doc[k], float) for k in ("CreationTime", "LastModifiedTime", "TrainingStartTime", "TrainingEndTime"))')" True
expect "fake SecondaryStatusTransitions" "$(jb sm_desc '[t["Status"] for t in doc["SecondaryStatusTransitions"]]')" \
  '["Starting", "Downloading", "Training", "Uploading", "Completed"]'
sm sm_missing "$sagemaker" DescribeTrainingJob '{"TrainingJobName":"nope"}'
expect "fake describe of an unknown job: ValidationException" "$code $(jb sm_missing 'doc["__type"] + ": " + doc["message"]')" \
  "400 ValidationException: Requested resource not found."
sm sm_invalid "$sagemaker" CreateTrainingJob '{"TrainingJobName":"x-1","AlgorithmSpecification":{"TrainingImage":"i"}}'
expect "fake create with a bad body: ValidationException" "$code $(jb sm_invalid 'doc["__type"]')" "400 ValidationException"
sm sm_hp "$sagemaker" CreateTrainingJob "$(tj_body hp-number | sed 's/"epochs":"5"/"epochs":5/')"
expect "fake create with a number as a hyperparameter: SerializationException" "$code $(jb sm_hp 'doc["__type"]')" "400 SerializationException"
sm sm_badname "$sagemaker" CreateTrainingJob "$(tj_body 'bad_name')"
expect "fake create with a bad job name: ValidationException" "$code $(jb sm_badname 'doc["__type"]')" "400 ValidationException"

# Signatures.
sm_user="$akid:wrong$secret"
sm sm_wrongsecret "$sagemaker" DescribeTrainingJob '{"TrainingJobName":"skein-uid1-train-1"}'
expect "fake with a wrong secret: 403 InvalidSignatureException" "$code $(hdr sm_wrongsecret x-amzn-ErrorType)" "403 InvalidSignatureException"
sm_user="AKIDUNKNOWN:$secret"
sm sm_unknownkey "$sagemaker" DescribeTrainingJob '{"TrainingJobName":"skein-uid1-train-1"}'
expect "fake with an unknown key: 403 UnrecognizedClientException" "$code $(jb sm_unknownkey 'doc["__type"]')" "403 UnrecognizedClientException"
sm_user="$akid:$secret"
sm_region=us-west-2
sm sm_region "$sagemaker" DescribeTrainingJob '{"TrainingJobName":"skein-uid1-train-1"}'
sm_region=
expect "fake with another region in the scope: 403" "$code $(jb sm_region 'doc["__type"]')" "403 InvalidSignatureException"
http sm_unsigned -H 'Content-Type: application/x-amz-json-1.1' -H 'X-Amz-Target: SageMaker.ListTrainingJobs' --data-binary '{}' "$sagemaker/"
expect "fake unsigned: 400 MissingAuthenticationTokenException" "$code $(jb sm_unsigned 'doc["__type"]')" "400 MissingAuthenticationTokenException"
# The body is signed: a body changed after signing is refused. curl signs
# what it sends, so sign with python and send another body.
forged=$("$cloudfake_py" -B - "$SKEIN_SOURCE_DIR/tests/cloudfake/cloudfake.py" "$sagemaker" "$akid" "$secret" <<'PY'
import importlib.util, sys, time, urllib.error, urllib.request
spec = importlib.util.spec_from_file_location("cloudfake", sys.argv[1])
cf = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cf)
url, akid, secret = sys.argv[2:5]
host = url.split("//")[1]
amz = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
body = b'{"TrainingJobName":"skein-uid1-train-1"}'
hv = {"host": [host], "x-amz-date": [amz], "content-type": ["application/x-amz-json-1.1"],
      "x-amz-target": ["SageMaker.DescribeTrainingJob"]}
signed = sorted(hv)
scope = "%s/us-east-1/sagemaker/aws4_request" % amz[:8]
sig = cf.sigv4_signature(secret, amz[:8], "us-east-1", "sagemaker",
                         cf.sigv4_string_to_sign("POST", "/", "", hv, signed, body, amz, scope))
auth = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (akid, scope, ";".join(signed), sig)
out = []
for b in (body, b'{"TrainingJobName":"skein-uid1-train-2"}'):
    req = urllib.request.Request(url + "/", data=b, method="POST", headers={
        "X-Amz-Date": amz, "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "SageMaker.DescribeTrainingJob", "Authorization": auth})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            out.append(str(r.status))
    except urllib.error.HTTPError as e:
        out.append("%d" % e.code)
print(" ".join(out))
PY
)
expect "python-signed request: accepted; same signature over another body: refused" "$forged" "200 403"

# Stop: Stopping, then Stopped.
sm sm_c2 "$sagemaker" CreateTrainingJob "$(tj_body skein-uid1-train-2)"
sm sm_stop "$sagemaker" StopTrainingJob '{"TrainingJobName":"skein-uid1-train-2"}'
expect "fake StopTrainingJob: 200 {}" "$code $(cat "$tmp/sm_stop.body")" "200 {}"
sm sm_s1 "$sagemaker" DescribeTrainingJob '{"TrainingJobName":"skein-uid1-train-2"}'
sm sm_s2 "$sagemaker" DescribeTrainingJob '{"TrainingJobName":"skein-uid1-train-2"}'
expect "after stop: Stopping, then Stopped" \
  "$(jb sm_s1 'doc["TrainingJobStatus"]') $(jb sm_s2 'doc["TrainingJobStatus"] + "/" + doc["SecondaryStatus"]')" "Stopping Stopped/Stopped"
sm sm_stopdone "$sagemaker" StopTrainingJob '{"TrainingJobName":"skein-uid1-train-1"}'
expect "stop of a Completed job: ValidationException" "$code $(jb sm_stopdone 'doc["__type"]')" "400 ValidationException"
sm sm_stopnone "$sagemaker" StopTrainingJob '{"TrainingJobName":"nope"}'
expect "stop of an unknown job: ResourceNotFound" "$code $(jb sm_stopnone 'doc["__type"]')" "400 ResourceNotFound"

# A scripted failure, a processing job, the list.
cloudfake_config cf sagemaker '{"scripts": [{"match": {"name_contains": "fail"}, "states": ["InProgress:Starting", "InProgress:Training", "Failed:Failed"], "failure_reason": "AlgorithmError: boom"}]}'
sm sm_cf "$sagemaker" CreateTrainingJob "$(tj_body skein-uid1-fail-1)"
for i in 1 2; do sm sm_f "$sagemaker" DescribeTrainingJob '{"TrainingJobName":"skein-uid1-fail-1"}'; done
expect "scripted training failure: Failed with the reason" "$(jb sm_f 'doc["TrainingJobStatus"] + ": " + doc["FailureReason"]')" "Failed: AlgorithmError: boom"
pj='{"ProcessingJobName":"skein-uid1-eval-1","ProcessingResources":{"ClusterConfig":{"InstanceCount":1,"InstanceType":"ml.m5.large","VolumeSizeInGB":10}},"AppSpecification":{"ImageUri":"img","ContainerEntrypoint":["python","eval.py"]},"RoleArn":"arn:aws:iam::123456789012:role/skein-sagemaker"}'
sm sm_pc "$sagemaker" CreateProcessingJob "$pj"
expect "fake CreateProcessingJob: ARN" "$code $(jb sm_pc 'doc["ProcessingJobArn"]')" \
  "200 arn:aws:sagemaker:us-east-1:123456789012:processing-job/skein-uid1-eval-1"
seen=""
for i in 1 2; do
  sm sm_pd "$sagemaker" DescribeProcessingJob '{"ProcessingJobName":"skein-uid1-eval-1"}'
  seen+="$(jb sm_pd 'doc["ProcessingJobStatus"]') "
done
expect "fake DescribeProcessingJob: progression" "$seen" "InProgress Completed "
sm sm_list "$sagemaker" ListTrainingJobs '{"MaxResults":2}'
sm sm_list2 "$sagemaker" ListTrainingJobs "{\"MaxResults\":2,\"NextToken\":\"$(jb sm_list 'doc["NextToken"]')\"}"
expect "fake ListTrainingJobs: pages" \
  "$(jb sm_list '[j["TrainingJobName"] for j in doc["TrainingJobSummaries"]]') $(jb sm_list2 '[j["TrainingJobName"] for j in doc["TrainingJobSummaries"]] + [doc.get("NextToken")]')" \
  '["skein-uid1-train-1", "skein-uid1-train-2"] ["skein-uid1-fail-1", null]'

# Throttling and 5xx.
cloudfake_config cf sagemaker '{"faults": [{"kind": "throttle", "route": "DescribeTrainingJob", "count": 1, "retry_after_ms": 1500}, {"kind": "503", "route": "DescribeTrainingJob", "count": 1}]}'
sm sm_thr "$sagemaker" DescribeTrainingJob '{"TrainingJobName":"skein-uid1-train-1"}'
expect "throttle fault: 400 with the coral error type and x-amz-retry-after" \
  "$code $(hdr sm_thr x-amzn-ErrorType | cut -d: -f1) $(jb sm_thr 'doc["__type"]') $(hdr sm_thr x-amz-retry-after)" \
  "400 ThrottlingException com.amazon.coral.availability#ThrottlingException 1500"
sm sm_503 "$sagemaker" DescribeTrainingJob '{"TrainingJobName":"skein-uid1-train-1"}'
expect "503 fault" "$code $(jb sm_503 'doc["__type"]')" "503 ServiceUnavailable"
sm sm_after "$sagemaker" DescribeTrainingJob '{"TrainingJobName":"skein-uid1-train-1"}'
expect "after the faults: 200" "$code" 200
smstats=$tmp/sm-stats.json
cloudfake_stats cf sagemaker >"$smstats"
expect "sagemaker stats: creates per job, conflicts, stops" \
  "$(cloudfake_json "$smstats" '[sorted(doc["creates"].items()), doc["create_conflicts"], sorted(doc["stops"].items())]')" \
  '[[["processing/skein-uid1-eval-1", 1], ["training/skein-uid1-fail-1", 1], ["training/skein-uid1-train-1", 1], ["training/skein-uid1-train-2", 1]], {"training/skein-uid1-train-1": 1}, [["training/skein-uid1-train-1", 1], ["training/skein-uid1-train-2", 1]]]'
expect "sagemaker stats: throttled 1, auth failures 5" "$(cloudfake_json "$smstats" '[doc["throttled"], doc["auth_failures"]]')" "[1, 5]"
expect "sagemaker stats: no secret in them" "$(grep -c -F "$secret" "$smstats" || true)" 0
show sm_create

# ---------------------------------------------------------------------------
# 8. STS AssumeRoleWithWebIdentity, and its keys on the fake SageMaker.
failures_before=$failures
assume() { # assume NAME TOKEN ROLE
  http "$1" --data-urlencode Action=AssumeRoleWithWebIdentity --data-urlencode Version=2011-06-15 \
    --data-urlencode "RoleArn=$3" --data-urlencode RoleSessionName=skein-test \
    --data-urlencode "WebIdentityToken=$2" "$sts/"
}
xml() { # xml NAME PATH: the text of the first element PATH (namespace ignored)
  "$cloudfake_py" - "$tmp/$1.body" "$2" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
for el in root.iter():
    el.tag = el.tag.split("}")[-1]
node = root if root.tag == sys.argv[2].split("/")[0] else None
found = root.find(sys.argv[2].split("/", 1)[1]) if node is not None else None
print(found.text if found is not None else "(none)")
PY
}
assume sts_ok "$wit" "$role_arn"
expect "STS: 200" "$code" 200
sts_akid=$(xml sts_ok AssumeRoleWithWebIdentityResponse/AssumeRoleWithWebIdentityResult/Credentials/AccessKeyId)
sts_secret=$(xml sts_ok AssumeRoleWithWebIdentityResponse/AssumeRoleWithWebIdentityResult/Credentials/SecretAccessKey)
sts_token=$(xml sts_ok AssumeRoleWithWebIdentityResponse/AssumeRoleWithWebIdentityResult/Credentials/SessionToken)
sts_exp=$(xml sts_ok AssumeRoleWithWebIdentityResponse/AssumeRoleWithWebIdentityResult/Credentials/Expiration)
expect "STS: an ASIA key" "${sts_akid:0:4}" ASIA
expect "STS: Expiration is ISO 8601 UTC, about an hour ahead" \
  "$("$cloudfake_py" -c 'import datetime,sys,time; t=datetime.datetime.strptime(sys.argv[1], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp(); print(3500 < t - time.time() <= 3600)' "$sts_exp")" True
assume sts_bad "not-the-token" "$role_arn"
expect "STS with a wrong token: 400 ErrorResponse InvalidIdentityToken" \
  "$code $(xml sts_bad ErrorResponse/Error/Code)" "400 InvalidIdentityToken"
assume sts_role "$wit" arn:aws:iam::123456789012:role/other
expect "STS for another role: 403 AccessDenied" "$code $(xml sts_role ErrorResponse/Error/Code)" "403 AccessDenied"
sm_user="$sts_akid:$sts_secret"
sm sm_sts "$sagemaker" DescribeTrainingJob '{"TrainingJobName":"skein-uid1-train-1"}' -H "x-amz-security-token: $sts_token"
expect "STS keys with their session token on the fake SageMaker: 200" "$code" 200
sm sm_sts_notoken "$sagemaker" DescribeTrainingJob '{"TrainingJobName":"skein-uid1-train-1"}'
expect "STS keys without the session token: 403 UnrecognizedClientException" "$code $(jb sm_sts_notoken 'doc["__type"]')" "403 UnrecognizedClientException"
cloudfake_config cf sagemaker '{"expire_credentials": true}'
sm sm_sts_expired "$sagemaker" DescribeTrainingJob '{"TrainingJobName":"skein-uid1-train-1"}' -H "x-amz-security-token: $sts_token"
expect "expired session keys: ExpiredTokenException" "$code $(jb sm_sts_expired 'doc["__type"]')" "400 ExpiredTokenException"
sm_user="$akid:$secret"
show sts_ok

# ---------------------------------------------------------------------------
# 9. IMDSv2 and container credentials.
failures_before=$failures
http imds_tok -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' "$imds/latest/api/token"
expect "IMDSv2 PUT token: 200" "$code" 200
itok=$(cat "$tmp/imds_tok.body")
http imds_nottl -X PUT "$imds/latest/api/token"
expect "IMDSv2 PUT token without a TTL: 400" "$code" 400
http imds_v1 "$imds/latest/meta-data/iam/security-credentials/"
expect "IMDS without a session token: 401" "$code" 401
http imds_roles -H "X-aws-ec2-metadata-token: $itok" "$imds/latest/meta-data/iam/security-credentials/"
expect "IMDS role list" "$code $(cat "$tmp/imds_roles.body")" "200 skein-test-role"
http imds_creds -H "X-aws-ec2-metadata-token: $itok" "$imds/latest/meta-data/iam/security-credentials/skein-test-role"
expect "IMDS credentials: Success, ASIA key, ISO 8601 expiry" \
  "$code $(jb imds_creds 'doc["Code"] + " " + doc["AccessKeyId"][:4] + " " + str(doc["Expiration"].endswith("Z"))')" "200 Success ASIA True"
sm_user="$(jb imds_creds 'doc["AccessKeyId"]'):$(jb imds_creds 'doc["SecretAccessKey"]')"
sm sm_imds "$sagemaker" DescribeTrainingJob '{"TrainingJobName":"skein-uid1-train-1"}' -H "x-amz-security-token: $(jb imds_creds 'doc["Token"]')"
expect "IMDS keys on the fake SageMaker: 200" "$code" 200
sm_user="$akid:$secret"
http cc_ok -H "Authorization: $ctok" "$imds/v1/credentials"
expect "container credentials with the token: 200, keys" "$code $(jb cc_ok 'doc["AccessKeyId"][:4]')" "200 ASIA"
http cc_none "$imds/v1/credentials"
expect "container credentials without Authorization: 401" "$code" 401
http cc_wrong -H "Authorization: x$ctok" "$imds/v1/credentials"
expect "container credentials with a wrong token: 401" "$code" 401
show imds_creds

# ---------------------------------------------------------------------------
# 10. moto's SageMaker, what it does and what it lacks (moto 5.2.5).
failures_before=$failures
sm mo_create "$moto" CreateTrainingJob "$(tj_body skein-moto-1)"
expect "moto CreateTrainingJob: ARN" "$code $(jb mo_create 'doc["TrainingJobArn"]')" \
  "200 arn:aws:sagemaker:us-east-1:123456789012:training-job/skein-moto-1"
sm mo_desc "$moto" DescribeTrainingJob '{"TrainingJobName":"skein-moto-1"}'
expect "moto DescribeTrainingJob: Completed at once, with artifacts" \
  "$code $(jb mo_desc 'doc["TrainingJobStatus"] + " " + doc["ModelArtifacts"]["S3ModelArtifacts"][:5]')" "200 Completed s3://"
expect "moto timestamps: epoch numbers (not strings) in this version" "$(jb mo_desc 'type(doc["CreationTime"]).__name__')" float
sm mo_dup "$moto" CreateTrainingJob "$(tj_body skein-moto-1)"
expect "moto lacks ResourceInUse: a duplicate create answers 200" "$code" 200
sm mo_stop "$moto" StopTrainingJob '{"TrainingJobName":"skein-moto-1"}'
expect "moto lacks StopTrainingJob: 500" "$code" 500
sm mo_missing "$moto" DescribeTrainingJob '{"TrainingJobName":"nope"}'
expect "moto describe of an unknown job: 400 ValidationException" "$code $(jb mo_missing 'doc["__type"]')" "400 ValidationException"
sm mo_pc "$moto" CreateProcessingJob "$(sed 's/skein-uid1-eval-1/skein-moto-eval-1/' <<<"$pj")"
sm mo_pd "$moto" DescribeProcessingJob '{"ProcessingJobName":"skein-moto-eval-1"}'
expect "moto processing job: Completed at once" "$code $(jb mo_pd 'doc["ProcessingJobStatus"]')" "200 Completed"
sm mo_pstop "$moto" StopProcessingJob '{"ProcessingJobName":"skein-moto-eval-1"}'
sm mo_pd2 "$moto" DescribeProcessingJob '{"ProcessingJobName":"skein-moto-eval-1"}'
expect "moto StopProcessingJob exists (even on a Completed job)" "$code $(jb mo_pd2 'doc["ProcessingJobStatus"]')" "200 Stopped"
sm_user="$akid:wrong$secret"
sm mo_wrongsecret "$moto" DescribeTrainingJob '{"TrainingJobName":"skein-moto-1"}'
sm_user="$akid:$secret"
expect "moto does not check signatures: a wrong secret answers 200" "$code" 200
show mo_create

# ---------------------------------------------------------------------------
# 11. Nothing secret in the fake's own log; it stops when asked.
failures_before=$failures
log=$(cloudfake_dir cf)/stderr.log
leaks=0
for s in "$secret" "$wit" "$ctok" "$gtoken" "$utoken" "$sts_secret" "$sts_token"; do
  if grep -q -F -- "$s" "$log"; then leaks=$((leaks + 1)); fi
done
expect "no secret in the fake's stderr" "$leaks" 0
pid=${_cloudfake_pid[cf]}
cloudfake_stop cf
if gone "$pid"; then ok "cloudfake stopped"; else fail "cloudfake (pid $pid) still runs"; fi

# The stdin rule: a fake whose stdin closes exits by itself.
"$cloudfake_py" "$SKEIN_SOURCE_DIR/tests/cloudfake/cloudfake.py" serve --roles vertex --max-seconds 60 \
  </dev/null >"$tmp/eof.out" 2>"$tmp/eof.err" &
eof_pid=$!
# Exit cleanups read these variables then; each is cleared once its process
# is known to be gone, so a recycled pid is never signalled.
on_exit 'if [[ -n ${eof_pid:-} ]]; then kill "$eof_pid" 2>/dev/null || true; fi'
if wait_for 10 gone "$eof_pid"; then ok "a fake with stdin at EOF exits by itself"; else fail "a fake with stdin at EOF still runs"; fi
wait "$eof_pid" 2>/dev/null && eof_pid=
show eof

# ---------------------------------------------------------------------------
# 12. Start-time faults and config (reapplied on reset), states by elapsed
# time, and the --owner-pid and --max-seconds rules.
failures_before=$failures
cloudfake_start cf2 --roles vertex --vertex-accept-any-token \
  --faults 'vertex=[{"kind": "503", "route": "create", "count": 1}]' \
  --config 'vertex={"advance": "time", "step_seconds": 0.2}'
vertex=$(cloudfake_url cf2 vertex)
gtoken=anything
vx v2_c1 POST "$parent/customJobs" "$(job_body timed '{}')"
vx v2_c2 POST "$parent/customJobs" "$(job_body timed '{}')"
expect "--faults at start: the first create 503, the next 200" "$(jb v2_c1 'doc["error"]["code"]') $code" "503 200"
timed=$(jb v2_c2 'doc["name"]')
timed_state() {
  vx v2_get GET "/v1/$timed"
  [[ $(jb v2_get 'doc["state"]') == JOB_STATE_SUCCEEDED ]]
}
if wait_for 10 timed_state; then ok "advance by time: SUCCEEDED after 3 steps of 0.2 s"; else fail "advance by time: still $(jb v2_get 'doc["state"]')"; fi
cloudfake_reset cf2 vertex
vx v2_c3 POST "$parent/customJobs" "$(job_body timed '{}')"
expect "reset reapplies --faults" "$code" 503
cloudfake_stop cf2
sleep 60 &  # a stand-in owner process, killed below (not a wait)
owner=$!
on_exit 'if [[ -n ${owner:-} ]]; then kill "$owner" 2>/dev/null || true; fi'
"$cloudfake_py" "$SKEIN_SOURCE_DIR/tests/cloudfake/cloudfake.py" serve --roles sts --ignore-stdin \
  --owner-pid "$owner" >"$tmp/owner.out" 2>"$tmp/owner.err" &
owned=$!
on_exit 'if [[ -n ${owned:-} ]]; then kill "$owned" 2>/dev/null || true; fi'
wait_for 10 test -s "$tmp/owner.out" || fail "the owned fake did not start"
kill "$owner"
wait "$owner" 2>/dev/null || true
owner=
if wait_for 10 gone "$owned"; then ok "the fake exits when --owner-pid is gone"; else fail "the fake outlived its owner"; fi
wait "$owned" 2>/dev/null && owned=
"$cloudfake_py" "$SKEIN_SOURCE_DIR/tests/cloudfake/cloudfake.py" serve --roles imds --ignore-stdin \
  --max-seconds 1 >"$tmp/max.out" 2>"$tmp/max.err" &
bounded=$!
on_exit 'if [[ -n ${bounded:-} ]]; then kill "$bounded" 2>/dev/null || true; fi'
if wait_for 10 gone "$bounded"; then ok "the fake exits after --max-seconds"; else fail "the fake outlived --max-seconds"; fi
wait "$bounded" 2>/dev/null && bounded=
expect "it says why on stderr" "$(grep -c 'max-seconds' "$tmp/max.err" || true)" 1
show max

finish cloudfake
