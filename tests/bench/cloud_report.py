#!/usr/bin/env python3
"""Helpers of bench_cloud.sh: the Workflows it creates, what the apiserver
shows of them, and the figures of a run from the fake Vertex AI's request
log (tests/cloudfake: one epoch timestamp per request, per route).

  cloud_report.py workflows N PREFIX POLL OUT   a v1 List of N Workflows
      PREFIX-00000..., each one vertex step (project skein-bench,
      us-central1); POLL is "INITIAL,FACTOR,MAX" seconds, or "default"
      for no poll: block (10 s, 1.5, 120 s).
  cloud_report.py wfsum FILE                    one line of key=value over
      a Workflow list (GET .../workflows): total, final, succeeded, failed,
      running_seen (the step's ref.state is JOB_STATE_RUNNING), named (the
      ref names a job), finalizers (still carrying skein.dev/cloud-jobs).
  cloud_report.py run DIR                       the figures of one run
      (DIR/summary.json) from the files bench_cloud.sh left in DIR.
  cloud_report.py print RESULTS                 the report of every run.
"""
import json
import os
import statistics
import sys

VERTEX_ROUTES = ("create", "get", "list", "cancel", "other")
FINAL = ("Succeeded", "Failed", "Cancelled")


# ---- the load -----------------------------------------------------------------

def workflows(n, prefix, poll, out):
    vertex = {
        "project": "skein-bench",
        "location": "us-central1",
        "customJob": {"jobSpec": {"workerPoolSpecs": [{
            "machineSpec": {"machineType": "n1-standard-4"},
            "replicaCount": 1,
            "containerSpec": {"imageUri": "gcr.io/skein-bench/trainer:1"}}]}},
    }
    if poll != "default":
        a, f, m = (float(x) for x in poll.split(","))
        vertex["poll"] = {"initialSeconds": a, "factor": f, "maxSeconds": m}
    items = [{
        "apiVersion": "skein.dev/v1alpha1", "kind": "Workflow",
        "metadata": {"name": "%s-%05d" % (prefix, i)},
        "spec": {"steps": [{"name": "train", "vertex": vertex}]},
    } for i in range(n)]
    with open(out, "w") as f:
        json.dump({"apiVersion": "v1", "kind": "List", "items": items}, f)


def wfsum(path):
    with open(path) as f:
        items = json.load(f).get("items", [])
    c = dict(total=len(items), final=0, succeeded=0, failed=0, running_seen=0, named=0,
             finalizers=0)
    for w in items:
        st = w.get("status") or {}
        phase = st.get("phase")
        if phase in FINAL:
            c["final"] += 1
        if phase == "Succeeded":
            c["succeeded"] += 1
        if phase == "Failed":
            c["failed"] += 1
        if "skein.dev/cloud-jobs" in (w["metadata"].get("finalizers") or []):
            c["finalizers"] += 1
        for s in st.get("steps") or []:
            ref = s.get("ref") or {}
            if ref.get("name"):
                c["named"] += 1
            if ref.get("state") == "JOB_STATE_RUNNING":
                c["running_seen"] += 1
    print(" ".join("%s=%d" % kv for kv in c.items()))


# ---- figures -------------------------------------------------------------------

def load(d, name, default=None):
    p = os.path.join(d, name)
    if not os.path.exists(p):
        return default
    with open(p) as f:
        return json.load(f)


def marks(d):
    """marks.txt: "name value" lines (epoch seconds, CPU seconds, kB...)."""
    out = {}
    p = os.path.join(d, "marks.txt")
    if os.path.exists(p):
        with open(p) as f:
            for line in f:
                k, _, v = line.strip().partition(" ")
                if k:
                    try:
                        out[k] = float(v)
                    except ValueError:
                        out[k] = v
    return out


def max_in_window(ts, w, lo=None, hi=None):
    """The most timestamps of ts (sorted) in any half-open window [t, t + w)
    inside [lo, hi], and where that window starts."""
    if lo is not None or hi is not None:
        lo = ts[0] if lo is None else lo
        hi = ts[-1] if hi is None else hi
        ts = [t for t in ts if lo <= t <= hi]
    best, at, j = 0, None, 0
    for i, t in enumerate(ts):
        if j < i:
            j = i
        while j < len(ts) and ts[j] < t + w:
            j += 1
        if j - i > best:
            best, at = j - i, t
    return best, at


def metric(path, name):
    """The sum of a metric's samples in a Prometheus text scrape."""
    if not os.path.exists(path):
        return None
    s, seen = 0.0, False
    with open(path) as f:
        for line in f:
            if line.startswith(name) and (line[len(name)] in " {"):
                s += float(line.split()[-1])
                seen = True
    return s if seen else None


def per_job_gets(s0, s1, names):
    g0, g1 = s0.get("gets", {}), s1.get("gets", {})
    return [g1.get(k, 0) - g0.get(k, 0) for k in names]


