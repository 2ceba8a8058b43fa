/*
 * Builds jansson values and position entries from libyaml events.
 *
 * The builder keeps an explicit stack of open sequences and mappings (no
 * recursion, so hostile nesting cannot exhaust the C stack) and places each
 * finished node into its parent. Problems in the content (duplicate keys,
 * bad tags, unknown aliases) are reported and parsing goes on, so that a
 * user sees every such problem at once; caps and allocation failures stop
 * it at once.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "yaml/yaml-int.h"

/* Past this many problems the rest of the file is not worth reading. */
#define MAX_ERRORS 100
/* Values reached through aliases share their scalars, but jansson gives
 * every object its own copy of each key, so a long key under an anchor
 * aliased many times would cost its length each time, within the node cap.
 * The bytes of keys copied by aliases and merge keys in a stream are capped
 * instead. */
#define MAX_COPIED_KEY_BYTES (4 * (size_t)SK_YAML_MAX_BYTES)

typedef enum { KEY_NORMAL, KEY_MERGE, KEY_DISCARD } key_mode_t;

typedef struct frame {
  json_t *value;    /* the array or object being filled (own reference) */
  uint32_t entry;   /* its position entry */
  bool is_map;
  int height;       /* levels of nesting of the tallest finished child */
  long anchor;      /* index into the builder's anchors, or -1 */
  /* Mappings only: the key waiting for its value. */
  bool have_key;
  key_mode_t mode;
  const char *key;  /* in the document's arena */
  size_t keylen;
  uint32_t key_entry;
  bool seen_merge;
  json_t *merge;    /* the value of `<<`, applied when the mapping ends */
  uint32_t merge_entry;
} frame_t;

typedef enum { ANCHOR_PENDING, ANCHOR_DONE, ANCHOR_DROPPED } anchor_state_t;

typedef struct anchor {
  anchor_state_t state;
  json_t *value;    /* own reference once done */
  uint32_t entry;   /* the anchored node's entry; its subtree is [entry, end) */
  int height;
  char *text;       /* a scalar's text, for use as a key through an alias */
  size_t textlen;
  bool is_scalar;
} anchor_t;

struct sk__yaml_builder {
  const char *file;
  sk_diags_t *diags;
  int nerrors;
  int doc_counter;          /* every document of the stream, empty or not */
  size_t stream_nodes;
  size_t copied_key_bytes;  /* in the stream, through aliases and merge keys */
  sk_yaml_doc_t *doc;       /* the document being built */
  size_t nodes;             /* in doc, counting alias expansions */
  frame_t frames[SK_YAML_MAX_DEPTH];
  int depth;
  int skip;                 /* > 0 while skipping a non-scalar key */
  anchor_t *anchors;
  size_t nanchors, capanchors;
  json_t *anchor_index;     /* anchor name → index into anchors */
  sk_yaml_doc_t **docs;
  size_t ndocs, capdocs;
};

sk__yaml_builder_t *sk__yaml_builder_create(const char *file, sk_diags_t *diags) {
  sk__yaml_builder_t *b = calloc(1, sizeof(*b));
  if (!b)
    return NULL;
  b->file = file;
  b->diags = diags;
  return b;
}

static void reset_anchors(sk__yaml_builder_t *b) {
  for (size_t i = 0; i < b->nanchors; i++) {
    json_decref(b->anchors[i].value);
    free(b->anchors[i].text);
  }
  b->nanchors = 0;
  json_decref(b->anchor_index);
  b->anchor_index = NULL;
}

static void reset_doc(sk__yaml_builder_t *b) {
  for (int i = 0; i < b->depth; i++) {
    json_decref(b->frames[i].value);
    json_decref(b->frames[i].merge);
  }
  b->depth = 0;
  b->skip = 0;
  reset_anchors(b);
  sk_yaml_doc_destroy(b->doc);
  b->doc = NULL;
  b->nodes = 0;
}

void sk__yaml_builder_destroy(sk__yaml_builder_t *b) {
  if (!b)
    return;
  reset_doc(b);
  free(b->anchors);
  sk_yaml_docs_destroy(b->docs, b->ndocs);
  free(b);
}

