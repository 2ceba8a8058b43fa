/*
 * The informer's local cache: "namespace/name" → the latest object as
 * compact JSON text (see kube-int.h for why text), and the events each
 * change emits. Pure (no I/O), so the replace-after-relist rules are
 * unit-tested directly.
 */
#include <stdlib.h>
#include <string.h>

#include "kube/kube-int.h"
#include "util/buf.h"
#include "util/error.h"

#define KEY_MAX 512 /* namespace (63) + name (253) + '/' fit with room */

/* ---- entries ---- */

/* FNV-1a: keys are short and the table's size is a power of two, so the
 * low bits must depend on every byte. */
static uint32_t hash_key(const char *key) {
  uint32_t h = 2166136261u;
  for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
    h ^= *p;
    h *= 16777619u;
  }
  return h;
}

static size_t entry_size(const sk__kube_entry_t *e) {
  return sizeof(*e) + (size_t)e->klen + 1 + e->rvlen + 1 + e->len + 1;
}

/* Where an object's text is written before its entry is allocated: on the
 * stack for the usual object, on the heap past that, so that the text is
 * serialised once and copied once, into the entry. */
typedef struct {
  char stack[4096];
  size_t len;
  sk_buf_t heap;
  int err;
} text_t;

static int put_text(const char *p, size_t n, void *arg) {
  text_t *t = arg;
  if (!t->heap.data && n <= sizeof(t->stack) - t->len) {
    memcpy(t->stack + t->len, p, n);
    t->len += n;
    return 0;
  }
  if (!t->heap.data && (t->err = sk_buf_append(&t->heap, t->stack, t->len)) < 0)
    return -1;
  return (t->err = sk_buf_append(&t->heap, p, n)) < 0 ? -1 : 0;
}

int sk__kube_entry_new(json_t *obj, sk__kube_entry_t **out) {
  char key[KEY_MAX];
  int rc = sk_kube_object_key(obj, key, sizeof(key));
  if (rc)
    return rc;
  const char *rv = sk_kube_object_rv(obj);
  size_t klen = strlen(key), rvlen = rv ? strlen(rv) : 0;
  if (rvlen > UINT16_MAX)
    return SK_ETOOBIG;
  text_t t;
  t.len = 0;
  t.err = 0;
  sk_buf_init(&t.heap, UINT32_MAX);
  sk__kube_entry_t *e = NULL;
  if (json_dump_callback(obj, put_text, &t, JSON_COMPACT) != 0) {
    rc = t.err < 0 ? t.err : SK_ENOMEM;
    goto out;
  }
  const char *text = t.heap.data ? t.heap.data : t.stack;
  size_t len = t.heap.data ? t.heap.len : t.len;
  if (!(e = malloc(sizeof(*e) + klen + 1 + rvlen + 1 + len + 1))) {
    rc = SK_ENOMEM;
    goto out;
  }
  e->refs = 1;
  e->hash = hash_key(key);
  e->klen = (uint16_t)klen;
  e->rvlen = (uint16_t)rvlen;
  e->len = (uint32_t)len;
  memcpy(e->data, key, klen + 1);
  memcpy(e->data + klen + 1, rv ? rv : "", rvlen + 1);
  char *dst = e->data + klen + 1 + rvlen + 1;
  memcpy(dst, text, len);
  dst[len] = '\0';
  *out = e;
out:
  sk_buf_release(&t.heap);
  return rc;
}

void sk__kube_entry_unref(sk__kube_entry_t *e) {
  if (e && --e->refs == 0)
    free(e);
}

int sk__kube_entry_parse(const sk__kube_entry_t *e, json_t **out) {
  json_error_t err;
  *out = json_loadb(sk__kube_entry_text(e), e->len, 0, &err);
  return *out ? 0 : SK_ENOMEM;
}

/* ---- the table ---- */

static size_t home(const sk__kube_store_t *s, uint32_t hash) { return hash & (s->cap - 1); }

static size_t find_slot(const sk__kube_store_t *s, const char *key, uint32_t hash) {
  size_t i = home(s, hash);
  for (sk__kube_entry_t *e; (e = s->slots[i]); i = (i + 1) & (s->cap - 1)) {
    if (e->hash == hash && strcmp(e->data, key) == 0)
      return i;
  }
  return i;
}

static int grow(sk__kube_store_t *s) {
  size_t cap = s->cap ? s->cap * 2 : 16;
  sk__kube_entry_t **slots = calloc(cap, sizeof(*slots));
  if (!slots)
    return SK_ENOMEM;
  sk__kube_store_t bigger = {slots, cap, s->n, s->bytes + (cap - s->cap) * sizeof(*slots)};
  for (size_t i = 0; i < s->cap; i++) {
    sk__kube_entry_t *e = s->slots[i];
    if (e)
      slots[find_slot(&bigger, e->data, e->hash)] = e;
  }
  free(s->slots);
  *s = bigger;
  return 0;
}

void sk__kube_store_clear(sk__kube_store_t *s) {
  for (size_t i = 0; i < s->cap; i++)
    sk__kube_entry_unref(s->slots[i]);
  free(s->slots);
  memset(s, 0, sizeof(*s));
}

sk__kube_entry_t *sk__kube_store_find(const sk__kube_store_t *s, const char *key) {
  if (!key || s->n == 0)
    return NULL;
  return s->slots[find_slot(s, key, hash_key(key))];
}

int sk__kube_store_put(sk__kube_store_t *s, sk__kube_entry_t *e) {
  if ((s->n + 1) * 4 > s->cap * 3 && grow(s) < 0) {
    sk__kube_entry_unref(e);
    return SK_ENOMEM;
  }
  size_t i = find_slot(s, e->data, e->hash);
  sk__kube_entry_t *old = s->slots[i];
  s->slots[i] = e;
  s->bytes += entry_size(e);
  if (old) {
    s->bytes -= entry_size(old);
    sk__kube_entry_unref(old);
  } else {
    s->n++;
  }
  return 0;
}

