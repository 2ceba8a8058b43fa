/*
 * The Pod of one attempt, built from the workflow's identity and the
 * step's templated pod body (the layout is described in controller.h).
 * Everything taken from the body is deep-copied, so merging podSpecPatch
 * into the Pod never changes the engine's body.
 */
#include <stdio.h>
#include <string.h>

#include "controller/controller-int.h"
#include "controller/controller.h"
#include "util/error.h"

/* Fields of a pod body copied into the main container, in this order. */
static const char *const k_container_fields[] = {"image", "imagePullPolicy", "command", "args",
                                                 "workingDir", NULL};
static const char *const k_container_tail[] = {"resources", "volumeMounts", NULL};

static int set_str(json_t *o, const char *key, const char *v) {
  return json_object_set_new(o, key, json_string(v)) < 0 ? SK_ENOMEM : 0;
}

/* Sets o[key] to a deep copy of v when v is present and not null. */
static int set_copy(json_t *o, const char *key, json_t *v) {
  if (!v || json_is_null(v))
    return 0;
  return json_object_set_new(o, key, json_deep_copy(v)) < 0 ? SK_ENOMEM : 0;
}

static bool env_defines(json_t *env, const char *name) {
  size_t i;
  json_t *e;
  json_array_foreach(env, i, e) {
    const char *n = sk__jstr(e, "name");
    if (n && strcmp(n, name) == 0)
      return true;
  }
  return false;
}

static int push_var(json_t *list, json_t *user_env, const char *name, const char *value) {
  /* The step's own definition wins: it is what the user wrote. */
  if (env_defines(user_env, name))
    return 0;
  json_t *e = json_pack("{s:s, s:s}", "name", name, "value", value);
  return e && json_array_append_new(list, e) == 0 ? 0 : SK_ENOMEM;
}

static json_t *build_env(const sk_workflow_t *wf, const char *instance, int attempt,
                         json_t *user_env) {
  json_t *env = json_array();
  if (!env)
    return NULL;
  char num[16];
  snprintf(num, sizeof(num), "%d", attempt);
  json_t *user = json_is_array(user_env) ? user_env : NULL;
  int rc = push_var(env, user, "SKEIN_WORKFLOW", wf->name);
  if (rc == 0)
    rc = push_var(env, user, "SKEIN_STEP", instance);
  if (rc == 0)
    rc = push_var(env, user, "SKEIN_ATTEMPT", num);
  if (rc == 0)
    rc = push_var(env, user, "SKEIN_OUTPUTS", SK_CONTROLLER_OUTPUTS_PATH);
  size_t i;
  json_t *e;
  json_array_foreach(user, i, e) {
    if (rc == 0 && json_array_append_new(env, json_deep_copy(e)) < 0)
      rc = SK_ENOMEM;
  }
  if (rc < 0) {
    json_decref(env);
    return NULL;
  }
  return env;
}

static json_t *build_container(const sk_workflow_t *wf, const char *instance, int attempt,
                               json_t *body) {
  json_t *c = json_object();
  if (!c)
    return NULL;
  int rc = set_str(c, "name", SK_CONTROLLER_CONTAINER);
  for (size_t i = 0; rc == 0 && k_container_fields[i]; i++)
    rc = set_copy(c, k_container_fields[i], json_object_get(body, k_container_fields[i]));
  if (rc == 0) {
    json_t *env = build_env(wf, instance, attempt, json_object_get(body, "env"));
    rc = env && json_object_set_new(c, "env", env) == 0 ? 0 : SK_ENOMEM;
  }
  for (size_t i = 0; rc == 0 && k_container_tail[i]; i++)
    rc = set_copy(c, k_container_tail[i], json_object_get(body, k_container_tail[i]));
  if (rc == 0)
    rc = set_str(c, "terminationMessagePath", SK_CONTROLLER_OUTPUTS_PATH);
  if (rc == 0)
    rc = set_str(c, "terminationMessagePolicy", "FallbackToLogsOnError");
  if (rc < 0) {
    json_decref(c);
    return NULL;
  }
  return c;
}

