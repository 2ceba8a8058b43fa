/*
 * A pod step's process: its argv and environment, built from the
 * (templated) pod body the way a kubelet would build a container's.
 *
 * argv is `command` followed by `args`. Kubernetes expands `$(NAME)` in
 * command, args and env values from the container's own env list (an env
 * value sees only the variables defined before it), leaves a reference to
 * an unknown name as written, and turns `$$` into `$`. The same happens
 * here, with the SKEIN_* variables defined first, so a step behaves alike
 * on a laptop and on a cluster. The environment is the parent's (the
 * laptop's PATH, HOME, ...; a container would have the image's), then the
 * SKEIN_* variables, then the step's env, later definitions winning.
 */
#include <stdlib.h>
#include <string.h>

#include "local/local-int.h"
#include "util/error.h"

/* Longest expanded string: a command line longer than this is a mistake. */
#define EXPAND_MAX (1u << 20)
/* Most environment entries passed to a process. */
#define ENV_MAX 100000

void sk__strv_free(char **v) {
  if (!v)
    return;
  for (char **p = v; *p; p++)
    free(*p);
  free(v);
}

/* Looks NAME (len bytes) up in vars[0..n), the last definition winning. */
static const char *lookup(char *const *vars, size_t n, const char *name, size_t len) {
  for (size_t i = n; i-- > 0;) {
    const char *v = vars[i];
    if (strncmp(v, name, len) == 0 && v[len] == '=')
      return v + len + 1;
  }
  return NULL;
}

int sk__expand_k8s(const char *s, char *const *vars, size_t n, sk_buf_t *out) {
  int rc = 0;
  for (size_t i = 0; s[i] && rc == 0;) {
    if (s[i] != '$') {
      size_t j = i;
      while (s[j] && s[j] != '$')
        j++;
      rc = sk_buf_append(out, s + i, j - i);
      i = j;
      continue;
    }
    if (s[i + 1] == '$') {
      rc = sk_buf_putc(out, '$');
      i += 2;
      continue;
    }
    if (s[i + 1] == '(') {
      const char *close = strchr(s + i + 2, ')');
      if (close) {
        const char *name = s + i + 2;
        size_t len = (size_t)(close - name);
        const char *val = len ? lookup(vars, n, name, len) : NULL;
        if (val)
          rc = sk_buf_puts(out, val);
        else
          rc = sk_buf_append(out, s + i, len + 3);
        i += len + 3;
        continue;
      }
    }
    rc = sk_buf_putc(out, '$');
    i++;
  }
  return rc;
}

/* A growing NULL-terminated list of strings. */
typedef struct strv {
  char **v;
  size_t n;
  size_t cap;
} strv_t;

static int strv_push(strv_t *sv, char *s) {
  if (!s)
    return SK_ENOMEM;
  if (sv->n >= ENV_MAX) {
    free(s);
    return SK_ETOOBIG;
  }
  if (sv->n + 2 > sv->cap) {
    size_t ncap = sv->cap ? sv->cap * 2 : 32;
    char **nv = realloc(sv->v, ncap * sizeof(*nv));
    if (!nv) {
      free(s);
      return SK_ENOMEM;
    }
    sv->v = nv;
    sv->cap = ncap;
  }
  sv->v[sv->n++] = s;
  sv->v[sv->n] = NULL;
  return 0;
}

static int expand_dup(const char *s, char *const *vars, size_t n, char **out) {
  sk_buf_t b;
  sk_buf_init(&b, EXPAND_MAX);
  int rc = sk_buf_puts(&b, "");
  if (rc == 0)
    rc = sk__expand_k8s(s, vars, n, &b);
  if (rc < 0) {
    sk_buf_release(&b);
    return rc;
  }
  *out = sk_buf_steal(&b);
  return *out ? 0 : SK_ENOMEM;
}

/* Appends the strings of a JSON list (command or args) to argv, expanded. */
static int add_list(strv_t *argv, json_t *list, const char *field, char *const *vars, size_t n,
                    char *err, size_t errlen) {
  if (!list)
    return 0;
  if (!json_is_array(list)) {
    snprintf(err, errlen, "pod.%s is not a list", field);
    return SK_EINVAL;
  }
  size_t i;
  json_t *v;
  json_array_foreach(list, i, v) {
    if (!json_is_string(v)) {
      snprintf(err, errlen, "pod.%s[%zu] is not a string", field, i);
      return SK_EINVAL;
    }
    char *s = NULL;
    int rc = expand_dup(json_string_value(v), vars, n, &s);
    if (rc == 0)
      rc = strv_push(argv, s);
    if (rc < 0) {
      snprintf(err, errlen, "pod.%s[%zu]: %s", field, i, sk_strerror(rc));
      return rc;
    }
  }
  return 0;
}

