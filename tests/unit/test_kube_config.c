/* Tests for kubeconfig and in-cluster configuration: contexts, merging of
 * several files, relative paths, *-data fields, exec plugins, and the
 * messages users see when something is wrong. */
/* nftw is XSI. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kube/kube.h"
#include "sk_test.h"
#include "util/error.h"

static char tmpdir[512];

static const char *data_dir(void) {
  static char buf[1024];
  const char *d = getenv("SKEIN_SOURCE_DIR");
  snprintf(buf, sizeof(buf), "%s/tests/unit/data/kube", d ? d : ".");
  return buf;
}

/* Writes content to tmpdir/name and returns the full path (static). */
static const char *put(const char *name, const char *content) {
  static char path[8][1024];
  static int slot;
  char *p = path[slot++ % 8];
  snprintf(p, sizeof(path[0]), "%s/%s", tmpdir, name);
  FILE *fp = fopen(p, "w");
  if (!fp) {
    FAILF("cannot write %s", p);
    return p;
  }
  fputs(content, fp);
  fclose(fp);
  return p;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(p);
}

static const char minimal[] =
    "apiVersion: v1\n"
    "kind: Config\n"
    "current-context: a\n"
    "clusters:\n"
    "- name: c1\n"
    "  cluster: {server: 'https://10.0.0.1:6443', insecure-skip-tls-verify: true}\n"
    "users:\n"
    "- name: u1\n"
    "  user: {token: secret-token}\n"
    "contexts:\n"
    "- name: a\n"
    "  context: {cluster: c1, user: u1}\n"
    "- name: b\n"
    "  context: {cluster: c1, namespace: other}\n";

TEST(fixture_current_context_with_relative_paths) {
  char path[1200], want[1200];
  snprintf(path, sizeof(path), "%s/kubeconfig.yaml", data_dir());
  sk_kube_config_t *cfg = NULL;
  char err[512] = "";
  int rc = sk_kube_config_from_kubeconfig(path, NULL, &cfg, err, sizeof(err));
  if (rc)
    FAILF("rc %d: %s", rc, err);
  REQUIRE(cfg);
  CHECK_STR(cfg->server, "https://127.0.0.1:6443");
  CHECK_STR(cfg->context, "dev");
  CHECK_STR(cfg->namespace, "ml");
  CHECK_STR(cfg->tls_server_name, "kubernetes.default");
  snprintf(want, sizeof(want), "%s/certs/ca.crt", data_dir());
  CHECK_STR(cfg->ca_file, want);
  snprintf(want, sizeof(want), "%s/certs/token", data_dir());
  CHECK_STR(cfg->token_file, want);
  CHECK(cfg->token == NULL);
  CHECK(cfg->exec == NULL);
  CHECK_STR(cfg->source, path);
  CHECK(!cfg->in_cluster);
  sk_kube_config_destroy(cfg);
}

TEST(fixture_explicit_contexts) {
  char path[1200], want[1200];
  snprintf(path, sizeof(path), "%s/kubeconfig.yaml", data_dir());
  sk_kube_config_t *cfg = NULL;
  char err[512] = "";
  CHECK_INT(sk_kube_config_from_kubeconfig(path, "prod", &cfg, err, sizeof(err)), 0);
  REQUIRE(cfg);
  /* A server without a scheme means https, as in kubectl. */
  CHECK_STR(cfg->server, "https://prod.example.test:443");
  CHECK_STR(cfg->ca_pem, "-----BEGIN CERTIFICATE-----\nprod\n-----END CERTIFICATE-----\n");
  CHECK_STR(cfg->namespace, "default");
  REQUIRE(cfg->exec);
  CHECK_STR(cfg->exec->api_version, "client.authentication.k8s.io/v1");
  snprintf(want, sizeof(want), "%s/./bin/get-token", data_dir());
  CHECK_STR(cfg->exec->command, want);
  CHECK_INT(cfg->exec->argc, 2);
  CHECK_STR(cfg->exec->args[0], "--cluster");
  CHECK_STR(cfg->exec->args[1], "prod");
  CHECK_INT(cfg->exec->envc, 1);
  CHECK_STR(cfg->exec->env[0].name, "REGION");
  CHECK_STR(cfg->exec->env[0].value, "eu-1");
  CHECK(cfg->exec->provide_cluster_info);
  CHECK_STR(cfg->exec->interactive_mode, "Never");
  sk_kube_config_destroy(cfg);

  CHECK_INT(sk_kube_config_from_kubeconfig(path, "certs", &cfg, err, sizeof(err)), 0);
  REQUIRE(cfg);
  snprintf(want, sizeof(want), "%s/certs/client.crt", data_dir());
  CHECK_STR(cfg->cert_file, want);
  snprintf(want, sizeof(want), "%s/./certs/client.key", data_dir());
  CHECK_STR(cfg->key_file, want);
  CHECK_STR(cfg->namespace, "team-a");
  sk_kube_config_destroy(cfg);
}

