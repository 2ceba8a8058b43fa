/*
 * One request's life, driven by libwebsockets' protocol callback:
 *
 *   LWS_CALLBACK_HTTP             headers parsed: route, check the limits,
 *                                 dispatch at once or wait for the body
 *   LWS_CALLBACK_HTTP_BODY        a piece of body (capped)
 *   LWS_CALLBACK_HTTP_BODY_COMPLETION  the whole body: dispatch
 *   LWS_CALLBACK_HTTP_WRITEABLE   write the answer: headers, then the body
 *                                 in chunks, then finish the transaction
 *   LWS_CALLBACK_CLOSED_HTTP      the connection went: drop or detach
 *
 * A request is owned by its connection until its handler returns without
 * answering; from then on the handler owns it until sk_server_respond, and a
 * connection that goes away meanwhile only detaches it (see server.h).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/server-int.h"
#include "util/error.h"
#include "util/strutil.h"

/* Request paths and queries longer than this are refused (414). */
#define MAX_URI 4096

static sk_server_t *server_of(struct lws *wsi) {
  return lws_context_user(lws_get_context(wsi));
}

static unsigned method_of(struct lws *wsi) {
  char *uri;
  int len;
  switch (lws_http_get_uri_and_method(wsi, &uri, &len)) {
  case LWSHUMETH_GET:
    return SK_SERVER_GET;
  case LWSHUMETH_HEAD:
    return SK_SERVER_HEAD;
  case LWSHUMETH_POST:
    return SK_SERVER_POST;
  case LWSHUMETH_PUT:
    return SK_SERVER_PUT;
  case LWSHUMETH_PATCH:
    return SK_SERVER_PATCH;
  case LWSHUMETH_DELETE:
    return SK_SERVER_DELETE;
  case LWSHUMETH_OPTIONS:
    return SK_SERVER_OPTIONS;
  default:
    return 0;
  }
}

static void unlink_req(sk_server_req_t *req) {
  sk_server_t *s = req->srv;
  if (!s)
    return;
  if (req->prev)
    req->prev->next = req->next;
  else
    s->reqs = req->next;
  if (req->next)
    req->next->prev = req->prev;
  req->prev = req->next = NULL;
}

void sk__req_free(sk_server_req_t *req) {
  if (!req)
    return;
  unlink_req(req);
  if (req->conn && req->conn->req == req)
    req->conn->req = NULL;
  free(req->path);
  free(req->query);
  sk_buf_release(&req->body);
  free(req->content_type);
  free(req->resp);
  for (size_t i = 0; i < req->nhdr; i++) {
    free(req->hdr_name[i]);
    free(req->hdr_value[i]);
  }
  free(req);
}

void sk__req_detach(sk_server_req_t *req) {
  unlink_req(req);
  if (req->conn && req->conn->req == req)
    req->conn->req = NULL;
  req->conn = NULL;
  req->wsi = NULL;
  req->srv = NULL;
}

/* The query arguments libwebsockets split off, joined again by '&'. */
static char *copy_query(struct lws *wsi) {
  sk_buf_t q;
  sk_buf_init(&q, MAX_URI);
  char frag[MAX_URI];
  for (int i = 0; i < 64; i++) {
    int n = lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i);
    if (n <= 0)
      break;
    if ((i > 0 && sk_buf_putc(&q, '&') < 0) || sk_buf_append(&q, frag, (size_t)n) < 0) {
      sk_buf_release(&q);
      return NULL;
    }
  }
  return sk_buf_steal(&q);
}

static sk_server_req_t *req_new(sk_server_t *s, struct lws *wsi, sk__conn_t *conn,
                                const char *path) {
  sk_server_req_t *req = calloc(1, sizeof(*req));
  if (!req)
    return NULL;
  req->srv = s;
  req->wsi = wsi;
  req->conn = conn;
  req->method = method_of(wsi);
  req->started_ns = uv_hrtime();
  sk_buf_init(&req->body, 0);
  req->path = sk_memdup_str(path, strnlen(path, MAX_URI));
  req->query = copy_query(wsi);
  if (!req->path || !req->query) {
    sk__req_free(req);
    return NULL;
  }
  req->next = s->reqs;
  if (s->reqs)
    s->reqs->prev = req;
  s->reqs = req;
  conn->req = req;
  return req;
}

