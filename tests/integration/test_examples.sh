#!/usr/bin/env bash
# Checks the examples under workflows/ other than the quickstart (which
# test_quickstart.sh covers): every example validates, and retry-demo shows
# both retry behaviours — a flaky step that succeeds on its third attempt,
# and, with -p fail=true, a step that exhausts its retries and fails the
# workflow (exit 1) with limit+1 attempts recorded.
#
# ctest sets SKEINCTL (the binary) and SKEIN_SOURCE_DIR (the source root).
set -euo pipefail

: "${SKEINCTL:?set SKEINCTL to the skeinctl binary}"
. "${SKEIN_SOURCE_DIR:?set SKEIN_SOURCE_DIR to the source root}/tests/lib/testlib.sh"

scratch_dir
cd "$tmp"

# run NAME FILE ARGS...: runs an example into runs/NAME with -o json, its
# stdout (the JSON) in $tmp/NAME.out and its stderr (progress and step logs)
# in $tmp/NAME.err; sets rc.
run() {
  local name=$1 file=$2
  shift 2
  failures_before=$failures
  capture "$name" "$SKEINCTL" run "$SKEIN_SOURCE_DIR/workflows/$file" -o json --workdir "$tmp/runs/$name" "$@"
  is_json -q "$name"
}

# 1. Every example is a valid Workflow.
for f in "$SKEIN_SOURCE_DIR"/workflows/*.yaml; do
  rc=0
  out=$("$SKEINCTL" validate "$f" 2>&1) || rc=$?
  expect "validate ${f##*/}" "$rc" 0
  [[ $rc -eq 0 ]] || echo "$out" >&2
done

# 2. retry-demo with its defaults: download fails twice and succeeds on
# attempt 3, its dependent runs with its outputs, always-fails is skipped.
run retry retry-demo.yaml
expect "retry: exit code" "$rc" 0
expect "retry: workflow phase" "$(jget "$tmp/retry.out" 'status.get("phase")')" Succeeded
expect "retry: download phase" "$(jget "$tmp/retry.out" 'step("download").get("phase")')" Succeeded
expect "retry: download attempts" "$(jget "$tmp/retry.out" 'step("download").get("attempt")')" 3
expect "retry: download reports its attempt" \
  "$(jget "$tmp/retry.out" '(step("download").get("outputs") or {}).get("attempts")')" 3
expect "retry: process phase" "$(jget "$tmp/retry.out" 'step("process").get("phase")')" Succeeded
expect "retry: process read the downloaded file" \
  "$(jget "$tmp/retry.out" '(step("process").get("outputs") or {}).get("rows")')" 3
expect "retry: process attempts" "$(jget "$tmp/retry.out" 'step("process").get("attempt")')" 1
expect "retry: always-fails phase" "$(jget "$tmp/retry.out" 'step("always-fails").get("phase")')" Skipped
expect "retry: report phase" "$(jget "$tmp/retry.out" 'step("report").get("phase")')" Succeeded
show retry 80

# 3. retry-demo with -p fail=true: always-fails runs limit+1 times and fails
# the workflow; the independent steps and the finally step still run.
run doomed retry-demo.yaml -p fail=true
expect "doomed: exit code" "$rc" 1
expect "doomed: workflow phase" "$(jget "$tmp/doomed.out" 'status.get("phase")')" Failed
limit=$(jget "$tmp/doomed.out" 'spec_step("always-fails").get("retry", {}).get("limit")') || limit=unknown
expect "doomed: always-fails retry limit as written" "$limit" 2
expect "doomed: always-fails phase" "$(jget "$tmp/doomed.out" 'step("always-fails").get("phase")')" Failed
expect "doomed: always-fails attempts (limit+1)" \
  "$(jget "$tmp/doomed.out" 'step("always-fails").get("attempt")')" \
  "$(if [[ $limit =~ ^[0-9]+$ ]]; then echo $((limit + 1)); else echo "limit+1"; fi)"
expect "doomed: failure message carries the step's last stderr line" \
  "$(jget "$tmp/doomed.out" '"rejected the upload" in (step("always-fails").get("message") or "")')" true
expect "doomed: download phase" "$(jget "$tmp/doomed.out" 'step("download").get("phase")')" Succeeded
expect "doomed: process phase" "$(jget "$tmp/doomed.out" 'step("process").get("phase")')" Succeeded
expect "doomed: report phase" "$(jget "$tmp/doomed.out" 'step("report").get("phase")')" Succeeded
show doomed 80

finish example
