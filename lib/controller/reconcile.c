/*
 * sk_controller_reconcile: one pass over one Workflow (the contract and
 * the rules are in controller.h). The order:
 *
 *   index the Pods → read the status → (being deleted: stop Pods, done) →
 *   validate the spec (invalid: fail the workflow) → observe the running
 *   attempts → plan, carry out starts and kills, plan again with what they
 *   gave, until nothing new → podGC and ttl → compare the status → ops.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/controller-int.h"
#include "util/diag.h"
#include "util/error.h"

/* Plans in one reconcile. Each further plan is caused by an attempt that
 * failed at once (a Pod that cannot be built, a kind skeind cannot run),
 * which uses up a retry, so a workflow runs out of attempts long before. */
#define MAX_PLANS 10000

static void rctx_release(sk__rctx_t *c) {
  sk_workflow_destroy(c->wf);
  sk_wf_status_release(&c->st);
  json_decref(c->old_status);
  json_decref(c->pods);
  json_decref(c->gone);
  json_decref(c->foreign);
  json_decref(c->creates);
  json_decref(c->create_order);
  json_decref(c->kill_deletes);
  json_decref(c->kill_order);
  json_decref(c->gc_deletes);
  json_decref(c->gc_order);
  sk__obs_clear(c);
  free(c->obs);
  json_decref(c->fresh);
  sk__cloud_release(c);
}

/* Indexes this workflow's Pods by name; tombstones of Pods that are live
 * again (created anew under the same name) are left out. */
static int index_pods(sk__rctx_t *c) {
  for (size_t i = 0; i < c->in->npods; i++) {
    json_t *pod = c->in->pods[i];
    const char *name = sk__jstr(json_object_get(pod, "metadata"), "name");
    if (!name)
      continue;
    json_t *index = sk__pod_is_ours(c, pod) ? c->pods : c->foreign;
    if (json_object_set(index, name, pod) < 0)
      return SK_ENOMEM;
  }
  for (size_t i = 0; i < c->in->ngone; i++) {
    json_t *pod = c->in->gone_pods[i];
    const char *name = sk__jstr(json_object_get(pod, "metadata"), "name");
    if (name && !json_object_get(c->pods, name) && sk__pod_is_ours(c, pod) &&
        json_object_set(c->gone, name, pod) < 0)
      return SK_ENOMEM;
  }
  return 0;
}

static sk__pod_gc_t pod_gc_of(const char *s) {
  if (!s)
    return SK__GC_NEVER;
  if (strcmp(s, "OnPodSuccess") == 0)
    return SK__GC_ON_POD_SUCCESS;
  if (strcmp(s, "OnWorkflowSuccess") == 0)
    return SK__GC_ON_WORKFLOW_SUCCESS;
  if (strcmp(s, "OnWorkflowCompletion") == 0)
    return SK__GC_ON_WORKFLOW_COMPLETION;
  return SK__GC_NEVER;
}

/* podGC and ttl straight from the object, for a spec that did not
 * validate: they still say what the user wants done with what exists. */
static void raw_policies(sk__rctx_t *c) {
  json_t *spec = json_object_get(c->in->workflow, "spec");
  c->pod_gc = pod_gc_of(sk__jstr(spec, "podGC"));
  json_t *ttl = json_object_get(spec, "ttlSecondsAfterFinished");
  c->ttl_seconds = json_is_integer(ttl) && json_integer_value(ttl) >= 0 &&
                           json_integer_value(ttl) <= SK_SPEC_MAX_SECONDS * 100
                       ? (int64_t)json_integer_value(ttl)
                       : -1;
}

/* Validates the spec into c->wf. Returns 0 (c->wf set), SK_EINVALID with
 * *message set (new string), or SK_ENOMEM. */
static int load_spec(sk__rctx_t *c, char **message) {
  sk_diags_t d;
  sk_diags_init(&d);
  *message = NULL;
  int rc = sk_spec_workflow_from_json(c->in->workflow, NULL, &d, &c->wf);
  if (rc == SK_ENOMEM)
    goto done;
  if (rc == 0 && d.len == 0) {
    /* A required param without a value would fail the first step that
     * uses it; it is a problem of the spec, found before anything runs. */
    for (size_t i = 0; i < c->wf->nparams; i++) {
      if (c->wf->params[i].value)
        continue;
      char path[64];
      snprintf(path, sizeof(path), "spec.params[%zu].value", i);
      if (sk_diags_add(&d, NULL, 0, 0, path, "parameter \"%s\" is required and has no value",
                       c->wf->params[i].name) < 0) {
        rc = SK_ENOMEM;
        goto done;
      }
    }
  }
  if (rc < 0 || d.len > 0) {
    sk_workflow_destroy(c->wf);
    c->wf = NULL;
    *message = sk__invalid_message(&d);
    rc = *message ? SK_EINVALID : SK_ENOMEM;
  }
done:
  sk_diags_release(&d);
  return rc;
}