static json_t *build_metadata(const sk_workflow_t *wf, const char *pod_name, const char *instance,
                              int attempt) {
  char wlabel[SK_CONTROLLER_NAME_MAX + 1], slabel[SK_CONTROLLER_NAME_MAX + 1], num[16];
  if (sk_controller_label_value(wf->name, wlabel, sizeof(wlabel)) < 0 ||
      sk_controller_label_value(instance, slabel, sizeof(slabel)) < 0)
    return NULL;
  snprintf(num, sizeof(num), "%d", attempt);
  json_t *md = json_pack("{s:s, s:s, s:{s:s, s:s, s:s}, s:{s:s}}", "name", pod_name, "namespace",
                         wf->ns ? wf->ns : "default", "labels", SK_CONTROLLER_LABEL_WORKFLOW,
                         wlabel, SK_CONTROLLER_LABEL_STEP, slabel, SK_CONTROLLER_LABEL_ATTEMPT,
                         num, "annotations", SK_CONTROLLER_ANN_STEP, instance);
  if (!md)
    return NULL;
  json_t *ann = json_object_get(md, "annotations");
  json_t *owner = json_pack("{s:s, s:s, s:s, s:b, s:b}", "apiVersion", SK_API_VERSION, "kind",
                            "Workflow", "name", wf->name, "controller", 1,
                            "blockOwnerDeletion", 1);
  int rc = owner ? 0 : SK_ENOMEM;
  if (rc == 0 && wf->uid) {
    rc = set_str(owner, "uid", wf->uid);
    if (rc == 0)
      rc = set_str(ann, SK_CONTROLLER_ANN_WORKFLOW_UID, wf->uid);
  }
  if (rc == 0) {
    json_t *list = json_array();
    rc = list && json_array_append(list, owner) == 0 &&
                 json_object_set_new(md, "ownerReferences", list) == 0
             ? 0
             : SK_ENOMEM;
    if (rc < 0)
      json_decref(list);
  }
  json_decref(owner);
  if (rc < 0) {
    json_decref(md);
    return NULL;
  }
  return md;
}

/* Copies s into out for a message: at most 80 bytes, and anything but
 * printable ASCII shown as '?', so that a value templated from a step's
 * outputs can neither break the status message's line nor its UTF-8. */
static const char *show(char *out, size_t outlen, const char *s) {
  size_t n = 0;
  for (; s[n] && n < 80 && n + 4 < outlen; n++)
    out[n] = (s[n] >= 0x20 && s[n] < 0x7f) ? s[n] : '?';
  if (s[n] && n + 4 <= outlen) {
    memcpy(out + n, "...", 3);
    n += 3;
  }
  out[n] = '\0';
  return out;
}

/* "metadata.labels.team", or `metadata.labels["app.kubernetes.io/name"]`
 * for a key that is not a plain word: field paths as the validator and
 * the templater write them. */
static const char *key_path(char *out, size_t outlen, const char *what, const char *k) {
  char key[96];
  bool plain = k[0] != '\0';
  for (const char *p = k; *p; p++) {
    char ch = *p;
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
          ch == '_' || ch == '-'))
      plain = false;
  }
  show(key, sizeof(key), k);
  if (plain)
    snprintf(out, outlen, "metadata.%s.%s", what, key);
  else
    snprintf(out, outlen, "metadata.%s[\"%s\"]", what, key);
  return out;
}

/* Adds the step's map src (pod.metadata.labels or .annotations, already
 * templated) to the Pod's map dst under the keys skeind has not set: its
 * own keys always win (the validator refuses them in a step, but a body
 * is only data). A label value that templating made invalid fails the
 * attempt here, naming the key, instead of as the API server's refusal of
 * the whole Pod. */
static int add_step_meta(json_t *dst, json_t *src, const char *what, bool label, char *err,
                         size_t errlen) {
  const char *k;
  json_t *v;
  json_object_foreach(src, k, v) {
    char path[128], val[96];
    const char *s = json_string_value(v);
    if (!s) {
      snprintf(err, errlen, "%s: must be a string", key_path(path, sizeof(path), what, k));
      return SK_EINVAL;
    }
    if (json_object_get(dst, k))
      continue;
    if (label && !sk_spec_label_value_ok(s)) {
      snprintf(err, errlen,
               "%s: invalid label value \"%s\" after templating: expected at most 63 letters, "
               "digits, '-', '_' or '.', starting and ending with a letter or digit (or empty)",
               key_path(path, sizeof(path), what, k), show(val, sizeof(val), s));
      return SK_EINVAL;
    }
    int rc = set_str(dst, k, s);
    if (rc < 0)
      return rc;
  }
  return 0;
}

static json_t *find_main(json_t *spec) {
  size_t i;
  json_t *c;
  json_array_foreach(json_object_get(spec, "containers"), i, c) {
    const char *n = sk__jstr(c, "name");
    if (n && strcmp(n, SK_CONTROLLER_CONTAINER) == 0)
      return c;
  }
  return NULL;
}

/* What a patch may not change, and SKEIN_OUTPUTS following a patched
 * terminationMessagePath. */
