/*
 * AWS SigV4 (lib/cloud/aws_sigv4.c) against the published test-suite
 * vectors and botocore's (tests/unit/data/aws), the parsers of the
 * credential sources (shared file INI, STS XML, container/IMDS JSON), and
 * the static authoriser's headers, with the signature recomputed here
 * from the pure function. The credential chain against loopback servers
 * is in test_cloud_aws_chain.c.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cloud/aws-int.h"
#include "cloud/aws.h"
#include "sk_test.h"
#include "util/buf.h"
#include "util/error.h"

#define AKID "AKIDEXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SUITE_TOKEN "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"

static const char *sig_of(const char *auth) {
  const char *s = strstr(auth, "Signature=");
  return s ? s + 10 : "";
}

/* ---- the published vectors, as quoted in the shared reference ---- */

TEST(published_vectors) {
  sk_aws_creds_t c = {AKID, SECRET, NULL, 0};
  char out[512];
  const char *h1[] = {"Host: example.amazonaws.com", "X-Amz-Date: 20150830T123600Z", NULL};
  CHECK_INT(sk_aws_sigv4_sign(&c, "us-east-1", "service", "GET", "https://example.amazonaws.com/",
                              h1, NULL, 0, "20150830T123600Z", out, sizeof(out)),
            0);
  CHECK_STR(out, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
                 "aws4_request, SignedHeaders=host;x-amz-date, "
                 "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  CHECK_INT(sk_aws_sigv4_sign(&c, "us-east-1", "service", "POST",
                              "https://example.amazonaws.com/", h1, "", 0, "20150830T123600Z",
                              out, sizeof(out)),
            0);
  CHECK_STR(sig_of(out), "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
  sk_aws_creds_t t = {AKID, SECRET, SUITE_TOKEN, 0};
  const char *h3[] = {"X-Amz-Date: 20150830T123600Z", "X-Amz-Security-Token: " SUITE_TOKEN,
                      NULL};
  CHECK_INT(sk_aws_sigv4_sign(&t, "us-east-1", "service", "GET", "https://example.amazonaws.com/",
                              h3, NULL, 0, "20150830T123600Z", out, sizeof(out)),
            0);
  CHECK(strstr(out, "SignedHeaders=host;x-amz-date;x-amz-security-token, ") != NULL);
  CHECK_STR(sig_of(out), "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8");
}

/* ---- the vectors of tests/unit/data/aws ---- */

static json_t *load_vectors(void) {
  char path[1024];
  const char *d = getenv("SKEIN_SOURCE_DIR");
  snprintf(path, sizeof(path), "%s/tests/unit/data/aws/sigv4_vectors.json", d ? d : ".");
  json_error_t err;
  json_t *root = json_load_file(path, 0, &err);
  if (!root)
    printf("  cannot load %s: %s\n", path, err.text);
  return root;
}

TEST(data_vectors) {
  json_t *root = load_vectors();
  REQUIRE(root);
  sk_aws_creds_t base = {(char *)json_string_value(json_object_get(root, "access_key_id")),
                         (char *)json_string_value(json_object_get(root, "secret_access_key")),
                         NULL, 0};
  json_t *vs = json_object_get(root, "vectors");
  CHECK(json_array_size(vs) >= 9);
  size_t i;
  json_t *v;
  json_array_foreach(vs, i, v) {
    const char *name = json_string_value(json_object_get(v, "name"));
    json_t *jh = json_object_get(v, "headers");
    const char *lines[16];
    size_t n = 0;
    for (; n < json_array_size(jh) && n < 15; n++)
      lines[n] = json_string_value(json_array_get(jh, n));
    lines[n] = NULL;
    sk_aws_creds_t c = base;
    c.session_token = (char *)json_string_value(json_object_get(v, "session_token"));
    const char *body = json_string_value(json_object_get(v, "body"));
    const char *method = json_string_value(json_object_get(v, "method"));
    const char *url = json_string_value(json_object_get(v, "url"));

    char hash[65], sh[256];
    sk__aws_sha256_hex(body, strlen(body), hash);
    sk_buf_t cr;
    sk_buf_init(&cr, 1 << 16);
    int rc = sk__aws_canonical_request(method, url, lines, hash, &cr, sh, sizeof(sh));
    if (rc != 0 || strcmp(cr.data, json_string_value(json_object_get(v, "canonical_request"))))
      FAILF("%s: canonical request (rc %d):\n%s\n--- want:\n%s", name, rc,
            cr.data ? cr.data : "", json_string_value(json_object_get(v, "canonical_request")));
    sk_buf_release(&cr);

    char out[512];
    rc = sk_aws_sigv4_sign(&c, json_string_value(json_object_get(v, "region")),
                           json_string_value(json_object_get(v, "service")), method, url, lines,
                           body, strlen(body), json_string_value(json_object_get(v, "amz_date")),
                           out, sizeof(out));
    CHECK_INT(rc, 0);
    if (rc == 0 && strcmp(out, json_string_value(json_object_get(v, "authorization"))) != 0)
      FAILF("%s:\n got %s\nwant %s", name, out,
            json_string_value(json_object_get(v, "authorization")));
  }
  json_decref(root);
}

