/*
 * Trimming a Pod to what the controller reads, before a driver caches it:
 * with podGC Never every Pod of every Workflow stays cached, and most of a
 * Pod is spec and status the controller never looks at (the containers'
 * specs, tolerations, conditions, IPs).
 */
#include <string.h>

#include "controller/controller.h"

/* Deletes every key of obj not in keep (NULL-ended); obj may be any value. */
static void keep_only(json_t *obj, const char *const *keep) {
  const char *key;
  json_t *v;
  void *tmp;
  json_object_foreach_safe(obj, tmp, key, v) {
    size_t i = 0;
    while (keep[i] && strcmp(keep[i], key) != 0)
      i++;
    if (!keep[i])
      json_object_del(obj, key);
  }
}

void sk_controller_pod_trim(json_t *pod) {
  static const char *const top[] = {"apiVersion", "kind", "metadata", "spec", "status", NULL};
  /* Labels and annotations stay whole: they are small on the Pods skein
   * makes, and the selectors and the Pod index read them. */
  static const char *const meta[] = {"name", "namespace", "uid", "resourceVersion",
                                     "creationTimestamp", "deletionTimestamp", "labels",
                                     "annotations", "ownerReferences", NULL};
  static const char *const spec[] = {"activeDeadlineSeconds", NULL};
  static const char *const status[] = {"phase", "reason", "message", "initContainerStatuses",
                                       "containerStatuses", NULL};
  static const char *const container[] = {"name", "state", NULL};
  static const char *const lists[] = {"initContainerStatuses", "containerStatuses"};
  keep_only(pod, top);
  keep_only(json_object_get(pod, "metadata"), meta);
  keep_only(json_object_get(pod, "spec"), spec);
  json_t *st = json_object_get(pod, "status");
  keep_only(st, status);
  for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++) {
    size_t i;
    json_t *cs;
    json_array_foreach(json_object_get(st, lists[l]), i, cs) keep_only(cs, container);
  }
}
