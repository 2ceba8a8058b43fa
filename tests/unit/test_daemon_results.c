/*
 * How skeind's controller reads the outcome of an API call: what a retry
 * can fix and what the API server refused for good. A refused Pod create
 * fails its attempt, so taking a broken connection for a refusal fails a
 * step that never failed (seen in e2e/test_skeind_watch when a connection
 * was cut after the create's status line had arrived).
 */
#include "daemon/daemon-int.h"
#include "sk_test.h"
#include "util/error.h"

static bool transient(int err, long code) {
  sk_kube_result_t res = {.err = err, .code = code, .retry_after_s = -1};
  return sk_daemon_result_transient(&res);
}

TEST(transport_failures_are_transient_whatever_the_status_line) {
  CHECK(transient(SK_ENET, 0));
  CHECK(transient(SK_ETIMEDOUT, 0));
  /* The connection broke after "201 Created" or "200 OK" had arrived. */
  CHECK(transient(SK_ENET, 201));
  CHECK(transient(SK_ENET, 200));
  CHECK(transient(SK_ETIMEDOUT, 201));
  /* Even after an error status line: the answer was not read to its end. */
  CHECK(transient(SK_ENET, 422));
  CHECK(transient(SK_ECANCELED, 0));
  /* A 201 whose body did not parse (cut short) is no refusal either. */
  CHECK(transient(SK_EPARSE, 201));
}

TEST(server_overload_is_transient) {
  CHECK(transient(SK_EHTTP, 429));
  CHECK(transient(SK_EHTTP, 500));
  CHECK(transient(SK_EHTTP, 503));
  CHECK(transient(SK_EHTTP, 504));
}

TEST(answers_that_refuse_are_not) {
  CHECK(!transient(SK_EINVALID, 400));
  CHECK(!transient(SK_EHTTP, 403));
  CHECK(!transient(SK_ENOENT, 404));
  CHECK(!transient(SK_EINVALID, 422));
  CHECK(!transient(SK_EHTTP, 413));
}

int main(void) {
  RUN(transport_failures_are_transient_whatever_the_status_line);
  RUN(server_overload_is_transient);
  RUN(answers_that_refuse_are_not);
  return TEST_DONE();
}
