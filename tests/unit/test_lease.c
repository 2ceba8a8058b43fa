/*
 * Tests for kube/lease: the Lease record, timing checks, the pure decision
 * core (table cases and a simulated take-over on a fake clock), and the
 * elector on a real loop against an in-memory API server (fake_kube.h):
 * create, renew, release, take-over after a crash, renew failures, a hung
 * renewal, and a lease taken by someone else.
 */
#include <stdint.h>
#include <string.h>
#include <uv.h>

#include "fake_kube.h"
#include "kube/lease.h"
#include "sk_test.h"
#include "util/error.h"
#include "util/timeutil.h"

static const sk_kube_lease_timing_t T15 = {15000, 10000, 2000};

/* ---- record and timing ---- */

TEST(timing_defaults_and_checks) {
  char err[256];
  sk_kube_lease_timing_t t = {0};
  CHECK_INT(sk_kube_lease_timing_check(&t, err, sizeof(err)), 0);
  CHECK_INT(t.lease_duration_ms, 15000);
  CHECK_INT(t.renew_deadline_ms, 10000);
  CHECK_INT(t.retry_period_ms, 2000);
  sk_kube_lease_timing_t eq = {10000, 10000, 2000};
  CHECK_INT(sk_kube_lease_timing_check(&eq, err, sizeof(err)), SK_EINVAL);
  CHECK(strstr(err, "longer than the renew deadline") != NULL);
  sk_kube_lease_timing_t r12 = {15000, 2400, 2000}; /* exactly 1.2 x: not enough */
  CHECK_INT(sk_kube_lease_timing_check(&r12, err, sizeof(err)), SK_EINVAL);
  CHECK(strstr(err, "1.2 times the retry period") != NULL);
  sk_kube_lease_timing_t ok = {15000, 2401, 2000};
  CHECK_INT(sk_kube_lease_timing_check(&ok, err, sizeof(err)), 0);
  sk_kube_lease_timing_t frac = {1500, 1000, 100};
  CHECK_INT(sk_kube_lease_timing_check(&frac, err, sizeof(err)), SK_EINVAL);
  CHECK(strstr(err, "whole number of seconds") != NULL);
  sk_kube_lease_timing_t neg = {15000, 10000, -5};
  CHECK_INT(sk_kube_lease_timing_check(&neg, NULL, 0), SK_EINVAL);
}

TEST(record_parse_and_apply) {
  json_error_t je;
  json_t *l = json_loads(
      "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\","
      "\"metadata\":{\"name\":\"skeind\",\"namespace\":\"skein\",\"resourceVersion\":\"42\","
      "\"labels\":{\"a\":\"b\"}},"
      "\"spec\":{\"holderIdentity\":\"node-1_ab\",\"leaseDurationSeconds\":15,"
      "\"acquireTime\":\"2024-01-02T03:04:05.000000Z\",\"renewTime\":\"2024-01-02T03:04:07.250000Z\","
      "\"leaseTransitions\":3}}",
      0, &je);
  REQUIRE(l);
  sk_kube_lease_record_t r;
  REQUIRE(sk_kube_lease_record_parse(l, &r) == 0);
  CHECK_STR(r.holder, "node-1_ab");
  CHECK_INT(r.duration_s, 15);
  CHECK_INT(r.acquire_ms, 1704164645000);
  CHECK_INT(r.renew_ms, 1704164647250);
  CHECK_INT(r.transitions, 3);
  CHECK_STR(r.rv, "42");
  /* Write another record into the same object: labels stay. */
  sk_kube_lease_record_t w = {.holder = "me", .duration_s = 15, .acquire_ms = 1704164648678,
                              .renew_ms = 1704164648678, .transitions = 4, .rv = "42"};
  REQUIRE(sk_kube_lease_record_apply(l, &w) == 0);
  json_t *spec = json_object_get(l, "spec");
  CHECK_STR(json_string_value(json_object_get(spec, "holderIdentity")), "me");
  CHECK_STR(json_string_value(json_object_get(spec, "renewTime")), "2024-01-02T03:04:08.678000Z");
  CHECK_INT(json_integer_value(json_object_get(spec, "leaseTransitions")), 4);
  CHECK_STR(json_string_value(json_object_get(json_object_get(json_object_get(l, "metadata"),
                                                              "labels"),
                                              "a")),
            "b");
  sk_kube_lease_record_release(&r);
  json_decref(l);

  /* A bare Lease: defaults; not an object: an error. */
  json_t *bare = json_pack("{s:{s:s}}", "metadata", "name", "x");
  REQUIRE(sk_kube_lease_record_parse(bare, &r) == 0);
  CHECK_STR(r.holder, "");
  CHECK_INT(r.duration_s, 0);
  CHECK_INT(r.acquire_ms, -1);
  CHECK(r.rv == NULL);
  sk_kube_lease_record_release(&r);
  json_decref(bare);
  json_t *arr = json_array();
  CHECK_INT(sk_kube_lease_record_parse(arr, &r), SK_EINVAL);
  sk_kube_lease_record_release(&r);
  json_decref(arr);

  char buf[40];
  CHECK_INT(sk_kube_lease_format_micro(0, buf, sizeof(buf)), 0);
  CHECK_STR(buf, "1970-01-01T00:00:00.000000Z");
  CHECK_INT(sk_kube_lease_format_micro(1, buf, 10), SK_ETOOBIG);
}

