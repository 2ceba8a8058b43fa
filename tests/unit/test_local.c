/*
 * Tests of lib/local: argument parsing, the run-directory store, identity,
 * the process executor (real processes on a real loop) and the progress
 * rendering.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "local/local-int.h"
#include "local/local.h"
#include "sk_test.h"
#include "util/error.h"
#include "util/strutil.h"
#include "util/timeutil.h"

extern char **environ;

/* ---- helpers ---- */

static char tmpdir[256];

static void make_tmpdir(void) {
  const char *base = getenv("TMPDIR");
  snprintf(tmpdir, sizeof(tmpdir), "%s/skein-test-local-XXXXXX", base ? base : "/tmp");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    exit(2);
  }
}

static void remove_tmpdir(void) {
  char cmd[512];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", tmpdir);
}

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  sk_buf_t b;
  sk_buf_init(&b, 1 << 20);
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
    sk_buf_append(&b, chunk, n);
  fclose(f);
  return sk_buf_steal(&b);
}

static bool file_exists(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0;
}

/* True when pid no longer runs: gone, or a zombie waiting for a reaper that
 * is not ours. */
static bool pid_gone(int pid) {
  if (kill(pid, 0) < 0 && errno == ESRCH)
    return true;
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  char *s = read_file(path);
  if (!s)
    return true;
  const char *p = strrchr(s, ')');
  bool zombie = p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
  free(s);
  return zombie;
}

/* ---- cli ---- */

static int parse_args(sk_local_cli_t *cli, char *err, size_t errlen, int argc, ...) {
  char *argv[32];
  va_list ap;
  va_start(ap, argc);
  for (int i = 0; i < argc; i++)
    argv[i] = va_arg(ap, char *);
  va_end(ap);
  argv[argc] = NULL;
  return sk_local_cli_parse(argc, argv, cli, err, errlen);
}

TEST(cli_commands) {
  sk_local_cli_t cli;
  char err[256];
  CHECK_INT(parse_args(&cli, err, sizeof(err), 2, "skeinctl", "--help"), 0);
  CHECK_INT(cli.cmd, SK_LOCAL_CMD_HELP);
  CHECK_INT(cli.help_for, SK_LOCAL_CMD_NONE);
  sk_local_cli_release(&cli);

  CHECK_INT(parse_args(&cli, err, sizeof(err), 3, "skeinctl", "help", "run"), 0);
  CHECK_INT(cli.cmd, SK_LOCAL_CMD_HELP);
  CHECK_INT(cli.help_for, SK_LOCAL_CMD_RUN);
  sk_local_cli_release(&cli);

  CHECK_INT(parse_args(&cli, err, sizeof(err), 2, "skeinctl", "version"), 0);
  CHECK_INT(cli.cmd, SK_LOCAL_CMD_VERSION);
  sk_local_cli_release(&cli);

  CHECK_INT(parse_args(&cli, err, sizeof(err), 4, "skeinctl", "validate", "a.yaml", "b.yaml"),
            0);
  CHECK_INT(cli.cmd, SK_LOCAL_CMD_VALIDATE);
  CHECK_INT(cli.nfiles, 2);
  CHECK_STR(cli.files[1], "b.yaml");
  sk_local_cli_release(&cli);

  CHECK_INT(parse_args(&cli, err, sizeof(err), 3, "skeinctl", "validate", "--help"), 0);
  CHECK_INT(cli.cmd, SK_LOCAL_CMD_HELP);
  CHECK_INT(cli.help_for, SK_LOCAL_CMD_VALIDATE);
  sk_local_cli_release(&cli);

  CHECK(strstr(sk_local_cli_usage(SK_LOCAL_CMD_RUN), "--resume DIR") != NULL);
  CHECK(strstr(sk_local_cli_usage(SK_LOCAL_CMD_NONE), "validate FILE") != NULL);
}

TEST(cli_run_flags) {
  sk_local_cli_t cli;
  char err[256];
  CHECK_INT(parse_args(&cli, err, sizeof(err), 11, "skeinctl", "run", "-p", "a=1", "wf.yaml",
                       "-pb=x=y", "--param=c=", "-o", "json", "--workdir", "out"),
            0);
  CHECK_INT(cli.cmd, SK_LOCAL_CMD_RUN);
  CHECK_STR(cli.run.file, "wf.yaml");
  CHECK_INT(cli.run.nparams, 3);
  if (cli.run.nparams == 3) {
    CHECK_STR(cli.run.params[0], "a=1");
    CHECK_STR(cli.run.params[1], "b=x=y");
    CHECK_STR(cli.run.params[2], "c=");
  }
  CHECK(cli.run.json);
  CHECK_STR(cli.run.workdir, "out");
  CHECK(cli.run.resume_dir == NULL);
  sk_local_cli_release(&cli);

  CHECK_INT(parse_args(&cli, err, sizeof(err), 5, "skeinctl", "run", "--resume=d", "-o",
                       "json"),
            0);
  CHECK_STR(cli.run.resume_dir, "d");
  CHECK(cli.run.file == NULL);
  CHECK(cli.run.json);
  sk_local_cli_release(&cli);

  /* "--" ends the flags: a file may start with a dash. */
  CHECK_INT(parse_args(&cli, err, sizeof(err), 4, "skeinctl", "run", "--", "-odd.yaml"), 0);
  CHECK_STR(cli.run.file, "-odd.yaml");
  sk_local_cli_release(&cli);
}

