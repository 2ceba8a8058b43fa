/*
 * The cloud job tracker (see jobs.h): the public calls, the table of jobs,
 * on_change delivery, and each job's state machine (what follows each
 * event a kind reports). The schedule, the token buckets and the request
 * pipeline are in jobs_net.c; what a request looks like and what an
 * answer means is the kind's business (jobs_vertex.c, jobs_sagemaker.c),
 * reported back through the sk__cjob_on_* events.
 *
 * on_change calls are collected on a list and delivered from one uv_idle
 * handle, so they never run inside sk_cjobs_ensure or sk_cjobs_cancel, and
 * a caller may call back into the tracker (even forget the job) from them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/cloud-int.h"
#include "cloud/jobs.h"
#include "cloud/sagemaker.h"
#include "cloud/vertex.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strutil.h"
#include "util/timeutil.h"

#define LOGGER "cloud-jobs"
/* Retries of failed requests (transient errors): 1 s doubling to 60 s, as
 * Google advises for 500/503 and botocore's standard mode caps at 20 s. */
#define RETRY_BASE_MS 1000
#define RETRY_CAP_MS 60000
static const char *const k_phase_names[] = {"Submitting", "Running", "Succeeded", "Failed",
                                            "Cancelled"};
static const char *const k_op_names[] = {"none", "create", "lookup", "get", "cancel"};

const char *sk_cjob_phase_name(sk_cjob_phase_t p) {
  return (unsigned)p < sizeof(k_phase_names) / sizeof(k_phase_names[0]) ? k_phase_names[p] : "?";
}

const char *sk_cjob_ref_kind(sk_cjob_kind_t k) {
  switch (k) {
  case SK_CJOB_VERTEX:
    return "VertexCustomJob";
  case SK_CJOB_SAGEMAKER_TRAINING:
    return "SageMakerTrainingJob";
  case SK_CJOB_SAGEMAKER_PROCESSING:
    return "SageMakerProcessingJob";
  }
  return NULL;
}

int sk_cjob_kind_from_ref(const char *ref_kind, sk_cjob_kind_t *out) {
  static const sk_cjob_kind_t kinds[] = {SK_CJOB_VERTEX, SK_CJOB_SAGEMAKER_TRAINING,
                                         SK_CJOB_SAGEMAKER_PROCESSING};
  for (size_t i = 0; ref_kind && i < 3; i++)
    if (strcmp(ref_kind, sk_cjob_ref_kind(kinds[i])) == 0) {
      *out = kinds[i];
      return 0;
    }
  return SK_EINVAL;
}

const char *sk__cjob_op_name(sk__cjob_op_t op) {
  return (unsigned)op < sizeof(k_op_names) / sizeof(k_op_names[0]) ? k_op_names[op] : "?";
}

static bool terminal(sk_cjob_phase_t p) { return sk__cjob_terminal(p); }

const sk__cjob_kind_ops_t *sk__cjob_kind(const sk__cjob_t *j) {
  return j->kind == SK_CJOB_VERTEX ? &sk__cjob_vertex_ops : &sk__cjob_sagemaker_ops;
}

static const sk__cjob_kind_ops_t *kind_ops(const sk__cjob_t *j) { return sk__cjob_kind(j); }

static int64_t loop_now(const sk_cjobs_t *t) { return (int64_t)uv_now(t->loop); }

/* ---- the table ---- */

static size_t hash_key(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return (size_t)h;
}

static sk__cjob_t *table_get(const sk_cjobs_t *t, const char *key) {
  if (!t->nbuckets)
    return NULL;
  for (sk__cjob_t *j = t->buckets[hash_key(key) & (t->nbuckets - 1)]; j; j = j->hnext)
    if (strcmp(j->key, key) == 0)
      return j;
  return NULL;
}

static int table_put(sk_cjobs_t *t, sk__cjob_t *j) {
  if (t->count + 1 > t->nbuckets) {
    size_t n = t->nbuckets ? t->nbuckets * 2 : 64;
    sk__cjob_t **b = calloc(n, sizeof(*b));
    if (!b)
      return SK_ENOMEM;
    for (size_t i = 0; i < t->nbuckets; i++) {
      sk__cjob_t *x = t->buckets[i];
      while (x) {
        sk__cjob_t *next = x->hnext;
        size_t h = hash_key(x->key) & (n - 1);
        x->hnext = b[h];
        b[h] = x;
        x = next;
      }
    }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
  }
  size_t h = hash_key(j->key) & (t->nbuckets - 1);
  j->hnext = t->buckets[h];
  t->buckets[h] = j;
  t->count++;
  return 0;
}

static void table_del(sk_cjobs_t *t, sk__cjob_t *j) {
  sk__cjob_t **pp = &t->buckets[hash_key(j->key) & (t->nbuckets - 1)];
  for (; *pp; pp = &(*pp)->hnext)
    if (*pp == j) {
      *pp = j->hnext;
      t->count--;
      return;
    }
}

/* ---- changes, delivered from the loop ---- */

static void on_notify(uv_idle_t *idle);

