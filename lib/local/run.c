/*
 * `skeinctl run`: everything before and after the loop. A new run parses
 * and validates the file, applies -p, gives the Workflow its identity,
 * checks up front that every step can run on this machine (so a run never
 * fails half-way for a reason known at the start), and creates the run
 * directory; a resumed run reloads it. Then drive.c runs the loop, and
 * this file prints the summary, the JSON and picks the exit code.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "local/local-int.h"
#include "local/local.h"
#include "util/diag.h"
#include "util/error.h"
#include "util/strutil.h"
#include "util/timeutil.h"
#include "yaml/yaml.h"

#define MSG_MAX 8192

/* ---- problems found before anything runs ---- */

/* Collects messages for the user; printed together, then exit 2. */
typedef struct problems {
  sk_buf_t text;
  int count;
} problems_t;

static void problem(problems_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem(problems_t *p, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  sk_buf_vprintf(&p->text, fmt, ap);
  va_end(ap);
  sk_buf_putc(&p->text, '\n');
  p->count++;
}

/* Why a kind of step cannot run here; NULL for the kinds that can. */
static const char *const kind_needs[SK_STEP_KIND_COUNT] = {
    [SK_STEP_RESOURCE] = "it creates or changes Kubernetes objects, so it needs a cluster",
    [SK_STEP_ROLLOUT] = "it shifts Istio traffic between model versions, so it needs a cluster",
};

/* A cloud step runs with this machine's credentials: a Secret named by the
 * step cannot be read without a cluster, which is worth a warning but not
 * a refusal (the same file runs under skeind with the Secret). A Vertex AI
 * job needs a project and a SageMaker job a region; the defaults come from
 * the environment (GOOGLE_CLOUD_PROJECT; AWS_REGION, AWS_DEFAULT_REGION),
 * and a missing one is known now rather than half-way through the run. */
static void check_cloud(const sk_step_t *s, problems_t *p, problems_t *warn) {
  json_t *ref = json_object_get(json_object_get(s->body, "credentials"), "secretRef");
  if (ref) {
    const char *secret = json_string_value(json_object_get(ref, "name"));
    problem(warn,
            "warning: step \"%s\": credentials.secretRef (Secret \"%s\") is ignored by skeinctl "
            "run, which has no cluster to read it from; the step uses this machine's %s",
            s->name, secret ? secret : "?",
            s->kind == SK_STEP_VERTEX
                ? "Google Cloud credentials (Application Default Credentials)"
                : "AWS credentials (environment, shared credentials file, web identity, "
                  "container or instance metadata)");
  }
  if (s->kind == SK_STEP_VERTEX && !json_object_get(s->body, "project")) {
    const char *v = getenv("GOOGLE_CLOUD_PROJECT");
    if (!(v && v[0]))
      problem(p,
              "step \"%s\" has no vertex.project, and GOOGLE_CLOUD_PROJECT is not set: say "
              "which project the job runs in",
              s->name);
  }
  if (s->kind == SK_STEP_SAGEMAKER && !json_object_get(s->body, "region")) {
    const char *a = getenv("AWS_REGION"), *b = getenv("AWS_DEFAULT_REGION");
    if (!(a && a[0]) && !(b && b[0]))
      problem(p,
              "step \"%s\" has no sagemaker.region, and neither AWS_REGION nor "
              "AWS_DEFAULT_REGION is set: say which region the job runs in",
              s->name);
  }
}

/* Checks that every step can run on this machine: pod steps as local
 * processes, cloud steps with the ambient credentials. */
static void check_local(const sk_workflow_t *wf, problems_t *p, problems_t *warn) {
  for (size_t i = 0; i < wf->nsteps; i++) {
    const sk_step_t *s = &wf->steps[i];
    if (s->kind == SK_STEP_VERTEX || s->kind == SK_STEP_SAGEMAKER) {
      check_cloud(s, p, warn);
      continue;
    }
    if (s->kind != SK_STEP_POD) {
      problem(p,
              "step \"%s\" is a %s step: %s; skeinctl run supports pod, vertex and sagemaker "
              "steps",
              s->name, sk_step_kind_name(s->kind), kind_needs[s->kind]);
      continue;
    }
    json_t *cmd = json_object_get(s->body, "command");
    if (!json_is_array(cmd) || json_array_size(cmd) == 0)
      problem(p,
              "step \"%s\" has no command: locally there is no image entrypoint to fall back "
              "on, so a pod step needs pod.command",
              s->name);
    if (json_object_get(s->body, "envFrom"))
      problem(p,
              "step \"%s\": envFrom reads Secrets or ConfigMaps from a cluster; skeinctl run "
              "supports only env values",
              s->name);
    size_t k;
    json_t *e;
    json_array_foreach(json_object_get(s->body, "env"), k, e) {
      if (json_object_get(e, "valueFrom")) {
        const char *name = json_string_value(json_object_get(e, "name"));
        problem(p,
                "step \"%s\": env variable \"%s\" uses valueFrom, which reads Secrets, "
                "ConfigMaps or Pod fields from a cluster; skeinctl run supports only env "
                "values",
                s->name, name ? name : "?");
      }
    }
  }
}

/* ---- a new run ---- */

static int find_workflow(sk_yaml_doc_t **docs, size_t ndocs, const char *file,
                         sk_yaml_doc_t **out) {
  for (size_t i = 0; i < ndocs; i++) {
    const char *kind = sk_spec_doc_kind(docs[i]);
    if (kind && strcmp(kind, "Workflow") == 0) {
      *out = docs[i];
      return 0;
    }
  }
  fprintf(stderr, "%s: no Workflow document in the file (%zu document%s); skeinctl run needs "
                  "kind: Workflow",
          file, ndocs, ndocs == 1 ? "" : "s");
  if (ndocs > 0) {
    const char *kind = sk_spec_doc_kind(docs[0]);
    if (kind && strcmp(kind, "WorkflowTemplate") == 0)
      fprintf(stderr, " (a WorkflowTemplate is run by skeind through its triggers)");
  }
  fputc('\n', stderr);
  return SK_ENOENT;
}

/* Applies -p NAME=VALUE, then checks that every parameter has a value. */
static void apply_params(sk_workflow_t *wf, const sk_local_opts_t *opts, problems_t *p) {
  for (size_t i = 0; i < opts->nparams; i++) {
    const char *arg = opts->params[i];
    const char *eq = strchr(arg, '=');
    if (!eq) {
      problem(p, "-p \"%s\" is not NAME=VALUE", arg);
      continue;
    }
    char *name = sk_memdup_str(arg, (size_t)(eq - arg));
    if (!name) {
      problem(p, "out of memory");
      return;
    }
    int rc = sk_workflow_set_param(wf, name, eq + 1);
    if (rc == SK_ENOENT) {
      sk_buf_t list;
      sk_buf_init(&list, MSG_MAX);
      for (size_t k = 0; k < wf->nparams; k++)
        sk_buf_printf(&list, "%s%s", k ? ", " : "", wf->params[k].name);
      if (wf->nparams)
        problem(p, "unknown parameter \"%s\": %s declares %s", name, opts->file, list.data);
      else
        problem(p, "unknown parameter \"%s\": %s declares no parameters", name, opts->file);
      sk_buf_release(&list);
    } else if (rc < 0) {
      problem(p, "cannot set parameter \"%s\": %s", name, sk_strerror(rc));
    }
    free(name);
  }
  for (size_t k = 0; k < wf->nparams; k++)
    if (!wf->params[k].value)
      problem(p, "parameter \"%s\" is required: pass -p %s=VALUE", wf->params[k].name,
              wf->params[k].name);
}

/* metadata.name, or generateName plus 5 random characters; namespace
 * "default"; a random uid. */
static int set_identity(sk_workflow_t *wf) {
  char uid[37];
  int rc = sk__uuid4(uid);
  if (rc < 0)
    return rc;
  char name[256];
  if (wf->name) {
    snprintf(name, sizeof(name), "%s", wf->name);
  } else {
    char suffix[6];
    rc = sk__random_suffix(suffix, 5);
    if (rc < 0)
      return rc;
    snprintf(name, sizeof(name), "%s%s", wf->generate_name ? wf->generate_name : "workflow-",
             suffix);
  }
  return sk_workflow_set_identity(wf, name, wf->ns ? wf->ns : "default", uid);
}

/* Prints diagnostics sorted, as validate does. */
static void print_diags(sk_diags_t *d) {
  sk_diags_sort(d);
  sk_diags_print(d, stderr);
}

static int setup_new(sk__runner_t *r, const sk_local_opts_t *opts, char **shown) {
  sk_diags_t diags;
  sk_diags_init(&diags);
  sk_yaml_doc_t **docs = NULL;
  size_t ndocs = 0;
  problems_t p = {.count = 0}, warn = {.count = 0};
  sk_buf_init(&p.text, 1 << 20);
  sk_buf_init(&warn.text, 1 << 20);
  char err[1024];
  int rc = sk_yaml_parse_file(opts->file, &diags, &docs, &ndocs);
  if (rc < 0) {
    print_diags(&diags);
    goto fail;
  }
  sk_yaml_doc_t *doc = NULL;
  rc = find_workflow(docs, ndocs, opts->file, &doc);
  if (rc < 0) {
    /* A misspelt kind is the likely reason: say what validate would. */
    for (size_t i = 0; i < ndocs; i++)
      sk_spec_validate(docs[i], &diags);
    print_diags(&diags);
    goto fail;
  }
  rc = sk_spec_parse_workflow(doc, &diags, &r->wf);
  if (rc < 0 || diags.len > 0) {
    print_diags(&diags);
    rc = rc < 0 ? rc : SK_EINVALID;
    goto fail;
  }
  apply_params(r->wf, opts, &p);
  check_local(r->wf, &p, &warn);
  if (p.count > 0) {
    fputs(p.text.data, stderr);
    rc = SK_EINVAL;
    goto fail;
  }
  if (warn.count > 0)
    fputs(warn.text.data, stderr);
  rc = set_identity(r->wf);
  if (rc < 0) {
    fprintf(stderr, "skeinctl: cannot give the workflow its identity: %s\n", sk_strerror(rc));
    goto fail;
  }
  if (opts->workdir) {
    *shown = strdup(opts->workdir);
  } else {
    size_t n = strlen(r->wf->name) + 32;
    *shown = malloc(n);
    if (*shown)
      snprintf(*shown, n, ".skein/runs/%s", r->wf->name);
  }
  if (!*shown) {
    rc = SK_ENOMEM;
    goto fail;
  }
  rc = sk__store_create(&r->store, *shown, err, sizeof(err));
  if (rc < 0) {
    fprintf(stderr, "skeinctl: %s\n", err);
    goto fail;
  }
  rc = sk__store_write_json(&r->store, "workflow.json", r->wf->object, err, sizeof(err));
  if (rc < 0) {
    fprintf(stderr, "skeinctl: %s\n", err);
    goto fail;
  }
  sk__save_status(r);
  fprintf(r->progress_fp, "running workflow %s in %s\n", r->wf->name, *shown);
  fprintf(r->progress_fp, "note: images are not used by skeinctl run; commands run on this "
                          "machine\n");
  fflush(r->progress_fp);
fail:
  sk_yaml_docs_destroy(docs, ndocs);
  sk_diags_release(&diags);
  sk_buf_release(&p.text);
  sk_buf_release(&warn.text);
  return rc;
}

/* ---- a resumed run ---- */

/* Remembers the cloud steps that were Running when the run was
 * interrupted, before the resume resets their records: the first attempt
 * of each follows that job (cloudrun.c) rather than submitting another. */
static int collect_running_jobs(sk__runner_t *r) {
  for (size_t i = 0; i < r->st.nsteps; i++) {
    const sk_step_status_t *rec = &r->st.steps[i];
    ssize_t k = sk_workflow_step_index(r->wf, rec->step ? rec->step : rec->name);
    if (rec->phase != SK_PHASE_RUNNING || k < 0 || (rec->index < 0 && rec->instances >= 0))
      continue;
    sk_step_kind_t kind = r->wf->steps[k].kind;
    if (kind != SK_STEP_VERTEX && kind != SK_STEP_SAGEMAKER)
      continue;
    sk__cloud_resume_t *n = realloc(r->resume, (r->nresume + 1) * sizeof(*n));
    if (!n)
      return SK_ENOMEM;
    r->resume = n;
    sk__cloud_resume_t *e = &r->resume[r->nresume];
    const char *name = json_string_value(json_object_get(rec->ref, "name"));
    e->instance = strdup(rec->name);
    e->attempt = rec->attempt;
    e->name = sk_strdup0(name);
    if (!e->instance || (name && !e->name)) {
      free(e->instance);
      free(e->name);
      return SK_ENOMEM;
    }
    r->nresume++;
  }
  return 0;
}

/* Returns 0 to run, 1 when the run had already succeeded (nothing to do),
 * or a negative code after printing why it cannot be resumed. */
static int setup_resume(sk__runner_t *r, const sk_local_opts_t *opts) {
  char err[1024];
  sk_diags_t diags;
  sk_diags_init(&diags);
  json_t *obj = NULL, *sj = NULL;
  problems_t p = {.count = 0}, warn = {.count = 0};
  sk_buf_init(&p.text, 1 << 20);
  sk_buf_init(&warn.text, 1 << 20);
  int rc = sk__store_open(&r->store, opts->resume_dir, err, sizeof(err));
  if (rc < 0) {
    fprintf(stderr, "skeinctl: %s\n", err);
    goto done;
  }
  rc = sk__store_read_json(&r->store, "workflow.json", &obj, err, sizeof(err));
  if (rc < 0) {
    fprintf(stderr, "skeinctl: %s\n", err);
    goto done;
  }
  char source[4200];
  snprintf(source, sizeof(source), "%s/workflow.json", opts->resume_dir);
  rc = sk_spec_workflow_from_json(obj, source, &diags, &r->wf);
  if (rc < 0 || diags.len > 0) {
    print_diags(&diags);
    rc = rc < 0 ? rc : SK_EINVALID;
    goto done;
  }
  rc = sk__store_read_json(&r->store, "status.json", &sj, err, sizeof(err));
  if (rc == SK_ENOENT) {
    /* Interrupted before the first status was written: start afresh. */
    rc = 0;
  } else if (rc < 0) {
    fprintf(stderr, "skeinctl: %s\n", err);
    goto done;
  } else {
    rc = sk_wf_status_from_json(sj, &r->st, err, sizeof(err));
    if (rc < 0) {
      fprintf(stderr, "skeinctl: %s/status.json: %s\n", opts->resume_dir, err);
      goto done;
    }
  }
  if (r->st.phase == SK_PHASE_SUCCEEDED) {
    fprintf(stderr, "the run in %s already succeeded; nothing to resume\n", opts->resume_dir);
    rc = 1;
    goto done;
  }
  check_local(r->wf, &p, &warn);
  if (p.count > 0) {
    fputs(p.text.data, stderr);
    rc = SK_EINVAL;
    goto done;
  }
  if (warn.count > 0)
    fputs(warn.text.data, stderr);
  rc = collect_running_jobs(r);
  if (rc < 0) {
    fprintf(stderr, "skeinctl: cannot resume: %s\n", sk_strerror(rc));
    goto done;
  }
  /* Keep what the failed attempts logged: the new attempts start at 1. */
  for (size_t i = 0; i < r->st.nsteps; i++)
    if (r->st.steps[i].phase != SK_PHASE_SUCCEEDED)
      sk__store_set_aside(&r->store, r->st.steps[i].name);
  if (r->st.nsteps > 0 || r->st.phase != SK_PHASE_PENDING) {
    rc = sk_engine_prepare_resume(r->wf, &r->st, sk_time_now_ms());
    if (rc < 0) {
      fprintf(stderr, "skeinctl: cannot resume: %s\n", sk_strerror(rc));
      goto done;
    }
  }
  sk__save_status(r);
  size_t kept = 0;
  for (size_t i = 0; i < r->st.nsteps; i++)
    kept += r->st.steps[i].phase == SK_PHASE_SUCCEEDED;
  fprintf(r->progress_fp, "resuming workflow %s in %s (%zu step record%s already succeeded)\n",
          r->wf->name ? r->wf->name : "?", opts->resume_dir, kept, kept == 1 ? "" : "s");
  fprintf(r->progress_fp, "note: images are not used by skeinctl run; commands run on this "
                          "machine\n");
  fflush(r->progress_fp);
done:
  json_decref(obj);
  json_decref(sj);
  sk_diags_release(&diags);
  sk_buf_release(&p.text);
  sk_buf_release(&warn.text);
  return rc;
}

/* ---- the end ---- */

static int print_json(const sk__runner_t *r) {
  json_t *doc = json_deep_copy(r->wf->object);
  json_t *st = sk_wf_status_to_json(&r->st);
  if (!doc || !st || json_object_set_new(doc, "status", st) < 0) {
    json_decref(doc);
    return SK_ENOMEM;
  }
  int rc = json_dumpf(doc, stdout, JSON_INDENT(2)) < 0 ? SK_EIO : 0;
  fputc('\n', stdout);
  fflush(stdout);
  json_decref(doc);
  return rc;
}

static int exit_code_of(const sk__runner_t *r) {
  switch (r->st.phase) {
  case SK_PHASE_SUCCEEDED:
    return SK_LOCAL_EXIT_OK;
  case SK_PHASE_CANCELLED:
    return r->signals > 0 ? SK_LOCAL_EXIT_CANCELLED : SK_LOCAL_EXIT_FAILED;
  default:
    return SK_LOCAL_EXIT_FAILED;
  }
}

int sk_local_run(const sk_local_opts_t *opts, int *exit_code) {
  *exit_code = SK_LOCAL_EXIT_USAGE;
  /* A closed stdout (`| head`) must not kill skeinctl while its steps run
   * on; the write fails instead. Children get default dispositions back
   * from uv_spawn. */
  signal(SIGPIPE, SIG_IGN);
  sk__runner_t *r = calloc(1, sizeof(*r));
  if (!r)
    return SK_ENOMEM;
  sk_wf_status_init(&r->st);
  sk__store_init(&r->store);
  r->progress_fp = opts->json ? stderr : stdout;
  char *shown = NULL;
  int rc = 0;
  r->invocation_dir = getcwd(NULL, 0);
  if (!r->invocation_dir) {
    fprintf(stderr, "skeinctl: cannot tell the current directory\n");
    goto done;
  }
  if (opts->resume_dir) {
    rc = setup_resume(r, opts);
    r->run_dir_shown = opts->resume_dir;
  } else {
    rc = setup_new(r, opts, &shown);
    r->run_dir_shown = shown;
  }
  if (rc == 1) {
    /* Already succeeded: report it as it stands. */
    memset(&r->progress, 0, sizeof(r->progress));
    r->progress.fp = r->progress_fp;
    r->progress.wf = r->wf;
    r->progress.st = &r->st;
    sk__progress_summary(&r->progress, r->run_dir_shown);
    if (opts->json)
      print_json(r);
    *exit_code = SK_LOCAL_EXIT_OK;
    rc = 0;
    goto done;
  }
  if (rc < 0) {
    /* Bad input or a directory in the way: reported, nothing ran. */
    rc = rc == SK_ENOMEM ? rc : 0;
    goto done;
  }
  rc = sk__drive(r);
  sk__save_status(r);
  sk__progress_summary(&r->progress, r->run_dir_shown);
  if (rc < 0) {
    fprintf(stderr, "skeinctl: the run broke off: %s\n", sk_strerror(rc));
    *exit_code = SK_LOCAL_EXIT_USAGE;
  } else {
    *exit_code = exit_code_of(r);
  }
  if (opts->json && print_json(r) < 0 && rc == 0)
    rc = SK_EIO;
done:
  sk__cloud_resume_free(r);
  if (r->wf)
    sk_workflow_destroy(r->wf);
  sk_wf_status_release(&r->st);
  sk__store_release(&r->store);
  free(r->invocation_dir);
  free(shown);
  free(r);
  return rc;
}
