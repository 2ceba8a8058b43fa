/*
 * Cloud steps of a local run: a vertex step runs as a Vertex AI
 * CustomJob, a sagemaker step as a SageMaker training or processing job,
 * through the same tracker skeind uses (cloud/jobs.h), on the run's loop.
 *
 * There is no cluster here, so there are no Secrets: every job is
 * authorised with this machine's own credentials (Google Application
 * Default Credentials, the AWS credential chain), each authoriser made
 * once per run at the first step that needs it. run.c warns up front
 * about a step's credentials.secretRef, which is ignored.
 *
 * Each attempt's job has a number n that only grows within a run
 * directory, resumes included: its tracker key is "<uid>/<instance>/<n>",
 * and n is what the tracker labels a Vertex job with (skein-attempt) and
 * builds a SageMaker job's name from. The engine counts attempts from 1
 * again after --resume, so its attempt cannot be that number: a SageMaker
 * name would repeat, and the cloud would hand back the old job. What each
 * job is, is kept in steps/<instance>/job-<n>.json (written before the
 * job is submitted, and again as its name and end become known), which is
 * also where n is counted from.
 *
 * A job the interrupted run left running (its record was Running in
 * status.json) is followed by the first attempt after --resume instead of
 * being submitted again: by the name the status (or the job file)
 * recorded, or, when the name never became known, by the tracker's label
 * lookup (adopt_first).
 *
 * A KILL (timeout, deadline, Ctrl-C) asks the cloud to cancel the job;
 * the attempt then stays until the cancel is accepted or given up (by the
 * tracker, or here after SK__CLOUD_CANCEL_WAIT_MS), and the run waits for
 * it as it waits for a killed process to exit.
 */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/aws.h"
#include "cloud/gcp.h"
#include "local/local-int.h"
#include "util/error.h"
#include "util/strutil.h"
#include "util/timeutil.h"

/* Keys and job file names: a uid, an instance name (a DNS label plus an
 * index) and a number fit with room to spare. */
#define KEY_MAX 512
#define PATH_CAP 4096
/* How often the jobs' messages are looked at (see sk__runner_t.cloud_tick). */
#define TICK_MS 1000

static const char *kind_what(sk_cjob_kind_t k) {
  switch (k) {
  case SK_CJOB_VERTEX:
    return "Vertex AI job";
  case SK_CJOB_SAGEMAKER_TRAINING:
    return "SageMaker training job";
  case SK_CJOB_SAGEMAKER_PROCESSING:
    return "SageMaker processing job";
  }
  return "cloud job";
}

static const char *cancel_name(sk_cjob_cancel_t c) {
  switch (c) {
  case SK_CJOB_CANCEL_NONE:
    return NULL;
  case SK_CJOB_CANCEL_PENDING:
    return "Pending";
  case SK_CJOB_CANCEL_ACCEPTED:
    return "Accepted";
  case SK_CJOB_CANCEL_GAVE_UP:
    return "GaveUp";
  }
  return NULL;
}

static bool phase_is_final(sk_cjob_phase_t p) {
  return p == SK_CJOB_SUCCEEDED || p == SK_CJOB_FAILED || p == SK_CJOB_CANCELLED;
}

/* The job kind of a START: a sagemaker body holds exactly one of its job
 * objects (the validator sees to it). */
static int kind_of(const sk_action_t *act, sk_cjob_kind_t *out) {
  if (act->step->kind == SK_STEP_VERTEX) {
    *out = SK_CJOB_VERTEX;
    return 0;
  }
  if (json_is_object(json_object_get(act->body, "trainingJob"))) {
    *out = SK_CJOB_SAGEMAKER_TRAINING;
    return 0;
  }
  if (json_is_object(json_object_get(act->body, "processingJob"))) {
    *out = SK_CJOB_SAGEMAKER_PROCESSING;
    return 0;
  }
  return SK_EINVAL;
}

/* Replaces *dst with a copy of src (NULL clears it). Returns whether the
 * value changed. */
static bool replace(char **dst, const char *src) {
  if ((!*dst && !src) || (*dst && src && strcmp(*dst, src) == 0))
    return false;
  free(*dst);
  *dst = sk_strdup0(src);
  return true;
}

