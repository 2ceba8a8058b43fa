/*
 * The Google authorisers on the loop: a token cache in front of one of
 * three sources (a service-account key, an authorized_user refresh token,
 * the metadata server), and Application Default Credentials, which pick
 * the source at the first authorize.
 *
 * Every authorisation is a waiter. One with an answer known sits in the
 * ready list, which a 0 ms timer hands to the callbacks, so no callback
 * ever runs from inside authorize. One that needs a token waits in
 * auth_wait for the single token request in flight: N jobs asking at once
 * cause one request, not N. Project look-ups wait the same way in
 * proj_wait. The states of the source:
 *
 *   unresolved --first authorize--> resolving (files read off the loop)
 *   resolving --file or fallback found--> resolved
 *   resolving --a bad file--> unresolved (the waiters fail; the next
 *                             authorize looks again)
 *
 * A key given to sk_gcp_authz_from_json starts resolved.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cloud/gcp-int.h"
#include "cloud/gcp.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"
#include "util/timeutil.h"

#define LOGGER "cloud"
#define MSG SK_CLOUD_MAX_MESSAGE
#define WHAT_MAX 320                  /* "token endpoint <url>" in messages */
#define REQUEST_TIMEOUT_MS SK_GCP_REQUEST_TIMEOUT_MS
#define ANSWER_MAX (64 * 1024)        /* a token answer is well under 4 KiB */
#define FILE_MAX (1024 * 1024)        /* a key file is about 2.5 KiB */
#define MIN_VALID_MS 30000            /* an old token still serves after a failed refresh while it
                                         has this long left */
#define DEFAULT_METADATA_HOST "metadata.google.internal"
#define ADC_FILE "application_default_credentials.json"

typedef enum { RES_UNRESOLVED, RES_RESOLVING, RES_RESOLVED } res_state_t;
static const char *const res_names[] = {"unresolved", "resolving", "resolved"};

typedef enum { W_AUTH, W_PROJECT } wkind_t;

typedef struct waiter {
  struct waiter *next;
  wkind_t kind;
  sk_cloud_auth_cb auth_cb;
  sk_gcp_project_cb project_cb;
  void *arg;
  int rc;
  char *hdr[2];  /* owned header lines of a granted authorisation */
  char *project; /* owned project of a granted look-up */
  char message[MSG];
} waiter_t;

typedef struct {
  waiter_t *head, *tail;
  size_t n;
} wlist_t;

typedef struct gcp gcp_t;

/* The files of Application Default Credentials, read on a worker thread.
 * path[0] is GOOGLE_APPLICATION_CREDENTIALS, path[1] gcloud's file; only
 * the first that is set is read (err is then the read's errno). */
typedef struct {
  uv_work_t req;
  gcp_t *a;
  char *path[2];
  char *text[2];
  size_t len[2];
  int err[2];
} resolve_work_t;

struct gcp {
  sk_cloud_authz_t base; /* first: the authoriser is cast to and from this */
  uv_loop_t *loop;
  sk_http_t *http;
  uv_timer_t kick; /* delivers the ready list */
  char *ep_token_uri;
  char *ep_metadata_host;
  char *ep_home;
  char *ca_file;
  sk_http_tls_t tls;

  res_state_t res;
  resolve_work_t *work;
  sk__gcp_cred_t cred;
  char source[MSG / 2]; /* the credential and where it came from, first in messages */

  char *token;               /* cached access token, or NULL */
  int64_t token_expiry_ms;   /* monotonic */
  sk_http_req_t *fetch;      /* the token request in flight */
  char *fetch_secret;        /* the assertion it carries, kept to keep it out of messages */
  int64_t fetch_start_ms;    /* monotonic; the token's lifetime counts from here */
  char fetch_what[WHAT_MAX]; /* "token endpoint https://…" */

  char *meta_project;         /* the metadata server's project, once known */
  sk_http_req_t *proj_req;    /* the project look-up in flight */
  char proj_what[WHAT_MAX];

  wlist_t auth_wait, proj_wait, ready;
  bool destroying, closing;
  bool metadata_answered;     /* the metadata server has given a token once */
};

static const sk_cloud_authz_ops_t gcp_ops;
static void advance(gcp_t *a);

/* ---- waiter lists ---- */

