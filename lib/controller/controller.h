/*
 * The reconciler of skeind: one Workflow, as read from the API server, and
 * the Pods it owns → the status to write, the Pods to create or delete,
 * the Events to record and when to look again. It is pure, like the
 * engine it wraps: no sockets, no clock reads (time is in->now_ms), so
 * every rule below is unit-tested without a cluster. The daemon's driver
 * (informers, workqueue, REST) carries the result out.
 *
 * ---- The state ----
 *
 * The Workflow's status is the single source of truth for the engine's
 * state (lib/engine/engine.h). A fresh Workflow has no status and starts
 * a run. Pods are observations: a Pod whose main container finished
 * reports its attempt's result; a Pod that disappeared under a running
 * attempt fails it. Nothing else is remembered between reconciles.
 *
 * ---- The contract of a result (what the driver must do, in order) ----
 *
 *  1. If out.status is not NULL, write it first (PUT .../status of the
 *     object as read, carrying its metadata.resourceVersion, so a stale
 *     read cannot overwrite a newer status: 409 Conflict). If the write
 *     fails, carry out no op and record no event: reconcile again (at once
 *     with a fresh object after a conflict, else after a backoff). When
 *     out.status is NULL the status is unchanged: write nothing (this is
 *     what keeps a single-Pod workflow at two status writes).
 *  2. Carry out out.ops in order. CREATE_POD: POST the Pod; 409
 *     AlreadyExists is success (the name is deterministic, so it is ours).
 *     A refusal that a retry cannot fix (400, 403, 404, 422) is passed to
 *     the next reconcile in in.create_errors; it fails the attempt.
 *     429, 5xx and network errors: requeue with backoff. DELETE_POD and
 *     DELETE_WORKFLOW: DELETE, with preconditions {uid: op.uid} when
 *     op.uid is set (a newer object of the same name is never deleted);
 *     404 NotFound and 409 (the precondition failed) are success.
 *     ADD_FINALIZER comes first and must succeed before the ops after it
 *     (a failure: requeue with backoff). ENSURE_JOB and CANCEL_JOB go to
 *     the job tracker (key: workflow uid, instance, attempt); a job the
 *     result names in neither may be forgotten by the tracker once the
 *     status is written. REMOVE_FINALIZER and DELETE_WORKFLOW come last.
 *  3. Record out.events (involvedObject: the Workflow).
 *  4. Reconcile again at out.requeue_at_ms (0 = only on the next watch
 *     event): retries, timeouts, the deadline, a Pod's waiting grace
 *     period and ttlSecondsAfterFinished are timers, never polling.
 *
 * ---- Crash safety: the invariants ----
 *
 *  I1. A Pod is created only for an attempt that the stored status
 *      already records as Running: the status write that records the start
 *      precedes the create, and a failed write cancels it (rule 1).
 *  I2. A Pod's name is a pure function of (workflow, step instance,
 *      attempt), so creating it again — after a crash between the write
 *      and the create, a lost response, or a cache that has not seen the
 *      Pod yet — can only meet AlreadyExists, never make a twin. A Running
 *      record whose Pod is neither in in.pods nor in in.gone_pods gets it
 *      created (again), from the body re-rendered from the status.
 *  I3. A Pod is deleted only when the stored status no longer needs it:
 *      its attempt has ended in the status the driver has just written (or
 *      that was read), the workflow is finished, or podGC/ttl says so. So
 *      a completed Pod's result is in the stored status before the Pod can
 *      go, and a restarted controller never loses it.
 *  I4. Reconciling from a stale Workflow is harmless for writes (rule 1's
 *      conflict), and the ops it can produce without a write are guarded:
 *      running Pods are deleted only for attempts older than (or ended at)
 *      the record's, never for unknown instances of a running workflow.
 *      The one waste left — re-creating a Pod of an attempt that has ended
 *      and whose Pod was deleted — is avoided when the driver (a) never
 *      reconciles from a resourceVersion its own successful status write
 *      replaced (wait for the informer to deliver the newer object), and
 *      (b) passes Pods it saw deleted in in.gone_pods for a while (a
 *      tombstone matters only while its attempt is the current Running
 *      one, so keeping one too long is harmless).
 *  Known limit: a Pod deleted while no controller was watching (so no
 *  tombstone) is created again under the same name: its attempt reruns
 *  instead of failing with "pod was deleted".
 *
 *  To save requests, a driver should also add the Pods it created but its
 *  informer has not shown yet to in.pods (the create response), and leave
 *  out those it deleted (or pass them as gone): else the next reconcile
 *  asks again and meets AlreadyExists or NotFound.
 *
 * ---- What a reconcile does ----
 *
 *  - metadata.deletionTimestamp set: no status write and no create; Pods
 *    still running are deleted (garbage collection would too, but it is
 *    not there in every cluster).
 *  - status.duration ("4m12s", whole seconds) is added once the workflow
 *    has ended, for the CRD's Duration column; the rest of the status is
 *    the engine's JSON (sk_wf_status_to_json).
 *  - The spec is validated with lib/spec (messages carry field paths; a
 *    required param without a value is a problem too). Invalid → the
 *    workflow is Failed with "invalid spec: <problems>" (capped) in
 *    status.message, unfinished records are Cancelled, Warning event
 *    InvalidSpec, no Pod is created. A status that cannot be read fails
 *    the workflow the same way (StatusUnreadable). A finished workflow
 *    stays as it ended whatever its spec becomes; only observedGeneration
 *    follows metadata.generation.
 *  - Observations, for each Running leaf record, of the Pod of its current
 *    attempt (sk_controller_observe_pod), of its tombstone, or of a
 *    create error; then the engine plans (spec.shutdown Stop/Terminate,
 *    deadlines, retries: all engine rules). Its START actions become
 *    CREATE_POD ops plus a STARTED observation with ref {kind: Pod, name},
 *    so the status that records the start also names the Pod; KILL actions
 *    become DELETE_POD ops. The engine plans again with what the starts
 *    gave, until nothing new happens in this reconcile.
 *  - Executors: one per step kind, in one table (executor.c): pod, and
 *    vertex and sagemaker (cloudexec.c, below); a step of another kind
 *    fails its attempt with "rollout steps are not supported by skeind yet".
 *  - Pods of this workflow (controller ownerReference with its uid; other
 *    Pods are never touched) that are still running but whose attempt has
 *    ended, or whose workflow is finished → DELETE_POD.
 *  - A Pod name held by a Pod this workflow does not control: when an
 *    earlier Workflow of the same name controls it (garbage collection
 *    has not removed it yet), the create waits for it to go (its deletion
 *    is an event for this Workflow's key); anything else fails the
 *    attempt ("a Pod named ... already exists and this workflow does not
 *    control it"), since it would never go away by itself.
 *  - podGC: Never (default) keeps Pods; OnPodSuccess deletes each
 *    Succeeded Pod (once its result is in the written status: rule 1);
 *    OnWorkflowSuccess deletes every Pod once the workflow Succeeded;
 *    OnWorkflowCompletion once it finished in any phase.
 *  - ttlSecondsAfterFinished: once finishedAt + ttl <= now, DELETE_POD for
 *    every Pod and then DELETE_WORKFLOW; before that, requeue at that time.
 *  - Events, derived from the change this reconcile makes (so a reconcile
 *    that writes nothing records nothing): Normal WorkflowRunning when the
 *    run starts; WorkflowSucceeded (Normal), WorkflowFailed and
 *    WorkflowCancelled (Warning) when it ends; Warning StepFailed when a
 *    step instance fails for good (at most SK_CONTROLLER_MAX_STEP_EVENTS
 *    per reconcile, then one saying how many more); Warning InvalidSpec,
 *    StatusUnreadable.
 *
 * ---- Cloud jobs (vertex and sagemaker steps; cloudexec.c) ----
 *
 *  The driver runs a job tracker (lib/cloud/jobs.h): the reconciler says
 *  which jobs must be followed (ENSURE_JOB) or stopped (CANCEL_JOB), and
 *  the driver passes back what the tracker knows in in.jobs, keyed by
 *  (instance, attempt), as it passes Pods. The tracker's changes are
 *  events for the Workflow's key, as Pod events are.
 *
 *  C1. A START records the attempt Running with ref {kind:
 *      VertexCustomJob | SageMakerTrainingJob | SageMakerProcessingJob,
 *      attempt} and asks ENSURE_JOB: the job is submitted only after the
 *      status that records its start is stored (rule 1, as for Pods).
 *  C2. Every reconcile asks ENSURE_JOB again for every Running cloud
 *      attempt (the tracker ignores a job it already follows), with the
 *      job's name once the ref records it (a restarted driver resumes
 *      polling it), and with adopt_first when no name is recorded and the
 *      start was not made in this reconcile: a create may have been sent
 *      before a crash, so the tracker looks for the job by its labels or
 *      its deterministic name before creating one.
 *  C3. What the tracker learns goes into the ref: the job's name (so the
 *      status names the job before its first poll), the cloud's state, and
 *      done: true once nothing of that attempt runs in the cloud any more
 *      (the job ended, or a cancel was accepted or given up on). A job
 *      that ended reports its attempt: Succeeded with the job's outputs,
 *      Failed with the cloud's reason, and cancelled by someone else as
 *      Failed "the job was cancelled outside skein".
 *  C4. A ref whose attempt is no longer the record's Running one (the
 *      attempt timed out, was stopped by spec.shutdown or the deadline,
 *      or the workflow ended) and is not done gets CANCEL_JOB, in every
 *      reconcile until it is done (no_create: after a restart, a job that
 *      was never created is not created to be cancelled). A cancel given
 *      up on after the tracker's retries is a Warning event
 *      CloudJobCancelFailed naming the job, and counts as done. When a
 *      retry starts the next attempt before an earlier attempt's job is
 *      done, the new ref carries the earlier ref in its "earlier" list
 *      (whatever kind runs the new attempt, a Pod included), which gets
 *      CANCEL_JOB the same way until done and is then dropped: a restart
 *      between the two cannot lose that cancel.
 *  C5. The finalizer SK_CONTROLLER_FINALIZER is added (ADD_FINALIZER,
 *      before any ENSURE_JOB of that reconcile) to a running Workflow
 *      that has a cloud step, and removed (REMOVE_FINALIZER) once the
 *      workflow is finished and every cloud ref is done, or, while the
 *      Workflow is being deleted, once every job is cancelled or ended
 *      (from in.jobs: nothing is written to an object on its way out).
 *      Deleting a Workflow therefore cancels its jobs, and never leaves
 *      the object stuck: a cancel given up on releases it with an event.
 *
 * ---- The Pod (sk_controller_build_pod) ----
 *
 *  metadata: name (sk_controller_pod_name), the Workflow's namespace,
 *  labels skein.dev/workflow, skein.dev/step (values shortened by
 *  sk_controller_label_value when longer than 63) and skein.dev/attempt;
 *  annotations skein.dev/workflow-uid and skein.dev/step with the full
 *  names; ownerReferences [{apiVersion skein.dev/v1alpha1, kind Workflow,
 *  name, uid, controller: true, blockOwnerDeletion: true}]. The step's
 *  pod.metadata labels and annotations (templated) are added to these;
 *  skeind's own keys always win (the validator refuses them in a step
 *  anyway). A label value that is not a valid label value once templated
 *  ("{{params.team}}" given "ML Team") fails the attempt with
 *  SK_EINVAL and a message naming the key, as a bad podSpecPatch does.
 *  spec: restartPolicy Never (retries are the engine's, so a patch may not
 *  change it), serviceAccountName from the workflow, activeDeadlineSeconds
 *  = the step's timeoutSeconds when set (the engine times out too;
 *  whichever sees it first), and one container "main" with the step's
 *  image, imagePullPolicy, command, args, workingDir, env (core/v1 EnvVar
 *  passed through, valueFrom included), resources and volumeMounts, after
 *  SKEIN_WORKFLOW, SKEIN_STEP, SKEIN_ATTEMPT and SKEIN_OUTPUTS in env (so a
 *  step's $(SKEIN_OUTPUTS) expands; a step's own variable of the same
 *  name replaces ours). terminationMessagePath is SKEIN_OUTPUTS
 *  (/dev/termination-log): the kubelet hands the outputs file back in the
 *  Pod status. terminationMessagePolicy is FallbackToLogsOnError: the same
 *  as File when the step succeeds, and when it fails with an empty
 *  outputs file, the tail of its log explains why in the step's message.
 *  Then the step's podSpecPatch is merged into spec (sk_controller_merge);
 *  SKEIN_OUTPUTS follows a patched terminationMessagePath.
 *
 * ---- Names ----
 *
 *  A Pod is "<workflow>-<instance>-<attempt>" when that has at most 63
 *  characters (a Pod's name becomes its hostname, a DNS label). Longer,
 *  it is the first 52 characters of that name (without a trailing '-' or
 *  '.') + "-" + 10 hex digits of the FNV-1a 64-bit hash of the full name:
 *  deterministic, at most 63, distinct for every attempt and instance.
 *  Label values use the same shortening.
 */
