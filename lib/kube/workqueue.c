/*
 * The work queue's pure core: keys, dedupe, the FIFO, the delay heap and
 * the rate limiter. Time comes only from the queue's clock, so everything
 * here runs the same under a fake clock in tests.
 */
#include <stdlib.h>
#include <string.h>

#include "kube/workqueue-int.h"
#include "util/backoff.h"
#include "util/error.h"
#include "util/strutil.h"
#include "util/timeutil.h"

static int64_t wall_clock(void *arg) {
  (void)arg;
  return sk_time_now_ms();
}

int64_t sk__wq_now(const sk_kube_wq_t *q) { return q->clock(q->clock_arg); }

/* ---- hash table ---- */

static uint64_t hash_key(const char *s, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

static sk__wq_item_t *find(const sk_kube_wq_t *q, const char *key, size_t n, uint64_t h) {
  for (sk__wq_item_t *it = q->buckets[h & (q->nbuckets - 1)]; it; it = it->hnext) {
    if (it->hash == h && it->klen == n && memcmp(it->key, key, n) == 0)
      return it;
  }
  return NULL;
}

static sk__wq_item_t *lookup(const sk_kube_wq_t *q, const char *key) {
  if (!key)
    return NULL;
  size_t n = strlen(key);
  return find(q, key, n, hash_key(key, n));
}

/* Doubles the table when it is as full as it is wide, so chains stay short. */
static int grow(sk_kube_wq_t *q) {
  size_t nb = q->nbuckets * 2;
  sk__wq_item_t **b = calloc(nb, sizeof(*b));
  if (!b)
    return SK_ENOMEM;
  for (size_t i = 0; i < q->nbuckets; i++) {
    sk__wq_item_t *it = q->buckets[i];
    while (it) {
      sk__wq_item_t *next = it->hnext;
      it->hnext = b[it->hash & (nb - 1)];
      b[it->hash & (nb - 1)] = it;
      it = next;
    }
  }
  free(q->buckets);
  q->buckets = b;
  q->nbuckets = nb;
  return 0;
}

/* Finds or makes the item for key. SK_EINVAL for an empty or oversized key. */
static int intern(sk_kube_wq_t *q, const char *key, sk__wq_item_t **out) {
  if (!key)
    return SK_EINVAL;
  size_t n = strnlen(key, SK_KUBE_WQ_MAX_KEY + 1);
  if (n == 0 || n > SK_KUBE_WQ_MAX_KEY)
    return SK_EINVAL;
  uint64_t h = hash_key(key, n);
  sk__wq_item_t *it = find(q, key, n, h);
  if (it) {
    *out = it;
    return 0;
  }
  if (q->nitems >= q->nbuckets && grow(q) < 0)
    return SK_ENOMEM;
  it = calloc(1, sizeof(*it));
  if (!it || !(it->key = sk_memdup_str(key, n))) {
    free(it);
    return SK_ENOMEM;
  }
  it->hash = h;
  it->klen = n;
  it->heap_idx = SK__WQ_NO_HEAP;
  it->hnext = q->buckets[h & (q->nbuckets - 1)];
  q->buckets[h & (q->nbuckets - 1)] = it;
  q->nitems++;
  *out = it;
  return 0;
}

/* Frees it when no state refers to it any more. */
static void release_if_unused(sk_kube_wq_t *q, sk__wq_item_t *it) {
  if (it->dirty || it->processing || it->heap_idx != SK__WQ_NO_HEAP || it->requeues)
    return;
  sk__wq_item_t **pp = &q->buckets[it->hash & (q->nbuckets - 1)];
  while (*pp != it)
    pp = &(*pp)->hnext;
  *pp = it->hnext;
  q->nitems--;
  free(it->key);
  free(it);
}

/* ---- delay heap ---- */

static bool earlier(const sk__wq_item_t *a, const sk__wq_item_t *b) {
  return a->due_ms < b->due_ms || (a->due_ms == b->due_ms && a->due_seq < b->due_seq);
}

static void heap_set(sk_kube_wq_t *q, size_t i, sk__wq_item_t *it) {
  q->heap[i] = it;
  it->heap_idx = i;
}

static void sift_up(sk_kube_wq_t *q, size_t i) {
  sk__wq_item_t *it = q->heap[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!earlier(it, q->heap[parent]))
      break;
    heap_set(q, i, q->heap[parent]);
    i = parent;
  }
  heap_set(q, i, it);
}

static void sift_down(sk_kube_wq_t *q, size_t i) {
  sk__wq_item_t *it = q->heap[i];
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    const sk__wq_item_t *best = it;
    if (l < q->nheap && earlier(q->heap[l], best)) {
      m = l;
      best = q->heap[l];
    }
    if (r < q->nheap && earlier(q->heap[r], best))
      m = r;
    if (m == i)
      break;
    heap_set(q, i, q->heap[m]);
    i = m;
  }
  heap_set(q, i, it);
}