def run(d):
    p = load(d, "params.json")
    m = marks(d)
    final = load(d, "stats-final.json", {})
    s0 = load(d, "stats-w0.json", {})
    s1 = load(d, "stats-w1.json", {})
    token = load(d, "token-final.json", {})
    qps, burst, n = p["qps"], p["burst"], p["n"]
    log = final.get("log", {})
    ts = sorted(t for r in VERTEX_ROUTES for t in log.get(r, []))
    creates = sorted(log.get("create", []))
    out = {"params": p, "marks": m, "requests_by_route": final.get("requests", {}),
           "responses": final.get("responses", {}), "requests_total": len(ts),
           "jobs_at_fake": final.get("jobs"), "token_requests": token.get("requests_total"),
           "creates_per_label_set": sorted(set((final.get("creates") or {}).values()))}
    if not ts:
        return out

    def windows(lo, hi):
        res = {}
        for w in (1, 10, 60):
            if hi - lo < w:
                continue
            cnt, at = max_in_window(ts, w, lo, hi)
            limit = qps * w + burst
            res[str(w)] = {"max": cnt, "at": at, "limit": limit, "ratio": cnt / limit,
                           "rate_only": qps * w, "ratio_rate_only": cnt / (qps * w)}
        return res

    out["whole"] = {"from": ts[0], "to": ts[-1], "windows": windows(ts[0], ts[-1]),
                    "mean_rate": (len(ts) - 1) / (ts[-1] - ts[0]) if ts[-1] > ts[0] else None}
    # Creates: from the first Workflow POST to the last job at the fake.
    if creates:
        out["creates"] = {
            "count": len(creates), "first": creates[0], "last": creates[-1],
            "from_wf_create_s": creates[-1] - m.get("wf_create0", creates[0]),
            "first_to_last_s": creates[-1] - creates[0],
            "bound_s": max(0.0, (n - burst) / qps),
            "wf_posts_s": m.get("wf_create1", 0) - m.get("wf_create0", 0),
        }
    if "window0" in m and "window1" in m:
        lo, hi = m["window0"], m["window1"]
        span = hi - lo
        inw = [t for t in ts if lo <= t <= hi]
        byroute = {r: sum(1 for t in log.get(r, []) if lo <= t <= hi) for r in VERTEX_ROUTES}
        gets = per_job_gets(s0, s1, sorted((s1.get("gets") or {}).keys()))
        cpu = m.get("cpu_w1", 0) - m.get("cpu_w0", 0)
        out["window"] = {
            "from": lo, "to": hi, "seconds": span, "requests": len(inw), "by_route": byroute,
            "mean_rate": len(inw) / span if span > 0 else None,
            "windows": windows(lo, hi),
            "per_job_per_min": byroute["get"] / float(n) / (span / 60.0) if span > 0 else None,
            "per_job_gets": {"min": min(gets), "median": statistics.median(gets),
                             "max": max(gets), "jobs": len(gets)} if gets else None,
            "skeind_cpu_s": cpu, "skeind_cpu_pct": 100.0 * cpu / span if span > 0 else None,
            "skeind_cpu_ms_per_request": 1000.0 * cpu / len(inw) if inw else None,
            "rss_kb": [m.get("rss_w0"), m.get("rss_w1")], "hwm_kb": m.get("hwm_w1"),
            "fake_cpu_s": m.get("fake_cpu_w1", 0) - m.get("fake_cpu_w0", 0),
            "apiserver_cpu_s": m.get("api_cpu_w1", 0) - m.get("api_cpu_w0", 0),
            "load": [m.get("load_w0"), m.get("load_w1")],
            "kube_writes": (m.get("kube_writes_w1", 0) - m.get("kube_writes_w0", 0)),
        }
    return out


# ---- the report ----------------------------------------------------------------

def fmt_t(t, t0):
    return "%+.1f s" % (t - t0) if t is not None and t0 is not None else "?"


def show_windows(label, ws, rate_only=False):
    parts = []
    for w in ("1", "10", "60"):
        if w in ws:
            x = ws[w]
            extra = ", %.0f%% of rate x %s s alone" % (100 * x["ratio_rate_only"], w) if rate_only else ""
            parts.append("%s s: %d (limit %g: %.0f%%%s)" % (w, x["max"], x["limit"], 100 * x["ratio"],
                                                          extra))
    print("  %-21s %s" % (label, parts[0] if parts else "-"))
    for p in parts[1:]:
        print("  %-21s %s" % ("", p))


