#include "util/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

void sk_buf_init(sk_buf_t *b, size_t max) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->max = max;
}

void sk_buf_release(sk_buf_t *b) {
  free(b->data);
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
}

void sk_buf_reset(sk_buf_t *b) {
  b->len = 0;
  if (b->data)
    b->data[0] = '\0';
}

/* Makes room for extra more bytes plus the terminating NUL. */
static int buf_reserve(sk_buf_t *b, size_t extra) {
  if (extra > b->max - b->len)
    return SK_ETOOBIG;
  size_t need = b->len + extra + 1;
  if (need <= b->cap)
    return 0;
  size_t ncap = b->cap ? b->cap : 64;
  while (ncap < need)
    ncap *= 2;
  char *p = realloc(b->data, ncap);
  if (!p)
    return SK_ENOMEM;
  b->data = p;
  b->cap = ncap;
  return 0;
}

int sk_buf_append(sk_buf_t *b, const void *p, size_t len) {
  int rc = buf_reserve(b, len);
  if (rc < 0)
    return rc;
  if (len)
    memcpy(b->data + b->len, p, len);
  b->len += len;
  b->data[b->len] = '\0';
  return 0;
}

int sk_buf_puts(sk_buf_t *b, const char *s) { return sk_buf_append(b, s, strlen(s)); }

int sk_buf_putc(sk_buf_t *b, char c) { return sk_buf_append(b, &c, 1); }

int sk_buf_vprintf(sk_buf_t *b, const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0)
    return SK_EINVAL;
  int rc = buf_reserve(b, (size_t)n);
  if (rc < 0)
    return rc;
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  b->len += (size_t)n;
  return 0;
}

int sk_buf_printf(sk_buf_t *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = sk_buf_vprintf(b, fmt, ap);
  va_end(ap);
  return rc;
}

char *sk_buf_steal(sk_buf_t *b) {
  char *p = b->data;
  if (!p)
    p = calloc(1, 1);
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  return p;
}

int sk_array_grow(void **arr, size_t *cap, size_t n, size_t size) {
  if (n < *cap)
    return 0;
  size_t ncap = *cap ? *cap * 2 : 8;
  if (ncap < *cap || ncap > SIZE_MAX / size)
    return SK_ENOMEM;
  void *a = realloc(*arr, ncap * size);
  if (!a)
    return SK_ENOMEM;
  *arr = a;
  *cap = ncap;
  return 0;
}
