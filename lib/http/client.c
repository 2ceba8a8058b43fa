/*
 * The client: one curl multi handle driven by the libuv loop.
 *
 * curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION), and we keep
 * one uv_poll per socket; it tells us its next timeout
 * (CURLMOPT_TIMERFUNCTION), and we keep one uv_timer. Readiness and timeouts
 * go back to curl through curl_multi_socket_action, after which finished
 * transfers are collected with curl_multi_info_read. Their on_done calls, like
 * every other change to the set of transfers, happen from the idle handle
 * that drains the work queue (see http-int.h for why).
 */
#include <stdlib.h>
#include <string.h>

#include "http/http-int.h"
#include "util/error.h"

static void on_sock_close(uv_handle_t *hd) { free(hd->data); }

static void sock_close(sk_http_t *h, sk__http_sock_t *s) {
  if (s->prev)
    s->prev->next = s->next;
  else
    h->socks = s->next;
  if (s->next)
    s->next->prev = s->prev;
  s->prev = s->next = NULL;
  /* uv_close stops the poll at once, so curl may close the fd right after
   * and even reuse the number for a new socket. */
  s->poll.data = s;
  uv_close((uv_handle_t *)&s->poll, on_sock_close);
}

/* Collects finished transfers: each leaves the multi now (so its connection
 * goes back to the cache for reuse) and gets its on_done from the queue. */
static void collect_done(sk_http_t *h) {
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(h->multi, &left))) {
    if (m->msg != CURLMSG_DONE)
      continue;
    /* m is invalid once its handle is removed, so read it first. */
    CURL *easy = m->easy_handle;
    CURLcode cc = m->data.result;
    char *priv = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
    sk_http_req_t *r = (sk_http_req_t *)priv;
    curl_multi_remove_handle(h->multi, easy);
    if (!r)
      continue;
    sk__http_req_finish(r, cc, 0, NULL);
    sk__http_queue(h, r);
  }
}

static void on_poll(uv_poll_t *p, int status, int events) {
  sk__http_sock_t *s = p->data;
  sk_http_t *h = s->h;
  if (h->destroying)
    return;
  int flags = 0;
  if (status < 0)
    flags = CURL_CSELECT_ERR;
  else {
    if (events & UV_READABLE)
      flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
      flags |= CURL_CSELECT_OUT;
  }
  int running;
  /* s may be closed by the socket callback during this call; only h is used
   * afterwards. */
  curl_multi_socket_action(h->multi, s->fd, flags, &running);
  collect_done(h);
}

static void on_timer(uv_timer_t *t) {
  sk_http_t *h = t->data;
  if (h->destroying)
    return;
  int running;
  curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  collect_done(h);
}

static int curl_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *sockp) {
  sk_http_t *h = userp;
  sk__http_sock_t *s = sockp;
  if (what == CURL_POLL_REMOVE) {
    if (s)
      sock_close(h, s);
    return 0;
  }
  if (!s) {
    s = calloc(1, sizeof(*s));
    if (!s)
      return -1;
    if (uv_poll_init_socket(h->loop, &s->poll, fd) != 0) {
      free(s);
      return -1;
    }
    s->poll.data = s;
    s->h = h;
    s->fd = fd;
    s->next = h->socks;
    if (h->socks)
      h->socks->prev = s;
    h->socks = s;
    curl_multi_assign(h->multi, fd, s);
  }
  int events = 0;
  if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
    events |= UV_READABLE;
  if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
    events |= UV_WRITABLE;
  /* Once destroying, nothing more may reach curl; the socket is only kept
   * on the list so that teardown closes its handle. */
  if (!h->destroying)
    uv_poll_start(&s->poll, events, on_poll);
  return 0;
}

static int curl_timer_cb(CURLM *multi, long timeout_ms, void *userp) {
  sk_http_t *h = userp;
  if (timeout_ms < 0)
    uv_timer_stop(&h->timer);
  else if (!h->destroying)
    /* Even a 0 ms timeout goes through the loop: curl forbids calling
     * curl_multi_socket_action from inside this callback. */
    uv_timer_start(&h->timer, on_timer, (uint64_t)timeout_ms, 0);
  return 0;
}

static void on_handle_close(uv_handle_t *hd) {
  sk_http_t *h = hd->data;
  if (--h->open_handles == 0)
    free(h);
}

/* The last step of destroy: every request is gone, so the multi handle and
 * then every uv handle can go. */
