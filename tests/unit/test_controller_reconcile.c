/*
 * The reconciler driven through whole runs on a fake cluster (see
 * test_controller_sim.h): DAG order and outputs flowing from a Pod's
 * termination message into the next Pod's args, retries with a delayed
 * requeue, parallelism, fan-out, `when`, the deadline, Stop and Terminate,
 * the number of API writes a run costs.
 */
#include "test_controller_sim.h"

#define POD_STEP(name) "    - name: " name "\n      pod: {image: busybox, command: [run]}\n"

static json_t *created_args(const cluster_t *k, const char *name) {
  return json_object_get(created_main(k, name), "args");
}

TEST(dag_outputs_flow) {
  cluster_t k;
  cluster_init(&k,
               "  steps:\n"
               "    - name: prepare\n"
               "      pod: {image: busybox, command: [prep]}\n"
               "    - name: train\n"
               "      dependsOn: [prepare]\n"
               "      pod: {image: busybox, command: [train], args: ['--data={{steps.prepare.outputs.data}}']}\n"
               "    - name: evaluate\n"
               "      dependsOn: [train]\n"
               "      pod:\n"
               "        image: busybox\n"
               "        command: [eval]\n"
               "        args: ['{{steps.train.outputs.model}}']\n"
               "        env: [{name: ACC, value: '{{steps.train.outputs.accuracy}}'}]\n");
  REQUIRE(k.wf);
  settle(&k);
  CHECK_STR(wf_phase(&k), "Running");
  CHECK_INT(live_pods(&k), 1);
  REQUIRE(pod_of(&k, "wf-prepare-1"));
  CHECK_STR(rec_str(&k, "prepare", "phase"), "Running");
  CHECK_STR(json_string_value(json_object_get(json_object_get(record(&k, "prepare"), "ref"), "name")),
            "wf-prepare-1");
  CHECK_STR(rec_str(&k, "train", "phase"), "Pending");

  k.now += SEC(5);
  pod_running(&k, "wf-prepare-1");
  CHECK_INT(settle(&k), 1); /* Running changes nothing: no write */
  k.now += SEC(5);
  pod_succeed(&k, "wf-prepare-1", "data=gs://bucket/ds\n");
  settle(&k);
  CHECK_STR(rec_str(&k, "prepare", "phase"), "Succeeded");
  CHECK_STR(rec_output(&k, "prepare", "data"), "gs://bucket/ds");
  REQUIRE(pod_of(&k, "wf-train-1"));
  json_t *want = json_pack("[s]", "--data=gs://bucket/ds");
  CHECK(json_equal(created_args(&k, "wf-train-1"), want));
  json_decref(want);

  k.now += SEC(10);
  pod_succeed(&k, "wf-train-1", "{\"model\": \"gs://m/1\", \"accuracy\": 0.93}");
  settle(&k);
  REQUIRE(pod_of(&k, "wf-evaluate-1"));
  want = json_pack("[s]", "gs://m/1");
  CHECK(json_equal(created_args(&k, "wf-evaluate-1"), want));
  json_decref(want);
  json_t *env = json_object_get(created_main(&k, "wf-evaluate-1"), "env");
  CHECK_STR(json_string_value(json_object_get(json_array_get(env, 4), "value")), "0.93");

  k.now += SEC(10);
  pod_succeed(&k, "wf-evaluate-1", NULL);
  settle(&k);
  CHECK_STR(wf_phase(&k), "Succeeded");
  CHECK_STR(json_string_value(json_object_get(json_object_get(k.wf, "status"), "progress")), "3/3");
  CHECK_STR(json_string_value(json_object_get(json_object_get(k.wf, "status"), "duration")), "30s");
  CHECK_INT(k.creates, 3);
  CHECK_INT(k.already_exists, 0);
  CHECK_INT(k.deletes, 0);
  CHECK_INT(k.requeue_at, 0);
  CHECK_LOG(&k, "event Normal WorkflowRunning");
  CHECK_LOG(&k, "event Normal WorkflowSucceeded");
  /* Once finished, further reconciles write nothing. */
  sk_controller_out_t out;
  reconcile_once(&k, &out, false);
  CHECK(out.status == NULL && out.nops == 0 && out.nevents == 0);
  CHECK_INT(out.phase, SK_PHASE_SUCCEEDED);
  sk_controller_out_release(&out);
  cluster_release(&k);
}

