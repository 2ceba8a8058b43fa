/*
 * sk_daemon_run: skeind as a process. It loads the client configuration,
 * builds everything on one libuv loop (HTTP client, Kubernetes client,
 * metrics and probe servers, event recorder, the workflow controller),
 * then either starts the controller at once or competes for the Lease and
 * starts it only while leading. SIGTERM or SIGINT shut it down in order:
 * stop reconciling, release the Lease, flush Events (bounded), close the
 * servers, and let the loop run dry.
 */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon-int.h"
#include "kube/caller.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"

#define LOGGER SK_DAEMON_LOGGER
#define FLUSH_TIMEOUT_MS 3000

typedef struct {
  const sk_daemon_flags_t *f;
  uv_loop_t loop;
  sk_kube_config_t *cfg;
  sk_http_t *http;
  sk_kube_client_t *client;
  sk_kube_caller_t caller;
  sk_metrics_t *metrics;
  sk_metric_t *m_api;
  sk_metric_t *m_leader;
  sk_server_t *metrics_srv;
  sk_server_t *health_srv;
  sk_kube_recorder_t *recorder;
  sk_daemon_ctrl_t *ctrl;
  sk_kube_elector_t *elector;
  bool leading;
  bool ctrl_started;
  bool shutting_down;
  int exit_code;
  uv_signal_t sigterm, sigint;
  uv_timer_t flush_timer;
  bool flush_timer_open;
} daemon_t;

static void shutdown_daemon(daemon_t *d, int code);

/* ---- bridges from the libraries to the log and the metrics ---- */

static void kube_metric(sk_kube_verb_t verb, long code, double seconds, void *arg) {
  daemon_t *d = arg;
  char c[16];
  snprintf(c, sizeof(c), "%ld", code);
  const char *v[] = {sk_kube_verb_name(verb), code ? c : "<error>", NULL};
  sk_metric_inc(d->m_api, v);
}

static double events_dropped(void *arg) {
  daemon_t *d = arg;
  sk_kube_recorder_stats_t st;
  if (!d->recorder)
    return 0;
  sk_kube_recorder_stats(d->recorder, &st);
  return (double)st.dropped;
}

static void metrics_warn(const char *message, void *arg) { sk_log_warn("metrics", "%s", message); }

static bool ready(void *arg, sk_buf_t *reason) {
  daemon_t *d = arg;
  if (d->shutting_down) {
    sk_buf_puts(reason, "shutting down");
    return false;
  }
  /* A replica waiting for the Lease is ready: it is a healthy standby. */
  if (!d->ctrl_started)
    return true;
  if (!sk_daemon_ctrl_synced(d->ctrl)) {
    sk_buf_puts(reason, "informer caches have not synced yet");
    return false;
  }
  return true;
}

/* ---- leading ---- */

static void start_controller(daemon_t *d) {
  if (d->ctrl_started || d->shutting_down)
    return;
  int rc = sk_daemon_ctrl_start(d->ctrl);
  if (rc < 0) {
    sk_log_error(LOGGER, "starting the controller failed: %s", sk_strerror(rc));
    shutdown_daemon(d, 1);
    return;
  }
  d->ctrl_started = true;
  sk_log_info(LOGGER, "reconciling Workflows in %s",
              d->f->namespace_ ? d->f->namespace_ : "all namespaces");
}

static void started_leading(sk_kube_elector_t *e, void *arg) {
  daemon_t *d = arg;
  d->leading = true;
  sk_metric_set(d->m_leader, NULL, 1);
  sk_log_info(LOGGER, "became leader as %s", sk_kube_elector_identity(e));
  start_controller(d);
}

static void stopped_leading(sk_kube_elector_t *e, void *arg) {
  daemon_t *d = arg;
  d->leading = false;
  sk_metric_set(d->m_leader, NULL, 0);
  if (d->shutting_down)
    return;
  /* Another replica may be leading already: stop writing at once and exit,
   * as controllers do; the Deployment starts a fresh follower. The elector
   * stops competing now, without a release (the Lease is not ours): left
   * running while the controller winds down, it would take the Lease
   * again (a deleted one it creates anew) and hold it until the exit. */
  sk_log_error(LOGGER, "lost the leader lease; stopping");
  sk_kube_elector_stop(e, false, NULL, NULL);
  shutdown_daemon(d, 1);
}

static void new_leader(sk_kube_elector_t *e, const char *identity, void *arg) {
  sk_log_info(LOGGER, "leader is now %s", identity[0] ? identity : "(none)");
}

/* ---- shutdown, in steps ---- */

static void on_server_closed(void *arg) { (void)arg; }

