/*
 * Running an exec credential plugin on the loop: uv_spawn with the
 * kubeconfig's args and env plus KUBERNETES_EXEC_INFO, stdout collected
 * under a cap, stderr kept for the error message, a deadline, and the
 * ExecCredential parsed at exit.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kube-int.h"
#include "util/error.h"

extern char **environ;

struct sk__kube_exec_run {
  uv_process_t proc;
  uv_pipe_t out;
  uv_pipe_t errp;
  uv_timer_t timer;
  int open_handles;  /* handles not yet closed */
  bool exited;
  bool out_eof;
  bool err_eof;
  bool finished;     /* handles are closing */
  int64_t exit_status;
  int term_signal;
  int fail;          /* an error seen before exit (timeout, cap, cancel) */
  int spawn_err;     /* libuv's error when the plugin could not start */
  sk_buf_t outbuf;
  sk_buf_t errbuf;
  char *api_version;
  char *command;
  sk__kube_exec_done_cb done;
  void *arg;
};

static void on_closed(uv_handle_t *h) {
  sk__kube_exec_run_t *r = h->data;
  if (--r->open_handles > 0)
    return;
  sk__kube_cred_t cred = {0};
  char msg[512];
  int rc = r->fail;
  if (r->spawn_err) {
    snprintf(msg, sizeof(msg), "exec plugin %s: cannot start: %s", r->command,
             uv_strerror(r->spawn_err));
    rc = SK_EIO;
  } else if (rc == SK_ETIMEDOUT) {
    snprintf(msg, sizeof(msg), "exec plugin %s: no answer within the deadline; it was killed",
             r->command);
  } else if (rc == SK_ETOOBIG) {
    snprintf(msg, sizeof(msg), "exec plugin %s: printed more than 1 MiB", r->command);
  } else if (rc) {
    snprintf(msg, sizeof(msg), "exec plugin %s: %s", r->command, sk_strerror(rc));
  } else if (r->term_signal || r->exit_status != 0) {
    /* The first line of stderr usually says what the user must do (log in,
     * install something): pass it on. */
    const char *e = r->errbuf.data ? r->errbuf.data : "";
    size_t n = strcspn(e, "\n");
    if (r->term_signal)
      snprintf(msg, sizeof(msg), "exec plugin %s: killed by signal %d%s%.*s", r->command,
               r->term_signal, n ? ": " : "", (int)(n > 300 ? 300 : n), e);
    else
      snprintf(msg, sizeof(msg), "exec plugin %s: exited with status %lld%s%.*s", r->command,
               (long long)r->exit_status, n ? ": " : "", (int)(n > 300 ? 300 : n), e);
    rc = SK_EIO;
  } else {
    char perr[400];
    rc = sk__kube_exec_parse(r->outbuf.data ? r->outbuf.data : "", r->outbuf.len, r->api_version,
                             &cred, perr, sizeof(perr));
    if (rc)
      snprintf(msg, sizeof(msg), "exec plugin %s: %s", r->command, perr);
  }
  r->done(rc, rc ? msg : NULL, &cred, r->arg);
  sk__kube_cred_release(&cred);
  sk_buf_release(&r->outbuf);
  sk_buf_release(&r->errbuf);
  free(r->api_version);
  free(r->command);
  free(r);
}

/* Closes everything once the process exited and both pipes ended (or
 * failed): only then is the output complete. */
static void maybe_finish(sk__kube_exec_run_t *r, bool force) {
  if (r->finished || (!force && !(r->exited && r->out_eof && r->err_eof)))
    return;
  r->finished = true;
  if (!r->exited)
    uv_process_kill(&r->proc, SIGKILL);
  uv_close((uv_handle_t *)&r->timer, on_closed);
  uv_close((uv_handle_t *)&r->out, on_closed);
  uv_close((uv_handle_t *)&r->errp, on_closed);
  /* The process handle stays open until the child is reaped, so no zombie
   * is left behind after a kill. */
  if (r->exited)
    uv_close((uv_handle_t *)&r->proc, on_closed);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig) {
  sk__kube_exec_run_t *r = p->data;
  r->exited = true;
  r->exit_status = status;
  r->term_signal = sig;
  if (r->finished)
    uv_close((uv_handle_t *)&r->proc, on_closed);
  else
    maybe_finish(r, false);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  static char slab[8192];
  (void)h;
  (void)suggested;
  /* One static slab is enough: reads are consumed before the next alloc,
   * and everything runs on one thread. */
  buf->base = slab;
  buf->len = sizeof(slab);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  sk__kube_exec_run_t *r = s->data;
  bool is_out = s == (uv_stream_t *)&r->out;
  if (n > 0) {
    sk_buf_t *b = is_out ? &r->outbuf : &r->errbuf;
    if (sk_buf_append(b, buf->base, (size_t)n) != 0 && is_out) {
      r->fail = SK_ETOOBIG;
      maybe_finish(r, true);
    }
    /* Extra stderr past its cap is dropped: it only feeds a message. */
    return;
  }
  if (n < 0) {
    uv_read_stop(s);
    if (is_out)
      r->out_eof = true;
    else
      r->err_eof = true;
    maybe_finish(r, false);
  }
}

static void on_timeout(uv_timer_t *t) {
  sk__kube_exec_run_t *r = t->data;
  r->fail = SK_ETIMEDOUT;
  maybe_finish(r, true);
}

