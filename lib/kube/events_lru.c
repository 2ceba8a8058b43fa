/*
 * A string-keyed table with least-recently-used eviction (events-int.h).
 */
#include <stdlib.h>
#include <string.h>

#include "kube/events-int.h"
#include "util/error.h"

static uint64_t hash_bytes(const char *s, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

int sk__lru_init(sk__lru_t *t, size_t max, void (*free_node)(sk__lru_node_t *)) {
  memset(t, 0, sizeof(*t));
  t->nbuckets = 64;
  t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
  if (!t->buckets)
    return SK_ENOMEM;
  t->max = max ? max : 1;
  t->free_node = free_node;
  t->head.next = t->head.prev = &t->head;
  return 0;
}

static void unlink_list(sk__lru_node_t *n) {
  n->prev->next = n->next;
  n->next->prev = n->prev;
}

static void push_front(sk__lru_t *t, sk__lru_node_t *n) {
  n->next = t->head.next;
  n->prev = &t->head;
  t->head.next->prev = n;
  t->head.next = n;
}

static void unlink_hash(sk__lru_t *t, sk__lru_node_t *n) {
  sk__lru_node_t **pp = &t->buckets[n->hash & (t->nbuckets - 1)];
  while (*pp != n)
    pp = &(*pp)->hnext;
  *pp = n->hnext;
}

void sk__lru_release(sk__lru_t *t) {
  if (!t->buckets)
    return;
  sk__lru_node_t *n = t->head.next;
  while (n != &t->head) {
    sk__lru_node_t *next = n->next;
    free(n->key);
    t->free_node(n);
    n = next;
  }
  free(t->buckets);
  t->buckets = NULL;
  t->n = 0;
  t->head.next = t->head.prev = &t->head;
}

sk__lru_node_t *sk__lru_find(sk__lru_t *t, const char *key, size_t klen) {
  uint64_t h = hash_bytes(key, klen);
  for (sk__lru_node_t *n = t->buckets[h & (t->nbuckets - 1)]; n; n = n->hnext) {
    if (n->hash == h && n->klen == klen && memcmp(n->key, key, klen) == 0) {
      unlink_list(n);
      push_front(t, n);
      return n;
    }
  }
  return NULL;
}

static void grow(sk__lru_t *t) {
  size_t nb = t->nbuckets * 2;
  sk__lru_node_t **b = calloc(nb, sizeof(*b));
  if (!b)
    return; /* longer chains, still correct */
  for (size_t i = 0; i < t->nbuckets; i++) {
    sk__lru_node_t *n = t->buckets[i];
    while (n) {
      sk__lru_node_t *next = n->hnext;
      n->hnext = b[n->hash & (nb - 1)];
      b[n->hash & (nb - 1)] = n;
      n = next;
    }
  }
  free(t->buckets);
  t->buckets = b;
  t->nbuckets = nb;
}

int sk__lru_insert(sk__lru_t *t, sk__lru_node_t *node) {
  if (t->n >= t->max) {
    sk__lru_node_t *old = t->head.prev;
    unlink_list(old);
    unlink_hash(t, old);
    t->n--;
    free(old->key);
    t->free_node(old);
  }
  if (t->n >= t->nbuckets)
    grow(t);
  node->hash = hash_bytes(node->key, node->klen);
  size_t i = node->hash & (t->nbuckets - 1);
  node->hnext = t->buckets[i];
  t->buckets[i] = node;
  push_front(t, node);
  t->n++;
  return 0;
}
