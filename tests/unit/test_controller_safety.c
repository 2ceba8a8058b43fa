/*
 * The reconciler's safety rules on a fake cluster (test_controller_sim.h):
 * a controller that crashed between a status write and its ops, stale
 * reads, repeated reconciles, Pods deleted behind its back, refused
 * creates, foreign Pods, podGC and ttlSecondsAfterFinished, invalid specs
 * and unreadable statuses.
 */
#include "test_controller_sim.h"

#define POD_STEP(name) "    - name: " name "\n      pod: {image: busybox, command: [run]}\n"

static bool ops_equal(const sk_controller_out_t *a, const sk_controller_out_t *b) {
  if (a->nops != b->nops)
    return false;
  for (size_t i = 0; i < a->nops; i++) {
    const sk_controller_op_t *x = &a->ops[i], *y = &b->ops[i];
    if (x->kind != y->kind || strcmp(x->name, y->name) != 0 ||
        (x->pod || y->pod ? !x->pod || !y->pod || !json_equal(x->pod, y->pod) : false))
      return false;
  }
  return true;
}

static const sk_controller_op_t *find_op(const sk_controller_out_t *out,
                                         sk_controller_op_kind_t kind, const char *name) {
  for (size_t i = 0; i < out->nops; i++)
    if (out->ops[i].kind == kind && strcmp(out->ops[i].name, name) == 0)
      return &out->ops[i];
  return NULL;
}

/* Applies only the status of out (a crash before the ops). */
static void write_status_only(cluster_t *k, const sk_controller_out_t *out) {
  if (out->status) {
    json_object_set(k->wf, "status", out->status);
    k->status_writes++;
  }
}

static const char *const k_two_steps =
    "  steps:\n"
    "    - name: a\n      pod: {image: busybox, command: [a]}\n"
    "    - name: b\n      dependsOn: [a]\n"
    "      pod: {image: busybox, command: [b], args: ['{{steps.a.outputs.x}}', "
    "'{{workflow.uid}}']}\n";

TEST(restart_recreates_the_same_pod) {
  cluster_t k;
  cluster_init(&k, k_two_steps);
  REQUIRE(k.wf);
  settle(&k);
  k.now += SEC(5);
  pod_succeed(&k, "wf-a-1", "x=42");
  /* The reconcile that starts b writes its status, then the controller
   * dies before creating the Pod. */
  sk_controller_out_t first;
  reconcile_once(&k, &first, false);
  REQUIRE(first.status && first.nops == 1);
  CHECK_INT(first.ops[0].kind, SK_CONTROLLER_OP_CREATE_POD);
  CHECK_STR(first.ops[0].name, "wf-b-1");
  write_status_only(&k, &first);
  CHECK_STR(rec_str(&k, "b", "phase"), "Running");
  /* A new controller: the Running record has no Pod, so it makes the same
   * one (same name, same body re-rendered from the status), writing
   * nothing. */
  k.now += SEC(30);
  sk_controller_out_t second;
  reconcile_once(&k, &second, true);
  CHECK(second.status == NULL);
  CHECK(ops_equal(&first, &second));
  sk_controller_out_release(&first);
  sk_controller_out_release(&second);
  json_t *want = json_pack("[s, s]", "42", "wf-uid");
  CHECK(json_equal(json_object_get(created_main(&k, "wf-b-1"), "args"), want));
  json_decref(want);
  /* And once it exists, nothing more happens. */
  CHECK_INT(settle(&k), 1);
  CHECK_INT(k.creates, 2);
  cluster_release(&k);
}

TEST(restart_finds_a_finished_pod) {
  cluster_t k;
  cluster_init(&k, "  steps:\n" POD_STEP("s"));
  REQUIRE(k.wf);
  settle(&k);
  /* The controller is down while the Pod finishes. */
  k.now += SEC(60);
  pod_succeed(&k, "wf-s-1", "model=gs://m\nscore=0.9");
  k.now += SEC(60);
  sk_controller_out_t out;
  reconcile_once(&k, &out, true);
  CHECK(out.status != NULL);
  CHECK_INT(out.nops, 0);
  sk_controller_out_release(&out);
  CHECK_STR(wf_phase(&k), "Succeeded");
  CHECK_STR(rec_output(&k, "s", "model"), "gs://m");
  CHECK_STR(rec_output(&k, "s", "score"), "0.9");
  /* finishedAt is when the container ended, not when it was seen. */
  CHECK_STR(rec_str(&k, "s", "finishedAt"), "2026-01-01T00:01:00Z");
  cluster_release(&k);
}

