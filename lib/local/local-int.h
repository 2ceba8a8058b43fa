/*
 * Private to lib/local: the process executor, the run-directory store, the
 * progress rendering and the identity helpers that run.c wires together.
 * Each part is usable (and unit-tested) without the others.
 */
#ifndef SK_LOCAL_LOCAL_INT_H
#define SK_LOCAL_LOCAL_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "engine/engine.h"
#include "spec/spec.h"
#include "util/buf.h"

/* ---- processes (proc.c) ---- */

/* Longest line echoed or kept as "the last stderr line"; longer lines are
 * cut (the attempt log still gets every byte). */
#define SK__LINE_MAX 4096
/* How long a killed process group gets between SIGTERM and SIGKILL. */
#define SK__KILL_GRACE_MS 5000
/* How long to wait, after the main process exited and its group was
 * killed, for the output pipes to reach end of file (a process that left
 * the group may still hold them). */
#define SK__DRAIN_MS 2000

typedef struct sk__proc sk__proc_t;

typedef struct sk__proc_exit {
  int64_t exit_status;  /* the exit code; meaningful when term_signal is 0 */
  int term_signal;      /* the signal that ended the process, or 0 */
  bool killed;          /* sk__proc_kill was called before it ended */
  const char *last_stderr; /* the last non-blank stderr line (cut), or NULL */
} sk__proc_exit_t;

typedef struct sk__proc_cb {
  /* One line of output, without its newline (cut at SK__LINE_MAX with
   * "… (cut)"). May be NULL. */
  void (*on_line)(void *ud, const char *line, size_t len, bool is_stderr);
  /* The process ended and its output has been read to the end. The proc
   * may be destroyed from here. */
  void (*on_exit)(void *ud, const sk__proc_exit_t *ex);
} sk__proc_cb_t;

typedef struct sk__proc_spec {
  char *const *argv;    /* argv[0] is looked up in PATH */
  char *const *env;     /* "NAME=VALUE" strings, NULL-terminated; the whole environment */
  const char *cwd;
  const char *log_path; /* stdout and stderr are also written here (truncated first) */
} sk__proc_spec_t;

/* Spawns the process in a new session (so its own process group), stdin
 * from /dev/null, stdout and stderr through pipes. On failure returns a
 * negative SK_E* code with a message in err ("cannot run \"pyhton3\": no such
 * file or directory") and *out is NULL. */
int sk__proc_start(uv_loop_t *loop, const sk__proc_spec_t *spec, const sk__proc_cb_t *cb,
                   void *ud, sk__proc_t **out, char *err, size_t errlen);
/* The process id (also its process group id). */
int sk__proc_pid(const sk__proc_t *p);
/* Sends SIGTERM to the whole process group, and SIGKILL after grace_ms if
 * the process has not exited (grace_ms 0: SIGKILL at once). Calling it
 * again with a shorter grace escalates. Does nothing once it has exited. */
void sk__proc_kill(sk__proc_t *p, int64_t grace_ms);
/* Frees the proc. Before on_exit it first kills the process group with
 * SIGKILL. Handles close asynchronously: run the loop afterwards. */
void sk__proc_destroy(sk__proc_t *p);

/* ---- the run directory (store.c) ---- */

typedef struct sk__store {
  char *dir;            /* absolute path of the run directory */
  int lock_fd;          /* the flock'ed lock file, -1 when not held */
} sk__store_t;

void sk__store_init(sk__store_t *s);
void sk__store_release(sk__store_t *s);
/* Creates dir (and its parents) for a new run and takes the lock. Fails
 * with SK_EEXIST when dir already holds a run (workflow.json or
 * status.json), SK_ESTATE when another skeinctl holds the lock. */
int sk__store_create(sk__store_t *s, const char *dir, char *err, size_t errlen);
/* Opens an existing run directory for --resume and takes the lock. */
int sk__store_open(sk__store_t *s, const char *dir, char *err, size_t errlen);
/* Writes name (e.g. "status.json") in the run directory atomically: a
 * temporary file, then rename. The JSON is indented, ends with a newline. */
int sk__store_write_json(const sk__store_t *s, const char *name, json_t *j, char *err,
                         size_t errlen);
/* Reads name from the run directory as JSON (new reference). */
int sk__store_read_json(const sk__store_t *s, const char *name, json_t **out, char *err,
                        size_t errlen);
/* Formats "<dir>/steps/<instance>[/<leaf>]" into out. */
int sk__store_step_path(const sk__store_t *s, const char *instance, const char *leaf,
                        sk_buf_t *out);
/* Creates steps/<instance>/work/ (and parents). */
int sk__store_make_step_dirs(const sk__store_t *s, const char *instance, char *err,
                             size_t errlen);
/* Moves the attempt logs and outputs files of an instance into
 * steps/<instance>/previous/ (replacing an older one), so a resumed run
 * starting again at attempt 1 does not overwrite what the user may still
 * want to read. work/ stays: a step may continue from its own files. */
int sk__store_set_aside(const sk__store_t *s, const char *instance);
/* mkdir -p. */
int sk__mkdirs(const char *path, char *err, size_t errlen);

/* ---- identity (ident.c) ---- */

/* Fills out with n random bytes from /dev/urandom. */
int sk__random_bytes(void *out, size_t n);
/* A random UUIDv4, lower-case, 36 characters plus NUL. */
int sk__uuid4(char out[37]);
/* Writes n random characters of [a-z0-9] and a NUL (out holds n + 1 bytes),
 * for generateName. */
int sk__random_suffix(char *out, size_t n);

/* ---- rendering the progress (render.c; pure: status → text) ---- */

typedef struct sk__render_opts {
  int width;      /* columns to fit lines in; <= 0 means no limit */
  int max_lines;  /* tree: lines at most (a "… N more" line ends a cut tree); <= 0 no limit */
  bool color;     /* ANSI colours for phases */
  const char *run_dir; /* summary: shown on the workflow line; may be NULL */
} sk__render_opts_t;

/* The live tree: a header line (workflow name, phase, progress, duration),
 * then one line per record: main steps, fan-out instances indented under
 * their parent, then a "finally" heading and the finally steps. Each line
 * shows phase, attempt (when > 1), duration and, for a Pending retry, when
 * it retries. Appends lines ending in '\n' to out; returns the number of
 * lines, or a negative SK_E* code. */
int sk__render_tree(const sk_workflow_t *wf, const sk_wf_status_t *st, int64_t now_ms,
                    const sk__render_opts_t *o, sk_buf_t *out);
/* One transition line for logs that are not a terminal:
 *   "12:01:03 train-1  Running (attempt 2)"
 *   "12:01:09 train-1  Failed: exited with code 1"
 * (local time; message and attempt shown when they say something). */
int sk__render_transition(int64_t at_ms, const char *instance, sk_phase_t phase, int attempt,
                          const char *message, sk_buf_t *out);
/* The final table (step, phase, attempts, duration, outputs), the messages
 * of steps that did not succeed, and the workflow line: name, phase, total
 * duration, run directory. */
int sk__render_summary(const sk_workflow_t *wf, const sk_wf_status_t *st, int64_t now_ms,
                       const sk__render_opts_t *o, sk_buf_t *out);

#endif
