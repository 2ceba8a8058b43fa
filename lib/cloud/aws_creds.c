/*
 * The AWS credential chain, as the AWS SDKs walk it: environment, shared
 * credentials file, web identity (STS AssumeRoleWithWebIdentity),
 * container credentials, IMDSv2. The first source that is configured
 * decides: when it fails, the chain stops with its error rather than
 * quietly trying the next (a named profile that does not exist, a token
 * file that cannot be read, STS refusing the role). Once a source has
 * given credentials it is remembered, and refreshes ask only it.
 *
 * A fetch is a small state machine (sk__aws_fstate_t) over the shared
 * HTTP client; fetch_to is its one transition function. Every request
 * has a timeout: IMDS's are short (1 s to connect, 2 s in all, as the
 * SDKs use), since off EC2 it is usually unreachable and the chain must
 * not hang on it.
 *
 * Messages name sources, files, URLs, roles and codes, never a key, a
 * secret, a token or a signature; whatever a server says is cleaned of
 * control characters and of the fetch's own secrets before it is used.
 */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cloud/aws-int.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strutil.h"
#include "util/timeutil.h"

#define LOGGER "aws"
#define NOTHING 2 /* a source step found nothing: try the next source */

#define CREDS_FILE_MAX (1u << 20)
#define TOKEN_FILE_MAX (64u << 10)
#define STS_TIMEOUT_MS 10000
#define STS_CONNECT_MS 5000
#define CONTAINER_TIMEOUT_MS 5000
#define CONTAINER_CONNECT_MS 2000
#define IMDS_TIMEOUT_MS 2000
#define IMDS_CONNECT_MS 1000
#define REPLY_MAX (256u << 10)
#define IMDS_TOKEN_TTL "21600"

static const char *const fstate_names[] = {"idle",       "sts",       "container",
                                           "imds-token", "imds-role", "imds-creds"};

static const char *const src_names[] = {"none",         "static",    "environment", "shared file",
                                        "web identity", "container", "IMDS"};

/* The transition function of a fetch. */
static void fetch_to(sk__aws_authz_t *a, sk__aws_fstate_t to) {
  if (a->fstate != to)
    sk_log_v(2, LOGGER, "credential fetch (%s): %s -> %s", src_names[a->trying],
             fstate_names[a->fstate], fstate_names[to]);
  a->fstate = to;
}

void sk__aws_fetch_release(sk__aws_authz_t *a) {
  sk__aws_wipe_free(a->secret);
  a->secret = NULL;
  free(a->role);
  a->role = NULL;
  free(a->url);
  a->url = NULL;
}

void sk__aws_fetch_cancel(sk__aws_authz_t *a) {
  if (a->req)
    sk_http_cancel(a->req);
}

static const char *env(const char *name) {
  const char *v = getenv(name);
  return v && *v ? v : NULL;
}

/* Sets a->msg, redacted of the fetch's secret. */
__attribute__((format(printf, 2, 3))) static void setmsg(sk__aws_authz_t *a, const char *fmt,
                                                         ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(a->msg, sizeof(a->msg), fmt, ap);
  va_end(ap);
  const char *secrets[] = {a->secret};
  sk__aws_redact(a->msg, secrets, 1);
}

/* Records what a source said for the "no AWS credentials" message, and
 * the same text as the message when the source is remembered. */
