/*
 * A fake cluster for reconcile tests: one Workflow object, its Pods, a
 * fake clock, and counters of the API writes a driver would make. Each
 * reconcile's result is applied the way controller.h says a driver must:
 * the status first, then the ops in order (AlreadyExists and NotFound
 * count as success), then the events. A Pod is created Pending; tests move
 * it on (running, succeeded with a termination message, failed), or
 * delete it behind the controller's back (a tombstone).
 *
 * Included by the test_controller_*.c files; everything is static.
 */
#ifndef TEST_CONTROLLER_SIM_H
#define TEST_CONTROLLER_SIM_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/controller.h"
#include "sk_test.h"
#include "util/buf.h"
#include "util/diag.h"
#include "util/error.h"
#include "util/strutil.h"
#include "util/timeutil.h"
#include "yaml/yaml.h"

/* 2026-01-01T00:00:00Z */
#define T0 1767225600000LL
#define SEC(x) ((int64_t)(x) * 1000)

#define WF_HEAD                                                                            \
  "apiVersion: skein.dev/v1alpha1\n"                                                       \
  "kind: Workflow\n"                                                                       \
  "metadata: {name: wf, namespace: ml}\n"                                                  \
  "spec:\n"

/* Not every test file uses every helper. */
#define SIM static __attribute__((unused))

/* Parses JSON written with ' for " (new reference; NULL and a failure when
 * it does not parse). */
SIM json_t *J(const char *text) {
  char *s = strdup(text);
  for (char *p = s; p && *p; p++)
    if (*p == '\'')
      *p = '"';
  json_error_t err;
  json_t *v = s ? json_loads(s, JSON_DECODE_ANY, &err) : NULL;
  if (!v)
    FAILF("test JSON does not parse: %s: %s", err.text, text);
  free(s);
  return v;
}

