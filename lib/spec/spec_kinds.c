/*
 * The five step kinds: pod, vertex, sagemaker, resource and rollout. Each
 * body is checked for the shape its executor relies on; the parts that are
 * passed through to another API (podSpecPatch, a CustomJob, a
 * CreateTrainingJob body, Istio match rules) are free-form and only need to
 * be objects or lists.
 */
#include <math.h>
#include <string.h>

#include "spec/spec-int.h"
#include "util/error.h"
#include "util/strutil.h"

static const char *const k_kinds[] = {"pod", "vertex", "sagemaker", "resource", "rollout", NULL};

static const char *const k_pod_fields[] = {
    "image",      "command",         "args",         "env",          "resources",
    "workingDir", "imagePullPolicy", "volumeMounts", "podSpecPatch", "metadata", NULL};
static const char *const k_pod_meta_fields[] = {"labels", "annotations", NULL};
/* The labels and annotations skeind puts on every Pod it creates, which
 * it finds its Pods by: a step may not set them, in either map, so that
 * what a Pod says about its workflow is always skeind's. */
static const char *const k_reserved_keys[] = {"skein.dev/workflow", "skein.dev/step",
                                              "skein.dev/attempt", "skein.dev/workflow-uid",
                                              NULL};
static const char *const k_env_fields[] = {"name", "value", "valueFrom", NULL};
static const char *const k_value_from[] = {"secretKeyRef", "configMapKeyRef", "fieldRef",
                                           "resourceFieldRef", NULL};
static const char *const k_key_ref_fields[] = {"name", "key", "optional", NULL};
static const char *const k_field_ref_fields[] = {"fieldPath", "apiVersion", NULL};
static const char *const k_res_field_ref_fields[] = {"resource", "containerName", "divisor",
                                                     NULL};
static const char *const k_resources_fields[] = {"requests", "limits", "claims", NULL};
static const char *const k_pull_policies[] = {"Always", "IfNotPresent", "Never", NULL};

static const char *const k_vertex_fields[] = {"project", "location", "customJob",
                                              "credentials", "poll", NULL};
static const char *const k_sagemaker_fields[] = {"region", "trainingJob", "processingJob",
                                                 "credentials", "poll", NULL};
static const char *const k_sagemaker_jobs[] = {"trainingJob", "processingJob", NULL};
static const char *const k_credentials_fields[] = {"secretRef", NULL};
static const char *const k_poll_fields[] = {"initialSeconds", "factor", "maxSeconds", NULL};

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

/* --- small value rules ---------------------------------------------------- */

static bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }

/* A Kubernetes resource quantity: a decimal number with an optional binary
 * (Ki..Ei), decimal (n u m k M G T P E) or exponent suffix. */
static bool quantity_ok(const char *s) {
  const char *p = s;
  if (*p == '+')
    p++;
  bool digits = false;
  while (is_digit(*p)) {
    p++;
    digits = true;
  }
  if (*p == '.') {
    p++;
    while (is_digit(*p)) {
      p++;
      digits = true;
    }
  }
  if (!digits)
    return false;
  if (!*p)
    return true;
  if ((*p == 'e' || *p == 'E') && p[1]) {
    const char *q = p + 1;
    if (*q == '+' || *q == '-')
      q++;
    if (is_digit(*q)) {
      while (is_digit(*q))
        q++;
      if (!*q)
        return true;
    }
  }
  if (p[0] && strchr("KMGTPE", p[0]) && p[1] == 'i' && !p[2])
    return true;
  return p[0] && strchr("numkMGTPE", p[0]) && !p[1];
}

static void check_quantity(sk__vctx_t *c, const char *path, json_t *v) {
  char shown[SK__SHOW_BUF];
  if (json_is_number(v)) {
    if (json_number_value(v) < 0)
      sk__report(c, path, "a quantity must not be negative");
    return;
  }
  if (!json_is_string(v)) {
    sk__type_error(c, path, v, "a quantity (a string such as \"500m\" or \"1Gi\", or a number)");
    return;
  }
  const char *s = json_string_value(v);
  if (!sk__has_placeholder(s) && !quantity_ok(s))
    sk__report(c, path,
               "invalid quantity \"%s\": expected a number with an optional suffix, such as "
               "500m, 2, 1.5, 512Mi or 1G",
               sk__show(shown, sizeof(shown), s));
}

