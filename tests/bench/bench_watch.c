/*
 * The stopwatch: informers on the run's Workflows and Pods whose handlers
 * take the time of each event as it arrives. Pods are matched to their
 * Workflow and step by the labels skeind puts on them (and the raw
 * controller copies), so the tool needs no name scheme of skeind's.
 */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "util/error.h"

static const sk_kube_gvr_t k_wf_gvr = {"skein.dev", "v1alpha1", "workflows"};
static const sk_kube_gvr_t k_pod_gvr = {"", "v1", "pods"};

static const char *label(json_t *obj, const char *key) {
  return json_string_value(
      json_object_get(json_object_get(json_object_get(obj, "metadata"), "labels"), key));
}

static const char *phase_of(json_t *obj) {
  return json_string_value(json_object_get(json_object_get(obj, "status"), "phase"));
}

static const char *name_of(json_t *obj) {
  return json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
}

static void progress(bench_t *b, int64_t now) {
  if (b->quiet || b->start_us == 0 || now - b->last_progress_us < 5000000)
    return;
  b->last_progress_us = now;
  fprintf(stderr, "skein-bench: %.0f s: %d/%d created, %d/%d done\n",
          (double)(now - b->start_us) / 1e6, b->created, b->count, b->done, b->count);
}

static void pod_seen(sk_kube_informer_t *inf, json_t *obj, void *arg) {
  bench_t *b = arg;
  int64_t now = bench_now_us();
  int i = bench_wf_index(b, label(obj, BENCH_LABEL_WORKFLOW));
  int k = bench_step_index(label(obj, BENCH_LABEL_STEP));
  if (i < 0 || k < 0 || k >= b->steps)
    return;
  bench_wf_t *w = &b->wfs[i];
  if (w->pod_added_us[k] == 0)
    w->pod_added_us[k] = now;
  const char *phase = phase_of(obj);
  if (w->pod_done_us[k] == 0 && phase &&
      (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0)) {
    w->pod_done_us[k] = now;
    w->pod_failed[k] = strcmp(phase, "Failed") == 0;
  }
}

static void pod_update(sk_kube_informer_t *inf, json_t *old_obj, json_t *new_obj, void *arg) {
  pod_seen(inf, new_obj, arg);
}

/* When the status first shows each step Running: the first half of the
 * way from one step's end to the next step's Pod. */
static void steps_seen(bench_t *b, bench_wf_t *w, json_t *obj, int64_t now) {
  size_t n;
  json_t *rec;
  json_array_foreach(json_object_get(json_object_get(obj, "status"), "steps"), n, rec) {
    int k = bench_step_index(json_string_value(json_object_get(rec, "name")));
    const char *phase = json_string_value(json_object_get(rec, "phase"));
    if (k >= 0 && k < b->steps && w->step_running_us[k] == 0 && phase &&
        strcmp(phase, "Pending") != 0)
      w->step_running_us[k] = now;
  }
}

static void wf_seen(sk_kube_informer_t *inf, json_t *obj, void *arg) {
  bench_t *b = arg;
  int64_t now = bench_now_us();
  int i = bench_wf_index(b, name_of(obj));
  if (i < 0)
    return;
  bench_wf_t *w = &b->wfs[i];
  steps_seen(b, w, obj, now);
  const char *phase = phase_of(obj);
  if (w->wf_done_us != 0 || !phase)
    return;
  bool ok = strcmp(phase, "Succeeded") == 0;
  if (!ok && strcmp(phase, "Failed") != 0 && strcmp(phase, "Cancelled") != 0)
    return;
  w->wf_done_us = now;
  w->wf_failed = !ok;
  b->done++;
  if (!ok)
    b->failed++;
  b->last_done_us = now;
  progress(b, now);
  bench_maybe_finish(b);
}

static void wf_update(sk_kube_informer_t *inf, json_t *old_obj, json_t *new_obj, void *arg) {
  wf_seen(inf, new_obj, arg);
}

static void on_tick(uv_timer_t *t) {
  bench_t *b = t->data;
  int64_t now = bench_now_us();
  if (b->timeout_s > 0 && b->start_us > 0 && now - b->start_us > b->timeout_s * 1000000) {
    fprintf(stderr, "skein-bench: timed out after %ld s: %d/%d created, %d/%d done\n",
            b->timeout_s, b->created, b->count, b->done, b->count);
    b->timed_out = true;
    bench_stop(b);
    return;
  }
  progress(b, now);
  bench_load_tick(b);
  bench_maybe_finish(b);
}

int bench_watch_start(bench_t *b) {
  sk_kube_informer_opts_t wo = {0};
  wo.gvr = k_wf_gvr;
  wo.namespace = b->ns;
  wo.watch_timeout_min_s = 1800;
  wo.watch_timeout_max_s = 1800;
  /* As skeind's: less for this process to keep, the same for the API. */
  wo.strip_managed_fields = true;
  sk_kube_handlers_t wh = {wf_seen, wf_update, NULL, NULL, b};
  b->wf_inf = sk_kube_informer_create(b->client, &wo, &wh);
  sk_kube_informer_opts_t po = wo;
  po.gvr = k_pod_gvr;
  po.label_selector = BENCH_LABEL_WORKFLOW;
  sk_kube_handlers_t ph = {pod_seen, pod_update, NULL, NULL, b};
  b->pod_inf = sk_kube_informer_create(b->client, &po, &ph);
  if (!b->wf_inf || !b->pod_inf)
    return SK_ENOMEM;
  int rc;
  if ((rc = sk_kube_informer_start(b->pod_inf)) < 0 ||
      (rc = sk_kube_informer_start(b->wf_inf)) < 0)
    return rc;
  if (uv_timer_init(b->loop, &b->tick) < 0)
    return SK_EIO;
  b->tick_open = true;
  b->tick.data = b;
  /* Pacing, retries and the timeout: 5 ms is finer than any figure here. */
  uv_timer_start(&b->tick, on_tick, 5, 5);
  return 0;
}

bool bench_watch_synced(const bench_t *b) {
  return sk_kube_informer_has_synced(b->wf_inf) && sk_kube_informer_has_synced(b->pod_inf);
}

void bench_maybe_finish(bench_t *b) {
  if (b->finishing)
    return;
  bool all_ended = b->done + b->create_failures >= b->count && b->creates_inflight == 0 &&
                   b->nretry == 0 && b->next_create >= b->count;
  if (!all_ended)
    return;
  if (b->rawc && !bench_raw_idle(b->rawc))
    return; /* its last Events are still being written */
  bench_stop(b);
}

static void tick_closed(uv_handle_t *h) { (void)h; }

void bench_stop(bench_t *b) {
  if (b->finishing)
    return;
  b->finishing = true;
  if (b->rawc)
    bench_raw_stop(b->rawc);
  if (b->wf_inf)
    sk_kube_informer_stop(b->wf_inf);
  if (b->pod_inf)
    sk_kube_informer_stop(b->pod_inf);
  if (b->tick_open) {
    uv_timer_stop(&b->tick);
    uv_close((uv_handle_t *)&b->tick, tick_closed);
    b->tick_open = false;
  }
  uv_stop(b->loop);
}
