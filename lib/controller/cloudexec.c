/*
 * Cloud job steps (vertex, sagemaker) in the reconciler: rules C1-C5 of
 * controller.h. Like the rest of the reconciler this is pure: the driver's
 * job tracker does the talking to the clouds, and what it knows arrives
 * in in->jobs as Pods arrive in in->pods.
 *
 * The ref of a cloud record is the state that survives a restart:
 *   {kind: VertexCustomJob | SageMakerTrainingJob | SageMakerProcessingJob,
 *    attempt: N, name: <the cloud's name>, state: <the cloud's state>,
 *    done: true}
 * name and state appear once the tracker knows them; done once nothing of
 * that attempt runs in the cloud any more. When a new attempt starts while
 * an earlier attempt's job is not done (its cancel is still being asked),
 * the new ref carries the earlier ones in "earlier": [refs], each dropped
 * once done, so that a restarted skeind still cancels them (C4).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/controller-int.h"
#include "util/error.h"
#include "util/strutil.h"

#define REF_VERTEX "VertexCustomJob"
#define REF_SM_TRAINING "SageMakerTrainingJob"
#define REF_SM_PROCESSING "SageMakerProcessingJob"

static bool is_cloud_kind(sk_step_kind_t k) {
  return k == SK_STEP_VERTEX || k == SK_STEP_SAGEMAKER;
}

static bool is_cloud_ref(json_t *ref) {
  const char *k = sk__jstr(ref, "kind");
  return k && (strcmp(k, REF_VERTEX) == 0 || strcmp(k, REF_SM_TRAINING) == 0 ||
               strcmp(k, REF_SM_PROCESSING) == 0);
}

/* The ref kind of a step's job, from its (templated or raw) body. */
static const char *ref_kind(sk_step_kind_t kind, json_t *body) {
  if (kind == SK_STEP_VERTEX)
    return REF_VERTEX;
  return json_object_get(body, "processingJob") ? REF_SM_PROCESSING : REF_SM_TRAINING;
}

static const sk_controller_job_t *find_job(const sk__rctx_t *c, const char *instance,
                                           int attempt) {
  for (size_t i = 0; i < c->in->njobs; i++) {
    const sk_controller_job_t *j = &c->in->jobs[i];
    if (j->attempt == attempt && j->instance && strcmp(j->instance, instance) == 0)
      return j;
  }
  return NULL;
}

static bool job_ended(const sk_controller_job_t *j) {
  return j->phase == SK_CONTROLLER_JOB_SUCCEEDED || j->phase == SK_CONTROLLER_JOB_FAILED ||
         j->phase == SK_CONTROLLER_JOB_CANCELLED || j->cancel_done || j->cancel_gave_up;
}

static int ref_attempt(json_t *ref, int fallback) {
  json_t *a = json_object_get(ref, "attempt");
  return json_is_integer(a) ? (int)json_integer_value(a) : fallback;
}

/* ---- the executor ---- */

/* Appends a copy of ref, without its own earlier list, to earlier when
 * its job is not done. */
static int carry_if_open(json_t *earlier, json_t *ref) {
  if (!is_cloud_ref(ref) || json_is_true(json_object_get(ref, "done")))
    return 0;
  json_t *copy = json_copy(ref);
  if (!copy)
    return SK_ENOMEM;
  json_object_del(copy, "earlier");
  return json_array_append_new(earlier, copy) < 0 ? SK_ENOMEM : 0;
}

/* C4: the earlier attempts' jobs still to be cancelled, from the ref the
 * new attempt's ref replaces (a new reference, NULL when there is none). */
static int earlier_refs(const sk_action_t *act, json_t **out) {
  *out = NULL;
  json_t *prev = act->prev_ref;
  if (!json_is_object(prev))
    return 0;
  json_t *earlier = json_array();
  if (!earlier)
    return SK_ENOMEM;
  /* The ref replaced may be any kind's: its own job counts when it is a
   * cloud one, and the list it carries whatever it is. */
  int rc = ref_attempt(prev, 0) == act->attempt ? 0 : carry_if_open(earlier, prev);
  size_t i;
  json_t *e;
  json_array_foreach(json_object_get(prev, "earlier"), i, e) {
    if (rc == 0)
      rc = carry_if_open(earlier, e);
  }
  if (rc < 0 || json_array_size(earlier) == 0) {
    json_decref(earlier);
    return rc;
  }
  *out = earlier;
  return 0;
}

