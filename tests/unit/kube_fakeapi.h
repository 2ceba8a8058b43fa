/*
 * A scripted fake kube-apiserver for the kube client and informer tests:
 * a libuv TCP server on 127.0.0.1 (port 0, so the kernel picks a free one)
 * that parses HTTP/1.1 requests, logs them, and lets the test's handler
 * answer each one — whole, or as a chunked stream the test feeds event by
 * event (watches). Every connection is closed after its response, and all
 * are kept until fake_stop so that a test may hold a pointer to one.
 *
 * Included by one test file each (everything is static).
 */
#ifndef SK_TEST_KUBE_FAKEAPI_H
#define SK_TEST_KUBE_FAKEAPI_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "util/timeutil.h"

/* Each test file uses only some helpers. */
#define KT_UNUSED __attribute__((unused))

#define FAKE_MAX_REQS 128

typedef struct fake fake_t;
typedef struct fake_conn fake_conn_t;

typedef struct {
  char method[16];
  char path[3072];
  char query[3072];
  char auth[512];
  char ua[128];
  char ctype[128];
  char *body;
  size_t body_len;
  int64_t at_ms; /* monotonic arrival time */
} fake_req_t;

typedef void (*fake_handler_fn)(fake_t *f, fake_conn_t *conn, const fake_req_t *req, void *arg);

struct fake_conn {
  uv_tcp_t tcp;
  fake_t *f;
  char *in;
  size_t inlen, incap;
  bool handled;   /* a request was read and passed to the handler */
  bool closing;   /* uv_close was called */
  bool closed;    /* the close callback ran */
  bool peer_gone; /* the client closed its side */
  fake_conn_t *next;
};

struct fake {
  uv_loop_t *loop;
  uv_tcp_t server;
  bool server_closed;
  int port;
  char url[64];
  fake_handler_fn handler;
  void *arg;
  fake_req_t reqs[FAKE_MAX_REQS];
  int nreq;
  fake_conn_t *conns;
};

/* ---- writing ---- */

typedef struct {
  uv_write_t w;
  fake_conn_t *conn;
  bool close_after;
  char data[];
} fake_wr_t;

static KT_UNUSED void fake_on_closed(uv_handle_t *h) {
  fake_conn_t *c = h->data;
  c->closed = true;
}

static KT_UNUSED void fake_close(fake_conn_t *c) {
  if (c->closing)
    return;
  c->closing = true;
  uv_close((uv_handle_t *)&c->tcp, fake_on_closed);
}

static KT_UNUSED void fake_on_written(uv_write_t *w, int status) {
  fake_wr_t *wr = (fake_wr_t *)w;
  if (wr->close_after || status < 0)
    fake_close(wr->conn);
  free(wr);
}

static KT_UNUSED void fake_write(fake_conn_t *c, const char *data, size_t len, bool close_after) {
  if (c->closing)
    return;
  fake_wr_t *wr = malloc(sizeof(*wr) + len);
  if (!wr)
    abort();
  wr->conn = c;
  wr->close_after = close_after;
  memcpy(wr->data, data, len);
  uv_buf_t b = uv_buf_init(wr->data, (unsigned)len);
  if (uv_write(&wr->w, (uv_stream_t *)&c->tcp, &b, 1, fake_on_written) != 0) {
    free(wr);
    fake_close(c);
  }
}

static const char *fake_reason(int status) {
  switch (status) {
  case 200: return "OK";
  case 201: return "Created";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 404: return "Not Found";
  case 409: return "Conflict";
  case 410: return "Gone";
  case 422: return "Unprocessable Entity";
  case 429: return "Too Many Requests";
  case 500: return "Internal Server Error";
  default: return "Status";
  }
}

/* A whole response; extra is "" or header lines each ending in \r\n. */
static KT_UNUSED void fake_reply(fake_conn_t *c, int status, const char *extra, const char *body) {
  char head[1024];
  size_t blen = body ? strlen(body) : 0;
  int n = snprintf(head, sizeof(head),
                   "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                   "Connection: close\r\n%s\r\n",
                   status, fake_reason(status), blen, extra ? extra : "");
  fake_write(c, head, (size_t)n, blen == 0);
  if (blen)
    fake_write(c, body, blen, true);
}

/* A metav1.Status error answer. */
static KT_UNUSED void fake_reply_status(fake_conn_t *c, int status, const char *reason, const char *msg,
                              const char *extra) {
  char body[1024];
  snprintf(body, sizeof(body),
           "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
           "\"message\":\"%s\",\"reason\":\"%s\",\"code\":%d}",
           msg, reason, status);
  fake_reply(c, status, extra, body);
}