TEST(default_identity) {
  char a[128], b[128];
  REQUIRE(sk_kube_lease_default_identity(a, sizeof(a)) == 0);
  REQUIRE(sk_kube_lease_default_identity(b, sizeof(b)) == 0);
  const char *us = strrchr(a, '_');
  REQUIRE(us != NULL);
  CHECK_INT(strlen(us + 1), 16);
  CHECK(strcmp(a, b) != 0);
}

/* ---- the decision core ---- */

static void rec_of(sk_kube_lease_record_t *r, const char *holder, int64_t dur_s, int64_t renew_ms,
                   int64_t transitions, const char *rv) {
  memset(r, 0, sizeof(*r));
  r->holder = (char *)holder;
  r->duration_s = dur_s;
  r->acquire_ms = renew_ms;
  r->renew_ms = renew_ms;
  r->transitions = transitions;
  r->rv = (char *)rv;
}

TEST(observe_tracks_local_change_only) {
  sk_kube_lease_state_t st;
  sk_kube_lease_state_init(&st);
  sk_kube_lease_record_t r;
  rec_of(&r, "other", 15, 111, 0, "5");
  CHECK_INT(sk_kube_lease_observe(&st, &r, 1000), 1);
  CHECK_INT(st.observed_at_ms, 1000);
  /* The same version seen later does not move the observation time. */
  CHECK_INT(sk_kube_lease_observe(&st, &r, 3000), 0);
  CHECK_INT(st.observed_at_ms, 1000);
  rec_of(&r, "other", 15, 222, 0, "6");
  CHECK_INT(sk_kube_lease_observe(&st, &r, 4000), 1);
  CHECK_INT(st.observed_at_ms, 4000);
  /* Without versions the fields decide. */
  rec_of(&r, "other", 15, 222, 0, NULL);
  CHECK_INT(sk_kube_lease_observe(&st, &r, 5000), 0);
  rec_of(&r, "other", 15, 333, 0, NULL);
  CHECK_INT(sk_kube_lease_observe(&st, &r, 6000), 1);
  /* Gone, then gone again. */
  CHECK_INT(sk_kube_lease_observe(&st, NULL, 7000), 1);
  CHECK(!st.exists);
  CHECK_INT(sk_kube_lease_observe(&st, NULL, 8000), 0);
  CHECK_INT(st.observed_at_ms, 7000);
  sk_kube_lease_state_release(&st);
}

#define DECIDE(st, now) sk_kube_lease_decide(&T15, "me", (st), (now), 1700000000000 + (now), &d)

