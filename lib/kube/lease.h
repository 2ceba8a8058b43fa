/*
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go does it.
 *
 * Several skeind replicas run; the one holding the Lease reconciles, the
 * others wait. The holder renews the Lease every retry period; a candidate
 * takes it over when it has seen the record unchanged for a whole lease
 * duration. Times are never compared across machines: a candidate trusts
 * only when it saw the record change on its own clock, never the
 * acquireTime/renewTime inside it, so clock skew between nodes cannot make
 * two leaders. Every write carries the resourceVersion it was based on, so
 * two candidates racing for an expired lease cannot both win: the loser
 * gets 409 and re-reads.
 *
 * Timing (client-go's defaults): lease duration 15 s, renew deadline 10 s,
 * retry period 2 s, with leaseDuration > renewDeadline > 1.2 × retryPeriod.
 * The leader gives up (on_stopped_leading) as soon as it has not renewed
 * for the renew deadline, which is shorter than the lease duration others
 * wait, so it stops before anyone else can start.
 *
 * Two layers. The decision core (sk_kube_lease_observe/_wrote/_decide) is
 * pure: given what was observed and when (local clock), who we are and the
 * time, it says what to do next. The elector (sk_kube_elector_*) is the
 * I/O around it on the libuv loop, calling the API server through an
 * sk_kube_caller_t (kube/caller.h).
 */
#ifndef SK_KUBE_LEASE_H
#define SK_KUBE_LEASE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kube/caller.h"

/* ---- the record ---- */

/* The fields of a Lease that election uses. Strings are owned. Times are
 * wall-clock ms since the epoch, -1 when absent or unparsable: they are
 * written for people and other tools, and never trusted for decisions. */
typedef struct {
  char *holder;               /* spec.holderIdentity; "" when nobody holds it */
  int64_t duration_s;         /* spec.leaseDurationSeconds; 0 when absent */
  int64_t acquire_ms;         /* spec.acquireTime */
  int64_t renew_ms;           /* spec.renewTime */
  int64_t transitions;        /* spec.leaseTransitions */
  char *rv;                   /* metadata.resourceVersion, or NULL */
} sk_kube_lease_record_t;

/* Reads a Lease object into a new record (release it). Missing fields take
 * the defaults above; SK_EINVAL when lease is not an object. */
int sk_kube_lease_record_parse(const json_t *lease, sk_kube_lease_record_t *out);
void sk_kube_lease_record_release(sk_kube_lease_record_t *r);

/* Writes rec's spec fields (and its rv as metadata.resourceVersion, when
 * set) into obj, a Lease object being prepared for a create or update;
 * other fields of obj are kept. Times are written as MicroTime
 * ("2006-01-02T15:04:05.000000Z", which the API server requires); -1 times
 * are left out. */
int sk_kube_lease_record_apply(json_t *obj, const sk_kube_lease_record_t *rec);

/* Formats ms as a Kubernetes MicroTime into out (at least 32 bytes). */
int sk_kube_lease_format_micro(int64_t ms, char *out, size_t outlen);

/* ---- timing ---- */

typedef struct {
  int64_t lease_duration_ms; /* a whole number of seconds */
  int64_t renew_deadline_ms;
  int64_t retry_period_ms;
} sk_kube_lease_timing_t;

/* Fills in 15000 / 10000 / 2000 for zero fields, then checks
 * leaseDuration > renewDeadline > 1.2 × retryPeriod > 0 and that the lease
 * duration is whole seconds. SK_EINVAL with a sentence in err otherwise. */
int sk_kube_lease_timing_check(sk_kube_lease_timing_t *t, char *err, size_t errlen);

/* ---- the decision core (pure) ---- */

typedef struct {
  bool known;                     /* a GET or write result has been seen */
  bool exists;                    /* the Lease existed at the last look */
  sk_kube_lease_record_t observed;/* the last record seen (when exists) */
  int64_t observed_at_ms;         /* local time the record was last seen to change */
  bool leading;
  int64_t renewed_at_ms;          /* local time the last successful write was sent */
} sk_kube_lease_state_t;

void sk_kube_lease_state_init(sk_kube_lease_state_t *st);
void sk_kube_lease_state_release(sk_kube_lease_state_t *st);

/* Takes in the result of a GET: rec is the record read (copied) or NULL for
 * 404. The observation time moves to now_ms only when the record differs
 * from the last one (another resourceVersion, or when either has none,
 * another holder, renew time, transitions or duration). Returns 1 when it
 * changed, 0 when not, or SK_ENOMEM. */
int sk_kube_lease_observe(sk_kube_lease_state_t *st, const sk_kube_lease_record_t *rec,
                          int64_t now_ms);

/* Takes in our own successful create/update: rec is the record the server
 * returned (copied), sent_ms the local time the request was sent (the
 * lease is counted from then, the safe side). Sets leading. */
int sk_kube_lease_wrote(sk_kube_lease_state_t *st, const sk_kube_lease_record_t *rec,
                        int64_t sent_ms);

