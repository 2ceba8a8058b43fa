/*
 * The scripted HTTP/1.1 test server (see http_testsrv.h).
 */
#include "http_testsrv.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TS_MAX_INPUT (8u << 20)

enum { STEP_SEND, STEP_CLOSE, STEP_RESET };

typedef struct step {
  struct step *next;
  uint64_t delay;
  int kind;
  size_t len;
  char data[];
} step_t;

struct ts_conn {
  uv_tcp_t tcp;
  uv_timer_t timer;   /* runs the head step after its delay */
  ts_server_t *srv;
  ts_conn_t *prev, *next;
  char *in;           /* plaintext received and not yet parsed */
  size_t in_len, in_cap;
  step_t *steps, *tail;
  int nsteps;
  bool waiting;
  bool closing;
  int handles;        /* freed when tcp and timer have both closed */
  SSL *ssl;
  int id;
};

struct ts_server {
  uv_loop_t *loop;
  uv_tcp_t listener;
  SSL_CTX *tls;
  ts_handler_t handler;
  void *arg;
  ts_conn_t *conns;
  ts_stats_t stats;
  int port;
  int handles;        /* the listener plus every connection not yet freed */
  bool stopping;
};

typedef struct {
  uv_write_t req;     /* first, so the request's address is the struct's */
  char data[];
} wreq_t;

static void maybe_free_server(ts_server_t *s) {
  if (s->stopping && s->handles == 0)
    free(s);
}

static void on_conn_handle_close(uv_handle_t *h) {
  ts_conn_t *c = h->data;
  if (--c->handles > 0)
    return;
  ts_server_t *s = c->srv;
  if (c->ssl)
    SSL_free(c->ssl);
  free(c->in);
  free(c);
  s->handles--;
  maybe_free_server(s);
}

static void conn_close(ts_conn_t *c, bool reset) {
  if (c->closing)
    return;
  c->closing = true;
  ts_server_t *s = c->srv;
  s->stats.open--;
  if (c->prev)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  while (c->steps) {
    step_t *st = c->steps;
    c->steps = st->next;
    free(st);
  }
  c->tail = NULL;
  c->nsteps = 0;
  uv_close((uv_handle_t *)&c->timer, on_conn_handle_close);
  if (!reset || uv_tcp_close_reset(&c->tcp, on_conn_handle_close) != 0)
    uv_close((uv_handle_t *)&c->tcp, on_conn_handle_close);
}

static void on_written(uv_write_t *req, int status) { free(req); }

static void raw_write(ts_conn_t *c, const void *p, size_t len) {
  wreq_t *w = malloc(sizeof(*w) + len);
  if (!w)
    return;
  memcpy(w->data, p, len);
  uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
  if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0)
    free(w);
}

/* Sends whatever TLS records OpenSSL has produced. */
static void flush_tls(ts_conn_t *c) {
  char buf[16384];
  int n;
  while ((n = BIO_read(SSL_get_wbio(c->ssl), buf, (int)sizeof(buf))) > 0)
    raw_write(c, buf, (size_t)n);
}

static void conn_write(ts_conn_t *c, const void *p, size_t len) {
  if (!c->ssl) {
    raw_write(c, p, len);
    return;
  }
  if (len > 0 && SSL_write(c->ssl, p, (int)len) <= 0)
    c->srv->stats.tls_failures++;
  flush_tls(c);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  ts_conn_t *c = req->data;
  free(req);
  if (status != UV_ECANCELED)
    conn_close(c, false);
}

static void run_step(ts_conn_t *c, step_t *st) {
  switch (st->kind) {
  case STEP_SEND:
    conn_write(c, st->data, st->len);
    break;
  case STEP_CLOSE: {
    if (c->ssl) {
      SSL_shutdown(c->ssl);
      flush_tls(c);
    }
    uv_shutdown_t *req = malloc(sizeof(*req));
    if (!req || uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
      free(req);
      conn_close(c, false);
      break;
    }
    req->data = c;
    break;
  }
  case STEP_RESET:
    conn_close(c, true);
    break;
  }
}

static void on_step_timer(uv_timer_t *t);

static void pump(ts_conn_t *c) {
  while (c->steps && !c->closing) {
    step_t *st = c->steps;
    if (st->delay > 0) {
      if (!c->waiting) {
        c->waiting = true;
        uv_timer_start(&c->timer, on_step_timer, st->delay, 0);
      }
      return;
    }
    c->steps = st->next;
    if (!c->steps)
      c->tail = NULL;
    c->nsteps--;
    run_step(c, st);
    free(st);
  }
}

static void on_step_timer(uv_timer_t *t) {
  ts_conn_t *c = t->data;
  c->waiting = false;
  if (c->steps)
    c->steps->delay = 0;
  pump(c);
}

