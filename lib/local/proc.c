/*
 * The process executor: one step attempt as a local process.
 *
 * The process runs in a new session, so it leads its own process group and
 * every process it starts stays in that group unless it leaves on purpose.
 * That is what lets a kill (timeout, deadline, Ctrl-C) reach grandchildren
 * too: signals go to the group, never to the one pid. When the main process
 * ends, whatever it left behind in its group is killed as well, as a
 * container's remaining processes are when its main process exits.
 *
 * stdout and stderr arrive through pipes. Every byte goes to the attempt
 * log; complete lines are handed to on_line (capped, for the terminal);
 * the last non-blank stderr line is kept for the failure message. on_exit
 * comes once, after the exit and the end of both pipes, so the log is
 * complete and the last stderr line is known when the attempt is judged.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "local/local-int.h"
#include "util/error.h"
#include "util/timeutil.h"

#define CUT_MARK "\xE2\x80\xA6 (cut)"

typedef struct stream {
  uv_pipe_t pipe;       /* first, so a stream_t * is also its pipe's address */
  struct sk__proc *owner;
  sk_buf_t line;      /* the unfinished line */
  bool cutting;       /* the current line was cut: drop bytes until its newline */
  bool eof;
  bool is_stderr;
} stream_t;

struct sk__proc {
  uv_loop_t *loop;
  uv_process_t process;
  stream_t streams[2];
  uv_timer_t timer;     /* SIGKILL after the grace, then the drain deadline */
  int open_handles;     /* freed when the last close callback runs */
  int log_fd;
  sk__proc_cb_t cb;
  void *ud;
  int pid;
  bool spawned;
  bool exited;
  bool reported;
  bool destroyed;
  bool killed;
  int64_t kill_at_ms;   /* monotonic time of the pending SIGKILL; 0 = none */
  int64_t exit_status;
  int term_signal;
  sk_buf_t last_err;
};

static void free_if_closed(sk__proc_t *p) {
  if (p->open_handles > 0 || !p->destroyed)
    return;
  sk_buf_release(&p->streams[0].line);
  sk_buf_release(&p->streams[1].line);
  sk_buf_release(&p->last_err);
  if (p->log_fd >= 0)
    close(p->log_fd);
  free(p);
}

static void on_close(uv_handle_t *h) {
  sk__proc_t *p = h->data;
  p->open_handles--;
  free_if_closed(p);
}

static void close_handle(uv_handle_t *h) {
  if (!uv_is_closing(h))
    uv_close(h, on_close);
}

static void close_all(sk__proc_t *p) {
  close_handle((uv_handle_t *)&p->process);
  close_handle((uv_handle_t *)&p->streams[0].pipe);
  close_handle((uv_handle_t *)&p->streams[1].pipe);
  close_handle((uv_handle_t *)&p->timer);
}

/* Signals the process group. ESRCH (nobody left) is the normal end. */
static void signal_group(sk__proc_t *p, int sig) {
  if (p->pid > 0)
    kill(-p->pid, sig);
}

static void write_log(sk__proc_t *p, const char *data, size_t len) {
  while (p->log_fd >= 0 && len > 0) {
    ssize_t n = write(p->log_fd, data, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      /* A full disk must not stop the step; the log just ends early. */
      close(p->log_fd);
      p->log_fd = -1;
      return;
    }
    data += n;
    len -= (size_t)n;
  }
}

static void emit_line(sk__proc_t *p, stream_t *s) {
  char *text = s->line.data ? s->line.data : "";
  size_t len = s->line.len;
  if (len > 0 && text[len - 1] == '\r' && !s->cutting)
    text[--len] = '\0';
  if (s->cutting) {
    /* The buffer has room for the mark beyond SK__LINE_MAX. */
    sk_buf_puts(&s->line, CUT_MARK);
    text = s->line.data;
    len = s->line.len;
  }
  if (s->is_stderr) {
    bool blank = true;
    for (size_t i = 0; i < len && blank; i++)
      blank = text[i] == ' ' || text[i] == '\t';
    if (!blank) {
      sk_buf_reset(&p->last_err);
      sk_buf_append(&p->last_err, text, len);
    }
  }
  if (p->cb.on_line)
    p->cb.on_line(p->ud, text, len, s->is_stderr);
  sk_buf_reset(&s->line);
  s->cutting = false;
}

