/*
 * manifests/: offline checks of the install manifests, with no API server.
 *
 * The CRDs' schemas must accept every Workflow and WorkflowTemplate that
 * `skeinctl validate` accepts (every valid example in the repository), and
 * every field they declare must appear in such an example, so schema and
 * validator cannot drift apart unnoticed. Structurally malformed resources
 * must be refused by both. tests/e2e/test_crds.sh repeats the important
 * checks against a real API server, CEL rules included; the other manifests
 * are test_manifests_install.c's.
 */
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crd_schema.h"
#include "manifest_files.h"
#include "sk_test.h"
#include "spec/spec.h"
#include "util/diag.h"
#include "yaml/yaml.h"

#define WF_CRD "manifests/crds/skein.dev_workflows.yaml"
#define TPL_CRD "manifests/crds/skein.dev_workflowtemplates.yaml"

/* The openAPIV3Schema of a CRD's only version (borrowed). */
static json_t *crd_root_schema(json_t *crd) {
  json_t *v = json_array_get(json_object_get(json_object_get(crd, "spec"), "versions"), 0);
  return json_object_get(json_object_get(v, "schema"), "openAPIV3Schema");
}

static json_t *prop(json_t *schema, const char *key) {
  return json_object_get(json_object_get(schema, "properties"), key);
}

static void check_crd(const char *rel, const char *plural, const char *kind,
                      const char *short_name) {
  json_t *crd = load_one(rel);
  if (!crd) {
    FAILF("%s does not load", rel);
    return;
  }
  json_t *spec = json_object_get(crd, "spec");
  json_t *names = json_object_get(spec, "names");
  char name[128];
  snprintf(name, sizeof(name), "%s.skein.dev", plural);
  CHECK_STR(json_string_value(json_object_get(crd, "apiVersion")), "apiextensions.k8s.io/v1");
  CHECK_STR(json_string_value(json_object_get(crd, "kind")), "CustomResourceDefinition");
  CHECK_STR(json_string_value(json_object_get(json_object_get(crd, "metadata"), "name")), name);
  CHECK_STR(json_string_value(json_object_get(spec, "group")), "skein.dev");
  CHECK_STR(json_string_value(json_object_get(spec, "scope")), "Namespaced");
  CHECK_STR(json_string_value(json_object_get(names, "kind")), kind);
  CHECK_STR(json_string_value(json_object_get(names, "plural")), plural);
  CHECK(has_str(json_object_get(names, "shortNames"), short_name));
  CHECK(has_str(json_object_get(names, "categories"), "skein"));
  json_t *versions = json_object_get(spec, "versions");
  CHECK_INT(json_array_size(versions), 1);
  json_t *v = json_array_get(versions, 0);
  CHECK_STR(json_string_value(json_object_get(v, "name")), "v1alpha1");
  CHECK(json_is_true(json_object_get(v, "served")));
  CHECK(json_is_true(json_object_get(v, "storage")));
  CHECK(json_is_object(json_object_get(json_object_get(v, "subresources"), "status")));

  json_t *schema = crd_root_schema(crd);
  crd_errs_t e = {0};
  crd_check_structural(&e, prop(schema, "spec"), "spec", true, true);
  crd_check_structural(&e, prop(schema, "status"), "status", false, false);
  if (e.count)
    FAILF("%s: %d schema problems:\n%s", rel, e.count, e.all);
  json_decref(crd);
}

TEST(crds_are_structural_and_described) {
  check_crd(WF_CRD, "workflows", "Workflow", "swf");
  check_crd(TPL_CRD, "workflowtemplates", "WorkflowTemplate", "swft");
}

/* Each printer column reads a field the schema declares, with a matching
 * type, so `kubectl get swf` shows what the controller writes. */
TEST(printer_columns_read_declared_fields) {
  json_t *crd = load_one(WF_CRD);
  REQUIRE(crd);
  json_t *v = json_array_get(json_object_get(json_object_get(crd, "spec"), "versions"), 0);
  json_t *cols = json_object_get(v, "additionalPrinterColumns");
  static const char *const want[][3] = {{"Phase", ".status.phase", "string"},
                                        {"Progress", ".status.progress", "string"},
                                        {"Started", ".status.startedAt", "date"},
                                        {"Duration", ".status.duration", "string"},
                                        {"Age", ".metadata.creationTimestamp", "date"}};
  for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
    json_t *c = json_array_get(cols, i);
    CHECK_STR(json_string_value(json_object_get(c, "name")), want[i][0]);
    CHECK_STR(json_string_value(json_object_get(c, "jsonPath")), want[i][1]);
    CHECK_STR(json_string_value(json_object_get(c, "type")), want[i][2]);
  }
  json_t *status = prop(crd_root_schema(crd), "status");
  size_t i;
  json_t *c;
  json_array_foreach(cols, i, c) {
    const char *path = json_string_value(json_object_get(c, "jsonPath"));
    if (!path || strncmp(path, ".status.", 8) != 0)
      continue;
    json_t *field = prop(status, path + 8);
    if (!field || !json_is_string(json_object_get(field, "type")))
      FAILF("printer column %s reads %s, which the status schema does not type", 
            json_string_value(json_object_get(c, "name")), path);
  }
  json_decref(crd);
}