TEST(decide_table) {
  sk_kube_lease_state_t st;
  sk_kube_lease_decision_t d;
  sk_kube_lease_record_t r;
  sk_kube_lease_state_init(&st);

  DECIDE(&st, 0);
  CHECK_INT(d.action, SK_KUBE_LEASE_CREATE);
  CHECK_STR(d.write.holder, "me");
  CHECK_INT(d.write.duration_s, 15);
  CHECK_INT(d.write.transitions, 0);
  CHECK_INT(d.write.renew_ms, 1700000000000);

  /* Held by another: wait, by our own observation time. */
  rec_of(&r, "other", 15, 1, 7, "10");
  sk_kube_lease_observe(&st, &r, 1000);
  DECIDE(&st, 5000);
  CHECK_INT(d.action, SK_KUBE_LEASE_WAIT);
  CHECK_INT(d.expires_ms, 16000);
  CHECK_INT(d.at_ms, 7000);
  DECIDE(&st, 15000);
  CHECK_INT(d.action, SK_KUBE_LEASE_WAIT);
  CHECK_INT(d.at_ms, 16000);
  DECIDE(&st, 16000);
  CHECK_INT(d.action, SK_KUBE_LEASE_ACQUIRE);
  CHECK_INT(d.write.transitions, 8);
  CHECK_STR(d.write.rv, "10");

  /* Clock skew: the record's renewTime says it expired an hour ago by its
   * writer's clock, but we saw it change just now: wait anyway. */
  rec_of(&r, "other", 15, 1700000000000 - 3600000, 7, "11");
  sk_kube_lease_observe(&st, &r, 20000);
  DECIDE(&st, 21000);
  CHECK_INT(d.action, SK_KUBE_LEASE_WAIT);
  /* ... and a renewTime far in the future does not extend it. */
  rec_of(&r, "other", 15, 1700000000000 + 86400000, 7, "12");
  sk_kube_lease_observe(&st, &r, 30000);
  DECIDE(&st, 45000);
  CHECK_INT(d.action, SK_KUBE_LEASE_ACQUIRE);

  /* Released: take it at once. */
  rec_of(&r, "", 1, 5, 8, "13");
  sk_kube_lease_observe(&st, &r, 50000);
  DECIDE(&st, 50000);
  CHECK_INT(d.action, SK_KUBE_LEASE_ACQUIRE);
  CHECK_INT(d.write.transitions, 9);

  /* A nonsense duration counts as expired. */
  rec_of(&r, "other", 0, 5, 8, "14");
  sk_kube_lease_observe(&st, &r, 60000);
  DECIDE(&st, 60000);
  CHECK_INT(d.action, SK_KUBE_LEASE_ACQUIRE);

  /* Our own record from before (a restart): take it back, same count. */
  rec_of(&r, "me", 15, 5, 9, "15");
  sk_kube_lease_observe(&st, &r, 70000);
  DECIDE(&st, 70000);
  CHECK_INT(d.action, SK_KUBE_LEASE_ACQUIRE);
  CHECK_INT(d.write.transitions, 9);

  /* Leading: renew, keeping acquireTime; stop past the renew deadline. */
  rec_of(&r, "me", 15, 123456, 9, "16");
  sk_kube_lease_wrote(&st, &r, 80000);
  CHECK(st.leading);
  DECIDE(&st, 82000);
  CHECK_INT(d.action, SK_KUBE_LEASE_RENEW);
  CHECK_INT(d.write.acquire_ms, 123456);
  CHECK_INT(d.write.renew_ms, 1700000082000);
  CHECK_INT(d.write.transitions, 9);
  CHECK_STR(d.write.rv, "16");
  DECIDE(&st, 89999);
  CHECK_INT(d.action, SK_KUBE_LEASE_RENEW);
  DECIDE(&st, 90000);
  CHECK_INT(d.action, SK_KUBE_LEASE_STOP);

  /* Leading, but a fresh read shows another holder: stop at once. */
  rec_of(&r, "me", 15, 5, 9, "17");
  sk_kube_lease_wrote(&st, &r, 100000);
  rec_of(&r, "thief", 15, 5, 10, "18");
  sk_kube_lease_observe(&st, &r, 100500);
  DECIDE(&st, 100500);
  CHECK_INT(d.action, SK_KUBE_LEASE_STOP);
  CHECK_STR(sk_kube_lease_action_name(d.action), "stop");

  /* Gone while we lead within the deadline (a renewal met 409, the
   * re-read 404, as the real API server answers): stop, never create it
   * and lead on; once stopped, create it again. */
  rec_of(&r, "me", 15, 5, 11, "19");
  sk_kube_lease_wrote(&st, &r, 100800);
  CHECK(st.leading);
  sk_kube_lease_observe(&st, NULL, 101000);
  DECIDE(&st, 101000);
  CHECK_INT(d.action, SK_KUBE_LEASE_STOP);
  CHECK_STR(d.why, "the lease was deleted");
  st.leading = false;
  DECIDE(&st, 101000);
  CHECK_INT(d.action, SK_KUBE_LEASE_CREATE);
  sk_kube_lease_state_release(&st);
}

