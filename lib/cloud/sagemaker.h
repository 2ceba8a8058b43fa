/*
 * SageMaker training and processing jobs over the AWS JSON 1.1 protocol:
 * the pure half of the client (requests, answers, errors), unit-tested
 * without I/O; the tracker (jobs_sagemaker.c) sends what these build.
 *
 * Every call is "POST /" to https://api.sagemaker.{region}.amazonaws.com
 * with Content-Type application/x-amz-json-1.1 and X-Amz-Target
 * SageMaker.<Operation>, signed (SigV4, service "sagemaker") by the
 * authoriser.
 *
 * The job name is ours (sk_sagemaker_job_name in jobs.h), so a create is
 * idempotent by name: ResourceInUse means the job already exists, and it
 * is ours.
 */
#ifndef SK_CLOUD_SAGEMAKER_H
#define SK_CLOUD_SAGEMAKER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cloud/cloud-int.h"

#define SK_SAGEMAKER_DEFAULT_ENDPOINT "https://api.sagemaker.{region}.amazonaws.com"
#define SK_SAGEMAKER_CONTENT_TYPE "Content-Type: application/x-amz-json-1.1"
#define SK_SAGEMAKER_NAME_MAX 63

typedef enum {
  SK_SAGEMAKER_CREATE,
  SK_SAGEMAKER_DESCRIBE,
  SK_SAGEMAKER_STOP,
} sk_sagemaker_op_t;

/* The operation name ("CreateTrainingJob", "DescribeProcessingJob", ...)
 * for op on a training (processing = false) or processing job. */
const char *sk_sagemaker_op_name(sk_sagemaker_op_t op, bool processing);

/* True when name is a valid job name: 1-63 characters matching
 * [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}. */
bool sk_sagemaker_name_ok(const char *name);

/* A request: its body (a new string, free() it) and its X-Amz-Target
 * header line ("X-Amz-Target: SageMaker.CreateTrainingJob") in target.
 * For CREATE, job is the step's trainingJob / processingJob object, copied
 * with TrainingJobName / ProcessingJobName set to name (overriding any
 * given); DESCRIBE and STOP send {"<Kind>JobName": name} and ignore job.
 * SK_EINVAL for a bad name or a create without an object. */
int sk_sagemaker_request(sk_sagemaker_op_t op, bool processing, const json_t *job,
                         const char *name, char **body, char *target, size_t targetlen);

/* What a Describe*Job answer says. Strings are new
 * (sk_sagemaker_job_release). Times are Unix ms, 0 when absent. */
typedef struct sk_sagemaker_job {
  char *name;
  char *arn;
  char *status;           /* TrainingJobStatus / ProcessingJobStatus */
  char *secondary_status; /* training jobs: SecondaryStatus (opaque) */
  char *failure_reason;
  char *model_artifacts;  /* training jobs: ModelArtifacts.S3ModelArtifacts */
  int64_t creation_ms;
  int64_t end_ms;
} sk_sagemaker_job_t;

/* SK_EPARSE for bad JSON or an answer without the job's status. */
int sk_sagemaker_parse_describe(bool processing, const char *body, size_t len,
                                sk_sagemaker_job_t *out);
void sk_sagemaker_job_release(sk_sagemaker_job_t *j);

/* The ARN in a create's answer ({"TrainingJobArn": ...}), a new string, or
 * NULL when absent (the create still succeeded). */
char *sk_sagemaker_parse_create(bool processing, const char *body, size_t len);

/* A timestamp as real AWS sends it (epoch seconds, a number with a
 * fraction) or as moto does ("%Y-%m-%d %H:%M:%S", UTC, optional fraction
 * and offset). SK_EPARSE otherwise. */
int sk_sagemaker_time_ms(const json_t *v, int64_t *ms);

/* The step phase of a job status: Completed → SK_CJOB_SUCCEEDED, Failed →
 * SK_CJOB_FAILED, Stopped → SK_CJOB_CANCELLED, else SK_CJOB_RUNNING. */
int sk_sagemaker_status_phase(const char *status);

/* The error code of an answer: the x-amzn-ErrorType header when given,
 * else the body's __type or code; the part after the last '#', cut at the
 * first ':'. out is "" when there is none. */
void sk_sagemaker_error_code(const char *error_type_header, const char *body, size_t len,
                             char *out, size_t outlen);

/* True for the codes AWS SDKs treat as throttling, and as transient. */
bool sk_sagemaker_throttle_code(const char *code);
bool sk_sagemaker_transient_code(const char *code);

/* Classifies an error answer (status 0: a transport error described by
 * transport_text). x-amz-retry-after (ms) wins over Retry-After (s).
 * what starts the message: "SageMaker refused the job" gives
 * "SageMaker refused the job: 400 ValidationException: <message>".
 * ResourceInUse is EXISTS; ResourceNotFound, and a ValidationException
 * saying the resource was not found (Describe of an unknown job), are
 * NOT_FOUND; 401 and expired or invalid tokens are AUTH. */
void sk_sagemaker_parse_error(long status, const char *error_type_header, const char *body,
                              size_t len, const char *amz_retry_after, const char *retry_after,
                              const char *transport_text, const char *what,
                              sk_cloud_error_t *out);

#endif
