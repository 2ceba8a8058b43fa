/*
 * forEach: expanding a ready fan-out step into instances, and the parent
 * record's phase as the aggregate of its instances.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine-int.h"
#include "spec/template.h"
#include "util/error.h"

/* A forEach string after templating may not pass this: SK_SPEC_MAX_FOREACH
 * items of a few KiB each is already far more than a status should hold. */
#define FOREACH_MAX_TEXT (4u << 20)

static const char *type_name(json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    return "an object";
  case JSON_ARRAY:
    return "a list";
  case JSON_STRING:
    return "a string";
  case JSON_INTEGER:
  case JSON_REAL:
    return "a number";
  case JSON_TRUE:
  case JSON_FALSE:
    return "a boolean";
  default:
    return "null";
  }
}

/* Fails the parent of spec step s with msg (nothing has started). */
static int fail_parent(sk__plan_t *p, size_t s, const char *msg) {
  return sk__plan_set_phase(p, &p->st->steps[p->view[s].rec], SK_PHASE_FAILED, msg);
}

/* The forEach value as a list (new reference), or NULL with *rc = 0 after
 * failing the parent, or NULL with *rc < 0 on a resource error. */
static json_t *items_of(sk__plan_t *p, size_t s, int *rc) {
  const sk_step_t *step = &p->wf->steps[s];
  char msg[SK__MSG_MAX];
  *rc = 0;
  if (json_is_array(step->for_each))
    return json_incref(step->for_each);
  if (!json_is_string(step->for_each)) {
    *rc = fail_parent(p, s, "forEach must be a list or a string holding a JSON list");
    return NULL;
  }
  sk__resolve_t rs = {p, step, &p->st->steps[p->view[s].rec]};
  sk_buf_t b;
  sk_buf_init(&b, FOREACH_MAX_TEXT);
  char err[SK__MSG_MAX - 64];
  err[0] = '\0';
  int r = sk_tmpl_expand(json_string_value(step->for_each), sk__resolve, &rs, &b, err,
                         sizeof(err));
  if (r == SK_ENOMEM) {
    sk_buf_release(&b);
    *rc = r;
    return NULL;
  }
  if (r < 0) {
    snprintf(msg, sizeof(msg), "forEach: %s", err);
    sk_buf_release(&b);
    *rc = fail_parent(p, s, msg);
    return NULL;
  }
  json_error_t jerr;
  json_t *list = json_loadb(b.data ? b.data : "", b.len, JSON_DECODE_ANY, &jerr);
  if (!list) {
    snprintf(msg, sizeof(msg), "forEach is not valid JSON: %s (in \"%.80s%s\")", jerr.text,
             b.data ? b.data : "", b.len > 80 ? "..." : "");
    sk_buf_release(&b);
    *rc = fail_parent(p, s, msg);
    return NULL;
  }
  sk_buf_release(&b);
  return list;
}

int sk__fanout_expand(sk__plan_t *p, size_t s) {
  const sk_step_t *step = &p->wf->steps[s];
  int rc;
  json_t *list = items_of(p, s, &rc);
  if (!list)
    return rc;
  char msg[SK__MSG_MAX];
  size_t n = json_array_size(list);
  size_t pos = p->view[s].rec;
  sk_step_status_t *parent = &p->st->steps[pos];
  if (!json_is_array(list)) {
    snprintf(msg, sizeof(msg), "forEach gave %s, not a list", type_name(list));
    rc = sk__plan_set_phase(p, parent, SK_PHASE_FAILED, msg);
    goto done;
  }
  if (n > SK_SPEC_MAX_FOREACH) {
    snprintf(msg, sizeof(msg), "forEach gave %zu items, over the limit of %d", n,
             SK_SPEC_MAX_FOREACH);
    rc = sk__plan_set_phase(p, parent, SK_PHASE_FAILED, msg);
    goto done;
  }
  /* The validator rejects these in a literal list; a list computed at run
   * time gets the same rule, since a list or null has no sensible {{item}}. */
  for (size_t i = 0; i < n; i++) {
    json_t *v = json_array_get(list, i);
    if (json_is_array(v) || json_is_null(v)) {
      snprintf(msg, sizeof(msg),
               "forEach item %zu is %s: items must be strings, numbers, booleans or objects", i,
               type_name(v));
      rc = sk__plan_set_phase(p, parent, SK_PHASE_FAILED, msg);
      goto done;
    }
  }
  parent->instances = (int)n;
  parent->started_at_ms = p->now;
  if (n == 0) {
    rc = sk__plan_set_phase(p, parent, SK_PHASE_SUCCEEDED, "forEach gave no items");
    goto done;
  }
  rc = sk__plan_set_phase(p, parent, SK_PHASE_RUNNING, NULL);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    char name[128];
    snprintf(name, sizeof(name), "%s-%zu", step->name, i);
    rc = sk__record_insert(p->st, pos + 1 + i, name, step->name, (int)i);
    if (rc < 0)
      break;
    sk_step_status_t *r = &p->st->steps[pos + 1 + i];
    r->item = json_dumps(json_array_get(list, i), JSON_COMPACT | JSON_ENCODE_ANY);
    if (!r->item)
      rc = SK_ENOMEM;
  }
  /* Records moved: every index into them is stale until the view is rebuilt. */
  if (rc == 0)
    rc = sk__plan_view(p);
done:
  json_decref(list);
  return rc;
}

int sk__fanout_aggregate(sk__plan_t *p, size_t s, bool *progress) {
  const sk__view_t *v = &p->view[s];
  sk_step_status_t *parent = &p->st->steps[v->rec];
  size_t n = 0, nfinal = 0, nfailed = 0, ncancelled = 0, nskipped = 0;
  const sk_step_status_t *first_failed = NULL;
  for (size_t i = 0; i < v->ninst; i++) {
    if (v->inst[i] == SIZE_MAX)
      continue;
    const sk_step_status_t *r = &p->st->steps[v->inst[i]];
    n++;
    if (!sk_phase_is_final(r->phase))
      continue;
    nfinal++;
    if (r->phase == SK_PHASE_FAILED) {
      if (!first_failed)
        first_failed = r;
      nfailed++;
    } else if (r->phase == SK_PHASE_CANCELLED) {
      ncancelled++;
    } else if (r->phase == SK_PHASE_SKIPPED) {
      nskipped++;
    }
  }
  sk_phase_t to;
  char msg[SK__MSG_MAX];
  msg[0] = '\0';
  if (nfinal < n) {
    to = SK_PHASE_RUNNING;
  } else if (nfailed) {
    to = SK_PHASE_FAILED;
    snprintf(msg, sizeof(msg), "%zu of %zu instances failed; first %s: %s", nfailed, n,
             first_failed->name, first_failed->message ? first_failed->message : "failed");
  } else if (ncancelled) {
    to = SK_PHASE_CANCELLED;
  } else if (n > 0 && nskipped == n) {
    to = SK_PHASE_SKIPPED;
    snprintf(msg, sizeof(msg), "all %zu instances were skipped", n);
  } else {
    to = SK_PHASE_SUCCEEDED;
  }
  if (to == parent->phase)
    return 0;
  *progress = true;
  if (to == SK_PHASE_RUNNING && !parent->started_at_ms)
    parent->started_at_ms = p->now;
  return sk__plan_set_phase(p, parent, to, msg);
}