static void mark_changed(sk__cjob_t *j) {
  sk_cjobs_t *t = j->t;
  if (j->changed || t->destroying || !t->cfg.on_change)
    return;
  j->changed = true;
  j->cnext = NULL;
  j->cprev = t->ctail;
  if (t->ctail)
    t->ctail->cnext = j;
  else
    t->chead = j;
  t->ctail = j;
  uv_idle_start(&t->notify, on_notify);
}

static void unmark_changed(sk__cjob_t *j) {
  sk_cjobs_t *t = j->t;
  if (!j->changed)
    return;
  if (j->cprev)
    j->cprev->cnext = j->cnext;
  else
    t->chead = j->cnext;
  if (j->cnext)
    j->cnext->cprev = j->cprev;
  else
    t->ctail = j->cprev;
  j->cprev = j->cnext = NULL;
  j->changed = false;
}

static void on_notify(uv_idle_t *idle) {
  sk_cjobs_t *t = idle->data;
  /* Only the changes present now: a callback that changes another job
   * (or this one again) is served on the next turn. */
  size_t n = 0;
  for (sk__cjob_t *j = t->chead; j; j = j->cnext)
    n++;
  while (n-- > 0 && t->chead && !t->destroying) {
    sk__cjob_t *j = t->chead;
    unmark_changed(j);
    /* The callback may forget the job, and with it the key. */
    char *key = strdup(j->key);
    if (!key)
      break;
    t->cfg.on_change(key, t->cfg.arg);
    free(key);
  }
  if (!t->chead || t->destroying)
    uv_idle_stop(&t->notify);
}

/* ---- the job's state machine ---- */

static void set_str(char **dst, const char *src) {
  if (*dst && src && strcmp(*dst, src) == 0)
    return;
  free(*dst);
  *dst = src ? strdup(src) : NULL;
}

/* The one place a job's phase changes. */
static void job_set_phase(sk__cjob_t *j, sk_cjob_phase_t p, const char *why) {
  if (j->phase == p)
    return;
  sk_log_v(2, LOGGER, "job %s: %s -> %s%s%s", j->key, sk_cjob_phase_name(j->phase),
           sk_cjob_phase_name(p), why ? ": " : "", why ? why : "");
  j->phase = p;
  if (terminal(p)) {
    sk__cjobs_unschedule(j);
    j->op = SK__CJOB_OP_NONE;
    json_decref(j->create_body);
    j->create_body = NULL;
    free(j->page_token);
    j->page_token = NULL;
    if (j->cancel == SK_CJOB_CANCEL_PENDING)
      j->cancel = SK_CJOB_CANCEL_ACCEPTED;
  }
  mark_changed(j);
}

void sk__cjob_fail(sk__cjob_t *j, const char *message) {
  set_str(&j->message, message);
  job_set_phase(j, SK_CJOB_FAILED, message);
}

static int64_t retry_delay(sk__cjob_t *j, int64_t hint_ms) {
  int64_t d = sk_backoff_delay(j->t->cfg.retry_base_ms, 2.0, RETRY_CAP_MS, j->err_streak);
  d = sk_backoff_jitter(d, SK_JITTER_EQUAL, &j->t->rng);
  if (j->err_streak < 64)
    j->err_streak++;
  return hint_ms > d ? hint_ms : d;
}

/* The wait before the next cancel once failed tries have failed: doubling from 1 s, so the
 * SK_CJOBS_CANCEL_TRIES tries span about two minutes whatever came
 * between them (a status request resets the error streak). */
static int64_t cancel_delay(sk__cjob_t *j, unsigned failed) {
  if (failed == 0)
    return 0;
  int64_t d = sk_backoff_delay(j->t->cfg.retry_base_ms, 2.0, RETRY_CAP_MS, failed - 1);
  return sk_backoff_jitter(d, SK_JITTER_EQUAL, &j->t->rng);
}

/* What a job that the cloud has does next: the cancel when one is wanted
 * and not yet accepted, else the next poll. */
static void plan_running(sk__cjob_t *j, bool poll_now) {
  if (terminal(j->phase))
    return;
  if (j->cancel == SK_CJOB_CANCEL_PENDING) {
    sk__cjobs_schedule(j, SK__CJOB_OP_CANCEL, cancel_delay(j, j->cancel_tries));
    return;
  }
  sk__cjobs_schedule(j, SK__CJOB_OP_GET, poll_now ? 0 : sk_backoff_next(&j->poll));
}

/* What a job with no known cloud name does when a create is due: no create
 * once a cancel was asked (a lookup first if one may exist already). */
static void plan_create(sk__cjob_t *j, int64_t delay_ms) {
  if (j->cancel != SK_CJOB_CANCEL_NONE || j->no_create) {
    if (j->maybe_created) {
      sk__cjobs_schedule(j, SK__CJOB_OP_LOOKUP, delay_ms);
      return;
    }
    set_str(&j->message, "cancelled before the job was created");
    job_set_phase(j, SK_CJOB_CANCELLED, "cancelled before the create was sent");
    return;
  }
  sk__cjobs_schedule(j, SK__CJOB_OP_CREATE, delay_ms);
}

