#!/usr/bin/env bash
# The install manifests against a real kube-apiserver (tests/cluster/):
#
# - the CRDs are accepted, structural and Established;
# - every valid Workflow and WorkflowTemplate in the repository passes a
#   server-side dry run with --validate=strict (no field pruned, no warning);
# - structurally malformed ones are refused with a message naming the field,
#   CEL rules included, and the server does what the validator does with null;
# - the status skeinctl writes for a real run is accepted by the status
#   subresource, and `kubectl get swf` shows it in the printer columns;
# - `kubectl explain` prints the schema's descriptions;
# - `kubectl apply -k manifests/` passes a dry run and then applies, with no
#   Pod Security warning for the Deployment;
# - `kubectl auth can-i` as skeind's ServiceAccount: yes for what it needs,
#   no for Secrets, Deployments, Nodes, pods/exec, other Leases.
#
# Needs the binaries of tests/cluster/build.sh (built on first use) and
# python3. SKEINCTL names the skeinctl binary (default build/skeinctl).
# Exits 0 only when every check passes.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
skeinctl=${SKEINCTL:-$repo/build/skeinctl}
if [[ ! -x "$skeinctl" ]]; then
  echo "FAIL: no skeinctl at $skeinctl: build it or set SKEINCTL" >&2
  exit 1
fi