/* True when entry ("NAME=VALUE") defines a name that vars also defines. */
static bool overridden(const char *entry, char *const *vars, size_t n) {
  const char *eq = strchr(entry, '=');
  return eq && lookup(vars, n, entry, (size_t)(eq - entry)) != NULL;
}

int sk__pod_process(json_t *pod, char *const *parent_env, char *const *skein_vars,
                    char ***argv_out, char ***env_out, char *err, size_t errlen) {
  strv_t vars = {0}, argv = {0}, env = {0};
  int rc = 0;
  *argv_out = NULL;
  *env_out = NULL;
  if (errlen)
    err[0] = '\0';
  for (char *const *p = skein_vars; p && *p && rc == 0; p++)
    rc = strv_push(&vars, strdup(*p));
  json_t *list = json_object_get(pod, "env");
  if (rc == 0 && list && !json_is_array(list)) {
    snprintf(err, errlen, "pod.env is not a list");
    rc = SK_EINVAL;
  }
  size_t i;
  json_t *e;
  json_array_foreach(list, i, e) {
    if (rc < 0)
      break;
    const char *name = json_string_value(json_object_get(e, "name"));
    json_t *val = json_object_get(e, "value");
    if (!name || !name[0] || strchr(name, '=')) {
      snprintf(err, errlen, "pod.env[%zu].name is not a variable name", i);
      rc = SK_EINVAL;
      break;
    }
    if (json_object_get(e, "valueFrom")) {
      snprintf(err, errlen, "pod.env[%zu] (%s) uses valueFrom, which needs a cluster", i, name);
      rc = SK_EINVAL;
      break;
    }
    if (val && !json_is_string(val)) {
      snprintf(err, errlen, "pod.env[%zu].value is not a string", i);
      rc = SK_EINVAL;
      break;
    }
    /* An env value sees only the variables defined before it. */
    char *x = NULL;
    rc = expand_dup(val ? json_string_value(val) : "", vars.v, vars.n, &x);
    if (rc == 0) {
      size_t len = strlen(name) + strlen(x) + 2;
      char *def = malloc(len);
      if (def)
        snprintf(def, len, "%s=%s", name, x);
      rc = strv_push(&vars, def);
    }
    free(x);
    if (rc < 0)
      snprintf(err, errlen, "pod.env[%zu]: %s", i, sk_strerror(rc));
  }
  if (rc == 0)
    rc = add_list(&argv, json_object_get(pod, "command"), "command", vars.v, vars.n, err,
                  errlen);
  /* args alone would be arguments to the image's entrypoint, which a
   * local process does not have. */
  if (rc == 0 && argv.n == 0) {
    snprintf(err, errlen, "pod.command is missing: locally there is no image entrypoint");
    rc = SK_EINVAL;
  }
  if (rc == 0)
    rc = add_list(&argv, json_object_get(pod, "args"), "args", vars.v, vars.n, err, errlen);
  for (char *const *p = parent_env; p && *p && rc == 0; p++)
    if (!overridden(*p, vars.v, vars.n))
      rc = strv_push(&env, strdup(*p));
  /* Only the last definition of a name reaches the process. */
  for (size_t k = 0; k < vars.n && rc == 0; k++) {
    const char *eq = strchr(vars.v[k], '=');
    size_t nlen = (size_t)(eq - vars.v[k]);
    bool later = false;
    for (size_t m = k + 1; m < vars.n && !later; m++)
      later = strncmp(vars.v[m], vars.v[k], nlen + 1) == 0;
    if (!later)
      rc = strv_push(&env, strdup(vars.v[k]));
  }
  if (rc == 0 && !env.v) {
    /* An empty environment is still a NULL-terminated list. */
    env.v = calloc(1, sizeof(*env.v));
    if (!env.v)
      rc = SK_ENOMEM;
  }
  sk__strv_free(vars.v);
  if (rc < 0) {
    if (!err[0])
      snprintf(err, errlen, "%s", sk_strerror(rc));
    sk__strv_free(argv.v);
    sk__strv_free(env.v);
    return rc;
  }
  *argv_out = argv.v;
  *env_out = env.v;
  return 0;
}
