/*
 * Controller pieces without a reconcile: Pod names and label values, the
 * podSpecPatch merge and the Pod builder (against expected JSON files
 * under tests/unit/data/controller/). JSON literals use single quotes
 * (see J() in test_controller_sim.h).
 */
#include "spec/spec.h"
#include "test_controller_sim.h"

static const char *source_dir(void) {
  const char *d = getenv("SKEIN_SOURCE_DIR");
  return d && *d ? d : ".";
}

static json_t *load_fixture(const char *name) {
  char path[4096];
  snprintf(path, sizeof(path), "%s/tests/unit/data/controller/%s", source_dir(), name);
  json_error_t err;
  json_t *v = json_load_file(path, 0, &err);
  if (!v)
    FAILF("fixture %s: %s (line %d)", path, err.text, err.line);
  return v;
}

/* Loads a Workflow model from YAML. */
static sk_workflow_t *load_wf(const char *yaml) {
  sk_diags_t d;
  sk_diags_init(&d);
  sk_yaml_doc_t **docs = NULL;
  size_t ndocs = 0;
  sk_workflow_t *wf = NULL;
  if (sk_yaml_parse(yaml, strlen(yaml), "case.yaml", &d, &docs, &ndocs) == 0 && ndocs == 1)
    sk_spec_parse_workflow(docs[0], &d, &wf);
  if (!wf) {
    FAILF("workflow did not load:\n%s", yaml);
    sk_diags_print(&d, stdout);
  }
  if (docs)
    sk_yaml_docs_destroy(docs, ndocs);
  sk_diags_release(&d);
  return wf;
}

/* ---- names ---- */

static bool valid_pod_name(const char *s) {
  return strlen(s) <= 63 && sk_is_dns1123_subdomain(s) && s[strlen(s) - 1] != '-';
}

TEST(pod_name_plain) {
  char out[64];
  CHECK_INT(sk_controller_pod_name("wf", "train", 1, out, sizeof(out)), 0);
  CHECK_STR(out, "wf-train-1");
  CHECK_INT(sk_controller_pod_name("mnist-x7k2p", "train-12", 3, out, sizeof(out)), 0);
  CHECK_STR(out, "mnist-x7k2p-train-12-3");
  /* Exactly 63 characters is kept as it is. */
  char wf[64];
  memset(wf, 'a', 59);
  wf[59] = '\0';
  CHECK_INT(sk_controller_pod_name(wf, "s", 1, out, sizeof(out)), 0);
  CHECK_INT(strlen(out), 63);
  CHECK(strncmp(out, wf, 59) == 0 && strcmp(out + 59, "-s-1") == 0);
  /* Uppercase never reaches a Pod name. */
  CHECK_INT(sk_controller_pod_name("WF", "Train", 2, out, sizeof(out)), 0);
  CHECK_STR(out, "wf-train-2");
}

TEST(pod_name_long) {
  char wf[200], a[64], b[64], c2[64], d[64];
  memset(wf, 'w', 150);
  wf[150] = '\0';
  CHECK_INT(sk_controller_pod_name(wf, "train", 1, a, sizeof(a)), 0);
  CHECK_INT(strlen(a), 63);
  CHECK(valid_pod_name(a));
  /* First 52 characters, a dash, 10 hex digits. */
  CHECK(strncmp(a, wf, 52) == 0);
  CHECK(a[52] == '-');
  for (int i = 53; i < 63; i++)
    CHECK((a[i] >= '0' && a[i] <= '9') || (a[i] >= 'a' && a[i] <= 'f'));
  /* Deterministic. */
  CHECK_INT(sk_controller_pod_name(wf, "train", 1, b, sizeof(b)), 0);
  CHECK_STR(a, b);
  /* Attempts and instances differ although their prefixes are equal. */
  CHECK_INT(sk_controller_pod_name(wf, "train", 2, b, sizeof(b)), 0);
  CHECK(strcmp(a, b) != 0);
  CHECK_INT(sk_controller_pod_name(wf, "train-1", 1, c2, sizeof(c2)), 0);
  CHECK_INT(sk_controller_pod_name(wf, "train-10", 1, d, sizeof(d)), 0);
  CHECK(strcmp(c2, d) != 0 && strcmp(c2, a) != 0);
  CHECK(strncmp(a, b, 52) == 0 && strncmp(a, c2, 52) == 0);
  /* Two workflows that share the first 52 characters. */
  char wf2[200];
  memcpy(wf2, wf, sizeof(wf));
  wf2[120] = 'x';
  CHECK_INT(sk_controller_pod_name(wf2, "train", 1, b, sizeof(b)), 0);
  CHECK(strcmp(a, b) != 0);
  CHECK(strncmp(a, b, 52) == 0);
}