TEST(context_not_found_names_file_and_choices) {
  char path[1200], want[1600];
  snprintf(path, sizeof(path), "%s/kubeconfig.yaml", data_dir());
  sk_kube_config_t *cfg = NULL;
  char err[512] = "";
  CHECK_INT(sk_kube_config_from_kubeconfig(path, "x", &cfg, err, sizeof(err)), SK_ENOENT);
  CHECK(cfg == NULL);
  snprintf(want, sizeof(want), "kubeconfig %s: context \"x\" not found (have: dev, prod, certs)",
           path);
  CHECK_STR(err, want);
}

TEST(buffer_minimal_and_second_context) {
  sk_kube_config_t *cfg = NULL;
  char err[512] = "";
  CHECK_INT(sk_kube_config_from_buffer(minimal, strlen(minimal), "mem.yaml", NULL, &cfg, err,
                                       sizeof(err)),
            0);
  REQUIRE(cfg);
  CHECK_STR(cfg->server, "https://10.0.0.1:6443");
  CHECK(cfg->insecure_skip_tls_verify);
  CHECK_STR(cfg->token, "secret-token");
  CHECK_STR(cfg->namespace, "default");
  sk_kube_config_destroy(cfg);

  /* A context without a user is anonymous. */
  CHECK_INT(sk_kube_config_from_buffer(minimal, strlen(minimal), "mem.yaml", "b", &cfg, err,
                                       sizeof(err)),
            0);
  REQUIRE(cfg);
  CHECK(cfg->token == NULL && cfg->token_file == NULL && cfg->exec == NULL);
  CHECK_STR(cfg->namespace, "other");
  sk_kube_config_destroy(cfg);
}

