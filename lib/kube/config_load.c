/*
 * Where the configuration comes from: kubeconfig files (one, or the
 * ':'-separated $KUBECONFIG list), the in-cluster service account, and the
 * order client-go tries them in.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kube/kube-int.h"
#include "util/error.h"
#include "util/strutil.h"
#include "yaml/yaml.h"

#define MAX_KUBECONFIGS 16

/* Parses one kubeconfig's YAML into docs; an empty file is an empty
 * config, as kubectl treats it. */
static int parse_one(const char *buf, size_t len, const char *file, sk_yaml_doc_t ***docs,
                     size_t *ndocs, char *err, size_t errlen) {
  sk_diags_t diags;
  sk_diags_init(&diags);
  int rc = sk_yaml_parse(buf, len, file, &diags, docs, ndocs);
  if (rc != 0) {
    sk_buf_t msg;
    sk_buf_init(&msg, 1024);
    if (diags.len > 0)
      sk_diag_format(&diags.items[0], &msg);
    sk__kube_errf(err, errlen, rc, "kubeconfig %s: %s", file ? file : "(memory)",
                  msg.data ? msg.data : sk_strerror(rc));
    sk_buf_release(&msg);
  } else if (*ndocs > 1) {
    rc = sk__kube_errf(err, errlen, SK_EINVALID,
                       "kubeconfig %s: holds %zu YAML documents; a kubeconfig is one",
                       file ? file : "(memory)", *ndocs);
    sk_yaml_docs_destroy(*docs, *ndocs);
    *docs = NULL;
    *ndocs = 0;
  }
  sk_diags_release(&diags);
  return rc;
}

int sk_kube_config_from_buffer(const char *buf, size_t len, const char *file, const char *context,
                               sk_kube_config_t **out, char *err, size_t errlen) {
  *out = NULL;
  sk_yaml_doc_t **docs = NULL;
  size_t ndocs = 0;
  int rc = parse_one(buf, len, file, &docs, &ndocs, err, errlen);
  if (rc)
    return rc;
  json_t *empty = json_object();
  if (!empty) {
    sk_yaml_docs_destroy(docs, ndocs);
    return SK_ENOMEM;
  }
  sk__kube_cfgfile_t f = {.root = ndocs ? sk_yaml_doc_root(docs[0]) : empty, .file = file};
  rc = sk__kube_config_from_files(&f, 1, file, context, out, err, errlen);
  json_decref(empty);
  sk_yaml_docs_destroy(docs, ndocs);
  return rc;
}

int sk_kube_config_from_kubeconfig(const char *paths, const char *context,
                                   sk_kube_config_t **out, char *err, size_t errlen) {
  *out = NULL;
  if (!paths || !*paths)
    return sk__kube_errf(err, errlen, SK_EINVAL, "kubeconfig: no file given");
  sk__kube_cfgfile_t files[MAX_KUBECONFIGS];
  sk_yaml_doc_t **docs[MAX_KUBECONFIGS];
  size_t ndocs[MAX_KUBECONFIGS];
  char *names[MAX_KUBECONFIGS];
  size_t n = 0;
  int rc = 0;
  json_t *empty = json_object();
  if (!empty)
    return SK_ENOMEM;
  bool list = strchr(paths, ':') != NULL;
  const char *p = paths;
  while (*p && rc == 0) {
    const char *end = strchr(p, ':');
    size_t plen = end ? (size_t)(end - p) : strlen(p);
    if (plen > 0) {
      if (n == MAX_KUBECONFIGS) {
        rc = sk__kube_errf(err, errlen, SK_ETOOBIG, "KUBECONFIG: more than %d files",
                           MAX_KUBECONFIGS);
        break;
      }
      char *name = sk_memdup_str(p, plen);
      if (!name) {
        rc = SK_ENOMEM;
        break;
      }
      char *buf = NULL;
      size_t len = 0;
      rc = sk__kube_read_file(name, SK_YAML_MAX_BYTES, &buf, &len);
      /* Like kubectl, files of a KUBECONFIG list that do not exist are
       * skipped; a single named file must exist. */
      if (rc == SK_ENOENT && list) {
        free(name);
        rc = 0;
      } else if (rc != 0) {
        rc = sk__kube_errf(err, errlen, rc, "kubeconfig %s: cannot read: %s", name,
                           rc == SK_ETOOBIG ? "larger than 3 MiB" : strerror(errno));
        free(name);
      } else {
        rc = parse_one(buf, len, name, &docs[n], &ndocs[n], err, errlen);
        free(buf);
        if (rc == 0) {
          names[n] = name;
          files[n].file = name;
          files[n].root = ndocs[n] ? sk_yaml_doc_root(docs[n][0]) : empty;
          n++;
        } else {
          free(name);
        }
      }
    }
    p = end ? end + 1 : p + plen;
  }
  if (rc == 0 && n == 0)
    rc = sk__kube_errf(err, errlen, SK_ENOENT, "KUBECONFIG %s: none of these files exists", paths);
  if (rc == 0)
    rc = sk__kube_config_from_files(files, n, paths, context, out, err, errlen);
  for (size_t i = 0; i < n; i++) {
    sk_yaml_docs_destroy(docs[i], ndocs[i]);
    free(names[i]);
  }
  json_decref(empty);
  return rc;
}

/* Reads a small text file and trims surrounding whitespace (the namespace
 * file); NULL when it cannot be read. */
