/*
 * Private to lib/engine: the record helpers shared by the status, plan,
 * fan-out, resolver and resume files, and the plan's working state.
 */
#ifndef SK_ENGINE_ENGINE_INT_H
#define SK_ENGINE_ENGINE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"
#include "spec/template.h"
#include "util/buf.h"

/* Room for a message before it is stored (and capped) in a record. */
#define SK__MSG_MAX 2048

/* ---- records (status.c) ---- */

/* Frees what a record owns and zeroes it. */
void sk__record_release(sk_step_status_t *r);
/* Inserts a Pending record at position pos (<= st->nsteps), shifting the
 * rest up. step may be NULL when it equals name. Returns 0 or SK_ENOMEM. */
int sk__record_insert(sk_wf_status_t *st, size_t pos, const char *name, const char *step,
                      int index);
/* Removes n records starting at pos, releasing them. */
void sk__record_remove(sk_wf_status_t *st, size_t pos, size_t n);
/* Replaces *slot with a capped copy of msg (NULL or "" clears it). */
int sk__set_message(char **slot, const char *msg);
/* True for a record that runs: a plain step or an instance, not a fan-out
 * parent that has expanded. */
bool sk__record_is_leaf(const sk_step_status_t *r);

/* ---- the plan's working state (plan.c) ---- */

/* Where the records of one spec step are, by index into st->steps. */
typedef struct sk__view {
  size_t rec;     /* the plain or parent record; SIZE_MAX when missing */
  size_t *inst;   /* an expanded parent's instances by index; SIZE_MAX for a gap */
  size_t ninst;
} sk__view_t;

/* A spec step's name and index, sorted by name for lookups. */
typedef struct sk__name_idx {
  const char *name;
  size_t idx;
} sk__name_idx_t;

typedef struct sk__plan {
  const sk_workflow_t *wf;
  sk_wf_status_t *st;
  sk_engine_out_t *out;
  int64_t now;
  sk_shutdown_t shutdown;
  sk__view_t *view;      /* one per spec step */
  sk__name_idx_t *by_name; /* the spec steps sorted by name */
  bool deadline_fired;   /* this plan applied the workflow deadline */
  bool stopped;          /* this plan applied a Stop */
  bool terminated;       /* this plan applied a Terminate */
} sk__plan_t;

/* Rebuilds p->view from the records (after records were added or removed). */
int sk__plan_view(sk__plan_t *p);
/* The spec step index of a name, or -1. */
ssize_t sk__plan_step(const sk__plan_t *p, const char *name);
/* The spec step of a record, or NULL when the workflow has none by its name. */
const sk_step_t *sk__plan_record_step(const sk__plan_t *p, const sk_step_status_t *r);
/* Changes a record's phase, logging the transition; final phases set
 * finishedAt = now (unless already set) and clear retryAt and nextPollAt. */
int sk__plan_set_phase(sk__plan_t *p, sk_step_status_t *r, sk_phase_t to, const char *msg);
/* Appends a KILL action for a Running record's current attempt. */
int sk__plan_kill(sk__plan_t *p, sk_step_status_t *r, const char *reason);
/* ---- attempts (attempt.c) ---- */

/* Applies the observations to the records (see engine.h). */
int sk__attempt_observe(sk__plan_t *p, const sk_engine_obs_t *obs, size_t nobs);
/* Ends the current attempt of a Running record as failed: back to Pending
 * with a retryAt, or Failed when the retries are used up. */
int sk__attempt_fail(sk__plan_t *p, sk_step_status_t *r, const char *why);
/* Kills and fails the Running attempts that passed their timeout. */
int sk__attempt_timeouts(sk__plan_t *p);
/* The delay before retry n+1 after failed attempt n, in ms. */
int64_t sk__retry_delay_ms(const sk_retry_t *rt, int n);

/* ---- templating over the status (resolve.c) ---- */

typedef struct sk__resolve {
  const sk__plan_t *p;
  const sk_step_t *step;        /* the step being templated */
  const sk_step_status_t *rec;  /* its record (an instance supplies {{item}}) */
} sk__resolve_t;

/* An sk_tmpl_resolve_fn; ud is an sk__resolve_t. */
int sk__resolve(void *ud, const sk_ref_t *ref, sk_buf_t *out, char *err, size_t errlen);

/* ---- forEach (fanout.c) ---- */

/* Expands the fan-out parent of spec step s (ready, Pending, unexpanded):
 * inserts its instances or fails it. Rebuilds the view. */
int sk__fanout_expand(sk__plan_t *p, size_t s);
/* Sets an expanded parent's phase from its instances; *progress is set
 * when it changed. */
int sk__fanout_aggregate(sk__plan_t *p, size_t s, bool *progress);

#endif