static int heap_push(sk_kube_wq_t *q, sk__wq_item_t *it) {
  if (q->nheap == q->heap_cap) {
    size_t ncap = q->heap_cap ? q->heap_cap * 2 : 16;
    sk__wq_item_t **h = realloc(q->heap, ncap * sizeof(*h));
    if (!h)
      return SK_ENOMEM;
    q->heap = h;
    q->heap_cap = ncap;
  }
  q->heap[q->nheap] = it;
  it->heap_idx = q->nheap++;
  sift_up(q, it->heap_idx);
  return 0;
}

static void heap_remove(sk_kube_wq_t *q, sk__wq_item_t *it) {
  size_t i = it->heap_idx;
  it->heap_idx = SK__WQ_NO_HEAP;
  q->nheap--;
  if (i == q->nheap)
    return;
  heap_set(q, i, q->heap[q->nheap]);
  /* The moved item may belong above or below its new slot. */
  sift_up(q, i);
  sift_down(q, q->heap[i]->heap_idx);
}

/* ---- FIFO ---- */

static void fifo_push(sk_kube_wq_t *q, sk__wq_item_t *it) {
  it->qnext = NULL;
  it->queued = true;
  if (q->tail)
    q->tail->qnext = it;
  else
    q->head = it;
  q->tail = it;
  q->depth++;
}

static sk__wq_item_t *fifo_pop(sk_kube_wq_t *q) {
  sk__wq_item_t *it = q->head;
  if (!it)
    return NULL;
  q->head = it->qnext;
  if (!q->head)
    q->tail = NULL;
  it->qnext = NULL;
  it->queued = false;
  q->depth--;
  return it;
}

/* ---- the queue ---- */

sk_kube_wq_t *sk_kube_wq_create(const sk_kube_wq_opts_t *opts) {
  sk_kube_wq_opts_t o = {0};
  if (opts)
    o = *opts;
  sk_kube_wq_t *q = calloc(1, sizeof(*q));
  if (!q)
    return NULL;
  q->clock = o.clock ? o.clock : wall_clock;
  q->clock_arg = o.clock_arg;
  q->base_delay_ms = o.base_delay_ms > 0 ? o.base_delay_ms : 5;
  q->max_delay_ms = o.max_delay_ms > 0 ? o.max_delay_ms : 1000000;
  if (q->max_delay_ms < q->base_delay_ms)
    goto fail;
  double qps = o.qps == 0 ? 10 : o.qps;
  int burst = o.burst > 0 ? o.burst : 100;
  if (sk_ratelimit_init(&q->bucket, qps < 0 ? 0 : qps, burst, sk__wq_now(q)) < 0)
    goto fail;
  q->name = strdup(o.name ? o.name : "workqueue");
  q->nbuckets = 64;
  q->buckets = calloc(q->nbuckets, sizeof(*q->buckets));
  if (!q->name || !q->buckets)
    goto fail;
  return q;
fail:
  sk__wq_free(q);
  return NULL;
}

void sk__wq_free_items(sk_kube_wq_t *q) {
  for (size_t i = 0; q->buckets && i < q->nbuckets; i++) {
    sk__wq_item_t *it = q->buckets[i];
    while (it) {
      sk__wq_item_t *next = it->hnext;
      free(it->key);
      free(it);
      it = next;
    }
    q->buckets[i] = NULL;
  }
  q->nitems = 0;
  q->head = q->tail = NULL;
  q->depth = 0;
  q->nheap = 0;
  q->processing = 0;
}

void sk__wq_free(sk_kube_wq_t *q) {
  if (!q)
    return;
  sk__wq_free_items(q);
  free(q->buckets);
  free(q->heap);
  free(q->name);
  free(q);
}

void sk_kube_wq_destroy(sk_kube_wq_t *q) {
  if (!q)
    return;
  if (q->loop)
    sk__wq_detach_and_free(q);
  else
    sk__wq_free(q);
}

/* Marks it dirty and queues it unless a worker has it (done queues it). */
static void mark_dirty(sk_kube_wq_t *q, sk__wq_item_t *it) {
  if (it->dirty)
    return;
  it->dirty = true;
  it->added_ms = sk__wq_now(q);
  q->st.adds++;
  if (!it->processing)
    fifo_push(q, it);
}

int sk_kube_wq_add(sk_kube_wq_t *q, const char *key) {
  if (q->shutting_down)
    return SK_ECANCELED;
  sk__wq_item_t *it;
  int rc = intern(q, key, &it);
  if (rc < 0)
    return rc;
  mark_dirty(q, it);
  sk__wq_poke(q);
  return 0;
}

int sk_kube_wq_add_after(sk_kube_wq_t *q, const char *key, int64_t at_ms) {
  if (q->shutting_down)
    return SK_ECANCELED;
  if (at_ms <= sk__wq_now(q))
    return sk_kube_wq_add(q, key);
  sk__wq_item_t *it;
  int rc = intern(q, key, &it);
  if (rc < 0)
    return rc;
  if (it->heap_idx != SK__WQ_NO_HEAP) {
    if (at_ms < it->due_ms) {
      it->due_ms = at_ms;
      sift_up(q, it->heap_idx);
      sk__wq_poke(q);
    }
    return 0;
  }
  it->due_ms = at_ms;
  it->due_seq = q->seq++;
  rc = heap_push(q, it);
  if (rc < 0) {
    release_if_unused(q, it);
    return rc;
  }
  sk__wq_poke(q);
  return 0;
}