/* ---- the attempts ---- */

static void attempt_free(sk__cloud_attempt_t *c) {
  if (!c)
    return;
  free(c->instance);
  free(c->key);
  free(c->name);
  free(c->state);
  free(c->message);
  free(c);
}

static sk__cloud_attempt_t *find_key(const sk__runner_t *r, const char *key) {
  for (sk__cloud_attempt_t *c = r->cloud; c; c = c->next)
    if (strcmp(c->key, key) == 0)
      return c;
  return NULL;
}

static sk__cloud_attempt_t *find_attempt(const sk__runner_t *r, const char *instance,
                                         int attempt) {
  for (sk__cloud_attempt_t *c = r->cloud; c; c = c->next)
    if (c->attempt == attempt && strcmp(c->instance, instance) == 0)
      return c;
  return NULL;
}

/* The executor's reference as the status records it (new reference). */
static json_t *make_ref(const sk__cloud_attempt_t *c) {
  json_t *ref = json_pack("{s:s}", "kind", sk_cjob_ref_kind(c->kind));
  if (ref && c->name)
    json_object_set_new(ref, "name", json_string(c->name));
  if (ref && c->state)
    json_object_set_new(ref, "state", json_string(c->state));
  return ref;
}

/* Writes steps/<instance>/job-<n>.json: what the job is and how far it
 * got. A failed write is warned about once; the run goes on (only a
 * resume would miss it). */
static void write_job_file(sk__runner_t *r, const sk__cloud_attempt_t *c, const char *phase,
                           sk_cjob_cancel_t cancel) {
  char name[PATH_CAP];
  char err[512] = "out of memory";
  json_t *j = json_pack("{s:s, s:s, s:s, s:i, s:i, s:s}", "kind", sk_cjob_ref_kind(c->kind), "key",
                        c->key, "instance", c->instance, "attempt", c->attempt, "job", c->job,
                        "phase", phase);
  int rc = j ? 0 : SK_ENOMEM;
  if (rc == 0 && c->name)
    json_object_set_new(j, "name", json_string(c->name));
  if (rc == 0 && c->state)
    json_object_set_new(j, "state", json_string(c->state));
  if (rc == 0 && cancel_name(cancel))
    json_object_set_new(j, "cancel", json_string(cancel_name(cancel)));
  if (rc == 0) {
    int n = snprintf(name, sizeof(name), "steps/%s/job-%d.json", c->instance, c->job);
    if (n < 0 || (size_t)n >= sizeof(name)) {
      snprintf(err, sizeof(err), "path too long");
      rc = SK_ETOOBIG;
    }
  }
  if (rc == 0)
    rc = sk__store_write_json(&r->store, name, j, err, sizeof(err));
  json_decref(j);
  if (rc < 0 && !r->job_file_warned) {
    r->job_file_warned = true;
    sk__progress_note(&r->progress, "warning: cannot save the job record of %s: %s",
                      c->instance, err);
  }
}

static void note_outcome_of_cancel(sk__runner_t *r, const sk__cloud_attempt_t *c,
                                   const sk_cjob_info_t *info) {
  const char *what = kind_what(c->kind);
  if (info->cancel == SK_CJOB_CANCEL_GAVE_UP) {
    sk__progress_warn(&r->progress,
                      "warning: %s: could not cancel the %s %s%s%s; it may still be running, "
                      "stop it yourself",
                      c->instance, what, c->name ? c->name : "(name unknown)",
                      info->message ? ": " : "", info->message ? info->message : "");
  } else if (!c->name) {
    sk__progress_note(&r->progress, "%s: cancelled before the %s was created", c->instance,
                      what);
  } else if (info->cancel == SK_CJOB_CANCEL_ACCEPTED) {
    sk__progress_note(&r->progress, "%s: the cloud accepted the cancel of %s %s", c->instance,
                      what, c->name);
  } else {
    sk__progress_note(&r->progress, "%s: %s %s had already ended (%s)", c->instance, what,
                      c->name, sk_cjob_phase_name(info->phase));
  }
}

