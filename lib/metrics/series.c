/*
 * Series: label values made safe (UTF-8, capped), hashed into a family's
 * chained table, and the cap that sends new combinations to the overflow
 * series once a family is full.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics-int.h"
#include "util/error.h"
#include "util/strutil.h"

/* Scratch space for one set of normalised label values. */
typedef struct {
  const char *v[SK_METRICS_MAX_LABELS];
  char buf[SK_METRICS_MAX_LABELS][SK_METRICS_MAX_VALUE + 1];
} norm_t;

void sk__series_free(sk__series_t *s, size_t nlabels) {
  if (!s)
    return;
  if (s->values) {
    for (size_t i = 0; i < nlabels; i++)
      free(s->values[i]);
    free(s->values);
  }
  free(s->counts);
  free(s);
}

/* The length a UTF-8 sequence starting with lead byte c claims (0: c cannot
 * start one). */
static size_t utf8_seq_len(unsigned char c) {
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF)
    return 2;
  if (c >= 0xE0 && c <= 0xEF)
    return 3;
  if (c >= 0xF0 && c <= 0xF4)
    return 4;
  return 0;
}

/*
 * Copies a label value into tmp when it must change: each invalid UTF-8 byte
 * becomes U+FFFD and the text is cut to SK_METRICS_MAX_VALUE bytes without
 * splitting a character. Returns v itself when it is already fine (the
 * common case). The work is bounded by the cap, however long v is.
 */
static const char *norm_value(const char *v, char *tmp) {
  const size_t max = SK_METRICS_MAX_VALUE;
  if (!v)
    return "";
  size_t len = strnlen(v, max + 1);
  size_t bad = 0;
  if (len <= max && sk_utf8_valid(v, len, &bad))
    return v;
  size_t i = 0, o = 0;
  while (v[i]) {
    size_t n = utf8_seq_len((unsigned char)v[i]);
    size_t k = 1;
    while (k < n && v[i + k])
      k++;
    if (n > 0 && k == n && sk_utf8_valid(v + i, n, &bad)) {
      if (o + n > max)
        break;
      memcpy(tmp + o, v + i, n);
      o += n;
      i += n;
    } else {
      if (o + 3 > max)
        break;
      memcpy(tmp + o, "\xef\xbf\xbd", 3);
      o += 3;
      i++;
    }
  }
  tmp[o] = '\0';
  return tmp;
}

static void normalize(const sk_metric_t *m, const char *const *values, norm_t *n) {
  for (size_t i = 0; i < m->nlabels; i++)
    n->v[i] = norm_value(values ? values[i] : NULL, n->buf[i]);
}

/* FNV-1a over the values, separated by 0xff (which UTF-8 never contains). */
static uint64_t hash_values(const char *const *v, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) {
    for (const unsigned char *p = (const unsigned char *)v[i]; *p; p++)
      h = (h ^ *p) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
  }
  return h;
}

static bool same_values(const sk__series_t *s, const char *const *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(s->values[i], v[i]) != 0)
      return false;
  return true;
}

static sk__series_t *find_series(const sk_metric_t *m, const char *const *v, uint64_t h) {
  if (!m->table)
    return NULL;
  for (sk__series_t *s = m->table[h & (m->table_size - 1)]; s; s = s->next)
    if (s->hash == h && same_values(s, v, m->nlabels))
      return s;
  return NULL;
}

static int grow_table(sk_metric_t *m) {
  size_t size = m->table_size ? m->table_size * 2 : 8;
  sk__series_t **t = calloc(size, sizeof(*t));
  if (!t)
    return SK_ENOMEM;
  for (size_t b = 0; b < m->table_size; b++) {
    sk__series_t *s = m->table[b];
    while (s) {
      sk__series_t *next = s->next;
      s->next = t[s->hash & (size - 1)];
      t[s->hash & (size - 1)] = s;
      s = next;
    }
  }
  free(m->table);
  m->table = t;
  m->table_size = size;
  return 0;
}

static int new_series(sk_metric_t *m, const char *const *v, uint64_t h, bool overflow,
                      sk__series_t **out) {
  if (m->nseries >= m->table_size * 2 || !m->table) {
    int rc = grow_table(m);
    if (rc < 0)
      return rc;
  }
  sk__series_t *s = calloc(1, sizeof(*s));
  if (!s)
    return SK_ENOMEM;
  s->hash = h;
  s->overflow = overflow;
  if (m->nlabels) {
    s->values = calloc(m->nlabels, sizeof(*s->values));
    if (!s->values)
      goto fail;
    for (size_t i = 0; i < m->nlabels; i++)
      if (!(s->values[i] = strdup(v[i])))
        goto fail;
  }
  if (m->kind == SK_METRIC_HISTOGRAM && m->nbuckets) {
    s->counts = calloc(m->nbuckets, sizeof(*s->counts));
    if (!s->counts)
      goto fail;
  }
  s->next = m->table[h & (m->table_size - 1)];
  m->table[h & (m->table_size - 1)] = s;
  m->nseries++;
  if (!overflow)
    m->nregular++;
  *out = s;
  return 0;
fail:
  sk__series_free(s, m->nlabels);
  return SK_ENOMEM;
}

/* The series counting combinations past the cap, created on first need;
 * the registry is warned once per family. */
static int overflow_series(sk_metric_t *m, sk__series_t **out) {
  const char *v[SK_METRICS_MAX_LABELS];
  for (size_t i = 0; i < m->nlabels; i++)
    v[i] = SK_METRICS_OVERFLOW;
  uint64_t h = hash_values(v, m->nlabels);
  if ((*out = find_series(m, v, h)))
    return 0;
  if (!m->warned && m->reg->warn) {
    char msg[512];
    snprintf(msg, sizeof(msg),
             "metrics: %s has reached its cap of %zu label combinations; new ones are "
             "counted in the series labelled \"%s\"",
             m->name, m->max_series ? m->max_series : m->reg->max_series, SK_METRICS_OVERFLOW);
    m->reg->warn(msg, m->reg->warn_arg);
  }
  m->warned = true;
  return new_series(m, v, h, true, out);
}

/* Finds the series for values; with create, makes it (or falls back to the
 * overflow series when the family is full). */
int sk__series_get(sk_metric_t *m, const char *const *values, bool create,
                   sk__series_t **out) {
  norm_t n;
  normalize(m, values, &n);
  uint64_t h = hash_values(n.v, m->nlabels);
  if ((*out = find_series(m, n.v, h)))
    return 0;
  if (!create)
    return SK_ENOENT;
  size_t cap = m->max_series ? m->max_series : m->reg->max_series;
  if (m->nregular >= cap)
    return overflow_series(m, out);
  return new_series(m, n.v, h, false, out);
}

int sk_metric_remove(sk_metric_t *m, const char *const *values) {
  if (!m)
    return SK_EINVAL;
  norm_t n;
  normalize(m, values, &n);
  uint64_t h = hash_values(n.v, m->nlabels);
  if (!m->table)
    return SK_ENOENT;
  for (sk__series_t **p = &m->table[h & (m->table_size - 1)]; *p; p = &(*p)->next) {
    sk__series_t *s = *p;
    if (s->hash != h || !same_values(s, n.v, m->nlabels))
      continue;
    *p = s->next;
    m->nseries--;
    if (!s->overflow)
      m->nregular--;
    sk__series_free(s, m->nlabels);
    return 0;
  }
  return SK_ENOENT;
}