#ifndef SK_CONTROLLER_CONTROLLER_H
#define SK_CONTROLLER_CONTROLLER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"
#include "spec/spec.h"

#define SK_CONTROLLER_NAME_MAX 63     /* Pod names and label values */
#define SK_CONTROLLER_HASH_HEX 10     /* hex digits of the hash in a shortened name */
#define SK_CONTROLLER_CONTAINER "main"
#define SK_CONTROLLER_OUTPUTS_PATH "/dev/termination-log"
#define SK_CONTROLLER_LABEL_WORKFLOW "skein.dev/workflow"
#define SK_CONTROLLER_LABEL_STEP "skein.dev/step"
#define SK_CONTROLLER_LABEL_ATTEMPT "skein.dev/attempt"
#define SK_CONTROLLER_ANN_WORKFLOW_UID "skein.dev/workflow-uid"
#define SK_CONTROLLER_ANN_STEP "skein.dev/step"
/* How long a container may wait with a reason that usually needs a fix
 * (ErrImagePull, ImagePullBackOff, CreateContainerConfigError,
 * CreateContainerError) before its attempt fails: long enough for a
 * registry hiccup or a Secret created a moment late. */
#define SK_CONTROLLER_WAITING_GRACE_MS (5 * 60 * 1000)
#define SK_CONTROLLER_MAX_STEP_EVENTS 10
/* Keeps a Workflow with cloud jobs until they are cancelled (C5). */
#define SK_CONTROLLER_FINALIZER "skein.dev/cloud-jobs"

