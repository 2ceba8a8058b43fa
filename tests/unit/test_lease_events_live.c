/*
 * Leader election and the event recorder against a real kube-apiserver,
 * through the real client (kube.h) rather than the in-memory fake.
 *
 * It needs a cluster, so as a unit test it only checks that it is wired and
 * skips; tests/e2e/test_lease_events.sh starts a cluster and runs it with
 * SKEIN_TEST_KUBECONFIG set. What it proves that the fake cannot: the
 * apiserver accepts our Lease bodies (MicroTime format, resourceVersion
 * preconditions, 409 on a race), our Event bodies and merge patches, and
 * lists them back as kubectl would see them.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "kube/events.h"
#include "kube/kube.h"
#include "kube/lease.h"
#include "sk_test.h"
#include "util/error.h"
#include "util/timeutil.h"

static uv_loop_t loop;
static sk_kube_client_t *client;
static char ns[64];

static void on_guard(uv_timer_t *t) { *(int *)t->data = 1; }

/* Runs the loop until *flag >= want or ms pass; true on success. */
static int run_until(const int *flag, int want, int64_t ms) {
  uv_timer_t guard;
  int expired = 0;
  uv_timer_init(&loop, &guard);
  guard.data = &expired;
  uv_timer_start(&guard, on_guard, (uint64_t)ms, 0);
  while (*flag < want && !expired)
    uv_run(&loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&guard, NULL);
  uv_run(&loop, UV_RUN_NOWAIT);
  return *flag >= want;
}

typedef struct {
  int done;
  int err;
  json_t *body;
} got_t;

static void on_got(const sk_kube_result_t *r, void *arg) {
  got_t *g = arg;
  g->err = r->err;
  json_decref(g->body);
  g->body = r->body ? json_incref(r->body) : NULL;
  if (r->err)
    printf("  call failed: %s (%ld %s)\n", sk_strerror(r->err), r->code,
           r->message ? r->message : "");
  g->done++;
}

/* A blocking call for the test's own checks; 0 or the SK_E* code. */
static int call_sync(sk_kube_verb_t verb, const sk_kube_ref_t *ref, const json_t *body,
                     json_t **out) {
  got_t g = {0};
  int rc = sk_kube_call(client, verb, ref, body, NULL, on_got, &g, NULL);
  if (rc < 0)
    return rc;
  if (!run_until(&g.done, 1, 20000))
    return SK_ETIMEDOUT;
  if (out)
    *out = g.body;
  else
    json_decref(g.body);
  return g.err;
}

/* ---- lease ---- */

typedef struct {
  sk_kube_elector_t *e;
  int started, stopped, released;
} cand_t;

static int leaders;

static void cb_started(sk_kube_elector_t *e, void *arg) {
  ((cand_t *)arg)->started++;
  if (++leaders > 1)
    FAILF("two leaders at once");
}
static void cb_stopped(sk_kube_elector_t *e, void *arg) {
  ((cand_t *)arg)->stopped++;
  leaders--;
}
static void cb_released(sk_kube_elector_t *e, void *arg) { ((cand_t *)arg)->released++; }

static int make(cand_t *c, const char *id) {
  sk_kube_caller_t caller;
  sk_kube_caller_client(&caller, client);
  sk_kube_elector_opts_t o = {.namespace = ns, .name = "skeind-test", .identity = id,
                              .timing = {2000, 1000, 200}, .on_started_leading = cb_started,
                              .on_stopped_leading = cb_stopped, .arg = c};
  char err[256];
  int rc = sk_kube_elector_create(&caller, &o, &c->e, err, sizeof(err));
  if (rc < 0)
    printf("  elector: %s\n", err);
  return rc == 0;
}

static json_t *get_lease(void) {
  sk_kube_ref_t ref = {{"coordination.k8s.io", "v1", "leases"}, ns, "skeind-test", NULL};
  json_t *l = NULL;
  return call_sync(SK_KUBE_GET, &ref, NULL, &l) == 0 ? l : NULL;
}

static const char *spec_str(json_t *l, const char *k) {
  return json_string_value(json_object_get(json_object_get(l, "spec"), k));
}

static long long spec_int(json_t *l, const char *k) {
  return json_integer_value(json_object_get(json_object_get(l, "spec"), k));
}

