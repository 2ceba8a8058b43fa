/*
 * sk_engine_plan: one reconcile pass over a workflow's status. The rules
 * are written out in engine.h; this file is their order of application:
 *
 *   records → observations → shutdown → deadline → timeouts →
 *   (settle to a fixed point → start) until nothing changes → wake time.
 *
 * "Settle" makes every decision that needs no free slot (skips, `when`,
 * forEach expansion, fan-out aggregates, the end of the main steps and of
 * the workflow); "start" then hands out slots in spec order. A start can
 * fail (a template that does not resolve), which can skip dependents, so
 * the two alternate until neither changes anything.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine-int.h"
#include "spec/expr.h"
#include "spec/template.h"
#include "util/buf.h"
#include "util/error.h"

/* ---- output ---- */

void sk_engine_out_init(sk_engine_out_t *out) { memset(out, 0, sizeof(*out)); }

void sk_engine_out_release(sk_engine_out_t *out) {
  if (!out)
    return;
  for (size_t i = 0; i < out->nactions; i++) {
    free(out->actions[i].instance);
    free(out->actions[i].reason);
    json_decref(out->actions[i].body);
    json_decref(out->actions[i].prev_ref);
  }
  free(out->actions);
  for (size_t i = 0; i < out->ntransitions; i++) {
    free(out->transitions[i].instance);
    free(out->transitions[i].message);
  }
  free(out->transitions);
  memset(out, 0, sizeof(*out));
}

/* Appends an action; takes body (even on failure). */
static int push_action(sk__plan_t *p, sk_action_kind_t kind, const sk_step_status_t *r,
                       json_t *body, const char *reason) {
  sk_engine_out_t *out = p->out;
  if (sk_array_grow((void **)&out->actions, &out->actions_cap, out->nactions,
                    sizeof(sk_action_t)) < 0) {
    json_decref(body);
    return SK_ENOMEM;
  }
  sk_action_t *a = &out->actions[out->nactions];
  memset(a, 0, sizeof(*a));
  a->kind = kind;
  a->attempt = r->attempt;
  a->step = sk__plan_record_step(p, r);
  a->body = body;
  a->instance = strdup(r->name);
  a->reason = reason ? strdup(reason) : NULL;
  if (!a->instance || (reason && !a->reason)) {
    free(a->instance);
    free(a->reason);
    json_decref(body);
    return SK_ENOMEM;
  }
  out->nactions++;
  return 0;
}

int sk__plan_kill(sk__plan_t *p, sk_step_status_t *r, const char *reason) {
  return push_action(p, SK_ACT_KILL, r, NULL, reason);
}

int sk__plan_set_phase(sk__plan_t *p, sk_step_status_t *r, sk_phase_t to, const char *msg) {
  int rc = sk__set_message(&r->message, msg);
  if (rc < 0)
    return rc;
  if (sk_phase_is_final(to)) {
    if (!r->finished_at_ms)
      r->finished_at_ms = p->now;
    r->retry_at_ms = 0;
    r->next_poll_at_ms = 0;
  }
  if (r->phase == to)
    return 0;
  sk_engine_out_t *out = p->out;
  if (sk_array_grow((void **)&out->transitions, &out->transitions_cap, out->ntransitions,
           sizeof(sk_transition_t)) < 0)
    return SK_ENOMEM;
  sk_transition_t *t = &out->transitions[out->ntransitions];
  t->instance = strdup(r->name);
  t->message = r->message ? strdup(r->message) : NULL;
  if (!t->instance || (r->message && !t->message)) {
    free(t->instance);
    free(t->message);
    return SK_ENOMEM;
  }
  t->from = r->phase;
  t->to = to;
  out->ntransitions++;
  r->phase = to;
  return 0;
}

/* ---- the view: where each spec step's records are ---- */

static int cmp_name(const void *a, const void *b) {
  return strcmp(((const sk__name_idx_t *)a)->name, ((const sk__name_idx_t *)b)->name);
}

ssize_t sk__plan_step(const sk__plan_t *p, const char *name) {
  if (!name)
    return -1;
  sk__name_idx_t key = {name, 0};
  const sk__name_idx_t *hit =
      bsearch(&key, p->by_name, p->wf->nsteps, sizeof(key), cmp_name);
  return hit ? (ssize_t)hit->idx : -1;
}

