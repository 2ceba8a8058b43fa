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
  k->now = T0;
  sk_buf_init(&k->log, 1 << 22);
}

SIM void cluster_release(cluster_t *k) {
  json_decref(k->wf);
  json_decref(k->pods);
  json_decref(k->order);
  json_decref(k->gone);
  json_decref(k->created);
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
  sk_controller_out_init(out);
  int rc = sk_controller_reconcile(&in, out);
  free(pods);
  free(gone);
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
    if (reconcile_once(k, &out, true) < 0)
      return n;
    bool quiet = !out.status && out.nops == 0;
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
