/*
 * The workflow controller: where a Workflow enters skeind.
 *
 *   Workflow informer ─┐
 *                      ├─ keys ─▶ workqueue ─▶ reconcile(key)
 *   Pod informer ──────┘   (owner)               │
 *                                                 ▼
 *        sk_controller_reconcile(workflow, its Pods, now)  (pure)
 *                                                 │
 *                                                 ▼
 *     1. PUT /status (resourceVersion precondition)   — where status is written
 *     2. create / delete Pods, delete the Workflow    — where a step becomes a Pod
 *     3. Events; 4. requeue at the engine's wake time
 *
 * The order is controller.h's contract, which is what makes a restart,
 * a lost response or a stale cache harmless. Each key is reconciled by at
 * most one worker at a time (the workqueue's guarantee), so one
 * reconcile's calls never race another's for the same workflow.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon-int.h"
#include "util/error.h"
#include "util/log.h"
#include "util/timeutil.h"

#define LOGGER "controller"

static const sk_kube_gvr_t k_wf_gvr = {"skein.dev", "v1alpha1", "workflows"};
static const sk_kube_gvr_t k_pod_gvr = {"", "v1", "pods"};

/* Arguments of the gauges computed at scrape time. */
typedef struct {
  struct sk_daemon_ctrl *c;
  size_t phase; /* index in k_phases */
} phase_gauge_t;

/* The phases of the skein_workflows gauge; a Workflow without one yet is
 * Pending. */
static const char *const k_phases[] = {"Pending", "Running", "Succeeded", "Failed", "Cancelled"};
#define NPHASES (sizeof(k_phases) / sizeof(k_phases[0]))

struct sk_daemon_ctrl {
  sk_daemon_ctrl_opts_t o;
  phase_gauge_t phase_gauges[NPHASES];
  /* Workflows in the cache by phase, kept by the informer's handlers: the
   * cache holds text, and counting at every scrape would parse it all. */
  size_t wf_phases[NPHASES];
  char *ns;
  sk_kube_informer_t *wf_inf;
  sk_kube_informer_t *pod_inf;
  sk_kube_wq_t *queue;
  sk_daemon_index_t *index;
  sk_daemon_cloud_t *cloud;  /* cloud jobs; NULL without an HTTP client */
  bool stopping;
  size_t inflight;          /* reconciles between get and done */
  void (*stop_done)(void *arg);
  void *stop_arg;
  uv_timer_t prune_timer;
  bool prune_timer_open;
  /* metrics (NULL when there is no registry) */
  sk_metric_t *m_reconcile;
  sk_metric_t *m_queue_wait; /* skein_workqueue_wait_seconds */
  sk_metric_t *m_reconcile_errors;
  sk_metric_t *m_steps_started;
  sk_metric_t *m_steps_finished;
};

/* One reconcile in flight: the result being carried out. */
typedef struct {
  sk_daemon_ctrl_t *c;
  char key[SK_KUBE_WQ_MAX_KEY];
  char ns[256];
  char name[256];
  json_t *obj;              /* the Workflow reconciled (own reference) */
  sk_controller_out_t out;
  size_t pod_ops_left;      /* pod ops not yet answered */
  bool retry;               /* something failed that a requeue can fix */
  bool deleted_workflow;
  char rv[64];              /* the Workflow's latest resourceVersion we know */
  int64_t started_mono;
} recon_t;

static void finish(recon_t *r);

/* ---- small helpers ---- */

static void split_key(const char *key, char *ns, size_t nslen, char *name, size_t namelen) {
  const char *slash = strchr(key, '/');
  if (!slash) {
    snprintf(ns, nslen, "%s", "");
    snprintf(name, namelen, "%s", key);
    return;
  }
  snprintf(ns, nslen, "%.*s", (int)(slash - key), key);
  snprintf(name, namelen, "%s", slash + 1);
}

static void cloud_enqueue(const char *key, void *arg);

static void enqueue(sk_daemon_ctrl_t *c, const char *key) {
  if (!c->stopping)
    sk_kube_wq_add(c->queue, key);
}

/* A cloud job changed: its Workflow is reconciled, as for a Pod event. */
static void cloud_enqueue(const char *key, void *arg) { enqueue(arg, key); }

/* The spec step an instance belongs to, for the kind label of the step
 * metrics: the step of that name, else the fan-out step "<step>-<i>". */
