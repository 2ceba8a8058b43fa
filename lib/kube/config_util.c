/*
 * Small helpers for loading configuration: messages, base64, paths relative
 * to a kubeconfig, bounded file reads, and copying/freeing configs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kube-int.h"
#include "util/error.h"
#include "util/strutil.h"

int sk__kube_errf(char *err, size_t errlen, int code, const char *fmt, ...) {
  if (err && errlen > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return code;
}

static int b64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

int sk__kube_b64_decode(const char *in, size_t inlen, char **out, size_t *outlen) {
  *out = NULL;
  *outlen = 0;
  char *buf = malloc(inlen / 4 * 3 + 4);
  if (!buf)
    return SK_ENOMEM;
  size_t n = 0, pad = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < inlen; i++) {
    unsigned char c = (unsigned char)in[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
      continue;
    if (c == '=') {
      pad++;
      continue;
    }
    int v = b64_value(c);
    /* Data after padding means two encodings were glued together, or junk. */
    if (v < 0 || pad > 0)
      goto bad;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      buf[n++] = (char)((acc >> bits) & 0xff);
    }
  }
  /* A group of one leftover character (6 bits) cannot encode a byte, and
   * padding beyond two characters is not base64. */
  if (bits >= 6 || pad > 2)
    goto bad;
  buf[n] = '\0';
  *out = buf;
  *outlen = n;
  return 0;
bad:
  free(buf);
  return SK_EPARSE;
}

char *sk__kube_resolve_path(const char *base_file, const char *path) {
  if (!path)
    return NULL;
  const char *slash = base_file ? strrchr(base_file, '/') : NULL;
  if (path[0] == '/' || !slash || path[0] == '\0')
    return strdup(path);
  size_t dirlen = (size_t)(slash - base_file);
  size_t plen = strlen(path);
  char *s = malloc(dirlen + 1 + plen + 1);
  if (!s)
    return NULL;
  memcpy(s, base_file, dirlen);
  s[dirlen] = '/';
  memcpy(s + dirlen + 1, path, plen + 1);
  return s;
}

int sk__kube_read_file(const char *path, size_t max, char **out, size_t *outlen) {
  *out = NULL;
  if (outlen)
    *outlen = 0;
  FILE *fp = fopen(path, "rb");
  if (!fp)
    return errno == ENOENT ? SK_ENOENT : SK_EIO;
  sk_buf_t b;
  sk_buf_init(&b, max);
  char chunk[4096];
  int rc = 0;
  size_t got;
  while ((got = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
    rc = sk_buf_append(&b, chunk, got);
    if (rc != 0)
      break;
  }
  if (rc == 0 && ferror(fp))
    rc = SK_EIO;
  fclose(fp);
  if (rc != 0) {
    sk_buf_release(&b);
    return rc;
  }
  size_t len = b.len;
  *out = sk_buf_steal(&b);
  if (!*out)
    return SK_ENOMEM;
  if (outlen)
    *outlen = len;
  return 0;
}

void sk__kube_exec_config_free(sk_kube_exec_config_t *e) {
  if (!e)
    return;
  free(e->api_version);
  free(e->command);
  for (size_t i = 0; i < e->argc; i++)
    free(e->args[i]);
  free(e->args);
  for (size_t i = 0; i < e->envc; i++) {
    free(e->env[i].name);
    free(e->env[i].value);
  }
  free(e->env);
  free(e->interactive_mode);
  free(e);
}

sk_kube_exec_config_t *sk__kube_exec_config_dup(const sk_kube_exec_config_t *e) {
  if (!e)
    return NULL;
  sk_kube_exec_config_t *d = calloc(1, sizeof(*d));
  if (!d)
    return NULL;
  d->provide_cluster_info = e->provide_cluster_info;
  d->api_version = sk_strdup0(e->api_version);
  d->command = sk_strdup0(e->command);
  d->interactive_mode = sk_strdup0(e->interactive_mode);
  if ((e->api_version && !d->api_version) || (e->command && !d->command) ||
      (e->interactive_mode && !d->interactive_mode))
    goto fail;
  if (e->argc) {
    d->args = calloc(e->argc, sizeof(char *));
    if (!d->args)
      goto fail;
    for (; d->argc < e->argc; d->argc++)
      if (!(d->args[d->argc] = strdup(e->args[d->argc])))
        goto fail;
  }
  if (e->envc) {
    d->env = calloc(e->envc, sizeof(sk_kube_env_t));
    if (!d->env)
      goto fail;
    for (; d->envc < e->envc; d->envc++) {
      d->env[d->envc].name = strdup(e->env[d->envc].name);
      d->env[d->envc].value = strdup(e->env[d->envc].value);
      if (!d->env[d->envc].name || !d->env[d->envc].value) {
        d->envc++; /* free this half-built entry too */
        goto fail;
      }
    }
  }
  return d;
fail:
  sk__kube_exec_config_free(d);
  return NULL;
}

/* Copies one optional string field; false on allocation failure. */
static bool dup_field(char **dst, const char *src) {
  *dst = sk_strdup0(src);
  return !src || *dst;
}

sk_kube_config_t *sk__kube_config_dup(const sk_kube_config_t *cfg) {
  sk_kube_config_t *d = calloc(1, sizeof(*d));
  if (!d)
    return NULL;
  d->insecure_skip_tls_verify = cfg->insecure_skip_tls_verify;
  d->in_cluster = cfg->in_cluster;
  if (!dup_field(&d->server, cfg->server) || !dup_field(&d->ca_file, cfg->ca_file) ||
      !dup_field(&d->ca_pem, cfg->ca_pem) || !dup_field(&d->cert_file, cfg->cert_file) ||
      !dup_field(&d->cert_pem, cfg->cert_pem) || !dup_field(&d->key_file, cfg->key_file) ||
      !dup_field(&d->key_pem, cfg->key_pem) ||
      !dup_field(&d->tls_server_name, cfg->tls_server_name) ||
      !dup_field(&d->token, cfg->token) || !dup_field(&d->token_file, cfg->token_file) ||
      !dup_field(&d->namespace, cfg->namespace) || !dup_field(&d->context, cfg->context) ||
      !dup_field(&d->source, cfg->source))
    goto fail;
  if (cfg->exec && !(d->exec = sk__kube_exec_config_dup(cfg->exec)))
    goto fail;
  return d;
fail:
  sk_kube_config_destroy(d);
  return NULL;
}

void sk__kube_wipe_free(char *s) {
  if (!s)
    return;
  /* Secrets are cleared before the memory goes back to the allocator, so a
   * later use-after-free or core dump does not show them. */
  volatile char *p = s;
  while (*p)
    *p++ = '\0';
  free(s);
}

void sk_kube_config_destroy(sk_kube_config_t *cfg) {
  if (!cfg)
    return;
  free(cfg->server);
  free(cfg->ca_file);
  free(cfg->ca_pem);
  free(cfg->cert_file);
  free(cfg->cert_pem);
  free(cfg->key_file);
  free(cfg->key_pem);
  free(cfg->tls_server_name);
  /* The token is a credential: clear it before the memory is reused. */
  if (cfg->token) {
    volatile char *p = cfg->token;
    while (*p)
      *p++ = '\0';
  }
  free(cfg->token);
  free(cfg->token_file);
  sk__kube_exec_config_free(cfg->exec);
  free(cfg->namespace);
  free(cfg->context);
  free(cfg->source);
  free(cfg);
}
