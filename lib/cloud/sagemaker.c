/*
 * SageMaker over the AWS JSON 1.1 protocol: job names, requests, and
 * reading answers and errors (see sagemaker.h). Pure: no I/O, no clock.
 */
#include "cloud/sagemaker.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cloud/jobs.h"
#include "util/error.h"
#include "util/strutil.h"

const char *sk_sagemaker_op_name(sk_sagemaker_op_t op, bool processing) {
  switch (op) {
  case SK_SAGEMAKER_CREATE:
    return processing ? "CreateProcessingJob" : "CreateTrainingJob";
  case SK_SAGEMAKER_DESCRIBE:
    return processing ? "DescribeProcessingJob" : "DescribeTrainingJob";
  case SK_SAGEMAKER_STOP:
    return processing ? "StopProcessingJob" : "StopTrainingJob";
  }
  return "?";
}

static bool alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool sk_sagemaker_name_ok(const char *name) {
  if (!name)
    return false;
  size_t n = strlen(name);
  if (n < 1 || n > SK_SAGEMAKER_NAME_MAX || !alnum(name[0]) || !alnum(name[n - 1]))
    return false;
  for (size_t i = 0; i < n; i++)
    if (!alnum(name[i]) && name[i] != '-')
      return false;
  return true;
}

/* Appends up to max characters of s to out at *o, as name characters:
 * anything but letters and digits becomes '-', runs of '-' collapse, and
 * no '-' leads. Returns the characters written. */
static size_t put_part(char *out, size_t *o, const char *s, size_t max) {
  size_t start = *o;
  for (const char *p = s; *p && *o - start < max; p++) {
    char c = alnum(*p) ? *p : '-';
    if (c == '-' && (*o == start || out[*o - 1] == '-'))
      continue;
    out[(*o)++] = c;
  }
  while (*o > start && out[*o - 1] == '-')
    (*o)--;
  return *o - start;
}

int sk_sagemaker_job_name(const char *workflow_name, const char *workflow_uid,
                          const char *instance, int attempt, char *out, size_t outlen) {
  if (!workflow_uid || !instance || attempt < 0 || !out || outlen < SK_SAGEMAKER_NAME_MAX + 1)
    return SK_EINVAL;
  /* The hash decides uniqueness (two workflows of one name, a workflow
   * deleted and created again); the readable part is for people. */
  char key[512];
  int kn = snprintf(key, sizeof(key), "%s\n%s\n%d", workflow_uid, instance, attempt);
  if (kn < 0 || (size_t)kn >= sizeof(key))
    return SK_EINVAL;
  char hex[11];
  int rc = sk__cloud_hash_hex(key, (size_t)kn, hex, sizeof(hex));
  if (rc < 0)
    return rc;
  char suffix[40];
  int sn = snprintf(suffix, sizeof(suffix), "-%d-%s", attempt, hex);
  if (sn < 0 || (size_t)sn >= sizeof(suffix))
    return SK_EINVAL;
  size_t avail = SK_SAGEMAKER_NAME_MAX - (size_t)sn; /* for "<workflow>-<instance>" */
  size_t wl = workflow_name ? strlen(workflow_name) : 0, il = strlen(instance);
  /* The instance keeps up to half the room; the workflow name takes what
   * is left, and gives back what it does not use. */
  size_t imax = il < avail / 2 ? il : avail / 2;
  size_t wmax = avail - imax - 1;
  if (wl < wmax)
    imax = avail - (wl ? wl + 1 : 0) < il ? avail - (wl ? wl + 1 : 0) : il;
  size_t o = 0;
  char buf[SK_SAGEMAKER_NAME_MAX * 2];
  if (workflow_name && put_part(buf, &o, workflow_name, wmax) > 0)
    buf[o++] = '-';
  put_part(buf, &o, instance, imax);
  if (o == 0) {
    memcpy(buf, "skein", 5);
    o = 5;
  }
  while (o > 0 && buf[o - 1] == '-')
    o--;
  memcpy(buf + o, suffix, (size_t)sn + 1);
  o += (size_t)sn;
  if (o > SK_SAGEMAKER_NAME_MAX)
    return SK_EINVAL; /* cannot happen: the parts were sized to fit */
  memcpy(out, buf, o + 1);
  return 0;
}

