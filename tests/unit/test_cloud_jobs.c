/*
 * The cloud job tracker (lib/cloud/jobs*.c) against a fake Vertex AI on
 * the test's loop: submit to success with outputs, a failed job's reason,
 * a lost create answer (exactly one job, found by label), resume by name,
 * adopt-first with pagination, throttling (the next request planned no
 * sooner than 30 s, or RetryInfo's longer delay), 503s retried, a
 * validation error failing at once, 401 → invalidate once and retry,
 * cancel (running, before the create, during the create), bad bodies, and
 * on_change only from the loop. SageMaker is in test_cloud_jobs_sagemaker.c
 * and the rate limit in test_cloud_jobs_rate.c.
 */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/gcp.h"
#include "cloud_fakesrv.h"
#include "util/error.h"

#define UID "6d1c0e9a-3f4b-4c2d-9e8f-7a6b5c4d3e2f"
#define KEY UID "/train/1"

/* A vertex: body with fast polls (10 ms, at most 20 ms). */
static json_t *vertex_body(bool with_project) {
  json_t *b = json_pack(
      "{s:s, s:{s:{s:[{s:{s:s}, s:s, s:{s:s}}], s:{s:s}}}, s:{s:f, s:f, s:f}}", "location",
      "us-central1", "customJob", "jobSpec", "workerPoolSpecs", "machineSpec", "machineType",
      "n1-standard-4", "replicaCount", "1", "containerSpec", "imageUri", "gcr.io/p/train:1",
      "baseOutputDirectory", "outputUriPrefix", "gs://bucket/out", "poll", "initialSeconds", 0.01,
      "factor", 1.5, "maxSeconds", 0.02);
  if (with_project)
    json_object_set_new(b, "project", json_string("proj"));
  return b;
}

TEST(submit_to_success) {
  cf_env_t e;
  REQUIRE(cf_env_init(&e, CF_VERTEX) == 0 && cf_env_start(&e) == 0);
  const char *states[] = {"JOB_STATE_PENDING", "JOB_STATE_RUNNING", "JOB_STATE_RUNNING",
                          "JOB_STATE_SUCCEEDED"};
  cf_script(&e.fake, states, 4);
  json_t *body = vertex_body(true);
  sk_cjob_desc_t d = cf_desc(&e, SK_CJOB_VERTEX, UID, KEY, "train", body);
  CHECK_INT(cf_ensure(&e, &d), 0);
  json_decref(body); /* copied by ensure */
  sk_cjob_info_t info;
  CHECK_INT(sk_cjobs_info(e.t, KEY, &info), 0);
  CHECK_INT(info.phase, SK_CJOB_SUBMITTING);
  CHECK(info.name == NULL);
  CHECK_STR(info.ref_kind, "VertexCustomJob");
  CHECK_INT(e.changes, 0); /* not from inside ensure */
  CHECK(cf_wait_phase(&e, KEY, SK_CJOB_SUCCEEDED, 10000));
  CHECK_INT(sk_cjobs_info(e.t, KEY, &info), 0);
  CHECK_STR(info.name, "projects/proj/locations/us-central1/customJobs/1000");
  CHECK_STR(info.state, "JOB_STATE_SUCCEEDED");
  CHECK(info.message == NULL);
  CHECK_STR(cf_out_str(&info, "jobName"), "projects/proj/locations/us-central1/customJobs/1000");
  CHECK_STR(cf_out_str(&info, "state"), "JOB_STATE_SUCCEEDED");
  CHECK_STR(cf_out_str(&info, "modelDir"), "gs://bucket/out/model/");
  CHECK_INT(info.polls, 4);
  CHECK_INT(info.next_poll_at_ms, 0);
  CHECK(cf_wait_seen(&e, SK_CJOB_SUCCEEDED, 1000));
  CHECK(e.phases_seen & (1u << SK_CJOB_RUNNING));
  CHECK_INT(e.fake.executed_creates, 1);
  CHECK_INT(e.fake.gets, 4);
  CHECK_INT(e.fake.lists, 0);
  CHECK_STR(e.fake.last_auth, "Bearer test-token");
  /* The create carried our display name and labels. */
  json_t *sent = json_loads(e.fake.last_create ? e.fake.last_create : "", 0, NULL);
  CHECK_STR(json_string_value(json_object_get(sent, "displayName")), "mnist-train-1");
  json_t *labels = json_object_get(sent, "labels");
  CHECK_STR(json_string_value(json_object_get(labels, "skein-workflow-uid")), UID);
  CHECK_STR(json_string_value(json_object_get(labels, "skein-step")), "train");
  CHECK_STR(json_string_value(json_object_get(labels, "skein-attempt")), "1");
  CHECK(json_object_get(sent, "jobSpec") != NULL);
  CHECK(json_object_get(sent, "poll") == NULL);
  json_decref(sent);
  /* A finished job sends nothing more; ensuring it again changes nothing. */
  int reqs = e.fake.requests;
  CHECK_INT(cf_ensure(&e, &d), 0); /* d.body is gone, but a known key reads nothing */
  cf_run_for(&e, 100);
  CHECK_INT(e.fake.requests, reqs);
  sk_cjobs_stats_t st;
  sk_cjobs_stats(e.t, &st);
  CHECK_INT(st.tracked, 1);
  CHECK_INT(st.creates, 1);
  CHECK_INT(st.requests, 5);
  CHECK_INT(st.adopted, 0);
  sk_cjobs_forget(e.t, KEY);
  CHECK_INT(sk_cjobs_info(e.t, KEY, &info), SK_ENOENT);
  CHECK_INT(sk_cjobs_cancel(e.t, KEY), SK_ENOENT);
  sk_cjobs_stats(e.t, &st);
  CHECK_INT(st.tracked, 0);
  cf_env_finish(&e);
}

