/*
 * Fake Vertex AI and SageMaker servers for the cloud job tracker tests, on
 * the scripted HTTP/1.1 test server (http_testsrv.h), listening on
 * 127.0.0.1 with a free port, on the test's own loop.
 *
 * Vertex AI (REST v1): create, get, :cancel and list with the label
 * filter and pagination. SageMaker (JSON 1.1, X-Amz-Target): Create,
 * Describe and Stop of training and processing jobs, ResourceInUse for a
 * second create of one name, ValidationException "Requested resource not
 * found." for an unknown one.
 *
 * Every new job walks a script of states, one per get/describe (the last
 * one repeats); a cancel or stop makes the next answers CANCELLING then
 * CANCELLED (Stopping, Stopped). Faults are queued: each applies to the
 * next request of the operations it names: throttling (429 with RetryInfo;
 * SageMaker ThrottlingException with x-amz-retry-after), 503, a reset
 * before anything is done, a create (or other request) done but its answer
 * lost (reset) or never sent (the client times out), a slow answer, 401,
 * and a validation error.
 *
 * Included by one test file each; everything is static.
 */
#ifndef SK_TEST_CLOUD_FAKESRV_H
#define SK_TEST_CLOUD_FAKESRV_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "http_testsrv.h"

#define CF_UNUSED __attribute__((unused))
#define CF_MAX_JOBS 512
#define CF_MAX_FAULTS 16
#define CF_MAX_SCRIPT 8

typedef enum { CF_VERTEX, CF_SAGEMAKER } cf_mode_t;

enum { CF_OP_CREATE = 1, CF_OP_GET = 2, CF_OP_LIST = 4, CF_OP_CANCEL = 8, CF_OP_ANY = 15 };

typedef enum {
  /* The error answers come delay_ms late, nothing done. */
  CF_F_THROTTLE, /* 429 RESOURCE_EXHAUSTED + RetryInfo / ThrottlingException */
  CF_F_503,
  CF_F_RESET,    /* reset at once, nothing done */
  CF_F_LOST,     /* done, then reset instead of the answer */
  CF_F_SILENT,   /* done, never answered */
  CF_F_SLOW,     /* done, answered after delay_ms */
  CF_F_401,
  CF_F_400,      /* a validation error */
} cf_fault_kind_t;

typedef struct {
  int ops;
  cf_fault_kind_t kind;
  int delay_ms;
  char retry[32]; /* RetryInfo retryDelay ("3.5s") or x-amz-retry-after (ms) */
} cf_fault_t;

typedef struct {
  char name[200];
  char uid[80], step[80], attempt[16];
  char display[160];
  bool processing;
  int pos;         /* states answered so far */
  int cancelled;   /* 0, or answers since the cancel + 1 */
} cf_job_t;

typedef struct {
  cf_mode_t mode;
  uv_loop_t *loop;
  ts_server_t *srv;
  char base[64];
  cf_job_t *jobs;
  int njobs;
  const char *script[CF_MAX_SCRIPT]; /* states of new jobs */
  int nscript;
  bool create_shows_last; /* the create's answer already has the last state */
  const char *failure;    /* error.message / FailureReason of failed jobs */
  int page_size;          /* list pages of at most this many (0: as asked) */
  bool list_all;          /* the list ignores its filter (the client must check) */
  cf_fault_t faults[CF_MAX_FAULTS];
  int nfaults;
  /* What was seen. */
  int requests, creates, gets, lists, cancels;
  int executed_creates; /* creates that made a job */
  int in_use;           /* SageMaker creates answered ResourceInUse */
  int metadata;         /* GCE metadata requests (token, project-id) */
  char last_auth[128];
  char last_target[96];
  char last_ct[96];
  char *last_create; /* body of the last create */
  int64_t *times;    /* uv_now of every request */
  size_t ntimes, cap;
} cf_fake_t;

static CF_UNUSED void cf_fault(cf_fake_t *f, int ops, cf_fault_kind_t kind, int delay_ms,
                               const char *retry) {
  if (f->nfaults >= CF_MAX_FAULTS)
    return;
  cf_fault_t *x = &f->faults[f->nfaults++];
  memset(x, 0, sizeof(*x));
  x->ops = ops;
  x->kind = kind;
  x->delay_ms = delay_ms;
  if (retry)
    snprintf(x->retry, sizeof(x->retry), "%s", retry);
}

static CF_UNUSED void cf_script(cf_fake_t *f, const char *const *states, int n) {
  f->nscript = n < CF_MAX_SCRIPT ? n : CF_MAX_SCRIPT;
  for (int i = 0; i < f->nscript; i++)
    f->script[i] = states[i];
}

