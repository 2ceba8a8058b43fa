/*
 * Kubernetes Events (core/v1) for the objects skeind acts on, as
 * `kubectl describe` and `kubectl get events` show them.
 *
 * Recording an event never blocks and never floods the API server:
 *
 *  - aggregation: an event equal to one recorded shortly before (same
 *    object, type, reason and message, the previous one at most `window`
 *    ago, 10 min by default) does not make a new Event object; the
 *    existing one gets count + 1 and a new lastTimestamp by a PATCH;
 *  - spam filter: each object has a token bucket (burst 25, one token per
 *    5 min, as client-go), and every event for the object, aggregated or
 *    not, spends a token; without one the event is dropped, so a retry
 *    loop cannot flood the API;
 *  - caps: reason at 128 bytes, message at 1 KiB (cut on a UTF-8 boundary,
 *    invalid UTF-8 replaced by '?'), the tables at 4096 entries each
 *    (least recently used go first), the write queue at 1000.
 *
 * Event names are "<object name>.<hex nanoseconds>" like client-go's,
 * strictly increasing within a process. source.component and
 * reportingComponent are "skeind" unless configured.
 *
 * Two layers: the aggregator (sk_kube_evagg_*) is pure, with the time
 * passed in; the recorder (sk_kube_recorder_*) writes on the libuv loop
 * through an sk_kube_caller_t (kube/caller.h), a few calls at a time but
 * one per Event, in order, so an Event is created before it is patched.
 */
#ifndef SK_KUBE_EVENTS_H
#define SK_KUBE_EVENTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kube/caller.h"

#define SK_KUBE_EVENT_MAX_MESSAGE 1024
#define SK_KUBE_EVENT_MAX_REASON 128

/* The object an event is about (involvedObject). kind and name are
 * required; the rest may be NULL. namespace NULL or "" is a cluster-scoped
 * object, whose events go to namespace "default". */
typedef struct {
  const char *api_version;
  const char *kind;
  const char *namespace;
  const char *name;
  const char *uid;
  const char *resource_version;
  const char *field_path;
} sk_kube_objref_t;

/* Fills ref with borrowed pointers into obj's apiVersion, kind and
 * metadata (valid while obj is). SK_EINVAL when kind or name is missing. */
int sk_kube_objref_from(const json_t *obj, sk_kube_objref_t *ref);

typedef enum { SK_KUBE_EVENT_NORMAL = 0, SK_KUBE_EVENT_WARNING } sk_kube_evtype_t;

/* "Normal" or "Warning". */
const char *sk_kube_evtype_name(sk_kube_evtype_t t);

/* ---- the aggregator (pure) ---- */

typedef struct sk_kube_evagg sk_kube_evagg_t;

typedef struct {
  int64_t window_ms;    /* aggregate with a previous equal event this recent; 0 → 600000 */
  size_t max_entries;   /* per table; 0 → 4096 */
  double spam_qps;      /* per-object refill; 0 → 1/300; < 0 → no spam filter */
  int spam_burst;       /* 0 → 25 */
} sk_kube_evagg_opts_t;

typedef enum {
  SK_KUBE_EVAGG_CREATE = 0, /* create a new Event */
  SK_KUBE_EVAGG_PATCH,      /* bump the count of the Event named in the result */
  SK_KUBE_EVAGG_FILTERED    /* dropped by the spam filter */
} sk_kube_evagg_action_t;

/* What to write. Strings are borrowed from the aggregator and valid until
 * its next call. */
typedef struct {
  sk_kube_evagg_action_t action;
  const char *name;       /* metadata.name of the Event */
  const char *namespace;  /* the Event's namespace */
  const char *reason;     /* capped */
  const char *message;    /* capped and cleaned */
  int64_t count;
  int64_t first_ms;       /* wall clock */
  int64_t last_ms;
} sk_kube_evagg_result_t;

/* Returns a new aggregator (opts may be NULL), or NULL on allocation
 * failure or bad options. */
sk_kube_evagg_t *sk_kube_evagg_create(const sk_kube_evagg_opts_t *opts);
void sk_kube_evagg_destroy(sk_kube_evagg_t *a);

