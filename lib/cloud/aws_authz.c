/*
 * The AWS authorisers: a queue of authorize calls answered from the loop.
 *
 * authorize copies what signing needs (the body only as its hash) into a
 * waiter and arms a zero-delay timer; the timer's callback answers every
 * waiter whose credentials are fresh, or starts one fetch that all
 * waiters share (aws_creds.c), and the fetch's end answers them all. So a
 * callback never runs inside authorize, ten concurrent calls cost one
 * fetch, and a callback may call authorize, invalidate or destroy.
 *
 * Freshness is judged on the request's own clock (req->now_ms), the same
 * clock the signature's date comes from: credentials are refetched
 * SK_AWS_REFRESH_AHEAD_S before their Expiration. A source that hands out
 * credentials already inside that window (IMDS does, in the minutes
 * before it rotates them) is not asked again more than once a minute
 * while they stay valid for another minute. When a refresh fails and the
 * old credentials are still valid for a minute, they are used (as the AWS
 * SDKs do), the failure is logged, and the source is asked again a
 * minute later, not at every request.
 */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cloud/aws-int.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strutil.h"
#include "util/timeutil.h"

#define LOGGER "aws"
#define REFETCH_MIN_MS 60000 /* a source is asked at most once a minute inside the window */
#define MIN_VALID_MS 60000   /* credentials closer than this to expiry are never used */

static void waiter_free(sk__aws_waiter_t *w) {
  if (!w)
    return;
  free(w->method);
  free(w->url);
  free(w->region);
  free(w->service);
  for (size_t i = 0; i < w->nsign; i++)
    free(w->sign_headers[i]);
  free(w->sign_headers);
  free(w);
}

void sk__aws_set_creds(sk__aws_authz_t *a, sk_aws_creds_t *c) {
  sk__aws_creds_release(&a->creds);
  a->creds = *c;
  memset(c, 0, sizeof(*c));
  a->have = true;
}

static bool fresh(const sk__aws_authz_t *a, int64_t now) {
  if (!a->have)
    return false;
  int64_t exp = a->creds.expires_ms;
  if (exp == 0 || now < exp - (int64_t)SK_AWS_REFRESH_AHEAD_S * 1000)
    return true;
  return now < a->fetched_ms + REFETCH_MIN_MS && now < exp - MIN_VALID_MS;
}

/* After a failed refresh the current credentials, if still good, are used
 * for a while before the source is asked again: a failing STS or IMDS is
 * not asked at every request. */
static void note_failure(sk__aws_authz_t *a, int rc, int64_t now) {
  if (rc < 0 && rc != SK_ECANCELED && a->have)
    a->fetched_ms = now;
}

/* Signs w with a's credentials and calls it back with the headers. */
static void answer_signed(sk__aws_authz_t *a, sk__aws_waiter_t *w) {
  sk_cloud_auth_result_t res;
  memset(&res, 0, sizeof(res));
  char date[17], datehdr[40], auth[1024];
  char *tokhdr = NULL, *authhdr = NULL;
  const char *lines[8];
  size_t n = 0;
  char msg[160] = "";
  int rc = sk_aws_amz_date(w->now_ms, date, sizeof(date));
  if (rc == 0) {
    snprintf(datehdr, sizeof(datehdr), "X-Amz-Date: %s", date);
    lines[n++] = datehdr;
    if (a->creds.session_token) {
      size_t tl = strlen(a->creds.session_token) + 32;
      if (!(tokhdr = malloc(tl)))
        rc = SK_ENOMEM;
      else
        snprintf(tokhdr, tl, "X-Amz-Security-Token: %s", a->creds.session_token);
      if (tokhdr)
        lines[n++] = tokhdr;
    }
    for (size_t i = 0; i < w->nsign && n < 7; i++)
      lines[n++] = w->sign_headers[i];
    lines[n] = NULL;
  }
  if (rc == 0)
    rc = sk__aws_sigv4_sign_hashed(&a->creds, w->region, w->service, w->method, w->url, lines,
                                   w->payload_hash, date, auth, sizeof(auth));
  if (rc == 0) {
    size_t al = strlen(auth) + 16;
    if (!(authhdr = malloc(al)))
      rc = SK_ENOMEM;
    else
      snprintf(authhdr, al, "Authorization: %s", auth);
  }
  if (rc == 0) {
    size_t k = 0;
    res.headers[k++] = datehdr;
    if (tokhdr)
      res.headers[k++] = tokhdr;
    res.headers[k++] = authhdr;
    res.headers[k] = NULL;
  } else {
    snprintf(msg, sizeof(msg), "cannot sign the %s request for %s in %s: %s", w->method,
             w->service, w->region, sk_strerror(rc));
    res.message = msg;
  }
  res.rc = rc;
  w->cb(&res, w->arg);
  OPENSSL_cleanse(auth, sizeof(auth));
  sk__aws_wipe_free(tokhdr);
  sk__aws_wipe_free(authhdr);
}

