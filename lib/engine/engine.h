/*
 * The engine: a pure reconcile function.
 *
 *   sk_engine_plan(workflow, status, observations, now) → status', actions
 *
 * It owns every scheduling rule — DAG order, parallelism, retries with
 * backoff, per-attempt timeouts, the workflow deadline, `when`, skip
 * propagation, forEach fan-out, finally steps, stop/terminate, the workflow
 * phase — and does no I/O: no clock reads, no sockets, no processes. Time
 * comes only from ctx->now_ms (and the at_ms of observations). The caller
 * (the local runtime, or skeind's reconciler) feeds it what it observed,
 * carries out the actions, persists the status when out.changed, and calls
 * it again on the next observation or at out.wake_at_ms.
 *
 * The rules, in full (this comment is the one place they are written down):
 *
 * Records. The first plan on a fresh status (phase Pending, no records)
 * sets the workflow Running with startedAt = now and adds one Pending
 * record per step, main and finally, in spec order, so progress totals are
 * known from the start. A forEach step's record is the fan-out parent;
 * its instances "<step>-<i>" are inserted right after it when it expands.
 * "Leaf" records are plain steps and instances: they are what runs.
 *
 * Readiness. A plain step (or unexpanded fan-out parent) is ready when
 * every dependency's record is Succeeded; when any dependency is Failed,
 * Skipped or Cancelled it becomes Skipped ("dependency prepare is Failed"),
 * and so do its own dependents in the same plan. An instance is ready as
 * soon as its parent has expanded. Finally steps become eligible only once
 * every main record is final; they are never eligible after Terminate.
 *
 * `when` is evaluated (sk_expr) when a step is ready and before its first
 * attempt (per instance for a forEach step, so `{{item}}` can filter):
 * false → Skipped with message "when was false: <the expression with its
 * placeholders expanded>"; an evaluation error → Failed with the message.
 *
 * forEach is expanded when the parent is ready: a JSON array literal, or a
 * string templated and then parsed as JSON. Not a list, more than
 * SK_SPEC_MAX_FOREACH items, an item that is a list or null (the
 * validator's rule for literal lists), a templating or parse error → the
 * parent is Failed and no instance is created. Each instance record keeps
 * its item as compact JSON text. The
 * parent's `instances` is the item count; its phase is the aggregate:
 * Running while any instance is not final, then Failed if any Failed,
 * Cancelled if any Cancelled, Skipped if all Skipped, else Succeeded. An
 * empty list is Succeeded at once ("forEach gave no items").
 *
 * Starting. Ready Pending leaves start in spec order, instances by index,
 * while fewer than `parallelism` leaves (main and finally) are Running
 * (0 = unlimited). A leaf waiting for a retry starts only at retryAt. Each
 * START sets the record Running, attempt+1, attemptStartedAt = now (and
 * startedAt on the first attempt), clears message, outputs, ref and
 * nextPollAt, and carries a deep copy of the step's kind body with every
 * string templated. A templating error fails the step at once, without
 * retry and without counting an attempt (it would fail the same way again).
 *
 * Templates resolve over the status: params.X → the parameter's effective
 * value; steps.S.outputs.N → record S's output (missing → "steps.S.outputs.N:
 * step S has no output "N" (it has: a, b)"); for a fan-out parent S, a
 * compact JSON list of the instances' values in index order (Skipped
 * instances are left out); steps.S-3.outputs.N → that instance's;
 * steps.S.phase → the record's phase name; workflow.name|namespace|uid →
 * the model's identity; workflow.phase → for finally steps the phase the
 * main steps ended with (Succeeded, Failed or Cancelled), else "Running";
 * item → the instance's item (a JSON string as its raw text, other values as
 * compact JSON); item.a.b → a nested field of an object item. Anything
 * that does not resolve (a missing output, field or parameter value, a
 * step with no outputs yet) is an error naming what exists, never "".
 *
 * Order of one plan: observations (in the given order), shutdown, the
 * deadline, attempt timeouts, then skips/`when`/forEach/aggregates and
 * starts until nothing changes. So a report in this plan that ends the last
 * main step beats a deadline or a Stop seen in the same plan. A plan on a
 * finished workflow does nothing.
 *
 * Observations. STARTED records the executor's ref; POLL_AT only sets
 * nextPollAt; SUCCEEDED and FAILED end the attempt. Any observation whose
 * (instance, attempt) is not a Running record's current attempt is ignored
 * (a late exit after a kill). SUCCEEDED outputs must be an object whose
 * values are strings (numbers and booleans are converted to text); the
 * total of key and value bytes may not pass SK_STATUS_MAX_OUTPUTS, else the
 * attempt fails ("outputs are N bytes, over the 4096-byte limit"; the
 * same measure as the outputs file cap, so what outputs.c accepts fits).
 * Empty outputs are stored as none. finishedAt is the observation's at_ms
 * (now when 0); retryAt counts from now, when the engine learns of it.
 *
 * Retries. After failed attempt n (FAILED, a bad SUCCEEDED, or a timeout):
 * if n <= retry.limit the record goes back to Pending with retryAt = now +
 * min(backoff_seconds * factor^(n-1), max_seconds when > 0) and message
 * "attempt n failed: <why>; retrying in Xs"; else Failed with "failed after n
 * attempts: <why>", or just "<why>" when the step allows no retries.
 *
 * Timeouts. A Running attempt with timeoutSeconds whose now >=
 * attemptStartedAt + timeout gets a KILL ("timed out after Ns") and counts
 * as a failed attempt with that message (so it may be retried).
 *
 * Deadline. Once now >= startedAt + activeDeadlineSeconds while main steps
 * are still unfinished: running main leaves get a KILL and are Failed
 * ("workflow deadline of Ns exceeded"), Pending main records (including
 * those waiting for a retry) are Skipped with the same message; finally
 * steps then run, exempt from the deadline; the workflow ends Failed with
 * "activeDeadlineSeconds (N) exceeded".
 *
 * Shutdown: the stronger of ctx->shutdown and the model's spec.shutdown.
 * Stop, while main steps are unfinished: running main leaves get a KILL,
 * they and every other unfinished main record become Cancelled, finally
 * steps run, the workflow ends Cancelled ("stopped"); a Stop after the main
 * steps ended changes nothing. Terminate: every running leaf (finally too)
 * gets a KILL, every unfinished record becomes Cancelled, no finally step
 * starts, and the workflow ends Cancelled ("terminated") in that plan.
 *
 * Workflow end. When every main record is final, the main phase is fixed
 * (status.stepsPhase): Failed if the deadline passed or any main record
 * Failed, Cancelled after a shutdown, else Succeeded (all Skipped counts as
 * Succeeded); the workflow message becomes the reason ("step train failed:
 * <its message>", "activeDeadlineSeconds (N) exceeded", "stopped",
 * "terminated"). When every record is final, the workflow phase is the main
 * phase, or Failed if a finally step failed (the message then also names
 * it: "finally step notify failed: ..."), and finishedAt = now.
 *
 * Output of a plan: actions (KILLs first, then STARTs, in the order
 * decided), every record phase change in order with the message it set
 * (transitions), changed (anything in the persisted status differs), and
 * wake_at_ms: the earliest future retryAt, attempt timeout or workflow
 * deadline (until the main steps end), 0 when none.
 *
 * Messages anywhere are capped at SK_STATUS_MAX_MESSAGE bytes
 * (sk_strdup_capped marks the cut).
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
  char *step;           /* the spec step's name ("train"); equal to name unless an instance */
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
  /* The phase the main steps ended with (Succeeded, Failed or Cancelled)
   * once every main record is final, which is what finally steps see as
   * {{workflow.phase}}; Pending before. JSON key "stepsPhase". */
  sk_phase_t steps_phase;
  sk_step_status_t *steps;
  size_t nsteps;
  size_t cap;
} sk_wf_status_t;

