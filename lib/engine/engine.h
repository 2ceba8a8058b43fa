/*
 * The engine: a pure reconcile function.
 *
 *   sk_engine_plan(workflow, status, observations, now) → status', actions
 *
 * It owns every scheduling rule — DAG order, parallelism, retries with
 * backoff, per-attempt timeouts, the workflow deadline, `when`, skip
 * propagation, forEach fan-out, finally steps, stop/terminate, the workflow
 * phase — and does no I/O: no clock reads, no sockets, no processes. The
 * caller (the local runtime, or skeind's reconciler) feeds it what it
 * observed, carries out the actions, persists the status when it changed,
 * and calls it again on the next observation or at out.wake_at_ms.
 *
 * Rules, in brief (docs/architecture.md has the full text):
 *  - A step is ready when every dependency is Succeeded; if any dependency
 *    is Failed, Skipped or Cancelled the step is Skipped (with a message
 *    naming the dependency). Ready steps start in spec order, fan-out
 *    instances in index order, while fewer than `parallelism` instances run.
 *  - `when` is evaluated when the step is ready; false → Skipped.
 *  - forEach is expanded when the step is ready: instances "<step>-<i>"; the
 *    parent record's phase is the aggregate (Running while any instance is
 *    not finished; Failed if any failed; Succeeded otherwise; an empty list
 *    is Succeeded).
 *  - A failed attempt is retried while attempt <= retry.limit, after
 *    backoff_seconds * factor^(attempt-1) capped at max_seconds.
 *  - An attempt running longer than timeoutSeconds is killed and fails
 *    ("timed out after 30s"); it may be retried.
 *  - Past activeDeadlineSeconds (from status.startedAt) running steps are
 *    killed and Failed, pending ones Skipped, the workflow Failed; finally
 *    steps still run.
 *  - Stop: running steps are killed and Cancelled, pending ones Cancelled,
 *    finally steps run, the workflow ends Cancelled. Terminate: the same,
 *    but finally steps do not run (running ones are killed too).
 *  - When the main steps are all finished, finally steps run (in their own
 *    DAG order), seeing {{workflow.phase}} = the phase the main steps gave.
 *    The workflow's phase is that phase, or Failed if a finally step failed.
 */
#ifndef SK_ENGINE_ENGINE_H
#define SK_ENGINE_ENGINE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spec/spec.h"

#define SK_STATUS_MAX_MESSAGE 1024   /* bytes kept of any message */
#define SK_STATUS_MAX_OUTPUTS 4096   /* bytes of outputs per step instance */

typedef enum {
  SK_PHASE_PENDING,
  SK_PHASE_RUNNING,
  SK_PHASE_SUCCEEDED,
  SK_PHASE_FAILED,
  SK_PHASE_SKIPPED,
  SK_PHASE_CANCELLED,
} sk_phase_t;

const char *sk_phase_name(sk_phase_t p);
int sk_phase_parse(const char *s, sk_phase_t *out);
/* Succeeded, Failed, Skipped and Cancelled are final. */
bool sk_phase_is_final(sk_phase_t p);

/* One record per step, per fan-out instance. */
typedef struct sk_step_status {
  char *name;           /* "prepare", or "train-0" for an instance */
  char *step;           /* the spec step's name ("train") */
  int index;            /* instance index; -1 for a plain step or a fan-out parent */
  int instances;        /* fan-out parent: instance count once expanded, else -1 */
  char *item;           /* instance: the item as JSON text; else NULL */
  sk_phase_t phase;
  int attempt;          /* attempts started so far; 0 before the first */
  int64_t started_at_ms;          /* first attempt's start; 0 = not yet */
  int64_t attempt_started_at_ms;  /* current attempt's start */
  int64_t finished_at_ms;
  int64_t retry_at_ms;  /* Pending: the next attempt may start at this time */
  int64_t next_poll_at_ms; /* for executors that poll (cloud jobs); 0 = none */
  char *message;        /* capped at SK_STATUS_MAX_MESSAGE */
  json_t *outputs;      /* object of string values, or NULL (own reference) */
  json_t *ref;          /* executor's reference to what runs it, or NULL */
} sk_step_status_t;

typedef struct sk_wf_status {
  sk_phase_t phase;     /* Pending Running Succeeded Failed Cancelled */
  int64_t started_at_ms;
  int64_t finished_at_ms;
  char *message;
  int64_t observed_generation;
  sk_step_status_t *steps;
  size_t nsteps;
  size_t cap;
} sk_wf_status_t;

