/*
 * Exponential backoff with a cap and optional jitter.
 *
 * The delay before retry n (n = 0 for the first retry) is
 * base * factor^n, never more than cap. Jitter spreads retries of many
 * clients so they do not hit a recovering server in lockstep:
 *
 *   SK_JITTER_NONE   the delay itself;
 *   SK_JITTER_FULL   uniform in [0, delay]   (AWS "full jitter");
 *   SK_JITTER_EQUAL  delay/2 + uniform in [0, delay/2] ("equal jitter": never
 *                    less than half, so a retry storm still thins out).
 *
 * The random numbers come from a small generator whose state lives in the
 * sk_backoff_t, seeded by the caller, so tests see the same sequence every
 * run. Nothing here reads a clock or allocates.
 */
#ifndef SK_UTIL_BACKOFF_H
#define SK_UTIL_BACKOFF_H

#include <stdint.h>

typedef enum { SK_JITTER_NONE = 0, SK_JITTER_FULL, SK_JITTER_EQUAL } sk_jitter_t;

typedef struct sk_backoff {
  int64_t base_ms;    /* delay of the first retry, > 0 */
  int64_t cap_ms;     /* no delay is longer than this, >= base_ms */
  double factor;      /* growth per retry, >= 1 */
  sk_jitter_t jitter;
  uint32_t attempt;   /* retries handed out since the last reset */
  uint64_t rng;       /* generator state (see sk_rand_next) */
} sk_backoff_t;

/* Sets up b; attempt starts at 0. seed picks the jitter sequence (any value,
 * 0 included). SK_EINVAL when base_ms <= 0, cap_ms < base_ms or
 * factor < 1 (or not finite). */
int sk_backoff_init(sk_backoff_t *b, int64_t base_ms, int64_t cap_ms, double factor,
                    sk_jitter_t jitter, uint64_t seed);

/* Returns the delay for the next retry (with jitter) and counts the retry. */
int64_t sk_backoff_next(sk_backoff_t *b);

/* Starts over at the base delay (after a success, or a long healthy spell).
 * The generator state is kept so a reset does not replay the same jitter. */
void sk_backoff_reset(sk_backoff_t *b);

/* The delay without jitter for retry number attempt: base * factor^attempt
 * capped at cap. Pure; saturates instead of overflowing for any attempt. */
int64_t sk_backoff_delay(int64_t base_ms, double factor, int64_t cap_ms, uint32_t attempt);

/* Applies jitter to delay_ms with the generator state *rng. */
int64_t sk_backoff_jitter(int64_t delay_ms, sk_jitter_t jitter, uint64_t *rng);

/* Next 64 random bits of a splitmix64 generator with state *state (any
 * starting value). Fast and well spread; not for secrets. */
uint64_t sk_rand_next(uint64_t *state);

/* A uniform integer in [0, bound] (inclusive) from *state; 0 when bound <= 0. */
int64_t sk_rand_range(uint64_t *state, int64_t bound);

#endif
