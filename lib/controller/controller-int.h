/*
 * Private to lib/controller: the reconcile's working state, shared by the
 * files that make up one reconcile (reconcile.c drives; executor.c turns
 * engine actions into Pod operations; crstatus.c reads and judges the
 * status; gc.c deletes what is no longer needed; result.c grows the
 * output lists).
 */
#ifndef SK_CONTROLLER_CONTROLLER_INT_H
#define SK_CONTROLLER_CONTROLLER_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "controller/controller.h"
#include "engine/engine.h"
#include "spec/spec.h"

/* FNV-1a, 64 bits, over len bytes. */
uint64_t sk__fnv1a64(const char *s, size_t len);

/* Drops an incomplete UTF-8 sequence left at the end of s by a bounded
 * snprintf: what goes into the status must stay valid UTF-8. */
void sk__utf8_trim_partial(char *s);

/* ---- small JSON readers (podobserve.c) ---- */

/* The string at obj[key], or NULL. */
const char *sk__jstr(json_t *obj, const char *key);
/* The time (RFC 3339) at obj[key] in ms, or 0 when absent or bad. */
int64_t sk__jtime(json_t *obj, const char *key);

/* ---- the reconcile's working state ---- */

/* An observation waiting for the next plan; owns its strings and JSON. */
typedef struct sk__obs {
  sk_obs_kind_t kind;
  char *instance;
  int attempt;
  int64_t at_ms;
  char *message;
  json_t *outputs;
  json_t *ref;
} sk__obs_t;

/* podGC as a value. */
typedef enum {
  SK__GC_NEVER,
  SK__GC_ON_POD_SUCCESS,
  SK__GC_ON_WORKFLOW_SUCCESS,
  SK__GC_ON_WORKFLOW_COMPLETION,
} sk__pod_gc_t;

typedef struct sk__rctx {
  const sk_controller_in_t *in;
  sk_controller_out_t *out;
  int64_t now;
  const char *name;        /* metadata.name (borrowed from in->workflow) */
  const char *ns;          /* metadata.namespace, "default" when absent */
  const char *uid;         /* metadata.uid, may be NULL */
  sk_workflow_t *wf;       /* the model; NULL when the spec is invalid */
  sk_wf_status_t st;       /* the status being advanced */
  sk_phase_t old_phase;    /* the phase the stored status had */
  json_t *old_status;      /* the stored status as this reconciler writes it; NULL when none */
  sk__pod_gc_t pod_gc;
  int64_t ttl_seconds;     /* -1 = keep */
  json_t *pods;            /* name → this workflow's live Pods (borrowed values) */
  json_t *gone;            /* name → tombstones of this workflow's Pods */
  json_t *foreign;         /* name → live Pods given that this workflow does not control */
  json_t *creates;         /* name → Pod to create in this reconcile */
  json_t *create_order;    /* the names of creates, in order */
  json_t *kill_deletes;    /* name → true: Pods to delete because their attempt ended */
  json_t *kill_order;
  json_t *gc_deletes;      /* name → true: Pods deleted by podGC or ttl */
  json_t *gc_order;
  bool delete_workflow;    /* ttlSecondsAfterFinished has passed */
  const char *fail_reason; /* the Warning event of a failure found before planning */
  sk__obs_t *obs;          /* observations for the next plan */
  size_t nobs;
  size_t obs_cap;
  /* cloud jobs (cloudexec.c) */
  json_t *fresh;           /* instance → attempt: cloud attempts started in this reconcile */
  sk_controller_op_t *job_cancels; /* CANCEL_JOB ops, emitted after the Pod kills */
  size_t njob_cancels;
  size_t job_cancels_cap;
  sk_controller_op_t *job_ensures; /* ENSURE_JOB ops, emitted after the Pod creates */
  size_t njob_ensures;
  size_t job_ensures_cap;
  bool add_finalizer;
  bool remove_finalizer;
} sk__rctx_t;

/* Queues an observation (copies message, takes outputs and ref). */
int sk__obs_push(sk__rctx_t *c, sk_obs_kind_t kind, const char *instance, int attempt,
                 int64_t at_ms, const char *message, json_t *outputs, json_t *ref);
/* Drops every queued observation. */
void sk__obs_clear(sk__rctx_t *c);

/* Appends an op / event to out (copies strings, takes pod). */
int sk__out_op(sk_controller_out_t *out, sk_controller_op_kind_t kind, const char *name,
               const char *uid, json_t *pod);
