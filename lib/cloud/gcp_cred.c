/*
 * The pure parts of Google authorisation: key files, the RS256 JWT, the
 * token request's form body and the reading of a token endpoint's answer.
 * No I/O and no loop here, so that all of it is tested with plain calls.
 *
 * Secrets (the private key, the client secret, the refresh token, the
 * signed JWT, access tokens) never go into a message: messages name a
 * field, never its value, and text quoted from an answer is left out when
 * it holds part of a secret.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "cloud/gcp-int.h"
#include "util/error.h"
#include "util/strutil.h"

#define JWT_MAX (64 * 1024)      /* a JWT of a sane key and email is under 2 KiB */
#define FORM_MAX (64 * 1024)
#define FIELD_MAX 2048           /* emails, ids, URLs */
#define TOKEN_MAX (16 * 1024)    /* Google's access tokens are about 200-2,000 bytes */
#define QUOTE_MAX 200            /* text quoted from an answer into a message */
#define SECRET_WINDOW 16         /* a quote holding this many bytes of a secret is left out */
#define JWT_LIFETIME_S 3600      /* the most Google accepts */
#define EXPIRES_DEFAULT_S 3600
#define EXPIRES_MAX_S (7 * 86400)

int sk__gcp_errf(char *err, size_t errlen, int code, const char *fmt, ...) {
  if (err && errlen > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return code;
}

void sk__gcp_wipe_free(char *s) {
  if (!s)
    return;
  OPENSSL_cleanse(s, strlen(s));
  free(s);
}

/* Zeroes a string value inside a parsed JSON tree before the tree is
 * freed: jansson frees its copies without wiping them. The storage is
 * jansson's own heap copy, so writing into it is safe. */
static void wipe_json_string(json_t *obj, const char *field) {
  json_t *v = json_object_get(obj, field);
  if (json_is_string(v))
    OPENSSL_cleanse((char *)json_string_value(v), json_string_length(v));
}

void sk__gcp_cred_release(sk__gcp_cred_t *c) {
  if (!c)
    return;
  free(c->client_email);
  free(c->private_key_id);
  free(c->project_id);
  free(c->token_uri);
  EVP_PKEY_free(c->pkey);
  free(c->client_id);
  sk__gcp_wipe_free(c->client_secret);
  sk__gcp_wipe_free(c->refresh_token);
  free(c->quota_project_id);
  memset(c, 0, sizeof(*c));
}

/* True when s is one line of printable ASCII of at most max bytes: what
 * may go into a header, a URL or a message. */
static bool printable(const char *s, size_t max) {
  size_t n = 0;
  for (; s[n]; n++)
    if ((unsigned char)s[n] < 0x20 || (unsigned char)s[n] > 0x7e || n >= max)
      return false;
  return true;
}

/* Reads field as a string: required ones must be present and non-empty;
 * optional ones may be absent (NULL) but not of another type. */
static int get_field(json_t *root, const char *field, bool required, bool check_text,
                     const char *label, const char **out, char *err, size_t errlen) {
  json_t *v = json_object_get(root, field);
  *out = NULL;
  if (!v || json_is_null(v)) {
    if (required)
      return sk__gcp_errf(err, errlen, SK_EINVALID, "%s: field \"%s\" is missing", label, field);
    return 0;
  }
  if (!json_is_string(v))
    return sk__gcp_errf(err, errlen, SK_EINVALID, "%s: field \"%s\" is not a string", label,
                        field);
  const char *s = json_string_value(v);
  if (!*s) {
    if (required)
      return sk__gcp_errf(err, errlen, SK_EINVALID, "%s: field \"%s\" is empty", label, field);
    return 0;
  }
  if (check_text && !printable(s, FIELD_MAX))
    return sk__gcp_errf(err, errlen, SK_EINVALID,
                        "%s: field \"%s\" holds control characters or is too long", label, field);
  *out = s;
  return 0;
}

/* Copies s (may be NULL) into *dst; false on allocation failure. */
static bool dup_to(char **dst, const char *s) {
  if (!s)
    return true;
  *dst = strdup(s);
  return *dst != NULL;
}

/* OpenSSL asks for a passphrase when a PEM key is encrypted; a daemon has
 * nobody to ask, so the read fails instead of prompting on a terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u) {
  (void)buf, (void)size, (void)rwflag, (void)u;
  return -1;
}

static int load_key(const char *pem, const char *label, EVP_PKEY **out, char *err,
                    size_t errlen) {
  *out = NULL;
  BIO *bio = BIO_new_mem_buf(pem, -1);
  if (!bio)
    return sk__gcp_errf(err, errlen, SK_ENOMEM, "%s: out of memory", label);
  EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
  BIO_free(bio);
  /* OpenSSL's error queue may hold text about the key; it is dropped, not
   * quoted. */
  ERR_clear_error();
  if (!k)
    return sk__gcp_errf(err, errlen, SK_EINVALID,
                        "%s: field \"private_key\" is not a PEM private key that OpenSSL can "
                        "read (an unencrypted PKCS#8 key is expected)",
                        label);
  if (EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) {
    EVP_PKEY_free(k);
    return sk__gcp_errf(err, errlen, SK_EINVALID,
                        "%s: field \"private_key\" is not an RSA key, which RS256 needs", label);
  }
  *out = k;
  return 0;
}

