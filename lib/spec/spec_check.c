/*
 * The validator's building blocks: reporting with positions, typed field
 * readers, unknown-field checks with "did you mean" suggestions.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "spec/spec-int.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/strutil.h"

/* How much of a user's string is echoed back in a message. */
#define SHOW_MAX (SK__SHOW_BUF - 8)

/* Words longer than this get no suggestion: the distance table stays small
 * and a long word is not a typo of a field name. */
#define SUGGEST_MAX_LEN 64

void sk__vctx_init(sk__vctx_t *c, const sk_yaml_doc_t *doc, sk_diags_t *diags) {
  memset(c, 0, sizeof(*c));
  c->doc = doc;
  c->diags = diags;
  c->file = doc ? sk_yaml_doc_file(doc) : NULL;
}

bool sk__full(const sk__vctx_t *c) { return c->diags->len >= c->diags->max; }

void sk__report(sk__vctx_t *c, const char *path, const char *fmt, ...) {
  c->nerr++;
  if (sk__full(c)) {
    /* Only counted from here on: skip the position and the formatting. */
    sk_diags_add(c->diags, NULL, 0, 0, NULL, "%s", "");
    return;
  }
  int line = 0, col = 0;
  if (c->doc)
    sk_yaml_doc_pos(c->doc, path ? path : "", &line, &col);
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (sk_diags_add(c->diags, c->file, line, col, path, "%s", msg) < 0)
    c->rc = SK_ENOMEM;
}

void sk__path_key(char *out, const char *base, const char *key) {
  if (sk_yaml_path_key(out, SK__PATH_MAX, base, key) != 0)
    snprintf(out, SK__PATH_MAX, "%s", base);
}

void sk__path_index(char *out, const char *base, size_t index) {
  if (sk_yaml_path_index(out, SK__PATH_MAX, base, index) != 0)
    snprintf(out, SK__PATH_MAX, "%s", base);
}

const char *sk__show(char *out, size_t outlen, const char *s) {
  size_t len = strlen(s);
  size_t keep = len;
  bool cut = false;
  if (keep > SHOW_MAX || keep + 1 > outlen) {
    keep = SHOW_MAX < outlen - 4 ? SHOW_MAX : outlen - 4;
    cut = true;
    /* Never cut inside a UTF-8 sequence. */
    while (keep > 0 && ((unsigned char)s[keep] & 0xC0) == 0x80)
      keep--;
  }
  for (size_t i = 0; i < keep; i++)
    out[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
  if (cut)
    memcpy(out + keep, "...", 4);
  else
    out[keep] = '\0';
  return out;
}

const char *sk__type_name(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    return "an object";
  case JSON_ARRAY:
    return "a list";
  case JSON_STRING:
    return "a string";
  case JSON_INTEGER:
    return "an integer";
  case JSON_REAL:
    return "a number";
  case JSON_TRUE:
  case JSON_FALSE:
    return "a boolean";
  case JSON_NULL:
    return "null";
  }
  return "a value";
}

