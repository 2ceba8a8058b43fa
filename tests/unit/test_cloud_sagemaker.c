/*
 * The pure half of the SageMaker client (lib/cloud/sagemaker.c): the
 * deterministic job name, JSON 1.1 requests, Describe answers with both
 * timestamp forms, error codes and their classes.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/cloud-int.h"
#include "cloud/jobs.h"
#include "cloud/sagemaker.h"
#include "sk_test.h"
#include "util/error.h"

/* A string literal and its length. */
#define SL(s) s, strlen(s)

#define UID "0f8e2a4c-1b2d-4e5f-8a9b-0c1d2e3f4a5b"
#define UID2 "0f8e2a4c-1b2d-4e5f-8a9b-0c1d2e3f4a5c"

static bool pattern_ok(const char *n) { return sk_sagemaker_name_ok(n); }

TEST(job_names) {
  char a[64], b[64];
  CHECK_INT(sk_sagemaker_job_name("mnist", UID, "train", 1, a, sizeof(a)), 0);
  CHECK(pattern_ok(a));
  CHECK(strncmp(a, SL("mnist-train-1-")) == 0);
  CHECK_INT(strlen(a), 24);
  /* Deterministic; and the uid, the instance and the attempt each change it. */
  CHECK_INT(sk_sagemaker_job_name("mnist", UID, "train", 1, b, sizeof(b)), 0);
  CHECK_STR(a, b);
  CHECK_INT(sk_sagemaker_job_name("mnist", UID2, "train", 1, b, sizeof(b)), 0);
  CHECK(strcmp(a, b) != 0);
  CHECK_INT(sk_sagemaker_job_name("mnist", UID, "train", 2, b, sizeof(b)), 0);
  CHECK(strcmp(a, b) != 0);
  CHECK_INT(sk_sagemaker_job_name("mnist", UID, "train-0", 1, b, sizeof(b)), 0);
  CHECK(strcmp(a, b) != 0);

  /* Long names are shortened to 63 and keep the pattern. */
  char lw[254], li[64];
  memset(lw, 'w', 253);
  lw[253] = '\0';
  memset(li, 'i', 63);
  li[63] = '\0';
  CHECK_INT(sk_sagemaker_job_name(lw, UID, li, 12, a, sizeof(a)), 0);
  CHECK_INT(strlen(a), 63);
  CHECK(pattern_ok(a));
  CHECK(strstr(a, "iiii") != NULL); /* the instance keeps some room */
  CHECK_INT(sk_sagemaker_job_name("short", UID, li, 1, a, sizeof(a)), 0);
  CHECK(pattern_ok(a) && strlen(a) <= 63);
  CHECK(strncmp(a, SL("short-iii")) == 0);
  /* Dots and odd characters of a workflow name become single dashes. */
  CHECK_INT(sk_sagemaker_job_name("my.flow..x-", UID, "a_b", 1, a, sizeof(a)), 0);
  CHECK(pattern_ok(a));
  CHECK(strncmp(a, SL("my-flow-x-a-b-1-")) == 0);
  CHECK_INT(sk_sagemaker_job_name(NULL, UID, "s", 1, a, sizeof(a)), 0);
  CHECK(pattern_ok(a) && strncmp(a, SL("s-1-")) == 0);
  CHECK_INT(sk_sagemaker_job_name("...", UID, "---", 1, a, sizeof(a)), 0);
  CHECK(pattern_ok(a) && strncmp(a, SL("skein-1-")) == 0);
  CHECK_INT(sk_sagemaker_job_name("w", UID, "s", 1, a, 20), SK_EINVAL);
  CHECK_INT(sk_sagemaker_job_name("w", NULL, "s", 1, a, sizeof(a)), SK_EINVAL);
}

TEST(name_pattern) {
  CHECK(sk_sagemaker_name_ok("a"));
  CHECK(sk_sagemaker_name_ok("a--b"));
  CHECK(!sk_sagemaker_name_ok("-a"));
  CHECK(!sk_sagemaker_name_ok("a-"));
  CHECK(!sk_sagemaker_name_ok("a_b"));
  CHECK(!sk_sagemaker_name_ok(""));
  char n64[65];
  memset(n64, 'a', 64);
  n64[64] = '\0';
  CHECK(!sk_sagemaker_name_ok(n64));
  n64[63] = '\0';
  CHECK(sk_sagemaker_name_ok(n64));
}