const sk_step_t *sk__plan_record_step(const sk__plan_t *p, const sk_step_status_t *r) {
  ssize_t s = sk__plan_step(p, r->step ? r->step : r->name);
  return s < 0 ? NULL : &p->wf->steps[s];
}

static void view_clear(sk__plan_t *p) {
  for (size_t s = 0; s < p->wf->nsteps; s++) {
    free(p->view[s].inst);
    p->view[s].inst = NULL;
    p->view[s].ninst = 0;
    p->view[s].rec = SIZE_MAX;
  }
}

int sk__plan_view(sk__plan_t *p) {
  const sk_wf_status_t *st = p->st;
  view_clear(p);
  for (size_t i = 0; i < st->nsteps; i++) {
    const sk_step_status_t *r = &st->steps[i];
    if (r->index >= 0)
      continue;
    ssize_t s = sk__plan_step(p, r->name);
    if (s >= 0 && p->view[s].rec == SIZE_MAX)
      p->view[s].rec = i;
  }
  for (size_t s = 0; s < p->wf->nsteps; s++) {
    sk__view_t *v = &p->view[s];
    if (v->rec == SIZE_MAX || !p->wf->steps[s].for_each || st->steps[v->rec].instances <= 0)
      continue;
    v->ninst = (size_t)st->steps[v->rec].instances;
    v->inst = malloc(v->ninst * sizeof(size_t));
    if (!v->inst)
      return SK_ENOMEM;
    for (size_t k = 0; k < v->ninst; k++)
      v->inst[k] = SIZE_MAX;
  }
  for (size_t i = 0; i < st->nsteps; i++) {
    const sk_step_status_t *r = &st->steps[i];
    if (r->index < 0)
      continue;
    ssize_t s = sk__plan_step(p, r->step);
    if (s < 0)
      continue;
    sk__view_t *v = &p->view[s];
    if ((size_t)r->index < v->ninst && v->inst[r->index] == SIZE_MAX)
      v->inst[r->index] = i;
  }
  return 0;
}

static sk_step_status_t *rec_of(const sk__plan_t *p, size_t s) {
  size_t i = p->view[s].rec;
  return i == SIZE_MAX ? NULL : &p->st->steps[i];
}

static bool is_expanded(const sk__plan_t *p, size_t s) {
  const sk_step_status_t *r = rec_of(p, s);
  return p->wf->steps[s].for_each && r && r->instances >= 0;
}

/* Calls fn on every record of spec step s: the instances, then the plain
 * or parent record. */
typedef int (*rec_fn)(sk__plan_t *p, size_t s, sk_step_status_t *r);

static int each_record(sk__plan_t *p, size_t s, rec_fn fn) {
  const sk__view_t *v = &p->view[s];
  for (size_t k = 0; k < v->ninst; k++) {
    if (v->inst[k] == SIZE_MAX)
      continue;
    int rc = fn(p, s, &p->st->steps[v->inst[k]]);
    if (rc < 0)
      return rc;
  }
  sk_step_status_t *r = rec_of(p, s);
  return r ? fn(p, s, r) : 0;
}

/* Adds a Pending record for every spec step that has none (a fresh status,
 * or a spec that gained steps). */
static int ensure_records(sk__plan_t *p) {
  bool added = false;
  for (size_t s = 0; s < p->wf->nsteps; s++) {
    if (p->view[s].rec != SIZE_MAX)
      continue;
    int rc = sk__record_insert(p->st, p->st->nsteps, p->wf->steps[s].name, NULL, -1);
    if (rc < 0)
      return rc;
    added = true;
  }
  return added ? sk__plan_view(p) : 0;
}

/* True when every leaf of spec steps [from, to) is final. An expanded
 * fan-out is judged by its instances, since its own phase is brought up to
 * date only when the plan settles. */
static bool all_final(const sk__plan_t *p, size_t from, size_t to) {
  for (size_t s = from; s < to; s++) {
    const sk_step_status_t *r = rec_of(p, s);
    if (!r)
      continue;
    if (!is_expanded(p, s)) {
      if (!sk_phase_is_final(r->phase))
        return false;
      continue;
    }
    const sk__view_t *v = &p->view[s];
    for (size_t k = 0; k < v->ninst; k++) {
      if (v->inst[k] != SIZE_MAX && !sk_phase_is_final(p->st->steps[v->inst[k]].phase))
        return false;
    }
  }
  return true;
}