/* Writes the status line and headers; then the body follows in chunks. */
static int write_headers(sk_server_t *s, struct lws *wsi, sk_server_req_t *req) {
  unsigned char *start = s->wbuf + LWS_PRE, *p = start, *end = s->wbuf + sizeof(s->wbuf) - 1;
  if (lws_add_http_header_status(wsi, (unsigned)req->status, &p, end))
    return -1;
  if (req->content_type &&
      lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
                                   (const unsigned char *)req->content_type,
                                   (int)strlen(req->content_type), &p, end))
    return -1;
  if (lws_add_http_header_content_length(wsi, req->resp_len, &p, end))
    return -1;
  for (size_t i = 0; i < req->nhdr; i++)
    if (lws_add_http_header_by_name(wsi, (const unsigned char *)req->hdr_name[i],
                                    (const unsigned char *)req->hdr_value[i],
                                    (int)strlen(req->hdr_value[i]), &p, end))
      return -1;
  if (req->close_after &&
      lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const unsigned char *)"close", 5,
                                   &p, end))
    return -1;
  if (lws_finalize_write_http_header(wsi, start, &p, end))
    return -1;
  req->headers_sent = true;
  return 0;
}

/* The answer is out: count it, free the request, and either wait for the
 * next request on this connection or close it. */
static int finish(sk_server_t *s, struct lws *wsi, sk_server_req_t *req) {
  bool close_now = req->close_after;
  sk__instrument_request(s, req);
  sk__req_free(req);
  if (close_now)
    return -1;
  return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int on_writeable(sk_server_t *s, struct lws *wsi, sk_server_req_t *req) {
  if (!req || !req->responded)
    return 0;
  bool body = req->method != SK_SERVER_HEAD && req->resp_len > 0;
  if (!req->headers_sent) {
    if (write_headers(s, wsi, req) < 0)
      return -1;
    if (!body)
      return finish(s, wsi, req);
    lws_callback_on_writable(wsi);
    return 0;
  }
  size_t n = req->resp_len - req->resp_off;
  if (n > SK__WRITE_CHUNK)
    n = SK__WRITE_CHUNK;
  bool last = req->resp_off + n == req->resp_len;
  memcpy(s->wbuf + LWS_PRE, req->resp + req->resp_off, n);
  if (lws_write(wsi, s->wbuf + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) !=
      (int)n)
    return -1;
  req->resp_off += n;
  if (!last) {
    lws_callback_on_writable(wsi);
    return 0;
  }
  return finish(s, wsi, req);
}

static void dispatch(sk_server_t *s, struct lws *wsi, sk_server_req_t *req) {
  req->dispatched = true;
  req->in_handler = true;
  req->route->fn(req, req->route->arg);
  req->in_handler = false;
  if (!req->wsi) {
    /* The server closed under the handler: whoever holds req now frees it. */
    if (req->responded)
      sk__req_free(req);
    else
      req->deferred = true;
    return;
  }
  if (!req->responded) {
    req->deferred = true;
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, (int)s->handler_timeout_s);
  }
}

/* Returns the Content-Length header as a number (0 when absent), or -1
 * when it is not a plain non-negative integer. */
