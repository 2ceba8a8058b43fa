/*
 * Status records and single plans driven by hand: what observations do to
 * a record (refs, poll times, outputs and their rules, late reports), what
 * a plan hands back (actions, transitions, changed, wake time), progress,
 * and the status JSON, whose round trip must be exact. Scheduling over
 * whole runs is tested with the simulator in test_engine.c.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "engine/engine.h"
#include "sk_test.h"
#include "spec/spec.h"
#include "util/buf.h"
#include "util/diag.h"
#include "util/error.h"
#include "yaml/yaml.h"

/* 2026-01-01T00:00:00Z: every case starts here. */
#define T0 1767225600000LL
#define SEC(x) ((int64_t)(x) * 1000)

#define WF_HEAD                                                                            \
  "apiVersion: skein.dev/v1alpha1\n"                                                       \
  "kind: Workflow\n"                                                                       \
  "metadata: {name: wf, namespace: ml}\n"                                                  \
  "spec:\n"

#define POD "      pod: {image: busybox}\n"

/* ---- loading workflows ---- */

static sk_workflow_t *load_wf(const char *body) {
  sk_buf_t text;
  sk_buf_init(&text, 1 << 20);
  sk_buf_puts(&text, WF_HEAD);
  sk_buf_puts(&text, body);
  sk_diags_t d;
  sk_diags_init(&d);
  sk_yaml_doc_t **docs = NULL;
  size_t ndocs = 0;
  sk_workflow_t *wf = NULL;
  if (sk_yaml_parse(text.data, text.len, "case.yaml", &d, &docs, &ndocs) == 0 && ndocs == 1)
    sk_spec_parse_workflow(docs[0], &d, &wf);
  if (!wf) {
    printf("  workflow did not load:\n%s\n", text.data);
    sk_diags_print(&d, stdout);
  } else if (sk_workflow_set_identity(wf, "wf", "ml", "uid-1") < 0) {
    sk_workflow_destroy(wf);
    wf = NULL;
  }
  if (docs)
    sk_yaml_docs_destroy(docs, ndocs);
  sk_diags_release(&d);
  sk_buf_release(&text);
  return wf;
}

/* ---- helpers ---- */

static int plan_at(const sk_workflow_t *wf, sk_wf_status_t *st, int64_t ms,
                   const sk_engine_obs_t *obs, size_t nobs, sk_engine_out_t *out) {
  sk_engine_ctx_t ctx = {T0 + ms, SK_SHUTDOWN_NONE};
  sk_engine_out_init(out);
  return sk_engine_plan(wf, st, obs, nobs, &ctx, out);
}

static sk_engine_obs_t obs_of(sk_obs_kind_t kind, const char *instance, int attempt, int64_t ms) {
  sk_engine_obs_t o;
  memset(&o, 0, sizeof(o));
  o.kind = kind;
  o.instance = instance;
  o.attempt = attempt;
  o.at_ms = T0 + ms;
  return o;
}

static const char *phase_of(const sk_wf_status_t *st, const char *name) {
  const sk_step_status_t *r = sk_wf_status_find(st, name);
  return r ? sk_phase_name(r->phase) : "(none)";
}

static const char *progress_of(const sk_wf_status_t *st) {
  static char buf[32];
  sk_wf_status_progress(st, buf, sizeof(buf));
  return buf;
}