static void good_answer(sk__cjob_t *j) {
  j->err_streak = 0;
  j->auth_retried = false;
  free(j->message);
  j->message = NULL;
}

static void set_name(sk__cjob_t *j, const char *name, const char *arn) {
  set_str(&j->name, name);
  if (arn)
    set_str(&j->arn, arn);
  /* Named: no create will ever be sent again. */
  json_decref(j->create_body);
  j->create_body = NULL;
  free(j->page_token);
  j->page_token = NULL;
  j->maybe_created = false;
  if (j->phase == SK_CJOB_SUBMITTING)
    job_set_phase(j, SK_CJOB_RUNNING, name);
  mark_changed(j);
}

void sk__cjob_on_created(sk__cjob_t *j, const char *name, const char *arn) {
  good_answer(j);
  set_name(j, name, arn);
  sk_backoff_reset(&j->poll);
  plan_running(j, false);
}

void sk__cjob_on_found(sk__cjob_t *j, const char *name, const char *arn) {
  good_answer(j);
  j->t->stats.adopted++;
  sk_log_info(LOGGER, "job %s: adopted %s %s", j->key, sk_cjob_ref_kind(j->kind), name);
  set_name(j, name, arn);
  sk_backoff_reset(&j->poll);
  plan_running(j, true);
}

void sk__cjob_on_absent(sk__cjob_t *j) {
  good_answer(j);
  j->maybe_created = false;
  free(j->page_token);
  j->page_token = NULL;
  if (j->no_create) {
    set_str(&j->message, "no such job was ever created");
    job_set_phase(j, SK_CJOB_CANCELLED, "no job to follow");
    if (j->cancel == SK_CJOB_CANCEL_NONE) {
      j->cancel = SK_CJOB_CANCEL_ACCEPTED;
      mark_changed(j);
    }
    return;
  }
  /* A create refused as existing, then a describe that finds nothing: the
   * cloud is not consistent yet. Do not bounce between the two at once. */
  plan_create(j, j->saw_exists ? retry_delay(j, -1) : 0);
}

void sk__cjob_on_next_page(sk__cjob_t *j, char *token) {
  good_answer(j);
  free(j->page_token);
  j->page_token = token;
  sk__cjobs_schedule(j, SK__CJOB_OP_LOOKUP, 0);
}

void sk__cjob_on_state(sk__cjob_t *j, const char *state, const char *secondary,
                       sk_cjob_phase_t phase, const char *message, json_t *outputs) {
  good_answer(j);
  bool moved = !j->state || !state || strcmp(j->state, state) != 0 ||
               (secondary && (!j->secondary || strcmp(j->secondary, secondary) != 0));
  if (moved) {
    /* Something is happening: look again soon rather than at the long
     * interval the backoff had reached. */
    sk_backoff_reset(&j->poll);
    set_str(&j->state, state);
    set_str(&j->secondary, secondary);
    mark_changed(j);
  }
  if (outputs) {
    json_decref(j->outputs);
    j->outputs = outputs;
  }
  if (terminal(phase)) {
    set_str(&j->message, message);
    job_set_phase(j, phase, state);
    return;
  }
  if (j->phase == SK_CJOB_SUBMITTING)
    job_set_phase(j, SK_CJOB_RUNNING, state);
  plan_running(j, false);
}

void sk__cjob_on_cancel_accepted(sk__cjob_t *j) {
  good_answer(j);
  if (j->cancel != SK_CJOB_CANCEL_ACCEPTED) {
    j->cancel = SK_CJOB_CANCEL_ACCEPTED;
    mark_changed(j);
  }
  sk_log_info(LOGGER, "job %s: the cloud accepted the cancel of %s", j->key,
              j->name ? j->name : "?");
  sk_backoff_reset(&j->poll);
  plan_running(j, false);
}

static void set_retry_message(sk__cjob_t *j, const char *what, const sk_cloud_error_t *err,
                              int64_t delay_ms) {
  char dur[32], msg[SK_CLOUD_MAX_MESSAGE + 128];
  sk_duration_format(delay_ms, dur, sizeof(dur));
  /* Cut where the message would be cut anyway (sk__cloud_clean_text caps
   * it at SK_CLOUD_MAX_MESSAGE), with a precision the compiler can see. */
  snprintf(msg, sizeof(msg), "%.64s, next try in %.31s: %.*s", what, dur,
           SK_CLOUD_MAX_MESSAGE - 1, err->message);
  char clean[SK_CLOUD_MAX_MESSAGE];
  sk__cloud_clean_text(msg, strlen(msg), clean, sizeof(clean));
  set_str(&j->message, clean);
}

/* A refused or failed cancel: count it; look at the job (it may have
 * ended, which is why a cloud refuses a cancel) before trying again. */
