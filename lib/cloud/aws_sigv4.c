/*
 * AWS Signature Version 4, pure: canonical request, string to sign,
 * signing-key chain and the Authorization value. The rules are those of
 * the AWS documentation and botocore's SigV4Auth for services other than
 * S3 (the path is normalised and its bytes encoded again, so a "%" already
 * in the URL is signed as "%25"), which is what SageMaker and STS check.
 */
#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cloud/aws-int.h"
#include "util/error.h"
#include "util/strutil.h"

#define MAX_HEADERS 64     /* header lines one request may sign */
#define MAX_QUERY_PARAMS 512
#define MAX_SEGMENTS 256   /* path segments kept while normalising */

static const char HEXU[] = "0123456789ABCDEF";
static const char HEXL[] = "0123456789abcdef";

static bool unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '_' || c == '.' || c == '~';
}

/* RFC 7230 tchar: what a header name or a method may be made of. */
static bool tchar(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static void hex_of(const unsigned char *p, size_t n, char *out) {
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = HEXL[p[i] >> 4];
    out[2 * i + 1] = HEXL[p[i] & 15];
  }
  out[2 * n] = '\0';
}

void sk__aws_sha256_hex(const void *p, size_t n, char out[65]) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(p ? p : (const void *)"", n, md);
  hex_of(md, sizeof(md), out);
}

int sk__aws_uri_encode(sk_buf_t *b, const char *s, size_t n, bool keep_slash) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    int rc;
    if (unreserved(c) || (keep_slash && c == '/')) {
      rc = sk_buf_putc(b, (char)c);
    } else {
      char esc[3] = {'%', HEXU[c >> 4], HEXU[c & 15]};
      rc = sk_buf_append(b, esc, 3);
    }
    if (rc)
      return rc;
  }
  return 0;
}

int sk__aws_url_split(const char *url, sk__aws_url_t *u) {
  memset(u, 0, sizeof(*u));
  if (!url)
    return SK_EINVAL;
  const char *p;
  if (strncasecmp(url, "https://", 8) == 0) {
    u->https = true;
    p = url + 8;
  } else if (strncasecmp(url, "http://", 7) == 0) {
    p = url + 7;
  } else {
    return SK_EINVAL;
  }
  for (const char *q = url; *q; q++)
    if ((unsigned char)*q < 0x20 || *q == 0x7f)
      return SK_EINVAL;
  size_t alen = strcspn(p, "/?#");
  const char *auth = p, *end = p + alen;
  if (memchr(auth, '@', alen))
    return SK_EINVAL; /* userinfo would be sent as Basic auth by curl: refuse it */
  /* The host, an IPv6 literal in brackets included, then an optional port. */
  const char *hend;
  if (alen && auth[0] == '[') {
    const char *rb = memchr(auth, ']', alen);
    if (!rb)
      return SK_EINVAL;
    hend = rb + 1;
  } else {
    hend = memchr(auth, ':', alen);
    if (!hend)
      hend = end;
  }
  size_t hlen = (size_t)(hend - auth);
  if (hlen == 0 || hlen >= SK__AWS_MAX_HOST - 8)
    return SK_EINVAL;
  for (size_t i = 0; i < hlen; i++)
    u->host[i] = (char)tolower((unsigned char)auth[i]);
  u->host[hlen] = '\0';
  if (hend < end) {
    if (*hend != ':')
      return SK_EINVAL;
    const char *ps = hend + 1;
    size_t plen = (size_t)(end - ps);
    long port = 0;
    if (plen == 0 || plen > 5)
      return SK_EINVAL;
    for (size_t i = 0; i < plen; i++) {
      if (ps[i] < '0' || ps[i] > '9')
        return SK_EINVAL;
      port = port * 10 + (ps[i] - '0');
    }
    if (port < 1 || port > 65535)
      return SK_EINVAL;
    /* curl leaves the default port out of the Host header it sends, and
     * the server signs what it receives. */
    if (port != (u->https ? 443 : 80))
      snprintf(u->host + hlen, sizeof(u->host) - hlen, ":%ld", port);
  }
  p = end;
  size_t plen = strcspn(p, "?#");
  u->path = p;
  u->path_len = plen;
  p += plen;
  if (*p == '?') {
    u->query = p + 1;
    u->query_len = strcspn(p + 1, "#");
  }
  return 0;
}