/* Two candidates against a simulated store on one fake clock: A leads and
 * renews every 2 s, then dies; B, polling every 2 s, takes over only after
 * seeing the record unchanged for the lease duration, and never while A
 * could still believe it leads. */
typedef struct {
  const char *id;
  sk_kube_lease_state_t st;
  int alive;
} sim_t;

static int64_t store_rv;
static sk_kube_lease_record_t store;
static int store_exists;

static void sim_step(sim_t *c, int64_t now) {
  sk_kube_lease_decision_t d;
  if (!c->st.leading) /* a leader renews from its own write */
    sk_kube_lease_observe(&c->st, store_exists ? &store : NULL, now);
  sk_kube_lease_decide(&T15, c->id, &c->st, now, now, &d);
  if (d.action == SK_KUBE_LEASE_WAIT || d.action == SK_KUBE_LEASE_STOP) {
    if (d.action == SK_KUBE_LEASE_STOP)
      c->st.leading = false;
    return;
  }
  /* The write succeeds only on the version it was based on. */
  if (d.action == SK_KUBE_LEASE_CREATE ? store_exists
                                       : (!store_exists || strcmp(d.write.rv, store.rv) != 0))
    return;
  char rv[24];
  snprintf(rv, sizeof(rv), "%lld", (long long)++store_rv);
  sk_kube_lease_record_release(&store);
  store = d.write;
  store.holder = strdup(d.write.holder);
  store.rv = strdup(rv);
  store_exists = 1;
  sk_kube_lease_wrote(&c->st, &store, now);
}

TEST(simulated_takeover) {
  sim_t a = {.id = "a", .alive = 1}, b = {.id = "b", .alive = 1};
  sk_kube_lease_state_init(&a.st);
  sk_kube_lease_state_init(&b.st);
  store_rv = 0;
  store_exists = 0;
  memset(&store, 0, sizeof(store));
  int64_t a_last_renew = -1, b_leads_at = -1;
  for (int64_t now = 0; now <= 60000; now += 100) {
    if (a.alive && now % 2000 == 0) {
      sim_step(&a, now);
      if (a.st.leading)
        a_last_renew = a.st.renewed_at_ms;
    }
    if (now == 20000)
      a.alive = 0; /* A dies right after its renewal at 20 s */
    if (now % 2000 == 700) {
      sim_step(&b, now);
      if (b.st.leading && b_leads_at < 0)
        b_leads_at = now;
    }
    if (a.alive && a.st.leading && b.st.leading)
      FAILF("two leaders at %lld ms", (long long)now);
  }
  CHECK_INT(a_last_renew, 20000);
  /* B saw A's last change at 20.7 s and waited 15 s of its own time. */
  CHECK_INT(b_leads_at, 36700);
  CHECK_STR(store.holder, "b");
  CHECK_INT(store.transitions, 1);
  sk_kube_lease_state_release(&a.st);
  sk_kube_lease_state_release(&b.st);
  sk_kube_lease_record_release(&store);
}