static void cancel_failed(sk__cjob_t *j, const sk_cloud_error_t *err, int64_t delay_ms) {
  j->cancel_tries++;
  sk_log_warn(LOGGER, "job %s: cancel %u of %d failed: %s", j->key, j->cancel_tries,
              SK_CJOBS_CANCEL_TRIES, err->message);
  set_str(&j->message, err->message);
  if (j->cancel_tries >= SK_CJOBS_CANCEL_TRIES) {
    j->cancel = SK_CJOB_CANCEL_GAVE_UP;
    mark_changed(j);
    sk__cjobs_schedule(j, SK__CJOB_OP_GET, delay_ms);
    return;
  }
  if (err->cls == SK_CLOUD_ERR_THROTTLE || err->cls == SK_CLOUD_ERR_TRANSIENT)
    sk__cjobs_schedule(j, SK__CJOB_OP_CANCEL, delay_ms);
  else
    sk__cjobs_schedule(j, SK__CJOB_OP_GET, 0);
}

/* A lookup that failed while a cancel waits for the job's name: the
 * cancel could not be sent either, so this counts as one of its tries. A
 * cloud that never answers the lookup would otherwise keep the cancel
 * pending, and the Workflow's finalizer, for ever. The lookups go on (a
 * job found later is followed, never created). */
static void cancel_blocked(sk__cjob_t *j, const sk_cloud_error_t *err) {
  if (j->op != SK__CJOB_OP_LOOKUP || j->cancel != SK_CJOB_CANCEL_PENDING)
    return;
  /* Only the failures after which the lookup is tried again. */
  if (err->cls != SK_CLOUD_ERR_TRANSIENT && err->cls != SK_CLOUD_ERR_THROTTLE &&
      err->cls != SK_CLOUD_ERR_AUTH)
    return;
  j->cancel_tries++;
  sk_log_warn(LOGGER, "job %s: cancel %u of %d not sent, the job lookup failed: %s", j->key,
              j->cancel_tries, SK_CJOBS_CANCEL_TRIES, err->message);
  if (j->cancel_tries >= SK_CJOBS_CANCEL_TRIES) {
    j->cancel = SK_CJOB_CANCEL_GAVE_UP;
    mark_changed(j);
  }
}

void sk__cjob_on_error(sk__cjob_t *j, const sk_cloud_error_t *err) {
  sk_cjobs_t *t = j->t;
  const char *svc = kind_ops(j)->service;
  sk__cjob_op_t op = j->op;
  sk_log_v(1, LOGGER, "job %s: %s %s: %s", j->key, sk__cjob_op_name(op),
           sk__cloud_err_class_name(err->cls), err->message);
  cancel_blocked(j, err);
  switch (err->cls) {
  case SK_CLOUD_ERR_AUTH:
    if (!j->auth_retried) {
      /* The credential may have been revoked or rotated: fetch a fresh one
       * and try once more (a lookup instead of a create once a cancel was
       * asked). */
      j->auth_retried = true;
      sk_cloud_authz_invalidate(j->authz);
      if (op == SK__CJOB_OP_CREATE && j->cancel != SK_CJOB_CANCEL_NONE)
        plan_create(j, 0);
      else
        sk__cjobs_schedule(j, op, 0);
      return;
    }
    break;
  case SK_CLOUD_ERR_THROTTLE: {
    t->stats.throttled++;
    int64_t d = err->retry_after_ms > SK_CJOBS_THROTTLE_MIN_MS ? err->retry_after_ms
                                                               : SK_CJOBS_THROTTLE_MIN_MS;
    /* Spread the retries of many throttled jobs over a tenth more. */
    d += sk_rand_range(&t->rng, d / 10);
    j->hold_until = loop_now(t) + d;
    char what[64];
    snprintf(what, sizeof(what), "throttled by %s", svc);
    set_retry_message(j, what, err, d);
    if (op == SK__CJOB_OP_CANCEL)
      cancel_failed(j, err, d);
    else if (op == SK__CJOB_OP_CREATE && j->cancel != SK_CJOB_CANCEL_NONE)
      plan_create(j, d); /* a throttled create is never sent again once a cancel is asked */
    else
      sk__cjobs_schedule(j, op, d);
    return;
  }
  case SK_CLOUD_ERR_EXISTS:
    if (op == SK__CJOB_OP_CREATE) {
      /* SageMaker: a job of our name exists, so an earlier create of ours
       * went through. Adopt it: describe it as a lookup. */
      j->maybe_created = true;
      j->saw_exists = true;
      sk__cjobs_schedule(j, SK__CJOB_OP_LOOKUP, 0);
      return;
    }
    break;
  default:
    break;
  }

  bool transient = err->cls == SK_CLOUD_ERR_TRANSIENT;
  if (transient)
    t->stats.errors++;
  switch (op) {
  case SK__CJOB_OP_CREATE:
    if (transient) {
      /* The create may have gone through with its answer lost: look for
       * it before creating again (SageMaker's lookup is the create itself,
       * by name; the kind decides in plan_create's lookup). */
      int64_t d = retry_delay(j, err->retry_after_ms);
      /* No answer at all: the create may still be under way at the
       * cloud, and a lookup too soon would miss it (SageMaker's retry is
       * the create itself, by name, unless a cancel was asked). */
      bool lookup_next = j->kind == SK_CJOB_VERTEX || j->cancel != SK_CJOB_CANCEL_NONE;
      if (lookup_next && err->status == 0 && t->cfg.settle_ms > d)
        d = t->cfg.settle_ms;
      set_retry_message(j, "the create failed", err, d);
      j->maybe_created = true;
      if (j->cancel != SK_CJOB_CANCEL_NONE)
        plan_create(j, d); /* a lookup: no create once a cancel was asked */
      else
        sk__cjobs_schedule(j, j->kind == SK_CJOB_VERTEX ? SK__CJOB_OP_LOOKUP : SK__CJOB_OP_CREATE,
                           d);
      return;
    }
    sk__cjob_fail(j, err->message);
    return;
  case SK__CJOB_OP_LOOKUP:
    if (transient || err->cls == SK_CLOUD_ERR_AUTH) {
      int64_t d = retry_delay(j, err->retry_after_ms);
      set_retry_message(j, "the job lookup failed", err, d);
      sk__cjobs_schedule(j, SK__CJOB_OP_LOOKUP, d);
      return;
    }
    if (err->cls == SK_CLOUD_ERR_NOT_FOUND && j->kind != SK_CJOB_VERTEX) {
      sk__cjob_on_absent(j);
      return;
    }
    sk__cjob_fail(j, err->message);
    return;
  case SK__CJOB_OP_GET:
    if (err->cls == SK_CLOUD_ERR_NOT_FOUND) {
      char msg[SK_CLOUD_MAX_MESSAGE + 64];
      snprintf(msg, sizeof(msg), "%s no longer knows the job %s: %s", svc,
               j->name ? j->name : "?", err->message);
      char clean[SK_CLOUD_MAX_MESSAGE];
      sk__cloud_clean_text(msg, strlen(msg), clean, sizeof(clean));
      sk__cjob_fail(j, clean);
      return;
    }
    {
      /* Transient, or refused (a permission lost): the job itself goes on
       * in the cloud, so keep asking, no faster than the poll's cap. */
      int64_t d = retry_delay(j, err->retry_after_ms);
      if (!transient && d < j->poll.cap_ms)
        d = j->poll.cap_ms;
      set_retry_message(j, "the status request failed", err, d);
      sk__cjobs_schedule(j, SK__CJOB_OP_GET, d);
    }
    return;
  case SK__CJOB_OP_CANCEL: {
    int64_t d = cancel_delay(j, j->cancel_tries + 1);
    cancel_failed(j, err, err->retry_after_ms > d ? err->retry_after_ms : d);
    return;
  }
  case SK__CJOB_OP_NONE:
    return;
  }
}