static void check_usage_error(int argc, char *a1, char *a2, char *a3, char *a4,
                              const char *want) {
  sk_local_cli_t cli;
  char err[256] = "";
  char *argv[] = {"skeinctl", a1, a2, a3, a4, NULL};
  int rc = sk_local_cli_parse(argc, argv, &cli, err, sizeof(err));
  if (rc != SK_EINVAL || strcmp(err, want) != 0)
    FAILF("args %s %s %s %s: rc %d err \"%s\", want SK_EINVAL \"%s\"", a1 ? a1 : "",
          a2 ? a2 : "", a3 ? a3 : "", a4 ? a4 : "", rc, err, want);
  sk_local_cli_release(&cli);
}

TEST(cli_usage_errors) {
  check_usage_error(1, NULL, NULL, NULL, NULL, "no command given");
  check_usage_error(2, "frobnicate", NULL, NULL, NULL, "unknown command \"frobnicate\"");
  check_usage_error(2, "--frob", NULL, NULL, NULL, "unknown flag \"--frob\"");
  check_usage_error(2, "validate", NULL, NULL, NULL, "validate: no FILE given");
  check_usage_error(3, "validate", "-x", NULL, NULL, "validate: unknown flag \"-x\"");
  check_usage_error(2, "run", NULL, NULL, NULL, "run: no FILE given");
  check_usage_error(4, "run", "a.yaml", "b.yaml", NULL,
                    "run: more than one FILE given (\"b.yaml\")");
  check_usage_error(3, "run", "--bogus", NULL, NULL, "run: unknown flag \"--bogus\"");
  check_usage_error(4, "run", "a.yaml", "-p", NULL, "run: -p needs NAME=VALUE");
  check_usage_error(5, "run", "a.yaml", "-p", "novalue", "run: -p \"novalue\" is not NAME=VALUE");
  check_usage_error(5, "run", "a.yaml", "-p", "=v", "run: -p \"=v\" is not NAME=VALUE");
  check_usage_error(5, "run", "a.yaml", "-o", "yaml",
                    "run: unknown output format \"yaml\" (expected json)");
  check_usage_error(4, "run", "a.yaml", "--workdir", NULL, "run: --workdir needs a directory");
  check_usage_error(5, "run", "--resume", "d", "a.yaml",
                    "run: give either FILE or --resume DIR, not both (\"a.yaml\")");
  check_usage_error(5, "run", "--resume=d", "-p", "a=1",
                    "run: -p cannot be used with --resume: a resumed run keeps the parameters "
                    "it started with");
  check_usage_error(3, "version", "x", NULL, NULL, "version: unexpected argument \"x\"");
  check_usage_error(3, "help", "bogus", NULL, NULL, "help: unknown command \"bogus\"");
}

/* ---- identity ---- */

TEST(identity) {
  char a[37], b[37];
  CHECK_INT(sk__uuid4(a), 0);
  CHECK_INT(sk__uuid4(b), 0);
  CHECK_INT(strlen(a), 36);
  CHECK(strcmp(a, b) != 0);
  CHECK(a[8] == '-' && a[13] == '-' && a[18] == '-' && a[23] == '-');
  CHECK(a[14] == '4');
  CHECK(strchr("89ab", a[19]) != NULL);
  for (int i = 0; i < 36; i++)
    if (!strchr("0123456789abcdef-", a[i]))
      FAILF("uuid %s has %c at %d", a, a[i], i);
  char s[6];
  CHECK_INT(sk__random_suffix(s, 5), 0);
  CHECK_INT(strlen(s), 5);
  for (int i = 0; i < 5; i++)
    if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789", s[i]))
      FAILF("suffix %s has %c", s, s[i]);
}

/* ---- store ---- */

TEST(store) {
  char dir[512], err[512];
  snprintf(dir, sizeof(dir), "%s/runs/one", tmpdir);
  sk__store_t s, s2;
  sk__store_init(&s);
  sk__store_init(&s2);
  CHECK_INT(sk__store_create(&s, dir, err, sizeof(err)), 0);
  REQUIRE(s.dir != NULL);
  CHECK(s.dir[0] == '/');
  /* A second skeinctl on the same directory is refused while the lock is held. */
  int rc = sk__store_open(&s2, dir, err, sizeof(err));
  CHECK_INT(rc, SK_ESTATE);
  json_t *j = json_pack("{s:s, s:i}", "phase", "Running", "n", 3);
  CHECK_INT(sk__store_write_json(&s, "workflow.json", j, err, sizeof(err)), 0);
  CHECK_INT(sk__store_write_json(&s, "status.json", j, err, sizeof(err)), 0);
  rc = sk__store_open(&s2, dir, err, sizeof(err));
  CHECK_INT(rc, SK_ESTATE);
  CHECK(strstr(err, "another skeinctl is working on the run") != NULL);
  json_t *back = NULL;
  CHECK_INT(sk__store_read_json(&s, "status.json", &back, err, sizeof(err)), 0);
  CHECK(back && json_equal(back, j));
  json_decref(back);
  CHECK_INT(sk__store_read_json(&s, "nope.json", &back, err, sizeof(err)), SK_ENOENT);
  char tmp[600];
  snprintf(tmp, sizeof(tmp), "%s/.status.json.tmp", s.dir);
  CHECK(!file_exists(tmp));

  /* Step directories and their paths. */
  CHECK_INT(sk__store_make_step_dirs(&s, "train-0", err, sizeof(err)), 0);
  sk_buf_t p;
  sk_buf_init(&p, 4096);
  CHECK_INT(sk__store_step_path(&s, "train-0", "attempt-1.log", &p), 0);
  char want[600];
  snprintf(want, sizeof(want), "%s/steps/train-0/attempt-1.log", s.dir);
  CHECK_STR(p.data, want);
  FILE *f = fopen(p.data, "w");
  REQUIRE(f != NULL);
  fputs("old log\n", f);
  fclose(f);
  sk__store_step_path(&s, "train-0", "outputs-1", &p);
  f = fopen(p.data, "w");
  REQUIRE(f != NULL);
  fclose(f);
  CHECK_INT(sk__store_set_aside(&s, "train-0"), 0);
  CHECK(!file_exists(want));
  snprintf(want, sizeof(want), "%s/steps/train-0/previous/attempt-1.log", s.dir);
  char *txt = read_file(want);
  CHECK_STR(txt, "old log\n");
  free(txt);
  snprintf(want, sizeof(want), "%s/steps/train-0/work", s.dir);
  CHECK(file_exists(want));
  /* Nothing to set aside is fine, and so is a step that never ran. */
  CHECK_INT(sk__store_set_aside(&s, "train-0"), 0);
  CHECK_INT(sk__store_set_aside(&s, "never"), 0);
  sk_buf_release(&p);
  sk__store_release(&s);

  /* A directory holding a run cannot be used for a new one; it can be resumed. */
  rc = sk__store_create(&s, dir, err, sizeof(err));
  CHECK_INT(rc, SK_EEXIST);
  CHECK(strstr(err, "already holds a run; continue it with `skeinctl run --resume") != NULL);
  CHECK_INT(sk__store_open(&s2, dir, err, sizeof(err)), 0);
  sk__store_release(&s2);
  snprintf(dir, sizeof(dir), "%s/runs/missing", tmpdir);
  CHECK_INT(sk__store_open(&s2, dir, err, sizeof(err)), SK_ENOENT);
  CHECK(strstr(err, "no such run directory") != NULL);
  sk__store_release(&s);
  sk__store_release(&s2);
  json_decref(j);
}

