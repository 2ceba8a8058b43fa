/*
 * The process-wide logger. Lines are built in a fixed buffer and written
 * with one fwrite, so that a line from skeind is never interleaved with
 * another writer's half line; a message longer than the buffer is cut and
 * says so.
 */
#include "util/log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/timeutil.h"

#define SK_LOG_LINE_MAX 4096

static sk_log_format_t g_format = SK_LOG_TEXT;
static int g_verbosity = 0;
static FILE *g_out = NULL;

void sk_log_setup(sk_log_format_t format, int verbosity, FILE *out) {
  g_format = format;
  g_verbosity = verbosity;
  g_out = out;
}

int sk_log_format_parse(const char *s, sk_log_format_t *out) {
  if (strcmp(s, "text") == 0)
    *out = SK_LOG_TEXT;
  else if (strcmp(s, "json") == 0)
    *out = SK_LOG_JSON;
  else
    return SK_EINVAL;
  return 0;
}

bool sk_log_enabled(int n) { return n <= g_verbosity; }

/* The format attribute lets the compiler check the callers' formats, which
 * is what clang's -Wformat-nonliteral asks for here. */
static void emit(const char *level, int v, const char *logger, const char *fmt, va_list ap)
    SK_LOG_PRINTF(4, 0);

static void emit(const char *level, int v, const char *logger, const char *fmt, va_list ap) {
  char msg[SK_LOG_LINE_MAX];
  int n = vsnprintf(msg, sizeof(msg), fmt, ap);
  if (n < 0)
    return;
  if ((size_t)n >= sizeof(msg)) {
    static const char cut[] = " ... (cut)";
    memcpy(msg + sizeof(msg) - sizeof(cut), cut, sizeof(cut));
  }
  char ts[40];
  sk_time_format(sk_time_now_ms(), ts, sizeof(ts));
  FILE *out = g_out ? g_out : stderr;
  if (g_format == SK_LOG_JSON) {
    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "ts", ts, "level", level, "logger",
                          logger ? logger : "", "msg", msg);
    if (o && v > 0)
      json_object_set_new(o, "v", json_integer(v));
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (text) {
      fprintf(out, "%s\n", text);
      free(text);
    }
    json_decref(o);
  } else {
    char line[SK_LOG_LINE_MAX + 128];
    int len = snprintf(line, sizeof(line), "%c %s %s: %s\n", level[0] - 'a' + 'A', ts,
                       logger ? logger : "-", msg);
    if (len > 0)
      fwrite(line, 1, (size_t)len < sizeof(line) ? (size_t)len : sizeof(line) - 1, out);
  }
  fflush(out);
}

#define SK_LOG_FN(name, level)                                                                   \
  void name(const char *logger, const char *fmt, ...) {                                          \
    va_list ap;                                                                                  \
    va_start(ap, fmt);                                                                           \
    emit(level, 0, logger, fmt, ap);                                                             \
    va_end(ap);                                                                                  \
  }

SK_LOG_FN(sk_log_error, "error")
SK_LOG_FN(sk_log_warn, "warning")
SK_LOG_FN(sk_log_info, "info")

void sk_log_v(int n, const char *logger, const char *fmt, ...) {
  if (!sk_log_enabled(n))
    return;
  va_list ap;
  va_start(ap, fmt);
  emit(n >= 2 ? "debug" : "info", n, logger, fmt, ap);
  va_end(ap);
}