static const char *step_kind(json_t *wf, const char *instance) {
  static const char *kinds[] = {"pod", "vertex", "sagemaker", "resource", "rollout"};
  json_t *spec = json_object_get(wf, "spec");
  const char *lists[] = {"steps", "finally"};
  for (int pass = 0; pass < 2; pass++) {
    for (size_t l = 0; l < 2; l++) {
      size_t i;
      json_t *s;
      json_array_foreach(json_object_get(spec, lists[l]), i, s) {
        const char *n = json_string_value(json_object_get(s, "name"));
        if (!n)
          continue;
        size_t len = strlen(n);
        bool match = pass == 0 ? strcmp(n, instance) == 0
                               : strncmp(n, instance, len) == 0 && instance[len] == '-';
        if (!match)
          continue;
        for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
          if (json_object_get(s, kinds[k]))
            return kinds[k];
      }
    }
  }
  return "unknown";
}

/* Whether instance is a fan-out parent in status (its record counts its
 * instances): its phase follows theirs, but it is no attempt of its own. */
static bool fanout_parent(json_t *status, const char *instance) {
  size_t i;
  json_t *rec;
  json_array_foreach(json_object_get(status, "steps"), i, rec) {
    const char *n = json_string_value(json_object_get(rec, "name"));
    if (n && strcmp(n, instance) == 0)
      return json_object_get(rec, "instances") != NULL;
  }
  return false;
}

/* One line per planned transition at -v 1; note says when the write that
 * carried them is not known to be stored. */
static void log_transitions(const recon_t *r, const char *note) {
  if (!sk_log_enabled(1))
    return;
  for (size_t i = 0; i < r->out.ntransitions; i++) {
    const sk_transition_t *t = &r->out.transitions[i];
    sk_log_v(1, LOGGER, "%s: step %s %s -> %s%s%s%s", r->key, t->instance,
             sk_phase_name(t->from), sk_phase_name(t->to), t->message ? ": " : "",
             t->message ? t->message : "", note ? note : "");
  }
}

static void count_transitions(sk_daemon_ctrl_t *c, recon_t *r) {
  log_transitions(r, NULL);
  for (size_t i = 0; i < r->out.ntransitions; i++) {
    const sk_transition_t *t = &r->out.transitions[i];
    if (!c->m_steps_started || fanout_parent(r->out.status, t->instance))
      continue;
    const char *kind = step_kind(r->obj, t->instance);
    if (t->to == SK_PHASE_RUNNING) {
      const char *v[] = {kind, NULL};
      sk_metric_inc(c->m_steps_started, v);
    } else if (sk_phase_is_final(t->to)) {
      const char *v[] = {kind, sk_phase_name(t->to), NULL};
      sk_metric_inc(c->m_steps_finished, v);
    }
  }
}

/* ---- carrying out a result ---- */

static void record_events(recon_t *r) {
  sk_daemon_ctrl_t *c = r->c;
  if (!c->o.recorder || r->out.nevents == 0)
    return;
  sk_kube_objref_t ref;
  if (sk_kube_objref_from(r->obj, &ref) < 0)
    return;
  for (size_t i = 0; i < r->out.nevents; i++) {
    const sk_controller_event_t *ev = &r->out.events[i];
    sk_kube_recorder_event(c->o.recorder, &ref,
                           strcmp(ev->type, "Warning") == 0 ? SK_KUBE_EVENT_WARNING
                                                            : SK_KUBE_EVENT_NORMAL,
                           ev->reason, ev->message);
  }
}

/* Only an answer of the API server can refuse a call. A transport failure
 * is worth another try whatever status line arrived before it (the
 * connection may break after "201 Created": the Pod exists, and the retry
 * meets AlreadyExists), and so are an unreadable answer, 429 and 5xx. */
bool sk_daemon_result_transient(const sk_kube_result_t *res) {
  if (res->err == SK_ENET || res->err == SK_ETIMEDOUT || res->err == SK_ECANCELED ||
      res->err == SK_EPARSE)
    return true;
  return res->code < 400 || res->code == 429 || res->code >= 500;
}

static void workflow_deleted(const sk_kube_result_t *res, void *arg) {
  recon_t *r = arg;
  if (res->err < 0 && res->code != 404 && res->code != 409) {
    sk_log_warn(LOGGER, "%s: delete after ttlSecondsAfterFinished: %s", r->key,
                res->message ? res->message : sk_strerror(res->err));
    r->retry = true;
  }
  finish(r);
}

