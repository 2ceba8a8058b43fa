/*
 * skein-bench's command line (see bench.h for what a run measures):
 *
 *   skein-bench --namespace NS [--kubeconfig FILE] [--shape single|chain|skipchain]
 *               [--steps N] [--count N] [--concurrency N] [--rate R] [--prefix P]
 *               [--raw [--workers N] [--event-lanes N] [--event-queue N]
 *                      [--qps Q] [--burst B]]
 *               [--timeout S] [--quiet]
 *
 * The namespace must exist. The JSON figures go to stdout, progress to
 * stderr. Exit status: 0 when every Workflow ended Succeeded, 1 when some
 * failed or the run timed out (the figures are printed anyway), 2 for a
 * usage or setup error.
 */
#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strutil.h"

#define SYNC_TIMEOUT_US (120 * 1000000LL)

static const char k_usage[] =
    "usage: skein-bench --namespace NS [--kubeconfig FILE] [--shape single|chain|skipchain]\n"
    "                   [--steps N] [--count N] [--concurrency N] [--rate R] [--prefix P]\n"
    "                   [--raw [--workers N] [--event-lanes N] [--event-queue N]\n"
    "                          [--qps Q] [--burst B]]\n"
    "                   [--timeout S] [--quiet]\n";

static int int_arg(const char *flag, const char *v, int min, int max, int *out) {
  int64_t n;
  if (!v || sk_parse_int64(v, &n) < 0 || n < min || n > max) {
    fprintf(stderr, "skein-bench: %s wants a whole number from %d to %d\n", flag, min, max);
    return -1;
  }
  *out = (int)n;
  return 0;
}

static int double_arg(const char *flag, const char *v, double *out) {
  if (!v || sk_parse_double(v, out) < 0 || *out < 0 || !isfinite(*out)) {
    fprintf(stderr, "skein-bench: %s wants a number >= 0\n", flag);
    return -1;
  }
  return 0;
}

static int parse(int argc, char **argv, bench_t *b) {
  int steps = 0, timeout = 600;
  const char *shape = "single";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    int rc = 0;
    bool takes = true;
    if (strcmp(a, "--kubeconfig") == 0)
      b->kubeconfig = v;
    else if (strcmp(a, "--namespace") == 0)
      b->ns = v;
    else if (strcmp(a, "--prefix") == 0)
      b->prefix = v;
    else if (strcmp(a, "--shape") == 0)
      shape = v;
    else if (strcmp(a, "--steps") == 0)
      rc = int_arg(a, v, 1, BENCH_MAX_STEPS, &steps);
    else if (strcmp(a, "--count") == 0)
      rc = int_arg(a, v, 1, 1000000, &b->count);
    else if (strcmp(a, "--concurrency") == 0)
      rc = int_arg(a, v, 1, 1000, &b->create_concurrency);
    else if (strcmp(a, "--rate") == 0)
      rc = double_arg(a, v, &b->create_rate);
    else if (strcmp(a, "--workers") == 0)
      rc = int_arg(a, v, 1, 1000, &b->raw_workers);
    else if (strcmp(a, "--event-lanes") == 0)
      rc = int_arg(a, v, 1, 1000, &b->raw_event_lanes);
    else if (strcmp(a, "--event-queue") == 0)
      rc = int_arg(a, v, 1, 10000000, &b->raw_event_queue);
    else if (strcmp(a, "--qps") == 0)
      rc = double_arg(a, v, &b->qps);
    else if (strcmp(a, "--burst") == 0)
      rc = int_arg(a, v, 1, 1000000, &b->burst);
    else if (strcmp(a, "--timeout") == 0)
      rc = int_arg(a, v, 1, 86400, &timeout);
    else {
      takes = false;
      if (strcmp(a, "--raw") == 0)
        b->raw = true;
      else if (strcmp(a, "--quiet") == 0)
        b->quiet = true;
      else {
        fprintf(stderr, "skein-bench: unknown argument %s\n%s", a, k_usage);
        return -1;
      }
    }
    if (rc < 0)
      return -1;
    if (takes) {
      if (!v) {
        fprintf(stderr, "skein-bench: %s needs a value\n", a);
        return -1;
      }
      i++;
    }
  }
  if (!b->ns || !b->prefix || !shape) {
    fprintf(stderr, "%s", k_usage);
    return -1;
  }
  if (strcmp(shape, "single") == 0) {
    b->shape = BENCH_SINGLE;
    b->steps = 1;
  } else if (strcmp(shape, "chain") == 0 || strcmp(shape, "skipchain") == 0) {
    b->shape = strcmp(shape, "chain") == 0 ? BENCH_CHAIN : BENCH_SKIPCHAIN;
    b->steps = steps > 0 ? steps : BENCH_MAX_STEPS;
  } else {
    fprintf(stderr, "skein-bench: --shape is single, chain or skipchain\n");
    return -1;
  }
  if (b->raw && b->shape != BENCH_SINGLE) {
    fprintf(stderr, "skein-bench: --raw does single-Pod workflows only\n");
    return -1;
  }
  b->timeout_s = timeout;
  return 0;
}

