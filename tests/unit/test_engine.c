/*
 * Engine tests, table-style with a fake clock.
 *
 * Each case is a YAML workflow, a script that says how each (instance,
 * attempt) behaves — how long it runs, whether it fails, what outputs it
 * gives — and the expected outcome: phases, attempts, start times, the
 * highest number of attempts running at once, and lines of the transition
 * log. A small simulator plays the executor: it starts what START actions
 * ask for, kills what KILL actions name (and, like a real process, reports
 * a late exit for it a millisecond later, which the engine must ignore),
 * and advances the clock to the earliest of the next completion, the
 * engine's wake time and a scripted shutdown.
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

/* ---- the simulator ---- */

typedef struct script {
  const char *instance;
  int attempt;          /* 0 = any attempt */
  int dur_s;            /* seconds; -1 = runs until killed */
  bool fail;
  const char *outputs;  /* JSON object text, or NULL */
  const char *message;  /* the failure message */
} script_t;

/* What runs when no script line matches: success after 10 seconds. */
static const script_t default_script = {NULL, 0, 10, false, NULL, NULL};

typedef struct run {
  char *instance;
  int attempt;
  int64_t end_ms;  /* 0 = never */
  bool fail;
  bool late;       /* killed: this is the late exit report */
  json_t *outputs;
  const char *message;
} run_t;

#define SIM_MAX_RUNS 256

typedef struct sim {
  sk_workflow_t *wf;
  sk_wf_status_t st;
  const script_t *script;
  size_t nscript;
  int64_t now;
  run_t runs[SIM_MAX_RUNS];
  size_t nruns;
  int max_running;
  int64_t wake;
  sk_shutdown_t shutdown;
  int64_t shutdown_at;  /* 0 = never */
  sk_buf_t log;         /* one line per transition, START and KILL */
  json_t *bodies;       /* instance → the body of its last START */
  bool failed;          /* a plan returned an error */
} sim_t;

static void sim_init(sim_t *s, sk_workflow_t *wf, const script_t *script, size_t nscript) {
  memset(s, 0, sizeof(*s));
  s->wf = wf;
  sk_wf_status_init(&s->st);
  s->script = script;
  s->nscript = nscript;
  s->now = T0;
  sk_buf_init(&s->log, 1 << 20);
  s->bodies = json_object();
}

static void sim_release(sim_t *s) {
  for (size_t i = 0; i < s->nruns; i++) {
    free(s->runs[i].instance);
    json_decref(s->runs[i].outputs);
  }
  sk_wf_status_release(&s->st);
  sk_buf_release(&s->log);
  json_decref(s->bodies);
}

static const script_t *script_for(const sim_t *s, const char *instance, int attempt) {
  for (size_t i = 0; i < s->nscript; i++) {
    const script_t *l = &s->script[i];
    if (l->instance && strcmp(l->instance, instance) == 0 &&
        (l->attempt == 0 || l->attempt == attempt))
      return l;
  }
  return &default_script;
}

/* Seconds after T0, with milliseconds only when there are some. */
static void log_time(sim_t *s, int64_t ms) {
  int64_t d = ms - T0;
  if (d % 1000 == 0)
    sk_buf_printf(&s->log, "@%lld ", (long long)(d / 1000));
  else
    sk_buf_printf(&s->log, "@%lld.%03lld ", (long long)(d / 1000), (long long)(d % 1000));
}

static void sim_add_run(sim_t *s, const char *instance, int attempt, int64_t end, bool fail,
                        bool late, const char *outputs, const char *message) {
  if (s->nruns == SIM_MAX_RUNS) {
    FAILF("simulator: too many runs");
    return;
  }
  run_t *r = &s->runs[s->nruns++];
  memset(r, 0, sizeof(*r));
  r->instance = strdup(instance);
  r->attempt = attempt;
  r->end_ms = end;
  r->fail = fail;
  r->late = late;
  r->message = message;
  if (outputs) {
    r->outputs = json_loads(outputs, 0, NULL);
    if (!r->outputs)
      FAILF("script outputs are not JSON: %s", outputs);
  }
}

static void sim_remove_run(sim_t *s, size_t i) {
  free(s->runs[i].instance);
  json_decref(s->runs[i].outputs);
  s->runs[i] = s->runs[--s->nruns];
}

static void sim_apply(sim_t *s, const sk_engine_out_t *out) {
  for (size_t i = 0; i < out->ntransitions; i++) {
    const sk_transition_t *t = &out->transitions[i];
    log_time(s, s->now);
    sk_buf_printf(&s->log, "%s %s->%s%s%s\n", t->instance, sk_phase_name(t->from),
                  sk_phase_name(t->to), t->message ? ": " : "", t->message ? t->message : "");
  }
  for (size_t i = 0; i < out->nactions; i++) {
    const sk_action_t *a = &out->actions[i];
    log_time(s, s->now);
    if (a->kind == SK_ACT_START) {
      sk_buf_printf(&s->log, "START %s#%d\n", a->instance, a->attempt);
      if (!a->body || !a->step)
        FAILF("START %s#%d without body or step", a->instance, a->attempt);
      else
        json_object_set(s->bodies, a->instance, a->body);
      const script_t *l = script_for(s, a->instance, a->attempt);
      int64_t end = l->dur_s < 0 ? 0 : s->now + SEC(l->dur_s);
      sim_add_run(s, a->instance, a->attempt, end, l->fail, false, l->outputs, l->message);
      continue;
    }
    sk_buf_printf(&s->log, "KILL %s#%d: %s\n", a->instance, a->attempt,
                  a->reason ? a->reason : "");
    for (size_t k = 0; k < s->nruns; k++) {
      run_t *r = &s->runs[k];
      if (!r->late && r->attempt == a->attempt && strcmp(r->instance, a->instance) == 0) {
        /* A killed process still exits and is reported, a little later. */
        r->late = true;
        r->fail = true;
        r->message = "killed";
        r->end_ms = s->now + 1;
      }
    }
  }
  int running = 0;
  /* Runs that just reported (end -1, removed after the plan) are over. */
  for (size_t k = 0; k < s->nruns; k++)
    running += !s->runs[k].late && s->runs[k].end_ms != -1;
  if (running > s->max_running)
    s->max_running = running;
}

