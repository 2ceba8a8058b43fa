#include "engine/outputs.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/strutil.h"

/* User text quoted in a message is cut here, so one absurd line cannot
 * swamp the step's message. */
#define QUOTE_MAX 60

/* Copies at most QUOTE_MAX bytes of s into out for a message, replacing
 * control bytes with '?' so the message stays one printable line, and never
 * cutting a UTF-8 sequence in two. */
static void quote(const char *s, size_t len, char *out, size_t outlen) {
  size_t n = len < QUOTE_MAX ? len : QUOTE_MAX;
  if (n < len)
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
      n--;
  if (n >= outlen)
    n = outlen - 1;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    out[i] = (c < 0x20 || c == 0x7F) ? '?' : (char)c;
  }
  out[n] = '\0';
  if (n < len && outlen > n + 3)
    memcpy(out + n, "...", 4);
}

static bool is_name_start(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_name_char(char c) {
  return is_name_start(c) || (c >= '0' && c <= '9') || c == '-';
}

static bool valid_name(const char *s, size_t len) {
  if (len == 0 || !is_name_start(s[0]))
    return false;
  for (size_t i = 1; i < len; i++)
    if (!is_name_char(s[i]))
      return false;
  return true;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Formats a double with the fewest digits that read back as the same
 * value, so 0.1 prints as "0.1" rather than "0.10000000000000001". */
static void format_real(double v, char *out, size_t outlen) {
  /* Whole numbers print without an exponent ("1000", not "1e+03"), as a
   * person writing 1e3 or 1000.0 would expect to read them back. */
  if (v == (double)(long long)v && v > -1e15 && v < 1e15) {
    snprintf(out, outlen, "%lld", (long long)v);
    return;
  }
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(out, outlen, "%.*g", prec, v);
    double back = 0;
    if (sk_parse_double(out, &back) == 0 && back == v)
      return;
  }
}

static int parse_json(const char *data, size_t len, json_t **out, char *err, size_t errlen) {
  json_error_t jerr;
  json_t *root = json_loadb(data, len, 0, &jerr);
  if (!root) {
    snprintf(err, errlen, "outputs file is not valid JSON: line %d column %d: %s", jerr.line,
             jerr.column, jerr.text);
    return SK_EPARSE;
  }
  json_t *res = json_object();
  if (!res) {
    json_decref(root);
    snprintf(err, errlen, "out of memory");
    return SK_ENOMEM;
  }
  int rc = 0;
  const char *key;
  json_t *v;
  json_object_foreach(root, key, v) {
    char q[QUOTE_MAX + 4];
    quote(key, strlen(key), q, sizeof(q));
    if (!valid_name(key, strlen(key))) {
      snprintf(err, errlen,
               "outputs file: name \"%s\" is not valid (expected letters, digits, '_' and "
               "'-', not starting with a digit or '-')",
               q);
      rc = SK_EPARSE;
      break;
    }
    char num[64];
    const char *text = NULL;
    switch (json_typeof(v)) {
    case JSON_STRING:
      text = json_string_value(v);
      break;
    case JSON_INTEGER:
      snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
      text = num;
      break;
    case JSON_REAL:
      format_real(json_real_value(v), num, sizeof(num));
      text = num;
      break;
    case JSON_TRUE:
      text = "true";
      break;
    case JSON_FALSE:
      text = "false";
      break;
    default:
      snprintf(err, errlen,
               "outputs file: value of \"%s\" is %s; outputs are strings, numbers or booleans "
               "(write nested data as a JSON string)",
               q,
               json_is_null(v) ? "null" : json_is_array(v) ? "an array" : "an object");
      rc = SK_EPARSE;
      break;
    }
    if (rc < 0)
      break;
    if (json_object_set_new(res, key, json_string(text)) < 0) {
      snprintf(err, errlen, "out of memory");
      rc = SK_ENOMEM;
      break;
    }
  }
  if (rc == 0 && !json_is_object(root)) {
    snprintf(err, errlen, "outputs file: expected one JSON object");
    rc = SK_EPARSE;
  }
  json_decref(root);
  if (rc < 0) {
    json_decref(res);
    return rc;
  }
  if (json_object_size(res) == 0) {
    json_decref(res);
    res = NULL;
  }
  *out = res;
  return 0;
}

/* Parses one non-blank `name=value` line into res. */
static int parse_line(const char *s, size_t len, int lineno, json_t *res, char *err,
                      size_t errlen) {
  char q[QUOTE_MAX + 4];
  const char *eq = memchr(s, '=', len);
  if (!eq) {
    quote(s, len, q, sizeof(q));
    snprintf(err, errlen, "outputs file line %d: expected NAME=VALUE, got \"%s\"", lineno, q);
    return SK_EPARSE;
  }
  size_t nlen = (size_t)(eq - s);
  if (!valid_name(s, nlen)) {
    quote(s, nlen, q, sizeof(q));
    snprintf(err, errlen,
             "outputs file line %d: name \"%s\" is not valid (expected letters, digits, '_' "
             "and '-', not starting with a digit or '-')",
             lineno, q);
    return SK_EPARSE;
  }
  const char *val = eq + 1;
  size_t vlen = len - nlen - 1;
  size_t bad = 0;
  if (memchr(val, '\0', vlen) || !sk_utf8_valid(val, vlen, &bad)) {
    snprintf(err, errlen, "outputs file line %d: the value is not UTF-8 text", lineno);
    return SK_EPARSE;
  }
  char *name = sk_memdup_str(s, nlen);
  json_t *jv = json_stringn(val, vlen);
  int rc = (name && jv) ? json_object_set_new(res, name, jv) : -1;
  if (!name || !jv)
    json_decref(jv);
  free(name);
  if (rc < 0) {
    snprintf(err, errlen, "out of memory");
    return SK_ENOMEM;
  }
  return 0;
}

static int parse_lines(const char *data, size_t len, json_t **out, char *err, size_t errlen) {
  json_t *res = json_object();
  if (!res) {
    snprintf(err, errlen, "out of memory");
    return SK_ENOMEM;
  }
  size_t pos = 0;
  int lineno = 0;
  while (pos < len) {
    const char *nl = memchr(data + pos, '\n', len - pos);
    size_t end = nl ? (size_t)(nl - data) : len;
    size_t llen = end - pos;
    lineno++;
    if (llen > 0 && data[pos + llen - 1] == '\r')
      llen--;
    bool blank = true;
    for (size_t i = 0; i < llen && blank; i++)
      blank = data[pos + i] == ' ' || data[pos + i] == '\t';
    if (!blank) {
      int rc = parse_line(data + pos, llen, lineno, res, err, errlen);
      if (rc < 0) {
        json_decref(res);
        return rc;
      }
    }
    pos = end + 1;
  }
  if (json_object_size(res) == 0) {
    json_decref(res);
    res = NULL;
  }
  *out = res;
  return 0;
}

int sk_outputs_check_size(size_t len, char *err, size_t errlen) {
  if (len <= SK_OUTPUTS_MAX_BYTES)
    return 0;
  snprintf(err, errlen,
           "outputs file is %zu bytes, over the %d-byte limit (a Pod's termination message "
           "is capped the same way); pass large artifacts as files or URIs",
           len, SK_OUTPUTS_MAX_BYTES);
  return SK_ETOOBIG;
}

int sk_outputs_parse(const char *data, size_t len, json_t **out, char *err, size_t errlen) {
  *out = NULL;
  if (errlen)
    err[0] = '\0';
  int rc = sk_outputs_check_size(len, err, errlen);
  if (rc < 0)
    return rc;
  size_t i = 0;
  while (i < len && is_space(data[i]))
    i++;
  if (i == len)
    return 0;
  if (data[i] == '{')
    return parse_json(data, len, out, err, errlen);
  return parse_lines(data, len, out, err, errlen);
}
