/*
 * Rendering the progress of a run as text: the live tree, the transition
 * lines for logs, the final summary. Pure functions of the status and a
 * clock value, so the tests can pin every line; progress.c decides when
 * and where they are written.
 *
 * Widths are counted in code points, not bytes, so a message in UTF-8 is
 * cut where a terminal would wrap it (wide characters are rare enough in
 * step messages to be counted as one column).
 */
#include <string.h>
#include <time.h>

#include "local/local-int.h"
#include "util/error.h"
#include "util/timeutil.h"

#define ANSI_RESET "\x1b[0m"
#define ELLIPSIS "\xE2\x80\xA6"
#define PHASE_COL 9   /* "Succeeded" and "Cancelled" */
#define CELL_MAX 60   /* an outputs cell, when the width is not limited */

static const char *phase_color(sk_phase_t p) {
  switch (p) {
  case SK_PHASE_SUCCEEDED:
    return "\x1b[32m";
  case SK_PHASE_FAILED:
    return "\x1b[31m";
  case SK_PHASE_RUNNING:
    return "\x1b[36m";
  case SK_PHASE_SKIPPED:
    return "\x1b[33m";
  case SK_PHASE_CANCELLED:
    return "\x1b[35m";
  default:
    return "\x1b[2m";
  }
}

/* Code points in the first len bytes of s. */
static size_t columns(const char *s, size_t len) {
  size_t n = 0;
  for (size_t i = 0; i < len; i++)
    if (((unsigned char)s[i] & 0xC0) != 0x80)
      n++;
  return n;
}

/* Byte length of the longest prefix of s that fits in cols columns. */
static size_t prefix_fitting(const char *s, size_t len, size_t cols) {
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    if (((unsigned char)s[i] & 0xC0) != 0x80) {
      if (n == cols)
        return i;
      n++;
    }
  }
  return len;
}

/* Appends text, cut with an ellipsis to at most cols columns (no limit when
 * cols is SIZE_MAX). Newlines and other control bytes become spaces, so a
 * message can never break the line structure of the tree. */
static int put_cut(sk_buf_t *out, const char *s, size_t cols) {
  size_t len = strlen(s);
  bool cut = false;
  if (cols != SIZE_MAX && columns(s, len) > cols) {
    len = cols > 0 ? prefix_fitting(s, len, cols - 1) : 0;
    cut = cols > 0;
  }
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    int rc = sk_buf_putc(out, ((unsigned char)c < 0x20 || c == 0x7F) ? ' ' : c);
    if (rc < 0)
      return rc;
  }
  return cut ? sk_buf_puts(out, ELLIPSIS) : 0;
}

static int put_spaces(sk_buf_t *out, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int rc = sk_buf_putc(out, ' ');
    if (rc < 0)
      return rc;
  }
  return 0;
}

/* Appends the phase name padded to the phase column (pad false: unpadded),
 * coloured when asked. */
static int put_phase(sk_buf_t *out, sk_phase_t p, bool color, bool pad) {
  const char *name = sk_phase_name(p);
  int rc = 0;
  if (color)
    rc = sk_buf_puts(out, phase_color(p));
  if (rc == 0)
    rc = sk_buf_puts(out, name);
  if (rc == 0 && color)
    rc = sk_buf_puts(out, ANSI_RESET);
  if (rc == 0 && pad && strlen(name) < PHASE_COL)
    rc = put_spaces(out, PHASE_COL - strlen(name));
  return rc;
}

static const sk_step_t *spec_step(const sk_workflow_t *wf, const char *name) {
  if (!wf || !name)
    return NULL;
  for (size_t i = 0; i < wf->nsteps; i++)
    if (strcmp(wf->steps[i].name, name) == 0)
      return &wf->steps[i];
  return NULL;
}

static bool is_finally(const sk_workflow_t *wf, const sk_step_status_t *r) {
  const sk_step_t *s = spec_step(wf, r->step ? r->step : r->name);
  return s && s->is_finally;
}

/* Extra indentation of a record within its section: instances sit under
 * their parent. */
static size_t depth(const sk_step_status_t *r) { return r->index >= 0 ? 2 : 0; }

