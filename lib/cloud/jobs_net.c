/*
 * The cloud job tracker's schedule and wire (see jobs.h, cloud-int.h):
 * when each job sends its next request, the token bucket of each endpoint,
 * and a request's way out and back: token, the Vertex AI project when one
 * must be asked for, authorisation, the HTTP request, and the answer
 * handed to the job's kind.
 *
 * Memory and handles: a job has no uv handle. The next request of every
 * job is in one binary min-heap ordered by due time, served by one
 * uv_timer for the whole tracker; a due job joins its endpoint's queue,
 * which one uv_timer per endpoint drains as the token bucket allows. A
 * request allocates only while it is in flight.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/cloud-int.h"
#include "cloud/gcp.h"
#include "cloud/vertex.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"
#include "util/timeutil.h"

#define LOGGER "cloud-jobs"
#define NO_HEAP SIZE_MAX

static int64_t loop_now(const sk_cjobs_t *t) { return (int64_t)uv_now(t->loop); }

static void set_str(char **dst, const char *src) {
  free(*dst);
  *dst = src ? strdup(src) : NULL;
}

/* ---- the schedule: a min-heap of due times ---- */

static bool heap_less(const sk__cjob_t *a, const sk__cjob_t *b) { return a->due < b->due; }

static void heap_set(sk_cjobs_t *t, size_t i, sk__cjob_t *j) {
  t->heap[i] = j;
  j->heap_idx = i;
}

static void heap_up(sk_cjobs_t *t, size_t i) {
  sk__cjob_t *j = t->heap[i];
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!heap_less(j, t->heap[p]))
      break;
    heap_set(t, i, t->heap[p]);
    i = p;
  }
  heap_set(t, i, j);
}

static void heap_down(sk_cjobs_t *t, size_t i) {
  sk__cjob_t *j = t->heap[i];
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    const sk__cjob_t *best = j;
    if (l < t->heap_len && heap_less(t->heap[l], best)) {
      m = l;
      best = t->heap[l];
    }
    if (r < t->heap_len && heap_less(t->heap[r], best))
      m = r;
    if (m == i)
      break;
    heap_set(t, i, t->heap[m]);
    i = m;
  }
  heap_set(t, i, j);
}

static void heap_remove(sk_cjobs_t *t, sk__cjob_t *j) {
  size_t i = j->heap_idx;
  if (i == NO_HEAP)
    return;
  j->heap_idx = NO_HEAP;
  t->heap_len--;
  if (i == t->heap_len)
    return;
  sk__cjob_t *last = t->heap[t->heap_len];
  heap_set(t, i, last);
  heap_up(t, i);
  heap_down(t, last->heap_idx);
}

static int heap_push(sk_cjobs_t *t, sk__cjob_t *j) {
  if (sk_array_grow((void **)&t->heap, &t->heap_cap, t->heap_len, sizeof(*t->heap)) < 0)
    return SK_ENOMEM;
  heap_set(t, t->heap_len++, j);
  heap_up(t, j->heap_idx);
  return 0;
}

static void on_timer(uv_timer_t *timer);

static void arm_timer(sk_cjobs_t *t) {
  if (t->destroying)
    return;
  if (t->heap_len == 0) {
    uv_timer_stop(&t->timer);
    return;
  }
  int64_t d = t->heap[0]->due - loop_now(t);
  uv_timer_start(&t->timer, on_timer, d > 0 ? (uint64_t)d : 0, 0);
}

/* ---- endpoints and their token buckets ---- */

static void ep_unqueue(sk__cjob_t *j) {
  if (!j->queued)
    return;
  sk__cjob_ep_t *ep = j->ep;
  sk__cjob_t **pp = &ep->qhead, *prev = NULL;
  for (; *pp; prev = *pp, pp = &(*pp)->qnext)
    if (*pp == j) {
      *pp = j->qnext;
      if (ep->qtail == j)
        ep->qtail = prev;
      break;
    }
  j->qnext = NULL;
  j->queued = false;
  ep->queued--;
}

/* Takes j off the schedule: out of the heap and its endpoint's queue. */
void sk__cjobs_unschedule(sk__cjob_t *j) {
  heap_remove(j->t, j);
  ep_unqueue(j);
  j->next_at_ms = 0;
}

static void job_send(sk__cjob_t *j);
static void on_ep_timer(uv_timer_t *timer);

