#!/usr/bin/env bash
# The command line and everything `skeinctl run` refuses before running
# anything: usage errors (exit 2, usage on stderr), help and version
# (exit 0), an unknown -p (exit 2 naming the declared params), a required
# param without a value, steps that cannot run on this machine (a vertex
# step, a valueFrom, a pod without a command), an invalid or missing file,
# a file without a Workflow, and a run directory that already holds a run.
# None of the refused runs may leave a run directory behind.
#
# ctest sets SKEINCTL (the binary) and SKEIN_SOURCE_DIR (the source root).
set -euo pipefail

: "${SKEINCTL:?set SKEINCTL to the skeinctl binary}"
. "${SKEIN_SOURCE_DIR:?set SKEIN_SOURCE_DIR to the source root}/tests/lib/testlib.sh"
wf=$SKEIN_SOURCE_DIR/tests/integration/workflows

scratch_dir
cd "$tmp"

# sk ARGS...: runs skeinctl; sets rc, and leaves stdout and stderr in
# $tmp/out and $tmp/err.
sk() {
  rc=0
  "$SKEINCTL" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null || rc=$?
}

# has FILE TEXT DESCRIPTION: FILE holds TEXT (a fixed string).
has() {
  if grep -qF -- "$2" "$1"; then
    ok "$3"
  else
    fail "$3: ${1##*/} lacks '$2'; it holds:"
    cat "$1" >&2
  fi
}

# usage_error DESCRIPTION ARGS...: exit 2, a message and the usage on stderr,
# nothing on stdout.
usage_error() {
  local what=$1
  shift
  sk "$@"
  expect "$what: exit code" "$rc" 2
  has "$tmp/err" "usage: skeinctl" "$what: usage on stderr"
  expect "$what: stdout" "$(cat "$tmp/out")" ""
}

# 1. Usage errors.
usage_error "no command"
usage_error "unknown command" frobnicate
has "$tmp/err" 'skeinctl: unknown command "frobnicate"' "unknown command: message"
usage_error "unknown global flag" --frobnicate
usage_error "run without FILE" run
usage_error "run with an unknown flag" run "$wf/env.yaml" --frobnicate
has "$tmp/err" 'skeinctl: run: unknown flag "--frobnicate"' "unknown run flag: message"
has "$tmp/err" "--workdir DIR" "unknown run flag: the run usage is shown"
usage_error "run with two files" run "$wf/env.yaml" "$wf/env.yaml"
usage_error "-p without =" run "$wf/env.yaml" -p mode
usage_error "-p without a value" run "$wf/env.yaml" -p
usage_error "unknown output format" run "$wf/env.yaml" -o yaml
usage_error "--resume with a FILE" run "$wf/env.yaml" --resume somewhere
usage_error "--resume with -p" run --resume somewhere -p a=b
usage_error "validate with an unknown flag" validate --strict "$wf/env.yaml"
usage_error "version with an argument" version extra
usage_error "help for an unknown command" help frobnicate

# 2. Help and version: exit 0, on stdout.
for args in "--help" "help" "-h"; do
  sk $args
  expect "skeinctl $args: exit code" "$rc" 0
  has "$tmp/out" "usage: skeinctl COMMAND" "skeinctl $args: the overview"
done
for args in "run --help" "help run" "run $wf/env.yaml --help"; do
  sk $args
  expect "skeinctl $args: exit code" "$rc" 0
  has "$tmp/out" "usage: skeinctl run FILE" "skeinctl $args: the run usage"
