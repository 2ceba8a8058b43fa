/* Credentials and watches against the fake apiserver: a token file that
 * rotates, exec plugins (one run for concurrent calls, cached until expiry,
 * re-run on 401, failures reported with the plugin's stderr), and raw
 * watch streams (events split across chunks, ERROR 410, HTTP 410). */
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


static void write_file(const char *path, const char *content, int mode) {
  FILE *fp = fopen(path, "w");
  if (!fp)
    return;
  fputs(content, fp);
  fclose(fp);
  chmod(path, (mode_t)mode);
}

static long read_counter(const char *path) {
  FILE *fp = fopen(path, "r");
  long n = 0;
  if (fp) {
    if (fscanf(fp, "%ld", &n) != 1)
      n = -1;
    fclose(fp);
  }
  return n;
}

TEST(token_file_rotates_after_401) {
  char path[700];
  snprintf(path, sizeof(path), "%s/token", tmpdir);
  write_file(path, "tok-A\n", 0600);
  script_t s = {0};
  fake_t f;
  REQUIRE(fake_start(&f, loop, scripted, &s) == 0);
  for (int i = 0; i < 3; i++)
    push(&s, 200, "", "{}");
  sk_kube_config_t cfg = {.server = f.url, .token_file = path};
  sk_kube_client_t *c = sk_kube_client_create(loop, NULL, &cfg, NULL);
  REQUIRE(c);
  sk_kube_ref_t p = pods;
  p.name = "p";
  got_t g[3] = {0};
  CHECK_INT(sk_kube_get(c, &p, on_got, &g[0], NULL), 0);
  REQUIRE(run_until(loop, got_done, &g[0], 5000));
  CHECK_INT(g[0].err, 0);
  CHECK_STR(f.reqs[0].auth, "Bearer tok-A");
  /* The token rotates; the apiserver stops taking the old one. */
  write_file(path, "tok-B\n", 0600);
  s.reject_auth = "Bearer tok-A";
  CHECK_INT(sk_kube_get(c, &p, on_got, &g[1], NULL), 0);
  REQUIRE(run_until(loop, got_done, &g[1], 5000));
  /* Within a second of the last look the cached token may still go out
   * and be refused; after a 401 the file is read again at once. */
  if (g[1].err != 0)
    CHECK_INT(g[1].code, 401);
  CHECK_INT(sk_kube_get(c, &p, on_got, &g[2], NULL), 0);
  REQUIRE(run_until(loop, got_done, &g[2], 5000));
  CHECK_INT(g[2].err, 0);
  CHECK_STR(f.reqs[f.nreq - 1].auth, "Bearer tok-B");
  for (int i = 0; i < 3; i++)
    got_release(&g[i]);
  finish(c, &f);
}

/* Writes a plugin that counts its runs and prints a token naming the run. */
static void make_plugin(const char *path, const char *expiry) {
  char script[2048];
  snprintf(script, sizeof(script),
           "#!/bin/sh\n"
           "n=$(cat \"$COUNTER\" 2>/dev/null || echo 0)\n"
           "n=$((n+1))\n"
           "echo $n > \"$COUNTER\"\n"
           "printf '%%s' \"$KUBERNETES_EXEC_INFO\" > \"$COUNTER.info\"\n"
           "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",'\n"
           "echo \"\\\"status\\\":{\\\"token\\\":\\\"exec-$n-$1\\\",\"\n"
           "echo '\"expirationTimestamp\":\"%s\"}}'\n",
           expiry);
  write_file(path, script, 0755);
}

static sk_kube_client_t *exec_client(fake_t *f, const char *plugin, const char *counter) {
  char *args[] = {"x"};
  sk_kube_env_t env[] = {{"COUNTER", (char *)counter}};
  sk_kube_exec_config_t x = {.api_version = "client.authentication.k8s.io/v1",
                             .command = (char *)plugin, .args = args, .argc = 1, .env = env,
                             .envc = 1};
  sk_kube_config_t cfg = {.server = f->url, .exec = &x};
  return sk_kube_client_create(loop, NULL, &cfg, NULL);
}