static void wl_push(wlist_t *l, waiter_t *w) {
  w->next = NULL;
  if (l->tail)
    l->tail->next = w;
  else
    l->head = w;
  l->tail = w;
  l->n++;
}

static waiter_t *wl_pop(wlist_t *l) {
  waiter_t *w = l->head;
  if (!w)
    return NULL;
  l->head = w->next;
  if (!l->head)
    l->tail = NULL;
  l->n--;
  w->next = NULL;
  return w;
}

static void waiter_clear(waiter_t *w) {
  sk__gcp_wipe_free(w->hdr[0]); /* the bearer token */
  free(w->hdr[1]);
  free(w->project);
  w->hdr[0] = w->hdr[1] = w->project = NULL;
}

static void waiter_free(waiter_t *w) {
  waiter_clear(w);
  free(w);
}

/* ---- delivery ---- */

static void kick_cb(uv_timer_t *t);

static void schedule(gcp_t *a) {
  if (a->ready.head && !a->closing)
    uv_timer_start(&a->kick, kick_cb, 0, 0);
}

/* Moves every waiter of l to the ready list with an error. */
static void fail_list(gcp_t *a, wlist_t *l, int rc, const char *msg) {
  waiter_t *w;
  while ((w = wl_pop(l))) {
    waiter_clear(w);
    w->rc = rc;
    sk__gcp_errf(w->message, sizeof(w->message), 0, "%s", msg);
    wl_push(&a->ready, w);
  }
  schedule(a);
}

/* Moves every authorisation of l to the ready list with the current
 * token's headers. */
static void grant_list(gcp_t *a, wlist_t *l) {
  waiter_t *w;
  size_t hlen = strlen(a->token) + sizeof("Authorization: Bearer ");
  while ((w = wl_pop(l))) {
    waiter_clear(w);
    w->rc = 0;
    w->message[0] = '\0';
    if ((w->hdr[0] = malloc(hlen)))
      snprintf(w->hdr[0], hlen, "Authorization: Bearer %s", a->token);
    /* User credentials bill the quota project they name, as google-auth
     * does, instead of the OAuth client's project. */
    if (w->hdr[0] && a->cred.kind == SK__GCP_USER && a->cred.quota_project_id) {
      size_t n = strlen(a->cred.quota_project_id) + sizeof("x-goog-user-project: ");
      if ((w->hdr[1] = malloc(n)))
        snprintf(w->hdr[1], n, "x-goog-user-project: %s", a->cred.quota_project_id);
      else
        waiter_clear(w);
    }
    if (!w->hdr[0]) {
      w->rc = SK_ENOMEM;
      sk__gcp_errf(w->message, sizeof(w->message), 0, "%s: out of memory", a->source);
    }
    wl_push(&a->ready, w);
  }
  schedule(a);
}

static void grant_projects(gcp_t *a, const char *project) {
  waiter_t *w;
  while ((w = wl_pop(&a->proj_wait))) {
    waiter_clear(w);
    w->rc = 0;
    if (!(w->project = strdup(project))) {
      w->rc = SK_ENOMEM;
      sk__gcp_errf(w->message, sizeof(w->message), 0, "%s: out of memory", a->source);
    }
    wl_push(&a->ready, w);
  }
  schedule(a);
}

static void deliver(waiter_t *w) {
  if (w->kind == W_AUTH) {
    sk_cloud_auth_result_t r;
    memset(&r, 0, sizeof(r));
    r.rc = w->rc;
    if (w->rc == 0) {
      r.headers[0] = w->hdr[0];
      r.headers[1] = w->hdr[1];
    }
    r.message = w->rc ? w->message : "";
    w->auth_cb(&r, w->arg);
  } else {
    w->project_cb(w->rc, w->rc ? NULL : w->project, w->rc ? w->message : "", w->arg);
  }
}

static void gcp_free(gcp_t *a) {
  sk__gcp_cred_release(&a->cred);
  sk__gcp_wipe_free(a->token);
  sk__gcp_wipe_free(a->fetch_secret);
  free(a->meta_project);
  free(a->ep_token_uri);
  free(a->ep_metadata_host);
  free(a->ep_home);
  free(a->ca_file);
  free(a);
}

static void close_cb(uv_handle_t *h) { gcp_free(h->data); }

/* Frees a once destroy has begun and nothing is left: no callback to run,
 * no request or file read in flight. */
