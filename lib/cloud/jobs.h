/*
 * Cloud training jobs and their wait loops: Vertex AI CustomJobs and
 * SageMaker training and processing jobs, submitted over REST and polled
 * until they end. Both skeind (lib/daemon) and `skeinctl run` (lib/local)
 * use this one tracker, on their libuv loop.
 *
 * The tracker is to cloud jobs what an informer is to Pods: callers say
 * which jobs should exist (sk_cjobs_ensure) or stop (sk_cjobs_cancel), and
 * read what is known of them (sk_cjobs_info); whenever that changes the
 * tracker calls on_change with the job's key, and the caller re-plans.
 * The caller's durable record (the Workflow status) holds the job's name
 * once known, so a restarted caller ensures the recorded job again and the
 * tracker resumes polling it instead of submitting another.
 *
 * ---- Never two jobs for one attempt ----
 *
 *  - SageMaker: the job name is a pure function of (workflow uid, step
 *    instance, attempt) (sk_sagemaker_job_name), so a create answered
 *    ResourceInUse means the job is already ours: it is adopted (described
 *    and polled), never renamed.
 *  - Vertex AI assigns the name. Each job carries the labels
 *    skein-workflow-uid, skein-step and skein-attempt; before any create
 *    that might repeat an earlier one (desc.adopt_first, or a create whose
 *    answer was lost: timeout, reset, 5xx), the tracker lists the
 *    location's CustomJobs with a filter on those labels and adopts a
 *    match instead of creating.
 *  - A create refused for good (400, 403, or a second 401) fails the job
 *    with the cloud's message; a throttled one (nothing was made) is sent
 *    again after the wait.
 *
 *  A label lookup can only find a create the server has finished. Vertex
 *  has no client-chosen id, so a create sent just before its sender died
 *  (or whose connection broke) may still be under way when the lookup
 *  runs, and the lookup would miss it and create a twin. So a Vertex
 *  lookup that may be followed by a create waits for creates to settle:
 *  until settle_ms after the tracker was made (a restarted daemon: its
 *  predecessor's last creates) and settle_ms after a create that got no
 *  answer at all. A create the server takes longer than that to finish
 *  can still make a twin; the e2e chaos test measures none.
 *
 * ---- Waiting ----
 *
 *  Each job is polled with its own exponential backoff with jitter (the
 *  step's poll: {initialSeconds, factor, maxSeconds}, default 10 s, 1.5,
 *  120 s), and every request to an endpoint (one per Vertex location or
 *  SageMaker region) first takes a token from that endpoint's bucket
 *  (config qps/burst), so N jobs never exceed the configured rate. A
 *  throttling answer (Vertex 429 RESOURCE_EXHAUSTED; SageMaker
 *  ThrottlingException and kin) waits at least 30 s, longer when
 *  RetryInfo.retryDelay, Retry-After or x-amz-retry-after says so; 5xx,
 *  timeouts and resets are retried with backoff; validation and permission
 *  errors are not (the job fails with the cloud's code and message). A
 *  401 invalidates the authoriser's credential and retries once. A status
 *  request that is refused for good (a permission lost) is retried at the
 *  poll's maxSeconds, since the job goes on in the cloud regardless; one
 *  answered "not found" fails the job. Every request times out after
 *  config request_timeout_ms.
 *
 *  Cost: a tracked job is one small struct with no uv handle of its own.
 *  The next request of every job sits in one min-heap of due times behind
 *  one uv_timer; each endpoint has one uv_timer and a queue for jobs
 *  waiting for a token; memory for a request exists only while it is in
 *  flight.
 *
 * ---- States ----
 *
 *  Vertex JOB_STATE_SUCCEEDED, SageMaker Completed → SUCCEEDED; Vertex
 *  FAILED, EXPIRED, PARTIALLY_SUCCEEDED and SageMaker Failed → FAILED with
 *  the cloud's reason (error.message, FailureReason); Vertex CANCELLED and
 *  SageMaker Stopped → CANCELLED. Anything else is RUNNING (unknown states
 *  included: they are reported in info.state, never an error).
 *
 *  Outputs of a finished job (an object of strings): Vertex jobName (the
 *  resource name), state, modelDir (baseOutputDirectory.outputUriPrefix
 *  + "/model/", when set); SageMaker jobName, jobArn, state and
 *  modelArtifacts (ModelArtifacts.S3ModelArtifacts, training jobs).
 *
 * ---- Cancelling ----
 *
 *  sk_cjobs_cancel sends the cancel (Vertex :cancel, Stop*Job) with
 *  retries (bounded: SK_CJOBS_CANCEL_TRIES, then info.cancel is
 *  SK_CJOB_CANCEL_GAVE_UP). A job still being submitted is cancelled as
 *  soon as its name is known (a failed lookup for that name counts as a
 *  failed try, so a cloud that never answers cannot hold a cancel pending
 *  for ever); one whose create has not been sent yet is never created
 *  (phase CANCELLED, cancel ACCEPTED), nor is one whose cancel was given
 *  up on. After giving up, a job is still followed until it ends. After the cancel is
 *  accepted the job is still polled until it reports a terminal state. A
 *  refused cancel is followed by a status request (the job may have
 *  ended, which is why it was refused) before the next try. Nothing, a
 *  cancel included, is sent while a throttling wait lasts.
 *
 * ---- Vertex AI project ----
 *
 *  body.project, else desc.default_project, else, when the authoriser is
 *  a Google one, its project (sk_gcp_project: the key's project_id,
 *  GOOGLE_CLOUD_PROJECT, the metadata server), asked before the first
 *  create or lookup; with none of these the job fails with a message. A
 *  recorded name (resume) needs no project.
 *
 * No secret (credentials, tokens, signatures) ever reaches a message, a
 * log line or an output.
 */
