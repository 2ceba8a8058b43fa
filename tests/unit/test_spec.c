/*
 * lib/spec: the corpus (every invalid file gives exactly the diagnostics of
 * its .expected file, every valid file none) and the model built from a
 * valid Workflow or WorkflowTemplate.
 *
 * With SKEIN_SPEC_UPDATE=1 in the environment the corpus test rewrites the
 * .expected files from what the validator says, for review with git diff.
 */
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sk_test.h"
#include "spec/spec.h"
#include "util/buf.h"
#include "util/diag.h"
#include "util/error.h"
#include "yaml/yaml.h"

/* The directory the corpus paths are relative to. */
static const char *source_dir(void) {
  const char *d = getenv("SKEIN_SOURCE_DIR");
  return d && *d ? d : ".";
}

/* Reads SKEIN_SOURCE_DIR/rel into a new NUL-terminated buffer. */
static char *read_source(const char *rel, size_t *len) {
  char path[4096];
  snprintf(path, sizeof(path), "%s/%s", source_dir(), rel);
  FILE *fp = fopen(path, "rb");
  if (!fp)
    return NULL;
  sk_buf_t b;
  sk_buf_init(&b, SK_YAML_MAX_BYTES + 1);
  char chunk[8192];
  size_t n;
  int rc = 0;
  while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
    rc = sk_buf_append(&b, chunk, n);
  fclose(fp);
  if (rc < 0) {
    sk_buf_release(&b);
    return NULL;
  }
  *len = b.len;
  return sk_buf_steal(&b);
}

/* Names of the files in SKEIN_SOURCE_DIR/rel ending in suffix, sorted. */
static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static char **list_dir(const char *rel, const char *suffix, size_t *n) {
  char path[4096];
  snprintf(path, sizeof(path), "%s/%s", source_dir(), rel);
  *n = 0;
  DIR *d = opendir(path);
  if (!d)
    return NULL;
  char **names = NULL;
  size_t cap = 0;
  struct dirent *e;
  size_t sl = strlen(suffix);
  while ((e = readdir(d)) != NULL) {
    size_t l = strlen(e->d_name);
    if (l <= sl || strcmp(e->d_name + l - sl, suffix) != 0)
      continue;
    if (*n == cap) {
      cap = cap ? cap * 2 : 32;
      char **p = realloc(names, cap * sizeof(*names));
      if (!p)
        break;
      names = p;
    }
    names[(*n)++] = strdup(e->d_name);
  }
  closedir(d);
  if (names)
    qsort(names, *n, sizeof(*names), cmp_str);
  return names;
}

static void free_list(char **names, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
}

/* Parses and validates every document of rel (named rel in messages, as
 * `skeinctl validate rel` run from the source root names it), and returns
 * the sorted diagnostics formatted one per line. */
static char *validate_file(const char *rel, size_t *ndiags) {
  size_t len = 0;
  char *text = read_source(rel, &len);
  if (!text)
    return NULL;
  sk_diags_t diags;
  sk_diags_init(&diags);
  sk_yaml_doc_t **docs = NULL;
  size_t ndocs = 0;
  if (sk_yaml_parse(text, len, rel, &diags, &docs, &ndocs) == 0) {
    for (size_t i = 0; i < ndocs; i++)
      sk_spec_validate(docs[i], &diags);
    sk_yaml_docs_destroy(docs, ndocs);
  }
  free(text);
  sk_diags_sort(&diags);
  sk_buf_t out, line;
  sk_buf_init(&out, 1 << 20);
  sk_buf_init(&line, 16384);
  for (size_t i = 0; i < diags.len; i++) {
    sk_buf_reset(&line);
    sk_diag_format(&diags.items[i], &line);
    sk_buf_printf(&out, "%s\n", line.data ? line.data : "");
  }
  *ndiags = diags.len;
  sk_buf_release(&line);
  sk_diags_release(&diags);
  return sk_buf_steal(&out);
}

/* The next line of *p (without its newline), or NULL at the end. */
static char *next_line(char **p) {
  if (!*p || !**p)
    return NULL;
  char *s = *p;
  char *nl = strchr(s, '\n');
  if (nl) {
    *nl = '\0';
    *p = nl + 1;
  } else {
    *p = s + strlen(s);
  }
  return s;
}

static void compare_lines(const char *name, char *got, char *want) {
  char *g = got, *w = want;
  int line = 0;
  bool header = false;
  for (;;) {
    char *gl = next_line(&g), *wl = next_line(&w);
    line++;
    if (!gl && !wl)
      break;
    if (gl && wl && strcmp(gl, wl) == 0)
      continue;
    if (!header) {
      FAILF("%s: diagnostics differ from the .expected file (- expected, + got)", name);
      header = true;
    }
    printf("    line %d\n", line);
    if (wl)
      printf("    - %s\n", wl);
    if (gl)
      printf("    + %s\n", gl);
  }
}

