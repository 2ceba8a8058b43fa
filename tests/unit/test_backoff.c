/*
 * Tests for util/backoff (exponential delays, cap, jitter, determinism) and
 * util/ratelimit (token bucket on a fake clock).
 */
#include <math.h>
#include <stdint.h>

#include "sk_test.h"
#include "util/backoff.h"
#include "util/error.h"
#include "util/ratelimit.h"

TEST(delay_grows_and_caps) {
  /* The workqueue's per-key limiter: 5 ms * 2^n capped at 1000 s. */
  CHECK_INT(sk_backoff_delay(5, 2.0, 1000000, 0), 5);
  CHECK_INT(sk_backoff_delay(5, 2.0, 1000000, 1), 10);
  CHECK_INT(sk_backoff_delay(5, 2.0, 1000000, 10), 5120);
  CHECK_INT(sk_backoff_delay(5, 2.0, 1000000, 17), 655360);
  CHECK_INT(sk_backoff_delay(5, 2.0, 1000000, 18), 1000000);
  CHECK_INT(sk_backoff_delay(5, 2.0, 1000000, 1000), 1000000);
  CHECK_INT(sk_backoff_delay(5, 2.0, 1000000, UINT32_MAX), 1000000);
  /* A slow factor still reaches the cap without looping for ages. */
  CHECK_INT(sk_backoff_delay(1000, 1.0001, 30000, UINT32_MAX), 30000);
  CHECK_INT(sk_backoff_delay(800, 1.5, 30000, 2), 1800);
  /* Factor 1 and base >= cap are flat. */
  CHECK_INT(sk_backoff_delay(7, 1.0, 100, 50), 7);
  CHECK_INT(sk_backoff_delay(100, 2.0, 100, 3), 100);
}

TEST(init_rejects_nonsense) {
  sk_backoff_t b;
  CHECK_INT(sk_backoff_init(&b, 0, 10, 2.0, SK_JITTER_NONE, 1), SK_EINVAL);
  CHECK_INT(sk_backoff_init(&b, 10, 5, 2.0, SK_JITTER_NONE, 1), SK_EINVAL);
  CHECK_INT(sk_backoff_init(&b, 10, 50, 0.5, SK_JITTER_NONE, 1), SK_EINVAL);
  CHECK_INT(sk_backoff_init(&b, 10, 50, INFINITY, SK_JITTER_NONE, 1), SK_EINVAL);
  CHECK_INT(sk_backoff_init(&b, 10, 50, 2.0, (sk_jitter_t)9, 1), SK_EINVAL);
  CHECK_INT(sk_backoff_init(&b, 10, 50, 2.0, SK_JITTER_NONE, 1), 0);
}

TEST(next_without_jitter_and_reset) {
  /* The reflector's schedule: 800 ms doubling to 30 s. */
  sk_backoff_t b;
  REQUIRE(sk_backoff_init(&b, 800, 30000, 2.0, SK_JITTER_NONE, 0) == 0);
  int64_t want[] = {800, 1600, 3200, 6400, 12800, 25600, 30000, 30000};
  for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
    CHECK_INT(sk_backoff_next(&b), want[i]);
  CHECK_INT(b.attempt, 8);
  sk_backoff_reset(&b);
  CHECK_INT(b.attempt, 0);
  CHECK_INT(sk_backoff_next(&b), 800);
}

TEST(full_jitter_in_range_and_spread) {
  sk_backoff_t b;
  REQUIRE(sk_backoff_init(&b, 1000, 1000, 2.0, SK_JITTER_FULL, 42) == 0);
  int64_t lo = INT64_MAX, hi = -1, sum = 0;
  int n = 4000;
  for (int i = 0; i < n; i++) {
    int64_t d = sk_backoff_next(&b);
    if (d < 0 || d > 1000)
      FAILF("full jitter gave %lld, want within [0, 1000]", (long long)d);
    lo = d < lo ? d : lo;
    hi = d > hi ? d : hi;
    sum += d;
  }
  /* Uniform on [0, 1000]: the extremes are approached and the mean is near
   * 500 (the standard error over 4000 draws is about 4.6). */
  CHECK(lo < 20);
  CHECK(hi > 980);
  int64_t mean = sum / n;
  if (mean < 470 || mean > 530)
    FAILF("full jitter mean %lld, want about 500", (long long)mean);
}