static void close_everything(daemon_t *d) {
  sk_server_close(d->metrics_srv, on_server_closed, NULL);
  sk_server_close(d->health_srv, on_server_closed, NULL);
  d->metrics_srv = d->health_srv = NULL;
  sk_daemon_ctrl_destroy(d->ctrl);
  d->ctrl = NULL;
  sk_kube_elector_destroy(d->elector);
  d->elector = NULL;
  sk_kube_recorder_destroy(d->recorder);
  d->recorder = NULL;
  sk_kube_client_destroy(d->client);
  d->client = NULL;
  sk_http_destroy(d->http);
  d->http = NULL;
  uv_close((uv_handle_t *)&d->sigterm, NULL);
  uv_close((uv_handle_t *)&d->sigint, NULL);
  if (d->flush_timer_open)
    uv_close((uv_handle_t *)&d->flush_timer, NULL);
  d->flush_timer_open = false;
}

static void flush_timed_out(uv_timer_t *t) {
  daemon_t *d = t->data;
  sk_log_warn(LOGGER, "events not written within %d ms are dropped", FLUSH_TIMEOUT_MS);
  close_everything(d);
}

static void flushed(sk_kube_recorder_t *r, void *arg) {
  daemon_t *d = arg;
  if (d->flush_timer_open)
    uv_timer_stop(&d->flush_timer);
  close_everything(d);
}

static void after_release(sk_kube_elector_t *e, void *arg) {
  daemon_t *d = arg;
  if (d->recorder && sk_kube_recorder_flush(d->recorder, flushed, d) == 0 &&
      uv_timer_init(&d->loop, &d->flush_timer) == 0) {
    d->flush_timer_open = true;
    d->flush_timer.data = d;
    uv_timer_start(&d->flush_timer, flush_timed_out, FLUSH_TIMEOUT_MS, 0);
    return;
  }
  close_everything(d);
}

static void after_ctrl_stop(void *arg) {
  daemon_t *d = arg;
  if (d->elector && sk_kube_elector_stop(d->elector, true, after_release, d) == 0)
    return;
  after_release(NULL, d);
}

static void shutdown_daemon(daemon_t *d, int code) {
  if (d->shutting_down)
    return;
  d->shutting_down = true;
  d->exit_code = code;
  if (d->ctrl)
    sk_daemon_ctrl_stop(d->ctrl, after_ctrl_stop, d);
  else
    after_ctrl_stop(d);
}

static void on_signal(uv_signal_t *h, int signum) {
  daemon_t *d = h->data;
  if (d->shutting_down) {
    sk_log_warn(LOGGER, "second signal: exiting at once");
    exit(d->exit_code ? d->exit_code : 1);
  }
  sk_log_info(LOGGER, "%s: shutting down", signum == SIGTERM ? "SIGTERM" : "SIGINT");
  shutdown_daemon(d, 0);
}

/* ---- setup ---- */

static int make_server(daemon_t *d, const char *bind, sk_server_t **out) {
  *out = NULL;
  if (!bind || strcmp(bind, "0") == 0)
    return 0;
  sk_server_opts_t so = {0};
  so.bind = bind;
  so.instrument = d->metrics;
  return sk_server_create(&d->loop, &so, out);
}