__attribute__((format(printf, 3, 4))) static int nothing(sk__aws_authz_t *a, int rc,
                                                         const char *fmt, ...) {
  char note[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(note, sizeof(note), fmt, ap);
  va_end(ap);
  const char *secrets[] = {a->secret};
  sk__aws_redact(note, secrets, 1);
  sk_buf_printf(&a->notes, "%s%s", a->notes.len ? ", " : "", note);
  snprintf(a->msg, sizeof(a->msg), "%s", note);
  a->nothing_rc = rc;
  return NOTHING;
}

/* A transport failure in words: "timed out", "connection failed: ...". */
static void transport_words(const sk_http_resp_t *resp, char *out, size_t outlen) {
  if (resp->error == SK_ETIMEDOUT)
    snprintf(out, outlen, "timed out");
  else if (resp->error == SK_ENET)
    snprintf(out, outlen, "connection failed: %.160s",
             resp->error_text ? resp->error_text : "network error");
  else
    snprintf(out, outlen, "%s", sk_strerror(resp->error));
}

static int start_http(sk__aws_authz_t *a, const char *method, const char *url,
                      const char *const *headers, const char *body, size_t body_len,
                      long timeout_ms, long connect_ms, sk__aws_fstate_t state);

/* ---- environment ---- */

static int env_source(sk__aws_authz_t *a) {
  const char *ak = env("AWS_ACCESS_KEY_ID"), *sk = env("AWS_SECRET_ACCESS_KEY");
  const char *tok = env("AWS_SESSION_TOKEN");
  if (!ak && !sk)
    return nothing(a, SK_EAUTH, "environment (AWS_ACCESS_KEY_ID unset)");
  if (!ak || !sk) {
    setmsg(a, "%s is set but %s is not", ak ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
           ak ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
    return SK_EAUTH;
  }
  if (!sk__aws_token_ok(ak) || !sk__aws_token_ok(sk) || (tok && !sk__aws_token_ok(tok))) {
    setmsg(a, "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or AWS_SESSION_TOKEN holds spaces or "
              "control characters");
    return SK_EAUTH;
  }
  sk_aws_creds_t c = {0};
  if (!(c.access_key_id = strdup(ak)) || !(c.secret_access_key = strdup(sk)) ||
      (tok && !(c.session_token = strdup(tok)))) {
    sk__aws_creds_release(&c);
    setmsg(a, "out of memory");
    return SK_ENOMEM;
  }
  sk__aws_set_creds(a, &c);
  snprintf(a->base.description, sizeof(a->base.description),
           "AWS credentials from the environment");
  return 0;
}

/* ---- shared credentials file ---- */

static int file_source(sk__aws_authz_t *a) {
  const char *explicit_path = env("AWS_SHARED_CREDENTIALS_FILE");
  const char *named = env("AWS_PROFILE");
  const char *profile = named ? named : "default";
  char path[1024];
  if (explicit_path) {
    snprintf(path, sizeof(path), "%s", explicit_path);
  } else {
    const char *home = a->home ? a->home : env("HOME");
    if (!home) {
      if (named) {
        setmsg(a, "AWS_PROFILE names profile %s, but there is no home directory to find "
                  "~/.aws/credentials in",
               profile);
        return SK_EAUTH;
      }
      return nothing(a, SK_EAUTH, "shared file (no home directory)");
    }
    snprintf(path, sizeof(path), "%s/.aws/credentials", home);
  }
  char *text = NULL;
  size_t len = 0;
  int rc = sk__aws_read_file(path, CREDS_FILE_MAX, &text, &len);
  if (rc == SK_ENOENT) {
    if (named) {
      setmsg(a, "AWS_PROFILE names profile %s, but the shared credentials file %s does not exist",
             profile, path);
      return SK_EAUTH;
    }
    return nothing(a, SK_EAUTH, "shared file %s (profile %s: no such file)", path, profile);
  }
  if (rc) {
    setmsg(a, "shared credentials file %s: cannot read: %s", path,
           rc == SK_ETOOBIG ? "larger than 1 MiB"
           : rc == SK_EIO   ? strerror(errno)
                            : sk_strerror(rc));
    return SK_EAUTH;
  }
  sk_aws_creds_t c;
  char err[128];
  rc = sk__aws_ini_profile(text, len, profile, &c, err, sizeof(err));
  sk__aws_wipe_free(text);
  if (rc == SK_ENOENT || rc == SK_EINVALID) {
    /* The default profile may be absent, or hold only settings such as
     * region: then another source is meant. A profile asked for by name
     * must be there. */
    if (named) {
      if (rc == SK_ENOENT)
        setmsg(a, "profile %s not found in the shared credentials file %s", profile, path);
      else
        setmsg(a, "profile %s in the shared credentials file %s %s", profile, path, err);
      return SK_EAUTH;
    }
    return nothing(a, SK_EAUTH, "shared file %s (%s)", path,
                   rc == SK_ENOENT ? "no profile default" : "profile default has no keys");
  }
  if (rc) {
    if (rc == SK_ENOMEM)
      setmsg(a, "out of memory");
    else
      setmsg(a, "profile %s in the shared credentials file %s %s", profile, path, err);
    return rc == SK_ENOMEM ? rc : SK_EAUTH;
  }
  sk__aws_set_creds(a, &c);
  snprintf(a->base.description, sizeof(a->base.description),
           "AWS shared credentials file, profile %s", profile);
  return 0;
}

/* ---- web identity ---- */

/* Reads a token file that rotates: trimmed, one printable token. */
static int read_token_file(sk__aws_authz_t *a, const char *what, const char *path, char **out) {
  char *s = NULL;
  int rc = sk__aws_read_file(path, TOKEN_FILE_MAX, &s, NULL);
  if (rc) {
    setmsg(a, "%s %s: cannot read: %s", what, path,
           rc == SK_ETOOBIG  ? "larger than 64 KiB"
           : rc == SK_ENOENT ? "no such file"
           : rc == SK_EIO    ? strerror(errno)
                             : sk_strerror(rc));
    return SK_EAUTH;
  }
  sk__aws_trim(s);
  if (!sk__aws_token_ok(s)) {
    sk__aws_wipe_free(s);
    setmsg(a, "%s %s: %s", what, path,
           "is empty or holds whitespace or control characters inside the token");
    return SK_EAUTH;
  }
  *out = s;
  return 0;
}

static int webid_source(sk__aws_authz_t *a) {
  const char *tf = env("AWS_WEB_IDENTITY_TOKEN_FILE"), *role = env("AWS_ROLE_ARN");
  if (!tf)
    return nothing(a, SK_EAUTH, "web identity (AWS_WEB_IDENTITY_TOKEN_FILE unset)");
  if (!role) {
    setmsg(a, "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not");
    return SK_EAUTH;
  }
  /* Read at every fetch: the kubelet rotates the projected token. */
  int rc = read_token_file(a, "web identity token file", tf, &a->secret);
  if (rc)
    return rc;
  if (!(a->role = strdup(role))) {
    setmsg(a, "out of memory");
    return SK_ENOMEM;
  }
  char session[128];
  const char *sn = env("AWS_ROLE_SESSION_NAME");
  if (sn)
    snprintf(session, sizeof(session), "%s", sn);
  else
    snprintf(session, sizeof(session), "skein-%lld", (long long)(a->fetch_now_ms / 1000));
  const char *region = env("AWS_REGION");
  if (!region)
    region = env("AWS_DEFAULT_REGION");
  if (!region)
    region = "us-east-1";
  char url[1024];
  if (sk__aws_fill_region(a->sts_endpoint, region, url, sizeof(url) - 1) != 0) {
    setmsg(a, "the STS endpoint URL is too long");
    return SK_EINVAL;
  }
  /* A base URL without a path posts to "/" (url has room for it). */
  const char *auth = strstr(url, "://");
  if (auth && !strchr(auth + 3, '/')) {
    size_t ul = strlen(url);
    url[ul] = '/';
    url[ul + 1] = '\0';
  }
  sk_buf_t form;
  sk_buf_init(&form, TOKEN_FILE_MAX * 3 + 4096);
  rc = sk_buf_puts(&form, "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=");
  if (rc == 0)
    rc = sk__aws_uri_encode(&form, role, strlen(role), false);
  if (rc == 0)
    rc = sk_buf_puts(&form, "&RoleSessionName=");
  if (rc == 0)
    rc = sk__aws_uri_encode(&form, session, strlen(session), false);
  if (rc == 0)
    rc = sk_buf_puts(&form, "&WebIdentityToken=");
  if (rc == 0)
    rc = sk__aws_uri_encode(&form, a->secret, strlen(a->secret), false);
  if (rc == 0) {
    /* The call is not signed: the token is the proof. */
    const char *headers[] = {"Content-Type: application/x-www-form-urlencoded; charset=utf-8",
                             "Accept: text/xml", NULL};
    rc = start_http(a, "POST", url, headers, form.data, form.len, STS_TIMEOUT_MS,
                    STS_CONNECT_MS, SK__AWS_F_STS);
  } else {
    setmsg(a, "cannot build the STS request: %s", sk_strerror(rc));
  }
  if (form.data)
    sk__aws_wipe_free(sk_buf_steal(&form));
  sk_buf_release(&form);
  return rc;
}

static int sts_done(sk__aws_authz_t *a, const sk_http_resp_t *resp) {
  char words[200];
  if (resp->error) {
    transport_words(resp, words, sizeof(words));
    setmsg(a, "STS %s: %s", a->url, words);
    return resp->error;
  }
  sk_aws_creds_t c;
  char m[400];
  int rc = sk__aws_sts_parse(resp->status, resp->body, resp->body_len, &c, m, sizeof(m));
  if (rc == 0) {
    sk__aws_set_creds(a, &c);
    snprintf(a->base.description, sizeof(a->base.description), "AWS web identity role %s",
             a->role);
    return 0;
  }
  if (resp->status == 200)
    setmsg(a, "STS %s: AssumeRoleWithWebIdentity for role %s: %s", a->url, a->role, m);
  else if (rc == SK_EAUTH)
    setmsg(a, "STS %s refused AssumeRoleWithWebIdentity for role %s: %ld%s%s", a->url, a->role,
           resp->status, *m ? " " : "", m);
  else
    setmsg(a, "STS %s answered AssumeRoleWithWebIdentity for role %s with %ld%s%s", a->url,
           a->role, resp->status, *m ? " " : "", m);
  return rc;
}

/* ---- container credentials ---- */

/* Full URIs over plain http may only point at this host or at the ECS
 * and EKS Pod Identity agents, as the SDKs allow: the authorisation
 * token must not travel elsewhere in clear. */
static bool container_url_ok(const char *url) {
  sk__aws_url_t u;
  if (sk__aws_url_split(url, &u) != 0)
    return false;
  if (u.https)
    return true;
  char host[SK__AWS_MAX_HOST];
  snprintf(host, sizeof(host), "%s", u.host);
  char *colon = host[0] == '[' ? strchr(host, ']') : strchr(host, ':');
  if (colon && host[0] == '[')
    colon[1] = '\0';
  else if (colon)
    *colon = '\0';
  static const char *const allowed[] = {"localhost", "[::1]", "169.254.170.2", "169.254.170.23",
                                        "[fd00:ec2::23]", NULL};
  for (int i = 0; allowed[i]; i++)
    if (strcmp(host, allowed[i]) == 0)
      return true;
  return strncmp(host, "127.", 4) == 0 && strspn(host, "0123456789.") == strlen(host);
}

static int container_source(sk__aws_authz_t *a) {
  const char *rel = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
  const char *full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
  if (!rel && !full)
    return nothing(a, SK_EAUTH,
                   "container (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and _FULL_URI unset)");
  char url[1024];
  if (rel)
    snprintf(url, sizeof(url), "%s%s%s", SK__AWS_ECS_HOST, rel[0] == '/' ? "" : "/", rel);
  else
    snprintf(url, sizeof(url), "%s", full);
  if (!rel && !container_url_ok(url)) {
    setmsg(a, "AWS_CONTAINER_CREDENTIALS_FULL_URI %s is not allowed: it must be https, a "
              "loopback address or the ECS or EKS credentials agent",
           url);
    return SK_EAUTH;
  }
  /* The token file is read at every fetch: EKS Pod Identity rotates it. */
  const char *tfile = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
  const char *tok = env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
  int rc;
  if (tfile) {
    if ((rc = read_token_file(a, "container authorization token file", tfile, &a->secret)))
      return rc;
  } else if (tok) {
    /* A token may hold spaces ("Basic ..."), never a line break. */
    if (strpbrk(tok, "\r\n")) {
      setmsg(a, "AWS_CONTAINER_AUTHORIZATION_TOKEN holds a line break");
      return SK_EAUTH;
    }
    if (!(a->secret = strdup(tok))) {
      setmsg(a, "out of memory");
      return SK_ENOMEM;
    }
  }
  char *authhdr = NULL;
  if (a->secret) {
    size_t n = strlen(a->secret) + 32;
    if (!(authhdr = malloc(n))) {
      setmsg(a, "out of memory");
      return SK_ENOMEM;
    }
    snprintf(authhdr, n, "Authorization: %s", a->secret);
  }
  const char *headers[] = {"Accept: application/json", authhdr, NULL};
  rc = start_http(a, "GET", url, headers, NULL, 0, CONTAINER_TIMEOUT_MS, CONTAINER_CONNECT_MS,
                  SK__AWS_F_CONTAINER);
  sk__aws_wipe_free(authhdr);
  return rc;
}

/* ": code: message" from a JSON error body ({"code": ..., "message": ...},
 * either case), cleaned and cut; "" when there is none. */
static void json_message(const sk_http_resp_t *resp, char *out, size_t outlen) {
  out[0] = '\0';
  if (!resp->body || !resp->body_len)
    return;
  json_t *root = json_loadb(resp->body, resp->body_len, 0, NULL);
  const char *code = json_string_value(json_object_get(root, "code"));
  const char *m = json_string_value(json_object_get(root, "message"));
  if (!code)
    code = json_string_value(json_object_get(root, "Code"));
  if (!m)
    m = json_string_value(json_object_get(root, "Message"));
  if (code || m)
    snprintf(out, outlen, ": %.60s%s%.120s", code ? code : "", code && m ? ": " : "",
             m ? m : "");
  for (char *c = out; *c; c++)
    if ((unsigned char)*c < 0x20 || *c == 0x7f)
      *c = ' ';
  json_decref(root);
}

static int container_done(sk__aws_authz_t *a, const sk_http_resp_t *resp) {
  char words[200];
  if (resp->error) {
    transport_words(resp, words, sizeof(words));
    setmsg(a, "container credentials endpoint %s: %s", a->url, words);
    return resp->error;
  }
  if (resp->status != 200) {
    json_message(resp, words, sizeof(words));
    setmsg(a, "container credentials endpoint %s answered %ld%s", a->url, resp->status, words);
    return resp->status >= 500 || resp->status == 429 ? SK_EHTTP : SK_EAUTH;
  }
  sk_aws_creds_t c;
  char m[300];
  int rc = sk__aws_json_creds(resp->body, resp->body_len, &c, m, sizeof(m));
  if (rc) {
    setmsg(a, "container credentials endpoint %s: %s", a->url, m);
    return rc == SK_EAUTH || rc == SK_ENOMEM ? rc : SK_EHTTP;
  }
  sk__aws_set_creds(a, &c);
  snprintf(a->base.description, sizeof(a->base.description), "AWS container credentials");
  return 0;
}

/* ---- IMDSv2 ---- */

static int imds_source(sk__aws_authz_t *a) {
  const char *off = env("AWS_EC2_METADATA_DISABLED");
  if (off && strcasecmp(off, "true") == 0)
    return nothing(a, SK_EAUTH, "IMDS (disabled by AWS_EC2_METADATA_DISABLED)");
  char url[1024];
  snprintf(url, sizeof(url), "%s/latest/api/token", a->imds_endpoint);
  const char *headers[] = {"X-aws-ec2-metadata-token-ttl-seconds: " IMDS_TOKEN_TTL, NULL};
  return start_http(a, "PUT", url, headers, NULL, 0, IMDS_TIMEOUT_MS, IMDS_CONNECT_MS,
                    SK__AWS_F_IMDS_TOKEN);
}

/* The GET of path under IMDS with the session token. */
static int imds_get(sk__aws_authz_t *a, const char *path, sk__aws_fstate_t state) {
  char url[1024];
  snprintf(url, sizeof(url), "%s%s", a->imds_endpoint, path);
  size_t n = strlen(a->secret) + 40;
  char *hdr = malloc(n);
  if (!hdr) {
    setmsg(a, "out of memory");
    return SK_ENOMEM;
  }
  snprintf(hdr, n, "X-aws-ec2-metadata-token: %s", a->secret);
  const char *headers[] = {hdr, "Accept: application/json", NULL};
  int rc = start_http(a, "GET", url, headers, NULL, 0, IMDS_TIMEOUT_MS, IMDS_CONNECT_MS, state);
  sk__aws_wipe_free(hdr);
  return rc;
}

static int imds_token_done(sk__aws_authz_t *a, const sk_http_resp_t *resp) {
  char words[200];
  if (resp->error == SK_ECANCELED) {
    setmsg(a, "IMDS %s: the request was cancelled", a->imds_endpoint);
    return SK_ECANCELED;
  }
  /* Off EC2 nothing answers: that is "no credentials here", not a fault. */
  if (resp->error) {
    transport_words(resp, words, sizeof(words));
    return nothing(a, resp->error, "IMDS (%s: %s)", a->imds_endpoint, words);
  }
  if (resp->status >= 500 || resp->status == 429) {
    setmsg(a, "IMDS %s answered the token request with %ld", a->imds_endpoint, resp->status);
    return SK_EHTTP;
  }
  if (resp->status != 200)
    return nothing(a, SK_EAUTH, "IMDS (%s: the token request was answered %ld)",
                   a->imds_endpoint, resp->status);
  char *tok = sk_memdup_str(resp->body ? resp->body : "", resp->body ? resp->body_len : 0);
  if (!tok) {
    setmsg(a, "out of memory");
    return SK_ENOMEM;
  }
  sk__aws_trim(tok);
  if (!sk__aws_token_ok(tok)) {
    sk__aws_wipe_free(tok);
    setmsg(a, "IMDS %s: the session token is empty or not printable", a->imds_endpoint);
    return SK_EHTTP;
  }
  sk__aws_wipe_free(a->secret);
  a->secret = tok;
  return imds_get(a, "/latest/meta-data/iam/security-credentials/", SK__AWS_F_IMDS_ROLE);
}

static bool role_name_ok(const char *s) {
  if (!*s || strlen(s) > 128)
    return false;
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
          strchr("+=,.@_-", c)))
      return false;
  }
  return true;
}

