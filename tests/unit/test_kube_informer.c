/* Informers against the fake apiserver: paginated lists, watch events and
 * normal ends, 410 as an ERROR event, as an HTTP status and on a continue
 * token, 429 and 5xx backoff, and stop/destroy in every state, even from
 * inside a handler. Each scenario checks the cache and the handler calls,
 * waiting on conditions with deadlines. The cache's replace rules are
 * also tested directly. */
#include <curl/curl.h>

#include "kube_testinf.h"

/* ---- 1: pages, watch events, a normal end, re-watch without relist ---- */

static void api_pages(fake_t *f, fake_conn_t *conn, const fake_req_t *req, void *arg) {
  api_t *a = arg;
  (void)f;
  note(a, req);
  char cont[64];
  if (!is_watch(req)) {
    fake_query(req->query, "continue", cont, sizeof(cont));
    if (!cont[0])
      fake_reply(conn, 200, "", LIST("10", "c1", OBJ("a", "1") "," OBJ("b", "2")));
    else
      fake_reply(conn, 200, "", LIST("10", "", OBJ("c", "3")));
    return;
  }
  if (a->watches == 1) {
    fake_stream_begin(conn, 200);
    fake_stream_printf(conn, EV("ADDED", OBJ("d", "11")) EV("MODIFIED", OBJ("a", "12")));
    fake_stream_printf(conn, EV("DELETED", OBJ("b", "13")));
    fake_stream_printf(conn, "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"metadata\":"
                             "{\"resourceVersion\":\"14\"}}}\n");
    fake_stream_end(conn);
    return;
  }
  hold(a, conn);
}

static bool peer_gone(void *arg) { return ((fake_conn_t *)arg)->peer_gone; }

TEST(list_pages_then_watch_and_rewatch_from_last_rv) {
  env_t e;
  sk_kube_informer_opts_t o = {.page_size = 2};
  REQUIRE(setup(&e, api_pages, &o));
  CHECK_INT(sk_kube_informer_state(e.inf), SK_KUBE_INF_STOPPED);
  CHECK(!sk_kube_informer_has_synced(e.inf));
  CHECK_INT(sk_kube_informer_start(e.inf), 0);
  CHECK_INT(sk_kube_informer_start(e.inf), SK_ESTATE);
  CHECK_INT(sk_kube_informer_state(e.inf), SK_KUBE_INF_LISTING);
  REQUIRE(wait_reqs(&e.a, 2, 2, 5000));
  CHECK_INT(e.a.lists, 2);
  CHECK_STR(e.a.list_q[0], "limit=2");
  CHECK_STR(e.a.list_q[1], "limit=2&continue=c1");
  /* The first watch starts at the list's version with bookmarks and a
   * timeout in [300, 600] s; the second resumes at the bookmark. */
  char v[32];
  fake_query(e.a.watch_q[0], "resourceVersion", v, sizeof(v));
  CHECK_STR(v, "10");
  fake_query(e.a.watch_q[0], "allowWatchBookmarks", v, sizeof(v));
  CHECK_STR(v, "true");
  fake_query(e.a.watch_q[0], "timeoutSeconds", v, sizeof(v));
  long to = strtol(v, NULL, 10);
  if (to < 300 || to > 600)
    FAILF("timeoutSeconds %ld not in [300, 600]", to);
  fake_query(e.a.watch_q[1], "resourceVersion", v, sizeof(v));
  CHECK_STR(v, "14");
  CHECK(sk_kube_informer_has_synced(e.inf));
  CHECK_INT(sk_kube_informer_state(e.inf), SK_KUBE_INF_WATCHING);
  CHECK_STR(sk_kube_informer_last_rv(e.inf), "14");
  static const char *const want[] = {"add a@1",          "add b@2",     "add c@3",
                                     "synced 3",         "add d@11",    "update a@1->12",
                                     "delete b@13",      NULL};
  check_log(&e.r, 0, -1, want);
  /* synced comes after the three adds of the list. */
  CHECK_STR(e.r.log[3], "synced 3");
  CHECK_INT(sk_kube_informer_count(e.inf), 3);
  check_cached(e.inf, "ml/a", "12");
  check_cached(e.inf, "ml/c", "3");
  check_cached(e.inf, "ml/d", "11");
  CHECK(sk_kube_informer_get(e.inf, "ml/b") == NULL);
  /* List items get the kind and apiVersion that watch events carry. */
  CHECK_STR(json_string_value(json_object_get(sk_kube_informer_get(e.inf, "ml/c"), "kind")),
            "Pod");
  /* Stop cancels the open watch: the server sees the connection close. */
  REQUIRE(e.a.held);
  sk_kube_informer_stop(e.inf);
  CHECK_INT(sk_kube_informer_state(e.inf), SK_KUBE_INF_STOPPED);
  CHECK(run_until(loop, peer_gone, e.a.held, 5000));
  CHECK_INT(sk_kube_informer_count(e.inf), 3);
  CHECK_INT(e.a.lists + e.a.watches, 4);
  teardown(&e);
}

