/*
 * The kube client and informers against a real kube-apiserver.
 *
 * It needs a cluster, so as a unit test it only checks that it is wired and
 * skips; tests/e2e/test_kube_client.sh starts a cluster and runs it with
 * SKEIN_TEST_KUBECONFIG set (and SKEIN_TEST_COMPACT, a command that
 * compacts the cluster's etcd). What it proves that the fake apiserver
 * cannot: the real kubeconfig (CA data, token) works over TLS; paths,
 * query strings, bodies and content types are what the apiserver accepts;
 * its Status answers map to the documented errors (404, 409 Conflict and
 * AlreadyExists, 422, preconditions); real continue tokens page a list; the
 * /status subresource of a custom resource; a raw watch from a compacted
 * resourceVersion ends as SK_EGONE; and an informer sees adds, updates and
 * deletes, and relists after its watch position is compacted away.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "kube/kube.h"
#include "kube_fakeapi.h"
#include "kube_testcli.h"
#include "sk_test.h"
#include "util/error.h"

static sk_kube_client_t *client;
static char ns[64];

/* Runs one call to its end (30 s at most) and returns what it gave. */
static got_t call(sk_kube_verb_t verb, const sk_kube_ref_t *ref, const json_t *body,
                  const sk_kube_call_opts_t *o) {
  got_t g = {0};
  int rc = sk_kube_call(client, verb, ref, body, o, on_got, &g, NULL);
  if (rc) {
    g.err = rc;
    g.done = 1;
    return g;
  }
  if (!run_until(loop, got_done, &g, 30000))
    g.err = SK_ETIMEDOUT;
  return g;
}

static sk_kube_ref_t cm_ref(const char *name) {
  return (sk_kube_ref_t){.gvr = {"", "v1", "configmaps"}, .namespace = ns, .name = name};
}

static json_t *cm(const char *name, const char *value) {
  return json_pack("{s:s, s:s, s:{s:s, s:{s:s}}, s:{s:s}}", "apiVersion", "v1", "kind",
                   "ConfigMap", "metadata", "name", name, "labels", "skein.dev/test", "live",
                   "data", "v", value);
}

TEST(crud_and_errors) {
  sk_kube_ref_t nsref = {.gvr = {"", "v1", "namespaces"}};
  json_t *nsobj = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Namespace",
                            "metadata", "name", ns);
  got_t g = call(SK_KUBE_CREATE, &nsref, nsobj, NULL);
  json_decref(nsobj);
  REQUIRE(g.err == 0);
  got_release(&g);

  sk_kube_ref_t col = cm_ref(NULL);
  json_t *a = cm("a", "1");
  g = call(SK_KUBE_CREATE, &col, a, NULL);
  CHECK_INT(g.err, 0);
  CHECK_INT(g.code, 201);
  const char *rv1 = sk_kube_object_rv(g.body);
  REQUIRE(rv1);
  char rv[32], uid[64];
  snprintf(rv, sizeof(rv), "%s", rv1);
  snprintf(uid, sizeof(uid), "%s",
           json_string_value(json_object_get(json_object_get(g.body, "metadata"), "uid")));
  got_release(&g);

  /* Creating it again is 409 AlreadyExists, told apart by the reason. */
  g = call(SK_KUBE_CREATE, &col, a, NULL);
  CHECK_INT(g.err, SK_ECONFLICT);
  CHECK_STR(g.reason, "AlreadyExists");
  got_release(&g);

  /* A PUT with a stale resourceVersion is 409 Conflict. */
  json_t *upd = cm("a", "2");
  json_object_set_new(json_object_get(upd, "metadata"), "resourceVersion", json_string(rv));
  sk_kube_ref_t one = cm_ref("a");
  g = call(SK_KUBE_UPDATE, &one, upd, NULL);
  CHECK_INT(g.err, 0);
  got_release(&g);
  g = call(SK_KUBE_UPDATE, &one, upd, NULL);
  CHECK_INT(g.err, SK_ECONFLICT);
  CHECK_STR(g.reason, "Conflict");
  CHECK(strstr(g.msg, "the object has been modified") != NULL);
  got_release(&g);
  json_decref(upd);

  /* A merge patch, then a get that sees it. */
  json_t *patch = json_pack("{s:{s:s}}", "data", "p", "yes");
  sk_kube_call_opts_t po = {.patch_type = SK_KUBE_PATCH_MERGE};
  g = call(SK_KUBE_PATCH, &one, patch, &po);
  CHECK_INT(g.err, 0);
  got_release(&g);
  json_decref(patch);
  g = call(SK_KUBE_GET, &one, NULL, NULL);
  CHECK_INT(g.err, 0);
  json_t *data = json_object_get(g.body, "data");
  CHECK_STR(json_string_value(json_object_get(data, "v")), "2");
  CHECK_STR(json_string_value(json_object_get(data, "p")), "yes");
  got_release(&g);

  /* An invalid name is 422 with the apiserver's explanation. */
  json_t *bad = cm("Not_A_Name", "x");
  g = call(SK_KUBE_CREATE, &col, bad, NULL);
  CHECK_INT(g.err, SK_EINVALID);
  CHECK_INT(g.code, 422);
  CHECK(strstr(g.msg, "Not_A_Name") != NULL);
  got_release(&g);
  json_decref(bad);

  /* A delete whose uid precondition does not hold is refused. */
  sk_kube_call_opts_t wrong = {.precondition_uid = "00000000-0000-0000-0000-000000000000"};
  g = call(SK_KUBE_DELETE, &one, NULL, &wrong);
  CHECK_INT(g.err, SK_ECONFLICT);
  got_release(&g);
  sk_kube_call_opts_t right = {.precondition_uid = uid, .propagation = "Background"};
  g = call(SK_KUBE_DELETE, &one, NULL, &right);
  CHECK_INT(g.err, 0);
  got_release(&g);
  g = call(SK_KUBE_GET, &one, NULL, NULL);
  CHECK_INT(g.err, SK_ENOENT);
  CHECK_STR(g.reason, "NotFound");
  got_release(&g);
  json_decref(a);
}