static long long content_length(struct lws *wsi) {
  char buf[32];
  if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
    return 0;
  if (lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
    return -1;
  int64_t v;
  if (buf[0] < '0' || buf[0] > '9' || sk_parse_int64(buf, &v) < 0)
    return -1;
  return v;
}

static int answer_early(sk_server_req_t *req, int status, const char *text) {
  return sk_server_respond_text(req, status, text) == 0 ? 0 : -1;
}

static int on_http(sk_server_t *s, struct lws *wsi, sk__conn_t *conn, const char *path) {
  if (s->state != SK__SRV_RUNNING || conn->req)
    return -1;
  sk_server_req_t *req = req_new(s, wsi, conn, path ? path : "/");
  if (!req)
    return -1;
  bool chunked = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0;
  long long clen = content_length(wsi);
  /* An answer given before the body is read must close the connection, or
   * the unread body would be taken for the next request. */
  req->close_after = chunked || clen != 0;
  if (strlen(req->path) >= MAX_URI - 1) {
    req->close_after = true;
    return answer_early(req, 414, "request URI too long\n");
  }
  unsigned allow = 0;
  switch (sk__router_lookup(&s->router, req->method, req->path, &req->route, &allow)) {
  case SK__ROUTE_NOT_FOUND:
    return answer_early(req, 404, "404 page not found\n");
  case SK__ROUTE_BAD_METHOD: {
    char methods[96];
    sk__methods_format(allow, methods, sizeof(methods));
    if (sk_server_req_add_header(req, "allow", methods) < 0)
      return -1;
    return answer_early(req, 405, "method not allowed\n");
  }
  case SK__ROUTE_FOUND:
    break;
  }
  /* A chunked body has no length to check against the cap: refuse it. */
  if (chunked)
    return answer_early(req, 411, "a Content-Length is required\n");
  if (clen < 0)
    return answer_early(req, 400, "bad Content-Length\n");
  size_t cap = req->route->max_body ? req->route->max_body : s->max_body_bytes;
  if ((unsigned long long)clen > cap)
    return answer_early(req, 413, "request body too large\n");
  req->close_after = false;
  if (clen > 0) {
    req->body_expected = (size_t)clen;
    sk_buf_init(&req->body, (size_t)clen);
    return 0; /* the body follows in LWS_CALLBACK_HTTP_BODY */
  }
  dispatch(s, wsi, req);
  return 0;
}

/* The connection is going: a request its handler still holds is detached,
 * any other is freed. */
static void drop(sk__conn_t *conn) {
  sk_server_req_t *req = conn ? conn->req : NULL;
  if (!req)
    return;
  if (req->in_handler || (req->deferred && !req->responded))
    sk__req_detach(req);
  else
    sk__req_free(req);
}

int sk__conn_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                      size_t len) {
  sk__conn_t *conn = user;
  sk_server_t *s = server_of(wsi);
  switch (reason) {
  case LWS_CALLBACK_WSI_CREATE:
    s->nconns++;
    return 0;
  case LWS_CALLBACK_WSI_DESTROY:
    if (s->nconns > 0)
      s->nconns--;
    drop(conn);
    return 0;
  case LWS_CALLBACK_HTTP:
    return on_http(s, wsi, conn, in);
  case LWS_CALLBACK_HTTP_BODY:
    if (!conn || !conn->req)
      return -1;
    /* After an early answer (413, 404...) the body is not wanted: the
     * answer goes out at the next writable callback and, if the body was
     * not read, the connection closes then. */
    if (conn->req->dispatched || conn->req->responded)
      return 0;
    return sk_buf_append(&conn->req->body, in, len) < 0 ? -1 : 0;
  case LWS_CALLBACK_HTTP_BODY_COMPLETION:
    /* libwebsockets reports a completed (empty) body for bodiless POSTs
     * too, after the request was dispatched or answered already. */
    if (!conn || !conn->req || conn->req->dispatched || conn->req->responded)
      return 0;
    dispatch(s, wsi, conn->req);
    return 0;
  case LWS_CALLBACK_HTTP_WRITEABLE:
    return on_writeable(s, wsi, conn ? conn->req : NULL);
  case LWS_CALLBACK_CLOSED_HTTP:
  case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    drop(conn);
    return 0;
  default:
    break;
  }
  return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* ---- the request API ---- */

unsigned sk_server_req_method(const sk_server_req_t *req) { return req->method; }

const char *sk_server_req_method_name(const sk_server_req_t *req) {
  return sk__method_name(req->method);
}

const char *sk_server_req_path(const sk_server_req_t *req) { return req->path; }

const char *sk_server_req_query(const sk_server_req_t *req) { return req->query; }

const char *sk_server_req_body(const sk_server_req_t *req, size_t *len) {
  if (len)
    *len = req->body.len;
  return req->body.data ? req->body.data : "";
}

int sk_server_req_header(sk_server_req_t *req, const char *name, char *buf, size_t size) {
  if (!req->in_handler || !req->wsi)
    return SK_ESTATE;
  char key[128];
  size_t nlen = strlen(name);
  if (nlen == 0 || nlen + 2 > sizeof(key) || size == 0 || size > 65536)
    return SK_EINVAL;
  for (size_t i = 0; i < nlen; i++) {
    char c = name[i];
    key[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
  }
  key[nlen] = ':';
  key[nlen + 1] = '\0';
  /* Headers libwebsockets knows are parsed into tokens; others are kept by
   * name ("custom" headers). */
  for (int t = 0; t < WSI_TOKEN_COUNT; t++) {
    const unsigned char *tn = lws_token_to_string((enum lws_token_indexes)t);
    if (!tn || strcasecmp((const char *)tn, key) != 0)
      continue;
    int n = lws_hdr_total_length(req->wsi, (enum lws_token_indexes)t);
    if (n <= 0)
      return SK_ENOENT;
    if ((size_t)n >= size)
      return SK_ETOOBIG;
    return lws_hdr_copy(req->wsi, buf, (int)size, (enum lws_token_indexes)t) < 0 ? SK_ETOOBIG
                                                                              : 0;
  }
  int n = lws_hdr_custom_length(req->wsi, key, (int)nlen + 1);
  if (n < 0)
    return SK_ENOENT;
  if ((size_t)n >= size)
    return SK_ETOOBIG;
  return lws_hdr_custom_copy(req->wsi, buf, (int)size, key, (int)nlen + 1) < 0 ? SK_ETOOBIG : 0;
}

int sk_server_req_add_header(sk_server_req_t *req, const char *name, const char *value) {
  if (!req || !name || !value || req->responded)
    return SK_EINVAL;
  if (req->nhdr >= SK_SERVER_MAX_RESP_HEADERS)
    return SK_ETOOBIG;
  /* Header names and values must not break the response apart. */
  size_t nlen = strlen(name);
  if (nlen == 0 || nlen > 64 || strcspn(name, ": \r\n") != nlen || strcspn(value, "\r\n") != strlen(value))
    return SK_EINVAL;
  char *n = malloc(nlen + 2);
  char *v = strdup(value);
  if (!n || !v) {
    free(n);
    free(v);
    return SK_ENOMEM;
  }
  memcpy(n, name, nlen);
  n[nlen] = ':';
  n[nlen + 1] = '\0';
  req->hdr_name[req->nhdr] = n;
  req->hdr_value[req->nhdr] = v;
  req->nhdr++;
  return 0;
}

int sk_server_respond(sk_server_req_t *req, int status, const char *content_type,
                      const char *body, size_t len) {
  if (!req || req->responded || status < 100 || status > 599)
    return SK_EINVAL;
  req->responded = true;
  if (!req->wsi) {
    if (!req->in_handler)
      sk__req_free(req);
    return SK_ECANCELED;
  }
  int rc = 0;
  req->status = status;
  if (content_type && !(req->content_type = strdup(content_type)))
    rc = SK_ENOMEM;
  if (rc == 0 && len > 0) {
    if (!(req->resp = malloc(len)))
      rc = SK_ENOMEM;
    else
      memcpy(req->resp, body, len);
  }
  if (rc < 0) {
    /* Still answer, so the client is not left waiting. */
    req->status = 500;
    free(req->content_type);
    req->content_type = NULL;
    free(req->resp);
    req->resp = NULL;
    len = 0;
  }
  req->resp_len = len;
  if (req->deferred)
    lws_set_timeout(req->wsi, NO_PENDING_TIMEOUT, 0);
  lws_callback_on_writable(req->wsi);
  return rc;
}

int sk_server_respond_text(sk_server_req_t *req, int status, const char *text) {
  return sk_server_respond(req, status, "text/plain; charset=utf-8", text, text ? strlen(text) : 0);
}