int sk__yaml_builder_errors(const sk__yaml_builder_t *b) { return b->nerrors; }

void sk__yaml_builder_take(sk__yaml_builder_t *b, sk_yaml_doc_t ***docs, size_t *ndocs) {
  *docs = b->docs;
  *ndocs = b->ndocs;
  b->docs = NULL;
  b->ndocs = b->capdocs = 0;
}

static int line_of(const yaml_mark_t *m) { return m->line < 0x7fffffff ? (int)m->line + 1 : 0; }
static int col_of(const yaml_mark_t *m) {
  return m->column < 0x7fffffff ? (int)m->column + 1 : 0;
}

/* Reports a problem at line:col about the node of entry (its path, when
 * known). Returns SK_EPARSE once too many problems were seen, else 0. */
static int problem(sk__yaml_builder_t *b, uint32_t entry, int line, int col, const char *fmt,
                   ...) __attribute__((format(printf, 5, 6)));
static int problem(sk__yaml_builder_t *b, uint32_t entry, int line, int col, const char *fmt,
                   ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  sk_buf_t path;
  sk_buf_init(&path, 4096);
  if (b->doc && entry != SK__YAML_NONE && entry < b->doc->npos)
    sk__yaml_doc_format_path(b->doc, entry, &path);
  if (b->diags)
    sk_diags_add(b->diags, b->file, line, col, path.data, "%s", msg);
  sk_buf_release(&path);
  if (++b->nerrors >= MAX_ERRORS) {
    if (b->diags)
      sk_diags_add(b->diags, b->file, line, col, NULL,
                   "too many problems (%d); not reading further", b->nerrors);
    return SK_EPARSE;
  }
  return 0;
}

/* Counts n new nodes against the per-document and per-stream caps. */
static int count_nodes(sk__yaml_builder_t *b, size_t n, uint32_t entry, int line, int col) {
  if (n > SK_YAML_MAX_NODES - b->nodes) {
    problem(b, entry, line, col,
            "the document has more than %d nodes, counting each alias expansion "
            "(aliases that multiply, as in a \"billion laughs\" document?)",
            SK_YAML_MAX_NODES);
    return SK_ETOOBIG;
  }
  if (n > SK_YAML_MAX_STREAM_NODES - b->stream_nodes) {
    problem(b, entry, line, col,
            "the stream has more than %d nodes in all, counting each alias expansion",
            SK_YAML_MAX_STREAM_NODES);
    return SK_ETOOBIG;
  }
  b->nodes += n;
  b->stream_nodes += n;
  return 0;
}

/* Charges bytes of keys copied through an alias or merge key. */
static int count_key_bytes(sk__yaml_builder_t *b, size_t n, uint32_t entry, int line, int col) {
  if (n > MAX_COPIED_KEY_BYTES - b->copied_key_bytes) {
    problem(b, entry, line, col,
            "aliases and merge keys would copy more than %zu MiB of mapping keys "
            "(long keys under an anchor used many times?)",
            MAX_COPIED_KEY_BYTES >> 20);
    return SK_ETOOBIG;
  }
  b->copied_key_bytes += n;
  return 0;
}

/* Creates the entry of a node starting at mark: a new one for the root and
 * sequence items; for a mapping value, the one made for its key. */
static int begin_node(sk__yaml_builder_t *b, const yaml_mark_t *mark, uint32_t *entry) {
  if (b->depth > 0 && b->frames[b->depth - 1].is_map) {
    *entry = b->frames[b->depth - 1].key_entry;
    return 0;
  }
  uint32_t parent = SK__YAML_NONE, index = 0;
  if (b->depth > 0) {
    frame_t *f = &b->frames[b->depth - 1];
    parent = f->entry;
    index = (uint32_t)json_array_size(f->value);
  }
  int rc = sk__yaml_doc_add_pos(b->doc, parent, NULL, 0, index, line_of(mark), col_of(mark),
                                entry);
  if (rc < 0)
    return rc;
  return count_nodes(b, 1, *entry, line_of(mark), col_of(mark));
}

/* Marks anchors of nodes at or past entry as dropped: their entries are
 * about to be removed with a discarded value. Anchors are created in
 * document order, so those are at the end. */
