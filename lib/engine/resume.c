/*
 * Resuming a finished or interrupted run: keep what succeeded, reset the
 * rest, so `skeinctl run --resume` redoes only the work that is missing.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/engine-int.h"
#include "util/error.h"

/* Back to a record that has never been tried. */
static void reset_record(sk_step_status_t *r) {
  r->phase = SK_PHASE_PENDING;
  r->attempt = 0;
  r->started_at_ms = 0;
  r->attempt_started_at_ms = 0;
  r->finished_at_ms = 0;
  r->retry_at_ms = 0;
  r->next_poll_at_ms = 0;
  free(r->message);
  r->message = NULL;
  json_decref(r->outputs);
  r->outputs = NULL;
  json_decref(r->ref);
  r->ref = NULL;
}

static const sk_step_t *step_named(const sk_workflow_t *wf, const char *name) {
  for (size_t i = 0; i < wf->nsteps; i++) {
    if (strcmp(wf->steps[i].name, name) == 0)
      return &wf->steps[i];
  }
  return NULL;
}

/* True when every instance record of fan-out step `name` succeeded. */
static bool instances_succeeded(const sk_wf_status_t *st, const char *name) {
  for (size_t i = 0; i < st->nsteps; i++) {
    const sk_step_status_t *r = &st->steps[i];
    if (r->index >= 0 && strcmp(r->step, name) == 0 && r->phase != SK_PHASE_SUCCEEDED)
      return false;
  }
  return true;
}

int sk_engine_prepare_resume(const sk_workflow_t *wf, sk_wf_status_t *st, int64_t now_ms) {
  if (!wf || !st)
    return SK_EINVAL;
  /* Drop what the workflow no longer has, and the instances of finally
   * fan-outs, which expand again with the new run's {{workflow.phase}}. */
  for (size_t i = 0; i < st->nsteps;) {
    const sk_step_status_t *r = &st->steps[i];
    const sk_step_t *step = step_named(wf, r->step ? r->step : r->name);
    bool stale = !step || (r->index >= 0 && !step->for_each) ||
                 (r->index < 0 && strcmp(r->name, step->name) != 0);
    if (stale || (r->index >= 0 && step->is_finally)) {
      sk__record_remove(st, i, 1);
      continue;
    }
    i++;
  }
  for (size_t i = 0; i < st->nsteps; i++) {
    sk_step_status_t *r = &st->steps[i];
    const sk_step_t *step = step_named(wf, r->step);
    if (r->index >= 0) {
      if (r->phase != SK_PHASE_SUCCEEDED)
        reset_record(r);
      continue;
    }
    bool fanout = step->for_each != NULL;
    if (step->is_finally) {
      reset_record(r);
      r->instances = -1;
      continue;
    }
    if (r->phase == SK_PHASE_SUCCEEDED && (!fanout || instances_succeeded(st, r->name)))
      continue;
    reset_record(r);
    /* An expanded main fan-out keeps its instances: their items came from
     * steps that succeeded and are kept, so the same items come back. */
    if (!fanout)
      r->instances = -1;
  }
  st->phase = SK_PHASE_RUNNING;
  st->steps_phase = SK_PHASE_PENDING;
  st->started_at_ms = now_ms;
  st->finished_at_ms = 0;
  free(st->message);
  st->message = NULL;
  return 0;
}
