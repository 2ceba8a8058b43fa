#include "spec/template.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util/error.h"
#include "util/strutil.h"

/* The list of valid reference shapes, repeated in every "unknown reference"
 * message so that a user sees the whole menu at the point of the mistake. */
#define REF_MENU                                                                           \
  "expected params.NAME, steps.STEP.outputs.NAME, steps.STEP.phase, "                     \
  "workflow.name|namespace|uid|phase or item"

/* How much of a user's text is echoed back in a message: enough to
 * recognise it, not so much that a hostile string floods a status field. */
#define SHOW_MAX 80

/* One expanded JSON string may not grow past this, so that a value
 * repeated by many placeholders cannot exhaust memory. */
#define EXPAND_JSON_MAX_STRING (1u << 20)

/* Nesting limit of sk_tmpl_expand_json, which recurses once per level. */
#define EXPAND_JSON_MAX_DEPTH 256

/* The path of a JSON value is kept for messages only, so a cap that cuts a
 * pathological path short is harmless. */
#define EXPAND_JSON_MAX_PATH 2048

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || errlen == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

/* Length to print of a user string and the ellipsis that says it was cut. */
static int show_len(size_t len) { return (int)(len > SHOW_MAX ? SHOW_MAX : len); }
static const char *show_tail(size_t len) { return len > SHOW_MAX ? "..." : ""; }

static bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* NAME = [A-Za-z_][A-Za-z0-9_-]*, the rule for parameter, output and item
 * key names. */
static bool is_ident(const char *s, size_t n) {
  if (n == 0 || !(is_alpha(s[0]) || s[0] == '_'))
    return false;
  for (size_t i = 1; i < n; i++) {
    if (!is_alpha(s[i]) && !is_digit(s[i]) && s[i] != '_' && s[i] != '-')
      return false;
  }
  return true;
}

static bool is_label(const char *s, size_t n) {
  char tmp[64];
  if (n == 0 || n >= sizeof(tmp))
    return false;
  memcpy(tmp, s, n);
  tmp[n] = '\0';
  return sk_is_dns1123_label(tmp);
}

static bool seg_is(const char *s, size_t n, const char *word) {
  return strlen(word) == n && memcmp(s, word, n) == 0;
}

static bool seg_is_nocase(const char *s, size_t n, const char *word) {
  if (strlen(word) != n)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z')
      c = (char)(c - 'A' + 'a');
    if (c != word[i])
      return false;
  }
  return true;
}

/* A reference split at its dots. Five segments are enough for every valid
 * shape except nested item keys, which keep the rest of the text whole. */
typedef struct {
  const char *s[5];
  size_t n[5];
  size_t count;      /* segments found, at most 5 */
  const char *rest;  /* text after the 4th dot when there are more than 5 */
} segs_t;

static void split(const char *t, size_t len, segs_t *sg) {
  sg->count = 0;
  sg->rest = NULL;
  size_t start = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i == len || t[i] == '.') {
      if (sg->count < 5) {
        sg->s[sg->count] = t + start;
        sg->n[sg->count] = i - start;
        sg->count++;
      }
      start = i + 1;
    }
  }
}

/* Reports a reference that has more segments than its shape allows: `what`
 * is the valid prefix, the rest is what follows it. */
static int err_trailing(const char *t, size_t len, size_t keep, char *err, size_t errlen) {
  set_err(err, errlen, "unexpected \"%.*s%s\" after \"%.*s%s\"", show_len(len - keep), t + keep,
          show_tail(len - keep), show_len(keep), t, show_tail(keep));
  return SK_EPARSE;
}

static int check_name(const char *what, const char *name, size_t n, const char *t, size_t len,
                      char *err, size_t errlen) {
  if (n == 0) {
    set_err(err, errlen, "missing %s in \"%.*s%s\"", what, show_len(len), t, show_tail(len));
    return SK_EPARSE;
  }
  if (!is_ident(name, n)) {
    set_err(err, errlen,
            "invalid %s \"%.*s%s\" in \"%.*s%s\" (expected letters, digits, '_' or '-', "
            "starting with a letter or '_')",
            what, show_len(n), name, show_tail(n), show_len(len), t, show_tail(len));
    return SK_EPARSE;
  }
  return 0;
}

