/*
 * skeinctl: the command line. It only parses the arguments and calls the
 * library (lib/local), which holds every rule a test would want to check.
 */
#include <stdio.h>

#include "local/local.h"
#include "util/error.h"

int main(int argc, char **argv) {
  sk_local_cli_t cli;
  char err[512];
  int rc = sk_local_cli_parse(argc, argv, &cli, err, sizeof(err));
  if (rc < 0) {
    if (rc == SK_ENOMEM)
      fprintf(stderr, "skeinctl: out of memory\n");
    else
      fprintf(stderr, "skeinctl: %s\n\n%s", err, sk_local_cli_usage(cli.cmd));
    sk_local_cli_release(&cli);
    return SK_LOCAL_EXIT_USAGE;
  }
  int code = SK_LOCAL_EXIT_OK;
  switch (cli.cmd) {
  case SK_LOCAL_CMD_HELP:
    fputs(sk_local_cli_usage(cli.help_for), stdout);
    break;
  case SK_LOCAL_CMD_VERSION:
    printf("skeinctl %s\n", SK_LOCAL_VERSION);
    break;
  case SK_LOCAL_CMD_VALIDATE:
    rc = sk_local_validate(cli.files, cli.nfiles, &code);
    break;
  case SK_LOCAL_CMD_RUN:
    rc = sk_local_run(&cli.run, &code);
    break;
  default:
    fputs(sk_local_cli_usage(SK_LOCAL_CMD_NONE), stderr);
    code = SK_LOCAL_EXIT_USAGE;
    break;
  }
  if (rc < 0) {
    fprintf(stderr, "skeinctl: %s\n", sk_strerror(rc));
    if (code == SK_LOCAL_EXIT_OK)
      code = SK_LOCAL_EXIT_USAGE;
  }
  sk_local_cli_release(&cli);
  return code;
}
