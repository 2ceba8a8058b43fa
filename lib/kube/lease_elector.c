/*
 * Leader election: the elector, the I/O around the decision core on the
 * libuv loop.
 *
 * At any time the elector has at most one API call in flight or one tick
 * scheduled. A tick either renews straight away (while leading: our own
 * last write is the freshest record, so no GET is needed) or reads the
 * Lease and lets sk_kube_lease_decide pick create / acquire / renew / wait
 * / stop. A 409 on a write means someone else wrote first: re-read at once
 * and decide again. While leading, a second timer fires at the renew
 * deadline; if no renewal was sent successfully since, the elector stops
 * leading there and then, even while a renewal is still in flight.
 */
#include <stdlib.h>
#include <string.h>

#include "kube/lease.h"
#include "util/backoff.h"
#include "util/error.h"
#include "util/log.h"
#include "util/timeutil.h"

#define LOGGER "leader-election"

typedef enum { E_NEW, E_RUNNING, E_STOPPING, E_RELEASING, E_STOPPED } estate_t;
typedef enum { CALL_NONE, CALL_GET, CALL_WRITE, CALL_RELEASE } call_kind_t;

struct sk_kube_elector {
  sk_kube_caller_t caller;
  char *ns, *name, *identity;
  sk_kube_lease_timing_t t;
  sk_kube_elector_opts_t o; /* callbacks and arg; strings are the copies above */
  sk_kube_lease_state_t st;
  json_t *obj;              /* the last Lease object read or written */
  char *leader;             /* the last observed holder */
  uv_timer_t tick;
  uv_timer_t deadline;
  void *call;               /* handle of the call in flight, or NULL */
  call_kind_t call_kind;
  bool call_active;
  int64_t sent_ms;          /* local time the write in flight was sent */
  estate_t state;
  uint64_t rng;
  void (*stop_done)(sk_kube_elector_t *e, void *arg);
  void *stop_arg;
  bool stop_release;
  int open_handles;
  bool destroying;
};

static const sk_kube_gvr_t lease_gvr = {"coordination.k8s.io", "v1", "leases"};

static int64_t mono(void) { return sk_time_mono_ms(); }

static void on_tick(uv_timer_t *t);
static void on_deadline(uv_timer_t *t);
static void step(sk_kube_elector_t *e);

static void maybe_free(sk_kube_elector_t *e) {
  if (!e->destroying || e->open_handles > 0 || e->call_active)
    return;
  sk_kube_lease_state_release(&e->st);
  json_decref(e->obj);
  free(e->leader);
  free(e->ns);
  free(e->name);
  free(e->identity);
  free(e);
}

static void on_close(uv_handle_t *h) {
  sk_kube_elector_t *e = h->data;
  e->open_handles--;
  maybe_free(e);
}

static void schedule(sk_kube_elector_t *e, int64_t delay_ms) {
  uv_timer_start(&e->tick, on_tick, delay_ms > 0 ? (uint64_t)delay_ms : 0, 0);
}

/* A candidate's next look, with client-go's jitter (up to 1.2 retry
 * periods more) so that candidates do not move in lockstep. */
static void schedule_jittered(sk_kube_elector_t *e, int64_t delay_ms) {
  schedule(e, delay_ms + sk_rand_range(&e->rng, e->t.retry_period_ms * 6 / 5));
}

static void note_leader(sk_kube_elector_t *e) {
  const char *h = e->st.exists && e->st.observed.holder ? e->st.observed.holder : "";
  if (e->leader && strcmp(e->leader, h) == 0)
    return;
  char *copy = strdup(h);
  if (!copy)
    return;
  free(e->leader);
  e->leader = copy;
  sk_log_v(1, LOGGER, "lease %s/%s: holder is now \"%s\"", e->ns, e->name, h);
  if (e->o.on_new_leader)
    e->o.on_new_leader(e, h, e->o.arg);
}

static void stop_leading(sk_kube_elector_t *e, const char *why) {
  if (!e->st.leading)
    return;
  e->st.leading = false;
  uv_timer_stop(&e->deadline);
  sk_log_info(LOGGER, "lease %s/%s: %s stopped leading: %s", e->ns, e->name, e->identity, why);
  if (e->o.on_stopped_leading)
    e->o.on_stopped_leading(e, e->o.arg);
}

static void arm_deadline(sk_kube_elector_t *e) {
  int64_t left = e->st.renewed_at_ms + e->t.renew_deadline_ms - mono();
  uv_timer_start(&e->deadline, on_deadline, left > 0 ? (uint64_t)left : 0, 0);
}