static void maybe_finish(gcp_t *a) {
  if (!a->destroying || a->closing || a->ready.head || a->fetch || a->proj_req || a->work)
    return;
  a->closing = true;
  uv_close((uv_handle_t *)&a->kick, close_cb);
}

static void kick_cb(uv_timer_t *t) {
  gcp_t *a = t->data;
  /* Only the waiters ready now: a callback that authorises again from a
   * warm cache must not keep this loop going for ever. */
  size_t n = a->ready.n;
  waiter_t *w;
  while (n-- > 0 && (w = wl_pop(&a->ready))) {
    deliver(w);
    waiter_free(w);
  }
  schedule(a);
  maybe_finish(a);
}

/* ---- helpers ---- */

static void set_res(gcp_t *a, res_state_t s) {
  if (a->res != s)
    sk_log_v(2, LOGGER, "%s: credentials %s -> %s", a->base.description, res_names[a->res],
             res_names[s]);
  a->res = s;
}

static bool token_left(const gcp_t *a, int64_t margin_ms) {
  return a->token && sk_time_mono_ms() < a->token_expiry_ms - margin_ms;
}

static const char *token_uri(const gcp_t *a) {
  if (a->ep_token_uri && *a->ep_token_uri)
    return a->ep_token_uri;
  if (a->cred.token_uri)
    return a->cred.token_uri;
  return SK_GCP_DEFAULT_TOKEN_URI;
}

/* The metadata server's host[:port]: GCE_METADATA_HOST, the endpoint
 * override, the default. NULL when it is not a plain host[:port], which
 * would change the URL's meaning. */
static const char *metadata_host(const gcp_t *a) {
  const char *h = getenv("GCE_METADATA_HOST");
  if (!h || !*h)
    h = a->ep_metadata_host && *a->ep_metadata_host ? a->ep_metadata_host : DEFAULT_METADATA_HOST;
  for (const char *p = h; *p; p++) {
    char c = *p;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '.' || c == '-' || c == ':' || c == '[' || c == ']'))
      return NULL;
  }
  return h;
}

static const sk_http_tls_t *tls_for(const gcp_t *a, const char *url) {
  return a->ca_file && strncmp(url, "https://", 8) == 0 ? &a->tls : NULL;
}

static void describe(gcp_t *a, const char *where) {
  const char *sep = where ? " from " : "";
  if (!where)
    where = "";
  switch (a->cred.kind) {
  case SK__GCP_SERVICE_ACCOUNT:
    snprintf(a->base.description, sizeof(a->base.description), "service account %s",
             a->cred.client_email);
    snprintf(a->source, sizeof(a->source), "service account %s%s%s", a->cred.client_email, sep,
             where);
    break;
  case SK__GCP_USER:
    snprintf(a->base.description, sizeof(a->base.description), "user credentials");
    snprintf(a->source, sizeof(a->source), "user credentials (authorized_user)%s%s", sep, where);
    break;
  case SK__GCP_METADATA:
    snprintf(a->base.description, sizeof(a->base.description), "metadata server credentials");
    snprintf(a->source, sizeof(a->source),
             "Application Default Credentials (%s, so the metadata server)", where);
    break;
  case SK__GCP_NONE:
    snprintf(a->base.description, sizeof(a->base.description), "Application Default Credentials");
    snprintf(a->source, sizeof(a->source), "Application Default Credentials");
    break;
  }
}

/* ---- the token request ---- */

