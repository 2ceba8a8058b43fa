/*
 * Pure parsers for the AWS credential sources: the shared credentials
 * file (INI), STS's XML answer, the JSON of the container credentials
 * endpoint and IMDS; and small helpers for secrets (wiping, redacting).
 *
 * STS answers XML. skein links no XML library for the sake of five leaf
 * elements of a fixed, documented shape, so sk__aws_xml_text is a small
 * extractor: it walks tags with a depth-capped stack (skipping comments,
 * processing instructions and CDATA, honouring quoted attributes), finds
 * an element by the names of its ancestors, and refuses anything it does
 * not understand instead of guessing.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cloud/aws-int.h"
#include "util/error.h"
#include "util/strutil.h"
#include "util/timeutil.h"

#define XML_MAX_DEPTH 32
#define XML_MAX_PATH 8

void sk__aws_wipe_free(char *s) {
  if (!s)
    return;
  OPENSSL_cleanse(s, strlen(s));
  free(s);
}

void sk__aws_creds_release(sk_aws_creds_t *c) {
  if (!c)
    return;
  sk__aws_wipe_free(c->access_key_id);
  sk__aws_wipe_free(c->secret_access_key);
  sk__aws_wipe_free(c->session_token);
  memset(c, 0, sizeof(*c));
}

bool sk__aws_token_ok(const char *s) {
  if (!s || !*s)
    return false;
  for (; *s; s++)
    if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
      return false;
  return true;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

char *sk__aws_trim(char *s) {
  size_t n = strlen(s), a = 0;
  while (a < n && is_space(s[a]))
    a++;
  while (n > a && is_space(s[n - 1]))
    n--;
  if (a)
    memmove(s, s + a, n - a);
  s[n - a] = '\0';
  return s;
}

int sk__aws_read_file(const char *path, size_t max, char **out, size_t *outlen) {
  *out = NULL;
  if (outlen)
    *outlen = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT || errno == ENOTDIR ? SK_ENOENT : SK_EIO;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return SK_EIO;
  }
  if (S_ISDIR(st.st_mode)) {
    close(fd);
    errno = EISDIR;
    return SK_EIO;
  }
  /* The buffer is sized from the file and grows at most once, to the cap,
   * by copy and wipe: a secret is never left behind in freed memory. */
  size_t cap = st.st_size > 0 && (size_t)st.st_size < max ? (size_t)st.st_size + 1 : max + 1;
  char *buf = malloc(cap + 1);
  size_t len = 0;
  int rc = buf ? 0 : SK_ENOMEM;
  while (rc == 0) {
    if (len == cap) {
      if (cap == max + 1)
        break;
      char *nb = malloc(max + 2);
      if (!nb) {
        rc = SK_ENOMEM;
        break;
      }
      memcpy(nb, buf, len);
      OPENSSL_cleanse(buf, len);
      free(buf);
      buf = nb;
      cap = max + 1;
    }
    ssize_t got = read(fd, buf + len, cap - len);
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0)
      rc = SK_EIO;
    else if (got == 0)
      break;
    else
      len += (size_t)got;
  }
  int saved = errno;
  close(fd);
  errno = saved;
  if (rc == 0 && len > max)
    rc = SK_ETOOBIG;
  if (rc) {
    if (buf)
      OPENSSL_cleanse(buf, len);
    free(buf);
    return rc;
  }
  buf[len] = '\0';
  *out = buf;
  if (outlen)
    *outlen = len;
  return 0;
}

/* ---- INI ---- */

/* The span [a, b) trimmed of spaces and tabs. */
static void trim_span(const char **a, const char **b) {
  while (*a < *b && (**a == ' ' || **a == '\t'))
    (*a)++;
  while (*b > *a && ((*b)[-1] == ' ' || (*b)[-1] == '\t' || (*b)[-1] == '\r'))
    (*b)--;
}

