#include "util/backoff.h"

#include <math.h>

#include "util/error.h"

uint64_t sk_rand_next(uint64_t *state) {
  /* splitmix64 (Steele, Lea, Flood): every seed, 0 included, gives a full
   * period sequence, which a plain xorshift would not. */
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

int64_t sk_rand_range(uint64_t *state, int64_t bound) {
  if (bound <= 0)
    return 0;
  uint64_t n = (uint64_t)bound + 1; /* values in [0, bound]; cannot overflow */
  /* Rejection sampling: drawing from the largest multiple of n below 2^64
   * keeps every value equally likely (a bare modulo would favour small ones). */
  uint64_t limit = UINT64_MAX - (UINT64_MAX % n);
  uint64_t r;
  do {
    r = sk_rand_next(state);
  } while (r >= limit);
  return (int64_t)(r % n);
}

int sk_backoff_init(sk_backoff_t *b, int64_t base_ms, int64_t cap_ms, double factor,
                    sk_jitter_t jitter, uint64_t seed) {
  if (base_ms <= 0 || cap_ms < base_ms || !isfinite(factor) || factor < 1.0)
    return SK_EINVAL;
  if (jitter != SK_JITTER_NONE && jitter != SK_JITTER_FULL && jitter != SK_JITTER_EQUAL)
    return SK_EINVAL;
  b->base_ms = base_ms;
  b->cap_ms = cap_ms;
  b->factor = factor;
  b->jitter = jitter;
  b->attempt = 0;
  b->rng = seed;
  return 0;
}

int64_t sk_backoff_delay(int64_t base_ms, double factor, int64_t cap_ms, uint32_t attempt) {
  if (base_ms >= cap_ms)
    return cap_ms;
  if (attempt == 0 || !(factor > 1.0))
    return base_ms;
  /* Compare in the log domain first: base * factor^attempt overflows a
   * double to inf long before attempt runs out, and the cap is usually
   * reached after a few dozen retries anyway. */
  if ((double)attempt * log(factor) >= log((double)cap_ms / (double)base_ms))
    return cap_ms;
  double d = (double)base_ms * pow(factor, (double)attempt);
  return d >= (double)cap_ms ? cap_ms : (int64_t)llround(d);
}

int64_t sk_backoff_jitter(int64_t delay_ms, sk_jitter_t jitter, uint64_t *rng) {
  if (delay_ms <= 0)
    return 0;
  switch (jitter) {
  case SK_JITTER_FULL:
    return sk_rand_range(rng, delay_ms);
  case SK_JITTER_EQUAL: {
    int64_t half = delay_ms / 2;
    return (delay_ms - half) + sk_rand_range(rng, half);
  }
  case SK_JITTER_NONE:
  default:
    return delay_ms;
  }
}

int64_t sk_backoff_next(sk_backoff_t *b) {
  int64_t d = sk_backoff_delay(b->base_ms, b->factor, b->cap_ms, b->attempt);
  if (b->attempt < UINT32_MAX)
    b->attempt++;
  return sk_backoff_jitter(d, b->jitter, &b->rng);
}

void sk_backoff_reset(sk_backoff_t *b) { b->attempt = 0; }
