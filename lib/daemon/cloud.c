/*
 * skeind's cloud jobs: where a vertex or sagemaker step becomes a cloud
 * job. The reconciler's ENSURE_JOB and CANCEL_JOB ops (controller.h,
 * C1-C5) go to the job tracker (lib/cloud/jobs.h) with the right
 * authoriser; the tracker's news comes back as in.jobs of the next
 * reconcile, and each change of a job enqueues its Workflow's key, as a
 * Pod event does.
 *
 * Credentials: a step's credentials.secretRef names a Secret in the
 * Workflow's namespace, read through the API (vertex: a service-account
 * key JSON under `key`, default "key.json"; sagemaker: AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY and optionally AWS_SESSION_TOKEN, or the same in
 * lower case as in ~/.aws/credentials). A Secret is read again when its
 * authoriser is older than SECRET_TTL_MS, so a rotated key is picked up.
 * Without a secretRef the ambient credentials are used: Application
 * Default Credentials (GKE Workload Identity) and the AWS chain (IRSA, EKS
 * Pod Identity). Secret values are never logged or put in a message: a
 * failure names the Secret and the key only.
 *
 * A tracker key is "<workflow uid>/<instance>/<attempt>". A job the
 * latest result names in no op is forgotten (its record says done), unless
 * a cancel of it is still in progress.
 */
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/aws.h"
#include "cloud/gcp.h"
#include "cloud/jobs.h"
#include "daemon/daemon-int.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strutil.h"
#include "util/timeutil.h"

#define LOGGER "cloud"
#define SECRET_TTL_MS (10 * 60 * 1000)
#define SECRET_MAX 65536
#define KEY_MAX 512

static const sk_kube_gvr_t k_secret_gvr = {"", "v1", "secrets"};

typedef enum { CRED_FETCHING, CRED_READY, CRED_FAILED } cred_state_t;

/* An op waiting for its Secret. */
typedef struct waiting_op {
  struct waiting_op *next;
  char *wf_key;
  char *ns;
  char *uid;
  char *wf_name;
  sk_controller_op_t op; /* owns name, job_name and pod (the body) */
} waiting_op_t;

/* The authoriser made from one Secret key. */
typedef struct cred {
  struct cred *next;
  char *id;              /* "vertex|sagemaker/namespace/secret/key" */
  cred_state_t state;
  sk_cloud_authz_t *authz;
  char *message;         /* CRED_FAILED: why, naming the Secret (never its data) */
  int64_t at_ms;         /* when it was read (or failed) */
  waiting_op_t *waiting;
  struct sk_daemon_cloud *dc;
  sk_kube_call_t *call;  /* the Secret's read in flight */
  bool orphan;           /* the driver went while the read was in flight */
} cred_t;

typedef enum {
  M_REQUESTS, M_THROTTLED, M_ERRORS, M_CREATES, M_ADOPTED, M_TRACKED, M_IN_FLIGHT, M_WAITING
} stat_t;
#define NSTATS 8

typedef struct {
  struct sk_daemon_cloud *dc;
  stat_t which;
} stat_arg_t;

struct sk_daemon_cloud {
  sk_daemon_cloud_opts_t o;
  stat_arg_t stat_args[NSTATS];
  sk_cjobs_t *tracker;
  sk_cloud_endpoints_t endpoints;
  sk_cloud_authz_t *gcp_default;
  sk_cloud_authz_t *aws_default;
  cred_t *creds;
  /* Authorisers replaced by a newer read of their Secret: jobs may still
   * hold them, so they live until the driver goes. */
  sk_cloud_authz_t **retired;
  size_t nretired;
  size_t retired_cap;
  json_t *by_job;        /* tracker key → workflow key */
  json_t *by_wf;         /* workflow key → {tracker key → {instance, attempt[, failed]}} */
};

/* ---- bookkeeping ---- */

static int job_key(char *out, size_t len, const char *uid, const char *instance, int attempt) {
  int n = snprintf(out, len, "%s/%s/%d", uid, instance, attempt);
  return n < 0 || (size_t)n >= len ? SK_ETOOBIG : 0;
}

