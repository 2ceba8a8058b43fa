/*
 * Fuzzes the spec validator: the input is parsed as a YAML stream and
 * every document is validated, then built into a model when valid (which
 * also exercises the model's setters). The validator must never crash,
 * leak or report a position outside the input, whatever the document
 * looks like.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spec/spec.h"
#include "util/diag.h"
#include "yaml/yaml.h"

static void check_positions(const sk_diags_t *d, int nlines) {
  for (size_t i = 0; i < d->len; i++) {
    if (d->items[i].line < 0 || d->items[i].line > nlines + 1 || d->items[i].col < 0)
      abort();
    if (!d->items[i].msg || !*d->items[i].msg)
      abort();
  }
}

static void build(const sk_yaml_doc_t *doc) {
  sk_diags_t diags;
  sk_diags_init(&diags);
  const char *kind = sk_spec_doc_kind(doc);
  if (kind && strcmp(kind, "WorkflowTemplate") == 0) {
    sk_wftemplate_t *t = NULL;
    if (sk_spec_parse_template(doc, &diags, &t) == 0) {
      if (!t || !t->workflow)
        abort();
      sk_wftemplate_destroy(t);
    }
  } else {
    sk_workflow_t *wf = NULL;
    if (sk_spec_parse_workflow(doc, &diags, &wf) == 0) {
      if (!wf || wf->nsteps == 0 || wf->nmain == 0)
        abort();
      for (size_t i = 0; i < wf->nsteps; i++) {
        for (size_t d = 0; d < wf->steps[i].ndeps; d++) {
          if (wf->steps[i].dep_index[d] >= wf->nsteps)
            abort();
        }
      }
      if (wf->nparams > 0)
        sk_workflow_set_param(wf, wf->params[0].name, "fuzz");
      sk_workflow_set_identity(wf, "fuzz", "ns", "uid");
      sk_workflow_destroy(wf);
    }
  }
  sk_diags_release(&diags);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* YAML breaks lines at \n, \r, NEL, LS and PS: count every byte that
   * can end one, which can only overestimate. */
  int nlines = 1;
  for (size_t i = 0; i < size; i++)
    nlines += data[i] == '\n' || data[i] == '\r' || data[i] == 0x85 || data[i] == 0xA8 ||
              data[i] == 0xA9;
  sk_diags_t diags;
  sk_diags_init(&diags);
  sk_yaml_doc_t **docs = NULL;
  size_t ndocs = 0;
  if (sk_yaml_parse((const char *)data, size, "fuzz.yaml", &diags, &docs, &ndocs) == 0) {
    for (size_t i = 0; i < ndocs; i++) {
      sk_spec_validate(docs[i], &diags);
      build(docs[i]);
    }
    sk_yaml_docs_destroy(docs, ndocs);
  }
  check_positions(&diags, nlines);
  sk_diags_sort(&diags);
  sk_diags_release(&diags);
  return 0;
}
