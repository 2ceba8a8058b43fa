/*
 * An in-memory API server behind the sk_kube_caller_t seam, for unit tests
 * of code that talks to Kubernetes (lease election, events).
 *
 * It keeps objects by resource, namespace and name with a global
 * resourceVersion counter, and answers GET, CREATE (409 AlreadyExists),
 * UPDATE (404, 409 on a stale resourceVersion), merge PATCH and DELETE the
 * way the API server does. Answers arrive from the loop after delay_ms,
 * never from inside the call, so the async contract is the real one.
 * Faults: fail the next N calls (or every call) with a status, or hold
 * calls unanswered until they are cancelled. Every call is logged with a
 * copy of its body.
 *
 * Header-only (static functions): include it in one test file.
 */
#ifndef FAKE_KUBE_H
#define FAKE_KUBE_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "kube/caller.h"
#include "util/error.h"

/* Each test uses a part of this file; the rest must not warn. */
#define FAKE_FN static __attribute__((unused))

#define FAKE_MAX_OBJS 256
#define FAKE_MAX_LOG 4096

typedef struct {
  char *key; /* "resource/namespace/name" */
  json_t *obj;
} fake_obj_t;

typedef struct {
  sk_kube_verb_t verb;
  char *name;
  json_t *body; /* copy, or NULL */
  long code;    /* the answer's HTTP status (0 until answered or transport error) */
} fake_log_t;

typedef struct fake_kube {
  uv_loop_t *loop;
  fake_obj_t objs[FAKE_MAX_OBJS];
  size_t nobjs;
  long rv;
  int delay_ms;
  int fail_next;     /* this many calls fail with fail_code */
  int fail_all;      /* every call fails with fail_code */
  long fail_code;    /* 500, 409, 404, 429 or 0 for a transport error */
  int fail_verb;     /* -1: any verb; else only this verb fails */
  int hold;          /* calls are not answered until cancelled */
  fake_log_t log[FAKE_MAX_LOG];
  size_t nlog;
  int pending;
  int max_pending;   /* the most calls unanswered at once */
} fake_kube_t;

typedef struct {
  fake_kube_t *fk;
  uv_timer_t timer;
  sk_kube_verb_t verb;
  char *key;
  char *name;
  json_t *body;
  sk_kube_call_opts_t opts;
  sk_kube_done_cb done;
  void *arg;
  int cancelled;
  int fail;
  long fail_code;
  size_t log_idx;
} fake_op_t;

FAKE_FN void fake_init(fake_kube_t *fk, uv_loop_t *loop) {
  memset(fk, 0, sizeof(*fk));
  fk->loop = loop;
  fk->fail_verb = -1;
}

FAKE_FN void fake_release(fake_kube_t *fk) {
  for (size_t i = 0; i < fk->nobjs; i++) {
    free(fk->objs[i].key);
    json_decref(fk->objs[i].obj);
  }
  for (size_t i = 0; i < fk->nlog; i++) {
    free(fk->log[i].name);
    json_decref(fk->log[i].body);
  }
  fk->nobjs = fk->nlog = 0;
}

FAKE_FN fake_obj_t *fake_find(fake_kube_t *fk, const char *key) {
  for (size_t i = 0; i < fk->nobjs; i++) {
    if (strcmp(fk->objs[i].key, key) == 0)
      return &fk->objs[i];
  }
  return NULL;
}

FAKE_FN void fake_key(char *out, size_t n, const char *resource, const char *ns, const char *name) {
  snprintf(out, n, "%s/%s/%s", resource, ns ? ns : "", name ? name : "");
}

/* The stored object (borrowed) or NULL. */
FAKE_FN json_t *fake_get(fake_kube_t *fk, const char *resource, const char *ns, const char *name) {
  char key[512];
  fake_key(key, sizeof(key), resource, ns, name);
  fake_obj_t *o = fake_find(fk, key);
  return o ? o->obj : NULL;
}

