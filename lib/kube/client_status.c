/*
 * Turning an HTTP answer into a call result: the error code for the HTTP
 * status, and the apiserver's metav1.Status message, reason and retry
 * hint. Pure.
 */
#include <stdlib.h>
#include <string.h>

#include "kube/kube-int.h"
#include "util/error.h"
#include "util/strutil.h"

int sk__kube_err_for_code(long code) {
  if (code >= 200 && code < 300)
    return 0;
  switch (code) {
  case 400:
  case 422:
    return SK_EINVALID;
  case 404:
    return SK_ENOENT;
  case 409:
    return SK_ECONFLICT;
  case 410:
    return SK_EGONE;
  case 408:
  case 504:
    return SK_ETIMEDOUT;
  default:
    return SK_EHTTP;
  }
}

void sk__kube_outcome_release(sk__kube_outcome_t *o) {
  json_decref(o->json);
  free(o->msgbuf);
  memset(o, 0, sizeof(*o));
}

/* Parses a Retry-After header given in seconds; the HTTP-date form is not
 * used by the apiserver and yields -1. */
static long parse_retry_after(const char *s) {
  int64_t v;
  if (!s)
    return -1;
  while (*s == ' ')
    s++;
  char tmp[32];
  size_t n = strcspn(s, " \r\n");
  if (n == 0 || n >= sizeof(tmp))
    return -1;
  memcpy(tmp, s, n);
  tmp[n] = '\0';
  if (sk_parse_int64(tmp, &v) != 0 || v < 0 || v > 86400)
    return -1;
  return (long)v;
}

/* A short, single-line excerpt of a body that is not JSON (a proxy's HTML
 * error page, "404 page not found"). */
static char *excerpt(const char *body, size_t len) {
  size_t n = 0;
  while (n < len && n < 200 && body[n] != '\n' && body[n] != '\r')
    n++;
  char *s = sk_memdup_str(body, n);
  if (!s)
    return NULL;
  if (!sk_utf8_valid(s, n, NULL)) {
    free(s);
    return strdup("(a body that is not text)");
  }
  return s;
}

int sk__kube_outcome_set(sk__kube_outcome_t *o, int transport_err, const char *transport_text,
                         long code, const char *body, size_t len, const char *retry_after) {
  memset(o, 0, sizeof(*o));
  sk_kube_result_t *r = &o->pub;
  r->code = code;
  r->retry_after_s = -1;
  if (transport_err) {
    r->err = transport_err;
    r->message = transport_text && *transport_text ? transport_text : sk_strerror(transport_err);
    return 0;
  }
  if (body && len > 0) {
    json_error_t jerr;
    o->json = json_loadb(body, len, 0, &jerr);
    if (o->json && !json_is_object(o->json)) {
      json_decref(o->json);
      o->json = NULL;
    }
  }
  r->body = o->json;
  r->err = sk__kube_err_for_code(code);
  if (r->err == 0) {
    if (body && len > 0 && !o->json) {
      r->err = SK_EPARSE;
      r->message = "the response is not a JSON object";
    }
    return 0;
  }
  json_t *st = o->json;
  const char *kind = json_string_value(json_object_get(st, "kind"));
  if (kind && strcmp(kind, "Status") == 0) {
    r->message = json_string_value(json_object_get(st, "message"));
    r->reason = json_string_value(json_object_get(st, "reason"));
    json_t *ra = json_object_get(json_object_get(st, "details"), "retryAfterSeconds");
    if (json_is_integer(ra) && json_integer_value(ra) >= 0)
      r->retry_after_s = (long)json_integer_value(ra);
  }
  long header = parse_retry_after(retry_after);
  if (header >= 0)
    r->retry_after_s = header;
  if (!r->message && body && len > 0 && !o->json) {
    o->msgbuf = excerpt(body, len);
    r->message = o->msgbuf;
  }
  if (!r->message || !*r->message) {
    free(o->msgbuf);
    o->msgbuf = malloc(32);
    if (o->msgbuf)
      snprintf(o->msgbuf, 32, "HTTP %ld", code);
    r->message = o->msgbuf ? o->msgbuf : "HTTP error";
  }
  return 0;
}
