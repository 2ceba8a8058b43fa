/*
 * Metrics: counters, gauges and histograms for /metrics, rendered in the
 * Prometheus text exposition format 0.0.4.
 *
 * A registry holds metric families. Each family has a name, a help text, a
 * fixed list of label names given at registration, and one series per
 * combination of label values seen so far. Label values come from the
 * outside world (namespaces, workflow names, HTTP codes), so the number of
 * series per family is capped: once a family holds max_series series, every
 * new combination is counted in one extra series whose label values are all
 * SK_METRICS_OVERFLOW, and the registry's warn callback is told once per
 * family. Memory therefore stays bounded whatever the input. Label values
 * are also cut to SK_METRICS_MAX_VALUE bytes and invalid UTF-8 is replaced
 * by U+FFFD, so the exposition is always valid text.
 *
 * Kinds:
 *   counter    only goes up (sk_metric_inc / sk_metric_add with v >= 0)
 *   gauge      set, added to or subtracted from
 *   histogram  observations sorted into cumulative buckets, rendered as
 *              NAME_bucket{...,le="B"} for every bound B and "+Inf", then
 *              NAME_sum and NAME_count
 *   gauge_fn   a gauge whose value a callback computes at scrape time
 *              (work-queue depth, number of informer objects)
 *
 * Rendering is deterministic: families sorted by name, series by their label
 * values (compared label by label, bytewise), so the text can be compared in
 * tests and diffs. Numbers are printed as Go's strconv.FormatFloat(v, 'g',
 * -1, 64) prints them, as the Prometheus client libraries do ("1", "0.25",
 * "1e+06", "+Inf", "NaN").
 *
 * Not thread-safe: a registry belongs to the loop thread. Families and
 * series are owned by the registry; an sk_metric_t pointer is borrowed and
 * stays valid until sk_metrics_destroy.
 *
 * Label values are passed as an array with exactly as many entries as the
 * family has label names (NULL for a family without labels); the caller
 * owns the strings, the registry copies what it keeps.
 */
#ifndef SK_METRICS_METRICS_H
#define SK_METRICS_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

/* Default cap on series per family (overridable per registry and family). */
#define SK_METRICS_DEFAULT_MAX_SERIES 1000
/* Label values longer than this many bytes are cut (at a UTF-8 boundary). */
#define SK_METRICS_MAX_VALUE 256
/* Most label names one family may have. */
#define SK_METRICS_MAX_LABELS 16
/* Most buckets one histogram may have (not counting +Inf). */
#define SK_METRICS_MAX_BUCKETS 64
/* The label value every label of a family's overflow series carries. */
#define SK_METRICS_OVERFLOW "__overflow__"

typedef struct sk_metrics sk_metrics_t;
typedef struct sk_metric sk_metric_t;

typedef enum {
  SK_METRIC_COUNTER,
  SK_METRIC_GAUGE,
  SK_METRIC_HISTOGRAM,
  SK_METRIC_GAUGE_FN
} sk_metric_kind_t;

/* Computes a gauge_fn series' value at scrape time. */
typedef double (*sk_metric_fn)(void *arg);
/* Told once per family when it first overflows its series cap. */
typedef void (*sk_metrics_warn_fn)(const char *message, void *arg);

/* Buckets Prometheus clients use by default (seconds, 5 ms to 10 s). */
extern const double sk_metrics_default_buckets[11];

/* Creates an empty registry whose families hold at most max_series series
 * each (0: SK_METRICS_DEFAULT_MAX_SERIES). Returns NULL when out of memory.
 * Overflow warnings go to stderr until sk_metrics_set_warn changes that. */
sk_metrics_t *sk_metrics_create(size_t max_series);
/* Frees the registry, its families and series. Safe on NULL. */
void sk_metrics_destroy(sk_metrics_t *r);
/* Sends overflow warnings to fn (NULL: drop them). */
void sk_metrics_set_warn(sk_metrics_t *r, sk_metrics_warn_fn fn, void *arg);

/*
 * Registers a family. name must match [a-zA-Z_:][a-zA-Z0-9_:]* and be new in
 * the registry (SK_EEXIST otherwise); labels is a NULL-terminated list of
 * names matching [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__", without
 * duplicates, and without "le" for histograms (SK_EINVAL otherwise). help
 * may be NULL. On success *out (when not NULL) is a borrowed pointer.
 */
int sk_metrics_counter(sk_metrics_t *r, const char *name, const char *help,
                       const char *const *labels, sk_metric_t **out);
int sk_metrics_gauge(sk_metrics_t *r, const char *name, const char *help,
                     const char *const *labels, sk_metric_t **out);
int sk_metrics_gauge_fn(sk_metrics_t *r, const char *name, const char *help,
                        const char *const *labels, sk_metric_t **out);
/* buckets: nbuckets finite upper bounds, strictly increasing (NULL and 0:
 * sk_metrics_default_buckets). The +Inf bucket is implicit. */
int sk_metrics_histogram(sk_metrics_t *r, const char *name, const char *help,
                         const char *const *labels, const double *buckets, size_t nbuckets,
                         sk_metric_t **out);

/* Changes one family's series cap. Only before its first series exists
 * (SK_ESTATE after); 0 restores the registry default. */
int sk_metric_set_max_series(sk_metric_t *m, size_t max_series);

/* Counters: adds 1 / v (v must be >= 0 and not NaN). */
int sk_metric_inc(sk_metric_t *m, const char *const *values);
int sk_metric_add(sk_metric_t *m, const char *const *values, double v);
/* Gauges: sets / adds v (v may be negative). */
int sk_metric_set(sk_metric_t *m, const char *const *values, double v);
int sk_metric_gauge_add(sk_metric_t *m, const char *const *values, double v);
/* Histograms: records one observation. */
int sk_metric_observe(sk_metric_t *m, const char *const *values, double v);
/* gauge_fn: sets (or replaces) the callback of one series. fn NULL removes
 * the series. */
int sk_metric_set_fn(sk_metric_t *m, const char *const *values, sk_metric_fn fn, void *arg);
/* Removes one series (a finished workflow's gauge); SK_ENOENT if absent.
 * A removed combination may come back later, counted from zero. */
int sk_metric_remove(sk_metric_t *m, const char *const *values);

/* Reads a counter or gauge series (for tests and status pages), a gauge_fn
 * by calling its callback, or a histogram's observation count. SK_ENOENT
 * when the series does not exist. */
int sk_metric_value(sk_metric_t *m, const char *const *values, double *out);
/* Number of series the family holds, the overflow series included. */
size_t sk_metric_series_count(const sk_metric_t *m);
/* The family of that name, or NULL (borrowed). */
sk_metric_t *sk_metrics_find(sk_metrics_t *r, const char *name);

/* Appends the whole registry in the text format 0.0.4 to out. Returns
 * SK_ETOOBIG when out's cap is reached (out then holds a partial text). */
int sk_metrics_render(sk_metrics_t *r, sk_buf_t *out);

/* Formats v as Go's strconv.FormatFloat(v, 'g', -1, 64) does, with "+Inf",
 * "-Inf" and "NaN" for the special values. buf should hold at least 32
 * bytes; returns the length written (excluding the NUL). */
size_t sk_metrics_format_double(double v, char *buf, size_t size);

/* The content type of sk_metrics_render's text. */
#define SK_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
