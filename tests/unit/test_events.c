/*
 * Tests for kube/events: the pure aggregator (aggregation window, spam
 * buckets, caps, names, LRU bounds, Event and patch bodies) on a fake
 * clock, and the recorder on a real loop against an in-memory API server
 * (fake_kube.h): coalescing, PATCH, re-create after 404, retries, drops,
 * the queue cap and destroy with a call in flight.
 */
#include <stdint.h>
#include <string.h>
#include <uv.h>

#include "fake_kube.h"
#include "kube/events.h"
#include "sk_test.h"
#include "util/error.h"
#include "util/strutil.h"

static const sk_kube_objref_t WF = {.api_version = "skein.dev/v1alpha1", .kind = "Workflow",
                                    .namespace = "ml", .name = "mnist-abc", .uid = "u-1"};
static const sk_kube_objref_t WF2 = {.api_version = "skein.dev/v1alpha1", .kind = "Workflow",
                                     .namespace = "ml", .name = "other", .uid = "u-2"};

#define T0 1700000000000ll

TEST(objref_from_object) {
  json_t *o = json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s}}", "apiVersion", "skein.dev/v1alpha1",
                        "kind", "Workflow", "metadata", "name", "wf", "namespace", "ml", "uid",
                        "abc", "resourceVersion", "7");
  sk_kube_objref_t r;
  REQUIRE(sk_kube_objref_from(o, &r) == 0);
  CHECK_STR(r.kind, "Workflow");
  CHECK_STR(r.name, "wf");
  CHECK_STR(r.namespace, "ml");
  CHECK_STR(r.uid, "abc");
  CHECK_STR(r.resource_version, "7");
  json_object_del(o, "kind");
  CHECK_INT(sk_kube_objref_from(o, &r), SK_EINVAL);
  json_decref(o);
}

TEST(aggregates_equal_events) {
  sk_kube_evagg_t *a = sk_kube_evagg_create(NULL);
  REQUIRE(a);
  sk_kube_evagg_result_t r;
  REQUIRE(sk_kube_evagg_record(a, &WF, SK_KUBE_EVENT_NORMAL, "StepStarted", "step train started",
                               T0, &r) == 0);
  CHECK_INT(r.action, SK_KUBE_EVAGG_CREATE);
  CHECK_INT(r.count, 1);
  CHECK_STR(r.namespace, "ml");
  char first[300];
  snprintf(first, sizeof(first), "%s", r.name);
  CHECK(strncmp(first, "mnist-abc.", 10) == 0);
  /* The same event a minute later: a PATCH of the same Event. */
  REQUIRE(sk_kube_evagg_record(a, &WF, SK_KUBE_EVENT_NORMAL, "StepStarted", "step train started",
                               T0 + 60000, &r) == 0);
  CHECK_INT(r.action, SK_KUBE_EVAGG_PATCH);
  CHECK_STR(r.name, first);
  CHECK_INT(r.count, 2);
  CHECK_INT(r.first_ms, T0);
  CHECK_INT(r.last_ms, T0 + 60000);
  /* Any difference in object, type, reason or message is another Event. */
  struct {
    const sk_kube_objref_t *o;
    sk_kube_evtype_t t;
    const char *reason, *msg;
  } diff[] = {
      {&WF2, SK_KUBE_EVENT_NORMAL, "StepStarted", "step train started"},
      {&WF, SK_KUBE_EVENT_WARNING, "StepStarted", "step train started"},
      {&WF, SK_KUBE_EVENT_NORMAL, "StepRetried", "step train started"},
      {&WF, SK_KUBE_EVENT_NORMAL, "StepStarted", "step eval started"},
  };
  for (size_t i = 0; i < sizeof(diff) / sizeof(diff[0]); i++) {
    REQUIRE(sk_kube_evagg_record(a, diff[i].o, diff[i].t, diff[i].reason, diff[i].msg,
                                 T0 + 61000, &r) == 0);
    if (r.action != SK_KUBE_EVAGG_CREATE || strcmp(r.name, first) == 0)
      FAILF("case %zu: action %d name %s, want a new Event", i, (int)r.action, r.name);
  }
  CHECK_INT(sk_kube_evagg_size(a), 5);
  sk_kube_evagg_destroy(a);
}

