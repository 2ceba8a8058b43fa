/*
 * Diagnostics: a list of problems found in user input, each naming where.
 *
 * Validation reports every problem rather than stopping at the first, so a
 * user fixes a file in one pass. Each diagnostic carries the file, the
 * 1-based line and column (0 when unknown, e.g. for JSON from the API
 * server), the field path (`spec.steps[2].pod.image`, "" for the whole
 * document) and a message. The printed form is
 * `FILE:LINE:COL: PATH: message`, the shape compilers use, so editors can
 * jump to it.
 */
#ifndef SK_UTIL_DIAG_H
#define SK_UTIL_DIAG_H

#include <stddef.h>
#include <stdio.h>

#include "util/buf.h"

typedef struct sk_diag {
  char *file;
  int line;
  int col;
  char *path;
  char *msg;
} sk_diag_t;

typedef struct sk_diags {
  sk_diag_t *items;
  size_t len;
  size_t cap;
  size_t max;      /* further diagnostics are counted, not stored */
  size_t dropped;  /* how many were not stored because of max */
} sk_diags_t;

/* Holds at most 1000 diagnostics; a pathological file cannot exhaust memory. */
#define SK_DIAGS_MAX 1000

void sk_diags_init(sk_diags_t *d);
void sk_diags_release(sk_diags_t *d);
/* Adds one diagnostic; file and path may be NULL. Copies every string. */
int sk_diags_add(sk_diags_t *d, const char *file, int line, int col, const char *path,
                 const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Sorts by file, line, column, then insertion order (stable). */
void sk_diags_sort(sk_diags_t *d);
/* Formats one diagnostic as `FILE:LINE:COL: PATH: message` (parts that are
 * unknown are left out) into out. */
int sk_diag_format(const sk_diag_t *dg, sk_buf_t *out);
/* Prints every diagnostic, one per line, and a line about dropped ones. */
void sk_diags_print(const sk_diags_t *d, FILE *fp);

#endif
