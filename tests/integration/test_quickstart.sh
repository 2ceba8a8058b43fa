#!/usr/bin/env bash
# Runs workflows/quickstart.yaml with skeinctl as a user would and checks
# what it promises: every step succeeds, one train instance runs per learning
# rate, the best model lands in the registry as version 1.0, a second run
# registers 1.1, and an unreachable accuracy bar skips registration without
# failing the workflow.
#
# ctest sets SKEINCTL (the binary) and SKEIN_SOURCE_DIR (the source root).
set -euo pipefail

: "${SKEINCTL:?set SKEINCTL to the skeinctl binary}"
: "${SKEIN_SOURCE_DIR:?set SKEIN_SOURCE_DIR to the source root}"
workflow=$SKEIN_SOURCE_DIR/workflows/quickstart.yaml

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The registry param is relative by default, so it lands in the directory
# skeinctl runs from: the scratch directory, never the source tree.
cd "$tmp"
registry=$(pwd -P)/model-registry
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

# Evaluates a Python expression over a `-o json` document. `doc` is the
# Workflow, `status` its status, step(NAME) the record of one step instance
# and instances(STEP) the records of a fan-out's instances, in index order.
# Strings print as they are, anything else as JSON.
cat >"$tmp/jget.py" <<'EOF'
import json
import re
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

def instances(name):
    pattern = re.compile(re.escape(name) + r"-([0-9]+)")
    found = [(int(m.group(1)), r) for r in records
             for m in [pattern.fullmatch(r.get("name", ""))] if m]
    return [r for _, r in sorted(found, key=lambda t: t[0])]

value = eval(sys.argv[2])
print(value if isinstance(value, str) else json.dumps(value))
EOF
jget() {
  python3 "$tmp/jget.py" "$@"
}

# run NAME ARGS...: runs the quickstart into the run directory runs/NAME,
# keeping stdout (the JSON) and stderr (the progress and step logs) apart.
# Sets rc and prints the wall time.
run() {
  local name=$1 start end
  shift
  failures_before=$failures
  start=$(date +%s%N)
  rc=0
  "$SKEINCTL" run "$workflow" -o json --workdir "$tmp/runs/$name" "$@" \
    >"$tmp/$name.json" 2>"$tmp/$name.log" || rc=$?
  end=$(date +%s%N)
  echo "run $name: exit $rc in $(((end - start) / 1000000)) ms"
  if ! python3 -m json.tool "$tmp/$name.json" >/dev/null 2>&1; then
    fail "run $name: stdout is not one JSON document"
    echo "--- stdout of run $name" >&2
    head -c 4000 "$tmp/$name.json" >&2 || true
  fi
}

# show_log NAME: prints the progress and step output of a run, for diagnosis,
# when a check about that run failed.
show_log() {
  [[ $failures -gt $failures_before ]] || return 0
  echo "--- stderr of run $1" >&2
  tail -n 80 "$tmp/$1.log" >&2 || true
}

# check_registered NAME VERSION: the register step of run NAME reported VERSION,
# and that version's directory holds a complete entry written by that run.
check_registered() {
  local name=$1 version=$2 path
  expect "$name: register phase" "$(jget "$tmp/$name.json" 'step("register").get("phase")')" Succeeded
  expect "$name: registered version" \
    "$(jget "$tmp/$name.json" '(step("register").get("outputs") or {}).get("version")')" "$version"
  path=$(jget "$tmp/$name.json" '(step("register").get("outputs") or {}).get("path")')
  expect "$name: registered path" "$path" "$registry/logreg-sgd/base/$version"
  for f in model.json config.json train.log; do
    if [[ -s "$registry/logreg-sgd/base/$version/$f" ]]; then
      echo "ok   $name: $version/$f exists"
    else
      fail "$name: $registry/logreg-sgd/base/$version/$f is missing or empty"
    fi
  done
  if [[ -s "$registry/logreg-sgd/base/$version/config.json" ]]; then
    expect "$name: config.json version" \
      "$(jget "$registry/logreg-sgd/base/$version/config.json" 'doc["version"]')" "$version"
    expect "$name: config.json workflow uid" \
      "$(jget "$registry/logreg-sgd/base/$version/config.json" 'doc["workflow"]["uid"]')" \
      "$(jget "$tmp/$name.json" 'doc["metadata"]["uid"]')"
    expect "$name: config.json test accuracy matches evaluate" \
      "$(jget "$registry/logreg-sgd/base/$version/config.json" '"%.4f" % doc["metrics"]["test_accuracy"]')" \
      "$(jget "$tmp/$name.json" '(step("evaluate").get("outputs") or {}).get("accuracy")')"
  fi
}