TEST(equal_jitter_never_below_half) {
  sk_backoff_t b;
  REQUIRE(sk_backoff_init(&b, 1001, 1001, 2.0, SK_JITTER_EQUAL, 7) == 0);
  int64_t lo = INT64_MAX, hi = -1;
  for (int i = 0; i < 4000; i++) {
    int64_t d = sk_backoff_next(&b);
    if (d < 501 || d > 1001)
      FAILF("equal jitter gave %lld, want within [501, 1001]", (long long)d);
    lo = d < lo ? d : lo;
    hi = d > hi ? d : hi;
  }
  CHECK(lo < 520);
  CHECK(hi > 980);
}

TEST(jitter_is_deterministic_per_seed) {
  sk_backoff_t a, b, c;
  REQUIRE(sk_backoff_init(&a, 100, 100000, 2.0, SK_JITTER_FULL, 1234) == 0);
  REQUIRE(sk_backoff_init(&b, 100, 100000, 2.0, SK_JITTER_FULL, 1234) == 0);
  REQUIRE(sk_backoff_init(&c, 100, 100000, 2.0, SK_JITTER_FULL, 1235) == 0);
  int differ = 0;
  for (int i = 0; i < 20; i++) {
    int64_t x = sk_backoff_next(&a), y = sk_backoff_next(&b), z = sk_backoff_next(&c);
    CHECK_INT(x, y);
    differ += x != z;
  }
  CHECK(differ > 10);
}

TEST(rand_range_bounds) {
  uint64_t s = 0;
  CHECK_INT(sk_rand_range(&s, 0), 0);
  CHECK_INT(sk_rand_range(&s, -5), 0);
  int seen[4] = {0};
  for (int i = 0; i < 1000; i++) {
    int64_t v = sk_rand_range(&s, 3);
    if (v < 0 || v > 3) {
      FAILF("sk_rand_range(3) gave %lld", (long long)v);
      continue;
    }
    seen[v]++;
  }
  for (int i = 0; i < 4; i++)
    CHECK(seen[i] > 150);
  int64_t big = sk_rand_range(&s, INT64_MAX);
  CHECK(big >= 0);
}

/* ---- token bucket ---- */

TEST(bucket_burst_then_rate) {
  /* The workqueue's global bucket: 10 per second, burst 100. */
  sk_ratelimit_t rl;
  int64_t now = 1700000000000;
  REQUIRE(sk_ratelimit_init(&rl, 10, 100, now) == 0);
  CHECK_INT(sk_ratelimit_tokens(&rl, now), 100);
  for (int i = 0; i < 100; i++) {
    if (!sk_ratelimit_take(&rl, now))
      FAILF("take %d of the burst refused", i);
  }
  CHECK_INT(sk_ratelimit_tokens(&rl, now), 0);
  CHECK(!sk_ratelimit_take(&rl, now));
  CHECK_INT(sk_ratelimit_when(&rl, now), 100);
  CHECK(!sk_ratelimit_take(&rl, now + 99));
  CHECK_INT(sk_ratelimit_when(&rl, now + 99), 1);
  CHECK(sk_ratelimit_take(&rl, now + 100));
  CHECK(!sk_ratelimit_take(&rl, now + 100));
  /* After a long quiet spell the bucket is full again, never fuller. */
  CHECK_INT(sk_ratelimit_tokens(&rl, now + 3600000), 100);
}