/* Adds a chunk of output to the stream's unfinished line, emitting every
 * line it completes. */
static void feed(sk__proc_t *p, stream_t *s, const char *data, size_t len) {
  while (len > 0) {
    const char *nl = memchr(data, '\n', len);
    size_t seg = nl ? (size_t)(nl - data) : len;
    if (!s->cutting) {
      size_t room = SK__LINE_MAX - s->line.len;
      if (seg <= room) {
        sk_buf_append(&s->line, data, seg);
      } else {
        /* Cut on a UTF-8 boundary so the echoed line stays valid text. */
        size_t keep = room;
        while (keep > 0 && ((unsigned char)data[keep] & 0xC0) == 0x80)
          keep--;
        sk_buf_append(&s->line, data, keep);
        s->cutting = true;
      }
    }
    if (!nl)
      return;
    emit_line(p, s);
    data += seg + 1;
    len -= seg + 1;
  }
}

static void maybe_report(sk__proc_t *p) {
  if (p->reported || !p->exited || !p->streams[0].eof || !p->streams[1].eof)
    return;
  p->reported = true;
  uv_timer_stop(&p->timer);
  sk__proc_exit_t ex = {
      .exit_status = p->exit_status,
      .term_signal = p->term_signal,
      .killed = p->killed,
      .last_stderr = p->last_err.len ? p->last_err.data : NULL,
  };
  if (p->cb.on_exit)
    p->cb.on_exit(p->ud, &ex);
}

static void end_stream(sk__proc_t *p, stream_t *s) {
  if (s->eof)
    return;
  s->eof = true;
  uv_read_stop((uv_stream_t *)&s->pipe);
  if (s->line.len > 0 || s->cutting)
    emit_line(p, s);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  static char scratch[65536];
  /* Reads are handled before the next one is made (one thread, one loop),
   * so one static buffer serves every pipe. */
  (void)h;
  (void)suggested;
  buf->base = scratch;
  buf->len = sizeof(scratch);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
  stream_t *s = (stream_t *)st;
  sk__proc_t *p = s->owner;
  if (n > 0) {
    write_log(p, buf->base, (size_t)n);
    feed(p, s, buf->base, (size_t)n);
    return;
  }
  if (n < 0) {
    end_stream(p, s);
    maybe_report(p);
  }
}

static void on_timer(uv_timer_t *t) {
  sk__proc_t *p = t->data;
  if (!p->exited) {
    /* The grace after SIGTERM is over. */
    p->kill_at_ms = 0;
    signal_group(p, SIGKILL);
    return;
  }
  /* The drain deadline passed: something outside the group still holds
   * a pipe. The attempt is over anyway. */
  end_stream(p, &p->streams[0]);
  end_stream(p, &p->streams[1]);
  maybe_report(p);
}

static void on_exit_cb(uv_process_t *proc, int64_t exit_status, int term_signal) {
  sk__proc_t *p = proc->data;
  p->exited = true;
  p->exit_status = exit_status;
  p->term_signal = term_signal;
  p->kill_at_ms = 0;
  /* What the main process left running in its group dies with it. */
  signal_group(p, SIGKILL);
  uv_timer_stop(&p->timer);
  uv_timer_start(&p->timer, on_timer, SK__DRAIN_MS, 0);
  maybe_report(p);
}

