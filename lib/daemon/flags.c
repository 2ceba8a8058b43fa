/*
 * skeind's flags. A table drives the parser, so --help, the defaults and
 * the checks cannot drift apart: each row names the flag, its kind and
 * where its value goes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon.h"
#include "util/error.h"
#include "util/strutil.h"

typedef enum { F_STR, F_BOOL, F_INT, F_SECONDS, F_QPS, F_LOGFMT, F_VERBOSITY } kind_t;

typedef struct {
  const char *name; /* without the leading dashes */
  kind_t kind;
  size_t off;
  const char *help;
} flag_t;

#define OFF(field) offsetof(sk_daemon_flags_t, field)

static const flag_t k_flags[] = {
    {"kubeconfig", F_STR, OFF(kubeconfig),
     "Path to a kubeconfig. Default: $KUBECONFIG, then the in-cluster config."},
    {"context", F_STR, OFF(context), "The kubeconfig context to use (default: current-context)."},
    {"namespace", F_STR, OFF(namespace_), "Watch Workflows in this namespace only (default: all)."},
    {"leader-elect", F_BOOL, OFF(leader_elect),
     "Elect a leader on a Lease so that only one replica reconciles."},
    {"leader-elect-namespace", F_STR, OFF(leader_elect_namespace),
     "Namespace of the Lease (default: the pod's own namespace, else skein-system)."},
    {"leader-elect-id", F_STR, OFF(leader_elect_id), "Name of the Lease (default: skeind, as the Role in manifests/rbac allows)."},
    {"leader-elect-lease-duration", F_SECONDS, OFF(lease_duration_s),
     "Seconds a non-leader waits after the last renewal before taking over (15)."},
    {"leader-elect-renew-deadline", F_SECONDS, OFF(renew_deadline_s),
     "Seconds the leader keeps trying to renew before it stops leading (10)."},
    {"leader-elect-retry-period", F_SECONDS, OFF(retry_period_s),
     "Seconds between attempts to acquire or renew (2)."},
    {"metrics-bind-address", F_STR, OFF(metrics_addr),
     "Address of the Prometheus /metrics endpoint (:8080; 0 turns it off)."},
    {"health-probe-bind-address", F_STR, OFF(health_addr),
     "Address of /healthz and /readyz (:8081; 0 turns it off)."},
    {"kube-api-qps", F_QPS, OFF(qps), "Sustained requests per second to the API server (20)."},
    {"kube-api-burst", F_INT, OFF(burst), "Requests allowed in a burst above the QPS (30)."},
    {"workers", F_INT, OFF(workers), "Workflows reconciled at the same time (4)."},
    {"cloud-vertex-qps", F_QPS, OFF(vertex_qps),
     "Requests per second to Vertex AI, per location, for all jobs together (8; Vertex "
     "allows 600 per minute)."},
    {"cloud-sagemaker-qps", F_QPS, OFF(sagemaker_qps),
     "Requests per second to SageMaker, per region, for all jobs together (4)."},
    {"gcp-project", F_STR, OFF(gcp_project),
     "Vertex AI project for steps that name none (default: $GOOGLE_CLOUD_PROJECT, then the "
     "credentials' project)."},
    {"aws-region", F_STR, OFF(aws_region),
     "SageMaker region for steps that name none (default: $AWS_REGION, $AWS_DEFAULT_REGION)."},
    {"log-format", F_LOGFMT, OFF(log_format), "text or json (text)."},
    {"v", F_VERBOSITY, OFF(verbosity),
     "Log verbosity: 0 normal, 1 transitions, 2 requests (also -v N, --log-level N)."},
    {"log-level", F_VERBOSITY, OFF(verbosity), NULL},
    {"help", F_BOOL, OFF(help), "Print this help."},
    {"version", F_BOOL, OFF(version), "Print the version."},
};

static const flag_t *find_flag(const char *name, size_t len) {
  for (size_t i = 0; i < sizeof(k_flags) / sizeof(k_flags[0]); i++)
    if (strlen(k_flags[i].name) == len && strncmp(k_flags[i].name, name, len) == 0)
      return &k_flags[i];
  return NULL;
}

