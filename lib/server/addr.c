/*
 * Bind addresses in the form controller-runtime's --metrics-bind-address and
 * --health-probe-bind-address take: "HOST:PORT", "[IPV6]:PORT", ":PORT" for
 * every interface, and "0" for "do not serve". Host names other than
 * "localhost" are refused rather than resolved: resolution would block the
 * loop and may name an address that is not local.
 */
#include <arpa/inet.h>
#include <string.h>

#include "server/server-int.h"
#include "util/error.h"
#include "util/strutil.h"

static int parse_port(const char *s, int *out) {
  if (!*s || strlen(s) > 5)
    return SK_EINVAL;
  for (const char *p = s; *p; p++)
    if (*p < '0' || *p > '9')
      return SK_EINVAL;
  int64_t v;
  if (sk_parse_int64(s, &v) < 0 || v > 65535)
    return SK_EINVAL;
  *out = (int)v;
  return 0;
}

int sk__addr_parse(const char *s, sk__addr_t *out) {
  memset(out, 0, sizeof(*out));
  if (!s || !*s)
    return SK_EINVAL;
  if (strcmp(s, "0") == 0) {
    out->disabled = true;
    return 0;
  }
  const char *colon = strrchr(s, ':');
  if (!colon)
    return SK_EINVAL;
  int rc = parse_port(colon + 1, &out->port);
  if (rc < 0)
    return rc;
  size_t hlen = (size_t)(colon - s);
  char host[64];
  if (hlen >= sizeof(host))
    return SK_EINVAL;
  memcpy(host, s, hlen);
  host[hlen] = '\0';
  if (hlen == 0) {
    out->any = true;
    return 0;
  }
  if (host[0] == '[') {
    if (hlen < 3 || host[hlen - 1] != ']')
      return SK_EINVAL;
    host[hlen - 1] = '\0';
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&out->ss;
    if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
      return SK_EINVAL;
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)out->port);
    out->len = sizeof(*a6);
    return 0;
  }
  struct sockaddr_in *a4 = (struct sockaddr_in *)&out->ss;
  const char *ip = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
  if (inet_pton(AF_INET, ip, &a4->sin_addr) != 1)
    return SK_EINVAL;
  a4->sin_family = AF_INET;
  a4->sin_port = htons((uint16_t)out->port);
  out->len = sizeof(*a4);
  return 0;
}