/* Cloud job records: written into a step directory atomically, and the
 * highest-numbered one found again, whatever else the directory holds. */
TEST(store_job_records) {
  char dir[512], err[512], path[700];
  snprintf(dir, sizeof(dir), "%s/runs/jobs", tmpdir);
  sk__store_t s;
  sk__store_init(&s);
  REQUIRE(sk__store_create(&s, dir, err, sizeof(err)) == 0);
  int n = -1;
  json_t *job = (json_t *)1;
  CHECK_INT(sk__store_last_job(&s, "train", &n, &job), 0);
  CHECK_INT(n, 0);
  CHECK(job == NULL);
  CHECK_INT(sk__store_make_step_dirs(&s, "train", err, sizeof(err)), 0);
  CHECK_INT(sk__store_last_job(&s, "train", &n, &job), 0);
  CHECK_INT(n, 0);
  for (int i = 1; i <= 11; i += 5) {
    char name[128];
    snprintf(name, sizeof(name), "steps/train/job-%d.json", i);
    json_t *j = json_pack("{s:i, s:s}", "job", i, "name", "customJobs/1");
    CHECK_INT(sk__store_write_json(&s, name, j, err, sizeof(err)), 0);
    json_decref(j);
  }
  /* Names that only look like job records are not counted. */
  static const char *const others[] = {"job-.json", "job-07.json", "job-99.json.tmp",
                                       "job-x.json", "attempt-50.log", ".job-60.json.tmp"};
  for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
    snprintf(path, sizeof(path), "%s/steps/train/%s", s.dir, others[i]);
    FILE *f = fopen(path, "w");
    REQUIRE(f != NULL);
    fclose(f);
  }
  snprintf(path, sizeof(path), "%s/steps/train/.job-11.json.tmp", s.dir);
  CHECK(!file_exists(path));
  CHECK_INT(sk__store_last_job(&s, "train", &n, &job), 0);
  CHECK_INT(n, 11);
  CHECK(job && json_integer_value(json_object_get(job, "job")) == 11);
  json_decref(job);
  /* An unreadable record still takes its number. */
  snprintf(path, sizeof(path), "%s/steps/train/job-12.json", s.dir);
  FILE *f = fopen(path, "w");
  REQUIRE(f != NULL);
  fputs("{not json", f);
  fclose(f);
  CHECK_INT(sk__store_last_job(&s, "train", &n, &job), 0);
  CHECK_INT(n, 12);
  CHECK(job == NULL);
  /* Setting a step's attempts aside leaves its job records. */
  CHECK_INT(sk__store_set_aside(&s, "train"), 0);
  CHECK_INT(sk__store_last_job(&s, "train", &n, &job), 0);
  CHECK_INT(n, 12);
  sk__store_release(&s);
}

/* ---- processes ---- */

typedef struct proc_result {
  bool exited;
  sk__proc_exit_t ex;
  char *last_stderr;
  sk_buf_t lines;   /* "O:line\n" or "E:line\n" */
} proc_result_t;

static void on_line(void *ud, const char *line, size_t len, bool is_stderr) {
  proc_result_t *r = ud;
  sk_buf_puts(&r->lines, is_stderr ? "E:" : "O:");
  sk_buf_append(&r->lines, line, len);
  sk_buf_putc(&r->lines, '\n');
}

static void on_exit_fn(void *ud, const sk__proc_exit_t *ex) {
  proc_result_t *r = ud;
  r->exited = true;
  r->ex = *ex;
  r->last_stderr = ex->last_stderr ? strdup(ex->last_stderr) : NULL;
  r->ex.last_stderr = NULL;
}

static const sk__proc_cb_t test_cb = {on_line, on_exit_fn};

/* Runs the loop until cond(ud) or the deadline; returns whether cond held. */
static bool run_until(uv_loop_t *loop, bool (*cond)(void *), void *ud, int64_t ms) {
  int64_t end = sk_time_mono_ms() + ms;
  while (!cond(ud) && sk_time_mono_ms() < end)
    uv_run(loop, UV_RUN_NOWAIT), usleep(2000);
  return cond(ud);
}

static bool exited(void *ud) { return ((proc_result_t *)ud)->exited; }
static bool path_exists(void *ud) { return file_exists(ud); }

