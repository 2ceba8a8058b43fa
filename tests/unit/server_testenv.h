/*
 * The server tests' environment: a loop with one server on it (started on
 * an ephemeral port, closed with a check that the loop is left clean), and
 * a small blocking HTTP/1.1 client. The client runs in libuv's
 * thread pool (uv_queue_work) so the server keeps running on the loop
 * thread while the client waits; client_run spins the loop until the client
 * is done or a deadline passes. Requests are raw bytes, so tests can send
 * what a well-behaved client never would (huge headers, bad lengths,
 * pipelined requests). Every socket has a receive timeout, so no test can
 * hang.
 */
#ifndef SK_TEST_SERVER_TESTENV_H
#define SK_TEST_SERVER_TESTENV_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <uv.h>

#include "server/server.h"
#include "sk_test.h"
#include "util/error.h"

#define CLIENT_MAX_REQS 4
#define CLIENT_RECV_TIMEOUT_S 8

typedef struct {
  int status;          /* 0: no response */
  char head[8192];     /* status line and headers */
  char *body;          /* malloc'd, NUL-terminated */
  size_t body_len;
} client_resp_t;

typedef struct {
  uv_work_t work;
  int port;
  bool ipv6;                         /* connect to ::1 instead of 127.0.0.1 */
  const char *reqs[CLIENT_MAX_REQS]; /* sent one by one, each followed by reading its answer */
  size_t nreqs;
  bool send_all_first;               /* pipelining: send every request, then read */
  bool wait_eof;                     /* after the answers, read until the server closes */
  int fd;                            /* >= 0: use this connected socket */
  /* results */
  client_resp_t resp[CLIENT_MAX_REQS];
  size_t nresp;
  bool eof;                          /* the server closed the connection */
  bool timed_out;                    /* a read hit the receive timeout */
  int err;                           /* errno of a failed connect/send */
  bool done;
  char buf[1 << 18];
  size_t have;
} client_t;