static void format_duration(const sk_step_status_t *r, int64_t now_ms, char *out, size_t n) {
  out[0] = '\0';
  if (r->started_at_ms <= 0)
    return;
  int64_t end = sk_phase_is_final(r->phase) && r->finished_at_ms > 0 ? r->finished_at_ms : now_ms;
  if (end < r->started_at_ms)
    end = r->started_at_ms;
  sk_duration_format(end - r->started_at_ms, out, n);
}

static void wf_duration(const sk_wf_status_t *st, int64_t now_ms, char *out, size_t n) {
  out[0] = '\0';
  if (st->started_at_ms <= 0)
    return;
  int64_t end = st->finished_at_ms > 0 ? st->finished_at_ms : now_ms;
  sk_duration_format(end > st->started_at_ms ? end - st->started_at_ms : 0, out, n);
}

/* The short form of a cloud job's name for the tree: a Vertex AI name
 * "projects/P/locations/L/customJobs/ID" is shown from "customJobs/" on
 * (the project and location are in the file), a SageMaker name as it is. */
static const char *job_short_name(const char *name) {
  const char *s = strstr(name, "/customJobs/");
  return s ? s + 1 : name;
}

/* A running cloud step's job as its ref records it: "customJobs/123
 * JOB_STATE_RUNNING". Nothing for other refs (a process has no name). */
static void put_job(const sk_step_status_t *r, sk_buf_t *note) {
  const char *name = json_string_value(json_object_get(r->ref, "name"));
  const char *state = json_string_value(json_object_get(r->ref, "state"));
  if (!name && !state)
    return;
  if (note->len)
    sk_buf_puts(note, ", ");
  if (name)
    sk_buf_puts(note, job_short_name(name));
  if (state)
    sk_buf_printf(note, "%s%s", name ? " " : "", state);
}

/* What a tree line says after the duration: the attempt and the cloud job
 * of a running step, a pending retry, or the message of a step that did
 * not succeed. */
static void tree_note(const sk_step_status_t *r, int64_t now_ms, sk_buf_t *note) {
  sk_buf_reset(note);
  if (r->phase == SK_PHASE_RUNNING) {
    if (r->attempt > 1)
      sk_buf_printf(note, "attempt %d", r->attempt);
    put_job(r, note);
  } else if (r->phase == SK_PHASE_PENDING && r->retry_at_ms > 0) {
    char d[32];
    sk_duration_format(r->retry_at_ms > now_ms ? r->retry_at_ms - now_ms : 0, d, sizeof(d));
    sk_buf_printf(note, "attempt %d failed; retry in %s", r->attempt, d);
  } else if (r->phase != SK_PHASE_SUCCEEDED && r->phase != SK_PHASE_RUNNING && r->message &&
             r->message[0])
    sk_buf_puts(note, r->message);
}

/* Appends one line: indent, name padded to name_col, phase, and then the
 * cells, separated by two spaces, all cut to the width. */
static int tree_line(sk_buf_t *out, const sk__render_opts_t *o, size_t indent, const char *name,
                     size_t name_col, sk_phase_t phase, const char *dur, const char *note) {
  size_t width = o->width > 0 ? (size_t)o->width : SIZE_MAX;
  size_t used = indent + strlen(name);
  int rc = put_spaces(out, indent);
  if (rc == 0)
    rc = sk_buf_puts(out, name);
  if (rc == 0)
    rc = put_spaces(out, name_col > used ? name_col - used + 2 : 2);
  used = (name_col > used ? name_col : used) + 2;
  if (rc == 0)
    rc = put_phase(out, phase, o->color, dur[0] || note[0]);
  used += PHASE_COL;
  if (rc == 0 && dur[0]) {
    char cell[40];
    snprintf(cell, sizeof(cell), "  %7s", dur);
    rc = sk_buf_puts(out, cell);
    used += strlen(cell);
  }
  if (rc == 0 && note[0]) {
    size_t room = width == SIZE_MAX ? SIZE_MAX : (width > used + 2 ? width - used - 2 : 0);
    if (room > 0) {
      if (!dur[0]) {
        rc = put_spaces(out, 9);
        room = room == SIZE_MAX ? room : (room > 9 ? room - 9 : 0);
      }
      if (rc == 0 && room > 0) {
        rc = sk_buf_puts(out, "  ");
        if (rc == 0)
          rc = put_cut(out, note, room);
      }
    }
  }
  return rc == 0 ? sk_buf_putc(out, '\n') : rc;
}

