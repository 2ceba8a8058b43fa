/*
 * Events: the pure aggregator (equal events, spam buckets, caps, names) and
 * the Event and patch bodies. The recorder on the loop is in
 * events_recorder.c.
 */
#include "kube/events.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/events-int.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/ratelimit.h"
#include "util/strutil.h"
#include "util/timeutil.h"

#define MAX_NAME 253      /* a DNS subdomain, which Event names are */
#define MAX_KEY (16 << 10) /* all parts of a key are capped well below this */

typedef struct {
  sk__lru_node_t node; /* first: the table frees through it */
  char *name;
  char *ns;
  int64_t count;
  int64_t first_ms;
  int64_t last_ms;
} agg_entry_t;

typedef struct {
  sk__lru_node_t node;
  sk_ratelimit_t bucket;
} spam_entry_t;

struct sk_kube_evagg {
  int64_t window_ms;
  double spam_qps;
  int spam_burst;
  sk__lru_t agg;
  sk__lru_t spam;
  uint64_t last_nanos; /* names strictly increase */
  char *reason;        /* the last result's strings */
  char *message;
};

const char *sk_kube_evtype_name(sk_kube_evtype_t t) {
  return t == SK_KUBE_EVENT_WARNING ? "Warning" : "Normal";
}

static const char *str_at(const json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}

int sk_kube_objref_from(const json_t *obj, sk_kube_objref_t *ref) {
  memset(ref, 0, sizeof(*ref));
  const json_t *meta = json_object_get(obj, "metadata");
  ref->api_version = str_at(obj, "apiVersion");
  ref->kind = str_at(obj, "kind");
  ref->namespace = str_at(meta, "namespace");
  ref->name = str_at(meta, "name");
  ref->uid = str_at(meta, "uid");
  ref->resource_version = str_at(meta, "resourceVersion");
  if (!ref->kind || !ref->kind[0] || !ref->name || !ref->name[0])
    return SK_EINVAL;
  return 0;
}

/* ---- the aggregator ---- */

static void free_agg(sk__lru_node_t *n) {
  agg_entry_t *e = (agg_entry_t *)n;
  free(e->name);
  free(e->ns);
  free(e);
}

static void free_spam(sk__lru_node_t *n) { free(n); }

sk_kube_evagg_t *sk_kube_evagg_create(const sk_kube_evagg_opts_t *opts) {
  sk_kube_evagg_opts_t o = {0};
  if (opts)
    o = *opts;
  if (o.window_ms < 0)
    return NULL;
  sk_kube_evagg_t *a = calloc(1, sizeof(*a));
  if (!a)
    return NULL;
  a->window_ms = o.window_ms ? o.window_ms : 600000;
  a->spam_qps = o.spam_qps ? o.spam_qps : 1.0 / 300;
  a->spam_burst = o.spam_burst > 0 ? o.spam_burst : 25;
  size_t max = o.max_entries ? o.max_entries : 4096;
  sk_ratelimit_t probe;
  if (a->spam_qps > 0 && sk_ratelimit_init(&probe, a->spam_qps, a->spam_burst, 0) < 0)
    goto fail;
  if (sk__lru_init(&a->agg, max, free_agg) < 0 || sk__lru_init(&a->spam, max, free_spam) < 0)
    goto fail;
  return a;
fail:
  sk_kube_evagg_destroy(a);
  return NULL;
}

void sk_kube_evagg_destroy(sk_kube_evagg_t *a) {
  if (!a)
    return;
  sk__lru_release(&a->agg);
  sk__lru_release(&a->spam);
  free(a->reason);
  free(a->message);
  free(a);
}

size_t sk_kube_evagg_size(const sk_kube_evagg_t *a) { return a->agg.n; }

/* A copy of s cut at max bytes (on a UTF-8 boundary, marked as cut) with
 * any invalid UTF-8 byte replaced by '?', so it can go into JSON. */
static char *clean_text(const char *s, size_t max) {
  char *p = sk_strdup_capped(s ? s : "", max);
  if (!p)
    return NULL;
  size_t len = strlen(p), bad;
  while (!sk_utf8_valid(p, len, &bad) && bad < len)
    p[bad] = '?';
  return p;
}