static bool span_is(const char *a, const char *b, const char *s, bool nocase) {
  size_t n = strlen(s);
  if ((size_t)(b - a) != n)
    return false;
  return nocase ? strncasecmp(a, s, n) == 0 : memcmp(a, s, n) == 0;
}

static int set_value(char **dst, const char *a, const char *b) {
  char *v = sk_memdup_str(a, (size_t)(b - a));
  if (!v)
    return SK_ENOMEM;
  sk__aws_wipe_free(*dst);
  *dst = v;
  return 0;
}

int sk__aws_ini_profile(const char *text, size_t len, const char *profile, sk_aws_creds_t *out,
                        char *err, size_t errlen) {
  memset(out, 0, sizeof(*out));
  if (err && errlen)
    err[0] = '\0';
  const char *p = text, *end = text + len;
  if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
    p += 3;
  bool in = false, found = false;
  char *ak = NULL, *sk = NULL, *tok = NULL;
  int rc = 0;
  while (p < end && rc == 0) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *a = p, *b = nl ? nl : end;
    p = nl ? nl + 1 : end;
    trim_span(&a, &b);
    if (a == b || *a == '#' || *a == ';')
      continue;
    if (*a == '[') {
      const char *rb = memchr(a, ']', (size_t)(b - a));
      if (!rb) {
        in = false; /* a broken header starts no section we would read */
        continue;
      }
      const char *na = a + 1, *nb = rb;
      trim_span(&na, &nb);
      in = span_is(na, nb, profile, false);
      found = found || in;
      continue;
    }
    if (!in)
      continue;
    const char *eq = memchr(a, '=', (size_t)(b - a));
    if (!eq)
      continue;
    const char *ka = a, *kb = eq, *va = eq + 1, *vb = b;
    trim_span(&ka, &kb);
    /* A comment may follow a value after whitespace; keys and tokens never
     * hold whitespace, so this cannot cut one. */
    for (const char *c = va; c < vb; c++) {
      if ((*c == '#' || *c == ';') && c > va && (c[-1] == ' ' || c[-1] == '\t')) {
        vb = c;
        break;
      }
    }
    trim_span(&va, &vb);
    if (span_is(ka, kb, "aws_access_key_id", true))
      rc = set_value(&ak, va, vb);
    else if (span_is(ka, kb, "aws_secret_access_key", true))
      rc = set_value(&sk, va, vb);
    else if (span_is(ka, kb, "aws_session_token", true) ||
             (span_is(ka, kb, "aws_security_token", true) && !tok))
      rc = set_value(&tok, va, vb);
  }
  if (rc)
    goto out;
  if (!found) {
    rc = SK_ENOENT;
    goto out;
  }
  if (ak && !*ak) {
    sk__aws_wipe_free(ak);
    ak = NULL;
  }
  if (sk && !*sk) {
    sk__aws_wipe_free(sk);
    sk = NULL;
  }
  if (tok && !*tok) {
    sk__aws_wipe_free(tok);
    tok = NULL;
  }
  if (!ak && !sk) {
    if (err && errlen)
      snprintf(err, errlen, "has no aws_access_key_id");
    rc = SK_EINVALID;
    goto out;
  }
  if (!ak || !sk) {
    if (err && errlen)
      snprintf(err, errlen, "has %s but no %s", ak ? "aws_access_key_id" : "aws_secret_access_key",
               ak ? "aws_secret_access_key" : "aws_access_key_id");
    rc = SK_EINVAL;
    goto out;
  }
  if (!sk__aws_token_ok(ak) || !sk__aws_token_ok(sk) || (tok && !sk__aws_token_ok(tok))) {
    if (err && errlen)
      snprintf(err, errlen, "has a key or token with characters a header cannot carry");
    rc = SK_EINVAL;
    goto out;
  }
  out->access_key_id = ak;
  out->secret_access_key = sk;
  out->session_token = tok;
  return 0;
out:
  sk__aws_wipe_free(ak);
  sk__aws_wipe_free(sk);
  sk__aws_wipe_free(tok);
  return rc;
}