static int check_patched(json_t *spec, char *err, size_t errlen) {
  const char *rp = sk__jstr(spec, "restartPolicy");
  if (!rp || strcmp(rp, "Never") != 0) {
    snprintf(err, errlen,
             "podSpecPatch.restartPolicy: must stay \"Never\": a step is retried by its retry "
             "setting, with a new Pod per attempt");
    return SK_EINVAL;
  }
  json_t *mc = find_main(spec);
  if (!mc) {
    snprintf(err, errlen,
             "podSpecPatch.containers: the container \"%s\" runs the step and cannot be removed",
             SK_CONTROLLER_CONTAINER);
    return SK_EINVAL;
  }
  const char *path = sk__jstr(mc, "terminationMessagePath");
  if (!path || !path[0]) {
    snprintf(err, errlen,
             "podSpecPatch.containers[%s].terminationMessagePath: must be a file path (it is "
             "where the step writes its outputs)",
             SK_CONTROLLER_CONTAINER);
    return SK_EINVAL;
  }
  if (strcmp(path, SK_CONTROLLER_OUTPUTS_PATH) == 0)
    return 0;
  size_t i;
  json_t *e;
  json_array_foreach(json_object_get(mc, "env"), i, e) {
    const char *n = sk__jstr(e, "name");
    const char *v = sk__jstr(e, "value");
    if (n && v && strcmp(n, "SKEIN_OUTPUTS") == 0 && strcmp(v, SK_CONTROLLER_OUTPUTS_PATH) == 0)
      return set_str(e, "value", path);
  }
  return 0;
}

int sk_controller_build_pod(const sk_workflow_t *wf, const sk_step_t *step, const char *instance,
                            int attempt, json_t *body, json_t **out, char *err, size_t errlen) {
  char scratch[8];
  if (!err || !errlen) {
    err = scratch;
    errlen = sizeof(scratch);
  }
  err[0] = '\0';
  if (!out)
    return SK_EINVAL;
  *out = NULL;
  if (!wf || !wf->name || !step || !instance || attempt < 1 || !json_is_object(body)) {
    snprintf(err, errlen, "cannot build a Pod: the workflow has no name or the step no pod body");
    return SK_EINVAL;
  }
  char pod_name[SK_CONTROLLER_NAME_MAX + 1];
  int rc = sk_controller_pod_name(wf->name, instance, attempt, pod_name, sizeof(pod_name));
  if (rc < 0) {
    snprintf(err, errlen, "cannot name the Pod of %s: %s", instance, sk_strerror(rc));
    return rc;
  }
  json_t *pod = json_pack("{s:s, s:s}", "apiVersion", "v1", "kind", "Pod");
  json_t *spec = json_pack("{s:s}", "restartPolicy", "Never");
  json_t *containers = json_array();
  json_t *md = build_metadata(wf, pod_name, instance, attempt);
  json_t *mc = build_container(wf, instance, attempt, body);
  rc = pod && spec && containers && md && mc ? 0 : SK_ENOMEM;
  if (rc == 0 && wf->service_account)
    rc = set_str(spec, "serviceAccountName", wf->service_account);
  if (rc == 0 && step->timeout_seconds > 0 &&
      json_object_set_new(spec, "activeDeadlineSeconds", json_integer(step->timeout_seconds)) < 0)
    rc = SK_ENOMEM;
  if (rc == 0 && (json_array_append(containers, mc) < 0 ||
                  json_object_set(spec, "containers", containers) < 0 ||
                  json_object_set(pod, "metadata", md) < 0 ||
                  json_object_set(pod, "spec", spec) < 0))
    rc = SK_ENOMEM;
  json_t *step_md = json_object_get(body, "metadata");
  if (rc == 0)
    rc = add_step_meta(json_object_get(md, "labels"), json_object_get(step_md, "labels"),
                       "labels", true, err, errlen);
  if (rc == 0)
    rc = add_step_meta(json_object_get(md, "annotations"),
                       json_object_get(step_md, "annotations"), "annotations", false, err,
                       errlen);
  if (rc == 0)
    rc = sk_controller_merge(spec, json_object_get(body, "podSpecPatch"), err, errlen);
  if (rc == 0)
    rc = check_patched(spec, err, errlen);
  json_decref(spec);
  json_decref(containers);
  json_decref(md);
  json_decref(mc);
  if (rc < 0) {
    if (rc == SK_ENOMEM && !err[0])
      snprintf(err, errlen, "out of memory");
    json_decref(pod);
    return rc;
  }
  *out = pod;
  return 0;
}
