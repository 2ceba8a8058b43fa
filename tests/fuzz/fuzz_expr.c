/*
 * Fuzzes the `when` language and the template scanner: the input is parsed
 * as an expression and, when it parses, evaluated with a resolver that
 * returns fixed values (some of which look like code, to exercise the rule
 * that values are never re-parsed); the same text is scanned as a template.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spec/expr.h"
#include "spec/template.h"
#include "util/buf.h"
#include "util/error.h"

static int resolve(void *ud, const sk_ref_t *ref, sk_buf_t *out, char *err, size_t errlen) {
  (void)ud;
  switch (ref->kind) {
  case SK_REF_PARAM:
    if (ref->alen == 4 && memcmp(ref->a, "fail", 4) == 0) {
      if (errlen)
        err[0] = '\0';
      return SK_ENOENT;
    }
    return sk_buf_puts(out, " 0.9 ");
  case SK_REF_STEP_OUTPUT:
    return sk_buf_puts(out, "1 || true");
  case SK_REF_STEP_PHASE:
    return sk_buf_puts(out, "Succeeded");
  case SK_REF_WORKFLOW:
    return sk_buf_puts(out, "{{workflow.phase}}");
  case SK_REF_ITEM:
    return sk_buf_append(out, "a\0b", ref->alen ? 3 : 0);
  }
  return SK_EINVAL;
}

static int visit(void *ud, const sk_ref_t *ref, size_t offset) {
  size_t *n = ud;
  (void)ref;
  (void)offset;
  (*n)++;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  if (!s)
    return 0;
  memcpy(s, data, size);
  s[size] = '\0';

  char err[256];
  size_t off = 0;
  sk_expr_t *e = NULL;
  if (sk_expr_parse(s, &e, err, sizeof(err), &off) == 0) {
    size_t nrefs = 0;
    sk_expr_visit_refs(e, visit, &nrefs);
    bool b;
    sk_expr_eval(e, resolve, NULL, &b, err, sizeof(err));
    sk_expr_destroy(e);
  } else if (off > strlen(s)) {
    /* An error offset must point inside the text or just past its end. */
    abort();
  }

  size_t n = 0;
  off = 0;
  if (sk_tmpl_scan(s, visit, &n, err, sizeof(err), &off) < 0 && off > strlen(s))
    abort();
  sk_buf_t out;
  sk_buf_init(&out, 1 << 16);
  sk_tmpl_expand(s, resolve, NULL, &out, err, sizeof(err));
  sk_buf_release(&out);
  free(s);
  return 0;
}
