"""quickstart-outputs.py: workflows/quickstart-cluster.yaml for the test cluster.

Reads the Workflow as JSON on stdin (`kubectl create --dry-run=client -o
json -f workflows/quickstart-cluster.yaml`) and prints it with an annotation
skein.dev/test-termination-message on each step's Pod. On a real cluster
each step's Python writes its outputs to $SKEIN_OUTPUTS, and the kubelet
hands them back as the container's termination message. kwok runs no
container: it copies that annotation into the termination message instead.
Without it the steps would have no outputs, and train, evaluate and register,
which template prepare's fingerprint, the models and the accuracy, would
fail. The values are plausible ones for the default params; {{item}} and
{{params.*}} in them are templated like the rest of the step, so each train
instance reports its own learning rate.

A step of the file that is not below is an error: a new step must say what
it outputs, rather than quietly have nothing.
"""

import json
import sys

MODEL = '{"algorithm":"logreg","optimizer":"sgd","learning_rate":%s,"epochs":20,"seed":42}'

OUTPUTS = {
    "prepare": "fingerprint=3f2a9c1d5e7b8a60\nfeatures=5\ntrain_rows=1800\nval_rows=600\ntest_rows=600\n",
    "train": "model=" + MODEL % "{{item}}" + "\naccuracy=0.9250\nloss=0.21000\nval_loss=0.22000\n"
             "learning_rate={{item}}\n",
    "evaluate": "model=" + MODEL % "0.1" + "\naccuracy=0.9317\nloss=0.19000\nval_accuracy=0.9333\n"
                "learning_rate=0.1\n",
    "register": "name=logreg-sgd\nversion={{params.version}}\n"
                "uri={{params.registry}}/logreg-sgd/base/{{params.version}}/\n",
    "summary": "",
}

wf = json.load(sys.stdin)
spec = wf["spec"]
for step in spec.get("steps", []) + spec.get("finally", []):
    name = step["name"]
    if name not in OUTPUTS:
        sys.exit("quickstart-outputs.py: no outputs written down for step %r" % name)
    if OUTPUTS[name]:
        md = step["pod"].setdefault("metadata", {})
        md.setdefault("annotations", {})["skein.dev/test-termination-message"] = OUTPUTS[name]
json.dump(wf, sys.stdout, indent=1)
print()
