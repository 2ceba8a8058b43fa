#include <string.h>

#include "engine/outputs.h"
#include "sk_test.h"
#include "util/error.h"

/* Parses s and returns the outputs as compact sorted JSON text (a new
 * string, "null" for no outputs), or "ERR <code>: <message>". */
static char *parse(const char *s, size_t len) {
  char err[512] = "unset";
  json_t *out = (json_t *)1;
  int rc = sk_outputs_parse(s, len, &out, err, sizeof(err));
  char *text;
  if (rc < 0) {
    if (out != NULL)
      return strdup("BUG: out not NULL on error");
    size_t n = strlen(err) + 32;
    text = malloc(n);
    snprintf(text, n, "ERR %d: %s", rc, err);
    return text;
  }
  if (!out)
    return strdup("null");
  text = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(out);
  return text;
}

#define CHECK_PARSE(s, want)                                                               \
  do {                                                                                     \
    char *got_ = parse((s), strlen(s));                                                    \
    CHECK_STR(got_, want);                                                                 \
    free(got_);                                                                            \
  } while (0)

TEST(empty_is_no_outputs) {
  CHECK_PARSE("", "null");
  CHECK_PARSE("  \n\r\n\t", "null");
  CHECK_PARSE("{}", "null");
  CHECK_PARSE(" { } \n", "null");
}

TEST(lines) {
  CHECK_PARSE("accuracy=0.93\n", "{\"accuracy\":\"0.93\"}");
  CHECK_PARSE("a=1\nb=two words\n\nc=", "{\"a\":\"1\",\"b\":\"two words\",\"c\":\"\"}");
  /* A trailing \r is dropped (files written on Windows), other spaces kept. */
  CHECK_PARSE("a=x \r\nb= y\r\n", "{\"a\":\"x \",\"b\":\" y\"}");
  /* The value is everything after the first '='. */
  CHECK_PARSE("url=http://h/?q=1&r=2", "{\"url\":\"http://h/?q=1&r=2\"}");
  /* A later line replaces an earlier one. */
  CHECK_PARSE("v=1\nv=2\n", "{\"v\":\"2\"}");
  CHECK_PARSE("_x-y_9=z", "{\"_x-y_9\":\"z\"}");
  CHECK_PARSE("   \n\nk=v\n \t \n", "{\"k\":\"v\"}");
  CHECK_PARSE("name=caf\xc3\xa9", "{\"name\":\"caf\xc3\xa9\"}");
}

TEST(lines_errors) {
  CHECK_PARSE("a=1\nhello\n",
              "ERR -6: outputs file line 2: expected NAME=VALUE, got \"hello\"");
  CHECK_PARSE("a=1\n\n\n9x=1\n",
              "ERR -6: outputs file line 4: name \"9x\" is not valid (expected letters, digits, "
              "'_' and '-', not starting with a digit or '-')");
  CHECK_PARSE("=v", "ERR -6: outputs file line 1: name \"\" is not valid (expected letters, "
                    "digits, '_' and '-', not starting with a digit or '-')");
  CHECK_PARSE("a b=1", "ERR -6: outputs file line 1: name \"a b\" is not valid (expected "
                       "letters, digits, '_' and '-', not starting with a digit or '-')");
  CHECK_PARSE("bad=\xff\xfe", "ERR -6: outputs file line 1: the value is not UTF-8 text");
  /* Control bytes in the echoed text are shown as '?'. */
  CHECK_PARSE("no\tequals", "ERR -6: outputs file line 1: expected NAME=VALUE, got \"no?equals\"");
  /* A NUL byte inside a value is not text. */
  char nul[] = {'a', '=', 'x', '\0', 'y'};
  char *got = parse(nul, sizeof(nul));
  CHECK_STR(got, "ERR -6: outputs file line 1: the value is not UTF-8 text");
  free(got);
  /* Long garbage is cut in the message. */
  char longline[200];
  memset(longline, 'x', sizeof(longline) - 1);
  longline[sizeof(longline) - 1] = '\0';
  got = parse(longline, strlen(longline));
  CHECK(strstr(got, "got \"xxxxxxxxxx") != NULL);
  CHECK(strstr(got, "...\"") != NULL);
  CHECK(strlen(got) < 150);
  free(got);
}

TEST(json) {
  CHECK_PARSE("{\"accuracy\": 0.93, \"epochs\": 5, \"ok\": true, \"no\": false, \"s\": \"x y\"}",
              "{\"accuracy\":\"0.93\",\"epochs\":\"5\",\"no\":\"false\",\"ok\":\"true\",\"s\":\"x y\"}");
  CHECK_PARSE("\n  {\"a\": 0.1, \"b\": -2.5e-7, \"c\": 1e3, \"d\": -7}\n",
              "{\"a\":\"0.1\",\"b\":\"-2.5e-07\",\"c\":\"1000\",\"d\":\"-7\"}");
}

TEST(json_errors) {
  CHECK_PARSE("{\"a\": {\"b\": 1}}",
              "ERR -6: outputs file: value of \"a\" is an object; outputs are strings, numbers "
              "or booleans (write nested data as a JSON string)");
  CHECK_PARSE("{\"a\": [1]}",
              "ERR -6: outputs file: value of \"a\" is an array; outputs are strings, numbers "
              "or booleans (write nested data as a JSON string)");
  CHECK_PARSE("{\"a\": null}",
              "ERR -6: outputs file: value of \"a\" is null; outputs are strings, numbers or "
              "booleans (write nested data as a JSON string)");
  CHECK_PARSE("{\"a b\": 1}",
              "ERR -6: outputs file: name \"a b\" is not valid (expected letters, digits, '_' "
              "and '-', not starting with a digit or '-')");
  char *got = parse("{\"a\": 1", 7);
  CHECK(strncmp(got, "ERR -6: outputs file is not valid JSON: line 1", 46) == 0);
  if (strncmp(got, "ERR -6: outputs file is not valid JSON: line 1", 46) != 0)
    printf("  got: %s\n", got);
  free(got);
  got = parse("{\"a\": 1} trailing", 17);
  CHECK(strncmp(got, "ERR -6: outputs file is not valid JSON", 38) == 0);
  free(got);
}

TEST(size_cap) {
  char big[SK_OUTPUTS_MAX_BYTES + 2];
  memset(big, 'x', sizeof(big));
  memcpy(big, "a=", 2);
  /* Exactly at the cap is fine. */
  char *got = parse(big, SK_OUTPUTS_MAX_BYTES);
  CHECK(strncmp(got, "{\"a\":\"xxx", 9) == 0);
  free(got);
  got = parse(big, 5000 > sizeof(big) ? sizeof(big) : 5000);
  CHECK_STR(got, "ERR -5: outputs file is 4098 bytes, over the 4096-byte limit (a Pod's "
                 "termination message is capped the same way); pass large artifacts as files "
                 "or URIs");
  free(got);
  char err[300];
  CHECK_INT(sk_outputs_check_size(4096, err, sizeof(err)), 0);
  CHECK_INT(sk_outputs_check_size(1 << 20, err, sizeof(err)), SK_ETOOBIG);
  CHECK(strncmp(err, "outputs file is 1048576 bytes, over the 4096-byte limit", 55) == 0);
}

int main(void) {
  RUN(empty_is_no_outputs);
  RUN(lines);
  RUN(lines_errors);
  RUN(json);
  RUN(json_errors);
  RUN(size_cap);
  return TEST_DONE();
}
