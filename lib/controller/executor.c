/*
 * Executors: how a step kind's attempts are carried out by skeind. The
 * table at the bottom is the one place a kind is wired in; a kind without
 * an executor of its own gets one that fails its attempts with a message
 * saying skeind cannot run it yet (resource and rollout steps come later);
 * the cloud job kinds' executor is in cloudexec.c.
 *
 * The pod executor is pure like the rest of the reconciler: a START
 * becomes a Pod to create and a STARTED observation naming it, a KILL a
 * Pod to delete, and a Running attempt is judged by its Pod (or the Pod's
 * tombstone, or the API server's refusal to create it).
 */
#include <stdio.h>
#include <string.h>

#include "controller/controller-int.h"
#include "util/error.h"

/* ---- pod ---- */

static json_t *pod_ref(const char *name) {
  return json_pack("{s:s, s:s}", "kind", "Pod", "name", name);
}

/* Queues the creation of pod (taken) under name. */
static int add_create(sk__rctx_t *c, const char *name, json_t *pod) {
  if (json_object_get(c->creates, name)) {
    json_decref(pod);
    return 0;
  }
  if (json_object_set_new(c->creates, name, pod) < 0 ||
      json_array_append_new(c->create_order, json_string(name)) < 0)
    return SK_ENOMEM;
  return 0;
}

typedef enum { NAME_FREE, NAME_OLD_RUN, NAME_TAKEN } name_holder_t;

/* Who else holds a Pod name: nobody; an earlier Workflow of the same name
 * (its Pods outlive it until garbage collection removes them: wait for
 * that, its deletion is an event for this Workflow's key); or something
 * that will not go away by itself. */
static name_holder_t name_holder(const sk__rctx_t *c, const char *name) {
  json_t *pod = json_object_get(c->foreign, name);
  if (!pod || json_object_get(c->pods, name))
    return NAME_FREE;
  const char *owner = NULL, *uid = NULL;
  if (sk_controller_pod_owner(pod, &owner, &uid) == 0 && owner && strcmp(owner, c->name) == 0)
    return NAME_OLD_RUN;
  return NAME_TAKEN;
}

static int fail_taken(sk__rctx_t *c, const char *instance, int attempt, const char *name) {
  char msg[256];
  snprintf(msg, sizeof(msg),
           "a Pod named %s already exists and this workflow does not control it; delete it "
           "or give the workflow another name",
           name);
  return sk__obs_push(c, SK_OBS_FAILED, instance, attempt, c->now, msg, NULL, NULL);
}

/* Builds and queues the Pod of (instance, attempt) from a templated body;
 * a Pod that cannot be built fails the attempt. */
static int make_pod(sk__rctx_t *c, const sk_step_t *step, const char *instance, int attempt,
                    json_t *body, bool started) {
  char err[SK_STATUS_MAX_MESSAGE];
  json_t *pod = NULL;
  int rc = sk_controller_build_pod(c->wf, step, instance, attempt, body, &pod, err, sizeof(err));
  if (rc == SK_ENOMEM)
    return rc;
  if (rc < 0)
    return sk__obs_push(c, SK_OBS_FAILED, instance, attempt, c->now, err, NULL, NULL);
  const char *name = sk__jstr(json_object_get(pod, "metadata"), "name");
  json_t *ref = started ? pod_ref(name) : NULL;
  if (started && !ref) {
    json_decref(pod);
    return SK_ENOMEM;
  }
  char copy[SK_CONTROLLER_NAME_MAX + 1];
  snprintf(copy, sizeof(copy), "%s", name);
  name_holder_t holder = name_holder(c, copy);
  if (holder == NAME_TAKEN) {
    json_decref(pod);
    json_decref(ref);
    return fail_taken(c, instance, attempt, copy);
  }
  if (holder == NAME_OLD_RUN)
    json_decref(pod);
  else
    rc = add_create(c, copy, pod);
  if (rc == 0 && started)
    return sk__obs_push(c, SK_OBS_STARTED, instance, attempt, c->now, NULL, NULL, ref);
  json_decref(ref);
  return rc;
}

static int pod_start(sk__rctx_t *c, const sk_action_t *act) {
  return make_pod(c, act->step, act->instance, act->attempt, act->body, true);
}

static int pod_kill(sk__rctx_t *c, const sk_action_t *act) {
  char name[SK_CONTROLLER_NAME_MAX + 1];
  int rc = sk_controller_pod_name(c->name, act->instance, act->attempt, name, sizeof(name));
  if (rc < 0)
    return rc == SK_ENOMEM ? rc : 0;
  /* The name may be held by a Pod this workflow does not control (its
   * own was never made): that one is not ours to stop. */
  if (name_holder(c, name) != NAME_FREE)
    return 0;
  return sk__set_add(c->kill_deletes, c->kill_order, name);
}

static const char *create_error(const sk__rctx_t *c, const char *name) {
  for (size_t i = 0; i < c->in->ncreate_errors; i++) {
    const sk_controller_create_error_t *e = &c->in->create_errors[i];
    if (e->pod && strcmp(e->pod, name) == 0)
      return e->message ? e->message : "";
  }
  return NULL;
}

