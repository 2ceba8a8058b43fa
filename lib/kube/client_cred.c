/*
 * Credentials that change while the daemon runs: token files (rotated
 * service-account tokens) and exec-plugin ExecCredentials. Pure apart from
 * the stat/read of the token file.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kube/kube-int.h"
#include "util/error.h"
#include "util/strutil.h"
#include "util/timeutil.h"

#define TOKEN_MAX (64 * 1024)

void sk__kube_cred_release(sk__kube_cred_t *c) {
  if (!c)
    return;
  sk__kube_wipe_free(c->token);
  free(c->cert_pem);
  sk__kube_wipe_free(c->key_pem);
  memset(c, 0, sizeof(*c));
}

int sk__kube_exec_parse(const char *out, size_t len, const char *api_version,
                        sk__kube_cred_t *cred, char *err, size_t errlen) {
  memset(cred, 0, sizeof(*cred));
  json_error_t jerr;
  json_t *root = json_loadb(out, len, 0, &jerr);
  if (!json_is_object(root)) {
    json_decref(root);
    return sk__kube_errf(err, errlen, SK_EPARSE,
                         "the plugin's output is not a JSON ExecCredential (line %d: %s)",
                         jerr.line, root ? "not an object" : jerr.text);
  }
  int rc = SK_EINVALID;
  const char *kind = json_string_value(json_object_get(root, "kind"));
  const char *api = json_string_value(json_object_get(root, "apiVersion"));
  json_t *st = json_object_get(root, "status");
  if (!kind || strcmp(kind, "ExecCredential") != 0) {
    sk__kube_errf(err, errlen, rc, "the plugin printed kind \"%s\", not ExecCredential",
                  kind ? kind : "");
    goto out;
  }
  /* client-go refuses a version other than the one it asked for: the
   * fields differ between versions. */
  if (!api || !api_version || strcmp(api, api_version) != 0) {
    sk__kube_errf(err, errlen, rc, "the plugin answered apiVersion \"%s\", but \"%s\" was asked",
                  api ? api : "", api_version ? api_version : "");
    goto out;
  }
  if (!json_is_object(st)) {
    sk__kube_errf(err, errlen, rc, "the plugin's ExecCredential has no status");
    goto out;
  }
  const char *tok = json_string_value(json_object_get(st, "token"));
  const char *cert = json_string_value(json_object_get(st, "clientCertificateData"));
  const char *key = json_string_value(json_object_get(st, "clientKeyData"));
  const char *exp = json_string_value(json_object_get(st, "expirationTimestamp"));
  if (tok && !*tok)
    tok = NULL;
  if (cert && !*cert)
    cert = NULL;
  if (key && !*key)
    key = NULL;
  if (!!cert != !!key) {
    sk__kube_errf(err, errlen, rc,
                  "the plugin's ExecCredential has only one of clientCertificateData and "
                  "clientKeyData");
    goto out;
  }
  if (!tok && !cert) {
    sk__kube_errf(err, errlen, rc,
                  "the plugin's ExecCredential has neither status.token nor a client "
                  "certificate");
    goto out;
  }
  if (exp && sk_time_parse(exp, &cred->expiry_ms) != 0) {
    sk__kube_errf(err, errlen, rc,
                  "the plugin's status.expirationTimestamp \"%s\" is not an RFC 3339 time", exp);
    goto out;
  }
  rc = SK_ENOMEM;
  if ((tok && !(cred->token = strdup(tok))) || (cert && !(cred->cert_pem = strdup(cert))) ||
      (key && !(cred->key_pem = strdup(key)))) {
    sk__kube_errf(err, errlen, rc, "out of memory");
    goto out;
  }
  rc = 0;
out:
  if (rc)
    sk__kube_cred_release(cred);
  json_decref(root);
  return rc;
}

static char *b64_encode(const char *s, size_t n) {
  static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char *out = malloc((n + 2) / 3 * 4 + 1);
  if (!out)
    return NULL;
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)(unsigned char)s[i] << 16;
    if (i + 1 < n)
      v |= (uint32_t)(unsigned char)s[i + 1] << 8;
    if (i + 2 < n)
      v |= (unsigned char)s[i + 2];
    out[o++] = tbl[(v >> 18) & 63];
    out[o++] = tbl[(v >> 12) & 63];
    out[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
    out[o++] = i + 2 < n ? tbl[v & 63] : '=';
  }
  out[o] = '\0';
  return out;
}

