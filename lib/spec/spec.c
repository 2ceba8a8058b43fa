/*
 * The entry points of lib/spec: what kind a document is, and the
 * validation of the parts every resource shares (apiVersion, kind,
 * metadata) before handing the spec to the Workflow or WorkflowTemplate
 * checks.
 */
#include <stdlib.h>
#include <string.h>

#include "spec/spec-int.h"
#include "util/error.h"
#include "util/strutil.h"

typedef enum { KIND_UNKNOWN, KIND_WORKFLOW, KIND_TEMPLATE } doc_kind_t;

static const char *const k_top_fields[] = {"apiVersion", "kind", "metadata", "spec", "status",
                                           NULL};

/* ObjectMeta: what a user writes, plus what the API server sets, so that a
 * resource read back from a cluster or a run directory validates too. */
static const char *const k_meta_fields[] = {
    "name",          "generateName",    "namespace",
    "labels",        "annotations",     "uid",
    "resourceVersion", "generation",    "creationTimestamp",
    "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences",
    "finalizers",    "managedFields",   "selfLink",
    NULL};

static const char *const k_kinds[] = {"Workflow", "WorkflowTemplate", NULL};

static const char *const k_template_spec_fields[] = {"workflow", "triggers", NULL};

static doc_kind_t kind_from_string(const char *s) {
  if (s && strcmp(s, "Workflow") == 0)
    return KIND_WORKFLOW;
  if (s && strcmp(s, "WorkflowTemplate") == 0)
    return KIND_TEMPLATE;
  return KIND_UNKNOWN;
}

const char *sk_spec_doc_kind(const sk_yaml_doc_t *doc) {
  json_t *root = doc ? sk_yaml_doc_root(doc) : NULL;
  switch (kind_from_string(json_string_value(json_object_get(root, "kind")))) {
  case KIND_WORKFLOW:
    return "Workflow";
  case KIND_TEMPLATE:
    return "WorkflowTemplate";
  case KIND_UNKNOWN:
    break;
  }
  return NULL;
}

/* A label value: empty, or at most 63 of [A-Za-z0-9-_.] starting and
 * ending with a letter or digit. A label key's name part follows the same
 * rule but may not be empty. */
static bool label_name_ok(const char *s, size_t n, bool allow_empty) {
  if (n == 0)
    return allow_empty;
  if (n > 63)
    return false;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
    if (!alnum && ((i == 0 || i == n - 1) || (ch != '-' && ch != '_' && ch != '.')))
      return false;
  }
  return true;
}

static bool label_key_ok(const char *k) {
  const char *slash = strchr(k, '/');
  if (!slash)
    return label_name_ok(k, strlen(k), false);
  size_t plen = (size_t)(slash - k);
  if (plen == 0 || plen > 253)
    return false;
  char prefix[254];
  memcpy(prefix, k, plen);
  prefix[plen] = '\0';
  return sk_is_dns1123_subdomain(prefix) && label_name_ok(slash + 1, strlen(slash + 1), false);
}

bool sk_spec_label_value_ok(const char *s) { return s && label_name_ok(s, strlen(s), true); }

void sk__check_labels(sk__vctx_t *c, const char *path, json_t *labels, bool templated) {
  const char *k;
  json_t *v;
  json_object_foreach(labels, k, v) {
    char kpath[SK__PATH_MAX];
    char shown[SK__SHOW_BUF];
    sk__path_key(kpath, path, k);
    if (!label_key_ok(k))
      sk__report(c, kpath,
                 "invalid label key \"%s\": expected an optional DNS subdomain prefix and '/', "
                 "then a name of at most 63 letters, digits, '-', '_' or '.' that starts and "
                 "ends with a letter or digit",
                 sk__show(shown, sizeof(shown), k));
    const char *s = json_string_value(v);
    /* A templated value is only known when the step runs; the controller
     * checks it then. */
    if (s && !(templated && sk__has_placeholder(s)) && !label_name_ok(s, strlen(s), true))
      sk__report(c, kpath,
                 "invalid label value \"%s\": expected at most 63 letters, digits, '-', '_' or "
                 "'.', starting and ending with a letter or digit (or empty)",
                 sk__show(shown, sizeof(shown), s));
  }
}