TEST(pod_name_no_dash_before_hash) {
  /* Character 52 is a '-' (and 51 a '.'): the prefix drops them, so the
   * name holds no "-." or "--" before the hash. */
  char wf[100], out[64];
  memset(wf, 'a', 90);
  wf[50] = '.';
  wf[51] = '-';
  wf[90] = '\0';
  CHECK_INT(sk_controller_pod_name(wf, "step", 1, out, sizeof(out)), 0);
  CHECK(valid_pod_name(out));
  CHECK(strstr(out, "--") == NULL && strstr(out, ".-") == NULL);
  CHECK(strncmp(out, wf, 50) == 0 && out[50] == '-');
  CHECK_INT(strlen(out), 50 + 1 + 10);
}

TEST(pod_name_errors) {
  char out[64];
  CHECK_INT(sk_controller_pod_name("wf", "s", 0, out, sizeof(out)), SK_EINVAL);
  CHECK_INT(sk_controller_pod_name("", "s", 1, out, sizeof(out)), SK_EINVAL);
  CHECK_INT(sk_controller_pod_name("wf", NULL, 1, out, sizeof(out)), SK_EINVAL);
  CHECK_INT(sk_controller_pod_name("wf", "s", 1, out, 4), SK_ETOOBIG);
  char big[700];
  memset(big, 'a', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  CHECK_INT(sk_controller_pod_name(big, "s", 1, out, sizeof(out)), SK_EINVAL);
}

TEST(label_values) {
  char out[64];
  CHECK_INT(sk_controller_label_value("train-0", out, sizeof(out)), 0);
  CHECK_STR(out, "train-0");
  char lng[254];
  memset(lng, 'b', 253);
  lng[253] = '\0';
  CHECK_INT(sk_controller_label_value(lng, out, sizeof(out)), 0);
  CHECK_INT(strlen(out), 63);
  CHECK(sk_is_dns1123_label(out));
  char again[64];
  lng[200] = 'c';
  CHECK_INT(sk_controller_label_value(lng, again, sizeof(again)), 0);
  CHECK(strcmp(out, again) != 0);
}

/* ---- merge ---- */

static void merge_case(const char *target, const char *patch, const char *want) {
  json_t *t = J(target), *p = J(patch), *w = J(want);
  json_t *before = json_deep_copy(p);
  char err[256] = "";
  int rc = sk_controller_merge(t, p, err, sizeof(err));
  if (rc != 0)
    FAILF("merge failed: %s", err);
  else
    json_same(t, w, "merged spec");
  json_same(p, before, "the patch after merging");
  json_decref(t);
  json_decref(p);
  json_decref(w);
  json_decref(before);
}

static void merge_error(const char *target, const char *patch, const char *want_err) {
  json_t *t = J(target), *p = J(patch);
  char err[256] = "";
  CHECK_INT(sk_controller_merge(t, p, err, sizeof(err)), SK_EINVAL);
  CHECK_STR(err, want_err);
  json_decref(t);
  json_decref(p);
}

TEST(merge_objects_and_scalars) {
  merge_case("{'a': {'b': 1, 'c': 2}, 'd': 'x'}", "{'a': {'c': 3, 'e': 4}, 'd': 'y'}",
             "{'a': {'b': 1, 'c': 3, 'e': 4}, 'd': 'y'}");
  /* null deletes, also in a nested object; a new object drops its nulls. */
  merge_case("{'a': {'b': 1, 'c': 2}, 'd': 'x'}", "{'a': {'b': null}, 'd': null, 'n': {'k': null, 'v': 1}}",
             "{'a': {'c': 2}, 'n': {'v': 1}}");
  /* A scalar replaced by an object, an object by a scalar. */
  merge_case("{'a': 1, 'b': {'c': 1}}", "{'a': {'x': 1}, 'b': 2}", "{'a': {'x': 1}, 'b': 2}");
  merge_case("{'a': 1}", "null", "{'a': 1}");
  merge_case("{'a': 1}", "{}", "{'a': 1}");
}

TEST(merge_lists) {
  /* Plain lists are replaced. */
  merge_case("{'tolerations': [{'key': 'a'}], 'x': {'args': ['1', '2']}}",
             "{'tolerations': [{'key': 'b'}], 'x': {'args': ['3']}}",
             "{'tolerations': [{'key': 'b'}], 'x': {'args': ['3']}}");
  /* containers by name, env by name, volumeMounts by mountPath. */
  merge_case(
      "{'containers': [{'name': 'main', 'image': 'i', 'env': [{'name': 'A', 'value': '1'}],"
      " 'volumeMounts': [{'name': 'v', 'mountPath': '/data'}]}]}",
      "{'containers': [{'name': 'main', 'env': [{'name': 'A', 'value': '2'}, {'name': 'B', "
      "'value': '3'}], 'volumeMounts': [{'name': 'w', 'mountPath': '/data', 'readOnly': true},"
      " {'name': 'c', 'mountPath': '/cache'}]}, {'name': 'side', 'image': 'envoy'}]}",
      "{'containers': [{'name': 'main', 'image': 'i', 'env': [{'name': 'A', 'value': '2'}, "
      "{'name': 'B', 'value': '3'}], 'volumeMounts': [{'name': 'w', 'mountPath': '/data', "
      "'readOnly': true}, {'name': 'c', 'mountPath': '/cache'}]}, {'name': 'side', 'image': "
      "'envoy'}]}");
  /* A keyed list that the target lacks is built from the patch. */
  merge_case("{}", "{'volumes': [{'name': 'v', 'emptyDir': {}, 'x': null}]}",
             "{'volumes': [{'name': 'v', 'emptyDir': {}}]}");
  /* ports by containerPort; $patch: delete removes an item. */
  merge_case("{'ports': [{'containerPort': 80, 'name': 'a'}, {'containerPort': 81}],"
             " 'env': [{'name': 'A'}, {'name': 'B'}]}",
             "{'ports': [{'containerPort': 80, 'protocol': 'UDP'}],"
             " 'env': [{'name': 'A', '$patch': 'delete'}, {'name': 'Z', '$patch': 'delete'}]}",
             "{'ports': [{'containerPort': 80, 'name': 'a', 'protocol': 'UDP'}, "
             "{'containerPort': 81}], 'env': [{'name': 'B'}]}");
}

TEST(merge_errors) {
  merge_error("{}", "{'containers': [{'image': 'x'}]}",
              "podSpecPatch.containers[0]: an item of this list is merged by its \"name\", "
              "which it lacks");
  merge_error("{'containers': []}", "{'containers': [{'name': 'a', 'env': ['x']}]}",
              "podSpecPatch.containers[0].env[0]: an item of this list is merged by its "
              "\"name\", which it lacks");
  merge_error("{}", "{'env': [{'name': 'a', '$patch': 'replace'}]}",
              "podSpecPatch.env[0]: the only supported \"$patch\" directive is \"delete\"");
  merge_error("{}", "{'$retainKeys': ['a']}",
              "podSpecPatch.$retainKeys: patch directives are not supported here (only "
              "{\"$patch\": \"delete\"} in an item of a merged list)");
  merge_error("{}", "[1]", "podSpecPatch: must be an object (a part of a PodSpec)");
  /* A path too long for the message is cut on a character boundary. */
  {
    sk_buf_t k;
    sk_buf_init(&k, 1 << 16);
    sk_buf_puts(&k, "{\"x");
    for (int i = 0; i < 400; i++)
      sk_buf_puts(&k, "\xc3\xa9");
    sk_buf_puts(&k, "\": {\"env\": [{\"value\": \"1\"}]}}");
    json_t *t = json_object(), *p = json_loads(k.data, 0, NULL);
    char err[1024] = "";
    CHECK(p != NULL);
    CHECK_INT(sk_controller_merge(t, p, err, sizeof(err)), SK_EINVAL);
    size_t bad = 0;
    CHECK(sk_utf8_valid(err, strlen(err), &bad));
    CHECK(strncmp(err, "podSpecPatch.x\xc3\xa9", 16) == 0);
    json_decref(t);
    json_decref(p);
    sk_buf_release(&k);
  }
  /* Nesting deeper than any PodSpec is refused, not recursed into. */
  sk_buf_t b;
  sk_buf_init(&b, 1 << 16);
  for (int i = 0; i < 200; i++)
    sk_buf_puts(&b, "{'a': ");
  sk_buf_puts(&b, "1");
  for (int i = 0; i < 200; i++)
    sk_buf_puts(&b, "}");
  json_t *t = json_object(), *p = J(b.data);
  char err[256] = "";
  CHECK_INT(sk_controller_merge(t, p, err, sizeof(err)), SK_EINVAL);
  CHECK(strstr(err, "nested too deeply") != NULL);
  json_decref(t);
  json_decref(p);
  sk_buf_release(&b);
}

/* ---- the Pod ---- */

static const char *const k_wf_basic =
    "apiVersion: skein.dev/v1alpha1\n"
    "kind: Workflow\n"
    "metadata: {name: mnist, namespace: ml, uid: 0b6f-uid}\n"
    "spec:\n"
    "  serviceAccountName: ml-runner\n"
    "  steps:\n"
    "    - name: train\n"
    "      timeoutSeconds: 600\n"
    "      pod:\n"
    "        image: python:3.11-slim\n"
    "        imagePullPolicy: IfNotPresent\n"
    "        command: [python, -c]\n"
    "        args: ['print(1)']\n"
    "        workingDir: /work\n"
    "        env:\n"
    "          - {name: EPOCHS, value: '5'}\n"
    "          - name: TOKEN\n"
    "            valueFrom: {secretKeyRef: {name: creds, key: token}}\n"
    "        resources: {requests: {cpu: '1', memory: 1Gi}, limits: {memory: 2Gi}}\n"
    "        volumeMounts: [{name: data, mountPath: /data}]\n";

static const char *const k_wf_patch =
    "apiVersion: skein.dev/v1alpha1\n"
    "kind: Workflow\n"
    "metadata: {name: mnist, namespace: ml, uid: 0b6f-uid}\n"
    "spec:\n"
    "  steps:\n"
    "    - name: train\n"
    "      pod:\n"
    "        image: trainer:2\n"
    "        command: [train]\n"
    "        env: [{name: SKEIN_OUTPUTS, value: /tmp/ignored}, {name: A, value: '1'}]\n"
    "        volumeMounts: [{name: data, mountPath: /data}]\n"
    "        podSpecPatch:\n"
    "          nodeSelector: {gpu: a100}\n"
    "          tolerations: [{key: gpu, operator: Exists}]\n"
    "          volumes: [{name: data, persistentVolumeClaim: {claimName: mnist}}]\n"
    "          containers:\n"
    "            - name: main\n"
    "              env: [{name: A, value: '2'}]\n"
    "              volumeMounts: [{name: cache, mountPath: /data, readOnly: true}]\n"
    "              resources: {limits: {nvidia.com/gpu: 1}}\n"
    "            - {name: sidecar, image: 'envoy:1'}\n";

static void build_case(const char *yaml, const char *instance, int attempt, const char *fixture) {
  sk_workflow_t *wf = load_wf(yaml);
  json_t *want = load_fixture(fixture);
  if (!wf || !want) {
    sk_workflow_destroy(wf);
    json_decref(want);
    return;
  }
  json_t *body = json_deep_copy(wf->steps[0].body);
  json_t *before = json_deep_copy(body);
  json_t *pod = NULL;
  char err[512] = "";
  int rc = sk_controller_build_pod(wf, &wf->steps[0], instance, attempt, body, &pod, err,
                                   sizeof(err));
  if (rc != 0)
    FAILF("build failed: %s", err);
  else
    json_same(pod, want, fixture);
  json_same(body, before, "the body after building");
  json_decref(pod);
  json_decref(body);
  json_decref(before);
  json_decref(want);
  sk_workflow_destroy(wf);
}

TEST(build_basic) { build_case(k_wf_basic, "train", 1, "pod-basic.json"); }

TEST(build_patch) { build_case(k_wf_patch, "train", 2, "pod-patch.json"); }

static void build_error(const char *patch_yaml, const char *want) {
  sk_buf_t y;
  sk_buf_init(&y, 1 << 16);
  sk_buf_printf(&y,
                "apiVersion: skein.dev/v1alpha1\nkind: Workflow\nmetadata: {name: wf}\n"
                "spec:\n  steps:\n    - name: s\n      pod:\n        image: x\n"
                "        podSpecPatch: %s\n",
                patch_yaml);
  sk_workflow_t *wf = load_wf(y.data);
  sk_buf_release(&y);
  if (!wf)
    return;
  json_t *pod = NULL;
  char err[512] = "";
  CHECK_INT(sk_controller_build_pod(wf, &wf->steps[0], "s", 1, wf->steps[0].body, &pod, err,
                                    sizeof(err)),
            SK_EINVAL);
  CHECK(pod == NULL);
  CHECK_STR(err, want);
  sk_workflow_destroy(wf);
}

TEST(build_errors) {
  build_error("{restartPolicy: OnFailure}",
              "podSpecPatch.restartPolicy: must stay \"Never\": a step is retried by its retry "
              "setting, with a new Pod per attempt");
  build_error("{containers: [{name: main, $patch: delete}]}",
              "podSpecPatch.containers: the container \"main\" runs the step and cannot be "
              "removed");
  build_error("{containers: [{image: x}]}",
              "podSpecPatch.containers[0]: an item of this list is merged by its \"name\", "
              "which it lacks");
}

TEST(build_outputs_path_follows_patch) {
  sk_workflow_t *wf = load_wf(
      "apiVersion: skein.dev/v1alpha1\nkind: Workflow\nmetadata: {name: wf}\n"
      "spec:\n  steps:\n    - name: s\n      pod:\n        image: x\n"
      "        podSpecPatch: {containers: [{name: main, terminationMessagePath: /out/msg}]}\n");
  if (!wf)
    return;
  json_t *pod = NULL;
  char err[512] = "";
  REQUIRE(sk_controller_build_pod(wf, &wf->steps[0], "s", 1, wf->steps[0].body, &pod, err,
                                  sizeof(err)) == 0);
  json_t *want = J("[{'name': 'SKEIN_WORKFLOW', 'value': 'wf'}, {'name': 'SKEIN_STEP', 'value': "
                   "'s'}, {'name': 'SKEIN_ATTEMPT', 'value': '1'}, {'name': 'SKEIN_OUTPUTS', "
                   "'value': '/out/msg'}]");
  json_t *main = json_array_get(json_object_get(json_object_get(pod, "spec"), "containers"), 0);
  json_same(json_object_get(main, "env"), want, "env");
  /* No uid: no owner uid and no uid annotation (a model not from the API). */
  json_t *md = json_object_get(pod, "metadata");
  CHECK(json_object_get(json_array_get(json_object_get(md, "ownerReferences"), 0), "uid") == NULL);
  CHECK_STR(json_string_value(json_object_get(md, "namespace")), "default");
  json_decref(want);
  json_decref(pod);
  sk_workflow_destroy(wf);
}

/* ---- pod.metadata ---- */

static const char *const k_wf_meta =
    "apiVersion: skein.dev/v1alpha1\n"
    "kind: Workflow\n"
    "metadata: {name: mnist, namespace: ml, uid: 0b6f-uid}\n"
    "spec:\n"
    "  steps:\n"
    "    - name: train\n"
    "      pod:\n"
    "        image: trainer:2\n"
    "        metadata:\n"
    "          labels: {team: ml, app.kubernetes.io/name: mnist, empty: ''}\n"
    "          annotations:\n"
    "            sidecar.istio.io/inject: 'false'\n"
    "            skein.dev/test-exit-code: '3'\n"
    "            note: 'free text: with spaces, {braces} and \xc3\xa9'\n";

TEST(build_metadata) { build_case(k_wf_meta, "train", 1, "pod-metadata.json"); }

/* A body is only data: skeind's own keys win over a step's even when the
 * validator was bypassed, and nothing else of the step's is lost. */
TEST(build_metadata_skeind_wins) {
  sk_workflow_t *wf = load_wf(k_wf_meta);
  if (!wf)
    return;
  json_t *body = J("{'image': 'x', 'metadata': {'labels': {'skein.dev/step': 'evil', "
                   "'skein.dev/attempt': '9', 'team': 'ml'}, 'annotations': "
                   "{'skein.dev/workflow-uid': 'other', 'skein.dev/step': 'evil', 'a': 'b'}}}");
  json_t *pod = NULL;
  char err[512] = "";
  int rc = sk_controller_build_pod(wf, &wf->steps[0], "train", 2, body, &pod, err, sizeof(err));
  CHECK_INT(rc, 0);
  json_t *md = json_object_get(pod, "metadata");
  json_t *want = J("{'skein.dev/workflow': 'mnist', 'skein.dev/step': 'train', "
                   "'skein.dev/attempt': '2', 'team': 'ml'}");
  json_same(json_object_get(md, "labels"), want, "labels");
  json_decref(want);
  want = J("{'skein.dev/step': 'train', 'skein.dev/workflow-uid': '0b6f-uid', 'a': 'b'}");
  json_same(json_object_get(md, "annotations"), want, "annotations");
  json_decref(want);
  json_decref(pod);
  json_decref(body);
  sk_workflow_destroy(wf);
}

/* What templating can make of a label value, and a body that is not what
 * the validator lets through: the attempt fails with a message naming the
 * key. */
static void meta_error(const char *metadata_json, const char *want) {
  sk_workflow_t *wf = load_wf(k_wf_meta);
  if (!wf)
    return;
  sk_buf_t b;
  sk_buf_init(&b, 1 << 16);
  sk_buf_printf(&b, "{'image': 'x', 'metadata': %s}", metadata_json);
  json_t *body = J(b.data);
  sk_buf_release(&b);
  json_t *pod = NULL;
  char err[512] = "";
  CHECK_INT(sk_controller_build_pod(wf, &wf->steps[0], "train", 1, body, &pod, err, sizeof(err)),
            SK_EINVAL);
  CHECK(pod == NULL);
  CHECK_STR(err, want);
  json_decref(body);
  sk_workflow_destroy(wf);
}

TEST(build_metadata_errors) {
  meta_error("{'labels': {'team': 'ML Team'}}",
             "metadata.labels.team: invalid label value \"ML Team\" after templating: expected "
             "at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or "
             "digit (or empty)");
  meta_error("{'labels': {'app.kubernetes.io/part-of': '-x'}}",
             "metadata.labels[\"app.kubernetes.io/part-of\"]: invalid label value \"-x\" after "
             "templating: expected at most 63 letters, digits, '-', '_' or '.', starting and "
             "ending with a letter or digit (or empty)");
  /* 64 characters: one too many. */
  meta_error("{'labels': {'l': 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'}}",
             "metadata.labels.l: invalid label value "
             "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" after "
             "templating: expected at most 63 letters, digits, '-', '_' or '.', starting and "
             "ending with a letter or digit (or empty)");
  /* Control characters and non-ASCII bytes are shown as '?' and a long
   * value is cut, so the message stays one line of valid UTF-8. */
  meta_error("{'labels': {'l': 'a\\nb\\u00e9" /* "a\nb" + e-acute, escaped for J() */
             "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc'}}",
             "metadata.labels.l: invalid label value \"a?b??cccccccccccccccccccccccccccccccccccccccc"
             "ccccccccccccccccccccccccccccccccccc...\" after templating: expected at most 63 "
             "letters, digits, '-', '_' or '.', starting and ending with a letter or digit (or "
             "empty)");
  meta_error("{'annotations': {'n': 3}}", "metadata.annotations.n: must be a string");
  meta_error("{'labels': {'team': null}}", "metadata.labels.team: must be a string");
}

/* End to end through the reconciler: label and annotation values are
 * templated with params and {{item}}; one that templating makes invalid
 * fails its attempt, and no Pod is created for it. */
TEST(reconcile_templated_metadata) {
  cluster_t k;
  cluster_init(&k,
               "  params: [{name: team, default: ml}, {name: code, default: '3'}]\n"
               "  steps:\n"
               "    - name: shard\n"
               "      forEach: [a, b]\n"
               "      pod:\n"
               "        image: busybox\n"
               "        command: [run]\n"
               "        metadata:\n"
               "          labels: {team: '{{params.team}}', shard: 'shard-{{item}}'}\n"
               "          annotations: {skein.dev/test-exit-code: '{{params.code}}'}\n");
  REQUIRE(k.wf);
  settle(&k);
  CHECK_INT(k.creates, 2);
  json_t *pod = json_object_get(k.created, "wf-shard-1-1");
  REQUIRE(pod);
  json_t *md = json_object_get(pod, "metadata");
  json_t *want = J("{'skein.dev/workflow': 'wf', 'skein.dev/step': 'shard-1', "
                   "'skein.dev/attempt': '1', 'team': 'ml', 'shard': 'shard-b'}");
  json_same(json_object_get(md, "labels"), want, "labels");
  json_decref(want);
  CHECK_STR(json_string_value(json_object_get(json_object_get(md, "annotations"),
                                              "skein.dev/test-exit-code")),
            "3");
  cluster_release(&k);

  cluster_init(&k,
               "  params: [{name: team, default: ML Team}]\n"
               "  steps:\n"
               "    - name: s\n"
               "      pod:\n"
               "        image: busybox\n"
               "        command: [run]\n"
               "        metadata: {labels: {team: '{{params.team}}'}}\n");
  REQUIRE(k.wf);
  settle(&k);
  CHECK_INT(k.creates, 0);
  CHECK_STR(rec_str(&k, "s", "phase"), "Failed");
  CHECK_STR(rec_str(&k, "s", "message"),
            "metadata.labels.team: invalid label value \"ML Team\" after templating: expected "
            "at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or "
            "digit (or empty)");
  CHECK_STR(wf_phase(&k), "Failed");
  cluster_release(&k);
}

int main(void) {
  RUN(pod_name_plain);
  RUN(pod_name_long);
  RUN(pod_name_no_dash_before_hash);
  RUN(pod_name_errors);
  RUN(label_values);
  RUN(merge_objects_and_scalars);
  RUN(merge_lists);
  RUN(merge_errors);
  RUN(build_basic);
  RUN(build_patch);
  RUN(build_errors);
  RUN(build_outputs_path_follows_patch);
  RUN(build_metadata);
  RUN(build_metadata_skeind_wins);
  RUN(build_metadata_errors);
  RUN(reconcile_templated_metadata);
  return TEST_DONE();
}
