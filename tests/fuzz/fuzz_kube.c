/*
 * Fuzzes the kube module's parsers of outside input. The first byte picks:
 *   even: the watch-stream parser, differentially — the rest of the input
 *         fed whole and fed in chunks whose sizes come from the input must
 *         give the same events and the same result;
 *   odd:  the rest parsed as a kubeconfig (the first context, then the
 *         current one) and as an ExecCredential.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kube-int.h"
#include "util/error.h"

typedef struct {
  uint64_t events;
  uint64_t hash; /* order-sensitive digest of types and codes */
} seen_t;

static int on_event(const sk_kube_event_t *ev, void *arg) {
  seen_t *s = arg;
  s->events++;
  s->hash = s->hash * 31 + (uint64_t)ev->type * 7 + (uint64_t)ev->code;
  return 0;
}

static int run(const uint8_t *d, size_t n, const uint8_t *sizes, size_t nsizes, size_t max,
               seen_t *s) {
  sk_kube_watch_parser_t p;
  sk_kube_watch_parser_init(&p, max, on_event, s);
  int rc = 0;
  size_t off = 0, k = 0;
  while (off < n && rc == 0) {
    size_t chunk = nsizes ? (size_t)sizes[k++ % nsizes] + 1 : n;
    if (chunk > n - off)
      chunk = n - off;
    rc = sk_kube_watch_parser_feed(&p, (const char *)d + off, chunk);
    off += chunk;
  }
  if (rc == 0)
    rc = sk_kube_watch_parser_finish(&p);
  sk_kube_watch_parser_release(&p);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  uint8_t mode = data[0];
  data++;
  size--;
  if ((mode & 1) == 0) {
    /* A small line cap (from the mode byte) makes the cap paths likely. */
    size_t max = (mode & 2) ? 64 + (mode >> 2) : 0;
    size_t nsizes = size < 8 ? size : 8;
    seen_t whole = {0}, split = {0};
    int a = run(data + nsizes, size - nsizes, NULL, 0, max, &whole);
    int b = run(data + nsizes, size - nsizes, data, nsizes, max, &split);
    if (a != b || whole.events != split.events || whole.hash != split.hash)
      abort();
    return 0;
  }
  sk_kube_config_t *cfg = NULL;
  char err[512];
  const char *ctx = (mode & 2) ? "a" : NULL;
  if (sk_kube_config_from_buffer((const char *)data, size, NULL, ctx, &cfg, err, sizeof(err)) ==
      0)
    sk_kube_config_destroy(cfg);
  sk__kube_cred_t cred;
  if (sk__kube_exec_parse((const char *)data, size, "client.authentication.k8s.io/v1", &cred, err,
                          sizeof(err)) == 0)
    sk__kube_cred_release(&cred);
  return 0;
}
