/*
 * The life of one attempt: what observations do to a Running record, how a
 * failed attempt turns into a retry or a failure, and per-attempt timeouts.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine-int.h"
#include "util/error.h"
#include "util/strutil.h"

int64_t sk__retry_delay_ms(const sk_retry_t *rt, int n) {
  double factor = rt->factor >= 1.0 ? rt->factor : 1.0;
  double base = rt->backoff_seconds > 0 ? rt->backoff_seconds : 0.0;
  double s = base * pow(factor, n > 1 ? n - 1 : 0);
  /* The spec caps every duration at SK_SPEC_MAX_SECONDS; so does this, so
   * that a large factor cannot overflow the millisecond arithmetic. */
  if (rt->max_seconds > 0 && s > rt->max_seconds)
    s = rt->max_seconds;
  if (!(s <= (double)SK_SPEC_MAX_SECONDS))
    s = (double)SK_SPEC_MAX_SECONDS;
  return llround(s * 1000.0);
}

/* "10s", "2.5s", "0.125s": seconds with the milliseconds only when needed. */
static void format_seconds(int64_t ms, char *out, size_t outlen) {
  if (ms % 1000 == 0) {
    snprintf(out, outlen, "%llds", (long long)(ms / 1000));
    return;
  }
  char frac[8];
  snprintf(frac, sizeof(frac), "%03lld", (long long)(ms % 1000));
  size_t n = strlen(frac);
  while (n > 0 && frac[n - 1] == '0')
    frac[--n] = '\0';
  snprintf(out, outlen, "%lld.%ss", (long long)(ms / 1000), frac);
}

int sk__attempt_fail(sk__plan_t *p, sk_step_status_t *r, const char *why) {
  const sk_step_t *step = sk__plan_record_step(p, r);
  int limit = step ? step->retry.limit : 0;
  int n = r->attempt;
  char msg[SK__MSG_MAX];
  r->next_poll_at_ms = 0;
  if (n <= limit) {
    int64_t delay = sk__retry_delay_ms(&step->retry, n);
    char d[32];
    format_seconds(delay, d, sizeof(d));
    snprintf(msg, sizeof(msg), "attempt %d failed: %s; retrying in %s", n, why, d);
    r->retry_at_ms = p->now + delay;
    return sk__plan_set_phase(p, r, SK_PHASE_PENDING, msg);
  }
  if (limit > 0)
    snprintf(msg, sizeof(msg), "failed after %d attempts: %s", n, why);
  else
    snprintf(msg, sizeof(msg), "%s", why);
  return sk__plan_set_phase(p, r, SK_PHASE_FAILED, msg);
}

/* Text for an output value that is a number: integers exactly, reals in
 * the shortest of 15 or 17 significant digits that reads back the same,
 * so 0.93 stays "0.93". */
static void real_text(double d, char *out, size_t outlen) {
  double back;
  snprintf(out, outlen, "%.15g", d);
  if (sk_parse_double(out, &back) == 0 && back == d)
    return;
  snprintf(out, outlen, "%.17g", d);
}

/* Turns SUCCEEDED outputs into the stored form: an object of strings, NULL
 * when empty. On a rule violation returns SK_EINVAL with why set. */
static int normalize_outputs(json_t *in, json_t **out, char *why, size_t whylen) {
  *out = NULL;
  if (!in || json_is_null(in))
    return 0;
  if (!json_is_object(in)) {
    snprintf(why, whylen, "outputs must be an object of strings");
    return SK_EINVAL;
  }
  json_t *o = json_object();
  if (!o)
    return SK_ENOMEM;
  size_t total = 0;
  const char *k;
  json_t *v;
  json_object_foreach(in, k, v) {
    char num[40];
    const char *text;
    if (json_is_string(v))
      text = json_string_value(v);
    else if (json_is_integer(v))
      text = (snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v)), num);
    else if (json_is_real(v))
      text = (real_text(json_real_value(v), num, sizeof(num)), num);
    else if (json_is_boolean(v))
      text = json_is_true(v) ? "true" : "false";
    else {
      snprintf(why, whylen, "output \"%.80s\" must be a string, number or boolean", k);
      json_decref(o);
      return SK_EINVAL;
    }
    total += strlen(k) + strlen(text);
    if (json_object_set_new(o, k, json_string(text)) < 0) {
      json_decref(o);
      return SK_ENOMEM;
    }
  }
  if (total > SK_STATUS_MAX_OUTPUTS) {
    snprintf(why, whylen, "outputs are %zu bytes, over the %d-byte limit", total,
             SK_STATUS_MAX_OUTPUTS);
    json_decref(o);
    return SK_EINVAL;
  }
  if (json_object_size(o) == 0) {
    json_decref(o);
    return 0;
  }
  *out = o;
  return 0;
}

