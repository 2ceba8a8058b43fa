/*
 * The URL and TLS settings of a request.
 *
 * Only http and https URLs are accepted, checked with curl's own URL parser
 * so that a bad URL fails in sk_http_request rather than later.
 *
 * tls-server-name (kubeconfig) asks to verify the server's certificate for a
 * name other than the URL's host, as with an apiserver reached by IP whose
 * certificate names "kubernetes.default". curl verifies against, and sends
 * as SNI, the host of the URL, and has no option to set those apart. So the
 * URL's host is replaced by the server name and CURLOPT_CONNECT_TO sends the
 * connection to the original host and port; no name is resolved here (which
 * CURLOPT_RESOLVE would need), and the Host header keeps the original
 * authority, as client-go does, unless the caller set one.
 *
 * Trust: when a CA is given it is the only trust root (the system CA
 * directory is switched off), since a cluster CA is private and a public CA
 * has no business vouching for an apiserver.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http/http-int.h"
#include "util/error.h"

#define SET(opt, val)                                                                      \
  do {                                                                                     \
    if ((cc = curl_easy_setopt(e, opt, val)) != CURLE_OK)                                  \
      goto fail;                                                                           \
  } while (0)

static int set_blob(CURL *e, CURLoption opt, const char *pem) {
  struct curl_blob b;
  b.data = (void *)pem;
  b.len = strlen(pem);
  b.flags = CURL_BLOB_COPY;
  CURLcode cc = curl_easy_setopt(e, opt, &b);
  if (cc == CURLE_OK)
    return 0;
  return cc == CURLE_OUT_OF_MEMORY ? SK_ENOMEM : SK_EINVAL;
}

static int setup_tls(CURL *e, const sk_http_tls_t *tls) {
  CURLcode cc;
  int rc;
  bool skip = tls && tls->insecure_skip_verify;
  SET(CURLOPT_SSL_VERIFYPEER, skip ? 0L : 1L);
  SET(CURLOPT_SSL_VERIFYHOST, skip ? 0L : 2L);
  if (!tls)
    return 0;
  if (tls->ca_pem || tls->ca_file) {
    if (tls->ca_pem) {
      if ((rc = set_blob(e, CURLOPT_CAINFO_BLOB, tls->ca_pem)) < 0)
        return rc;
    } else {
      SET(CURLOPT_CAINFO, tls->ca_file);
    }
    SET(CURLOPT_CAPATH, (char *)NULL);
  }
  if (tls->cert_pem) {
    if ((rc = set_blob(e, CURLOPT_SSLCERT_BLOB, tls->cert_pem)) < 0)
      return rc;
    SET(CURLOPT_SSLCERTTYPE, "PEM");
  } else if (tls->cert_file) {
    SET(CURLOPT_SSLCERT, tls->cert_file);
    SET(CURLOPT_SSLCERTTYPE, "PEM");
  }
  if (tls->key_pem) {
    if ((rc = set_blob(e, CURLOPT_SSLKEY_BLOB, tls->key_pem)) < 0)
      return rc;
    SET(CURLOPT_SSLKEYTYPE, "PEM");
  } else if (tls->key_file) {
    SET(CURLOPT_SSLKEY, tls->key_file);
    SET(CURLOPT_SSLKEYTYPE, "PEM");
  }
  return 0;
fail:
  return cc == CURLE_OUT_OF_MEMORY ? SK_ENOMEM : SK_EINVAL;
}

/* Points the URL at server_name and the connection at the original host
 * (see the top of the file). *newurl is curl's string, for curl_free. */
static int use_server_name(sk_http_req_t *r, CURLU *u, const char *server_name,
                           bool has_host_header, char **newurl) {
  int rc = SK_EINVAL;
  char *host = NULL, *port = NULL, *given_port = NULL;
  char line[600];
  if (!sk__http_server_name_ok(server_name) ||
      curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
    goto out;
  /* No port in the URL is not an error: the Host header then has none. */
  if (curl_url_get(u, CURLUPART_PORT, &given_port, 0) != CURLUE_OK)
    given_port = NULL;
  if (curl_url_set(u, CURLUPART_HOST, server_name, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_URL, newurl, 0) != CURLUE_OK)
    goto out;
  int n = snprintf(line, sizeof(line), "%s:%s:%s:%s", server_name, port, host, port);
  if (n < 0 || (size_t)n >= sizeof(line))
    goto out;
  rc = SK_ENOMEM;
  if (!(r->connect_to = curl_slist_append(NULL, line)))
    goto out;
  if (curl_easy_setopt(r->easy, CURLOPT_CONNECT_TO, r->connect_to) != CURLE_OK) {
    rc = SK_EINVAL;
    goto out;
  }
  if (!has_host_header) {
    n = snprintf(line, sizeof(line), "Host: %s%s%s", host, given_port ? ":" : "",
                 given_port ? given_port : "");
    struct curl_slist *l;
    if (n < 0 || (size_t)n >= sizeof(line) || !(l = curl_slist_append(r->headers, line)))
      goto out;
    r->headers = l;
  }
  rc = 0;
out:
  curl_free(host);
  curl_free(port);
  curl_free(given_port);
  return rc;
}

int sk__http_setup_url_tls(sk_http_req_t *r, const char *url, const sk_http_tls_t *tls,
                           bool has_host_header) {
  int rc = SK_EINVAL;
  char *scheme = NULL, *newurl = NULL;
  CURLU *u = curl_url();
  if (!u)
    return SK_ENOMEM;
  if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
    goto out;
  bool https = strcasecmp(scheme, "https") == 0;
  if (!https && strcasecmp(scheme, "http") != 0)
    goto out;
  if (https && tls && tls->server_name && tls->server_name[0] &&
      (rc = use_server_name(r, u, tls->server_name, has_host_header, &newurl)) < 0)
    goto out;
  CURLcode cc = curl_easy_setopt(r->easy, CURLOPT_URL, newurl ? newurl : url);
  /* Over TLS the server may offer HTTP/2: then wait for the connection being
   * made rather than open more, so that requests and watches share one, as
   * client-go does with an apiserver. */
  if (cc == CURLE_OK && https)
    cc = curl_easy_setopt(r->easy, CURLOPT_PIPEWAIT, 1L);
  if (cc != CURLE_OK) {
    rc = cc == CURLE_OUT_OF_MEMORY ? SK_ENOMEM : SK_EINVAL;
    goto out;
  }
  rc = setup_tls(r->easy, tls);
out:
  curl_free(scheme);
  curl_free(newurl);
  curl_url_cleanup(u);
  return rc;
}
