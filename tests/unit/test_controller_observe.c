/*
 * The Pod observer: what a Pod (or its tombstone) says about its attempt,
 * table-style, and which Workflow controls a Pod. JSON literals use single
 * quotes (see J() in test_controller_sim.h).
 */
#include "test_controller_sim.h"

/* ---- observing ---- */

typedef struct obs_case {
  const char *name;
  const char *pod;      /* JSON with single quotes */
  bool gone;
  int64_t now;
  sk_controller_pod_state_t state;
  const char *message;  /* FAILED: exact */
  const char *outputs;  /* SUCCEEDED: JSON or NULL for none */
  int64_t at_ms;        /* 0 = now */
  int64_t recheck;      /* WAIT */
} obs_case_t;

#define CREATED "'metadata': {'name': 'p', 'creationTimestamp': '2026-01-01T00:00:00Z'}"
#define MAIN_TERM(code, reason, msg)                                                        \
  "{'name': 'main', 'state': {'terminated': {'exitCode': " #code ", 'reason': '" reason       \
  "', 'message': '" msg "', 'finishedAt': '2026-01-01T00:01:00Z'}}}"

static const obs_case_t k_obs_cases[] = {
    {"succeeded with lines",
     "{" CREATED ", 'status': {'phase': 'Succeeded', 'containerStatuses': [" MAIN_TERM(
         0, "Completed", "accuracy=0.93\\nmodel=gs://b/m\\n") "]}}",
     false, T0 + SEC(90), SK_CONTROLLER_POD_SUCCEEDED, NULL,
     "{'accuracy': '0.93', 'model': 'gs://b/m'}", T0 + SEC(60), 0},
    {"succeeded with a JSON object",
     "{" CREATED ", 'status': {'phase': 'Succeeded', 'containerStatuses': [" MAIN_TERM(
         0, "Completed", "{\\\"n\\\": 3, \\\"ok\\\": true}") "]}}",
     false, T0, SK_CONTROLLER_POD_SUCCEEDED, NULL, "{'n': '3', 'ok': 'true'}", T0 + SEC(60), 0},
    {"succeeded without outputs",
     "{" CREATED ", 'status': {'phase': 'Succeeded', 'containerStatuses': [" MAIN_TERM(
         0, "Completed", "") "]}}",
     false, T0, SK_CONTROLLER_POD_SUCCEEDED, NULL, NULL, T0 + SEC(60), 0},
    {"bad outputs",
     "{" CREATED ", 'status': {'phase': 'Succeeded', 'containerStatuses': [" MAIN_TERM(
         0, "Completed", "hello") "]}}",
     false, T0, SK_CONTROLLER_POD_FAILED, "outputs file line 1: expected NAME=VALUE, got \"hello\"",
     NULL, T0 + SEC(60), 0},
    {"exit code",
     "{" CREATED ", 'status': {'phase': 'Failed', 'containerStatuses': [" MAIN_TERM(
         3, "Error", "") "]}}",
     false, T0, SK_CONTROLLER_POD_FAILED, "exit code 3 (Error)", NULL, T0 + SEC(60), 0},
    {"exit code with the log's last line",
     "{" CREATED ", 'status': {'phase': 'Failed', 'containerStatuses': [" MAIN_TERM(
         1, "Error", "Traceback (most recent call last):\\n  x\\nValueError: bad lr \\n\\n") "]}}",
     false, T0, SK_CONTROLLER_POD_FAILED, "exit code 1 (Error): ValueError: bad lr", NULL,
     T0 + SEC(60), 0},
    {"out of memory",
     "{" CREATED ", 'status': {'phase': 'Failed', 'containerStatuses': [" MAIN_TERM(
         137, "OOMKilled", "") "]}}",
     false, T0, SK_CONTROLLER_POD_FAILED,
     "exit code 137 (OOMKilled): the container ran out of memory (resources.limits.memory)", NULL,
     T0 + SEC(60), 0},
    {"deadline",
     "{" CREATED ", 'spec': {'activeDeadlineSeconds': 30}, 'status': {'phase': 'Failed', "
     "'reason': 'DeadlineExceeded', 'message': 'Pod was active on the node longer than the "
     "specified deadline'}}",
     false, T0, SK_CONTROLLER_POD_FAILED, "timed out after 30s", NULL, 0, 0},
    {"evicted",
     "{" CREATED ", 'status': {'phase': 'Failed', 'reason': 'Evicted', 'message': 'The node "
     "was low on resource: memory.'}}",
     false, T0, SK_CONTROLLER_POD_FAILED,
     "pod was evicted: The node was low on resource: memory.", NULL, 0, 0},
    {"init container failed",
     "{" CREATED ", 'status': {'phase': 'Failed', 'initContainerStatuses': [{'name': 'fetch', "
     "'state': {'terminated': {'exitCode': 2, 'reason': 'Error'}}}], 'containerStatuses': "
     "[{'name': 'main', 'state': {'waiting': {'reason': 'PodInitializing'}}}]}}",
     false, T0, SK_CONTROLLER_POD_FAILED, "init container fetch: exit code 2 (Error)", NULL, 0,
     0},
    {"failed with only a reason",
     "{" CREATED ", 'status': {'phase': 'Failed', 'reason': 'NodeAffinity', 'message': "
     "'Predicate NodeAffinity failed'}}",
     false, T0, SK_CONTROLLER_POD_FAILED, "pod failed: NodeAffinity: Predicate NodeAffinity failed",
     NULL, 0, 0},
    {"failed with nothing", "{" CREATED ", 'status': {'phase': 'Failed'}}", false, T0,
     SK_CONTROLLER_POD_FAILED, "pod failed", NULL, 0, 0},
    {"invalid image fails at once",
     "{" CREATED ", 'status': {'phase': 'Pending', 'containerStatuses': [{'name': 'main', "
     "'state': {'waiting': {'reason': 'InvalidImageName', 'message': 'couldnt parse image "
     "reference'}}}]}}",
     false, T0 + SEC(1), SK_CONTROLLER_POD_FAILED,
     "cannot start container main: InvalidImageName: couldnt parse image reference", NULL, 0, 0},
    {"image pull back-off within the grace period",
     "{" CREATED ", 'status': {'phase': 'Pending', 'containerStatuses': [{'name': 'main', "
     "'state': {'waiting': {'reason': 'ImagePullBackOff', 'message': 'Back-off pulling image "
     "x'}}}]}}",
     false, T0 + SEC(60), SK_CONTROLLER_POD_WAIT, NULL, NULL, 0,
     T0 + SK_CONTROLLER_WAITING_GRACE_MS},
    {"image pull back-off after the grace period",
     "{" CREATED ", 'status': {'phase': 'Pending', 'containerStatuses': [{'name': 'main', "
     "'state': {'waiting': {'reason': 'ImagePullBackOff', 'message': 'Back-off pulling image "
     "x'}}}]}}",
     false, T0 + SEC(360), SK_CONTROLLER_POD_FAILED,
     "cannot start container main: ImagePullBackOff: Back-off pulling image x (waited 6m00s)",
     NULL, 0, 0},
    {"a missing secret in an init container",
     "{" CREATED ", 'status': {'phase': 'Pending', 'initContainerStatuses': [{'name': 'fetch', "
     "'state': {'waiting': {'reason': 'CreateContainerConfigError', 'message': 'secret "
     "\\\"creds\\\" not found'}}}]}}",
     false, T0 + SEC(301), SK_CONTROLLER_POD_FAILED,
     "cannot start container fetch: CreateContainerConfigError: secret \"creds\" not found "
     "(waited 5m01s)",
     NULL, 0, 0},
    {"running", "{" CREATED ", 'status': {'phase': 'Running'}}", false, T0,
     SK_CONTROLLER_POD_WAIT, NULL, NULL, 0, 0},
    {"no status yet", "{" CREATED "}", false, T0, SK_CONTROLLER_POD_WAIT, NULL, NULL, 0, 0},
    {"phase unknown", "{" CREATED ", 'status': {'phase': 'Unknown'}}", false, T0,
     SK_CONTROLLER_POD_WAIT, NULL, NULL, 0, 0},
    {"being deleted while running",
     "{'metadata': {'name': 'p', 'deletionTimestamp': '2026-01-01T00:00:05Z'}, 'status': "
     "{'phase': 'Running'}}",
     false, T0, SK_CONTROLLER_POD_FAILED, "pod was deleted", NULL, 0, 0},
    {"killed by its deletion",
     "{'metadata': {'name': 'p', 'deletionTimestamp': '2026-01-01T00:00:05Z'}, 'status': "
     "{'phase': 'Failed', 'containerStatuses': [" MAIN_TERM(143, "Error", "") "]}}",
     false, T0, SK_CONTROLLER_POD_FAILED, "pod was deleted", NULL, T0 + SEC(60), 0},
    {"gone while pending", "{" CREATED ", 'status': {'phase': 'Pending'}}", true, T0,
     SK_CONTROLLER_POD_FAILED, "pod was deleted", NULL, 0, 0},
    {"gone after it succeeded keeps the result",
     "{" CREATED ", 'status': {'phase': 'Succeeded', 'containerStatuses': [" MAIN_TERM(
         0, "Completed", "a=1") "]}}",
     true, T0, SK_CONTROLLER_POD_SUCCEEDED, NULL, "{'a': '1'}", T0 + SEC(60), 0},
    {"a simulated kubelet's success", "{" CREATED ", 'status': {'phase': 'Succeeded'}}", true,
     T0, SK_CONTROLLER_POD_SUCCEEDED, NULL, NULL, 0, 0},
    {"main done while a sidecar runs",
     "{" CREATED ", 'status': {'phase': 'Running', 'containerStatuses': [{'name': 'envoy', "
     "'state': {'running': {}}}, " MAIN_TERM(0, "Completed", "x=y") "]}}",
     false, T0, SK_CONTROLLER_POD_SUCCEEDED, NULL, "{'x': 'y'}", T0 + SEC(60), 0},
    {"main failed while a sidecar runs",
     "{" CREATED ", 'status': {'phase': 'Running', 'containerStatuses': [{'name': 'envoy', "
     "'state': {'running': {}}}, " MAIN_TERM(2, "Error", "") "]}}",
     false, T0, SK_CONTROLLER_POD_FAILED, "exit code 2 (Error)", NULL, T0 + SEC(60), 0},
};

