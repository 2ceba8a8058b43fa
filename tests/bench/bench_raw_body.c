/*
 * What the raw controller writes: a status, a Pod and Events with the
 * fields skeind writes for a single-Pod Workflow (as read back from a
 * real run), so that both send bodies of the same size and the apiserver
 * validates and stores the same amount. Only the values differ (times,
 * names).
 */
#include <stdio.h>
#include <string.h>

#include "bench_raw.h"
#include "util/timeutil.h"

#define POD_OUTPUTS "/dev/termination-log"

static void stamp(int64_t ms, char *out, size_t outlen) {
  if (sk_time_format(ms, out, outlen) < 0)
    snprintf(out, outlen, "%s", "1970-01-01T00:00:00Z");
}

static void pod_name(const bench_t *b, int idx, char *out, size_t outlen) {
  char wf[BENCH_NAME_MAX];
  bench_wf_name(b, idx, wf, sizeof(wf));
  snprintf(out, outlen, "%s-s0-1", wf);
}

json_t *bench_raw_with_status(const bench_t *b, int idx, json_t *base, bool finished,
                              int64_t started_ms) {
  char pod[BENCH_NAME_MAX + 8], started[40], now[40];
  pod_name(b, idx, pod, sizeof(pod));
  stamp(started_ms, started, sizeof(started));
  stamp(sk_time_now_ms(), now, sizeof(now));
  const char *phase = finished ? "Succeeded" : "Running";
  json_t *step = json_pack("{s:s, s:s, s:i, s:s, s:s, s:{s:s, s:s}}", "name", "s0", "phase",
                           phase, "attempt", 1, "startedAt", started, "attemptStartedAt",
                           started, "ref", "kind", "Pod", "name", pod);
  json_t *status = json_pack("{s:s, s:i, s:s, s:s, s:s, s:[o]}", "phase", phase,
                             "observedGeneration", 1, "startedAt", started, "progress",
                             finished ? "1/1" : "0/1", "stepsPhase", phase, "steps", step);
  if (status && finished) {
    json_object_set_new(step, "finishedAt", json_string(now));
    json_object_set_new(status, "finishedAt", json_string(now));
    json_object_set_new(status, "duration", json_string("1s"));
    json_object_set_new(status, "conditions",
                        json_pack("[{s:s, s:s, s:s, s:s}]", "type", "Completed", "status",
                                  "True", "reason", "Succeeded", "lastTransitionTime", now));
  }
  /* A shallow copy, as skeind makes: the cached object is never changed. */
  json_t *copy = json_copy(base);
  if (!status || !copy || json_object_set_new(copy, "status", status) < 0) {
    json_decref(copy);
    return NULL;
  }
  return copy;
}

json_t *bench_raw_pod(const bench_t *b, int idx, json_t *wf) {
  char name[BENCH_NAME_MAX + 8], wfname[BENCH_NAME_MAX];
  pod_name(b, idx, name, sizeof(name));
  bench_wf_name(b, idx, wfname, sizeof(wfname));
  const char *uid =
      json_string_value(json_object_get(json_object_get(wf, "metadata"), "uid"));
  if (!uid)
    return NULL;
  return json_pack(
      "{s:s, s:s,"
      " s:{s:s, s:s, s:{s:s, s:s, s:s}, s:{s:s, s:s},"
      "    s:[{s:s, s:s, s:s, s:s, s:b, s:b}]},"
      " s:{s:s, s:[{s:s, s:s, s:[s], s:[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}, {s:s, s:s}],"
      "             s:s, s:s}]}}",
      "apiVersion", "v1", "kind", "Pod", "metadata", "name", name, "namespace", b->ns, "labels",
      BENCH_LABEL_WORKFLOW, wfname, BENCH_LABEL_STEP, "s0", "skein.dev/attempt", "1",
      "annotations", "skein.dev/workflow-uid", uid, "skein.dev/step", "s0", "ownerReferences",
      "apiVersion", "skein.dev/v1alpha1", "kind", "Workflow", "name", wfname, "uid", uid,
      "controller", 1, "blockOwnerDeletion", 1, "spec", "restartPolicy", "Never", "containers",
      "name", "main", "image", "busybox", "command", "true", "env", "name", "SKEIN_WORKFLOW",
      "value", wfname, "name", "SKEIN_STEP", "value", "s0", "name", "SKEIN_ATTEMPT", "value", "1",
      "name", "SKEIN_OUTPUTS", "value", POD_OUTPUTS, "terminationMessagePath", POD_OUTPUTS,
      "terminationMessagePolicy", "FallbackToLogsOnError");
}

json_t *bench_raw_event(bench_raw_t *r, int idx, bool finished, json_t *wf) {
  if (!wf)
    return NULL;
  sk_kube_objref_t ref;
  if (sk_kube_objref_from(wf, &ref) < 0)
    return NULL;
  /* client-go's names: "<object>.<hex nanoseconds>", unique in this run. */
  char name[BENCH_NAME_MAX + 24];
  int64_t now = sk_time_now_ms();
  snprintf(name, sizeof(name), "%s.%llx", ref.name,
           (unsigned long long)now * 1000000ULL + (unsigned long long)(r->event_seq++ % 1000000));
  sk_kube_evagg_result_t res = {0};
  res.action = SK_KUBE_EVAGG_CREATE;
  res.name = name;
  res.namespace = r->b->ns;
  res.reason = finished ? "WorkflowSucceeded" : "WorkflowRunning";
  res.message = finished ? "workflow succeeded" : "workflow started (steps done: 0/1)";
  res.count = 1;
  res.first_ms = res.last_ms = now;
  (void)idx;
  return sk_kube_event_build(&ref, SK_KUBE_EVENT_NORMAL, &res, "skein-bench-raw", "bench");
}
