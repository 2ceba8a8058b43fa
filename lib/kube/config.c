/*
 * kubeconfig v1: pick the context, then its cluster and user, merging
 * several files as kubectl does (the first file that names an entry wins),
 * and turn them into one resolved sk_kube_config_t. Pure apart from the
 * readability checks of the files the kubeconfig names, which are done
 * here so that a wrong path is reported at start-up, naming the field.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kube/kube-int.h"
#include "util/error.h"
#include "util/strutil.h"

/* An entry of clusters/users/contexts found by name. */
typedef struct {
  json_t *body;     /* the inner "cluster"/"user"/"context" object */
  const char *file; /* the file that defined it */
  size_t index;     /* its index in that file's list, for messages */
} entry_t;

typedef struct {
  const sk__kube_cfgfile_t *files;
  size_t nfiles;
  const char *label;
  char *err;
  size_t errlen;
} ctx_t;

static const char *fname(const char *file) { return file ? file : "(memory)"; }

/* Checks that a top-level list has the right shape. */
static int check_list(ctx_t *c, const sk__kube_cfgfile_t *f, const char *list_key) {
  json_t *list = json_object_get(f->root, list_key);
  if (list && !json_is_array(list) && !json_is_null(list))
    return sk__kube_errf(c->err, c->errlen, SK_EINVALID, "kubeconfig %s: %s: must be a list",
                         fname(f->file), list_key);
  return 0;
}

/* Finds the entry called name in list_key across the files, in order. */
static int find_entry(ctx_t *c, const char *list_key, const char *inner_key, const char *name,
                      entry_t *out) {
  for (size_t i = 0; i < c->nfiles; i++) {
    const sk__kube_cfgfile_t *f = &c->files[i];
    int rc = check_list(c, f, list_key);
    if (rc)
      return rc;
    json_t *list = json_object_get(f->root, list_key);
    size_t idx;
    json_t *item;
    json_array_foreach(list, idx, item) {
      const char *n = json_string_value(json_object_get(item, "name"));
      if (!n || strcmp(n, name) != 0)
        continue;
      json_t *body = json_object_get(item, inner_key);
      if (body && !json_is_object(body) && !json_is_null(body))
        return sk__kube_errf(c->err, c->errlen, SK_EINVALID,
                             "kubeconfig %s: %s[%zu].%s: must be a mapping", fname(f->file),
                             list_key, idx, inner_key);
      out->body = json_is_object(body) ? body : NULL;
      out->file = f->file;
      out->index = idx;
      return 0;
    }
  }
  return SK_ENOENT;
}

/* Lists the names defined in list_key, for "(have: a, b)". At most a few
 * names are shown: a message is not the place for a thousand contexts. */
static void list_names(ctx_t *c, const char *list_key, char *out, size_t outlen) {
  sk_buf_t b;
  sk_buf_init(&b, 400);
  const char *seen[10];
  size_t shown = 0, more = 0;
  for (size_t i = 0; i < c->nfiles; i++) {
    json_t *list = json_object_get(c->files[i].root, list_key);
    size_t idx;
    json_t *item;
    json_array_foreach(list, idx, item) {
      const char *n = json_string_value(json_object_get(item, "name"));
      if (!n)
        continue;
      /* A name defined in two files is one choice; only the shown names
       * are checked, which keeps this linear. */
      bool dup = false;
      for (size_t k = 0; k < shown && !dup; k++)
        dup = strcmp(seen[k], n) == 0;
      if (dup)
        continue;
      if (shown >= 10 || sk_buf_printf(&b, "%s%s", shown ? ", " : "", n) != 0) {
        more++;
        continue;
      }
      seen[shown++] = n;
    }
  }
  if (more)
    sk_buf_printf(&b, " and %zu more", more);
  snprintf(out, outlen, "%s", shown ? b.data : "none");
  sk_buf_release(&b);
}

/* Reads an optional string member; empty strings count as absent, since
 * kubectl writes `token: ""` for "no token". */