static void fetch_done(sk_http_req_t *req, const sk_http_resp_t *resp, void *arg) {
  (void)req;
  gcp_t *a = arg;
  a->fetch = NULL;
  char *secret = a->fetch_secret;
  a->fetch_secret = NULL;
  if (a->destroying) {
    sk__gcp_wipe_free(secret);
    maybe_finish(a);
    return;
  }
  char detail[MSG], msg[MSG];
  char *token = NULL;
  int64_t secs = 0;
  int rc;
  if (resp->error) {
    rc = resp->error;
    sk__gcp_errf(detail, sizeof(detail), 0, "%s: %s", a->fetch_what,
                 resp->error_text && *resp->error_text ? resp->error_text : sk_strerror(rc));
  } else {
    const char *secrets[4] = {NULL, NULL, NULL, NULL};
    size_t ns = 0;
    if (secret)
      secrets[ns++] = secret;
    if (a->cred.client_secret)
      secrets[ns++] = a->cred.client_secret;
    if (a->cred.refresh_token)
      secrets[ns++] = a->cred.refresh_token;
    rc = sk__gcp_token_answer(resp->status, resp->body, resp->body_len, a->fetch_what, secrets,
                              &token, &secs, detail, sizeof(detail));
  }
  sk__gcp_wipe_free(secret);
  if (rc == SK_ENET && a->cred.kind == SK__GCP_METADATA && !a->metadata_answered) {
    /* The last place Application Default Credentials look, and nothing
     * listens there and never did: this is not GCE or GKE, and no retry
     * will find credentials (google-auth gives up the same way). */
    rc = SK_EAUTH;
    size_t n = strlen(detail);
    snprintf(detail + n, sizeof(detail) - n,
             "; no Google credentials found: set GOOGLE_APPLICATION_CREDENTIALS, run gcloud auth "
             "application-default login, or run on GCE or GKE");
  }
  if (rc == 0) {
    if (a->cred.kind == SK__GCP_METADATA)
      a->metadata_answered = true;
    sk__gcp_wipe_free(a->token);
    a->token = token;
    a->token_expiry_ms = a->fetch_start_ms + secs * 1000;
    sk_log_v(1, LOGGER, "%s: new access token, valid for %llds", a->source, (long long)secs);
    grant_list(a, &a->auth_wait);
    return;
  }
  if (rc != SK_ECANCELED && token_left(a, MIN_VALID_MS)) {
    /* Refreshing ahead of expiry is what leaves room for this: the token
     * in hand still works, so the jobs go on while the endpoint recovers. */
    sk_log_warn(LOGGER,
                "%s: refreshing the access token failed, the current one serves until it "
                "expires: %s",
                a->source, detail);
    grant_list(a, &a->auth_wait);
    return;
  }
  if (!a->auth_wait.head && rc != SK_ECANCELED) {
    /* A refresh behind the callers failed and nobody waits to hear it. */
    sk_log_warn(LOGGER, "%s: refreshing the access token failed: %s", a->source, detail);
    return;
  }
  sk__gcp_errf(msg, sizeof(msg), 0, "%s: %s", a->source, detail);
  fail_list(a, &a->auth_wait, rc, msg);
}

static void start_fetch(gcp_t *a) {
  sk_http_opts_t o;
  memset(&o, 0, sizeof(o));
  char url[WHAT_MAX], msg[MSG];
  char *body = NULL, *jwt = NULL;
  int rc = 0;
  const char *host = NULL;
  switch (a->cred.kind) {
  case SK__GCP_SERVICE_ACCOUNT:
  case SK__GCP_USER:
    o.method = "POST";
    o.url = token_uri(a);
    o.headers[0] = "Content-Type: application/x-www-form-urlencoded";
    o.headers[1] = "Accept: application/json";
    snprintf(a->fetch_what, sizeof(a->fetch_what), "token endpoint %s", o.url);
    if (a->cred.kind == SK__GCP_SERVICE_ACCOUNT) {
      /* The audience is the endpoint the assertion is sent to, so that an
       * assertion meant for one endpoint is of no use at another. */
      rc = sk__gcp_jwt(&a->cred, o.url, SK_GCP_SCOPE, sk_time_now_ms() / 1000, &jwt);
      if (rc == 0)
        rc = sk__gcp_form_jwt_bearer(jwt, &body);
    } else {
      rc = sk__gcp_form_refresh(&a->cred, &body);
    }
    break;
  case SK__GCP_METADATA:
    if (!(host = metadata_host(a))) {
      snprintf(a->fetch_what, sizeof(a->fetch_what), "metadata server");
      rc = SK_EINVAL;
      break;
    }
    snprintf(url, sizeof(url),
             "http://%s/computeMetadata/v1/instance/service-accounts/default/token", host);
    snprintf(a->fetch_what, sizeof(a->fetch_what), "metadata server %s", host);
    o.method = "GET";
    o.url = url;
    o.headers[0] = "Metadata-Flavor: Google";
    break;
  case SK__GCP_NONE:
    rc = SK_ESTATE;
    break;
  }
  if (rc == 0) {
    o.body = body;
    o.body_len = body ? strlen(body) : 0;
    o.timeout_ms = REQUEST_TIMEOUT_MS;
    o.max_body = ANSWER_MAX;
    o.tls = tls_for(a, o.url);
    o.on_done = fetch_done;
    o.arg = a;
    a->fetch_start_ms = sk_time_mono_ms();
    rc = sk_http_request(a->http, &o, &a->fetch);
  }
  sk__gcp_wipe_free(body); /* the client has its own copy */
  if (rc == 0) {
    a->fetch_secret = jwt;
    sk_log_v(2, LOGGER, "%s: asking %s for an access token", a->source, a->fetch_what);
    return;
  }
  a->fetch = NULL;
  sk__gcp_wipe_free(jwt);
  if (!host && a->cred.kind == SK__GCP_METADATA)
    sk__gcp_errf(msg, sizeof(msg), 0,
                 "%s: GCE_METADATA_HOST (or the metadata host setting) is not a host[:port]",
                 a->source);
  else
    sk__gcp_errf(msg, sizeof(msg), 0, "%s: %s: the request could not be made: %s", a->source,
                 a->fetch_what, sk_strerror(rc));
  fail_list(a, &a->auth_wait, rc, msg);
}

