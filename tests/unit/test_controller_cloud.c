/*
 * The reconciler's cloud job rules (controller.h, C1-C5), against the
 * fake cluster of test_controller_sim.h with its fake job tracker and
 * cloud: the job is asked for only once its start is stored, a restarted
 * tracker resumes or adopts instead of creating again, results and
 * failures reach the step, killed attempts are cancelled until the cancel
 * is done, and the finalizer guards deletion without ever sticking.
 */
#include "test_controller_sim.h"

#define VERTEX_STEP(name)                                                                 \
  "    - name: " name "\n"                                                                \
  "      vertex:\n"                                                                       \
  "        project: p\n"                                                                  \
  "        location: us-central1\n"                                                       \
  "        customJob: {jobSpec: {workerPoolSpecs: [{machineSpec: {machineType: n1}}]}}\n"

#define SM_STEP(name)                                                                     \
  "    - name: " name "\n"                                                                \
  "      sagemaker:\n"                                                                    \
  "        region: us-east-1\n"                                                           \
  "        trainingJob: {RoleArn: arn, AlgorithmSpecification: {TrainingImage: img}}\n"

static json_t *ref_of(const cluster_t *k, const char *inst) {
  return json_object_get(record(k, inst), "ref");
}

static const char *ref_str(const cluster_t *k, const char *inst, const char *field) {
  const char *s = json_string_value(json_object_get(ref_of(k, inst), field));
  return s ? s : "";
}

TEST(start_is_stored_before_the_job_is_asked_for) {
  cluster_t k;
  cluster_init(&k, "  steps:\n" VERTEX_STEP("train"));
  REQUIRE(k.wf);
  sk_controller_out_t out;
  REQUIRE(reconcile_once(&k, &out, false) == 0);
  /* One result: the status records the start, the finalizer goes on
   * first, and the job is asked for after it. */
  REQUIRE(out.status != NULL);
  REQUIRE(out.nops == 2);
  CHECK_INT(out.ops[0].kind, SK_CONTROLLER_OP_ADD_FINALIZER);
  CHECK_STR(out.ops[0].name, SK_CONTROLLER_FINALIZER);
  CHECK_INT(out.ops[1].kind, SK_CONTROLLER_OP_ENSURE_JOB);
  CHECK_STR(out.ops[1].name, "train");
  CHECK_INT(out.ops[1].attempt, 1);
  CHECK_INT(out.ops[1].step_kind, SK_STEP_VERTEX);
  CHECK(!out.ops[1].adopt_first);
  CHECK(out.ops[1].job_name == NULL);
  CHECK_STR(json_string_value(json_object_get(out.ops[1].pod, "location")), "us-central1");
  json_t *steps = json_object_get(out.status, "steps");
  json_t *ref = json_object_get(json_array_get(steps, 0), "ref");
  CHECK_STR(json_string_value(json_object_get(ref, "kind")), "VertexCustomJob");
  CHECK_INT(json_integer_value(json_object_get(ref, "attempt")), 1);
  sk_controller_out_release(&out);
  cluster_release(&k);
}

