/*
 * The cloud job tracker against a fake SageMaker (JSON 1.1) on the test's
 * loop: a training job to Completed with its outputs and the request's
 * headers and signing scope, a failed one's FailureReason, a lost create
 * (the same name again: ResourceInUse, adopted, one job), throttling with
 * x-amz-retry-after, a processing job stopped, no_create following or
 * not finding a job, and a validation error.
 */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/sagemaker.h"
#include "cloud_fakesrv.h"
#include "util/error.h"
#include "util/log.h"

#define UID "a3b2c1d0-1111-4222-8333-944455556666"
#define KEY UID "/fit/1"

static json_t *sm_body(bool processing) {
  json_t *job = processing
                    ? json_pack("{s:{s:s}, s:s}", "AppSpecification", "ImageUri", "img", "RoleArn",
                                "arn:aws:iam::1:role/r")
                    : json_pack("{s:s, s:{s:s, s:s}, s:s}", "TrainingJobName", "ignored",
                                "AlgorithmSpecification", "TrainingImage", "img",
                                "TrainingInputMode", "File", "RoleArn", "arn:aws:iam::1:role/r");
  return json_pack("{s:s, s:o, s:{s:f, s:f, s:f}}", "region", "us-east-1",
                   processing ? "processingJob" : "trainingJob", job, "poll", "initialSeconds",
                   0.01, "factor", 2.0, "maxSeconds", 0.02);
}

TEST(training_to_completed) {
  cf_env_t e;
  REQUIRE(cf_env_init(&e, CF_SAGEMAKER) == 0 && cf_env_start(&e) == 0);
  const char *states[] = {"InProgress", "InProgress", "Completed"};
  cf_script(&e.fake, states, 3);
  json_t *body = sm_body(false);
  sk_cjob_desc_t d = cf_desc(&e, SK_CJOB_SAGEMAKER_TRAINING, UID, KEY, "fit", body);
  CHECK_INT(cf_ensure(&e, &d), 0);
  json_decref(body);
  CHECK(cf_wait_phase(&e, KEY, SK_CJOB_SUCCEEDED, 10000));
  char name[64];
  REQUIRE(sk_sagemaker_job_name("mnist", UID, "fit", 1, name, sizeof(name)) == 0);
  sk_cjob_info_t info;
  CHECK_INT(sk_cjobs_info(e.t, KEY, &info), 0);
  CHECK_STR(info.ref_kind, "SageMakerTrainingJob");
  CHECK_STR(info.name, name);
  CHECK_STR(info.state, "Completed");
  CHECK_STR(cf_out_str(&info, "jobName"), name);
  char arn[160];
  snprintf(arn, sizeof(arn), "arn:aws:sagemaker:us-east-1:123456789012:training-job/%s", name);
  CHECK_STR(cf_out_str(&info, "jobArn"), arn);
  CHECK_STR(cf_out_str(&info, "state"), "Completed");
  CHECK_STR(cf_out_str(&info, "modelArtifacts"), "s3://bucket/model.tar.gz");
  CHECK_INT(info.polls, 3);
  CHECK_INT(e.fake.executed_creates, 1);
  /* The create named the job ours, whatever the body said. */
  json_t *sent = json_loads(e.fake.last_create ? e.fake.last_create : "", 0, NULL);
  CHECK_STR(json_string_value(json_object_get(sent, "TrainingJobName")), name);
  CHECK(json_object_get(sent, "RoleArn") != NULL);
  json_decref(sent);
  CHECK_STR(e.fake.last_target, "SageMaker.DescribeTrainingJob");
  CHECK_STR(e.fake.last_ct, "application/x-amz-json-1.1");
  CHECK_STR(e.fake.last_auth, "Bearer test-token");
  /* What the signer was given: the scope and the headers to sign. */
  CHECK_STR(e.authz->region, "us-east-1");
  CHECK_STR(e.authz->service, "sagemaker");
  CHECK_INT(e.authz->signed_target, e.authz->authorized);
  int64_t skew = e.authz->now_ms - sk_time_now_ms();
  CHECK(skew < 1000 && skew > -60000);
  cf_env_finish(&e);
}

