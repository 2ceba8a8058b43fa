/*
 * Private to lib/yaml: the document structure, its table of positions, and
 * the pieces the parser (parse.c), the tree builder (build.c) and scalar
 * resolution (scalar.c) share.
 *
 * Positions are kept as a tree of entries rather than as full path strings:
 * one entry per node, naming its parent and its own key or index. A path
 * string per node would cost memory proportional to depth times key length
 * for every node (a long key near the root would be repeated in each
 * descendant), while entries cost a fixed size plus each key once. Entries
 * are appended in document order, so the subtree of a node is the
 * contiguous range [i, end) of entries, which makes copying it for an alias
 * or a merge key a single pass.
 */
#ifndef SK_YAML_YAML_INT_H
#define SK_YAML_YAML_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "util/buf.h"
#include "util/diag.h"
#include "yaml/yaml.h"

/* The parent of the root entry. */
#define SK__YAML_NONE UINT32_MAX

typedef struct sk__yaml_pos {
  const char *key; /* a member's key, in the document's arena; NULL for items and the root */
  uint32_t keylen;
  uint32_t parent; /* entry index of the parent node, SK__YAML_NONE for the root */
  uint32_t end;    /* one past the last entry of this node's subtree */
  uint32_t index;  /* an item's index in its sequence */
  int line;        /* 1-based */
  int col;         /* 1-based, in characters */
  bool hidden;     /* a merge key (<<) member: in the text but not in the JSON */
} sk__yaml_pos_t;

/* Keys live in fixed blocks so that pointers into them stay valid while the
 * arena grows, which lets copies of entries share a key instead of copying. */
typedef struct sk__yaml_block {
  struct sk__yaml_block *next;
  size_t used;
  size_t cap;
  char data[];
} sk__yaml_block_t;

struct sk_yaml_doc {
  json_t *root;   /* own reference; NULL while being built */
  char *file;     /* may be NULL */
  int index;      /* 1-based index in the stream */
  sk__yaml_pos_t *pos;
  size_t npos;
  size_t cappos;
  /* The non-root, visible entries sorted by (parent, index or key), for
   * lookups by binary search; built by sk__yaml_doc_finish. */
  const sk__yaml_pos_t **sorted;
  size_t nsorted;
  sk__yaml_block_t *blocks;
};

/* doc.c */

/* Creates an empty document; file is copied. Returns NULL when out of memory. */
sk_yaml_doc_t *sk__yaml_doc_create(const char *file, int index);
/* Copies len bytes (plus a NUL) into the document's arena; NULL when out of
 * memory. */
const char *sk__yaml_doc_intern(sk_yaml_doc_t *doc, const char *s, size_t len);
/* Appends an entry (key must already be interned, or NULL) and sets *out to
 * its index. Its end is set to one past itself. */
int sk__yaml_doc_add_pos(sk_yaml_doc_t *doc, uint32_t parent, const char *key, size_t keylen,
                         uint32_t index, int line, int col, uint32_t *out);
/* Appends copies of the descendants of entry src as descendants of entry
 * dst, sharing their keys, and sets dst's end past them. Adds the bytes of
 * the keys copied to *keybytes. */
int sk__yaml_doc_copy_subtree(sk_yaml_doc_t *doc, uint32_t src, uint32_t dst,
                              size_t *keybytes);
/* Builds the lookup index; call once the document is complete. */
int sk__yaml_doc_finish(sk_yaml_doc_t *doc);
/* Writes the path of entry i, in the notation of sk_yaml_doc_pos, into out,
 * which must be empty (the first key takes no dot). Long keys are shortened,
 * since the result is only for messages. */
void sk__yaml_doc_format_path(const sk_yaml_doc_t *doc, uint32_t i, sk_buf_t *out);
/* Appends key to out as ".key" or "[\"key\"]" (no dot when out is empty). */
int sk__yaml_path_append_key(sk_buf_t *out, const char *key, size_t len);

/* build.c: turns libyaml events into documents. */

typedef struct sk__yaml_builder sk__yaml_builder_t;

/* file (borrowed, may be NULL) names the input in diagnostics; diags may be
 * NULL. NULL when out of memory. */
sk__yaml_builder_t *sk__yaml_builder_create(const char *file, sk_diags_t *diags);
void sk__yaml_builder_destroy(sk__yaml_builder_t *b);
/* Feeds one event. Problems in the content are reported and counted, and
 * return 0 so that parsing goes on; a negative code (a cap, too many
 * problems, no memory) means stop. */
int sk__yaml_builder_event(sk__yaml_builder_t *b, const yaml_event_t *ev);
/* How many problems were reported. */
int sk__yaml_builder_errors(const sk__yaml_builder_t *b);
/* Hands over the finished, non-empty documents (the caller frees them). */
void sk__yaml_builder_take(sk__yaml_builder_t *b, sk_yaml_doc_t ***docs, size_t *ndocs);

/* scalar.c */

/* Resolves a scalar (text is NUL-terminated, len bytes, which may contain
 * NUL from an escape) with the YAML 1.2 core schema. plain says whether it
 * was written unquoted; tag is the resolved tag or NULL. On success *out is a
 * new reference. On failure returns SK_EPARSE with a sentence in err. */
int sk__yaml_scalar(const char *text, size_t len, bool plain, const char *tag, json_t **out,
                    char *err, size_t errlen);
/* Checks the tag of a sequence or mapping: none, "!", !!seq or !!map as
 * fits. SK_EPARSE with a sentence in err otherwise. */
int sk__yaml_collection_tag(const char *tag, bool is_map, char *err, size_t errlen);
/* Writes tag in its short form (!!int for tag:yaml.org,2002:int) into out. */
void sk__yaml_tag_short(const char *tag, char *out, size_t outlen);
/* Writes up to about max bytes of s as a quoted, escaped string for a
 * message, cut at a UTF-8 boundary with "…" when longer. */
void sk__yaml_quote_for_msg(const char *s, size_t len, size_t max, char *out, size_t outlen);

#endif