static void sim_plan(sim_t *s, const sk_engine_obs_t *obs, size_t nobs) {
  sk_engine_ctx_t ctx = {s->now, SK_SHUTDOWN_NONE};
  if (s->shutdown_at && s->now >= s->shutdown_at)
    ctx.shutdown = s->shutdown;
  sk_engine_out_t out;
  sk_engine_out_init(&out);
  int rc = sk_engine_plan(s->wf, &s->st, obs, nobs, &ctx, &out);
  if (rc != 0) {
    FAILF("sk_engine_plan == %d", rc);
    s->failed = true;
  }
  sim_apply(s, &out);
  s->wake = out.wake_at_ms;
  sk_engine_out_release(&out);
}

/* Runs until the workflow ends (or nothing more can happen). */
static void sim_run(sim_t *s) {
  sim_plan(s, NULL, 0);
  for (int iter = 0; iter < 10000 && !s->failed; iter++) {
    if (sk_phase_is_final(s->st.phase))
      return;
    int64_t next = 0;
    for (size_t k = 0; k < s->nruns; k++) {
      if (s->runs[k].end_ms && (!next || s->runs[k].end_ms < next))
        next = s->runs[k].end_ms;
    }
    if (s->wake && (!next || s->wake < next))
      next = s->wake;
    if (s->shutdown_at > s->now && (!next || s->shutdown_at < next))
      next = s->shutdown_at;
    if (!next) {
      FAILF("simulation stuck at @%lld with the workflow %s\n%s",
            (long long)((s->now - T0) / 1000), sk_phase_name(s->st.phase), s->log.data);
      return;
    }
    if (next > s->now)
      s->now = next;
    sk_engine_obs_t obs[SIM_MAX_RUNS];
    size_t nobs = 0;
    for (size_t k = 0; k < s->nruns;) {
      run_t *r = &s->runs[k];
      if (!r->end_ms || r->end_ms > s->now) {
        k++;
        continue;
      }
      sk_engine_obs_t *o = &obs[nobs++];
      memset(o, 0, sizeof(*o));
      o->kind = r->fail ? SK_OBS_FAILED : SK_OBS_SUCCEEDED;
      o->instance = r->instance;
      o->attempt = r->attempt;
      o->at_ms = r->end_ms;
      o->message = r->message;
      o->outputs = r->outputs;
      /* Detach: the observation borrows the strings until the plan ends. */
      r->end_ms = -1;
      k++;
    }
    sim_plan(s, obs, nobs);
    for (size_t k = 0; k < s->nruns;) {
      if (s->runs[k].end_ms == -1)
        sim_remove_run(s, k);
      else
        k++;
    }
  }
  if (!sk_phase_is_final(s->st.phase))
    FAILF("simulation did not end\n%s", s->log.data);
}

/* ---- the table ---- */

typedef struct expect {
  const char *name;
  const char *phase;
  int attempt;
  int start_s;       /* the record's startedAt in seconds after T0; -1 = not checked */
  const char *msg;   /* a substring of its message, or NULL */
  const char *args;  /* the compact JSON of "args" in its last START body, or NULL */
} expect_t;

typedef struct start {
  const char *instance;
  int attempt;
  int at_s;
} start_t;

typedef struct kase {
  const char *yaml;
  script_t script[16];
  sk_shutdown_t shutdown;
  int shutdown_at_s;
  const char *phase;
  const char *message;  /* the workflow message; "" = none */
  int end_s;            /* finishedAt in seconds after T0 */
  int max_running;      /* 0 = not checked */
  expect_t expect[16];
  start_t starts[8];
  const char *log[8];   /* lines that must appear in the log */
} kase_t;

/* Table entries, with every field given so that no compiler warns.
 * X: a record's phase, attempt and start (-1 = any); XM adds a message
 * substring; XA the compact JSON of its last START's args. */
#define X(n, ph, att, st) {n, ph, att, st, NULL, NULL}
#define XM(n, ph, att, st, m) {n, ph, att, st, m, NULL}
#define XA(n, ph, att, st, args) {n, ph, att, st, NULL, args}
/* Script lines: RUNS succeeds after d seconds (d = -1: until killed), OUTS
 * also gives outputs, FAILS fails with a message; attempt 0 = any. */
#define RUNS(i, att, d) {i, att, d, false, NULL, NULL}
#define OUTS(i, d, outputs) {i, 0, d, false, outputs, NULL}
#define FAILS(i, att, d, msg) {i, att, d, true, NULL, msg}

static size_t script_len(const script_t *sc, size_t max) {
  size_t n = 0;
  while (n < max && sc[n].instance)
    n++;
  return n;
}

