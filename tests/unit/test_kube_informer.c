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

typedef struct {
  int n;
  char keys[64]; /* the keys seen, sorted, each followed by a space */
} seen_t;

/* Records a foreach call, checking that the key is the object's. */
static void see(const char *key, json_t *obj, void *arg) {
  seen_t *s = arg;
  char want[64];
  if (sk_kube_object_key(obj, want, sizeof(want)) != 0 || strcmp(key, want) != 0)
    FAILF("foreach: key %s for object %s", key, want);
  s->n++;
  /* Insertion sort of the space-separated keys: the walk has no order. */
  char *at = s->keys;
  while (*at && strncmp(at, key, strlen(key)) < 0)
    at = strchr(at, ' ') + 1;
  size_t kl = strlen(key) + 1;
  if (strlen(s->keys) + kl < sizeof(s->keys)) {
    memmove(at + kl, at, strlen(at) + 1);
    memcpy(at, key, kl - 1);
    at[kl - 1] = ' ';
  }
}

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
  json_t *got = json_true();
  CHECK_INT(sk_kube_informer_get(e.inf, "ml/b", &got), SK_ENOENT);
  CHECK(got == NULL);
  CHECK(!sk_kube_informer_has(e.inf, "ml/b"));
  /* List items get the kind and apiVersion that watch events carry. */
  CHECK_INT(sk_kube_informer_get(e.inf, "ml/c", &got), 0);
  CHECK_STR(json_string_value(json_object_get(got, "kind")), "Pod");
  CHECK_STR(json_string_value(json_object_get(got, "apiVersion")), "v1");
  /* get hands out a copy of its own: changing it changes nothing cached. */
  json_object_set_new(json_object_get(got, "metadata"), "resourceVersion", json_string("99"));
  json_decref(got);
  check_cached(e.inf, "ml/c", "3");
  /* foreach sees every cached object once, under its key. */
  seen_t seen = {0};
  CHECK_INT(sk_kube_informer_foreach(e.inf, see, &seen), 0);
  CHECK_INT(seen.n, 3);
  CHECK_STR(seen.keys, "ml/a ml/c ml/d ");
  CHECK(sk_kube_informer_bytes(e.inf) > 0);
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

/* Whether obj went through strip_managed_fields, and through drop_x. */
static void check_shape(json_t *obj, bool stripped, bool transformed) {
  json_t *meta = json_object_get(obj, "metadata");
  CHECK(meta != NULL);
  CHECK(json_object_get(meta, "uid") != NULL);
  CHECK((json_object_get(meta, "managedFields") == NULL) == stripped);
  CHECK((json_object_get(json_object_get(obj, "spec"), "x") == NULL) == transformed);
}

/* The variant of the test running, for the handler below. */
static bool shape_stripped, shape_transformed;

static void h_shape(sk_kube_informer_t *inf, json_t *obj, void *arg) {
  check_shape(obj, shape_stripped, shape_transformed);
  h_add(inf, obj, arg);
}
static void h_shape_update(sk_kube_informer_t *inf, json_t *o, json_t *n, void *arg) {
  check_shape(o, shape_stripped, shape_transformed);
  check_shape(n, shape_stripped, shape_transformed);
  h_update(inf, o, n, arg);
}

static void drop_x(json_t *obj) { json_object_del(json_object_get(obj, "spec"), "x"); }

static void check_trimmed(sk_kube_informer_t *inf, const char *key, bool stripped,
                          bool transformed) {
  json_t *obj = NULL;
  CHECK_INT(sk_kube_informer_get(inf, key, &obj), 0);
  check_shape(obj, stripped, transformed);
  json_decref(obj);
}