/* ---- names ---- */

/* Writes the Pod name of (workflow, instance, attempt) into out (at least
 * SK_CONTROLLER_NAME_MAX + 1 bytes). SK_EINVAL on empty names or attempt
 * < 1, SK_ETOOBIG when out is too small. */
int sk_controller_pod_name(const char *workflow, const char *instance, int attempt, char *out,
                           size_t outlen);
/* A label value for s: s itself when it fits (at most 63 characters), else
 * shortened as Pod names are. s must already be a valid label value
 * apart from its length (Workflow and step names are). */
int sk_controller_label_value(const char *s, char *out, size_t outlen);

/* ---- podSpecPatch ---- */

/*
 * Merges patch into target in place, the way a strategic merge patch
 * merges into a PodSpec:
 *  - objects merge key by key, recursively; a null value deletes the key;
 *  - lists of named objects merge item by item on their merge key, as in
 *    Kubernetes: containers, initContainers, ephemeralContainers,
 *    volumes, env, imagePullSecrets, resourceClaims by "name";
 *    volumeMounts by "mountPath"; volumeDevices by "devicePath"; ports by
 *    "containerPort"; hostAliases by "ip"; topologySpreadConstraints by
 *    "topologyKey". A patch item with the key of a target item merges
 *    into it, a new one is appended, and {<key>: ..., "$patch": "delete"}
 *    removes it; a patch item without its key is an error;
 *  - every other list (args, command, tolerations, ...) and every scalar
 *    is replaced.
 *  - other "$" directives are refused, so a patch never means something
 *    else than it says.
 * patch is borrowed and not changed. On error returns SK_EINVAL with a
 * message naming the path ("podSpecPatch.containers[1]: ...") in err, and
 * target may be partly merged.
 */