/* environ + the kubeconfig's env (which wins) + KUBERNETES_EXEC_INFO. */
static char **build_env(const sk_kube_config_t *cfg) {
  size_t n = 0;
  while (environ && environ[n])
    n++;
  const sk_kube_exec_config_t *x = cfg->exec;
  char **env = calloc(n + x->envc + 2, sizeof(char *));
  if (!env)
    return NULL;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    const char *eq = strchr(environ[i], '=');
    size_t nl = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
    bool overridden = nl == strlen("KUBERNETES_EXEC_INFO") &&
                      strncmp(environ[i], "KUBERNETES_EXEC_INFO", nl) == 0;
    for (size_t j = 0; j < x->envc && !overridden; j++)
      overridden = strlen(x->env[j].name) == nl && strncmp(environ[i], x->env[j].name, nl) == 0;
    if (!overridden)
      env[k++] = environ[i];
  }
  size_t first_owned = k;
  sk_buf_t b;
  for (size_t j = 0; j <= x->envc; j++) {
    sk_buf_init(&b, 1u << 20);
    int rc;
    if (j < x->envc) {
      rc = sk_buf_printf(&b, "%s=%s", x->env[j].name, x->env[j].value);
    } else {
      char *info = sk__kube_exec_info(cfg);
      rc = info ? sk_buf_printf(&b, "KUBERNETES_EXEC_INFO=%s", info) : SK_ENOMEM;
      free(info);
    }
    if (rc != 0 || !(env[k] = sk_buf_steal(&b))) {
      sk_buf_release(&b);
      for (size_t i = first_owned; i < k; i++)
        free(env[i]);
      free(env);
      return NULL;
    }
    k++;
  }
  env[k] = NULL;
  return env;
}

static void free_env(char **env, const sk_kube_config_t *cfg) {
  size_t n = 0;
  while (env[n])
    n++;
  /* The owned strings are the last envc + 1 entries. */
  for (size_t i = n - (cfg->exec->envc + 1); i < n; i++)
    free(env[i]);
  free(env);
}

int sk__kube_exec_start(uv_loop_t *loop, const sk_kube_config_t *cfg, long timeout_ms,
                        sk__kube_exec_done_cb done, void *arg, sk__kube_exec_run_t **out) {
  if (!cfg->exec || !cfg->exec->command)
    return SK_EINVAL;
  sk__kube_exec_run_t *r = calloc(1, sizeof(*r));
  if (!r)
    return SK_ENOMEM;
  r->done = done;
  r->arg = arg;
  sk_buf_init(&r->outbuf, SK_KUBE_EXEC_MAX_OUTPUT);
  sk_buf_init(&r->errbuf, 8192);
  r->api_version = strdup(cfg->exec->api_version ? cfg->exec->api_version : "");
  r->command = strdup(cfg->exec->command);
  char **argv = calloc(cfg->exec->argc + 2, sizeof(char *));
  char **env = build_env(cfg);
  int rc = SK_ENOMEM;
  if (!r->api_version || !r->command || !argv || !env)
    goto fail;
  argv[0] = cfg->exec->command;
  for (size_t i = 0; i < cfg->exec->argc; i++)
    argv[i + 1] = cfg->exec->args[i];
  uv_pipe_init(loop, &r->out, 0);
  uv_pipe_init(loop, &r->errp, 0);
  uv_timer_init(loop, &r->timer);
  r->out.data = r->errp.data = r->timer.data = r->proc.data = r;
  r->open_handles = 3;
  uv_stdio_container_t stdio[3] = {
      {.flags = UV_IGNORE},
      {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&r->out},
      {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&r->errp},
  };
  uv_process_options_t po = {
      .exit_cb = on_exit_cb,
      .file = cfg->exec->command,
      .args = argv,
      .env = env,
      .stdio_count = 3,
      .stdio = stdio,
  };
  int uvrc = uv_spawn(loop, &r->proc, &po);
  free_env(env, cfg);
  env = NULL;
  free(argv);
  argv = NULL;
  if (uvrc != 0) {
    /* The plugin could not start (not installed, not executable): report
     * it through done, from the loop, like any other failure. The process
     * handle was initialised by uv_spawn and is closed with the rest. */
    r->spawn_err = uvrc;
    r->exited = true;
    r->finished = true;
    r->open_handles = 4;
    uv_close((uv_handle_t *)&r->timer, on_closed);
    uv_close((uv_handle_t *)&r->out, on_closed);
    uv_close((uv_handle_t *)&r->errp, on_closed);
    uv_close((uv_handle_t *)&r->proc, on_closed);
    if (out)
      *out = r;
    return 0;
  }
  r->open_handles = 4;
  uv_read_start((uv_stream_t *)&r->out, on_alloc, on_read);
  uv_read_start((uv_stream_t *)&r->errp, on_alloc, on_read);
  uv_timer_start(&r->timer, on_timeout, (uint64_t)(timeout_ms > 0 ? timeout_ms
                                                                   : SK_KUBE_EXEC_TIMEOUT_MS), 0);
  if (out)
    *out = r;
  return 0;
fail:
  if (env)
    free_env(env, cfg);
  free(argv);
  sk_buf_release(&r->outbuf);
  sk_buf_release(&r->errbuf);
  free(r->api_version);
  free(r->command);
  free(r);
  return rc;
}

void sk__kube_exec_cancel(sk__kube_exec_run_t *r) {
  if (!r || r->finished)
    return;
  r->fail = SK_ECANCELED;
  maybe_finish(r, true);
}