TEST(corpus_invalid) {
  size_t n = 0;
  char **names = list_dir("tests/corpus/invalid", ".yaml", &n);
  REQUIRE(names && n >= 25);
  bool update = getenv("SKEIN_SPEC_UPDATE") && strcmp(getenv("SKEIN_SPEC_UPDATE"), "1") == 0;
  for (size_t i = 0; i < n; i++) {
    char rel[1024], exp_rel[1024];
    snprintf(rel, sizeof(rel), "tests/corpus/invalid/%s", names[i]);
    snprintf(exp_rel, sizeof(exp_rel), "tests/corpus/invalid/%.*s.expected",
             (int)(strlen(names[i]) - 5), names[i]);
    size_t ndiags = 0;
    char *got = validate_file(rel, &ndiags);
    if (!got) {
      FAILF("%s: cannot read", rel);
      continue;
    }
    if (ndiags == 0)
      FAILF("%s: no diagnostics, but the file is meant to be invalid", rel);
    if (update) {
      char path[4096];
      snprintf(path, sizeof(path), "%s/%s", source_dir(), exp_rel);
      FILE *fp = fopen(path, "wb");
      if (fp) {
        fputs(got, fp);
        fclose(fp);
      }
    }
    size_t elen = 0;
    char *want = read_source(exp_rel, &elen);
    if (!want)
      FAILF("%s: cannot read", exp_rel);
    else
      compare_lines(rel, got, want);
    free(want);
    free(got);
  }
  free_list(names, n);
}

/* Valid files must give no diagnostic, and build a model. */
static void check_valid_dir(const char *dir, size_t min_files) {
  size_t n = 0;
  char **names = list_dir(dir, ".yaml", &n);
  REQUIRE(names && n >= min_files);
  for (size_t i = 0; i < n; i++) {
    char rel[1024];
    snprintf(rel, sizeof(rel), "%s/%s", dir, names[i]);
    size_t ndiags = 0;
    char *got = validate_file(rel, &ndiags);
    if (!got || ndiags != 0)
      FAILF("%s: want no diagnostics, got:\n%s", rel, got ? got : "(cannot read)");
    free(got);

    size_t len = 0;
    char *text = read_source(rel, &len);
    sk_diags_t diags;
    sk_diags_init(&diags);
    sk_yaml_doc_t **docs = NULL;
    size_t ndocs = 0;
    if (text && sk_yaml_parse(text, len, rel, &diags, &docs, &ndocs) == 0) {
      for (size_t d = 0; d < ndocs; d++) {
        const char *kind = sk_spec_doc_kind(docs[d]);
        if (kind && strcmp(kind, "Workflow") == 0) {
          sk_workflow_t *wf = NULL;
          CHECK_INT(sk_spec_parse_workflow(docs[d], &diags, &wf), 0);
          CHECK(wf != NULL && wf->nsteps > 0);
          sk_workflow_destroy(wf);
        } else {
          sk_wftemplate_t *t = NULL;
          CHECK_INT(sk_spec_parse_template(docs[d], &diags, &t), 0);
          CHECK(t != NULL && t->workflow != NULL);
          sk_wftemplate_destroy(t);
        }
      }
      sk_yaml_docs_destroy(docs, ndocs);
    }
    CHECK_INT(diags.len, 0);
    sk_diags_release(&diags);
    free(text);
  }
  free_list(names, n);
}

TEST(corpus_valid) { check_valid_dir("tests/corpus/valid", 5); }

TEST(examples_valid) { check_valid_dir("workflows", 1); }

/* --- helpers for the focused tests ------------------------------------------ */

static sk_yaml_doc_t **parse_text(const char *text, size_t *ndocs) {
  sk_diags_t diags;
  sk_diags_init(&diags);
  sk_yaml_doc_t **docs = NULL;
  int rc = sk_yaml_parse(text, strlen(text), "t.yaml", &diags, &docs, ndocs);
  if (rc != 0) {
    FAILF("YAML did not parse (%d)", rc);
    sk_diags_print(&diags, stdout);
  }
  sk_diags_release(&diags);
  return rc == 0 ? docs : NULL;
}

static sk_workflow_t *parse_wf(const char *text) {
  size_t ndocs = 0;
  sk_yaml_doc_t **docs = parse_text(text, &ndocs);
  if (!docs)
    return NULL;
  sk_diags_t diags;
  sk_diags_init(&diags);
  sk_workflow_t *wf = NULL;
  int rc = sk_spec_parse_workflow(docs[0], &diags, &wf);
  if (rc != 0) {
    FAILF("sk_spec_parse_workflow == %d, want 0", rc);
    sk_diags_print(&diags, stdout);
  }
  sk_diags_release(&diags);
  sk_yaml_docs_destroy(docs, ndocs);
  return wf;
}

/* Validates text and returns its diagnostics, formatted and joined by
 * newlines (a new string). */