TEST(failed_with_reason) {
  cf_env_t e;
  REQUIRE(cf_env_init(&e, CF_SAGEMAKER) == 0 && cf_env_start(&e) == 0);
  const char *states[] = {"InProgress", "Failed"};
  cf_script(&e.fake, states, 2);
  e.fake.failure = "AlgorithmError: ExecuteUserScriptError: exit code 1";
  json_t *body = sm_body(false);
  sk_cjob_desc_t d = cf_desc(&e, SK_CJOB_SAGEMAKER_TRAINING, UID, KEY, "fit", body);
  CHECK_INT(cf_ensure(&e, &d), 0);
  CHECK(cf_wait_phase(&e, KEY, SK_CJOB_FAILED, 10000));
  sk_cjob_info_t info;
  CHECK_INT(sk_cjobs_info(e.t, KEY, &info), 0);
  char want[256];
  snprintf(want, sizeof(want),
           "SageMaker training job %s failed: AlgorithmError: ExecuteUserScriptError: exit "
           "code 1",
           info.name);
  CHECK_STR(info.message, want);
  CHECK_STR(cf_out_str(&info, "state"), "Failed");
  json_decref(body);
  cf_env_finish(&e);
}

/* The create's answer is lost (reset after the job was made; or not
 * answered before the timeout): the same create again meets ResourceInUse,
 * and the job is adopted by describing it. One job. */
static void lost_create(cf_fault_kind_t kind) {
  cf_env_t e;
  REQUIRE(cf_env_init(&e, CF_SAGEMAKER) == 0);
  e.cfg.request_timeout_ms = 300;
  REQUIRE(cf_env_start(&e) == 0);
  const char *states[] = {"InProgress", "Completed"};
  cf_script(&e.fake, states, 2);
  cf_fault(&e.fake, CF_OP_CREATE, kind, 0, NULL);
  json_t *body = sm_body(false);
  sk_cjob_desc_t d = cf_desc(&e, SK_CJOB_SAGEMAKER_TRAINING, UID, KEY, "fit", body);
  CHECK_INT(cf_ensure(&e, &d), 0);
  CHECK(cf_wait_phase(&e, KEY, SK_CJOB_SUCCEEDED, 15000));
  CHECK_INT(e.fake.executed_creates, 1);
  CHECK_INT(e.fake.creates, 2);
  CHECK_INT(e.fake.in_use, 1);
  CHECK_INT(e.fake.njobs, 1);
  sk_cjobs_stats_t st;
  sk_cjobs_stats(e.t, &st);
  CHECK_INT(st.adopted, 1);
  json_decref(body);
  cf_env_finish(&e);
}

TEST(lost_create_reset) { lost_create(CF_F_LOST); }
TEST(lost_create_timeout) { lost_create(CF_F_SILENT); }

TEST(throttled_with_retry_after) {
  cf_env_t e;
  REQUIRE(cf_env_init(&e, CF_SAGEMAKER) == 0 && cf_env_start(&e) == 0);
  const char *states[] = {"InProgress"};
  cf_script(&e.fake, states, 1);
  /* A throttled create made nothing: it is sent again, not looked up. */
  cf_fault(&e.fake, CF_OP_CREATE, CF_F_THROTTLE, 0, "45000");
  json_t *body = sm_body(false);
  sk_cjob_desc_t d = cf_desc(&e, SK_CJOB_SAGEMAKER_TRAINING, UID, KEY, "fit", body);
  CHECK_INT(cf_ensure(&e, &d), 0);
  REQUIRE(cf_wait_message(&e, KEY, "throttled by SageMaker", 10000));
  sk_cjob_info_t info;
  REQUIRE(sk_cjobs_info(e.t, KEY, &info) == 0);
  CHECK(strstr(info.message, "400 ThrottlingException: Rate exceeded") != NULL);
  int64_t wait = info.next_poll_at_ms - sk_time_now_ms();
  CHECK(wait >= 44000 && wait <= 45000 * 11 / 10 + 1000);
  CHECK_INT(info.phase, SK_CJOB_SUBMITTING);
  cf_run_for(&e, 100);
  CHECK_INT(e.fake.requests, 1);
  /* Cancelled while waiting out the throttle: nothing was created, so
   * nothing is sent at all. */
  CHECK_INT(cf_cancel(&e, KEY), 0);
  CHECK(cf_wait_phase(&e, KEY, SK_CJOB_CANCELLED, 1000));
  CHECK_INT(e.fake.requests, 1);
  json_decref(body);
  cf_env_finish(&e);
}