TEST(bucket_reserve_borrows) {
  sk_ratelimit_t rl;
  REQUIRE(sk_ratelimit_init(&rl, 10, 100, 0) == 0);
  for (int i = 0; i < 100; i++)
    CHECK_INT(sk_ratelimit_reserve(&rl, 0), 0);
  /* Each further reservation waits one more interval, as Go's Reserve does. */
  CHECK_INT(sk_ratelimit_reserve(&rl, 0), 100);
  CHECK_INT(sk_ratelimit_reserve(&rl, 0), 200);
  CHECK_INT(sk_ratelimit_reserve(&rl, 50), 250);
  CHECK_INT(sk_ratelimit_tokens(&rl, 50), 0);
  /* take refuses while in debt and spends nothing. */
  CHECK(!sk_ratelimit_take(&rl, 250));
  CHECK_INT(sk_ratelimit_when(&rl, 250), 150);
  /* The debt is repaid by time alone. */
  CHECK_INT(sk_ratelimit_tokens(&rl, 400 + 10000), 100);
}

TEST(bucket_slow_refill) {
  /* The event spam filter: burst 25, one token per five minutes. */
  sk_ratelimit_t rl;
  REQUIRE(sk_ratelimit_init(&rl, 1.0 / 300, 25, 0) == 0);
  for (int i = 0; i < 25; i++)
    CHECK(sk_ratelimit_take(&rl, 1000));
  CHECK(!sk_ratelimit_take(&rl, 1000));
  CHECK_INT(sk_ratelimit_when(&rl, 1000), 300000);
  CHECK(!sk_ratelimit_take(&rl, 300999));
  CHECK(sk_ratelimit_take(&rl, 301000));
  CHECK(!sk_ratelimit_take(&rl, 301000));
}

TEST(bucket_clock_step_back_earns_nothing) {
  sk_ratelimit_t rl;
  REQUIRE(sk_ratelimit_init(&rl, 1, 2, 10000) == 0);
  CHECK(sk_ratelimit_take(&rl, 10000));
  CHECK(sk_ratelimit_take(&rl, 10000));
  CHECK(!sk_ratelimit_take(&rl, 5000));
  CHECK(!sk_ratelimit_take(&rl, 10999));
  CHECK(sk_ratelimit_take(&rl, 11000));
}

TEST(bucket_unlimited_and_invalid) {
  sk_ratelimit_t rl;
  REQUIRE(sk_ratelimit_init(&rl, 0, 0, 0) == 0);
  for (int i = 0; i < 1000; i++)
    CHECK(sk_ratelimit_take(&rl, 0));
  CHECK_INT(sk_ratelimit_reserve(&rl, 0), 0);
  CHECK_INT(sk_ratelimit_when(&rl, 0), 0);
  CHECK_INT(sk_ratelimit_init(&rl, 5, 0, 0), SK_EINVAL);
  CHECK_INT(sk_ratelimit_init(&rl, 1e-12, 1, 0), SK_EINVAL);
  CHECK_INT(sk_ratelimit_init(&rl, 1.0 / 3600, 1000000000, 0), SK_EINVAL);
  /* Very high rates round to one nanosecond per token, not to "unlimited". */
  REQUIRE(sk_ratelimit_init(&rl, 1e12, 1, 0) == 0);
  CHECK_INT(rl.interval_ns, 1);
}

TEST(bucket_debt_saturates) {
  sk_ratelimit_t rl;
  REQUIRE(sk_ratelimit_init(&rl, 1.0 / 86400, 1, 0) == 0);
  int64_t last = 0;
  for (int i = 0; i < 200000; i++) {
    int64_t d = sk_ratelimit_reserve(&rl, 0);
    if (d < last) {
      FAILF("reserve %d went down: %lld after %lld", i, (long long)d, (long long)last);
      break;
    }
    last = d;
  }
  CHECK(last > 0);
}

int main(void) {
  RUN(delay_grows_and_caps);
  RUN(init_rejects_nonsense);
  RUN(next_without_jitter_and_reset);
  RUN(full_jitter_in_range_and_spread);
  RUN(equal_jitter_never_below_half);
  RUN(jitter_is_deterministic_per_seed);
  RUN(rand_range_bounds);
  RUN(bucket_burst_then_rate);
  RUN(bucket_reserve_borrows);
  RUN(bucket_slow_refill);
  RUN(bucket_clock_step_back_earns_nothing);
  RUN(bucket_unlimited_and_invalid);
  RUN(bucket_debt_saturates);
  return TEST_DONE();
}
