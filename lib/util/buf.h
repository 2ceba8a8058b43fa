/*
 * A growable byte buffer with a hard cap.
 *
 * Every buffer that grows from outside input (files, process output, watch
 * streams) has a maximum size, so that a hostile or broken peer cannot make
 * skein allocate without bound. The data is always NUL-terminated so it can
 * be used as a C string when it holds text.
 */
#ifndef SK_UTIL_BUF_H
#define SK_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct sk_buf {
  char *data;   /* NUL-terminated; NULL until the first append */
  size_t len;   /* bytes used, not counting the terminating NUL */
  size_t cap;   /* bytes allocated */
  size_t max;   /* hard cap on len; appends past it fail with SK_ETOOBIG */
} sk_buf_t;

/* Initialises an empty buffer that may hold at most max bytes. */
void sk_buf_init(sk_buf_t *b, size_t max);
/* Frees the storage; the buffer may be initialised again afterwards. */
void sk_buf_release(sk_buf_t *b);
/* Empties the buffer, keeping its storage. */
void sk_buf_reset(sk_buf_t *b);
/* Appends len bytes; SK_ETOOBIG leaves the buffer unchanged. */
int sk_buf_append(sk_buf_t *b, const void *p, size_t len);
int sk_buf_puts(sk_buf_t *b, const char *s);
int sk_buf_putc(sk_buf_t *b, char c);
int sk_buf_printf(sk_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int sk_buf_vprintf(sk_buf_t *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Hands the storage to the caller (free() it) and empties the buffer. Never
 * returns NULL unless allocation fails: an empty buffer yields "". */
char *sk_buf_steal(sk_buf_t *b);

/* Makes room in a growable array for item n: when n >= *cap, doubles the
 * capacity (8 items at first) with realloc. *arr and *cap change only on
 * success; SK_ENOMEM leaves the array as it was. */
int sk_array_grow(void **arr, size_t *cap, size_t n, size_t size);

#endif
