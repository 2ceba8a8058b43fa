/*
 * The route table: exact paths, and prefix paths ending in a slash and a
 * star (which match any longer path under that slash). Lookup is
 * a linear scan: the table is small (health, metrics, a few webhooks) and
 * fixed before the server starts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server-int.h"
#include "util/error.h"

static const struct {
  unsigned bit;
  const char *name;
} g_methods[] = {
    {SK_SERVER_GET, "GET"},       {SK_SERVER_HEAD, "HEAD"},     {SK_SERVER_POST, "POST"},
    {SK_SERVER_PUT, "PUT"},       {SK_SERVER_PATCH, "PATCH"},   {SK_SERVER_DELETE, "DELETE"},
    {SK_SERVER_OPTIONS, "OPTIONS"},
};

#define ALL_METHODS                                                                        \
  (SK_SERVER_GET | SK_SERVER_HEAD | SK_SERVER_POST | SK_SERVER_PUT | SK_SERVER_PATCH |     \
   SK_SERVER_DELETE | SK_SERVER_OPTIONS)

const char *sk__method_name(unsigned method) {
  for (size_t i = 0; i < sizeof(g_methods) / sizeof(g_methods[0]); i++)
    if (g_methods[i].bit == method)
      return g_methods[i].name;
  return "OTHER";
}

void sk__methods_format(unsigned methods, char *buf, size_t size) {
  if (methods & SK_SERVER_GET)
    methods |= SK_SERVER_HEAD;
  size_t off = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < sizeof(g_methods) / sizeof(g_methods[0]); i++) {
    if (!(methods & g_methods[i].bit))
      continue;
    int n = snprintf(buf + off, size - off, "%s%s", off ? ", " : "", g_methods[i].name);
    if (n < 0 || (size_t)n >= size - off)
      return;
    off += (size_t)n;
  }
}

void sk__router_release(sk__router_t *r) {
  for (size_t i = 0; i < r->n; i++)
    free(r->routes[i].path);
  r->n = 0;
}

int sk__router_add(sk__router_t *r, const char *path, unsigned methods, size_t max_body,
                   sk_server_handler_fn fn, void *arg) {
  if (!path || path[0] != '/' || !fn || !methods || (methods & ~ALL_METHODS))
    return SK_EINVAL;
  size_t len = strlen(path);
  size_t prefix_len = 0;
  if (len >= 2 && strcmp(path + len - 2, "/*") == 0)
    prefix_len = len - 1;
  else if (strchr(path, '*') || strchr(path, '?'))
    return SK_EINVAL;
  for (size_t i = 0; i < r->n; i++)
    if (strcmp(r->routes[i].path, path) == 0)
      return SK_EEXIST;
  if (r->n >= SK_SERVER_MAX_ROUTES)
    return SK_ETOOBIG;
  sk__route_t *rt = &r->routes[r->n];
  if (!(rt->path = strdup(path)))
    return SK_ENOMEM;
  rt->prefix_len = prefix_len;
  rt->methods = methods;
  rt->max_body = max_body;
  rt->fn = fn;
  rt->arg = arg;
  r->n++;
  return 0;
}

sk__route_result_t sk__router_lookup(const sk__router_t *r, unsigned method, const char *path,
                                     const sk__route_t **out, unsigned *allow) {
  const sk__route_t *best = NULL;
  for (size_t i = 0; i < r->n; i++) {
    const sk__route_t *rt = &r->routes[i];
    if (rt->prefix_len == 0) {
      if (strcmp(rt->path, path) == 0) {
        best = rt;
        break;
      }
    } else if (strncmp(rt->path, path, rt->prefix_len) == 0 && path[rt->prefix_len] &&
               (!best || rt->prefix_len > best->prefix_len)) {
      best = rt;
    }
  }
  *out = NULL;
  *allow = 0;
  if (!best)
    return SK__ROUTE_NOT_FOUND;
  unsigned methods = best->methods;
  if (methods & SK_SERVER_GET)
    methods |= SK_SERVER_HEAD;
  if (!(methods & method)) {
    *allow = methods;
    return SK__ROUTE_BAD_METHOD;
  }
  *out = best;
  return SK__ROUTE_FOUND;
}
