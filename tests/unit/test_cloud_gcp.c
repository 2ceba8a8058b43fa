/*
 * lib/cloud/gcp*: Google authorisation against a fake of Google's token
 * endpoint and metadata server on 127.0.0.1 (a small HTTP/1.1 server on the
 * test's own loop). The fake token endpoint checks what the real one
 * checks: the JWT's RS256 signature against the public half of the test
 * key (tests/unit/data/gcp), its header and claims, and the refresh-token
 * grant's fields. The fake metadata server refuses requests without
 * "Metadata-Flavor: Google".
 *
 * Covered: key → JWT → token → "Authorization: Bearer"; the cache; one
 * request for many concurrent authorisations; refresh ahead of expiry and
 * the fallback to a still-valid token; invalidate; error answers (400,
 * 503, transport) with no secret in the message or the log; the metadata
 * server and GCE_METADATA_HOST; the ADC order and its errors; bad key
 * files; the project's order; destroy at every stage.
 */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "cloud/gcp-int.h"
#include "cloud/gcp.h"
#include "sk_test.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strutil.h"

#define WAIT_MS 15000
#define SA_EMAIL "skein-test@test-project.iam.gserviceaccount.com"
#define SA_KID "0123456789abcdef0123456789abcdef01234567"
#define USER_CLIENT_ID "1234-test.apps.googleusercontent.com"
#define USER_SECRET "test-client-secret-d5f1"
#define USER_REFRESH "1//test-refresh-token/with+odd=chars"
#define ENV_VARS_N 5
static const char *const env_vars[ENV_VARS_N] = {"GOOGLE_APPLICATION_CREDENTIALS",
                                                 "GCE_METADATA_HOST", "GOOGLE_CLOUD_PROJECT",
                                                 "CLOUDSDK_CONFIG", "HOME"};

static char tmpdir[512];
static char *sa_pem;    /* the test key's PEM text */
static char *other_pem; /* a key the fake does not know */
static FILE *logf_;     /* everything the library logged at -v 2 */

/* ---- files ---- */

static char *read_text(const char *path) {
  FILE *fp = fopen(path, "rb");
  if (!fp)
    return NULL;
  sk_buf_t b;
  sk_buf_init(&b, 1 << 20);
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
    if (sk_buf_append(&b, chunk, n) != 0)
      break;
  fclose(fp);
  return sk_buf_steal(&b);
}

static char *data_file(const char *name) {
  char path[1024];
  const char *d = getenv("SKEIN_SOURCE_DIR");
  snprintf(path, sizeof(path), "%s/tests/unit/data/gcp/%s", d ? d : ".", name);
  return read_text(path);
}

/* tmpdir/rel, made with its parent folders when dir is true. */
static const char *tpath(const char *rel) {
  static char buf[8][1024];
  static int slot;
  char *p = buf[slot++ % 8];
  snprintf(p, sizeof(buf[0]), "%s/%s", tmpdir, rel);
  return p;
}

static void mkdirs(const char *rel) {
  char p[1024];
  snprintf(p, sizeof(p), "%s/%s", tmpdir, rel);
  for (char *s = p + strlen(tmpdir) + 1; *s; s++) {
    if (*s == '/') {
      *s = '\0';
      mkdir(p, 0700);
      *s = '/';
    }
  }
  mkdir(p, 0700);
}

static void put(const char *rel, const char *text) {
  FILE *fp = fopen(tpath(rel), "w");
  if (!fp) {
    FAILF("cannot write %s", tpath(rel));
    return;
  }
  fputs(text, fp);
  fclose(fp);
}

static void remove_tree(const char *path) {
  DIR *d = opendir(path);
  if (d) {
    struct dirent *de;
    while ((de = readdir(d))) {
      if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
        continue;
      char sub[1024];
      snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
      remove_tree(sub);
    }
    closedir(d);
    rmdir(path);
  } else {
    unlink(path);
  }
}

/* A service_account key file around pem; project and token_uri may be
 * NULL (left out). New string. */
static char *sa_json(const char *pem, const char *project, const char *token_uri) {
  json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "service_account", "private_key_id",
                        SA_KID, "private_key", pem, "client_email", SA_EMAIL, "client_id",
                        "100000000000000000001");
  if (project)
    json_object_set_new(o, "project_id", json_string(project));
  if (token_uri)
    json_object_set_new(o, "token_uri", json_string(token_uri));
  char *s = json_dumps(o, JSON_INDENT(2));
  json_decref(o);
  return s;
}

static const char user_json[] = "{\"type\": \"authorized_user\", \"client_id\": \"" USER_CLIENT_ID
                                "\", \"client_secret\": \"" USER_SECRET
                                "\", \"refresh_token\": \"" USER_REFRESH
                                "\", \"quota_project_id\": \"quota-project\"}";

static void clear_env(void) {
  for (int i = 0; i < ENV_VARS_N; i++)
    unsetenv(env_vars[i]);
}

/* ---- base64url for the fake ---- */

static int b64v(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '-')
    return 62;
  if (c == '_')
    return 63;
  return -1;
}

/* Decodes unpadded base64url; false on a bad character or length. */
static bool b64url_decode(const char *s, size_t n, unsigned char *out, size_t cap, size_t *outlen) {
  uint32_t acc = 0;
  int bits = 0;
  size_t o = 0;
  if (n % 4 == 1)
    return false;
  for (size_t i = 0; i < n; i++) {
    int v = b64v(s[i]);
    if (v < 0)
      return false;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (o >= cap)
        return false;
      out[o++] = (unsigned char)(acc >> bits);
    }
  }
  /* Leftover bits must be zero in a canonical encoding. */
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
    return false;
  *outlen = o;
  return true;
}

/* ---- the fake Google: token endpoint and metadata server ---- */

typedef struct fg fg_t;

typedef struct fg_conn {
  uv_tcp_t tcp;
  fg_t *fg;
  char *buf;
  size_t len, cap;
  bool handled, closing;
  struct fg_conn *next;
} fg_conn_t;

struct fg {
  uv_tcp_t listener;
  int port;
  char base[64];
  char token_url[96];
  fg_conn_t *conns;
  EVP_PKEY *pub; /* the public half of the service account's key */
  /* how it answers */
  int force_status;     /* non-zero: answer token requests with this (after checking) */
  const char *force_body;
  bool echo_assertion;  /* a forced error's description quotes the assertion */
  int expires_in;
  bool hold;            /* keep token answers until fg_release */
  const char *project;  /* metadata project-id; NULL: 404 */
  /* what it saw */
  int requests, token_requests, jwt_grants, jwt_ok, refresh_grants, refresh_ok;
  int metadata_token, metadata_project, no_flavor;
  char jwt_error[256];
  char last_jwt[4096];
  char last_sig[1024]; /* the signature part of the last JWT */
  int issued;
  char last_token[64];
  fg_conn_t *held[32];
  int nheld;
};

static void fg_conn_closed(uv_handle_t *h) {
  fg_conn_t *c = h->data;
  fg_t *fg = c->fg;
  for (fg_conn_t **pp = &fg->conns; *pp; pp = &(*pp)->next) {
    if (*pp == c) {
      *pp = c->next;
      break;
    }
  }
  for (int i = 0; i < fg->nheld; i++)
    if (fg->held[i] == c)
      fg->held[i] = NULL;
  free(c->buf);
  free(c);
}

static void fg_conn_close(fg_conn_t *c) {
  if (c->closing)
    return;
  c->closing = true;
  uv_close((uv_handle_t *)&c->tcp, fg_conn_closed);
}

typedef struct {
  uv_write_t w;
  fg_conn_t *c;
  char *data;
} fg_write_t;

static void fg_written(uv_write_t *w, int status) {
  (void)status;
  fg_write_t *fw = (fg_write_t *)w;
  fg_conn_close(fw->c);
  free(fw->data);
  free(fw);
}

static void fg_respond(fg_conn_t *c, int status, const char *ctype, const char *body) {
  if (c->closing)
    return;
  fg_write_t *fw = calloc(1, sizeof(*fw));
  sk_buf_t b;
  sk_buf_init(&b, 1 << 20);
  sk_buf_printf(&b,
                "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                "Connection: close\r\n\r\n%s",
                status, status == 200 ? "OK" : "Error", ctype, strlen(body), body);
  fw->c = c;
  fw->data = sk_buf_steal(&b);
  uv_buf_t ub = uv_buf_init(fw->data, (unsigned)strlen(fw->data));
  if (uv_write(&fw->w, (uv_stream_t *)&c->tcp, &ub, 1, fg_written) != 0) {
    free(fw->data);
    free(fw);
    fg_conn_close(c);
  }
}

/* The value of header name in the header block head. */
static bool fg_header(const char *head, const char *name, char *out, size_t outlen) {
  size_t nlen = strlen(name);
  for (const char *line = strstr(head, "\r\n"); line && line[2]; line = strstr(line + 2, "\r\n")) {
    const char *l = line + 2;
    if (strncasecmp(l, name, nlen) == 0 && l[nlen] == ':') {
      const char *v = l + nlen + 1;
      while (*v == ' ')
        v++;
      const char *e = strstr(v, "\r\n");
      size_t n = e ? (size_t)(e - v) : strlen(v);
      if (n >= outlen)
        n = outlen - 1;
      memcpy(out, v, n);
      out[n] = '\0';
      return true;
    }
  }
  return false;
}