/* Appends one key part and a separator that cannot occur in names. */
static int key_part(sk_buf_t *b, const char *s) {
  int rc = sk_buf_puts(b, s ? s : "");
  return rc < 0 ? rc : sk_buf_putc(b, '\x1f');
}

static int object_key(sk_buf_t *b, const sk_kube_objref_t *o) {
  int rc = key_part(b, o->api_version);
  if (rc == 0)
    rc = key_part(b, o->kind);
  if (rc == 0)
    rc = key_part(b, o->namespace);
  if (rc == 0)
    rc = key_part(b, o->name);
  if (rc == 0)
    rc = key_part(b, o->uid);
  return rc;
}

/* Spends a token of the object's bucket; false when it has none. */
static int spam_take(sk_kube_evagg_t *a, const char *key, size_t klen, int64_t now, bool *ok) {
  *ok = true;
  if (a->spam_qps < 0)
    return 0;
  spam_entry_t *e = (spam_entry_t *)sk__lru_find(&a->spam, key, klen);
  if (!e) {
    e = calloc(1, sizeof(*e));
    if (!e || !(e->node.key = sk_memdup_str(key, klen))) {
      free(e);
      return SK_ENOMEM;
    }
    e->node.klen = klen;
    sk_ratelimit_init(&e->bucket, a->spam_qps, a->spam_burst, now);
    sk__lru_insert(&a->spam, &e->node);
  }
  *ok = sk_ratelimit_take(&e->bucket, now);
  return 0;
}

/* "<object name>.<hex nanos>", the object name cut so the whole stays a
 * DNS subdomain of at most 253 bytes. */
static char *event_name(sk_kube_evagg_t *a, const char *obj_name, int64_t now_ms) {
  uint64_t nanos = now_ms > 0 ? (uint64_t)now_ms * 1000000u : 0;
  if (nanos <= a->last_nanos)
    nanos = a->last_nanos + 1;
  a->last_nanos = nanos;
  char hex[24];
  int hl = snprintf(hex, sizeof(hex), "%" PRIx64, nanos);
  size_t keep = strlen(obj_name);
  size_t room = MAX_NAME - 1 - (size_t)hl;
  if (keep > room)
    keep = room;
  while (keep > 0 && (obj_name[keep - 1] == '.' || obj_name[keep - 1] == '-'))
    keep--;
  sk_buf_t b;
  sk_buf_init(&b, MAX_NAME + 1);
  if (sk_buf_append(&b, obj_name, keep) < 0 || sk_buf_printf(&b, ".%s", hex) < 0) {
    sk_buf_release(&b);
    return NULL;
  }
  return sk_buf_steal(&b);
}

int sk_kube_evagg_record(sk_kube_evagg_t *a, const sk_kube_objref_t *obj, sk_kube_evtype_t type,
                         const char *reason, const char *message, int64_t now_ms,
                         sk_kube_evagg_result_t *out) {
  memset(out, 0, sizeof(*out));
  if (!obj || !obj->kind || !obj->kind[0] || !obj->name || !obj->name[0] || !reason || !reason[0])
    return SK_EINVAL;
  char *r = clean_text(reason, SK_KUBE_EVENT_MAX_REASON);
  char *m = clean_text(message, SK_KUBE_EVENT_MAX_MESSAGE);
  sk_buf_t key;
  sk_buf_init(&key, MAX_KEY);
  int rc = (r && m) ? object_key(&key, obj) : SK_ENOMEM;
  if (rc < 0)
    goto done;
  free(a->reason);
  free(a->message);
  a->reason = r;
  a->message = m;
  r = m = NULL;
  out->reason = a->reason;
  out->message = a->message;
  out->namespace = obj->namespace && obj->namespace[0] ? obj->namespace : "default";
  out->first_ms = out->last_ms = now_ms;
  out->count = 1;

  bool ok;
  rc = spam_take(a, key.data, key.len, now_ms, &ok);
  if (rc < 0)
    goto done;
  if (!ok) {
    out->action = SK_KUBE_EVAGG_FILTERED;
    goto done;
  }
  if ((rc = key_part(&key, sk_kube_evtype_name(type))) < 0 ||
      (rc = key_part(&key, a->reason)) < 0 || (rc = sk_buf_puts(&key, a->message)) < 0)
    goto done;
  agg_entry_t *e = (agg_entry_t *)sk__lru_find(&a->agg, key.data, key.len);
  if (e && now_ms - e->last_ms <= a->window_ms) {
    e->count++;
    if (now_ms > e->last_ms)
      e->last_ms = now_ms;
    out->action = SK_KUBE_EVAGG_PATCH;
  } else {
    char *name = event_name(a, obj->name, now_ms);
    if (!name) {
      rc = SK_ENOMEM;
      goto done;
    }
    if (!e) {
      e = calloc(1, sizeof(*e));
      char *ns = strdup(out->namespace);
      if (!e || !ns || !(e->node.key = sk_memdup_str(key.data, key.len))) {
        free(e);
        free(ns);
        free(name);
        rc = SK_ENOMEM;
        goto done;
      }
      e->node.klen = key.len;
      e->ns = ns;
      sk__lru_insert(&a->agg, &e->node);
    }
    free(e->name);
    e->name = name;
    e->count = 1;
    e->first_ms = e->last_ms = now_ms;
    out->action = SK_KUBE_EVAGG_CREATE;
  }
  out->name = e->name;
  out->namespace = e->ns;
  out->count = e->count;
  out->first_ms = e->first_ms;
  out->last_ms = e->last_ms;
done:
  free(r);
  free(m);
  sk_buf_release(&key);
  return rc;
}