/* ---- XML ---- */

typedef struct {
  const char *p;
  size_t n;
} span_t;

static bool span_eq(span_t a, span_t b) { return a.n == b.n && memcmp(a.p, b.p, a.n) == 0; }

static bool name_char(char c) {
  return !is_space(c) && c != '/' && c != '>' && c != '=' && c != '<' && c != '\0';
}

/* Finds needle in [p, end); NULL when absent. */
static const char *find(const char *p, const char *end, const char *needle) {
  size_t n = strlen(needle);
  for (; p + n <= end; p++)
    if (memcmp(p, needle, n) == 0)
      return p;
  return NULL;
}

static int put_utf8(sk_buf_t *b, unsigned long cp) {
  char u[4];
  size_t n;
  if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
    return SK_EPARSE;
  if (cp < 0x80) {
    u[0] = (char)cp;
    n = 1;
  } else if (cp < 0x800) {
    u[0] = (char)(0xC0 | (cp >> 6));
    u[1] = (char)(0x80 | (cp & 0x3F));
    n = 2;
  } else if (cp < 0x10000) {
    u[0] = (char)(0xE0 | (cp >> 12));
    u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    u[2] = (char)(0x80 | (cp & 0x3F));
    n = 3;
  } else {
    u[0] = (char)(0xF0 | (cp >> 18));
    u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    u[3] = (char)(0x80 | (cp & 0x3F));
    n = 4;
  }
  return sk_buf_append(b, u, n);
}

/* Decodes the text between an element's tags. */
static int xml_decode(const char *p, const char *end, char **out) {
  sk_buf_t b;
  sk_buf_init(&b, (size_t)(end - p) + 1);
  int rc = 0;
  while (p < end && rc == 0) {
    if (*p == '<') {
      if (end - p >= 9 && memcmp(p, "<![CDATA[", 9) == 0) {
        const char *e = find(p + 9, end, "]]>");
        if (!e) {
          rc = SK_EPARSE;
          break;
        }
        rc = sk_buf_append(&b, p + 9, (size_t)(e - p - 9));
        p = e + 3;
      } else if (end - p >= 4 && memcmp(p, "<!--", 4) == 0) {
        const char *e = find(p + 4, end, "-->");
        if (!e) {
          rc = SK_EPARSE;
          break;
        }
        p = e + 3;
      } else {
        rc = SK_EPARSE; /* a child element: not a leaf */
      }
    } else if (*p == '&') {
      const char *semi = memchr(p, ';', (size_t)(end - p));
      if (!semi || semi - p > 12) {
        rc = SK_EPARSE;
        break;
      }
      span_t ent = {p + 1, (size_t)(semi - p - 1)};
      static const struct {
        const char *name;
        char c;
      } named[] = {{"lt", '<'}, {"gt", '>'}, {"amp", '&'}, {"quot", '"'}, {"apos", '\''}};
      bool done = false;
      for (size_t i = 0; i < sizeof(named) / sizeof(named[0]) && !done; i++) {
        if (span_eq(ent, (span_t){named[i].name, strlen(named[i].name)})) {
          rc = sk_buf_putc(&b, named[i].c);
          done = true;
        }
      }
      if (!done) {
        if (ent.n < 2 || ent.p[0] != '#') {
          rc = SK_EPARSE;
          break;
        }
        bool hex = ent.p[1] == 'x';
        unsigned long cp = 0;
        size_t k = hex ? 2 : 1;
        if (k == ent.n) {
          rc = SK_EPARSE;
          break;
        }
        for (; k < ent.n && rc == 0; k++) {
          char c = ent.p[k];
          int d = c >= '0' && c <= '9'            ? c - '0'
                  : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                : -1;
          if (d < 0 || cp > 0x10FFFF)
            rc = SK_EPARSE;
          else
            cp = cp * (hex ? 16 : 10) + (unsigned long)d;
        }
        if (rc == 0)
          rc = put_utf8(&b, cp);
      }
      p = semi + 1;
    } else {
      rc = sk_buf_putc(&b, *p++);
    }
  }
  if (rc == 0) {
    *out = sk_buf_steal(&b);
    if (!*out)
      rc = SK_ENOMEM;
  }
  if (rc) {
    if (b.data)
      OPENSSL_cleanse(b.data, b.len);
    sk_buf_release(&b);
  }
  return rc;
}