TEST(template_workflow_schema_is_the_workflow_spec) {
  json_t *wf = load_one(WF_CRD);
  json_t *tpl = load_one(TPL_CRD);
  REQUIRE(wf && tpl);
  json_t *a = prop(crd_root_schema(wf), "spec");
  json_t *b = prop(prop(crd_root_schema(tpl), "spec"), "workflow");
  CHECK(a && b && json_equal(a, b));
  /* The finally steps have the same fields as the main steps. */
  CHECK(json_equal(json_object_get(prop(a, "steps"), "items"),
                   json_object_get(prop(a, "finally"), "items")));
  json_decref(wf);
  json_decref(tpl);
}

/* Fields that no example in the repository uses, in valid documents, so
 * that every schema field is shown to be one the validator accepts. */
static const char *const k_extra_valid[] = {
    "apiVersion: skein.dev/v1alpha1\n"
    "kind: Workflow\n"
    "metadata: {name: extra}\n"
    "spec:\n"
    "  steps:\n"
    "    - name: a\n"
    "      pod:\n"
    "        image: x\n"
    "        resources: {requests: {cpu: 0.5}}\n"
    "        env: [{name: A, valueFrom: {configMapKeyRef: {name: c, key: k, optional: false}}}]\n"
    "    - name: b\n"
    "      vertex:\n"
    "        project: p\n"
    "        customJob: {jobSpec: {workerPoolSpecs: [{}]}}\n"
    "        credentials: {secretRef: {name: s}}\n"
    "    - name: c\n"
    "      sagemaker:\n"
    "        trainingJob: {}\n"
    "        credentials: {secretRef: {name: s, key: k}}\n",
    "apiVersion: skein.dev/v1alpha1\n"
    "kind: Workflow\n"
    "metadata: {name: enums}\n"
    "spec:\n"
    "  podGC: OnWorkflowCompletion\n"
    "  steps:\n"
    "    - {name: a, pod: {image: x, imagePullPolicy: Always}}\n"
    "    - {name: b, pod: {image: x, imagePullPolicy: Never}}\n",
};

static size_t g_checked;

/* Validates one document with the validator and, when it accepts it, with
 * the schema of the CRD of its kind (wf or tpl, which record coverage). */
static void check_doc(const sk_yaml_doc_t *doc, const char *what, json_t *wf, json_t *tpl) {
  const char *kind = sk_spec_doc_kind(doc);
  if (!kind)
    return;
  bool is_wf = strcmp(kind, "Workflow") == 0;
  sk_diags_t diags;
  sk_diags_init(&diags);
  int rc = is_wf ? sk_spec_parse_workflow(doc, &diags, NULL)
                 : sk_spec_parse_template(doc, &diags, NULL);
  sk_diags_release(&diags);
  if (rc < 0)
    return;
  crd_errs_t e = {0};
  crd_validate_resource(&e, crd_root_schema(is_wf ? wf : tpl), sk_yaml_doc_root(doc));
  if (e.count)
    FAILF("%s (document %d, a valid %s) is refused by its CRD:\n%s", what,
          sk_yaml_doc_index(doc), kind, e.all);
  g_checked++;
}

static void check_dir(const char *rel, json_t *wf, json_t *tpl) {
  char path[4096];
  snprintf(path, sizeof(path), "%s/%s", source_dir(), rel);
  DIR *d = opendir(path);
  if (!d) {
    FAILF("cannot open %s", rel);
    return;
  }
  struct dirent *ent;
  while ((ent = readdir(d)) != NULL) {
    size_t l = strlen(ent->d_name);
    if (l < 6 || strcmp(ent->d_name + l - 5, ".yaml") != 0)
      continue;
    char file[4096];
    snprintf(file, sizeof(file), "%s/%s", rel, ent->d_name);
    size_t n;
    sk_yaml_doc_t **docs = load(file, &n);
    for (size_t i = 0; i < n; i++)
      check_doc(docs[i], file, wf, tpl);
    sk_yaml_docs_destroy(docs, n);
  }
  closedir(d);
}

