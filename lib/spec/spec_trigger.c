/*
 * WorkflowTemplate triggers: GitHub webhooks and cron schedules, each
 * creating a Workflow from the template with some params set.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "spec/spec-int.h"
#include "util/error.h"
#include "util/strutil.h"

static const char *const k_trigger_fields[] = {"name", "github", "schedule", "params", NULL};
static const char *const k_trigger_kinds[] = {"github", "schedule", NULL};
static const char *const k_github_fields[] = {"events", "repository", "branches", "secretRef",
                                              NULL};
static const char *const k_schedule_fields[] = {"cron", "timeZone", "concurrencyPolicy", NULL};
static const char *const k_concurrency[] = {"Allow", "Forbid", "Replace", NULL};

/* --- cron ------------------------------------------------------------------ */

static const char *const k_months[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                       "jul", "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const k_days[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

typedef struct {
  const char *name;
  int lo, hi;
  const char *const *names; /* names for lo, lo+1, ...; NULL when none */
} cron_field_t;

static const cron_field_t k_cron_fields[5] = {
    {"minute", 0, 59, NULL},
    {"hour", 0, 23, NULL},
    {"day-of-month", 1, 31, NULL},
    {"month", 1, 12, k_months},
    {"day-of-week", 0, 7, k_days},
};

static const char *const k_cron_macros[] = {"@yearly", "@annually", "@monthly", "@weekly",
                                            "@daily",  "@midnight", "@hourly",  NULL};

static int cron_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int cron_err(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return SK_EINVAL;
}

static char lower(char ch) { return (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch; }

/* Parses one value of a field (a number or, for months and weekdays, a
 * three-letter name) from s[0..n); -1 when it is neither. */
static int cron_value(const cron_field_t *f, const char *s, size_t n) {
  if (n == 0)
    return -1;
  if (s[0] >= '0' && s[0] <= '9') {
    int v = 0;
    for (size_t i = 0; i < n; i++) {
      if (s[i] < '0' || s[i] > '9')
        return -1;
      /* Any long number is out of range; stop before it overflows. */
      if (v < 1000000)
        v = v * 10 + (s[i] - '0');
    }
    return v;
  }
  if (!f->names || n != 3)
    return -1;
  for (int k = 0; f->names[k]; k++) {
    if (lower(s[0]) == f->names[k][0] && lower(s[1]) == f->names[k][1] &&
        lower(s[2]) == f->names[k][2])
      return f->lo + k;
  }
  return -1;
}

static int cron_element(const cron_field_t *f, const char *s, size_t n, char *err,
                        size_t errlen) {
  const char *slash = memchr(s, '/', n);
  size_t bn = slash ? (size_t)(slash - s) : n;
  if (!(bn == 1 && s[0] == '*')) {
    const char *dash = memchr(s, '-', bn);
    size_t an = dash ? (size_t)(dash - s) : bn;
    int a = cron_value(f, s, an);
    if (a < 0)
      return cron_err(err, errlen, "%s \"%.*s\" is not a number%s", f->name, (int)an, s,
                      f->names ? " or a name" : "");
    if (a < f->lo || a > f->hi)
      return cron_err(err, errlen, "%s \"%.*s\" is out of range %d-%d", f->name, (int)an, s,
                      f->lo, f->hi);
    if (dash) {
      int b = cron_value(f, dash + 1, bn - an - 1);
      if (b < 0)
        return cron_err(err, errlen, "%s \"%.*s\" is not a number%s", f->name,
                        (int)(bn - an - 1), dash + 1, f->names ? " or a name" : "");
      if (b < f->lo || b > f->hi)
        return cron_err(err, errlen, "%s \"%.*s\" is out of range %d-%d", f->name,
                        (int)(bn - an - 1), dash + 1, f->lo, f->hi);
      if (b < a)
        return cron_err(err, errlen, "%s range \"%.*s\" runs backwards", f->name, (int)bn, s);
    }
  }
  if (slash) {
    const char *st = slash + 1;
    size_t sn = n - bn - 1;
    int step = 0;
    bool digits = sn > 0 && sn <= 3;
    for (size_t i = 0; i < sn && digits; i++) {
      digits = st[i] >= '0' && st[i] <= '9';
      step = step * 10 + (st[i] - '0');
    }
    if (!digits)
      return cron_err(err, errlen, "%s step \"%.*s\" is not a number", f->name, (int)sn, st);
    if (step < 1 || step > f->hi - f->lo + 1)
      return cron_err(err, errlen, "%s step %d is out of range 1-%d", f->name, step,
                      f->hi - f->lo + 1);
  }
  return 0;
}

static int cron_field(const cron_field_t *f, const char *s, size_t n, char *err, size_t errlen) {
  size_t start = 0;
  for (size_t i = 0; i <= n; i++) {
    if (i < n && s[i] != ',')
      continue;
    if (i == start)
      return cron_err(err, errlen, "%s \"%.*s\" has an empty list element", f->name, (int)n, s);
    int rc = cron_element(f, s + start, i - start, err, errlen);
    if (rc < 0)
      return rc;
    start = i + 1;
  }
  return 0;
}

int sk__check_cron(const char *s, char *err, size_t errlen) {
  if (s[0] == '@') {
    for (size_t i = 0; k_cron_macros[i]; i++) {
      if (strcmp(s, k_cron_macros[i]) == 0)
        return 0;
    }
    return cron_err(err, errlen,
                    "unknown macro (expected @yearly, @annually, @monthly, @weekly, @daily, "
                    "@midnight or @hourly)");
  }
  const char *start[6];
  size_t len[6];
  size_t nf = 0;
  const char *p = s;
  while (*p) {
    while (*p == ' ' || *p == '\t')
      p++;
    if (!*p)
      break;
    const char *q = p;
    while (*q && *q != ' ' && *q != '\t')
      q++;
    if (nf < 6) {
      start[nf] = p;
      len[nf] = (size_t)(q - p);
    }
    nf++;
    p = q;
  }
  if (nf != 5)
    return cron_err(err, errlen,
                    "expected 5 fields (minute hour day-of-month month day-of-week), got %zu%s",
                    nf, nf == 6 ? " (a seconds field is not supported)" : "");
  for (size_t i = 0; i < 5; i++) {
    int rc = cron_field(&k_cron_fields[i], start[i], len[i], err, errlen);
    if (rc < 0)
      return rc;
  }
  return 0;
}

/* --- triggers -------------------------------------------------------------- */

static bool repo_part_ok(const char *s, size_t n, bool owner) {
  if (n == 0 || n > (owner ? 39u : 100u))
    return false;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
          ch == '-' || (!owner && (ch == '_' || ch == '.'))))
      return false;
  }
  return true;
}