void sk__cjob_on_bad_answer(sk__cjob_t *j, const char *what) {
  sk_cloud_error_t err;
  memset(&err, 0, sizeof(err));
  err.cls = SK_CLOUD_ERR_TRANSIENT;
  err.retry_after_ms = -1;
  snprintf(err.message, sizeof(err.message), "%s answered with something unreadable (%s)",
           kind_ops(j)->service, what);
  sk__cjob_on_error(j, &err);
}

/* ---- the tracker ---- */

void sk__cjobs_maybe_free(sk_cjobs_t *t) {
  if (!t->destroying || t->open_handles > 0 || t->nreqs > 0)
    return;
  for (size_t i = 0; i < sizeof(t->strs) / sizeof(t->strs[0]); i++)
    free(t->strs[i]);
  free(t->buckets);
  free(t->heap);
  free(t);
}

static void on_tracker_handle_closed(uv_handle_t *h) {
  sk_cjobs_t *t = h->data;
  t->open_handles--;
  sk__cjobs_maybe_free(t);
}

sk_cjobs_t *sk_cjobs_create(uv_loop_t *loop, sk_http_t *http, const sk_cjobs_config_t *cfg) {
  if (!loop || !http || !cfg)
    return NULL;
  sk_cjobs_t *t = calloc(1, sizeof(*t));
  if (!t)
    return NULL;
  t->loop = loop;
  t->http = http;
  t->cfg = *cfg;
  const char **eps[] = {&t->cfg.endpoints.vertex_endpoint,   &t->cfg.endpoints.google_token_uri,
                        &t->cfg.endpoints.gce_metadata_host, &t->cfg.endpoints.sagemaker_endpoint,
                        &t->cfg.endpoints.sts_endpoint,      &t->cfg.endpoints.imds_endpoint,
                        &t->cfg.endpoints.ca_file,           &t->cfg.endpoints.home};
  for (size_t i = 0; i < 8; i++) {
    if (!*eps[i])
      continue;
    t->strs[i] = strdup(*eps[i]);
    if (!t->strs[i])
      goto fail;
    *eps[i] = t->strs[i];
  }
  t->tls.ca_file = t->cfg.endpoints.ca_file;
  if (t->cfg.vertex_qps <= 0)
    t->cfg.vertex_qps = 8;
  if (t->cfg.vertex_burst <= 0)
    t->cfg.vertex_burst = 20;
  if (t->cfg.sagemaker_qps <= 0)
    t->cfg.sagemaker_qps = 4;
  if (t->cfg.sagemaker_burst <= 0)
    t->cfg.sagemaker_burst = 10;
  if (t->cfg.request_timeout_ms <= 0)
    t->cfg.request_timeout_ms = 30000;
  if (t->cfg.retry_base_ms <= 0)
    t->cfg.retry_base_ms = RETRY_BASE_MS;
  if (t->cfg.settle_ms == 0)
    t->cfg.settle_ms = SK_CJOBS_SETTLE_MS;
  t->settled_at = loop_now(t) + (t->cfg.settle_ms > 0 ? t->cfg.settle_ms : 0);
  t->rng = cfg->seed ? cfg->seed : (uint64_t)sk_time_now_ms() ^ (uint64_t)(uintptr_t)t;
  if (uv_timer_init(loop, &t->timer) != 0)
    goto fail;
  t->timer.data = t;
  t->open_handles++;
  if (uv_idle_init(loop, &t->notify) != 0) {
    t->destroying = true;
    uv_close((uv_handle_t *)&t->timer, on_tracker_handle_closed);
    return NULL; /* freed when the timer has closed */
  }
  t->notify.data = t;
  t->open_handles++;
  return t;
fail:
  for (size_t i = 0; i < 8; i++)
    free(t->strs[i]);
  free(t);
  return NULL;
}