typedef enum {
  SK_KUBE_LEASE_CREATE = 0, /* no Lease: POST one naming us */
  SK_KUBE_LEASE_ACQUIRE,    /* free or expired (or ours from before): PUT us in */
  SK_KUBE_LEASE_RENEW,      /* ours and we lead: PUT a new renewTime */
  SK_KUBE_LEASE_WAIT,       /* someone else holds it: look again at at_ms */
  SK_KUBE_LEASE_STOP        /* we lead but must not any more: stop at once */
} sk_kube_lease_action_t;

/* "create", "acquire", "renew", "wait", "stop". */
const char *sk_kube_lease_action_name(sk_kube_lease_action_t a);

typedef struct {
  sk_kube_lease_action_t action;
  /* CREATE / ACQUIRE / RENEW: the record to write. holder points at the
   * identity passed in, rv at the state's observed rv (borrowed). */
  sk_kube_lease_record_t write;
  /* WAIT: when the holder's lease runs out by our observation, and when
   * to look again (the earlier of that and now + retry period). */
  int64_t expires_ms;
  int64_t at_ms;
  const char *why;          /* a static phrase for the debug log */
} sk_kube_lease_decision_t;

/*
 * Decides the next step (pure). now_ms is the local clock the state's times
 * use; wall_ms is the wall clock for the timestamps written into the
 * record. The rules, in order:
 *   1. leading, and the last successful write was sent renew_deadline or
 *      more ago → STOP;
 *   2. the state knows of no Lease: leading → STOP (it was deleted, and
 *      another candidate may have created it since), else → CREATE
 *      (transitions 0);
 *   3. the holder is us: leading → RENEW (acquire time and transitions
 *      kept); not leading (our record from before a restart or a lost
 *      renewal) → ACQUIRE with the same transitions;
 *   4. someone else is in the record and we lead → STOP (it was taken);
 *   5. the holder is "" (released) or the record has not changed for its
 *      lease duration since we first saw it → ACQUIRE, transitions + 1;
 *   6. otherwise → WAIT.
 * Call it with a fresh observation for rules 2-6 to mean anything.
 */
void sk_kube_lease_decide(const sk_kube_lease_timing_t *t, const char *identity,
                          const sk_kube_lease_state_t *st, int64_t now_ms, int64_t wall_ms,
                          sk_kube_lease_decision_t *out);

/* ---- the elector (I/O on the loop) ---- */

typedef struct sk_kube_elector sk_kube_elector_t;

typedef struct {
  const char *namespace;      /* required (copied) */
  const char *name;           /* the Lease's name, required (copied) */
  const char *identity;       /* NULL → "<hostname>_<16 random hex digits>" */
  sk_kube_lease_timing_t timing; /* zero fields → defaults */
  /* Called from the loop when we become leader, and when we stop being
   * leader: the renew deadline passed without a successful renewal, the
   * record shows another holder, the Lease was deleted, or
   * sk_kube_elector_stop was called while leading. After on_stopped_leading the elector keeps competing (a later
   * on_started_leading may follow) unless it is stopped; most daemons stop
   * and exit there. Both may be NULL. */
  void (*on_started_leading)(sk_kube_elector_t *e, void *arg);
  void (*on_stopped_leading)(sk_kube_elector_t *e, void *arg);
  /* Called when the observed holder changes (identity borrowed, "" for
   * none); for logs. May be NULL. */
  void (*on_new_leader)(sk_kube_elector_t *e, const char *identity, void *arg);
  void *arg;
  uint64_t seed;              /* retry jitter; 0 → from the clock */
} sk_kube_elector_opts_t;

/* Creates an elector (opts copied, caller copied; the caller's context must
 * outlive it). It does nothing until started. SK_EINVAL (with a sentence in
 * err) for a missing name or namespace or bad timing; SK_ENOMEM. */
int sk_kube_elector_create(const sk_kube_caller_t *caller, const sk_kube_elector_opts_t *opts,
                           sk_kube_elector_t **out, char *err, size_t errlen);

/* Starts competing: the first GET goes out from the loop. SK_ESTATE when
 * already running or stopped. */
int sk_kube_elector_start(sk_kube_elector_t *e);

/*
 * Stops competing: cancels the pending call and timers. When leading,
 * on_stopped_leading is called first (stop the controllers before, as a
 * new leader may start as soon as the release lands), and with release the
 * Lease is then written with holderIdentity "" and leaseDurationSeconds 1
 * so a successor need not wait out the lease. done (may be NULL) is called
 * from the loop once that write finished (whatever its result) or at once
 * when there is nothing to release. SK_ESTATE when already stopped.
 */
int sk_kube_elector_stop(sk_kube_elector_t *e, bool release,
                         void (*done)(sk_kube_elector_t *e, void *arg), void *arg);

/* Stops without releasing or calling back, then frees once the handles
 * have closed (run the loop until empty). Safe on NULL. */
void sk_kube_elector_destroy(sk_kube_elector_t *e);

bool sk_kube_elector_is_leader(const sk_kube_elector_t *e);
/* Our identity, and the holder last observed ("" when none); borrowed. */
const char *sk_kube_elector_identity(const sk_kube_elector_t *e);
const char *sk_kube_elector_leader(const sk_kube_elector_t *e);

/* The default identity for this process: "<hostname>_<16 hex digits>"
 * (client-go uses hostname + "_" + a UUID). out at least 128 bytes. */
int sk_kube_lease_default_identity(char *out, size_t outlen);

#endif
