/*
 * Helpers for the informer tests: recording handlers, the fake
 * apiserver's request bookkeeping, and setting up a client and informer
 * against it. Included by test_kube_informer.c only.
 */
#ifndef SK_TEST_KUBE_TESTINF_H
#define SK_TEST_KUBE_TESTINF_H

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kube-int.h"
#include "kube_fakeapi.h"
#include "kube_testcli.h"
#include "sk_test.h"
#include "util/error.h"

/* ---- what the handlers saw ---- */

typedef struct {
  char log[64][48];
  int n;
  int adds, updates, deletes, synced;
  int transitions_backoff;
  sk_kube_informer_t *stop_on_add;    /* stop this informer at the first add */
  sk_kube_informer_t *destroy_on_upd; /* destroy this informer at the first update */
} rec_t;

static void rec(rec_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rec(rec_t *r, const char *fmt, ...) {
  if (r->n >= 64)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->log[r->n++], sizeof(r->log[0]), fmt, ap);
  va_end(ap);
}

static const char *oname(json_t *o) {
  return json_string_value(json_object_get(json_object_get(o, "metadata"), "name"));
}

static void h_add(sk_kube_informer_t *inf, json_t *obj, void *arg) {
  rec_t *r = arg;
  r->adds++;
  rec(r, "add %s@%s", oname(obj), sk_kube_object_rv(obj));
  if (r->stop_on_add == inf)
    sk_kube_informer_stop(inf);
}
static void h_update(sk_kube_informer_t *inf, json_t *o, json_t *n, void *arg) {
  rec_t *r = arg;
  r->updates++;
  rec(r, "update %s@%s->%s", oname(n), sk_kube_object_rv(o), sk_kube_object_rv(n));
  if (r->destroy_on_upd == inf) {
    r->destroy_on_upd = NULL;
    sk_kube_informer_destroy(inf);
  }
}
static void h_delete(sk_kube_informer_t *inf, json_t *obj, void *arg) {
  rec_t *r = arg;
  (void)inf;
  r->deletes++;
  rec(r, "delete %s@%s", oname(obj), sk_kube_object_rv(obj));
}
static void h_synced(sk_kube_informer_t *inf, void *arg) {
  rec_t *r = arg;
  r->synced++;
  rec(r, "synced %zu", sk_kube_informer_count(inf));
}

static void on_log(sk_kube_log_level_t level, const char *msg, void *arg) {
  rec_t *r = arg;
  (void)level;
  if (strstr(msg, "-> BACKOFF"))
    r->transitions_backoff++;
}

/* Checks that the log entries [from, to) (to -1: to the end) are exactly
 * want (NULL-ended), in any order (handlers see a hash map's order during
 * a relist). */
static void check_log(rec_t *r, int from, int to, const char *const *want) {
  int nw = 0;
  while (want[nw])
    nw++;
  if (to < 0)
    to = r->n;
  if (to - from != nw || to > r->n) {
    FAILF("%d handler calls, want %d", r->n - from, nw);
    for (int i = from; i < r->n; i++)
      printf("    got: %s\n", r->log[i]);
    return;
  }
  for (int i = 0; i < nw; i++) {
    bool found = false;
    for (int j = from; j < to && !found; j++)
      found = strcmp(r->log[j], want[i]) == 0;
    if (!found)
      FAILF("no handler call \"%s\"", want[i]);
  }
}

/* ---- the fake apiserver's side ---- */

typedef struct {
  int lists, watches;
  fake_conn_t *held;    /* a watch kept open */
  char list_q[8][3072];  /* queries of the lists */
  char watch_q[8][3072]; /* queries of the watches */
  int64_t list_at[8], watch_at[8];
  int step;             /* scenario-specific */
} api_t;

#define OBJ(name, rv)                                                                          \
  "{\"metadata\":{\"name\":\"" name "\",\"namespace\":\"ml\",\"resourceVersion\":\"" rv "\"}}"
#define LIST(rv, cont, items)                                                                  \
  "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"" rv        \
  "\",\"continue\":\"" cont "\"},\"items\":[" items "]}"
