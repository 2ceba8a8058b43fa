/*
 * skein-bench: the load generator and stopwatch behind
 * tests/bench/bench_skeind.sh. It is a test tool, not part of skein.
 *
 * One run creates COUNT Workflows of one shape in one namespace and
 * watches their Pods and the Workflows themselves, taking the time of each
 * watch event as it arrives (creationTimestamp has whole seconds only):
 *
 *   create_done   the Workflow's POST returned (the tool's own clock)
 *   pod_added     a step's Pod appeared in the Pod watch (ADDED)
 *   pod_done      that Pod's phase turned Succeeded or Failed (MODIFIED)
 *   step_running  the Workflow's status first showed that step Running
 *                 (skeind writes it before it creates the Pod)
 *   wf_done       the Workflow's status.phase turned final
 *
 * The controller is either skeind, running beside the tool, or the tool's
 * own "raw" controller (bench_raw.c): the fewest API writes a single-Pod
 * workflow needs, with the same client library, rate limit and
 * concurrency, and no engine, so that skeind's throughput is measured as
 * a fraction of what the apiserver allows for the same work.
 *
 * At the end it prints one JSON object with the figures (bench_stats.c).
 */
#ifndef SK_BENCH_H
#define SK_BENCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "kube/kube.h"

#define BENCH_MAX_STEPS 5
#define BENCH_NAME_MAX 64
#define BENCH_LABEL_WORKFLOW "skein.dev/workflow"
#define BENCH_LABEL_STEP "skein.dev/step"

typedef enum {
  BENCH_SINGLE,    /* one Pod step */
  BENCH_CHAIN,     /* STEPS Pod steps, each depending on the one before */
  BENCH_SKIPCHAIN, /* a chain whose first step has `when: "false"`: no Pod runs */
} bench_shape_t;

/* The clock readings of one Workflow, in microseconds of the monotonic
 * clock; 0 = not seen (yet). */
typedef struct {
  int64_t create_sent_us;
  int64_t create_done_us;
  int64_t pod_added_us[BENCH_MAX_STEPS];
  int64_t pod_done_us[BENCH_MAX_STEPS];
  int64_t step_running_us[BENCH_MAX_STEPS]; /* the Workflow's status said Running */
  int64_t wf_done_us;
  bool wf_failed; /* ended in a phase other than Succeeded */
  bool pod_failed[BENCH_MAX_STEPS];
  int create_tries;
} bench_wf_t;

typedef struct bench_raw bench_raw_t;

typedef struct bench {
  /* options */
  const char *kubeconfig;
  const char *ns;
  const char *prefix;       /* Workflow names are PREFIX-NNNNNN */
  bench_shape_t shape;
  int steps;                /* steps per Workflow (1 for single) */
  int count;
  int create_concurrency;   /* creates in flight at once */
  double create_rate;       /* creates per second; 0 = as fast as they complete */
  bool raw;                 /* run the raw controller instead of relying on skeind */
  int raw_workers;          /* raw: workflows being written at once */
  int raw_event_lanes;      /* raw: Event writes in flight at once */
  int raw_event_queue;      /* raw: Events waiting (or in flight) before one is dropped */
  double qps;               /* raw controller's client rate limit */
  int burst;
  long timeout_s;
  bool quiet;

  /* state */
  uv_loop_t *loop;
  sk_kube_config_t *cfg;
  sk_kube_client_t *client; /* creates and watches; no client-side limit */
  sk_kube_informer_t *wf_inf;
  sk_kube_informer_t *pod_inf;
  uv_timer_t tick;
  bool tick_open;
  bench_wf_t *wfs;
  int next_create;          /* next index to create */
  int *retry;               /* indexes whose create must be tried again */
  int nretry;
  int creates_inflight;
  int created;              /* creates answered 201 (or 409 after a retry) */
  int create_failures;      /* creates given up */
  int done;                 /* Workflows seen in a final phase */
  int failed;               /* ... other than Succeeded */
  int64_t start_us;         /* the first create was sent */
  int64_t creates_end_us;   /* the last create returned */
  int64_t last_done_us;
  int64_t last_progress_us; /* for the progress line on stderr */
  bool loading;             /* the informers synced and creates began */
  bool finishing;
  bool timed_out;
  bench_raw_t *rawc;
} bench_t;

/* The monotonic clock in microseconds. */
int64_t bench_now_us(void);

/* "PREFIX-NNNNNN" for index i into out. */
void bench_wf_name(const bench_t *b, int i, char *out, size_t outlen);
/* The index of a Workflow name of this run, or -1. */
int bench_wf_index(const bench_t *b, const char *name);
/* The step number of a step name "sN", or -1. */
int bench_step_index(const char *step);
/* The Workflow to create for index i (new reference). */
json_t *bench_wf_body(const bench_t *b, int i);

/* bench_load.c: creating the Workflows. */
int bench_load_start(bench_t *b);
void bench_load_tick(bench_t *b);

/* bench_watch.c: the stopwatch. */
int bench_watch_start(bench_t *b);
bool bench_watch_synced(const bench_t *b);
/* Ends the run once every Workflow is final and the raw controller (if
 * any) has no write left, or at the timeout. */
void bench_maybe_finish(bench_t *b);
void bench_stop(bench_t *b);

/* bench_raw.c: the raw controller. */
int bench_raw_create(bench_t *b, bench_raw_t **out);
int bench_raw_start(bench_raw_t *r);
bool bench_raw_synced(const bench_raw_t *r);
bool bench_raw_idle(const bench_raw_t *r);
void bench_raw_stop(bench_raw_t *r);
void bench_raw_destroy(bench_raw_t *r);
/* The raw controller's write counts and errors (new reference). */
json_t *bench_raw_stats(const bench_raw_t *r);

/* bench_stats.c: the figures (new reference). */
json_t *bench_summary(const bench_t *b);

#endif