/* generateName is the start of a name: the API server appends 5 random
 * lowercase alphanumerics, and the result must be a valid name. */
static bool generate_name_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 248)
    return false;
  char buf[260];
  memcpy(buf, s, n);
  memcpy(buf + n, "x0x0x", 6);
  return sk_is_dns1123_subdomain(buf);
}

static void check_metadata(sk__vctx_t *c, json_t *root, doc_kind_t kind) {
  json_t *meta = sk__get_obj(c, "", root, "metadata", SK__REQ, k_meta_fields);
  if (!meta)
    return;
  char shown[SK__SHOW_BUF];
  const char *name = sk__get_str(c, "metadata", meta, "name", 0);
  const char *gen = sk__get_str(c, "metadata", meta, "generateName", 0);
  if (name && !sk_is_dns1123_subdomain(name))
    sk__report(c, "metadata.name",
               "invalid name \"%s\": expected a DNS-1123 subdomain (lowercase letters, digits, "
               "'-' and '.', starting and ending with a letter or digit, at most 253 "
               "characters)",
               sk__show(shown, sizeof(shown), name));
  if (gen && !generate_name_ok(gen))
    sk__report(c, "metadata.generateName",
               "invalid generateName \"%s\": expected the start of a DNS-1123 subdomain "
               "(lowercase letters, digits, '-' and '.', starting with a letter or digit, at "
               "most 248 characters), e.g. \"mnist-\"",
               sk__show(shown, sizeof(shown), gen));
  json_t *nv = json_object_get(meta, "name");
  json_t *gv = json_object_get(meta, "generateName");
  bool has_name = nv && !json_is_null(nv);
  bool has_gen = gv && !json_is_null(gv);
  if (kind == KIND_TEMPLATE && !has_name)
    sk__report(c, "metadata.name",
               "required field is missing: a WorkflowTemplate needs a fixed name, which its "
               "triggers' Workflows are labelled with");
  else if (kind != KIND_TEMPLATE && !has_name && !has_gen)
    sk__report(c, "metadata.name", "required field is missing: set name or generateName");
  const char *ns = sk__get_str(c, "metadata", meta, "namespace", 0);
  if (ns && !sk_is_dns1123_label(ns))
    sk__report(c, "metadata.namespace",
               "invalid namespace \"%s\": expected a DNS-1123 label (lowercase letters, digits "
               "and '-', starting and ending with a letter or digit, at most 63 characters)",
               sk__show(shown, sizeof(shown), ns));
  sk__check_labels(c, "metadata.labels", sk__get_str_map(c, "metadata", meta, "labels", 0),
                   false);
  sk__get_str_map(c, "metadata", meta, "annotations", 0);
  /* The model keeps the uid; the other server-set fields are only carried. */
  sk__get_str(c, "metadata", meta, "uid", 0);
}

/* Checks apiVersion, kind and the top-level fields; returns the kind to
 * validate the spec as: the one written, or the one a misspelt kind
 * obviously meant, so that its other problems are found in the same pass. */
static doc_kind_t check_header(sk__vctx_t *c, json_t *root) {
  sk__check_fields(c, "", root, k_top_fields);
  char shown[SK__SHOW_BUF];
  const char *api = sk__get_str(c, "", root, "apiVersion", SK__REQ);
  if (api && strcmp(api, SK_API_VERSION) != 0)
    sk__report(c, "apiVersion", "must be \"" SK_API_VERSION "\", got \"%s\"",
               sk__show(shown, sizeof(shown), api));
  const char *kind = sk__get_str(c, "", root, "kind", SK__REQ);
  if (!kind)
    return KIND_UNKNOWN;
  doc_kind_t k = kind_from_string(kind);
  if (k != KIND_UNKNOWN)
    return k;
  const char *sug = sk__suggest(kind, k_kinds, 2);
  if (sug) {
    sk__report(c, "kind", "must be Workflow or WorkflowTemplate, got \"%s\" (did you mean \"%s\"?)",
               sk__show(shown, sizeof(shown), kind), sug);
    return kind_from_string(sug);
  }
  sk__report(c, "kind", "must be Workflow or WorkflowTemplate, got \"%s\"",
             sk__show(shown, sizeof(shown), kind));
  return KIND_UNKNOWN;
}