TEST(retry_with_delayed_requeue) {
  cluster_t k;
  cluster_init(&k, "  steps:\n"
                   "    - name: flaky\n"
                   "      retry: {limit: 2, backoff: {seconds: 30}}\n"
                   "      pod: {image: busybox, command: [run]}\n");
  REQUIRE(k.wf);
  settle(&k);
  REQUIRE(pod_of(&k, "wf-flaky-1"));
  k.now += SEC(10);
  pod_fail(&k, "wf-flaky-1", 1);
  sk_controller_out_t out;
  reconcile_once(&k, &out, true);
  CHECK(out.status != NULL);
  CHECK_INT(out.nops, 0);
  CHECK_INT(out.requeue_at_ms, k.now + SEC(30));
  sk_controller_out_release(&out);
  CHECK_STR(rec_str(&k, "flaky", "phase"), "Pending");
  CHECK_STR(rec_str(&k, "flaky", "message"),
            "attempt 1 failed: exit code 1 (Error); retrying in 30s");
  /* Woken by the status write's watch event: still too early. */
  settle(&k);
  CHECK_INT(live_pods(&k), 1);
  CHECK_INT(k.requeue_at, T0 + SEC(40));
  k.now = k.requeue_at;
  settle(&k);
  REQUIRE(pod_of(&k, "wf-flaky-2"));
  CHECK_INT(rec_int(&k, "flaky", "attempt"), 2);
  json_t *labels = json_object_get(json_object_get(pod_of(&k, "wf-flaky-2"), "metadata"), "labels");
  CHECK_STR(json_string_value(json_object_get(labels, "skein.dev/attempt")), "2");
  /* The failed attempt's Pod is kept (podGC Never) and left alone. */
  REQUIRE(pod_of(&k, "wf-flaky-1"));
  k.now += SEC(10);
  pod_succeed(&k, "wf-flaky-2", "ok=yes");
  settle(&k);
  CHECK_STR(wf_phase(&k), "Succeeded");
  CHECK_INT(k.deletes, 0);
  cluster_release(&k);
}

TEST(parallelism_limits_creates) {
  cluster_t k;
  cluster_init(&k, "  parallelism: 2\n  steps:\n" POD_STEP("a") POD_STEP("b") POD_STEP("c")
                       POD_STEP("d") POD_STEP("e"));
  REQUIRE(k.wf);
  settle(&k);
  CHECK_INT(live_pods(&k), 2);
  REQUIRE(pod_of(&k, "wf-a-1") && pod_of(&k, "wf-b-1"));
  size_t most = 0;
  for (int round = 0; round < 10 && strcmp(wf_phase(&k), "Succeeded") != 0; round++) {
    size_t r = running_pods(&k);
    most = r > most ? r : most;
    /* Finish the oldest running Pod. */
    size_t i;
    json_t *v;
    json_array_foreach(k.order, i, v) {
      json_t *p = pod_of(&k, json_string_value(v));
      const char *ph = json_string_value(json_object_get(json_object_get(p, "status"), "phase"));
      if (p && strcmp(ph, "Pending") == 0) {
        k.now += SEC(1);
        pod_succeed(&k, json_string_value(v), NULL);
        break;
      }
    }
    settle(&k);
  }
  CHECK_STR(wf_phase(&k), "Succeeded");
  CHECK_INT(most, 2);
  CHECK_INT(k.creates, 5);
  cluster_release(&k);
}

TEST(fan_out_fifty) {
  sk_buf_t items;
  sk_buf_init(&items, 1 << 16);
  sk_buf_puts(&items, "  steps:\n    - name: shard\n      forEach: [");
  for (int i = 0; i < 50; i++)
    sk_buf_printf(&items, "%s\"s%d\"", i ? ", " : "", i);
  sk_buf_puts(&items, "]\n      pod: {image: busybox, command: [run], args: ['{{item}}']}\n");
  cluster_t k;
  cluster_init(&k, items.data);
  sk_buf_release(&items);
  REQUIRE(k.wf);
  sk_controller_out_t out;
  reconcile_once(&k, &out, true);
  CHECK_INT(out.nops, 50);
  json_t *names = json_object();
  for (size_t i = 0; i < out.nops; i++) {
    CHECK_INT(out.ops[i].kind, SK_CONTROLLER_OP_CREATE_POD);
    CHECK(sk_is_dns1123_subdomain(out.ops[i].name) && strlen(out.ops[i].name) <= 63);
    json_object_set_new(names, out.ops[i].name, json_true());
  }
  CHECK_INT(json_object_size(names), 50);
  json_decref(names);
  sk_controller_out_release(&out);
  REQUIRE(pod_of(&k, "wf-shard-49-1"));
  json_t *want = json_pack("[s]", "s49");
  CHECK(json_equal(created_args(&k, "wf-shard-49-1"), want));
  json_decref(want);
  CHECK_INT(settle(&k), 1);
  CHECK_INT(k.creates, 50);
  cluster_release(&k);
}