static const sk_controller_op_t *find_op(const recon_t *r, sk_controller_op_kind_t kind) {
  for (size_t i = 0; i < r->out.nops; i++)
    if (r->out.ops[i].kind == kind)
      return &r->out.ops[i];
  return NULL;
}

/* The Workflow's finalizers with ours added or taken out, as a merge patch
 * that carries the resourceVersion we know: a concurrent change of the
 * list is a conflict (retried), never overwritten. */
static int patch_finalizers(recon_t *r, bool add, sk_kube_done_cb done) {
  json_t *fins = json_array();
  size_t i;
  json_t *v;
  json_array_foreach(json_object_get(json_object_get(r->obj, "metadata"), "finalizers"), i, v) {
    if (json_is_string(v) && strcmp(json_string_value(v), SK_CONTROLLER_FINALIZER) != 0)
      json_array_append(fins, v);
  }
  if (add)
    json_array_append_new(fins, json_string(SK_CONTROLLER_FINALIZER));
  json_t *md = json_pack("{s:o}", "finalizers", fins);
  if (md && r->rv[0])
    json_object_set_new(md, "resourceVersion", json_string(r->rv));
  json_t *patch = md ? json_pack("{s:o}", "metadata", md) : NULL;
  sk_kube_ref_t ref = {k_wf_gvr, r->ns, r->name, NULL};
  int rc = patch ? sk_kube_patch(r->c->o.client, &ref, SK_KUBE_PATCH_MERGE, patch, done, r, NULL)
                 : SK_ENOMEM;
  json_decref(patch);
  return rc;
}

static void delete_workflow_if_asked(recon_t *r);

static void finalizer_removed(const sk_kube_result_t *res, void *arg) {
  recon_t *r = arg;
  if (res->err < 0 && res->code != 404) {
    sk_log_v(1, LOGGER, "%s: removing finalizer: %s", r->key,
             res->message ? res->message : sk_strerror(res->err));
    r->retry = true;
  }
  delete_workflow_if_asked(r);
}

static void after_pod_ops(recon_t *r) {
  if (r->c->stopping) {
    finish(r);
    return;
  }
  /* The cloud jobs are cancelled or ended (the reconciler says so by
   * asking): the Workflow may go. */
  if (!r->retry && find_op(r, SK_CONTROLLER_OP_REMOVE_FINALIZER)) {
    if (patch_finalizers(r, false, finalizer_removed) == 0)
      return;
    r->retry = true;
  }
  delete_workflow_if_asked(r);
}

static void delete_workflow_if_asked(recon_t *r) {
  for (size_t i = 0; i < r->out.nops; i++) {
    const sk_controller_op_t *op = &r->out.ops[i];
    if (op->kind != SK_CONTROLLER_OP_DELETE_WORKFLOW || r->retry)
      continue;
    /* The Pods went first (there may be no garbage collector), and only
     * when they all went does the Workflow. */
    sk_kube_ref_t ref = {k_wf_gvr, r->ns, op->name, NULL};
    sk_kube_call_opts_t o = {0};
    o.precondition_uid = op->uid;
    r->deleted_workflow = true;
    if (sk_kube_delete(r->c->o.client, &ref, &o, workflow_deleted, r, NULL) == 0)
      return;
    r->retry = true;
  }
  finish(r);
}

typedef struct {
  recon_t *r;
  size_t op;
} op_call_t;

static void pod_op_done(const sk_kube_result_t *res, void *arg) {
  op_call_t *oc = arg;
  recon_t *r = oc->r;
  const sk_controller_op_t *op = &r->out.ops[oc->op];
  free(oc);
  sk_daemon_index_t *ix = r->c->index;
  if (op->kind == SK_CONTROLLER_OP_CREATE_POD) {
    if (res->err == 0 && res->body) {
      sk_daemon_index_pod_created(ix, r->key, res->body);
    } else if (res->code == 409) {
      /* AlreadyExists: the name is deterministic, so it is this attempt's Pod. */
    } else if (sk_daemon_result_transient(res)) {
      r->retry = true;
    } else {
      sk_log_warn(LOGGER, "%s: creating Pod %s was refused: %s", r->key, op->name,
                  res->message ? res->message : sk_strerror(res->err));
      sk_daemon_index_create_error(ix, r->key, op->name,
                                   res->message ? res->message : sk_strerror(res->err));
      r->retry = true;
    }
  } else {
    if (res->err == 0 || res->code == 404 || res->code == 409)
      sk_daemon_index_pod_deleted(ix, r->key, op->name);
    else
      r->retry = true;
  }
  if (--r->pod_ops_left == 0)
    after_pod_ops(r);
}