/* Gives pod the fields a real one has and the controller does not read
 * (sk_controller_pod_trim must drop them all), then trims it. */
static void add_noise_and_trim(json_t *pod) {
  json_t *extra = J("{'metadata': {'generation': 1, 'managedFields': [{'manager': 'kubelet'}], "
                    "'finalizers': ['x']}, 'spec': {'containers': [{'name': 'main', 'image': "
                    "'busybox'}], 'nodeName': 'n0', 'tolerations': []}, 'status': {'conditions': "
                    "[{'type': 'Ready', 'status': 'False'}], 'hostIP': '10.0.0.1', 'qosClass': "
                    "'BestEffort', 'startTime': '2026-01-01T00:00:00Z'}, 'noise': {}}");
  const char *part;
  json_t *fields;
  json_object_foreach(extra, part, fields) {
    json_t *into = json_object_get(pod, part);
    if (json_is_object(into) && json_is_object(fields))
      json_object_update_missing(into, fields);
    else if (!into)
      json_object_set(pod, part, fields);
  }
  json_decref(extra);
  size_t i;
  json_t *cs;
  json_array_foreach(json_object_get(json_object_get(pod, "status"), "containerStatuses"), i, cs) {
    json_object_set_new(cs, "image", json_string("busybox"));
    json_object_set_new(cs, "lastState", json_object());
  }
  sk_controller_pod_trim(pod);
  json_t *st = json_object_get(pod, "status");
  if (json_object_get(pod, "noise") ||
      json_object_get(json_object_get(pod, "spec"), "containers") ||
      json_object_get(json_object_get(pod, "metadata"), "managedFields") ||
      json_object_get(st, "conditions") || json_object_get(st, "hostIP") ||
      json_object_get(json_array_get(json_object_get(st, "containerStatuses"), 0), "image")) {
    char *text = json_dumps(pod, JSON_COMPACT | JSON_SORT_KEYS);
    FAILF("trimmed Pod still has fields the controller does not read: %s", text);
    free(text);
  }
}

