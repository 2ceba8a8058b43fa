#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sk_test.h"
#include "util/diag.h"
#include "util/error.h"
#include "util/timeutil.h"
#include "yaml/yaml.h"

/* Parses text that must be valid; prints the diagnostics when it is not. */
static sk_yaml_doc_t **parse_ok(const char *text, size_t *n) {
  sk_diags_t d;
  sk_diags_init(&d);
  sk_yaml_doc_t **docs = NULL;
  int rc = sk_yaml_parse(text, strlen(text), "t.yaml", &d, &docs, n);
  if (rc != 0) {
    FAILF("parse failed: %s", sk_strerror(rc));
    sk_diags_print(&d, stdout);
  }
  sk_diags_release(&d);
  return docs;
}

/* Parses text that must be rejected with rc; d receives the diagnostics. */
static void parse_bad(const char *text, size_t len, int want_rc, sk_diags_t *d) {
  sk_yaml_doc_t **docs = (sk_yaml_doc_t **)&docs;
  size_t n = 99;
  int rc = sk_yaml_parse(text, len, "bad.yaml", d, &docs, &n);
  CHECK_INT(rc, want_rc);
  CHECK(docs == NULL);
  CHECK_INT(n, 0);
  CHECK(d->len >= 1);
  if (rc == 0)
    sk_yaml_docs_destroy(docs, n);
}

/* The first diagnostic's position and whether its message contains want. */
#define CHECK_DIAG(d, i, want_line, want_col, want_msg)                                    \
  do {                                                                                     \
    if ((d)->len <= (size_t)(i)) {                                                         \
      FAILF("no diagnostic %d (have %zu)", (int)(i), (d)->len);                            \
      break;                                                                               \
    }                                                                                      \
    const sk_diag_t *dg_ = &(d)->items[i];                                                 \
    CHECK_INT(dg_->line, want_line);                                                       \
    CHECK_INT(dg_->col, want_col);                                                         \
    if (!strstr(dg_->msg, want_msg))                                                       \
      FAILF("message \"%s\" lacks \"%s\"", dg_->msg, want_msg);                            \
  } while (0)

#define CHECK_POS(doc, path, want_line, want_col)                                          \
  do {                                                                                     \
    int l_ = -1, c_ = -1;                                                                  \
    const char *p_ = (path);                                                               \
    sk_yaml_doc_pos((doc), p_, &l_, &c_);                                                  \
    if (l_ != (want_line) || c_ != (want_col))                                             \
      FAILF("pos(%s) == %d:%d, want %d:%d", p_ ? p_ : "(null)", l_, c_, (want_line),       \
            (want_col));                                                                   \
  } while (0)

/* Parses one document holding `v: <scalar>` and returns a new reference to v. */
static json_t *scalar(const char *yaml_value) {
  char text[256];
  snprintf(text, sizeof(text), "v: %s\n", yaml_value);
  size_t n = 0;
  sk_yaml_doc_t **docs = parse_ok(text, &n);
  if (!docs || n != 1) {
    sk_yaml_docs_destroy(docs, n);
    return NULL;
  }
  json_t *v = json_incref(json_object_get(sk_yaml_doc_root(docs[0]), "v"));
  sk_yaml_docs_destroy(docs, n);
  return v;
}

#define CHECK_NULL(text)                                                                   \
  do {                                                                                     \
    json_t *v_ = scalar(text);                                                             \
    if (!json_is_null(v_))                                                                 \
      FAILF("%s: not null (type %d)", text, v_ ? (int)json_typeof(v_) : -1);               \
    json_decref(v_);                                                                       \
  } while (0)

#define CHECK_BOOL(text, want)                                                             \
  do {                                                                                     \
    json_t *v_ = scalar(text);                                                             \
    if (!json_is_boolean(v_) || json_is_true(v_) != (want))                                \
      FAILF("%s: not the boolean %s", text, (want) ? "true" : "false");                    \
    json_decref(v_);                                                                       \
  } while (0)

#define CHECK_JINT(text, want)                                                             \
  do {                                                                                     \
    json_t *v_ = scalar(text);                                                             \
    if (!json_is_integer(v_))                                                              \
      FAILF("%s: not an integer (type %d)", text, v_ ? (int)json_typeof(v_) : -1);         \
    else                                                                                   \
      CHECK_INT(json_integer_value(v_), want);                                             \
    json_decref(v_);                                                                       \
  } while (0)

#define CHECK_JREAL(text, want)                                                            \
  do {                                                                                     \
    json_t *v_ = scalar(text);                                                             \
    if (!json_is_real(v_))                                                                 \
      FAILF("%s: not a real (type %d)", text, v_ ? (int)json_typeof(v_) : -1);             \
    else if (json_real_value(v_) != (want))                                                \
      FAILF("%s: %.17g, want %.17g", text, json_real_value(v_), (double)(want));           \
    json_decref(v_);                                                                       \
  } while (0)

#define CHECK_JSTR(text, want)                                                             \
  do {                                                                                     \
    json_t *v_ = scalar(text);                                                             \
    if (!json_is_string(v_))                                                               \
      FAILF("%s: not a string (type %d)", text, v_ ? (int)json_typeof(v_) : -1);           \
    else                                                                                   \
      CHECK_STR(json_string_value(v_), want);                                              \
    json_decref(v_);                                                                       \
  } while (0)

/* A scalar that must be rejected, with a message containing want. */
#define CHECK_SCALAR_ERR(text, want)                                                       \
  do {                                                                                     \
    char t_[256];                                                                          \
    snprintf(t_, sizeof(t_), "v: %s\n", text);                                            \
    sk_diags_t d_;                                                                         \
    sk_diags_init(&d_);                                                                    \
    parse_bad(t_, strlen(t_), SK_EPARSE, &d_);                                             \
    CHECK_DIAG(&d_, 0, 1, 4, want);                                                        \
    if (d_.len)                                                                            \
      CHECK_STR(d_.items[0].path, "v");                                                    \
    sk_diags_release(&d_);                                                                 \
  } while (0)

