/*
 * The raw controller: the limit skeind is measured against. It does, for
 * a single-Pod Workflow, exactly the API writes skeind does and nothing
 * else — no spec validation, no engine, no index — with the same client
 * library, its own connections and informers (as a second process would
 * have), the same client-side rate limit, and the same concurrency:
 *
 *   Workflow ADDED (watch)  → PUT /status Running, then POST the Pod
 *                             (one worker, as one skeind reconcile)
 *                             and an Event WorkflowRunning
 *   its Pod Succeeded (watch) → PUT /status Succeeded (one worker)
 *                             and an Event WorkflowSucceeded
 *
 * Workers (--workers, skeind's --workers) bound the Workflows being
 * written at once; Events go through their own lanes (--event-lanes;
 * skeind's recorder writes up to four at once) and are dropped when
 * --event-queue of them wait (skeind's recorder: 1000). The bodies have
 * the shape and size of skeind's (bench_raw_body.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_raw.h"
#include "util/error.h"
#include "util/timeutil.h"

#define MAX_TRIES 10

static const sk_kube_gvr_t k_wf_gvr = {"skein.dev", "v1alpha1", "workflows"};
static const sk_kube_gvr_t k_pod_gvr = {"", "v1", "pods"};
static const sk_kube_gvr_t k_event_gvr = {"", "v1", "events"};

static void pump(bench_raw_t *r);

/* ---- queues ---- */

static void push(raw_ring_t *q, int idx, int kind) {
  /* Each Workflow has at most two jobs (and two Events) queued at a time,
   * so a ring of 2 * count + 1 never overflows. */
  q->items[q->tail] = (raw_job_t){idx, kind};
  q->tail = (q->tail + 1) % q->cap;
}

static bool pop(raw_ring_t *q, raw_job_t *out) {
  if (q->head == q->tail)
    return false;
  *out = q->items[q->head];
  q->head = (q->head + 1) % q->cap;
  return true;
}

static bool ring_empty(const raw_ring_t *q) { return q->head == q->tail; }

static size_t ring_len(const raw_ring_t *q) { return (q->tail + q->cap - q->head) % q->cap; }

/* The cached Workflow (new reference), or NULL. */
static json_t *cached_wf(bench_raw_t *r, int idx) {
  char name[BENCH_NAME_MAX], key[2 * BENCH_NAME_MAX + 2];
  bench_wf_name(r->b, idx, name, sizeof(name));
  snprintf(key, sizeof(key), "%s/%s", r->b->ns, name);
  json_t *wf = NULL;
  sk_kube_informer_get(r->wf_inf, key, &wf);
  return wf;
}

/* A job that failed in a way a retry may fix goes back to the queue. */
static void requeue(bench_raw_t *r, int idx, int kind, const sk_kube_result_t *res) {
  raw_wf_t *w = &r->wf[idx];
  if (res->code == 409)
    r->conflicts++;
  else
    r->errors++;
  if (++w->tries > MAX_TRIES) {
    fprintf(stderr, "skein-bench: raw: giving up on workflow %d: %ld %s\n", idx, res->code,
            res->message ? res->message : sk_strerror(res->err));
    return;
  }
  push(&r->jobs, idx, kind);
}

/* ---- workers ---- */

typedef struct {
  bench_raw_t *r;
  int idx;
  int kind;
} call_t;

static call_t *call_new(bench_raw_t *r, int idx, int kind) {
  call_t *c = malloc(sizeof(*c));
  if (c)
    *c = (call_t){r, idx, kind};
  return c;
}

static void worker_done(bench_raw_t *r) {
  r->busy_workers--;
  pump(r);
  bench_maybe_finish(r->b);
}

static void pod_posted(const sk_kube_result_t *res, void *arg) {
  call_t *c = arg;
  bench_raw_t *r = c->r;
  int idx = c->idx;
  raw_wf_t *w = &r->wf[idx];
  free(c);
  r->pod_creates++;
  if (res->err == SK_ECANCELED)
    return;
  if (res->err < 0 && res->code != 409) {
    requeue(r, idx, RAW_START, res);
  } else {
    w->state = RAW_RUNNING;
    if (w->pod_done) {
      w->state = RAW_FINISH_QUEUED;
      push(&r->jobs, idx, RAW_FINISH);
    }
  }
  worker_done(r);
}