static char *diags_of(const char *text) {
  size_t ndocs = 0;
  sk_yaml_doc_t **docs = parse_text(text, &ndocs);
  sk_diags_t diags;
  sk_diags_init(&diags);
  for (size_t i = 0; docs && i < ndocs; i++)
    sk_spec_validate(docs[i], &diags);
  sk_yaml_docs_destroy(docs, ndocs);
  sk_diags_sort(&diags);
  sk_buf_t out, line;
  sk_buf_init(&out, 1 << 20);
  sk_buf_init(&line, 16384);
  for (size_t i = 0; i < diags.len; i++) {
    sk_buf_reset(&line);
    sk_diag_format(&diags.items[i], &line);
    sk_buf_printf(&out, "%s%s", i ? "\n" : "", line.data);
  }
  sk_buf_release(&line);
  sk_diags_release(&diags);
  return sk_buf_steal(&out);
}

#define HEADER "apiVersion: skein.dev/v1alpha1\nkind: Workflow\nmetadata: {name: t}\n"

/* --- the model ------------------------------------------------------------ */

TEST(model_defaults_merged) {
  sk_workflow_t *wf = parse_wf(
      HEADER "spec:\n"
             "  defaults:\n"
             "    retry: {limit: 2, backoff: {seconds: 10, factor: 3, maxSeconds: 300}}\n"
             "    timeoutSeconds: 3600\n"
             "  steps:\n"
             "    - {name: plain, pod: {image: x}}\n"
             "    - {name: own-limit, retry: {limit: 5}, pod: {image: x}}\n"
             "    - {name: own-seconds, retry: {backoff: {seconds: 1.5}}, timeoutSeconds: 60,\n"
             "       pod: {image: x}}\n");
  REQUIRE(wf);
  REQUIRE(wf->nsteps == 3);
  const sk_retry_t *r = &wf->steps[0].retry;
  CHECK_INT(r->limit, 2);
  CHECK(r->backoff_seconds == 10 && r->factor == 3 && r->max_seconds == 300);
  CHECK_INT(wf->steps[0].timeout_seconds, 3600);
  r = &wf->steps[1].retry;
  CHECK_INT(r->limit, 5);
  CHECK(r->backoff_seconds == 10 && r->factor == 3 && r->max_seconds == 300);
  r = &wf->steps[2].retry;
  CHECK_INT(r->limit, 2);
  CHECK(r->backoff_seconds == 1.5 && r->factor == 3 && r->max_seconds == 300);
  CHECK_INT(wf->steps[2].timeout_seconds, 60);
  sk_workflow_destroy(wf);
}

TEST(model_retry_without_defaults) {
  sk_workflow_t *wf = parse_wf(HEADER "spec:\n"
                                      "  steps:\n"
                                      "    - {name: a, pod: {image: x}}\n"
                                      "    - {name: b, retry: {limit: 1, backoff: {seconds: 4}},\n"
                                      "       pod: {image: x}}\n");
  REQUIRE(wf);
  const sk_retry_t *r = &wf->steps[0].retry;
  CHECK_INT(r->limit, 0);
  CHECK(r->backoff_seconds == 0 && r->factor == 2 && r->max_seconds == 0);
  CHECK_INT(wf->steps[0].timeout_seconds, 0);
  r = &wf->steps[1].retry;
  CHECK_INT(r->limit, 1);
  CHECK(r->backoff_seconds == 4 && r->factor == 2 && r->max_seconds == 0);
  sk_workflow_destroy(wf);
}