static void add_step(ts_conn_t *c, uint64_t delay, int kind, const void *data, size_t len) {
  if (c->closing)
    return;
  step_t *st = malloc(sizeof(*st) + len);
  if (!st)
    return;
  st->next = NULL;
  st->delay = delay;
  st->kind = kind;
  st->len = len;
  if (len)
    memcpy(st->data, data, len);
  if (c->tail)
    c->tail->next = st;
  else
    c->steps = st;
  c->tail = st;
  c->nsteps++;
  pump(c);
}

void ts_send(ts_conn_t *c, uint64_t delay_ms, const void *data, size_t len) {
  add_step(c, delay_ms, STEP_SEND, data, len);
}
void ts_sendstr(ts_conn_t *c, uint64_t delay_ms, const char *s) {
  ts_send(c, delay_ms, s, strlen(s));
}
void ts_close(ts_conn_t *c, uint64_t delay_ms) { add_step(c, delay_ms, STEP_CLOSE, NULL, 0); }
void ts_reset(ts_conn_t *c, uint64_t delay_ms) { add_step(c, delay_ms, STEP_RESET, NULL, 0); }
int ts_steps_left(const ts_conn_t *c) { return c->nsteps; }

void ts_respond(ts_conn_t *c, int status, const char *extra, const char *body, size_t len) {
  char head[1024];
  int n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n%s\r\n", status,
                   status == 200 ? "OK" : "Scripted", len, extra ? extra : "");
  if (n < 0 || (size_t)n >= sizeof(head))
    return;
  char *msg = malloc((size_t)n + len + 1);
  if (!msg)
    return;
  memcpy(msg, head, (size_t)n);
  if (len)
    memcpy(msg + n, body, len);
  ts_send(c, 0, msg, (size_t)n + len);
  free(msg);
}

bool ts_header(const ts_req_t *req, const char *name, char *out, size_t outlen) {
  size_t nlen = strlen(name);
  const char *line = strstr(req->head, "\r\n");
  while (line) {
    line += 2;
    const char *end = strstr(line, "\r\n");
    if (!end)
      break;
    if ((size_t)(end - line) > nlen && line[nlen] == ':' && strncasecmp(line, name, nlen) == 0) {
      const char *v = line + nlen + 1;
      while (v < end && (*v == ' ' || *v == '\t'))
        v++;
      size_t vlen = (size_t)(end - v);
      if (vlen >= outlen)
        vlen = outlen - 1;
      memcpy(out, v, vlen);
      out[vlen] = '\0';
      return true;
    }
    line = end;
  }
  return false;
}

static const char *find_crlfcrlf(const char *p, size_t len) {
  for (size_t i = 0; i + 4 <= len; i++)
    if (memcmp(p + i, "\r\n\r\n", 4) == 0)
      return p + i;
  return NULL;
}

static char *copy_str(const char *p, size_t n) {
  char *s = malloc(n + 1);
  if (s) {
    memcpy(s, p, n);
    s[n] = '\0';
  }
  return s;
}

/* Handles every complete request in c->in. */
static void parse_requests(ts_conn_t *c) {
  ts_server_t *s = c->srv;
  while (!c->closing) {
    const char *end = find_crlfcrlf(c->in, c->in_len);
    if (!end)
      return;
    size_t head_len = (size_t)(end - c->in) + 4;
    char *head = copy_str(c->in, head_len);
    if (!head)
      return;
    ts_req_t req = {.head = head, .conn_id = c->id};
    char cl[32];
    size_t body_len = ts_header(&req, "Content-Length", cl, sizeof(cl)) ? strtoul(cl, NULL, 10) : 0;
    if (c->in_len - head_len < body_len) {
      free(head);
      return;
    }
    char *sp1 = strchr(head, ' ');
    char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    char *method = copy_str(head, sp1 ? (size_t)(sp1 - head) : 0);
    char *path = sp2 ? copy_str(sp1 + 1, (size_t)(sp2 - sp1 - 1)) : copy_str("", 0);
    char *body = copy_str(c->in + head_len, body_len);
    if (method && path && body) {
      req.method = method;
      req.path = path;
      req.body = body;
      req.body_len = body_len;
      s->stats.requests++;
      s->handler(c, &req, s->arg);
    }
    free(head);
    free(method);
    free(path);
    free(body);
    if (c->closing)
      return;
    size_t used = head_len + body_len;
    memmove(c->in, c->in + used, c->in_len - used);
    c->in_len -= used;
  }
}

