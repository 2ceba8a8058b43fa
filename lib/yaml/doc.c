/*
 * Documents: the JSON root, the table of node positions, lookups by path,
 * and the path notation shared with validation messages.
 */
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "yaml/yaml-int.h"

/* Keys up to this size share arena blocks; bigger ones get a block each. */
#define ARENA_BLOCK 65536
/* Keys longer than this are shortened in paths built for messages. */
#define MSG_KEY_MAX 200

sk_yaml_doc_t *sk__yaml_doc_create(const char *file, int index) {
  sk_yaml_doc_t *doc = calloc(1, sizeof(*doc));
  if (!doc)
    goto fail;
  if (file && !(doc->file = strdup(file)))
    goto fail;
  doc->index = index;
  return doc;
fail:
  sk_yaml_doc_destroy(doc);
  return NULL;
}

void sk_yaml_doc_destroy(sk_yaml_doc_t *doc) {
  if (!doc)
    return;
  json_decref(doc->root);
  free(doc->file);
  free(doc->pos);
  free(doc->sorted);
  for (sk__yaml_block_t *b = doc->blocks, *next; b; b = next) {
    next = b->next;
    free(b);
  }
  free(doc);
}

void sk_yaml_docs_destroy(sk_yaml_doc_t **docs, size_t ndocs) {
  if (!docs)
    return;
  for (size_t i = 0; i < ndocs; i++)
    sk_yaml_doc_destroy(docs[i]);
  free(docs);
}

sk_yaml_doc_t *sk_yaml_doc_from_json(json_t *root, const char *file) {
  if (!root)
    return NULL;
  sk_yaml_doc_t *doc = sk__yaml_doc_create(file, 1);
  if (!doc)
    return NULL;
  doc->root = json_incref(root);
  return doc;
}

json_t *sk_yaml_doc_root(const sk_yaml_doc_t *doc) { return doc ? doc->root : NULL; }

const char *sk_yaml_doc_file(const sk_yaml_doc_t *doc) { return doc ? doc->file : NULL; }

int sk_yaml_doc_index(const sk_yaml_doc_t *doc) { return doc ? doc->index : 0; }

const char *sk__yaml_doc_intern(sk_yaml_doc_t *doc, const char *s, size_t len) {
  sk__yaml_block_t *b = doc->blocks;
  if (!b || b->cap - b->used < len + 1) {
    size_t cap = len + 1 > ARENA_BLOCK ? len + 1 : ARENA_BLOCK;
    sk__yaml_block_t *nb = malloc(sizeof(*nb) + cap);
    if (!nb)
      return NULL;
    nb->used = 0;
    nb->cap = cap;
    /* A dedicated block for a big key goes behind the current one, so that
     * the current block keeps filling up with small keys. */
    if (b && cap > ARENA_BLOCK) {
      nb->next = b->next;
      b->next = nb;
    } else {
      nb->next = b;
      doc->blocks = nb;
    }
    b = nb;
  }
  char *p = b->data + b->used;
  if (len)
    memcpy(p, s, len);
  p[len] = '\0';
  b->used += len + 1;
  return p;
}

static int reserve(sk_yaml_doc_t *doc, size_t extra) {
  if (extra > (size_t)SK__YAML_NONE - 1 - doc->npos)
    return SK_ETOOBIG;
  size_t need = doc->npos + extra;
  if (need <= doc->cappos)
    return 0;
  size_t cap = doc->cappos ? doc->cappos : 64;
  while (cap < need)
    cap *= 2;
  sk__yaml_pos_t *p = realloc(doc->pos, cap * sizeof(*p));
  if (!p)
    return SK_ENOMEM;
  doc->pos = p;
  doc->cappos = cap;
  return 0;
}

int sk__yaml_doc_add_pos(sk_yaml_doc_t *doc, uint32_t parent, const char *key, size_t keylen,
                         uint32_t index, int line, int col, uint32_t *out) {
  int rc = reserve(doc, 1);
  if (rc < 0)
    return rc;
  uint32_t i = (uint32_t)doc->npos++;
  doc->pos[i] = (sk__yaml_pos_t){.key = key,
                                 .keylen = (uint32_t)keylen,
                                 .parent = parent,
                                 .end = i + 1,
                                 .index = index,
                                 .line = line,
                                 .col = col,
                                 .hidden = false};
  *out = i;
  return 0;
}

int sk__yaml_doc_copy_subtree(sk_yaml_doc_t *doc, uint32_t src, uint32_t dst,
                              size_t *keybytes) {
  uint32_t first = src + 1, last = doc->pos[src].end;
  size_t n = last - first;
  int rc = reserve(doc, n);
  if (rc < 0)
    return rc;
  uint32_t base = (uint32_t)doc->npos;
  /* Entry k of the source becomes base + (k - first); the source's own
   * children hang from dst instead of src. */
  for (uint32_t k = first; k < last; k++) {
    sk__yaml_pos_t e = doc->pos[k];
    e.parent = e.parent == src ? dst : base + (e.parent - first);
    e.end = base + (e.end - first);
    *keybytes += e.keylen;
    doc->pos[doc->npos++] = e;
  }
  doc->pos[dst].end = (uint32_t)doc->npos;
  return 0;
}