/* ---- shutdown and deadline ---- */

static sk_shutdown_t effective_shutdown(const sk_workflow_t *wf, const sk_engine_ctx_t *ctx) {
  sk_shutdown_t s = ctx->shutdown;
  if (wf->shutdown && strcmp(wf->shutdown, "Terminate") == 0)
    s = SK_SHUTDOWN_TERMINATE;
  else if (wf->shutdown && strcmp(wf->shutdown, "Stop") == 0 && s == SK_SHUTDOWN_NONE)
    s = SK_SHUTDOWN_STOP;
  return s;
}

static int cancel_record(sk__plan_t *p, size_t s, sk_step_status_t *r) {
  if (sk_phase_is_final(r->phase))
    return 0;
  const char *why = p->terminated ? "workflow terminated" : "workflow stopped";
  if (r->phase == SK_PHASE_RUNNING && sk__record_is_leaf(r)) {
    int rc = sk__plan_kill(p, r, why);
    if (rc < 0)
      return rc;
  }
  return sk__plan_set_phase(p, r, SK_PHASE_CANCELLED, why);
}

static int apply_shutdown(sk__plan_t *p) {
  if (p->shutdown == SK_SHUTDOWN_TERMINATE) {
    p->terminated = true;
    for (size_t s = 0; s < p->wf->nsteps; s++) {
      int rc = each_record(p, s, cancel_record);
      if (rc < 0)
        return rc;
    }
    return 0;
  }
  /* A Stop after the main steps ended (perhaps through this plan's
   * observations) has nothing left to stop: finally steps always run to
   * the end. */
  if (p->shutdown != SK_SHUTDOWN_STOP || p->st->steps_phase != SK_PHASE_PENDING ||
      all_final(p, 0, p->wf->nmain))
    return 0;
  p->stopped = true;
  for (size_t s = 0; s < p->wf->nmain; s++) {
    int rc = each_record(p, s, cancel_record);
    if (rc < 0)
      return rc;
  }
  return 0;
}

static int deadline_record(sk__plan_t *p, size_t s, sk_step_status_t *r) {
  if (sk_phase_is_final(r->phase) || !sk__record_is_leaf(r))
    return 0;
  char why[96];
  snprintf(why, sizeof(why), "workflow deadline of %llds exceeded",
           (long long)p->wf->active_deadline_seconds);
  if (r->phase == SK_PHASE_RUNNING) {
    int rc = sk__plan_kill(p, r, why);
    if (rc < 0)
      return rc;
    return sk__plan_set_phase(p, r, SK_PHASE_FAILED, why);
  }
  return sk__plan_set_phase(p, r, SK_PHASE_SKIPPED, why);
}

static int apply_deadline(sk__plan_t *p) {
  const sk_wf_status_t *st = p->st;
  int64_t ads = p->wf->active_deadline_seconds;
  /* Main steps that all ended before this plan looked (their reports are
   * in its observations) beat the deadline. */
  if (ads <= 0 || st->steps_phase != SK_PHASE_PENDING ||
      p->now < st->started_at_ms + ads * 1000 || all_final(p, 0, p->wf->nmain))
    return 0;
  p->deadline_fired = true;
  for (size_t s = 0; s < p->wf->nmain; s++) {
    int rc = each_record(p, s, deadline_record);
    if (rc < 0)
      return rc;
  }
  return 0;
}

/* ---- settle: decisions that need no slot ---- */

/* Evaluates the `when` of a ready leaf before its first attempt; a false
 * or failing one ends the record. */