/* ---- bodies ---- */

static int set_str(json_t *o, const char *k, const char *v) {
  if (!v || !v[0])
    return 0;
  return json_object_set_new(o, k, json_string(v)) ? SK_ENOMEM : 0;
}

static int set_time(json_t *o, const char *k, int64_t ms) {
  char buf[40];
  if (sk_time_format(ms, buf, sizeof(buf)) < 0)
    return SK_ERANGE;
  return json_object_set_new(o, k, json_string(buf)) ? SK_ENOMEM : 0;
}

json_t *sk_kube_event_build(const sk_kube_objref_t *obj, sk_kube_evtype_t type,
                            const sk_kube_evagg_result_t *r, const char *component,
                            const char *host) {
  char *h = clean_text(host ? host : "", 128);
  json_t *ev = json_object(), *meta = json_object(), *inv = json_object(), *src = json_object();
  int bad = !h || !ev || !meta || !inv || !src;
  if (!bad) {
    bad |= json_object_set(ev, "metadata", meta) | json_object_set(ev, "involvedObject", inv) |
           json_object_set(ev, "source", src);
    bad |= set_str(ev, "apiVersion", "v1") | set_str(ev, "kind", "Event") |
           set_str(meta, "name", r->name) | set_str(meta, "namespace", r->namespace) |
           set_str(inv, "apiVersion", obj->api_version) | set_str(inv, "kind", obj->kind) |
           set_str(inv, "namespace", obj->namespace) | set_str(inv, "name", obj->name) |
           set_str(inv, "uid", obj->uid) |
           set_str(inv, "resourceVersion", obj->resource_version) |
           set_str(inv, "fieldPath", obj->field_path) | set_str(ev, "reason", r->reason) |
           set_str(ev, "message", r->message) | set_str(ev, "type", sk_kube_evtype_name(type)) |
           set_time(ev, "firstTimestamp", r->first_ms) |
           set_time(ev, "lastTimestamp", r->last_ms) | set_str(src, "component", component) |
           set_str(src, "host", h) | set_str(ev, "reportingComponent", component) |
           set_str(ev, "reportingInstance", h);
    bad |= json_object_set_new(ev, "count", json_integer(r->count)) != 0;
  }
  free(h);
  json_decref(meta);
  json_decref(inv);
  json_decref(src);
  if (bad) {
    json_decref(ev);
    return NULL;
  }
  return ev;
}

json_t *sk_kube_event_patch(const sk_kube_evagg_result_t *r) {
  json_t *p = json_object();
  if (!p || json_object_set_new(p, "count", json_integer(r->count)) ||
      set_time(p, "lastTimestamp", r->last_ms) < 0 || set_str(p, "message", r->message) < 0) {
    json_decref(p);
    return NULL;
  }
  return p;
}
