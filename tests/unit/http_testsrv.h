/*
 * A small scripted HTTP/1.1 server on libuv for the HTTP client tests,
 * listening on 127.0.0.1 with a port the kernel picks. It speaks TLS when
 * given an OpenSSL server context (memory BIOs, so the same loop drives it).
 *
 * For each complete request the handler is called; it answers by queueing
 * steps on the connection, each after a delay counted from the step before:
 * raw bytes, a graceful close, or a reset. A handler that queues nothing
 * leaves the request unanswered. Steps run from the connection's own timer,
 * so nothing outlives the connection.
 */
#ifndef SK_TEST_HTTP_TESTSRV_H
#define SK_TEST_HTTP_TESTSRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct ts_server ts_server_t;
typedef struct ts_conn ts_conn_t;

typedef struct {
  const char *method;
  const char *path;
  const char *head;     /* the whole header block, NUL-terminated */
  const char *body;
  size_t body_len;
  int conn_id;          /* 1 for the first connection accepted, and so on */
} ts_req_t;

typedef void (*ts_handler_t)(ts_conn_t *c, const ts_req_t *req, void *arg);

typedef struct {
  int connections;      /* accepted so far */
  int open;             /* open now */
  int max_open;         /* most open at once */
  int requests;         /* complete requests seen */
  int peer_closed;      /* connections the client ended (EOF or error) */
  int tls_failures;     /* handshakes or TLS reads that failed */
  char sni[128];        /* server name the last TLS client sent, or "" */
  char client_cn[128];  /* CN of the last client certificate, or "" */
} ts_stats_t;

/* Starts a server; tls is an SSL_CTX * (or NULL for plain HTTP). */
ts_server_t *ts_start(uv_loop_t *loop, void *tls, ts_handler_t handler, void *arg);
int ts_port(const ts_server_t *s);
const ts_stats_t *ts_stats(const ts_server_t *s);
/* Closes the listener and every connection; the server is freed once its
 * handles have closed (run the loop). */
void ts_stop(ts_server_t *s);

/* Steps, run in order on connection c. */
void ts_send(ts_conn_t *c, uint64_t delay_ms, const void *data, size_t len);
void ts_sendstr(ts_conn_t *c, uint64_t delay_ms, const char *s);
void ts_close(ts_conn_t *c, uint64_t delay_ms);
void ts_reset(ts_conn_t *c, uint64_t delay_ms);
/* A whole response with Content-Length; extra is "" or header lines, each
 * ending in CRLF. */
void ts_respond(ts_conn_t *c, int status, const char *extra, const char *body, size_t len);
/* Steps not yet run on c. */
int ts_steps_left(const ts_conn_t *c);

/* Copies the value of header name of req into out (cut to outlen - 1
 * bytes); false when there is none. */
bool ts_header(const ts_req_t *req, const char *name, char *out, size_t outlen);

/* http_testroutes.c: the routes the client tests use, with what the server
 * saw last. Pass ts_routes as the handler (its arg is unused). */
typedef struct {
  char method[16];
  char x_test[64];
  char content_type[64];
  char host[128];
  bool saw_content_type;
  bool saw_expect;
  char *body;
  size_t body_len;
  ts_conn_t *stream_conn; /* the connection of the last /stream */
  int drops;              /* requests of /drop */
} ts_seen_t;

extern ts_seen_t ts_seen;
/* The payload /stream sends, as one string. */
extern const char *const ts_stream_payload;
void ts_routes(ts_conn_t *c, const ts_req_t *req, void *arg);
/* Frees and clears ts_seen. */
void ts_seen_reset(void);

#endif