static int parse_params(const char *t, size_t len, const segs_t *sg, sk_ref_t *ref, char *err,
                        size_t errlen) {
  if (sg->count < 2) {
    set_err(err, errlen, "incomplete reference \"params\": expected params.NAME");
    return SK_EPARSE;
  }
  int rc = check_name("parameter name", sg->s[1], sg->n[1], t, len, err, errlen);
  if (rc < 0)
    return rc;
  if (sg->count > 2)
    return err_trailing(t, len, (size_t)(sg->s[1] + sg->n[1] - t), err, errlen);
  ref->kind = SK_REF_PARAM;
  ref->a = sg->s[1];
  ref->alen = sg->n[1];
  return 0;
}

static int parse_steps(const char *t, size_t len, const segs_t *sg, sk_ref_t *ref, char *err,
                       size_t errlen) {
  if (sg->count < 2 || sg->n[1] == 0) {
    set_err(err, errlen,
            "incomplete reference \"%.*s%s\": expected steps.STEP.outputs.NAME or "
            "steps.STEP.phase",
            show_len(len), t, show_tail(len));
    return SK_EPARSE;
  }
  const char *step = sg->s[1];
  size_t sn = sg->n[1];
  if (!is_label(step, sn)) {
    set_err(err, errlen,
            "invalid step name \"%.*s%s\" in \"%.*s%s\" (expected a DNS-1123 label: "
            "lowercase letters, digits and '-')",
            show_len(sn), step, show_tail(sn), show_len(len), t, show_tail(len));
    return SK_EPARSE;
  }
  if (sg->count < 3) {
    set_err(err, errlen,
            "incomplete reference \"%.*s\": expected steps.%.*s.outputs.NAME or "
            "steps.%.*s.phase",
            (int)len, t, (int)sn, step, (int)sn, step);
    return SK_EPARSE;
  }
  const char *f = sg->s[2];
  size_t fn = sg->n[2];
  if (seg_is(f, fn, "phase")) {
    if (sg->count > 3)
      return err_trailing(t, len, (size_t)(f + fn - t), err, errlen);
    ref->kind = SK_REF_STEP_PHASE;
    ref->a = step;
    ref->alen = sn;
    return 0;
  }
  if (seg_is(f, fn, "outputs")) {
    if (sg->count < 4 || sg->n[3] == 0) {
      set_err(err, errlen, "missing output name in \"%.*s%s\": expected steps.%.*s.outputs.NAME",
              show_len(len), t, show_tail(len), (int)sn, step);
      return SK_EPARSE;
    }
    int rc = check_name("output name", sg->s[3], sg->n[3], t, len, err, errlen);
    if (rc < 0)
      return rc;
    if (sg->count > 4)
      return err_trailing(t, len, (size_t)(sg->s[3] + sg->n[3] - t), err, errlen);
    ref->kind = SK_REF_STEP_OUTPUT;
    ref->a = step;
    ref->alen = sn;
    ref->b = sg->s[3];
    ref->blen = sg->n[3];
    return 0;
  }
  /* The likely slips get a suggestion; anything else gets the menu. */
  const char *hint = NULL;
  if (seg_is_nocase(f, fn, "output") || seg_is_nocase(f, fn, "outputs"))
    hint = "outputs";
  else if (seg_is_nocase(f, fn, "phase") || seg_is_nocase(f, fn, "status"))
    hint = "phase";
  if (hint) {
    set_err(err, errlen, "unknown step field \"%.*s%s\" in \"%.*s%s\" (did you mean \"%s\"?)",
            show_len(fn), f, show_tail(fn), show_len(len), t, show_tail(len), hint);
  } else {
    set_err(err, errlen,
            "unknown step field \"%.*s%s\" in \"%.*s%s\" (expected outputs.NAME or phase)",
            show_len(fn), f, show_tail(fn), show_len(len), t, show_tail(len));
  }
  return SK_EPARSE;
}

static int parse_workflow(const char *t, size_t len, const segs_t *sg, sk_ref_t *ref, char *err,
                          size_t errlen) {
  if (sg->count < 2) {
    set_err(err, errlen,
            "incomplete reference \"workflow\": expected workflow.name|namespace|uid|phase");
    return SK_EPARSE;
  }
  const char *f = sg->s[1];
  size_t fn = sg->n[1];
  if (!seg_is(f, fn, "name") && !seg_is(f, fn, "namespace") && !seg_is(f, fn, "uid") &&
      !seg_is(f, fn, "phase")) {
    set_err(err, errlen,
            "unknown workflow field \"%.*s%s\" (expected name, namespace, uid or phase)",
            show_len(fn), f, show_tail(fn));
    return SK_EPARSE;
  }
  if (sg->count > 2)
    return err_trailing(t, len, (size_t)(f + fn - t), err, errlen);
  ref->kind = SK_REF_WORKFLOW;
  ref->a = f;
  ref->alen = fn;
  return 0;
}