static int get_str(ctx_t *c, const entry_t *e, const char *list_key, const char *inner_key,
                   const char *key, const char **out) {
  *out = NULL;
  json_t *v = e->body ? json_object_get(e->body, key) : NULL;
  if (!v || json_is_null(v))
    return 0;
  if (!json_is_string(v))
    return sk__kube_errf(c->err, c->errlen, SK_EINVALID,
                         "kubeconfig %s: %s[%zu].%s.%s: must be a string", fname(e->file),
                         list_key, e->index, inner_key, key);
  if (json_string_length(v) > 0)
    *out = json_string_value(v);
  return 0;
}

/* Copies a path member, resolved against its file's directory, and checks
 * that it can be read. */
static int get_path(ctx_t *c, const entry_t *e, const char *list_key, const char *inner_key,
                    const char *key, char **out) {
  const char *s;
  int rc = get_str(c, e, list_key, inner_key, key, &s);
  if (rc || !s)
    return rc;
  *out = sk__kube_resolve_path(e->file, s);
  if (!*out)
    return SK_ENOMEM;
  if (access(*out, R_OK) != 0)
    return sk__kube_errf(c->err, c->errlen, errno == ENOENT ? SK_ENOENT : SK_EIO,
                         "kubeconfig %s: %s[%zu].%s.%s: cannot read %s: %s", fname(e->file),
                         list_key, e->index, inner_key, key, *out, strerror(errno));
  return 0;
}

/* Decodes a base64 *-data member into PEM text. */
static int get_data(ctx_t *c, const entry_t *e, const char *list_key, const char *inner_key,
                    const char *key, char **out) {
  const char *s;
  int rc = get_str(c, e, list_key, inner_key, key, &s);
  if (rc || !s)
    return rc;
  size_t n;
  rc = sk__kube_b64_decode(s, strlen(s), out, &n);
  if (rc == SK_EPARSE)
    return sk__kube_errf(c->err, c->errlen, SK_EINVALID,
                         "kubeconfig %s: %s[%zu].%s.%s: not valid base64", fname(e->file),
                         list_key, e->index, inner_key, key);
  return rc;
}

static int load_cluster(ctx_t *c, const entry_t *e, sk_kube_config_t *cfg) {
  static const char L[] = "clusters", I[] = "cluster";
  const char *server, *sni;
  int rc = get_str(c, e, L, I, "server", &server);
  if (rc)
    return rc;
  if (!server)
    return sk__kube_errf(c->err, c->errlen, SK_EINVALID,
                         "kubeconfig %s: clusters[%zu].cluster.server: missing", fname(e->file),
                         e->index);
  /* kubectl accepts "host:port" and means https. */
  bool has_scheme = strncmp(server, "https://", 8) == 0 || strncmp(server, "http://", 7) == 0;
  size_t slen = strlen(server);
  while (slen > 0 && server[slen - 1] == '/')
    slen--;
  sk_buf_t b;
  sk_buf_init(&b, 4096);
  if ((!has_scheme && sk_buf_puts(&b, "https://") != 0) || sk_buf_append(&b, server, slen) != 0) {
    sk_buf_release(&b);
    return sk__kube_errf(c->err, c->errlen, SK_EINVALID,
                         "kubeconfig %s: clusters[%zu].cluster.server: too long", fname(e->file),
                         e->index);
  }
  cfg->server = sk_buf_steal(&b);
  if (!cfg->server)
    return SK_ENOMEM;
  if ((rc = get_path(c, e, L, I, "certificate-authority", &cfg->ca_file)) ||
      (rc = get_data(c, e, L, I, "certificate-authority-data", &cfg->ca_pem)) ||
      (rc = get_str(c, e, L, I, "tls-server-name", &sni)))
    return rc;
  if (sni && !(cfg->tls_server_name = strdup(sni)))
    return SK_ENOMEM;
  json_t *insecure = json_object_get(e->body, "insecure-skip-tls-verify");
  if (insecure && !json_is_boolean(insecure) && !json_is_null(insecure))
    return sk__kube_errf(c->err, c->errlen, SK_EINVALID,
                         "kubeconfig %s: clusters[%zu].cluster.insecure-skip-tls-verify: must be "
                         "true or false",
                         fname(e->file), e->index);
  cfg->insecure_skip_tls_verify = json_is_true(insecure);
  /* Same rule as kubectl: asking to trust a CA and to trust anything at
   * once is a mistake worth stopping for. */
  if (cfg->insecure_skip_tls_verify && (cfg->ca_file || cfg->ca_pem))
    return sk__kube_errf(c->err, c->errlen, SK_EINVALID,
                         "kubeconfig %s: clusters[%zu].cluster: certificate-authority and "
                         "insecure-skip-tls-verify cannot both be set",
                         fname(e->file), e->index);
  return 0;
}