TEST(fresh_status) {
  sk_workflow_t *wf = load_wf("  steps:\n"
                              "    - name: a\n" POD
                              "    - name: b\n      dependsOn: [a]\n" POD
                              "  finally:\n    - name: f\n" POD);
  REQUIRE(wf);
  sk_wf_status_t st;
  sk_wf_status_init(&st);
  CHECK_STR(progress_of(&st), "0/0");
  sk_engine_out_t out;
  CHECK_INT(plan_at(wf, &st, 0, NULL, 0, &out), 0);
  CHECK_STR(sk_phase_name(st.phase), "Running");
  CHECK_INT(st.started_at_ms, T0);
  CHECK_INT(st.nsteps, 3);
  CHECK_STR(progress_of(&st), "0/3");
  CHECK_STR(phase_of(&st, "a"), "Running");
  CHECK_STR(phase_of(&st, "b"), "Pending");
  CHECK_STR(phase_of(&st, "f"), "Pending");
  CHECK(out.changed);
  CHECK_INT(out.wake_at_ms, 0);
  REQUIRE(out.nactions == 1);
  CHECK_INT(out.actions[0].kind, SK_ACT_START);
  CHECK_STR(out.actions[0].instance, "a");
  CHECK_INT(out.actions[0].attempt, 1);
  CHECK(out.actions[0].step == &wf->steps[0]);
  CHECK(json_equal(out.actions[0].body, wf->steps[0].body));
  CHECK(out.actions[0].body != wf->steps[0].body);
  REQUIRE(out.ntransitions == 1);
  CHECK_STR(out.transitions[0].instance, "a");
  CHECK_INT(out.transitions[0].from, SK_PHASE_PENDING);
  CHECK_INT(out.transitions[0].to, SK_PHASE_RUNNING);
  sk_engine_out_release(&out);

  /* Nothing happened: nothing to do, nothing to persist. */
  CHECK_INT(plan_at(wf, &st, 1000, NULL, 0, &out), 0);
  CHECK(!out.changed);
  CHECK_INT(out.nactions, 0);
  CHECK_INT(out.ntransitions, 0);
  sk_engine_out_release(&out);
  sk_wf_status_release(&st);
  sk_workflow_destroy(wf);
}

TEST(observations) {
  sk_workflow_t *wf = load_wf("  steps:\n    - name: a\n      timeoutSeconds: 30\n" POD);
  REQUIRE(wf);
  sk_wf_status_t st;
  sk_wf_status_init(&st);
  sk_engine_out_t out;
  CHECK_INT(plan_at(wf, &st, 0, NULL, 0, &out), 0);
  CHECK_INT(out.wake_at_ms, T0 + SEC(30));
  sk_engine_out_release(&out);

  json_t *ref = json_pack("{s:s, s:i}", "kind", "Process", "pid", 42);
  sk_engine_obs_t o[3];
  o[0] = obs_of(SK_OBS_STARTED, "a", 1, 10);
  o[0].ref = ref;
  o[1] = obs_of(SK_OBS_POLL_AT, "a", 1, SEC(5));
  o[2] = obs_of(SK_OBS_POLL_AT, "nobody", 1, SEC(6));
  CHECK_INT(plan_at(wf, &st, 100, o, 3, &out), 0);
  CHECK(out.changed);
  sk_step_status_t *a = sk_wf_status_find(&st, "a");
  REQUIRE(a);
  CHECK(json_equal(a->ref, ref));
  CHECK_INT(a->next_poll_at_ms, T0 + SEC(5));
  CHECK_STR(sk_phase_name(a->phase), "Running");
  sk_engine_out_release(&out);

  /* Another attempt's report is not this attempt's. */
  o[0] = obs_of(SK_OBS_SUCCEEDED, "a", 2, 200);
  CHECK_INT(plan_at(wf, &st, 200, o, 1, &out), 0);
  CHECK(!out.changed);
  CHECK_STR(sk_phase_name(a->phase), "Running");
  sk_engine_out_release(&out);

  json_t *outputs = json_pack("{s:i, s:f, s:b, s:s}", "n", 3, "r", 0.93, "b", 1, "s", "x");
  o[0] = obs_of(SK_OBS_SUCCEEDED, "a", 1, 1500);
  o[0].outputs = outputs;
  CHECK_INT(plan_at(wf, &st, 2000, o, 1, &out), 0);
  a = sk_wf_status_find(&st, "a");
  REQUIRE(a && a->outputs);
  CHECK_STR(sk_phase_name(a->phase), "Succeeded");
  CHECK_STR(json_string_value(json_object_get(a->outputs, "n")), "3");
  CHECK_STR(json_string_value(json_object_get(a->outputs, "r")), "0.93");
  CHECK_STR(json_string_value(json_object_get(a->outputs, "b")), "true");
  CHECK_STR(json_string_value(json_object_get(a->outputs, "s")), "x");
  CHECK_INT(a->finished_at_ms, T0 + 1500);
  CHECK_INT(a->next_poll_at_ms, 0);
  CHECK_STR(sk_phase_name(st.phase), "Succeeded");
  CHECK_INT(st.finished_at_ms, T0 + 2000);
  CHECK_INT(out.wake_at_ms, 0);
  sk_engine_out_release(&out);

  /* A late failure after success changes nothing. */
  o[0] = obs_of(SK_OBS_FAILED, "a", 1, 2500);
  CHECK_INT(plan_at(wf, &st, 3000, o, 1, &out), 0);
  CHECK(!out.changed);
  CHECK_STR(sk_phase_name(a->phase), "Succeeded");
  sk_engine_out_release(&out);
  json_decref(outputs);
  json_decref(ref);
  sk_wf_status_release(&st);
  sk_workflow_destroy(wf);
}