static void drop_anchors_from(sk__yaml_builder_t *b, uint32_t entry) {
  for (size_t i = b->nanchors; i > 0; i--) {
    anchor_t *a = &b->anchors[i - 1];
    if (a->entry < entry)
      break;
    a->state = ANCHOR_DROPPED;
    json_decref(a->value);
    a->value = NULL;
  }
}

/* Records a finished anchored node. */
static void finish_anchor(sk__yaml_builder_t *b, long ai, json_t *v, uint32_t entry,
                          int height) {
  if (ai < 0)
    return;
  anchor_t *a = &b->anchors[ai];
  a->state = ANCHOR_DONE;
  a->value = json_incref(v);
  a->entry = entry;
  a->height = height;
}

/* Places the finished node v (a new reference, taken) with its entry into
 * its parent, or makes it the document's root. */
static int place(sk__yaml_builder_t *b, json_t *v, uint32_t entry, int height, long anchor) {
  sk_yaml_doc_t *doc = b->doc;
  if (entry + 1 > doc->pos[entry].end)
    doc->pos[entry].end = entry + 1;
  if (b->depth == 0) {
    finish_anchor(b, anchor, v, entry, height);
    json_decref(doc->root);
    doc->root = v;
    return 0;
  }
  frame_t *f = &b->frames[b->depth - 1];
  if (height > f->height)
    f->height = height;
  if (!f->is_map) {
    finish_anchor(b, anchor, v, entry, height);
    return json_array_append_new(f->value, v) < 0 ? SK_ENOMEM : 0;
  }
  f->have_key = false;
  switch (f->mode) {
  case KEY_NORMAL:
    finish_anchor(b, anchor, v, entry, height);
    return json_object_setn_new_nocheck(f->value, f->key, f->keylen, v) < 0 ? SK_ENOMEM : 0;
  case KEY_MERGE:
    finish_anchor(b, anchor, v, entry, height);
    f->merge = v;
    f->merge_entry = entry;
    doc->pos[entry].hidden = true;
    return 0;
  case KEY_DISCARD:
    /* The value of a rejected key: drop it and every entry made for it. */
    json_decref(v);
    if (anchor >= 0)
      b->anchors[anchor].state = ANCHOR_DROPPED;
    drop_anchors_from(b, f->key_entry);
    doc->npos = f->key_entry;
    return 0;
  }
  return 0;
}

/* Places a null where a node was rejected, so the structure stays whole. */
static int place_null(sk__yaml_builder_t *b, uint32_t entry) {
  return place(b, json_null(), entry, 0, -1);
}

/* The index of the first child entry of parent with that key, or NONE. */
static uint32_t find_member(const sk_yaml_doc_t *doc, uint32_t parent, const char *key,
                            size_t keylen) {
  for (uint32_t j = parent + 1; j < doc->npos; j = doc->pos[j].end) {
    const sk__yaml_pos_t *e = &doc->pos[j];
    if (e->parent == parent && !e->hidden && e->keylen == keylen &&
        memcmp(e->key, key, keylen) == 0)
      return j;
    if (e->end <= j)
      break;
  }
  return SK__YAML_NONE;
}

static anchor_t *find_anchor(sk__yaml_builder_t *b, const char *name) {
  json_t *i = b->anchor_index ? json_object_get(b->anchor_index, name) : NULL;
  return i ? &b->anchors[json_integer_value(i)] : NULL;
}

/* Registers an anchor by name at the start of its node and sets *ai to its
 * index, or to -1 when name is NULL. A later anchor of the same name hides
 * the earlier one, as YAML says. */
static int new_anchor(sk__yaml_builder_t *b, const char *name, uint32_t entry, long *ai) {
  *ai = -1;
  if (!name)
    return 0;
  if (!b->anchor_index && !(b->anchor_index = json_object()))
    return SK_ENOMEM;
  if (b->nanchors == b->capanchors) {
    size_t cap = b->capanchors ? b->capanchors * 2 : 16;
    anchor_t *a = realloc(b->anchors, cap * sizeof(*a));
    if (!a)
      return SK_ENOMEM;
    b->anchors = a;
    b->capanchors = cap;
  }
  anchor_t *a = &b->anchors[b->nanchors];
  memset(a, 0, sizeof(*a));
  a->state = ANCHOR_PENDING;
  a->entry = entry;
  if (json_object_set_new(b->anchor_index, name, json_integer((json_int_t)b->nanchors)) < 0)
    return SK_ENOMEM;
  *ai = (long)b->nanchors++;
  return 0;
}

