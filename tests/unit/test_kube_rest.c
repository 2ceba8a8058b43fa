/* The REST client against a fake apiserver on 127.0.0.1: every verb's
 * method, path, headers and body; Status errors; the rate limit; timeouts;
 * cancellation and teardown. Each test waits on conditions with deadlines
 * and leaves the loop empty. Credentials and watches: test_kube_auth.c. */
#include <curl/curl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kube/kube.h"
#include "kube_fakeapi.h"
#include "kube_testcli.h"
#include "sk_test.h"
#include "util/error.h"
#include "util/timeutil.h"


static const sk_kube_ref_t wfs = {.gvr = {"skein.dev", "v1alpha1", "workflows"}, .namespace = "ml"};

TEST(verbs_send_the_right_requests) {
  script_t s = {0};
  fake_t f;
  REQUIRE(fake_start(&f, loop, scripted, &s) == 0);
  push(&s, 200, "", "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"resourceVersion\":\"5\"}}");
  push(&s, 200, "", "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"9\"},\"items\":[]}");
  push(&s, 201, "", "{\"kind\":\"Workflow\",\"metadata\":{\"name\":\"w\"}}");
  push(&s, 200, "", "{}");
  push(&s, 200, "", "{}");
  push(&s, 200, "", "{}");
  push(&s, 200, "", "{\"kind\":\"Status\",\"status\":\"Success\"}");
  metrics_t m = {0};
  sk_kube_client_opts_t opts = {.metric = on_metric, .metric_arg = &m};
  sk_kube_client_t *c = client_for(&f, &opts);
  REQUIRE(c);
  CHECK_STR(sk_kube_client_namespace(c), "ml");

  got_t g[7] = {0};
  sk_kube_ref_t p = pods;
  p.name = "p";
  CHECK_INT(sk_kube_get(c, &p, on_got, &g[0], NULL), 0);
  /* Nothing is delivered from inside the call. */
  CHECK_INT(g[0].done, 0);
  sk_kube_call_opts_t lo = {.label_selector = "skein.dev/workflow=w", .limit = 10};
  CHECK_INT(sk_kube_list(c, &pods, &lo, on_got, &g[1], NULL), 0);
  json_t *wf = json_pack("{s:s, s:s, s:{s:s}, s:{}}", "apiVersion", "skein.dev/v1alpha1", "kind",
                         "Workflow", "metadata", "name", "w", "spec");
  CHECK_INT(sk_kube_create(c, &wfs, wf, on_got, &g[2], NULL), 0);
  /* update takes the name from the object. */
  CHECK_INT(sk_kube_update(c, &wfs, wf, on_got, &g[3], NULL), 0);
  CHECK_INT(sk_kube_update_status(c, &wfs, wf, on_got, &g[4], NULL), 0);
  sk_kube_ref_t w = wfs;
  w.name = "w";
  json_t *patch = json_pack("{s:{s:{s:s}}}", "metadata", "labels", "a", "b");
  CHECK_INT(sk_kube_patch(c, &w, SK_KUBE_PATCH_MERGE, patch, on_got, &g[5], NULL), 0);
  sk_kube_call_opts_t del = {.propagation = "Background", .precondition_uid = "u-1",
                             .precondition_rv = "42"};
  CHECK_INT(sk_kube_delete(c, &w, &del, on_got, &g[6], NULL), 0);
  gots_t all = {g, 7};
  REQUIRE(run_until(loop, all_done, &all, 5000));
  for (int i = 0; i < 7; i++)
    if (g[i].err != 0)
      FAILF("call %d: err %d %s", i, g[i].err, g[i].msg);
  CHECK_STR(json_string_value(json_object_get(g[0].body, "kind")), "Pod");
  CHECK_INT(g[2].code, 201);
  REQUIRE(f.nreq == 7);
  /* The requests went out in order: the scheduler keeps FIFO order. */
  CHECK_STR(f.reqs[0].method, "GET");
  CHECK_STR(f.reqs[0].path, "/api/v1/namespaces/ml/pods/p");
  CHECK_STR(f.reqs[0].auth, "Bearer secret-token");
  CHECK_STR(f.reqs[0].ua, "skeind/" SK_KUBE_VERSION);
  CHECK_STR(f.reqs[1].path, "/api/v1/namespaces/ml/pods");
  CHECK_STR(f.reqs[1].query, "labelSelector=skein.dev%2Fworkflow%3Dw&limit=10");
  CHECK_STR(f.reqs[2].method, "POST");
  CHECK_STR(f.reqs[2].path, "/apis/skein.dev/v1alpha1/namespaces/ml/workflows");
  CHECK_STR(f.reqs[2].ctype, "application/json");
  json_t *sent = json_loads(f.reqs[2].body, 0, NULL);
  CHECK(json_equal(sent, wf));
  json_decref(sent);
  CHECK_STR(f.reqs[3].method, "PUT");
  CHECK_STR(f.reqs[3].path, "/apis/skein.dev/v1alpha1/namespaces/ml/workflows/w");
  CHECK_STR(f.reqs[4].path, "/apis/skein.dev/v1alpha1/namespaces/ml/workflows/w/status");
  CHECK_STR(f.reqs[5].method, "PATCH");
  CHECK_STR(f.reqs[5].ctype, "application/merge-patch+json");
  CHECK_STR(f.reqs[5].body, "{\"metadata\":{\"labels\":{\"a\":\"b\"}}}");
  CHECK_STR(f.reqs[6].method, "DELETE");
  json_t *dopts = json_loads(f.reqs[6].body, 0, NULL);
  CHECK_STR(json_string_value(json_object_get(dopts, "kind")), "DeleteOptions");
  CHECK_STR(json_string_value(json_object_get(dopts, "propagationPolicy")), "Background");
  json_t *pre = json_object_get(dopts, "preconditions");
  CHECK_STR(json_string_value(json_object_get(pre, "uid")), "u-1");
  CHECK_STR(json_string_value(json_object_get(pre, "resourceVersion")), "42");
  json_decref(dopts);
  CHECK_INT(m.counts[SK_KUBE_GET], 1);
  CHECK_INT(m.counts[SK_KUBE_LIST], 1);
  CHECK_INT(m.counts[SK_KUBE_CREATE], 1);
  CHECK_INT(m.counts[SK_KUBE_UPDATE], 2);
  CHECK_INT(m.counts[SK_KUBE_PATCH], 1);
  CHECK_INT(m.counts[SK_KUBE_DELETE], 1);

  /* Bad arguments fail at once, with no callback. */
  CHECK_INT(sk_kube_create(c, &wfs, NULL, on_got, &g[0], NULL), SK_EINVAL);
  CHECK_INT(sk_kube_call(c, SK_KUBE_WATCH, &wfs, NULL, NULL, on_got, &g[0], NULL), SK_EINVAL);
  json_decref(wf);
  json_decref(patch);
  for (int i = 0; i < 7; i++)
    got_release(&g[i]);
  finish(c, &f);
}