def show(d, r):
    p, m = r["params"], r["marks"]
    t0 = m.get("skeind_start")
    print("--cloud-vertex-qps %g (burst %d): %d Workflows, one Vertex step each, poll %s" % (
        p["qps"], p["burst"], p["n"], p["poll_text"]))
    print("  skeind                %s, --kube-api-qps %g --kube-api-burst %d, --workers %s" % (
        p.get("skeind_build", "?"), p["kube_qps"], p["kube_burst"], p.get("workers", "default")))
    print("  load average (1 min)  %s at the start, %s / %s at the window's start / end" % (
        m.get("load_start", "?"), m.get("load_w0", "?"), m.get("load_w1", "?")))
    c = r.get("creates")
    if c:
        print("  Workflows POSTed      in %.1f s (kubectl create -f, one List)" % c["wf_posts_s"])
        print("  jobs created          %d; the last %.1f s after the first Workflow POST "
              "(%.1f s first to last; the bucket allows it in %.1f s at best)" % (
                  c["count"], c["from_wf_create_s"], c["first_to_last_s"], c["bound_s"]))
    if "all_seen_running" in m:
        print("  skeind saw all RUNNING %.1f s after the last create" % (
            m["all_seen_running"] - (c["last"] if c else 0)))
    w = r.get("window")
    if w:
        print("  window                %.1f s, every job RUNNING at the fake and in its "
              "Workflow's status" % w["seconds"])
        print("  requests in window    %d (%s), mean %.2f/s against %g/s" % (
            w["requests"], ", ".join("%s %d" % kv for kv in w["by_route"].items() if kv[1]),
            w["mean_rate"], p["qps"]))
        show_windows("most in any span", w["windows"], rate_only=True)
        print("  polls per job         %.2f per minute (%g x 60 / %d = %.2f); per job over the "
              "window: min %d, median %g, max %d" % (
                  w["per_job_per_min"], p["qps"], p["n"], p["qps"] * 60.0 / p["n"],
                  w["per_job_gets"]["min"], w["per_job_gets"]["median"],
                  w["per_job_gets"]["max"]))
        print("  skeind CPU            %.2f s over the window: %.2f%% of one core, %.3f ms "
              "per request" % (w["skeind_cpu_s"], w["skeind_cpu_pct"],
                               w["skeind_cpu_ms_per_request"] or 0))
        print("  skeind memory         RSS %.1f MB at the start of the window, %.1f MB at its "
              "end, peak %.1f MB" % (w["rss_kb"][0] / 1024.0, w["rss_kb"][1] / 1024.0,
                                     w["hwm_kb"] / 1024.0))
        print("  skeind API writes     %d in the window" % w["kube_writes"])
        print("  others' CPU           fake Vertex %.1f s, kube-apiserver %.1f s over the window" % (
            w["fake_cpu_s"], w["apiserver_cpu_s"]))
    wh = r.get("whole")
    if wh:
        show_windows("whole run, most in", wh["windows"])
        print("  whole run             %d Vertex requests in %.1f s (mean %.2f/s): %s; "
              "token endpoint %s" % (
                  r["requests_total"], wh["to"] - wh["from"], wh["mean_rate"] or 0,
                  ", ".join("%s %d" % kv for kv in sorted(r["requests_by_route"].items())),
                  r.get("token_requests")))
        print("  answers               %s" % ", ".join(
            "%s %d" % kv for kv in sorted(r["responses"].items())))
    if "total_cpu" in m:
        print("  skeind, whole run     CPU %.1f s, peak RSS %.1f MB" % (
            m["total_cpu"], m.get("hwm_end", 0) / 1024.0))
    if "all_final" in m:
        print("  end                   every job ended at the fake by %s; every Workflow "
              "final %.1f s after the last job's end (%s)" % (
                  fmt_t(m.get("last_job_end"), t0), m["all_final"] - m.get("last_job_end", 0),
                  m.get("end_text", "")))
    if m.get("skeind_requests") is not None:
        print("  skeind's own count    skein_cloud_requests_total %d, throttled %d, errors %d" % (
            m["skeind_requests"], m.get("skeind_throttled", 0), m.get("skeind_errors", 0)))


def main(argv):
    if len(argv) == 6 and argv[1] == "workflows":
        workflows(int(argv[2]), argv[3], argv[4], argv[5])
    elif len(argv) == 3 and argv[1] == "wfsum":
        wfsum(argv[2])
    elif len(argv) == 3 and argv[1] == "run":
        r = run(argv[2])
        with open(os.path.join(argv[2], "summary.json"), "w") as f:
            json.dump(r, f, indent=1)
    elif len(argv) == 3 and argv[1] == "print":
        res = argv[2]
        machine = load(res, "machine.json", {})
        print("machine: %s" % ", ".join("%s=%s" % (k, machine[k]) for k in sorted(machine)))
        for name in sorted(os.listdir(res), key=lambda s: (len(s), s)):
            d = os.path.join(res, name)
            if os.path.isdir(d) and os.path.exists(os.path.join(d, "summary.json")):
                print()
                show(d, load(d, "summary.json"))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
