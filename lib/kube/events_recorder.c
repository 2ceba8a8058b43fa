/*
 * Events: the recorder, which turns the aggregator's decisions into API
 * writes on the libuv loop.
 *
 * Writes wait in one FIFO and up to max_in_flight of them are on the wire
 * at once, but never two for one Event: a later write of an Event waits
 * for the earlier, so an Event is always created before it is patched and
 * counts never go back. Recording never waits for the API: a new count for
 * an Event whose last write is still queued just updates that write
 * (coalescing), and when the queue is full the event is dropped and
 * counted. A PATCH that finds no Event (expired by the API server's event
 * TTL, or never created) becomes a create. Network errors, 429 and 5xx are
 * retried a few times with jittered exponential waits (Retry-After wins);
 * a write waiting out a retry holds back only the writes of its own Event.
 * Other refusals drop the write: events are best effort, as everywhere in
 * Kubernetes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/events.h"
#include "util/backoff.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"
#include "util/timeutil.h"

#define LOGGER "events"

typedef struct write_op {
  struct write_op *prev, *next;
  /* The other queued write of the same Event, if any: an Event has at most
   * two, the one on the wire (or waiting out a retry) and the one after
   * it, into which later counts fold. The later one waits for the first. */
  struct write_op *before, *after;
  sk_kube_recorder_t *r;
  bool patch;      /* PATCH the Event, else create it */
  bool in_flight;
  char *ns;
  char *name;
  json_t *event;   /* the full Event as of the last record */
  int tries;
  uint64_t due;    /* loop time before which a retry is not sent */
  void *call;
} write_op_t;

struct sk_kube_recorder {
  sk_kube_caller_t caller;
  sk_kube_evagg_t *agg;
  char *component;
  char *host;
  size_t max_queue;
  int max_tries;
  int max_in_flight;
  int64_t retry_base_ms;
  long timeout_ms;
  sk_kube_recorder_clock_fn clock;
  void *clock_arg;
  write_op_t *head, *tail;
  size_t nqueue;
  int in_flight;
  uv_timer_t timer; /* runs a pass, now or when a retry is due */
  uint64_t rng;
  sk_kube_recorder_stats_t st;
  void (*flush_done)(sk_kube_recorder_t *r, void *arg);
  void *flush_arg;
  bool destroying;
  bool timer_open;
};

static const sk_kube_gvr_t events_gvr = {"", "v1", "events"};

static int64_t wall_clock(void *arg) {
  (void)arg;
  return sk_time_now_ms();
}

static void op_free(write_op_t *op) {
  if (!op)
    return;
  free(op->ns);
  free(op->name);
  json_decref(op->event);
  free(op);
}

static void maybe_free(sk_kube_recorder_t *r) {
  if (!r->destroying || r->timer_open || r->in_flight > 0)
    return;
  while (r->head) {
    write_op_t *n = r->head->next;
    op_free(r->head);
    r->head = n;
  }
  sk_kube_evagg_destroy(r->agg);
  free(r->component);
  free(r->host);
  free(r);
}

static void on_close(uv_handle_t *h) {
  sk_kube_recorder_t *r = h->data;
  r->timer_open = false;
  maybe_free(r);
}

static void on_timer(uv_timer_t *t);

static void kick(sk_kube_recorder_t *r, int64_t delay_ms) {
  uv_timer_start(&r->timer, on_timer, delay_ms > 0 ? (uint64_t)delay_ms : 0, 0);
}

static void unlink_op(sk_kube_recorder_t *r, write_op_t *op) {
  if (op->after)
    op->after->before = NULL;
  if (op->before)
    op->before->after = NULL;
  if (op->prev)
    op->prev->next = op->next;
  else
    r->head = op->next;
  if (op->next)
    op->next->prev = op->prev;
  else
    r->tail = op->prev;
  r->nqueue--;
  op_free(op);
}

static void call_done(const sk_kube_result_t *res, void *arg);

/* Puts op on the wire; false when it could not be sent (it is dropped). */
static bool send_op(sk_kube_recorder_t *r, write_op_t *op) {
  sk_kube_ref_t ref = {events_gvr, op->ns, op->patch ? op->name : NULL, NULL};
  sk_kube_call_opts_t opts = {.timeout_ms = r->timeout_ms, .patch_type = SK_KUBE_PATCH_MERGE};
  json_t *body = op->event;
  json_t *patch = NULL;
  if (op->patch) {
    /* Only what aggregation changes; the rest of the Event stays. */
    patch = json_object();
    static const char *const fields[] = {"count", "lastTimestamp", "message"};
    for (size_t i = 0; patch && i < sizeof(fields) / sizeof(fields[0]); i++) {
      json_t *v = json_object_get(op->event, fields[i]);
      if (v && json_object_set(patch, fields[i], v) < 0) {
        json_decref(patch);
        patch = NULL;
      }
    }
    body = patch;
  }
  int rc = body ? r->caller.call(r->caller.ctx, op->patch ? SK_KUBE_PATCH : SK_KUBE_CREATE, &ref,
                                 body, &opts, call_done, op, &op->call)
                : SK_ENOMEM;
  json_decref(patch);
  if (rc < 0) {
    sk_log_warn(LOGGER, "event %s/%s: cannot send: %s", op->ns, op->name, sk_strerror(rc));
    r->st.dropped++;
    unlink_op(r, op);
    return false;
  }
  op->in_flight = true;
  r->in_flight++;
  return true;
}