/* ---- the project ---- */

static void project_done(sk_http_req_t *req, const sk_http_resp_t *resp, void *arg) {
  (void)req;
  gcp_t *a = arg;
  a->proj_req = NULL;
  if (a->destroying) {
    maybe_finish(a);
    return;
  }
  char detail[MSG], msg[MSG];
  char *project = NULL;
  int rc;
  if (resp->error) {
    rc = resp->error;
    sk__gcp_errf(detail, sizeof(detail), 0, "%s: %s", a->proj_what,
                 resp->error_text && *resp->error_text ? resp->error_text : sk_strerror(rc));
  } else {
    rc = sk__gcp_project_answer(resp->status, resp->body, resp->body_len, a->proj_what, &project,
                                detail, sizeof(detail));
  }
  if (rc == 0) {
    free(a->meta_project);
    a->meta_project = project;
    grant_projects(a, project);
    return;
  }
  sk__gcp_errf(msg, sizeof(msg), 0,
               "no project: %s names none, GOOGLE_CLOUD_PROJECT is unset, and %s", a->source,
               detail);
  fail_list(a, &a->proj_wait, rc, msg);
}

static void project_step(gcp_t *a) {
  const char *p = NULL, *env = getenv("GOOGLE_CLOUD_PROJECT");
  if (a->cred.kind == SK__GCP_SERVICE_ACCOUNT && a->cred.project_id)
    p = a->cred.project_id;
  else if (env && *env)
    p = env;
  else if (a->meta_project)
    p = a->meta_project;
  if (p) {
    grant_projects(a, p);
    return;
  }
  if (a->proj_req)
    return;
  char url[WHAT_MAX], msg[MSG];
  const char *host = metadata_host(a);
  if (!host) {
    sk__gcp_errf(msg, sizeof(msg), 0,
                 "no project: %s names none, GOOGLE_CLOUD_PROJECT is unset, and "
                 "GCE_METADATA_HOST (or the metadata host setting) is not a host[:port]",
             a->source);
    fail_list(a, &a->proj_wait, SK_EINVAL, msg);
    return;
  }
  snprintf(url, sizeof(url), "http://%s/computeMetadata/v1/project/project-id", host);
  snprintf(a->proj_what, sizeof(a->proj_what), "metadata server %s", host);
  sk_http_opts_t o;
  memset(&o, 0, sizeof(o));
  o.method = "GET";
  o.url = url;
  o.headers[0] = "Metadata-Flavor: Google";
  o.timeout_ms = REQUEST_TIMEOUT_MS;
  o.max_body = ANSWER_MAX;
  o.on_done = project_done;
  o.arg = a;
  int rc = sk_http_request(a->http, &o, &a->proj_req);
  if (rc) {
    a->proj_req = NULL;
    sk__gcp_errf(msg, sizeof(msg), 0,
                 "no project: %s names none, GOOGLE_CLOUD_PROJECT is unset, and %s: "
                 "the request could not be made: %s",
             a->source, a->proj_what, sk_strerror(rc));
    fail_list(a, &a->proj_wait, rc, msg);
  }
}

/* ---- Application Default Credentials ---- */