static void job_free(sk__cjob_t *j) {
  free(j->key);
  free(j->workflow_uid);
  free(j->workflow_name);
  free(j->instance);
  free(j->project);
  free(j->location);
  free(j->region);
  json_decref(j->create_body);
  free(j->own_name);
  free(j->name);
  free(j->arn);
  free(j->state);
  free(j->secondary);
  free(j->message);
  json_decref(j->outputs);
  free(j->page_token);
  free(j);
}

/* Takes j out of everything and frees it; its request, if any, is
 * cancelled and ends on its own. */
static void job_drop(sk__cjob_t *j) {
  sk_cjobs_t *t = j->t;
  sk__cjobs_unschedule(j);
  unmark_changed(j);
  if (j->req) {
    j->req->job = NULL;
    if (j->req->http)
      sk_http_cancel(j->req->http);
    j->req = NULL;
  }
  table_del(t, j);
  job_free(j);
}

void sk_cjobs_destroy(sk_cjobs_t *t) {
  if (!t || t->destroying)
    return;
  t->destroying = true;
  for (size_t i = 0; i < t->nbuckets; i++)
    while (t->buckets[i])
      job_drop(t->buckets[i]);
  uv_close((uv_handle_t *)&t->timer, on_tracker_handle_closed);
  uv_close((uv_handle_t *)&t->notify, on_tracker_handle_closed);
  sk__cjob_ep_t *ep = t->eps;
  t->eps = NULL;
  while (ep) {
    sk__cjob_ep_t *next = ep->next;
    sk__cjobs_ep_close(ep);
    ep = next;
  }
}

/* ---- ensure ---- */

/* The poll schedule from the step's poll: object (seconds, fractions
 * allowed), defaults otherwise. */
static void poll_settings(const json_t *body, uint64_t seed, sk_backoff_t *b) {
  json_t *poll = json_object_get(body, "poll");
  double initial = json_number_value(json_object_get(poll, "initialSeconds"));
  double factor = json_number_value(json_object_get(poll, "factor"));
  double max = json_number_value(json_object_get(poll, "maxSeconds"));
  int64_t base_ms = initial > 0 && initial < 1e7 ? (int64_t)(initial * 1000.0)
                                                 : SK_CJOBS_DEFAULT_POLL_INITIAL_MS;
  if (base_ms < 1)
    base_ms = 1;
  int64_t cap_ms = max > 0 && max < 1e7 ? (int64_t)(max * 1000.0) : SK_CJOBS_DEFAULT_POLL_MAX_MS;
  if (cap_ms < base_ms)
    cap_ms = base_ms;
  if (!(factor >= 1 && factor <= 100))
    factor = SK_CJOBS_DEFAULT_POLL_FACTOR;
  if (sk_backoff_init(b, base_ms, cap_ms, factor, SK_JITTER_EQUAL, seed) < 0)
    sk_backoff_init(b, SK_CJOBS_DEFAULT_POLL_INITIAL_MS, SK_CJOBS_DEFAULT_POLL_MAX_MS,
                    SK_CJOBS_DEFAULT_POLL_FACTOR, SK_JITTER_EQUAL, seed);
}

static const char *body_str(const json_t *body, const char *key) {
  const char *s = json_string_value(json_object_get(body, key));
  return s && *s ? s : NULL;
}

/* Fills the kind's part of a new job; < 0 with a message in err when the
 * job cannot run (the job is then FAILED with it). SK_EINVAL marks a desc
 * that cannot be a job at all. */