static void check_case(sim_t *s, const kase_t *k) {
  CHECK_STR(sk_phase_name(s->st.phase), k->phase);
  if (k->message)
    CHECK_STR(s->st.message ? s->st.message : "", k->message);
  if (k->end_s >= 0)
    CHECK_INT((s->st.finished_at_ms - T0) / 1000, k->end_s);
  if (k->max_running)
    CHECK_INT(s->max_running, k->max_running);
  for (size_t i = 0; i < 16 && k->expect[i].name; i++) {
    const expect_t *e = &k->expect[i];
    const sk_step_status_t *r = sk_wf_status_find(&s->st, e->name);
    if (!r) {
      FAILF("no record %s", e->name);
      continue;
    }
    if (strcmp(sk_phase_name(r->phase), e->phase) != 0)
      FAILF("%s: phase %s, want %s (message: %s)", e->name, sk_phase_name(r->phase), e->phase,
            r->message ? r->message : "");
    if (r->attempt != e->attempt)
      FAILF("%s: attempt %d, want %d", e->name, r->attempt, e->attempt);
    if (e->start_s >= 0 && r->started_at_ms - T0 != SEC(e->start_s))
      FAILF("%s: started at %lld ms, want %d s", e->name, (long long)(r->started_at_ms - T0),
            e->start_s);
    if (e->msg && (!r->message || !strstr(r->message, e->msg)))
      FAILF("%s: message \"%s\" does not contain \"%s\"", e->name,
            r->message ? r->message : "(none)", e->msg);
    if (e->args) {
      json_t *body = json_object_get(s->bodies, e->name);
      char *got = json_dumps(json_object_get(body, "args"), JSON_COMPACT | JSON_ENCODE_ANY);
      if (!got || strcmp(got, e->args) != 0)
        FAILF("%s: args %s, want %s", e->name, got ? got : "(none)", e->args);
      free(got);
    }
  }
  for (size_t i = 0; i < 8 && k->starts[i].instance; i++) {
    const start_t *w = &k->starts[i];
    char line[160];
    snprintf(line, sizeof(line), "@%d START %s#%d\n", w->at_s, w->instance, w->attempt);
    if (!strstr(s->log.data ? s->log.data : "", line))
      FAILF("log lacks \"%.*s\"", (int)strlen(line) - 1, line);
  }
  for (size_t i = 0; i < 8 && k->log[i]; i++) {
    if (!strstr(s->log.data ? s->log.data : "", k->log[i]))
      FAILF("log lacks \"%s\"", k->log[i]);
  }
  if (sk_test_failed_now)
    printf("  log:\n%s", s->log.data ? s->log.data : "");
}

static void run_case(const kase_t *k) {
  sk_workflow_t *wf = load_wf(k->yaml);
  REQUIRE(wf);
  sim_t s;
  sim_init(&s, wf, k->script, script_len(k->script, 16));
  s.shutdown = k->shutdown;
  s.shutdown_at = k->shutdown_at_s ? T0 + SEC(k->shutdown_at_s) : 0;
  sim_run(&s);
  check_case(&s, k);
  sim_release(&s);
  sk_workflow_destroy(wf);
}

/* ---- DAG order and parallelism ---- */

TEST(linear) {
  static const kase_t k = {
      .yaml = "  steps:\n"
              "    - name: a\n" POD
              "    - name: b\n      dependsOn: [a]\n" POD
              "    - name: c\n      dependsOn: [b]\n" POD,
      .phase = "Succeeded", .message = "", .end_s = 30, .max_running = 1,
      .expect = {X("a", "Succeeded", 1, 0), X("b", "Succeeded", 1, 10), X("c", "Succeeded", 1, 20)},
  };
  run_case(&k);
}

TEST(diamond) {
  static const kase_t k = {
      .yaml = "  steps:\n"
              "    - name: a\n" POD
              "    - name: b\n      dependsOn: [a]\n" POD
              "    - name: c\n      dependsOn: [a]\n" POD
              "    - name: d\n      dependsOn: [b, c]\n" POD,
      .script = {RUNS("c", 0, 20)},
      .phase = "Succeeded", .end_s = 40, .max_running = 2,
      .expect = {X("a", "Succeeded", 1, 0),
                 X("b", "Succeeded", 1, 10),
                 X("c", "Succeeded", 1, 10),
                 X("d", "Succeeded", 1, 30)},
  };
  run_case(&k);
}

#define FOUR_STEPS                                                                         \
  "  steps:\n"                                                                             \
  "    - name: p\n" POD "    - name: q\n" POD "    - name: r\n" POD "    - name: s\n" POD

TEST(parallelism_1) {
  static const kase_t k = {
      .yaml = "  parallelism: 1\n" FOUR_STEPS,
      .phase = "Succeeded", .end_s = 40, .max_running = 1,
      .expect = {X("p", "Succeeded", 1, 0),
                 X("q", "Succeeded", 1, 10),
                 X("r", "Succeeded", 1, 20),
                 X("s", "Succeeded", 1, 30)},
  };
  run_case(&k);
}

TEST(parallelism_2) {
  static const kase_t k = {
      .yaml = "  parallelism: 2\n" FOUR_STEPS,
      .script = {RUNS("p", 0, 5)},
      .phase = "Succeeded", .end_s = 20, .max_running = 2,
      .expect = {X("p", "Succeeded", 1, 0),
                 X("q", "Succeeded", 1, 0),
                 X("r", "Succeeded", 1, 5),
                 X("s", "Succeeded", 1, 10)},
  };
  run_case(&k);
}

