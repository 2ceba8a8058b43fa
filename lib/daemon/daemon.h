/*
 * skeind: the controller daemon's command line and its run loop.
 *
 * cmd/skeind/main.c parses flags with sk_daemon_flags_parse and calls
 * sk_daemon_run; everything a test wants to check lives here. Flags follow
 * the conventions of Kubernetes controllers (controller-runtime names), and
 * each accepts both "--flag value" and "--flag=value".
 */
#ifndef SK_DAEMON_DAEMON_H
#define SK_DAEMON_DAEMON_H

#include <stdbool.h>
#include <stddef.h>

#include "util/log.h"

#define SK_DAEMON_VERSION "0.1.0"

typedef struct {
  char *kubeconfig;      /* --kubeconfig; NULL = $KUBECONFIG, then in-cluster */
  char *context;         /* --context */
  char *namespace_;      /* --namespace: watch one namespace; NULL = all */
  bool leader_elect;     /* --leader-elect */
  char *leader_elect_namespace; /* --leader-elect-namespace; NULL = own namespace */
  char *leader_elect_id; /* --leader-elect-id: the Lease name */
  double lease_duration_s;  /* --leader-elect-lease-duration (15) */
  double renew_deadline_s;  /* --leader-elect-renew-deadline (10) */
  double retry_period_s;    /* --leader-elect-retry-period (2) */
  char *metrics_addr;    /* --metrics-bind-address (":8080"; "0" = off) */
  char *health_addr;     /* --health-probe-bind-address (":8081"; "0" = off) */
  double qps;            /* --kube-api-qps (20) */
  int burst;             /* --kube-api-burst (30) */
  int workers;           /* --workers: Workflows reconciled at once (4) */
  double vertex_qps;     /* --cloud-vertex-qps: requests/s per Vertex location (8) */
  double sagemaker_qps;  /* --cloud-sagemaker-qps: requests/s per SageMaker region (4) */
  char *gcp_project;     /* --gcp-project: Vertex project when a step names none */
  char *aws_region;      /* --aws-region: SageMaker region when a step names none */
  sk_log_format_t log_format; /* --log-format text|json */
  int verbosity;         /* -v N / --v=N / --log-level N */
  bool help;
  bool version;
} sk_daemon_flags_t;

/* Fills defaults and parses argv. On a usage error returns SK_EINVAL with
 * a message naming the flag in err. Release with sk_daemon_flags_release
 * whatever the result. */
int sk_daemon_flags_parse(int argc, char *const *argv, sk_daemon_flags_t *f, char *err,
                          size_t errlen);
void sk_daemon_flags_release(sk_daemon_flags_t *f);
/* The --help text. */
const char *sk_daemon_usage(void);

/* Runs the daemon until SIGTERM/SIGINT; returns the process exit code. */
int sk_daemon_run(const sk_daemon_flags_t *f);

#endif
