/*
 * Scalar resolution with the YAML 1.2 core schema, and the tags skein
 * honours. The core schema (not YAML 1.1) is what keeps `on`, `yes`, `no`
 * and `0777` from turning into booleans and octals behind a user's back.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/strutil.h"
#include "yaml/yaml-int.h"

#define TAG_PREFIX "tag:yaml.org,2002:"

typedef enum { K_NULL, K_BOOL_TRUE, K_BOOL_FALSE, K_INT10, K_INT8, K_INT16, K_FLOAT, K_INF,
               K_NAN, K_STR } kind_t;

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static bool all_of(const char *s, size_t len, const char *set) {
  if (len == 0)
    return false;
  for (size_t i = 0; i < len; i++) {
    if (!s[i] || !strchr(set, s[i]))
      return false;
  }
  return true;
}

static bool one_of(const char *s, size_t len, const char *const *words) {
  for (; *words; words++) {
    if (strlen(*words) == len && memcmp(s, *words, len) == 0)
      return true;
  }
  return false;
}

/* [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
static bool is_float(const char *s, size_t len) {
  size_t i = 0, digits = 0;
  if (i < len && (s[i] == '-' || s[i] == '+'))
    i++;
  while (i < len && is_digit(s[i]))
    i++, digits++;
  if (i < len && s[i] == '.') {
    i++;
    size_t frac = 0;
    while (i < len && is_digit(s[i]))
      i++, frac++;
    /* "1." is a float; "." alone is not, and ".5" needs its digits. */
    if (digits == 0 && frac == 0)
      return false;
    digits += frac;
  }
  if (digits == 0)
    return false;
  if (i < len && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < len && (s[i] == '-' || s[i] == '+'))
      i++;
    size_t exp = 0;
    while (i < len && is_digit(s[i]))
      i++, exp++;
    if (exp == 0)
      return false;
  }
  return i == len;
}

static kind_t classify(const char *s, size_t len) {
  static const char *const nulls[] = {"null", "Null", "NULL", "~", NULL};
  static const char *const trues[] = {"true", "True", "TRUE", NULL};
  static const char *const falses[] = {"false", "False", "FALSE", NULL};
  static const char *const infs[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF",
                                     "-.inf", "-.Inf", "-.INF", NULL};
  static const char *const nans[] = {".nan", ".NaN", ".NAN", NULL};
  if (len == 0 || one_of(s, len, nulls))
    return K_NULL;
  if (one_of(s, len, trues))
    return K_BOOL_TRUE;
  if (one_of(s, len, falses))
    return K_BOOL_FALSE;
  size_t sign = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (all_of(s + sign, len - sign, "0123456789"))
    return K_INT10;
  if (len > 2 && s[0] == '0' && s[1] == 'o' && all_of(s + 2, len - 2, "01234567"))
    return K_INT8;
  if (len > 2 && s[0] == '0' && s[1] == 'x' &&
      all_of(s + 2, len - 2, "0123456789abcdefABCDEF"))
    return K_INT16;
  if (is_float(s, len))
    return K_FLOAT;
  if (one_of(s, len, infs))
    return K_INF;
  if (one_of(s, len, nans))
    return K_NAN;
  return K_STR;
}

void sk__yaml_tag_short(const char *tag, char *out, size_t outlen) {
  if (strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) == 0)
    snprintf(out, outlen, "!!%s", tag + strlen(TAG_PREFIX));
  else
    snprintf(out, outlen, "%s", tag);
}

void sk__yaml_quote_for_msg(const char *s, size_t len, size_t max, char *out, size_t outlen) {
  sk_buf_t b;
  sk_buf_init(&b, outlen ? outlen - 1 : 0);
  size_t n = len;
  bool cut = false;
  if (n > max) {
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
      n--;
    cut = true;
  }
  int rc = sk_buf_putc(&b, '"');
  for (size_t i = 0; rc == 0 && i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\')
      rc = sk_buf_printf(&b, "\\%c", c);
    else if (c < 0x20 || c == 0x7F)
      rc = sk_buf_printf(&b, "\\x%02x", c);
    else
      rc = sk_buf_putc(&b, (char)c);
  }
  if (rc == 0 && cut)
    rc = sk_buf_puts(&b, "\xE2\x80\xA6");
  if (rc == 0)
    rc = sk_buf_putc(&b, '"');
  if (outlen)
    snprintf(out, outlen, "%s", rc == 0 && b.data ? b.data : "\"\xE2\x80\xA6\"");
  sk_buf_release(&b);
}

/* Parses digits (already checked) in base 8 or 16 without overflow. */
static int parse_radix(const char *s, size_t len, int base, int64_t *out) {
  int64_t v = 0;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    int d = is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10;
    if (v > (INT64_MAX - d) / base)
      return SK_ERANGE;
    v = v * base + d;
  }
  *out = v;
  return 0;
}

static int make_int(kind_t k, const char *s, size_t len, json_t **out, char *err,
                    size_t errlen) {
  int64_t v = 0;
  int rc;
  if (k == K_INT10)
    rc = sk_parse_int64(s, &v);
  else
    rc = parse_radix(s + 2, len - 2, k == K_INT8 ? 8 : 16, &v);
  if (rc < 0) {
    char q[96];
    sk__yaml_quote_for_msg(s, len, 60, q, sizeof(q));
    snprintf(err, errlen,
             "integer %s does not fit in 64 bits; quote it if it is meant as a string", q);
    return SK_EPARSE;
  }
  *out = json_integer(v);
  return *out ? 0 : SK_ENOMEM;
}

