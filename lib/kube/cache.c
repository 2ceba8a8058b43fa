/*
 * The informer's local cache: "namespace/name" → latest object, and the
 * events each change emits. Pure (no I/O), so the replace-after-relist
 * rules are unit-tested directly.
 */
#include <string.h>

#include "kube/kube-int.h"
#include "util/error.h"

#define KEY_MAX 512 /* namespace (63) + name (253) + '/' fit with room */

static bool same_rv(json_t *a, json_t *b) {
  const char *ra = sk_kube_object_rv(a), *rb = sk_kube_object_rv(b);
  /* Resource versions are opaque: equality is the only valid comparison. */
  return ra && rb && strcmp(ra, rb) == 0;
}

static bool stopped(const sk__kube_emit_t *e) { return e->stopped && e->stopped(e->arg); }

int sk__kube_cache_upsert(json_t *cache, json_t *obj, const sk__kube_emit_t *emit) {
  char key[KEY_MAX];
  int rc = sk_kube_object_key(obj, key, sizeof(key));
  if (rc)
    return rc;
  json_t *old = json_object_get(cache, key);
  json_incref(old); /* keep the old object alive for the update event */
  if (json_object_set(cache, key, obj) != 0) {
    json_decref(old);
    return SK_ENOMEM;
  }
  if (old && emit->update)
    emit->update(old, obj, emit->arg);
  else if (!old && emit->add)
    emit->add(obj, emit->arg);
  json_decref(old);
  return 0;
}

int sk__kube_cache_remove(json_t *cache, json_t *obj, const sk__kube_emit_t *emit) {
  char key[KEY_MAX];
  int rc = sk_kube_object_key(obj, key, sizeof(key));
  if (rc)
    return rc;
  /* obj may be the cached object itself: keep it alive for the event. */
  json_incref(obj);
  json_object_del(cache, key);
  if (emit->del)
    emit->del(obj, emit->arg);
  json_decref(obj);
  return 0;
}

int sk__kube_cache_replace(json_t **cache, json_t *fresh, const sk__kube_emit_t *emit,
                           bool all) {
  json_t *old = *cache;
  const char *key;
  json_t *obj;
  /* Unchanged objects keep their identity, so a handler holding one sees
   * no spurious change and no update event is due. */
  json_object_foreach(fresh, key, obj) {
    json_t *prev = json_object_get(old, key);
    if (prev && same_rv(prev, obj) && json_object_set(fresh, key, prev) != 0)
      return SK_ENOMEM;
  }
  *cache = fresh;
  json_object_foreach(old, key, obj) {
    if (stopped(emit))
      break;
    if (!json_object_get(fresh, key) && emit->del)
      emit->del(obj, emit->arg);
  }
  json_object_foreach(fresh, key, obj) {
    if (stopped(emit))
      break;
    json_t *prev = json_object_get(old, key);
    if (!prev) {
      if (emit->add)
        emit->add(obj, emit->arg);
    } else if ((prev != obj || all) && emit->update) {
      emit->update(prev, obj, emit->arg);
    }
  }
  json_decref(old);
  return 0;
}
