/*
 * The cloud job step kinds, vertex (a Vertex AI CustomJob) and sagemaker
 * (a SageMaker training or processing job): where the job runs, the
 * credentials and the polling schedule. The job bodies are passed through
 * to the cloud's API and only need the shape skeind itself reads.
 */
#include "spec/spec-int.h"

static const char *const k_vertex_fields[] = {"project", "location", "customJob",
                                              "credentials", "poll", NULL};
static const char *const k_sagemaker_fields[] = {"region", "trainingJob", "processingJob",
                                                 "credentials", "poll", NULL};
static const char *const k_sagemaker_jobs[] = {"trainingJob", "processingJob", NULL};
static const char *const k_credentials_fields[] = {"secretRef", NULL};
static const char *const k_poll_fields[] = {"initialSeconds", "factor", "maxSeconds", NULL};

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
    if (!((ch >= 'a' && ch <= 'z') || sk__is_digit(ch) || ch == '-' ||
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

void sk__check_vertex(sk__vctx_t *c, const char *path, json_t *v) {
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
  sk__check_object_list(c, spath, spec, "workerPoolSpecs", SK__REQ | SK__NONEMPTY);
  check_credentials(c, path, v);
  check_poll(c, path, v);
}

void sk__check_sagemaker(sk__vctx_t *c, const char *path, json_t *v) {
  if (!sk__want_obj(c, path, v, k_sagemaker_fields))
    return;
  check_cloud_name(c, path, v, "region", "region", "us-east-1", false);
  sk__one_of(c, path, v, k_sagemaker_jobs, "sagemaker");
  sk__get_obj(c, path, v, "trainingJob", 0, NULL);
  sk__get_obj(c, path, v, "processingJob", 0, NULL);
  check_credentials(c, path, v);
  check_poll(c, path, v);
}