static bool cf_take_fault(cf_fake_t *f, int op, cf_fault_t *out) {
  for (int i = 0; i < f->nfaults; i++) {
    if (!(f->faults[i].ops & op))
      continue;
    *out = f->faults[i];
    memmove(&f->faults[i], &f->faults[i + 1], (size_t)(f->nfaults - i - 1) * sizeof(cf_fault_t));
    f->nfaults--;
    return true;
  }
  return false;
}

/* An answer about to be sent. */
typedef struct {
  int status;
  char extra[512];
  char *body; /* new */
} cf_ans_t;

static void cf_ans_json(cf_ans_t *a, int status, json_t *j) {
  a->status = status;
  a->body = json_dumps(j, JSON_COMPACT);
  json_decref(j);
}

static void cf_send(ts_conn_t *c, const cf_ans_t *a, int delay_ms) {
  const char *body = a->body ? a->body : "";
  size_t len = strlen(body);
  char head[1024];
  int n = snprintf(head, sizeof(head),
                   "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                   "%s\r\n",
                   a->status, a->status == 200 ? "OK" : "Fake", len, a->extra);
  char *msg = malloc((size_t)n + len);
  if (!msg)
    return;
  memcpy(msg, head, (size_t)n);
  memcpy(msg + n, body, len);
  ts_send(c, (uint64_t)delay_ms, msg, (size_t)n + len);
  free(msg);
}

static const char *cf_s(const char *s) { return s ? s : ""; }

static cf_job_t *cf_find(cf_fake_t *f, const char *name) {
  for (int i = 0; i < f->njobs; i++)
    if (strcmp(f->jobs[i].name, name) == 0)
      return &f->jobs[i];
  return NULL;
}

static cf_job_t *cf_new_job(cf_fake_t *f, const char *name) {
  if (f->njobs >= CF_MAX_JOBS)
    return NULL;
  cf_job_t *j = &f->jobs[f->njobs++];
  memset(j, 0, sizeof(*j));
  snprintf(j->name, sizeof(j->name), "%.*s", (int)sizeof(j->name) - 1, name);
  return j;
}

/* The state a job shows now; advance moves it on (a get/describe). */
static const char *cf_state(cf_fake_t *f, cf_job_t *j, bool advance) {
  bool vx = f->mode == CF_VERTEX;
  if (j->cancelled) {
    const char *s = j->cancelled == 1 ? (vx ? "JOB_STATE_CANCELLING" : "Stopping")
                                      : (vx ? "JOB_STATE_CANCELLED" : "Stopped");
    if (advance && j->cancelled < 2)
      j->cancelled++;
    return s;
  }
  if (f->nscript == 0)
    return vx ? "JOB_STATE_SUCCEEDED" : "Completed";
  int i = j->pos < f->nscript ? j->pos : f->nscript - 1;
  if (advance)
    j->pos++;
  return f->script[i];
}

static bool cf_terminal(const char *s) {
  return strcmp(s, "JOB_STATE_SUCCEEDED") == 0 || strcmp(s, "JOB_STATE_FAILED") == 0 ||
         strcmp(s, "JOB_STATE_CANCELLED") == 0 || strcmp(s, "Completed") == 0 ||
         strcmp(s, "Failed") == 0 || strcmp(s, "Stopped") == 0;
}

/* ---- Vertex AI ---- */

static json_t *cf_vertex_json(cf_fake_t *f, cf_job_t *j, const char *state) {
  json_t *o = json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s}, s:{s:{s:s}}}", "name", j->name,
                        "displayName", j->display, "state", state, "labels",
                        "skein-workflow-uid", j->uid, "skein-step", j->step, "skein-attempt",
                        j->attempt, "jobSpec", "baseOutputDirectory", "outputUriPrefix",
                        "gs://bucket/out");
  if (strcmp(state, "JOB_STATE_FAILED") == 0)
    json_object_set_new(o, "error", json_pack("{s:i, s:s}", "code", 3, "message",
                                              f->failure ? f->failure : "the job failed"));
  return o;
}

static void cf_url_decode(const char *s, size_t n, char *out, size_t outlen) {
  size_t o = 0;
  for (size_t i = 0; i < n && s[i] && o + 1 < outlen; i++) {
    if (s[i] == '%' && i + 2 < n) {
      char hex[3] = {s[i + 1], s[i + 2], 0};
      out[o++] = (char)strtol(hex, NULL, 16);
      i += 2;
    } else {
      out[o++] = s[i] == '+' ? ' ' : s[i];
    }
  }
  out[o] = '\0';
}