TEST(window_slides_from_last_occurrence) {
  sk_kube_evagg_t *a = sk_kube_evagg_create(NULL);
  REQUIRE(a);
  sk_kube_evagg_result_t r;
  sk_kube_evagg_record(a, &WF, SK_KUBE_EVENT_WARNING, "BackOff", "retrying", T0, &r);
  char first[300];
  snprintf(first, sizeof(first), "%s", r.name);
  /* Exactly the window later still aggregates, and moves the window. */
  sk_kube_evagg_record(a, &WF, SK_KUBE_EVENT_WARNING, "BackOff", "retrying", T0 + 600000, &r);
  CHECK_INT(r.action, SK_KUBE_EVAGG_PATCH);
  sk_kube_evagg_record(a, &WF, SK_KUBE_EVENT_WARNING, "BackOff", "retrying", T0 + 1200000, &r);
  CHECK_INT(r.action, SK_KUBE_EVAGG_PATCH);
  CHECK_INT(r.count, 3);
  /* More than the window after the last one: a new Event, count 1. */
  sk_kube_evagg_record(a, &WF, SK_KUBE_EVENT_WARNING, "BackOff", "retrying", T0 + 1800001, &r);
  CHECK_INT(r.action, SK_KUBE_EVAGG_CREATE);
  CHECK_INT(r.count, 1);
  CHECK(strcmp(r.name, first) != 0);
  CHECK_INT(r.first_ms, T0 + 1800001);
  sk_kube_evagg_destroy(a);
}

TEST(spam_filter_per_object) {
  sk_kube_evagg_t *a = sk_kube_evagg_create(NULL);
  REQUIRE(a);
  sk_kube_evagg_result_t r;
  char reason[32];
  int passed = 0;
  for (int i = 0; i < 30; i++) {
    snprintf(reason, sizeof(reason), "Reason%d", i);
    REQUIRE(sk_kube_evagg_record(a, &WF, SK_KUBE_EVENT_NORMAL, reason, "m", T0, &r) == 0);
    passed += r.action != SK_KUBE_EVAGG_FILTERED;
  }
  CHECK_INT(passed, 25);
  /* Another object has its own bucket. */
  sk_kube_evagg_record(a, &WF2, SK_KUBE_EVENT_NORMAL, "Reason0", "m", T0, &r);
  CHECK_INT(r.action, SK_KUBE_EVAGG_CREATE);
  /* One token every five minutes. */
  sk_kube_evagg_record(a, &WF, SK_KUBE_EVENT_NORMAL, "Late", "m", T0 + 299999, &r);
  CHECK_INT(r.action, SK_KUBE_EVAGG_FILTERED);
  sk_kube_evagg_record(a, &WF, SK_KUBE_EVENT_NORMAL, "Late", "m", T0 + 300000, &r);
  CHECK_INT(r.action, SK_KUBE_EVAGG_CREATE);
  sk_kube_evagg_record(a, &WF, SK_KUBE_EVENT_NORMAL, "Late", "m", T0 + 300000, &r);
  CHECK_INT(r.action, SK_KUBE_EVAGG_FILTERED);
  sk_kube_evagg_destroy(a);

  /* A retry loop repeating one event: aggregated ones spend tokens too. */
  a = sk_kube_evagg_create(NULL);
  REQUIRE(a);
  int creates = 0, patches = 0, filtered = 0;
  for (int i = 0; i < 100; i++) {
    sk_kube_evagg_record(a, &WF, SK_KUBE_EVENT_WARNING, "Failed", "boom", T0 + i, &r);
    creates += r.action == SK_KUBE_EVAGG_CREATE;
    patches += r.action == SK_KUBE_EVAGG_PATCH;
    filtered += r.action == SK_KUBE_EVAGG_FILTERED;
  }
  CHECK_INT(creates, 1);
  CHECK_INT(patches, 24);
  CHECK_INT(filtered, 75);
  sk_kube_evagg_destroy(a);

  /* spam_qps < 0 turns the filter off. */
  sk_kube_evagg_opts_t o = {.spam_qps = -1};
  a = sk_kube_evagg_create(&o);
  REQUIRE(a);
  for (int i = 0; i < 100; i++)
    sk_kube_evagg_record(a, &WF, SK_KUBE_EVENT_WARNING, "Failed", "boom", T0 + i, &r);
  CHECK_INT(r.action, SK_KUBE_EVAGG_PATCH);
  CHECK_INT(r.count, 100);
  sk_kube_evagg_destroy(a);
}

