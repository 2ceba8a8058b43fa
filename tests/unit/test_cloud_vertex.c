/*
 * The pure half of the Vertex AI client (lib/cloud/vertex.c): label
 * values, URLs, the create body, reading jobs, lists and errors; and the
 * shared helpers of cloud-int.h.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/cloud-int.h"
#include "cloud/jobs.h"
#include "cloud/vertex.h"
#include "sk_test.h"
#include "util/error.h"

/* A string literal and its length. */
#define SL(s) s, strlen(s)

#define BASE "https://us-central1-aiplatform.googleapis.com"
#define UID "0f8e2a4c-1b2d-4e5f-8a9b-0c1d2e3f4a5b"

TEST(endpoint_template) {
  char out[128];
  CHECK_INT(sk_cloud_endpoint_url(SK_VERTEX_DEFAULT_ENDPOINT, "europe-west4", out, sizeof(out)),
            0);
  CHECK_STR(out, "https://europe-west4-aiplatform.googleapis.com");
  CHECK_INT(sk_cloud_endpoint_url("http://127.0.0.1:99", "x", out, sizeof(out)), 0);
  CHECK_STR(out, "http://127.0.0.1:99");
  CHECK_INT(sk_cloud_endpoint_url("https://api.sagemaker.{region}.amazonaws.com", "us-east-1",
                                  out, sizeof(out)),
            0);
  CHECK_STR(out, "https://api.sagemaker.us-east-1.amazonaws.com");
  CHECK_INT(sk_cloud_endpoint_url(SK_VERTEX_DEFAULT_ENDPOINT, "us-central1", out, 20),
            SK_ETOOBIG);
}