static bool event_ok(const char *s) {
  if (!*s)
    return false;
  for (; *s; s++) {
    if (!((*s >= 'a' && *s <= 'z') || *s == '_'))
      return false;
  }
  return true;
}

static void check_github(sk__vctx_t *c, const char *base, json_t *tr) {
  json_t *gh = sk__get_obj(c, base, tr, "github", 0, k_github_fields);
  if (!gh)
    return;
  char path[SK__PATH_MAX];
  sk__path_key(path, base, "github");
  char shown[SK__SHOW_BUF];
  json_t *events = sk__get_str_list(c, path, gh, "events", SK__REQ | SK__NONEMPTY);
  size_t i;
  json_t *v;
  json_array_foreach(events, i, v) {
    if (event_ok(json_string_value(v)))
      continue;
    char epath[SK__PATH_MAX], sub[SK__PATH_MAX];
    sk__path_key(epath, path, "events");
    sk__path_index(sub, epath, i);
    sk__report(c, sub,
               "invalid event \"%s\": expected a GitHub webhook event name such as push, "
               "pull_request or workflow_run",
               sk__show(shown, sizeof(shown), json_string_value(v)));
  }
  const char *repo = sk__get_str(c, path, gh, "repository", 0);
  if (repo) {
    const char *slash = strchr(repo, '/');
    if (!slash || !repo_part_ok(repo, (size_t)(slash - repo), true) ||
        !repo_part_ok(slash + 1, strlen(slash + 1), false)) {
      char rpath[SK__PATH_MAX];
      sk__path_key(rpath, path, "repository");
      sk__report(c, rpath, "invalid repository \"%s\": expected \"owner/name\", like acme/mnist",
                 sk__show(shown, sizeof(shown), repo));
    }
  }
  sk__get_str_list(c, path, gh, "branches", 0);
  sk__check_secret_ref(c, path, gh, "secretRef", 0, false);
}