static int check_when(sk__plan_t *p, size_t s, sk_step_status_t *r, bool *progress) {
  const sk_step_t *step = &p->wf->steps[s];
  if (!step->when || r->phase != SK_PHASE_PENDING || r->attempt > 0)
    return 0;
  char err[SK__MSG_MAX - 64], msg[SK__MSG_MAX];
  sk_expr_t *e = NULL;
  size_t off = 0;
  int rc = sk_expr_parse(step->when, &e, err, sizeof(err), &off);
  if (rc == SK_ENOMEM)
    return rc;
  if (rc < 0) {
    snprintf(msg, sizeof(msg), "when: %s (at byte %zu)", err, off);
    *progress = true;
    return sk__plan_set_phase(p, r, SK_PHASE_FAILED, msg);
  }
  sk__resolve_t rs = {p, step, r};
  bool ok = false;
  err[0] = '\0';
  rc = sk_expr_eval(e, sk__resolve, &rs, &ok, err, sizeof(err));
  sk_expr_destroy(e);
  if (rc == SK_ENOMEM)
    return rc;
  if (rc < 0) {
    snprintf(msg, sizeof(msg), "when: %s", err[0] ? err : "cannot be evaluated");
    *progress = true;
    return sk__plan_set_phase(p, r, SK_PHASE_FAILED, msg);
  }
  if (ok)
    return 0;
  /* The message shows the expression with its values filled in, so a
   * reader sees why it was false; expansion is for the message only. */
  sk_buf_t b;
  sk_buf_init(&b, SK_STATUS_MAX_MESSAGE);
  rc = sk_tmpl_expand(step->when, sk__resolve, &rs, &b, err, sizeof(err));
  snprintf(msg, sizeof(msg), "when was false: %s", rc == 0 && b.data ? b.data : step->when);
  sk_buf_release(&b);
  *progress = true;
  return sk__plan_set_phase(p, r, SK_PHASE_SKIPPED, msg);
}

typedef enum { DEPS_WAIT, DEPS_READY, DEPS_BROKEN } deps_t;

/* Whether step s's dependencies let it run; for DEPS_BROKEN, *why names
 * the first dependency that ended without success. */
static deps_t deps_state(const sk__plan_t *p, size_t s, char *why, size_t whylen) {
  const sk_step_t *step = &p->wf->steps[s];
  deps_t state = DEPS_READY;
  for (size_t d = 0; d < step->ndeps; d++) {
    const sk_step_status_t *dr = rec_of(p, step->dep_index[d]);
    if (!dr || !sk_phase_is_final(dr->phase)) {
      state = DEPS_WAIT;
      continue;
    }
    if (dr->phase != SK_PHASE_SUCCEEDED) {
      snprintf(why, whylen, "dependency %s is %s", dr->name, sk_phase_name(dr->phase));
      return DEPS_BROKEN;
    }
  }
  return state;
}

static bool finally_open(const sk__plan_t *p) {
  return p->st->steps_phase != SK_PHASE_PENDING && !p->terminated;
}

static int settle_step(sk__plan_t *p, size_t s, bool *progress) {
  sk_step_status_t *r = rec_of(p, s);
  if (!r || sk_phase_is_final(r->phase))
    return 0;
  if (is_expanded(p, s)) {
    const sk__view_t *v = &p->view[s];
    for (size_t k = 0; k < v->ninst; k++) {
      if (v->inst[k] == SIZE_MAX)
        continue;
      int rc = check_when(p, s, &p->st->steps[v->inst[k]], progress);
      if (rc < 0)
        return rc;
    }
    return sk__fanout_aggregate(p, s, progress);
  }
  if (r->phase != SK_PHASE_PENDING)
    return 0;
  char why[256];
  switch (deps_state(p, s, why, sizeof(why))) {
  case DEPS_WAIT:
    return 0;
  case DEPS_BROKEN:
    *progress = true;
    return sk__plan_set_phase(p, r, SK_PHASE_SKIPPED, why);
  case DEPS_READY:
    break;
  }
  if (p->wf->steps[s].for_each) {
    *progress = true;
    return sk__fanout_expand(p, s);
  }
  return check_when(p, s, r, progress);
}

/* The first Failed leaf among spec steps [from, to), or NULL. */
static const sk_step_status_t *first_failed(const sk__plan_t *p, size_t from, size_t to) {
  for (size_t s = from; s < to; s++) {
    const sk_step_status_t *r = rec_of(p, s);
    if (!r)
      continue;
    if (!is_expanded(p, s)) {
      if (r->phase == SK_PHASE_FAILED)
        return r;
      continue;
    }
    const sk__view_t *v = &p->view[s];
    for (size_t k = 0; k < v->ninst; k++) {
      if (v->inst[k] != SIZE_MAX && p->st->steps[v->inst[k]].phase == SK_PHASE_FAILED)
        return &p->st->steps[v->inst[k]];
    }
  }
  return NULL;
}