/* Decides what an event means at now_ms (wall clock). SK_EINVAL when the
 * object has no kind or name or reason is empty; SK_ENOMEM. */
int sk_kube_evagg_record(sk_kube_evagg_t *a, const sk_kube_objref_t *obj, sk_kube_evtype_t type,
                         const char *reason, const char *message, int64_t now_ms,
                         sk_kube_evagg_result_t *out);

/* Entries in the aggregation table (for tests and metrics). */
size_t sk_kube_evagg_size(const sk_kube_evagg_t *a);

/* The full Event for a result (new reference, NULL on allocation failure).
 * host is source.host and reportingInstance (cut at 128 bytes; may be
 * NULL); component is source.component and reportingComponent. */
json_t *sk_kube_event_build(const sk_kube_objref_t *obj, sk_kube_evtype_t type,
                            const sk_kube_evagg_result_t *r, const char *component,
                            const char *host);

/* The merge patch that brings an existing Event up to r (new reference). */
json_t *sk_kube_event_patch(const sk_kube_evagg_result_t *r);

/* ---- the recorder (I/O on the loop) ---- */

typedef struct sk_kube_recorder sk_kube_recorder_t;

/* A clock in wall-clock milliseconds; arg is the opts' clock_arg. */
typedef int64_t (*sk_kube_recorder_clock_fn)(void *arg);

typedef struct {
  const char *component;       /* NULL → "skeind" (copied) */
  const char *host;            /* NULL → this machine's hostname (copied) */
  sk_kube_evagg_opts_t agg;
  size_t max_queue;            /* writes waiting; 0 → 1000; more are dropped */
  int max_tries;               /* per write, for 429/5xx/network errors; 0 → 3 */
  int max_in_flight;           /* writes on the wire at once (one per Event); 0 → 4 */
  int64_t retry_base_ms;       /* first retry wait (then doubling, jittered); 0 → 1000 */
  long timeout_ms;             /* per call; 0 → 10000 */
  sk_kube_recorder_clock_fn clock; /* NULL → sk_time_now_ms */
  void *clock_arg;
} sk_kube_recorder_opts_t;

typedef struct {
  uint64_t recorded;   /* calls of sk_kube_recorder_event */
  uint64_t created;    /* Events created */
  uint64_t patched;    /* Events patched */
  uint64_t filtered;   /* dropped by the spam filter */
  uint64_t coalesced;  /* merged into a write still waiting */
  uint64_t dropped;    /* queue full, or a write failed for good */
  uint64_t retried;    /* write attempts repeated */
  size_t queued;       /* writes waiting or in flight */
} sk_kube_recorder_stats_t;

/* Creates a recorder (caller and opts copied; the caller's context must
 * outlive it). opts may be NULL. SK_EINVAL for bad options; SK_ENOMEM. */
int sk_kube_recorder_create(const sk_kube_caller_t *caller, const sk_kube_recorder_opts_t *opts,
                            sk_kube_recorder_t **out);

/* Records an event (every string is copied before this returns; nothing
 * is sent from inside the call). Returns 0 when it was queued, aggregated
 * or filtered (see the stats), SK_EINVAL for a missing kind, name or
 * reason, SK_ENOMEM. Never blocks. */
int sk_kube_recorder_event(sk_kube_recorder_t *r, const sk_kube_objref_t *obj,
                           sk_kube_evtype_t type, const char *reason, const char *message);
int sk_kube_recorder_eventf(sk_kube_recorder_t *r, const sk_kube_objref_t *obj,
                            sk_kube_evtype_t type, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Calls done from the loop once every write queued so far has finished
 * (at once, from the loop, when none is). One flush at a time: SK_ESTATE
 * while one is pending. */
int sk_kube_recorder_flush(sk_kube_recorder_t *r, void (*done)(sk_kube_recorder_t *r, void *arg),
                           void *arg);

void sk_kube_recorder_stats(const sk_kube_recorder_t *r, sk_kube_recorder_stats_t *out);

/* Cancels the calls in flight, drops queued writes (a pending flush is not
 * called) and frees the recorder once its handles have closed (run the
 * loop until empty). Safe on NULL. */
void sk_kube_recorder_destroy(sk_kube_recorder_t *r);

#endif
