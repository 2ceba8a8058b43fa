/*
 * The AWS default credential chain (lib/cloud/aws_creds.c, aws_authz.c)
 * against a fake STS, container credentials endpoint and IMDSv2 on
 * 127.0.0.1 (the scripted server of http_testsrv.c, on the test's loop),
 * with the environment and a temporary HOME set per test.
 *
 * The fakes check what the real services check: STS gets an unsigned
 * form with the role, the session name and the current web identity
 * token; the container endpoint wants the current authorisation token;
 * IMDS refuses a GET without the session token from the PUT. Every
 * answer is checked by recomputing its signature with the credentials
 * the fake handed out. At the end, no secret used anywhere in these tests
 * may appear in a message or in the log (-v 3).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "cloud/aws.h"
#include "http/http.h"
#include "http_testsrv.h"
#include "sk_test.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"
#include "util/timeutil.h"

#define T0 1795332750000LL /* 2026-11-22T07:32:30Z: the requests' clock */

#define ENV_AK "AKIAENVEXAMPLE"
#define ENV_SK "envSecretKeyExample0123456789"
#define FILE_SK_DEFAULT "fileSecretDefault0123456789"
#define FILE_SK_DEV "fileSecretDev0123456789"
#define WEBID_TOKEN_A "eyJhbGciOiJSUzI1NiJ9.webidentityA.sigA"
#define WEBID_TOKEN_B "eyJhbGciOiJSUzI1NiJ9.webidentityB.sigB"
#define CONTAINER_TOKEN_A "containerAuthTokenA0123"
#define CONTAINER_TOKEN_B "containerAuthTokenB0123"
#define CONTAINER_TOKEN_ENV "containerAuthTokenEnv0123"
#define IMDS_SESSION "imdsSessionToken0123456789"
#define ROLE_ARN "arn:aws:iam::123456789012:role/skein-runner"

/* Every secret any test hands out or reads: none may reach a message or
 * the log. The fake's own credentials are added as they are made. */
static const char *const fixed_secrets[] = {ENV_SK,           FILE_SK_DEFAULT,  FILE_SK_DEV,
                                            WEBID_TOKEN_A,    WEBID_TOKEN_B,    CONTAINER_TOKEN_A,
                                            CONTAINER_TOKEN_B, CONTAINER_TOKEN_ENV, IMDS_SESSION};
static sk_buf_t all_messages; /* every result message of every test */
static char logpath[512];

/* ---- the fakes ---- */

typedef struct {
  int sts_calls, container_calls, imds_token_calls, imds_role_calls, imds_creds_calls;
  int imds_refused;       /* GETs without the session token */
  int sts_status;         /* 200, or the error status to answer */
  bool sts_hold;          /* leave STS requests unanswered */
  bool imds_hold;         /* leave the token PUT unanswered */
  int64_t expire_ms;      /* Expiration handed out */
  char sts_path[128];
  char form_token[256], form_role[256], form_session[128], form_action[64], form_version[32];
  char form_type[128];
  char container_auth[256];
  const char *container_want; /* the token the container endpoint accepts */
  int serial;             /* numbers the credentials handed out */
  char last_ak[64], last_sk[64], last_tok[96];
} fake_t;

static fake_t fake;
static uv_loop_t *cur_loop; /* the running test's loop */

static void new_creds(const char *prefix) {
  fake.serial++;
  snprintf(fake.last_ak, sizeof(fake.last_ak), "ASIA%s%d", prefix, fake.serial);
  snprintf(fake.last_sk, sizeof(fake.last_sk), "%sSecret%dwJalrXUtnFEMI", prefix, fake.serial);
  snprintf(fake.last_tok, sizeof(fake.last_tok), "%sSessionToken%dIQoJb3JpZ2luX2Vj+/=",
           prefix, fake.serial);
}

/* The value of field name in an x-www-form-urlencoded body, decoded. */
static void form_field(const char *body, size_t len, const char *name, char *out, size_t outlen) {
  out[0] = '\0';
  size_t nl = strlen(name);
  const char *p = body, *end = body + len;
  while (p < end) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *e = amp ? amp : end;
    if ((size_t)(e - p) > nl && p[nl] == '=' && strncmp(p, name, nl) == 0) {
      size_t o = 0;
      for (const char *c = p + nl + 1; c < e && o + 1 < outlen; c++) {
        if (*c == '%' && e - c > 2) {
          char hex[3] = {c[1], c[2], 0};
          out[o++] = (char)strtol(hex, NULL, 16);
          c += 2;
        } else {
          out[o++] = *c == '+' ? ' ' : *c;
        }
      }
      out[o] = '\0';
      return;
    }
    p = e + 1;
  }
}

static void respond_json_creds(ts_conn_t *c, const char *prefix, bool imds) {
  new_creds(prefix);
  char exp[40], body[1024];
  sk_time_format(fake.expire_ms, exp, sizeof(exp));
  snprintf(body, sizeof(body),
           "{%s\"AccessKeyId\":\"%s\",\"SecretAccessKey\":\"%s\",\"Token\":\"%s\","
           "\"Expiration\":\"%s\"}",
           imds ? "\"Code\":\"Success\",\"Type\":\"AWS-HMAC\"," : "", fake.last_ak, fake.last_sk,
           fake.last_tok, exp);
  ts_respond(c, 200, "Content-Type: application/json\r\n", body, strlen(body));
}