TEST(when_false_skips_without_pod) {
  cluster_t k;
  cluster_init(&k, "  params: [{name: deploy, default: 'no'}]\n"
                   "  steps:\n"
                   "    - name: gate\n"
                   "      when: \"'{{params.deploy}}' == 'yes'\"\n"
                   "      pod: {image: busybox, command: [run]}\n");
  REQUIRE(k.wf);
  settle(&k);
  CHECK_STR(wf_phase(&k), "Succeeded");
  CHECK_STR(rec_str(&k, "gate", "phase"), "Skipped");
  CHECK_STR(rec_str(&k, "gate", "message"), "when was false: 'no' == 'yes'");
  CHECK_INT(k.creates, 0);
  CHECK_INT(k.status_writes, 1);
  cluster_release(&k);
}

TEST(deadline_kills_and_runs_finally) {
  cluster_t k;
  cluster_init(&k, "  activeDeadlineSeconds: 60\n"
                   "  steps:\n" POD_STEP("long") "  finally:\n" POD_STEP("notify"));
  REQUIRE(k.wf);
  settle(&k);
  REQUIRE(pod_of(&k, "wf-long-1"));
  pod_running(&k, "wf-long-1");
  CHECK_INT(k.requeue_at, T0 + SEC(60));
  k.now = k.requeue_at;
  sk_controller_out_t out;
  reconcile_once(&k, &out, true);
  REQUIRE(out.nops == 2);
  CHECK_INT(out.ops[0].kind, SK_CONTROLLER_OP_DELETE_POD);
  CHECK_STR(out.ops[0].name, "wf-long-1");
  CHECK_STR(out.ops[0].uid, "pod-uid-1");
  CHECK_INT(out.ops[1].kind, SK_CONTROLLER_OP_CREATE_POD);
  CHECK_STR(out.ops[1].name, "wf-notify-1");
  sk_controller_out_release(&out);
  CHECK_STR(rec_str(&k, "long", "phase"), "Failed");
  CHECK_STR(rec_str(&k, "long", "message"), "workflow deadline of 60s exceeded");
  CHECK_LOG(&k, "event Warning StepFailed: step long failed: workflow deadline of 60s exceeded");
  settle(&k);
  k.now += SEC(3);
  pod_succeed(&k, "wf-notify-1", NULL);
  settle(&k);
  CHECK_STR(wf_phase(&k), "Failed");
  CHECK_STR(json_string_value(json_object_get(json_object_get(k.wf, "status"), "message")),
            "activeDeadlineSeconds (60) exceeded");
  CHECK_LOG(&k, "event Warning WorkflowFailed: activeDeadlineSeconds (60) exceeded");
  cluster_release(&k);
}

/* Sets spec.shutdown as `kubectl patch` would (generation goes up). */
static void set_shutdown(cluster_t *k, const char *how) {
  json_object_set_new(json_object_get(k->wf, "spec"), "shutdown", json_string(how));
  json_object_set_new(json_object_get(k->wf, "metadata"), "generation", json_integer(2));
}

TEST(stop_deletes_running_pods_and_runs_finally) {
  cluster_t k;
  cluster_init(&k, "  steps:\n" POD_STEP("a") POD_STEP("b") "    - name: c\n      dependsOn: [a]\n"
                   "      pod: {image: busybox, command: [run]}\n"
                   "  finally:\n" POD_STEP("notify"));
  REQUIRE(k.wf);
  settle(&k);
  CHECK_INT(live_pods(&k), 2);
  k.now += SEC(5);
  set_shutdown(&k, "Stop");
  settle(&k);
  CHECK_LOG(&k, "delete wf-a-1\n");
  CHECK_LOG(&k, "delete wf-b-1\n");
  CHECK_STR(rec_str(&k, "c", "phase"), "Cancelled");
  REQUIRE(pod_of(&k, "wf-notify-1"));
  CHECK_INT(json_integer_value(json_object_get(json_object_get(k.wf, "status"), "observedGeneration")), 2);
  k.now += SEC(5);
  pod_succeed(&k, "wf-notify-1", NULL);
  settle(&k);
  CHECK_STR(wf_phase(&k), "Cancelled");
  CHECK_LOG(&k, "event Warning WorkflowCancelled: stopped");
  cluster_release(&k);
}