void sk_wf_status_init(sk_wf_status_t *st);
void sk_wf_status_release(sk_wf_status_t *st);
/* The record with that instance name, or NULL. */
sk_step_status_t *sk_wf_status_find(const sk_wf_status_t *st, const char *name);

/*
 * The status as the JSON object of DESIGN.md §3 (new reference; NULL when
 * out of memory). Keys: phase, startedAt, finishedAt (RFC 3339),
 * message, observedGeneration, stepsPhase, progress, conditions
 * ([{type: Completed, status: "True"/"False", reason: <phase>, message,
 * lastTransitionTime}]) and steps: [{name, step (instances only), index,
 * instances, item (the item as a JSON value), phase, attempt, startedAt,
 * attemptStartedAt, finishedAt, retryAt, nextPollAt, message, outputs,
 * ref}]. Zero and empty fields are left out so the status stays compact;
 * index and instances are left out when negative.
 */
json_t *sk_wf_status_to_json(const sk_wf_status_t *st);
/* Reads a status object written by sk_wf_status_to_json into an
 * initialised, empty st; to_json of the result gives the same object.
 * progress and conditions are derived, so they are not read. Unknown
 * fields are ignored (a newer writer). On error returns SK_EINVAL with a
 * message naming the field ("steps[2].phase: unknown phase \"Done\"") and
 * leaves st empty. */