static int start_sh(uv_loop_t *loop, const char *script, proc_result_t *r, sk__proc_t **p,
                    char *log) {
  char *argv[] = {"sh", "-c", (char *)script, NULL};
  snprintf(log, 512, "%s/proc.log", tmpdir);
  sk__proc_spec_t spec = {argv, environ, tmpdir, log};
  char err[256];
  memset(r, 0, sizeof(*r));
  sk_buf_init(&r->lines, 1 << 20);
  int rc = sk__proc_start(loop, &spec, &test_cb, r, p, err, sizeof(err));
  if (rc < 0)
    printf("  start failed: %s\n", err);
  return rc;
}

static void finish(uv_loop_t *loop, sk__proc_t *p, proc_result_t *r) {
  sk__proc_destroy(p);
  uv_run(loop, UV_RUN_DEFAULT);
  sk_buf_release(&r->lines);
  free(r->last_stderr);
}

TEST(proc_output_and_exit) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  proc_result_t r;
  sk__proc_t *p = NULL;
  char log[512];
  REQUIRE(start_sh(&loop,
                   "echo out1; echo err1 >&2; printf 'crlf\\r\\n'; echo 'last words' >&2; "
                   "echo '   ' >&2; printf 'no newline'; exit 3",
                   &r, &p, log) == 0);
  CHECK(sk__proc_pid(p) > 0);
  REQUIRE(run_until(&loop, exited, &r, 10000));
  CHECK_INT(r.ex.exit_status, 3);
  CHECK_INT(r.ex.term_signal, 0);
  CHECK(!r.ex.killed);
  CHECK_STR(r.last_stderr, "last words");
  /* The two pipes are read separately, so only the order within each
   * stream is certain. */
  const char *o1 = strstr(r.lines.data, "O:out1\n");
  const char *o2 = strstr(r.lines.data, "O:crlf\n");
  const char *o3 = strstr(r.lines.data, "O:no newline\n");
  const char *e1 = strstr(r.lines.data, "E:err1\n");
  const char *e2 = strstr(r.lines.data, "E:last words\n");
  CHECK(o1 && o2 && o3 && o1 < o2 && o2 < o3);
  CHECK(e1 && e2 && e1 < e2);
  if (!(o1 && o2 && o3 && e1 && e2))
    printf("  lines: %s\n", r.lines.data);
  char *txt = read_file(log);
  CHECK(txt && strstr(txt, "out1\n") && strstr(txt, "crlf\r\n") && strstr(txt, "no newline"));
  free(txt);
  finish(&loop, p, &r);
  CHECK_INT(uv_loop_close(&loop), 0);
}

TEST(proc_environment_and_cwd) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  char *argv[] = {"sh", "-c", "echo \"$FOO:$(pwd)\"", NULL};
  char *env[] = {"FOO=bar", "PATH=/usr/bin:/bin", NULL};
  char log[512];
  snprintf(log, sizeof(log), "%s/env.log", tmpdir);
  sk__proc_spec_t spec = {argv, env, "/", log};
  proc_result_t r;
  memset(&r, 0, sizeof(r));
  sk_buf_init(&r.lines, 1 << 20);
  sk__proc_t *p = NULL;
  char err[256];
  REQUIRE(sk__proc_start(&loop, &spec, &test_cb, &r, &p, err, sizeof(err)) == 0);
  REQUIRE(run_until(&loop, exited, &r, 10000));
  CHECK_STR(r.lines.data, "O:bar:/\n");
  CHECK_INT(r.ex.exit_status, 0);
  finish(&loop, p, &r);
  CHECK_INT(uv_loop_close(&loop), 0);
}

TEST(proc_spawn_failure) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  char *argv[] = {"skein-no-such-program", NULL};
  char log[512];
  snprintf(log, sizeof(log), "%s/fail.log", tmpdir);
  sk__proc_spec_t spec = {argv, environ, tmpdir, log};
  proc_result_t r;
  memset(&r, 0, sizeof(r));
  sk__proc_t *p = (sk__proc_t *)1;
  char err[256] = "";
  CHECK_INT(sk__proc_start(&loop, &spec, &test_cb, &r, &p, err, sizeof(err)), SK_EIO);
  CHECK(p == NULL);
  CHECK_STR(err, "cannot run \"skein-no-such-program\": no such file or directory (is it "
                 "installed and on PATH?)");
  /* A log that cannot be created is reported too. */
  snprintf(log, sizeof(log), "%s/no/such/dir/x.log", tmpdir);
  CHECK_INT(sk__proc_start(&loop, &spec, &test_cb, &r, &p, err, sizeof(err)), SK_EIO);
  CHECK(strstr(err, "cannot create ") != NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(!r.exited);
  CHECK_INT(uv_loop_close(&loop), 0);
}

/* Starts a script that puts a grandchild in the background and records its
 * pid; returns the pid once the file appears. */
static int start_with_grandchild(uv_loop_t *loop, const char *before, const char *after,
                                 proc_result_t *r, sk__proc_t **p) {
  char pidfile[512], script[1024], log[512];
  snprintf(pidfile, sizeof(pidfile), "%s/grandchild.pid", tmpdir);
  unlink(pidfile);
  snprintf(script, sizeof(script), "%s%s%s", before, pidfile, after);
  if (start_sh(loop, script, r, p, log) < 0)
    return -1;
  if (!run_until(loop, path_exists, pidfile, 10000))
    return -1;
  char *s = NULL;
  int64_t end = sk_time_mono_ms() + 5000;
  int64_t pid = 0;
  /* The file exists before the shell has finished writing it. */
  while (sk_time_mono_ms() < end) {
    free(s);
    s = read_file(pidfile);
    if (s && strchr(s, '\n')) {
      *strchr(s, '\n') = '\0';
      if (sk_parse_int64(s, &pid) == 0)
        break;
    }
    uv_run(loop, UV_RUN_NOWAIT);
    usleep(2000);
  }
  free(s);
  return (int)pid;
}

