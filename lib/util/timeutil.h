/*
 * Time helpers. skein keeps times as int64 milliseconds since the Unix epoch
 * (wall clock) in status, and uses the monotonic clock only for measuring
 * intervals inside one process.
 */
#ifndef SK_UTIL_TIMEUTIL_H
#define SK_UTIL_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Wall-clock milliseconds since the Unix epoch. */
int64_t sk_time_now_ms(void);
/* Monotonic milliseconds, for durations within one process. */
int64_t sk_time_mono_ms(void);
/* Formats ms as RFC 3339 UTC, "2026-11-22T07:32:30Z", with ".123" before the
 * Z when the milliseconds are not zero. out must hold at least 32 bytes. */
int sk_time_format(int64_t ms, char *out, size_t outlen);
/* Parses the RFC 3339 forms Kubernetes writes (Z or ±hh:mm offset, optional
 * fraction) into ms since the epoch. */
int sk_time_parse(const char *s, int64_t *ms);
/* Formats a duration for people: "850ms", "12.3s", "4m05s", "2h03m". */
int sk_duration_format(int64_t ms, char *out, size_t outlen);

#endif
