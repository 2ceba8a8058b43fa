/*
 * A rate-limited work queue of string keys, with client-go's semantics.
 *
 * Informer handlers add the key ("namespace/name") of every object that
 * changed; a worker takes a key, reconciles that object and marks the key
 * done. The queue guarantees:
 *
 *  - dedupe: a key waiting in the queue is there once, however often it is
 *    added before a worker takes it;
 *  - no concurrency per key: a key added again while a worker has it is
 *    queued once more when that worker calls done, never handed to a
 *    second worker meanwhile;
 *  - FIFO: keys are handed out in the order they were first added;
 *  - delayed adds (add_after): the key is added at a given time; for a key
 *    already waiting, the earlier time wins;
 *  - rate-limited adds (add_rate_limited), for retries after a failure: the
 *    delay is the larger of a per-key exponential backoff (5 ms * 2^n,
 *    capped at 1000 s, where n counts the key's rate-limited adds since its
 *    last forget) and the wait for a token of a global bucket (10 per
 *    second, burst 100). Call forget(key) after a success to reset n.
 *
 * The queue has two layers. The core below (add, get, done, ...) is pure:
 * it reads time only through the clock in the options, so tests drive it
 * with a fake clock and call get/done themselves. Attaching it to a libuv
 * loop (sk_kube_wq_attach) adds the driver: a timer fires for the earliest
 * delayed key, and a handler is called from the loop for each key, with at
 * most `workers` keys in flight at once.
 *
 * Times are milliseconds on the queue's clock, which is the wall clock
 * (sk_time_now_ms) unless the options name another, so a time taken from a
 * Workflow's status (e.g. the engine's wake_at_ms) can be passed to
 * add_after as it is.
 *
 * Not thread-safe: everything happens on the loop's thread.
 */
#ifndef SK_KUBE_WORKQUEUE_H
#define SK_KUBE_WORKQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define SK_KUBE_WQ_MAX_KEY 1024 /* longest key in bytes; "ns/name" is far below */

typedef struct sk_kube_wq sk_kube_wq_t;

/* A clock in milliseconds; arg is the opts' clock_arg. */
typedef int64_t (*sk_kube_wq_clock_fn)(void *arg);

typedef struct {
  const char *name;            /* for logs; copied; NULL → "workqueue" */
  sk_kube_wq_clock_fn clock;   /* NULL → sk_time_now_ms */
  void *clock_arg;
  int64_t base_delay_ms;       /* per-key backoff start; 0 → 5 */
  int64_t max_delay_ms;        /* per-key backoff cap; 0 → 1000000 (1000 s) */
  double qps;                  /* global bucket rate; 0 → 10; < 0 → no bucket */
  int burst;                   /* global bucket size; 0 → 100 */
} sk_kube_wq_opts_t;

/* Counters for metrics (workqueue_* in client-go's names). Latencies are
 * queue latencies: from the add that queued a key to the get that took it. */
typedef struct {
  size_t depth;          /* keys queued and ready now */
  size_t waiting;        /* keys waiting for a delayed add */
  size_t processing;     /* keys taken and not yet done */
  uint64_t adds;         /* adds that queued a key (dedupes not counted) */
  uint64_t retries;      /* rate-limited adds */
  uint64_t gets;         /* keys handed out */
  uint64_t latency_sum_ms;
  int64_t latency_max_ms;
  uint64_t work_sum_ms;  /* from get to done, summed */
  int64_t work_max_ms;
} sk_kube_wq_stats_t;

/* Creates an empty queue; opts may be NULL for the defaults. Returns a new
 * queue, or NULL on allocation failure or invalid options. */
sk_kube_wq_t *sk_kube_wq_create(const sk_kube_wq_opts_t *opts);

/* Frees the queue and every key in it. When the queue is attached to a loop
 * its handles are closed and the memory is freed from their close
 * callbacks: run the loop until it is empty. No handler is called after
 * destroy, and keys handed out before are invalid (do not call done). Safe
 * on NULL. */
void sk_kube_wq_destroy(sk_kube_wq_t *q);

/* Adds key now (the string is copied). 0 when it is queued or was already;
 * SK_ECANCELED after shutdown (the key is ignored); SK_EINVAL for an empty
 * key or one longer than SK_KUBE_WQ_MAX_KEY; SK_ENOMEM. */