TEST(scalars_core_schema) {
  CHECK_NULL("");
  CHECK_NULL("~");
  CHECK_NULL("null");
  CHECK_NULL("Null");
  CHECK_NULL("NULL");
  CHECK_BOOL("true", 1);
  CHECK_BOOL("True", 1);
  CHECK_BOOL("TRUE", 1);
  CHECK_BOOL("false", 0);
  CHECK_BOOL("False", 0);
  CHECK_BOOL("FALSE", 0);
  CHECK_JINT("42", 42);
  CHECK_JINT("-7", -7);
  CHECK_JINT("+3", 3);
  CHECK_JINT("0", 0);
  CHECK_JINT("0123", 123); /* decimal in YAML 1.2, not octal */
  CHECK_JINT("0x1F", 31);
  CHECK_JINT("0xff", 255);
  CHECK_JINT("0o17", 15);
  CHECK_JINT("9223372036854775807", INT64_MAX);
  CHECK_JINT("-9223372036854775808", INT64_MIN);
  CHECK_JINT("0x7FFFFFFFFFFFFFFF", INT64_MAX);
  CHECK_JREAL("1.5", 1.5);
  CHECK_JREAL("-0.25", -0.25);
  CHECK_JREAL(".5", 0.5);
  CHECK_JREAL("1.", 1.0);
  CHECK_JREAL("1e3", 1000.0);
  CHECK_JREAL("6.5E-1", 0.65);
  CHECK_JREAL("+2.5e+2", 250.0);
  CHECK_JREAL("1e-400", 0.0); /* underflow reads as zero, as in JSON */
  /* YAML 1.1 booleans, octals and the like are plain strings in 1.2. */
  CHECK_JSTR("yes", "yes");
  CHECK_JSTR("no", "no");
  CHECK_JSTR("on", "on");
  CHECK_JSTR("off", "off");
  CHECK_JSTR("y", "y");
  CHECK_JSTR("0x", "0x");
  CHECK_JSTR("0o8", "0o8");
  CHECK_JSTR("0b101", "0b101");
  CHECK_JSTR("1_000", "1_000");
  CHECK_JSTR("-0x10", "-0x10");
  CHECK_JSTR("1e", "1e");
  CHECK_JSTR(".", ".");
  CHECK_JSTR("1Gi", "1Gi");
  CHECK_JSTR("nulls", "nulls");
  CHECK_JSTR("tRUE", "tRUE");
  CHECK_JSTR("inf", "inf");
  CHECK_JSTR("12:30", "12:30");
  CHECK_JSTR("python:3.11-slim", "python:3.11-slim");
  CHECK_JSTR("gs://bucket/x y", "gs://bucket/x y");
}

TEST(scalars_out_of_json) {
  CHECK_SCALAR_ERR(".inf", "\".inf\" is an infinite float, which JSON cannot represent");
  CHECK_SCALAR_ERR("-.Inf", "infinite");
  CHECK_SCALAR_ERR(".nan", "\".nan\" is a NaN float, which JSON cannot represent");
  CHECK_SCALAR_ERR("9223372036854775808", "does not fit in 64 bits");
  CHECK_SCALAR_ERR("-9223372036854775809", "does not fit in 64 bits");
  CHECK_SCALAR_ERR("0x10000000000000000", "does not fit in 64 bits");
  CHECK_SCALAR_ERR("0o1000000000000000000000", "does not fit in 64 bits");
  CHECK_SCALAR_ERR("1e999", "too large");
  /* Quoted, they are strings like any other. */
  CHECK_JSTR("'.inf'", ".inf");
  CHECK_JSTR("\"9223372036854775808\"", "9223372036854775808");
}

TEST(quoting) {
  CHECK_JSTR("\"42\"", "42");
  CHECK_JSTR("'true'", "true");
  CHECK_JSTR("\"null\"", "null");
  CHECK_JSTR("''", "");
  CHECK_JSTR("\"\"", "");
  CHECK_JSTR("'0x1F'", "0x1F");
  CHECK_JSTR("\"a\\tb\\u00e9\"", "a\tb\xC3\xA9");
  CHECK_JSTR("'it''s'", "it's");
  CHECK_JSTR("\"~\"", "~");
  /* An escaped NUL is kept: the JSON string has length 3. */
  json_t *v = scalar("\"x\\0y\"");
  REQUIRE(v);
  CHECK_INT(json_string_length(v), 3);
  CHECK(memcmp(json_string_value(v), "x\0y", 3) == 0);
  json_decref(v);

  size_t n = 0;
  sk_yaml_doc_t **docs = parse_ok("lit: |\n  line1\n  line2\nfold: >-\n  a\n  b\nplain: a\n  b\n",
                                  &n);
  REQUIRE(docs && n == 1);
  json_t *r = sk_yaml_doc_root(docs[0]);
  CHECK_STR(json_string_value(json_object_get(r, "lit")), "line1\nline2\n");
  CHECK_STR(json_string_value(json_object_get(r, "fold")), "a b");
  CHECK_STR(json_string_value(json_object_get(r, "plain")), "a b");
  sk_yaml_docs_destroy(docs, n);
}

TEST(tags) {
  CHECK_JSTR("!!str 123", "123");
  CHECK_JSTR("!!str true", "true");
  CHECK_JSTR("!!str", "");
  CHECK_JSTR("! 12", "12");
  CHECK_JINT("!!int \"42\"", 42);
  CHECK_JINT("!!int 0x10", 16);
  CHECK_JREAL("!!float 1", 1.0);
  CHECK_JREAL("!!float '2.5'", 2.5);
  CHECK_JREAL("!!float 0o10", 8.0);
  CHECK_BOOL("!!bool \"true\"", 1);
  CHECK_BOOL("!<tag:yaml.org,2002:bool> false", 0);
  CHECK_NULL("!!null ''");
  CHECK_NULL("!!null ~");
  CHECK_JSTR("!!binary aGVsbG8=", "aGVsbG8=");
  CHECK_JSTR("!!timestamp 2026-01-02", "2026-01-02");
  CHECK_SCALAR_ERR("!!int abc", "\"abc\" is not an integer (tagged !!int)");
  CHECK_SCALAR_ERR("!!int 1.5", "not an integer");
  CHECK_SCALAR_ERR("!!float abc", "\"abc\" is not a number (tagged !!float)");
  CHECK_SCALAR_ERR("!!float .inf", "infinite");
  CHECK_SCALAR_ERR("!!bool yes", "\"yes\" is not a boolean (tagged !!bool)");
  CHECK_SCALAR_ERR("!!null 0", "\"0\" is not null (tagged !!null)");
  CHECK_SCALAR_ERR("!Ref foo", "unsupported tag !Ref");
  CHECK_SCALAR_ERR("!!map x", "tag !!map does not apply to a scalar");
  CHECK_SCALAR_ERR("!!seq {a: 1}", "tag !!seq does not apply to a mapping");
  CHECK_SCALAR_ERR("!!set [1]", "tag !!set does not apply to a sequence");
  CHECK_SCALAR_ERR("!custom [1]", "unsupported tag !custom");

  size_t n = 0;
  sk_yaml_doc_t **docs = parse_ok("a: !!map {x: 1}\nb: !!seq [1]\nc: ! [2]\n", &n);
  REQUIRE(docs && n == 1);
  CHECK_INT(json_object_size(sk_yaml_doc_root(docs[0])), 3);
  sk_yaml_docs_destroy(docs, n);
}