TEST(exec_plugin_cached_and_rerun_on_401) {
  char plugin[700], counter[700];
  snprintf(plugin, sizeof(plugin), "%s/plugin.sh", tmpdir);
  snprintf(counter, sizeof(counter), "%s/count", tmpdir);
  unlink(counter);
  make_plugin(plugin, "2099-01-01T00:00:00Z");
  script_t s = {0};
  fake_t f;
  REQUIRE(fake_start(&f, loop, scripted, &s) == 0);
  for (int i = 0; i < 4; i++)
    push(&s, 200, "", "{}");
  sk_kube_client_t *c = exec_client(&f, plugin, counter);
  REQUIRE(c);
  sk_kube_ref_t p = pods;
  p.name = "p";
  got_t g[4] = {0};
  /* Two calls at once share one plugin run. */
  CHECK_INT(sk_kube_get(c, &p, on_got, &g[0], NULL), 0);
  CHECK_INT(sk_kube_get(c, &p, on_got, &g[1], NULL), 0);
  gots_t two = {g, 2};
  REQUIRE(run_until(loop, all_done, &two, 10000));
  CHECK_INT(g[0].err, 0);
  CHECK_INT(g[1].err, 0);
  CHECK_INT(read_counter(counter), 1);
  REQUIRE(f.nreq == 2);
  CHECK_STR(f.reqs[0].auth, "Bearer exec-1-x");
  CHECK_STR(f.reqs[1].auth, "Bearer exec-1-x");
  /* The plugin was told it cannot ask anyone anything. */
  char info[800];
  snprintf(info, sizeof(info), "%s.info", counter);
  json_t *ji = json_load_file(info, 0, NULL);
  CHECK(json_is_false(json_object_get(json_object_get(ji, "spec"), "interactive")));
  json_decref(ji);
  /* Cached: the next call runs no plugin. */
  CHECK_INT(sk_kube_get(c, &p, on_got, &g[2], NULL), 0);
  REQUIRE(run_until(loop, got_done, &g[2], 10000));
  CHECK_INT(read_counter(counter), 1);
  /* Revoked: a 401 re-runs the plugin and the call is retried once. */
  s.reject_auth = "Bearer exec-1-x";
  CHECK_INT(sk_kube_get(c, &p, on_got, &g[3], NULL), 0);
  REQUIRE(run_until(loop, got_done, &g[3], 10000));
  CHECK_INT(g[3].err, 0);
  CHECK_INT(read_counter(counter), 2);
  REQUIRE(f.nreq == 5);
  CHECK_STR(f.reqs[3].auth, "Bearer exec-1-x");
  CHECK_STR(f.reqs[4].auth, "Bearer exec-2-x");
  for (int i = 0; i < 4; i++)
    got_release(&g[i]);
  finish(c, &f);
}

TEST(exec_plugin_expired_credential_is_fetched_again) {
  char plugin[700], counter[700];
  snprintf(plugin, sizeof(plugin), "%s/plugin-old.sh", tmpdir);
  snprintf(counter, sizeof(counter), "%s/count-old", tmpdir);
  unlink(counter);
  make_plugin(plugin, "2001-01-01T00:00:00Z");
  script_t s = {0};
  fake_t f;
  REQUIRE(fake_start(&f, loop, scripted, &s) == 0);
  push(&s, 200, "", "{}");
  push(&s, 200, "", "{}");
  sk_kube_client_t *c = exec_client(&f, plugin, counter);
  REQUIRE(c);
  sk_kube_ref_t p = pods;
  p.name = "p";
  got_t g[2] = {0};
  for (int i = 0; i < 2; i++) {
    CHECK_INT(sk_kube_get(c, &p, on_got, &g[i], NULL), 0);
    REQUIRE(run_until(loop, got_done, &g[i], 10000));
    CHECK_INT(g[i].err, 0);
  }
  /* Each call needed a new run, and each used what its run gave. */
  CHECK_INT(read_counter(counter), 2);
  CHECK_STR(f.reqs[1].auth, "Bearer exec-2-x");
  for (int i = 0; i < 2; i++)
    got_release(&g[i]);
  finish(c, &f);
}

TEST(exec_plugin_failure_is_reported) {
  char plugin[700];
  snprintf(plugin, sizeof(plugin), "%s/fail.sh", tmpdir);
  write_file(plugin, "#!/bin/sh\necho 'please run: cloud login' >&2\nexit 3\n", 0755);
  script_t s = {0};
  fake_t f;
  REQUIRE(fake_start(&f, loop, scripted, &s) == 0);
  sk_kube_client_t *c = exec_client(&f, plugin, "unused");
  REQUIRE(c);
  sk_kube_ref_t p = pods;
  p.name = "p";
  got_t g = {0};
  CHECK_INT(sk_kube_get(c, &p, on_got, &g, NULL), 0);
  REQUIRE(run_until(loop, got_done, &g, 10000));
  CHECK_INT(g.err, SK_EIO);
  char want[900];
  snprintf(want, sizeof(want), "exec plugin %s: exited with status 3: please run: cloud login",
           plugin);
  CHECK_STR(g.msg, want);
  CHECK_INT(f.nreq, 0);
  got_release(&g);
  sk_kube_client_destroy(c);

  /* A plugin that does not exist cannot start. */
  snprintf(plugin, sizeof(plugin), "%s/no-such-plugin", tmpdir);
  c = exec_client(&f, plugin, "unused");
  REQUIRE(c);
  CHECK_INT(sk_kube_get(c, &p, on_got, &g, NULL), 0);
  g.done = 0;
  REQUIRE(run_until(loop, got_done, &g, 10000));
  CHECK_INT(g.err, SK_EIO);
  CHECK(strstr(g.msg, "cannot start") != NULL);
  got_release(&g);
  finish(c, &f);
}

