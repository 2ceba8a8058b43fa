/*
 * The status as JSON (DESIGN.md §3), both ways. Zero and empty fields are
 * left out so that a status with thousands of records stays small, and the
 * reader accepts exactly what the writer leaves out, so a round trip is
 * exact.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine-int.h"
#include "engine/engine.h"
#include "util/error.h"
#include "util/strutil.h"
#include "util/timeutil.h"

/* ---- writing ---- */

static int put_new(json_t *o, const char *key, json_t *v) {
  if (!v)
    return SK_ENOMEM;
  return json_object_set_new(o, key, v) < 0 ? SK_ENOMEM : 0;
}

static int put_str(json_t *o, const char *key, const char *s) {
  if (!s || !s[0])
    return 0;
  return put_new(o, key, json_string(s));
}

static int put_time(json_t *o, const char *key, int64_t ms) {
  if (ms == 0)
    return 0;
  char buf[40];
  if (sk_time_format(ms, buf, sizeof(buf)) < 0)
    return SK_EINVAL;
  return put_new(o, key, json_string(buf));
}

static int put_int(json_t *o, const char *key, json_int_t v) {
  return put_new(o, key, json_integer(v));
}

static json_t *record_to_json(const sk_step_status_t *r) {
  json_t *o = json_object();
  if (!o)
    return NULL;
  int rc = put_str(o, "name", r->name);
  if (rc == 0 && r->index >= 0)
    rc = put_str(o, "step", r->step);
  if (rc == 0 && r->index >= 0)
    rc = put_int(o, "index", r->index);
  if (rc == 0 && r->instances >= 0)
    rc = put_int(o, "instances", r->instances);
  if (rc == 0 && r->item) {
    /* The item is written as the JSON value it is, which reads better than
     * JSON text quoted inside a string. */
    json_t *v = json_loads(r->item, JSON_DECODE_ANY, NULL);
    rc = v ? put_new(o, "item", v) : put_str(o, "item", r->item);
  }
  if (rc == 0)
    rc = put_str(o, "phase", sk_phase_name(r->phase));
  if (rc == 0 && r->attempt > 0)
    rc = put_int(o, "attempt", r->attempt);
  if (rc == 0)
    rc = put_time(o, "startedAt", r->started_at_ms);
  if (rc == 0)
    rc = put_time(o, "attemptStartedAt", r->attempt_started_at_ms);
  if (rc == 0)
    rc = put_time(o, "finishedAt", r->finished_at_ms);
  if (rc == 0)
    rc = put_time(o, "retryAt", r->retry_at_ms);
  if (rc == 0)
    rc = put_time(o, "nextPollAt", r->next_poll_at_ms);
  if (rc == 0)
    rc = put_str(o, "message", r->message);
  if (rc == 0 && r->outputs)
    rc = put_new(o, "outputs", json_deep_copy(r->outputs));
  if (rc == 0 && r->ref)
    rc = put_new(o, "ref", json_deep_copy(r->ref));
  if (rc < 0) {
    json_decref(o);
    return NULL;
  }
  return o;
}

static json_t *conditions_to_json(const sk_wf_status_t *st) {
  json_t *list = json_array();
  json_t *c = json_object();
  if (!list || !c)
    goto fail;
  bool done = sk_phase_is_final(st->phase);
  int rc = put_str(c, "type", "Completed");
  if (rc == 0)
    rc = put_str(c, "status", done ? "True" : "False");
  if (rc == 0)
    rc = put_str(c, "reason", sk_phase_name(st->phase));
  if (rc == 0)
    rc = put_str(c, "message", st->message);
  if (rc == 0)
    rc = put_time(c, "lastTransitionTime", done ? st->finished_at_ms : st->started_at_ms);
  if (rc < 0 || json_array_append_new(list, c) < 0) {
    c = NULL;
    goto fail;
  }
  return list;
fail:
  json_decref(c);
  json_decref(list);
  return NULL;
}

