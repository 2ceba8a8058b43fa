/*
 * The Workflow spec: params, the workflow-wide settings, defaults, and each
 * step's own fields (name, when, forEach, retry, timeout). The kind bodies,
 * dependencies and template references have their own files; this one
 * builds the step table they share and runs them in order.
 */
#include <stdlib.h>
#include <string.h>

#include "spec/expr.h"
#include "spec/spec-int.h"
#include "spec/template.h"
#include "util/error.h"
#include "util/strutil.h"

static const char *const k_spec_fields[] = {
    "params", "serviceAccountName", "activeDeadlineSeconds", "parallelism",
    "ttlSecondsAfterFinished", "podGC", "shutdown", "defaults", "steps", "finally", NULL};
static const char *const k_param_fields[] = {"name", "default", "value", "description", NULL};
static const char *const k_defaults_fields[] = {"retry", "timeoutSeconds", NULL};
static const char *const k_retry_fields[] = {"limit", "backoff", NULL};
static const char *const k_backoff_fields[] = {"seconds", "factor", "maxSeconds", NULL};
static const char *const k_step_fields[] = {
    "name", "dependsOn", "when", "forEach", "retry", "timeoutSeconds",
    "pod",  "vertex",    "sagemaker", "resource", "rollout", NULL};
static const char *const k_pod_gc[] = {"Never", "OnPodSuccess", "OnWorkflowSuccess",
                                       "OnWorkflowCompletion", NULL};
static const char *const k_shutdown[] = {"Stop", "Terminate", NULL};

/* Params are strings in the CRD, so a YAML number there would be refused
 * by the API server (or silently re-typed by a client): say how to fix it. */
static void check_param_string(sk__vctx_t *c, const char *base, json_t *p, const char *key) {
  json_t *v = json_object_get(p, key);
  if (!v || json_is_null(v) || json_is_string(v))
    return;
  char path[SK__PATH_MAX];
  sk__path_key(path, base, key);
  if (json_is_number(v) || json_is_boolean(v)) {
    char text[64];
    if (json_is_integer(v))
      snprintf(text, sizeof(text), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v))
      snprintf(text, sizeof(text), "%.15g", json_real_value(v));
    else
      snprintf(text, sizeof(text), "%s", json_is_true(v) ? "true" : "false");
    sk__report(c, path,
               "expected a string, got the %s %s: quote it (\"%s\"), because the Kubernetes CRD "
               "types params as strings",
               json_is_boolean(v) ? "boolean" : "number", text, text);
    return;
  }
  sk__type_error(c, path, v, "a string");
}

static const char **check_params(sk__vctx_t *c, const char *base, json_t *spec, size_t *np) {
  *np = 0;
  json_t *list = sk__get_list(c, base, spec, "params", 0);
  size_t n = json_array_size(list);
  if (n == 0)
    return NULL;
  char lpath[SK__PATH_MAX];
  sk__path_key(lpath, base, "params");
  if (n > SK_SPEC_MAX_PARAMS) {
    sk__report(c, lpath, "a workflow may declare at most %d params, got %zu; only the first %d "
               "are checked", SK_SPEC_MAX_PARAMS, n, SK_SPEC_MAX_PARAMS);
    n = SK_SPEC_MAX_PARAMS;
  }
  const char **names = calloc(n, sizeof(*names));
  json_t *seen = json_object();
  if (!names || !seen) {
    free(names);
    json_decref(seen);
    c->rc = SK_ENOMEM;
    return NULL;
  }
  for (size_t i = 0; i < n; i++) {
    char path[SK__PATH_MAX];
    sk__path_index(path, lpath, i);
    json_t *p = json_array_get(list, i);
    if (!sk__want_obj(c, path, p, k_param_fields))
      continue;
    json_t *nv = json_object_get(p, "name");
    const char *name = NULL;
    char npath[SK__PATH_MAX];
    sk__path_key(npath, path, "name");
    if (!nv || json_is_null(nv))
      sk__report(c, npath, "required field is missing");
    else if (!json_is_string(nv))
      check_param_string(c, path, p, "name");
    else
      name = json_string_value(nv);
    char shown[SK__SHOW_BUF];
    if (name && !sk__is_ident(name)) {
      sk__report(c, npath,
                 "invalid param name \"%s\": expected a letter or '_' followed by letters, "
                 "digits, '_' or '-'",
                 sk__show(shown, sizeof(shown), name));
      name = NULL;
    }
    long first_use = name ? sk__first_use(seen, name, i) : -1;
    if (first_use >= 0) {
      char first[SK__PATH_MAX];
      sk__path_index(first, lpath, (size_t)first_use);
      sk__report(c, npath, "duplicate param name \"%s\": already declared at %s",
                 sk__show(shown, sizeof(shown), name), first);
      name = NULL;
    }
    names[i] = name;
    check_param_string(c, path, p, "default");
    check_param_string(c, path, p, "value");
    check_param_string(c, path, p, "description");
  }
  json_decref(seen);
  *np = n;
  return names;
}

