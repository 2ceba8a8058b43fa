/*
 * Driving the engine on one libuv loop.
 *
 * The engine is a pure function; this file is the I/O around it. Every
 * event (a process started or ended, a cloud job changed, a timer, a
 * signal) queues an observation or a shutdown request and asks for a plan;
 * plans run from a zero-delay timer, so a burst of events becomes one
 * plan. A plan's START actions spawn processes (pod steps) or submit cloud
 * jobs (cloudrun.c), its KILL actions signal process groups or cancel
 * jobs, and its wake_at_ms arms a timer for retries, timeouts and the
 * deadline. The loop ends when the workflow phase is final, no process of
 * ours is left and every cloud job we cancelled has its cancel accepted
 * (or given up).
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/outputs.h"
#include "local/local-int.h"
#include "util/error.h"
#include "util/strutil.h"
#include "util/timeutil.h"

extern char **environ;

/* The last stderr line quoted in a failure message is cut here; the whole
 * line is in the attempt log. */
#define QUOTE_STDERR 300
#define PATH_CAP 4096

static void maybe_finish(sk__runner_t *r);

/* ---- observations ---- */

static void obs_free(sk__pending_obs_t *o) {
  free(o->instance);
  free(o->message);
  json_decref(o->outputs);
  json_decref(o->ref);
}

void sk__queue_obs(sk__runner_t *r, sk_obs_kind_t kind, const char *instance, int attempt,
                   const char *message, json_t *outputs, json_t *ref) {
  if (r->nobs == r->obs_cap) {
    size_t ncap = r->obs_cap ? r->obs_cap * 2 : 16;
    sk__pending_obs_t *n = realloc(r->obs, ncap * sizeof(*n));
    if (!n) {
      json_decref(outputs);
      json_decref(ref);
      r->fatal = SK_ENOMEM;
      return;
    }
    r->obs = n;
    r->obs_cap = ncap;
  }
  sk__pending_obs_t *o = &r->obs[r->nobs];
  memset(o, 0, sizeof(*o));
  o->kind = kind;
  o->instance = strdup(instance);
  o->attempt = attempt;
  o->at_ms = sk_time_now_ms();
  o->message = sk_strdup0(message);
  o->outputs = outputs;
  o->ref = ref;
  if (!o->instance || (message && !o->message)) {
    obs_free(o);
    r->fatal = SK_ENOMEM;
    return;
  }
  r->nobs++;
  sk__schedule_plan(r);
}

/* ---- status ---- */

void sk__save_status(sk__runner_t *r) {
  json_t *j = sk_wf_status_to_json(&r->st);
  char err[512] = "out of memory";
  int rc = j ? sk__store_write_json(&r->store, "status.json", j, err, sizeof(err)) : SK_ENOMEM;
  json_decref(j);
  if (rc < 0 && !r->status_warned) {
    /* The run goes on; only an inspection or a resume would miss it. */
    r->status_warned = true;
    sk__progress_note(&r->progress, "warning: cannot save status.json: %s", err);
  }
}

/* ---- attempts ---- */