TEST(model_steps_and_deps) {
  sk_workflow_t *wf = parse_wf(
      HEADER "spec:\n"
             "  steps:\n"
             "    - {name: a, pod: {image: x}}\n"
             "    - {name: b, dependsOn: [a], forEach: [1, 2], when: \"{{item}} > 1\",\n"
             "       vertex: {customJob: {jobSpec: {workerPoolSpecs: [{}]}}}}\n"
             "    - {name: c, dependsOn: [b, a], resource: {action: apply, manifest: m}}\n"
             "  finally:\n"
             "    - {name: f, rollout: {virtualService: v, stable: {host: h}, canary: {host: "
             "h},\n"
             "       steps: [{setWeight: 1}]}}\n"
             "    - {name: g, dependsOn: [f], sagemaker: {trainingJob: {}}}\n");
  REQUIRE(wf);
  REQUIRE(wf->nsteps == 5);
  CHECK_INT(wf->nmain, 3);
  CHECK_STR(wf->steps[0].path, "spec.steps[0]");
  CHECK_STR(wf->steps[3].path, "spec.finally[0]");
  CHECK(!wf->steps[2].is_finally && wf->steps[3].is_finally && wf->steps[4].is_finally);
  CHECK_INT(wf->steps[0].ndeps, 0);
  CHECK_INT(wf->steps[2].ndeps, 2);
  CHECK_STR(wf->steps[2].depends_on[0], "b");
  CHECK_INT(wf->steps[2].dep_index[0], 1);
  CHECK_INT(wf->steps[2].dep_index[1], 0);
  CHECK_INT(wf->steps[4].dep_index[0], 3);
  CHECK_INT(wf->steps[0].kind, SK_STEP_POD);
  CHECK_INT(wf->steps[1].kind, SK_STEP_VERTEX);
  CHECK_INT(wf->steps[2].kind, SK_STEP_RESOURCE);
  CHECK_INT(wf->steps[3].kind, SK_STEP_ROLLOUT);
  CHECK_INT(wf->steps[4].kind, SK_STEP_SAGEMAKER);
  CHECK_STR(sk_step_kind_name(wf->steps[3].kind), "rollout");
  CHECK_STR(json_string_value(json_object_get(wf->steps[0].body, "image")), "x");
  CHECK(json_is_array(wf->steps[1].for_each) && json_array_size(wf->steps[1].for_each) == 2);
  CHECK(wf->steps[0].for_each == NULL && wf->steps[0].when == NULL);
  CHECK_STR(wf->steps[1].when, "{{item}} > 1");
  CHECK_INT(sk_workflow_step_index(wf, "g"), 4);
  CHECK_INT(sk_workflow_step_index(wf, "nope"), -1);
  CHECK_STR(wf->ns, "default");
  CHECK_STR(wf->name, "t");
  CHECK(wf->generate_name == NULL && wf->uid == NULL);
  CHECK_INT(wf->ttl_seconds_after_finished, -1);
  CHECK_INT(wf->parallelism, 0);
  CHECK_STR(wf->pod_gc, "Never");
  CHECK(wf->shutdown == NULL && wf->service_account == NULL);
  sk_workflow_destroy(wf);
}

TEST(model_workflow_settings) {
  sk_workflow_t *wf = parse_wf("apiVersion: skein.dev/v1alpha1\nkind: Workflow\n"
                               "metadata: {generateName: g-, namespace: ml, uid: u-1}\n"
                               "spec:\n"
                               "  serviceAccountName: sa\n"
                               "  activeDeadlineSeconds: 7200\n"
                               "  parallelism: 4\n"
                               "  ttlSecondsAfterFinished: 0\n"
                               "  podGC: OnWorkflowCompletion\n"
                               "  shutdown: Terminate\n"
                               "  steps: [{name: a, forEach: '[1]', pod: {image: x}}]\n");
  REQUIRE(wf);
  CHECK(wf->name == NULL);
  CHECK_STR(wf->generate_name, "g-");
  CHECK_STR(wf->ns, "ml");
  CHECK_STR(wf->uid, "u-1");
  CHECK_STR(wf->service_account, "sa");
  CHECK_INT(wf->active_deadline_seconds, 7200);
  CHECK_INT(wf->parallelism, 4);
  CHECK_INT(wf->ttl_seconds_after_finished, 0);
  CHECK_STR(wf->pod_gc, "OnWorkflowCompletion");
  CHECK_STR(wf->shutdown, "Terminate");
  CHECK_STR(json_string_value(wf->steps[0].for_each), "[1]");
  sk_workflow_destroy(wf);
}

TEST(model_params_effective_values) {
  sk_workflow_t *wf = parse_wf(HEADER "spec:\n"
                                      "  params:\n"
                                      "    - {name: a, default: \"1\"}\n"
                                      "    - {name: b, default: \"1\", value: \"2\"}\n"
                                      "    - {name: c, description: required}\n"
                                      "    - {name: d, value: \"\"}\n"
                                      "  steps: [{name: s, pod: {image: x}}]\n");
  REQUIRE(wf);
  REQUIRE(wf->nparams == 4);
  CHECK_STR(wf->params[0].name, "a");
  CHECK_STR(wf->params[0].value, "1");
  CHECK_STR(wf->params[1].value, "2");
  CHECK(wf->params[2].value == NULL);
  CHECK_STR(wf->params[2].description, "required");
  CHECK(wf->params[0].description == NULL);
  CHECK_STR(wf->params[3].value, "");

  CHECK_INT(sk_workflow_set_param(wf, "c", "3"), 0);
  CHECK_STR(wf->params[2].value, "3");
  CHECK_INT(sk_workflow_set_param(wf, "a", "x y"), 0);
  CHECK_STR(wf->params[0].value, "x y");
  CHECK_INT(sk_workflow_set_param(wf, "zz", "1"), SK_ENOENT);
  CHECK_INT(sk_workflow_set_param(wf, "a", "\xff"), SK_EINVAL);
  CHECK_STR(wf->params[0].value, "x y");
  json_t *params = json_object_get(json_object_get(wf->object, "spec"), "params");
  CHECK_STR(json_string_value(json_object_get(json_array_get(params, 2), "value")), "3");
  CHECK_STR(json_string_value(json_object_get(json_array_get(params, 0), "value")), "x y");
  CHECK_STR(json_string_value(json_object_get(json_array_get(params, 0), "default")), "1");
  sk_workflow_destroy(wf);
}