#ifndef SK_CLOUD_JOBS_H
#define SK_CLOUD_JOBS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "cloud/cloud.h"
#include "http/http.h"

#define SK_CJOBS_CANCEL_TRIES 8
#define SK_CJOBS_DEFAULT_POLL_INITIAL_MS 10000
#define SK_CJOBS_DEFAULT_POLL_FACTOR 1.5
#define SK_CJOBS_DEFAULT_POLL_MAX_MS 120000
#define SK_CJOBS_THROTTLE_MIN_MS 30000
#define SK_CJOBS_SETTLE_MS 10000

typedef enum {
  SK_CJOB_VERTEX,              /* body: the step's vertex: object */
  SK_CJOB_SAGEMAKER_TRAINING,  /* body: the step's sagemaker: object with trainingJob */
  SK_CJOB_SAGEMAKER_PROCESSING /* body: the step's sagemaker: object with processingJob */
} sk_cjob_kind_t;

typedef enum {
  SK_CJOB_SUBMITTING, /* create (or the adopt lookup) in flight or waiting to retry */
  SK_CJOB_RUNNING,    /* the cloud has it; not ended */
  SK_CJOB_SUCCEEDED,
  SK_CJOB_FAILED,     /* the job failed, or its create was refused for good */
  SK_CJOB_CANCELLED,
} sk_cjob_phase_t;

typedef enum {
  SK_CJOB_CANCEL_NONE,
  SK_CJOB_CANCEL_PENDING,  /* asked; request in flight or waiting to retry */
  SK_CJOB_CANCEL_ACCEPTED, /* the cloud accepted it (or the job had already ended) */
  SK_CJOB_CANCEL_GAVE_UP,  /* SK_CJOBS_CANCEL_TRIES refusals or failures */
} sk_cjob_cancel_t;

/* What to run. Everything is copied by sk_cjobs_ensure except authz. */
typedef struct sk_cjob_desc {
  sk_cjob_kind_t kind;
  const char *key;          /* unique per attempt, e.g. "<workflow uid>/<instance>/<attempt>" */
  const char *workflow_uid;
  const char *workflow_name;
  const char *instance;     /* the step instance ("train", "train-0") */
  int attempt;              /* >= 1 */
  json_t *body;             /* the templated kind body (vertex: / sagemaker: object) */
  const char *name;         /* the job's name when already recorded (resume), else NULL:
                               Vertex "projects/../customJobs/ID", SageMaker job name */
  bool adopt_first;         /* no name recorded, but a create may already have been sent */
  bool no_create;           /* only find and follow an existing job (to cancel one after a
                               restart): with no name and no label match the job is
                               CANCELLED without ever being created */
  const char *default_project; /* Vertex: when the body has no project */
  const char *default_region;  /* SageMaker: when the body has no region */
  sk_cloud_authz_t *authz;  /* borrowed: must stay alive while the job is tracked */
} sk_cjob_desc_t;

/* A snapshot of one job (borrowed from the tracker; valid until the next
 * tracker call or loop iteration). */
typedef struct sk_cjob_info {
  sk_cjob_phase_t phase;
  const char *ref_kind;     /* "VertexCustomJob", "SageMakerTrainingJob", "SageMakerProcessingJob" */
  const char *name;         /* the job's name, NULL until known */
  const char *state;        /* the cloud's last state ("JOB_STATE_RUNNING", "InProgress"), or NULL */
  const char *message;      /* why it failed or was cancelled; or the last transient error while
                               it is retried ("throttled by Vertex AI, next try in 30s"), or NULL */
  json_t *outputs;          /* SUCCEEDED (and FAILED when known): object of strings, or NULL */
  sk_cjob_cancel_t cancel;
  int64_t next_poll_at_ms;  /* wall clock of the next request for this job; 0 = none planned */
  unsigned polls;           /* get/describe requests answered 2xx so far */
} sk_cjob_info_t;