TEST(live_election) {
  cand_t a = {0}, b = {0}, c = {0};
  leaders = 0;
  REQUIRE(make(&a, "live-a") && make(&b, "live-b"));
  /* Both race for a lease that does not exist: the apiserver lets one
   * create win and answers the other 409. */
  sk_kube_elector_start(a.e);
  sk_kube_elector_start(b.e);
  int either = 0;
  for (int64_t end = sk_time_mono_ms() + 10000; !either && sk_time_mono_ms() < end;) {
    uv_run(&loop, UV_RUN_ONCE);
    either = a.started + b.started;
  }
  REQUIRE(either == 1);
  cand_t *lead = a.started ? &a : &b, *other = a.started ? &b : &a;
  /* The loser waits; the leader renews (the record's renewTime moves, in
   * the apiserver's MicroTime format). */
  json_t *l1 = get_lease();
  REQUIRE(l1);
  CHECK_STR(spec_str(l1, "holderIdentity"), lead == &a ? "live-a" : "live-b");
  CHECK_INT(spec_int(l1, "leaseDurationSeconds"), 2);
  CHECK_INT(spec_int(l1, "leaseTransitions"), 0);
  const char *rt = spec_str(l1, "renewTime");
  CHECK(rt && strlen(rt) == 27 && rt[26] == 'Z');
  int never = 0;
  run_until(&never, 1, 700);
  json_t *l2 = get_lease();
  REQUIRE(l2);
  CHECK(strcmp(spec_str(l1, "renewTime"), spec_str(l2, "renewTime")) != 0);
  CHECK_INT(other->started, 0);
  json_decref(l1);
  json_decref(l2);
  /* A clean hand-over: release, the other takes it without waiting out the
   * lease. */
  int64_t t0 = sk_time_mono_ms();
  sk_kube_elector_stop(lead->e, true, cb_released, lead);
  CHECK(run_until(&other->started, 1, 5000));
  CHECK_INT(lead->released, 1);
  if (sk_time_mono_ms() - t0 > 1500)
    FAILF("hand-over took %lld ms", (long long)(sk_time_mono_ms() - t0));
  json_t *l3 = get_lease();
  REQUIRE(l3);
  CHECK_STR(spec_str(l3, "holderIdentity"), other == &a ? "live-a" : "live-b");
  CHECK_INT(spec_int(l3, "leaseTransitions"), 1);
  json_decref(l3);
  /* A crash of the new leader: a third candidate takes over after the
   * lease duration. */
  REQUIRE(make(&c, "live-c"));
  sk_kube_elector_start(c.e);
  run_until(&never, 1, 500);
  CHECK_INT(c.started, 0);
  sk_kube_elector_destroy(other->e);
  leaders--;
  CHECK(run_until(&c.started, 1, 8000));
  json_t *l4 = get_lease();
  REQUIRE(l4);
  CHECK_STR(spec_str(l4, "holderIdentity"), "live-c");
  CHECK_INT(spec_int(l4, "leaseTransitions"), 2);
  json_decref(l4);
  sk_kube_elector_destroy(lead->e);
  sk_kube_elector_destroy(c.e);
  uv_run(&loop, UV_RUN_NOWAIT);
}

/* ---- events ---- */

static void on_flushed(sk_kube_recorder_t *r, void *arg) { (*(int *)arg)++; }

/* Our Events in the namespace with this reason (new reference). */
static json_t *events_with(const char *reason) {
  sk_kube_ref_t ref = {{"", "v1", "events"}, ns, NULL, NULL};
  json_t *list = NULL, *out = json_array();
  if (call_sync(SK_KUBE_LIST, &ref, NULL, &list) == 0) {
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(list, "items"), i, ev) {
      const char *r = json_string_value(json_object_get(ev, "reason"));
      if (r && strcmp(r, reason) == 0)
        json_array_append(out, ev);
    }
  }
  json_decref(list);
  return out;
}