/* The text of a scalar as a message shows it. */
static void scalar_text(const json_t *v, char *out, size_t outlen) {
  if (json_is_integer(v))
    snprintf(out, outlen, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
  else if (json_is_real(v))
    snprintf(out, outlen, "%.15g", json_real_value(v));
  else if (json_is_boolean(v))
    snprintf(out, outlen, "%s", json_is_true(v) ? "true" : "false");
  else
    snprintf(out, outlen, "?");
}

void sk__type_error(sk__vctx_t *c, const char *path, const json_t *v, const char *want) {
  char text[64];
  bool want_str = strcmp(want, "a string") == 0;
  bool want_num = strcmp(want, "an integer") == 0 || strcmp(want, "a number") == 0;
  if (want_str && (json_is_number(v) || json_is_boolean(v))) {
    scalar_text(v, text, sizeof(text));
    sk__report(c, path, "expected a string, got the %s %s: quote it (\"%s\")",
               json_is_boolean(v) ? "boolean" : "number", text, text);
    return;
  }
  if (want_num && json_is_string(v)) {
    double d;
    char shown[SK__SHOW_BUF];
    sk__show(shown, sizeof(shown), json_string_value(v));
    if (sk_parse_double(json_string_value(v), &d) == 0)
      sk__report(c, path, "expected %s, got the string \"%s\": remove the quotes", want, shown);
    else
      sk__report(c, path, "expected %s, got the string \"%s\"", want, shown);
    return;
  }
  if (strcmp(want, "an integer") == 0 && json_is_real(v)) {
    scalar_text(v, text, sizeof(text));
    sk__report(c, path, "expected an integer, got %s", text);
    return;
  }
  sk__report(c, path, "expected %s, got %s", want, sk__type_name(v));
}

static char lower(char ch) { return (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch; }

/* Only distances up to BAND matter for a suggestion, so only the cells
 * within BAND of the diagonal are computed; the others count as FAR. This
 * keeps a suggestion cheap even against hundreds of long names. */
#define BAND 2
#define FAR 99

typedef size_t dist_table_t[SUGGEST_MAX_LEN + 1][SUGGEST_MAX_LEN + 1];

static size_t cell(dist_table_t d, size_t i, size_t j) {
  return (i > j ? i - j : j - i) > BAND ? FAR : d[i][j];
}

/* Optimal string alignment distance, case-insensitive: a swapped pair of
 * letters is one edit, the commonest typo after a wrong case. Returns FAR
 * for anything beyond BAND. */
static size_t distance(const char *a, size_t n, const char *b, size_t m) {
  /* A common prefix or suffix does not change the distance. */
  while (n > 0 && m > 0 && lower(a[0]) == lower(b[0])) {
    a++;
    b++;
    n--;
    m--;
  }
  while (n > 0 && m > 0 && lower(a[n - 1]) == lower(b[m - 1])) {
    n--;
    m--;
  }
  if ((n > m ? n - m : m - n) > BAND)
    return FAR;
  if (n == 0 || m == 0)
    return n + m;
  dist_table_t d;
  for (size_t i = 0; i <= n && i <= BAND; i++)
    d[i][0] = i;
  for (size_t j = 0; j <= m && j <= BAND; j++)
    d[0][j] = j;
  for (size_t i = 1; i <= n; i++) {
    size_t jlo = i > BAND ? i - BAND : 1;
    size_t jhi = i + BAND < m ? i + BAND : m;
    size_t row_min = i <= BAND ? i : FAR;
    for (size_t j = jlo; j <= jhi; j++) {
      size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
      size_t best = cell(d, i - 1, j) + 1;
      if (cell(d, i, j - 1) + 1 < best)
        best = cell(d, i, j - 1) + 1;
      if (cell(d, i - 1, j - 1) + cost < best)
        best = cell(d, i - 1, j - 1) + cost;
      if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
          lower(a[i - 2]) == lower(b[j - 1]) && cell(d, i - 2, j - 2) + 1 < best)
        best = cell(d, i - 2, j - 2) + 1;
      d[i][j] = best > FAR ? FAR : best;
      if (d[i][j] < row_min)
        row_min = d[i][j];
    }
    /* A row never gets cheaper further down: give up once it is too far. */
    if (row_min > BAND)
      return FAR;
  }
  return d[n][m];
}

const char *sk__suggest(const char *word, const char *const *cands, size_t n) {
  size_t wl = strlen(word);
  if (wl == 0 || wl > SUGGEST_MAX_LEN)
    return NULL;
  const char *best = NULL;
  size_t best_d = 3;
  for (size_t i = 0; i < n; i++) {
    if (!cands[i] || strcmp(cands[i], word) == 0)
      continue;
    size_t cl = strlen(cands[i]);
    if (cl > SUGGEST_MAX_LEN)
      continue;
    size_t d = distance(word, wl, cands[i], cl);
    /* Two edits turn any two-letter word into any other: demand that most
     * of the word survives. */
    if (d < best_d && 2 * d <= wl) {
      best = cands[i];
      best_d = d;
    }
  }
  return best;
}

const char *sk__suggest_name(sk__vctx_t *c, const char *word, const char *const *cands,
                             size_t n) {
  if (sk__full(c) || c->nsuggest >= SK__MAX_NAME_SUGGESTIONS)
    return NULL;
  c->nsuggest++;
  return sk__suggest(word, cands, n);
}

static size_t count_list(const char *const *list) {
  size_t n = 0;
  while (list[n])
    n++;
  return n;
}

static bool in_list(const char *s, const char *const *list) {
  for (size_t i = 0; list[i]; i++) {
    if (strcmp(list[i], s) == 0)
      return true;
  }
  return false;
}

/* Writes "a, b, c or d" (join "or") or "a, b, c" (join NULL) into b. */
static void join_list(sk_buf_t *b, const char *const *list, const char *last_join) {
  size_t n = count_list(list);
  for (size_t i = 0; i < n; i++) {
    if (i > 0)
      sk_buf_puts(b, (last_join && i == n - 1) ? last_join : ", ");
    sk_buf_puts(b, list[i]);
  }
}

void sk__check_fields(sk__vctx_t *c, const char *path, json_t *obj, const char *const *known) {
  if (!json_is_object(obj) || !known)
    return;
  const char *key;
  json_t *v;
  json_object_foreach(obj, key, v) {
    if (in_list(key, known))
      continue;
    char sub[SK__PATH_MAX];
    char shown[SK__SHOW_BUF];
    sk__path_key(sub, path, key);
    sk__show(shown, sizeof(shown), key);
    const char *s = sk__suggest(key, known, count_list(known));
    if (s) {
      sk__report(c, sub, "unknown field \"%s\" (did you mean \"%s\"?)", shown, s);
    } else {
      sk_buf_t b;
      sk_buf_init(&b, 1024);
      join_list(&b, known, NULL);
      sk__report(c, sub, "unknown field \"%s\" (known fields: %s)", shown, b.data ? b.data : "");
      sk_buf_release(&b);
    }
  }
}

json_t *sk__member(sk__vctx_t *c, const char *base, json_t *obj, const char *key,
                   unsigned flags) {
  if (!json_is_object(obj))
    return NULL;
  json_t *v = json_object_get(obj, key);
  if (v && !json_is_null(v))
    return v;
  if (flags & SK__REQ) {
    char path[SK__PATH_MAX];
    sk__path_key(path, base, key);
    sk__report(c, path, "required field is missing");
  }
  return NULL;
}

const char *sk__get_str(sk__vctx_t *c, const char *base, json_t *obj, const char *key,
                        unsigned flags) {
  json_t *v = sk__member(c, base, obj, key, flags);
  if (!v)
    return NULL;
  char path[SK__PATH_MAX];
  sk__path_key(path, base, key);
  if (!json_is_string(v)) {
    sk__type_error(c, path, v, "a string");
    return NULL;
  }
  if ((flags & SK__NONEMPTY) && json_string_length(v) == 0) {
    sk__report(c, path, "must not be empty");
    return NULL;
  }
  return json_string_value(v);
}

static void range_error(sk__vctx_t *c, const char *path, const char *got, double lo, double hi,
                        bool hi_open) {
  if (hi_open)
    sk__report(c, path, "must be at least %.15g, got %s", lo, got);
  else
    sk__report(c, path, "must be between %.15g and %.15g, got %s", lo, hi, got);
}

bool sk__check_int(sk__vctx_t *c, const char *path, json_t *v, int64_t lo, int64_t hi,
                   int64_t *out) {
  if (!json_is_integer(v)) {
    sk__type_error(c, path, v, "an integer");
    return false;
  }
  json_int_t x = json_integer_value(v);
  if (x < lo || x > hi) {
    char got[32];
    snprintf(got, sizeof(got), "%" JSON_INTEGER_FORMAT, x);
    if (hi == INT64_MAX)
      sk__report(c, path, "must be at least %" PRId64 ", got %s", lo, got);
    else
      sk__report(c, path, "must be between %" PRId64 " and %" PRId64 ", got %s", lo, hi, got);
    return false;
  }
  if (out)
    *out = (int64_t)x;
  return true;
}

bool sk__check_num(sk__vctx_t *c, const char *path, json_t *v, double lo, double hi,
                   double *out) {
  if (!json_is_number(v)) {
    sk__type_error(c, path, v, "a number");
    return false;
  }
  double x = json_number_value(v);
  if (!(x >= lo && x <= hi)) {
    char got[64];
    scalar_text(v, got, sizeof(got));
    range_error(c, path, got, lo, hi, isinf(hi));
    return false;
  }
  if (out)
    *out = x;
  return true;
}

bool sk__get_int(sk__vctx_t *c, const char *base, json_t *obj, const char *key, unsigned flags,
                 int64_t lo, int64_t hi, int64_t *out) {
  json_t *v = sk__member(c, base, obj, key, flags);
  if (!v)
    return false;
  char path[SK__PATH_MAX];
  sk__path_key(path, base, key);
  return sk__check_int(c, path, v, lo, hi, out);
}

bool sk__get_num(sk__vctx_t *c, const char *base, json_t *obj, const char *key, unsigned flags,
                 double lo, double hi, double *out) {
  json_t *v = sk__member(c, base, obj, key, flags);
  if (!v)
    return false;
  char path[SK__PATH_MAX];
  sk__path_key(path, base, key);
  return sk__check_num(c, path, v, lo, hi, out);
}

bool sk__get_bool(sk__vctx_t *c, const char *base, json_t *obj, const char *key,
                  unsigned flags) {
  json_t *v = sk__member(c, base, obj, key, flags);
  if (!v)
    return false;
  if (!json_is_boolean(v)) {
    char path[SK__PATH_MAX];
    sk__path_key(path, base, key);
    sk__type_error(c, path, v, "a boolean (true or false)");
    return false;
  }
  return true;
}

bool sk__want_obj(sk__vctx_t *c, const char *path, json_t *v, const char *const *known) {
  if (!json_is_object(v)) {
    sk__type_error(c, path, v, "an object");
    return false;
  }
  sk__check_fields(c, path, v, known);
  return true;
}

json_t *sk__get_obj(sk__vctx_t *c, const char *base, json_t *obj, const char *key,
                    unsigned flags, const char *const *known) {
  json_t *v = sk__member(c, base, obj, key, flags);
  if (!v)
    return NULL;
  char path[SK__PATH_MAX];
  sk__path_key(path, base, key);
  return sk__want_obj(c, path, v, known) ? v : NULL;
}

json_t *sk__get_list(sk__vctx_t *c, const char *base, json_t *obj, const char *key,
                     unsigned flags) {
  json_t *v = sk__member(c, base, obj, key, flags);
  if (!v)
    return NULL;
  char path[SK__PATH_MAX];
  sk__path_key(path, base, key);
  if (!json_is_array(v)) {
    sk__type_error(c, path, v, "a list");
    return NULL;
  }
  if ((flags & SK__NONEMPTY) && json_array_size(v) == 0) {
    sk__report(c, path, "must not be empty");
    return NULL;
  }
  return v;
}

const char *sk__get_enum(sk__vctx_t *c, const char *base, json_t *obj, const char *key,
                         unsigned flags, const char *const *values) {
  const char *s = sk__get_str(c, base, obj, key, flags);
  if (!s || in_list(s, values))
    return s;
  char path[SK__PATH_MAX];
  char shown[SK__SHOW_BUF];
  sk__path_key(path, base, key);
  sk_buf_t b;
  sk_buf_init(&b, 1024);
  join_list(&b, values, " or ");
  const char *sug = sk__suggest(s, values, count_list(values));
  if (sug)
    sk__report(c, path, "must be one of %s, got \"%s\" (did you mean \"%s\"?)",
               b.data ? b.data : "", sk__show(shown, sizeof(shown), s), sug);
  else
    sk__report(c, path, "must be one of %s, got \"%s\"", b.data ? b.data : "",
               sk__show(shown, sizeof(shown), s));
  sk_buf_release(&b);
  return NULL;
}

json_t *sk__get_str_list(sk__vctx_t *c, const char *base, json_t *obj, const char *key,
                         unsigned flags) {
  json_t *list = sk__get_list(c, base, obj, key, flags);
  if (!list)
    return NULL;
  char path[SK__PATH_MAX];
  sk__path_key(path, base, key);
  bool ok = true;
  size_t i;
  json_t *v;
  json_array_foreach(list, i, v) {
    if (!json_is_string(v)) {
      char sub[SK__PATH_MAX];
      sk__path_index(sub, path, i);
      sk__type_error(c, sub, v, "a string");
      ok = false;
    }
  }
  return ok ? list : NULL;
}

json_t *sk__get_str_map(sk__vctx_t *c, const char *base, json_t *obj, const char *key,
                        unsigned flags) {
  json_t *map = sk__get_obj(c, base, obj, key, flags, NULL);
  if (!map)
    return NULL;
  char path[SK__PATH_MAX];
  sk__path_key(path, base, key);
  const char *k;
  json_t *v;
  json_object_foreach(map, k, v) {
    if (!json_is_string(v)) {
      char sub[SK__PATH_MAX];
      sk__path_key(sub, path, k);
      sk__type_error(c, sub, v, "a string");
    }
  }
  return map;
}

bool sk__is_ident(const char *s) {
  if (!s || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
    return false;
  for (s++; *s; s++) {
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
          *s == '_' || *s == '-'))
      return false;
  }
  return true;
}

