/*
 * The tracker's Vertex AI half: which request each step of a job sends
 * (create, label lookup, get, cancel) and what its answer means, in terms
 * of the tracker's events (cloud-int.h). URLs, bodies and parsing are in
 * vertex.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/cloud-int.h"
#include "cloud/vertex.h"
#include "util/error.h"

#define URL_MAX 4096

static int vertex_build(sk__cjob_t *j, sk__cjob_op_t op, sk__cjob_wire_t *w, char *err,
                        size_t errlen) {
  char url[URL_MAX];
  int rc = SK_EINVAL;
  const char *base = j->ep->base;
  memset(w, 0, sizeof(*w));
  switch (op) {
  case SK__CJOB_OP_CREATE:
    w->method = "POST";
    rc = sk_vertex_create_url(base, j->project, j->location, url, sizeof(url));
    if (rc == 0) {
      if (!j->create_body) {
        snprintf(err, errlen, "internal error: no CustomJob body to create");
        return SK_ESTATE;
      }
      w->body = json_dumps(j->create_body, JSON_COMPACT);
      if (!w->body)
        rc = SK_ENOMEM;
      else
        w->body_len = strlen(w->body);
      snprintf(w->headers[w->nheaders++], sizeof(w->headers[0]),
               "Content-Type: application/json");
    }
    break;
  case SK__CJOB_OP_LOOKUP:
    w->method = "GET";
    rc = sk_vertex_list_url(base, j->project, j->location, j->workflow_uid, j->instance,
                            j->attempt, j->page_token, url, sizeof(url));
    break;
  case SK__CJOB_OP_GET:
    w->method = "GET";
    rc = sk_vertex_get_url(base, j->name, url, sizeof(url));
    break;
  case SK__CJOB_OP_CANCEL:
    w->method = "POST";
    rc = sk_vertex_cancel_url(base, j->name, url, sizeof(url));
    break;
  case SK__CJOB_OP_NONE:
    break;
  }
  if (rc == 0) {
    w->url = strdup(url);
    if (!w->url)
      rc = SK_ENOMEM;
  }
  if (rc < 0) {
    free(w->body);
    w->body = NULL;
    snprintf(err, errlen, "the Vertex AI request could not be built: %s", sk_strerror(rc));
  }
  return rc;
}

/* Outputs and the step message of a job's state. */
static void report_state(sk__cjob_t *j, const sk_vertex_job_t *vj) {
  sk_cjob_phase_t phase = (sk_cjob_phase_t)sk_vertex_state_phase(vj->state);
  json_t *outputs = NULL;
  char msg[SK_CLOUD_MAX_MESSAGE + 256];
  const char *message = NULL;
  if (phase == SK_CJOB_SUCCEEDED || phase == SK_CJOB_FAILED || phase == SK_CJOB_CANCELLED) {
    outputs = json_object();
    if (outputs) {
      json_object_set_new(outputs, "jobName", json_string(vj->name));
      json_object_set_new(outputs, "state", json_string(vj->state ? vj->state : ""));
      if (vj->model_dir)
        json_object_set_new(outputs, "modelDir", json_string(vj->model_dir));
    }
  }
  if (phase == SK_CJOB_FAILED) {
    snprintf(msg, sizeof(msg), "Vertex AI CustomJob %s ended %s%s%s", vj->name,
             vj->state ? vj->state : "", vj->error ? ": " : "", vj->error ? vj->error : "");
    message = msg;
  } else if (phase == SK_CJOB_CANCELLED) {
    snprintf(msg, sizeof(msg), "Vertex AI CustomJob %s was cancelled%s%s", vj->name,
             vj->error ? ": " : "", vj->error ? vj->error : "");
    message = msg;
  }
  char clean[SK_CLOUD_MAX_MESSAGE];
  if (message)
    sk__cloud_clean_text(message, strlen(message), clean, sizeof(clean));
  sk__cjob_on_state(j, vj->state, NULL, phase, message ? clean : NULL, outputs);
}

static const char *refused_what(sk__cjob_op_t op) {
  switch (op) {
  case SK__CJOB_OP_CREATE:
    return "Vertex AI refused the job";
  case SK__CJOB_OP_LOOKUP:
    return "Vertex AI refused the job lookup by label";
  case SK__CJOB_OP_GET:
    return "Vertex AI refused the job status request";
  case SK__CJOB_OP_CANCEL:
    return "Vertex AI refused the cancel";
  case SK__CJOB_OP_NONE:
    break;
  }
  return "Vertex AI answered";
}

static const char *lost_what(sk__cjob_op_t op) {
  switch (op) {
  case SK__CJOB_OP_CREATE:
    return "no answer from Vertex AI to the create";
  case SK__CJOB_OP_LOOKUP:
    return "no answer from Vertex AI to the job lookup";
  case SK__CJOB_OP_GET:
    return "no answer from Vertex AI to the status request";
  case SK__CJOB_OP_CANCEL:
    return "no answer from Vertex AI to the cancel";
  case SK__CJOB_OP_NONE:
    break;
  }
  return "no answer from Vertex AI";
}

static void vertex_answer(sk__cjob_t *j, sk__cjob_op_t op, const sk_http_resp_t *resp) {
  sk_cloud_error_t err;
  if (resp->error) {
    sk_vertex_parse_error(0, NULL, 0, NULL,
                          resp->error_text ? resp->error_text : sk_strerror(resp->error),
                          lost_what(op), &err);
    sk__cjob_on_error(j, &err);
    return;
  }
  if (resp->status < 200 || resp->status >= 300) {
    sk_vertex_parse_error(resp->status, resp->body, resp->body_len, resp->retry_after, NULL,
                          refused_what(op), &err);
    sk__cjob_on_error(j, &err);
    return;
  }
  sk_vertex_job_t vj;
  switch (op) {
  case SK__CJOB_OP_CREATE:
  case SK__CJOB_OP_GET:
    if (sk_vertex_parse_job(resp->body, resp->body_len, &vj) < 0) {
      /* For a create this is a lost answer: the job may exist, and the
       * tracker looks it up by label before creating again. */
      sk__cjob_on_bad_answer(j, "no CustomJob name");
      return;
    }
    if (op == SK__CJOB_OP_CREATE)
      sk__cjob_on_created(j, vj.name, NULL);
    report_state(j, &vj);
    sk_vertex_job_release(&vj);
    return;
  case SK__CJOB_OP_LOOKUP: {
    bool found;
    char *next = NULL;
    if (sk_vertex_parse_list(resp->body, resp->body_len, j->workflow_uid, j->instance,
                             j->attempt, &found, &vj, &next) < 0) {
      sk__cjob_on_bad_answer(j, "not a CustomJob list");
      return;
    }
    if (found) {
      sk__cjob_on_found(j, vj.name, NULL);
      report_state(j, &vj);
      sk_vertex_job_release(&vj);
    } else if (next) {
      sk__cjob_on_next_page(j, next);
    } else {
      sk__cjob_on_absent(j);
    }
    return;
  }
  case SK__CJOB_OP_CANCEL:
    sk__cjob_on_cancel_accepted(j);
    return;
  case SK__CJOB_OP_NONE:
    return;
  }
}

const sk__cjob_kind_ops_t sk__cjob_vertex_ops = {
    .service = "Vertex AI",
    .build = vertex_build,
    .answer = vertex_answer,
};