static const char *signal_name(int sig) {
  static const struct {
    int sig;
    const char *name;
  } names[] = {
      {SIGHUP, "SIGHUP"},   {SIGINT, "SIGINT"},   {SIGQUIT, "SIGQUIT"}, {SIGILL, "SIGILL"},
      {SIGTRAP, "SIGTRAP"}, {SIGABRT, "SIGABRT"}, {SIGBUS, "SIGBUS"},   {SIGFPE, "SIGFPE"},
      {SIGKILL, "SIGKILL"}, {SIGUSR1, "SIGUSR1"}, {SIGSEGV, "SIGSEGV"}, {SIGUSR2, "SIGUSR2"},
      {SIGPIPE, "SIGPIPE"}, {SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"}, {SIGXCPU, "SIGXCPU"},
      {SIGXFSZ, "SIGXFSZ"},
  };
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    if (names[i].sig == sig)
      return names[i].name;
  return NULL;
}

static void attempt_free(sk__attempt_t *a) {
  free(a->instance);
  free(a->outputs_path);
  free(a);
}

static void unlink_attempt(sk__runner_t *r, sk__attempt_t *a) {
  for (sk__attempt_t **pp = &r->attempts; *pp; pp = &(*pp)->next)
    if (*pp == a) {
      *pp = a->next;
      r->nlive--;
      return;
    }
}

static void on_attempt_line(void *ud, const char *line, size_t len, bool is_stderr) {
  sk__attempt_t *a = ud;
  (void)is_stderr;
  sk__progress_line(&a->r->progress, a->instance, line, len);
}

/* Reads and parses the outputs file of an attempt that exited 0. Returns 0
 * with *outputs (may be NULL), or a negative code with the message. */
static int read_outputs(const char *path, json_t **outputs, char *err, size_t errlen) {
  *outputs = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return 0;
    snprintf(err, errlen, "cannot read the outputs file: %s", strerror(errno));
    return SK_EIO;
  }
  struct stat sb;
  char data[SK_OUTPUTS_MAX_BYTES + 1];
  size_t len = 0;
  int rc = 0;
  if (fstat(fd, &sb) < 0) {
    snprintf(err, errlen, "cannot read the outputs file: %s", strerror(errno));
    rc = SK_EIO;
  } else if (sb.st_size > 0 && (rc = sk_outputs_check_size((size_t)sb.st_size, err, errlen)) < 0) {
    /* Known too big from its size: no need to read it. */
  } else {
    while (len < sizeof(data)) {
      ssize_t n = read(fd, data + len, sizeof(data) - len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0) {
        snprintf(err, errlen, "cannot read the outputs file: %s", strerror(errno));
        rc = SK_EIO;
        break;
      }
      if (n == 0)
        break;
      len += (size_t)n;
    }
    /* A file that grew after the stat is judged by what was read. */
    if (rc == 0)
      rc = sk_outputs_parse(data, len, outputs, err, errlen);
  }
  close(fd);
  return rc;
}

static void on_attempt_exit(void *ud, const sk__proc_exit_t *ex) {
  sk__attempt_t *a = ud;
  sk__runner_t *r = a->r;
  sk_buf_t msg;
  sk_buf_init(&msg, 2048);
  json_t *outputs = NULL;
  sk_obs_kind_t kind = SK_OBS_FAILED;
  const char *sig = ex->term_signal ? signal_name(ex->term_signal) : NULL;
  if (ex->term_signal) {
    if (sig)
      sk_buf_printf(&msg, "killed by signal %s", sig);
    else
      sk_buf_printf(&msg, "killed by signal %d", ex->term_signal);
  } else if (ex->exit_status != 0) {
    sk_buf_printf(&msg, "exited with code %lld", (long long)ex->exit_status);
  } else {
    char err[1024] = "";
    if (read_outputs(a->outputs_path, &outputs, err, sizeof(err)) == 0)
      kind = SK_OBS_SUCCEEDED;
    else
      sk_buf_puts(&msg, err);
  }
  if (kind == SK_OBS_FAILED && (ex->term_signal || ex->exit_status != 0) && ex->last_stderr &&
      !ex->killed) {
    char *quoted = sk_strdup_capped(ex->last_stderr, QUOTE_STDERR);
    if (quoted)
      sk_buf_printf(&msg, ": %s", quoted);
    free(quoted);
  }
  sk__queue_obs(r, kind, a->instance, a->attempt, msg.len ? msg.data : NULL, outputs, NULL);
  sk_buf_release(&msg);
  unlink_attempt(r, a);
  sk__proc_destroy(a->proc);
  attempt_free(a);
  maybe_finish(r);
}

static const sk__proc_cb_t attempt_cb = {on_attempt_line, on_attempt_exit};

static sk__attempt_t *find_attempt(sk__runner_t *r, const char *instance, int attempt) {
  for (sk__attempt_t *a = r->attempts; a; a = a->next)
    if (a->attempt == attempt && strcmp(a->instance, instance) == 0)
      return a;
  return NULL;
}

