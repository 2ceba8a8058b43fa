/*
 * podSpecPatch: a strategic-merge-like merge of a JSON patch into a
 * PodSpec (the rules are in controller.h). Lists of named things merge by
 * their Kubernetes merge key, so a patch can add a volume mount to the
 * main container without restating its image, command and env.
 */
#include <stdio.h>
#include <string.h>

#include "controller/controller-int.h"
#include "controller/controller.h"
#include "util/error.h"

/* Deeper than this is not a PodSpec; it also bounds the recursion. */
#define MAX_DEPTH 64
#define PATH_MAX_LEN 512

static const struct {
  const char *field;
  const char *key;
} k_merge_keys[] = {
    {"containers", "name"},       {"initContainers", "name"},
    {"ephemeralContainers", "name"}, {"volumes", "name"},
    {"env", "name"},              {"imagePullSecrets", "name"},
    {"resourceClaims", "name"},   {"volumeMounts", "mountPath"},
    {"volumeDevices", "devicePath"}, {"ports", "containerPort"},
    {"hostAliases", "ip"},        {"topologySpreadConstraints", "topologyKey"},
};

static const char *merge_key_of(const char *field) {
  for (size_t i = 0; i < sizeof(k_merge_keys) / sizeof(k_merge_keys[0]); i++)
    if (strcmp(k_merge_keys[i].field, field) == 0)
      return k_merge_keys[i].key;
  return NULL;
}

typedef struct mctx {
  char *err;
  size_t errlen;
} mctx_t;

static int fail(mctx_t *m, const char *path, const char *what) {
  snprintf(m->err, m->errlen, "%s: %s", path, what);
  return SK_EINVAL;
}

/* A path cut to fit ends on a whole UTF-8 character, since it is quoted
 * in a status message that must stay valid UTF-8. */
static void fit_utf8(char *out, int n) {
  if (n >= PATH_MAX_LEN)
    sk__utf8_trim_partial(out);
}

static void path_key(char *out, const char *base, const char *key) {
  char tmp[PATH_MAX_LEN];
  snprintf(tmp, sizeof(tmp), "%s", base);
  fit_utf8(out, snprintf(out, PATH_MAX_LEN, "%s.%s", tmp, key));
}

static void path_index(char *out, const char *base, size_t i) {
  char tmp[PATH_MAX_LEN], num[24];
  snprintf(tmp, sizeof(tmp), "%s", base);
  snprintf(num, sizeof(num), "[%zu]", i);
  fit_utf8(out, snprintf(out, PATH_MAX_LEN, "%s%s", tmp, num));
}

static int merge_value(mctx_t *m, json_t **slot, json_t *pv, const char *field, const char *path,
                       int depth);

/* Merges the patch object p into the object t. */
static int merge_object(mctx_t *m, json_t *t, json_t *p, const char *path, int depth) {
  if (depth > MAX_DEPTH)
    return fail(m, path, "nested too deeply");
  const char *k;
  json_t *pv;
  json_object_foreach(p, k, pv) {
    char sub[PATH_MAX_LEN];
    path_key(sub, path, k);
    if (k[0] == '$')
      return fail(m, sub,
                  "patch directives are not supported here (only {\"$patch\": \"delete\"} in an "
                  "item of a merged list)");
    if (json_is_null(pv)) {
      json_object_del(t, k);
      continue;
    }
    json_t *cur = json_object_get(t, k);
    json_t *slot = cur ? json_incref(cur) : NULL;
    int rc = merge_value(m, &slot, pv, k, sub, depth + 1);
    if (rc == 0 && slot != cur && json_object_set(t, k, slot) < 0)
      rc = SK_ENOMEM;
    json_decref(slot);
    if (rc < 0)
      return rc;
  }
  return 0;
}

/* Merges the patch list p into the list t by merge key `key`. */
static int merge_list(mctx_t *m, json_t *t, json_t *p, const char *key, const char *path,
                      int depth) {
  size_t i;
  json_t *item;
  json_array_foreach(p, i, item) {
    char sub[PATH_MAX_LEN];
    path_index(sub, path, i);
    json_t *kv = json_is_object(item) ? json_object_get(item, key) : NULL;
    if (!kv || json_is_null(kv)) {
      char what[160];
      snprintf(what, sizeof(what), "an item of this list is merged by its \"%s\", which it lacks",
               key);
      return fail(m, sub, what);
    }
    json_t *dir = json_object_get(item, "$patch");
    bool del = false;
    if (dir) {
      if (!json_is_string(dir) || strcmp(json_string_value(dir), "delete") != 0)
        return fail(m, sub, "the only supported \"$patch\" directive is \"delete\"");
      del = true;
    }
    size_t found = SIZE_MAX;
    size_t j;
    json_t *titem;
    json_array_foreach(t, j, titem) {
      if (json_is_object(titem) && json_equal(json_object_get(titem, key), kv)) {
        found = j;
        break;
      }
    }
    if (del) {
      if (found != SIZE_MAX)
        json_array_remove(t, found);
      continue;
    }
    if (found != SIZE_MAX) {
      int rc = merge_object(m, json_array_get(t, found), item, sub, depth + 1);
      if (rc < 0)
        return rc;
      continue;
    }
    json_t *fresh = json_object();
    if (!fresh)
      return SK_ENOMEM;
    int rc = merge_object(m, fresh, item, sub, depth + 1);
    if (rc == 0 && json_array_append(t, fresh) < 0)
      rc = SK_ENOMEM;
    json_decref(fresh);
    if (rc < 0)
      return rc;
  }
  return 0;
}

/* Merges pv into *slot (a new or borrowed-and-increfed reference, or NULL
 * when absent), replacing *slot when the value is not merged in place. */
static int merge_value(mctx_t *m, json_t **slot, json_t *pv, const char *field, const char *path,
                       int depth) {
  if (depth > MAX_DEPTH)
    return fail(m, path, "nested too deeply");
  json_t *cur = *slot;
  if (json_is_object(pv)) {
    /* A new object is merged into an empty one, which drops its nulls
     * and checks its directives the same way. */
    json_t *t = json_is_object(cur) ? json_incref(cur) : json_object();
    if (!t)
      return SK_ENOMEM;
    int rc = merge_object(m, t, pv, path, depth);
    json_decref(*slot);
    *slot = t;
    return rc;
  }
  const char *key = json_is_array(pv) ? merge_key_of(field) : NULL;
  if (key) {
    json_t *t = json_is_array(cur) ? json_incref(cur) : json_array();
    if (!t)
      return SK_ENOMEM;
    int rc = merge_list(m, t, pv, key, path, depth);
    json_decref(*slot);
    *slot = t;
    return rc;
  }
  json_t *copy = json_deep_copy(pv);
  if (!copy)
    return SK_ENOMEM;
  json_decref(*slot);
  *slot = copy;
  return 0;
}

int sk_controller_merge(json_t *target, json_t *patch, char *err, size_t errlen) {
  char scratch[8];
  mctx_t m = {err && errlen ? err : scratch, err && errlen ? errlen : sizeof(scratch)};
  m.err[0] = '\0';
  if (!json_is_object(target))
    return SK_EINVAL;
  if (!patch || json_is_null(patch))
    return 0;
  if (!json_is_object(patch))
    return fail(&m, "podSpecPatch", "must be an object (a part of a PodSpec)");
  return merge_object(&m, target, patch, "podSpecPatch", 0);
}