static void answer_error(sk__aws_waiter_t *w, int rc, const char *message) {
  sk_cloud_auth_result_t res;
  memset(&res, 0, sizeof(res));
  res.rc = rc;
  res.message = message && *message ? message : sk_strerror(rc);
  w->cb(&res, w->arg);
}

static void on_kick_closed(uv_handle_t *h) {
  sk__aws_authz_t *a = h->data;
  sk__aws_creds_release(&a->creds);
  sk__aws_fetch_release(a);
  sk_buf_release(&a->notes);
  free(a->sts_endpoint);
  free(a->imds_endpoint);
  free(a->ca_file);
  free(a->home);
  free(a);
}

/* Frees a once destroy began and nothing is left to finish. */
static void maybe_finish(sk__aws_authz_t *a) {
  if (!a->destroying || a->closing || a->fetching || a->dispatching || a->head)
    return;
  a->closing = true;
  uv_close((uv_handle_t *)&a->kick, on_kick_closed);
}

static void on_kick(uv_timer_t *t);

/* Answers the waiters queued now (not those their callbacks add): rc 0
 * with the credentials, else the error, or the old credentials when a
 * refresh failed and they are still good for a while. */
static void complete(sk__aws_authz_t *a, int rc) {
  sk__aws_waiter_t *batch = a->head;
  a->head = a->tail = NULL;
  char msg[SK_CLOUD_MAX_MESSAGE];
  snprintf(msg, sizeof(msg), "%s", a->msg);
  bool warned = false;
  a->dispatching++;
  while (batch) {
    sk__aws_waiter_t *w = batch;
    if (!a->destroying && !a->have && rc == 0) {
      /* A callback invalidated the credentials: the rest wait for the
       * fetch the next pump starts, ahead of the waiters added since. */
      sk__aws_waiter_t *last = batch;
      while (last->next)
        last = last->next;
      last->next = a->head;
      if (!a->head)
        a->tail = last;
      a->head = batch;
      uv_timer_start(&a->kick, on_kick, 0, 0);
      break;
    }
    batch = w->next;
    if (a->destroying) {
      answer_error(w, SK_ECANCELED, "the AWS authoriser was destroyed");
    } else if (rc == 0 && (a->creds.expires_ms == 0 || w->now_ms < a->creds.expires_ms)) {
      answer_signed(a, w);
    } else if (rc == 0) {
      answer_error(w, SK_EAUTH, "the AWS credentials fetched had expired already");
    } else if (rc < 0 && rc != SK_ECANCELED && a->have && a->creds.expires_ms &&
               w->now_ms < a->creds.expires_ms - MIN_VALID_MS) {
      if (!warned)
        sk_log_warn(LOGGER, "refreshing AWS credentials failed, the current ones stay in use: %s",
                    msg);
      warned = true;
      answer_signed(a, w);
    } else {
      answer_error(w, rc < 0 ? rc : SK_EAUTH, msg);
    }
    waiter_free(w);
  }
  a->dispatching--;
}

/* Answers the queue, first fetching when some waiter needs fresher
 * credentials than a has. */