static void ep_arm(sk__cjob_ep_t *ep) {
  if (!ep->qhead || ep->t->destroying)
    return;
  int64_t d = sk_ratelimit_when(&ep->rl, loop_now(ep->t));
  uv_timer_start(&ep->timer, on_ep_timer, d > 0 ? (uint64_t)d : 1, 0);
}

static void on_ep_timer(uv_timer_t *timer) {
  sk__cjob_ep_t *ep = timer->data;
  sk_cjobs_t *t = ep->t;
  while (ep->qhead && sk_ratelimit_take(&ep->rl, loop_now(t))) {
    sk__cjob_t *j = ep->qhead;
    ep_unqueue(j);
    job_send(j);
  }
  ep_arm(ep);
}

/* A due job asks its endpoint for a token: sent now when one is there and
 * nobody waits before it, else queued in order. */
static void ep_submit(sk__cjob_t *j) {
  sk__cjob_ep_t *ep = j->ep;
  if (!ep->qhead && sk_ratelimit_take(&ep->rl, loop_now(j->t))) {
    job_send(j);
    return;
  }
  j->queued = true;
  j->qnext = NULL;
  if (ep->qtail)
    ep->qtail->qnext = j;
  else
    ep->qhead = j;
  ep->qtail = j;
  ep->queued++;
  if (ep->qhead == j)
    ep_arm(ep);
}

static void on_timer(uv_timer_t *timer) {
  sk_cjobs_t *t = timer->data;
  int64_t now = loop_now(t);
  while (t->heap_len && t->heap[0]->due <= now) {
    sk__cjob_t *j = t->heap[0];
    heap_remove(t, j);
    ep_submit(j);
  }
  arm_timer(t);
}

sk__cjob_ep_t *sk__cjobs_ep_get(sk_cjobs_t *t, const char *base, bool sagemaker) {
  for (sk__cjob_ep_t *ep = t->eps; ep; ep = ep->next)
    if (strcmp(ep->base, base) == 0)
      return ep;
  sk__cjob_ep_t *ep = calloc(1, sizeof(*ep));
  if (!ep)
    return NULL;
  ep->base = strdup(base);
  double qps = sagemaker ? t->cfg.sagemaker_qps : t->cfg.vertex_qps;
  int burst = sagemaker ? t->cfg.sagemaker_burst : t->cfg.vertex_burst;
  if (!ep->base || sk_ratelimit_init(&ep->rl, qps, burst, loop_now(t)) < 0 ||
      uv_timer_init(t->loop, &ep->timer) != 0) {
    free(ep->base);
    free(ep);
    return NULL;
  }
  ep->t = t;
  ep->timer.data = ep;
  t->open_handles++;
  ep->next = t->eps;
  t->eps = ep;
  return ep;
}

/* Puts op on the schedule, delay_ms from now. */
void sk__cjobs_schedule(sk__cjob_t *j, sk__cjob_op_t op, int64_t delay_ms) {
  sk_cjobs_t *t = j->t;
  if (t->destroying || sk__cjob_terminal(j->phase))
    return;
  sk__cjobs_unschedule(j);
  j->op = op;
  int64_t now = loop_now(t);
  if (delay_ms < 0)
    delay_ms = 0;
  /* Nothing, not even a cancel, goes out before a throttling answer's
   * wait is over. */
  if (now + delay_ms < j->hold_until)
    delay_ms = j->hold_until - now;
  j->due = now + delay_ms;
  j->next_at_ms = sk_time_now_ms() + delay_ms;
  if (heap_push(t, j) < 0) {
    sk__cjob_fail(j, "out of memory scheduling the job's next request");
    return;
  }
  if (j->heap_idx == 0)
    arm_timer(t);
}

/* ---- requests ---- */

static void req_free(sk__cjob_req_t *r);

static void req_unlink(sk__cjob_req_t *r) {
  sk_cjobs_t *t = r->t;
  if (r->prev)
    r->prev->next = r->next;
  else
    t->reqs = r->next;
  if (r->next)
    r->next->prev = r->prev;
  t->nreqs--;
}

static void req_free(sk__cjob_req_t *r) {
  free(r->w.url);
  free(r->w.body);
  free(r);
}

/* Ends r: detaches it from its job and frees it; the job (if any) is
 * returned for the answer's handling. */
static sk__cjob_t *req_end(sk__cjob_req_t *r) {
  sk__cjob_t *j = r->job;
  if (j)
    j->req = NULL;
  sk_cjobs_t *t = r->t;
  req_unlink(r);
  req_free(r);
  if (t->destroying)
    sk__cjobs_maybe_free(t);
  return j;
}

