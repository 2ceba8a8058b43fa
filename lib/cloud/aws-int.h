/*
 * Private declarations shared by the AWS files of lib/cloud: the pure
 * SigV4 pieces (aws_sigv4.c), the pure parsers of credential sources
 * (aws_parse.c), the credential chain's fetches (aws_creds.c) and the
 * authoriser object that ties them to the loop (aws_authz.c). Nothing
 * outside lib/cloud includes this.
 */
#ifndef SK_CLOUD_AWS_INT_H
#define SK_CLOUD_AWS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cloud/aws.h"
#include "util/buf.h"

#define SK__AWS_MAX_CANONICAL (64u << 10) /* cap on a canonical request */
#define SK__AWS_MAX_HOST 300              /* "host[:port]" of a URL */
#define SK__AWS_DEFAULT_STS "https://sts.{region}.amazonaws.com"
#define SK__AWS_DEFAULT_IMDS "http://169.254.169.254"
#define SK__AWS_ECS_HOST "http://169.254.170.2"

/* ---- SigV4 (aws_sigv4.c, pure) ---- */

/* What SigV4 needs of a URL. path and query point into the URL. */
typedef struct {
  char host[SK__AWS_MAX_HOST]; /* as signed: lowercase, the port only when not the default */
  const char *path;            /* from the first '/' after the authority; "" when none */
  size_t path_len;
  const char *query;           /* after '?', up to '#' or the end; NULL when no '?' */
  size_t query_len;
  bool https;
} sk__aws_url_t;

/* Splits an http(s) URL. SK_EINVAL for another scheme, userinfo, an empty
 * or oversized host, a bad port or a control character. */
int sk__aws_url_split(const char *url, sk__aws_url_t *u);

/* Lowercase hex SHA-256 of n bytes (out holds 65). */
void sk__aws_sha256_hex(const void *p, size_t n, char out[65]);

/* Appends s percent-encoded the SigV4 way: every byte but A-Z a-z 0-9
 * - _ . ~ (and '/' when keep_slash) becomes %XX with upper-case hex. */
int sk__aws_uri_encode(sk_buf_t *b, const char *s, size_t n, bool keep_slash);

/* The canonical request of SigV4 (step 2) into out, and its signed-header
 * list (";"-joined) into signed_headers. payload_hash is the lowercase
 * hex SHA-256 of the body. Same rules and errors as sk_aws_sigv4_sign. */
int sk__aws_canonical_request(const char *method, const char *url, const char *const *headers,
                              const char *payload_hash, sk_buf_t *out, char *signed_headers,
                              size_t shlen);

/* sk_aws_sigv4_sign with the payload's hash instead of the payload, so
 * that the authoriser hashes a body once, when it is handed over. */
int sk__aws_sigv4_sign_hashed(const sk_aws_creds_t *creds, const char *region,
                              const char *service, const char *method, const char *url,
                              const char *const *headers, const char *payload_hash,
                              const char *amz_date, char *out, size_t outlen);

/* ---- parsers of credential sources (aws_parse.c, pure) ---- */

/* Frees the strings of c after overwriting them with zeros; c is left
 * empty. Safe on an empty or partly filled struct. */
void sk__aws_creds_release(sk_aws_creds_t *c);
/* Zeroes a secret string and frees it. Safe on NULL. */
void sk__aws_wipe_free(char *s);

/* True when s is a non-empty run of printable ASCII without spaces (what
 * an access key id, a session token or a header token may hold). */
bool sk__aws_token_ok(const char *s);

/* Looks up profile in the text of a shared credentials file (INI: [name]
 * sections, "key = value" lines, '#' and ';' comments at the start of a
 * line or after whitespace, names compared case-insensitively, later
 * values overriding earlier ones). Returns 0 with out filled (new
 * strings); SK_ENOENT when there is no such section; SK_EINVALID when the
 * section has neither aws_access_key_id nor aws_secret_access_key;
 * SK_EINVAL when it has only one of them or a value holds characters a
 * header cannot carry (err says which key, never a value). */
int sk__aws_ini_profile(const char *text, size_t len, const char *profile, sk_aws_creds_t *out,
                        char *err, size_t errlen);

/* The text of the first element whose enclosing element names end with
 * path ("A/B/C": a C inside a B inside an A, at any depth), with the five
 * predefined entities and character references decoded and CDATA taken
 * as is. New string in *out. SK_ENOENT when there is no such element,
 * SK_EPARSE when the document is not well formed up to it or the element
 * holds child elements, SK_ETOOBIG past the depth cap. Namespace prefixes
 * are ignored. */
int sk__aws_xml_text(const char *doc, size_t len, const char *path, char **out);

/* An STS AssumeRoleWithWebIdentity answer (status and body). On 200 fills
 * out from AssumeRoleWithWebIdentityResult/Credentials and returns 0. On
 * an error answer returns SK_EAUTH (refused) or SK_EHTTP (5xx, throttling
 * and the identity provider's transient failures: worth retrying) and
 * puts "CODE: Message" from ErrorResponse/Error into msg, cut to msglen
 * (or the status alone when the body says nothing). A 200 without usable
 * credentials is SK_EHTTP with msg saying what was missing. */
int sk__aws_sts_parse(long status, const char *body, size_t len, sk_aws_creds_t *out, char *msg,
                      size_t msglen);

