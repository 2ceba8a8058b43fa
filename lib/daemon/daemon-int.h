/*
 * skeind's insides: the workflow controller (informers → workqueue →
 * sk_controller_reconcile → API writes), its bookkeeping index, and the
 * process around it (config, HTTP servers, metrics, leader election,
 * signals). Private to lib/daemon.
 */
#ifndef SK_DAEMON_INT_H
#define SK_DAEMON_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "controller/controller.h"
#include "daemon/daemon.h"
#include "http/http.h"
#include "kube/events.h"
#include "kube/kube.h"
#include "kube/lease.h"
#include "kube/workqueue.h"
#include "metrics/metrics.h"
#include "server/server.h"

#define SK_DAEMON_LOGGER "skeind"
/* How long the last state of a deleted Pod is kept for its workflow: a
 * tombstone only matters while its attempt is the current one. */
#define SK_DAEMON_TOMBSTONE_MS (10 * 60 * 1000)
/* Refused creates remembered per workflow until its next reconcile. */
#define SK_DAEMON_MAX_CREATE_ERRORS 64

/*
 * What the controller knows about one workflow key beyond the informer
 * caches (see controller.h, "To save requests"): its Pods by name (from the
 * Pod informer), Pods it created that the informer has not shown yet,
 * tombstones of Pods seen deleted, refused creates for the next reconcile,
 * and the object its own last status write produced, used instead of the
 * cache while the cache still holds the object that write replaced.
 *
 * The index is a plain data structure (no I/O) so that it is unit-tested.
 * Objects are held by reference; keys are "namespace/name".
 */
typedef struct sk_daemon_index sk_daemon_index_t;

sk_daemon_index_t *sk_daemon_index_create(void);
void sk_daemon_index_destroy(sk_daemon_index_t *ix);

/* The workflow key of a Pod ("namespace/owner"), from its controller
 * ownerReference; SK_ENOENT for a Pod no Workflow controls. */
int sk_daemon_pod_workflow_key(json_t *pod, char *out, size_t outlen);

/* The Pod informer saw pod added or changed / deleted. A seen Pod is no
 * longer pending; a deleted one becomes a tombstone (at now_ms). */
int sk_daemon_index_pod_seen(sk_daemon_index_t *ix, const char *wf_key, json_t *pod);
int sk_daemon_index_pod_gone(sk_daemon_index_t *ix, const char *wf_key, json_t *pod,
                             int64_t now_ms);
/* The controller created pod (the API's answer) / deleted the Pod named. */
int sk_daemon_index_pod_created(sk_daemon_index_t *ix, const char *wf_key, json_t *pod);
void sk_daemon_index_pod_deleted(sk_daemon_index_t *ix, const char *wf_key, const char *name);
/* A create of the Pod named was refused for good with message. */
int sk_daemon_index_create_error(sk_daemon_index_t *ix, const char *wf_key, const char *name,
                                 const char *message);
/* Our status write replaced the object at from_rv with written. */
int sk_daemon_index_written(sk_daemon_index_t *ix, const char *wf_key, const char *from_rv,
                            json_t *written);
/* The object to reconcile: cached, or the one our write produced when the
 * cache still holds the version that write replaced (borrowed). */
json_t *sk_daemon_index_current(sk_daemon_index_t *ix, const char *wf_key, json_t *cached);
/* The Workflow cache now holds version rv of the key: once that is past
 * the version our last write replaced, the write's answer is let go at
 * once, not at the key's next reconcile, which a long queue delays. */
void sk_daemon_index_cache_moved(sk_daemon_index_t *ix, const char *wf_key, const char *rv);
/* Forgets everything about the key (its Workflow is gone). */
void sk_daemon_index_forget(sk_daemon_index_t *ix, const char *wf_key);
/* Drops tombstones older than SK_DAEMON_TOMBSTONE_MS. */
void sk_daemon_index_prune(sk_daemon_index_t *ix, int64_t now_ms);

/* The reconcile inputs for a key: arrays valid until the release (the
 * Pods kept as text are parsed for the call and owned by it, the others
 * are borrowed and valid until the next call that changes the index for
 * that key). Create errors are handed out
 * once (taken: the next call returns none until new ones arrive); release
 * them with sk_daemon_index_inputs_release. */
