/*
 * lib/http over TLS against the scripted test server speaking TLS through
 * OpenSSL. A throwaway PKI is made in memory at the start (EC P-256 keys, a
 * CA, a second unrelated CA, server and client certificates); the tests that
 * need files write them to a fresh temporary directory and remove it.
 */
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http_testenv.h"
#include "util/error.h"

typedef struct {
  EVP_PKEY *key;
  X509 *cert;
  char *cert_pem;
  char *key_pem;
} pki_t;

static pki_t ca, other_ca, srv_ip, srv_named, client;
static char tmpdir[256];
static char ca_path[300], cert_path[300], key_path[300];

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
  X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
  if (!ex)
    return -1;
  int ok = X509_add_ext(x, ex, -1);
  X509_EXTENSION_free(ex);
  return ok ? 0 : -1;
}

static char *bio_text(BIO *b) {
  char *p = NULL;
  long n = BIO_get_mem_data(b, &p);
  char *s = n > 0 ? sk_memdup_str(p, (size_t)n) : NULL;
  BIO_free(b);
  return s;
}

/* Makes a key and a certificate for cn, signed by issuer (self-signed when
 * NULL). kind is "ca", "server" or "client"; san is for servers. */
static int make(pki_t *out, const char *cn, const pki_t *issuer, const char *kind,
                const char *san) {
  static long serial;
  memset(out, 0, sizeof(*out));
  out->key = EVP_EC_gen("P-256");
  X509 *x = X509_new();
  if (!out->key || !x)
    return -1;
  out->cert = x;
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), ++serial);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600);
  X509_set_pubkey(x, out->key);
  X509_NAME *name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
  X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer->cert) : name);
  X509 *iss = issuer ? issuer->cert : x;
  int rc = 0;
  if (strcmp(kind, "ca") == 0) {
    rc |= add_ext(x, iss, NID_basic_constraints, "critical,CA:TRUE");
    rc |= add_ext(x, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    rc |= add_ext(x, iss, NID_basic_constraints, "critical,CA:FALSE");
    rc |= add_ext(x, iss, NID_key_usage, "critical,digitalSignature");
    rc |= add_ext(x, iss, NID_ext_key_usage,
                  strcmp(kind, "server") == 0 ? "serverAuth" : "clientAuth");
  }
  if (san)
    rc |= add_ext(x, iss, NID_subject_alt_name, san);
  if (rc != 0 || !X509_sign(x, issuer ? issuer->key : out->key, EVP_sha256()))
    return -1;
  BIO *b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, x);
  out->cert_pem = bio_text(b);
  b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, out->key, NULL, NULL, 0, NULL, NULL);
  out->key_pem = bio_text(b);
  return out->cert_pem && out->key_pem ? 0 : -1;
}

static void pki_free(pki_t *p) {
  X509_free(p->cert);
  EVP_PKEY_free(p->key);
  free(p->cert_pem);
  free(p->key_pem);
}

static int write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f)
    return -1;
  int rc = fputs(text, f) < 0 ? -1 : 0;
  return fclose(f) != 0 ? -1 : rc;
}

/* A server context with cert; client certificates from client_ca are
 * required when it is not NULL. */
static SSL_CTX *server_ctx(const pki_t *cert, const pki_t *client_ca) {
  SSL_CTX *c = SSL_CTX_new(TLS_server_method());
  if (!c)
    return NULL;
  if (SSL_CTX_use_certificate(c, cert->cert) != 1 || SSL_CTX_use_PrivateKey(c, cert->key) != 1) {
    SSL_CTX_free(c);
    return NULL;
  }
  if (client_ca) {
    X509_STORE_add_cert(SSL_CTX_get_cert_store(c), client_ca->cert);
    SSL_CTX_add_client_CA(c, client_ca->cert);
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
  }
  return c;
}

