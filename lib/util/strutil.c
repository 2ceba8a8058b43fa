#include "util/strutil.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

int sk_parse_int64(const char *s, int64_t *out) {
  if (!s || !*s)
    return SK_EPARSE;
  const char *p = s;
  if (*p == '-' || *p == '+')
    p++;
  if (*p < '0' || *p > '9')
    return SK_EPARSE;
  errno = 0;
  char *end;
  long long v = strtoll(s, &end, 10);
  if (*end)
    return SK_EPARSE;
  if (errno == ERANGE)
    return SK_ERANGE;
  *out = (int64_t)v;
  return 0;
}

int sk_parse_double(const char *s, double *out) {
  if (!s || !*s)
    return SK_EPARSE;
  /* strtod accepts hex, inf and nan; people do not mean those as numbers. */
  for (const char *p = s; *p; p++) {
    if (!strchr("0123456789+-.eE", *p))
      return SK_EPARSE;
  }
  errno = 0;
  char *end;
  double v = strtod(s, &end);
  if (*end || end == s)
    return SK_EPARSE;
  if (errno == ERANGE || !isfinite(v))
    return SK_ERANGE;
  *out = v;
  return 0;
}

static bool is_alnum_lower(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

static bool label_ok(const char *s, size_t n) {
  if (n == 0 || n > 63)
    return false;
  if (!is_alnum_lower(s[0]) || !is_alnum_lower(s[n - 1]))
    return false;
  for (size_t i = 0; i < n; i++) {
    if (!is_alnum_lower(s[i]) && s[i] != '-')
      return false;
  }
  return true;
}

bool sk_is_dns1123_label(const char *s) { return s && label_ok(s, strlen(s)); }

bool sk_is_dns1123_subdomain(const char *s) {
  if (!s)
    return false;
  size_t n = strlen(s);
  if (n == 0 || n > 253)
    return false;
  const char *start = s;
  for (const char *p = s;; p++) {
    if (*p == '.' || *p == '\0') {
      if (!label_ok(start, (size_t)(p - start)))
        return false;
      if (!*p)
        return true;
      start = p + 1;
    }
  }
}

bool sk_utf8_valid(const char *s, size_t len, size_t *bad_off) {
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0;
  while (i < len) {
    unsigned c = u[i];
    size_t n;
    unsigned min;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      min = 0x80;
      c &= 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      min = 0x800;
      c &= 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      min = 0x10000;
      c &= 0x07;
    } else {
      goto bad;
    }
    if (len - i <= n)
      goto bad;
    for (size_t k = 1; k <= n; k++) {
      if ((u[i + k] & 0xC0) != 0x80)
        goto bad;
      c = (c << 6) | (u[i + k] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
      goto bad;
    i += n + 1;
  }
  return true;
bad:
  if (bad_off)
    *bad_off = i;
  return false;
}

char *sk_strdup0(const char *s) { return s ? strdup(s) : NULL; }

char *sk_memdup_str(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (!p)
    return NULL;
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

char *sk_strdup_capped(const char *s, size_t max) {
  static const char tail[] = "\xE2\x80\xA6 (cut)";
  size_t n = strlen(s);
  if (n <= max)
    return strdup(s);
  size_t keep = max > sizeof(tail) - 1 ? max - (sizeof(tail) - 1) : 0;
  /* Step back over UTF-8 continuation bytes so the cut lands on a boundary. */
  while (keep > 0 && ((unsigned char)s[keep] & 0xC0) == 0x80)
    keep--;
  char *p = malloc(keep + sizeof(tail));
  if (!p)
    return NULL;
  memcpy(p, s, keep);
  memcpy(p + keep, tail, sizeof(tail));
  return p;
}