TEST(label_values) {
  char out[SK_VERTEX_LABEL_MAX + 1];
  CHECK_INT(sk_vertex_label_value("train-0", out, sizeof(out)), 0);
  CHECK_STR(out, "train-0");
  CHECK_INT(sk_vertex_label_value("Train.Step_1", out, sizeof(out)), 0);
  CHECK_STR(out, "train-step_1");
  CHECK_INT(sk_vertex_label_value(UID, out, sizeof(out)), 0);
  CHECK_STR(out, UID);
  CHECK_INT(sk_vertex_label_value("", out, sizeof(out)), 0);
  CHECK_STR(out, "");
  /* 63 stays; 64 is shortened with a hash of the whole value. */
  char v63[64], v64[65], v64b[65];
  memset(v63, 'a', 63);
  v63[63] = '\0';
  CHECK_INT(sk_vertex_label_value(v63, out, sizeof(out)), 0);
  CHECK_STR(out, v63);
  memset(v64, 'a', 64);
  v64[64] = '\0';
  memcpy(v64b, v64, sizeof(v64));
  v64b[63] = 'b';
  char o1[64], o2[64];
  CHECK_INT(sk_vertex_label_value(v64, o1, sizeof(o1)), 0);
  CHECK_INT(sk_vertex_label_value(v64b, o2, sizeof(o2)), 0);
  CHECK_INT(strlen(o1), 63);
  CHECK_INT(strlen(o2), 63);
  CHECK(strcmp(o1, o2) != 0);
  CHECK(strncmp(o1, v64, 54) == 0 && o1[54] == '-');
  for (const char *p = o1; *p; p++)
    CHECK((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_');
  /* Deterministic. */
  CHECK_INT(sk_vertex_label_value(v64, o2, sizeof(o2)), 0);
  CHECK_STR(o1, o2);
  CHECK_INT(sk_vertex_label_value("x", out, 10), SK_EINVAL);
}

TEST(names) {
  CHECK(sk_vertex_name_ok("my-project"));
  CHECK(sk_vertex_name_ok("example.com:my-project"));
  CHECK(!sk_vertex_name_ok("a/b"));
  CHECK(!sk_vertex_name_ok("a?b"));
  CHECK(!sk_vertex_name_ok(""));
  CHECK(sk_vertex_job_name_ok("projects/123/locations/us-central1/customJobs/456"));
  CHECK(!sk_vertex_job_name_ok("projects/123/locations/us-central1/customJobs/456/x"));
  CHECK(!sk_vertex_job_name_ok("projects/123/locations/us-central1/customJobs/"));
  CHECK(!sk_vertex_job_name_ok("projects/123/locations/us-central1/customJobs"));
  CHECK(!sk_vertex_job_name_ok("projects/1/locations/../customJobs/2?x"));
  CHECK(!sk_vertex_job_name_ok("projects/1/regions/us/customJobs/2"));
  CHECK(!sk_vertex_job_name_ok(NULL));
}

TEST(urls) {
  char url[1024];
  CHECK_INT(sk_vertex_create_url(BASE "/", "p1", "us-central1", url, sizeof(url)), 0);
  CHECK_STR(url, BASE "/v1/projects/p1/locations/us-central1/customJobs");
  CHECK_INT(sk_vertex_get_url(BASE, "projects/9/locations/us-central1/customJobs/77", url,
                              sizeof(url)),
            0);
  CHECK_STR(url, BASE "/v1/projects/9/locations/us-central1/customJobs/77");
  CHECK_INT(sk_vertex_cancel_url(BASE, "projects/9/locations/us-central1/customJobs/77", url,
                                 sizeof(url)),
            0);
  CHECK_STR(url, BASE "/v1/projects/9/locations/us-central1/customJobs/77:cancel");
  CHECK_INT(sk_vertex_get_url(BASE, "projects/9/x", url, sizeof(url)), SK_EINVAL);
  CHECK_INT(sk_vertex_create_url(BASE, "p/../x", "l", url, sizeof(url)), SK_EINVAL);
  CHECK_INT(sk_vertex_create_url(BASE, "p1", "us-central1", url, 20), SK_ETOOBIG);

  CHECK_INT(sk_vertex_list_url(BASE, "p1", "us-central1", UID, "Train", 2, NULL, url,
                               sizeof(url)),
            0);
  CHECK_STR(url, BASE "/v1/projects/p1/locations/us-central1/customJobs?filter="
                      "labels.skein-workflow-uid%3D%22" UID "%22%20AND%20"
                      "labels.skein-step%3D%22train%22%20AND%20"
                      "labels.skein-attempt%3D%222%22&pageSize=50");
  CHECK_INT(sk_vertex_list_url(BASE, "p1", "us-central1", UID, "train", 2, "ab+/=c", url,
                               sizeof(url)),
            0);
  const char *tail = "&pageSize=50&pageToken=ab%2B%2F%3Dc";
  CHECK(strlen(url) > strlen(tail) && strcmp(url + strlen(url) - strlen(tail), tail) == 0);
}

TEST(create_body) {
  char err[256] = "";
  json_t *cj = json_pack("{s:{s:[{s:s}]}, s:{s:s, s:s}}", "jobSpec", "workerPoolSpecs",
                         "machineSpec", "n1", "labels", "team", "ml", "skein-step", "forged");
  REQUIRE(cj);
  json_t *b = sk_vertex_create_body(cj, "mnist", UID, "train", 3, err, sizeof(err));
  REQUIRE(b);
  CHECK_STR(json_string_value(json_object_get(b, "displayName")), "mnist-train-3");
  json_t *l = json_object_get(b, "labels");
  CHECK_STR(json_string_value(json_object_get(l, "team")), "ml");
  CHECK_STR(json_string_value(json_object_get(l, "skein-step")), "train");
  CHECK_STR(json_string_value(json_object_get(l, "skein-workflow-uid")), UID);
  CHECK_STR(json_string_value(json_object_get(l, "skein-attempt")), "3");
  CHECK(json_object_get(b, "jobSpec") != NULL);
  /* The step's object is not changed. */
  CHECK_STR(json_string_value(json_object_get(json_object_get(cj, "labels"), "skein-step")),
            "forged");
  CHECK(json_object_get(cj, "displayName") == NULL);
  json_decref(b);

  /* A given displayName stays; a long default is cut to 128. */
  json_object_set_new(cj, "displayName", json_string("mine"));
  b = sk_vertex_create_body(cj, "w", UID, "s", 1, err, sizeof(err));
  REQUIRE(b);
  CHECK_STR(json_string_value(json_object_get(b, "displayName")), "mine");
  json_decref(b);
  json_object_del(cj, "displayName");
  char longname[201];
  memset(longname, 'w', 200);
  longname[200] = '\0';
  b = sk_vertex_create_body(cj, longname, UID, "s", 1, err, sizeof(err));
  REQUIRE(b);
  CHECK_INT(strlen(json_string_value(json_object_get(b, "displayName"))), 128);
  json_decref(b);

  json_object_set_new(cj, "labels", json_string("x"));
  CHECK(sk_vertex_create_body(cj, "w", UID, "s", 1, err, sizeof(err)) == NULL);
  CHECK(strstr(err, "labels") != NULL);
  json_decref(cj);
  json_t *arr = json_array();
  CHECK(sk_vertex_create_body(arr, "w", UID, "s", 1, err, sizeof(err)) == NULL);
  CHECK(strstr(err, "customJob") != NULL);
  json_decref(arr);
}

TEST(parse_job) {
  const char *body = "{\"name\":\"projects/12/locations/us-central1/customJobs/34\","
                     "\"state\":\"JOB_STATE_FAILED\",\"error\":{\"code\":3,"
                     "\"message\":\"replica workerpool0-0 exited\\nwith 1\"},"
                     "\"jobSpec\":{\"baseOutputDirectory\":{\"outputUriPrefix\":\"gs://b/out/\"}}}";
  sk_vertex_job_t j;
  CHECK_INT(sk_vertex_parse_job(body, strlen(body), &j), 0);
  CHECK_STR(j.name, "projects/12/locations/us-central1/customJobs/34");
  CHECK_STR(j.state, "JOB_STATE_FAILED");
  CHECK_STR(j.error, "replica workerpool0-0 exited with 1");
  CHECK_STR(j.model_dir, "gs://b/out/model/");
  CHECK_INT(sk_vertex_state_phase(j.state), SK_CJOB_FAILED);
  sk_vertex_job_release(&j);
  const char *bad = "{\"name\":\"projects/12/evil\"}";
  CHECK_INT(sk_vertex_parse_job(bad, strlen(bad), &j), SK_EPARSE);
  CHECK_INT(sk_vertex_parse_job(SL("nope"), &j), SK_EPARSE);
  const char *minimal = "{\"name\":\"projects/1/locations/l/customJobs/2\"}";
  CHECK_INT(sk_vertex_parse_job(minimal, strlen(minimal), &j), 0);
  CHECK(j.state == NULL && j.error == NULL && j.model_dir == NULL);
  sk_vertex_job_release(&j);
}

TEST(state_phases) {
  CHECK_INT(sk_vertex_state_phase("JOB_STATE_SUCCEEDED"), SK_CJOB_SUCCEEDED);
  CHECK_INT(sk_vertex_state_phase("JOB_STATE_FAILED"), SK_CJOB_FAILED);
  CHECK_INT(sk_vertex_state_phase("JOB_STATE_EXPIRED"), SK_CJOB_FAILED);
  CHECK_INT(sk_vertex_state_phase("JOB_STATE_PARTIALLY_SUCCEEDED"), SK_CJOB_FAILED);
  CHECK_INT(sk_vertex_state_phase("JOB_STATE_CANCELLED"), SK_CJOB_CANCELLED);
  CHECK_INT(sk_vertex_state_phase("JOB_STATE_CANCELLING"), SK_CJOB_RUNNING);
  CHECK_INT(sk_vertex_state_phase("JOB_STATE_QUEUED"), SK_CJOB_RUNNING);
  CHECK_INT(sk_vertex_state_phase("JOB_STATE_SOMETHING_NEW"), SK_CJOB_RUNNING);
  CHECK_INT(sk_vertex_state_phase(NULL), SK_CJOB_RUNNING);
}

TEST(parse_list) {
  const char *body =
      "{\"customJobs\":["
      "{\"name\":\"projects/1/locations/l/customJobs/5\",\"labels\":{\"skein-workflow-uid\":\"" UID
      "\",\"skein-step\":\"train\",\"skein-attempt\":\"1\"}},"
      "{\"name\":\"projects/1/locations/l/customJobs/6\",\"state\":\"JOB_STATE_RUNNING\","
      "\"labels\":{\"skein-workflow-uid\":\"" UID
      "\",\"skein-step\":\"train\",\"skein-attempt\":\"2\"}}],"
      "\"nextPageToken\":\"tok\"}";
  bool found;
  sk_vertex_job_t j;
  char *next;
  /* The filter is checked again: attempt 1 is not attempt 2. */
  CHECK_INT(sk_vertex_parse_list(body, strlen(body), UID, "train", 2, &found, &j, &next), 0);
  CHECK(found);
  CHECK_STR(j.name, "projects/1/locations/l/customJobs/6");
  CHECK_STR(j.state, "JOB_STATE_RUNNING");
  CHECK(next == NULL);
  sk_vertex_job_release(&j);
  CHECK_INT(sk_vertex_parse_list(body, strlen(body), UID, "train", 3, &found, &j, &next), 0);
  CHECK(!found);
  CHECK_STR(next, "tok");
  free(next);
  CHECK_INT(sk_vertex_parse_list(SL("{}"), UID, "train", 3, &found, &j, &next), 0);
  CHECK(!found && next == NULL);
  CHECK_INT(sk_vertex_parse_list(SL("["), UID, "train", 3, &found, &j, &next), SK_EPARSE);
  CHECK_INT(sk_vertex_parse_list(SL("{\"customJobs\":3}"), UID, "t", 3, &found, &j, &next),
            SK_EPARSE);
}

TEST(durations) {
  CHECK_INT(sk_vertex_duration_ms("3.5s"), 3500);
  CHECK_INT(sk_vertex_duration_ms("30s"), 30000);
  CHECK_INT(sk_vertex_duration_ms("0.0001s"), 1);
  CHECK_INT(sk_vertex_duration_ms("0s"), 0);
  CHECK_INT(sk_vertex_duration_ms("3.5"), -1);
  CHECK_INT(sk_vertex_duration_ms("s"), -1);
  CHECK_INT(sk_vertex_duration_ms("-1s"), -1);
  CHECK_INT(sk_vertex_duration_ms(NULL), -1);
}

TEST(errors) {
  sk_cloud_error_t e;
  const char *b400 = "{\"error\":{\"code\":400,\"status\":\"INVALID_ARGUMENT\","
                     "\"message\":\"List of found errors: 1.Field: job_spec\"}}";
  sk_vertex_parse_error(400, b400, strlen(b400), NULL, NULL, "Vertex AI refused the job", &e);
  CHECK_INT(e.cls, SK_CLOUD_ERR_PERMANENT);
  CHECK_STR(e.code, "INVALID_ARGUMENT");
  CHECK_STR(e.message,
            "Vertex AI refused the job: 400 INVALID_ARGUMENT: List of found errors: 1.Field: "
            "job_spec");
  CHECK_INT(e.retry_after_ms, -1);

  const char *b429 =
      "{\"error\":{\"code\":429,\"status\":\"RESOURCE_EXHAUSTED\",\"message\":\"Quota\","
      "\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\",\"reason\":\"x\"},"
      "{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":\"3.5s\"}]}}";
  sk_vertex_parse_error(429, b429, strlen(b429), "9", NULL, "Vertex AI refused the job", &e);
  CHECK_INT(e.cls, SK_CLOUD_ERR_THROTTLE);
  CHECK_INT(e.retry_after_ms, 3500);
  sk_vertex_parse_error(429, SL("{}"), "9", NULL, "x", &e);
  CHECK_INT(e.cls, SK_CLOUD_ERR_THROTTLE);
  CHECK_INT(e.retry_after_ms, 9000);

  const char *b503 = "{\"error\":{\"code\":503,\"status\":\"UNAVAILABLE\",\"message\":\"x\"}}";
  sk_vertex_parse_error(503, b503, strlen(b503), NULL, NULL, "x", &e);
  CHECK_INT(e.cls, SK_CLOUD_ERR_TRANSIENT);
  sk_vertex_parse_error(502, SL("<html>bad gateway</html>"), NULL, NULL, "Vertex AI", &e);
  CHECK_INT(e.cls, SK_CLOUD_ERR_TRANSIENT);
  CHECK_STR(e.message, "Vertex AI: 502: <html>bad gateway</html>");
  sk_vertex_parse_error(401, SL("{\"error\":{\"status\":\"UNAUTHENTICATED\"}}"), NULL, NULL,
                        "x", &e);
  CHECK_INT(e.cls, SK_CLOUD_ERR_AUTH);
  sk_vertex_parse_error(403, "{\"error\":{\"status\":\"PERMISSION_DENIED\",\"message\":\"no\"}}",
                        55, NULL, NULL, "x", &e);
  CHECK_INT(e.cls, SK_CLOUD_ERR_PERMANENT);
  sk_vertex_parse_error(404, SL("{\"error\":{\"status\":\"NOT_FOUND\"}}"), NULL, NULL, "x", &e);
  CHECK_INT(e.cls, SK_CLOUD_ERR_NOT_FOUND);
  sk_vertex_parse_error(0, NULL, 0, NULL, "Connection reset by peer", "no answer", &e);
  CHECK_INT(e.cls, SK_CLOUD_ERR_TRANSIENT);
  CHECK_STR(e.message, "no answer: Connection reset by peer");
  /* A huge message is cut, and control characters do not reach a status. */
  char big[4096];
  int n = snprintf(big, sizeof(big), "{\"error\":{\"status\":\"INVALID_ARGUMENT\",\"message\":\"");
  memset(big + n, 'x', 2000);
  snprintf(big + n + 2000, sizeof(big) - (size_t)n - 2000, "\"}}");
  sk_vertex_parse_error(400, big, strlen(big), NULL, NULL, "x", &e);
  CHECK(strlen(e.message) < SK_CLOUD_MAX_MESSAGE);
  CHECK(strcmp(e.message + strlen(e.message) - 3, "...") == 0);
}

TEST(helpers) {
  char out[64];
  CHECK_INT(sk__cloud_query_escape("a b&c=d\"~", out, sizeof(out)), 0);
  CHECK_STR(out, "a%20b%26c%3Dd%22~");
  CHECK_INT(sk__cloud_query_escape("abcdef", out, 4), SK_ETOOBIG);
  CHECK_INT(sk__cloud_retry_after_ms("7"), 7000);
  CHECK_INT(sk__cloud_retry_after_ms("0.5"), 500);
  CHECK_INT(sk__cloud_retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT"), -1);
  CHECK_INT(sk__cloud_retry_after_ms(NULL), -1);
  /* A cut never splits a UTF-8 sequence. */
  char small[8];
  sk__cloud_clean_text(SL("ab\xc3\xa9\xc3\xa9\xc3\xa9"), small, sizeof(small));
  CHECK_STR(small, "ab\xc3\xa9...");
  sk__cloud_clean_text(SL("a\tb\nc"), small, sizeof(small));
  CHECK_STR(small, "a b c");
  char hex[11];
  CHECK_INT(sk__cloud_hash_hex(SL("abc"), hex, sizeof(hex)), 0);
  CHECK_STR(hex, "ba7816bf8f"); /* SHA-256("abc") starts ba7816bf8f01... */
}

int main(void) {
  RUN(endpoint_template);
  RUN(label_values);
  RUN(names);
  RUN(urls);
  RUN(create_body);
  RUN(parse_job);
  RUN(state_phases);
  RUN(parse_list);
  RUN(durations);
  RUN(errors);
  RUN(helpers);
  return TEST_DONE();
}
