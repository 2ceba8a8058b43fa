#!/usr/bin/env bash
# skeinctl validate over the corpus: every tests/corpus/invalid/*.yaml exits 1
# and prints exactly the lines of its .expected file on stderr (run from the
# source root, so the file names match); every tests/corpus/valid/*.yaml
# exits 0 with "FILE: valid (N documents)". Then the mixed cases: several
# files at once, an unreadable file (exit 2), an empty file.
#
# ctest sets SKEINCTL (the binary) and SKEIN_SOURCE_DIR (the source root).
set -euo pipefail

: "${SKEINCTL:?set SKEINCTL to the skeinctl binary}"
. "${SKEIN_SOURCE_DIR:?set SKEIN_SOURCE_DIR to the source root}/tests/lib/testlib.sh"

scratch_dir

# validate FILE...: runs skeinctl validate; sets rc, and leaves stdout and
# stderr in $tmp/out and $tmp/err.
validate() {
  rc=0
  "$SKEINCTL" validate "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
}

cd "$SKEIN_SOURCE_DIR"

shopt -s nullglob
invalid=(tests/corpus/invalid/*.yaml)
valid=(tests/corpus/valid/*.yaml)
shopt -u nullglob
[[ ${#invalid[@]} -gt 0 ]] || fail "no files in tests/corpus/invalid"
[[ ${#valid[@]} -gt 0 ]] || fail "no files in tests/corpus/valid"

# 1. Each invalid file: exit 1, exactly the expected diagnostics, nothing on stdout.
for f in "${invalid[@]}"; do
  expected=${f%.yaml}.expected
  if [[ ! -f $expected ]]; then
    fail "$f has no ${expected##*/}"
    continue
  fi
  validate "$f"
  expect "$f: exit code" "$rc" 1
  if diff -u "$expected" "$tmp/err" >"$tmp/diff"; then
    ok "$f: stderr matches ${expected##*/} ($(wc -l <"$expected") lines)"
  else
    fail "$f: stderr differs from ${expected##*/}:"
    cat "$tmp/diff" >&2
  fi
  expect "$f: stdout" "$(cat "$tmp/out")" ""
done

# 2. Each valid file: exit 0, the "valid" line, nothing on stderr.
for f in "${valid[@]}"; do
  validate "$f"
  expect "$f: exit code" "$rc" 0
  if [[ $(cat "$tmp/out") =~ ^"$f: valid ("[0-9]+" document"s?")"$ ]]; then
    ok "$f: $(cat "$tmp/out")"
  else
    fail "$f: stdout is '$(cat "$tmp/out")', want '$f: valid (N documents)'"
  fi
  expect "$f: stderr" "$(cat "$tmp/err")" ""
done

# 3. All valid files at once: exit 0 and one line each.
validate "${valid[@]}"
expect "all valid files: exit code" "$rc" 0
expect "all valid files: lines on stdout" "$(wc -l <"$tmp/out")" "${#valid[@]}"

# 4. A valid and an invalid file: exit 1, the valid one is still reported.
if [[ ${#invalid[@]} -gt 0 && ${#valid[@]} -gt 0 ]]; then
  validate "${valid[0]}" "${invalid[0]}"
  expect "valid + invalid: exit code" "$rc" 1
  expect "valid + invalid: the valid file is reported" \
    "$(grep -c "^${valid[0]}: valid" "$tmp/out" || true)" 1
  if diff -u "${invalid[0]%.yaml}.expected" "$tmp/err" >"$tmp/diff"; then
    ok "valid + invalid: the invalid file's diagnostics"
  else
    fail "valid + invalid: the invalid file's diagnostics differ:"
    cat "$tmp/diff" >&2
  fi
fi

# 5. A file that does not exist: exit 2 with a message naming it, even next
# to invalid and valid files (whose problems are still printed).
validate "$tmp/no-such-file.yaml"
expect "missing file: exit code" "$rc" 2
if grep -q "no-such-file.yaml" "$tmp/err"; then
  ok "missing file: the message names it: $(head -n 1 "$tmp/err")"
else
  fail "missing file: stderr does not name the file: $(cat "$tmp/err")"
fi
if [[ ${#invalid[@]} -gt 0 && ${#valid[@]} -gt 0 ]]; then
  validate "${valid[0]}" "$tmp/no-such-file.yaml" "${invalid[0]}"
  expect "missing + invalid + valid: exit code" "$rc" 2
  expect "missing + invalid + valid: the valid file is reported" \
    "$(grep -c "^${valid[0]}: valid" "$tmp/out" || true)" 1
  expect "missing + invalid + valid: the invalid file's diagnostics are printed" \
    "$(grep -c "^${invalid[0]}:" "$tmp/err" || true)" "$(wc -l <"${invalid[0]%.yaml}.expected")"
fi

# 6. An empty file holds no Workflow: invalid, with a message.
: >"$tmp/empty.yaml"
validate "$tmp/empty.yaml"
expect "empty file: exit code" "$rc" 1
expect "empty file: message" "$(cat "$tmp/err")" \
  "$tmp/empty.yaml: the file holds no documents (expected a Workflow or WorkflowTemplate)"

# 7. No file at all is a usage error.
validate
expect "no FILE: exit code" "$rc" 2

finish validate