/* GET /hello over TLS with tls, into r. */
static void tls_get(env_t *e, const sk_http_tls_t *tls, result_t *r) {
  char url[256];
  sk_http_opts_t o = opts_for(e, "/hello", r, url, sizeof(url));
  o.tls = tls;
  CHECK_INT(sk_http_request(e->h, &o, NULL), 0);
  CHECK(run_until(e, is_done, r, 15000));
}

static void expect_ok(env_t *e, const sk_http_tls_t *tls) {
  result_t r;
  result_init(&r);
  tls_get(e, tls, &r);
  CHECK_INT(r.error, 0);
  CHECK_INT(r.status, 200);
  CHECK_STR(r.body, "hello world");
  if (r.error)
    printf("  error text: %s\n", r.error_text ? r.error_text : "(none)");
  result_release(&r);
}

/* Expects code, with an error text that mentions needle. */
static void expect_fail(env_t *e, const sk_http_tls_t *tls, int code, const char *needle) {
  result_t r;
  result_init(&r);
  tls_get(e, tls, &r);
  CHECK_INT(r.error, code);
  CHECK(r.error_text && strstr(r.error_text, needle));
  if (!r.error_text || !strstr(r.error_text, needle))
    printf("  error text: %s\n", r.error_text ? r.error_text : "(none)");
  result_release(&r);
}

TEST(trusted_ca) {
  SSL_CTX *ctx = server_ctx(&srv_ip, NULL);
  REQUIRE(ctx);
  env_t e;
  env_init(&e, ctx, "https");
  REQUIRE(e.srv && e.h);
  sk_http_tls_t pem = {.ca_pem = ca.cert_pem};
  expect_ok(&e, &pem);
  expect_ok(&e, &pem);
  /* The TLS connection was kept and reused. */
  CHECK_INT(ts_stats(e.srv)->connections, 1);
  sk_http_tls_t file = {.ca_file = ca_path};
  expect_ok(&e, &file);
  env_finish(&e);
  SSL_CTX_free(ctx);
}

TEST(untrusted_server_refused) {
  SSL_CTX *ctx = server_ctx(&srv_ip, NULL);
  REQUIRE(ctx);
  env_t e;
  env_init(&e, ctx, "https");
  REQUIRE(e.srv && e.h);
  /* A connection verified with the right CA is open, but a request trusting
   * another CA must not ride on it. */
  sk_http_tls_t right = {.ca_pem = ca.cert_pem};
  expect_ok(&e, &right);
  sk_http_tls_t wrong = {.ca_pem = other_ca.cert_pem};
  expect_fail(&e, &wrong, SK_ENET, "certificate");
  /* With no CA given, the system roots do not know our CA either. */
  expect_fail(&e, NULL, SK_ENET, "certificate");
  sk_http_tls_t skip = {.ca_pem = other_ca.cert_pem, .insecure_skip_verify = 1};
  expect_ok(&e, &skip);
  env_finish(&e);
  SSL_CTX_free(ctx);
}

TEST(server_name_verified_instead_of_host) {
  SSL_CTX *ctx = server_ctx(&srv_named, NULL);
  REQUIRE(ctx);
  env_t e;
  env_init(&e, ctx, "https");
  REQUIRE(e.srv && e.h);
  /* The certificate names only kube.test, not 127.0.0.1. */
  sk_http_tls_t plain = {.ca_pem = ca.cert_pem};
  expect_fail(&e, &plain, SK_ENET, "127.0.0.1");
  sk_http_tls_t named = {.ca_pem = ca.cert_pem, .server_name = "kube.test"};
  expect_ok(&e, &named);
  CHECK_STR(ts_stats(e.srv)->sni, "kube.test");
  char host[64];
  snprintf(host, sizeof(host), "127.0.0.1:%d", ts_port(e.srv));
  CHECK_STR(ts_seen.host, host);
  sk_http_tls_t other = {.ca_pem = ca.cert_pem, .server_name = "other.test"};
  expect_fail(&e, &other, SK_ENET, "other.test");
  env_finish(&e);
  SSL_CTX_free(ctx);
}

