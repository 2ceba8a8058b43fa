/*
 * The seam between the lease elector / event recorder and the API server.
 *
 * Both make their calls through this small table instead of calling
 * sk_kube_call directly, so their unit tests can answer from an in-memory
 * fake (scripted conflicts, errors, delays) on a real loop, while the
 * daemon passes the real client (sk_kube_caller_client). The contract is
 * sk_kube_call's: done runs exactly once, from the loop, never from inside
 * call; cancel makes done follow with SK_ECANCELED.
 */
#ifndef SK_KUBE_CALLER_H
#define SK_KUBE_CALLER_H

#include <jansson.h>
#include <uv.h>

#include "kube/kube.h"

typedef struct {
  uv_loop_t *loop;
  void *ctx;
  /* As sk_kube_call; *handle (may be NULL) receives an opaque handle valid
   * until done returns. */
  int (*call)(void *ctx, sk_kube_verb_t verb, const sk_kube_ref_t *ref, const json_t *body,
              const sk_kube_call_opts_t *opts, sk_kube_done_cb done, void *arg, void **handle);
  void (*cancel)(void *ctx, void *handle);
} sk_kube_caller_t;

/* Fills out with calls through client c (borrowed; it must outlive every
 * user of out). */
void sk_kube_caller_client(sk_kube_caller_t *out, sk_kube_client_t *c);

#endif