static char *read_trimmed(const char *path) {
  char *s = NULL;
  size_t len = 0;
  if (sk__kube_read_file(path, 4096, &s, &len) != 0)
    return NULL;
  size_t a = 0;
  while (a < len && (s[a] == ' ' || s[a] == '\n' || s[a] == '\r' || s[a] == '\t'))
    a++;
  while (len > a && (s[len - 1] == ' ' || s[len - 1] == '\n' || s[len - 1] == '\r' ||
                     s[len - 1] == '\t'))
    len--;
  char *r = len > a ? sk_memdup_str(s + a, len - a) : NULL;
  free(s);
  return r;
}

/* root + "/" + leaf into a new string. */
static char *join(const char *root, const char *leaf) {
  sk_buf_t b;
  sk_buf_init(&b, 4096);
  if (sk_buf_printf(&b, "%s/%s", root, leaf) != 0) {
    sk_buf_release(&b);
    return NULL;
  }
  return sk_buf_steal(&b);
}

int sk_kube_config_in_cluster(const char *root, sk_kube_config_t **out, char *err, size_t errlen) {
  *out = NULL;
  if (!root)
    root = SK_KUBE_INCLUSTER_ROOT;
  const char *host = getenv("KUBERNETES_SERVICE_HOST");
  const char *port = getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !*host || !port || !*port)
    return sk__kube_errf(err, errlen, SK_ENOENT,
                         "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must "
                         "be set");
  int64_t portnum;
  if (sk_parse_int64(port, &portnum) != 0 || portnum < 1 || portnum > 65535)
    return sk__kube_errf(err, errlen, SK_EINVALID,
                         "in-cluster: KUBERNETES_SERVICE_PORT \"%s\" is not a port", port);
  sk_kube_config_t *cfg = calloc(1, sizeof(*cfg));
  if (!cfg)
    return SK_ENOMEM;
  int rc = SK_ENOMEM;
  sk_buf_t b;
  sk_buf_init(&b, 1024);
  bool v6 = strchr(host, ':') != NULL;
  if (sk_buf_printf(&b, "https://%s%s%s:%d", v6 ? "[" : "", host, v6 ? "]" : "",
                    (int)portnum) != 0) {
    sk_buf_release(&b);
    goto fail;
  }
  cfg->server = sk_buf_steal(&b);
  cfg->token_file = join(root, "token");
  cfg->ca_file = join(root, "ca.crt");
  cfg->source = strdup("in-cluster");
  if (!cfg->server || !cfg->token_file || !cfg->ca_file || !cfg->source)
    goto fail;
  cfg->in_cluster = true;
  if (access(cfg->token_file, R_OK) != 0) {
    rc = sk__kube_errf(err, errlen, errno == ENOENT ? SK_ENOENT : SK_EIO,
                       "in-cluster: cannot read the service account token %s: %s",
                       cfg->token_file, strerror(errno));
    goto fail;
  }
  /* Without the CA file TLS would fail with a less helpful message later;
   * say what is missing now. */
  if (access(cfg->ca_file, R_OK) != 0) {
    rc = sk__kube_errf(err, errlen, errno == ENOENT ? SK_ENOENT : SK_EIO,
                       "in-cluster: cannot read the cluster CA %s: %s", cfg->ca_file,
                       strerror(errno));
    goto fail;
  }
  char *nsfile = join(root, "namespace");
  if (!nsfile)
    goto fail;
  cfg->namespace = read_trimmed(nsfile);
  free(nsfile);
  if (!cfg->namespace && !(cfg->namespace = strdup("default")))
    goto fail;
  *out = cfg;
  return 0;
fail:
  if (rc == SK_ENOMEM)
    sk__kube_errf(err, errlen, rc, "in-cluster: out of memory");
  sk_kube_config_destroy(cfg);
  return rc;
}

int sk_kube_config_load(const sk_kube_config_opts_t *opts, sk_kube_config_t **out, char *err,
                        size_t errlen) {
  static const sk_kube_config_opts_t none = {0};
  if (!opts)
    opts = &none;
  *out = NULL;
  int rc;
  const char *env = getenv("KUBECONFIG");
  if (opts->kubeconfig && *opts->kubeconfig) {
    rc = sk_kube_config_from_kubeconfig(opts->kubeconfig, opts->context, out, err, errlen);
  } else if (env && *env) {
    rc = sk_kube_config_from_kubeconfig(env, opts->context, out, err, errlen);
  } else if (getenv("KUBERNETES_SERVICE_HOST")) {
    rc = sk_kube_config_in_cluster(opts->incluster_root, out, err, errlen);
  } else {
    const char *home = getenv("HOME");
    char *path = home && *home ? join(home, ".kube/config") : NULL;
    if (!path || access(path, F_OK) != 0) {
      free(path);
      return sk__kube_errf(err, errlen, SK_ENOENT,
                           "no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, run "
                           "in a cluster, or create ~/.kube/config");
    }
    rc = sk_kube_config_from_kubeconfig(path, opts->context, out, err, errlen);
    free(path);
  }
  if (rc == 0 && opts->namespace && *opts->namespace) {
    char *ns = strdup(opts->namespace);
    if (!ns) {
      sk_kube_config_destroy(*out);
      *out = NULL;
      return SK_ENOMEM;
    }
    free((*out)->namespace);
    (*out)->namespace = ns;
  }
  return rc;
}