static int set_ref(sk_step_status_t *r, json_t *ref) {
  if (!ref)
    return 0;
  json_t *c = json_deep_copy(ref);
  if (!c)
    return SK_ENOMEM;
  json_decref(r->ref);
  r->ref = c;
  return 0;
}

static int observe_one(sk__plan_t *p, const sk_engine_obs_t *o) {
  sk_step_status_t *r = sk_wf_status_find(p->st, o->instance);
  /* Only the current attempt of a running leaf is listening: anything else
   * is a late report about an attempt that was killed or already ended. */
  if (!r || !sk__record_is_leaf(r) || r->phase != SK_PHASE_RUNNING || o->attempt != r->attempt)
    return 0;
  int64_t at = o->at_ms > 0 ? o->at_ms : p->now;
  int rc = set_ref(r, o->ref);
  if (rc < 0)
    return rc;
  switch (o->kind) {
  case SK_OBS_STARTED:
    return 0;
  case SK_OBS_POLL_AT:
    r->next_poll_at_ms = o->at_ms;
    return 0;
  case SK_OBS_SUCCEEDED: {
    char why[SK__MSG_MAX];
    json_t *outputs = NULL;
    rc = normalize_outputs(o->outputs, &outputs, why, sizeof(why));
    if (rc == SK_EINVAL)
      return sk__attempt_fail(p, r, why);
    if (rc < 0)
      return rc;
    json_decref(r->outputs);
    r->outputs = outputs;
    r->finished_at_ms = at;
    return sk__plan_set_phase(p, r, SK_PHASE_SUCCEEDED, o->message);
  }
  case SK_OBS_FAILED: {
    const char *why = o->message && o->message[0] ? o->message : "the attempt failed";
    /* A final failure is dated by when it happened; a retry keeps no
     * finishedAt. */
    r->finished_at_ms = at;
    rc = sk__attempt_fail(p, r, why);
    if (r->phase == SK_PHASE_PENDING)
      r->finished_at_ms = 0;
    return rc;
  }
  }
  return 0;
}

int sk__attempt_observe(sk__plan_t *p, const sk_engine_obs_t *obs, size_t nobs) {
  for (size_t i = 0; i < nobs; i++) {
    if (!obs[i].instance)
      continue;
    int rc = observe_one(p, &obs[i]);
    if (rc < 0)
      return rc;
  }
  return 0;
}

int sk__attempt_timeouts(sk__plan_t *p) {
  for (size_t i = 0; i < p->st->nsteps; i++) {
    sk_step_status_t *r = &p->st->steps[i];
    if (r->phase != SK_PHASE_RUNNING || !sk__record_is_leaf(r))
      continue;
    const sk_step_t *step = sk__plan_record_step(p, r);
    if (!step || step->timeout_seconds <= 0)
      continue;
    if (p->now < r->attempt_started_at_ms + step->timeout_seconds * 1000)
      continue;
    char why[64];
    snprintf(why, sizeof(why), "timed out after %llds", (long long)step->timeout_seconds);
    int rc = sk__plan_kill(p, r, why);
    if (rc == 0)
      rc = sk__attempt_fail(p, r, why);
    if (rc < 0)
      return rc;
  }
  return 0;
}