static int parse_item(const char *t, size_t len, sk_ref_t *ref, char *err, size_t errlen) {
  ref->kind = SK_REF_ITEM;
  if (len == 4) {
    /* An empty key still points into the text, so callers may compare it
     * with memcmp without a NULL check. */
    ref->a = t + len;
    ref->alen = 0;
    return 0;
  }
  /* Every dot-separated key of a nested path must be a name on its own. */
  const char *key = t + 5;
  size_t klen = len - 5;
  size_t start = 0;
  for (size_t i = 0; i <= klen; i++) {
    if (i == klen || key[i] == '.') {
      int rc = check_name("item key", key + start, i - start, t, len, err, errlen);
      if (rc < 0)
        return rc;
      start = i + 1;
    }
  }
  ref->a = key;
  ref->alen = klen;
  return 0;
}

int sk_ref_parse(const char *text, size_t len, sk_ref_t *ref, char *err, size_t errlen) {
  if (!text || !ref)
    return SK_EINVAL;
  while (len > 0 && is_space(text[0])) {
    text++;
    len--;
  }
  while (len > 0 && is_space(text[len - 1]))
    len--;
  memset(ref, 0, sizeof(*ref));
  if (len == 0) {
    set_err(err, errlen, "empty placeholder \"{{}}\": " REF_MENU);
    return SK_EPARSE;
  }
  segs_t sg;
  split(text, len, &sg);
  const char *root = sg.s[0];
  size_t rn = sg.n[0];
  if (seg_is(root, rn, "params"))
    return parse_params(text, len, &sg, ref, err, errlen);
  if (seg_is(root, rn, "steps"))
    return parse_steps(text, len, &sg, ref, err, errlen);
  if (seg_is(root, rn, "workflow"))
    return parse_workflow(text, len, &sg, ref, err, errlen);
  if (seg_is(root, rn, "item"))
    return parse_item(text, len, ref, err, errlen);
  const char *hint = NULL;
  if (seg_is(root, rn, "param") || seg_is(root, rn, "inputs"))
    hint = "params";
  else if (seg_is(root, rn, "step"))
    hint = "steps";
  else if (seg_is(root, rn, "workflows"))
    hint = "workflow";
  else if (seg_is(root, rn, "items"))
    hint = "item";
  if (hint) {
    set_err(err, errlen, "unknown reference \"%.*s%s\": " REF_MENU " (did you mean \"%s\"?)",
            show_len(len), text, show_tail(len), hint);
  } else {
    set_err(err, errlen, "unknown reference \"%.*s%s\": " REF_MENU, show_len(len), text,
            show_tail(len));
  }
  return SK_EPARSE;
}

/* Finds "}}" at or after from; returns its offset or len when absent. */
static size_t find_close(const char *s, size_t len, size_t from) {
  for (size_t i = from; i + 1 < len; i++) {
    if (s[i] == '}' && s[i + 1] == '}')
      return i;
  }
  return len;
}

/*
 * The one tokenizer of template strings, shared by scan and expand so that
 * both agree on what is a placeholder. For each placeholder it calls
 * on_ref; for each run of literal text it calls on_text (which may be NULL
 * when only placeholders matter).
 */
typedef int (*text_fn)(void *ud, const char *p, size_t n);
typedef int (*ref_fn)(void *ud, const sk_ref_t *ref, size_t offset);