TEST(every_valid_example_is_accepted_and_covers_the_schema) {
  json_t *wf = load_one(WF_CRD);
  json_t *tpl = load_one(TPL_CRD);
  REQUIRE(wf && tpl);
  g_checked = 0;
  check_dir("tests/corpus/valid", wf, tpl);
  check_dir("workflows", wf, tpl);
  check_dir("tests/integration/workflows", wf, tpl);
  for (size_t i = 0; i < sizeof(k_extra_valid) / sizeof(k_extra_valid[0]); i++) {
    sk_yaml_doc_t **docs = NULL;
    size_t n = 0;
    REQUIRE(sk_yaml_parse(k_extra_valid[i], strlen(k_extra_valid[i]), "extra", NULL, &docs,
                          &n) == 0);
    size_t before = g_checked;
    for (size_t j = 0; j < n; j++)
      check_doc(docs[j], "k_extra_valid", wf, tpl);
    if (g_checked == before)
      FAILF("k_extra_valid[%zu] is not a valid document", i);
    sk_yaml_docs_destroy(docs, n);
  }
  printf("  %zu valid documents checked\n", g_checked);
  CHECK(g_checked >= 20);

  crd_errs_t e = {0};
  crd_uncovered(&e, prop(crd_root_schema(wf), "spec"), "spec", "spec.finally[]");
  crd_uncovered(&e, prop(crd_root_schema(tpl), "spec"), "spec", "spec.workflow.");
  if (e.count)
    FAILF("%d schema fields appear in no valid example (add them to one):\n%s", e.count, e.all);
  json_decref(wf);
  json_decref(tpl);
}

/* Structurally malformed resources: the validator refuses each, and so must
 * the schema, at the field named. */
typedef struct {
  bool tpl;          /* a WorkflowTemplate: the text goes under spec, after workflow */
  const char *spec;  /* YAML lines under spec:, indented by two */
  const char *path;  /* what the schema's problem must name */
} bad_case_t;

#define STEP "  steps: [{name: a, pod: {image: x}}]\n"

static const bad_case_t k_bad[] = {
    {false, "  parallelism: \"4\"\n" STEP, "spec.parallelism: expected type integer"},
    {false, "  parallelism: 10001\n" STEP, "spec.parallelism: 10001 is above"},
    {false, "  podGC: Sometimes\n" STEP, "spec.podGC: value not in the enum"},
    {false, "  shutdown: stop\n" STEP, "spec.shutdown: value not in the enum"},
    {false, "  podGC: Never\n", "spec: required field steps is missing"},
    {false, "  steps: []\n", "spec.steps: fewer than minItems"},
    {false, "  activeDeadlineSeconds: 0\n" STEP, "spec.activeDeadlineSeconds: 0 is below"},
    {false, "  params: [{name: n, default: 5}]\n" STEP, "spec.params[0].default: expected type"},
    {false, "  params: [{name: 1n}]\n" STEP, "spec.params[0].name: \"1n\" does not match"},
    {false, "  params: [{name: n}, {name: n}]\n" STEP, "spec.params[1]: duplicate"},
    {false, "  defaults: {timeoutSeconds: 2592001}\n" STEP, "spec.defaults.timeoutSeconds"},
    {false, "  steps: [{name: Bad_Name, pod: {image: x}}]\n", "spec.steps[0].name: \"Bad_Name\""},
    {false, "  steps: [{name: a, pod: {image: x}}, {name: a, pod: {image: y}}]\n",
     "spec.steps[1]: duplicate"},
    {false, "  steps: [{name: a, dependson: [b], pod: {image: x}}]\n",
     "spec.steps[0].dependson: unknown field"},
    {false, "  steps: [{name: a, retry: {limit: 101}, pod: {image: x}}]\n",
     "spec.steps[0].retry.limit: 101 is above"},
    {false, "  steps: [{name: a, retry: {backoff: {factor: 0.5}}, pod: {image: x}}]\n",
     "spec.steps[0].retry.backoff.factor: 0.5 is below"},
    {false, "  steps: [{name: a, pod: {args: [x]}}]\n",
     "spec.steps[0].pod: required field image is missing"},
    {false, "  steps: [{name: a, pod: {image: x, args: x}}]\n",
     "spec.steps[0].pod.args: expected type array"},
    {false, "  steps: [{name: a, pod: {image: x, imagePullPolicy: always}}]\n",
     "spec.steps[0].pod.imagePullPolicy: value not in the enum"},
    {false, "  steps: [{name: a, pod: {image: x, env: [{name: 1X, value: v}]}}]\n",
     "spec.steps[0].pod.env[0].name: \"1X\" does not match"},
    {false, "  steps: [{name: a, pod: {image: x, env: [{name: X, value: 1}]}}]\n",
     "spec.steps[0].pod.env[0].value: expected type string"},
    {false, "  steps: [{name: a, resource: {action: replace, manifest: m}}]\n",
     "spec.steps[0].resource.action: value not in the enum"},
    {false, "  steps: [{name: a, vertex: {customJob: {displayName: x}}}]\n",
     "spec.steps[0].vertex.customJob: required field jobSpec is missing"},
    {false,
     "  steps: [{name: a, vertex: {customJob: {jobSpec: {workerPoolSpecs: [{}]}}, poll: "
     "{initialSeconds: 0}}}]\n",
     "spec.steps[0].vertex.poll.initialSeconds: 0 is below"},
    {false,
     "  steps: [{name: a, rollout: {virtualService: v, stable: {host: s}, canary: {host: c, "
     "port: 0}, steps: [{setWeight: 101}]}}]\n",
     "spec.steps[0].rollout.canary.port: 0 is below"},
    {false,
     "  steps: [{name: a, rollout: {virtualService: v, stable: {host: s}, canary: {host: c}, "
     "steps: [{setWeight: 101}]}}]\n",
     "spec.steps[0].rollout.steps[0].setWeight: 101 is above"},
    {false,
     "  steps: [{name: a, rollout: {virtualService: v, stable: {host: s}, canary: {host: c}, "
     "steps: [{setWeight: 1}], mirror: {percent: 120}}}]\n",
     "spec.steps[0].rollout.mirror.percent: 120 is above"},
    {false, STEP "  finally: [{name: F, pod: {image: x}}]\n", "spec.finally[0].name: \"F\""},
    {true, "  triggers: [{name: t, schedule: {cron: \"@daily\", concurrencyPolicy: Never}}]\n",
     "spec.triggers[0].schedule.concurrencyPolicy: value not in the enum"},
    {true, "  triggers: [{name: t, github: {events: []}}]\n",
     "spec.triggers[0].github.events: fewer than minItems"},
    {true, "  triggers: [{name: t, github: {events: [Push]}}]\n",
     "spec.triggers[0].github.events[0]: \"Push\" does not match"},
    {true, "  triggers: [{name: t, github: {events: [push], repository: acme}}]\n",
     "spec.triggers[0].github.repository: \"acme\" does not match"},
    {true, "  triggers: [{name: t, schedule: {cron: \"@daily\"}, params: {a: 1}}]\n",
     "spec.triggers[0].params.a: expected type string"},
};