/* ---- 2: an ERROR 410 event → relist, replace, synthetic events ---- */

static void api_error410(fake_t *f, fake_conn_t *conn, const fake_req_t *req, void *arg) {
  api_t *a = arg;
  (void)f;
  note(a, req);
  if (!is_watch(req)) {
    if (a->lists == 1)
      fake_reply(conn, 200, "", LIST("5", "", OBJ("a", "1") "," OBJ("b", "1") "," OBJ("c", "1")));
    else
      fake_reply(conn, 200, "", LIST("9", "", OBJ("a", "6") "," OBJ("b", "8") "," OBJ("d", "9")));
    return;
  }
  if (a->watches == 1) {
    fake_stream_begin(conn, 200);
    fake_stream_printf(conn, EV("MODIFIED", OBJ("a", "6")));
    fake_stream_printf(conn, "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":"
                             "\"v1\",\"status\":\"Failure\",\"message\":\"too old resource "
                             "version: 6 (7)\",\"reason\":\"Expired\",\"code\":410}}\n");
    fake_stream_end(conn);
    return;
  }
  hold(a, conn);
}

TEST(error_410_event_relists_and_replaces_the_cache) {
  env_t e;
  REQUIRE(setup(&e, api_error410, NULL));
  CHECK_INT(sk_kube_informer_start(e.inf), 0);
  REQUIRE(wait_reqs(&e.a, 2, 2, 5000));
  static const char *const first[] = {"add a@1", "add b@1", "add c@1", "synced 3",
                                      "update a@1->6", NULL};
  check_log(&e.r, 0, 5, first);
  /* After the relist: c vanished (delete), b changed (update), d is new
   * (add), a is as the watch left it (no event). Only one synced. */
  static const char *const relist[] = {"delete c@1", "update b@1->8", "add d@9", NULL};
  check_log(&e.r, 5, -1, relist);
  CHECK_INT(e.r.synced, 1);
  CHECK_INT(sk_kube_informer_count(e.inf), 3);
  check_cached(e.inf, "ml/a", "6");
  check_cached(e.inf, "ml/b", "8");
  check_cached(e.inf, "ml/d", "9");
  /* The relist is a fresh read, and the watch goes on from its version. */
  CHECK_STR(e.a.list_q[1], "limit=500");
  char v[32];
  fake_query(e.a.watch_q[1], "resourceVersion", v, sizeof(v));
  CHECK_STR(v, "9");
  CHECK_INT(e.r.transitions_backoff, 0);
  teardown(&e);
}

/* ---- 3: 410 on a continue token, and an HTTP 410 on the watch ---- */

