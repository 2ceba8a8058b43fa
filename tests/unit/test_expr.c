#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sk_test.h"
#include "spec/expr.h"
#include "util/buf.h"
#include "util/error.h"

#define MENU                                                                               \
  "expected params.NAME, steps.STEP.outputs.NAME, steps.STEP.phase, "                     \
  "workflow.name|namespace|uid|phase or item"

typedef struct {
  int calls;
} counter_t;

static bool is(const char *p, size_t n, const char *s) {
  return strlen(s) == n && memcmp(p, s, n) == 0;
}

/* Fixed values for the tests. steps.bad.* fails with a message;
 * params.silent fails without one; params.huge overflows any cap. */
static int resolve(void *ud, const sk_ref_t *ref, sk_buf_t *out, char *err, size_t errlen) {
  counter_t *c = ud;
  if (c)
    c->calls++;
  static const struct {
    const char *name;
    const char *value;
  } params[] = {
      {"a", "10"},      {"b", "9"},        {"acc", " 0.9"},   {"min", "0.9"},
      {"t", "true"},    {"f", "false"},    {"zero", "0"},     {"empty", ""},
      {"nl", "5\n"},    {"word", "abc"},   {"expr", "1 == 1"}, {"quote", "\"x\" || true"},
  };
  switch (ref->kind) {
  case SK_REF_PARAM:
    for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
      if (is(ref->a, ref->alen, params[i].name))
        return sk_buf_puts(out, params[i].value);
    }
    if (is(ref->a, ref->alen, "silent"))
      return SK_EIO;
    if (is(ref->a, ref->alen, "huge")) {
      static char chunk[65536];
      memset(chunk, 'x', sizeof(chunk));
      for (;;) {
        int rc = sk_buf_append(out, chunk, sizeof(chunk));
        if (rc < 0)
          return rc;
      }
    }
    snprintf(err, errlen, "no parameter named %.*s", (int)ref->alen, ref->a);
    return SK_ENOENT;
  case SK_REF_STEP_OUTPUT:
    if (is(ref->a, ref->alen, "bad")) {
      snprintf(err, errlen, "step bad has not run");
      return SK_ENOENT;
    }
    /* An output that looks like code must stay a value. */
    return sk_buf_puts(out, "1 || true");
  case SK_REF_STEP_PHASE:
    if (is(ref->a, ref->alen, "bad")) {
      snprintf(err, errlen, "step bad has not run");
      return SK_ENOENT;
    }
    return sk_buf_puts(out, "Succeeded");
  case SK_REF_WORKFLOW:
    return sk_buf_puts(out, "Succeeded");
  case SK_REF_ITEM:
    return sk_buf_puts(out, ref->alen ? "k" : "0.01");
  }
  return SK_EINVAL;
}

