/*
 * Private to lib/spec: the validation context and the helpers the spec
 * validator's files share (typed field access that reports problems,
 * unknown-field checks with suggestions, the per-step table used by the
 * dependency and template-reference checks).
 *
 * Every check reports into a sk__vctx_t and carries on, so that one pass
 * over a document finds every problem in it. Helpers that read a field
 * return NULL/false when the field is absent or wrong, having reported
 * what was wrong, so callers can chain them without re-checking.
 */
#ifndef SK_SPEC_SPEC_INT_H
#define SK_SPEC_SPEC_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spec/spec.h"

/* Longest field path kept for a message; deeper paths are reported at the
 * deepest ancestor that fits. */
#define SK__PATH_MAX 1024

/* Nesting depth up to which free-form bodies are walked for templates; the
 * run-time expansion (sk_tmpl_expand_json) refuses deeper values anyway. */
#define SK__MAX_WALK_DEPTH 256

/* Size of a buffer for sk__show: user text echoed in a message is cut at
 * 80 bytes, enough to recognise it without letting it flood the output. */
#define SK__SHOW_BUF 88

/* Flags of the field readers. */
#define SK__REQ 1u       /* the field must be present (and not null) */
#define SK__NONEMPTY 2u  /* strings and lists must not be empty */

typedef struct sk__vctx {
  const sk_yaml_doc_t *doc;
  sk_diags_t *diags;
  const char *file;
  size_t nerr; /* problems reported so far */
  size_t nsuggest; /* suggestions looked for among step and param names */
  int rc;      /* SK_ENOMEM when a diagnostic could not be stored */
} sk__vctx_t;

void sk__vctx_init(sk__vctx_t *c, const sk_yaml_doc_t *doc, sk_diags_t *diags);

/* True once the diagnostics list is full: further problems are only
 * counted, so callers may skip work that only improves a message. */
bool sk__full(const sk__vctx_t *c);

