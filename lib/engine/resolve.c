/*
 * The template resolver over a workflow status: what {{params.X}},
 * {{steps.S.outputs.N}}, {{steps.S.phase}}, {{workflow.*}} and {{item}}
 * mean while a workflow runs. Every miss is an error naming what exists,
 * never an empty string, because a silently empty argument makes a step do
 * the wrong thing instead of failing clearly.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine-int.h"
#include "spec/template.h"
#include "util/error.h"

/* Outputs named in a "(it has: ...)" list before it is cut short. */
#define HAS_LIST_MAX 400

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return rc;
}

static int append_value(sk_buf_t *out, json_t *v) {
  if (json_is_string(v))
    return sk_buf_append(out, json_string_value(v), json_string_length(v));
  char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
  if (!text)
    return SK_ENOMEM;
  int rc = sk_buf_puts(out, text);
  free(text);
  return rc;
}

static int resolve_param(const sk__resolve_t *rs, const sk_ref_t *ref, sk_buf_t *out, char *err,
                         size_t errlen) {
  const sk_workflow_t *wf = rs->p->wf;
  for (size_t i = 0; i < wf->nparams; i++) {
    const sk_param_t *pm = &wf->params[i];
    if (strlen(pm->name) == ref->alen && memcmp(pm->name, ref->a, ref->alen) == 0) {
      if (!pm->value)
        return fail(err, errlen, SK_ENOENT, "params.%s: parameter %s has no value", pm->name,
                    pm->name);
      return sk_buf_puts(out, pm->value);
    }
  }
  return fail(err, errlen, SK_ENOENT, "params.%.*s: the workflow has no parameter \"%.*s\"",
              (int)ref->alen, ref->a, (int)ref->alen, ref->a);
}

/* The record named by the len bytes at name: a step's (plain or parent)
 * record, or an instance "S-3". */
static const sk_step_status_t *find_record(const sk__plan_t *p, const char *name, size_t len) {
  const sk_wf_status_t *st = p->st;
  for (size_t i = 0; i < st->nsteps; i++) {
    const char *n = st->steps[i].name;
    if (strlen(n) == len && memcmp(n, name, len) == 0)
      return &st->steps[i];
  }
  return NULL;
}

/* Appends "(it has: a, b)", "(it has none)" or "(it is Running)" to b,
 * naming outputs until HAS_LIST_MAX bytes and then "...". */
static int describe_outputs(const sk_step_status_t *r, sk_buf_t *b) {
  if (r->phase != SK_PHASE_SUCCEEDED)
    return sk_buf_printf(b, "(it is %s)", sk_phase_name(r->phase));
  if (!r->outputs || json_object_size(r->outputs) == 0)
    return sk_buf_puts(b, "(it has none)");
  sk_buf_t names;
  sk_buf_init(&names, HAS_LIST_MAX);
  const char *k;
  json_t *v;
  bool cut = false;
  json_object_foreach(r->outputs, k, v) {
    if (sk_buf_printf(&names, "%s%s", names.len ? ", " : "", k) < 0) {
      cut = true;
      break;
    }
  }
  int rc = sk_buf_printf(b, "(it has: %s%s)", names.data ? names.data : "", cut ? ", ..." : "");
  sk_buf_release(&names);
  return rc;
}

static int no_output(const sk_ref_t *ref, const sk_step_status_t *r, char *err, size_t errlen) {
  sk_buf_t has;
  sk_buf_init(&has, HAS_LIST_MAX + 64);
  if (describe_outputs(r, &has) == SK_ENOMEM) {
    sk_buf_release(&has);
    return SK_ENOMEM;
  }
  fail(err, errlen, SK_ENOENT, "steps.%.*s.outputs.%.*s: step %s has no output \"%.*s\" %s",
       (int)ref->alen, ref->a, (int)ref->blen, ref->b, r->name, (int)ref->blen, ref->b,
       has.data ? has.data : "");
  sk_buf_release(&has);
  return SK_ENOENT;
}

