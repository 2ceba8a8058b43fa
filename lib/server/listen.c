/*
 * The listening socket. skein opens, binds and accepts it itself and hands
 * every accepted connection to libwebsockets, so the address bound is
 * exactly the one asked for, bind errors come back as codes, and the
 * connection cap is applied before libwebsockets allocates anything.
 */
#define _GNU_SOURCE /* accept4: non-blocking, close-on-exec sockets in one call */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/server-int.h"
#include "util/error.h"
#include "util/log.h"

/* Connections accepted per readiness event, so one busy listener cannot
 * hold the loop. */
#define ACCEPT_BATCH 32
#define LISTEN_BACKLOG 128

static int bind_error(int err) {
  switch (err) {
  case EADDRINUSE:
    return SK_EEXIST;
  case EADDRNOTAVAIL:
  case EAFNOSUPPORT:
    return SK_EINVAL;
  default:
    return SK_EIO;
  }
}

/* Opens a non-blocking socket of family bound to addr; returns the fd or a
 * negative SK_E* code. */
static int open_bound(int family, const struct sockaddr *addr, socklen_t len) {
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return bind_error(errno);
  int one = 1, zero = 0;
  /* SO_REUSEADDR lets a restarted daemon bind while old connections sit in
   * TIME_WAIT; it does not let two listeners share the port on Linux. */
  (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  /* ":PORT" on an IPv6 socket serves IPv4 too, as Go's listener does. */
  if (family == AF_INET6)
    (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
  if (bind(fd, addr, len) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
    int rc = bind_error(errno);
    close(fd);
    return rc;
  }
  return fd;
}

static void on_acceptable(uv_poll_t *h, int status, int events) {
  sk_server_t *s = h->data;
  (void)events;
  if (status < 0) {
    sk_log_warn("server", "listening socket failed: %s", uv_strerror(status));
    return;
  }
  for (int i = 0; i < ACCEPT_BATCH; i++) {
    int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
        sk_log_warn("server", "accept on port %d: %s", s->port, strerror(errno));
      return;
    }
    if (s->state != SK__SRV_RUNNING || s->nconns >= s->max_connections) {
      close(fd);
      if (s->m_rejected)
        (void)sk_metric_inc(s->m_rejected, NULL);
      sk_log_v(1, "server", "port %d: refused a connection (%zu open, cap %u)", s->port,
               s->nconns, s->max_connections);
      continue;
    }
    /* libwebsockets owns fd from here, and closes it itself on failure. */
    if (!lws_adopt_socket_vhost(s->vh, fd))
      sk_log_warn("server", "port %d: libwebsockets refused a connection", s->port);
  }
}

int sk__listen_open(sk_server_t *s) {
  int fd;
  if (s->addr.any) {
    struct sockaddr_in6 a6;
    memset(&a6, 0, sizeof(a6));
    a6.sin6_family = AF_INET6;
    a6.sin6_addr = in6addr_any;
    a6.sin6_port = htons((uint16_t)s->addr.port);
    fd = open_bound(AF_INET6, (struct sockaddr *)&a6, sizeof(a6));
    if (fd == SK_EINVAL) { /* no IPv6 on this machine: every IPv4 interface */
      struct sockaddr_in a4;
      memset(&a4, 0, sizeof(a4));
      a4.sin_family = AF_INET;
      a4.sin_addr.s_addr = htonl(INADDR_ANY);
      a4.sin_port = htons((uint16_t)s->addr.port);
      fd = open_bound(AF_INET, (struct sockaddr *)&a4, sizeof(a4));
    }
  } else {
    fd = open_bound(s->addr.ss.ss_family, (struct sockaddr *)&s->addr.ss, s->addr.len);
  }
  if (fd < 0)
    return fd;
  struct sockaddr_storage got;
  socklen_t glen = sizeof(got);
  if (getsockname(fd, (struct sockaddr *)&got, &glen) < 0) {
    close(fd);
    return SK_EIO;
  }
  s->port = got.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&got)->sin6_port)
                                      : ntohs(((struct sockaddr_in *)&got)->sin_port);
  int rc = uv_poll_init_socket(s->loop, &s->listen_poll, fd);
  if (rc < 0) {
    close(fd);
    return SK_EIO;
  }
  s->listen_fd = fd;
  s->listen_poll.data = s;
  s->listen_poll_open = true;
  s->handles_open++;
  if (uv_poll_start(&s->listen_poll, UV_READABLE, on_acceptable) < 0)
    return SK_EIO; /* the caller closes the server, which closes the poll */
  return 0;
}

static void on_listen_closed(uv_handle_t *h) {
  sk_server_t *s = h->data;
  close(s->listen_fd);
  s->listen_fd = -1;
  s->handles_open--;
  sk__server_maybe_done(s);
}

void sk__listen_close(sk_server_t *s) {
  if (!s->listen_poll_open)
    return;
  s->listen_poll_open = false;
  uv_poll_stop(&s->listen_poll);
  uv_close((uv_handle_t *)&s->listen_poll, on_listen_closed);
}
