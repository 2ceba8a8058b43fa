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
: "${SKEIN_SOURCE_DIR:?set SKEIN_SOURCE_DIR to the source root}"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
failures=0

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# expect DESCRIPTION GOT WANT: compares two strings and prints both on a mismatch.
expect() {
  if [[ "$2" == "$3" ]]; then
    echo "ok   $1 ($2)"
  else
    fail "$1: got '$2', want '$3'"
  fi
}

# Evaluates a Python expression over a `-o json` document: `doc` is the
# Workflow, `status` its status, step(NAME) one step record, and
# spec_step(NAME) a step as written in the spec. Strings print as they are,
# anything else as JSON.
cat >"$tmp/jget.py" <<'EOF'
import json
import sys

with open(sys.argv[1]) as f:
    doc = json.load(f)
status = doc.get("status") or {}
records = status.get("steps") or []

def step(name):
    for r in records:
        if r.get("name") == name:
            return r
    return {}

def spec_step(name):
    spec = doc.get("spec") or {}
    for s in (spec.get("steps") or []) + (spec.get("finally") or []):
        if s.get("name") == name:
            return s
    return {}

value = eval(sys.argv[2])
print(value if isinstance(value, str) else json.dumps(value))
EOF
jget() {
  python3 "$tmp/jget.py" "$@"
}

# run NAME FILE ARGS...: runs an example into runs/NAME with -o json; sets rc.
run() {
  local name=$1 file=$2 start end
  shift 2
  failures_before=$failures
  start=$(date +%s%N)
  rc=0
  "$SKEINCTL" run "$SKEIN_SOURCE_DIR/workflows/$file" -o json --workdir "$tmp/runs/$name" "$@" \
    >"$tmp/$name.json" 2>"$tmp/$name.log" || rc=$?
  end=$(date +%s%N)
  echo "run $name: exit $rc in $(((end - start) / 1000000)) ms"
  if ! python3 -m json.tool "$tmp/$name.json" >/dev/null 2>&1; then
    fail "run $name: stdout is not one JSON document"
    head -c 4000 "$tmp/$name.json" >&2 || true
  fi
}

# show_log NAME: prints a run's progress and step output when a check about it failed.
show_log() {
  [[ $failures -gt $failures_before ]] || return 0
  echo "--- stderr of run $1" >&2
  tail -n 80 "$tmp/$1.log" >&2 || true
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
expect "retry: workflow phase" "$(jget "$tmp/retry.json" 'status.get("phase")')" Succeeded
expect "retry: download phase" "$(jget "$tmp/retry.json" 'step("download").get("phase")')" Succeeded
expect "retry: download attempts" "$(jget "$tmp/retry.json" 'step("download").get("attempt")')" 3
expect "retry: download reports its attempt" \
  "$(jget "$tmp/retry.json" '(step("download").get("outputs") or {}).get("attempts")')" 3
expect "retry: process phase" "$(jget "$tmp/retry.json" 'step("process").get("phase")')" Succeeded
expect "retry: process read the downloaded file" \
  "$(jget "$tmp/retry.json" '(step("process").get("outputs") or {}).get("rows")')" 3
expect "retry: process attempts" "$(jget "$tmp/retry.json" 'step("process").get("attempt")')" 1
expect "retry: always-fails phase" "$(jget "$tmp/retry.json" 'step("always-fails").get("phase")')" Skipped
expect "retry: report phase" "$(jget "$tmp/retry.json" 'step("report").get("phase")')" Succeeded
show_log retry

# 3. retry-demo with -p fail=true: always-fails runs limit+1 times and fails
# the workflow; the independent steps and the finally step still run.
run doomed retry-demo.yaml -p fail=true
expect "doomed: exit code" "$rc" 1
expect "doomed: workflow phase" "$(jget "$tmp/doomed.json" 'status.get("phase")')" Failed
limit=$(jget "$tmp/doomed.json" 'spec_step("always-fails").get("retry", {}).get("limit")') || limit=unknown
expect "doomed: always-fails retry limit as written" "$limit" 2
expect "doomed: always-fails phase" "$(jget "$tmp/doomed.json" 'step("always-fails").get("phase")')" Failed
expect "doomed: always-fails attempts (limit+1)" \
  "$(jget "$tmp/doomed.json" 'step("always-fails").get("attempt")')" \
  "$(if [[ $limit =~ ^[0-9]+$ ]]; then echo $((limit + 1)); else echo "limit+1"; fi)"
expect "doomed: failure message carries the step's last stderr line" \
  "$(jget "$tmp/doomed.json" '"rejected the upload" in (step("always-fails").get("message") or "")')" true
expect "doomed: download phase" "$(jget "$tmp/doomed.json" 'step("download").get("phase")')" Succeeded
expect "doomed: process phase" "$(jget "$tmp/doomed.json" 'step("process").get("phase")')" Succeeded
expect "doomed: report phase" "$(jget "$tmp/doomed.json" 'step("report").get("phase")')" Succeeded
show_log doomed

if [[ $failures -ne 0 ]]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all example checks passed"