/* The percent-decoded value of key in a form body, or false. */
static bool form_get(const char *body, const char *key, char *out, size_t outlen) {
  size_t klen = strlen(key);
  for (const char *p = body; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
    if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
      const char *v = p + klen + 1;
      size_t o = 0;
      for (; *v && *v != '&' && o + 1 < outlen; v++) {
        if (*v == '%' && v[1] && v[2]) {
          char hex[3] = {v[1], v[2], 0};
          out[o++] = (char)strtol(hex, NULL, 16);
          v += 2;
        } else {
          out[o++] = *v == '+' ? ' ' : *v;
        }
      }
      out[o] = '\0';
      return true;
    }
  }
  return false;
}

static json_t *decode_part(const char *s, size_t n) {
  unsigned char buf[4096];
  size_t len;
  if (!b64url_decode(s, n, buf, sizeof(buf), &len))
    return NULL;
  return json_loadb((const char *)buf, len, 0, NULL);
}

/* Checks a JWT as Google's token endpoint does; on failure why says what
 * failed, in Google's words where we know them. */
static bool fg_verify_jwt(fg_t *fg, const char *jwt, char *why, size_t whylen) {
  const char *d1 = strchr(jwt, '.');
  const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
  if (!d1 || !d2 || strchr(d2 + 1, '.')) {
    snprintf(why, whylen, "Invalid JWT: not three parts.");
    return false;
  }
  snprintf(fg->last_sig, sizeof(fg->last_sig), "%s", d2 + 1);
  json_t *hdr = decode_part(jwt, (size_t)(d1 - jwt));
  json_t *cl = decode_part(d1 + 1, (size_t)(d2 - d1 - 1));
  bool ok = false;
  const char *alg = json_string_value(json_object_get(hdr, "alg"));
  const char *typ = json_string_value(json_object_get(hdr, "typ"));
  const char *kid = json_string_value(json_object_get(hdr, "kid"));
  if (!hdr || !cl || !alg || strcmp(alg, "RS256") != 0 || !typ || strcmp(typ, "JWT") != 0 ||
      !kid || strcmp(kid, SA_KID) != 0 || json_object_size(hdr) != 3) {
    snprintf(why, whylen, "Invalid JWT header.");
    goto out;
  }
  unsigned char sig[1024];
  size_t siglen;
  if (!b64url_decode(d2 + 1, strlen(d2 + 1), sig, sizeof(sig), &siglen)) {
    snprintf(why, whylen, "Invalid JWT Signature.");
    goto out;
  }
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  int v = md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, fg->pub) == 1
              ? EVP_DigestVerify(md, sig, siglen, (const unsigned char *)jwt, (size_t)(d2 - jwt))
              : -1;
  EVP_MD_CTX_free(md);
  ERR_clear_error();
  if (v != 1) {
    snprintf(why, whylen, "Invalid JWT Signature.");
    goto out;
  }
  const char *iss = json_string_value(json_object_get(cl, "iss"));
  const char *aud = json_string_value(json_object_get(cl, "aud"));
  const char *scope = json_string_value(json_object_get(cl, "scope"));
  json_t *iat = json_object_get(cl, "iat"), *exp = json_object_get(cl, "exp");
  long long now = (long long)time(NULL);
  if (!iss || strcmp(iss, SA_EMAIL) != 0) {
    snprintf(why, whylen, "Invalid JWT: iss is not the service account.");
  } else if (!aud || strcmp(aud, fg->token_url) != 0) {
    snprintf(why, whylen, "Invalid JWT: Failed audience check.");
  } else if (!scope || strcmp(scope, SK_GCP_SCOPE) != 0) {
    snprintf(why, whylen, "Invalid JWT: scope is not cloud-platform.");
  } else if (!json_is_integer(iat) || !json_is_integer(exp) ||
             json_integer_value(exp) <= json_integer_value(iat) ||
             json_integer_value(exp) - json_integer_value(iat) > 3600) {
    snprintf(why, whylen, "Invalid JWT: exp must be after iat and at most an hour later.");
  } else if (llabs(json_integer_value(iat) - now) > 300) {
    snprintf(why, whylen, "Invalid JWT: Token must be a short-lived token and in a reasonable "
                          "timeframe.");
  } else {
    ok = true;
  }
out:
  json_decref(hdr);
  json_decref(cl);
  return ok;
}

static void fg_issue(fg_t *fg, fg_conn_t *c) {
  char body[256];
  fg->issued++;
  snprintf(fg->last_token, sizeof(fg->last_token), "ya29.fake-token-%d", fg->issued);
  snprintf(body, sizeof(body),
           "{\"access_token\":\"%s\",\"expires_in\":%d,\"token_type\":\"Bearer\"}",
           fg->last_token, fg->expires_in);
  fg_respond(c, 200, "application/json", body);
}

/* A forced answer, or a hold, or a token. */
static void fg_answer_token(fg_t *fg, fg_conn_t *c) {
  if (fg->force_status) {
    char body[8192];
    if (fg->echo_assertion)
      snprintf(body, sizeof(body),
               "{\"error\":\"invalid_grant\",\"error_description\":\"bad assertion %.4000s\"}",
               fg->last_jwt);
    else
      snprintf(body, sizeof(body), "%s", fg->force_body ? fg->force_body : "");
    fg_respond(c, fg->force_status, "application/json", body);
  } else if (fg->hold && fg->nheld < 32) {
    fg->held[fg->nheld++] = c;
  } else {
    fg_issue(fg, c);
  }
}

static void fg_release(fg_t *fg) {
  int n = fg->nheld;
  fg->nheld = 0;
  fg->hold = false;
  for (int i = 0; i < n; i++)
    if (fg->held[i])
      fg_issue(fg, fg->held[i]);
}

static void fg_handle(fg_conn_t *c, const char *method, const char *path, const char *head,
                      const char *body) {
  fg_t *fg = c->fg;
  char flavor[64], grant[128], why[256];
  fg->requests++;
  if (strcmp(method, "POST") == 0 && strcmp(path, "/token") == 0) {
    fg->token_requests++;
    if (!form_get(body, "grant_type", grant, sizeof(grant))) {
      fg_respond(c, 400, "application/json", "{\"error\":\"invalid_request\"}");
    } else if (strcmp(grant, "urn:ietf:params:oauth:grant-type:jwt-bearer") == 0) {
      fg->jwt_grants++;
      if (!form_get(body, "assertion", fg->last_jwt, sizeof(fg->last_jwt)))
        fg->last_jwt[0] = '\0';
      if (!fg_verify_jwt(fg, fg->last_jwt, why, sizeof(why))) {
        snprintf(fg->jwt_error, sizeof(fg->jwt_error), "%s", why);
        char err[512];
        snprintf(err, sizeof(err), "{\"error\":\"invalid_grant\",\"error_description\":\"%s\"}",
                 why);
        fg_respond(c, 400, "application/json", err);
        return;
      }
      fg->jwt_ok++;
      fg_answer_token(fg, c);
    } else if (strcmp(grant, "refresh_token") == 0) {
      char id[128], secret[128], refresh[128];
      fg->refresh_grants++;
      if (!form_get(body, "client_id", id, sizeof(id)) ||
          !form_get(body, "client_secret", secret, sizeof(secret)) ||
          !form_get(body, "refresh_token", refresh, sizeof(refresh)) ||
          strcmp(id, USER_CLIENT_ID) != 0 || strcmp(secret, USER_SECRET) != 0 ||
          strcmp(refresh, USER_REFRESH) != 0) {
        fg_respond(c, 400, "application/json",
                   "{\"error\":\"invalid_grant\",\"error_description\":\"Token has been expired "
                   "or revoked.\"}");
        return;
      }
      fg->refresh_ok++;
      fg_answer_token(fg, c);
    } else {
      fg_respond(c, 400, "application/json", "{\"error\":\"unsupported_grant_type\"}");
    }
    return;
  }
  if (strncmp(path, "/computeMetadata/v1/", 20) == 0) {
    /* The real server refuses requests without the header (SSRF guard). */
    if (!fg_header(head, "Metadata-Flavor", flavor, sizeof(flavor)) ||
        strcmp(flavor, "Google") != 0) {
      fg->no_flavor++;
      fg_respond(c, 403, "text/html", "<html>Missing Metadata-Flavor:Google header.</html>");
      return;
    }
    if (strcmp(method, "GET") == 0 &&
        strcmp(path, "/computeMetadata/v1/instance/service-accounts/default/token") == 0) {
      fg->metadata_token++;
      fg_answer_token(fg, c);
      return;
    }
    if (strcmp(method, "GET") == 0 && strcmp(path, "/computeMetadata/v1/project/project-id") == 0) {
      fg->metadata_project++;
      if (fg->project)
        fg_respond(c, 200, "application/text", fg->project);
      else
        fg_respond(c, 404, "text/plain", "Not Found\n");
      return;
    }
  }
  fg_respond(c, 404, "text/plain", "no such route");
}

static void fg_try_request(fg_conn_t *c) {
  char *end = strstr(c->buf, "\r\n\r\n"); /* the buffer is NUL-terminated */
  if (!end)
    return;
  size_t head_len = (size_t)(end - c->buf) + 4;
  char *head = malloc(head_len + 1);
  memcpy(head, c->buf, head_len);
  head[head_len] = '\0';
  char cl[32];
  size_t body_len = fg_header(head, "Content-Length", cl, sizeof(cl)) ? strtoul(cl, NULL, 10) : 0;
  if (c->len < head_len + body_len) {
    free(head);
    return;
  }
  char method[16] = "", path[512] = "";
  if (sscanf(head, "%15s %511s", method, path) != 2) {
    free(head);
    fg_conn_close(c);
    return;
  }
  char *body = malloc(body_len + 1);
  memcpy(body, c->buf + head_len, body_len);
  body[body_len] = '\0';
  c->handled = true;
  fg_handle(c, method, path, head, body);
  free(head);
  free(body);
}