static const char WORKFLOW[] =
    "apiVersion: skein.dev/v1alpha1\n"                     /* 1 */
    "kind: Workflow\n"                                     /* 2 */
    "metadata:\n"                                          /* 3 */
    "  name: mnist\n"                                      /* 4 */
    "  labels:\n"                                          /* 5 */
    "    app.kubernetes.io/name: mnist\n"                  /* 6 */
    "    \"quoted \\\"key\\\"\": x\n"                      /* 7 */
    "spec:\n"                                              /* 8 */
    "  steps:\n"                                           /* 9 */
    "    - name: prepare\n"                                /* 10 */
    "      pod: {image: python, args: [a, b]}\n"           /* 11 */
    "    - name: train\n"                                  /* 12 */
    "      dependsOn: [prepare]\n"                         /* 13 */
    "    -   name: evaluate\n"                             /* 14 */
    "        pod:\n"                                       /* 15 */
    "          image: \"python:3.11\"\n"                   /* 16 */
    "          env:\n"                                     /* 17 */
    "          - {name: A, value: \"1\"}\n"                /* 18 */
    "    - plain item\n"                                   /* 19 */
    "  my_key-2: 1\n"                                      /* 20 */
    "  2fast: 2\n"                                         /* 21 */
    "  \"\": empty\n";                                     /* 22 */

TEST(positions) {
  size_t n = 0;
  sk_yaml_doc_t **docs = parse_ok(WORKFLOW, &n);
  REQUIRE(docs && n == 1);
  sk_yaml_doc_t *d = docs[0];
  CHECK_STR(sk_yaml_doc_file(d), "t.yaml");
  CHECK_INT(sk_yaml_doc_index(d), 1);
  CHECK_POS(d, "", 1, 1);
  CHECK_POS(d, NULL, 1, 1);
  CHECK_POS(d, "kind", 2, 1);
  CHECK_POS(d, "metadata", 3, 1);
  CHECK_POS(d, "metadata.name", 4, 3);
  CHECK_POS(d, "metadata.labels[\"app.kubernetes.io/name\"]", 6, 5);
  CHECK_POS(d, "metadata.labels[\"quoted \\\"key\\\"\"]", 7, 5);
  CHECK_POS(d, "spec.steps", 9, 3);
  CHECK_POS(d, "spec.steps[0]", 10, 7);
  CHECK_POS(d, "spec.steps[0].name", 10, 7);
  CHECK_POS(d, "spec.steps[0].pod", 11, 7);
  CHECK_POS(d, "spec.steps[0].pod.image", 11, 13);
  CHECK_POS(d, "spec.steps[0].pod.args", 11, 28);
  CHECK_POS(d, "spec.steps[0].pod.args[1]", 11, 38);
  CHECK_POS(d, "spec.steps[1].dependsOn[0]", 13, 19);
  CHECK_POS(d, "spec.steps[2]", 14, 9);
  CHECK_POS(d, "spec.steps[2].pod.image", 16, 11);
  CHECK_POS(d, "spec.steps[2].pod.env[0]", 18, 13);
  CHECK_POS(d, "spec.steps[2].pod.env[0].value", 18, 23);
  CHECK_POS(d, "spec.steps[3]", 19, 7);
  CHECK_POS(d, "spec.my_key-2", 20, 3);
  CHECK_POS(d, "spec[\"2fast\"]", 21, 3);
  CHECK_POS(d, "spec[\"\"]", 22, 3);
  /* A quoted identifier finds the same member as the plain form. */
  CHECK_POS(d, "spec[\"steps\"][2][\"pod\"]", 15, 9);
  /* Paths built with the helpers agree with the lookups. */
  char p[256];
  CHECK_INT(sk_yaml_path_key(p, sizeof(p), "metadata.labels", "app.kubernetes.io/name"), 0);
  CHECK_POS(d, p, 6, 5);
  CHECK_INT(sk_yaml_path_key(p, sizeof(p), "spec", "steps"), 0);
  CHECK_INT(sk_yaml_path_index(p, sizeof(p), p, 2), 0);
  CHECK_INT(sk_yaml_path_key(p, sizeof(p), p, "pod"), 0);
  CHECK_STR(p, "spec.steps[2].pod");
  CHECK_POS(d, p, 15, 9);
  sk_yaml_docs_destroy(docs, n);
}

TEST(positions_fallback) {
  size_t n = 0;
  sk_yaml_doc_t **docs = parse_ok(WORKFLOW, &n);
  REQUIRE(docs && n == 1);
  sk_yaml_doc_t *d = docs[0];
  CHECK_POS(d, "spec.steps[2].pod.missing", 15, 9);
  CHECK_POS(d, "spec.steps[2].pod.image.deeper[3]", 16, 11);
  CHECK_POS(d, "spec.steps[99].pod", 9, 3);
  CHECK_POS(d, "spec.steps.name", 9, 3); /* a key on a sequence */
  CHECK_POS(d, "metadata[0]", 3, 1);      /* an index on a mapping */
  CHECK_POS(d, "nope", 1, 1);
  CHECK_POS(d, "metadata.labels.app.kubernetes.io/name", 5, 3); /* should be quoted */
  /* Malformed paths stop at the last good component. */
  CHECK_POS(d, "spec.steps[", 9, 3);
  CHECK_POS(d, "spec.steps[x]", 9, 3);
  CHECK_POS(d, "spec.steps[99999999999999999999]", 9, 3);
  CHECK_POS(d, "metadata[\"unterminated", 3, 1);
  CHECK_POS(d, "metadata[\"bad\\q\"]", 3, 1);
  CHECK_POS(d, "spec..steps", 8, 1);
  sk_yaml_docs_destroy(docs, n);
}