TEST(caps_and_cleaning) {
  sk_kube_evagg_opts_t o = {.spam_qps = -1};
  sk_kube_evagg_t *a = sk_kube_evagg_create(&o);
  REQUIRE(a);
  sk_kube_evagg_result_t r;
  /* 5000 bytes of two-byte characters: cut at 1 KiB on a boundary. */
  char big[5001];
  for (int i = 0; i < 5000; i += 2) {
    big[i] = (char)0xC3;
    big[i + 1] = (char)0xA9;
  }
  big[5000] = '\0';
  REQUIRE(sk_kube_evagg_record(a, &WF, SK_KUBE_EVENT_NORMAL, "Big", big, T0, &r) == 0);
  size_t n = strlen(r.message);
  CHECK(n <= SK_KUBE_EVENT_MAX_MESSAGE);
  CHECK(n > SK_KUBE_EVENT_MAX_MESSAGE - 16);
  CHECK(sk_utf8_valid(r.message, n, NULL));
  CHECK(strstr(r.message, "(cut)") != NULL);
  /* Invalid UTF-8 becomes '?', so the JSON body can be written. */
  REQUIRE(sk_kube_evagg_record(a, &WF, SK_KUBE_EVENT_NORMAL, "Bad", "a\xff" "b\xc3", T0, &r) == 0);
  CHECK_STR(r.message, "a?b?");
  char reason[300];
  memset(reason, 'R', sizeof(reason) - 1);
  reason[sizeof(reason) - 1] = '\0';
  REQUIRE(sk_kube_evagg_record(a, &WF, SK_KUBE_EVENT_NORMAL, reason, "", T0, &r) == 0);
  CHECK(strlen(r.reason) <= SK_KUBE_EVENT_MAX_REASON);
  /* Missing pieces. */
  sk_kube_objref_t noname = {.kind = "Workflow"};
  CHECK_INT(sk_kube_evagg_record(a, &noname, SK_KUBE_EVENT_NORMAL, "X", "", T0, &r), SK_EINVAL);
  CHECK_INT(sk_kube_evagg_record(a, &WF, SK_KUBE_EVENT_NORMAL, "", "", T0, &r), SK_EINVAL);
  CHECK_INT(sk_kube_evagg_record(a, &WF, SK_KUBE_EVENT_NORMAL, NULL, "", T0, &r), SK_EINVAL);
  sk_kube_evagg_destroy(a);
}

TEST(names_unique_and_bounded) {
  sk_kube_evagg_opts_t o = {.spam_qps = -1};
  sk_kube_evagg_t *a = sk_kube_evagg_create(&o);
  REQUIRE(a);
  sk_kube_evagg_result_t r;
  sk_kube_objref_t x = {.kind = "Workflow", .name = "x"};
  sk_kube_evagg_record(a, &x, SK_KUBE_EVENT_NORMAL, "A", "", 1, &r);
  CHECK_STR(r.name, "x.f4240"); /* 1 ms = 1000000 ns */
  CHECK_STR(r.namespace, "default"); /* cluster-scoped object */
  /* Two events in the same millisecond still get distinct, ordered names. */
  sk_kube_evagg_record(a, &x, SK_KUBE_EVENT_NORMAL, "B", "", 1, &r);
  CHECK_STR(r.name, "x.f4241");
  /* A 253-byte object name is cut, and the cut does not end in '-'. */
  char longname[254];
  memset(longname, 'a', 253);
  longname[253] = '\0';
  longname[235] = '-';
  sk_kube_objref_t l = {.kind = "Workflow", .name = longname, .namespace = "ml"};
  sk_kube_evagg_record(a, &l, SK_KUBE_EVENT_NORMAL, "A", "", T0, &r);
  /* Kubernetes checks names as subdomains by pattern and total length
   * (not per-label length): [a-z0-9] at both ends of each dot part. */
  size_t n = strlen(r.name);
  CHECK(n <= 253);
  const char *dot = strrchr(r.name, '.');
  REQUIRE(dot && dot > r.name);
  CHECK(dot[-1] != '-' && dot[-1] != '.');
  CHECK(strspn(r.name, "abcdefghijklmnopqrstuvwxyz0123456789-.") == n);
  sk_kube_evagg_destroy(a);
}