int sk__cloud_carry_earlier(sk__rctx_t *c, const sk_action_t *act) {
  json_t *earlier = NULL;
  int rc = earlier_refs(act, &earlier);
  if (rc < 0 || !earlier)
    return rc;
  /* Into the ref of the new attempt's start, the last one reported. */
  for (size_t i = c->nobs; i-- > 0;) {
    sk__obs_t *o = &c->obs[i];
    if (o->kind != SK_OBS_STARTED || o->attempt != act->attempt ||
        strcmp(o->instance, act->instance) != 0)
      continue;
    if (!o->ref && !(o->ref = json_object())) {
      json_decref(earlier);
      return SK_ENOMEM;
    }
    return json_object_set_new(o->ref, "earlier", earlier) < 0 ? SK_ENOMEM : 0;
  }
  /* The start failed the attempt at once (nothing was reported started):
   * no ref is left to carry them. */
  json_decref(earlier);
  return 0;
}

/* C1: the start is recorded with a ref naming the job's kind and attempt;
 * the job itself is asked for by sk__cloud_sync once this status is the
 * one to be written. */
static int cloud_start(sk__rctx_t *c, const sk_action_t *act) {
  json_t *ref = json_pack("{s:s, s:i}", "kind", ref_kind(act->step->kind, act->body), "attempt",
                          act->attempt);
  if (!ref || json_object_set_new(c->fresh, act->instance, json_integer(act->attempt)) < 0) {
    json_decref(ref);
    return SK_ENOMEM;
  }
  return sk__obs_push(c, SK_OBS_STARTED, act->instance, act->attempt, c->now, NULL, NULL, ref);
}

/* C4: a killed attempt's job is cancelled by sk__cloud_sync, which sees
 * its ref no longer matching a Running attempt (in this reconcile and in
 * every later one until the cancel is done). */
static int cloud_kill(sk__rctx_t *c, const sk_action_t *act) {
  (void)c;
  (void)act;
  return 0;
}

/* C3: the tracker's news of the current attempt's job. */
static int cloud_observe(sk__rctx_t *c, const sk_step_status_t *r, const sk_step_t *step) {
  (void)step;
  const sk_controller_job_t *j = find_job(c, r->name, r->attempt);
  if (!j)
    return 0;
  char msg[SK_STATUS_MAX_MESSAGE];
  switch (j->phase) {
  case SK_CONTROLLER_JOB_SUCCEEDED:
    return sk__obs_push(c, SK_OBS_SUCCEEDED, r->name, r->attempt, c->now, NULL,
                        json_incref(j->outputs), NULL);
  case SK_CONTROLLER_JOB_FAILED:
    return sk__obs_push(c, SK_OBS_FAILED, r->name, r->attempt, c->now,
                        j->message && j->message[0] ? j->message : "the job failed", NULL, NULL);
  case SK_CONTROLLER_JOB_CANCELLED:
    snprintf(msg, sizeof(msg), "the job was cancelled outside skein%s%s%s",
             j->state ? " (" : "", j->state ? j->state : "", j->state ? ")" : "");
    sk__utf8_trim_partial(msg);
    return sk__obs_push(c, SK_OBS_FAILED, r->name, r->attempt, c->now, msg, NULL, NULL);
  default:
    return 0;
  }
}

static int cloud_ensure(sk__rctx_t *c, const sk_step_status_t *r, const sk_step_t *step) {
  (void)c;
  (void)r;
  (void)step;
  return 0;
}

const sk__executor_t sk__cloud_executor = {cloud_start, cloud_kill, cloud_observe, cloud_ensure};

/* ---- job ops ---- */

/* Appends a job op to one of the two lists; takes body. */
static int push_job_op(sk__rctx_t *c, sk_controller_op_kind_t kind, const char *instance,
                       int attempt, sk_step_kind_t step_kind, json_t *body, const char *job_name,
                       bool adopt_first) {
  bool cancel = kind == SK_CONTROLLER_OP_CANCEL_JOB;
  sk_controller_op_t **ops = cancel ? &c->job_cancels : &c->job_ensures;
  size_t *n = cancel ? &c->njob_cancels : &c->njob_ensures;
  size_t *cap = cancel ? &c->job_cancels_cap : &c->job_ensures_cap;
  if (sk_array_grow((void **)ops, cap, *n, sizeof(**ops)) < 0) {
    json_decref(body);
    return SK_ENOMEM;
  }
  sk_controller_op_t *op = &(*ops)[*n];
  memset(op, 0, sizeof(*op));
  op->kind = kind;
  op->name = strdup(instance);
  op->job_name = sk_strdup0(job_name);
  op->pod = body;
  op->attempt = attempt;
  op->step_kind = step_kind;
  op->adopt_first = adopt_first;
  if (!op->name || (job_name && !op->job_name)) {
    free(op->name);
    free(op->job_name);
    json_decref(body);
    return SK_ENOMEM;
  }
  (*n)++;
  return 0;
}

static void free_ops(sk_controller_op_t *ops, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(ops[i].name);
    free(ops[i].job_name);
    json_decref(ops[i].pod);
  }
  free(ops);
}

