"""podwatch.py FILE EXPR: questions about a recorded watch of Pods.

FILE is what `kubectl get pods --watch --output-watch-events -o json`
wrote: a stream of {"type": ..., "object": Pod} documents, in the order the
API server sent them, which is the order of the changes in etcd. So "A
finished before B was created" can be asked of the stream without any
clock: a controller that starts B only after it saw A finish cannot show
B's ADDED before A's finishing MODIFIED.

EXPR is a Python expression over these names (a string prints as it is,
anything else as JSON):
  events            the list of (type, pod) in stream order.
  names(WF)         the names of the Pods of Workflow WF (label
                    skein.dev/workflow), in the order they first appeared.
  created(POD)      the index of POD's first event; None when never seen.
  finished(POD)     the index of the first event that shows POD finished:
                    phase Succeeded or Failed, a terminated container
                    "main", a deletionTimestamp, or its DELETED event
                    (the controller counts an attempt it killed as ended);
                    None when never.
  before(A, B)      A finished before B appeared (both seen).
  max_unfinished(WF)  the most Pods of WF that existed unfinished at once.
  phases(POD)       the phases POD went through, repeats removed.
  pod(POD)          the first version of POD seen ({} when never), for
                    its spec, which does not change.
"""

import json
import sys


def load(path):
    with open(path) as f:
        text = f.read()
    dec = json.JSONDecoder()
    out, i = [], 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            break
        try:
            doc, i = dec.raw_decode(text, i)
        except ValueError:
            # A document cut short by the watcher's end is not an event.
            break
        out.append((doc.get("type"), doc.get("object") or {}))
    return out


events = load(sys.argv[1])


def _name(pod):
    return (pod.get("metadata") or {}).get("name")


def _wf(pod):
    return ((pod.get("metadata") or {}).get("labels") or {}).get("skein.dev/workflow")


def _is_finished(kind, pod):
    if kind == "DELETED":
        return True
    md = pod.get("metadata") or {}
    st = pod.get("status") or {}
    if md.get("deletionTimestamp") or st.get("phase") in ("Succeeded", "Failed"):
        return True
    for c in st.get("containerStatuses") or []:
        if c.get("name") == "main" and "terminated" in (c.get("state") or {}):
            return True
    return False


def names(wf):
    seen = []
    for _, pod in events:
        n = _name(pod)
        if _wf(pod) == wf and n not in seen:
            seen.append(n)
    return seen


def created(pod):
    for i, (_, p) in enumerate(events):
        if _name(p) == pod:
            return i
    return None


def finished(pod):
    for i, (kind, p) in enumerate(events):
        if _name(p) == pod and _is_finished(kind, p):
            return i
    return None


def before(a, b):
    fa, cb = finished(a), created(b)
    return fa is not None and cb is not None and fa < cb


def max_unfinished(wf):
    live, done, most = set(), set(), 0
    for kind, pod in events:
        if _wf(pod) != wf:
            continue
        n = _name(pod)
        if _is_finished(kind, pod):
            live.discard(n)
            done.add(n)
        elif n not in done:
            live.add(n)
        most = max(most, len(live))
    return most


def phases(pod):
    out = []
    for _, p in events:
        if _name(p) == pod:
            ph = (p.get("status") or {}).get("phase")
            if ph and (not out or out[-1] != ph):
                out.append(ph)
    return out


def pod(name):
    for _, p in events:
        if _name(p) == name:
            return p
    return {}


value = eval(sys.argv[2])
print(value if isinstance(value, str) else json.dumps(value))
