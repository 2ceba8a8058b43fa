/*
 * Informers: list, then watch, one resource into a local cache, with
 * handlers for every change. One state machine:
 *
 *   STOPPED --start--> LISTING --last page--> WATCHING --normal end--> WATCHING
 *   LISTING/WATCHING --error, 429--> BACKOFF --timer--> LISTING or WATCHING
 *   WATCHING --410 (HTTP or ERROR event)--> LISTING (relist, replace cache)
 *   any --stop--> STOPPED
 *
 * as client-go's reflector does it: pages of 500 following `continue` (a
 * 410 on a continue token restarts the list), watches with bookmarks and
 * a random 5-10 min timeout, re-watch from the last resourceVersion after
 * a normal end, back off 800 ms doubling to 30 s with jitter after
 * failures, reset after 2 min without one.
 */
#include <stdlib.h>
#include <string.h>

#include "kube/kube-int.h"
#include "util/backoff.h"
#include "util/error.h"
#include "util/strutil.h"
#include "util/timeutil.h"

static void start_watch(sk_kube_informer_t *inf);

/* Forgets the current request, cancelling it when it is still running. */
void sk__kube_inf_drop_op(sk_kube_informer_t *inf) {
  if (!inf->op)
    return;
  inf->op->dead = true;
  sk_kube_call_cancel(inf->call);
  inf->op = NULL;
  inf->call = NULL;
}

/* The one transition function: every state change passes here and is
 * logged, with its reason. */
void sk__kube_inf_transition(sk_kube_informer_t *inf, sk_kube_informer_state_t to,
                             const char *why) {
  sk__kube_log(inf->c, SK_KUBE_LOG_DEBUG, 1, "informer %s: %s -> %s (%s)", inf->desc,
               sk_kube_informer_state_name(inf->state), sk_kube_informer_state_name(to), why);
  inf->state = to;
}

static sk__kube_op_t *new_op(sk_kube_informer_t *inf) {
  sk__kube_op_t *op = calloc(1, sizeof(*op));
  if (op) {
    op->inf = inf;
    inf->outstanding++;
  }
  return op;
}

/* Ends an op's life when its callback arrives; true when the informer no
 * longer wants its result. */
static bool finish_op(sk__kube_op_t *op) {
  sk_kube_informer_t *inf = op->inf;
  bool dead = op->dead;
  inf->outstanding--;
  if (!dead) {
    inf->op = NULL;
    inf->call = NULL;
  }
  free(op);
  if (dead)
    sk__kube_inf_maybe_free(inf);
  return dead;
}

static void on_timer(uv_timer_t *t) {
  sk_kube_informer_t *inf = t->data;
  if (inf->state != SK_KUBE_INF_BACKOFF)
    return;
  if (inf->after_backoff_watch && inf->last_rv) {
    sk__kube_inf_transition(inf, SK_KUBE_INF_WATCHING, "backoff over, watching again");
    start_watch(inf);
  } else {
    sk__kube_inf_transition(inf, SK_KUBE_INF_LISTING, "backoff over, listing again");
    sk__kube_inf_start_list(inf);
  }
}

/* Waits before the next attempt: exponential with jitter, reset when the
 * last failure is long past (client-go's backoff manager), and never
 * shorter than the server's Retry-After. */
static void back_off(sk_kube_informer_t *inf, bool then_watch, long retry_after_s,
                     const char *why) {
  int64_t now = sk_time_mono_ms();
  if (inf->last_failure && now - inf->last_failure > inf->o.backoff_reset_ms)
    sk_backoff_reset(&inf->backoff);
  inf->last_failure = now;
  int64_t delay = sk_backoff_next(&inf->backoff);
  if (retry_after_s > 0 && retry_after_s * 1000 > delay)
    delay = retry_after_s * 1000;
  char reason[400];
  snprintf(reason, sizeof(reason), "%s; retrying in %lld ms", why, (long long)delay);
  sk__kube_inf_transition(inf, SK_KUBE_INF_BACKOFF, reason);
  inf->after_backoff_watch = then_watch;
  uv_timer_start(&inf->timer, on_timer, (uint64_t)delay, 0);
}

