#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "sk_test.h"
#include "spec/template.h"
#include "util/buf.h"
#include "util/error.h"

#define MENU                                                                               \
  "expected params.NAME, steps.STEP.outputs.NAME, steps.STEP.phase, "                     \
  "workflow.name|namespace|uid|phase or item"

/* Renders a parsed reference as "KIND a b" so a table can state it. */
static void ref_str(const sk_ref_t *r, char *out, size_t outlen) {
  static const char *kinds[] = {"param", "output", "phase", "workflow", "item"};
  snprintf(out, outlen, "%s %.*s %.*s", kinds[r->kind], (int)r->alen, r->a ? r->a : "",
           (int)r->blen, r->b ? r->b : "");
}

TEST(ref_valid) {
  static const struct {
    const char *in;
    const char *want;
  } cases[] = {
      {"params.epochs", "param epochs "},
      {"  params.min_accuracy  ", "param min_accuracy "},
      {"\tparams.a-b\n", "param a-b "},
      {"params._x9", "param _x9 "},
      {"steps.train.outputs.accuracy", "output train accuracy"},
      {"steps.train-3.outputs.model_uri", "output train-3 model_uri"},
      {"steps.0a.outputs.x", "output 0a x"},
      {"steps.evaluate.phase", "phase evaluate "},
      {"workflow.name", "workflow name "},
      {"workflow.namespace", "workflow namespace "},
      {"workflow.uid", "workflow uid "},
      {"workflow.phase", "workflow phase "},
      {"item", "item  "},
      {" item ", "item  "},
      {"item.lr", "item lr "},
      {"item.a.b", "item a.b "},
      {"item.a.b-c.d_e", "item a.b-c.d_e "},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    sk_ref_t r;
    char err[512] = "";
    int rc = sk_ref_parse(cases[i].in, strlen(cases[i].in), &r, err, sizeof(err));
    if (rc != 0) {
      FAILF("sk_ref_parse(\"%s\") == %d (%s), want 0", cases[i].in, rc, err);
      continue;
    }
    char got[256];
    ref_str(&r, got, sizeof(got));
    CHECK_STR(got, cases[i].want);
  }
}

TEST(ref_item_whole_points_into_text) {
  const char *t = "item";
  sk_ref_t r;
  CHECK_INT(sk_ref_parse(t, 4, &r, NULL, 0), 0);
  CHECK(r.a != NULL);
  CHECK_INT(r.alen, 0);
  /* Only len bytes count: the parser must not read past them. */
  CHECK_INT(sk_ref_parse("params.abcdef", 9, &r, NULL, 0), 0);
  CHECK_INT(r.alen, 2);
}

