/*
 * The server object: creation, start (a libwebsockets context on the
 * caller's libuv loop, plus our listening socket), and teardown.
 *
 * Teardown of a libwebsockets 4.1 context on a foreign libuv loop takes two
 * calls of lws_context_destroy with loop iterations between them: the first
 * closes every connection and, once their handles have closed, the
 * context's own timer and idle handles; the second, made only after those
 * have closed too, frees the context (calling it earlier frees memory that
 * libuv still holds). libwebsockets gives no notice of that moment, but its
 * own handles carry the context in their data field, so a 1 ms timer of
 * ours walks the loop until none is left. The timer also keeps both calls
 * out of libwebsockets' callbacks, where destroying the context is not
 * allowed. start checks that the plugin marks its handles that way, and
 * refuses to run if not, rather than risk freeing memory in use.
 */
#include <stdlib.h>
#include <string.h>

#include "server/server-int.h"
#include "util/error.h"
#include "util/log.h"

#define DEFAULT_MAX_HEADER_BYTES 8192
#define DEFAULT_MAX_BODY_BYTES (1u << 20)
#define DEFAULT_TIMEOUT_S 10
#define DEFAULT_HANDLER_TIMEOUT_S 30
#define DEFAULT_MAX_CONNECTIONS 128

int sk_server_create(uv_loop_t *loop, const sk_server_opts_t *opts, sk_server_t **out) {
  if (!loop || !opts || !out)
    return SK_EINVAL;
  *out = NULL;
  if (opts->max_header_bytes > 65535)
    return SK_EINVAL;
  sk_server_t *s = calloc(1, sizeof(*s));
  if (!s)
    return SK_ENOMEM;
  int rc = sk__addr_parse(opts->bind, &s->addr);
  if (rc < 0) {
    free(s);
    return rc;
  }
  s->loop = loop;
  s->state = SK__SRV_NEW;
  s->listen_fd = -1;
  s->max_header_bytes = opts->max_header_bytes ? opts->max_header_bytes : DEFAULT_MAX_HEADER_BYTES;
  s->max_body_bytes = opts->max_body_bytes ? opts->max_body_bytes : DEFAULT_MAX_BODY_BYTES;
  s->timeout_s = opts->timeout_s ? opts->timeout_s : DEFAULT_TIMEOUT_S;
  s->handler_timeout_s =
      opts->handler_timeout_s ? opts->handler_timeout_s : DEFAULT_HANDLER_TIMEOUT_S;
  s->max_connections = opts->max_connections ? opts->max_connections : DEFAULT_MAX_CONNECTIONS;
  s->instrument = opts->instrument;
  if (s->instrument && (rc = sk__instrument_init(s)) < 0) {
    free(s);
    return rc;
  }
  *out = s;
  return 0;
}

int sk_server_route(sk_server_t *s, const char *path, unsigned methods, size_t max_body,
                    sk_server_handler_fn fn, void *arg) {
  if (!s)
    return SK_EINVAL;
  if (s->state != SK__SRV_NEW)
    return SK_ESTATE;
  return sk__router_add(&s->router, path, methods, max_body, fn, arg);
}

/* libwebsockets' errors and warnings, into our log at verbosity 1: most are
 * about one client's bad request ("Ran out of header data space"), which a
 * client could repeat to flood the log; what matters to an operator (the
 * server could not start) is logged by us as an error. */
static void lws_log_emit(int level, const char *line) {
  (void)level;
  size_t n = strlen(line);
  while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
    n--;
  sk_log_v(1, "lws", "%.*s", (int)n, line);
}

typedef struct {
  const void *ctx;
  int found;
} walk_t;

static void count_ctx_handles(uv_handle_t *h, void *arg) {
  walk_t *w = arg;
  if (h->data == w->ctx)
    w->found++;
}

/* How many handles on the loop libwebsockets' context still owns (open or
 * closing). */
static int lws_handles(sk_server_t *s) {
  walk_t w = {s->ctx, 0};
  uv_walk(s->loop, count_ctx_handles, &w);
  return w.found;
}