typedef struct sk_cjobs_config {
  sk_cloud_endpoints_t endpoints; /* copied */
  double vertex_qps;        /* per Vertex location; default 8 (Vertex allows 600/min) */
  int vertex_burst;         /* default 20 */
  double sagemaker_qps;     /* per region; default 4 */
  int sagemaker_burst;      /* default 10 */
  int64_t request_timeout_ms; /* default 30 s */
  int64_t settle_ms;        /* Vertex: how long a create whose sender died or lost the answer
                               may still be under way at the server; default
                               SK_CJOBS_SETTLE_MS, < 0 for none (tests) */
  int64_t retry_base_ms;    /* the first wait after a failed request, doubling to 60 s;
                               default 1000 (tests shorten it) */
  uint64_t seed;            /* jitter; 0 = from the clock */
  /* Called from the loop whenever a job's info changed (phase, name,
   * state, cancel; outputs and the final message come with the phase),
   * never from inside a tracker call; the callback may call the tracker,
   * forget included. A retry's message or next_poll_at_ms alone does not
   * call it. key is borrowed for the call. */
  void (*on_change)(const char *key, void *arg);
  void *arg;
} sk_cjobs_config_t;

typedef struct sk_cjobs sk_cjobs_t;

/* Request counters per endpoint, for metrics and the benchmark. */
typedef struct sk_cjobs_stats {
  uint64_t requests;        /* sent, all endpoints */
  uint64_t throttled;       /* answers that were throttling */
  uint64_t errors;          /* transport errors and 5xx */
  uint64_t creates;         /* create requests sent */
  uint64_t adopted;         /* jobs found by name or label instead of created */
  size_t tracked;           /* jobs tracked now */
  size_t in_flight;         /* requests being authorised or on the wire now */
  size_t waiting;           /* due jobs waiting for a token now */
} sk_cjobs_stats_t;

sk_cjobs_t *sk_cjobs_create(uv_loop_t *loop, sk_http_t *http, const sk_cjobs_config_t *cfg);
/* Cancels requests and timers (no cancel requests are sent) and frees the
 * tracker once its requests are done; the loop must run afterwards. */
void sk_cjobs_destroy(sk_cjobs_t *t);

/* Tracks the job of desc->key: known → nothing changes (authz is
 * replaced when it differs); else submits it, or resumes desc->name.
 * Returns 0, SK_EINVAL for a desc that cannot be a job (no body, bad
 * kind, a SageMaker body without its job object, a customJob that is not
 * an object, an invalid recorded name, no authz: such a job is also
 * reported FAILED with a message, unless it has no key), SK_ENOMEM. A job
 * that is well formed but cannot run (no AWS region, no Vertex project)
 * returns 0 and is reported FAILED with a message. Nothing is sent, and
 * on_change is not called, from inside this call. */
int sk_cjobs_ensure(sk_cjobs_t *t, const sk_cjob_desc_t *desc);
/* Asks the cloud to stop the job of key. SK_ENOENT when key is not
 * tracked. Idempotent. */
int sk_cjobs_cancel(sk_cjobs_t *t, const char *key);
/* Fills *out for key; SK_ENOENT when not tracked. */
int sk_cjobs_info(const sk_cjobs_t *t, const char *key, sk_cjob_info_t *out);
/* Stops tracking key (its requests are cancelled; a cloud job keeps
 * running: cancel first when it should stop). No on_change follows. */
void sk_cjobs_forget(sk_cjobs_t *t, const char *key);
void sk_cjobs_stats(const sk_cjobs_t *t, sk_cjobs_stats_t *out);

/* ---- pure helpers (unit-tested; used by the tracker) ---- */

/* The deterministic SageMaker job name of an attempt: at most 63
 * characters matching [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}, from the
 * workflow name (shortened), the instance and the attempt, plus a hash of
 * (workflow uid, instance, attempt) so two workflows never share one. */
int sk_sagemaker_job_name(const char *workflow_name, const char *workflow_uid,
                          const char *instance, int attempt, char *out, size_t outlen);

/* The step phase name for a job phase, and its ref kind. */
const char *sk_cjob_phase_name(sk_cjob_phase_t p);
const char *sk_cjob_ref_kind(sk_cjob_kind_t k);
/* The kind of a ref ("VertexCustomJob", ...); SK_EINVAL when unknown. */
int sk_cjob_kind_from_ref(const char *ref_kind, sk_cjob_kind_t *out);

#endif