TEST(eval_table) {
  static const struct {
    const char *src;
    bool want;
  } cases[] = {
      /* Numbers compare numerically when both sides are numbers. */
      {"1 == 1", true},
      {"1.0 == 1", true},
      {"\"1.0\" == \"1\"", true},
      {"'1.0' != '1'", false},
      {"\"10\" > \"9\"", true},
      {"10 > 9", true},
      {"9 < 10", true},
      {"-1 < 0", true},
      {"+5 == 5", true},
      {".5 == 0.5", true},
      {"1e3 == 1000", true},
      {"2 >= 2", true},
      {"2 <= 1.999", false},
      {"\" 5 \" == 5", true},
      /* Otherwise strings compare bytewise. */
      {"\"b\" > \"a\"", true},
      {"\"abc\" == \"abc\"", true},
      {"\"abc\" != \"abd\"", true},
      {"abc < abd", true},
      {"\"abc\" < \"abcd\"", true},
      {"\"B\" < \"a\"", true},
      {"\"10\" > \"9x\"", false},
      {"\"1e999\" == \"1e999\"", true},
      {"\"\" == ''", true},
      {"\"\" < a", true},
      {"a.b-c == 'a.b-c'", true},
      {"TRUE == \"TRUE\"", true},
      {"TRUE == true", false},
      /* Literals true/false are the strings "true"/"false". */
      {"true == \"true\"", true},
      {"false == 'false'", true},
      {"true != false", true},
      /* Placeholders. */
      {"{{params.a}} > {{params.b}}", true},
      {"{{ params.a }} > 9.5", true},
      {"{{params.a}} < 9", false},
      {"{{params.acc}} >= {{params.min}}", true},
      {"{{params.acc}} == 0.9", true},
      {"{{params.acc}} == '0.9'", true},
      {"{{params.nl}} == 5", true},
      {"{{params.t}} == true", true},
      {"{{params.f}} == false", true},
      {"{{params.t}} == false", false},
      {"{{workflow.phase}} == Succeeded", true},
      {"{{workflow.phase}} != Failed", true},
      {"{{steps.evaluate.phase}} == 'Succeeded'", true},
      {"{{params.a}}0 == 100", true},
      {"x{{params.a}} == x10", true},
      {"{{params.a}}{{params.b}} == 109", true},
      {"\"v{{params.a}}\" == v10", true},
      {"'{{item}}' == 0.01", true},
      {"{{item.k}} == k", true},
      {"{{params.word}} == abc", true},
      /* Injection: a resolved value is data, never code. */
      {"{{steps.s.outputs.x}} == 2", false},
      {"{{steps.s.outputs.x}} == '1 || true'", true},
      {"{{steps.s.outputs.x}}", true},
      {"{{params.expr}} == true", false},
      {"{{params.quote}} == x", false},
      /* Escapes in strings. */
      {"'a\\'b' == \"a'b\"", true},
      {"\"a\\\"b\" == 'a\"b'", true},
      {"'a\\\\b' == \"a\\\\b\"", true},
      {"'\\{{x}}' == \"\\{{x}}\"", true},
      {"\"\\n\" != \"n\"", true},
      {"'\\t' == \"\\t\"", true},
      {"'\\{{params.a}}' == '10'", false},
      /* Truthiness of a lone operand. */
      {"true", true},
      {"false", false},
      {"x", true},
      {"0", false},
      {"0.0", true},
      {"1", true},
      {"''", false},
      {"'false'", false},
      {"'0'", false},
      {"{{params.t}}", true},
      {"{{params.f}}", false},
      {"{{params.zero}}", false},
      {"{{params.empty}}", false},
      /* Logic and precedence: ! applies to a whole comparison. */
      {"!true", false},
      {"!false", true},
      {"!!true", true},
      {"!1 == 2", true},
      {"!1 == 1", false},
      {"!(1 == 1)", false},
      {"!{{params.f}}", true},
      {"true && false", false},
      {"true || false", true},
      {"false || false || true", true},
      {"true && true && false", false},
      {"true || false && false", true},
      {"(true || false) && false", false},
      {"false && false || true", true},
      {"false && (false || true)", false},
      {"1 < 2 && 3 < 4", true},
      {"1 < 2 && 3 > 4 || a == a", true},
      {"((((1 == 1))))", true},
      {"(1 < 2) == true", true},
      {"(1 > 2) == 'false'", true},
      {"!(1 > 2) && !(2 > 3)", true},
      {"  1==1  ", true},
      {"1==1&&2!=3", true},
      {"\n1\t==\r\n1\n", true},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    sk_expr_t *e = NULL;
    char err[512] = "";
    size_t off = 0;
    int rc = sk_expr_parse(cases[i].src, &e, err, sizeof(err), &off);
    if (rc != 0) {
      FAILF("parse(%s) == %d (%s at %zu), want 0", cases[i].src, rc, err, off);
      continue;
    }
    bool got = !cases[i].want;
    rc = sk_expr_eval(e, resolve, NULL, &got, err, sizeof(err));
    if (rc != 0)
      FAILF("eval(%s) == %d (%s), want 0", cases[i].src, rc, err);
    else if (got != cases[i].want)
      FAILF("eval(%s) == %s, want %s", cases[i].src, got ? "true" : "false",
            cases[i].want ? "true" : "false");
    sk_expr_destroy(e);
  }
}