static int load_exec(ctx_t *c, const entry_t *e, json_t *ex, sk_kube_config_t *cfg) {
  const char *file = fname(e->file);
  size_t ix = e->index;
  if (!json_is_object(ex))
    return sk__kube_errf(c->err, c->errlen, SK_EINVALID,
                         "kubeconfig %s: users[%zu].user.exec: must be a mapping", file, ix);
  sk_kube_exec_config_t *x = calloc(1, sizeof(*x));
  if (!x)
    return SK_ENOMEM;
  cfg->exec = x;
  entry_t sub = {.body = ex, .file = e->file, .index = ix};
  const char *api, *cmd, *mode;
  int rc;
  if ((rc = get_str(c, &sub, "users", "user.exec", "apiVersion", &api)) ||
      (rc = get_str(c, &sub, "users", "user.exec", "command", &cmd)) ||
      (rc = get_str(c, &sub, "users", "user.exec", "interactiveMode", &mode)))
    return rc;
  if (!api || (strcmp(api, "client.authentication.k8s.io/v1") != 0 &&
               strcmp(api, "client.authentication.k8s.io/v1beta1") != 0))
    return sk__kube_errf(c->err, c->errlen, SK_EINVALID,
                         "kubeconfig %s: users[%zu].user.exec.apiVersion: must be "
                         "client.authentication.k8s.io/v1 or v1beta1, got \"%s\"",
                         file, ix, api ? api : "");
  if (!cmd)
    return sk__kube_errf(c->err, c->errlen, SK_EINVALID,
                         "kubeconfig %s: users[%zu].user.exec.command: missing", file, ix);
  /* The daemon has no terminal: a plugin that must ask a person cannot run. */
  if (mode && strcmp(mode, "Always") == 0)
    return sk__kube_errf(c->err, c->errlen, SK_EINVALID,
                         "kubeconfig %s: users[%zu].user.exec.interactiveMode: \"Always\" needs a "
                         "terminal, which skein never has",
                         file, ix);
  x->api_version = strdup(api);
  /* kubectl resolves a relative command against the kubeconfig only when it
   * is a path (has a '/'); a bare name is looked up in PATH. */
  x->command = strchr(cmd, '/') ? sk__kube_resolve_path(e->file, cmd) : strdup(cmd);
  if (!x->api_version || !x->command || (mode && !(x->interactive_mode = strdup(mode))))
    return SK_ENOMEM;
  json_t *pci = json_object_get(ex, "provideClusterInfo");
  x->provide_cluster_info = json_is_true(pci);
  json_t *args = json_object_get(ex, "args");
  if (args && !json_is_null(args)) {
    if (!json_is_array(args))
      return sk__kube_errf(c->err, c->errlen, SK_EINVALID,
                           "kubeconfig %s: users[%zu].user.exec.args: must be a list", file, ix);
    x->args = calloc(json_array_size(args) + 1, sizeof(char *));
    if (!x->args)
      return SK_ENOMEM;
    size_t i;
    json_t *a;
    json_array_foreach(args, i, a) {
      if (!json_is_string(a))
        return sk__kube_errf(c->err, c->errlen, SK_EINVALID,
                             "kubeconfig %s: users[%zu].user.exec.args[%zu]: must be a string",
                             file, ix, i);
      if (!(x->args[x->argc] = strdup(json_string_value(a))))
        return SK_ENOMEM;
      x->argc++;
    }
  }
  json_t *env = json_object_get(ex, "env");
  if (env && !json_is_null(env)) {
    if (!json_is_array(env))
      return sk__kube_errf(c->err, c->errlen, SK_EINVALID,
                           "kubeconfig %s: users[%zu].user.exec.env: must be a list", file, ix);
    x->env = calloc(json_array_size(env) + 1, sizeof(sk_kube_env_t));
    if (!x->env)
      return SK_ENOMEM;
    size_t i;
    json_t *v;
    json_array_foreach(env, i, v) {
      const char *n = json_string_value(json_object_get(v, "name"));
      const char *val = json_string_value(json_object_get(v, "value"));
      if (!n || !*n || strchr(n, '=') || !val)
        return sk__kube_errf(c->err, c->errlen, SK_EINVALID,
                             "kubeconfig %s: users[%zu].user.exec.env[%zu]: needs a name "
                             "(without '=') and a string value",
                             file, ix, i);
      x->env[x->envc].name = strdup(n);
      x->env[x->envc].value = strdup(val);
      x->envc++;
      if (!x->env[x->envc - 1].name || !x->env[x->envc - 1].value)
        return SK_ENOMEM;
    }
  }
  return 0;
}