static int walk(const char *s, size_t len, text_fn on_text, ref_fn on_ref, void *ud, char *err,
                size_t errlen, size_t *err_off) {
  size_t lit = 0; /* start of the pending literal run */
  size_t i = 0;
  int rc;
  while (i < len) {
    if (s[i] == '\\' && i + 2 < len && s[i + 1] == '{' && s[i + 2] == '{') {
      /* "\{{" is a literal "{{": flush the text before the backslash and
       * restart the literal run at the braces. */
      if (on_text && i > lit && (rc = on_text(ud, s + lit, i - lit)) != 0)
        return rc;
      lit = i + 1;
      i += 3;
      continue;
    }
    if (s[i] != '{' || i + 1 >= len || s[i + 1] != '{') {
      i++;
      continue;
    }
    size_t close = find_close(s, len, i + 2);
    if (close == len) {
      set_err(err, errlen, "unclosed \"{{\" at byte %zu", i);
      if (err_off)
        *err_off = i;
      return SK_EPARSE;
    }
    sk_ref_t ref;
    rc = sk_ref_parse(s + i + 2, close - (i + 2), &ref, err, errlen);
    if (rc < 0) {
      if (err_off)
        *err_off = i;
      return rc;
    }
    if (on_text && i > lit && (rc = on_text(ud, s + lit, i - lit)) != 0)
      return rc;
    if ((rc = on_ref(ud, &ref, i)) != 0) {
      if (err_off)
        *err_off = i;
      return rc;
    }
    i = close + 2;
    lit = i;
  }
  if (on_text && len > lit && (rc = on_text(ud, s + lit, len - lit)) != 0)
    return rc;
  return 0;
}

typedef struct {
  sk_tmpl_visit_fn fn;
  void *ud;
} scan_ctx_t;

static int scan_ref(void *ud, const sk_ref_t *ref, size_t offset) {
  scan_ctx_t *c = ud;
  return c->fn ? c->fn(c->ud, ref, offset) : 0;
}

int sk_tmpl_scan(const char *s, sk_tmpl_visit_fn fn, void *ud, char *err, size_t errlen,
                 size_t *err_off) {
  if (!s)
    return SK_EINVAL;
  scan_ctx_t c = {fn, ud};
  return walk(s, strlen(s), NULL, scan_ref, &c, err, errlen, err_off);
}

typedef struct {
  sk_tmpl_resolve_fn fn;
  void *ud;
  sk_buf_t *out;
  char *err;
  size_t errlen;
} expand_ctx_t;

static int expand_text(void *ud, const char *p, size_t n) {
  expand_ctx_t *c = ud;
  int rc = sk_buf_append(c->out, p, n);
  if (rc < 0)
    set_err(c->err, c->errlen, "expanded text is longer than %zu bytes", c->out->max);
  return rc;
}

static int expand_ref(void *ud, const sk_ref_t *ref, size_t offset) {
  expand_ctx_t *c = ud;
  if (c->err && c->errlen)
    c->err[0] = '\0';
  int rc = c->fn(c->ud, ref, c->out, c->err, c->errlen);
  if (rc < 0 && c->err && c->errlen && c->err[0] == '\0') {
    /* A resolver that failed silently still deserves a message naming the
     * placeholder it could not resolve. */
    if (rc == SK_ETOOBIG)
      set_err(c->err, c->errlen, "expanded text is longer than %zu bytes", c->out->max);
    else
      set_err(c->err, c->errlen, "cannot resolve the placeholder at byte %zu: %s", offset,
              sk_strerror(rc));
  }
  return rc;
}

static int ignore_ref(void *ud, const sk_ref_t *ref, size_t offset) { return 0; }

static int expand_n(const char *s, size_t len, sk_tmpl_resolve_fn fn, void *ud, sk_buf_t *out,
                    char *err, size_t errlen) {
  /* Syntax is checked over the whole string first, so that a typo is
   * reported the same way whether or not an earlier value resolves. */
  int rc = walk(s, len, NULL, ignore_ref, NULL, err, errlen, NULL);
  if (rc < 0)
    return rc;
  expand_ctx_t c = {fn, ud, out, err, errlen};
  return walk(s, len, expand_text, expand_ref, &c, err, errlen, NULL);
}

int sk_tmpl_expand(const char *s, sk_tmpl_resolve_fn fn, void *ud, sk_buf_t *out, char *err,
                   size_t errlen) {
  if (!s || !fn || !out)
    return SK_EINVAL;
  return expand_n(s, strlen(s), fn, ud, out, err, errlen);
}

typedef struct {
  sk_tmpl_resolve_fn fn;
  void *ud;
  sk_buf_t path;
  char *err;
  size_t errlen;
} json_ctx_t;

/* Keys that are plain names print as `.key`; others as `["key"]`, so the
 * path stays unambiguous for keys such as "app.kubernetes.io/name". */