static int imds_role_done(sk__aws_authz_t *a, const sk_http_resp_t *resp) {
  char words[200];
  if (resp->error) {
    transport_words(resp, words, sizeof(words));
    setmsg(a, "IMDS %s: %s", a->imds_endpoint, words);
    return resp->error;
  }
  if (resp->status == 404)
    return nothing(a, SK_EAUTH, "IMDS (%s: no IAM role attached to the instance)",
                   a->imds_endpoint);
  if (resp->status != 200) {
    setmsg(a, "IMDS %s answered the role request with %ld", a->imds_endpoint, resp->status);
    return resp->status >= 500 || resp->status == 429 ? SK_EHTTP : SK_EAUTH;
  }
  /* One role per instance profile: the first line. */
  size_t n = resp->body ? strcspn(resp->body, "\r\n") : 0;
  char *role = sk_memdup_str(resp->body ? resp->body : "", n);
  if (!role) {
    setmsg(a, "out of memory");
    return SK_ENOMEM;
  }
  sk__aws_trim(role);
  if (!role_name_ok(role)) {
    free(role);
    setmsg(a, "IMDS %s: the role name it answered is not a role name", a->imds_endpoint);
    return SK_EHTTP;
  }
  free(a->role);
  a->role = role;
  char path[256];
  snprintf(path, sizeof(path), "/latest/meta-data/iam/security-credentials/%s", role);
  return imds_get(a, path, SK__AWS_F_IMDS_CREDS);
}