static void check_template_spec(sk__vctx_t *c, json_t *root) {
  json_t *spec = sk__get_obj(c, "", root, "spec", SK__REQ, k_template_spec_fields);
  json_t *wf = sk__get_obj(c, "spec", spec, "workflow", SK__REQ, NULL);
  const char **params = NULL;
  size_t nparams = 0;
  if (wf)
    sk__check_wfspec(c, "spec.workflow", wf, &params, &nparams);
  if (spec)
    sk__check_triggers(c, "spec", spec, params, nparams);
  free(params);
}

static void check_workflow_spec(sk__vctx_t *c, json_t *root) {
  json_t *spec = sk__get_obj(c, "", root, "spec", SK__REQ, NULL);
  if (!spec)
    return;
  const char **params = NULL;
  size_t nparams = 0;
  sk__check_wfspec(c, "spec", spec, &params, &nparams);
  free(params);
}

/* Validates the whole document; want is the kind the caller needs
 * (KIND_UNKNOWN: either). Returns the kind it was validated as. */
static doc_kind_t check_doc(sk__vctx_t *c, json_t *root, doc_kind_t want) {
  if (!json_is_object(root)) {
    sk__report(c, "", "expected a Workflow or WorkflowTemplate (a YAML mapping), got %s",
               sk__type_name(root));
    return KIND_UNKNOWN;
  }
  doc_kind_t k = check_header(c, root);
  if (want != KIND_UNKNOWN && k != KIND_UNKNOWN && k != want &&
      kind_from_string(json_string_value(json_object_get(root, "kind"))) != KIND_UNKNOWN)
    sk__report(c, "kind", "expected a %s here, got a %s",
               want == KIND_WORKFLOW ? "Workflow" : "WorkflowTemplate",
               k == KIND_WORKFLOW ? "Workflow" : "WorkflowTemplate");
  /* Without a usable kind, the caller's expectation says what the rest of
   * the document should be, so its other problems are still found. */
  if (k == KIND_UNKNOWN)
    k = want;
  check_metadata(c, root, k);
  if (k == KIND_WORKFLOW)
    check_workflow_spec(c, root);
  else if (k == KIND_TEMPLATE)
    check_template_spec(c, root);
  return k;
}

static int finish(sk__vctx_t *c) {
  if (c->rc < 0)
    return c->rc;
  return c->nerr ? SK_EINVALID : 0;
}

int sk_spec_parse_workflow(const sk_yaml_doc_t *doc, sk_diags_t *diags, sk_workflow_t **out) {
  if (out)
    *out = NULL;
  if (!doc || !diags)
    return SK_EINVAL;
  sk__vctx_t c;
  sk__vctx_init(&c, doc, diags);
  json_t *root = sk_yaml_doc_root(doc);
  check_doc(&c, root, KIND_WORKFLOW);
  int rc = finish(&c);
  if (rc < 0 || !out)
    return rc;
  json_t *copy = json_deep_copy(root);
  if (!copy)
    return SK_ENOMEM;
  return sk__build_workflow(copy, out);
}

/* The Workflow a template's triggers create: its spec.workflow under a
 * generateName of "<template>-" and the label skein.dev/template. */
static json_t *template_workflow_object(json_t *root, const char *name, const char *ns) {
  json_t *obj = json_object();
  json_t *meta = json_object();
  json_t *labels = json_object();
  json_t *spec = json_deep_copy(json_object_get(json_object_get(root, "spec"), "workflow"));
  size_t n = strlen(name);
  char *gen = malloc(n + 2);
  if (!obj || !meta || !labels || !spec || !gen)
    goto fail;
  memcpy(gen, name, n);
  memcpy(gen + n, "-", 2);
  /* json_object_set_new takes the value even when it fails, so each one
   * is dropped from the unwinding below as soon as it has been handed on. */
  if (json_object_set_new(obj, "apiVersion", json_string(SK_API_VERSION)) < 0 ||
      json_object_set_new(obj, "kind", json_string("Workflow")) < 0 ||
      json_object_set_new(meta, "generateName", json_string(gen)) < 0 ||
      json_object_set_new(meta, "namespace", json_string(ns)) < 0 ||
      json_object_set_new(labels, SK_API_GROUP "/template", json_string(name)) < 0)
    goto fail;
  int rc = json_object_set_new(meta, "labels", labels);
  labels = NULL;
  if (rc < 0)
    goto fail;
  rc = json_object_set_new(obj, "metadata", meta);
  meta = NULL;
  if (rc < 0)
    goto fail;
  rc = json_object_set_new(obj, "spec", spec);
  spec = NULL;
  if (rc < 0)
    goto fail;
  free(gen);
  return obj;
fail:
  free(gen);
  json_decref(spec);
  json_decref(labels);
  json_decref(meta);
  json_decref(obj);
  return NULL;
}