sk__kube_entry_t *sk__kube_store_take(sk__kube_store_t *s, const char *key) {
  if (!key || s->n == 0)
    return NULL;
  size_t mask = s->cap - 1, i = find_slot(s, key, hash_key(key));
  sk__kube_entry_t *e = s->slots[i];
  if (!e)
    return NULL;
  /* Backward shift: each later entry of the run moves into the hole when
   * its home slot is not between the hole and itself (cyclically), so
   * every entry stays reachable from its home without tombstones. */
  size_t hole = i;
  for (size_t j = (i + 1) & mask; s->slots[j]; j = (j + 1) & mask) {
    size_t h = home(s, s->slots[j]->hash);
    if (((j - h) & mask) >= ((j - hole) & mask)) {
      s->slots[hole] = s->slots[j];
      hole = j;
    }
  }
  s->slots[hole] = NULL;
  s->n--;
  s->bytes -= entry_size(e);
  return e;
}

sk__kube_entry_t *sk__kube_store_next(const sk__kube_store_t *s, size_t *pos) {
  while (*pos < s->cap) {
    sk__kube_entry_t *e = s->slots[(*pos)++];
    if (e)
      return e;
  }
  return NULL;
}

/* ---- changes and their events ---- */

static bool same_rv(const sk__kube_entry_t *a, const sk__kube_entry_t *b) {
  /* Resource versions are opaque: equality is the only valid comparison. */
  return a->rvlen > 0 && a->rvlen == b->rvlen &&
         strcmp(sk__kube_entry_rv(a), sk__kube_entry_rv(b)) == 0;
}

static bool stopped(const sk__kube_emit_t *e) { return e->stopped && e->stopped(e->arg); }

int sk__kube_cache_upsert(sk__kube_store_t *cache, json_t *obj, const sk__kube_emit_t *emit) {
  sk__kube_entry_t *e = NULL;
  int rc = sk__kube_entry_new(obj, &e);
  if (rc)
    return rc;
  sk__kube_entry_t *prev = sk__kube_store_find(cache, e->data);
  json_t *old = NULL;
  /* The old state exists only as text now: parse it before it goes, and
   * fail before anything changed when that is impossible. */
  if (prev && emit->update && (rc = sk__kube_entry_parse(prev, &old)) < 0) {
    sk__kube_entry_unref(e);
    return rc;
  }
  if ((rc = sk__kube_store_put(cache, e)) < 0) {
    json_decref(old);
    return rc;
  }
  if (prev && emit->update)
    emit->update(old, obj, emit->arg);
  else if (!prev && emit->add)
    emit->add(obj, emit->arg);
  json_decref(old);
  return 0;
}

int sk__kube_cache_remove(sk__kube_store_t *cache, json_t *obj, const sk__kube_emit_t *emit) {
  char key[KEY_MAX];
  int rc = sk_kube_object_key(obj, key, sizeof(key));
  if (rc)
    return rc;
  sk__kube_entry_unref(sk__kube_store_take(cache, key));
  if (emit->del)
    emit->del(obj, emit->arg);
  return 0;
}

int sk__kube_cache_stage(sk__kube_store_t *pending, const sk__kube_store_t *cache, json_t *obj) {
  char key[KEY_MAX];
  int rc = sk_kube_object_key(obj, key, sizeof(key));
  if (rc)
    return rc;
  sk__kube_entry_t *prev = sk__kube_store_find(cache, key);
  const char *rv = sk_kube_object_rv(obj);
  if (prev && rv && *rv && strcmp(sk__kube_entry_rv(prev), rv) == 0) {
    prev->refs++;
    return sk__kube_store_put(pending, prev);
  }
  sk__kube_entry_t *e = NULL;
  if ((rc = sk__kube_entry_new(obj, &e)) < 0)
    return rc;
  return sk__kube_store_put(pending, e);
}

int sk__kube_cache_replace(sk__kube_store_t *cache, sk__kube_store_t *fresh,
                           const sk__kube_emit_t *emit, bool all) {
  sk__kube_store_t old = *cache;
  *cache = *fresh;
  memset(fresh, 0, sizeof(*fresh));
  int rc = 0;
  size_t pos = 0;
  sk__kube_entry_t *e;
  while (emit->del && !stopped(emit) && (e = sk__kube_store_next(&old, &pos))) {
    json_t *obj = NULL;
    if (sk__kube_store_find(cache, e->data))
      continue;
    if (sk__kube_entry_parse(e, &obj) < 0) {
      rc = SK_ENOMEM;
      continue;
    }
    emit->del(obj, emit->arg);
    json_decref(obj);
  }
  pos = 0;
  while (!stopped(emit) && (e = sk__kube_store_next(cache, &pos))) {
    sk__kube_entry_t *prev = sk__kube_store_find(&old, e->data);
    bool changed = prev && !same_rv(prev, e);
    if (prev ? !((changed || all) && emit->update) : !emit->add)
      continue;
    json_t *obj = NULL, *prev_obj = NULL;
    if (sk__kube_entry_parse(e, &obj) < 0 ||
        (changed && sk__kube_entry_parse(prev, &prev_obj) < 0)) {
      json_decref(obj);
      rc = SK_ENOMEM;
      continue;
    }
    if (!prev)
      emit->add(obj, emit->arg);
    else
      emit->update(prev_obj ? prev_obj : obj, obj, emit->arg);
    json_decref(prev_obj);
    json_decref(obj);
  }
  sk__kube_store_clear(&old);
  return rc;
}