json_t *sk_wf_status_to_json(const sk_wf_status_t *st) {
  json_t *o = json_object();
  json_t *steps = NULL;
  if (!o)
    return NULL;
  char progress[48];
  sk_wf_status_progress(st, progress, sizeof(progress));
  int rc = put_str(o, "phase", sk_phase_name(st->phase));
  if (rc == 0)
    rc = put_time(o, "startedAt", st->started_at_ms);
  if (rc == 0)
    rc = put_time(o, "finishedAt", st->finished_at_ms);
  if (rc == 0)
    rc = put_str(o, "message", st->message);
  if (rc == 0 && st->observed_generation != 0)
    rc = put_int(o, "observedGeneration", st->observed_generation);
  if (rc == 0 && st->steps_phase != SK_PHASE_PENDING)
    rc = put_str(o, "stepsPhase", sk_phase_name(st->steps_phase));
  if (rc == 0)
    rc = put_str(o, "progress", progress);
  if (rc == 0)
    rc = put_new(o, "conditions", conditions_to_json(st));
  if (rc < 0)
    goto fail;
  steps = json_array();
  if (!steps)
    goto fail;
  for (size_t i = 0; i < st->nsteps; i++) {
    json_t *r = record_to_json(&st->steps[i]);
    if (!r || json_array_append_new(steps, r) < 0)
      goto fail;
  }
  if (json_object_set_new(o, "steps", steps) < 0) {
    steps = NULL;
    goto fail;
  }
  return o;
fail:
  json_decref(steps);
  json_decref(o);
  return NULL;
}

/* ---- reading ---- */

typedef struct reader {
  char *err;
  size_t errlen;
} reader_t;

static int bad(reader_t *rd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(reader_t *rd, const char *fmt, ...) {
  if (rd->err && rd->errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rd->err, rd->errlen, fmt, ap);
    va_end(ap);
  }
  return SK_EINVAL;
}

/* Reads an optional string field into a new string (*out NULL when absent). */
static int get_str(reader_t *rd, json_t *o, const char *where, const char *key, char **out) {
  json_t *v = json_object_get(o, key);
  *out = NULL;
  if (!v)
    return 0;
  if (!json_is_string(v))
    return bad(rd, "%s%s: must be a string", where, key);
  if (json_string_length(v) == 0)
    return 0;
  *out = strdup(json_string_value(v));
  return *out ? 0 : SK_ENOMEM;
}

static int get_time(reader_t *rd, json_t *o, const char *where, const char *key, int64_t *out) {
  json_t *v = json_object_get(o, key);
  *out = 0;
  if (!v)
    return 0;
  if (!json_is_string(v) || sk_time_parse(json_string_value(v), out) < 0)
    return bad(rd, "%s%s: must be an RFC 3339 time", where, key);
  return 0;
}

static int get_int(reader_t *rd, json_t *o, const char *where, const char *key, int64_t lo,
                   int64_t hi, int64_t dflt, int64_t *out) {
  json_t *v = json_object_get(o, key);
  *out = dflt;
  if (!v)
    return 0;
  if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
    return bad(rd, "%s%s: must be an integer from %lld to %lld", where, key, (long long)lo,
               (long long)hi);
  *out = json_integer_value(v);
  return 0;
}

static int get_phase(reader_t *rd, json_t *o, const char *where, const char *key, bool required,
                     sk_phase_t *out) {
  json_t *v = json_object_get(o, key);
  *out = SK_PHASE_PENDING;
  if (!v) {
    if (required)
      return bad(rd, "%s%s: missing", where, key);
    return 0;
  }
  if (!json_is_string(v) || sk_phase_parse(json_string_value(v), out) < 0)
    return bad(rd, "%s%s: unknown phase \"%.40s\"", where, key,
               json_is_string(v) ? json_string_value(v) : "(not a string)");
  return 0;
}

