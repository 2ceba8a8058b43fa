/*
 * A small checker for the structural OpenAPI schemas of CustomResource
 * Definitions, for tests that run without an API server.
 *
 * It implements what the schemas in manifests/crds/ use, the way the API
 * server applies it: type (integer is a JSON integer, number any number),
 * enum, minimum/maximum with exclusiveMinimum, minLength/maxLength,
 * pattern, minItems/maxItems, x-kubernetes-list-type set and map, required,
 * properties, additionalProperties and x-kubernetes-preserve-unknown-fields.
 * A null value counts as absent, as the server prunes it. Unknown fields
 * are reported (the server would prune them silently; `kubectl apply
 * --validate=strict` reports them). x-kubernetes-validations (CEL) rules are
 * not evaluated here: tests/e2e/test_crds.sh checks them against a real
 * API server. metadata at the root is left to the server, as it does.
 *
 * Each node the checker visits gets a member "x-covered": true, and each
 * enum value it sees is recorded in "x-enum-seen", so a test can list the
 * schema properties and enum values that no example exercised.
 */
#ifndef SK_TEST_CRD_SCHEMA_H
#define SK_TEST_CRD_SCHEMA_H

#include <jansson.h>
#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef struct {
  int count;         /* problems found */
  char first[1024];  /* the first one, "path: message" */
  char all[8192];    /* all of them, one per line, truncated */
} crd_errs_t;

static void crd_err(crd_errs_t *e, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void crd_err(crd_errs_t *e, const char *path, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (e->count == 0)
    snprintf(e->first, sizeof(e->first), "%s: %s", path, msg);
  size_t used = strlen(e->all);
  if (used < sizeof(e->all) - 1)
    snprintf(e->all + used, sizeof(e->all) - used, "%s: %s\n", path, msg);
  e->count++;
}

static bool crd_flag(const json_t *schema, const char *key) {
  return json_is_true(json_object_get(schema, key));
}

static const char *crd_str(const json_t *schema, const char *key) {
  return json_string_value(json_object_get(schema, key));
}

static bool crd_type_ok(const char *type, const json_t *v) {
  if (strcmp(type, "object") == 0)
    return json_is_object(v);
  if (strcmp(type, "array") == 0)
    return json_is_array(v);
  if (strcmp(type, "string") == 0)
    return json_is_string(v);
  if (strcmp(type, "integer") == 0)
    return json_is_integer(v);
  if (strcmp(type, "number") == 0)
    return json_is_number(v);
  if (strcmp(type, "boolean") == 0)
    return json_is_boolean(v);
  return false;
}

/* Length in characters, as the server counts it: UTF-8 continuation bytes
 * do not start a character. */
static size_t crd_utf8_len(const char *s) {
  size_t n = 0;
  for (; *s; s++)
    n += ((unsigned char)*s & 0xC0) != 0x80;
  return n;
}

static void crd_check_string(crd_errs_t *e, const json_t *schema, const json_t *v,
                             const char *path) {
  const char *s = json_string_value(v);
  size_t len = crd_utf8_len(s);
  json_t *lim;
  if ((lim = json_object_get(schema, "minLength")) && len < (size_t)json_integer_value(lim))
    crd_err(e, path, "shorter than minLength %lld", (long long)json_integer_value(lim));
  if ((lim = json_object_get(schema, "maxLength")) && len > (size_t)json_integer_value(lim))
    crd_err(e, path, "longer than maxLength %lld", (long long)json_integer_value(lim));
  const char *pattern = crd_str(schema, "pattern");
  if (pattern) {
    regex_t re;
    if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0) {
      crd_err(e, path, "pattern %s does not compile", pattern);
      return;
    }
    if (regexec(&re, s, 0, NULL, 0) != 0)
      crd_err(e, path, "\"%s\" does not match %s", s, pattern);
    regfree(&re);
  }
}

static void crd_check_number(crd_errs_t *e, const json_t *schema, const json_t *v,
                             const char *path) {
  double x = json_number_value(v);
  json_t *lo = json_object_get(schema, "minimum");
  json_t *hi = json_object_get(schema, "maximum");
  if (lo && (x < json_number_value(lo) ||
             (crd_flag(schema, "exclusiveMinimum") && x == json_number_value(lo))))
    crd_err(e, path, "%g is below the minimum %g", x, json_number_value(lo));
  if (hi && (x > json_number_value(hi) ||
             (crd_flag(schema, "exclusiveMaximum") && x == json_number_value(hi))))
    crd_err(e, path, "%g is above the maximum %g", x, json_number_value(hi));
}

