/*
 * Dependencies between steps: every dependsOn entry must name another step
 * of the same section (main or finally), once; the graph must be acyclic.
 * The transitive closure computed here is what the template-reference
 * check uses to tell whether a step may read another's outputs.
 */
#include <stdlib.h>
#include <string.h>

#include "spec/spec-int.h"
#include "util/buf.h"
#include "util/error.h"

/* Room for a cycle in a message; a longer one is cut with "...". */
#define CYCLE_MSG_MAX 1500

long sk__vwf_find(const sk__vwf_t *w, const char *name, size_t len) {
  for (size_t i = 0; i < w->nsteps; i++) {
    const char *s = w->steps[i].name;
    if (s && strlen(s) == len && memcmp(s, name, len) == 0)
      return (long)i;
  }
  return -1;
}

bool sk__reaches(const sk__vwf_t *w, size_t from, size_t to) {
  return (w->reach[from * w->words + to / 64] >> (to % 64)) & 1u;
}

static void set_reach(sk__vwf_t *w, size_t from, size_t to) {
  w->reach[from * w->words + to / 64] |= (uint64_t)1 << (to % 64);
}

static void report_unknown(sk__vctx_t *c, const sk__vwf_t *w, const char *path,
                           const char *name) {
  char shown[SK__SHOW_BUF];
  sk__show(shown, sizeof(shown), name);
  /* Instances exist only at run time; the parent stands for all of them. */
  const char *dash = strrchr(name, '-');
  if (dash && dash[1] && strspn(dash + 1, "0123456789") == strlen(dash + 1)) {
    long p = sk__vwf_find(w, name, (size_t)(dash - name));
    if (p >= 0 && w->steps[p].for_each) {
      sk__report(c, path,
                 "cannot depend on \"%s\", an instance of forEach step %s: depend on %s, which "
                 "waits for all of its instances",
                 shown, w->steps[p].name, w->steps[p].name);
      return;
    }
  }
  const char **names = malloc((w->nsteps ? w->nsteps : 1) * sizeof(*names));
  const char *sug = NULL;
  if (names) {
    for (size_t i = 0; i < w->nsteps; i++)
      names[i] = w->steps[i].name;
    sug = sk__suggest_name(c, name, names, w->nsteps);
  }
  if (sug)
    sk__report(c, path, "unknown step \"%s\" (did you mean \"%s\"?)", shown, sug);
  else
    sk__report(c, path, "unknown step \"%s\"", shown);
  free(names);
}

static int resolve_deps(sk__vctx_t *c, sk__vwf_t *w, size_t i) {
  sk__vstep_t *st = &w->steps[i];
  json_t *list = json_object_get(st->obj, "dependsOn");
  if (!json_is_array(list) || json_array_size(list) == 0)
    return 0;
  char lpath[SK__PATH_MAX];
  sk__path_key(lpath, st->path, "dependsOn");
  if (json_array_size(list) > SK_SPEC_MAX_STEPS) {
    sk__report(c, lpath, "lists %zu dependencies, more than a workflow can have steps (%d)",
               json_array_size(list), SK_SPEC_MAX_STEPS);
    return 0;
  }
  st->deps = calloc(json_array_size(list), sizeof(*st->deps));
  json_t *seen = json_object();
  if (!st->deps || !seen) {
    json_decref(seen);
    return SK_ENOMEM;
  }
  const char *own = json_string_value(json_object_get(st->obj, "name"));
  size_t k;
  json_t *v;
  json_array_foreach(list, k, v) {
    const char *name = json_string_value(v);
    if (!name)
      continue;
    char path[SK__PATH_MAX];
    sk__path_index(path, lpath, k);
    long first_use = sk__first_use(seen, name, k);
    if (first_use >= 0) {
      char shown[SK__SHOW_BUF];
      sk__report(c, path, "duplicate dependency \"%s\" (already listed at dependsOn[%ld])",
                 sk__show(shown, sizeof(shown), name), first_use);
      continue;
    }
    if (own && strcmp(own, name) == 0) {
      sk__report(c, path, "a step cannot depend on itself");
      continue;
    }
    long j = sk__vwf_find(w, name, strlen(name));
    if (j < 0) {
      report_unknown(c, w, path, name);
      continue;
    }
    const sk__vstep_t *dep = &w->steps[j];
    if (!st->is_finally && dep->is_finally) {
      sk__report(c, path,
                 "step %s cannot depend on finally step %s: finally steps run only after "
                 "every main step has ended",
                 own ? own : "(unnamed)", dep->name);
      continue;
    }
    if (st->is_finally && !dep->is_finally) {
      sk__report(c, path,
                 "finally step %s cannot depend on main step %s: finally steps start after "
                 "every main step has ended anyway, and may use their outputs and phases "
                 "without listing them",
                 own ? own : "(unnamed)", dep->name);
      continue;
    }
    st->deps[st->ndeps++] = (size_t)j;
  }
  json_decref(seen);
  return 0;
}

