/*
 * The REST client's engine: a call goes QUEUED (rate limit) → RUNNING (HTTP
 * request with the current credential) → its callback, or ends early as
 * FINISHING (cancelled or failed before sending), delivered by the
 * scheduler timer so that no callback ever runs inside sk_kube_call.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kube-int.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strutil.h"
#include "util/timeutil.h"

#define DEFAULT_QPS 20.0
#define DEFAULT_BURST 30
#define DEFAULT_TIMEOUT_MS 30000

void sk__kube_log(const sk_kube_client_t *c, sk_kube_log_level_t level, int v, const char *fmt,
                  ...) {
  char msg[1024];
  if (!c->log && level == SK_KUBE_LOG_DEBUG && !sk_log_enabled(v))
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (c->log) {
    c->log(level, msg, c->log_arg);
    return;
  }
  switch (level) {
  case SK_KUBE_LOG_ERROR:
    sk_log_error("kube", "%s", msg);
    break;
  case SK_KUBE_LOG_WARN:
    sk_log_warn("kube", "%s", msg);
    break;
  case SK_KUBE_LOG_INFO:
    sk_log_info("kube", "%s", msg);
    break;
  default:
    sk_log_v(v, "kube", "%s", msg);
    break;
  }
}

static void unlink_call(sk_kube_client_t *c, sk_kube_call_t *call) {
  if (call->prev)
    call->prev->next = call->next;
  else
    c->calls = call->next;
  if (call->next)
    call->next->prev = call->prev;
  else
    c->calls_tail = call->prev;
}


static void free_call(sk_kube_call_t *call) {
  sk_kube_client_t *c = call->c;
  unlink_call(c, call);
  free(call->url);
  free(call->body);
  free(call->fail_msg);
  if (call->is_watch)
    sk_kube_watch_parser_release(&call->parser);
  sk_buf_release(&call->errbody);
  free(call);
  if (c->destroying)
    sk__kube_client_maybe_free(c);
}

/* Hands the outcome to the caller, counts it, and frees the call. */
static void deliver(sk_kube_call_t *call, const sk_kube_result_t *res) {
  sk_kube_client_t *c = call->c;
  double secs = (double)(sk_time_mono_ms() - call->enq_mono) / 1000.0;
  if (c->metric)
    c->metric(call->verb, res->code, secs, c->metric_arg);
  if (res->err && res->err != SK_ECANCELED)
    sk__kube_log(c, SK_KUBE_LOG_DEBUG, 2, "%s %s: %ld %s (%s)", call->method, call->url,
                 res->code, sk_strerror(res->err), res->message ? res->message : "");
  else
    sk__kube_log(c, SK_KUBE_LOG_DEBUG, 2, "%s %s: %ld in %.3fs", call->method, call->url,
                 res->code, secs);
  if (call->done)
    call->done(res, call->arg);
  free_call(call);
}

void sk__kube_fail_now(sk_kube_call_t *call, int err, const char *msg) {
  sk_kube_result_t res = {.err = err, .message = msg ? msg : sk_strerror(err),
                          .retry_after_s = -1};
  deliver(call, &res);
}

static void on_sched(uv_timer_t *t) {
  sk_kube_client_t *c = t->data;
  c->sched_due = INT64_MAX;
  int64_t now = sk_time_mono_ms();
  int64_t next = INT64_MAX;
  /* Callbacks may add calls (appended, seen in this pass when due) or
   * cancel others (which only changes their state); only the call at hand
   * is freed here, so the saved next pointer stays valid. */
  sk_kube_call_t *call = c->calls;
  while (call) {
    sk_kube_call_t *nx = call->next;
    if (call->state == SK__CALL_FINISHING) {
      sk__kube_fail_now(call, call->fail, call->fail_msg);
    } else if (call->state == SK__CALL_QUEUED) {
      if (call->start_at <= now)
        sk__kube_begin(call);
      else if (call->start_at < next)
        next = call->start_at;
    }
    call = nx;
  }
  if (next != INT64_MAX && !c->closing)
    sk__kube_sched(c, next - now);
}

void sk__kube_sched(sk_kube_client_t *c, int64_t delay_ms) {
  if (c->closing)
    return;
  if (delay_ms < 0)
    delay_ms = 0;
  int64_t due = sk_time_mono_ms() + delay_ms;
  if (due >= c->sched_due)
    return;
  c->sched_due = due;
  uv_timer_start(&c->sched, on_sched, (uint64_t)delay_ms, 0);
}