/* A request the informer did not cancel ended as cancelled, or could not
 * start because the client is shutting down: retrying cannot help, so the
 * informer stops instead of backing off forever. */
static bool client_gone(sk_kube_informer_t *inf, int err) {
  if (err != SK_ECANCELED && err != SK_ESTATE)
    return false;
  sk__kube_inf_transition(inf, SK_KUBE_INF_STOPPED, "the client is shutting down");
  sk__kube_store_clear(&inf->pending);
  free(inf->cont);
  inf->cont = NULL;
  return true;
}

/* ---- handler dispatch ---- */

static bool emit_stopped(void *arg) {
  sk_kube_informer_t *inf = arg;
  return inf->state == SK_KUBE_INF_STOPPED || inf->destroyed;
}
static void emit_add(json_t *obj, void *arg) {
  sk_kube_informer_t *inf = arg;
  if (inf->h.on_add)
    inf->h.on_add(inf, obj, inf->h.arg);
}
static void emit_update(json_t *old_obj, json_t *new_obj, void *arg) {
  sk_kube_informer_t *inf = arg;
  if (inf->h.on_update)
    inf->h.on_update(inf, old_obj, new_obj, inf->h.arg);
}
static void emit_del(json_t *obj, void *arg) {
  sk_kube_informer_t *inf = arg;
  if (inf->h.on_delete)
    inf->h.on_delete(inf, obj, inf->h.arg);
}

static sk__kube_emit_t emitter(sk_kube_informer_t *inf) {
  return (sk__kube_emit_t){.add = emit_add, .update = emit_update, .del = emit_del,
                           .stopped = emit_stopped, .arg = inf};
}

static void set_rv(sk_kube_informer_t *inf, const char *rv) {
  if (!rv || !*rv)
    return;
  char *s = strdup(rv);
  if (s) {
    free(inf->last_rv);
    inf->last_rv = s;
  }
}

/* Trims an object that was just parsed for this informer (ours to
 * change) to what is cached and handed to handlers. */
static void prepare(sk_kube_informer_t *inf, json_t *obj) {
  if (inf->o.strip_managed_fields)
    json_object_del(json_object_get(obj, "metadata"), "managedFields");
  if (inf->o.transform)
    inf->o.transform(obj);
}

/* ---- LISTING ---- */