/* A failure of ours or the authoriser's before anything was sent. */
static void fail_unsent(sk__cjob_t *j, sk_cloud_err_class_t cls, const char *what,
                        const char *detail) {
  sk_cloud_error_t err;
  memset(&err, 0, sizeof(err));
  err.cls = cls;
  err.retry_after_ms = -1;
  char clean[SK_CLOUD_MAX_MESSAGE];
  sk__cloud_clean_text(detail ? detail : "", detail ? strlen(detail) : 0, clean, sizeof(clean));
  char msg[SK_CLOUD_MAX_MESSAGE + 128];
  snprintf(msg, sizeof(msg), "%s %s: %s", what, sk__cjob_kind(j)->service, clean);
  sk__cloud_clean_text(msg, strlen(msg), err.message, sizeof(err.message));
  sk__cjob_on_error(j, &err);
}

static void on_http_done(sk_http_req_t *hreq, const sk_http_resp_t *resp, void *arg) {
  sk__cjob_req_t *r = arg;
  r->http = NULL;
  sk__cjob_op_t op = r->op;
  sk__cjob_t *j = req_end(r);
  if (!j)
    return;
  if (resp->error == 0 && resp->status >= 500)
    sk_log_v(1, LOGGER, "job %s: %s answered %ld", j->key, sk__cjob_op_name(op), resp->status);
  if (op == SK__CJOB_OP_GET && resp->error == 0 && resp->status >= 200 && resp->status < 300)
    j->polls++;
  sk__cjob_kind(j)->answer(j, op, resp);
}

static void on_authorized(const sk_cloud_auth_result_t *res, void *arg) {
  sk__cjob_req_t *r = arg;
  sk__cjob_t *j = r->job;
  sk_cjobs_t *t = r->t;
  if (!j) {
    req_end(r);
    return;
  }
  if (res->rc < 0) {
    req_end(r);
    /* Missing or refused credentials will not fix themselves within a
     * retry; an unreachable credential endpoint may. */
    fail_unsent(j, res->rc == SK_EAUTH ? SK_CLOUD_ERR_PERMANENT : SK_CLOUD_ERR_TRANSIENT,
                "no credentials for", res->message ? res->message : sk_strerror(res->rc));
    return;
  }
  sk_http_opts_t o;
  memset(&o, 0, sizeof(o));
  o.method = r->w.method;
  o.url = r->w.url;
  o.body = r->w.body;
  o.body_len = r->w.body_len;
  o.timeout_ms = t->cfg.request_timeout_ms;
  /* A Vertex create has no idempotency key: never let libcurl resend it
   * on its own (see sk_http_opts_t.fresh_connection). */
  o.fresh_connection = r->op == SK__CJOB_OP_CREATE && j->kind == SK_CJOB_VERTEX;
  o.max_body = 4u << 20;
  o.tls = t->tls.ca_file ? &t->tls : NULL;
  o.on_done = on_http_done;
  o.arg = r;
  size_t n = 0;
  for (int i = 0; i < r->w.nheaders && n < SK_HTTP_MAX_HEADERS - 1; i++)
    o.headers[n++] = r->w.headers[i];
  for (size_t i = 0; res->headers[i] && i < SK_CLOUD_MAX_AUTH_HEADERS; i++) {
    if (n >= SK_HTTP_MAX_HEADERS - 1)
      break;
    o.headers[n++] = res->headers[i];
  }
  o.headers[n] = NULL;
  t->stats.requests++;
  if (r->op == SK__CJOB_OP_CREATE)
    t->stats.creates++;
  int rc = sk_http_request(t->http, &o, &r->http);
  if (rc < 0) {
    req_end(r);
    fail_unsent(j, rc == SK_EINVAL ? SK_CLOUD_ERR_PERMANENT : SK_CLOUD_ERR_TRANSIENT,
                "could not send the request to", sk_strerror(rc));
  }
}