TEST(path_helpers) {
  char p[64];
  CHECK_INT(sk_yaml_path_key(p, sizeof(p), "", "spec"), 0);
  CHECK_STR(p, "spec");
  CHECK_INT(sk_yaml_path_key(p, sizeof(p), NULL, "a.b"), 0);
  CHECK_STR(p, "[\"a.b\"]");
  CHECK_INT(sk_yaml_path_key(p, sizeof(p), "x", "_a-1"), 0);
  CHECK_STR(p, "x._a-1");
  CHECK_INT(sk_yaml_path_key(p, sizeof(p), "x", "-a"), 0);
  CHECK_STR(p, "x[\"-a\"]");
  CHECK_INT(sk_yaml_path_key(p, sizeof(p), "x", "q\"b\\\n\x01"), 0);
  CHECK_STR(p, "x[\"q\\\"b\\\\\\n\\u0001\"]");
  CHECK_INT(sk_yaml_path_key(p, sizeof(p), "x", ""), 0);
  CHECK_STR(p, "x[\"\"]");
  CHECK_INT(sk_yaml_path_index(p, sizeof(p), "", 3), 0);
  CHECK_STR(p, "[3]");
  CHECK_INT(sk_yaml_path_index(p, sizeof(p), "a", 12), 0);
  CHECK_STR(p, "a[12]");
  /* Too small: an error, and out is left as it was. */
  char small[8] = "keep";
  CHECK_INT(sk_yaml_path_key(small, sizeof(small), "abc", "defgh"), SK_ETOOBIG);
  CHECK_STR(small, "keep");
  CHECK_INT(sk_yaml_path_index(small, sizeof(small), "abcd", 100), SK_ETOOBIG);
  CHECK_STR(small, "keep");
  CHECK_INT(sk_yaml_path_key(small, sizeof(small), "abc", "def"), 0);
  CHECK_STR(small, "abc.def");
  CHECK_INT(sk_yaml_path_key(NULL, 8, "a", "b"), SK_EINVAL);

  /* Escaped keys round-trip through a lookup. */
  size_t n = 0;
  sk_yaml_doc_t **docs = parse_ok("m:\n  \"q\\\"b\\\\\\n\\u0001\\t\\u00e9\": 1\n", &n);
  REQUIRE(docs && n == 1);
  char big[128];
  CHECK_INT(sk_yaml_path_key(big, sizeof(big), "m", "q\"b\\\n\x01\t\xC3\xA9"), 0);
  CHECK_POS(docs[0], big, 2, 3);
  CHECK_POS(docs[0], "m[\"q\\\"b\\\\\\n\\u0001\\t\\u00e9\"]", 2, 3);
  sk_yaml_docs_destroy(docs, n);
}

TEST(multi_document) {
  const char *text = "# leading comment\n"
                     "a: 1\n"
                     "---\n"
                     "---\n"
                     "# only a comment\n"
                     "--- ~\n"
                     "---\n"
                     "b:\n"
                     "  c: [x]\n"
                     "...\n"
                     "--- 7\n"
                     "---\n";
  size_t n = 0;
  sk_yaml_doc_t **docs = parse_ok(text, &n);
  REQUIRE(docs);
  CHECK_INT(n, 3);
  REQUIRE(n == 3);
  CHECK_INT(sk_yaml_doc_index(docs[0]), 1);
  CHECK_INT(sk_yaml_doc_index(docs[1]), 5);
  CHECK_INT(sk_yaml_doc_index(docs[2]), 6);
  CHECK_INT(json_integer_value(json_object_get(sk_yaml_doc_root(docs[0]), "a")), 1);
  CHECK_POS(docs[0], "a", 2, 1);
  CHECK_POS(docs[1], "b.c[0]", 9, 7);
  CHECK_POS(docs[1], "", 8, 1);
  CHECK_INT(json_integer_value(sk_yaml_doc_root(docs[2])), 7);
  CHECK_POS(docs[2], "", 11, 5);
  sk_yaml_docs_destroy(docs, n);

  /* Nothing at all is zero documents, and not an error. */
  const char *empties[] = {"", "# comment only\n", "---\n", "---\n...\n---\n", "\n\n", "~\n"};
  for (size_t i = 0; i < sizeof(empties) / sizeof(*empties); i++) {
    sk_diags_t d;
    sk_diags_init(&d);
    docs = (sk_yaml_doc_t **)&d;
    n = 99;
    CHECK_INT(sk_yaml_parse(empties[i], strlen(empties[i]), NULL, &d, &docs, &n), 0);
    CHECK_INT(n, 0);
    CHECK_INT(d.len, 0);
    sk_yaml_docs_destroy(docs, n);
    sk_diags_release(&d);
  }
  /* A NULL buffer of length 0 is an empty stream; bad arguments are not. */
  CHECK_INT(sk_yaml_parse(NULL, 0, NULL, NULL, &docs, &n), 0);
  CHECK_INT(n, 0);
  CHECK_INT(sk_yaml_parse(NULL, 5, NULL, NULL, &docs, &n), SK_EINVAL);
  CHECK_INT(sk_yaml_parse("a", 1, NULL, NULL, NULL, &n), SK_EINVAL);
}

TEST(duplicate_keys) {
  sk_diags_t d;
  sk_diags_init(&d);
  const char *text = "metadata:\n"
                     "  labels: {}\n"
                     "  name: a\n"
                     "  other: 1\n"
                     "  name: b\n"
                     "spec: {x: 1, y: 2, x: 3}\n";
  parse_bad(text, strlen(text), SK_EPARSE, &d);
  CHECK_INT(d.len, 2);
  CHECK_DIAG(&d, 0, 5, 3, "duplicate key \"name\" (first at line 3)");
  CHECK_STR(d.items[0].path, "metadata.name");
  CHECK_STR(d.items[0].file, "bad.yaml");
  CHECK_DIAG(&d, 1, 6, 20, "duplicate key \"x\" (first at line 6)");
  CHECK_STR(d.items[1].path, "spec.x");
  sk_buf_t out;
  sk_buf_init(&out, 1024);
  CHECK_INT(sk_diag_format(&d.items[0], &out), 0);
  CHECK_STR(out.data, "bad.yaml:5:3: metadata.name: duplicate key \"name\" (first at line 3)");
  sk_buf_release(&out);
  sk_diags_release(&d);

  /* Keys compare by their text: "1" and 1 are the same key. */
  sk_diags_init(&d);
  parse_bad("1: a\n\"1\": b\n", 12, SK_EPARSE, &d);
  CHECK_DIAG(&d, 0, 2, 1, "duplicate key \"1\" (first at line 1)");
  sk_diags_release(&d);
}

