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
#include <stdio.h>
#include <uv.h>

#include "cloud/cloud.h"
#include "cloud/jobs.h"
#include "engine/engine.h"
#include "http/http.h"
#include "spec/spec.h"
#include "util/buf.h"

/* ---- processes (proc.c) ---- */

/* Longest line echoed or kept as "the last stderr line"; longer lines are
 * cut (the attempt log still gets every byte). */
#define SK__LINE_MAX 4096
/* How long a run waits for the cloud to accept a cancel before it gives up
 * and warns. The tracker gives up on refused cancels well before this (a
 * few minutes of retries); the bound is for a job that cannot even be
 * looked up (no credentials, no network), which would otherwise keep the
 * run waiting for ever. */
#define SK__CLOUD_CANCEL_WAIT_MS (10 * 60 * 1000)
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

/* ---- a pod step's process (podenv.c) ---- */

/* Expands Kubernetes `$(NAME)` references in s from vars ("NAME=VALUE",
 * the last definition of a name winning), appending to out: unknown names
 * stay as written, `$$` becomes `$`. */
int sk__expand_k8s(const char *s, char *const *vars, size_t n, sk_buf_t *out);
/* Builds the argv (command + args) and the environment (parent_env, then
 * skein_vars, then the pod's env values; all NULL-terminated "NAME=VALUE")
 * of a pod body, expanding `$(NAME)` as a kubelet does. Returns SK_EINVAL
 * with a message for a body that cannot run locally (no command, a
 * valueFrom, a value that is not a string). Free both with sk__strv_free. */
int sk__pod_process(json_t *pod, char *const *parent_env, char *const *skein_vars,
                    char ***argv_out, char ***env_out, char *err, size_t errlen);
void sk__strv_free(char **v);

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
/* Writes name (e.g. "status.json", or "steps/train/job-1.json" in a
 * directory that exists) in the run directory atomically: a temporary file
 * next to it, then rename. The JSON is indented, ends with a newline. */
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
/* The cloud job record of an instance with the highest number n
 * (steps/<instance>/job-<n>.json): sets *n (0 when there is none) and
 * *job (new reference, or NULL when there is none or it cannot be read).
 * Job numbers only grow within a run directory, resumes included. */
int sk__store_last_job(const sk__store_t *s, const char *instance, int *n, json_t **job);
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
 * shows phase, attempt (when > 1), duration, a running cloud step's job
 * name and state (from its ref) and, for a Pending retry, when
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

/* ---- showing the progress (progress.c) ---- */

typedef struct sk__progress {
  FILE *fp;              /* the progress stream: stdout, or stderr with -o json */
  bool live;             /* a terminal: draw the tree in place */
  bool color;            /* live and NO_COLOR is not set */
  const sk_workflow_t *wf; /* borrowed, for the tree */
  const sk_wf_status_t *st;
  uv_loop_t *loop;
  uv_timer_t timer;      /* redraw tick (live only) */
  bool timer_open;
  bool dirty;            /* something changed since the last draw */
  int lines_drawn;       /* tree lines on screen below the cursor's line */
  int64_t last_draw_ms;  /* monotonic */
} sk__progress_t;

/* Decides live or plain from fp (isatty, TERM, NO_COLOR) and starts the
 * redraw tick when live (the tick does not keep the loop alive). */
void sk__progress_init(sk__progress_t *p, uv_loop_t *loop, FILE *fp, const sk_workflow_t *wf,
                       const sk_wf_status_t *st);