TEST(proc_kill_reaches_the_group) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  proc_result_t r;
  sk__proc_t *p = NULL;
  int gc = start_with_grandchild(&loop, "sleep 300 & echo $! > ", "; wait", &r, &p);
  REQUIRE(gc > 0);
  CHECK(!pid_gone(gc));
  int64_t t0 = sk_time_mono_ms();
  sk__proc_kill(p, SK__KILL_GRACE_MS);
  REQUIRE(run_until(&loop, exited, &r, 10000));
  CHECK(sk_time_mono_ms() - t0 < 3000);
  CHECK(r.ex.killed);
  CHECK_INT(r.ex.term_signal, SIGTERM);
  CHECK(pid_gone(gc));
  finish(&loop, p, &r);
  CHECK_INT(uv_loop_close(&loop), 0);
}

TEST(proc_kill_escalates_to_sigkill) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  proc_result_t r;
  sk__proc_t *p = NULL;
  /* An ignored SIGTERM is inherited by the grandchild too. */
  int gc = start_with_grandchild(&loop, "trap '' TERM; sleep 300 & echo $! > ", "; wait",
                                 &r, &p);
  REQUIRE(gc > 0);
  int64_t t0 = sk_time_mono_ms();
  sk__proc_kill(p, 300);
  REQUIRE(run_until(&loop, exited, &r, 10000));
  int64_t took = sk_time_mono_ms() - t0;
  CHECK(took >= 250);
  CHECK(took < 5000);
  CHECK_INT(r.ex.term_signal, SIGKILL);
  CHECK(pid_gone(gc));
  finish(&loop, p, &r);
  CHECK_INT(uv_loop_close(&loop), 0);
}

TEST(proc_leftovers_die_with_the_main_process) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  proc_result_t r;
  sk__proc_t *p = NULL;
  /* The background sleep keeps stdout open; the attempt must still end. */
  int gc = start_with_grandchild(&loop, "sleep 300 & echo $! > ", "; exit 0", &r, &p);
  REQUIRE(gc > 0);
  REQUIRE(run_until(&loop, exited, &r, 10000));
  CHECK_INT(r.ex.exit_status, 0);
  CHECK(!r.ex.killed);
  int64_t end = sk_time_mono_ms() + 5000;
  while (!pid_gone(gc) && sk_time_mono_ms() < end)
    usleep(5000);
  CHECK(pid_gone(gc));
  finish(&loop, p, &r);
  CHECK_INT(uv_loop_close(&loop), 0);
}

TEST(proc_long_lines_are_cut) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  proc_result_t r;
  sk__proc_t *p = NULL;
  char log[512];
  REQUIRE(start_sh(&loop,
                   "i=0; s=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; "
                   "while [ $i -lt 100 ]; do printf %s $s; i=$((i+1)); done; echo; echo short",
                   &r, &p, log) == 0);
  REQUIRE(run_until(&loop, exited, &r, 10000));
  /* 6400 bytes in: SK__LINE_MAX kept, then the mark. */
  const char *nl = strchr(r.lines.data, '\n');
  REQUIRE(nl != NULL);
  CHECK_INT(nl - r.lines.data, 2 + SK__LINE_MAX + strlen("\xE2\x80\xA6 (cut)"));
  CHECK(strncmp(nl - 9, "\xE2\x80\xA6 (cut)", 9) == 0);
  CHECK_STR(nl + 1, "O:short\n");
  struct stat sb;
  CHECK_INT(stat(log, &sb), 0);
  CHECK_INT(sb.st_size, 6400 + 1 + 6);
  finish(&loop, p, &r);
  CHECK_INT(uv_loop_close(&loop), 0);
}

/* ---- a pod's process ---- */

static char *expand(const char *s, char *const *vars, size_t n) {
  sk_buf_t b;
  sk_buf_init(&b, 4096);
  sk_buf_puts(&b, "");
  sk__expand_k8s(s, vars, n, &b);
  return sk_buf_steal(&b);
}

#define CHECK_EXPAND(s, want)                                                              \
  do {                                                                                     \
    char *got_ = expand((s), vars, sizeof(vars) / sizeof(vars[0]));                        \
    CHECK_STR(got_, want);                                                                 \
    free(got_);                                                                            \
  } while (0)

TEST(expand_k8s) {
  char *vars[] = {"A=1", "B=two", "A=3"};
  CHECK_EXPAND("plain", "plain");
  CHECK_EXPAND("$(A)-$(B)", "3-two");
  CHECK_EXPAND("$(C) stays", "$(C) stays");
  CHECK_EXPAND("$$(A) is escaped", "$(A) is escaped");
  CHECK_EXPAND("$HOME and $ alone, $(unclosed", "$HOME and $ alone, $(unclosed");
  CHECK_EXPAND("$()", "$()");
  CHECK_EXPAND("cost: $$5", "cost: $5");
}

static const char *env_get(char **env, const char *name) {
  size_t n = strlen(name);
  for (char **p = env; p && *p; p++)
    if (strncmp(*p, name, n) == 0 && (*p)[n] == '=')
      return *p + n + 1;
  return NULL;
}

static int env_count(char **env, const char *name) {
  size_t n = strlen(name);
  int c = 0;
  for (char **p = env; p && *p; p++)
    c += strncmp(*p, name, n) == 0 && (*p)[n] == '=';
  return c;
}

