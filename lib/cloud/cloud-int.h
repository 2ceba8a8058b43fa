/*
 * Private to lib/cloud's job clients (vertex.c, sagemaker.c, jobs*.c) and
 * their unit tests: how a cloud's error answer is classified, and small
 * pure helpers they share.
 *
 * A refused or failed request is boiled down to a class that decides what
 * the tracker does next: wait at least SK_CJOBS_THROTTLE_MIN_MS and retry
 * (THROTTLE), retry with backoff (TRANSIENT), give up with the cloud's
 * message (PERMANENT), drop the credential and retry once (AUTH), treat the
 * job as absent (NOT_FOUND), or adopt the job of that name (EXISTS,
 * SageMaker's ResourceInUse on a create).
 */
#ifndef SK_CLOUD_CLOUD_INT_H
#define SK_CLOUD_CLOUD_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "cloud/cloud.h"
#include "cloud/jobs.h"
#include "util/backoff.h"
#include "util/ratelimit.h"

typedef enum {
  SK_CLOUD_ERR_NONE = 0,
  SK_CLOUD_ERR_THROTTLE,
  SK_CLOUD_ERR_TRANSIENT,
  SK_CLOUD_ERR_PERMANENT,
  SK_CLOUD_ERR_AUTH,
  SK_CLOUD_ERR_NOT_FOUND,
  SK_CLOUD_ERR_EXISTS,
} sk_cloud_err_class_t;

/* A classified error answer. */
typedef struct sk_cloud_error {
  sk_cloud_err_class_t cls;
  long status;            /* HTTP status, 0 for a transport error */
  int64_t retry_after_ms; /* the cloud's own hint (RetryInfo, Retry-After,
                             x-amz-retry-after), or -1 when it gave none */
  char code[64];          /* "INVALID_ARGUMENT", "ValidationException", or "" */
  char message[SK_CLOUD_MAX_MESSAGE]; /* the whole sentence for the step's status */
} sk_cloud_error_t;

/* Starts *out for an answer of status (what: who answered, for the
 * message). A status of 0 means no answer arrived: *out is then complete,
 * a transient error quoting transport_text, and this returns true; else
 * the caller goes on to read the answer. */
bool sk__cloud_error_begin(sk_cloud_error_t *out, long status, const char *what,
                           const char *transport_text);

/* The class's name for logs ("throttle", "transient", ...). */
const char *sk__cloud_err_class_name(sk_cloud_err_class_t c);

/* Parses a Retry-After header given in seconds ("7", "2.5") into ms; -1
 * when v is NULL or not a number (the HTTP-date form is not used by either
 * cloud's API front end). */
int64_t sk__cloud_retry_after_ms(const char *v);

/* Percent-encodes s for a URL query value (RFC 3986: everything but
 * unreserved characters). SK_ETOOBIG when out is too small. */
int sk__cloud_query_escape(const char *s, char *out, size_t outlen);

/* Copies at most max bytes of s into out as one line for a message: control
 * characters become spaces, a cut never splits a UTF-8 sequence, and a cut
 * ends in "...". */
void sk__cloud_clean_text(const char *s, size_t len, char *out, size_t outlen);

/* Writes err->message as "<what>: <status>[ <code>][: <text>]", cut to
 * fit. */
void sk__cloud_error_text(sk_cloud_error_t *err, const char *what, const char *text);

/* The first nhex = outlen - 1 lowercase hex digits (at most 64) of the
 * SHA-256 of the len bytes at data: short, stable names. */
int sk__cloud_hash_hex(const void *data, size_t len, char *out, size_t outlen);


/* ---- the job tracker's insides (jobs.c, jobs_vertex.c, jobs_sagemaker.c) ---- */

/* The request a job sends next (or has in flight). */
typedef enum {
  SK__CJOB_OP_NONE,
  SK__CJOB_OP_CREATE,
  SK__CJOB_OP_LOOKUP, /* Vertex: list by labels; SageMaker: describe by our name */
  SK__CJOB_OP_GET,    /* Vertex get; SageMaker describe */
  SK__CJOB_OP_CANCEL, /* Vertex :cancel; SageMaker Stop*Job */
} sk__cjob_op_t;