static bool cf_query(const char *path, const char *key, char *out, size_t outlen) {
  const char *q = strchr(path, '?');
  size_t kl = strlen(key);
  while (q) {
    q++;
    if (strncmp(q, key, kl) == 0 && q[kl] == '=') {
      const char *v = q + kl + 1;
      size_t n = strcspn(v, "&");
      cf_url_decode(v, n, out, outlen);
      return true;
    }
    q = strchr(q, '&');
  }
  return false;
}

static void cf_label_of(const char *filter, const char *label, char *out, size_t outlen) {
  char pat[64];
  snprintf(pat, sizeof(pat), "labels.%s=\"", label);
  const char *p = strstr(filter, pat);
  out[0] = '\0';
  if (!p)
    return;
  p += strlen(pat);
  size_t n = strcspn(p, "\"");
  if (n >= outlen)
    n = outlen - 1;
  memcpy(out, p, n);
  out[n] = '\0';
}

static void cf_vertex_do(cf_fake_t *f, int op, const ts_req_t *q, cf_ans_t *a) {
  const char *path = q->path;
  if (op == CF_OP_CREATE) {
    json_t *b = json_loadb(q->body, q->body_len, 0, NULL);
    free(f->last_create);
    f->last_create = strdup(q->body ? q->body : "");
    char parent[200];
    const char *p = path + 4; /* after "/v1/" */
    size_t n = strlen(p) - strlen("/customJobs");
    snprintf(parent, sizeof(parent), "%.*s", (int)n, p);
    char name[240];
    snprintf(name, sizeof(name), "%s/customJobs/%d", parent, 1000 + f->njobs);
    cf_job_t *j = cf_new_job(f, name);
    if (!j) {
      json_decref(b);
      cf_ans_json(a, 500, json_pack("{s:{s:i}}", "error", "code", 500));
      return;
    }
    f->executed_creates++;
    json_t *l = json_object_get(b, "labels");
    snprintf(j->uid, sizeof(j->uid), "%s",
             cf_s(json_string_value(json_object_get(l, "skein-workflow-uid"))));
    snprintf(j->step, sizeof(j->step), "%s",
             cf_s(json_string_value(json_object_get(l, "skein-step"))));
    snprintf(j->attempt, sizeof(j->attempt), "%s",
             cf_s(json_string_value(json_object_get(l, "skein-attempt"))));
    snprintf(j->display, sizeof(j->display), "%s",
             cf_s(json_string_value(json_object_get(b, "displayName"))));
    json_decref(b);
    const char *st = "JOB_STATE_QUEUED";
    if (f->create_shows_last && f->nscript) {
      j->pos = f->nscript;
      st = f->script[f->nscript - 1];
    }
    cf_ans_json(a, 200, cf_vertex_json(f, j, st));
    return;
  }
  if (op == CF_OP_LIST) {
    char filter[512] = "", tok[32] = "", ps[32] = "", uid[80], step[80], att[16];
    cf_query(path, "filter", filter, sizeof(filter));
    cf_query(path, "pageToken", tok, sizeof(tok));
    cf_query(path, "pageSize", ps, sizeof(ps));
    cf_label_of(filter, "skein-workflow-uid", uid, sizeof(uid));
    cf_label_of(filter, "skein-step", step, sizeof(step));
    cf_label_of(filter, "skein-attempt", att, sizeof(att));
    int start = tok[0] ? atoi(tok) : 0, size = ps[0] ? atoi(ps) : 100;
    if (f->page_size > 0 && f->page_size < size)
      size = f->page_size;
    json_t *arr = json_array();
    int matched = 0, i;
    for (i = 0; i < f->njobs; i++) {
      cf_job_t *j = &f->jobs[i];
      if (!f->list_all &&
          (strcmp(j->uid, uid) != 0 || strcmp(j->step, step) != 0 || strcmp(j->attempt, att) != 0))
        continue;
      if (matched++ < start)
        continue;
      if ((int)json_array_size(arr) >= size)
        break;
      json_array_append_new(arr, cf_vertex_json(f, j, cf_state(f, j, false)));
    }
    json_t *o = json_object();
    if (json_array_size(arr))
      json_object_set(o, "customJobs", arr);
    json_decref(arr);
    if (i < f->njobs) {
      char next[16];
      snprintf(next, sizeof(next), "%d", start + size);
      json_object_set_new(o, "nextPageToken", json_string(next));
    }
    cf_ans_json(a, 200, o);
    return;
  }
  char name[240];
  snprintf(name, sizeof(name), "%s", path + 4);
  char *colon = strstr(name, ":cancel");
  if (colon)
    *colon = '\0';
  cf_job_t *j = cf_find(f, name);
  if (!j) {
    cf_ans_json(a, 404, json_pack("{s:{s:i, s:s, s:s}}", "error", "code", 404, "status",
                                  "NOT_FOUND", "message", "no such job"));
    return;
  }
  if (op == CF_OP_CANCEL) {
    if (cf_terminal(cf_state(f, j, false))) {
      cf_ans_json(a, 400, json_pack("{s:{s:i, s:s, s:s}}", "error", "code", 400, "status",
                                    "FAILED_PRECONDITION", "message", "the job has ended"));
      return;
    }
    if (!j->cancelled)
      j->cancelled = 1;
    cf_ans_json(a, 200, json_object());
    return;
  }
  cf_ans_json(a, 200, cf_vertex_json(f, j, cf_state(f, j, true)));
}