static int make_float(const char *s, size_t len, json_t **out, char *err, size_t errlen) {
  /* The text was checked against the core schema's float pattern, which
   * strtod reads the same way; only the range is left to check. Underflow
   * to zero or a subnormal is accepted, as every JSON reader does. */
  errno = 0;
  char *end;
  double v = strtod(s, &end);
  if (end != s + len || !isfinite(v)) {
    char q[96];
    sk__yaml_quote_for_msg(s, len, 60, q, sizeof(q));
    snprintf(err, errlen, "number %s is too large for a 64-bit float", q);
    return SK_EPARSE;
  }
  *out = json_real(v);
  return *out ? 0 : SK_ENOMEM;
}

static int not_json(kind_t k, const char *s, size_t len, char *err, size_t errlen) {
  char q[96];
  sk__yaml_quote_for_msg(s, len, 60, q, sizeof(q));
  snprintf(err, errlen,
           "%s is %s, which JSON cannot represent; quote it if it is meant as a string", q,
           k == K_INF ? "an infinite float" : "a NaN float");
  return SK_EPARSE;
}

static int mismatch(const char *tag, const char *what, const char *s, size_t len, char *err,
                    size_t errlen) {
  char q[96], t[64];
  sk__yaml_quote_for_msg(s, len, 60, q, sizeof(q));
  sk__yaml_tag_short(tag, t, sizeof(t));
  snprintf(err, errlen, "%s is not %s (tagged %s)", q, what, t);
  return SK_EPARSE;
}

static int make_string(const char *s, size_t len, json_t **out) {
  *out = json_stringn_nocheck(s, len);
  return *out ? 0 : SK_ENOMEM;
}

int sk__yaml_scalar(const char *text, size_t len, bool plain, const char *tag, json_t **out,
                    char *err, size_t errlen) {
  *out = NULL;
  /* "!" is the non-specific tag: it asks for a string even when plain. */
  if ((!tag && !plain) || (tag && strcmp(tag, "!") == 0))
    return make_string(text, len, out);
  /* A NUL can only come from an escape in a quoted scalar, so a NUL in a
   * value checked against a type below makes it fail that type. */
  kind_t k = classify(text, len);
  if (!tag) {
    switch (k) {
    case K_NULL:
      *out = json_null();
      return 0;
    case K_BOOL_TRUE:
    case K_BOOL_FALSE:
      *out = json_boolean(k == K_BOOL_TRUE);
      return 0;
    case K_INT10:
    case K_INT8:
    case K_INT16:
      return make_int(k, text, len, out, err, errlen);
    case K_FLOAT:
      return make_float(text, len, out, err, errlen);
    case K_INF:
    case K_NAN:
      return not_json(k, text, len, err, errlen);
    case K_STR:
      break;
    }
    return make_string(text, len, out);
  }
  if (strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) != 0) {
    char t[64];
    sk__yaml_tag_short(tag, t, sizeof(t));
    snprintf(err, errlen, "unsupported tag %s: skein reads plain JSON values only", t);
    return SK_EPARSE;
  }
  const char *name = tag + strlen(TAG_PREFIX);
  /* JSON has no binary or timestamp type; such values stay the text written. */
  if (!strcmp(name, "str") || !strcmp(name, "binary") || !strcmp(name, "timestamp"))
    return make_string(text, len, out);
  if (!strcmp(name, "null")) {
    if (k != K_NULL)
      return mismatch(tag, "null", text, len, err, errlen);
    *out = json_null();
    return 0;
  }
  if (!strcmp(name, "bool")) {
    if (k != K_BOOL_TRUE && k != K_BOOL_FALSE)
      return mismatch(tag, "a boolean", text, len, err, errlen);
    *out = json_boolean(k == K_BOOL_TRUE);
    return 0;
  }
  if (!strcmp(name, "int")) {
    if (k != K_INT10 && k != K_INT8 && k != K_INT16)
      return mismatch(tag, "an integer", text, len, err, errlen);
    return make_int(k, text, len, out, err, errlen);
  }
  if (!strcmp(name, "float")) {
    if (k == K_INF || k == K_NAN)
      return not_json(k, text, len, err, errlen);
    if (k == K_INT8 || k == K_INT16) {
      int rc = make_int(k, text, len, out, err, errlen);
      if (rc < 0)
        return rc;
      double d = (double)json_integer_value(*out);
      json_decref(*out);
      *out = json_real(d);
      return *out ? 0 : SK_ENOMEM;
    }
    if (k != K_INT10 && k != K_FLOAT)
      return mismatch(tag, "a number", text, len, err, errlen);
    return make_float(text, len, out, err, errlen);
  }
  char t[64];
  sk__yaml_tag_short(tag, t, sizeof(t));
  snprintf(err, errlen, "tag %s does not apply to a scalar", t);
  return SK_EPARSE;
}

int sk__yaml_collection_tag(const char *tag, bool is_map, char *err, size_t errlen) {
  if (!tag || strcmp(tag, "!") == 0)
    return 0;
  if (strcmp(tag, is_map ? TAG_PREFIX "map" : TAG_PREFIX "seq") == 0)
    return 0;
  char t[64];
  sk__yaml_tag_short(tag, t, sizeof(t));
  if (strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) == 0)
    snprintf(err, errlen, "tag %s does not apply to a %s", t, is_map ? "mapping" : "sequence");
  else
    snprintf(err, errlen, "unsupported tag %s: skein reads plain JSON values only", t);
  return SK_EPARSE;
}