TEST(pod_process) {
  json_error_t jerr;
  json_t *pod = json_loads(
      "{\"image\": \"python:3\", \"command\": [\"python3\", \"-c\"],"
      " \"args\": [\"print(1)\", \"--out=$(SKEIN_RUN_DIR)/x\", \"$(MODE)\", \"$$(MODE)\"],"
      " \"env\": [{\"name\": \"MODE\", \"value\": \"fast-$(HOME)\"},"
      "          {\"name\": \"HOME\", \"value\": \"/h\"},"
      "          {\"name\": \"LATE\", \"value\": \"$(HOME)\"},"
      "          {\"name\": \"EMPTY\"}]}",
      0, &jerr);
  REQUIRE(pod != NULL);
  char *parent[] = {"PATH=/bin", "HOME=/root", "SKEIN_RUN_DIR=/stale", NULL};
  char *skein[] = {"SKEIN_RUN_DIR=/runs/r1", "SKEIN_STEP=train-0", NULL};
  char **argv = NULL, **env = NULL;
  char err[256];
  CHECK_INT(sk__pod_process(pod, parent, skein, &argv, &env, err, sizeof(err)), 0);
  REQUIRE(argv && env);
  CHECK_STR(argv[0], "python3");
  CHECK_STR(argv[1], "-c");
  CHECK_STR(argv[2], "print(1)");
  CHECK_STR(argv[3], "--out=/runs/r1/x");
  /* MODE was defined before HOME, so $(HOME) in it stayed as written. */
  CHECK_STR(argv[4], "fast-$(HOME)");
  CHECK_STR(argv[5], "$(MODE)");
  CHECK(argv[6] == NULL);
  CHECK_STR(env_get(env, "PATH"), "/bin");
  CHECK_STR(env_get(env, "HOME"), "/h");
  CHECK_INT(env_count(env, "HOME"), 1);
  CHECK_STR(env_get(env, "SKEIN_RUN_DIR"), "/runs/r1");
  CHECK_INT(env_count(env, "SKEIN_RUN_DIR"), 1);
  CHECK_STR(env_get(env, "LATE"), "/h");
  CHECK_STR(env_get(env, "EMPTY"), "");
  sk__strv_free(argv);
  sk__strv_free(env);
  json_decref(pod);

  pod = json_pack("{s:[s]}", "args", "x");
  CHECK_INT(sk__pod_process(pod, parent, skein, &argv, &env, err, sizeof(err)), SK_EINVAL);
  CHECK_STR(err, "pod.command is missing: locally there is no image entrypoint");
  CHECK(argv == NULL && env == NULL);
  json_decref(pod);
  pod = json_pack("{s:[s], s:[{s:s, s:{}}]}", "command", "x", "env", "name", "TOKEN",
                  "valueFrom");
  CHECK_INT(sk__pod_process(pod, parent, skein, &argv, &env, err, sizeof(err)), SK_EINVAL);
  CHECK_STR(err, "pod.env[0] (TOKEN) uses valueFrom, which needs a cluster");
  json_decref(pod);
  pod = json_pack("{s:[s, i]}", "command", "x", 3);
  CHECK_INT(sk__pod_process(pod, parent, skein, &argv, &env, err, sizeof(err)), SK_EINVAL);
  CHECK_STR(err, "pod.command[1] is not a string");
  json_decref(pod);
}

/* ---- rendering ---- */

/* A workflow model with just what the renderer looks at. */
typedef struct fake_wf {
  sk_workflow_t wf;
  sk_step_t steps[5];
} fake_wf_t;

static void fake_workflow(fake_wf_t *f) {
  memset(f, 0, sizeof(*f));
  static const char *names[] = {"prepare", "train", "evaluate", "register", "notify"};
  for (int i = 0; i < 5; i++) {
    f->steps[i].name = (char *)names[i];
    f->steps[i].is_finally = i == 4;
  }
  f->wf.name = "mnist-abc12";
  f->wf.steps = f->steps;
  f->wf.nsteps = 5;
  f->wf.nmain = 4;
}

/* 2026-01-02T10:00:00Z */
#define T0 1767348000000LL

static int load_status(sk_wf_status_t *st, const char *json) {
  json_error_t jerr;
  json_t *j = json_loads(json, 0, &jerr);
  if (!j) {
    printf("  bad test JSON: %s\n", jerr.text);
    return -1;
  }
  char err[256];
  sk_wf_status_init(st);
  int rc = sk_wf_status_from_json(j, st, err, sizeof(err));
  if (rc < 0)
    printf("  status: %s\n", err);
  json_decref(j);
  return rc;
}

static const char running_status[] =
    "{\"phase\": \"Running\", \"startedAt\": \"2026-01-02T10:00:00Z\", \"steps\": ["
    "{\"name\": \"prepare\", \"phase\": \"Succeeded\", \"attempt\": 1,"
    " \"startedAt\": \"2026-01-02T10:00:00Z\", \"finishedAt\": \"2026-01-02T10:00:01.500Z\","
    " \"outputs\": {\"rows\": \"3000\", \"path\": \"data/train.csv\"}},"
    "{\"name\": \"train\", \"phase\": \"Running\", \"instances\": 3,"
    " \"startedAt\": \"2026-01-02T10:00:02Z\"},"
    "{\"name\": \"train-0\", \"step\": \"train\", \"index\": 0, \"item\": \"0.1\","
    " \"phase\": \"Succeeded\", \"attempt\": 1, \"startedAt\": \"2026-01-02T10:00:02Z\","
    " \"finishedAt\": \"2026-01-02T10:00:05Z\", \"outputs\": {\"accuracy\": \"0.91\"}},"
    "{\"name\": \"train-1\", \"step\": \"train\", \"index\": 1, \"item\": \"0.01\","
    " \"phase\": \"Running\", \"attempt\": 2, \"startedAt\": \"2026-01-02T10:00:02Z\","
    " \"attemptStartedAt\": \"2026-01-02T10:00:06Z\"},"
    "{\"name\": \"train-2\", \"step\": \"train\", \"index\": 2, \"item\": \"0.001\","
    " \"phase\": \"Pending\", \"attempt\": 1, \"startedAt\": \"2026-01-02T10:00:02Z\","
    " \"retryAt\": \"2026-01-02T10:00:13Z\","
    " \"message\": \"attempt 1 failed: exited with code 1; retrying in 4s\"},"
    "{\"name\": \"evaluate\", \"phase\": \"Pending\"},"
    "{\"name\": \"register\", \"phase\": \"Pending\"},"
    "{\"name\": \"notify\", \"phase\": \"Pending\"}]}";