TEST(tables_are_bounded) {
  sk_kube_evagg_opts_t o = {.max_entries = 4};
  sk_kube_evagg_t *a = sk_kube_evagg_create(&o);
  REQUIRE(a);
  sk_kube_evagg_result_t r;
  char reason[16];
  for (int i = 0; i < 5; i++) {
    snprintf(reason, sizeof(reason), "R%d", i);
    sk_kube_evagg_record(a, &WF, SK_KUBE_EVENT_NORMAL, reason, "", T0, &r);
  }
  CHECK_INT(sk_kube_evagg_size(a), 4);
  /* R0 was the least recently used: forgotten, so it is created again. */
  sk_kube_evagg_record(a, &WF, SK_KUBE_EVENT_NORMAL, "R0", "", T0, &r);
  CHECK_INT(r.action, SK_KUBE_EVAGG_CREATE);
  /* R4 is still known. */
  sk_kube_evagg_record(a, &WF, SK_KUBE_EVENT_NORMAL, "R4", "", T0, &r);
  CHECK_INT(r.action, SK_KUBE_EVAGG_PATCH);
  /* Thousands of objects: the spam table stays bounded too (LSan checks
   * the evicted entries were freed). */
  char name[32];
  for (int i = 0; i < 5000; i++) {
    snprintf(name, sizeof(name), "wf-%d", i);
    sk_kube_objref_t o2 = {.kind = "Workflow", .name = name, .namespace = "ml"};
    sk_kube_evagg_record(a, &o2, SK_KUBE_EVENT_NORMAL, "A", "", T0, &r);
  }
  CHECK_INT(sk_kube_evagg_size(a), 4);
  sk_kube_evagg_destroy(a);
  sk_kube_evagg_opts_t bad = {.window_ms = -1};
  CHECK(sk_kube_evagg_create(&bad) == NULL);
}

TEST(event_and_patch_bodies) {
  sk_kube_evagg_t *a = sk_kube_evagg_create(NULL);
  REQUIRE(a);
  sk_kube_evagg_result_t r;
  sk_kube_evagg_record(a, &WF, SK_KUBE_EVENT_WARNING, "StepFailed", "step train failed: exit 1",
                       T0 + 123, &r);
  json_t *ev = sk_kube_event_build(&WF, SK_KUBE_EVENT_WARNING, &r, "skeind", "node-1");
  REQUIRE(ev);
  CHECK_STR(json_string_value(json_object_get(ev, "apiVersion")), "v1");
  CHECK_STR(json_string_value(json_object_get(ev, "kind")), "Event");
  json_t *meta = json_object_get(ev, "metadata");
  CHECK_STR(json_string_value(json_object_get(meta, "name")), r.name);
  CHECK_STR(json_string_value(json_object_get(meta, "namespace")), "ml");
  json_t *inv = json_object_get(ev, "involvedObject");
  CHECK_STR(json_string_value(json_object_get(inv, "kind")), "Workflow");
  CHECK_STR(json_string_value(json_object_get(inv, "name")), "mnist-abc");
  CHECK_STR(json_string_value(json_object_get(inv, "namespace")), "ml");
  CHECK_STR(json_string_value(json_object_get(inv, "uid")), "u-1");
  CHECK_STR(json_string_value(json_object_get(inv, "apiVersion")), "skein.dev/v1alpha1");
  CHECK(json_object_get(inv, "fieldPath") == NULL);
  CHECK_STR(json_string_value(json_object_get(ev, "type")), "Warning");
  CHECK_STR(json_string_value(json_object_get(ev, "reason")), "StepFailed");
  CHECK_STR(json_string_value(json_object_get(ev, "message")), "step train failed: exit 1");
  CHECK_INT(json_integer_value(json_object_get(ev, "count")), 1);
  CHECK_STR(json_string_value(json_object_get(ev, "firstTimestamp")), "2023-11-14T22:13:20.123Z");
  CHECK_STR(json_string_value(json_object_get(json_object_get(ev, "source"), "component")),
            "skeind");
  CHECK_STR(json_string_value(json_object_get(json_object_get(ev, "source"), "host")), "node-1");
  CHECK_STR(json_string_value(json_object_get(ev, "reportingComponent")), "skeind");
  CHECK_STR(json_string_value(json_object_get(ev, "reportingInstance")), "node-1");
  json_decref(ev);
  sk_kube_evagg_record(a, &WF, SK_KUBE_EVENT_WARNING, "StepFailed", "step train failed: exit 1",
                       T0 + 5000, &r);
  json_t *p = sk_kube_event_patch(&r);
  REQUIRE(p);
  CHECK_INT(json_object_size(p), 3);
  CHECK_INT(json_integer_value(json_object_get(p, "count")), 2);
  CHECK_STR(json_string_value(json_object_get(p, "lastTimestamp")), "2023-11-14T22:13:25Z");
  json_decref(p);
  /* A cluster-scoped object: the Event lives in "default", and its
   * involvedObject has no namespace. */
  sk_kube_objref_t node = {.api_version = "v1", .kind = "Node", .name = "n1"};
  sk_kube_evagg_record(a, &node, SK_KUBE_EVENT_NORMAL, "Seen", "", T0, &r);
  ev = sk_kube_event_build(&node, SK_KUBE_EVENT_NORMAL, &r, "skeind", NULL);
  REQUIRE(ev);
  CHECK_STR(json_string_value(json_object_get(json_object_get(ev, "metadata"), "namespace")),
            "default");
  CHECK(json_object_get(json_object_get(ev, "involvedObject"), "namespace") == NULL);
  json_decref(ev);
  sk_kube_evagg_destroy(a);
}