static int set_value(sk_daemon_flags_t *f, const flag_t *fl, const char *v, char *err,
                     size_t errlen) {
  char *base = (char *)f;
  int64_t n;
  double d;
  switch (fl->kind) {
  case F_STR: {
    char **slot = (char **)(base + fl->off);
    char *copy = strdup(v);
    if (!copy)
      return SK_ENOMEM;
    free(*slot);
    *slot = copy;
    return 0;
  }
  case F_BOOL:
    if (strcmp(v, "true") == 0)
      *(bool *)(base + fl->off) = true;
    else if (strcmp(v, "false") == 0)
      *(bool *)(base + fl->off) = false;
    else
      break;
    return 0;
  case F_INT:
    if (sk_parse_int64(v, &n) < 0 || n < 1 || n > 100000)
      break;
    *(int *)(base + fl->off) = (int)n;
    return 0;
  case F_VERBOSITY:
    if (sk_parse_int64(v, &n) < 0 || n < 0 || n > 10)
      break;
    *(int *)(base + fl->off) = (int)n;
    return 0;
  case F_SECONDS:
  case F_QPS:
    if (sk_parse_double(v, &d) < 0 || d <= 0 || d > 86400)
      break;
    *(double *)(base + fl->off) = d;
    return 0;
  case F_LOGFMT:
    if (sk_log_format_parse(v, (sk_log_format_t *)(base + fl->off)) == 0)
      return 0;
    snprintf(err, errlen, "--%s: \"%s\" is not text or json", fl->name, v);
    return SK_EINVAL;
  }
  const char *want = fl->kind == F_BOOL        ? "true or false"
                     : fl->kind == F_INT       ? "a whole number from 1 to 100000"
                     : fl->kind == F_VERBOSITY ? "a whole number from 0 to 10"
                                               : "a positive number";
  snprintf(err, errlen, "--%s: \"%s\" is not %s", fl->name, v, want);
  return SK_EINVAL;
}

static int set_default_str(char **slot, const char *v) {
  *slot = strdup(v);
  return *slot ? 0 : SK_ENOMEM;
}

int sk_daemon_flags_parse(int argc, char *const *argv, sk_daemon_flags_t *f, char *err,
                          size_t errlen) {
  memset(f, 0, sizeof(*f));
  f->lease_duration_s = 15;
  f->renew_deadline_s = 10;
  f->retry_period_s = 2;
  f->qps = 20;
  f->burst = 30;
  f->workers = 4;
  f->vertex_qps = 8;
  f->sagemaker_qps = 4;
  f->log_format = SK_LOG_TEXT;
  err[0] = '\0';
  if (set_default_str(&f->metrics_addr, ":8080") < 0 ||
      set_default_str(&f->health_addr, ":8081") < 0 ||
      set_default_str(&f->leader_elect_id, "skeind") < 0)
    return SK_ENOMEM;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] != '-' || a[1] == '\0') {
      snprintf(err, errlen, "unexpected argument \"%s\" (skeind takes flags only)", a);
      return SK_EINVAL;
    }
    const char *name = a + (a[1] == '-' ? 2 : 1);
    const char *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const flag_t *fl = find_flag(name, len);
    if (!fl) {
      snprintf(err, errlen, "unknown flag \"%.*s\" (see --help)", (int)(name - a + (ptrdiff_t)len),
               a);
      return SK_EINVAL;
    }
    const char *v = eq ? eq + 1 : NULL;
    if (!v && fl->kind == F_BOOL)
      v = "true";
    if (!v) {
      if (i + 1 >= argc) {
        snprintf(err, errlen, "--%s needs a value", fl->name);
        return SK_EINVAL;
      }
      v = argv[++i];
    }
    int rc = set_value(f, fl, v, err, errlen);
    if (rc < 0)
      return rc;
  }
  /* The rule client-go enforces, so that a leader always renews before a
   * follower may take over, even after a missed retry. */
  if (!(f->lease_duration_s > f->renew_deadline_s &&
        f->renew_deadline_s > 1.2 * f->retry_period_s)) {
    snprintf(err, errlen,
             "leader election needs lease-duration > renew-deadline > 1.2 x retry-period "
             "(got %g, %g, %g)",
             f->lease_duration_s, f->renew_deadline_s, f->retry_period_s);
    return SK_EINVAL;
  }
  return 0;
}

void sk_daemon_flags_release(sk_daemon_flags_t *f) {
  free(f->kubeconfig);
  free(f->context);
  free(f->namespace_);
  free(f->leader_elect_namespace);
  free(f->leader_elect_id);
  free(f->metrics_addr);
  free(f->health_addr);
  free(f->gcp_project);
  free(f->aws_region);
  memset(f, 0, sizeof(*f));
}

const char *sk_daemon_usage(void) {
  static char text[4096];
  if (text[0])
    return text;
  size_t off = (size_t)snprintf(text, sizeof(text),
                                "Usage: skeind [flags]\n\n"
                                "skeind watches skein.dev Workflows and runs their steps.\n\n"
                                "Flags:\n");
  for (size_t i = 0; i < sizeof(k_flags) / sizeof(k_flags[0]) && off < sizeof(text); i++) {
    if (!k_flags[i].help)
      continue;
    int n = snprintf(text + off, sizeof(text) - off, "  --%-30s %s\n", k_flags[i].name,
                     k_flags[i].help);
    if (n < 0)
      break;
    off += (size_t)n;
  }
  return text;
}