static void pump(sk__aws_authz_t *a) {
  if (a->fetching || a->closing)
    return;
  if (a->destroying) {
    complete(a, SK_ECANCELED);
    maybe_finish(a);
    return;
  }
  int64_t now = 0;
  bool need = false;
  for (sk__aws_waiter_t *w = a->head; w; w = w->next) {
    if (!fresh(a, w->now_ms)) {
      need = true;
      now = w->now_ms > now ? w->now_ms : now;
    }
  }
  int rc = 0;
  if (need) {
    a->msg[0] = '\0';
    rc = sk__aws_fetch_start(a, now);
    if (rc == 1)
      return; /* sk__aws_fetch_done answers */
    if (rc == 0)
      a->fetched_ms = now;
    note_failure(a, rc, now);
  }
  complete(a, rc);
  maybe_finish(a);
}

void sk__aws_fetch_done(sk__aws_authz_t *a, int rc) {
  a->fetching = false;
  if (rc == 0)
    a->fetched_ms = a->fetch_now_ms;
  note_failure(a, rc, a->fetch_now_ms);
  complete(a, a->destroying ? SK_ECANCELED : rc);
  maybe_finish(a);
}

static void on_kick(uv_timer_t *t) { pump(t->data); }

static bool header_named(const char *line, const char *name) {
  size_t n = strlen(name);
  const char *p = line;
  if (strncasecmp(p, name, n) != 0)
    return false;
  p += n;
  while (*p == ' ' || *p == '\t')
    p++;
  return *p == ':';
}

static int authz_authorize(sk_cloud_authz_t *base, const sk_cloud_request_t *req,
                           sk_cloud_auth_cb cb, void *arg) {
  sk__aws_authz_t *a = (sk__aws_authz_t *)base;
  if (a->destroying)
    return SK_ESTATE;
  if (!req || !cb || !req->method || !*req->method || !req->url || !req->region ||
      !*req->region || !req->service || !*req->service || (req->body_len && !req->body))
    return SK_EINVAL;
  sk__aws_url_t u;
  if (sk__aws_url_split(req->url, &u) != 0)
    return SK_EINVAL;
  sk__aws_waiter_t *w = calloc(1, sizeof(*w));
  if (!w)
    return SK_ENOMEM;
  w->cb = cb;
  w->arg = arg;
  w->now_ms = req->now_ms > 0 ? req->now_ms : sk_time_now_ms();
  sk__aws_sha256_hex(req->body, req->body ? req->body_len : 0, w->payload_hash);
  if (!(w->method = strdup(req->method)) || !(w->url = strdup(req->url)) ||
      !(w->region = strdup(req->region)) || !(w->service = strdup(req->service)))
    goto nomem;
  /* Only the headers a proxy or curl will not touch are signed: the
   * protocol's own (content-type, x-amz-target), besides the ones added
   * here. */
  size_t nh = 0;
  for (size_t i = 0; req->headers && req->headers[i]; i++)
    nh++;
  if (nh && !(w->sign_headers = calloc(nh, sizeof(char *))))
    goto nomem;
  for (size_t i = 0; i < nh && w->nsign < 4; i++) {
    const char *h = req->headers[i];
    if (!header_named(h, "content-type") && !header_named(h, "x-amz-target"))
      continue;
    if (strchr(h, '\r') || strchr(h, '\n')) {
      waiter_free(w);
      return SK_EINVAL;
    }
    if (!(w->sign_headers[w->nsign] = strdup(h)))
      goto nomem;
    w->nsign++;
  }
  if (a->tail)
    a->tail->next = w;
  else
    a->head = w;
  a->tail = w;
  /* During a fetch its end answers every waiter, this one included. */
  if (!a->fetching)
    uv_timer_start(&a->kick, on_kick, 0, 0);
  return 0;
nomem:
  waiter_free(w);
  return SK_ENOMEM;
}

static void authz_invalidate(sk_cloud_authz_t *base) {
  sk__aws_authz_t *a = (sk__aws_authz_t *)base;
  /* Fixed keys cannot be fetched again; the caller's retry will show
   * whether they work. */
  if (a->source == SK__AWS_SRC_STATIC || a->destroying)
    return;
  sk_log_v(1, LOGGER, "%s: credentials dropped (the service answered 401)", a->base.description);
  sk__aws_creds_release(&a->creds);
  a->have = false;
}