static void on_deadline(uv_timer_t *t) {
  sk_kube_elector_t *e = t->data;
  if (e->state != E_RUNNING || !e->st.leading)
    return;
  if (mono() - e->st.renewed_at_ms < e->t.renew_deadline_ms) {
    arm_deadline(e);
    return;
  }
  /* A renewal still in flight could land after this; its result is then
   * too old to trust, so it is cancelled and the next tick starts over. */
  if (e->call_active)
    e->caller.cancel(e->caller.ctx, e->call);
  else
    schedule(e, e->t.retry_period_ms);
  stop_leading(e, "the renew deadline passed");
}

static void call_done(const sk_kube_result_t *res, void *arg);

static int start_call(sk_kube_elector_t *e, call_kind_t kind, sk_kube_verb_t verb,
                      const json_t *body) {
  sk_kube_ref_t ref = {lease_gvr, e->ns, e->name, NULL};
  sk_kube_call_opts_t opts = {.timeout_ms = e->t.renew_deadline_ms};
  e->call_kind = kind;
  e->sent_ms = mono();
  e->call = NULL;
  e->call_active = true;
  int rc = e->caller.call(e->caller.ctx, verb, &ref, body, &opts, call_done, e, &e->call);
  if (rc < 0)
    e->call_active = false;
  return rc;
}

/* The body of a create or update: the last object seen (so labels and
 * fields we do not manage survive), with the record's spec written in. */
static json_t *write_body(sk_kube_elector_t *e, const sk_kube_lease_record_t *rec, bool create) {
  json_t *b = (!create && e->obj) ? json_deep_copy(e->obj) : NULL;
  if (!b)
    b = json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", "coordination.k8s.io/v1", "kind",
                  "Lease", "metadata", "name", e->name, "namespace", e->ns);
  if (b && sk_kube_lease_record_apply(b, rec) < 0) {
    json_decref(b);
    b = NULL;
  }
  return b;
}

/* Decides with what is known now and acts on it. */
static void act(sk_kube_elector_t *e) {
  sk_kube_lease_decision_t d;
  int64_t now = mono();
  sk_kube_lease_decide(&e->t, e->identity, &e->st, now, sk_time_now_ms(), &d);
  sk_log_v(2, LOGGER, "lease %s/%s: %s (%s)", e->ns, e->name, sk_kube_lease_action_name(d.action),
           d.why);
  switch (d.action) {
  case SK_KUBE_LEASE_WAIT:
    schedule_jittered(e, d.at_ms - now);
    return;
  case SK_KUBE_LEASE_STOP:
    schedule(e, e->t.retry_period_ms);
    stop_leading(e, d.why);
    return;
  default:
    break;
  }
  bool create = d.action == SK_KUBE_LEASE_CREATE;
  json_t *body = write_body(e, &d.write, create);
  int rc = body ? start_call(e, CALL_WRITE, create ? SK_KUBE_CREATE : SK_KUBE_UPDATE, body)
                : SK_ENOMEM;
  json_decref(body);
  if (rc < 0) {
    sk_log_warn(LOGGER, "lease %s/%s: cannot %s: %s", e->ns, e->name,
                sk_kube_lease_action_name(d.action), sk_strerror(rc));
    schedule_jittered(e, e->t.retry_period_ms);
  }
}

static void step(sk_kube_elector_t *e) {
  if (e->st.leading) {
    act(e); /* renew from our own last write */
    return;
  }
  int rc = start_call(e, CALL_GET, SK_KUBE_GET, NULL);
  if (rc < 0) {
    sk_log_warn(LOGGER, "lease %s/%s: cannot read: %s", e->ns, e->name, sk_strerror(rc));
    schedule_jittered(e, e->t.retry_period_ms);
  }
}

static void finish_stop(sk_kube_elector_t *e);

static void on_tick(uv_timer_t *t) {
  sk_kube_elector_t *e = t->data;
  if (e->state == E_RUNNING)
    step(e);
  else if (e->state == E_STOPPING)
    finish_stop(e);
}

/* Takes in a body that holds a Lease. */
static int take_object(sk_kube_elector_t *e, const json_t *body, sk_kube_lease_record_t *rec) {
  int rc = sk_kube_lease_record_parse(body, rec);
  if (rc < 0)
    return rc;
  json_t *copy = json_deep_copy(body);
  if (!copy) {
    sk_kube_lease_record_release(rec);
    return SK_ENOMEM;
  }
  json_decref(e->obj);
  e->obj = copy;
  return 0;
}