TEST(reconcile_is_idempotent) {
  cluster_t k;
  cluster_init(&k, "  steps:\n" POD_STEP("s") POD_STEP("t"));
  REQUIRE(k.wf);
  sk_controller_out_t a, b;
  reconcile_once(&k, &a, false);
  reconcile_once(&k, &b, false);
  CHECK(a.status && b.status && json_equal(a.status, b.status));
  CHECK(ops_equal(&a, &b));
  CHECK_INT(a.nops, 2);
  CHECK_INT(a.nevents, b.nevents);
  sk_controller_out_release(&b);
  /* Status written and Pods created: nothing left to do. */
  write_status_only(&k, &a);
  for (size_t i = 0; i < a.nops; i++)
    apply_op(&k, &a.ops[i]);
  sk_controller_out_release(&a);
  reconcile_once(&k, &a, true);
  CHECK(a.status == NULL && a.nops == 0 && a.nevents == 0);
  sk_controller_out_release(&a);
  cluster_release(&k);
}

TEST(cache_lag_only_meets_already_exists) {
  cluster_t k;
  cluster_init(&k, "  steps:\n" POD_STEP("s"));
  REQUIRE(k.wf);
  sk_controller_out_t out;
  reconcile_once(&k, &out, true);
  sk_controller_out_release(&out);
  /* The Pod exists, but the informer has not shown it: the next
   * reconcile (woken by its own status write) asks again. */
  json_t *hidden = json_incref(pod_of(&k, "wf-s-1"));
  json_object_del(k.pods, "wf-s-1");
  reconcile_once(&k, &out, false);
  CHECK(out.status == NULL);
  REQUIRE(out.nops == 1);
  CHECK_STR(out.ops[0].name, "wf-s-1");
  json_object_set_new(k.pods, "wf-s-1", hidden);
  apply_op(&k, &out.ops[0]);
  sk_controller_out_release(&out);
  CHECK_INT(k.already_exists, 1);
  CHECK_INT(live_pods(&k), 1);
  cluster_release(&k);
}

TEST(failed_status_write_loses_nothing) {
  cluster_t k;
  cluster_init(&k, "  podGC: OnPodSuccess\n  steps:\n" POD_STEP("s"));
  REQUIRE(k.wf);
  settle(&k);
  pod_succeed(&k, "wf-s-1", "r=1");
  /* The write recording the result fails (a conflict): the driver carries
   * out nothing, so the Pod that holds the result stays. */
  sk_controller_out_t out;
  reconcile_once(&k, &out, false);
  REQUIRE(out.status != NULL);
  REQUIRE(find_op(&out, SK_CONTROLLER_OP_DELETE_POD, "wf-s-1"));
  sk_controller_out_release(&out);
  CHECK(pod_of(&k, "wf-s-1") != NULL);
  /* Written, then the controller dies before deleting: a later reconcile
   * deletes it, with no further write. */
  reconcile_once(&k, &out, false);
  write_status_only(&k, &out);
  sk_controller_out_release(&out);
  CHECK_STR(rec_output(&k, "s", "r"), "1");
  reconcile_once(&k, &out, true);
  CHECK(out.status == NULL);
  CHECK(find_op(&out, SK_CONTROLLER_OP_DELETE_POD, "wf-s-1") != NULL);
  sk_controller_out_release(&out);
  CHECK(pod_of(&k, "wf-s-1") == NULL);
  CHECK_STR(wf_phase(&k), "Succeeded");
  cluster_release(&k);
}

