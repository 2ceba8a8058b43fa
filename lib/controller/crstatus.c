/*
 * The Workflow's status as the reconciler reads and writes it: loading
 * the stored one, failing a workflow before any plan (invalid spec,
 * unreadable status), deciding whether anything changed (a write costs an
 * API request, so an unchanged status is not written), and the Events a
 * change deserves.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/controller-int.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/strutil.h"

/* Bytes of problems listed in an "invalid spec" message before "and N more". */
#define PROBLEMS_MAX 900

/* A duration as Go prints one, rounded to whole seconds: "0s", "42s",
 * "4m12s", "2h3m0s" (what the CRD's Duration column shows). */
static void format_duration(int64_t ms, char *out, size_t outlen) {
  long long s = (long long)((ms + 500) / 1000);
  if (s < 60)
    snprintf(out, outlen, "%llds", s);
  else if (s < 3600)
    snprintf(out, outlen, "%lldm%llds", s / 60, s % 60);
  else
    snprintf(out, outlen, "%lldh%lldm%llds", s / 3600, s % 3600 / 60, s % 60);
}

/* The status as written: the engine's JSON plus "duration" once the
 * workflow has ended. */
static json_t *status_json(const sk_wf_status_t *st) {
  json_t *j = sk_wf_status_to_json(st);
  if (!j || !sk_phase_is_final(st->phase) || st->finished_at_ms < st->started_at_ms ||
      st->started_at_ms <= 0)
    return j;
  char d[64];
  format_duration(st->finished_at_ms - st->started_at_ms, d, sizeof(d));
  if (json_object_set_new(j, "duration", json_string(d)) < 0) {
    json_decref(j);
    return NULL;
  }
  return j;
}

static bool empty_status(json_t *sj) {
  return !sj || json_is_null(sj) || (json_is_object(sj) && json_object_size(sj) == 0);
}

int sk__status_load(sk__rctx_t *c, char *err, size_t errlen) {
  json_t *sj = json_object_get(c->in->workflow, "status");
  c->old_phase = SK_PHASE_PENDING;
  if (empty_status(sj))
    return 0;
  if (!json_is_object(sj)) {
    snprintf(err, errlen, "status is not an object");
    return SK_EINVAL;
  }
  int rc = sk_wf_status_from_json(sj, &c->st, err, errlen);
  if (rc < 0)
    return rc;
  /* Compared in the form this reconciler writes, so that a field the
   * writer derives (progress, conditions) or leaves out never looks like
   * a change by itself. */
  c->old_status = status_json(&c->st);
  if (!c->old_status)
    return SK_ENOMEM;
  c->old_phase = c->st.phase;
  return 0;
}

static int64_t generation_of(json_t *wf) {
  json_t *g = json_object_get(json_object_get(wf, "metadata"), "generation");
  return json_is_integer(g) ? (int64_t)json_integer_value(g) : 0;
}

int sk__status_fail(sk__rctx_t *c, const char *reason, const char *message) {
  sk_wf_status_t *st = &c->st;
  int64_t gen = generation_of(c->in->workflow);
  if (gen)
    st->observed_generation = gen;
  if (sk_phase_is_final(st->phase))
    return 0;
  char *msg = sk_strdup_capped(message, SK_STATUS_MAX_MESSAGE);
  char *why = strdup("cancelled: the workflow failed (see its message)");
  if (!msg || !why) {
    free(msg);
    free(why);
    return SK_ENOMEM;
  }
  for (size_t i = 0; i < st->nsteps; i++) {
    sk_step_status_t *r = &st->steps[i];
    if (sk_phase_is_final(r->phase))
      continue;
    char *m = strdup(why);
    if (!m) {
      free(msg);
      free(why);
      return SK_ENOMEM;
    }
    free(r->message);
    r->message = m;
    r->phase = SK_PHASE_CANCELLED;
    r->finished_at_ms = c->now;
    r->retry_at_ms = 0;
    r->next_poll_at_ms = 0;
  }
  free(why);
  free(st->message);
  st->message = msg;
  st->phase = SK_PHASE_FAILED;
  if (st->steps_phase == SK_PHASE_PENDING)
    st->steps_phase = SK_PHASE_FAILED;
  if (!st->started_at_ms)
    st->started_at_ms = c->now;
  st->finished_at_ms = c->now;
  c->fail_reason = reason;
  return 0;
}

