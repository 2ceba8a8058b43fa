/*
 * Templating: `{{ reference }}` placeholders in strings.
 *
 * References (spaces inside the braces are ignored):
 *   params.NAME                     a workflow parameter
 *   steps.STEP.outputs.NAME         an output of an earlier step; for a
 *                                   forEach step STEP, a JSON list of every
 *                                   instance's value; STEP-N addresses one
 *                                   instance
 *   steps.STEP.phase                the phase of an earlier step
 *   workflow.name | namespace | uid | phase
 *   item                            the forEach item (strings as is, other
 *                                   JSON values as compact JSON)
 *   item.KEY                        a field of an object item; nested
 *                                   keys `item.a.b` are allowed
 * NAME and KEY are [A-Za-z_][A-Za-z0-9_-]*; STEP is a DNS-1123 label.
 * A literal "{{" is written "\{{" (the backslash is dropped); a backslash
 * anywhere else, and a "}}" that closes nothing, are plain text. Anything
 * else between "{{" and "}}" is an error, never an empty string.
 *
 * Messages name the mistake and the valid choices, e.g.
 *   unknown reference "foo.bar": expected params.NAME, steps.STEP.outputs.NAME,
 *     steps.STEP.phase, workflow.name|namespace|uid|phase or item
 *   unknown workflow field "nope" (expected name, namespace, uid or phase)
 *   unknown step field "output" in "steps.a.output.x" (did you mean "outputs"?)
 *   unclosed "{{" at byte 4
 * User text echoed in a message is cut at 80 bytes.
 */
#ifndef SK_SPEC_TEMPLATE_H
#define SK_SPEC_TEMPLATE_H

#include <jansson.h>
#include <stddef.h>

#include "util/buf.h"

typedef enum {
  SK_REF_PARAM,        /* a = NAME */
  SK_REF_STEP_OUTPUT,  /* a = STEP (may be STEP-N), b = NAME */
  SK_REF_STEP_PHASE,   /* a = STEP */
  SK_REF_WORKFLOW,     /* a = name|namespace|uid|phase */
  SK_REF_ITEM,         /* a = KEY or empty for the whole item */
} sk_ref_kind_t;

typedef struct sk_ref {
  sk_ref_kind_t kind;
  const char *a;  /* points into the source string; not NUL-terminated */
  size_t alen;
  const char *b;
  size_t blen;
} sk_ref_t;

/* Parses the text between the braces (already trimmed or not) into ref.
 * Returns SK_EPARSE with a message in err when it is not a reference.
 * For item.a.b, a is "a.b"; for the whole item, alen is 0 and a is still
 * non-NULL (it points just past "item"). */
int sk_ref_parse(const char *text, size_t len, sk_ref_t *ref, char *err, size_t errlen);

/* Called for each placeholder; offset is its byte offset in the source
 * string (of the first '{'). A non-zero return stops the scan and is
 * returned by sk_tmpl_scan. */
typedef int (*sk_tmpl_visit_fn)(void *ud, const sk_ref_t *ref, size_t offset);

/* Visits every placeholder in s. Returns SK_EPARSE (message in err, byte
 * offset in *err_off when err_off is not NULL) for an unclosed "{{" or a
 * placeholder that is not a reference; the offset is that of the "{{".
 * When the visitor stops the scan, *err_off is its placeholder's offset. */
int sk_tmpl_scan(const char *s, sk_tmpl_visit_fn fn, void *ud, char *err, size_t errlen,
                 size_t *err_off);

/* Resolves one reference to its value, appended to out. Returns 0, or a
 * negative code with a message in err (e.g. "step prepare has no output
 * named rows"). */
typedef int (*sk_tmpl_resolve_fn)(void *ud, const sk_ref_t *ref, sk_buf_t *out, char *err,
                                  size_t errlen);

/* Expands every placeholder of s into out (which is not reset first).
 * The syntax of the whole of s is checked before anything is resolved, so a
 * typo is reported even when an earlier value would fail. A resolved value
 * is appended as is and never expanded again. A resolver error is returned
 * with the resolver's message (a generic one naming the placeholder when it
 * wrote none); out's cap reached gives SK_ETOOBIG, "expanded text is longer
 * than N bytes". On failure out may hold part of the expansion. */
int sk_tmpl_expand(const char *s, sk_tmpl_resolve_fn fn, void *ud, sk_buf_t *out, char *err,
                   size_t errlen);

/* Returns a deep copy of v (a new reference) in which every string value,
 * at any depth, is expanded; object keys are left alone; v is not changed.
 * NULL on error, with the message in err prefixed by the JSON path of the
 * failing string relative to v and ": ", e.g. "command[1]: ...",
 * "env[0].value: ...", `metadata.labels["app.kubernetes.io/name"]: ...`
 * (keys other than [A-Za-z0-9_-]+ are bracketed); no prefix when v itself
 * is the string. Each expanded string is capped at 1 MiB, nesting at 256
 * levels. */
json_t *sk_tmpl_expand_json(json_t *v, sk_tmpl_resolve_fn fn, void *ud, char *err,
                            size_t errlen);

#endif
