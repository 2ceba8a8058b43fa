/*
 * Shared set-up of the HTTP client tests: a loop, the scripted test server
 * with the routes of http_testroutes.c, the client, and a result record per
 * request that copies what on_done and on_data saw. Included by the
 * test_http*.c files only; everything is static inline so that each test
 * uses what it needs.
 */
#ifndef SK_TEST_HTTP_TESTENV_H
#define SK_TEST_HTTP_TESTENV_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "http/http.h"
#include "http_testsrv.h"
#include "sk_test.h"
#include "util/buf.h"
#include "util/strutil.h"

typedef struct {
  uv_loop_t loop;
  uv_timer_t guard;   /* bounds every wait */
  bool expired;
  sk_http_t *h;
  ts_server_t *srv;
  char base[64];      /* "http://127.0.0.1:PORT" or https */
} env_t;

typedef struct {
  int done;           /* on_done calls */
  long status;
  int error;
  char *body;         /* NULL when on_done saw NULL */
  size_t body_len;
  char *retry_after;
  char *content_type;
  char *error_text;
  double seconds;
  /* streaming */
  sk_buf_t stream;
  int chunks;
  long first_status;
  int abort_with;     /* on_data returns this */
  void (*on_first)(void *ctx); /* called at the first chunk */
  void *ctx;
  /* requests started from on_done (ESTATE checks, chains) */
  sk_http_t *h;
  int restart_rc;
} result_t;

static inline void on_guard(uv_timer_t *t) {
  env_t *e = t->data;
  e->expired = true;
  uv_stop(t->loop);
}

static inline void env_init(env_t *e, void *tls, const char *scheme) {
  memset(e, 0, sizeof(*e));
  uv_loop_init(&e->loop);
  uv_timer_init(&e->loop, &e->guard);
  e->guard.data = e;
  ts_seen_reset();
  e->srv = ts_start(&e->loop, tls, ts_routes, NULL);
  e->h = sk_http_create(&e->loop);
  if (e->srv)
    snprintf(e->base, sizeof(e->base), "%s://127.0.0.1:%d", scheme, ts_port(e->srv));
}

/* Runs the loop until cond(arg) holds or ms pass; returns whether it held. */
static inline bool run_until(env_t *e, bool (*cond)(void *), void *arg, uint64_t ms) {
  e->expired = false;
  uv_timer_start(&e->guard, on_guard, ms, 0);
  while (!cond(arg) && !e->expired)
    uv_run(&e->loop, UV_RUN_ONCE);
  uv_timer_stop(&e->guard);
  return cond(arg);
}

/* Destroys client and server and checks that the loop ends clean. */
static inline void env_finish(env_t *e) {
  sk_http_destroy(e->h);
  ts_stop(e->srv);
  e->expired = false;
  uv_timer_start(&e->guard, on_guard, 10000, 0);
  uv_unref((uv_handle_t *)&e->guard);
  uv_run(&e->loop, UV_RUN_DEFAULT);
  CHECK(!e->expired);
  uv_close((uv_handle_t *)&e->guard, NULL);
  uv_run(&e->loop, UV_RUN_DEFAULT);
  CHECK_INT(uv_loop_close(&e->loop), 0);
  ts_seen_reset();
}

static inline void result_init(result_t *r) {
  memset(r, 0, sizeof(*r));
  sk_buf_init(&r->stream, 1 << 20);
}

static inline void result_release(result_t *r) {
  free(r->body);
  free(r->retry_after);
  free(r->content_type);
  free(r->error_text);
  sk_buf_release(&r->stream);
}

static inline void on_done_rec(sk_http_req_t *req, const sk_http_resp_t *resp, void *arg) {
  result_t *r = arg;
  r->done++;
  if (r->done > 1)
    return;
  r->status = resp->status;
  r->error = resp->error;
  r->body = resp->body ? sk_memdup_str(resp->body, resp->body_len) : NULL;
  r->body_len = resp->body_len;
  r->retry_after = sk_strdup0(resp->retry_after);
  r->content_type = sk_strdup0(resp->content_type);
  r->error_text = sk_strdup0(resp->error_text);
  r->seconds = resp->total_seconds;
  if (r->h) {
    sk_http_opts_t o = {.url = "http://127.0.0.1:1/", .on_done = on_done_rec, .arg = r};
    r->restart_rc = sk_http_request(r->h, &o, NULL);
  }
}

static inline int on_data_rec(sk_http_req_t *req, long status, const char *data, size_t len,
                              void *arg) {
  result_t *r = arg;
  if (r->chunks++ == 0) {
    r->first_status = status;
    if (r->on_first)
      r->on_first(r->ctx);
  }
  sk_buf_append(&r->stream, data, len);
  return r->abort_with;
}

static inline bool is_done(void *arg) { return ((result_t *)arg)->done > 0; }

/* Options for a request to path on the env's server, reporting into r. */
static inline sk_http_opts_t opts_for(env_t *e, const char *path, result_t *r, char *url,
                                      size_t urllen) {
  snprintf(url, urllen, "%s%s", e->base, path);
  sk_http_opts_t o;
  memset(&o, 0, sizeof(o));
  o.url = url;
  o.timeout_ms = 20000;
  o.on_done = on_done_rec;
  o.arg = r;
  return o;
}

/* Starts a GET of path, checks on_done does not come from inside
 * sk_http_request, and runs the loop until it came (bounded). */
static inline void fetch(env_t *e, const char *path, result_t *r, size_t max_body) {
  char url[256];
  sk_http_opts_t o = opts_for(e, path, r, url, sizeof(url));
  o.max_body = max_body;
  CHECK_INT(sk_http_request(e->h, &o, NULL), 0);
  CHECK_INT(r->done, 0);
  CHECK(run_until(e, is_done, r, 15000));
}

#endif
