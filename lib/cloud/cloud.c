/*
 * Shared cloud plumbing: endpoint overrides from the environment, endpoint
 * templates, and the static authoriser used by tests and by endpoints that
 * need no credentials.
 */
#include "cloud/cloud.h"

#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/cloud-int.h"
#include "util/error.h"
#include "util/strutil.h"

void sk_cloud_endpoints_from_env(sk_cloud_endpoints_t *e) {
  memset(e, 0, sizeof(*e));
  e->vertex_endpoint = getenv("SKEIN_VERTEX_ENDPOINT");
  e->google_token_uri = getenv("SKEIN_GOOGLE_TOKEN_URI");
  e->gce_metadata_host = getenv("GCE_METADATA_HOST");
  e->sagemaker_endpoint = getenv("AWS_ENDPOINT_URL_SAGEMAKER");
  e->sts_endpoint = getenv("AWS_ENDPOINT_URL_STS");
  e->imds_endpoint = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
  e->ca_file = getenv("SKEIN_CLOUD_CA_FILE");
  e->home = getenv("HOME");
  /* An empty variable means "not set", as the AWS SDKs and gcloud read
   * them: an empty base URL could never be right. */
  const char **all[] = {&e->vertex_endpoint, &e->google_token_uri, &e->gce_metadata_host,
                        &e->sagemaker_endpoint, &e->sts_endpoint, &e->imds_endpoint,
                        &e->ca_file, &e->home};
  for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
    if (*all[i] && !**all[i])
      *all[i] = NULL;
}

int sk_cloud_endpoint_url(const char *tmpl, const char *value, char *out, size_t outlen) {
  if (!tmpl || !out || outlen == 0)
    return SK_EINVAL;
  const char *p = strstr(tmpl, "{location}");
  size_t plen = strlen("{location}");
  if (!p) {
    p = strstr(tmpl, "{region}");
    plen = strlen("{region}");
  }
  size_t need;
  if (!p) {
    need = strlen(tmpl);
    if (need >= outlen)
      return SK_ETOOBIG;
    memcpy(out, tmpl, need + 1);
    return 0;
  }
  if (!value)
    return SK_EINVAL;
  size_t pre = (size_t)(p - tmpl), vlen = strlen(value), post = strlen(p + plen);
  need = pre + vlen + post;
  if (need >= outlen)
    return SK_ETOOBIG;
  memcpy(out, tmpl, pre);
  memcpy(out + pre, value, vlen);
  memcpy(out + pre + vlen, p + plen, post + 1);
  return 0;
}

/* ---- the static authoriser ---- */

typedef struct static_pending {
  struct static_pending *next;
  sk_cloud_auth_cb cb;
  void *arg;
} static_pending_t;

typedef struct {
  sk_cloud_authz_t base;
  uv_loop_t *loop;
  uv_idle_t idle; /* answers pending authorisations on the next loop turn */
  char **headers; /* NULL-terminated copies */
  size_t nheaders;
  static_pending_t *head, *tail;
  int destroying;
  int closed;
} static_authz_t;

static void static_free(static_authz_t *s) {
  for (size_t i = 0; i < s->nheaders; i++)
    free(s->headers[i]);
  free(s->headers);
  free(s);
}

static void static_on_close(uv_handle_t *h) { static_free(h->data); }

/* Runs every pending callback; new authorisations started from a callback
 * wait for the next turn, so one turn never loops forever. */
static void static_on_idle(uv_idle_t *idle) {
  static_authz_t *s = idle->data;
  static_pending_t *list = s->head;
  s->head = s->tail = NULL;
  uv_idle_stop(&s->idle);
  while (list) {
    static_pending_t *p = list;
    list = p->next;
    sk_cloud_auth_result_t res;
    memset(&res, 0, sizeof(res));
    if (s->destroying) {
      res.rc = SK_ECANCELED;
      res.message = "authoriser destroyed";
    } else {
      for (size_t i = 0; i < s->nheaders; i++)
        res.headers[i] = s->headers[i];
    }
    p->cb(&res, p->arg);
    free(p);
  }
  if (s->destroying && !s->head && !s->closed) {
    s->closed = 1;
    uv_close((uv_handle_t *)&s->idle, static_on_close);
  }
}

static int static_authorize(sk_cloud_authz_t *a, const sk_cloud_request_t *req,
                            sk_cloud_auth_cb cb, void *arg) {
  static_authz_t *s = (static_authz_t *)a;
  if (!req || !cb)
    return SK_EINVAL;
  if (s->destroying)
    return SK_ESTATE;
  static_pending_t *p = calloc(1, sizeof(*p));
  if (!p)
    return SK_ENOMEM;
  p->cb = cb;
  p->arg = arg;
  if (s->tail)
    s->tail->next = p;
  else
    s->head = p;
  s->tail = p;
  uv_idle_start(&s->idle, static_on_idle);
  return 0;
}

static void static_invalidate(sk_cloud_authz_t *a) { (void)a; }

static void static_destroy(sk_cloud_authz_t *a) {
  static_authz_t *s = (static_authz_t *)a;
  if (s->destroying)
    return;
  s->destroying = 1;
  if (s->head) {
    /* The pending callbacks run with SK_ECANCELED on the next turn; the
     * idle callback closes the handle after them. */
    uv_idle_start(&s->idle, static_on_idle);
    return;
  }
  s->closed = 1;
  uv_close((uv_handle_t *)&s->idle, static_on_close);
}