/* Handles a scalar in key position: checks it and makes the member's entry. */
static int take_key(sk__yaml_builder_t *b, const char *text, size_t len, bool merge,
                    const yaml_mark_t *mark) {
  frame_t *f = &b->frames[b->depth - 1];
  sk_yaml_doc_t *doc = b->doc;
  int line = line_of(mark), col = col_of(mark);
  key_mode_t mode = merge ? KEY_MERGE : KEY_NORMAL;
  const char *dupkey = NULL;
  uint32_t first = SK__YAML_NONE;
  if (memchr(text, '\0', len)) {
    mode = KEY_DISCARD;
  } else if (merge) {
    if (f->seen_merge) {
      mode = KEY_DISCARD;
      dupkey = "<<";
    }
    f->seen_merge = true;
  } else if (json_object_getn(f->value, text, len)) {
    mode = KEY_DISCARD;
    dupkey = text;
    first = find_member(doc, f->entry, text, len);
  }
  const char *key = sk__yaml_doc_intern(doc, text, len);
  if (!key)
    return SK_ENOMEM;
  uint32_t entry;
  int rc = sk__yaml_doc_add_pos(doc, f->entry, key, len, 0, line, col, &entry);
  if (rc == 0)
    rc = count_nodes(b, 1, entry, line, col);
  if (rc < 0)
    return rc;
  f->have_key = true;
  f->mode = mode;
  f->key = key;
  f->keylen = len;
  f->key_entry = entry;
  if (mode != KEY_DISCARD)
    return 0;
  char q[256];
  sk__yaml_quote_for_msg(text, len, 100, q, sizeof(q));
  if (!dupkey)
    return problem(b, entry, line, col, "mapping key %s contains a NUL character", q);
  if (merge) {
    /* The first merge key is hidden from lookups; find it by hand. */
    for (uint32_t j = f->entry + 1; j < entry; j = doc->pos[j].end) {
      if (doc->pos[j].hidden && doc->pos[j].parent == f->entry) {
        first = j;
        break;
      }
    }
  }
  if (first != SK__YAML_NONE)
    return problem(b, entry, line, col, "duplicate key %s (first at line %d)", q,
                   doc->pos[first].line);
  return problem(b, entry, line, col, "duplicate key %s", q);
}

/* Stands in for a rejected key: a placeholder entry whose value will be
 * dropped when it ends. */
static int discard_key(sk__yaml_builder_t *b, const yaml_mark_t *mark) {
  frame_t *f = &b->frames[b->depth - 1];
  uint32_t entry;
  int rc = sk__yaml_doc_add_pos(b->doc, f->entry, NULL, 0, 0, line_of(mark), col_of(mark),
                                &entry);
  if (rc < 0)
    return rc;
  f->have_key = true;
  f->mode = KEY_DISCARD;
  f->key_entry = entry;
  f->key = NULL;
  f->keylen = 0;
  return 0;
}

static int bad_key(sk__yaml_builder_t *b, const char *what, const yaml_mark_t *mark) {
  int rc = discard_key(b, mark);
  if (rc < 0)
    return rc;
  return problem(b, b->frames[b->depth - 1].entry, line_of(mark), col_of(mark),
                 "mapping keys must be scalars (strings, numbers, booleans), not %s", what);
}

static bool at_key(const sk__yaml_builder_t *b) {
  return b->depth > 0 && b->frames[b->depth - 1].is_map && !b->frames[b->depth - 1].have_key;
}