static const char *res_text(const sk_kube_result_t *res) {
  if (res->message && res->message[0])
    return res->message;
  return sk_strerror(res->err ? res->err : SK_EPARSE);
}

static void reread(sk_kube_elector_t *e) {
  if (start_call(e, CALL_GET, SK_KUBE_GET, NULL) < 0)
    schedule_jittered(e, e->t.retry_period_ms);
}

static void got_read(sk_kube_elector_t *e, const sk_kube_result_t *res) {
  sk_kube_lease_record_t rec;
  if (res->err == 0 && take_object(e, res->body, &rec) == 0) {
    sk_kube_lease_observe(&e->st, &rec, mono());
    sk_kube_lease_record_release(&rec);
  } else if (res->err == SK_ENOENT) {
    sk_kube_lease_observe(&e->st, NULL, mono());
    json_decref(e->obj);
    e->obj = NULL;
  } else {
    sk_log_warn(LOGGER, "lease %s/%s: read failed: %s", e->ns, e->name, res_text(res));
    schedule_jittered(e, e->t.retry_period_ms);
    return;
  }
  note_leader(e);
  if (!e->destroying)
    act(e);
}

static void got_write(sk_kube_elector_t *e, const sk_kube_result_t *res) {
  int64_t now = mono();
  sk_kube_lease_record_t rec;
  if (res->err == 0 && take_object(e, res->body, &rec) == 0) {
    if (now - e->sent_ms >= e->t.renew_deadline_ms) {
      /* Too slow to count: it may have landed after others saw the lease
       * expire. Look again instead. */
      sk_kube_lease_observe(&e->st, &rec, now);
      sk_kube_lease_record_release(&rec);
      schedule(e, 0);
      note_leader(e);
      return;
    }
    bool was = e->st.leading;
    sk_kube_lease_wrote(&e->st, &rec, e->sent_ms);
    sk_kube_lease_record_release(&rec);
    arm_deadline(e);
    schedule(e, e->sent_ms + e->t.retry_period_ms - now);
    note_leader(e);
    if (!was && !e->destroying) {
      sk_log_info(LOGGER, "lease %s/%s: %s started leading", e->ns, e->name, e->identity);
      if (e->o.on_started_leading)
        e->o.on_started_leading(e, e->o.arg);
    }
    return;
  }
  if (res->err == SK_ECONFLICT) {
    /* Someone wrote first (or created it): re-read and decide again. */
    reread(e);
    return;
  }
  if (res->err == SK_ENOENT) {
    /* The Lease was deleted: another candidate may create it at once, so
     * a leader must not wait for its deadline. The re-read sees the 404
     * and creates it. */
    sk_kube_lease_observe(&e->st, NULL, now);
    reread(e);
    stop_leading(e, "the lease was deleted");
    return;
  }
  sk_log_warn(LOGGER, "lease %s/%s: write failed: %s", e->ns, e->name, res_text(res));
  /* While leading, the next renewal comes a retry period after this
   * attempt; the deadline timer ends leadership if none succeeds in time. */
  if (e->st.leading)
    schedule(e, e->t.retry_period_ms);
  else
    schedule_jittered(e, e->t.retry_period_ms);
}

static void call_done(const sk_kube_result_t *res, void *arg) {
  sk_kube_elector_t *e = arg;
  call_kind_t kind = e->call_kind;
  e->call_active = false;
  e->call = NULL;
  e->call_kind = CALL_NONE;
  if (e->destroying) {
    maybe_free(e);
    return;
  }
  if (kind == CALL_RELEASE) {
    if (res->err < 0)
      sk_log_warn(LOGGER, "lease %s/%s: release failed: %s", e->ns, e->name, res_text(res));
    else
      sk_log_info(LOGGER, "lease %s/%s: released", e->ns, e->name);
    e->state = E_STOPPED;
    if (e->stop_done)
      e->stop_done(e, e->stop_arg);
    return;
  }
  if (e->state == E_STOPPING) {
    finish_stop(e);
    return;
  }
  if (res->err == SK_ECANCELED) {
    /* Cancelled by the deadline timer, which stopped leading: carry on as
     * a candidate. */
    schedule(e, e->t.retry_period_ms);
    return;
  }
  if (kind == CALL_GET)
    got_read(e, res);
  else
    got_write(e, res);
}