static void init_stream(sk__proc_t *p, stream_t *s, bool is_stderr) {
  uv_pipe_init(p->loop, &s->pipe, 0);
  /* Every handle's data is the proc, so one close callback serves all. */
  s->pipe.data = p;
  s->owner = p;
  s->is_stderr = is_stderr;
  sk_buf_init(&s->line, SK__LINE_MAX + sizeof(CUT_MARK));
  p->open_handles++;
}

int sk__proc_start(uv_loop_t *loop, const sk__proc_spec_t *spec, const sk__proc_cb_t *cb,
                   void *ud, sk__proc_t **out, char *err, size_t errlen) {
  *out = NULL;
  int log_fd = open(spec->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    snprintf(err, errlen, "cannot create %s: %s", spec->log_path, strerror(errno));
    return SK_EIO;
  }
  sk__proc_t *p = calloc(1, sizeof(*p));
  if (!p) {
    close(log_fd);
    snprintf(err, errlen, "out of memory");
    return SK_ENOMEM;
  }
  p->loop = loop;
  p->cb = *cb;
  p->ud = ud;
  p->log_fd = log_fd;
  sk_buf_init(&p->last_err, SK__LINE_MAX + sizeof(CUT_MARK));
  init_stream(p, &p->streams[0], false);
  init_stream(p, &p->streams[1], true);
  uv_timer_init(loop, &p->timer);
  p->timer.data = p;
  p->open_handles++;
  p->process.data = p;

  uv_stdio_container_t stdio[3];
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[1].data.stream = (uv_stream_t *)&p->streams[0].pipe;
  stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[2].data.stream = (uv_stream_t *)&p->streams[1].pipe;
  uv_process_options_t opts = {
      .exit_cb = on_exit_cb,
      .file = spec->argv[0],
      .args = (char **)spec->argv,
      .env = (char **)spec->env,
      .cwd = spec->cwd,
      .flags = UV_PROCESS_DETACHED,
      .stdio_count = 3,
      .stdio = stdio,
  };
  int uvrc = uv_spawn(loop, &p->process, &opts);
  /* The process handle needs closing even when the spawn failed. */
  p->open_handles++;
  if (uvrc < 0) {
    const char *why = uvrc == UV_ENOENT   ? "no such file or directory (is it installed and "
                                            "on PATH?)"
                      : uvrc == UV_EACCES ? "permission denied"
                                          : uv_strerror(uvrc);
    snprintf(err, errlen, "cannot run \"%s\": %s", spec->argv[0], why);
    p->destroyed = true;
    close_all(p);
    return SK_EIO;
  }
  p->spawned = true;
  p->pid = p->process.pid;
  uv_read_start((uv_stream_t *)&p->streams[0].pipe, on_alloc, on_read);
  uv_read_start((uv_stream_t *)&p->streams[1].pipe, on_alloc, on_read);
  *out = p;
  return 0;
}

int sk__proc_pid(const sk__proc_t *p) { return p->pid; }

void sk__proc_kill(sk__proc_t *p, int64_t grace_ms) {
  if (p->exited || !p->spawned)
    return;
  int64_t now = sk_time_mono_ms();
  if (!p->killed) {
    p->killed = true;
    signal_group(p, SIGTERM);
  }
  if (grace_ms <= 0) {
    p->kill_at_ms = 0;
    uv_timer_stop(&p->timer);
    signal_group(p, SIGKILL);
    return;
  }
  if (p->kill_at_ms != 0 && p->kill_at_ms <= now + grace_ms)
    return;
  p->kill_at_ms = now + grace_ms;
  uv_timer_stop(&p->timer);
  uv_timer_start(&p->timer, on_timer, (uint64_t)grace_ms, 0);
}

void sk__proc_destroy(sk__proc_t *p) {
  if (!p)
    return;
  if (!p->exited)
    signal_group(p, SIGKILL);
  p->destroyed = true;
  p->cb.on_line = NULL;
  p->cb.on_exit = NULL;
  uv_timer_stop(&p->timer);
  close_all(p);
}