/* ---- SageMaker ---- */

static void cf_sm_error(cf_ans_t *a, int status, const char *type, const char *msg) {
  a->status = status;
  snprintf(a->extra, sizeof(a->extra), "x-amzn-ErrorType: %s:http://internal.amazon.com/coral/\r\n",
           type);
  json_t *j = json_pack("{s:s, s:s}", "__type", type, "message", msg);
  a->body = json_dumps(j, JSON_COMPACT);
  json_decref(j);
}

static void cf_sm_do(cf_fake_t *f, int op, const char *target, const ts_req_t *q, cf_ans_t *a) {
  bool processing = strstr(target, "Processing") != NULL;
  const char *field = processing ? "ProcessingJobName" : "TrainingJobName";
  json_t *b = json_loadb(q->body, q->body_len, 0, NULL);
  const char *given = json_string_value(json_object_get(b, field));
  if (!given || strlen(given) > 100) {
    cf_sm_error(a, 400, "ValidationException", "1 validation error detected: JobName");
    json_decref(b);
    return;
  }
  char name[128];
  snprintf(name, sizeof(name), "%s", given);
  cf_job_t *j = cf_find(f, name);
  char arn[300];
  snprintf(arn, sizeof(arn), "arn:aws:sagemaker:us-east-1:123456789012:%s/%s",
           processing ? "processing-job" : "training-job", name);
  if (op == CF_OP_CREATE) {
    free(f->last_create);
    f->last_create = strdup(q->body ? q->body : "");
    if (j) {
      f->in_use++;
      cf_sm_error(a, 400, "ResourceInUse", "Job name must be unique within an AWS account and region");
    } else {
      j = cf_new_job(f, name);
      j->processing = processing;
      f->executed_creates++;
      a->status = 200;
      cf_ans_json(a, 200,
                  json_pack("{s:s}", processing ? "ProcessingJobArn" : "TrainingJobArn", arn));
    }
    json_decref(b);
    return;
  }
  json_decref(b);
  if (!j) {
    cf_sm_error(a, 400, "ValidationException", "Requested resource not found.");
    return;
  }
  if (op == CF_OP_CANCEL) {
    if (cf_terminal(cf_state(f, j, false))) {
      cf_sm_error(a, 400, "ValidationException", "The job is not in progress");
      return;
    }
    if (!j->cancelled)
      j->cancelled = 1;
    a->status = 200;
    a->body = strdup("{}");
    return;
  }
  const char *st = cf_state(f, j, true);
  json_t *o = json_pack("{s:s, s:s, s:s, s:f, s:s}", field, name,
                        processing ? "ProcessingJobArn" : "TrainingJobArn", arn,
                        processing ? "ProcessingJobStatus" : "TrainingJobStatus", st,
                        "CreationTime", 1700000000.25, "SecondaryStatus",
                        strcmp(st, "InProgress") == 0 ? "Training" : st);
  if (strcmp(st, "Failed") == 0)
    json_object_set_new(o, "FailureReason",
                        json_string(f->failure ? f->failure : "AlgorithmError: exit 1"));
  if (!processing && strcmp(st, "Completed") == 0)
    json_object_set_new(o, "ModelArtifacts",
                        json_pack("{s:s}", "S3ModelArtifacts", "s3://bucket/model.tar.gz"));
  if (strcmp(st, "Completed") == 0)
    json_object_set_new(o, processing ? "ProcessingEndTime" : "TrainingEndTime",
                        json_string("2023-11-14 22:13:21"));
  cf_ans_json(a, 200, o);
}

/* ---- the server ---- */