TEST(terminate_deletes_everything_at_once) {
  cluster_t k;
  cluster_init(&k, "  steps:\n" POD_STEP("a") "  finally:\n" POD_STEP("notify"));
  REQUIRE(k.wf);
  settle(&k);
  k.now += SEC(5);
  set_shutdown(&k, "Terminate");
  sk_controller_out_t out;
  reconcile_once(&k, &out, true);
  REQUIRE(out.nops == 1);
  CHECK_INT(out.ops[0].kind, SK_CONTROLLER_OP_DELETE_POD);
  CHECK_INT(out.phase, SK_PHASE_CANCELLED);
  sk_controller_out_release(&out);
  CHECK_STR(wf_phase(&k), "Cancelled");
  CHECK_STR(rec_str(&k, "notify", "phase"), "Cancelled");
  settle(&k);
  CHECK_INT(k.creates, 1);
  cluster_release(&k);
}

TEST(timeout_kills_the_pod) {
  cluster_t k;
  cluster_init(&k, "  steps:\n    - name: s\n      timeoutSeconds: 30\n"
                   "      pod: {image: busybox, command: [run]}\n");
  REQUIRE(k.wf);
  settle(&k);
  json_t *spec = json_object_get(json_object_get(k.created, "wf-s-1"), "spec");
  CHECK_INT(json_integer_value(json_object_get(spec, "activeDeadlineSeconds")), 30);
  CHECK_INT(k.requeue_at, T0 + SEC(30));
  k.now = k.requeue_at;
  settle(&k);
  CHECK_LOG(&k, "delete wf-s-1\n");
  CHECK_STR(wf_phase(&k), "Failed");
  CHECK_STR(rec_str(&k, "s", "message"), "timed out after 30s");
  cluster_release(&k);
}

TEST(single_pod_write_count) {
  /* From creation to Succeeded: the status is written when the run starts
   * (with the step Running and its Pod named, before the Pod exists) and
   * when the Pod's result comes in. Pending → Running of the Pod changes
   * nothing a status shows, so it is not written. Add one Pod create and
   * two Events: five API writes, within the target of six. */
  cluster_t k;
  cluster_init(&k, "  steps:\n" POD_STEP("only"));
  REQUIRE(k.wf);
  settle(&k);
  k.now += SEC(2);
  pod_running(&k, "wf-only-1");
  settle(&k);
  k.now += SEC(8);
  pod_succeed(&k, "wf-only-1", "a=1");
  settle(&k);
  CHECK_STR(wf_phase(&k), "Succeeded");
  CHECK_INT(k.status_writes, 2);
  CHECK_INT(k.creates, 1);
  CHECK_INT(k.already_exists, 0);
  CHECK_INT(k.events, 2);
  CHECK_INT(k.deletes + k.not_found, 0);
  printf("  single-Pod workflow: %d status writes, %d create, %d events, %d reconciles\n",
         k.status_writes, k.creates, k.events, k.reconciles);
  cluster_release(&k);
}

TEST(unsupported_kind_fails_its_step) {
  cluster_t k;
  cluster_init(&k, "  steps:\n"
                   "    - name: train\n"
                   "      retry: {limit: 1}\n"
                   "      resource: {action: apply, manifest: m}\n"
                   "    - name: after\n      dependsOn: [train]\n"
                   "      pod: {image: busybox, command: [run]}\n");
  REQUIRE(k.wf);
  settle(&k);
  CHECK_STR(wf_phase(&k), "Failed");
  CHECK_STR(rec_str(&k, "train", "message"),
            "failed after 2 attempts: resource steps are not supported by skeind yet");
  CHECK_STR(rec_str(&k, "after", "phase"), "Skipped");
  CHECK_INT(k.creates, 0);
  CHECK_INT(k.status_writes, 1);
  cluster_release(&k);
}

TEST(huge_ttl_never_passes) {
  cluster_t k;
  cluster_init(&k, "  ttlSecondsAfterFinished: 9223372036854775807\n  steps:\n" POD_STEP("s"));
  REQUIRE(k.wf);
  settle(&k);
  pod_succeed(&k, "wf-s-1", NULL);
  settle(&k);
  CHECK_STR(wf_phase(&k), "Succeeded");
  CHECK(!k.wf_deleted);
  CHECK_INT(k.requeue_at, 0);
  cluster_release(&k);
}

