/*
 * Template references: every string of a step (its kind body at any depth,
 * its forEach string, its when expression) is scanned for placeholders,
 * and each reference must resolve at run time: a declared param, a step
 * the referring step waits for, {{item}} only where there is an item.
 * Catching these here turns a run that would fail an hour in (after the
 * training step) into an error before it starts.
 */
#include <stdlib.h>
#include <string.h>

#include "spec/expr.h"
#include "spec/spec-int.h"
#include "spec/template.h"
#include "util/error.h"

/* References already reported in one string, so that a placeholder
 * repeated in it is reported once. */
#define SEEN_MAX 32

typedef struct {
  sk__vctx_t *c;
  const sk__vwf_t *w;
  size_t step;
  bool item_ok;          /* the step has forEach and this is not the forEach itself */
  bool in_for_each;      /* scanning the forEach string */
  const char *path;      /* the string's path */
  sk_ref_t seen[SEEN_MAX];
  size_t nseen;
  /* The walk over a body: the current path, and room to build a child's. */
  char walk_path[SK__PATH_MAX];
  char tmp[SK__PATH_MAX];
  bool too_deep;
} rctx_t;

static bool same_part(const char *a, size_t alen, const char *b, size_t blen) {
  return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static bool already_seen(rctx_t *r, const sk_ref_t *ref) {
  for (size_t i = 0; i < r->nseen; i++) {
    const sk_ref_t *s = &r->seen[i];
    if (s->kind == ref->kind && same_part(s->a, s->alen, ref->a, ref->alen) &&
        same_part(s->b, s->blen, ref->b, ref->blen))
      return true;
  }
  if (r->nseen < SEEN_MAX)
    r->seen[r->nseen++] = *ref;
  return false;
}

static const char *step_name(const rctx_t *r) {
  const char *n = json_string_value(json_object_get(r->w->steps[r->step].obj, "name"));
  return n ? n : "(unnamed)";
}

static void check_param(rctx_t *r, const sk_ref_t *ref) {
  const sk__vwf_t *w = r->w;
  for (size_t i = 0; i < w->nparams; i++) {
    const char *p = w->params[i];
    if (p && strlen(p) == ref->alen && memcmp(p, ref->a, ref->alen) == 0)
      return;
  }
  char name[SK__SHOW_BUF];
  snprintf(name, sizeof(name), "%.*s", ref->alen > 80 ? 80 : (int)ref->alen, ref->a);
  const char *sug = sk__suggest_name(r->c, name, w->params, w->nparams);
  if (sug)
    sk__report(r->c, r->path, "unknown param \"%s\" (did you mean \"%s\"?)", name, sug);
  else if (w->nparams == 0)
    sk__report(r->c, r->path, "unknown param \"%s\": the workflow declares no params (%s.params)",
               name, w->base);
  else
    sk__report(r->c, r->path, "unknown param \"%s\": declare it in %s.params", name, w->base);
}

/* The step a steps.S reference names: S itself, or the forEach step whose
 * instance S is ("train-2"). -1 when there is none. */
static long find_target(const sk__vwf_t *w, const char *s, size_t n) {
  long j = sk__vwf_find(w, s, n);
  if (j >= 0)
    return j;
  size_t k = n;
  while (k > 0 && s[k - 1] >= '0' && s[k - 1] <= '9')
    k--;
  if (k == n || k < 2 || s[k - 1] != '-')
    return -1;
  j = sk__vwf_find(w, s, k - 1);
  return (j >= 0 && w->steps[j].for_each) ? j : -1;
}

static void check_step_ref(rctx_t *r, const sk_ref_t *ref) {
  const sk__vwf_t *w = r->w;
  bool outputs = ref->kind == SK_REF_STEP_OUTPUT;
  const char *what = outputs ? "outputs" : "the phase";
  char name[SK__SHOW_BUF];
  snprintf(name, sizeof(name), "%.*s", ref->alen > 80 ? 80 : (int)ref->alen, ref->a);
  long j = find_target(w, ref->a, ref->alen);
  if (j < 0) {
    const char **names = malloc((w->nsteps ? w->nsteps : 1) * sizeof(*names));
    const char *sug = NULL;
    if (names) {
      for (size_t i = 0; i < w->nsteps; i++)
        names[i] = w->steps[i].name;
      sug = sk__suggest_name(r->c, name, names, w->nsteps);
    }
    if (sug)
      sk__report(r->c, r->path, "unknown step \"%s\" (did you mean \"%s\"?)", name, sug);
    else
      sk__report(r->c, r->path, "unknown step \"%s\"", name);
    free(names);
    return;
  }
  const sk__vstep_t *cur = &w->steps[r->step];
  const sk__vstep_t *dep = &w->steps[j];
  if ((size_t)j == r->step) {
    sk__report(r->c, r->path, "step %s cannot use its own %s", step_name(r),
               outputs ? "outputs" : "phase");
    return;
  }
  if (!cur->is_finally && dep->is_finally) {
    sk__report(r->c, r->path,
               "step %s cannot use %s of finally step %s: finally steps run only after every "
               "main step has ended",
               step_name(r), what, dep->name);
    return;
  }
  if (cur->is_finally && !dep->is_finally)
    return;
  if (!sk__reaches(w, r->step, (size_t)j))
    sk__report(r->c, r->path,
               "step %s uses %s of %s but does not depend on it, directly or through other "
               "steps: add it to dependsOn",
               step_name(r), what, dep->name);
}

static int visit(void *ud, const sk_ref_t *ref, size_t offset) {
  rctx_t *r = ud;
  (void)offset;
  if (already_seen(r, ref))
    return 0;
  switch (ref->kind) {
  case SK_REF_PARAM:
    check_param(r, ref);
    break;
  case SK_REF_STEP_OUTPUT:
  case SK_REF_STEP_PHASE:
    check_step_ref(r, ref);
    break;
  case SK_REF_WORKFLOW:
    break;
  case SK_REF_ITEM: {
    char shown[SK__SHOW_BUF];
    snprintf(shown, sizeof(shown), "item%s%.*s", ref->alen ? "." : "",
             ref->alen > 60 ? 60 : (int)ref->alen, ref->a);
    if (r->in_for_each)
      sk__report(r->c, r->path,
                 "{{%s}} cannot be used in forEach itself: item stands for each of the items "
                 "forEach gives",
                 shown);
    else if (!r->item_ok)
      sk__report(r->c, r->path,
                 "{{%s}} is only defined in a step with forEach, and step %s has none", shown,
                 step_name(r));
    break;
  }
  }
  return 0;
}

static void scan_string(rctx_t *r, const char *path, const char *s) {
  if (!strstr(s, "{{"))
    return;
  r->path = path;
  r->nseen = 0;
  char err[512] = "";
  int rc = sk_tmpl_scan(s, visit, r, err, sizeof(err), NULL);
  if (rc == SK_EPARSE)
    sk__report(r->c, path, "%s", err);
  else if (rc == SK_ENOMEM)
    r->c->rc = rc;
}

static void walk(rctx_t *r, json_t *v, int depth) {
  if (json_is_string(v)) {
    scan_string(r, r->walk_path, json_string_value(v));
    return;
  }
  if (!json_is_object(v) && !json_is_array(v))
    return;
  if (depth >= SK__MAX_WALK_DEPTH) {
    if (!r->too_deep)
      sk__report(r->c, r->walk_path, "nested deeper than %d levels", SK__MAX_WALK_DEPTH);
    r->too_deep = true;
    return;
  }
  size_t len = strlen(r->walk_path);
  if (json_is_object(v)) {
    const char *key;
    json_t *m;
    json_object_foreach(v, key, m) {
      sk__path_key(r->tmp, r->walk_path, key);
      memcpy(r->walk_path, r->tmp, strlen(r->tmp) + 1);
      walk(r, m, depth + 1);
      r->walk_path[len] = '\0';
    }
  } else {
    size_t i;
    json_t *m;
    json_array_foreach(v, i, m) {
      sk__path_index(r->tmp, r->walk_path, i);
      memcpy(r->walk_path, r->tmp, strlen(r->tmp) + 1);
      walk(r, m, depth + 1);
      r->walk_path[len] = '\0';
    }
  }
}

static void check_when_refs(rctx_t *r, json_t *step, const char *spath) {
  const char *when = json_string_value(json_object_get(step, "when"));
  if (!when)
    return;
  sk_expr_t *e = NULL;
  /* A when that does not parse was reported by the step check. */
  if (sk_expr_parse(when, &e, NULL, 0, NULL) != 0)
    return;
  char path[SK__PATH_MAX];
  sk__path_key(path, spath, "when");
  r->path = path;
  r->nseen = 0;
  sk_expr_visit_refs(e, visit, r);
  sk_expr_destroy(e);
}

static void check_step(rctx_t *r, size_t i) {
  static const char *const kinds[] = {"pod", "vertex", "sagemaker", "resource", "rollout"};
  const sk__vstep_t *st = &r->w->steps[i];
  r->step = i;
  r->item_ok = st->for_each;
  r->in_for_each = false;
  for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
    json_t *body = json_object_get(st->obj, kinds[k]);
    if (!body)
      continue;
    sk__path_key(r->walk_path, st->path, kinds[k]);
    r->too_deep = false;
    walk(r, body, 0);
  }
  json_t *fe = json_object_get(st->obj, "forEach");
  if (json_is_string(fe)) {
    char path[SK__PATH_MAX];
    sk__path_key(path, st->path, "forEach");
    r->in_for_each = true;
    scan_string(r, path, json_string_value(fe));
    r->in_for_each = false;
  }
  check_when_refs(r, st->obj, st->path);
}

void sk__check_refs(sk__vctx_t *c, const sk__vwf_t *w) {
  rctx_t *r = calloc(1, sizeof(*r));
  if (!r) {
    c->rc = SK_ENOMEM;
    return;
  }
  r->c = c;
  r->w = w;
  for (size_t i = 0; i < w->nsteps; i++) {
    if (w->steps[i].obj)
      check_step(r, i);
  }
  free(r);
}
