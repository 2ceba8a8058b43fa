/*
 * Reading the repository's manifests and examples in tests: paths are
 * relative to $SKEIN_SOURCE_DIR (the source root; "." when unset).
 */
#ifndef SK_TEST_MANIFEST_FILES_H
#define SK_TEST_MANIFEST_FILES_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/diag.h"
#include "yaml/yaml.h"

static const char *source_dir(void) {
  const char *d = getenv("SKEIN_SOURCE_DIR");
  return d && *d ? d : ".";
}

/* Parses SKEIN_SOURCE_DIR/rel; NULL (and a failure printed) when it is not
 * one or more YAML documents. */
static sk_yaml_doc_t **load(const char *rel, size_t *n) {
  char path[4096];
  snprintf(path, sizeof(path), "%s/%s", source_dir(), rel);
  sk_diags_t diags;
  sk_diags_init(&diags);
  sk_yaml_doc_t **docs = NULL;
  *n = 0;
  if (sk_yaml_parse_file(path, &diags, &docs, n) < 0 || *n == 0) {
    printf("  cannot load %s\n", rel);
    sk_diags_print(&diags, stdout);
  }
  sk_diags_release(&diags);
  return docs;
}

/* A new copy of the first document of rel, or NULL. */
static json_t *load_one(const char *rel) {
  size_t n;
  sk_yaml_doc_t **docs = load(rel, &n);
  json_t *root = n ? json_deep_copy(sk_yaml_doc_root(docs[0])) : NULL;
  sk_yaml_docs_destroy(docs, n);
  return root;
}

static bool has_str(json_t *list, const char *s) {
  for (size_t i = 0; i < json_array_size(list); i++) {
    const char *item = json_string_value(json_array_get(list, i));
    if (item && strcmp(item, s) == 0)
      return true;
  }
  return false;
}

#endif