/* Reads a whole small file (at most FILE_MAX bytes); 0, or an errno
 * value. The text may be a key: every copy is wiped. */
static int read_small(const char *path, char **out, size_t *outlen) {
  *out = NULL;
  *outlen = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno;
  int err = 0;
  struct stat st;
  char chunk[4096];
  sk_buf_t b;
  sk_buf_init(&b, FILE_MAX);
  if (fstat(fd, &st) != 0)
    err = errno;
  else if (S_ISDIR(st.st_mode))
    err = EISDIR;
  while (!err) {
    ssize_t r = read(fd, chunk, sizeof(chunk));
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      err = errno;
    else if (r == 0)
      break;
    else if (sk_buf_append(&b, chunk, (size_t)r) != 0)
      err = b.len + (size_t)r > FILE_MAX ? EFBIG : ENOMEM;
  }
  close(fd);
  OPENSSL_cleanse(chunk, sizeof(chunk));
  if (!err) {
    *outlen = b.len;
    if (!(*out = sk_buf_steal(&b)))
      err = ENOMEM;
  }
  if (b.data)
    OPENSSL_cleanse(b.data, b.len);
  sk_buf_release(&b);
  return err;
}

static void resolve_work(uv_work_t *req) {
  resolve_work_t *w = req->data;
  for (int i = 0; i < 2; i++) {
    if (w->path[i]) {
      w->err[i] = read_small(w->path[i], &w->text[i], &w->len[i]);
      return;
    }
  }
}

static void work_free(resolve_work_t *w) {
  for (int i = 0; i < 2; i++) {
    free(w->path[i]);
    sk__gcp_wipe_free(w->text[i]);
  }
  free(w);
}

/* Picks the source from what the worker read. 0, or SK_EAUTH with a
 * message naming the file that was tried. */
static int resolve_pick(gcp_t *a, resolve_work_t *w, char *msg, size_t msglen) {
  char label[MSG / 2], err[MSG];
  int i = w->path[0] ? 0 : 1;
  const char *what = i == 0 ? "GOOGLE_APPLICATION_CREDENTIALS file" : "gcloud's ADC file";
  if (w->path[i] && !(i == 1 && (w->err[i] == ENOENT || w->err[i] == ENOTDIR))) {
    /* A file named by the environment must be there; gcloud's file may be
     * missing (then the metadata server), but one that is there and bad is
     * an error, not a reason to fall through to other credentials. */
    if (w->err[i])
      return sk__gcp_errf(msg, msglen, SK_EAUTH,
                          "Application Default Credentials: %s %s cannot be read: %s", what,
                          w->path[i], strerror(w->err[i]));
    snprintf(label, sizeof(label), "%s %s", what, w->path[i]);
    sk__gcp_cred_t c;
    int rc = sk__gcp_cred_parse(w->text[i], w->len[i], label, &c, err, sizeof(err));
    if (rc)
      return sk__gcp_errf(msg, msglen, rc == SK_ENOMEM ? rc : SK_EAUTH,
                          "Application Default Credentials: %s", err);
    sk__gcp_cred_release(&a->cred);
    a->cred = c;
    describe(a, label);
    return 0;
  }
  sk__gcp_cred_release(&a->cred);
  a->cred.kind = SK__GCP_METADATA;
  if (w->path[1])
    snprintf(label, sizeof(label), "GOOGLE_APPLICATION_CREDENTIALS unset, no %s", w->path[1]);
  else
    snprintf(label, sizeof(label), "GOOGLE_APPLICATION_CREDENTIALS unset, HOME unset");
  describe(a, label);
  return 0;
}

static void resolve_done(uv_work_t *req, int status) {
  resolve_work_t *w = req->data;
  gcp_t *a = w->a;
  a->work = NULL;
  if (a->destroying || status != 0) {
    work_free(w);
    set_res(a, RES_UNRESOLVED);
    maybe_finish(a);
    return;
  }
  char msg[MSG];
  int rc = resolve_pick(a, w, msg, sizeof(msg));
  work_free(w);
  if (rc) {
    set_res(a, RES_UNRESOLVED);
    fail_list(a, &a->auth_wait, rc, msg);
    fail_list(a, &a->proj_wait, rc, msg);
    return;
  }
  sk_log_v(1, LOGGER, "using %s", a->source);
  set_res(a, RES_RESOLVED);
  advance(a);
}