TEST(errors_carry_status_message_reason_and_code) {
  script_t s = {0};
  fake_t f;
  REQUIRE(fake_start(&f, loop, scripted, &s) == 0);
  push(&s, 404, "", "{\"kind\":\"Status\",\"reason\":\"NotFound\","
                    "\"message\":\"pods \\\"p\\\" not found\",\"code\":404}");
  push(&s, 409, "", "{\"kind\":\"Status\",\"reason\":\"Conflict\",\"message\":\"the object has "
                    "been modified\",\"code\":409}");
  push(&s, 422, "", "{\"kind\":\"Status\",\"reason\":\"Invalid\",\"message\":\"spec.steps: "
                    "Required value\",\"code\":422}");
  push(&s, 410, "", "{\"kind\":\"Status\",\"reason\":\"Expired\",\"message\":\"too old\"}");
  push(&s, 429, "Retry-After: 3\r\n", "{\"kind\":\"Status\",\"reason\":\"TooManyRequests\","
                                      "\"message\":\"slow down\",\"code\":429}");
  push(&s, 500, "", "internal trouble");
  sk_kube_client_t *c = client_for(&f, NULL);
  REQUIRE(c);
  sk_kube_ref_t p = pods;
  p.name = "p";
  got_t g[6] = {0};
  for (int i = 0; i < 6; i++)
    CHECK_INT(sk_kube_get(c, &p, on_got, &g[i], NULL), 0);
  gots_t all = {g, 6};
  REQUIRE(run_until(loop, all_done, &all, 5000));
  CHECK_INT(g[0].err, SK_ENOENT);
  CHECK_INT(g[0].code, 404);
  CHECK_STR(g[0].reason, "NotFound");
  CHECK_STR(g[0].msg, "pods \"p\" not found");
  CHECK_INT(g[1].err, SK_ECONFLICT);
  CHECK_STR(g[1].reason, "Conflict");
  CHECK_INT(g[2].err, SK_EINVALID);
  CHECK_STR(g[2].msg, "spec.steps: Required value");
  CHECK_INT(g[3].err, SK_EGONE);
  CHECK_INT(g[4].err, SK_EHTTP);
  CHECK_INT(g[4].code, 429);
  CHECK_INT(g[4].retry_after, 3);
  CHECK_INT(g[5].err, SK_EHTTP);
  CHECK_STR(g[5].msg, "internal trouble");
  for (int i = 0; i < 6; i++)
    got_release(&g[i]);
  finish(c, &f);
}

