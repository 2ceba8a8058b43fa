/*
 * The tracker's per-endpoint token bucket: 200 Vertex AI jobs submitted at
 * once with qps 20 (burst 20) never put more requests on the fake server
 * than the bucket allows in any window, and all of them finish. Each job
 * is a create and one get (the fake's jobs succeed at the first look), so
 * 400 requests take about 19 s.
 */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "cloud_fakesrv.h"
#include "util/error.h"

#define NJOBS 200
#define QPS 20
#define BURST 20

typedef struct {
  cf_env_t *e;
  char keys[NJOBS][32];
} jobs_t;

static bool all_done(void *arg) {
  jobs_t *j = arg;
  for (int i = 0; i < NJOBS; i++) {
    sk_cjob_info_t info;
    if (sk_cjobs_info(j->e->t, j->keys[i], &info) < 0 || info.phase != SK_CJOB_SUCCEEDED)
      return false;
  }
  return true;
}

static void count_timer(uv_handle_t *h, void *arg) {
  if (h->type == UV_TIMER && !uv_is_closing(h))
    (*(int *)arg)++;
}

TEST(two_hundred_jobs_within_the_bucket) {
  static jobs_t jobs;
  cf_env_t e;
  REQUIRE(cf_env_init(&e, CF_VERTEX) == 0);
  e.cfg.vertex_qps = QPS;
  e.cfg.vertex_burst = BURST;
  REQUIRE(cf_env_start(&e) == 0);
  const char *states[] = {"JOB_STATE_SUCCEEDED"};
  cf_script(&e.fake, states, 1);
  json_t *body = json_pack("{s:s, s:s, s:{s:{s:[{}]}}, s:{s:f, s:f, s:f}}", "project", "proj",
                           "location", "us-central1", "customJob", "jobSpec", "workerPoolSpecs",
                           "poll", "initialSeconds", 0.01, "factor", 1.0, "maxSeconds", 0.05);
  REQUIRE(body);
  jobs.e = &e;
  int64_t start = (int64_t)uv_now(&e.loop);
  for (int i = 0; i < NJOBS; i++) {
    snprintf(jobs.keys[i], sizeof(jobs.keys[i]), "uid-%d/train/1", i);
    char uid[32];
    snprintf(uid, sizeof(uid), "uid-%d", i);
    sk_cjob_desc_t d = {.kind = SK_CJOB_VERTEX,
                        .key = jobs.keys[i],
                        .workflow_uid = uid,
                        .workflow_name = "wf",
                        .instance = "train",
                        .attempt = 1,
                        .body = body,
                        .authz = &e.authz->base};
    CHECK_INT(cf_ensure(&e, &d), 0);
  }
  json_decref(body);
  /* Past the burst, most jobs wait for a token, and only the few with
   * one have a request. */
  CHECK(cf_wait_count(&e, &e.fake.requests, BURST + 10, 10000));
  sk_cjobs_stats_t mid;
  sk_cjobs_stats(e.t, &mid);
  CHECK(mid.waiting >= NJOBS - BURST - 20);
  CHECK(mid.in_flight <= 5);
  /* No handle per job: the timers on the loop are the tracker's, its one
   * endpoint's, the client's, the test's and the fake's connections'. */
  int timers = 0;
  uv_walk(&e.loop, count_timer, &timers);
  printf("  timers on the loop with %d jobs tracked: %d\n", NJOBS, timers);
  CHECK(timers < NJOBS / 2);
  CHECK(cf_run_until(&e, all_done, &jobs, 90000));
  int64_t took = (int64_t)uv_now(&e.loop) - start;
  CHECK_INT(e.fake.executed_creates, NJOBS);
  CHECK_INT(e.fake.requests, 2 * NJOBS);
  /* The bucket: at most BURST + QPS * window in any window, give or take
   * one for requests that arrive a little apart from when they left. */
  int in_1s = cf_max_in_window(&e.fake, 1000);
  int in_250ms = cf_max_in_window(&e.fake, 250);
  int in_5s = cf_max_in_window(&e.fake, 5000);
  printf("  400 requests in %lld ms; most in 250 ms: %d, in 1 s: %d, in 5 s: %d\n",
         (long long)took, in_250ms, in_1s, in_5s);
  CHECK(in_1s <= BURST + QPS + 1);
  CHECK(in_250ms <= BURST + QPS / 4 + 1);
  CHECK(in_5s <= BURST + QPS * 5 + 1);
  CHECK(took >= (2 * NJOBS - BURST) * 1000 / QPS - 500);
  sk_cjobs_stats_t st;
  sk_cjobs_stats(e.t, &st);
  CHECK_INT(st.requests, 2 * NJOBS);
  CHECK_INT(st.tracked, NJOBS);
  CHECK_INT(st.throttled, 0);
  CHECK_INT(st.waiting, 0);
  CHECK_INT(st.in_flight, 0);
  cf_env_finish(&e);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  unsetenv("http_proxy");
  unsetenv("HTTP_PROXY");
  unsetenv("all_proxy");
  unsetenv("ALL_PROXY");
  RUN(two_hundred_jobs_within_the_bucket);
  curl_global_cleanup();
  return TEST_DONE();
}