/* Registers the job of (instance, attempt) under its Workflow. */
static json_t *remember(sk_daemon_cloud_t *dc, const char *wf_key, const char *tkey,
                        const char *instance, int attempt) {
  json_t *jobs = json_object_get(dc->by_wf, wf_key);
  if (!jobs) {
    jobs = json_object();
    if (!jobs || json_object_set_new(dc->by_wf, wf_key, jobs) < 0)
      return NULL;
  }
  json_t *j = json_object_get(jobs, tkey);
  if (j)
    return j;
  j = json_pack("{s:s, s:i}", "instance", instance, "attempt", attempt);
  if (!j || json_object_set_new(jobs, tkey, j) < 0 ||
      json_object_set_new(dc->by_job, tkey, json_string(wf_key)) < 0)
    return NULL;
  return j;
}

static void forget_job(sk_daemon_cloud_t *dc, json_t *jobs, const char *tkey) {
  sk_cjobs_forget(dc->tracker, tkey);
  json_object_del(dc->by_job, tkey);
  json_object_del(jobs, tkey);
}

/* A job that could not be handed to the tracker (its credentials are
 * unusable): the reconciler sees it Failed with why. */
static void fail_job(sk_daemon_cloud_t *dc, const char *wf_key, const char *uid,
                     const char *instance, int attempt, const char *message) {
  char tkey[KEY_MAX];
  if (job_key(tkey, sizeof(tkey), uid, instance, attempt) < 0)
    return;
  json_t *j = remember(dc, wf_key, tkey, instance, attempt);
  if (j)
    json_object_set_new(j, "failed", json_string(message));
  if (dc->o.enqueue)
    dc->o.enqueue(wf_key, dc->o.arg);
}

static void on_change(const char *tkey, void *arg) {
  sk_daemon_cloud_t *dc = arg;
  const char *wf_key = json_string_value(json_object_get(dc->by_job, tkey));
  if (wf_key && dc->o.enqueue)
    dc->o.enqueue(wf_key, dc->o.arg);
}

/* ---- credentials ---- */

/* Standard base64 (Secret data) into a new NUL-terminated string. */
static char *b64_decode(const char *in, size_t *outlen) {
  size_t len = strlen(in);
  if (len % 4 != 0 || len / 4 * 3 > SECRET_MAX)
    return NULL;
  unsigned char *out = malloc(len / 4 * 3 + 1);
  if (!out)
    return NULL;
  int n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
  if (n < 0) {
    free(out);
    return NULL;
  }
  /* EVP_DecodeBlock counts the bytes the padding stands for. */
  if (len >= 1 && in[len - 1] == '=')
    n--;
  if (len >= 2 && in[len - 2] == '=')
    n--;
  out[n] = '\0';
  *outlen = (size_t)n;
  return (char *)out;
}

/* data[key] of a Secret, decoded (new string), or NULL. */
static char *secret_value(json_t *secret, const char *key, size_t *len) {
  const char *v = json_string_value(json_object_get(json_object_get(secret, "data"), key));
  return v ? b64_decode(v, len) : NULL;
}

static char *secret_value_any(json_t *secret, const char *upper, const char *lower) {
  size_t len;
  char *v = secret_value(secret, upper, &len);
  return v ? v : secret_value(secret, lower, &len);
}

static void wipe_free(char *s) {
  if (s) {
    OPENSSL_cleanse(s, strlen(s));
    free(s);
  }
}

static void carry_out(sk_daemon_cloud_t *dc, const char *wf_key, const char *ns, const char *uid,
                      const char *wf_name, const sk_controller_op_t *op, sk_cloud_authz_t *authz);