static int job_setup(sk_cjobs_t *t, sk__cjob_t *j, const sk_cjob_desc_t *d, char *err,
                     size_t errlen) {
  char base[1024];
  int rc;
  if (j->kind == SK_CJOB_VERTEX) {
    const char *project = body_str(d->body, "project");
    if (!project)
      project = d->default_project && *d->default_project ? d->default_project : NULL;
    const char *location = body_str(d->body, "location");
    if (!location)
      location = SK_VERTEX_DEFAULT_LOCATION;
    /* Without a project here, a Google authoriser is asked for its own
     * (the key's project_id, GOOGLE_CLOUD_PROJECT, the metadata server)
     * before the first create or lookup; a recorded name needs none. */
    if ((project && !sk_vertex_name_ok(project)) || !sk_vertex_name_ok(location)) {
      snprintf(err, errlen, "vertex.project or vertex.location is not a valid name");
      return SK_EINVAL;
    }
    j->project = sk_strdup0(project);
    j->location = strdup(location);
    if ((project && !j->project) || !j->location)
      return SK_ENOMEM;
    const char *tmpl = t->cfg.endpoints.vertex_endpoint ? t->cfg.endpoints.vertex_endpoint
                                                        : SK_VERTEX_DEFAULT_ENDPOINT;
    if ((rc = sk_cloud_endpoint_url(tmpl, location, base, sizeof(base))) < 0) {
      snprintf(err, errlen, "the Vertex AI endpoint URL is too long");
      return rc;
    }
    if (!d->name && !d->no_create) {
      j->create_body = sk_vertex_create_body(json_object_get(d->body, "customJob"),
                                             d->workflow_name, d->workflow_uid, d->instance,
                                             d->attempt, err, errlen);
      if (!j->create_body)
        return SK_EINVAL;
    }
  } else {
    bool processing = j->kind == SK_CJOB_SAGEMAKER_PROCESSING;
    const char *field = processing ? "processingJob" : "trainingJob";
    const json_t *job = json_object_get(d->body, field);
    const char *region = body_str(d->body, "region");
    if (!region)
      region = d->default_region && *d->default_region ? d->default_region : NULL;
    if (!region) {
      snprintf(err, errlen,
               "no AWS region: set sagemaker.region in the step, or AWS_REGION for the "
               "controller");
      return SK_ENOENT;
    }
    if (!sk_vertex_name_ok(region)) {
      snprintf(err, errlen, "sagemaker.region is not a valid region name");
      return SK_EINVAL;
    }
    j->region = strdup(region);
    if (!j->region)
      return SK_ENOMEM;
    const char *tmpl = t->cfg.endpoints.sagemaker_endpoint ? t->cfg.endpoints.sagemaker_endpoint
                                                           : SK_SAGEMAKER_DEFAULT_ENDPOINT;
    if ((rc = sk_cloud_endpoint_url(tmpl, region, base, sizeof(base))) < 0) {
      snprintf(err, errlen, "the SageMaker endpoint URL is too long");
      return rc;
    }
    char name[SK_SAGEMAKER_NAME_MAX + 1];
    if ((rc = sk_sagemaker_job_name(d->workflow_name, d->workflow_uid, d->instance, d->attempt,
                                    name, sizeof(name))) < 0) {
      snprintf(err, errlen, "no SageMaker job name can be made for this step");
      return SK_EINVAL;
    }
    j->own_name = strdup(name);
    if (!j->own_name)
      return SK_ENOMEM;
    if (!d->name && !d->no_create) {
      if (!json_is_object(job)) {
        snprintf(err, errlen, "sagemaker.%s must be an object", field);
        return SK_EINVAL;
      }
      j->create_body = json_deep_copy(job);
      if (!j->create_body)
        return SK_ENOMEM;
    }
  }
  if (d->name) {
    bool ok = j->kind == SK_CJOB_VERTEX ? sk_vertex_job_name_ok(d->name)
                                        : sk_sagemaker_name_ok(d->name);
    if (!ok) {
      snprintf(err, errlen, "the recorded job name is not a valid %s name",
               sk_cjob_ref_kind(j->kind));
      return SK_EINVAL;
    }
    j->name = strdup(d->name);
    if (!j->name)
      return SK_ENOMEM;
  }
  j->ep = sk__cjobs_ep_get(t, base, j->kind != SK_CJOB_VERTEX);
  if (!j->ep)
    return SK_ENOMEM;
  return 0;
}