static void do_pod_ops(recon_t *r) {
  sk_daemon_ctrl_t *c = r->c;
  r->pod_ops_left = 1; /* held until every call is started */
  for (size_t i = 0; i < r->out.nops && !c->stopping; i++) {
    const sk_controller_op_t *op = &r->out.ops[i];
    if (op->kind != SK_CONTROLLER_OP_CREATE_POD && op->kind != SK_CONTROLLER_OP_DELETE_POD)
      continue;
    op_call_t *oc = malloc(sizeof(*oc));
    if (!oc) {
      r->retry = true;
      break;
    }
    oc->r = r;
    oc->op = i;
    sk_kube_ref_t ref = {k_pod_gvr, r->ns, NULL, NULL};
    int rc;
    if (op->kind == SK_CONTROLLER_OP_CREATE_POD) {
      rc = sk_kube_create(c->o.client, &ref, op->pod, pod_op_done, oc, NULL);
    } else {
      ref.name = op->name;
      sk_kube_call_opts_t o = {0};
      o.precondition_uid = op->uid;
      rc = sk_kube_delete(c->o.client, &ref, &o, pod_op_done, oc, NULL);
    }
    if (rc < 0) {
      free(oc);
      r->retry = true;
      continue;
    }
    r->pod_ops_left++;
  }
  /* Cloud jobs: handed to the tracker (no API call waits here). */
  if (c->cloud && !c->stopping)
    sk_daemon_cloud_apply(c->cloud, r->key, r->obj, &r->out);
  if (--r->pod_ops_left == 0)
    after_pod_ops(r);
}

static void finalizer_added(const sk_kube_result_t *res, void *arg) {
  recon_t *r = arg;
  if (res->err < 0) {
    /* No job may start unguarded: the ops wait for the next reconcile. */
    sk_log_v(1, LOGGER, "%s: adding finalizer: %s", r->key,
             res->message ? res->message : sk_strerror(res->err));
    r->retry = true;
    finish(r);
    return;
  }
  const char *rv = sk_kube_object_rv(res->body);
  if (rv)
    snprintf(r->rv, sizeof(r->rv), "%s", rv);
  do_pod_ops(r);
}

/* The ops after the status write: the finalizer first when asked (cloud
 * jobs only start on a Workflow that deletion cannot skip past), then
 * Pods and jobs. */
static void do_ops(recon_t *r) {
  if (!r->c->stopping && find_op(r, SK_CONTROLLER_OP_ADD_FINALIZER)) {
    if (patch_finalizers(r, true, finalizer_added) == 0)
      return;
    r->retry = true;
    finish(r);
    return;
  }
  do_pod_ops(r);
}

static void status_written(const sk_kube_result_t *res, void *arg) {
  recon_t *r = arg;
  if (res->err < 0) {
    /* Rule 1: no op and no event after a failed write. A conflict means
     * the cache is behind; the informer brings the newer object (and a
     * key) soon, and the rate-limited requeue covers a lost event. */
    if (res->code == 409) {
      sk_log_v(1, LOGGER, "%s: status write conflict, will retry", r->key);
    } else {
      sk_log_warn(LOGGER, "%s: writing status failed: %s", r->key,
                  res->message ? res->message : sk_strerror(res->err));
      /* With no answer, or a 5xx, the write may still have been stored,
       * and then no later reconcile plans these transitions again: without
       * this line the log would never show them. Metrics are not counted
       * here, so a write that was not stored does not count twice. */
      if (sk_daemon_result_transient(res) && res->code != 429)
        log_transitions(r, " (status write not confirmed)");
    }
    r->retry = true;
    r->out.requeue_at_ms = 0;
    finish(r);
    return;
  }
  sk_daemon_index_written(r->c->index, r->key, sk_kube_object_rv(r->obj), res->body);
  const char *rv = sk_kube_object_rv(res->body);
  if (rv)
    snprintf(r->rv, sizeof(r->rv), "%s", rv);
  count_transitions(r->c, r);
  record_events(r);
  do_ops(r);
}

