/*
 * lib/http when things go wrong or pile up: timeouts, refused and reset
 * connections, cancel, requests started and cancelled from inside
 * callbacks, 200 requests at once, destroy with requests running, bad
 * input, and the pure helpers of proto.c.
 */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "http/http-int.h"
#include "http_testenv.h"
#include "util/error.h"

TEST(timeout_on_silent_server) {
  env_t e;
  env_init(&e, NULL, "http");
  REQUIRE(e.srv && e.h);
  result_t r;
  result_init(&r);
  char url[256];
  sk_http_opts_t o = opts_for(&e, "/never", &r, url, sizeof(url));
  o.timeout_ms = 200;
  CHECK_INT(sk_http_request(e.h, &o, NULL), 0);
  CHECK(run_until(&e, is_done, &r, 10000));
  CHECK_INT(r.error, SK_ETIMEDOUT);
  CHECK_INT(r.status, 0);
  CHECK(r.error_text && strstr(r.error_text, "imed out"));
  CHECK(r.seconds >= 0.19 && r.seconds < 5);
  result_release(&r);
  env_finish(&e);
}

/* A port nothing listens on: bound by us, then closed. */
static int closed_port(uv_loop_t *loop) {
  uv_tcp_t t;
  struct sockaddr_in a;
  struct sockaddr_storage got;
  int len = (int)sizeof(got), port = 0;
  uv_tcp_init(loop, &t);
  uv_ip4_addr("127.0.0.1", 0, &a);
  if (uv_tcp_bind(&t, (const struct sockaddr *)&a, 0) == 0 &&
      uv_tcp_getsockname(&t, (struct sockaddr *)&got, &len) == 0)
    port = ntohs(((struct sockaddr_in *)&got)->sin_port);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
  return port;
}

TEST(connection_refused) {
  env_t e;
  env_init(&e, NULL, "http");
  REQUIRE(e.srv && e.h);
  int port = closed_port(&e.loop);
  REQUIRE(port > 0);
  result_t r;
  result_init(&r);
  char url[64];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", port);
  sk_http_opts_t o = {.url = url, .on_done = on_done_rec, .arg = &r};
  CHECK_INT(sk_http_request(e.h, &o, NULL), 0);
  CHECK_INT(r.done, 0);
  CHECK(run_until(&e, is_done, &r, 10000));
  CHECK_INT(r.error, SK_ENET);
  CHECK_INT(r.status, 0);
  CHECK(r.error_text && r.error_text[0]);
  result_release(&r);
  env_finish(&e);
}

TEST(reset_mid_body) {
  env_t e;
  env_init(&e, NULL, "http");
  REQUIRE(e.srv && e.h);
  result_t r;
  result_init(&r);
  fetch(&e, "/reset", &r, 0);
  CHECK_INT(r.error, SK_ENET);
  CHECK_INT(r.status, 200);
  CHECK(r.error_text && r.error_text[0]);
  result_release(&r);
  env_finish(&e);
}

static bool seen_one_request(void *arg) { return ts_stats(((env_t *)arg)->srv)->requests >= 1; }

TEST(cancel_running_and_queued) {
  env_t e;
  env_init(&e, NULL, "http");
  REQUIRE(e.srv && e.h);
  result_t r;
  result_init(&r);
  char url[256];
  sk_http_opts_t o = opts_for(&e, "/never", &r, url, sizeof(url));
  sk_http_req_t *req = NULL;
  CHECK_INT(sk_http_request(e.h, &o, &req), 0);
  REQUIRE(req);
  CHECK_INT(sk_http_pending(e.h), 1);
  REQUIRE(run_until(&e, seen_one_request, &e, 10000));
  sk_http_cancel(req);
  CHECK_INT(r.done, 0); /* reported from the loop, not from the cancel */
  CHECK(run_until(&e, is_done, &r, 10000));
  CHECK_INT(r.error, SK_ECANCELED);
  CHECK_INT(sk_http_pending(e.h), 0);
  result_release(&r);

  /* Cancelled before it ever reached curl: no connection is made. */
  int conns = ts_stats(e.srv)->connections;
  result_init(&r);
  o = opts_for(&e, "/hello", &r, url, sizeof(url));
  CHECK_INT(sk_http_request(e.h, &o, &req), 0);
  sk_http_cancel(req);
  CHECK(run_until(&e, is_done, &r, 10000));
  CHECK_INT(r.done, 1);
  CHECK_INT(r.error, SK_ECANCELED);
  CHECK_INT(ts_stats(e.srv)->connections, conns);
  CHECK_INT(ts_stats(e.srv)->requests, 1);
  result_release(&r);
  env_finish(&e);
}

/* At the stream's first chunk, start one request and cancel another: both
 * happen inside curl's write callback. */
