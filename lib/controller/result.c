/*
 * The reconcile's output lists (ops, events, transitions) and its queue of
 * observations: growth, ownership and release.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/controller-int.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/strutil.h"

void sk_controller_out_init(sk_controller_out_t *out) {
  memset(out, 0, sizeof(*out));
  out->phase = SK_PHASE_PENDING;
}

void sk_controller_out_release(sk_controller_out_t *out) {
  if (!out)
    return;
  json_decref(out->status);
  for (size_t i = 0; i < out->nops; i++) {
    free(out->ops[i].name);
    free(out->ops[i].uid);
    free(out->ops[i].job_name);
    json_decref(out->ops[i].pod);
  }
  free(out->ops);
  for (size_t i = 0; i < out->nevents; i++)
    free(out->events[i].message);
  free(out->events);
  for (size_t i = 0; i < out->ntransitions; i++) {
    free(out->transitions[i].instance);
    free(out->transitions[i].message);
  }
  free(out->transitions);
  sk_controller_out_init(out);
}

int sk__out_op(sk_controller_out_t *out, sk_controller_op_kind_t kind, const char *name,
               const char *uid, json_t *pod) {
  if (sk_array_grow((void **)&out->ops, &out->ops_cap, out->nops, sizeof(*out->ops)) < 0) {
    json_decref(pod);
    return SK_ENOMEM;
  }
  sk_controller_op_t *op = &out->ops[out->nops];
  memset(op, 0, sizeof(*op));
  op->kind = kind;
  op->name = strdup(name);
  op->uid = sk_strdup0(uid);
  op->pod = pod;
  if (!op->name || (uid && !op->uid)) {
    free(op->name);
    free(op->uid);
    json_decref(pod);
    return SK_ENOMEM;
  }
  out->nops++;
  return 0;
}

int sk__out_event(sk_controller_out_t *out, const char *type, const char *reason,
                  const char *fmt, ...) {
  if (sk_array_grow((void **)&out->events, &out->events_cap, out->nevents,
                    sizeof(*out->events)) < 0)
    return SK_ENOMEM;
  char text[SK_STATUS_MAX_MESSAGE * 2];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof(text), fmt, ap);
  va_end(ap);
  char *msg = sk_strdup_capped(text, SK_STATUS_MAX_MESSAGE);
  if (!msg)
    return SK_ENOMEM;
  out->events[out->nevents++] = (sk_controller_event_t){type, reason, msg};
  return 0;
}

int sk__out_take_transitions(sk_controller_out_t *out, sk_engine_out_t *eng) {
  for (size_t i = 0; i < eng->ntransitions; i++) {
    if (sk_array_grow((void **)&out->transitions, &out->transitions_cap, out->ntransitions,
             sizeof(*out->transitions)) < 0)
      return SK_ENOMEM;
    out->transitions[out->ntransitions++] = eng->transitions[i];
    memset(&eng->transitions[i], 0, sizeof(eng->transitions[i]));
  }
  /* The moved entries are zeroed; the engine's release frees nothing twice. */
  eng->ntransitions = 0;
  return 0;
}

void sk__out_requeue(sk_controller_out_t *out, int64_t t) {
  if (t > 0 && (out->requeue_at_ms == 0 || t < out->requeue_at_ms))
    out->requeue_at_ms = t;
}

int sk__set_add(json_t *set, json_t *order, const char *name) {
  if (json_object_get(set, name))
    return 0;
  if (json_object_set_new(set, name, json_true()) < 0 ||
      json_array_append_new(order, json_string(name)) < 0)
    return SK_ENOMEM;
  return 0;
}

/* Drops an incomplete UTF-8 sequence that a bounded snprintf left at the
 * end of s: the status must stay valid UTF-8 for the API server. */
void sk__utf8_trim_partial(char *s) {
  size_t i = strlen(s), cont = 0;
  while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80 && cont < 3) {
    i--;
    cont++;
  }
  if (i == 0)
    return;
  unsigned char lead = (unsigned char)s[i - 1];
  size_t need = (lead & 0xE0) == 0xC0 ? 1 : (lead & 0xF0) == 0xE0 ? 2 : (lead & 0xF8) == 0xF0 ? 3 : 0;
  if (lead >= 0x80 && cont < need)
    s[i - 1] = '\0';
}

int sk__obs_push(sk__rctx_t *c, sk_obs_kind_t kind, const char *instance, int attempt,
                 int64_t at_ms, const char *message, json_t *outputs, json_t *ref) {
  if (sk_array_grow((void **)&c->obs, &c->obs_cap, c->nobs, sizeof(*c->obs)) < 0) {
    json_decref(outputs);
    json_decref(ref);
    return SK_ENOMEM;
  }
  sk__obs_t *o = &c->obs[c->nobs];
  memset(o, 0, sizeof(*o));
  o->kind = kind;
  o->attempt = attempt;
  o->at_ms = at_ms;
  o->outputs = outputs;
  o->ref = ref;
  o->instance = strdup(instance);
  o->message = sk_strdup0(message);
  if (o->message)
    sk__utf8_trim_partial(o->message);
  if (!o->instance || (message && !o->message)) {
    free(o->instance);
    free(o->message);
    json_decref(outputs);
    json_decref(ref);
    return SK_ENOMEM;
  }
  c->nobs++;
  return 0;
}

void sk__obs_clear(sk__rctx_t *c) {
  for (size_t i = 0; i < c->nobs; i++) {
    free(c->obs[i].instance);
    free(c->obs[i].message);
    json_decref(c->obs[i].outputs);
    json_decref(c->obs[i].ref);
  }
  c->nobs = 0;
}