static void cf_fault_answer(cf_fake_t *f, const cf_fault_t *x, cf_ans_t *a) {
  bool vx = f->mode == CF_VERTEX;
  switch (x->kind) {
  case CF_F_THROTTLE:
    if (vx) {
      cf_ans_json(a, 429,
                  json_pack("{s:{s:i, s:s, s:s, s:[{s:s, s:s}]}}", "error", "code", 429, "status",
                            "RESOURCE_EXHAUSTED", "message", "Quota exceeded", "details", "@type",
                            "type.googleapis.com/google.rpc.RetryInfo", "retryDelay",
                            x->retry[0] ? x->retry : "3.5s"));
    } else {
      cf_sm_error(a, 400, "ThrottlingException", "Rate exceeded");
      if (x->retry[0]) {
        size_t n = strlen(a->extra);
        snprintf(a->extra + n, sizeof(a->extra) - n, "x-amz-retry-after: %s\r\n", x->retry);
      }
    }
    break;
  case CF_F_503:
    if (vx)
      cf_ans_json(a, 503, json_pack("{s:{s:i, s:s, s:s}}", "error", "code", 503, "status",
                                    "UNAVAILABLE", "message", "try again"));
    else
      cf_sm_error(a, 503, "ServiceUnavailable", "try again");
    break;
  case CF_F_401:
    if (vx)
      cf_ans_json(a, 401, json_pack("{s:{s:i, s:s, s:s}}", "error", "code", 401, "status",
                                    "UNAUTHENTICATED", "message",
                                    "Request had invalid authentication credentials."));
    else
      cf_sm_error(a, 401, "UnrecognizedClientException", "The security token is invalid.");
    break;
  case CF_F_400:
    if (vx)
      cf_ans_json(a, 400, json_pack("{s:{s:i, s:s, s:s}}", "error", "code", 400, "status",
                                    "INVALID_ARGUMENT", "message",
                                    "Machine type \"n1-bogus\" is not supported."));
    else
      cf_sm_error(a, 400, "ValidationException",
                  "1 validation error detected: Value null at 'roleArn'");
    break;
  default:
    break;
  }
}

/* The GCE metadata server's two answers a Google authoriser asks for, so
 * that a test can run one against the fake: a token and the project. */
static bool cf_metadata(cf_fake_t *f, ts_conn_t *c, const ts_req_t *q) {
  if (strncmp(q->path, "/computeMetadata/v1/", 20) != 0)
    return false;
  f->metadata++;
  char flavor[32] = "";
  ts_header(q, "Metadata-Flavor", flavor, sizeof(flavor));
  cf_ans_t a;
  memset(&a, 0, sizeof(a));
  if (strcmp(flavor, "Google") != 0) {
    a.status = 403;
    a.body = strdup("missing Metadata-Flavor");
  } else if (strcmp(q->path, "/computeMetadata/v1/project/project-id") == 0) {
    a.status = 200;
    a.body = strdup("metaproj");
  } else if (strcmp(q->path, "/computeMetadata/v1/instance/service-accounts/default/token") == 0) {
    cf_ans_json(&a, 200, json_pack("{s:s, s:i, s:s}", "access_token", "meta-token", "expires_in",
                                   3600, "token_type", "Bearer"));
  } else {
    a.status = 404;
    a.body = strdup("not found");
  }
  cf_send(c, &a, 0);
  free(a.body);
  return true;
}

static void cf_handler(ts_conn_t *c, const ts_req_t *q, void *arg) {
  cf_fake_t *f = arg;
  if (cf_metadata(f, c, q))
    return;
  f->requests++;
  if (f->ntimes == f->cap) {
    size_t n = f->cap ? f->cap * 2 : 256;
    int64_t *t = realloc(f->times, n * sizeof(*t));
    if (t) {
      f->times = t;
      f->cap = n;
    }
  }
  if (f->ntimes < f->cap)
    f->times[f->ntimes++] = (int64_t)uv_now(f->loop);
  ts_header(q, "Authorization", f->last_auth, sizeof(f->last_auth));
  char target[96] = "";
  ts_header(q, "X-Amz-Target", target, sizeof(target));
  snprintf(f->last_target, sizeof(f->last_target), "%s", target);
  ts_header(q, "Content-Type", f->last_ct, sizeof(f->last_ct));

  int op;
  if (f->mode == CF_VERTEX) {
    bool post = strcmp(q->method, "POST") == 0;
    size_t pl = strlen(q->path);
    if (post && pl > 7 && strcmp(q->path + pl - 7, ":cancel") == 0)
      op = CF_OP_CANCEL;
    else if (post)
      op = CF_OP_CREATE;
    else if (strstr(q->path, "/customJobs?"))
      op = CF_OP_LIST;
    else
      op = CF_OP_GET;
  } else {
    op = strstr(target, ".Create") ? CF_OP_CREATE
         : strstr(target, ".Stop") ? CF_OP_CANCEL
                                   : CF_OP_GET;
  }
  switch (op) {
  case CF_OP_CREATE:
    f->creates++;
    break;
  case CF_OP_GET:
    f->gets++;
    break;
  case CF_OP_LIST:
    f->lists++;
    break;
  default:
    f->cancels++;
    break;
  }
  cf_ans_t a;
  memset(&a, 0, sizeof(a));
  cf_fault_t x;
  bool faulted = cf_take_fault(f, op, &x);
  if (faulted && x.kind == CF_F_RESET) {
    ts_reset(c, 0);
    return;
  }
  if (faulted && x.kind != CF_F_LOST && x.kind != CF_F_SILENT && x.kind != CF_F_SLOW) {
    cf_fault_answer(f, &x, &a);
    cf_send(c, &a, x.delay_ms);
    free(a.body);
    return;
  }
  if (f->mode == CF_VERTEX)
    cf_vertex_do(f, op, q, &a);
  else
    cf_sm_do(f, op, target, q, &a);
  if (faulted && x.kind == CF_F_LOST)
    ts_reset(c, (uint64_t)x.delay_ms);
  else if (!(faulted && x.kind == CF_F_SILENT))
    cf_send(c, &a, faulted ? x.delay_ms : 0);
  free(a.body);
}