TEST(stale_status_never_deletes_a_newer_attempt) {
  cluster_t k;
  cluster_init(&k, "  steps:\n    - name: s\n      retry: {limit: 1}\n"
                   "      pod: {image: busybox, command: [run]}\n");
  REQUIRE(k.wf);
  settle(&k);
  json_t *stale = json_deep_copy(json_object_get(k.wf, "status"));
  k.now += SEC(5);
  pod_fail(&k, "wf-s-1", 1);
  settle(&k);
  REQUIRE(pod_of(&k, "wf-s-2"));
  pod_running(&k, "wf-s-2");
  /* A reconcile from a cache that still has the first status. */
  json_t *fresh = json_incref(json_object_get(k.wf, "status"));
  json_object_set_new(k.wf, "status", stale);
  sk_controller_out_t out;
  reconcile_once(&k, &out, false);
  CHECK(find_op(&out, SK_CONTROLLER_OP_DELETE_POD, "wf-s-2") == NULL);
  CHECK(find_op(&out, SK_CONTROLLER_OP_CREATE_POD, "wf-s-1") == NULL);
  /* Its status write would meet a conflict (resourceVersion). */
  CHECK(out.status != NULL);
  sk_controller_out_release(&out);
  json_object_set_new(k.wf, "status", fresh);
  settle(&k);
  CHECK(pod_of(&k, "wf-s-2") != NULL);
  cluster_release(&k);
}

TEST(pod_deleted_while_running) {
  cluster_t k;
  cluster_init(&k, "  steps:\n" POD_STEP("s"));
  REQUIRE(k.wf);
  settle(&k);
  pod_running(&k, "wf-s-1");
  k.now += SEC(5);
  pod_vanish(&k, "wf-s-1");
  settle(&k);
  CHECK_STR(wf_phase(&k), "Failed");
  CHECK_STR(rec_str(&k, "s", "message"), "pod was deleted");
  CHECK_LOG(&k, "event Warning StepFailed: step s failed: pod was deleted");
  CHECK_LOG(&k, "event Warning WorkflowFailed: step s failed: pod was deleted");
  CHECK_INT(k.creates, 1);
  cluster_release(&k);
}

TEST(pod_being_deleted_fails_the_attempt) {
  cluster_t k;
  cluster_init(&k, "  steps:\n    - name: s\n      retry: {limit: 1}\n"
                   "      pod: {image: busybox, command: [run]}\n");
  REQUIRE(k.wf);
  settle(&k);
  json_object_set_new(json_object_get(pod_of(&k, "wf-s-1"), "metadata"), "deletionTimestamp",
                      json_string("2026-01-01T00:00:03Z"));
  settle(&k);
  CHECK_INT(rec_int(&k, "s", "attempt"), 2);
  CHECK(pod_of(&k, "wf-s-2") != NULL);
  /* A Pod already on its way out is not deleted again. */
  CHECK_NO_LOG(&k, "delete wf-s-1");
  cluster_release(&k);
}

TEST(refused_create_fails_the_attempt) {
  cluster_t k;
  cluster_init(&k, "  steps:\n" POD_STEP("s"));
  REQUIRE(k.wf);
  k.refuse.pod = "wf-s-1";
  sk_controller_out_t out;
  reconcile_once(&k, &out, true);
  sk_controller_out_release(&out);
  CHECK_LOG(&k, "create wf-s-1 (refused)");
  /* The driver passes the refusal to the next reconcile. */
  k.refused_msg = strdup("pods \"wf-s-1\" is forbidden: exceeded quota: q, requested: cpu=1");
  k.refuse.message = k.refused_msg;
  reconcile_once(&k, &out, true);
  sk_controller_out_release(&out);
  CHECK_STR(wf_phase(&k), "Failed");
  CHECK_STR(rec_str(&k, "s", "message"),
            "the API server refused to create Pod wf-s-1: pods \"wf-s-1\" is forbidden: exceeded "
            "quota: q, requested: cpu=1");
  cluster_release(&k);
}