#define EV(type, obj) "{\"type\":\"" type "\",\"object\":" obj "}\n"

static bool is_watch(const fake_req_t *req) { return strstr(req->query, "watch=true") != NULL; }

static void note(api_t *a, const fake_req_t *req) {
  if (is_watch(req)) {
    if (a->watches < 8) {
      snprintf(a->watch_q[a->watches], sizeof(a->watch_q[0]), "%s", req->query);
      a->watch_at[a->watches] = req->at_ms;
    }
    a->watches++;
  } else {
    if (a->lists < 8) {
      snprintf(a->list_q[a->lists], sizeof(a->list_q[0]), "%s", req->query);
      a->list_at[a->lists] = req->at_ms;
    }
    a->lists++;
  }
}

static void hold(api_t *a, fake_conn_t *conn) {
  a->held = conn;
  fake_stream_begin(conn, 200);
}

typedef struct {
  api_t *a;
  int lists, watches;
} want_reqs_t;

static bool reqs_reached(void *arg) {
  want_reqs_t *w = arg;
  return w->a->lists >= w->lists && w->a->watches >= w->watches;
}

static bool wait_reqs(api_t *a, int lists, int watches, int ms) {
  want_reqs_t w = {a, lists, watches};
  return run_until(loop, reqs_reached, &w, ms);
}

typedef struct {
  fake_t f;
  api_t a;
  rec_t r;
  sk_kube_client_t *c;
  sk_kube_informer_t *inf;
} env_t;

/* handlers NULL: the recording ones (h_add ...) with e->r. */
static bool setup_with(env_t *e, fake_handler_fn handler, const sk_kube_informer_opts_t *extra,
                       const sk_kube_handlers_t *handlers) {
  memset(e, 0, sizeof(*e));
  if (fake_start(&e->f, loop, handler, &e->a) != 0)
    return false;
  sk_kube_config_t cfg = {.server = e->f.url, .token = "t"};
  sk_kube_client_opts_t co = {.log = on_log, .log_arg = &e->r, .qps = 1000, .burst = 1000};
  e->c = sk_kube_client_create(loop, NULL, &cfg, &co);
  sk_kube_informer_opts_t o = extra ? *extra : (sk_kube_informer_opts_t){0};
  o.gvr = (sk_kube_gvr_t){"", "v1", "pods"};
  o.namespace = "ml";
  if (!o.backoff_initial_ms)
    o.backoff_initial_ms = 20;
  if (!o.backoff_max_ms)
    o.backoff_max_ms = 200;
  sk_kube_handlers_t h = {h_add, h_update, h_delete, h_synced, &e->r};
  if (handlers) {
    h = *handlers;
    h.arg = &e->r;
  }
  e->inf = e->c ? sk_kube_informer_create(e->c, &o, &h) : NULL;
  return e->inf != NULL;
}

static bool setup(env_t *e, fake_handler_fn handler, const sk_kube_informer_opts_t *extra) {
  return setup_with(e, handler, extra, NULL);
}

static void teardown(env_t *e) {
  sk_kube_informer_destroy(e->inf);
  sk_kube_client_destroy(e->c);
  if (!run_until(loop, loop_clean_cond, &e->f, 5000))
    FAILF("%d handles left on the loop", fake_foreign_handles(&e->f));
  fake_stop(&e->f);
}

static void check_cached(sk_kube_informer_t *inf, const char *key, const char *rv) {
  json_t *o = NULL;
  int rc = sk_kube_informer_get(inf, key, &o);
  if (rc < 0 || !o)
    FAILF("%s is not cached: %s", key, sk_strerror(rc));
  else if (!sk_kube_object_rv(o) || strcmp(sk_kube_object_rv(o), rv) != 0)
    FAILF("%s cached at %s, want %s", key, sk_kube_object_rv(o), rv);
  if (!sk_kube_informer_has(inf, key))
    FAILF("%s is cached, but has() says it is not", key);
  json_decref(o);
}

#endif
