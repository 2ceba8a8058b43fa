#!/usr/bin/env python3
"""check_runs.py WORKFLOWS.json PODS.json NAME...: did each run end as it must, with the Pods it must have?

WORKFLOWS.json and PODS.json are `kubectl get swf -o json` and `kubectl get
pods -o json` of one namespace. Each NAME is a Workflow made from one of the
files next to this script; its kind is its name up to the last '-'
(chain-07 is a chain.yaml, fan-2 a fanout.yaml, fail-1 a failing.yaml,
long-3 a long.yaml), and the kind says how it must end (EXPECT below).

For every NAME it checks, from the API only:
  - the Workflow exists and its phase is the expected one;
  - its step records are exactly the expected ones, each in its expected
    phase with its expected attempt count: a step that succeeds at once has
    attempt 1, so a step run twice (a second attempt after a lost Pod or a
    restart that forgot a result) is caught even though deterministic Pod
    names make a twin of one attempt impossible;
  - for each record that started (attempt N > 0), its Pods are exactly
    <workflow>-<instance>-1 .. -N, each labelled with its attempt and
    controlled by this Workflow (its uid), finished, and the record's ref
    names the last one; a record that never started has no Pod;
  - no Pod of the workflow belongs to a step instance it has no record of.
It prints one line per workflow, "ok   ..." or "FAIL: ...", and exits 0;
the shell test counts the lines.
"""

import json
import sys

SUCCEEDED_ONCE = ("Succeeded", 1)

EXPECT = {
    "chain": ("Succeeded", {"a": SUCCEEDED_ONCE, "b": SUCCEEDED_ONCE, "c": SUCCEEDED_ONCE}),
    "fan": ("Succeeded", dict(
        [("prep", SUCCEEDED_ONCE), ("work", ("Succeeded", None)), ("join", SUCCEEDED_ONCE)] +
        [("work-%d" % i, SUCCEEDED_ONCE) for i in range(5)])),
    "long": ("Succeeded", {"s%d" % i: SUCCEEDED_ONCE for i in range(1, 9)}),
    # flaky fails on each of its 1 + 2 attempts; after never starts.
    "fail": ("Failed", {"ok": SUCCEEDED_ONCE, "flaky": ("Failed", 3), "after": ("Skipped", 0)}),
}


def load_items(path):
    with open(path) as f:
        return json.load(f).get("items") or []


def controller_uid(pod):
    for ref in pod["metadata"].get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == "Workflow":
            return ref.get("uid")
    return None


def check(name, wf, pods):
    """Returns the list of problems of one workflow (empty when all is well)."""
    kind = name.rsplit("-", 1)[0]
    if kind not in EXPECT:
        return ["no expectations for a workflow named %s" % name]
    want_phase, want_records = EXPECT[kind]
    if wf is None:
        return ["the Workflow does not exist"]
    problems = []
    status = wf.get("status") or {}
    uid = wf["metadata"]["uid"]
    if status.get("phase") != want_phase:
        problems.append("phase %s, want %s (message: %s)"
                        % (status.get("phase"), want_phase, status.get("message", "")))
    records = {r.get("name"): r for r in status.get("steps") or []}
    if sorted(records) != sorted(want_records):
        problems.append("step records %s, want %s" % (sorted(records), sorted(want_records)))

    mine = [p for p in pods
            if (p["metadata"].get("labels") or {}).get("skein.dev/workflow") == name
            or controller_uid(p) == uid]
    by_step = {}
    for p in mine:
        step = (p["metadata"].get("labels") or {}).get("skein.dev/step", "?")
        by_step.setdefault(step, []).append(p)

    for inst, (rphase, rattempt) in sorted(want_records.items()):
        r = records.get(inst)
        if r is None:
            continue
        if r.get("phase") != rphase:
            problems.append("step %s is %s, want %s (%s)"
                            % (inst, r.get("phase"), rphase, r.get("message", "")))
        if rattempt is None:
            # A fan-out's parent record: its instances carry the attempts.
            continue
        attempt = r.get("attempt") or 0
        if attempt != rattempt:
            problems.append("step %s has attempt %s, want %s" % (inst, attempt, rattempt))
        got = by_step.pop(inst, [])
        names = sorted(p["metadata"]["name"] for p in got)
        want_names = sorted("%s-%s-%d" % (name, inst, k) for k in range(1, attempt + 1))
        if names != want_names:
            problems.append("step %s (attempt %d) has Pods %s, want %s"
                            % (inst, attempt, names, want_names))
        for p in got:
            pn = p["metadata"]["name"]
            label = (p["metadata"].get("labels") or {}).get("skein.dev/attempt")
            if not pn.endswith("-" + str(label)):
                problems.append("Pod %s has attempt label %s" % (pn, label))
            if controller_uid(p) != uid:
                problems.append("Pod %s is controlled by uid %s, not the Workflow's %s"
                                % (pn, controller_uid(p), uid))
            if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                problems.append("Pod %s is still %s" % (pn, (p.get("status") or {}).get("phase")))
        if attempt > 0:
            ref = (r.get("ref") or {}).get("name")
            if ref != "%s-%s-%d" % (name, inst, attempt):
                problems.append("step %s: ref names %s, not the Pod of attempt %d"
                                % (inst, ref, attempt))
    for inst, got in sorted(by_step.items()):
        problems.append("Pods %s belong to step %s, which has no record that started"
                        % (sorted(p["metadata"]["name"] for p in got), inst))
    return problems


def main():
    wfs = {w["metadata"]["name"]: w for w in load_items(sys.argv[1])}
    pods = load_items(sys.argv[2])
    for name in sys.argv[3:]:
        problems = check(name, wfs.get(name), pods)
        if problems:
            print("FAIL: %s: %s" % (name, "; ".join(problems)))
        else:
            want_phase, want_records = EXPECT[name.rsplit("-", 1)[0]]
            pods_n = sum(1 for p in pods
                         if (p["metadata"].get("labels") or {}).get("skein.dev/workflow") == name)
            print("ok   %s: %s, %d step records as expected, %d Pod(s), one per attempt"
                  % (name, want_phase, len(want_records), pods_n))


if __name__ == "__main__":
    main()
