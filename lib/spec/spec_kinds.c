/*
 * The step kinds and their dispatch: exactly one of pod, vertex,
 * sagemaker, resource and rollout per step. The resource and rollout
 * bodies are checked here; pod is in spec_pod.c, vertex and sagemaker in
 * spec_cloud.c. Each body is checked for the shape its executor relies
 * on; the parts passed through to another API (a Kubernetes manifest,
 * Istio match rules) are free-form and only need to be objects or lists.
 */
#include <math.h>
#include <string.h>

#include "spec/spec-int.h"
#include "util/error.h"
#include "util/strutil.h"

static const char *const k_kinds[] = {"pod", "vertex", "sagemaker", "resource", "rollout", NULL};

static const char *const k_resource_fields[] = {"action", "manifest", "successCondition",
                                                "failureCondition", NULL};
static const char *const k_actions[] = {"apply", "create", "patch", "delete", NULL};

static const char *const k_rollout_fields[] = {"virtualService", "namespace", "routes",
                                               "stable",         "canary",    "steps",
                                               "headerRoute",    "mirror",    "analysis",
                                               NULL};
static const char *const k_destination_fields[] = {"host", "subset", "port", NULL};
static const char *const k_rollout_step_fields[] = {"setWeight", "pause", NULL};
static const char *const k_pause_fields[] = {"seconds", NULL};
static const char *const k_mirror_fields[] = {"percent", NULL};
static const char *const k_analysis_fields[] = {"intervalSeconds", "failureLimit",
                                                "inconclusiveLimit", "prometheus", "metrics",
                                                NULL};
static const char *const k_prometheus_fields[] = {"address", NULL};
static const char *const k_metric_fields[] = {"name", "query", "min", "max", NULL};

void sk__check_object_list(sk__vctx_t *c, const char *base, json_t *obj, const char *key,
                           unsigned flags) {
  json_t *list = sk__get_list(c, base, obj, key, flags);
  if (!list)
    return;
  char path[SK__PATH_MAX];
  sk__path_key(path, base, key);
  size_t i;
  json_t *v;
  json_array_foreach(list, i, v) {
    if (!json_is_object(v)) {
      char sub[SK__PATH_MAX];
      sk__path_index(sub, path, i);
      sk__type_error(c, sub, v, "an object");
    }
  }
}

/* --- resource -------------------------------------------------------------- */

static void check_resource(sk__vctx_t *c, const char *path, json_t *v) {
  if (!sk__want_obj(c, path, v, k_resource_fields))
    return;
  sk__get_enum(c, path, v, "action", SK__REQ, k_actions);
  sk__get_str(c, path, v, "manifest", SK__REQ | SK__NONEMPTY);
  sk__get_str(c, path, v, "successCondition", 0);
  sk__get_str(c, path, v, "failureCondition", 0);
}

/* --- rollout --------------------------------------------------------------- */

static void check_dns(sk__vctx_t *c, const char *base, json_t *obj, const char *key,
                      unsigned flags, bool label) {
  const char *s = sk__get_str(c, base, obj, key, flags);
  if (!s || sk__has_placeholder(s))
    return;
  if (label ? sk_is_dns1123_label(s) : sk_is_dns1123_subdomain(s))
    return;
  char path[SK__PATH_MAX];
  char shown[SK__SHOW_BUF];
  sk__path_key(path, base, key);
  if (label)
    sk__report(c, path,
               "invalid %s \"%s\": expected a DNS-1123 label (lowercase letters, digits and "
               "'-', starting and ending with a letter or digit, at most 63 characters)",
               key, sk__show(shown, sizeof(shown), s));
  else
    sk__report(c, path,
               "invalid %s \"%s\": expected a DNS-1123 subdomain (lowercase letters, digits, "
               "'-' and '.', starting and ending with a letter or digit)",
               key, sk__show(shown, sizeof(shown), s));
}

static void check_destination(sk__vctx_t *c, const char *base, json_t *v, const char *key) {
  json_t *d = sk__get_obj(c, base, v, key, SK__REQ, k_destination_fields);
  if (!d)
    return;
  char path[SK__PATH_MAX];
  sk__path_key(path, base, key);
  check_dns(c, path, d, "host", SK__REQ, false);
  sk__get_str(c, path, d, "subset", SK__NONEMPTY);
  sk__get_int(c, path, d, "port", 0, 1, 65535, NULL);
}

static void check_rollout_steps(sk__vctx_t *c, const char *base, json_t *v) {
  json_t *steps = sk__get_list(c, base, v, "steps", 0);
  if (!steps)
    return;
  char lpath[SK__PATH_MAX];
  sk__path_key(lpath, base, "steps");
  size_t i;
  json_t *s;
  json_array_foreach(steps, i, s) {
    char path[SK__PATH_MAX];
    sk__path_index(path, lpath, i);
    if (!sk__want_obj(c, path, s, k_rollout_step_fields))
      continue;
    sk__one_of(c, path, s, k_rollout_step_fields, "a rollout step");
    sk__get_int(c, path, s, "setWeight", 0, 0, 100, NULL);
    json_t *pause = sk__get_obj(c, path, s, "pause", 0, k_pause_fields);
    if (pause) {
      char ppath[SK__PATH_MAX];
      sk__path_key(ppath, path, "pause");
      sk__get_int(c, ppath, pause, "seconds", 0, 0, SK_SPEC_MAX_SECONDS, NULL);
    }
  }
}