/* Adds a Pod the workflow does not control. */
static void add_foreign(cluster_t *k, const char *name, const char *owner_uid, const char *phase) {
  json_t *pod = json_pack("{s:{s:s, s:s, s:{s:s}}, s:{s:s}}", "metadata", "name", name, "uid",
                          "foreign", "labels", "skein.dev/workflow", "wf", "status", "phase",
                          phase);
  if (owner_uid)
    json_object_set_new(json_object_get(pod, "metadata"), "ownerReferences",
                        json_pack("[{s:s, s:s, s:s, s:s, s:b}]", "apiVersion",
                                  "skein.dev/v1alpha1", "kind", "Workflow", "name", "wf", "uid",
                                  owner_uid, "controller", 1));
  json_object_set_new(k->pods, name, pod);
  json_array_append_new(k->order, json_string(name));
}

TEST(foreign_pods_are_never_touched) {
  cluster_t k;
  cluster_init(&k, "  podGC: OnWorkflowCompletion\n  ttlSecondsAfterFinished: 0\n"
                   "  steps:\n" POD_STEP("s") POD_STEP("t") POD_STEP("u"));
  REQUIRE(k.wf);
  /* An earlier Workflow of the same name left a Pod with s's first name;
   * someone made t's by hand; a third Pod has no owner at all. */
  add_foreign(&k, "wf-s-1", "old-uid", "Running");
  add_foreign(&k, "wf-t-1", NULL, "Running");
  add_foreign(&k, "stray", NULL, "Running");
  settle(&k);
  /* s waits for garbage collection to remove the old Pod; t cannot run. */
  CHECK_INT(k.already_exists, 0);
  CHECK_STR(rec_str(&k, "s", "phase"), "Running");
  CHECK_STR(rec_str(&k, "t", "phase"), "Failed");
  CHECK_STR(rec_str(&k, "t", "message"),
            "a Pod named wf-t-1 already exists and this workflow does not control it; delete "
            "it or give the workflow another name");
  CHECK(pod_of(&k, "wf-u-1") != NULL);
  json_object_del(k.pods, "wf-s-1");
  settle(&k);
  REQUIRE(pod_of(&k, "wf-s-1"));
  pod_succeed(&k, "wf-s-1", NULL);
  pod_succeed(&k, "wf-u-1", NULL);
  settle(&k);
  CHECK_STR(wf_phase(&k), "Failed");
  CHECK(k.wf_deleted);
  CHECK_LOG(&k, "delete wf-s-1\n");
  CHECK_NO_LOG(&k, "delete wf-t-1");
  CHECK_NO_LOG(&k, "delete stray");
  cluster_release(&k);
}

TEST(workflow_being_deleted) {
  cluster_t k;
  cluster_init(&k, "  steps:\n" POD_STEP("a") POD_STEP("b"));
  REQUIRE(k.wf);
  settle(&k);
  pod_succeed(&k, "wf-a-1", NULL);
  json_object_set_new(json_object_get(k.wf, "metadata"), "deletionTimestamp",
                      json_string("2026-01-01T00:00:09Z"));
  int writes = k.status_writes;
  sk_controller_out_t out;
  reconcile_once(&k, &out, true);
  CHECK(out.status == NULL);
  REQUIRE(out.nops == 1);
  CHECK_INT(out.ops[0].kind, SK_CONTROLLER_OP_DELETE_POD);
  CHECK_STR(out.ops[0].name, "wf-b-1");
  CHECK_STR(out.ops[0].uid, "pod-uid-2");
  sk_controller_out_release(&out);
  CHECK_INT(k.status_writes, writes);
  cluster_release(&k);
}