static int start_lws(sk_server_t *s) {
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof(info));
  s->protocols[0].name = "skein-http";
  s->protocols[0].callback = sk__conn_callback;
  s->protocols[0].per_session_data_size = sizeof(sk__conn_t);
  void *loops[1] = {s->loop};
  info.options = LWS_SERVER_OPTION_LIBUV;
  info.foreign_loops = loops;
  /* No listener of its own: connections come from our accept loop. */
  info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
  info.protocols = s->protocols;
  info.user = s;
  info.pcontext = &s->ctx;
  info.server_string = "skein";
  info.max_http_header_data = (unsigned short)s->max_header_bytes;
  info.max_http_header_pool = (unsigned short)(s->max_connections < 65535 ? s->max_connections
                                                                          : 65535);
  info.timeout_secs = s->timeout_s;
  info.timeout_secs_ah_idle = s->timeout_s;
  info.keepalive_timeout = (int)s->timeout_s;
  lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
  s->ctx = lws_create_context(&info);
  if (!s->ctx) {
    sk_log_error("server", "libwebsockets could not start on the libuv loop (is its libuv "
                           "plugin, Debian package libwebsockets-evlib-uv, installed?)");
    return SK_EIO;
  }
  s->vh = lws_get_vhost_by_name(s->ctx, "default");
  if (!s->vh) {
    sk_log_error("server", "libwebsockets made no vhost");
    return SK_EIO;
  }
  if (lws_handles(s) == 0) {
    sk_log_error("server", "libwebsockets' libuv plugin does not mark its handles as "
                           "version 4.1 does; refusing to run it (its teardown could not be "
                           "told apart)");
    return SK_EIO;
  }
  return 0;
}

int sk_server_start(sk_server_t *s) {
  if (!s)
    return SK_EINVAL;
  if (s->state != SK__SRV_NEW)
    return SK_ESTATE;
  if (s->addr.disabled) {
    s->state = SK__SRV_RUNNING;
    return 0;
  }
  int rc = start_lws(s);
  if (rc == 0)
    rc = sk__listen_open(s);
  if (rc < 0)
    return rc;
  s->state = SK__SRV_RUNNING;
  sk_log_v(1, "server", "listening on port %d", s->port);
  return 0;
}

int sk_server_port(const sk_server_t *s) {
  return s && s->listen_poll_open ? s->port : 0;
}

bool sk_server_listening(const sk_server_t *s) { return s && s->listen_poll_open; }

void sk__server_maybe_done(sk_server_t *s) {
  if (s->state != SK__SRV_CLOSED || s->handles_open > 0)
    return;
  sk_server_close_cb cb = s->close_cb;
  void *arg = s->close_arg;
  sk__router_release(&s->router);
  free(s);
  if (cb)
    cb(arg);
}

static void on_reaper_closed(uv_handle_t *h) {
  sk_server_t *s = h->data;
  s->handles_open--;
  sk__server_maybe_done(s);
}

static void on_reap(uv_timer_t *t) {
  sk_server_t *s = t->data;
  if (s->ctx && s->lws_destroy_phase == 0) {
    s->lws_destroy_phase = 1;
    lws_context_destroy(s->ctx);
    return;
  }
  if (s->ctx && lws_handles(s) > 0)
    return; /* closes still in flight; look again next tick */
  if (s->ctx)
    lws_context_destroy(s->ctx); /* frees it and clears s->ctx through pcontext */
  s->ctx = NULL;
  s->lws_destroy_phase = 2;
  s->state = SK__SRV_CLOSED;
  uv_timer_stop(t);
  uv_close((uv_handle_t *)t, on_reaper_closed);
}

/* Every live request: one its handler holds is detached (its answer will
 * find the connection gone), the others are freed. */
static void drop_requests(sk_server_t *s) {
  while (s->reqs) {
    sk_server_req_t *req = s->reqs;
    if (req->in_handler || (req->deferred && !req->responded))
      sk__req_detach(req);
    else
      sk__req_free(req);
  }
}

void sk_server_close(sk_server_t *s, sk_server_close_cb cb, void *arg) {
  if (!s || s->state == SK__SRV_CLOSING || s->state == SK__SRV_CLOSED)
    return;
  s->close_cb = cb;
  s->close_arg = arg;
  s->state = SK__SRV_CLOSING;
  sk__listen_close(s);
  drop_requests(s);
  uv_timer_init(s->loop, &s->reaper);
  s->reaper.data = s;
  s->reaper_open = true;
  s->handles_open++;
  uv_timer_start(&s->reaper, on_reap, 0, 1);
}