TEST(garbage_pods_and_status) {
  cluster_t k;
  cluster_init(&k, "  podGC: OnWorkflowCompletion\n  steps:\n" POD_STEP("s"));
  REQUIRE(k.wf);
  settle(&k);
  /* Pods that claim to be ours but say nothing sensible about what they
   * run are never mistaken for an attempt, and never deleted while the
   * workflow runs. */
  static const char *const junk[] = {
      "{'metadata': {'name': 'j1', 'ownerReferences': [{'apiVersion': 'skein.dev/v1alpha1', "
      "'kind': 'Workflow', 'name': 'wf', 'uid': 'wf-uid', 'controller': true}], 'labels': "
      "{'skein.dev/attempt': 'abc'}, 'annotations': {'skein.dev/step': 's'}}}",
      "{'metadata': {'name': 'j2', 'ownerReferences': [{'apiVersion': 'skein.dev/v1alpha1', "
      "'kind': 'Workflow', 'name': 'wf', 'uid': 'wf-uid', 'controller': true}], 'labels': "
      "{'skein.dev/attempt': '1'}, 'annotations': {'skein.dev/step': 'nope'}}}",
      "{'metadata': {'name': 7, 'ownerReferences': 'x'}}",
      "{'metadata': []}",
      "[]",
  };
  for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
    char name[16];
    snprintf(name, sizeof(name), i < 2 ? "j%zu" : "junk-%zu", i + 1);
    json_object_set_new(k.pods, name, J(junk[i]));
    json_array_append_new(k.order, json_string(name));
  }
  settle(&k);
  CHECK_INT(k.deletes + k.not_found, 0);
  CHECK_STR(rec_str(&k, "s", "phase"), "Running");
  pod_succeed(&k, "wf-s-1", NULL);
  settle(&k);
  CHECK_STR(wf_phase(&k), "Succeeded");
  /* Once it is over, podGC deletes what it controls, readable or not. */
  CHECK_LOG(&k, "delete j1\n");
  CHECK_LOG(&k, "delete j2\n");
  CHECK_LOG(&k, "delete wf-s-1\n");
  cluster_release(&k);

  /* A status of the wrong type is unreadable: the run fails, saying why. */
  cluster_init(&k, "  steps:\n" POD_STEP("s"));
  REQUIRE(k.wf);
  json_object_set_new(k.wf, "status", json_array());
  json_object_set_new(json_object_get(k.wf, "metadata"), "generation", json_string("x"));
  settle(&k);
  CHECK_STR(wf_phase(&k), "Failed");
  CHECK_STR(json_string_value(json_object_get(json_object_get(k.wf, "status"), "message")),
            "the status cannot be read, so the run cannot go on: status is not an object");
  cluster_release(&k);
}

TEST(timeout_while_an_old_pod_holds_the_name) {
  cluster_t k;
  cluster_init(&k, "  steps:\n    - name: s\n      timeoutSeconds: 30\n"
                   "      pod: {image: busybox, command: [run]}\n");
  REQUIRE(k.wf);
  /* A Pod of an earlier Workflow named wf, not yet garbage-collected. */
  json_t *old = J("{'metadata': {'name': 'wf-s-1', 'uid': 'old-pod', 'ownerReferences': "
                  "[{'apiVersion': 'skein.dev/v1alpha1', 'kind': 'Workflow', 'name': 'wf', "
                  "'uid': 'old-uid', 'controller': true}]}, 'status': {'phase': 'Running'}}");
  json_object_set_new(k.pods, "wf-s-1", old);
  json_array_append_new(k.order, json_string("wf-s-1"));
  settle(&k);
  CHECK_INT(k.creates + k.already_exists, 0);
  k.now += SEC(30);
  settle(&k);
  CHECK_STR(wf_phase(&k), "Failed");
  CHECK_STR(rec_str(&k, "s", "message"), "timed out after 30s");
  CHECK_INT(k.deletes + k.not_found, 0);
  cluster_release(&k);
}

int main(void) {
  RUN(dag_outputs_flow);
  RUN(retry_with_delayed_requeue);
  RUN(parallelism_limits_creates);
  RUN(fan_out_fifty);
  RUN(when_false_skips_without_pod);
  RUN(deadline_kills_and_runs_finally);
  RUN(stop_deletes_running_pods_and_runs_finally);
  RUN(terminate_deletes_everything_at_once);
  RUN(timeout_kills_the_pod);
  RUN(single_pod_write_count);
  RUN(unsupported_kind_fails_its_step);
  RUN(huge_ttl_never_passes);
  RUN(garbage_pods_and_status);
  RUN(timeout_while_an_old_pod_holds_the_name);
  return TEST_DONE();
}
