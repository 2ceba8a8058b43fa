/*
 * lib/http against a scripted HTTP/1.1 server on the same loop: bodies,
 * methods and headers, keep-alive, statuses, Retry-After, streaming, aborts
 * from on_data, and the body cap. Failures, cancel, load and destroy are in
 * test_http_faults.c, TLS in test_http_tls.c.
 */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "http/http-int.h"
#include "http_testenv.h"
#include "util/error.h"

TEST(plain_get) {
  env_t e;
  result_t r;
  env_init(&e, NULL, "http");
  REQUIRE(e.srv && e.h);
  result_init(&r);
  fetch(&e, "/hello", &r, 0);
  CHECK_INT(r.done, 1);
  CHECK_INT(r.error, 0);
  CHECK_INT(r.status, 200);
  CHECK_STR(r.body, "hello world");
  CHECK_INT(r.body_len, 11);
  CHECK_STR(r.content_type, "text/plain");
  CHECK(r.retry_after == NULL && r.error_text == NULL);
  CHECK(r.seconds > 0 && r.seconds < 15);
  CHECK_STR(ts_seen.method, "GET");
  CHECK_INT(sk_http_pending(e.h), 0);
  result_release(&r);
  env_finish(&e);
}

/* Each on_done starts the next request, so they run one after another. */
typedef struct {
  env_t *e;
  int left;
  int ok;
  char url[256];
} chain_t;

static void on_chain_done(sk_http_req_t *req, const sk_http_resp_t *resp, void *arg) {
  chain_t *ch = arg;
  if (resp->error == 0 && resp->status == 200 && strcmp(resp->body, "hello world") == 0)
    ch->ok++;
  if (--ch->left > 0) {
    sk_http_opts_t o = {.url = ch->url, .on_done = on_chain_done, .arg = ch};
    if (sk_http_request(ch->e->h, &o, NULL) != 0)
      ch->left = 0;
  }
}

static bool chain_over(void *arg) { return ((chain_t *)arg)->left == 0; }

TEST(keepalive_reuses_one_connection) {
  env_t e;
  env_init(&e, NULL, "http");
  REQUIRE(e.srv && e.h);
  chain_t ch = {&e, 5, 0, ""};
  snprintf(ch.url, sizeof(ch.url), "%s/hello", e.base);
  sk_http_opts_t o = {.url = ch.url, .on_done = on_chain_done, .arg = &ch};
  CHECK_INT(sk_http_request(e.h, &o, NULL), 0);
  CHECK(run_until(&e, chain_over, &ch, 15000));
  CHECK_INT(ch.ok, 5);
  CHECK_INT(ts_stats(e.srv)->requests, 5);
  CHECK_INT(ts_stats(e.srv)->connections, 1);
  env_finish(&e);
}

/* A POST on a reused keep-alive connection that the server closes without
 * an answer: libcurl may resend it by itself on a new connection (7.88
 * does). A request that must not be sent twice asks for a fresh
 * connection, and then reaches the server exactly once and fails. */
static int post_drop(env_t *e, bool fresh) {
  result_t r;
  result_init(&r);
  fetch(e, "/hello", &r, 0); /* leaves a connection to reuse */
  result_release(&r);
  result_init(&r);
  ts_seen.drops = 0;
  char url[256];
  sk_http_opts_t o = opts_for(e, "/drop", &r, url, sizeof(url));
  o.method = "POST";
  o.body = "{}";
  o.body_len = 2;
  o.fresh_connection = fresh;
  CHECK_INT(sk_http_request(e->h, &o, NULL), 0);
  CHECK(run_until(e, is_done, &r, 15000));
  CHECK(r.error != 0);
  result_release(&r);
  return ts_seen.drops;
}

