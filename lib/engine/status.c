/*
 * Workflow status records: phases, the record list and progress. The JSON
 * form lives in status_json.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine-int.h"
#include "engine/engine.h"
#include "util/error.h"
#include "util/strutil.h"

static const char *const phase_names[] = {
    [SK_PHASE_PENDING] = "Pending",     [SK_PHASE_RUNNING] = "Running",
    [SK_PHASE_SUCCEEDED] = "Succeeded", [SK_PHASE_FAILED] = "Failed",
    [SK_PHASE_SKIPPED] = "Skipped",     [SK_PHASE_CANCELLED] = "Cancelled",
};

#define NPHASES (sizeof(phase_names) / sizeof(phase_names[0]))

const char *sk_phase_name(sk_phase_t p) {
  if ((size_t)p >= NPHASES)
    return "Unknown";
  return phase_names[p];
}

int sk_phase_parse(const char *s, sk_phase_t *out) {
  if (!s || !out)
    return SK_EINVAL;
  for (size_t i = 0; i < NPHASES; i++) {
    if (strcmp(s, phase_names[i]) == 0) {
      *out = (sk_phase_t)i;
      return 0;
    }
  }
  return SK_EINVAL;
}

bool sk_phase_is_final(sk_phase_t p) {
  return p == SK_PHASE_SUCCEEDED || p == SK_PHASE_FAILED || p == SK_PHASE_SKIPPED ||
         p == SK_PHASE_CANCELLED;
}

void sk_wf_status_init(sk_wf_status_t *st) {
  memset(st, 0, sizeof(*st));
  st->phase = SK_PHASE_PENDING;
  st->steps_phase = SK_PHASE_PENDING;
}

void sk__record_release(sk_step_status_t *r) {
  free(r->name);
  free(r->step);
  free(r->item);
  free(r->message);
  json_decref(r->outputs);
  json_decref(r->ref);
  memset(r, 0, sizeof(*r));
}

void sk_wf_status_release(sk_wf_status_t *st) {
  if (!st)
    return;
  for (size_t i = 0; i < st->nsteps; i++)
    sk__record_release(&st->steps[i]);
  free(st->steps);
  free(st->message);
  sk_wf_status_init(st);
}

sk_step_status_t *sk_wf_status_find(const sk_wf_status_t *st, const char *name) {
  if (!st || !name)
    return NULL;
  for (size_t i = 0; i < st->nsteps; i++) {
    if (st->steps[i].name && strcmp(st->steps[i].name, name) == 0)
      return &st->steps[i];
  }
  return NULL;
}

int sk__record_insert(sk_wf_status_t *st, size_t pos, const char *name, const char *step,
                      int index) {
  if (pos > st->nsteps)
    return SK_EINVAL;
  if (st->nsteps == st->cap) {
    size_t ncap = st->cap ? st->cap * 2 : 8;
    sk_step_status_t *n = realloc(st->steps, ncap * sizeof(*n));
    if (!n)
      return SK_ENOMEM;
    st->steps = n;
    st->cap = ncap;
  }
  sk_step_status_t r;
  memset(&r, 0, sizeof(r));
  r.name = strdup(name);
  r.step = strdup(step ? step : name);
  if (!r.name || !r.step) {
    sk__record_release(&r);
    return SK_ENOMEM;
  }
  r.index = index;
  r.instances = -1;
  r.phase = SK_PHASE_PENDING;
  memmove(&st->steps[pos + 1], &st->steps[pos], (st->nsteps - pos) * sizeof(r));
  st->steps[pos] = r;
  st->nsteps++;
  return 0;
}

void sk__record_remove(sk_wf_status_t *st, size_t pos, size_t n) {
  if (pos >= st->nsteps)
    return;
  if (n > st->nsteps - pos)
    n = st->nsteps - pos;
  for (size_t i = pos; i < pos + n; i++)
    sk__record_release(&st->steps[i]);
  memmove(&st->steps[pos], &st->steps[pos + n], (st->nsteps - pos - n) * sizeof(st->steps[0]));
  st->nsteps -= n;
}

int sk__set_message(char **slot, const char *msg) {
  char *n = NULL;
  if (msg && msg[0]) {
    n = sk_strdup_capped(msg, SK_STATUS_MAX_MESSAGE);
    if (!n)
      return SK_ENOMEM;
  }
  free(*slot);
  *slot = n;
  return 0;
}

bool sk__record_is_leaf(const sk_step_status_t *r) { return r->index >= 0 || r->instances < 0; }

void sk_wf_status_progress(const sk_wf_status_t *st, char *out, size_t outlen) {
  size_t done = 0, total = 0;
  for (size_t i = 0; i < st->nsteps; i++) {
    const sk_step_status_t *r = &st->steps[i];
    if (!sk__record_is_leaf(r))
      continue;
    total++;
    if (sk_phase_is_final(r->phase))
      done++;
  }
  snprintf(out, outlen, "%zu/%zu", done, total);
}