static void fake_handler(ts_conn_t *c, const ts_req_t *req, void *arg) {
  char v[512];
  if (strncmp(req->path, "/sts/", 5) == 0) {
    fake.sts_calls++;
    snprintf(fake.sts_path, sizeof(fake.sts_path), "%s", req->path);
    if (!ts_header(req, "Content-Type", fake.form_type, sizeof(fake.form_type)))
      fake.form_type[0] = '\0';
    form_field(req->body, req->body_len, "Action", fake.form_action, sizeof(fake.form_action));
    form_field(req->body, req->body_len, "Version", fake.form_version, sizeof(fake.form_version));
    form_field(req->body, req->body_len, "RoleArn", fake.form_role, sizeof(fake.form_role));
    form_field(req->body, req->body_len, "RoleSessionName", fake.form_session,
               sizeof(fake.form_session));
    form_field(req->body, req->body_len, "WebIdentityToken", fake.form_token,
               sizeof(fake.form_token));
    if (fake.sts_hold)
      return;
    /* The real STS would never sign a reply for a request that was signed:
     * AssumeRoleWithWebIdentity is anonymous. */
    if (ts_header(req, "Authorization", v, sizeof(v))) {
      ts_respond(c, 400, "", "signed", 6);
      return;
    }
    if (fake.sts_status != 200) {
      char body[1024];
      /* A careless server echoing the token: the message must not carry it. */
      snprintf(body, sizeof(body),
               "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>"
               "<Type>Sender</Type><Code>%s</Code><Message>Not authorized to perform "
               "sts:AssumeRoleWithWebIdentity with token %s</Message></Error>"
               "<RequestId>c6104cbe</RequestId></ErrorResponse>",
               fake.sts_status >= 500 ? "ServiceUnavailable" : "AccessDenied", fake.form_token);
      ts_respond(c, fake.sts_status, "Content-Type: text/xml\r\n", body, strlen(body));
      return;
    }
    new_creds("STS");
    char exp[40], body[2048];
    sk_time_format(fake.expire_ms, exp, sizeof(exp));
    snprintf(body, sizeof(body),
             "<AssumeRoleWithWebIdentityResponse "
             "xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
             "  <AssumeRoleWithWebIdentityResult>\n"
             "    <SubjectFromWebIdentityToken>system:serviceaccount:ml:runner"
             "</SubjectFromWebIdentityToken>\n"
             "    <AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/skein-runner/s"
             "</Arn><AssumedRoleId>AROAEXAMPLE:s</AssumedRoleId></AssumedRoleUser>\n"
             "    <Credentials>\n"
             "      <SessionToken>%s</SessionToken>\n"
             "      <SecretAccessKey>%s</SecretAccessKey>\n"
             "      <Expiration>%s</Expiration>\n"
             "      <AccessKeyId>%s</AccessKeyId>\n"
             "    </Credentials>\n"
             "    <Provider>oidc.eks.us-east-1.amazonaws.com</Provider>\n"
             "  </AssumeRoleWithWebIdentityResult>\n"
             "  <ResponseMetadata><RequestId>ad4156e9</RequestId></ResponseMetadata>\n"
             "</AssumeRoleWithWebIdentityResponse>\n",
             fake.last_tok, fake.last_sk, exp, fake.last_ak);
    ts_respond(c, 200, "Content-Type: text/xml\r\n", body, strlen(body));
    return;
  }
  if (strcmp(req->path, "/container/creds") == 0) {
    fake.container_calls++;
    if (!ts_header(req, "Authorization", fake.container_auth, sizeof(fake.container_auth)))
      fake.container_auth[0] = '\0';
    if (fake.container_want && strcmp(fake.container_auth, fake.container_want) != 0) {
      const char *body = "{\"code\":\"AccessDeniedException\",\"message\":\"bad token\"}";
      ts_respond(c, 401, "Content-Type: application/json\r\n", body, strlen(body));
      return;
    }
    respond_json_creds(c, "CONT", false);
    return;
  }
  if (strcmp(req->path, "/imds/latest/api/token") == 0) {
    fake.imds_token_calls++;
    if (fake.imds_hold)
      return;
    if (strcmp(req->method, "PUT") != 0 ||
        !ts_header(req, "X-aws-ec2-metadata-token-ttl-seconds", v, sizeof(v)) ||
        strcmp(v, "21600") != 0) {
      ts_respond(c, 400, "", "", 0);
      return;
    }
    ts_respond(c, 200, "X-aws-ec2-metadata-token-ttl-seconds: 21600\r\n", IMDS_SESSION,
               strlen(IMDS_SESSION));
    return;
  }
  if (strncmp(req->path, "/imds/latest/meta-data/iam/security-credentials/", 48) == 0) {
    /* IMDSv2 only: a GET without the session token is refused. */
    if (!ts_header(req, "X-aws-ec2-metadata-token", v, sizeof(v)) ||
        strcmp(v, IMDS_SESSION) != 0) {
      fake.imds_refused++;
      ts_respond(c, 401, "", "", 0);
      return;
    }
    const char *role = req->path + 48;
    if (!*role) {
      fake.imds_role_calls++;
      ts_respond(c, 200, "Content-Type: text/plain\r\n", "skein-node-role\n", 16);
    } else if (strcmp(role, "skein-node-role") == 0) {
      fake.imds_creds_calls++;
      respond_json_creds(c, "IMDS", true);
    } else {
      ts_respond(c, 404, "", "", 0);
    }
    return;
  }
  ts_respond(c, 404, "", "not here", 8);
}

/* ---- the test environment ---- */

