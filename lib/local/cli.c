/*
 * The skeinctl command line: which command, which flags. Parsing lives in
 * the library (not in cmd/) so the unit tests can check every usage rule.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "local/local.h"
#include "util/error.h"

static const char usage_overview[] =
    "usage: skeinctl COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  validate FILE...      check Workflow and WorkflowTemplate files\n"
    "  run FILE [FLAGS]      run a Workflow on this machine, no cluster needed\n"
    "  run --resume DIR      continue an interrupted or failed run\n"
    "  version               print the version\n"
    "  help [COMMAND]        show this text, or a command's\n"
    "\n"
    "Run `skeinctl COMMAND --help` for a command's flags.\n";

static const char usage_validate[] =
    "usage: skeinctl validate FILE...\n"
    "\n"
    "Parses every YAML document of every FILE and validates each Workflow and\n"
    "WorkflowTemplate strictly (unknown fields are errors). Every problem is\n"
    "printed to stderr as FILE:LINE:COL: FIELD.PATH: message.\n"
    "\n"
    "Exit status: 0 all valid, 1 something is invalid, 2 a file cannot be read.\n";

static const char usage_run[] =
    "usage: skeinctl run FILE [-p NAME=VALUE]... [-o json] [--workdir DIR]\n"
    "       skeinctl run --resume DIR [-o json]\n"
    "\n"
    "Runs the first Workflow in FILE on this machine: each pod step's command\n"
    "runs as a local process (images are not used); vertex and sagemaker steps\n"
    "run as cloud jobs with this machine's credentials (Google Application\n"
    "Default Credentials, the AWS credential chain).\n"
    "\n"
    "Flags:\n"
    "  -p, --param NAME=VALUE  set a parameter the Workflow declares (repeatable)\n"
    "  -o, --output json       print only the final Workflow with its status, as\n"
    "                          JSON, on stdout (progress and logs go to stderr)\n"
    "  --workdir DIR           the run directory (default .skein/runs/<name>);\n"
    "                          it must not already hold a run\n"
    "  --resume DIR            continue the run in DIR: steps that succeeded\n"
    "                          are not run again\n"
    "\n"
    "Ctrl-C stops the run: running steps are killed (cloud jobs cancelled, and\n"
    "the cancels waited for), finally steps still run. A second Ctrl-C\n"
    "terminates at once; a third stops waiting for cloud cancels.\n"
    "\n"
    "Exit status: 0 Succeeded, 1 Failed, 2 invalid input or usage, 130 Cancelled.\n";

const char *sk_local_cli_usage(sk_local_cmd_t cmd) {
  switch (cmd) {
  case SK_LOCAL_CMD_VALIDATE:
    return usage_validate;
  case SK_LOCAL_CMD_RUN:
    return usage_run;
  default:
    return usage_overview;
  }
}

static int usage_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int usage_error(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return SK_EINVAL;
}

static bool is_help(const char *a) { return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0; }

/* Takes the value of a flag given as "--flag VALUE", "--flag=VALUE" or, for
 * a short flag, "-fVALUE". Returns NULL when the value is missing. */
static const char *flag_value(int argc, char *const *argv, int *i, const char *shortf,
                              const char *longf) {
  const char *a = argv[*i];
  size_t ll = strlen(longf);
  if (strncmp(a, longf, ll) == 0 && a[ll] == '=')
    return a + ll + 1;
  if (shortf && strncmp(a, shortf, 2) == 0 && a[2] != '\0')
    return a + 2;
  if (*i + 1 >= argc)
    return NULL;
  (*i)++;
  return argv[*i];
}

static bool flag_is(const char *a, const char *shortf, const char *longf) {
  size_t ll = strlen(longf);
  if (strncmp(a, longf, ll) == 0 && (a[ll] == '\0' || a[ll] == '='))
    return true;
  return shortf && strncmp(a, shortf, 2) == 0;
}

static int parse_validate(int argc, char *const *argv, int first, sk_local_cli_t *cli,
                          char *err, size_t errlen) {
  cli->files = calloc((size_t)argc, sizeof(*cli->files));
  if (!cli->files)
    return SK_ENOMEM;
  bool dashdash = false;
  for (int i = first; i < argc; i++) {
    const char *a = argv[i];
    if (!dashdash && strcmp(a, "--") == 0) {
      dashdash = true;
    } else if (!dashdash && a[0] == '-' && a[1] != '\0') {
      return usage_error(err, errlen, "validate: unknown flag \"%s\"", a);
    } else {
      cli->files[cli->nfiles++] = a;
    }
  }
  if (cli->nfiles == 0)
    return usage_error(err, errlen, "validate: no FILE given");
  return 0;
}

