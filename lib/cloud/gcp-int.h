/*
 * Private declarations of the Google authorisers (gcp.c: the asynchronous
 * authoriser on the loop; gcp_cred.c: the pure parts, which parse key
 * files, build and sign the JWT, and read a token endpoint's answer).
 * Nothing outside lib/cloud includes this, except the unit test of these
 * files.
 */
#ifndef SK_CLOUD_GCP_INT_H
#define SK_CLOUD_GCP_INT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "util/buf.h"

#define SK__GCP_MESSAGE_MAX 512 /* same as SK_CLOUD_MAX_MESSAGE */

/* What kind of credential an authoriser holds. */
typedef enum {
  SK__GCP_NONE = 0,         /* Application Default Credentials not resolved yet */
  SK__GCP_SERVICE_ACCOUNT,  /* a service_account key: signs a JWT */
  SK__GCP_USER,             /* an authorized_user file: a refresh token */
  SK__GCP_METADATA          /* the GCE/GKE metadata server */
} sk__gcp_kind_t;

/* A parsed credential. Strings are owned; secrets (the key, the client
 * secret, the refresh token) are wiped when released. */
typedef struct {
  sk__gcp_kind_t kind;
  /* service_account */
  char *client_email;
  char *private_key_id; /* may be NULL: the JWT then carries no kid */
  char *project_id;     /* may be NULL */
  char *token_uri;      /* may be NULL: the default */
  EVP_PKEY *pkey;
  /* authorized_user (token_uri above applies too) */
  char *client_id;
  char *client_secret;
  char *refresh_token;
  char *quota_project_id; /* may be NULL; sent as x-goog-user-project */
} sk__gcp_cred_t;

/* Writes a formatted message to err (when not NULL and errlen > 0) and
 * returns code. */
int sk__gcp_errf(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Parses a key file's JSON text into c: a service_account key or an
 * authorized_user file. label names the source in messages ("service
 * account key", "GOOGLE_APPLICATION_CREDENTIALS file /x.json"). On failure
 * returns SK_EPARSE (not JSON), SK_EINVALID (a field missing, of the wrong
 * type or unusable, named in err without its value), SK_ENOMEM; c is then
 * empty. */
int sk__gcp_cred_parse(const char *json, size_t len, const char *label, sk__gcp_cred_t *c,
                       char *err, size_t errlen);
/* Frees and wipes the members of c, which may be partly filled. */
void sk__gcp_cred_release(sk__gcp_cred_t *c);

/* Appends the base64url encoding of len bytes (no padding) to out. */
int sk__gcp_b64url(const void *data, size_t len, sk_buf_t *out);

/* Builds and signs the RS256 JWT of a service_account credential:
 * header {"alg":"RS256","typ":"JWT","kid":private_key_id}, claims iss =
 * client_email, scope, aud, iat = now_s, exp = now_s + 3600. *out is a new
 * string the caller wipes (sk__gcp_wipe_free): it is a credential. */
int sk__gcp_jwt(const sk__gcp_cred_t *c, const char *aud, const char *scope, int64_t now_s,
                char **out);

/* The token request's form body: the jwt-bearer grant with assertion jwt
 * for a service account, the refresh_token grant for an authorized_user.
 * New strings that hold credentials: wipe them. */
int sk__gcp_form_jwt_bearer(const char *jwt, char **out);
int sk__gcp_form_refresh(const sk__gcp_cred_t *c, char **out);

/* Reads the answer of a token endpoint or of the metadata server's token
 * path. what names the endpoint in messages ("token endpoint https://…").
 * secrets is a NULL-terminated list of strings (the assertion, the client
 * secret, the refresh token; NULL entries end it early) that the message
 * must not contain: text from the answer that holds one is left out.
 *
 * 2xx with a usable access_token: 0, *token (new; wipe it) and
 * *expires_in_s (3600 when the answer gives none). Otherwise a message
 * like "token endpoint https://… answered 400 invalid_grant: Invalid JWT
 * Signature." and SK_EAUTH for 4xx (the credentials were refused, or are
 * missing), SK_EHTTP for 408, 429, 5xx and anything else (worth retrying).
 */
int sk__gcp_token_answer(long status, const char *body, size_t len, const char *what,
                         const char *const *secrets, char **token, int64_t *expires_in_s,
                         char *msg, size_t msglen);

/* Reads the metadata server's answer to project/project-id: 0 and *project
 * (new), or an error coded as sk__gcp_token_answer does. */
int sk__gcp_project_answer(long status, const char *body, size_t len, const char *what,
                           char **project, char *msg, size_t msglen);

/* Zeroes a NUL-terminated secret and frees it. Safe on NULL. */
void sk__gcp_wipe_free(char *s);

#endif