static const char *const aws_vars[] = {
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_SHARED_CREDENTIALS_FILE", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME", "AWS_REGION", "AWS_DEFAULT_REGION",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_EC2_METADATA_DISABLED", NULL};

typedef struct {
  uv_loop_t loop;
  uv_timer_t guard;
  bool expired;
  sk_http_t *http;
  ts_server_t *srv;
  char base[64];
  char dir[256];   /* scratch directory, also HOME */
  char sts[128];
  char imds[128];
  sk_cloud_endpoints_t ep;
  sk_cloud_authz_t *a;
} env_t;

static void on_guard(uv_timer_t *t) {
  env_t *e = t->data;
  e->expired = true;
  uv_stop(t->loop);
}

static bool run_until(env_t *e, bool (*cond)(void *), void *arg, uint64_t ms) {
  e->expired = false;
  uv_timer_start(&e->guard, on_guard, ms, 0);
  while (!cond(arg) && !e->expired)
    uv_run(&e->loop, UV_RUN_ONCE);
  uv_timer_stop(&e->guard);
  return cond(arg);
}

/* A port nothing listens on: bound, then closed. */
static int closed_port(void) {
  uv_loop_t l;
  uv_loop_init(&l);
  uv_tcp_t t;
  uv_tcp_init(&l, &t);
  struct sockaddr_in sa;
  uv_ip4_addr("127.0.0.1", 0, &sa);
  int port = 1;
  if (uv_tcp_bind(&t, (const struct sockaddr *)&sa, 0) == 0) {
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (uv_tcp_getsockname(&t, (struct sockaddr *)&ss, &len) == 0)
      port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  }
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&l, UV_RUN_DEFAULT);
  uv_loop_close(&l);
  return port;
}

static void put_file(const char *path, const char *content) {
  FILE *fp = fopen(path, "w");
  if (!fp) {
    FAILF("cannot write %s: %s", path, strerror(errno));
    return;
  }
  fputs(content, fp);
  fclose(fp);
}

/* Fresh loop, server, client and environment; IMDS points at the fake
 * unless imds_closed, when nothing listens there. */
static bool env_init(env_t *e, bool imds_closed) {
  memset(e, 0, sizeof(*e));
  memset(&fake, 0, sizeof(fake));
  fake.sts_status = 200;
  fake.expire_ms = T0 + 3600 * 1000LL;
  for (int i = 0; aws_vars[i]; i++)
    unsetenv(aws_vars[i]);
  setenv("NO_PROXY", "127.0.0.1,localhost", 1);
  const char *tmp = getenv("TMPDIR");
  snprintf(e->dir, sizeof(e->dir), "%s/skein-aws-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(e->dir)) {
    FAILF("mkdtemp: %s", strerror(errno));
    return false;
  }
  /* The user's own ~/.aws must never leak into a test. */
  setenv("HOME", e->dir, 1);
  uv_loop_init(&e->loop);
  cur_loop = &e->loop;
  uv_timer_init(&e->loop, &e->guard);
  e->guard.data = e;
  e->srv = ts_start(&e->loop, NULL, fake_handler, NULL);
  e->http = sk_http_create(&e->loop);
  if (!e->srv || !e->http)
    return false;
  snprintf(e->base, sizeof(e->base), "http://127.0.0.1:%d", ts_port(e->srv));
  snprintf(e->sts, sizeof(e->sts), "%s/sts/{region}", e->base);
  if (imds_closed)
    snprintf(e->imds, sizeof(e->imds), "http://127.0.0.1:%d", closed_port());
  else
    snprintf(e->imds, sizeof(e->imds), "%s/imds/", e->base);
  e->ep.sts_endpoint = e->sts;
  e->ep.imds_endpoint = e->imds;
  return true;
}

static void rm_rf(const char *dir) {
  char cmd[600];
  /* Only ever the mkdtemp directory of this test. */
  if (strstr(dir, "/skein-aws-")) {
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
      printf("  could not remove %s\n", dir);
  }
}

static void env_finish(env_t *e) {
  sk_cloud_authz_destroy(e->a);
  e->a = NULL;
  sk_http_destroy(e->http);
  ts_stop(e->srv);
  e->expired = false;
  uv_timer_start(&e->guard, on_guard, 10000, 0);
  uv_unref((uv_handle_t *)&e->guard);
  uv_run(&e->loop, UV_RUN_DEFAULT);
  CHECK(!e->expired);
  uv_close((uv_handle_t *)&e->guard, NULL);
  uv_run(&e->loop, UV_RUN_DEFAULT);
  CHECK_INT(uv_loop_close(&e->loop), 0);
  rm_rf(e->dir);
  for (int i = 0; aws_vars[i]; i++)
    unsetenv(aws_vars[i]);
}

static const char *path_in(env_t *e, const char *name) {
  static char buf[4][600];
  static int slot;
  char *p = buf[slot++ % 4];
  snprintf(p, sizeof(buf[0]), "%s/%s", e->dir, name);
  return p;
}

/* ---- authorize and check ---- */

typedef struct {
  int calls;
  int rc;
  bool inside;
  bool called_inside;
  char date[64];
  char token[256];
  char auth[1024];
  char message[SK_CLOUD_MAX_MESSAGE];
  sk_cloud_authz_t *invalidate_in_cb; /* a 401 seen inside the callback */
} rec_t;

static void on_auth(const sk_cloud_auth_result_t *res, void *arg) {
  rec_t *r = arg;
  r->calls++;
  if (r->inside)
    r->called_inside = true;
  r->rc = res->rc;
  r->date[0] = r->token[0] = r->auth[0] = '\0';
  for (int i = 0; res->headers[i]; i++) {
    const char *h = res->headers[i];
    if (strncmp(h, "X-Amz-Date: ", 12) == 0)
      snprintf(r->date, sizeof(r->date), "%s", h + 12);
    else if (strncmp(h, "X-Amz-Security-Token: ", 22) == 0)
      snprintf(r->token, sizeof(r->token), "%s", h + 22);
    else if (strncmp(h, "Authorization: ", 15) == 0)
      snprintf(r->auth, sizeof(r->auth), "%s", h + 15);
  }
  snprintf(r->message, sizeof(r->message), "%s", res->message ? res->message : "");
  if (res->message)
    sk_buf_printf(&all_messages, "%s\n", res->message);
  if (r->invalidate_in_cb)
    sk_cloud_authz_invalidate(r->invalidate_in_cb);
  /* An answer from a timer wakes nothing up: without this the waiting
   * uv_run would block in poll until the guard fires. */
  uv_stop(cur_loop);
}

