#include <stdint.h>

#include "sk_test.h"
#include "util/buf.h"
#include "util/diag.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strutil.h"
#include "util/timeutil.h"

TEST(buf_cap) {
  sk_buf_t b;
  sk_buf_init(&b, 8);
  CHECK_INT(sk_buf_puts(&b, "12345678"), 0);
  CHECK_INT(sk_buf_putc(&b, 'x'), SK_ETOOBIG);
  CHECK_INT(b.len, 8);
  CHECK_STR(b.data, "12345678");
  sk_buf_reset(&b);
  CHECK_INT(sk_buf_printf(&b, "%d-%s", 42, "ab"), 0);
  CHECK_STR(b.data, "42-ab");
  CHECK_INT(sk_buf_printf(&b, "%s", "too long"), SK_ETOOBIG);
  CHECK_STR(b.data, "42-ab");
  char *s = sk_buf_steal(&b);
  CHECK_STR(s, "42-ab");
  free(s);
  s = sk_buf_steal(&b);
  CHECK_STR(s, "");
  free(s);
}

TEST(parse_numbers) {
  int64_t v = 0;
  CHECK_INT(sk_parse_int64("42", &v), 0);
  CHECK_INT(v, 42);
  CHECK_INT(sk_parse_int64("-7", &v), 0);
  CHECK_INT(v, -7);
  CHECK_INT(sk_parse_int64("4x", &v), SK_EPARSE);
  CHECK_INT(sk_parse_int64("", &v), SK_EPARSE);
  CHECK_INT(sk_parse_int64(" 4", &v), SK_EPARSE);
  CHECK_INT(sk_parse_int64("99999999999999999999", &v), SK_ERANGE);
  double d = 0;
  CHECK_INT(sk_parse_double("0.93", &d), 0);
  CHECK(d > 0.929 && d < 0.931);
  CHECK_INT(sk_parse_double("1e3", &d), 0);
  CHECK_INT(sk_parse_double("0x10", &d), SK_EPARSE);
  CHECK_INT(sk_parse_double("nan", &d), SK_EPARSE);
  CHECK_INT(sk_parse_double("1e999", &d), SK_ERANGE);
  CHECK_INT(sk_parse_double("1.", &d), 0);
}

TEST(dns1123) {
  CHECK(sk_is_dns1123_label("train-0"));
  CHECK(!sk_is_dns1123_label("Train"));
  CHECK(!sk_is_dns1123_label("-a"));
  CHECK(!sk_is_dns1123_label("a-"));
  CHECK(!sk_is_dns1123_label(""));
  CHECK(!sk_is_dns1123_label("a_b"));
  CHECK(sk_is_dns1123_label("0123456789012345678901234567890123456789012345678901234567890ab"));
  CHECK(!sk_is_dns1123_label("0123456789012345678901234567890123456789012345678901234567890abc"));
  CHECK(sk_is_dns1123_subdomain("a.b-c.d"));
  CHECK(!sk_is_dns1123_subdomain("a..b"));
}

TEST(utf8) {
  size_t off = 99;
  CHECK(sk_utf8_valid("h\xC3\xA9llo", 6, &off));
  CHECK(!sk_utf8_valid("ab\xC3(", 4, &off));
  CHECK_INT(off, 2);
  CHECK(!sk_utf8_valid("\xC0\x80", 2, &off)); /* overlong NUL */
  CHECK(!sk_utf8_valid("\xED\xA0\x80", 3, &off)); /* surrogate */
  CHECK(!sk_utf8_valid("x\xE2\x82", 3, &off)); /* truncated */
  CHECK_INT(off, 1);
}

TEST(capped) {
  char *s = sk_strdup_capped("hello", 10);
  CHECK_STR(s, "hello");
  free(s);
  s = sk_strdup_capped("0123456789abcdefghij", 16);
  CHECK_STR(s, "0123456\xE2\x80\xA6 (cut)");
  CHECK(strlen(s) <= 16);
  free(s);
}