/* Every case twice: as written, and with noise added and trimmed away
 * (what skeind's Pod informer caches), which must decide the same. */
TEST(observe_table) {
  for (size_t n = 0; n < 2 * sizeof(k_obs_cases) / sizeof(k_obs_cases[0]); n++) {
    size_t i = n / 2;
    bool trimmed = n % 2 == 1;
    const obs_case_t *tc = &k_obs_cases[i];
    json_t *pod = J(tc->pod);
    if (!pod)
      continue;
    if (trimmed)
      add_noise_and_trim(pod);
    sk_controller_pod_obs_t o;
    int rc = sk_controller_observe_pod(pod, tc->gone, tc->now, &o);
    int before = sk_test_failed_now;
    sk_test_failed_now = 0;
    CHECK_INT(rc, 0);
    CHECK_INT(o.state, tc->state);
    CHECK_INT(o.at_ms, tc->at_ms ? tc->at_ms : tc->now);
    CHECK_INT(o.recheck_at_ms, tc->recheck);
    if (tc->state == SK_CONTROLLER_POD_FAILED)
      CHECK_STR(o.message, tc->message);
    if (tc->state == SK_CONTROLLER_POD_SUCCEEDED) {
      if (tc->outputs) {
        json_t *want = J(tc->outputs);
        json_same(o.outputs, want, "outputs");
        json_decref(want);
      } else {
        CHECK(o.outputs == NULL);
      }
    }
    if (sk_test_failed_now)
      printf("  in case \"%s\"%s\n", tc->name, trimmed ? " (trimmed)" : "");
    sk_test_failed_now |= before;
    sk_controller_pod_obs_release(&o);
    json_decref(pod);
  }
}