TEST(failed_with_reason) {
  cf_env_t e;
  REQUIRE(cf_env_init(&e, CF_VERTEX) == 0 && cf_env_start(&e) == 0);
  const char *states[] = {"JOB_STATE_RUNNING", "JOB_STATE_FAILED"};
  cf_script(&e.fake, states, 2);
  e.fake.failure = "The replica workerpool0-0 exited with a non-zero status of 1.";
  json_t *body = vertex_body(true);
  sk_cjob_desc_t d = cf_desc(&e, SK_CJOB_VERTEX, UID, KEY, "train", body);
  CHECK_INT(cf_ensure(&e, &d), 0);
  CHECK(cf_wait_phase(&e, KEY, SK_CJOB_FAILED, 10000));
  sk_cjob_info_t info;
  CHECK_INT(sk_cjobs_info(e.t, KEY, &info), 0);
  CHECK_STR(info.message, "Vertex AI CustomJob projects/proj/locations/us-central1/customJobs/1000 "
                          "ended JOB_STATE_FAILED: The replica workerpool0-0 exited with a "
                          "non-zero status of 1.");
  CHECK_STR(cf_out_str(&info, "state"), "JOB_STATE_FAILED");
  json_decref(body);
  cf_env_finish(&e);
}

/* The create is done by the server but its answer is lost (a reset, or
 * no answer before the request timeout): the tracker finds the job by its
 * labels and adopts it. Exactly one job. */
static void lost_create(cf_fault_kind_t kind) {
  cf_env_t e;
  REQUIRE(cf_env_init(&e, CF_VERTEX) == 0);
  e.cfg.request_timeout_ms = 300;
  REQUIRE(cf_env_start(&e) == 0);
  const char *states[] = {"JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"};
  cf_script(&e.fake, states, 2);
  cf_fault(&e.fake, CF_OP_CREATE, kind, 0, NULL);
  json_t *body = vertex_body(true);
  sk_cjob_desc_t d = cf_desc(&e, SK_CJOB_VERTEX, UID, KEY, "train", body);
  CHECK_INT(cf_ensure(&e, &d), 0);
  CHECK(cf_wait_phase(&e, KEY, SK_CJOB_SUCCEEDED, 15000));
  CHECK_INT(e.fake.executed_creates, 1);
  CHECK_INT(e.fake.creates, 1);
  CHECK(e.fake.lists >= 1);
  sk_cjob_info_t info;
  CHECK_INT(sk_cjobs_info(e.t, KEY, &info), 0);
  CHECK_STR(info.name, "projects/proj/locations/us-central1/customJobs/1000");
  sk_cjobs_stats_t st;
  sk_cjobs_stats(e.t, &st);
  CHECK_INT(st.adopted, 1);
  CHECK(st.errors >= 1);
  json_decref(body);
  cf_env_finish(&e);
}

TEST(lost_create_reset) { lost_create(CF_F_LOST); }
TEST(lost_create_timeout) { lost_create(CF_F_SILENT); }

/* A create refused with 503 (nothing made): the lookup finds nothing and
 * the create is sent again; a 503 on a get is retried. */
