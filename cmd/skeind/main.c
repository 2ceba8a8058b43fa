/*
 * skeind: the controller daemon. It only parses the flags and calls the
 * library (lib/daemon), which holds everything a test would want to check.
 */
#include <stdio.h>

#include "daemon/daemon.h"
#include "util/error.h"

int main(int argc, char **argv) {
  sk_daemon_flags_t f;
  char err[512];
  int rc = sk_daemon_flags_parse(argc, argv, &f, err, sizeof(err));
  if (rc < 0) {
    fprintf(stderr, "skeind: %s\n", rc == SK_ENOMEM ? "out of memory" : err);
    sk_daemon_flags_release(&f);
    return 2;
  }
  int code = 0;
  if (f.help)
    fputs(sk_daemon_usage(), stdout);
  else if (f.version)
    printf("skeind %s\n", SK_DAEMON_VERSION);
  else
    code = sk_daemon_run(&f);
  sk_daemon_flags_release(&f);
  return code;
}