/* Reports a job that ended to the engine. */
static void report_end(sk__runner_t *r, sk__cloud_attempt_t *c, const sk_cjob_info_t *info) {
  char msg[SK_STATUS_MAX_MESSAGE];
  const char *state = info->state ? info->state : sk_cjob_phase_name(info->phase);
  switch (info->phase) {
  case SK_CJOB_SUCCEEDED: {
    json_t *outputs = info->outputs ? json_deep_copy(info->outputs) : NULL;
    sk__queue_obs(r, SK_OBS_SUCCEEDED, c->instance, c->attempt, NULL, outputs, make_ref(c));
    break;
  }
  case SK_CJOB_FAILED:
    if (info->message && info->message[0])
      snprintf(msg, sizeof(msg), "%s", info->message);
    else
      snprintf(msg, sizeof(msg), "the %s ended %s", kind_what(c->kind), state);
    sk__queue_obs(r, SK_OBS_FAILED, c->instance, c->attempt, msg, NULL, make_ref(c));
    break;
  default:
    /* Cancelled by someone else (the console, the CLI): nothing of this
     * run asked for it, so the attempt failed. The tracker's message only
     * repeats that, with the name the ref already holds. */
    snprintf(msg, sizeof(msg), "job was cancelled (%s)", state);
    sk__queue_obs(r, SK_OBS_FAILED, c->instance, c->attempt, msg, NULL, make_ref(c));
    break;
  }
}

/* What the tracker now knows of c's job: notes for the user, the ref in
 * the status, the end of the attempt, the outcome of a cancel. */
static void update(sk__runner_t *r, sk__cloud_attempt_t *c, const sk_cjob_info_t *info) {
  if (c->done)
    return;
  bool name_new = info->name && replace(&c->name, info->name);
  bool state_new = info->state && replace(&c->state, info->state);
  bool msg_new = replace(&c->message, info->message);
  bool final = phase_is_final(info->phase);
  const char *what = kind_what(c->kind);
  if (c->cancelling) {
    if (name_new && !final)
      sk__progress_note(&r->progress, "%s: cancelling %s %s", c->instance, what, c->name);
    if (info->cancel == SK_CJOB_CANCEL_ACCEPTED || info->cancel == SK_CJOB_CANCEL_GAVE_UP ||
        final) {
      note_outcome_of_cancel(r, c, info);
      c->done = true;
      write_job_file(r, c, sk_cjob_phase_name(info->phase), info->cancel);
      sk__schedule_plan(r);
    }
    return;
  }
  if (name_new) {
    if (c->followed)
      sk__progress_note(&r->progress, "%s: following %s %s of the interrupted run", c->instance,
                        what, c->name);
    else
      sk__progress_note(&r->progress, "%s: submitted %s %s", c->instance, what, c->name);
    write_job_file(r, c, sk_cjob_phase_name(info->phase), info->cancel);
  }
  if (final) {
    c->done = true;
    write_job_file(r, c, sk_cjob_phase_name(info->phase), info->cancel);
    report_end(r, c, info);
    return;
  }
  if (state_new)
    sk__progress_note(&r->progress, "%s: job state %s", c->instance, c->state);
  if (msg_new && c->message && c->message[0])
    sk__progress_note(&r->progress, "%s: %s", c->instance, c->message);
  if (name_new || state_new)
    sk__queue_obs(r, SK_OBS_STARTED, c->instance, c->attempt, NULL, NULL, make_ref(c));
}

static void on_change(const char *key, void *arg) {
  sk__runner_t *r = arg;
  if (r->closing || !r->cjobs)
    return;
  sk__cloud_attempt_t *c = find_key(r, key);
  sk_cjob_info_t info;
  if (!c || sk_cjobs_info(r->cjobs, key, &info) < 0)
    return;
  update(r, c, &info);
}