/* The JSON that the container credentials endpoint and IMDS answer:
 * AccessKeyId, SecretAccessKey, Token (optional), Expiration (optional,
 * ISO 8601), and IMDS's Code ("Success"). 0 with out filled, or SK_EPARSE
 * / SK_EINVAL / SK_EAUTH (a Code other than Success) with msg naming the
 * field. */
int sk__aws_json_creds(const char *body, size_t len, sk_aws_creds_t *out, char *msg,
                       size_t msglen);

/* Replaces "{region}" in tmpl with region into out. SK_ETOOBIG. */
int sk__aws_fill_region(const char *tmpl, const char *region, char *out, size_t outlen);

/* Overwrites with '*' every occurrence in msg of each non-empty string of
 * secrets (NULL-terminated list, entries may be NULL), so that a server
 * echoing a token cannot put it into a message. */
void sk__aws_redact(char *msg, const char *const *secrets, size_t nsecrets);

/* Reads a small file (at most max bytes) into a new string. SK_ENOENT,
 * SK_EIO (errno set), SK_ETOOBIG. */
int sk__aws_read_file(const char *path, size_t max, char **out, size_t *outlen);

/* Trims ASCII whitespace at both ends of s in place; returns s. */
char *sk__aws_trim(char *s);

/* ---- the authoriser (aws_authz.c) and its credential fetches (aws_creds.c) ---- */

typedef enum {
  SK__AWS_SRC_NONE,      /* the chain has not found a source yet */
  SK__AWS_SRC_STATIC,    /* keys given to sk_aws_authz_static */
  SK__AWS_SRC_ENV,
  SK__AWS_SRC_FILE,
  SK__AWS_SRC_WEBID,
  SK__AWS_SRC_CONTAINER,
  SK__AWS_SRC_IMDS,
} sk__aws_src_t;

/* States of a credential fetch; one transition function (fetch_to in
 * aws_creds.c) moves between them and logs each move at -v 2. */
typedef enum {
  SK__AWS_F_IDLE,
  SK__AWS_F_STS,          /* AssumeRoleWithWebIdentity in flight */
  SK__AWS_F_CONTAINER,    /* the container credentials GET in flight */
  SK__AWS_F_IMDS_TOKEN,   /* the IMDSv2 session token PUT in flight */
  SK__AWS_F_IMDS_ROLE,    /* the role name GET in flight */
  SK__AWS_F_IMDS_CREDS,   /* the role's credentials GET in flight */
} sk__aws_fstate_t;

/* One authorize call waiting for its answer: what signing needs, copied. */
typedef struct sk__aws_waiter {
  struct sk__aws_waiter *next;
  sk_cloud_auth_cb cb;
  void *arg;
  char *method;
  char *url;
  char *region;
  char *service;
  char **sign_headers; /* the request's content-type and x-amz-target lines */
  size_t nsign;
  char payload_hash[65];
  int64_t now_ms;
} sk__aws_waiter_t;

typedef struct sk__aws_authz {
  sk_cloud_authz_t base; /* first: the public handle */
  uv_loop_t *loop;
  sk_http_t *http;       /* borrowed; NULL for the static authoriser */
  uv_timer_t kick;       /* answers waiters from the loop */

  /* Configuration, copied at creation. */
  char *sts_endpoint;    /* template with {region} */
  char *imds_endpoint;   /* base URL, no trailing '/' */
  char *ca_file;
  char *home;

  /* The credentials, and the source that gave them. */
  sk_aws_creds_t creds;
  bool have;
  int64_t fetched_ms;    /* the request clock when they were fetched */
  sk__aws_src_t source;  /* remembered once the chain found one */

  /* The fetch in flight. */
  bool fetching;
  sk__aws_fstate_t fstate;
  sk_http_req_t *req;    /* the HTTP request in flight, or NULL */
  sk__aws_src_t trying;  /* the source being tried */
  bool resolving;        /* walking the chain (no remembered source) */
  int64_t fetch_now_ms;
  char *secret;          /* the fetch's own secret (web identity token, container
                            authorisation token, IMDSv2 session token): wiped */
  char *role;            /* role ARN (web identity) or IMDS role name, for messages */
  char *url;             /* the URL being fetched, for messages */
  int nothing_rc;        /* what "nothing here" means when the source is remembered */
  sk_buf_t notes;        /* what each source said, for "no AWS credentials: ..." */
  char msg[SK_CLOUD_MAX_MESSAGE];

  /* Waiters, in arrival order. */
  sk__aws_waiter_t *head, *tail;
  int dispatching;       /* > 0 while callbacks run */
  bool destroying;
  bool closing;
} sk__aws_authz_t;

/* Starts fetching credentials for a (the chain, or the remembered
 * source). Returns 1 when requests are in flight (sk__aws_fetch_done
 * follows from the loop), 0 when a->creds were set at once, or < 0 with
 * a->msg set. */
int sk__aws_fetch_start(sk__aws_authz_t *a, int64_t now_ms);
/* Cancels the fetch's request, if any (destroy). */
void sk__aws_fetch_cancel(sk__aws_authz_t *a);
/* Releases what a fetch holds (destroy, and the end of each fetch). */
void sk__aws_fetch_release(sk__aws_authz_t *a);
/* Called by aws_creds.c when an asynchronous fetch ends: rc 0 with
 * a->creds set, or < 0 with a->msg set. */
void sk__aws_fetch_done(sk__aws_authz_t *a, int rc);
/* Installs c (moved: c is left empty) as a's credentials. */
void sk__aws_set_creds(sk__aws_authz_t *a, sk_aws_creds_t *c);

#endif
