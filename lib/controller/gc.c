/*
 * Which of the workflow's Pods go: running Pods whose attempt has ended,
 * podGC, ttlSecondsAfterFinished, and the Workflow's own deletion.
 *
 * Every rule here reads the status this reconcile ends with, and the
 * driver deletes only after writing that status (controller.h, rule 1),
 * so a Pod is never deleted before the status records what it did. Only
 * Pods that this Workflow controls are considered; a running Pod is
 * deleted only when the status proves its attempt is over (an older
 * attempt, or the same attempt ended, or the workflow finished), never
 * because the status does not know it: a status read from a stale cache
 * may not know an attempt started after it.
 */
#include <stdint.h>
#include <string.h>

#include "controller/controller-int.h"
#include "util/error.h"
#include "util/strutil.h"

bool sk__pod_is_ours(const sk__rctx_t *c, json_t *pod) {
  const char *name = NULL, *uid = NULL;
  if (sk_controller_pod_owner(pod, &name, &uid) < 0)
    return false;
  if (c->uid)
    return uid && strcmp(uid, c->uid) == 0;
  return name && strcmp(name, c->name) == 0;
}

bool sk__pod_ident(json_t *pod, const char **instance, int *attempt) {
  json_t *md = json_object_get(pod, "metadata");
  const char *inst = sk__jstr(json_object_get(md, "annotations"), SK_CONTROLLER_ANN_STEP);
  const char *att = sk__jstr(json_object_get(md, "labels"), SK_CONTROLLER_LABEL_ATTEMPT);
  int64_t n = 0;
  if (!inst || !att || sk_parse_int64(att, &n) < 0 || n < 1 || n > 1000000)
    return false;
  *instance = inst;
  *attempt = (int)n;
  return true;
}

bool sk__pod_finished(json_t *pod) {
  const char *phase = sk__jstr(json_object_get(pod, "status"), "phase");
  return phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
}

bool sk__pod_deleting(json_t *pod) {
  json_t *ts = json_object_get(json_object_get(pod, "metadata"), "deletionTimestamp");
  return ts && !json_is_null(ts);
}

int sk__record_pod_name(const sk__rctx_t *c, const sk_step_status_t *r, char *out,
                        size_t outlen) {
  return sk_controller_pod_name(c->name, r->name, r->attempt, out, outlen);
}

static const char *pod_name(json_t *pod) {
  return sk__jstr(json_object_get(pod, "metadata"), "name");
}

/* Whether a running Pod's attempt is over by the status. */
static bool attempt_over(const sk__rctx_t *c, json_t *pod) {
  if (sk_phase_is_final(c->st.phase))
    return true;
  const char *instance = NULL;
  int attempt = 0;
  if (!sk__pod_ident(pod, &instance, &attempt))
    return false;
  const sk_step_status_t *r = sk_wf_status_find(&c->st, instance);
  if (!r)
    return false;
  return attempt < r->attempt || (attempt == r->attempt && r->phase != SK_PHASE_RUNNING);
}

static bool gc_wants(const sk__rctx_t *c, json_t *pod) {
  switch (c->pod_gc) {
  case SK__GC_NEVER:
    return false;
  case SK__GC_ON_POD_SUCCESS: {
    const char *phase = sk__jstr(json_object_get(pod, "status"), "phase");
    return phase && strcmp(phase, "Succeeded") == 0;
  }
  case SK__GC_ON_WORKFLOW_SUCCESS:
    return c->st.phase == SK_PHASE_SUCCEEDED;
  case SK__GC_ON_WORKFLOW_COMPLETION:
    return sk_phase_is_final(c->st.phase);
  }
  return false;
}

/* The live Pods of this workflow, in the order the driver gave them (so
 * that ops come out in a stable order), each once. */
typedef int (*pod_fn)(sk__rctx_t *c, const char *name, json_t *pod);

static int each_pod(sk__rctx_t *c, pod_fn fn) {
  for (size_t i = 0; i < c->in->npods; i++) {
    json_t *pod = c->in->pods[i];
    const char *name = pod_name(pod);
    if (!name || json_object_get(c->pods, name) != pod)
      continue;
    int rc = fn(c, name, pod);
    if (rc < 0)
      return rc;
  }
  return 0;
}

static int gc_one(sk__rctx_t *c, const char *name, json_t *pod) {
  if (sk__pod_deleting(pod) || json_object_get(c->creates, name))
    return 0;
  if (!sk__pod_finished(pod) && attempt_over(c, pod))
    return sk__set_add(c->kill_deletes, c->kill_order, name);
  if (gc_wants(c, pod) && !json_object_get(c->kill_deletes, name))
    return sk__set_add(c->gc_deletes, c->gc_order, name);
  return 0;
}

static int ttl_one(sk__rctx_t *c, const char *name, json_t *pod) {
  if (sk__pod_deleting(pod) || json_object_get(c->kill_deletes, name))
    return 0;
  return sk__set_add(c->gc_deletes, c->gc_order, name);
}

int sk__gc(sk__rctx_t *c) {
  int rc = each_pod(c, gc_one);
  if (rc < 0 || !sk_phase_is_final(c->st.phase) || c->ttl_seconds < 0 ||
      c->st.finished_at_ms <= 0)
    return rc;
  /* A ttl too large to add up is a ttl that never passes. */
  if (c->ttl_seconds > (INT64_MAX - c->st.finished_at_ms) / 1000)
    return 0;
  int64_t at = c->st.finished_at_ms + c->ttl_seconds * 1000;
  if (at > c->now) {
    sk__out_requeue(c->out, at);
    return 0;
  }
  /* Garbage collection would delete the Pods with their owner, but it is
   * not running in every cluster: delete them first. */
  rc = each_pod(c, ttl_one);
  if (rc == 0)
    c->delete_workflow = true;
  return rc;
}

static int stop_one(sk__rctx_t *c, const char *name, json_t *pod) {
  if (sk__pod_deleting(pod) || sk__pod_finished(pod))
    return 0;
  return sk__set_add(c->kill_deletes, c->kill_order, name);
}

int sk__gc_deleting(sk__rctx_t *c) { return each_pod(c, stop_one); }