int sk_sagemaker_request(sk_sagemaker_op_t op, bool processing, const json_t *job,
                         const char *name, char **body, char *target, size_t targetlen) {
  *body = NULL;
  if (!sk_sagemaker_name_ok(name))
    return SK_EINVAL;
  const char *field = processing ? "ProcessingJobName" : "TrainingJobName";
  json_t *req;
  if (op == SK_SAGEMAKER_CREATE) {
    if (!json_is_object(job))
      return SK_EINVAL;
    req = json_deep_copy(job);
  } else {
    req = json_object();
  }
  if (!req)
    return SK_ENOMEM;
  int rc = SK_ENOMEM;
  if (json_object_set_new(req, field, json_string(name)) < 0)
    goto out;
  int n = snprintf(target, targetlen, "X-Amz-Target: SageMaker.%s",
                   sk_sagemaker_op_name(op, processing));
  if (n < 0 || (size_t)n >= targetlen) {
    rc = SK_ETOOBIG;
    goto out;
  }
  *body = json_dumps(req, JSON_COMPACT);
  rc = *body ? 0 : SK_ENOMEM;
out:
  json_decref(req);
  return rc;
}

void sk_sagemaker_job_release(sk_sagemaker_job_t *j) {
  if (!j)
    return;
  free(j->name);
  free(j->arn);
  free(j->status);
  free(j->secondary_status);
  free(j->failure_reason);
  free(j->model_artifacts);
  memset(j, 0, sizeof(*j));
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static int digits(const char **p, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (!isdigit((unsigned char)**p))
      return -1;
    v = v * 10 + (**p - '0');
    (*p)++;
  }
  *out = v;
  return 0;
}

static int parse_time_str(const char *s, int64_t *ms) {
  int y, mo, d, h, mi, sec;
  const char *p = s;
  if (digits(&p, 4, &y) < 0 || *p++ != '-' || digits(&p, 2, &mo) < 0 || *p++ != '-' ||
      digits(&p, 2, &d) < 0 || (*p != ' ' && *p != 'T') || !*p++ || digits(&p, 2, &h) < 0 ||
      *p++ != ':' || digits(&p, 2, &mi) < 0 || *p++ != ':' || digits(&p, 2, &sec) < 0)
    return SK_EPARSE;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
    return SK_EPARSE;
  int64_t frac_ms = 0;
  if (*p == '.') {
    p++;
    int scale = 100, nd = 0;
    while (isdigit((unsigned char)*p)) {
      if (scale > 0) {
        frac_ms += (*p - '0') * scale;
        scale /= 10;
      }
      p++;
      nd++;
    }
    if (nd == 0)
      return SK_EPARSE;
  }
  int64_t off_min = 0;
  if (*p == 'Z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int sign = *p == '-' ? -1 : 1, oh, om;
    p++;
    if (digits(&p, 2, &oh) < 0 || *p++ != ':' || digits(&p, 2, &om) < 0)
      return SK_EPARSE;
    off_min = sign * (oh * 60 + om);
  }
  if (*p)
    return SK_EPARSE;
  int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off_min * 60;
  *ms = secs * 1000 + frac_ms;
  return 0;
}

int sk_sagemaker_time_ms(const json_t *v, int64_t *ms) {
  if (json_is_number(v)) {
    double s = json_number_value(v);
    if (!isfinite(s) || s < 0 || s > 1e11)
      return SK_EPARSE;
    *ms = (int64_t)llround(s * 1000.0);
    return 0;
  }
  if (json_is_string(v))
    return parse_time_str(json_string_value(v), ms);
  return SK_EPARSE;
}

static int dup_field(const json_t *obj, const char *key, size_t cap, char **out) {
  const char *s = json_string_value(json_object_get(obj, key));
  if (!s)
    return 0;
  char *clean = malloc(cap + 4);
  if (!clean)
    return SK_ENOMEM;
  sk__cloud_clean_text(s, strlen(s), clean, cap + 4);
  *out = clean;
  return 0;
}

