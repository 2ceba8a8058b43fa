/*
 * The embedded runtime: `skeinctl validate` and `skeinctl run` on this
 * machine, without a cluster.
 *
 * `run` drives the pure engine (engine/engine.h) on one libuv loop: it
 * carries out START actions by spawning a pod step's command as a local
 * process (in its own process group), KILL actions by signalling that
 * group, and feeds the exits back as observations. vertex and sagemaker
 * steps run as cloud jobs through the job tracker skeind uses
 * (cloud/jobs.h), with this machine's credentials; a KILL cancels the job
 * and the run waits for the cloud to accept the cancel. Everything a run
 * produces lives in its run directory:
 *
 *   workflow.json               the resolved Workflow (params and identity set)
 *   status.json                 its status, rewritten atomically after every change
 *   steps/<instance>/work/      the process's working directory
 *   steps/<instance>/attempt-<n>.log   stdout and stderr of attempt n
 *   steps/<instance>/outputs-<n>       $SKEIN_OUTPUTS of attempt n
 *   steps/<instance>/job-<n>.json      a cloud step's n-th job: kind, key, name, state
 *   lock                        held (flock) while a skeinctl works on the run
 *
 * A step's process sees the parent environment, the step's env values, and
 * SKEIN_OUTPUTS, SKEIN_RUN_DIR (the run directory: where steps leave files
 * for later steps), SKEIN_INVOCATION_DIR (where skeinctl was started),
 * SKEIN_STEP (instance name), SKEIN_ATTEMPT and SKEIN_WORKFLOW (name).
 *
 * Exit codes, as `skeinctl` returns them: 0 the workflow Succeeded; 1 it
 * Failed (or, for validate, a file is invalid); 2 invalid input, usage or
 * I/O errors (nothing ran); 130 it was Cancelled by SIGINT, SIGTERM or SIGHUP.
 */
#ifndef SK_LOCAL_LOCAL_H
#define SK_LOCAL_LOCAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define SK_LOCAL_EXIT_OK 0
#define SK_LOCAL_EXIT_FAILED 1
#define SK_LOCAL_EXIT_USAGE 2
#define SK_LOCAL_EXIT_CANCELLED 130

/* The version `skeinctl version` prints. */
#define SK_LOCAL_VERSION "0.1.0"

typedef struct sk_local_opts {
  const char *file;        /* the Workflow file; NULL when resuming */
  const char *resume_dir;  /* --resume DIR, or NULL */
  const char *workdir;     /* --workdir DIR, or NULL for .skein/runs/<workflow-name> */
  const char *const *params; /* "NAME=VALUE" strings from -p, in order (borrowed) */
  size_t nparams;
  bool json;               /* -o json: stdout holds only the final Workflow as JSON */
} sk_local_opts_t;

/*
 * Runs a Workflow on this machine (see the top of this file). Sets
 * *exit_code to one of the SK_LOCAL_EXIT_* codes and returns 0 when the
 * run got as far as a verdict (including an invalid file or a usage
 * mistake, which are reported on stderr with exit code 2); returns a
 * negative SK_E* code only when the runtime itself broke (out of memory, the
 * event loop failed), after printing what it could, with *exit_code 2.
 */
int sk_local_run(const sk_local_opts_t *opts, int *exit_code);

/*
 * `skeinctl validate`: parses and validates every document of every file.
 * Valid files get "FILE: valid (N documents)" on stdout; every problem is
 * printed to stderr as `FILE:LINE:COL: FIELD.PATH: message`, sorted.
 * *exit_code is 0 when all are valid, 1 when any is invalid, 2 when a file
 * cannot be read (the others are still checked).
 */
int sk_local_validate(const char *const *files, size_t nfiles, int *exit_code);

/* ---- command line (cmd/skeinctl parses with these) ---- */

typedef enum {
  SK_LOCAL_CMD_NONE,      /* no command given */
  SK_LOCAL_CMD_HELP,      /* skeinctl help [CMD], skeinctl --help */
  SK_LOCAL_CMD_VERSION,
  SK_LOCAL_CMD_VALIDATE,
  SK_LOCAL_CMD_RUN,
} sk_local_cmd_t;

typedef struct sk_local_cli {
  sk_local_cmd_t cmd;
  sk_local_cmd_t help_for; /* HELP: the command asked about; NONE for the overview */
  sk_local_opts_t run;     /* RUN: the options (strings borrowed from argv) */
  const char **files;      /* VALIDATE: the files (borrowed from argv) */
  size_t nfiles;
  const char **params_store; /* owns the array behind run.params */
} sk_local_cli_t;

/*
 * Parses argv (argv[0] is the program). Returns 0 with cli filled in, or
 * SK_EINVAL with a one-line message in err for a usage mistake (unknown
 * command or flag, a missing or extra argument); cli->cmd then says which
 * command's usage to show. A command's --help (anywhere in its arguments)
 * turns the result into HELP for that command. Release cli afterwards in
 * either case.
 */
int sk_local_cli_parse(int argc, char *const *argv, sk_local_cli_t *cli, char *err,
                       size_t errlen);
void sk_local_cli_release(sk_local_cli_t *cli);
/* The usage text of a command, or the overview for NONE/HELP/VERSION
 * (static, ends with a newline). */
const char *sk_local_cli_usage(sk_local_cmd_t cmd);

#endif
