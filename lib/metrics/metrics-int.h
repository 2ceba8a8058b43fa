/*
 * Private structures of the metrics registry, shared by registry.c (the
 * families, their series and the update operations) and render.c (the
 * exposition text).
 */
#ifndef SK_METRICS_METRICS_INT_H
#define SK_METRICS_METRICS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics/metrics.h"

typedef struct sk__series {
  struct sk__series *next; /* hash chain */
  uint64_t hash;
  char **values;           /* nlabels normalised copies; NULL without labels */
  bool overflow;           /* the series that counts combinations past the cap */
  double value;            /* counter and gauge */
  sk_metric_fn fn;         /* gauge_fn */
  void *fn_arg;
  uint64_t *counts;        /* histogram: per-bucket (not cumulative) counts */
  uint64_t count;          /* histogram: observations, i.e. the +Inf bucket */
  double sum;              /* histogram */
} sk__series_t;

struct sk_metric {
  struct sk_metric *next;  /* registry list, in registration order */
  sk_metrics_t *reg;
  sk_metric_kind_t kind;
  char *name;
  char *help;              /* "" when none */
  char **labels;
  size_t nlabels;
  double *buckets;         /* histogram upper bounds, strictly increasing */
  size_t nbuckets;
  size_t max_series;       /* 0: the registry's */
  size_t nseries;          /* all series, the overflow one included */
  size_t nregular;         /* series that count against the cap */
  bool warned;
  sk__series_t **table;    /* hash buckets */
  size_t table_size;       /* a power of two */
};

struct sk_metrics {
  sk_metric_t *families;
  sk_metric_t **tail;
  size_t nfamilies;
  size_t max_series;
  sk_metrics_warn_fn warn;
  void *warn_arg;
};

/* Finds the series for values (normalised first); with create, makes it, or
 * falls back to the family's overflow series when the family is full. */
int sk__series_get(sk_metric_t *m, const char *const *values, bool create, sk__series_t **out);
void sk__series_free(sk__series_t *s, size_t nlabels);

#endif