/* Compares two JSON values, printing both when they differ. */
SIM int json_same(json_t *got, json_t *want, const char *what) {
  if (got && want && json_equal(got, want))
    return 1;
  char *g = got ? json_dumps(got, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
  char *w = want ? json_dumps(want, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
  FAILF("%s differs:\n--- got\n%s\n--- want\n%s", what, g ? g : "(null)", w ? w : "(null)");
  free(g);
  free(w);
  return 0;
}


typedef struct cluster {
  json_t *wf;          /* the Workflow as stored */
  json_t *pods;        /* name → Pod */
  json_t *order;       /* Pod names in creation order */
  json_t *gone;        /* name → last state of a deleted Pod */
  int64_t now;
  int reconciles;
  int status_writes;
  int creates;
  int already_exists;
  int deletes;
  int not_found;
  int events;
  bool wf_deleted;
  int64_t requeue_at;  /* of the last reconcile */
  int pod_seq;
  sk_buf_t log;        /* "create NAME", "delete NAME", "event Reason: msg", ... */
  json_t *created;     /* name → the Pod as first created (before the kubelet) */
  sk_controller_create_error_t refuse;  /* a create the "API server" refuses, once */
  char *refused_msg;
  /* A fake job tracker and cloud (cloud steps): the tracker's view goes
   * to the reconciler in in.jobs; the cloud outlives a tracker restart. */
  json_t *jobs;        /* "instance/attempt" → {phase, name, state, message, outputs,
                          cancel_done, cancel_gave_up} (what in.jobs says) */
  json_t *cloud;       /* "instance/attempt" → job name: the jobs that exist */
  int job_creates;     /* jobs created in the cloud */
  int job_adopts;      /* ensures that found the job instead of creating it */
  int job_cancels;     /* cancel requests that reached a job */
  bool cancel_refused; /* the cloud refuses cancels: the tracker gives up */
  bool cancel_slow;    /* the cloud has not answered cancels yet: they stay pending */
  int finalizer_adds;
  int finalizer_removes;
  int job_changes;     /* tracker ops that changed something (settle's measure) */
} cluster_t;

/* The Workflow object of a YAML body under WF_HEAD, as the API server
 * returns it (uid, generation, creationTimestamp). */
SIM json_t *wf_object(const char *body) {
  sk_buf_t text;
  sk_buf_init(&text, 1 << 20);
  sk_buf_puts(&text, WF_HEAD);
  sk_buf_puts(&text, body);
  sk_diags_t d;
  sk_diags_init(&d);
  sk_yaml_doc_t **docs = NULL;
  size_t ndocs = 0;
  json_t *obj = NULL;
  if (sk_yaml_parse(text.data, text.len, "case.yaml", &d, &docs, &ndocs) == 0 && ndocs == 1)
    obj = json_deep_copy(sk_yaml_doc_root(docs[0]));
  if (!obj) {
    FAILF("workflow YAML does not parse:\n%s", text.data);
    sk_diags_print(&d, stdout);
  } else {
    json_t *md = json_object_get(obj, "metadata");
    json_object_set_new(md, "uid", json_string("wf-uid"));
    json_object_set_new(md, "generation", json_integer(1));
    json_object_set_new(md, "resourceVersion", json_string("1"));
    json_object_set_new(md, "creationTimestamp", json_string("2026-01-01T00:00:00Z"));
  }
  if (docs)
    sk_yaml_docs_destroy(docs, ndocs);
  sk_diags_release(&d);
  sk_buf_release(&text);
  return obj;
}

SIM void cluster_init(cluster_t *k, const char *body) {
  memset(k, 0, sizeof(*k));
  k->wf = wf_object(body);
  k->pods = json_object();
  k->order = json_array();
  k->gone = json_object();
  k->created = json_object();
  k->jobs = json_object();
  k->cloud = json_object();
  k->now = T0;
  sk_buf_init(&k->log, 1 << 22);
}

SIM void cluster_release(cluster_t *k) {
  json_decref(k->wf);
  json_decref(k->pods);
  json_decref(k->order);
  json_decref(k->gone);
  json_decref(k->created);
  json_decref(k->jobs);
  json_decref(k->cloud);
  free(k->refused_msg);
  sk_buf_release(&k->log);
}

/* The stored status's field, or the phase of record `inst` ("" when none). */
SIM const char *wf_phase(const cluster_t *k) {
  const char *p = json_string_value(json_object_get(json_object_get(k->wf, "status"), "phase"));
  return p ? p : "";
}

SIM json_t *record(const cluster_t *k, const char *inst) {
  size_t i;
  json_t *r;
  json_array_foreach(json_object_get(json_object_get(k->wf, "status"), "steps"), i, r) {
    const char *n = json_string_value(json_object_get(r, "name"));
    if (n && strcmp(n, inst) == 0)
      return r;
  }
  return NULL;
}

SIM const char *rec_str(const cluster_t *k, const char *inst, const char *field) {
  const char *s = json_string_value(json_object_get(record(k, inst), field));
  return s ? s : "";
}

SIM long long rec_int(const cluster_t *k, const char *inst, const char *field) {
  return (long long)json_integer_value(json_object_get(record(k, inst), field));
}

SIM const char *rec_output(const cluster_t *k, const char *inst, const char *name) {
  const char *s =
      json_string_value(json_object_get(json_object_get(record(k, inst), "outputs"), name));
  return s ? s : "";
}

SIM json_t *pod_of(const cluster_t *k, const char *name) {
  return json_object_get(k->pods, name);
}

SIM size_t live_pods(const cluster_t *k) { return json_object_size(k->pods); }

/* Pods not yet finished. */
SIM size_t running_pods(const cluster_t *k) {
  size_t n = 0;
  const char *name;
  json_t *p;
  json_object_foreach(k->pods, name, p) {
    const char *ph = json_string_value(json_object_get(json_object_get(p, "status"), "phase"));
    if (!ph || (strcmp(ph, "Succeeded") != 0 && strcmp(ph, "Failed") != 0))
      n++;
  }
  return n;
}

/* ---- the fake job tracker and cloud ---- */

SIM void job_key(char *out, size_t len, const char *instance, int attempt) {
  snprintf(out, len, "%s/%d", instance, attempt);
}

SIM json_t *job_of(const cluster_t *k, const char *instance, int attempt) {
  char key[128];
  job_key(key, sizeof(key), instance, attempt);
  return json_object_get(k->jobs, key);
}

/* The tracker as jobs.h describes it: a known job is left alone; a named
 * one is resumed; adopt_first (or no_create for a cancel) looks in the
 * cloud first; otherwise the job is created, and named at once. */
SIM void apply_job_op(cluster_t *k, const sk_controller_op_t *op) {
  char key[128];
  job_key(key, sizeof(key), op->name, op->attempt);
  bool cancel = op->kind == SK_CONTROLLER_OP_CANCEL_JOB;
  json_t *j = json_object_get(k->jobs, key);
  if (!j) {
    const char *existing = json_string_value(json_object_get(k->cloud, key));
    if (op->job_name || (existing && (op->adopt_first || cancel))) {
      if (!op->job_name)
        k->job_adopts++;
      j = json_pack("{s:s, s:s, s:s}", "phase", "RUNNING", "name",
                    op->job_name ? op->job_name : existing, "state", "RUNNING");
    } else if (cancel) {
      j = json_pack("{s:s, s:b}", "phase", "CANCELLED", "cancel_done", 1);
    } else {
      char name[160];
      snprintf(name, sizeof(name), "job-%s", key);
      json_object_set_new(k->cloud, key, json_string(name));
      k->job_creates++;
      sk_buf_printf(&k->log, "job create %s%s\n", key, op->adopt_first ? " (after a lookup)" : "");
      j = json_pack("{s:s, s:s, s:s}", "phase", "RUNNING", "name", name, "state", "QUEUED");
    }
    json_object_set_new(k->jobs, key, j);
    k->job_changes++;
  }
  if (cancel && k->cancel_slow) {
    if (!json_is_true(json_object_get(j, "cancel_asked"))) {
      json_object_set_new(j, "cancel_asked", json_true());
      k->job_cancels++;
      k->job_changes++;
      sk_buf_printf(&k->log, "job cancel %s (no answer yet)\n", key);
    }
    return;
  }
  if (cancel && !json_is_true(json_object_get(j, "cancel_done")) &&
      !json_is_true(json_object_get(j, "cancel_gave_up"))) {
    k->job_cancels++;
    k->job_changes++;
    sk_buf_printf(&k->log, "job cancel %s\n", key);
    json_object_set_new(j, k->cancel_refused ? "cancel_gave_up" : "cancel_done", json_true());
  }
}

/* The cloud moves a tracked job on (phase SUCCEEDED, FAILED, CANCELLED). */
SIM void job_set(cluster_t *k, const char *instance, int attempt, const char *phase,
                 const char *state, const char *message, json_t *outputs) {
  json_t *j = job_of(k, instance, attempt);
  if (!j) {
    FAILF("no job %s/%d to change", instance, attempt);
    json_decref(outputs);
    return;
  }
  json_object_set_new(j, "phase", json_string(phase));
  json_object_set_new(j, "state", json_string(state));
  if (message)
    json_object_set_new(j, "message", json_string(message));
  if (outputs)
    json_object_set_new(j, "outputs", outputs);
}

/* A restarted driver: its tracker knows nothing; the cloud keeps its jobs. */
SIM void tracker_restart(cluster_t *k) { json_object_clear(k->jobs); }

SIM bool wf_has_finalizer(const cluster_t *k) {
  json_t *fins = json_object_get(json_object_get(k->wf, "metadata"), "finalizers");
  size_t i;
  json_t *v;
  json_array_foreach(fins, i, v) {
    if (strcmp(json_string_value(v), SK_CONTROLLER_FINALIZER) == 0)
      return true;
  }
  return false;
}

SIM void apply_finalizer_op(cluster_t *k, const sk_controller_op_t *op) {
  json_t *md = json_object_get(k->wf, "metadata");
  json_t *fins = json_object_get(md, "finalizers");
  if (!fins) {
    fins = json_array();
    json_object_set_new(md, "finalizers", fins);
  }
  if (op->kind == SK_CONTROLLER_OP_ADD_FINALIZER) {
    if (!wf_has_finalizer(k))
      json_array_append_new(fins, json_string(op->name));
    k->finalizer_adds++;
    sk_buf_printf(&k->log, "finalizer add\n");
    return;
  }
  size_t i;
  json_t *v;
  json_array_foreach(fins, i, v) {
    if (strcmp(json_string_value(v), op->name) == 0) {
      json_array_remove(fins, i);
      break;
    }
  }
  k->finalizer_removes++;
  sk_buf_printf(&k->log, "finalizer remove\n");
  /* The API server deletes an object being deleted once its last
   * finalizer goes. */
  json_t *ts = json_object_get(md, "deletionTimestamp");
  if (ts && !json_is_null(ts) && json_array_size(fins) == 0)
    k->wf_deleted = true;
}

SIM sk_controller_job_phase_t job_phase_of(const char *s) {
  if (strcmp(s, "SUBMITTING") == 0)
    return SK_CONTROLLER_JOB_SUBMITTING;
  if (strcmp(s, "SUCCEEDED") == 0)
    return SK_CONTROLLER_JOB_SUCCEEDED;
  if (strcmp(s, "FAILED") == 0)
    return SK_CONTROLLER_JOB_FAILED;
  if (strcmp(s, "CANCELLED") == 0)
    return SK_CONTROLLER_JOB_CANCELLED;
  return SK_CONTROLLER_JOB_RUNNING;
}

/* in.jobs from the fake tracker (strings borrowed from k->jobs; the
 * instance parts are copied into names, freed with the array). */
SIM sk_controller_job_t *jobs_input(cluster_t *k, size_t *n, char ***names) {
  *n = json_object_size(k->jobs);
  sk_controller_job_t *jobs = calloc(*n + 1, sizeof(*jobs));
  *names = calloc(*n + 1, sizeof(char *));
  size_t i = 0;
  const char *key;
  json_t *j;
  json_object_foreach(k->jobs, key, j) {
    char *inst = strdup(key);
    char *slash = strrchr(inst, '/');
    *slash = '\0';
    (*names)[i] = inst;
    jobs[i].instance = inst;
    jobs[i].attempt = atoi(slash + 1);
    jobs[i].phase = job_phase_of(json_string_value(json_object_get(j, "phase")));
    jobs[i].name = json_string_value(json_object_get(j, "name"));
    jobs[i].state = json_string_value(json_object_get(j, "state"));
    jobs[i].message = json_string_value(json_object_get(j, "message"));
    jobs[i].outputs = json_object_get(j, "outputs");
    jobs[i].cancel_done = json_is_true(json_object_get(j, "cancel_done"));
    jobs[i].cancel_gave_up = json_is_true(json_object_get(j, "cancel_gave_up"));
    i++;
  }
  return jobs;
}

SIM void apply_job_op(cluster_t *k, const sk_controller_op_t *op);
SIM void apply_finalizer_op(cluster_t *k, const sk_controller_op_t *op);

SIM void apply_op(cluster_t *k, const sk_controller_op_t *op) {
  switch (op->kind) {
  case SK_CONTROLLER_OP_CREATE_POD: {
    if (json_object_get(k->pods, op->name)) {
      k->already_exists++;
      sk_buf_printf(&k->log, "create %s (AlreadyExists)\n", op->name);
      return;
    }
    if (k->refuse.pod && strcmp(k->refuse.pod, op->name) == 0) {
      sk_buf_printf(&k->log, "create %s (refused)\n", op->name);
      return;
    }
    json_t *pod = json_deep_copy(op->pod);
    json_t *md = json_object_get(pod, "metadata");
    char uid[32], ts[40];
    snprintf(uid, sizeof(uid), "pod-uid-%d", ++k->pod_seq);
    sk_time_format(k->now, ts, sizeof(ts));
    json_object_set_new(md, "uid", json_string(uid));
    json_object_set_new(md, "creationTimestamp", json_string(ts));
    json_object_set_new(pod, "status", json_pack("{s:s}", "phase", "Pending"));
    json_object_set_new(k->pods, op->name, pod);
    json_array_append_new(k->order, json_string(op->name));
    if (!json_object_get(k->created, op->name))
      json_object_set(k->created, op->name, op->pod);
    k->creates++;
    sk_buf_printf(&k->log, "create %s\n", op->name);
    return;
  }
  case SK_CONTROLLER_OP_DELETE_POD: {
    json_t *pod = json_object_get(k->pods, op->name);
    if (!pod) {
      k->not_found++;
      sk_buf_printf(&k->log, "delete %s (NotFound)\n", op->name);
      return;
    }
    json_object_set(k->gone, op->name, pod);
    json_object_del(k->pods, op->name);
    k->deletes++;
    sk_buf_printf(&k->log, "delete %s\n", op->name);
    return;
  }
  case SK_CONTROLLER_OP_DELETE_WORKFLOW:
    k->wf_deleted = true;
    sk_buf_printf(&k->log, "delete workflow %s\n", op->name);
    return;
  case SK_CONTROLLER_OP_ENSURE_JOB:
  case SK_CONTROLLER_OP_CANCEL_JOB:
    apply_job_op(k, op);
    return;
  case SK_CONTROLLER_OP_ADD_FINALIZER:
  case SK_CONTROLLER_OP_REMOVE_FINALIZER:
    apply_finalizer_op(k, op);
    return;
  }
}

/* Builds the reconcile input from the cluster: live Pods in creation
 * order, tombstones, the refused create. Returns the arrays to free. */
SIM void make_input(cluster_t *k, sk_controller_in_t *in, json_t ***pods, json_t ***gone) {
  memset(in, 0, sizeof(*in));
  size_t n = json_object_size(k->pods), g = json_object_size(k->gone);
  *pods = calloc(n + 1, sizeof(json_t *));
  *gone = calloc(g + 1, sizeof(json_t *));
  size_t np = 0, ng = 0, i;
  json_t *v;
  json_array_foreach(k->order, i, v) {
    json_t *p = json_object_get(k->pods, json_string_value(v));
    bool seen = false;
    for (size_t j = 0; j < np; j++)
      seen = seen || (*pods)[j] == p;
    if (p && !seen)
      (*pods)[np++] = p;
  }
  const char *name;
  json_object_foreach(k->gone, name, v)(*gone)[ng++] = v;
  in->workflow = k->wf;
  in->pods = *pods;
  in->npods = np;
  in->gone_pods = *gone;
  in->ngone = ng;
  in->now_ms = k->now;
  if (k->refuse.pod && k->refused_msg) {
    in->create_errors = &k->refuse;
    in->ncreate_errors = 1;
  }
}

/* One reconcile; when apply, its result is carried out. out is released
 * by the caller. Returns the reconcile's code. */
SIM int reconcile_once(cluster_t *k, sk_controller_out_t *out, bool apply) {
  sk_controller_in_t in;
  json_t **pods, **gone;
  make_input(k, &in, &pods, &gone);
  char **job_names = NULL;
  sk_controller_job_t *jobs = jobs_input(k, &in.njobs, &job_names);
  in.jobs = jobs;
  sk_controller_out_init(out);
  int rc = sk_controller_reconcile(&in, out);
  free(pods);
  free(gone);
  for (size_t i = 0; i < in.njobs; i++)
    free(job_names[i]);
  free(job_names);
  free(jobs);
  k->reconciles++;
  if (rc < 0) {
    FAILF("reconcile failed: %s", sk_strerror(rc));
    return rc;
  }
  k->requeue_at = out->requeue_at_ms;
  if (!apply)
    return 0;
  if (out->status) {
    json_object_set(k->wf, "status", out->status);
    k->status_writes++;
  }
  for (size_t i = 0; i < out->nops; i++)
    apply_op(k, &out->ops[i]);
  for (size_t i = 0; i < out->nevents; i++) {
    k->events++;
    sk_buf_printf(&k->log, "event %s %s: %s\n", out->events[i].type, out->events[i].reason,
                  out->events[i].message);
  }
  return 0;
}

/* Reconciles until a reconcile changes nothing (what the watch events of
 * the controller's own writes would cause). Returns the reconciles made. */
SIM int settle(cluster_t *k) {
  for (int n = 1; n <= 50; n++) {
    sk_controller_out_t out;
    int changes = k->job_changes;
    if (reconcile_once(k, &out, true) < 0)
      return n;
    /* Asking the tracker again about jobs it already follows is what
     * every reconcile of a running cloud step does, and changes nothing. */
    size_t job_ops = 0;
    for (size_t i = 0; i < out.nops; i++)
      job_ops += out.ops[i].kind == SK_CONTROLLER_OP_ENSURE_JOB ||
                 out.ops[i].kind == SK_CONTROLLER_OP_CANCEL_JOB;
    bool quiet = !out.status && out.nops == job_ops && k->job_changes == changes;
    sk_controller_out_release(&out);
    if (quiet || k->wf_deleted)
      return n;
  }
  FAILF("the reconciler does not settle");
  return 50;
}

/* ---- the kubelet ---- */

SIM void pod_set_status(cluster_t *k, const char *name, json_t *status) {
  json_t *pod = json_object_get(k->pods, name);
  if (!pod) {
    FAILF("no pod %s to change", name);
    json_decref(status);
    return;
  }
  json_object_set_new(pod, "status", status);
}

SIM void pod_running(cluster_t *k, const char *name) {
  pod_set_status(k, name, json_pack("{s:s}", "phase", "Running"));
}

SIM void pod_terminated(cluster_t *k, const char *name, int code, const char *reason,
                           const char *message) {
  char ts[40];
  sk_time_format(k->now, ts, sizeof(ts));
  json_t *term = json_pack("{s:i, s:s, s:s}", "exitCode", code, "reason", reason, "finishedAt", ts);
  if (message)
    json_object_set_new(term, "message", json_string(message));
  pod_set_status(k, name,
                 json_pack("{s:s, s:[{s:s, s:{s:o}}]}", "phase", code == 0 ? "Succeeded" : "Failed",
                           "containerStatuses", "name", "main", "state", "terminated", term));
}

SIM void pod_succeed(cluster_t *k, const char *name, const char *outputs) {
  pod_terminated(k, name, 0, "Completed", outputs ? outputs : "");
}

SIM void pod_fail(cluster_t *k, const char *name, int code) {
  pod_terminated(k, name, code, "Error", NULL);
}

/* Deletes a Pod behind the controller's back (its informer saw it go). */
SIM void pod_vanish(cluster_t *k, const char *name) {
  json_t *pod = json_object_get(k->pods, name);
  if (!pod) {
    FAILF("no pod %s to delete", name);
    return;
  }
  json_object_set(k->gone, name, pod);
  json_object_del(k->pods, name);
}

/* The container of a created Pod (as the controller made it). */
SIM json_t *created_main(const cluster_t *k, const char *name) {
  json_t *pod = json_object_get(k->created, name);
  return json_array_get(json_object_get(json_object_get(pod, "spec"), "containers"), 0);
}

SIM bool log_has(const cluster_t *k, const char *line) {
  return k->log.data && strstr(k->log.data, line) != NULL;
}

#define CHECK_LOG(k, line)                                                                 \
  do {                                                                                     \
    if (!log_has((k), (line)))                                                             \
      FAILF("log lacks \"%s\"; it is:\n%s", (line), (k)->log.data ? (k)->log.data : "");    \
  } while (0)

#define CHECK_NO_LOG(k, line)                                                              \
  do {                                                                                     \
    if (log_has((k), (line)))                                                              \
      FAILF("log has \"%s\"; it is:\n%s", (line), (k)->log.data ? (k)->log.data : "");      \
  } while (0)

#endif