static void list_done(const sk_kube_result_t *res, void *arg) {
  sk__kube_op_t *op = arg;
  sk_kube_informer_t *inf = op->inf;
  if (finish_op(op) || client_gone(inf, res->err))
    return;
  if (res->err) {
    sk__kube_store_clear(&inf->pending);
    bool had_cont = inf->cont != NULL;
    free(inf->cont);
    inf->cont = NULL;
    /* An expired continue token means the list took too long; start over
     * at once, unless it keeps happening. */
    if (res->err == SK_EGONE && had_cont && inf->restarts < 3) {
      inf->restarts++;
      sk__kube_inf_transition(inf, SK_KUBE_INF_LISTING, "continue token expired, restarting the list");
      sk__kube_inf_start_list(inf);
      return;
    }
    char why[300];
    snprintf(why, sizeof(why), "list failed: %s (%ld)",
             res->message ? res->message : sk_strerror(res->err), res->code);
    back_off(inf, false, res->retry_after_s, why);
    return;
  }
  json_t *items = json_object_get(res->body, "items");
  json_t *meta = json_object_get(res->body, "metadata");
  const char *kind = json_string_value(json_object_get(res->body, "kind"));
  const char *api = json_string_value(json_object_get(res->body, "apiVersion"));
  size_t kl = kind ? strlen(kind) : 0;
  size_t i;
  json_t *item;
  json_array_foreach(items, i, item) {
    /* Items of a list carry no kind or apiVersion; give them the ones watch
     * events have, so handlers see the same shape either way. */
    if (kl > 4 && strcmp(kind + kl - 4, "List") == 0 && !json_object_get(item, "kind")) {
      json_object_set_new(item, "kind", json_stringn(kind, kl - 4));
      if (api && !json_object_get(item, "apiVersion"))
        json_object_set_new(item, "apiVersion", json_string(api));
    }
    prepare(inf, item);
    /* Each page goes into the pending store as text at once: the trees of
     * a whole list would cost what the text cache saves. An item without
     * a name cannot be cached and is skipped. */
    int rc = sk__kube_cache_stage(&inf->pending, &inf->cache, item);
    if (rc < 0 && rc != SK_EINVAL) {
      sk__kube_store_clear(&inf->pending);
      free(inf->cont);
      inf->cont = NULL;
      back_off(inf, false, -1, "caching the list failed: out of memory");
      return;
    }
  }
  const char *cont = json_string_value(json_object_get(meta, "continue"));
  free(inf->cont);
  inf->cont = cont && *cont ? strdup(cont) : NULL;
  if (inf->cont) {
    sk__kube_inf_start_list(inf);
    return;
  }
  inf->restarts = 0;
  set_rv(inf, json_string_value(json_object_get(meta, "resourceVersion")));
  inf->synced = true;
  bool all = inf->resync_all;
  inf->resync_all = false;
  char why[160];
  snprintf(why, sizeof(why), "listed %zu objects (%zu KB cached) at resourceVersion %s",
           inf->pending.n, inf->pending.bytes / 1024, inf->last_rv ? inf->last_rv : "?");
  sk__kube_inf_transition(inf, SK_KUBE_INF_WATCHING, why);
  sk__kube_emit_t em = emitter(inf);
  inf->dispatch++;
  if (sk__kube_cache_replace(&inf->cache, &inf->pending, &em, all) < 0)
    sk__kube_log(inf->c, SK_KUBE_LOG_WARN, 0,
                 "informer %s: out of memory: some events of the list were not delivered",
                 inf->desc);
  if (!inf->synced_told && !emit_stopped(inf)) {
    inf->synced_told = true;
    if (inf->h.on_synced)
      inf->h.on_synced(inf, inf->h.arg);
  }
  inf->dispatch--;
  if (inf->destroyed) {
    sk__kube_inf_maybe_free(inf);
    return;
  }
  if (inf->state == SK_KUBE_INF_WATCHING)
    start_watch(inf);
}

void sk__kube_inf_start_list(sk_kube_informer_t *inf) {
  /* Every list is a consistent read from etcd (no resourceVersion): after
   * a 410 the last version is exactly what is too old. */
  sk_kube_call_opts_t o = {.label_selector = inf->label_selector,
                           .field_selector = inf->field_selector,
                           .limit = inf->o.page_size,
                           .continue_token = inf->cont};
  sk_kube_ref_t ref = {.gvr = {inf->group, inf->version, inf->resource}, .namespace = inf->ns};
  sk__kube_op_t *op = new_op(inf);
  int rc = op ? sk_kube_list(inf->c, &ref, &o, list_done, op, &inf->call) : SK_ENOMEM;
  if (rc) {
    if (op) {
      inf->outstanding--;
      free(op);
    }
    if (!client_gone(inf, rc))
      back_off(inf, false, -1, sk_strerror(rc));
    return;
  }
  inf->op = op;
}

/* ---- WATCHING ---- */

