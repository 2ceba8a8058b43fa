/*
 * The daemon's HTTP server: libwebsockets on the daemon's own libuv loop
 * (a "foreign loop" to libwebsockets), with one route table. skeind runs two
 * of them, as controller-runtime does: metrics on --metrics-bind-address
 * (":8080") and probes on --health-probe-bind-address (":8081"); later the
 * same table takes GitHub webhooks and the live stream.
 *
 * Bind addresses follow controller-runtime's flags: "HOST:PORT" with a
 * numeric IPv4 address, "[IPv6]:PORT" or "localhost"; ":PORT" for every
 * interface; "0" disables the server (start then does nothing). Port 0 asks
 * the kernel for a free port, which sk_server_port reports (tests use it).
 * skein opens and accepts the listening socket itself and hands each
 * connection to libwebsockets (lws_adopt_socket_vhost): libwebsockets 4.1's
 * own listener binds every interface when given "127.0.0.1", and crashes
 * tearing down a context whose bind failed.
 *
 * Requests: routes match the path exactly, or by prefix when the route path
 * ends in a slash and a star, as "/stream/" followed by "*" (the longest
 * prefix wins; an exact route beats a prefix). A
 * path with no route gets 404; a known path with a method the route does
 * not take gets 405 with an Allow header. GET routes also answer HEAD
 * (headers only). Request headers are capped (max_header_bytes; more is a
 * 431 or a closed connection, as libwebsockets decides), bodies are capped
 * per route (a declared Content-Length over the cap is a 413 before any
 * byte is read; a body that grows past it closes the connection), at most
 * max_connections are open at once (more are closed at accept), and idle,
 * slow or stalled connections are closed after timeout_s.
 *
 * Handlers run on the loop. A handler answers with sk_server_respond, either
 * before it returns or later (after asynchronous work such as an API call):
 * the request stays open until then, for at most handler_timeout_s. If the
 * client goes away or the server closes first, the request is detached and
 * the late sk_server_respond frees it and returns SK_ECANCELED; a handler
 * must answer every request it defers, or it leaks.
 *
 * Not thread-safe: every function runs on the loop thread.
 */
#ifndef SK_SERVER_SERVER_H
#define SK_SERVER_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "metrics/metrics.h"
#include "util/buf.h"

/* Methods, as a bit mask for routes. */
#define SK_SERVER_GET (1u << 0)
#define SK_SERVER_HEAD (1u << 1)
#define SK_SERVER_POST (1u << 2)
#define SK_SERVER_PUT (1u << 3)
#define SK_SERVER_PATCH (1u << 4)
#define SK_SERVER_DELETE (1u << 5)
#define SK_SERVER_OPTIONS (1u << 6)

#define SK_SERVER_MAX_ROUTES 64
#define SK_SERVER_MAX_RESP_HEADERS 16 /* extra headers on one response */

typedef struct sk_server sk_server_t;
typedef struct sk_server_req sk_server_req_t;

typedef struct sk_server_opts {
  const char *bind;            /* see above; required */
  size_t max_header_bytes;     /* all request headers together; 0 = 8 KiB, at most 65535 */
  size_t max_body_bytes;       /* routes' default body cap; 0 = 1 MiB */
  unsigned timeout_s;          /* network timeouts (idle keep-alive, slow client); 0 = 10 */
  unsigned handler_timeout_s;  /* a deferred answer's deadline; 0 = 30 */
  unsigned max_connections;    /* 0 = 128 */
  sk_metrics_t *instrument;    /* counts requests here when not NULL (borrowed; must
                                  outlive the server; servers may share one) */
} sk_server_opts_t;

typedef void (*sk_server_handler_fn)(sk_server_req_t *req, void *arg);
/* Says whether the daemon is ready; when not, writes why into reason. */
typedef bool (*sk_server_ready_fn)(void *arg, sk_buf_t *reason);
typedef void (*sk_server_close_cb)(void *arg);

/* Makes a server on loop without opening anything. SK_EINVAL for a bad
 * bind address or limit. The server is freed by sk_server_close (also when
 * start was never called or failed). */
int sk_server_create(uv_loop_t *loop, const sk_server_opts_t *opts, sk_server_t **out);

/* Adds a route (before start). methods is a mask of SK_SERVER_*; max_body 0
 * means the server's default. path is copied. SK_EEXIST for a path already
 * routed, SK_ETOOBIG past SK_SERVER_MAX_ROUTES, SK_ESTATE after start. */
int sk_server_route(sk_server_t *s, const char *path, unsigned methods, size_t max_body,
                    sk_server_handler_fn fn, void *arg);
/* GET /healthz (200 "ok") and GET /readyz (200 "ok" when ready says so, or
 * always when ready is NULL; otherwise 503 "not ready: REASON"). */
int sk_server_handle_health(sk_server_t *s, sk_server_ready_fn ready, void *arg);
/* GET /metrics: the registry in the Prometheus text format (borrowed; it
 * must outlive the server). */
int sk_server_handle_metrics(sk_server_t *s, sk_metrics_t *registry);

/* Opens the listening socket and starts serving. SK_EEXIST when the address
 * is in use, SK_EINVAL when it is not local (EADDRNOTAVAIL), SK_EIO for
 * other socket errors or when libwebsockets cannot start (its libuv plugin
 * missing); a disabled server ("0") returns 0 and serves nothing. */
int sk_server_start(sk_server_t *s);
/* The port listened on (the kernel's choice for port 0); 0 when not
 * listening. */
int sk_server_port(const sk_server_t *s);
/* True once started on a real address (not "0"). */
bool sk_server_listening(const sk_server_t *s);

/* Stops accepting, drops open connections, detaches deferred requests and
 * frees the server once every libuv handle it (and libwebsockets) opened has
 * closed; then cb (may be NULL) runs from the loop. Safe on NULL (cb is then
 * not called), and from inside one of the server's handlers (whose answer
 * then finds the connection gone). A second call does nothing. */
void sk_server_close(sk_server_t *s, sk_server_close_cb cb, void *arg);

/* ---- requests (borrowed; valid until answered, see above) ---- */

/* The method as one SK_SERVER_* bit and as text ("GET"). */
unsigned sk_server_req_method(const sk_server_req_t *req);
const char *sk_server_req_method_name(const sk_server_req_t *req);
/* The decoded path, without the query. */
const char *sk_server_req_path(const sk_server_req_t *req);
/* The query string after '?' ("" when none), arguments joined by '&'. */
const char *sk_server_req_query(const sk_server_req_t *req);
/* The body (NUL-terminated, "" when none). */
const char *sk_server_req_body(const sk_server_req_t *req, size_t *len);
/* Copies the value of request header name (case-insensitive) into buf.
 * Only while the handler runs: the headers are gone once it returns. 0,
 * SK_ENOENT when absent, SK_ETOOBIG when it does not fit, SK_ESTATE after
 * the handler returned. */
int sk_server_req_header(sk_server_req_t *req, const char *name, char *buf, size_t size);

/* Adds a response header (copied) before sk_server_respond. */
int sk_server_req_add_header(sk_server_req_t *req, const char *name, const char *value);
/* Answers the request; body (may be NULL with len 0) and content_type (NULL:
 * none) are copied. After this call req is no longer the caller's. Returns
 * SK_ECANCELED when the connection had gone (req freed all the same). */
int sk_server_respond(sk_server_req_t *req, int status, const char *content_type,
                      const char *body, size_t len);
/* sk_server_respond with a text/plain; charset=utf-8 body. */
int sk_server_respond_text(sk_server_req_t *req, int status, const char *text);

#endif