TEST(pod_gc_on_pod_success) {
  cluster_t k;
  cluster_init(&k, "  podGC: OnPodSuccess\n  steps:\n" POD_STEP("a")
                   "    - name: b\n      dependsOn: [a]\n"
                   "      pod: {image: busybox, command: [run]}\n");
  REQUIRE(k.wf);
  settle(&k);
  pod_succeed(&k, "wf-a-1", "x=1");
  sk_controller_out_t out;
  reconcile_once(&k, &out, true);
  /* The result and the next start are written first; then b's Pod is
   * made and a's deleted. */
  REQUIRE(out.status && out.nops == 2);
  CHECK_INT(out.ops[0].kind, SK_CONTROLLER_OP_CREATE_POD);
  CHECK_INT(out.ops[1].kind, SK_CONTROLLER_OP_DELETE_POD);
  CHECK_STR(out.ops[1].name, "wf-a-1");
  CHECK_STR(out.ops[1].uid, "pod-uid-1");
  sk_controller_out_release(&out);
  pod_fail(&k, "wf-b-1", 2);
  settle(&k);
  CHECK_STR(wf_phase(&k), "Failed");
  /* A failed Pod is kept for its logs. */
  CHECK(pod_of(&k, "wf-b-1") != NULL);
  cluster_release(&k);
}

static void gc_at_end(const char *policy, bool fail, bool want_deleted) {
  char body[512];
  snprintf(body, sizeof(body), "  podGC: %s\n  steps:\n" POD_STEP("a") POD_STEP("b"), policy);
  cluster_t k;
  cluster_init(&k, body);
  REQUIRE(k.wf);
  settle(&k);
  pod_succeed(&k, "wf-a-1", NULL);
  settle(&k);
  CHECK_INT(k.deletes, 0);
  if (fail)
    pod_fail(&k, "wf-b-1", 1);
  else
    pod_succeed(&k, "wf-b-1", NULL);
  settle(&k);
  CHECK_STR(wf_phase(&k), fail ? "Failed" : "Succeeded");
  CHECK_INT(k.deletes, want_deleted ? 2 : 0);
  CHECK_INT(live_pods(&k), want_deleted ? 0 : 2);
  if (sk_test_failed_now)
    printf("  with podGC %s, %s\n", policy, fail ? "failing" : "succeeding");
  cluster_release(&k);
}

TEST(pod_gc_at_the_end) {
  gc_at_end("OnWorkflowSuccess", false, true);
  gc_at_end("OnWorkflowSuccess", true, false);
  gc_at_end("OnWorkflowCompletion", true, true);
  gc_at_end("OnWorkflowCompletion", false, true);
  gc_at_end("Never", false, false);
}

TEST(ttl_after_finished) {
  cluster_t k;
  cluster_init(&k, "  ttlSecondsAfterFinished: 60\n  steps:\n" POD_STEP("s"));
  REQUIRE(k.wf);
  settle(&k);
  k.now += SEC(10);
  pod_succeed(&k, "wf-s-1", NULL);
  settle(&k);
  CHECK_STR(wf_phase(&k), "Succeeded");
  CHECK_INT(k.requeue_at, T0 + SEC(70));
  CHECK(!k.wf_deleted);
  k.now = T0 + SEC(69);
  settle(&k);
  CHECK(!k.wf_deleted);
  k.now = k.requeue_at;
  sk_controller_out_t out;
  reconcile_once(&k, &out, true);
  CHECK(out.status == NULL);
  REQUIRE(out.nops == 2);
  CHECK_INT(out.ops[0].kind, SK_CONTROLLER_OP_DELETE_POD);
  CHECK_INT(out.ops[1].kind, SK_CONTROLLER_OP_DELETE_WORKFLOW);
  CHECK_STR(out.ops[1].name, "wf");
  CHECK_STR(out.ops[1].uid, "wf-uid");
  sk_controller_out_release(&out);
  CHECK(k.wf_deleted);
  cluster_release(&k);
}

TEST(ttl_zero_deletes_in_the_finishing_reconcile) {
  cluster_t k;
  cluster_init(&k, "  ttlSecondsAfterFinished: 0\n  steps:\n" POD_STEP("s"));
  REQUIRE(k.wf);
  settle(&k);
  pod_fail(&k, "wf-s-1", 1);
  sk_controller_out_t out;
  reconcile_once(&k, &out, true);
  CHECK(out.status != NULL);
  REQUIRE(out.nops == 2);
  CHECK_INT(out.ops[1].kind, SK_CONTROLLER_OP_DELETE_WORKFLOW);
  sk_controller_out_release(&out);
  cluster_release(&k);
}