/* ---- the elector on a real loop ---- */

/* Fast timing so the loop tests take about a second each. */
static const sk_kube_lease_timing_t FAST = {1000, 500, 100};

typedef struct {
  sk_kube_elector_t *e;
  int started, stopped, released;
  int64_t started_at, stopped_at;
  int new_leader;
} cand_t;

static int leaders_now; /* candidates leading at once, across all of them */
static int max_leaders;

static void cb_started(sk_kube_elector_t *e, void *arg) {
  cand_t *c = arg;
  CHECK(sk_kube_elector_is_leader(e));
  c->started++;
  c->started_at = sk_time_mono_ms();
  if (++leaders_now > max_leaders)
    max_leaders = leaders_now;
}

static void cb_stopped(sk_kube_elector_t *e, void *arg) {
  cand_t *c = arg;
  CHECK(!sk_kube_elector_is_leader(e));
  c->stopped++;
  c->stopped_at = sk_time_mono_ms();
  leaders_now--;
}

static void cb_new_leader(sk_kube_elector_t *e, const char *id, void *arg) {
  cand_t *c = arg;
  c->new_leader++;
}

static void cb_released(sk_kube_elector_t *e, void *arg) {
  cand_t *c = arg;
  c->released++;
}

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

/* Runs the loop for ms (to watch that nothing happens). */
static void run_for(uv_loop_t *loop, int64_t ms) {
  int never = 0;
  run_until(loop, &never, 1, ms);
}

static sk_kube_elector_t *make(fake_kube_t *fk, const char *id, cand_t *c) {
  sk_kube_caller_t caller;
  fake_caller(fk, &caller);
  sk_kube_elector_opts_t o = {.namespace = "skein", .name = "skeind", .identity = id,
                              .timing = FAST, .on_started_leading = cb_started,
                              .on_stopped_leading = cb_stopped, .on_new_leader = cb_new_leader,
                              .arg = c, .seed = 7};
  char err[256];
  sk_kube_elector_t *e = NULL;
  if (sk_kube_elector_create(&caller, &o, &e, err, sizeof(err)) < 0)
    printf("  create: %s\n", err);
  c->e = e;
  return e;
}

static json_t *stored(fake_kube_t *fk) { return fake_get(fk, "leases", "skein", "skeind"); }

static const char *stored_holder(fake_kube_t *fk) {
  return json_string_value(json_object_get(json_object_get(stored(fk), "spec"), "holderIdentity"));
}

static int64_t stored_int(fake_kube_t *fk, const char *field) {
  return json_integer_value(json_object_get(json_object_get(stored(fk), "spec"), field));
}

static void teardown(uv_loop_t *loop, fake_kube_t *fk) {
  uv_run(loop, UV_RUN_DEFAULT);
  CHECK_INT(fk->pending, 0);
  fake_release(fk);
  CHECK_INT(uv_loop_close(loop), 0);
}