static void check_schedule(sk__vctx_t *c, const char *base, json_t *tr) {
  json_t *sc = sk__get_obj(c, base, tr, "schedule", 0, k_schedule_fields);
  if (!sc)
    return;
  char path[SK__PATH_MAX];
  sk__path_key(path, base, "schedule");
  const char *cron = sk__get_str(c, path, sc, "cron", SK__REQ | SK__NONEMPTY);
  char err[256];
  char shown[SK__SHOW_BUF];
  if (cron && sk__check_cron(cron, err, sizeof(err)) < 0) {
    char cpath[SK__PATH_MAX];
    sk__path_key(cpath, path, "cron");
    sk__report(c, cpath, "invalid cron \"%s\": %s", sk__show(shown, sizeof(shown), cron), err);
  }
  const char *tz = sk__get_str(c, path, sc, "timeZone", SK__NONEMPTY);
  if (tz && (strstr(tz, "..") || strspn(tz, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                             "0123456789_+-/") != strlen(tz))) {
    char tpath[SK__PATH_MAX];
    sk__path_key(tpath, path, "timeZone");
    sk__report(c, tpath, "invalid timeZone \"%s\": expected an IANA time zone such as UTC or "
               "Europe/Paris", sk__show(shown, sizeof(shown), tz));
  }
  sk__get_enum(c, path, sc, "concurrencyPolicy", 0, k_concurrency);
}

static void check_trigger_params(sk__vctx_t *c, const char *base, json_t *tr,
                                 const char **params, size_t nparams, bool known) {
  /* Keys are checked even when a value is wrong, so both are reported. */
  json_t *map = sk__get_str_map(c, base, tr, "params", 0);
  if (!map || !known)
    return;
  char path[SK__PATH_MAX];
  sk__path_key(path, base, "params");
  const char *k;
  json_t *v;
  json_object_foreach(map, k, v) {
    bool found = false;
    for (size_t i = 0; i < nparams && !found; i++)
      found = params[i] && strcmp(params[i], k) == 0;
    if (found)
      continue;
    char sub[SK__PATH_MAX];
    char shown[SK__SHOW_BUF];
    sk__path_key(sub, path, k);
    const char *sug = sk__suggest_name(c, k, params, nparams);
    if (sug)
      sk__report(c, sub, "unknown param \"%s\" (did you mean \"%s\"?)",
                 sk__show(shown, sizeof(shown), k), sug);
    else
      sk__report(c, sub, "unknown param \"%s\": spec.workflow.params declares no such param",
                 sk__show(shown, sizeof(shown), k));
  }
}

void sk__check_triggers(sk__vctx_t *c, const char *base, json_t *spec, const char **params,
                        size_t nparams) {
  json_t *list = sk__get_list(c, base, spec, "triggers", 0);
  if (!list)
    return;
  /* Trigger params can only be checked against a workflow that is there. */
  bool known = json_is_object(json_object_get(spec, "workflow"));
  char lpath[SK__PATH_MAX];
  sk__path_key(lpath, base, "triggers");
  json_t *seen = json_object();
  size_t i;
  json_t *tr;
  json_array_foreach(list, i, tr) {
    char path[SK__PATH_MAX];
    sk__path_index(path, lpath, i);
    if (!sk__want_obj(c, path, tr, k_trigger_fields))
      continue;
    const char *name = sk__get_str(c, path, tr, "name", SK__REQ);
    char npath[SK__PATH_MAX];
    char shown[SK__SHOW_BUF];
    sk__path_key(npath, path, "name");
    if (name && !sk_is_dns1123_label(name)) {
      sk__report(c, npath,
                 "invalid trigger name \"%s\": expected a DNS-1123 label (lowercase letters, "
                 "digits and '-', starting and ending with a letter or digit, at most 63 "
                 "characters)",
                 sk__show(shown, sizeof(shown), name));
      name = NULL;
    }
    long first_use = name ? sk__first_use(seen, name, i) : -1;
    if (first_use >= 0) {
      char first[SK__PATH_MAX];
      sk__path_index(first, lpath, (size_t)first_use);
      sk__report(c, npath, "duplicate trigger name \"%s\": already used by %s",
                 sk__show(shown, sizeof(shown), name), first);
    }
    sk__one_of(c, path, tr, k_trigger_kinds, "a trigger");
    check_github(c, path, tr);
    check_schedule(c, path, tr);
    check_trigger_params(c, path, tr, params, nparams, known);
  }
  json_decref(seen);
}
