/*
 * Helpers shared by the kube client tests that talk to the fake apiserver:
 * scripted answers, result capture, and a client set up for the fake.
 * Everything is static; the including file defines `loop`.
 */
#ifndef SK_TEST_KUBE_TESTCLI_H
#define SK_TEST_KUBE_TESTCLI_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kube.h"
#include "kube_fakeapi.h"
#include "sk_test.h"
#include "util/timeutil.h"

static uv_loop_t *loop;
static uv_loop_t kt_loop;
static char tmpdir[512];

/* The start of a test program's main: a scratch directory named after the
 * program, curl, and the loop. Returns 0, or 1 after printing why. */
static int KT_UNUSED kt_begin(const char *name) {
  const char *t = getenv("TMPDIR");
  snprintf(tmpdir, sizeof(tmpdir), "%s/skein-%s-XXXXXX", t && *t ? t : "/tmp", name);
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  uv_loop_init(&kt_loop);
  loop = &kt_loop;
  return 0;
}

/* The end: the loop must close clean, and the scratch directory goes. */
static int KT_UNUSED kt_end(void) {
  uv_run(&kt_loop, UV_RUN_NOWAIT);
  if (uv_loop_close(&kt_loop) != 0) {
    printf("FAIL the loop still has handles\n");
    sk_test_failed++;
  }
  curl_global_cleanup();
  char cmd[700];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0)
    perror("rm");
  return TEST_DONE();
}

static const sk_kube_ref_t pods KT_UNUSED = {.gvr = {"", "v1", "pods"}, .namespace = "ml"};

/* ---- scripted answers ---- */

typedef struct {
  int status;
  const char *extra;
  const char *body;
  bool hang; /* keep the request open without answering */
} canned_t;

typedef struct {
  canned_t q[32];
  int n, next;
  fake_conn_t *held[8];
  int nheld;
  const char *reject_auth; /* answer 401 to this Authorization value */
} script_t;

static KT_UNUSED void scripted(fake_t *f, fake_conn_t *conn, const fake_req_t *req, void *arg) {
  script_t *s = arg;
  (void)f;
  if (s->reject_auth && strcmp(req->auth, s->reject_auth) == 0) {
    fake_reply_status(conn, 401, "Unauthorized", "Unauthorized", "");
    return;
  }
  if (s->next >= s->n) {
    fake_reply_status(conn, 500, "InternalError", "no answer scripted", "");
    return;
  }
  canned_t *c = &s->q[s->next++];
  if (c->hang) {
    if (s->nheld < 8)
      s->held[s->nheld++] = conn;
    return;
  }
  fake_reply(conn, c->status, c->extra, c->body);
}

static KT_UNUSED void push(script_t *s, int status, const char *extra, const char *body) {
  s->q[s->n++] = (canned_t){.status = status, .extra = extra, .body = body};
}

/* ---- results ---- */

typedef struct {
  int done;
  int err;
  long code;
  char reason[64];
  char msg[512];
  long retry_after;
  json_t *body;
  int64_t at;
} got_t;

static KT_UNUSED void on_got(const sk_kube_result_t *r, void *arg) {
  got_t *g = arg;
  g->done++;
  g->err = r->err;
  g->code = r->code;
  g->retry_after = r->retry_after_s;
  g->at = sk_time_mono_ms();
  snprintf(g->reason, sizeof(g->reason), "%s", r->reason ? r->reason : "");
  snprintf(g->msg, sizeof(g->msg), "%s", r->message ? r->message : "");
  json_decref(g->body);
  g->body = json_incref(r->body);
}

static KT_UNUSED bool got_done(void *arg) { return ((got_t *)arg)->done > 0; }

typedef struct {
  got_t *g;
  int n;
} gots_t;

static KT_UNUSED bool all_done(void *arg) {
  gots_t *a = arg;
  for (int i = 0; i < a->n; i++)
    if (!a->g[i].done)
      return false;
  return true;
}

static KT_UNUSED void got_release(got_t *g) {
  json_decref(g->body);
  g->body = NULL;
}

typedef struct {
  int counts[SK_KUBE_VERB_COUNT];
  long last_code;
} metrics_t;

static KT_UNUSED void on_metric(sk_kube_verb_t verb, long code, double secs, void *arg) {
  metrics_t *m = arg;
  (void)secs;
  m->counts[verb]++;
  m->last_code = code;
}

/* A client for the fake with a static token. */
static KT_UNUSED sk_kube_client_t *client_for(fake_t *f, const sk_kube_client_opts_t *opts) {
  sk_kube_config_t cfg = {.server = f->url, .token = "secret-token", .namespace = "ml"};
  return sk_kube_client_create(loop, NULL, &cfg, opts);
}

static KT_UNUSED bool loop_clean_cond(void *arg) { return fake_foreign_handles(arg) == 0; }

/* Destroys the client and checks that it closed every handle it had. */
static KT_UNUSED void finish(sk_kube_client_t *c, fake_t *f) {
  sk_kube_client_destroy(c);
  if (!run_until(loop, loop_clean_cond, f, 5000))
    FAILF("the client left %d handles on the loop", fake_foreign_handles(f));
  fake_stop(f);
}

#endif