static void fg_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  buf->base = malloc(suggested);
  buf->len = buf->base ? suggested : 0;
}

static void fg_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  fg_conn_t *c = s->data;
  if (n < 0) {
    free(buf->base);
    fg_conn_close(c);
    return;
  }
  if (n > 0 && !c->handled) {
    if (c->len + (size_t)n + 1 > c->cap) {
      size_t cap = (c->len + (size_t)n + 1) * 2;
      c->buf = realloc(c->buf, cap);
      c->cap = cap;
    }
    memcpy(c->buf + c->len, buf->base, (size_t)n);
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    fg_try_request(c);
  }
  free(buf->base);
}

static void fg_accept(uv_stream_t *l, int status) {
  fg_t *fg = l->data;
  if (status != 0)
    return;
  fg_conn_t *c = calloc(1, sizeof(*c));
  c->fg = fg;
  uv_tcp_init(l->loop, &c->tcp);
  c->tcp.data = c;
  c->next = fg->conns;
  fg->conns = c;
  if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0 ||
      uv_read_start((uv_stream_t *)&c->tcp, fg_alloc, fg_read) != 0)
    fg_conn_close(c);
}

static EVP_PKEY *public_half(const char *pem) {
  BIO *bio = BIO_new_mem_buf(pem, -1);
  EVP_PKEY *priv = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
  BIO_free(bio);
  if (!priv)
    return NULL;
  unsigned char *der = NULL;
  int n = i2d_PUBKEY(priv, &der);
  EVP_PKEY_free(priv);
  if (n <= 0)
    return NULL;
  const unsigned char *p = der;
  EVP_PKEY *pub = d2i_PUBKEY(NULL, &p, n);
  OPENSSL_free(der);
  return pub;
}

static int fg_start(fg_t *fg, uv_loop_t *loop) {
  memset(fg, 0, sizeof(*fg));
  fg->expires_in = 3600;
  fg->pub = public_half(sa_pem);
  if (!fg->pub)
    return -1;
  struct sockaddr_in sa;
  struct sockaddr_storage name;
  int len = sizeof(name);
  uv_ip4_addr("127.0.0.1", 0, &sa);
  uv_tcp_init(loop, &fg->listener);
  fg->listener.data = fg;
  if (uv_tcp_bind(&fg->listener, (const struct sockaddr *)&sa, 0) != 0 ||
      uv_listen((uv_stream_t *)&fg->listener, 64, fg_accept) != 0 ||
      uv_tcp_getsockname(&fg->listener, (struct sockaddr *)&name, &len) != 0)
    return -1;
  fg->port = ntohs(((struct sockaddr_in *)&name)->sin_port);
  snprintf(fg->base, sizeof(fg->base), "http://127.0.0.1:%d", fg->port);
  snprintf(fg->token_url, sizeof(fg->token_url), "%s/token", fg->base);
  return 0;
}

static void fg_stop(fg_t *fg) {
  if (!uv_is_closing((uv_handle_t *)&fg->listener))
    uv_close((uv_handle_t *)&fg->listener, NULL);
  for (fg_conn_t *c = fg->conns; c; c = c->next)
    fg_conn_close(c);
  EVP_PKEY_free(fg->pub);
  fg->pub = NULL;
}

/* ---- the test environment ---- */

static bool in_call;         /* set around authorize and project calls */
static uv_loop_t *test_loop; /* the running test's loop */

/* Callbacks stop the loop's current turn: with UV_RUN_ONCE a callback run
 * from a timer before the poll would otherwise leave the loop blocked in
 * the poll until the next event (the guard). */
static void wake(void) {
  if (test_loop)
    uv_stop(test_loop);
}

typedef struct {
  uv_loop_t loop;
  uv_timer_t guard;
  bool expired;
  sk_http_t *h;
  fg_t fg;
  sk_cloud_endpoints_t ep;
  char host[64]; /* "127.0.0.1:PORT" of the fake */
  char dead_host[64];
  char dead_url[96];
  char home[512];
} env_t;

static void on_guard(uv_timer_t *t) {
  env_t *e = t->data;
  e->expired = true;
  uv_stop(t->loop);
}

/* A port nothing listens on: bound, then closed. */
static int dead_port(uv_loop_t *loop) {
  uv_tcp_t t;
  struct sockaddr_in sa;
  struct sockaddr_storage name;
  int len = sizeof(name), port = 1;
  uv_ip4_addr("127.0.0.1", 0, &sa);
  uv_tcp_init(loop, &t);
  if (uv_tcp_bind(&t, (const struct sockaddr *)&sa, 0) == 0 &&
      uv_tcp_getsockname(&t, (struct sockaddr *)&name, &len) == 0)
    port = ntohs(((struct sockaddr_in *)&name)->sin_port);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
  return port;
}

/* A loop, the fake, a client; endpoints point at the fake's token URL
 * and at an empty home folder; the environment is clean. */
static bool env_init(env_t *e) {
  static int n;
  memset(e, 0, sizeof(*e));
  clear_env();
  uv_loop_init(&e->loop);
  test_loop = &e->loop;
  uv_timer_init(&e->loop, &e->guard);
  e->guard.data = e;
  int dp = dead_port(&e->loop);
  if (fg_start(&e->fg, &e->loop) != 0)
    return false;
  e->h = sk_http_create(&e->loop);
  snprintf(e->host, sizeof(e->host), "127.0.0.1:%d", e->fg.port);
  snprintf(e->dead_host, sizeof(e->dead_host), "127.0.0.1:%d", dp);
  snprintf(e->dead_url, sizeof(e->dead_url), "http://127.0.0.1:%d/token", dp);
  char rel[64];
  snprintf(rel, sizeof(rel), "home-%d", ++n);
  mkdirs(rel);
  snprintf(e->home, sizeof(e->home), "%s", tpath(rel));
  e->ep.google_token_uri = e->fg.token_url;
  e->ep.home = e->home;
  /* Every metadata request goes to a dead port unless a test says so: the
   * real metadata.google.internal must never be asked. */
  e->ep.gce_metadata_host = e->dead_host;
  return e->h != NULL;
}

static bool run_until(env_t *e, bool (*cond)(void *), void *arg, uint64_t ms) {
  e->expired = false;
  uv_timer_start(&e->guard, on_guard, ms, 0);
  while (!cond(arg) && !e->expired)
    uv_run(&e->loop, UV_RUN_ONCE);
  uv_timer_stop(&e->guard);
  return cond(arg);
}

static void env_finish(env_t *e) {
  sk_http_destroy(e->h);
  fg_stop(&e->fg);
  e->expired = false;
  uv_timer_start(&e->guard, on_guard, 10000, 0);
  uv_unref((uv_handle_t *)&e->guard);
  uv_run(&e->loop, UV_RUN_DEFAULT);
  CHECK(!e->expired);
  uv_close((uv_handle_t *)&e->guard, NULL);
  uv_run(&e->loop, UV_RUN_DEFAULT);
  CHECK_INT(uv_loop_close(&e->loop), 0);
  test_loop = NULL;
  clear_env();
}

/* ---- what the callbacks saw ---- */


typedef struct {
  int calls;
  bool inside; /* a callback ran from inside the call */
  int rc;
  char header[2][512];
  int nheaders;
  char message[SK_CLOUD_MAX_MESSAGE];
  /* optional actions from inside the callback */
  sk_cloud_authz_t *destroy_me;
} rec_t;

static void on_auth(const sk_cloud_auth_result_t *r, void *arg) {
  rec_t *x = arg;
  x->calls++;
  x->inside |= in_call;
  wake();
  x->rc = r->rc;
  x->nheaders = 0;
  for (int i = 0; i < SK_CLOUD_MAX_AUTH_HEADERS && r->headers[i]; i++) {
    if (i < 2)
      snprintf(x->header[i], sizeof(x->header[i]), "%s", r->headers[i]);
    x->nheaders++;
  }
  snprintf(x->message, sizeof(x->message), "%s", r->message ? r->message : "(null)");
  if (x->destroy_me) {
    sk_cloud_authz_destroy(x->destroy_me);
    x->destroy_me = NULL;
  }
}

static bool rec_done(void *arg) { return ((rec_t *)arg)->calls > 0; }

static bool held(void *arg) { return ((fg_t *)arg)->nheld == 1; }

typedef struct {
  rec_t *r;
  int n;
} recs_t;

static bool all_done(void *arg) {
  recs_t *rs = arg;
  for (int i = 0; i < rs->n; i++)
    if (rs->r[i].calls == 0)
      return false;
  return true;
}

static int start(sk_cloud_authz_t *a, rec_t *r) {
  sk_cloud_request_t req = {.method = "GET", .url = "https://example.invalid/v1/x"};
  memset(r, 0, sizeof(*r));
  in_call = true;
  int rc = sk_cloud_authorize(a, &req, on_auth, r);
  in_call = false;
  if (rc == 0 && r->calls != 0)
    FAILF("the callback ran from inside authorize");
  return rc;
}