static int check_url(const char *url, const char *field, const char *label, char *err,
                     size_t errlen) {
  if (url && strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
    return sk__gcp_errf(err, errlen, SK_EINVALID, "%s: field \"%s\" is not an http(s) URL",
                        label, field);
  return 0;
}

static int parse_service_account(json_t *root, const char *label, sk__gcp_cred_t *c, char *err,
                                 size_t errlen) {
  const char *email, *pem, *kid, *project, *uri;
  int rc;
  if ((rc = get_field(root, "client_email", true, true, label, &email, err, errlen)) ||
      (rc = get_field(root, "private_key", true, false, label, &pem, err, errlen)) ||
      (rc = get_field(root, "private_key_id", false, true, label, &kid, err, errlen)) ||
      (rc = get_field(root, "project_id", false, true, label, &project, err, errlen)) ||
      (rc = get_field(root, "token_uri", false, true, label, &uri, err, errlen)) ||
      (rc = check_url(uri, "token_uri", label, err, errlen)) ||
      (rc = load_key(pem, label, &c->pkey, err, errlen)))
    return rc;
  c->kind = SK__GCP_SERVICE_ACCOUNT;
  if (!dup_to(&c->client_email, email) || !dup_to(&c->private_key_id, kid) ||
      !dup_to(&c->project_id, project) || !dup_to(&c->token_uri, uri))
    return sk__gcp_errf(err, errlen, SK_ENOMEM, "%s: out of memory", label);
  return 0;
}

static int parse_authorized_user(json_t *root, const char *label, sk__gcp_cred_t *c, char *err,
                                 size_t errlen) {
  const char *id, *secret, *refresh, *quota, *uri;
  int rc;
  if ((rc = get_field(root, "client_id", true, true, label, &id, err, errlen)) ||
      (rc = get_field(root, "client_secret", true, true, label, &secret, err, errlen)) ||
      (rc = get_field(root, "refresh_token", true, true, label, &refresh, err, errlen)) ||
      (rc = get_field(root, "quota_project_id", false, true, label, &quota, err, errlen)) ||
      (rc = get_field(root, "token_uri", false, true, label, &uri, err, errlen)) ||
      (rc = check_url(uri, "token_uri", label, err, errlen)))
    return rc;
  c->kind = SK__GCP_USER;
  if (!dup_to(&c->client_id, id) || !dup_to(&c->client_secret, secret) ||
      !dup_to(&c->refresh_token, refresh) || !dup_to(&c->quota_project_id, quota) ||
      !dup_to(&c->token_uri, uri))
    return sk__gcp_errf(err, errlen, SK_ENOMEM, "%s: out of memory", label);
  return 0;
}

int sk__gcp_cred_parse(const char *json, size_t len, const char *label, sk__gcp_cred_t *c,
                       char *err, size_t errlen) {
  memset(c, 0, sizeof(*c));
  if (!label)
    label = "credentials";
  json_error_t jerr;
  json_t *root = json ? json_loadb(json, len, 0, &jerr) : NULL;
  if (!json_is_object(root)) {
    /* jansson's text quotes the input near the error, which may be a piece
     * of the key: only the position is given. */
    int rc = root ? sk__gcp_errf(err, errlen, SK_EPARSE, "%s: not a JSON object", label)
                  : sk__gcp_errf(err, errlen, SK_EPARSE, "%s: not valid JSON (line %d, column %d)",
                                 label, json ? jerr.line : 0, json ? jerr.column : 0);
    json_decref(root);
    return rc;
  }
  int rc;
  const char *type;
  if ((rc = get_field(root, "type", true, false, label, &type, err, errlen)))
    goto out;
  if (strcmp(type, "service_account") == 0) {
    rc = parse_service_account(root, label, c, err, errlen);
  } else if (strcmp(type, "authorized_user") == 0) {
    rc = parse_authorized_user(root, label, c, err, errlen);
  } else {
    /* The type is not a secret, and naming it ("external_account") tells
     * the user what to change. */
    bool show = printable(type, 40);
    rc = sk__gcp_errf(err, errlen, SK_EINVALID,
                      "%s: field \"type\" is %s%s%s, which is not supported (service_account or "
                      "authorized_user)",
                      label, show ? "\"" : "", show ? type : "not a known type",
                      show ? "\"" : "");
  }
out:
  if (rc)
    sk__gcp_cred_release(c);
  wipe_json_string(root, "private_key");
  wipe_json_string(root, "client_secret");
  wipe_json_string(root, "refresh_token");
  json_decref(root);
  return rc;
}

int sk__gcp_b64url(const void *data, size_t len, sk_buf_t *out) {
  static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const unsigned char *p = data;
  char q[4];
  for (size_t i = 0; i < len; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16;
    if (i + 1 < len)
      v |= (uint32_t)p[i + 1] << 8;
    if (i + 2 < len)
      v |= p[i + 2];
    size_t n = len - i >= 3 ? 4 : len - i + 1; /* 1 byte → 2 chars, 2 → 3 */
    q[0] = tbl[(v >> 18) & 63];
    q[1] = tbl[(v >> 12) & 63];
    q[2] = tbl[(v >> 6) & 63];
    q[3] = tbl[v & 63];
    int rc = sk_buf_append(out, q, n);
    if (rc)
      return rc;
  }
  return 0;
}

/* Appends the base64url of a JSON object's compact text. */
static int append_json_b64(json_t *obj, sk_buf_t *out) {
  if (!obj)
    return SK_ENOMEM;
  char *s = json_dumps(obj, JSON_COMPACT);
  if (!s)
    return SK_ENOMEM;
  int rc = sk__gcp_b64url(s, strlen(s), out);
  free(s);
  return rc;
}

/* RSASSA-PKCS1-v1_5 with SHA-256 (RS256) of the signing input in b,
 * appended to b as ".signature". */
static int append_signature(EVP_PKEY *pkey, sk_buf_t *b) {
  int rc = SK_EINVAL;
  unsigned char *sig = NULL;
  size_t siglen = 0;
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  if (!md) {
    rc = SK_ENOMEM;
    goto out;
  }
  if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) != 1 ||
      EVP_DigestSign(md, NULL, &siglen, (const unsigned char *)b->data, b->len) != 1)
    goto out;
  if (!(sig = malloc(siglen))) {
    rc = SK_ENOMEM;
    goto out;
  }
  if (EVP_DigestSign(md, sig, &siglen, (const unsigned char *)b->data, b->len) != 1)
    goto out;
  if ((rc = sk_buf_putc(b, '.')) == 0)
    rc = sk__gcp_b64url(sig, siglen, b);