static int build_template(json_t *root, sk_wftemplate_t **out) {
  sk_wftemplate_t *t = calloc(1, sizeof(*t));
  if (!t)
    return SK_ENOMEM;
  int rc = SK_ENOMEM;
  t->object = json_deep_copy(root);
  if (!t->object)
    goto fail;
  json_t *meta = json_object_get(t->object, "metadata");
  const char *ns = json_string_value(json_object_get(meta, "namespace"));
  t->name = sk_strdup0(json_string_value(json_object_get(meta, "name")));
  t->ns = strdup(ns ? ns : "default");
  if (!t->name || !t->ns)
    goto fail;
  json_t *wfobj = template_workflow_object(t->object, t->name, t->ns);
  if (!wfobj)
    goto fail;
  rc = sk__build_workflow(wfobj, &t->workflow);
  if (rc < 0)
    goto fail;
  rc = SK_ENOMEM;
  json_t *triggers = json_object_get(json_object_get(t->object, "spec"), "triggers");
  size_t n = json_array_size(triggers);
  if (n) {
    t->triggers = calloc(n, sizeof(*t->triggers));
    if (!t->triggers)
      goto fail;
  }
  for (size_t i = 0; i < n; i++) {
    json_t *tr = json_array_get(triggers, i);
    t->triggers[i].name = strdup(json_string_value(json_object_get(tr, "name")));
    t->triggers[i].object = json_incref(tr);
    t->ntriggers = i + 1;
    if (!t->triggers[i].name)
      goto fail;
  }
  *out = t;
  return 0;
fail:
  sk_wftemplate_destroy(t);
  return rc;
}

int sk_spec_parse_template(const sk_yaml_doc_t *doc, sk_diags_t *diags, sk_wftemplate_t **out) {
  if (out)
    *out = NULL;
  if (!doc || !diags)
    return SK_EINVAL;
  sk__vctx_t c;
  sk__vctx_init(&c, doc, diags);
  json_t *root = sk_yaml_doc_root(doc);
  check_doc(&c, root, KIND_TEMPLATE);
  int rc = finish(&c);
  if (rc < 0 || !out)
    return rc;
  return build_template(root, out);
}

int sk_spec_validate(const sk_yaml_doc_t *doc, sk_diags_t *diags) {
  if (!doc || !diags)
    return SK_EINVAL;
  sk__vctx_t c;
  sk__vctx_init(&c, doc, diags);
  check_doc(&c, sk_yaml_doc_root(doc), KIND_UNKNOWN);
  return finish(&c);
}

int sk_spec_workflow_from_json(json_t *obj, const char *source, sk_diags_t *diags,
                               sk_workflow_t **out) {
  if (out)
    *out = NULL;
  if (!obj || !diags)
    return SK_EINVAL;
  sk_yaml_doc_t *doc = sk_yaml_doc_from_json(obj, source);
  if (!doc)
    return SK_ENOMEM;
  int rc = sk_spec_parse_workflow(doc, diags, out);
  sk_yaml_doc_destroy(doc);
  return rc;
}

void sk_wftemplate_destroy(sk_wftemplate_t *t) {
  if (!t)
    return;
  for (size_t i = 0; i < t->ntriggers; i++) {
    free(t->triggers[i].name);
    json_decref(t->triggers[i].object);
  }
  free(t->triggers);
  sk_workflow_destroy(t->workflow);
  free(t->name);
  free(t->ns);
  json_decref(t->object);
  free(t);
}