typedef struct {
  env_t *e;
  result_t *started;
  char url[256];
  sk_http_req_t *victim;
  int rc;
} reentry_t;

static void reenter(void *ctx) {
  reentry_t *re = ctx;
  sk_http_opts_t o = {.url = re->url, .on_done = on_done_rec, .arg = re->started};
  re->rc = sk_http_request(re->e->h, &o, NULL);
  sk_http_cancel(re->victim);
}

static bool three_done(void *arg) {
  result_t *r = arg;
  return r[0].done && r[1].done && r[2].done;
}

TEST(requests_from_inside_callbacks) {
  env_t e;
  env_init(&e, NULL, "http");
  REQUIRE(e.srv && e.h);
  result_t r[3]; /* the stream, the victim, the one started from on_data */
  for (int i = 0; i < 3; i++)
    result_init(&r[i]);
  char url1[256], url2[256];
  sk_http_opts_t victim = opts_for(&e, "/never", &r[1], url1, sizeof(url1));
  reentry_t re = {&e, &r[2], "", NULL, -1};
  snprintf(re.url, sizeof(re.url), "%s/hello", e.base);
  CHECK_INT(sk_http_request(e.h, &victim, &re.victim), 0);
  sk_http_opts_t stream = opts_for(&e, "/stream", &r[0], url2, sizeof(url2));
  stream.on_data = on_data_rec;
  r[0].on_first = reenter;
  r[0].ctx = &re;
  CHECK_INT(sk_http_request(e.h, &stream, NULL), 0);
  CHECK(run_until(&e, three_done, r, 15000));
  CHECK_INT(re.rc, 0);
  CHECK_INT(r[0].error, 0);
  CHECK_STR(r[0].stream.data, ts_stream_payload);
  CHECK_INT(r[1].error, SK_ECANCELED);
  CHECK_INT(r[2].error, 0);
  CHECK_STR(r[2].body, "hello world");
  for (int i = 0; i < 3; i++) {
    CHECK_INT(r[i].done, 1);
    result_release(&r[i]);
  }
  env_finish(&e);
}

#define MANY 200

typedef struct {
  result_t r[MANY];
} many_t;

static bool all_many_done(void *arg) {
  many_t *m = arg;
  for (int i = 0; i < MANY; i++)
    if (!m->r[i].done)
      return false;
  return true;
}

TEST(many_concurrent_requests) {
  env_t e;
  env_init(&e, NULL, "http");
  REQUIRE(e.srv && e.h);
  many_t *m = calloc(1, sizeof(*m));
  REQUIRE(m);
  for (int i = 0; i < MANY; i++) {
    result_init(&m->r[i]);
    char url[256], path[32];
    snprintf(path, sizeof(path), "/n/%d", i);
    sk_http_opts_t o = opts_for(&e, path, &m->r[i], url, sizeof(url));
    CHECK_INT(sk_http_request(e.h, &o, NULL), 0);
  }
  CHECK_INT(sk_http_pending(e.h), MANY);
  CHECK(run_until(&e, all_many_done, m, 60000));
  int ok = 0;
  for (int i = 0; i < MANY; i++) {
    char want[16];
    snprintf(want, sizeof(want), "%d", i);
    if (m->r[i].done == 1 && m->r[i].error == 0 && m->r[i].body &&
        strcmp(m->r[i].body, want) == 0)
      ok++;
    result_release(&m->r[i]);
  }
  CHECK_INT(ok, MANY);
  CHECK_INT(sk_http_pending(e.h), 0);
  CHECK_INT(ts_stats(e.srv)->requests, MANY);
  CHECK(ts_stats(e.srv)->max_open <= SK__HTTP_MAX_HOST_CONNECTIONS);
  free(m);
  env_finish(&e);
}

static bool seen_three_requests(void *arg) {
  return ts_stats(((env_t *)arg)->srv)->requests >= 3;
}

static bool four_done(void *arg) {
  result_t *r = arg;
  return r[0].done && r[1].done && r[2].done && r[3].done;
}

TEST(destroy_cancels_everything) {
  env_t e;
  env_init(&e, NULL, "http");
  REQUIRE(e.srv && e.h);
  result_t r[4];
  for (int i = 0; i < 4; i++) {
    result_init(&r[i]);
    r[i].h = e.h; /* on_done tries a new request: refused while destroying */
    r[i].restart_rc = 1;
  }
  char url[256];
  for (int i = 0; i < 3; i++) {
    sk_http_opts_t o = opts_for(&e, "/never", &r[i], url, sizeof(url));
    CHECK_INT(sk_http_request(e.h, &o, NULL), 0);
  }
  REQUIRE(run_until(&e, seen_three_requests, &e, 10000));
  /* One more that has not reached curl yet. */
  sk_http_opts_t o = opts_for(&e, "/hello", &r[3], url, sizeof(url));
  CHECK_INT(sk_http_request(e.h, &o, NULL), 0);
  sk_http_destroy(e.h);
  e.h = NULL;
  CHECK(run_until(&e, four_done, r, 10000));
  for (int i = 0; i < 4; i++) {
    CHECK_INT(r[i].done, 1);
    CHECK_INT(r[i].error, SK_ECANCELED);
    CHECK_INT(r[i].restart_rc, SK_ESTATE);
    result_release(&r[i]);
  }
  CHECK_INT(ts_stats(e.srv)->requests, 3);
  env_finish(&e); /* the loop must close clean */
}