TEST(ref_invalid) {
  static const struct {
    const char *in;
    const char *want;
  } cases[] = {
      {"", "empty placeholder \"{{}}\": " MENU},
      {"   ", "empty placeholder \"{{}}\": " MENU},
      {"foo.bar", "unknown reference \"foo.bar\": " MENU},
      {"foo", "unknown reference \"foo\": " MENU},
      {"Params.x", "unknown reference \"Params.x\": " MENU},
      {"param.x", "unknown reference \"param.x\": " MENU " (did you mean \"params\"?)"},
      {"inputs.parameters.x",
       "unknown reference \"inputs.parameters.x\": " MENU " (did you mean \"params\"?)"},
      {"step.a.phase", "unknown reference \"step.a.phase\": " MENU " (did you mean \"steps\"?)"},
      {"items", "unknown reference \"items\": " MENU " (did you mean \"item\"?)"},
      {"params a", "unknown reference \"params a\": " MENU},
      {"params", "incomplete reference \"params\": expected params.NAME"},
      {"params.", "missing parameter name in \"params.\""},
      {"params.1x",
       "invalid parameter name \"1x\" in \"params.1x\" (expected letters, digits, '_' or '-', "
       "starting with a letter or '_')"},
      {"params.a b",
       "invalid parameter name \"a b\" in \"params.a b\" (expected letters, digits, '_' or '-', "
       "starting with a letter or '_')"},
      {"params.a.b", "unexpected \".b\" after \"params.a\""},
      {"steps", "incomplete reference \"steps\": expected steps.STEP.outputs.NAME or "
                "steps.STEP.phase"},
      {"steps..phase", "incomplete reference \"steps..phase\": expected steps.STEP.outputs.NAME "
                       "or steps.STEP.phase"},
      {"steps.a", "incomplete reference \"steps.a\": expected steps.a.outputs.NAME or "
                  "steps.a.phase"},
      {"steps.Train.phase",
       "invalid step name \"Train\" in \"steps.Train.phase\" (expected a DNS-1123 label: "
       "lowercase letters, digits and '-')"},
      {"steps.a_b.phase",
       "invalid step name \"a_b\" in \"steps.a_b.phase\" (expected a DNS-1123 label: "
       "lowercase letters, digits and '-')"},
      {"steps.a-.phase",
       "invalid step name \"a-\" in \"steps.a-.phase\" (expected a DNS-1123 label: "
       "lowercase letters, digits and '-')"},
      {"steps.a.output.x",
       "unknown step field \"output\" in \"steps.a.output.x\" (did you mean \"outputs\"?)"},
      {"steps.a.Outputs.x",
       "unknown step field \"Outputs\" in \"steps.a.Outputs.x\" (did you mean \"outputs\"?)"},
      {"steps.a.status",
       "unknown step field \"status\" in \"steps.a.status\" (did you mean \"phase\"?)"},
      {"steps.a.result",
       "unknown step field \"result\" in \"steps.a.result\" (expected outputs.NAME or phase)"},
      {"steps.a.outputs",
       "missing output name in \"steps.a.outputs\": expected steps.a.outputs.NAME"},
      {"steps.a.outputs.",
       "missing output name in \"steps.a.outputs.\": expected steps.a.outputs.NAME"},
      {"steps.a.outputs.x.y", "unexpected \".y\" after \"steps.a.outputs.x\""},
      {"steps.a.outputs.x.y.z.w", "unexpected \".y.z.w\" after \"steps.a.outputs.x\""},
      {"steps.a.outputs.9",
       "invalid output name \"9\" in \"steps.a.outputs.9\" (expected letters, digits, '_' or "
       "'-', starting with a letter or '_')"},
      {"steps.a.phase.x", "unexpected \".x\" after \"steps.a.phase\""},
      {"workflow", "incomplete reference \"workflow\": expected workflow.name|namespace|uid|phase"},
      {"workflow.nope", "unknown workflow field \"nope\" (expected name, namespace, uid or phase)"},
      {"workflow.", "unknown workflow field \"\" (expected name, namespace, uid or phase)"},
      {"workflow.name.x", "unexpected \".x\" after \"workflow.name\""},
      {"item.", "missing item key in \"item.\""},
      {"item.a..b", "missing item key in \"item.a..b\""},
      {"item.0",
       "invalid item key \"0\" in \"item.0\" (expected letters, digits, '_' or '-', starting "
       "with a letter or '_')"},
      {"item.a b",
       "invalid item key \"a b\" in \"item.a b\" (expected letters, digits, '_' or '-', starting "
       "with a letter or '_')"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    sk_ref_t r;
    char err[512] = "";
    int rc = sk_ref_parse(cases[i].in, strlen(cases[i].in), &r, err, sizeof(err));
    if (rc != SK_EPARSE) {
      FAILF("sk_ref_parse(\"%s\") == %d, want SK_EPARSE", cases[i].in, rc);
      continue;
    }
    CHECK_STR(err, cases[i].want);
  }
}

TEST(ref_long_text_is_cut_in_messages) {
  char in[400];
  memset(in, 'x', sizeof(in) - 1);
  in[sizeof(in) - 1] = '\0';
  char err[1024];
  sk_ref_t r;
  CHECK_INT(sk_ref_parse(in, strlen(in), &r, err, sizeof(err)), SK_EPARSE);
  CHECK(strstr(err, "...\": expected") != NULL);
  CHECK(strlen(err) < 300);
  /* A tiny error buffer truncates instead of overflowing. */
  char small[8];
  CHECK_INT(sk_ref_parse("nope", 4, &r, small, sizeof(small)), SK_EPARSE);
  CHECK_STR(small, "unknown");
}

/* A visitor that records each placeholder as "OFFSET:KIND a b;". */
typedef struct {
  char log[512];
  int stop_at;  /* stop with 7 at this visit (1-based); 0 never */
  int n;
} rec_t;

static int rec_visit(void *ud, const sk_ref_t *ref, size_t offset) {
  rec_t *r = ud;
  char one[128];
  ref_str(ref, one, sizeof(one));
  size_t len = strlen(r->log);
  snprintf(r->log + len, sizeof(r->log) - len, "%zu:%s;", offset, one);
  r->n++;
  return r->n == r->stop_at ? 7 : 0;
}

TEST(scan_valid) {
  static const struct {
    const char *in;
    const char *want;
  } cases[] = {
      {"", ""},
      {"plain text", ""},
      {"{{params.a}}", "0:param a ;"},
      {"x {{ params.a }} y {{steps.s.phase}}", "2:param a ;19:phase s ;"},
      {"\\{{params.a}}", ""},
      {"\\{{not a ref}}", ""},
      {"a }} b", ""},
      {"}}{{item}}}}", "2:item  ;"},
      {"{ {item} }", ""},
      {"\\{{x}} {{item.k}}", "7:item k ;"},
      {"a\\b{{item}}", "3:item  ;"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    rec_t r = {{0}, 0, 0};
    char err[512] = "";
    int rc = sk_tmpl_scan(cases[i].in, rec_visit, &r, err, sizeof(err), NULL);
    if (rc != 0) {
      FAILF("scan(\"%s\") == %d (%s), want 0", cases[i].in, rc, err);
      continue;
    }
    CHECK_STR(r.log, cases[i].want);
  }
}

TEST(scan_invalid) {
  static const struct {
    const char *in;
    const char *want;
    size_t off;
  } cases[] = {
      {"{{", "unclosed \"{{\" at byte 0", 0},
      {"abc {{params.a", "unclosed \"{{\" at byte 4", 4},
      {"{{params.a}} {{params.b}", "unclosed \"{{\" at byte 13", 13},
      {"x{{}}", "empty placeholder \"{{}}\": " MENU, 1},
      {"a {{ }} b", "empty placeholder \"{{}}\": " MENU, 2},
      {"ok {{foo.bar}}", "unknown reference \"foo.bar\": " MENU, 3},
      {"{{workflow.nope}}", "unknown workflow field \"nope\" (expected name, namespace, uid or "
                            "phase)", 0},
      {"{{{{item}}", "unknown reference \"{{item\": " MENU, 0},
      {"{{steps.a.output.x}}",
       "unknown step field \"output\" in \"steps.a.output.x\" (did you mean \"outputs\"?)", 0},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    rec_t r = {{0}, 0, 0};
    char err[512] = "";
    size_t off = 999;
    int rc = sk_tmpl_scan(cases[i].in, rec_visit, &r, err, sizeof(err), &off);
    if (rc != SK_EPARSE) {
      FAILF("scan(\"%s\") == %d, want SK_EPARSE", cases[i].in, rc);
      continue;
    }
    CHECK_STR(err, cases[i].want);
    CHECK_INT(off, cases[i].off);
  }
}

TEST(scan_visitor_stops) {
  rec_t r = {{0}, 2, 0};
  size_t off = 0;
  int rc = sk_tmpl_scan("{{item}} {{params.a}} {{params.b}}", rec_visit, &r, NULL, 0, &off);
  CHECK_INT(rc, 7);
  CHECK_INT(r.n, 2);
  CHECK_INT(off, 9);
  CHECK_STR(r.log, "0:item  ;9:param a ;");
}

/* A resolver over a fixed table; "steps.*.outputs.missing" fails. */
static int fake_resolve(void *ud, const sk_ref_t *ref, sk_buf_t *out, char *err,
                        size_t errlen) {
  int *calls = ud;
  if (calls)
    (*calls)++;
  switch (ref->kind) {
  case SK_REF_PARAM:
    if (ref->alen == 6 && memcmp(ref->a, "epochs", 6) == 0)
      return sk_buf_puts(out, "5");
    if (ref->alen == 3 && memcmp(ref->a, "big", 3) == 0)
      return sk_buf_puts(out, "0123456789");
    if (ref->alen == 5 && memcmp(ref->a, "brace", 5) == 0)
      return sk_buf_puts(out, "{{params.epochs}}");
    snprintf(err, errlen, "no parameter named %.*s", (int)ref->alen, ref->a);
    return SK_ENOENT;
  case SK_REF_STEP_OUTPUT:
    if (ref->blen == 7 && memcmp(ref->b, "missing", 7) == 0) {
      snprintf(err, errlen, "step %.*s has no output named missing", (int)ref->alen, ref->a);
      return SK_ENOENT;
    }
    if (ref->blen == 6 && memcmp(ref->b, "silent", 6) == 0)
      return SK_EIO;
    return sk_buf_printf(out, "%.*s/%.*s", (int)ref->alen, ref->a, (int)ref->blen, ref->b);
  case SK_REF_STEP_PHASE:
    return sk_buf_puts(out, "Succeeded");
  case SK_REF_WORKFLOW:
    return sk_buf_printf(out, "wf-%.*s", (int)ref->alen, ref->a);
  case SK_REF_ITEM:
    if (ref->alen == 0)
      return sk_buf_puts(out, "0.01");
    return sk_buf_printf(out, "item[%.*s]", (int)ref->alen, ref->a);
  }
  return SK_EINVAL;
}

TEST(expand_valid) {
  static const struct {
    const char *in;
    const char *want;
  } cases[] = {
      {"", ""},
      {"no placeholders", "no placeholders"},
      {"{{params.epochs}}", "5"},
      {"--epochs={{ params.epochs }}", "--epochs=5"},
      {"{{params.epochs}}{{params.epochs}}", "55"},
      {"lr={{item}} key={{item.a.b}}", "lr=0.01 key=item[a.b]"},
      {"{{steps.train-2.outputs.uri}}", "train-2/uri"},
      {"{{steps.train.phase}}", "Succeeded"},
      {"{{workflow.name}}/{{workflow.namespace}}/{{workflow.uid}}/{{workflow.phase}}",
       "wf-name/wf-namespace/wf-uid/wf-phase"},
      {"\\{{params.epochs}}", "{{params.epochs}}"},
      {"a\\{{b}} {{params.epochs}}", "a{{b}} 5"},
      {"\\\\{{x}}", "\\{{x}}"},
      {"back\\slash", "back\\slash"},
      {"trail\\", "trail\\"},
      {"a }} b", "a }} b"},
      {"{ {x} }", "{ {x} }"},
      {"{", "{"},
      /* A value that looks like a placeholder is data: it is not expanded again. */
      {"{{params.brace}}", "{{params.epochs}}"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    sk_buf_t out;
    sk_buf_init(&out, 4096);
    char err[512] = "";
    int rc = sk_tmpl_expand(cases[i].in, fake_resolve, NULL, &out, err, sizeof(err));
    if (rc != 0)
      FAILF("expand(\"%s\") == %d (%s), want 0", cases[i].in, rc, err);
    else
      CHECK_STR(out.data ? out.data : "", cases[i].want);
    sk_buf_release(&out);
  }
}

TEST(expand_appends) {
  sk_buf_t out;
  sk_buf_init(&out, 64);
  sk_buf_puts(&out, "pre:");
  CHECK_INT(sk_tmpl_expand("{{params.epochs}}", fake_resolve, NULL, &out, NULL, 0), 0);
  CHECK_STR(out.data, "pre:5");
  sk_buf_release(&out);
}

TEST(expand_invalid) {
  static const struct {
    const char *in;
    int rc;
    const char *want;
    int calls;
  } cases[] = {
      {"{{params.nope}}", SK_ENOENT, "no parameter named nope", 1},
      {"x {{steps.a.outputs.missing}}", SK_ENOENT, "step a has no output named missing", 1},
      {"{{steps.a.outputs.silent}}", SK_EIO,
       "cannot resolve the placeholder at byte 0: input/output error", 1},
      {"{{params.epochs", SK_EPARSE, "unclosed \"{{\" at byte 0", 0},
      /* Syntax is checked before anything is resolved. */
      {"{{params.epochs}} {{bad}}", SK_EPARSE, "unknown reference \"bad\": " MENU, 0},
      {"{{params.nope}} {{", SK_EPARSE, "unclosed \"{{\" at byte 16", 0},
      {"{{}}", SK_EPARSE, "empty placeholder \"{{}}\": " MENU, 0},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    sk_buf_t out;
    sk_buf_init(&out, 4096);
    char err[512] = "";
    int calls = 0;
    int rc = sk_tmpl_expand(cases[i].in, fake_resolve, &calls, &out, err, sizeof(err));
    CHECK_INT(rc, cases[i].rc);
    CHECK_STR(err, cases[i].want);
    CHECK_INT(calls, cases[i].calls);
    sk_buf_release(&out);
  }
}

TEST(expand_respects_cap) {
  sk_buf_t out;
  sk_buf_init(&out, 15);
  char err[256] = "";
  CHECK_INT(sk_tmpl_expand("ab{{params.big}}cdefgh", fake_resolve, NULL, &out, err, sizeof(err)),
            SK_ETOOBIG);
  CHECK_STR(err, "expanded text is longer than 15 bytes");
  sk_buf_reset(&out);
  CHECK_INT(sk_tmpl_expand("{{params.big}}{{params.big}}", fake_resolve, NULL, &out, err,
                           sizeof(err)),
            SK_ETOOBIG);
  CHECK_STR(err, "expanded text is longer than 15 bytes");
  sk_buf_release(&out);
}

static json_t *load(const char *text) {
  json_error_t je;
  json_t *v = json_loads(text, 0, &je);
  if (!v)
    printf("  bad test JSON: %s\n", je.text);
  return v;
}

TEST(expand_json_deep) {
  json_t *in = load("{\"image\": \"py:{{params.epochs}}\","
                    " \"command\": [\"python\", \"-c\", \"{{item}}\"],"
                    " \"env\": [{\"name\": \"{{params.epochs}}\", \"value\": \"{{item.k}}\"}],"
                    " \"n\": 3, \"f\": 1.5, \"t\": true, \"z\": null,"
                    " \"{{params.epochs}}\": \"key kept\","
                    " \"nested\": {\"a\": [[\"{{workflow.uid}}\"]]}}");
  REQUIRE(in);
  char *before = json_dumps(in, JSON_SORT_KEYS | JSON_COMPACT);
  char err[512] = "";
  json_t *out = sk_tmpl_expand_json(in, fake_resolve, NULL, err, sizeof(err));
  if (!out) {
    FAILF("expand_json failed: %s", err);
  } else {
    char *got = json_dumps(out, JSON_SORT_KEYS | JSON_COMPACT);
    CHECK_STR(got, "{\"command\":[\"python\",\"-c\",\"0.01\"],"
                   "\"env\":[{\"name\":\"5\",\"value\":\"item[k]\"}],"
                   "\"f\":1.5,\"image\":\"py:5\",\"n\":3,"
                   "\"nested\":{\"a\":[[\"wf-uid\"]]},\"t\":true,\"z\":null,"
                   "\"{{params.epochs}}\":\"key kept\"}");
    free(got);
    CHECK(out != in);
    CHECK_INT(out->refcount, 1);
    json_decref(out);
  }
  /* The input is not modified. */
  char *after = json_dumps(in, JSON_SORT_KEYS | JSON_COMPACT);
  CHECK_STR(after, before);
  free(before);
  free(after);
  json_decref(in);
}

TEST(expand_json_scalars) {
  char err[256];
  json_t *s = json_string("{{params.epochs}} epochs");
  json_t *o = sk_tmpl_expand_json(s, fake_resolve, NULL, err, sizeof(err));
  REQUIRE(o);
  CHECK_STR(json_string_value(o), "5 epochs");
  json_decref(o);
  json_decref(s);
  json_t *n = json_integer(42);
  o = sk_tmpl_expand_json(n, fake_resolve, NULL, err, sizeof(err));
  REQUIRE(o);
  CHECK(json_equal(o, n));
  json_decref(o);
  json_decref(n);
  /* A string carrying a NUL byte keeps it and what follows. */
  json_t *z = json_stringn("a\0{{item}}", 10);
  o = sk_tmpl_expand_json(z, fake_resolve, NULL, err, sizeof(err));
  REQUIRE(o);
  CHECK_INT(json_string_length(o), 6);
  CHECK(memcmp(json_string_value(o), "a\0" "0.01", 6) == 0);
  json_decref(o);
  json_decref(z);
}

TEST(expand_json_errors) {
  static const struct {
    const char *json;
    const char *want;
  } cases[] = {
      {"{\"command\": [\"ok\", \"{{params.nope}}\"]}", "command[1]: no parameter named nope"},
      {"{\"env\": [{\"name\": \"A\", \"value\": \"{{foo}}\"}]}",
       "env[0].value: unknown reference \"foo\": " MENU},
      {"{\"a\": {\"b\": [1, 2, {\"c\": \"{{\"}]}}", "a.b[2].c: unclosed \"{{\" at byte 0"},
      {"{\"metadata\": {\"labels\": {\"app.kubernetes.io/name\": \"{{workflow.x}}\"}}}",
       "metadata.labels[\"app.kubernetes.io/name\"]: unknown workflow field \"x\" (expected "
       "name, namespace, uid or phase)"},
      {"[\"{{steps.s.outputs.missing}}\"]", "[0]: step s has no output named missing"},
      {"\"{{params.nope}}\"", "no parameter named nope"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    json_t *in = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
    if (!in) {
      FAILF("bad test JSON %s", cases[i].json);
      continue;
    }
    char err[512] = "";
    json_t *out = sk_tmpl_expand_json(in, fake_resolve, NULL, err, sizeof(err));
    CHECK(out == NULL);
    json_decref(out);
    CHECK_STR(err, cases[i].want);
    json_decref(in);
  }
}

TEST(expand_json_depth_capped) {
  json_t *root = json_array();
  json_t *cur = root;
  for (int i = 0; i < 300; i++) {
    json_t *inner = json_array();
    json_array_append_new(cur, inner);
    cur = inner;
  }
  char err[4096] = "";
  json_t *out = sk_tmpl_expand_json(root, fake_resolve, NULL, err, sizeof(err));
  CHECK(out == NULL);
  CHECK(strstr(err, ": nested deeper than 256 levels") != NULL);
  CHECK(strncmp(err, "[0][0][0]", 9) == 0);
  json_decref(root);
}

int main(void) {
  RUN(ref_valid);
  RUN(ref_item_whole_points_into_text);
  RUN(ref_invalid);
  RUN(ref_long_text_is_cut_in_messages);
  RUN(scan_valid);
  RUN(scan_invalid);
  RUN(scan_visitor_stops);
  RUN(expand_valid);
  RUN(expand_appends);
  RUN(expand_invalid);
  RUN(expand_respects_cap);
  RUN(expand_json_deep);
  RUN(expand_json_scalars);
  RUN(expand_json_errors);
  RUN(expand_json_depth_capped);
  return TEST_DONE();
}