TEST(late_observation_ignored) {
  sk_workflow_t *wf = load_wf("  steps:\n"
                              "    - name: a\n"
                              "      timeoutSeconds: 5\n"
                              "      retry: {limit: 2, backoff: {seconds: 0, factor: 1}}\n" POD
                              "    - name: b\n"
                              "      retry: {limit: 1, backoff: {seconds: 60, factor: 1}}\n" POD);
  REQUIRE(wf);
  sk_wf_status_t st;
  sk_wf_status_init(&st);
  sk_engine_out_t out;
  CHECK_INT(plan_at(wf, &st, 0, NULL, 0, &out), 0);
  CHECK_INT(out.nactions, 2);
  sk_engine_out_release(&out);

  /* b fails and waits 60s; a times out and restarts at once. */
  sk_engine_obs_t o[2];
  o[0] = obs_of(SK_OBS_FAILED, "b", 1, SEC(1));
  o[0].message = "boom";
  CHECK_INT(plan_at(wf, &st, SEC(5), o, 1, &out), 0);
  REQUIRE(out.nactions == 2);
  CHECK_INT(out.actions[0].kind, SK_ACT_KILL);
  CHECK_STR(out.actions[0].instance, "a");
  CHECK_INT(out.actions[0].attempt, 1);
  CHECK_STR(out.actions[0].reason, "timed out after 5s");
  CHECK_INT(out.actions[1].kind, SK_ACT_START);
  CHECK_INT(out.actions[1].attempt, 2);
  CHECK_INT(out.wake_at_ms, T0 + SEC(10));
  sk_engine_out_release(&out);
  CHECK_STR(phase_of(&st, "b"), "Pending");
  /* The backoff counts from when the engine learnt of the failure. */
  CHECK_INT(sk_wf_status_find(&st, "b")->retry_at_ms, T0 + SEC(65));

  /* The killed attempt 1 of a, and a stray report for b's old attempt
   * while b waits for its retry, are both ignored. */
  o[0] = obs_of(SK_OBS_FAILED, "a", 1, SEC(5) + 300);
  o[0].message = "killed";
  o[1] = obs_of(SK_OBS_SUCCEEDED, "b", 1, SEC(5) + 300);
  CHECK_INT(plan_at(wf, &st, SEC(6), o, 2, &out), 0);
  CHECK(!out.changed);
  CHECK_INT(out.nactions, 0);
  CHECK_STR(phase_of(&st, "a"), "Running");
  CHECK_INT(sk_wf_status_find(&st, "a")->attempt, 2);
  CHECK_STR(phase_of(&st, "b"), "Pending");
  sk_engine_out_release(&out);
  sk_wf_status_release(&st);
  sk_workflow_destroy(wf);
}