/* The Workflow with the new status, for PUT /status (new reference). */
static json_t *with_status(json_t *obj, json_t *status) {
  json_t *copy = json_copy(obj);
  if (!copy || json_object_set(copy, "status", status) < 0) {
    json_decref(copy);
    return NULL;
  }
  return copy;
}

/* Transitions are logged and counted only once stored: a write that
 * fails is planned again, and its transitions would count twice. */
static void carry_out(recon_t *r) {
  if (!r->out.status) {
    count_transitions(r->c, r);
    record_events(r);
    do_ops(r);
    return;
  }
  json_t *body = with_status(r->obj, r->out.status);
  sk_kube_ref_t ref = {k_wf_gvr, r->ns, r->name, NULL};
  if (!body || sk_kube_update_status(r->c->o.client, &ref, body, status_written, r, NULL) < 0) {
    r->retry = true;
    json_decref(body);
    finish(r);
    return;
  }
  json_decref(body);
}

static void finish(recon_t *r) {
  sk_daemon_ctrl_t *c = r->c;
  if (!c->stopping) {
    if (r->retry) {
      int64_t delay = 0;
      sk_kube_wq_add_rate_limited(c->queue, r->key, &delay);
      if (c->m_reconcile_errors)
        sk_metric_inc(c->m_reconcile_errors, NULL);
    } else {
      sk_kube_wq_forget(c->queue, r->key);
      if (r->out.requeue_at_ms > 0 && !r->deleted_workflow)
        sk_kube_wq_add_after(c->queue, r->key, r->out.requeue_at_ms);
    }
  }
  if (c->m_reconcile)
    sk_metric_observe(c->m_reconcile, NULL,
                      (double)(sk_time_mono_ms() - r->started_mono) / 1000.0);
  sk_kube_wq_done(c->queue, r->key);
  sk_controller_out_release(&r->out);
  json_decref(r->obj);
  free(r);
  c->inflight--;
  if (c->stopping && c->inflight == 0 && c->stop_done) {
    void (*done)(void *) = c->stop_done;
    c->stop_done = NULL;
    done(c->stop_arg);
  }
}

/* ---- the queue's handler ---- */

static void reconcile_key(sk_kube_wq_t *q, const char *key, void *arg) {
  sk_daemon_ctrl_t *c = arg;
  if (c->stopping) {
    sk_kube_wq_done(q, key);
    return;
  }
  json_t *cached = NULL;
  int rc = sk_kube_informer_get(c->wf_inf, key, &cached);
  if (rc == SK_ENOENT) {
    /* Deleted: nothing to reconcile, nothing to remember. Unless the
     * Workflows are not listed yet: a Pod's key comes first when the Pods
     * list does, and forgetting its Pods then would hide them from the
     * reconcile after the Workflow list (which enqueues the key again):
     * a Pod that had already finished would never be seen. */
    if (sk_kube_informer_has_synced(c->wf_inf)) {
      sk_daemon_index_forget(c->index, key);
      if (c->cloud)
        sk_daemon_cloud_workflow_gone(c->cloud, key);
    }
    sk_kube_wq_forget(q, key);
    sk_kube_wq_done(q, key);
    return;
  }
  recon_t *r = rc == 0 ? calloc(1, sizeof(*r)) : NULL;
  if (!r) {
    json_decref(cached);
    sk_kube_wq_add_rate_limited(q, key, NULL);
    sk_kube_wq_done(q, key);
    return;
  }
  r->c = c;
  r->started_mono = sk_time_mono_ms();
  snprintf(r->key, sizeof(r->key), "%s", key);
  split_key(key, r->ns, sizeof(r->ns), r->name, sizeof(r->name));
  r->obj = json_incref(sk_daemon_index_current(c->index, key, cached));
  json_decref(cached);
  const char *rv = sk_kube_object_rv(r->obj);
  snprintf(r->rv, sizeof(r->rv), "%s", rv ? rv : "");
  sk_controller_out_init(&r->out);
  c->inflight++;

  sk_daemon_inputs_t inputs;
  rc = sk_daemon_index_inputs(c->index, key, &inputs);
  if (rc == 0) {
    sk_controller_in_t in = {0};
    in.workflow = r->obj;
    in.pods = inputs.pods;
    in.npods = inputs.npods;
    in.gone_pods = inputs.gone;
    in.ngone = inputs.ngone;
    in.create_errors = inputs.errors;
    in.ncreate_errors = inputs.nerrors;
    in.now_ms = sk_time_now_ms();
    sk_controller_job_t *jobs = NULL;
    if (c->cloud)
      rc = sk_daemon_cloud_inputs(c->cloud, key, &jobs, &in.njobs);
    in.jobs = jobs;
    if (rc == 0)
      rc = sk_controller_reconcile(&in, &r->out);
    free(jobs);
    sk_daemon_inputs_release(&inputs);
  }
  if (rc < 0) {
    sk_log_error(LOGGER, "%s: reconcile failed: %s", key, sk_strerror(rc));
    r->retry = true;
    finish(r);
    return;
  }
  carry_out(r);
}