int sk_wf_status_from_json(json_t *j, sk_wf_status_t *st, char *err, size_t errlen);
/* "3/7": final leaf records / leaf records, where leaves are plain steps
 * and instances, and a fan-out not yet expanded counts as one. */
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
  json_t *prev_ref;       /* START of a retry: the ref of the attempt before, which the
                             record no longer holds (own reference), or NULL; an
                             executor whose earlier work may still need stopping
                             carries it on */
} sk_action_t;

typedef struct sk_transition {
  char *instance;
  sk_phase_t from;
  sk_phase_t to;
  char *message;  /* the record's message as this change set it, or NULL */
} sk_transition_t;

typedef struct sk_engine_out {
  sk_action_t *actions;
  size_t nactions;
  size_t actions_cap;    /* allocated slots (internal) */
  sk_transition_t *transitions; /* phase changes of step records, in order */
  size_t ntransitions;
  size_t transitions_cap; /* allocated slots (internal) */
  bool changed;          /* status differs from the input: persist it */
  int64_t wake_at_ms;    /* plan again at this time at the latest; 0 = no timer needed */
} sk_engine_out_t;

/* An out must be initialised before each plan and released after; a plan
 * appends to it, so reusing one without a release accumulates. */
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
 * The kind body of a Running leaf record's current attempt, templated again
 * (new reference in *body). What a template reads — params, the identity,
 * outputs of steps the record waited for, its item, the main phase a
 * finally step sees — cannot change while the record runs, so this is the
 * body its START carried: a driver that lost it (a restart between
 * recording the start and carrying it out) can redo the start. Returns
 * SK_ENOENT when instance is not a Running leaf of a step of wf, SK_EINVAL
 * with err set when templating fails, or SK_ENOMEM.
 */
int sk_engine_render_body(const sk_workflow_t *wf, const sk_wf_status_t *st,
                          const char *instance, json_t **body, char *err, size_t errlen);

/*
 * Prepares a finished or interrupted status to run again (`skeinctl run
 * --resume`): Succeeded step records are kept; every other record (and
 * every fan-out whose instances did not all succeed, and every finally
 * step) is reset to Pending with no attempts; the workflow goes back to
 * Running with startedAt = now_ms (the deadline counts from the resume).
 * A main fan-out parent that had expanded keeps its instances (their items
 * came from steps that succeeded and are kept), so only the instances that
 * did not succeed run again; a finally fan-out loses its instances and
 * expands afresh, since its items may depend on {{workflow.phase}}.
 * Records of steps the workflow no longer has are dropped, and missing
 * ones are added by the next plan.
 */
int sk_engine_prepare_resume(const sk_workflow_t *wf, sk_wf_status_t *st, int64_t now_ms);

#endif