static void api_http410(fake_t *f, fake_conn_t *conn, const fake_req_t *req, void *arg) {
  api_t *a = arg;
  (void)f;
  note(a, req);
  if (!is_watch(req)) {
    switch (a->lists) {
    case 1:
      fake_reply(conn, 200, "", LIST("20", "c-old", OBJ("a", "1")));
      break;
    case 2:
      fake_reply_status(conn, 410, "Expired", "The provided continue parameter is too old", "");
      break;
    case 3:
      fake_reply(conn, 200, "", LIST("20", "c-new", OBJ("a", "1")));
      break;
    case 4:
      fake_reply(conn, 200, "", LIST("21", "", OBJ("b", "2")));
      break;
    default:
      fake_reply(conn, 200, "", LIST("30", "", OBJ("a", "1") "," OBJ("b", "2")));
      break;
    }
    return;
  }
  if (a->watches == 1)
    fake_reply_status(conn, 410, "Expired", "too old resource version: 21 (25)", "");
  else
    hold(a, conn);
}

TEST(gone_continue_restarts_list_and_http_410_relists) {
  env_t e;
  REQUIRE(setup(&e, api_http410, NULL));
  CHECK_INT(sk_kube_informer_start(e.inf), 0);
  REQUIRE(wait_reqs(&e.a, 5, 2, 5000));
  CHECK_INT(e.a.lists, 5);
  CHECK_STR(e.a.list_q[0], "limit=500");
  CHECK_STR(e.a.list_q[1], "limit=500&continue=c-old");
  CHECK_STR(e.a.list_q[2], "limit=500");
  CHECK_STR(e.a.list_q[3], "limit=500&continue=c-new");
  CHECK_STR(e.a.list_q[4], "limit=500");
  char v[32];
  fake_query(e.a.watch_q[0], "resourceVersion", v, sizeof(v));
  CHECK_STR(v, "21");
  fake_query(e.a.watch_q[1], "resourceVersion", v, sizeof(v));
  CHECK_STR(v, "30");
  /* The page before the expired token was dropped, not added twice; the
   * relist changed nothing, so it made no events. */
  static const char *const want[] = {"add a@1", "add b@2", "synced 2", NULL};
  check_log(&e.r, 0, -1, want);
  CHECK_INT(e.r.transitions_backoff, 0);
  teardown(&e);
}

/* ---- 4: 429 and 500 back off; a watch that ends at once backs off;
 *         Retry-After is honoured; after backoff the watch resumes ---- */

static void api_backoff(fake_t *f, fake_conn_t *conn, const fake_req_t *req, void *arg) {
  api_t *a = arg;
  (void)f;
  note(a, req);
  if (!is_watch(req)) {
    if (a->lists == 1)
      fake_reply_status(conn, 429, "TooManyRequests", "slow down", "");
    else if (a->lists == 2)
      fake_reply_status(conn, 500, "InternalError", "etcd is sad", "");
    else
      fake_reply(conn, 200, "", LIST("40", "", OBJ("a", "1")));
    return;
  }
  if (a->watches == 1) {
    fake_stream_begin(conn, 200);
    fake_stream_end(conn);
  } else if (a->watches == 2) {
    fake_reply_status(conn, 429, "TooManyRequests", "slow down", "Retry-After: 1\r\n");
  } else {
    hold(a, conn);
  }
}

static bool in_backoff(void *arg) {
  return sk_kube_informer_state(arg) == SK_KUBE_INF_BACKOFF;
}