static void check_quantity_map(sk__vctx_t *c, const char *base, json_t *obj, const char *key) {
  json_t *map = sk__get_obj(c, base, obj, key, 0, NULL);
  if (!map)
    return;
  char path[SK__PATH_MAX];
  sk__path_key(path, base, key);
  const char *k;
  json_t *v;
  json_object_foreach(map, k, v) {
    char sub[SK__PATH_MAX];
    sk__path_key(sub, path, k);
    check_quantity(c, sub, v);
  }
}

/* A list whose items must be objects (their content is free-form). */
static void check_object_list(sk__vctx_t *c, const char *base, json_t *obj, const char *key,
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

/* Names that end up in a URL's host or path: a cloud region, location or
 * project. Refusing anything else keeps a typo (or a hostile value) from
 * reaching a different endpoint. */
static void check_cloud_name(sk__vctx_t *c, const char *base, json_t *obj, const char *key,
                             const char *what, const char *example, bool allow_upper) {
  const char *s = sk__get_str(c, base, obj, key, 0);
  if (!s || sk__has_placeholder(s))
    return;
  bool ok = *s != '\0';
  for (const char *p = s; *p; p++) {
    char ch = *p;
    if (!((ch >= 'a' && ch <= 'z') || is_digit(ch) || ch == '-' ||
          (allow_upper && ((ch >= 'A' && ch <= 'Z') || ch == '.' || ch == ':' || ch == '_'))))
      ok = false;
  }
  if (!ok) {
    char path[SK__PATH_MAX];
    char shown[SK__SHOW_BUF];
    sk__path_key(path, base, key);
    sk__report(c, path, "invalid %s \"%s\": expected %s, like %s", what,
               sk__show(shown, sizeof(shown), s),
               allow_upper ? "letters, digits, '-', '_', '.' or ':'"
                           : "lowercase letters, digits and '-'",
               example);
  }
}

/* --- pod ------------------------------------------------------------------- */

static bool env_name_ok(const char *s) {
  if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
    return false;
  for (s++; *s; s++) {
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || is_digit(*s) || *s == '_' ||
          *s == '.' || *s == '-'))
      return false;
  }
  return true;
}

static void check_key_ref(sk__vctx_t *c, const char *base, json_t *vf, const char *key) {
  json_t *ref = sk__get_obj(c, base, vf, key, 0, k_key_ref_fields);
  if (!ref)
    return;
  char path[SK__PATH_MAX];
  sk__path_key(path, base, key);
  sk__get_str(c, path, ref, "name", SK__REQ | SK__NONEMPTY);
  sk__get_str(c, path, ref, "key", SK__REQ | SK__NONEMPTY);
  sk__get_bool(c, path, ref, "optional", 0);
}

static void check_value_from(sk__vctx_t *c, const char *base, json_t *env) {
  json_t *vf = sk__get_obj(c, base, env, "valueFrom", 0, k_value_from);
  if (!vf)
    return;
  char path[SK__PATH_MAX];
  sk__path_key(path, base, "valueFrom");
  sk__one_of(c, path, vf, k_value_from, "valueFrom");
  check_key_ref(c, path, vf, "secretKeyRef");
  check_key_ref(c, path, vf, "configMapKeyRef");
  json_t *fr = sk__get_obj(c, path, vf, "fieldRef", 0, k_field_ref_fields);
  if (fr) {
    char sub[SK__PATH_MAX];
    sk__path_key(sub, path, "fieldRef");
    sk__get_str(c, sub, fr, "fieldPath", SK__REQ | SK__NONEMPTY);
    sk__get_str(c, sub, fr, "apiVersion", 0);
  }
  json_t *rf = sk__get_obj(c, path, vf, "resourceFieldRef", 0, k_res_field_ref_fields);
  if (rf) {
    char sub[SK__PATH_MAX];
    sk__path_key(sub, path, "resourceFieldRef");
    sk__get_str(c, sub, rf, "resource", SK__REQ | SK__NONEMPTY);
    sk__get_str(c, sub, rf, "containerName", 0);
    json_t *d = sk__member(c, sub, rf, "divisor", 0);
    if (d) {
      char dpath[SK__PATH_MAX];
      sk__path_key(dpath, sub, "divisor");
      check_quantity(c, dpath, d);
    }
  }
}

