/*
 * Vertex AI CustomJobs over REST v1: the pure half of the client. Building
 * URLs and request bodies, and reading answers, with no I/O, so that every
 * rule is unit-tested; the tracker (jobs_vertex.c) sends what these build.
 *
 *   create  POST {base}/v1/projects/{p}/locations/{l}/customJobs
 *   get     GET  {base}/v1/{name}
 *   cancel  POST {base}/v1/{name}:cancel            (empty body)
 *   list    GET  {base}/v1/projects/{p}/locations/{l}/customJobs?filter=...
 *
 * where base is the endpoint template with {location} replaced
 * ("https://us-central1-aiplatform.googleapis.com").
 *
 * Vertex AI picks the job's name, so each job carries the labels
 * skein-workflow-uid, skein-step and skein-attempt: after a create whose
 * answer was lost, listing by those labels finds it again.
 */
#ifndef SK_CLOUD_VERTEX_H
#define SK_CLOUD_VERTEX_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "cloud/cloud-int.h"

#define SK_VERTEX_DEFAULT_ENDPOINT "https://{location}-aiplatform.googleapis.com"
#define SK_VERTEX_DEFAULT_LOCATION "us-central1"
#define SK_VERTEX_LABEL_MAX 63
#define SK_VERTEX_DISPLAY_NAME_MAX 128
#define SK_VERTEX_LIST_PAGE_SIZE 50

/* A label value under Vertex AI's rules: at most 63 characters of
 * lowercase letters, digits, '_' and '-'. Upper case is lowered, anything
 * else becomes '-'; a longer value keeps its first 54 characters and ends
 * in '-' and 8 hex digits of a hash of the whole original, so two long
 * values stay apart. Deterministic: the label lookup relies on it.
 * out must hold SK_VERTEX_LABEL_MAX + 1 bytes. */
int sk_vertex_label_value(const char *in, char *out, size_t outlen);

/* True for a project or location fit for a URL path ("my-project",
 * "example.com:proj", "us-central1"): letters, digits, '-', '_', '.', ':'. */
bool sk_vertex_name_ok(const char *s);
/* True for a job resource name
 * "projects/{p}/locations/{l}/customJobs/{id}" whose parts pass
 * sk_vertex_name_ok, so it can go into a URL as it is. */
bool sk_vertex_job_name_ok(const char *name);

/* URLs. base has no trailing slash (one is dropped). SK_EINVAL for a bad
 * project, location or name; SK_ETOOBIG when out is too small. */
int sk_vertex_create_url(const char *base, const char *project, const char *location,
                         char *out, size_t outlen);
int sk_vertex_get_url(const char *base, const char *name, char *out, size_t outlen);
int sk_vertex_cancel_url(const char *base, const char *name, char *out, size_t outlen);
/* The list of the location's CustomJobs carrying the three labels of an
 * attempt (values already sanitised by sk_vertex_label_value here), with
 * pageSize SK_VERTEX_LIST_PAGE_SIZE and page_token (NULL for the first
 * page), query values percent-encoded. */
int sk_vertex_list_url(const char *base, const char *project, const char *location,
                       const char *workflow_uid, const char *step, int attempt,
                       const char *page_token, char *out, size_t outlen);

/* The body of the create: a copy of custom_job with displayName set when
 * it has none (default "<workflow>-<instance>-<attempt>", cut to 128
 * bytes) and the labels skein-workflow-uid, skein-step, skein-attempt
 * added or overriding the step's own. Returns a new reference, or NULL
 * with a message in err (custom_job or its labels not an object). */
json_t *sk_vertex_create_body(const json_t *custom_job, const char *workflow_name,
                              const char *workflow_uid, const char *instance, int attempt,
                              char *err, size_t errlen);

/* What a CustomJob answer says. Strings are new (sk_vertex_job_release). */
typedef struct sk_vertex_job {
  char *name;      /* "projects/../customJobs/ID" */
  char *state;     /* "JOB_STATE_RUNNING", or NULL */
  char *error;     /* error.message of a failed job, or NULL */
  char *model_dir; /* jobSpec.baseOutputDirectory.outputUriPrefix + "/model/", or NULL */
} sk_vertex_job_t;

/* Reads a CustomJob object (from a create, get or list). SK_EPARSE when
 * it has no valid name. */
int sk_vertex_job_from_json(const json_t *obj, sk_vertex_job_t *out);
/* Parses a CustomJob answer body. SK_EPARSE for bad JSON or no name. */
int sk_vertex_parse_job(const char *body, size_t len, sk_vertex_job_t *out);
void sk_vertex_job_release(sk_vertex_job_t *j);

/* The step phase of a job state: SK_CJOB_SUCCEEDED, _FAILED, _CANCELLED,
 * or SK_CJOB_RUNNING for everything else (unknown states and NULL
 * included). Declared as int to keep jobs.h out of this header. */
int sk_vertex_state_phase(const char *state);

/* Parses a list answer: the first job whose labels carry exactly the
 * three values (the filter is checked again here, so a server that
 * ignores it cannot make us adopt a stranger), and nextPageToken.
 * found is set when a job matched (then *job is filled); *next_page is a
 * new string or NULL. SK_EPARSE for bad JSON. */
int sk_vertex_parse_list(const char *body, size_t len, const char *workflow_uid,
                         const char *step, int attempt, bool *found, sk_vertex_job_t *job,
                         char **next_page);

/* Classifies an error answer {"error":{code,status,message,details}} of
 * HTTP status (0 for a transport error, when transport_text says what
 * happened). what starts the message: "Vertex AI refused the job" gives
 * "Vertex AI refused the job: 400 INVALID_ARGUMENT: <message>".
 * RetryInfo.retryDelay ("3.5s") wins over the Retry-After header. */
void sk_vertex_parse_error(long status, const char *body, size_t len, const char *retry_after,
                           const char *transport_text, const char *what,
                           sk_cloud_error_t *out);

/* Parses a protobuf Duration in JSON form ("3.5s", "30s", "0.250s") into
 * ms (rounded up); -1 when it is not one. */
int64_t sk_vertex_duration_ms(const char *s);

#endif
