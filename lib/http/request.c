/*
 * One request: building the curl easy handle from sk_http_opts_t, curl's
 * body and header callbacks (caps, streaming, aborts), and the report to
 * on_done.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http-int.h"
#include "util/error.h"

/* Returned by a write callback to stop the transfer. Any count other than
 * the one given does so; curl 7.87 named this value. */
#ifndef CURL_WRITEFUNC_ERROR
#define CURL_WRITEFUNC_ERROR 0xFFFFFFFF
#endif

static bool stopping(const sk_http_req_t *r) { return r->canceled || r->h->destroying; }

static size_t stop(sk_http_req_t *r, int code) {
  r->abort_code = code;
  return CURL_WRITEFUNC_ERROR;
}

static size_t on_write(char *ptr, size_t size, size_t n, void *ud) {
  sk_http_req_t *r = ud;
  size_t len = size * n;
  if (stopping(r))
    return stop(r, SK_ECANCELED);
  if (r->on_data) {
    long status = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    int rc = r->on_data(r, status, ptr, len, r->arg);
    if (rc != 0) {
      rc = rc < 0 ? rc : SK_ECANCELED;
      snprintf(r->msg, sizeof(r->msg), "stopped by the data callback: %s", sk_strerror(rc));
      return stop(r, rc);
    }
    /* The callback may have cancelled this request or destroyed the client. */
    return stopping(r) ? stop(r, SK_ECANCELED) : len;
  }
  int rc = sk_buf_append(&r->resp_body, ptr, len);
  if (rc < 0) {
    if (rc == SK_ETOOBIG)
      snprintf(r->msg, sizeof(r->msg), "response body over the %zu-byte cap",
               r->resp_body.max);
    return stop(r, rc);
  }
  return len;
}

/* Copies the value of header name from line into dst when it fits; a value
 * over the cap is dropped, not cut. */
static void capture(const char *line, size_t len, const char *name, char *dst, size_t dstlen,
                    bool *has) {
  const char *v;
  size_t vlen;
  if (sk__http_header_value(line, len, name, &v, &vlen) && vlen < dstlen) {
    memcpy(dst, v, vlen);
    dst[vlen] = '\0';
    *has = true;
  }
}

static size_t on_header(char *buf, size_t size, size_t n, void *ud) {
  sk_http_req_t *r = ud;
  size_t len = size * n;
  if (stopping(r))
    return stop(r, SK_ECANCELED);
  /* A status line starts a new response (after a 100 Continue, say): only
   * the headers of the last one count. */
  if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
    r->has_retry_after = r->has_amzn_error_type = r->has_amz_retry_after = false;
    return len;
  }
  capture(buf, len, "Retry-After", r->retry_after, sizeof(r->retry_after), &r->has_retry_after);
  capture(buf, len, "x-amzn-ErrorType", r->amzn_error_type, sizeof(r->amzn_error_type),
          &r->has_amzn_error_type);
  capture(buf, len, "x-amz-retry-after", r->amz_retry_after, sizeof(r->amz_retry_after),
          &r->has_amz_retry_after);
  return len;
}

static void req_free(sk_http_req_t *r) {
  if (r->easy)
    curl_easy_cleanup(r->easy);
  curl_slist_free_all(r->headers);
  curl_slist_free_all(r->connect_to);
  sk_buf_release(&r->resp_body);
  free(r->body);
  free(r);
}

static int add_header(sk_http_req_t *r, const char *hdr) {
  struct curl_slist *l = curl_slist_append(r->headers, hdr);
  if (!l)
    return SK_ENOMEM;
  r->headers = l;
  return 0;
}

#define SET(opt, val)                                                                      \
  do {                                                                                     \
    if ((cc = curl_easy_setopt(e, opt, val)) != CURLE_OK)                                  \
      goto fail;                                                                           \
  } while (0)

/* Sets the method and copies the body. POSTFIELDS with a CUSTOMREQUEST is
 * curl's way to send a body with any method. */