TEST(parallelism_counts_instances_and_finally) {
  static const kase_t k = {
      .yaml = "  parallelism: 2\n"
              "  steps:\n"
              "    - name: t\n      forEach: [1, 2, 3]\n" POD
              "    - name: u\n" POD
              "  finally:\n"
              "    - name: f\n" POD
              "    - name: g\n" POD
              "    - name: h\n" POD,
      .phase = "Succeeded", .end_s = 40, .max_running = 2,
      .expect = {X("t-0", "Succeeded", 1, 0),
                 X("t-1", "Succeeded", 1, 0),
                 X("t-2", "Succeeded", 1, 10),
                 X("u", "Succeeded", 1, 10),
                 X("f", "Succeeded", 1, 20),
                 X("g", "Succeeded", 1, 20),
                 X("h", "Succeeded", 1, 30)},
  };
  run_case(&k);
}

/* ---- retries and timeouts ---- */

TEST(retry_then_success) {
  static const kase_t k = {
      .yaml = "  steps:\n"
              "    - name: a\n"
              "      retry: {limit: 3, backoff: {seconds: 10, factor: 2, maxSeconds: 15}}\n" POD,
      .script = {FAILS("a", 1, 5, "boom"),
                 FAILS("a", 2, 5, "boom again"),
                 RUNS("a", 3, 5)},
      .phase = "Succeeded", .end_s = 40,
      .expect = {X("a", "Succeeded", 3, 0)},
      /* 10s after attempt 1, then 10*2 = 20 capped at 15 after attempt 2. */
      .starts = {{"a", 1, 0}, {"a", 2, 15}, {"a", 3, 35}},
      .log = {"@5 a Running->Pending: attempt 1 failed: boom; retrying in 10s\n",
              "@20 a Running->Pending: attempt 2 failed: boom again; retrying in 15s\n"},
  };
  run_case(&k);
}

TEST(retries_exhausted) {
  static const kase_t k = {
      .yaml = "  steps:\n"
              "    - name: a\n"
              "      retry: {limit: 2, backoff: {seconds: 1, factor: 3}}\n" POD
              "    - name: b\n      dependsOn: [a]\n" POD
              "    - name: c\n" POD
              "    - name: d\n      dependsOn: [c]\n" POD,
      .script = {FAILS("a", 0, 1, "exit status 2")},
      .phase = "Failed", .end_s = 20,
      .message = "step a failed: failed after 3 attempts: exit status 2",
      .expect = {XM("a", "Failed", 3, 0, "failed after 3 attempts: exit status 2"),
                 XM("b", "Skipped", 0, -1, "dependency a is Failed"),
                 X("c", "Succeeded", 1, 0),
                 X("d", "Succeeded", 1, 10)},
      /* Backoff 1s, then 1*3 = 3s. */
      .starts = {{"a", 1, 0}, {"a", 2, 2}, {"a", 3, 6}},
  };
  run_case(&k);
}

TEST(no_retries_message) {
  static const kase_t k = {
      .yaml = "  steps:\n    - name: a\n" POD,
      .script = {FAILS("a", 0, 1, "exit status 1")},
      .phase = "Failed", .message = "step a failed: exit status 1", .end_s = 1,
      .expect = {XM("a", "Failed", 1, 0, "exit status 1")},
  };
  run_case(&k);
}

TEST(timeout_kill_then_retry) {
  static const kase_t k = {
      .yaml = "  steps:\n"
              "    - name: a\n"
              "      timeoutSeconds: 5\n"
              "      retry: {limit: 1, backoff: {seconds: 0, factor: 1}}\n" POD,
      .script = {RUNS("a", 1, -1), RUNS("a", 2, 2)},
      .phase = "Succeeded", .end_s = 7,
      .expect = {X("a", "Succeeded", 2, 0)},
      .starts = {{"a", 1, 0}, {"a", 2, 5}},
      .log = {"@5 KILL a#1: timed out after 5s\n",
              "@5 a Running->Pending: attempt 1 failed: timed out after 5s; retrying in 0s\n"},
  };
  run_case(&k);
}

TEST(timeout_exhausted) {
  static const kase_t k = {
      .yaml = "  steps:\n    - name: a\n      timeoutSeconds: 3\n" POD,
      .script = {RUNS("a", 0, -1)},
      .phase = "Failed", .end_s = 3, .message = "step a failed: timed out after 3s",
      .expect = {XM("a", "Failed", 1, 0, "timed out after 3s")},
      .log = {"@3 KILL a#1: timed out after 3s\n"},
  };
  run_case(&k);
}

/* ---- the workflow deadline ---- */

TEST(deadline_while_running) {
  static const kase_t k = {
      .yaml = "  activeDeadlineSeconds: 30\n"
              "  steps:\n"
              "    - name: a\n" POD
              "    - name: b\n      dependsOn: [a]\n" POD
              "    - name: c\n      dependsOn: [b]\n" POD
              "  finally:\n"
              "    - name: f\n"
              "      pod: {image: busybox, args: [\"{{workflow.phase}}\"]}\n",
      .script = {RUNS("b", 0, -1)},
      .phase = "Failed", .message = "activeDeadlineSeconds (30) exceeded", .end_s = 40,
      .expect = {X("a", "Succeeded", 1, 0),
                 XM("b", "Failed", 1, 10, "workflow deadline of 30s exceeded"),
                 XM("c", "Skipped", 0, -1, "workflow deadline of 30s exceeded"),
                 XA("f", "Succeeded", 1, 30, "[\"Failed\"]")},
      .log = {"@30 KILL b#1: workflow deadline of 30s exceeded\n"},
  };
  run_case(&k);
}

TEST(deadline_during_backoff) {
  static const kase_t k = {
      .yaml = "  activeDeadlineSeconds: 20\n"
              "  steps:\n"
              "    - name: a\n"
              "      retry: {limit: 2, backoff: {seconds: 60, factor: 1}}\n" POD,
      .script = {FAILS("a", 1, 5, "boom")},
      .phase = "Failed", .message = "activeDeadlineSeconds (20) exceeded", .end_s = 20,
      .expect = {XM("a", "Skipped", 1, 0, "workflow deadline of 20s exceeded")},
  };
  run_case(&k);
}