int sk_controller_merge(json_t *target, json_t *patch, char *err, size_t errlen);

/* ---- the Pod of an attempt ---- */

/*
 * Builds the Pod for attempt `attempt` of step instance `instance` (a
 * record of step `step` of wf) from body, the templated kind body of the
 * START action (or of sk_engine_render_body). wf needs its identity (name,
 * namespace, uid). Sets *out to a new Pod object. On a bad podSpecPatch,
 * a bad templated label value or a bad body returns SK_EINVAL with a
 * message for the step in err.
 */
int sk_controller_build_pod(const sk_workflow_t *wf, const sk_step_t *step, const char *instance,
                            int attempt, json_t *body, json_t **out, char *err, size_t errlen);

/* ---- observing a Pod ---- */

typedef enum {
  SK_CONTROLLER_POD_WAIT,       /* nothing to report yet */
  SK_CONTROLLER_POD_SUCCEEDED,  /* main exited 0; outputs parsed */
  SK_CONTROLLER_POD_FAILED,     /* the attempt failed; message says why */
} sk_controller_pod_state_t;

typedef struct sk_controller_pod_obs {
  sk_controller_pod_state_t state;
  int64_t at_ms;          /* when main ended (its finishedAt), else now */
  json_t *outputs;        /* SUCCEEDED: object of strings or NULL (own reference) */
  int64_t recheck_at_ms;  /* WAIT: look again then (a grace period ends); 0 = on change */
  char message[SK_STATUS_MAX_MESSAGE];
} sk_controller_pod_obs_t;

