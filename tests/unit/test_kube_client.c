/* Tests for the REST client's pure parts: paths and query strings, object
 * keys, mapping answers to results, ExecCredential parsing and the token
 * file cache on a fake clock. The I/O is in test_kube_rest.c. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kube/kube-int.h"
#include "sk_test.h"
#include "util/error.h"
#include "util/timeutil.h"

static char tmpdir[512];

/* ---- pure parts ---- */

TEST(paths) {
  char out[512];
  sk_kube_ref_t pods = {.gvr = {"", "v1", "pods"}, .namespace = "ml"};
  CHECK_INT(sk_kube_build_path(SK_KUBE_LIST, &pods, NULL, out, sizeof(out)), 0);
  CHECK_STR(out, "/api/v1/namespaces/ml/pods");
  sk_kube_call_opts_t o = {.label_selector = "app in (a,b)", .limit = 500,
                           .continue_token = "eyJ2Ijoi+/=", .field_selector = "status.phase!=x"};
  CHECK_INT(sk_kube_build_path(SK_KUBE_LIST, &pods, &o, out, sizeof(out)), 0);
  CHECK_STR(out, "/api/v1/namespaces/ml/pods?labelSelector=app%20in%20%28a%2Cb%29"
                 "&fieldSelector=status.phase%21%3Dx&limit=500&continue=eyJ2Ijoi%2B%2F%3D");
  sk_kube_ref_t wf = {.gvr = {"skein.dev", "v1alpha1", "workflows"}};
  sk_kube_call_opts_t w = {.resource_version = "12", .allow_bookmarks = true,
                           .watch_timeout_s = 300};
  CHECK_INT(sk_kube_build_path(SK_KUBE_WATCH, &wf, &w, out, sizeof(out)), 0);
  CHECK_STR(out, "/apis/skein.dev/v1alpha1/workflows?watch=true&resourceVersion=12"
                 "&allowWatchBookmarks=true&timeoutSeconds=300");
  sk_kube_ref_t st = {.gvr = {"skein.dev", "v1alpha1", "workflows"}, .namespace = "ml",
                      .name = "wf-1", .subresource = "status"};
  CHECK_INT(sk_kube_build_path(SK_KUBE_UPDATE, &st, NULL, out, sizeof(out)), 0);
  CHECK_STR(out, "/apis/skein.dev/v1alpha1/namespaces/ml/workflows/wf-1/status");
  sk_kube_call_opts_t apply = {.patch_type = SK_KUBE_PATCH_APPLY, .field_manager = "skeind",
                               .force = true, .dry_run = true};
  sk_kube_ref_t one = {.gvr = {"", "v1", "pods"}, .namespace = "ml", .name = "p"};
  CHECK_INT(sk_kube_build_path(SK_KUBE_PATCH, &one, &apply, out, sizeof(out)), 0);
  CHECK_STR(out, "/api/v1/namespaces/ml/pods/p?fieldManager=skeind&dryRun=All&force=true");
  /* POST goes to the collection even when a name is given. */
  CHECK_INT(sk_kube_build_path(SK_KUBE_CREATE, &one, NULL, out, sizeof(out)), 0);
  CHECK_STR(out, "/api/v1/namespaces/ml/pods");
  sk_kube_ref_t lease = {.gvr = {"coordination.k8s.io", "v1", "leases"}, .namespace = "kube",
                         .name = "skeind"};
  CHECK_INT(sk_kube_build_path(SK_KUBE_GET, &lease, NULL, out, sizeof(out)), 0);
  CHECK_STR(out, "/apis/coordination.k8s.io/v1/namespaces/kube/leases/skeind");

  /* Refusals: no name for a named verb, a name on a list, path tricks. */
  sk_kube_ref_t bad = {.gvr = {"", "v1", "pods"}, .namespace = "ml"};
  CHECK_INT(sk_kube_build_path(SK_KUBE_GET, &bad, NULL, out, sizeof(out)), SK_EINVAL);
  CHECK_INT(sk_kube_build_path(SK_KUBE_LIST, &one, NULL, out, sizeof(out)), SK_EINVAL);
  sk_kube_ref_t dots = {.gvr = {"", "v1", "pods"}, .namespace = "..", .name = "x"};
  CHECK_INT(sk_kube_build_path(SK_KUBE_GET, &dots, NULL, out, sizeof(out)), SK_EINVAL);
  sk_kube_ref_t slash = {.gvr = {"", "v1", "pods"}, .namespace = "a", .name = "x/y"};
  CHECK_INT(sk_kube_build_path(SK_KUBE_GET, &slash, NULL, out, sizeof(out)), SK_EINVAL);
  sk_kube_ref_t nover = {.gvr = {"", NULL, "pods"}};
  CHECK_INT(sk_kube_build_path(SK_KUBE_LIST, &nover, NULL, out, sizeof(out)), SK_EINVAL);
  CHECK_INT(sk_kube_build_path(SK_KUBE_LIST, &pods, &o, out, 20), SK_ETOOBIG);
  CHECK_STR(sk_kube_verb_name(SK_KUBE_PATCH), "patch");
}