/* ---- stop and terminate ---- */

#define STOP_WF                                                                            \
  "  steps:\n"                                                                             \
  "    - name: a\n" POD "    - name: b\n      dependsOn: [a]\n" POD "  finally:\n"         \
  "    - name: f\n"                                                                        \
  "      pod: {image: busybox, args: [\"{{workflow.phase}}\"]}\n"

TEST(stop_while_running) {
  static const kase_t k = {
      .yaml = STOP_WF,
      .shutdown = SK_SHUTDOWN_STOP, .shutdown_at_s = 5,
      .phase = "Cancelled", .message = "stopped", .end_s = 15,
      .expect = {XM("a", "Cancelled", 1, 0, "workflow stopped"),
                 X("b", "Cancelled", 0, -1),
                 XA("f", "Succeeded", 1, 5, "[\"Cancelled\"]")},
      .log = {"@5 KILL a#1: workflow stopped\n"},
  };
  run_case(&k);
}

TEST(stop_during_backoff) {
  static const kase_t k = {
      .yaml = "  steps:\n"
              "    - name: a\n"
              "      retry: {limit: 2, backoff: {seconds: 60, factor: 1}}\n" POD
              "  finally:\n    - name: f\n" POD,
      .script = {FAILS("a", 1, 5, "boom")},
      .shutdown = SK_SHUTDOWN_STOP, .shutdown_at_s = 10,
      .phase = "Cancelled", .message = "stopped", .end_s = 20,
      .expect = {X("a", "Cancelled", 1, 0), X("f", "Succeeded", 1, 10)},
  };
  run_case(&k);
}

TEST(stop_after_main_steps_changes_nothing) {
  static const kase_t k = {
      .yaml = "  steps:\n    - name: a\n" POD "  finally:\n    - name: f\n" POD,
      .shutdown = SK_SHUTDOWN_STOP, .shutdown_at_s = 15,
      .phase = "Succeeded", .message = "", .end_s = 20,
      .expect = {X("a", "Succeeded", 1, 0), X("f", "Succeeded", 1, 10)},
  };
  run_case(&k);
}

TEST(stop_in_spec) {
  static const kase_t k = {
      .yaml = "  shutdown: Stop\n" STOP_WF,
      .phase = "Cancelled", .message = "stopped", .end_s = 10,
      .expect = {X("a", "Cancelled", 0, -1),
                 X("b", "Cancelled", 0, -1),
                 XA("f", "Succeeded", 1, 0, "[\"Cancelled\"]")},
  };
  run_case(&k);
}

TEST(terminate_skips_finally) {
  static const kase_t k = {
      .yaml = STOP_WF,
      .shutdown = SK_SHUTDOWN_TERMINATE, .shutdown_at_s = 5,
      .phase = "Cancelled", .message = "terminated", .end_s = 5,
      .expect = {XM("a", "Cancelled", 1, 0, "workflow terminated"),
                 X("b", "Cancelled", 0, -1),
                 X("f", "Cancelled", 0, -1)},
      .log = {"@5 KILL a#1: workflow terminated\n"},
  };
  run_case(&k);
}

TEST(terminate_kills_finally) {
  static const kase_t k = {
      .yaml = "  steps:\n    - name: a\n" POD "  finally:\n    - name: f\n" POD,
      .script = {RUNS("f", 0, -1)},
      .shutdown = SK_SHUTDOWN_TERMINATE, .shutdown_at_s = 15,
      .phase = "Cancelled", .message = "terminated", .end_s = 15,
      .expect = {X("a", "Succeeded", 1, 0), X("f", "Cancelled", 1, 10)},
      .log = {"@15 KILL f#1: workflow terminated\n"},
  };
  run_case(&k);
}

/* ---- when and skips ---- */

TEST(when_numbers_and_strings) {
  static const kase_t k = {
      .yaml = "  params: [{name: n, default: \"10\"}]\n"
              "  steps:\n"
              "    - name: a\n" POD
              "    - name: b\n      dependsOn: [a]\n"
              "      when: \"{{steps.a.outputs.accuracy}} >= 0.9\"\n" POD
              "    - name: c\n      dependsOn: [a]\n"
              "      when: \"{{steps.a.outputs.accuracy}} > 0.95\"\n" POD
              "    - name: d\n      dependsOn: [a]\n"
              "      when: \"'{{steps.a.outputs.mode}}' == 'fast'\"\n" POD
              "    - name: e\n      dependsOn: [a]\n"
              "      when: \"{{steps.a.outputs.mode}} != fast\"\n" POD
              "    - name: g\n"
              "      when: \"{{params.n}} > 9\"\n" POD
              "    - name: h\n      dependsOn: [a]\n"
              "      when: \"{{steps.a.outputs.nope}} == 1\"\n" POD,
      .script = {OUTS("a", 10, "{\"accuracy\": \"0.93\", \"mode\": \"fast\"}")},
      .phase = "Failed", .end_s = 20,
      .expect = {X("b", "Succeeded", 1, 10),
                 XM("c", "Skipped", 0, -1, "when was false: 0.93 > 0.95"),
                 X("d", "Succeeded", 1, 10),
                 XM("e", "Skipped", 0, -1, "when was false: fast != fast"),
                 /* 10 > 9 as numbers, though "10" < "9" as strings. */
                 X("g", "Succeeded", 1, 0),
                 XM("h", "Failed", 0, -1, "step a has no output \"nope\" (it has: accuracy, mode)")},
  };
  run_case(&k);
}