static int imds_creds_done(sk__aws_authz_t *a, const sk_http_resp_t *resp) {
  char words[200];
  if (resp->error) {
    transport_words(resp, words, sizeof(words));
    setmsg(a, "IMDS %s: %s", a->imds_endpoint, words);
    return resp->error;
  }
  if (resp->status != 200) {
    setmsg(a, "IMDS %s answered the credentials request for role %s with %ld", a->imds_endpoint,
           a->role, resp->status);
    return resp->status >= 500 || resp->status == 429 ? SK_EHTTP : SK_EAUTH;
  }
  sk_aws_creds_t c;
  char m[300];
  int rc = sk__aws_json_creds(resp->body, resp->body_len, &c, m, sizeof(m));
  if (rc) {
    setmsg(a, "IMDS %s, role %s: %s", a->imds_endpoint, a->role, m);
    return rc == SK_EAUTH || rc == SK_ENOMEM ? rc : SK_EHTTP;
  }
  sk__aws_set_creds(a, &c);
  snprintf(a->base.description, sizeof(a->base.description), "AWS instance profile role %s",
           a->role);
  return 0;
}

/* ---- the chain ---- */

static int source_start(sk__aws_authz_t *a) {
  sk__aws_fetch_release(a);
  switch (a->trying) {
  case SK__AWS_SRC_ENV:
    return env_source(a);
  case SK__AWS_SRC_FILE:
    return file_source(a);
  case SK__AWS_SRC_WEBID:
    return webid_source(a);
  case SK__AWS_SRC_CONTAINER:
    return container_source(a);
  case SK__AWS_SRC_IMDS:
    return imds_source(a);
  default:
    /* Fixed keys: nothing to fetch. */
    setmsg(a, "the AWS static credentials cannot be fetched again");
    return SK_EAUTH;
  }
}