TEST(fresh_connection_is_never_resent) {
  env_t e;
  env_init(&e, NULL, "http");
  REQUIRE(e.srv && e.h);
  int reused = post_drop(&e, false);
  int fresh = post_drop(&e, true);
  printf("  a dropped POST reached the server %d time(s) on a reused connection, %d on a fresh "
         "one\n", reused, fresh);
  CHECK_INT(fresh, 1);
  env_finish(&e);
}

TEST(methods_headers_and_bodies) {
  env_t e;
  env_init(&e, NULL, "http");
  REQUIRE(e.srv && e.h);
  static const char bin[] = "{\"a\":1}\0tail\xff";
  const char *methods[] = {"POST", "PUT", "PATCH", "DELETE"};
  for (int i = 0; i < 4; i++) {
    result_t r;
    result_init(&r);
    char url[256];
    sk_http_opts_t o = opts_for(&e, "/echo", &r, url, sizeof(url));
    o.method = methods[i];
    o.headers[0] = "X-Test: abc";
    o.headers[1] = "Content-Type: application/json";
    o.body = bin;
    o.body_len = sizeof(bin) - 1;
    CHECK_INT(sk_http_request(e.h, &o, NULL), 0);
    CHECK(run_until(&e, is_done, &r, 15000));
    CHECK_INT(r.error, 0);
    CHECK_STR(ts_seen.method, methods[i]);
    CHECK_STR(ts_seen.x_test, "abc");
    CHECK_STR(ts_seen.content_type, "application/json");
    CHECK_INT(ts_seen.body_len, sizeof(bin) - 1);
    CHECK(ts_seen.body && memcmp(ts_seen.body, bin, sizeof(bin) - 1) == 0);
    CHECK_INT(r.body_len, sizeof(bin) - 1);
    CHECK(r.body && memcmp(r.body, bin, sizeof(bin) - 1) == 0);
    result_release(&r);
  }
  /* A large body goes without waiting for a 100 Continue, and a body with
   * no Content-Type from the caller is not labelled a form. */
  size_t big_len = 1536 * 1024;
  char *big = malloc(big_len);
  REQUIRE(big);
  for (size_t i = 0; i < big_len; i++)
    big[i] = (char)('a' + i % 26);
  result_t r;
  result_init(&r);
  char url[256];
  sk_http_opts_t o = opts_for(&e, "/echo", &r, url, sizeof(url));
  o.method = "POST";
  o.body = big;
  o.body_len = big_len;
  CHECK_INT(sk_http_request(e.h, &o, NULL), 0);
  free(big); /* the client copied it */
  CHECK(run_until(&e, is_done, &r, 15000));
  CHECK_INT(r.error, 0);
  CHECK_INT(r.body_len, big_len);
  CHECK(r.body && r.body[big_len - 1] == (char)('a' + (big_len - 1) % 26));
  CHECK(!ts_seen.saw_expect);
  CHECK(!ts_seen.saw_content_type);
  CHECK(r.seconds < 1.0); /* no one-second wait for a 100 Continue */
  result_release(&r);
  /* A POST with no body sends an empty one. */
  result_init(&r);
  o = opts_for(&e, "/echo", &r, url, sizeof(url));
  o.method = "POST";
  CHECK_INT(sk_http_request(e.h, &o, NULL), 0);
  CHECK(run_until(&e, is_done, &r, 15000));
  CHECK_INT(r.error, 0);
  CHECK_STR(ts_seen.method, "POST");
  CHECK_INT(ts_seen.body_len, 0);
  CHECK_STR(r.body, "");
  result_release(&r);
  CHECK_INT(ts_stats(e.srv)->connections, 1);
  env_finish(&e);
}

TEST(error_statuses_are_not_errors) {
  env_t e;
  env_init(&e, NULL, "http");
  REQUIRE(e.srv && e.h);
  const int codes[] = {404, 409, 500};
  for (int i = 0; i < 3; i++) {
    result_t r;
    result_init(&r);
    char path[32];
    snprintf(path, sizeof(path), "/status/%d", codes[i]);
    fetch(&e, path, &r, 0);
    CHECK_INT(r.error, 0);
    CHECK_INT(r.status, codes[i]);
    CHECK_STR(r.body, "nope");
    CHECK(r.error_text == NULL);
    result_release(&r);
  }
  env_finish(&e);
}