TEST(vertex_job_succeeds_and_outputs_flow) {
  cluster_t k;
  cluster_init(&k, "  steps:\n" VERTEX_STEP("train")
                   "    - name: use\n      dependsOn: [train]\n"
                   "      pod: {image: busybox, args: ['{{steps.train.outputs.modelDir}}']}\n");
  REQUIRE(k.wf);
  settle(&k);
  CHECK_STR(rec_str(&k, "train", "phase"), "Running");
  CHECK_INT(k.job_creates, 1);
  CHECK(wf_has_finalizer(&k));
  /* The name is in the status before the job ends. */
  CHECK_STR(ref_str(&k, "train", "name"), "job-train/1");
  CHECK_STR(ref_str(&k, "train", "state"), "QUEUED");
  job_set(&k, "train", 1, "RUNNING", "JOB_STATE_RUNNING", NULL, NULL);
  settle(&k);
  CHECK_STR(ref_str(&k, "train", "state"), "JOB_STATE_RUNNING");
  job_set(&k, "train", 1, "SUCCEEDED", "JOB_STATE_SUCCEEDED", NULL,
          J("{'jobName': 'job-train/1', 'state': 'JOB_STATE_SUCCEEDED', "
            "'modelDir': 'gs://b/out/model/'}"));
  settle(&k);
  CHECK_STR(rec_str(&k, "train", "phase"), "Succeeded");
  CHECK_STR(rec_output(&k, "train", "modelDir"), "gs://b/out/model/");
  CHECK(json_is_true(json_object_get(ref_of(&k, "train"), "done")));
  json_t *args = json_object_get(created_main(&k, "wf-use-1"), "args");
  CHECK_STR(json_string_value(json_array_get(args, 0)), "gs://b/out/model/");
  pod_succeed(&k, "wf-use-1", NULL);
  settle(&k);
  CHECK_STR(wf_phase(&k), "Succeeded");
  CHECK(!wf_has_finalizer(&k));
  CHECK_INT(k.finalizer_adds, 1);
  CHECK_INT(k.finalizer_removes, 1);
  CHECK_INT(k.job_creates, 1);
  CHECK_INT(k.job_cancels, 0);
  cluster_release(&k);
}

TEST(failed_job_fails_the_step_with_the_cloud_reason) {
  cluster_t k;
  cluster_init(&k, "  steps:\n" SM_STEP("train"));
  REQUIRE(k.wf);
  settle(&k);
  CHECK_STR(ref_str(&k, "train", "kind"), "SageMakerTrainingJob");
  job_set(&k, "train", 1, "FAILED", "Failed", "AlgorithmError: out of memory", NULL);
  settle(&k);
  CHECK_STR(wf_phase(&k), "Failed");
  CHECK_STR(rec_str(&k, "train", "message"), "AlgorithmError: out of memory");
  CHECK(!wf_has_finalizer(&k));
  CHECK_INT(k.job_cancels, 0);
  cluster_release(&k);
}

TEST(restart_resumes_the_named_job_and_adopts_an_unnamed_one) {
  cluster_t k;
  cluster_init(&k, "  steps:\n" VERTEX_STEP("a") VERTEX_STEP("b"));
  REQUIRE(k.wf);
  /* The first reconcile's status is stored and its ops carried out, but
   * the job names never reach the status: the driver died at once. */
  sk_controller_out_t out;
  REQUIRE(reconcile_once(&k, &out, true) == 0);
  sk_controller_out_release(&out);
  CHECK_INT(k.job_creates, 2);
  CHECK_STR(ref_str(&k, "a", "name"), "");
  tracker_restart(&k);
  settle(&k);
  /* adopt_first found both: no second create. */
  CHECK_INT(k.job_creates, 2);
  CHECK_INT(k.job_adopts, 2);
  CHECK_STR(ref_str(&k, "a", "name"), "job-a/1");
  /* With the names stored, a restart resumes them by name. */
  tracker_restart(&k);
  k.job_adopts = 0;
  settle(&k);
  CHECK_INT(k.job_creates, 2);
  CHECK_INT(k.job_adopts, 0);
  CHECK(job_of(&k, "a", 1) != NULL && job_of(&k, "b", 1) != NULL);
  cluster_release(&k);
}

TEST(timeout_cancels_the_job_until_done) {
  cluster_t k;
  cluster_init(&k, "  steps:\n"
                   "    - name: train\n      timeoutSeconds: 60\n"
                   "      vertex: {project: p, location: us-central1,\n"
                   "               customJob: {jobSpec: {workerPoolSpecs: [{}]}}}\n");
  REQUIRE(k.wf);
  settle(&k);
  k.cancel_refused = false;
  k.now += SEC(61);
  settle(&k);
  CHECK_STR(rec_str(&k, "train", "phase"), "Failed");
  CHECK_INT(k.job_cancels, 1);
  CHECK_LOG(&k, "job cancel train/1");
  CHECK(json_is_true(json_object_get(ref_of(&k, "train"), "done")));
  CHECK(!wf_has_finalizer(&k));
  cluster_release(&k);
}

