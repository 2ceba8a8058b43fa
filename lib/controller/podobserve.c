/*
 * Reading a Pod: what it says about its attempt (the rules are listed at
 * sk_controller_observe_pod in controller.h). The main container's own
 * end is trusted first, so a result is never lost to a Pod that is being
 * deleted or has a sidecar still running; then the Pod-level reasons the
 * kubelet and the eviction manager give; then containers that cannot start.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/controller-int.h"
#include "controller/controller.h"
#include "engine/outputs.h"
#include "util/error.h"
#include "util/strutil.h"
#include "util/timeutil.h"

/* Bytes of a termination message's last line quoted in a failure message. */
#define QUOTE_MAX 300

const char *sk__jstr(json_t *obj, const char *key) {
  json_t *v = json_object_get(obj, key);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

int64_t sk__jtime(json_t *obj, const char *key) {
  const char *s = sk__jstr(obj, key);
  int64_t ms = 0;
  if (!s || sk_time_parse(s, &ms) < 0)
    return 0;
  return ms;
}

static bool str_is(const char *s, const char *want) { return s && strcmp(s, want) == 0; }

static void set_msg(sk_controller_pod_obs_t *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Formats the message, cut on a UTF-8 boundary to fit (a cut sequence
 * would make the status invalid JSON text). */
static void set_msg(sk_controller_pod_obs_t *o, const char *fmt, ...) {
  char tmp[SK_STATUS_MAX_MESSAGE * 4];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(tmp, sizeof(tmp), fmt, ap);
  va_end(ap);
  size_t len = strlen(tmp);
  if (len >= sizeof(o->message)) {
    len = sizeof(o->message) - 1;
    while (len > 0 && ((unsigned char)tmp[len] & 0xC0) == 0x80)
      len--;
  }
  memcpy(o->message, tmp, len);
  o->message[len] = '\0';
}

static json_t *find_status(json_t *status, const char *list, const char *name) {
  size_t i;
  json_t *cs;
  json_array_foreach(json_object_get(status, list), i, cs) {
    if (str_is(sk__jstr(cs, "name"), name))
      return cs;
  }
  return NULL;
}

static json_t *state_of(json_t *cs, const char *which) {
  json_t *v = json_object_get(json_object_get(cs, "state"), which);
  return json_is_object(v) ? v : NULL;
}

static bool exit_code(json_t *term, long long *code) {
  json_t *v = json_object_get(term, "exitCode");
  if (!json_is_integer(v))
    return false;
  *code = (long long)json_integer_value(v);
  return true;
}

/* The last non-blank line of a termination message, trimmed and capped
 * (new string; NULL when there is none or out of memory). */
static char *last_line(const char *msg) {
  if (!msg)
    return NULL;
  size_t end = strlen(msg);
  while (end > 0 && (msg[end - 1] == '\n' || msg[end - 1] == '\r' || msg[end - 1] == ' ' ||
                     msg[end - 1] == '\t'))
    end--;
  size_t start = end;
  while (start > 0 && msg[start - 1] != '\n')
    start--;
  while (start < end && (msg[start] == ' ' || msg[start] == '\t'))
    start++;
  if (start == end)
    return NULL;
  char *line = sk_memdup_str(msg + start, end - start);
  if (!line)
    return NULL;
  char *capped = sk_strdup_capped(line, QUOTE_MAX);
  free(line);
  return capped;
}

/* "exit code 3 (Error): <last line>" for a container that ended badly. */
static void exit_message(sk_controller_pod_obs_t *o, const char *who, json_t *term) {
  long long code = 0;
  bool has_code = exit_code(term, &code);
  const char *reason = sk__jstr(term, "reason");
  char head[256];
  if (!has_code)
    snprintf(head, sizeof(head), "%s ended without an exit code",
             who[0] ? who : "the container");
  else if (str_is(reason, "OOMKilled"))
    snprintf(head, sizeof(head),
             "%s%sexit code %lld (OOMKilled): the container ran out of memory "
             "(resources.limits.memory)",
             who, who[0] ? ": " : "", code);
  else if (reason && reason[0])
    snprintf(head, sizeof(head), "%s%sexit code %lld (%.100s)", who, who[0] ? ": " : "", code,
             reason);
  else
    snprintf(head, sizeof(head), "%s%sexit code %lld", who, who[0] ? ": " : "", code);
  char *tail = last_line(sk__jstr(term, "message"));
  if (tail)
    set_msg(o, "%s: %s", head, tail);
  else
    set_msg(o, "%s", head);
  free(tail);
}

static bool in_list(const char *s, const char *const *list) {
  for (size_t i = 0; s && list[i]; i++)
    if (strcmp(s, list[i]) == 0)
      return true;
  return false;
}

static const char *const k_hopeless[] = {"InvalidImageName", "ErrImageNeverPull", NULL};
static const char *const k_needs_fix[] = {"ErrImagePull", "ImagePullBackOff",
                                          "CreateContainerConfigError", "CreateContainerError",
                                          NULL};

/* Containers that wait for something that will not come: fail now, after
 * the grace period, or not at all. */
static void check_waiting(json_t *pod, json_t *status, int64_t now, sk_controller_pod_obs_t *o) {
  static const char *const lists[] = {"initContainerStatuses", "containerStatuses"};
  int64_t created = sk__jtime(json_object_get(pod, "metadata"), "creationTimestamp");
  if (created <= 0 || created > now)
    created = now;
  int64_t deadline = created + SK_CONTROLLER_WAITING_GRACE_MS;
  for (size_t l = 0; l < 2; l++) {
    size_t i;
    json_t *cs;
    json_array_foreach(json_object_get(status, lists[l]), i, cs) {
      json_t *w = state_of(cs, "waiting");
      const char *reason = sk__jstr(w, "reason");
      bool hopeless = in_list(reason, k_hopeless);
      if (!hopeless && !in_list(reason, k_needs_fix))
        continue;
      if (!hopeless && now < deadline) {
        if (o->recheck_at_ms == 0 || deadline < o->recheck_at_ms)
          o->recheck_at_ms = deadline;
        continue;
      }
      const char *name = sk__jstr(cs, "name");
      const char *msg = sk__jstr(w, "message");
      char waited[32] = "";
      if (!hopeless)
        sk_duration_format(now - created, waited, sizeof(waited));
      o->state = SK_CONTROLLER_POD_FAILED;
      o->recheck_at_ms = 0;
      set_msg(o, "cannot start container %s: %s%s%s%s%s%s", name ? name : "?", reason,
              msg ? ": " : "", msg ? msg : "", hopeless ? "" : " (waited ", waited,
              hopeless ? "" : ")");
      return;
    }
  }
}

/* A Pod that failed without a verdict from main: an init container's
 * exit, else what the Pod's status says. */
static void pod_failed(json_t *status, sk_controller_pod_obs_t *o) {
  size_t i;
  json_t *cs;
  json_array_foreach(json_object_get(status, "initContainerStatuses"), i, cs) {
    json_t *term = state_of(cs, "terminated");
    long long code = 0;
    if (term && exit_code(term, &code) && code != 0) {
      char who[128];
      snprintf(who, sizeof(who), "init container %.80s", sk__jstr(cs, "name") ? sk__jstr(cs, "name") : "?");
      exit_message(o, who, term);
      return;
    }
  }
  const char *reason = sk__jstr(status, "reason");
  const char *msg = sk__jstr(status, "message");
  if (reason && msg)
    set_msg(o, "pod failed: %s: %s", reason, msg);
  else if (reason || msg)
    set_msg(o, "pod failed: %s", reason ? reason : msg);
  else
    set_msg(o, "pod failed");
}

int sk_controller_observe_pod(json_t *pod, bool gone, int64_t now_ms, sk_controller_pod_obs_t *o) {
  memset(o, 0, sizeof(*o));
  o->state = SK_CONTROLLER_POD_WAIT;
  o->at_ms = now_ms;
  json_t *status = json_object_get(pod, "status");
  const char *phase = sk__jstr(status, "phase");
  const char *reason = sk__jstr(status, "reason");
  json_t *mainst = find_status(status, "containerStatuses", SK_CONTROLLER_CONTAINER);
  json_t *term = state_of(mainst, "terminated");
  bool deleted = gone || json_object_get(json_object_get(pod, "metadata"), "deletionTimestamp");
  bool failed = str_is(phase, "Failed");
  long long code = -1;
  if (term) {
    int64_t fin = sk__jtime(term, "finishedAt");
    if (fin > 0)
      o->at_ms = fin;
  }
  if (term && exit_code(term, &code) && code == 0) {
    const char *msg = sk__jstr(term, "message");
    char err[SK_STATUS_MAX_MESSAGE];
    err[0] = '\0';
    int rc = sk_outputs_parse(msg ? msg : "", msg ? strlen(msg) : 0, &o->outputs, err,
                              sizeof(err));
    if (rc == SK_ENOMEM)
      return rc;
    if (rc == 0) {
      o->state = SK_CONTROLLER_POD_SUCCEEDED;
    } else {
      o->state = SK_CONTROLLER_POD_FAILED;
      set_msg(o, "%s", err[0] ? err : "the outputs cannot be read");
    }
    return 0;
  }
  o->state = SK_CONTROLLER_POD_FAILED;
  if (failed && str_is(reason, "DeadlineExceeded")) {
    json_t *ads = json_object_get(json_object_get(pod, "spec"), "activeDeadlineSeconds");
    if (json_is_integer(ads))
      set_msg(o, "timed out after %llds", (long long)json_integer_value(ads));
    else
      set_msg(o, "timed out: the Pod's activeDeadlineSeconds passed");
  } else if (failed && str_is(reason, "Evicted")) {
    const char *msg = sk__jstr(status, "message");
    set_msg(o, "pod was evicted%s%s", msg ? ": " : "", msg ? msg : "");
  } else if (str_is(phase, "Succeeded") && !term) {
    /* No word from main (a simulated kubelet): a success without outputs. */
    o->state = SK_CONTROLLER_POD_SUCCEEDED;
  } else if (deleted) {
    set_msg(o, "pod was deleted");
  } else if (term) {
    exit_message(o, "", term);
  } else if (failed) {
    pod_failed(status, o);
  } else {
    o->state = SK_CONTROLLER_POD_WAIT;
    o->at_ms = now_ms;
    check_waiting(pod, status, now_ms, o);
  }
  return 0;
}

void sk_controller_pod_obs_release(sk_controller_pod_obs_t *o) {
  if (!o)
    return;
  json_decref(o->outputs);
  o->outputs = NULL;
}

int sk_controller_pod_owner(json_t *pod, const char **name, const char **uid) {
  size_t i;
  json_t *ref;
  json_array_foreach(json_object_get(json_object_get(pod, "metadata"), "ownerReferences"), i,
                     ref) {
    const char *api = sk__jstr(ref, "apiVersion");
    if (!json_is_true(json_object_get(ref, "controller")) ||
        !str_is(sk__jstr(ref, "kind"), "Workflow") || !api ||
        strncmp(api, SK_API_GROUP "/", strlen(SK_API_GROUP) + 1) != 0)
      continue;
    if (name)
      *name = sk__jstr(ref, "name");
    if (uid)
      *uid = sk__jstr(ref, "uid");
    return 0;
  }
  return SK_ENOENT;
}
