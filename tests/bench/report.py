#!/usr/bin/env python3
"""Helpers of bench_skeind.sh: API write counts and the printed report.

  report.py writes BEFORE AFTER CREATES   the apiserver's write requests
      between two scrapes of its /metrics (apiserver_request_total), as
      JSON: the controller's writes (Workflow status and other writes
      except the benchmark's own CREATES Workflow POSTs, Pods, core/v1
      Events) and everyone else's (scheduler bindings, kwok's Pod status
      patches, node leases, the apiserver's own).
  report.py print DIR                     the figures of a run, next to
      the targets, from the JSON files the script left in DIR.
"""
import json
import os
import re
import sys

WRITE_VERBS = {"POST", "PUT", "PATCH", "DELETE", "DELETECOLLECTION", "APPLY"}
LINE = re.compile(r'^(apiserver_request_(?:total|duration_seconds_sum|duration_seconds_count'
                  r'|duration_seconds_bucket))\{([^}]*)\}\s+([0-9.e+]+)$')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
# The requests whose latency sets a step's start: the status write, then the Pod.
TIMED = ["PUT skein.dev/workflows/status", "POST pods", "POST events"]


def request_name(verb, group, resource, sub):
    return "%s %s%s%s" % (verb, group + "/" if group else "", resource, "/" + sub if sub else "")


def scrape(path, metric="apiserver_request_total"):
    """{(verb, group, resource, subresource, code): value} of one metric, write verbs.
    The duration metrics have no code label: code is "" for them."""
    out = {}
    with open(path) as f:
        for line in f:
            m = LINE.match(line.strip())
            if not m or m.group(1) != metric:
                continue
            labels = dict(LABEL.findall(m.group(2)))
            if labels.get("verb") not in WRITE_VERBS:
                continue
            key = (labels["verb"], labels.get("group", ""), labels.get("resource", ""),
                   labels.get("subresource", ""), labels.get("code", ""))
            out[key] = out.get(key, 0) + float(m.group(3))
    return out


def buckets(path):
    """{request name: {le: cumulative count}} of the TIMED requests."""
    out = {}
    with open(path) as f:
        for line in f:
            m = LINE.match(line.strip())
            if not m or m.group(1) != "apiserver_request_duration_seconds_bucket":
                continue
            labels = dict(LABEL.findall(m.group(2)))
            name = request_name(labels.get("verb", ""), labels.get("group", ""),
                                labels.get("resource", ""), labels.get("subresource", ""))
            if name in TIMED:
                le = float("inf") if labels["le"] == "+Inf" else float(labels["le"])
                b = out.setdefault(name, {})
                b[le] = b.get(le, 0) + float(m.group(3))
    return out


def quantile_ms(before, after, q):
    """The apiserver's q-quantile of each TIMED request between the scrapes,
    interpolated in its histogram's buckets as Prometheus' histogram_quantile."""
    b0, b1 = buckets(before), buckets(after)
    out = {}
    for name, cum in b1.items():
        les = sorted(cum)
        counts = [cum[le] - b0.get(name, {}).get(le, 0) for le in les]
        total = counts[-1] if counts else 0
        if total <= 0:
            continue
        rank = q * total
        prev_le, prev_n = 0.0, 0.0
        for le, n in zip(les, counts):
            if n >= rank:
                if le == float("inf"):
                    out[name] = round(1000 * prev_le, 1)
                else:
                    frac = (rank - prev_n) / (n - prev_n) if n > prev_n else 1.0
                    out[name] = round(1000 * (prev_le + (le - prev_le) * frac), 1)
                break
            prev_le, prev_n = le, n
    return out


def mean_latency_ms(before, after):
    """The apiserver's own mean latency of the TIMED requests between the scrapes."""
    sums = [scrape(p, "apiserver_request_duration_seconds_sum") for p in (before, after)]
    counts = [scrape(p, "apiserver_request_duration_seconds_count") for p in (before, after)]
    out = {}
    for key in counts[1]:
        name = request_name(*key[:4])
        if name not in TIMED:
            continue
        n = counts[1][key] - counts[0].get(key, 0)
        if n > 0:
            out[name] = round(1000 * (sums[1][key] - sums[0].get(key, 0)) / n, 2)
    return out


def is_controller(verb, group, resource, sub):
    """The writes a Workflow controller makes (skeind's, or the raw one's)."""
    if group == "skein.dev" and resource == "workflows":
        return True
    if group == "" and resource == "pods" and sub == "":
        return True
    return group == "" and resource == "events"