static void check_flush(sk_kube_recorder_t *r) {
  if (r->head || !r->flush_done)
    return;
  void (*done)(sk_kube_recorder_t *, void *) = r->flush_done;
  r->flush_done = NULL;
  done(r, r->flush_arg);
}

/* One pass from the head: sends what may go, up to max_in_flight, and
 * sets the timer for the first retry that is not due yet. A write whose
 * Event has an earlier one queued waits for it; nothing else waits. */
static void pump(sk_kube_recorder_t *r) {
  if (r->destroying)
    return;
  uint64_t now = uv_now(r->caller.loop);
  uint64_t next_due = 0;
  write_op_t *op = r->head;
  while (op && r->in_flight < r->max_in_flight) {
    write_op_t *next = op->next;
    if (op->in_flight || op->before) {
      /* On the wire, or behind the Event's earlier write. */
    } else if (op->due > now) {
      if (next_due == 0 || op->due < next_due)
        next_due = op->due;
    } else {
      send_op(r, op);
    }
    op = next;
  }
  if (!r->head)
    check_flush(r);
  else if (next_due > now)
    kick(r, (int64_t)(next_due - now));
}

static void on_timer(uv_timer_t *t) { pump(t->data); }

static bool retryable(const sk_kube_result_t *res) {
  return res->err == SK_ENET || res->err == SK_ETIMEDOUT ||
         (res->err == SK_EHTTP && (res->code == 429 || res->code >= 500));
}

static void call_done(const sk_kube_result_t *res, void *arg) {
  write_op_t *op = arg;
  sk_kube_recorder_t *r = op->r;
  op->in_flight = false;
  op->call = NULL;
  r->in_flight--;
  if (r->destroying) {
    maybe_free(r);
    return;
  }
  if (res->err == 0) {
    if (op->patch)
      r->st.patched++;
    else
      r->st.created++;
    unlink_op(r, op);
  } else if (op->patch && res->err == SK_ENOENT) {
    /* The Event is gone (TTL) or its create failed: create it anew. */
    op->patch = false;
  } else if (retryable(res) && ++op->tries < r->max_tries) {
    int64_t wait = res->retry_after_s > 0 ? res->retry_after_s * 1000
                                          : sk_backoff_jitter(sk_backoff_delay(r->retry_base_ms,
                                                                               2.0, 60000,
                                                                               (uint32_t)op->tries - 1),
                                                              SK_JITTER_EQUAL, &r->rng);
    op->due = uv_now(r->caller.loop) + (uint64_t)(wait > 0 ? wait : 0);
    r->st.retried++;
  } else {
    sk_log_warn(LOGGER, "event %s/%s dropped: %s", op->ns, op->name,
                res->message && res->message[0] ? res->message : sk_strerror(res->err));
    r->st.dropped++;
    unlink_op(r, op);
  }
  /* A pass from a timer, never from inside the caller's answer. */
  kick(r, 0);
}

/* The last queued write of the Event, or NULL. */
static write_op_t *last_write(sk_kube_recorder_t *r, const sk_kube_evagg_result_t *res) {
  for (write_op_t *op = r->tail; op; op = op->prev)
    if (strcmp(op->name, res->name) == 0 && strcmp(op->ns, res->namespace) == 0)
      return op;
  return NULL;
}

/* Queues a write, or folds it into a queued write of the same Event that
 * is not on the wire yet. */
static int enqueue(sk_kube_recorder_t *r, bool patch, const sk_kube_evagg_result_t *res,
                   json_t *event) {
  write_op_t *last = last_write(r, res);
  write_op_t *w = patch && last && !last->in_flight ? last : NULL;
  if (w) {
    json_decref(w->event);
    w->event = event;
    r->st.coalesced++;
    return 0;
  }
  if (r->nqueue >= r->max_queue) {
    json_decref(event);
    r->st.dropped++;
    return 0;
  }
  write_op_t *op = calloc(1, sizeof(*op));
  if (!op || !(op->ns = strdup(res->namespace)) || !(op->name = strdup(res->name))) {
    op_free(op);
    json_decref(event);
    return SK_ENOMEM;
  }
  op->r = r;
  op->patch = patch;
  op->event = event;
  if (last) {
    /* The Event's earlier write goes first. */
    op->before = last;
    last->after = op;
  }
  op->prev = r->tail;
  if (r->tail)
    r->tail->next = op;
  else
    r->head = op;
  r->tail = op;
  r->nqueue++;
  if (r->in_flight < r->max_in_flight)
    kick(r, 0);
  return 0;
}

