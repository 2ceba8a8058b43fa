#!/usr/bin/env bash
# skeind's benchmark against a real kube-apiserver, etcd, kube-scheduler and
# kwok (tests/cluster/). It prints figures next to their targets; it is not
# a pass/fail timing test, and neither ctest nor scripts/test.sh runs it.
# It fails only when something is broken (a Workflow failed or never
# finished, skeind did not exit 0, a sanitizer report). docs/performance.md
# explains each figure and keeps the last results.
#
#   tests/bench/bench_skeind.sh                  # builds a Release tree first
#   SKEIND=.../skeind SKEIN_BENCH=.../skein-bench tests/bench/bench_skeind.sh
#
# Phases (BENCH_PHASES, default all four; chain runs before single):
#   single  N single-Pod Workflows created as fast as BENCH_CREATE_CONCURRENCY
#           POSTs in flight allow: throughput, create -> Pod latency, API
#           writes per Workflow (the apiserver's own apiserver_request_total),
#           skeind's CPU seconds and peak RSS;
#   chain   BENCH_CHAINS five-step chains created at BENCH_CHAIN_RATE per
#           second, before single on the same cluster and skeind: Pod
#           Succeeded -> next Pod ADDED;
#   raw     on a fresh cluster, skein-bench's raw controller does the same
#           writes as skeind for N single-Pod Workflows, with the same client
#           library, rate limit and concurrency: the limit skeind is held to;
#   memory  on a fresh cluster without nodes, BENCH_MEM_N five-step Workflows
#           whose first step is `when: "false"` (so no Pod runs and each ends
#           with a five-record status); then skeind is restarted and its RSS
#           read once it has synced and reconciled them all.
#
# Settings (environment):
#   BENCH_N=2000 BENCH_CHAINS=100 BENCH_CHAIN_RATE=2 BENCH_MEM_N=10000
#   BENCH_WORKERS=8             skeind --workers, and the raw controller's workers
#   BENCH_QPS=1000 BENCH_BURST=2000   skeind --kube-api-qps/--kube-api-burst, and
#                               the raw controller's client limit
#   BENCH_CREATE_CONCURRENCY=8  the benchmark's own Workflow POSTs in flight
#   BENCH_SKEIND_V=0            skeind's -v (1 logs every step transition)
#   BENCH_TIMEOUT=900           seconds allowed for each phase's run
#   BENCH_RESULTS=DIR           keep the JSON results and skeind's logs there
#                               (default: removed)
#   BENCH_BUILD_DIR=DIR         the Release tree to build when SKEIND is unset
#   SKEIN_CLUSTER_POD_MS=800    how long each kwok Pod runs
set -uo pipefail
root=${SKEIN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$root/tests/lib/testlib.sh"
. "$root/tests/bench/lib.sh"

N=${BENCH_N:-2000}
CHAINS=${BENCH_CHAINS:-100}
CHAIN_RATE=${BENCH_CHAIN_RATE:-2}
MEM_N=${BENCH_MEM_N:-10000}
WORKERS=${BENCH_WORKERS:-8}
QPS=${BENCH_QPS:-1000}
BURST=${BENCH_BURST:-2000}
CONC=${BENCH_CREATE_CONCURRENCY:-8}
PHASES=" ${BENCH_PHASES:-single chain raw memory} "
SKEIND_V=${BENCH_SKEIND_V:-0}
TIMEOUT=${BENCH_TIMEOUT:-900}
POD_MS=${SKEIN_CLUSTER_POD_MS:-800}

scratch_dir
res=${BENCH_RESULTS:-$tmp/results}
mkdir -p "$res"

# ---- binaries -------------------------------------------------------------

if [[ -z "${SKEIND:-}" ]]; then
  build=${BENCH_BUILD_DIR:-$root/build-bench-release}
  echo "building skeind and skein-bench (Release) in $build"
  { cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null &&
    cmake --build "$build" -j2 --target skeind skein-bench >/dev/null; } ||
    { echo "FAIL: build" >&2; exit 1; }
  SKEIND=$build/skeind
fi
SKEIN_BENCH=${SKEIN_BENCH:-$(dirname "$SKEIND")/tests/skein-bench}
[[ -x "$SKEIND" ]] || { echo "FAIL: no skeind at $SKEIND" >&2; exit 1; }
[[ -x "$SKEIN_BENCH" ]] || { echo "FAIL: no skein-bench at $SKEIN_BENCH" >&2; exit 1; }

# ---- the machine ------------------------------------------------------------

bench_machine "$res/machine.json"
python3 -c 'import json,sys; json.dump(dict(n=int(sys.argv[1]), chains=int(sys.argv[2]),
  chain_rate=float(sys.argv[3]), mem_n=int(sys.argv[4]), workers=int(sys.argv[5]),
  qps=float(sys.argv[6]), burst=int(sys.argv[7]), create_concurrency=int(sys.argv[8]),
  skeind_v=int(sys.argv[9]), pod_ms=int(sys.argv[10])), open(sys.argv[11], "w"))' \
  "$N" "$CHAINS" "$CHAIN_RATE" "$MEM_N" "$WORKERS" "$QPS" "$BURST" "$CONC" "$SKEIND_V" \
  "$POD_MS" "$res/params.json"