static int setup(daemon_t *d, char *err, size_t errlen) {
  const sk_daemon_flags_t *f = d->f;
  sk_kube_config_opts_t co = {0};
  co.kubeconfig = f->kubeconfig;
  co.context = f->context;
  int rc = sk_kube_config_load(&co, &d->cfg, err, errlen);
  if (rc < 0)
    return rc;
  sk_log_info(LOGGER, "API server %s (from %s)", d->cfg->server, d->cfg->source);

  d->metrics = sk_metrics_create(0);
  if (!d->metrics)
    return SK_ENOMEM;
  sk_metrics_set_warn(d->metrics, metrics_warn, d);
  const char *verb_code[] = {"verb", "code", NULL};
  const char *none[] = {NULL};
  sk_metrics_counter(d->metrics, "skein_kube_requests_total",
                     "Requests to the Kubernetes API, by verb and HTTP code.", verb_code,
                     &d->m_api);
  sk_metrics_gauge(d->metrics, "skein_leader", "1 while this replica reconciles (leads).", none,
                   &d->m_leader);
  sk_metric_set(d->m_leader, NULL, f->leader_elect ? 0 : 1);

  d->http = sk_http_create(&d->loop);
  if (!d->http)
    return SK_ENOMEM;
  sk_kube_client_opts_t ko = {0};
  ko.qps = f->qps;
  ko.burst = f->burst;
  /* No log sink: the client's own logging keeps the verbosity of each
   * line (informer transitions at -v 1, requests at -v 2), which a sink
   * cannot see. */
  ko.metric = kube_metric;
  ko.metric_arg = d;
  d->client = sk_kube_client_create(&d->loop, d->http, d->cfg, &ko);
  if (!d->client)
    return SK_ENOMEM;
  sk_kube_caller_client(&d->caller, d->client);
  if ((rc = sk_kube_recorder_create(&d->caller, NULL, &d->recorder)) < 0)
    return rc;
  /* Events the recorder gave up on (queue full, or a write failed for
   * good), so that a burst that loses Events shows. */
  sk_metric_t *dropped = NULL;
  if (sk_metrics_gauge_fn(d->metrics, "skein_events_dropped_total",
                          "Events not written: the recorder's queue was full or a write failed.",
                          none, &dropped) == 0)
    sk_metric_set_fn(dropped, NULL, events_dropped, d);

  sk_daemon_ctrl_opts_t o = {0};
  o.loop = &d->loop;
  o.client = d->client;
  o.recorder = d->recorder;
  o.metrics = d->metrics;
  o.namespace = f->namespace_;
  o.workers = (unsigned)f->workers;
  o.http = d->http;
  o.gcp_project = f->gcp_project ? f->gcp_project : getenv("GOOGLE_CLOUD_PROJECT");
  o.aws_region = f->aws_region ? f->aws_region : getenv("AWS_REGION");
  if (!o.aws_region)
    o.aws_region = getenv("AWS_DEFAULT_REGION");
  o.vertex_qps = f->vertex_qps;
  o.sagemaker_qps = f->sagemaker_qps;
  if ((rc = sk_daemon_ctrl_create(&o, &d->ctrl)) < 0)
    return rc;

  if ((rc = make_server(d, f->metrics_addr, &d->metrics_srv)) < 0 ||
      (rc = make_server(d, f->health_addr, &d->health_srv)) < 0) {
    snprintf(err, errlen, "bad bind address (--metrics-bind-address or "
                          "--health-probe-bind-address)");
    return rc;
  }
  if (d->metrics_srv && (rc = sk_server_handle_metrics(d->metrics_srv, d->metrics)) < 0)
    return rc;
  if (d->health_srv && (rc = sk_server_handle_health(d->health_srv, ready, d)) < 0)
    return rc;
  if (d->metrics_srv && (rc = sk_server_start(d->metrics_srv)) < 0) {
    snprintf(err, errlen, "cannot listen on --metrics-bind-address %s: %s", f->metrics_addr,
             sk_strerror(rc));
    return rc;
  }
  if (d->health_srv && (rc = sk_server_start(d->health_srv)) < 0) {
    snprintf(err, errlen, "cannot listen on --health-probe-bind-address %s: %s",
             f->health_addr, sk_strerror(rc));
    return rc;
  }
  if (d->metrics_srv)
    sk_log_info(LOGGER, "metrics on port %d", sk_server_port(d->metrics_srv));
  if (d->health_srv)
    sk_log_info(LOGGER, "health probes on port %d", sk_server_port(d->health_srv));

  if (f->leader_elect) {
    const char *ns = f->leader_elect_namespace;
    if (!ns)
      ns = getenv("POD_NAMESPACE");
    if (!ns || !ns[0])
      ns = d->cfg->in_cluster ? d->cfg->namespace : "skein-system";
    sk_kube_elector_opts_t eo = {0};
    eo.namespace = ns;
    eo.name = f->leader_elect_id;
    eo.timing.lease_duration_ms = (int64_t)(f->lease_duration_s * 1000);
    eo.timing.renew_deadline_ms = (int64_t)(f->renew_deadline_s * 1000);
    eo.timing.retry_period_ms = (int64_t)(f->retry_period_s * 1000);
    eo.on_started_leading = started_leading;
    eo.on_stopped_leading = stopped_leading;
    eo.on_new_leader = new_leader;
    eo.arg = d;
    if ((rc = sk_kube_elector_create(&d->caller, &eo, &d->elector, err, errlen)) < 0)
      return rc;
    sk_log_info(LOGGER, "competing for Lease %s/%s as %s", ns, f->leader_elect_id,
                sk_kube_elector_identity(d->elector));
    if ((rc = sk_kube_elector_start(d->elector)) < 0)
      return rc;
  } else {
    start_controller(d);
  }
  return 0;
}

int sk_daemon_run(const sk_daemon_flags_t *f) {
  daemon_t d;
  memset(&d, 0, sizeof(d));
  d.f = f;
  sk_log_setup(f->log_format, f->verbosity, NULL);
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
    sk_log_error(LOGGER, "curl_global_init failed");
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);
  if (uv_loop_init(&d.loop) < 0) {
    curl_global_cleanup();
    return 1;
  }
  uv_signal_init(&d.loop, &d.sigterm);
  uv_signal_init(&d.loop, &d.sigint);
  d.sigterm.data = d.sigint.data = &d;
  uv_signal_start(&d.sigterm, on_signal, SIGTERM);
  uv_signal_start(&d.sigint, on_signal, SIGINT);

  char err[512] = "";
  int rc = setup(&d, err, sizeof(err));
  if (rc < 0) {
    sk_log_error(LOGGER, "%s", err[0] ? err : sk_strerror(rc));
    d.exit_code = rc == SK_EINVAL || rc == SK_ENOENT || rc == SK_EPARSE ? 2 : 1;
    d.shutting_down = true;
    close_everything(&d);
  }
  uv_run(&d.loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&d.loop) != 0)
    sk_log_warn(LOGGER, "the loop still had open handles at exit");
  sk_kube_config_destroy(d.cfg);
  sk_metrics_destroy(d.metrics);
  curl_global_cleanup();
  sk_log_info(LOGGER, "stopped");
  return d.exit_code;
}