TEST(parse_errors) {
  static const struct {
    const char *src;
    const char *want;
    size_t off;
  } cases[] = {
      {"", "empty expression", 0},
      {"   ", "empty expression", 0},
      {"1 >=", "expected an operand after '>='", 4},
      {"1 >= )", "expected an operand after '>='", 5},
      {"1 == == 2", "expected an operand after '=='", 5},
      {"1 &&", "expected an operand after '&&'", 4},
      {"1 || ", "expected an operand after '||'", 5},
      {"!", "expected an operand after '!'", 1},
      {"()", "expected an operand after '('", 1},
      {"&& 1", "expected an operand, found '&&'", 0},
      {"== 1", "expected an operand, found '=='", 0},
      {"(1 == 2", "unbalanced '('", 0},
      {"x && ((1)", "unbalanced '('", 5},
      {"1 == 2)", "unexpected ')'", 6},
      {")", "unexpected ')'", 0},
      {"(1))", "unexpected ')'", 3},
      {"a = b", "'=' is not an operator (did you mean '=='?)", 2},
      {"a === b", "'=' is not an operator (did you mean '=='?)", 4},
      {"a & b", "'&' is not an operator (did you mean '&&'?)", 2},
      {"a | b", "'|' is not an operator (did you mean '||'?)", 2},
      {"\"abc", "unterminated string", 0},
      {"x == 'abc", "unterminated string", 5},
      {"'abc\"", "unterminated string", 0},
      {"\"abc\\", "unterminated string", 0},
      {"1 2", "expected '&&', '||' or the end after '1'", 2},
      {"1 == 2 3", "expected '&&', '||' or the end after '2'", 7},
      {"true true", "expected '&&', '||' or the end after 'true'", 5},
      {"1 == 1 !x", "expected '&&', '||' or the end after '1'", 7},
      {"(1) (2)", "expected '&&', '||' or the end after ')'", 4},
      {"'abcdefghijklmnopqrstuvwxyz0123456789' x",
       "expected '&&', '||' or the end after ''abcdefghijklmnopqrstuvwxyz01234...'", 39},
      {"(1 2)", "expected '&&', '||' or ')' after '1'", 3},
      {"1 < 2 < 3", "comparison operators do not chain (use '&&' between comparisons)", 6},
      {"(a == b != c)", "comparison operators do not chain (use '&&' between comparisons)", 8},
      {"1 # 2", "unexpected character '#'", 2},
      {"1 \x01", "unexpected byte 0x01", 2},
      {"a == \xc3\xa9", "unexpected byte 0xc3", 5},
      {"\\{{a}}", "unexpected character '\\'", 0},
      {"}} == 1", "unexpected character '}'", 0},
      {"1.2.3 == x", "'1.2.3' is neither a number nor a word (quote it to use it as a string)", 0},
      {"x == 2024-01-01",
       "'2024-01-01' is neither a number nor a word (quote it to use it as a string)", 5},
      {"1-1 == 0", "'1-1' is neither a number nor a word (quote it to use it as a string)", 0},
      {"x == -", "'-' is neither a number nor a word (quote it to use it as a string)", 5},
      {"1e999 > 1", "number '1e999' is out of range", 0},
      {"{{params.a", "unclosed \"{{\"", 0},
      {"x == a{{params.a}", "unclosed \"{{\"", 6},
      {"'{{params.a' == '}}'", "unclosed \"{{\" in string", 1},
      {"{{foo}} == 1", "unknown reference \"foo\": " MENU, 0},
      {"x == \"a{{}}\"", "empty placeholder \"{{}}\": " MENU, 7},
      {"{{workflow.nope}}",
       "unknown workflow field \"nope\" (expected name, namespace, uid or phase)", 0},
      {"{{steps.a.output.x}} > 1",
       "unknown step field \"output\" in \"steps.a.output.x\" (did you mean \"outputs\"?)", 0},
      {"'\\d'", "unknown escape '\\d' in string (use \\\\, \\\", \\', \\n, \\t, \\r or \\{)", 1},
      {"'a\\\x01'", "unknown escape in string (use \\\\, \\\", \\', \\n, \\t, \\r or \\{)", 2},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    sk_expr_t *e = (sk_expr_t *)&cases;  /* must be reset to NULL on failure */
    char err[512] = "";
    size_t off = 12345;
    int rc = sk_expr_parse(cases[i].src, &e, err, sizeof(err), &off);
    if (rc != SK_EPARSE) {
      FAILF("parse(%s) == %d, want SK_EPARSE", cases[i].src, rc);
      if (rc == 0)
        sk_expr_destroy(e);
      continue;
    }
    CHECK(e == NULL);
    if (strcmp(err, cases[i].want) != 0 || off != cases[i].off)
      FAILF("parse(%s): \"%s\" at %zu, want \"%s\" at %zu", cases[i].src, err, off,
            cases[i].want, cases[i].off);
  }
}

