# Helpers the benchmarks share (bench_skeind.sh, bench_cloud.sh): the
# machine's description, /proc readings, a fresh test cluster per phase,
# and one skeind under test with its metrics. Sourced after
# tests/lib/testlib.sh (ok, fail, wait_for, gone, on_exit) with root and
# tmp set; the caller sets SKEIND.

# bench_machine FILE: the machine as JSON (cores, CPU, RAM, kernel, load).
bench_machine() {
  python3 - "$1" <<'EOF'
import json, os, platform, sys, time
cpu = "?"
with open("/proc/cpuinfo") as f:
    for line in f:
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
with open("/proc/meminfo") as f:
    mem_kb = int(f.readline().split()[1])
json.dump({"nproc": os.cpu_count(), "cpu": cpu, "ram_gb": round(mem_kb / 1048576.0, 1),
           "kernel": platform.release(), "date": time.strftime("%Y-%m-%d"),
           "load_1m": round(os.getloadavg()[0], 2)}, open(sys.argv[1], "w"))
EOF
}

cpu_s() { # PID: user + system CPU seconds
  local rest
  rest=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f\n", ($12 + $13) / hz}' <<<"$rest"
}
vm_kb() { # PID FIELD: VmRSS, VmHWM ... in kB
  awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status" 2>/dev/null || echo 0
}

cluster=
cluster_up() { # NAME [VAR=VALUE...]: a fresh cluster, replacing the last one
  local name=$1
  shift
  cluster_down
  cluster=$tmp/cluster-$name
  if ! env "$@" "$root/tests/cluster/start.sh" "$cluster" >"$tmp/cluster-$name.log" 2>&1; then
    fail "cluster $name did not start"
    tail -n 20 "$tmp/cluster-$name.log" >&2
    return 1
  fi
  # shellcheck disable=SC1091
  . "$cluster/env"
  ok "cluster $name up (kube-apiserver on port $APISERVER_PORT)"
  # A fresh apiserver keeps busy for a while (bootstrap objects, OpenAPI
  # for the CRDs); a phase that started at once would pay for it.
  local prev cur deadline=$((SECONDS + 60))
  prev=$(cpu_s "$APISERVER_PID")
  while ((SECONDS < deadline)); do
    sleep 1
    cur=$(cpu_s "$APISERVER_PID")
    awk -v a="$prev" -v b="$cur" 'BEGIN {exit !(b - a < 0.1)}' && break
    prev=$cur
  done
  echo "cluster $name: kube-apiserver idle after $(cpu_s "$APISERVER_PID") CPU seconds"
}
cluster_down() {
  [[ -n "$cluster" ]] && "$root/tests/cluster/stop.sh" "$cluster" >/dev/null 2>&1
  cluster=
}
on_exit cluster_down

skeind_pid=
metrics_port=
kill_skeind() { [[ -n "$skeind_pid" ]] && kill -KILL "$skeind_pid" 2>/dev/null; }
on_exit kill_skeind

# skeind_ready LOG SECONDS: after starting skeind (skeind_pid set, its log
# in LOG): waits for its ports in the log, then for /readyz.
skeind_ready() {
  if ! wait_for 30 grep -qs "health probes on port" "$1"; then
    fail "skeind did not start"
    tail -n 20 "$1" >&2
    return 1
  fi
  metrics_port=$(sed -n 's/.*metrics on port \([0-9]*\).*/\1/p' "$1" | head -n 1)
  local health
  health=$(sed -n 's/.*health probes on port \([0-9]*\).*/\1/p' "$1" | head -n 1)
  if ! wait_for "$2" curl -fsS -o /dev/null "http://127.0.0.1:$health/readyz" 2>/dev/null; then
    fail "skeind never became ready"
    return 1
  fi
}
stop_skeind() { # LOG: SIGTERM, and it must exit 0 with no sanitizer report
  local rc=0
  kill -TERM "$skeind_pid" 2>/dev/null
  if ! wait_for 30 gone "$skeind_pid"; then
    fail "skeind did not exit within 30 s of SIGTERM"
    kill_skeind
  fi
  wait "$skeind_pid" 2>/dev/null || rc=$?
  skeind_pid=
  expect "skeind exit status after SIGTERM" "$rc" 0
  if grep -q "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$1"; then
    fail "sanitizer report in $(basename "$1")"
    grep -m 5 -A 20 "ERROR: \|runtime error:" "$1" >&2
  fi
}

skeind_metric() { # REGEX: the sum of skeind's samples whose line matches
  curl -fsS --max-time 10 "http://127.0.0.1:$metrics_port/metrics" 2>/dev/null |
    awk -v re="$1" '$0 ~ re {s += $NF} END {printf "%d\n", s}'
}
skeind_writes() {
  skeind_metric '^skein_kube_requests_total[{]verb="(create|update|patch|delete)"'
}