static void feed(ts_conn_t *c, const char *p, size_t n) {
  if (c->in_len + n > TS_MAX_INPUT) {
    conn_close(c, false);
    return;
  }
  if (c->in_len + n > c->in_cap) {
    size_t cap = c->in_cap ? c->in_cap : 4096;
    while (cap < c->in_len + n)
      cap *= 2;
    char *q = realloc(c->in, cap);
    if (!q) {
      conn_close(c, false);
      return;
    }
    c->in = q;
    c->in_cap = cap;
  }
  memcpy(c->in + c->in_len, p, n);
  c->in_len += n;
  parse_requests(c);
}

static void record_tls(ts_conn_t *c) {
  ts_stats_t *st = &c->srv->stats;
  const char *sni = SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name);
  snprintf(st->sni, sizeof(st->sni), "%s", sni ? sni : "");
  st->client_cn[0] = '\0';
  X509 *peer = SSL_get0_peer_certificate(c->ssl);
  if (peer)
    X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, st->client_cn,
                              (int)sizeof(st->client_cn));
}

static void tls_in(ts_conn_t *c, const char *p, size_t n) {
  char buf[16384];
  BIO_write(SSL_get_rbio(c->ssl), p, (int)n);
  for (;;) {
    int r = SSL_read(c->ssl, buf, (int)sizeof(buf));
    if (r > 0) {
      record_tls(c);
      feed(c, buf, (size_t)r);
      if (c->closing)
        return;
      continue;
    }
    int e = SSL_get_error(c->ssl, r);
    flush_tls(c);
    if (e == SSL_ERROR_WANT_READ)
      return;
    if (e != SSL_ERROR_ZERO_RETURN)
      c->srv->stats.tls_failures++;
    ERR_clear_error();
    conn_close(c, false);
    return;
  }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  buf->base = malloc(65536);
  buf->len = buf->base ? 65536 : 0;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  ts_conn_t *c = stream->data;
  if (nread < 0) {
    if (!c->closing) {
      c->srv->stats.peer_closed++;
      conn_close(c, false);
    }
  } else if (nread > 0 && !c->closing) {
    if (c->ssl)
      tls_in(c, buf->base, (size_t)nread);
    else
      feed(c, buf->base, (size_t)nread);
  }
  free(buf->base);
}

static void on_connection(uv_stream_t *l, int status) {
  ts_server_t *s = l->data;
  if (status < 0 || s->stopping)
    return;
  ts_conn_t *c = calloc(1, sizeof(*c));
  if (!c)
    return;
  c->srv = s;
  uv_tcp_init(s->loop, &c->tcp);
  uv_timer_init(s->loop, &c->timer);
  c->tcp.data = c;
  c->timer.data = c;
  c->handles = 2;
  c->next = s->conns;
  if (s->conns)
    s->conns->prev = c;
  s->conns = c;
  s->handles++;
  c->id = ++s->stats.connections;
  if (++s->stats.open > s->stats.max_open)
    s->stats.max_open = s->stats.open;
  if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0) {
    conn_close(c, false);
    return;
  }
  if (s->tls) {
    c->ssl = SSL_new(s->tls);
    BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
    if (!c->ssl || !rb || !wb) {
      BIO_free(rb);
      BIO_free(wb);
      conn_close(c, false);
      return;
    }
    SSL_set_bio(c->ssl, rb, wb);
    SSL_set_accept_state(c->ssl);
  }
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void on_listener_close(uv_handle_t *h) {
  ts_server_t *s = h->data;
  s->handles--;
  maybe_free_server(s);
}

ts_server_t *ts_start(uv_loop_t *loop, void *tls, ts_handler_t handler, void *arg) {
  ts_server_t *s = calloc(1, sizeof(*s));
  if (!s)
    return NULL;
  s->loop = loop;
  s->tls = tls;
  s->handler = handler;
  s->arg = arg;
  s->handles = 1;
  uv_tcp_init(loop, &s->listener);
  s->listener.data = s;
  struct sockaddr_in addr;
  struct sockaddr_storage got;
  int glen = (int)sizeof(got);
  uv_ip4_addr("127.0.0.1", 0, &addr);
  if (uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0) != 0 ||
      uv_listen((uv_stream_t *)&s->listener, 128, on_connection) != 0 ||
      uv_tcp_getsockname(&s->listener, (struct sockaddr *)&got, &glen) != 0) {
    ts_stop(s);
    return NULL;
  }
  s->port = ntohs(((struct sockaddr_in *)&got)->sin_port);
  return s;
}

int ts_port(const ts_server_t *s) { return s->port; }
const ts_stats_t *ts_stats(const ts_server_t *s) { return &s->stats; }

void ts_stop(ts_server_t *s) {
  if (!s || s->stopping)
    return;
  s->stopping = true;
  while (s->conns)
    conn_close(s->conns, false);
  uv_close((uv_handle_t *)&s->listener, on_listener_close);
}