TEST(outputs_rules) {
  sk_workflow_t *wf = load_wf("  steps:\n"
                              "    - name: a\n" POD "    - name: b\n" POD
                              "    - name: c\n" POD "    - name: d\n" POD);
  REQUIRE(wf);
  sk_wf_status_t st;
  sk_wf_status_init(&st);
  sk_engine_out_t out;
  CHECK_INT(plan_at(wf, &st, 0, NULL, 0, &out), 0);
  sk_engine_out_release(&out);

  char big[5001];
  memset(big, 'v', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  json_t *too_big = json_pack("{s:s}", "k", big);
  json_t *has_null = json_pack("{s:n}", "x");
  json_t *not_object = json_pack("[s]", "x");
  char long_msg[5000];
  memset(long_msg, 'm', sizeof(long_msg) - 1);
  long_msg[sizeof(long_msg) - 1] = '\0';
  sk_engine_obs_t o[4];
  o[0] = obs_of(SK_OBS_SUCCEEDED, "a", 1, 10);
  o[0].outputs = too_big;
  o[1] = obs_of(SK_OBS_SUCCEEDED, "b", 1, 10);
  o[1].outputs = has_null;
  o[2] = obs_of(SK_OBS_FAILED, "c", 1, 10);
  o[2].message = long_msg;
  o[3] = obs_of(SK_OBS_SUCCEEDED, "d", 1, 10);
  o[3].outputs = not_object;
  CHECK_INT(plan_at(wf, &st, 100, o, 4, &out), 0);
  sk_engine_out_release(&out);
  const sk_step_status_t *r = sk_wf_status_find(&st, "a");
  CHECK_STR(sk_phase_name(r->phase), "Failed");
  CHECK_STR(r->message, "outputs are 5001 bytes, over the 4096-byte limit");
  CHECK(r->outputs == NULL);
  r = sk_wf_status_find(&st, "b");
  CHECK_STR(r->message, "output \"x\" must be a string, number or boolean");
  r = sk_wf_status_find(&st, "c");
  CHECK_STR(sk_phase_name(r->phase), "Failed");
  CHECK(strlen(r->message) <= SK_STATUS_MAX_MESSAGE);
  CHECK(strstr(r->message, "(cut)") != NULL);
  r = sk_wf_status_find(&st, "d");
  CHECK_STR(r->message, "outputs must be an object of strings");
  CHECK(strlen(st.message) <= SK_STATUS_MAX_MESSAGE);
  CHECK_STR(sk_phase_name(st.phase), "Failed");
  json_decref(too_big);
  json_decref(has_null);
  json_decref(not_object);
  sk_wf_status_release(&st);
  sk_workflow_destroy(wf);
}

TEST(wake_at) {
  sk_workflow_t *wf = load_wf("  activeDeadlineSeconds: 100\n"
                              "  steps:\n"
                              "    - name: a\n      timeoutSeconds: 30\n" POD
                              "    - name: b\n"
                              "      retry: {limit: 1, backoff: {seconds: 7, factor: 1}}\n" POD);
  REQUIRE(wf);
  sk_wf_status_t st;
  sk_wf_status_init(&st);
  sk_engine_out_t out;
  CHECK_INT(plan_at(wf, &st, 0, NULL, 0, &out), 0);
  CHECK_INT(out.wake_at_ms, T0 + SEC(30));
  sk_engine_out_release(&out);
  sk_engine_obs_t o = obs_of(SK_OBS_FAILED, "b", 1, SEC(1));
  CHECK_INT(plan_at(wf, &st, SEC(1), &o, 1, &out), 0);
  CHECK_INT(out.wake_at_ms, T0 + SEC(8));
  CHECK_INT(out.nactions, 0);
  sk_engine_out_release(&out);
  /* Early: nothing starts before retryAt. */
  CHECK_INT(plan_at(wf, &st, SEC(7), NULL, 0, &out), 0);
  CHECK_INT(out.nactions, 0);
  sk_engine_out_release(&out);
  CHECK_INT(plan_at(wf, &st, SEC(8), NULL, 0, &out), 0);
  REQUIRE(out.nactions == 1);
  CHECK_STR(out.actions[0].instance, "b");
  CHECK_INT(out.actions[0].attempt, 2);
  CHECK_INT(out.wake_at_ms, T0 + SEC(30));
  sk_engine_out_release(&out);
  o = obs_of(SK_OBS_SUCCEEDED, "a", 1, SEC(9));
  CHECK_INT(plan_at(wf, &st, SEC(9), &o, 1, &out), 0);
  /* Only the workflow deadline is left to wait for. */
  CHECK_INT(out.wake_at_ms, T0 + SEC(100));
  sk_engine_out_release(&out);
  sk_wf_status_release(&st);
  sk_workflow_destroy(wf);
}

static void check_round_trip(const sk_wf_status_t *st) {
  json_t *j1 = sk_wf_status_to_json(st);
  REQUIRE(j1);
  sk_wf_status_t back;
  sk_wf_status_init(&back);
  char err[256] = "";
  CHECK_INT(sk_wf_status_from_json(j1, &back, err, sizeof(err)), 0);
  json_t *j2 = sk_wf_status_to_json(&back);
  char *t1 = json_dumps(j1, JSON_COMPACT);
  char *t2 = j2 ? json_dumps(j2, JSON_COMPACT) : NULL;
  CHECK_STR(t2, t1);
  REQUIRE(back.nsteps == st->nsteps);
  for (size_t i = 0; i < st->nsteps; i++) {
    const sk_step_status_t *a = &st->steps[i], *b = &back.steps[i];
    CHECK_STR(b->name, a->name);
    CHECK_STR(b->step, a->step);
    CHECK_INT(b->index, a->index);
    CHECK_INT(b->instances, a->instances);
    CHECK(!a->item == !b->item && (!a->item || strcmp(a->item, b->item) == 0));
    CHECK_INT(b->phase, a->phase);
    CHECK_INT(b->attempt, a->attempt);
    CHECK_INT(b->started_at_ms, a->started_at_ms);
    CHECK_INT(b->attempt_started_at_ms, a->attempt_started_at_ms);
    CHECK_INT(b->finished_at_ms, a->finished_at_ms);
    CHECK_INT(b->retry_at_ms, a->retry_at_ms);
    CHECK_INT(b->next_poll_at_ms, a->next_poll_at_ms);
    CHECK(!a->message == !b->message && (!a->message || strcmp(a->message, b->message) == 0));
    CHECK(json_equal(a->outputs, b->outputs) || (!a->outputs && !b->outputs));
    CHECK(json_equal(a->ref, b->ref) || (!a->ref && !b->ref));
  }
  CHECK_INT(back.phase, st->phase);
  CHECK_INT(back.steps_phase, st->steps_phase);
  CHECK_INT(back.started_at_ms, st->started_at_ms);
  CHECK_INT(back.finished_at_ms, st->finished_at_ms);
  CHECK_INT(back.observed_generation, st->observed_generation);
  free(t1);
  free(t2);
  json_decref(j1);
  json_decref(j2);
  sk_wf_status_release(&back);
}

TEST(status_json) {
  sk_workflow_t *wf = load_wf("  steps:\n"
                              "    - name: a\n"
                              "      retry: {limit: 1, backoff: {seconds: 2.5, factor: 1}}\n" POD
                              "    - name: t\n      forEach: [\"x\", {\"k\": 1}]\n" POD
                              "  finally:\n    - name: f\n" POD);
  REQUIRE(wf);
  sk_wf_status_t st;
  sk_wf_status_init(&st);
  sk_engine_out_t out;
  CHECK_INT(plan_at(wf, &st, 0, NULL, 0, &out), 0);
  sk_engine_out_release(&out);
  check_round_trip(&st);

  json_t *ref = json_pack("{s:s, s:i}", "kind", "Process", "pid", 7);
  json_t *outputs = json_pack("{s:s}", "v", "1");
  sk_engine_obs_t o[4];
  o[0] = obs_of(SK_OBS_STARTED, "a", 1, 5);
  o[0].ref = ref;
  o[1] = obs_of(SK_OBS_POLL_AT, "t-0", 1, 60000);
  o[2] = obs_of(SK_OBS_FAILED, "a", 1, 1234);
  o[2].message = "exit status 3";
  o[3] = obs_of(SK_OBS_SUCCEEDED, "t-1", 1, 1234);
  o[3].outputs = outputs;
  CHECK_INT(plan_at(wf, &st, 1234, o, 4, &out), 0);
  sk_engine_out_release(&out);
  check_round_trip(&st);

  json_t *j = sk_wf_status_to_json(&st);
  REQUIRE(j);
  CHECK_STR(json_string_value(json_object_get(j, "phase")), "Running");
  CHECK_STR(json_string_value(json_object_get(j, "startedAt")), "2026-01-01T00:00:00Z");
  CHECK_STR(json_string_value(json_object_get(j, "progress")), "1/4");
  CHECK(!json_object_get(j, "finishedAt"));
  CHECK(!json_object_get(j, "stepsPhase"));
  json_t *cond = json_array_get(json_object_get(j, "conditions"), 0);
  CHECK_STR(json_string_value(json_object_get(cond, "type")), "Completed");
  CHECK_STR(json_string_value(json_object_get(cond, "status")), "False");
  CHECK_STR(json_string_value(json_object_get(cond, "reason")), "Running");
  json_t *steps = json_object_get(j, "steps");
  REQUIRE(json_array_size(steps) == 5);
  json_t *a = json_array_get(steps, 0);
  CHECK_STR(json_string_value(json_object_get(a, "name")), "a");
  CHECK(!json_object_get(a, "step"));
  CHECK(!json_object_get(a, "index"));
  CHECK(!json_object_get(a, "instances"));
  CHECK_STR(json_string_value(json_object_get(a, "phase")), "Pending");
  CHECK_INT(json_integer_value(json_object_get(a, "attempt")), 1);
  CHECK_STR(json_string_value(json_object_get(a, "retryAt")), "2026-01-01T00:00:03.734Z");
  CHECK_STR(json_string_value(json_object_get(a, "message")),
            "attempt 1 failed: exit status 3; retrying in 2.5s");
  CHECK(json_equal(json_object_get(a, "ref"), ref));
  json_t *t = json_array_get(steps, 1);
  CHECK_STR(json_string_value(json_object_get(t, "name")), "t");
  CHECK_INT(json_integer_value(json_object_get(t, "instances")), 2);
  json_t *t0 = json_array_get(steps, 2);
  CHECK_STR(json_string_value(json_object_get(t0, "step")), "t");
  CHECK_INT(json_integer_value(json_object_get(t0, "index")), 0);
  CHECK_STR(json_string_value(json_object_get(t0, "item")), "x");
  CHECK_STR(json_string_value(json_object_get(t0, "nextPollAt")), "2026-01-01T00:01:00Z");
  json_t *t1 = json_array_get(steps, 3);
  CHECK_INT(json_integer_value(json_object_get(json_object_get(t1, "item"), "k")), 1);
  CHECK_STR(json_string_value(json_object_get(json_object_get(t1, "outputs"), "v")), "1");
  CHECK_STR(json_string_value(json_object_get(t1, "finishedAt")), "2026-01-01T00:00:01.234Z");
  json_t *f = json_array_get(steps, 4);
  CHECK_INT(json_object_size(f), 2); /* name and phase only */
  json_decref(j);

  /* Finish, and round-trip the final status too. */
  o[0] = obs_of(SK_OBS_SUCCEEDED, "t-0", 1, SEC(2));
  CHECK_INT(plan_at(wf, &st, SEC(4), o, 1, &out), 0);
  sk_engine_out_release(&out);
  o[0] = obs_of(SK_OBS_SUCCEEDED, "a", 2, SEC(5));
  CHECK_INT(plan_at(wf, &st, SEC(5), o, 1, &out), 0);
  sk_engine_out_release(&out);
  o[0] = obs_of(SK_OBS_SUCCEEDED, "f", 1, SEC(6));
  CHECK_INT(plan_at(wf, &st, SEC(6), o, 1, &out), 0);
  sk_engine_out_release(&out);
  CHECK_STR(sk_phase_name(st.phase), "Succeeded");
  check_round_trip(&st);
  j = sk_wf_status_to_json(&st);
  cond = json_array_get(json_object_get(j, "conditions"), 0);
  CHECK_STR(json_string_value(json_object_get(cond, "status")), "True");
  CHECK_STR(json_string_value(json_object_get(cond, "reason")), "Succeeded");
  CHECK_STR(json_string_value(json_object_get(cond, "lastTransitionTime")),
            "2026-01-01T00:00:06Z");
  CHECK_STR(json_string_value(json_object_get(j, "stepsPhase")), "Succeeded");
  CHECK_STR(json_string_value(json_object_get(j, "progress")), "4/4");
  json_decref(j);
  json_decref(ref);
  json_decref(outputs);
  sk_wf_status_release(&st);
  sk_workflow_destroy(wf);
}

TEST(status_json_errors) {
  static const struct {
    const char *json;
    const char *err;
  } cases[] = {
      {"[]", "status: must be an object"},
      {"{\"phase\": \"Done\"}", "phase: unknown phase \"Done\""},
      {"{\"startedAt\": \"yesterday\"}", "startedAt: must be an RFC 3339 time"},
      {"{\"steps\": [{\"phase\": \"Pending\"}]}", "steps[0].name: missing"},
      {"{\"steps\": [{\"name\": \"a\"}]}", "steps[0].phase: missing"},
      {"{\"steps\": [{\"name\": \"a\", \"phase\": \"Running\", \"attempt\": -1}]}",
       "steps[0].attempt: must be an integer from 0 to 2147483647"},
      {"{\"steps\": [{\"name\": \"a\", \"phase\": \"Running\", \"outputs\": {\"x\": 1}}]}",
       "steps[0].outputs.x: must be a string"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    json_t *j = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
    REQUIRE(j);
    sk_wf_status_t st;
    sk_wf_status_init(&st);
    char err[256] = "";
    CHECK_INT(sk_wf_status_from_json(j, &st, err, sizeof(err)), SK_EINVAL);
    CHECK_STR(err, cases[i].err);
    CHECK_INT(st.nsteps, 0);
    sk_wf_status_release(&st);
    json_decref(j);
  }
}

TEST(progress) {
  sk_workflow_t *wf = load_wf("  steps:\n"
                              "    - name: a\n" POD
                              "    - name: t\n      dependsOn: [a]\n      forEach: [1, 2, 3]\n" POD
                              "  finally:\n    - name: f\n" POD);
  REQUIRE(wf);
  sk_wf_status_t st;
  sk_wf_status_init(&st);
  sk_engine_out_t out;
  CHECK_INT(plan_at(wf, &st, 0, NULL, 0, &out), 0);
  sk_engine_out_release(&out);
  /* The fan-out counts as one until it expands. */
  CHECK_STR(progress_of(&st), "0/3");
  sk_engine_obs_t o[3] = {obs_of(SK_OBS_SUCCEEDED, "a", 1, SEC(1))};
  CHECK_INT(plan_at(wf, &st, SEC(1), o, 1, &out), 0);
  sk_engine_out_release(&out);
  CHECK_STR(progress_of(&st), "1/5");
  o[0] = obs_of(SK_OBS_SUCCEEDED, "t-0", 1, SEC(2));
  o[1] = obs_of(SK_OBS_SUCCEEDED, "t-2", 1, SEC(2));
  CHECK_INT(plan_at(wf, &st, SEC(2), o, 2, &out), 0);
  sk_engine_out_release(&out);
  CHECK_STR(progress_of(&st), "3/5");
  o[0] = obs_of(SK_OBS_SUCCEEDED, "t-1", 1, SEC(3));
  CHECK_INT(plan_at(wf, &st, SEC(3), o, 1, &out), 0);
  sk_engine_out_release(&out);
  CHECK_STR(progress_of(&st), "4/5");
  o[0] = obs_of(SK_OBS_SUCCEEDED, "f", 1, SEC(4));
  CHECK_INT(plan_at(wf, &st, SEC(4), o, 1, &out), 0);
  sk_engine_out_release(&out);
  CHECK_STR(progress_of(&st), "5/5");
  CHECK_STR(sk_phase_name(st.phase), "Succeeded");
  sk_wf_status_release(&st);
  sk_workflow_destroy(wf);
}

TEST(last_reports_beat_deadline_and_stop) {
  sk_workflow_t *wf = load_wf("  activeDeadlineSeconds: 10\n"
                              "  steps:\n"
                              "    - name: a\n" POD
                              "    - name: t\n      forEach: [1]\n" POD);
  REQUIRE(wf);
  for (int stop = 0; stop < 2; stop++) {
    sk_wf_status_t st;
    sk_wf_status_init(&st);
    sk_engine_out_t out;
    CHECK_INT(plan_at(wf, &st, 0, NULL, 0, &out), 0);
    CHECK_INT(out.nactions, 2);
    sk_engine_out_release(&out);
    sk_engine_obs_t o[2] = {obs_of(SK_OBS_SUCCEEDED, "a", 1, SEC(9)),
                            obs_of(SK_OBS_SUCCEEDED, "t-0", 1, SEC(9))};
    sk_engine_ctx_t ctx = {T0 + SEC(stop ? 9 : 12),
                           stop ? SK_SHUTDOWN_STOP : SK_SHUTDOWN_NONE};
    sk_engine_out_init(&out);
    CHECK_INT(sk_engine_plan(wf, &st, o, 2, &ctx, &out), 0);
    CHECK_INT(out.nactions, 0);
    CHECK_STR(sk_phase_name(st.phase), "Succeeded");
    CHECK(st.message == NULL);
    CHECK_STR(phase_of(&st, "t"), "Succeeded");
    sk_engine_out_release(&out);
    sk_wf_status_release(&st);
  }
  sk_workflow_destroy(wf);
}

TEST(foreach_too_many_items) {
  sk_workflow_t *wf = load_wf("  steps:\n"
                              "    - name: a\n" POD
                              "    - name: t\n      dependsOn: [a]\n"
                              "      forEach: \"{{steps.a.outputs.list}}\"\n" POD);
  REQUIRE(wf);
  sk_wf_status_t st;
  sk_wf_status_init(&st);
  sk_engine_out_t out;
  CHECK_INT(plan_at(wf, &st, 0, NULL, 0, &out), 0);
  sk_engine_out_release(&out);
  sk_buf_t list;
  sk_buf_init(&list, 8192);
  sk_buf_putc(&list, '[');
  for (int i = 0; i <= SK_SPEC_MAX_FOREACH; i++)
    sk_buf_puts(&list, i ? ",0" : "0");
  sk_buf_putc(&list, ']');
  json_t *outputs = json_pack("{s:s}", "list", list.data);
  sk_engine_obs_t o = obs_of(SK_OBS_SUCCEEDED, "a", 1, SEC(1));
  o.outputs = outputs;
  CHECK_INT(plan_at(wf, &st, SEC(1), &o, 1, &out), 0);
  CHECK_INT(out.nactions, 0);
  sk_engine_out_release(&out);
  const sk_step_status_t *t = sk_wf_status_find(&st, "t");
  REQUIRE(t);
  CHECK_STR(sk_phase_name(t->phase), "Failed");
  CHECK_STR(t->message, "forEach gave 1001 items, over the limit of 1000");
  CHECK_INT(t->instances, -1);
  CHECK_INT(st.nsteps, 2);
  CHECK_STR(sk_phase_name(st.phase), "Failed");
  json_decref(outputs);
  sk_buf_release(&list);
  sk_wf_status_release(&st);
  sk_workflow_destroy(wf);
}

TEST(missing_output_with_many_names) {
  sk_workflow_t *wf = load_wf("  steps:\n"
                              "    - name: a\n" POD
                              "    - name: b\n      dependsOn: [a]\n"
                              "      pod: {image: busybox, args: [\"{{steps.a.outputs.y}}\"]}\n");
  REQUIRE(wf);
  sk_wf_status_t st;
  sk_wf_status_init(&st);
  sk_engine_out_t out;
  CHECK_INT(plan_at(wf, &st, 0, NULL, 0, &out), 0);
  sk_engine_out_release(&out);
  json_t *outputs = json_object();
  for (int i = 0; i < 100; i++) {
    char k[64];
    snprintf(k, sizeof(k), "a_rather_long_output_name_%03d", i);
    json_object_set_new(outputs, k, json_string("v"));
  }
  sk_engine_obs_t o = obs_of(SK_OBS_SUCCEEDED, "a", 1, SEC(1));
  o.outputs = outputs;
  CHECK_INT(plan_at(wf, &st, SEC(1), &o, 1, &out), 0);
  sk_engine_out_release(&out);
  const sk_step_status_t *b = sk_wf_status_find(&st, "b");
  REQUIRE(b && b->message);
  CHECK_STR(sk_phase_name(b->phase), "Failed");
  CHECK(strstr(b->message, "(it has: a_rather_long_output_name_000, ") != NULL);
  CHECK(strstr(b->message, ", ...)") != NULL);
  CHECK(strlen(b->message) < 600);
  json_decref(outputs);
  sk_wf_status_release(&st);
  sk_workflow_destroy(wf);
}

int main(void) {
  RUN(fresh_status);
  RUN(observations);
  RUN(late_observation_ignored);
  RUN(outputs_rules);
  RUN(wake_at);
  RUN(status_json);
  RUN(status_json_errors);
  RUN(progress);
  RUN(last_reports_beat_deadline_and_stop);
  RUN(foreach_too_many_items);
  RUN(missing_output_with_many_names);
  return TEST_DONE();
}