/* Runs sources from a->trying on until one answers or starts a request;
 * after the last, "no AWS credentials". */
static int chain_run(sk__aws_authz_t *a, int rc) {
  for (;;) {
    if (rc == NOTHING && !a->resolving)
      return a->nothing_rc < 0 ? a->nothing_rc : SK_EAUTH;
    if (rc != NOTHING)
      return rc;
    if (a->trying == SK__AWS_SRC_IMDS) {
      char m[SK_CLOUD_MAX_MESSAGE];
      snprintf(m, sizeof(m), "no AWS credentials: tried %s", a->notes.data ? a->notes.data : "");
      snprintf(a->msg, sizeof(a->msg), "%s", m);
      return SK_EAUTH;
    }
    a->trying++;
    rc = source_start(a);
  }
}

/* Ends a fetch: remembers the source that worked, logs, and clears the
 * fetch's state. */
static int settle(sk__aws_authz_t *a, int rc) {
  fetch_to(a, SK__AWS_F_IDLE);
  if (rc == 0) {
    a->source = a->trying;
    if (sk_log_enabled(1)) {
      char when[40] = "";
      if (a->creds.expires_ms)
        sk_time_format(a->creds.expires_ms, when, sizeof(when));
      sk_log_v(1, LOGGER, "using %s%s%s", a->base.description, *when ? ", valid until " : "",
               when);
    }
  } else if (strncmp(a->msg, "no AWS credentials", 18) == 0) {
    sk_log_v(1, LOGGER, "%s", a->msg);
  } else {
    sk_log_v(1, LOGGER, "AWS credentials from %s failed: %s", src_names[a->trying], a->msg);
  }
  sk__aws_fetch_release(a);
  sk_buf_reset(&a->notes);
  return rc;
}

