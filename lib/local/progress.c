/*
 * Showing a run's progress on the progress stream (stdout, or stderr when
 * stdout holds JSON).
 *
 * On a terminal (and TERM is not "dumb") a live tree of the steps is drawn
 * below the step output and redrawn in place: the cursor moves up over the
 * old tree, clears to the end of the screen and draws the new one. Output
 * lines from steps are printed above it (clear the tree, print the lines,
 * redraw on the next tick). Redraws happen at most every REDRAW_MS, and at
 * least every second while something runs, so durations tick. Anywhere
 * else — a file, a pipe, CI — each phase change is one plain line.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "local/local-int.h"
#include "util/error.h"
#include "util/timeutil.h"

#define REDRAW_MS 100
#define TICK_MS 1000
/* The tree is held in one buffer; a huge workflow is cut by max_lines. */
#define TREE_MAX (1u << 20)

static void write_out(sk__progress_t *p, const char *s, size_t len) {
  if (len)
    fwrite(s, 1, len, p->fp);
}

static void terminal_size(sk__progress_t *p, int *cols, int *rows) {
  struct winsize ws;
  *cols = 80;
  *rows = 24;
  if (ioctl(fileno(p->fp), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
    *cols = ws.ws_col;
    *rows = ws.ws_row > 0 ? ws.ws_row : 24;
  }
}

/* Removes the drawn tree from the screen, leaving the cursor where its
 * first line was. */
static void erase(sk__progress_t *p) {
  if (p->lines_drawn > 0)
    fprintf(p->fp, "\x1b[%dA\r\x1b[J", p->lines_drawn);
  p->lines_drawn = 0;
}

static void draw(sk__progress_t *p) {
  int cols, rows;
  terminal_size(p, &cols, &rows);
  /* One column spare: writing the last column makes some terminals wrap,
   * and a wrapped line would throw off the cursor-up count. */
  sk__render_opts_t o = {
      .width = cols - 1, .max_lines = rows > 4 ? rows - 2 : 2, .color = p->color};
  sk_buf_t b;
  sk_buf_init(&b, TREE_MAX);
  int n = sk__render_tree(p->wf, p->st, sk_time_now_ms(), &o, &b);
  erase(p);
  if (n > 0) {
    write_out(p, b.data, b.len);
    p->lines_drawn = n;
  }
  fflush(p->fp);
  sk_buf_release(&b);
  p->dirty = false;
  p->last_draw_ms = sk_time_mono_ms();
}

static void on_tick(uv_timer_t *t) {
  sk__progress_t *p = t->data;
  if (p->dirty || sk_time_mono_ms() - p->last_draw_ms >= TICK_MS)
    draw(p);
}

void sk__progress_init(sk__progress_t *p, uv_loop_t *loop, FILE *fp, const sk_workflow_t *wf,
                       const sk_wf_status_t *st) {
  memset(p, 0, sizeof(*p));
  p->fp = fp;
  p->wf = wf;
  p->st = st;
  const char *term = getenv("TERM");
  const char *no_color = getenv("NO_COLOR");
  p->live = isatty(fileno(fp)) && !(term && strcmp(term, "dumb") == 0);
  p->color = p->live && !(no_color && no_color[0]);
  p->loop = loop;
  if (p->live) {
    uv_timer_init(loop, &p->timer);
    p->timer.data = p;
    p->timer_open = true;
    uv_timer_start(&p->timer, on_tick, REDRAW_MS, REDRAW_MS);
    /* The tick alone must not keep the loop alive. */
    uv_unref((uv_handle_t *)&p->timer);
  }
}

void sk__progress_close(sk__progress_t *p) {
  if (p->live)
    erase(p);
  fflush(p->fp);
  if (p->timer_open) {
    uv_timer_stop(&p->timer);
    uv_close((uv_handle_t *)&p->timer, NULL);
    p->timer_open = false;
  }
  p->live = false;
}

void sk__progress_note(sk__progress_t *p, const char *fmt, ...) {
  if (p->live)
    erase(p);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(p->fp, fmt, ap);
  va_end(ap);
  fputc('\n', p->fp);
  fflush(p->fp);
  p->dirty = true;
}

void sk__progress_warn(sk__progress_t *p, const char *fmt, ...) {
  /* The tree goes first even when it is on stdout: on one terminal the
   * warning would otherwise land inside it and be erased by the redraw. */
  if (p->live)
    erase(p);
  fflush(p->fp);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  fflush(stderr);
  p->dirty = true;
}

void sk__progress_line(sk__progress_t *p, const char *instance, const char *line, size_t len) {
  if (p->live)
    erase(p);
  fprintf(p->fp, "[%s] ", instance);
  write_out(p, line, len);
  fputc('\n', p->fp);
  if (!p->live)
    fflush(p->fp);
  p->dirty = true;
}

void sk__progress_transitions(sk__progress_t *p, const sk_engine_out_t *out) {
  if (out->ntransitions == 0)
    return;
  p->dirty = true;
  if (p->live) {
    /* A change is drawn at once unless the last draw was very recent. */
    if (sk_time_mono_ms() - p->last_draw_ms >= REDRAW_MS)
      draw(p);
    return;
  }
  sk_buf_t b;
  sk_buf_init(&b, 1 << 16);
  int64_t now = sk_time_now_ms();
  for (size_t i = 0; i < out->ntransitions; i++) {
    const sk_transition_t *tr = &out->transitions[i];
    const sk_step_status_t *r = sk_wf_status_find(p->st, tr->instance);
    sk_buf_reset(&b);
    /* The transition's own message: a record may change twice in a plan
     * (a failed attempt retried at once), and its last message is not the
     * one the first change set. */
    if (sk__render_transition(now, tr->instance, tr->to, r ? r->attempt : 0, tr->message,
                              &b) == 0)
      write_out(p, b.data, b.len);
  }
  fflush(p->fp);
  sk_buf_release(&b);
}

void sk__progress_summary(sk__progress_t *p, const char *run_dir) {
  if (p->live)
    erase(p);
  int cols = 0, rows = 0;
  if (isatty(fileno(p->fp)))
    terminal_size(p, &cols, &rows);
  /* A log file gets whole messages; a terminal gets lines that fit. */
  sk__render_opts_t o = {.width = cols > 1 ? cols - 1 : 0, .color = p->color,
                         .run_dir = run_dir};
  sk_buf_t b;
  sk_buf_init(&b, TREE_MAX);
  if (sk__render_summary(p->wf, p->st, sk_time_now_ms(), &o, &b) == 0) {
    fputc('\n', p->fp);
    write_out(p, b.data, b.len);
  }
  fflush(p->fp);
  sk_buf_release(&b);
}
