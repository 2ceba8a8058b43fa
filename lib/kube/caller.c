/*
 * The API-call seam (kube/caller.h) bound to the real client.
 */
#include "kube/caller.h"

static int client_call(void *ctx, sk_kube_verb_t verb, const sk_kube_ref_t *ref,
                       const json_t *body, const sk_kube_call_opts_t *opts, sk_kube_done_cb done,
                       void *arg, void **handle) {
  sk_kube_call_t *call = NULL;
  int rc = sk_kube_call(ctx, verb, ref, body, opts, done, arg, &call);
  if (handle)
    *handle = call;
  return rc;
}

static void client_cancel(void *ctx, void *handle) {
  (void)ctx;
  if (handle)
    sk_kube_call_cancel(handle);
}

void sk_kube_caller_client(sk_kube_caller_t *out, sk_kube_client_t *c) {
  out->loop = sk_kube_client_loop(c);
  out->ctx = c;
  out->call = client_call;
  out->cancel = client_cancel;
}