int sk__aws_xml_text(const char *doc, size_t len, const char *path, char **out) {
  *out = NULL;
  span_t want[XML_MAX_PATH];
  size_t nwant = 0;
  for (const char *c = path; *c;) {
    const char *e = strchr(c, '/');
    size_t n = e ? (size_t)(e - c) : strlen(c);
    if (n == 0 || nwant == XML_MAX_PATH)
      return SK_EINVAL;
    want[nwant++] = (span_t){c, n};
    c += n + (e ? 1 : 0);
  }
  if (nwant == 0)
    return SK_EINVAL;
  span_t stack[XML_MAX_DEPTH];
  size_t depth = 0;
  size_t target = 0;          /* depth of the element found, 0 = none yet */
  const char *content = NULL; /* where its text starts */
  const char *p = doc, *end = doc + len;
  while (p < end) {
    if (*p != '<') {
      p++;
      continue;
    }
    const char *tag = p;
    if (end - p >= 4 && memcmp(p, "<!--", 4) == 0) {
      const char *e = find(p + 4, end, "-->");
      if (!e)
        return SK_EPARSE;
      p = e + 3;
      continue;
    }
    if (end - p >= 9 && memcmp(p, "<![CDATA[", 9) == 0) {
      const char *e = find(p + 9, end, "]]>");
      if (!e)
        return SK_EPARSE;
      p = e + 3;
      continue;
    }
    if (end - p >= 2 && p[1] == '?') {
      const char *e = find(p + 2, end, "?>");
      if (!e)
        return SK_EPARSE;
      p = e + 2;
      continue;
    }
    if (end - p >= 2 && p[1] == '!') {
      /* A DOCTYPE; one with an internal subset could declare entities,
       * which this extractor does not expand: refuse it. */
      const char *e = memchr(p, '>', (size_t)(end - p));
      if (!e || memchr(p, '[', (size_t)(e - p)))
        return SK_EPARSE;
      p = e + 1;
      continue;
    }
    bool closing = end - p >= 2 && p[1] == '/';
    const char *n0 = p + (closing ? 2 : 1), *n1 = n0;
    while (n1 < end && name_char(*n1))
      n1++;
    if (n1 == n0)
      return SK_EPARSE;
    /* The local name: a namespace prefix is ignored. */
    const char *colon = NULL;
    for (const char *c = n0; c < n1; c++)
      if (*c == ':')
        colon = c;
    span_t name = {colon ? colon + 1 : n0, (size_t)(n1 - (colon ? colon + 1 : n0))};
    /* The end of the tag, skipping quoted attribute values. */
    const char *q = n1;
    char quote = 0;
    while (q < end && (quote || *q != '>')) {
      if (quote && *q == quote)
        quote = 0;
      else if (!quote && (*q == '"' || *q == '\''))
        quote = *q;
      else if (!quote && *q == '<')
        return SK_EPARSE;
      q++;
    }
    if (q == end)
      return SK_EPARSE;
    p = q + 1;
    if (closing) {
      if (depth == 0 || !span_eq(stack[depth - 1], name))
        return SK_EPARSE;
      if (target && depth == target)
        return xml_decode(content, tag, out);
      depth--;
      continue;
    }
    bool empty = q[-1] == '/';
    if (depth == XML_MAX_DEPTH)
      return SK_ETOOBIG;
    stack[depth++] = name;
    if (!target && depth >= nwant) {
      bool match = true;
      for (size_t k = 0; k < nwant && match; k++)
        match = span_eq(stack[depth - nwant + k], want[k]);
      if (match) {
        if (empty) {
          *out = strdup("");
          return *out ? 0 : SK_ENOMEM;
        }
        target = depth;
        content = p;
      }
    }
    if (empty)
      depth--;
  }
  return target ? SK_EPARSE : SK_ENOENT;
}