/* Builds a string of n copies of pre, then mid, then n copies of post
 * (a new string to free). */
static char *nest(int n, const char *pre, const char *mid, const char *post) {
  sk_buf_t b;
  sk_buf_init(&b, 1 << 20);
  for (int i = 0; i < n; i++)
    sk_buf_puts(&b, pre);
  sk_buf_puts(&b, mid);
  for (int i = 0; i < n; i++)
    sk_buf_puts(&b, post);
  return sk_buf_steal(&b);
}

TEST(depth_cap) {
  char err[256];
  size_t off = 0;
  sk_expr_t *e = NULL;
  bool b = false;

  char *s = nest(SK_EXPR_MAX_DEPTH, "(", "1 == 1", ")");
  REQUIRE(s);
  CHECK_INT(sk_expr_parse(s, &e, err, sizeof(err), &off), 0);
  CHECK_INT(sk_expr_eval(e, resolve, NULL, &b, err, sizeof(err)), 0);
  CHECK(b);
  sk_expr_destroy(e);
  e = NULL;
  free(s);

  s = nest(SK_EXPR_MAX_DEPTH + 1, "(", "1", ")");
  REQUIRE(s);
  CHECK_INT(sk_expr_parse(s, &e, err, sizeof(err), &off), SK_EPARSE);
  CHECK_STR(err, "expression nested deeper than 64 levels");
  CHECK_INT(off, SK_EXPR_MAX_DEPTH);
  free(s);

  s = nest(SK_EXPR_MAX_DEPTH, "!", "true", "");
  REQUIRE(s);
  CHECK_INT(sk_expr_parse(s, &e, err, sizeof(err), &off), 0);
  CHECK_INT(sk_expr_eval(e, resolve, NULL, &b, err, sizeof(err)), 0);
  CHECK(b);  /* an even number of negations */
  sk_expr_destroy(e);
  e = NULL;
  free(s);

  s = nest(SK_EXPR_MAX_DEPTH + 1, "!", "true", "");
  REQUIRE(s);
  CHECK_INT(sk_expr_parse(s, &e, err, sizeof(err), &off), SK_EPARSE);
  CHECK_STR(err, "expression nested deeper than 64 levels");
  CHECK_INT(off, SK_EXPR_MAX_DEPTH);
  free(s);

  /* Mixed nesting counts both kinds. */
  s = nest(SK_EXPR_MAX_DEPTH / 2 + 1, "!(", "true", ")");
  REQUIRE(s);
  CHECK_INT(sk_expr_parse(s, &e, err, sizeof(err), &off), SK_EPARSE);
  CHECK_STR(err, "expression nested deeper than 64 levels");
  free(s);

  /* A long flat chain is not nesting. */
  s = nest(500, "true && ", "true", "");
  REQUIRE(s);
  CHECK_INT(sk_expr_parse(s, &e, err, sizeof(err), &off), 0);
  CHECK_INT(sk_expr_eval(e, resolve, NULL, &b, err, sizeof(err)), 0);
  CHECK(b);
  sk_expr_destroy(e);
  free(s);
}