out:
  ERR_clear_error();
  EVP_MD_CTX_free(md);
  free(sig);
  return rc;
}

int sk__gcp_jwt(const sk__gcp_cred_t *c, const char *aud, const char *scope, int64_t now_s,
                char **out) {
  *out = NULL;
  if (!c || c->kind != SK__GCP_SERVICE_ACCOUNT || !c->pkey || !c->client_email || !aud || !scope)
    return SK_EINVAL;
  json_t *hdr = c->private_key_id ? json_pack("{s:s, s:s, s:s}", "alg", "RS256", "typ", "JWT",
                                              "kid", c->private_key_id)
                                  : json_pack("{s:s, s:s}", "alg", "RS256", "typ", "JWT");
  json_t *claims = json_pack("{s:s, s:s, s:s, s:I, s:I}", "iss", c->client_email, "scope", scope,
                             "aud", aud, "iat", (json_int_t)now_s, "exp",
                             (json_int_t)(now_s + JWT_LIFETIME_S));
  sk_buf_t b;
  sk_buf_init(&b, JWT_MAX);
  int rc = append_json_b64(hdr, &b);
  if (rc == 0)
    rc = sk_buf_putc(&b, '.');
  if (rc == 0)
    rc = append_json_b64(claims, &b);
  if (rc == 0)
    rc = append_signature(c->pkey, &b);
  if (rc == 0 && !(*out = sk_buf_steal(&b)))
    rc = SK_ENOMEM;
  if (b.data)
    OPENSSL_cleanse(b.data, b.len);
  sk_buf_release(&b);
  json_decref(hdr);
  json_decref(claims);
  return rc;
}