/* r's job holds a token: build its request and have it authorised. */
static void req_start(sk__cjob_req_t *r) {
  sk__cjob_t *j = r->job;
  char err[SK_CLOUD_MAX_MESSAGE];
  err[0] = '\0';
  if (sk__cjob_kind(j)->build(j, r->op, &r->w, err, sizeof(err)) < 0) {
    req_end(r);
    sk__cjob_fail(j, err[0] ? err : "the request could not be built");
    return;
  }
  const char *hdrs[4];
  for (int i = 0; i < r->w.nheaders && i < 3; i++)
    hdrs[i] = r->w.headers[i];
  hdrs[r->w.nheaders < 3 ? r->w.nheaders : 3] = NULL;
  sk_cloud_request_t creq = {
      .method = r->w.method,
      .url = r->w.url,
      .body = r->w.body,
      .body_len = r->w.body_len,
      .headers = hdrs,
      .now_ms = sk_time_now_ms(),
      .region = r->w.region,
      .service = r->w.service,
  };
  sk_log_v(3, LOGGER, "job %s: %s %s", j->key, sk__cjob_op_name(r->op), r->w.url);
  int rc = sk_cloud_authorize(j->authz, &creq, on_authorized, r);
  if (rc < 0) {
    req_end(r);
    fail_unsent(j, rc == SK_EINVAL ? SK_CLOUD_ERR_PERMANENT : SK_CLOUD_ERR_TRANSIENT,
                "no credentials for", sk_strerror(rc));
  }
}

#define NO_PROJECT_MESSAGE                                                                  \
  "no Google Cloud project: set vertex.project in the step or the controller's default "    \
  "project"

/* The Google authoriser's answer to "which project": the job's creates and
 * lookups go there from now on. */
static void on_project(int rc, const char *project, const char *message, void *arg) {
  sk__cjob_req_t *r = arg;
  sk__cjob_t *j = r->job;
  if (!j) {
    req_end(r);
    return;
  }
  if (rc == 0 && !sk_vertex_name_ok(project)) {
    rc = SK_EINVAL;
    message = "the project found for the credentials is not a valid project name";
  }
  if (rc < 0) {
    req_end(r);
    char msg[SK_CLOUD_MAX_MESSAGE + 128];
    snprintf(msg, sizeof(msg), "%s (%s)", NO_PROJECT_MESSAGE, message ? message : sk_strerror(rc));
    char clean[SK_CLOUD_MAX_MESSAGE];
    sk__cloud_clean_text(msg, strlen(msg), clean, sizeof(clean));
    /* A metadata server that cannot be reached may answer later; a
     * project that is nowhere to be found will not appear. */
    if (rc == SK_ENET || rc == SK_ETIMEDOUT || rc == SK_EHTTP)
      fail_unsent(j, SK_CLOUD_ERR_TRANSIENT, "no project for", clean);
    else
      sk__cjob_fail(j, clean);
    return;
  }
  set_str(&j->project, project);
  if (!j->project) {
    req_end(r);
    fail_unsent(j, SK_CLOUD_ERR_TRANSIENT, "out of memory sending to", "no project");
    return;
  }
  sk_log_v(1, LOGGER, "job %s: project %s from the credentials", j->key, j->project);
  req_start(r);
}

/* j holds a token: its request starts (after asking the credentials for
 * the project when a Vertex AI create or lookup has none). */
static void job_send(sk__cjob_t *j) {
  sk_cjobs_t *t = j->t;
  sk__cjob_req_t *r = calloc(1, sizeof(*r));
  if (!r) {
    fail_unsent(j, SK_CLOUD_ERR_TRANSIENT, "out of memory sending to", "no request");
    return;
  }
  r->t = t;
  r->job = j;
  r->op = j->op;
  r->next = t->reqs;
  if (t->reqs)
    t->reqs->prev = r;
  t->reqs = r;
  t->nreqs++;
  j->req = r;
  if (j->kind == SK_CJOB_VERTEX && !j->project &&
      (r->op == SK__CJOB_OP_CREATE || r->op == SK__CJOB_OP_LOOKUP)) {
    int rc = sk_gcp_project(j->authz, on_project, r);
    if (rc < 0) {
      /* Not a Google authoriser (or one being destroyed): nobody else
       * can say. */
      req_end(r);
      sk__cjob_fail(j, NO_PROJECT_MESSAGE);
    }
    return;
  }
  req_start(r);
}

static void on_ep_closed(uv_handle_t *h) {
  sk__cjob_ep_t *ep = h->data;
  sk_cjobs_t *t = ep->t;
  free(ep->base);
  free(ep);
  t->open_handles--;
  sk__cjobs_maybe_free(t);
}

void sk__cjobs_ep_close(sk__cjob_ep_t *ep) { uv_close((uv_handle_t *)&ep->timer, on_ep_closed); }
