/*
 * Google Cloud authorisation without an SDK: a service-account key signs
 * an RS256 JWT (openssl) that the token endpoint exchanges for an access
 * token (jwt-bearer grant); an authorized_user file (gcloud auth
 * application-default login) trades its refresh token for one; the
 * metadata server (GCE, GKE Workload Identity) hands one out. Application
 * Default Credentials pick among them: the file named by
 * GOOGLE_APPLICATION_CREDENTIALS, then gcloud's ADC file
 * ($CLOUDSDK_CONFIG/application_default_credentials.json, else
 * {home}/.config/gcloud/application_default_credentials.json), then the
 * metadata server. Scope: https://www.googleapis.com/auth/cloud-platform.
 *
 * What every Google authoriser does (sk_cloud_authz_ops_t in cloud.h):
 *
 *  authorize   adds "Authorization: Bearer <token>" (and, for an
 *              authorized_user file with quota_project_id,
 *              "x-goog-user-project: <id>", as google-auth does); the
 *              request itself is not looked at. The callback runs once,
 *              always from the loop (a 0 ms timer when the token is
 *              cached), with message "" on success.
 *  cache       a token is used as it is until SK_GCP_REFRESH_AHEAD_S
 *              before its expires_in runs out (counted from when it was
 *              asked for). Inside that window an authorize still gets it
 *              at once, and starts a refresh behind it; with under 30 s
 *              left (or none cached) the authorize waits for the new
 *              token. There is at most one token request in flight: N
 *              jobs asking at once cause one request. A refresh that
 *              fails while the token in hand has more than 30 s left is
 *              logged as a warning and the token goes on serving; the
 *              next authorize tries again.
 *  invalidate  drops the cached token (the API answered 401); the next
 *              authorize fetches. A request already in flight still
 *              counts: its token is newer than the refused one.
 *  errors      SK_EAUTH: a credentials file is missing (when named by
 *              GOOGLE_APPLICATION_CREDENTIALS) or bad, or a token endpoint
 *              or the metadata server answered 4xx other than 408/429;
 *              SK_EHTTP: 408, 429, 5xx or an unusable 2xx answer;
 *              SK_ENET / SK_ETIMEDOUT / SK_ECANCELED: as the HTTP client
 *              reports them; SK_EINVAL: a metadata host that is not
 *              host[:port]. Messages name the credential and its source,
 *              the endpoint and what it answered ("service account
 *              x@p.iam.gserviceaccount.com: token endpoint
 *              https://oauth2.googleapis.com/token answered 400
 *              invalid_grant: Invalid JWT Signature."), never a key, a
 *              JWT, a refresh token, a client secret or an access token;
 *              text quoted from an answer is dropped when it holds part
 *              of one. Failures are not cached: the next call tries again.
 *  requests    every credential request has a SK_GCP_REQUEST_TIMEOUT_MS
 *              total timeout and a 64 KiB answer cap; https endpoints use
 *              endpoints->ca_file as trust root when it is set.
 *  metadata    http://{host}/computeMetadata/v1/instance/service-accounts/
 *              default/token with "Metadata-Flavor: Google", where host is
 *              GCE_METADATA_HOST, else endpoints->gce_metadata_host, else
 *              metadata.google.internal (read at each request).
 *  destroy     callbacks still pending run with SK_ECANCELED, from the
 *              loop; requests in flight are cancelled; the memory is freed
 *              once the handle has closed (so the loop must run). From
 *              the call on, authorize and sk_gcp_project return
 *              SK_ESTATE. Safe from inside a callback.
 */
#ifndef SK_CLOUD_GCP_H
#define SK_CLOUD_GCP_H

#include <stddef.h>
#include <uv.h>

#include "cloud/cloud.h"
#include "http/http.h"

#define SK_GCP_SCOPE "https://www.googleapis.com/auth/cloud-platform"
#define SK_GCP_DEFAULT_TOKEN_URI "https://oauth2.googleapis.com/token"
#define SK_GCP_REFRESH_AHEAD_S 225 /* refresh 3m45s before expiry, as google-auth does */
#define SK_GCP_REQUEST_TIMEOUT_MS 30000 /* each token, metadata or project request */

/* A new authoriser (free with sk_cloud_authz_destroy) from a key file's
 * JSON text: a service_account key (client_email and private_key required,
 * an unencrypted PEM RSA key; private_key_id, project_id and token_uri
 * optional) or an authorized_user file (client_id, client_secret and
 * refresh_token required; quota_project_id and token_uri optional). The
 * text is parsed and checked now and not kept (the caller may wipe it at
 * once); nothing is sent before the first authorize. On bad JSON, a
 * missing, empty or mistyped field, an unsupported type or a key OpenSSL
 * cannot read: NULL and a message in err naming the field, never its
 * value ("credentials JSON: field \"private_key\" is missing").
 *
 * The token endpoint is endpoints->google_token_uri, else the file's
 * token_uri, else SK_GCP_DEFAULT_TOKEN_URI; the JWT's aud is that URL.
 * endpoints (may be NULL) are copied: google_token_uri, ca_file and
 * gce_metadata_host (for sk_gcp_project) are used. */
sk_cloud_authz_t *sk_gcp_authz_from_json(uv_loop_t *loop, sk_http_t *http,
                                         const sk_cloud_endpoints_t *endpoints, const char *json,
                                         size_t len, char *err, size_t errlen);

/* A new Application Default Credentials authoriser; NULL only when loop
 * or http is NULL or memory runs out. The source is picked at the first
 * authorize or sk_gcp_project (so that a missing file or an unreachable
 * metadata server is a step error, not a start-up failure), with files
 * read off the loop (uv_queue_work):
 *  1. GOOGLE_APPLICATION_CREDENTIALS names a file: it must be readable and
 *     valid (as sk_gcp_authz_from_json), else SK_EAUTH naming the file;
 *  2. else gcloud's ADC file (CLOUDSDK_CONFIG's folder, else
 *     {endpoints->home or $HOME}/.config/gcloud): when absent, go on; when
 *     there but bad, SK_EAUTH naming the file and the field;
 *  3. else the metadata server.
 * A failed pick is tried again at the next call; a successful one holds
 * for the authoriser's life (description then names it). endpoints (may
 * be NULL) are copied: google_token_uri, gce_metadata_host, home and
 * ca_file are used. */
sk_cloud_authz_t *sk_gcp_authz_default(uv_loop_t *loop, sk_http_t *http,
                                       const sk_cloud_endpoints_t *endpoints);

/* The project to use when a step names none: the service-account key's
 * project_id, then GOOGLE_CLOUD_PROJECT (read at each call), then the
 * metadata server's /computeMetadata/v1/project/project-id (asked once and
 * remembered; concurrent calls share one request). An ADC authoriser
 * picks its source first. cb runs once, from the loop, never from inside
 * this call, with rc 0, the project (borrowed for the call) and message
 * "", or rc < 0, project NULL and a message saying what was tried
 * ("no project: service account x names none, GOOGLE_CLOUD_PROJECT is
 * unset, and metadata server h answered 404: Not Found"). Returns 0, or
 * without a callback SK_EINVAL (a is not a Google authoriser, cb NULL),
 * SK_ESTATE (destroy began), SK_ENOMEM. */
typedef void (*sk_gcp_project_cb)(int rc, const char *project, const char *message, void *arg);
int sk_gcp_project(sk_cloud_authz_t *a, sk_gcp_project_cb cb, void *arg);

#endif