static int on_scalar(sk__yaml_builder_t *b, const yaml_event_t *ev) {
  const char *text = (const char *)ev->data.scalar.value;
  size_t len = ev->data.scalar.length;
  const char *tag = (const char *)ev->data.scalar.tag;
  bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
  const yaml_mark_t *mark = &ev->start_mark;
  long ai;
  if (at_key(b)) {
    bool merge = (plain && !tag && len == 2 && memcmp(text, "<<", 2) == 0) ||
                 (tag && strcmp(tag, "tag:yaml.org,2002:merge") == 0);
    int rc = take_key(b, text, len, merge, mark);
    if (rc < 0 || !ev->data.scalar.anchor)
      return rc;
    /* An anchored key can be used as a key again through an alias. */
    rc = new_anchor(b, (const char *)ev->data.scalar.anchor, b->frames[b->depth - 1].key_entry,
                    &ai);
    if (rc < 0)
      return rc;
    anchor_t *a = &b->anchors[ai];
    a->state = ANCHOR_DONE;
    a->is_scalar = true;
    a->value = json_stringn_nocheck(text, len);
    a->height = 0;
    if (!a->value || !(a->text = malloc(len + 1)))
      return SK_ENOMEM;
    memcpy(a->text, text, len + 1);
    a->textlen = len;
    return 0;
  }
  uint32_t entry;
  int rc = begin_node(b, mark, &entry);
  if (rc < 0)
    return rc;
  if ((rc = new_anchor(b, (const char *)ev->data.scalar.anchor, entry, &ai)) < 0)
    return rc;
  json_t *v = NULL;
  char err[512];
  rc = sk__yaml_scalar(text, len, plain, tag, &v, err, sizeof(err));
  if (rc == SK_ENOMEM)
    return rc;
  if (rc < 0) {
    if ((rc = problem(b, entry, line_of(mark), col_of(mark), "%s", err)) < 0)
      return rc;
    if (!(v = json_null()))
      return SK_ENOMEM;
  }
  if (ai >= 0) {
    anchor_t *a = &b->anchors[ai];
    a->is_scalar = true;
    if (!(a->text = malloc(len + 1)))
      goto nomem;
    memcpy(a->text, text, len + 1);
    a->textlen = len;
  }
  return place(b, v, entry, 0, ai);
nomem:
  json_decref(v);
  return SK_ENOMEM;
}

/* Copies a value for an alias: containers are copied, so that editing one
 * copy does not change another, while scalars are shared, so that an alias
 * to a long string costs no memory per use. Depth is bounded by the cap. */
static json_t *copy_tree(json_t *v) {
  if (json_is_object(v)) {
    json_t *o = json_object();
    const char *k;
    json_t *m;
    json_object_foreach(v, k, m) {
      if (!o || json_object_set_new_nocheck(o, k, copy_tree(m)) < 0) {
        json_decref(o);
        return NULL;
      }
    }
    return o;
  }
  if (json_is_array(v)) {
    json_t *a = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(v, i, m) {
      if (!a || json_array_append_new(a, copy_tree(m)) < 0) {
        json_decref(a);
        return NULL;
      }
    }
    return a;
  }
  return json_incref(v);
}