static bool rec_done(void *arg) { return ((rec_t *)arg)->calls > 0; }

static const char *req_body = "{\"TrainingJobName\":\"skein-3f2a9c-train-1\"}";
static const char *req_headers[] = {"Content-Type: application/x-amz-json-1.1",
                                    "X-Amz-Target: SageMaker.DescribeTrainingJob", NULL};

static sk_cloud_request_t make_req(int64_t now_ms) {
  sk_cloud_request_t r = {.method = "POST",
                          .url = "https://api.sagemaker.eu-west-1.amazonaws.com/",
                          .body = req_body,
                          .body_len = strlen(req_body),
                          .headers = req_headers,
                          .now_ms = now_ms,
                          .region = "eu-west-1",
                          .service = "sagemaker"};
  return r;
}

/* Authorises one request at now_ms and waits for the answer. */
static void authorize(env_t *e, int64_t now_ms, rec_t *r) {
  memset(r, 0, sizeof(*r));
  sk_cloud_request_t req = make_req(now_ms);
  r->inside = true;
  int rc = sk_cloud_authorize(e->a, &req, on_auth, r);
  r->inside = false;
  CHECK_INT(rc, 0);
  CHECK_INT(r->calls, 0);
  CHECK(run_until(e, rec_done, r, 15000));
  CHECK(!r->called_inside);
}

/* Checks r is signed with (ak, sk, tok) at now_ms, recomputing the
 * signature. */
static void check_signed(const rec_t *r, int64_t now_ms, const char *ak, const char *sk,
                         const char *tok) {
  CHECK_INT(r->rc, 0);
  char date[17];
  sk_aws_amz_date(now_ms, date, sizeof(date));
  CHECK_STR(r->date, date);
  CHECK_STR(r->token, tok ? tok : "");
  char dl[40], tl[300];
  snprintf(dl, sizeof(dl), "X-Amz-Date: %s", date);
  snprintf(tl, sizeof(tl), "X-Amz-Security-Token: %s", tok ? tok : "");
  const char *lines[5];
  size_t n = 0;
  lines[n++] = dl;
  if (tok)
    lines[n++] = tl;
  lines[n++] = req_headers[0];
  lines[n++] = req_headers[1];
  lines[n] = NULL;
  sk_aws_creds_t c = {(char *)ak, (char *)sk, (char *)tok, 0};
  char want[1024];
  CHECK_INT(sk_aws_sigv4_sign(&c, "eu-west-1", "sagemaker", "POST",
                              "https://api.sagemaker.eu-west-1.amazonaws.com/", lines, req_body,
                              strlen(req_body), date, want, sizeof(want)),
            0);
  CHECK_STR(r->auth, want);
}

static void setup_webid(env_t *e, const char *token) {
  put_file(path_in(e, "token"), token);
  setenv("AWS_WEB_IDENTITY_TOKEN_FILE", path_in(e, "token"), 1);
  setenv("AWS_ROLE_ARN", ROLE_ARN, 1);
}

static void write_credentials(env_t *e) {
  char d[600];
  snprintf(d, sizeof(d), "%s/.aws", e->dir);
  mkdir(d, 0700);
  put_file(path_in(e, ".aws/credentials"), "# shared credentials\n"
                                           "[default]\n"
                                           "aws_access_key_id = AKIAFILEDEFAULT\n"
                                           "aws_secret_access_key = " FILE_SK_DEFAULT "\n"
                                           "\n"
                                           "[dev]   ; the dev account\n"
                                           "  aws_access_key_id=AKIAFILEDEV\n"
                                           "  aws_secret_access_key=" FILE_SK_DEV "\n"
                                           "  aws_session_token = fileTokenDev0123\n");
}

/* ---- tests ---- */

