/*
 * Which credential a request carries: a static token, a token file
 * (re-read when it changes), or an exec plugin's credential (cached until
 * it expires, fetched again after a 401). Calls that need a plugin run wait
 * for it, parked, and one run serves them all.
 */
#include <stdlib.h>
#include <string.h>

#include "kube/kube-int.h"
#include "util/error.h"
#include "util/timeutil.h"

/* A credential is renewed this long before it expires, so a request does
 * not leave with a token that dies on the way. */
#define EXPIRY_MARGIN_MS 10000

static bool cred_fresh(const sk_kube_client_t *c) {
  return c->cred_valid &&
         (c->cred.expiry_ms == 0 || sk_time_now_ms() < c->cred.expiry_ms - EXPIRY_MARGIN_MS);
}

static void on_exec_done(int err, const char *msg, sk__kube_cred_t *cred, void *arg) {
  sk_kube_client_t *c = arg;
  c->exec_run = NULL;
  if (err == 0) {
    sk__kube_cred_release(&c->cred);
    c->cred = *cred;
    memset(cred, 0, sizeof(*cred));
    c->cred_valid = true;
    c->cred_gen++;
    sk__kube_log(c, SK_KUBE_LOG_DEBUG, 1, "exec plugin: new credential (generation %llu)",
                 (unsigned long long)c->cred_gen);
  } else if (err != SK_ECANCELED) {
    sk__kube_log(c, SK_KUBE_LOG_WARN, 0, "%s", msg ? msg : sk_strerror(err));
  }
  /* Waiting calls go back to the scheduler, which sends them (with the new
   * credential) or delivers the failure, from the loop. */
  int64_t now = sk_time_mono_ms();
  for (sk_kube_call_t *call = c->calls; call; call = call->next) {
    if (call->state != SK__CALL_WAIT_CRED)
      continue;
    if (err == 0) {
      call->state = SK__CALL_QUEUED;
      call->start_at = now;
    } else {
      call->state = SK__CALL_FINISHING;
      call->fail = err == SK_ECANCELED ? SK_ECANCELED : SK_EIO;
      free(call->fail_msg);
      call->fail_msg = msg ? strdup(msg) : NULL;
    }
  }
  if (c->destroying && !c->calls)
    sk__kube_client_maybe_free(c);
  else
    sk__kube_sched(c, 0);
}

static int exec_cred(sk_kube_call_t *call, sk_buf_t *out, sk_http_tls_t *tls, char *msg,
                     size_t msglen) {
  sk_kube_client_t *c = call->c;
  /* A call that waited for a run uses what the run produced even when it
   * is already near expiry: otherwise a plugin handing out short-lived
   * tokens would make it wait forever. */
  bool waited_new = call->parked && call->cred_gen < c->cred_gen;
  if (c->cred_valid && (cred_fresh(c) || waited_new)) {
    call->parked = false;
    call->cred_gen = c->cred_gen;
    if (c->cred.token && sk_buf_printf(out, "Authorization: Bearer %s", c->cred.token) != 0)
      return sk__kube_errf(msg, msglen, SK_ETOOBIG, "the exec plugin's token is too long");
    if (c->cred.cert_pem) {
      tls->cert_pem = c->cred.cert_pem;
      tls->key_pem = c->cred.key_pem;
      tls->cert_file = NULL;
      tls->key_file = NULL;
    }
    return 0;
  }
  call->parked = true;
  call->cred_gen = c->cred_gen;
  call->state = SK__CALL_WAIT_CRED;
  if (c->exec_run)
    return 1;
  sk__kube_log(c, SK_KUBE_LOG_DEBUG, 1, "exec plugin %s: running for a credential",
               c->cfg->exec->command);
  int rc = sk__kube_exec_start(c->loop, c->cfg, SK_KUBE_EXEC_TIMEOUT_MS, on_exec_done, c,
                               &c->exec_run);
  if (rc) {
    call->state = SK__CALL_QUEUED;
    call->parked = false;
    return sk__kube_errf(msg, msglen, rc, "exec plugin %s: cannot run: %s", c->cfg->exec->command,
                         sk_strerror(rc));
  }
  return 1;
}

int sk__kube_auth(sk_kube_call_t *call, sk_buf_t *out, sk_http_tls_t *tls, char *msg,
                  size_t msglen) {
  sk_kube_client_t *c = call->c;
  const sk_kube_config_t *cfg = c->cfg;
  if (cfg->token) {
    if (sk_buf_printf(out, "Authorization: Bearer %s", cfg->token) != 0)
      return sk__kube_errf(msg, msglen, SK_ETOOBIG, "the token is too long");
    return 0;
  }
  if (c->has_tokenfile) {
    const char *tok = NULL;
    int rc = sk__kube_tokenfile_get(&c->tokenfile, sk_time_mono_ms(), false, &tok, msg, msglen);
    if (rc)
      return rc;
    if (sk_buf_printf(out, "Authorization: Bearer %s", tok) != 0)
      return sk__kube_errf(msg, msglen, SK_ETOOBIG, "the token is too long");
    return 0;
  }
  if (cfg->exec)
    return exec_cred(call, out, tls, msg, msglen);
  return 0;
}

bool sk__kube_auth_rejected(sk_kube_call_t *call) {
  sk_kube_client_t *c = call->c;
  if (c->has_tokenfile) {
    /* The file may have rotated within the re-check interval: look again
     * at the next request. The failed one is not retried, since the same
     * token would go out again if nothing changed. */
    c->tokenfile.checked_mono = INT64_MIN;
    return false;
  }
  if (!c->cfg->exec || call->retried_auth)
    return false;
  /* Only the credential this request carried is dropped: a newer one may
   * already have replaced it. */
  if (call->cred_gen == c->cred_gen)
    c->cred_valid = false;
  return true;
}

void sk__kube_auth_shutdown(sk_kube_client_t *c) {
  if (c->exec_run)
    sk__kube_exec_cancel(c->exec_run);
}
