/*
 * Vertex AI CustomJobs: URLs, the create body, and reading answers and
 * errors (see vertex.h). Pure: no I/O, no clock.
 */
#include "cloud/vertex.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/jobs.h"
#include "util/error.h"
#include "util/strutil.h"

#define LABEL_UID "skein-workflow-uid"
#define LABEL_STEP "skein-step"
#define LABEL_ATTEMPT "skein-attempt"

static bool label_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

int sk_vertex_label_value(const char *in, char *out, size_t outlen) {
  if (!in || !out || outlen < SK_VERTEX_LABEL_MAX + 1)
    return SK_EINVAL;
  size_t n = strlen(in);
  if (n <= SK_VERTEX_LABEL_MAX) {
    for (size_t i = 0; i < n; i++) {
      char c = in[i];
      if (c >= 'A' && c <= 'Z')
        c = (char)(c - 'A' + 'a');
      out[i] = label_char(c) ? c : '-';
    }
    out[n] = '\0';
    return 0;
  }
  /* 54 characters, '-', 8 hex digits: 63. The hash covers the whole
   * original, so values that share their first 54 characters differ. */
  char hex[9];
  int rc = sk__cloud_hash_hex(in, n, hex, sizeof(hex));
  if (rc < 0)
    return rc;
  size_t keep = SK_VERTEX_LABEL_MAX - 9;
  for (size_t i = 0; i < keep; i++) {
    char c = in[i];
    if (c >= 'A' && c <= 'Z')
      c = (char)(c - 'A' + 'a');
    out[i] = label_char(c) ? c : '-';
  }
  out[keep] = '-';
  memcpy(out + keep + 1, hex, 9);
  return 0;
}

bool sk_vertex_name_ok(const char *s) {
  if (!s || !*s || strlen(s) > 128)
    return false;
  for (const char *p = s; *p; p++) {
    char c = *p;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '-' || c == '_' || c == '.' || c == ':'))
      return false;
  }
  return true;
}

/* Checks "<lit>/<part>" at *p for each literal in turn. */
bool sk_vertex_job_name_ok(const char *name) {
  static const char *const lits[] = {"projects", "locations", "customJobs"};
  if (!name || strlen(name) > 512)
    return false;
  const char *p = name;
  for (size_t i = 0; i < 3; i++) {
    size_t ll = strlen(lits[i]);
    if (strncmp(p, lits[i], ll) != 0 || p[ll] != '/')
      return false;
    p += ll + 1;
    const char *slash = strchr(p, '/');
    size_t plen = slash ? (size_t)(slash - p) : strlen(p);
    char part[129];
    if (plen == 0 || plen >= sizeof(part))
      return false;
    memcpy(part, p, plen);
    part[plen] = '\0';
    if (!sk_vertex_name_ok(part))
      return false;
    if (i < 2 && !slash)
      return false;
    if (i == 2 && slash)
      return false;
    p += plen + (slash ? 1 : 0);
  }
  return true;
}

/* base without its trailing slashes: the length to print. */
static int base_len(const char *base) {
  size_t n = strlen(base);
  while (n > 0 && base[n - 1] == '/')
    n--;
  return n > 4096 ? -1 : (int)n;
}