TEST(live_events) {
  sk_kube_caller_t caller;
  sk_kube_caller_client(&caller, client);
  sk_kube_recorder_t *r = NULL;
  sk_kube_recorder_opts_t o = {.host = "live-test"};
  REQUIRE(sk_kube_recorder_create(&caller, &o, &r) == 0);
  sk_kube_objref_t obj = {.api_version = "skein.dev/v1alpha1", .kind = "Workflow",
                          .namespace = ns, .name = "live-wf", .uid = "0000-live"};
  for (int i = 0; i < 3; i++)
    sk_kube_recorder_event(r, &obj, SK_KUBE_EVENT_WARNING, "LiveBackOff", "retrying step train");
  sk_kube_recorder_event(r, &obj, SK_KUBE_EVENT_NORMAL, "LiveStarted", "step \xc3\xa9val started");
  int flushed = 0;
  sk_kube_recorder_flush(r, on_flushed, &flushed);
  REQUIRE(run_until(&flushed, 1, 20000));
  json_t *evs = events_with("LiveBackOff");
  REQUIRE(json_array_size(evs) == 1);
  json_t *ev = json_array_get(evs, 0);
  CHECK_INT(json_integer_value(json_object_get(ev, "count")), 3);
  CHECK_STR(json_string_value(json_object_get(ev, "type")), "Warning");
  CHECK_STR(json_string_value(json_object_get(json_object_get(ev, "source"), "component")),
            "skeind");
  CHECK_STR(json_string_value(json_object_get(json_object_get(ev, "involvedObject"), "name")),
            "live-wf");
  json_decref(evs);
  /* Once it exists, the next equal event is a merge PATCH of the count. */
  sk_kube_recorder_event(r, &obj, SK_KUBE_EVENT_WARNING, "LiveBackOff", "retrying step train");
  flushed = 0;
  sk_kube_recorder_flush(r, on_flushed, &flushed);
  REQUIRE(run_until(&flushed, 1, 20000));
  evs = events_with("LiveBackOff");
  REQUIRE(json_array_size(evs) == 1);
  CHECK_INT(json_integer_value(json_object_get(json_array_get(evs, 0), "count")), 4);
  json_decref(evs);
  evs = events_with("LiveStarted");
  CHECK_INT(json_array_size(evs), 1);
  CHECK_STR(json_string_value(json_object_get(json_array_get(evs, 0), "message")),
            "step \xc3\xa9val started");
  json_decref(evs);
  sk_kube_recorder_stats_t st;
  sk_kube_recorder_stats(r, &st);
  CHECK_INT(st.created, 2);
  CHECK_INT(st.patched, 1);
  CHECK_INT(st.dropped, 0);
  sk_kube_recorder_destroy(r);
  uv_run(&loop, UV_RUN_NOWAIT);
}

int main(void) {
  const char *kc = getenv("SKEIN_TEST_KUBECONFIG");
  if (!kc || !kc[0]) {
    printf("skipped: set SKEIN_TEST_KUBECONFIG (tests/e2e/test_lease_events.sh does)\n");
    return TEST_DONE();
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  uv_loop_init(&loop);
  sk_kube_config_opts_t co = {.kubeconfig = kc};
  sk_kube_config_t *cfg = NULL;
  char err[512];
  if (sk_kube_config_load(&co, &cfg, err, sizeof(err)) < 0) {
    printf("kubeconfig: %s\n", err);
    return 1;
  }
  client = sk_kube_client_create(&loop, NULL, cfg, NULL);
  sk_kube_config_destroy(cfg);
  if (!client)
    return 1;
  /* A fresh namespace per run, so reruns against one cluster do not meet
   * the leases and events of the last. */
  snprintf(ns, sizeof(ns), "skein-live-%llx", (unsigned long long)sk_time_now_ms());
  json_t *nsobj = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Namespace",
                            "metadata", "name", ns);
  sk_kube_ref_t nsref = {{"", "v1", "namespaces"}, NULL, NULL, NULL};
  int rc = call_sync(SK_KUBE_CREATE, &nsref, nsobj, NULL);
  json_decref(nsobj);
  if (rc < 0) {
    printf("creating namespace %s: %s\n", ns, sk_strerror(rc));
    return 1;
  }
  RUN(live_election);
  RUN(live_events);
  sk_kube_client_destroy(client);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_INT(uv_loop_close(&loop), 0);
  curl_global_cleanup();
  return TEST_DONE();
}