TEST(elector_create_renew_release) {
  uv_loop_t loop;
  fake_kube_t fk;
  REQUIRE(uv_loop_init(&loop) == 0);
  fake_init(&fk, &loop);
  leaders_now = max_leaders = 0;
  cand_t a = {0};
  REQUIRE(make(&fk, "node-a_1", &a));
  CHECK_INT(sk_kube_elector_start(a.e), 0);
  CHECK_INT(sk_kube_elector_start(a.e), SK_ESTATE);
  CHECK(!sk_kube_elector_is_leader(a.e));
  CHECK(run_until(&loop, &a.started, 1, 3000));
  CHECK_STR(stored_holder(&fk), "node-a_1");
  CHECK_INT(stored_int(&fk, "leaseDurationSeconds"), 1);
  CHECK_INT(stored_int(&fk, "leaseTransitions"), 0);
  CHECK_STR(sk_kube_elector_leader(a.e), "node-a_1");
  CHECK_INT(fake_count(&fk, SK_KUBE_CREATE), 1);
  /* Renewals every retry period, each a PUT on the version just written,
   * without reading first. */
  int gets = fake_count(&fk, SK_KUBE_GET);
  run_for(&loop, 450);
  int puts = fake_count(&fk, SK_KUBE_UPDATE);
  if (puts < 3 || puts > 6)
    FAILF("%d renewals in 450 ms, want about 4", puts);
  CHECK_INT(fake_count(&fk, SK_KUBE_GET), gets);
  CHECK(sk_kube_elector_is_leader(a.e));
  CHECK_INT(a.stopped, 0);
  /* A clean stop: stopped-leading first, then the release write. */
  CHECK_INT(sk_kube_elector_stop(a.e, true, cb_released, &a), 0);
  CHECK_INT(sk_kube_elector_stop(a.e, true, cb_released, &a), SK_ESTATE);
  CHECK(run_until(&loop, &a.released, 1, 3000));
  CHECK_INT(a.stopped, 1);
  CHECK_STR(stored_holder(&fk), "");
  CHECK_INT(stored_int(&fk, "leaseDurationSeconds"), 1);
  CHECK_INT(stored_int(&fk, "leaseTransitions"), 0);
  int n = fake_count(&fk, -1);
  run_for(&loop, 300);
  CHECK_INT(fake_count(&fk, -1), n); /* quiet after the stop */
  CHECK_INT(max_leaders, 1);
  sk_kube_elector_destroy(a.e);
  teardown(&loop, &fk);
}

TEST(elector_takeover_after_crash_and_release) {
  uv_loop_t loop;
  fake_kube_t fk;
  REQUIRE(uv_loop_init(&loop) == 0);
  fake_init(&fk, &loop);
  leaders_now = max_leaders = 0;
  cand_t a = {0}, b = {0}, c = {0};
  REQUIRE(make(&fk, "a", &a));
  REQUIRE(make(&fk, "b", &b));
  sk_kube_elector_start(a.e);
  REQUIRE(run_until(&loop, &a.started, 1, 3000));
  sk_kube_elector_start(b.e);
  run_for(&loop, 600);
  CHECK_INT(b.started, 0);
  CHECK_STR(sk_kube_elector_leader(b.e), "a");
  /* A dies without a word (no release, no callbacks). */
  int64_t crash = sk_time_mono_ms();
  sk_kube_elector_destroy(a.e);
  leaders_now--;
  CHECK(run_until(&loop, &b.started, 1, 5000));
  int64_t waited = b.started_at - crash;
  /* B last saw a change at most one retry period before the crash and
   * must then see the record unchanged for the whole lease duration. */
  if (waited < 850 || waited > 2500)
    FAILF("B took over %lld ms after the crash, want about 1000-1400", (long long)waited);
  CHECK_STR(stored_holder(&fk), "b");
  CHECK_INT(stored_int(&fk, "leaseTransitions"), 1);
  CHECK_INT(stored_int(&fk, "leaseDurationSeconds"), 1);

  /* A third candidate waits; B releases; C takes over without waiting out
   * the lease. */
  REQUIRE(make(&fk, "c", &c));
  sk_kube_elector_start(c.e);
  run_for(&loop, 300);
  CHECK_INT(c.started, 0);
  int64_t rel = sk_time_mono_ms();
  sk_kube_elector_stop(b.e, true, cb_released, &b);
  CHECK(run_until(&loop, &c.started, 1, 3000));
  CHECK_INT(b.released, 1);
  if (c.started_at - rel > 700)
    FAILF("C took over %lld ms after the release, want within a retry or two",
          (long long)(c.started_at - rel));
  CHECK_STR(stored_holder(&fk), "c");
  CHECK_INT(stored_int(&fk, "leaseTransitions"), 2);
  CHECK_INT(max_leaders, 1);
  sk_kube_elector_destroy(b.e);
  sk_kube_elector_destroy(c.e);
  teardown(&loop, &fk);
}