static void cred_fail(cred_t *cr, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void cred_fail(cred_t *cr, const char *fmt, ...) {
  char msg[SK_CLOUD_MAX_MESSAGE];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  cr->state = CRED_FAILED;
  free(cr->message);
  cr->message = sk_strdup0(msg);
}

/* Builds the authoriser from a Secret that was read. */
static void cred_from_secret(cred_t *cr, json_t *secret, bool vertex, const char *what,
                             const char *key) {
  sk_daemon_cloud_t *dc = cr->dc;
  sk_cloud_authz_t *a = NULL;
  if (vertex) {
    size_t len = 0;
    char *text = secret_value(secret, key, &len);
    if (!text) {
      cred_fail(cr, "credentials: %s has no key \"%s\" (base64 data)", what, key);
      return;
    }
    char err[SK_CLOUD_MAX_MESSAGE];
    err[0] = '\0';
    a = sk_gcp_authz_from_json(dc->o.loop, dc->o.http, &dc->endpoints, text, len, err, sizeof(err));
    wipe_free(text);
    if (!a) {
      char msg[SK_CLOUD_MAX_MESSAGE * 2];
      snprintf(msg, sizeof(msg), "credentials: %s key \"%s\": %s", what, key, err);
      cr->state = CRED_FAILED;
      free(cr->message);
      cr->message = sk_strdup_capped(msg, SK_CLOUD_MAX_MESSAGE);
      return;
    }
  } else {
    char *id = secret_value_any(secret, "AWS_ACCESS_KEY_ID", "aws_access_key_id");
    char *sec = secret_value_any(secret, "AWS_SECRET_ACCESS_KEY", "aws_secret_access_key");
    char *tok = secret_value_any(secret, "AWS_SESSION_TOKEN", "aws_session_token");
    if (id && sec)
      a = sk_aws_authz_static(dc->o.loop, id, sec, tok);
    wipe_free(id);
    wipe_free(sec);
    wipe_free(tok);
    if (!a) {
      cred_fail(cr, "credentials: %s needs keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                what);
      return;
    }
  }
  if (cr->authz) {
    /* Jobs may hold the old one. */
    if (sk_array_grow((void **)&dc->retired, &dc->retired_cap, dc->nretired,
                      sizeof(*dc->retired)) == 0)
      dc->retired[dc->nretired++] = cr->authz;
  }
  cr->authz = a;
  cr->state = CRED_READY;
}

typedef struct {
  cred_t *cr;
} secret_call_t;

static void waiting_free(waiting_op_t *w) {
  free(w->wf_key);
  free(w->ns);
  free(w->uid);
  free(w->wf_name);
  free(w->op.name);
  free(w->op.job_name);
  json_decref(w->op.pod);
  free(w);
}

static void cred_free(cred_t *cr) {
  for (waiting_op_t *w = cr->waiting; w;) {
    waiting_op_t *next = w->next;
    waiting_free(w);
    w = next;
  }
  sk_cloud_authz_destroy(cr->authz);
  free(cr->id);
  free(cr->message);
  free(cr);
}

static void secret_read(const sk_kube_result_t *res, void *arg) {
  cred_t *cr = arg;
  cr->call = NULL;
  if (cr->orphan) {
    cred_free(cr);
    return;
  }
  sk_daemon_cloud_t *dc = cr->dc;
  /* id is "vertex|sagemaker/ns/name/key". */
  char id[KEY_MAX];
  snprintf(id, sizeof(id), "%s", cr->id);
  char *kind = id, *ns = strchr(kind, '/');
  char *name = ns ? strchr(ns + 1, '/') : NULL;
  char *key = name ? strchr(name + 1, '/') : NULL;
  if (!ns || !name || !key)
    return;
  *ns++ = '\0';
  *name++ = '\0';
  *key++ = '\0';
  char what[KEY_MAX];
  snprintf(what, sizeof(what), "Secret %s/%s", ns, name);
  cr->at_ms = sk_time_now_ms();
  if (res->err < 0) {
    if (res->code == 404)
      cred_fail(cr, "credentials: %s was not found", what);
    else if (res->code == 403)
      cred_fail(cr, "credentials: skeind may not read %s (RBAC: get secrets)", what);
    else
      cred_fail(cr, "credentials: reading %s failed: %s", what,
                res->message ? res->message : sk_strerror(res->err));
  } else {
    cred_from_secret(cr, res->body, strcmp(kind, "vertex") == 0, what, key);
  }
  if (cr->state == CRED_FAILED)
    sk_log_warn(LOGGER, "%s", cr->message);
  waiting_op_t *w = cr->waiting;
  cr->waiting = NULL;
  while (w) {
    waiting_op_t *next = w->next;
    if (cr->state == CRED_READY)
      carry_out(dc, w->wf_key, w->ns, w->uid, w->wf_name, &w->op, cr->authz);
    else if (w->op.kind == SK_CONTROLLER_OP_ENSURE_JOB)
      fail_job(dc, w->wf_key, w->uid, w->op.name, w->op.attempt, cr->message);
    waiting_free(w);
    w = next;
  }
}

static cred_t *cred_find(sk_daemon_cloud_t *dc, const char *id) {
  for (cred_t *cr = dc->creds; cr; cr = cr->next)
    if (strcmp(cr->id, id) == 0)
      return cr;
  return NULL;
}

/* Starts reading the Secret of cr. */
static int cred_fetch(sk_daemon_cloud_t *dc, cred_t *cr, const char *ns, const char *name) {
  sk_kube_ref_t ref = {k_secret_gvr, ns, name, NULL};
  cr->state = CRED_FETCHING;
  return sk_kube_get(dc->o.client, &ref, secret_read, cr, &cr->call);
}

static sk_cloud_authz_t *ambient(sk_daemon_cloud_t *dc, bool vertex) {
  if (vertex) {
    if (!dc->gcp_default)
      dc->gcp_default = sk_gcp_authz_default(dc->o.loop, dc->o.http, &dc->endpoints);
    return dc->gcp_default;
  }
  if (!dc->aws_default)
    dc->aws_default = sk_aws_authz_default(dc->o.loop, dc->o.http, &dc->endpoints);
  return dc->aws_default;
}

/* ---- carrying out ops ---- */

static sk_cjob_kind_t cjob_kind(const sk_controller_op_t *op) {
  if (op->step_kind == SK_STEP_VERTEX)
    return SK_CJOB_VERTEX;
  return json_object_get(op->pod, "processingJob") ? SK_CJOB_SAGEMAKER_PROCESSING
                                                    : SK_CJOB_SAGEMAKER_TRAINING;
}

static void carry_out(sk_daemon_cloud_t *dc, const char *wf_key, const char *ns, const char *uid,
                      const char *wf_name, const sk_controller_op_t *op, sk_cloud_authz_t *authz) {
  (void)ns;
  char tkey[KEY_MAX];
  if (job_key(tkey, sizeof(tkey), uid, op->name, op->attempt) < 0)
    return;
  if (!remember(dc, wf_key, tkey, op->name, op->attempt))
    return;
  if (!authz) {
    fail_job(dc, wf_key, uid, op->name, op->attempt, "credentials: out of memory");
    return;
  }
  sk_cjob_desc_t d = {0};
  d.kind = cjob_kind(op);
  d.key = tkey;
  d.workflow_uid = uid;
  d.workflow_name = wf_name;
  d.instance = op->name;
  d.attempt = op->attempt;
  d.body = op->pod;
  d.name = op->job_name;
  d.adopt_first = op->adopt_first;
  d.no_create = op->kind == SK_CONTROLLER_OP_CANCEL_JOB;
  d.default_project = dc->o.gcp_project;
  d.default_region = dc->o.aws_region;
  d.authz = authz;
  int rc = sk_cjobs_ensure(dc->tracker, &d);
  if (rc == SK_ENOMEM) {
    sk_log_error(LOGGER, "%s: step %s: out of memory", wf_key, op->name);
    return;
  }
  if (op->kind == SK_CONTROLLER_OP_CANCEL_JOB && sk_cjobs_cancel(dc->tracker, tkey) == 0)
    sk_log_v(1, LOGGER, "%s: step %s attempt %d: cancel asked", wf_key, op->name, op->attempt);
}

/* Routes one op to its authoriser: ambient, a ready Secret's, or a wait
 * for the Secret's read. */
static void route(sk_daemon_cloud_t *dc, const char *wf_key, const char *ns, const char *uid,
                  const char *wf_name, const sk_controller_op_t *op) {
  bool vertex = op->step_kind == SK_STEP_VERTEX;
  json_t *sref = json_object_get(json_object_get(op->pod, "credentials"), "secretRef");
  const char *sname = json_string_value(json_object_get(sref, "name"));
  if (!sname) {
    carry_out(dc, wf_key, ns, uid, wf_name, op, ambient(dc, vertex));
    return;
  }
  const char *skey = json_string_value(json_object_get(sref, "key"));
  if (!skey)
    skey = vertex ? "key.json" : "-";
  char id[KEY_MAX];
  snprintf(id, sizeof(id), "%s/%s/%s/%s", vertex ? "vertex" : "sagemaker", ns, sname, skey);
  cred_t *cr = cred_find(dc, id);
  int64_t now = sk_time_now_ms();
  if (!cr) {
    cr = calloc(1, sizeof(*cr));
    if (!cr || !(cr->id = strdup(id))) {
      free(cr);
      return;
    }
    cr->dc = dc;
    cr->next = dc->creds;
    dc->creds = cr;
    cr->state = CRED_FAILED; /* until fetched below */
    cr->at_ms = 0;
  }
  bool stale = cr->state != CRED_FETCHING &&
               (cr->at_ms == 0 || now - cr->at_ms > (cr->state == CRED_READY ? SECRET_TTL_MS
                                                                             : 5000));
  if (stale && cred_fetch(dc, cr, ns, sname) < 0) {
    cred_fail(cr, "credentials: reading Secret %s/%s could not start", ns, sname);
    cr->at_ms = now;
  }
  if (cr->state == CRED_READY) {
    carry_out(dc, wf_key, ns, uid, wf_name, op, cr->authz);
    return;
  }
  if (cr->state == CRED_FAILED) {
    if (op->kind == SK_CONTROLLER_OP_ENSURE_JOB)
      fail_job(dc, wf_key, uid, op->name, op->attempt, cr->message ? cr->message : "credentials");
    return;
  }
  waiting_op_t *w = calloc(1, sizeof(*w));
  if (!w)
    return;
  w->wf_key = strdup(wf_key);
  w->ns = strdup(ns);
  w->uid = strdup(uid);
  w->wf_name = strdup(wf_name);
  w->op = *op;
  w->op.name = strdup(op->name);
  w->op.job_name = sk_strdup0(op->job_name);
  w->op.pod = json_incref(op->pod);
  w->op.uid = NULL;
  if (!w->wf_key || !w->ns || !w->uid || !w->wf_name || !w->op.name) {
    waiting_free(w);
    return;
  }
  w->next = cr->waiting;
  cr->waiting = w;
}

void sk_daemon_cloud_apply(sk_daemon_cloud_t *dc, const char *wf_key, json_t *workflow,
                           const sk_controller_out_t *out) {
  json_t *md = json_object_get(workflow, "metadata");
  const char *uid = json_string_value(json_object_get(md, "uid"));
  const char *name = json_string_value(json_object_get(md, "name"));
  const char *ns = json_string_value(json_object_get(md, "namespace"));
  if (!uid || !name)
    return;
  if (!ns)
    ns = "default";
  json_t *named = json_object();
  for (size_t i = 0; named && i < out->nops; i++) {
    const sk_controller_op_t *op = &out->ops[i];
    if (op->kind != SK_CONTROLLER_OP_ENSURE_JOB && op->kind != SK_CONTROLLER_OP_CANCEL_JOB)
      continue;
    char tkey[KEY_MAX];
    if (job_key(tkey, sizeof(tkey), uid, op->name, op->attempt) < 0)
      continue;
    json_object_set_new(named, tkey, json_true());
    json_t *known = json_object_get(json_object_get(dc->by_wf, wf_key), tkey);
    /* A job refused for its credentials stays so until its record moves on. */
    if (known && json_object_get(known, "failed"))
      continue;
    route(dc, wf_key, ns, uid, name, op);
  }
  /* Jobs whose records are done: forget them, unless a cancel is still
   * being retried (an earlier attempt's, whose ref a retry replaced). */
  json_t *jobs = json_object_get(dc->by_wf, wf_key);
  const char *tkey;
  json_t *v, *tmp;
  json_object_foreach_safe(jobs, tmp, tkey, v) {
    if (!named || json_object_get(named, tkey))
      continue;
    sk_cjob_info_t info;
    if (sk_cjobs_info(dc->tracker, tkey, &info) == 0 && info.cancel == SK_CJOB_CANCEL_PENDING)
      continue;
    forget_job(dc, jobs, tkey);
  }
  if (jobs && json_object_size(jobs) == 0)
    json_object_del(dc->by_wf, wf_key);
  json_decref(named);
}

void sk_daemon_cloud_workflow_gone(sk_daemon_cloud_t *dc, const char *wf_key) {
  json_t *jobs = json_object_get(dc->by_wf, wf_key);
  const char *tkey;
  json_t *v, *tmp;
  json_object_foreach_safe(jobs, tmp, tkey, v) {
    sk_cjob_info_t info;
    if (sk_cjobs_info(dc->tracker, tkey, &info) < 0) {
      forget_job(dc, jobs, tkey);
      continue;
    }
    bool ended = info.phase == SK_CJOB_SUCCEEDED || info.phase == SK_CJOB_FAILED ||
                 info.phase == SK_CJOB_CANCELLED;
    if (ended || info.cancel == SK_CJOB_CANCEL_ACCEPTED || info.cancel == SK_CJOB_CANCEL_GAVE_UP) {
      forget_job(dc, jobs, tkey);
      continue;
    }
    /* Deleted without its finalizer (it was never added, or removed by
     * hand): cancel what still runs, as the finalizer would have. */
    if (info.cancel == SK_CJOB_CANCEL_NONE) {
      sk_log_info(LOGGER, "%s was deleted: cancelling %s", wf_key, info.name ? info.name : tkey);
      sk_cjobs_cancel(dc->tracker, tkey);
    }
  }
  if (jobs && json_object_size(jobs) == 0)
    json_object_del(dc->by_wf, wf_key);
}

/* ---- the reconciler's inputs ---- */

static sk_controller_job_phase_t phase_of(sk_cjob_phase_t p) {
  switch (p) {
  case SK_CJOB_SUBMITTING: return SK_CONTROLLER_JOB_SUBMITTING;
  case SK_CJOB_RUNNING: return SK_CONTROLLER_JOB_RUNNING;
  case SK_CJOB_SUCCEEDED: return SK_CONTROLLER_JOB_SUCCEEDED;
  case SK_CJOB_FAILED: return SK_CONTROLLER_JOB_FAILED;
  case SK_CJOB_CANCELLED: return SK_CONTROLLER_JOB_CANCELLED;
  }
  return SK_CONTROLLER_JOB_RUNNING;
}

int sk_daemon_cloud_inputs(sk_daemon_cloud_t *dc, const char *wf_key, sk_controller_job_t **jobs,
                           size_t *njobs) {
  *jobs = NULL;
  *njobs = 0;
  json_t *known = json_object_get(dc->by_wf, wf_key);
  size_t n = json_object_size(known);
  if (n == 0)
    return 0;
  sk_controller_job_t *out = calloc(n, sizeof(*out));
  if (!out)
    return SK_ENOMEM;
  size_t i = 0;
  const char *tkey;
  json_t *j;
  json_object_foreach(known, tkey, j) {
    sk_controller_job_t *o = &out[i];
    o->instance = json_string_value(json_object_get(j, "instance"));
    o->attempt = (int)json_integer_value(json_object_get(j, "attempt"));
    const char *failed = json_string_value(json_object_get(j, "failed"));
    sk_cjob_info_t info;
    if (failed) {
      o->phase = SK_CONTROLLER_JOB_FAILED;
      o->message = failed;
    } else if (sk_cjobs_info(dc->tracker, tkey, &info) == 0) {
      o->phase = phase_of(info.phase);
      o->name = info.name;
      o->state = info.state;
      o->message = info.message;
      o->outputs = info.outputs;
      o->cancel_done = info.cancel == SK_CJOB_CANCEL_ACCEPTED;
      o->cancel_gave_up = info.cancel == SK_CJOB_CANCEL_GAVE_UP;
    } else {
      continue;
    }
    i++;
  }
  *jobs = out;
  *njobs = i;
  return 0;
}

/* ---- metrics ---- */

static double stat_value(void *arg) {
  stat_arg_t *a = arg;
  sk_cjobs_stats_t s;
  sk_cjobs_stats(a->dc->tracker, &s);
  switch (a->which) {
  case M_REQUESTS: return (double)s.requests;
  case M_THROTTLED: return (double)s.throttled;
  case M_ERRORS: return (double)s.errors;
  case M_CREATES: return (double)s.creates;
  case M_ADOPTED: return (double)s.adopted;
  case M_TRACKED: return (double)s.tracked;
  case M_IN_FLIGHT: return (double)s.in_flight;
  case M_WAITING: return (double)s.waiting;
  }
  return 0;
}

static void register_metrics(sk_daemon_cloud_t *dc) {
  static const struct {
    const char *name, *help;
  } k[NSTATS] = {
      {"skein_cloud_requests_total", "Requests sent to cloud job APIs (Vertex AI, SageMaker)."},
      {"skein_cloud_throttled_total", "Cloud API answers that were throttling."},
      {"skein_cloud_errors_total", "Cloud API transport errors and 5xx answers."},
      {"skein_cloud_jobs_created_total", "Cloud jobs created."},
      {"skein_cloud_jobs_adopted_total",
       "Cloud jobs found by name or label instead of being created again."},
      {"skein_cloud_jobs_tracked", "Cloud jobs being followed now."},
      {"skein_cloud_requests_in_flight", "Cloud API requests sent and not yet answered."},
      {"skein_cloud_requests_waiting",
       "Cloud API requests waiting for a token of their endpoint's rate limit: when it stays "
       "high, jobs are polled less often than their steps ask."},
  };
  for (int i = 0; i < NSTATS; i++) {
    sk_metric_t *m = NULL;
    if (sk_metrics_gauge_fn(dc->o.metrics, k[i].name, k[i].help, NULL, &m) < 0)
      continue;
    dc->stat_args[i] = (stat_arg_t){dc, (stat_t)i};
    sk_metric_set_fn(m, NULL, stat_value, &dc->stat_args[i]);
  }
}

/* ---- life ---- */

int sk_daemon_cloud_create(const sk_daemon_cloud_opts_t *opts, sk_daemon_cloud_t **out) {
  *out = NULL;
  sk_daemon_cloud_t *dc = calloc(1, sizeof(*dc));
  if (!dc)
    return SK_ENOMEM;
  dc->o = *opts;
  sk_cloud_endpoints_from_env(&dc->endpoints);
  dc->by_job = json_object();
  dc->by_wf = json_object();
  sk_cjobs_config_t cfg = {0};
  cfg.endpoints = dc->endpoints;
  cfg.vertex_qps = opts->vertex_qps;
  cfg.sagemaker_qps = opts->sagemaker_qps;
  cfg.on_change = on_change;
  cfg.arg = dc;
  dc->tracker = dc->by_job && dc->by_wf ? sk_cjobs_create(opts->loop, opts->http, &cfg) : NULL;
  if (!dc->tracker) {
    json_decref(dc->by_job);
    json_decref(dc->by_wf);
    free(dc);
    return SK_ENOMEM;
  }
  if (dc->o.metrics)
    register_metrics(dc);
  *out = dc;
  return 0;
}

void sk_daemon_cloud_destroy(sk_daemon_cloud_t *dc) {
  if (!dc)
    return;
  sk_cjobs_destroy(dc->tracker);
  for (cred_t *cr = dc->creds; cr;) {
    cred_t *next = cr->next;
    if (cr->call) {
      /* Its callback still comes (cancelled), and frees it. */
      cr->orphan = true;
      sk_kube_call_cancel(cr->call);
    } else {
      cred_free(cr);
    }
    cr = next;
  }
  for (size_t i = 0; i < dc->nretired; i++)
    sk_cloud_authz_destroy(dc->retired[i]);
  free(dc->retired);
  sk_cloud_authz_destroy(dc->gcp_default);
  sk_cloud_authz_destroy(dc->aws_default);
  json_decref(dc->by_job);
  json_decref(dc->by_wf);
  free(dc);
}
