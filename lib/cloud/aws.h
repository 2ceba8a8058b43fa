/*
 * AWS authorisation without an SDK: Signature Version 4 over a request
 * (sk_aws_sigv4_sign, pure, checked against the published test-suite
 * vectors and against botocore), and the credential chain of the AWS
 * SDKs: environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN), the shared credentials file and profile
 * (AWS_SHARED_CREDENTIALS_FILE, AWS_PROFILE), web identity (IRSA:
 * AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN → STS
 * AssumeRoleWithWebIdentity), container credentials
 * (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI with
 * AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE or _TOKEN: ECS, EKS Pod
 * Identity), then IMDSv2. Temporary credentials are refreshed
 * SK_AWS_REFRESH_AHEAD_S before they expire.
 *
 * The authorisers sign with the request's region and service
 * (sk_cloud_request_t.region/service, both required; authorize returns
 * SK_EINVAL without them) at the request's now_ms (0: the current time),
 * which also decides whether cached credentials are fresh, and add three
 * headers: X-Amz-Date, X-Amz-Security-Token (only with session
 * credentials) and Authorization. They sign host, x-amz-date,
 * x-amz-security-token, and the request's own content-type and
 * x-amz-target lines when it has them; other headers (Accept,
 * User-Agent) are sent unsigned, since a proxy may change them. No
 * X-Amz-Content-Sha256 is sent: only S3 requires it, and the payload's
 * hash is part of the signature anyway.
 *
 * No key, secret, token or signature ever appears in a message or a log
 * line.
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

/*
 * SigV4 of one request (pure). amz_date is "YYYYMMDDTHHMMSSZ"
 * (sk_aws_amz_date). headers are the "Name: value" lines the request will
 * carry and sign (NULL-terminated, may be NULL): they must include
 * "X-Amz-Date: <amz_date>", and "X-Amz-Security-Token: <token>" when
 * creds has a session token. The Host is taken from the URL (lowercase,
 * with its port unless it is the scheme's default, as curl sends it) and
 * always signed; a Host line among headers must say the same. Names are
 * lowercased, values trimmed with inner runs of spaces made one, repeated
 * names joined with ',' in their given order. The path is normalised
 * (".", "..", "//") and every byte but A-Z a-z 0-9 - _ . ~ / encoded, so
 * an escape already in the URL is encoded again, as AWS checks it for
 * every service but S3; query parameters are decoded, encoded again and
 * sorted ('+' is a literal plus: write a space as %20). body may be NULL.
 * Writes the Authorization header's value ("AWS4-HMAC-SHA256
 * Credential=..., SignedHeaders=..., Signature=...") into out.
 * SK_EINVAL on a malformed URL, header, method, region, service or date,
 * a missing or different X-Amz-Date or X-Amz-Security-Token line, or an
 * Authorization line; SK_ETOOBIG when out is too small (512 bytes plus
 * the length of the signed header names always suffice).
 */
int sk_aws_sigv4_sign(const sk_aws_creds_t *creds, const char *region, const char *service,
                      const char *method, const char *url, const char *const *headers,
                      const char *body, size_t body_len, const char *amz_date, char *out,
                      size_t outlen);

/* Formats ms since the Unix epoch as SigV4's "YYYYMMDDTHHMMSSZ" (UTC).
 * out must hold 17 bytes. SK_EINVAL for a negative time. */
int sk_aws_amz_date(int64_t ms, char *out, size_t outlen);

/*
 * An authoriser with fixed keys (a Kubernetes Secret's, say); copied, with
 * whitespace around each value trimmed (a Secret made from a file often
 * ends in a newline). session_token may be NULL or "". NULL when a key is
 * missing or holds spaces or control characters inside, or when memory
 * runs out. invalidate does nothing: there is nothing to fetch again.
 */
sk_cloud_authz_t *sk_aws_authz_static(uv_loop_t *loop, const char *access_key_id,
                                      const char *secret_access_key, const char *session_token);

/*
 * The default credential chain, resolved at the first authorize (a
 * missing credential is a step error, not a start-up failure), in this
 * order; the first source that is configured decides, and is remembered
 * for later refreshes:
 *
 *  1. environment: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY
 *     [+ AWS_SESSION_TOKEN]; only one of the two is an error.
 *  2. shared credentials file: AWS_SHARED_CREDENTIALS_FILE or
 *     {home}/.aws/credentials, profile AWS_PROFILE or "default". A profile
 *     named by AWS_PROFILE that is missing (or a missing file) is an
 *     error; a missing default profile, or one without keys, is not.
 *  3. web identity: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN
 *     [+ AWS_ROLE_SESSION_NAME, default "skein-<epoch seconds>"]: an
 *     unsigned form POST of AssumeRoleWithWebIdentity to sts_endpoint,
 *     "{region}" being AWS_REGION, AWS_DEFAULT_REGION or us-east-1. The
 *     token file is read again at every fetch (it rotates).
 *  4. container: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (against
 *     http://169.254.170.2) or AWS_CONTAINER_CREDENTIALS_FULL_URI (https,
 *     a loopback address, or the ECS/EKS agents' addresses), with
 *     "Authorization:" from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (read
 *     at every fetch) or AWS_CONTAINER_AUTHORIZATION_TOKEN.
 *  5. IMDSv2 at imds_endpoint (unless AWS_EC2_METADATA_DISABLED=true):
 *     PUT /latest/api/token, GET the role name, GET its credentials, with
 *     the session token on both GETs. IMDSv1 (no token) is not used.
 *     Unreachable, or without a role, means no credentials here.
 *
 * Credentials with an Expiration are fetched again when a request's
 * now_ms is within SK_AWS_REFRESH_AHEAD_S of it; concurrent authorize
 * calls share one fetch; invalidate drops the credentials so the next
 * authorize fetches again. Errors in the result: SK_EAUTH when no source
 * has credentials (the message lists what each said: "no AWS credentials:
 * tried environment (AWS_ACCESS_KEY_ID unset), shared file ... , IMDS
 * (...)"), a source is misconfigured, or STS or an endpoint refused (4xx);
 * SK_ENET / SK_ETIMEDOUT when STS, the container endpoint or a
 * remembered IMDS cannot be reached, SK_EHTTP when one answers 5xx or
 * throttles (worth retrying later). Every request has a timeout (STS
 * 10 s, container 5 s, IMDS 2 s with 1 s to connect).
 *
 * endpoints may be NULL; its sts_endpoint, imds_endpoint, ca_file and home
 * are used (copied; NULL means the default). http is borrowed and must
 * outlive the authoriser. Returns NULL when loop or http is NULL or memory
 * runs out.
 */
sk_cloud_authz_t *sk_aws_authz_default(uv_loop_t *loop, sk_http_t *http,
                                       const sk_cloud_endpoints_t *endpoints);

#endif