/* Appends s percent-encoded for an application/x-www-form-urlencoded body:
 * RFC 3986 unreserved characters stay, everything else is %XX. */
static int append_form_value(sk_buf_t *b, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    int rc;
    if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
        ch == '-' || ch == '.' || ch == '_' || ch == '~') {
      rc = sk_buf_putc(b, (char)ch);
    } else {
      char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
      rc = sk_buf_append(b, e, 3);
    }
    if (rc)
      return rc;
  }
  return 0;
}

/* Hands b's text to *out, wiping b either way. */
static int finish_form(sk_buf_t *b, int rc, char **out) {
  if (rc == 0 && !(*out = sk_buf_steal(b)))
    rc = SK_ENOMEM;
  if (b->data)
    OPENSSL_cleanse(b->data, b->len);
  sk_buf_release(b);
  return rc;
}

int sk__gcp_form_jwt_bearer(const char *jwt, char **out) {
  *out = NULL;
  if (!jwt)
    return SK_EINVAL;
  sk_buf_t b;
  sk_buf_init(&b, FORM_MAX);
  int rc = sk_buf_puts(&b, "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
                           "&assertion=");
  if (rc == 0)
    rc = append_form_value(&b, jwt);
  return finish_form(&b, rc, out);
}

int sk__gcp_form_refresh(const sk__gcp_cred_t *c, char **out) {
  *out = NULL;
  if (!c || c->kind != SK__GCP_USER)
    return SK_EINVAL;
  sk_buf_t b;
  sk_buf_init(&b, FORM_MAX);
  int rc = sk_buf_puts(&b, "grant_type=refresh_token&client_id=");
  if (rc == 0)
    rc = append_form_value(&b, c->client_id);
  if (rc == 0)
    rc = sk_buf_puts(&b, "&client_secret=");
  if (rc == 0)
    rc = append_form_value(&b, c->client_secret);
  if (rc == 0)
    rc = sk_buf_puts(&b, "&refresh_token=");
  if (rc == 0)
    rc = append_form_value(&b, c->refresh_token);
  return finish_form(&b, rc, out);
}