FAKE_FN void fake_set_rv(fake_kube_t *fk, json_t *obj) {
  char rv[32];
  snprintf(rv, sizeof(rv), "%ld", ++fk->rv);
  json_t *meta = json_object_get(obj, "metadata");
  if (!meta) {
    meta = json_object();
    json_object_set_new(obj, "metadata", meta);
  }
  json_object_set_new(meta, "resourceVersion", json_string(rv));
}

/* Stores a copy of obj under key with a new resourceVersion; returns the
 * stored object (borrowed). */
FAKE_FN json_t *fake_store(fake_kube_t *fk, const char *key, const json_t *obj) {
  fake_obj_t *o = fake_find(fk, key);
  if (!o) {
    if (fk->nobjs == FAKE_MAX_OBJS)
      return NULL;
    o = &fk->objs[fk->nobjs++];
    o->key = strdup(key);
    o->obj = NULL;
  }
  json_decref(o->obj);
  o->obj = json_deep_copy(obj);
  fake_set_rv(fk, o->obj);
  return o->obj;
}

/* Stores obj as if another client wrote it. */
FAKE_FN json_t *fake_put(fake_kube_t *fk, const char *resource, const char *ns, const char *name,
                        const json_t *obj) {
  char key[512];
  fake_key(key, sizeof(key), resource, ns, name);
  return fake_store(fk, key, obj);
}

FAKE_FN void fake_delete(fake_kube_t *fk, const char *key) {
  for (size_t i = 0; i < fk->nobjs; i++) {
    if (strcmp(fk->objs[i].key, key) == 0) {
      free(fk->objs[i].key);
      json_decref(fk->objs[i].obj);
      fk->objs[i] = fk->objs[--fk->nobjs];
      return;
    }
  }
}

/* RFC 7386 merge patch; returns a new value. */
FAKE_FN json_t *fake_merge(const json_t *target, const json_t *patch) {
  if (!json_is_object(patch))
    return json_deep_copy(patch);
  json_t *out = json_is_object(target) ? json_deep_copy(target) : json_object();
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)patch, k, v) {
    if (json_is_null(v)) {
      json_object_del(out, k);
    } else {
      json_t *m = fake_merge(json_object_get(out, k), v);
      json_object_set_new(out, k, m);
    }
  }
  return out;
}

FAKE_FN void fake_op_closed(uv_handle_t *h) {
  fake_op_t *op = h->data;
  free(op->key);
  free(op->name);
  json_decref(op->body);
  free(op);
}

FAKE_FN long fake_answer(fake_op_t *op, json_t **body) {
  fake_kube_t *fk = op->fk;
  fake_obj_t *o = fake_find(fk, op->key);
  *body = NULL;
  switch (op->verb) {
  case SK_KUBE_GET:
    if (!o)
      return 404;
    *body = json_deep_copy(o->obj);
    return 200;
  case SK_KUBE_CREATE:
    if (o)
      return 409;
    *body = json_deep_copy(fake_store(fk, op->key, op->body));
    return 201;
  case SK_KUBE_UPDATE: {
    if (!o)
      return 404;
    const char *want = json_string_value(
        json_object_get(json_object_get(op->body, "metadata"), "resourceVersion"));
    const char *have = json_string_value(
        json_object_get(json_object_get(o->obj, "metadata"), "resourceVersion"));
    if (want && have && strcmp(want, have) != 0)
      return 409;
    json_decref(o->obj);
    o->obj = json_deep_copy(op->body);
    fake_set_rv(fk, o->obj);
    *body = json_deep_copy(o->obj);
    return 200;
  }
  case SK_KUBE_PATCH: {
    if (!o)
      return 404;
    json_t *m = fake_merge(o->obj, op->body);
    json_decref(o->obj);
    o->obj = m;
    fake_set_rv(fk, o->obj);
    *body = json_deep_copy(o->obj);
    return 200;
  }
  case SK_KUBE_DELETE:
    if (!o)
      return 404;
    *body = json_deep_copy(o->obj);
    fake_delete(fk, op->key);
    return 200;
  default:
    return 405;
  }
}