static bool any_phase(const sk__plan_t *p, size_t from, size_t to, sk_phase_t ph) {
  for (size_t s = from; s < to; s++) {
    const sk_step_status_t *r = rec_of(p, s);
    if (r && r->phase == ph)
      return true;
  }
  return false;
}

/* Fixes the main phase once every main record is final. */
static int end_main(sk__plan_t *p, bool *progress) {
  sk_wf_status_t *st = p->st;
  if (st->steps_phase != SK_PHASE_PENDING || !all_final(p, 0, p->wf->nmain))
    return 0;
  char msg[SK__MSG_MAX];
  msg[0] = '\0';
  const sk_step_status_t *failed = first_failed(p, 0, p->wf->nmain);
  if (p->terminated) {
    st->steps_phase = SK_PHASE_CANCELLED;
    snprintf(msg, sizeof(msg), "terminated");
  } else if (p->deadline_fired) {
    st->steps_phase = SK_PHASE_FAILED;
    snprintf(msg, sizeof(msg), "activeDeadlineSeconds (%lld) exceeded",
             (long long)p->wf->active_deadline_seconds);
  } else if (failed || any_phase(p, 0, p->wf->nmain, SK_PHASE_FAILED)) {
    st->steps_phase = SK_PHASE_FAILED;
    if (failed)
      snprintf(msg, sizeof(msg), "step %s failed: %s", failed->name,
               failed->message ? failed->message : "failed");
  } else if (p->stopped || any_phase(p, 0, p->wf->nmain, SK_PHASE_CANCELLED)) {
    st->steps_phase = SK_PHASE_CANCELLED;
    snprintf(msg, sizeof(msg), "stopped");
  } else {
    st->steps_phase = SK_PHASE_SUCCEEDED;
  }
  *progress = true;
  return sk__set_message(&st->message, msg);
}

/* Ends the workflow once every record is final (at once after Terminate). */
static int end_workflow(sk__plan_t *p) {
  sk_wf_status_t *st = p->st;
  if (st->steps_phase == SK_PHASE_PENDING || sk_phase_is_final(st->phase) ||
      !all_final(p, p->wf->nmain, p->wf->nsteps))
    return 0;
  char msg[SK__MSG_MAX];
  sk_phase_t phase = st->steps_phase;
  snprintf(msg, sizeof(msg), "%s", st->message ? st->message : "");
  const sk_step_status_t *failed = first_failed(p, p->wf->nmain, p->wf->nsteps);
  if (p->terminated) {
    phase = SK_PHASE_CANCELLED;
    snprintf(msg, sizeof(msg), "terminated");
  } else if (failed) {
    phase = SK_PHASE_FAILED;
    size_t n = strlen(msg);
    snprintf(msg + n, sizeof(msg) - n, "%sfinally step %s failed: %s", n ? "; " : "",
             failed->name, failed->message ? failed->message : "failed");
  }
  st->phase = phase;
  st->finished_at_ms = p->now;
  return sk__set_message(&st->message, msg);
}

static int settle(sk__plan_t *p, bool *progress) {
  int rc = 0;
  for (size_t s = 0; rc == 0 && s < p->wf->nsteps; s++) {
    if (p->wf->steps[s].is_finally && !finally_open(p))
      continue;
    rc = settle_step(p, s, progress);
  }
  if (rc == 0)
    rc = end_main(p, progress);
  if (rc == 0)
    rc = end_workflow(p);
  return rc;
}

/* ---- start: hand out slots in spec order ---- */

static size_t count_running(const sk__plan_t *p) {
  size_t n = 0;
  for (size_t i = 0; i < p->st->nsteps; i++) {
    const sk_step_status_t *r = &p->st->steps[i];
    if (r->phase == SK_PHASE_RUNNING && sk__record_is_leaf(r))
      n++;
  }
  return n;
}

typedef struct slots {
  size_t running;
  size_t limit;  /* 0 = unlimited */
} slots_t;