/* Authorises once and waits for the answer. */
static void authorize_wait(env_t *e, sk_cloud_authz_t *a, rec_t *r) {
  int rc = start(a, r);
  CHECK_INT(rc, 0);
  if (rc == 0)
    CHECK(run_until(e, rec_done, r, WAIT_MS));
  CHECK_INT(r->calls, 1);
  CHECK(!r->inside);
}

static void check_bearer(const rec_t *r, const char *token) {
  char want[256];
  snprintf(want, sizeof(want), "Authorization: Bearer %s", token);
  CHECK_INT(r->rc, 0);
  CHECK_STR(r->header[0], want);
}

typedef struct {
  int calls;
  bool inside;
  int rc;
  char project[128];
  char message[SK_CLOUD_MAX_MESSAGE];
} prec_t;

static void on_project(int rc, const char *project, const char *message, void *arg) {
  prec_t *p = arg;
  p->calls++;
  p->inside |= in_call;
  wake();
  p->rc = rc;
  snprintf(p->project, sizeof(p->project), "%s", project ? project : "(null)");
  snprintf(p->message, sizeof(p->message), "%s", message ? message : "(null)");
}

static bool prec_done(void *arg) { return ((prec_t *)arg)->calls > 0; }

static bool three(void *arg) {
  prec_t *p = arg;
  return p[0].calls && p[1].calls && p[2].calls;
}

static void project_wait(env_t *e, sk_cloud_authz_t *a, prec_t *p) {
  memset(p, 0, sizeof(*p));
  in_call = true;
  int rc = sk_gcp_project(a, on_project, p);
  in_call = false;
  CHECK_INT(rc, 0);
  CHECK_INT(p->calls, 0);
  if (rc == 0)
    CHECK(run_until(e, prec_done, p, WAIT_MS));
  CHECK_INT(p->calls, 1);
  CHECK(!p->inside);
}

static sk_cloud_authz_t *sa_authz(env_t *e, const char *pem, const char *project) {
  char err[512] = "";
  char *json = sa_json(pem, project, NULL);
  sk_cloud_authz_t *a = sk_gcp_authz_from_json(&e->loop, e->h, &e->ep, json, strlen(json), err,
                                               sizeof(err));
  free(json);
  if (!a)
    FAILF("sk_gcp_authz_from_json: %s", err);
  return a;
}

/* Checks that a message holds none of the secrets the fake knows. */
static void check_no_secret(const char *msg, const fg_t *fg) {
  CHECK(!strstr(msg, "ya29."));
  CHECK(!strstr(msg, "PRIVATE KEY"));
  CHECK(!strstr(msg, USER_SECRET));
  CHECK(!strstr(msg, "test-refresh-token"));
  if (fg->last_jwt[0])
    CHECK(!strstr(msg, fg->last_jwt));
  if (fg->last_sig[0]) {
    char part[17];
    snprintf(part, sizeof(part), "%.16s", fg->last_sig);
    CHECK(!strstr(msg, part));
  }
  /* No line of either key's base64 body. */
  const char *pems[2] = {sa_pem, other_pem};
  for (int k = 0; k < 2; k++) {
    const char *p = strchr(pems[k], '\n');
    while (p && p[1] && p[1] != '-') {
      char line[24];
      snprintf(line, sizeof(line), "%.20s", p + 1);
      CHECK(!strstr(msg, line));
      p = strchr(p + 1, '\n');
    }
  }
}

/* ---- pure parts ---- */

TEST(b64url_vectors) {
  static const struct {
    const char *in;
    size_t len;
    const char *out;
  } v[] = {{"", 0, ""},         {"f", 1, "Zg"},         {"fo", 2, "Zm8"},
           {"foo", 3, "Zm9v"},  {"foob", 4, "Zm9vYg"},  {"fooba", 5, "Zm9vYmE"},
           {"foobar", 6, "Zm9vYmFy"}, {"\xfb\xff\xbf", 3, "-_-_"}, {"\xff\xfe", 2, "__4"}};
  for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
    sk_buf_t b;
    sk_buf_init(&b, 1024);
    CHECK_INT(sk__gcp_b64url(v[i].in, v[i].len, &b), 0);
    CHECK_STR(b.data ? b.data : "", v[i].out);
    sk_buf_release(&b);
  }
}

TEST(jwt_is_signed_and_verifiable) {
  char err[512] = "";
  char *json = sa_json(sa_pem, "p", NULL);
  sk__gcp_cred_t c;
  CHECK_INT(sk__gcp_cred_parse(json, strlen(json), "key", &c, err, sizeof(err)), 0);
  free(json);
  REQUIRE(c.kind == SK__GCP_SERVICE_ACCOUNT);
  CHECK_STR(c.client_email, SA_EMAIL);
  CHECK_STR(c.private_key_id, SA_KID);
  CHECK_STR(c.project_id, "p");
  CHECK(c.token_uri == NULL);
  fg_t fg;
  memset(&fg, 0, sizeof(fg));
  fg.pub = public_half(sa_pem);
  snprintf(fg.token_url, sizeof(fg.token_url), "https://oauth2.googleapis.com/token");
  char *jwt = NULL;
  CHECK_INT(sk__gcp_jwt(&c, fg.token_url, SK_GCP_SCOPE, (int64_t)time(NULL), &jwt), 0);
  REQUIRE(jwt);
  char why[256] = "";
  CHECK(fg_verify_jwt(&fg, jwt, why, sizeof(why)));
  if (why[0])
    printf("  why: %s\n", why);
  CHECK(strchr(jwt, '=') == NULL && strchr(jwt, '+') == NULL && strchr(jwt, '/') == NULL);
  /* A flipped bit anywhere in the signed part breaks the signature. */
  jwt[10] = jwt[10] == 'A' ? 'B' : 'A';
  CHECK(!fg_verify_jwt(&fg, jwt, why, sizeof(why)));
  /* The form body carries it unchanged (base64url needs no escaping). */
  char *form = NULL;
  jwt[10] = jwt[10] == 'A' ? 'B' : 'A';
  CHECK_INT(sk__gcp_form_jwt_bearer(jwt, &form), 0);
  char want[4096];
  snprintf(want, sizeof(want),
           "grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type%%3Ajwt-bearer&assertion=%s",
           jwt);
  CHECK_STR(form, want);
  sk__gcp_wipe_free(form);
  sk__gcp_wipe_free(jwt);
  /* A stale iat is refused by the fake as by Google. */
  CHECK_INT(sk__gcp_jwt(&c, fg.token_url, SK_GCP_SCOPE, (int64_t)time(NULL) - 4000, &jwt), 0);
  CHECK(!fg_verify_jwt(&fg, jwt, why, sizeof(why)));
  CHECK(strstr(why, "timeframe") != NULL);
  sk__gcp_wipe_free(jwt);
  EVP_PKEY_free(fg.pub);
  sk__gcp_cred_release(&c);
}

TEST(refresh_form_is_encoded) {
  char err[512] = "";
  sk__gcp_cred_t c;
  CHECK_INT(sk__gcp_cred_parse(user_json, strlen(user_json), "adc", &c, err, sizeof(err)), 0);
  REQUIRE(c.kind == SK__GCP_USER);
  CHECK_STR(c.quota_project_id, "quota-project");
  char *form = NULL;
  CHECK_INT(sk__gcp_form_refresh(&c, &form), 0);
  CHECK_STR(form, "grant_type=refresh_token&client_id=1234-test.apps.googleusercontent.com"
                  "&client_secret=test-client-secret-d5f1"
                  "&refresh_token=1%2F%2Ftest-refresh-token%2Fwith%2Bodd%3Dchars");
  sk__gcp_wipe_free(form);
  sk__gcp_cred_release(&c);
}