TEST(list_pages_with_real_continue_tokens) {
  sk_kube_ref_t col = cm_ref(NULL);
  for (int i = 0; i < 5; i++) {
    char name[16];
    snprintf(name, sizeof(name), "page-%d", i);
    json_t *o = cm(name, "x");
    got_t g = call(SK_KUBE_CREATE, &col, o, NULL);
    CHECK_INT(g.err, 0);
    got_release(&g);
    json_decref(o);
  }
  char cont[2048] = "";
  int pages = 0, items = 0;
  do {
    sk_kube_call_opts_t o = {.label_selector = "skein.dev/test=live", .limit = 2,
                             .continue_token = cont[0] ? cont : NULL};
    got_t g = call(SK_KUBE_LIST, &col, NULL, &o);
    if (g.err) {
      FAILF("page %d: %d %s", pages, g.err, g.msg);
      got_release(&g);
      break;
    }
    pages++;
    items += (int)json_array_size(json_object_get(g.body, "items"));
    const char *c = json_string_value(json_object_get(json_object_get(g.body, "metadata"),
                                                      "continue"));
    snprintf(cont, sizeof(cont), "%s", c ? c : "");
    got_release(&g);
  } while (cont[0] && pages < 10);
  CHECK_INT(items, 5);
  CHECK_INT(pages, 3);
}

TEST(workflow_status_subresource) {
  sk_kube_ref_t col = {.gvr = {"skein.dev", "v1alpha1", "workflows"}, .namespace = ns};
  json_t *wf = json_loads("{\"apiVersion\":\"skein.dev/v1alpha1\",\"kind\":\"Workflow\","
                          "\"metadata\":{\"name\":\"live\"},\"spec\":{\"steps\":[{\"name\":\"a\","
                          "\"pod\":{\"image\":\"busybox\",\"command\":[\"true\"]}}]}}",
                          0, NULL);
  got_t g = call(SK_KUBE_CREATE, &col, wf, NULL);
  if (g.err) {
    FAILF("create Workflow: %d %s", g.err, g.msg);
    got_release(&g);
    json_decref(wf);
    return;
  }
  json_t *obj = json_deep_copy(g.body);
  got_release(&g);
  json_object_set_new(obj, "status", json_pack("{s:s, s:s}", "phase", "Running", "progress",
                                               "0/1"));
  got_t s = {0};
  CHECK_INT(sk_kube_update_status(client, &col, obj, on_got, &s, NULL), 0);
  REQUIRE(run_until(loop, got_done, &s, 30000));
  CHECK_INT(s.err, 0);
  CHECK_STR(json_string_value(json_object_get(json_object_get(s.body, "status"), "phase")),
            "Running");
  got_release(&s);
  json_decref(obj);
  json_decref(wf);
}

/* ---- watches and informers ---- */

typedef struct {
  got_t end;
  int events; /* other than ERROR */
  long error_code;
} rawwatch_t;