int sk__render_tree(const sk_workflow_t *wf, const sk_wf_status_t *st, int64_t now_ms,
                    const sk__render_opts_t *o, sk_buf_t *out) {
  size_t total = 1 + st->nsteps;
  bool any_finally = false;
  size_t name_col = 0;
  for (size_t i = 0; i < st->nsteps; i++) {
    const sk_step_status_t *r = &st->steps[i];
    bool fin = is_finally(wf, r);
    any_finally |= fin;
    size_t w = 2 + depth(r) + (fin ? 2 : 0) + strlen(r->name);
    if (w > name_col)
      name_col = w;
  }
  total += any_finally;
  size_t limit = o->max_lines > 0 ? (size_t)o->max_lines : SIZE_MAX;
  size_t shown = total <= limit ? total : (limit > 1 ? limit - 1 : 1);

  char progress[32], dur[32];
  sk_wf_status_progress(st, progress, sizeof(progress));
  wf_duration(st, now_ms, dur, sizeof(dur));
  sk_buf_t note;
  sk_buf_init(&note, 4096);
  int rc = 0;
  size_t lines = 0;
  {
    size_t width = o->width > 0 ? (size_t)o->width : SIZE_MAX;
    const char *name = wf && wf->name ? wf->name : "workflow";
    rc = put_cut(out, name, width > 20 ? width - 20 : 1);
    if (rc == 0)
      rc = sk_buf_puts(out, "  ");
    if (rc == 0)
      rc = put_phase(out, st->phase, o->color, false);
    if (rc == 0)
      rc = sk_buf_printf(out, "  %s%s%s\n", progress, dur[0] ? "  " : "", dur);
    lines++;
  }
  bool in_finally = false;
  for (size_t i = 0; i < st->nsteps && rc == 0 && lines < shown; i++) {
    const sk_step_status_t *r = &st->steps[i];
    bool fin = is_finally(wf, r);
    if (fin && !in_finally) {
      in_finally = true;
      rc = sk_buf_puts(out, "finally\n");
      if (++lines >= shown)
        break;
    }
    char d[32];
    format_duration(r, now_ms, d, sizeof(d));
    tree_note(r, now_ms, &note);
    if (rc == 0)
      rc = tree_line(out, o, 2 + depth(r) + (fin ? 2 : 0), r->name, name_col, r->phase, d,
                     note.data ? note.data : "");
    lines++;
  }
  if (rc == 0 && shown < total) {
    rc = sk_buf_printf(out, "  " ELLIPSIS " %zu more\n", total - shown);
    lines++;
  }
  sk_buf_release(&note);
  return rc < 0 ? rc : (int)lines;
}

int sk__render_transition(int64_t at_ms, const char *instance, sk_phase_t phase, int attempt,
                          const char *message, sk_buf_t *out) {
  time_t secs = (time_t)(at_ms / 1000);
  struct tm tm;
  char clock[16] = "??:??:??";
  if (localtime_r(&secs, &tm))
    strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
  int rc = sk_buf_printf(out, "%s %s  %s", clock, instance, sk_phase_name(phase));
  if (rc == 0 && phase == SK_PHASE_RUNNING && attempt > 1)
    rc = sk_buf_printf(out, " (attempt %d)", attempt);
  if (rc == 0 && phase != SK_PHASE_RUNNING && phase != SK_PHASE_SUCCEEDED && message &&
      message[0]) {
    rc = sk_buf_puts(out, ": ");
    if (rc == 0)
      rc = put_cut(out, message, SIZE_MAX);
  }
  return rc == 0 ? sk_buf_putc(out, '\n') : rc;
}

/* "a=1, b=two" from an outputs object, cut to cols columns. */
static int put_outputs(sk_buf_t *out, json_t *outputs, size_t cols) {
  if (!json_is_object(outputs) || cols == 0)
    return 0;
  sk_buf_t cell;
  sk_buf_init(&cell, 8192);
  const char *k;
  json_t *v;
  int rc = 0;
  json_object_foreach(outputs, k, v) {
    const char *s = json_is_string(v) ? json_string_value(v) : "?";
    rc = sk_buf_printf(&cell, "%s%s=%s", cell.len ? ", " : "", k, s);
    if (rc < 0)
      break;
  }
  /* A cell longer than the cap was cut while building: still show it. */
  if (cell.len > 0)
    rc = put_cut(out, cell.data, cols);
  sk_buf_release(&cell);
  return rc;
}

