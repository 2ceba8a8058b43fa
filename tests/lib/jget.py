"""jget FILE EXPR: evaluates a Python expression over a JSON document and prints it.

The shell tests use it through testlib.sh's `jget`, as in
    expect "phase" "$(jget "$tmp/run.out" 'step("train")["phase"]')" Succeeded

Names an expression can use:
  doc              the document as parsed.
  status           the status of the run. For a Workflow (what `skeinctl run
                   -o json` prints, or a run directory's workflow.json) that is
                   doc["status"], or {} while it is null. A document without a
                   "status" key, such as a run directory's status.json, IS the
                   status, so the same expressions work on both files.
  step(NAME)       the record in status.steps named NAME (a step, or one
                   instance of a fan-out such as "train-0"); {} when there is
                   none, so `.get(...)` gives None rather than an error.
  instances(NAME)  the records of fan-out NAME's instances (NAME-0, NAME-1, …)
                   in index order, which is not necessarily the order of the
                   records in the file.
  out(NAME, KEY)   output KEY of step NAME, or None.
  spec_step(NAME)  step NAME as written in spec.steps or spec.finally; {} when
                   there is none.

A string prints as it is, anything else as JSON (so None prints null, True
true, a list ["a", "b"]). An expression that fails prints its traceback on
stderr and exits 1: the `$(...)` around it is then empty, and the expect that
compares it fails with the traceback to explain why.
"""

import json
import re
import sys

with open(sys.argv[1]) as f:
    doc = json.load(f)

if not isinstance(doc, dict):
    status = {}
elif "status" in doc:
    status = doc["status"] or {}
else:
    status = doc
records = (status.get("steps") if isinstance(status, dict) else None) or []


def step(name):
    for r in records:
        if r.get("name") == name:
            return r
    return {}


def instances(name):
    pattern = re.compile(re.escape(name) + r"-([0-9]+)")
    found = [(int(m.group(1)), r) for r in records
             for m in [pattern.fullmatch(r.get("name", ""))] if m]
    return [r for _, r in sorted(found, key=lambda t: t[0])]


def out(name, key):
    return (step(name).get("outputs") or {}).get(key)


def spec_step(name):
    spec = doc.get("spec") or {}
    for s in (spec.get("steps") or []) + (spec.get("finally") or []):
        if s.get("name") == name:
            return s
    return {}


value = eval(sys.argv[2])
print(value if isinstance(value, str) else json.dumps(value))