int sk__aws_fetch_start(sk__aws_authz_t *a, int64_t now_ms) {
  a->fetch_now_ms = now_ms;
  a->msg[0] = '\0';
  a->nothing_rc = SK_EAUTH;
  sk_buf_reset(&a->notes);
  if (a->source != SK__AWS_SRC_NONE) {
    a->trying = a->source;
    a->resolving = false;
  } else {
    a->trying = SK__AWS_SRC_ENV;
    a->resolving = true;
  }
  int rc = chain_run(a, source_start(a));
  if (rc == 1) {
    a->fetching = true;
    return 1;
  }
  return settle(a, rc);
}

static void on_http_done(sk_http_req_t *req, const sk_http_resp_t *resp, void *arg) {
  sk__aws_authz_t *a = arg;
  a->req = NULL;
  int rc;
  if (a->destroying) {
    setmsg(a, "the AWS authoriser was destroyed");
    rc = SK_ECANCELED;
  } else {
    switch (a->fstate) {
    case SK__AWS_F_STS:
      rc = sts_done(a, resp);
      break;
    case SK__AWS_F_CONTAINER:
      rc = container_done(a, resp);
      break;
    case SK__AWS_F_IMDS_TOKEN:
      rc = imds_token_done(a, resp);
      break;
    case SK__AWS_F_IMDS_ROLE:
      rc = imds_role_done(a, resp);
      break;
    case SK__AWS_F_IMDS_CREDS:
      rc = imds_creds_done(a, resp);
      break;
    default:
      setmsg(a, "internal error: a reply in state %s", fstate_names[a->fstate]);
      rc = SK_ESTATE;
    }
    rc = chain_run(a, rc);
    if (rc == 1)
      return;
  }
  sk__aws_fetch_done(a, settle(a, rc));
}