static const sk_step_t *step_of(const sk__rctx_t *c, const sk_step_status_t *r) {
  ssize_t s = sk_workflow_step_index(c->wf, r->step ? r->step : r->name);
  return s < 0 ? NULL : &c->wf->steps[s];
}

static bool is_running_leaf(const sk_step_status_t *r) {
  return r->phase == SK_PHASE_RUNNING && (r->index >= 0 || r->instances < 0);
}

/* Runs fn (an executor's observe or ensure) on every Running leaf record
 * of a step the workflow still has. */
static int each_running(sk__rctx_t *c, bool ensure) {
  for (size_t i = 0; i < c->st.nsteps; i++) {
    const sk_step_status_t *r = &c->st.steps[i];
    const sk_step_t *step = is_running_leaf(r) ? step_of(c, r) : NULL;
    if (!step)
      continue;
    const sk__executor_t *ex = sk__executor_for(step->kind);
    int rc = ensure ? ex->ensure(c, r, step) : ex->observe(c, r, step);
    if (rc < 0)
      return rc;
  }
  return 0;
}

static int plan_once(sk__rctx_t *c, sk_engine_out_t *eng) {
  sk_engine_obs_t *obs = c->nobs ? calloc(c->nobs, sizeof(*obs)) : NULL;
  if (c->nobs && !obs)
    return SK_ENOMEM;
  for (size_t i = 0; i < c->nobs; i++) {
    const sk__obs_t *o = &c->obs[i];
    obs[i] = (sk_engine_obs_t){o->kind, o->instance, o->attempt, o->at_ms,
                               o->message, o->outputs, o->ref};
  }
  sk_engine_ctx_t ctx = {c->now, SK_SHUTDOWN_NONE};
  int rc = sk_engine_plan(c->wf, &c->st, obs, c->nobs, &ctx, eng);
  free(obs);
  sk__obs_clear(c);
  return rc;
}

/* Observes, plans and carries out actions until a plan brings nothing new. */
static int run(sk__rctx_t *c) {
  sk_engine_out_t eng;
  sk_engine_out_init(&eng);
  size_t done = 0;
  int rc = each_running(c, false);
  for (int n = 0; rc == 0; n++) {
    if (n == MAX_PLANS) {
      rc = SK_ESTATE;
      break;
    }
    if ((rc = plan_once(c, &eng)) < 0)
      break;
    for (; rc == 0 && done < eng.nactions; done++) {
      const sk_action_t *act = &eng.actions[done];
      if (!act->step)
        continue;
      const sk__executor_t *ex = sk__executor_for(act->step->kind);
      rc = act->kind == SK_ACT_START ? ex->start(c, act) : ex->kill(c, act);
      if (rc == 0 && act->kind == SK_ACT_START && act->prev_ref)
        rc = sk__cloud_carry_earlier(c, act);
    }
    if (rc < 0 || c->nobs > 0)
      continue;
    if ((rc = each_running(c, true)) < 0 || c->nobs == 0)
      break;
  }
  if (rc == 0) {
    sk__out_requeue(c->out, eng.wake_at_ms);
    rc = sk__out_take_transitions(c->out, &eng);
  }
  sk_engine_out_release(&eng);
  return rc;
}

/* A create still wanted: its attempt is the Running one of its record. */
static bool create_wanted(const sk__rctx_t *c, json_t *pod) {
  const char *instance = NULL;
  int attempt = 0;
  if (!sk__pod_ident(pod, &instance, &attempt))
    return false;
  const sk_step_status_t *r = sk_wf_status_find(&c->st, instance);
  return r && r->phase == SK_PHASE_RUNNING && r->attempt == attempt;
}

static const char *uid_of(const sk__rctx_t *c, const char *name) {
  json_t *pod = json_object_get(c->pods, name);
  if (!pod)
    pod = json_object_get(c->gone, name);
  return sk__jstr(json_object_get(pod, "metadata"), "uid");
}

static int delete_ops(sk__rctx_t *c, json_t *order) {
  size_t i;
  json_t *v;
  json_array_foreach(order, i, v) {
    const char *name = json_string_value(v);
    int rc = sk__out_op(c->out, SK_CONTROLLER_OP_DELETE_POD, name, uid_of(c, name), NULL);
    if (rc < 0)
      return rc;
  }
  return 0;
}

/* Ops in their order: the finalizer that guards cloud jobs, stop what
 * must stop (freeing room), create and follow, then tidy up finished
 * Pods, release the finalizer, and the Workflow itself. */
