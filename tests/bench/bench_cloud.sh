#!/usr/bin/env bash
# skeind waiting on many cloud jobs at once: N Workflows (default 1,000),
# one Vertex AI step each, against the fake Vertex AI and Google token
# endpoint of tests/cloudfake, with skeind on the test cluster of
# tests/cluster. It prints figures: the request rate the fake saw against
# the configured limit, and skeind's CPU and memory while it waits. It is
# not a pass/fail timing test, and neither ctest nor scripts/test.sh runs
# it; it fails only when something is broken: the rate went over the
# limit, a Workflow did not succeed or never ended, a job was created
# twice, skeind did not exit 0. docs/cloud-jobs.md ("Waiting on cloud
# jobs") explains the figures and keeps the last results.
#
#   tests/bench/bench_cloud.sh                 # builds a Release skeind first
#   SKEIND=.../skeind tests/bench/bench_cloud.sh
#
# One run per --cloud-vertex-qps value, each on a fresh cluster with a fresh
# skeind and the fake's jobs and counters reset:
#   1. the N Workflows are created at once (kubectl create -f, one List);
#      skeind creates the N jobs under the bucket (creates take tokens too);
#   2. it polls them until each Workflow's status shows JOB_STATE_RUNNING
#      (the fake keeps every job RUNNING long enough: "advance": "time");
#   3. the window: BENCH_CLOUD_WINDOW seconds of pure waiting, over which
#      skeind's CPU (utime + stime) and RSS are read, and the fake's
#      request log gives the most requests in any 1, 10 and 60 s, against
#      the bucket's limit for that span, rate x seconds + burst;
#   4. the jobs end (SUCCEEDED) and every Workflow must end Succeeded, with
#      each job created exactly once.
#
# Settings (environment):
#   BENCH_CLOUD_N=1000           Workflows (and jobs) per run
#   BENCH_CLOUD_QPS="8 20"       the --cloud-vertex-qps of each run (8 is skeind's default)
#   BENCH_CLOUD_WINDOW=120       seconds of the measurement window
#   BENCH_CLOUD_POLL=1,1.5,10    the steps' poll: initialSeconds,factor,maxSeconds, or
#                                "default" (no poll: block: 10 s, 1.5, 120 s)
#   BENCH_CLOUD_KUBE_QPS=100 BENCH_CLOUD_KUBE_BURST=200
#                                skeind's --kube-api-qps/--kube-api-burst (raised from
#                                20/30 so that the apiserver's writes are not the limit)
#   BENCH_CLOUD_STEP=1           seconds per state at the fake (QUEUED, then RUNNING)
#   BENCH_RESULTS=DIR            keep the JSON and logs there (default: removed)
#   BENCH_BUILD_DIR=DIR          the Release tree to build when SKEIND is unset
#   BENCH_CLOUD_SKEIND_DESC=TEXT what the report calls a skeind given by SKEIND
set -uo pipefail
root=${SKEIN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$root/tests/lib/testlib.sh"
. "$root/tests/bench/lib.sh"
. "$root/tests/cloudfake/lib.sh"

N=${BENCH_CLOUD_N:-1000}
QPS_LIST=${BENCH_CLOUD_QPS:-8 20}
WINDOW=${BENCH_CLOUD_WINDOW:-120}
POLL=${BENCH_CLOUD_POLL:-1,1.5,10}
KUBE_QPS=${BENCH_CLOUD_KUBE_QPS:-100}
KUBE_BURST=${BENCH_CLOUD_KUBE_BURST:-200}
STEP=${BENCH_CLOUD_STEP:-1}
# The tracker's Vertex bucket holds 20 tokens (lib/cloud/jobs.c; skeind has
# no flag for it).
BURST=20
report=$root/tests/bench/cloud_report.py

scratch_dir
res=${BENCH_RESULTS:-$tmp/results}
mkdir -p "$res"

# ---- skeind ------------------------------------------------------------------

if [[ -z "${SKEIND:-}" ]]; then
  build=${BENCH_BUILD_DIR:-$root/build-bench-release}
  echo "building skeind (Release) in $build"
  if ! { cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null &&
    cmake --build "$build" -j2 --target skeind >"$tmp/build.log" 2>&1; }; then
    grep -m 5 -E "error|warning" "$tmp/build.log" >&2
    echo "FAIL: build (or set SKEIND)" >&2
    exit 1
  fi
  SKEIND=$build/skeind
  skeind_build="Release, $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
else
  skeind_build=${BENCH_CLOUD_SKEIND_DESC:-SKEIND as given}
fi
[[ -x "$SKEIND" ]] || { echo "FAIL: no skeind at $SKEIND" >&2; exit 1; }

# ---- the machine ---------------------------------------------------------------

bench_machine "$res/machine.json"

# ---- helpers (and those of tests/bench/lib.sh) -----------------------------------

calc() { awk -v OFMT=%.6f "BEGIN {print $*}"; }
now_s() { date +%s.%N; }
load1() { cut -d' ' -f1 /proc/loadavg; }

start_skeind() { # LOG QPS
  : >"$1"
  # skeind's own environment: the fake's endpoints and the key file as its
  # ambient Google credentials, an empty HOME, no metadata server. Only
  # skeind gets it: the cluster and venv caches live under the real HOME.
  env HOME="$tmp/home" GOOGLE_APPLICATION_CREDENTIALS="$tmp/sa.json" \
    SKEIN_VERTEX_ENDPOINT="$vertex" GCE_METADATA_HOST=127.0.0.1:9 \
    "$SKEIND" --kubeconfig "$KUBECONFIG" --metrics-bind-address=127.0.0.1:0 \
    --health-probe-bind-address=127.0.0.1:0 -v 0 --cloud-vertex-qps "$2" \
    --kube-api-qps "$KUBE_QPS" --kube-api-burst "$KUBE_BURST" >"$1" 2>&1 </dev/null &
  skeind_pid=$!
  skeind_ready "$1" 60
}

# The Workflows of the run as the apiserver has them, summed up (wfsum).
declare -A W=()
wf_counts() {
  W=()
  curl -fsS --max-time 60 --cacert "$CA_FILE" -H "Authorization: Bearer $ADMIN_TOKEN" \
    "$APISERVER_URL/apis/skein.dev/v1alpha1/namespaces/$ns/workflows" >"$tmp/wfs.json" ||
    return 1
  local kv
  for kv in $(python3 "$report" wfsum "$tmp/wfs.json"); do W[${kv%%=*}]=${kv#*=}; done
}
fake_jobs() { cloudfake_stats cf vertex 's["jobs"]' 2>/dev/null || echo 0; }

# ---- the fakes -------------------------------------------------------------------

cloudfake_setup || { fail "cloudfake venv"; finish bench_cloud; }
CLOUDFAKE_MAX_SECONDS=7200 cloudfake_start cf --roles vertex,token ||
  { fail "cloud fakes did not start"; finish bench_cloud; }
cloudfake_make_sa_key cf "$tmp/sa.json" >/dev/null || { fail "service-account key"; finish bench_cloud; }
vertex=$(cloudfake_url cf vertex)
fake_pid=$(cloudfake_json "$(cloudfake_dir cf)/ready.json" 'doc["pid"]')
mkdir -p "$tmp/home"
python3 "$report" workflows "$N" cj "$POLL" "$tmp/workflows.json"
poll_max=$([[ $POLL == default ]] && echo 120 || echo "${POLL##*,}")
poll_text=$([[ $POLL == default ]] && echo "the defaults (10 s, x1.5, up to 120 s)" ||
  echo "initialSeconds ${POLL%%,*}, factor $(cut -d, -f2 <<<"$POLL"), maxSeconds $poll_max")

# ---- one run -------------------------------------------------------------------

run_one() { # QPS
  local qps=$1 d est_create est_cycle est_seen running_s repeat t deadline last_print
  d=$res/q$qps
  rm -rf "$d"
  mkdir -p "$d"
  mark() { echo "$1 $2" >>"$d/marks.txt"; }
  echo
  echo "=== --cloud-vertex-qps $qps: $N Workflows ==="
  # How long each job stays RUNNING: past the creates, one round of polls
  # that sees them RUNNING, and the window, with room to spare. The
  # bucket lets a round of N polls through in N / qps seconds.
  est_create=$(calc "($N > $BURST ? ($N - $BURST) / $qps : 0)")
  est_cycle=$(calc "$N / $qps + $poll_max")
  est_seen=$(calc "1.3 * ($est_create + $est_cycle) + 30")
  running_s=$(calc "$est_seen + $WINDOW + 60")
  repeat=$(calc "int($running_s / $STEP) + 1")
  python3 -c 'import json,sys
a = sys.argv
json.dump({"qps": float(a[1]), "burst": int(a[2]), "n": int(a[3]), "poll": a[4], "poll_text": a[5],
           "window": float(a[6]), "step_seconds": float(a[7]), "running_repeat": int(a[8]),
           "kube_qps": float(a[9]), "kube_burst": int(a[10]), "skeind_build": a[11],
           "workers": "4 (default)"}, open(a[12], "w"))' "$qps" "$BURST" "$N" "$POLL" \
    "$poll_text" "$WINDOW" "$STEP" "$repeat" "$KUBE_QPS" "$KUBE_BURST" "$skeind_build" \
    "$d/params.json"

  cluster_up "q$qps" SKEIN_CLUSTER_NODES=0 SKEIN_CLUSTER_SCHEDULER=0 || return 1
  ns=bench-cloud
  "$KUBECTL" --request-timeout=30s create namespace "$ns" >/dev/null || { fail "namespace"; return 1; }
  cloudfake_reset cf vertex && cloudfake_reset cf token && cloudfake_config cf vertex "{\"advance\": \"time\",
    \"step_seconds\": $STEP, \"default_script\": {\"states\": [\"QUEUED\",
    {\"state\": \"RUNNING\", \"repeat\": $repeat}, \"SUCCEEDED\"]}}" ||
    { fail "configure the fake Vertex AI"; return 1; }
  echo "the fake's jobs: QUEUED for $STEP s, then RUNNING for $(calc "$repeat * $STEP") s, then SUCCEEDED"

  mark load_start "$(load1)"
  start_skeind "$d/skeind.log" "$qps" || return 1
  mark skeind_start "$(now_s)"
  mark cpu_ready "$(cpu_s "$skeind_pid")"
  mark rss_ready "$(vm_kb "$skeind_pid" VmRSS)"
  ok "skeind ready (--cloud-vertex-qps $qps, --kube-api-qps $KUBE_QPS --kube-api-burst $KUBE_BURST)"

  # 1. The Workflows, then the jobs.
  mark wf_create0 "$(now_s)"
  if ! "$KUBECTL" --request-timeout=120s -n "$ns" create -f "$tmp/workflows.json" >/dev/null 2>"$tmp/create.err"; then
    fail "kubectl create of $N Workflows"
    tail -n 5 "$tmp/create.err" >&2
  fi
  mark wf_create1 "$(now_s)"
  deadline=$((SECONDS + ${est_create%.*} * 3 + 120))
  last_print=$SECONDS
  while (($(fake_jobs) < N)); do
    if ((SECONDS >= deadline)); then
      fail "only $(fake_jobs) of $N jobs created by the deadline"
      break
    fi
    if ((SECONDS - last_print >= 30)); then
      echo "  $(fake_jobs) jobs created so far"
      last_print=$SECONDS
    fi
    sleep 1
  done
  mark all_created "$(now_s)"
  echo "all $(fake_jobs) jobs created $(calc "$(now_s) - $(awk '$1 == "wf_create0" {print $2}' "$d/marks.txt")") s after the first Workflow POST"

  # 2. Every Workflow's status shows its job RUNNING.
  deadline=$((SECONDS + ${est_seen%.*} * 2 + 60))
  last_print=$SECONDS
  while :; do
    wf_counts && ((${W[running_seen]:-0} >= N)) && break
    if ((SECONDS >= deadline)); then
      fail "skeind saw only ${W[running_seen]:-?} of $N jobs RUNNING by the deadline"
      break
    fi
    if ((SECONDS - last_print >= 30)); then
      echo "  skeind has seen ${W[running_seen]:-?} of $N jobs RUNNING"
      last_print=$SECONDS
    fi
    sleep 3
  done
  mark all_seen_running "$(now_s)"

  # 3. The window: nothing changes but the polls.
  local first_create last_create first_end last_end w0 wlen
  cloudfake_stats cf vertex >"$d/stats-created.json"
  first_create=$(cloudfake_json "$d/stats-created.json" 'min(doc["log"]["create"])')
  last_create=$(cloudfake_json "$d/stats-created.json" 'max(doc["log"]["create"])')
  first_end=$(calc "$first_create + $STEP * ($repeat + 1)")
  last_end=$(calc "$last_create + $STEP * ($repeat + 1)")
  mark last_job_end "$last_end"
  w0=$(now_s)
  wlen=$(calc "($first_end - $w0 - 5 < $WINDOW) ? $first_end - $w0 - 5 : $WINDOW")
  if awk -v w="$wlen" -v W="$WINDOW" 'BEGIN {exit !(w < W)}'; then
    echo "NOTE: the window is cut to $wlen s: the first job ends then (raise the estimate)"
  fi
  if awk -v w="$wlen" 'BEGIN {exit !(w >= 10)}'; then
    echo "window: $wlen s from now"
    curl -fsS "$vertex/_fake/stats?log=0" >"$d/stats-w0.json"
    mark window0 "$(now_s)"
    mark cpu_w0 "$(cpu_s "$skeind_pid")"
    mark rss_w0 "$(vm_kb "$skeind_pid" VmRSS)"
    mark fake_cpu_w0 "$(cpu_s "$fake_pid")"
    mark api_cpu_w0 "$(cpu_s "$APISERVER_PID")"
    mark kube_writes_w0 "$(skeind_writes)"
    mark load_w0 "$(load1)"
    sleep "$wlen"
    mark window1 "$(now_s)"
    mark cpu_w1 "$(cpu_s "$skeind_pid")"
    mark rss_w1 "$(vm_kb "$skeind_pid" VmRSS)"
    mark hwm_w1 "$(vm_kb "$skeind_pid" VmHWM)"
    mark fake_cpu_w1 "$(cpu_s "$fake_pid")"
    mark api_cpu_w1 "$(cpu_s "$APISERVER_PID")"
    mark kube_writes_w1 "$(skeind_writes)"
    mark load_w1 "$(load1)"
    curl -fsS "$vertex/_fake/stats?log=0" >"$d/stats-w1.json"
    wf_counts
    expect "every job still RUNNING in its Workflow's status after the window" \
      "${W[running_seen]:-?}" "$N"
  else
    fail "no time left for a window (first job ends at $first_end)"
  fi

  # 4. The jobs end; every Workflow must.
  echo "the jobs end from $(calc "$first_end - $w0") s from the window's start on; waiting for every Workflow"
  deadline=$((SECONDS + $(calc "int($last_end - $(now_s) + 2 * $est_cycle + 120)")))
  last_print=$SECONDS
  while :; do
    wf_counts && ((${W[final]:-0} >= N)) && break
    if ((SECONDS >= deadline)); then
      fail "only ${W[final]:-?} of $N Workflows ended by the deadline"
      break
    fi
    if ((SECONDS - last_print >= 30)); then
      echo "  ${W[final]:-?} of $N Workflows ended"
      last_print=$SECONDS
    fi
    sleep 3
  done
  mark all_final "$(now_s)"
  mark end_text "${W[succeeded]:-?} Succeeded, ${W[failed]:-?} Failed, ${W[finalizers]:-?} with the finalizer left"
  expect "Workflows Succeeded" "${W[succeeded]:-?}" "$N"
  expect "finalizers skein.dev/cloud-jobs left" "${W[finalizers]:-?}" 0

  cloudfake_stats cf vertex >"$d/stats-final.json"
  curl -fsS "$(cloudfake_url cf token)/_fake/stats?log=0" >"$d/token-final.json"
  mark total_cpu "$(cpu_s "$skeind_pid")"
  mark hwm_end "$(vm_kb "$skeind_pid" VmHWM)"
  mark skeind_requests "$(skeind_metric '^skein_cloud_requests_total')"
  mark skeind_throttled "$(skeind_metric '^skein_cloud_throttled_total')"
  mark skeind_errors "$(skeind_metric '^skein_cloud_errors_total')"
  stop_skeind "$d/skeind.log"
  cluster_down

  expect "jobs at the fake" "$(cloudfake_json "$d/stats-final.json" 'doc["jobs"]')" "$N"
  expect "each job created once (creates per label set)" \
    "$(cloudfake_json "$d/stats-final.json" 'sorted(set(doc["creates"].values()))')" "[1]"
  expect "throttled or 5xx answers" \
    "$(cloudfake_json "$d/stats-final.json" 'sum(v for k, v in doc["responses"].items() if k == "429" or k >= "500")')" 0
  python3 "$report" run "$d"
  # The fake times a request when it arrives, so a request can land up to
  # the network's jitter later or earlier than skeind sent it: one request
  # over the limit is that, two would be skeind.
  local over
  for span in whole window; do
    over=$(cloudfake_json "$d/summary.json" \
      "int(max([w['max'] - w['limit'] for w in doc.get('$span', {}).get('windows', {}).values()] or [0]))")
    if awk -v o="$over" 'BEGIN {exit !(o <= 1)}'; then
      ok "$span: the most requests in any 1, 10 or 60 s stay within rate x seconds + burst (room left at the closest: $((-over)))"
    else
      fail "$span: the request rate went over the limit (by $over requests in one span): see the report"
    fi
  done
}

for q in $QPS_LIST; do
  run_one "$q"
  kill_skeind
  skeind_pid=
  cluster_down
done

echo
python3 "$report" print "$res"
echo
finish bench_cloud