TEST(errors_and_429_back_off_then_resume) {
  env_t e;
  sk_kube_informer_opts_t o = {.backoff_initial_ms = 60, .backoff_max_ms = 1000};
  REQUIRE(setup(&e, api_backoff, &o));
  CHECK_INT(sk_kube_informer_start(e.inf), 0);
  CHECK(run_until(loop, in_backoff, e.inf, 5000));
  REQUIRE(wait_reqs(&e.a, 3, 3, 10000));
  CHECK_INT(e.a.lists, 3);
  CHECK_INT(e.r.transitions_backoff, 4);
  /* Equal jitter: the first wait is in [30, 60] ms, the second in
   * [60, 120]; Retry-After: 1 makes the third at least a second. */
  int64_t g1 = e.a.list_at[1] - e.a.list_at[0], g2 = e.a.list_at[2] - e.a.list_at[1];
  int64_t g3 = e.a.watch_at[2] - e.a.watch_at[1];
  if (g1 < 30 || g2 < 60 || g3 < 1000)
    FAILF("gaps %lld, %lld, %lld ms; want >= 30, 60, 1000", (long long)g1, (long long)g2,
          (long long)g3);
  /* Watches after a backoff resume at the same version: no relist. */
  char v[32];
  for (int i = 0; i < 3; i++) {
    fake_query(e.a.watch_q[i], "resourceVersion", v, sizeof(v));
    CHECK_STR(v, "40");
  }
  CHECK_INT(sk_kube_informer_state(e.inf), SK_KUBE_INF_WATCHING);
  static const char *const want[] = {"add a@1", "synced 1", NULL};
  check_log(&e.r, 0, -1, want);
  teardown(&e);
}

/* ---- 5: stop and destroy in every state ---- */

static void api_silent_list(fake_t *f, fake_conn_t *conn, const fake_req_t *req, void *arg) {
  api_t *a = arg;
  (void)f;
  (void)conn;
  note(a, req); /* never answered */
}

TEST(destroy_while_listing) {
  env_t e;
  REQUIRE(setup(&e, api_silent_list, NULL));
  CHECK_INT(sk_kube_informer_start(e.inf), 0);
  REQUIRE(wait_reqs(&e.a, 1, 0, 5000));
  sk_kube_informer_destroy(e.inf);
  e.inf = NULL;
  CHECK_INT(e.r.n, 0);
  teardown(&e);
}

static void api_same_list(fake_t *f, fake_conn_t *conn, const fake_req_t *req, void *arg) {
  api_t *a = arg;
  (void)f;
  note(a, req);
  if (!is_watch(req))
    fake_reply(conn, 200, "", LIST("50", "", OBJ("a", "1") "," OBJ("b", "1") "," OBJ("c", "1")));
  else
    hold(a, conn);
}

static bool stopped_by_handler(void *arg) { return ((rec_t *)arg)->adds > 0; }

TEST(stop_from_a_handler_then_restart) {
  env_t e;
  REQUIRE(setup(&e, api_same_list, NULL));
  e.r.stop_on_add = e.inf;
  CHECK_INT(sk_kube_informer_start(e.inf), 0);
  REQUIRE(wait_reqs(&e.a, 1, 0, 5000));
  REQUIRE(run_until(loop, stopped_by_handler, &e.r, 5000));
  /* The first add stopped it: nothing else was delivered, no watch. */
  CHECK_INT(e.r.adds, 1);
  CHECK_INT(e.r.synced, 0);
  CHECK_INT(sk_kube_informer_state(e.inf), SK_KUBE_INF_STOPPED);
  CHECK_INT(e.a.watches, 0);
  /* A restart shows every cached object again, since handlers may have
   * missed some while stopped. */
  e.r.stop_on_add = NULL;
  int from = e.r.n;
  CHECK_INT(sk_kube_informer_start(e.inf), 0);
  REQUIRE(wait_reqs(&e.a, 2, 1, 5000));
  static const char *const want[] = {"update a@1->1", "update b@1->1", "update c@1->1",
                                     "synced 3", NULL};
  check_log(&e.r, from, -1, want);
  teardown(&e);
}

static void api_destroy_in_update(fake_t *f, fake_conn_t *conn, const fake_req_t *req,
                                  void *arg) {
  api_t *a = arg;
  (void)f;
  note(a, req);
  if (!is_watch(req)) {
    fake_reply(conn, 200, "", LIST("60", "", OBJ("a", "1")));
    return;
  }
  fake_stream_begin(conn, 200);
  fake_stream_printf(conn, EV("MODIFIED", OBJ("a", "61")) EV("MODIFIED", OBJ("a", "62"))
                               EV("ADDED", OBJ("z", "63")));
  a->held = conn;
}