static int on_data(sk_http_req_t *req, long status, const char *data, size_t len, void *arg) {
  sk_kube_call_t *call = arg;
  if (call->cancel_requested)
    return SK_ECANCELED;
  if (status != 200) {
    /* An error answer is kept for its Status message; past the cap the
     * rest is dropped, which only shortens that message. */
    sk_buf_append(&call->errbody, data, len);
    return 0;
  }
  return sk_kube_watch_parser_feed(&call->parser, data, len);
}

static void on_done(sk_http_req_t *req, const sk_http_resp_t *resp, void *arg) {
  sk_kube_call_t *call = arg;
  sk_kube_client_t *c = call->c;
  call->req = NULL;
  if (resp->status == 401 && !resp->error && !call->cancel_requested && !c->destroying &&
      sk__kube_auth_rejected(call)) {
    call->retried_auth = true;
    sk_buf_reset(&call->errbody);
    call->state = SK__CALL_QUEUED;
    call->start_at = sk_time_mono_ms();
    sk__kube_log(c, SK_KUBE_LOG_INFO, 0, "%s %s: 401, retrying with a fresh credential",
                 call->method, call->url);
    sk__kube_sched(c, 0);
    return;
  }
  sk__kube_outcome_t o;
  if (call->is_watch && resp->status == 200) {
    int err = resp->error;
    if (err == 0)
      err = sk_kube_watch_parser_finish(&call->parser);
    /* An ERROR event with code 410 ends the stream as the HTTP 410 does. */
    sk__kube_outcome_set(&o, err, err == SK_EGONE ? "the resourceVersion is too old" :
                                  resp->error_text, err == SK_EGONE ? 410 : 200, NULL, 0, NULL);
    if (err == SK_EPARSE || err == SK_ETOOBIG)
      o.pub.message = err == SK_EPARSE ? "a watch event is not valid JSON"
                                       : "a watch event is longer than the line cap";
  } else if (call->is_watch && resp->status != 0) {
    sk__kube_outcome_set(&o, resp->error == SK_ECANCELED ? SK_ECANCELED : 0, resp->error_text,
                         resp->status, call->errbody.data, call->errbody.len, resp->retry_after);
  } else {
    sk__kube_outcome_set(&o, resp->error, resp->error_text, resp->status, resp->body,
                         resp->body_len, resp->retry_after);
  }
  deliver(call, &o.pub);
  sk__kube_outcome_release(&o);
}

void sk__kube_begin(sk_kube_call_t *call) {
  sk_kube_client_t *c = call->c;
  sk_buf_t auth;
  sk_buf_init(&auth, 70 * 1024);
  char msg[512] = "";
  sk_http_tls_t tls = {
      .ca_file = c->cfg->ca_file,
      .ca_pem = c->cfg->ca_pem,
      .cert_file = c->cfg->cert_file,
      .cert_pem = c->cfg->cert_pem,
      .key_file = c->cfg->key_file,
      .key_pem = c->cfg->key_pem,
      .server_name = c->cfg->tls_server_name,
      .insecure_skip_verify = c->cfg->insecure_skip_tls_verify,
  };
  int rc = sk__kube_auth(call, &auth, &tls, msg, sizeof(msg));
  if (rc == 1) {
    sk__kube_wipe_free(sk_buf_steal(&auth));
    return; /* parked until the exec plugin answers */
  }
  if (rc < 0) {
    sk__kube_wipe_free(sk_buf_steal(&auth));
    sk__kube_fail_now(call, rc, msg);
    return;
  }
  sk_http_opts_t o = {
      .method = call->method,
      .url = call->url,
      .body = call->body,
      .body_len = call->body_len,
      .timeout_ms = call->timeout_ms,
      .tls = &tls,
      .on_data = call->is_watch ? on_data : NULL,
      .on_done = on_done,
      .arg = call,
  };
  size_t h = 0;
  o.headers[h++] = c->ua_header;
  o.headers[h++] = "Accept: application/json";
  if (call->content_type)
    o.headers[h++] = call->content_type;
  if (auth.len > 0)
    o.headers[h++] = auth.data;
  o.headers[h] = NULL;
  call->state = SK__CALL_RUNNING;
  rc = sk_http_request(c->http, &o, &call->req);
  /* The header was copied by the HTTP layer; the token does not linger. */
  sk__kube_wipe_free(sk_buf_steal(&auth));
  if (rc != 0) {
    call->req = NULL;
    sk__kube_fail_now(call, rc, "the HTTP request could not be started");
  }
}

