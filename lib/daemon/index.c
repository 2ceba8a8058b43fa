/*
 * The controller's index of what it knows per workflow beyond the
 * informer caches (see daemon-int.h). jansson objects serve as the hash
 * tables. The Pods the informer showed are kept as text, parsed when a
 * reconcile asks for them: with podGC Never a namespace keeps every Pod it
 * ever ran, and as trees they cost about 7.5 KB each.
 *
 * Each entry is an object:
 *   pods     {name: text}              as the Pod informer last showed them,
 *                                      as compact JSON text (a tenth of a tree)
 *   pending  {name: Pod}               created by us, not shown yet
 *   gone     {name: [Pod, at_ms]}      tombstones
 *   errors   [{pod, message}]          refused creates, handed out once
 *   from_rv, written                   our last status write
 */
#include <stdlib.h>
#include <string.h>

#include "controller/controller.h"
#include "daemon/daemon-int.h"
#include "kube/kube.h"
#include "util/error.h"

struct sk_daemon_index {
  json_t *root;
};

sk_daemon_index_t *sk_daemon_index_create(void) {
  sk_daemon_index_t *ix = calloc(1, sizeof(*ix));
  if (!ix)
    return NULL;
  ix->root = json_object();
  if (!ix->root) {
    free(ix);
    return NULL;
  }
  return ix;
}

void sk_daemon_index_destroy(sk_daemon_index_t *ix) {
  if (!ix)
    return;
  json_decref(ix->root);
  free(ix);
}

int sk_daemon_pod_workflow_key(json_t *pod, char *out, size_t outlen) {
  const char *name = NULL, *uid = NULL;
  if (sk_controller_pod_owner(pod, &name, &uid) < 0)
    return SK_ENOENT;
  const char *ns = json_string_value(json_object_get(json_object_get(pod, "metadata"), "namespace"));
  int n = snprintf(out, outlen, "%s/%s", ns ? ns : "default", name);
  return n < 0 || (size_t)n >= outlen ? SK_ETOOBIG : 0;
}

/* The entry for key, created when create is true (borrowed). */
static json_t *entry(sk_daemon_index_t *ix, const char *key, bool create) {
  json_t *e = json_object_get(ix->root, key);
  if (e || !create)
    return e;
  e = json_pack("{s:{}, s:{}, s:{}, s:[]}", "pods", "pending", "gone", "errors");
  if (!e || json_object_set_new(ix->root, key, e) < 0)
    return NULL;
  return e;
}

/* Drops the key's entry once it holds nothing: a finished Workflow whose
 * Pods are gone (or that never had any) then costs the index nothing
 * (four empty containers are 1.3 KB, 13 MB for 10,000 Workflows). */
static void drop_if_empty(sk_daemon_index_t *ix, const char *key, json_t *e) {
  if (!e || json_object_size(json_object_get(e, "pods")) ||
      json_object_size(json_object_get(e, "pending")) ||
      json_object_size(json_object_get(e, "gone")) ||
      json_array_size(json_object_get(e, "errors")) || json_object_get(e, "from_rv"))
    return;
  json_object_del(ix->root, key);
}

/* The entry a Pod event changes and the Pod's name; *rc says why not. */
static json_t *pod_entry(sk_daemon_index_t *ix, const char *wf_key, json_t *pod,
                         const char **name, int *rc) {
  *name = json_string_value(json_object_get(json_object_get(pod, "metadata"), "name"));
  if (!*name) {
    *rc = SK_EINVAL;
    return NULL;
  }
  json_t *e = entry(ix, wf_key, true);
  *rc = e ? 0 : SK_ENOMEM;
  return e;
}

int sk_daemon_index_pod_seen(sk_daemon_index_t *ix, const char *wf_key, json_t *pod) {
  const char *name;
  int rc;
  json_t *e = pod_entry(ix, wf_key, pod, &name, &rc);
  if (!e)
    return rc;
  json_object_del(json_object_get(e, "pending"), name);
  json_object_del(json_object_get(e, "gone"), name);
  char *text = json_dumps(pod, JSON_COMPACT);
  json_t *t = text ? json_stringn_nocheck(text, strlen(text)) : NULL;
  free(text);
  return t && json_object_set_new(json_object_get(e, "pods"), name, t) == 0 ? 0 : SK_ENOMEM;
}