static int pod_observe(sk__rctx_t *c, const sk_step_status_t *r, const sk_step_t *step) {
  (void)step;
  char name[SK_CONTROLLER_NAME_MAX + 1];
  if (sk__record_pod_name(c, r, name, sizeof(name)) < 0)
    return 0;
  json_t *pod = json_object_get(c->pods, name);
  bool gone = false;
  if (!pod) {
    pod = json_object_get(c->gone, name);
    gone = pod != NULL;
  }
  if (!pod) {
    if (name_holder(c, name) == NAME_TAKEN)
      return fail_taken(c, r->name, r->attempt, name);
    const char *refused = create_error(c, name);
    if (!refused)
      return 0;
    char msg[SK_STATUS_MAX_MESSAGE * 2];
    snprintf(msg, sizeof(msg), "the API server refused to create Pod %s%s%s", name,
             refused[0] ? ": " : "", refused);
    return sk__obs_push(c, SK_OBS_FAILED, r->name, r->attempt, c->now, msg, NULL, NULL);
  }
  sk_controller_pod_obs_t o;
  int rc = sk_controller_observe_pod(pod, gone, c->now, &o);
  if (rc < 0)
    return rc;
  switch (o.state) {
  case SK_CONTROLLER_POD_WAIT:
    sk__out_requeue(c->out, o.recheck_at_ms);
    break;
  case SK_CONTROLLER_POD_SUCCEEDED:
    rc = sk__obs_push(c, SK_OBS_SUCCEEDED, r->name, r->attempt, o.at_ms, NULL, o.outputs, NULL);
    o.outputs = NULL;
    break;
  case SK_CONTROLLER_POD_FAILED:
    rc = sk__obs_push(c, SK_OBS_FAILED, r->name, r->attempt, o.at_ms, o.message, NULL, NULL);
    break;
  }
  sk_controller_pod_obs_release(&o);
  return rc;
}

static int pod_ensure(sk__rctx_t *c, const sk_step_status_t *r, const sk_step_t *step) {
  char name[SK_CONTROLLER_NAME_MAX + 1];
  if (sk__record_pod_name(c, r, name, sizeof(name)) < 0)
    return 0;
  if (json_object_get(c->pods, name) || json_object_get(c->gone, name) ||
      json_object_get(c->creates, name) || name_holder(c, name) != NAME_FREE)
    return 0;
  /* Recorded as started, but there is no Pod: the start was never carried
   * out (or its Pod is not in the cache yet). The same name makes doing
   * it again safe. */
  char err[SK_STATUS_MAX_MESSAGE];
  json_t *body = NULL;
  int rc = sk_engine_render_body(c->wf, &c->st, r->name, &body, err, sizeof(err));
  if (rc == SK_ENOMEM)
    return rc;
  if (rc < 0)
    return sk__obs_push(c, SK_OBS_FAILED, r->name, r->attempt, c->now, err, NULL, NULL);
  rc = make_pod(c, step, r->name, r->attempt, body, false);
  json_decref(body);
  return rc;
}

static const sk__executor_t k_pod_executor = {pod_start, pod_kill, pod_observe, pod_ensure};

/* ---- kinds skeind cannot run yet ---- */

static int fail_unsupported(sk__rctx_t *c, const sk_step_t *step, const char *instance,
                            int attempt) {
  char msg[128];
  snprintf(msg, sizeof(msg), "%s steps are not supported by skeind yet",
           step ? sk_step_kind_name(step->kind) : "these");
  return sk__obs_push(c, SK_OBS_FAILED, instance, attempt, c->now, msg, NULL, NULL);
}

static int unsupported_start(sk__rctx_t *c, const sk_action_t *act) {
  return fail_unsupported(c, act->step, act->instance, act->attempt);
}

static int unsupported_kill(sk__rctx_t *c, const sk_action_t *act) {
  (void)c;
  (void)act;
  return 0;
}

static int unsupported_observe(sk__rctx_t *c, const sk_step_status_t *r, const sk_step_t *step) {
  return fail_unsupported(c, step, r->name, r->attempt);
}

static int unsupported_ensure(sk__rctx_t *c, const sk_step_status_t *r, const sk_step_t *step) {
  (void)c;
  (void)r;
  (void)step;
  return 0;
}

static const sk__executor_t k_unsupported = {unsupported_start, unsupported_kill,
                                             unsupported_observe, unsupported_ensure};

/* ---- the table ---- */

static const sk__executor_t *const k_executors[SK_STEP_KIND_COUNT] = {
    [SK_STEP_POD] = &k_pod_executor,
    [SK_STEP_VERTEX] = &sk__cloud_executor,
    [SK_STEP_SAGEMAKER] = &sk__cloud_executor,
};

const sk__executor_t *sk__executor_for(sk_step_kind_t kind) {
  if ((unsigned)kind < SK_STEP_KIND_COUNT && k_executors[kind])
    return k_executors[kind];
  return &k_unsupported;
}