TEST(client_certificate) {
  SSL_CTX *ctx = server_ctx(&srv_ip, &ca);
  REQUIRE(ctx);
  env_t e;
  env_init(&e, ctx, "https");
  REQUIRE(e.srv && e.h);
  sk_http_tls_t none = {.ca_pem = ca.cert_pem};
  result_t r;
  result_init(&r);
  tls_get(&e, &none, &r);
  CHECK_INT(r.error, SK_ENET);
  CHECK(r.error_text && r.error_text[0]);
  result_release(&r);
  /* A key that is not one is our mistake, not the network's. (Checked
   * before any good connection exists: curl would reuse one made with the
   * same certificate.) */
  sk_http_tls_t bad = {.ca_pem = ca.cert_pem, .cert_pem = client.cert_pem,
                       .key_pem = "-----BEGIN PRIVATE KEY-----\nbm9wZQ==\n-----END PRIVATE KEY-----\n"};
  result_init(&r);
  tls_get(&e, &bad, &r);
  CHECK_INT(r.error, SK_EINVAL);
  result_release(&r);
  sk_http_tls_t pem = {.ca_pem = ca.cert_pem, .cert_pem = client.cert_pem,
                       .key_pem = client.key_pem};
  expect_ok(&e, &pem);
  CHECK_STR(ts_stats(e.srv)->client_cn, "skein-client");
  sk_http_tls_t files = {.ca_file = ca_path, .cert_file = cert_path, .key_file = key_path};
  expect_ok(&e, &files);
  CHECK_STR(ts_stats(e.srv)->client_cn, "skein-client");
  env_finish(&e);
  SSL_CTX_free(ctx);
}

static int setup(void) {
  if (make(&ca, "skein-test-ca", NULL, "ca", NULL) < 0 ||
      make(&other_ca, "someone-else-ca", NULL, "ca", NULL) < 0 ||
      make(&srv_ip, "skein-test-server", &ca, "server", "IP:127.0.0.1,DNS:localhost") < 0 ||
      make(&srv_named, "kube.test", &ca, "server", "DNS:kube.test") < 0 ||
      make(&client, "skein-client", &ca, "client", NULL) < 0)
    return -1;
  const char *t = getenv("TMPDIR");
  snprintf(tmpdir, sizeof(tmpdir), "%s/skein-http-tls-XXXXXX", t && *t ? t : "/tmp");
  if (!mkdtemp(tmpdir))
    return -1;
  snprintf(ca_path, sizeof(ca_path), "%s/ca.crt", tmpdir);
  snprintf(cert_path, sizeof(cert_path), "%s/client.crt", tmpdir);
  snprintf(key_path, sizeof(key_path), "%s/client.key", tmpdir);
  if (write_file(ca_path, ca.cert_pem) < 0 || write_file(cert_path, client.cert_pem) < 0 ||
      write_file(key_path, client.key_pem) < 0)
    return -1;
  return 0;
}

static void teardown(void) {
  if (tmpdir[0] && !strstr(tmpdir, "XXXXXX")) {
    unlink(ca_path);
    unlink(cert_path);
    unlink(key_path);
    rmdir(tmpdir);
  }
  pki_t *all[] = {&ca, &other_ca, &srv_ip, &srv_named, &client};
  for (size_t i = 0; i < sizeof(all) / sizeof(*all); i++)
    pki_free(all[i]);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  /* A proxy from the environment would take the 127.0.0.1 requests away. */
  unsetenv("https_proxy");
  unsetenv("HTTPS_PROXY");
  unsetenv("all_proxy");
  unsetenv("ALL_PROXY");
  if (setup() < 0) {
    printf("FAIL setup: could not make the test PKI\n");
    teardown();
    return 1;
  }
  RUN(trusted_ca);
  RUN(untrusted_server_refused);
  RUN(server_name_verified_instead_of_host);
  RUN(client_certificate);
  teardown();
  curl_global_cleanup();
  return TEST_DONE();
}