done
sk validate --help
expect "validate --help: exit code" "$rc" 0
has "$tmp/out" "usage: skeinctl validate FILE" "validate --help: the validate usage"
sk version
expect "version: exit code" "$rc" 0
if [[ $(cat "$tmp/out") =~ ^skeinctl\ [0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  ok "version: $(cat "$tmp/out")"
else
  fail "version: stdout is '$(cat "$tmp/out")'"
fi

# 3. Parameters: an unknown name, a required one without a value.
sk run "$wf/required.yaml" -p dataset=mnist -p datset=x
expect "unknown -p: exit code" "$rc" 2
expect "unknown -p: message" "$(cat "$tmp/err")" \
  "unknown parameter \"datset\": $wf/required.yaml declares dataset, epochs"
sk run "$wf/required.yaml"
expect "required param: exit code" "$rc" 2
expect "required param: message" "$(cat "$tmp/err")" \
  'parameter "dataset" is required: pass -p dataset=VALUE'
sk run "$wf/signal.yaml" -p x=1
expect "-p for a workflow without params: exit code" "$rc" 2
expect "-p for a workflow without params: message" "$(cat "$tmp/err")" \
  "unknown parameter \"x\": $wf/signal.yaml declares no parameters"
# The required param given: it runs, and the value reaches the step.
sk run "$wf/required.yaml" -p dataset=mnist -p epochs=7 -o json --workdir "$tmp/req"
expect "required param given: exit code" "$rc" 0
expect "required param given: the step saw it" \
  "$(jget "$tmp/out" 'step("use")["outputs"]["dataset"]')" \
  mnist
expect "required param given: recorded in the Workflow" \
  "$(jget "$tmp/req/workflow.json" '",".join(p["name"] + "=" + p.get("value", "") for p in doc["spec"]["params"])')" \
  "dataset=mnist,epochs=7"

# 4. Steps that cannot run here: every problem, in one go.
sk run "$wf/not-local.yaml"
expect "not-local: exit code" "$rc" 2
expect "not-local: messages" "$(cat "$tmp/err")" \
  'step "deploy" is a resource step: it creates or changes Kubernetes objects, so it needs a cluster; skeinctl run supports pod, vertex and sagemaker steps
step "upload": env variable "TOKEN" uses valueFrom, which reads Secrets, ConfigMaps or Pod fields from a cluster; skeinctl run supports only env values
step "entry" has no command: locally there is no image entrypoint to fall back on, so a pod step needs pod.command'
expect "not-local: stdout" "$(cat "$tmp/out")" ""

# 5. Files: missing, invalid, without a Workflow.
sk run "$tmp/no-such.yaml"
expect "missing file: exit code" "$rc" 2
has "$tmp/err" "no-such.yaml" "missing file: the message names it"
cat >"$tmp/invalid.yaml" <<'EOF'
apiVersion: skein.dev/v1alpha1
kind: Workflow
metadata: {name: invalid}
spec:
  steps:
    - name: Bad_Name
      pod: {image: alpine, command: [true]}
EOF
sk run "$tmp/invalid.yaml"
expect "invalid file: exit code" "$rc" 2
has "$tmp/err" "$tmp/invalid.yaml:6:" "invalid file: a diagnostic with its position"
cat >"$tmp/template.yaml" <<'EOF'
apiVersion: skein.dev/v1alpha1
kind: WorkflowTemplate
metadata: {name: only-a-template}
spec:
  workflow:
    steps:
      - name: a
        pod: {image: alpine, command: [echo, hi]}
EOF
sk run "$tmp/template.yaml"
expect "no Workflow: exit code" "$rc" 2
has "$tmp/err" "no Workflow document" "no Workflow: message"

# 6. Nothing was left behind by the refused runs.
expect "refused runs leave no .skein directory" "$(ls -A "$tmp" | grep -c '^.skein$' || true)" 0

# 7. A run directory that already holds a run is refused; --resume of a
# directory without a run too.
sk run "$wf/required.yaml" -p dataset=a --workdir "$tmp/req"
expect "workdir holds a run: exit code" "$rc" 2
has "$tmp/err" "already holds a run; continue it with \`skeinctl run --resume $tmp/req\`" \
  "workdir holds a run: message"
sk run --resume "$tmp/nothing-here"
expect "resume of a missing directory: exit code" "$rc" 2
has "$tmp/err" "no such run directory" "resume of a missing directory: message"
mkdir "$tmp/empty-dir"
sk run --resume "$tmp/empty-dir"
expect "resume of an empty directory: exit code" "$rc" 2
has "$tmp/err" "holds no run to resume" "resume of an empty directory: message"

finish cli