static int on_alias(sk__yaml_builder_t *b, const yaml_event_t *ev) {
  const char *name = (const char *)ev->data.alias.anchor;
  const yaml_mark_t *mark = &ev->start_mark;
  int line = line_of(mark), col = col_of(mark);
  anchor_t *a = find_anchor(b, name);
  if (at_key(b)) {
    if (a && a->state == ANCHOR_DONE && a->is_scalar)
      return take_key(b, a->text, a->textlen, false, mark);
    if (a && a->state == ANCHOR_DONE)
      return bad_key(b, "an alias to a collection", mark);
    int rc = discard_key(b, mark);
    if (rc < 0)
      return rc;
    return problem(b, b->frames[b->depth - 1].entry, line, col,
                   "alias *%s used as a key refers to an unknown anchor", name);
  }
  uint32_t entry;
  int rc = begin_node(b, mark, &entry);
  if (rc < 0)
    return rc;
  const char *why = NULL;
  if (!a)
    why = "refers to an unknown anchor";
  else if (a->state == ANCHOR_PENDING)
    why = "refers to a node that contains it (a recursive structure cannot be JSON)";
  else if (a->state == ANCHOR_DROPPED)
    why = "refers to a node dropped because of an earlier problem";
  if (why) {
    if ((rc = problem(b, entry, line, col, "alias *%s %s", name, why)) < 0)
      return rc;
    return place_null(b, entry);
  }
  if (b->depth + a->height > SK_YAML_MAX_DEPTH) {
    problem(b, entry, line, col, "alias *%s nests values deeper than %d levels", name,
            SK_YAML_MAX_DEPTH);
    return SK_ETOOBIG;
  }
  uint32_t n = a->is_scalar ? 1 : b->doc->pos[a->entry].end - a->entry;
  if ((rc = count_nodes(b, n - 1, entry, line, col)) < 0)
    return rc;
  /* Copy the entries first: they tell how many key bytes the JSON copy
   * would allocate, before it does. */
  size_t keybytes = 0;
  if (!a->is_scalar && (rc = sk__yaml_doc_copy_subtree(b->doc, a->entry, entry, &keybytes)) < 0)
    return rc;
  if ((rc = count_key_bytes(b, keybytes, entry, line, col)) < 0)
    return rc;
  json_t *v = copy_tree(a->value);
  if (!v)
    return SK_ENOMEM;
  return place(b, v, entry, a->height, -1);
}

static int on_start(sk__yaml_builder_t *b, const yaml_event_t *ev, bool is_map) {
  const yaml_mark_t *mark = &ev->start_mark;
  const char *tag = (const char *)(is_map ? ev->data.mapping_start.tag
                                          : ev->data.sequence_start.tag);
  const char *anchor = (const char *)(is_map ? ev->data.mapping_start.anchor
                                             : ev->data.sequence_start.anchor);
  if (at_key(b)) {
    int rc = bad_key(b, is_map ? "a mapping" : "a sequence", mark);
    b->skip = 1;
    return rc;
  }
  uint32_t entry;
  int rc = begin_node(b, mark, &entry);
  if (rc < 0)
    return rc;
  if (b->depth >= SK_YAML_MAX_DEPTH) {
    problem(b, entry, line_of(mark), col_of(mark), "values nest deeper than %d levels",
            SK_YAML_MAX_DEPTH);
    return SK_ETOOBIG;
  }
  char err[256];
  if (sk__yaml_collection_tag(tag, is_map, err, sizeof(err)) < 0 &&
      (rc = problem(b, entry, line_of(mark), col_of(mark), "%s", err)) < 0)
    return rc;
  long ai;
  if ((rc = new_anchor(b, anchor, entry, &ai)) < 0)
    return rc;
  json_t *v = is_map ? json_object() : json_array();
  if (!v)
    return SK_ENOMEM;
  frame_t *f = &b->frames[b->depth++];
  memset(f, 0, sizeof(*f));
  f->value = v;
  f->entry = entry;
  f->is_map = is_map;
  f->anchor = ai;
  return 0;
}

/* Adds the members of src (whose entry is se) that the mapping of frame f
 * lacks, with copies of their entries: explicit keys and earlier merges win. */
static int merge_one(sk__yaml_builder_t *b, frame_t *f, json_t *src, uint32_t se) {
  sk_yaml_doc_t *doc = b->doc;
  for (uint32_t j = se + 1; j < doc->pos[se].end; j = doc->pos[j].end) {
    sk__yaml_pos_t e = doc->pos[j];
    if (e.hidden || !e.key || json_object_getn(f->value, e.key, e.keylen))
      continue;
    json_t *v = json_object_getn(src, e.key, e.keylen);
    if (!v)
      continue;
    if (json_object_setn_nocheck(f->value, e.key, e.keylen, v) < 0)
      return SK_ENOMEM;
    uint32_t ne;
    size_t keybytes = e.keylen;
    int rc = sk__yaml_doc_add_pos(doc, f->entry, e.key, e.keylen, 0, e.line, e.col, &ne);
    if (rc == 0)
      rc = sk__yaml_doc_copy_subtree(doc, j, ne, &keybytes);
    if (rc == 0)
      rc = count_key_bytes(b, keybytes, ne, e.line, e.col);
    if (rc < 0)
      return rc;
  }
  return 0;
}

