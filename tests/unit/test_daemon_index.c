/* The controller's index: what it hands to a reconcile after each kind of
 * event, so the driver's request-saving rules (controller.h) hold. */
#include <string.h>

#include "daemon/daemon-int.h"
#include "sk_test.h"
#include "util/error.h"

static json_t *pod(const char *name, const char *owner, const char *phase) {
  return json_pack("{s:{s:s, s:s, s:[{s:s, s:s, s:s, s:s, s:b}]}, s:{s:s}}", "metadata", "name",
                   name, "namespace", "ml", "ownerReferences", "apiVersion",
                   "skein.dev/v1alpha1", "kind", "Workflow", "name", owner, "uid", "u1",
                   "controller", 1, "status", "phase", phase);
}

static const char *name_of(json_t *p) {
  return json_string_value(json_object_get(json_object_get(p, "metadata"), "name"));
}

TEST(pod_key) {
  char key[64];
  json_t *p = pod("wf-a-1", "wf", "Pending");
  CHECK_INT(sk_daemon_pod_workflow_key(p, key, sizeof(key)), 0);
  CHECK_STR(key, "ml/wf");
  json_t *orphan = json_pack("{s:{s:s}}", "metadata", "name", "x");
  CHECK_INT(sk_daemon_pod_workflow_key(orphan, key, sizeof(key)), SK_ENOENT);
  json_decref(p);
  json_decref(orphan);
}

TEST(created_seen_gone) {
  sk_daemon_index_t *ix = sk_daemon_index_create();
  REQUIRE(ix != NULL);
  json_t *p1 = pod("wf-a-1", "wf", "Pending");
  /* Created by us, not shown by the informer yet: handed out as known. */
  CHECK_INT(sk_daemon_index_pod_created(ix, "ml/wf", p1), 0);
  sk_daemon_inputs_t in;
  CHECK_INT(sk_daemon_index_inputs(ix, "ml/wf", &in), 0);
  CHECK_INT(in.npods, 1);
  CHECK_INT(in.ngone, 0);
  sk_daemon_inputs_release(&in);
  /* The informer's newer view replaces the pending one, once. */
  json_t *p1b = pod("wf-a-1", "wf", "Succeeded");
  CHECK_INT(sk_daemon_index_pod_seen(ix, "ml/wf", p1b), 0);
  CHECK_INT(sk_daemon_index_inputs(ix, "ml/wf", &in), 0);
  CHECK_INT(in.npods, 1);
  CHECK(in.npods == 1 && json_equal(in.pods[0], p1b));
  sk_daemon_inputs_release(&in);
  /* A create answer that arrives after the informer showed it is ignored. */
  CHECK_INT(sk_daemon_index_pod_created(ix, "ml/wf", p1), 0);
  CHECK_INT(sk_daemon_index_inputs(ix, "ml/wf", &in), 0);
  CHECK(in.npods == 1 && json_equal(in.pods[0], p1b));
  sk_daemon_inputs_release(&in);
  /* Deleted: a tombstone, not a Pod. */
  CHECK_INT(sk_daemon_index_pod_gone(ix, "ml/wf", p1b, 1000), 0);
  CHECK_INT(sk_daemon_index_inputs(ix, "ml/wf", &in), 0);
  CHECK_INT(in.npods, 0);
  CHECK_INT(in.ngone, 1);
  CHECK_STR(name_of(in.gone[0]), "wf-a-1");
  sk_daemon_inputs_release(&in);
  /* Tombstones expire. */
  sk_daemon_index_prune(ix, 1000 + SK_DAEMON_TOMBSTONE_MS);
  CHECK_INT(sk_daemon_index_inputs(ix, "ml/wf", &in), 0);
  CHECK_INT(in.ngone, 1);
  sk_daemon_inputs_release(&in);
  sk_daemon_index_prune(ix, 1001 + SK_DAEMON_TOMBSTONE_MS);
  CHECK_INT(sk_daemon_index_inputs(ix, "ml/wf", &in), 0);
  CHECK_INT(in.ngone, 0);
  sk_daemon_inputs_release(&in);
  /* With its last tombstone gone the entry holds nothing: let go. */
  CHECK_INT(sk_daemon_index_workflows(ix), 0);
  json_decref(p1);
  json_decref(p1b);
  sk_daemon_index_destroy(ix);
}