TEST(keys) {
  size_t n = 0;
  sk_yaml_doc_t **docs =
      parse_ok("1: a\ntrue: b\nnull: c\n~: d\n0x10: e\n\"q\": f\n? k\n: g\n", &n);
  REQUIRE(docs && n == 1);
  json_t *r = sk_yaml_doc_root(docs[0]);
  const char *want[][2] = {{"1", "a"}, {"true", "b"}, {"null", "c"}, {"~", "d"},
                           {"0x10", "e"}, {"q", "f"}, {"k", "g"}};
  for (size_t i = 0; i < sizeof(want) / sizeof(*want); i++)
    CHECK_STR(json_string_value(json_object_get(r, want[i][0])), want[i][1]);
  CHECK_POS(docs[0], "k", 7, 3);
  sk_yaml_docs_destroy(docs, n);

  sk_diags_t d;
  sk_diags_init(&d);
  const char *text = "a: 1\n? [x, y]\n: v\n{p: 1}: w\nb: 2\n\"n\\0ul\": 3\n";
  parse_bad(text, strlen(text), SK_EPARSE, &d);
  CHECK_INT(d.len, 3);
  CHECK_DIAG(&d, 0, 2, 3,
             "mapping keys must be scalars (strings, numbers, booleans), not a sequence");
  CHECK_DIAG(&d, 1, 4, 1, "not a mapping");
  CHECK_DIAG(&d, 2, 6, 1, "mapping key \"n\\x00ul\" contains a NUL character");
  sk_diags_release(&d);
}

TEST(aliases) {
  const char *text = "base: &b\n"              /* 1 */
                     "  image: python\n"        /* 2 */
                     "  args: [x, y]\n"         /* 3 */
                     "name: &n hello\n"         /* 4 */
                     "copy: *b\n"               /* 5 */
                     "list:\n"                  /* 6 */
                     "  - *n\n"                 /* 7 */
                     "  - *b\n"                 /* 8 */
                     "*n : as-key\n";           /* 9 */
  size_t n = 0;
  sk_yaml_doc_t **docs = parse_ok(text, &n);
  REQUIRE(docs && n == 1);
  sk_yaml_doc_t *d = docs[0];
  json_t *r = sk_yaml_doc_root(d);
  json_t *base = json_object_get(r, "base"), *copy = json_object_get(r, "copy");
  CHECK(json_equal(base, copy));
  CHECK(base != copy); /* containers are copied, not shared */
  CHECK(json_object_get(base, "args") != json_object_get(copy, "args"));
  CHECK_STR(json_string_value(json_array_get(json_object_get(r, "list"), 0)), "hello");
  CHECK(json_equal(json_array_get(json_object_get(r, "list"), 1), base));
  CHECK_STR(json_string_value(json_object_get(r, "hello")), "as-key");
  /* Nodes reached through an alias are placed where their anchor wrote them;
   * the alias node itself where the alias is. */
  CHECK_POS(d, "copy", 5, 1);
  CHECK_POS(d, "copy.image", 2, 3);
  CHECK_POS(d, "copy.args[1]", 3, 13);
  CHECK_POS(d, "list[0]", 7, 5);
  CHECK_POS(d, "list[1]", 8, 5);
  CHECK_POS(d, "list[1].args[0]", 3, 10);
  CHECK_POS(d, "hello", 9, 1);
  /* Editing a copy leaves the original alone. */
  json_object_set_new(copy, "image", json_string("changed"));
  CHECK_STR(json_string_value(json_object_get(base, "image")), "python");
  sk_yaml_docs_destroy(docs, n);

  /* Anchors are per document; a redefined anchor means the latest one. */
  docs = parse_ok("a: &x 1\nb: &x 2\nc: *x\n", &n);
  REQUIRE(docs && n == 1);
  CHECK_INT(json_integer_value(json_object_get(sk_yaml_doc_root(docs[0]), "c")), 2);
  sk_yaml_docs_destroy(docs, n);

  sk_diags_t dg;
  sk_diags_init(&dg);
  const char *bad = "a: &x 1\n---\nb: *x\nc: &r [1, *r]\n";
  parse_bad(bad, strlen(bad), SK_EPARSE, &dg);
  CHECK_INT(dg.len, 2);
  CHECK_DIAG(&dg, 0, 3, 4, "alias *x refers to an unknown anchor");
  CHECK_STR(dg.items[0].path, "b");
  CHECK_DIAG(&dg, 1, 4, 11, "alias *r refers to a node that contains it");
  CHECK_STR(dg.items[1].path, "c[1]");
  sk_diags_release(&dg);
}

TEST(merge_keys) {
  const char *text = "defaults: &d\n"           /* 1 */
                     "  retry: 2\n"             /* 2 */
                     "  timeout: 60\n"          /* 3 */
                     "  image: base\n"          /* 4 */
                     "extra: &e {image: e, gpu: 1, timeout: 5}\n" /* 5 */
                     "step:\n"                  /* 6 */
                     "  timeout: 10\n"          /* 7 */
                     "  <<: [*d, *e]\n"         /* 8 */
                     "  name: s\n"              /* 9 */
                     "inline:\n"                /* 10 */
                     "  <<: {a: 1}\n"           /* 11 */
                     "  \"<<\": literal\n";     /* 12 */
  size_t n = 0;
  sk_yaml_doc_t **docs = parse_ok(text, &n);
  REQUIRE(docs && n == 1);
  sk_yaml_doc_t *d = docs[0];
  json_t *step = json_object_get(sk_yaml_doc_root(d), "step");
  CHECK_INT(json_object_size(step), 5);
  CHECK_INT(json_integer_value(json_object_get(step, "timeout")), 10); /* explicit wins */
  CHECK_INT(json_integer_value(json_object_get(step, "retry")), 2);
  CHECK_STR(json_string_value(json_object_get(step, "image")), "base"); /* earlier wins */
  CHECK_INT(json_integer_value(json_object_get(step, "gpu")), 1);
  CHECK_STR(json_string_value(json_object_get(step, "name")), "s");
  CHECK(json_object_get(step, "<<") == NULL);
  CHECK_POS(d, "step.timeout", 7, 3);
  CHECK_POS(d, "step.retry", 2, 3);
  CHECK_POS(d, "step.gpu", 5, 22);
  CHECK_POS(d, "step.name", 9, 3);
  CHECK_POS(d, "step[\"<<\"]", 6, 1); /* the merge key is not a member */
  json_t *in = json_object_get(sk_yaml_doc_root(d), "inline");
  CHECK_INT(json_integer_value(json_object_get(in, "a")), 1);
  CHECK_STR(json_string_value(json_object_get(in, "<<")), "literal");
  CHECK_POS(d, "inline.a", 11, 8);
  CHECK_POS(d, "inline[\"<<\"]", 12, 3);
  sk_yaml_docs_destroy(docs, n);

  sk_diags_t dg;
  sk_diags_init(&dg);
  const char *bad = "a:\n  <<: 5\nb:\n  <<: [{x: 1}, 2]\nc:\n  <<: {}\n  <<: {}\n";
  parse_bad(bad, strlen(bad), SK_EPARSE, &dg);
  CHECK_INT(dg.len, 3);
  CHECK_DIAG(&dg, 0, 2, 3, "the value of a merge key (<<) must be a mapping");
  CHECK_DIAG(&dg, 1, 4, 3, "merge key");
  CHECK_DIAG(&dg, 2, 7, 3, "duplicate key \"<<\" (first at line 6)");
  sk_diags_release(&dg);
}