static int apply_merge(sk__yaml_builder_t *b, frame_t *f) {
  sk_yaml_doc_t *doc = b->doc;
  uint32_t me = f->merge_entry;
  if (json_is_object(f->merge))
    return merge_one(b, f, f->merge, me);
  bool ok = json_is_array(f->merge);
  for (size_t i = 0; ok && i < json_array_size(f->merge); i++)
    ok = json_is_object(json_array_get(f->merge, i));
  if (!ok)
    return problem(b, me, doc->pos[me].line, doc->pos[me].col,
                   "the value of a merge key (<<) must be a mapping, an alias to one, "
                   "or a list of them");
  /* Items are the children of the merge entry, in order; earlier ones win. */
  size_t i = 0;
  for (uint32_t j = me + 1; j < doc->pos[me].end && i < json_array_size(f->merge);
       j = doc->pos[j].end, i++) {
    int rc = merge_one(b, f, json_array_get(f->merge, i), j);
    if (rc < 0)
      return rc;
  }
  return 0;
}

static int on_end(sk__yaml_builder_t *b) {
  if (b->depth == 0)
    return 0;
  frame_t *f = &b->frames[b->depth - 1];
  int rc = 0;
  if (f->is_map && f->merge) {
    rc = apply_merge(b, f);
    json_decref(f->merge);
    f->merge = NULL;
    if (rc < 0)
      return rc;
  }
  b->depth--;
  json_t *v = f->value;
  f->value = NULL;
  b->doc->pos[f->entry].end = (uint32_t)b->doc->npos;
  return place(b, v, f->entry, f->height + 1, f->anchor);
}

static int on_doc_start(sk__yaml_builder_t *b) {
  reset_doc(b);
  if (!(b->doc = sk__yaml_doc_create(b->file, ++b->doc_counter)))
    return SK_ENOMEM;
  return 0;
}

static int on_doc_end(sk__yaml_builder_t *b) {
  sk_yaml_doc_t *doc = b->doc;
  if (!doc)
    return 0;
  /* An empty document (nothing, or only null) is left out, as kubectl does. */
  if (!doc->root || json_is_null(doc->root) || b->nerrors) {
    reset_doc(b);
    return 0;
  }
  if (b->ndocs == b->capdocs) {
    size_t cap = b->capdocs ? b->capdocs * 2 : 4;
    sk_yaml_doc_t **d = realloc(b->docs, cap * sizeof(*d));
    if (!d)
      return SK_ENOMEM;
    b->docs = d;
    b->capdocs = cap;
  }
  int rc = sk__yaml_doc_finish(doc);
  if (rc < 0)
    return rc;
  b->docs[b->ndocs++] = doc;
  b->doc = NULL;
  reset_doc(b);
  return 0;
}

int sk__yaml_builder_event(sk__yaml_builder_t *b, const yaml_event_t *ev) {
  if (b->skip > 0) {
    /* Inside a rejected non-scalar key: count nesting until it closes. */
    if (ev->type == YAML_SEQUENCE_START_EVENT || ev->type == YAML_MAPPING_START_EVENT)
      b->skip++;
    else if (ev->type == YAML_SEQUENCE_END_EVENT || ev->type == YAML_MAPPING_END_EVENT)
      b->skip--;
    return 0;
  }
  switch (ev->type) {
  case YAML_DOCUMENT_START_EVENT:
    return on_doc_start(b);
  case YAML_DOCUMENT_END_EVENT:
    return on_doc_end(b);
  case YAML_SCALAR_EVENT:
    return b->doc ? on_scalar(b, ev) : 0;
  case YAML_ALIAS_EVENT:
    return b->doc ? on_alias(b, ev) : 0;
  case YAML_SEQUENCE_START_EVENT:
    return b->doc ? on_start(b, ev, false) : 0;
  case YAML_MAPPING_START_EVENT:
    return b->doc ? on_start(b, ev, true) : 0;
  case YAML_SEQUENCE_END_EVENT:
  case YAML_MAPPING_END_EVENT:
    return b->doc ? on_end(b) : 0;
  default:
    return 0;
  }
}