int sk_kube_wq_add_in(sk_kube_wq_t *q, const char *key, int64_t delay_ms) {
  int64_t now = sk__wq_now(q);
  return sk_kube_wq_add_after(q, key, delay_ms > INT64_MAX - now ? INT64_MAX : now + delay_ms);
}

int sk_kube_wq_add_rate_limited(sk_kube_wq_t *q, const char *key, int64_t *delay_ms) {
  if (q->shutting_down)
    return SK_ECANCELED;
  sk__wq_item_t *it;
  int rc = intern(q, key, &it);
  if (rc < 0)
    return rc;
  int64_t now = sk__wq_now(q);
  /* client-go's default controller limiter: the max of the per-item
   * exponential limiter and the bucket. Both count this call, as there. */
  int64_t d = sk_backoff_delay(q->base_delay_ms, 2.0, q->max_delay_ms, it->requeues);
  int64_t b = sk_ratelimit_reserve(&q->bucket, now);
  if (b > d)
    d = b;
  if (it->requeues < UINT32_MAX)
    it->requeues++;
  q->st.retries++;
  if (delay_ms)
    *delay_ms = d;
  return sk_kube_wq_add_after(q, key, now + d);
}

void sk_kube_wq_forget(sk_kube_wq_t *q, const char *key) {
  sk__wq_item_t *it = lookup(q, key);
  if (!it)
    return;
  it->requeues = 0;
  release_if_unused(q, it);
}

unsigned sk_kube_wq_num_requeues(const sk_kube_wq_t *q, const char *key) {
  const sk__wq_item_t *it = lookup(q, key);
  return it ? it->requeues : 0;
}

void sk__wq_promote_due(sk_kube_wq_t *q) {
  if (!q->nheap)
    return;
  int64_t now = sk__wq_now(q);
  while (q->nheap && q->heap[0]->due_ms <= now) {
    sk__wq_item_t *it = q->heap[0];
    heap_remove(q, it);
    mark_dirty(q, it);
  }
}

int sk_kube_wq_get(sk_kube_wq_t *q, const char **key, int64_t *latency_ms) {
  if (!q->shutting_down)
    sk__wq_promote_due(q);
  sk__wq_item_t *it = fifo_pop(q);
  if (!it)
    return q->shutting_down ? SK_ECANCELED : SK_ENOENT;
  int64_t now = sk__wq_now(q);
  int64_t lat = now > it->added_ms ? now - it->added_ms : 0;
  it->dirty = false;
  it->processing = true;
  it->taken_ms = now;
  q->processing++;
  q->st.gets++;
  q->st.latency_sum_ms += (uint64_t)lat;
  if (lat > q->st.latency_max_ms)
    q->st.latency_max_ms = lat;
  *key = it->key;
  if (latency_ms)
    *latency_ms = lat;
  return 0;
}

int sk_kube_wq_done(sk_kube_wq_t *q, const char *key) {
  sk__wq_item_t *it = lookup(q, key);
  if (!it || !it->processing)
    return SK_ENOENT;
  int64_t now = sk__wq_now(q);
  int64_t work = now > it->taken_ms ? now - it->taken_ms : 0;
  q->st.work_sum_ms += (uint64_t)work;
  if (work > q->st.work_max_ms)
    q->st.work_max_ms = work;
  it->processing = false;
  q->processing--;
  if (it->dirty)
    fifo_push(q, it);
  else
    release_if_unused(q, it);
  sk__wq_poke(q);
  return 0;
}

size_t sk_kube_wq_len(const sk_kube_wq_t *q) { return q->depth; }

int64_t sk_kube_wq_next_due(const sk_kube_wq_t *q) {
  return q->nheap ? q->heap[0]->due_ms : INT64_MAX;
}

void sk_kube_wq_shutdown(sk_kube_wq_t *q, bool drain) {
  q->shutting_down = true;
  while (q->nheap) {
    sk__wq_item_t *it = q->heap[q->nheap - 1];
    heap_remove(q, it);
    release_if_unused(q, it);
  }
  if (!drain) {
    sk__wq_item_t *it;
    while ((it = fifo_pop(q))) {
      it->dirty = false;
      release_if_unused(q, it);
    }
    /* A key in flight that was added again would be queued by its done;
     * dropping means that add is forgotten too. */
    for (size_t i = 0; i < q->nbuckets; i++) {
      for (it = q->buckets[i]; it; it = it->hnext) {
        if (it->processing)
          it->dirty = false;
      }
    }
  }
  sk__wq_poke(q);
}

bool sk_kube_wq_shutting_down(const sk_kube_wq_t *q) { return q->shutting_down; }

void sk_kube_wq_stats(const sk_kube_wq_t *q, sk_kube_wq_stats_t *out) {
  *out = q->st;
  out->depth = q->depth;
  out->waiting = q->nheap;
  out->processing = q->processing;
}

const char *sk_kube_wq_name(const sk_kube_wq_t *q) { return q->name; }