/* retry: {limit, backoff: {seconds, factor, maxSeconds}} under base. */
static void check_retry(sk__vctx_t *c, const char *base, json_t *parent) {
  json_t *retry = sk__get_obj(c, base, parent, "retry", 0, k_retry_fields);
  if (!retry)
    return;
  char path[SK__PATH_MAX];
  sk__path_key(path, base, "retry");
  sk__get_int(c, path, retry, "limit", 0, 0, SK_SPEC_MAX_RETRY_LIMIT, NULL);
  json_t *backoff = sk__get_obj(c, path, retry, "backoff", 0, k_backoff_fields);
  if (!backoff)
    return;
  char bpath[SK__PATH_MAX];
  sk__path_key(bpath, path, "backoff");
  double secs = 0, max = 0;
  bool has_secs = sk__get_num(c, bpath, backoff, "seconds", 0, 0, (double)SK_SPEC_MAX_SECONDS,
                              &secs);
  sk__get_num(c, bpath, backoff, "factor", 0, 1, 100, NULL);
  bool has_max = sk__get_num(c, bpath, backoff, "maxSeconds", 0, 0,
                             (double)SK_SPEC_MAX_SECONDS, &max);
  if (has_secs && has_max && max > 0 && max < secs) {
    char mpath[SK__PATH_MAX];
    sk__path_key(mpath, bpath, "maxSeconds");
    sk__report(c, mpath,
               "must not be less than seconds (%.15g): it caps every delay, the first one "
               "included (0 means no cap)",
               secs);
  }
}

static void check_defaults(sk__vctx_t *c, const char *base, json_t *spec) {
  json_t *d = sk__get_obj(c, base, spec, "defaults", 0, k_defaults_fields);
  if (!d)
    return;
  char path[SK__PATH_MAX];
  sk__path_key(path, base, "defaults");
  check_retry(c, path, d);
  sk__get_int(c, path, d, "timeoutSeconds", 0, 1, SK_SPEC_MAX_SECONDS, NULL);
}

/* A forEach item becomes one instance; lists and nulls have no sensible
 * {{item}} and are almost always an indentation slip. */
static bool item_ok(const json_t *v) {
  return json_is_string(v) || json_is_number(v) || json_is_boolean(v) || json_is_object(v);
}

static void check_items(sk__vctx_t *c, const char *path, json_t *list, bool literal) {
  size_t n = json_array_size(list);
  if (n > SK_SPEC_MAX_FOREACH)
    sk__report(c, path, "forEach has %zu items, more than the limit of %d", n,
               SK_SPEC_MAX_FOREACH);
  size_t i;
  json_t *v;
  json_array_foreach(list, i, v) {
    if (item_ok(v))
      continue;
    char ipath[SK__PATH_MAX];
    if (literal)
      sk__path_index(ipath, path, i);
    else
      snprintf(ipath, sizeof(ipath), "%s", path);
    sk__report(c, ipath, "forEach item %zu is %s: items must be strings, numbers, booleans or "
               "objects", i, sk__type_name(v));
    if (!literal)
      break;
  }
}

static int count_ref(void *ud, const sk_ref_t *ref, size_t offset) {
  (void)ref;
  (void)offset;
  (*(size_t *)ud)++;
  return 0;
}