/* ---- informer handlers: everything becomes a key ---- */

/* Adds d to the count of wf's phase (a phase not in k_phases is not
 * counted). */
static void count_phase(sk_daemon_ctrl_t *c, json_t *wf, int d) {
  const char *p = json_string_value(json_object_get(json_object_get(wf, "status"), "phase"));
  for (size_t i = 0; i < NPHASES; i++) {
    if (strcmp(p ? p : "Pending", k_phases[i]) != 0)
      continue;
    if (d > 0)
      c->wf_phases[i]++;
    else if (c->wf_phases[i] > 0)
      c->wf_phases[i]--;
    return;
  }
}

static void enqueue_obj(sk_daemon_ctrl_t *c, json_t *obj) {
  char key[SK_KUBE_WQ_MAX_KEY];
  if (sk_kube_object_key(obj, key, sizeof(key)) == 0)
    enqueue(c, key);
}

/* The informer hands over each cache change (old: what the cache held),
 * so the counts follow the cache exactly. */
static void wf_add(sk_kube_informer_t *inf, json_t *obj, void *arg) {
  count_phase(arg, obj, 1);
  enqueue_obj(arg, obj);
}

static void wf_update(sk_kube_informer_t *inf, json_t *old_obj, json_t *new_obj, void *arg) {
  sk_daemon_ctrl_t *c = arg;
  count_phase(c, old_obj, -1);
  count_phase(c, new_obj, 1);
  char key[SK_KUBE_WQ_MAX_KEY];
  if (sk_kube_object_key(new_obj, key, sizeof(key)) < 0)
    return;
  sk_daemon_index_cache_moved(c->index, key, sk_kube_object_rv(new_obj));
  enqueue(c, key);
}

static void wf_delete(sk_kube_informer_t *inf, json_t *obj, void *arg) {
  count_phase(arg, obj, -1);
  enqueue_obj(arg, obj);
}

static void pod_add(sk_kube_informer_t *inf, json_t *obj, void *arg) {
  sk_daemon_ctrl_t *c = arg;
  char key[SK_KUBE_WQ_MAX_KEY];
  if (sk_daemon_pod_workflow_key(obj, key, sizeof(key)) < 0)
    return;
  sk_daemon_index_pod_seen(c->index, key, obj);
  enqueue(c, key);
}

static void pod_update(sk_kube_informer_t *inf, json_t *old_obj, json_t *new_obj, void *arg) {
  pod_add(inf, new_obj, arg);
}

static void pod_delete(sk_kube_informer_t *inf, json_t *obj, void *arg) {
  sk_daemon_ctrl_t *c = arg;
  char key[SK_KUBE_WQ_MAX_KEY];
  if (sk_daemon_pod_workflow_key(obj, key, sizeof(key)) < 0)
    return;
  sk_daemon_index_pod_gone(c->index, key, obj, sk_time_now_ms());
  enqueue(c, key);
}

static void synced(sk_kube_informer_t *inf, void *arg) {
  sk_daemon_ctrl_t *c = arg;
  sk_log_info(LOGGER, "%s cache synced (%zu objects, %zu KB)",
              inf == c->wf_inf ? "workflow" : "pod", sk_kube_informer_count(inf),
              sk_kube_informer_bytes(inf) / 1024);
}