/* The canonical URI: dot segments and empty segments removed (RFC 3986
 * 5.2.4, and AWS collapses "//"), a trailing '/' kept, each byte encoded. */
static int canonical_uri(sk_buf_t *out, const char *path, size_t len) {
  if (len == 0)
    return sk_buf_putc(out, '/');
  const char *seg[MAX_SEGMENTS];
  size_t seglen[MAX_SEGMENTS];
  size_t n = 0;
  size_t i = 0;
  while (i <= len) {
    size_t j = i;
    while (j < len && path[j] != '/')
      j++;
    size_t l = j - i;
    if (l == 0 || (l == 1 && path[i] == '.')) {
      /* empty or ".": nothing */
    } else if (l == 2 && path[i] == '.' && path[i + 1] == '.') {
      if (n > 0)
        n--;
    } else {
      if (n == MAX_SEGMENTS)
        return SK_ETOOBIG;
      seg[n] = path + i;
      seglen[n] = l;
      n++;
    }
    i = j + 1;
  }
  int rc = 0;
  if (path[0] == '/')
    rc = sk_buf_putc(out, '/');
  for (size_t k = 0; k < n && rc == 0; k++) {
    if (k > 0)
      rc = sk_buf_putc(out, '/');
    if (rc == 0)
      rc = sk__aws_uri_encode(out, seg[k], seglen[k], false);
  }
  if (rc == 0 && path[len - 1] == '/' && n > 0)
    rc = sk_buf_putc(out, '/');
  if (rc == 0 && out->len == 0)
    rc = sk_buf_putc(out, '/');
  return rc;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Percent-decodes s[0..n) and encodes it again the SigV4 way, so that a
 * URL written with lower-case escapes or with characters left unescaped
 * signs as AWS computes it. A '%' not followed by two hex digits is a
 * literal '%'. '+' stays a plus: write spaces as %20. */
static int reencode(sk_buf_t *out, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
      c = (unsigned char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
      i += 2;
    }
    int rc = sk__aws_uri_encode(out, (const char *)&c, 1, false);
    if (rc)
      return rc;
  }
  return 0;
}

typedef struct {
  char *name;
  char *value;
} kv_t;

static int kv_cmp(const void *a, const void *b) {
  const kv_t *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  return c ? c : strcmp(x->value, y->value);
}

static int canonical_query(sk_buf_t *out, const char *q, size_t len) {
  if (!q || len == 0)
    return 0;
  kv_t *kv = NULL;
  size_t n = 0, cap = 0;
  int rc = 0;
  sk_buf_t tmp;
  sk_buf_init(&tmp, SK__AWS_MAX_CANONICAL);
  size_t i = 0;
  while (i <= len && rc == 0) {
    size_t j = i;
    while (j < len && q[j] != '&')
      j++;
    if (j > i) { /* "a=1&&b=2": an empty piece names nothing */
      const char *eq = memchr(q + i, '=', j - i);
      size_t nl = eq ? (size_t)(eq - (q + i)) : j - i;
      if (n == MAX_QUERY_PARAMS) {
        rc = SK_ETOOBIG;
        break;
      }
      if ((rc = sk_array_grow((void **)&kv, &cap, n, sizeof(*kv))) != 0)
        break;
      kv[n].name = kv[n].value = NULL;
      n++;
      sk_buf_reset(&tmp);
      if ((rc = reencode(&tmp, q + i, nl)) != 0)
        break;
      if (!(kv[n - 1].name = sk_memdup_str(tmp.data ? tmp.data : "", tmp.len))) {
        rc = SK_ENOMEM;
        break;
      }
      sk_buf_reset(&tmp);
      if (eq && (rc = reencode(&tmp, eq + 1, (size_t)(q + j - eq - 1))) != 0)
        break;
      if (!(kv[n - 1].value = sk_memdup_str(tmp.data ? tmp.data : "", tmp.len)))
        rc = SK_ENOMEM;
    }
    i = j + 1;
  }
  if (rc == 0 && n > 0) {
    qsort(kv, n, sizeof(*kv), kv_cmp);
    for (size_t k = 0; k < n && rc == 0; k++)
      rc = sk_buf_printf(out, "%s%s=%s", k ? "&" : "", kv[k].name, kv[k].value);
  }
  for (size_t k = 0; k < n; k++) {
    free(kv[k].name);
    free(kv[k].value);
  }
  free(kv);
  sk_buf_release(&tmp);
  return rc;
}

