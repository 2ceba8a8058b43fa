/*
 * An informer's life cycle and its read side: create, start, stop,
 * destroy, and cache lookups. The state machine is in informer.c.
 */
#include <stdlib.h>
#include <string.h>

#include "kube/kube-int.h"
#include "util/backoff.h"
#include "util/error.h"
#include "util/timeutil.h"

static const char *const state_names[] = {
    [SK_KUBE_INF_STOPPED] = "STOPPED",
    [SK_KUBE_INF_LISTING] = "LISTING",
    [SK_KUBE_INF_WATCHING] = "WATCHING",
    [SK_KUBE_INF_BACKOFF] = "BACKOFF",
};

const char *sk_kube_informer_state_name(sk_kube_informer_state_t s) {
  if ((unsigned)s >= sizeof(state_names) / sizeof(state_names[0]))
    return "UNKNOWN";
  return state_names[s];
}

static bool set_str(char **dst, const char *src) {
  *dst = NULL;
  if (!src || !*src)
    return true;
  *dst = strdup(src);
  return *dst != NULL;
}

sk_kube_informer_t *sk_kube_informer_create(sk_kube_client_t *c,
                                            const sk_kube_informer_opts_t *opts,
                                            const sk_kube_handlers_t *handlers) {
  if (!c || !opts || !opts->gvr.version || !*opts->gvr.version || !opts->gvr.resource ||
      !*opts->gvr.resource)
    return NULL;
  sk_kube_informer_t *inf = calloc(1, sizeof(*inf));
  if (!inf)
    return NULL;
  inf->c = c;
  inf->o = *opts;
  if (handlers)
    inf->h = *handlers;
  sk_kube_informer_opts_t *o = &inf->o;
  if (o->page_size <= 0)
    o->page_size = 500;
  if (o->watch_timeout_min_s <= 0)
    o->watch_timeout_min_s = 300;
  if (o->watch_timeout_max_s <= 0)
    o->watch_timeout_max_s = 600;
  if (o->watch_timeout_max_s < o->watch_timeout_min_s)
    o->watch_timeout_max_s = o->watch_timeout_min_s;
  if (o->backoff_initial_ms <= 0)
    o->backoff_initial_ms = 800;
  if (o->backoff_max_ms <= 0)
    o->backoff_max_ms = 30000;
  if (o->backoff_max_ms < o->backoff_initial_ms)
    o->backoff_max_ms = o->backoff_initial_ms;
  if (o->backoff_reset_ms <= 0)
    o->backoff_reset_ms = 120000;
  inf->rng = (uint64_t)sk_time_now_ms() ^ (uint64_t)(uintptr_t)inf;
  /* Equal jitter keeps at least half the delay, as client-go's 1.0 jitter
   * factor on top of the base does in spirit: retries spread out but never
   * come back almost at once. */
  if (sk_backoff_init(&inf->backoff, o->backoff_initial_ms, o->backoff_max_ms, 2.0,
                      SK_JITTER_EQUAL, sk_rand_next(&inf->rng)) != 0)
    goto fail;
  if (!set_str(&inf->group, opts->gvr.group) || !set_str(&inf->version, opts->gvr.version) ||
      !set_str(&inf->resource, opts->gvr.resource) || !set_str(&inf->ns, opts->namespace) ||
      !set_str(&inf->label_selector, opts->label_selector) ||
      !set_str(&inf->field_selector, opts->field_selector))
    goto fail;
  o->gvr.group = inf->group;
  o->gvr.version = inf->version;
  o->gvr.resource = inf->resource;
  o->namespace = inf->ns;
  o->label_selector = inf->label_selector;
  o->field_selector = inf->field_selector;
  snprintf(inf->desc, sizeof(inf->desc), "%s%s%s/%s%s%s%s%s", inf->group ? inf->group : "",
           inf->group ? "/" : "", inf->version, inf->resource, inf->ns ? " in " : "",
           inf->ns ? inf->ns : "", inf->label_selector ? " with " : "",
           inf->label_selector ? inf->label_selector : "");
  uv_timer_init(sk_kube_client_loop(c), &inf->timer);
  inf->timer.data = inf;
  return inf;
fail:
  free(inf->group);
  free(inf->version);
  free(inf->resource);
  free(inf->ns);
  free(inf->label_selector);
  free(inf->field_selector);
  free(inf);
  return NULL;
}