char *sk__invalid_message(const sk_diags_t *d) {
  sk_buf_t b;
  sk_buf_init(&b, PROBLEMS_MAX + 256);
  int rc = sk_buf_puts(&b, "invalid spec: ");
  size_t shown = 0;
  for (size_t i = 0; rc == 0 && i < d->len; i++) {
    const sk_diag_t *dg = &d->items[i];
    size_t before = b.len;
    const char *path = dg->path && dg->path[0] ? dg->path : NULL;
    rc = sk_buf_printf(&b, "%s%s%s%s", shown ? "; " : "", path ? path : "", path ? ": " : "",
                       dg->msg ? dg->msg : "");
    if (rc == SK_ETOOBIG || b.len > PROBLEMS_MAX) {
      /* Whole problems only: one cut in half reads as a different one. */
      b.len = before;
      b.data[before] = '\0';
      rc = 0;
      break;
    }
    shown++;
  }
  size_t more = d->len - shown + d->dropped;
  if (rc == 0 && more > 0)
    rc = sk_buf_printf(&b, "%s(and %zu more problem%s)", shown ? "; " : "", more,
                       more == 1 ? "" : "s");
  if (rc < 0 && rc != SK_ETOOBIG) {
    sk_buf_release(&b);
    return NULL;
  }
  char *s = sk_buf_steal(&b);
  char *capped = s ? sk_strdup_capped(s, SK_STATUS_MAX_MESSAGE) : NULL;
  free(s);
  return capped;
}

static bool is_leaf(const sk_step_status_t *r) { return r->index >= 0 || r->instances < 0; }

/* The Events of the change from the stored status to c->st. */
static int derive_events(sk__rctx_t *c) {
  sk_controller_out_t *out = c->out;
  const sk_wf_status_t *st = &c->st;
  if (c->fail_reason)
    return sk__out_event(out, "Warning", c->fail_reason, "%s", st->message ? st->message : "");
  int rc = 0;
  if (c->old_phase == SK_PHASE_PENDING && st->phase == SK_PHASE_RUNNING) {
    char progress[48];
    sk_wf_status_progress(st, progress, sizeof(progress));
    rc = sk__out_event(out, "Normal", "WorkflowRunning", "workflow started (steps done: %s)",
                       progress);
  }
  size_t failed = 0;
  for (size_t i = 0; rc == 0 && i < out->ntransitions; i++) {
    const sk_transition_t *t = &out->transitions[i];
    const sk_step_status_t *r = sk_wf_status_find(st, t->instance);
    if (t->to != SK_PHASE_FAILED || (r && !is_leaf(r)))
      continue;
    if (++failed <= SK_CONTROLLER_MAX_STEP_EVENTS)
      rc = sk__out_event(out, "Warning", "StepFailed", "step %s failed: %s", t->instance,
                         t->message ? t->message : "failed");
  }
  if (rc == 0 && failed > SK_CONTROLLER_MAX_STEP_EVENTS)
    rc = sk__out_event(out, "Warning", "StepFailed", "%zu more steps failed (see status.steps)",
                       failed - SK_CONTROLLER_MAX_STEP_EVENTS);
  if (rc == 0 && !sk_phase_is_final(c->old_phase) && sk_phase_is_final(st->phase)) {
    const char *msg = st->message && st->message[0] ? st->message : NULL;
    switch (st->phase) {
    case SK_PHASE_SUCCEEDED:
      rc = sk__out_event(out, "Normal", "WorkflowSucceeded", "%s", msg ? msg : "workflow succeeded");
      break;
    case SK_PHASE_CANCELLED:
      rc = sk__out_event(out, "Warning", "WorkflowCancelled", "%s", msg ? msg : "workflow cancelled");
      break;
    default:
      rc = sk__out_event(out, "Warning", "WorkflowFailed", "%s", msg ? msg : "workflow failed");
      break;
    }
  }
  return rc;
}

int sk__status_finish(sk__rctx_t *c) {
  c->out->phase = c->st.phase;
  json_t *now = status_json(&c->st);
  if (!now)
    return SK_ENOMEM;
  if (c->old_status && json_equal(c->old_status, now)) {
    json_decref(now);
    return 0;
  }
  c->out->status = now;
  return derive_events(c);
}