typedef struct sk__cjob sk__cjob_t;
typedef struct sk__cjob_ep sk__cjob_ep_t;
typedef struct sk__cjob_req sk__cjob_req_t;

/* One endpoint (a Vertex location's or a SageMaker region's base URL):
 * its token bucket and the jobs waiting for a token, in order. One timer
 * per endpoint wakes the head of the queue. */
struct sk__cjob_ep {
  sk_cjobs_t *t;
  char *base;
  sk_ratelimit_t rl;
  uv_timer_t timer;
  sk__cjob_t *qhead, *qtail;
  size_t queued;
  sk__cjob_ep_t *next;
};

/* One tracked job. Small on purpose (a daemon may track thousands): no uv
 * handle of its own; its next request time lives in the tracker's heap. */
struct sk__cjob {
  sk_cjobs_t *t;
  char *key;
  sk__cjob_t *hnext; /* hash chain */
  sk_cjob_kind_t kind;
  sk__cjob_ep_t *ep;
  sk_cloud_authz_t *authz;
  char *workflow_uid, *workflow_name, *instance;
  int attempt;
  char *project, *location; /* Vertex */
  char *region;             /* SageMaker */
  json_t *create_body;      /* the create's body (SageMaker: the job object), until named */
  char *own_name;           /* SageMaker: our deterministic name, before the cloud knows it */
  char *name;               /* known to exist in the cloud */
  char *arn;
  char *state, *secondary;
  char *message;
  json_t *outputs;
  char *page_token;         /* Vertex label lookup in progress */
  sk_cjob_phase_t phase;
  sk_cjob_cancel_t cancel;
  sk__cjob_op_t op;         /* scheduled, queued or in flight */
  bool maybe_created;       /* a create may exist that we were not told about */
  bool no_create;
  bool auth_retried;        /* one 401 retry spent since the last good answer */
  bool saw_exists;          /* a create was answered "exists" */
  int64_t hold_until;       /* loop time before which nothing is sent (throttled) */
  unsigned cancel_tries;
  unsigned err_streak;      /* failed requests in a row */
  unsigned polls;
  sk_backoff_t poll;
  size_t heap_idx;          /* SIZE_MAX when not scheduled */
  int64_t due;              /* loop time (uv_now) of the next request */
  int64_t next_at_ms;       /* the same, wall clock, for info */
  sk__cjob_t *qnext;        /* in ep's queue */
  bool queued;
  sk__cjob_req_t *req;      /* in flight (authorising or on the wire) */
  sk__cjob_t *cprev, *cnext; /* on the changed list */
  bool changed;
};

/* A request being built by a kind: what to send. */
typedef struct sk__cjob_wire {
  const char *method;
  char *url;                /* new */
  char *body;               /* new, or NULL */
  size_t body_len;
  char headers[3][160];     /* "Name: value" lines */
  int nheaders;
  const char *region, *service; /* for the AWS signer */
} sk__cjob_wire_t;

/* What a kind does. service is for messages ("Vertex AI"). */
typedef struct sk__cjob_kind_ops {
  const char *service;
  /* Fills w for op; < 0 with a message in err when the request cannot be
   * built (a bad recorded name, say): the job fails. */
  int (*build)(sk__cjob_t *j, sk__cjob_op_t op, sk__cjob_wire_t *w, char *err, size_t errlen);
  /* Handles the answer to op (resp->error set: no answer), calling the
   * sk__cjob_on_* functions below. */
  void (*answer)(sk__cjob_t *j, sk__cjob_op_t op, const sk_http_resp_t *resp);
} sk__cjob_kind_ops_t;

extern const sk__cjob_kind_ops_t sk__cjob_vertex_ops;
extern const sk__cjob_kind_ops_t sk__cjob_sagemaker_ops;