static int try_start(sk__plan_t *p, size_t s, sk_step_status_t *r, slots_t *sl, bool *progress) {
  if (r->phase != SK_PHASE_PENDING || r->retry_at_ms > p->now)
    return 0;
  if (sl->limit && sl->running >= sl->limit)
    return 0;
  const sk_step_t *step = &p->wf->steps[s];
  sk__resolve_t rs = {p, step, r};
  char err[SK__MSG_MAX];
  err[0] = '\0';
  json_t *body = sk_tmpl_expand_json(step->body, sk__resolve, &rs, err, sizeof(err));
  if (!body) {
    /* The same inputs would fail the same way, so no retry is spent. */
    *progress = true;
    return sk__plan_set_phase(p, r, SK_PHASE_FAILED, err[0] ? err : "templating failed");
  }
  int rc = sk__plan_set_phase(p, r, SK_PHASE_RUNNING, NULL);
  if (rc < 0) {
    json_decref(body);
    return rc;
  }
  r->attempt++;
  r->attempt_started_at_ms = p->now;
  if (r->attempt == 1 || !r->started_at_ms)
    r->started_at_ms = p->now;
  r->finished_at_ms = 0;
  r->retry_at_ms = 0;
  r->next_poll_at_ms = 0;
  json_decref(r->outputs);
  r->outputs = NULL;
  json_t *prev_ref = r->ref;
  r->ref = NULL;
  sl->running++;
  rc = push_action(p, SK_ACT_START, r, body, NULL);
  if (rc == 0)
    p->out->actions[p->out->nactions - 1].prev_ref = prev_ref;
  else
    json_decref(prev_ref);
  return rc;
}

static int start_ready(sk__plan_t *p, bool *progress) {
  slots_t sl = {count_running(p), p->wf->parallelism > 0 ? (size_t)p->wf->parallelism : 0};
  char why[256];
  for (size_t s = 0; s < p->wf->nsteps; s++) {
    const sk_step_t *step = &p->wf->steps[s];
    sk_step_status_t *r = rec_of(p, s);
    if (!r || sk_phase_is_final(r->phase) || (step->is_finally && !finally_open(p)))
      continue;
    int rc = 0;
    if (step->for_each) {
      if (!is_expanded(p, s))
        continue;
      const sk__view_t *v = &p->view[s];
      for (size_t k = 0; rc == 0 && k < v->ninst; k++) {
        if (v->inst[k] != SIZE_MAX)
          rc = try_start(p, s, &p->st->steps[v->inst[k]], &sl, progress);
      }
    } else if (deps_state(p, s, why, sizeof(why)) == DEPS_READY) {
      rc = try_start(p, s, r, &sl, progress);
    }
    if (rc < 0)
      return rc;
  }
  return 0;
}

/* ---- wake time ---- */

static void wake_min(int64_t *w, int64_t t) {
  if (t > 0 && (*w == 0 || t < *w))
    *w = t;
}

static int64_t wake_at(const sk__plan_t *p) {
  const sk_wf_status_t *st = p->st;
  int64_t w = 0;
  if (sk_phase_is_final(st->phase))
    return 0;
  for (size_t i = 0; i < st->nsteps; i++) {
    const sk_step_status_t *r = &st->steps[i];
    if (!sk__record_is_leaf(r))
      continue;
    if (r->phase == SK_PHASE_PENDING && r->retry_at_ms > p->now) {
      wake_min(&w, r->retry_at_ms);
    } else if (r->phase == SK_PHASE_RUNNING) {
      const sk_step_t *step = sk__plan_record_step(p, r);
      if (step && step->timeout_seconds > 0)
        wake_min(&w, r->attempt_started_at_ms + step->timeout_seconds * 1000);
    }
  }
  if (p->wf->active_deadline_seconds > 0 && st->steps_phase == SK_PHASE_PENDING)
    wake_min(&w, st->started_at_ms + p->wf->active_deadline_seconds * 1000);
  return w;
}

/* ---- the plan ---- */

static int64_t generation_of(const sk_workflow_t *wf, int64_t dflt) {
  json_t *g = json_object_get(json_object_get(wf->object, "metadata"), "generation");
  return json_is_integer(g) ? (int64_t)json_integer_value(g) : dflt;
}