/* Destroy from inside curl's write callback (on_data) and from on_done. */
static void destroy_now(void *ctx) {
  env_t *e = ctx;
  sk_http_destroy(e->h);
  e->h = NULL;
}

static void on_done_destroy(sk_http_req_t *req, const sk_http_resp_t *resp, void *arg) {
  on_done_rec(req, resp, arg);
  destroy_now(((result_t *)arg)->ctx);
}

static bool two_done(void *arg) {
  result_t *r = arg;
  return r[0].done && r[1].done;
}

TEST(destroy_from_inside_callbacks) {
  env_t e;
  env_init(&e, NULL, "http");
  REQUIRE(e.srv && e.h);
  result_t r[2]; /* the stream that destroys, and a bystander */
  for (int i = 0; i < 2; i++)
    result_init(&r[i]);
  char url1[256], url2[256];
  sk_http_opts_t o = opts_for(&e, "/never", &r[1], url1, sizeof(url1));
  CHECK_INT(sk_http_request(e.h, &o, NULL), 0);
  o = opts_for(&e, "/stream", &r[0], url2, sizeof(url2));
  o.on_data = on_data_rec;
  r[0].on_first = destroy_now;
  r[0].ctx = &e;
  CHECK_INT(sk_http_request(e.h, &o, NULL), 0);
  CHECK(run_until(&e, two_done, r, 15000));
  CHECK_INT(r[0].chunks, 1); /* no on_data after the destroy */
  for (int i = 0; i < 2; i++) {
    CHECK_INT(r[i].done, 1);
    CHECK_INT(r[i].error, SK_ECANCELED);
    result_release(&r[i]);
  }
  env_finish(&e);

  /* From on_done: the first answer destroys the client under the second. */
  env_init(&e, NULL, "http");
  REQUIRE(e.srv && e.h);
  for (int i = 0; i < 2; i++)
    result_init(&r[i]);
  o = opts_for(&e, "/never", &r[1], url1, sizeof(url1));
  CHECK_INT(sk_http_request(e.h, &o, NULL), 0);
  o = opts_for(&e, "/hello", &r[0], url2, sizeof(url2));
  o.on_done = on_done_destroy;
  r[0].ctx = &e;
  CHECK_INT(sk_http_request(e.h, &o, NULL), 0);
  CHECK(run_until(&e, two_done, r, 15000));
  CHECK_INT(r[0].error, 0);
  CHECK_STR(r[0].body, "hello world");
  CHECK_INT(r[1].done, 1);
  CHECK_INT(r[1].error, SK_ECANCELED);
  for (int i = 0; i < 2; i++)
    result_release(&r[i]);
  env_finish(&e);
}

TEST(destroy_idle_and_null) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  sk_http_t *h = sk_http_create(&loop);
  REQUIRE(h);
  CHECK_INT(sk_http_pending(h), 0);
  sk_http_destroy(h);
  sk_http_destroy(NULL);
  sk_http_cancel(NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_INT(uv_loop_close(&loop), 0);
}

TEST(bad_input_refused_at_once) {
  env_t e;
  env_init(&e, NULL, "http");
  REQUIRE(e.srv && e.h);
  result_t r;
  result_init(&r);
  char url[256];
  sk_http_opts_t o = opts_for(&e, "/hello", &r, url, sizeof(url));
  sk_http_opts_t bad = o;
  bad.on_done = NULL;
  CHECK_INT(sk_http_request(e.h, &bad, NULL), SK_EINVAL);
  bad = o;
  bad.url = NULL;
  CHECK_INT(sk_http_request(e.h, &bad, NULL), SK_EINVAL);
  bad = o;
  bad.method = "GE T";
  CHECK_INT(sk_http_request(e.h, &bad, NULL), SK_EINVAL);
  bad = o;
  bad.headers[0] = "X-Test: a\r\nX-Evil: b";
  CHECK_INT(sk_http_request(e.h, &bad, NULL), SK_EINVAL);
  bad.headers[0] = "NoColon";
  CHECK_INT(sk_http_request(e.h, &bad, NULL), SK_EINVAL);
  bad = o;
  bad.body_len = 3; /* and no body */
  CHECK_INT(sk_http_request(e.h, &bad, NULL), SK_EINVAL);
  bad = o;
  bad.url = "ftp://127.0.0.1/x";
  CHECK_INT(sk_http_request(e.h, &bad, NULL), SK_EINVAL);
  bad.url = "no scheme here";
  CHECK_INT(sk_http_request(e.h, &bad, NULL), SK_EINVAL);
  sk_http_tls_t tls = {.server_name = "bad name"};
  bad = o;
  bad.url = "https://127.0.0.1:1/";
  bad.tls = &tls;
  CHECK_INT(sk_http_request(e.h, &bad, NULL), SK_EINVAL);
  CHECK_INT(sk_http_request(NULL, &o, NULL), SK_EINVAL);
  CHECK_INT(sk_http_pending(e.h), 0);
  /* Nothing was started, so nothing reports. */
  uv_run(&e.loop, UV_RUN_NOWAIT);
  CHECK_INT(r.done, 0);
  result_release(&r);
  env_finish(&e);
}