TEST(model_set_identity) {
  sk_workflow_t *wf = parse_wf("apiVersion: skein.dev/v1alpha1\nkind: Workflow\n"
                               "metadata: {generateName: g-}\n"
                               "spec: {steps: [{name: a, pod: {image: x}}]}\n");
  REQUIRE(wf);
  CHECK_INT(sk_workflow_set_identity(wf, "g-abcde", "ml", "uid-1"), 0);
  CHECK_STR(wf->name, "g-abcde");
  CHECK_STR(wf->ns, "ml");
  CHECK_STR(wf->uid, "uid-1");
  json_t *meta = json_object_get(wf->object, "metadata");
  CHECK_STR(json_string_value(json_object_get(meta, "name")), "g-abcde");
  CHECK_STR(json_string_value(json_object_get(meta, "namespace")), "ml");
  CHECK_STR(json_string_value(json_object_get(meta, "uid")), "uid-1");
  CHECK_STR(json_string_value(json_object_get(meta, "generateName")), "g-");
  /* NULL leaves a field as it is. */
  CHECK_INT(sk_workflow_set_identity(wf, NULL, NULL, "uid-2"), 0);
  CHECK_STR(wf->name, "g-abcde");
  CHECK_STR(wf->uid, "uid-2");
  sk_workflow_destroy(wf);
}

TEST(model_object_is_a_copy) {
  json_error_t jerr;
  json_t *obj = json_loads("{\"apiVersion\": \"skein.dev/v1alpha1\", \"kind\": \"Workflow\","
                           " \"metadata\": {\"name\": \"j\"}, \"spec\": {\"params\": "
                           "[{\"name\": \"p\"}], \"steps\": [{\"name\": \"a\", \"pod\": "
                           "{\"image\": \"x\"}}]}}",
                           0, &jerr);
  REQUIRE(obj);
  sk_diags_t diags;
  sk_diags_init(&diags);
  sk_workflow_t *wf = NULL;
  CHECK_INT(sk_spec_workflow_from_json(obj, "run/workflow.json", &diags, &wf), 0);
  CHECK_INT(diags.len, 0);
  REQUIRE(wf);
  CHECK(wf->object != obj);
  CHECK_INT(sk_workflow_set_param(wf, "p", "v"), 0);
  json_t *p0 = json_array_get(json_object_get(json_object_get(obj, "spec"), "params"), 0);
  CHECK(json_object_get(p0, "value") == NULL);
  sk_workflow_destroy(wf);
  json_decref(obj);
  sk_diags_release(&diags);
}

TEST(from_json_reports_without_positions) {
  json_error_t jerr;
  json_t *obj = json_loads("{\"apiVersion\": \"skein.dev/v1alpha1\", \"kind\": \"Workflow\","
                           " \"metadata\": {\"name\": \"j\"}, \"spec\": {\"steps\": "
                           "[{\"name\": \"a\", \"pod\": {}}]}}",
                           0, &jerr);
  REQUIRE(obj);
  sk_diags_t diags;
  sk_diags_init(&diags);
  sk_workflow_t *wf = (sk_workflow_t *)1;
  CHECK_INT(sk_spec_workflow_from_json(obj, "run/workflow.json", &diags, &wf), SK_EINVALID);
  CHECK(wf == NULL);
  REQUIRE(diags.len == 1);
  sk_buf_t line;
  sk_buf_init(&line, 4096);
  sk_diag_format(&diags.items[0], &line);
  CHECK_STR(line.data, "run/workflow.json: spec.steps[0].pod.image: required field is missing");
  sk_buf_release(&line);
  sk_diags_release(&diags);
  json_decref(obj);
}

TEST(template_model) {
  size_t ndocs = 0;
  sk_yaml_doc_t **docs =
      parse_text("apiVersion: skein.dev/v1alpha1\nkind: WorkflowTemplate\n"
                 "metadata: {name: tmpl}\n"
                 "spec:\n"
                 "  workflow:\n"
                 "    params: [{name: commit, default: main}]\n"
                 "    steps: [{name: a, pod: {image: \"x:{{params.commit}}\"}}]\n"
                 "  triggers:\n"
                 "    - {name: nightly, schedule: {cron: \"0 3 * * *\"}}\n"
                 "    - {name: push, github: {events: [push]}, params: {commit: x}}\n",
                 &ndocs);
  REQUIRE(docs);
  CHECK_STR(sk_spec_doc_kind(docs[0]), "WorkflowTemplate");
  sk_diags_t diags;
  sk_diags_init(&diags);
  sk_wftemplate_t *t = NULL;
  CHECK_INT(sk_spec_parse_template(docs[0], &diags, &t), 0);
  REQUIRE(t);
  CHECK_STR(t->name, "tmpl");
  CHECK_STR(t->ns, "default");
  REQUIRE(t->workflow);
  CHECK_STR(t->workflow->generate_name, "tmpl-");
  CHECK(t->workflow->name == NULL);
  CHECK_INT(t->workflow->nsteps, 1);
  CHECK_STR(t->workflow->params[0].value, "main");
  json_t *labels = json_object_get(json_object_get(t->workflow->object, "metadata"), "labels");
  CHECK_STR(json_string_value(json_object_get(labels, "skein.dev/template")), "tmpl");
  CHECK_STR(json_string_value(json_object_get(t->workflow->object, "kind")), "Workflow");
  REQUIRE(t->ntriggers == 2);
  CHECK_STR(t->triggers[1].name, "push");
  CHECK(json_is_object(json_object_get(t->triggers[1].object, "github")));
  sk_wftemplate_destroy(t);

  /* A template is not a Workflow. */
  sk_workflow_t *wf = (sk_workflow_t *)1;
  CHECK_INT(sk_spec_parse_workflow(docs[0], &diags, &wf), SK_EINVALID);
  CHECK(wf == NULL);
  REQUIRE(diags.len == 1);
  CHECK_STR(diags.items[0].msg, "expected a Workflow here, got a WorkflowTemplate");
  sk_diags_release(&diags);
  sk_yaml_docs_destroy(docs, ndocs);
}

