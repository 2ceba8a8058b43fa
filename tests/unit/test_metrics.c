/*
 * Tests of the metrics registry: exact exposition text for every kind,
 * escaping, ordering, the series cap and its overflow series, label value
 * normalisation, and the refusals of bad names and values.
 */
#include <math.h>
#include <string.h>

#include "metrics/metrics.h"
#include "sk_test.h"
#include "util/error.h"

/* Renders r into a fresh string (the caller frees it). */
static char *render(sk_metrics_t *r) {
  sk_buf_t b;
  sk_buf_init(&b, 1 << 20);
  int rc = sk_metrics_render(r, &b);
  if (rc < 0) {
    sk_buf_release(&b);
    return NULL;
  }
  return sk_buf_steal(&b);
}

#define CHECK_RENDER(r, want)                                                              \
  do {                                                                                     \
    char *got_ = render(r);                                                                \
    CHECK_STR(got_, want);                                                                 \
    free(got_);                                                                            \
  } while (0)

TEST(format_double) {
  static const struct {
    double v;
    const char *want;
  } cases[] = {
      {0, "0"},           {1, "1"},           {-1, "-1"},          {0.25, "0.25"},
      {0.1, "0.1"},       {100, "100"},       {123456, "123456"},  {1e6, "1e+06"},
      {1234567, "1.234567e+06"}, {0.0001, "0.0001"}, {0.00001, "1e-05"},
      {1.5e-7, "1.5e-07"}, {3.14159, "3.14159"}, {1e21, "1e+21"},  {2.5, "2.5"},
      {0.005, "0.005"},   {1e100, "1e+100"},  {-0.0, "-0"},        {1.0 / 3, "0.3333333333333333"},
      {INFINITY, "+Inf"}, {-INFINITY, "-Inf"}, {NAN, "NaN"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char buf[48];
    size_t n = sk_metrics_format_double(cases[i].v, buf, sizeof(buf));
    CHECK_STR(buf, cases[i].want);
    CHECK_INT(n, strlen(cases[i].want));
  }
}

TEST(counter_and_gauge_text) {
  sk_metrics_t *r = sk_metrics_create(0);
  REQUIRE(r);
  sk_metric_t *req, *up, *temp;
  const char *const labels[] = {"method", "code", NULL};
  CHECK_INT(sk_metrics_counter(r, "http_requests_total", "Requests served.", labels, &req), 0);
  CHECK_INT(sk_metrics_gauge(r, "up", "1 when up.", NULL, &up), 0);
  CHECK_INT(sk_metrics_gauge(r, "temperature_celsius", NULL, (const char *const[]){"room", NULL},
                             &temp),
            0);
  /* A labelled family without series is left out; an unlabelled one shows 0. */
  CHECK_RENDER(r, "# HELP up 1 when up.\n"
                  "# TYPE up gauge\n"
                  "up 0\n");

  CHECK_INT(sk_metric_inc(req, (const char *[]){"GET", "200"}), 0);
  CHECK_INT(sk_metric_inc(req, (const char *[]){"GET", "200"}), 0);
  CHECK_INT(sk_metric_add(req, (const char *[]){"POST", "201"}, 2.5), 0);
  CHECK_INT(sk_metric_inc(req, (const char *[]){"GET", "404"}), 0);
  CHECK_INT(sk_metric_set(up, NULL, 1), 0);
  CHECK_INT(sk_metric_set(temp, (const char *[]){"lab"}, -3.5), 0);
  CHECK_INT(sk_metric_gauge_add(temp, (const char *[]){"lab"}, 1), 0);
  CHECK_INT(sk_metric_gauge_add(temp, (const char *[]){"attic"}, 1e6), 0);
  CHECK_RENDER(r, "# HELP http_requests_total Requests served.\n"
                  "# TYPE http_requests_total counter\n"
                  "http_requests_total{method=\"GET\",code=\"200\"} 2\n"
                  "http_requests_total{method=\"GET\",code=\"404\"} 1\n"
                  "http_requests_total{method=\"POST\",code=\"201\"} 2.5\n"
                  "# HELP temperature_celsius \n"
                  "# TYPE temperature_celsius gauge\n"
                  "temperature_celsius{room=\"attic\"} 1e+06\n"
                  "temperature_celsius{room=\"lab\"} -2.5\n"
                  "# HELP up 1 when up.\n"
                  "# TYPE up gauge\n"
                  "up 1\n");
  double v = 0;
  CHECK_INT(sk_metric_value(req, (const char *[]){"GET", "200"}, &v), 0);
  CHECK(v == 2);
  CHECK_INT(sk_metric_value(req, (const char *[]){"PUT", "200"}, &v), SK_ENOENT);
  CHECK_INT(sk_metric_series_count(req), 3);
  CHECK(sk_metrics_find(r, "up") == up);
  CHECK(sk_metrics_find(r, "down") == NULL);
  sk_metrics_destroy(r);
}

TEST(histogram_text) {
  sk_metrics_t *r = sk_metrics_create(0);
  REQUIRE(r);
  sk_metric_t *h, *plain;
  const double b[] = {0.1, 0.5, 1};
  CHECK_INT(sk_metrics_histogram(r, "reconcile_seconds", "Time per reconcile.",
                                 (const char *const[]){"kind", NULL}, b, 3, &h),
            0);
  CHECK_INT(sk_metrics_histogram(r, "plain_seconds", "Default buckets.", NULL, NULL, 0, &plain),
            0);
  CHECK_INT(sk_metric_observe(h, (const char *[]){"pod"}, 0.05), 0);
  CHECK_INT(sk_metric_observe(h, (const char *[]){"pod"}, 0.1), 0); /* le is inclusive */
  CHECK_INT(sk_metric_observe(h, (const char *[]){"pod"}, 0.7), 0);
  CHECK_INT(sk_metric_observe(h, (const char *[]){"pod"}, 3), 0);
  CHECK_INT(sk_metric_observe(plain, NULL, 0.003), 0);
  CHECK_RENDER(r, "# HELP plain_seconds Default buckets.\n"
                  "# TYPE plain_seconds histogram\n"
                  "plain_seconds_bucket{le=\"0.005\"} 1\n"
                  "plain_seconds_bucket{le=\"0.01\"} 1\n"
                  "plain_seconds_bucket{le=\"0.025\"} 1\n"
                  "plain_seconds_bucket{le=\"0.05\"} 1\n"
                  "plain_seconds_bucket{le=\"0.1\"} 1\n"
                  "plain_seconds_bucket{le=\"0.25\"} 1\n"
                  "plain_seconds_bucket{le=\"0.5\"} 1\n"
                  "plain_seconds_bucket{le=\"1\"} 1\n"
                  "plain_seconds_bucket{le=\"2.5\"} 1\n"
                  "plain_seconds_bucket{le=\"5\"} 1\n"
                  "plain_seconds_bucket{le=\"10\"} 1\n"
                  "plain_seconds_bucket{le=\"+Inf\"} 1\n"
                  "plain_seconds_sum 0.003\n"
                  "plain_seconds_count 1\n"
                  "# HELP reconcile_seconds Time per reconcile.\n"
                  "# TYPE reconcile_seconds histogram\n"
                  "reconcile_seconds_bucket{kind=\"pod\",le=\"0.1\"} 2\n"
                  "reconcile_seconds_bucket{kind=\"pod\",le=\"0.5\"} 2\n"
                  "reconcile_seconds_bucket{kind=\"pod\",le=\"1\"} 3\n"
                  "reconcile_seconds_bucket{kind=\"pod\",le=\"+Inf\"} 4\n"
                  "reconcile_seconds_sum{kind=\"pod\"} 3.85\n"
                  "reconcile_seconds_count{kind=\"pod\"} 4\n");
  double v = 0;
  CHECK_INT(sk_metric_value(h, (const char *[]){"pod"}, &v), 0);
  CHECK(v == 4);
  sk_metrics_destroy(r);
}

TEST(escaping) {
  sk_metrics_t *r = sk_metrics_create(0);
  REQUIRE(r);
  sk_metric_t *c;
  CHECK_INT(sk_metrics_counter(r, "esc_total", "Help with \\ and\nnewline \"quotes\" kept.",
                               (const char *const[]){"v", NULL}, &c),
            0);
  CHECK_INT(sk_metric_inc(c, (const char *[]){"a\\b\"c\nd"}), 0);
  CHECK_RENDER(r, "# HELP esc_total Help with \\\\ and\\nnewline \"quotes\" kept.\n"
                  "# TYPE esc_total counter\n"
                  "esc_total{v=\"a\\\\b\\\"c\\nd\"} 1\n");
  sk_metrics_destroy(r);
}

TEST(series_sorted_bytewise_label_by_label) {
  sk_metrics_t *r = sk_metrics_create(0);
  REQUIRE(r);
  sk_metric_t *g;
  CHECK_INT(sk_metrics_gauge(r, "g", "", (const char *const[]){"a", "b", NULL}, &g), 0);
  /* Inserted out of order, and enough of them to grow the hash table. */
  const char *names[] = {"z", "B", "a", "ab", "", "b"};
  for (int i = 0; i < 6; i++)
    for (int j = 5; j >= 0; j--)
      CHECK_INT(sk_metric_set(g, (const char *[]){names[i], names[j]}, i * 10 + j), 0);
  char *text = render(r);
  REQUIRE(text);
  /* "" < "B" < "a" < "ab" < "b" < "z" bytewise. */
  const char *order[] = {"", "B", "a", "ab", "b", "z"};
  const char *p = text;
  for (int i = 0; i < 6; i++)
    for (int j = 0; j < 6; j++) {
      char line[64];
      snprintf(line, sizeof(line), "g{a=\"%s\",b=\"%s\"} ", order[i], order[j]);
      const char *at = strstr(p, line);
      if (!at) {
        FAILF("missing or out of order: %s", line);
        break;
      }
      p = at + 1;
    }
  free(text);
  CHECK_INT(sk_metric_series_count(g), 36);
  sk_metrics_destroy(r);
}

static char g_warning[600];
static int g_warnings;

static void capture_warning(const char *message, void *arg) {
  (void)arg;
  g_warnings++;
  snprintf(g_warning, sizeof(g_warning), "%s", message);
}

TEST(cap_sends_new_combinations_to_one_overflow_series) {
  sk_metrics_t *r = sk_metrics_create(3);
  REQUIRE(r);
  sk_metrics_set_warn(r, capture_warning, NULL);
  g_warnings = 0;
  sk_metric_t *c, *small;
  CHECK_INT(sk_metrics_counter(r, "wf_total", "", (const char *const[]){"ns", "name", NULL}, &c),
            0);
  CHECK_INT(sk_metrics_counter(r, "small_total", "", (const char *const[]){"x", NULL}, &small), 0);
  CHECK_INT(sk_metric_set_max_series(small, 1), 0);
  for (int i = 0; i < 1000; i++) {
    char name[16];
    snprintf(name, sizeof(name), "wf-%d", i);
    CHECK_INT(sk_metric_inc(c, (const char *[]){"ml", name}), 0);
  }
  /* Existing series keep counting after the cap is reached. */
  CHECK_INT(sk_metric_inc(c, (const char *[]){"ml", "wf-0"}), 0);
  CHECK_INT(sk_metric_series_count(c), 4);
  CHECK_INT(g_warnings, 1);
  CHECK(strstr(g_warning, "wf_total") != NULL);
  CHECK(strstr(g_warning, "cap of 3") != NULL);
  CHECK_INT(sk_metric_inc(small, (const char *[]){"one"}), 0);
  CHECK_INT(sk_metric_inc(small, (const char *[]){"two"}), 0);
  CHECK_INT(g_warnings, 2);
  CHECK_RENDER(r, "# HELP small_total \n"
                  "# TYPE small_total counter\n"
                  "small_total{x=\"__overflow__\"} 1\n"
                  "small_total{x=\"one\"} 1\n"
                  "# HELP wf_total \n"
                  "# TYPE wf_total counter\n"
                  "wf_total{ns=\"__overflow__\",name=\"__overflow__\"} 997\n"
                  "wf_total{ns=\"ml\",name=\"wf-0\"} 2\n"
                  "wf_total{ns=\"ml\",name=\"wf-1\"} 1\n"
                  "wf_total{ns=\"ml\",name=\"wf-2\"} 1\n");
  /* Removing a series makes room for a new combination. */
  CHECK_INT(sk_metric_remove(c, (const char *[]){"ml", "wf-1"}), 0);
  CHECK_INT(sk_metric_remove(c, (const char *[]){"ml", "wf-1"}), SK_ENOENT);
  CHECK_INT(sk_metric_inc(c, (const char *[]){"ml", "new"}), 0);
  double v = 0;
  CHECK_INT(sk_metric_value(c, (const char *[]){"ml", "new"}, &v), 0);
  CHECK(v == 1);
  CHECK_INT(sk_metric_series_count(c), 4);
  CHECK_INT(sk_metric_set_max_series(c, 10), SK_ESTATE); /* series exist already */
  sk_metrics_destroy(r);
}

TEST(label_values_normalised) {
  sk_metrics_t *r = sk_metrics_create(0);
  REQUIRE(r);
  sk_metric_t *c;
  CHECK_INT(sk_metrics_counter(r, "n_total", "", (const char *const[]){"v", NULL}, &c), 0);
  /* Invalid UTF-8 bytes become U+FFFD; valid multibyte text is kept. */
  CHECK_INT(sk_metric_inc(c, (const char *[]){"caf\xc3\xa9-\xff-\xc3"}), 0);
  CHECK_INT(sk_metric_inc(c, (const char *[]){NULL}), 0); /* NULL is "" */
  CHECK_RENDER(r, "# HELP n_total \n"
                  "# TYPE n_total counter\n"
                  "n_total{v=\"\"} 1\n"
                  "n_total{v=\"caf\xc3\xa9-\xef\xbf\xbd-\xef\xbf\xbd\"} 1\n");
  /* The same bad input finds the same series. */
  double v = 0;
  CHECK_INT(sk_metric_value(c, (const char *[]){"caf\xc3\xa9-\xff-\xc3"}, &v), 0);
  CHECK(v == 1);

  /* Long values are cut to the cap, never inside a character: 255 ASCII
   * bytes then a 2-byte character would end at byte 257, so it goes. */
  char longv[600];
  memset(longv, 'x', 255);
  memcpy(longv + 255, "\xc3\xa9", 2);
  memset(longv + 257, 'y', 300);
  longv[557] = '\0';
  sk_metric_t *d;
  CHECK_INT(sk_metrics_counter(r, "long_total", "", (const char *const[]){"v", NULL}, &d), 0);
  CHECK_INT(sk_metric_inc(d, (const char *[]){longv}), 0);
  longv[255] = '\0';
  CHECK_INT(sk_metric_value(d, (const char *[]){longv}, &v), 0);
  CHECK(v == 1);
  char *text = render(r);
  REQUIRE(text);
  char want[700];
  snprintf(want, sizeof(want), "long_total{v=\"%s\"} 1\n", longv);
  CHECK(strstr(text, want) != NULL);
  free(text);
  sk_metrics_destroy(r);
}

static double g_depth = 7;

static double depth_fn(void *arg) { return *(double *)arg; }

TEST(gauge_fn_computed_at_scrape) {
  sk_metrics_t *r = sk_metrics_create(0);
  REQUIRE(r);
  sk_metric_t *q, *single;
  CHECK_INT(sk_metrics_gauge_fn(r, "workqueue_depth", "Items waiting.",
                                (const char *const[]){"name", NULL}, &q),
            0);
  CHECK_INT(sk_metrics_gauge_fn(r, "informer_objects", "Objects cached.", NULL, &single), 0);
  /* A gauge_fn without a callback yet has no series. */
  CHECK_RENDER(r, "");
  CHECK_INT(sk_metric_set_fn(q, (const char *[]){"workflows"}, depth_fn, &g_depth), 0);
  CHECK_INT(sk_metric_set_fn(single, NULL, depth_fn, &g_depth), 0);
  CHECK_RENDER(r, "# HELP informer_objects Objects cached.\n"
                  "# TYPE informer_objects gauge\n"
                  "informer_objects 7\n"
                  "# HELP workqueue_depth Items waiting.\n"
                  "# TYPE workqueue_depth gauge\n"
                  "workqueue_depth{name=\"workflows\"} 7\n");
  g_depth = 12;
  double v = 0;
  CHECK_INT(sk_metric_value(q, (const char *[]){"workflows"}, &v), 0);
  CHECK(v == 12);
  CHECK_INT(sk_metric_set_fn(single, NULL, NULL, NULL), 0); /* removes it */
  CHECK_RENDER(r, "# HELP workqueue_depth Items waiting.\n"
                  "# TYPE workqueue_depth gauge\n"
                  "workqueue_depth{name=\"workflows\"} 12\n");
  sk_metrics_destroy(r);
}

TEST(refusals) {
  sk_metrics_t *r = sk_metrics_create(0);
  REQUIRE(r);
  sk_metric_t *c = NULL, *g = NULL, *h = NULL;
  CHECK_INT(sk_metrics_counter(r, "ok_total", "", NULL, &c), 0);
  CHECK_INT(sk_metrics_counter(r, "ok_total", "", NULL, NULL), SK_EEXIST);
  CHECK_INT(sk_metrics_gauge(r, "ok_total", "", NULL, NULL), SK_EEXIST);
  CHECK_INT(sk_metrics_counter(r, "1bad", "", NULL, NULL), SK_EINVAL);
  CHECK_INT(sk_metrics_counter(r, "bad-name", "", NULL, NULL), SK_EINVAL);
  CHECK_INT(sk_metrics_counter(r, "", "", NULL, NULL), SK_EINVAL);
  CHECK_INT(sk_metrics_counter(r, "ns:sub_total", "", NULL, NULL), 0); /* colons allowed */
  CHECK_INT(sk_metrics_counter(r, "l1", "", (const char *const[]){"__reserved", NULL}, NULL),
            SK_EINVAL);
  CHECK_INT(sk_metrics_counter(r, "l2", "", (const char *const[]){"a:b", NULL}, NULL), SK_EINVAL);
  CHECK_INT(sk_metrics_counter(r, "l3", "", (const char *const[]){"a", "a", NULL}, NULL),
            SK_EINVAL);
  CHECK_INT(sk_metrics_histogram(r, "h1", "", (const char *const[]){"le", NULL}, NULL, 0, NULL),
            SK_EINVAL);
  CHECK_INT(sk_metrics_histogram(r, "h2", "", NULL, (const double[]){1, 1}, 2, NULL), SK_EINVAL);
  CHECK_INT(sk_metrics_histogram(r, "h3", "", NULL, (const double[]){2, 1}, 2, NULL), SK_EINVAL);
  CHECK_INT(sk_metrics_histogram(r, "h4", "", NULL, (const double[]){1, INFINITY}, 2, NULL),
            SK_EINVAL);
  CHECK_INT(sk_metrics_gauge(r, "g", "", NULL, &g), 0);
  CHECK_INT(sk_metrics_histogram(r, "h", "", NULL, (const double[]){1}, 1, &h), 0);
  /* Operations of the wrong kind, and counters going down. */
  CHECK_INT(sk_metric_add(c, NULL, -1), SK_EINVAL);
  CHECK_INT(sk_metric_add(c, NULL, NAN), SK_EINVAL);
  CHECK_INT(sk_metric_set(c, NULL, 1), SK_EINVAL);
  CHECK_INT(sk_metric_inc(g, NULL), SK_EINVAL);
  CHECK_INT(sk_metric_observe(g, NULL, 1), SK_EINVAL);
  CHECK_INT(sk_metric_set_fn(g, NULL, depth_fn, &g_depth), SK_EINVAL);
  CHECK_INT(sk_metric_set(h, NULL, 1), SK_EINVAL);
  CHECK_INT(sk_metric_set_max_series(c, 5), SK_ESTATE); /* no labels: one series */
  /* The refused registrations left nothing behind. */
  CHECK(sk_metrics_find(r, "l1") == NULL);
  CHECK(sk_metrics_find(r, "h2") == NULL);
  CHECK_RENDER(r, "# HELP g \n# TYPE g gauge\ng 0\n"
                  "# HELP h \n# TYPE h histogram\n"
                  "h_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n"
                  "# HELP ns:sub_total \n# TYPE ns:sub_total counter\nns:sub_total 0\n"
                  "# HELP ok_total \n# TYPE ok_total counter\nok_total 0\n");
  sk_metrics_destroy(r);
}

TEST(render_respects_buffer_cap) {
  sk_metrics_t *r = sk_metrics_create(0);
  REQUIRE(r);
  sk_metric_t *c;
  CHECK_INT(sk_metrics_counter(r, "c_total", "", (const char *const[]){"i", NULL}, &c), 0);
  for (int i = 0; i < 100; i++) {
    char v[16];
    snprintf(v, sizeof(v), "%d", i);
    CHECK_INT(sk_metric_inc(c, (const char *[]){v}), 0);
  }
  sk_buf_t b;
  sk_buf_init(&b, 256);
  CHECK_INT(sk_metrics_render(r, &b), SK_ETOOBIG);
  CHECK(b.len <= 256);
  sk_buf_release(&b);
  sk_metrics_destroy(r);
}

int main(void) {
  RUN(format_double);
  RUN(counter_and_gauge_text);
  RUN(histogram_text);
  RUN(escaping);
  RUN(series_sorted_bytewise_label_by_label);
  RUN(cap_sends_new_combinations_to_one_overflow_series);
  RUN(label_values_normalised);
  RUN(gauge_fn_computed_at_scrape);
  RUN(refusals);
  RUN(render_respects_buffer_cap);
  return TEST_DONE();
}