int sk_kube_recorder_event(sk_kube_recorder_t *r, const sk_kube_objref_t *obj,
                           sk_kube_evtype_t type, const char *reason, const char *message) {
  if (r->destroying)
    return SK_ESTATE;
  sk_kube_evagg_result_t res;
  int rc = sk_kube_evagg_record(r->agg, obj, type, reason, message, r->clock(r->clock_arg), &res);
  if (rc < 0)
    return rc;
  r->st.recorded++;
  if (res.action == SK_KUBE_EVAGG_FILTERED) {
    r->st.filtered++;
    sk_log_v(2, LOGGER, "event for %s %s dropped by the spam filter: %s", obj->kind, obj->name,
             res.reason);
    return 0;
  }
  json_t *ev = sk_kube_event_build(obj, type, &res, r->component, r->host);
  if (!ev)
    return SK_ENOMEM;
  return enqueue(r, res.action == SK_KUBE_EVAGG_PATCH, &res, ev);
}

int sk_kube_recorder_eventf(sk_kube_recorder_t *r, const sk_kube_objref_t *obj,
                            sk_kube_evtype_t type, const char *reason, const char *fmt, ...) {
  sk_buf_t b;
  sk_buf_init(&b, 4 * SK_KUBE_EVENT_MAX_MESSAGE);
  va_list ap;
  va_start(ap, fmt);
  int rc = sk_buf_vprintf(&b, fmt, ap);
  va_end(ap);
  if (rc == SK_ETOOBIG) {
    /* A long message is cut to its cap anyway: format it cut. */
    char tmp[4 * SK_KUBE_EVENT_MAX_MESSAGE];
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    rc = sk_buf_puts(&b, tmp);
  }
  if (rc == 0)
    rc = sk_kube_recorder_event(r, obj, type, reason, b.data ? b.data : "");
  sk_buf_release(&b);
  return rc;
}

int sk_kube_recorder_create(const sk_kube_caller_t *caller, const sk_kube_recorder_opts_t *opts,
                            sk_kube_recorder_t **out) {
  *out = NULL;
  sk_kube_recorder_opts_t o = {0};
  if (opts)
    o = *opts;
  if (!caller || !caller->loop || !caller->call || !caller->cancel || o.max_tries < 0 ||
      o.max_in_flight < 0 || o.retry_base_ms < 0)
    return SK_EINVAL;
  sk_kube_recorder_t *r = calloc(1, sizeof(*r));
  if (!r)
    return SK_ENOMEM;
  r->caller = *caller;
  r->max_queue = o.max_queue ? o.max_queue : 1000;
  r->max_tries = o.max_tries ? o.max_tries : 3;
  r->max_in_flight = o.max_in_flight ? o.max_in_flight : 4;
  r->retry_base_ms = o.retry_base_ms ? o.retry_base_ms : 1000;
  r->timeout_ms = o.timeout_ms ? o.timeout_ms : 10000;
  r->clock = o.clock ? o.clock : wall_clock;
  r->clock_arg = o.clock_arg;
  r->rng = (uint64_t)sk_time_now_ms() ^ (uint64_t)(uintptr_t)r;
  char host[256];
  size_t hlen = sizeof(host);
  if (!o.host && uv_os_gethostname(host, &hlen) < 0)
    snprintf(host, sizeof(host), "unknown");
  r->component = strdup(o.component ? o.component : "skeind");
  r->host = strdup(o.host ? o.host : host);
  r->agg = sk_kube_evagg_create(&o.agg);
  if (!r->component || !r->host || !r->agg) {
    int rc = (!r->component || !r->host) ? SK_ENOMEM : SK_EINVAL; /* bad agg options */
    r->destroying = true;
    maybe_free(r);
    return rc;
  }
  uv_timer_init(caller->loop, &r->timer);
  r->timer.data = r;
  r->timer_open = true;
  *out = r;
  return 0;
}

int sk_kube_recorder_flush(sk_kube_recorder_t *r, void (*done)(sk_kube_recorder_t *r, void *arg),
                           void *arg) {
  if (r->flush_done || r->destroying)
    return SK_ESTATE;
  r->flush_done = done;
  r->flush_arg = arg;
  if (!r->head)
    kick(r, 0);
  return 0;
}

void sk_kube_recorder_stats(const sk_kube_recorder_t *r, sk_kube_recorder_stats_t *out) {
  *out = r->st;
  out->queued = r->nqueue;
}

void sk_kube_recorder_destroy(sk_kube_recorder_t *r) {
  if (!r || r->destroying)
    return;
  r->destroying = true;
  r->flush_done = NULL;
  for (write_op_t *op = r->head; op; op = op->next)
    if (op->in_flight)
      r->caller.cancel(r->caller.ctx, op->call);
  uv_close((uv_handle_t *)&r->timer, on_close);
}