/* The second half of stop, from the loop once no call is in flight. */
static void finish_stop(sk_kube_elector_t *e) {
  bool was = e->st.leading;
  stop_leading(e, "stopped");
  if (e->destroying)
    return;
  if (e->stop_release && was && e->st.exists) {
    sk_kube_lease_record_t rel = {
        .holder = "",
        .duration_s = 1,
        .acquire_ms = sk_time_now_ms(),
        .renew_ms = sk_time_now_ms(),
        .transitions = e->st.observed.transitions,
        .rv = e->st.observed.rv,
    };
    json_t *body = write_body(e, &rel, false);
    int rc = body ? start_call(e, CALL_RELEASE, SK_KUBE_UPDATE, body) : SK_ENOMEM;
    json_decref(body);
    if (rc == 0) {
      e->state = E_RELEASING;
      return;
    }
    sk_log_warn(LOGGER, "lease %s/%s: cannot release: %s", e->ns, e->name, sk_strerror(rc));
  }
  e->state = E_STOPPED;
  if (e->stop_done)
    e->stop_done(e, e->stop_arg);
}

/* ---- public ---- */

int sk_kube_elector_create(const sk_kube_caller_t *caller, const sk_kube_elector_opts_t *opts,
                           sk_kube_elector_t **out, char *err, size_t errlen) {
  *out = NULL;
  if (err && errlen)
    err[0] = '\0';
  if (!caller || !caller->loop || !caller->call || !caller->cancel || !opts)
    return SK_EINVAL;
  if (!opts->namespace || !opts->namespace[0] || !opts->name || !opts->name[0]) {
    if (err && errlen)
      snprintf(err, errlen, "leader election: the lease needs a namespace and a name");
    return SK_EINVAL;
  }
  sk_kube_lease_timing_t t = opts->timing;
  int rc = sk_kube_lease_timing_check(&t, err, errlen);
  if (rc < 0)
    return rc;
  sk_kube_elector_t *e = calloc(1, sizeof(*e));
  if (!e)
    return SK_ENOMEM;
  e->caller = *caller;
  e->o = *opts;
  e->t = t;
  sk_kube_lease_state_init(&e->st);
  e->ns = strdup(opts->namespace);
  e->name = strdup(opts->name);
  char idbuf[320];
  if (opts->identity && opts->identity[0])
    e->identity = strdup(opts->identity);
  else if (sk_kube_lease_default_identity(idbuf, sizeof(idbuf)) == 0)
    e->identity = strdup(idbuf);
  e->o.namespace = e->o.name = e->o.identity = NULL;
  e->rng = opts->seed ? opts->seed : (uint64_t)sk_time_now_ms() ^ (uint64_t)(uintptr_t)e;
  if (!e->ns || !e->name || !e->identity) {
    e->destroying = true;
    maybe_free(e);
    return SK_ENOMEM;
  }
  uv_timer_init(caller->loop, &e->tick);
  uv_timer_init(caller->loop, &e->deadline);
  e->tick.data = e;
  e->deadline.data = e;
  e->open_handles = 2;
  e->state = E_NEW;
  *out = e;
  return 0;
}

int sk_kube_elector_start(sk_kube_elector_t *e) {
  if (e->state != E_NEW)
    return SK_ESTATE;
  e->state = E_RUNNING;
  schedule(e, 0);
  return 0;
}

int sk_kube_elector_stop(sk_kube_elector_t *e, bool release,
                         void (*done)(sk_kube_elector_t *e, void *arg), void *arg) {
  if (e->state == E_STOPPING || e->state == E_RELEASING || e->state == E_STOPPED)
    return SK_ESTATE;
  e->state = E_STOPPING;
  e->stop_release = release;
  e->stop_done = done;
  e->stop_arg = arg;
  uv_timer_stop(&e->deadline);
  uv_timer_stop(&e->tick);
  if (e->call_active)
    e->caller.cancel(e->caller.ctx, e->call); /* its done finishes the stop */
  else
    schedule(e, 0);
  return 0;
}

void sk_kube_elector_destroy(sk_kube_elector_t *e) {
  if (!e || e->destroying)
    return;
  e->destroying = true;
  e->st.leading = false;
  if (e->call_active)
    e->caller.cancel(e->caller.ctx, e->call);
  uv_close((uv_handle_t *)&e->tick, on_close);
  uv_close((uv_handle_t *)&e->deadline, on_close);
}

bool sk_kube_elector_is_leader(const sk_kube_elector_t *e) { return e->st.leading; }

const char *sk_kube_elector_identity(const sk_kube_elector_t *e) { return e->identity; }

const char *sk_kube_elector_leader(const sk_kube_elector_t *e) {
  return e->leader ? e->leader : "";
}