static void on_tick(uv_timer_t *timer) {
  sk__runner_t *r = timer->data;
  if (r->closing || !r->cjobs)
    return;
  int64_t now = sk_time_mono_ms();
  for (sk__cloud_attempt_t *c = r->cloud; c; c = c->next) {
    sk_cjob_info_t info;
    if (!c->done && sk_cjobs_info(r->cjobs, c->key, &info) == 0)
      update(r, c, &info);
    if (!c->done && c->cancelling && now >= c->cancel_deadline_ms) {
      char waited[32];
      sk_duration_format(SK__CLOUD_CANCEL_WAIT_MS, waited, sizeof(waited));
      sk__progress_warn(&r->progress,
                        "warning: %s: no answer to the cancel of %s %s after %s; it may still "
                        "be running, stop it yourself",
                        c->instance, kind_what(c->kind), c->name ? c->name : "(name unknown)",
                        waited);
      c->done = true;
      sk__schedule_plan(r);
    }
  }
}

/* ---- setting up, once per run ---- */

static int ensure_tracker(sk__runner_t *r, char *err, size_t errlen) {
  if (r->cjobs)
    return 0;
  if (!r->curl_ready) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
      snprintf(err, errlen, "cannot initialise libcurl");
      return SK_EIO;
    }
    r->curl_ready = true;
  }
  if (!r->http && !(r->http = sk_http_create(&r->loop))) {
    snprintf(err, errlen, "cannot create the HTTP client");
    return SK_ENOMEM;
  }
  sk_cjobs_config_t cfg;
  memset(&cfg, 0, sizeof(cfg));
  sk_cloud_endpoints_from_env(&cfg.endpoints);
  cfg.on_change = on_change;
  cfg.arg = r;
  r->cjobs = sk_cjobs_create(&r->loop, r->http, &cfg);
  if (!r->cjobs) {
    snprintf(err, errlen, "cannot create the cloud job tracker");
    return SK_ENOMEM;
  }
  if (!r->cloud_tick_open) {
    uv_timer_init(&r->loop, &r->cloud_tick);
    r->cloud_tick.data = r;
    r->cloud_tick_open = true;
    uv_timer_start(&r->cloud_tick, on_tick, TICK_MS, TICK_MS);
    uv_unref((uv_handle_t *)&r->cloud_tick);
  }
  return 0;
}

/* The ambient authoriser for a kind of job, made at its first use. */
static sk_cloud_authz_t *authz_for(sk__runner_t *r, sk_cjob_kind_t kind) {
  sk_cloud_endpoints_t e;
  sk_cloud_endpoints_from_env(&e);
  if (kind == SK_CJOB_VERTEX) {
    if (!r->gcp_authz)
      r->gcp_authz = sk_gcp_authz_default(&r->loop, r->http, &e);
    return r->gcp_authz;
  }
  if (!r->aws_authz)
    r->aws_authz = sk_aws_authz_default(&r->loop, r->http, &e);
  return r->aws_authz;
}

static sk__cloud_resume_t *find_resume(sk__runner_t *r, const char *instance) {
  for (size_t i = 0; i < r->nresume; i++)
    if (r->resume[i].instance && strcmp(r->resume[i].instance, instance) == 0)
      return &r->resume[i];
  return NULL;
}

static void resume_entry_free(sk__cloud_resume_t *e) {
  free(e->instance);
  free(e->name);
  e->instance = e->name = NULL;
}

void sk__cloud_resume_free(sk__runner_t *r) {
  for (size_t i = 0; i < r->nresume; i++)
    resume_entry_free(&r->resume[i]);
  free(r->resume);
  r->resume = NULL;
  r->nresume = 0;
}

static const char *env_first(const char *a, const char *b) {
  const char *v = getenv(a);
  if (v && v[0])
    return v;
  v = b ? getenv(b) : NULL;
  return v && v[0] ? v : NULL;
}

/* ---- the executor ---- */