static void prune(uv_timer_t *t) {
  sk_daemon_ctrl_t *c = t->data;
  sk_daemon_index_prune(c->index, sk_time_now_ms());
}

/* ---- metrics read at scrape time ---- */

static double queue_depth(void *arg) {
  sk_daemon_ctrl_t *c = arg;
  return (double)sk_kube_wq_len(c->queue);
}

static double queue_longest_wait(void *arg) {
  sk_daemon_ctrl_t *c = arg;
  sk_kube_wq_stats_t st;
  sk_kube_wq_stats(c->queue, &st);
  return (double)st.latency_max_ms / 1000.0;
}

/* Each key's time in the queue, from the queue's driver. */
static void queue_waited(int64_t latency_ms, void *arg) {
  sk_daemon_ctrl_t *c = arg;
  if (c->m_queue_wait)
    sk_metric_observe(c->m_queue_wait, NULL, (double)latency_ms / 1000.0);
}

static double workflows_in_phase(void *arg) {
  phase_gauge_t *g = arg;
  return (double)g->c->wf_phases[g->phase];
}

static void register_metrics(sk_daemon_ctrl_t *c) {
  sk_metrics_t *m = c->o.metrics;
  if (!m)
    return;
  static const double secs[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                0.1,   0.25,   0.5,   1,    2.5,   10};
  const char *none[] = {NULL};
  const char *kind[] = {"kind", NULL};
  const char *kind_result[] = {"kind", "result", NULL};
  const char *phase[] = {"phase", NULL};
  sk_metrics_histogram(m, "skein_reconcile_duration_seconds",
                       "Time to reconcile one Workflow, API calls included.", none, secs,
                       sizeof(secs) / sizeof(secs[0]), &c->m_reconcile);
  sk_metrics_counter(m, "skein_reconcile_errors_total",
                     "Reconciles that ended in a retry (a failed write or call).", none,
                     &c->m_reconcile_errors);
  sk_metrics_counter(m, "skein_steps_started_total", "Step attempts started, by step kind.",
                     kind, &c->m_steps_started);
  sk_metrics_counter(m, "skein_steps_finished_total",
                     "Step instances finished, by step kind and final phase.", kind_result,
                     &c->m_steps_finished);
  sk_metric_t *depth = NULL, *wf = NULL;
  if (sk_metrics_gauge_fn(m, "skein_workqueue_depth", "Workflow keys waiting to be reconciled.",
                          none, &depth) == 0)
    sk_metric_set_fn(depth, NULL, queue_depth, c);
  /* Delays reach minutes (backoff, rate limit), so the buckets do too. */
  static const double waits[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                 0.5,   1,     2.5,  5,     10,   30,  60};
  sk_metrics_histogram(m, "skein_workqueue_wait_seconds",
                       "Time a Workflow key waited in the queue before its reconcile.", none,
                       waits, sizeof(waits) / sizeof(waits[0]), &c->m_queue_wait);
  sk_metric_t *longest = NULL;
  if (sk_metrics_gauge_fn(m, "skein_workqueue_longest_wait_seconds",
                          "Longest time a Workflow key waited in the queue since start.", none,
                          &longest) == 0)
    sk_metric_set_fn(longest, NULL, queue_longest_wait, c);
  if (sk_metrics_gauge_fn(m, "skein_workflows", "Workflows in the cache, by phase.", phase,
                          &wf) == 0) {
    for (size_t i = 0; i < NPHASES; i++) {
      c->phase_gauges[i].c = c;
      c->phase_gauges[i].phase = i;
      const char *v[] = {k_phases[i], NULL};
      sk_metric_set_fn(wf, v, workflows_in_phase, &c->phase_gauges[i]);
    }
  }
}

/* ---- life cycle ---- */