static int parse_run(int argc, char *const *argv, int first, sk_local_cli_t *cli, char *err,
                     size_t errlen) {
  sk_local_opts_t *o = &cli->run;
  cli->params_store = calloc((size_t)argc, sizeof(*cli->params_store));
  if (!cli->params_store)
    return SK_ENOMEM;
  o->params = cli->params_store;
  bool dashdash = false;
  for (int i = first; i < argc; i++) {
    const char *a = argv[i];
    if (dashdash || a[0] != '-' || a[1] == '\0') {
      if (o->file)
        return usage_error(err, errlen, "run: more than one FILE given (\"%s\")", a);
      o->file = a;
    } else if (strcmp(a, "--") == 0) {
      dashdash = true;
    } else if (flag_is(a, "-p", "--param")) {
      const char *v = flag_value(argc, argv, &i, "-p", "--param");
      if (!v)
        return usage_error(err, errlen, "run: %s needs NAME=VALUE", a);
      if (!strchr(v, '=') || v[0] == '=')
        return usage_error(err, errlen, "run: -p \"%s\" is not NAME=VALUE", v);
      cli->params_store[o->nparams++] = v;
    } else if (flag_is(a, "-o", "--output")) {
      const char *v = flag_value(argc, argv, &i, "-o", "--output");
      if (!v)
        return usage_error(err, errlen, "run: %s needs a format (json)", a);
      if (strcmp(v, "json") == 0)
        o->json = true;
      else if (strcmp(v, "text") == 0)
        o->json = false;
      else
        return usage_error(err, errlen, "run: unknown output format \"%s\" (expected json)", v);
    } else if (flag_is(a, NULL, "--workdir")) {
      o->workdir = flag_value(argc, argv, &i, NULL, "--workdir");
      if (!o->workdir || !o->workdir[0])
        return usage_error(err, errlen, "run: %s needs a directory", a);
    } else if (flag_is(a, NULL, "--resume")) {
      o->resume_dir = flag_value(argc, argv, &i, NULL, "--resume");
      if (!o->resume_dir || !o->resume_dir[0])
        return usage_error(err, errlen, "run: %s needs the run directory", a);
    } else {
      return usage_error(err, errlen, "run: unknown flag \"%s\"", a);
    }
  }
  if (o->resume_dir) {
    if (o->file)
      return usage_error(err, errlen,
                         "run: give either FILE or --resume DIR, not both (\"%s\")", o->file);
    if (o->nparams)
      return usage_error(err, errlen,
                         "run: -p cannot be used with --resume: a resumed run keeps the "
                         "parameters it started with");
    if (o->workdir)
      return usage_error(err, errlen,
                         "run: --workdir cannot be used with --resume: the run directory is "
                         "DIR");
  } else if (!o->file) {
    return usage_error(err, errlen, "run: no FILE given");
  }
  return 0;
}

static bool wants_help(int argc, char *const *argv, int first) {
  for (int i = first; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0)
      return false;
    if (is_help(argv[i]))
      return true;
  }
  return false;
}

static int command_of(const char *s, sk_local_cmd_t *out) {
  static const struct {
    const char *name;
    sk_local_cmd_t cmd;
  } cmds[] = {
      {"help", SK_LOCAL_CMD_HELP},         {"version", SK_LOCAL_CMD_VERSION},
      {"--version", SK_LOCAL_CMD_VERSION}, {"validate", SK_LOCAL_CMD_VALIDATE},
      {"run", SK_LOCAL_CMD_RUN},
  };
  for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
    if (strcmp(s, cmds[i].name) == 0) {
      *out = cmds[i].cmd;
      return 0;
    }
  return SK_ENOENT;
}

int sk_local_cli_parse(int argc, char *const *argv, sk_local_cli_t *cli, char *err,
                       size_t errlen) {
  memset(cli, 0, sizeof(*cli));
  if (errlen)
    err[0] = '\0';
  if (argc < 2)
    return usage_error(err, errlen, "no command given");
  const char *c = argv[1];
  if (is_help(c)) {
    cli->cmd = SK_LOCAL_CMD_HELP;
    return 0;
  }
  sk_local_cmd_t cmd;
  if (command_of(c, &cmd) < 0) {
    if (c[0] == '-')
      return usage_error(err, errlen, "unknown flag \"%s\"", c);
    return usage_error(err, errlen, "unknown command \"%s\"", c);
  }
  cli->cmd = cmd;
  switch (cmd) {
  case SK_LOCAL_CMD_HELP:
    if (argc > 3)
      return usage_error(err, errlen, "help: too many arguments (\"%s\")", argv[3]);
    if (argc == 3 && (command_of(argv[2], &cli->help_for) < 0 ||
                      cli->help_for == SK_LOCAL_CMD_HELP)) {
      cli->help_for = SK_LOCAL_CMD_NONE;
      return usage_error(err, errlen, "help: unknown command \"%s\"", argv[2]);
    }
    return 0;
  case SK_LOCAL_CMD_VERSION:
    if (argc > 2) {
      if (wants_help(argc, argv, 2)) {
        cli->cmd = SK_LOCAL_CMD_HELP;
        return 0;
      }
      return usage_error(err, errlen, "version: unexpected argument \"%s\"", argv[2]);
    }
    return 0;
  default:
    break;
  }
  if (wants_help(argc, argv, 2)) {
    cli->cmd = SK_LOCAL_CMD_HELP;
    cli->help_for = cmd;
    return 0;
  }
  if (cmd == SK_LOCAL_CMD_VALIDATE)
    return parse_validate(argc, argv, 2, cli, err, errlen);
  return parse_run(argc, argv, 2, cli, err, errlen);
}

void sk_local_cli_release(sk_local_cli_t *cli) {
  free(cli->files);
  free(cli->params_store);
  cli->files = NULL;
  cli->params_store = NULL;
  cli->run.params = NULL;
  cli->nfiles = 0;
  cli->run.nparams = 0;
}