bool sk__has_placeholder(const char *s) { return s && strstr(s, "{{") != NULL; }

static bool is_secret_key(const char *s) {
  if (!*s || strlen(s) > 253)
    return false;
  for (; *s; s++) {
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
          *s == '-' || *s == '_' || *s == '.'))
      return false;
  }
  return true;
}

void sk__check_secret_ref(sk__vctx_t *c, const char *base, json_t *obj, const char *key,
                          unsigned flags, bool key_required) {
  static const char *const fields[] = {"name", "key", NULL};
  json_t *ref = sk__get_obj(c, base, obj, key, flags, fields);
  if (!ref)
    return;
  char path[SK__PATH_MAX];
  sk__path_key(path, base, key);
  char sub[SK__PATH_MAX];
  char shown[SK__SHOW_BUF];
  const char *name = sk__get_str(c, path, ref, "name", SK__REQ);
  if (name && !sk__has_placeholder(name) && !sk_is_dns1123_subdomain(name)) {
    sk__path_key(sub, path, "name");
    sk__report(c, sub,
               "invalid Secret name \"%s\": expected a DNS-1123 subdomain (lowercase letters, "
               "digits, '-' and '.', at most 253 characters)",
               sk__show(shown, sizeof(shown), name));
  }
  const char *k = sk__get_str(c, path, ref, "key", key_required ? SK__REQ : 0);
  if (k && !sk__has_placeholder(k) && !is_secret_key(k)) {
    sk__path_key(sub, path, "key");
    sk__report(c, sub,
               "invalid Secret key \"%s\": expected letters, digits, '-', '_' or '.'",
               sk__show(shown, sizeof(shown), k));
  }
}