void sk__cloud_start(sk__runner_t *r, const sk_action_t *act) {
  char err[1024] = "";
  sk__cloud_attempt_t *c = NULL;
  json_t *last = NULL;
  sk_buf_t dir;
  sk_buf_init(&dir, PATH_CAP);
  sk_cjob_kind_t kind = SK_CJOB_VERTEX;
  int rc = kind_of(act, &kind);
  if (rc < 0) {
    snprintf(err, sizeof(err), "a sagemaker step needs trainingJob or processingJob");
    goto fail;
  }
  rc = ensure_tracker(r, err, sizeof(err));
  if (rc < 0)
    goto fail;
  sk_cloud_authz_t *authz = authz_for(r, kind);
  if (!authz) {
    snprintf(err, sizeof(err), "cannot set up the %s credentials",
             kind == SK_CJOB_VERTEX ? "Google Cloud" : "AWS");
    rc = SK_ENOMEM;
    goto fail;
  }
  rc = sk__store_step_path(&r->store, act->instance, NULL, &dir);
  if (rc == 0)
    rc = sk__mkdirs(dir.data, err, sizeof(err));
  if (rc < 0) {
    if (!err[0])
      snprintf(err, sizeof(err), "the run directory path is too long");
    goto fail;
  }
  int last_n = 0;
  rc = sk__store_last_job(&r->store, act->instance, &last_n, &last);
  if (rc < 0) {
    snprintf(err, sizeof(err), "cannot read the job records of %s: %s", act->instance,
             sk_strerror(rc));
    goto fail;
  }
  c = calloc(1, sizeof(*c));
  if (!c || !(c->instance = strdup(act->instance))) {
    rc = SK_ENOMEM;
    snprintf(err, sizeof(err), "out of memory");
    goto fail;
  }
  c->attempt = act->attempt;
  c->kind = kind;
  c->job = last_n + 1;
  /* The interrupted run's job, when it was this attempt's: the job record
   * says which attempt it belonged to (a crash may have come between
   * recording the start of an attempt and submitting its job). */
  sk__cloud_resume_t *res = find_resume(r, act->instance);
  if (res) {
    json_t *jattempt = json_object_get(last, "attempt");
    const char *jkind = json_string_value(json_object_get(last, "kind"));
    if (last_n > 0 && json_is_integer(jattempt) &&
        json_integer_value(jattempt) == res->attempt && jkind &&
        strcmp(jkind, sk_cjob_ref_kind(kind)) == 0) {
      c->job = last_n;
      c->followed = true;
      const char *name = res->name ? res->name
                                   : json_string_value(json_object_get(last, "name"));
      if (name && !(c->name = strdup(name))) {
        rc = SK_ENOMEM;
        snprintf(err, sizeof(err), "out of memory");
        goto fail;
      }
    }
    resume_entry_free(res);
  }
  char key[KEY_MAX];
  int n = snprintf(key, sizeof(key), "%s/%s/%d", r->wf->uid ? r->wf->uid : "", act->instance,
                   c->job);
  if (n < 0 || (size_t)n >= sizeof(key) || !(c->key = strdup(key))) {
    rc = SK_ENOMEM;
    snprintf(err, sizeof(err), "out of memory");
    goto fail;
  }
  /* Recorded before the submit, so a crash right after it still leaves
   * the job's number taken and findable. */
  write_job_file(r, c, "Submitting", SK_CJOB_CANCEL_NONE);
  /* Linked first: the tracker may report on the key at once. */
  c->next = r->cloud;
  r->cloud = c;
  sk_cjob_desc_t desc = {
      .kind = kind,
      .key = c->key,
      .workflow_uid = r->wf->uid,
      .workflow_name = r->wf->name,
      .instance = act->instance,
      .attempt = c->job,
      .body = act->body,
      .name = c->name,
      .adopt_first = c->followed && !c->name,
      .default_project = env_first("GOOGLE_CLOUD_PROJECT", NULL),
      .default_region = env_first("AWS_REGION", "AWS_DEFAULT_REGION"),
      .authz = authz,
  };
  rc = sk_cjobs_ensure(r->cjobs, &desc);
  if (rc < 0) {
    sk_cjob_info_t info;
    if (sk_cjobs_info(r->cjobs, c->key, &info) == 0 && info.message)
      snprintf(err, sizeof(err), "%s", info.message);
    else
      snprintf(err, sizeof(err), "cannot submit the %s: %s", kind_what(kind), sk_strerror(rc));
    /* Linked: the reap forgets it. */
    c->done = true;
    c = NULL;
    goto fail;
  }
  sk__queue_obs(r, SK_OBS_STARTED, act->instance, act->attempt, NULL, NULL, make_ref(c));
  if (c->followed && c->name)
    sk__progress_note(&r->progress, "%s: following %s %s of the interrupted run", c->instance,
                      kind_what(kind), c->name);
  else if (c->followed)
    sk__progress_note(&r->progress,
                      "%s: looking for the %s of the interrupted run (its name was not "
                      "recorded)",
                      c->instance, kind_what(kind));
  /* An adopted or resumed job may already be known. */
  sk_cjob_info_t info;
  if (sk_cjobs_info(r->cjobs, c->key, &info) == 0)
    update(r, c, &info);
  goto done;

fail:
  attempt_free(c);
  sk__queue_obs(r, SK_OBS_FAILED, act->instance, act->attempt, err[0] ? err : sk_strerror(rc),
                NULL, NULL);
done:
  json_decref(last);
  sk_buf_release(&dir);
}