TEST(billion_laughs) {
  const char *text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                     "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                     "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                     "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                     "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                     "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
                     "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
                     "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\n";
  int64_t t0 = sk_time_mono_ms();
  sk_diags_t d;
  sk_diags_init(&d);
  parse_bad(text, strlen(text), SK_ETOOBIG, &d);
  CHECK_INT(d.len, 1);
  /* a..d hold 11 + 111 + 1111 + 11111 entries; each *d in e adds 11111. */
  CHECK_DIAG(&d, 0, 5, 36, "more than 100000 nodes, counting each alias expansion");
  CHECK_STR(d.items[0].path, "e[7]");
  sk_diags_release(&d);
  CHECK(sk_time_mono_ms() - t0 < 2000);

  /* Just under the cap is fine: 10 + 100 + 1000 + 10000 items plus 4 lists. */
  size_t n = 0;
  sk_yaml_doc_t **docs = parse_ok("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                                  "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                                  "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                                  "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n",
                                  &n);
  REQUIRE(docs && n == 1);
  json_t *dd = json_object_get(sk_yaml_doc_root(docs[0]), "d");
  CHECK_INT(json_array_size(json_array_get(json_array_get(json_array_get(dd, 9), 9), 9)), 10);
  CHECK_POS(docs[0], "d[9][9][9][9]", 1, 35);
  sk_yaml_docs_destroy(docs, n);

  /* Many small documents cannot add up past the stream cap either. */
  sk_buf_t s;
  sk_buf_init(&s, SK_YAML_MAX_BYTES);
  for (int i = 0; i < 12; i++)
    sk_buf_puts(&s, "---\na: &a [x, x, x, x, x, x, x, x, x, x]\n"
                    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                    "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                    "e: [*d, *d, *d, *d, *d, *d, *d]\n");
  sk_diags_init(&d);
  parse_bad(s.data, s.len, SK_ETOOBIG, &d);
  /* 90122 entries per document: the twelfth crosses 1000000 at its d[6]. */
  CHECK_DIAG(&d, 0, 71, 32, "the stream has more than 1000000 nodes");
  sk_diags_release(&d);
  sk_buf_release(&s);

  /* A long key under an anchor: few nodes, but jansson copies each key per
   * copy of its object, so the bytes of copied keys are capped too. */
  sk_buf_init(&s, SK_YAML_MAX_BYTES);
  sk_buf_puts(&s, "a: &a\n  ? ");
  for (int i = 0; i < 100000; i++)
    sk_buf_putc(&s, 'k');
  sk_buf_puts(&s, "\n  : 1\nb: [");
  for (int i = 0; i < 200; i++)
    sk_buf_puts(&s, "*a, ");
  sk_buf_puts(&s, "]\n");
  sk_diags_init(&d);
  parse_bad(s.data, s.len, SK_ETOOBIG, &d);
  /* 125 copies of 100000 bytes fit in 12 MiB; the 126th does not. */
  CHECK_DIAG(&d, 0, 4, 5 + 4 * 125, "would copy more than 12 MiB of mapping keys");
  CHECK_STR(d.items[0].path, "b[125]");
  sk_diags_release(&d);
  sk_buf_release(&s);
}

/* n nested flow sequences around a scalar. */
static char *nested(int n) {
  char *s = malloc((size_t)n * 2 + 3);
  for (int i = 0; i < n; i++)
    s[i] = '[';
  s[n] = '1';
  for (int i = 0; i < n; i++)
    s[n + 1 + i] = ']';
  s[2 * n + 1] = '\n';
  s[2 * n + 2] = '\0';
  return s;
}

TEST(depth_cap) {
  char *s = nested(SK_YAML_MAX_DEPTH);
  size_t n = 0;
  sk_yaml_doc_t **docs = parse_ok(s, &n);
  CHECK_INT(n, 1);
  sk_yaml_docs_destroy(docs, n);
  free(s);

  s = nested(SK_YAML_MAX_DEPTH + 1);
  sk_diags_t d;
  sk_diags_init(&d);
  parse_bad(s, strlen(s), SK_ETOOBIG, &d);
  CHECK_DIAG(&d, 0, 1, 129, "values nest deeper than 128 levels");
  sk_diags_release(&d);
  free(s);

  /* A million brackets stop at the cap, not at the end. */
  s = nested(1000000);
  sk_diags_init(&d);
  parse_bad(s, strlen(s), SK_ETOOBIG, &d);
  CHECK_INT(d.len, 1);
  sk_diags_release(&d);
  free(s);

  /* An alias can nest deeper than the text shows. */
  sk_buf_t b;
  sk_buf_init(&b, 4096);
  sk_buf_puts(&b, "a: &a ");
  char *inner = nested(100);
  sk_buf_puts(&b, inner);
  sk_buf_puts(&b, "b: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[*a]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n");
  sk_diags_init(&d);
  parse_bad(b.data, b.len, SK_ETOOBIG, &d);
  CHECK_DIAG(&d, 0, 2, 34, "alias *a nests values deeper than 128 levels");
  sk_diags_release(&d);
  sk_buf_release(&b);
  free(inner);
}

TEST(bytes) {
  sk_diags_t d;
  sk_diags_init(&d);
  parse_bad("a: 1\nb: h\xC3(x\n", 11, SK_EPARSE, &d);
  CHECK_DIAG(&d, 0, 2, 5, "not valid UTF-8 (byte 0xC3 here)");
  sk_diags_release(&d);

  /* Columns count characters, as libyaml's do: é is one column. */
  sk_diags_init(&d);
  parse_bad("a:\n  \xC3\xA9\xC3\xA9x\xFF\n", 11, SK_EPARSE, &d);
  CHECK_DIAG(&d, 0, 2, 6, "not valid UTF-8");
  sk_diags_release(&d);

  sk_diags_init(&d);
  parse_bad("a: 1\r\nb: x\0y\n", 12, SK_EPARSE, &d);
  CHECK_DIAG(&d, 0, 2, 5, "NUL byte");
  sk_diags_release(&d);

  /* Control characters: libyaml's reader reports an offset, made a position. */
  sk_diags_init(&d);
  parse_bad("a: 1\nbb: \x01\n", 10, SK_EPARSE, &d);
  CHECK_DIAG(&d, 0, 2, 5, "control characters are not allowed (character U+0001)");
  sk_diags_release(&d);

  /* A BOM is skipped and does not shift columns. */
  size_t n = 0;
  sk_yaml_doc_t **docs = parse_ok("\xEF\xBB\xBF" "a: 1\nb: [x, \"\xC3\xA9\", y]\n", &n);
  REQUIRE(docs && n == 1);
  CHECK_POS(docs[0], "a", 1, 1);
  CHECK_POS(docs[0], "b[2]", 2, 13);
  sk_yaml_docs_destroy(docs, n);

  /* CR LF line ends count once. */
  docs = parse_ok("a: 1\r\nb:\r\n  c: 2\r\n", &n);
  REQUIRE(docs && n == 1);
  CHECK_POS(docs[0], "b.c", 3, 3);
  sk_yaml_docs_destroy(docs, n);

  /* A UTF-16 byte order mark is not UTF-8. */
  sk_diags_init(&d);
  parse_bad("\xFF\xFE" "a\0:\0", 6, SK_EPARSE, &d);
  CHECK_DIAG(&d, 0, 1, 1, "not valid UTF-8");
  sk_diags_release(&d);
}

TEST(too_big) {
  size_t len = SK_YAML_MAX_BYTES + 1;
  char *s = malloc(len);
  REQUIRE(s);
  memset(s, '#', len);
  for (size_t i = 79; i < len; i += 80)
    s[i] = '\n';
  sk_diags_t d;
  sk_diags_init(&d);
  parse_bad(s, len, SK_ETOOBIG, &d);
  CHECK_DIAG(&d, 0, (int)(SK_YAML_MAX_BYTES / 80 + 1), (int)(SK_YAML_MAX_BYTES % 80 + 1),
             "more than the limit of 3145728");
  sk_diags_release(&d);
  /* Exactly at the cap is accepted (it is all comments: no documents). */
  size_t n = 9;
  sk_yaml_doc_t **docs = NULL;
  CHECK_INT(sk_yaml_parse(s, len - 1, NULL, NULL, &docs, &n), 0);
  CHECK_INT(n, 0);
  sk_yaml_docs_destroy(docs, n);

  /* The same through a file. */
  char path[] = "/tmp/skein-test-yaml-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  CHECK_INT(write(fd, s, len), (long long)len);
  close(fd);
  sk_diags_init(&d);
  docs = (sk_yaml_doc_t **)&d;
  CHECK_INT(sk_yaml_parse_file(path, &d, &docs, &n), SK_ETOOBIG);
  CHECK(docs == NULL);
  CHECK_DIAG(&d, 0, 0, 0, "larger than the limit");
  CHECK_STR(d.items[0].file, path);
  sk_diags_release(&d);
  unlink(path);
  free(s);
}

TEST(syntax_errors) {
  sk_diags_t d;
  sk_diags_init(&d);
  parse_bad("a: [1\nb: 2\n", 11, SK_EPARSE, &d);
  CHECK_INT(d.len, 1);
  CHECK_DIAG(&d, 0, 2, 2,
             "YAML syntax error: did not find expected ',' or ']' (while parsing a flow "
             "sequence that started at line 1, column 4)");
  sk_diags_release(&d);

  sk_diags_init(&d);
  parse_bad("a: 1\n b: 2\n", 10, SK_EPARSE, &d);
  CHECK_DIAG(&d, 0, 2, 3, "YAML syntax error: mapping values are not allowed in this context");
  sk_diags_release(&d);

  sk_diags_init(&d);
  parse_bad("x:\n  - a\n  b: c\n", 15, SK_EPARSE, &d);
  CHECK_DIAG(&d, 0, 3, 3, "did not find expected '-' indicator");
  sk_diags_release(&d);

  sk_diags_init(&d);
  parse_bad("a: \"open\nb: 1\n", 14, SK_EPARSE, &d);
  CHECK_DIAG(&d, 0, 3, 1, "found unexpected end of stream (while scanning a quoted scalar "
                          "that started at line 1, column 4)");
  sk_diags_release(&d);

  sk_diags_init(&d);
  parse_bad("a:\n\tb: 1\n", 9, SK_EPARSE, &d);
  CHECK_DIAG(&d, 0, 2, 1, "found character that cannot start any token");
  sk_diags_release(&d);

  /* A syntax error in a later document fails the whole stream. */
  sk_diags_init(&d);
  parse_bad("a: 1\n---\nb: [\n", 13, SK_EPARSE, &d);
  CHECK_DIAG(&d, 0, 4, 1, "YAML syntax error");
  sk_diags_release(&d);

  /* An error with no diagnostics list still fails cleanly. */
  sk_yaml_doc_t **docs = NULL;
  size_t n = 0;
  CHECK_INT(sk_yaml_parse("a: [", 4, NULL, NULL, &docs, &n), SK_EPARSE);
  CHECK_INT(sk_yaml_parse("a: 1\na: 2\n", 10, NULL, NULL, &docs, &n), SK_EPARSE);
  CHECK(docs == NULL);
}

TEST(many_errors_stop) {
  sk_buf_t s;
  sk_buf_init(&s, 1 << 20);
  sk_buf_puts(&s, "a: 1\n");
  for (int i = 0; i < 500; i++)
    sk_buf_puts(&s, "a: 2\n");
  sk_diags_t d;
  sk_diags_init(&d);
  parse_bad(s.data, s.len, SK_EPARSE, &d);
  CHECK_INT(d.len, 101);
  CHECK_DIAG(&d, 100, 101, 1, "too many problems (100)");
  sk_diags_release(&d);
  sk_buf_release(&s);
}

TEST(large_document) {
  sk_buf_t s;
  sk_buf_init(&s, SK_YAML_MAX_BYTES);
  int rc = sk_buf_puts(&s, "apiVersion: skein.dev/v1alpha1\nkind: Workflow\nspec:\n  steps:\n");
  for (int i = 0; rc == 0 && i < 10000; i++)
    rc = sk_buf_printf(&s,
                       "    - name: step-%d\n"
                       "      dependsOn: [step-%d]\n"
                       "      pod:\n"
                       "        image: python:3.11\n",
                       i, i ? i - 1 : 0);
  REQUIRE(rc == 0);
  int64_t t0 = sk_time_mono_ms();
  size_t n = 0;
  sk_yaml_doc_t **docs = parse_ok(s.data, &n);
  int64_t t1 = sk_time_mono_ms();
  REQUIRE(docs && n == 1);
  CHECK_INT(json_array_size(json_object_get(json_object_get(sk_yaml_doc_root(docs[0]), "spec"),
                                            "steps")),
            10000);
  char path[64];
  int bad = 0;
  for (int i = 0; i < 10000; i++) {
    int line, col;
    snprintf(path, sizeof(path), "spec.steps[%d].pod.image", i);
    sk_yaml_doc_pos(docs[0], path, &line, &col);
    if (line != 5 + 4 * i + 3 || col != 9)
      bad++;
    snprintf(path, sizeof(path), "spec.steps[%d].dependsOn[0]", i);
    sk_yaml_doc_pos(docs[0], path, &line, &col);
    if (line != 5 + 4 * i + 1 || col != 19)
      bad++;
  }
  int64_t t2 = sk_time_mono_ms();
  CHECK_INT(bad, 0);
  printf("  10000 steps: parse %lld ms, 20000 lookups %lld ms\n", (long long)(t1 - t0),
         (long long)(t2 - t1));
  /* Generous bounds: they hold under sanitizers on a busy machine, and
   * still catch a quadratic lookup or build. */
  CHECK(t1 - t0 < 5000);
  CHECK(t2 - t1 < 2000);
  sk_yaml_docs_destroy(docs, n);
  sk_buf_release(&s);
}

TEST(from_json) {
  json_t *root = json_pack("{s:{s:i}}", "spec", "x", 1);
  sk_yaml_doc_t *doc = sk_yaml_doc_from_json(root, "api:ml/mnist");
  json_decref(root);
  REQUIRE(doc);
  CHECK(json_is_object(sk_yaml_doc_root(doc)));
  CHECK_INT(json_integer_value(json_object_get(json_object_get(sk_yaml_doc_root(doc), "spec"),
                                               "x")),
            1);
  CHECK_STR(sk_yaml_doc_file(doc), "api:ml/mnist");
  CHECK_INT(sk_yaml_doc_index(doc), 1);
  CHECK_POS(doc, "spec.x", 0, 0);
  CHECK_POS(doc, "", 0, 0);
  sk_yaml_doc_destroy(doc);
  doc = sk_yaml_doc_from_json(json_null(), NULL);
  REQUIRE(doc);
  CHECK(sk_yaml_doc_file(doc) == NULL);
  sk_yaml_doc_destroy(doc);
  CHECK(sk_yaml_doc_from_json(NULL, "x") == NULL);
  sk_yaml_doc_destroy(NULL);
  sk_yaml_docs_destroy(NULL, 0);
}

TEST(parse_file) {
  sk_diags_t d;
  sk_diags_init(&d);
  sk_yaml_doc_t **docs = NULL;
  size_t n = 0;
  CHECK_INT(sk_yaml_parse_file("/nonexistent/skein/x.yaml", &d, &docs, &n), SK_ENOENT);
  CHECK_DIAG(&d, 0, 0, 0, "cannot open: No such file or directory");
  CHECK_STR(d.items[0].file, "/nonexistent/skein/x.yaml");
  sk_diags_release(&d);

  /* One of the fuzz seeds serves as a file on disk. */
  const char *src = getenv("SKEIN_SOURCE_DIR");
  if (!src) {
    printf("  (SKEIN_SOURCE_DIR unset: file test skipped)\n");
    return;
  }
  char path[4096];
  snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/yaml/workflow.yaml", src);
  sk_diags_init(&d);
  int rc = sk_yaml_parse_file(path, &d, &docs, &n);
  CHECK_INT(rc, 0);
  if (rc)
    sk_diags_print(&d, stdout);
  REQUIRE(rc == 0 && n == 1);
  CHECK_STR(sk_yaml_doc_file(docs[0]), path);
  CHECK_STR(json_string_value(json_object_get(sk_yaml_doc_root(docs[0]), "kind")), "Workflow");
  CHECK_POS(docs[0], "kind", 2, 1);
  sk_yaml_docs_destroy(docs, n);
  sk_diags_release(&d);

  /* A directory opens but cannot be read. */
  snprintf(path, sizeof(path), "%s/tests", src);
  sk_diags_init(&d);
  CHECK_INT(sk_yaml_parse_file(path, &d, &docs, &n), SK_EIO);
  CHECK_DIAG(&d, 0, 0, 0, "cannot read");
  sk_diags_release(&d);
}

int main(void) {
  RUN(scalars_core_schema);
  RUN(scalars_out_of_json);
  RUN(quoting);
  RUN(tags);
  RUN(positions);
  RUN(positions_fallback);
  RUN(path_helpers);
  RUN(multi_document);
  RUN(duplicate_keys);
  RUN(keys);
  RUN(aliases);
  RUN(merge_keys);
  RUN(billion_laughs);
  RUN(depth_cap);
  RUN(bytes);
  RUN(too_big);
  RUN(syntax_errors);
  RUN(many_errors_stop);
  RUN(large_document);
  RUN(from_json);
  RUN(parse_file);
  return TEST_DONE();
}