TEST(env_wins_over_everything) {
  env_t e;
  REQUIRE(env_init(&e, false));
  write_credentials(&e);
  setup_webid(&e, WEBID_TOKEN_A);
  setenv("AWS_ACCESS_KEY_ID", ENV_AK, 1);
  setenv("AWS_SECRET_ACCESS_KEY", ENV_SK, 1);
  setenv("AWS_PROFILE", "dev", 1); /* env keys still win, as in the SDKs */
  e.a = sk_aws_authz_default(&e.loop, e.http, &e.ep);
  REQUIRE(e.a);
  rec_t r;
  authorize(&e, T0, &r);
  check_signed(&r, T0, ENV_AK, ENV_SK, NULL);
  CHECK_STR(e.a->description, "AWS credentials from the environment");
  CHECK_INT(fake.sts_calls + fake.imds_token_calls, 0);
  sk_cloud_authz_destroy(e.a);

  /* With a session token. */
  setenv("AWS_SESSION_TOKEN", "envSessionToken0123", 1);
  e.a = sk_aws_authz_default(&e.loop, e.http, &e.ep);
  authorize(&e, T0, &r);
  check_signed(&r, T0, ENV_AK, ENV_SK, "envSessionToken0123");
  sk_cloud_authz_destroy(e.a);

  /* Half the pair is an error, not a fall-through to the file. */
  unsetenv("AWS_SECRET_ACCESS_KEY");
  e.a = sk_aws_authz_default(&e.loop, e.http, &e.ep);
  authorize(&e, T0, &r);
  CHECK_INT(r.rc, SK_EAUTH);
  CHECK_STR(r.message, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
  CHECK(r.auth[0] == '\0');
  env_finish(&e);
}

TEST(shared_file_and_profiles) {
  env_t e;
  REQUIRE(env_init(&e, false));
  write_credentials(&e);
  setup_webid(&e, WEBID_TOKEN_A); /* later in the chain: must not be reached */
  rec_t r;
  /* The default profile, found through HOME. */
  e.a = sk_aws_authz_default(&e.loop, e.http, &e.ep);
  authorize(&e, T0, &r);
  check_signed(&r, T0, "AKIAFILEDEFAULT", FILE_SK_DEFAULT, NULL);
  CHECK_STR(e.a->description, "AWS shared credentials file, profile default");
  sk_cloud_authz_destroy(e.a);
  /* AWS_PROFILE. */
  setenv("AWS_PROFILE", "dev", 1);
  e.a = sk_aws_authz_default(&e.loop, e.http, &e.ep);
  authorize(&e, T0, &r);
  check_signed(&r, T0, "AKIAFILEDEV", FILE_SK_DEV, "fileTokenDev0123");
  sk_cloud_authz_destroy(e.a);
  /* A named profile that does not exist is an error. */
  setenv("AWS_PROFILE", "nope", 1);
  e.a = sk_aws_authz_default(&e.loop, e.http, &e.ep);
  authorize(&e, T0, &r);
  CHECK_INT(r.rc, SK_EAUTH);
  CHECK(strstr(r.message, "profile nope not found in the shared credentials file ") != NULL);
  CHECK(strstr(r.message, "/.aws/credentials") != NULL);
  sk_cloud_authz_destroy(e.a);
  /* AWS_SHARED_CREDENTIALS_FILE instead of HOME, and endpoints.home
   * instead of $HOME. */
  put_file(path_in(&e, "other"), "[nope]\naws_access_key_id=AKIAOTHER\n"
                                 "aws_secret_access_key=otherSecret0123\n");
  setenv("AWS_SHARED_CREDENTIALS_FILE", path_in(&e, "other"), 1);
  e.a = sk_aws_authz_default(&e.loop, e.http, &e.ep);
  authorize(&e, T0, &r);
  check_signed(&r, T0, "AKIAOTHER", "otherSecret0123", NULL);
  sk_cloud_authz_destroy(e.a);
  unsetenv("AWS_SHARED_CREDENTIALS_FILE");
  unsetenv("AWS_PROFILE");
  CHECK_INT(fake.sts_calls, 0);
  /* A home without the file: the chain goes on to web identity. */
  e.ep.home = path_in(&e, "elsewhere");
  e.a = sk_aws_authz_default(&e.loop, e.http, &e.ep);
  authorize(&e, T0, &r);
  check_signed(&r, T0, fake.last_ak, fake.last_sk, fake.last_tok);
  CHECK_INT(fake.sts_calls, 1);
  env_finish(&e);
}

TEST(web_identity) {
  env_t e;
  REQUIRE(env_init(&e, false));
  setup_webid(&e, WEBID_TOKEN_A "\n");
  setenv("AWS_REGION", "eu-west-1", 1);
  setenv("AWS_DEFAULT_REGION", "us-west-2", 1);
  e.a = sk_aws_authz_default(&e.loop, e.http, &e.ep);
  rec_t r;
  authorize(&e, T0, &r);
  check_signed(&r, T0, fake.last_ak, fake.last_sk, fake.last_tok);
  CHECK_INT(fake.sts_calls, 1);
  CHECK_STR(fake.sts_path, "/sts/eu-west-1");
  CHECK_STR(fake.form_action, "AssumeRoleWithWebIdentity");
  CHECK_STR(fake.form_version, "2011-06-15");
  CHECK_STR(fake.form_role, ROLE_ARN);
  CHECK_STR(fake.form_token, WEBID_TOKEN_A);
  CHECK_STR(fake.form_session, "skein-1795332750");
  CHECK(strncmp(fake.form_type, "application/x-www-form-urlencoded", 33) == 0);
  CHECK_STR(e.a->description, "AWS web identity role " ROLE_ARN);
  /* Cached until SK_AWS_REFRESH_AHEAD_S before the Expiration (T0 + 1 h). */
  char first_ak[64];
  snprintf(first_ak, sizeof(first_ak), "%s", fake.last_ak);
  int64_t edge = T0 + (3600 - SK_AWS_REFRESH_AHEAD_S) * 1000LL;
  authorize(&e, edge - 1000, &r);
  CHECK_INT(fake.sts_calls, 1);
  CHECK(strstr(r.auth, first_ak) != NULL);
  /* The token file rotates: the refresh reads it again. */
  put_file(path_in(&e, "token"), WEBID_TOKEN_B);
  setenv("AWS_ROLE_SESSION_NAME", "my-session", 1);
  fake.expire_ms = T0 + 7200 * 1000LL;
  authorize(&e, edge + 1000, &r);
  CHECK_INT(fake.sts_calls, 2);
  CHECK_STR(fake.form_token, WEBID_TOKEN_B);
  CHECK_STR(fake.form_session, "my-session");
  check_signed(&r, edge + 1000, fake.last_ak, fake.last_sk, fake.last_tok);
  /* invalidate: the next authorize fetches again. */
  sk_cloud_authz_invalidate(e.a);
  authorize(&e, edge + 2000, &r);
  CHECK_INT(fake.sts_calls, 3);
  check_signed(&r, edge + 2000, fake.last_ak, fake.last_sk, fake.last_tok);
  env_finish(&e);
}

TEST(web_identity_default_region_and_errors) {
  env_t e;
  REQUIRE(env_init(&e, false));
  setup_webid(&e, WEBID_TOKEN_A);
  fake.sts_status = 403;
  e.a = sk_aws_authz_default(&e.loop, e.http, &e.ep);
  rec_t r;
  authorize(&e, T0, &r);
  CHECK_STR(fake.sts_path, "/sts/us-east-1");
  CHECK_INT(r.rc, SK_EAUTH);
  CHECK(strstr(r.message, "refused AssumeRoleWithWebIdentity for role " ROLE_ARN ": 403 "
                          "AccessDenied: Not authorized") != NULL);
  CHECK(strstr(r.message, WEBID_TOKEN_A) == NULL);
  CHECK(r.auth[0] == '\0');
  /* 503: worth retrying. */
  fake.sts_status = 503;
  authorize(&e, T0, &r);
  CHECK_INT(r.rc, SK_EHTTP);
  CHECK(strstr(r.message, "503 ServiceUnavailable") != NULL);
  CHECK_INT(fake.sts_calls, 2);
  sk_cloud_authz_destroy(e.a);
  /* The token file vanished: an error naming the file. */
  unlink(path_in(&e, "token"));
  e.a = sk_aws_authz_default(&e.loop, e.http, &e.ep);
  authorize(&e, T0, &r);
  CHECK_INT(r.rc, SK_EAUTH);
  CHECK(strstr(r.message, "web identity token file ") != NULL);
  CHECK(strstr(r.message, "no such file") != NULL);
  sk_cloud_authz_destroy(e.a);
  /* A token file without a role. */
  setup_webid(&e, WEBID_TOKEN_A);
  unsetenv("AWS_ROLE_ARN");
  e.a = sk_aws_authz_default(&e.loop, e.http, &e.ep);
  authorize(&e, T0, &r);
  CHECK_INT(r.rc, SK_EAUTH);
  CHECK_STR(r.message, "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not");
  sk_cloud_authz_destroy(e.a);
  /* STS unreachable. */
  setenv("AWS_ROLE_ARN", ROLE_ARN, 1);
  char sts[64];
  snprintf(sts, sizeof(sts), "http://127.0.0.1:%d", closed_port());
  e.ep.sts_endpoint = sts;
  e.a = sk_aws_authz_default(&e.loop, e.http, &e.ep);
  authorize(&e, T0, &r);
  CHECK_INT(r.rc, SK_ENET);
  CHECK(strstr(r.message, "STS http://127.0.0.1:") != NULL);
  CHECK(strstr(r.message, "connection failed") != NULL);
  env_finish(&e);
}

TEST(refresh_window_and_failed_refresh) {
  env_t e;
  REQUIRE(env_init(&e, false));
  setup_webid(&e, WEBID_TOKEN_A);
  /* Credentials that come already inside the refresh window (5 min left)
   * are used, and STS is not asked again for a minute. */
  fake.expire_ms = T0 + 300 * 1000LL;
  e.a = sk_aws_authz_default(&e.loop, e.http, &e.ep);
  rec_t r;
  authorize(&e, T0, &r);
  CHECK_INT(r.rc, 0);
  authorize(&e, T0 + 30000, &r);
  CHECK_INT(r.rc, 0);
  CHECK_INT(fake.sts_calls, 1);
  fake.expire_ms = T0 + 3600 * 1000LL;
  authorize(&e, T0 + 61000, &r);
  CHECK_INT(fake.sts_calls, 2);
  check_signed(&r, T0 + 61000, fake.last_ak, fake.last_sk, fake.last_tok);
  char ak[64], sk[64], tok[96];
  snprintf(ak, sizeof(ak), "%s", fake.last_ak);
  snprintf(sk, sizeof(sk), "%s", fake.last_sk);
  snprintf(tok, sizeof(tok), "%s", fake.last_tok);
  /* Inside the window STS fails: the current credentials, still good for
   * 9 minutes, go on being used. */
  fake.sts_status = 500;
  int64_t late = T0 + (3600 - 540) * 1000LL;
  authorize(&e, late, &r);
  CHECK_INT(fake.sts_calls, 3);
  check_signed(&r, late, ak, sk, tok);
  /* ... and STS is not asked at every request while it fails. */
  authorize(&e, late + 30000, &r);
  CHECK_INT(fake.sts_calls, 3);
  check_signed(&r, late + 30000, ak, sk, tok);
  /* Once dropped by invalidate there is nothing to fall back on. */
  sk_cloud_authz_invalidate(e.a);
  authorize(&e, late, &r);
  CHECK_INT(fake.sts_calls, 4);
  CHECK_INT(r.rc, SK_EHTTP);
  CHECK(r.auth[0] == '\0');
  env_finish(&e);
}

TEST(concurrent_authorize_one_fetch) {
  env_t e;
  REQUIRE(env_init(&e, false));
  setup_webid(&e, WEBID_TOKEN_A);
  e.a = sk_aws_authz_default(&e.loop, e.http, &e.ep);
  rec_t r[10];
  memset(r, 0, sizeof(r));
  sk_cloud_request_t req = make_req(T0);
  for (int i = 0; i < 10; i++) {
    r[i].inside = true;
    CHECK_INT(sk_cloud_authorize(e.a, &req, on_auth, &r[i]), 0);
    r[i].inside = false;
  }
  for (int i = 0; i < 10; i++) {
    CHECK(run_until(&e, rec_done, &r[i], 15000));
    CHECK(!r[i].called_inside);
    check_signed(&r[i], T0, fake.last_ak, fake.last_sk, fake.last_tok);
  }
  CHECK_INT(fake.sts_calls, 1);
  /* The first of three callbacks invalidates (its request met a 401): the
   * other two wait for one new fetch. */
  char old_ak[64];
  snprintf(old_ak, sizeof(old_ak), "%s", fake.last_ak);
  memset(r, 0, sizeof(r));
  r[0].invalidate_in_cb = e.a;
  for (int i = 0; i < 3; i++)
    CHECK_INT(sk_cloud_authorize(e.a, &req, on_auth, &r[i]), 0);
  for (int i = 0; i < 3; i++)
    CHECK(run_until(&e, rec_done, &r[i], 15000));
  CHECK(strstr(r[0].auth, old_ak) != NULL);
  CHECK_INT(fake.sts_calls, 2);
  check_signed(&r[1], T0, fake.last_ak, fake.last_sk, fake.last_tok);
  check_signed(&r[2], T0, fake.last_ak, fake.last_sk, fake.last_tok);
  env_finish(&e);
}

TEST(destroy_during_fetch) {
  env_t e;
  REQUIRE(env_init(&e, false));
  setup_webid(&e, WEBID_TOKEN_A);
  fake.sts_hold = true;
  e.a = sk_aws_authz_default(&e.loop, e.http, &e.ep);
  rec_t r[2];
  memset(r, 0, sizeof(r));
  sk_cloud_request_t req = make_req(T0);
  CHECK_INT(sk_cloud_authorize(e.a, &req, on_auth, &r[0]), 0);
  CHECK_INT(sk_cloud_authorize(e.a, &req, on_auth, &r[1]), 0);
  /* Run until STS has the request, then destroy with both waiting. */
  for (int i = 0; i < 2000 && fake.sts_calls == 0; i++)
    uv_run(&e.loop, UV_RUN_ONCE);
  CHECK_INT(fake.sts_calls, 1);
  sk_cloud_authz_destroy(e.a);
  e.a = NULL;
  CHECK_INT(r[0].calls, 0);
  CHECK(run_until(&e, rec_done, &r[1], 15000));
  CHECK_INT(r[0].rc, SK_ECANCELED);
  CHECK_INT(r[1].rc, SK_ECANCELED);
  CHECK_INT(sk_http_pending(e.http), 0);
  env_finish(&e);
}

TEST(container_credentials) {
  env_t e;
  REQUIRE(env_init(&e, false));
  char url[128];
  snprintf(url, sizeof(url), "%s/container/creds", e.base);
  setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
  put_file(path_in(&e, "ctoken"), CONTAINER_TOKEN_A "\n");
  setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", path_in(&e, "ctoken"), 1);
  setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", CONTAINER_TOKEN_ENV, 1); /* the file wins */
  fake.container_want = CONTAINER_TOKEN_A;
  e.a = sk_aws_authz_default(&e.loop, e.http, &e.ep);
  rec_t r;
  authorize(&e, T0, &r);
  check_signed(&r, T0, fake.last_ak, fake.last_sk, fake.last_tok);
  CHECK_STR(fake.container_auth, CONTAINER_TOKEN_A);
  CHECK_STR(e.a->description, "AWS container credentials");
  /* The token file rotates: read again at the next fetch. */
  put_file(path_in(&e, "ctoken"), CONTAINER_TOKEN_B);
  fake.container_want = CONTAINER_TOKEN_B;
  sk_cloud_authz_invalidate(e.a);
  authorize(&e, T0 + 1000, &r);
  CHECK_INT(fake.container_calls, 2);
  CHECK_STR(fake.container_auth, CONTAINER_TOKEN_B);
  check_signed(&r, T0 + 1000, fake.last_ak, fake.last_sk, fake.last_tok);
  /* Refused: SK_EAUTH with the endpoint's words, not the token. */
  fake.container_want = "something else";
  sk_cloud_authz_invalidate(e.a);
  authorize(&e, T0 + 2000, &r);
  CHECK_INT(r.rc, SK_EAUTH);
  CHECK(strstr(r.message, "container credentials endpoint ") != NULL);
  CHECK(strstr(r.message, "answered 401: AccessDeniedException: bad token") != NULL);
  sk_cloud_authz_destroy(e.a);
  /* The token from the environment when there is no file. */
  unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
  fake.container_want = CONTAINER_TOKEN_ENV;
  e.a = sk_aws_authz_default(&e.loop, e.http, &e.ep);
  authorize(&e, T0, &r);
  CHECK_INT(r.rc, 0);
  CHECK_STR(fake.container_auth, CONTAINER_TOKEN_ENV);
  sk_cloud_authz_destroy(e.a);
  /* A plain-http full URI to another host is refused before any request. */
  int calls = fake.container_calls;
  setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://10.11.12.13/creds", 1);
  e.a = sk_aws_authz_default(&e.loop, e.http, &e.ep);
  authorize(&e, T0, &r);
  CHECK_INT(r.rc, SK_EAUTH);
  CHECK(strstr(r.message, "is not allowed") != NULL);
  CHECK_INT(fake.container_calls, calls);
  CHECK_INT(fake.imds_token_calls, 0);
  env_finish(&e);
}

typedef struct {
  int done;
  long status;
} raw_t;

static void on_raw(sk_http_req_t *req, const sk_http_resp_t *resp, void *arg) {
  raw_t *r = arg;
  r->done++;
  r->status = resp->status;
  uv_stop(cur_loop);
}

static bool raw_done(void *arg) { return ((raw_t *)arg)->done > 0; }

TEST(imds_v2) {
  env_t e;
  REQUIRE(env_init(&e, false));
  /* The fake refuses a GET without the session token, as IMDSv2 does. */
  raw_t raw = {0, 0};
  char url[160];
  snprintf(url, sizeof(url), "%s/imds/latest/meta-data/iam/security-credentials/", e.base);
  sk_http_opts_t o;
  memset(&o, 0, sizeof(o));
  o.url = url;
  o.timeout_ms = 10000;
  o.on_done = on_raw;
  o.arg = &raw;
  CHECK_INT(sk_http_request(e.http, &o, NULL), 0);
  CHECK(run_until(&e, raw_done, &raw, 15000));
  CHECK_INT(raw.status, 401);
  CHECK_INT(fake.imds_refused, 1);
  fake.imds_refused = 0;
  e.a = sk_aws_authz_default(&e.loop, e.http, &e.ep);
  rec_t r;
  authorize(&e, T0, &r);
  check_signed(&r, T0, fake.last_ak, fake.last_sk, fake.last_tok);
  CHECK_INT(fake.imds_token_calls, 1);
  CHECK_INT(fake.imds_role_calls, 1);
  CHECK_INT(fake.imds_creds_calls, 1);
  CHECK_INT(fake.imds_refused, 0);
  CHECK_STR(e.a->description, "AWS instance profile role skein-node-role");
  /* Remembered: the refresh goes straight to IMDS. */
  authorize(&e, T0 + (3600 - 500) * 1000LL, &r);
  CHECK_INT(fake.imds_token_calls, 2);
  CHECK_INT(fake.imds_creds_calls, 2);
  CHECK_INT(r.rc, 0);
  sk_cloud_authz_destroy(e.a);
  /* AWS_EC2_METADATA_DISABLED. */
  setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
  e.a = sk_aws_authz_default(&e.loop, e.http, &e.ep);
  authorize(&e, T0, &r);
  CHECK_INT(r.rc, SK_EAUTH);
  CHECK(strstr(r.message, "IMDS (disabled by AWS_EC2_METADATA_DISABLED)") != NULL);
  CHECK_INT(fake.imds_token_calls, 2);
  env_finish(&e);
}

TEST(no_credentials_anywhere) {
  env_t e;
  REQUIRE(env_init(&e, true));
  e.a = sk_aws_authz_default(&e.loop, e.http, &e.ep);
  rec_t r;
  authorize(&e, T0, &r);
  CHECK_INT(r.rc, SK_EAUTH);
  printf("  message: %s\n", r.message);
  const char *head = "no AWS credentials: tried environment (AWS_ACCESS_KEY_ID unset), "
                     "shared file ";
  CHECK(strncmp(r.message, head, strlen(head)) == 0);
  CHECK(strstr(r.message, "/.aws/credentials (profile default: no such file), web identity "
                          "(AWS_WEB_IDENTITY_TOKEN_FILE unset), container (") != NULL);
  CHECK(strstr(r.message, "IMDS (http://127.0.0.1:") != NULL);
  CHECK(strstr(r.message, "connection failed") != NULL);
  CHECK(r.auth[0] == '\0');
  /* Nothing is remembered: the next authorize walks the chain again and
   * finds credentials that appeared since. */
  setenv("AWS_ACCESS_KEY_ID", ENV_AK, 1);
  setenv("AWS_SECRET_ACCESS_KEY", ENV_SK, 1);
  authorize(&e, T0, &r);
  check_signed(&r, T0, ENV_AK, ENV_SK, NULL);
  env_finish(&e);
}

TEST(imds_silent_times_out_quickly) {
  env_t e;
  REQUIRE(env_init(&e, false));
  fake.imds_hold = true;
  e.a = sk_aws_authz_default(&e.loop, e.http, &e.ep);
  rec_t r;
  int64_t t0 = sk_time_mono_ms();
  authorize(&e, T0, &r);
  int64_t took = sk_time_mono_ms() - t0;
  CHECK_INT(r.rc, SK_EAUTH);
  CHECK(strstr(r.message, "timed out") != NULL);
  if (took < 1500 || took > 8000)
    FAILF("IMDS gave up after %lld ms, want about 2 s", (long long)took);
  env_finish(&e);
}

/* Last: no secret of any test in a message or in the log. */
TEST(no_secret_in_messages_or_log) {
  fflush(NULL);
  FILE *fp = fopen(logpath, "r");
  REQUIRE(fp);
  sk_buf_t log;
  sk_buf_init(&log, 16u << 20);
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
    sk_buf_append(&log, chunk, n);
  fclose(fp);
  CHECK(log.len > 0); /* -v 3 logged the fetches */
  CHECK(all_messages.len > 0);
  for (size_t i = 0; i < sizeof(fixed_secrets) / sizeof(fixed_secrets[0]); i++) {
    if (log.data && strstr(log.data, fixed_secrets[i]))
      FAILF("the log holds secret %zu", i);
    if (all_messages.data && strstr(all_messages.data, fixed_secrets[i]))
      FAILF("a message holds secret %zu", i);
  }
  /* The fake's credentials follow a pattern: no "Secret<n>" nor
   * "SessionToken<n>" of theirs anywhere. */
  const char *patterns[] = {"Secret1", "SessionToken1", "wJalrXUtnFEMI", "IQoJb3JpZ2lu", NULL};
  for (int i = 0; patterns[i]; i++) {
    if (log.data && strstr(log.data, patterns[i]))
      FAILF("the log holds \"%s\"", patterns[i]);
    if (all_messages.data && strstr(all_messages.data, patterns[i]))
      FAILF("a message holds \"%s\"", patterns[i]);
  }
  sk_buf_release(&log);
}

int main(void) {
  sk_buf_init(&all_messages, 1u << 20);
  const char *tmp = getenv("TMPDIR");
  snprintf(logpath, sizeof(logpath), "%s/skein-aws-log-%d.txt", tmp && *tmp ? tmp : "/tmp",
           (int)getpid());
  FILE *logf = fopen(logpath, "w+");
  if (!logf) {
    printf("cannot open %s\n", logpath);
    return 1;
  }
  sk_log_setup(SK_LOG_TEXT, 3, logf);
  RUN(env_wins_over_everything);
  RUN(shared_file_and_profiles);
  RUN(web_identity);
  RUN(web_identity_default_region_and_errors);
  RUN(refresh_window_and_failed_refresh);
  RUN(concurrent_authorize_one_fetch);
  RUN(destroy_during_fetch);
  RUN(container_credentials);
  RUN(imds_v2);
  RUN(no_credentials_anywhere);
  RUN(imds_silent_times_out_quickly);
  RUN(no_secret_in_messages_or_log);
  sk_log_setup(SK_LOG_TEXT, 0, NULL);
  fclose(logf);
  unlink(logpath);
  sk_buf_release(&all_messages);
  return TEST_DONE();
}