static int count_event(const sk_kube_event_t *ev, void *arg) {
  rawwatch_t *w = arg;
  if (ev->type == SK_KUBE_EV_ERROR)
    w->error_code = ev->code;
  else
    w->events++;
  return 0;
}
static void raw_done(const sk_kube_result_t *r, void *arg) { on_got(r, &((rawwatch_t *)arg)->end); }
static bool raw_ended(void *arg) { return ((rawwatch_t *)arg)->end.done > 0; }

static int compact(void) {
  const char *cmd = getenv("SKEIN_TEST_COMPACT");
  if (!cmd || !*cmd)
    return -1;
  return system(cmd) == 0 ? 0 : -1;
}

TEST(raw_watch_from_a_compacted_version_is_gone) {
  sk_kube_ref_t col = cm_ref(NULL);
  got_t g = call(SK_KUBE_LIST, &col, NULL, NULL);
  REQUIRE(g.err == 0);
  char rv[32];
  snprintf(rv, sizeof(rv), "%s",
           json_string_value(json_object_get(json_object_get(g.body, "metadata"),
                                             "resourceVersion")));
  got_release(&g);
  /* Compaction keeps its own revision: two writes put the watch's start
   * (rv + 1) strictly below it. */
  json_t *o = cm("after-list", "x");
  g = call(SK_KUBE_CREATE, &col, o, NULL);
  CHECK_INT(g.err, 0);
  got_release(&g);
  json_object_set_new(json_object_get(o, "data"), "v", json_string("y"));
  sk_kube_ref_t al = cm_ref("after-list");
  g = call(SK_KUBE_UPDATE, &al, o, NULL);
  CHECK_INT(g.err, 0);
  got_release(&g);
  json_decref(o);
  REQUIRE(compact() == 0);
  rawwatch_t w = {0};
  sk_kube_call_opts_t wo = {.resource_version = rv, .watch_timeout_s = 10};
  CHECK_INT(sk_kube_watch(client, &col, &wo, count_event, raw_done, &w, NULL), 0);
  REQUIRE(run_until(loop, raw_ended, &w, 30000));
  CHECK_INT(w.end.err, SK_EGONE);
  CHECK_INT(w.end.code, 410);
  CHECK_INT(w.events, 0);
  /* The apiserver may say it with an ERROR event in a 200 stream or with
   * an HTTP 410; both end the same way. */
  printf("  watch from %s after compaction: %s\n", rv,
         w.error_code == 410 ? "ERROR event 410" : "HTTP 410");
  got_release(&w.end);
}

typedef struct {
  int adds, updates, deletes, synced, relists;
  char last_update_value[32];
} seen_t;

static void i_add(sk_kube_informer_t *i, json_t *o, void *arg) { ((seen_t *)arg)->adds++; }
static void i_upd(sk_kube_informer_t *i, json_t *o, json_t *n, void *arg) {
  seen_t *s = arg;
  s->updates++;
  const char *v = json_string_value(json_object_get(json_object_get(n, "data"), "v"));
  snprintf(s->last_update_value, sizeof(s->last_update_value), "%s", v ? v : "");
}
static void i_del(sk_kube_informer_t *i, json_t *o, void *arg) { ((seen_t *)arg)->deletes++; }
static void i_synced(sk_kube_informer_t *i, void *arg) { ((seen_t *)arg)->synced++; }
static bool is_synced(void *arg) { return ((seen_t *)arg)->synced > 0; }
static bool saw_update(void *arg) { return strcmp(((seen_t *)arg)->last_update_value, "9") == 0; }
static bool saw_delete(void *arg) { return ((seen_t *)arg)->deletes > 0; }

static seen_t *log_seen;
static void on_live_log(sk_kube_log_level_t level, const char *msg, void *arg) {
  (void)level;
  (void)arg;
  if (log_seen && strstr(msg, "(410), relisting"))
    log_seen->relists++;
}
static bool relisted(void *arg) { return ((seen_t *)arg)->relists > 0; }

typedef struct {
  sk_kube_informer_t *inf;
  size_t n;
} count_t;
static bool watching_with(void *arg) {
  count_t *c = arg;
  return sk_kube_informer_state(c->inf) == SK_KUBE_INF_WATCHING &&
         sk_kube_informer_count(c->inf) == c->n;
}

