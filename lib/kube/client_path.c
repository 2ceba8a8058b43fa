/*
 * URL paths and query strings for API calls, object keys. Pure.
 */
#include <string.h>

#include "kube/kube-int.h"
#include "util/error.h"

static const char *const verb_names[SK_KUBE_VERB_COUNT] = {
    [SK_KUBE_GET] = "get",       [SK_KUBE_LIST] = "list",     [SK_KUBE_WATCH] = "watch",
    [SK_KUBE_CREATE] = "create", [SK_KUBE_UPDATE] = "update", [SK_KUBE_PATCH] = "patch",
    [SK_KUBE_DELETE] = "delete",
};

const char *sk_kube_verb_name(sk_kube_verb_t verb) {
  if ((unsigned)verb >= SK_KUBE_VERB_COUNT)
    return "unknown";
  return verb_names[verb];
}

/* RFC 3986 unreserved characters pass; everything else is %XX, so a label
 * selector like "app in (a,b)" or a continue token survives intact. */
static int put_escaped(sk_buf_t *b, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '.' || c == '_' || c == '~';
    int rc = plain ? sk_buf_putc(b, (char)c)
                   : sk_buf_printf(b, "%%%c%c", hex[c >> 4], hex[c & 15]);
    if (rc)
      return rc;
  }
  return 0;
}

/* A path segment must be non-empty and must not be "." or ".." (which
 * would change the path once a server normalises it) nor contain '/'. */
static bool segment_ok(const char *s) {
  return s && *s && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 && !strchr(s, '/');
}

static int put_segment(sk_buf_t *b, const char *s) {
  int rc = sk_buf_putc(b, '/');
  return rc ? rc : put_escaped(b, s);
}

static int put_param(sk_buf_t *b, bool *first, const char *key, const char *value) {
  if (!value || !*value)
    return 0;
  int rc = sk_buf_printf(b, "%c%s=", *first ? '?' : '&', key);
  *first = false;
  return rc ? rc : put_escaped(b, value);
}

static int put_long(sk_buf_t *b, bool *first, const char *key, long v) {
  char num[32];
  snprintf(num, sizeof(num), "%ld", v);
  return put_param(b, first, key, num);
}

static int build(sk_buf_t *b, sk_kube_verb_t verb, const sk_kube_ref_t *ref,
                 const sk_kube_call_opts_t *o) {
  const char *group = ref->gvr.group;
  int rc;
  if ((unsigned)verb >= SK_KUBE_VERB_COUNT || !segment_ok(ref->gvr.version) ||
      !segment_ok(ref->gvr.resource) || (group && *group && !segment_ok(group)))
    return SK_EINVAL;
  if (ref->namespace && !segment_ok(ref->namespace))
    return SK_EINVAL;
  bool collection = verb == SK_KUBE_LIST || verb == SK_KUBE_WATCH;
  /* POST goes to the collection, except for subresources of one object
   * (pods/eviction, serviceaccounts/token). */
  bool named = !collection && !(verb == SK_KUBE_CREATE && !ref->subresource);
  if (named && !segment_ok(ref->name))
    return SK_EINVAL;
  if (collection && ref->name)
    return SK_EINVAL;
  if (ref->subresource && (!named || !segment_ok(ref->subresource)))
    return SK_EINVAL;

  if (group && *group)
    rc = sk_buf_puts(b, "/apis") || put_segment(b, group) || put_segment(b, ref->gvr.version);
  else
    rc = sk_buf_puts(b, "/api") || put_segment(b, ref->gvr.version);
  if (!rc && ref->namespace)
    rc = sk_buf_puts(b, "/namespaces") || put_segment(b, ref->namespace);
  if (!rc)
    rc = put_segment(b, ref->gvr.resource);
  if (!rc && named)
    rc = put_segment(b, ref->name);
  if (!rc && ref->subresource)
    rc = put_segment(b, ref->subresource);
  if (rc)
    return SK_ETOOBIG;

  bool first = true;
  if (verb == SK_KUBE_WATCH)
    rc = put_param(b, &first, "watch", "true");
  switch (verb) {
  case SK_KUBE_LIST:
  case SK_KUBE_WATCH:
    rc = rc || put_param(b, &first, "labelSelector", o->label_selector) ||
         put_param(b, &first, "fieldSelector", o->field_selector) ||
         put_param(b, &first, "resourceVersion", o->resource_version);
    if (verb == SK_KUBE_LIST) {
      if (o->limit > 0)
        rc = rc || put_long(b, &first, "limit", o->limit);
      rc = rc || put_param(b, &first, "continue", o->continue_token);
    } else {
      if (o->allow_bookmarks)
        rc = rc || put_param(b, &first, "allowWatchBookmarks", "true");
      if (o->watch_timeout_s > 0)
        rc = rc || put_long(b, &first, "timeoutSeconds", o->watch_timeout_s);
    }
    break;
  case SK_KUBE_GET:
    rc = put_param(b, &first, "resourceVersion", o->resource_version);
    break;
  case SK_KUBE_CREATE:
  case SK_KUBE_UPDATE:
  case SK_KUBE_PATCH:
    rc = put_param(b, &first, "fieldManager", o->field_manager);
    if (o->dry_run)
      rc = rc || put_param(b, &first, "dryRun", "All");
    if (verb == SK_KUBE_PATCH && o->patch_type == SK_KUBE_PATCH_APPLY && o->force)
      rc = rc || put_param(b, &first, "force", "true");
    break;
  case SK_KUBE_DELETE:
    /* Propagation, grace period and preconditions travel in the
     * DeleteOptions body; only dryRun is a query parameter here. */
    if (o->dry_run)
      rc = put_param(b, &first, "dryRun", "All");
    break;
  default:
    break;
  }
  return rc ? SK_ETOOBIG : 0;
}

int sk_kube_build_path(sk_kube_verb_t verb, const sk_kube_ref_t *ref,
                       const sk_kube_call_opts_t *opts, char *out, size_t outlen) {
  static const sk_kube_call_opts_t none = {0};
  if (!ref || !out || outlen == 0)
    return SK_EINVAL;
  sk_buf_t b;
  sk_buf_init(&b, outlen - 1);
  int rc = build(&b, verb, ref, opts ? opts : &none);
  if (rc == 0)
    memcpy(out, b.data ? b.data : "", b.len + 1);
  sk_buf_release(&b);
  return rc;
}

int sk__kube_build_url(const char *server, sk_kube_verb_t verb, const sk_kube_ref_t *ref,
                       const sk_kube_call_opts_t *opts, char **out) {
  static const sk_kube_call_opts_t none = {0};
  *out = NULL;
  sk_buf_t b;
  sk_buf_init(&b, 64 * 1024);
  int rc = sk_buf_puts(&b, server) ? SK_ETOOBIG : build(&b, verb, ref, opts ? opts : &none);
  if (rc == 0 && !(*out = sk_buf_steal(&b)))
    rc = SK_ENOMEM;
  sk_buf_release(&b);
  return rc;
}

int sk_kube_object_key(const json_t *obj, char *out, size_t outlen) {
  json_t *meta = json_object_get(obj, "metadata");
  const char *name = json_string_value(json_object_get(meta, "name"));
  const char *ns = json_string_value(json_object_get(meta, "namespace"));
  if (!name || !*name || !out || outlen == 0)
    return SK_EINVAL;
  int n = ns && *ns ? snprintf(out, outlen, "%s/%s", ns, name) : snprintf(out, outlen, "%s", name);
  return n < 0 || (size_t)n >= outlen ? SK_ETOOBIG : 0;
}

const char *sk_kube_object_rv(const json_t *obj) {
  return json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
}