static int load_user(ctx_t *c, const entry_t *e, sk_kube_config_t *cfg) {
  static const char L[] = "users", I[] = "user";
  const char *tok;
  int rc;
  if (e->body && (json_object_get(e->body, "auth-provider") ||
                  json_object_get(e->body, "username") || json_object_get(e->body, "password")))
    return sk__kube_errf(c->err, c->errlen, SK_EINVALID,
                         "kubeconfig %s: users[%zu].user: auth-provider and basic auth are not "
                         "supported; use a token, a client certificate or an exec plugin",
                         fname(e->file), e->index);
  if ((rc = get_str(c, e, L, I, "token", &tok)) ||
      (rc = get_path(c, e, L, I, "tokenFile", &cfg->token_file)) ||
      (rc = get_path(c, e, L, I, "client-certificate", &cfg->cert_file)) ||
      (rc = get_data(c, e, L, I, "client-certificate-data", &cfg->cert_pem)) ||
      (rc = get_path(c, e, L, I, "client-key", &cfg->key_file)) ||
      (rc = get_data(c, e, L, I, "client-key-data", &cfg->key_pem)))
    return rc;
  if (tok && !(cfg->token = strdup(tok)))
    return SK_ENOMEM;
  bool has_cert = cfg->cert_file || cfg->cert_pem, has_key = cfg->key_file || cfg->key_pem;
  if (has_cert != has_key)
    return sk__kube_errf(c->err, c->errlen, SK_EINVALID,
                         "kubeconfig %s: users[%zu].user: a client certificate needs a client key "
                         "and the other way round",
                         fname(e->file), e->index);
  json_t *ex = e->body ? json_object_get(e->body, "exec") : NULL;
  if (ex && !json_is_null(ex))
    return load_exec(c, e, ex, cfg);
  return 0;
}

/* The current-context of the first file that sets one. */
static const char *current_context(ctx_t *c) {
  for (size_t i = 0; i < c->nfiles; i++) {
    const char *s = json_string_value(json_object_get(c->files[i].root, "current-context"));
    if (s && *s)
      return s;
  }
  return NULL;
}