static CF_UNUSED int cf_start(cf_fake_t *f, uv_loop_t *loop, cf_mode_t mode) {
  memset(f, 0, sizeof(*f));
  f->mode = mode;
  f->loop = loop;
  f->jobs = calloc(CF_MAX_JOBS, sizeof(cf_job_t));
  if (!f->jobs)
    return -1;
  f->srv = ts_start(loop, NULL, cf_handler, f);
  if (!f->srv)
    return -1;
  snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%d", ts_port(f->srv));
  return 0;
}

static CF_UNUSED void cf_stop(cf_fake_t *f) {
  if (f->srv)
    ts_stop(f->srv);
  f->srv = NULL;
}

/* After the loop has run the server's close callbacks. */
static CF_UNUSED void cf_free(cf_fake_t *f) {
  free(f->jobs);
  free(f->times);
  free(f->last_create);
  f->jobs = NULL;
  f->times = NULL;
  f->last_create = NULL;
}

/* Most requests seen in any window of win_ms. */
static CF_UNUSED int cf_max_in_window(const cf_fake_t *f, int64_t win_ms) {
  int best = 0;
  size_t lo = 0;
  for (size_t hi = 0; hi < f->ntimes; hi++) {
    while (f->times[hi] - f->times[lo] >= win_ms)
      lo++;
    int n = (int)(hi - lo + 1);
    if (n > best)
      best = n;
  }
  return best;
}

/* ---- the test environment: a loop, the fake, the HTTP client, a counting
 * authoriser around the static one, and the tracker ---- */

#include "cloud/cloud.h"
#include "cloud/jobs.h"
#include "http/http.h"
#include "sk_test.h"
#include "util/timeutil.h"

/* Counts authorisations and invalidations, and keeps what the tracker
 * asked to have signed. */
typedef struct {
  sk_cloud_authz_t base;
  sk_cloud_authz_t *inner;
  int authorized;
  int invalidated;
  char region[32], service[32];
  int64_t now_ms;
  int signed_target; /* requests that carried X-Amz-Target among the headers */
} cf_authz_t;

static int cf_authz_authorize(sk_cloud_authz_t *a, const sk_cloud_request_t *req,
                              sk_cloud_auth_cb cb, void *arg) {
  cf_authz_t *c = (cf_authz_t *)a;
  c->authorized++;
  snprintf(c->region, sizeof(c->region), "%s", req->region ? req->region : "");
  snprintf(c->service, sizeof(c->service), "%s", req->service ? req->service : "");
  c->now_ms = req->now_ms;
  for (size_t i = 0; req->headers && req->headers[i]; i++)
    if (strncmp(req->headers[i], "X-Amz-Target: ", 14) == 0)
      c->signed_target++;
  return sk_cloud_authorize(c->inner, req, cb, arg);
}

static void cf_authz_invalidate(sk_cloud_authz_t *a) { ((cf_authz_t *)a)->invalidated++; }

static void cf_authz_destroy(sk_cloud_authz_t *a) {
  cf_authz_t *c = (cf_authz_t *)a;
  sk_cloud_authz_destroy(c->inner);
  free(c);
}

static const sk_cloud_authz_ops_t cf_authz_ops = {
    .authorize = cf_authz_authorize,
    .invalidate = cf_authz_invalidate,
    .destroy = cf_authz_destroy,
};