TEST(errors_handed_out_once) {
  sk_daemon_index_t *ix = sk_daemon_index_create();
  REQUIRE(ix != NULL);
  CHECK_INT(sk_daemon_index_create_error(ix, "ml/wf", "wf-a-1", "quota exceeded"), 0);
  sk_daemon_inputs_t in;
  CHECK_INT(sk_daemon_index_inputs(ix, "ml/wf", &in), 0);
  CHECK_INT(in.nerrors, 1);
  CHECK_STR(in.errors[0].pod, "wf-a-1");
  CHECK_STR(in.errors[0].message, "quota exceeded");
  sk_daemon_inputs_release(&in);
  CHECK_INT(sk_daemon_index_inputs(ix, "ml/wf", &in), 0);
  CHECK_INT(in.nerrors, 0);
  sk_daemon_inputs_release(&in);
  CHECK_INT(sk_daemon_index_workflows(ix), 0);
  for (int i = 0; i < SK_DAEMON_MAX_CREATE_ERRORS + 5; i++)
    sk_daemon_index_create_error(ix, "ml/wf", "p", "m");
  CHECK_INT(sk_daemon_index_inputs(ix, "ml/wf", &in), 0);
  CHECK_INT(in.nerrors, SK_DAEMON_MAX_CREATE_ERRORS);
  sk_daemon_inputs_release(&in);
  sk_daemon_index_destroy(ix);
}

TEST(own_writes) {
  sk_daemon_index_t *ix = sk_daemon_index_create();
  REQUIRE(ix != NULL);
  json_t *v1 = json_pack("{s:{s:s, s:s}}", "metadata", "name", "wf", "resourceVersion", "10");
  json_t *v2 = json_pack("{s:{s:s, s:s}}", "metadata", "name", "wf", "resourceVersion", "11");
  json_t *v3 = json_pack("{s:{s:s, s:s}}", "metadata", "name", "wf", "resourceVersion", "12");
  /* No write yet: the cache is the truth. */
  CHECK(sk_daemon_index_current(ix, "ml/wf", v1) == v1);
  /* We replaced 10 with 11: while the cache holds 10, use 11. */
  CHECK_INT(sk_daemon_index_written(ix, "ml/wf", "10", v2), 0);
  CHECK(sk_daemon_index_current(ix, "ml/wf", v1) == v2);
  /* Once the cache moves on (to ours or newer), it is the truth again, and
   * it stays so even if an old version were seen again. */
  CHECK(sk_daemon_index_current(ix, "ml/wf", v3) == v3);
  CHECK(sk_daemon_index_current(ix, "ml/wf", v1) == v1);
  /* The informer's news lets a write's answer go before any reconcile:
   * the version it replaced says nothing, a newer one lets it go. */
  CHECK_INT(sk_daemon_index_written(ix, "ml/wf", "10", v2), 0);
  CHECK_INT((int)v2->refcount, 2);
  sk_daemon_index_cache_moved(ix, "ml/wf", "10");
  CHECK(sk_daemon_index_current(ix, "ml/wf", v1) == v2);
  sk_daemon_index_cache_moved(ix, "ml/wf", "11");
  CHECK_INT((int)v2->refcount, 1);
  CHECK(sk_daemon_index_current(ix, "ml/wf", v1) == v1);
  sk_daemon_index_cache_moved(ix, "ml/other", "11");
  /* An entry left with nothing in it is let go. */
  CHECK_INT(sk_daemon_index_workflows(ix), 0);
  CHECK_INT(sk_daemon_index_written(ix, "ml/wf", "10", v2), 0);
  CHECK_INT(sk_daemon_index_workflows(ix), 1);
  sk_daemon_index_forget(ix, "ml/wf");
  CHECK_INT(sk_daemon_index_workflows(ix), 0);
  json_decref(v1);
  json_decref(v2);
  json_decref(v3);
  sk_daemon_index_destroy(ix);
}

int main(void) {
  RUN(pod_key);
  RUN(created_seen_gone);
  RUN(errors_handed_out_once);
  RUN(own_writes);
  return TEST_DONE();
}