/*
 * What a Pod says about its attempt. gone: pod is the last state of a Pod
 * that was deleted (a tombstone). In order:
 *  - main terminated with exit code 0 → SUCCEEDED, outputs parsed from
 *    its termination message with sk_outputs_parse (a parse error →
 *    FAILED with the parser's message). A result is a result even when
 *    the Pod is being deleted or has a sidecar still running.
 *  - pod reason DeadlineExceeded → FAILED "timed out after Ns" (N: the
 *    Pod's activeDeadlineSeconds); Evicted → "pod was evicted: <message>".
 *  - deleted (gone, or deletionTimestamp set) → FAILED "pod was deleted".
 *  - main terminated otherwise → FAILED "exit code 3 (Error)", or for
 *    OOMKilled "exit code 137 (OOMKilled): the container ran out of memory
 *    (resources.limits.memory)", followed by ": <last line of the
 *    termination message>" when there is one (with FallbackToLogsOnError
 *    the log's last line when the outputs file was empty).
 *  - Pod Failed otherwise: a failed init container's exit code, else the
 *    Pod's reason and message, else "pod failed".
 *  - Pod Succeeded without a main status (a simulated kubelet) → SUCCEEDED
 *    with no outputs.
 *  - A container waiting with InvalidImageName or ErrImageNeverPull →
 *    FAILED "cannot start container main: <reason>: <message>" at once
 *    (only a new Pod could fix it); ErrImagePull, ImagePullBackOff,
 *    CreateContainerConfigError or CreateContainerError → the same once
 *    the Pod is SK_CONTROLLER_WAITING_GRACE_MS old, else WAIT with
 *    recheck_at_ms. Other waiting reasons, Unschedulable Pods and phase
 *    Unknown wait: the step's timeoutSeconds bounds them.
 *  - else WAIT.
 * Returns 0 or SK_ENOMEM. Release *o with sk_controller_pod_obs_release.
 */
int sk_controller_observe_pod(json_t *pod, bool gone, int64_t now_ms, sk_controller_pod_obs_t *o);
void sk_controller_pod_obs_release(sk_controller_pod_obs_t *o);

/* The name and uid of the Workflow that controls pod (its ownerReference
 * with controller: true, kind Workflow, apiVersion skein.dev/...),
 * borrowed from pod; SK_ENOENT when it has none. For a driver mapping Pod
 * events to Workflow keys. */
int sk_controller_pod_owner(json_t *pod, const char **name, const char **uid);

/* Trims pod in place to the fields the controller reads (this file's Pod
 * rules, sk_controller_pod_owner and the reconciler's Pod index), for a
 * driver that caches every Pod of every Workflow: apiVersion, kind;
 * metadata name, namespace, uid, resourceVersion, creationTimestamp,
 * deletionTimestamp, labels, annotations, ownerReferences; spec
 * activeDeadlineSeconds; status phase, reason, message and the name and
 * state of each (init) container status. What the controller decides from
 * a trimmed Pod is what it decides from the whole one (tested). A Pod of a
 * finished step keeps about a third of its JSON. */
void sk_controller_pod_trim(json_t *pod);

/* ---- reconcile ---- */

typedef struct sk_controller_create_error {
  const char *pod;      /* the Pod name of the refused CREATE_POD */
  const char *message;  /* the API server's message, e.g. a quota or admission refusal */
} sk_controller_create_error_t;

/* What the driver's job tracker knows of the job of one attempt. */
typedef enum {
  SK_CONTROLLER_JOB_SUBMITTING, /* being created or looked up */
  SK_CONTROLLER_JOB_RUNNING,
  SK_CONTROLLER_JOB_SUCCEEDED,
  SK_CONTROLLER_JOB_FAILED,     /* failed, or its create was refused for good */
  SK_CONTROLLER_JOB_CANCELLED,
} sk_controller_job_phase_t;

