/*
 * Tests of the HTTP server: bind-address parsing and routing (pure), then a
 * real server on 127.0.0.1 with an ephemeral port, on a libuv loop, driven by
 * a blocking client in the thread pool: health and readiness, metrics
 * scrapes, 404/405/HEAD, bodies and their caps, header caps and deferred
 * answers, with a clean loop after every close (uv_loop_close returns 0).
 * Connection handling is in test_server_conn.c.
 */
#include "server/server-int.h"
#include "server_testenv.h"

/* ---- pure parts ---- */

TEST(addr_parse) {
  sk__addr_t a;
  CHECK_INT(sk__addr_parse("127.0.0.1:8080", &a), 0);
  CHECK(!a.disabled && !a.any && a.port == 8080 && a.ss.ss_family == AF_INET);
  CHECK_INT(sk__addr_parse(":8081", &a), 0);
  CHECK(a.any && a.port == 8081);
  CHECK_INT(sk__addr_parse("0", &a), 0);
  CHECK(a.disabled);
  CHECK_INT(sk__addr_parse("[::1]:0", &a), 0);
  CHECK(a.ss.ss_family == AF_INET6 && a.port == 0);
  CHECK_INT(sk__addr_parse("localhost:9", &a), 0);
  CHECK(a.ss.ss_family == AF_INET && a.port == 9);
  CHECK_INT(sk__addr_parse("0.0.0.0:65535", &a), 0);
  const char *bad[] = {"",          "8080",      "host:80",   "1.2.3.4:65536", "1.2.3.4:-1",
                       "1.2.3.4:",  ":",         "[::1",      "[::1]",         "::1:80",
                       "[]:80",     "1.2.3:80",  "1.2.3.4:8a", ":+80",         "[1.2.3.4]:80",
                       "1.2.3.4:0x50"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    if (sk__addr_parse(bad[i], &a) != SK_EINVAL)
      FAILF("\"%s\" was accepted", bad[i]);
  CHECK_INT(sk__addr_parse(NULL, &a), SK_EINVAL);
}

static void nop_handler(sk_server_req_t *req, void *arg) {
  (void)arg;
  (void)sk_server_respond_text(req, 204, NULL);
}

TEST(router) {
  sk__router_t r = {.n = 0};
  const sk__route_t *rt;
  unsigned allow;
  CHECK_INT(sk__router_add(&r, "/healthz", SK_SERVER_GET, 0, nop_handler, NULL), 0);
  CHECK_INT(sk__router_add(&r, "/hooks/github", SK_SERVER_POST, 0, nop_handler, NULL), 0);
  CHECK_INT(sk__router_add(&r, "/stream/*", SK_SERVER_GET, 0, nop_handler, NULL), 0);
  CHECK_INT(sk__router_add(&r, "/stream/ns/*", SK_SERVER_GET | SK_SERVER_DELETE, 0, nop_handler,
                           NULL),
            0);
  CHECK_INT(sk__router_add(&r, "/stream/exact", SK_SERVER_PUT, 0, nop_handler, NULL), 0);
  CHECK_INT(sk__router_add(&r, "/healthz", SK_SERVER_POST, 0, nop_handler, NULL), SK_EEXIST);
  CHECK_INT(sk__router_add(&r, "healthz", SK_SERVER_GET, 0, nop_handler, NULL), SK_EINVAL);
  CHECK_INT(sk__router_add(&r, "/a*b", SK_SERVER_GET, 0, nop_handler, NULL), SK_EINVAL);
  CHECK_INT(sk__router_add(&r, "/q?x", SK_SERVER_GET, 0, nop_handler, NULL), SK_EINVAL);
  CHECK_INT(sk__router_add(&r, "/x", 0, 0, nop_handler, NULL), SK_EINVAL);
  CHECK_INT(sk__router_add(&r, "/x", 1u << 12, 0, nop_handler, NULL), SK_EINVAL);
  CHECK_INT(sk__router_add(&r, "/x", SK_SERVER_GET, 0, NULL, NULL), SK_EINVAL);

  CHECK_INT(sk__router_lookup(&r, SK_SERVER_GET, "/healthz", &rt, &allow), SK__ROUTE_FOUND);
  CHECK_STR(rt->path, "/healthz");
  CHECK_INT(sk__router_lookup(&r, SK_SERVER_HEAD, "/healthz", &rt, &allow), SK__ROUTE_FOUND);
  CHECK_INT(sk__router_lookup(&r, SK_SERVER_POST, "/healthz", &rt, &allow),
            SK__ROUTE_BAD_METHOD);
  CHECK_INT(allow, SK_SERVER_GET | SK_SERVER_HEAD);
  CHECK(rt == NULL);
  CHECK_INT(sk__router_lookup(&r, SK_SERVER_GET, "/healthz/", &rt, &allow),
            SK__ROUTE_NOT_FOUND);
  CHECK_INT(sk__router_lookup(&r, SK_SERVER_GET, "/hooks/github", &rt, &allow),
            SK__ROUTE_BAD_METHOD);
  CHECK_INT(allow, SK_SERVER_POST);
  /* Prefix routes: the longest wins, an exact one beats them, and the bare
   * prefix itself is not matched. */
  CHECK_INT(sk__router_lookup(&r, SK_SERVER_GET, "/stream/x", &rt, &allow), SK__ROUTE_FOUND);
  CHECK_STR(rt->path, "/stream/*");
  CHECK_INT(sk__router_lookup(&r, SK_SERVER_DELETE, "/stream/ns/wf", &rt, &allow),
            SK__ROUTE_FOUND);
  CHECK_STR(rt->path, "/stream/ns/*");
  CHECK_INT(sk__router_lookup(&r, SK_SERVER_PUT, "/stream/exact", &rt, &allow), SK__ROUTE_FOUND);
  CHECK_STR(rt->path, "/stream/exact");
  CHECK_INT(sk__router_lookup(&r, SK_SERVER_GET, "/stream/", &rt, &allow), SK__ROUTE_NOT_FOUND);
  CHECK_INT(sk__router_lookup(&r, SK_SERVER_GET, "/streamx", &rt, &allow), SK__ROUTE_NOT_FOUND);
  CHECK_INT(sk__router_lookup(&r, SK_SERVER_GET, "/", &rt, &allow), SK__ROUTE_NOT_FOUND);

  char buf[96];
  sk__methods_format(SK_SERVER_GET | SK_SERVER_POST | SK_SERVER_DELETE, buf, sizeof(buf));
  CHECK_STR(buf, "GET, HEAD, POST, DELETE");
  sk__methods_format(SK_SERVER_OPTIONS, buf, sizeof(buf));
  CHECK_STR(buf, "OPTIONS");
  CHECK_STR(sk__method_name(SK_SERVER_PATCH), "PATCH");
  for (int i = 0; i < SK_SERVER_MAX_ROUTES; i++) {
    char p[32];
    snprintf(p, sizeof(p), "/r%d", i);
    int rc = sk__router_add(&r, p, SK_SERVER_GET, 0, nop_handler, NULL);
    if (rc < 0) {
      CHECK_INT(rc, SK_ETOOBIG);
      break;
    }
  }
  CHECK_INT(r.n, SK_SERVER_MAX_ROUTES);
  sk__router_release(&r);
}

typedef struct {
  bool ready;
  int calls;
} ready_state_t;

static bool ready_fn(void *arg, sk_buf_t *reason) {
  ready_state_t *st = arg;
  st->calls++;
  if (!st->ready)
    sk_buf_puts(reason, "informers not synced (Workflows)");
  return st->ready;
}

TEST(health_ready_metrics) {
  env_t e;
  sk_server_opts_t o = {0};
  o.instrument = sk_metrics_create(0);
  if (!env_start(&e, &o))
    return;
  e.metrics = o.instrument;
  ready_state_t st = {false, 0};
  sk_metric_t *runs;
  CHECK_INT(sk_metrics_counter(e.metrics, "skein_workflows_started_total", "Workflows started.",
                               NULL, &runs),
            0);
  CHECK_INT(sk_server_handle_health(e.srv, ready_fn, &st), 0);
  CHECK_INT(sk_server_handle_metrics(e.srv, e.metrics), 0);
  CHECK(!sk_server_listening(e.srv));
  CHECK_INT(sk_server_port(e.srv), 0);
  if (!env_listen(&e))
    goto out;
  CHECK(sk_server_listening(e.srv));
  CHECK_INT(sk_server_start(e.srv), SK_ESTATE);
  CHECK_INT(sk_server_route(e.srv, "/late", SK_SERVER_GET, 0, nop_handler, NULL), SK_ESTATE);

  char hv[256];
  client_t *c = get(&e, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK_INT(c->resp[0].status, 200);
  CHECK_STR(c->resp[0].body, "ok");
  CHECK_STR(header(&c->resp[0], "content-type", hv, sizeof(hv)), "text/plain; charset=utf-8");
  client_release(c);

  c = get(&e, "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK_INT(c->resp[0].status, 503);
  CHECK_STR(c->resp[0].body, "not ready: informers not synced (Workflows)");
  client_release(c);
  st.ready = true;
  c = get(&e, "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK_INT(c->resp[0].status, 200);
  CHECK_STR(c->resp[0].body, "ok");
  client_release(c);
  CHECK_INT(st.calls, 2);

  CHECK_INT(sk_metric_add(runs, NULL, 3), 0);
  c = get(&e, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK_INT(c->resp[0].status, 200);
  CHECK_STR(header(&c->resp[0], "content-type", hv, sizeof(hv)),
            "text/plain; version=0.0.4; charset=utf-8");
  CHECK(strstr(c->resp[0].body, "# TYPE skein_workflows_started_total counter\n"
                                "skein_workflows_started_total 3\n") != NULL);
  /* The server counts its own answers: three so far, one per route+code. */
  CHECK(strstr(c->resp[0].body, "skein_http_requests_total{handler=\"/healthz\",method=\"GET\","
                                "code=\"200\"} 1\n") != NULL);
  CHECK(strstr(c->resp[0].body, "skein_http_requests_total{handler=\"/readyz\",method=\"GET\","
                                "code=\"503\"} 1\n") != NULL);
  client_release(c);
  CHECK_INT(sk_metric_inc(runs, NULL), 0);
  c = get(&e, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(strstr(c->resp[0].body, "skein_workflows_started_total 4\n") != NULL);
  CHECK(strstr(c->resp[0].body, "skein_http_request_duration_seconds_count{handler=\"/metrics\"} "
                                "1\n") != NULL);
  client_release(c);

  c = get(&e, "GET /nothing-here HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK_INT(c->resp[0].status, 404);
  CHECK_STR(c->resp[0].body, "404 page not found\n");
  client_release(c);

  c = get(&e, "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  CHECK_INT(c->resp[0].status, 405);
  CHECK_STR(header(&c->resp[0], "allow", hv, sizeof(hv)), "GET, HEAD");
  client_release(c);

  c = get(&e, "DELETE /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK_INT(c->resp[0].status, 405);
  client_release(c);

  /* An early answer to a request with an unread body closes the
   * connection: the body must not be parsed as a second request. */
  c = client_new(e.port, "POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 34\r\n\r\n"
                         "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  c->wait_eof = true;
  CHECK(client_run(&e.loop, c));
  CHECK_INT(c->resp[0].status, 404);
  CHECK(c->eof);
  CHECK(strstr(c->buf, "HTTP/1.1 200") == NULL);
  client_release(c);

  /* HEAD: the headers of the GET answer, with its length, and no body. */
  c = get(&e, "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK_INT(c->resp[0].status, 200);
  CHECK_STR(header(&c->resp[0], "content-length", hv, sizeof(hv)), "2");
  CHECK_INT(c->resp[0].body_len, 0);
  client_release(c);

  double v = 0;
  sk_metric_t *reqs = sk_metrics_find(e.metrics, "skein_http_requests_total");
  CHECK_INT(sk_metric_value(reqs, (const char *[]){"none", "GET", "404"}, &v), 0);
  CHECK(v == 1);
  CHECK_INT(sk_metric_value(reqs, (const char *[]){"/healthz", "HEAD", "200"}, &v), 0);
  CHECK(v == 1);
out:
  env_finish(&e);
}


/* Echoes what the handler saw: method, path, query, a custom header, the
 * content type and the body, and sets a response header. */
static void echo_handler(sk_server_req_t *req, void *arg) {
  (void)arg;
  char event[64] = "-", ctype[64] = "-", tiny[2];
  (void)sk_server_req_header(req, "X-GitHub-Event", event, sizeof(event));
  (void)sk_server_req_header(req, "content-type", ctype, sizeof(ctype));
  int missing = sk_server_req_header(req, "X-Absent", tiny, sizeof(tiny));
  int small = sk_server_req_header(req, "X-GitHub-Event", tiny, sizeof(tiny));
  size_t blen;
  const char *body = sk_server_req_body(req, &blen);
  char out[2048];
  snprintf(out, sizeof(out), "%s %s ?%s event=%s ctype=%s missing=%d small=%d len=%zu body=%s",
           sk_server_req_method_name(req), sk_server_req_path(req), sk_server_req_query(req),
           event, ctype, missing, small, blen, body);
  (void)sk_server_req_add_header(req, "X-Skein-Delivery", "abc-123");
  CHECK_INT(sk_server_req_add_header(req, "Bad Name", "x"), SK_EINVAL);
  CHECK_INT(sk_server_req_add_header(req, "X-Split", "a\r\nb"), SK_EINVAL);
  (void)sk_server_respond_text(req, 201, out);
}

TEST(bodies_headers_and_caps) {
  env_t e;
  sk_server_opts_t o = {0};
  o.max_body_bytes = 64;
  if (!env_start(&e, &o))
    return;
  CHECK_INT(sk_server_route(e.srv, "/hooks/github", SK_SERVER_POST | SK_SERVER_PUT, 0,
                            echo_handler, NULL),
            0);
  CHECK_INT(sk_server_route(e.srv, "/big", SK_SERVER_POST, 100000, echo_handler, NULL), 0);
  if (!env_listen(&e))
    goto out;
  char hv[64];
  client_t *c = get(&e, "POST /hooks/github?a=1&b=two HTTP/1.1\r\nHost: x\r\n"
                        "X-GitHub-Event: push\r\nContent-Type: application/json\r\n"
                        "Content-Length: 13\r\n\r\n{\"ref\":\"main\"");
  CHECK_INT(c->resp[0].status, 201);
  CHECK_STR(c->resp[0].body, "POST /hooks/github ?a=1&b=two event=push ctype=application/json "
                             "missing=-4 small=-5 len=13 body={\"ref\":\"main\"");
  CHECK_STR(header(&c->resp[0], "x-skein-delivery", hv, sizeof(hv)), "abc-123");
  client_release(c);

  /* No body at all is an empty body. */
  c = get(&e, "PUT /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  CHECK_INT(c->resp[0].status, 201);
  CHECK(strstr(c->resp[0].body, "len=0 body=") != NULL);
  client_release(c);

  /* Over the cap: 413 before the body is read, and the connection closes. */
  c = client_new(e.port, "POST /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: 65\r\n\r\n");
  c->wait_eof = true;
  CHECK(client_run(&e.loop, c));
  CHECK_INT(c->resp[0].status, 413);
  CHECK(c->eof);
  client_release(c);
  c = get(&e, "POST /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999\r\n\r\n");
  CHECK_INT(c->resp[0].status, 413);
  client_release(c);
  /* A route's own cap replaces the server's. */
  char *big = malloc(70000 + 200);
  int n = snprintf(big, 200, "POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n");
  memset(big + n, 'b', 70000);
  big[n + 70000] = '\0';
  c = get(&e, big);
  CHECK_INT(c->resp[0].status, 201);
  CHECK(strstr(c->resp[0].body, "len=70000 body=bbbb") != NULL);
  client_release(c);
  free(big);
  /* Chunked bodies have no length to check: refused. Bad lengths too. */
  c = get(&e, "POST /hooks/github HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
              "3\r\nabc\r\n0\r\n\r\n");
  CHECK_INT(c->resp[0].status, 411);
  client_release(c);
  c = get(&e, "POST /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n");
  CHECK(c->resp[0].status == 400 || (c->nresp == 0 && c->eof));
  client_release(c);

  /* Headers past the cap never reach a handler; the server stays up. */
  char *hdr = malloc(20000);
  n = snprintf(hdr, 100, "POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-Pad: ");
  memset(hdr + n, 'p', 16000);
  memcpy(hdr + n + 16000, "\r\nContent-Length: 0\r\n\r\n", 24);
  c = client_new(e.port, hdr);
  c->wait_eof = true;
  CHECK(client_run(&e.loop, c));
  CHECK(c->resp[0].status != 201);
  CHECK(c->eof || c->resp[0].status >= 400);
  client_release(c);
  free(hdr);
  c = get(&e, "PUT /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok");
  CHECK_INT(c->resp[0].status, 201);
  client_release(c);
out:
  env_finish(&e);
}

/* Answers later, from a timer, as a handler waiting on an API call would. */
typedef struct {
  uv_timer_t timer;
  sk_server_req_t *req;
  int respond_rc;
  bool responded;
  bool got;
  int status;
} later_t;

static void later_fire(uv_timer_t *t) {
  later_t *l = t->data;
  l->respond_rc = sk_server_respond_text(l->req, l->status, "later");
  l->responded = true;
}

static void defer_handler(sk_server_req_t *req, void *arg) {
  later_t *l = arg;
  l->req = req;
  l->got = true;
  if (l->status)
    uv_timer_start(&l->timer, later_fire, 20, 0);
}

TEST(deferred_answers) {
  env_t e;
  sk_server_opts_t o = {0};
  o.handler_timeout_s = 1;
  if (!env_start(&e, &o))
    return;
  later_t l = {0};
  uv_timer_init(&e.loop, &l.timer);
  l.timer.data = &l;
  CHECK_INT(sk_server_route(e.srv, "/slow", SK_SERVER_GET, 0, defer_handler, &l), 0);
  if (!env_listen(&e))
    goto out;
  l.status = 202;
  client_t *c = get(&e, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK_INT(c->resp[0].status, 202);
  CHECK_STR(c->resp[0].body, "later");
  CHECK(l.responded);
  CHECK_INT(l.respond_rc, 0);
  client_release(c);

  /* Never answered in time: the server gives up after handler_timeout_s and
   * closes the connection; the late answer finds it gone and frees req. */
  l.status = 0;
  l.req = NULL;
  c = client_new(e.port, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(client_run(&e.loop, c));
  CHECK_INT(c->nresp, 0);
  CHECK(c->eof);
  CHECK(!c->timed_out);
  client_release(c);
  REQUIRE(l.req);
  CHECK_INT(sk_server_respond_text(l.req, 200, "too late"), SK_ECANCELED);

  /* Still pending when the server closes: detached the same way. */
  l.req = NULL;
  c = client_new(e.port, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  l.got = false;
  uv_queue_work(&e.loop, &c->work, client_work, client_after);
  CHECK(run_until(&e.loop, &l.got, 5000));
  REQUIRE(l.req);
  e.closed = false;
  sk_server_close(e.srv, on_closed, &e.closed);
  CHECK(run_until(&e.loop, &c->done, 10000));
  CHECK_INT(c->nresp, 0);
  CHECK(c->eof);
  client_release(c);
  CHECK(run_until(&e.loop, &e.closed, 5000));
  CHECK_INT(sk_server_respond_text(l.req, 200, "after close"), SK_ECANCELED);
  uv_close((uv_handle_t *)&l.timer, NULL);
  uv_run(&e.loop, UV_RUN_NOWAIT);
  CHECK_INT(uv_loop_close(&e.loop), 0);
  return;
out:
  uv_close((uv_handle_t *)&l.timer, NULL);
  env_finish(&e);
}


int main(void) {
  RUN(addr_parse);
  RUN(router);
  RUN(health_ready_metrics);
  RUN(bodies_headers_and_caps);
  RUN(deferred_answers);
  return TEST_DONE();
}