sk_kube_client_t *sk_kube_client_create(uv_loop_t *loop, sk_http_t *http,
                                        const sk_kube_config_t *cfg,
                                        const sk_kube_client_opts_t *opts) {
  static const sk_kube_client_opts_t none = {0};
  if (!loop || !cfg || !cfg->server)
    return NULL;
  if (!opts)
    opts = &none;
  sk_kube_client_t *c = calloc(1, sizeof(*c));
  if (!c)
    return NULL;
  c->loop = loop;
  c->sched_due = INT64_MAX;
  c->log = opts->log;
  c->log_arg = opts->log_arg;
  c->metric = opts->metric;
  c->metric_arg = opts->metric_arg;
  c->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
  double qps = opts->qps > 0 ? opts->qps : DEFAULT_QPS;
  int burst = opts->burst > 0 ? opts->burst : DEFAULT_BURST;
  if (sk_ratelimit_init(&c->rl, qps, burst, sk_time_mono_ms()) != 0)
    goto fail_early;
  if (!(c->cfg = sk__kube_config_dup(cfg)))
    goto fail_early;
  sk_buf_t ua;
  sk_buf_init(&ua, 1024);
  if (sk_buf_printf(&ua, "User-Agent: %s", opts->user_agent ? opts->user_agent
                                                             : SK_KUBE_USER_AGENT) != 0 ||
      !(c->ua_header = sk_buf_steal(&ua))) {
    sk_buf_release(&ua);
    goto fail_early;
  }
  if (cfg->token_file && !cfg->token) {
    if (sk__kube_tokenfile_init(&c->tokenfile, cfg->token_file) != 0)
      goto fail_early;
    c->has_tokenfile = true;
  }
  if (http) {
    c->http = http;
  } else {
    if (!(c->http = sk_http_create(loop)))
      goto fail_early;
    c->own_http = true;
  }
  uv_timer_init(loop, &c->sched);
  c->sched.data = c;
  return c;
fail_early:
  if (c->has_tokenfile)
    sk__kube_tokenfile_release(&c->tokenfile);
  free(c->ua_header);
  sk_kube_config_destroy(c->cfg);
  free(c);
  return NULL;
}

static void on_client_closed(uv_handle_t *h) {
  sk_kube_client_t *c = h->data;
  if (c->own_http)
    sk_http_destroy(c->http);
  if (c->has_tokenfile)
    sk__kube_tokenfile_release(&c->tokenfile);
  sk__kube_cred_release(&c->cred);
  free(c->ua_header);
  sk_kube_config_destroy(c->cfg);
  free(c);
}

void sk__kube_client_maybe_free(sk_kube_client_t *c) {
  if (c->closing || c->calls || c->exec_run)
    return;
  c->closing = true;
  uv_close((uv_handle_t *)&c->sched, on_client_closed);
}

void sk_kube_call_cancel(sk_kube_call_t *call) {
  if (!call || call->cancel_requested)
    return;
  call->cancel_requested = true;
  if (call->state == SK__CALL_RUNNING) {
    if (call->req)
      sk_http_cancel(call->req);
    return;
  }
  if (call->state != SK__CALL_FINISHING) {
    call->state = SK__CALL_FINISHING;
    call->fail = SK_ECANCELED;
  }
  sk__kube_sched(call->c, 0);
}

void sk_kube_client_destroy(sk_kube_client_t *c) {
  if (!c || c->destroying)
    return;
  c->destroying = true;
  for (sk_kube_call_t *call = c->calls; call; call = call->next)
    sk_kube_call_cancel(call);
  sk__kube_auth_shutdown(c);
  sk__kube_client_maybe_free(c);
}

uv_loop_t *sk_kube_client_loop(const sk_kube_client_t *c) { return c->loop; }

const char *sk_kube_client_namespace(const sk_kube_client_t *c) {
  return c->cfg->namespace ? c->cfg->namespace : "default";
}
