/*
 * The figures of a run, as one JSON object: throughput, and latency
 * percentiles over the clock readings of bench.h. A latency is counted
 * only when both of its readings were taken; n says how many were.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench.h"

typedef struct {
  double *v; /* milliseconds */
  size_t n;
} series_t;

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void add(series_t *s, int64_t from_us, int64_t to_us) {
  if (from_us > 0 && to_us > 0)
    s->v[s->n++] = (double)(to_us - from_us) / 1000.0;
}

/* Nearest rank: the smallest value with at least p% of the values at or
 * below it. */
static double pct(const series_t *s, double p) {
  if (s->n == 0)
    return 0;
  size_t rank = (size_t)(p / 100.0 * (double)s->n + 0.999999);
  if (rank < 1)
    rank = 1;
  if (rank > s->n)
    rank = s->n;
  return s->v[rank - 1];
}

static json_t *summarise(series_t *s) {
  qsort(s->v, s->n, sizeof(double), cmp_double);
  double sum = 0;
  for (size_t i = 0; i < s->n; i++)
    sum += s->v[i];
  return json_pack("{s:I, s:f, s:f, s:f, s:f, s:f, s:f}", "n", (json_int_t)s->n, "mean",
                   s->n ? sum / (double)s->n : 0.0, "p50", pct(s, 50), "p90", pct(s, 90), "p99",
                   pct(s, 99), "min", s->n ? s->v[0] : 0.0, "max", s->n ? s->v[s->n - 1] : 0.0);
}

static const char *shape_name(bench_shape_t s) {
  switch (s) {
  case BENCH_SINGLE: return "single";
  case BENCH_CHAIN: return "chain";
  case BENCH_SKIPCHAIN: return "skipchain";
  }
  return "?";
}

json_t *bench_summary(const bench_t *b) {
  size_t cap = (size_t)b->count * BENCH_MAX_STEPS + 1;
  series_t to_pod = {calloc(cap, sizeof(double)), 0};
  series_t step = {calloc(cap, sizeof(double)), 0};
  series_t to_done = {calloc(cap, sizeof(double)), 0};
  series_t pod_run = {calloc(cap, sizeof(double)), 0};
  series_t to_status = {calloc(cap, sizeof(double)), 0};
  series_t status_to_pod = {calloc(cap, sizeof(double)), 0};
  json_t *out = NULL;
  if (!to_pod.v || !step.v || !to_done.v || !pod_run.v || !to_status.v || !status_to_pod.v)
    goto done;
  int pods_failed = 0;
  for (int i = 0; i < b->count; i++) {
    const bench_wf_t *w = &b->wfs[i];
    add(&to_pod, w->create_done_us, w->pod_added_us[0]);
    add(&to_done, w->create_done_us, w->wf_done_us);
    for (int k = 0; k < b->steps; k++) {
      add(&pod_run, w->pod_added_us[k], w->pod_done_us[k]);
      pods_failed += w->pod_failed[k];
      if (k > 0 && !w->pod_failed[k - 1]) {
        add(&step, w->pod_done_us[k - 1], w->pod_added_us[k]);
        add(&to_status, w->pod_done_us[k - 1], w->step_running_us[k]);
        add(&status_to_pod, w->step_running_us[k], w->pod_added_us[k]);
      }
    }
  }
  int64_t end = b->last_done_us > 0 ? b->last_done_us : bench_now_us();
  double elapsed = b->start_us > 0 ? (double)(end - b->start_us) / 1e6 : 0;
  double create_s = b->creates_end_us > 0 ? (double)(b->creates_end_us - b->start_us) / 1e6 : 0;
  out = json_pack("{s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:b, s:f, s:f, s:f, s:f}",
                  "controller", b->raw ? "raw" : "skeind", "shape", shape_name(b->shape),
                  "namespace", b->ns, "steps", b->steps, "count", b->count, "created",
                  b->created, "done", b->done, "failed", b->failed, "pods_failed", pods_failed,
                  "timed_out", b->timed_out, "elapsed_s", elapsed, "create_s", create_s,
                  "create_per_s", create_s > 0 ? b->created / create_s : 0.0,
                  "workflows_per_s", elapsed > 0 ? b->done / elapsed : 0.0);
  if (!out)
    goto done;
  json_object_set_new(out, "create_to_first_pod_ms", summarise(&to_pod));
  json_object_set_new(out, "create_to_done_ms", summarise(&to_done));
  json_object_set_new(out, "pod_added_to_done_ms", summarise(&pod_run));
  if (b->steps > 1) {
    json_object_set_new(out, "step_done_to_next_pod_ms", summarise(&step));
    json_object_set_new(out, "step_done_to_next_running_ms", summarise(&to_status));
    json_object_set_new(out, "next_running_to_pod_ms", summarise(&status_to_pod));
  }
  if (b->rawc)
    json_object_set_new(out, "raw", bench_raw_stats(b->rawc));
  /* This process shares the machine with the cluster and skeind. */
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) == 0)
    json_object_set_new(out, "tool_cpu_s",
                        json_real((double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                                  (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6));
done:
  free(to_pod.v);
  free(step.v);
  free(to_done.v);
  free(pod_run.v);
  free(to_status.v);
  free(status_to_pod.v);
  return out;
}