/* Removes the tree and closes the tick's handle (run the loop after). */
void sk__progress_close(sk__progress_t *p);
/* A line of skeinctl's own (a newline is added), above the tree. */
void sk__progress_note(sk__progress_t *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A warning on stderr (a newline is added), above the tree when the tree
 * is drawn on the same terminal. */
void sk__progress_warn(sk__progress_t *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A line of a step's output, shown as "[instance] line". */
void sk__progress_line(sk__progress_t *p, const char *instance, const char *line, size_t len);
/* Reports a plan's phase changes: one line each when plain, a redraw when
 * live. */
void sk__progress_transitions(sk__progress_t *p, const sk_engine_out_t *out);
/* The final table (see sk__render_summary). */
void sk__progress_summary(sk__progress_t *p, const char *run_dir);

/* ---- the runner: one run on one loop (run.c sets up, drive.c drives) ---- */

/* One attempt whose process is alive. */
typedef struct sk__attempt {
  struct sk__runner *r;
  char *instance;
  int attempt;
  sk__proc_t *proc;
  char *outputs_path;
  struct sk__attempt *next;
} sk__attempt_t;

/* An observation waiting for the next plan (owns its strings and JSON). */
typedef struct sk__pending_obs {
  sk_obs_kind_t kind;
  char *instance;
  int attempt;
  int64_t at_ms;
  char *message;
  json_t *outputs;
  json_t *ref;
} sk__pending_obs_t;

/* One attempt of a cloud step (cloudrun.c), from its START until the
 * job ended and was reported, or until the cloud accepted (or we gave up)
 * its cancel. */
typedef struct sk__cloud_attempt {
  char *instance;
  int attempt;          /* the engine's attempt */
  int job;              /* the job's number n (steps/<instance>/job-<n>.json, its key,
                           its skein-attempt label and SageMaker name) */
  char *key;            /* "<workflow uid>/<instance>/<n>" */
  sk_cjob_kind_t kind;
  bool cancelling;      /* a KILL asked the cloud to stop it */
  int64_t cancel_deadline_ms; /* monotonic: stop waiting for the cancel then */
  bool done;            /* nothing left to report or wait for: forgotten at the next reap */
  bool followed;        /* resumed from an interrupted run, not submitted by this one */
  char *name;           /* last seen of the job, for notes */
  char *state;
  char *message;
  struct sk__cloud_attempt *next;
} sk__cloud_attempt_t;

/* A cloud step that was Running when its run was interrupted: the first
 * attempt after --resume follows that job instead of submitting another. */
typedef struct sk__cloud_resume {
  char *instance;
  int attempt;          /* the interrupted run's attempt */
  char *name;           /* the job's name from the status, or NULL */
} sk__cloud_resume_t;

typedef struct sk__runner {
  uv_loop_t loop;
  sk_workflow_t *wf;
  sk_wf_status_t st;
  sk__store_t store;
  const char *run_dir_shown; /* the run directory as the user would type it */
  char *invocation_dir;      /* where skeinctl was started (absolute) */
  FILE *progress_fp;
  sk__progress_t progress;
  sk__attempt_t *attempts;   /* live processes */
  size_t nlive;
  sk__pending_obs_t *obs;
  size_t nobs;
  size_t obs_cap;
  uv_timer_t plan_timer;     /* a plan soon (coalesces many events into one plan) */
  uv_timer_t wake_timer;     /* the engine's wake_at_ms */
  uv_signal_t sig_int;
  uv_signal_t sig_term;
  uv_signal_t sig_hup;
  sk_shutdown_t shutdown;
  int signals;               /* SIGINT/SIGTERM/SIGHUP received */
  bool finished;             /* the workflow phase is final */
  bool closing;              /* handles are being closed: the loop is ending */
  int fatal;                 /* a negative SK_E* when the runtime itself broke */
  bool status_warned;        /* a failed status.json write was reported */
  /* Cloud steps (cloudrun.c); each part made at the first START that
   * needs it. */
  bool curl_ready;           /* curl_global_init was called */
  sk_http_t *http;
  sk_cjobs_t *cjobs;
  sk_cloud_authz_t *gcp_authz; /* Application Default Credentials */
  sk_cloud_authz_t *aws_authz; /* the AWS credential chain */
  sk__cloud_attempt_t *cloud;
  /* Rereads the jobs' info every second: the tracker reports phase, name,
   * state and cancel changes, but not the message of a request it retries
   * ("throttled by Vertex AI, next try in 30s"), which the user should see
   * during a long wait. Does not keep the loop alive. */
  uv_timer_t cloud_tick;
  bool cloud_tick_open;
  sk__cloud_resume_t *resume; /* set by run.c for --resume */
  size_t nresume;
  bool job_file_warned;      /* a failed job-<n>.json write was reported */
} sk__runner_t;

/* Runs the loop until the workflow is final and every process is gone.
 * r->wf, r->st (fresh or prepared for resume), r->store and
 * r->progress_fp are set. Returns 0, or r->fatal. */
int sk__drive(sk__runner_t *r);
/* Writes status.json now (warning once on failure). */
void sk__save_status(sk__runner_t *r);
/* Queues an observation for the next plan (and asks for one); takes the
 * references to outputs and ref. */
void sk__queue_obs(sk__runner_t *r, sk_obs_kind_t kind, const char *instance, int attempt,
                   const char *message, json_t *outputs, json_t *ref);
/* Asks for a plan soon (from a zero-delay timer). */
void sk__schedule_plan(sk__runner_t *r);

/* ---- cloud steps (cloudrun.c) ---- */

/* Carries out the START of a vertex or sagemaker step: ensures the job
 * with the tracker (submitted, or the interrupted run's job followed) and
 * queues STARTED; any failure becomes a FAILED observation. */
void sk__cloud_start(sk__runner_t *r, const sk_action_t *act);
/* Carries out a KILL: asks the cloud to cancel the attempt's job. Returns
 * false when the attempt is not a cloud attempt of ours. */
bool sk__cloud_kill(sk__runner_t *r, const char *instance, int attempt);
/* Cancels every job still running (the runtime broke, or the workflow
 * ended with one left). */
void sk__cloud_kill_all(sk__runner_t *r);
/* Stops waiting for cancels (a third Ctrl-C): says which jobs may still
 * run. */
void sk__cloud_abandon(sk__runner_t *r);
/* Forgets the attempts that are done; returns how many are left, which
 * the run waits for as it waits for processes. Never call it from a
 * tracker callback. */
size_t sk__cloud_reap(sk__runner_t *r);
/* Attempts waiting for a cancel to be accepted. */
size_t sk__cloud_cancelling(const sk__runner_t *r);
/* Destroys the tracker, the authorisers and the HTTP client (the loop
 * must run afterwards), and frees the resume table. */
void sk__cloud_close(sk__runner_t *r);
/* Frees the resume table (also done by sk__cloud_close). */
void sk__cloud_resume_free(sk__runner_t *r);

#endif