static int build(ctx_t *c, const char *context, sk_kube_config_t *cfg) {
  char have[512];
  int rc;
  for (size_t i = 0; i < c->nfiles; i++) {
    if (!json_is_object(c->files[i].root))
      return sk__kube_errf(c->err, c->errlen, SK_EINVALID,
                           "kubeconfig %s: the top level must be a mapping",
                           fname(c->files[i].file));
    if ((rc = check_list(c, &c->files[i], "clusters")) ||
        (rc = check_list(c, &c->files[i], "users")) ||
        (rc = check_list(c, &c->files[i], "contexts")))
      return rc;
  }
  if (!context)
    context = current_context(c);
  if (!context) {
    list_names(c, "contexts", have, sizeof(have));
    return sk__kube_errf(c->err, c->errlen, SK_ENOENT,
                         "kubeconfig %s: no current-context set and no context given (have: %s)",
                         c->label, have);
  }
  entry_t ctxe = {0}, cl = {0}, us = {0};
  rc = find_entry(c, "contexts", "context", context, &ctxe);
  if (rc == SK_ENOENT) {
    list_names(c, "contexts", have, sizeof(have));
    return sk__kube_errf(c->err, c->errlen, SK_ENOENT,
                         "kubeconfig %s: context \"%s\" not found (have: %s)", c->label, context,
                         have);
  }
  if (rc)
    return rc;
  const char *cluster, *user, *ns;
  if ((rc = get_str(c, &ctxe, "contexts", "context", "cluster", &cluster)) ||
      (rc = get_str(c, &ctxe, "contexts", "context", "user", &user)) ||
      (rc = get_str(c, &ctxe, "contexts", "context", "namespace", &ns)))
    return rc;
  if (!cluster)
    return sk__kube_errf(c->err, c->errlen, SK_EINVALID,
                         "kubeconfig %s: contexts[%zu].context.cluster: missing (context \"%s\")",
                         fname(ctxe.file), ctxe.index, context);
  rc = find_entry(c, "clusters", "cluster", cluster, &cl);
  if (rc == SK_ENOENT) {
    list_names(c, "clusters", have, sizeof(have));
    return sk__kube_errf(c->err, c->errlen, SK_ENOENT,
                         "kubeconfig %s: context \"%s\" names cluster \"%s\", which is not "
                         "defined (have: %s)",
                         c->label, context, cluster, have);
  }
  if (rc || (rc = load_cluster(c, &cl, cfg)))
    return rc;
  /* A context without a user talks to the apiserver anonymously. */
  if (user) {
    rc = find_entry(c, "users", "user", user, &us);
    if (rc == SK_ENOENT) {
      list_names(c, "users", have, sizeof(have));
      return sk__kube_errf(c->err, c->errlen, SK_ENOENT,
                           "kubeconfig %s: context \"%s\" names user \"%s\", which is not "
                           "defined (have: %s)",
                           c->label, context, user, have);
    }
    if (rc || (rc = load_user(c, &us, cfg)))
      return rc;
  }
  cfg->namespace = strdup(ns ? ns : "default");
  cfg->context = strdup(context);
  cfg->source = strdup(fname(ctxe.file));
  if (!cfg->namespace || !cfg->context || !cfg->source)
    return SK_ENOMEM;
  return 0;
}

int sk__kube_config_from_files(const sk__kube_cfgfile_t *files, size_t nfiles, const char *label,
                               const char *context, sk_kube_config_t **out, char *err,
                               size_t errlen) {
  *out = NULL;
  if (err && errlen)
    err[0] = '\0';
  sk_kube_config_t *cfg = calloc(1, sizeof(*cfg));
  if (!cfg)
    return SK_ENOMEM;
  ctx_t c = {.files = files, .nfiles = nfiles, .label = label ? label : "(memory)",
             .err = err, .errlen = errlen};
  int rc = build(&c, context, cfg);
  if (rc) {
    if (rc == SK_ENOMEM)
      sk__kube_errf(err, errlen, rc, "kubeconfig %s: out of memory", c.label);
    sk_kube_config_destroy(cfg);
    return rc;
  }
  *out = cfg;
  return 0;
}