/* A request in flight: from its token to its answer. */
struct sk__cjob_req {
  sk_cjobs_t *t;
  sk__cjob_t *job;  /* NULL once the job was forgotten or the tracker destroyed */
  sk__cjob_op_t op;
  sk__cjob_wire_t w;
  sk_http_req_t *http; /* on the wire; NULL while authorising */
  sk__cjob_req_t *prev, *next;
};

/* The tracker. */
struct sk_cjobs {
  uv_loop_t *loop;
  sk_http_t *http;
  sk_cjobs_config_t cfg;
  int64_t settled_at; /* loop ms: Vertex creates sent before the tracker existed are done */
  char *strs[8];    /* our copies of the endpoint strings */
  sk_http_tls_t tls;
  uv_timer_t timer; /* the earliest due job */
  uv_idle_t notify; /* on_change deliveries */
  int open_handles;
  bool destroying;
  sk__cjob_t **buckets;
  size_t nbuckets, count;
  sk__cjob_t **heap;
  size_t heap_len, heap_cap;
  sk__cjob_ep_t *eps;
  sk__cjob_req_t *reqs;
  size_t nreqs;
  sk__cjob_t *chead, *ctail;
  uint64_t rng;
  sk_cjobs_stats_t stats;
};

static inline bool sk__cjob_terminal(sk_cjob_phase_t p) {
  return p == SK_CJOB_SUCCEEDED || p == SK_CJOB_FAILED || p == SK_CJOB_CANCELLED;
}

/* jobs.c */
const sk__cjob_kind_ops_t *sk__cjob_kind(const sk__cjob_t *j);
const char *sk__cjob_op_name(sk__cjob_op_t op);
/* Fails the job with message (the one place besides the state events that
 * ends a job: a request that cannot be built, a project nowhere found). */
void sk__cjob_fail(sk__cjob_t *j, const char *message);
/* Frees a destroyed tracker once its handles have closed and its last
 * request has ended. */
void sk__cjobs_maybe_free(sk_cjobs_t *t);

/* jobs_net.c */
/* Puts op on the schedule delay_ms from now (never before a throttling
 * hold ends); replaces whatever was scheduled. */
void sk__cjobs_schedule(sk__cjob_t *j, sk__cjob_op_t op, int64_t delay_ms);
/* Takes j out of the heap and its endpoint's queue. */
void sk__cjobs_unschedule(sk__cjob_t *j);
/* The endpoint of a base URL, made on first use (its bucket from the
 * config's qps and burst for the kind); NULL when out of memory. */
sk__cjob_ep_t *sk__cjobs_ep_get(sk_cjobs_t *t, const char *base, bool sagemaker);
/* Closes an endpoint's timer; it is freed from the close callback. */
void sk__cjobs_ep_close(sk__cjob_ep_t *ep);

/* Events a kind reports from an answer (jobs.c decides what follows). */
/* The create was accepted: the job exists under name. */
void sk__cjob_on_created(sk__cjob_t *j, const char *name, const char *arn);
/* The lookup found the job (adopted); a state follows when known. */
void sk__cjob_on_found(sk__cjob_t *j, const char *name, const char *arn);
/* The lookup found no job. */
void sk__cjob_on_absent(sk__cjob_t *j);
/* The lookup goes on with the next page (token is taken over). */
void sk__cjob_on_next_page(sk__cjob_t *j, char *token);
/* The cloud reported the job's state. phase is the step phase it maps to;
 * message (may be NULL) says why it failed or was cancelled; outputs (may
 * be NULL) is taken over. secondary is an opaque sub-state or NULL. */
void sk__cjob_on_state(sk__cjob_t *j, const char *state, const char *secondary,
                       sk_cjob_phase_t phase, const char *message, json_t *outputs);
/* The cancel was accepted. */
void sk__cjob_on_cancel_accepted(sk__cjob_t *j);
/* The request failed: err is classified by the kind. */
void sk__cjob_on_error(sk__cjob_t *j, const sk_cloud_error_t *err);
/* The answer was 2xx but unreadable: retried like a transient error. */
void sk__cjob_on_bad_answer(sk__cjob_t *j, const char *what);

#endif