TEST(token_answers) {
  char msg[512], *tok = NULL;
  int64_t secs = 0;
  const char *ok = "{\"access_token\":\"ya29.abc\",\"expires_in\":3599,\"token_type\":\"Bearer\"}";
  CHECK_INT(sk__gcp_token_answer(200, ok, strlen(ok), "te", NULL, &tok, &secs, msg, sizeof(msg)),
            0);
  CHECK_STR(tok, "ya29.abc");
  CHECK_INT(secs, 3599);
  sk__gcp_wipe_free(tok);
  const char *nexp = "{\"access_token\":\"t\"}";
  CHECK_INT(
      sk__gcp_token_answer(200, nexp, strlen(nexp), "te", NULL, &tok, &secs, msg, sizeof(msg)), 0);
  CHECK_INT(secs, 3600);
  sk__gcp_wipe_free(tok);
  const char *sexp = "{\"access_token\":\"t\",\"expires_in\":\"120\"}";
  CHECK_INT(
      sk__gcp_token_answer(200, sexp, strlen(sexp), "te", NULL, &tok, &secs, msg, sizeof(msg)), 0);
  CHECK_INT(secs, 120);
  sk__gcp_wipe_free(tok);
  static const struct {
    long status;
    const char *body;
    int rc;
    const char *msg;
  } v[] = {
      {400, "{\"error\":\"invalid_grant\",\"error_description\":\"Invalid JWT Signature.\"}",
       SK_EAUTH, "te answered 400 invalid_grant: Invalid JWT Signature."},
      {401, "{\"error\":\"unauthorized_client\"}", SK_EAUTH, "te answered 401 unauthorized_client"},
      {403, "{\"error\":{\"code\":403,\"status\":\"PERMISSION_DENIED\",\"message\":\"no\"}}",
       SK_EAUTH, "te answered 403 PERMISSION_DENIED: no"},
      {404, "Not Found\nmore", SK_EAUTH, "te answered 404: Not Found"},
      {429, "", SK_EHTTP, "te answered 429"},
      {503, "<html><body>Service Unavailable</body></html>", SK_EHTTP, "te answered 503"},
      {500, "{\"error\":\"internal_failure\"}", SK_EHTTP, "te answered 500 internal_failure"},
      {200, "{\"token_type\":\"Bearer\"}", SK_EHTTP,
       "te answered 200 without a usable access_token"},
      {200, "{\"access_token\":\"a b\"}", SK_EHTTP,
       "te answered 200 without a usable access_token"},
      {200, "{\"access_token\":\"t\",\"expires_in\":-5}", SK_EHTTP,
       "te answered 200 with an expires_in that is not a positive number"},
      {200, "not json", SK_EHTTP, "te answered 200 with a body that is not a JSON object"},
      {302, "", SK_EHTTP, "te answered 302"},
  };
  for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
    msg[0] = '\0';
    CHECK_INT(sk__gcp_token_answer(v[i].status, v[i].body, strlen(v[i].body), "te", NULL, &tok,
                                   &secs, msg, sizeof(msg)),
              v[i].rc);
    CHECK(tok == NULL);
    CHECK_STR(msg, v[i].msg);
  }
  /* Text quoting a secret, even part of it, is left out. */
  const char *secrets[] = {"eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LWNsYWltcw.c2lnbmF0dXJlLXNlY3JldA",
                           NULL};
  const char *echo = "{\"error\":\"invalid_grant\",\"error_description\":\"bad: "
                     "c2VjcmV0LWNsYWltcw.c2lnbm\"}";
  CHECK_INT(sk__gcp_token_answer(400, echo, strlen(echo), "te", secrets, &tok, &secs, msg,
                                 sizeof(msg)),
            SK_EAUTH);
  CHECK_STR(msg, "te answered 400 invalid_grant: (text withheld: it quoted a credential)");
  /* Control characters from the answer do not reach the message. */
  const char *ctl = "{\"error\":\"x\\u001b[31m\",\"error_description\":\"a\\tb\"}";
  CHECK_INT(sk__gcp_token_answer(400, ctl, strlen(ctl), "te", NULL, &tok, &secs, msg, sizeof(msg)),
            SK_EAUTH);
  CHECK_STR(msg, "te answered 400 x?[31m: a?b");
  /* The metadata server's project. */
  char *p = NULL;
  CHECK_INT(sk__gcp_project_answer(200, "my-proj-1\n", 10, "md", &p, msg, sizeof(msg)), 0);
  CHECK_STR(p, "my-proj-1");
  free(p);
  CHECK_INT(sk__gcp_project_answer(200, "<html>", 6, "md", &p, msg, sizeof(msg)), SK_EHTTP);
  CHECK(p == NULL);
  CHECK_INT(sk__gcp_project_answer(404, "Not Found", 9, "md", &p, msg, sizeof(msg)), SK_EAUTH);
  CHECK_STR(msg, "md answered 404: Not Found");
}

/* ---- bad key files ---- */

TEST(bad_key_files_name_the_field) {
  env_t e;
  REQUIRE(env_init(&e));
  static const char secret_text[] = "NOT-A-KEY-but-secret-text-1234567890";
  char *no_key = sa_json(sa_pem, NULL, NULL);
  json_t *o = json_loads(no_key, 0, NULL);
  json_object_del(o, "private_key");
  char *missing_key = json_dumps(o, 0);
  json_object_set_new(o, "private_key", json_string(secret_text));
  char *bad_key = json_dumps(o, 0);
  json_object_set_new(o, "private_key", json_string(sa_pem));
  json_object_del(o, "client_email");
  char *missing_email = json_dumps(o, 0);
  json_object_set_new(o, "client_email", json_integer(5));
  char *int_email = json_dumps(o, 0);
  json_object_set_new(o, "client_email", json_string(SA_EMAIL));
  json_object_set_new(o, "type", json_string("external_account"));
  char *external = json_dumps(o, 0);
  json_object_del(o, "type");
  char *no_type = json_dumps(o, 0);
  json_object_set_new(o, "type", json_string("service_account"));
  json_object_set_new(o, "token_uri", json_string("file:///etc/passwd"));
  char *bad_uri = json_dumps(o, 0);
  json_decref(o);
  free(no_key);
  static const char user_no_refresh[] =
      "{\"type\":\"authorized_user\",\"client_id\":\"a\",\"client_secret\":\"" USER_SECRET "\"}";
  char truncated[64];
  snprintf(truncated, sizeof(truncated), "{\"type\":\"service_account\",\"private_key\":\"%.20s",
           secret_text);
  const struct {
    const char *json;
    const char *want;
  } v[] = {
      {missing_key, "credentials JSON: field \"private_key\" is missing"},
      {bad_key, "credentials JSON: field \"private_key\" is not a PEM private key that OpenSSL "
                "can read (an unencrypted PKCS#8 key is expected)"},
      {missing_email, "credentials JSON: field \"client_email\" is missing"},
      {int_email, "credentials JSON: field \"client_email\" is not a string"},
      {external, "credentials JSON: field \"type\" is \"external_account\", which is not "
                 "supported (service_account or authorized_user)"},
      {no_type, "credentials JSON: field \"type\" is missing"},
      {bad_uri, "credentials JSON: field \"token_uri\" is not an http(s) URL"},
      {user_no_refresh, "credentials JSON: field \"refresh_token\" is missing"},
      {"[1,2]", "credentials JSON: not a JSON object"},
      {truncated, "credentials JSON: not valid JSON (line 1, column 61)"},
  };
  for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
    char err[512] = "";
    sk_cloud_authz_t *a = sk_gcp_authz_from_json(&e.loop, e.h, &e.ep, v[i].json,
                                                 strlen(v[i].json), err, sizeof(err));
    CHECK(a == NULL);
    if (a)
      sk_cloud_authz_destroy(a);
    CHECK_STR(err, v[i].want);
    CHECK(!strstr(err, "NOT-A-KEY"));
    CHECK(!strstr(err, USER_SECRET));
  }
  /* An EC key cannot sign RS256. */
  EVP_PKEY *ec = EVP_EC_gen("P-256");
  REQUIRE(ec);
  BIO *bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, ec, NULL, NULL, 0, NULL, NULL);
  char *pem = NULL;
  long n = BIO_get_mem_data(bio, &pem);
  char *ecpem = sk_memdup_str(pem, (size_t)n);
  BIO_free(bio);
  EVP_PKEY_free(ec);
  char *ecjson = sa_json(ecpem, NULL, NULL);
  char err[512] = "";
  CHECK(sk_gcp_authz_from_json(&e.loop, e.h, &e.ep, ecjson, strlen(ecjson), err, sizeof(err)) ==
        NULL);
  CHECK_STR(err, "credentials JSON: field \"private_key\" is not an RSA key, which RS256 needs");
  free(ecjson);
  free(ecpem);
  free(missing_key);
  free(bad_key);
  free(missing_email);
  free(int_email);
  free(external);
  free(no_type);
  free(bad_uri);
  CHECK_INT(e.fg.requests, 0);
  env_finish(&e);
}

/* ---- service account ---- */

TEST(key_gives_bearer_token_then_cache) {
  env_t e;
  REQUIRE(env_init(&e));
  sk_cloud_authz_t *a = sa_authz(&e, sa_pem, NULL);
  REQUIRE(a);
  CHECK_STR(a->description, "service account " SA_EMAIL);
  rec_t r;
  authorize_wait(&e, a, &r);
  check_bearer(&r, "ya29.fake-token-1");
  CHECK_INT(r.nheaders, 1);
  CHECK_STR(r.message, "");
  CHECK_INT(e.fg.token_requests, 1);
  CHECK_INT(e.fg.jwt_ok, 1);
  CHECK_STR(e.fg.jwt_error, "");
  /* Cached: no second request, still answered from the loop. */
  authorize_wait(&e, a, &r);
  check_bearer(&r, "ya29.fake-token-1");
  CHECK_INT(e.fg.token_requests, 1);
  CHECK_INT(e.fg.requests, 1);
  sk_cloud_authz_destroy(a);
  env_finish(&e);
}

TEST(token_uri_order) {
  env_t e;
  REQUIRE(env_init(&e));
  /* The key's token_uri is used when no endpoint override is set. */
  char err[512] = "";
  char *json = sa_json(sa_pem, NULL, e.fg.token_url);
  e.ep.google_token_uri = NULL;
  sk_cloud_authz_t *a = sk_gcp_authz_from_json(&e.loop, e.h, &e.ep, json, strlen(json), err,
                                               sizeof(err));
  free(json);
  REQUIRE(a);
  rec_t r;
  authorize_wait(&e, a, &r);
  check_bearer(&r, "ya29.fake-token-1");
  sk_cloud_authz_destroy(a);
  /* The override wins over the key's token_uri. */
  json = sa_json(sa_pem, NULL, e.dead_url);
  e.ep.google_token_uri = e.fg.token_url;
  a = sk_gcp_authz_from_json(&e.loop, e.h, &e.ep, json, strlen(json), err, sizeof(err));
  free(json);
  REQUIRE(a);
  authorize_wait(&e, a, &r);
  check_bearer(&r, "ya29.fake-token-2");
  sk_cloud_authz_destroy(a);
  CHECK_INT(e.fg.jwt_ok, 2);
  env_finish(&e);
}