int sk__render_summary(const sk_workflow_t *wf, const sk_wf_status_t *st, int64_t now_ms,
                       const sk__render_opts_t *o, sk_buf_t *out) {
  size_t width = o->width > 0 ? (size_t)o->width : SIZE_MAX;
  size_t name_col = 4; /* "STEP" */
  for (size_t i = 0; i < st->nsteps; i++) {
    const sk_step_status_t *r = &st->steps[i];
    size_t w = depth(r) + (is_finally(wf, r) ? 2 : 0) + strlen(r->name);
    if (w > name_col)
      name_col = w;
  }
  /* STEP, PHASE, ATTEMPTS (8), DURATION (8), then OUTPUTS gets the rest. */
  size_t fixed = name_col + 2 + PHASE_COL + 2 + 8 + 2 + 8 + 2;
  size_t out_cols = width == SIZE_MAX ? CELL_MAX : (width > fixed ? width - fixed : 0);
  int rc = sk_buf_printf(out, "%-*s  %-*s  %-8s  %-8s  %s\n", (int)name_col, "STEP", PHASE_COL,
                         "PHASE", "ATTEMPTS", "DURATION", out_cols ? "OUTPUTS" : "");
  bool in_finally = false;
  for (size_t i = 0; i < st->nsteps && rc == 0; i++) {
    const sk_step_status_t *r = &st->steps[i];
    bool fin = is_finally(wf, r);
    if (fin && !in_finally) {
      in_finally = true;
      rc = sk_buf_puts(out, "finally\n");
    }
    size_t indent = depth(r) + (fin ? 2 : 0);
    char d[32], att[16] = "";
    format_duration(r, now_ms, d, sizeof(d));
    if (r->attempt > 0)
      snprintf(att, sizeof(att), "%d", r->attempt);
    if (rc == 0)
      rc = put_spaces(out, indent);
    if (rc == 0)
      rc = sk_buf_printf(out, "%-*s  ", (int)(name_col - indent), r->name);
    if (rc == 0)
      rc = put_phase(out, r->phase, o->color, true);
    if (rc == 0)
      rc = sk_buf_printf(out, "  %-8s  %-8s", att, d);
    if (rc == 0 && r->outputs && json_object_size(r->outputs) > 0) {
      rc = sk_buf_puts(out, "  ");
      if (rc == 0)
        rc = put_outputs(out, r->outputs, out_cols);
    }
    /* Trailing spaces of the padded cells are noise in a log file. */
    while (rc == 0 && out->len > 0 && out->data[out->len - 1] == ' ')
      out->data[--out->len] = '\0';
    if (rc == 0)
      rc = sk_buf_putc(out, '\n');
  }
  /* Why steps did not succeed, in full (the table has no room for it). */
  for (size_t i = 0; i < st->nsteps && rc == 0; i++) {
    const sk_step_status_t *r = &st->steps[i];
    if (r->phase == SK_PHASE_SUCCEEDED || !r->message || !r->message[0] ||
        (r->index < 0 && r->instances >= 0))
      continue;
    rc = sk_buf_printf(out, "%s: ", r->name);
    if (rc == 0)
      rc = put_cut(out, r->message, width == SIZE_MAX ? SIZE_MAX
                                    : width > strlen(r->name) + 2 ? width - strlen(r->name) - 2
                                                                  : 1);
    if (rc == 0)
      rc = sk_buf_putc(out, '\n');
  }
  char dur[32];
  wf_duration(st, now_ms, dur, sizeof(dur));
  if (rc == 0)
    rc = sk_buf_printf(out, "workflow %s ", wf && wf->name ? wf->name : "?");
  if (rc == 0)
    rc = put_phase(out, st->phase, o->color, false);
  if (rc == 0 && dur[0])
    rc = sk_buf_printf(out, " in %s", dur);
  if (rc == 0 && st->message && st->message[0]) {
    rc = sk_buf_puts(out, ": ");
    if (rc == 0)
      rc = put_cut(out, st->message, SIZE_MAX);
  }
  if (rc == 0)
    rc = sk_buf_putc(out, '\n');
  if (rc == 0 && o->run_dir)
    rc = sk_buf_printf(out, "run directory: %s\n", o->run_dir);
  return rc;
}