TEST(informer_sees_changes_and_relists_after_compaction) {
  seen_t s = {0};
  log_seen = &s;
  sk_kube_informer_opts_t o = {.gvr = {"", "v1", "configmaps"}, .namespace = ns,
                               .label_selector = "skein.dev/test=live",
                               .watch_timeout_min_s = 1, .watch_timeout_max_s = 1,
                               .backoff_initial_ms = 100, .backoff_max_ms = 1000};
  sk_kube_handlers_t h = {i_add, i_upd, i_del, i_synced, &s};
  sk_kube_informer_t *inf = sk_kube_informer_create(client, &o, &h);
  REQUIRE(inf);
  CHECK_INT(sk_kube_informer_start(inf), 0);
  REQUIRE(run_until(loop, is_synced, &s, 30000));
  size_t n0 = sk_kube_informer_count(inf);
  CHECK_INT(n0, 6); /* page-0..4 and after-list */
  CHECK_INT(s.adds, 6);
  char key[128];
  snprintf(key, sizeof(key), "%s/page-0", ns);
  json_t *got = NULL;
  CHECK_INT(sk_kube_informer_get(inf, key, &got), 0);
  CHECK_STR(json_string_value(json_object_get(json_object_get(got, "metadata"), "name")), "page-0");
  json_decref(got);

  sk_kube_ref_t p0 = cm_ref("page-0");
  json_t *patch = json_pack("{s:{s:s}}", "data", "v", "9");
  sk_kube_call_opts_t po = {.patch_type = SK_KUBE_PATCH_MERGE};
  got_t g = call(SK_KUBE_PATCH, &p0, patch, &po);
  json_decref(patch);
  CHECK_INT(g.err, 0);
  got_release(&g);
  CHECK(run_until(loop, saw_update, &s, 30000));
  sk_kube_ref_t p1 = cm_ref("page-1");
  g = call(SK_KUBE_DELETE, &p1, NULL, NULL);
  CHECK_INT(g.err, 0);
  got_release(&g);
  CHECK(run_until(loop, saw_delete, &s, 30000));
  CHECK_INT(sk_kube_informer_count(inf), n0 - 1);

  /* Writes the informer does not see (another label) move etcd on; after
   * a compaction its next re-watch (every second here) is too old. */
  sk_kube_ref_t col = cm_ref(NULL);
  for (int i = 0; i < 2; i++) {
    json_t *other = json_pack("{s:{s:s}}", "metadata", "name", i ? "unlabelled-1" : "unlabelled-0");
    g = call(SK_KUBE_CREATE, &col, other, NULL);
    json_decref(other);
    CHECK_INT(g.err, 0);
    got_release(&g);
  }
  REQUIRE(compact() == 0);
  CHECK(run_until(loop, relisted, &s, 30000));
  count_t want = {inf, n0 - 1};
  CHECK(run_until(loop, watching_with, &want, 30000));
  printf("  informer: %d adds, %d updates, %d deletes, %d relists after compaction\n", s.adds,
         s.updates, s.deletes, s.relists);
  sk_kube_informer_destroy(inf);
  log_seen = NULL;
}

int main(void) {
  const char *kc = getenv("SKEIN_TEST_KUBECONFIG");
  if (!kc || !kc[0]) {
    printf("skipped: set SKEIN_TEST_KUBECONFIG (tests/e2e/test_kube_client.sh does)\n");
    return TEST_DONE();
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  uv_loop_t lp;
  uv_loop_init(&lp);
  loop = &lp;
  sk_kube_config_opts_t co = {.kubeconfig = kc};
  sk_kube_config_t *cfg = NULL;
  char err[512];
  if (sk_kube_config_load(&co, &cfg, err, sizeof(err)) < 0) {
    printf("FAIL kubeconfig: %s\n", err);
    return 1;
  }
  sk_kube_client_opts_t opts = {.log = on_live_log};
  client = sk_kube_client_create(loop, NULL, cfg, &opts);
  sk_kube_config_destroy(cfg);
  if (!client)
    return 1;
  snprintf(ns, sizeof(ns), "kube-live-%lld", (long long)(sk_time_now_ms() % 1000000));
  RUN(crud_and_errors);
  RUN(list_pages_with_real_continue_tokens);
  RUN(workflow_status_subresource);
  RUN(raw_watch_from_a_compacted_version_is_gone);
  RUN(informer_sees_changes_and_relists_after_compaction);
  sk_kube_client_destroy(client);
  for (int i = 0; i < 1000 && uv_loop_alive(&lp); i++)
    uv_run(&lp, UV_RUN_ONCE);
  if (uv_loop_close(&lp) != 0) {
    printf("FAIL the loop still has handles\n");
    sk_test_failed++;
  }
  curl_global_cleanup();
  return TEST_DONE();
}