TEST(unavailable_retried) {
  cf_env_t e;
  REQUIRE(cf_env_init(&e, CF_VERTEX) == 0 && cf_env_start(&e) == 0);
  const char *states[] = {"JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"};
  cf_script(&e.fake, states, 2);
  cf_fault(&e.fake, CF_OP_CREATE, CF_F_503, 0, NULL);
  cf_fault(&e.fake, CF_OP_GET, CF_F_503, 0, NULL);
  cf_fault(&e.fake, CF_OP_GET, CF_F_RESET, 0, NULL);
  json_t *body = vertex_body(true);
  sk_cjob_desc_t d = cf_desc(&e, SK_CJOB_VERTEX, UID, KEY, "train", body);
  CHECK_INT(cf_ensure(&e, &d), 0);
  CHECK(cf_wait_phase(&e, KEY, SK_CJOB_SUCCEEDED, 20000));
  CHECK_INT(e.fake.executed_creates, 1);
  CHECK_INT(e.fake.creates, 2);
  CHECK_INT(e.fake.lists, 1);
  CHECK(e.fake.gets >= 4);
  sk_cjobs_stats_t st;
  sk_cjobs_stats(e.t, &st);
  CHECK_INT(st.errors, 3);
  json_decref(body);
  cf_env_finish(&e);
}

TEST(validation_error_fails_at_once) {
  cf_env_t e;
  REQUIRE(cf_env_init(&e, CF_VERTEX) == 0 && cf_env_start(&e) == 0);
  cf_fault(&e.fake, CF_OP_CREATE, CF_F_400, 0, NULL);
  json_t *body = vertex_body(true);
  sk_cjob_desc_t d = cf_desc(&e, SK_CJOB_VERTEX, UID, KEY, "train", body);
  CHECK_INT(cf_ensure(&e, &d), 0);
  CHECK(cf_wait_phase(&e, KEY, SK_CJOB_FAILED, 10000));
  sk_cjob_info_t info;
  CHECK_INT(sk_cjobs_info(e.t, KEY, &info), 0);
  CHECK_STR(info.message,
            "Vertex AI refused the job: 400 INVALID_ARGUMENT: Machine type \"n1-bogus\" is not "
            "supported.");
  CHECK(info.name == NULL && info.outputs == NULL);
  cf_run_for(&e, 100);
  CHECK_INT(e.fake.requests, 1);
  json_decref(body);
  cf_env_finish(&e);
}

/* 429 with RetryInfo: nothing is sent for at least 30 s (or RetryInfo's
 * longer delay); the planned time shows it without waiting. */
static void throttled(const char *retry, int64_t want_ms) {
  cf_env_t e;
  REQUIRE(cf_env_init(&e, CF_VERTEX) == 0 && cf_env_start(&e) == 0);
  const char *states[] = {"JOB_STATE_RUNNING"};
  cf_script(&e.fake, states, 1);
  cf_fault(&e.fake, CF_OP_GET, CF_F_THROTTLE, 0, retry);
  json_t *body = vertex_body(true);
  sk_cjob_desc_t d = cf_desc(&e, SK_CJOB_VERTEX, UID, KEY, "train", body);
  CHECK_INT(cf_ensure(&e, &d), 0);
  REQUIRE(cf_wait_message(&e, KEY, "throttled by Vertex AI", 10000));
  sk_cjob_info_t info;
  REQUIRE(sk_cjobs_info(e.t, KEY, &info) == 0);
  int64_t wait = info.next_poll_at_ms - sk_time_now_ms();
  CHECK(wait >= want_ms - 1000);
  CHECK(wait <= want_ms * 11 / 10 + 1000);
  CHECK(strstr(info.message, "429 RESOURCE_EXHAUSTED") != NULL);
  CHECK_INT(info.phase, SK_CJOB_RUNNING);
  /* A cancel now waits for the throttle too. */
  int gets = e.fake.gets;
  CHECK_INT(cf_cancel(&e, KEY), 0);
  cf_run_for(&e, 200);
  CHECK_INT(e.fake.gets, gets);
  CHECK_INT(e.fake.cancels, 0);
  CHECK_INT(sk_cjobs_info(e.t, KEY, &info), 0);
  CHECK(info.next_poll_at_ms - sk_time_now_ms() >= want_ms - 1500);
  sk_cjobs_stats_t st;
  sk_cjobs_stats(e.t, &st);
  CHECK_INT(st.throttled, 1);
  json_decref(body);
  cf_env_finish(&e);
}

TEST(throttle_waits_30s) { throttled("3.5s", 30000); }
TEST(throttle_honours_retry_info) { throttled("45s", 45000); }