static int setup_method(sk_http_req_t *r, const sk_http_opts_t *o, const char *method,
                        bool *sends_body) {
  CURL *e = r->easy;
  CURLcode cc;
  bool is_post = strcmp(method, "POST") == 0;
  *sends_body = o->body || is_post || strcmp(method, "PUT") == 0 ||
                strcmp(method, "PATCH") == 0;
  if (*sends_body) {
    r->body = malloc(o->body_len + 1);
    if (!r->body)
      return SK_ENOMEM;
    if (o->body_len)
      memcpy(r->body, o->body, o->body_len);
    r->body[o->body_len] = '\0';
    SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
    SET(CURLOPT_POSTFIELDS, r->body);
    if (!is_post)
      SET(CURLOPT_CUSTOMREQUEST, method);
  } else if (strcmp(method, "HEAD") == 0) {
    SET(CURLOPT_NOBODY, 1L);
  } else if (strcmp(method, "GET") != 0) {
    SET(CURLOPT_CUSTOMREQUEST, method);
  }
  return 0;
fail:
  return cc == CURLE_OUT_OF_MEMORY ? SK_ENOMEM : SK_EINVAL;
}

static int setup(sk_http_req_t *r, const sk_http_opts_t *o, const char *method, size_t nh) {
  CURL *e = r->easy;
  CURLcode cc;
  int rc;
  SET(CURLOPT_PRIVATE, (void *)r);
  SET(CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
  SET(CURLOPT_PROTOCOLS_STR, "http,https");
#endif
  SET(CURLOPT_ERRORBUFFER, r->errbuf);
  SET(CURLOPT_WRITEFUNCTION, on_write);
  SET(CURLOPT_WRITEDATA, (void *)r);
  SET(CURLOPT_HEADERFUNCTION, on_header);
  SET(CURLOPT_HEADERDATA, (void *)r);
  SET(CURLOPT_CONNECTTIMEOUT_MS,
      o->connect_timeout_ms > 0 ? o->connect_timeout_ms : SK__HTTP_CONNECT_TIMEOUT_MS);
  if (o->timeout_ms > 0)
    SET(CURLOPT_TIMEOUT_MS, o->timeout_ms);
  if (o->fresh_connection)
    SET(CURLOPT_FRESH_CONNECT, 1L);
  SET(CURLOPT_TCP_KEEPALIVE, 1L);
  SET(CURLOPT_TCP_KEEPIDLE, SK__HTTP_KEEPIDLE_S);
  SET(CURLOPT_TCP_KEEPINTVL, SK__HTTP_KEEPINTVL_S);
  /* A Content-Length over the cap fails before any byte is stored; a
   * chunked body is caught by the write callback. A HEAD has no body, and
   * its Content-Length describes a GET's. */
  if (!o->on_data && strcmp(method, "HEAD") != 0)
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)r->resp_body.max);

  bool sends_body;
  if ((rc = setup_method(r, o, method, &sends_body)) < 0)
    return rc;
  for (size_t i = 0; i < nh; i++)
    if ((rc = add_header(r, o->headers[i])) < 0)
      return rc;
  /* curl would wait for a 100 Continue before a large body (a round trip,
   * or a second when the server does not send one), and would label any
   * body as a form; an empty header removes its default. */
  if (!sk__http_has_header(o->headers, nh, "Expect") && (rc = add_header(r, "Expect:")) < 0)
    return rc;
  if (sends_body && !sk__http_has_header(o->headers, nh, "Content-Type") &&
      (rc = add_header(r, "Content-Type:")) < 0)
    return rc;
  bool has_host = sk__http_has_header(o->headers, nh, "Host");
  if ((rc = sk__http_setup_url_tls(r, o->url, o->tls, has_host)) < 0)
    return rc;
  SET(CURLOPT_HTTPHEADER, r->headers);
  return 0;
fail:
  return cc == CURLE_OUT_OF_MEMORY ? SK_ENOMEM : SK_EINVAL;
}