int sk_sagemaker_parse_describe(bool processing, const char *body, size_t len,
                                sk_sagemaker_job_t *out) {
  memset(out, 0, sizeof(*out));
  json_t *root = json_loadb(body ? body : "", body ? len : 0, 0, NULL);
  if (!json_is_object(root)) {
    json_decref(root);
    return SK_EPARSE;
  }
  const char *pre = processing ? "Processing" : "Training";
  char k_name[32], k_arn[32], k_status[32];
  snprintf(k_name, sizeof(k_name), "%sJobName", pre);
  snprintf(k_arn, sizeof(k_arn), "%sJobArn", pre);
  snprintf(k_status, sizeof(k_status), "%sJobStatus", pre);
  int rc = SK_EPARSE;
  if (!json_is_string(json_object_get(root, k_status)))
    goto out;
  rc = SK_ENOMEM;
  if (dup_field(root, k_name, 63, &out->name) < 0 || dup_field(root, k_arn, 256, &out->arn) < 0 ||
      dup_field(root, k_status, 64, &out->status) < 0 ||
      dup_field(root, "SecondaryStatus", 64, &out->secondary_status) < 0 ||
      dup_field(root, "FailureReason", SK_CLOUD_MAX_MESSAGE - 1, &out->failure_reason) < 0 ||
      dup_field(json_object_get(root, "ModelArtifacts"), "S3ModelArtifacts", 2048,
                &out->model_artifacts) < 0)
    goto out;
  /* A timestamp in an unexpected form is left out, not an error: nothing
   * decides on it. */
  if (sk_sagemaker_time_ms(json_object_get(root, "CreationTime"), &out->creation_ms) < 0)
    out->creation_ms = 0;
  const char *end_key = processing ? "ProcessingEndTime" : "TrainingEndTime";
  if (sk_sagemaker_time_ms(json_object_get(root, end_key), &out->end_ms) < 0)
    out->end_ms = 0;
  rc = 0;
out:
  if (rc < 0)
    sk_sagemaker_job_release(out);
  json_decref(root);
  return rc;
}

char *sk_sagemaker_parse_create(bool processing, const char *body, size_t len) {
  json_t *root = json_loadb(body ? body : "", body ? len : 0, 0, NULL);
  char *arn = NULL;
  dup_field(root, processing ? "ProcessingJobArn" : "TrainingJobArn", 256, &arn);
  json_decref(root);
  return arn;
}

int sk_sagemaker_status_phase(const char *status) {
  if (!status)
    return SK_CJOB_RUNNING;
  if (strcmp(status, "Completed") == 0)
    return SK_CJOB_SUCCEEDED;
  if (strcmp(status, "Failed") == 0)
    return SK_CJOB_FAILED;
  if (strcmp(status, "Stopped") == 0)
    return SK_CJOB_CANCELLED;
  return SK_CJOB_RUNNING;
}

void sk_sagemaker_error_code(const char *error_type_header, const char *body, size_t len,
                             char *out, size_t outlen) {
  out[0] = '\0';
  json_t *root = NULL;
  const char *code = error_type_header && *error_type_header ? error_type_header : NULL;
  if (!code && body && len) {
    root = json_loadb(body, len, 0, NULL);
    code = json_string_value(json_object_get(root, "__type"));
    if (!code)
      code = json_string_value(json_object_get(root, "code"));
    if (!code)
      code = json_string_value(json_object_get(root, "Code"));
  }
  if (code) {
    const char *hash = strrchr(code, '#');
    if (hash)
      code = hash + 1;
    size_t n = strcspn(code, ":");
    sk__cloud_clean_text(code, n, out, outlen);
  }
  json_decref(root);
}

static bool in_list(const char *code, const char *const *list) {
  for (size_t i = 0; list[i]; i++)
    if (strcmp(code, list[i]) == 0)
      return true;
  return false;
}