TEST(cancel_is_asked_again_after_a_restart) {
  cluster_t k;
  cluster_init(&k, "  steps:\n"
                   "    - name: train\n      timeoutSeconds: 60\n" 
                   "      vertex: {project: p, location: us-central1,\n"
                   "               customJob: {jobSpec: {workerPoolSpecs: [{}]}}}\n");
  REQUIRE(k.wf);
  settle(&k);
  k.now += SEC(61);
  /* The reconcile that times the attempt out is stored, but its cancel is
   * lost with the driver. */
  sk_controller_out_t out;
  REQUIRE(reconcile_once(&k, &out, false) == 0);
  REQUIRE(out.status);
  json_object_set(k.wf, "status", out.status);
  sk_controller_out_release(&out);
  CHECK_INT(k.job_cancels, 0);
  CHECK(wf_has_finalizer(&k));
  tracker_restart(&k);
  settle(&k);
  CHECK_INT(k.job_cancels, 1);
  CHECK_INT(k.job_creates, 1);
  CHECK(!wf_has_finalizer(&k));
  cluster_release(&k);
}

TEST(shutdown_terminate_cancels_running_jobs) {
  cluster_t k;
  cluster_init(&k, "  steps:\n" VERTEX_STEP("a") SM_STEP("b"));
  REQUIRE(k.wf);
  settle(&k);
  CHECK_INT(k.job_creates, 2);
  json_object_set_new(json_object_get(k.wf, "spec"), "shutdown", json_string("Terminate"));
  settle(&k);
  CHECK_STR(wf_phase(&k), "Cancelled");
  CHECK_INT(k.job_cancels, 2);
  CHECK(!wf_has_finalizer(&k));
  cluster_release(&k);
}

TEST(deleting_the_workflow_cancels_then_releases) {
  cluster_t k;
  cluster_init(&k, "  steps:\n" VERTEX_STEP("a"));
  REQUIRE(k.wf);
  settle(&k);
  CHECK(wf_has_finalizer(&k));
  json_object_set_new(json_object_get(k.wf, "metadata"), "deletionTimestamp",
                      json_string("2026-01-01T00:01:00Z"));
  int writes = k.status_writes;
  settle(&k);
  CHECK_INT(k.job_cancels, 1);
  CHECK(k.wf_deleted);
  CHECK_INT(k.status_writes, writes);
  cluster_release(&k);
}

TEST(deleting_with_a_refused_cancel_releases_with_an_event) {
  cluster_t k;
  cluster_init(&k, "  steps:\n" VERTEX_STEP("a"));
  REQUIRE(k.wf);
  settle(&k);
  k.cancel_refused = true;
  json_object_set_new(json_object_get(k.wf, "metadata"), "deletionTimestamp",
                      json_string("2026-01-01T00:01:00Z"));
  settle(&k);
  CHECK(k.wf_deleted);
  CHECK_LOG(&k, "event Warning CloudJobCancelFailed: step a: could not cancel VertexCustomJob "
                "job-a/1");
  cluster_release(&k);
}

TEST(deleting_before_any_job_exists_creates_none) {
  cluster_t k;
  cluster_init(&k, "  steps:\n" VERTEX_STEP("a"));
  REQUIRE(k.wf);
  /* The start is stored with the finalizer, but the driver died before
   * asking for the job. */
  sk_controller_out_t out;
  REQUIRE(reconcile_once(&k, &out, false) == 0);
  json_object_set(k.wf, "status", out.status);
  apply_op(&k, &out.ops[0]);
  sk_controller_out_release(&out);
  CHECK(wf_has_finalizer(&k));
  json_object_set_new(json_object_get(k.wf, "metadata"), "deletionTimestamp",
                      json_string("2026-01-01T00:01:00Z"));
  settle(&k);
  CHECK(k.wf_deleted);
  CHECK_INT(k.job_creates, 0);
  cluster_release(&k);
}

TEST(cancelled_outside_fails_the_step) {
  cluster_t k;
  cluster_init(&k, "  steps:\n" VERTEX_STEP("a"));
  REQUIRE(k.wf);
  settle(&k);
  job_set(&k, "a", 1, "CANCELLED", "JOB_STATE_CANCELLED", NULL, NULL);
  settle(&k);
  CHECK_STR(rec_str(&k, "a", "phase"), "Failed");
  CHECK_STR(rec_str(&k, "a", "message"),
            "the job was cancelled outside skein (JOB_STATE_CANCELLED)");
  cluster_release(&k);
}