static bool key_is_plain(const char *k) {
  if (!*k)
    return false;
  for (const char *p = k; *p; p++) {
    if (!is_alpha(*p) && !is_digit(*p) && *p != '_' && *p != '-')
      return false;
  }
  return true;
}

static void path_push_key(sk_buf_t *path, const char *k) {
  if (key_is_plain(k)) {
    if (path->len > 0)
      sk_buf_putc(path, '.');
    sk_buf_puts(path, k);
  } else {
    sk_buf_printf(path, "[\"%.*s%s\"]", show_len(strlen(k)), k, show_tail(strlen(k)));
  }
}

static void path_pop(sk_buf_t *path, size_t len) {
  if (path->data && len <= path->len) {
    path->len = len;
    path->data[len] = '\0';
  }
}

static json_t *expand_value(json_ctx_t *c, json_t *v, int depth);

static json_t *expand_string(json_ctx_t *c, json_t *v) {
  char leaf[512];
  leaf[0] = '\0';
  sk_buf_t out;
  sk_buf_init(&out, EXPAND_JSON_MAX_STRING);
  json_t *r = NULL;
  int rc = expand_n(json_string_value(v), json_string_length(v), c->fn, c->ud, &out, leaf,
                    sizeof(leaf));
  if (rc < 0) {
    if (c->path.len > 0)
      set_err(c->err, c->errlen, "%s: %s", c->path.data, leaf);
    else
      set_err(c->err, c->errlen, "%s", leaf);
    goto done;
  }
  r = json_stringn(out.data ? out.data : "", out.len);
  if (!r) {
    /* jansson refuses strings that are not UTF-8, which a resolver may
     * produce from a binary output. */
    if (c->path.len > 0)
      set_err(c->err, c->errlen, "%s: expanded value is not valid UTF-8", c->path.data);
    else
      set_err(c->err, c->errlen, "expanded value is not valid UTF-8");
  }
done:
  sk_buf_release(&out);
  return r;
}

static json_t *expand_array(json_ctx_t *c, json_t *v, int depth) {
  json_t *r = json_array();
  if (!r)
    goto fail;
  size_t i;
  json_t *el;
  json_array_foreach(v, i, el) {
    size_t mark = c->path.len;
    sk_buf_printf(&c->path, "[%zu]", i);
    json_t *x = expand_value(c, el, depth + 1);
    path_pop(&c->path, mark);
    if (!x || json_array_append_new(r, x) < 0)
      goto fail;
  }
  return r;
fail:
  json_decref(r);
  return NULL;
}

static json_t *expand_object(json_ctx_t *c, json_t *v, int depth) {
  json_t *r = json_object();
  if (!r)
    goto fail;
  const char *k;
  json_t *el;
  json_object_foreach(v, k, el) {
    size_t mark = c->path.len;
    path_push_key(&c->path, k);
    json_t *x = expand_value(c, el, depth + 1);
    path_pop(&c->path, mark);
    if (!x || json_object_set_new(r, k, x) < 0)
      goto fail;
  }
  return r;
fail:
  json_decref(r);
  return NULL;
}

static json_t *expand_value(json_ctx_t *c, json_t *v, int depth) {
  if (depth > EXPAND_JSON_MAX_DEPTH) {
    set_err(c->err, c->errlen, "%s: nested deeper than %d levels",
            c->path.len ? c->path.data : "(top)", EXPAND_JSON_MAX_DEPTH);
    return NULL;
  }
  json_t *r;
  switch (json_typeof(v)) {
  case JSON_STRING:
    return expand_string(c, v);
  case JSON_ARRAY:
    return expand_array(c, v, depth);
  case JSON_OBJECT:
    return expand_object(c, v, depth);
  default:
    r = json_copy(v);
    if (!r)
      set_err(c->err, c->errlen, "out of memory");
    return r;
  }
}

json_t *sk_tmpl_expand_json(json_t *v, sk_tmpl_resolve_fn fn, void *ud, char *err,
                            size_t errlen) {
  if (!v || !fn) {
    set_err(err, errlen, "invalid argument");
    return NULL;
  }
  json_ctx_t c = {fn, ud, {0}, err, errlen};
  sk_buf_init(&c.path, EXPAND_JSON_MAX_PATH);
  set_err(err, errlen, "out of memory");
  json_t *r = expand_value(&c, v, 0);
  if (r)
    set_err(err, errlen, "%s", "");
  sk_buf_release(&c.path);
  return r;
}