TEST(object_keys) {
  char key[64];
  json_t *o = json_pack("{s:{s:s, s:s, s:s}}", "metadata", "name", "a", "namespace", "ml",
                        "resourceVersion", "7");
  CHECK_INT(sk_kube_object_key(o, key, sizeof(key)), 0);
  CHECK_STR(key, "ml/a");
  CHECK_STR(sk_kube_object_rv(o), "7");
  json_object_del(json_object_get(o, "metadata"), "namespace");
  CHECK_INT(sk_kube_object_key(o, key, sizeof(key)), 0);
  CHECK_STR(key, "a");
  CHECK_INT(sk_kube_object_key(o, key, 1), SK_ETOOBIG);
  json_object_del(json_object_get(o, "metadata"), "name");
  CHECK_INT(sk_kube_object_key(o, key, sizeof(key)), SK_EINVAL);
  json_decref(o);
}

TEST(result_mapping) {
  static const struct {
    long code;
    const char *body;
    const char *retry;
    int err;
    const char *reason;
    const char *msg;
    long retry_s;
  } cases[] = {
      {200, "{\"kind\":\"Pod\"}", NULL, 0, NULL, NULL, -1},
      {201, "{}", NULL, 0, NULL, NULL, -1},
      {200, "not json", NULL, SK_EPARSE, NULL, "the response is not a JSON object", -1},
      {404, "{\"kind\":\"Status\",\"reason\":\"NotFound\",\"message\":\"pods \\\"x\\\" not found\"}",
       NULL, SK_ENOENT, "NotFound", "pods \"x\" not found", -1},
      {409, "{\"kind\":\"Status\",\"reason\":\"AlreadyExists\",\"message\":\"exists\"}", NULL,
       SK_ECONFLICT, "AlreadyExists", "exists", -1},
      {410, "{\"kind\":\"Status\",\"reason\":\"Expired\",\"message\":\"too old\"}", NULL,
       SK_EGONE, "Expired", "too old", -1},
      {422, "{\"kind\":\"Status\",\"reason\":\"Invalid\",\"message\":\"spec.x: Required\"}", NULL,
       SK_EINVALID, "Invalid", "spec.x: Required", -1},
      {400, "{\"kind\":\"Status\",\"reason\":\"BadRequest\",\"message\":\"bad\"}", NULL,
       SK_EINVALID, "BadRequest", "bad", -1},
      {429, "{\"kind\":\"Status\",\"reason\":\"TooManyRequests\",\"message\":\"slow down\","
            "\"details\":{\"retryAfterSeconds\":2}}",
       NULL, SK_EHTTP, "TooManyRequests", "slow down", 2},
      {429, "{\"kind\":\"Status\",\"message\":\"m\",\"details\":{\"retryAfterSeconds\":2}}", "5",
       SK_EHTTP, NULL, "m", 5},
      {503, "", "Wed, 21 Oct 2015 07:28:00 GMT", SK_EHTTP, NULL, "HTTP 503", -1},
      {500, "<html>oops</html>\nmore", NULL, SK_EHTTP, NULL, "<html>oops</html>", -1},
      {504, "", NULL, SK_ETIMEDOUT, NULL, "HTTP 504", -1},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    sk__kube_outcome_t o;
    sk__kube_outcome_set(&o, 0, NULL, cases[i].code, cases[i].body, strlen(cases[i].body),
                         cases[i].retry);
    const sk_kube_result_t *r = &o.pub;
    bool ok = r->err == cases[i].err && r->code == cases[i].code &&
              r->retry_after_s == cases[i].retry_s &&
              (cases[i].reason ? r->reason && strcmp(r->reason, cases[i].reason) == 0
                               : r->reason == NULL) &&
              (cases[i].msg ? r->message && strcmp(r->message, cases[i].msg) == 0
                            : r->message == NULL);
    if (!ok)
      FAILF("case %zu: err %d code %ld reason %s msg %s retry %ld", i, r->err, r->code,
            r->reason ? r->reason : "-", r->message ? r->message : "-", r->retry_after_s);
    if (cases[i].err == 0 && !r->body)
      FAILF("case %zu: no body", i);
    sk__kube_outcome_release(&o);
  }
  sk__kube_outcome_t o;
  sk__kube_outcome_set(&o, SK_ENET, "Connection refused", 0, NULL, 0, NULL);
  CHECK_INT(o.pub.err, SK_ENET);
  CHECK_STR(o.pub.message, "Connection refused");
  sk__kube_outcome_release(&o);
}