/* True when text holds SECRET_WINDOW consecutive bytes of any secret (or a
 * whole secret shorter than that), so that an endpoint echoing part of an
 * assertion or a refresh token cannot put it into a message. */
static bool quotes_secret(const char *text, const char *const *secrets) {
  for (size_t i = 0; secrets && secrets[i]; i++) {
    const char *s = secrets[i];
    size_t n = strlen(s);
    if (n == 0)
      continue;
    size_t w = n < SECRET_WINDOW ? n : SECRET_WINDOW;
    for (size_t off = 0; off + w <= n; off++) {
      const char *p = text;
      while ((p = strchr(p, s[off])) != NULL) {
        if (strncmp(p, s + off, w) == 0)
          return true;
        p++;
      }
    }
  }
  return false;
}

/* Copies the first line of src into dst (at most QUOTE_MAX bytes, non
 * printable bytes as '?'), or "" when src holds part of a secret. */
static void quote(char *dst, size_t dstlen, const char *src, size_t srclen,
                  const char *const *secrets) {
  size_t n = 0;
  dst[0] = '\0';
  if (!src)
    return;
  while (n < srclen && n < QUOTE_MAX && n + 1 < dstlen && src[n] != '\n' && src[n] != '\r') {
    unsigned char ch = (unsigned char)src[n];
    dst[n] = ch >= 0x20 && ch <= 0x7e ? (char)ch : '?';
    n++;
  }
  dst[n] = '\0';
  while (n > 0 && dst[n - 1] == ' ')
    dst[--n] = '\0';
  if (quotes_secret(dst, secrets))
    snprintf(dst, dstlen, "(text withheld: it quoted a credential)");
}

/* The code of an error answer: SK_EAUTH when the credentials were refused
 * or are missing (4xx: retrying gives the same answer), SK_EHTTP when
 * asking again later may work. */
static int error_code(long status) {
  if (status >= 400 && status < 500 && status != 408 && status != 429)
    return SK_EAUTH;
  return SK_EHTTP;
}

/* Formats an error answer: "WHAT answered STATUS[ CODE][: DESCRIPTION]",
 * with the OAuth error fields ({"error","error_description"}), Google's
 * API error ({"error":{"status","message"}}), or the first line of a plain
 * text body. */
static int error_answer(long status, json_t *root, const char *body, size_t len, const char *what,
                        const char *const *secrets, char *msg, size_t msglen) {
  char code[QUOTE_MAX + 1] = "", desc[QUOTE_MAX + 1] = "";
  if (json_is_object(root)) {
    json_t *e = json_object_get(root, "error");
    const char *c = NULL, *d = NULL;
    if (json_is_string(e)) {
      c = json_string_value(e);
      d = json_string_value(json_object_get(root, "error_description"));
    } else if (json_is_object(e)) {
      c = json_string_value(json_object_get(e, "status"));
      d = json_string_value(json_object_get(e, "message"));
    }
    if (c)
      quote(code, sizeof(code), c, strlen(c), secrets);
    if (d)
      quote(desc, sizeof(desc), d, strlen(d), secrets);
  } else if (!root && body && len > 0 && body[0] != '<' && body[0] != '{' && body[0] != '[') {
    /* Plain text (the metadata server's answers are text); HTML pages are
     * not worth quoting. */
    quote(desc, sizeof(desc), body, len, secrets);
  }
  return sk__gcp_errf(msg, msglen, error_code(status), "%s answered %ld%s%s%s%s", what, status,
                      code[0] ? " " : "", code, desc[0] ? ": " : "", desc);
}

/* A token goes into an Authorization header: one word of visible ASCII. */
static bool token_ok(const char *t) {
  size_t n = 0;
  for (; t[n]; n++)
    if ((unsigned char)t[n] <= 0x20 || (unsigned char)t[n] >= 0x7f || n >= TOKEN_MAX)
      return false;
  return n > 0;
}