/* Warshall's closure over 64-bit rows: n <= SK_SPEC_MAX_STEPS keeps this
 * at a few million word operations. */
static int closure(sk__vwf_t *w) {
  size_t n = w->nsteps;
  w->words = (n + 63) / 64;
  if (n == 0)
    return 0;
  w->reach = calloc(n * w->words, sizeof(*w->reach));
  if (!w->reach)
    return SK_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    for (size_t d = 0; d < w->steps[i].ndeps; d++)
      set_reach(w, i, w->steps[i].deps[d]);
  }
  for (size_t k = 0; k < n; k++) {
    const uint64_t *rk = &w->reach[k * w->words];
    for (size_t i = 0; i < n; i++) {
      if (!sk__reaches(w, i, k))
        continue;
      uint64_t *ri = &w->reach[i * w->words];
      for (size_t x = 0; x < w->words; x++)
        ri[x] |= rk[x];
    }
  }
  return 0;
}

/* Reports one cycle through `start` (the first step of its strongly
 * connected component in document order): the shortest path of
 * dependencies from start back to itself, found breadth first within the
 * component. */
static int report_cycle(sk__vctx_t *c, const sk__vwf_t *w, size_t start,
                        const unsigned char *in_scc) {
  size_t n = w->nsteps;
  size_t *prev = malloc(n * sizeof(*prev));
  size_t *queue = malloc(n * sizeof(*queue));
  unsigned char *seen = calloc(n, 1);
  int rc = SK_ENOMEM;
  if (!prev || !queue || !seen)
    goto done;
  size_t head = 0, tail = 0;
  long last = -1;
  queue[tail++] = start;
  seen[start] = 1;
  while (head < tail && last < 0) {
    size_t u = queue[head++];
    for (size_t d = 0; d < w->steps[u].ndeps; d++) {
      size_t v = w->steps[u].deps[d];
      if (v == start) {
        last = (long)u;
        break;
      }
      if (!in_scc[v] || seen[v])
        continue;
      seen[v] = 1;
      prev[v] = u;
      queue[tail++] = v;
    }
  }
  rc = 0;
  if (last < 0)
    goto done;
  /* Walk back from the last step to start, then print forwards. */
  size_t len = 0;
  for (size_t v = (size_t)last; v != start; v = prev[v])
    queue[len++] = v;
  sk_buf_t msg;
  sk_buf_init(&msg, CYCLE_MSG_MAX);
  bool cut = sk_buf_printf(&msg, "dependency cycle: %s", w->steps[start].name) < 0;
  for (size_t k = len; k > 0 && !cut; k--)
    cut = sk_buf_printf(&msg, " -> %s", w->steps[queue[k - 1]].name) < 0;
  if (!cut)
    cut = sk_buf_printf(&msg, " -> %s", w->steps[start].name) < 0;
  char path[SK__PATH_MAX];
  sk__path_key(path, w->steps[start].path, "dependsOn");
  sk__report(c, path, "%s%s", msg.data ? msg.data : "", cut ? " ..." : "");
  sk_buf_release(&msg);
done:
  free(prev);
  free(queue);
  free(seen);
  return rc;
}

static int check_cycles(sk__vctx_t *c, const sk__vwf_t *w) {
  size_t n = w->nsteps;
  unsigned char *done = calloc(n ? n : 1, 1);
  unsigned char *in_scc = calloc(n ? n : 1, 1);
  int rc = SK_ENOMEM;
  if (!done || !in_scc)
    goto out;
  rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    if (done[i] || !sk__reaches(w, i, i))
      continue;
    memset(in_scc, 0, n);
    for (size_t j = 0; j < n; j++) {
      if (j == i || (sk__reaches(w, i, j) && sk__reaches(w, j, i))) {
        in_scc[j] = 1;
        done[j] = 1;
      }
    }
    rc = report_cycle(c, w, i, in_scc);
  }
out:
  free(done);
  free(in_scc);
  return rc;
}

int sk__check_deps(sk__vctx_t *c, sk__vwf_t *w) {
  for (size_t i = 0; i < w->nsteps; i++) {
    if (!w->steps[i].obj)
      continue;
    int rc = resolve_deps(c, w, i);
    if (rc < 0) {
      c->rc = rc;
      return rc;
    }
  }
  int rc = closure(w);
  if (rc == 0)
    rc = check_cycles(c, w);
  if (rc < 0)
    c->rc = rc;
  return rc;
}