static void crd_validate(crd_errs_t *e, json_t *schema, const json_t *v, const char *path);

/* Records that an example used this enum value, in "x-enum-seen". */
static void crd_mark_enum(json_t *schema, const char *value) {
  json_t *seen = json_object_get(schema, "x-enum-seen");
  if (!seen) {
    seen = json_object();
    json_object_set_new(schema, "x-enum-seen", seen);
  }
  json_object_set_new(seen, value, json_true());
}

static void crd_check_array(crd_errs_t *e, json_t *schema, const json_t *v, const char *path) {
  size_t n = json_array_size(v);
  json_t *lim;
  if ((lim = json_object_get(schema, "minItems")) && n < (size_t)json_integer_value(lim))
    crd_err(e, path, "fewer than minItems %lld", (long long)json_integer_value(lim));
  if ((lim = json_object_get(schema, "maxItems")) && n > (size_t)json_integer_value(lim))
    crd_err(e, path, "more than maxItems %lld", (long long)json_integer_value(lim));
  const char *list_type = crd_str(schema, "x-kubernetes-list-type");
  json_t *keys = json_object_get(schema, "x-kubernetes-list-map-keys");
  json_t *items = json_object_get(schema, "items");
  for (size_t i = 0; i < n; i++) {
    char sub[1024];
    snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
    json_t *item = json_array_get(v, i);
    if (items)
      crd_validate(e, items, item, sub);
    for (size_t j = 0; j < i && list_type; j++) {
      json_t *other = json_array_get(v, j);
      bool same = false;
      if (strcmp(list_type, "set") == 0) {
        same = json_equal(item, other);
      } else if (strcmp(list_type, "map") == 0) {
        same = true;
        for (size_t k = 0; k < json_array_size(keys); k++) {
          const char *key = json_string_value(json_array_get(keys, k));
          same = same && json_equal(json_object_get(item, key), json_object_get(other, key));
        }
      }
      if (same)
        crd_err(e, sub, "duplicate of item %zu in a list of type %s", j, list_type);
    }
  }
}

static void crd_check_object(crd_errs_t *e, json_t *schema, const json_t *v, const char *path,
                             bool root) {
  json_t *required = json_object_get(schema, "required");
  for (size_t i = 0; i < json_array_size(required); i++) {
    const char *key = json_string_value(json_array_get(required, i));
    json_t *m = json_object_get(v, key);
    if (!m || json_is_null(m))
      crd_err(e, path, "required field %s is missing", key);
  }
  json_t *props = json_object_get(schema, "properties");
  json_t *extra = json_object_get(schema, "additionalProperties");
  bool preserve = crd_flag(schema, "x-kubernetes-preserve-unknown-fields");
  const char *key;
  json_t *m;
  json_object_foreach((json_t *)v, key, m) {
    char sub[1024];
    snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", key);
    json_t *ps = json_object_get(props, key);
    if (json_is_null(m) || (root && strcmp(key, "metadata") == 0))
      continue;
    if (ps)
      crd_validate(e, ps, m, sub);
    else if (json_is_object(extra))
      crd_validate(e, extra, m, sub);
    else if (!preserve)
      crd_err(e, sub, "unknown field");
  }
}

static void crd_validate_at(crd_errs_t *e, json_t *schema, const json_t *v, const char *path,
                            bool root) {
  json_object_set_new(schema, "x-covered", json_true());
  if (json_is_null(v))
    return;
  const char *type = crd_str(schema, "type");
  if (type && !crd_type_ok(type, v)) {
    crd_err(e, path, "expected type %s", type);
    return;
  }
  if (!type && crd_flag(schema, "x-kubernetes-int-or-string") && !json_is_integer(v) &&
      !json_is_string(v)) {
    crd_err(e, path, "expected an integer or a string");
    return;
  }
  json_t *allowed = json_object_get(schema, "enum");
  if (allowed) {
    bool found = false;
    for (size_t i = 0; i < json_array_size(allowed) && !found; i++)
      found = json_equal(json_array_get(allowed, i), v);
    if (!found)
      crd_err(e, path, "value not in the enum");
    else if (json_is_string(v))
      crd_mark_enum(schema, json_string_value(v));
  }
  if (json_is_string(v))
    crd_check_string(e, schema, v, path);
  else if (json_is_number(v))
    crd_check_number(e, schema, v, path);
  else if (json_is_array(v))
    crd_check_array(e, schema, v, path);
  else if (json_is_object(v))
    crd_check_object(e, schema, v, path, root);
}

