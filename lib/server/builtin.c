/*
 * The routes every skeind server may carry: liveness (/healthz), readiness
 * (/readyz) and Prometheus metrics (/metrics); and the counters of the
 * server's own requests.
 */
#include <stdio.h>
#include <string.h>

#include "server/server-int.h"
#include "util/error.h"

/* /metrics text bigger than this is a 500, not an unbounded allocation. */
#define METRICS_MAX_BYTES (64u << 20)
#define READY_REASON_MAX 1024

static void on_healthz(sk_server_req_t *req, void *arg) {
  (void)arg;
  /* Answering at all proves the loop runs, which is what liveness means. */
  (void)sk_server_respond_text(req, 200, "ok");
}

static void on_readyz(sk_server_req_t *req, void *arg) {
  sk_server_t *s = arg;
  if (!s->ready_fn) {
    (void)sk_server_respond_text(req, 200, "ok");
    return;
  }
  sk_buf_t reason;
  sk_buf_init(&reason, READY_REASON_MAX);
  bool ready = s->ready_fn(s->ready_arg, &reason);
  if (ready) {
    (void)sk_server_respond_text(req, 200, "ok");
  } else {
    char body[READY_REASON_MAX + 32];
    snprintf(body, sizeof(body), "not ready: %s",
             reason.len ? reason.data : "no reason given");
    (void)sk_server_respond_text(req, 503, body);
  }
  sk_buf_release(&reason);
}

static void on_metrics(sk_server_req_t *req, void *arg) {
  sk_server_t *s = arg;
  sk_buf_t text;
  sk_buf_init(&text, METRICS_MAX_BYTES);
  int rc = sk_metrics_render(s->registry, &text);
  if (rc < 0) {
    char msg[128];
    snprintf(msg, sizeof(msg), "rendering metrics failed: %s\n", sk_strerror(rc));
    (void)sk_server_respond_text(req, 500, msg);
  } else {
    (void)sk_server_respond(req, 200, SK_METRICS_CONTENT_TYPE, text.data, text.len);
  }
  sk_buf_release(&text);
}

int sk_server_handle_health(sk_server_t *s, sk_server_ready_fn ready, void *arg) {
  if (!s)
    return SK_EINVAL;
  if (s->state != SK__SRV_NEW)
    return SK_ESTATE;
  int rc = sk__router_add(&s->router, "/healthz", SK_SERVER_GET, 0, on_healthz, s);
  if (rc == 0)
    rc = sk__router_add(&s->router, "/readyz", SK_SERVER_GET, 0, on_readyz, s);
  if (rc == 0) {
    s->ready_fn = ready;
    s->ready_arg = arg;
  }
  return rc;
}

int sk_server_handle_metrics(sk_server_t *s, sk_metrics_t *registry) {
  if (!s || !registry)
    return SK_EINVAL;
  if (s->state != SK__SRV_NEW)
    return SK_ESTATE;
  int rc = sk__router_add(&s->router, "/metrics", SK_SERVER_GET, 0, on_metrics, s);
  if (rc == 0)
    s->registry = registry;
  return rc;
}

/* Finds a family another server already registered in the same registry,
 * or registers it. */
static sk_metric_t *shared_family(sk_metrics_t *r, sk_metric_kind_t kind, const char *name,
                                  const char *help, const char *const *labels) {
  sk_metric_t *m = sk_metrics_find(r, name);
  if (m)
    return m;
  int rc;
  switch (kind) {
  case SK_METRIC_COUNTER:
    rc = sk_metrics_counter(r, name, help, labels, &m);
    break;
  case SK_METRIC_HISTOGRAM:
    rc = sk_metrics_histogram(r, name, help, labels, NULL, 0, &m);
    break;
  default:
    rc = SK_EINVAL;
    break;
  }
  return rc < 0 ? NULL : m;
}

int sk__instrument_init(sk_server_t *s) {
  sk_metrics_t *r = s->instrument;
  s->m_requests = shared_family(r, SK_METRIC_COUNTER, "skein_http_requests_total",
                                "HTTP requests answered, by route, method and status code.",
                                (const char *const[]){"handler", "method", "code", NULL});
  s->m_duration = shared_family(r, SK_METRIC_HISTOGRAM, "skein_http_request_duration_seconds",
                                "Time from a request's headers to the end of its answer.",
                                (const char *const[]){"handler", NULL});
  s->m_rejected = shared_family(r, SK_METRIC_COUNTER, "skein_http_connections_rejected_total",
                                "Connections closed at accept because too many were open.",
                                NULL);
  return s->m_requests && s->m_duration && s->m_rejected ? 0 : SK_ENOMEM;
}

void sk__instrument_request(sk_server_t *s, const sk_server_req_t *req) {
  if (!s->m_requests)
    return;
  /* Only route paths become label values, so the series stay few whatever
   * paths clients send. */
  const char *handler = req->route ? req->route->path : "none";
  char code[8];
  snprintf(code, sizeof(code), "%d", req->status);
  (void)sk_metric_inc(s->m_requests,
                      (const char *[]){handler, sk__method_name(req->method), code});
  double seconds = (double)(uv_hrtime() - req->started_ns) / 1e9;
  (void)sk_metric_observe(s->m_duration, (const char *[]){handler}, seconds);
}