/* Each broken kubeconfig with the exact message a user sees. */
TEST(errors_name_file_and_field) {
  static const struct {
    const char *yaml;
    const char *context;
    int rc;
    const char *msg;
  } cases[] = {
      {"contexts: [{name: a, context: {cluster: c}}]\n", NULL, SK_ENOENT,
       "kubeconfig k.yaml: no current-context set and no context given (have: a)"},
      {"current-context: a\ncontexts: [{name: a, context: {cluster: c}}]\n", NULL, SK_ENOENT,
       "kubeconfig k.yaml: context \"a\" names cluster \"c\", which is not defined (have: none)"},
      {"current-context: a\nclusters: [{name: c, cluster: {server: s}}]\n"
       "contexts: [{name: a, context: {cluster: c, user: nobody}}]\n",
       NULL, SK_ENOENT,
       "kubeconfig k.yaml: context \"a\" names user \"nobody\", which is not defined (have: "
       "none)"},
      {"current-context: a\nclusters: [{name: c, cluster: {}}]\n"
       "contexts: [{name: a, context: {cluster: c}}]\n",
       NULL, SK_EINVALID, "kubeconfig k.yaml: clusters[0].cluster.server: missing"},
      {"current-context: a\nclusters: [{name: c, cluster: {server: 5}}]\n"
       "contexts: [{name: a, context: {cluster: c}}]\n",
       NULL, SK_EINVALID, "kubeconfig k.yaml: clusters[0].cluster.server: must be a string"},
      {"current-context: a\nclusters: [{name: x, cluster: {server: s}}, {name: c, cluster: "
       "{server: s, certificate-authority-data: 'no*base64'}}]\n"
       "contexts: [{name: a, context: {cluster: c}}]\n",
       NULL, SK_EINVALID,
       "kubeconfig k.yaml: clusters[1].cluster.certificate-authority-data: not valid base64"},
      {"current-context: a\nclusters: [{name: c, cluster: {server: s, "
       "certificate-authority-data: QQ==, insecure-skip-tls-verify: true}}]\n"
       "contexts: [{name: a, context: {cluster: c}}]\n",
       NULL, SK_EINVALID,
       "kubeconfig k.yaml: clusters[0].cluster: certificate-authority and "
       "insecure-skip-tls-verify cannot both be set"},
      {"current-context: a\nclusters: [{name: c, cluster: {server: s}}]\n"
       "users: [{name: u, user: {client-certificate-data: QQ==}}]\n"
       "contexts: [{name: a, context: {cluster: c, user: u}}]\n",
       NULL, SK_EINVALID,
       "kubeconfig k.yaml: users[0].user: a client certificate needs a client key and the other "
       "way round"},
      {"current-context: a\nclusters: [{name: c, cluster: {server: s}}]\n"
       "users: [{name: u, user: {auth-provider: {name: gcp}}}]\n"
       "contexts: [{name: a, context: {cluster: c, user: u}}]\n",
       NULL, SK_EINVALID,
       "kubeconfig k.yaml: users[0].user: auth-provider and basic auth are not supported; use a "
       "token, a client certificate or an exec plugin"},
      {"current-context: a\nclusters: [{name: c, cluster: {server: s}}]\n"
       "users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1alpha1, "
       "command: x}}}]\ncontexts: [{name: a, context: {cluster: c, user: u}}]\n",
       NULL, SK_EINVALID,
       "kubeconfig k.yaml: users[0].user.exec.apiVersion: must be "
       "client.authentication.k8s.io/v1 or v1beta1, got \"client.authentication.k8s.io/v1alpha1\""},
      {"current-context: a\nclusters: [{name: c, cluster: {server: s}}]\n"
       "users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1beta1}}}]\n"
       "contexts: [{name: a, context: {cluster: c, user: u}}]\n",
       NULL, SK_EINVALID, "kubeconfig k.yaml: users[0].user.exec.command: missing"},
      {"current-context: a\nclusters: [{name: c, cluster: {server: s}}]\n"
       "users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: x, "
       "interactiveMode: Always}}}]\ncontexts: [{name: a, context: {cluster: c, user: u}}]\n",
       NULL, SK_EINVALID,
       "kubeconfig k.yaml: users[0].user.exec.interactiveMode: \"Always\" needs a terminal, which "
       "skein never has"},
      {"current-context: a\nclusters: [{name: c, cluster: {server: s}}]\n"
       "users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: x, "
       "args: [1, 2]}}}]\ncontexts: [{name: a, context: {cluster: c, user: u}}]\n",
       NULL, SK_EINVALID, "kubeconfig k.yaml: users[0].user.exec.args[0]: must be a string"},
      {"current-context: a\nclusters: [{name: c, cluster: {server: s}}]\n"
       "users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: x, "
       "env: [{name: A}]}}}]\ncontexts: [{name: a, context: {cluster: c, user: u}}]\n",
       NULL, SK_EINVALID,
       "kubeconfig k.yaml: users[0].user.exec.env[0]: needs a name (without '=') and a string "
       "value"},
      {"current-context: a\nclusters: {c: 1}\n", NULL, SK_EINVALID,
       "kubeconfig k.yaml: clusters: must be a list"},
      {"- just\n- a list\n", NULL, SK_EINVALID,
       "kubeconfig k.yaml: the top level must be a mapping"},
      {"a: 1\n---\nb: 2\n", NULL, SK_EINVALID,
       "kubeconfig k.yaml: holds 2 YAML documents; a kubeconfig is one"},
      {"current-context: a\nclusters: [{name: c, cluster: {server: s}}]\n"
       "users: [{name: u, user: {tokenFile: no-such-token}}]\n"
       "contexts: [{name: a, context: {cluster: c, user: u}}]\n",
       NULL, SK_ENOENT,
       "kubeconfig k.yaml: users[0].user.tokenFile: cannot read no-such-token: No such file or "
       "directory"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    sk_kube_config_t *cfg = NULL;
    char err[512] = "";
    int rc = sk_kube_config_from_buffer(cases[i].yaml, strlen(cases[i].yaml), "k.yaml",
                                        cases[i].context, &cfg, err, sizeof(err));
    if (rc != cases[i].rc || strcmp(err, cases[i].msg) != 0)
      FAILF("case %zu: rc %d want %d\n    got  \"%s\"\n    want \"%s\"", i, rc, cases[i].rc, err,
            cases[i].msg);
    CHECK(cfg == NULL);
    sk_kube_config_destroy(cfg);
  }
}

TEST(yaml_syntax_error_has_position) {
  const char *y = "clusters: [\n";
  sk_kube_config_t *cfg = NULL;
  char err[512] = "";
  CHECK_INT(sk_kube_config_from_buffer(y, strlen(y), "k.yaml", NULL, &cfg, err, sizeof(err)),
            SK_EPARSE);
  CHECK(strncmp(err, "kubeconfig k.yaml: k.yaml:", 26) == 0);
}

/* KUBECONFIG=a:b — the first file defining a name wins; current-context
 * from the first file that sets one; missing files are skipped. */
TEST(kubeconfig_list_merges_like_kubectl) {
  const char *a = put("a.yaml",
                      "clusters: [{name: c, cluster: {server: 'https://first:1'}}]\n"
                      "users: [{name: u, user: {token: first-token}}]\n"
                      "contexts: [{name: ctx-a, context: {cluster: c, user: u, namespace: na}}]\n");
  const char *b = put("b.yaml",
                      "current-context: ctx-b\n"
                      "clusters: [{name: c, cluster: {server: 'https://second:2'}},\n"
                      "           {name: d, cluster: {server: 'https://d:3'}}]\n"
                      "users: [{name: u, user: {token: second-token}}]\n"
                      "contexts: [{name: ctx-b, context: {cluster: d, user: u}},\n"
                      "           {name: ctx-a, context: {cluster: d}}]\n");
  char list[4096];
  snprintf(list, sizeof(list), "%s/missing.yaml:%s::%s", tmpdir, a, b);
  sk_kube_config_t *cfg = NULL;
  char err[512] = "";
  int rc = sk_kube_config_from_kubeconfig(list, NULL, &cfg, err, sizeof(err));
  if (rc)
    FAILF("rc %d: %s", rc, err);
  REQUIRE(cfg);
  CHECK_STR(cfg->context, "ctx-b");
  CHECK_STR(cfg->server, "https://d:3");
  /* user "u" comes from a.yaml, which names it first. */
  CHECK_STR(cfg->token, "first-token");
  CHECK_STR(cfg->source, b);
  sk_kube_config_destroy(cfg);

  CHECK_INT(sk_kube_config_from_kubeconfig(list, "ctx-a", &cfg, err, sizeof(err)), 0);
  REQUIRE(cfg);
  CHECK_STR(cfg->server, "https://first:1");
  CHECK_STR(cfg->namespace, "na");
  CHECK_STR(cfg->source, a);
  sk_kube_config_destroy(cfg);

  CHECK_INT(sk_kube_config_from_kubeconfig(list, "zzz", &cfg, err, sizeof(err)), SK_ENOENT);
  char want[5000];
  snprintf(want, sizeof(want), "kubeconfig %s: context \"zzz\" not found (have: ctx-a, ctx-b)",
           list);
  CHECK_STR(err, want);

  snprintf(list, sizeof(list), "%s/missing1:%s/missing2", tmpdir, tmpdir);
  CHECK_INT(sk_kube_config_from_kubeconfig(list, NULL, &cfg, err, sizeof(err)), SK_ENOENT);
  CHECK(strstr(err, "none of these files exists") != NULL);

  /* A single named file must exist. */
  snprintf(list, sizeof(list), "%s/missing1", tmpdir);
  CHECK_INT(sk_kube_config_from_kubeconfig(list, NULL, &cfg, err, sizeof(err)), SK_ENOENT);
  CHECK(strstr(err, "cannot read") != NULL);
}

static void set_incluster_env(const char *host, const char *port) {
  if (host)
    setenv("KUBERNETES_SERVICE_HOST", host, 1);
  else
    unsetenv("KUBERNETES_SERVICE_HOST");
  if (port)
    setenv("KUBERNETES_SERVICE_PORT", port, 1);
  else
    unsetenv("KUBERNETES_SERVICE_PORT");
}

TEST(in_cluster) {
  char root[700];
  snprintf(root, sizeof(root), "%s/sa", tmpdir);
  mkdir(root, 0700);
  put("sa/token", "sa-token\n");
  put("sa/ca.crt", "ca\n");
  put("sa/namespace", "  skein-system\n");

  sk_kube_config_t *cfg = NULL;
  char err[512] = "";
  set_incluster_env("10.96.0.1", "443");
  CHECK_INT(sk_kube_config_in_cluster(root, &cfg, err, sizeof(err)), 0);
  REQUIRE(cfg);
  CHECK_STR(cfg->server, "https://10.96.0.1:443");
  CHECK_STR(cfg->namespace, "skein-system");
  CHECK(cfg->in_cluster);
  CHECK_STR(cfg->source, "in-cluster");
  char want[800];
  snprintf(want, sizeof(want), "%s/token", root);
  CHECK_STR(cfg->token_file, want);
  snprintf(want, sizeof(want), "%s/ca.crt", root);
  CHECK_STR(cfg->ca_file, want);
  sk_kube_config_destroy(cfg);

  set_incluster_env("fd00::1", "6443");
  CHECK_INT(sk_kube_config_in_cluster(root, &cfg, err, sizeof(err)), 0);
  REQUIRE(cfg);
  CHECK_STR(cfg->server, "https://[fd00::1]:6443");
  sk_kube_config_destroy(cfg);

  set_incluster_env("10.96.0.1", "http");
  CHECK_INT(sk_kube_config_in_cluster(root, &cfg, err, sizeof(err)), SK_EINVALID);
  CHECK_STR(err, "in-cluster: KUBERNETES_SERVICE_PORT \"http\" is not a port");

  set_incluster_env(NULL, "443");
  CHECK_INT(sk_kube_config_in_cluster(root, &cfg, err, sizeof(err)), SK_ENOENT);

  set_incluster_env("10.96.0.1", "443");
  snprintf(want, sizeof(want), "%s/nothing", tmpdir);
  CHECK_INT(sk_kube_config_in_cluster(want, &cfg, err, sizeof(err)), SK_ENOENT);
  CHECK(strstr(err, "service account token") != NULL);
  CHECK(cfg == NULL);
  set_incluster_env(NULL, NULL);
}

/* Explicit path > $KUBECONFIG > in-cluster > ~/.kube/config. */
TEST(load_order) {
  const char *one = put("one.yaml", minimal);
  char home[700], kdir[800];
  snprintf(home, sizeof(home), "%s/home", tmpdir);
  snprintf(kdir, sizeof(kdir), "%s/.kube", home);
  mkdir(home, 0700);
  mkdir(kdir, 0700);
  put("home/.kube/config",
      "current-context: h\nclusters: [{name: c, cluster: {server: 'https://home:1'}}]\n"
      "contexts: [{name: h, context: {cluster: c}}]\n");
  char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
  setenv("HOME", home, 1);
  unsetenv("KUBECONFIG");
  set_incluster_env(NULL, NULL);

  sk_kube_config_t *cfg = NULL;
  char err[512] = "";
  CHECK_INT(sk_kube_config_load(NULL, &cfg, err, sizeof(err)), 0);
  REQUIRE(cfg);
  CHECK_STR(cfg->server, "https://home:1");
  sk_kube_config_destroy(cfg);

  char root[700];
  snprintf(root, sizeof(root), "%s/sa", tmpdir);
  set_incluster_env("10.0.0.9", "443");
  sk_kube_config_opts_t o = {.incluster_root = root, .namespace = "override"};
  CHECK_INT(sk_kube_config_load(&o, &cfg, err, sizeof(err)), 0);
  REQUIRE(cfg);
  CHECK(cfg->in_cluster);
  CHECK_STR(cfg->namespace, "override");
  sk_kube_config_destroy(cfg);

  setenv("KUBECONFIG", one, 1);
  CHECK_INT(sk_kube_config_load(&o, &cfg, err, sizeof(err)), 0);
  REQUIRE(cfg);
  CHECK_STR(cfg->server, "https://10.0.0.1:6443");
  sk_kube_config_destroy(cfg);

  char fixture[1200];
  snprintf(fixture, sizeof(fixture), "%s/kubeconfig.yaml", data_dir());
  o.kubeconfig = fixture;
  o.context = "certs";
  o.namespace = NULL;
  CHECK_INT(sk_kube_config_load(&o, &cfg, err, sizeof(err)), 0);
  REQUIRE(cfg);
  CHECK_STR(cfg->context, "certs");
  CHECK_STR(cfg->namespace, "team-a");
  sk_kube_config_destroy(cfg);

  unsetenv("KUBECONFIG");
  set_incluster_env(NULL, NULL);
  snprintf(home, sizeof(home), "%s/nohome", tmpdir);
  setenv("HOME", home, 1);
  CHECK_INT(sk_kube_config_load(NULL, &cfg, err, sizeof(err)), SK_ENOENT);
  CHECK(strstr(err, "no Kubernetes configuration") != NULL);
  if (old_home) {
    setenv("HOME", old_home, 1);
    free(old_home);
  }
}

TEST(base64_variants) {
  /* Unpadded, wrapped over lines, and padded data all decode. */
  static const struct {
    const char *in;
    const char *out;
  } ok[] = {{"QQ==", "A"}, {"QQ", "A"}, {"QUI=", "AB"}, {"QUJD", "ABC"}, {"QU\n JD\n", "ABC"}};
  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
    char y[512];
    snprintf(y, sizeof(y),
             "current-context: a\nclusters: [{name: c, cluster: {server: s, "
             "certificate-authority-data: \"%s\"}}]\ncontexts: [{name: a, context: {cluster: c}}]\n",
             ok[i].in[2] == '\n' ? "QU\\n JD\\n" : ok[i].in);
    sk_kube_config_t *cfg = NULL;
    char err[512] = "";
    int rc = sk_kube_config_from_buffer(y, strlen(y), "k", NULL, &cfg, err, sizeof(err));
    if (rc || !cfg || !cfg->ca_pem || strcmp(cfg->ca_pem, ok[i].out) != 0)
      FAILF("case %zu: rc %d err %s pem %s", i, rc, err, cfg && cfg->ca_pem ? cfg->ca_pem : "-");
    sk_kube_config_destroy(cfg);
  }
  static const char *bad[] = {"Q", "QQ=A", "QQ===", "Q$=="};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char y[512];
    snprintf(y, sizeof(y),
             "current-context: a\nclusters: [{name: c, cluster: {server: s, "
             "certificate-authority-data: \"%s\"}}]\ncontexts: [{name: a, context: {cluster: c}}]\n",
             bad[i]);
    sk_kube_config_t *cfg = NULL;
    char err[512] = "";
    int rc = sk_kube_config_from_buffer(y, strlen(y), "k", NULL, &cfg, err, sizeof(err));
    if (rc != SK_EINVALID)
      FAILF("bad case %zu (%s): rc %d", i, bad[i], rc);
    sk_kube_config_destroy(cfg);
  }
}

int main(void) {
  const char *t = getenv("TMPDIR");
  snprintf(tmpdir, sizeof(tmpdir), "%s/skein-kubecfg-XXXXXX", t && *t ? t : "/tmp");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  RUN(fixture_current_context_with_relative_paths);
  RUN(fixture_explicit_contexts);
  RUN(context_not_found_names_file_and_choices);
  RUN(buffer_minimal_and_second_context);
  RUN(errors_name_file_and_field);
  RUN(yaml_syntax_error_has_position);
  RUN(kubeconfig_list_merges_like_kubectl);
  RUN(in_cluster);
  RUN(load_order);
  RUN(base64_variants);
  nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  return TEST_DONE();
}
