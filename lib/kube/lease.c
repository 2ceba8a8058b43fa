/*
 * Leader election: the Lease record and the pure decision core. The I/O
 * around it is in lease_elector.c.
 */
#include "kube/lease.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/error.h"
#include "util/strutil.h"
#include "util/timeutil.h"

/* ---- the record ---- */

static int64_t parse_time(const json_t *v) {
  int64_t ms;
  if (!json_is_string(v) || sk_time_parse(json_string_value(v), &ms) < 0)
    return -1;
  return ms;
}

int sk_kube_lease_record_parse(const json_t *lease, sk_kube_lease_record_t *out) {
  memset(out, 0, sizeof(*out));
  out->acquire_ms = out->renew_ms = -1;
  if (!json_is_object(lease))
    return SK_EINVAL;
  const json_t *spec = json_object_get(lease, "spec");
  const json_t *holder = json_object_get(spec, "holderIdentity");
  out->holder = strdup(json_is_string(holder) ? json_string_value(holder) : "");
  const json_t *d = json_object_get(spec, "leaseDurationSeconds");
  out->duration_s = json_is_integer(d) ? (int64_t)json_integer_value(d) : 0;
  out->acquire_ms = parse_time(json_object_get(spec, "acquireTime"));
  out->renew_ms = parse_time(json_object_get(spec, "renewTime"));
  const json_t *tr = json_object_get(spec, "leaseTransitions");
  out->transitions = json_is_integer(tr) ? (int64_t)json_integer_value(tr) : 0;
  const json_t *rv = json_object_get(json_object_get(lease, "metadata"), "resourceVersion");
  if (json_is_string(rv))
    out->rv = strdup(json_string_value(rv));
  if (!out->holder || (json_is_string(rv) && !out->rv)) {
    sk_kube_lease_record_release(out);
    return SK_ENOMEM;
  }
  return 0;
}

void sk_kube_lease_record_release(sk_kube_lease_record_t *r) {
  free(r->holder);
  free(r->rv);
  r->holder = NULL;
  r->rv = NULL;
}

static int record_copy(sk_kube_lease_record_t *dst, const sk_kube_lease_record_t *src) {
  *dst = *src;
  dst->holder = strdup(src->holder ? src->holder : "");
  dst->rv = sk_strdup0(src->rv);
  if (!dst->holder || (src->rv && !dst->rv)) {
    sk_kube_lease_record_release(dst);
    return SK_ENOMEM;
  }
  return 0;
}

int sk_kube_lease_format_micro(int64_t ms, char *out, size_t outlen) {
  if (ms < 0)
    return SK_ERANGE;
  time_t secs = (time_t)(ms / 1000);
  struct tm tm;
  if (!gmtime_r(&secs, &tm))
    return SK_ERANGE;
  /* Go's RFC3339Micro layout wants exactly six fraction digits. */
  int n = snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03d000Z", tm.tm_year + 1900,
                   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                   (int)(ms % 1000));
  return (n < 0 || (size_t)n >= outlen) ? SK_ETOOBIG : 0;
}

static int set_time(json_t *spec, const char *field, int64_t ms) {
  if (ms < 0)
    return 0;
  char buf[40];
  int rc = sk_kube_lease_format_micro(ms, buf, sizeof(buf));
  if (rc < 0)
    return rc;
  return json_object_set_new(spec, field, json_string(buf)) ? SK_ENOMEM : 0;
}