TEST(concurrent_authorize_makes_one_request) {
  env_t e;
  REQUIRE(env_init(&e));
  sk_cloud_authz_t *a = sa_authz(&e, sa_pem, NULL);
  REQUIRE(a);
  rec_t r[10];
  recs_t rs = {r, 10};
  e.fg.hold = true;
  for (int i = 0; i < 5; i++)
    CHECK_INT(start(a, &r[i]), 0);
  /* The rest ask while the request is at the endpoint. */
  CHECK(run_until(&e, held, &e.fg, WAIT_MS));
  for (int i = 5; i < 10; i++)
    CHECK_INT(start(a, &r[i]), 0);
  for (int i = 0; i < 10; i++)
    CHECK_INT(r[i].calls, 0);
  fg_release(&e.fg);
  CHECK(run_until(&e, all_done, &rs, WAIT_MS));
  for (int i = 0; i < 10; i++) {
    CHECK_INT(r[i].calls, 1);
    check_bearer(&r[i], "ya29.fake-token-1");
  }
  CHECK_INT(e.fg.token_requests, 1);
  sk_cloud_authz_destroy(a);
  env_finish(&e);
}

static bool http_idle(void *arg) { return sk_http_pending(arg) == 0; }

TEST(refresh_ahead_of_expiry) {
  env_t e;
  REQUIRE(env_init(&e));
  /* A token with more than the margin left is used as it is... */
  e.fg.expires_in = SK_GCP_REFRESH_AHEAD_S + 60;
  sk_cloud_authz_t *a = sa_authz(&e, sa_pem, NULL);
  REQUIRE(a);
  rec_t r;
  authorize_wait(&e, a, &r);
  authorize_wait(&e, a, &r);
  check_bearer(&r, "ya29.fake-token-1");
  CHECK_INT(e.fg.token_requests, 1);
  sk_cloud_authz_destroy(a);

  /* ...one with less is replaced at every authorize: inside the window
   * the callers get the current token at once while the new one is
   * fetched behind them, one request at a time. */
  e.fg.expires_in = SK_GCP_REFRESH_AHEAD_S - 1;
  a = sa_authz(&e, sa_pem, NULL);
  REQUIRE(a);
  authorize_wait(&e, a, &r);
  check_bearer(&r, "ya29.fake-token-2");
  CHECK_INT(e.fg.token_requests, 2);
  e.fg.hold = true;
  authorize_wait(&e, a, &r);
  check_bearer(&r, "ya29.fake-token-2");
  CHECK(run_until(&e, held, &e.fg, WAIT_MS));
  CHECK_INT(e.fg.token_requests, 3);
  authorize_wait(&e, a, &r);
  check_bearer(&r, "ya29.fake-token-2");
  CHECK_INT(e.fg.token_requests, 3);
  fg_release(&e.fg);
  CHECK(run_until(&e, http_idle, e.h, WAIT_MS));
  authorize_wait(&e, a, &r);
  check_bearer(&r, "ya29.fake-token-3");
  CHECK(run_until(&e, http_idle, e.h, WAIT_MS));
  CHECK_INT(e.fg.token_requests, 4);

  /* When that refresh fails, the token in hand (valid for minutes) keeps
   * serving; every authorize tries again. */
  e.fg.force_status = 503;
  e.fg.force_body = "{\"error\":\"temporarily_unavailable\"}";
  for (int i = 0; i < 2; i++) {
    authorize_wait(&e, a, &r);
    check_bearer(&r, "ya29.fake-token-4");
    CHECK(run_until(&e, http_idle, e.h, WAIT_MS));
  }
  CHECK_INT(e.fg.token_requests, 6);
  /* Once dropped (the API said 401), the failure shows. */
  sk_cloud_authz_invalidate(a);
  authorize_wait(&e, a, &r);
  CHECK_INT(r.rc, SK_EHTTP);
  CHECK_INT(e.fg.token_requests, 7);
  sk_cloud_authz_destroy(a);

  /* A token close to its end (under 30 s) is not handed out: the caller
   * waits for the new one, and sees the endpoint's failure. */
  e.fg.force_status = 0;
  e.fg.expires_in = 20;
  a = sa_authz(&e, sa_pem, NULL);
  REQUIRE(a);
  authorize_wait(&e, a, &r);
  check_bearer(&r, "ya29.fake-token-5");
  authorize_wait(&e, a, &r);
  check_bearer(&r, "ya29.fake-token-6");
  e.fg.force_status = 503;
  authorize_wait(&e, a, &r);
  CHECK_INT(r.rc, SK_EHTTP);
  CHECK_INT(e.fg.token_requests, 10);
  sk_cloud_authz_destroy(a);
  env_finish(&e);
}

TEST(invalidate_fetches_again) {
  env_t e;
  REQUIRE(env_init(&e));
  sk_cloud_authz_t *a = sa_authz(&e, sa_pem, NULL);
  REQUIRE(a);
  rec_t r;
  authorize_wait(&e, a, &r);
  check_bearer(&r, "ya29.fake-token-1");
  sk_cloud_authz_invalidate(a);
  authorize_wait(&e, a, &r);
  check_bearer(&r, "ya29.fake-token-2");
  authorize_wait(&e, a, &r);
  check_bearer(&r, "ya29.fake-token-2");
  CHECK_INT(e.fg.token_requests, 2);
  /* Invalidating with nothing cached, twice, is harmless. */
  sk_cloud_authz_invalidate(a);
  sk_cloud_authz_invalidate(a);
  authorize_wait(&e, a, &r);
  check_bearer(&r, "ya29.fake-token-3");
  sk_cloud_authz_destroy(a);
  env_finish(&e);
}

TEST(invalid_signature_is_eauth_without_secrets) {
  env_t e;
  REQUIRE(env_init(&e));
  /* A key the endpoint does not know: its signature really fails. */
  sk_cloud_authz_t *a = sa_authz(&e, other_pem, NULL);
  REQUIRE(a);
  rec_t r;
  authorize_wait(&e, a, &r);
  CHECK_INT(r.rc, SK_EAUTH);
  CHECK_INT(r.nheaders, 0);
  CHECK_STR(e.fg.jwt_error, "Invalid JWT Signature.");
  char want[512];
  snprintf(want, sizeof(want),
           "service account %s: token endpoint %s answered 400 invalid_grant: Invalid JWT "
           "Signature.",
           SA_EMAIL, e.fg.token_url);
  CHECK_STR(r.message, want);
  CHECK(e.fg.last_jwt[0] != '\0');
  check_no_secret(r.message, &e.fg);
  sk_cloud_authz_destroy(a);

  /* A token was in hand (too close to expiry to serve on), and the
   * endpoint quotes the assertion back: neither reaches the message. */
  e.fg.expires_in = 20;
  a = sa_authz(&e, sa_pem, NULL);
  REQUIRE(a);
  authorize_wait(&e, a, &r);
  check_bearer(&r, "ya29.fake-token-1");
  e.fg.force_status = 400;
  e.fg.echo_assertion = true;
  authorize_wait(&e, a, &r);
  CHECK_INT(r.rc, SK_EAUTH);
  CHECK(strstr(r.message, "answered 400 invalid_grant: (text withheld: it quoted a credential)"));
  check_no_secret(r.message, &e.fg);
  sk_cloud_authz_destroy(a);
  env_finish(&e);
}

TEST(server_error_is_ehttp_and_transport_errors_pass) {
  env_t e;
  REQUIRE(env_init(&e));
  e.fg.force_status = 503;
  e.fg.force_body = "<html>Service Unavailable</html>";
  sk_cloud_authz_t *a = sa_authz(&e, sa_pem, NULL);
  REQUIRE(a);
  rec_t r;
  authorize_wait(&e, a, &r);
  CHECK_INT(r.rc, SK_EHTTP);
  char want[512];
  snprintf(want, sizeof(want), "service account %s: token endpoint %s answered 503", SA_EMAIL,
           e.fg.token_url);
  CHECK_STR(r.message, want);
  check_no_secret(r.message, &e.fg);
  /* The next authorize asks again (a failure is not cached). */
  e.fg.force_status = 0;
  authorize_wait(&e, a, &r);
  check_bearer(&r, "ya29.fake-token-1");
  CHECK_INT(e.fg.token_requests, 2);
  sk_cloud_authz_destroy(a);
  /* Nobody listening: SK_ENET, with the endpoint named. */
  e.ep.google_token_uri = e.dead_url;
  a = sa_authz(&e, sa_pem, NULL);
  REQUIRE(a);
  authorize_wait(&e, a, &r);
  CHECK_INT(r.rc, SK_ENET);
  CHECK(strstr(r.message, e.dead_url) != NULL);
  check_no_secret(r.message, &e.fg);
  sk_cloud_authz_destroy(a);
  env_finish(&e);
}

/* ---- metadata server and ADC ---- */