static void check_env(sk__vctx_t *c, const char *base, json_t *pod) {
  json_t *list = sk__get_list(c, base, pod, "env", 0);
  if (!list)
    return;
  char lpath[SK__PATH_MAX];
  sk__path_key(lpath, base, "env");
  size_t i;
  json_t *e;
  json_array_foreach(list, i, e) {
    char path[SK__PATH_MAX];
    sk__path_index(path, lpath, i);
    if (!sk__want_obj(c, path, e, k_env_fields))
      continue;
    const char *name = sk__get_str(c, path, e, "name", SK__REQ);
    if (name && !env_name_ok(name)) {
      char npath[SK__PATH_MAX];
      char shown[SK__SHOW_BUF];
      sk__path_key(npath, path, "name");
      sk__report(c, npath,
                 "invalid environment variable name \"%s\": expected a letter or '_' followed "
                 "by letters, digits, '_', '.' or '-'",
                 sk__show(shown, sizeof(shown), name));
    }
    sk__get_str(c, path, e, "value", 0);
    check_value_from(c, path, e);
    if (sk__member(c, path, e, "value", 0) && sk__member(c, path, e, "valueFrom", 0)) {
      char vpath[SK__PATH_MAX];
      sk__path_key(vpath, path, "valueFrom");
      sk__report(c, vpath, "set either value or valueFrom, not both");
    }
  }
}

/* Reports the reserved keys of a label or annotation map at path. */
static void check_reserved_keys(sk__vctx_t *c, const char *path, json_t *map) {
  const char *k;
  json_t *v;
  json_object_foreach(map, k, v) {
    for (size_t i = 0; k_reserved_keys[i]; i++) {
      if (strcmp(k, k_reserved_keys[i]) != 0)
        continue;
      char kpath[SK__PATH_MAX];
      sk__path_key(kpath, path, k);
      sk__report(c, kpath,
                 "%s is set by skeind: " SK_API_GROUP "/workflow, step, attempt and "
                 "workflow-uid mark the Pods it creates; other " SK_API_GROUP "/ keys are free",
                 k);
    }
  }
}

/* pod.metadata: labels and annotations for the step's Pod. Keys are
 * checked as for the resource's own metadata (label keys as Kubernetes
 * does, annotation keys not at all); values are templated. */
static void check_pod_metadata(sk__vctx_t *c, const char *base, json_t *pod) {
  json_t *md = sk__get_obj(c, base, pod, "metadata", 0, k_pod_meta_fields);
  if (!md)
    return;
  char path[SK__PATH_MAX], sub[SK__PATH_MAX];
  sk__path_key(path, base, "metadata");
  json_t *labels = sk__get_str_map(c, path, md, "labels", 0);
  sk__path_key(sub, path, "labels");
  sk__check_labels(c, sub, labels, true);
  check_reserved_keys(c, sub, labels);
  json_t *ann = sk__get_str_map(c, path, md, "annotations", 0);
  sk__path_key(sub, path, "annotations");
  check_reserved_keys(c, sub, ann);
  const char *k;
  json_t *v;
  json_object_foreach(ann, k, v) {
    /* Only values are templated: a placeholder in a key would reach the
     * Pod as it is written. */
    if (sk__has_placeholder(k)) {
      char kpath[SK__PATH_MAX];
      sk__path_key(kpath, sub, k);
      sk__report(c, kpath, "annotation keys are not templated, only their values");
    }
  }
}