static KT_UNUSED void fake_stream_begin(fake_conn_t *c, int status) {
  char head[256];
  int n = snprintf(head, sizeof(head),
                   "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                   "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
                   status, fake_reason(status));
  fake_write(c, head, (size_t)n, false);
}

/* Sends len bytes as one chunk. */
static KT_UNUSED void fake_stream_send(fake_conn_t *c, const char *data, size_t len) {
  char head[32];
  int n = snprintf(head, sizeof(head), "%zx\r\n", len);
  fake_write(c, head, (size_t)n, false);
  fake_write(c, data, len, false);
  fake_write(c, "\r\n", 2, false);
}

static KT_UNUSED void fake_stream_printf(fake_conn_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static KT_UNUSED void fake_stream_printf(fake_conn_t *c, const char *fmt, ...) {
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  fake_stream_send(c, buf, (size_t)n);
}

static KT_UNUSED void fake_stream_end(fake_conn_t *c) { fake_write(c, "0\r\n\r\n", 5, true); }

/* ---- reading ---- */

/* Copies header name's value (case-insensitive name) from the head. */
static KT_UNUSED void fake_header(const char *head, const char *name, char *out, size_t outlen) {
  out[0] = '\0';
  size_t nl = strlen(name);
  for (const char *p = strstr(head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
    const char *line = p + 2;
    if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
      const char *v = line + nl + 1;
      while (*v == ' ')
        v++;
      size_t vl = strcspn(v, "\r\n");
      if (vl >= outlen)
        vl = outlen - 1;
      memcpy(out, v, vl);
      out[vl] = '\0';
      return;
    }
  }
}

static KT_UNUSED void fake_try_request(fake_conn_t *c) {
  if (c->handled)
    return;
  char *end = NULL;
  for (size_t i = 0; i + 3 < c->inlen; i++)
    if (memcmp(c->in + i, "\r\n\r\n", 4) == 0) {
      end = c->in + i;
      break;
    }
  if (!end)
    return;
  size_t headlen = (size_t)(end - c->in);
  char *head = malloc(headlen + 1);
  memcpy(head, c->in, headlen);
  head[headlen] = '\0';
  char cl[32], expect[64];
  fake_header(head, "Content-Length", cl, sizeof(cl));
  fake_header(head, "Expect", expect, sizeof(expect));
  size_t blen = cl[0] ? (size_t)strtoul(cl, NULL, 10) : 0;
  if (c->inlen < headlen + 4 + blen) {
    if (expect[0] && strstr(c->in, "100-continue") && c->inlen == headlen + 4)
      fake_write(c, "HTTP/1.1 100 Continue\r\n\r\n", 25, false);
    free(head);
    return;
  }
  fake_t *f = c->f;
  c->handled = true;
  if (f->nreq >= FAKE_MAX_REQS) {
    free(head);
    fake_reply(c, 500, "", "{}");
    return;
  }
  fake_req_t *r = &f->reqs[f->nreq++];
  memset(r, 0, sizeof(*r));
  r->at_ms = sk_time_mono_ms();
  char target[3072] = "";
  sscanf(head, "%15s %3071s", r->method, target);
  char *q = strchr(target, '?');
  if (q) {
    snprintf(r->query, sizeof(r->query), "%s", q + 1);
    *q = '\0';
  }
  snprintf(r->path, sizeof(r->path), "%s", target);
  fake_header(head, "Authorization", r->auth, sizeof(r->auth));
  fake_header(head, "User-Agent", r->ua, sizeof(r->ua));
  fake_header(head, "Content-Type", r->ctype, sizeof(r->ctype));
  free(head);
  r->body = malloc(blen + 1);
  memcpy(r->body, c->in + headlen + 4, blen);
  r->body[blen] = '\0';
  r->body_len = blen;
  f->handler(f, c, r, f->arg);
}

static KT_UNUSED void fake_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b) {
  (void)h;
  b->base = malloc(sz);
  b->len = sz;
}

static KT_UNUSED void fake_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  fake_conn_t *c = s->data;
  if (n > 0) {
    if (c->inlen + (size_t)n + 1 > c->incap) {
      c->incap = (c->inlen + (size_t)n + 1) * 2;
      c->in = realloc(c->in, c->incap);
    }
    memcpy(c->in + c->inlen, b->base, (size_t)n);
    c->inlen += (size_t)n;
    c->in[c->inlen] = '\0';
    fake_try_request(c);
  } else if (n < 0) {
    c->peer_gone = true;
    fake_close(c);
  }
  free(b->base);
}