TEST(render_tree) {
  fake_wf_t f;
  fake_workflow(&f);
  sk_wf_status_t st;
  REQUIRE(load_status(&st, running_status) == 0);
  sk_buf_t out;
  sk_buf_init(&out, 1 << 16);
  sk__render_opts_t o = {.width = 0, .max_lines = 0, .color = false};
  int n = sk__render_tree(&f.wf, &st, T0 + 10000, &o, &out);
  CHECK_INT(n, 10);
  CHECK_STR(out.data, "mnist-abc12  Running  2/7  10.0s\n"
                      "  prepare    Succeeded     1.5s\n"
                      "  train      Running       8.0s\n"
                      "    train-0  Succeeded     3.0s\n"
                      "    train-1  Running       8.0s  attempt 2\n"
                      "    train-2  Pending       8.0s  attempt 1 failed; retry in 3.0s\n"
                      "  evaluate   Pending\n"
                      "  register   Pending\n"
                      "finally\n"
                      "    notify   Pending\n");

  /* Cut to a width, and to a height. */
  sk_buf_reset(&out);
  o.width = 40;
  o.max_lines = 6;
  n = sk__render_tree(&f.wf, &st, T0 + 10000, &o, &out);
  CHECK_INT(n, 6);
  /* Exactly 40 columns: the ellipsis counts as one. */
  CHECK_STR(out.data, "mnist-abc12  Running  2/7  10.0s\n"
                      "  prepare    Succeeded     1.5s\n"
                      "  train      Running       8.0s\n"
                      "    train-0  Succeeded     3.0s\n"
                      "    train-1  Running       8.0s  attemp\xE2\x80\xA6\n"
                      "  \xE2\x80\xA6 5 more\n");

  /* Colours go around the phase only. */
  sk_buf_reset(&out);
  o.width = 0;
  o.max_lines = 0;
  o.color = true;
  sk__render_tree(&f.wf, &st, T0 + 10000, &o, &out);
  CHECK(strstr(out.data, "  prepare    \x1b[32mSucceeded\x1b[0m     1.5s\n") != NULL);
  CHECK(strstr(out.data, "mnist-abc12  \x1b[36mRunning\x1b[0m  2/7") != NULL);
  sk_buf_release(&out);
  sk_wf_status_release(&st);
}

/* A running cloud step shows its job: the Vertex name from customJobs/
 * on, a SageMaker name whole, and the cloud's state; a process's ref
 * (kind Process, pid) adds nothing. */
TEST(render_tree_cloud_jobs) {
  fake_wf_t f;
  fake_workflow(&f);
  sk_wf_status_t st;
  REQUIRE(load_status(
              &st,
              "{\"phase\": \"Running\", \"startedAt\": \"2026-01-02T10:00:00Z\", \"steps\": ["
              "{\"name\": \"prepare\", \"phase\": \"Running\", \"attempt\": 1,"
              " \"startedAt\": \"2026-01-02T10:00:00Z\", \"ref\": {\"kind\": \"Process\", \"pid\": 7}},"
              "{\"name\": \"train\", \"phase\": \"Running\", \"attempt\": 2,"
              " \"startedAt\": \"2026-01-02T10:00:00Z\", \"ref\": {\"kind\": \"VertexCustomJob\","
              " \"name\": \"projects/p/locations/us-central1/customJobs/123\","
              " \"state\": \"JOB_STATE_RUNNING\"}},"
              "{\"name\": \"evaluate\", \"phase\": \"Running\", \"attempt\": 1,"
              " \"startedAt\": \"2026-01-02T10:00:00Z\", \"ref\": {\"kind\": \"SageMakerTrainingJob\","
              " \"name\": \"mnist-train-1-abc\", \"state\": \"InProgress\"}},"
              "{\"name\": \"register\", \"phase\": \"Running\", \"attempt\": 1,"
              " \"startedAt\": \"2026-01-02T10:00:00Z\", \"ref\": {\"kind\": \"SageMakerProcessingJob\"}},"
              "{\"name\": \"notify\", \"phase\": \"Pending\"}]}") == 0);
  sk_buf_t out;
  sk_buf_init(&out, 1 << 16);
  sk__render_opts_t o = {.width = 0, .max_lines = 0, .color = false};
  int n = sk__render_tree(&f.wf, &st, T0 + 10000, &o, &out);
  CHECK_INT(n, 7);
  CHECK_STR(out.data,
            "mnist-abc12  Running  0/5  10.0s\n"
            "  prepare   Running      10.0s\n"
            "  train     Running      10.0s  attempt 2, customJobs/123 JOB_STATE_RUNNING\n"
            "  evaluate  Running      10.0s  mnist-train-1-abc InProgress\n"
            "  register  Running      10.0s\n"
            "finally\n"
            "    notify  Pending\n");
  sk_buf_release(&out);
  sk_wf_status_release(&st);
}