char *sk__kube_exec_info(const sk_kube_config_t *cfg) {
  json_t *root = json_pack("{s:s, s:s, s:{s:b}}", "apiVersion",
                           cfg->exec && cfg->exec->api_version ? cfg->exec->api_version : "",
                           "kind", "ExecCredential", "spec", "interactive", 0);
  if (!root)
    return NULL;
  char *out = NULL;
  if (cfg->exec && cfg->exec->provide_cluster_info) {
    json_t *cl = json_pack("{s:s}", "server", cfg->server ? cfg->server : "");
    if (!cl)
      goto done;
    json_object_set_new(json_object_get(root, "spec"), "cluster", cl);
    if (cfg->tls_server_name)
      json_object_set_new(cl, "tls-server-name", json_string(cfg->tls_server_name));
    if (cfg->insecure_skip_tls_verify)
      json_object_set_new(cl, "insecure-skip-tls-verify", json_true());
    /* The plugin gets the CA as data, as client-go hands it over, whether
     * the kubeconfig had it inline or in a file. */
    char *pem = NULL;
    size_t pemlen = 0;
    if (cfg->ca_pem) {
      pem = strdup(cfg->ca_pem);
      pemlen = pem ? strlen(pem) : 0;
    } else if (cfg->ca_file) {
      sk__kube_read_file(cfg->ca_file, 1u << 20, &pem, &pemlen);
    }
    if (pem) {
      char *b64 = b64_encode(pem, pemlen);
      if (b64)
        json_object_set_new(cl, "certificate-authority-data", json_string(b64));
      free(b64);
      free(pem);
    }
  }
  out = json_dumps(root, JSON_COMPACT);
done:
  json_decref(root);
  return out;
}

int sk__kube_tokenfile_init(sk__kube_tokenfile_t *tf, const char *path) {
  memset(tf, 0, sizeof(*tf));
  tf->checked_mono = INT64_MIN;
  tf->path = strdup(path);
  return tf->path ? 0 : SK_ENOMEM;
}

void sk__kube_tokenfile_release(sk__kube_tokenfile_t *tf) {
  free(tf->path);
  sk__kube_wipe_free(tf->token);
  memset(tf, 0, sizeof(*tf));
}

/* Reads and trims the token; the file's identity goes into tf only when
 * the read worked, so a failed read is retried at the next look. */
static int reread(sk__kube_tokenfile_t *tf, const struct stat *st, char *err, size_t errlen) {
  char *s = NULL;
  size_t len = 0;
  int rc = sk__kube_read_file(tf->path, TOKEN_MAX, &s, &len);
  if (rc)
    return sk__kube_errf(err, errlen, rc, "token file %s: cannot read: %s", tf->path,
                         rc == SK_ETOOBIG ? "larger than 64 KiB" : strerror(errno));
  size_t a = 0;
  while (a < len && (s[a] == ' ' || s[a] == '\t' || s[a] == '\r' || s[a] == '\n'))
    a++;
  while (len > a && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r' ||
                     s[len - 1] == '\n'))
    len--;
  /* A token is one line of printable text; anything else in a header would
   * break the request or inject another header. */
  for (size_t i = a; i < len; i++) {
    if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] == 0x7f) {
      sk__kube_wipe_free(s);
      return sk__kube_errf(err, errlen, SK_EINVALID,
                           "token file %s: holds whitespace or control characters inside the "
                           "token",
                           tf->path);
    }
  }
  if (len == a) {
    sk__kube_wipe_free(s);
    return sk__kube_errf(err, errlen, SK_EINVALID, "token file %s: is empty", tf->path);
  }
  memmove(s, s + a, len - a);
  s[len - a] = '\0';
  sk__kube_wipe_free(tf->token);
  tf->token = s;
  tf->dev = (uint64_t)st->st_dev;
  tf->ino = (uint64_t)st->st_ino;
  tf->size = (uint64_t)st->st_size;
  tf->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
  return 0;
}

int sk__kube_tokenfile_get(sk__kube_tokenfile_t *tf, int64_t now_mono, bool force,
                           const char **token, char *err, size_t errlen) {
  *token = tf->token;
  if (tf->token && !force && tf->checked_mono != INT64_MIN &&
      now_mono - tf->checked_mono < SK_KUBE_TOKENFILE_RECHECK_MS)
    return 0;
  tf->checked_mono = now_mono;
  struct stat st;
  int rc;
  /* stat follows the symlinks Kubernetes uses for projected volumes
   * (token -> ..data/token), so a swap of ..data shows as a new inode. */
  if (stat(tf->path, &st) != 0) {
    rc = sk__kube_errf(err, errlen, errno == ENOENT ? SK_ENOENT : SK_EIO,
                       "token file %s: %s", tf->path, strerror(errno));
  } else {
    int64_t mt = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    if (tf->token && tf->dev == (uint64_t)st.st_dev && tf->ino == (uint64_t)st.st_ino &&
        tf->size == (uint64_t)st.st_size && tf->mtime_ns == mt)
      return 0;
    rc = reread(tf, &st, err, errlen);
  }
  /* A rotation in progress (file briefly missing or empty) must not fail
   * requests while the last token is still good. */
  if (rc && tf->token)
    rc = 0;
  *token = tf->token;
  return rc;
}
