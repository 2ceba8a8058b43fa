/*
 * Google Cloud authorisation without an SDK: a service-account key signs
 * an RS256 JWT (openssl) that the token endpoint exchanges for an access
 * token (jwt-bearer grant); or Application Default Credentials: the file
 * named by GOOGLE_APPLICATION_CREDENTIALS, then gcloud's ADC file
 * (~/.config/gcloud/application_default_credentials.json: a service
 * account key or an authorized_user refresh token), then the metadata
 * server (GCE, GKE Workload Identity; GCE_METADATA_HOST). The token is
 * cached and refreshed ahead of expiry (SK_GCP_REFRESH_AHEAD_S), and once
 * more when the API answers 401 (sk_cloud_authz_invalidate). Scope:
 * https://www.googleapis.com/auth/cloud-platform.
 *
 * The authorisers add "Authorization: Bearer <token>". No key, JWT or
 * token ever appears in a message.
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

/* An authoriser from a key file's JSON text (a service_account key, or an
 * authorized_user ADC file). The text is parsed and checked now (bad JSON,
 * a missing field, a key openssl cannot read → NULL with a message in err
 * naming the field, never its value). endpoints: google_token_uri and
 * ca_file are used (copied). */
sk_cloud_authz_t *sk_gcp_authz_from_json(uv_loop_t *loop, sk_http_t *http,
                                         const sk_cloud_endpoints_t *endpoints, const char *json,
                                         size_t len, char *err, size_t errlen);

/* Application Default Credentials, resolved at the first authorize (so
 * that a missing file or an unreachable metadata server is a step error,
 * not a start-up failure), in the order above. */
sk_cloud_authz_t *sk_gcp_authz_default(uv_loop_t *loop, sk_http_t *http,
                                       const sk_cloud_endpoints_t *endpoints);

/* The project to use when a step names none: the key's project_id, then
 * GOOGLE_CLOUD_PROJECT, then the metadata server's project/project-id.
 * cb runs once from the loop with rc 0 and the project, or rc < 0 and a
 * message. a must be a GCP authoriser. */
typedef void (*sk_gcp_project_cb)(int rc, const char *project, const char *message, void *arg);
int sk_gcp_project(sk_cloud_authz_t *a, sk_gcp_project_cb cb, void *arg);

#endif