static int start_http(sk__aws_authz_t *a, const char *method, const char *url,
                      const char *const *headers, const char *body, size_t body_len,
                      long timeout_ms, long connect_ms, sk__aws_fstate_t state) {
  char *u = strdup(url);
  if (!u) {
    setmsg(a, "out of memory");
    return SK_ENOMEM;
  }
  free(a->url);
  a->url = u;
  sk_http_opts_t o;
  memset(&o, 0, sizeof(o));
  o.method = method;
  o.url = url;
  size_t n = 0;
  for (size_t i = 0; headers && headers[i] && n + 1 < SK_HTTP_MAX_HEADERS; i++)
    o.headers[n++] = headers[i];
  o.headers[n] = NULL;
  o.body = body;
  o.body_len = body_len;
  o.timeout_ms = timeout_ms;
  o.connect_timeout_ms = connect_ms;
  o.max_body = REPLY_MAX;
  sk_http_tls_t tls = {.ca_file = a->ca_file};
  if (a->ca_file && strncasecmp(url, "https://", 8) == 0)
    o.tls = &tls;
  o.on_done = on_http_done;
  o.arg = a;
  int rc = sk_http_request(a->http, &o, &a->req);
  if (rc) {
    a->req = NULL;
    setmsg(a, "cannot start the request to %s: %s", url, sk_strerror(rc));
    return rc;
  }
  fetch_to(a, state);
  return 1;
}