/* ---- STS ---- */

/* Copies s into out with control characters made spaces, cut to outlen. */
static void put_clean(char *out, size_t outlen, const char *s) {
  size_t i = 0;
  for (; s && *s && i + 1 < outlen; s++, i++)
    out[i] = (unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s;
  if (outlen)
    out[i] = '\0';
}

static int sts_field(const char *body, size_t len, const char *name, char **out) {
  char path[96];
  snprintf(path, sizeof(path), "AssumeRoleWithWebIdentityResult/Credentials/%s", name);
  int rc = sk__aws_xml_text(body, len, path, out);
  if (rc == 0)
    sk__aws_trim(*out);
  return rc;
}

int sk__aws_sts_parse(long status, const char *body, size_t len, sk_aws_creds_t *out, char *msg,
                      size_t msglen) {
  memset(out, 0, sizeof(*out));
  if (msg && msglen)
    msg[0] = '\0';
  if (!body)
    body = "", len = 0;
  if (status == 200) {
    static const char *const names[] = {"AccessKeyId", "SecretAccessKey", "SessionToken",
                                        "Expiration"};
    char *v[4] = {NULL, NULL, NULL, NULL};
    int rc = 0;
    for (int i = 0; i < 4 && rc == 0; i++) {
      int r = sts_field(body, len, names[i], &v[i]);
      if (r == SK_ENOMEM) {
        rc = r;
      } else if (r != 0 || !*v[i]) {
        snprintf(msg, msglen, "the reply has no %s", names[i]);
        rc = SK_EHTTP;
      }
    }
    if (rc == 0 && (!sk__aws_token_ok(v[0]) || !sk__aws_token_ok(v[1]) ||
                    !sk__aws_token_ok(v[2]))) {
      snprintf(msg, msglen, "the reply's credentials hold characters a header cannot carry");
      rc = SK_EHTTP;
    }
    if (rc == 0 && sk_time_parse(v[3], &out->expires_ms) != 0) {
      char e[64];
      put_clean(e, sizeof(e), v[3]);
      snprintf(msg, msglen, "the reply's Expiration \"%s\" is not an ISO 8601 time", e);
      rc = SK_EHTTP;
    }
    if (rc == 0) {
      out->access_key_id = v[0];
      out->secret_access_key = v[1];
      out->session_token = v[2];
      free(v[3]);
      return 0;
    }
    for (int i = 0; i < 4; i++)
      sk__aws_wipe_free(v[i]);
    out->expires_ms = 0;
    return rc;
  }
  char *code = NULL, *text = NULL;
  sk__aws_xml_text(body, len, "ErrorResponse/Error/Code", &code);
  sk__aws_xml_text(body, len, "ErrorResponse/Error/Message", &text);
  if (code)
    sk__aws_trim(code);
  if (text)
    sk__aws_trim(text);
  char c[128], t[384];
  put_clean(c, sizeof(c), code);
  put_clean(t, sizeof(t), text);
  if (*c && *t)
    snprintf(msg, msglen, "%s: %s", c, t);
  else if (*c || *t)
    snprintf(msg, msglen, "%s", *c ? c : t);
  /* These say that STS or the identity provider could not answer now, not
   * that the identity was refused: worth retrying later. */
  static const char *const transient[] = {"Throttling", "ThrottlingException",
                                          "RequestLimitExceeded", "IDPCommunicationError",
                                          "ServiceUnavailable", "InternalFailure", NULL};
  bool retry = status >= 500 || status == 429;
  for (int i = 0; transient[i] && !retry; i++)
    retry = strcmp(c, transient[i]) == 0;
  free(code);
  free(text);
  return retry ? SK_EHTTP : SK_EAUTH;
}

/* ---- container credentials and IMDS (JSON) ---- */

int sk__aws_json_creds(const char *body, size_t len, sk_aws_creds_t *out, char *msg,
                       size_t msglen) {
  memset(out, 0, sizeof(*out));
  json_error_t jerr;
  json_t *root = json_loadb(body ? body : "", body ? len : 0, 0, &jerr);
  int rc = SK_EPARSE;
  if (!json_is_object(root)) {
    snprintf(msg, msglen, "the reply is not a JSON object");
    goto out;
  }
  const char *code = json_string_value(json_object_get(root, "Code"));
  if (code && strcmp(code, "Success") != 0) {
    char c[64], m[256];
    put_clean(c, sizeof(c), code);
    put_clean(m, sizeof(m), json_string_value(json_object_get(root, "Message")));
    snprintf(msg, msglen, "Code %s%s%s", c, *m ? ": " : "", m);
    rc = SK_EAUTH;
    goto out;
  }
  const char *ak = json_string_value(json_object_get(root, "AccessKeyId"));
  const char *sk = json_string_value(json_object_get(root, "SecretAccessKey"));
  const char *tok = json_string_value(json_object_get(root, "Token"));
  const char *exp = json_string_value(json_object_get(root, "Expiration"));
  rc = SK_EINVAL;
  if (!ak || !*ak || !sk || !*sk) {
    snprintf(msg, msglen, "the reply has no %s", !ak || !*ak ? "AccessKeyId" : "SecretAccessKey");
    goto out;
  }
  if (tok && !*tok)
    tok = NULL;
  if (!sk__aws_token_ok(ak) || !sk__aws_token_ok(sk) || (tok && !sk__aws_token_ok(tok))) {
    snprintf(msg, msglen, "the reply's credentials hold characters a header cannot carry");
    goto out;
  }
  if (exp && *exp && sk_time_parse(exp, &out->expires_ms) != 0) {
    char e[64];
    put_clean(e, sizeof(e), exp);
    snprintf(msg, msglen, "the reply's Expiration \"%s\" is not an ISO 8601 time", e);
    goto out;
  }
  rc = SK_ENOMEM;
  if (!(out->access_key_id = strdup(ak)) || !(out->secret_access_key = strdup(sk)) ||
      (tok && !(out->session_token = strdup(tok)))) {
    snprintf(msg, msglen, "out of memory");
    sk__aws_creds_release(out);
    goto out;
  }
  rc = 0;
out:
  if (rc)
    out->expires_ms = 0;
  json_decref(root);
  return rc;
}

/* ---- helpers ---- */

int sk__aws_fill_region(const char *tmpl, const char *region, char *out, size_t outlen) {
  sk_buf_t b;
  sk_buf_init(&b, outlen ? outlen - 1 : 0);
  int rc = 0;
  const char *p = tmpl;
  const char *hit;
  while (rc == 0 && (hit = strstr(p, "{region}")) != NULL) {
    if ((rc = sk_buf_append(&b, p, (size_t)(hit - p))) == 0)
      rc = sk_buf_puts(&b, region);
    p = hit + 8;
  }
  if (rc == 0)
    rc = sk_buf_puts(&b, p);
  if (rc == 0) {
    if (b.len + 1 > outlen)
      rc = SK_ETOOBIG;
    else
      memcpy(out, b.data ? b.data : "", b.len + 1);
  }
  sk_buf_release(&b);
  return rc;
}

void sk__aws_redact(char *msg, const char *const *secrets, size_t nsecrets) {
  if (!msg)
    return;
  for (size_t i = 0; i < nsecrets; i++) {
    const char *s = secrets[i];
    /* Very short strings would blot out ordinary words; no credential is
     * that short. */
    if (!s || strlen(s) < 4)
      continue;
    size_t n = strlen(s);
    char *hit;
    while ((hit = strstr(msg, s)) != NULL)
      memset(hit, '*', n);
  }
}
