/*
 * Cloud access shared by the Vertex AI and SageMaker job clients: where
 * each endpoint is, and how a request is authorised.
 *
 * An authoriser (sk_cloud_authz_t) turns a request about to be sent into
 * the headers that make the cloud accept it: a Google OAuth bearer token
 * (lib/cloud/gcp.h) or an AWS Signature Version 4 (lib/cloud/aws.h). It is
 * asynchronous because getting a credential may itself take requests (a
 * token endpoint, STS, a metadata server), all on the same libuv loop as
 * everything else. Credentials are cached inside the authoriser and
 * refreshed before they expire, so the common case answers at once (still
 * from the loop, never from inside the call).
 *
 * Nothing here ever logs, or puts into an error message, a secret, a token,
 * a signature or a key: messages say what failed and where ("token
 * endpoint https://oauth2.googleapis.com/token answered 400:
 * invalid_grant"), never with what.
 *
 * Endpoints: every URL a cloud step talks to can be overridden, so tests
 * point them at loopback servers. https keeps TLS verification on; a test
 * serving https passes its CA in ca_file.
 */
#ifndef SK_CLOUD_CLOUD_H
#define SK_CLOUD_CLOUD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"

#define SK_CLOUD_MAX_AUTH_HEADERS 8  /* headers an authoriser may add */
#define SK_CLOUD_MAX_MESSAGE 512     /* error messages for step status */

/*
 * Endpoint overrides. Every field may be NULL for the real cloud's
 * default. Strings are borrowed by whoever is given the struct only for
 * the call unless said otherwise (constructors copy them).
 *
 *  vertex_endpoint     base URL of the Vertex AI API, "{location}" is
 *                      replaced by the step's location; default
 *                      "https://{location}-aiplatform.googleapis.com".
 *                      (env SKEIN_VERTEX_ENDPOINT)
 *  google_token_uri    the OAuth token endpoint; default the key file's
 *                      token_uri, else "https://oauth2.googleapis.com/token".
 *                      (env SKEIN_GOOGLE_TOKEN_URI)
 *  gce_metadata_host   "host[:port]" of the GCE/GKE metadata server; default
 *                      "metadata.google.internal" (env GCE_METADATA_HOST).
 *  sagemaker_endpoint  base URL of SageMaker, "{region}" replaced; default
 *                      "https://api.sagemaker.{region}.amazonaws.com"
 *                      (env AWS_ENDPOINT_URL_SAGEMAKER, as AWS SDKs read it).
 *  sts_endpoint        base URL of STS, "{region}" replaced; default
 *                      "https://sts.{region}.amazonaws.com"
 *                      (env AWS_ENDPOINT_URL_STS).
 *  imds_endpoint       base URL of EC2 instance metadata; default
 *                      "http://169.254.169.254"
 *                      (env AWS_EC2_METADATA_SERVICE_ENDPOINT).
 *  ca_file             extra trust root for https endpoints (tests);
 *                      (env SKEIN_CLOUD_CA_FILE). Verification stays on.
 *  home                where ~/.aws and ~/.config/gcloud are looked for;
 *                      default $HOME.
 */
typedef struct sk_cloud_endpoints {
  const char *vertex_endpoint;
  const char *google_token_uri;
  const char *gce_metadata_host;
  const char *sagemaker_endpoint;
  const char *sts_endpoint;
  const char *imds_endpoint;
  const char *ca_file;
  const char *home;
} sk_cloud_endpoints_t;

/* Fills e from the environment variables named above (pointers into the
 * environment, borrowed; fields whose variable is unset stay NULL). */
void sk_cloud_endpoints_from_env(sk_cloud_endpoints_t *e);

/* Replaces "{location}" or "{region}" (whichever appears) in tmpl with
 * value into out. SK_ETOOBIG when out is too small. */
int sk_cloud_endpoint_url(const char *tmpl, const char *value, char *out, size_t outlen);

/* ---- authorisers ---- */

/* A request to authorise. url is the full URL; body may be NULL. */
typedef struct sk_cloud_request {
  const char *method;
  const char *url;
  const char *body;
  size_t body_len;
  const char *const *headers; /* "Name: value" lines already set (NULL-terminated), may be NULL;
                                 an AWS signer signs content-type and x-amz-target among them */
  int64_t now_ms;             /* wall clock, Unix epoch ms (the signature's date) */
  const char *region;         /* AWS: the credential scope's region ("us-east-1"); else NULL */
  const char *service;        /* AWS: the scope's service ("sagemaker"); else NULL */
} sk_cloud_request_t;

/* The result of an authorisation: header lines to add ("Authorization:
 * Bearer ...", "X-Amz-Date: ...", ...). Borrowed, valid during the
 * callback only. On failure rc < 0 and message says what failed (never a
 * secret): SK_EAUTH when the credentials were refused or are missing,
 * SK_ENET / SK_ETIMEDOUT / SK_EHTTP when a credential endpoint could not
 * be reached or answered 5xx (worth retrying later). */
typedef struct sk_cloud_auth_result {
  int rc;
  const char *headers[SK_CLOUD_MAX_AUTH_HEADERS + 1]; /* NULL-terminated */
  const char *message;
} sk_cloud_auth_result_t;

typedef void (*sk_cloud_auth_cb)(const sk_cloud_auth_result_t *res, void *arg);

typedef struct sk_cloud_authz sk_cloud_authz_t;

typedef struct sk_cloud_authz_ops {
  /* Starts authorising req (copied as needed); cb runs exactly once, from
   * the loop, never from inside this call. Returns 0, or < 0 with no
   * callback (SK_EINVAL, SK_ENOMEM, SK_ESTATE after destroy began). */
  int (*authorize)(sk_cloud_authz_t *a, const sk_cloud_request_t *req, sk_cloud_auth_cb cb,
                   void *arg);
  /* The cloud answered 401: drop the cached credential so the next
   * authorize fetches a fresh one (once; the caller retries once). */
  void (*invalidate)(sk_cloud_authz_t *a);
  /* Cancels pending authorisations (their callbacks run with
   * SK_ECANCELED, from the loop) and frees a once they have run. */
  void (*destroy)(sk_cloud_authz_t *a);
} sk_cloud_authz_ops_t;

/* Every authoriser starts with this header; the rest is its own. */
struct sk_cloud_authz {
  const sk_cloud_authz_ops_t *ops;
  char description[128]; /* for messages and logs: "service account x@p.iam...", "IRSA role ..." */
};

static inline int sk_cloud_authorize(sk_cloud_authz_t *a, const sk_cloud_request_t *req,
                                     sk_cloud_auth_cb cb, void *arg) {
  return a->ops->authorize(a, req, cb, arg);
}
static inline void sk_cloud_authz_invalidate(sk_cloud_authz_t *a) {
  if (a && a->ops->invalidate)
    a->ops->invalidate(a);
}
static inline void sk_cloud_authz_destroy(sk_cloud_authz_t *a) {
  if (a)
    a->ops->destroy(a);
}

/*
 * A fixed authoriser for tests and for endpoints that need no auth: adds
 * the given header lines (copied; may be NULL for none). Answers from the
 * loop.
 */
sk_cloud_authz_t *sk_cloud_authz_static(uv_loop_t *loop, const char *const *headers);

#endif