# ---- helpers (and those of tests/bench/lib.sh) -------------------------------

api_metrics() { # FILE: the apiserver's request counters
  curl -fsS --max-time 30 --cacert "$CA_FILE" -H "Authorization: Bearer $ADMIN_TOKEN" \
    "$APISERVER_URL/metrics" |
    grep -E '^apiserver_request_(total|duration_seconds_(sum|count|bucket))[{]' >"$1"
}

# The cluster's CPU seconds by component, to see where a phase's time went.
components_cpu() {
  local out="" p
  for p in kube-apiserver:$APISERVER_PID etcd:$ETCD_PID kwok:$KWOK_PID \
    kube-scheduler:$SCHEDULER_PID; do
    [[ -n "${p#*:}" ]] && out+="${p%%:*}=$(cpu_s "${p#*:}") "
  done
  echo "$out"
}
cpu_diff_json() { # "BEFORE" "AFTER": {"name": seconds, ...}
  python3 -c 'import json,sys
b = dict(kv.split("=") for kv in sys.argv[1].split())
a = dict(kv.split("=") for kv in sys.argv[2].split())
print(json.dumps({k: round(float(a[k]) - float(b.get(k, 0)), 2) for k in a}))' "$1" "$2"
}

start_skeind() { # LOG
  "$SKEIND" --kubeconfig "$KUBECONFIG" --metrics-bind-address=127.0.0.1:0 \
    --health-probe-bind-address=127.0.0.1:0 -v "$SKEIND_V" --workers "$WORKERS" \
    --kube-api-qps "$QPS" --kube-api-burst "$BURST" >"$1" 2>&1 &
  skeind_pid=$!
  skeind_ready "$1" 120
}

# Waits until skeind has nothing left to write: its queue is empty and its
# write count did not move for a second (its Event recorder may still be
# draining when the last Workflow is seen done).
settle() {
  local prev=x cur deadline=$((SECONDS + 120))
  while ((SECONDS < deadline)); do
    cur="$(skeind_writes) $(skeind_metric '^skein_workqueue_depth')"
    [[ "$cur" == "$prev" && "${cur##* }" == 0 ]] && return 0
    prev=$cur
    sleep 1
  done
  fail "skeind did not settle within 120 s"
  return 1
}

skeind_json() { # FILE CPU0 [EXTRA-JSON]: skeind's process figures and queue
  local extra=${3:-} queue
  [[ -n "$extra" ]] || extra='{}'
  queue=$(curl -fsS --max-time 10 "http://127.0.0.1:$metrics_port/metrics" 2>/dev/null |
    awk '/^skein_workqueue_(wait_seconds_(sum|count)|longest_wait_seconds) / {
      printf "%s=%s ", $1, $2}')
  python3 -c 'import json,sys
d = {"cpu_s": round(float(sys.argv[2]) - float(sys.argv[3]), 2), "rss_kb": int(sys.argv[4] or 0),
     "hwm_kb": int(sys.argv[5] or 0), "skeind_writes": int(sys.argv[6] or 0)}
d["queue"] = {k.replace("skein_workqueue_longest_wait_seconds", "max")
               .replace("skein_workqueue_wait_seconds_", ""): float(v)
              for k, v in (kv.split("=") for kv in sys.argv[8].split())}
d.update(json.loads(sys.argv[7]))
json.dump(d, open(sys.argv[1], "w"))' "$1" "$(cpu_s "$skeind_pid")" "$2" \
    "$(vm_kb "$skeind_pid" VmRSS)" "$(vm_kb "$skeind_pid" VmHWM)" "$(skeind_writes)" "$extra" \
    "$queue"
}

run_tool() { # NAME ARGS...: skein-bench into $res/NAME.json
  local name=$1
  shift
  local t0
  t0=$(now_ms)
  "$SKEIN_BENCH" --kubeconfig "$KUBECONFIG" --timeout "$TIMEOUT" "$@" >"$res/$name.json" \
    2>"$tmp/$name.err"
  local rc=$?
  echo "run $name: exit $rc in $(($(now_ms) - t0)) ms"
  if ((rc != 0)); then
    fail "$name: not every Workflow succeeded (exit $rc)"
    tail -n 20 "$tmp/$name.err" >&2
  else
    ok "$name: every Workflow succeeded"
  fi
}

# ---- phases: single and chain (one cluster, one skeind) ---------------------

if [[ "$PHASES" == *" single "* || "$PHASES" == *" chain "* ]]; then
  if cluster_up skeind SKEIN_CLUSTER_POD_MS="$POD_MS"; then
    kubectl create namespace bench-single >/dev/null
    kubectl create namespace bench-chain >/dev/null
    if start_skeind "$tmp/skeind.log"; then
      ok "skeind ready (--workers $WORKERS --kube-api-qps $QPS --kube-api-burst $BURST)"
      # Chains first, while the caches and etcd are small; then the burst.
      if [[ "$PHASES" == *" chain "* ]]; then
        cpu0=$(cpu_s "$skeind_pid")
        api_metrics "$tmp/chain-before.prom"
        run_tool chain --namespace bench-chain --shape chain --steps 5 --count "$CHAINS" \
          --rate "$CHAIN_RATE" --concurrency "$CONC"
        settle
        api_metrics "$tmp/chain-after.prom"
        python3 "$root/tests/bench/report.py" writes "$tmp/chain-before.prom" \
          "$tmp/chain-after.prom" "$CHAINS" >"$res/chain-writes.json"
        skeind_json "$res/chain-skeind.json" "$cpu0"
      fi
      if [[ "$PHASES" == *" single "* ]]; then
        api_metrics "$tmp/single-before.prom"
        cpu0=$(cpu_s "$skeind_pid")
        comp0=$(components_cpu)
        dropped0=$(skeind_metric '^skein_events_dropped_total')
        run_tool single --namespace bench-single --shape single --count "$N" \
          --concurrency "$CONC"
        comp1=$(components_cpu)
        settle
        api_metrics "$tmp/single-after.prom"
        python3 "$root/tests/bench/report.py" writes "$tmp/single-before.prom" \
          "$tmp/single-after.prom" "$N" >"$res/single-writes.json"
        dropped=$(($(skeind_metric '^skein_events_dropped_total') - dropped0))
        skeind_json "$res/single-skeind.json" "$cpu0" \
          "{\"components_cpu_s\": $(cpu_diff_json "$comp0" "$comp1"), \"events_dropped\": $dropped}"
      fi
      stop_skeind "$tmp/skeind.log"
    fi
  fi
fi

# ---- phase raw: the limit, on a fresh cluster -------------------------------

if [[ "$PHASES" == *" raw "* ]]; then
  if cluster_up raw SKEIN_CLUSTER_POD_MS="$POD_MS"; then
    kubectl create namespace bench-raw >/dev/null
    api_metrics "$tmp/raw-before.prom"
    comp0=$(components_cpu)
    # skeind's recorder writes up to four Events at once and drops one when
    # 1000 wait: so does the raw controller.
    run_tool raw --namespace bench-raw --shape single --count "$N" --concurrency "$CONC" \
      --raw --workers "$WORKERS" --event-lanes 4 --event-queue 1000 --qps "$QPS" \
      --burst "$BURST"
    comp1=$(components_cpu)
    api_metrics "$tmp/raw-after.prom"
    python3 "$root/tests/bench/report.py" writes "$tmp/raw-before.prom" \
      "$tmp/raw-after.prom" "$N" >"$res/raw-writes.json"
    echo "{\"components_cpu_s\": $(cpu_diff_json "$comp0" "$comp1")}" >"$res/raw-cpu.json"
  fi
fi

# ---- phase memory: MEM_N Workflows in skeind's cache ------------------------

if [[ "$PHASES" == *" memory "* ]]; then
  # No Pod runs in this phase: no nodes, no scheduler, no kwok.
  if cluster_up memory SKEIN_CLUSTER_POD_MS="$POD_MS" SKEIN_CLUSTER_NODES=0 SKEIN_CLUSTER_SCHEDULER=0; then
    kubectl create namespace bench-memory >/dev/null
    if start_skeind "$tmp/skeind-memory.log"; then
      cpu0=$(cpu_s "$skeind_pid")
      skeind_json "$res/memory-idle.json" "$cpu0"
      run_tool memory --namespace bench-memory --shape skipchain --steps 5 --count "$MEM_N" \
        --concurrency "$CONC" --quiet
      settle
      skeind_json "$res/memory-skeind.json" "$cpu0"
      stop_skeind "$tmp/skeind-memory.log"
      # A restarted skeind holds the same Workflows, all finished: what a
      # controller's cache costs at rest, without the first run's garbage.
      if start_skeind "$tmp/skeind-restart.log"; then
        reconciled() { (($(skeind_metric '^skein_workqueue_wait_seconds_count') >= MEM_N)); }
        wait_for 300 reconciled || fail "the restarted skeind did not reconcile $MEM_N Workflows"
        settle
        # As skeind holds it: kubectl would hide metadata.managedFields.
        size=$(curl -fsS --cacert "$CA_FILE" -H "Authorization: Bearer $ADMIN_TOKEN" \
          "$APISERVER_URL/apis/skein.dev/v1alpha1/namespaces/bench-memory/workflows/b-000000" |
          python3 -c 'import json,sys
print(len(json.dumps(json.load(sys.stdin), separators=(",", ":"))))')
        cached=$(skeind_metric '^skein_workflows[{]')
        skeind_json "$res/memory-restart.json" "$(cpu_s "$skeind_pid")" \
          "{\"cached\": $cached, \"wf_json_bytes\": ${size:-0}}"
        stop_skeind "$tmp/skeind-restart.log"
      fi
    fi
  fi
fi

cluster_down
# skeind's logs say what its caches hold once synced ("workflow cache
# synced (N objects, K KB)").
[[ -n "${BENCH_RESULTS:-}" ]] && cp "$tmp"/skeind*.log "$res"/ 2>/dev/null
echo
python3 "$root/tests/bench/report.py" print "$res"
echo
finish bench_skeind