TEST(metadata_server_and_its_host) {
  env_t e;
  REQUIRE(env_init(&e));
  /* GCE_METADATA_HOST wins over the endpoint setting (a dead port here). */
  setenv("GCE_METADATA_HOST", e.host, 1);
  sk_cloud_authz_t *a = sk_gcp_authz_default(&e.loop, e.h, &e.ep);
  REQUIRE(a);
  rec_t r;
  authorize_wait(&e, a, &r);
  check_bearer(&r, "ya29.fake-token-1");
  CHECK_INT(e.fg.metadata_token, 1);
  CHECK_INT(e.fg.no_flavor, 0);
  CHECK_INT(e.fg.token_requests, 0);
  CHECK_STR(a->description, "metadata server credentials");
  authorize_wait(&e, a, &r);
  CHECK_INT(e.fg.metadata_token, 1);
  sk_cloud_authz_invalidate(a);
  authorize_wait(&e, a, &r);
  check_bearer(&r, "ya29.fake-token-2");
  CHECK_INT(e.fg.metadata_token, 2);
  sk_cloud_authz_destroy(a);
  /* Without the variable the endpoint setting is used. */
  unsetenv("GCE_METADATA_HOST");
  e.ep.gce_metadata_host = e.host;
  a = sk_gcp_authz_default(&e.loop, e.h, &e.ep);
  REQUIRE(a);
  authorize_wait(&e, a, &r);
  check_bearer(&r, "ya29.fake-token-3");
  CHECK_INT(e.fg.metadata_token, 3);
  CHECK_INT(e.fg.no_flavor, 0);
  sk_cloud_authz_destroy(a);
  /* A host that is not host[:port] is refused before any request. */
  setenv("GCE_METADATA_HOST", "evil.example/x?", 1);
  a = sk_gcp_authz_default(&e.loop, e.h, &e.ep);
  REQUIRE(a);
  authorize_wait(&e, a, &r);
  CHECK_INT(r.rc, SK_EINVAL);
  CHECK(strstr(r.message, "GCE_METADATA_HOST") != NULL);
  sk_cloud_authz_destroy(a);
  CHECK_INT(e.fg.requests, 3);
  env_finish(&e);
}

TEST(metadata_unreachable_names_the_sources_tried) {
  env_t e;
  REQUIRE(env_init(&e));
  sk_cloud_authz_t *a = sk_gcp_authz_default(&e.loop, e.h, &e.ep);
  REQUIRE(a);
  rec_t r;
  authorize_wait(&e, a, &r);
  /* Nothing ever answered at the metadata address: not GCE or GKE, so no
   * credentials (a retry would never find any), not a network error. */
  CHECK_INT(r.rc, SK_EAUTH);
  CHECK(strstr(r.message, "no Google credentials found") != NULL);
  char want[1024];
  snprintf(want, sizeof(want),
           "Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS unset, no "
           "%s/.config/gcloud/application_default_credentials.json, so the metadata server): "
           "metadata server %s: ",
           e.home, e.dead_host);
  CHECK(strncmp(r.message, want, strlen(want)) == 0);
  if (strncmp(r.message, want, strlen(want)) != 0)
    printf("  got: %s\n", r.message);
  /* The metadata server answering 404 (no service account) is EAUTH. */
  e.ep.gce_metadata_host = e.host;
  sk_cloud_authz_destroy(a);
  a = sk_gcp_authz_default(&e.loop, e.h, &e.ep);
  REQUIRE(a);
  e.fg.force_status = 404;
  e.fg.force_body = "";
  authorize_wait(&e, a, &r);
  CHECK_INT(r.rc, SK_EAUTH);
  CHECK(strstr(r.message, "answered 404") != NULL);
  sk_cloud_authz_destroy(a);
  env_finish(&e);
}

TEST(adc_order) {
  env_t e;
  REQUIRE(env_init(&e));
  e.ep.gce_metadata_host = e.host;
  char *sa = sa_json(sa_pem, "key-project", NULL);
  put("adc-sa.json", sa);
  free(sa);
  char rel[600];
  snprintf(rel, sizeof(rel), "%s/.config/gcloud", strrchr(e.home, '/') + 1);
  mkdirs(rel);
  snprintf(rel + strlen(rel), sizeof(rel) - strlen(rel), "/application_default_credentials.json");
  put(rel, user_json);

  /* 1. GOOGLE_APPLICATION_CREDENTIALS first, although gcloud's file is
   * there too. */
  setenv("GOOGLE_APPLICATION_CREDENTIALS", tpath("adc-sa.json"), 1);
  sk_cloud_authz_t *a = sk_gcp_authz_default(&e.loop, e.h, &e.ep);
  REQUIRE(a);
  CHECK_STR(a->description, "Application Default Credentials");
  rec_t r;
  authorize_wait(&e, a, &r);
  check_bearer(&r, "ya29.fake-token-1");
  CHECK_INT(e.fg.jwt_ok, 1);
  CHECK_INT(e.fg.refresh_grants, 0);
  CHECK_STR(a->description, "service account " SA_EMAIL);
  sk_cloud_authz_destroy(a);

  /* 2. gcloud's file under HOME: the refresh-token grant, and the quota
   * project header. */
  unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
  a = sk_gcp_authz_default(&e.loop, e.h, &e.ep);
  REQUIRE(a);
  authorize_wait(&e, a, &r);
  check_bearer(&r, "ya29.fake-token-2");
  CHECK_INT(r.nheaders, 2);
  CHECK_STR(r.header[1], "x-goog-user-project: quota-project");
  CHECK_INT(e.fg.refresh_ok, 1);
  sk_cloud_authz_destroy(a);

  /* 2b. CLOUDSDK_CONFIG moves gcloud's folder, as it does for gcloud. */
  mkdirs("sdk");
  char *sa2 = sa_json(sa_pem, NULL, NULL);
  put("sdk/application_default_credentials.json", sa2);
  free(sa2);
  setenv("CLOUDSDK_CONFIG", tpath("sdk"), 1);
  a = sk_gcp_authz_default(&e.loop, e.h, &e.ep);
  REQUIRE(a);
  authorize_wait(&e, a, &r);
  check_bearer(&r, "ya29.fake-token-3");
  CHECK_INT(e.fg.jwt_ok, 2);
  sk_cloud_authz_destroy(a);
  unsetenv("CLOUDSDK_CONFIG");

  /* 3. Neither: the metadata server. $HOME is used when the endpoints
   * name no home. */
  char *tmp = strdup(tpath(rel));
  char moved[1100];
  snprintf(moved, sizeof(moved), "%s.moved", tmp);
  CHECK_INT(rename(tmp, moved), 0);
  e.ep.home = NULL;
  setenv("HOME", e.home, 1);
  a = sk_gcp_authz_default(&e.loop, e.h, &e.ep);
  REQUIRE(a);
  authorize_wait(&e, a, &r);
  check_bearer(&r, "ya29.fake-token-4");
  CHECK_INT(e.fg.metadata_token, 1);
  sk_cloud_authz_destroy(a);
  e.ep.home = e.home;
  CHECK_INT(rename(moved, tmp), 0);

  /* 4. A variable naming a missing file is an error, not a fall-through. */
  setenv("GOOGLE_APPLICATION_CREDENTIALS", tpath("nope.json"), 1);
  a = sk_gcp_authz_default(&e.loop, e.h, &e.ep);
  REQUIRE(a);
  authorize_wait(&e, a, &r);
  CHECK_INT(r.rc, SK_EAUTH);
  char want[1200];
  snprintf(want, sizeof(want),
           "Application Default Credentials: GOOGLE_APPLICATION_CREDENTIALS file %s cannot be "
           "read: No such file or directory",
           tpath("nope.json"));
  CHECK_STR(r.message, want);
  /* ... and it is looked for again at the next authorize. */
  setenv("GOOGLE_APPLICATION_CREDENTIALS", tpath("adc-sa.json"), 1);
  authorize_wait(&e, a, &r);
  check_bearer(&r, "ya29.fake-token-5");
  sk_cloud_authz_destroy(a);

  /* 5. gcloud's file there but bad: an error naming the file and field. */
  unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
  put(rel, "{\"type\": \"authorized_user\", \"client_id\": \"x\", \"client_secret\": \"" USER_SECRET
           "\"}");
  a = sk_gcp_authz_default(&e.loop, e.h, &e.ep);
  REQUIRE(a);
  authorize_wait(&e, a, &r);
  CHECK_INT(r.rc, SK_EAUTH);
  snprintf(want, sizeof(want),
           "Application Default Credentials: gcloud's ADC file %s: field \"refresh_token\" is "
           "missing",
           tmp);
  CHECK_STR(r.message, want);
  check_no_secret(r.message, &e.fg);
  sk_cloud_authz_destroy(a);
  /* 6. ... or not JSON at all. */
  put(rel, "-----BEGIN PRIVATE KEY-----\nMIIE\n");
  a = sk_gcp_authz_default(&e.loop, e.h, &e.ep);
  REQUIRE(a);
  authorize_wait(&e, a, &r);
  CHECK_INT(r.rc, SK_EAUTH);
  CHECK(strstr(r.message, "not valid JSON (line 1, column 1)") != NULL);
  check_no_secret(r.message, &e.fg);
  sk_cloud_authz_destroy(a);
  free(tmp);
  /* Bad files never fell through to the metadata server. */
  CHECK_INT(e.fg.metadata_token, 1);
  env_finish(&e);
}

/* ---- the project ---- */

static bool is_gcp_fake_authorize_called;
static int fake_authorize(sk_cloud_authz_t *a, const sk_cloud_request_t *req, sk_cloud_auth_cb cb,
                          void *arg) {
  (void)a, (void)req, (void)cb, (void)arg;
  is_gcp_fake_authorize_called = true;
  return SK_EINVAL;
}
static void fake_destroy(sk_cloud_authz_t *a) { (void)a; }

