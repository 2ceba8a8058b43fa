/*
 * Making calls: the verb's method, URL, body and content type, then the
 * rate limiter's slot. The convenience forms and raw watches are here too.
 */
#include <stdlib.h>
#include <string.h>

#include "kube/kube-int.h"
#include "util/error.h"
#include "util/timeutil.h"

/* The apiserver refuses request bodies over 3 MiB; refusing here gives a
 * clear error instead of a 413 after the upload. */
#define MAX_REQUEST_BODY (3u * 1024 * 1024)
#define WATCH_ERRBODY_MAX (64 * 1024)

static const char *method_for(sk_kube_verb_t verb) {
  switch (verb) {
  case SK_KUBE_CREATE:
    return "POST";
  case SK_KUBE_UPDATE:
    return "PUT";
  case SK_KUBE_PATCH:
    return "PATCH";
  case SK_KUBE_DELETE:
    return "DELETE";
  default:
    return "GET";
  }
}

static const char *patch_content_type(sk_kube_patch_type_t t) {
  switch (t) {
  case SK_KUBE_PATCH_JSON:
    return "Content-Type: application/json-patch+json";
  case SK_KUBE_PATCH_APPLY:
    return "Content-Type: application/apply-patch+yaml";
  case SK_KUBE_PATCH_STRATEGIC:
    return "Content-Type: application/strategic-merge-patch+json";
  default:
    return "Content-Type: application/merge-patch+json";
  }
}

/* DeleteOptions for the options that only travel in the body; NULL (and
 * *rc 0) when there are none. */
static json_t *delete_options(const sk_kube_call_opts_t *o, int *rc) {
  *rc = 0;
  if (!o->propagation && !o->precondition_uid && !o->precondition_rv && !o->has_grace_period)
    return NULL;
  json_t *d = json_pack("{s:s, s:s}", "apiVersion", "v1", "kind", "DeleteOptions");
  if (!d) {
    *rc = SK_ENOMEM;
    return NULL;
  }
  if (o->propagation)
    json_object_set_new(d, "propagationPolicy", json_string(o->propagation));
  if (o->has_grace_period)
    json_object_set_new(d, "gracePeriodSeconds", json_integer(o->grace_period_s));
  if (o->precondition_uid || o->precondition_rv) {
    json_t *p = json_object();
    if (o->precondition_uid)
      json_object_set_new(p, "uid", json_string(o->precondition_uid));
    if (o->precondition_rv)
      json_object_set_new(p, "resourceVersion", json_string(o->precondition_rv));
    json_object_set_new(d, "preconditions", p);
  }
  return d;
}

/* Takes the rate limiter's next slot and hands the call to the scheduler. */
static void enqueue(sk_kube_client_t *c, sk_kube_call_t *call) {
  int64_t now = sk_time_mono_ms();
  int64_t wait = sk_ratelimit_reserve(&c->rl, now);
  call->enq_mono = now;
  call->start_at = now + wait;
  call->state = SK__CALL_QUEUED;
  call->prev = c->calls_tail;
  if (c->calls_tail)
    c->calls_tail->next = call;
  else
    c->calls = call;
  c->calls_tail = call;
  if (wait > 0)
    sk__kube_log(c, SK_KUBE_LOG_DEBUG, 2, "%s %s: client-side rate limit, waiting %lld ms",
                 call->method, call->url, (long long)wait);
  sk__kube_sched(c, wait);
}

/* Builds a call (not yet queued). */
static int make_call(sk_kube_client_t *c, sk_kube_verb_t verb, const sk_kube_ref_t *ref_in,
                     const json_t *body, const sk_kube_call_opts_t *opts, sk_kube_call_t **out) {
  static const sk_kube_call_opts_t none = {0};
  *out = NULL;
  if (!c || !ref_in || (unsigned)verb >= SK_KUBE_VERB_COUNT)
    return SK_EINVAL;
  if (c->destroying)
    return SK_ESTATE;
  if (!opts)
    opts = &none;
  bool has_body = verb == SK_KUBE_CREATE || verb == SK_KUBE_UPDATE || verb == SK_KUBE_PATCH;
  if (has_body && !json_is_object(body) && !(verb == SK_KUBE_PATCH && json_is_array(body)))
    return SK_EINVAL;
  /* A write may name its target in the object itself. */
  sk_kube_ref_t ref = *ref_in;
  json_t *meta = has_body ? json_object_get(body, "metadata") : NULL;
  if (!ref.namespace && (verb == SK_KUBE_CREATE || verb == SK_KUBE_UPDATE))
    ref.namespace = json_string_value(json_object_get(meta, "namespace"));
  if (!ref.name && verb == SK_KUBE_UPDATE)
    ref.name = json_string_value(json_object_get(meta, "name"));

  sk_kube_call_t *call = calloc(1, sizeof(*call));
  if (!call)
    return SK_ENOMEM;
  call->c = c;
  call->verb = verb;
  call->method = method_for(verb);
  call->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : c->timeout_ms;
  int rc = sk__kube_build_url(c->cfg->server, verb, &ref, opts, &call->url);
  if (rc)
    goto fail;
  json_t *del = NULL;
  if (verb == SK_KUBE_DELETE && !(del = delete_options(opts, &rc)) && rc)
    goto fail;
  const json_t *send = has_body ? body : del;
  if (send) {
    call->body = json_dumps(send, JSON_COMPACT);
    json_decref(del);
    if (!call->body) {
      rc = SK_ENOMEM;
      goto fail;
    }
    call->body_len = strlen(call->body);
    if (call->body_len > MAX_REQUEST_BODY) {
      rc = SK_ETOOBIG;
      goto fail;
    }
    call->content_type = verb == SK_KUBE_PATCH ? patch_content_type(opts->patch_type)
                                               : "Content-Type: application/json";
  }
  *out = call;
  return 0;
fail:
  free(call->url);
  free(call->body);
  free(call);
  return rc;
}

