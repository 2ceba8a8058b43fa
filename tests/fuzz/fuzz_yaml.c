/*
 * Fuzzes the YAML reader: the input is parsed as a stream; on success every
 * document is checked for the promises the header makes (a root, positions
 * that exist for the root and fall back for missing paths, 1-based indexes
 * in order), and a few paths are looked up, including ones built from the
 * document's own keys so that escaping round-trips are exercised. On
 * failure there must be a diagnostic and no documents.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/diag.h"
#include "util/error.h"
#include "yaml/yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Walks at most a few levels down the first members and items, checking
 * that each path found in the JSON has a position in the document. */
static void walk(const sk_yaml_doc_t *doc, json_t *v, char *path, size_t cap, int depth) {
  if (depth > 6)
    return;
  size_t base = strlen(path);
  int line, col;
  if (json_is_object(v)) {
    const char *k;
    json_t *m;
    int n = 0;
    json_object_foreach(v, k, m) {
      if (n++ >= 4)
        break;
      if (sk_yaml_path_key(path, cap, path, k) < 0)
        continue;
      sk_yaml_doc_pos(doc, path, &line, &col);
      if (line <= 0 || col <= 0)
        abort();
      walk(doc, m, path, cap, depth + 1);
      path[base] = '\0';
    }
  } else if (json_is_array(v)) {
    for (size_t i = 0; i < json_array_size(v) && i < 4; i++) {
      if (sk_yaml_path_index(path, cap, path, i) < 0)
        continue;
      sk_yaml_doc_pos(doc, path, &line, &col);
      if (line <= 0 || col <= 0)
        abort();
      walk(doc, json_array_get(v, i), path, cap, depth + 1);
      path[base] = '\0';
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sk_diags_t diags;
  sk_diags_init(&diags);
  sk_yaml_doc_t **docs = NULL;
  size_t ndocs = 0;
  int rc = sk_yaml_parse((const char *)data, size, "fuzz.yaml", &diags, &docs, &ndocs);
  if (rc < 0) {
    if (docs || ndocs || diags.len == 0)
      abort();
  } else {
    int last = 0;
    for (size_t i = 0; i < ndocs; i++) {
      const sk_yaml_doc_t *doc = docs[i];
      if (!sk_yaml_doc_root(doc) || sk_yaml_doc_index(doc) <= last)
        abort();
      last = sk_yaml_doc_index(doc);
      int line, col;
      sk_yaml_doc_pos(doc, "", &line, &col);
      if (line <= 0 || col <= 0)
        abort();
      static const char *const paths[] = {
          "spec", "spec.steps[0].pod.image", "metadata.labels[\"app.kubernetes.io/name\"]",
          "a",    "a[0]",  "[0]",  "[0][1].x",  "[\"\\u00e9\\\"\"]",  "a..b",  "[",  "[\"",
          "x[99999999999]"};
      for (size_t p = 0; p < sizeof(paths) / sizeof(*paths); p++) {
        sk_yaml_doc_pos(doc, paths[p], &line, &col);
        /* A missing path falls back to an ancestor, at worst the root. */
        if (line <= 0 || col <= 0)
          abort();
      }
      char path[512] = "";
      walk(doc, sk_yaml_doc_root(doc), path, sizeof(path), 0);
    }
  }
  sk_yaml_docs_destroy(docs, ndocs);
  sk_diags_release(&diags);
  return 0;
}