TEST(unauthorized_invalidates_once) {
  cf_env_t e;
  REQUIRE(cf_env_init(&e, CF_VERTEX) == 0 && cf_env_start(&e) == 0);
  const char *states[] = {"JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"};
  cf_script(&e.fake, states, 2);
  cf_fault(&e.fake, CF_OP_GET, CF_F_401, 0, NULL);
  json_t *body = vertex_body(true);
  sk_cjob_desc_t d = cf_desc(&e, SK_CJOB_VERTEX, UID, KEY, "train", body);
  CHECK_INT(cf_ensure(&e, &d), 0);
  CHECK(cf_wait_phase(&e, KEY, SK_CJOB_SUCCEEDED, 10000));
  CHECK_INT(e.authz->invalidated, 1);
  CHECK_INT(e.fake.gets, 3);
  /* Two 401s in a row on the create: one retry, then the job fails. */
  cf_fault(&e.fake, CF_OP_CREATE, CF_F_401, 0, NULL);
  cf_fault(&e.fake, CF_OP_CREATE, CF_F_401, 0, NULL);
  d.key = UID "/train/2";
  d.attempt = 2;
  CHECK_INT(cf_ensure(&e, &d), 0);
  CHECK(cf_wait_phase(&e, d.key, SK_CJOB_FAILED, 10000));
  CHECK_INT(e.authz->invalidated, 2);
  sk_cjob_info_t info;
  CHECK_INT(sk_cjobs_info(e.t, d.key, &info), 0);
  CHECK(info.message && strstr(info.message, "401 UNAUTHENTICATED") != NULL);
  CHECK(info.message && !strstr(info.message, "test-token"));
  CHECK_INT(e.fake.executed_creates, 1);
  json_decref(body);
  cf_env_finish(&e);
}

TEST(resume_by_name) {
  cf_env_t e;
  REQUIRE(cf_env_init(&e, CF_VERTEX) == 0 && cf_env_start(&e) == 0);
  const char *states[] = {"JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"};
  cf_script(&e.fake, states, 2);
  cf_job_t *j = cf_new_job(&e.fake, "projects/proj/locations/us-central1/customJobs/77");
  REQUIRE(j);
  json_t *body = vertex_body(true);
  sk_cjob_desc_t d = cf_desc(&e, SK_CJOB_VERTEX, UID, KEY, "train", body);
  d.name = "projects/proj/locations/us-central1/customJobs/77";
  CHECK_INT(cf_ensure(&e, &d), 0);
  sk_cjob_info_t info;
  CHECK_INT(sk_cjobs_info(e.t, KEY, &info), 0);
  CHECK_INT(info.phase, SK_CJOB_RUNNING);
  CHECK_STR(info.name, d.name);
  CHECK(cf_wait_phase(&e, KEY, SK_CJOB_SUCCEEDED, 10000));
  CHECK_INT(e.fake.creates, 0);
  CHECK_INT(e.fake.lists, 0);
  CHECK_INT(e.fake.gets, 2);
  /* A recorded name the cloud no longer knows fails the job. */
  d.key = "other";
  d.name = "projects/proj/locations/us-central1/customJobs/78";
  CHECK_INT(cf_ensure(&e, &d), 0);
  CHECK(cf_wait_phase(&e, "other", SK_CJOB_FAILED, 10000));
  CHECK_INT(sk_cjobs_info(e.t, "other", &info), 0);
  CHECK(info.message && strstr(info.message, "no longer knows the job") != NULL);
  /* A recorded name that is not a CustomJob name is refused. */
  d.key = "bad";
  d.name = "projects/proj/../../x";
  CHECK_INT(cf_ensure(&e, &d), SK_EINVAL);
  CHECK_INT(sk_cjobs_info(e.t, "bad", &info), 0);
  CHECK_INT(info.phase, SK_CJOB_FAILED);
  CHECK_INT(e.fake.creates, 0);
  json_decref(body);
  cf_env_finish(&e);
}

/* A job the fake already has, with the labels skein puts on step "train"
 * of the given attempt of Workflow UID: what a create sent by an earlier
 * life of the daemon left behind. */
static cf_job_t *labelled_job(cf_fake_t *f, const char *name, int attempt) {
  cf_job_t *j = cf_new_job(f, name);
  if (j) {
    snprintf(j->uid, sizeof(j->uid), "%s", UID);
    snprintf(j->step, sizeof(j->step), "%s", "train");
    snprintf(j->attempt, sizeof(j->attempt), "%d", attempt);
  }
  return j;
}

/* adopt_first: a create may have been sent by an earlier life. The list
 * (here a server that ignores the filter, one job a page) is searched page
 * by page, and only a job with all three labels is adopted. */