int sk_daemon_ctrl_create(const sk_daemon_ctrl_opts_t *opts, sk_daemon_ctrl_t **out) {
  sk_daemon_ctrl_t *c = calloc(1, sizeof(*c));
  if (!c)
    return SK_ENOMEM;
  c->o = *opts;
  if (opts->namespace && !(c->ns = strdup(opts->namespace)))
    goto fail;
  c->o.namespace = c->ns;
  c->index = sk_daemon_index_create();
  sk_kube_wq_opts_t qo = {0};
  qo.name = "workflows";
  c->queue = sk_kube_wq_create(&qo);
  sk_kube_informer_opts_t wo = {0};
  wo.gvr = k_wf_gvr;
  wo.namespace = c->ns;
  /* Nothing here reads managedFields, and they are most of what a cached
   * object costs in memory. */
  wo.strip_managed_fields = true;
  /* A list page is parsed whole before the informer turns it into text:
   * 500 Workflows are ~20 MB of jansson trees for a moment, more than
   * 10,000 of them take cached, and the heap keeps that peak. */
  wo.page_size = 100;
  sk_kube_handlers_t wh = {wf_add, wf_update, wf_delete, synced, c};
  c->wf_inf = sk_kube_informer_create(opts->client, &wo, &wh);
  sk_kube_informer_opts_t po = {0};
  po.gvr = k_pod_gvr;
  po.namespace = c->ns;
  po.label_selector = SK_CONTROLLER_LABEL_WORKFLOW;
  po.strip_managed_fields = true;
  /* With podGC Never every Pod of every Workflow stays cached, and the
   * index holds each as the handlers saw it: keep only what is read. */
  po.transform = sk_controller_pod_trim;
  po.page_size = 100;
  sk_kube_handlers_t ph = {pod_add, pod_update, pod_delete, synced, c};
  c->pod_inf = sk_kube_informer_create(opts->client, &po, &ph);
  if (!c->index || !c->queue || !c->wf_inf || !c->pod_inf)
    goto fail;
  if (opts->http) {
    sk_daemon_cloud_opts_t co = {opts->loop,          opts->http,           opts->client,
                                 opts->metrics,       opts->gcp_project,    opts->aws_region,
                                 opts->vertex_qps,    opts->sagemaker_qps,  cloud_enqueue,
                                 c};
    if (sk_daemon_cloud_create(&co, &c->cloud) < 0)
      goto fail;
  }
  register_metrics(c);
  *out = c;
  return 0;
fail:
  sk_daemon_ctrl_destroy(c);
  return SK_ENOMEM;
}

int sk_daemon_ctrl_start(sk_daemon_ctrl_t *c) {
  sk_kube_wq_driver_t d = {c->o.workers ? c->o.workers : 4, reconcile_key, NULL, c, queue_waited};
  int rc = sk_kube_wq_attach(c->queue, c->o.loop, &d);
  if (rc < 0)
    return rc;
  if ((rc = uv_timer_init(c->o.loop, &c->prune_timer)) < 0)
    return SK_EIO;
  c->prune_timer_open = true;
  c->prune_timer.data = c;
  uv_timer_start(&c->prune_timer, prune, 60000, 60000);
  /* Pods first: a Workflow reconciled before its Pods are known would
   * re-create them (harmless, AlreadyExists, but wasted calls). */
  if ((rc = sk_kube_informer_start(c->pod_inf)) < 0 ||
      (rc = sk_kube_informer_start(c->wf_inf)) < 0)
    return rc;
  return 0;
}

bool sk_daemon_ctrl_synced(const sk_daemon_ctrl_t *c) {
  return sk_kube_informer_has_synced(c->wf_inf) && sk_kube_informer_has_synced(c->pod_inf);
}

void sk_daemon_ctrl_stop(sk_daemon_ctrl_t *c, void (*done)(void *arg), void *arg) {
  c->stopping = true;
  sk_kube_informer_stop(c->wf_inf);
  sk_kube_informer_stop(c->pod_inf);
  sk_kube_wq_shutdown(c->queue, false);
  if (c->prune_timer_open)
    uv_timer_stop(&c->prune_timer);
  if (c->inflight == 0) {
    if (done)
      done(arg);
    return;
  }
  c->stop_done = done;
  c->stop_arg = arg;
}

static void ctrl_free(uv_handle_t *h) { free(h->data); }

void sk_daemon_ctrl_destroy(sk_daemon_ctrl_t *c) {
  if (!c)
    return;
  sk_daemon_cloud_destroy(c->cloud);
  sk_kube_informer_destroy(c->wf_inf);
  sk_kube_informer_destroy(c->pod_inf);
  sk_kube_wq_destroy(c->queue);
  sk_daemon_index_destroy(c->index);
  free(c->ns);
  if (c->prune_timer_open) {
    c->prune_timer.data = c;
    uv_close((uv_handle_t *)&c->prune_timer, ctrl_free);
    return;
  }
  free(c);
}
