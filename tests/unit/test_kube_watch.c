/* Tests for the watch-stream parser: every split of a stream gives the same
 * events, caps hold, ERROR 410 ends the stream as expired. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kube.h"
#include "sk_test.h"
#include "util/error.h"

typedef struct {
  int n;
  sk_kube_event_type_t types[32];
  char names[32][32];
  long codes[32];
  int stop_at; /* return SK_ECANCELED on this event (1-based), 0 = never */
} rec_t;

static int on_ev(const sk_kube_event_t *ev, void *arg) {
  rec_t *r = arg;
  if (r->n < 32) {
    r->types[r->n] = ev->type;
    const char *name = json_string_value(json_object_get(json_object_get(ev->object, "metadata"), "name"));
    snprintf(r->names[r->n], sizeof(r->names[0]), "%s", name ? name : "");
    r->codes[r->n] = ev->code;
  }
  r->n++;
  if (r->stop_at && r->n == r->stop_at)
    return SK_ECANCELED;
  return 0;
}

static const char stream[] =
    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"1\"}}}\n"
    "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"b\",\"resourceVersion\":\"2\"}}}\n"
    "\n"
    "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"3\"}}}\r\n"
    "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"c\",\"resourceVersion\":\"4\"}}}\n";

static void check_stream(const rec_t *r) {
  CHECK_INT(r->n, 4);
  CHECK_INT(r->types[0], SK_KUBE_EV_ADDED);
  CHECK_STR(r->names[0], "a");
  CHECK_INT(r->types[1], SK_KUBE_EV_MODIFIED);
  CHECK_STR(r->names[1], "b");
  CHECK_INT(r->types[2], SK_KUBE_EV_BOOKMARK);
  CHECK_INT(r->types[3], SK_KUBE_EV_DELETED);
  CHECK_STR(r->names[3], "c");
}

TEST(whole_stream_in_one_chunk) {
  rec_t r = {0};
  sk_kube_watch_parser_t p;
  sk_kube_watch_parser_init(&p, 0, on_ev, &r);
  CHECK_INT(sk_kube_watch_parser_feed(&p, stream, strlen(stream)), 0);
  CHECK_INT(sk_kube_watch_parser_finish(&p), 0);
  check_stream(&r);
  CHECK_INT(p.events, 4);
  sk_kube_watch_parser_release(&p);
}

TEST(every_two_way_split) {
  size_t len = strlen(stream);
  for (size_t cut = 0; cut <= len; cut++) {
    rec_t r = {0};
    sk_kube_watch_parser_t p;
    sk_kube_watch_parser_init(&p, 0, on_ev, &r);
    int rc1 = sk_kube_watch_parser_feed(&p, stream, cut);
    int rc2 = sk_kube_watch_parser_feed(&p, stream + cut, len - cut);
    int rc3 = sk_kube_watch_parser_finish(&p);
    if (rc1 || rc2 || rc3 || r.n != 4)
      FAILF("cut at %zu: rc %d %d %d, %d events", cut, rc1, rc2, rc3, r.n);
    else
      check_stream(&r);
    sk_kube_watch_parser_release(&p);
  }
}

TEST(byte_by_byte_and_three_way_splits) {
  size_t len = strlen(stream);
  rec_t r = {0};
  sk_kube_watch_parser_t p;
  sk_kube_watch_parser_init(&p, 0, on_ev, &r);
  for (size_t i = 0; i < len; i++)
    CHECK_INT(sk_kube_watch_parser_feed(&p, stream + i, 1), 0);
  CHECK_INT(sk_kube_watch_parser_finish(&p), 0);
  check_stream(&r);
  sk_kube_watch_parser_release(&p);

  /* A sample of three-piece splits covers lines that span three chunks. */
  for (size_t a = 0; a < len; a += 7) {
    for (size_t b = a; b < len; b += 13) {
      rec_t r3 = {0};
      sk_kube_watch_parser_init(&p, 0, on_ev, &r3);
      int rc = sk_kube_watch_parser_feed(&p, stream, a);
      rc |= sk_kube_watch_parser_feed(&p, stream + a, b - a);
      rc |= sk_kube_watch_parser_feed(&p, stream + b, len - b);
      rc |= sk_kube_watch_parser_finish(&p);
      if (rc || r3.n != 4)
        FAILF("cuts %zu,%zu: rc %d, %d events", a, b, rc, r3.n);
      sk_kube_watch_parser_release(&p);
    }
  }
}