static void check_for_each(sk__vctx_t *c, const char *base, json_t *step, bool *has) {
  json_t *fe = sk__member(c, base, step, "forEach", 0);
  *has = false;
  if (!fe)
    return;
  char path[SK__PATH_MAX];
  sk__path_key(path, base, "forEach");
  if (json_is_array(fe)) {
    *has = true;
    check_items(c, path, fe, true);
    return;
  }
  if (!json_is_string(fe)) {
    sk__type_error(c, path, fe, "a list or a string");
    return;
  }
  *has = true;
  const char *s = json_string_value(fe);
  size_t nrefs = 0;
  char err[256];
  /* A malformed placeholder is reported by the template-reference pass,
   * which scans this string like every other. */
  if (sk_tmpl_scan(s, count_ref, &nrefs, err, sizeof(err), NULL) < 0 || nrefs > 0)
    return;
  json_error_t jerr;
  json_t *list = json_loads(s, JSON_DECODE_ANY, &jerr);
  if (json_is_array(list)) {
    check_items(c, path, list, false);
  } else if (list) {
    sk__report(c, path, "forEach string is JSON but not a list (it is %s): expected a list, a "
               "string holding a JSON list such as '[\"a\", \"b\"]', or a string with a "
               "placeholder that gives one, such as \"{{params.items}}\"",
               sk__type_name(list));
  } else {
    char shown[SK__SHOW_BUF];
    sk__report(c, path,
               "forEach string \"%s\" is not a JSON list (%s at column %d) and has no "
               "placeholder: expected a list, a string holding a JSON list such as "
               "'[\"a\", \"b\"]', or a string with a placeholder that gives one, such as "
               "\"{{params.items}}\"",
               sk__show(shown, sizeof(shown), s), jerr.text, jerr.column);
  }
  json_decref(list);
}

static void check_when(sk__vctx_t *c, const char *base, json_t *step) {
  const char *when = sk__get_str(c, base, step, "when", 0);
  if (!when)
    return;
  char path[SK__PATH_MAX];
  sk__path_key(path, base, "when");
  sk_expr_t *e = NULL;
  char err[256] = "";
  size_t off = 0;
  int rc = sk_expr_parse(when, &e, err, sizeof(err), &off);
  if (rc == SK_ENOMEM)
    c->rc = rc;
  else if (rc < 0)
    sk__report(c, path, "invalid when expression at column %zu: %s", off + 1, err);
  sk_expr_destroy(e);
}

static void check_step(sk__vctx_t *c, sk__vstep_t *st, json_t *obj) {
  const char *path = st->path;
  st->obj = obj;
  if (!sk__want_obj(c, path, obj, k_step_fields)) {
    st->obj = NULL;
    return;
  }
  const char *name = sk__get_str(c, path, obj, "name", SK__REQ);
  if (name && !sk_is_dns1123_label(name)) {
    char npath[SK__PATH_MAX];
    char shown[SK__SHOW_BUF];
    sk__path_key(npath, path, "name");
    sk__report(c, npath,
               "invalid step name \"%s\": expected a DNS-1123 label (lowercase letters, digits "
               "and '-', starting and ending with a letter or digit, at most 63 characters)",
               sk__show(shown, sizeof(shown), name));
    name = NULL;
  }
  st->name = name;
  sk__get_str_list(c, path, obj, "dependsOn", 0);
  check_when(c, path, obj);
  check_for_each(c, path, obj, &st->for_each);
  check_retry(c, path, obj);
  sk__get_int(c, path, obj, "timeoutSeconds", 0, 1, SK_SPEC_MAX_SECONDS, NULL);
  sk__check_step_kind(c, path, obj);
}

/* True when name is "<base>-<digits>", the name of an instance of base. */
static bool is_instance_name(const char *name, const char *base) {
  size_t n = strlen(base);
  if (strncmp(name, base, n) != 0 || name[n] != '-' || !name[n + 1])
    return false;
  for (const char *p = name + n + 1; *p; p++) {
    if (*p < '0' || *p > '9')
      return false;
  }
  return true;
}

static void check_names(sk__vctx_t *c, sk__vwf_t *w) {
  char shown[SK__SHOW_BUF];
  for (size_t i = 0; i < w->nsteps; i++) {
    sk__vstep_t *st = &w->steps[i];
    if (!st->name)
      continue;
    char npath[SK__PATH_MAX];
    sk__path_key(npath, st->path, "name");
    for (size_t j = 0; j < i; j++) {
      if (w->steps[j].name && strcmp(w->steps[j].name, st->name) == 0) {
        sk__report(c, npath, "duplicate step name \"%s\": already used by %s",
                   sk__show(shown, sizeof(shown), st->name), w->steps[j].path);
        st->name = NULL;
        break;
      }
    }
  }
  for (size_t i = 0; i < w->nsteps; i++) {
    const sk__vstep_t *fe = &w->steps[i];
    if (!fe->name || !fe->for_each)
      continue;
    for (size_t j = 0; j < w->nsteps; j++) {
      const sk__vstep_t *st = &w->steps[j];
      if (!st->name || !is_instance_name(st->name, fe->name))
        continue;
      char npath[SK__PATH_MAX];
      sk__path_key(npath, st->path, "name");
      sk__report(c, npath,
                 "step name \"%s\" collides with an instance of forEach step %s (%s), whose "
                 "instances are named %s-0, %s-1, ...: rename one of them",
                 sk__show(shown, sizeof(shown), st->name), fe->name, fe->path, fe->name,
                 fe->name);
    }
  }
}

