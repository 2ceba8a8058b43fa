/*
 * The typed model of a valid Workflow: built from the JSON object after
 * validation passed, so it can read fields without checking them again,
 * and kept in step with that object when params or identity are set.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec/spec-int.h"
#include "util/error.h"
#include "util/strutil.h"

static const char *const k_kind_names[SK_STEP_KIND_COUNT] = {"pod", "vertex", "sagemaker",
                                                             "resource", "rollout"};

const char *sk_step_kind_name(sk_step_kind_t kind) {
  if ((int)kind < 0 || kind >= SK_STEP_KIND_COUNT)
    return "unknown";
  return k_kind_names[kind];
}

/* Copies the string member key of obj into *out (left NULL when absent). */
static int copy_str(json_t *obj, const char *key, char **out) {
  const char *s = json_string_value(json_object_get(obj, key));
  if (!s)
    return 0;
  *out = strdup(s);
  return *out ? 0 : SK_ENOMEM;
}

static int64_t get_int(json_t *obj, const char *key, int64_t dflt) {
  json_t *v = json_object_get(obj, key);
  return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

/* Overlays the fields a retry object sets onto r: field by field, so a
 * step that only sets limit keeps the defaults' backoff. */
static void apply_retry(sk_retry_t *r, json_t *retry) {
  if (!json_is_object(retry))
    return;
  json_t *limit = json_object_get(retry, "limit");
  if (json_is_integer(limit))
    r->limit = (int)json_integer_value(limit);
  json_t *b = json_object_get(retry, "backoff");
  if (!json_is_object(b))
    return;
  json_t *v = json_object_get(b, "seconds");
  if (json_is_number(v))
    r->backoff_seconds = json_number_value(v);
  v = json_object_get(b, "factor");
  if (json_is_number(v))
    r->factor = json_number_value(v);
  v = json_object_get(b, "maxSeconds");
  if (json_is_number(v))
    r->max_seconds = json_number_value(v);
}

static int build_params(sk_workflow_t *wf, json_t *spec) {
  json_t *list = json_object_get(spec, "params");
  size_t n = json_array_size(list);
  if (n == 0)
    return 0;
  wf->params = calloc(n, sizeof(*wf->params));
  if (!wf->params)
    return SK_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    json_t *p = json_array_get(list, i);
    sk_param_t *pm = &wf->params[i];
    wf->nparams = i + 1;
    int rc = copy_str(p, "name", &pm->name);
    if (rc == 0)
      rc = copy_str(p, "value", &pm->value);
    if (rc == 0 && !pm->value)
      rc = copy_str(p, "default", &pm->value);
    if (rc == 0)
      rc = copy_str(p, "description", &pm->description);
    if (rc < 0)
      return rc;
  }
  return 0;
}

static int build_step(sk_step_t *st, json_t *obj, json_t *defaults,
                      bool is_finally, size_t k) {
  st->is_finally = is_finally;
  char path[64];
  snprintf(path, sizeof(path), "spec.%s[%zu]", is_finally ? "finally" : "steps", k);
  st->path = strdup(path);
  if (!st->path)
    return SK_ENOMEM;
  int rc = copy_str(obj, "name", &st->name);
  if (rc == 0)
    rc = copy_str(obj, "when", &st->when);
  if (rc < 0)
    return rc;
  json_t *deps = json_object_get(obj, "dependsOn");
  size_t n = json_array_size(deps);
  if (n) {
    st->depends_on = calloc(n, sizeof(*st->depends_on));
    st->dep_index = calloc(n, sizeof(*st->dep_index));
    if (!st->depends_on || !st->dep_index)
      return SK_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    st->depends_on[i] = strdup(json_string_value(json_array_get(deps, i)));
    st->ndeps = i + 1;
    if (!st->depends_on[i])
      return SK_ENOMEM;
  }
  json_t *fe = json_object_get(obj, "forEach");
  if (fe && !json_is_null(fe))
    st->for_each = json_incref(fe);
  st->retry = (sk_retry_t){.limit = 0, .backoff_seconds = 0, .factor = 2, .max_seconds = 0};
  apply_retry(&st->retry, json_object_get(defaults, "retry"));
  apply_retry(&st->retry, json_object_get(obj, "retry"));
  st->timeout_seconds = get_int(obj, "timeoutSeconds", get_int(defaults, "timeoutSeconds", 0));
  for (int kind = 0; kind < SK_STEP_KIND_COUNT; kind++) {
    json_t *body = json_object_get(obj, k_kind_names[kind]);
    if (body && !json_is_null(body)) {
      st->kind = (sk_step_kind_t)kind;
      st->body = json_incref(body);
      break;
    }
  }
  return 0;
}

