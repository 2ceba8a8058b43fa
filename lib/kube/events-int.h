/*
 * Private to the events module: a small string-keyed table that forgets
 * its least recently used entry when full, used by the aggregator for
 * equal events and for the per-object spam buckets.
 */
#ifndef SK_KUBE_EVENTS_INT_H
#define SK_KUBE_EVENTS_INT_H

#include <stddef.h>
#include <stdint.h>

typedef struct sk__lru_node {
  char *key;
  size_t klen;
  uint64_t hash;
  struct sk__lru_node *hnext;      /* hash chain */
  struct sk__lru_node *prev, *next; /* recency list, most recent first */
} sk__lru_node_t;

typedef struct {
  sk__lru_node_t **buckets;
  size_t nbuckets; /* a power of two */
  size_t n;
  size_t max;
  sk__lru_node_t head; /* sentinel: head.next is the most recent */
  /* Frees a node (and the struct around it, which embeds the node first). */
  void (*free_node)(sk__lru_node_t *node);
} sk__lru_t;

int sk__lru_init(sk__lru_t *t, size_t max, void (*free_node)(sk__lru_node_t *));
void sk__lru_release(sk__lru_t *t);
/* The node for key, moved to the front; NULL when absent. */
sk__lru_node_t *sk__lru_find(sk__lru_t *t, const char *key, size_t klen);
/* Adds node (its key is taken over: malloc'd, klen bytes plus NUL) at the
 * front, first freeing the least recently used entry when the table is
 * full. The key must not be present. */
int sk__lru_insert(sk__lru_t *t, sk__lru_node_t *node);

#endif