TEST(processing_stopped) {
  cf_env_t e;
  REQUIRE(cf_env_init(&e, CF_SAGEMAKER) == 0 && cf_env_start(&e) == 0);
  const char *states[] = {"InProgress"};
  cf_script(&e.fake, states, 1);
  json_t *body = sm_body(true);
  sk_cjob_desc_t d = cf_desc(&e, SK_CJOB_SAGEMAKER_PROCESSING, UID, KEY, "fit", body);
  CHECK_INT(cf_ensure(&e, &d), 0);
  REQUIRE(cf_wait_state(&e, KEY, "InProgress", 10000));
  sk_cjob_info_t info;
  REQUIRE(sk_cjobs_info(e.t, KEY, &info) == 0);
  CHECK_STR(info.ref_kind, "SageMakerProcessingJob");
  /* The first stop fails (503) and is tried again. */
  cf_fault(&e.fake, CF_OP_CANCEL, CF_F_503, 0, NULL);
  CHECK_INT(cf_cancel(&e, KEY), 0);
  CHECK(cf_wait_phase(&e, KEY, SK_CJOB_CANCELLED, 15000));
  CHECK_INT(sk_cjobs_info(e.t, KEY, &info), 0);
  CHECK_INT(info.cancel, SK_CJOB_CANCEL_ACCEPTED);
  CHECK_STR(info.state, "Stopped");
  CHECK(info.message && strstr(info.message, "was stopped"));
  CHECK_INT(e.fake.cancels, 2);
  CHECK_STR(cf_out_str(&info, "state"), "Stopped");
  CHECK(json_object_get(info.outputs, "modelArtifacts") == NULL);
  json_decref(body);
  cf_env_finish(&e);
}

TEST(no_create_follows_or_cancels) {
  cf_env_t e;
  REQUIRE(cf_env_init(&e, CF_SAGEMAKER) == 0 && cf_env_start(&e) == 0);
  const char *states[] = {"InProgress"};
  cf_script(&e.fake, states, 1);
  json_t *body = sm_body(false);
  sk_cjob_desc_t d = cf_desc(&e, SK_CJOB_SAGEMAKER_TRAINING, UID, KEY, "fit", body);
  d.no_create = true;
  /* No such job: cancelled, never created. */
  CHECK_INT(cf_ensure(&e, &d), 0);
  CHECK(cf_wait_phase(&e, KEY, SK_CJOB_CANCELLED, 10000));
  CHECK_INT(e.fake.creates, 0);
  CHECK_INT(e.fake.gets, 1);
  /* The job exists under our name: followed (and here stopped). */
  char name[64];
  REQUIRE(sk_sagemaker_job_name("mnist", UID, "fit", 2, name, sizeof(name)) == 0);
  REQUIRE(cf_new_job(&e.fake, name));
  d.key = "k2";
  d.attempt = 2;
  CHECK_INT(cf_ensure(&e, &d), 0);
  CHECK_INT(cf_cancel(&e, "k2"), 0);
  CHECK(cf_wait_phase(&e, "k2", SK_CJOB_CANCELLED, 10000));
  sk_cjob_info_t info;
  CHECK_INT(sk_cjobs_info(e.t, "k2", &info), 0);
  CHECK_STR(info.name, name);
  CHECK_STR(info.state, "Stopped");
  CHECK_INT(e.fake.creates, 0);
  CHECK_INT(e.fake.cancels, 1);
  /* adopt_first changes nothing for SageMaker: the create is idempotent. */
  d.key = "k3";
  d.attempt = 3;
  d.no_create = false;
  d.adopt_first = true;
  CHECK_INT(cf_ensure(&e, &d), 0);
  CHECK(cf_wait_named(&e, "k3", 10000));
  CHECK_INT(e.fake.executed_creates, 1);
  json_decref(body);
  cf_env_finish(&e);
}

/* A cancel asked while a create is on the wire that then fails: what
 * follows is a describe by name, never another create. */