TEST(rate_limit_spaces_requests) {
  script_t s = {0};
  fake_t f;
  REQUIRE(fake_start(&f, loop, scripted, &s) == 0);
  for (int i = 0; i < 5; i++)
    push(&s, 200, "", "{}");
  sk_kube_client_opts_t opts = {.qps = 20, .burst = 2};
  sk_kube_client_t *c = client_for(&f, &opts);
  REQUIRE(c);
  sk_kube_ref_t p = pods;
  p.name = "p";
  got_t g[5] = {0};
  int64_t t0 = sk_time_mono_ms();
  for (int i = 0; i < 5; i++)
    CHECK_INT(sk_kube_get(c, &p, on_got, &g[i], NULL), 0);
  gots_t all = {g, 5};
  REQUIRE(run_until(loop, all_done, &all, 5000));
  /* Two go at once (the burst); the other three wait 50 ms each. */
  REQUIRE(f.nreq == 5);
  int64_t spread = f.reqs[4].at_ms - t0;
  if (spread < 140)
    FAILF("5 requests at 20 qps burst 2 took %lld ms, want >= 150", (long long)spread);
  for (int i = 0; i < 5; i++)
    got_release(&g[i]);
  finish(c, &f);
}

TEST(timeout_cancel_and_teardown) {
  script_t s = {0};
  fake_t f;
  REQUIRE(fake_start(&f, loop, scripted, &s) == 0);
  s.q[s.n++] = (canned_t){.hang = true};
  s.q[s.n++] = (canned_t){.hang = true};
  s.q[s.n++] = (canned_t){.hang = true};
  sk_kube_client_opts_t opts = {.qps = 1, .burst = 3};
  sk_kube_client_t *c = client_for(&f, &opts);
  REQUIRE(c);
  sk_kube_ref_t p = pods;
  p.name = "p";
  got_t g[5] = {0};
  sk_kube_call_opts_t quick = {.timeout_ms = 200};
  CHECK_INT(sk_kube_call(c, SK_KUBE_GET, &p, NULL, &quick, on_got, &g[0], NULL), 0);
  sk_kube_call_t *running = NULL, *queued = NULL;
  CHECK_INT(sk_kube_get(c, &p, on_got, &g[1], &running), 0);
  CHECK_INT(sk_kube_get(c, &p, on_got, &g[2], NULL), 0);
  /* The fourth waits a second for its rate-limit slot: cancel it there. */
  CHECK_INT(sk_kube_get(c, &p, on_got, &g[3], &queued), 0);
  sk_kube_call_cancel(queued);
  CHECK_INT(g[3].done, 0);
  REQUIRE(run_until(loop, got_done, &g[0], 3000));
  CHECK_INT(g[0].err, SK_ETIMEDOUT);
  CHECK_INT(g[3].done, 1);
  CHECK_INT(g[3].err, SK_ECANCELED);
  sk_kube_call_cancel(running);
  REQUIRE(run_until(loop, got_done, &g[1], 3000));
  CHECK_INT(g[1].err, SK_ECANCELED);
  /* Destroying the client cancels what is left, each callback once. */
  CHECK_INT(g[2].done, 0);
  sk_kube_client_destroy(c);
  CHECK_INT(sk_kube_get(c, &p, on_got, &g[4], NULL), SK_ESTATE);
  REQUIRE(run_until(loop, got_done, &g[2], 3000));
  CHECK_INT(g[2].err, SK_ECANCELED);
  if (!run_until(loop, loop_clean_cond, &f, 5000))
    FAILF("the client left %d handles on the loop", fake_foreign_handles(&f));
  for (int i = 0; i < 5; i++) {
    CHECK(g[i].done <= 1);
    got_release(&g[i]);
  }
  fake_stop(&f);
}

TEST(connection_refused_is_enet) {
  fake_t f;
  script_t s = {0};
  REQUIRE(fake_start(&f, loop, scripted, &s) == 0);
  char url[64];
  snprintf(url, sizeof(url), "%s", f.url);
  fake_stop(&f); /* the port is free again: nobody listens */
  sk_kube_config_t cfg = {.server = url, .token = "t"};
  sk_kube_client_t *c = sk_kube_client_create(loop, NULL, &cfg, NULL);
  REQUIRE(c);
  got_t g = {0};
  sk_kube_ref_t p = pods;
  p.name = "p";
  CHECK_INT(sk_kube_get(c, &p, on_got, &g, NULL), 0);
  REQUIRE(run_until(loop, got_done, &g, 5000));
  CHECK_INT(g.err, SK_ENET);
  CHECK_INT(g.code, 0);
  got_release(&g);
  REQUIRE(fake_start(&f, loop, scripted, &s) == 0);
  finish(c, &f);
}

int main(void) {
  if (kt_begin("kuberest") != 0)
    return 1;
  RUN(verbs_send_the_right_requests);
  RUN(errors_carry_status_message_reason_and_code);
  RUN(rate_limit_spaces_requests);
  RUN(timeout_cancel_and_teardown);
  RUN(connection_refused_is_enet);
  return kt_end();
}
