#!/usr/bin/env bash
# Smoke test of the test cluster itself (tests/cluster/): it starts one, and
# checks what later end-to-end tests rely on:
#   - the apiserver answers /readyz;
#   - a bare pod bound to a kwok node runs and succeeds, with the termination
#     message its annotation asks for; an exit-code annotation makes it fail
#     with that code; a duration annotation makes it run that long; a pod
#     without nodeName is bound by kube-scheduler;
#   - the low-privilege user may not list pods (RBAC), the admin may;
#   - compacting etcd makes a watch from an older resourceVersion fail with
#     410 Expired (events: never in the apiserver's watch cache);
#   - a restarted apiserver serves again, keeps the objects, and kwok goes on;
#   - stop.sh leaves no process behind.
# Prints one line per check and exits 0 only when all pass.
#
# ctest sets SKEIN_SOURCE_DIR; run by hand it defaults to this checkout.
set -uo pipefail

root=${SKEIN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cluster=$root/tests/cluster

failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
# expect DESCRIPTION GOT WANT: compares two strings and prints both on a mismatch.
expect() {
  if [[ "$2" == "$3" ]]; then
    echo "ok   $1"
  else
    fail "$1: got '$2', want '$3'"
  fi
}

bin=$("$cluster/build.sh" | tail -n 1) || { echo "FAIL: tests/cluster/build.sh"; exit 1; }
[[ -x "$bin/kubectl" ]] || { echo "FAIL: no kubectl in '$bin'"; exit 1; }

work=$(mktemp -d)
cdir=$work/cluster
cleanup() {
  "$cluster/stop.sh" "$cdir" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

if ! "$cluster/start.sh" "$cdir"; then
  echo "FAIL: start.sh"
  for f in "$cdir"/logs/*.log; do
    [[ -f "$f" ]] && { echo "--- $f"; tail -n 20 "$f"; }
  done
  exit 1
fi
# shellcheck disable=SC1091
. "$cdir/env"
k() { "$KUBECTL" --request-timeout=20s "$@"; }

# api PATH: a GET against the apiserver as admin, with curl (no kubectl).
api() {
  curl -sS --max-time 20 --cacert "$CA_FILE" -H "Authorization: Bearer $ADMIN_TOKEN" "$APISERVER_URL$1"
}

# final_phase POD SECONDS: waits until POD is Succeeded or Failed and prints
# that phase, or the last phase seen when the deadline passes.
final_phase() {
  local pod=$1 deadline=$((SECONDS + $2)) phase=
  while ((SECONDS < deadline)); do
    phase=$(k get pod "$pod" -o jsonpath='{.status.phase}' 2>/dev/null)
    if [[ "$phase" == Succeeded || "$phase" == Failed ]]; then
      break
    fi
    sleep 0.2
  done
  echo "$phase"
}

# pod NAME NODE ANNOTATIONS-YAML: creates a bare pod (no owner), restartPolicy
# Never, bound to NODE unless NODE is empty.
pod() {
  local name=$1 node=$2 ann=$3
  {
    echo "apiVersion: v1"
    echo "kind: Pod"
    echo "metadata:"
    echo "  name: $name"
    if [[ -n "$ann" ]]; then
      echo "  annotations:"
      printf '%s\n' "$ann"
    fi
    echo "spec:"
    echo "  restartPolicy: Never"
    if [[ -n "$node" ]]; then echo "  nodeName: $node"; fi
    echo "  containers:"
    echo "  - name: main"
    echo "    image: busybox"
    echo "    command: [\"true\"]"
  } | k apply -f - >/dev/null
}

# 1. readiness, through kubectl and through plain HTTPS.
expect "kubectl get --raw /readyz" "$(k get --raw /readyz 2>&1)" "ok"
expect "curl /readyz with the admin token" "$(api /readyz)" "ok"
expect "nodes Ready" "$(k get nodes -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status} {end}')" "True True "

# 2. pods that succeed, fail, take their time, and get scheduled.
message=$'accuracy=0.93\nnote="quoted" text'
pod ok "$KWOK_NODE" "    skein.dev/test-termination-message: $(printf '%s' "$message" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')"
pod bad "$KWOK_NODE" '    skein.dev/test-exit-code: "3"'
pod slow "$KWOK_NODE" '    skein.dev/test-duration: "3s"'
if [[ "$CLUSTER_SCHEDULER" == 1 ]]; then
  pod unbound "" ""
fi

expect "pod ok: phase" "$(final_phase ok 60)" Succeeded
expect "pod ok: exit code" "$(k get pod ok -o jsonpath='{.status.containerStatuses[0].state.terminated.exitCode}')" 0
expect "pod ok: termination message from the annotation" \
  "$(k get pod ok -o jsonpath='{.status.containerStatuses[0].state.terminated.message}')" "$message"
expect "pod bad: phase" "$(final_phase bad 60)" Failed
expect "pod bad: exit code" "$(k get pod bad -o jsonpath='{.status.containerStatuses[0].state.terminated.exitCode}')" 3
expect "pod bad: reason" "$(k get pod bad -o jsonpath='{.status.containerStatuses[0].state.terminated.reason}')" Error
expect "pod slow: phase" "$(final_phase slow 60)" Succeeded
# The run time is measured between the container's own timestamps, so the
# check does not depend on how quickly this script looked.
ran=$(k get pod slow -o json | python3 -c '
import json, sys
from datetime import datetime
t = json.load(sys.stdin)["status"]["containerStatuses"][0]["state"]["terminated"]
p = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))
print("%.1f" % (p(t["finishedAt"]) - p(t["startedAt"])).total_seconds())')
if python3 -c "import sys; sys.exit(0 if 2.9 <= float(sys.argv[1]) < 30 else 1)" "$ran"; then
  echo "ok   pod slow: ran ${ran} s for test-duration 3s"
else
  fail "pod slow: ran '${ran}' s, want about 3 s"
fi
if [[ "$CLUSTER_SCHEDULER" == 1 ]]; then
  expect "pod unbound: phase" "$(final_phase unbound 60)" Succeeded
  node=$(k get pod unbound -o jsonpath='{.spec.nodeName}')
  if [[ " $KWOK_NODES " == *" $node "* && -n "$node" ]]; then
    echo "ok   pod unbound: bound by kube-scheduler to $node"
  else
    fail "pod unbound: nodeName '$node' is not one of '$KWOK_NODES'"
  fi
fi

# 3. RBAC: the low-privilege user is authenticated but may not list pods.
user_can=$(KUBECONFIG=$KUBECONFIG_USER "$KUBECTL" auth can-i list pods 2>/dev/null)
expect "user: auth can-i list pods" "$user_can" no
expect "admin: auth can-i list pods" "$(k auth can-i list pods 2>/dev/null)" yes
expect "user: whoami" "$(KUBECONFIG=$KUBECONFIG_USER "$KUBECTL" auth whoami -o jsonpath='{.status.userInfo.username}' 2>&1)" skein-test-user
code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 20 --cacert "$CA_FILE" \
  -H "Authorization: Bearer $USER_TOKEN" "$APISERVER_URL/api/v1/namespaces/default/pods")
expect "user: GET pods is 403" "$code" 403
expect "client-certificate admin can list pods" \
  "$(KUBECONFIG=$KUBECONFIG_CERT "$KUBECTL" auth can-i list pods 2>/dev/null)" yes

# 4. etcd compaction expires old resourceVersions. Events are read from etcd
# on every watch, so a watch from the first event's RV sees the second event
# before the compaction and 410 Expired after it.
event() {
  cat <<EV | k create -f - -o jsonpath='{.metadata.resourceVersion}'
apiVersion: v1
kind: Event
metadata: {name: $1}
involvedObject: {kind: Pod, name: ok, namespace: default}
reason: Testing
message: compaction check
type: Normal
EV
}
rv1=$(event ev-1)
rv2=$(event ev-2)
before=$(api "/api/v1/namespaces/default/events?watch=1&resourceVersion=$rv1&timeoutSeconds=2")
if [[ "$before" == *'"type":"ADDED"'*'"name":"ev-2"'* ]]; then
  echo "ok   watch from RV $rv1 before compaction sees ev-2 (RV $rv2)"
else
  fail "watch from RV $rv1 before compaction: $before"
fi
# One more write, so the compaction revision passes ev-2's: etcd still
# serves a watch that starts exactly at the compaction revision, and a watch
# from RV1 starts at RV1+1 = RV2 when nothing else wrote in between.
event ev-3 >/dev/null
if crev=$("$cluster/compact-etcd.sh" "$cdir"); then
  echo "ok   compact-etcd.sh compacted to revision $crev"
else
  fail "compact-etcd.sh"
fi
after=$(api "/api/v1/namespaces/default/events?watch=1&resourceVersion=$rv1&timeoutSeconds=2")
if [[ "$after" == *'"code":410'* && "$after" == *'Expired'* ]]; then
  echo "ok   watch from RV $rv1 after compaction: 410 Expired"
else
  fail "watch from RV $rv1 after compaction: $after"
fi

# 5. restart the apiserver: it serves again, with the same objects; kwok
# and the scheduler reconnect and a new pod still runs to the end.
old_pid=$APISERVER_PID
if "$cluster/restart-apiserver.sh" "$cdir"; then
  . "$cdir/env"
  old_state=$(awk '{print $3}' "/proc/$old_pid/stat" 2>/dev/null)
  if [[ "$APISERVER_PID" != "$old_pid" && ( -z "$old_state" || "$old_state" == Z ) ]]; then
    echo "ok   restart-apiserver.sh: new pid $APISERVER_PID, old one gone"
  else
    fail "restart-apiserver.sh: pid $old_pid -> $APISERVER_PID"
  fi
else
  fail "restart-apiserver.sh"
fi
expect "readyz after restart" "$(k get --raw /readyz 2>&1)" ok
expect "pod ok survived the restart" "$(k get pod ok -o jsonpath='{.status.phase}' 2>&1)" Succeeded
pod after-restart "$KWOK_NODE" ""
expect "pod after-restart: phase" "$(final_phase after-restart 90)" Succeeded

# 6. stop.sh leaves nothing running, and a second stop is harmless.
pids="$ETCD_PID $APISERVER_PID $KWOK_PID $SCHEDULER_PID $WATCHDOG_PID"
if "$cluster/stop.sh" "$cdir" && "$cluster/stop.sh" "$cdir"; then
  left=
  for p in $pids; do
    # A zombie waiting for init to reap it has stopped already.
    state=$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)
    if [[ -n "$state" && "$state" != Z ]]; then left+=" $p($state)"; fi
  done
  if [[ -z "$left" ]]; then
    echo "ok   stop.sh: no process left"
  else
    fail "stop.sh left pids:$left"
  fi
else
  fail "stop.sh exited non-zero"
fi

if ((failures > 0)); then
  echo "$failures check(s) failed; logs were in $cdir/logs"
  for f in "$cdir"/logs/*.log; do
    [[ -f "$f" ]] && { echo "--- $f"; tail -n 15 "$f"; }
  done
  exit 1
fi
echo "all cluster checks passed"