static int client_connect(int port, bool ipv6) {
  int fd = socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  struct timeval tv = {CLIENT_RECV_TIMEOUT_S, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  int rc;
  if (ipv6) {
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof(a));
    a.sin6_family = AF_INET6;
    a.sin6_port = htons((uint16_t)port);
    a.sin6_addr = in6addr_loopback;
    rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
  } else {
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
  }
  if (rc < 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

/* Reads more bytes into c->buf; false at EOF, error or timeout. */
static bool client_fill(client_t *c, int fd) {
  if (c->have >= sizeof(c->buf) - 1)
    return false;
  ssize_t n = recv(fd, c->buf + c->have, sizeof(c->buf) - 1 - c->have, 0);
  if (n > 0) {
    c->have += (size_t)n;
    c->buf[c->have] = '\0';
    return true;
  }
  if (n == 0)
    c->eof = true;
  else if (errno == EAGAIN || errno == EWOULDBLOCK)
    c->timed_out = true;
  else
    c->eof = true; /* a reset counts as the server closing */
  return false;
}

static const char *client_header_in(const char *head, const char *name) {
  size_t nlen = strlen(name);
  for (const char *p = strstr(head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n"))
    if (strncasecmp(p + 2, name, nlen) == 0 && p[2 + nlen] == ':') {
      const char *v = p + 3 + nlen;
      while (*v == ' ')
        v++;
      return v;
    }
  return NULL;
}

/* Reads one response (to a HEAD request when head_only). */
static bool client_read_resp(client_t *c, int fd, bool head_only, client_resp_t *r) {
  char *end;
  while (!(end = strstr(c->buf, "\r\n\r\n")))
    if (!client_fill(c, fd))
      return false;
  size_t hlen = (size_t)(end - c->buf) + 4;
  if (hlen >= sizeof(r->head))
    return false;
  memcpy(r->head, c->buf, hlen);
  r->head[hlen] = '\0';
  if (sscanf(r->head, "HTTP/1.%*d %d", &r->status) != 1)
    return false;
  const char *cl = client_header_in(r->head, "content-length");
  size_t blen = cl && !head_only ? strtoul(cl, NULL, 10) : 0;
  while (c->have < hlen + blen)
    if (!client_fill(c, fd))
      return false;
  r->body = malloc(blen + 1);
  memcpy(r->body, c->buf + hlen, blen);
  r->body[blen] = '\0';
  r->body_len = blen;
  memmove(c->buf, c->buf + hlen + blen, c->have - hlen - blen);
  c->have -= hlen + blen;
  c->buf[c->have] = '\0';
  return true;
}

static bool client_send(int fd, const char *s) {
  size_t len = strlen(s), off = 0;
  while (off < len) {
    ssize_t n = send(fd, s + off, len - off, MSG_NOSIGNAL);
    if (n <= 0)
      return false;
    off += (size_t)n;
  }
  return true;
}

static void client_work(uv_work_t *w) {
  client_t *c = (client_t *)w;
  int fd = c->fd >= 0 ? c->fd : client_connect(c->port, c->ipv6);
  if (fd < 0) {
    c->err = errno;
    return;
  }
  if (c->send_all_first)
    for (size_t i = 0; i < c->nreqs; i++)
      if (!client_send(fd, c->reqs[i])) {
        c->err = errno;
        goto out;
      }
  for (size_t i = 0; i < c->nreqs; i++) {
    if (!c->send_all_first && !client_send(fd, c->reqs[i])) {
      c->err = errno;
      goto out;
    }
    if (!client_read_resp(c, fd, strncmp(c->reqs[i], "HEAD ", 5) == 0, &c->resp[i]))
      goto out;
    c->nresp++;
  }
  if (c->wait_eof)
    while (client_fill(c, fd))
      ;
out:
  close(fd);
  c->fd = -1;
}

static void client_after(uv_work_t *w, int status) {
  (void)status;
  ((client_t *)w)->done = true;
}

static void client_release(client_t *c) {
  for (size_t i = 0; i < CLIENT_MAX_REQS; i++)
    free(c->resp[i].body);
  free(c);
}

static void deadline_cb(uv_timer_t *t) { *(bool *)t->data = true; }

/* Spins the loop until *flag is true or ms pass; returns *flag. */
static bool run_until(uv_loop_t *loop, const bool *flag, unsigned ms) {
  bool expired = false;
  uv_timer_t t;
  uv_timer_init(loop, &t);
  t.data = &expired;
  uv_timer_start(&t, deadline_cb, ms, 0);
  while (!*flag && !expired)
    uv_run(loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
  return *flag;
}

/* Starts a client (the caller fills port and reqs first) and waits for it. */
static bool client_run(uv_loop_t *loop, client_t *c) {
  uv_queue_work(loop, &c->work, client_work, client_after);
  return run_until(loop, &c->done, (CLIENT_RECV_TIMEOUT_S + 4) * 1000);
}

static client_t *client_new(int port, const char *req) {
  client_t *c = calloc(1, sizeof(*c));
  c->port = port;
  c->fd = -1;
  if (req)
    c->reqs[c->nreqs++] = req;
  return c;
}

/* ---- a server on a loop ---- */

typedef struct {
  uv_loop_t loop;
  sk_server_t *srv;
  sk_metrics_t *metrics;
  bool closed;
  int port;
} env_t;

static void on_closed(void *arg) { *(bool *)arg = true; }

/* Closes the server, waits for its close callback, and checks the loop is
 * left with nothing open. */
static void env_finish(env_t *e) {
  e->closed = false;
  sk_server_close(e->srv, on_closed, &e->closed);
  if (!run_until(&e->loop, &e->closed, 5000))
    FAILF("the server did not finish closing");
  uv_run(&e->loop, UV_RUN_NOWAIT);
  int rc = uv_loop_close(&e->loop);
  if (rc != 0) {
    FAILF("uv_loop_close: %s", uv_strerror(rc));
    uv_print_all_handles(&e->loop, stdout);
  }
  sk_metrics_destroy(e->metrics);
}

static bool env_start(env_t *e, sk_server_opts_t *o) {
  memset(e, 0, sizeof(*e));
  uv_loop_init(&e->loop);
  if (!o->bind)
    o->bind = "127.0.0.1:0";
  int rc = sk_server_create(&e->loop, o, &e->srv);
  if (rc < 0) {
    FAILF("create: %s", sk_strerror(rc));
    uv_loop_close(&e->loop);
    return false;
  }
  return true;
}

static bool env_listen(env_t *e) {
  int rc = sk_server_start(e->srv);
  if (rc < 0) {
    FAILF("start: %s", sk_strerror(rc));
    return false;
  }
  e->port = sk_server_port(e->srv);
  if (e->port <= 0) {
    FAILF("no port");
    return false;
  }
  return true;
}

/* One request on a fresh connection; the caller frees the client. */
static client_t *get(env_t *e, const char *raw) {
  client_t *c = client_new(e->port, raw);
  if (!client_run(&e->loop, c))
    FAILF("client did not finish: %s", raw);
  return c;
}

static const char *header(const client_resp_t *r, const char *name, char *buf, size_t size) {
  const char *v = client_header_in(r->head, name);
  if (!v)
    return NULL;
  size_t n = strcspn(v, "\r\n");
  if (n >= size)
    n = size - 1;
  memcpy(buf, v, n);
  buf[n] = '\0';
  return buf;
}

#endif