int sk_kube_lease_record_apply(json_t *obj, const sk_kube_lease_record_t *rec) {
  if (!json_is_object(obj))
    return SK_EINVAL;
  json_t *spec = json_object_get(obj, "spec");
  if (!json_is_object(spec)) {
    spec = json_object();
    if (!spec || json_object_set_new(obj, "spec", spec))
      return SK_ENOMEM;
  }
  if (json_object_set_new(spec, "holderIdentity", json_string(rec->holder ? rec->holder : "")) ||
      json_object_set_new(spec, "leaseDurationSeconds", json_integer(rec->duration_s)) ||
      json_object_set_new(spec, "leaseTransitions", json_integer(rec->transitions)))
    return SK_ENOMEM;
  int rc = set_time(spec, "acquireTime", rec->acquire_ms);
  if (rc == 0)
    rc = set_time(spec, "renewTime", rec->renew_ms);
  if (rc < 0)
    return rc;
  if (rec->rv) {
    json_t *meta = json_object_get(obj, "metadata");
    if (!json_is_object(meta)) {
      meta = json_object();
      if (!meta || json_object_set_new(obj, "metadata", meta))
        return SK_ENOMEM;
    }
    if (json_object_set_new(meta, "resourceVersion", json_string(rec->rv)))
      return SK_ENOMEM;
  }
  return 0;
}

/* ---- timing ---- */

int sk_kube_lease_timing_check(sk_kube_lease_timing_t *t, char *err, size_t errlen) {
  if (t->lease_duration_ms == 0)
    t->lease_duration_ms = 15000;
  if (t->renew_deadline_ms == 0)
    t->renew_deadline_ms = 10000;
  if (t->retry_period_ms == 0)
    t->retry_period_ms = 2000;
  const char *why = NULL;
  if (t->lease_duration_ms < 1000 || t->lease_duration_ms % 1000 != 0)
    why = "the lease duration must be a whole number of seconds, at least one";
  else if (t->renew_deadline_ms >= t->lease_duration_ms)
    why = "the lease duration must be longer than the renew deadline";
  else if (t->retry_period_ms <= 0)
    why = "the retry period must be positive";
  else if (t->renew_deadline_ms * 5 <= t->retry_period_ms * 6)
    why = "the renew deadline must be longer than 1.2 times the retry period";
  if (!why)
    return 0;
  if (err && errlen)
    snprintf(err, errlen,
             "leader election: %s (lease duration %" PRId64 " ms, renew deadline %" PRId64
             " ms, retry period %" PRId64 " ms)",
             why, t->lease_duration_ms, t->renew_deadline_ms, t->retry_period_ms);
  return SK_EINVAL;
}

/* ---- the decision core ---- */

void sk_kube_lease_state_init(sk_kube_lease_state_t *st) {
  memset(st, 0, sizeof(*st));
  st->observed.acquire_ms = st->observed.renew_ms = -1;
}

void sk_kube_lease_state_release(sk_kube_lease_state_t *st) {
  sk_kube_lease_record_release(&st->observed);
}

static bool str_eq(const char *a, const char *b) {
  return strcmp(a ? a : "", b ? b : "") == 0;
}

/* Whether b is another version of the record than a. */
static bool record_changed(const sk_kube_lease_record_t *a, const sk_kube_lease_record_t *b) {
  if (a->rv && b->rv)
    return strcmp(a->rv, b->rv) != 0;
  return !str_eq(a->holder, b->holder) || a->renew_ms != b->renew_ms ||
         a->transitions != b->transitions || a->duration_s != b->duration_s;
}

static int set_observed(sk_kube_lease_state_t *st, const sk_kube_lease_record_t *rec,
                        int64_t at_ms) {
  sk_kube_lease_record_t copy;
  int rc = record_copy(&copy, rec);
  if (rc < 0)
    return rc;
  sk_kube_lease_record_release(&st->observed);
  st->observed = copy;
  st->observed_at_ms = at_ms;
  st->exists = true;
  st->known = true;
  return 0;
}

int sk_kube_lease_observe(sk_kube_lease_state_t *st, const sk_kube_lease_record_t *rec,
                          int64_t now_ms) {
  if (!rec) {
    bool changed = !st->known || st->exists;
    sk_kube_lease_record_release(&st->observed);
    st->exists = false;
    st->known = true;
    if (changed)
      st->observed_at_ms = now_ms;
    return changed ? 1 : 0;
  }
  if (st->known && st->exists && !record_changed(&st->observed, rec))
    return 0;
  int rc = set_observed(st, rec, now_ms);
  return rc < 0 ? rc : 1;
}