TEST(elector_renew_failures_stop_at_deadline) {
  uv_loop_t loop;
  fake_kube_t fk;
  REQUIRE(uv_loop_init(&loop) == 0);
  fake_init(&fk, &loop);
  leaders_now = max_leaders = 0;
  cand_t a = {0};
  REQUIRE(make(&fk, "a", &a));
  sk_kube_elector_start(a.e);
  REQUIRE(run_until(&loop, &a.started, 1, 3000));
  /* The API server answers 500 from now on. */
  fk.fail_all = 1;
  fk.fail_code = 500;
  int64_t t0 = sk_time_mono_ms();
  CHECK(run_until(&loop, &a.stopped, 1, 3000));
  int64_t took = a.stopped_at - t0;
  if (took < 380 || took > 900)
    FAILF("stopped %lld ms after renewals began failing, want 400-500", (long long)took);
  /* Still failing: it keeps trying as a candidate but does not lead. */
  run_for(&loop, 300);
  CHECK_INT(a.started, 1);
  CHECK_INT(a.stopped, 1);
  /* Back to normal: the record still names A, so A takes it back. */
  fk.fail_all = 0;
  CHECK(run_until(&loop, &a.started, 2, 3000));
  CHECK_STR(stored_holder(&fk), "a");
  CHECK_INT(stored_int(&fk, "leaseTransitions"), 0);
  sk_kube_elector_destroy(a.e);
  teardown(&loop, &fk);
}

TEST(elector_hung_renewal_stops_at_deadline) {
  uv_loop_t loop;
  fake_kube_t fk;
  REQUIRE(uv_loop_init(&loop) == 0);
  fake_init(&fk, &loop);
  leaders_now = max_leaders = 0;
  cand_t a = {0};
  REQUIRE(make(&fk, "a", &a));
  sk_kube_elector_start(a.e);
  REQUIRE(run_until(&loop, &a.started, 1, 3000));
  /* Calls now hang: only the deadline timer can end leadership. */
  fk.hold = 1;
  int64_t t0 = sk_time_mono_ms();
  CHECK(run_until(&loop, &a.stopped, 1, 3000));
  if (a.stopped_at - t0 > 900)
    FAILF("stopped %lld ms after calls hung, want within the 500 ms deadline",
          (long long)(a.stopped_at - t0));
  fk.hold = 0;
  CHECK(run_until(&loop, &a.started, 2, 3000));
  CHECK(sk_kube_elector_is_leader(a.e));
  sk_kube_elector_destroy(a.e);
  teardown(&loop, &fk);
}

TEST(elector_lease_taken_stops_at_once) {
  uv_loop_t loop;
  fake_kube_t fk;
  REQUIRE(uv_loop_init(&loop) == 0);
  fake_init(&fk, &loop);
  leaders_now = max_leaders = 0;
  cand_t a = {0};
  REQUIRE(make(&fk, "a", &a));
  sk_kube_elector_start(a.e);
  REQUIRE(run_until(&loop, &a.started, 1, 3000));
  /* Someone overwrites the lease (an admin, a misconfigured replica). */
  json_t *l = json_deep_copy(stored(&fk));
  json_object_set_new(json_object_get(l, "spec"), "holderIdentity", json_string("intruder"));
  fake_put(&fk, "leases", "skein", "skeind", l);
  json_decref(l);
  int64_t t0 = sk_time_mono_ms();
  CHECK(run_until(&loop, &a.stopped, 1, 3000));
  /* The next renewal gets 409, the re-read shows the intruder: stop then,
   * not at the deadline. */
  if (a.stopped_at - t0 > 450)
    FAILF("stopped %lld ms after the lease was taken, want within a retry period",
          (long long)(a.stopped_at - t0));
  CHECK_STR(sk_kube_elector_leader(a.e), "intruder");
  CHECK(fake_count(&fk, SK_KUBE_GET) >= 1);
  /* It waits as a candidate: the intruder never renews, so A takes over
   * after a lease duration. */
  CHECK(run_until(&loop, &a.started, 2, 4000));
  CHECK_INT(stored_int(&fk, "leaseTransitions"), 1);
  sk_kube_elector_destroy(a.e);
  teardown(&loop, &fk);
}