TEST(observe_long_messages_stay_utf8) {
  /* A failure message longer than the cap is cut on a character boundary. */
  sk_buf_t b;
  sk_buf_init(&b, 1 << 16);
  sk_buf_puts(&b, "{\"metadata\": {\"name\": \"p\"}, \"status\": {\"phase\": \"Failed\", "
                  "\"reason\": \"X\", \"message\": \"");
  for (int i = 0; i < 1000; i++)
    sk_buf_puts(&b, "\xc3\xa9");
  sk_buf_puts(&b, "\"}}");
  json_t *pod = json_loads(b.data, 0, NULL);
  sk_buf_release(&b);
  REQUIRE(pod);
  sk_controller_pod_obs_t o;
  CHECK_INT(sk_controller_observe_pod(pod, false, T0, &o), 0);
  CHECK_INT(o.state, SK_CONTROLLER_POD_FAILED);
  size_t bad = 0;
  CHECK(sk_utf8_valid(o.message, strlen(o.message), &bad));
  CHECK(strlen(o.message) < SK_STATUS_MAX_MESSAGE);
  CHECK(strncmp(o.message, "pod failed: X: ", 15) == 0);
  sk_controller_pod_obs_release(&o);
  json_decref(pod);
}

TEST(pod_owner) {
  json_t *pod = J("{'metadata': {'ownerReferences': [{'apiVersion': 'apps/v1', 'kind': "
                  "'ReplicaSet', 'name': 'x', 'uid': 'u0', 'controller': true}, {'apiVersion': "
                  "'skein.dev/v1alpha1', 'kind': 'Workflow', 'name': 'wf', 'uid': 'u1', "
                  "'controller': true}]}}");
  const char *name = NULL, *uid = NULL;
  CHECK_INT(sk_controller_pod_owner(pod, &name, &uid), 0);
  CHECK_STR(name, "wf");
  CHECK_STR(uid, "u1");
  json_decref(pod);
  pod = J("{'metadata': {'ownerReferences': [{'apiVersion': 'skein.dev/v1alpha1', 'kind': "
          "'Workflow', 'name': 'wf', 'uid': 'u1'}]}}");
  CHECK_INT(sk_controller_pod_owner(pod, &name, &uid), SK_ENOENT);
  json_decref(pod);
  pod = J("{'metadata': {}}");
  CHECK_INT(sk_controller_pod_owner(pod, &name, &uid), SK_ENOENT);
  json_decref(pod);
}