static void teardown(sk_http_t *h) {
  if (h->multi) {
    /* Closing the cached connections may call curl_socket_cb with
     * CURL_POLL_REMOVE, which closes their polls. */
    curl_multi_cleanup(h->multi);
    h->multi = NULL;
  }
  while (h->socks)
    sock_close(h, h->socks);
  uv_close((uv_handle_t *)&h->timer, on_handle_close);
  uv_close((uv_handle_t *)&h->idle, on_handle_close);
}

/* One request from the work queue: start it, stop it, or report it. */
static void process(sk_http_t *h, sk_http_req_t *r) {
  if (h->destroying || r->canceled) {
    if (r->state == SK__REQ_RUNNING)
      curl_multi_remove_handle(h->multi, r->easy);
    sk__http_req_finish(r, CURLE_OK, SK_ECANCELED,
                        h->destroying ? "cancelled: the HTTP client was destroyed" : "cancelled");
    sk__http_req_deliver(r);
    return;
  }
  switch (r->state) {
  case SK__REQ_QUEUED: {
    CURLMcode mc = curl_multi_add_handle(h->multi, r->easy);
    if (mc == CURLM_OK) {
      r->state = SK__REQ_RUNNING;
      return;
    }
    sk__http_req_finish(r, CURLE_OK, mc == CURLM_OUT_OF_MEMORY ? SK_ENOMEM : SK_EINVAL,
                        curl_multi_strerror(mc));
    sk__http_req_deliver(r);
    return;
  }
  case SK__REQ_RUNNING:
    return; /* queued only by a cancel, which is handled above */
  case SK__REQ_DONE:
    sk__http_req_deliver(r);
    return;
  }
}

static void on_idle(uv_idle_t *idle) {
  sk_http_t *h = idle->data;
  /* Take the queue as it is now: what the on_done calls below queue (new
   * requests, cancels) waits for the next turn of the loop, so one turn
   * always ends. */
  sk_http_req_t *list = h->work_head;
  h->work_head = h->work_tail = NULL;
  while (list) {
    sk_http_req_t *r = list;
    list = r->work_next;
    r->work_next = NULL;
    r->in_work = false;
    process(h, r);
  }
  if (h->destroying && !h->reqs && !h->work_head)
    teardown(h);
  else if (!h->work_head)
    uv_idle_stop(&h->idle);
}

void sk__http_queue(sk_http_t *h, sk_http_req_t *r) {
  if (r->in_work)
    return;
  r->in_work = true;
  r->work_next = NULL;
  if (h->work_tail)
    h->work_tail->work_next = r;
  else
    h->work_head = r;
  h->work_tail = r;
  uv_idle_start(&h->idle, on_idle);
}

sk_http_t *sk_http_create(uv_loop_t *loop) {
  sk_http_t *h = calloc(1, sizeof(*h));
  if (!h)
    return NULL;
  h->loop = loop;
  h->multi = curl_multi_init();
  if (!h->multi)
    goto fail;
  if (curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb) != CURLM_OK ||
      curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h) != CURLM_OK ||
      curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb) != CURLM_OK ||
      curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h) != CURLM_OK ||
      curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                        (long)SK__HTTP_MAX_HOST_CONNECTIONS) != CURLM_OK ||
      curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)SK__HTTP_MAX_CONNECTS) !=
          CURLM_OK)
    goto fail;
  /* Neither init can fail on Unix (they only fill in the struct), so there
   * is no half-initialised handle to close on the way out. */
  if (uv_timer_init(loop, &h->timer) != 0 || uv_idle_init(loop, &h->idle) != 0)
    goto fail;
  h->timer.data = h;
  h->idle.data = h;
  h->open_handles = 2;
  return h;
fail:
  if (h->multi)
    curl_multi_cleanup(h->multi);
  free(h);
  return NULL;
}

void sk_http_destroy(sk_http_t *h) {
  if (!h || h->destroying)
    return;
  h->destroying = true;
  /* Stop every source of curl activity now, so no on_data runs after this
   * call even though the requests are only reported from the loop. */
  uv_timer_stop(&h->timer);
  for (sk__http_sock_t *s = h->socks; s; s = s->next)
    uv_poll_stop(&s->poll);
  for (sk_http_req_t *r = h->reqs; r; r = r->next)
    sk__http_queue(h, r);
  /* With no request to report, this turn of the idle handle tears down. */
  uv_idle_start(&h->idle, on_idle);
}

size_t sk_http_pending(const sk_http_t *h) { return h ? h->pending : 0; }