tmp=$(mktemp -d)
cluster=$tmp/cluster
cleanup() {
  "$repo/tests/cluster/stop.sh" "$cluster" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# Only the API server is needed: no Nodes, kwok or scheduler.
if ! SKEIN_CLUSTER_NODES=0 SKEIN_CLUSTER_SCHEDULER=0 \
    "$repo/tests/cluster/start.sh" "$cluster" 2>"$tmp/start.log"; then
  cat "$tmp/start.log" >&2
  echo "FAIL: the test cluster did not start" >&2
  exit 1
fi
# shellcheck source=/dev/null
. "$cluster/env"

failures=0
checks=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
ok() {
  echo "ok   $*"
  checks=$((checks + 1))
}
k() { "$KUBECTL" --kubeconfig="$KUBECONFIG" --request-timeout=30s "$@"; }

# --- the CRDs ---------------------------------------------------------------------

for crd in workflows.skein.dev workflowtemplates.skein.dev; do
  conds=$(k get crd "$crd" -o jsonpath='{range .status.conditions[*]}{.type}={.status} {end}')
  if [[ "$conds" == *"Established=True"* && "$conds" != *"NonStructuralSchema=True"* ]]; then
    ok "$crd is Established and structural ($conds)"
  else
    fail "$crd conditions: $conds"
  fi
done
# Applying them again (as an upgrade would) gives no warning, such as one
# about a CEL rule's cost or an unknown schema field.
if out=$(k apply --dry-run=server -f "$repo/manifests/crds/" 2>&1) &&
    ! grep -qi warning <<<"$out"; then
  ok "re-applying the CRDs: no warnings"
else
  fail "re-applying the CRDs: $out"
fi

# --- every valid example ----------------------------------------------------------

# Turns a file into a JSON List of its documents without the fields a server
# sets (a document read back from a cluster has them, and a create refuses
# resourceVersion), and prints the namespaces they use, one per line, to fd 3.
cat >"$tmp/prepare.py" <<'EOF'
import json
import sys

# kubectl prints one JSON object per document, one after the other.
text = sys.stdin.read()
items = []
pos = 0
decoder = json.JSONDecoder()
while True:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    if pos == len(text):
        break
    doc, pos = decoder.raw_decode(text, pos)
    items.extend(doc["items"] if doc.get("kind") == "List" else [doc])
server_set = ("uid", "resourceVersion", "generation", "creationTimestamp",
              "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields",
              "selfLink")
with open(sys.argv[1], "w") as ns:
    for item in items:
        meta = item.get("metadata") or {}
        for key in server_set:
            meta.pop(key, None)
        ns.write(meta.get("namespace", "default") + "\n")
json.dump({"apiVersion": "v1", "kind": "List", "items": items}, sys.stdout)
EOF

mapfile -t files < <(ls "$repo"/tests/corpus/valid/*.yaml "$repo"/workflows/*.yaml \
  "$repo"/tests/integration/workflows/*.yaml)
accepted=0
for f in "${files[@]}"; do
  rel=${f#"$repo"/}
  if ! "$skeinctl" validate "$f" >/dev/null 2>&1; then
    fail "$rel: skeinctl validate refuses it, but it is meant to be valid"
    continue
  fi
  if ! k create --dry-run=client -o json -f "$f" 2>"$tmp/err" |
      python3 "$tmp/prepare.py" "$tmp/ns" >"$tmp/doc.json"; then
    fail "$rel: cannot convert it to JSON: $(cat "$tmp/err")"
    continue
  fi
  while read -r ns; do
    k get namespace "$ns" >/dev/null 2>&1 || k create namespace "$ns" >/dev/null
  done <"$tmp/ns"
  if out=$(k create --dry-run=server --validate=strict -f "$tmp/doc.json" 2>&1) &&
      ! grep -qi warning <<<"$out"; then
    accepted=$((accepted + 1))
  else
    fail "$rel: the API server refuses it or warns: $out"
  fi
done
if ((accepted == ${#files[@]} && accepted >= 15)); then
  ok "the API server accepts all $accepted valid example files with --validate=strict"
fi

# --- malformed resources ------------------------------------------------------------

# refused NAME REGEX YAML-UNDER-SPEC [KIND]: the server refuses the resource
# with a message matching REGEX.
refused() {
  local name=$1 want=$2 spec=$3 kind=${4:-Workflow} out match
  printf 'apiVersion: skein.dev/v1alpha1\nkind: %s\nmetadata: {name: bad}\nspec:\n%s\n' \
    "$kind" "$spec" >"$tmp/bad.yaml"
  if out=$(k create --dry-run=server --validate=strict -f "$tmp/bad.yaml" 2>&1); then
    fail "malformed ($name) was accepted"
  elif grep -Eq -- "$want" <<<"$out"; then
    match=$(grep -Eo -- "$want" <<<"$out")
    ok "malformed ($name) refused: ${match%%$'\n'*}"
  else
    fail "malformed ($name): want /$want/, got: $out"
  fi
}
step='  steps: [{name: a, pod: {image: x}}]'
refused "wrong type" 'spec.parallelism: Invalid value: "string": spec.parallelism in body must be of type integer' \
  "  parallelism: \"4\"
$step"
refused "bad enum" 'spec.podGC: Unsupported value: "Sometimes"' "  podGC: Sometimes
$step"
refused "missing steps" 'spec.steps: Required value' '  podGC: Never'
refused "empty steps" 'spec.steps: Invalid value: 0: spec.steps in body should have at least 1 items' \
  '  steps: []'
refused "unknown field" 'unknown field "spec.steps\[0\].dependson"' \
  '  steps: [{name: a, dependson: [b], pod: {image: x}}]'
refused "bad step name" 'spec.steps\[0\].name: Invalid value: "Bad_Name"' \
  '  steps: [{name: Bad_Name, pod: {image: x}}]'
refused "duplicate step" 'spec.steps\[1\]: Duplicate value' \
  '  steps: [{name: a, pod: {image: x}}, {name: a, pod: {image: y}}]'
refused "retry out of range" 'spec.steps\[0\].retry.limit: Invalid value: 101: .*less than or equal to 100' \
  '  steps: [{name: a, retry: {limit: 101}, pod: {image: x}}]'
refused "missing image" 'spec.steps\[0\].pod.image: Required value' \
  '  steps: [{name: a, pod: {args: [x]}}]'
refused "param not a string" 'spec.params\[0\].default: Invalid value: "integer"' \
  "  params: [{name: n, default: 5}]
$step"
refused "two kinds (CEL)" 'a step needs exactly one of pod, vertex, sagemaker, resource or rollout' \
  '  steps: [{name: a, pod: {image: x}, resource: {action: apply, manifest: m}}]'
refused "no kind (CEL)" 'a step needs exactly one of pod, vertex, sagemaker, resource or rollout' \
  '  steps: [{name: a}]'
refused "finally step without kind (CEL)" 'spec.finally\[0\]: Invalid value: .*a step needs exactly one' \
  "$step
  finally: [{name: f}]"
refused "backoff cap below first delay (CEL)" 'maxSeconds must not be less than seconds' \
  '  steps: [{name: a, retry: {backoff: {seconds: 10, maxSeconds: 5}}, pod: {image: x}}]'
refused "poll cap below first delay (CEL)" 'maxSeconds must be at least initialSeconds' \
  '  steps: [{name: a, vertex: {customJob: {jobSpec: {workerPoolSpecs: [{}]}}, poll: {initialSeconds: 10, maxSeconds: 5}}}]'
refused "two SageMaker jobs (CEL)" 'set exactly one of trainingJob and processingJob' \
  '  steps: [{name: a, sagemaker: {trainingJob: {}, processingJob: {}}}]'
refused "skeind's own Pod label (CEL)" 'skein.dev/workflow, step, attempt and workflow-uid are set by skeind' \
  '  steps: [{name: a, pod: {image: x, metadata: {labels: {skein.dev/step: a}}}}]'
refused "rollout with nothing to do (CEL)" 'a rollout needs steps' \
  '  steps: [{name: a, rollout: {virtualService: v, stable: {host: s}, canary: {host: c}}}]'
refused "trigger with two kinds (CEL)" 'a trigger needs exactly one of github and schedule' \
  '  workflow: {steps: [{name: a, pod: {image: x}}]}
  triggers: [{name: t, github: {events: [push]}, schedule: {cron: "@daily"}}]' WorkflowTemplate
refused "template without workflow" 'spec.workflow: Required value' \
  '  triggers: [{name: t, schedule: {cron: "@daily"}}]' WorkflowTemplate
many=$(for i in $(seq 1 300); do printf '    - {name: s%d, pod: {image: x}}\n' "$i"; done)
many_fin=$(for i in $(seq 1 201); do printf '    - {name: f%d, pod: {image: x}}\n' "$i"; done)
refused "501 steps with finally (CEL)" 'at most 500 steps, steps and finally together' \
  "  steps:
$many
  finally:
$many_fin"

# A null counts as absent, for the validator and the server alike: an
# optional null is accepted, a required null is missing.
printf 'apiVersion: skein.dev/v1alpha1\nkind: Workflow\nmetadata: {name: nulls}\nspec:\n  parallelism: null\n  steps: [{name: a, when: null, timeoutSeconds: null, pod: {image: x, env: null}}]\n' \
  >"$tmp/nulls.yaml"
if ! "$skeinctl" validate "$tmp/nulls.yaml" >/dev/null 2>&1; then
  fail "skeinctl validate refuses optional nulls"
elif out=$(k create --dry-run=server --validate=strict -f "$tmp/nulls.yaml" 2>&1); then
  ok "optional fields set to null are accepted, as skeinctl validate accepts them"
else
  fail "optional nulls: $out"
fi
refused "required null" 'spec.steps\[0\].pod.image: Required value' \
  '  steps: [{name: a, pod: {image: null}}]'

# --- status and printer columns ------------------------------------------------------

# A real status, as the engine writes it: run quickstart-cluster locally.
if (cd "$tmp" && "$skeinctl" run "$repo/workflows/quickstart-cluster.yaml" -o json \
    --workdir "$tmp/run" >"$tmp/run.json" 2>"$tmp/run.log"); then
  python3 - "$tmp/run.json" >"$tmp/status.json" <<'EOF'
import json
import sys

with open(sys.argv[1]) as f:
    status = json.load(f)["status"]
# The controller adds duration when a workflow ends (the engine does not).
status["duration"] = "2s"
print(json.dumps({"status": status}))
EOF
  k create -f "$repo/tests/corpus/valid/design-workflow.yaml" -n ml \
    --dry-run=client -o json | python3 -c '
import json, sys
d = json.load(sys.stdin)
d["metadata"].pop("generateName", None)
d["metadata"]["name"] = "shown"
json.dump(d, sys.stdout)' >"$tmp/shown.json"
  k create -f "$tmp/shown.json" >/dev/null
  if out=$(k patch workflow shown -n ml --subresource=status --type=merge \
      --patch-file="$tmp/status.json" 2>&1); then
    ok "the status of a real run is accepted by the status subresource"
  else
    fail "status patch: $out"
  fi
  # What was written reads back unpruned: every step record, outputs included.
  cat >"$tmp/summary.py" <<'EOF'
import json
import sys

s = json.load(sys.stdin)["status"]
prepare = [r for r in s["steps"] if r["name"] == "prepare"][0]
print(len(s["steps"]), prepare["outputs"]["fingerprint"], s["phase"], s["progress"])
EOF
  back=$(k get workflow shown -n ml -o json | python3 "$tmp/summary.py")
  want=$(python3 "$tmp/summary.py" <"$tmp/run.json")
  progress=${want##* }
  if [[ "$back" == "$want" ]]; then
    ok "status reads back as written ($back)"
  else
    fail "status read back as '$back', want '$want'"
  fi
  # Whole outputs are read and cut here: `| head` would end kubectl with
  # SIGPIPE, which pipefail turns into a failure.
  table=$(k get swf shown -n ml)
  header=$(tr -s ' ' <<<"${table%%$'\n'*}")
  row=$(k get swf shown -n ml --no-headers | tr -s ' ')
  if [[ "$header" == "NAME PHASE PROGRESS STARTED DURATION AGE" && "$row" == "shown Succeeded $progress "*" 2s "* ]]; then
    ok "kubectl get swf: $header / $row"
  else
    fail "kubectl get swf shows '$header' / '$row'"
  fi
  table=$(k get swf shown -n ml -o wide)
  wide=$(tr -s ' ' <<<"${table%%$'\n'*}")
  [[ "$wide" == *" MESSAGE"* ]] && ok "-o wide adds MESSAGE" || fail "-o wide header: $wide"
  # Writes to the main resource leave the status alone.
  k label workflow shown -n ml checked=yes >/dev/null
  [[ "$(k get swf shown -n ml -o jsonpath='{.status.phase}')" == Succeeded ]] &&
    ok "status survives a write to the main resource" || fail "status lost on a label change"
else
  cat "$tmp/run.log" >&2
  fail "skeinctl run workflows/quickstart-cluster.yaml failed"
fi
if [[ "$(k get skein -A --no-headers 2>/dev/null | wc -l)" -ge 1 ]]; then
  ok "the category skein lists Workflows"
else
  fail "kubectl get skein lists nothing"
fi

# --- kubectl explain --------------------------------------------------------------------

out=$(k explain swf.spec.steps 2>&1) || true
if grep -q "exactly one of pod, vertex" <<<"$out" && grep -q "dependsOn" <<<"$out" &&
    grep -q "Run one container in a Pod" <<<"$out"; then
  ok "kubectl explain swf.spec.steps describes the steps and their fields"
else
  fail "kubectl explain swf.spec.steps: $out"
fi
out=$(k explain swft.spec.triggers.schedule.concurrencyPolicy 2>&1) || true
grep -q "Forbid" <<<"$out" && ok "kubectl explain swft.spec.triggers...concurrencyPolicy" ||
  fail "kubectl explain swft: $out"

# --- kubectl apply -k manifests/ ----------------------------------------------------------

# A dry run cannot create the namespace the rest lives in; create it first.
k apply --server-side -f "$repo/manifests/deploy/namespace.yaml" >/dev/null
if out=$(k apply --server-side --force-conflicts --dry-run=server -k "$repo/manifests/" 2>&1); then
  ok "kubectl apply -k manifests/ --dry-run=server ($(grep -c . <<<"$out") objects)"
else
  fail "kubectl apply -k manifests/ --dry-run=server: $out"
fi
# The real apply: the namespace enforces the "restricted" Pod Security
# Standard, which warns about a Deployment whose Pods would be refused.
if out=$(k apply --server-side --force-conflicts -k "$repo/manifests/" 2>&1) &&
    ! grep -qi warning <<<"$out"; then
  ok "kubectl apply -k manifests/: applied, no Pod Security warning"
else
  fail "kubectl apply -k manifests/: $out"
fi

# --- RBAC -------------------------------------------------------------------------------

sa=system:serviceaccount:skein-system:skeind
# Rollout steps edit Istio VirtualServices; a stand-in for Istio's CRD lets
# the server resolve the resource type.
k apply -f - >/dev/null <<'EOF'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: virtualservices.networking.istio.io}
spec:
  group: networking.istio.io
  scope: Namespaced
  names: {kind: VirtualService, plural: virtualservices, singular: virtualservice}
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
EOF
k wait --for=condition=Established --timeout=60s crd/virtualservices.networking.istio.io >/dev/null
can() {
  local want=$1 got
  shift
  got=$(k auth can-i --as="$sa" "$@" 2>/dev/null || true)
  if [[ "$got" == "$want" ]]; then
    ok "skeind can-i $*: $got"
  else
    fail "skeind can-i $*: got '$got', want '$want'"
  fi
}
can yes watch workflows.skein.dev --all-namespaces
can yes create workflows.skein.dev -n ml
can yes delete workflows.skein.dev -n ml
can yes patch workflows.skein.dev --subresource=status -n ml
can yes update workflows.skein.dev --subresource=finalizers -n ml
can yes list workflowtemplates.skein.dev --all-namespaces
can yes patch workflowtemplates.skein.dev --subresource=status -n ml
can yes create pods -n ml
can yes watch pods --all-namespaces
can yes delete pods -n ml
can yes create events -n ml
can yes create events.events.k8s.io -n ml
can yes update virtualservices.networking.istio.io -n serving
can yes create leases.coordination.k8s.io -n skein-system
can yes get leases.coordination.k8s.io/skeind -n skein-system
can yes update leases.coordination.k8s.io/skeind -n skein-system
can no update leases.coordination.k8s.io/other -n skein-system
can no get leases.coordination.k8s.io/skeind -n kube-system
can no get secrets -n ml
can no list secrets --all-namespaces
can no create deployments.apps -n ml
can no get nodes
can no create pods --subresource=exec -n ml
can no get pods --subresource=log -n ml
can no delete workflowtemplates.skein.dev -n ml
can no create configmaps -n ml
can no escalate clusterroles.rbac.authorization.k8s.io

echo "$checks checks passed, $failures failed"
if ((failures > 0)); then
  echo "cluster logs were in $cluster/logs (removed on exit)" >&2
  exit 1
fi
exit 0