/* Orders entries by parent, then by index for items, then by key bytes. */
static int pos_cmp(const sk__yaml_pos_t *a, const sk__yaml_pos_t *b) {
  if (a->parent != b->parent)
    return a->parent < b->parent ? -1 : 1;
  if ((a->key != NULL) != (b->key != NULL))
    return a->key ? 1 : -1;
  if (!a->key)
    return (a->index > b->index) - (a->index < b->index);
  size_t n = a->keylen < b->keylen ? a->keylen : b->keylen;
  int c = n ? memcmp(a->key, b->key, n) : 0;
  if (c)
    return c;
  return (a->keylen > b->keylen) - (a->keylen < b->keylen);
}

static int sort_cmp(const void *pa, const void *pb) {
  return pos_cmp(*(const sk__yaml_pos_t *const *)pa, *(const sk__yaml_pos_t *const *)pb);
}

int sk__yaml_doc_finish(sk_yaml_doc_t *doc) {
  free(doc->sorted);
  doc->sorted = NULL;
  doc->nsorted = 0;
  if (doc->npos <= 1)
    return 0;
  /* Give back what the doubling reserved: documents are kept for as long
   * as their workflows run. */
  sk__yaml_pos_t *p = realloc(doc->pos, doc->npos * sizeof(*p));
  if (p) {
    doc->pos = p;
    doc->cappos = doc->npos;
  }
  doc->sorted = malloc((doc->npos - 1) * sizeof(*doc->sorted));
  if (!doc->sorted)
    return SK_ENOMEM;
  for (size_t i = 1; i < doc->npos; i++) {
    if (!doc->pos[i].hidden)
      doc->sorted[doc->nsorted++] = &doc->pos[i];
  }
  qsort(doc->sorted, doc->nsorted, sizeof(*doc->sorted), sort_cmp);
  return 0;
}

/* The child of entry parent with that key (or index, when key is NULL). */
static const sk__yaml_pos_t *find_child(const sk_yaml_doc_t *doc, uint32_t parent,
                                        const char *key, size_t keylen, uint32_t index) {
  sk__yaml_pos_t probe = {.key = key, .keylen = (uint32_t)keylen, .parent = parent,
                          .index = index};
  size_t lo = 0, hi = doc->nsorted;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = pos_cmp(doc->sorted[mid], &probe);
    if (c == 0)
      return doc->sorted[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Encodes a code point (not a surrogate) as UTF-8; returns the length. */
static size_t put_utf8(char *out, unsigned cp) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  out[0] = (char)(0xE0 | (cp >> 12));
  out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[2] = (char)(0x80 | (cp & 0x3F));
  return 3;
}

/* Reads a quoted key starting after `["` into out (at least as long as the
 * rest of the path) and returns the position after the closing `"]`, or NULL
 * when the key is malformed. Escapes are those sk__yaml_path_append_key
 * writes, plus any \uXXXX of the Basic Multilingual Plane. */
static const char *read_quoted(const char *p, char *out, size_t *outlen) {
  size_t n = 0;
  for (;;) {
    char c = *p++;
    if (c == '\0')
      return NULL;
    if (c == '"')
      break;
    if (c != '\\') {
      out[n++] = c;
      continue;
    }
    c = *p++;
    switch (c) {
    case '"':
    case '\\':
    case '/':
      out[n++] = c;
      break;
    case 'n':
      out[n++] = '\n';
      break;
    case 't':
      out[n++] = '\t';
      break;
    case 'r':
      out[n++] = '\r';
      break;
    case 'b':
      out[n++] = '\b';
      break;
    case 'f':
      out[n++] = '\f';
      break;
    case 'u': {
      unsigned cp = 0;
      for (int k = 0; k < 4; k++) {
        int h = hexval(p[k]);
        if (h < 0)
          return NULL;
        cp = cp * 16 + (unsigned)h;
      }
      /* A key cannot hold NUL, and a lone surrogate is not a character. */
      if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF))
        return NULL;
      p += 4;
      n += put_utf8(out + n, cp);
      break;
    }
    default:
      return NULL;
    }
  }
  if (*p != ']')
    return NULL;
  *outlen = n;
  return p + 1;
}

void sk_yaml_doc_pos(const sk_yaml_doc_t *doc, const char *path, int *line, int *col) {
  *line = 0;
  *col = 0;
  if (!doc || doc->npos == 0)
    return;
  uint32_t cur = 0;
  char *scratch = NULL;
  const char *p = path ? path : "";
  /* Walk down one component at a time; the first one that has no node
   * leaves cur at the nearest existing ancestor. Malformed text stops the
   * walk the same way. */
  while (*p) {
    const sk__yaml_pos_t *child = NULL;
    if (*p == '.')
      p++;
    if (*p == '[' && p[1] == '"') {
      if (!scratch && !(scratch = malloc(strlen(p) + 1)))
        break;
      size_t klen = 0;
      const char *next = read_quoted(p + 2, scratch, &klen);
      if (!next)
        break;
      child = find_child(doc, cur, scratch, klen, 0);
      p = next;
    } else if (*p == '[') {
      const char *q = p + 1;
      uint64_t idx = 0;
      if (*q < '0' || *q > '9')
        break;
      while (*q >= '0' && *q <= '9' && idx <= UINT32_MAX)
        idx = idx * 10 + (uint64_t)(*q++ - '0');
      if (*q != ']' || idx >= UINT32_MAX)
        break;
      child = find_child(doc, cur, NULL, 0, (uint32_t)idx);
      p = q + 1;
    } else {
      size_t klen = strcspn(p, ".[");
      if (klen == 0)
        break;
      child = find_child(doc, cur, p, klen, 0);
      p += klen;
    }
    if (!child)
      break;
    cur = (uint32_t)(child - doc->pos);
  }
  free(scratch);
  *line = doc->pos[cur].line;
  *col = doc->pos[cur].col;
}