/* Formats "NAME=VALUE" into a new string. */
static char *var(const char *name, const char *value) {
  size_t n = strlen(name) + strlen(value) + 2;
  char *s = malloc(n);
  if (s)
    snprintf(s, n, "%s=%s", name, value);
  return s;
}

/* Carries out a START: the attempt's directories and files, its argv and
 * environment, the process. Any failure becomes a FAILED observation. */
static void start_attempt(sk__runner_t *r, const sk_action_t *act) {
  char err[1024] = "";
  char num[24];
  snprintf(num, sizeof(num), "%d", act->attempt);
  sk_buf_t work, log, outp;
  sk_buf_init(&work, PATH_CAP);
  sk_buf_init(&log, PATH_CAP);
  sk_buf_init(&outp, PATH_CAP);
  char *vars[7] = {0};
  char **argv = NULL, **env = NULL;
  sk__attempt_t *a = NULL;
  char leaf[64];
  int rc = 0;

  if (!act->step || act->step->kind != SK_STEP_POD) {
    snprintf(err, sizeof(err), "skeinctl run runs only pod steps as processes");
    rc = SK_EINVAL;
    goto fail;
  }
  rc = sk__store_make_step_dirs(&r->store, act->instance, err, sizeof(err));
  if (rc < 0)
    goto fail;
  snprintf(leaf, sizeof(leaf), "attempt-%d.log", act->attempt);
  rc = sk__store_step_path(&r->store, act->instance, "work", &work);
  if (rc == 0)
    rc = sk__store_step_path(&r->store, act->instance, leaf, &log);
  snprintf(leaf, sizeof(leaf), "outputs-%d", act->attempt);
  if (rc == 0)
    rc = sk__store_step_path(&r->store, act->instance, leaf, &outp);
  if (rc < 0) {
    snprintf(err, sizeof(err), "the run directory path is too long");
    goto fail;
  }
  /* An empty outputs file, as a kubelet provides the termination message
   * file: a step may append to it. */
  int fd = open(outp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    snprintf(err, sizeof(err), "cannot create %s: %s", outp.data, strerror(errno));
    rc = SK_EIO;
    goto fail;
  }
  close(fd);
  vars[0] = var("SKEIN_OUTPUTS", outp.data);
  vars[1] = var("SKEIN_RUN_DIR", r->store.dir);
  vars[2] = var("SKEIN_INVOCATION_DIR", r->invocation_dir);
  vars[3] = var("SKEIN_STEP", act->instance);
  vars[4] = var("SKEIN_ATTEMPT", num);
  vars[5] = var("SKEIN_WORKFLOW", r->wf->name ? r->wf->name : "");
  for (int i = 0; i < 6; i++)
    if (!vars[i]) {
      rc = SK_ENOMEM;
      snprintf(err, sizeof(err), "out of memory");
      goto fail;
    }
  rc = sk__pod_process(act->body, environ, vars, &argv, &env, err, sizeof(err));
  if (rc < 0)
    goto fail;
  a = calloc(1, sizeof(*a));
  if (!a || !(a->instance = strdup(act->instance))) {
    rc = SK_ENOMEM;
    snprintf(err, sizeof(err), "out of memory");
    goto fail;
  }
  a->r = r;
  a->attempt = act->attempt;
  a->outputs_path = sk_buf_steal(&outp);
  if (!a->outputs_path) {
    rc = SK_ENOMEM;
    snprintf(err, sizeof(err), "out of memory");
    goto fail;
  }
  sk__proc_spec_t spec = {argv, env, work.data, log.data};
  rc = sk__proc_start(&r->loop, &spec, &attempt_cb, a, &a->proc, err, sizeof(err));
  if (rc < 0)
    goto fail;
  a->next = r->attempts;
  r->attempts = a;
  r->nlive++;
  sk__queue_obs(r, SK_OBS_STARTED, act->instance, act->attempt, NULL, NULL,
                json_pack("{s:s, s:i}", "kind", "Process", "pid", sk__proc_pid(a->proc)));
  goto done;

fail:
  if (a)
    attempt_free(a);
  sk__queue_obs(r, SK_OBS_FAILED, act->instance, act->attempt, err[0] ? err : sk_strerror(rc),
                NULL, NULL);
done:
  for (int i = 0; i < 6; i++)
    free(vars[i]);
  sk__strv_free(argv);
  sk__strv_free(env);
  sk_buf_release(&work);
  sk_buf_release(&log);
  sk_buf_release(&outp);
}