TEST(cancel_during_failed_create_sends_no_create) {
  cf_env_t e;
  REQUIRE(cf_env_init(&e, CF_SAGEMAKER) == 0 && cf_env_start(&e) == 0);
  const char *states[] = {"InProgress"};
  cf_script(&e.fake, states, 1);
  cf_fault(&e.fake, CF_OP_CREATE, CF_F_503, 200, NULL);
  json_t *body = sm_body(false);
  sk_cjob_desc_t d = cf_desc(&e, SK_CJOB_SAGEMAKER_TRAINING, UID, KEY, "fit", body);
  CHECK_INT(cf_ensure(&e, &d), 0);
  REQUIRE(cf_wait_count(&e, &e.fake.creates, 1, 10000));
  REQUIRE(e.fake.creates == 1);
  CHECK_INT(cf_cancel(&e, KEY), 0);
  /* The job was never made: the describe finds nothing, and that ends it. */
  CHECK(cf_wait_phase(&e, KEY, SK_CJOB_CANCELLED, 10000));
  sk_cjob_info_t info;
  CHECK_INT(sk_cjobs_info(e.t, KEY, &info), 0);
  CHECK_INT(info.cancel, SK_CJOB_CANCEL_ACCEPTED);
  CHECK_INT(e.fake.creates, 1);
  CHECK_INT(e.fake.executed_creates, 0);
  CHECK_INT(e.fake.gets, 1);
  /* The same with a throttled create (nothing made, and no wait of 30 s
   * for a create that will not be sent) and with a 401 (nothing made, and
   * no second try with a fresh credential). */
  static const cf_fault_kind_t refusals[] = {CF_F_THROTTLE, CF_F_401};
  for (int i = 0; i < 2; i++) {
    char key[16];
    snprintf(key, sizeof(key), "k%d", i + 2);
    cf_fault(&e.fake, CF_OP_CREATE, refusals[i], 200, NULL);
    d.key = key;
    d.attempt = i + 2;
    int before = e.fake.creates;
    CHECK_INT(cf_ensure(&e, &d), 0);
    REQUIRE(cf_wait_count(&e, &e.fake.creates, before + 1, 10000));
    CHECK_INT(cf_cancel(&e, key), 0);
    CHECK(cf_wait_phase(&e, key, SK_CJOB_CANCELLED, 5000));
    CHECK_INT(sk_cjobs_info(e.t, key, &info), 0);
    CHECK_INT(info.cancel, SK_CJOB_CANCEL_ACCEPTED);
    CHECK_INT(e.fake.creates, before + 1);
  }
  CHECK_INT(e.fake.executed_creates, 0);
  json_decref(body);
  cf_env_finish(&e);
}

TEST(validation_error) {
  cf_env_t e;
  REQUIRE(cf_env_init(&e, CF_SAGEMAKER) == 0 && cf_env_start(&e) == 0);
  cf_fault(&e.fake, CF_OP_CREATE, CF_F_400, 0, NULL);
  json_t *body = sm_body(false);
  sk_cjob_desc_t d = cf_desc(&e, SK_CJOB_SAGEMAKER_TRAINING, UID, KEY, "fit", body);
  CHECK_INT(cf_ensure(&e, &d), 0);
  CHECK(cf_wait_phase(&e, KEY, SK_CJOB_FAILED, 10000));
  sk_cjob_info_t info;
  CHECK_INT(sk_cjobs_info(e.t, KEY, &info), 0);
  CHECK_STR(info.message, "SageMaker refused the job: 400 ValidationException: 1 validation "
                          "error detected: Value null at 'roleArn'");
  CHECK(info.name == NULL);
  cf_run_for(&e, 100);
  CHECK_INT(e.fake.requests, 1);
  /* A body without its job object, and no region anywhere. */
  json_object_del(body, "trainingJob");
  d.key = "k2";
  CHECK_INT(cf_ensure(&e, &d), SK_EINVAL);
  CHECK_INT(sk_cjobs_info(e.t, "k2", &info), 0);
  CHECK_INT(info.phase, SK_CJOB_FAILED);
  CHECK(info.message && strstr(info.message, "sagemaker.trainingJob"));
  json_object_del(body, "region");
  d.key = "k3";
  CHECK_INT(cf_ensure(&e, &d), 0);
  CHECK_INT(sk_cjobs_info(e.t, "k3", &info), 0);
  CHECK_INT(info.phase, SK_CJOB_FAILED);
  CHECK(info.message && strstr(info.message, "no AWS region"));
  json_decref(body);
  cf_env_finish(&e);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  if (getenv("CJ_VERBOSE"))
    sk_log_setup(SK_LOG_TEXT, 3, stderr);
  unsetenv("http_proxy");
  unsetenv("HTTP_PROXY");
  unsetenv("all_proxy");
  unsetenv("ALL_PROXY");
  RUN(training_to_completed);
  RUN(failed_with_reason);
  RUN(lost_create_reset);
  RUN(lost_create_timeout);
  RUN(throttled_with_retry_after);
  RUN(processing_stopped);
  RUN(no_create_follows_or_cancels);
  RUN(cancel_during_failed_create_sends_no_create);
  RUN(validation_error);
  curl_global_cleanup();
  return TEST_DONE();
}
