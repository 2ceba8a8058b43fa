/*
 * Private to lib/http: the client and request structs, and the pure helpers
 * (header parsing, input checks, curl error mapping) that the unit tests
 * call directly.
 *
 * Life of a request. sk_http_request builds the curl easy handle and puts the
 * request on the work queue (state QUEUED); nothing touches the multi handle
 * there, because the caller may be inside one of curl's own callbacks (an
 * on_data), where curl refuses re-entrant multi calls. The work queue is
 * drained by an idle handle, from the loop: a QUEUED request is added to the
 * multi (RUNNING); a finished one (DONE, set when curl_multi_info_read reports
 * it) gets its on_done and is freed. Cancel and destroy only set flags and
 * queue the request, so they too are safe from any callback.
 */
#ifndef SK_HTTP_HTTP_INT_H
#define SK_HTTP_HTTP_INT_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"
#include "util/buf.h"

/* Connections to one host at once. Watches hold one each over HTTP/1.1 (over
 * HTTP/2 they share one), so this is well above the number of watches a
 * daemon runs; requests over the limit wait inside curl for a free one. */
#define SK__HTTP_MAX_HOST_CONNECTIONS 64
/* Idle connections kept open for reuse, over all hosts. */
#define SK__HTTP_MAX_CONNECTS 64
#define SK__HTTP_CONNECT_TIMEOUT_MS 10000L
/* TCP keepalive: a watch that is silent for minutes must still notice a dead
 * peer (a node gone, a NAT entry dropped) rather than wait forever. */
#define SK__HTTP_KEEPIDLE_S 30L
#define SK__HTTP_KEEPINTVL_S 15L
/* Cap on a captured response header value (Retry-After); a longer one is
 * dropped rather than cut, since a cut date or number would mislead. */
#define SK__HTTP_HEADER_VALUE_MAX 128

typedef enum { SK__REQ_QUEUED, SK__REQ_RUNNING, SK__REQ_DONE } sk__req_state_t;

struct sk_http_req {
  sk_http_t *h;
  CURL *easy;
  struct curl_slist *headers;
  struct curl_slist *connect_to;
  char *body;         /* our copy of the request body */
  sk_buf_t resp_body; /* buffered response (unused when streaming) */
  sk_http_data_cb on_data;
  sk_http_done_cb on_done;
  void *arg;
  sk__req_state_t state;
  bool canceled;
  bool delivering;    /* inside on_done: cancel is a no-op from here on */
  bool in_work;       /* on the work queue */
  int abort_code;     /* why one of our callbacks stopped the transfer */
  int result;         /* final SK_E* code, set when the request is DONE */
  CURLcode curl_code;
  uint64_t start_ns;
  uint64_t end_ns;
  char retry_after[SK__HTTP_HEADER_VALUE_MAX];
  bool has_retry_after;
  char amzn_error_type[SK__HTTP_HEADER_VALUE_MAX];
  bool has_amzn_error_type;
  char amz_retry_after[SK__HTTP_HEADER_VALUE_MAX];
  bool has_amz_retry_after;
  char errbuf[CURL_ERROR_SIZE]; /* curl's detailed message */
  char msg[128];      /* our own message for aborts and cancels */
  struct sk_http_req *prev, *next; /* every live request of the client */
  struct sk_http_req *work_next;
};

/* One socket curl asked us to watch. Freed by its own close callback, which
 * never touches the client (that may be gone by then). */
typedef struct sk__http_sock {
  uv_poll_t poll;
  sk_http_t *h;
  curl_socket_t fd;
  struct sk__http_sock *prev, *next;
} sk__http_sock_t;

struct sk_http {
  uv_loop_t *loop;
  CURLM *multi;
  uv_timer_t timer;   /* curl's one timeout (CURLMOPT_TIMERFUNCTION) */
  uv_idle_t idle;     /* drains the work queue; running only while it is not empty */
  sk_http_req_t *reqs;
  size_t pending;
  sk_http_req_t *work_head, *work_tail;
  sk__http_sock_t *socks;
  int open_handles;   /* timer and idle; the client is freed when both closed */
  bool destroying;
};

/* client.c: puts r on the work queue (once) and wakes the idle handle. */
void sk__http_queue(sk_http_t *h, sk_http_req_t *r);

/* request.c */
/* Records how a transfer ended (curl_code from curl_multi_info_read, or
 * CURLE_OK with an SK code for cancels) and marks the request DONE. */
void sk__http_req_finish(sk_http_req_t *r, CURLcode cc, int code, const char *msg);
/* Calls on_done once, then frees r. r must not be in the multi. */
void sk__http_req_deliver(sk_http_req_t *r);

/* tls.c: applies tls (may be NULL) to r->easy and sets the URL, rewritten
 * when tls->server_name is set. Returns 0 or SK_EINVAL / SK_ENOMEM. */
int sk__http_setup_url_tls(sk_http_req_t *r, const char *url, const sk_http_tls_t *tls,
                           bool has_host_header);

/* proto.c: pure helpers. */
/* When the header line (as curl hands it over, CRLF included) is
 * "name: value" with name matched case-insensitively, points *val at the
 * value with surrounding blanks and the line end trimmed, and returns true. */
bool sk__http_header_value(const char *line, size_t len, const char *name, const char **val,
                           size_t *vlen);
/* True when m is an HTTP method token of 1-16 upper-case letters. */
bool sk__http_method_ok(const char *m);
/* True when hdr is "Name: value" with a token name and no CR or LF, which
 * would let a value smuggle in further headers. */
bool sk__http_header_ok(const char *hdr);
/* True when one of the n headers (stopping at NULL) is named name. */
bool sk__http_has_header(const char *const *hdrs, size_t n, const char *name);
/* True when host is a DNS name or IP literal fit for tls server_name. */
bool sk__http_server_name_ok(const char *host);
/* Maps a curl result to an SK_E* code (CURLE_OK to 0). */
int sk__http_map_curl(CURLcode cc);

#endif