typedef struct {
  uv_loop_t loop;
  uv_timer_t guard;
  bool expired;
  sk_http_t *http;
  cf_fake_t fake;
  cf_authz_t *authz;
  sk_cloud_authz_t *extra_authz; /* a test's own, destroyed after the tracker */
  sk_cjobs_t *t;
  sk_cjobs_config_t cfg;
  int changes;
  int changes_inside; /* on_change calls from inside ensure/cancel (must stay 0) */
  bool in_call;
  unsigned phases_seen; /* bit per phase seen by on_change (any job) */
} cf_env_t;

static void cf_on_change(const char *key, void *arg) {
  cf_env_t *e = arg;
  e->changes++;
  if (e->in_call)
    e->changes_inside++;
  sk_cjob_info_t info;
  if (sk_cjobs_info(e->t, key, &info) == 0)
    e->phases_seen |= 1u << info.phase;
}

static void cf_on_guard(uv_timer_t *t) {
  cf_env_t *e = t->data;
  e->expired = true;
}

/* Sets up everything but the tracker, whose config the test may change
 * first (e->cfg), then calls cf_env_start. */
static CF_UNUSED int cf_env_init(cf_env_t *e, cf_mode_t mode) {
  memset(e, 0, sizeof(*e));
  uv_loop_init(&e->loop);
  uv_timer_init(&e->loop, &e->guard);
  e->guard.data = e;
  if (cf_start(&e->fake, &e->loop, mode) < 0)
    return -1;
  e->http = sk_http_create(&e->loop);
  static const char *const hdrs[] = {"Authorization: Bearer test-token", NULL};
  e->authz = calloc(1, sizeof(*e->authz));
  if (!e->http || !e->authz)
    return -1;
  e->authz->base.ops = &cf_authz_ops;
  e->authz->inner = sk_cloud_authz_static(&e->loop, hdrs);
  if (!e->authz->inner)
    return -1;
  e->cfg.endpoints.vertex_endpoint = e->fake.base;
  e->cfg.endpoints.sagemaker_endpoint = e->fake.base;
  e->cfg.vertex_qps = 1000;
  e->cfg.vertex_burst = 1000;
  e->cfg.sagemaker_qps = 1000;
  e->cfg.sagemaker_burst = 1000;
  e->cfg.request_timeout_ms = 5000;
  e->cfg.settle_ms = -1; /* the settle test sets its own */
  e->cfg.seed = 42;
  e->cfg.on_change = cf_on_change;
  e->cfg.arg = e;
  return 0;
}

static CF_UNUSED int cf_env_start(cf_env_t *e) {
  e->t = sk_cjobs_create(&e->loop, e->http, &e->cfg);
  return e->t ? 0 : -1;
}

/* Runs the loop until cond(arg) holds or ms pass; returns whether it held. */
static CF_UNUSED bool cf_run_until(cf_env_t *e, bool (*cond)(void *), void *arg, uint64_t ms) {
  e->expired = false;
  uv_timer_start(&e->guard, cf_on_guard, ms, 0);
  while (!cond(arg) && !e->expired)
    uv_run(&e->loop, UV_RUN_ONCE);
  uv_timer_stop(&e->guard);
  return cond(arg);
}

/* Runs the loop for ms (to see that nothing more happens). */
static bool cf_never(void *arg) { return false; }
static CF_UNUSED void cf_run_for(cf_env_t *e, uint64_t ms) { cf_run_until(e, cf_never, NULL, ms); }

/* A wait for one job's info to pass test (with phase or text to compare
 * against), or for on_change to have reported phase. */
typedef struct cf_wait cf_wait_t;
struct cf_wait {
  cf_env_t *e;
  const char *key;
  int phase;
  const char *text; /* the state, or the part of the message, waited for */
  bool (*test)(const sk_cjob_info_t *info, const cf_wait_t *w);
};

static bool cf_info_passes(void *arg) {
  cf_wait_t *w = arg;
  sk_cjob_info_t info;
  return sk_cjobs_info(w->e->t, w->key, &info) == 0 && w->test(&info, w);
}

static bool cf_wait_info(cf_wait_t w, uint64_t ms) {
  return cf_run_until(w.e, cf_info_passes, &w, ms);
}

static bool cf_phase_is(const sk_cjob_info_t *i, const cf_wait_t *w) {
  return (int)i->phase == w->phase;
}

static CF_UNUSED bool cf_wait_phase(cf_env_t *e, const char *key, sk_cjob_phase_t p,
                                    uint64_t ms) {
  return cf_wait_info((cf_wait_t){.e = e, .key = key, .phase = (int)p, .test = cf_phase_is}, ms);
}

static bool cf_seen(void *arg) {
  cf_wait_t *w = arg;
  return (w->e->phases_seen & (1u << w->phase)) != 0;
}