TEST(unterminated_last_line_is_parsed_at_finish) {
  const char *s = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"x\"}}}";
  rec_t r = {0};
  sk_kube_watch_parser_t p;
  sk_kube_watch_parser_init(&p, 0, on_ev, &r);
  CHECK_INT(sk_kube_watch_parser_feed(&p, s, strlen(s)), 0);
  CHECK_INT(r.n, 0);
  CHECK_INT(sk_kube_watch_parser_finish(&p), 0);
  CHECK_INT(r.n, 1);
  CHECK_STR(r.names[0], "x");
  sk_kube_watch_parser_release(&p);

  /* A truncated last line is a parse error, not a silent drop. */
  rec_t r2 = {0};
  sk_kube_watch_parser_init(&p, 0, on_ev, &r2);
  CHECK_INT(sk_kube_watch_parser_feed(&p, s, 20), 0);
  CHECK_INT(sk_kube_watch_parser_finish(&p), SK_EPARSE);
  CHECK_INT(r2.n, 0);
  sk_kube_watch_parser_release(&p);
}

TEST(error_410_is_delivered_then_gone) {
  const char *s =
      "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n"
      "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\","
      "\"status\":\"Failure\",\"message\":\"too old resource version: 1 (5)\","
      "\"reason\":\"Expired\",\"code\":410}}\n"
      "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"never\"}}}\n";
  rec_t r = {0};
  sk_kube_watch_parser_t p;
  sk_kube_watch_parser_init(&p, 0, on_ev, &r);
  CHECK_INT(sk_kube_watch_parser_feed(&p, s, strlen(s)), SK_EGONE);
  CHECK_INT(r.n, 2);
  CHECK_INT(r.types[1], SK_KUBE_EV_ERROR);
  CHECK_INT(r.codes[1], 410);
  /* The parser stays failed: later data is not delivered. */
  CHECK_INT(sk_kube_watch_parser_feed(&p, "{}\n", 3), SK_EGONE);
  CHECK_INT(sk_kube_watch_parser_finish(&p), SK_EGONE);
  CHECK_INT(r.n, 2);
  sk_kube_watch_parser_release(&p);
}

TEST(error_other_code_goes_on) {
  const char *s =
      "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":500,\"message\":\"boom\"}}\n"
      "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n";
  rec_t r = {0};
  sk_kube_watch_parser_t p;
  sk_kube_watch_parser_init(&p, 0, on_ev, &r);
  CHECK_INT(sk_kube_watch_parser_feed(&p, s, strlen(s)), 0);
  CHECK_INT(r.n, 2);
  CHECK_INT(r.codes[0], 500);
  CHECK_INT(r.types[1], SK_KUBE_EV_ADDED);
  sk_kube_watch_parser_release(&p);
}

TEST(malformed_lines_are_parse_errors) {
  const char *bad[] = {
      "not json\n",
      "[1,2]\n",
      "{\"type\":\"ADDED\"}\n",
      "{\"type\":\"ADDED\",\"object\":\"str\"}\n",
      "{\"type\":\"RENAMED\",\"object\":{}}\n",
      "{\"type\":7,\"object\":{}}\n",
      "{\"type\":\"ADDED\",\"object\":{}} trailing\n",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    rec_t r = {0};
    sk_kube_watch_parser_t p;
    sk_kube_watch_parser_init(&p, 0, on_ev, &r);
    int rc = sk_kube_watch_parser_feed(&p, bad[i], strlen(bad[i]));
    if (rc != SK_EPARSE)
      FAILF("input %zu: rc %d, want SK_EPARSE", i, rc);
    CHECK_INT(r.n, 0);
    sk_kube_watch_parser_release(&p);
  }
}