TEST(invalid_spec) {
  cluster_t k;
  cluster_init(&k, "  parallelism: -1\n  steps:\n    - name: s\n      pod: {command: [x]}\n");
  REQUIRE(k.wf);
  sk_controller_out_t out;
  reconcile_once(&k, &out, true);
  CHECK_INT(out.nops, 0);
  REQUIRE(out.nevents == 1);
  CHECK_STR(out.events[0].reason, "InvalidSpec");
  CHECK_STR(out.events[0].type, "Warning");
  sk_controller_out_release(&out);
  CHECK_STR(wf_phase(&k), "Failed");
  const char *msg = json_string_value(json_object_get(json_object_get(k.wf, "status"), "message"));
  CHECK(msg && strncmp(msg, "invalid spec: ", 14) == 0);
  CHECK(msg && strstr(msg, "spec.parallelism: ") != NULL);
  CHECK(msg && strstr(msg, "spec.steps[0].pod.image: required field is missing") != NULL);
  /* Nothing more to say about it. */
  CHECK_INT(settle(&k), 1);
  CHECK_INT(k.status_writes, 1);
  CHECK_INT(k.events, 1);
  cluster_release(&k);
}

TEST(invalid_spec_message_is_capped) {
  sk_buf_t b;
  sk_buf_init(&b, 1 << 20);
  sk_buf_puts(&b, "  steps:\n");
  for (int i = 0; i < 100; i++)
    sk_buf_printf(&b, "    - name: step-%d\n      pod: {command: [x]}\n", i);
  cluster_t k;
  cluster_init(&k, b.data);
  sk_buf_release(&b);
  REQUIRE(k.wf);
  settle(&k);
  const char *msg = json_string_value(json_object_get(json_object_get(k.wf, "status"), "message"));
  REQUIRE(msg);
  CHECK(strlen(msg) <= SK_STATUS_MAX_MESSAGE);
  CHECK(strstr(msg, "more problems)") != NULL);
  cluster_release(&k);
}

TEST(required_param_without_value) {
  cluster_t k;
  cluster_init(&k, "  params: [{name: model}]\n  steps:\n" POD_STEP("s"));
  REQUIRE(k.wf);
  settle(&k);
  CHECK_STR(wf_phase(&k), "Failed");
  CHECK_STR(json_string_value(json_object_get(json_object_get(k.wf, "status"), "message")),
            "invalid spec: spec.params[0].value: parameter \"model\" is required and has no value");
  CHECK_INT(k.creates, 0);
  cluster_release(&k);
}

TEST(spec_made_invalid_while_running) {
  cluster_t k;
  cluster_init(&k, "  steps:\n" POD_STEP("a") "    - name: b\n      dependsOn: [a]\n"
                   "      pod: {image: busybox, command: [run]}\n");
  REQUIRE(k.wf);
  settle(&k);
  pod_succeed(&k, "wf-a-1", NULL);
  settle(&k);
  REQUIRE(pod_of(&k, "wf-b-1"));
  json_object_set_new(json_object_get(k.wf, "spec"), "parallelism", json_string("many"));
  json_object_set_new(json_object_get(k.wf, "metadata"), "generation", json_integer(2));
  settle(&k);
  CHECK_STR(wf_phase(&k), "Failed");
  CHECK_STR(rec_str(&k, "a", "phase"), "Succeeded");
  CHECK_STR(rec_str(&k, "b", "phase"), "Cancelled");
  CHECK_LOG(&k, "delete wf-b-1\n");
  CHECK_NO_LOG(&k, "delete wf-a-1");
  cluster_release(&k);
}

TEST(unreadable_status) {
  cluster_t k;
  cluster_init(&k, "  steps:\n" POD_STEP("s"));
  REQUIRE(k.wf);
  json_object_set_new(k.wf, "status", json_pack("{s:s}", "phase", "Done"));
  settle(&k);
  CHECK_STR(wf_phase(&k), "Failed");
  const char *msg = json_string_value(json_object_get(json_object_get(k.wf, "status"), "message"));
  CHECK(msg && strncmp(msg, "the status cannot be read, so the run cannot go on: ", 52) == 0);
  CHECK_LOG(&k, "event Warning StatusUnreadable");
  CHECK_INT(k.creates, 0);
  cluster_release(&k);
}

