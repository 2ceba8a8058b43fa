#include <string.h>

#include "daemon/daemon.h"
#include "sk_test.h"
#include "util/error.h"

static int parse(sk_daemon_flags_t *f, char *err, size_t errlen, int argc, char *const *argv) {
  return sk_daemon_flags_parse(argc, argv, f, err, errlen);
}

TEST(defaults) {
  sk_daemon_flags_t f;
  char err[256];
  char *argv[] = {"skeind"};
  CHECK_INT(parse(&f, err, sizeof(err), 1, argv), 0);
  CHECK_STR(f.metrics_addr, ":8080");
  CHECK_STR(f.health_addr, ":8081");
  CHECK_STR(f.leader_elect_id, "skeind");
  CHECK(f.kubeconfig == NULL && f.namespace_ == NULL && !f.leader_elect);
  CHECK_INT(f.burst, 30);
  CHECK_INT(f.workers, 4);
  CHECK(f.qps == 20 && f.lease_duration_s == 15 && f.renew_deadline_s == 10 &&
        f.retry_period_s == 2);
  sk_daemon_flags_release(&f);
}

TEST(forms) {
  sk_daemon_flags_t f;
  char err[256];
  char *argv[] = {"skeind", "--kubeconfig", "kc", "--namespace=ml", "--leader-elect",
                  "--kube-api-qps=50.5", "--kube-api-burst", "80", "--log-format=json",
                  "-v", "2", "--metrics-bind-address=0", "--leader-elect=false"};
  CHECK_INT(parse(&f, err, sizeof(err), 13, argv), 0);
  CHECK_STR(f.kubeconfig, "kc");
  CHECK_STR(f.namespace_, "ml");
  CHECK(!f.leader_elect);
  CHECK(f.qps == 50.5);
  CHECK_INT(f.burst, 80);
  CHECK_INT(f.log_format, SK_LOG_JSON);
  CHECK_INT(f.verbosity, 2);
  CHECK_STR(f.metrics_addr, "0");
  sk_daemon_flags_release(&f);
  char *argv2[] = {"skeind", "--v=3", "--log-level", "1"};
  CHECK_INT(parse(&f, err, sizeof(err), 4, argv2), 0);
  CHECK_INT(f.verbosity, 1);
  sk_daemon_flags_release(&f);
}

TEST(errors) {
  sk_daemon_flags_t f;
  char err[256];
  char *a1[] = {"skeind", "--kube-api-burst", "lots"};
  CHECK_INT(parse(&f, err, sizeof(err), 3, a1), SK_EINVAL);
  CHECK_STR(err, "--kube-api-burst: \"lots\" is not a whole number from 1 to 100000");
  sk_daemon_flags_release(&f);
  char *a2[] = {"skeind", "--kubeconfg=x"};
  CHECK_INT(parse(&f, err, sizeof(err), 2, a2), SK_EINVAL);
  CHECK_STR(err, "unknown flag \"--kubeconfg\" (see --help)");
  sk_daemon_flags_release(&f);
  char *a3[] = {"skeind", "--context"};
  CHECK_INT(parse(&f, err, sizeof(err), 2, a3), SK_EINVAL);
  CHECK_STR(err, "--context needs a value");
  sk_daemon_flags_release(&f);
  char *a4[] = {"skeind", "--log-format", "xml"};
  CHECK_INT(parse(&f, err, sizeof(err), 3, a4), SK_EINVAL);
  CHECK_STR(err, "--log-format: \"xml\" is not text or json");
  sk_daemon_flags_release(&f);
  char *a5[] = {"skeind", "--leader-elect-renew-deadline=20"};
  CHECK_INT(parse(&f, err, sizeof(err), 2, a5), SK_EINVAL);
  CHECK_STR(err, "leader election needs lease-duration > renew-deadline > 1.2 x retry-period "
                 "(got 15, 20, 2)");
  sk_daemon_flags_release(&f);
  char *a6[] = {"skeind", "run"};
  CHECK_INT(parse(&f, err, sizeof(err), 2, a6), SK_EINVAL);
  CHECK_STR(err, "unexpected argument \"run\" (skeind takes flags only)");
  sk_daemon_flags_release(&f);
}

TEST(usage) {
  const char *u = sk_daemon_usage();
  CHECK(strstr(u, "--kube-api-qps") != NULL);
  CHECK(strstr(u, "--health-probe-bind-address") != NULL);
  /* An alias has no row of its own. */
  CHECK(strstr(u, "  --log-level ") == NULL);
}

int main(void) {
  RUN(defaults);
  RUN(forms);
  RUN(errors);
  RUN(usage);
  return TEST_DONE();
}