TEST(line_cap_in_one_chunk_and_across_chunks) {
  const char *ok = "{\"type\":\"ADDED\",\"object\":{}}\n"; /* 29 bytes + newline */
  size_t linelen = strlen(ok) - 1;
  rec_t r = {0};
  sk_kube_watch_parser_t p;
  /* A line exactly at the cap passes, byte by byte and whole. */
  sk_kube_watch_parser_init(&p, linelen, on_ev, &r);
  CHECK_INT(sk_kube_watch_parser_feed(&p, ok, strlen(ok)), 0);
  for (size_t i = 0; i < strlen(ok); i++)
    CHECK_INT(sk_kube_watch_parser_feed(&p, ok + i, 1), 0);
  CHECK_INT(r.n, 2);
  sk_kube_watch_parser_release(&p);

  /* One byte more fails, whole or split. */
  const char *big = "{\"type\":\"ADDED\",\"object\":{} }\n";
  sk_kube_watch_parser_init(&p, linelen, on_ev, &r);
  CHECK_INT(sk_kube_watch_parser_feed(&p, big, strlen(big)), SK_ETOOBIG);
  sk_kube_watch_parser_release(&p);
  sk_kube_watch_parser_init(&p, linelen, on_ev, &r);
  CHECK_INT(sk_kube_watch_parser_feed(&p, big, 10), 0);
  CHECK_INT(sk_kube_watch_parser_feed(&p, big + 10, strlen(big) - 10), SK_ETOOBIG);
  sk_kube_watch_parser_release(&p);

  /* A peer that never sends a newline cannot grow the buffer past the cap. */
  char chunk[1000];
  memset(chunk, 'x', sizeof(chunk));
  sk_kube_watch_parser_init(&p, 4096, on_ev, &r);
  int rc = 0, i = 0;
  for (; i < 100 && rc == 0; i++)
    rc = sk_kube_watch_parser_feed(&p, chunk, sizeof(chunk));
  CHECK_INT(rc, SK_ETOOBIG);
  CHECK_INT(i, 5);
  CHECK(p.cap <= 4096);
  sk_kube_watch_parser_release(&p);
}

TEST(default_cap_is_16_mib) {
  sk_kube_watch_parser_t p;
  sk_kube_watch_parser_init(&p, 0, NULL, NULL);
  CHECK_INT(p.max_line, 16u << 20);
  sk_kube_watch_parser_release(&p);
}

TEST(handler_error_stops_the_stream) {
  rec_t r = {.stop_at = 2};
  sk_kube_watch_parser_t p;
  sk_kube_watch_parser_init(&p, 0, on_ev, &r);
  CHECK_INT(sk_kube_watch_parser_feed(&p, stream, strlen(stream)), SK_ECANCELED);
  CHECK_INT(r.n, 2);
  sk_kube_watch_parser_release(&p);
}

TEST(event_names) {
  CHECK_STR(sk_kube_event_type_name(SK_KUBE_EV_ADDED), "ADDED");
  CHECK_STR(sk_kube_event_type_name(SK_KUBE_EV_ERROR), "ERROR");
  CHECK_STR(sk_kube_event_type_name((sk_kube_event_type_t)99), "UNKNOWN");
}

int main(void) {
  RUN(whole_stream_in_one_chunk);
  RUN(every_two_way_split);
  RUN(byte_by_byte_and_three_way_splits);
  RUN(unterminated_last_line_is_parsed_at_finish);
  RUN(error_410_is_delivered_then_gone);
  RUN(error_other_code_goes_on);
  RUN(malformed_lines_are_parse_errors);
  RUN(line_cap_in_one_chunk_and_across_chunks);
  RUN(default_cap_is_16_mib);
  RUN(handler_error_stops_the_stream);
  RUN(event_names);
  return TEST_DONE();
}