TEST(skip_propagation) {
  static const kase_t k = {
      .yaml = "  steps:\n"
              "    - name: a\n      when: \"1 == 2\"\n" POD
              "    - name: b\n      dependsOn: [a]\n" POD
              "    - name: c\n      dependsOn: [b]\n" POD
              "    - name: d\n" POD,
      .phase = "Succeeded", .message = "", .end_s = 10,
      .expect = {XM("a", "Skipped", 0, -1, "when was false: 1 == 2"),
                 XM("b", "Skipped", 0, -1, "dependency a is Skipped"),
                 XM("c", "Skipped", 0, -1, "dependency b is Skipped"),
                 X("d", "Succeeded", 1, 0)},
  };
  run_case(&k);
}

TEST(all_skipped_succeeds) {
  static const kase_t k = {
      .yaml = "  steps:\n"
              "    - name: a\n      when: \"false\"\n" POD
              "    - name: b\n      dependsOn: [a]\n" POD,
      .phase = "Succeeded", .message = "", .end_s = 0,
      .expect = {X("a", "Skipped", 0, -1), X("b", "Skipped", 0, -1)},
  };
  run_case(&k);
}

/* ---- forEach ---- */

TEST(foreach_literal_and_outputs) {
  static const kase_t k = {
      .yaml = "  parallelism: 2\n"
              "  steps:\n"
              "    - name: t\n"
              "      forEach: [\"x\", \"y\", \"z\"]\n"
              "      pod: {image: busybox, args: [\"{{item}}\"]}\n"
              "    - name: u\n      dependsOn: [t]\n"
              "      pod: {image: busybox, args: [\"{{steps.t.outputs.v}}\", "
              "\"{{steps.t-1.outputs.v}}\", \"{{steps.t.phase}}\"]}\n",
      .script = {OUTS("t-0", 10, "{\"v\": \"X\"}"),
                 OUTS("t-1", 10, "{\"v\": \"Y\"}"),
                 OUTS("t-2", 10, "{\"v\": 3}")},
      .phase = "Succeeded", .end_s = 30, .max_running = 2,
      .expect = {X("t", "Succeeded", 0, 0),
                 XA("t-0", "Succeeded", 1, 0, "[\"x\"]"),
                 XA("t-1", "Succeeded", 1, 0, "[\"y\"]"),
                 XA("t-2", "Succeeded", 1, 10, "[\"z\"]"),
                 XA("u", "Succeeded", 1, 20, "[\"[\\\"X\\\",\\\"Y\\\",\\\"3\\\"]\",\"Y\",\"Succeeded\"]")},
  };
  run_case(&k);
}

TEST(foreach_from_output_with_objects) {
  static const kase_t k = {
      .yaml = "  steps:\n"
              "    - name: a\n" POD
              "    - name: b\n      dependsOn: [a]\n"
              "      forEach: \"{{steps.a.outputs.list}}\"\n"
              "      pod: {image: busybox, args: [\"{{item.lr.v}}\", \"{{item}}\"]}\n",
      .script = {OUTS("a", 10, "{\"list\": \"[{\\\"lr\\\": {\\\"v\\\": \\\"0.1\\\"}}, {\\\"lr\\\": {\\\"v\\\": "
                  "\\\"0.01\\\"}}]\"}")},
      .phase = "Succeeded", .end_s = 20,
      .expect = {X("b", "Succeeded", 0, 10),
                 XA("b-0", "Succeeded", 1, 10, "[\"0.1\",\"{\\\"lr\\\":{\\\"v\\\":\\\"0.1\\\"}}\"]"),
                 XA("b-1", "Succeeded", 1, 10, "[\"0.01\",\"{\\\"lr\\\":{\\\"v\\\":\\\"0.01\\\"}}\"]")},
  };
  run_case(&k);
}

TEST(foreach_empty) {
  static const kase_t k = {
      .yaml = "  steps:\n"
              "    - name: t\n      forEach: []\n" POD
              "    - name: u\n      dependsOn: [t]\n" POD,
      .phase = "Succeeded", .end_s = 10,
      .expect = {XM("t", "Succeeded", 0, -1, "forEach gave no items"), X("u", "Succeeded", 1, 0)},
  };
  run_case(&k);
}

TEST(foreach_bad_lists) {
  static const kase_t k = {
      .yaml = "  steps:\n"
              "    - name: a\n" POD
              "    - name: n\n      dependsOn: [a]\n      forEach: \"{{steps.a.outputs.num}}\"\n" POD
              "    - name: j\n      dependsOn: [a]\n      forEach: \"{{steps.a.outputs.bad}}\"\n" POD
              "    - name: m\n      dependsOn: [a]\n      forEach: \"{{steps.a.outputs.none}}\"\n" POD
              "    - name: l\n      dependsOn: [a]\n      forEach: \"{{steps.a.outputs.lists}}\"\n" POD
              "    - name: o\n      dependsOn: [n]\n" POD,
      .script = {OUTS("a", 10, "{\"num\": \"5\", \"bad\": \"[1,\", \"lists\": \"[1, [2]]\"}")},
      .phase = "Failed", .end_s = 10,
      .message = "step n failed: forEach gave a number, not a list",
      .expect = {XM("n", "Failed", 0, -1, "forEach gave a number, not a list"),
                 XM("j", "Failed", 0, -1, "forEach is not valid JSON"),
                 XM("m", "Failed", 0, -1,
                    "step a has no output \"none\" (it has: num, bad, lists)"),
                 XM("l", "Failed", 0, -1,
                    "forEach item 1 is a list: items must be strings, numbers, booleans or "
                    "objects"),
                 XM("o", "Skipped", 0, -1, "dependency n is Failed")},
  };
  run_case(&k);
}