/* Runs the loop until fn(b) holds or the deadline passes. */
static bool run_until(bench_t *b, bool (*fn)(const bench_t *b), int64_t deadline_us) {
  while (!fn(b)) {
    if (bench_now_us() > deadline_us)
      return false;
    uv_run(b->loop, UV_RUN_ONCE);
  }
  return true;
}

static bool all_synced(const bench_t *b) {
  return bench_watch_synced(b) && (!b->rawc || bench_raw_synced(b->rawc));
}

static bool stopped(const bench_t *b) { return b->finishing; }

int main(int argc, char **argv) {
  bench_t b = {0};
  b.prefix = "b";
  b.count = 100;
  b.create_concurrency = 8;
  b.raw_workers = 4;
  b.raw_event_lanes = 4; /* as skeind's recorder */
  b.raw_event_queue = 1000;
  b.qps = 20;
  b.burst = 30;
  if (parse(argc, argv, &b) < 0)
    return 2;
  sk_log_setup(SK_LOG_TEXT, 0, stderr);
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
    return 2;
  int code = 2;
  uv_loop_t loop;
  uv_loop_init(&loop);
  b.loop = &loop;
  char err[512];
  sk_kube_config_opts_t co = {0};
  co.kubeconfig = b.kubeconfig;
  b.wfs = calloc((size_t)b.count, sizeof(*b.wfs));
  if (!b.wfs || sk_kube_config_load(&co, &b.cfg, err, sizeof(err)) < 0) {
    fprintf(stderr, "skein-bench: %s\n", b.wfs ? err : "out of memory");
    goto out;
  }
  /* The load and the stopwatch must not wait on a client-side limit. */
  sk_kube_client_opts_t lo = {0};
  lo.qps = INFINITY;
  lo.user_agent = "skein-bench";
  b.client = sk_kube_client_create(&loop, NULL, b.cfg, &lo);
  if (b.raw) {
    if (b.qps == 0)
      b.qps = INFINITY;
    if (!b.client || bench_raw_create(&b, &b.rawc) < 0 || bench_raw_start(b.rawc) < 0) {
      fprintf(stderr, "skein-bench: cannot set up the raw controller\n");
      goto out;
    }
  }
  int rc;
  if (!b.client || (rc = bench_watch_start(&b)) < 0) {
    fprintf(stderr, "skein-bench: cannot start watching\n");
    goto out;
  }
  if (!run_until(&b, all_synced, bench_now_us() + SYNC_TIMEOUT_US)) {
    fprintf(stderr, "skein-bench: the informers did not sync\n");
    goto out;
  }
  if (bench_load_start(&b) < 0)
    goto out;
  /* bench_stop ends the run (all done, or the timeout in the tick). */
  run_until(&b, stopped, INT64_MAX);
  json_t *sum = bench_summary(&b);
  if (sum) {
    char *text = json_dumps(sum, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(6));
    if (text)
      printf("%s\n", text);
    free(text);
    json_decref(sum);
  }
  code = b.timed_out || b.failed > 0 || b.done < b.count ? 1 : 0;
out:
  bench_stop(&b);
  bench_raw_destroy(b.rawc);
  sk_kube_informer_destroy(b.wf_inf);
  sk_kube_informer_destroy(b.pod_inf);
  sk_kube_client_destroy(b.client);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  sk_kube_config_destroy(b.cfg);
  free(b.wfs);
  free(b.retry);
  curl_global_cleanup();
  return code;
}