static int64_t kill_grace(const sk__runner_t *r) {
  return r->shutdown == SK_SHUTDOWN_TERMINATE ? 0 : SK__KILL_GRACE_MS;
}

static void kill_attempt(sk__runner_t *r, const sk_action_t *act) {
  sk__attempt_t *a = find_attempt(r, act->instance, act->attempt);
  /* Not found: a cloud job, or it already ended and its exit is on the
   * way. */
  if (a)
    sk__proc_kill(a->proc, kill_grace(r));
  else
    sk__cloud_kill(r, act->instance, act->attempt);
}

static void kill_all(sk__runner_t *r, int64_t grace_ms) {
  for (sk__attempt_t *a = r->attempts; a; a = a->next)
    sk__proc_kill(a->proc, grace_ms);
}

/* ---- the plan cycle ---- */

static void on_wake(uv_timer_t *t) { sk__schedule_plan(t->data); }

static void run_plan(sk__runner_t *r) {
  if (r->closing)
    return;
  size_t n = r->nobs;
  sk_engine_obs_t *obs = n ? calloc(n, sizeof(*obs)) : NULL;
  if (n && !obs) {
    r->fatal = SK_ENOMEM;
    maybe_finish(r);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    const sk__pending_obs_t *o = &r->obs[i];
    obs[i] = (sk_engine_obs_t){o->kind, o->instance, o->attempt, o->at_ms,
                               o->message, o->outputs, o->ref};
  }
  int64_t now = sk_time_now_ms();
  sk_engine_ctx_t ctx = {now, r->shutdown};
  sk_engine_out_t out;
  sk_engine_out_init(&out);
  int rc = sk_engine_plan(r->wf, &r->st, obs, n, &ctx, &out);
  free(obs);
  for (size_t i = 0; i < n; i++)
    obs_free(&r->obs[i]);
  r->nobs = 0;
  if (rc < 0) {
    r->fatal = rc;
    sk_engine_out_release(&out);
    maybe_finish(r);
    return;
  }
  if (out.changed)
    sk__save_status(r);
  sk__progress_transitions(&r->progress, &out);
  for (size_t i = 0; i < out.nactions; i++) {
    const sk_action_t *act = &out.actions[i];
    bool cloud = act->step && (act->step->kind == SK_STEP_VERTEX ||
                               act->step->kind == SK_STEP_SAGEMAKER);
    if (act->kind == SK_ACT_START && cloud)
      sk__cloud_start(r, act);
    else if (act->kind == SK_ACT_START)
      start_attempt(r, act);
    else
      kill_attempt(r, act);
  }
  uv_timer_stop(&r->wake_timer);
  if (out.wake_at_ms > 0) {
    int64_t delay = out.wake_at_ms - sk_time_now_ms();
    uv_timer_start(&r->wake_timer, on_wake, delay > 0 ? (uint64_t)delay : 0, 0);
  }
  if (sk_phase_is_final(r->st.phase))
    r->finished = true;
  sk_engine_out_release(&out);
  maybe_finish(r);
}

static void on_plan_timer(uv_timer_t *t) { run_plan(t->data); }

void sk__schedule_plan(sk__runner_t *r) {
  if (!r->closing && !uv_is_active((uv_handle_t *)&r->plan_timer))
    uv_timer_start(&r->plan_timer, on_plan_timer, 0, 0);
}

/* Ends the loop once nothing is left to wait for: the workflow is final
 * (or the runtime broke), every process has been reaped and every cloud
 * job has ended or had its cancel accepted (or given up). */
