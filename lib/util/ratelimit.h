/*
 * A token bucket: on average `rate` events per second, with bursts of up to
 * `burst` events after a quiet spell.
 *
 * The bucket holds at most burst tokens and earns one every 1/rate seconds;
 * each event spends one. It is pure: every call takes the current time in
 * milliseconds from the caller (any clock that does not run backwards much;
 * a step back is treated as no time passing), so tests drive it with a fake
 * clock.
 *
 * Internally it is the equivalent "generic cell rate" form: one timestamp,
 * the theoretical time at which the bucket would be full again, kept in
 * integer nanoseconds so results are exact and repeatable.
 *
 * Two ways to spend a token:
 *   sk_ratelimit_take     only when one is there now (drop or refuse otherwise);
 *   sk_ratelimit_reserve  always, possibly borrowing from the future, and
 *                         returns how long the caller must wait before acting
 *                         (Go's rate.Limiter Reserve().Delay(), which
 *                         client-go's workqueue uses).
 */
#ifndef SK_UTIL_RATELIMIT_H
#define SK_UTIL_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

typedef struct sk_ratelimit {
  int64_t interval_ns; /* time to earn one token; 0 means no limit */
  int64_t burst_ns;    /* burst * interval_ns: how far ahead the full bucket reaches */
  int64_t tat_ns;      /* when the bucket is full again if nothing else is spent */
} sk_ratelimit_t;

/* Sets up a full bucket. rate is in events per second and may be fractional
 * (1.0/300 is one per five minutes); rate <= 0 or infinite means unlimited.
 * SK_EINVAL when burst < 1 for a limited bucket, or when one token would take
 * longer than 100 years. */
int sk_ratelimit_init(sk_ratelimit_t *rl, double rate, int64_t burst, int64_t now_ms);

/* Spends one token if one is available at now_ms and returns true;
 * otherwise spends nothing and returns false. */
bool sk_ratelimit_take(sk_ratelimit_t *rl, int64_t now_ms);

/* Spends one token unconditionally and returns the milliseconds (rounded up)
 * until that token is really earned: 0 when one was available. */
int64_t sk_ratelimit_reserve(sk_ratelimit_t *rl, int64_t now_ms);

/* Milliseconds (rounded up) until a token is available, spending nothing. */
int64_t sk_ratelimit_when(const sk_ratelimit_t *rl, int64_t now_ms);

/* Whole tokens in the bucket at now_ms (0 when in debt). */
int64_t sk_ratelimit_tokens(const sk_ratelimit_t *rl, int64_t now_ms);

#endif