/* Dependencies by index: names are unique and valid once validation
 * passed, so every name is found. */
static void index_deps(sk_workflow_t *wf) {
  for (size_t i = 0; i < wf->nsteps; i++) {
    sk_step_t *st = &wf->steps[i];
    for (size_t d = 0; d < st->ndeps; d++) {
      ssize_t j = sk_workflow_step_index(wf, st->depends_on[d]);
      st->dep_index[d] = j >= 0 ? (size_t)j : 0;
    }
  }
}

static int build_steps(sk_workflow_t *wf, json_t *spec) {
  json_t *steps = json_object_get(spec, "steps");
  json_t *fin = json_object_get(spec, "finally");
  json_t *defaults = json_object_get(spec, "defaults");
  size_t nmain = json_array_size(steps), nfin = json_array_size(fin);
  if (nmain + nfin == 0)
    return 0;
  wf->steps = calloc(nmain + nfin, sizeof(*wf->steps));
  if (!wf->steps)
    return SK_ENOMEM;
  wf->nmain = nmain;
  for (size_t i = 0; i < nmain + nfin; i++) {
    bool is_fin = i >= nmain;
    size_t k = is_fin ? i - nmain : i;
    wf->nsteps = i + 1;
    int rc = build_step(&wf->steps[i], json_array_get(is_fin ? fin : steps, k), defaults,
                        is_fin, k);
    if (rc < 0)
      return rc;
  }
  index_deps(wf);
  return 0;
}

int sk__build_workflow(json_t *obj, sk_workflow_t **out) {
  *out = NULL;
  sk_workflow_t *wf = calloc(1, sizeof(*wf));
  if (!wf) {
    json_decref(obj);
    return SK_ENOMEM;
  }
  wf->object = obj;
  wf->ttl_seconds_after_finished = -1;
  json_t *meta = json_object_get(obj, "metadata");
  json_t *spec = json_object_get(obj, "spec");
  int rc = copy_str(meta, "name", &wf->name);
  if (rc == 0)
    rc = copy_str(meta, "generateName", &wf->generate_name);
  if (rc == 0)
    rc = copy_str(meta, "namespace", &wf->ns);
  if (rc == 0 && !wf->ns && !(wf->ns = strdup("default")))
    rc = SK_ENOMEM;
  if (rc == 0)
    rc = copy_str(meta, "uid", &wf->uid);
  if (rc == 0)
    rc = build_params(wf, spec);
  if (rc == 0)
    rc = copy_str(spec, "serviceAccountName", &wf->service_account);
  if (rc == 0)
    rc = copy_str(spec, "podGC", &wf->pod_gc);
  if (rc == 0 && !wf->pod_gc && !(wf->pod_gc = strdup("Never")))
    rc = SK_ENOMEM;
  if (rc == 0)
    rc = copy_str(spec, "shutdown", &wf->shutdown);
  if (rc < 0)
    goto fail;
  wf->active_deadline_seconds = get_int(spec, "activeDeadlineSeconds", 0);
  wf->parallelism = (int)get_int(spec, "parallelism", 0);
  wf->ttl_seconds_after_finished = get_int(spec, "ttlSecondsAfterFinished", -1);
  rc = build_steps(wf, spec);
  if (rc < 0)
    goto fail;
  *out = wf;
  return 0;
fail:
  sk_workflow_destroy(wf);
  return rc;
}