static json_t *output_of(const sk_step_status_t *r, const sk_ref_t *ref) {
  if (r->phase != SK_PHASE_SUCCEEDED || !r->outputs)
    return NULL;
  char key[256];
  if (ref->blen >= sizeof(key))
    return NULL;
  memcpy(key, ref->b, ref->blen);
  key[ref->blen] = '\0';
  return json_object_get(r->outputs, key);
}

/* A fan-out parent's output: the instances' values as a compact JSON list. */
static int fanout_outputs(const sk__resolve_t *rs, const sk_ref_t *ref,
                          const sk_step_status_t *parent, sk_buf_t *out, char *err,
                          size_t errlen) {
  const sk__plan_t *p = rs->p;
  ssize_t s = sk__plan_step(p, parent->name);
  if (s < 0 || parent->instances < 0)
    return fail(err, errlen, SK_ENOENT,
                "steps.%.*s.outputs.%.*s: step %s has not expanded its forEach yet (it is %s)",
                (int)ref->alen, ref->a, (int)ref->blen, ref->b, parent->name,
                sk_phase_name(parent->phase));
  const sk__view_t *v = &p->view[s];
  json_t *list = json_array();
  if (!list)
    return SK_ENOMEM;
  int rc = 0;
  for (size_t i = 0; i < v->ninst; i++) {
    if (v->inst[i] == SIZE_MAX)
      continue;
    const sk_step_status_t *r = &p->st->steps[v->inst[i]];
    if (r->phase == SK_PHASE_SKIPPED)
      continue;
    json_t *val = output_of(r, ref);
    if (!val) {
      rc = no_output(ref, r, err, errlen);
      goto done;
    }
    if (json_array_append(list, val) < 0) {
      rc = SK_ENOMEM;
      goto done;
    }
  }
  rc = append_value(out, list);
done:
  json_decref(list);
  return rc;
}

static int resolve_output(const sk__resolve_t *rs, const sk_ref_t *ref, sk_buf_t *out, char *err,
                          size_t errlen) {
  const sk_step_status_t *r = find_record(rs->p, ref->a, ref->alen);
  if (!r)
    return fail(err, errlen, SK_ENOENT, "steps.%.*s.outputs.%.*s: there is no step \"%.*s\"",
                (int)ref->alen, ref->a, (int)ref->blen, ref->b, (int)ref->alen, ref->a);
  if (r->index < 0 && r->instances >= 0)
    return fanout_outputs(rs, ref, r, out, err, errlen);
  if (r->index < 0) {
    const sk_step_t *step = sk__plan_record_step(rs->p, r);
    if (step && step->for_each)
      return fanout_outputs(rs, ref, r, out, err, errlen);
  }
  json_t *val = output_of(r, ref);
  if (!val)
    return no_output(ref, r, err, errlen);
  return append_value(out, val);
}

static int resolve_phase(const sk__resolve_t *rs, const sk_ref_t *ref, sk_buf_t *out, char *err,
                         size_t errlen) {
  const sk_step_status_t *r = find_record(rs->p, ref->a, ref->alen);
  if (!r)
    return fail(err, errlen, SK_ENOENT, "steps.%.*s.phase: there is no step \"%.*s\"",
                (int)ref->alen, ref->a, (int)ref->alen, ref->a);
  return sk_buf_puts(out, sk_phase_name(r->phase));
}

static bool field_is(const sk_ref_t *ref, const char *name) {
  return strlen(name) == ref->alen && memcmp(ref->a, name, ref->alen) == 0;
}

