/*
 * Private to the work queue: the state shared by the pure core
 * (workqueue.c) and the loop driver (workqueue_loop.c).
 *
 * One item per key, kept while the key is queued, being processed, waiting
 * for a delayed add, or has a requeue count; it is freed as soon as it is
 * none of these. Items live in a chained hash table by key; queued items
 * also form a FIFO list, waiting ones a binary min-heap by due time.
 */
#ifndef SK_KUBE_WORKQUEUE_INT_H
#define SK_KUBE_WORKQUEUE_INT_H

#include "kube/workqueue.h"
#include "util/ratelimit.h"

#define SK__WQ_NO_HEAP SIZE_MAX

typedef struct sk__wq_item {
  char *key;
  size_t klen;
  uint64_t hash;
  struct sk__wq_item *hnext; /* hash chain */
  struct sk__wq_item *qnext; /* FIFO link while queued */
  bool dirty;                /* added and not yet taken */
  bool queued;               /* in the FIFO (dirty and not processing) */
  bool processing;           /* taken and not yet done */
  int64_t added_ms;          /* when it became dirty, for queue latency */
  int64_t taken_ms;          /* when it was taken, for work time */
  size_t heap_idx;           /* position in the delay heap or SK__WQ_NO_HEAP */
  int64_t due_ms;            /* while in the heap */
  uint64_t due_seq;          /* ties on due_ms keep insertion order */
  unsigned requeues;         /* rate-limited adds since the last forget */
} sk__wq_item_t;

struct sk_kube_wq {
  char *name;
  sk_kube_wq_clock_fn clock;
  void *clock_arg;
  int64_t base_delay_ms;
  int64_t max_delay_ms;
  sk_ratelimit_t bucket;

  sk__wq_item_t **buckets; /* hash table */
  size_t nbuckets;         /* a power of two */
  size_t nitems;

  sk__wq_item_t *head, *tail; /* FIFO of queued items */
  size_t depth;

  sk__wq_item_t **heap; /* delayed items, earliest first */
  size_t nheap, heap_cap;
  uint64_t seq;

  size_t processing;
  bool shutting_down;
  sk_kube_wq_stats_t st;

  /* Driver (workqueue_loop.c); loop is NULL while detached. */
  uv_loop_t *loop;
  sk_kube_wq_driver_t drv;
  uv_idle_t idle;   /* runs a dispatch batch on the next loop iteration */
  uv_timer_t timer; /* fires when the earliest delayed key is due */
  int open_handles;
  bool drained_called;
  bool destroying;
};

int64_t sk__wq_now(const sk_kube_wq_t *q);
/* Moves every delayed item whose time has come into the queue. */
void sk__wq_promote_due(sk_kube_wq_t *q);
/* Tells the driver that the queue changed (no-op while detached). */
void sk__wq_poke(sk_kube_wq_t *q);
/* Frees every item and the tables (the driver's handles are its business). */
void sk__wq_free_items(sk_kube_wq_t *q);
void sk__wq_free(sk_kube_wq_t *q);
/* Closes the driver's handles; the last close frees q. */
void sk__wq_detach_and_free(sk_kube_wq_t *q);

#endif