TEST(malformed_resources_are_refused_by_validator_and_schema) {
  json_t *wf = load_one(WF_CRD);
  json_t *tpl = load_one(TPL_CRD);
  REQUIRE(wf && tpl);
  for (size_t i = 0; i < sizeof(k_bad) / sizeof(k_bad[0]); i++) {
    const bad_case_t *c = &k_bad[i];
    char text[2048];
    snprintf(text, sizeof(text),
             "apiVersion: skein.dev/v1alpha1\nkind: %s\nmetadata: {name: bad}\nspec:\n%s%s",
             c->tpl ? "WorkflowTemplate" : "Workflow",
             c->tpl ? "  workflow: {params: [{name: a}], steps: [{name: a, pod: {image: x}}]}\n"
                    : "",
             c->spec);
    sk_yaml_doc_t **docs = NULL;
    size_t n = 0;
    if (sk_yaml_parse(text, strlen(text), "bad", NULL, &docs, &n) < 0 || n != 1) {
      FAILF("case %zu does not parse:\n%s", i, text);
      sk_yaml_docs_destroy(docs, n);
      continue;
    }
    sk_diags_t diags;
    sk_diags_init(&diags);
    int rc = c->tpl ? sk_spec_parse_template(docs[0], &diags, NULL)
                    : sk_spec_parse_workflow(docs[0], &diags, NULL);
    if (rc >= 0)
      FAILF("case %zu: the validator accepts it, so the schema must too:\n%s", i, text);
    sk_diags_release(&diags);
    crd_errs_t e = {0};
    crd_validate_resource(&e, crd_root_schema(c->tpl ? tpl : wf), sk_yaml_doc_root(docs[0]));
    if (!strstr(e.all, c->path))
      FAILF("case %zu: want a problem \"%s\", the schema says:\n%s", i, c->path,
            e.count ? e.all : "(nothing)\n");
    sk_yaml_docs_destroy(docs, n);
  }
  json_decref(wf);
  json_decref(tpl);
}

int main(void) {
  RUN(crds_are_structural_and_described);
  RUN(printer_columns_read_declared_fields);
  RUN(template_workflow_schema_is_the_workflow_spec);
  RUN(every_valid_example_is_accepted_and_covers_the_schema);
  RUN(malformed_resources_are_refused_by_validator_and_schema);
  return TEST_DONE();
}