static int watch_event(const sk_kube_event_t *ev, void *arg) {
  sk__kube_op_t *op = arg;
  sk_kube_informer_t *inf = op->inf;
  if (op->dead || inf->state != SK_KUBE_INF_WATCHING)
    return SK_ECANCELED;
  inf->watch_events++;
  sk__kube_emit_t em = emitter(inf);
  int rc = 0;
  inf->dispatch++;
  /* The event's object was just parsed for this stream: ours to trim. */
  if (ev->type == SK_KUBE_EV_ADDED || ev->type == SK_KUBE_EV_MODIFIED ||
      ev->type == SK_KUBE_EV_DELETED)
    prepare(inf, ev->object);
  switch (ev->type) {
  case SK_KUBE_EV_ADDED:
  case SK_KUBE_EV_MODIFIED:
    rc = sk__kube_cache_upsert(&inf->cache, ev->object, &em);
    break;
  case SK_KUBE_EV_DELETED:
    rc = sk__kube_cache_remove(&inf->cache, ev->object, &em);
    break;
  case SK_KUBE_EV_BOOKMARK:
    set_rv(inf, sk_kube_object_rv(ev->object));
    break;
  case SK_KUBE_EV_ERROR:
    /* 410 is turned into SK_EGONE by the parser; any other ERROR ends the
     * stream and counts as a failure. */
    if (ev->code != 410) {
      sk__kube_log(inf->c, SK_KUBE_LOG_WARN, 0, "informer %s: watch error %ld: %s", inf->desc,
                   ev->code, ev->message ? ev->message : "");
      rc = SK_EHTTP;
    }
    break;
  }
  inf->dispatch--;
  /* An object without a name cannot be cached; skip it rather than drop
   * the whole stream. Any other failure ends the stream before its
   * version is taken, so the watch that follows brings the event again. */
  if (rc == SK_EINVAL)
    rc = 0;
  if (rc == 0 && ev->type != SK_KUBE_EV_BOOKMARK && ev->type != SK_KUBE_EV_ERROR)
    set_rv(inf, sk_kube_object_rv(ev->object));
  if (inf->destroyed || inf->state != SK_KUBE_INF_WATCHING)
    return SK_ECANCELED;
  return rc;
}

static void watch_done(const sk_kube_result_t *res, void *arg) {
  sk__kube_op_t *op = arg;
  sk_kube_informer_t *inf = op->inf;
  if (finish_op(op) || inf->state != SK_KUBE_INF_WATCHING || client_gone(inf, res->err))
    return;
  int64_t lasted = sk_time_mono_ms() - inf->watch_started;
  if (res->err == SK_EGONE) {
    sk__kube_inf_transition(inf, SK_KUBE_INF_LISTING, "resourceVersion expired (410), relisting");
    sk__kube_inf_start_list(inf);
    return;
  }
  if (res->err == 0 || res->err == SK_ETIMEDOUT) {
    /* A stream that ends at once without a single event is a server that
     * refuses to watch; re-watching in a tight loop would hammer it. */
    if (lasted < 1000 && inf->watch_events == 0) {
      back_off(inf, true, -1, "the watch ended at once without events");
      return;
    }
    sk__kube_log(inf->c, SK_KUBE_LOG_DEBUG, 1, "informer %s: watch ended after %lld ms, "
                 "re-watching from %s", inf->desc, (long long)lasted, inf->last_rv);
    start_watch(inf);
    return;
  }
  char why[300];
  snprintf(why, sizeof(why), "watch failed: %s (%ld)",
           res->message ? res->message : sk_strerror(res->err), res->code);
  back_off(inf, true, res->retry_after_s, why);
}

static void start_watch(sk_kube_informer_t *inf) {
  long span = inf->o.watch_timeout_max_s - inf->o.watch_timeout_min_s;
  sk_kube_call_opts_t o = {
      .label_selector = inf->label_selector,
      .field_selector = inf->field_selector,
      .resource_version = inf->last_rv,
      .allow_bookmarks = true,
      .watch_timeout_s = inf->o.watch_timeout_min_s + (long)sk_rand_range(&inf->rng, span),
  };
  sk_kube_ref_t ref = {.gvr = {inf->group, inf->version, inf->resource}, .namespace = inf->ns};
  sk__kube_op_t *op = new_op(inf);
  inf->watch_started = sk_time_mono_ms();
  inf->watch_events = 0;
  int rc = op ? sk_kube_watch(inf->c, &ref, &o, watch_event, watch_done, op, &inf->call)
              : SK_ENOMEM;
  if (rc) {
    if (op) {
      inf->outstanding--;
      free(op);
    }
    if (!client_gone(inf, rc))
      back_off(inf, true, -1, sk_strerror(rc));
    return;
  }
  inf->op = op;
}