static int emit_ops(sk__rctx_t *c) {
  int rc = 0;
  if (c->add_finalizer)
    rc = sk__out_op(c->out, SK_CONTROLLER_OP_ADD_FINALIZER, SK_CONTROLLER_FINALIZER, c->uid, NULL);
  if (rc == 0)
    rc = delete_ops(c, c->kill_order);
  if (rc == 0)
    rc = sk__cloud_emit(c, true);
  size_t i;
  json_t *v;
  json_array_foreach(c->create_order, i, v) {
    if (rc < 0)
      break;
    const char *name = json_string_value(v);
    json_t *pod = json_object_get(c->creates, name);
    if (create_wanted(c, pod))
      rc = sk__out_op(c->out, SK_CONTROLLER_OP_CREATE_POD, name, NULL, json_incref(pod));
  }
  if (rc == 0)
    rc = sk__cloud_emit(c, false);
  if (rc == 0)
    rc = delete_ops(c, c->gc_order);
  if (rc == 0 && c->remove_finalizer)
    rc = sk__out_op(c->out, SK_CONTROLLER_OP_REMOVE_FINALIZER, SK_CONTROLLER_FINALIZER, c->uid,
                    NULL);
  if (rc == 0 && c->delete_workflow)
    rc = sk__out_op(c->out, SK_CONTROLLER_OP_DELETE_WORKFLOW, c->name, c->uid, NULL);
  return rc;
}

static int reconcile(sk__rctx_t *c) {
  json_t *md = json_object_get(c->in->workflow, "metadata");
  int rc = index_pods(c);
  if (rc < 0)
    return rc;
  char err[SK_STATUS_MAX_MESSAGE];
  err[0] = '\0';
  rc = sk__status_load(c, err, sizeof(err));
  if (rc == SK_ENOMEM)
    return rc;
  bool unreadable = rc < 0;
  json_t *deleting = json_object_get(md, "deletionTimestamp");
  if (deleting && !json_is_null(deleting)) {
    /* Nothing is written to an object on its way out. The model is
     * only needed to address cloud jobs that must be cancelled. */
    c->out->phase = c->st.phase;
    char *invalid = NULL;
    if (!unreadable && load_spec(c, &invalid) == SK_ENOMEM)
      return SK_ENOMEM;
    free(invalid);
    rc = sk__gc_deleting(c);
    if (rc == 0)
      rc = sk__cloud_deleting(c);
    return rc == 0 ? emit_ops(c) : rc;
  }
  raw_policies(c);
  if (unreadable) {
    char msg[SK_STATUS_MAX_MESSAGE * 2];
    snprintf(msg, sizeof(msg), "the status cannot be read, so the run cannot go on: %s", err);
    rc = sk__status_fail(c, "StatusUnreadable", msg);
  } else {
    char *invalid = NULL;
    rc = load_spec(c, &invalid);
    if (rc == SK_EINVALID)
      rc = sk__status_fail(c, "InvalidSpec", invalid);
    free(invalid);
    if (rc == 0 && c->wf) {
      c->pod_gc = pod_gc_of(c->wf->pod_gc);
      c->ttl_seconds = c->wf->ttl_seconds_after_finished;
      if (sk_phase_is_final(c->st.phase)) {
        /* A finished run is history; it only acknowledges a new spec. */
        json_t *g = json_object_get(md, "generation");
        if (json_is_integer(g))
          c->st.observed_generation = (int64_t)json_integer_value(g);
      } else {
        rc = run(c);
      }
    }
  }
  if (rc == 0)
    rc = sk__cloud_sync(c);
  if (rc == 0)
    rc = sk__gc(c);
  if (rc == 0)
    rc = sk__status_finish(c);
  if (rc == 0)
    rc = emit_ops(c);
  return rc;
}

int sk_controller_reconcile(const sk_controller_in_t *in, sk_controller_out_t *out) {
  if (!in || !out || !json_is_object(in->workflow) || (in->npods && !in->pods) ||
      (in->ngone && !in->gone_pods) || (in->ncreate_errors && !in->create_errors) ||
      (in->njobs && !in->jobs))
    return SK_EINVAL;
  json_t *md = json_object_get(in->workflow, "metadata");
  const char *name = sk__jstr(md, "name");
  if (!name || !name[0])
    return SK_EINVAL;
  sk__rctx_t c;
  memset(&c, 0, sizeof(c));
  c.in = in;
  c.out = out;
  c.now = in->now_ms;
  c.name = name;
  c.ns = sk__jstr(md, "namespace") ? sk__jstr(md, "namespace") : "default";
  c.uid = sk__jstr(md, "uid");
  c.ttl_seconds = -1;
  sk_wf_status_init(&c.st);
  c.pods = json_object();
  c.gone = json_object();
  c.foreign = json_object();
  c.creates = json_object();
  c.create_order = json_array();
  c.kill_deletes = json_object();
  c.kill_order = json_array();
  c.gc_deletes = json_object();
  c.gc_order = json_array();
  c.fresh = json_object();
  int rc = SK_ENOMEM;
  if (c.pods && c.gone && c.foreign && c.creates && c.create_order && c.kill_deletes && c.kill_order &&
      c.gc_deletes && c.gc_order && c.fresh)
    rc = reconcile(&c);
  rctx_release(&c);
  if (rc < 0)
    sk_controller_out_release(out);
  return rc;
}