/* Joins dir and name into a new string. */
static char *join(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *s = malloc(n);
  if (s)
    snprintf(s, n, "%s/%s", dir, name);
  return s;
}

static void start_resolve(gcp_t *a) {
  char msg[MSG];
  resolve_work_t *w = calloc(1, sizeof(*w));
  int rc = SK_ENOMEM;
  if (!w)
    goto fail;
  w->a = a;
  w->req.data = w;
  /* The environment is read here, on the loop, never on the worker. */
  const char *env = getenv("GOOGLE_APPLICATION_CREDENTIALS");
  const char *sdk = getenv("CLOUDSDK_CONFIG"); /* gcloud's config folder, as gcloud reads it */
  const char *home = a->ep_home && *a->ep_home ? a->ep_home : getenv("HOME");
  if (env && *env) {
    if (!(w->path[0] = strdup(env)))
      goto fail;
  } else if (sdk && *sdk) {
    if (!(w->path[1] = join(sdk, ADC_FILE)))
      goto fail;
  } else if (home && *home) {
    char *dir = join(home, ".config/gcloud");
    w->path[1] = dir ? join(dir, ADC_FILE) : NULL;
    free(dir);
    if (!w->path[1])
      goto fail;
  }
  if ((rc = uv_queue_work(a->loop, &w->req, resolve_work, resolve_done)) != 0) {
    rc = SK_EIO;
    goto fail;
  }
  a->work = w;
  set_res(a, RES_RESOLVING);
  return;
fail:
  if (w)
    work_free(w);
  sk__gcp_errf(msg, sizeof(msg), 0, "Application Default Credentials: cannot look for them: %s",
               sk_strerror(rc));
  fail_list(a, &a->auth_wait, rc, msg);
  fail_list(a, &a->proj_wait, rc, msg);
}

/* ---- the authoriser ---- */

/* Starts whatever the waiters need next. */
static void advance(gcp_t *a) {
  if (a->destroying || (!a->auth_wait.head && !a->proj_wait.head))
    return;
  if (a->res == RES_UNRESOLVED) {
    start_resolve(a);
    return;
  }
  if (a->res == RES_RESOLVING)
    return;
  if (a->auth_wait.head) {
    if (token_left(a, (int64_t)SK_GCP_REFRESH_AHEAD_S * 1000)) {
      grant_list(a, &a->auth_wait);
    } else if (token_left(a, MIN_VALID_MS)) {
      /* Inside the refresh window the token still works: the callers get
       * it now and the new one is fetched behind them, so no job waits on
       * the token endpoint, and an outage shorter than the window goes
       * unnoticed. */
      grant_list(a, &a->auth_wait);
      if (!a->fetch)
        start_fetch(a);
    } else if (!a->fetch) {
      start_fetch(a);
    }
  }
  if (a->proj_wait.head)
    project_step(a);
}

static int gcp_authorize(sk_cloud_authz_t *base, const sk_cloud_request_t *req,
                         sk_cloud_auth_cb cb, void *arg) {
  (void)req; /* a bearer token does not depend on the request */
  gcp_t *a = (gcp_t *)base;
  if (!a || !cb)
    return SK_EINVAL;
  if (a->destroying)
    return SK_ESTATE;
  waiter_t *w = calloc(1, sizeof(*w));
  if (!w)
    return SK_ENOMEM;
  w->kind = W_AUTH;
  w->auth_cb = cb;
  w->arg = arg;
  wl_push(&a->auth_wait, w);
  advance(a);
  return 0;
}

static void gcp_invalidate(sk_cloud_authz_t *base) {
  gcp_t *a = (gcp_t *)base;
  if (a->token)
    sk_log_v(1, LOGGER, "%s: access token dropped (refused by the API)", a->source);
  sk__gcp_wipe_free(a->token);
  a->token = NULL;
}

/* Turns every waiter of l into a cancelled one on the ready list. */
static void cancel_list(gcp_t *a, wlist_t *l, const char *msg) {
  waiter_t *w;
  wlist_t tmp = {NULL, NULL, 0};
  while ((w = wl_pop(l))) {
    waiter_clear(w);
    w->rc = SK_ECANCELED;
    sk__gcp_errf(w->message, sizeof(w->message), 0, "%s", msg);
    wl_push(&tmp, w);
  }
  while ((w = wl_pop(&tmp)))
    wl_push(&a->ready, w);
}