TEST(adopt_first_pages_through) {
  cf_env_t e;
  REQUIRE(cf_env_init(&e, CF_VERTEX) == 0 && cf_env_start(&e) == 0);
  const char *states[] = {"JOB_STATE_SUCCEEDED"};
  cf_script(&e.fake, states, 1);
  e.fake.list_all = true;
  e.fake.page_size = 1;
  for (int i = 0; i < 4; i++) {
    char name[100];
    snprintf(name, sizeof(name), "projects/proj/locations/us-central1/customJobs/%d", 50 + i);
    REQUIRE(labelled_job(&e.fake, name, i == 3 ? 1 : 2 + i)); /* the 4th is ours */
  }
  json_t *body = vertex_body(true);
  sk_cjob_desc_t d = cf_desc(&e, SK_CJOB_VERTEX, UID, KEY, "train", body);
  d.adopt_first = true;
  CHECK_INT(cf_ensure(&e, &d), 0);
  CHECK(cf_wait_phase(&e, KEY, SK_CJOB_SUCCEEDED, 10000));
  sk_cjob_info_t info;
  CHECK_INT(sk_cjobs_info(e.t, KEY, &info), 0);
  CHECK_STR(info.name, "projects/proj/locations/us-central1/customJobs/53");
  CHECK_INT(e.fake.lists, 4);
  CHECK_INT(e.fake.creates, 0);
  sk_cjobs_stats_t st;
  sk_cjobs_stats(e.t, &st);
  CHECK_INT(st.adopted, 1);

  /* Nothing to adopt: created after the lookup. */
  d.key = "k2";
  d.attempt = 9;
  CHECK_INT(cf_ensure(&e, &d), 0);
  CHECK(cf_wait_phase(&e, "k2", SK_CJOB_SUCCEEDED, 10000));
  CHECK_INT(e.fake.creates, 1);
  CHECK_INT(e.fake.lists, 4 + 4);

  /* no_create: follow only; with nothing found it is cancelled, never
   * created. */
  e.fake.list_all = false;
  d.key = "k3";
  d.attempt = 10;
  d.adopt_first = false;
  d.no_create = true;
  CHECK_INT(cf_ensure(&e, &d), 0);
  CHECK(cf_wait_phase(&e, "k3", SK_CJOB_CANCELLED, 10000));
  CHECK_INT(sk_cjobs_info(e.t, "k3", &info), 0);
  CHECK_INT(info.cancel, SK_CJOB_CANCEL_ACCEPTED);
  CHECK_INT(e.fake.creates, 1);
  json_decref(body);
  cf_env_finish(&e);
}

/* A restarted daemon's predecessor sent a create just before it died, and
 * the server finishes it a moment later (here: 150 ms after the tracker
 * starts). A lookup before that would miss it and create a twin; the
 * tracker waits settle_ms first, finds it, and creates nothing. */
static void add_late_job(uv_timer_t *t) {
  cf_env_t *e = t->data;
  labelled_job(&e->fake, "projects/proj/locations/us-central1/customJobs/77", 1);
  uv_close((uv_handle_t *)t, NULL);
}

TEST(settle_before_lookup) {
  cf_env_t e;
  REQUIRE(cf_env_init(&e, CF_VERTEX) == 0);
  e.cfg.settle_ms = 400;
  REQUIRE(cf_env_start(&e) == 0);
  const char *states[] = {"JOB_STATE_SUCCEEDED"};
  cf_script(&e.fake, states, 1);
  uv_timer_t late;
  uv_timer_init(&e.loop, &late);
  late.data = &e;
  uv_timer_start(&late, add_late_job, 150, 0);
  json_t *body = vertex_body(true);
  sk_cjob_desc_t d = cf_desc(&e, SK_CJOB_VERTEX, UID, KEY, "train", body);
  d.adopt_first = true;
  CHECK_INT(cf_ensure(&e, &d), 0);
  CHECK(cf_wait_phase(&e, KEY, SK_CJOB_SUCCEEDED, 10000));
  sk_cjob_info_t info;
  CHECK_INT(sk_cjobs_info(e.t, KEY, &info), 0);
  CHECK_STR(info.name, "projects/proj/locations/us-central1/customJobs/77");
  CHECK_INT(e.fake.creates, 0);
  json_decref(body);
  cf_env_finish(&e);
}