def writes(before, after, creates):
    b, a = scrape(before), scrape(after)
    rows = {}
    ctrl = other = errors = 0
    for key in sorted(set(a) | set(b)):
        n = int(round(a.get(key, 0) - b.get(key, 0)))
        if n <= 0:
            continue
        verb, group, resource, sub, code = key
        name = request_name(verb, group, resource, sub)
        rows[name] = rows.get(name, 0) + n
        if is_controller(verb, group, resource, sub):
            ctrl += n
            if not code.startswith("2"):
                errors += n
        else:
            other += n
    wf_posts = rows.get("POST skein.dev/workflows", 0)
    return {"by_request": rows, "workflow_creates_seen": wf_posts,
            "benchmark_creates": creates, "controller": ctrl - creates,
            "controller_non_2xx": errors, "other": other,
            "apiserver_mean_ms": mean_latency_ms(before, after),
            "apiserver_p99_ms": quantile_ms(before, after, 0.99)}


def load(d, name):
    try:
        with open(os.path.join(d, name + ".json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def ms(s, key):
    return "%.1f" % s[key] if s and s.get("n") else "-"


def latencies(w):
    lat, p99 = w.get("apiserver_mean_ms", {}), w.get("apiserver_p99_ms", {})
    return ", ".join("%s mean %.1f ms, p99 ~%s ms" % (k, lat[k], p99.get(k, "?"))
                     for k in TIMED if k in lat)


def verdict(ok):
    return "met" if ok else "MISSED"


def show(d):
    machine = load(d, "machine") or {}
    params = load(d, "params") or {}
    print("machine: %s" % ", ".join("%s=%s" % (k, machine[k]) for k in sorted(machine)))
    print("params:  %s" % ", ".join("%s=%s" % (k, params[k]) for k in sorted(params)))
    single, sw, sk = load(d, "single"), load(d, "single-writes"), load(d, "single-skeind")
    raw, rw = load(d, "raw"), load(d, "raw-writes")
    chain, ck = load(d, "chain"), load(d, "chain-skeind")
    mem, mk, mk2 = load(d, "memory"), load(d, "memory-skeind"), load(d, "memory-restart")
    print()
    if single:
        n = single["count"]
        print("single-Pod workflows (skeind): %d created, %d done, %d failed%s" % (
            single["created"], single["done"], single["failed"],
            ", TIMED OUT" if single["timed_out"] else ""))
        print("  throughput            %.1f workflows/s (%.1f s from first create to last done)"
              % (single["workflows_per_s"], single["elapsed_s"]))
        print("  creates               %.1f /s by the benchmark (its CPU: %.1f s)" % (
            single["create_per_s"], single.get("tool_cpu_s", 0)))
        c = single["create_to_first_pod_ms"]
        print("  create -> Pod ADDED   p50 %s ms, p99 %s ms, max %s ms" % (
            ms(c, "p50"), ms(c, "p99"), ms(c, "max")))
        if sw:
            per = sw["controller"] / float(n)
            print("  API writes/workflow   %.2f (apiserver: %d controller writes, %d non-2xx)"
                  "   target <= 6: %s" % (per, sw["controller"], sw["controller_non_2xx"],
                                          verdict(per <= 6)))
            ev = sw["by_request"].get("POST events", 0) + sw["by_request"].get("PATCH events", 0)
            dropped = sk.get("events_dropped") if sk else None
            print("  Events written        %.2f of 2 per workflow%s" % (
                ev / float(n), "" if dropped is None else
                " (skeind's recorder dropped %d: queue full or write failed)" % dropped))
            print("  other writes          %.2f/workflow (scheduler, kwok, leases)" % (
                sw["other"] / float(n)))
            print("  apiserver latency     %s" % latencies(sw))
            for k, v in sorted(sw["by_request"].items()):
                print("      %-42s %6d  %.2f/wf" % (k, v, v / float(n)))
        if sk:
            print("  skeind CPU            %.1f s (%.1f ms/workflow), peak RSS %.1f MB"
                  % (sk["cpu_s"], 1000 * sk["cpu_s"] / n, sk["hwm_kb"] / 1024.0))
            if "components_cpu_s" in sk:
                print("  cluster CPU           %s" % ", ".join(
                    "%s %.1f s" % kv for kv in sorted(sk["components_cpu_s"].items())))
    if raw:
        n = raw["count"]
        print()
        print("raw client limit (same writes, same client library, rate limit and "
              "concurrency; fresh cluster):")
        print("  throughput            %.1f workflows/s (%.1f s; the tool's CPU: %.1f s)" % (
            raw["workflows_per_s"], raw["elapsed_s"], raw.get("tool_cpu_s", 0)))
        c = raw["create_to_first_pod_ms"]
        print("  create -> Pod ADDED   p50 %s ms, p99 %s ms" % (ms(c, "p50"), ms(c, "p99")))
        if rw:
            print("  API writes/workflow   %.2f (its own count: %s)" % (
                rw["controller"] / float(n), raw.get("raw", {}).get("writes", {}).get("total")))
            print("  Events dropped        %s (at 1000 waiting, as skeind's recorder)" % (
                raw.get("raw", {}).get("events_dropped")))
            print("  apiserver latency     %s" % latencies(rw))
        rk = load(d, "raw-cpu")
        if rk and "components_cpu_s" in rk:
            print("  cluster CPU           %s" % ", ".join(
                "%s %.1f s" % kv for kv in sorted(rk["components_cpu_s"].items())))
        if single and raw["workflows_per_s"] > 0:
            ratio = single["workflows_per_s"] / raw["workflows_per_s"]
            print("  skeind / raw          %.0f%%   target >= 80%%: %s" % (
                100 * ratio, verdict(ratio >= 0.8)))
    if chain:
        print()
        print("5-step chains (skeind): %d created at %s/s, %d done, %d failed%s" % (
            chain["created"], params.get("chain_rate", "?"), chain["done"], chain["failed"],
            ", TIMED OUT" if chain["timed_out"] else ""))
        s = chain.get("step_done_to_next_pod_ms")
        if s:
            print("  Pod Succeeded -> next Pod ADDED  p50 %s ms, p90 %s ms, p99 %s ms, max %s ms"
                  "   target p99 <= 50 ms: %s" % (ms(s, "p50"), ms(s, "p90"), ms(s, "p99"),
                                                  ms(s, "max"), verdict(s["p99"] <= 50)))
        a, b = chain.get("step_done_to_next_running_ms"), chain.get("next_running_to_pod_ms")
        if a and b:
            print("    of which: Pod Succeeded -> status shows next step Running  p50 %s, p99 %s ms"
                  % (ms(a, "p50"), ms(a, "p99")))
            print("              status -> next Pod ADDED                       p50 %s, p99 %s ms"
                  % (ms(b, "p50"), ms(b, "p99")))
        c = chain["create_to_first_pod_ms"]
        print("  create -> first Pod ADDED        p50 %s ms, p99 %s ms" % (
            ms(c, "p50"), ms(c, "p99")))
        cw = load(d, "chain-writes")
        if cw:
            print("  API writes/workflow   %.2f (5 steps)" % (
                cw["controller"] / float(chain["count"])))
            print("  apiserver latency     %s" % latencies(cw))
        if ck:
            q = ck.get("queue", {})
            if q.get("count"):
                print("  skeind's queue        keys waited %.2f ms on average, %.0f ms at most "
                      "(since start)" % (1000 * q["sum"] / q["count"], 1000 * q.get("max", 0)))
            print("  skeind CPU            %.1f s over the chains" % ck["cpu_s"])
    if mem:
        print()
        print("memory: %d five-step workflows (first step when: false), %d done%s" % (
            mem["count"], mem["done"], ", TIMED OUT" if mem["timed_out"] else ""))
        idle = load(d, "memory-idle")
        if idle:
            print("  skeind idle           RSS %.1f MB (no Workflows)" % (idle["rss_kb"] / 1024.0))
        if mk:
            print("  skeind that ran them  RSS %.1f MB, peak %.1f MB, CPU %.1f s" % (
                mk["rss_kb"] / 1024.0, mk["hwm_kb"] / 1024.0, mk["cpu_s"]))
        if mk2:
            print("  restarted skeind      RSS %.1f MB after syncing %d workflows (peak %.1f MB)"
                  "   target <= 50 MB: %s" % (mk2["rss_kb"] / 1024.0, mk2.get("cached", 0),
                                              mk2["hwm_kb"] / 1024.0,
                                              verdict(mk2["rss_kb"] <= 50 * 1024)))
            if mk2.get("wf_json_bytes"):
                print("  one cached workflow   %d bytes of JSON" % mk2["wf_json_bytes"])


def main(argv):
    if len(argv) == 5 and argv[1] == "writes":
        json.dump(writes(argv[2], argv[3], int(argv[4])), sys.stdout, indent=1, sort_keys=True)
        print()
        return 0
    if len(argv) == 3 and argv[1] == "print":
        show(argv[2])
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