/* ---- raw watches ---- */

typedef struct {
  int mode; /* 0: events split over chunks then ERROR 410; 1: HTTP 410; 2: normal end */
} watch_t;

static void watch_server(fake_t *f, fake_conn_t *conn, const fake_req_t *req, void *arg) {
  watch_t *w = arg;
  (void)f;
  (void)req;
  if (w->mode == 1) {
    fake_reply_status(conn, 410, "Expired", "too old resource version: 1 (9)", "");
    return;
  }
  fake_stream_begin(conn, 200);
  const char *ev = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\","
                   "\"resourceVersion\":\"2\"}}}\n{\"type\":\"MODIFIED\",\"object\":"
                   "{\"metadata\":{\"name\":\"b\",\"resourceVersion\":\"3\"}}}\n";
  /* Cut in the middle of the second event, so it spans two chunks. */
  fake_stream_send(conn, ev, 100);
  fake_stream_send(conn, ev + 100, strlen(ev) - 100);
  if (w->mode == 0)
    fake_stream_printf(conn, "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,"
                             "\"reason\":\"Expired\",\"message\":\"too old\"}}\n");
  fake_stream_end(conn);
}

/* What one raw watch saw: its events and how it ended. */
typedef struct {
  got_t end;
  int events;
  char names[8][16];
  int types[8];
} seen_t;

static int on_watch_event(const sk_kube_event_t *ev, void *arg) {
  seen_t *w = arg;
  if (w->events < 8) {
    w->types[w->events] = (int)ev->type;
    const char *n = json_string_value(json_object_get(json_object_get(ev->object, "metadata"),
                                                      "name"));
    snprintf(w->names[w->events], sizeof(w->names[0]), "%s", n ? n : "");
  }
  w->events++;
  return 0;
}

static void on_watch_done(const sk_kube_result_t *r, void *arg) {
  seen_t *w = arg;
  on_got(r, &w->end);
}

static bool watch_ended(void *arg) { return ((seen_t *)arg)->end.done > 0; }

TEST(raw_watch_events_and_gone) {
  watch_t mode = {0};
  fake_t f;
  REQUIRE(fake_start(&f, loop, watch_server, &mode) == 0);
  sk_kube_config_t cfg = {.server = f.url, .token = "t"};
  sk_kube_client_t *c = sk_kube_client_create(loop, NULL, &cfg, NULL);
  REQUIRE(c);
  sk_kube_call_opts_t o = {.resource_version = "1", .allow_bookmarks = true,
                           .watch_timeout_s = 30};
  static const int want_err[3] = {SK_EGONE, SK_EGONE, 0};
  static const int want_events[3] = {3, 0, 2};
  for (int m = 0; m < 3; m++) {
    mode.mode = m;
    seen_t w = {0};
    CHECK_INT(sk_kube_watch(c, &pods, &o, on_watch_event, on_watch_done, &w, NULL), 0);
    REQUIRE(run_until(loop, watch_ended, &w, 5000));
    if (w.end.err != want_err[m] || w.events != want_events[m])
      FAILF("mode %d: err %d (%s), %d events", m, w.end.err, w.end.msg, w.events);
    if (w.events >= 2) {
      CHECK_INT(w.types[0], SK_KUBE_EV_ADDED);
      CHECK_STR(w.names[0], "a");
      CHECK_INT(w.types[1], SK_KUBE_EV_MODIFIED);
      CHECK_STR(w.names[1], "b");
    }
    if (m == 1)
      CHECK_STR(w.end.msg, "too old resource version: 1 (9)");
    CHECK_INT(w.end.code, m == 2 ? 200 : 410);
    got_release(&w.end);
  }
  REQUIRE(f.nreq == 3);
  CHECK_STR(f.reqs[0].path, "/api/v1/namespaces/ml/pods");
  CHECK_STR(f.reqs[0].query,
            "watch=true&resourceVersion=1&allowWatchBookmarks=true&timeoutSeconds=30");
  finish(c, &f);
}

int main(void) {
  if (kt_begin("kubeauth") != 0)
    return 1;
  RUN(token_file_rotates_after_401);
  RUN(exec_plugin_cached_and_rerun_on_401);
  RUN(exec_plugin_expired_credential_is_fetched_again);
  RUN(exec_plugin_failure_is_reported);
  RUN(raw_watch_events_and_gone);
  return kt_end();
}