size_t sk__one_of(sk__vctx_t *c, const char *path, json_t *obj, const char *const *names,
                  const char *who) {
  if (!json_is_object(obj))
    return 0;
  const char *present[17];
  size_t n = 0;
  for (size_t i = 0; names[i] && i < 16; i++) {
    json_t *v = json_object_get(obj, names[i]);
    if (v && !json_is_null(v))
      present[n++] = names[i];
  }
  if (n == 1)
    return n;
  sk_buf_t all;
  sk_buf_init(&all, 1024);
  join_list(&all, names, " or ");
  if (n == 0) {
    sk__report(c, path, "%s needs exactly one of %s", who, all.data ? all.data : "");
  } else {
    present[n] = NULL;
    sk_buf_t has;
    sk_buf_init(&has, 1024);
    join_list(&has, present, " and ");
    sk__report(c, path, "%s needs exactly one of %s, but this one has %s", who,
               all.data ? all.data : "", has.data ? has.data : "");
    sk_buf_release(&has);
  }
  sk_buf_release(&all);
  return n;
}

long sk__first_use(json_t *seen, const char *name, size_t index) {
  json_t *prev = json_object_get(seen, name);
  if (prev)
    return (long)json_integer_value(prev);
  if (seen)
    json_object_set_new(seen, name, json_integer((json_int_t)index));
  return -1;
}