static int print_url(char *out, size_t outlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int print_url(char *out, size_t outlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(out, outlen, fmt, ap);
  va_end(ap);
  if (n < 0)
    return SK_EINVAL;
  if ((size_t)n >= outlen)
    return SK_ETOOBIG;
  return 0;
}

int sk_vertex_create_url(const char *base, const char *project, const char *location,
                         char *out, size_t outlen) {
  if (!base || !out || !sk_vertex_name_ok(project) || !sk_vertex_name_ok(location))
    return SK_EINVAL;
  int bl = base_len(base);
  if (bl < 0)
    return SK_ETOOBIG;
  return print_url(out, outlen, "%.*s/v1/projects/%s/locations/%s/customJobs", bl, base, project,
                   location);
}

int sk_vertex_get_url(const char *base, const char *name, char *out, size_t outlen) {
  if (!base || !out || !sk_vertex_job_name_ok(name))
    return SK_EINVAL;
  int bl = base_len(base);
  if (bl < 0)
    return SK_ETOOBIG;
  return print_url(out, outlen, "%.*s/v1/%s", bl, base, name);
}

int sk_vertex_cancel_url(const char *base, const char *name, char *out, size_t outlen) {
  if (!base || !out || !sk_vertex_job_name_ok(name))
    return SK_EINVAL;
  int bl = base_len(base);
  if (bl < 0)
    return SK_ETOOBIG;
  return print_url(out, outlen, "%.*s/v1/%s:cancel", bl, base, name);
}

/* The three label values of an attempt. */
static int attempt_labels(const char *uid, const char *step, int attempt, char *l_uid,
                          char *l_step, char *l_attempt) {
  char num[24];
  snprintf(num, sizeof(num), "%d", attempt);
  int rc;
  if ((rc = sk_vertex_label_value(uid, l_uid, SK_VERTEX_LABEL_MAX + 1)) < 0 ||
      (rc = sk_vertex_label_value(step, l_step, SK_VERTEX_LABEL_MAX + 1)) < 0 ||
      (rc = sk_vertex_label_value(num, l_attempt, SK_VERTEX_LABEL_MAX + 1)) < 0)
    return rc;
  return 0;
}

int sk_vertex_list_url(const char *base, const char *project, const char *location,
                       const char *workflow_uid, const char *step, int attempt,
                       const char *page_token, char *out, size_t outlen) {
  if (!base || !out || !workflow_uid || !step || !sk_vertex_name_ok(project) ||
      !sk_vertex_name_ok(location))
    return SK_EINVAL;
  char l_uid[SK_VERTEX_LABEL_MAX + 1], l_step[SK_VERTEX_LABEL_MAX + 1],
      l_attempt[SK_VERTEX_LABEL_MAX + 1];
  int rc = attempt_labels(workflow_uid, step, attempt, l_uid, l_step, l_attempt);
  if (rc < 0)
    return rc;
  char filter[512], efilter[1536], etoken[2048] = "";
  rc = print_url(filter, sizeof(filter),
                 "labels." LABEL_UID "=\"%s\" AND labels." LABEL_STEP
                 "=\"%s\" AND labels." LABEL_ATTEMPT "=\"%s\"",
                 l_uid, l_step, l_attempt);
  if (rc < 0)
    return rc;
  if ((rc = sk__cloud_query_escape(filter, efilter, sizeof(efilter))) < 0)
    return rc;
  if (page_token && (rc = sk__cloud_query_escape(page_token, etoken, sizeof(etoken))) < 0)
    return rc;
  int bl = base_len(base);
  if (bl < 0)
    return SK_ETOOBIG;
  return print_url(out, outlen,
                   "%.*s/v1/projects/%s/locations/%s/customJobs?filter=%s&pageSize=%d%s%s", bl,
                   base, project, location, efilter, SK_VERTEX_LIST_PAGE_SIZE,
                   page_token ? "&pageToken=" : "", etoken);
}

json_t *sk_vertex_create_body(const json_t *custom_job, const char *workflow_name,
                              const char *workflow_uid, const char *instance, int attempt,
                              char *err, size_t errlen) {
  json_t *body = NULL;
  if (!json_is_object(custom_job)) {
    snprintf(err, errlen, "vertex.customJob must be an object");
    return NULL;
  }
  if (!workflow_uid || !instance) {
    snprintf(err, errlen, "the job has no workflow uid or step instance");
    return NULL;
  }
  body = json_deep_copy(custom_job);
  if (!body)
    goto nomem;
  json_t *dn = json_object_get(body, "displayName");
  if (!json_is_string(dn) || json_string_length(dn) == 0) {
    char name[SK_VERTEX_DISPLAY_NAME_MAX * 2];
    snprintf(name, sizeof(name), "%s-%s-%d", workflow_name ? workflow_name : "skein", instance,
             attempt);
    /* Workflow and step names are DNS names (ASCII), so a byte cut is a
     * character cut. */
    name[SK_VERTEX_DISPLAY_NAME_MAX] = '\0';
    if (json_object_set_new(body, "displayName", json_string(name)) < 0)
      goto nomem;
  }
  json_t *labels = json_object_get(body, "labels");
  if (labels && !json_is_object(labels)) {
    snprintf(err, errlen, "vertex.customJob.labels must be an object");
    json_decref(body);
    return NULL;
  }
  if (!labels) {
    labels = json_object();
    if (!labels || json_object_set_new(body, "labels", labels) < 0)
      goto nomem;
  }
  char l_uid[SK_VERTEX_LABEL_MAX + 1], l_step[SK_VERTEX_LABEL_MAX + 1],
      l_attempt[SK_VERTEX_LABEL_MAX + 1];
  if (attempt_labels(workflow_uid, instance, attempt, l_uid, l_step, l_attempt) < 0)
    goto nomem;
  if (json_object_set_new(labels, LABEL_UID, json_string(l_uid)) < 0 ||
      json_object_set_new(labels, LABEL_STEP, json_string(l_step)) < 0 ||
      json_object_set_new(labels, LABEL_ATTEMPT, json_string(l_attempt)) < 0)
    goto nomem;
  return body;
nomem:
  json_decref(body);
  snprintf(err, errlen, "out of memory building the CustomJob body");
  return NULL;
}

void sk_vertex_job_release(sk_vertex_job_t *j) {
  if (!j)
    return;
  free(j->name);
  free(j->state);
  free(j->error);
  free(j->model_dir);
  memset(j, 0, sizeof(*j));
}

static char *model_dir_of(const json_t *obj) {
  json_t *prefix = json_object_get(
      json_object_get(json_object_get(obj, "jobSpec"), "baseOutputDirectory"), "outputUriPrefix");
  const char *p = json_string_value(prefix);
  if (!p || !*p)
    return NULL;
  size_t n = strlen(p);
  while (n > 0 && p[n - 1] == '/')
    n--;
  if (n == 0 || n > 4096)
    return NULL;
  char *out = malloc(n + sizeof("/model/"));
  if (!out)
    return NULL;
  memcpy(out, p, n);
  memcpy(out + n, "/model/", sizeof("/model/"));
  return out;
}

int sk_vertex_job_from_json(const json_t *obj, sk_vertex_job_t *out) {
  memset(out, 0, sizeof(*out));
  const char *name = json_string_value(json_object_get(obj, "name"));
  if (!sk_vertex_job_name_ok(name))
    return SK_EPARSE;
  out->name = strdup(name);
  const char *state = json_string_value(json_object_get(obj, "state"));
  out->state = state ? sk_strdup_capped(state, 64) : NULL;
  const char *msg = json_string_value(json_object_get(json_object_get(obj, "error"), "message"));
  if (msg) {
    char clean[SK_CLOUD_MAX_MESSAGE];
    sk__cloud_clean_text(msg, strlen(msg), clean, sizeof(clean));
    out->error = strdup(clean);
  }
  out->model_dir = model_dir_of(obj);
  if (!out->name || (state && !out->state) || (msg && !out->error)) {
    sk_vertex_job_release(out);
    return SK_ENOMEM;
  }
  return 0;
}

int sk_vertex_parse_job(const char *body, size_t len, sk_vertex_job_t *out) {
  memset(out, 0, sizeof(*out));
  json_t *root = json_loadb(body ? body : "", body ? len : 0, 0, NULL);
  if (!json_is_object(root)) {
    json_decref(root);
    return SK_EPARSE;
  }
  int rc = sk_vertex_job_from_json(root, out);
  json_decref(root);
  return rc;
}

int sk_vertex_state_phase(const char *state) {
  if (!state)
    return SK_CJOB_RUNNING;
  if (strcmp(state, "JOB_STATE_SUCCEEDED") == 0)
    return SK_CJOB_SUCCEEDED;
  if (strcmp(state, "JOB_STATE_FAILED") == 0 || strcmp(state, "JOB_STATE_EXPIRED") == 0 ||
      strcmp(state, "JOB_STATE_PARTIALLY_SUCCEEDED") == 0)
    return SK_CJOB_FAILED;
  if (strcmp(state, "JOB_STATE_CANCELLED") == 0)
    return SK_CJOB_CANCELLED;
  return SK_CJOB_RUNNING;
}

static bool label_is(const json_t *labels, const char *key, const char *want) {
  const char *v = json_string_value(json_object_get(labels, key));
  return v && strcmp(v, want) == 0;
}

int sk_vertex_parse_list(const char *body, size_t len, const char *workflow_uid,
                         const char *step, int attempt, bool *found, sk_vertex_job_t *job,
                         char **next_page) {
  *found = false;
  *next_page = NULL;
  memset(job, 0, sizeof(*job));
  char l_uid[SK_VERTEX_LABEL_MAX + 1], l_step[SK_VERTEX_LABEL_MAX + 1],
      l_attempt[SK_VERTEX_LABEL_MAX + 1];
  int rc = attempt_labels(workflow_uid, step, attempt, l_uid, l_step, l_attempt);
  if (rc < 0)
    return rc;
  json_t *root = json_loadb(body ? body : "", body ? len : 0, 0, NULL);
  if (!json_is_object(root)) {
    json_decref(root);
    return SK_EPARSE;
  }
  /* An empty list comes back as {} (proto3 leaves empty fields out). */
  json_t *jobs = json_object_get(root, "customJobs");
  if (jobs && !json_is_array(jobs)) {
    json_decref(root);
    return SK_EPARSE;
  }
  size_t i;
  json_t *it;
  json_array_foreach(jobs, i, it) {
    json_t *labels = json_object_get(it, "labels");
    if (!label_is(labels, LABEL_UID, l_uid) || !label_is(labels, LABEL_STEP, l_step) ||
        !label_is(labels, LABEL_ATTEMPT, l_attempt))
      continue;
    if (sk_vertex_job_from_json(it, job) == 0) {
      *found = true;
      break;
    }
  }
  const char *tok = json_string_value(json_object_get(root, "nextPageToken"));
  rc = 0;
  if (!*found && tok && *tok) {
    *next_page = sk_strdup_capped(tok, 1024);
    if (!*next_page)
      rc = SK_ENOMEM;
  }
  json_decref(root);
  return rc;
}

int64_t sk_vertex_duration_ms(const char *s) {
  if (!s)
    return -1;
  size_t n = strlen(s);
  if (n < 2 || n > 32 || s[n - 1] != 's')
    return -1;
  char num[40];
  memcpy(num, s, n - 1);
  num[n - 1] = '\0';
  double v;
  if (sk_parse_double(num, &v) < 0 || v < 0 || v > 1e9)
    return -1;
  return (int64_t)ceil(v * 1000.0);
}

/* RetryInfo from error.details: the first detail of that type. */
static int64_t retry_info_ms(const json_t *details) {
  size_t i;
  json_t *d;
  json_array_foreach(details, i, d) {
    const char *type = json_string_value(json_object_get(d, "@type"));
    if (!type || !strstr(type, "google.rpc.RetryInfo"))
      continue;
    json_t *delay = json_object_get(d, "retryDelay");
    if (json_is_string(delay))
      return sk_vertex_duration_ms(json_string_value(delay));
    /* The proto form {seconds, nanos}, which a gRPC-transcoded answer may
     * carry. */
    if (json_is_object(delay)) {
      json_t *sec = json_object_get(delay, "seconds");
      double s = json_is_string(sec) ? strtod(json_string_value(sec), NULL)
                                     : json_number_value(sec);
      double ns = json_number_value(json_object_get(delay, "nanos"));
      if (s >= 0 && s < 1e9 && ns >= 0)
        return (int64_t)ceil(s * 1000.0 + ns / 1e6);
    }
  }
  return -1;
}

static sk_cloud_err_class_t classify(long status, const char *st) {
  if (status == 429 || strcmp(st, "RESOURCE_EXHAUSTED") == 0)
    return SK_CLOUD_ERR_THROTTLE;
  if (status == 401 || strcmp(st, "UNAUTHENTICATED") == 0)
    return SK_CLOUD_ERR_AUTH;
  if (status == 404 || strcmp(st, "NOT_FOUND") == 0)
    return SK_CLOUD_ERR_NOT_FOUND;
  if (status == 408 || status >= 500 || strcmp(st, "UNAVAILABLE") == 0 ||
      strcmp(st, "INTERNAL") == 0 || strcmp(st, "DEADLINE_EXCEEDED") == 0 ||
      strcmp(st, "ABORTED") == 0)
    return SK_CLOUD_ERR_TRANSIENT;
  if (status >= 400)
    return SK_CLOUD_ERR_PERMANENT;
  /* A 2xx or 3xx that still is not what we asked for (a redirect, which is
   * not followed): it may be a proxy's doing, so try again. */
  return SK_CLOUD_ERR_TRANSIENT;
}

void sk_vertex_parse_error(long status, const char *body, size_t len, const char *retry_after,
                           const char *transport_text, const char *what,
                           sk_cloud_error_t *out) {
  if (!what)
    what = "Vertex AI answered";
  if (sk__cloud_error_begin(out, status, what, transport_text))
    return;
  json_t *root = (body && len) ? json_loadb(body, len, 0, NULL) : NULL;
  json_t *err = json_object_get(root, "error");
  const char *st = json_string_value(json_object_get(err, "status"));
  const char *msg = json_string_value(json_object_get(err, "message"));
  if (st)
    sk__cloud_clean_text(st, strlen(st), out->code, sizeof(out->code));
  out->cls = classify(status, out->code);
  out->retry_after_ms = retry_info_ms(json_object_get(err, "details"));
  if (out->retry_after_ms < 0)
    out->retry_after_ms = sk__cloud_retry_after_ms(retry_after);
  char clean[SK_CLOUD_MAX_MESSAGE];
  if (msg) {
    sk__cloud_clean_text(msg, strlen(msg), clean, sizeof(clean));
  } else if (body && len && !root) {
    /* Not Google's error JSON (a proxy's page): show its start. */
    sk__cloud_clean_text(body, len < 200 ? len : 200, clean, sizeof(clean));
  } else {
    clean[0] = '\0';
  }
  sk__cloud_error_text(out, what, clean);
  json_decref(root);
}