typedef struct {
  char name[64];
  const char *value; /* into the caller's line */
  size_t value_len;
  size_t order;      /* position among the lines: duplicates keep it */
} hdr_t;

static int hdr_cmp(const void *a, const void *b) {
  const hdr_t *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  if (c)
    return c;
  return x->order < y->order ? -1 : x->order > y->order;
}

/* Appends a header value trimmed, with every run of spaces and tabs
 * inside it made one space (the SigV4 "Trimall"). */
static int put_trimall(sk_buf_t *out, const char *v, size_t n) {
  size_t i = 0;
  while (i < n && (v[i] == ' ' || v[i] == '\t'))
    i++;
  while (n > i && (v[n - 1] == ' ' || v[n - 1] == '\t'))
    n--;
  bool space = false;
  for (; i < n; i++) {
    if (v[i] == ' ' || v[i] == '\t') {
      space = true;
      continue;
    }
    if (space && sk_buf_putc(out, ' '))
      return SK_ETOOBIG;
    space = false;
    if (sk_buf_putc(out, v[i]))
      return SK_ETOOBIG;
  }
  return 0;
}

/* Compares a header value, trimmed, with s (the Host, the date, the
 * token lines must say what is signed). */
static bool value_is(const char *v, size_t n, const char *s) {
  while (n && (*v == ' ' || *v == '\t')) {
    v++;
    n--;
  }
  while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
    n--;
  return strlen(s) == n && memcmp(v, s, n) == 0;
}

