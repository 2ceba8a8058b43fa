/*
 * Pure helpers of the HTTP client: header lines, input checks and the
 * mapping of curl's result codes. No sockets or loop here, so each rule is
 * unit-tested on its own.
 */
#include <string.h>
#include <strings.h>

#include "http/http-int.h"
#include "util/error.h"

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

/* RFC 9110 token characters, which are all a header name may hold. */
static bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
    return true;
  return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

bool sk__http_header_value(const char *line, size_t len, const char *name, const char **val,
                           size_t *vlen) {
  size_t nlen = strlen(name);
  if (len <= nlen || line[nlen] != ':' || strncasecmp(line, name, nlen) != 0)
    return false;
  size_t b = nlen + 1, e = len;
  while (b < e && is_blank(line[b]))
    b++;
  while (e > b && (line[e - 1] == '\r' || line[e - 1] == '\n' || is_blank(line[e - 1])))
    e--;
  *val = line + b;
  *vlen = e - b;
  return true;
}

bool sk__http_method_ok(const char *m) {
  size_t n = 0;
  for (; m[n]; n++)
    if (m[n] < 'A' || m[n] > 'Z')
      return false;
  return n >= 1 && n <= 16;
}

bool sk__http_header_ok(const char *hdr) {
  size_t n = 0;
  while (is_tchar(hdr[n]))
    n++;
  if (n == 0 || hdr[n] != ':')
    return false;
  return strpbrk(hdr + n, "\r\n") == NULL;
}

bool sk__http_has_header(const char *const *hdrs, size_t n, const char *name) {
  size_t nlen = strlen(name);
  for (size_t i = 0; i < n && hdrs[i]; i++)
    if (strncasecmp(hdrs[i], name, nlen) == 0 && hdrs[i][nlen] == ':')
      return true;
  return false;
}

bool sk__http_server_name_ok(const char *host) {
  size_t n = 0;
  for (; host[n]; n++) {
    char c = host[n];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.';
    if (!ok)
      return false;
  }
  return n >= 1 && n <= 253;
}

int sk__http_map_curl(CURLcode cc) {
  switch (cc) {
  case CURLE_OK:
    return 0;
  case CURLE_OPERATION_TIMEDOUT:
    return SK_ETIMEDOUT;
  case CURLE_OUT_OF_MEMORY:
    return SK_ENOMEM;
  case CURLE_FILESIZE_EXCEEDED:
    return SK_ETOOBIG;
  case CURLE_WRITE_ERROR:
  case CURLE_ABORTED_BY_CALLBACK:
    /* Only our callbacks stop a transfer, and they say why in abort_code;
     * this is the fallback should one not have. */
    return SK_ECANCELED;
  /* Mistakes on our side: retrying cannot help, so they are not SK_ENET. */
  case CURLE_UNSUPPORTED_PROTOCOL:
  case CURLE_URL_MALFORMAT:
  case CURLE_NOT_BUILT_IN:
  case CURLE_BAD_FUNCTION_ARGUMENT:
  case CURLE_UNKNOWN_OPTION:
  case CURLE_SSL_CERTPROBLEM:     /* the client certificate or key is unusable */
  case CURLE_SSL_CACERT_BADFILE:  /* the CA file or PEM is unreadable */
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_SSL_ENGINE_NOTFOUND:
  case CURLE_SSL_ENGINE_SETFAILED:
    return SK_EINVAL;
  default:
    /* DNS, refused or reset connections, TLS handshakes and certificate
     * checks, truncated bodies: the connection could not be made or broke. */
    return SK_ENET;
  }
}