static bool destroyed_in_handler(void *arg) { return ((rec_t *)arg)->destroy_on_upd == NULL; }

TEST(destroy_from_a_handler) {
  env_t e;
  REQUIRE(setup(&e, api_destroy_in_update, NULL));
  e.r.destroy_on_upd = e.inf;
  CHECK_INT(sk_kube_informer_start(e.inf), 0);
  REQUIRE(run_until(loop, destroyed_in_handler, &e.r, 5000));
  e.inf = NULL;
  /* Nothing after the destroying handler: not the second update, not z. */
  static const char *const want[] = {"add a@1", "synced 1", "update a@1->61", NULL};
  check_log(&e.r, 0, -1, want);
  teardown(&e);
}

/* ---- 6: strip_managed_fields trims list items and watch objects ---- */

#define MF_OBJ(name, rv)                                                                       \
  "{\"metadata\":{\"name\":\"" name "\",\"namespace\":\"ml\",\"resourceVersion\":\"" rv        \
  "\",\"uid\":\"u-" name "\",\"managedFields\":[{\"manager\":\"kubectl\",\"fieldsV1\":"        \
  "{\"f:spec\":{}}}]},\"spec\":{\"x\":1}}"

static void api_managed(fake_t *f, fake_conn_t *conn, const fake_req_t *req, void *arg) {
  api_t *a = arg;
  (void)f;
  note(a, req);
  if (!is_watch(req)) {
    fake_reply(conn, 200, "", LIST("70", "", MF_OBJ("a", "1") "," MF_OBJ("c", "2")));
    return;
  }
  fake_stream_begin(conn, 200);
  fake_stream_printf(conn, EV("ADDED", MF_OBJ("b", "71")) EV("MODIFIED", MF_OBJ("a", "72")));
  a->held = conn;
}

static bool all_seen(void *arg) { return ((rec_t *)arg)->adds + ((rec_t *)arg)->updates >= 4; }

static void check_trimmed(sk_kube_informer_t *inf, const char *key, bool stripped) {
  json_t *meta = json_object_get(sk_kube_informer_get(inf, key), "metadata");
  CHECK(meta != NULL);
  CHECK(json_object_get(meta, "uid") != NULL);
  CHECK((json_object_get(meta, "managedFields") == NULL) == stripped);
  CHECK(json_object_get(json_object_get(sk_kube_informer_get(inf, key), "spec"), "x") != NULL);
}

TEST(strip_managed_fields_from_lists_and_watch_events) {
  for (int strip = 0; strip < 2; strip++) {
    env_t e;
    sk_kube_informer_opts_t o = {.strip_managed_fields = strip == 1};
    REQUIRE(setup(&e, api_managed, &o));
    CHECK_INT(sk_kube_informer_start(e.inf), 0);
    REQUIRE(run_until(loop, all_seen, &e.r, 5000));
    check_cached(e.inf, "ml/a", "72");
    check_cached(e.inf, "ml/b", "71");
    check_cached(e.inf, "ml/c", "2");
    /* Everything else of the object stays; without the option nothing
     * goes. c comes from the list only, b from an ADDED event, a from a
     * MODIFIED one. */
    check_trimmed(e.inf, "ml/a", strip == 1);
    check_trimmed(e.inf, "ml/b", strip == 1);
    check_trimmed(e.inf, "ml/c", strip == 1);
    teardown(&e);
  }
}

static bool inf_stopped(void *arg) {
  return sk_kube_informer_state(arg) == SK_KUBE_INF_STOPPED;
}

TEST(client_destroyed_under_a_running_informer) {
  env_t e;
  REQUIRE(setup(&e, api_same_list, NULL));
  CHECK_INT(sk_kube_informer_start(e.inf), 0);
  REQUIRE(wait_reqs(&e.a, 1, 1, 5000));
  /* The wrong order: the informer stops for good instead of retrying. */
  sk_kube_client_destroy(e.c);
  e.c = NULL;
  CHECK(run_until(loop, inf_stopped, e.inf, 5000));
  CHECK_INT(e.r.transitions_backoff, 0);
  CHECK_INT(sk_kube_informer_count(e.inf), 3);
  teardown(&e);
}

