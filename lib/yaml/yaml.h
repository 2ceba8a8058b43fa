/*
 * YAML to JSON (jansson), keeping the source position of every node.
 *
 * Kubernetes resources are JSON trees written as YAML. This module turns a
 * YAML stream (one or more documents) into jansson values and remembers,
 * for every node, its 1-based line and column so that later validation can
 * say `file:12:7: spec.steps[2].pod.image: ...`.
 *
 * Scalars follow the YAML 1.2 core schema, as Kubernetes' own YAML decoder
 * does for the common cases: plain `null`/`~`/empty → null, `true`/`false`
 * (and True/TRUE...) → booleans, decimal/0x/0o integers → integers, decimal
 * floats → reals; anything quoted, or a plain scalar that is none
 * of these, is a string. Explicit tags !!str, !!int, !!float, !!bool,
 * !!null are honoured (`!!int abc` is an error), as are !!map, !!seq and
 * the non-specific `!` (a string); !!binary and !!timestamp keep their text
 * as a string; any other tag is an error. Integers must fit in 64 bits and
 * floats must be finite: .inf, .nan and 1e999 are errors, since JSON cannot
 * hold them (quote them for strings). An escaped NUL ("\0") stays in a
 * string value; json_string_length() tells its true length.
 *
 * Mapping keys are the key's text as written (`1`, `true`, `~` become the
 * keys "1", "true", "~"). Anchors and aliases work within a document; an
 * alias gets its own copy of the anchored containers (editing one copy never
 * changes another) while scalar values are shared json_t's. The merge key
 * `<<` (a mapping, an alias to one, or a list of them) adds the members the
 * mapping lacks; explicit keys win, then earlier merged mappings.
 *
 * Rejected, each with a diagnostic naming line:col: input over
 * SK_YAML_MAX_BYTES, bytes that are not UTF-8, YAML syntax errors,
 * duplicate keys in a mapping, non-scalar mapping keys, aliases whose
 * expansion would create more than SK_YAML_MAX_NODES nodes in a document
 * (the "billion laughs" attack), nesting deeper than SK_YAML_MAX_DEPTH.
 * Problems in the content (duplicate keys, bad scalars or tags, unknown
 * aliases) are all reported, up to 100; a syntax error or a cap stops at
 * once.
 */
#ifndef SK_YAML_YAML_H
#define SK_YAML_YAML_H

#include <jansson.h>
#include <stddef.h>

#include "util/diag.h"

#define SK_YAML_MAX_BYTES (3u * 1024 * 1024) /* the apiserver's request cap */
#define SK_YAML_MAX_NODES 100000
#define SK_YAML_MAX_DEPTH 128
/* All the documents of one stream together, counting alias expansions: a
 * stream of many small documents, each just under the per-document cap
 * through aliases, must not add up to unbounded memory either. */
#define SK_YAML_MAX_STREAM_NODES (10 * SK_YAML_MAX_NODES)

/* One document: its JSON tree and the position of each node, by path. */
typedef struct sk_yaml_doc sk_yaml_doc_t;

/* Parses len bytes of YAML. On success returns 0 and sets *docs to a new
 * array of *ndocs documents (empty documents, e.g. a trailing `---`, and
 * documents that are only `null`, are left out; a stream with none gives
 * *ndocs == 0, *docs NULL, which is not an error). On failure returns
 * SK_EPARSE (syntax, bad bytes, bad content), SK_ETOOBIG (a cap) or
 * SK_ENOMEM and adds at least one diagnostic with file (may be NULL) and
 * position; *docs is NULL and *ndocs 0. SK_EINVAL, with no diagnostic, for
 * bad arguments. diags may be NULL. A leading UTF-8 byte order mark is
 * skipped. Free with sk_yaml_docs_destroy. */
int sk_yaml_parse(const char *buf, size_t len, const char *file, sk_diags_t *diags,
                  sk_yaml_doc_t ***docs, size_t *ndocs);
/* Reads a file (refusing more than SK_YAML_MAX_BYTES) and parses it. Returns
 * SK_EIO/SK_ENOENT, with a diagnostic, when the file cannot be read. */
int sk_yaml_parse_file(const char *path, sk_diags_t *diags, sk_yaml_doc_t ***docs,
                       size_t *ndocs);
void sk_yaml_docs_destroy(sk_yaml_doc_t **docs, size_t ndocs);

/* Wraps a JSON value that has no source positions (e.g. one read from the
 * API server) as a document; takes a new reference to root (the caller
 * keeps its own). Its index is 1 and lookups give 0,0. NULL when root is
 * NULL or memory runs out. */
sk_yaml_doc_t *sk_yaml_doc_from_json(json_t *root, const char *file);
void sk_yaml_doc_destroy(sk_yaml_doc_t *doc);

/* The document's root value: a borrowed reference. */
json_t *sk_yaml_doc_root(const sk_yaml_doc_t *doc);
/* The file name given at parse time (borrowed, may be NULL). */
const char *sk_yaml_doc_file(const sk_yaml_doc_t *doc);
/* 1-based index of the document in its stream, counting the empty
 * documents that were left out, so it matches what a reader counts. */
int sk_yaml_doc_index(const sk_yaml_doc_t *doc);

/*
 * Looks up the position of the node at path. Paths use the notation of
 * validation messages: "" is the root, "spec.steps[2].pod.image" a nested
 * field; a key that is not a plain identifier is quoted as `["a.b"]`.
 * For a mapping member the position is that of its key (where a reader
 * looks); for a sequence item, that of the item. When path itself has no
 * node (a missing field), the nearest existing ancestor's position is given
 * instead. Sets *line and *col to 0 when nothing is known. Nodes reached
 * through an alias or a merge key have the position of their text under
 * the anchor (the alias node itself, where the alias is). Lookups take
 * O(depth · log nodes).
 */
void sk_yaml_doc_pos(const sk_yaml_doc_t *doc, const char *path, int *line, int *col);

/* Writes base followed by ".key" (no dot when base is empty) or, for keys
 * that are not identifiers ([A-Za-z_][A-Za-z0-9_-]*), by ["key"] with `"`,
 * `\` and control characters escaped as in JSON: the form sk_yaml_doc_pos
 * expects. base may be NULL (the root) or out itself. Returns SK_ETOOBIG,
 * leaving out unchanged, when the result does not fit in outlen bytes. */
int sk_yaml_path_key(char *out, size_t outlen, const char *base, const char *key);
/* The same for "[index]". */
int sk_yaml_path_index(char *out, size_t outlen, const char *base, size_t index);

#endif