int sk__out_event(sk_controller_out_t *out, const char *type, const char *reason,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Moves the engine's transitions to out (the engine's out keeps none). */
int sk__out_take_transitions(sk_controller_out_t *out, sk_engine_out_t *eng);
/* Lowers out->requeue_at_ms to t when t is set and earlier. */
void sk__out_requeue(sk_controller_out_t *out, int64_t t);

/* Adds name to an ordered set (set object + order list); 0 when present. */
int sk__set_add(json_t *set, json_t *order, const char *name);

/* ---- Pods of the workflow (gc.c) ---- */

/* True when pod's controller ownerReference is this workflow. */
bool sk__pod_is_ours(const sk__rctx_t *c, json_t *pod);
/* The instance (annotation) and attempt (label) a Pod of ours runs;
 * false when it does not say. */
bool sk__pod_ident(json_t *pod, const char **instance, int *attempt);
/* True when the Pod's containers are done: phase Succeeded or Failed. */
bool sk__pod_finished(json_t *pod);
/* True when the Pod is being deleted. */
bool sk__pod_deleting(json_t *pod);
/* The Pod name of a record's current attempt, in out (64 bytes). */
int sk__record_pod_name(const sk__rctx_t *c, const sk_step_status_t *r, char *out, size_t outlen);

/* Deletes running Pods whose attempt has ended, applies podGC and ttl
 * (after the plan, on the final status). */
int sk__gc(sk__rctx_t *c);
/* The Workflow is being deleted: stop its running Pods. */
int sk__gc_deleting(sk__rctx_t *c);

/* ---- executors (executor.c) ---- */

typedef struct sk__executor {
  /* Carries out a START: queues ops and a STARTED or FAILED observation. */
  int (*start)(sk__rctx_t *c, const sk_action_t *act);
  /* Carries out a KILL. */
  int (*kill)(sk__rctx_t *c, const sk_action_t *act);
  /* Before a plan: what the attempt of Running record r reports, if anything. */
  int (*observe)(sk__rctx_t *c, const sk_step_status_t *r, const sk_step_t *step);
  /* After the plans: makes sure the attempt of Running record r is being
   * carried out (the Pod of a start that was recorded but not made). */
  int (*ensure)(sk__rctx_t *c, const sk_step_status_t *r, const sk_step_t *step);
} sk__executor_t;

/* The executor of a step kind (one for every kind; those skeind cannot run
 * yet fail their attempts with a message saying so). */
const sk__executor_t *sk__executor_for(sk_step_kind_t kind);

/* ---- cloud jobs (cloudexec.c; rules C1-C5 of controller.h) ---- */

extern const sk__executor_t sk__cloud_executor;
/* C4, after any executor's START of a retry: the earlier attempts' cloud
 * jobs that are not done go into the new attempt's ref ("earlier"),
 * whatever kind runs the new attempt. */
int sk__cloud_carry_earlier(sk__rctx_t *c, const sk_action_t *act);
/* After the plans, on the status the reconcile ends with: brings the
 * tracker's news into the cloud refs, asks to follow running jobs and to
 * cancel those no longer wanted, and decides the finalizer. */
int sk__cloud_sync(sk__rctx_t *c);
/* The Workflow is being deleted: cancel every job not done; release the
 * finalizer once they all are. */
int sk__cloud_deleting(sk__rctx_t *c);
/* Moves the job ops into their places in out (see emit_ops). */
int sk__cloud_emit(sk__rctx_t *c, bool cancels);
/* Frees job ops that were not emitted. */
void sk__cloud_release(sk__rctx_t *c);

/* ---- the status (crstatus.c) ---- */

/* Reads in->workflow's status into c->st and c->old_status. On a status
 * that cannot be read returns SK_EINVAL with why in err. */
int sk__status_load(sk__rctx_t *c, char *err, size_t errlen);
/* Fails the workflow for a reason found before any plan (invalid spec,
 * unreadable status): phase Failed, message, unfinished records Cancelled,
 * and a Warning event `reason`. */
int sk__status_fail(sk__rctx_t *c, const char *reason, const char *message);
/* Sets out->status when c->st differs from what was stored, and derives
 * the events of the change. */
int sk__status_finish(sk__rctx_t *c);
/* Builds "invalid spec: <problem>; <problem> ..." from diagnostics. */
char *sk__invalid_message(const sk_diags_t *d);

#endif