static void free_vwf(sk__vwf_t *w) {
  for (size_t i = 0; i < w->nsteps; i++)
    free(w->steps[i].deps);
  free(w->steps);
  free(w->reach);
}

void sk__check_wfspec(sk__vctx_t *c, const char *base, json_t *spec, const char ***params,
                      size_t *nparams) {
  *params = NULL;
  *nparams = 0;
  if (!sk__want_obj(c, base, spec, k_spec_fields))
    return;
  sk__vwf_t w;
  memset(&w, 0, sizeof(w));
  snprintf(w.base, sizeof(w.base), "%s", base);
  w.spec = spec;
  w.params = check_params(c, base, spec, &w.nparams);

  const char *sa = sk__get_str(c, base, spec, "serviceAccountName", 0);
  if (sa && !sk_is_dns1123_subdomain(sa)) {
    char path[SK__PATH_MAX];
    char shown[SK__SHOW_BUF];
    sk__path_key(path, base, "serviceAccountName");
    sk__report(c, path,
               "invalid service account name \"%s\": expected a DNS-1123 subdomain (lowercase "
               "letters, digits, '-' and '.')",
               sk__show(shown, sizeof(shown), sa));
  }
  sk__get_int(c, base, spec, "activeDeadlineSeconds", 0, 1, SK_SPEC_MAX_SECONDS, NULL);
  sk__get_int(c, base, spec, "parallelism", 0, 0, SK_SPEC_MAX_PARALLELISM, NULL);
  sk__get_int(c, base, spec, "ttlSecondsAfterFinished", 0, 0, INT64_MAX, NULL);
  sk__get_enum(c, base, spec, "podGC", 0, k_pod_gc);
  sk__get_enum(c, base, spec, "shutdown", 0, k_shutdown);
  check_defaults(c, base, spec);

  json_t *steps = sk__get_list(c, base, spec, "steps", SK__REQ | SK__NONEMPTY);
  json_t *fin = sk__get_list(c, base, spec, "finally", 0);
  size_t nmain = json_array_size(steps), nfin = json_array_size(fin);
  if (nmain + nfin > SK_SPEC_MAX_STEPS) {
    char path[SK__PATH_MAX];
    sk__path_key(path, base, nmain > SK_SPEC_MAX_STEPS ? "steps" : "finally");
    sk__report(c, path,
               "a workflow may have at most %d steps, steps and finally together, got %zu; "
               "only the first %d are checked",
               SK_SPEC_MAX_STEPS, nmain + nfin, SK_SPEC_MAX_STEPS);
    if (nmain > SK_SPEC_MAX_STEPS)
      nmain = SK_SPEC_MAX_STEPS;
    nfin = SK_SPEC_MAX_STEPS - nmain < nfin ? SK_SPEC_MAX_STEPS - nmain : nfin;
  }
  if (nmain + nfin > 0) {
    w.steps = calloc(nmain + nfin, sizeof(*w.steps));
    if (!w.steps) {
      c->rc = SK_ENOMEM;
      goto done;
    }
  }
  w.nmain = nmain;
  w.nsteps = nmain + nfin;
  for (size_t i = 0; i < w.nsteps; i++) {
    sk__vstep_t *st = &w.steps[i];
    bool is_fin = i >= nmain;
    size_t k = is_fin ? i - nmain : i;
    st->is_finally = is_fin;
    char lpath[SK__PATH_MAX];
    sk__path_key(lpath, base, is_fin ? "finally" : "steps");
    char spath[SK__PATH_MAX];
    sk__path_index(spath, lpath, k);
    size_t pl = strlen(spath);
    if (pl >= sizeof(st->path))
      pl = sizeof(st->path) - 1;
    memcpy(st->path, spath, pl);
    st->path[pl] = '\0';
    check_step(c, st, json_array_get(is_fin ? fin : steps, k));
  }
  check_names(c, &w);
  if (sk__check_deps(c, &w) == 0)
    sk__check_refs(c, &w);

done:
  *params = w.params;
  *nparams = w.nparams;
  free_vwf(&w);
}