int sk_kube_wq_add(sk_kube_wq_t *q, const char *key);

/* Adds key at at_ms on the queue's clock (now or earlier: added at once).
 * When key is already waiting for an earlier time this does nothing; a
 * later time it had is moved forward. Errors as for add. */
int sk_kube_wq_add_after(sk_kube_wq_t *q, const char *key, int64_t at_ms);

/* add_after(key, now + delay_ms). */
int sk_kube_wq_add_in(sk_kube_wq_t *q, const char *key, int64_t delay_ms);

/* Adds key after the rate limiter's delay (see the top of this file) and
 * counts a requeue for it. When delay_ms is not NULL it receives the delay
 * chosen. Errors as for add. */
int sk_kube_wq_add_rate_limited(sk_kube_wq_t *q, const char *key, int64_t *delay_ms);

/* Resets key's backoff (its requeue count) after a success. A delayed add
 * already scheduled stays. */
void sk_kube_wq_forget(sk_kube_wq_t *q, const char *key);

/* Rate-limited adds of key since its last forget. */
unsigned sk_kube_wq_num_requeues(const sk_kube_wq_t *q, const char *key);

/*
 * Takes the next ready key, first moving delayed keys whose time has come
 * into the queue. On success returns 0 and *key, borrowed and valid until
 * done is called for it; *latency_ms (may be NULL) receives its queue
 * latency. SK_ENOENT when nothing is ready now; SK_ECANCELED when the
 * queue is shut down and empty. With a driver attached, the driver takes
 * keys itself: do not call get.
 */
int sk_kube_wq_get(sk_kube_wq_t *q, const char **key, int64_t *latency_ms);

/* Marks key as processed. If it was added again meanwhile it is queued
 * again now. SK_ENOENT when key was not taken. */
int sk_kube_wq_done(sk_kube_wq_t *q, const char *key);

/* Keys queued and ready now (client-go's Len). */
size_t sk_kube_wq_len(const sk_kube_wq_t *q);

/* Earliest time a delayed key is due, or INT64_MAX when none waits. */
int64_t sk_kube_wq_next_due(const sk_kube_wq_t *q);

/*
 * Stops the queue: later adds are ignored and delayed keys are dropped.
 * With drain, keys already added are still handed out, including a key in
 * flight that was added again (client-go's ShutDown); without, they are
 * dropped (a daemon that lost its lease leaves them to the next leader).
 * Keys in flight finish either way. A second call can only drop more.
 */
void sk_kube_wq_shutdown(sk_kube_wq_t *q, bool drain);
bool sk_kube_wq_shutting_down(const sk_kube_wq_t *q);

void sk_kube_wq_stats(const sk_kube_wq_t *q, sk_kube_wq_stats_t *out);

/* The queue's name (borrowed). */
const char *sk_kube_wq_name(const sk_kube_wq_t *q);

/* ---- the loop driver ---- */

/* Called from the loop with a key the handler now owns: it must call
 * sk_kube_wq_done(q, key) exactly once, during the call or later from the
 * loop. key is borrowed and valid until that done. */
typedef void (*sk_kube_wq_handler_fn)(sk_kube_wq_t *q, const char *key, void *arg);

typedef struct {
  unsigned workers;                   /* keys in flight at once; 0 → 1 */
  sk_kube_wq_handler_fn handle;       /* required */
  /* Called once from the loop after shutdown, when nothing is queued or in
   * flight any more; the queue may be destroyed from it. May be NULL. */
  void (*on_drained)(sk_kube_wq_t *q, void *arg);
  void *arg;
  /* Called from the loop with each key's queue latency, just before its
   * handler (for a histogram: the stats keep only sums). May be NULL. */
  void (*on_wait)(int64_t latency_ms, void *arg);
} sk_kube_wq_driver_t;

/* Attaches the queue to loop (driver copied): from now on the handler is
 * called from the loop for ready keys, and a timer wakes the queue for
 * delayed ones. Each loop iteration hands out at most a small batch, so a
 * long queue of quick handlers does not starve other I/O. SK_ESTATE when
 * already attached; SK_EINVAL without a handler. */
int sk_kube_wq_attach(sk_kube_wq_t *q, uv_loop_t *loop, const sk_kube_wq_driver_t *driver);

#endif
