/*
 * Shared cloud plumbing: endpoint overrides from the environment, endpoint
 * templates, and the static authoriser used by tests and by endpoints that
 * need no credentials.
 */
#include "cloud/cloud.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

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
