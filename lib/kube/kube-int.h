/*
 * Private declarations shared by the files of lib/kube (config, client,
 * credentials, watch, informer). Nothing outside lib/kube includes this.
 */
#ifndef SK_KUBE_KUBE_INT_H
#define SK_KUBE_KUBE_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kube/kube.h"
#include "util/buf.h"

/* ---- config helpers (config_util.c) ---- */

/* Writes a formatted message to err (when not NULL) and returns code. */
int sk__kube_errf(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Decodes standard base64 (padding optional, whitespace ignored) into a
 * new NUL-terminated buffer; *outlen gets the decoded length. SK_EPARSE on
 * a bad character or length. */
int sk__kube_b64_decode(const char *in, size_t inlen, char **out, size_t *outlen);

/* Resolves path against the directory of base_file (NULL or a name without
 * a '/': left as is). Absolute paths are returned unchanged. New string. */
char *sk__kube_resolve_path(const char *base_file, const char *path);

/* Reads a whole small file (at most max bytes) into a new NUL-terminated
 * buffer. SK_ENOENT, SK_EIO, SK_ETOOBIG. */
int sk__kube_read_file(const char *path, size_t max, char **out, size_t *outlen);

/* Zeroes a secret string (token, key) and frees it. Safe on NULL. */
void sk__kube_wipe_free(char *s);

/* Frees the members of an exec config and the struct itself. */
void sk__kube_exec_config_free(sk_kube_exec_config_t *e);
/* Deep copy; NULL on allocation failure (or when e is NULL). */
sk_kube_exec_config_t *sk__kube_exec_config_dup(const sk_kube_exec_config_t *e);
/* Deep copy of a whole config; NULL on allocation failure. */
sk_kube_config_t *sk__kube_config_dup(const sk_kube_config_t *cfg);

/* ---- kubeconfig merging (config.c) ---- */

/* One parsed kubeconfig file: its root object (borrowed from the caller)
 * and its name, for messages and relative paths. */
typedef struct {
  json_t *root;
  const char *file;
} sk__kube_cfgfile_t;

/* Builds a config from kubeconfig files merged in order (first definition
 * of a name wins). label names the source in messages (a path or the
 * KUBECONFIG list). */
int sk__kube_config_from_files(const sk__kube_cfgfile_t *files, size_t nfiles, const char *label,
                               const char *context, sk_kube_config_t **out, char *err,
                               size_t errlen);

#endif
