#include "util/diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

void sk_diags_init(sk_diags_t *d) {
  memset(d, 0, sizeof(*d));
  d->max = SK_DIAGS_MAX;
}

void sk_diags_release(sk_diags_t *d) {
  for (size_t i = 0; i < d->len; i++) {
    free(d->items[i].file);
    free(d->items[i].path);
    free(d->items[i].msg);
  }
  free(d->items);
  memset(d, 0, sizeof(*d));
  d->max = SK_DIAGS_MAX;
}

int sk_diags_add(sk_diags_t *d, const char *file, int line, int col, const char *path,
                 const char *fmt, ...) {
  if (d->len >= d->max) {
    d->dropped++;
    return 0;
  }
  if (d->len == d->cap) {
    size_t ncap = d->cap ? d->cap * 2 : 8;
    sk_diag_t *p = realloc(d->items, ncap * sizeof(*p));
    if (!p)
      return SK_ENOMEM;
    d->items = p;
    d->cap = ncap;
  }
  sk_buf_t msg;
  sk_buf_init(&msg, 4096);
  va_list ap;
  va_start(ap, fmt);
  int rc = sk_buf_vprintf(&msg, fmt, ap);
  va_end(ap);
  if (rc == SK_ETOOBIG)
    rc = sk_buf_puts(&msg, "(message too long)");
  sk_diag_t *dg = &d->items[d->len];
  dg->file = file ? strdup(file) : NULL;
  dg->path = path ? strdup(path) : NULL;
  dg->msg = sk_buf_steal(&msg);
  dg->line = line;
  dg->col = col;
  if ((file && !dg->file) || (path && !dg->path) || !dg->msg) {
    free(dg->file);
    free(dg->path);
    free(dg->msg);
    return SK_ENOMEM;
  }
  d->len++;
  return 0;
}

static int strcmp_null(const char *a, const char *b) {
  if (!a || !b)
    return (a != NULL) - (b != NULL);
  return strcmp(a, b);
}

void sk_diags_sort(sk_diags_t *d) {
  /* Insertion sort: lists are short and stability keeps the order in which
   * the validator walked the document for problems at the same place. */
  for (size_t i = 1; i < d->len; i++) {
    sk_diag_t x = d->items[i];
    size_t j = i;
    while (j > 0) {
      sk_diag_t *p = &d->items[j - 1];
      int c = strcmp_null(p->file, x.file);
      if (c == 0)
        c = (p->line > x.line) - (p->line < x.line);
      if (c == 0)
        c = (p->col > x.col) - (p->col < x.col);
      if (c <= 0)
        break;
      d->items[j] = *p;
      j--;
    }
    d->items[j] = x;
  }
}

int sk_diag_format(const sk_diag_t *dg, sk_buf_t *out) {
  int rc = 0;
  if (dg->file && *dg->file) {
    rc = sk_buf_puts(out, dg->file);
    if (rc == 0 && dg->line > 0)
      rc = sk_buf_printf(out, ":%d:%d", dg->line, dg->col);
    if (rc == 0)
      rc = sk_buf_puts(out, ": ");
  }
  if (rc == 0 && dg->path && *dg->path)
    rc = sk_buf_printf(out, "%s: ", dg->path);
  if (rc == 0)
    rc = sk_buf_puts(out, dg->msg);
  return rc;
}

void sk_diags_print(const sk_diags_t *d, FILE *fp) {
  sk_buf_t line;
  sk_buf_init(&line, 16384);
  for (size_t i = 0; i < d->len; i++) {
    sk_buf_reset(&line);
    if (sk_diag_format(&d->items[i], &line) == 0)
      fprintf(fp, "%s\n", line.data);
  }
  if (d->dropped)
    fprintf(fp, "... and %zu more problems not shown\n", d->dropped);
  sk_buf_release(&line);
}