TEST(render_transition) {
  setenv("TZ", "UTC", 1);
  tzset();
  sk_buf_t out;
  sk_buf_init(&out, 4096);
  CHECK_INT(sk__render_transition(T0 + 63000, "train-1", SK_PHASE_RUNNING, 2, NULL, &out), 0);
  CHECK_INT(sk__render_transition(T0 + 64000, "prepare", SK_PHASE_RUNNING, 1, NULL, &out), 0);
  CHECK_INT(sk__render_transition(T0 + 65000, "train-1", SK_PHASE_FAILED, 2,
                                  "failed after 2 attempts: exited with code 1\nboom", &out),
            0);
  CHECK_INT(sk__render_transition(T0 + 66000, "prepare", SK_PHASE_SUCCEEDED, 1, "ignored", &out),
            0);
  CHECK_STR(out.data, "10:01:03 train-1  Running (attempt 2)\n"
                      "10:01:04 prepare  Running\n"
                      "10:01:05 train-1  Failed: failed after 2 attempts: exited with code 1 boom\n"
                      "10:01:06 prepare  Succeeded\n");
  sk_buf_release(&out);
}

static const char final_status[] =
    "{\"phase\": \"Failed\", \"startedAt\": \"2026-01-02T10:00:00Z\","
    " \"finishedAt\": \"2026-01-02T10:00:20Z\", \"message\": \"step train failed: step "
    "train-1 failed\", \"steps\": ["
    "{\"name\": \"prepare\", \"phase\": \"Succeeded\", \"attempt\": 1,"
    " \"startedAt\": \"2026-01-02T10:00:00Z\", \"finishedAt\": \"2026-01-02T10:00:01.500Z\","
    " \"outputs\": {\"rows\": \"3000\", \"path\": \"data/train.csv\"}},"
    "{\"name\": \"train\", \"phase\": \"Failed\", \"instances\": 2,"
    " \"startedAt\": \"2026-01-02T10:00:02Z\", \"finishedAt\": \"2026-01-02T10:00:12Z\","
    " \"message\": \"instance train-1 failed\"},"
    "{\"name\": \"train-0\", \"step\": \"train\", \"index\": 0, \"item\": \"0.1\","
    " \"phase\": \"Succeeded\", \"attempt\": 1, \"startedAt\": \"2026-01-02T10:00:02Z\","
    " \"finishedAt\": \"2026-01-02T10:00:05Z\", \"outputs\": {\"accuracy\": \"0.91\", "
    "\"model\": \"/very/long/path/to/a/model/file/that/does/not/fit.bin\"}},"
    "{\"name\": \"train-1\", \"step\": \"train\", \"index\": 1, \"item\": \"0.01\","
    " \"phase\": \"Failed\", \"attempt\": 2, \"startedAt\": \"2026-01-02T10:00:02Z\","
    " \"finishedAt\": \"2026-01-02T10:00:12Z\","
    " \"message\": \"failed after 2 attempts: exited with code 1: out of memory\"},"
    "{\"name\": \"evaluate\", \"phase\": \"Skipped\", \"finishedAt\": \"2026-01-02T10:00:12Z\","
    " \"message\": \"dependency train is Failed\"},"
    "{\"name\": \"register\", \"phase\": \"Skipped\","
    " \"message\": \"dependency evaluate is Skipped\"},"
    "{\"name\": \"notify\", \"phase\": \"Succeeded\", \"attempt\": 1,"
    " \"startedAt\": \"2026-01-02T10:00:12Z\", \"finishedAt\": \"2026-01-02T10:00:20Z\"}]}";

TEST(render_summary) {
  fake_wf_t f;
  fake_workflow(&f);
  sk_wf_status_t st;
  REQUIRE(load_status(&st, final_status) == 0);
  sk_buf_t out;
  sk_buf_init(&out, 1 << 16);
  sk__render_opts_t o = {.width = 80, .run_dir = ".skein/runs/mnist-abc12"};
  CHECK_INT(sk__render_summary(&f.wf, &st, T0 + 99000, &o, &out), 0);
  CHECK_STR(out.data,
            "STEP       PHASE      ATTEMPTS  DURATION  OUTPUTS\n"
            "prepare    Succeeded  1         1.5s      rows=3000, path=data/train.csv\n"
            "train      Failed               10.0s\n"
            "  train-0  Succeeded  1         3.0s      accuracy=0.91, model=/very/long/path/\xE2\x80\xA6\n"
            "  train-1  Failed     2         10.0s\n"
            "evaluate   Skipped\n"
            "register   Skipped\n"
            "finally\n"
            "  notify   Succeeded  1         8.0s\n"
            "train-1: failed after 2 attempts: exited with code 1: out of memory\n"
            "evaluate: dependency train is Failed\n"
            "register: dependency evaluate is Skipped\n"
            "workflow mnist-abc12 Failed in 20.0s: step train failed: step train-1 failed\n"
            "run directory: .skein/runs/mnist-abc12\n");
  sk_buf_release(&out);
  sk_wf_status_release(&st);
}

int main(void) {
  make_tmpdir();
  RUN(cli_commands);
  RUN(cli_run_flags);
  RUN(cli_usage_errors);
  RUN(identity);
  RUN(store);
  RUN(store_job_records);
  RUN(proc_output_and_exit);
  RUN(proc_environment_and_cwd);
  RUN(proc_spawn_failure);
  RUN(proc_kill_reaches_the_group);
  RUN(proc_kill_escalates_to_sigkill);
  RUN(proc_leftovers_die_with_the_main_process);
  RUN(proc_long_lines_are_cut);
  RUN(expand_k8s);
  RUN(pod_process);
  RUN(render_tree);
  RUN(render_tree_cloud_jobs);
  RUN(render_transition);
  RUN(render_summary);
  remove_tmpdir();
  return TEST_DONE();
}