TEST(strip_managed_fields_and_transform_lists_and_watch_events) {
  /* 0: nothing; 1: strip_managed_fields; 2: both and a transform. */
  for (int variant = 0; variant < 3; variant++) {
    env_t e;
    sk_kube_informer_opts_t o = {.strip_managed_fields = variant >= 1,
                                 .transform = variant == 2 ? drop_x : NULL};
    shape_stripped = variant >= 1;
    shape_transformed = variant == 2;
    /* Handlers see the objects as they are cached. */
    sk_kube_handlers_t h = {h_shape, h_shape_update, NULL, h_synced, NULL};
    REQUIRE(setup_with(&e, api_managed, &o, &h));
    CHECK_INT(sk_kube_informer_start(e.inf), 0);
    REQUIRE(run_until(loop, all_seen, &e.r, 5000));
    check_cached(e.inf, "ml/a", "72");
    check_cached(e.inf, "ml/b", "71");
    check_cached(e.inf, "ml/c", "2");
    /* Everything else of the object stays; without the options nothing
     * goes. c comes from the list only, b from an ADDED event, a from a
     * MODIFIED one. */
    check_trimmed(e.inf, "ml/a", shape_stripped, shape_transformed);
    check_trimmed(e.inf, "ml/b", shape_stripped, shape_transformed);
    check_trimmed(e.inf, "ml/c", shape_stripped, shape_transformed);
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
  sk__kube_store_t cache = {0};
  json_t *a1 = mk("a", "1"), *b1 = mk("b", "1"), *c1 = mk("c", "1");
  CHECK_INT(sk__kube_cache_upsert(&cache, a1, &em), 0);
  CHECK_INT(sk__kube_cache_upsert(&cache, b1, &em), 0);
  CHECK_INT(sk__kube_cache_upsert(&cache, c1, &em), 0);
  json_t *b2 = mk("b", "2");
  CHECK_INT(sk__kube_cache_upsert(&cache, b2, &em), 0);
  json_t *noname = json_pack("{s:{}}", "metadata");
  CHECK_INT(sk__kube_cache_upsert(&cache, noname, &em), SK_EINVAL);
  /* The update's old object is parsed from what was cached. */
  static const char *const w1[] = {"add a@1", "add b@1", "add c@1", "update b@1->2", NULL};
  check_log(&r, 0, -1, w1);

  /* A relist: a unchanged, b changed, c gone, d new. The unchanged
   * object's entry is shared with the list, not copied. */
  sk__kube_store_t fresh = {0};
  json_t *a1copy = mk("a", "1"), *b3 = mk("b", "3"), *d1 = mk("d", "1");
  sk__kube_entry_t *a_entry = sk__kube_store_find(&cache, "ml/a");
  REQUIRE(a_entry != NULL);
  CHECK_INT(sk__kube_cache_stage(&fresh, &cache, a1copy), 0);
  CHECK_INT(sk__kube_cache_stage(&fresh, &cache, b3), 0);
  CHECK_INT(sk__kube_cache_stage(&fresh, &cache, d1), 0);
  CHECK_INT(sk__kube_cache_stage(&fresh, &cache, noname), SK_EINVAL);
  CHECK(sk__kube_store_find(&fresh, "ml/a") == a_entry);
  CHECK_INT(a_entry->refs, 2);
  CHECK(sk__kube_store_find(&fresh, "ml/b") != sk__kube_store_find(&cache, "ml/b"));
  int from = r.n;
  CHECK_INT(sk__kube_cache_replace(&cache, &fresh, &em, false), 0);
  static const char *const w2[] = {"delete c@1", "update b@2->3", "add d@1", NULL};
  check_log(&r, from, -1, w2);
  CHECK_INT(fresh.n, 0);
  CHECK(fresh.slots == NULL);
  CHECK_INT(cache.n, 3);
  CHECK(sk__kube_store_find(&cache, "ml/a") == a_entry);
  CHECK_INT(a_entry->refs, 1);

  /* After a restart (all): every object again, an unchanged one as
   * update(obj, obj). */
  CHECK_INT(sk__kube_cache_stage(&fresh, &cache, a1copy), 0);
  CHECK_INT(sk__kube_cache_stage(&fresh, &cache, b3), 0);
  CHECK_INT(sk__kube_cache_stage(&fresh, &cache, d1), 0);
  from = r.n;
  CHECK_INT(sk__kube_cache_replace(&cache, &fresh, &em, true), 0);
  static const char *const w3[] = {"update a@1->1", "update b@3->3", "update d@1->1", NULL};
  check_log(&r, from, -1, w3);

  from = r.n;
  CHECK_INT(sk__kube_cache_remove(&cache, d1, &em), 0);
  /* A deletion of something not cached is still reported. */
  CHECK_INT(sk__kube_cache_remove(&cache, c1, &em), 0);
  static const char *const w4[] = {"delete d@1", "delete c@1", NULL};
  check_log(&r, from, -1, w4);
  CHECK(sk__kube_store_find(&cache, "ml/d") == NULL);
  CHECK_INT(cache.n, 2);
  json_t *objs[] = {a1, b1, c1, b2, noname, a1copy, b3, d1};
  for (size_t i = 0; i < sizeof(objs) / sizeof(objs[0]); i++)
    json_decref(objs[i]);
  sk__kube_store_clear(&cache);
  CHECK_INT(cache.n, 0);
  CHECK_INT(cache.bytes, 0);
}

/* The store against a jansson object as the oracle, through enough puts
 * and takes to grow the table several times and to shift runs back after
 * takes; then every entry's text against its object. */
TEST(cache_store_against_an_oracle) {
  sk__kube_store_t s = {0};
  json_t *oracle = json_object();
  uint64_t rng = 42;
  char name[32], key[40], rv[24];
  for (int i = 0; i < 30000; i++) {
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    unsigned k = (unsigned)(rng >> 33) % 3000;
    snprintf(name, sizeof(name), "obj-%u", k);
    snprintf(key, sizeof(key), "ml/%s", name);
    if ((rng >> 24) % 3 == 0) {
      sk__kube_entry_t *e = sk__kube_store_take(&s, key);
      if ((e != NULL) != (json_object_get(oracle, key) != NULL))
        FAILF("take %s: %s, the oracle says %s", key, e ? "found" : "absent",
              e ? "absent" : "present");
      if (e && strcmp(sk__kube_entry_key(e), key) != 0)
        FAILF("take %s returned %s", key, sk__kube_entry_key(e));
      sk__kube_entry_unref(e);
      json_object_del(oracle, key);
      continue;
    }
    snprintf(rv, sizeof(rv), "%d", i);
    json_t *obj = mk(name, rv);
    sk__kube_entry_t *e = NULL;
    CHECK_INT(sk__kube_entry_new(obj, &e), 0);
    json_decref(obj);
    if (!e || sk__kube_store_put(&s, e) != 0)
      break;
    json_object_set_new(oracle, key, json_string(rv));
  }
  CHECK_INT(s.n, json_object_size(oracle));
  const char *k;
  json_t *v;
  json_object_foreach(oracle, k, v) {
    const sk__kube_entry_t *e = sk__kube_store_find(&s, k);
    if (!e || strcmp(sk__kube_entry_rv(e), json_string_value(v)) != 0)
      FAILF("%s: %s, want resourceVersion %s", k, e ? sk__kube_entry_rv(e) : "absent",
            json_string_value(v));
  }
  size_t pos = 0, walked = 0, bytes = s.cap * sizeof(*s.slots);
  sk__kube_entry_t *e;
  while ((e = sk__kube_store_next(&s, &pos))) {
    walked++;
    bytes += sizeof(*e) + e->klen + 1 + e->rvlen + 1 + e->len + 1;
    json_t *obj = NULL;
    CHECK_INT(sk__kube_entry_parse(e, &obj), 0);
    if (strcmp(sk_kube_object_rv(obj), sk__kube_entry_rv(e)) != 0 ||
        strcmp(oname(obj), sk__kube_entry_key(e) + 3) != 0)
      FAILF("entry %s holds %s@%s", sk__kube_entry_key(e), oname(obj), sk_kube_object_rv(obj));
    json_decref(obj);
  }
  CHECK_INT(walked, s.n);
  CHECK_INT(s.bytes, bytes);
  /* Taking everything leaves only the table. */
  json_object_foreach(oracle, k, v) sk__kube_entry_unref(sk__kube_store_take(&s, k));
  CHECK_INT(s.n, 0);
  CHECK_INT(s.bytes, s.cap * sizeof(*s.slots));
  CHECK(sk__kube_store_find(&s, "ml/obj-1") == NULL);
  sk__kube_store_clear(&s);
  json_decref(oracle);
}

/* The text keeps everything JSON can say: the parsed object is equal to
 * the one cached. */
TEST(cache_text_round_trips) {
  json_t *obj = json_pack(
      "{s:s, s:{s:s, s:s, s:s, s:{s:s}}, s:{s:I, s:I, s:f, s:f, s:b, s:n, s:[i, s, [], {}]}}",
      "kind", "Thing", "metadata", "name", "r\u00e9sum\u00e9-1", "namespace", "ml",
      "resourceVersion", "123456789", "labels", "a/b", "quote \" slash \\ tab \t nl \n",
      "spec", "big", (json_int_t)9007199254740993LL, "neg", (json_int_t)-42, "third", 1.0 / 3.0,
      "tiny", 5e-324, "yes", 1, "none", "list", 1, "\u2603 snow", "");
  REQUIRE(obj != NULL);
  sk__kube_entry_t *e = NULL;
  CHECK_INT(sk__kube_entry_new(obj, &e), 0);
  REQUIRE(e != NULL);
  CHECK_STR(sk__kube_entry_key(e), "ml/r\u00e9sum\u00e9-1");
  CHECK_STR(sk__kube_entry_rv(e), "123456789");
  /* Compact: no space after a separator (the strings hold their own). */
  CHECK(strstr(sk__kube_entry_text(e), "\":") != NULL);
  CHECK(strstr(sk__kube_entry_text(e), "\": ") == NULL);
  json_t *back = NULL;
  CHECK_INT(sk__kube_entry_parse(e, &back), 0);
  CHECK(json_equal(obj, back));
  json_decref(back);
  sk__kube_entry_unref(e);
  /* An object past the stack buffer goes through the heap. */
  char *big = malloc(20000);
  REQUIRE(big != NULL);
  memset(big, 'x', 19999);
  big[19999] = '\0';
  json_object_set_new(json_object_get(obj, "spec"), "big", json_string(big));
  free(big);
  CHECK_INT(sk__kube_entry_new(obj, &e), 0);
  REQUIRE(e != NULL);
  CHECK(e->len > 20000);
  CHECK_INT(sk__kube_entry_parse(e, &back), 0);
  CHECK(json_equal(obj, back));
  json_decref(back);
  sk__kube_entry_unref(e);
  json_decref(obj);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  uv_loop_t lp;
  uv_loop_init(&lp);
  loop = &lp;
  RUN(cache_replace_rules);
  RUN(cache_store_against_an_oracle);
  RUN(cache_text_round_trips);
  RUN(list_pages_then_watch_and_rewatch_from_last_rv);
  RUN(error_410_event_relists_and_replaces_the_cache);
  RUN(gone_continue_restarts_list_and_http_410_relists);
  RUN(errors_and_429_back_off_then_resume);
  RUN(destroy_while_listing);
  RUN(stop_from_a_handler_then_restart);
  RUN(destroy_from_a_handler);
  RUN(client_destroyed_under_a_running_informer);
  RUN(strip_managed_fields_and_transform_lists_and_watch_events);
  uv_run(&lp, UV_RUN_NOWAIT);
  if (uv_loop_close(&lp) != 0) {
    printf("FAIL the loop still has handles\n");
    sk_test_failed++;
  }
  curl_global_cleanup();
  return TEST_DONE();
}