int sk__aws_canonical_request(const char *method, const char *url, const char *const *headers,
                              const char *payload_hash, sk_buf_t *out, char *signed_headers,
                              size_t shlen) {
  sk__aws_url_t u;
  if (!method || !*method || !payload_hash || sk__aws_url_split(url, &u) != 0)
    return SK_EINVAL;
  hdr_t h[MAX_HEADERS + 1];
  size_t nh = 0;
  snprintf(h[nh].name, sizeof(h[nh].name), "host");
  h[nh].value = u.host;
  h[nh].value_len = strlen(u.host);
  h[nh].order = 0;
  nh++;
  for (size_t i = 0; headers && headers[i]; i++) {
    const char *line = headers[i];
    const char *colon = strchr(line, ':');
    if (!colon || colon == line || (size_t)(colon - line) >= sizeof(h[0].name))
      return SK_EINVAL;
    for (const char *c = line; c < colon; c++)
      if (!tchar((unsigned char)*c))
        return SK_EINVAL;
    for (const char *c = colon + 1; *c; c++)
      if (*c == '\r' || *c == '\n')
        return SK_EINVAL;
    char name[64];
    size_t nl = (size_t)(colon - line);
    for (size_t k = 0; k < nl; k++)
      name[k] = (char)tolower((unsigned char)line[k]);
    name[nl] = '\0';
    const char *v = colon + 1;
    size_t vl = strlen(v);
    /* The signature covers the Host the server sees, which is the URL's;
     * an Authorization line cannot sign itself. */
    if (strcmp(name, "host") == 0) {
      if (!value_is(v, vl, u.host))
        return SK_EINVAL;
      continue;
    }
    if (strcmp(name, "authorization") == 0)
      return SK_EINVAL;
    if (nh == MAX_HEADERS + 1)
      return SK_ETOOBIG;
    memcpy(h[nh].name, name, nl + 1);
    h[nh].value = v;
    h[nh].value_len = vl;
    h[nh].order = nh;
    nh++;
  }
  qsort(h, nh, sizeof(h[0]), hdr_cmp);

  int rc;
  char m[32];
  size_t ml = strlen(method);
  if (ml >= sizeof(m))
    return SK_EINVAL;
  for (size_t i = 0; i < ml; i++) {
    if (!tchar((unsigned char)method[i]))
      return SK_EINVAL;
    m[i] = (char)toupper((unsigned char)method[i]);
  }
  m[ml] = '\0';
  if ((rc = sk_buf_printf(out, "%s\n", m)) || (rc = canonical_uri(out, u.path, u.path_len)) ||
      (rc = sk_buf_putc(out, '\n')) || (rc = canonical_query(out, u.query, u.query_len)) ||
      (rc = sk_buf_putc(out, '\n')))
    return rc;
  /* One line per name, the values of repeated names joined by ',' in the
   * order they were given. */
  sk_buf_t sh;
  sk_buf_init(&sh, shlen ? shlen - 1 : 0);
  for (size_t i = 0; i < nh; i++) {
    bool first = i == 0 || strcmp(h[i].name, h[i - 1].name) != 0;
    if (first) {
      if (i > 0 && (rc = sk_buf_putc(out, '\n')))
        break;
      if ((rc = sk_buf_printf(out, "%s:", h[i].name)) ||
          (rc = sk_buf_printf(&sh, "%s%s", i ? ";" : "", h[i].name)))
        break;
    } else if ((rc = sk_buf_putc(out, ','))) {
      break;
    }
    if ((rc = put_trimall(out, h[i].value, h[i].value_len)))
      break;
  }
  /* The last header's line ends, a blank line, the signed names, the
   * payload's hash. */
  if (rc == 0)
    rc = sk_buf_printf(out, "\n\n%s\n%s", sh.data, payload_hash);
  if (rc == 0) {
    if (!signed_headers || shlen <= sh.len)
      rc = SK_ETOOBIG;
    else
      memcpy(signed_headers, sh.data, sh.len + 1);
  }
  sk_buf_release(&sh);
  return rc;
}

static bool scope_part_ok(const char *s) {
  if (!s || !*s || strlen(s) > 64)
    return false;
  for (; *s; s++)
    if (!tchar((unsigned char)*s) || *s == '/')
      return false;
  return true;
}

static bool amz_date_ok(const char *d) {
  if (!d || strlen(d) != 16 || d[8] != 'T' || d[15] != 'Z')
    return false;
  for (int i = 0; i < 15; i++)
    if (i != 8 && (d[i] < '0' || d[i] > '9'))
      return false;
  return true;
}

/* The value of the first header named name (lowercase) among headers, or
 * NULL. */
static const char *find_header(const char *const *headers, const char *name, size_t *len) {
  size_t n = strlen(name);
  for (size_t i = 0; headers && headers[i]; i++) {
    if (strncasecmp(headers[i], name, n) == 0 && headers[i][n] == ':') {
      *len = strlen(headers[i] + n + 1);
      return headers[i] + n + 1;
    }
  }
  return NULL;
}

static int hmac(const void *key, size_t keylen, const char *msg, unsigned char out[32]) {
  unsigned int len = 32;
  return HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, strlen(msg), out, &len)
             ? 0
             : SK_ENOMEM;
}