/* ---- rules and refusals of the signer ---- */

TEST(sign_rules) {
  sk_aws_creds_t c = {AKID, SECRET, NULL, 0};
  char a[512], b[512];
  const char *h[] = {"X-Amz-Date: 20150830T123600Z", NULL};
  const char *d = "20150830T123600Z";
  /* The method is upper-cased; a Host line saying the URL's host changes nothing. */
  CHECK_INT(sk_aws_sigv4_sign(&c, "us-east-1", "service", "get", "https://example.amazonaws.com",
                              h, NULL, 0, d, a, sizeof(a)),
            0);
  CHECK_STR(sig_of(a), "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  const char *hh[] = {"host:  Example.amazonaws.com ", "X-Amz-Date:20150830T123600Z", NULL};
  CHECK_INT(sk_aws_sigv4_sign(&c, "us-east-1", "service", "GET",
                              "https://EXAMPLE.amazonaws.com/#frag", hh, NULL, 0, d, b, sizeof(b)),
            SK_EINVAL); /* the Host line differs in case from the URL's, lowercased */
  const char *hl[] = {"host: example.amazonaws.com", "X-Amz-Date:20150830T123600Z", NULL};
  CHECK_INT(sk_aws_sigv4_sign(&c, "us-east-1", "service", "GET",
                              "https://EXAMPLE.amazonaws.com/#frag", hl, NULL, 0, d, b, sizeof(b)),
            0);
  CHECK_STR(a, b);
  /* The body is part of the signature. */
  CHECK_INT(sk_aws_sigv4_sign(&c, "us-east-1", "service", "POST", "https://example.amazonaws.com/",
                              h, "x", 1, d, b, sizeof(b)),
            0);
  CHECK(strcmp(sig_of(b), "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"));
  /* Refusals. */
  const char *nodate[] = {"Content-Type: a/b", NULL};
  const char *otherdate[] = {"X-Amz-Date: 20150830T123601Z", NULL};
  const char *withauth[] = {"X-Amz-Date: 20150830T123600Z", "Authorization: x", NULL};
  const char *badname[] = {"X-Amz-Date: 20150830T123600Z", "Bad Name: x", NULL};
  const char *crlf[] = {"X-Amz-Date: 20150830T123600Z", "X-A: a\r\nX-B: b", NULL};
  const char *nocolon[] = {"X-Amz-Date: 20150830T123600Z", "nocolon", NULL};
  const char *url = "https://example.amazonaws.com/";
  CHECK_INT(sk_aws_sigv4_sign(&c, "us-east-1", "s", "GET", url, nodate, NULL, 0, d, b, 512),
            SK_EINVAL);
  CHECK_INT(sk_aws_sigv4_sign(&c, "us-east-1", "s", "GET", url, otherdate, NULL, 0, d, b, 512),
            SK_EINVAL);
  CHECK_INT(sk_aws_sigv4_sign(&c, "us-east-1", "s", "GET", url, withauth, NULL, 0, d, b, 512),
            SK_EINVAL);
  CHECK_INT(sk_aws_sigv4_sign(&c, "us-east-1", "s", "GET", url, badname, NULL, 0, d, b, 512),
            SK_EINVAL);
  CHECK_INT(sk_aws_sigv4_sign(&c, "us-east-1", "s", "GET", url, crlf, NULL, 0, d, b, 512),
            SK_EINVAL);
  CHECK_INT(sk_aws_sigv4_sign(&c, "us-east-1", "s", "GET", url, nocolon, NULL, 0, d, b, 512),
            SK_EINVAL);
  CHECK_INT(sk_aws_sigv4_sign(&c, "us-east-1", "s", "GET", "ftp://example.com/", h, NULL, 0, d, b,
                              512),
            SK_EINVAL);
  CHECK_INT(sk_aws_sigv4_sign(&c, "us-east-1", "s", "GET", "https://u:p@example.com/", h, NULL, 0,
                              d, b, 512),
            SK_EINVAL);
  CHECK_INT(sk_aws_sigv4_sign(&c, "us-east-1", "s", "GET", "https://example.com:99999/", h, NULL,
                              0, d, b, 512),
            SK_EINVAL);
  CHECK_INT(sk_aws_sigv4_sign(&c, "", "s", "GET", url, h, NULL, 0, d, b, 512), SK_EINVAL);
  CHECK_INT(sk_aws_sigv4_sign(&c, "us-east-1", "a/b", "GET", url, h, NULL, 0, d, b, 512),
            SK_EINVAL);
  CHECK_INT(sk_aws_sigv4_sign(&c, "us-east-1", "s", "GET", url, h, NULL, 0, "2015-08-30", b, 512),
            SK_EINVAL);
  sk_aws_creds_t t = {AKID, SECRET, "tok-1234", 0};
  CHECK_INT(sk_aws_sigv4_sign(&t, "us-east-1", "s", "GET", url, h, NULL, 0, d, b, 512),
            SK_EINVAL); /* the session token must be among the headers */
  CHECK_INT(sk_aws_sigv4_sign(&c, "us-east-1", "s", "GET", url, h, NULL, 0, d, b, 40),
            SK_ETOOBIG);
  CHECK(strstr(b, SECRET) == NULL);
}

TEST(url_split_and_date) {
  sk__aws_url_t u;
  CHECK_INT(sk__aws_url_split("http://[::1]:8080/a?b=1#c", &u), 0);
  CHECK_STR(u.host, "[::1]:8080");
  CHECK_INT(u.path_len, 2);
  CHECK_INT(u.query_len, 3);
  CHECK_INT(sk__aws_url_split("http://Host.Example:80", &u), 0);
  CHECK_STR(u.host, "host.example");
  CHECK_INT(u.path_len, 0);
  CHECK(u.query == NULL);
  CHECK_INT(sk__aws_url_split("https://h:8443/", &u), 0);
  CHECK_STR(u.host, "h:8443");
  CHECK_INT(sk__aws_url_split("https://:443/", &u), SK_EINVAL);
  CHECK_INT(sk__aws_url_split("https://h:x/", &u), SK_EINVAL);
  CHECK_INT(sk__aws_url_split("https://h/\n", &u), SK_EINVAL);
  char d[17];
  CHECK_INT(sk_aws_amz_date(1440938160000LL, d, sizeof(d)), 0);
  CHECK_STR(d, "20150830T123600Z");
  CHECK_INT(sk_aws_amz_date(1440938160999LL, d, sizeof(d)), 0);
  CHECK_STR(d, "20150830T123600Z");
  CHECK_INT(sk_aws_amz_date(-1, d, sizeof(d)), SK_EINVAL);
  CHECK_INT(sk_aws_amz_date(0, d, 10), SK_ETOOBIG);
}

/* ---- the shared credentials file ---- */

TEST(ini_profiles) {
  const char *text = "\xEF\xBB\xBF# a comment\r\n"
                     "; another\n"
                     "[default]\n"
                     "aws_access_key_id = AKIADEFAULT\n"
                     "aws_secret_access_key=secretdefault   # inline comment\n"
                     "region = eu-west-1\n"
                     "\n"
                     "  [ dev ]  \r\n"
                     "\tAWS_ACCESS_KEY_ID   =   AKIADEV\r\n"
                     "aws_secret_access_key = secretdev\r\n"
                     "aws_session_token = tokdev\r\n"
                     "[only-region]\n"
                     "region = us-west-2\n"
                     "[half]\n"
                     "aws_access_key_id = AKIAHALF\n"
                     "[later]\n"
                     "aws_access_key_id = AKIAOLD\n"
                     "aws_secret_access_key = s1\n"
                     "[later]\n"
                     "aws_access_key_id = AKIANEW\n"
                     "[spaces]\n"
                     "aws_access_key_id = AKIA SPACE\n"
                     "aws_secret_access_key = s\n";
  size_t len = strlen(text);
  sk_aws_creds_t c;
  char err[128];
  CHECK_INT(sk__aws_ini_profile(text, len, "default", &c, err, sizeof(err)), 0);
  CHECK_STR(c.access_key_id, "AKIADEFAULT");
  CHECK_STR(c.secret_access_key, "secretdefault");
  CHECK(c.session_token == NULL);
  sk__aws_creds_release(&c);
  CHECK_INT(sk__aws_ini_profile(text, len, "dev", &c, err, sizeof(err)), 0);
  CHECK_STR(c.access_key_id, "AKIADEV");
  CHECK_STR(c.secret_access_key, "secretdev");
  CHECK_STR(c.session_token, "tokdev");
  sk__aws_creds_release(&c);
  CHECK(c.access_key_id == NULL);
  CHECK_INT(sk__aws_ini_profile(text, len, "later", &c, err, sizeof(err)), 0);
  CHECK_STR(c.access_key_id, "AKIANEW");
  CHECK_STR(c.secret_access_key, "s1");
  sk__aws_creds_release(&c);
  CHECK_INT(sk__aws_ini_profile(text, len, "missing", &c, err, sizeof(err)), SK_ENOENT);
  CHECK_INT(sk__aws_ini_profile(text, len, "Dev", &c, err, sizeof(err)), SK_ENOENT);
  CHECK_INT(sk__aws_ini_profile(text, len, "only-region", &c, err, sizeof(err)), SK_EINVALID);
  CHECK_INT(sk__aws_ini_profile(text, len, "half", &c, err, sizeof(err)), SK_EINVAL);
  CHECK_STR(err, "has aws_access_key_id but no aws_secret_access_key");
  CHECK_INT(sk__aws_ini_profile(text, len, "spaces", &c, err, sizeof(err)), SK_EINVAL);
  CHECK(strstr(err, "AKIA") == NULL);
  CHECK_INT(sk__aws_ini_profile("", 0, "default", &c, err, sizeof(err)), SK_ENOENT);
  /* A section header without its bracket starts nothing. */
  const char *broken = "[default\naws_access_key_id = A1234\naws_secret_access_key = B\n";
  CHECK_INT(sk__aws_ini_profile(broken, strlen(broken), "default", &c, err, sizeof(err)),
            SK_ENOENT);
}

/* ---- XML and STS ---- */

static const char sts_ok[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
    "  <AssumeRoleWithWebIdentityResult>\n"
    "    <!-- <Credentials><AccessKeyId>COMMENTED</AccessKeyId></Credentials> -->\n"
    "    <SubjectFromWebIdentityToken>system:serviceaccount:ml:runner"
    "</SubjectFromWebIdentityToken>\n"
    "    <AssumedRoleUser>\n"
    "      <Arn>arn:aws:sts::123456789012:assumed-role/skein/app1</Arn>\n"
    "      <AssumedRoleId>AROACLKWSDQRAOEXAMPLE:app1</AssumedRoleId>\n"
    "    </AssumedRoleUser>\n"
    "    <Credentials>\n"
    "      <SessionToken>AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE</SessionToken>\n"
    "      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>\n"
    "      <Expiration>2014-10-24T23:00:23Z</Expiration>\n"
    "      <AccessKeyId>ASgeIAIOSFODNN7EXAMPLE</AccessKeyId>\n"
    "    </Credentials>\n"
    "    <Provider attr='a>b'>oidc.eks.amazonaws.com</Provider>\n"
    "  </AssumeRoleWithWebIdentityResult>\n"
    "  <ResponseMetadata><RequestId>ad4156e9-bce1-11e2-82e6-6b6efEXAMPLE</RequestId>"
    "</ResponseMetadata>\n"
    "</AssumeRoleWithWebIdentityResponse>\n";

static const char sts_denied[] =
    "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
    "  <Error>\n"
    "    <Type>Sender</Type>\n"
    "    <Code>AccessDenied</Code>\n"
    "    <Message>Not authorized to perform sts:AssumeRoleWithWebIdentity &amp; more</Message>\n"
    "  </Error>\n"
    "  <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>\n"
    "</ErrorResponse>\n";

TEST(xml_extractor) {
  char *s = NULL;
  size_t n = strlen(sts_ok);
  CHECK_INT(sk__aws_xml_text(sts_ok, n, "Credentials/AccessKeyId", &s), 0);
  CHECK_STR(s, "ASgeIAIOSFODNN7EXAMPLE");
  free(s);
  CHECK_INT(sk__aws_xml_text(sts_ok, n, "AssumedRoleUser/Arn", &s), 0);
  CHECK_STR(s, "arn:aws:sts::123456789012:assumed-role/skein/app1");
  free(s);
  CHECK_INT(sk__aws_xml_text(sts_ok, n, "Provider", &s), 0);
  CHECK_STR(s, "oidc.eks.amazonaws.com");
  free(s);
  /* Not a leaf. */
  CHECK_INT(sk__aws_xml_text(sts_ok, n, "AssumedRoleUser", &s), SK_EPARSE);
  CHECK_INT(sk__aws_xml_text(sts_ok, n, "ResponseMetadata/Arn", &s), SK_ENOENT);
  const char *ent = "<a><b>x &lt;&gt;&amp;&quot;&apos; &#65;&#x42;&#xe9; <![CDATA[<raw>&amp;]]>"
                    "</b><p:c xmlns:p='u'>pref</p:c><e/></a>";
  CHECK_INT(sk__aws_xml_text(ent, strlen(ent), "a/b", &s), 0);
  CHECK_STR(s, "x <>&\"' AB\xc3\xa9 <raw>&amp;");
  free(s);
  CHECK_INT(sk__aws_xml_text(ent, strlen(ent), "a/c", &s), 0);
  CHECK_STR(s, "pref");
  free(s);
  CHECK_INT(sk__aws_xml_text(ent, strlen(ent), "e", &s), 0);
  CHECK_STR(s, "");
  free(s);
  const char *bad[] = {"<a><b>x</c></a>", "<a><b>x &bogus; </b></a>", "<a><b>x &#0;</b></a>",
                       "<a><b>unclosed", "<a><!-- never closed <b>x</b></a>",
                       "<!DOCTYPE a [<!ENTITY e 'x'>]><a><b>&e;</b></a>", NULL};
  for (int i = 0; bad[i]; i++) {
    s = NULL;
    int rc = sk__aws_xml_text(bad[i], strlen(bad[i]), "a/b", &s);
    if (rc != SK_EPARSE)
      FAILF("bad[%d] gave %d, want SK_EPARSE", i, rc);
    free(s);
  }
  /* Deeper than the cap. */
  sk_buf_t deep;
  sk_buf_init(&deep, 4096);
  for (int i = 0; i < 40; i++)
    sk_buf_puts(&deep, "<d>");
  CHECK_INT(sk__aws_xml_text(deep.data, deep.len, "x", &s), SK_ETOOBIG);
  sk_buf_release(&deep);
}

TEST(sts_parse) {
  sk_aws_creds_t c;
  char msg[256];
  CHECK_INT(sk__aws_sts_parse(200, sts_ok, strlen(sts_ok), &c, msg, sizeof(msg)), 0);
  CHECK_STR(c.access_key_id, "ASgeIAIOSFODNN7EXAMPLE");
  CHECK_STR(c.secret_access_key, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY");
  CHECK_STR(c.session_token, "AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE");
  CHECK_INT(c.expires_ms, 1414191623000LL);
  sk__aws_creds_release(&c);
  CHECK_INT(sk__aws_sts_parse(403, sts_denied, strlen(sts_denied), &c, msg, sizeof(msg)),
            SK_EAUTH);
  CHECK_STR(msg, "AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity & more");
  const char *thr = "<ErrorResponse><Error><Code>IDPCommunicationError</Code></Error>"
                    "</ErrorResponse>";
  CHECK_INT(sk__aws_sts_parse(400, thr, strlen(thr), &c, msg, sizeof(msg)), SK_EHTTP);
  CHECK_STR(msg, "IDPCommunicationError");
  CHECK_INT(sk__aws_sts_parse(503, "oops", 4, &c, msg, sizeof(msg)), SK_EHTTP);
  CHECK_STR(msg, "");
  const char *noexp = "<R><AssumeRoleWithWebIdentityResult><Credentials>"
                      "<AccessKeyId>A1</AccessKeyId>"
                      "<SecretAccessKey>S1</SecretAccessKey><SessionToken>T1</SessionToken>"
                      "<Expiration>tomorrow</Expiration></Credentials>"
                      "</AssumeRoleWithWebIdentityResult></R>";
  CHECK_INT(sk__aws_sts_parse(200, noexp, strlen(noexp), &c, msg, sizeof(msg)), SK_EHTTP);
  CHECK_STR(msg, "the reply's Expiration \"tomorrow\" is not an ISO 8601 time");
  CHECK(c.access_key_id == NULL);
  CHECK_INT(sk__aws_sts_parse(200, sts_denied, strlen(sts_denied), &c, msg, sizeof(msg)),
            SK_EHTTP);
  CHECK_STR(msg, "the reply has no AccessKeyId");
}

TEST(json_creds) {
  sk_aws_creds_t c;
  char msg[256];
  const char *imds = "{\"Code\":\"Success\",\"LastUpdated\":\"2026-11-22T07:00:00Z\","
                     "\"Type\":\"AWS-HMAC\",\"AccessKeyId\":\"ASIAIMDS\","
                     "\"SecretAccessKey\":\"imdssecret\",\"Token\":\"imdstoken\","
                     "\"Expiration\":\"2026-11-22T13:00:00Z\"}";
  CHECK_INT(sk__aws_json_creds(imds, strlen(imds), &c, msg, sizeof(msg)), 0);
  CHECK_STR(c.access_key_id, "ASIAIMDS");
  CHECK_STR(c.session_token, "imdstoken");
  CHECK_INT(c.expires_ms, 1795352400000LL);
  sk__aws_creds_release(&c);
  const char *fail = "{\"Code\":\"AssumeRoleUnauthorizedAccess\",\"Message\":\"denied\"}";
  CHECK_INT(sk__aws_json_creds(fail, strlen(fail), &c, msg, sizeof(msg)), SK_EAUTH);
  CHECK_STR(msg, "Code AssumeRoleUnauthorizedAccess: denied");
  CHECK_INT(sk__aws_json_creds("[]", 2, &c, msg, sizeof(msg)), SK_EPARSE);
  const char *nosecret = "{\"AccessKeyId\":\"A\"}";
  CHECK_INT(sk__aws_json_creds(nosecret, strlen(nosecret), &c, msg, sizeof(msg)), SK_EINVAL);
  CHECK_STR(msg, "the reply has no SecretAccessKey");
  const char *longterm = "{\"AccessKeyId\":\"AKIA\",\"SecretAccessKey\":\"s\"}";
  CHECK_INT(sk__aws_json_creds(longterm, strlen(longterm), &c, msg, sizeof(msg)), 0);
  CHECK(c.session_token == NULL);
  CHECK_INT(c.expires_ms, 0);
  sk__aws_creds_release(&c);
}

TEST(helpers) {
  char out[64];
  CHECK_INT(sk__aws_fill_region("https://sts.{region}.amazonaws.com", "eu-west-1", out,
                                sizeof(out)),
            0);
  CHECK_STR(out, "https://sts.eu-west-1.amazonaws.com");
  CHECK_INT(sk__aws_fill_region("http://127.0.0.1:1", "x", out, sizeof(out)), 0);
  CHECK_STR(out, "http://127.0.0.1:1");
  CHECK_INT(sk__aws_fill_region("https://sts.{region}.amazonaws.com", "eu-west-1", out, 20),
            SK_ETOOBIG);
  char msg[] = "token abcdef echoed, key abcdef again; short ab stays";
  const char *secrets[] = {"abcdef", NULL, "ab"};
  sk__aws_redact(msg, secrets, 3);
  CHECK_STR(msg, "token ****** echoed, key ****** again; short ab stays");
  sk_buf_t b;
  sk_buf_init(&b, 256);
  sk__aws_uri_encode(&b, "a b/~é+", strlen("a b/~é+"), false);
  CHECK_STR(b.data, "a%20b%2F~%C3%A9%2B");
  sk_buf_release(&b);
}

/* ---- the static authoriser ---- */

typedef struct {
  int calls;
  int rc;
  char headers[SK_CLOUD_MAX_AUTH_HEADERS][2048];
  int nheaders;
  char message[SK_CLOUD_MAX_MESSAGE];
  bool inside;         /* set while authorize runs: the callback must not see it */
  bool called_inside;
  sk_cloud_authz_t *destroy_in_cb;
} rec_t;

static void on_auth(const sk_cloud_auth_result_t *res, void *arg) {
  rec_t *r = arg;
  r->calls++;
  if (r->inside)
    r->called_inside = true;
  r->rc = res->rc;
  r->nheaders = 0;
  for (int i = 0; res->headers[i] && i < SK_CLOUD_MAX_AUTH_HEADERS; i++)
    snprintf(r->headers[r->nheaders++], sizeof(r->headers[0]), "%s", res->headers[i]);
  snprintf(r->message, sizeof(r->message), "%s", res->message ? res->message : "");
  if (r->destroy_in_cb) {
    sk_cloud_authz_destroy(r->destroy_in_cb);
    r->destroy_in_cb = NULL;
  }
}

static const char *header(const rec_t *r, const char *prefix) {
  for (int i = 0; i < r->nheaders; i++)
    if (strncmp(r->headers[i], prefix, strlen(prefix)) == 0)
      return r->headers[i] + strlen(prefix);
  return NULL;
}

static void run_loop_until(uv_loop_t *loop, const int *calls, int want) {
  /* Bounded: a zero-delay timer answers within a few iterations. */
  for (int i = 0; i < 1000 && *calls < want; i++)
    uv_run(loop, UV_RUN_ONCE);
}

static void finish_loop(uv_loop_t *loop) {
  uv_run(loop, UV_RUN_DEFAULT);
  CHECK_INT(uv_loop_close(loop), 0);
}

TEST(static_authoriser_headers) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  const char *tok = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN/abc+def==";
  sk_cloud_authz_t *a = sk_aws_authz_static(&loop, AKID, SECRET, tok);
  REQUIRE(a);
  CHECK(strstr(a->description, "AWS") != NULL);
  const char *body = "{\"TrainingJobName\":\"j1\"}";
  const char *hdrs[] = {"Content-Type: application/x-amz-json-1.1",
                        "X-Amz-Target: SageMaker.DescribeTrainingJob", "Accept: application/json",
                        "User-Agent: skein", NULL};
  sk_cloud_request_t req = {.method = "POST",
                            .url = "http://127.0.0.1:5000/",
                            .body = body,
                            .body_len = strlen(body),
                            .headers = hdrs,
                            .now_ms = 1795332750123LL, /* 2026-11-22T07:32:30.123Z */
                            .region = "us-east-1",
                            .service = "sagemaker"};
  rec_t r;
  memset(&r, 0, sizeof(r));
  r.inside = true;
  CHECK_INT(sk_cloud_authorize(a, &req, on_auth, &r), 0);
  r.inside = false;
  CHECK_INT(r.calls, 0);
  run_loop_until(&loop, &r.calls, 1);
  CHECK_INT(r.calls, 1);
  CHECK(!r.called_inside);
  CHECK_INT(r.rc, 0);
  CHECK_INT(r.nheaders, 3);
  CHECK_STR(header(&r, "X-Amz-Date: "), "20261122T073230Z");
  CHECK_STR(header(&r, "X-Amz-Security-Token: "), tok);
  const char *auth = header(&r, "Authorization: ");
  REQUIRE(auth);
  /* The same signature from the pure function over the headers that
   * should be signed (Accept and User-Agent are not). */
  sk_aws_creds_t c = {AKID, SECRET, (char *)tok, 0};
  char tokline[256];
  snprintf(tokline, sizeof(tokline), "X-Amz-Security-Token: %s", tok);
  const char *signed_lines[] = {"X-Amz-Date: 20261122T073230Z", tokline, hdrs[0], hdrs[1], NULL};
  char want[512];
  CHECK_INT(sk_aws_sigv4_sign(&c, "us-east-1", "sagemaker", "POST", "http://127.0.0.1:5000/",
                              signed_lines, body, strlen(body), "20261122T073230Z", want,
                              sizeof(want)),
            0);
  CHECK_STR(auth, want);
  CHECK(strstr(auth, "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;"
                     "x-amz-target, ") != NULL);
  CHECK(strstr(auth, "Credential=AKIDEXAMPLE/20261122/us-east-1/sagemaker/aws4_request") != NULL);

  /* Long-term keys: no token header; invalidate keeps them. */
  sk_cloud_authz_t *b = sk_aws_authz_static(&loop, AKID, SECRET, "");
  REQUIRE(b);
  sk_cloud_authz_invalidate(b);
  memset(&r, 0, sizeof(r));
  CHECK_INT(sk_cloud_authorize(b, &req, on_auth, &r), 0);
  run_loop_until(&loop, &r.calls, 1);
  CHECK_INT(r.rc, 0);
  CHECK_INT(r.nheaders, 2);
  CHECK(header(&r, "X-Amz-Security-Token: ") == NULL);
  CHECK(strstr(header(&r, "Authorization: "), "SignedHeaders=content-type;host;x-amz-date;"
                                               "x-amz-target, ") != NULL);

  /* Refused at once, with no callback. */
  sk_cloud_request_t bad = req;
  bad.region = NULL;
  CHECK_INT(sk_cloud_authorize(a, &bad, on_auth, &r), SK_EINVAL);
  bad = req;
  bad.service = "";
  CHECK_INT(sk_cloud_authorize(a, &bad, on_auth, &r), SK_EINVAL);
  bad = req;
  bad.url = "ftp://x/";
  CHECK_INT(sk_cloud_authorize(a, &bad, on_auth, &r), SK_EINVAL);
  CHECK_INT(sk_cloud_authorize(a, &req, NULL, &r), SK_EINVAL);
  CHECK(sk_aws_authz_static(&loop, "AKID WITH SPACE", SECRET, NULL) == NULL);
  CHECK(sk_aws_authz_static(&loop, AKID, " \n", NULL) == NULL);
  /* Whitespace around the values (a Secret from a file) is dropped. */
  sk_cloud_authz_t *trimmed = sk_aws_authz_static(&loop, " " AKID "\n", SECRET "\n", " \n");
  REQUIRE(trimmed);
  rec_t r2;
  memset(&r2, 0, sizeof(r2));
  CHECK_INT(sk_cloud_authorize(trimmed, &req, on_auth, &r2), 0);
  run_loop_until(&loop, &r2.calls, 1);
  CHECK_INT(r2.rc, 0);
  CHECK_STR(header(&r2, "Authorization: "), header(&r, "Authorization: "));
  sk_cloud_authz_destroy(trimmed);
  CHECK(sk_aws_authz_static(&loop, AKID, NULL, NULL) == NULL);

  sk_cloud_authz_destroy(a);
  sk_cloud_authz_destroy(b);
  finish_loop(&loop);
}

TEST(static_authoriser_destroy_and_reentry) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  sk_cloud_authz_t *a = sk_aws_authz_static(&loop, AKID, SECRET, NULL);
  REQUIRE(a);
  sk_cloud_request_t req = {.method = "GET",
                            .url = "https://api.sagemaker.us-east-1.amazonaws.com/",
                            .now_ms = 0, /* 0 = now */
                            .region = "us-east-1",
                            .service = "sagemaker"};
  /* Destroy with three pending: each is cancelled from the loop. */
  rec_t r[3];
  memset(r, 0, sizeof(r));
  for (int i = 0; i < 3; i++)
    CHECK_INT(sk_cloud_authorize(a, &req, on_auth, &r[i]), 0);
  sk_cloud_authz_destroy(a);
  for (int i = 0; i < 3; i++)
    CHECK_INT(r[i].calls, 0);
  int total = 0;
  for (int k = 0; k < 100 && total < 3; k++) {
    uv_run(&loop, UV_RUN_ONCE);
    total = r[0].calls + r[1].calls + r[2].calls;
  }
  for (int i = 0; i < 3; i++) {
    CHECK_INT(r[i].calls, 1);
    CHECK_INT(r[i].rc, SK_ECANCELED);
  }

  /* Destroyed from inside the first of two callbacks: the second is
   * cancelled, and authorize after destroy is refused. */
  a = sk_aws_authz_static(&loop, AKID, SECRET, NULL);
  REQUIRE(a);
  memset(r, 0, sizeof(r));
  r[0].destroy_in_cb = a;
  CHECK_INT(sk_cloud_authorize(a, &req, on_auth, &r[0]), 0);
  CHECK_INT(sk_cloud_authorize(a, &req, on_auth, &r[1]), 0);
  run_loop_until(&loop, &r[1].calls, 1);
  CHECK_INT(r[0].rc, 0);
  CHECK_INT(r[1].calls, 1);
  CHECK_INT(r[1].rc, SK_ECANCELED);
  finish_loop(&loop);
}

int main(void) {
  RUN(published_vectors);
  RUN(data_vectors);
  RUN(sign_rules);
  RUN(url_split_and_date);
  RUN(ini_profiles);
  RUN(xml_extractor);
  RUN(sts_parse);
  RUN(json_creds);
  RUN(helpers);
  RUN(static_authoriser_headers);
  RUN(static_authoriser_destroy_and_reentry);
  return TEST_DONE();
}