TEST(observe_garbage) {
  /* Wrong types anywhere are read as absent: no crash, no verdict from
   * nothing. */
  static const char *const pods[] = {
      "{}",
      "{'status': []}",
      "{'status': {'phase': 5, 'containerStatuses': {}}}",
      "{'status': {'phase': 'Running', 'containerStatuses': [7, {'name': 3}, {'name': 'main', "
      "'state': []}]}}",
      "{'status': {'phase': 'Running', 'containerStatuses': [{'name': 'main', 'state': "
      "{'terminated': {'exitCode': 'zero', 'finishedAt': 'yesterday'}}}]}}",
      "{'metadata': [], 'spec': 1, 'status': {'phase': 'Pending', 'initContainerStatuses': "
      "[{'state': {'waiting': {'reason': 'ImagePullBackOff'}}}]}}",
      "{'metadata': {'creationTimestamp': 'garbage'}, 'status': {'phase': 'Pending', "
      "'containerStatuses': [{'name': 'main', 'state': {'waiting': {'reason': 7}}}]}}",
  };
  static const sk_controller_pod_state_t want[] = {
      SK_CONTROLLER_POD_WAIT, SK_CONTROLLER_POD_WAIT, SK_CONTROLLER_POD_WAIT,
      SK_CONTROLLER_POD_WAIT, SK_CONTROLLER_POD_FAILED, SK_CONTROLLER_POD_WAIT,
      SK_CONTROLLER_POD_WAIT,
  };
  /* The same from the trimmer, and through it. */
  for (size_t n = 0; n < 2 * sizeof(pods) / sizeof(pods[0]); n++) {
    size_t i = n / 2;
    json_t *pod = J(pods[i]);
    if (n % 2)
      sk_controller_pod_trim(pod);
    sk_controller_pod_obs_t o;
    CHECK_INT(sk_controller_observe_pod(pod, false, T0, &o), 0);
    if (o.state != want[i])
      FAILF("pod %zu%s: state %d, want %d (%s)", i, n % 2 ? " (trimmed)" : "", (int)o.state,
            (int)want[i], o.message);
    sk_controller_pod_obs_release(&o);
    json_decref(pod);
  }
  /* A main that ended without a readable exit code is a failure that says so. */
  json_t *pod = J(pods[4]);
  sk_controller_pod_obs_t o;
  sk_controller_observe_pod(pod, false, T0, &o);
  CHECK_STR(o.message, "the container ended without an exit code");
  sk_controller_pod_obs_release(&o);
  json_decref(pod);
  /* The grace period counts from now when the creation time is unreadable. */
  pod = J(pods[5]);
  sk_controller_observe_pod(pod, false, T0, &o);
  CHECK_INT(o.recheck_at_ms, T0 + SK_CONTROLLER_WAITING_GRACE_MS);
  sk_controller_pod_obs_release(&o);
  json_decref(pod);
}

/* A Pod as kwok leaves a finished step's (managedFields already gone):
 * what stays is exactly the list in controller.h. */
