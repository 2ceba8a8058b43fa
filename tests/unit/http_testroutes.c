/*
 * The routes of the test server that the HTTP client tests request, each a
 * script of steps (see http_testsrv.h):
 *
 *   /hello          200 "hello world", text/plain
 *   /echo           200 with the request body
 *   /status/N       status N, body "nope"
 *   /429            429 with "Retry-After: 7"; /429-long with a 200-byte one
 *   /stream         a chunked watch-like stream, cut at odd places, 10 ms apart
 *   /endless        a chunk every 10 ms for 10 s
 *   /big-cl         10000 bytes with Content-Length (a HEAD gets only the head)
 *   /big-chunked    10000 bytes chunked, no Content-Length
 *   /reset          Content-Length 1000, 100 bytes, then a reset
 *   /n/TEXT         200 "TEXT"
 *   /never          no answer at all
 *   /drop           the connection closed at once, no answer (counted in ts_seen.drops)
 *   anything else   404
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_testsrv.h"
#include "util/buf.h"
#include "util/strutil.h"

ts_seen_t ts_seen;

#define EV1 "{\"type\":\"ADDED\",\"n\":1}\n"
#define EV2 "{\"type\":\"MODIFIED\",\"n\":2}\n"
#define EV34 "{\"type\":\"MODIFIED\",\"n\":3}\n{\"type\":\"BOOKMARK\",\"n\":4}\n"
#define EV5 "{\"type\":\"DELETED\",\"n\":5}\n"

const char *const ts_stream_payload = EV1 EV2 EV34 EV5;

void ts_seen_reset(void) {
  free(ts_seen.body);
  memset(&ts_seen, 0, sizeof(ts_seen));
}

/* One chunk per event (two events share one), the raw bytes then cut at odd
 * places, inside chunk-size lines too, each piece 10 ms after the last. */
static void stream_script(ts_conn_t *c) {
  static const char *const events[] = {EV1, EV2, EV34, EV5};
  static const size_t cuts[] = {3, 7, 1, 13, 29, 2, 31, 5};
  sk_buf_t b;
  sk_buf_init(&b, 1 << 16);
  sk_buf_puts(&b, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n");
  for (size_t i = 0; i < sizeof(events) / sizeof(*events); i++)
    sk_buf_printf(&b, "%zx\r\n%s\r\n", strlen(events[i]), events[i]);
  sk_buf_puts(&b, "0\r\n\r\n");
  for (size_t off = 0, i = 0; off < b.len; i++) {
    size_t n = cuts[i % 8] < b.len - off ? cuts[i % 8] : b.len - off;
    ts_send(c, i == 0 ? 0 : 10, b.data + off, n);
    off += n;
  }
  sk_buf_release(&b);
  ts_seen.stream_conn = c;
}

static void chunked_head(ts_conn_t *c) {
  ts_sendstr(c, 0, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
}

static void record(const ts_req_t *q) {
  char tmp[64];
  snprintf(ts_seen.method, sizeof(ts_seen.method), "%s", q->method);
  if (!ts_header(q, "X-Test", ts_seen.x_test, sizeof(ts_seen.x_test)))
    ts_seen.x_test[0] = '\0';
  if (!ts_header(q, "Host", ts_seen.host, sizeof(ts_seen.host)))
    ts_seen.host[0] = '\0';
  ts_seen.saw_content_type =
      ts_header(q, "Content-Type", ts_seen.content_type, sizeof(ts_seen.content_type));
  ts_seen.saw_expect = ts_header(q, "Expect", tmp, sizeof(tmp));
  free(ts_seen.body);
  ts_seen.body = sk_memdup_str(q->body, q->body_len);
  ts_seen.body_len = q->body_len;
}

void ts_routes(ts_conn_t *c, const ts_req_t *q, void *arg) {
  record(q);
  const char *p = q->path;
  if (strcmp(p, "/hello") == 0) {
    ts_respond(c, 200, "Content-Type: text/plain\r\n", "hello world", 11);
  } else if (strcmp(p, "/echo") == 0) {
    ts_respond(c, 200, "", q->body, q->body_len);
  } else if (strncmp(p, "/status/", 8) == 0) {
    ts_respond(c, (int)strtol(p + 8, NULL, 10), "Content-Type: text/plain\r\n", "nope", 4);
  } else if (strcmp(p, "/429") == 0) {
    ts_respond(c, 429, "Retry-After:  7 \r\n", "slow down", 9);
  } else if (strcmp(p, "/429-long") == 0) {
    char h[300];
    snprintf(h, sizeof(h), "Retry-After: %0200d\r\n", 7);
    ts_respond(c, 429, h, "", 0);
  } else if (strcmp(p, "/stream") == 0) {
    stream_script(c);
  } else if (strcmp(p, "/endless") == 0) {
    chunked_head(c);
    for (int i = 0; i < 1000; i++)
      ts_sendstr(c, 10, "6\r\nevent\n\r\n");
  } else if (strcmp(p, "/big-cl") == 0 && strcmp(q->method, "HEAD") == 0) {
    ts_sendstr(c, 0, "HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n");
  } else if (strcmp(p, "/big-cl") == 0) {
    char big[10000];
    memset(big, 'x', sizeof(big));
    ts_respond(c, 200, "", big, sizeof(big));
  } else if (strcmp(p, "/big-chunked") == 0) {
    char chunk[1007]; /* "3e8\r\n" + 1000 bytes + "\r\n" */
    memset(chunk, 'y', sizeof(chunk));
    memcpy(chunk, "3e8\r\n", 5);
    memcpy(chunk + 1005, "\r\n", 2);
    chunked_head(c);
    for (int i = 0; i < 10; i++)
      ts_send(c, 1, chunk, sizeof(chunk));
    ts_sendstr(c, 0, "0\r\n\r\n");
  } else if (strcmp(p, "/reset") == 0) {
    char part[100];
    memset(part, 'z', sizeof(part));
    ts_sendstr(c, 0, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
    ts_send(c, 0, part, sizeof(part));
    ts_reset(c, 50);
  } else if (strcmp(p, "/drop") == 0) {
    ts_seen.drops++;
    ts_close(c, 0);
  } else if (strncmp(p, "/n/", 3) == 0) {
    ts_respond(c, 200, "", p + 3, strlen(p + 3));
  } else if (strcmp(p, "/never") != 0) {
    ts_respond(c, 404, "", "", 0);
  }
}