static KT_UNUSED void fake_on_conn(uv_stream_t *srv, int status) {
  fake_t *f = srv->data;
  if (status < 0)
    return;
  fake_conn_t *c = calloc(1, sizeof(*c));
  c->f = f;
  uv_tcp_init(f->loop, &c->tcp);
  c->tcp.data = c;
  c->next = f->conns;
  f->conns = c;
  if (uv_accept(srv, (uv_stream_t *)&c->tcp) != 0) {
    fake_close(c);
    return;
  }
  uv_read_start((uv_stream_t *)&c->tcp, fake_alloc, fake_on_read);
}

static KT_UNUSED int fake_start(fake_t *f, uv_loop_t *loop, fake_handler_fn handler, void *arg) {
  memset(f, 0, sizeof(*f));
  f->loop = loop;
  f->handler = handler;
  f->arg = arg;
  struct sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", 0, &addr);
  uv_tcp_init(loop, &f->server);
  f->server.data = f;
  if (uv_tcp_bind(&f->server, (const struct sockaddr *)&addr, 0) != 0 ||
      uv_listen((uv_stream_t *)&f->server, 64, fake_on_conn) != 0)
    return -1;
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  uv_tcp_getsockname(&f->server, (struct sockaddr *)&ss, &len);
  f->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", f->port);
  return 0;
}

static KT_UNUSED void fake_on_server_closed(uv_handle_t *h) {
  fake_t *f = h->data;
  f->server_closed = true;
}

/* Closes the listener and every connection, runs the loop until they are
 * closed, and frees everything. */
static KT_UNUSED void fake_stop(fake_t *f) {
  uv_close((uv_handle_t *)&f->server, fake_on_server_closed);
  for (fake_conn_t *c = f->conns; c; c = c->next)
    fake_close(c);
  for (int i = 0; i < 1000; i++) {
    bool all = f->server_closed;
    for (fake_conn_t *c = f->conns; c && all; c = c->next)
      all = c->closed;
    if (all)
      break;
    uv_run(f->loop, UV_RUN_ONCE);
  }
  while (f->conns) {
    fake_conn_t *c = f->conns;
    f->conns = c->next;
    free(c->in);
    free(c);
  }
  for (int i = 0; i < f->nreq; i++)
    free(f->reqs[i].body);
  f->nreq = 0;
}

/* The value of key in a query string, percent-decoded, into out; false
 * when absent. */
static KT_UNUSED bool fake_query(const char *query, const char *key, char *out, size_t outlen) {
  size_t kl = strlen(key);
  const char *p = query;
  while (p && *p) {
    if (strncmp(p, key, kl) == 0 && p[kl] == '=') {
      const char *v = p + kl + 1;
      size_t o = 0;
      while (*v && *v != '&' && o + 1 < outlen) {
        if (*v == '%' && v[1] && v[2]) {
          char hex[3] = {v[1], v[2], 0};
          out[o++] = (char)strtol(hex, NULL, 16);
          v += 3;
        } else {
          out[o++] = *v++;
        }
      }
      out[o] = '\0';
      return true;
    }
    p = strchr(p, '&');
    if (p)
      p++;
  }
  out[0] = '\0';
  return false;
}

/* ---- waiting on conditions with a deadline ---- */

/* The deadline timer of the run_until in progress: not counted as a
 * handle left behind by the code under test. */
static uv_timer_t *fake_deadline;

static KT_UNUSED void fake_on_deadline(uv_timer_t *t) { *(bool *)t->data = true; }

/* Runs the loop until cond(arg) holds or ms pass; returns cond(arg). */
static KT_UNUSED bool run_until(uv_loop_t *loop, bool (*cond)(void *), void *arg, int ms) {
  uv_timer_t t;
  bool fired = false;
  uv_timer_init(loop, &t);
  t.data = &fired;
  uv_timer_start(&t, fake_on_deadline, (uint64_t)ms, 0);
  fake_deadline = &t;
  while (!cond(arg) && !fired)
    uv_run(loop, UV_RUN_ONCE);
  fake_deadline = NULL;
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
  return cond(arg);
}

/* Runs the loop until nothing but the fake server's handles is left (or
 * ms pass); used to check that a client or informer closed everything. */
static int fake_count_handles_cb_n;
static KT_UNUSED void fake_count_handle(uv_handle_t *h, void *arg) {
  fake_t *f = arg;
  if (uv_is_closing(h))
    return;
  if (h == (uv_handle_t *)&f->server || h == (uv_handle_t *)fake_deadline)
    return;
  for (fake_conn_t *c = f->conns; c; c = c->next)
    if (h == (uv_handle_t *)&c->tcp)
      return;
  fake_count_handles_cb_n++;
}
static KT_UNUSED int fake_foreign_handles(fake_t *f) {
  fake_count_handles_cb_n = 0;
  uv_walk(f->loop, fake_count_handle, f);
  return fake_count_handles_cb_n;
}

#endif