TEST(requests) {
  json_t *job = json_pack("{s:s, s:{s:s}}", "TrainingJobName", "forged", "AlgorithmSpecification",
                          "TrainingImage", "img");
  char *body = NULL, target[128];
  CHECK_INT(sk_sagemaker_request(SK_SAGEMAKER_CREATE, false, job, "n-1", &body, target,
                                 sizeof(target)),
            0);
  CHECK_STR(target, "X-Amz-Target: SageMaker.CreateTrainingJob");
  json_t *sent = json_loads(body, 0, NULL);
  CHECK_STR(json_string_value(json_object_get(sent, "TrainingJobName")), "n-1");
  CHECK(json_object_get(sent, "AlgorithmSpecification") != NULL);
  CHECK_STR(json_string_value(json_object_get(job, "TrainingJobName")), "forged");
  json_decref(sent);
  free(body);
  CHECK_INT(sk_sagemaker_request(SK_SAGEMAKER_DESCRIBE, true, NULL, "n-1", &body, target,
                                 sizeof(target)),
            0);
  CHECK_STR(target, "X-Amz-Target: SageMaker.DescribeProcessingJob");
  CHECK_STR(body, "{\"ProcessingJobName\":\"n-1\"}");
  free(body);
  CHECK_INT(sk_sagemaker_request(SK_SAGEMAKER_STOP, false, NULL, "n-1", &body, target,
                                 sizeof(target)),
            0);
  CHECK_STR(target, "X-Amz-Target: SageMaker.StopTrainingJob");
  CHECK_STR(body, "{\"TrainingJobName\":\"n-1\"}");
  free(body);
  CHECK_INT(sk_sagemaker_request(SK_SAGEMAKER_CREATE, false, NULL, "n-1", &body, target,
                                 sizeof(target)),
            SK_EINVAL);
  CHECK_INT(sk_sagemaker_request(SK_SAGEMAKER_STOP, false, NULL, "bad_name", &body, target,
                                 sizeof(target)),
            SK_EINVAL);
  CHECK(body == NULL);
  json_decref(job);
  CHECK_STR(sk_sagemaker_op_name(SK_SAGEMAKER_STOP, true), "StopProcessingJob");
}

TEST(describe) {
  const char *aws =
      "{\"TrainingJobName\":\"n-1\",\"TrainingJobArn\":\"arn:aws:sagemaker:us-east-1:1:"
      "training-job/n-1\",\"TrainingJobStatus\":\"Completed\",\"SecondaryStatus\":\"Completed\","
      "\"ModelArtifacts\":{\"S3ModelArtifacts\":\"s3://b/n-1/output/model.tar.gz\"},"
      "\"CreationTime\":1.7e9,\"TrainingEndTime\":1700000123.5}";
  sk_sagemaker_job_t j;
  CHECK_INT(sk_sagemaker_parse_describe(false, aws, strlen(aws), &j), 0);
  CHECK_STR(j.name, "n-1");
  CHECK_STR(j.arn, "arn:aws:sagemaker:us-east-1:1:training-job/n-1");
  CHECK_STR(j.status, "Completed");
  CHECK_STR(j.secondary_status, "Completed");
  CHECK_STR(j.model_artifacts, "s3://b/n-1/output/model.tar.gz");
  CHECK_INT(j.creation_ms, 1700000000000LL);
  CHECK_INT(j.end_ms, 1700000123500LL);
  CHECK(j.failure_reason == NULL);
  CHECK_INT(sk_sagemaker_status_phase(j.status), SK_CJOB_SUCCEEDED);
  sk_sagemaker_job_release(&j);

  const char *moto = "{\"ProcessingJobName\":\"p\",\"ProcessingJobStatus\":\"Failed\","
                     "\"FailureReason\":\"AlgorithmError: exit 1\","
                     "\"CreationTime\":\"2023-11-14 22:13:20\","
                     "\"ProcessingEndTime\":\"2023-11-14 22:13:21.250000+00:00\"}";
  CHECK_INT(sk_sagemaker_parse_describe(true, moto, strlen(moto), &j), 0);
  CHECK_STR(j.status, "Failed");
  CHECK_STR(j.failure_reason, "AlgorithmError: exit 1");
  CHECK_INT(j.creation_ms, 1700000000000LL);
  CHECK_INT(j.end_ms, 1700000001250LL);
  CHECK(j.model_artifacts == NULL);
  sk_sagemaker_job_release(&j);

  /* A training answer read as a processing one has no status. */
  CHECK_INT(sk_sagemaker_parse_describe(true, aws, strlen(aws), &j), SK_EPARSE);
  CHECK_INT(sk_sagemaker_parse_describe(false, SL("x"), &j), SK_EPARSE);
  char *arn = sk_sagemaker_parse_create(false, SL("{\"TrainingJobArn\":\"arn:x\"}"));
  CHECK_STR(arn, "arn:x");
  free(arn);
  CHECK(sk_sagemaker_parse_create(true, SL("{}")) == NULL);
}