static void gcp_destroy(sk_cloud_authz_t *base) {
  gcp_t *a = (gcp_t *)base;
  if (a->destroying)
    return;
  a->destroying = true;
  char msg[MSG];
  sk__gcp_errf(msg, sizeof(msg), 0, "%s: the authoriser was destroyed", a->source);
  cancel_list(a, &a->ready, msg);
  cancel_list(a, &a->auth_wait, msg);
  cancel_list(a, &a->proj_wait, msg);
  if (a->fetch)
    sk_http_cancel(a->fetch);
  if (a->proj_req)
    sk_http_cancel(a->proj_req);
  if (a->work)
    uv_cancel((uv_req_t *)&a->work->req); /* fails once the read has begun: then it finishes */
  schedule(a);
  maybe_finish(a);
}

static const sk_cloud_authz_ops_t gcp_ops = {
    .authorize = gcp_authorize,
    .invalidate = gcp_invalidate,
    .destroy = gcp_destroy,
};

/* Allocates an authoriser that owns cred (moved in, also on failure). */
static gcp_t *gcp_new(uv_loop_t *loop, sk_http_t *http, const sk_cloud_endpoints_t *ep,
                      sk__gcp_cred_t *cred) {
  gcp_t *a = calloc(1, sizeof(*a));
  if (!a) {
    sk__gcp_cred_release(cred);
    return NULL;
  }
  a->cred = *cred;
  memset(cred, 0, sizeof(*cred));
  a->base.ops = &gcp_ops;
  a->loop = loop;
  a->http = http;
  if (ep && ((ep->google_token_uri && !(a->ep_token_uri = strdup(ep->google_token_uri))) ||
             (ep->gce_metadata_host && !(a->ep_metadata_host = strdup(ep->gce_metadata_host))) ||
             (ep->home && !(a->ep_home = strdup(ep->home))) ||
             (ep->ca_file && !(a->ca_file = strdup(ep->ca_file))))) {
    gcp_free(a);
    return NULL;
  }
  a->tls.ca_file = a->ca_file;
  /* Last: from here on the object is freed through the handle's close. */
  uv_timer_init(loop, &a->kick);
  a->kick.data = a;
  return a;
}

sk_cloud_authz_t *sk_gcp_authz_from_json(uv_loop_t *loop, sk_http_t *http,
                                         const sk_cloud_endpoints_t *endpoints, const char *json,
                                         size_t len, char *err, size_t errlen) {
  if (!loop || !http || !json) {
    sk__gcp_errf(err, errlen, SK_EINVAL, "credentials JSON: no loop, client or text given");
    return NULL;
  }
  sk__gcp_cred_t c;
  if (sk__gcp_cred_parse(json, len, "credentials JSON", &c, err, errlen) != 0)
    return NULL;
  gcp_t *a = gcp_new(loop, http, endpoints, &c);
  if (!a) {
    sk__gcp_errf(err, errlen, SK_ENOMEM, "credentials JSON: out of memory");
    return NULL;
  }
  describe(a, NULL);
  a->res = RES_RESOLVED;
  return &a->base;
}

sk_cloud_authz_t *sk_gcp_authz_default(uv_loop_t *loop, sk_http_t *http,
                                       const sk_cloud_endpoints_t *endpoints) {
  if (!loop || !http)
    return NULL;
  sk__gcp_cred_t c;
  memset(&c, 0, sizeof(c));
  gcp_t *a = gcp_new(loop, http, endpoints, &c);
  if (!a)
    return NULL;
  describe(a, NULL);
  a->res = RES_UNRESOLVED;
  return &a->base;
}

int sk_gcp_project(sk_cloud_authz_t *base, sk_gcp_project_cb cb, void *arg) {
  if (!base || base->ops != &gcp_ops || !cb)
    return SK_EINVAL;
  gcp_t *a = (gcp_t *)base;
  if (a->destroying)
    return SK_ESTATE;
  waiter_t *w = calloc(1, sizeof(*w));
  if (!w)
    return SK_ENOMEM;
  w->kind = W_PROJECT;
  w->project_cb = cb;
  w->arg = arg;
  wl_push(&a->proj_wait, w);
  advance(a);
  return 0;
}