TEST(project_order) {
  env_t e;
  REQUIRE(env_init(&e));
  e.ep.gce_metadata_host = e.host;
  e.fg.project = "meta-project";
  setenv("GOOGLE_CLOUD_PROJECT", "env-project", 1);
  /* The key's project_id first. */
  sk_cloud_authz_t *a = sa_authz(&e, sa_pem, "key-project");
  REQUIRE(a);
  prec_t p;
  project_wait(&e, a, &p);
  CHECK_INT(p.rc, 0);
  CHECK_STR(p.project, "key-project");
  sk_cloud_authz_destroy(a);
  /* Then GOOGLE_CLOUD_PROJECT. */
  a = sa_authz(&e, sa_pem, NULL);
  REQUIRE(a);
  project_wait(&e, a, &p);
  CHECK_STR(p.project, "env-project");
  /* Then the metadata server, asked once. */
  unsetenv("GOOGLE_CLOUD_PROJECT");
  project_wait(&e, a, &p);
  CHECK_INT(p.rc, 0);
  CHECK_STR(p.project, "meta-project");
  project_wait(&e, a, &p);
  CHECK_STR(p.project, "meta-project");
  CHECK_INT(e.fg.metadata_project, 1);
  CHECK_INT(e.fg.no_flavor, 0);
  sk_cloud_authz_destroy(a);
  /* ADC on the metadata server: no file, no variable. */
  a = sk_gcp_authz_default(&e.loop, e.h, &e.ep);
  REQUIRE(a);
  prec_t p2[3];
  for (int i = 0; i < 3; i++) {
    memset(&p2[i], 0, sizeof(p2[i]));
    CHECK_INT(sk_gcp_project(a, on_project, &p2[i]), 0);
  }
  CHECK(run_until(&e, three, p2, WAIT_MS));
  for (int i = 0; i < 3; i++)
    CHECK_STR(p2[i].project, "meta-project");
  CHECK_INT(e.fg.metadata_project, 2);
  sk_cloud_authz_destroy(a);
  /* None anywhere: an error saying what was tried. */
  e.fg.project = NULL;
  a = sa_authz(&e, sa_pem, NULL);
  REQUIRE(a);
  project_wait(&e, a, &p);
  CHECK_INT(p.rc, SK_EAUTH);
  CHECK_STR(p.project, "(null)");
  char want[512];
  snprintf(want, sizeof(want),
           "no project: service account %s names none, GOOGLE_CLOUD_PROJECT is unset, and "
           "metadata server %s answered 404: Not Found",
           SA_EMAIL, e.host);
  CHECK_STR(p.message, want);
  sk_cloud_authz_destroy(a);
  /* Only a Google authoriser has a project. */
  static const sk_cloud_authz_ops_t ops = {fake_authorize, NULL, fake_destroy};
  sk_cloud_authz_t other = {&ops, "other"};
  CHECK_INT(sk_gcp_project(&other, on_project, &p), SK_EINVAL);
  CHECK(!is_gcp_fake_authorize_called);
  env_finish(&e);
}

/* ---- destroy ---- */

TEST(destroy_cancels_at_every_stage) {
  env_t e;
  REQUIRE(env_init(&e));
  /* While the token request is at the endpoint. */
  sk_cloud_authz_t *a = sa_authz(&e, sa_pem, NULL);
  REQUIRE(a);
  e.fg.hold = true;
  rec_t r[3];
  recs_t rs = {r, 3};
  for (int i = 0; i < 3; i++)
    CHECK_INT(start(a, &r[i]), 0);
  CHECK(run_until(&e, held, &e.fg, WAIT_MS));
  prec_t p;
  memset(&p, 0, sizeof(p));
  e.ep.gce_metadata_host = e.host;
  sk_cloud_authz_destroy(a);
  CHECK(run_until(&e, all_done, &rs, WAIT_MS));
  for (int i = 0; i < 3; i++) {
    CHECK_INT(r[i].calls, 1);
    CHECK_INT(r[i].rc, SK_ECANCELED);
    CHECK(!r[i].inside);
  }
  fg_release(&e.fg);

  /* With an answer ready but not yet delivered; authorize after destroy
   * is refused. */
  a = sa_authz(&e, sa_pem, NULL);
  REQUIRE(a);
  authorize_wait(&e, a, &r[0]);
  CHECK_INT(start(a, &r[1]), 0);
  CHECK_INT(sk_gcp_project(a, on_project, &p), 0);
  sk_cloud_authz_destroy(a);
  rec_t late;
  CHECK_INT(start(a, &late), SK_ESTATE);
  CHECK_INT(sk_gcp_project(a, on_project, &late), SK_ESTATE);
  rs.r = &r[1];
  rs.n = 1;
  CHECK(run_until(&e, all_done, &rs, WAIT_MS));
  CHECK_INT(r[1].rc, SK_ECANCELED);
  CHECK(run_until(&e, prec_done, &p, WAIT_MS));
  CHECK_INT(p.rc, SK_ECANCELED);
  CHECK_INT(late.calls, 0);

  /* While ADC looks for its files. */
  a = sk_gcp_authz_default(&e.loop, e.h, &e.ep);
  REQUIRE(a);
  CHECK_INT(start(a, &r[0]), 0);
  sk_cloud_authz_destroy(a);
  rs.r = r;
  CHECK(run_until(&e, all_done, &rs, WAIT_MS));
  CHECK_INT(r[0].rc, SK_ECANCELED);

  /* From inside a callback: the waiters after it are cancelled. */
  a = sa_authz(&e, sa_pem, NULL);
  REQUIRE(a);
  for (int i = 0; i < 3; i++)
    CHECK_INT(start(a, &r[i]), 0);
  r[0].destroy_me = a;
  rs.n = 3;
  CHECK(run_until(&e, all_done, &rs, WAIT_MS));
  check_bearer(&r[0], e.fg.last_token);
  CHECK_INT(r[1].rc, SK_ECANCELED);
  CHECK_INT(r[2].rc, SK_ECANCELED);
  /* A destroyed authoriser with nothing pending goes at once. */
  a = sa_authz(&e, sa_pem, NULL);
  REQUIRE(a);
  sk_cloud_authz_destroy(a);
  env_finish(&e);
}

/* The client destroyed under a request in flight: the waiter learns. */
TEST(client_destroyed_first) {
  env_t e;
  REQUIRE(env_init(&e));
  sk_cloud_authz_t *a = sa_authz(&e, sa_pem, NULL);
  REQUIRE(a);
  e.fg.hold = true;
  rec_t r;
  CHECK_INT(start(a, &r), 0);
  CHECK(run_until(&e, held, &e.fg, WAIT_MS));
  sk_http_destroy(e.h);
  CHECK(run_until(&e, rec_done, &r, WAIT_MS));
  CHECK_INT(r.rc, SK_ECANCELED);
  CHECK(strstr(r.message, "token endpoint") != NULL);
  sk_cloud_authz_destroy(a);
  e.h = NULL;
  env_finish(&e);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const char *t = getenv("TMPDIR");
  snprintf(tmpdir, sizeof(tmpdir), "%s/skein-gcp-XXXXXX", t && *t ? t : "/tmp");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  sa_pem = data_file("test-only-sa-key.pem");
  other_pem = data_file("test-only-other-key.pem");
  if (!sa_pem || !other_pem || !strstr(sa_pem, "PRIVATE KEY")) {
    printf("cannot read tests/unit/data/gcp (set SKEIN_SOURCE_DIR)\n");
    return 1;
  }
  char *saved_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
  logf_ = tmpfile();
  sk_log_setup(SK_LOG_TEXT, 2, logf_);

  RUN(b64url_vectors);
  RUN(jwt_is_signed_and_verifiable);
  RUN(refresh_form_is_encoded);
  RUN(token_answers);
  RUN(bad_key_files_name_the_field);
  RUN(key_gives_bearer_token_then_cache);
  RUN(token_uri_order);
  RUN(concurrent_authorize_makes_one_request);
  RUN(refresh_ahead_of_expiry);
  RUN(invalidate_fetches_again);
  RUN(invalid_signature_is_eauth_without_secrets);
  RUN(server_error_is_ehttp_and_transport_errors_pass);
  RUN(metadata_server_and_its_host);
  RUN(metadata_unreachable_names_the_sources_tried);
  RUN(adc_order);
  RUN(project_order);
  RUN(destroy_cancels_at_every_stage);
  RUN(client_destroyed_first);

  /* Nothing the library logged, at -v 2, holds a token or a secret. */
  sk_log_setup(SK_LOG_TEXT, 0, NULL);
  fflush(logf_);
  rewind(logf_);
  sk_buf_t log;
  sk_buf_init(&log, 16 << 20);
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof(chunk), logf_)) > 0)
    sk_buf_append(&log, chunk, n);
  fclose(logf_);
  const char *text = log.data ? log.data : "";
  sk_test_failed_now = 0;
  if (log.len == 0)
    FAILF("the library logged nothing at -v 2");
  if (strstr(text, "ya29.") || strstr(text, "PRIVATE KEY") || strstr(text, USER_SECRET) ||
      strstr(text, "test-refresh-token") || strstr(text, "eyJ"))
    FAILF("a secret reached the log:\n%s", text);
  if (sk_test_failed_now) {
    sk_test_failed++;
    printf("FAIL log_holds_no_secret\n");
  } else {
    sk_test_passed++;
    printf("ok   log_holds_no_secret\n");
  }
  sk_buf_release(&log);

  if (saved_home) {
    setenv("HOME", saved_home, 1);
    free(saved_home);
  }
  free(sa_pem);
  free(other_pem);
  remove_tree(tmpdir);
  curl_global_cleanup();
  return TEST_DONE();
}
