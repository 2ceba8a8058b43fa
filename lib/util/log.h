/*
 * Logging for the daemon and its libraries, in the two formats Kubernetes
 * controllers use: text (one line, a level letter, a timestamp, the logger
 * name, the message) and JSON (one object per line, for log pipelines).
 *
 * Levels: errors and warnings always print; info prints at verbosity 0 and
 * up; sk_log_v(n, ...) prints when the verbosity set with -v is at least n
 * (1 = state transitions, 2 = per-request detail, as klog's V(2)). Nothing
 * that may carry a credential (headers, tokens, secret values) is ever
 * passed to these functions: callers log names and codes, not payloads.
 *
 * The logger is process-wide and not thread-safe; skeind logs only from its
 * loop thread.
 */
#ifndef SK_UTIL_LOG_H
#define SK_UTIL_LOG_H

#include <stdbool.h>
#include <stdio.h>

typedef enum { SK_LOG_TEXT, SK_LOG_JSON } sk_log_format_t;

/* Sets the format, the verbosity and the stream (NULL = stderr). */
void sk_log_setup(sk_log_format_t format, int verbosity, FILE *out);
/* Parses "text" or "json". */
int sk_log_format_parse(const char *s, sk_log_format_t *out);
/* True when a message at verbosity n would print (to skip costly formatting). */
bool sk_log_enabled(int n);

#if defined(__GNUC__)
#define SK_LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SK_LOG_PRINTF(a, b)
#endif

void sk_log_error(const char *logger, const char *fmt, ...) SK_LOG_PRINTF(2, 3);
void sk_log_warn(const char *logger, const char *fmt, ...) SK_LOG_PRINTF(2, 3);
void sk_log_info(const char *logger, const char *fmt, ...) SK_LOG_PRINTF(2, 3);
void sk_log_v(int n, const char *logger, const char *fmt, ...) SK_LOG_PRINTF(3, 4);

#endif