# 1. The defaults: three learning rates, the best model registered as 1.0.
run first
expect "first: exit code" "$rc" 0
expect "first: workflow phase" "$(jget "$tmp/first.json" 'status.get("phase")')" Succeeded
expect "first: train instances" "$(jget "$tmp/first.json" 'len(instances("train"))')" 3
expect "first: learning rates of the instances" \
  "$(jget "$tmp/first.json" '[(r.get("outputs") or {}).get("learning_rate") for r in instances("train")]')" \
  '["0.3", "0.1", "0.03"]'
expect "first: every train instance succeeded" \
  "$(jget "$tmp/first.json" 'sorted(set(r.get("phase") for r in instances("train")))')" '["Succeeded"]'
expect "first: train phase" "$(jget "$tmp/first.json" 'step("train").get("phase")')" Succeeded
expect "first: test accuracy clears the default bar of 0.85" \
  "$(jget "$tmp/first.json" 'float((step("evaluate").get("outputs") or {}).get("accuracy", 0)) >= 0.85')" true
check_registered first 1.0
expect "first: summary phase" "$(jget "$tmp/first.json" 'step("summary").get("phase")')" Succeeded
show_log first

# 2. The same again: the registry gains version 1.1, and 1.0 is untouched.
before=$(cksum "$registry"/logreg-sgd/base/1.0/* 2>&1 || true)
run second
expect "second: exit code" "$rc" 0
expect "second: workflow phase" "$(jget "$tmp/second.json" 'status.get("phase")')" Succeeded
check_registered second 1.1
expect "second: version 1.0 unchanged (checksums)" \
  "$(cksum "$registry"/logreg-sgd/base/1.0/* 2>&1 || true)" "$before"
show_log second

# 3. A bar no model can reach: register is Skipped, the workflow still
# succeeds, nothing new is registered. Two learning rates here also show
# that the fan-out follows the parameter.
run gated -p min_accuracy=1.01 -p 'learning_rates=["0.5","0.05"]' -p epochs=3
expect "gated: exit code" "$rc" 0
expect "gated: workflow phase" "$(jget "$tmp/gated.json" 'status.get("phase")')" Succeeded
expect "gated: train instances" "$(jget "$tmp/gated.json" 'len(instances("train"))')" 2
expect "gated: learning rates of the instances" \
  "$(jget "$tmp/gated.json" '[(r.get("outputs") or {}).get("learning_rate") for r in instances("train")]')" \
  '["0.5", "0.05"]'
expect "gated: evaluate phase" "$(jget "$tmp/gated.json" 'step("evaluate").get("phase")')" Succeeded
expect "gated: register phase" "$(jget "$tmp/gated.json" 'step("register").get("phase")')" Skipped
expect "gated: summary phase" "$(jget "$tmp/gated.json" 'step("summary").get("phase")')" Succeeded
expect "gated: registry versions" "$(ls "$registry/logreg-sgd/base" | tr '\n' ' ')" "1.0 1.1 "
if grep -q "not registered: test accuracy" "$tmp/gated.log"; then
  echo "ok   gated: the summary says why nothing was registered"
else
  fail "gated: the summary does not say why nothing was registered"
fi
show_log gated

if [[ $failures -ne 0 ]]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all quickstart checks passed"