/* ---- the cache's rules, directly ---- */

static json_t *mk(const char *name, const char *rv) {
  return json_pack("{s:{s:s, s:s, s:s}}", "metadata", "name", name, "namespace", "ml",
                   "resourceVersion", rv);
}

static void e_add(json_t *o, void *arg) { rec(arg, "add %s@%s", oname(o), sk_kube_object_rv(o)); }
static void e_upd(json_t *o, json_t *n, void *arg) {
  rec(arg, "update %s@%s->%s", oname(n), sk_kube_object_rv(o), sk_kube_object_rv(n));
}
static void e_del(json_t *o, void *arg) { rec(arg, "delete %s@%s", oname(o), sk_kube_object_rv(o)); }

TEST(cache_replace_rules) {
  rec_t r = {0};
  sk__kube_emit_t em = {e_add, e_upd, e_del, NULL, &r};
  json_t *cache = json_object();
  json_t *a1 = mk("a", "1"), *b1 = mk("b", "1"), *c1 = mk("c", "1");
  CHECK_INT(sk__kube_cache_upsert(cache, a1, &em), 0);
  CHECK_INT(sk__kube_cache_upsert(cache, b1, &em), 0);
  CHECK_INT(sk__kube_cache_upsert(cache, c1, &em), 0);
  json_t *b2 = mk("b", "2");
  CHECK_INT(sk__kube_cache_upsert(cache, b2, &em), 0);
  json_t *noname = json_pack("{s:{}}", "metadata");
  CHECK_INT(sk__kube_cache_upsert(cache, noname, &em), SK_EINVAL);
  static const char *const w1[] = {"add a@1", "add b@1", "add c@1", "update b@1->2", NULL};
  check_log(&r, 0, -1, w1);

  json_t *fresh = json_object();
  json_t *a1copy = mk("a", "1"), *b3 = mk("b", "3"), *d1 = mk("d", "1");
  json_object_set_new(fresh, "ml/a", a1copy);
  json_object_set_new(fresh, "ml/b", b3);
  json_object_set_new(fresh, "ml/d", d1);
  int from = r.n;
  CHECK_INT(sk__kube_cache_replace(&cache, fresh, &em, false), 0);
  static const char *const w2[] = {"delete c@1", "update b@2->3", "add d@1", NULL};
  check_log(&r, from, -1, w2);
  /* The unchanged object kept its identity. */
  CHECK(json_object_get(cache, "ml/a") == a1);
  CHECK_INT(json_object_size(cache), 3);

  from = r.n;
  CHECK_INT(sk__kube_cache_remove(cache, d1, &em), 0);
  static const char *const w3[] = {"delete d@1", NULL};
  check_log(&r, from, -1, w3);
  CHECK(json_object_get(cache, "ml/d") == NULL);
  json_decref(a1);
  json_decref(b1);
  json_decref(c1);
  json_decref(b2);
  json_decref(noname);
  json_decref(cache);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  uv_loop_t lp;
  uv_loop_init(&lp);
  loop = &lp;
  RUN(cache_replace_rules);
  RUN(list_pages_then_watch_and_rewatch_from_last_rv);
  RUN(error_410_event_relists_and_replaces_the_cache);
  RUN(gone_continue_restarts_list_and_http_410_relists);
  RUN(errors_and_429_back_off_then_resume);
  RUN(destroy_while_listing);
  RUN(stop_from_a_handler_then_restart);
  RUN(destroy_from_a_handler);
  RUN(client_destroyed_under_a_running_informer);
  RUN(strip_managed_fields_from_lists_and_watch_events);
  uv_run(&lp, UV_RUN_NOWAIT);
  if (uv_loop_close(&lp) != 0) {
    printf("FAIL the loop still has handles\n");
    sk_test_failed++;
  }
  curl_global_cleanup();
  return TEST_DONE();
}