int sk_cjobs_ensure(sk_cjobs_t *t, const sk_cjob_desc_t *d) {
  if (!t || !d || !d->key || t->destroying)
    return SK_EINVAL;
  sk__cjob_t *j = table_get(t, d->key);
  if (j) {
    if (d->authz && d->authz != j->authz)
      j->authz = d->authz;
    return 0;
  }
  if (!sk_cjob_ref_kind(d->kind))
    return SK_EINVAL;
  j = calloc(1, sizeof(*j));
  if (!j)
    return SK_ENOMEM;
  j->t = t;
  j->heap_idx = SIZE_MAX; /* not scheduled */
  j->kind = d->kind;
  j->authz = d->authz;
  j->attempt = d->attempt;
  j->no_create = d->no_create;
  j->maybe_created = d->adopt_first || d->no_create;
  j->key = strdup(d->key);
  j->workflow_uid = sk_strdup0(d->workflow_uid);
  j->workflow_name = sk_strdup0(d->workflow_name);
  j->instance = sk_strdup0(d->instance);
  if (!j->key || (d->workflow_uid && !j->workflow_uid) ||
      (d->workflow_name && !j->workflow_name) || (d->instance && !j->instance) ||
      table_put(t, j) < 0) {
    free(j->key);
    j->key = NULL;
    job_free(j);
    return SK_ENOMEM;
  }
  t->stats.tracked = t->count;
  poll_settings(d->body, sk_rand_next(&t->rng), &j->poll);
  char err[SK_CLOUD_MAX_MESSAGE];
  err[0] = '\0';
  int rc;
  if (!json_is_object(d->body)) {
    snprintf(err, sizeof(err), "the step has no %s body",
             d->kind == SK_CJOB_VERTEX ? "vertex" : "sagemaker");
    rc = SK_EINVAL;
  } else if (!d->workflow_uid || !d->instance || d->attempt < 1) {
    snprintf(err, sizeof(err), "the job has no workflow uid, step instance or attempt");
    rc = SK_EINVAL;
  } else if (!d->authz) {
    snprintf(err, sizeof(err), "the job has no authoriser");
    rc = SK_EINVAL;
  } else {
    rc = job_setup(t, j, d, err, sizeof(err));
  }
  if (rc < 0) {
    if (rc == SK_ENOMEM) {
      job_drop(j);
      t->stats.tracked = t->count;
      return SK_ENOMEM;
    }
    sk__cjob_fail(j, err);
    return rc == SK_EINVAL ? SK_EINVAL : 0;
  }
  mark_changed(j);
  if (j->name) {
    /* Resume: the recorded job exists; follow it. */
    job_set_phase(j, SK_CJOB_RUNNING, "resumed");
    sk__cjobs_schedule(j, SK__CJOB_OP_GET, 0);
  } else if (j->maybe_created) {
    /* A predecessor's last Vertex create may still be under way. */
    int64_t wait = j->kind == SK_CJOB_VERTEX ? t->settled_at - loop_now(t) : 0;
    sk__cjobs_schedule(j, SK__CJOB_OP_LOOKUP, wait > 0 ? wait : 0);
  } else {
    sk__cjobs_schedule(j, SK__CJOB_OP_CREATE, 0);
  }
  return 0;
}

int sk_cjobs_cancel(sk_cjobs_t *t, const char *key) {
  if (!t || !key)
    return SK_EINVAL;
  sk__cjob_t *j = table_get(t, key);
  if (!j)
    return SK_ENOENT;
  if (j->cancel != SK_CJOB_CANCEL_NONE)
    return 0;
  if (terminal(j->phase)) {
    j->cancel = SK_CJOB_CANCEL_ACCEPTED;
    mark_changed(j);
    return 0;
  }
  j->cancel = SK_CJOB_CANCEL_PENDING;
  mark_changed(j);
  if (j->req)
    return 0; /* the answer plans what follows */
  if (j->phase == SK_CJOB_SUBMITTING) {
    if (j->op == SK__CJOB_OP_CREATE) {
      /* Not sent yet (or sent and answered without a name, which would be
       * a lost create: then maybe_created is set and a lookup goes first). */
      sk__cjobs_unschedule(j);
      plan_create(j, 0);
    }
    return 0;
  }
  sk__cjobs_unschedule(j);
  sk__cjobs_schedule(j, SK__CJOB_OP_CANCEL, 0);
  return 0;
}

int sk_cjobs_info(const sk_cjobs_t *t, const char *key, sk_cjob_info_t *out) {
  if (!t || !key || !out)
    return SK_EINVAL;
  const sk__cjob_t *j = table_get(t, key);
  if (!j)
    return SK_ENOENT;
  memset(out, 0, sizeof(*out));
  out->phase = j->phase;
  out->ref_kind = sk_cjob_ref_kind(j->kind);
  out->name = j->name;
  out->state = j->state;
  out->message = j->message;
  out->outputs = j->outputs;
  out->cancel = j->cancel;
  out->next_poll_at_ms = j->next_at_ms;
  out->polls = j->polls;
  return 0;
}

void sk_cjobs_forget(sk_cjobs_t *t, const char *key) {
  if (!t || !key)
    return;
  sk__cjob_t *j = table_get(t, key);
  if (!j)
    return;
  job_drop(j);
  t->stats.tracked = t->count;
}

void sk_cjobs_stats(const sk_cjobs_t *t, sk_cjobs_stats_t *out) {
  memset(out, 0, sizeof(*out));
  if (!t)
    return;
  *out = t->stats;
  out->tracked = t->count;
  out->in_flight = t->nreqs;
  for (const sk__cjob_ep_t *ep = t->eps; ep; ep = ep->next)
    out->waiting += ep->queued;
}