TEST(cancel_running) {
  cf_env_t e;
  REQUIRE(cf_env_init(&e, CF_VERTEX) == 0 && cf_env_start(&e) == 0);
  const char *states[] = {"JOB_STATE_RUNNING"};
  cf_script(&e.fake, states, 1);
  json_t *body = vertex_body(true);
  sk_cjob_desc_t d = cf_desc(&e, SK_CJOB_VERTEX, UID, KEY, "train", body);
  CHECK_INT(cf_ensure(&e, &d), 0);
  REQUIRE(cf_wait_state(&e, KEY, "JOB_STATE_RUNNING", 10000));
  CHECK_INT(cf_cancel(&e, KEY), 0);
  CHECK_INT(cf_cancel(&e, KEY), 0); /* idempotent */
  sk_cjob_info_t info;
  CHECK_INT(sk_cjobs_info(e.t, KEY, &info), 0);
  CHECK_INT(info.cancel, SK_CJOB_CANCEL_PENDING);
  CHECK(cf_wait_phase(&e, KEY, SK_CJOB_CANCELLED, 10000));
  CHECK_INT(sk_cjobs_info(e.t, KEY, &info), 0);
  CHECK_INT(info.cancel, SK_CJOB_CANCEL_ACCEPTED);
  CHECK_STR(info.state, "JOB_STATE_CANCELLED");
  CHECK_STR(cf_out_str(&info, "state"), "JOB_STATE_CANCELLED");
  CHECK(info.message && strstr(info.message, "was cancelled"));
  CHECK_INT(e.fake.cancels, 1);
  CHECK(cf_wait_seen(&e, SK_CJOB_CANCELLED, 1000));
  /* Cancelling a finished job asks nothing of the cloud. */
  const char *done[] = {"JOB_STATE_SUCCEEDED"};
  cf_script(&e.fake, done, 1);
  d.key = "done";
  d.attempt = 2;
  CHECK_INT(cf_ensure(&e, &d), 0);
  CHECK(cf_wait_phase(&e, "done", SK_CJOB_SUCCEEDED, 10000));
  CHECK_INT(cf_cancel(&e, "done"), 0);
  CHECK_INT(sk_cjobs_info(e.t, "done", &info), 0);
  CHECK_INT(info.cancel, SK_CJOB_CANCEL_ACCEPTED);
  CHECK_INT(info.phase, SK_CJOB_SUCCEEDED);
  CHECK_INT(e.fake.cancels, 1);
  /* A refused cancel is followed by a status request; a job that ended
   * meanwhile needs no more cancels. */
  const char *ends[] = {"JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"};
  cf_script(&e.fake, ends, 2);
  d.key = "ends";
  d.attempt = 3;
  CHECK_INT(cf_ensure(&e, &d), 0);
  REQUIRE(cf_wait_state(&e, "ends", "JOB_STATE_RUNNING", 10000));
  cf_fault(&e.fake, CF_OP_CANCEL, CF_F_400, 0, NULL);
  CHECK_INT(cf_cancel(&e, "ends"), 0);
  CHECK(cf_wait_phase(&e, "ends", SK_CJOB_SUCCEEDED, 10000));
  CHECK_INT(sk_cjobs_info(e.t, "ends", &info), 0);
  CHECK_INT(info.cancel, SK_CJOB_CANCEL_ACCEPTED);
  CHECK_INT(e.fake.cancels, 2);
  json_decref(body);
  cf_env_finish(&e);
}

TEST(cancel_while_submitting) {
  cf_env_t e;
  REQUIRE(cf_env_init(&e, CF_VERTEX) == 0 && cf_env_start(&e) == 0);
  const char *states[] = {"JOB_STATE_RUNNING"};
  cf_script(&e.fake, states, 1);
  json_t *body = vertex_body(true);
  sk_cjob_desc_t d = cf_desc(&e, SK_CJOB_VERTEX, UID, KEY, "train", body);
  /* Before the create is sent: never created. */
  CHECK_INT(cf_ensure(&e, &d), 0);
  CHECK_INT(cf_cancel(&e, KEY), 0);
  CHECK(cf_wait_phase(&e, KEY, SK_CJOB_CANCELLED, 10000));
  sk_cjob_info_t info;
  CHECK_INT(sk_cjobs_info(e.t, KEY, &info), 0);
  CHECK_INT(info.cancel, SK_CJOB_CANCEL_ACCEPTED);
  cf_run_for(&e, 50);
  CHECK_INT(e.fake.requests, 0);

  /* While the create is on the wire: cancelled as soon as it is named. */
  cf_fault(&e.fake, CF_OP_CREATE, CF_F_SLOW, 200, NULL);
  d.key = "k2";
  d.attempt = 2;
  CHECK_INT(cf_ensure(&e, &d), 0);
  CHECK(cf_wait_count(&e, &e.fake.creates, 1, 10000));
  CHECK_INT(cf_cancel(&e, "k2"), 0);
  CHECK(cf_wait_phase(&e, "k2", SK_CJOB_CANCELLED, 10000));
  CHECK_INT(e.fake.executed_creates, 1);
  CHECK_INT(e.fake.cancels, 1);
  CHECK_INT(sk_cjobs_info(e.t, "k2", &info), 0);
  CHECK_INT(info.cancel, SK_CJOB_CANCEL_ACCEPTED);
  CHECK(info.name != NULL);

  /* After a lost create: looked up, found, cancelled. */
  cf_fault(&e.fake, CF_OP_CREATE, CF_F_LOST, 0, NULL);
  cf_fault(&e.fake, CF_OP_LIST, CF_F_SLOW, 100, NULL);
  d.key = "k3";
  d.attempt = 3;
  CHECK_INT(cf_ensure(&e, &d), 0);
  CHECK(cf_wait_count(&e, &e.fake.creates, 2, 10000));
  cf_run_for(&e, 50);
  CHECK_INT(cf_cancel(&e, "k3"), 0);
  CHECK(cf_wait_phase(&e, "k3", SK_CJOB_CANCELLED, 10000));
  CHECK_INT(e.fake.executed_creates, 2);
  CHECK_INT(e.fake.cancels, 2);
  json_decref(body);
  cf_env_finish(&e);
}