/* Adds one problem at path, with the position sk_yaml_doc_pos gives. */
void sk__report(sk__vctx_t *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Path building: out must hold SK__PATH_MAX bytes. When the result would
 * not fit, out is the base path (so a message lands on the ancestor). */
void sk__path_key(char *out, const char *base, const char *key);
void sk__path_index(char *out, const char *base, size_t index);

/* Copies s into out (SK__SHOW_BUF bytes) for a message: cut at 80 bytes
 * with "...", control characters replaced so a diagnostic stays one line. */
const char *sk__show(char *out, size_t outlen, const char *s);

/* "a string", "an integer", "a number", "a boolean", "null", "an object",
 * "a list": how a JSON value's type is named in messages. */
const char *sk__type_name(const json_t *v);
/* Reports "expected WANT, got ..." with a hint where one helps (quote a
 * number meant as a string; remove the quotes of a number in a string). */
void sk__type_error(sk__vctx_t *c, const char *path, const json_t *v, const char *want);

/* The closest of n candidates to word by edit distance (case-insensitive,
 * transpositions count one), or NULL when none is within 2 edits and
 * close enough for its length. NULL entries of cands are skipped. */
const char *sk__suggest(const char *word, const char *const *cands, size_t n);

/* sk__suggest among a document's own names (steps, params), for at most
 * SK__MAX_NAME_SUGGESTIONS problems per document and none once the
 * diagnostics are full: a file with thousands of unknown names must not
 * cost thousands of comparisons against hundreds of names each. */
#define SK__MAX_NAME_SUGGESTIONS 100
const char *sk__suggest_name(sk__vctx_t *c, const char *word, const char *const *cands,
                             size_t n);

/* Reports every member of obj not in the NULL-terminated list known:
 * `unknown field "x" (did you mean "y"?)` or the list of known fields. */
void sk__check_fields(sk__vctx_t *c, const char *path, json_t *obj, const char *const *known);

/*
 * Field readers. Each looks up key in obj (obj may be NULL or not an
 * object, when the parent was absent or wrong: then nothing is reported),
 * reports a missing required field at base.key, a wrong type or a bad
 * value, and returns the value only when it is present and good. A null
 * value counts as absent, as in Kubernetes.
 */
json_t *sk__member(sk__vctx_t *c, const char *base, json_t *obj, const char *key,
                   unsigned flags);
const char *sk__get_str(sk__vctx_t *c, const char *base, json_t *obj, const char *key,
                        unsigned flags);
bool sk__get_int(sk__vctx_t *c, const char *base, json_t *obj, const char *key, unsigned flags,
                 int64_t lo, int64_t hi, int64_t *out);
bool sk__get_num(sk__vctx_t *c, const char *base, json_t *obj, const char *key, unsigned flags,
                 double lo, double hi, double *out);
bool sk__get_bool(sk__vctx_t *c, const char *base, json_t *obj, const char *key,
                  unsigned flags);
/* An object; its members are checked against known unless known is NULL
 * (a free-form object). */
json_t *sk__get_obj(sk__vctx_t *c, const char *base, json_t *obj, const char *key,
                    unsigned flags, const char *const *known);
json_t *sk__get_list(sk__vctx_t *c, const char *base, json_t *obj, const char *key,
                     unsigned flags);
/* A string that must be one of the NULL-terminated values. */
const char *sk__get_enum(sk__vctx_t *c, const char *base, json_t *obj, const char *key,
                         unsigned flags, const char *const *values);
/* A list of strings (each checked; SK__NONEMPTY applies to the list). */
json_t *sk__get_str_list(sk__vctx_t *c, const char *base, json_t *obj, const char *key,
                         unsigned flags);
/* A map of strings to strings (labels, annotations, trigger params). The
 * map is returned when it is an object even if some values are not
 * strings (those were reported), so that its keys can still be checked. */
json_t *sk__get_str_map(sk__vctx_t *c, const char *base, json_t *obj, const char *key,
                        unsigned flags);
/* Checks the keys and values of a map of labels at path (the map
 * sk__get_str_map returned, or NULL: nothing to check) as Kubernetes
 * does. templated: values are templated strings (a step's pod.metadata),
 * so a value with a placeholder is left to the controller, which checks
 * it once it is expanded. */
void sk__check_labels(sk__vctx_t *c, const char *path, json_t *labels, bool templated);
/* Checks that v (at path) is an object with only known members. */
bool sk__want_obj(sk__vctx_t *c, const char *path, json_t *v, const char *const *known);

/* Value checks on a value already found at path. */
bool sk__check_int(sk__vctx_t *c, const char *path, json_t *v, int64_t lo, int64_t hi,
                   int64_t *out);
bool sk__check_num(sk__vctx_t *c, const char *path, json_t *v, double lo, double hi,
                   double *out);

/* Counts the members of obj among the NULL-terminated names (at most 15)
 * and, unless exactly one is present, reports "WHO needs exactly one of
 * a, b or c" (", but this one has a and b"). Returns the count. */
size_t sk__one_of(sk__vctx_t *c, const char *path, json_t *obj, const char *const *names,
                  const char *who);

/* Duplicate detection in linear time: seen (a JSON object, may be NULL)
 * maps each name to the index of its first use. Returns that index, or -1
 * after recording index as the first use of name. */
long sk__first_use(json_t *seen, const char *name, size_t index);

/* Name rules. */
static inline bool sk__is_digit(char ch) { return ch >= '0' && ch <= '9'; }
bool sk__is_ident(const char *s);              /* [A-Za-z_][A-Za-z0-9_-]* */
bool sk__has_placeholder(const char *s);       /* contains "{{" */
/* A Secret reference {name, key}: name a DNS-1123 subdomain (required),
 * key a Secret key ([-._A-Za-z0-9]+). */
void sk__check_secret_ref(sk__vctx_t *c, const char *base, json_t *obj, const char *key,
                          unsigned flags, bool key_required);

/* Step table used across the validator's passes. */
typedef struct sk__vstep {
  const char *name;   /* NULL when missing or not a valid name */
  char path[96];      /* "spec.steps[3]", "spec.workflow.finally[0]" */
  json_t *obj;        /* the step object (borrowed) */
  bool is_finally;
  bool for_each;      /* has a forEach (of any shape) */
  size_t *deps;       /* valid dependencies, as indexes */
  size_t ndeps;
} sk__vstep_t;

typedef struct sk__vwf {
  char base[32];          /* "spec" or "spec.workflow" */
  json_t *spec;           /* borrowed */
  const char **params;    /* declared param names (borrowed); NULL for a bad entry */
  size_t nparams;
  sk__vstep_t *steps;     /* main steps, then finally steps */
  size_t nsteps;
  size_t nmain;
  uint64_t *reach;        /* row i, bit j: step i depends on j, directly or not */
  size_t words;           /* 64-bit words per row of reach */
} sk__vwf_t;

bool sk__reaches(const sk__vwf_t *w, size_t from, size_t to);
/* The step named name (exact), or -1. */
long sk__vwf_find(const sk__vwf_t *w, const char *name, size_t len);

/* Validates a Workflow spec object at base ("spec" or "spec.workflow");
 * the declared param names are returned in *params (a new array of
 * borrowed strings, may hold NULLs) for the trigger checks. */
void sk__check_wfspec(sk__vctx_t *c, const char *base, json_t *spec, const char ***params,
                      size_t *nparams);
/* The step's kind body: exactly one kind, and its shape (spec_kinds.c). */
void sk__check_step_kind(sk__vctx_t *c, const char *path, json_t *step);
/* The bodies of the pod (spec_pod.c), vertex and sagemaker (spec_cloud.c)
 * kinds, at path ("spec.steps[0].pod"). */
void sk__check_pod(sk__vctx_t *c, const char *path, json_t *pod);
void sk__check_vertex(sk__vctx_t *c, const char *path, json_t *v);
void sk__check_sagemaker(sk__vctx_t *c, const char *path, json_t *v);
/* A list whose items must be objects (their content is free-form), as
 * the other readers: nothing is reported when obj is NULL. */
void sk__check_object_list(sk__vctx_t *c, const char *base, json_t *obj, const char *key,
                           unsigned flags);
/* dependsOn of every step, cycles; fills deps and reach. */
int sk__check_deps(sk__vctx_t *c, sk__vwf_t *w);
/* Every template reference in every step. */
void sk__check_refs(sk__vctx_t *c, const sk__vwf_t *w);
/* spec.triggers of a WorkflowTemplate. */
void sk__check_triggers(sk__vctx_t *c, const char *base, json_t *spec, const char **params,
                        size_t nparams);
/* A 5-field cron expression (or an @macro); 0, or SK_EINVAL with a
 * message in err. */
int sk__check_cron(const char *s, char *err, size_t errlen);

/* Model building from a valid Workflow object (taken over: the model owns
 * the reference). */
int sk__build_workflow(json_t *obj, sk_workflow_t **out);

#endif