static bool hv(const char *line, const char *name, const char *want) {
  const char *v;
  size_t n;
  if (!sk__http_header_value(line, strlen(line), name, &v, &n))
    return want == NULL;
  return want && n == strlen(want) && memcmp(v, want, n) == 0;
}

TEST(pure_helpers) {
  CHECK(hv("Retry-After: 120\r\n", "Retry-After", "120"));
  CHECK(hv("retry-after:\t 5 \r\n", "Retry-After", "5"));
  CHECK(hv("Retry-After:\r\n", "Retry-After", ""));
  CHECK(hv("Retry-After-Not: 1\r\n", "Retry-After", NULL));
  CHECK(hv("Retry: 1\r\n", "Retry-After", NULL));
  CHECK(hv("X-Retry-After: 1\r\n", "Retry-After", NULL));
  CHECK(sk__http_method_ok("GET") && sk__http_method_ok("PATCH"));
  CHECK(!sk__http_method_ok("") && !sk__http_method_ok("get") && !sk__http_method_ok("G T"));
  CHECK(sk__http_header_ok("Authorization: Bearer x") && sk__http_header_ok("Accept:"));
  CHECK(!sk__http_header_ok(": x") && !sk__http_header_ok("A b: x"));
  CHECK(!sk__http_header_ok("A: x\ny: z") && !sk__http_header_ok("A: x\r"));
  const char *hs[] = {"Accept: a", "content-type: b", NULL};
  CHECK(sk__http_has_header(hs, 3, "Content-Type"));
  CHECK(!sk__http_has_header(hs, 3, "Content"));
  CHECK(!sk__http_has_header(hs, 1, "Content-Type"));
  CHECK(sk__http_server_name_ok("kubernetes.default.svc") && sk__http_server_name_ok("10.0.0.1"));
  CHECK(!sk__http_server_name_ok("") && !sk__http_server_name_ok("a:1") &&
        !sk__http_server_name_ok("a/b"));
  CHECK_INT(sk__http_map_curl(CURLE_OK), 0);
  CHECK_INT(sk__http_map_curl(CURLE_OPERATION_TIMEDOUT), SK_ETIMEDOUT);
  CHECK_INT(sk__http_map_curl(CURLE_COULDNT_CONNECT), SK_ENET);
  CHECK_INT(sk__http_map_curl(CURLE_COULDNT_RESOLVE_HOST), SK_ENET);
  CHECK_INT(sk__http_map_curl(CURLE_PEER_FAILED_VERIFICATION), SK_ENET);
  CHECK_INT(sk__http_map_curl(CURLE_RECV_ERROR), SK_ENET);
  CHECK_INT(sk__http_map_curl(CURLE_FILESIZE_EXCEEDED), SK_ETOOBIG);
  CHECK_INT(sk__http_map_curl(CURLE_SSL_CERTPROBLEM), SK_EINVAL);
  CHECK_INT(sk__http_map_curl(CURLE_OUT_OF_MEMORY), SK_ENOMEM);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  /* A proxy from the environment would take the 127.0.0.1 requests away. */
  unsetenv("http_proxy");
  unsetenv("HTTP_PROXY");
  unsetenv("all_proxy");
  unsetenv("ALL_PROXY");
  RUN(timeout_on_silent_server);
  RUN(connection_refused);
  RUN(reset_mid_body);
  RUN(cancel_running_and_queued);
  RUN(requests_from_inside_callbacks);
  RUN(many_concurrent_requests);
  RUN(destroy_cancels_everything);
  RUN(destroy_from_inside_callbacks);
  RUN(destroy_idle_and_null);
  RUN(bad_input_refused_at_once);
  RUN(pure_helpers);
  curl_global_cleanup();
  return TEST_DONE();
}