int sk_http_request(sk_http_t *h, const sk_http_opts_t *o, sk_http_req_t **out) {
  if (out)
    *out = NULL;
  if (!h || !o || !o->url || !o->on_done || (o->body_len && !o->body))
    return SK_EINVAL;
  if (h->destroying)
    return SK_ESTATE;
  const char *method = o->method ? o->method : "GET";
  if (!sk__http_method_ok(method))
    return SK_EINVAL;
  size_t nh = 0;
  for (; nh < SK_HTTP_MAX_HEADERS && o->headers[nh]; nh++)
    if (!sk__http_header_ok(o->headers[nh]))
      return SK_EINVAL;

  sk_http_req_t *r = calloc(1, sizeof(*r));
  if (!r)
    return SK_ENOMEM;
  r->h = h;
  r->on_data = o->on_data;
  r->on_done = o->on_done;
  r->arg = o->arg;
  sk_buf_init(&r->resp_body, o->max_body ? o->max_body : SK_HTTP_MAX_BODY_DEFAULT);
  r->easy = curl_easy_init();
  int rc = r->easy ? setup(r, o, method, nh) : SK_ENOMEM;
  if (rc < 0) {
    req_free(r);
    return rc;
  }
  r->state = SK__REQ_QUEUED;
  r->start_ns = uv_hrtime();
  r->next = h->reqs;
  if (h->reqs)
    h->reqs->prev = r;
  h->reqs = r;
  h->pending++;
  sk__http_queue(h, r);
  if (out)
    *out = r;
  return 0;
}

void sk_http_cancel(sk_http_req_t *r) {
  if (!r || r->canceled || r->delivering)
    return;
  r->canceled = true;
  sk__http_queue(r->h, r);
}

void sk__http_req_finish(sk_http_req_t *r, CURLcode cc, int code, const char *msg) {
  if (r->state != SK__REQ_DONE)
    r->end_ns = uv_hrtime();
  r->state = SK__REQ_DONE;
  r->curl_code = cc;
  if (code) {
    r->result = code;
    snprintf(r->msg, sizeof(r->msg), "%s", msg ? msg : sk_strerror(code));
  } else if (cc == CURLE_OK) {
    r->result = 0;
  } else if (r->abort_code) {
    r->result = r->abort_code; /* the callback that stopped it wrote r->msg */
  } else {
    r->result = sk__http_map_curl(cc);
    if (cc == CURLE_FILESIZE_EXCEEDED)
      snprintf(r->msg, sizeof(r->msg), "response body over the %zu-byte cap",
               r->resp_body.max);
  }
}

void sk__http_req_deliver(sk_http_req_t *r) {
  sk_http_t *h = r->h;
  if (r->prev)
    r->prev->next = r->next;
  else
    h->reqs = r->next;
  if (r->next)
    r->next->prev = r->prev;
  h->pending--;

  sk_http_resp_t resp;
  memset(&resp, 0, sizeof(resp));
  curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &resp.status);
  char *ct = NULL;
  curl_easy_getinfo(r->easy, CURLINFO_CONTENT_TYPE, &ct);
  resp.content_type = ct;
  if (!r->on_data) {
    resp.body = r->resp_body.data ? r->resp_body.data : "";
    resp.body_len = r->resp_body.len;
  }
  resp.retry_after = r->has_retry_after ? r->retry_after : NULL;
  resp.amzn_error_type = r->has_amzn_error_type ? r->amzn_error_type : NULL;
  resp.amz_retry_after = r->has_amz_retry_after ? r->amz_retry_after : NULL;
  resp.error = r->result;
  if (r->result)
    resp.error_text = r->msg[0]      ? r->msg
                      : r->errbuf[0] ? r->errbuf
                                     : curl_easy_strerror(r->curl_code);
  resp.total_seconds = (double)(r->end_ns - r->start_ns) / 1e9;
  r->delivering = true;
  r->on_done(r, &resp, r->arg);
  req_free(r);
}
