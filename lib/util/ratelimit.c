#include "util/ratelimit.h"

#include <math.h>

#include "util/error.h"

/* Bounds that keep every sum below in int64 range: one token per ~11.6 days
 * at the slowest, a full bucket at most ~3 years ahead, times up to the year
 * 2262 in nanoseconds, and a debt that saturates instead of wrapping. */
#define MAX_INTERVAL_NS 1000000000000000ll /* 1e15 */
#define MAX_BURST_NS 100000000000000000ll  /* 1e17 */
#define MAX_TAT_NS (INT64_MAX / 4)

static int64_t to_ns(int64_t ms) {
  if (ms > MAX_TAT_NS / 1000000)
    return MAX_TAT_NS;
  if (ms < 0)
    return 0;
  return ms * 1000000;
}

/* Rounds a positive nanosecond wait up to whole milliseconds, so a caller
 * that sleeps that long always finds the token there. */
static int64_t ceil_ms(int64_t ns) { return ns <= 0 ? 0 : (ns + 999999) / 1000000; }

int sk_ratelimit_init(sk_ratelimit_t *rl, double rate, int64_t burst, int64_t now_ms) {
  rl->interval_ns = 0;
  rl->burst_ns = 0;
  rl->tat_ns = to_ns(now_ms);
  if (!(rate > 0) || isinf(rate))
    return 0; /* unlimited */
  if (burst < 1)
    return SK_EINVAL;
  double iv = 1e9 / rate;
  if (!(iv <= (double)MAX_INTERVAL_NS))
    return SK_EINVAL;
  int64_t interval = (int64_t)llround(iv);
  if (interval < 1)
    interval = 1;
  if (burst > MAX_BURST_NS / interval)
    return SK_EINVAL;
  rl->interval_ns = interval;
  rl->burst_ns = burst * interval;
  return 0;
}

/* The time the bucket's state is measured from: the later of now and the
 * theoretical full time. A clock that stepped back sees no tokens earned. */
static int64_t base_ns(const sk_ratelimit_t *rl, int64_t now_ns) {
  return rl->tat_ns > now_ns ? rl->tat_ns : now_ns;
}

bool sk_ratelimit_take(sk_ratelimit_t *rl, int64_t now_ms) {
  if (rl->interval_ns == 0)
    return true;
  int64_t now = to_ns(now_ms);
  int64_t next = base_ns(rl, now) + rl->interval_ns;
  if (next - now > rl->burst_ns)
    return false;
  rl->tat_ns = next;
  return true;
}

int64_t sk_ratelimit_reserve(sk_ratelimit_t *rl, int64_t now_ms) {
  if (rl->interval_ns == 0)
    return 0;
  int64_t now = to_ns(now_ms);
  int64_t next = base_ns(rl, now) + rl->interval_ns;
  if (next > MAX_TAT_NS)
    next = MAX_TAT_NS;
  rl->tat_ns = next;
  return ceil_ms(next - now - rl->burst_ns);
}

int64_t sk_ratelimit_when(const sk_ratelimit_t *rl, int64_t now_ms) {
  if (rl->interval_ns == 0)
    return 0;
  int64_t now = to_ns(now_ms);
  return ceil_ms(base_ns(rl, now) + rl->interval_ns - now - rl->burst_ns);
}

int64_t sk_ratelimit_tokens(const sk_ratelimit_t *rl, int64_t now_ms) {
  if (rl->interval_ns == 0)
    return INT64_MAX;
  int64_t now = to_ns(now_ms);
  int64_t avail = now + rl->burst_ns - base_ns(rl, now);
  return avail <= 0 ? 0 : avail / rl->interval_ns;
}
