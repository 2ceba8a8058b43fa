/*
 * The Workflow and WorkflowTemplate resources (skein.dev/v1alpha1): parsing
 * and validation into a typed model.
 *
 * Validation is strict, like `kubectl --validate=strict`: unknown fields are
 * errors, and every problem in a document is reported (not just the first),
 * each with its field path and source position. The step kinds' bodies
 * (pod, vertex, sagemaker, resource, rollout) are validated for shape and
 * kept as JSON, because executors pass most of them through.
 *
 * docs/workflow-reference.md lists every field, its type, default and
 * range, exactly as the validator accepts them.
 *
 * Diagnostics: the path of a problem is the field it is about, also when
 * that field is missing ("spec.steps[0].pod.image: required field is
 * missing", positioned at the nearest field that exists); a problem of a
 * whole object (a step with no kind, a dependency cycle) is reported at
 * the object (or its dependsOn). A null value counts as absent, as in
 * Kubernetes. A dependency cycle reads in the depends-on direction:
 * "dependency cycle: a -> c -> b -> a" means a depends on c, c on b, b on
 * a; one is reported per strongly connected group of steps.
 */
#ifndef SK_SPEC_SPEC_H
#define SK_SPEC_SPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/diag.h"
#include "yaml/yaml.h"

#define SK_API_GROUP "skein.dev"
#define SK_API_VERSION "skein.dev/v1alpha1"

/* Limits that keep a Workflow and its status bounded. */
#define SK_SPEC_MAX_STEPS 500        /* steps + finally steps */
#define SK_SPEC_MAX_PARAMS 200
#define SK_SPEC_MAX_RETRY_LIMIT 100
#define SK_SPEC_MAX_SECONDS (30LL * 24 * 3600)  /* timeouts, backoff caps */
#define SK_SPEC_MAX_PARALLELISM 10000
#define SK_SPEC_MAX_FOREACH 1000     /* instances of one fanned-out step */

typedef enum {
  SK_STEP_POD,
  SK_STEP_VERTEX,
  SK_STEP_SAGEMAKER,
  SK_STEP_RESOURCE,
  SK_STEP_ROLLOUT,
  SK_STEP_KIND_COUNT
} sk_step_kind_t;

/* "pod", "vertex", ... — the field name of the kind in a step. */
const char *sk_step_kind_name(sk_step_kind_t kind);

typedef struct sk_retry {
  int limit;             /* retries after the first attempt; 0 = none */
  double backoff_seconds; /* delay before the first retry; 0 = at once */
  double factor;          /* delay multiplier per further retry, >= 1 */
  double max_seconds;     /* cap on any delay; 0 = no cap */
} sk_retry_t;

typedef struct sk_param {
  char *name;
  char *value;        /* effective value: `value`, else `default`; NULL when required and unset */
  char *description;  /* may be NULL */
} sk_param_t;

/* A step's retry when neither the step nor spec.defaults sets one:
 * {limit 0, backoff_seconds 0, factor 2, max_seconds 0}. Each field is
 * taken from the step's retry when it sets it, else from
 * spec.defaults.retry, else this default. */

typedef struct sk_step {
  char *name;
  bool is_finally;       /* from spec.finally */
  char *path;            /* "spec.steps[2]" or "spec.finally[0]", for messages */
  char **depends_on;     /* names as written */
  size_t *dep_index;     /* the same, as indexes into sk_workflow_t.steps */
  size_t ndeps;
  char *when;            /* NULL when absent */
  json_t *for_each;      /* NULL; a JSON array; or a JSON string (templated, then parsed as a JSON list) */
  sk_retry_t retry;      /* spec.defaults.retry merged under the step's own */
  int64_t timeout_seconds; /* per attempt; 0 = none (defaults merged) */
  sk_step_kind_t kind;
  json_t *body;          /* the kind's object, e.g. the value of `pod:` (own reference) */
} sk_step_t;

