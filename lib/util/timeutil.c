#include "util/timeutil.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/error.h"

int64_t sk_time_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sk_time_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil), so no dependency on the process time zone (timegm is
 * not POSIX). */
static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

int sk_time_format(int64_t ms, char *out, size_t outlen) {
  time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  int frac = (int)(ms - (int64_t)secs * 1000);
  struct tm tm;
  if (!gmtime_r(&secs, &tm))
    return SK_ERANGE;
  int n;
  if (frac)
    n = snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  else
    n = snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return (n < 0 || (size_t)n >= outlen) ? SK_ETOOBIG : 0;
}

static int digits(const char **p, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    char c = (*p)[i];
    if (c < '0' || c > '9')
      return SK_EPARSE;
    v = v * 10 + (c - '0');
  }
  *p += n;
  *out = v;
  return 0;
}

int sk_time_parse(const char *s, int64_t *ms) {
  int y, mo, d, h, mi, se, frac = 0;
  const char *p = s;
  if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
      digits(&p, 2, &d) || (*p != 'T' && *p != 't'))
    return SK_EPARSE;
  p++;
  if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' ||
      digits(&p, 2, &se))
    return SK_EPARSE;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
    return SK_ERANGE;
  if (*p == '.') {
    p++;
    int scale = 100, nd = 0;
    while (*p >= '0' && *p <= '9') {
      if (nd < 3)
        frac += (*p - '0') * scale;
      scale /= 10;
      nd++;
      p++;
    }
    if (nd == 0)
      return SK_EPARSE;
  }
  int64_t off = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int sign = *p == '-' ? -1 : 1, oh, om;
    p++;
    if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om))
      return SK_EPARSE;
    off = sign * (int64_t)(oh * 60 + om) * 60;
  } else {
    return SK_EPARSE;
  }
  if (*p)
    return SK_EPARSE;
  int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off;
  *ms = secs * 1000 + frac;
  return 0;
}

int sk_duration_format(int64_t ms, char *out, size_t outlen) {
  int n;
  if (ms < 0)
    ms = 0;
  if (ms < 1000)
    n = snprintf(out, outlen, "%dms", (int)ms);
  else if (ms < 60000)
    n = snprintf(out, outlen, "%.1fs", (double)ms / 1000.0);
  else if (ms < 3600000)
    n = snprintf(out, outlen, "%dm%02ds", (int)(ms / 60000), (int)(ms / 1000 % 60));
  else
    n = snprintf(out, outlen, "%dh%02dm", (int)(ms / 3600000), (int)(ms / 60000 % 60));
  return (n < 0 || (size_t)n >= outlen) ? SK_ETOOBIG : 0;
}
