#!/usr/bin/env bash
# Second command of the README, and all that .ci/run does: runs every test.
#
#   1. the normal build (-Werror) and its unit and integration tests;
#   2. the same suite built with clang under AddressSanitizer and
#      UndefinedBehaviorSanitizer, where any report fails the run;
#   3. each libFuzzer target for a short bounded time on its seed corpus.
#
# SKEIN_FUZZ_SECONDS (default 30) sets the time per fuzz target; 0 skips
# fuzzing. Build trees live in build-test*/ (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
fuzz_seconds=${SKEIN_FUZZ_SECONDS:-30}
jobs=$(nproc 2>/dev/null || echo 2)

scripts/deps.sh --test

passed=0
failed=0
failures=()

# The test cluster's binaries (kube-apiserver, etcd, kwok, ...) are built
# from the Go module proxy once and cached; the e2e tests need them, and the
# first build takes long enough that it belongs here, not inside a test's
# timeout.
echo "== test cluster binaries (tests/cluster/build.sh)"
if ! tests/cluster/build.sh >/dev/null; then
  failures+=("tests/cluster/build.sh")
  failed=$((failed + 1))
fi

# Runs ctest in a build tree and adds its counts to the totals.
run_ctest() {
  local label=$1 dir=$2 log
  log=$(mktemp)
  echo "== $label: ctest"
  if (cd "$dir" && ctest --output-on-failure -j "$jobs") >"$log" 2>&1; then :; fi
  cat "$log"
  local total fail
  total=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\2/p' "$log" | tail -1)
  fail=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\1/p' "$log" | tail -1)
  if [[ -z "$total" ]]; then
    failures+=("$label: ctest did not run")
    failed=$((failed + 1))
  else
    passed=$((passed + total - fail))
    failed=$((failed + fail))
    ((fail == 0)) || failures+=("$label: $fail failed")
  fi
  rm -f "$log"
}

echo "== build (gcc, -Werror)"
cmake -S . -B build-test -G Ninja -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-test
run_ctest "gcc" build-test

echo "== build (clang, ASan+UBSan)"
CC=clang cmake -S . -B build-test-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DSKEIN_ASAN=ON -DSKEIN_UBSAN=ON >/dev/null
cmake --build build-test-asan
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_ctest "asan+ubsan" build-test-asan

if ((fuzz_seconds > 0)); then
  echo "== fuzz (libFuzzer, ${fuzz_seconds}s per target)"
  CC=clang cmake -S . -B build-test-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DSKEIN_FUZZ=ON -DSKEIN_ASAN=ON -DSKEIN_UBSAN=ON >/dev/null
  cmake --build build-test-fuzz
  for bin in build-test-fuzz/tests/fuzz_*; do
    [[ -x "$bin" ]] || continue
    name=$(basename "$bin")
    seeds="$root/tests/fuzz/corpus/${name#fuzz_}"
    work=$(mktemp -d)
    # New inputs go to a scratch directory; the seed corpus in the repo is read only.
    if "$bin" -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=0 "$work" "$seeds" >"$work.log" 2>&1; then
      echo "ok   $name ($(grep -o 'Done [0-9]* runs' "$work.log" | tail -1))"
      passed=$((passed + 1))
    else
      echo "FAIL $name"
      tail -40 "$work.log"
      failed=$((failed + 1))
      failures+=("fuzz: $name")
    fi
    rm -rf "$work" "$work.log"
  done
fi

echo
for f in "${failures[@]}"; do echo "failed: $f"; done
echo "$passed passed, $failed failed"
((failed == 0))
