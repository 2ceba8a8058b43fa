/*
 * manifests/: offline checks of what installs skeind, with no API server:
 * RBAC stays least-privilege, the kustomization installs every file, and
 * the Deployment passes skeind flags it accepts, consistent with the Role
 * and the probes. tests/e2e/test_crds.sh applies them to a real API server.
 */
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "daemon/daemon.h"
#include "manifest_files.h"
#include "sk_test.h"
#include "yaml/yaml.h"

/* skeind's grants stay least-privilege: no wildcards, nothing that reads
 * Secrets or runs code in other Pods, and leases only in its namespace. */
TEST(rbac_grants_only_what_skeind_needs) {
  static const char *const files[] = {"manifests/rbac/cluster_role.yaml",
                                      "manifests/rbac/leader_election_role.yaml"};
  static const char *const forbidden[] = {"secrets", "pods/exec", "pods/attach", "pods/log",
                                          "nodes", "deployments", "serviceaccounts/token",
                                          "clusterroles", "roles", "rolebindings", NULL};
  bool pods_create = false, workflows_watch = false, status_patch = false;
  bool leases_in_role = false;
  for (size_t f = 0; f < 2; f++) {
    size_t n;
    sk_yaml_doc_t **docs = load(files[f], &n);
    for (size_t d = 0; d < n; d++) {
      json_t *obj = sk_yaml_doc_root(docs[d]);
      const char *kind = json_string_value(json_object_get(obj, "kind"));
      if (!kind || (strcmp(kind, "ClusterRole") != 0 && strcmp(kind, "Role") != 0))
        continue;
      size_t i;
      json_t *rule;
      json_array_foreach(json_object_get(obj, "rules"), i, rule) {
        json_t *res = json_object_get(rule, "resources");
        json_t *verbs = json_object_get(rule, "verbs");
        json_t *groups = json_object_get(rule, "apiGroups");
        if (has_str(res, "*") || has_str(verbs, "*") || has_str(groups, "*"))
          FAILF("%s rule %zu uses a wildcard", files[f], i);
        for (size_t k = 0; forbidden[k]; k++) {
          if (has_str(res, forbidden[k]))
            FAILF("%s rule %zu grants %s", files[f], i, forbidden[k]);
        }
        if (has_str(res, "leases") && strcmp(kind, "ClusterRole") == 0)
          FAILF("leases belong in a Role in skein-system, not in the ClusterRole");
        leases_in_role |= has_str(res, "leases") && strcmp(kind, "Role") == 0;
        pods_create |= has_str(res, "pods") && has_str(verbs, "create");
        workflows_watch |= has_str(res, "workflows") && has_str(verbs, "watch");
        status_patch |= has_str(res, "workflows/status") && has_str(verbs, "patch");
      }
    }
    sk_yaml_docs_destroy(docs, n);
  }
  CHECK(pods_create);
  CHECK(workflows_watch);
  CHECK(status_patch);
  CHECK(leases_in_role);
}

static bool exists(const char *rel) {
  char path[4096];
  struct stat st;
  snprintf(path, sizeof(path), "%s/%s", source_dir(), rel);
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* `kubectl apply -k manifests/` installs every manifest: the kustomization
 * lists each file under crds/, rbac/ and deploy/, and only files that exist. */
TEST(kustomization_lists_every_manifest) {
  json_t *k = load_one("manifests/kustomization.yaml");
  REQUIRE(k);
  json_t *res = json_object_get(k, "resources");
  size_t i;
  json_t *r;
  json_array_foreach(res, i, r) {
    char rel[1024];
    const char *name = json_string_value(r);
    snprintf(rel, sizeof(rel), "manifests/%s", name ? name : "");
    if (!name || !exists(rel))
      FAILF("kustomization lists %s, which does not exist", rel);
  }
  static const char *const dirs[] = {"crds", "rbac", "deploy"};
  size_t found = 0;
  for (size_t d = 0; d < 3; d++) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/manifests/%s", source_dir(), dirs[d]);
    DIR *dir = opendir(path);
    if (!dir) {
      FAILF("cannot open manifests/%s", dirs[d]);
      continue;
    }
    struct dirent *ent;
    while ((ent = readdir(dir)) != NULL) {
      size_t l = strlen(ent->d_name);
      if (l < 6 || strcmp(ent->d_name + l - 5, ".yaml") != 0)
        continue;
      char rel[1024];
      snprintf(rel, sizeof(rel), "%s/%s", dirs[d], ent->d_name);
      found++;
      if (!has_str(res, rel))
        FAILF("manifests/%s is not in manifests/kustomization.yaml", rel);
    }
    closedir(dir);
  }
  CHECK(found >= 8);
  json_decref(k);
}

/* The port a container declares under name, or -1. */
static long container_port(json_t *container, const char *name) {
  size_t i;
  json_t *p;
  json_array_foreach(json_object_get(container, "ports"), i, p) {
    const char *n = json_string_value(json_object_get(p, "name"));
    if (n && strcmp(n, name) == 0)
      return (long)json_integer_value(json_object_get(p, "containerPort"));
  }
  return -1;
}

/* The Deployment's arguments are flags skeind accepts, naming the Lease the
 * Role grants and the ports the probes and the Service use. */
TEST(deployment_args_are_skeind_flags) {
  json_t *dep = load_one("manifests/deploy/deployment.yaml");
  size_t nrole;
  sk_yaml_doc_t **role = load("manifests/rbac/leader_election_role.yaml", &nrole);
  REQUIRE(dep && nrole >= 1);
  json_t *pod = json_object_get(json_object_get(json_object_get(dep, "spec"), "template"),
                                "spec");
  json_t *c = json_array_get(json_object_get(pod, "containers"), 0);
  json_t *args = json_object_get(c, "args");
  char *argv[32] = {"skeind"};
  int argc = 1;
  size_t i;
  json_t *a;
  json_array_foreach(args, i, a) {
    if (argc < 31)
      argv[argc++] = (char *)json_string_value(a);
  }
  sk_daemon_flags_t f;
  char err[256] = "";
  int rc = sk_daemon_flags_parse(argc, argv, &f, err, sizeof(err));
  if (rc < 0)
    FAILF("skeind refuses the Deployment's arguments: %s", err);
  CHECK(f.leader_elect);
  /* The Role may get and update only the Lease named on the command line. */
  json_t *rules = json_object_get(sk_yaml_doc_root(role[0]), "rules");
  bool named = false;
  json_array_foreach(rules, i, a) {
    json_t *names = json_object_get(a, "resourceNames");
    named |= f.leader_elect_id && has_str(names, f.leader_elect_id) &&
             has_str(json_object_get(a, "verbs"), "update");
  }
  CHECK(named);
  char want[32];
  snprintf(want, sizeof(want), ":%ld", container_port(c, "health"));
  CHECK_STR(f.health_addr, want);
  snprintf(want, sizeof(want), ":%ld", container_port(c, "metrics"));
  CHECK_STR(f.metrics_addr, want);
  CHECK_STR(json_string_value(json_object_get(
                json_object_get(json_object_get(c, "livenessProbe"), "httpGet"), "port")),
            "health");
  sk_daemon_flags_release(&f);
  sk_yaml_docs_destroy(role, nrole);
  json_decref(dep);
}

int main(void) {
  RUN(rbac_grants_only_what_skeind_needs);
  RUN(kustomization_lists_every_manifest);
  RUN(deployment_args_are_skeind_flags);
  return TEST_DONE();
}