int sk__aws_sigv4_sign_hashed(const sk_aws_creds_t *creds, const char *region,
                              const char *service, const char *method, const char *url,
                              const char *const *headers, const char *payload_hash,
                              const char *amz_date, char *out, size_t outlen) {
  if (!creds || !sk__aws_token_ok(creds->access_key_id) || !creds->secret_access_key ||
      !*creds->secret_access_key || !scope_part_ok(region) || !scope_part_ok(service) ||
      !amz_date_ok(amz_date))
    return SK_EINVAL;
  /* The date signed must be the one sent, and so must the session token:
   * a signature over a header the request does not carry is refused. */
  size_t vl;
  const char *v = find_header(headers, "x-amz-date", &vl);
  if (!v || !value_is(v, vl, amz_date))
    return SK_EINVAL;
  if (creds->session_token) {
    v = find_header(headers, "x-amz-security-token", &vl);
    if (!v || !value_is(v, vl, creds->session_token))
      return SK_EINVAL;
  }
  sk_buf_t cr;
  sk_buf_init(&cr, SK__AWS_MAX_CANONICAL);
  char signed_headers[1024];
  int rc = sk__aws_canonical_request(method, url, headers, payload_hash, &cr, signed_headers,
                                     sizeof(signed_headers));
  if (rc) {
    sk_buf_release(&cr);
    return rc;
  }
  char cr_hash[65];
  sk__aws_sha256_hex(cr.data, cr.len, cr_hash);
  sk_buf_release(&cr);

  char day[9];
  memcpy(day, amz_date, 8);
  day[8] = '\0';
  char scope[160];
  snprintf(scope, sizeof(scope), "%s/%s/%s/aws4_request", day, region, service);
  char sts[256];
  snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256\n%s\n%s\n%s", amz_date, scope, cr_hash);

  /* kSecret = "AWS4" + secret, then the chain of HMACs down to the
   * signing key; every intermediate key is wiped. */
  size_t sl = strlen(creds->secret_access_key);
  char *ksecret = malloc(sl + 5);
  if (!ksecret)
    return SK_ENOMEM;
  memcpy(ksecret, "AWS4", 4);
  memcpy(ksecret + 4, creds->secret_access_key, sl + 1);
  unsigned char k1[32], k2[32], k3[32], k4[32], sig[32];
  rc = hmac(ksecret, sl + 4, day, k1);
  if (rc == 0)
    rc = hmac(k1, 32, region, k2);
  if (rc == 0)
    rc = hmac(k2, 32, service, k3);
  if (rc == 0)
    rc = hmac(k3, 32, "aws4_request", k4);
  if (rc == 0)
    rc = hmac(k4, 32, sts, sig);
  OPENSSL_cleanse(ksecret, sl + 4);
  free(ksecret);
  OPENSSL_cleanse(k1, 32);
  OPENSSL_cleanse(k2, 32);
  OPENSSL_cleanse(k3, 32);
  OPENSSL_cleanse(k4, 32);
  if (rc)
    return rc;
  char sighex[65];
  hex_of(sig, 32, sighex);
  OPENSSL_cleanse(sig, 32);
  int n = snprintf(out, outlen,
                   "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
                   creds->access_key_id, scope, signed_headers, sighex);
  OPENSSL_cleanse(sighex, sizeof(sighex));
  if (n < 0 || (size_t)n >= outlen) {
    if (outlen)
      OPENSSL_cleanse(out, outlen);
    return SK_ETOOBIG;
  }
  return 0;
}

int sk_aws_sigv4_sign(const sk_aws_creds_t *creds, const char *region, const char *service,
                      const char *method, const char *url, const char *const *headers,
                      const char *body, size_t body_len, const char *amz_date, char *out,
                      size_t outlen) {
  char hash[65];
  sk__aws_sha256_hex(body, body ? body_len : 0, hash);
  return sk__aws_sigv4_sign_hashed(creds, region, service, method, url, headers, hash, amz_date,
                                   out, outlen);
}

int sk_aws_amz_date(int64_t ms, char *out, size_t outlen) {
  if (ms < 0)
    return SK_EINVAL;
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999)
    return SK_ERANGE;
  size_t n = strftime(out, outlen, "%Y%m%dT%H%M%SZ", &tm);
  return n == 16 ? 0 : SK_ETOOBIG;
}