TEST(retry_after_a_failed_job_makes_a_new_one) {
  cluster_t k;
  cluster_init(&k, "  steps:\n"
                   "    - name: train\n      retry: {limit: 1, backoff: {seconds: 10}}\n"
                   "      sagemaker: {region: us-east-1,\n"
                   "                  trainingJob: {RoleArn: arn, AlgorithmSpecification: {}}}\n");
  REQUIRE(k.wf);
  settle(&k);
  job_set(&k, "train", 1, "FAILED", "Failed", "CapacityError", NULL);
  settle(&k);
  CHECK_STR(rec_str(&k, "train", "phase"), "Pending");
  k.now += SEC(11);
  settle(&k);
  CHECK_STR(rec_str(&k, "train", "phase"), "Running");
  CHECK_INT(k.job_creates, 2);
  CHECK_STR(ref_str(&k, "train", "name"), "job-train/2");
  CHECK_INT(k.job_cancels, 0);
  cluster_release(&k);
}

/* C4 across a restart: a retry starts the next attempt while the earlier
 * attempt's cancel has no answer yet. The new ref carries the earlier one,
 * so a restarted driver asks for that cancel again (and creates nothing),
 * and the earlier ref is dropped once its cancel is done. */
/* A step whose first attempt times out while the cloud does not answer
 * cancels; its retry, 10 s later, is running when this returns. */
static void retry_while_cancel_pending(cluster_t *k) {
  cluster_init(k, "  steps:\n"
                  "    - name: train\n      timeoutSeconds: 60\n"
                  "      retry: {limit: 1, backoff: {seconds: 10}}\n"
                  "      vertex: {project: p, location: us-central1,\n"
                  "               customJob: {jobSpec: {workerPoolSpecs: [{}]}}}\n");
  if (!k->wf)
    return;
  settle(k);
  k->cancel_slow = true;
  k->now += SEC(61);
  settle(k);
  CHECK_STR(rec_str(k, "train", "phase"), "Pending");
  CHECK_INT(k->job_cancels, 1);
  k->now += SEC(11);
  settle(k);
}

TEST(an_earlier_attempts_cancel_survives_a_restart) {
  cluster_t k;
  retry_while_cancel_pending(&k);
  REQUIRE(k.wf);
  CHECK_STR(rec_str(&k, "train", "phase"), "Running");
  CHECK_INT(rec_int(&k, "train", "attempt"), 2);
  CHECK_INT(k.job_creates, 2);
  json_t *earlier = json_object_get(ref_of(&k, "train"), "earlier");
  REQUIRE(json_array_size(earlier) == 1);
  json_t *e = json_array_get(earlier, 0);
  CHECK_INT(json_integer_value(json_object_get(e, "attempt")), 1);
  CHECK_STR(json_string_value(json_object_get(e, "name")), "job-train/1");
  CHECK(!json_object_get(e, "done"));
  CHECK(wf_has_finalizer(&k));
  /* The driver restarts: the earlier attempt's cancel is asked again, by
   * its recorded name, and no job is created for it. */
  tracker_restart(&k);
  settle(&k);
  CHECK_INT(k.job_cancels, 2); /* attempt 1's, asked again; attempt 2 is only followed */
  CHECK_INT(k.job_creates, 2);
  /* The cloud answers: the earlier ref is dropped; attempt 2 runs on. */
  k.cancel_slow = false;
  settle(&k);
  CHECK(json_object_get(ref_of(&k, "train"), "earlier") == NULL);
  CHECK_STR(rec_str(&k, "train", "phase"), "Running");
  CHECK_STR(ref_str(&k, "train", "name"), "job-train/2");
  CHECK_INT(k.job_creates, 2);
  cluster_release(&k);
}

/* Deleting while an earlier attempt's cancel has no answer: the
 * finalizer stays until both attempts' cancels are done. */