static void status_put(const sk_kube_result_t *res, void *arg) {
  call_t *c = arg;
  bench_raw_t *r = c->r;
  int idx = c->idx, kind = c->kind;
  raw_wf_t *w = &r->wf[idx];
  r->status_writes++;
  if (res->err == SK_ECANCELED) {
    free(c);
    return;
  }
  if (res->err < 0) {
    free(c);
    if (res->code == 409 && kind == RAW_FINISH) {
      /* Our cache is behind our own write: take the newer object. */
      json_t *newer = cached_wf(r, idx);
      if (newer) {
        json_decref(w->obj);
        w->obj = newer;
      }
    }
    requeue(r, idx, kind, res);
    worker_done(r);
    return;
  }
  json_decref(w->obj);
  w->obj = json_incref(res->body);
  /* skeind's recorder drops an Event when 1000 wait: so does this. */
  if (ring_len(&r->events) + (size_t)r->busy_events < (size_t)r->b->raw_event_queue)
    push(&r->events, idx, kind);
  else
    r->events_dropped++;
  if (kind == RAW_FINISH) {
    free(c);
    w->state = RAW_DONE;
    json_decref(w->obj);
    w->obj = NULL;
    worker_done(r);
    return;
  }
  /* The start: the Pod comes after the status that records it. */
  json_t *pod = bench_raw_pod(r->b, idx, res->body);
  sk_kube_ref_t ref = {k_pod_gvr, r->b->ns, NULL, NULL};
  if (!pod || sk_kube_create(r->client, &ref, pod, pod_posted, c, NULL) < 0) {
    free(c);
    r->errors++;
    worker_done(r);
  }
  json_decref(pod);
}

static void run_job(bench_raw_t *r, raw_job_t job) {
  raw_wf_t *w = &r->wf[job.idx];
  json_t *base = job.kind == RAW_START ? cached_wf(r, job.idx) : json_incref(w->obj);
  json_t *body = base ? bench_raw_with_status(r->b, job.idx, base, job.kind == RAW_FINISH,
                                              w->started_ms)
                      : NULL;
  json_decref(base);
  call_t *c = call_new(r, job.idx, job.kind);
  char name[BENCH_NAME_MAX];
  bench_wf_name(r->b, job.idx, name, sizeof(name));
  sk_kube_ref_t ref = {k_wf_gvr, r->b->ns, name, NULL};
  r->busy_workers++;
  if (!body || !c || sk_kube_update_status(r->client, &ref, body, status_put, c, NULL) < 0) {
    free(c);
    r->errors++;
    worker_done(r);
  }
  json_decref(body);
}

/* ---- Event lanes ---- */

static void event_posted(const sk_kube_result_t *res, void *arg) {
  call_t *c = arg;
  bench_raw_t *r = c->r;
  int idx = c->idx, kind = c->kind;
  free(c);
  r->event_creates++;
  if (res->err == SK_ECANCELED)
    return;
  if (res->err < 0 && res->code != 409 && ++r->wf[idx].event_tries <= MAX_TRIES) {
    r->errors++;
    push(&r->events, idx, kind);
  }
  r->busy_events--;
  pump(r);
  bench_maybe_finish(r->b);
}

static void run_event(bench_raw_t *r, raw_job_t job) {
  json_t *wf = cached_wf(r, job.idx);
  json_t *ev = bench_raw_event(r, job.idx, job.kind == RAW_FINISH, wf);
  json_decref(wf);
  call_t *c = call_new(r, job.idx, job.kind);
  sk_kube_ref_t ref = {k_event_gvr, r->b->ns, NULL, NULL};
  r->busy_events++;
  if (!ev || !c || sk_kube_create(r->client, &ref, ev, event_posted, c, NULL) < 0) {
    free(c);
    r->errors++;
    r->busy_events--;
  }
  json_decref(ev);
}

static void pump(bench_raw_t *r) {
  raw_job_t job;
  while (!r->stopping && r->busy_workers < r->b->raw_workers && pop(&r->jobs, &job))
    run_job(r, job);
  while (!r->stopping && r->busy_events < r->b->raw_event_lanes && pop(&r->events, &job))
    run_event(r, job);
}

/* ---- informers ---- */

static void wf_add(sk_kube_informer_t *inf, json_t *obj, void *arg) {
  bench_raw_t *r = arg;
  int idx = bench_wf_index(
      r->b, json_string_value(json_object_get(json_object_get(obj, "metadata"), "name")));
  if (idx < 0 || r->wf[idx].state != RAW_NEW)
    return;
  r->wf[idx].state = RAW_START_QUEUED;
  r->wf[idx].started_ms = sk_time_now_ms();
  push(&r->jobs, idx, RAW_START);
  pump(r);
}

