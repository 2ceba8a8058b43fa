/*
 * The Prometheus text exposition format 0.0.4:
 *
 *   # HELP name help text (\\ and newline escaped)
 *   # TYPE name counter|gauge|histogram
 *   name{label="value",...} 1
 *
 * Families in name order, series in label-value order, so that two scrapes
 * of the same state are byte-identical.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics-int.h"
#include "util/error.h"

size_t sk_metrics_format_double(double v, char *buf, size_t size) {
  int n;
  if (isnan(v))
    n = snprintf(buf, size, "NaN");
  else if (isinf(v))
    n = snprintf(buf, size, v > 0 ? "+Inf" : "-Inf");
  else {
    /* Find the fewest significant digits that read back as v, then choose
     * between %e and %f as Go's 'g' with precision -1 does: exponent
     * notation when the decimal exponent is < -4 or >= 6 (so 100 prints as
     * "100", 1234567 as "1.234567e+06", 0.00001 as "1e-05"). */
    char tmp[40];
    int prec = 1;
    for (; prec < 17; prec++) {
      snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, v);
      if (strtod(tmp, NULL) == v)
        break;
    }
    snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, v);
    const char *e = strchr(tmp, 'e');
    long exp = e ? strtol(e + 1, NULL, 10) : 0;
    if (exp < -4 || exp >= 6)
      n = snprintf(buf, size, "%s", tmp);
    else {
      long decimals = prec - (exp + 1);
      if (decimals < 0)
        decimals = 0;
      n = snprintf(buf, size, "%.*f", (int)decimals, v);
    }
  }
  if (n < 0)
    return 0;
  return (size_t)n < size ? (size_t)n : (size ? size - 1 : 0);
}

/* Escapes HELP text: backslash and newline. */
static int put_help(sk_buf_t *out, const char *s) {
  int rc = 0;
  for (; *s && rc == 0; s++) {
    if (*s == '\\')
      rc = sk_buf_puts(out, "\\\\");
    else if (*s == '\n')
      rc = sk_buf_puts(out, "\\n");
    else
      rc = sk_buf_putc(out, *s);
  }
  return rc;
}

/* Escapes a label value: backslash, double quote and newline. */
static int put_value(sk_buf_t *out, const char *s) {
  int rc = 0;
  for (; *s && rc == 0; s++) {
    if (*s == '\\')
      rc = sk_buf_puts(out, "\\\\");
    else if (*s == '"')
      rc = sk_buf_puts(out, "\\\"");
    else if (*s == '\n')
      rc = sk_buf_puts(out, "\\n");
    else
      rc = sk_buf_putc(out, *s);
  }
  return rc;
}

static int put_double(sk_buf_t *out, double v) {
  char num[48];
  sk_metrics_format_double(v, num, sizeof(num));
  return sk_buf_puts(out, num);
}

/*
 * One sample line: NAME SUFFIX {labels[,le="LE"]} VALUE. le is NULL except
 * for histogram buckets; the braces are left out when there is no label at
 * all, as the format allows and the client libraries do.
 */
static int put_sample(sk_buf_t *out, const sk_metric_t *m, const sk__series_t *s,
                      const char *suffix, const char *le, double v) {
  int rc = sk_buf_puts(out, m->name);
  if (rc == 0 && suffix)
    rc = sk_buf_puts(out, suffix);
  if (rc == 0 && (m->nlabels || le)) {
    rc = sk_buf_putc(out, '{');
    for (size_t i = 0; i < m->nlabels && rc == 0; i++) {
      if (i > 0)
        rc = sk_buf_putc(out, ',');
      if (rc == 0)
        rc = sk_buf_printf(out, "%s=\"", m->labels[i]);
      if (rc == 0)
        rc = put_value(out, s->values[i]);
      if (rc == 0)
        rc = sk_buf_putc(out, '"');
    }
    if (rc == 0 && le)
      rc = sk_buf_printf(out, "%sle=\"%s\"", m->nlabels ? "," : "", le);
    if (rc == 0)
      rc = sk_buf_putc(out, '}');
  }
  if (rc == 0)
    rc = sk_buf_putc(out, ' ');
  if (rc == 0)
    rc = put_double(out, v);
  if (rc == 0)
    rc = sk_buf_putc(out, '\n');
  return rc;
}

