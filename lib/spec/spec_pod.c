/*
 * The pod step kind: the container a step runs (image, command, env,
 * resources, volume mounts) and the labels and annotations of its Pod.
 * podSpecPatch is passed through to the Pod and only needs to be an object.
 */
#include <string.h>

#include "spec/spec-int.h"

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

/* --- quantities ------------------------------------------------------------ */

/* A Kubernetes resource quantity: a decimal number with an optional binary
 * (Ki..Ei), decimal (n u m k M G T P E) or exponent suffix. */
static bool quantity_ok(const char *s) {
  const char *p = s;
  if (*p == '+')
    p++;
  bool digits = false;
  while (sk__is_digit(*p)) {
    p++;
    digits = true;
  }
  if (*p == '.') {
    p++;
    while (sk__is_digit(*p)) {
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
    if (sk__is_digit(*q)) {
      while (sk__is_digit(*q))
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

/* --- env ------------------------------------------------------------------- */

static bool env_name_ok(const char *s) {
  if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
    return false;
  for (s++; *s; s++) {
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || sk__is_digit(*s) ||
          *s == '_' || *s == '.' || *s == '-'))
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

/* --- metadata -------------------------------------------------------------- */

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

void sk__check_pod(sk__vctx_t *c, const char *path, json_t *pod) {
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
  sk__check_object_list(c, path, pod, "volumeMounts", 0);
  sk__get_obj(c, path, pod, "podSpecPatch", 0, NULL);
  check_pod_metadata(c, path, pod);
}