static void check_metrics(sk__vctx_t *c, const char *base, json_t *an) {
  json_t *list = sk__get_list(c, base, an, "metrics", SK__REQ | SK__NONEMPTY);
  if (!list)
    return;
  char lpath[SK__PATH_MAX];
  sk__path_key(lpath, base, "metrics");
  json_t *seen = json_object();
  size_t i;
  json_t *m;
  json_array_foreach(list, i, m) {
    char path[SK__PATH_MAX];
    sk__path_index(path, lpath, i);
    if (!sk__want_obj(c, path, m, k_metric_fields))
      continue;
    const char *name = sk__get_str(c, path, m, "name", SK__REQ | SK__NONEMPTY);
    long first_use = name ? sk__first_use(seen, name, i) : -1;
    if (first_use >= 0) {
      char npath[SK__PATH_MAX];
      char first[SK__PATH_MAX];
      char shown[SK__SHOW_BUF];
      sk__path_key(npath, path, "name");
      sk__path_index(first, lpath, (size_t)first_use);
      sk__report(c, npath, "duplicate metric name \"%s\": already used by %s",
                 sk__show(shown, sizeof(shown), name), first);
    }
    sk__get_str(c, path, m, "query", SK__REQ | SK__NONEMPTY);
    double lo = 0, hi = 0;
    bool has_lo = sk__get_num(c, path, m, "min", 0, -HUGE_VAL, HUGE_VAL, &lo);
    bool has_hi = sk__get_num(c, path, m, "max", 0, -HUGE_VAL, HUGE_VAL, &hi);
    if (!sk__member(c, path, m, "min", 0) && !sk__member(c, path, m, "max", 0))
      sk__report(c, path, "a metric needs min, max or both: the bounds a good value lies in");
    else if (has_lo && has_hi && lo > hi) {
      char mpath[SK__PATH_MAX];
      sk__path_key(mpath, path, "max");
      sk__report(c, mpath, "must not be less than min (%.15g), got %.15g", lo, hi);
    }
  }
  json_decref(seen);
}

static void check_analysis(sk__vctx_t *c, const char *base, json_t *v) {
  json_t *an = sk__get_obj(c, base, v, "analysis", 0, k_analysis_fields);
  if (!an)
    return;
  char path[SK__PATH_MAX];
  sk__path_key(path, base, "analysis");
  sk__get_int(c, path, an, "intervalSeconds", 0, 1, SK_SPEC_MAX_SECONDS, NULL);
  sk__get_int(c, path, an, "failureLimit", 0, 0, INT64_MAX, NULL);
  sk__get_int(c, path, an, "inconclusiveLimit", 0, 0, INT64_MAX, NULL);
  json_t *prom = sk__get_obj(c, path, an, "prometheus", SK__REQ, k_prometheus_fields);
  char ppath[SK__PATH_MAX];
  sk__path_key(ppath, path, "prometheus");
  const char *addr = sk__get_str(c, ppath, prom, "address", SK__REQ | SK__NONEMPTY);
  if (addr && !sk__has_placeholder(addr) &&
      !((strncmp(addr, "http://", 7) == 0 && addr[7]) ||
        (strncmp(addr, "https://", 8) == 0 && addr[8]))) {
    char apath[SK__PATH_MAX];
    char shown[SK__SHOW_BUF];
    sk__path_key(apath, ppath, "address");
    sk__report(c, apath,
               "invalid Prometheus address \"%s\": expected an http:// or https:// URL, such "
               "as http://prometheus.istio-system:9090",
               sk__show(shown, sizeof(shown), addr));
  }
  check_metrics(c, path, an);
}

static bool nonempty_list(json_t *obj, const char *key) {
  return json_array_size(json_object_get(obj, key)) > 0;
}

static void check_rollout(sk__vctx_t *c, const char *path, json_t *v) {
  if (!sk__want_obj(c, path, v, k_rollout_fields))
    return;
  check_dns(c, path, v, "virtualService", SK__REQ, false);
  check_dns(c, path, v, "namespace", 0, true);
  sk__get_str_list(c, path, v, "routes", 0);
  check_destination(c, path, v, "stable");
  check_destination(c, path, v, "canary");
  check_rollout_steps(c, path, v);
  sk__check_object_list(c, path, v, "headerRoute", 0);
  json_t *mirror = sk__get_obj(c, path, v, "mirror", 0, k_mirror_fields);
  if (mirror) {
    char mpath[SK__PATH_MAX];
    sk__path_key(mpath, path, "mirror");
    sk__get_num(c, mpath, mirror, "percent", SK__REQ, 0, 100, NULL);
  }
  check_analysis(c, path, v);
  if (!nonempty_list(v, "steps") && !nonempty_list(v, "headerRoute"))
    sk__report(c, path,
               "a rollout needs steps (a canary weight schedule) or headerRoute (an A/B split "
               "by request headers), or both");
}

/* --- dispatch -------------------------------------------------------------- */

void sk__check_step_kind(sk__vctx_t *c, const char *path, json_t *step) {
  sk__one_of(c, path, step, k_kinds, "a step");
  for (size_t k = 0; k_kinds[k]; k++) {
    json_t *body = sk__member(c, path, step, k_kinds[k], 0);
    if (!body)
      continue;
    char bpath[SK__PATH_MAX];
    sk__path_key(bpath, path, k_kinds[k]);
    switch ((sk_step_kind_t)k) {
    case SK_STEP_POD:
      sk__check_pod(c, bpath, body);
      break;
    case SK_STEP_VERTEX:
      sk__check_vertex(c, bpath, body);
      break;
    case SK_STEP_SAGEMAKER:
      sk__check_sagemaker(c, bpath, body);
      break;
    case SK_STEP_RESOURCE:
      check_resource(c, bpath, body);
      break;
    case SK_STEP_ROLLOUT:
      check_rollout(c, bpath, body);
      break;
    case SK_STEP_KIND_COUNT:
      break;
    }
  }
}