static bool cancel_settled(void *arg) {
  cf_env_t *e = arg;
  sk_cjob_info_t info;
  return sk_cjobs_info(e->t, KEY, &info) == 0 && info.cancel != SK_CJOB_CANCEL_PENDING;
}

/* A cancel waiting for the name of a job whose create lost its answer,
 * while every lookup fails: each failed lookup counts as a failed try of
 * the cancel, which is given up on after SK_CJOBS_CANCEL_TRIES (a stuck
 * cancel would hold the Workflow's finalizer for ever); no second create
 * is ever sent. */
TEST(cancel_gives_up_when_lookups_fail) {
  cf_env_t e;
  REQUIRE(cf_env_init(&e, CF_VERTEX) == 0);
  e.cfg.retry_base_ms = 2;
  REQUIRE(cf_env_start(&e) == 0);
  const char *states[] = {"JOB_STATE_RUNNING"};
  cf_script(&e.fake, states, 1);
  cf_fault(&e.fake, CF_OP_CREATE, CF_F_LOST, 0, NULL);
  for (int i = 0; i < SK_CJOBS_CANCEL_TRIES + 1; i++)
    cf_fault(&e.fake, CF_OP_LIST, CF_F_503, 0, NULL);
  json_t *body = vertex_body(true);
  sk_cjob_desc_t d = cf_desc(&e, SK_CJOB_VERTEX, UID, KEY, "train", body);
  CHECK_INT(cf_ensure(&e, &d), 0);
  REQUIRE(cf_wait_count(&e, &e.fake.creates, 1, 10000));
  CHECK_INT(cf_cancel(&e, KEY), 0);
  CHECK(cf_run_until(&e, cancel_settled, &e, 20000));
  sk_cjob_info_t info;
  CHECK_INT(sk_cjobs_info(e.t, KEY, &info), 0);
  CHECK_INT(info.cancel, SK_CJOB_CANCEL_GAVE_UP);
  CHECK_INT(info.phase, SK_CJOB_SUBMITTING);
  /* Every failed lookup after the cancel counted (one may have come
   * before it). */
  CHECK(e.fake.lists >= SK_CJOBS_CANCEL_TRIES && e.fake.lists <= SK_CJOBS_CANCEL_TRIES + 1);
  /* The lookups go on; once one answers, the job is followed, and no
   * other create was sent. */
  CHECK(cf_wait_phase(&e, KEY, SK_CJOB_RUNNING, 20000));
  CHECK_INT(e.fake.creates, 1);
  CHECK_INT(e.fake.executed_creates, 1);
  CHECK_INT(e.fake.cancels, 0);
  json_decref(body);
  cf_env_finish(&e);
}

TEST(bad_descs) {
  cf_env_t e;
  REQUIRE(cf_env_init(&e, CF_VERTEX) == 0 && cf_env_start(&e) == 0);
  sk_cjob_info_t info;
  /* No project in the step, no default, and credentials that cannot
   * name one. */
  json_t *body = vertex_body(false);
  sk_cjob_desc_t d = cf_desc(&e, SK_CJOB_VERTEX, UID, KEY, "train", body);
  CHECK_INT(cf_ensure(&e, &d), 0);
  CHECK(cf_wait_phase(&e, KEY, SK_CJOB_FAILED, 10000));
  CHECK_INT(sk_cjobs_info(e.t, KEY, &info), 0);
  CHECK_STR(info.message, "no Google Cloud project: set vertex.project in the step or the "
                          "controller's default project");
  /* The default project serves. */
  d.key = "k2";
  d.default_project = "proj";
  CHECK_INT(cf_ensure(&e, &d), 0);
  CHECK(cf_wait_phase(&e, "k2", SK_CJOB_SUCCEEDED, 10000));
  CHECK_INT(sk_cjobs_info(e.t, "k2", &info), 0);
  CHECK(strncmp(info.name, "projects/proj/", 14) == 0);
  /* No customJob object. */
  json_object_set_new(body, "customJob", json_string("x"));
  d.key = "k3";
  CHECK_INT(cf_ensure(&e, &d), SK_EINVAL);
  CHECK_INT(sk_cjobs_info(e.t, "k3", &info), 0);
  CHECK_INT(info.phase, SK_CJOB_FAILED);
  CHECK(info.message && strstr(info.message, "customJob"));
  /* No body at all. */
  d.key = "k4";
  d.body = NULL;
  CHECK_INT(cf_ensure(&e, &d), SK_EINVAL);
  d.key = NULL;
  CHECK_INT(cf_ensure(&e, &d), SK_EINVAL);
  cf_run_for(&e, 50);
  CHECK_INT(e.fake.executed_creates, 1);
  CHECK(e.changes >= 3);
  json_decref(body);
  cf_env_finish(&e);
}