bool sk__cloud_kill(sk__runner_t *r, const char *instance, int attempt) {
  sk__cloud_attempt_t *c = find_attempt(r, instance, attempt);
  if (!c)
    return false;
  if (c->done || c->cancelling)
    return true;
  c->cancelling = true;
  c->cancel_deadline_ms = sk_time_mono_ms() + SK__CLOUD_CANCEL_WAIT_MS;
  const char *what = kind_what(c->kind);
  if (c->name)
    sk__progress_note(&r->progress, "%s: cancelling %s %s", c->instance, what, c->name);
  else
    sk__progress_note(&r->progress, "%s: cancelling the %s (its name is not known yet)",
                      c->instance, what);
  if (!r->cjobs || sk_cjobs_cancel(r->cjobs, c->key) < 0) {
    /* Not tracked: there is nothing to wait for. */
    c->done = true;
    sk__schedule_plan(r);
    return true;
  }
  sk_cjob_info_t info;
  if (sk_cjobs_info(r->cjobs, c->key, &info) == 0) {
    write_job_file(r, c, sk_cjob_phase_name(info.phase), info.cancel);
    update(r, c, &info);
  }
  return true;
}

void sk__cloud_kill_all(sk__runner_t *r) {
  for (sk__cloud_attempt_t *c = r->cloud; c; c = c->next)
    if (!c->done && !c->cancelling)
      sk__cloud_kill(r, c->instance, c->attempt);
}

void sk__cloud_abandon(sk__runner_t *r) {
  for (sk__cloud_attempt_t *c = r->cloud; c; c = c->next) {
    if (c->done)
      continue;
    sk__progress_warn(&r->progress,
                      "warning: %s: stopped waiting for the cancel of %s %s; it may still be "
                      "running",
                      c->instance, kind_what(c->kind), c->name ? c->name : "(name unknown)");
    c->done = true;
  }
}

size_t sk__cloud_reap(sk__runner_t *r) {
  size_t left = 0;
  for (sk__cloud_attempt_t **pp = &r->cloud; *pp;) {
    sk__cloud_attempt_t *c = *pp;
    if (!c->done) {
      left++;
      pp = &c->next;
      continue;
    }
    *pp = c->next;
    if (r->cjobs)
      sk_cjobs_forget(r->cjobs, c->key);
    attempt_free(c);
  }
  return left;
}

size_t sk__cloud_cancelling(const sk__runner_t *r) {
  size_t n = 0;
  for (const sk__cloud_attempt_t *c = r->cloud; c; c = c->next)
    n += !c->done && c->cancelling;
  return n;
}

void sk__cloud_close(sk__runner_t *r) {
  if (r->cloud_tick_open) {
    uv_timer_stop(&r->cloud_tick);
    uv_close((uv_handle_t *)&r->cloud_tick, NULL);
    r->cloud_tick_open = false;
  }
  while (r->cloud) {
    sk__cloud_attempt_t *c = r->cloud;
    r->cloud = c->next;
    attempt_free(c);
  }
  /* The tracker first: it borrows the authorisers and uses the client. */
  sk_cjobs_t *t = r->cjobs;
  r->cjobs = NULL;
  if (t)
    sk_cjobs_destroy(t);
  sk_cloud_authz_destroy(r->gcp_authz);
  sk_cloud_authz_destroy(r->aws_authz);
  r->gcp_authz = r->aws_authz = NULL;
  sk_http_destroy(r->http);
  r->http = NULL;
  sk__cloud_resume_free(r);
}
