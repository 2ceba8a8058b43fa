/*
 * The raw controller's insides, shared by bench_raw.c (the I/O) and
 * bench_raw_body.c (what it writes).
 */
#ifndef SK_BENCH_RAW_H
#define SK_BENCH_RAW_H

#include "bench.h"
#include "kube/events.h"

enum { RAW_START = 0, RAW_FINISH = 1 };

typedef enum {
  RAW_NEW,           /* not seen in the watch yet */
  RAW_START_QUEUED,  /* waiting for a worker to write the start */
  RAW_RUNNING,       /* status Running written, Pod created */
  RAW_FINISH_QUEUED, /* its Pod Succeeded; waiting for a worker */
  RAW_DONE,
} raw_state_t;

typedef struct {
  raw_state_t state;
  bool pod_done;      /* its Pod was seen Succeeded (maybe before RUNNING) */
  json_t *obj;        /* the Workflow as our last status write returned it */
  int64_t started_ms; /* wall clock, for status.startedAt */
  int tries;
  int event_tries;
} raw_wf_t;

typedef struct {
  int idx;
  int kind; /* RAW_START or RAW_FINISH */
} raw_job_t;

typedef struct {
  raw_job_t *items;
  size_t cap, head, tail;
} raw_ring_t;

struct bench_raw {
  bench_t *b;
  sk_kube_client_t *client;
  sk_kube_informer_t *wf_inf;
  sk_kube_informer_t *pod_inf;
  raw_wf_t *wf;
  raw_ring_t jobs;   /* status writes (and the Pod after a start) */
  raw_ring_t events; /* Events to write */
  int busy_workers;
  int busy_events;
  bool stopping;
  uint64_t status_writes, pod_creates, event_creates, conflicts, errors;
  uint64_t events_dropped;
  uint64_t event_seq;
};

/* base with the status skeind would write for the start (finished false)
 * or the end of workflow idx's only step (new reference). */
json_t *bench_raw_with_status(const bench_t *b, int idx, json_t *base, bool finished,
                              int64_t started_ms);
/* The Pod of workflow idx's step, owned by wf (new reference). */
json_t *bench_raw_pod(const bench_t *b, int idx, json_t *wf);
/* The Event WorkflowRunning or WorkflowSucceeded about wf (new reference;
 * NULL when wf is NULL). */
json_t *bench_raw_event(bench_raw_t *r, int idx, bool finished, json_t *wf);

#endif