void sk__cloud_release(sk__rctx_t *c) {
  free_ops(c->job_cancels, c->njob_cancels);
  free_ops(c->job_ensures, c->njob_ensures);
  c->job_cancels = c->job_ensures = NULL;
  c->njob_cancels = c->njob_ensures = 0;
}

int sk__cloud_emit(sk__rctx_t *c, bool cancels) {
  sk_controller_op_t *ops = cancels ? c->job_cancels : c->job_ensures;
  size_t *n = cancels ? &c->njob_cancels : &c->njob_ensures;
  sk_controller_out_t *out = c->out;
  for (size_t i = 0; i < *n; i++) {
    if (sk_array_grow((void **)&out->ops, &out->ops_cap, out->nops, sizeof(*out->ops)) < 0) {
      /* Those moved belong to out now; the rest are freed here (the
       * array itself goes with sk__cloud_release). */
      for (size_t k = i; k < *n; k++) {
        free(ops[k].name);
        free(ops[k].job_name);
        json_decref(ops[k].pod);
      }
      *n = 0;
      return SK_ENOMEM;
    }
    out->ops[out->nops++] = ops[i];
  }
  *n = 0;
  return 0;
}

/* The step a record belongs to, or NULL (no model, or a step since removed). */
static const sk_step_t *record_step(const sk__rctx_t *c, const sk_step_status_t *r) {
  if (!c->wf)
    return NULL;
  ssize_t s = sk_workflow_step_index(c->wf, r->step ? r->step : r->name);
  return s < 0 ? NULL : &c->wf->steps[s];
}

/* The templated kind body of a record, for the tracker; the raw body when
 * templating fails (a cancel still needs the location or region), NULL
 * without a model. */
static json_t *record_body(sk__rctx_t *c, const sk_step_status_t *r, const sk_step_t *step) {
  if (!step)
    return NULL;
  char err[SK_STATUS_MAX_MESSAGE];
  json_t *body = NULL;
  if (sk_engine_render_body(c->wf, &c->st, r->name, &body, err, sizeof(err)) == 0 && body)
    return body;
  return json_incref(step->body);
}

static sk_step_kind_t kind_of_ref(json_t *ref) {
  const char *k = sk__jstr(ref, "kind");
  return k && strcmp(k, REF_VERTEX) == 0 ? SK_STEP_VERTEX : SK_STEP_SAGEMAKER;
}

/* C3: copies what the tracker knows of the ref's job into the ref. */
static int update_ref(sk__rctx_t *c, json_t *ref, const sk_controller_job_t *j, bool *gave_up) {
  *gave_up = false;
  if (!j)
    return 0;
  const char *name = sk__jstr(ref, "name");
  if (j->name && (!name || strcmp(name, j->name) != 0) &&
      json_object_set_new(ref, "name", json_string(j->name)) < 0)
    return SK_ENOMEM;
  const char *state = sk__jstr(ref, "state");
  if (j->state && (!state || strcmp(state, j->state) != 0) &&
      json_object_set_new(ref, "state", json_string(j->state)) < 0)
    return SK_ENOMEM;
  if (job_ended(j) && !json_is_true(json_object_get(ref, "done"))) {
    if (json_object_set_new(ref, "done", json_true()) < 0)
      return SK_ENOMEM;
    *gave_up = j->cancel_gave_up && !(j->phase == SK_CONTROLLER_JOB_SUCCEEDED ||
                                      j->phase == SK_CONTROLLER_JOB_FAILED ||
                                      j->phase == SK_CONTROLLER_JOB_CANCELLED);
  }
  (void)c;
  return 0;
}

static int gave_up_event(sk__rctx_t *c, const char *instance, json_t *ref) {
  const char *name = sk__jstr(ref, "name");
  return sk__out_event(c->out, "Warning", "CloudJobCancelFailed",
                       "step %s: could not cancel %s %s; it may still be running and billing",
                       instance, sk__jstr(ref, "kind"), name ? name : "(its name is unknown)");
}

static bool has_finalizer(const sk__rctx_t *c) {
  json_t *fins = json_object_get(json_object_get(c->in->workflow, "metadata"), "finalizers");
  size_t i;
  json_t *v;
  json_array_foreach(fins, i, v) {
    if (json_is_string(v) && strcmp(json_string_value(v), SK_CONTROLLER_FINALIZER) == 0)
      return true;
  }
  return false;
}

static bool has_cloud_step(const sk__rctx_t *c) {
  for (size_t i = 0; c->wf && i < c->wf->nsteps; i++)
    if (is_cloud_kind(c->wf->steps[i].kind))
      return true;
  return false;
}

/* C4 for the earlier attempts a ref carries: each is brought up to date
 * from the tracker and cancelled until done, then dropped from the list.
 * *pending is set while any is not done. */