typedef struct sk_workflow {
  json_t *object;        /* the whole resource as given (own reference) */
  char *name;            /* metadata.name, NULL when only generateName is set */
  char *generate_name;
  char *ns;              /* metadata.namespace, "default" when absent */
  char *uid;             /* metadata.uid, NULL until the store assigns one */
  sk_param_t *params;
  size_t nparams;
  char *service_account; /* spec.serviceAccountName, may be NULL */
  int64_t active_deadline_seconds; /* 0 = none */
  int parallelism;       /* 0 = unlimited */
  int64_t ttl_seconds_after_finished; /* -1 = keep */
  char *pod_gc;          /* Never | OnPodSuccess | OnWorkflowSuccess | OnWorkflowCompletion;
                            "Never" when absent */
  char *shutdown;        /* spec.shutdown: NULL, "Stop" or "Terminate" */
  sk_step_t *steps;      /* spec.steps followed by spec.finally */
  size_t nsteps;         /* all of them */
  size_t nmain;          /* steps[0..nmain) are spec.steps, the rest spec.finally */
} sk_workflow_t;

typedef struct sk_trigger {
  char *name;
  json_t *object;        /* the trigger as written (own reference) */
} sk_trigger_t;

typedef struct sk_wftemplate {
  json_t *object;        /* the whole resource as given (own reference, a copy) */
  char *name;
  char *ns;              /* "default" when absent */
  /* The Workflow a trigger creates: object is {apiVersion, kind: Workflow,
   * metadata: {generateName: "<name>-", namespace, labels:
   * {skein.dev/template: <name>}}, spec: <a copy of spec.workflow>}. */
  sk_workflow_t *workflow;
  sk_trigger_t *triggers;
  size_t ntriggers;
} sk_wftemplate_t;

/* Returns "Workflow", "WorkflowTemplate" or NULL for the kind of a parsed
 * document (borrowed). */
const char *sk_spec_doc_kind(const sk_yaml_doc_t *doc);

/*
 * Validates a Workflow document and builds its model. Every problem is
 * added to diags (file from the document, position from sk_yaml_doc_pos,
 * path like "spec.steps[2].pod.image"). Returns 0 and sets *out when there
 * is none, else SK_EINVALID and *out is NULL. out may be NULL to only
 * validate.
 */
int sk_spec_parse_workflow(const sk_yaml_doc_t *doc, sk_diags_t *diags, sk_workflow_t **out);
int sk_spec_parse_template(const sk_yaml_doc_t *doc, sk_diags_t *diags, sk_wftemplate_t **out);
/* Validates a document of either kind (what `skeinctl validate` does). */
int sk_spec_validate(const sk_yaml_doc_t *doc, sk_diags_t *diags);

/* Builds a model straight from a JSON object (no positions), e.g. a
 * Workflow read back from a run directory or the API server. obj is
 * borrowed: the model keeps its own deep copy (as every parse does), so
 * setting params or identity never changes the caller's object. source
 * names the object in diagnostics (may be NULL); they carry no line:col. */
int sk_spec_workflow_from_json(json_t *obj, const char *source, sk_diags_t *diags,
                               sk_workflow_t **out);

/* True when s is a valid Kubernetes label value: empty, or at most 63
 * letters, digits, '-', '_' or '.' starting and ending with a letter or
 * digit. For values known only after templating (a step's pod.metadata). */
bool sk_spec_label_value_ok(const char *s);

/* Sets the value of parameter name; SK_ENOENT when the workflow declares no
 * such parameter, SK_EINVAL when value is NULL or not UTF-8 (nothing is
 * changed then). Also writes it into object's spec.params[].value so that
 * the stored object records what ran. */
int sk_workflow_set_param(sk_workflow_t *wf, const char *name, const char *value);
/* Sets metadata name/uid/namespace on both the model and object; a NULL
 * argument leaves that field as it is (generateName is kept). */
int sk_workflow_set_identity(sk_workflow_t *wf, const char *name, const char *ns,
                             const char *uid);
/* The index of the step with that name, or -1. */
ssize_t sk_workflow_step_index(const sk_workflow_t *wf, const char *name);

void sk_workflow_destroy(sk_workflow_t *wf);
void sk_wftemplate_destroy(sk_wftemplate_t *t);

#endif