static void check_pod(sk__vctx_t *c, const char *path, json_t *pod) {
  if (!sk__want_obj(c, path, pod, k_pod_fields))
    return;
  sk__get_str(c, path, pod, "image", SK__REQ | SK__NONEMPTY);
  sk__get_str_list(c, path, pod, "command", 0);
  sk__get_str_list(c, path, pod, "args", 0);
  check_env(c, path, pod);
  json_t *res = sk__get_obj(c, path, pod, "resources", 0, k_resources_fields);
  if (res) {
    char rpath[SK__PATH_MAX];
    sk__path_key(rpath, path, "resources");
    check_quantity_map(c, rpath, res, "requests");
    check_quantity_map(c, rpath, res, "limits");
    sk__get_list(c, rpath, res, "claims", 0);
  }
  sk__get_str(c, path, pod, "workingDir", 0);
  sk__get_enum(c, path, pod, "imagePullPolicy", 0, k_pull_policies);
  check_object_list(c, path, pod, "volumeMounts", 0);
  sk__get_obj(c, path, pod, "podSpecPatch", 0, NULL);
  check_pod_metadata(c, path, pod);
}

/* --- cloud jobs ------------------------------------------------------------ */

static void check_credentials(sk__vctx_t *c, const char *base, json_t *body) {
  json_t *cred = sk__get_obj(c, base, body, "credentials", 0, k_credentials_fields);
  if (!cred)
    return;
  char path[SK__PATH_MAX];
  sk__path_key(path, base, "credentials");
  sk__check_secret_ref(c, path, cred, "secretRef", SK__REQ, false);
}

static void check_poll(sk__vctx_t *c, const char *base, json_t *body) {
  json_t *poll = sk__get_obj(c, base, body, "poll", 0, k_poll_fields);
  if (!poll)
    return;
  char path[SK__PATH_MAX];
  sk__path_key(path, base, "poll");
  char sub[SK__PATH_MAX];
  double initial = 0, max = 0;
  bool has_initial = sk__get_num(c, path, poll, "initialSeconds", 0, 0,
                                 (double)SK_SPEC_MAX_SECONDS, &initial);
  if (has_initial && initial <= 0) {
    sk__path_key(sub, path, "initialSeconds");
    sk__report(c, sub, "must be greater than 0, got 0");
    has_initial = false;
  }
  sk__get_num(c, path, poll, "factor", 0, 1, 100, NULL);
  bool has_max = sk__get_num(c, path, poll, "maxSeconds", 0, 0, (double)SK_SPEC_MAX_SECONDS,
                             &max);
  sk__path_key(sub, path, "maxSeconds");
  if (has_max && max <= 0)
    sk__report(c, sub, "must be greater than 0, got 0");
  else if (has_max && has_initial && max < initial)
    sk__report(c, sub, "must be at least initialSeconds (%.15g), got %.15g", initial, max);
}

static void check_vertex(sk__vctx_t *c, const char *path, json_t *v) {
  if (!sk__want_obj(c, path, v, k_vertex_fields))
    return;
  check_cloud_name(c, path, v, "project", "project", "my-project", true);
  check_cloud_name(c, path, v, "location", "location", "us-central1", false);
  json_t *job = sk__get_obj(c, path, v, "customJob", SK__REQ, NULL);
  char jpath[SK__PATH_MAX];
  sk__path_key(jpath, path, "customJob");
  json_t *spec = sk__get_obj(c, jpath, job, "jobSpec", SK__REQ, NULL);
  char spath[SK__PATH_MAX];
  sk__path_key(spath, jpath, "jobSpec");
  check_object_list(c, spath, spec, "workerPoolSpecs", SK__REQ | SK__NONEMPTY);
  check_credentials(c, path, v);
  check_poll(c, path, v);
}

static void check_sagemaker(sk__vctx_t *c, const char *path, json_t *v) {
  if (!sk__want_obj(c, path, v, k_sagemaker_fields))
    return;
  check_cloud_name(c, path, v, "region", "region", "us-east-1", false);
  sk__one_of(c, path, v, k_sagemaker_jobs, "sagemaker");
  sk__get_obj(c, path, v, "trainingJob", 0, NULL);
  sk__get_obj(c, path, v, "processingJob", 0, NULL);
  check_credentials(c, path, v);
  check_poll(c, path, v);
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
  check_object_list(c, path, v, "headerRoute", 0);
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
      check_pod(c, bpath, body);
      break;
    case SK_STEP_VERTEX:
      check_vertex(c, bpath, body);
      break;
    case SK_STEP_SAGEMAKER:
      check_sagemaker(c, bpath, body);
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