/* botocore's retry handler lists (botocore/retries/standard.py). */
bool sk_sagemaker_throttle_code(const char *code) {
  static const char *const list[] = {"Throttling",
                                     "ThrottlingException",
                                     "ThrottledException",
                                     "RequestThrottledException",
                                     "TooManyRequestsException",
                                     "ProvisionedThroughputExceededException",
                                     "TransactionInProgressException",
                                     "RequestLimitExceeded",
                                     "BandwidthLimitExceeded",
                                     "LimitExceededException",
                                     "RequestThrottled",
                                     "SlowDown",
                                     "PriorRequestNotComplete",
                                     "EC2ThrottledException",
                                     NULL};
  return code && in_list(code, list);
}

bool sk_sagemaker_transient_code(const char *code) {
  static const char *const list[] = {"RequestTimeout", "RequestTimeoutException",
                                     "PriorRequestNotComplete", "InternalError",
                                     "InternalFailure", "InternalServerError",
                                     "ServiceUnavailable", "ServiceUnavailableException",
                                     NULL};
  return code && in_list(code, list);
}

static bool auth_code(const char *code) {
  static const char *const list[] = {"ExpiredToken", "ExpiredTokenException",
                                     "InvalidClientTokenId", "UnrecognizedClientException",
                                     "InvalidSignatureException", "IncompleteSignature",
                                     "MissingAuthenticationToken", "RequestExpired", NULL};
  return code && in_list(code, list);
}

/* Describe of an unknown job answers ValidationException "Requested
 * resource not found." (and moto words it alike): case-insensitive. */
static bool says_not_found(const char *msg) {
  for (const char *p = msg; *p; p++)
    if (strncasecmp(p, "not found", 9) == 0)
      return true;
  return false;
}

void sk_sagemaker_parse_error(long status, const char *error_type_header, const char *body,
                              size_t len, const char *amz_retry_after, const char *retry_after,
                              const char *transport_text, const char *what,
                              sk_cloud_error_t *out) {
  if (!what)
    what = "SageMaker answered";
  if (sk__cloud_error_begin(out, status, what, transport_text))
    return;
  sk_sagemaker_error_code(error_type_header, body, len, out->code, sizeof(out->code));
  json_t *root = (body && len) ? json_loadb(body, len, 0, NULL) : NULL;
  const char *msg = json_string_value(json_object_get(root, "message"));
  if (!msg)
    msg = json_string_value(json_object_get(root, "Message"));
  char clean[SK_CLOUD_MAX_MESSAGE];
  if (msg)
    sk__cloud_clean_text(msg, strlen(msg), clean, sizeof(clean));
  else if (body && len && !root)
    sk__cloud_clean_text(body, len < 200 ? len : 200, clean, sizeof(clean));
  else
    clean[0] = '\0';

  const char *c = out->code;
  if (strcmp(c, "ResourceInUse") == 0)
    out->cls = SK_CLOUD_ERR_EXISTS;
  else if (strcmp(c, "ResourceNotFound") == 0 ||
           (strcmp(c, "ValidationException") == 0 && msg && says_not_found(msg)))
    out->cls = SK_CLOUD_ERR_NOT_FOUND;
  else if (status == 429 || sk_sagemaker_throttle_code(c))
    out->cls = SK_CLOUD_ERR_THROTTLE;
  else if (status == 401 || auth_code(c))
    out->cls = SK_CLOUD_ERR_AUTH;
  else if (status >= 500 || status == 408 || sk_sagemaker_transient_code(c))
    out->cls = SK_CLOUD_ERR_TRANSIENT;
  else if (status >= 400)
    out->cls = SK_CLOUD_ERR_PERMANENT;
  else
    out->cls = SK_CLOUD_ERR_TRANSIENT;

  /* x-amz-retry-after is in milliseconds. */
  if (amz_retry_after) {
    int64_t v;
    if (sk_parse_int64(amz_retry_after, &v) == 0 && v >= 0 && v < 86400000)
      out->retry_after_ms = v;
  }
  if (out->retry_after_ms < 0)
    out->retry_after_ms = sk__cloud_retry_after_ms(retry_after);

  sk__cloud_error_text(out, what, clean);
  json_decref(root);
}