TEST(times) {
  int64_t ms;
  json_t *v = json_string("2024-02-29 23:59:59");
  CHECK_INT(sk_sagemaker_time_ms(v, &ms), 0);
  CHECK_INT(ms, 1709251199000LL);
  json_decref(v);
  v = json_string("2024-02-29T23:59:59.5-01:00");
  CHECK_INT(sk_sagemaker_time_ms(v, &ms), 0);
  CHECK_INT(ms, 1709254799500LL);
  json_decref(v);
  v = json_string("yesterday");
  CHECK_INT(sk_sagemaker_time_ms(v, &ms), SK_EPARSE);
  json_decref(v);
  v = json_integer(1700000000);
  CHECK_INT(sk_sagemaker_time_ms(v, &ms), 0);
  CHECK_INT(ms, 1700000000000LL);
  json_decref(v);
  CHECK_INT(sk_sagemaker_time_ms(NULL, &ms), SK_EPARSE);
}

TEST(status_phases) {
  CHECK_INT(sk_sagemaker_status_phase("Completed"), SK_CJOB_SUCCEEDED);
  CHECK_INT(sk_sagemaker_status_phase("Failed"), SK_CJOB_FAILED);
  CHECK_INT(sk_sagemaker_status_phase("Stopped"), SK_CJOB_CANCELLED);
  CHECK_INT(sk_sagemaker_status_phase("Stopping"), SK_CJOB_RUNNING);
  CHECK_INT(sk_sagemaker_status_phase("InProgress"), SK_CJOB_RUNNING);
  CHECK_INT(sk_sagemaker_status_phase("Brand-new"), SK_CJOB_RUNNING);
}

TEST(error_codes) {
  char code[64];
  sk_sagemaker_error_code("ThrottlingException:http://internal.amazon.com/coral/", SL("{}"), code,
                          sizeof(code));
  CHECK_STR(code, "ThrottlingException");
  const char *b = "{\"__type\":\"com.amazon.coral.validate#ValidationException\","
                  "\"message\":\"bad\"}";
  sk_sagemaker_error_code(NULL, b, strlen(b), code, sizeof(code));
  CHECK_STR(code, "ValidationException");
  sk_sagemaker_error_code("", SL("{\"code\":\"ResourceInUse\"}"), code, sizeof(code));
  CHECK_STR(code, "ResourceInUse");
  sk_sagemaker_error_code(NULL, SL("<html>"), code, sizeof(code));
  CHECK_STR(code, "");
  CHECK(sk_sagemaker_throttle_code("ThrottlingException"));
  CHECK(sk_sagemaker_throttle_code("TooManyRequestsException"));
  CHECK(sk_sagemaker_throttle_code("RequestLimitExceeded"));
  CHECK(sk_sagemaker_throttle_code("Throttling"));
  CHECK(!sk_sagemaker_throttle_code("ResourceLimitExceeded"));
  CHECK(sk_sagemaker_transient_code("RequestTimeout"));
  CHECK(!sk_sagemaker_transient_code("ValidationException"));
}

