/*
 * The load: COUNT Workflows created with a bounded number of POSTs in
 * flight, optionally paced to a rate. The time a create returned is the
 * start of a Workflow's latencies, since its creationTimestamp has whole
 * seconds only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "util/error.h"

#define MAX_CREATE_TRIES 5

static const sk_kube_gvr_t k_wf_gvr = {"skein.dev", "v1alpha1", "workflows"};

int64_t bench_now_us(void) { return (int64_t)(uv_hrtime() / 1000); }

void bench_wf_name(const bench_t *b, int i, char *out, size_t outlen) {
  snprintf(out, outlen, "%s-%06d", b->prefix, i);
}

int bench_wf_index(const bench_t *b, const char *name) {
  size_t plen = strlen(b->prefix);
  if (!name || strncmp(name, b->prefix, plen) != 0 || name[plen] != '-')
    return -1;
  const char *digits = name + plen + 1;
  char *end = NULL;
  errno = 0;
  long v = strtol(digits, &end, 10);
  if (errno != 0 || end == digits || *end != '\0' || v < 0 || v >= b->count)
    return -1;
  return (int)v;
}

int bench_step_index(const char *step) {
  if (!step || step[0] != 's' || step[1] < '0' || step[1] > '9' || step[2] != '\0')
    return -1;
  int k = step[1] - '0';
  return k < BENCH_MAX_STEPS ? k : -1;
}

/* One step: a Pod that does nothing (kwok plays it), after the step
 * before it in a chain. */
static json_t *step_body(const bench_t *b, int k) {
  char name[16];
  snprintf(name, sizeof(name), "s%d", k);
  json_t *step = json_pack("{s:s, s:{s:s, s:[s]}}", "name", name, "pod", "image", "busybox",
                           "command", "true");
  if (!step)
    return NULL;
  if (k > 0) {
    char prev[16];
    snprintf(prev, sizeof(prev), "s%d", k - 1);
    json_object_set_new(step, "dependsOn", json_pack("[s]", prev));
  }
  if (k == 0 && b->shape == BENCH_SKIPCHAIN)
    json_object_set_new(step, "when", json_string("false"));
  return step;
}

json_t *bench_wf_body(const bench_t *b, int i) {
  char name[BENCH_NAME_MAX];
  bench_wf_name(b, i, name, sizeof(name));
  json_t *steps = json_array();
  for (int k = 0; steps && k < b->steps; k++) {
    json_t *s = step_body(b, k);
    if (!s || json_array_append_new(steps, s) < 0) {
      json_decref(steps);
      return NULL;
    }
  }
  if (!steps)
    return NULL;
  return json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:o}}", "apiVersion", "skein.dev/v1alpha1",
                   "kind", "Workflow", "metadata", "name", name, "namespace", b->ns, "spec",
                   "steps", steps);
}

typedef struct {
  bench_t *b;
  int i;
} create_t;

static void start_create(bench_t *b, int i);

static void created(const sk_kube_result_t *res, void *arg) {
  create_t *ct = arg;
  bench_t *b = ct->b;
  int i = ct->i;
  free(ct);
  b->creates_inflight--;
  bench_wf_t *w = &b->wfs[i];
  if (res->err == 0 || (res->code == 409 && w->create_tries > 1)) {
    /* A 409 after a retry is our own earlier POST that did get through. */
    w->create_done_us = bench_now_us();
    b->created++;
    b->creates_end_us = w->create_done_us;
  } else if (res->err == SK_ECANCELED || b->finishing) {
    /* The run is ending. */
  } else if (w->create_tries < MAX_CREATE_TRIES &&
             (res->code == 0 || res->code == 429 || res->code >= 500)) {
    b->retry[b->nretry++] = i;
  } else {
    fprintf(stderr, "skein-bench: creating workflow %d failed: %ld %s\n", i, res->code,
            res->message ? res->message : sk_strerror(res->err));
    b->create_failures++;
  }
  bench_load_tick(b);
  bench_maybe_finish(b);
}

static void start_create(bench_t *b, int i) {
  bench_wf_t *w = &b->wfs[i];
  json_t *body = bench_wf_body(b, i);
  create_t *ct = malloc(sizeof(*ct));
  sk_kube_ref_t ref = {k_wf_gvr, b->ns, NULL, NULL};
  int rc = SK_ENOMEM;
  if (body && ct) {
    ct->b = b;
    ct->i = i;
    w->create_tries++;
    w->create_sent_us = bench_now_us();
    if (b->start_us == 0)
      b->start_us = w->create_sent_us;
    rc = sk_kube_create(b->client, &ref, body, created, ct, NULL);
  }
  json_decref(body);
  if (rc < 0) {
    free(ct);
    fprintf(stderr, "skein-bench: cannot start create %d: %s\n", i, sk_strerror(rc));
    b->create_failures++;
    return;
  }
  b->creates_inflight++;
}

/* Whether create number n (counting from 0) is due, given the rate. */
static bool due(const bench_t *b, int n, int64_t now_us) {
  if (b->create_rate <= 0 || b->start_us == 0)
    return true;
  return (double)(now_us - b->start_us) >= (double)n * 1e6 / b->create_rate;
}

void bench_load_tick(bench_t *b) {
  int64_t now = bench_now_us();
  while (b->loading && !b->finishing && b->creates_inflight < b->create_concurrency) {
    if (b->nretry > 0) {
      start_create(b, b->retry[--b->nretry]);
    } else if (b->next_create < b->count && due(b, b->next_create, now)) {
      start_create(b, b->next_create++);
    } else {
      break;
    }
  }
}

int bench_load_start(bench_t *b) {
  b->retry = calloc((size_t)b->count, sizeof(*b->retry));
  if (!b->retry)
    return SK_ENOMEM;
  b->loading = true;
  bench_load_tick(b);
  return 0;
}