static int read_record(reader_t *rd, json_t *o, size_t i, sk_step_status_t *r) {
  char where[48];
  snprintf(where, sizeof(where), "steps[%zu].", i);
  memset(r, 0, sizeof(*r));
  if (!json_is_object(o))
    return bad(rd, "steps[%zu]: must be an object", i);
  int64_t n;
  int rc = get_str(rd, o, where, "name", &r->name);
  if (rc < 0)
    return rc;
  if (!r->name)
    return bad(rd, "%sname: missing", where);
  if ((rc = get_str(rd, o, where, "step", &r->step)) < 0)
    return rc;
  if (!r->step && !(r->step = strdup(r->name)))
    return SK_ENOMEM;
  if ((rc = get_int(rd, o, where, "index", 0, INT_MAX, -1, &n)) < 0)
    return rc;
  r->index = (int)n;
  if ((rc = get_int(rd, o, where, "instances", 0, INT_MAX, -1, &n)) < 0)
    return rc;
  r->instances = (int)n;
  json_t *item = json_object_get(o, "item");
  if (item) {
    r->item = json_dumps(item, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!r->item)
      return SK_ENOMEM;
  }
  if ((rc = get_phase(rd, o, where, "phase", true, &r->phase)) < 0)
    return rc;
  if ((rc = get_int(rd, o, where, "attempt", 0, INT_MAX, 0, &n)) < 0)
    return rc;
  r->attempt = (int)n;
  if ((rc = get_time(rd, o, where, "startedAt", &r->started_at_ms)) < 0 ||
      (rc = get_time(rd, o, where, "attemptStartedAt", &r->attempt_started_at_ms)) < 0 ||
      (rc = get_time(rd, o, where, "finishedAt", &r->finished_at_ms)) < 0 ||
      (rc = get_time(rd, o, where, "retryAt", &r->retry_at_ms)) < 0 ||
      (rc = get_time(rd, o, where, "nextPollAt", &r->next_poll_at_ms)) < 0)
    return rc;
  if ((rc = get_str(rd, o, where, "message", &r->message)) < 0)
    return rc;
  json_t *outputs = json_object_get(o, "outputs");
  if (outputs) {
    if (!json_is_object(outputs))
      return bad(rd, "%soutputs: must be an object", where);
    const char *k;
    json_t *v;
    json_object_foreach(outputs, k, v) {
      if (!json_is_string(v))
        return bad(rd, "%soutputs.%.40s: must be a string", where, k);
    }
    if (!(r->outputs = json_deep_copy(outputs)))
      return SK_ENOMEM;
  }
  json_t *ref = json_object_get(o, "ref");
  if (ref && !(r->ref = json_deep_copy(ref)))
    return SK_ENOMEM;
  return 0;
}

int sk_wf_status_from_json(json_t *j, sk_wf_status_t *st, char *err, size_t errlen) {
  reader_t rd = {err, errlen};
  sk_wf_status_t t;
  sk_wf_status_init(&t);
  if (err && errlen)
    err[0] = '\0';
  int rc;
  if (!json_is_object(j)) {
    rc = bad(&rd, "status: must be an object");
    goto fail;
  }
  if ((rc = get_phase(&rd, j, "", "phase", false, &t.phase)) < 0 ||
      (rc = get_time(&rd, j, "", "startedAt", &t.started_at_ms)) < 0 ||
      (rc = get_time(&rd, j, "", "finishedAt", &t.finished_at_ms)) < 0 ||
      (rc = get_str(&rd, j, "", "message", &t.message)) < 0 ||
      (rc = get_int(&rd, j, "", "observedGeneration", INT64_MIN, INT64_MAX, 0,
                    &t.observed_generation)) < 0 ||
      (rc = get_phase(&rd, j, "", "stepsPhase", false, &t.steps_phase)) < 0)
    goto fail;
  json_t *steps = json_object_get(j, "steps");
  if (steps && !json_is_array(steps)) {
    rc = bad(&rd, "steps: must be a list");
    goto fail;
  }
  size_t n = json_array_size(steps);
  if (n) {
    t.steps = calloc(n, sizeof(*t.steps));
    if (!t.steps) {
      rc = SK_ENOMEM;
      goto fail;
    }
    t.cap = n;
  }
  for (size_t i = 0; i < n; i++) {
    rc = read_record(&rd, json_array_get(steps, i), i, &t.steps[i]);
    if (rc < 0) {
      sk__record_release(&t.steps[i]);
      goto fail;
    }
    t.nsteps++;
  }
  sk_wf_status_release(st);
  *st = t;
  return 0;
fail:
  if (rc == SK_ENOMEM && err && errlen && !err[0])
    snprintf(err, errlen, "out of memory");
  sk_wf_status_release(&t);
  return rc;
}