int sk_kube_call(sk_kube_client_t *c, sk_kube_verb_t verb, const sk_kube_ref_t *ref,
                 const json_t *body, const sk_kube_call_opts_t *opts, sk_kube_done_cb done,
                 void *arg, sk_kube_call_t **out) {
  if (verb == SK_KUBE_WATCH)
    return SK_EINVAL; /* a watch needs an event callback: sk_kube_watch */
  sk_kube_call_t *call;
  int rc = make_call(c, verb, ref, body, opts, &call);
  if (rc)
    return rc;
  call->done = done;
  call->arg = arg;
  enqueue(c, call);
  if (out)
    *out = call;
  return 0;
}

int sk_kube_watch(sk_kube_client_t *c, const sk_kube_ref_t *ref, const sk_kube_call_opts_t *opts,
                  sk_kube_event_cb on_event, sk_kube_done_cb done, void *arg,
                  sk_kube_call_t **out) {
  sk_kube_call_opts_t o = opts ? *opts : (sk_kube_call_opts_t){0};
  /* A watch lasts as long as the server keeps it open; the local deadline
   * only catches a connection that went silent without closing. */
  if (o.timeout_ms <= 0)
    o.timeout_ms = o.watch_timeout_s > 0 ? (o.watch_timeout_s + 60) * 1000 : 0;
  sk_kube_call_t *call;
  int rc = make_call(c, SK_KUBE_WATCH, ref, NULL, &o, &call);
  if (rc)
    return rc;
  if (o.timeout_ms == 0)
    call->timeout_ms = 0;
  call->is_watch = true;
  call->on_event = on_event;
  call->done = done;
  call->arg = arg;
  sk_kube_watch_parser_init(&call->parser, 0, on_event, arg);
  sk_buf_init(&call->errbody, WATCH_ERRBODY_MAX);
  enqueue(c, call);
  if (out)
    *out = call;
  return 0;
}

int sk_kube_get(sk_kube_client_t *c, const sk_kube_ref_t *ref, sk_kube_done_cb done, void *arg,
                sk_kube_call_t **out) {
  return sk_kube_call(c, SK_KUBE_GET, ref, NULL, NULL, done, arg, out);
}

int sk_kube_list(sk_kube_client_t *c, const sk_kube_ref_t *ref, const sk_kube_call_opts_t *opts,
                 sk_kube_done_cb done, void *arg, sk_kube_call_t **out) {
  return sk_kube_call(c, SK_KUBE_LIST, ref, NULL, opts, done, arg, out);
}

int sk_kube_create(sk_kube_client_t *c, const sk_kube_ref_t *ref, const json_t *obj,
                   sk_kube_done_cb done, void *arg, sk_kube_call_t **out) {
  return sk_kube_call(c, SK_KUBE_CREATE, ref, obj, NULL, done, arg, out);
}

int sk_kube_update(sk_kube_client_t *c, const sk_kube_ref_t *ref, const json_t *obj,
                   sk_kube_done_cb done, void *arg, sk_kube_call_t **out) {
  return sk_kube_call(c, SK_KUBE_UPDATE, ref, obj, NULL, done, arg, out);
}

int sk_kube_update_status(sk_kube_client_t *c, const sk_kube_ref_t *ref, const json_t *obj,
                          sk_kube_done_cb done, void *arg, sk_kube_call_t **out) {
  if (!ref)
    return SK_EINVAL;
  sk_kube_ref_t r = *ref;
  r.subresource = "status";
  return sk_kube_call(c, SK_KUBE_UPDATE, &r, obj, NULL, done, arg, out);
}

int sk_kube_patch(sk_kube_client_t *c, const sk_kube_ref_t *ref, sk_kube_patch_type_t type,
                  const json_t *patch, sk_kube_done_cb done, void *arg, sk_kube_call_t **out) {
  sk_kube_call_opts_t o = {.patch_type = type};
  return sk_kube_call(c, SK_KUBE_PATCH, ref, patch, &o, done, arg, out);
}

int sk_kube_delete(sk_kube_client_t *c, const sk_kube_ref_t *ref,
                   const sk_kube_call_opts_t *opts, sk_kube_done_cb done, void *arg,
                   sk_kube_call_t **out) {
  return sk_kube_call(c, SK_KUBE_DELETE, ref, NULL, opts, done, arg, out);
}