TEST(errors) {
  sk_cloud_error_t e;
  const char *v = "{\"__type\":\"ValidationException\",\"message\":\"1 validation error "
                  "detected: Value null at 'roleArn'\"}";
  sk_sagemaker_parse_error(400, NULL, v, strlen(v), NULL, NULL, NULL, "SageMaker refused the job",
                           &e);
  CHECK_INT(e.cls, SK_CLOUD_ERR_PERMANENT);
  CHECK_STR(e.message, "SageMaker refused the job: 400 ValidationException: 1 validation error "
                       "detected: Value null at 'roleArn'");
  sk_sagemaker_parse_error(400, "ThrottlingException", SL("{\"message\":\"Rate exceeded\"}"),
                           "1500", "9", NULL, "x", &e);
  CHECK_INT(e.cls, SK_CLOUD_ERR_THROTTLE);
  CHECK_INT(e.retry_after_ms, 1500);
  sk_sagemaker_parse_error(400, NULL, SL("{\"__type\":\"ThrottlingException\"}"), NULL, "2", NULL,
                           "x", &e);
  CHECK_INT(e.cls, SK_CLOUD_ERR_THROTTLE);
  CHECK_INT(e.retry_after_ms, 2000);
  sk_sagemaker_parse_error(400, NULL, SL("{\"__type\":\"ResourceInUse\",\"message\":\"exists\"}"),
                           NULL, NULL, NULL, "x", &e);
  CHECK_INT(e.cls, SK_CLOUD_ERR_EXISTS);
  const char *nf = "{\"__type\":\"ValidationException\",\"message\":\"Requested resource not "
                   "found.\"}";
  sk_sagemaker_parse_error(400, NULL, nf, strlen(nf), NULL, NULL, NULL, "x", &e);
  CHECK_INT(e.cls, SK_CLOUD_ERR_NOT_FOUND);
  sk_sagemaker_parse_error(400, NULL, SL("{\"__type\":\"ResourceNotFound\"}"), NULL, NULL, NULL,
                           "x", &e);
  CHECK_INT(e.cls, SK_CLOUD_ERR_NOT_FOUND);
  sk_sagemaker_parse_error(503, NULL, SL(""), NULL, NULL, NULL, "x", &e);
  CHECK_INT(e.cls, SK_CLOUD_ERR_TRANSIENT);
  CHECK_STR(e.message, "x: 503");
  sk_sagemaker_parse_error(400, NULL, SL("{\"__type\":\"RequestTimeout\"}"), NULL, NULL, NULL,
                           "x", &e);
  CHECK_INT(e.cls, SK_CLOUD_ERR_TRANSIENT);
  sk_sagemaker_parse_error(400, "ExpiredTokenException", SL("{}"), NULL, NULL, NULL, "x", &e);
  CHECK_INT(e.cls, SK_CLOUD_ERR_AUTH);
  sk_sagemaker_parse_error(401, NULL, SL("{}"), NULL, NULL, NULL, "x", &e);
  CHECK_INT(e.cls, SK_CLOUD_ERR_AUTH);
  sk_sagemaker_parse_error(403, "AccessDeniedException", SL("{\"Message\":\"not allowed\"}"),
                           NULL, NULL, NULL, "x", &e);
  CHECK_INT(e.cls, SK_CLOUD_ERR_PERMANENT);
  CHECK_STR(e.message, "x: 403 AccessDeniedException: not allowed");
  sk_sagemaker_parse_error(0, NULL, NULL, 0, NULL, NULL, "Timeout was reached", "no answer", &e);
  CHECK_INT(e.cls, SK_CLOUD_ERR_TRANSIENT);
  CHECK_STR(e.message, "no answer: Timeout was reached");
}

int main(void) {
  RUN(job_names);
  RUN(name_pattern);
  RUN(requests);
  RUN(describe);
  RUN(times);
  RUN(status_phases);
  RUN(error_codes);
  RUN(errors);
  return TEST_DONE();
}