TEST(doc_kind) {
  size_t ndocs = 0;
  sk_yaml_doc_t **docs = parse_text("kind: Workflow\n---\nkind: Pod\n---\n[1]\n", &ndocs);
  REQUIRE(docs && ndocs == 3);
  CHECK_STR(sk_spec_doc_kind(docs[0]), "Workflow");
  CHECK(sk_spec_doc_kind(docs[1]) == NULL);
  CHECK(sk_spec_doc_kind(docs[2]) == NULL);
  sk_yaml_docs_destroy(docs, ndocs);
}

TEST(destroy_accepts_null) {
  sk_workflow_destroy(NULL);
  sk_wftemplate_destroy(NULL);
  CHECK_STR(sk_step_kind_name(SK_STEP_KIND_COUNT), "unknown");
}

/* --- focused validation messages --------------------------------------------- */

TEST(message_unknown_field_suggestion) {
  char *d = diags_of(HEADER "spec:\n"
                            "  steps:\n"
                            "    - {name: a, pod: {image: x}}\n"
                            "    - {name: b, dependson: [a], pod: {image: x}}\n");
  CHECK_STR(d, "t.yaml:7:17: spec.steps[1].dependson: unknown field \"dependson\" (did you "
               "mean \"dependsOn\"?)");
  free(d);
}