TEST(retry_after_captured) {
  env_t e;
  env_init(&e, NULL, "http");
  REQUIRE(e.srv && e.h);
  result_t r;
  result_init(&r);
  fetch(&e, "/429", &r, 0);
  CHECK_INT(r.error, 0);
  CHECK_INT(r.status, 429);
  CHECK_STR(r.retry_after, "7");
  CHECK_STR(r.body, "slow down");
  result_release(&r);
  /* A value over the cap is dropped, not cut. */
  result_init(&r);
  fetch(&e, "/429-long", &r, 0);
  CHECK_INT(r.status, 429);
  CHECK(r.retry_after == NULL);
  result_release(&r);
  env_finish(&e);
}

static int steps_left_at_first;
static void note_steps(void *ctx) {
  steps_left_at_first = ts_seen.stream_conn ? ts_steps_left(ts_seen.stream_conn) : -1;
}

/* The AWS JSON protocol's error code and throttling delay come in headers,
 * which the response hands over like Retry-After (a value over the cap is
 * dropped). */
typedef struct {
  int done;
  long status;
  char *error_type;
  char *amz_retry_after;
} amz_seen_t;

static void amz_handler(ts_conn_t *c, const ts_req_t *q, void *arg) {
  if (strcmp(q->path, "/long") == 0) {
    char h[400];
    snprintf(h, sizeof(h), "x-amzn-ErrorType: %0200d\r\n", 7);
    ts_respond(c, 400, h, "{}", 2);
    return;
  }
  ts_respond(c, 400,
             "X-Amzn-ErrorType: ThrottlingException:http://internal.amazon.com/coral/\r\n"
             "x-amz-retry-after:  1500 \r\n",
             "{}", 2);
}

static void amz_done(sk_http_req_t *req, const sk_http_resp_t *resp, void *arg) {
  amz_seen_t *a = arg;
  a->done++;
  a->status = resp->status;
  a->error_type = sk_strdup0(resp->amzn_error_type);
  a->amz_retry_after = sk_strdup0(resp->amz_retry_after);
}

static bool amz_is_done(void *arg) { return ((amz_seen_t *)arg)->done > 0; }

TEST(amz_headers_captured) {
  env_t e;
  env_init(&e, NULL, "http");
  ts_server_t *srv = ts_start(&e.loop, NULL, amz_handler, NULL);
  REQUIRE(e.srv && e.h && srv);
  const char *paths[] = {"/throttle", "/long"};
  for (int i = 0; i < 2; i++) {
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", ts_port(srv), paths[i]);
    amz_seen_t a;
    memset(&a, 0, sizeof(a));
    sk_http_opts_t o = {.url = url, .timeout_ms = 20000, .on_done = amz_done, .arg = &a};
    CHECK_INT(sk_http_request(e.h, &o, NULL), 0);
    CHECK(run_until(&e, amz_is_done, &a, 15000));
    CHECK_INT(a.status, 400);
    if (i == 0) {
      CHECK_STR(a.error_type, "ThrottlingException:http://internal.amazon.com/coral/");
      CHECK_STR(a.amz_retry_after, "1500");
    } else {
      CHECK(a.error_type == NULL);
      CHECK(a.amz_retry_after == NULL);
    }
    free(a.error_type);
    free(a.amz_retry_after);
  }
  ts_stop(srv);
  env_finish(&e);
}