TEST(exec_credential_parsing) {
  sk__kube_cred_t c;
  char err[256];
  const char *v1 = "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
                   "\"status\":{\"token\":\"t1\",\"expirationTimestamp\":\"2030-01-02T03:04:05Z\"}}";
  CHECK_INT(sk__kube_exec_parse(v1, strlen(v1), "client.authentication.k8s.io/v1", &c, err,
                                sizeof(err)),
            0);
  CHECK_STR(c.token, "t1");
  int64_t want;
  sk_time_parse("2030-01-02T03:04:05Z", &want);
  CHECK_INT(c.expiry_ms, want);
  sk__kube_cred_release(&c);

  const char *cert = "{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\","
                     "\"kind\":\"ExecCredential\",\"status\":{\"clientCertificateData\":\"C\","
                     "\"clientKeyData\":\"K\"}}";
  CHECK_INT(sk__kube_exec_parse(cert, strlen(cert), "client.authentication.k8s.io/v1beta1", &c,
                                err, sizeof(err)),
            0);
  CHECK(c.token == NULL);
  CHECK_STR(c.cert_pem, "C");
  CHECK_STR(c.key_pem, "K");
  CHECK_INT(c.expiry_ms, 0);
  sk__kube_cred_release(&c);

  static const struct {
    const char *in;
    const char *msg;
  } bad[] = {
      {"nope", "the plugin's output is not a JSON ExecCredential"},
      {"{\"kind\":\"Other\"}", "the plugin printed kind \"Other\", not ExecCredential"},
      {"{\"kind\":\"ExecCredential\",\"apiVersion\":\"client.authentication.k8s.io/v1beta1\"}",
       "the plugin answered apiVersion \"client.authentication.k8s.io/v1beta1\", but "
       "\"client.authentication.k8s.io/v1\" was asked"},
      {"{\"kind\":\"ExecCredential\",\"apiVersion\":\"client.authentication.k8s.io/v1\"}",
       "the plugin's ExecCredential has no status"},
      {"{\"kind\":\"ExecCredential\",\"apiVersion\":\"client.authentication.k8s.io/v1\","
       "\"status\":{}}",
       "the plugin's ExecCredential has neither status.token nor a client certificate"},
      {"{\"kind\":\"ExecCredential\",\"apiVersion\":\"client.authentication.k8s.io/v1\","
       "\"status\":{\"clientKeyData\":\"K\"}}",
       "the plugin's ExecCredential has only one of clientCertificateData and clientKeyData"},
      {"{\"kind\":\"ExecCredential\",\"apiVersion\":\"client.authentication.k8s.io/v1\","
       "\"status\":{\"token\":\"t\",\"expirationTimestamp\":\"tomorrow\"}}",
       "the plugin's status.expirationTimestamp \"tomorrow\" is not an RFC 3339 time"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    err[0] = '\0';
    int rc = sk__kube_exec_parse(bad[i].in, strlen(bad[i].in), "client.authentication.k8s.io/v1",
                                 &c, err, sizeof(err));
    if (rc == 0 || strncmp(err, bad[i].msg, strlen(bad[i].msg)) != 0)
      FAILF("bad %zu: rc %d err \"%s\"", i, rc, err);
    CHECK(c.token == NULL && c.cert_pem == NULL);
  }
}

TEST(exec_info_env) {
  sk_kube_exec_config_t x = {.api_version = "client.authentication.k8s.io/v1",
                             .command = "p", .provide_cluster_info = true};
  sk_kube_config_t cfg = {.server = "https://k:6443", .ca_pem = "PEM", .exec = &x,
                          .tls_server_name = "kubernetes"};
  char *info = sk__kube_exec_info(&cfg);
  REQUIRE(info);
  json_t *j = json_loads(info, 0, NULL);
  free(info);
  REQUIRE(j);
  CHECK_STR(json_string_value(json_object_get(j, "kind")), "ExecCredential");
  json_t *spec = json_object_get(j, "spec");
  CHECK(json_is_false(json_object_get(spec, "interactive")));
  json_t *cl = json_object_get(spec, "cluster");
  CHECK_STR(json_string_value(json_object_get(cl, "server")), "https://k:6443");
  CHECK_STR(json_string_value(json_object_get(cl, "certificate-authority-data")), "UEVN");
  CHECK_STR(json_string_value(json_object_get(cl, "tls-server-name")), "kubernetes");
  json_decref(j);
  x.provide_cluster_info = false;
  info = sk__kube_exec_info(&cfg);
  j = json_loads(info, 0, NULL);
  free(info);
  CHECK(json_object_get(json_object_get(j, "spec"), "cluster") == NULL);
  json_decref(j);
}

static void write_file(const char *path, const char *content) {
  FILE *fp = fopen(path, "w");
  if (!fp)
    return;
  fputs(content, fp);
  fclose(fp);
}

TEST(token_file_rotation_on_a_fake_clock) {
  char path[700], err[256];
  snprintf(path, sizeof(path), "%s/token", tmpdir);
  write_file(path, "first\n");
  sk__kube_tokenfile_t tf;
  REQUIRE(sk__kube_tokenfile_init(&tf, path) == 0);
  const char *tok = NULL;
  CHECK_INT(sk__kube_tokenfile_get(&tf, 1000, false, &tok, err, sizeof(err)), 0);
  CHECK_STR(tok, "first");
  write_file(path, "second-token\n");
  /* Within the re-check interval the cached token is used. */
  CHECK_INT(sk__kube_tokenfile_get(&tf, 1500, false, &tok, err, sizeof(err)), 0);
  CHECK_STR(tok, "first");
  CHECK_INT(sk__kube_tokenfile_get(&tf, 2000, false, &tok, err, sizeof(err)), 0);
  CHECK_STR(tok, "second-token");
  /* A rotation in progress (file gone) keeps the last good token. */
  unlink(path);
  CHECK_INT(sk__kube_tokenfile_get(&tf, 3000, false, &tok, err, sizeof(err)), 0);
  CHECK_STR(tok, "second-token");
  /* force looks at once. */
  write_file(path, "third\n");
  CHECK_INT(sk__kube_tokenfile_get(&tf, 3001, true, &tok, err, sizeof(err)), 0);
  CHECK_STR(tok, "third");
  sk__kube_tokenfile_release(&tf);

  /* Without a good token, errors say which file and why. */
  REQUIRE(sk__kube_tokenfile_init(&tf, path) == 0);
  write_file(path, "  \n");
  CHECK_INT(sk__kube_tokenfile_get(&tf, 0, false, &tok, err, sizeof(err)), SK_EINVALID);
  CHECK(strstr(err, "is empty") != NULL);
  write_file(path, "two words\n");
  CHECK_INT(sk__kube_tokenfile_get(&tf, 0, true, &tok, err, sizeof(err)), SK_EINVALID);
  unlink(path);
  CHECK_INT(sk__kube_tokenfile_get(&tf, 0, true, &tok, err, sizeof(err)), SK_ENOENT);
  CHECK(tok == NULL);
  sk__kube_tokenfile_release(&tf);
}

int main(void) {
  const char *t = getenv("TMPDIR");
  snprintf(tmpdir, sizeof(tmpdir), "%s/skein-kubecli-XXXXXX", t && *t ? t : "/tmp");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  RUN(paths);
  RUN(object_keys);
  RUN(result_mapping);
  RUN(exec_credential_parsing);
  RUN(exec_info_env);
  RUN(token_file_rotation_on_a_fake_clock);
  char cmd[700];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0)
    perror("rm");
  return TEST_DONE();
}