TEST(length_cap) {
  char *s = malloc(SK_EXPR_MAX_LEN + 2);
  REQUIRE(s);
  memset(s, ' ', SK_EXPR_MAX_LEN + 1);
  memcpy(s, "1 == 1", 6);
  s[SK_EXPR_MAX_LEN] = '\0';
  sk_expr_t *e = NULL;
  char err[256] = "";
  size_t off = 0;
  CHECK_INT(sk_expr_parse(s, &e, err, sizeof(err), &off), 0);
  sk_expr_destroy(e);
  e = NULL;
  s[SK_EXPR_MAX_LEN] = ' ';
  s[SK_EXPR_MAX_LEN + 1] = '\0';
  CHECK_INT(sk_expr_parse(s, &e, err, sizeof(err), &off), SK_EPARSE);
  CHECK_STR(err, "expression is longer than 4096 bytes");
  CHECK_INT(off, SK_EXPR_MAX_LEN);
  CHECK(e == NULL);
  free(s);
}

TEST(parse_without_err_buffers) {
  sk_expr_t *e = NULL;
  CHECK_INT(sk_expr_parse("1 ==", &e, NULL, 0, NULL), SK_EPARSE);
  CHECK(e == NULL);
  CHECK_INT(sk_expr_parse(NULL, &e, NULL, 0, NULL), SK_EINVAL);
  char small[9];
  CHECK_INT(sk_expr_parse("a = b", &e, small, sizeof(small), NULL), SK_EPARSE);
  CHECK_STR(small, "'=' is n");
}

TEST(source_copied) {
  char buf[64];
  snprintf(buf, sizeof(buf), "{{params.a}} == 10");
  sk_expr_t *e = NULL;
  REQUIRE(sk_expr_parse(buf, &e, NULL, 0, NULL) == 0);
  /* The caller's text may go away; the references stay valid. */
  memset(buf, 'z', sizeof(buf) - 1);
  bool b = false;
  CHECK_INT(sk_expr_eval(e, resolve, NULL, &b, NULL, 0), 0);
  CHECK(b);
  sk_expr_destroy(e);
  sk_expr_destroy(NULL);
}

static bool eval_src(const char *src, counter_t *c, int *rc, char *err, size_t errlen) {
  sk_expr_t *e = NULL;
  bool b = false;
  *rc = sk_expr_parse(src, &e, err, errlen, NULL);
  if (*rc == 0)
    *rc = sk_expr_eval(e, resolve, c, &b, err, errlen);
  sk_expr_destroy(e);
  return b;
}