static void crd_validate(crd_errs_t *e, json_t *schema, const json_t *v, const char *path) {
  crd_validate_at(e, schema, v, path, false);
}

/* Validates a whole resource against a version's openAPIV3Schema. */
static void crd_validate_resource(crd_errs_t *e, json_t *schema, const json_t *obj) {
  crd_validate_at(e, schema, obj, "", true);
}

/*
 * The structural-schema rules the server enforces on a CRD, plus this
 * project's own: every node has a type unless it preserves unknown fields
 * (or is int-or-string), an array has items, an object does not have both
 * properties and additionalProperties, logical junctors (allOf, anyOf,
 * oneOf, not) are not used, and, with with_desc, every property below has
 * a description so that `kubectl explain` explains it (own_desc: this node
 * too; a list's items and a map's values are described by the list or map).
 */
static void crd_check_structural(crd_errs_t *e, const json_t *schema, const char *path,
                                 bool with_desc, bool own_desc) {
  const char *type = crd_str(schema, "type");
  if (!type && !crd_flag(schema, "x-kubernetes-preserve-unknown-fields") &&
      !crd_flag(schema, "x-kubernetes-int-or-string"))
    crd_err(e, path, "no type, and neither preserves unknown fields nor is int-or-string");
  static const char *const junctors[] = {"allOf", "anyOf", "oneOf", "not", NULL};
  for (size_t i = 0; junctors[i]; i++) {
    if (json_object_get(schema, junctors[i]))
      crd_err(e, path, "uses %s", junctors[i]);
  }
  if (own_desc && !crd_str(schema, "description"))
    crd_err(e, path, "has no description");
  if (type && strcmp(type, "array") == 0 && !json_object_get(schema, "items"))
    crd_err(e, path, "an array without items");
  json_t *props = json_object_get(schema, "properties");
  json_t *extra = json_object_get(schema, "additionalProperties");
  if (props && extra)
    crd_err(e, path, "both properties and additionalProperties");
  const char *key;
  json_t *sub;
  json_object_foreach(props, key, sub) {
    char p[1024];
    snprintf(p, sizeof(p), "%s.%s", path, key);
    crd_check_structural(e, sub, p, with_desc, with_desc);
  }
  if (json_is_object(extra)) {
    char p[1024];
    snprintf(p, sizeof(p), "%s.*", path);
    /* A map's values are explained by the map's own description. */
    crd_check_structural(e, extra, p, with_desc, false);
  }
  json_t *items = json_object_get(schema, "items");
  if (items) {
    char p[1024];
    snprintf(p, sizeof(p), "%s[]", path);
    /* As for a map: the list's description covers its items. */
    crd_check_structural(e, items, p, with_desc, false);
  }
}

/* Reports, under path, each property that crd_validate never visited.
 * skip_prefix (may be NULL) names a subtree to leave out. */
static void crd_uncovered(crd_errs_t *e, const json_t *schema, const char *path,
                          const char *skip_prefix) {
  if (skip_prefix && strncmp(path, skip_prefix, strlen(skip_prefix)) == 0)
    return;
  if (!crd_flag(schema, "x-covered")) {
    crd_err(e, path, "no example uses it");
    return;
  }
  size_t i;
  json_t *value;
  json_array_foreach(json_object_get(schema, "enum"), i, value) {
    const char *s = json_string_value(value);
    if (s && !json_object_get(json_object_get(schema, "x-enum-seen"), s))
      crd_err(e, path, "no example uses the value %s", s);
  }
  const char *key;
  json_t *sub;
  json_object_foreach(json_object_get(schema, "properties"), key, sub) {
    char p[1024];
    snprintf(p, sizeof(p), "%s.%s", path, key);
    crd_uncovered(e, sub, p, skip_prefix);
  }
  json_t *items = json_object_get(schema, "items");
  if (items) {
    char p[1024];
    snprintf(p, sizeof(p), "%s[]", path);
    crd_uncovered(e, items, p, skip_prefix);
  }
}

#endif