int sk_daemon_index_pod_gone(sk_daemon_index_t *ix, const char *wf_key, json_t *pod,
                             int64_t now_ms) {
  const char *name;
  int rc;
  json_t *e = pod_entry(ix, wf_key, pod, &name, &rc);
  if (!e)
    return rc;
  json_object_del(json_object_get(e, "pods"), name);
  json_object_del(json_object_get(e, "pending"), name);
  json_t *t = json_pack("[O, I]", pod, (json_int_t)now_ms);
  if (!t || json_object_set_new(json_object_get(e, "gone"), name, t) < 0)
    return SK_ENOMEM;
  return 0;
}

int sk_daemon_index_pod_created(sk_daemon_index_t *ix, const char *wf_key, json_t *pod) {
  const char *name;
  int rc;
  json_t *e = pod_entry(ix, wf_key, pod, &name, &rc);
  if (!e)
    return rc;
  /* The informer may have shown it already: its view is as new or newer. */
  if (json_object_get(json_object_get(e, "pods"), name))
    return 0;
  return json_object_set(json_object_get(e, "pending"), name, pod) < 0 ? SK_ENOMEM : 0;
}

void sk_daemon_index_pod_deleted(sk_daemon_index_t *ix, const char *wf_key, const char *name) {
  json_t *e = entry(ix, wf_key, false);
  if (!e)
    return;
  json_object_del(json_object_get(e, "pending"), name);
  drop_if_empty(ix, wf_key, e);
}

int sk_daemon_index_create_error(sk_daemon_index_t *ix, const char *wf_key, const char *name,
                                 const char *message) {
  json_t *e = entry(ix, wf_key, true);
  if (!e)
    return SK_ENOMEM;
  json_t *errs = json_object_get(e, "errors");
  if (json_array_size(errs) >= SK_DAEMON_MAX_CREATE_ERRORS)
    return 0;
  json_t *one = json_pack("{s:s, s:s}", "pod", name, "message", message ? message : "refused");
  return one && json_array_append_new(errs, one) == 0 ? 0 : SK_ENOMEM;
}

static void drop_written(json_t *e) {
  json_object_del(e, "from_rv");
  json_object_del(e, "written");
}

int sk_daemon_index_written(sk_daemon_index_t *ix, const char *wf_key, const char *from_rv,
                            json_t *written) {
  json_t *e = entry(ix, wf_key, true);
  if (!e)
    return SK_ENOMEM;
  if (!from_rv || !written) {
    drop_written(e);
    drop_if_empty(ix, wf_key, e);
    return 0;
  }
  if (json_object_set_new(e, "from_rv", json_string(from_rv)) < 0 ||
      json_object_set(e, "written", written) < 0)
    return SK_ENOMEM;
  return 0;
}

/* The entry when it holds a write whose replaced version is not rv. A
 * cache that moved past that version holds our write or something newer,
 * and is the truth again. */
static json_t *moved_past(sk_daemon_index_t *ix, const char *wf_key, const char *rv) {
  json_t *e = entry(ix, wf_key, false);
  const char *from = e ? json_string_value(json_object_get(e, "from_rv")) : NULL;
  return from && !(rv && strcmp(rv, from) == 0) ? e : NULL;
}

json_t *sk_daemon_index_current(sk_daemon_index_t *ix, const char *wf_key, json_t *cached) {
  json_t *e = entry(ix, wf_key, false);
  if (!e || !json_object_get(e, "from_rv"))
    return cached;
  json_t *past = moved_past(ix, wf_key, sk_kube_object_rv(cached));
  if (!past)
    return json_object_get(e, "written");
  drop_written(past);
  drop_if_empty(ix, wf_key, past);
  return cached;
}