/* ---- the recorder on a real loop ---- */

static int64_t fake_now;
static int64_t fake_clock(void *arg) {
  (void)arg;
  return fake_now;
}

static void on_flushed(sk_kube_recorder_t *r, void *arg) { (*(int *)arg)++; }

static void on_guard(uv_timer_t *t) { *(int *)t->data = 1; }

/* Runs the loop until *flag >= want or ms pass; true on success. */
static int run_until(uv_loop_t *loop, const int *flag, int want, int64_t ms) {
  uv_timer_t guard;
  int expired = 0;
  uv_timer_init(loop, &guard);
  guard.data = &expired;
  uv_timer_start(&guard, on_guard, (uint64_t)ms, 0);
  while (*flag < want && !expired)
    uv_run(loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&guard, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
  return *flag >= want;
}

/* Records and waits until every write so far has finished. */
static int flush(uv_loop_t *loop, sk_kube_recorder_t *r) {
  int flushed = 0;
  if (sk_kube_recorder_flush(r, on_flushed, &flushed) < 0)
    return 0;
  return run_until(loop, &flushed, 1, 5000);
}

static json_t *stored_event(fake_kube_t *fk, const char *name) {
  return fake_get(fk, "events", "ml", name);
}

static int64_t count_of(json_t *ev) { return json_integer_value(json_object_get(ev, "count")); }

typedef struct {
  uv_loop_t loop;
  fake_kube_t fk;
  sk_kube_recorder_t *r;
} rig_t;

static int rig_init(rig_t *g, const sk_kube_recorder_opts_t *opts) {
  if (uv_loop_init(&g->loop) != 0)
    return 0;
  fake_init(&g->fk, &g->loop);
  sk_kube_caller_t caller;
  fake_caller(&g->fk, &caller);
  sk_kube_recorder_opts_t o = {0};
  if (opts)
    o = *opts;
  o.clock = fake_clock;
  o.host = "node-1";
  if (!o.retry_base_ms)
    o.retry_base_ms = 5;
  fake_now = T0;
  return sk_kube_recorder_create(&caller, &o, &g->r) == 0;
}

static void rig_teardown(rig_t *g) {
  sk_kube_recorder_destroy(g->r);
  uv_run(&g->loop, UV_RUN_DEFAULT);
  CHECK_INT(g->fk.pending, 0);
  fake_release(&g->fk);
  CHECK_INT(uv_loop_close(&g->loop), 0);
}

/* The name of the one Event stored, or NULL. */
static const char *only_event(fake_kube_t *fk) {
  return fk->nobjs == 1 ? json_string_value(json_object_get(
                              json_object_get(fk->objs[0].obj, "metadata"), "name"))
                        : NULL;
}

TEST(recorder_coalesces_patches_and_recreates) {
  static rig_t g;
  REQUIRE(rig_init(&g, NULL));
  sk_kube_recorder_stats_t st;
  /* Three equal events before the loop runs: one create with count 3. */
  for (int i = 0; i < 3; i++) {
    fake_now = T0 + i * 1000;
    CHECK_INT(sk_kube_recorder_event(g.r, &WF, SK_KUBE_EVENT_WARNING, "BackOff", "retrying"), 0);
  }
  CHECK_INT(g.fk.nlog, 0); /* nothing is sent from inside record */
  REQUIRE(flush(&g.loop, g.r));
  CHECK_INT(fake_count(&g.fk, SK_KUBE_CREATE), 1);
  REQUIRE(only_event(&g.fk));
  char name[300];
  snprintf(name, sizeof(name), "%s", only_event(&g.fk)); /* the store replaces its objects */
  json_t *ev = stored_event(&g.fk, name);
  CHECK_INT(count_of(ev), 3);
  CHECK_STR(json_string_value(json_object_get(ev, "firstTimestamp")), "2023-11-14T22:13:20Z");
  CHECK_STR(json_string_value(json_object_get(ev, "lastTimestamp")), "2023-11-14T22:13:22Z");
  sk_kube_recorder_stats(g.r, &st);
  CHECK_INT(st.created, 1);
  CHECK_INT(st.coalesced, 2);
  CHECK_INT(st.queued, 0);

  /* Once created, the next one is a PATCH of count and lastTimestamp. */
  fake_now = T0 + 60000;
  sk_kube_recorder_event(g.r, &WF, SK_KUBE_EVENT_WARNING, "BackOff", "retrying");
  REQUIRE(flush(&g.loop, g.r));
  CHECK_INT(fake_count(&g.fk, SK_KUBE_PATCH), 1);
  json_t *patch = g.fk.log[g.fk.nlog - 1].body;
  CHECK_INT(json_object_size(patch), 3);
  CHECK_INT(count_of(patch), 4);
  ev = stored_event(&g.fk, name);
  CHECK_INT(count_of(ev), 4);
  CHECK_STR(json_string_value(json_object_get(ev, "lastTimestamp")), "2023-11-14T22:14:20Z");
  CHECK_STR(json_string_value(json_object_get(ev, "reason")), "BackOff");

  /* The Event expired on the server: the PATCH's 404 turns into a create. */
  char key[320];
  snprintf(key, sizeof(key), "events/ml/%s", name);
  fake_delete(&g.fk, key);
  fake_now = T0 + 120000;
  sk_kube_recorder_event(g.r, &WF, SK_KUBE_EVENT_WARNING, "BackOff", "retrying");
  REQUIRE(flush(&g.loop, g.r));
  CHECK_INT(fake_count(&g.fk, SK_KUBE_PATCH), 2);
  CHECK_INT(fake_count(&g.fk, SK_KUBE_CREATE), 2);
  ev = stored_event(&g.fk, name);
  REQUIRE(ev);
  CHECK_INT(count_of(ev), 5);
  sk_kube_recorder_stats(g.r, &st);
  CHECK_INT(st.created, 2);
  CHECK_INT(st.patched, 1);
  CHECK_INT(st.recorded, 5);
  rig_teardown(&g);
}

TEST(recorder_retries_then_drops) {
  static rig_t g;
  REQUIRE(rig_init(&g, NULL));
  sk_kube_recorder_stats_t st;
  /* Two 503s, then success. */
  g.fk.fail_next = 2;
  g.fk.fail_code = 503;
  sk_kube_recorder_event(g.r, &WF, SK_KUBE_EVENT_NORMAL, "Started", "a");
  REQUIRE(flush(&g.loop, g.r));
  sk_kube_recorder_stats(g.r, &st);
  CHECK_INT(st.retried, 2);
  CHECK_INT(st.created, 1);
  CHECK_INT(g.fk.nobjs, 1);
  /* A refusal that retrying cannot fix: dropped at once. */
  g.fk.fail_next = 1;
  g.fk.fail_code = 400;
  sk_kube_recorder_event(g.r, &WF, SK_KUBE_EVENT_NORMAL, "Started", "b");
  REQUIRE(flush(&g.loop, g.r));
  sk_kube_recorder_stats(g.r, &st);
  CHECK_INT(st.dropped, 1);
  CHECK_INT(st.retried, 2);
  /* The server keeps failing: three tries, then dropped; later events
   * still go out. */
  g.fk.fail_all = 1;
  g.fk.fail_code = 0; /* a transport error */
  sk_kube_recorder_event(g.r, &WF, SK_KUBE_EVENT_NORMAL, "Started", "c");
  REQUIRE(flush(&g.loop, g.r));
  sk_kube_recorder_stats(g.r, &st);
  CHECK_INT(st.dropped, 2);
  CHECK_INT(st.retried, 4);
  g.fk.fail_all = 0;
  sk_kube_recorder_event(g.r, &WF, SK_KUBE_EVENT_NORMAL, "Started", "d");
  REQUIRE(flush(&g.loop, g.r));
  CHECK_INT(g.fk.nobjs, 2);
  rig_teardown(&g);
}

TEST(recorder_spam_filter_and_queue_cap) {
  static rig_t g;
  sk_kube_recorder_opts_t o = {.max_queue = 5};
  REQUIRE(rig_init(&g, &o));
  sk_kube_recorder_stats_t st;
  char reason[32];
  /* A flood about one object: 25 pass, the rest are filtered. */
  for (int i = 0; i < 40; i++) {
    snprintf(reason, sizeof(reason), "R%d", i);
    sk_kube_recorder_event(g.r, &WF, SK_KUBE_EVENT_NORMAL, reason, "");
  }
  sk_kube_recorder_stats(g.r, &st);
  CHECK_INT(st.filtered, 15);
  /* Only five writes wait at a time; the rest are dropped, not queued. */
  CHECK_INT(st.queued, 5);
  CHECK_INT(st.dropped, 20);
  REQUIRE(flush(&g.loop, g.r));
  CHECK_INT(g.fk.nobjs, 5);
  /* Calls hang: destroy with one in flight and more queued. */
  g.fk.hold = 1;
  for (int i = 0; i < 3; i++) {
    char n[16];
    snprintf(n, sizeof(n), "wf-%d", i);
    sk_kube_objref_t obj = {.kind = "Workflow", .name = n, .namespace = "ml"};
    sk_kube_recorder_event(g.r, &obj, SK_KUBE_EVENT_NORMAL, "A", "");
  }
  uv_run(&g.loop, UV_RUN_NOWAIT);
  CHECK_INT(g.fk.pending, 3); /* three Events, so three writes at once */
  int flushed = 0;
  CHECK_INT(sk_kube_recorder_flush(g.r, on_flushed, &flushed), 0);
  CHECK_INT(sk_kube_recorder_flush(g.r, on_flushed, &flushed), SK_ESTATE);
  rig_teardown(&g);
  CHECK_INT(flushed, 0); /* destroy drops a pending flush */
}

/* The Event a log entry wrote. */
static const char *logged_event(const fake_log_t *l) { return l->name ? l->name : ""; }

/* Whether an Event about the object named is stored. */
static bool stored_about(fake_kube_t *fk, const char *obj_name) {
  for (size_t i = 0; i < fk->nobjs; i++) {
    json_t *io = json_object_get(fk->objs[i].obj, "involvedObject");
    const char *n = json_string_value(json_object_get(io, "name"));
    if (n && strcmp(n, obj_name) == 0)
      return true;
  }
  return false;
}

/* Writes of different Events overlap, up to max_in_flight; the writes of
 * one Event never do, and go out in order, so counts only grow. */
TEST(recorder_writes_in_parallel_one_per_event) {
  static rig_t g;
  sk_kube_recorder_opts_t o = {.max_in_flight = 3};
  REQUIRE(rig_init(&g, &o));
  g.fk.delay_ms = 5;
  sk_kube_objref_t objs[8];
  char names[8][16];
  for (int i = 0; i < 8; i++) {
    snprintf(names[i], sizeof(names[i]), "wf-%d", i);
    objs[i] = (sk_kube_objref_t){.kind = "Workflow", .name = names[i], .namespace = "ml",
                                 .uid = "u"};
  }
  /* Each object's Event is created, then patched while the create may
   * still be in flight, four rounds over. */
  for (int round = 0; round < 4; round++) {
    for (int i = 0; i < 8; i++) {
      fake_now = T0 + round * 1000;
      CHECK_INT(sk_kube_recorder_event(g.r, &objs[i], SK_KUBE_EVENT_WARNING, "BackOff", "x"), 0);
    }
    uv_run(&g.loop, UV_RUN_NOWAIT);
  }
  REQUIRE(flush(&g.loop, g.r));
  CHECK_INT(g.fk.max_pending, 3);
  CHECK_INT(g.fk.nobjs, 8);
  for (size_t i = 0; i < g.fk.nobjs; i++)
    CHECK_INT(count_of(g.fk.objs[i].obj), 4);
  /* Per Event: the first write is the create, and the counts it carried
   * never go down. */
  for (size_t i = 0; i < g.fk.nlog; i++) {
    const char *ev = logged_event(&g.fk.log[i]);
    int64_t last = -1;
    bool first = true;
    for (size_t j = 0; j < g.fk.nlog; j++) {
      if (strcmp(logged_event(&g.fk.log[j]), ev) != 0)
        continue;
      if (first && g.fk.log[j].verb != SK_KUBE_CREATE)
        FAILF("the first write of %s is not its create", ev);
      first = false;
      int64_t n = count_of(g.fk.log[j].body);
      if (n < last)
        FAILF("the writes of %s carried count %lld after %lld", ev, (long long)n,
              (long long)last);
      last = n;
    }
  }
  rig_teardown(&g);
}

/* A write waiting out a retry holds back its own Event only. */
TEST(recorder_retry_holds_back_its_event_only) {
  static rig_t g;
  sk_kube_recorder_opts_t o = {.retry_base_ms = 2000};
  REQUIRE(rig_init(&g, &o));
  /* Many Events fail at once (more than a pass could once hold back),
   * then wait out their retries. */
  enum { NSLOW = 80 };
  g.fk.fail_next = NSLOW;
  g.fk.fail_code = 503;
  sk_kube_objref_t slow = {.kind = "Workflow", .name = "slow", .namespace = "ml", .uid = "u"};
  sk_kube_recorder_event(g.r, &slow, SK_KUBE_EVENT_NORMAL, "A", "first");
  static char names[NSLOW][16];
  for (int i = 1; i < NSLOW; i++) {
    snprintf(names[i], sizeof(names[i]), "slow-%d", i);
    sk_kube_objref_t other = {.kind = "Workflow", .name = names[i], .namespace = "ml",
                              .uid = "u"};
    sk_kube_recorder_event(g.r, &other, SK_KUBE_EVENT_NORMAL, "A", "first");
  }
  uv_timer_t guard;
  int expired = 0;
  uv_timer_init(&g.loop, &guard);
  guard.data = &expired;
  uv_timer_start(&guard, on_guard, 5000, 0);
  while (g.fk.nlog < NSLOW && !expired)
    uv_run(&g.loop, UV_RUN_ONCE);
  sk_kube_recorder_event(g.r, &WF, SK_KUBE_EVENT_NORMAL, "B", "");
  sk_kube_recorder_event(g.r, &slow, SK_KUBE_EVENT_NORMAL, "A", "first");
  while (!stored_about(&g.fk, WF.name) && !expired)
    uv_run(&g.loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&guard, NULL);
  /* B went out while the others' creates wait 1-2 s for their retries. */
  CHECK(stored_about(&g.fk, WF.name));
  CHECK(!stored_about(&g.fk, "slow"));
  CHECK_INT(g.fk.nobjs, 1);
  REQUIRE(flush(&g.loop, g.r));
  sk_kube_recorder_stats_t st;
  sk_kube_recorder_stats(g.r, &st);
  CHECK_INT(st.retried, NSLOW);
  CHECK_INT(st.coalesced, 1);
  CHECK_INT(g.fk.nobjs, NSLOW + 1);
  /* The retried create carries the count recorded while it waited. */
  CHECK(stored_about(&g.fk, "slow"));
  for (size_t i = 0; i < g.fk.nobjs; i++)
    if (strcmp(json_string_value(json_object_get(json_object_get(g.fk.objs[i].obj,
                                                                 "involvedObject"),
                                                 "name")),
               "slow") == 0)
      CHECK_INT(count_of(g.fk.objs[i].obj), 2);
  rig_teardown(&g);
}

TEST(recorder_eventf_and_bad_input) {
  static rig_t g;
  REQUIRE(rig_init(&g, NULL));
  CHECK_INT(sk_kube_recorder_eventf(g.r, &WF, SK_KUBE_EVENT_NORMAL, "StepSucceeded",
                                    "step %s finished in %d s", "train", 42),
            0);
  /* A message far over the cap is cut, not refused. */
  char big[6000];
  memset(big, 'x', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  CHECK_INT(sk_kube_recorder_eventf(g.r, &WF, SK_KUBE_EVENT_NORMAL, "Big", "%s", big), 0);
  sk_kube_objref_t noname = {.kind = "Workflow"};
  CHECK_INT(sk_kube_recorder_event(g.r, &noname, SK_KUBE_EVENT_NORMAL, "X", ""), SK_EINVAL);
  REQUIRE(flush(&g.loop, g.r));
  CHECK_INT(g.fk.nobjs, 2);
  int found = 0;
  for (size_t i = 0; i < g.fk.nobjs; i++) {
    const char *m = json_string_value(json_object_get(g.fk.objs[i].obj, "message"));
    if (m && strcmp(m, "step train finished in 42 s") == 0)
      found++;
    if (m && strlen(m) > SK_KUBE_EVENT_MAX_MESSAGE)
      FAILF("message of %zu bytes stored", strlen(m));
  }
  CHECK_INT(found, 1);
  rig_teardown(&g);
  /* Bad options. */
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  fake_kube_t fk;
  fake_init(&fk, &loop);
  sk_kube_caller_t caller;
  fake_caller(&fk, &caller);
  sk_kube_recorder_t *r = NULL;
  sk_kube_recorder_opts_t o = {.agg = {.window_ms = -5}};
  CHECK_INT(sk_kube_recorder_create(&caller, &o, &r), SK_EINVAL);
  CHECK(r == NULL);
  sk_kube_recorder_destroy(NULL);
  CHECK_INT(uv_loop_close(&loop), 0);
}

int main(void) {
  RUN(objref_from_object);
  RUN(aggregates_equal_events);
  RUN(window_slides_from_last_occurrence);
  RUN(spam_filter_per_object);
  RUN(caps_and_cleaning);
  RUN(names_unique_and_bounded);
  RUN(tables_are_bounded);
  RUN(event_and_patch_bodies);
  RUN(recorder_coalesces_patches_and_recreates);
  RUN(recorder_retries_then_drops);
  RUN(recorder_spam_filter_and_queue_cap);
  RUN(recorder_writes_in_parallel_one_per_event);
  RUN(recorder_retry_holds_back_its_event_only);
  RUN(recorder_eventf_and_bad_input);
  return TEST_DONE();
}