/* Waits until on_change has reported a job in phase p (changes come from
 * the loop, after the answer that caused them). */
static CF_UNUSED bool cf_wait_seen(cf_env_t *e, sk_cjob_phase_t p, uint64_t ms) {
  cf_wait_t w = {.e = e, .phase = (int)p};
  return cf_run_until(e, cf_seen, &w, ms);
}

static bool cf_state_is(const sk_cjob_info_t *i, const cf_wait_t *w) {
  return i->state && strcmp(i->state, w->text) == 0;
}

/* Waits until the job's cloud state is state: the phase alone cannot tell
 * a job the cloud has shown running from one still being looked at. */
static CF_UNUSED bool cf_wait_state(cf_env_t *e, const char *key, const char *state,
                                    uint64_t ms) {
  return cf_wait_info((cf_wait_t){.e = e, .key = key, .text = state, .test = cf_state_is}, ms);
}

static bool cf_message_has(const sk_cjob_info_t *i, const cf_wait_t *w) {
  return i->message && strstr(i->message, w->text) != NULL;
}

/* Waits until the job's message holds text, as a throttled job's says so
 * while its phase stays the same. */
static CF_UNUSED bool cf_wait_message(cf_env_t *e, const char *key, const char *text,
                                      uint64_t ms) {
  return cf_wait_info((cf_wait_t){.e = e, .key = key, .text = text, .test = cf_message_has}, ms);
}

static bool cf_named(const sk_cjob_info_t *i, const cf_wait_t *w) { return i->name != NULL; }

/* Waits until the job has the cloud's name (it was created or found). */
static CF_UNUSED bool cf_wait_named(cf_env_t *e, const char *key, uint64_t ms) {
  return cf_wait_info((cf_wait_t){.e = e, .key = key, .test = cf_named}, ms);
}

typedef struct {
  const int *counter;
  int want;
} cf_at_least_t;

static bool cf_at_least(void *arg) {
  const cf_at_least_t *a = arg;
  return *a->counter >= a->want;
}

/* Waits until *counter (one of the fake's) reaches want, as when a test
 * must act while a request it knows of is on the wire. */
static CF_UNUSED bool cf_wait_count(cf_env_t *e, const int *counter, int want, uint64_t ms) {
  cf_at_least_t a = {counter, want};
  return cf_run_until(e, cf_at_least, &a, ms);
}

/* A job of the given kind for step instance, attempt 1 of Workflow
 * "mnist" (uid), signed by the environment's counting authoriser. It
 * points at the caller's strings and body, which ensure copies. */
static CF_UNUSED sk_cjob_desc_t cf_desc(cf_env_t *e, sk_cjob_kind_t kind, const char *uid,
                                        const char *key, const char *instance, json_t *body) {
  sk_cjob_desc_t d;
  memset(&d, 0, sizeof(d));
  d.kind = kind;
  d.key = key;
  d.workflow_uid = uid;
  d.workflow_name = "mnist";
  d.instance = instance;
  d.attempt = 1;
  d.body = body;
  d.authz = &e->authz->base;
  return d;
}

/* One string output of a job's info, or NULL. */
static CF_UNUSED const char *cf_out_str(const sk_cjob_info_t *i, const char *k) {
  return json_string_value(json_object_get(i->outputs, k));
}

static CF_UNUSED int cf_ensure(cf_env_t *e, const sk_cjob_desc_t *d) {
  e->in_call = true;
  int rc = sk_cjobs_ensure(e->t, d);
  e->in_call = false;
  return rc;
}

static CF_UNUSED int cf_cancel(cf_env_t *e, const char *key) {
  e->in_call = true;
  int rc = sk_cjobs_cancel(e->t, key);
  e->in_call = false;
  return rc;
}

/* Tears everything down and checks that the loop ends clean. */
static CF_UNUSED void cf_env_finish(cf_env_t *e) {
  CHECK_INT(e->changes_inside, 0);
  sk_cjobs_destroy(e->t);
  sk_cloud_authz_destroy(e->extra_authz);
  if (e->authz)
    cf_authz_destroy(&e->authz->base);
  sk_http_destroy(e->http);
  cf_stop(&e->fake);
  e->expired = false;
  uv_timer_start(&e->guard, cf_on_guard, 10000, 0);
  uv_unref((uv_handle_t *)&e->guard);
  while (uv_run(&e->loop, UV_RUN_ONCE) && !e->expired) {
  }
  CHECK(!e->expired);
  uv_close((uv_handle_t *)&e->guard, NULL);
  uv_run(&e->loop, UV_RUN_DEFAULT);
  CHECK_INT(uv_loop_close(&e->loop), 0);
  cf_free(&e->fake);
}

#endif