void sk_daemon_index_cache_moved(sk_daemon_index_t *ix, const char *wf_key, const char *rv) {
  json_t *past = moved_past(ix, wf_key, rv);
  if (past) {
    drop_written(past);
    drop_if_empty(ix, wf_key, past);
  }
}

void sk_daemon_index_forget(sk_daemon_index_t *ix, const char *wf_key) {
  json_object_del(ix->root, wf_key);
}

void sk_daemon_index_prune(sk_daemon_index_t *ix, int64_t now_ms) {
  const char *key;
  json_t *e;
  void *next;
  json_object_foreach_safe(ix->root, next, key, e) {
    json_t *gone = json_object_get(e, "gone");
    const char *name;
    json_t *t, *tmp;
    json_object_foreach_safe(gone, tmp, name, t) {
      if (now_ms - json_integer_value(json_array_get(t, 1)) > SK_DAEMON_TOMBSTONE_MS)
        json_object_del(gone, name);
    }
    drop_if_empty(ix, key, e);
  }
}

int sk_daemon_index_inputs(sk_daemon_index_t *ix, const char *wf_key, sk_daemon_inputs_t *in) {
  memset(in, 0, sizeof(*in));
  json_t *e = entry(ix, wf_key, false);
  if (!e)
    return 0;
  json_t *pods = json_object_get(e, "pods"), *pending = json_object_get(e, "pending");
  json_t *gone = json_object_get(e, "gone"), *errs = json_object_get(e, "errors");
  size_t np = json_object_size(pods) + json_object_size(pending);
  in->pods = calloc(np ? np : 1, sizeof(*in->pods));
  in->gone = calloc(json_object_size(gone) ? json_object_size(gone) : 1, sizeof(*in->gone));
  in->errors = calloc(json_array_size(errs) ? json_array_size(errs) : 1, sizeof(*in->errors));
  if (!in->pods || !in->gone || !in->errors) {
    sk_daemon_inputs_release(in);
    return SK_ENOMEM;
  }
  in->owned = json_array();
  if (!in->owned) {
    sk_daemon_inputs_release(in);
    return SK_ENOMEM;
  }
  const char *name;
  json_t *v;
  json_object_foreach(pods, name, v) {
    json_error_t err;
    json_t *pod = json_loadb(json_string_value(v), json_string_length(v), 0, &err);
    if (!pod || json_array_append_new(in->owned, pod) < 0) {
      sk_daemon_inputs_release(in);
      return pod ? SK_ENOMEM : SK_EPARSE;
    }
    in->pods[in->npods++] = pod;
  }
  json_object_foreach(pending, name, v) {
    if (!json_object_get(pods, name))
      in->pods[in->npods++] = v;
  }
  json_object_foreach(gone, name, v) in->gone[in->ngone++] = json_array_get(v, 0);
  /* Errors are handed out once: the reconcile that sees them fails the
   * attempts they belong to. */
  in->errors_owner = json_incref(errs);
  size_t i;
  json_array_foreach(errs, i, v) {
    in->errors[i].pod = json_string_value(json_object_get(v, "pod"));
    in->errors[i].message = json_string_value(json_object_get(v, "message"));
  }
  in->nerrors = json_array_size(errs);
  json_t *fresh = json_array();
  if (!fresh || json_object_set_new(e, "errors", fresh) < 0) {
    sk_daemon_inputs_release(in);
    return SK_ENOMEM;
  }
  /* Nothing handed out is borrowed from an empty entry. */
  drop_if_empty(ix, wf_key, e);
  return 0;
}

void sk_daemon_inputs_release(sk_daemon_inputs_t *in) {
  free(in->pods);
  free(in->gone);
  free(in->errors);
  json_decref(in->errors_owner);
  json_decref(in->owned);
  memset(in, 0, sizeof(*in));
}

size_t sk_daemon_index_workflows(const sk_daemon_index_t *ix) { return json_object_size(ix->root); }