TEST(foreach_when_on_item) {
  static const kase_t k = {
      .yaml = "  steps:\n"
              "    - name: t\n      forEach: [1, 2, 3, 4]\n"
              "      when: \"{{item}} > 2\"\n" POD
              "    - name: z\n      forEach: [1, 2]\n"
              "      when: \"{{item}} > 2\"\n" POD
              "    - name: y\n      dependsOn: [z]\n" POD,
      .phase = "Succeeded", .end_s = 10,
      .expect = {X("t", "Succeeded", 0, 0),
                 XM("t-0", "Skipped", 0, -1, "when was false: 1 > 2"),
                 XM("t-1", "Skipped", 0, -1, "when was false: 2 > 2"),
                 X("t-2", "Succeeded", 1, 0),
                 X("t-3", "Succeeded", 1, 0),
                 XM("z", "Skipped", 0, -1, "all 2 instances were skipped"),
                 XM("y", "Skipped", 0, -1, "dependency z is Skipped")},
  };
  run_case(&k);
}

TEST(foreach_instance_fails) {
  static const kase_t k = {
      .yaml = "  steps:\n"
              "    - name: t\n      forEach: [a, b, c]\n" POD
              "    - name: u\n      dependsOn: [t]\n" POD,
      .script = {FAILS("t-1", 0, 5, "bad item")},
      .phase = "Failed", .end_s = 10, .message = "step t-1 failed: bad item",
      .expect = {XM("t", "Failed", 0, 0, "1 of 3 instances failed; first t-1: bad item"),
                 X("t-0", "Succeeded", 1, 0),
                 X("t-2", "Succeeded", 1, 0),
                 XM("u", "Skipped", 0, -1, "dependency t is Failed")},
  };
  run_case(&k);
}

/* ---- finally and the workflow phase ---- */

TEST(finally_sees_success_and_identity) {
  static const kase_t k = {
      .yaml = "  steps:\n"
              "    - name: a\n"
              "      pod: {image: busybox, args: [\"{{workflow.phase}}\", \"{{workflow.name}}\", "
              "\"{{workflow.namespace}}\", \"{{workflow.uid}}\"]}\n"
              "  finally:\n"
              "    - name: f\n"
              "      pod: {image: busybox, args: [\"{{workflow.phase}}\"]}\n"
              "    - name: g\n      dependsOn: [f]\n" POD,
      .phase = "Succeeded", .message = "", .end_s = 30,
      .expect = {XA("a", "Succeeded", 1, 0, "[\"Running\",\"wf\",\"ml\",\"uid-1\"]"),
                 XA("f", "Succeeded", 1, 10, "[\"Succeeded\"]"),
                 X("g", "Succeeded", 1, 20)},
  };
  run_case(&k);
}

TEST(finally_sees_failure) {
  static const kase_t k = {
      .yaml = "  steps:\n    - name: a\n" POD
              "  finally:\n"
              "    - name: f\n"
              "      pod: {image: busybox, args: [\"{{workflow.phase}}\"]}\n",
      .script = {FAILS("a", 0, 3, "oops")},
      .phase = "Failed", .message = "step a failed: oops", .end_s = 13,
      .expect = {XA("f", "Succeeded", 1, 3, "[\"Failed\"]")},
  };
  run_case(&k);
}

TEST(failing_finally_fails_workflow) {
  static const kase_t k = {
      .yaml = "  steps:\n    - name: a\n" POD "  finally:\n    - name: f\n" POD,
      .script = {FAILS("f", 0, 2, "notify broke")},
      .phase = "Failed", .message = "finally step f failed: notify broke", .end_s = 12,
      .expect = {X("a", "Succeeded", 1, 0), X("f", "Failed", 1, 10)},
  };
  run_case(&k);
}

TEST(failing_main_and_finally) {
  static const kase_t k = {
      .yaml = "  steps:\n    - name: a\n" POD "  finally:\n    - name: f\n" POD,
      .script = {FAILS("a", 0, 1, "x"), FAILS("f", 0, 2, "y")},
      .phase = "Failed", .message = "step a failed: x; finally step f failed: y", .end_s = 3,
  };
  run_case(&k);
}

/* ---- templating failures ---- */

TEST(missing_output_fails_without_retry) {
  static const kase_t k = {
      .yaml = "  steps:\n"
              "    - name: a\n" POD
              "    - name: b\n      dependsOn: [a]\n"
              "      retry: {limit: 3, backoff: {seconds: 1, factor: 1}}\n"
              "      pod: {image: busybox, args: [\"{{steps.a.outputs.y}}\"]}\n",
      .script = {OUTS("a", 10, "{\"x\": \"1\", \"z\": \"2\"}")},
      .phase = "Failed", .end_s = 10,
      .expect = {XM("b", "Failed", 0, -1, "args[0]: steps.a.outputs.y: step a has no output \"y\" (it has: x, z)")},
  };
  run_case(&k);
}

/* ---- resume ---- */

static const char *phase_of(const sk_wf_status_t *st, const char *name) {
  const sk_step_status_t *r = sk_wf_status_find(st, name);
  return r ? sk_phase_name(r->phase) : "(none)";
}

static const char *progress_of(const sk_wf_status_t *st) {
  static char buf[32];
  sk_wf_status_progress(st, buf, sizeof(buf));
  return buf;
}

