/*
 * AWS authorisation without an SDK: Signature Version 4 over a request
 * (sk_aws_sigv4_sign, pure, checked against the published test-suite
 * vectors), and the credential chain of the AWS SDKs: environment
 * (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), the
 * shared credentials file and profile (AWS_SHARED_CREDENTIALS_FILE,
 * AWS_PROFILE), web identity (IRSA: AWS_WEB_IDENTITY_TOKEN_FILE +
 * AWS_ROLE_ARN → STS AssumeRoleWithWebIdentity), container credentials
 * (AWS_CONTAINER_CREDENTIALS_FULL_URI + AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE,
 * EKS Pod Identity and ECS), then IMDSv2. Temporary credentials are
 * refreshed at least SK_AWS_REFRESH_AHEAD_S before they expire.
 *
 * The authorisers sign with the request's region and service
 * (sk_cloud_request_t.region/service) and add X-Amz-Date,
 * X-Amz-Security-Token (session credentials), X-Amz-Content-Sha256 is not
 * sent (SageMaker does not need it) and Authorization. No key, token or
 * signature ever appears in a message.
 */
#ifndef SK_CLOUD_AWS_H
#define SK_CLOUD_AWS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cloud/cloud.h"
#include "http/http.h"

#define SK_AWS_REFRESH_AHEAD_S 600

typedef struct sk_aws_creds {
  char *access_key_id;
  char *secret_access_key;
  char *session_token;   /* NULL for long-term keys */
  int64_t expires_ms;    /* 0 = does not expire */
} sk_aws_creds_t;

/* SigV4 of one request (pure). amz_date is "YYYYMMDDTHHMMSSZ". headers are
 * the "Name: value" lines the request will carry (host is taken from the
 * URL and always signed). Writes the Authorization header's value into
 * out. SK_EINVAL on a malformed URL or header, SK_ETOOBIG when out is too
 * small. */
int sk_aws_sigv4_sign(const sk_aws_creds_t *creds, const char *region, const char *service,
                      const char *method, const char *url, const char *const *headers,
                      const char *body, size_t body_len, const char *amz_date, char *out,
                      size_t outlen);

/* An authoriser with fixed keys (a Kubernetes Secret's, say); copied. */
sk_cloud_authz_t *sk_aws_authz_static(uv_loop_t *loop, const char *access_key_id,
                                      const char *secret_access_key, const char *session_token);

/* The default credential chain, resolved at the first authorize (a missing
 * credential is a step error, not a start-up failure). endpoints:
 * sts_endpoint, imds_endpoint, ca_file and home are used (copied). */
sk_cloud_authz_t *sk_aws_authz_default(uv_loop_t *loop, sk_http_t *http,
                                       const sk_cloud_endpoints_t *endpoints);

#endif