static void pod_seen(sk_kube_informer_t *inf, json_t *obj, void *arg) {
  bench_raw_t *r = arg;
  json_t *labels = json_object_get(json_object_get(obj, "metadata"), "labels");
  int idx =
      bench_wf_index(r->b, json_string_value(json_object_get(labels, BENCH_LABEL_WORKFLOW)));
  const char *phase = json_string_value(json_object_get(json_object_get(obj, "status"), "phase"));
  if (idx < 0 || !phase || strcmp(phase, "Succeeded") != 0)
    return;
  raw_wf_t *w = &r->wf[idx];
  if (w->pod_done)
    return;
  w->pod_done = true;
  if (w->state == RAW_RUNNING) {
    w->state = RAW_FINISH_QUEUED;
    push(&r->jobs, idx, RAW_FINISH);
    pump(r);
  }
}

static void pod_update(sk_kube_informer_t *inf, json_t *old_obj, json_t *new_obj, void *arg) {
  pod_seen(inf, new_obj, arg);
}

/* ---- life cycle ---- */

int bench_raw_create(bench_t *b, bench_raw_t **out) {
  bench_raw_t *r = calloc(1, sizeof(*r));
  if (!r)
    return SK_ENOMEM;
  r->b = b;
  size_t cap = 2 * (size_t)b->count + 1;
  r->wf = calloc((size_t)b->count, sizeof(*r->wf));
  r->jobs.items = calloc(cap, sizeof(raw_job_t));
  r->events.items = calloc(cap, sizeof(raw_job_t));
  r->jobs.cap = r->events.cap = cap;
  sk_kube_client_opts_t co = {0};
  co.qps = b->qps;
  co.burst = b->burst;
  co.user_agent = "skein-bench-raw";
  r->client = sk_kube_client_create(b->loop, NULL, b->cfg, &co);
  sk_kube_informer_opts_t wo = {0};
  wo.gvr = k_wf_gvr;
  wo.namespace = b->ns;
  wo.watch_timeout_min_s = wo.watch_timeout_max_s = 1800;
  /* skeind caches objects without managedFields, so its status writes
   * carry none: neither do these. */
  wo.strip_managed_fields = true;
  sk_kube_handlers_t wh = {wf_add, NULL, NULL, NULL, r};
  sk_kube_informer_opts_t po = wo;
  po.gvr = k_pod_gvr;
  po.label_selector = BENCH_LABEL_WORKFLOW;
  sk_kube_handlers_t ph = {pod_seen, pod_update, NULL, NULL, r};
  if (r->client) {
    r->wf_inf = sk_kube_informer_create(r->client, &wo, &wh);
    r->pod_inf = sk_kube_informer_create(r->client, &po, &ph);
  }
  if (!r->wf || !r->jobs.items || !r->events.items || !r->wf_inf || !r->pod_inf) {
    bench_raw_destroy(r);
    return SK_ENOMEM;
  }
  *out = r;
  return 0;
}

int bench_raw_start(bench_raw_t *r) {
  int rc = sk_kube_informer_start(r->pod_inf);
  return rc < 0 ? rc : sk_kube_informer_start(r->wf_inf);
}

bool bench_raw_synced(const bench_raw_t *r) {
  return sk_kube_informer_has_synced(r->wf_inf) && sk_kube_informer_has_synced(r->pod_inf);
}

bool bench_raw_idle(const bench_raw_t *r) {
  return r->busy_workers == 0 && r->busy_events == 0 && ring_empty(&r->jobs) &&
         ring_empty(&r->events);
}

void bench_raw_stop(bench_raw_t *r) {
  r->stopping = true;
  sk_kube_informer_stop(r->wf_inf);
  sk_kube_informer_stop(r->pod_inf);
}

void bench_raw_destroy(bench_raw_t *r) {
  if (!r)
    return;
  sk_kube_informer_destroy(r->wf_inf);
  sk_kube_informer_destroy(r->pod_inf);
  sk_kube_client_destroy(r->client);
  if (r->wf)
    for (int i = 0; i < r->b->count; i++)
      json_decref(r->wf[i].obj);
  free(r->wf);
  free(r->jobs.items);
  free(r->events.items);
  free(r);
}

json_t *bench_raw_stats(const bench_raw_t *r) {
  uint64_t total = r->status_writes + r->pod_creates + r->event_creates;
  return json_pack("{s:i, s:i, s:i, s:f, s:i, s:{s:I, s:I, s:I, s:I}, s:I, s:I, s:I}",
                   "workers", r->b->raw_workers, "event_lanes", r->b->raw_event_lanes,
                   "event_queue", r->b->raw_event_queue, "qps",
                   isfinite(r->b->qps) ? r->b->qps : 0.0, "burst", r->b->burst, "writes",
                   "status_put", (json_int_t)r->status_writes, "pod_create",
                   (json_int_t)r->pod_creates, "event_create", (json_int_t)r->event_creates,
                   "total", (json_int_t)total, "events_dropped", (json_int_t)r->events_dropped,
                   "conflicts", (json_int_t)r->conflicts, "errors", (json_int_t)r->errors);
}
