/*
 * `skeinctl validate FILE...`: every document of every file, every
 * problem, in the `FILE:LINE:COL: FIELD.PATH: message` form editors jump
 * to. Files are checked independently, so one unreadable file does not hide
 * the problems of the others.
 */
#include <stdio.h>

#include "local/local.h"
#include "spec/spec.h"
#include "util/diag.h"
#include "util/error.h"
#include "yaml/yaml.h"

/* Validates one file: 0 valid, 1 invalid, 2 unreadable. */
static int validate_file(const char *file) {
  sk_diags_t diags;
  sk_diags_init(&diags);
  sk_yaml_doc_t **docs = NULL;
  size_t ndocs = 0;
  int verdict = 0;
  int rc = sk_yaml_parse_file(file, &diags, &docs, &ndocs);
  if (rc == SK_ENOENT || rc == SK_EIO) {
    verdict = 2;
  } else if (rc < 0) {
    verdict = 1;
  } else if (ndocs == 0) {
    sk_diags_add(&diags, file, 0, 0, NULL,
                 "the file holds no documents (expected a Workflow or WorkflowTemplate)");
    verdict = 1;
  } else {
    for (size_t i = 0; i < ndocs; i++)
      if (sk_spec_validate(docs[i], &diags) < 0)
        verdict = 1;
    if (diags.len > 0 || diags.dropped > 0)
      verdict = 1;
  }
  if (verdict == 2 && diags.len == 0)
    sk_diags_add(&diags, file, 0, 0, NULL, "cannot read the file: %s", sk_strerror(rc));
  sk_diags_sort(&diags);
  sk_diags_print(&diags, stderr);
  if (verdict == 0)
    printf("%s: valid (%zu document%s)\n", file, ndocs, ndocs == 1 ? "" : "s");
  sk_yaml_docs_destroy(docs, ndocs);
  sk_diags_release(&diags);
  return verdict;
}

int sk_local_validate(const char *const *files, size_t nfiles, int *exit_code) {
  int worst = 0;
  for (size_t i = 0; i < nfiles; i++) {
    int v = validate_file(files[i]);
    if (v > worst)
      worst = v;
  }
  fflush(stdout);
  *exit_code = worst;
  return 0;
}