static void authz_destroy(sk_cloud_authz_t *base) {
  sk__aws_authz_t *a = (sk__aws_authz_t *)base;
  if (a->destroying)
    return;
  a->destroying = true;
  sk__aws_fetch_cancel(a);
  if (a->head)
    uv_timer_start(&a->kick, on_kick, 0, 0);
  maybe_finish(a);
}

static const sk_cloud_authz_ops_t aws_ops = {
    .authorize = authz_authorize,
    .invalidate = authz_invalidate,
    .destroy = authz_destroy,
};

static sk__aws_authz_t *authz_new(uv_loop_t *loop) {
  if (!loop)
    return NULL;
  sk__aws_authz_t *a = calloc(1, sizeof(*a));
  if (!a)
    return NULL;
  a->base.ops = &aws_ops;
  a->loop = loop;
  sk_buf_init(&a->notes, 1024);
  if (uv_timer_init(loop, &a->kick) != 0) {
    free(a);
    return NULL;
  }
  a->kick.data = a;
  return a;
}

/* Frees a new authoriser whose timer is initialised (construction failed). */
static void authz_abort(sk__aws_authz_t *a) {
  a->destroying = true;
  maybe_finish(a);
}

sk_cloud_authz_t *sk_aws_authz_static(uv_loop_t *loop, const char *access_key_id,
                                      const char *secret_access_key, const char *session_token) {
  if (!access_key_id || !secret_access_key)
    return NULL;
  sk_aws_creds_t c = {0};
  /* Values from a Secret made with --from-file often end in a newline. */
  if (!(c.access_key_id = strdup(access_key_id)) ||
      !(c.secret_access_key = strdup(secret_access_key)) ||
      (session_token && !(c.session_token = strdup(session_token)))) {
    sk__aws_creds_release(&c);
    return NULL;
  }
  sk__aws_trim(c.access_key_id);
  sk__aws_trim(c.secret_access_key);
  if (c.session_token && !*sk__aws_trim(c.session_token)) {
    free(c.session_token);
    c.session_token = NULL;
  }
  sk__aws_authz_t *a = NULL;
  if (!sk__aws_token_ok(c.access_key_id) || !sk__aws_token_ok(c.secret_access_key) ||
      (c.session_token && !sk__aws_token_ok(c.session_token)) || !(a = authz_new(loop))) {
    sk__aws_creds_release(&c);
    return NULL;
  }
  a->source = SK__AWS_SRC_STATIC;
  snprintf(a->base.description, sizeof(a->base.description), "AWS static %s",
           c.session_token ? "session credentials" : "access key");
  sk__aws_set_creds(a, &c);
  return &a->base;
}

/* Copies s unless it is NULL or empty. false on allocation failure. */
static bool dup_opt(char **dst, const char *s) {
  *dst = NULL;
  if (!s || !*s)
    return true;
  return (*dst = strdup(s)) != NULL;
}

sk_cloud_authz_t *sk_aws_authz_default(uv_loop_t *loop, sk_http_t *http,
                                       const sk_cloud_endpoints_t *endpoints) {
  if (!http)
    return NULL;
  sk__aws_authz_t *a = authz_new(loop);
  if (!a)
    return NULL;
  a->http = http;
  snprintf(a->base.description, sizeof(a->base.description), "AWS default credential chain");
  const sk_cloud_endpoints_t none = {0};
  const sk_cloud_endpoints_t *e = endpoints ? endpoints : &none;
  const char *sts = e->sts_endpoint && *e->sts_endpoint ? e->sts_endpoint : SK__AWS_DEFAULT_STS;
  const char *imds =
      e->imds_endpoint && *e->imds_endpoint ? e->imds_endpoint : SK__AWS_DEFAULT_IMDS;
  if (!dup_opt(&a->sts_endpoint, sts) || !dup_opt(&a->imds_endpoint, imds) ||
      !dup_opt(&a->ca_file, e->ca_file) || !dup_opt(&a->home, e->home)) {
    authz_abort(a);
    return NULL;
  }
  /* The IMDS paths are appended to the base: no trailing '/'. */
  size_t il = strlen(a->imds_endpoint);
  while (il > 1 && a->imds_endpoint[il - 1] == '/')
    a->imds_endpoint[--il] = '\0';
  return &a->base;
}