int sk__gcp_token_answer(long status, const char *body, size_t len, const char *what,
                         const char *const *secrets, char **token, int64_t *expires_in_s,
                         char *msg, size_t msglen) {
  *token = NULL;
  *expires_in_s = 0;
  if (!what)
    what = "token endpoint";
  json_error_t jerr;
  json_t *root = body && len > 0 ? json_loadb(body, len, 0, &jerr) : NULL;
  int rc;
  if (status < 200 || status > 299) {
    rc = error_answer(status, root, body, len, what, secrets, msg, msglen);
    goto out;
  }
  rc = SK_EHTTP;
  if (!json_is_object(root)) {
    sk__gcp_errf(msg, msglen, rc, "%s answered %ld with a body that is not a JSON object", what,
                 status);
    goto out;
  }
  json_t *at = json_object_get(root, "access_token");
  if (!json_is_string(at) || !token_ok(json_string_value(at))) {
    sk__gcp_errf(msg, msglen, rc, "%s answered %ld without a usable access_token", what, status);
    goto out;
  }
  json_t *ei = json_object_get(root, "expires_in");
  int64_t secs = EXPIRES_DEFAULT_S;
  if (json_is_integer(ei)) {
    secs = json_integer_value(ei);
  } else if (json_is_real(ei)) {
    double d = json_real_value(ei);
    secs = d >= 1 && d < (double)EXPIRES_MAX_S ? (int64_t)d : (d >= 1 ? EXPIRES_MAX_S : 0);
  } else if (json_is_string(ei)) {
    if (sk_parse_int64(json_string_value(ei), &secs) != 0)
      secs = 0;
  } else if (ei && !json_is_null(ei)) {
    secs = 0;
  }
  if (secs <= 0) {
    sk__gcp_errf(msg, msglen, rc,
                 "%s answered %ld with an expires_in that is not a positive number", what, status);
    goto out;
  }
  if (secs > EXPIRES_MAX_S)
    secs = EXPIRES_MAX_S;
  if (!(*token = strdup(json_string_value(at)))) {
    rc = sk__gcp_errf(msg, msglen, SK_ENOMEM, "%s: out of memory", what);
    goto out;
  }
  *expires_in_s = secs;
  rc = 0;
out:
  wipe_json_string(root, "access_token");
  json_decref(root);
  return rc;
}

int sk__gcp_project_answer(long status, const char *body, size_t len, const char *what,
                           char **project, char *msg, size_t msglen) {
  *project = NULL;
  if (!what)
    what = "metadata server";
  if (status < 200 || status > 299) {
    json_error_t jerr;
    json_t *root = body && len > 0 ? json_loadb(body, len, 0, &jerr) : NULL;
    int rc = error_answer(status, root, body, len, what, NULL, msg, msglen);
    json_decref(root);
    return rc;
  }
  size_t a = 0, n = body ? len : 0;
  while (a < n && (body[a] == ' ' || body[a] == '\t' || body[a] == '\r' || body[a] == '\n'))
    a++;
  while (n > a && (body[n - 1] == ' ' || body[n - 1] == '\t' || body[n - 1] == '\r' ||
                   body[n - 1] == '\n'))
    n--;
  /* Project ids are lowercase letters, digits and hyphens; older ones may
   * carry a domain ("example.com:proj"). */
  bool ok = n > a && n - a <= 128;
  for (size_t i = a; ok && i < n; i++) {
    char ch = body[i];
    ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
         ch == ':' || ch == '_';
  }
  if (!ok)
    return sk__gcp_errf(msg, msglen, SK_EHTTP,
                        "%s answered %ld with a body that is not a project id", what, status);
  if (!(*project = sk_memdup_str(body + a, n - a)))
    return sk__gcp_errf(msg, msglen, SK_ENOMEM, "%s: out of memory", what);
  return 0;
}
