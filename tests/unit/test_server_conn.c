/*
 * Tests of the HTTP server's connections: keep-alive, pipelining and large
 * answers, idle timeouts and the connection cap, bind errors and disabled
 * servers, every-interface and IPv6 listening, and closing the server from
 * inside a handler, each ending with a clean loop.
 */
#include "server_testenv.h"

static void big_handler(sk_server_req_t *req, void *arg) {
  (void)arg;
  size_t n = 200000;
  char *body = malloc(n);
  for (size_t i = 0; i < n; i++)
    body[i] = (char)('a' + i % 26);
  (void)sk_server_respond(req, 200, "application/octet-stream", body, n);
  free(body);
}

TEST(keep_alive_pipelining_and_large_answers) {
  env_t e;
  sk_server_opts_t o = {0};
  if (!env_start(&e, &o))
    return;
  CHECK_INT(sk_server_handle_health(e.srv, NULL, NULL), 0);
  CHECK_INT(sk_server_handle_health(e.srv, NULL, NULL), SK_EEXIST);
  CHECK_INT(sk_server_route(e.srv, "/big", SK_SERVER_GET, 0, big_handler, NULL), 0);
  if (!env_listen(&e))
    goto out;
  /* Four requests, one connection, each answer read before the next (a
   * HEAD answer's length does not make the server wait for a body). */
  client_t *c = client_new(e.port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  c->reqs[c->nreqs++] = "GET /big HTTP/1.1\r\nHost: x\r\n\r\n";
  c->reqs[c->nreqs++] = "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n";
  c->reqs[c->nreqs++] = "HEAD /big HTTP/1.1\r\nHost: x\r\n\r\n";
  CHECK(client_run(&e.loop, c));
  CHECK_INT(c->nresp, 4);
  CHECK_INT(c->resp[3].status, 200);
  CHECK_INT(c->resp[3].body_len, 0);
  CHECK_INT(c->resp[0].status, 200);
  CHECK_INT(c->resp[1].status, 200);
  CHECK_INT(c->resp[1].body_len, 200000);
  bool pattern = c->resp[1].body_len == 200000;
  for (size_t i = 0; pattern && i < 200000; i++)
    pattern = c->resp[1].body[i] == (char)('a' + i % 26);
  CHECK(pattern);
  CHECK_INT(c->resp[2].status, 200);
  CHECK_STR(c->resp[2].body, "ok"); /* no ready callback: always ready */
  client_release(c);
  /* A HEAD answer followed by another request on the same connection. */
  c = client_new(e.port, "HEAD /big HTTP/1.1\r\nHost: x\r\n\r\n");
  c->reqs[c->nreqs++] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  CHECK(client_run(&e.loop, c));
  CHECK_INT(c->nresp, 2);
  CHECK_INT(c->resp[0].status, 200);
  char hv[32];
  CHECK_STR(header(&c->resp[0], "content-length", hv, sizeof(hv)), "200000");
  CHECK_INT(c->resp[1].status, 200);
  CHECK_STR(c->resp[1].body, "ok");
  client_release(c);
  /* Pipelined: all sent before any answer is read. */
  c = client_new(e.port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  c->reqs[c->nreqs++] = "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n";
  c->reqs[c->nreqs++] = "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n";
  c->send_all_first = true;
  CHECK(client_run(&e.loop, c));
  CHECK_INT(c->nresp, 3);
  CHECK_INT(c->resp[0].status, 200);
  CHECK_INT(c->resp[1].status, 404);
  CHECK_INT(c->resp[2].status, 200);
  client_release(c);
  /* HTTP/1.0 and "Connection: close": answered, then closed. */
  c = client_new(e.port, "GET /healthz HTTP/1.0\r\n\r\n");
  c->wait_eof = true;
  CHECK(client_run(&e.loop, c));
  CHECK_INT(c->resp[0].status, 200);
  CHECK(c->eof);
  client_release(c);
  c = client_new(e.port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  c->wait_eof = true;
  CHECK(client_run(&e.loop, c));
  CHECK_INT(c->resp[0].status, 200);
  CHECK(c->eof);
  client_release(c);
out:
  env_finish(&e);
}

TEST(idle_timeout) {
  env_t e;
  sk_server_opts_t o = {0};
  o.timeout_s = 1;
  o.max_connections = 1;
  if (!env_start(&e, &o))
    return;
  CHECK_INT(sk_server_handle_health(e.srv, NULL, NULL), 0);
  if (!env_listen(&e))
    goto out;
  /* A client that connects and says nothing is dropped after timeout_s
   * (well before the client's own 8 s receive timeout). */
  client_t *idle = client_new(e.port, NULL);
  idle->wait_eof = true;
  CHECK(client_run(&e.loop, idle));
  CHECK(idle->eof);
  CHECK(!idle->timed_out);
  client_release(idle);
  /* Its slot is free again: with a cap of one connection, the next client
   * is served (a leaked count would close it at accept). */
  client_t *c = get(&e, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK_INT(c->resp[0].status, 200);
  client_release(c);
out:
  env_finish(&e);
}

TEST(connection_cap) {
  env_t e;
  sk_server_opts_t o = {0};
  o.max_connections = 2;
  o.instrument = sk_metrics_create(0);
  if (!env_start(&e, &o))
    return;
  e.metrics = o.instrument;
  CHECK_INT(sk_server_handle_health(e.srv, NULL, NULL), 0);
  if (!env_listen(&e))
    goto out;
  /* Two connections held open, a third is closed at accept, the held ones
   * still work. All three wait in the backlog, so they are accepted in
   * order in one go. */
  int a = client_connect(e.port, false), b = client_connect(e.port, false);
  REQUIRE(a >= 0 && b >= 0);
  client_t *third = client_new(e.port, NULL);
  third->fd = client_connect(e.port, false);
  REQUIRE(third->fd >= 0);
  third->wait_eof = true;
  CHECK(client_run(&e.loop, third));
  CHECK(third->eof);
  CHECK(!third->timed_out);
  client_release(third);
  int fds[2] = {a, b};
  for (int i = 0; i < 2; i++) {
    client_t *held = client_new(e.port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    held->fd = fds[i];
    CHECK(client_run(&e.loop, held));
    CHECK_INT(held->resp[0].status, 200);
    client_release(held);
  }
  double v = 0;
  CHECK_INT(sk_metric_value(sk_metrics_find(e.metrics, "skein_http_connections_rejected_total"),
                            NULL, &v),
            0);
  CHECK(v == 1);
out:
  env_finish(&e);
}

TEST(bind_errors_and_disabled) {
  env_t e;
  sk_server_opts_t o = {0};
  if (!env_start(&e, &o))
    return;
  if (!env_listen(&e))
    goto out;
  /* The same port again: in use. */
  char addr[64];
  snprintf(addr, sizeof(addr), "127.0.0.1:%d", e.port);
  sk_server_t *twin = NULL;
  CHECK_INT(sk_server_create(&e.loop, &(sk_server_opts_t){.bind = addr}, &twin), 0);
  CHECK_INT(sk_server_start(twin), SK_EEXIST);
  CHECK(!sk_server_listening(twin));
  bool twin_closed = false;
  sk_server_close(twin, on_closed, &twin_closed);
  CHECK(run_until(&e.loop, &twin_closed, 5000));
  /* An address this machine does not have (TEST-NET-1). */
  sk_server_t *far = NULL;
  CHECK_INT(sk_server_create(&e.loop, &(sk_server_opts_t){.bind = "192.0.2.1:0"}, &far), 0);
  CHECK_INT(sk_server_start(far), SK_EINVAL);
  bool far_closed = false;
  sk_server_close(far, on_closed, &far_closed);
  CHECK(run_until(&e.loop, &far_closed, 5000));
  /* "0": nothing is opened, and closing works. */
  sk_server_t *off = NULL;
  CHECK_INT(sk_server_create(&e.loop, &(sk_server_opts_t){.bind = "0"}, &off), 0);
  CHECK_INT(sk_server_handle_health(off, NULL, NULL), 0);
  CHECK_INT(sk_server_start(off), 0);
  CHECK(!sk_server_listening(off));
  CHECK_INT(sk_server_port(off), 0);
  bool off_closed = false;
  sk_server_close(off, on_closed, &off_closed);
  CHECK(run_until(&e.loop, &off_closed, 5000));
  /* Closed without ever starting. */
  sk_server_t *never = NULL;
  CHECK_INT(sk_server_create(&e.loop, &(sk_server_opts_t){.bind = ":0"}, &never), 0);
  bool never_closed = false;
  sk_server_close(never, on_closed, &never_closed);
  CHECK(run_until(&e.loop, &never_closed, 5000));
  sk_server_close(NULL, on_closed, NULL);
  /* Refused options. */
  sk_server_t *bad = NULL;
  CHECK_INT(sk_server_create(&e.loop, &(sk_server_opts_t){.bind = "nowhere:80"}, &bad),
            SK_EINVAL);
  CHECK_INT(sk_server_create(&e.loop, &(sk_server_opts_t){.bind = ":80",
                                                          .max_header_bytes = 70000},
                             &bad),
            SK_EINVAL);
  CHECK_INT(sk_server_create(&e.loop, &(sk_server_opts_t){0}, &bad), SK_EINVAL);
  CHECK(bad == NULL);
out:
  env_finish(&e);
}

TEST(every_interface_and_ipv6) {
  env_t e;
  sk_server_opts_t o = {.bind = ":0"};
  if (!env_start(&e, &o))
    return;
  CHECK_INT(sk_server_handle_health(e.srv, NULL, NULL), 0);
  if (!env_listen(&e))
    goto out;
  client_t *c = get(&e, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK_INT(c->resp[0].status, 200);
  client_release(c);
  int probe = socket(AF_INET6, SOCK_STREAM, 0);
  bool have_v6 = probe >= 0;
  if (probe >= 0)
    close(probe);
  if (have_v6) {
    c = client_new(e.port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    c->ipv6 = true;
    CHECK(client_run(&e.loop, c));
    CHECK(c->resp[0].status == 200 || c->err != 0); /* ::1 may be missing in a container */
    client_release(c);
  }
out:
  env_finish(&e);
}

/* A handler may close its own server; its answer then finds the
 * connection gone. */
static void closing_handler(sk_server_req_t *req, void *arg) {
  env_t *e = arg;
  sk_server_close(e->srv, on_closed, &e->closed);
  CHECK_INT(sk_server_respond_text(req, 200, "bye"), SK_ECANCELED);
}

TEST(close_from_a_handler) {
  env_t e;
  sk_server_opts_t o = {0};
  if (!env_start(&e, &o))
    return;
  CHECK_INT(sk_server_route(e.srv, "/quit", SK_SERVER_POST, 0, closing_handler, &e), 0);
  if (!env_listen(&e)) {
    env_finish(&e);
    return;
  }
  client_t *c = client_new(e.port, "POST /quit HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  c->wait_eof = true;
  CHECK(client_run(&e.loop, c));
  CHECK_INT(c->nresp, 0);
  CHECK(c->eof);
  client_release(c);
  CHECK(run_until(&e.loop, &e.closed, 5000));
  uv_run(&e.loop, UV_RUN_NOWAIT);
  CHECK_INT(uv_loop_close(&e.loop), 0);
}

/* skeind's layout: metrics and probes on two servers, one loop, one
 * registry counting the requests of both. */
TEST(two_servers_one_loop) {
  env_t e;
  sk_server_opts_t o = {0};
  o.instrument = sk_metrics_create(0);
  if (!env_start(&e, &o))
    return;
  e.metrics = o.instrument;
  sk_server_t *probes = NULL;
  CHECK_INT(sk_server_create(&e.loop,
                             &(sk_server_opts_t){.bind = "127.0.0.1:0", .instrument = e.metrics},
                             &probes),
            0);
  REQUIRE(probes);
  CHECK_INT(sk_server_handle_metrics(e.srv, e.metrics), 0);
  CHECK_INT(sk_server_handle_health(probes, NULL, NULL), 0);
  bool probes_closed = false;
  if (!env_listen(&e) || sk_server_start(probes) < 0) {
    FAILF("start failed");
    goto out;
  }
  int pport = sk_server_port(probes);
  CHECK(pport > 0 && pport != e.port);
  client_t *c = client_new(pport, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(client_run(&e.loop, c));
  CHECK_INT(c->resp[0].status, 200);
  client_release(c);
  c = get(&e, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK_INT(c->resp[0].status, 404); /* the metrics server has no probes */
  client_release(c);
  c = get(&e, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK_INT(c->resp[0].status, 200);
  CHECK(strstr(c->resp[0].body, "skein_http_requests_total{handler=\"/healthz\",method=\"GET\","
                                "code=\"200\"} 1\n") != NULL);
  CHECK(strstr(c->resp[0].body, "skein_http_requests_total{handler=\"none\",method=\"GET\","
                                "code=\"404\"} 1\n") != NULL);
  client_release(c);
  /* Closing one leaves the other serving. */
  sk_server_close(probes, on_closed, &probes_closed);
  CHECK(run_until(&e.loop, &probes_closed, 5000));
  probes = NULL;
  c = get(&e, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK_INT(c->resp[0].status, 200);
  client_release(c);
out:
  if (probes) {
    sk_server_close(probes, on_closed, &probes_closed);
    CHECK(run_until(&e.loop, &probes_closed, 5000));
  }
  env_finish(&e);
}

int main(void) {
  RUN(keep_alive_pipelining_and_large_answers);
  RUN(idle_timeout);
  RUN(connection_cap);
  RUN(bind_errors_and_disabled);
  RUN(every_interface_and_ipv6);
  RUN(close_from_a_handler);
  RUN(two_servers_one_loop);
  return TEST_DONE();
}
