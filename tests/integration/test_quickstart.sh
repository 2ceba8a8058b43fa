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
. "${SKEIN_SOURCE_DIR:?set SKEIN_SOURCE_DIR to the source root}/tests/lib/testlib.sh"
workflow=$SKEIN_SOURCE_DIR/workflows/quickstart.yaml

scratch_dir
# The registry param is relative by default, so it lands in the directory
# skeinctl runs from: the scratch directory, never the source tree.
cd "$tmp"
registry=$(pwd -P)/model-registry

# run NAME ARGS...: runs the quickstart into the run directory runs/NAME,
# keeping stdout (the JSON, in $tmp/NAME.out) and stderr (the progress and
# step logs, in $tmp/NAME.err) apart. Sets rc and prints the wall time.
run() {
  local name=$1
  shift
  failures_before=$failures
  capture "$name" "$SKEINCTL" run "$workflow" -o json --workdir "$tmp/runs/$name" "$@"
  is_json -q "$name"
}

# check_registered NAME VERSION: the register step of run NAME reported VERSION,
# and that version's directory holds a complete entry written by that run.
check_registered() {
  local name=$1 version=$2 path
  expect "$name: register phase" "$(jget "$tmp/$name.out" 'step("register").get("phase")')" Succeeded
  expect "$name: registered version" \
    "$(jget "$tmp/$name.out" '(step("register").get("outputs") or {}).get("version")')" "$version"
  path=$(jget "$tmp/$name.out" '(step("register").get("outputs") or {}).get("path")')
  expect "$name: registered path" "$path" "$registry/logreg-sgd/base/$version"
  for f in model.json config.json train.log; do
    if [[ -s "$registry/logreg-sgd/base/$version/$f" ]]; then
      ok "$name: $version/$f exists"
    else
      fail "$name: $registry/logreg-sgd/base/$version/$f is missing or empty"
    fi
  done
  if [[ -s "$registry/logreg-sgd/base/$version/config.json" ]]; then
    expect "$name: config.json version" \
      "$(jget "$registry/logreg-sgd/base/$version/config.json" 'doc["version"]')" "$version"
    expect "$name: config.json workflow uid" \
      "$(jget "$registry/logreg-sgd/base/$version/config.json" 'doc["workflow"]["uid"]')" \
      "$(jget "$tmp/$name.out" 'doc["metadata"]["uid"]')"
    expect "$name: config.json test accuracy matches evaluate" \
      "$(jget "$registry/logreg-sgd/base/$version/config.json" '"%.4f" % doc["metrics"]["test_accuracy"]')" \
      "$(jget "$tmp/$name.out" '(step("evaluate").get("outputs") or {}).get("accuracy")')"
  fi
}

# 1. The defaults: three learning rates, the best model registered as 1.0.
run first
expect "first: exit code" "$rc" 0
expect "first: workflow phase" "$(jget "$tmp/first.out" 'status.get("phase")')" Succeeded
expect "first: train instances" "$(jget "$tmp/first.out" 'len(instances("train"))')" 3
expect "first: learning rates of the instances" \
  "$(jget "$tmp/first.out" '[(r.get("outputs") or {}).get("learning_rate") for r in instances("train")]')" \
  '["0.3", "0.1", "0.03"]'
expect "first: every train instance succeeded" \
  "$(jget "$tmp/first.out" 'sorted(set(r.get("phase") for r in instances("train")))')" '["Succeeded"]'
expect "first: train phase" "$(jget "$tmp/first.out" 'step("train").get("phase")')" Succeeded
expect "first: test accuracy clears the default bar of 0.85" \
  "$(jget "$tmp/first.out" 'float((step("evaluate").get("outputs") or {}).get("accuracy", 0)) >= 0.85')" true
check_registered first 1.0
expect "first: summary phase" "$(jget "$tmp/first.out" 'step("summary").get("phase")')" Succeeded
show first 80

# 2. The same again: the registry gains version 1.1, and 1.0 is untouched.
before=$(cksum "$registry"/logreg-sgd/base/1.0/* 2>&1 || true)
run second
expect "second: exit code" "$rc" 0
expect "second: workflow phase" "$(jget "$tmp/second.out" 'status.get("phase")')" Succeeded
check_registered second 1.1
expect "second: version 1.0 unchanged (checksums)" \
  "$(cksum "$registry"/logreg-sgd/base/1.0/* 2>&1 || true)" "$before"
show second 80

# 3. A bar no model can reach: register is Skipped, the workflow still
# succeeds, nothing new is registered. Two learning rates here also show
# that the fan-out follows the parameter.
run gated -p min_accuracy=1.01 -p 'learning_rates=["0.5","0.05"]' -p epochs=3
expect "gated: exit code" "$rc" 0
expect "gated: workflow phase" "$(jget "$tmp/gated.out" 'status.get("phase")')" Succeeded
expect "gated: train instances" "$(jget "$tmp/gated.out" 'len(instances("train"))')" 2
expect "gated: learning rates of the instances" \
  "$(jget "$tmp/gated.out" '[(r.get("outputs") or {}).get("learning_rate") for r in instances("train")]')" \
  '["0.5", "0.05"]'
expect "gated: evaluate phase" "$(jget "$tmp/gated.out" 'step("evaluate").get("phase")')" Succeeded
expect "gated: register phase" "$(jget "$tmp/gated.out" 'step("register").get("phase")')" Skipped
expect "gated: summary phase" "$(jget "$tmp/gated.out" 'step("summary").get("phase")')" Succeeded
expect "gated: registry versions" "$(ls "$registry/logreg-sgd/base" | tr '\n' ' ')" "1.0 1.1 "
if grep -q "not registered: test accuracy" "$tmp/gated.err"; then
  ok "gated: the summary says why nothing was registered"
else
  fail "gated: the summary does not say why nothing was registered"
fi
show gated 80

finish quickstart