TEST(streaming_in_pieces) {
  env_t e;
  env_init(&e, NULL, "http");
  REQUIRE(e.srv && e.h);
  result_t r;
  result_init(&r);
  r.on_first = note_steps;
  char url[256];
  sk_http_opts_t o = opts_for(&e, "/stream", &r, url, sizeof(url));
  o.on_data = on_data_rec;
  o.timeout_ms = 0;
  CHECK_INT(sk_http_request(e.h, &o, NULL), 0);
  CHECK(run_until(&e, is_done, &r, 15000));
  CHECK_INT(r.error, 0);
  CHECK_INT(r.status, 200);
  CHECK_INT(r.first_status, 200);
  CHECK(r.body == NULL);
  CHECK(r.chunks >= 3);
  /* The first piece arrived while the server still had most to send. */
  CHECK(steps_left_at_first > 5);
  CHECK_STR(r.stream.data, ts_stream_payload);
  result_release(&r);
  env_finish(&e);
}

static bool peer_closed(void *arg) { return ts_stats(((env_t *)arg)->srv)->peer_closed >= 1; }

TEST(abort_from_on_data) {
  env_t e;
  env_init(&e, NULL, "http");
  REQUIRE(e.srv && e.h);
  result_t r;
  result_init(&r);
  r.abort_with = SK_EINVAL;
  char url[256];
  sk_http_opts_t o = opts_for(&e, "/endless", &r, url, sizeof(url));
  o.on_data = on_data_rec;
  CHECK_INT(sk_http_request(e.h, &o, NULL), 0);
  CHECK(run_until(&e, is_done, &r, 15000));
  CHECK_INT(r.error, SK_EINVAL);
  CHECK_INT(r.chunks, 1);
  CHECK(r.error_text && strstr(r.error_text, "data callback"));
  CHECK(r.seconds < 5);
  /* The broken-off connection is closed, not kept for reuse. */
  CHECK(run_until(&e, peer_closed, &e, 5000));
  result_release(&r);
  env_finish(&e);
}

TEST(body_over_cap) {
  env_t e;
  env_init(&e, NULL, "http");
  REQUIRE(e.srv && e.h);
  const char *paths[] = {"/big-cl", "/big-chunked"};
  for (int i = 0; i < 2; i++) {
    result_t r;
    result_init(&r);
    fetch(&e, paths[i], &r, 1000);
    CHECK_INT(r.error, SK_ETOOBIG);
    CHECK(r.error_text && strstr(r.error_text, "1000-byte cap"));
    CHECK(r.body_len <= 1000);
    result_release(&r);
  }
  /* Exactly at the cap is fine. */
  result_t r;
  result_init(&r);
  fetch(&e, "/big-cl", &r, 10000);
  CHECK_INT(r.error, 0);
  CHECK_INT(r.body_len, 10000);
  result_release(&r);
  /* A HEAD's Content-Length is not a body. */
  result_init(&r);
  char url[256];
  sk_http_opts_t o = opts_for(&e, "/big-cl", &r, url, sizeof(url));
  o.method = "HEAD";
  o.max_body = 1000;
  CHECK_INT(sk_http_request(e.h, &o, NULL), 0);
  CHECK(run_until(&e, is_done, &r, 15000));
  CHECK_INT(r.error, 0);
  CHECK_INT(r.status, 200);
  CHECK_STR(r.body, "");
  CHECK_STR(ts_seen.method, "HEAD");
  result_release(&r);
  env_finish(&e);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  /* A proxy from the environment would take the 127.0.0.1 requests away. */
  unsetenv("http_proxy");
  unsetenv("HTTP_PROXY");
  unsetenv("all_proxy");
  unsetenv("ALL_PROXY");
  RUN(plain_get);
  RUN(keepalive_reuses_one_connection);
  RUN(fresh_connection_is_never_resent);
  RUN(methods_headers_and_bodies);
  RUN(error_statuses_are_not_errors);
  RUN(retry_after_captured);
  RUN(amz_headers_captured);
  RUN(streaming_in_pieces);
  RUN(abort_from_on_data);
  RUN(body_over_cap);
  curl_global_cleanup();
  return TEST_DONE();
}
