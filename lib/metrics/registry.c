/*
 * The metrics registry: families, their series (a chained hash table keyed
 * by the label values), the series cap with its overflow series, and the
 * update operations.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics-int.h"
#include "util/error.h"
#include "util/strutil.h"

const double sk_metrics_default_buckets[11] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                               0.5,   1,    2.5,   5,    10};

/* Scratch space for one set of normalised label values. */
typedef struct {
  const char *v[SK_METRICS_MAX_LABELS];
  char buf[SK_METRICS_MAX_LABELS][SK_METRICS_MAX_VALUE + 1];
} norm_t;

static void warn_stderr(const char *message, void *arg) {
  (void)arg;
  fprintf(stderr, "%s\n", message);
}

sk_metrics_t *sk_metrics_create(size_t max_series) {
  sk_metrics_t *r = calloc(1, sizeof(*r));
  if (!r)
    return NULL;
  r->tail = &r->families;
  r->max_series = max_series ? max_series : SK_METRICS_DEFAULT_MAX_SERIES;
  r->warn = warn_stderr;
  return r;
}

void sk_metrics_set_warn(sk_metrics_t *r, sk_metrics_warn_fn fn, void *arg) {
  r->warn = fn;
  r->warn_arg = arg;
}

static void series_free(sk__series_t *s, size_t nlabels) {
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

static void family_free(sk_metric_t *m) {
  if (!m)
    return;
  for (size_t b = 0; b < m->table_size; b++) {
    sk__series_t *s = m->table[b];
    while (s) {
      sk__series_t *next = s->next;
      series_free(s, m->nlabels);
      s = next;
    }
  }
  free(m->table);
  if (m->labels) {
    for (size_t i = 0; i < m->nlabels; i++)
      free(m->labels[i]);
    free(m->labels);
  }
  free(m->buckets);
  free(m->name);
  free(m->help);
  free(m);
}

void sk_metrics_destroy(sk_metrics_t *r) {
  if (!r)
    return;
  sk_metric_t *m = r->families;
  while (m) {
    sk_metric_t *next = m->next;
    family_free(m);
    m = next;
  }
  free(r);
}

static bool is_alpha_(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static bool valid_metric_name(const char *s) {
  if (!s || !(is_alpha_(s[0]) || s[0] == ':'))
    return false;
  for (const char *p = s + 1; *p; p++)
    if (!is_alpha_(*p) && !is_digit(*p) && *p != ':')
      return false;
  return true;
}

static bool valid_label_name(const char *s) {
  if (!s || !is_alpha_(s[0]) || (s[0] == '_' && s[1] == '_'))
    return false;
  for (const char *p = s + 1; *p; p++)
    if (!is_alpha_(*p) && !is_digit(*p))
      return false;
  return true;
}

sk_metric_t *sk_metrics_find(sk_metrics_t *r, const char *name) {
  for (sk_metric_t *m = r->families; m; m = m->next)
    if (strcmp(m->name, name) == 0)
      return m;
  return NULL;
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
  series_free(s, m->nlabels);
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
static int get_series(sk_metric_t *m, const char *const *values, bool create,
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

static int family_new(sk_metrics_t *r, sk_metric_kind_t kind, const char *name,
                      const char *help, const char *const *labels, sk_metric_t **out) {
  if (!r || !valid_metric_name(name))
    return SK_EINVAL;
  if (sk_metrics_find(r, name))
    return SK_EEXIST;
  size_t nlabels = 0;
  while (labels && labels[nlabels]) {
    if (nlabels >= SK_METRICS_MAX_LABELS || !valid_label_name(labels[nlabels]))
      return SK_EINVAL;
    if (kind == SK_METRIC_HISTOGRAM && strcmp(labels[nlabels], "le") == 0)
      return SK_EINVAL;
    for (size_t j = 0; j < nlabels; j++)
      if (strcmp(labels[j], labels[nlabels]) == 0)
        return SK_EINVAL;
    nlabels++;
  }
  sk_metric_t *m = calloc(1, sizeof(*m));
  if (!m)
    return SK_ENOMEM;
  m->reg = r;
  m->kind = kind;
  m->nlabels = nlabels;
  if (!(m->name = strdup(name)) || !(m->help = strdup(help ? help : "")))
    goto fail;
  if (nlabels) {
    if (!(m->labels = calloc(nlabels, sizeof(*m->labels))))
      goto fail;
    for (size_t i = 0; i < nlabels; i++)
      if (!(m->labels[i] = strdup(labels[i])))
        goto fail;
  }
  *out = m;
  return 0;
fail:
  family_free(m);
  return SK_ENOMEM;
}

/* Links a new family into the registry. A family without labels has its one
 * series from the start, so it is scraped as 0 before the first update, as
 * the Prometheus client libraries do. */
static int family_add(sk_metrics_t *r, sk_metric_t *m, sk_metric_t **out) {
  if (m->nlabels == 0 && m->kind != SK_METRIC_GAUGE_FN) {
    sk__series_t *s;
    int rc = get_series(m, NULL, true, &s);
    if (rc < 0) {
      family_free(m);
      return rc;
    }
  }
  *r->tail = m;
  r->tail = &m->next;
  r->nfamilies++;
  if (out)
    *out = m;
  return 0;
}

int sk_metrics_counter(sk_metrics_t *r, const char *name, const char *help,
                       const char *const *labels, sk_metric_t **out) {
  sk_metric_t *m;
  int rc = family_new(r, SK_METRIC_COUNTER, name, help, labels, &m);
  return rc < 0 ? rc : family_add(r, m, out);
}

int sk_metrics_gauge(sk_metrics_t *r, const char *name, const char *help,
                     const char *const *labels, sk_metric_t **out) {
  sk_metric_t *m;
  int rc = family_new(r, SK_METRIC_GAUGE, name, help, labels, &m);
  return rc < 0 ? rc : family_add(r, m, out);
}

int sk_metrics_gauge_fn(sk_metrics_t *r, const char *name, const char *help,
                        const char *const *labels, sk_metric_t **out) {
  sk_metric_t *m;
  int rc = family_new(r, SK_METRIC_GAUGE_FN, name, help, labels, &m);
  return rc < 0 ? rc : family_add(r, m, out);
}

int sk_metrics_histogram(sk_metrics_t *r, const char *name, const char *help,
                         const char *const *labels, const double *buckets, size_t nbuckets,
                         sk_metric_t **out) {
  if (!buckets || nbuckets == 0) {
    buckets = sk_metrics_default_buckets;
    nbuckets = sizeof(sk_metrics_default_buckets) / sizeof(sk_metrics_default_buckets[0]);
  }
  if (nbuckets > SK_METRICS_MAX_BUCKETS)
    return SK_EINVAL;
  for (size_t i = 0; i < nbuckets; i++)
    if (!isfinite(buckets[i]) || (i > 0 && !(buckets[i] > buckets[i - 1])))
      return SK_EINVAL;
  sk_metric_t *m;
  int rc = family_new(r, SK_METRIC_HISTOGRAM, name, help, labels, &m);
  if (rc < 0)
    return rc;
  if (!(m->buckets = malloc(nbuckets * sizeof(*m->buckets)))) {
    family_free(m);
    return SK_ENOMEM;
  }
  memcpy(m->buckets, buckets, nbuckets * sizeof(*m->buckets));
  m->nbuckets = nbuckets;
  return family_add(r, m, out);
}

int sk_metric_set_max_series(sk_metric_t *m, size_t max_series) {
  if (!m)
    return SK_EINVAL;
  if (m->nlabels == 0 || m->nseries > 0)
    return SK_ESTATE;
  m->max_series = max_series;
  return 0;
}

static int update(sk_metric_t *m, sk_metric_kind_t kind, const char *const *values,
                  sk__series_t **s) {
  if (!m)
    return SK_EINVAL;
  if (m->kind != kind)
    return SK_EINVAL;
  return get_series(m, values, true, s);
}

int sk_metric_inc(sk_metric_t *m, const char *const *values) {
  return sk_metric_add(m, values, 1);
}

int sk_metric_add(sk_metric_t *m, const char *const *values, double v) {
  if (!(v >= 0))
    return SK_EINVAL;
  sk__series_t *s;
  int rc = update(m, SK_METRIC_COUNTER, values, &s);
  if (rc == 0)
    s->value += v;
  return rc;
}

int sk_metric_set(sk_metric_t *m, const char *const *values, double v) {
  sk__series_t *s;
  int rc = update(m, SK_METRIC_GAUGE, values, &s);
  if (rc == 0)
    s->value = v;
  return rc;
}

int sk_metric_gauge_add(sk_metric_t *m, const char *const *values, double v) {
  sk__series_t *s;
  int rc = update(m, SK_METRIC_GAUGE, values, &s);
  if (rc == 0)
    s->value += v;
  return rc;
}

int sk_metric_observe(sk_metric_t *m, const char *const *values, double v) {
  sk__series_t *s;
  int rc = update(m, SK_METRIC_HISTOGRAM, values, &s);
  if (rc < 0)
    return rc;
  /* Buckets are "less than or equal": v lands in the first bound >= v; a
   * value above every bound (or NaN) is only in +Inf, i.e. in count. */
  for (size_t i = 0; i < m->nbuckets; i++)
    if (v <= m->buckets[i]) {
      s->counts[i]++;
      break;
    }
  s->count++;
  s->sum += v;
  return 0;
}

int sk_metric_set_fn(sk_metric_t *m, const char *const *values, sk_metric_fn fn, void *arg) {
  if (!m || m->kind != SK_METRIC_GAUGE_FN)
    return SK_EINVAL;
  if (!fn) {
    int rc = sk_metric_remove(m, values);
    return rc == SK_ENOENT ? 0 : rc;
  }
  sk__series_t *s;
  int rc = get_series(m, values, true, &s);
  if (rc == 0) {
    s->fn = fn;
    s->fn_arg = arg;
  }
  return rc;
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
    series_free(s, m->nlabels);
    return 0;
  }
  return SK_ENOENT;
}

int sk_metric_value(sk_metric_t *m, const char *const *values, double *out) {
  if (!m || !out)
    return SK_EINVAL;
  sk__series_t *s;
  int rc = get_series(m, values, false, &s);
  if (rc < 0)
    return rc;
  switch (m->kind) {
  case SK_METRIC_HISTOGRAM:
    *out = (double)s->count;
    break;
  case SK_METRIC_GAUGE_FN:
    *out = s->fn(s->fn_arg);
    break;
  default:
    *out = s->value;
    break;
  }
  return 0;
}

size_t sk_metric_series_count(const sk_metric_t *m) { return m ? m->nseries : 0; }
