/*
 * The watch-stream parser: newline-delimited JSON events in chunks of any
 * size. Pure: no I/O, so every way a stream can be split is unit-tested.
 */
#include <stdlib.h>
#include <string.h>

#include "kube/kube.h"
#include "util/error.h"

static const char *const event_names[] = {
    [SK_KUBE_EV_ADDED] = "ADDED",       [SK_KUBE_EV_MODIFIED] = "MODIFIED",
    [SK_KUBE_EV_DELETED] = "DELETED",   [SK_KUBE_EV_BOOKMARK] = "BOOKMARK",
    [SK_KUBE_EV_ERROR] = "ERROR",
};

const char *sk_kube_event_type_name(sk_kube_event_type_t t) {
  if ((unsigned)t >= sizeof(event_names) / sizeof(event_names[0]))
    return "UNKNOWN";
  return event_names[t];
}

void sk_kube_watch_parser_init(sk_kube_watch_parser_t *p, size_t max_line,
                               sk_kube_event_cb on_event, void *arg) {
  memset(p, 0, sizeof(*p));
  p->max_line = max_line ? max_line : SK_KUBE_WATCH_MAX_LINE;
  p->on_event = on_event;
  p->arg = arg;
}

void sk_kube_watch_parser_release(sk_kube_watch_parser_t *p) {
  free(p->line);
  p->line = NULL;
  p->len = 0;
  p->cap = 0;
}

static bool is_blank(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
      return false;
  return true;
}

/* Decodes one complete line into an event and hands it on. */
static int parse_line(sk_kube_watch_parser_t *p, const char *s, size_t n) {
  if (is_blank(s, n))
    return 0;
  json_error_t jerr;
  json_t *root = json_loadb(s, n, 0, &jerr);
  if (!root)
    return SK_EPARSE;
  int rc = SK_EPARSE;
  const char *type = json_string_value(json_object_get(root, "type"));
  json_t *obj = json_object_get(root, "object");
  if (!type || !json_is_object(obj))
    goto out;
  sk_kube_event_t ev = {.object = obj};
  size_t i;
  for (i = 0; i < sizeof(event_names) / sizeof(event_names[0]); i++)
    if (strcmp(type, event_names[i]) == 0)
      break;
  if (i == sizeof(event_names) / sizeof(event_names[0]))
    goto out;
  ev.type = (sk_kube_event_type_t)i;
  if (ev.type == SK_KUBE_EV_ERROR) {
    json_t *code = json_object_get(obj, "code");
    ev.code = json_is_integer(code) ? (long)json_integer_value(code) : 0;
    ev.message = json_string_value(json_object_get(obj, "message"));
  }
  p->events++;
  rc = p->on_event ? p->on_event(&ev, p->arg) : 0;
  /* An expired resourceVersion ends the stream however the handler took
   * it: the only way forward is a new list, never a re-watch from the same
   * version. */
  if (rc == 0 && ev.type == SK_KUBE_EV_ERROR && ev.code == 410)
    rc = SK_EGONE;
out:
  json_decref(root);
  return rc;
}

/* Appends to the carried-over partial line, within max_line. */
static int carry(sk_kube_watch_parser_t *p, const char *s, size_t n) {
  if (n > p->max_line - p->len)
    return SK_ETOOBIG;
  if (p->len + n > p->cap) {
    size_t cap = p->cap ? p->cap : 256;
    while (cap < p->len + n)
      cap = cap > p->max_line / 2 ? p->max_line : cap * 2;
    char *nl = realloc(p->line, cap);
    if (!nl)
      return SK_ENOMEM;
    p->line = nl;
    p->cap = cap;
  }
  memcpy(p->line + p->len, s, n);
  p->len += n;
  return 0;
}

int sk_kube_watch_parser_feed(sk_kube_watch_parser_t *p, const char *data, size_t len) {
  if (p->failed)
    return p->failed;
  int rc = 0;
  while (len > 0) {
    const char *nl = memchr(data, '\n', len);
    if (!nl) {
      rc = carry(p, data, len);
      break;
    }
    size_t n = (size_t)(nl - data);
    if (p->len > 0) {
      /* The line began in an earlier chunk: finish it in the carry buffer. */
      rc = carry(p, data, n);
      if (rc == 0)
        rc = parse_line(p, p->line, p->len);
      p->len = 0;
    } else if (n > p->max_line) {
      rc = SK_ETOOBIG;
    } else {
      rc = parse_line(p, data, n);
    }
    if (rc != 0)
      break;
    data = nl + 1;
    len -= n + 1;
  }
  if (rc != 0)
    p->failed = rc;
  return rc;
}

int sk_kube_watch_parser_finish(sk_kube_watch_parser_t *p) {
  if (p->failed)
    return p->failed;
  int rc = 0;
  if (p->len > 0)
    rc = parse_line(p, p->line, p->len);
  p->len = 0;
  if (rc != 0)
    p->failed = rc;
  return rc;
}
