/*
 * The tracker's SageMaker half: the JSON 1.1 request of each step of a
 * training or processing job (create, describe, stop) and what its answer
 * means, in terms of the tracker's events (cloud-int.h). Requests and
 * parsing are in sagemaker.c.
 *
 * The lookup of a job that may already exist is a describe by our own
 * deterministic name; so is the adoption after a create answered
 * ResourceInUse.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/cloud-int.h"
#include "cloud/sagemaker.h"
#include "util/error.h"

static bool processing(const sk__cjob_t *j) { return j->kind == SK_CJOB_SAGEMAKER_PROCESSING; }

static const char *kind_words(const sk__cjob_t *j) {
  return processing(j) ? "processing job" : "training job";
}

static int sagemaker_build(sk__cjob_t *j, sk__cjob_op_t op, sk__cjob_wire_t *w, char *err,
                           size_t errlen) {
  memset(w, 0, sizeof(*w));
  sk_sagemaker_op_t smop;
  const char *name = j->name ? j->name : j->own_name;
  switch (op) {
  case SK__CJOB_OP_CREATE:
    smop = SK_SAGEMAKER_CREATE;
    name = j->own_name;
    if (!j->create_body) {
      snprintf(err, errlen, "internal error: no SageMaker job body to create");
      return SK_ESTATE;
    }
    break;
  case SK__CJOB_OP_LOOKUP:
  case SK__CJOB_OP_GET:
    smop = SK_SAGEMAKER_DESCRIBE;
    break;
  case SK__CJOB_OP_CANCEL:
    smop = SK_SAGEMAKER_STOP;
    break;
  default:
    snprintf(err, errlen, "internal error: no SageMaker request for this step");
    return SK_ESTATE;
  }
  char target[sizeof(w->headers[0])];
  int rc = sk_sagemaker_request(smop, processing(j), j->create_body, name, &w->body, target,
                                sizeof(target));
  if (rc < 0) {
    snprintf(err, errlen, "the SageMaker request could not be built: %s", sk_strerror(rc));
    return rc;
  }
  w->body_len = strlen(w->body);
  size_t n = strlen(j->ep->base);
  while (n > 0 && j->ep->base[n - 1] == '/')
    n--;
  w->url = malloc(n + 2);
  if (!w->url) {
    free(w->body);
    w->body = NULL;
    snprintf(err, errlen, "out of memory");
    return SK_ENOMEM;
  }
  memcpy(w->url, j->ep->base, n);
  memcpy(w->url + n, "/", 2);
  w->method = "POST";
  snprintf(w->headers[0], sizeof(w->headers[0]), "%s", SK_SAGEMAKER_CONTENT_TYPE);
  snprintf(w->headers[1], sizeof(w->headers[1]), "%s", target);
  w->nheaders = 2;
  w->region = j->region;
  w->service = "sagemaker";
  return 0;
}

static void report_state(sk__cjob_t *j, const sk_sagemaker_job_t *sj) {
  sk_cjob_phase_t phase = (sk_cjob_phase_t)sk_sagemaker_status_phase(sj->status);
  const char *name = j->name ? j->name : j->own_name;
  json_t *outputs = NULL;
  if (phase == SK_CJOB_SUCCEEDED || phase == SK_CJOB_FAILED || phase == SK_CJOB_CANCELLED) {
    outputs = json_object();
    if (outputs) {
      json_object_set_new(outputs, "jobName", json_string(name));
      if (sj->arn || j->arn)
        json_object_set_new(outputs, "jobArn", json_string(sj->arn ? sj->arn : j->arn));
      json_object_set_new(outputs, "state", json_string(sj->status));
      if (sj->model_artifacts)
        json_object_set_new(outputs, "modelArtifacts", json_string(sj->model_artifacts));
    }
  }
  char msg[SK_CLOUD_MAX_MESSAGE + 256];
  const char *message = NULL;
  if (phase == SK_CJOB_FAILED) {
    snprintf(msg, sizeof(msg), "SageMaker %s %s failed%s%s", kind_words(j), name,
             sj->failure_reason ? ": " : "", sj->failure_reason ? sj->failure_reason : "");
    message = msg;
  } else if (phase == SK_CJOB_CANCELLED) {
    snprintf(msg, sizeof(msg), "SageMaker %s %s was stopped", kind_words(j), name);
    message = msg;
  }
  char clean[SK_CLOUD_MAX_MESSAGE];
  if (message)
    sk__cloud_clean_text(message, strlen(message), clean, sizeof(clean));
  if (sj->arn && !j->arn)
    j->arn = strdup(sj->arn);
  sk__cjob_on_state(j, sj->status, sj->secondary_status, phase, message ? clean : NULL, outputs);
}

static void what_of(const sk__cjob_t *j, sk__cjob_op_t op, bool lost, char *out, size_t outlen) {
  const char *opname;
  switch (op) {
  case SK__CJOB_OP_CREATE:
    opname = sk_sagemaker_op_name(SK_SAGEMAKER_CREATE, processing(j));
    break;
  case SK__CJOB_OP_CANCEL:
    opname = sk_sagemaker_op_name(SK_SAGEMAKER_STOP, processing(j));
    break;
  default:
    opname = sk_sagemaker_op_name(SK_SAGEMAKER_DESCRIBE, processing(j));
    break;
  }
  if (lost)
    snprintf(out, outlen, "no answer from SageMaker to %s", opname);
  else if (op == SK__CJOB_OP_CREATE)
    snprintf(out, outlen, "SageMaker refused the job");
  else
    snprintf(out, outlen, "SageMaker refused %s", opname);
}

static void sagemaker_answer(sk__cjob_t *j, sk__cjob_op_t op, const sk_http_resp_t *resp) {
  sk_cloud_error_t err;
  char what[96];
  if (resp->error) {
    what_of(j, op, true, what, sizeof(what));
    sk_sagemaker_parse_error(0, NULL, NULL, 0, NULL, NULL,
                             resp->error_text ? resp->error_text : sk_strerror(resp->error),
                             what, &err);
    sk__cjob_on_error(j, &err);
    return;
  }
  if (resp->status < 200 || resp->status >= 300) {
    what_of(j, op, false, what, sizeof(what));
    sk_sagemaker_parse_error(resp->status, resp->amzn_error_type, resp->body, resp->body_len,
                             resp->amz_retry_after, resp->retry_after, NULL, what, &err);
    sk__cjob_on_error(j, &err);
    return;
  }
  switch (op) {
  case SK__CJOB_OP_CREATE: {
    char *arn = sk_sagemaker_parse_create(processing(j), resp->body, resp->body_len);
    sk__cjob_on_created(j, j->own_name, arn);
    free(arn);
    return;
  }
  case SK__CJOB_OP_LOOKUP:
  case SK__CJOB_OP_GET: {
    sk_sagemaker_job_t sj;
    if (sk_sagemaker_parse_describe(processing(j), resp->body, resp->body_len, &sj) < 0) {
      sk__cjob_on_bad_answer(j, "no job status");
      return;
    }
    if (op == SK__CJOB_OP_LOOKUP)
      sk__cjob_on_found(j, j->own_name, sj.arn);
    report_state(j, &sj);
    sk_sagemaker_job_release(&sj);
    return;
  }
  case SK__CJOB_OP_CANCEL:
    sk__cjob_on_cancel_accepted(j);
    return;
  case SK__CJOB_OP_NONE:
    return;
  }
}

const sk__cjob_kind_ops_t sk__cjob_sagemaker_ops = {
    .service = "SageMaker",
    .build = sagemaker_build,
    .answer = sagemaker_answer,
};