ssize_t sk_workflow_step_index(const sk_workflow_t *wf, const char *name) {
  if (!wf || !name)
    return -1;
  for (size_t i = 0; i < wf->nsteps; i++) {
    if (wf->steps[i].name && strcmp(wf->steps[i].name, name) == 0)
      return (ssize_t)i;
  }
  return -1;
}

int sk_workflow_set_param(sk_workflow_t *wf, const char *name, const char *value) {
  if (!wf || !name || !value)
    return SK_EINVAL;
  json_t *list = json_object_get(json_object_get(wf->object, "spec"), "params");
  for (size_t i = 0; i < wf->nparams; i++) {
    sk_param_t *p = &wf->params[i];
    if (strcmp(p->name, name) != 0)
      continue;
    /* The object first: json_string refuses text that is not UTF-8, and
     * then nothing has changed. */
    json_t *entry = json_array_get(list, i);
    json_t *js = json_string(value);
    char *copy = strdup(value);
    if (!js || !copy || !json_is_object(entry)) {
      json_decref(js);
      free(copy);
      return !js ? SK_EINVAL : SK_ENOMEM;
    }
    if (json_object_set_new(entry, "value", js) < 0) {
      free(copy);
      return SK_ENOMEM;
    }
    free(p->value);
    p->value = copy;
    return 0;
  }
  return SK_ENOENT;
}

/* Replaces *field with a copy of value and metadata.key in the object. */
static int set_meta(sk_workflow_t *wf, const char *key, const char *value, char **field) {
  if (!value)
    return 0;
  json_t *meta = json_object_get(wf->object, "metadata");
  if (!json_is_object(meta)) {
    meta = json_object();
    if (!meta || json_object_set_new(wf->object, "metadata", meta) < 0)
      return SK_ENOMEM;
  }
  json_t *js = json_string(value);
  if (!js)
    return SK_EINVAL;
  char *copy = strdup(value);
  if (!copy) {
    json_decref(js);
    return SK_ENOMEM;
  }
  if (json_object_set_new(meta, key, js) < 0) {
    free(copy);
    return SK_ENOMEM;
  }
  free(*field);
  *field = copy;
  return 0;
}

int sk_workflow_set_identity(sk_workflow_t *wf, const char *name, const char *ns,
                             const char *uid) {
  if (!wf)
    return SK_EINVAL;
  int rc = set_meta(wf, "name", name, &wf->name);
  if (rc == 0)
    rc = set_meta(wf, "namespace", ns, &wf->ns);
  if (rc == 0)
    rc = set_meta(wf, "uid", uid, &wf->uid);
  return rc;
}

void sk_workflow_destroy(sk_workflow_t *wf) {
  if (!wf)
    return;
  for (size_t i = 0; i < wf->nparams; i++) {
    free(wf->params[i].name);
    free(wf->params[i].value);
    free(wf->params[i].description);
  }
  free(wf->params);
  for (size_t i = 0; i < wf->nsteps; i++) {
    sk_step_t *st = &wf->steps[i];
    free(st->name);
    free(st->path);
    for (size_t d = 0; d < st->ndeps; d++)
      free(st->depends_on[d]);
    free(st->depends_on);
    free(st->dep_index);
    free(st->when);
    json_decref(st->for_each);
    json_decref(st->body);
  }
  free(wf->steps);
  free(wf->name);
  free(wf->generate_name);
  free(wf->ns);
  free(wf->uid);
  free(wf->service_account);
  free(wf->pod_gc);
  free(wf->shutdown);
  json_decref(wf->object);
  free(wf);
}