TEST(deleting_waits_for_an_earlier_attempts_cancel) {
  cluster_t k;
  retry_while_cancel_pending(&k);
  REQUIRE(k.wf);
  REQUIRE(json_array_size(json_object_get(ref_of(&k, "train"), "earlier")) == 1);
  json_object_set_new(json_object_get(k.wf, "metadata"), "deletionTimestamp",
                      json_string("2026-01-01T00:02:00Z"));
  settle(&k);
  CHECK(!k.wf_deleted);
  CHECK_INT(k.job_cancels, 2); /* attempt 1's earlier one, and attempt 2's */
  CHECK_LOG(&k, "job cancel train/2 (no answer yet)");
  k.cancel_slow = false;
  settle(&k);
  CHECK(k.wf_deleted);
  CHECK_INT(k.job_creates, 2);
  cluster_release(&k);
}

/* The step becomes a Pod while its first attempt's cancel has no answer:
 * the Pod attempt's ref carries the earlier job, through a restart and a
 * second Pod attempt, until its cancel is done. */
TEST(an_earlier_job_is_carried_when_the_step_becomes_a_pod) {
  cluster_t k;
  cluster_init(&k, "  steps:\n"
                   "    - name: train\n      timeoutSeconds: 60\n"
                   "      retry: {limit: 2, backoff: {seconds: 10}}\n"
                   "      vertex: {project: p, location: us-central1,\n"
                   "               customJob: {jobSpec: {workerPoolSpecs: [{}]}}}\n");
  REQUIRE(k.wf);
  settle(&k);
  k.cancel_slow = true;
  k.now += SEC(61);
  settle(&k);
  CHECK_STR(rec_str(&k, "train", "phase"), "Pending");
  json_t *step = json_array_get(json_object_get(json_object_get(k.wf, "spec"), "steps"), 0);
  json_object_del(step, "vertex");
  json_object_set_new(step, "pod", json_pack("{s:s}", "image", "busybox"));
  k.now += SEC(11);
  settle(&k);
  CHECK_STR(rec_str(&k, "train", "phase"), "Running");
  CHECK_INT(rec_int(&k, "train", "attempt"), 2);
  json_t *earlier = json_object_get(ref_of(&k, "train"), "earlier");
  REQUIRE(json_array_size(earlier) == 1);
  CHECK_STR(json_string_value(json_object_get(json_array_get(earlier, 0), "name")),
            "job-train/1");
  tracker_restart(&k);
  settle(&k);
  CHECK_INT(k.job_cancels, 2);
  /* The Pod attempt times out and the next one starts (the backoff
   * doubled to 20 s): still carried. */
  k.now += SEC(61);
  settle(&k);
  k.now += SEC(21);
  settle(&k);
  CHECK_INT(rec_int(&k, "train", "attempt"), 3);
  CHECK_INT(json_array_size(json_object_get(ref_of(&k, "train"), "earlier")), 1);
  k.cancel_slow = false;
  settle(&k);
  CHECK(json_object_get(ref_of(&k, "train"), "earlier") == NULL);
  CHECK_INT(k.job_creates, 1);
  cluster_release(&k);
}

int main(void) {
  RUN(start_is_stored_before_the_job_is_asked_for);
  RUN(vertex_job_succeeds_and_outputs_flow);
  RUN(failed_job_fails_the_step_with_the_cloud_reason);
  RUN(restart_resumes_the_named_job_and_adopts_an_unnamed_one);
  RUN(timeout_cancels_the_job_until_done);
  RUN(cancel_is_asked_again_after_a_restart);
  RUN(shutdown_terminate_cancels_running_jobs);
  RUN(deleting_the_workflow_cancels_then_releases);
  RUN(deleting_with_a_refused_cancel_releases_with_an_event);
  RUN(deleting_before_any_job_exists_creates_none);
  RUN(cancelled_outside_fails_the_step);
  RUN(retry_after_a_failed_job_makes_a_new_one);
  RUN(an_earlier_attempts_cancel_survives_a_restart);
  RUN(deleting_waits_for_an_earlier_attempts_cancel);
  RUN(an_earlier_job_is_carried_when_the_step_becomes_a_pod);
  return TEST_DONE();
}
