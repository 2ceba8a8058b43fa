/*
 * Async HTTP on the libuv loop: libcurl's multi interface driven by uv_poll
 * (CURLMOPT_SOCKETFUNCTION) and one uv_timer (CURLMOPT_TIMERFUNCTION).
 *
 * One sk_http_t per loop. It reuses connections (one curl multi handle:
 * HTTP/1.1 keep-alive, and HTTP/2 multiplexing when a TLS server offers it
 * through ALPN; at most 64 connections per host), applies a
 * per-request total timeout, and caps every buffered body. A request either
 * buffers its whole response body (up to max_body bytes; over the cap it
 * completes with SK_ETOOBIG) or streams it to on_data chunk by chunk (for
 * watches), in which case nothing is buffered here.
 *
 * Every request ends with exactly one call of on_done, from the loop, never
 * from inside sk_http_request itself (so callers may start requests from
 * their callbacks without re-entrancy). After on_done returns the request is
 * freed; the response passed to it is borrowed and valid only during the
 * call. Requests may be started, and cancelled, from any callback,
 * on_data included.
 *
 * An HTTP error status (404, 409, 500 ...) is a response, not an error:
 * resp->error is 0 and resp->status says what happened. resp->error is set
 * only when no complete response arrived: SK_ENET (DNS, refused, reset,
 * TLS or certificate failure, truncated body), SK_ETIMEDOUT (timeout_ms or
 * connect timeout), SK_ECANCELED (sk_http_cancel, sk_http_destroy),
 * SK_ETOOBIG (body over max_body), SK_EINVAL (a URL curl rejects, an
 * unreadable CA, client certificate or key), or what on_data returned.
 * error_text then holds curl's message (or ours) for logs.
 *
 * Only http and https URLs are accepted; redirects are not followed.
 * Proxies come from the usual environment variables, as with curl and
 * client-go.
 *
 * TLS: verification is always on for https; ca_file / ca_pem name the trust
 * roots (the cluster CA, then the only trusted root), cert/key give a client
 * certificate. server_name is verified (and sent as SNI) instead of the URL's
 * host by connecting through CURLOPT_CONNECT_TO; the Host header keeps the
 * URL's authority. Nothing here logs header values (they may carry tokens).
 */
#ifndef SK_HTTP_HTTP_H
#define SK_HTTP_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define SK_HTTP_MAX_BODY_DEFAULT (16u << 20) /* buffered-body cap when max_body is 0 */
#define SK_HTTP_MAX_HEADERS 32               /* extra request headers */

typedef struct sk_http sk_http_t;
typedef struct sk_http_req sk_http_req_t;

/* TLS material for one endpoint. Each field may be NULL. *_pem fields hold
 * PEM text in memory (kubeconfig *-data fields, decoded); *_file fields
 * name files. When both are set for one item the PEM text wins. */
typedef struct {
  const char *ca_file;
  const char *ca_pem;
  const char *cert_file;
  const char *cert_pem;
  const char *key_file;
  const char *key_pem;
  const char *server_name; /* tls-server-name: name to verify instead of the host */
  int insecure_skip_verify; /* only when the user asked for it in a kubeconfig */
} sk_http_tls_t;

/* On an error, status and body hold what arrived before it (status 0 and an
 * empty body when nothing did). */
typedef struct {
  long status;          /* HTTP status; 0 when no response arrived */
  const char *body;     /* NUL-terminated buffered body (NULL when streamed) */
  size_t body_len;
  const char *retry_after; /* Retry-After header value, or NULL */
  const char *content_type;
  int error;            /* 0, or SK_E* for transport errors / caps / cancel */
  const char *error_text; /* curl's message for transport errors, or NULL */
  double total_seconds; /* time from start to end */
  /* AWS JSON protocols put the error code and the throttling delay in
   * headers: x-amzn-ErrorType and x-amz-retry-after (milliseconds). NULL
   * when absent or longer than the capture cap, like retry_after. */
  const char *amzn_error_type;
  const char *amz_retry_after;
} sk_http_resp_t;

/* Streaming: called with each chunk as it arrives, whatever the status (a
 * watch answered 410 streams its Status body too). Return 0 to go on, or a
 * negative code to abort the request (on_done then sees that code; a
 * positive one counts as SK_ECANCELED). status is known by the time the
 * first chunk arrives. */
typedef int (*sk_http_data_cb)(sk_http_req_t *req, long status, const char *data, size_t len,
                               void *arg);
typedef void (*sk_http_done_cb)(sk_http_req_t *req, const sk_http_resp_t *resp, void *arg);

typedef struct {
  const char *method;   /* "GET", "POST", "PUT", "PATCH", "DELETE" */
  const char *url;
  const char *headers[SK_HTTP_MAX_HEADERS]; /* "Name: value", NULL-terminated */
  const char *body;     /* copied; may be NULL */
  size_t body_len;
  long timeout_ms;      /* total time allowed; 0 = none (watches use their own) */
  long connect_timeout_ms; /* 0 = 10 s */
  size_t max_body;      /* cap on a buffered body; 0 = SK_HTTP_MAX_BODY_DEFAULT */
  const sk_http_tls_t *tls; /* copied; may be NULL */
  /* A request that must never be sent twice (a create without an
   * idempotency key): it goes on a fresh connection. libcurl silently
   * resends a request whose reused keep-alive connection died before any
   * answer byte, and a server that did the work and then lost the
   * connection would then do it twice. */
  int fresh_connection;
  sk_http_data_cb on_data; /* non-NULL: stream the body instead of buffering */
  sk_http_done_cb on_done; /* required */
  void *arg;
} sk_http_opts_t;

/* Creates the client on loop. Returns a new object or NULL on failure.
 * curl_global_init is the caller's business (once per process). */
sk_http_t *sk_http_create(uv_loop_t *loop);
/* Cancels every pending request (each gets on_done with SK_ECANCELED, from
 * the loop; no on_data runs after this call) and frees the client once its
 * handles have closed, so the loop must run afterwards. sk_http_request
 * returns SK_ESTATE from then on (in those on_done calls, say). Safe on
 * NULL, and from any callback. */
void sk_http_destroy(sk_http_t *h);

/* Starts a request. On success returns 0 and, when out is not NULL, a
 * borrowed handle valid until on_done returns. Bad options (no url or
 * on_done, a method or header that is not well formed or holds CR/LF, a URL
 * that is not http(s), a bad server_name) fail here with SK_EINVAL and no
 * on_done. */
int sk_http_request(sk_http_t *h, const sk_http_opts_t *opts, sk_http_req_t **out);
/* Cancels a running request: on_done follows from the loop with
 * SK_ECANCELED, even when the response had already arrived. Safe to call
 * once per request, before on_done; a no-op from inside its on_done. */
void sk_http_cancel(sk_http_req_t *req);

/* Number of requests started and not yet done. */
size_t sk_http_pending(const sk_http_t *h);

#endif