int sk_kube_informer_start(sk_kube_informer_t *inf) {
  if (!inf || inf->destroyed)
    return SK_EINVAL;
  if (inf->state != SK_KUBE_INF_STOPPED)
    return SK_ESTATE;
  /* After a stop, handlers may have missed events (a stop from inside a
   * handler drops the rest of that batch): the first list replays every
   * cached object as an update, so nothing stays unseen. */
  inf->resync_all = inf->cache.n > 0;
  sk__kube_inf_transition(inf, SK_KUBE_INF_LISTING, "started");
  sk__kube_inf_start_list(inf);
  return 0;
}

void sk_kube_informer_stop(sk_kube_informer_t *inf) {
  if (!inf || inf->state == SK_KUBE_INF_STOPPED)
    return;
  sk__kube_inf_transition(inf, SK_KUBE_INF_STOPPED, "stopped");
  sk__kube_inf_drop_op(inf);
  uv_timer_stop(&inf->timer);
  sk__kube_store_clear(&inf->pending);
  free(inf->cont);
  inf->cont = NULL;
}

static void on_timer_closed(uv_handle_t *h) {
  sk_kube_informer_t *inf = h->data;
  inf->timer_closed = true;
  sk__kube_inf_maybe_free(inf);
}

/* Frees a destroyed informer once no handler is running, every request's
 * callback has arrived and the timer has closed. */
void sk__kube_inf_maybe_free(sk_kube_informer_t *inf) {
  if (!inf->destroyed || inf->dispatch > 0 || inf->outstanding > 0 || !inf->timer_closed)
    return;
  sk__kube_store_clear(&inf->cache);
  sk__kube_store_clear(&inf->pending);
  free(inf->cont);
  free(inf->last_rv);
  free(inf->group);
  free(inf->version);
  free(inf->resource);
  free(inf->ns);
  free(inf->label_selector);
  free(inf->field_selector);
  free(inf);
}

void sk_kube_informer_destroy(sk_kube_informer_t *inf) {
  if (!inf || inf->destroyed)
    return;
  sk_kube_informer_stop(inf);
  inf->destroyed = true;
  uv_close((uv_handle_t *)&inf->timer, on_timer_closed);
}

sk_kube_informer_state_t sk_kube_informer_state(const sk_kube_informer_t *inf) {
  return inf->state;
}

bool sk_kube_informer_has_synced(const sk_kube_informer_t *inf) { return inf->synced; }

int sk_kube_informer_get(const sk_kube_informer_t *inf, const char *key, json_t **out) {
  *out = NULL;
  const sk__kube_entry_t *e = sk__kube_store_find(&inf->cache, key);
  return e ? sk__kube_entry_parse(e, out) : SK_ENOENT;
}

bool sk_kube_informer_has(const sk_kube_informer_t *inf, const char *key) {
  return sk__kube_store_find(&inf->cache, key) != NULL;
}

size_t sk_kube_informer_count(const sk_kube_informer_t *inf) { return inf->cache.n; }

size_t sk_kube_informer_bytes(const sk_kube_informer_t *inf) { return inf->cache.bytes; }

int sk_kube_informer_foreach(const sk_kube_informer_t *inf,
                             void (*fn)(const char *key, json_t *obj, void *arg), void *arg) {
  size_t pos = 0;
  const sk__kube_entry_t *e;
  while ((e = sk__kube_store_next(&inf->cache, &pos))) {
    json_t *obj = NULL;
    int rc = sk__kube_entry_parse(e, &obj);
    if (rc < 0)
      return rc;
    fn(sk__kube_entry_key(e), obj, arg);
    json_decref(obj);
  }
  return 0;
}

const char *sk_kube_informer_last_rv(const sk_kube_informer_t *inf) {
  return inf->last_rv ? inf->last_rv : "";
}