TEST(time_roundtrip) {
  char buf[32];
  CHECK_INT(sk_time_format(0, buf, sizeof buf), 0);
  CHECK_STR(buf, "1970-01-01T00:00:00Z");
  int64_t ms = 0;
  CHECK_INT(sk_time_parse("2026-11-22T07:32:30.125Z", &ms), 0);
  CHECK_INT(sk_time_format(ms, buf, sizeof buf), 0);
  CHECK_STR(buf, "2026-11-22T07:32:30.125Z");
  CHECK_INT(sk_time_parse("2026-11-22T08:32:30+01:00", &ms), 0);
  CHECK_INT(sk_time_format(ms, buf, sizeof buf), 0);
  CHECK_STR(buf, "2026-11-22T07:32:30Z");
  CHECK_INT(sk_time_parse("2026-13-22T07:32:30Z", &ms), SK_ERANGE);
  CHECK_INT(sk_time_parse("yesterday", &ms), SK_EPARSE);
  CHECK_INT(sk_duration_format(850, buf, sizeof buf), 0);
  CHECK_STR(buf, "850ms");
  CHECK_INT(sk_duration_format(12345, buf, sizeof buf), 0);
  CHECK_STR(buf, "12.3s");
  CHECK_INT(sk_duration_format(245000, buf, sizeof buf), 0);
  CHECK_STR(buf, "4m05s");
}

TEST(diags) {
  sk_diags_t d;
  sk_diags_init(&d);
  sk_diags_add(&d, "b.yaml", 3, 1, "spec", "second");
  sk_diags_add(&d, "a.yaml", 9, 2, "spec.steps[0].name", "first %d", 1);
  sk_diags_add(&d, "b.yaml", 1, 5, NULL, "third");
  sk_diags_sort(&d);
  sk_buf_t b;
  sk_buf_init(&b, 1024);
  sk_diag_format(&d.items[0], &b);
  CHECK_STR(b.data, "a.yaml:9:2: spec.steps[0].name: first 1");
  sk_buf_reset(&b);
  sk_diag_format(&d.items[1], &b);
  CHECK_STR(b.data, "b.yaml:1:5: third");
  sk_buf_release(&b);
  sk_diags_release(&d);
}

TEST(log_lines) {
  FILE *f = tmpfile();
  REQUIRE(f != NULL);
  sk_log_setup(SK_LOG_TEXT, 1, f);
  sk_log_info("informer", "listed %d pods", 3);
  sk_log_v(2, "http", "hidden at verbosity 1");
  sk_log_v(1, "lease", "became leader");
  sk_log_setup(SK_LOG_JSON, 0, f);
  sk_log_warn("queue", "say \"%s\"", "hi");
  sk_log_v(1, "lease", "hidden at verbosity 0");
  sk_log_setup(SK_LOG_TEXT, 0, NULL);
  rewind(f);
  char line[512];
  REQUIRE(fgets(line, sizeof(line), f) != NULL);
  CHECK(strncmp(line, "I 20", 4) == 0);
  CHECK(strstr(line, " informer: listed 3 pods\n") != NULL);
  REQUIRE(fgets(line, sizeof(line), f) != NULL);
  CHECK(strstr(line, " lease: became leader\n") != NULL);
  REQUIRE(fgets(line, sizeof(line), f) != NULL);
  CHECK(strstr(line, "\"level\":\"warning\",\"logger\":\"queue\",\"msg\":\"say \\\"hi\\\"\"}") != NULL);
  if (!strstr(line, "\"msg\":\"say \\\"hi\\\"\"}"))
    printf("  got: %s", line);
  CHECK(fgets(line, sizeof(line), f) == NULL);
  fclose(f);
  sk_log_format_t fmt;
  CHECK_INT(sk_log_format_parse("json", &fmt), 0);
  CHECK_INT(fmt, SK_LOG_JSON);
  CHECK_INT(sk_log_format_parse("yaml", &fmt), SK_EINVAL);
}

int main(void) {
  RUN(buf_cap);
  RUN(parse_numbers);
  RUN(dns1123);
  RUN(utf8);
  RUN(capped);
  RUN(time_roundtrip);
  RUN(diags);
  RUN(log_lines);
  return TEST_DONE();
}