/* No project in the step or the config: the Google authoriser names one
 * (here the metadata server's, on the fake). */
TEST(project_from_google_credentials) {
  cf_env_t e;
  REQUIRE(cf_env_init(&e, CF_VERTEX) == 0 && cf_env_start(&e) == 0);
  char host[64];
  snprintf(host, sizeof(host), "127.0.0.1:%d", ts_port(e.fake.srv));
  /* A home without gcloud's files, so ADC goes on to the metadata server. */
  sk_cloud_endpoints_t ep = {.gce_metadata_host = host, .home = "no-such-home-for-skein-tests"};
  e.extra_authz = sk_gcp_authz_default(&e.loop, e.http, &ep);
  REQUIRE(e.extra_authz);
  json_t *body = vertex_body(false);
  sk_cjob_desc_t d = cf_desc(&e, SK_CJOB_VERTEX, UID, KEY, "train", body);
  d.authz = e.extra_authz;
  CHECK_INT(cf_ensure(&e, &d), 0);
  CHECK(cf_wait_phase(&e, KEY, SK_CJOB_SUCCEEDED, 10000));
  sk_cjob_info_t info;
  CHECK_INT(sk_cjobs_info(e.t, KEY, &info), 0);
  CHECK_STR(info.name, "projects/metaproj/locations/us-central1/customJobs/1000");
  CHECK_STR(e.fake.last_auth, "Bearer meta-token");
  CHECK(e.fake.metadata >= 2);
  json_decref(body);
  cf_env_finish(&e);
}

/* The tracker is destroyed with requests on the wire, waiting for a token
 * and scheduled: everything ends clean. */
TEST(destroy_in_flight) {
  cf_env_t e;
  REQUIRE(cf_env_init(&e, CF_VERTEX) == 0);
  e.cfg.vertex_qps = 1;
  e.cfg.vertex_burst = 2;
  REQUIRE(cf_env_start(&e) == 0);
  cf_fault(&e.fake, CF_OP_CREATE, CF_F_SILENT, 0, NULL);
  json_t *body = vertex_body(true);
  sk_cjob_desc_t d = cf_desc(&e, SK_CJOB_VERTEX, UID, KEY, "train", body);
  char keys[5][16];
  for (int i = 0; i < 5; i++) {
    snprintf(keys[i], sizeof(keys[i]), "k%d", i);
    d.key = keys[i];
    d.attempt = i + 1;
    CHECK_INT(cf_ensure(&e, &d), 0);
  }
  CHECK(cf_wait_count(&e, &e.fake.creates, 1, 10000));
  cf_run_for(&e, 20);
  sk_cjobs_forget(e.t, "k0"); /* its request is cancelled */
  json_decref(body);
  cf_env_finish(&e);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  unsetenv("http_proxy");
  unsetenv("HTTP_PROXY");
  unsetenv("all_proxy");
  unsetenv("ALL_PROXY");
  /* Google's ambient settings would change where credentials and the
   * project come from. */
  unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
  unsetenv("GOOGLE_CLOUD_PROJECT");
  unsetenv("CLOUDSDK_CONFIG");
  unsetenv("GCE_METADATA_HOST");
  RUN(submit_to_success);
  RUN(failed_with_reason);
  RUN(lost_create_reset);
  RUN(lost_create_timeout);
  RUN(unavailable_retried);
  RUN(validation_error_fails_at_once);
  RUN(throttle_waits_30s);
  RUN(throttle_honours_retry_info);
  RUN(unauthorized_invalidates_once);
  RUN(resume_by_name);
  RUN(adopt_first_pages_through);
  RUN(settle_before_lookup);
  RUN(cancel_running);
  RUN(cancel_while_submitting);
  RUN(cancel_gives_up_when_lookups_fail);
  RUN(bad_descs);
  RUN(project_from_google_credentials);
  RUN(destroy_in_flight);
  curl_global_cleanup();
  return TEST_DONE();
}