TEST(resume_reruns_what_did_not_succeed) {
  sk_workflow_t *wf = load_wf("  activeDeadlineSeconds: 1000\n"
                              "  steps:\n"
                              "    - name: a\n" POD
                              "    - name: b\n      dependsOn: [a]\n" POD
                              "    - name: c\n" POD
                              "    - name: t\n      forEach: [1, 2, 3]\n" POD
                              "    - name: u\n      dependsOn: [t]\n" POD
                              "  finally:\n"
                              "    - name: f\n" POD
                              "    - name: g\n      forEach: [1, 2]\n" POD);
  REQUIRE(wf);
  static const script_t first[] = {{"a", 0, 5, true, NULL, "flaky"},
                                   {"t-1", 0, 5, true, NULL, "flaky"}};
  sim_t s;
  sim_init(&s, wf, first, 2);
  sim_run(&s);
  CHECK_STR(sk_phase_name(s.st.phase), "Failed");
  CHECK_STR(phase_of(&s.st, "b"), "Skipped");
  CHECK_STR(phase_of(&s.st, "u"), "Skipped");
  CHECK_STR(phase_of(&s.st, "g-1"), "Succeeded");

  int64_t resume_at = s.now + SEC(100);
  CHECK_INT(sk_engine_prepare_resume(wf, &s.st, resume_at), 0);
  CHECK_STR(sk_phase_name(s.st.phase), "Running");
  CHECK_INT(s.st.started_at_ms, resume_at);
  CHECK_INT(s.st.finished_at_ms, 0);
  CHECK(s.st.message == NULL);
  CHECK_INT(s.st.steps_phase, SK_PHASE_PENDING);
  static const struct {
    const char *name;
    const char *phase;
    int attempt;
  } after[] = {{"a", "Pending", 0},   {"b", "Pending", 0},   {"c", "Succeeded", 1},
               {"t", "Pending", 0},   {"t-0", "Succeeded", 1}, {"t-1", "Pending", 0},
               {"t-2", "Succeeded", 1}, {"u", "Pending", 0},   {"f", "Pending", 0},
               {"g", "Pending", 0}};
  for (size_t i = 0; i < sizeof(after) / sizeof(after[0]); i++) {
    const sk_step_status_t *r = sk_wf_status_find(&s.st, after[i].name);
    if (!r) {
      FAILF("no record %s after resume", after[i].name);
      continue;
    }
    if (strcmp(sk_phase_name(r->phase), after[i].phase) != 0 || r->attempt != after[i].attempt)
      FAILF("%s: %s attempt %d after resume, want %s attempt %d", after[i].name,
            sk_phase_name(r->phase), r->attempt, after[i].phase, after[i].attempt);
  }
  /* The finally fan-out expands afresh; the main one keeps its instances. */
  CHECK(sk_wf_status_find(&s.st, "g-0") == NULL);
  CHECK_INT(sk_wf_status_find(&s.st, "g")->instances, -1);
  CHECK_INT(sk_wf_status_find(&s.st, "t")->instances, 3);
  CHECK_STR(progress_of(&s.st), "3/9");

  /* The second run: everything succeeds, only what was missing runs. */
  s.now = resume_at;
  s.script = NULL;
  s.nscript = 0;
  sk_buf_reset(&s.log);
  sim_run(&s);
  CHECK_STR(sk_phase_name(s.st.phase), "Succeeded");
  const char *log = s.log.data ? s.log.data : "";
  CHECK(strstr(log, "START a#1\n") != NULL);
  CHECK(strstr(log, "START t-1#1\n") != NULL);
  CHECK(strstr(log, "START c#") == NULL);
  CHECK(strstr(log, "START t-0#") == NULL);
  CHECK(strstr(log, "START t-2#") == NULL);
  CHECK_INT(sk_wf_status_find(&s.st, "c")->started_at_ms, T0);
  CHECK_INT(sk_wf_status_find(&s.st, "a")->started_at_ms, resume_at);
  CHECK_STR(phase_of(&s.st, "g-1"), "Succeeded");
  if (sk_test_failed_now)
    printf("  log:\n%s", log);
  sim_release(&s);
  sk_workflow_destroy(wf);
}

/* Reports that end the last main steps before the plan runs beat a
 * deadline or a Stop that the same plan sees. */
int main(void) {
  RUN(linear);
  RUN(diamond);
  RUN(parallelism_1);
  RUN(parallelism_2);
  RUN(parallelism_counts_instances_and_finally);
  RUN(retry_then_success);
  RUN(retries_exhausted);
  RUN(no_retries_message);
  RUN(timeout_kill_then_retry);
  RUN(timeout_exhausted);
  RUN(deadline_while_running);
  RUN(deadline_during_backoff);
  RUN(stop_while_running);
  RUN(stop_during_backoff);
  RUN(stop_after_main_steps_changes_nothing);
  RUN(stop_in_spec);
  RUN(terminate_skips_finally);
  RUN(terminate_kills_finally);
  RUN(when_numbers_and_strings);
  RUN(skip_propagation);
  RUN(all_skipped_succeeds);
  RUN(foreach_literal_and_outputs);
  RUN(foreach_from_output_with_objects);
  RUN(foreach_empty);
  RUN(foreach_bad_lists);
  RUN(foreach_when_on_item);
  RUN(foreach_instance_fails);
  RUN(finally_sees_success_and_identity);
  RUN(finally_sees_failure);
  RUN(failing_finally_fails_workflow);
  RUN(failing_main_and_finally);
  RUN(missing_output_fails_without_retry);
  RUN(resume_reruns_what_did_not_succeed);
  return TEST_DONE();
}
