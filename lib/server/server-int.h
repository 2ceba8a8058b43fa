/*
 * Private parts of the HTTP server, shared by:
 *   addr.c     bind address parsing (pure)
 *   router.c   the route table and its lookup (pure)
 *   listen.c   the listening socket and accept loop (our own, on uv_poll)
 *   conn.c     the libwebsockets protocol callback: one request's life
 *   server.c   create/start/close, the libwebsockets context and teardown
 *   builtin.c  /healthz, /readyz, /metrics and the request counters
 */
#ifndef SK_SERVER_SERVER_INT_H
#define SK_SERVER_SERVER_INT_H

#include <libwebsockets.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "server/server.h"

/* ---- bind addresses ---- */

typedef struct {
  bool disabled;                 /* "0" */
  bool any;                      /* ":PORT": every interface */
  struct sockaddr_storage ss;    /* the address (port included); unset when any */
  socklen_t len;
  int port;
} sk__addr_t;

/* Parses a controller-runtime style bind address; SK_EINVAL when bad. */
int sk__addr_parse(const char *s, sk__addr_t *out);

/* ---- routes ---- */

typedef struct {
  char *path;                    /* as given; a prefix route ends in a slash and a star */
  size_t prefix_len;             /* > 0 for prefix routes: bytes before '*' */
  unsigned methods;
  size_t max_body;
  sk_server_handler_fn fn;
  void *arg;
} sk__route_t;

typedef struct {
  sk__route_t routes[SK_SERVER_MAX_ROUTES];
  size_t n;
} sk__router_t;

typedef enum { SK__ROUTE_FOUND, SK__ROUTE_NOT_FOUND, SK__ROUTE_BAD_METHOD } sk__route_result_t;

void sk__router_release(sk__router_t *r);
int sk__router_add(sk__router_t *r, const char *path, unsigned methods, size_t max_body,
                   sk_server_handler_fn fn, void *arg);
/* Finds the route for method (one SK_SERVER_* bit) and path. On
 * SK__ROUTE_BAD_METHOD *allow is the mask the path accepts. */
sk__route_result_t sk__router_lookup(const sk__router_t *r, unsigned method, const char *path,
                                     const sk__route_t **out, unsigned *allow);
/* "GET, HEAD, POST" for a mask (GET implies HEAD). */
void sk__methods_format(unsigned methods, char *buf, size_t size);
const char *sk__method_name(unsigned method);

/* ---- requests ---- */

struct sk__conn;

struct sk_server_req {
  sk_server_t *srv;              /* NULL once detached */
  struct lws *wsi;               /* NULL once detached */
  struct sk__conn *conn;
  struct sk_server_req *prev, *next; /* the server's list of live requests */
  const sk__route_t *route;      /* NULL for 404/405 answers */
  unsigned method;
  char *path;
  char *query;
  sk_buf_t body;
  size_t body_expected;          /* Content-Length, when given */
  uint64_t started_ns;
  bool dispatched;               /* the handler has been called */
  bool in_handler;               /* the handler is running: headers readable */
  bool deferred;                 /* handler returned without answering */
  bool responded;
  bool headers_sent;
  bool close_after;              /* the body was not read: close, do not keep alive */
  int status;
  char *content_type;
  char *resp;
  size_t resp_len, resp_off;
  char *hdr_name[SK_SERVER_MAX_RESP_HEADERS];
  char *hdr_value[SK_SERVER_MAX_RESP_HEADERS];
  size_t nhdr;
};

/* libwebsockets' per-connection user data (zeroed by it). */
typedef struct sk__conn {
  sk_server_req_t *req;          /* the request in progress, if any */
  bool counted;                  /* included in srv->nconns */
} sk__conn_t;

/* The protocol callback libwebsockets calls for every connection. */
int sk__conn_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                      size_t len);
/* Frees a request that nobody holds any more. */
void sk__req_free(sk_server_req_t *req);
/* Cuts a request loose from its connection and server: its handler holds it,
 * and the handler's sk_server_respond will free it. */
void sk__req_detach(sk_server_req_t *req);

/* ---- the server ---- */

typedef enum {
  SK__SRV_NEW,                   /* created; routes may be added */
  SK__SRV_RUNNING,
  SK__SRV_CLOSING,               /* waiting for libwebsockets' handles to close */
  SK__SRV_CLOSED                 /* waiting for our own handles to close */
} sk__srv_state_t;

/* Bytes of response body written per writable callback. */
#define SK__WRITE_CHUNK 16384

struct sk_server {
  uv_loop_t *loop;
  sk__srv_state_t state;
  sk__addr_t addr;
  size_t max_header_bytes;
  size_t max_body_bytes;
  unsigned timeout_s;
  unsigned handler_timeout_s;
  unsigned max_connections;
  sk__router_t router;
  struct lws_context *ctx;
  struct lws_vhost *vh;
  struct lws_protocols protocols[2];
  int listen_fd;
  uv_poll_t listen_poll;
  bool listen_poll_open;
  uv_timer_t reaper;             /* drives teardown (see server.c) */
  bool reaper_open;
  int lws_destroy_phase;         /* 0: not begun; 1: first call made; 2: done */
  int port;
  size_t nconns;
  sk_server_req_t *reqs;         /* live requests */
  int handles_open;              /* our uv handles not yet closed */
  sk_server_close_cb close_cb;
  void *close_arg;
  sk_server_ready_fn ready_fn;    /* /readyz */
  void *ready_arg;
  sk_metrics_t *registry;        /* /metrics */
  sk_metrics_t *instrument;
  sk_metric_t *m_requests;       /* skein_http_requests_total{handler,method,code} */
  sk_metric_t *m_duration;       /* skein_http_request_duration_seconds{handler} */
  sk_metric_t *m_rejected;       /* skein_http_connections_rejected_total */
  unsigned char wbuf[LWS_PRE + SK__WRITE_CHUNK];
};

/* Frees the server once it has closed and its last handle is gone, then
 * calls the close callback. */
void sk__server_maybe_done(sk_server_t *s);

/* The listening socket: opened by start, closed by close. */
int sk__listen_open(sk_server_t *s);
void sk__listen_close(sk_server_t *s);

/* Registers the request metrics in s->instrument (shared by every server
 * using that registry). */
int sk__instrument_init(sk_server_t *s);
/* Counts one answered request. */
void sk__instrument_request(sk_server_t *s, const sk_server_req_t *req);

#endif