static int sync_earlier(sk__rctx_t *c, const sk_step_status_t *r, bool *pending) {
  json_t *earlier = json_object_get(r->ref, "earlier");
  if (!json_is_array(earlier))
    return 0;
  for (size_t k = json_array_size(earlier); k-- > 0;) {
    json_t *e = json_array_get(earlier, k);
    int attempt = ref_attempt(e, 0);
    const sk_controller_job_t *j = find_job(c, r->name, attempt);
    bool gave_up = false;
    int rc = is_cloud_ref(e) ? update_ref(c, e, j, &gave_up) : 0;
    if (rc == 0 && gave_up)
      rc = gave_up_event(c, r->name, e);
    if (rc < 0)
      return rc;
    if (!is_cloud_ref(e) || json_is_true(json_object_get(e, "done"))) {
      if (json_array_remove(earlier, k) < 0)
        return SK_ENOMEM;
      continue;
    }
    *pending = true;
    rc = push_job_op(c, SK_CONTROLLER_OP_CANCEL_JOB, r->name, attempt, kind_of_ref(e),
                     record_body(c, r, record_step(c, r)), sk__jstr(e, "name"), false);
    if (rc < 0)
      return rc;
  }
  if (json_array_size(earlier) == 0)
    json_object_del(r->ref, "earlier");
  return 0;
}

int sk__cloud_sync(sk__rctx_t *c) {
  bool pending = false;
  for (size_t i = 0; i < c->st.nsteps; i++) {
    sk_step_status_t *r = &c->st.steps[i];
    int erc = sync_earlier(c, r, &pending);
    if (erc < 0)
      return erc;
    if (!is_cloud_ref(r->ref))
      continue;
    int attempt = ref_attempt(r->ref, r->attempt);
    const sk_controller_job_t *j = find_job(c, r->name, attempt);
    bool gave_up = false;
    int rc = update_ref(c, r->ref, j, &gave_up);
    if (rc == 0 && gave_up)
      rc = gave_up_event(c, r->name, r->ref);
    if (rc < 0)
      return rc;
    if (json_is_true(json_object_get(r->ref, "done")))
      continue;
    pending = true;
    const sk_step_t *step = record_step(c, r);
    json_t *body = record_body(c, r, step);
    const char *name = sk__jstr(r->ref, "name");
    bool running = r->phase == SK_PHASE_RUNNING && r->attempt == attempt;
    if (running) {
      json_t *fresh = json_object_get(c->fresh, r->name);
      bool started_now = json_is_integer(fresh) && json_integer_value(fresh) == attempt;
      rc = push_job_op(c, SK_CONTROLLER_OP_ENSURE_JOB, r->name, attempt, kind_of_ref(r->ref), body,
                       name, !started_now && !name);
    } else {
      rc = push_job_op(c, SK_CONTROLLER_OP_CANCEL_JOB, r->name, attempt, kind_of_ref(r->ref), body,
                       name, false);
    }
    if (rc < 0)
      return rc;
  }
  bool present = has_finalizer(c);
  if (sk_phase_is_final(c->st.phase))
    c->remove_finalizer = present && !pending;
  else
    c->add_finalizer = !present && has_cloud_step(c);
  return 0;
}

int sk__cloud_deleting(sk__rctx_t *c) {
  bool pending = false;
  for (size_t i = 0; i < c->st.nsteps; i++) {
    sk_step_status_t *r = &c->st.steps[i];
    /* Nothing is written on the way out: the earlier attempts' jobs are
     * cancelled from the stored list, and their news is not kept. */
    int erc = sync_earlier(c, r, &pending);
    if (erc < 0)
      return erc;
    if (!is_cloud_ref(r->ref) || json_is_true(json_object_get(r->ref, "done")))
      continue;
    int attempt = ref_attempt(r->ref, r->attempt);
    const sk_controller_job_t *j = find_job(c, r->name, attempt);
    if (j && job_ended(j)) {
      bool ended_itself = j->phase == SK_CONTROLLER_JOB_SUCCEEDED ||
                          j->phase == SK_CONTROLLER_JOB_FAILED ||
                          j->phase == SK_CONTROLLER_JOB_CANCELLED;
      if (j->cancel_gave_up && !ended_itself) {
        int rc = gave_up_event(c, r->name, r->ref);
        if (rc < 0)
          return rc;
      }
      continue;
    }
    pending = true;
    const char *name = j && j->name ? j->name : sk__jstr(r->ref, "name");
    int rc = push_job_op(c, SK_CONTROLLER_OP_CANCEL_JOB, r->name, attempt, kind_of_ref(r->ref),
                         record_body(c, r, record_step(c, r)), name, false);
    if (rc < 0)
      return rc;
  }
  c->remove_finalizer = !pending && has_finalizer(c);
  return 0;
}
