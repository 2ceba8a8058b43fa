/*
 * The work queue's loop driver: hands ready keys to the handler from the
 * libuv loop, at most `workers` at a time, and wakes up for delayed keys.
 *
 * Any change to the queue (an add, a done, a shutdown) starts an idle
 * handle, so the dispatch runs on the next loop iteration rather than
 * inside the caller: handlers never re-enter the code that added a key.
 * One iteration hands out at most DISPATCH_BATCH keys; if more are ready
 * and workers are free the idle handle stays on and the rest go out on the
 * following iterations, after the loop has polled for I/O. (An idle handle
 * rather than a zero-delay timer: libuv 1.44 runs a timer started from a
 * timer callback in the same pass, which would not yield.)
 */
#include "kube/workqueue-int.h"
#include "util/error.h"

#define DISPATCH_BATCH 64

static void dispatch(sk_kube_wq_t *q);
static void on_idle(uv_idle_t *h) { dispatch(h->data); }
static void on_timer(uv_timer_t *t) { dispatch(t->data); }

void sk__wq_poke(sk_kube_wq_t *q) {
  if (!q->loop || q->destroying)
    return;
  uv_idle_start(&q->idle, on_idle);
}

/* Arms the timer for the earliest delayed key, or stops it when none. */
static void arm_timer(sk_kube_wq_t *q) {
  int64_t due = sk_kube_wq_next_due(q);
  if (due == INT64_MAX) {
    uv_timer_stop(&q->timer);
    return;
  }
  int64_t delay = due - sk__wq_now(q);
  /* The queue's clock is the wall clock and uv's is monotonic; a timer that
   * fires a little early finds nothing due and is armed again. */
  uv_timer_start(&q->timer, on_timer, delay > 0 ? (uint64_t)delay : 0, 0);
}

static void dispatch(sk_kube_wq_t *q) {
  if (q->destroying)
    return;
  if (!q->shutting_down)
    sk__wq_promote_due(q);
  unsigned n = 0;
  while (q->processing < q->drv.workers && n < DISPATCH_BATCH) {
    const char *key;
    int64_t waited = 0;
    if (sk_kube_wq_get(q, &key, &waited) < 0)
      break;
    n++;
    if (q->drv.on_wait)
      q->drv.on_wait(waited, q->drv.arg);
    q->drv.handle(q, key, q->drv.arg);
    /* The handler may have destroyed the queue; its memory stays until the
     * handles have closed, but nothing else may be touched. */
    if (q->destroying)
      return;
  }
  if (q->processing < q->drv.workers && q->depth > 0)
    uv_idle_start(&q->idle, on_idle);
  else
    uv_idle_stop(&q->idle);
  arm_timer(q);
  if (q->shutting_down && !q->drained_called && q->processing == 0 && q->depth == 0) {
    q->drained_called = true;
    if (q->drv.on_drained)
      q->drv.on_drained(q, q->drv.arg);
  }
}

int sk_kube_wq_attach(sk_kube_wq_t *q, uv_loop_t *loop, const sk_kube_wq_driver_t *driver) {
  if (q->loop)
    return SK_ESTATE;
  if (!loop || !driver || !driver->handle)
    return SK_EINVAL;
  q->drv = *driver;
  if (q->drv.workers == 0)
    q->drv.workers = 1;
  int rc = uv_idle_init(loop, &q->idle);
  if (rc < 0)
    return SK_EIO;
  rc = uv_timer_init(loop, &q->timer);
  if (rc < 0) {
    /* The idle handle must still be closed before q can be freed. */
    q->loop = loop;
    q->open_handles = 1;
    q->idle.data = q;
    return SK_EIO;
  }
  q->idle.data = q;
  q->timer.data = q;
  q->loop = loop;
  q->open_handles = 2;
  sk__wq_poke(q);
  return 0;
}

static void on_close(uv_handle_t *h) {
  sk_kube_wq_t *q = h->data;
  if (--q->open_handles == 0)
    sk__wq_free(q);
}

void sk__wq_detach_and_free(sk_kube_wq_t *q) {
  if (q->destroying)
    return;
  q->destroying = true;
  int handles = q->open_handles;
  if (handles == 0) {
    sk__wq_free(q);
    return;
  }
  /* Items go now, so a late done() cannot find them; the struct goes with
   * the last handle. */
  sk__wq_free_items(q);
  uv_idle_stop(&q->idle);
  uv_close((uv_handle_t *)&q->idle, on_close);
  if (handles == 2) {
    uv_timer_stop(&q->timer);
    uv_close((uv_handle_t *)&q->timer, on_close);
  }
}