static void maybe_finish(sk__runner_t *r) {
  if (r->closing)
    return;
  size_t ncloud = sk__cloud_reap(r);
  if (r->fatal && (r->nlive > 0 || ncloud > 0)) {
    kill_all(r, 0);
    sk__cloud_kill_all(r);
    return;
  }
  if (!(r->finished || r->fatal) || r->nlive > 0 || ncloud > 0 || r->nobs > 0) {
    /* The engine kills every attempt of a finished workflow, so a job
     * left running here would be a bug: cancel it rather than wait. */
    if (r->finished && ncloud > 0)
      sk__cloud_kill_all(r);
    return;
  }
  r->closing = true;
  sk__cloud_close(r);
  uv_close((uv_handle_t *)&r->plan_timer, NULL);
  uv_close((uv_handle_t *)&r->wake_timer, NULL);
  uv_close((uv_handle_t *)&r->sig_int, NULL);
  uv_close((uv_handle_t *)&r->sig_term, NULL);
  uv_close((uv_handle_t *)&r->sig_hup, NULL);
  sk__progress_close(&r->progress);
}

static void on_signal(uv_signal_t *h, int signum) {
  sk__runner_t *r = h->data;
  (void)signum;
  r->signals++;
  if (r->signals == 1) {
    r->shutdown = SK_SHUTDOWN_STOP;
    sk__progress_note(&r->progress, "stopping: running steps are killed, finally steps still "
                                    "run (Ctrl-C again to terminate)");
  } else if (r->signals == 2 || sk__cloud_cancelling(r) == 0) {
    if (r->shutdown != SK_SHUTDOWN_TERMINATE)
      sk__progress_note(&r->progress, "terminating: every step is killed now");
    r->shutdown = SK_SHUTDOWN_TERMINATE;
    kill_all(r, 0);
    size_t n = sk__cloud_cancelling(r);
    if (n > 0)
      sk__progress_note(&r->progress,
                        "waiting for the cloud to accept %zu cancel%s (Ctrl-C again to stop "
                        "waiting; the job%s may keep running)",
                        n, n == 1 ? "" : "s", n == 1 ? "" : "s");
  } else {
    /* A cancel still unanswered after the second signal: the user would
     * rather leave than wait for the cloud. */
    sk__cloud_abandon(r);
  }
  sk__schedule_plan(r);
  /* The plan may have nothing to do: the end must still be noticed. */
  if (r->signals > 2)
    maybe_finish(r);
}

int sk__drive(sk__runner_t *r) {
  int rc = uv_loop_init(&r->loop);
  if (rc < 0)
    return SK_EIO;
  uv_timer_init(&r->loop, &r->plan_timer);
  uv_timer_init(&r->loop, &r->wake_timer);
  uv_signal_init(&r->loop, &r->sig_int);
  uv_signal_init(&r->loop, &r->sig_term);
  uv_signal_init(&r->loop, &r->sig_hup);
  r->plan_timer.data = r->wake_timer.data = r;
  r->sig_int.data = r->sig_term.data = r->sig_hup.data = r;
  uv_signal_start(&r->sig_int, on_signal, SIGINT);
  uv_signal_start(&r->sig_term, on_signal, SIGTERM);
  /* Steps run in their own sessions, so a closed terminal would not reach
   * them: skeinctl stops them itself, as for Ctrl-C — unless SIGHUP was
   * ignored on purpose (nohup). */
  struct sigaction old;
  if (sigaction(SIGHUP, NULL, &old) == 0 && old.sa_handler != SIG_IGN)
    uv_signal_start(&r->sig_hup, on_signal, SIGHUP);
  sk__progress_init(&r->progress, &r->loop, r->progress_fp, r->wf, &r->st);
  sk__schedule_plan(r);
  uv_run(&r->loop, UV_RUN_DEFAULT);
  /* Every handle is closed by now; a second run lets close callbacks finish. */
  uv_run(&r->loop, UV_RUN_DEFAULT);
  for (size_t i = 0; i < r->nobs; i++)
    obs_free(&r->obs[i]);
  free(r->obs);
  r->obs = NULL;
  r->nobs = r->obs_cap = 0;
  sk__cloud_resume_free(r);
  uv_loop_close(&r->loop);
  if (r->curl_ready)
    curl_global_cleanup();
  r->curl_ready = false;
  return r->fatal;
}