TEST(short_circuit) {
  static const struct {
    const char *src;
    int rc;
    bool want;
    int calls;
    const char *err;
  } cases[] = {
      {"false && {{steps.bad.phase}} == x", 0, false, 0, ""},
      {"true || {{steps.bad.phase}} == x", 0, true, 0, ""},
      {"{{params.f}} && {{steps.bad.phase}}", 0, false, 1, ""},
      {"{{params.t}} || {{steps.bad.outputs.y}}", 0, true, 1, ""},
      {"1 == 2 && ({{steps.bad.phase}} || {{steps.bad.phase}})", 0, false, 0, ""},
      {"false || true || {{steps.bad.phase}}", 0, true, 0, ""},
      {"true && {{steps.bad.phase}} == x", SK_ENOENT, false, 1, "step bad has not run"},
      {"false || {{steps.bad.outputs.y}} > 1", SK_ENOENT, false, 1, "step bad has not run"},
      {"{{params.a}} > {{params.nope}}", SK_ENOENT, false, 2, "no parameter named nope"},
      {"!{{steps.bad.phase}}", SK_ENOENT, false, 1, "step bad has not run"},
      {"{{params.silent}} == 1", SK_EIO, false, 1,
       "cannot resolve \"{{params.silent}}\": input/output error"},
      {"'x{{ params.silent }}' == 1", SK_EIO, false, 1,
       "cannot resolve \"{{ params.silent }}\": input/output error"},
      {"{{params.huge}} == 1", SK_ETOOBIG, false, 1,
       "the value of the operand at byte 0 is longer than 8388608 bytes"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    counter_t c = {0};
    char err[512] = "";
    int rc = 0;
    bool got = eval_src(cases[i].src, &c, &rc, err, sizeof(err));
    if (rc != cases[i].rc || c.calls != cases[i].calls || strcmp(err, cases[i].err) != 0 ||
        (rc == 0 && got != cases[i].want))
      FAILF("%s: rc %d calls %d result %d err \"%s\"; want rc %d calls %d result %d err \"%s\"",
            cases[i].src, rc, c.calls, got, err, cases[i].rc, cases[i].calls, cases[i].want,
            cases[i].err);
  }
}

TEST(eval_result_untouched_on_error) {
  sk_expr_t *e = NULL;
  REQUIRE(sk_expr_parse("{{steps.bad.phase}}", &e, NULL, 0, NULL) == 0);
  bool b = true;
  char err[128];
  CHECK_INT(sk_expr_eval(e, resolve, NULL, &b, err, sizeof(err)), SK_ENOENT);
  CHECK(b == true);
  CHECK_STR(err, "step bad has not run");
  CHECK_INT(sk_expr_eval(e, NULL, NULL, &b, err, sizeof(err)), SK_EINVAL);
  CHECK_STR(err, "no resolver for \"{{steps.bad.phase}}\"");
  sk_expr_destroy(e);
}

typedef struct {
  char log[512];
  int stop_at;
  int n;
} rec_t;

static int rec_visit(void *ud, const sk_ref_t *ref, size_t offset) {
  rec_t *r = ud;
  size_t len = strlen(r->log);
  snprintf(r->log + len, sizeof(r->log) - len, "%zu:%d:%.*s;", offset, (int)ref->kind,
           (int)ref->alen, ref->a);
  r->n++;
  return r->n == r->stop_at ? 9 : 0;
}

TEST(visit_refs) {
  sk_expr_t *e = NULL;
  const char *src =
      "{{params.a}} > 1 && ('{{item}}x' == {{item.k}}y || !{{workflow.phase}}) && "
      "{{steps.s.outputs.o}}";
  char err[256] = "";
  REQUIRE(sk_expr_parse(src, &e, err, sizeof(err), NULL) == 0);
  rec_t r = {{0}, 0, 0};
  CHECK_INT(sk_expr_visit_refs(e, rec_visit, &r), 0);
  CHECK_STR(r.log, "0:0:a;22:4:;36:4:k;52:3:phase;75:1:s;");
  rec_t r2 = {{0}, 2, 0};
  CHECK_INT(sk_expr_visit_refs(e, rec_visit, &r2), 9);
  CHECK_STR(r2.log, "0:0:a;22:4:;");
  CHECK_INT(sk_expr_visit_refs(e, NULL, NULL), SK_EINVAL);
  sk_expr_destroy(e);

  REQUIRE(sk_expr_parse("1 == 1", &e, err, sizeof(err), NULL) == 0);
  rec_t r3 = {{0}, 0, 0};
  CHECK_INT(sk_expr_visit_refs(e, rec_visit, &r3), 0);
  CHECK_INT(r3.n, 0);
  sk_expr_destroy(e);
}

int main(void) {
  RUN(eval_table);
  RUN(parse_errors);
  RUN(depth_cap);
  RUN(length_cap);
  RUN(parse_without_err_buffers);
  RUN(source_copied);
  RUN(short_circuit);
  RUN(eval_result_untouched_on_error);
  RUN(visit_refs);
  return TEST_DONE();
}