TEST(elector_lease_deleted_stops_and_recreates) {
  uv_loop_t loop;
  fake_kube_t fk;
  REQUIRE(uv_loop_init(&loop) == 0);
  fake_init(&fk, &loop);
  leaders_now = max_leaders = 0;
  cand_t a = {0};
  REQUIRE(make(&fk, "a", &a));
  sk_kube_elector_start(a.e);
  REQUIRE(run_until(&loop, &a.started, 1, 3000));
  /* Deleted under the leader: another candidate could create it at once,
   * so the leader stops at its next renewal, then creates it again. */
  fake_delete(&fk, "leases/skein/skeind");
  int64_t t0 = sk_time_mono_ms();
  CHECK(run_until(&loop, &a.stopped, 1, 3000));
  if (a.stopped_at - t0 > 450)
    FAILF("stopped %lld ms after the delete, want within a retry period",
          (long long)(a.stopped_at - t0));
  CHECK(run_until(&loop, &a.started, 2, 3000));
  CHECK_STR(stored_holder(&fk), "a");
  CHECK_INT(fake_count(&fk, SK_KUBE_CREATE), 2);
  sk_kube_elector_destroy(a.e);
  teardown(&loop, &fk);
}

TEST(elector_bad_options_and_early_stop) {
  uv_loop_t loop;
  fake_kube_t fk;
  REQUIRE(uv_loop_init(&loop) == 0);
  fake_init(&fk, &loop);
  sk_kube_caller_t caller;
  fake_caller(&fk, &caller);
  char err[256];
  sk_kube_elector_t *e = NULL;
  sk_kube_elector_opts_t o = {.namespace = "skein", .name = "skeind",
                              .timing = {10000, 10000, 2000}};
  CHECK_INT(sk_kube_elector_create(&caller, &o, &e, err, sizeof(err)), SK_EINVAL);
  CHECK(e == NULL);
  CHECK(strstr(err, "renew deadline") != NULL);
  o.timing = (sk_kube_lease_timing_t){0};
  o.name = "";
  CHECK_INT(sk_kube_elector_create(&caller, &o, &e, err, sizeof(err)), SK_EINVAL);
  o.name = "skeind";
  REQUIRE(sk_kube_elector_create(&caller, &o, &e, err, sizeof(err)) == 0);
  /* The default identity is hostname_random. */
  CHECK(strchr(sk_kube_elector_identity(e), '_') != NULL);
  cand_t a = {0};
  CHECK_INT(sk_kube_elector_stop(e, true, cb_released, &a), 0);
  CHECK_INT(a.released, 0); /* from the loop, not inside stop */
  CHECK(run_until(&loop, &a.released, 1, 1000));
  CHECK_INT(sk_kube_elector_start(e), SK_ESTATE);
  CHECK_INT(fake_count(&fk, -1), 0);
  sk_kube_elector_destroy(e);
  sk_kube_elector_destroy(NULL);
  /* Destroy with a call in flight. */
  fk.hold = 1;
  REQUIRE(sk_kube_elector_create(&caller, &o, &e, err, sizeof(err)) == 0);
  sk_kube_elector_start(e);
  run_for(&loop, 50);
  CHECK_INT(fk.pending, 1);
  sk_kube_elector_destroy(e);
  teardown(&loop, &fk);
}

int main(void) {
  RUN(timing_defaults_and_checks);
  RUN(record_parse_and_apply);
  RUN(default_identity);
  RUN(observe_tracks_local_change_only);
  RUN(decide_table);
  RUN(simulated_takeover);
  RUN(elector_create_renew_release);
  RUN(elector_takeover_after_crash_and_release);
  RUN(elector_renew_failures_stop_at_deadline);
  RUN(elector_hung_renewal_stops_at_deadline);
  RUN(elector_lease_taken_stops_at_once);
  RUN(elector_lease_deleted_stops_and_recreates);
  RUN(elector_bad_options_and_early_stop);
  return TEST_DONE();
}
