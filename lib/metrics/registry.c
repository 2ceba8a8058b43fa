/*
 * The metrics registry: families (names, labels, buckets checked at
 * registration) and the update operations on their series (series.c).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics-int.h"
#include "util/error.h"

const double sk_metrics_default_buckets[11] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                               0.5,   1,    2.5,   5,    10};

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


static void family_free(sk_metric_t *m) {
  if (!m)
    return;
  for (size_t b = 0; b < m->table_size; b++) {
    sk__series_t *s = m->table[b];
    while (s) {
      sk__series_t *next = s->next;
      sk__series_free(s, m->nlabels);
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
    int rc = sk__series_get(m, NULL, true, &s);
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
  return sk__series_get(m, values, true, s);
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
  int rc = sk__series_get(m, values, true, &s);
  if (rc == 0) {
    s->fn = fn;
    s->fn_arg = arg;
  }
  return rc;
}


int sk_metric_value(sk_metric_t *m, const char *const *values, double *out) {
  if (!m || !out)
    return SK_EINVAL;
  sk__series_t *s;
  int rc = sk__series_get(m, values, false, &s);
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