static int resolve_workflow(const sk__resolve_t *rs, const sk_ref_t *ref, sk_buf_t *out,
                            char *err, size_t errlen) {
  const sk_workflow_t *wf = rs->p->wf;
  const char *v = NULL;
  if (field_is(ref, "phase")) {
    if (rs->step && rs->step->is_finally && rs->p->st->steps_phase != SK_PHASE_PENDING)
      v = sk_phase_name(rs->p->st->steps_phase);
    else
      v = sk_phase_name(SK_PHASE_RUNNING);
  } else if (field_is(ref, "name")) {
    v = wf->name;
  } else if (field_is(ref, "namespace")) {
    v = wf->ns;
  } else if (field_is(ref, "uid")) {
    v = wf->uid;
  } else {
    return fail(err, errlen, SK_ENOENT, "workflow.%.*s: unknown workflow field", (int)ref->alen,
                ref->a);
  }
  if (!v)
    return fail(err, errlen, SK_ENOENT, "workflow.%.*s: the workflow has no %.*s yet",
                (int)ref->alen, ref->a, (int)ref->alen, ref->a);
  return sk_buf_puts(out, v);
}

static int resolve_item(const sk__resolve_t *rs, const sk_ref_t *ref, sk_buf_t *out, char *err,
                        size_t errlen) {
  const sk_step_status_t *r = rs->rec;
  if (!r || r->index < 0 || !r->item)
    return fail(err, errlen, SK_ENOENT,
                "item%s%.*s: {{item}} is only defined in the instances of a forEach step",
                ref->alen ? "." : "", (int)ref->alen, ref->a);
  json_error_t jerr;
  json_t *item = json_loads(r->item, JSON_DECODE_ANY, &jerr);
  if (!item)
    return fail(err, errlen, SK_EINVAL, "item: the stored item is not JSON: %s", jerr.text);
  json_t *v = item;
  const char *k = ref->a;
  size_t left = ref->alen;
  int rc = 0;
  while (left > 0) {
    const char *dot = memchr(k, '.', left);
    size_t kl = dot ? (size_t)(dot - k) : left;
    char key[256];
    if (!json_is_object(v)) {
      rc = fail(err, errlen, SK_ENOENT, "item.%.*s: the item has no field \"%.*s\" (%s)",
                (int)ref->alen, ref->a, (int)kl, k,
                v == item ? "it is not an object" : "its parent is not an object");
      goto done;
    }
    if (kl >= sizeof(key)) {
      rc = fail(err, errlen, SK_ENOENT, "item.%.*s: key too long", (int)ref->alen, ref->a);
      goto done;
    }
    memcpy(key, k, kl);
    key[kl] = '\0';
    json_t *next = json_object_get(v, key);
    if (!next) {
      rc = fail(err, errlen, SK_ENOENT, "item.%.*s: the item has no field \"%s\"",
                (int)ref->alen, ref->a, key);
      goto done;
    }
    v = next;
    k += kl;
    left -= kl;
    if (left > 0) {
      k++;
      left--;
    }
  }
  rc = append_value(out, v);
done:
  json_decref(item);
  return rc;
}

int sk__resolve(void *ud, const sk_ref_t *ref, sk_buf_t *out, char *err, size_t errlen) {
  const sk__resolve_t *rs = ud;
  int rc;
  switch (ref->kind) {
  case SK_REF_PARAM:
    rc = resolve_param(rs, ref, out, err, errlen);
    break;
  case SK_REF_STEP_OUTPUT:
    rc = resolve_output(rs, ref, out, err, errlen);
    break;
  case SK_REF_STEP_PHASE:
    rc = resolve_phase(rs, ref, out, err, errlen);
    break;
  case SK_REF_WORKFLOW:
    rc = resolve_workflow(rs, ref, out, err, errlen);
    break;
  case SK_REF_ITEM:
    rc = resolve_item(rs, ref, out, err, errlen);
    break;
  default:
    rc = fail(err, errlen, SK_EINVAL, "unknown reference kind");
    break;
  }
  if (rc == SK_ETOOBIG)
    fail(err, errlen, rc, "expanded text is longer than %zu bytes", out->max);
  return rc;
}