static int put_series(sk_buf_t *out, const sk_metric_t *m, const sk__series_t *s) {
  switch (m->kind) {
  case SK_METRIC_COUNTER:
  case SK_METRIC_GAUGE:
    return put_sample(out, m, s, NULL, NULL, s->value);
  case SK_METRIC_GAUGE_FN:
    return put_sample(out, m, s, NULL, NULL, s->fn(s->fn_arg));
  case SK_METRIC_HISTOGRAM:
    break;
  }
  int rc = 0;
  uint64_t cumulative = 0;
  for (size_t i = 0; i < m->nbuckets && rc == 0; i++) {
    char le[48];
    cumulative += s->counts[i];
    sk_metrics_format_double(m->buckets[i], le, sizeof(le));
    rc = put_sample(out, m, s, "_bucket", le, (double)cumulative);
  }
  if (rc == 0)
    rc = put_sample(out, m, s, "_bucket", "+Inf", (double)s->count);
  if (rc == 0)
    rc = put_sample(out, m, s, "_sum", NULL, s->sum);
  if (rc == 0)
    rc = put_sample(out, m, s, "_count", NULL, (double)s->count);
  return rc;
}

/* qsort has no context argument in C11, so each entry carries the label
 * count its comparison needs. */
typedef struct {
  const sk__series_t *s;
  size_t nlabels;
} sort_ent_t;

static int cmp_series(const void *a, const void *b) {
  const sort_ent_t *x = a, *y = b;
  for (size_t i = 0; i < x->nlabels; i++) {
    int c = strcmp(x->s->values[i], y->s->values[i]);
    if (c)
      return c;
  }
  return 0;
}

static int cmp_family(const void *a, const void *b) {
  const sk_metric_t *x = *(const sk_metric_t *const *)a;
  const sk_metric_t *y = *(const sk_metric_t *const *)b;
  return strcmp(x->name, y->name);
}

static const char *type_name(sk_metric_kind_t kind) {
  switch (kind) {
  case SK_METRIC_COUNTER:
    return "counter";
  case SK_METRIC_HISTOGRAM:
    return "histogram";
  case SK_METRIC_GAUGE:
  case SK_METRIC_GAUGE_FN:
    break;
  }
  return "gauge";
}

static int render_family(sk_metric_t *m, sk_buf_t *out) {
  if (m->nseries == 0)
    return 0;
  sort_ent_t *all = malloc(m->nseries * sizeof(*all));
  if (!all)
    return SK_ENOMEM;
  size_t n = 0;
  for (size_t b = 0; b < m->table_size; b++)
    for (sk__series_t *s = m->table[b]; s; s = s->next)
      all[n++] = (sort_ent_t){s, m->nlabels};
  qsort(all, n, sizeof(*all), cmp_series);
  int rc = sk_buf_printf(out, "# HELP %s ", m->name);
  if (rc == 0)
    rc = put_help(out, m->help);
  if (rc == 0)
    rc = sk_buf_printf(out, "\n# TYPE %s %s\n", m->name, type_name(m->kind));
  for (size_t i = 0; i < n && rc == 0; i++)
    rc = put_series(out, m, all[i].s);
  free(all);
  return rc;
}

int sk_metrics_render(sk_metrics_t *r, sk_buf_t *out) {
  if (!r || !out)
    return SK_EINVAL;
  if (r->nfamilies == 0)
    return 0;
  sk_metric_t **fams = malloc(r->nfamilies * sizeof(*fams));
  if (!fams)
    return SK_ENOMEM;
  size_t n = 0;
  for (sk_metric_t *m = r->families; m; m = m->next)
    fams[n++] = m;
  qsort(fams, n, sizeof(*fams), cmp_family);
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++)
    rc = render_family(fams[i], out);
  free(fams);
  return rc;
}