FAKE_FN int fake_err_of(long code) {
  switch (code) {
  case 0:
    return SK_ENET;
  case 404:
    return SK_ENOENT;
  case 409:
    return SK_ECONFLICT;
  case 410:
    return SK_EGONE;
  default:
    return code >= 200 && code < 300 ? 0 : SK_EHTTP;
  }
}

FAKE_FN void fake_op_fire(uv_timer_t *t) {
  fake_op_t *op = t->data;
  fake_kube_t *fk = op->fk;
  sk_kube_result_t res = {.retry_after_s = -1};
  json_t *body = NULL;
  if (op->cancelled) {
    res.err = SK_ECANCELED;
    res.message = "cancelled";
  } else {
    long code = op->fail ? op->fail_code : fake_answer(op, &body);
    res.code = code;
    res.err = fake_err_of(code);
    res.body = body;
    if (res.err == SK_ECONFLICT)
      res.reason = op->verb == SK_KUBE_CREATE ? "AlreadyExists" : "Conflict";
    else if (res.err == SK_ENOENT)
      res.reason = "NotFound";
    if (res.err)
      res.message = "fake failure";
    fk->log[op->log_idx].code = code;
  }
  fk->pending--;
  op->done(&res, op->arg);
  json_decref(body);
  uv_close((uv_handle_t *)&op->timer, fake_op_closed);
}

FAKE_FN int fake_call(void *ctx, sk_kube_verb_t verb, const sk_kube_ref_t *ref, const json_t *body,
                     const sk_kube_call_opts_t *opts, sk_kube_done_cb done, void *arg,
                     void **handle) {
  fake_kube_t *fk = ctx;
  if (!ref || !ref->gvr.resource || !done)
    return SK_EINVAL;
  const char *name = ref->name;
  if (!name && body)
    name = json_string_value(json_object_get(json_object_get(body, "metadata"), "name"));
  if (!name || fk->nlog == FAKE_MAX_LOG)
    return SK_EINVAL;
  fake_op_t *op = calloc(1, sizeof(*op));
  char key[512];
  fake_key(key, sizeof(key), ref->gvr.resource, ref->namespace, name);
  op->fk = fk;
  op->verb = verb;
  op->key = strdup(key);
  op->name = strdup(name);
  op->body = body ? json_deep_copy(body) : NULL;
  if (opts)
    op->opts = *opts;
  op->done = done;
  op->arg = arg;
  if ((fk->fail_next > 0 || fk->fail_all) && (fk->fail_verb < 0 || fk->fail_verb == (int)verb)) {
    op->fail = 1;
    op->fail_code = fk->fail_code;
    if (fk->fail_next > 0)
      fk->fail_next--;
  }
  op->log_idx = fk->nlog;
  fake_log_t *l = &fk->log[fk->nlog++];
  l->verb = verb;
  l->name = strdup(name);
  l->body = body ? json_deep_copy(body) : NULL;
  l->code = 0;
  uv_timer_init(fk->loop, &op->timer);
  op->timer.data = op;
  if (++fk->pending > fk->max_pending)
    fk->max_pending = fk->pending;
  if (!fk->hold)
    uv_timer_start(&op->timer, fake_op_fire, (uint64_t)fk->delay_ms, 0);
  if (handle)
    *handle = op;
  return 0;
}

FAKE_FN void fake_cancel(void *ctx, void *handle) {
  (void)ctx;
  fake_op_t *op = handle;
  if (!op || op->cancelled)
    return;
  op->cancelled = 1;
  uv_timer_start(&op->timer, fake_op_fire, 0, 0);
}

FAKE_FN void fake_caller(fake_kube_t *fk, sk_kube_caller_t *out) {
  out->loop = fk->loop;
  out->ctx = fk;
  out->call = fake_call;
  out->cancel = fake_cancel;
}

/* Calls logged for verb (any verb when verb < 0). */
FAKE_FN int fake_count(const fake_kube_t *fk, int verb) {
  int n = 0;
  for (size_t i = 0; i < fk->nlog; i++)
    n += verb < 0 || (int)fk->log[i].verb == verb;
  return n;
}

#endif