TEST(pod_trim_keeps_what_is_read) {
  json_t *pod = J(
      "{'kind': 'Pod', 'apiVersion': 'v1', 'metadata': {'name': 'b-s0-1', 'namespace': 's2', "
      "'uid': 'u1', 'resourceVersion': '275', 'generation': 1, 'creationTimestamp': "
      "'2026-12-03T22:16:46Z', 'deletionTimestamp': '2026-12-03T22:17:00Z', "
      "'deletionGracePeriodSeconds': 30, 'labels': {'skein.dev/attempt': '1'}, 'annotations': "
      "{'skein.dev/step': 's0'}, 'ownerReferences': [{'kind': 'Workflow', 'name': 'b'}], "
      "'finalizers': ['f']}, 'spec': {'containers': [{'name': 'main', 'image': 'busybox', 'env': "
      "[{'name': 'SKEIN_STEP', 'value': 's0'}]}], 'restartPolicy': 'Never', "
      "'activeDeadlineSeconds': 60, 'nodeName': 'kwok-node-0', 'tolerations': [{'key': 'k', "
      "'operator': 'Exists'}]}, 'status': {'phase': 'Succeeded', 'reason': 'R', 'message': 'M', "
      "'conditions': [{'type': 'Ready', 'status': 'False'}], 'hostIP': '10.240.0.1', 'podIPs': "
      "[{'ip': '10.244.0.4'}], 'startTime': '2026-12-03T22:16:46Z', 'initContainerStatuses': "
      "[{'name': 'init', 'state': {'terminated': {'exitCode': 0}}, 'ready': true}], "
      "'containerStatuses': [{'name': 'main', 'state': {'terminated': {'exitCode': 0, 'reason': "
      "'Completed', 'message': 'x=1', 'finishedAt': '2026-12-03T22:16:47Z'}}, 'lastState': {}, "
      "'ready': false, 'restartCount': 0, 'image': 'busybox', 'imageID': '', 'started': "
      "false}], 'qosClass': 'BestEffort'}}");
  json_t *want = J(
      "{'kind': 'Pod', 'apiVersion': 'v1', 'metadata': {'name': 'b-s0-1', 'namespace': 's2', "
      "'uid': 'u1', 'resourceVersion': '275', 'creationTimestamp': '2026-12-03T22:16:46Z', "
      "'deletionTimestamp': '2026-12-03T22:17:00Z', 'labels': {'skein.dev/attempt': '1'}, "
      "'annotations': {'skein.dev/step': 's0'}, 'ownerReferences': [{'kind': 'Workflow', "
      "'name': 'b'}]}, 'spec': {'activeDeadlineSeconds': 60}, 'status': {'phase': 'Succeeded', "
      "'reason': 'R', 'message': 'M', 'initContainerStatuses': [{'name': 'init', 'state': "
      "{'terminated': {'exitCode': 0}}}], 'containerStatuses': [{'name': 'main', 'state': "
      "{'terminated': {'exitCode': 0, 'reason': 'Completed', 'message': 'x=1', 'finishedAt': "
      "'2026-12-03T22:16:47Z'}}}]}}");
  REQUIRE(pod && want);
  sk_controller_pod_trim(pod);
  json_same(pod, want, "trimmed Pod");
  /* Anything that is not an object is left alone. */
  json_t *odd = J("{'metadata': 'x', 'spec': [], 'status': {'containerStatuses': {}}}");
  json_t *odd_want = json_deep_copy(odd);
  sk_controller_pod_trim(odd);
  json_same(odd, odd_want, "odd Pod");
  sk_controller_pod_trim(NULL);
  json_decref(odd);
  json_decref(odd_want);
  json_decref(pod);
  json_decref(want);
}

int main(void) {
  RUN(observe_table);
  RUN(observe_long_messages_stay_utf8);
  RUN(pod_owner);
  RUN(observe_garbage);
  RUN(pod_trim_keeps_what_is_read);
  return TEST_DONE();
}