static const sk_cloud_authz_ops_t static_ops = {
    .authorize = static_authorize,
    .invalidate = static_invalidate,
    .destroy = static_destroy,
};

sk_cloud_authz_t *sk_cloud_authz_static(uv_loop_t *loop, const char *const *headers) {
  if (!loop)
    return NULL;
  static_authz_t *s = calloc(1, sizeof(*s));
  if (!s)
    return NULL;
  s->base.ops = &static_ops;
  snprintf(s->base.description, sizeof(s->base.description), "static headers");
  s->loop = loop;
  size_t n = 0;
  while (headers && headers[n])
    n++;
  if (n > SK_CLOUD_MAX_AUTH_HEADERS)
    goto fail;
  s->headers = calloc(n + 1, sizeof(char *));
  if (!s->headers)
    goto fail;
  for (size_t i = 0; i < n; i++) {
    s->headers[i] = strdup(headers[i]);
    if (!s->headers[i])
      goto fail;
    s->nheaders++;
  }
  if (uv_idle_init(loop, &s->idle) != 0)
    goto fail;
  s->idle.data = s;
  return &s->base;
fail:
  static_free(s);
  return NULL;
}

/* ---- helpers of the job clients (cloud-int.h) ---- */

const char *sk__cloud_err_class_name(sk_cloud_err_class_t c) {
  switch (c) {
  case SK_CLOUD_ERR_NONE:
    return "none";
  case SK_CLOUD_ERR_THROTTLE:
    return "throttle";
  case SK_CLOUD_ERR_TRANSIENT:
    return "transient";
  case SK_CLOUD_ERR_PERMANENT:
    return "permanent";
  case SK_CLOUD_ERR_AUTH:
    return "auth";
  case SK_CLOUD_ERR_NOT_FOUND:
    return "not found";
  case SK_CLOUD_ERR_EXISTS:
    return "exists";
  }
  return "?";
}

int64_t sk__cloud_retry_after_ms(const char *v) {
  if (!v)
    return -1;
  double s;
  if (sk_parse_double(v, &s) < 0 || s < 0 || s > 1e7)
    return -1;
  return (int64_t)ceil(s * 1000.0);
}

int sk__cloud_query_escape(const char *s, char *out, size_t outlen) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
  if (!s || !out || outlen == 0)
    return SK_EINVAL;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    unsigned char c = *p;
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || c == '.' || c == '~';
    size_t need = plain ? 1 : 3;
    if (o + need >= outlen)
      return SK_ETOOBIG;
    if (plain) {
      out[o++] = (char)c;
    } else {
      out[o++] = '%';
      out[o++] = hex[c >> 4];
      out[o++] = hex[c & 15];
    }
  }
  out[o] = '\0';
  return 0;
}

void sk__cloud_clean_text(const char *s, size_t len, char *out, size_t outlen) {
  if (!out || outlen == 0)
    return;
  out[0] = '\0';
  if (!s)
    return;
  size_t o = 0;
  bool cut = false;
  for (size_t i = 0; i < len && s[i]; i++) {
    if (o + 1 >= outlen) {
      cut = true;
      break;
    }
    unsigned char c = (unsigned char)s[i];
    out[o++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
  }
  out[o] = '\0';
  if (!cut)
    return;
  /* Room for "...", then back off to a UTF-8 character boundary. */
  if (outlen < 4) {
    out[0] = '\0';
    return;
  }
  o = o > outlen - 4 ? outlen - 4 : o;
  while (o > 0 && ((unsigned char)out[o] & 0xC0) == 0x80)
    o--;
  memcpy(out + o, "...", 4);
}

int sk__cloud_hash_hex(const void *data, size_t len, char *out, size_t outlen) {
  static const char hex[] = "0123456789abcdef";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  if (!out || outlen < 2 || outlen > 65)
    return SK_EINVAL;
  if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen < 32)
    return SK_ENOMEM;
  size_t n = outlen - 1;
  for (size_t i = 0; i < n; i++)
    out[i] = hex[(md[i / 2] >> ((i % 2) ? 0 : 4)) & 15];
  out[n] = '\0';
  return 0;
}

void sk__cloud_error_text(sk_cloud_error_t *err, const char *what, const char *text) {
  char tmp[SK_CLOUD_MAX_MESSAGE * 2 + 256];
  snprintf(tmp, sizeof(tmp), "%s: %ld%s%s%s%s", what, err->status, err->code[0] ? " " : "",
           err->code, text && text[0] ? ": " : "", text ? text : "");
  sk__cloud_clean_text(tmp, strlen(tmp), err->message, sizeof(err->message));
}

bool sk__cloud_error_begin(sk_cloud_error_t *out, long status, const char *what,
                           const char *transport_text) {
  memset(out, 0, sizeof(*out));
  out->status = status;
  out->retry_after_ms = -1;
  if (status != 0)
    return false;
  char clean[256];
  const char *t = transport_text ? transport_text : "no answer";
  sk__cloud_clean_text(t, strlen(t), clean, sizeof(clean));
  out->cls = SK_CLOUD_ERR_TRANSIENT;
  snprintf(out->message, sizeof(out->message), "%s: %s", what, clean);
  return true;
}