typedef struct {
  json_t **pods;
  size_t npods;
  json_t **gone;
  size_t ngone;
  sk_controller_create_error_t *errors;
  size_t nerrors;
  json_t *errors_owner; /* keeps the error strings alive */
  json_t *owned;        /* the Pods parsed for this call */
} sk_daemon_inputs_t;

int sk_daemon_index_inputs(sk_daemon_index_t *ix, const char *wf_key, sk_daemon_inputs_t *in);
void sk_daemon_inputs_release(sk_daemon_inputs_t *in);

/* Numbers for tests and metrics. */
size_t sk_daemon_index_workflows(const sk_daemon_index_t *ix);

/* ---- cloud jobs (cloud.c) ---- */

/* Carries out the reconciler's ENSURE_JOB and CANCEL_JOB ops with the job
 * tracker (lib/cloud/jobs.h) and the right credentials, and hands the
 * tracker's news back as the next reconcile's in.jobs. */
typedef struct sk_daemon_cloud sk_daemon_cloud_t;

typedef struct {
  uv_loop_t *loop;
  sk_http_t *http;             /* borrowed: the cloud APIs' client */
  sk_kube_client_t *client;    /* borrowed: reads credentials Secrets */
  sk_metrics_t *metrics;       /* borrowed; may be NULL */
  const char *gcp_project;     /* default Vertex project, or NULL */
  const char *aws_region;      /* default SageMaker region, or NULL */
  double vertex_qps;           /* 0: the tracker's default */
  double sagemaker_qps;
  /* A job of the Workflow with this key changed: reconcile it. */
  void (*enqueue)(const char *wf_key, void *arg);
  void *arg;
} sk_daemon_cloud_opts_t;

int sk_daemon_cloud_create(const sk_daemon_cloud_opts_t *opts, sk_daemon_cloud_t **out);
void sk_daemon_cloud_destroy(sk_daemon_cloud_t *dc);
/* in.jobs for a Workflow (free *jobs; the strings in it are valid until
 * the loop runs again). */
int sk_daemon_cloud_inputs(sk_daemon_cloud_t *dc, const char *wf_key, sk_controller_job_t **jobs,
                           size_t *njobs);
/* Carries out out's job ops for workflow (as reconciled), after its
 * status was written; forgets the jobs it no longer names. */
void sk_daemon_cloud_apply(sk_daemon_cloud_t *dc, const char *wf_key, json_t *workflow,
                           const sk_controller_out_t *out);
/* The Workflow left the cache: cancel what it still runs. */
void sk_daemon_cloud_workflow_gone(sk_daemon_cloud_t *dc, const char *wf_key);

/* ---- the workflow controller ---- */

/* Whether a failed API call may succeed when tried again (the network,
 * a cut connection even after its status line, an unreadable answer,
 * 429, 5xx), rather than being refused for good by the API server (400,
 * 403, 404, 422, ...). A refused Pod create fails its attempt; a
 * transient failure only requeues. */
bool sk_daemon_result_transient(const sk_kube_result_t *res);

typedef struct sk_daemon_ctrl sk_daemon_ctrl_t;

typedef struct {
  uv_loop_t *loop;
  sk_kube_client_t *client;    /* borrowed */
  sk_kube_recorder_t *recorder; /* borrowed; may be NULL */
  sk_metrics_t *metrics;       /* borrowed; may be NULL */
  const char *namespace;       /* NULL = all */
  unsigned workers;
  sk_http_t *http;             /* borrowed: for cloud jobs; NULL = no cloud steps */
  const char *gcp_project;     /* cloud defaults and limits, see sk_daemon_cloud_opts_t */
  const char *aws_region;
  double vertex_qps;
  double sagemaker_qps;
} sk_daemon_ctrl_opts_t;

int sk_daemon_ctrl_create(const sk_daemon_ctrl_opts_t *opts, sk_daemon_ctrl_t **out);
/* Starts the informers and the queue. */
int sk_daemon_ctrl_start(sk_daemon_ctrl_t *c);
/* Stops at once: no new reconcile starts, no API write follows; calls
 * done from the loop when nothing is in flight any more. */
void sk_daemon_ctrl_stop(sk_daemon_ctrl_t *c, void (*done)(void *arg), void *arg);
void sk_daemon_ctrl_destroy(sk_daemon_ctrl_t *c);
/* Both informers have listed once. */
bool sk_daemon_ctrl_synced(const sk_daemon_ctrl_t *c);

#endif