int sk_kube_lease_wrote(sk_kube_lease_state_t *st, const sk_kube_lease_record_t *rec,
                        int64_t sent_ms) {
  int rc = set_observed(st, rec, sent_ms);
  if (rc < 0)
    return rc;
  st->leading = true;
  st->renewed_at_ms = sent_ms;
  return 0;
}

const char *sk_kube_lease_action_name(sk_kube_lease_action_t a) {
  static const char *const names[] = {"create", "acquire", "renew", "wait", "stop"};
  return (unsigned)a < sizeof(names) / sizeof(names[0]) ? names[a] : "?";
}

void sk_kube_lease_decide(const sk_kube_lease_timing_t *t, const char *identity,
                          const sk_kube_lease_state_t *st, int64_t now_ms, int64_t wall_ms,
                          sk_kube_lease_decision_t *out) {
  memset(out, 0, sizeof(*out));
  out->write.holder = (char *)identity;
  out->write.duration_s = t->lease_duration_ms / 1000;
  out->write.acquire_ms = wall_ms;
  out->write.renew_ms = wall_ms;
  out->write.rv = st->exists ? st->observed.rv : NULL;
  const sk_kube_lease_record_t *o = &st->observed;

  if (st->leading && now_ms - st->renewed_at_ms >= t->renew_deadline_ms) {
    out->action = SK_KUBE_LEASE_STOP;
    out->why = "no renewal within the renew deadline";
    return;
  }
  if (!st->known || !st->exists) {
    /* A leader that finds no Lease must not create it and lead on: another
     * candidate may have created it first. The real API server shows a
     * deletion to a renewal as 409 (the uid precondition of the body) and
     * the re-read as 404, which lands here. */
    out->action = st->leading ? SK_KUBE_LEASE_STOP : SK_KUBE_LEASE_CREATE;
    out->why = st->leading ? "the lease was deleted" : "no lease yet";
    return;
  }
  if (str_eq(o->holder, identity)) {
    out->write.transitions = o->transitions;
    if (st->leading) {
      out->action = SK_KUBE_LEASE_RENEW;
      out->write.acquire_ms = o->acquire_ms;
      out->why = "we hold it";
    } else {
      out->action = SK_KUBE_LEASE_ACQUIRE;
      out->why = "the record still names us";
    }
    return;
  }
  if (st->leading) {
    out->action = SK_KUBE_LEASE_STOP;
    out->why = "another holder took the lease";
    return;
  }
  int64_t dur = o->duration_s > 0 ? o->duration_s * 1000 : 0;
  int64_t expires = st->observed_at_ms + dur;
  if (!o->holder || !o->holder[0] || expires <= now_ms) {
    out->action = SK_KUBE_LEASE_ACQUIRE;
    out->write.transitions = o->transitions + 1;
    out->why = o->holder && o->holder[0] ? "the holder's lease expired" : "nobody holds it";
    return;
  }
  out->action = SK_KUBE_LEASE_WAIT;
  out->expires_ms = expires;
  out->at_ms = now_ms + t->retry_period_ms < expires ? now_ms + t->retry_period_ms : expires;
  out->why = "another holder's lease is valid";
}

int sk_kube_lease_default_identity(char *out, size_t outlen) {
  char host[256];
  size_t hlen = sizeof(host);
  if (uv_os_gethostname(host, &hlen) < 0)
    snprintf(host, sizeof(host), "skeind");
  unsigned char rnd[8];
  if (uv_random(NULL, NULL, rnd, sizeof(rnd), 0, NULL) < 0) {
    /* No kernel randomness: fall back to time and pid, still unique enough
     * for an identity (it only has to differ between replicas). */
    uint64_t s = (uint64_t)sk_time_now_ms() ^ ((uint64_t)uv_os_getpid() << 32);
    memcpy(rnd, &s, sizeof(rnd));
  }
  int n = snprintf(out, outlen, "%s_%02x%02x%02x%02x%02x%02x%02x%02x", host, rnd[0], rnd[1],
                   rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
  return (n < 0 || (size_t)n >= outlen) ? SK_ETOOBIG : 0;
}