static int plan_init(sk__plan_t *p) {
  size_t n = p->wf->nsteps;
  p->view = calloc(n ? n : 1, sizeof(*p->view));
  p->by_name = calloc(n ? n : 1, sizeof(*p->by_name));
  if (!p->view || !p->by_name)
    return SK_ENOMEM;
  for (size_t s = 0; s < n; s++) {
    p->by_name[s].name = p->wf->steps[s].name;
    p->by_name[s].idx = s;
  }
  qsort(p->by_name, n, sizeof(*p->by_name), cmp_name);
  return sk__plan_view(p);
}

static void plan_release(sk__plan_t *p) {
  if (p->view)
    view_clear(p);
  free(p->view);
  free(p->by_name);
}

static int plan_run(sk__plan_t *p, const sk_engine_obs_t *obs, size_t nobs) {
  sk_wf_status_t *st = p->st;
  /* A finished workflow is history: nothing observed changes it. */
  if (sk_phase_is_final(st->phase))
    return 0;
  int rc = ensure_records(p);
  if (rc < 0)
    return rc;
  if (st->phase == SK_PHASE_PENDING) {
    st->phase = SK_PHASE_RUNNING;
    st->started_at_ms = p->now;
  }
  st->observed_generation = generation_of(p->wf, st->observed_generation);
  if ((rc = sk__attempt_observe(p, obs, nobs)) < 0 || (rc = apply_shutdown(p)) < 0 ||
      (rc = apply_deadline(p)) < 0 || (rc = sk__attempt_timeouts(p)) < 0)
    return rc;
  for (;;) {
    bool progress;
    do {
      progress = false;
      if ((rc = settle(p, &progress)) < 0)
        return rc;
    } while (progress && !sk_phase_is_final(st->phase));
    if (sk_phase_is_final(st->phase))
      return 0;
    progress = false;
    if ((rc = start_ready(p, &progress)) < 0)
      return rc;
    if (!progress)
      return 0;
  }
}

int sk_engine_plan(const sk_workflow_t *wf, sk_wf_status_t *st, const sk_engine_obs_t *obs,
                   size_t nobs, const sk_engine_ctx_t *ctx, sk_engine_out_t *out) {
  if (!wf || !st || !ctx || !out || (nobs && !obs))
    return SK_EINVAL;
  sk__plan_t p;
  memset(&p, 0, sizeof(p));
  p.wf = wf;
  p.st = st;
  p.out = out;
  p.now = ctx->now_ms;
  p.shutdown = effective_shutdown(wf, ctx);
  json_t *before = sk_wf_status_to_json(st);
  int rc = before ? plan_init(&p) : SK_ENOMEM;
  if (rc == 0)
    rc = plan_run(&p, obs, nobs);
  if (rc == 0) {
    out->wake_at_ms = wake_at(&p);
    json_t *after = sk_wf_status_to_json(st);
    if (!after)
      rc = SK_ENOMEM;
    out->changed = out->changed || !after || !json_equal(before, after);
    json_decref(after);
  }
  json_decref(before);
  plan_release(&p);
  return rc;
}

/* ---- rendering a running attempt again ---- */

int sk_engine_render_body(const sk_workflow_t *wf, const sk_wf_status_t *st,
                          const char *instance, json_t **body, char *err, size_t errlen) {
  if (!body)
    return SK_EINVAL;
  *body = NULL;
  if (errlen)
    err[0] = '\0';
  if (!wf || !st || !instance)
    return SK_EINVAL;
  sk_step_status_t *r = sk_wf_status_find(st, instance);
  if (!r || !sk__record_is_leaf(r) || r->phase != SK_PHASE_RUNNING) {
    snprintf(err, errlen, "%s is not a running step", instance);
    return SK_ENOENT;
  }
  sk__plan_t p;
  memset(&p, 0, sizeof(p));
  p.wf = wf;
  /* The plan state is only read here: the resolver never writes. */
  p.st = (sk_wf_status_t *)st;
  int rc = plan_init(&p);
  const sk_step_t *step = rc == 0 ? sk__plan_record_step(&p, r) : NULL;
  if (rc == 0 && !step) {
    snprintf(err, errlen, "the workflow has no step %s", r->step ? r->step : r->name);
    rc = SK_ENOENT;
  }
  if (rc == 0) {
    sk__resolve_t rs = {&p, step, r};
    *body = sk_tmpl_expand_json(step->body, sk__resolve, &rs, err, errlen);
    if (!*body)
      rc = SK_EINVAL;
  }
  plan_release(&p);
  return rc;
}