void sk_wf_status_init(sk_wf_status_t *st);
void sk_wf_status_release(sk_wf_status_t *st);
/* The record with that instance name, or NULL. */
sk_step_status_t *sk_wf_status_find(const sk_wf_status_t *st, const char *name);

/* The status as the JSON object of DESIGN.md §3 (new reference), with
 * `progress` ("done/total" over leaf instances) and a `conditions` list. */
json_t *sk_wf_status_to_json(const sk_wf_status_t *st);
/* Reads a status object written by sk_wf_status_to_json into an
 * initialised st. Unknown fields are ignored (a newer writer). */
int sk_wf_status_from_json(json_t *j, sk_wf_status_t *st, char *err, size_t errlen);
/* "3/7": leaf instances finished / known leaf instances. */
void sk_wf_status_progress(const sk_wf_status_t *st, char *out, size_t outlen);

typedef enum {
  SK_OBS_STARTED,    /* the executor has started the attempt (ref may be set) */
  SK_OBS_SUCCEEDED,  /* the attempt ended well; outputs may be set */
  SK_OBS_FAILED,     /* the attempt failed; message says why */
  SK_OBS_POLL_AT,    /* the executor wants next_poll_at_ms = at_ms recorded */
} sk_obs_kind_t;

typedef struct sk_engine_obs {
  sk_obs_kind_t kind;
  const char *instance;  /* the step record name */
  int attempt;           /* observations for another attempt are ignored */
  int64_t at_ms;         /* when it happened */
  const char *message;   /* may be NULL */
  json_t *outputs;       /* borrowed; object of strings; SUCCEEDED only */
  json_t *ref;           /* borrowed; may be NULL */
} sk_engine_obs_t;

typedef enum {
  SK_SHUTDOWN_NONE,
  SK_SHUTDOWN_STOP,
  SK_SHUTDOWN_TERMINATE,
} sk_shutdown_t;

typedef struct sk_engine_ctx {
  int64_t now_ms;
  sk_shutdown_t shutdown;
} sk_engine_ctx_t;

typedef enum {
  SK_ACT_START,  /* run attempt `attempt` of `instance` with `body` */
  SK_ACT_KILL,   /* stop attempt `attempt` of `instance` (timeout, deadline, shutdown, ...) */
} sk_action_kind_t;

typedef struct sk_action {
  sk_action_kind_t kind;
  char *instance;
  int attempt;
  const sk_step_t *step;  /* borrowed from the workflow */
  json_t *body;           /* START: the step's kind body, templates expanded (own reference) */
  char *reason;           /* KILL: why, for logs */
} sk_action_t;

typedef struct sk_transition {
  char *instance;
  sk_phase_t from;
  sk_phase_t to;
} sk_transition_t;

typedef struct sk_engine_out {
  sk_action_t *actions;
  size_t nactions;
  sk_transition_t *transitions; /* phase changes of step records, in order */
  size_t ntransitions;
  bool changed;          /* status differs from the input: persist it */
  int64_t wake_at_ms;    /* plan again at this time at the latest; 0 = no timer needed */
} sk_engine_out_t;

void sk_engine_out_init(sk_engine_out_t *out);
void sk_engine_out_release(sk_engine_out_t *out);

/*
 * Advances the workflow. wf must be valid (sk_spec_parse_workflow), with
 * params resolved and identity (name, namespace, uid) set. st is updated in
 * place; a fresh sk_wf_status_t (phase Pending, no steps) starts a run.
 * Returns 0, or SK_ENOMEM; rule violations are never errors but step or
 * workflow failures with messages.
 */
int sk_engine_plan(const sk_workflow_t *wf, sk_wf_status_t *st, const sk_engine_obs_t *obs,
                   size_t nobs, const sk_engine_ctx_t *ctx, sk_engine_out_t *out);

/*
 * Prepares a finished or interrupted status to run again (`skeinctl run
 * --resume`): Succeeded step records are kept; every other record (and
 * every fan-out whose instances did not all succeed, and every finally
 * step) is reset to Pending with no attempts; the workflow goes back to
 * Running with startedAt = now_ms (the deadline counts from the resume).
 */
int sk_engine_prepare_resume(const sk_workflow_t *wf, sk_wf_status_t *st, int64_t now_ms);

#endif