TEST(finished_workflow_acknowledges_a_new_generation) {
  cluster_t k;
  cluster_init(&k, "  steps:\n" POD_STEP("s"));
  REQUIRE(k.wf);
  settle(&k);
  pod_succeed(&k, "wf-s-1", NULL);
  settle(&k);
  int writes = k.status_writes, events = k.events;
  json_object_set_new(json_object_get(k.wf, "metadata"), "generation", json_integer(5));
  json_object_set_new(json_object_get(k.wf, "spec"), "parallelism", json_integer(3));
  settle(&k);
  CHECK_INT(k.status_writes, writes + 1);
  CHECK_INT(k.events, events);
  CHECK_STR(wf_phase(&k), "Succeeded");
  CHECK_INT(json_integer_value(json_object_get(json_object_get(k.wf, "status"), "observedGeneration")), 5);
  cluster_release(&k);
}

TEST(image_pull_grace_requeues) {
  cluster_t k;
  cluster_init(&k, "  steps:\n" POD_STEP("s"));
  REQUIRE(k.wf);
  settle(&k);
  k.now += SEC(20);
  pod_set_status(&k, "wf-s-1",
                 json_pack("{s:s, s:[{s:s, s:{s:{s:s, s:s}}}]}", "phase", "Pending",
                           "containerStatuses", "name", "main", "state", "waiting", "reason",
                           "ImagePullBackOff", "message", "Back-off pulling image \"busybox\""));
  settle(&k);
  CHECK_STR(rec_str(&k, "s", "phase"), "Running");
  CHECK_INT(k.requeue_at, T0 + SK_CONTROLLER_WAITING_GRACE_MS);
  k.now = k.requeue_at;
  settle(&k);
  CHECK_STR(wf_phase(&k), "Failed");
  CHECK_STR(rec_str(&k, "s", "message"),
            "cannot start container main: ImagePullBackOff: Back-off pulling image \"busybox\" "
            "(waited 5m00s)");
  /* The Pod that cannot start is stopped. */
  CHECK_LOG(&k, "delete wf-s-1\n");
  cluster_release(&k);
}

TEST(bad_input) {
  sk_controller_out_t out;
  sk_controller_out_init(&out);
  sk_controller_in_t in;
  memset(&in, 0, sizeof(in));
  CHECK_INT(sk_controller_reconcile(&in, &out), SK_EINVAL);
  in.workflow = json_pack("{s:{}}", "metadata");
  CHECK_INT(sk_controller_reconcile(&in, &out), SK_EINVAL);
  in.npods = 1;
  CHECK_INT(sk_controller_reconcile(&in, &out), SK_EINVAL);
  json_decref(in.workflow);
  CHECK(out.status == NULL && out.nops == 0);
  sk_controller_out_release(&out);
}

int main(void) {
  RUN(restart_recreates_the_same_pod);
  RUN(restart_finds_a_finished_pod);
  RUN(reconcile_is_idempotent);
  RUN(cache_lag_only_meets_already_exists);
  RUN(failed_status_write_loses_nothing);
  RUN(stale_status_never_deletes_a_newer_attempt);
  RUN(pod_deleted_while_running);
  RUN(pod_being_deleted_fails_the_attempt);
  RUN(refused_create_fails_the_attempt);
  RUN(foreign_pods_are_never_touched);
  RUN(workflow_being_deleted);
  RUN(pod_gc_on_pod_success);
  RUN(pod_gc_at_the_end);
  RUN(ttl_after_finished);
  RUN(ttl_zero_deletes_in_the_finishing_reconcile);
  RUN(invalid_spec);
  RUN(invalid_spec_message_is_capped);
  RUN(required_param_without_value);
  RUN(spec_made_invalid_while_running);
  RUN(unreadable_status);
  RUN(finished_workflow_acknowledges_a_new_generation);
  RUN(image_pull_grace_requeues);
  RUN(bad_input);
  return TEST_DONE();
}