TEST(message_suggestions) {
  static const struct {
    const char *field;
    const char *want;
  } cases[] = {
      {"imgae", "(did you mean \"image\"?)"},      /* a transposition is one edit */
      {"IMAGE", "(did you mean \"image\"?)"},      /* case differences are free */
      {"image_", "(did you mean \"image\"?)"},
      {"workingdir", "(did you mean \"workingDir\"?)"},
      {"comand", "(did you mean \"command\"?)"},
      {"arg", "(did you mean \"args\"?)"},
      /* Two edits in a two-letter word are not a typo of anything. */
      {"ag", "(known fields: image, command, args, env, resources, workingDir, "
             "imagePullPolicy, volumeMounts, podSpecPatch, metadata)"},
      /* Three edits are too many. */
      {"workDir", "(known fields: image, command, args, env, resources, workingDir, "
                  "imagePullPolicy, volumeMounts, podSpecPatch, metadata)"},
      {"xyz", "(known fields: image, command, args, env, resources, workingDir, "
              "imagePullPolicy, volumeMounts, podSpecPatch, metadata)"},
      {"volumes", "(known fields: image, command, args, env, resources, workingDir, "
                  "imagePullPolicy, volumeMounts, podSpecPatch, metadata)"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char text[512], want[512];
    snprintf(text, sizeof(text),
             HEADER "spec: {steps: [{name: a, pod: {image: x, %s: y}}]}\n", cases[i].field);
    snprintf(want, sizeof(want),
             "t.yaml:4:42: spec.steps[0].pod.%s: unknown field \"%s\" %s", cases[i].field,
             cases[i].field, cases[i].want);
    char *d = diags_of(text);
    CHECK_STR(d, want);
    free(d);
  }
}

TEST(message_cycle) {
  char *d = diags_of(HEADER "spec:\n"
                            "  steps:\n"
                            "    - {name: a, dependsOn: [b], pod: {image: x}}\n"
                            "    - {name: b, dependsOn: [c], pod: {image: x}}\n"
                            "    - {name: c, dependsOn: [a], pod: {image: x}}\n");
  CHECK_STR(d, "t.yaml:6:17: spec.steps[0].dependsOn: dependency cycle: a -> b -> c -> a");
  free(d);
}

TEST(message_outputs_without_dependency) {
  char *d = diags_of(HEADER "spec:\n"
                            "  steps:\n"
                            "    - {name: train, pod: {image: x}}\n"
                            "    - name: evaluate\n"
                            "      pod: {image: x, args: [\"{{steps.train.outputs.model}}\"]}\n");
  CHECK_STR(d, "t.yaml:8:30: spec.steps[1].pod.args[0]: step evaluate uses outputs of train "
               "but does not depend on it, directly or through other steps: add it to "
               "dependsOn");
  free(d);
}

TEST(message_bad_when) {
  char *d = diags_of(HEADER "spec:\n"
                            "  steps:\n"
                            "    - name: a\n"
                            "      when: \"{{steps.a.phase}} >=\"\n"
                            "      pod: {image: x}\n");
  CHECK_STR(d, "t.yaml:7:7: spec.steps[0].when: invalid when expression at column 21: "
               "expected an operand after '>='");
  free(d);
}

/* pod.metadata values are templated and scanned like the rest of the body;
 * the resource's own labels are not templated; the reserved keys are
 * refused wherever a step is, finally steps of a template included. */
TEST(pod_metadata) {
  char *d = diags_of(HEADER "spec:\n"
                            "  steps:\n"
                            "    - {name: train, pod: {image: x}}\n"
                            "    - name: evaluate\n"
                            "      pod:\n"
                            "        image: x\n"
                            "        metadata: {labels: {model: '{{steps.train.outputs.m}}'}}\n");
  CHECK_STR(d, "t.yaml:10:29: spec.steps[1].pod.metadata.labels.model: step evaluate uses "
               "outputs of train but does not depend on it, directly or through other steps: "
               "add it to dependsOn");
  free(d);
  d = diags_of("apiVersion: skein.dev/v1alpha1\nkind: Workflow\n"
               "metadata: {name: t, labels: {team: '{{params.team}}'}}\n"
               "spec:\n"
               "  params: [{name: team}]\n"
               "  steps: [{name: a, pod: {image: x, metadata: {labels: {team: '{{params.team}}'}}}}]\n");
  CHECK_STR(d, "t.yaml:3:30: metadata.labels.team: invalid label value \"{{params.team}}\": "
               "expected at most 63 letters, digits, '-', '_' or '.', starting and ending with "
               "a letter or digit (or empty)");
  free(d);
  d = diags_of("apiVersion: skein.dev/v1alpha1\nkind: WorkflowTemplate\nmetadata: {name: t}\n"
               "spec:\n"
               "  workflow:\n"
               "    steps: [{name: a, pod: {image: x}}]\n"
               "    finally:\n"
               "      - name: notify\n"
               "        pod:\n"
               "          image: x\n"
               "          metadata:\n"
               "            labels: {skein.dev/attempt: '1', skein.dev/template: t}\n"
               "            annotations: {phase: '{{workflow.phase}}', skein.dev/workflow: t}\n");
  CHECK_STR(d, "t.yaml:12:22: spec.workflow.finally[0].pod.metadata.labels[\"skein.dev/attempt\"]: "
               "skein.dev/attempt is set by skeind: skein.dev/workflow, step, attempt and "
               "workflow-uid mark the Pods it creates; other skein.dev/ keys are free\n"
               "t.yaml:13:56: spec.workflow.finally[0].pod.metadata.annotations[\"skein.dev/workflow\"]: "
               "skein.dev/workflow is set by skeind: skein.dev/workflow, step, attempt and "
               "workflow-uid mark the Pods it creates; other skein.dev/ keys are free");
  free(d);

  /* The body keeps metadata as written, for the executors to template. */
  sk_workflow_t *wf = parse_wf(HEADER "spec:\n"
                                      "  steps:\n"
                                      "    - name: a\n"
                                      "      pod: {image: x, metadata: {annotations: {n: v}}}\n");
  REQUIRE(wf);
  CHECK_STR(json_string_value(json_object_get(
                json_object_get(json_object_get(wf->steps[0].body, "metadata"), "annotations"),
                "n")),
            "v");
  sk_workflow_destroy(wf);

  char v[65];
  memset(v, 'a', 64);
  v[64] = '\0';
  CHECK(!sk_spec_label_value_ok(v));
  v[63] = '\0';
  CHECK(sk_spec_label_value_ok(v));
  CHECK(sk_spec_label_value_ok(""));
  CHECK(sk_spec_label_value_ok("a.b_c-D9"));
  CHECK(!sk_spec_label_value_ok("-a"));
  CHECK(!sk_spec_label_value_ok("a."));
  CHECK(!sk_spec_label_value_ok("a b"));
  CHECK(!sk_spec_label_value_ok(NULL));
}

TEST(too_many_steps) {
  json_t *steps = json_array();
  for (int i = 0; i < SK_SPEC_MAX_STEPS + 1; i++) {
    char name[32];
    snprintf(name, sizeof(name), "s%d", i);
    json_array_append_new(steps, json_pack("{s:s, s:{s:s}}", "name", name, "pod", "image", "x"));
  }
  json_t *obj = json_pack("{s:s, s:s, s:{s:s}, s:{s:o}}", "apiVersion", SK_API_VERSION, "kind",
                          "Workflow", "metadata", "name", "big", "spec", "steps", steps);
  REQUIRE(obj);
  sk_diags_t diags;
  sk_diags_init(&diags);
  CHECK_INT(sk_spec_workflow_from_json(obj, NULL, &diags, NULL), SK_EINVALID);
  REQUIRE(diags.len == 1);
  CHECK_STR(diags.items[0].path, "spec.steps");
  CHECK_STR(diags.items[0].msg, "a workflow may have at most 500 steps, steps and finally "
                                "together, got 501; only the first 500 are checked");
  sk_diags_release(&diags);
  json_decref(obj);
}

TEST(long_chain_is_fine) {
  /* A chain of SK_SPEC_MAX_STEPS steps, each depending on the one before and
   * using its output: the closure must see every transitive dependency. */
  json_t *steps = json_array();
  for (int i = 0; i < SK_SPEC_MAX_STEPS; i++) {
    char name[32], prev[32], arg[64];
    snprintf(name, sizeof(name), "s%d", i);
    snprintf(prev, sizeof(prev), "s%d", i ? i - 1 : 0);
    snprintf(arg, sizeof(arg), "{{steps.s0.outputs.x}}");
    json_t *st = json_pack("{s:s, s:{s:s, s:[s]}}", "name", name, "pod", "image", "x", "args",
                           i ? arg : "none");
    if (i)
      json_object_set_new(st, "dependsOn", json_pack("[s]", prev));
    json_array_append_new(steps, st);
  }
  json_t *obj = json_pack("{s:s, s:s, s:{s:s}, s:{s:o}}", "apiVersion", SK_API_VERSION, "kind",
                          "Workflow", "metadata", "name", "chain", "spec", "steps", steps);
  REQUIRE(obj);
  sk_diags_t diags;
  sk_diags_init(&diags);
  sk_workflow_t *wf = NULL;
  CHECK_INT(sk_spec_workflow_from_json(obj, NULL, &diags, &wf), 0);
  CHECK_INT(diags.len, 0);
  REQUIRE(wf);
  CHECK_INT(wf->steps[SK_SPEC_MAX_STEPS - 1].dep_index[0], SK_SPEC_MAX_STEPS - 2);
  sk_workflow_destroy(wf);
  sk_diags_release(&diags);
  json_decref(obj);
}

TEST(many_unknown_names_stay_cheap) {
  /* 500 steps with long, similar names, each depending on 100 unknown
   * ones: every problem is counted, the first SK_DIAGS_MAX are kept, and
   * the suggestions (which compare against every step name) stay bounded.
   * A quadratic slip here would make this test take minutes. */
  json_t *steps = json_array();
  for (int i = 0; i < SK_SPEC_MAX_STEPS; i++) {
    char name[80];
    snprintf(name, sizeof(name), "s%061d", i);
    json_t *deps = json_array();
    for (int k = 0; k < 100; k++) {
      char dep[80];
      snprintf(dep, sizeof(dep), "s%061d", 100000 + i * 100 + k);
      json_array_append_new(deps, json_string(dep));
    }
    json_array_append_new(steps, json_pack("{s:s, s:o, s:{s:s}}", "name", name, "dependsOn",
                                           deps, "pod", "image", "x"));
  }
  json_t *obj = json_pack("{s:s, s:s, s:{s:s}, s:{s:o}}", "apiVersion", SK_API_VERSION, "kind",
                          "Workflow", "metadata", "name", "many", "spec", "steps", steps);
  REQUIRE(obj);
  sk_diags_t diags;
  sk_diags_init(&diags);
  CHECK_INT(sk_spec_workflow_from_json(obj, NULL, &diags, NULL), SK_EINVALID);
  CHECK_INT(diags.len, SK_DIAGS_MAX);
  CHECK_INT(diags.len + diags.dropped, SK_SPEC_MAX_STEPS * 100);
  sk_diags_release(&diags);
  json_decref(obj);
}

int main(void) {
  RUN(corpus_invalid);
  RUN(corpus_valid);
  RUN(examples_valid);
  RUN(model_defaults_merged);
  RUN(model_retry_without_defaults);
  RUN(model_steps_and_deps);
  RUN(model_workflow_settings);
  RUN(model_params_effective_values);
  RUN(model_set_identity);
  RUN(model_object_is_a_copy);
  RUN(from_json_reports_without_positions);
  RUN(template_model);
  RUN(doc_kind);
  RUN(destroy_accepts_null);
  RUN(message_unknown_field_suggestion);
  RUN(message_suggestions);
  RUN(message_cycle);
  RUN(message_outputs_without_dependency);
  RUN(message_bad_when);
  RUN(pod_metadata);
  RUN(too_many_steps);
  RUN(long_chain_is_fine);
  RUN(many_unknown_names_stay_cheap);
  return TEST_DONE();
}