typedef struct sk_controller_job {
  const char *instance;
  int attempt;
  sk_controller_job_phase_t phase;
  const char *name;      /* the cloud's name for the job, NULL until known */
  const char *state;     /* the cloud's last state string, or NULL */
  const char *message;   /* FAILED / CANCELLED: why */
  json_t *outputs;       /* SUCCEEDED: object of strings, or NULL (borrowed) */
  bool cancel_done;      /* a cancel was accepted (or the job had ended) */
  bool cancel_gave_up;   /* the cancel failed after the tracker's retries */
} sk_controller_job_t;

typedef struct sk_controller_in {
  json_t *workflow;           /* the Workflow object as read (borrowed, not changed) */
  /* The Pods the driver knows for this Workflow (borrowed): those it
   * controls, and best also others that carry its name (label
   * skein.dev/workflow, or an owner of that name), so that a Pod of an
   * earlier Workflow of the same name is recognised. Pods it does not
   * control are never changed. */
  json_t *const *pods;
  size_t npods;
  json_t *const *gone_pods;   /* last states of its Pods seen deleted (tombstones), may be empty */
  size_t ngone;
  const sk_controller_create_error_t *create_errors; /* refusals since the last reconcile */
  size_t ncreate_errors;
  const sk_controller_job_t *jobs; /* the tracker's jobs of this Workflow, may be empty */
  size_t njobs;
  int64_t now_ms;
} sk_controller_in_t;

typedef enum {
  SK_CONTROLLER_OP_CREATE_POD,
  SK_CONTROLLER_OP_DELETE_POD,
  SK_CONTROLLER_OP_DELETE_WORKFLOW,
  SK_CONTROLLER_OP_ENSURE_JOB,      /* follow (submit, adopt or resume) a cloud job */
  SK_CONTROLLER_OP_CANCEL_JOB,      /* stop a cloud job (following it first if need be) */
  SK_CONTROLLER_OP_ADD_FINALIZER,   /* name: the finalizer; uid: the Workflow's */
  SK_CONTROLLER_OP_REMOVE_FINALIZER,
} sk_controller_op_kind_t;

typedef struct sk_controller_op {
  sk_controller_op_kind_t kind;
  char *name;    /* the Pod's or the Workflow's name (same namespace as the Workflow);
                    *_JOB: the step instance; *_FINALIZER: the finalizer */
  char *uid;     /* DELETE_*: the uid precondition (NULL when unknown) */
  json_t *pod;   /* CREATE_POD: the Pod to POST (own reference);
                    *_JOB: the step's templated kind body (vertex: / sagemaker:) */
  /* *_JOB only: */
  int attempt;
  sk_step_kind_t step_kind;  /* SK_STEP_VERTEX or SK_STEP_SAGEMAKER */
  char *job_name;            /* the job's recorded name, or NULL */
  bool adopt_first;          /* ENSURE: look for an earlier create before creating */
} sk_controller_op_t;

typedef struct sk_controller_event {
  const char *type;    /* "Normal" or "Warning" (static) */
  const char *reason;  /* "WorkflowRunning", "StepFailed", ... (static) */
  char *message;       /* capped at SK_STATUS_MAX_MESSAGE */
} sk_controller_event_t;

typedef struct sk_controller_out {
  json_t *status;                /* the status to write (own reference), or NULL: unchanged */
  sk_controller_op_t *ops;       /* in the order to carry out */
  size_t nops;
  size_t ops_cap;                /* allocated (internal) */
  sk_controller_event_t *events;
  size_t nevents;
  size_t events_cap;             /* allocated (internal) */
  sk_transition_t *transitions;  /* the engine's record phase changes, for debug logs */
  size_t ntransitions;
  size_t transitions_cap;        /* allocated (internal) */
  int64_t requeue_at_ms;         /* reconcile again then; 0 = on the next event only */
  sk_phase_t phase;              /* the workflow phase after this reconcile */
} sk_controller_out_t;

void sk_controller_out_init(sk_controller_out_t *out);
void sk_controller_out_release(sk_controller_out_t *out);

/*
 * One reconcile (see the top of this file). out must be initialised and
 * empty. The inputs are only read (references to them are taken and
 * dropped; jansson's reference counts are atomic), so objects shared with
 * an informer's cache can be passed as they are. Returns 0, SK_EINVAL when in->workflow is not an object with
 * metadata.name, SK_ENOMEM, or SK_ESTATE if the plans do not settle (a
 * bug: every extra plan uses up an attempt); every problem of the
 * workflow itself is a status, not an error. On error out is left empty.
 */
int sk_controller_reconcile(const sk_controller_in_t *in, sk_controller_out_t *out);

#endif