static bool is_identifier(const char *s, size_t len) {
  if (len == 0)
    return false;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    bool more = (c >= '0' && c <= '9') || c == '-';
    if (!alpha && !(i > 0 && more))
      return false;
  }
  return true;
}

int sk__yaml_path_append_key(sk_buf_t *out, const char *key, size_t len) {
  if (is_identifier(key, len)) {
    int rc = out->len ? sk_buf_putc(out, '.') : 0;
    return rc < 0 ? rc : sk_buf_append(out, key, len);
  }
  int rc = sk_buf_puts(out, "[\"");
  for (size_t i = 0; rc == 0 && i < len; i++) {
    unsigned char c = (unsigned char)key[i];
    if (c == '"' || c == '\\') {
      char esc[2] = {'\\', (char)c};
      rc = sk_buf_append(out, esc, 2);
    } else if (c == '\n') {
      rc = sk_buf_puts(out, "\\n");
    } else if (c == '\t') {
      rc = sk_buf_puts(out, "\\t");
    } else if (c == '\r') {
      rc = sk_buf_puts(out, "\\r");
    } else if (c < 0x20 || c == 0x7F) {
      rc = sk_buf_printf(out, "\\u%04x", c);
    } else {
      rc = sk_buf_putc(out, (char)c);
    }
  }
  return rc < 0 ? rc : sk_buf_puts(out, "\"]");
}

/* Copies the text built in b into out (which may be base) if it fits. */
static int finish_path(sk_buf_t *b, int rc, char *out, size_t outlen) {
  if (rc == 0 && b->len + 1 > outlen)
    rc = SK_ETOOBIG;
  if (rc == 0)
    memcpy(out, b->data, b->len + 1);
  sk_buf_release(b);
  return rc;
}

int sk_yaml_path_key(char *out, size_t outlen, const char *base, const char *key) {
  if (!out || !key)
    return SK_EINVAL;
  sk_buf_t b;
  sk_buf_init(&b, outlen);
  int rc = sk_buf_puts(&b, base ? base : "");
  if (rc == 0)
    rc = sk__yaml_path_append_key(&b, key, strlen(key));
  return finish_path(&b, rc, out, outlen);
}

int sk_yaml_path_index(char *out, size_t outlen, const char *base, size_t index) {
  if (!out)
    return SK_EINVAL;
  sk_buf_t b;
  sk_buf_init(&b, outlen);
  int rc = sk_buf_puts(&b, base ? base : "");
  if (rc == 0)
    rc = sk_buf_printf(&b, "[%zu]", index);
  return finish_path(&b, rc, out, outlen);
}

void sk__yaml_doc_format_path(const sk_yaml_doc_t *doc, uint32_t i, sk_buf_t *out) {
  /* Collect the chain root→i; its length is bounded by the depth cap, but
   * count first rather than trust that here. */
  size_t n = 0;
  for (uint32_t k = i; k != SK__YAML_NONE && k < doc->npos; k = doc->pos[k].parent)
    n++;
  uint32_t *chain = malloc(n * sizeof(*chain) + 1);
  if (!chain)
    return;
  size_t m = n;
  for (uint32_t k = i; k != SK__YAML_NONE && k < doc->npos; k = doc->pos[k].parent)
    chain[--m] = k;
  for (size_t j = 1; j < n; j++) {
    const sk__yaml_pos_t *e = &doc->pos[chain[j]];
    int rc;
    if (!e->key) {
      rc = sk_buf_printf(out, "[%u]", e->index);
    } else if (e->keylen > MSG_KEY_MAX) {
      char cutkey[MSG_KEY_MAX + 4];
      size_t cut = MSG_KEY_MAX - 10;
      while (cut > 0 && ((unsigned char)e->key[cut] & 0xC0) == 0x80)
        cut--;
      memcpy(cutkey, e->key, cut);
      memcpy(cutkey + cut, "\xE2\x80\xA6", 3);
      rc = sk__yaml_path_append_key(out, cutkey, cut + 3);
    } else {
      rc = sk__yaml_path_append_key(out, e->key, e->keylen);
    }
    if (rc < 0) {
      /* Too long for the buffer: say so rather than stop silently. */
      sk_buf_puts(out, "\xE2\x80\xA6");
      break;
    }
  }
  free(chain);
}
