/*
 * Kubernetes client: configuration (kubeconfig and in-cluster), a REST
 * client on the libuv loop, the watch-stream parser and informers.
 *
 * Everything runs on one uv_loop_t and never blocks it. Objects travel as
 * jansson values. Reference rules follow jansson's: a json_t handed to a
 * callback is borrowed and valid only during the call (json_incref it to
 * keep it); a json_t passed in as a request body is only read (the caller
 * keeps its reference). Objects held in an informer's cache are shared by
 * every handler and must never be modified: copy them (json_deep_copy)
 * before editing.
 *
 * Errors are negative SK_E* codes (util/error.h). The apiserver's answers
 * map as: 404 → SK_ENOENT, 409 → SK_ECONFLICT (both a stale
 * resourceVersion and AlreadyExists; look at sk_kube_result_t.reason to tell
 * them apart), 410 → SK_EGONE, 400/422 → SK_EINVALID, any other non-2xx →
 * SK_EHTTP; transport failures are SK_ENET / SK_ETIMEDOUT; a cancelled call
 * is SK_ECANCELED.
 *
 * Nothing in this module logs a credential (tokens, keys, Authorization
 * headers), at any level.
 */
#ifndef SK_KUBE_KUBE_H
#define SK_KUBE_KUBE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "http/http.h"

#define SK_KUBE_VERSION "0.1.0"
#define SK_KUBE_USER_AGENT "skeind/" SK_KUBE_VERSION
#define SK_KUBE_INCLUSTER_ROOT "/var/run/secrets/kubernetes.io/serviceaccount"

/* ------------------------------------------------------------------------
 * Logging. One optional sink per client; informers log through their
 * client. Messages are single lines without a trailing newline. Without a
 * sink, lines go to util/log.h under the logger name "kube": warnings and
 * errors always, informer state transitions at -v 1, one line per request
 * at -v 2.
 * ---------------------------------------------------------------------- */

typedef enum {
  SK_KUBE_LOG_DEBUG = 0,
  SK_KUBE_LOG_INFO = 1,
  SK_KUBE_LOG_WARN = 2,
  SK_KUBE_LOG_ERROR = 3
} sk_kube_log_level_t;

typedef void (*sk_kube_log_fn)(sk_kube_log_level_t level, const char *msg, void *arg);

/* ------------------------------------------------------------------------
 * Configuration
 * ---------------------------------------------------------------------- */

/* One environment variable for an exec credential plugin. */
typedef struct {
  char *name;
  char *value;
} sk_kube_env_t;

/* users[].user.exec of a kubeconfig: a command that prints an
 * ExecCredential (client.authentication.k8s.io/v1 or v1beta1). */
typedef struct {
  char *api_version;   /* the ExecCredential apiVersion the plugin speaks */
  char *command;       /* resolved against the kubeconfig's directory when it
                          contains a '/' and is relative, as kubectl does */
  char **args;         /* argc entries */
  size_t argc;
  sk_kube_env_t *env;  /* added to the daemon's environment */
  size_t envc;
  bool provide_cluster_info; /* pass the cluster in KUBERNETES_EXEC_INFO */
  char *interactive_mode;    /* "Never", "IfAvailable", "Always" or NULL */
} sk_kube_exec_config_t;

/*
 * A resolved client configuration: where the apiserver is, how to trust it
 * and how to authenticate. All strings are owned. File paths are absolute
 * or relative to the process's working directory (relative paths in a
 * kubeconfig are resolved against the kubeconfig's directory at load time).
 * *_pem fields hold decoded PEM text from the kubeconfig's *-data fields.
 */
typedef struct sk_kube_config {
  char *server;           /* "https://host:port", no trailing slash */
  char *ca_file;
  char *ca_pem;
  char *cert_file;
  char *cert_pem;
  char *key_file;
  char *key_pem;
  char *tls_server_name;
  bool insecure_skip_tls_verify;
  char *token;            /* a static bearer token */
  char *token_file;       /* re-read when the file changes (rotation) */
  sk_kube_exec_config_t *exec; /* NULL unless the user has an exec plugin */
  char *namespace;        /* the context's namespace, or "default" */
  char *context;          /* the context used (NULL in cluster) */
  char *source;           /* the kubeconfig file the context came from, or
                             "in-cluster" */
  bool in_cluster;
} sk_kube_config_t;

/* How to find the configuration, in client-go's order: an explicit
 * kubeconfig path, else $KUBECONFIG (a ':'-separated list), else the
 * in-cluster service account when KUBERNETES_SERVICE_HOST is set, else
 * ~/.kube/config. */
typedef struct {
  const char *kubeconfig;     /* explicit path (a --kubeconfig flag); NULL: look */
  const char *context;        /* explicit context; NULL: current-context */
  const char *namespace;      /* overrides the context's namespace */
  const char *incluster_root; /* NULL: SK_KUBE_INCLUSTER_ROOT (tests override) */
} sk_kube_config_opts_t;

/*
 * Loads the configuration as described for sk_kube_config_opts_t. On
 * success returns 0 and a new config in *out (free with
 * sk_kube_config_destroy). On failure returns SK_ENOENT (no file, context,
 * cluster or user), SK_EPARSE (bad YAML), SK_EINVALID (a bad field) or
 * SK_EIO, and writes a message naming the file and the field to err, e.g.
 * `kubeconfig /x/config: context "x" not found (have: a, b)`. err may be
 * NULL; errlen should be at least 256.
 */
int sk_kube_config_load(const sk_kube_config_opts_t *opts, sk_kube_config_t **out, char *err,
                        size_t errlen);

/*
 * Loads from kubeconfig files. paths is one path or a ':'-separated list,
 * merged as kubectl does: for every named cluster, user and context, the
 * first file that defines the name wins; current-context comes from the
 * first file that sets it. context NULL means current-context.
 */
int sk_kube_config_from_kubeconfig(const char *paths, const char *context,
                                   sk_kube_config_t **out, char *err, size_t errlen);

/* Parses one kubeconfig from memory (file names the source in messages and
 * is the base of relative paths; it may be NULL, then paths are relative
 * to the working directory). */
int sk_kube_config_from_buffer(const char *buf, size_t len, const char *file, const char *context,
                               sk_kube_config_t **out, char *err, size_t errlen);

/* In-cluster configuration: server from KUBERNETES_SERVICE_HOST/PORT (an
 * IPv6 host is bracketed), token file, CA and namespace under root (NULL:
 * SK_KUBE_INCLUSTER_ROOT). SK_ENOENT when the variables or the token file
 * are missing. */
int sk_kube_config_in_cluster(const char *root, sk_kube_config_t **out, char *err, size_t errlen);

void sk_kube_config_destroy(sk_kube_config_t *cfg);

/* ------------------------------------------------------------------------
 * Resources and requests
 * ---------------------------------------------------------------------- */

/* A group/version/resource. group "" (or NULL) is the core group, whose
 * paths are /api/v1/...; others are /apis/GROUP/VERSION/... */
typedef struct {
  const char *group;
  const char *version;
  const char *resource; /* plural, lower case: "pods", "workflows" */
} sk_kube_gvr_t;

/* What a call addresses. namespace NULL is a cluster-scoped resource, or
 * all namespaces for a list/watch of a namespaced one. name NULL addresses
 * the collection. subresource is e.g. "status" or NULL. */
typedef struct {
  sk_kube_gvr_t gvr;
  const char *namespace;
  const char *name;
  const char *subresource;
} sk_kube_ref_t;

typedef enum {
  SK_KUBE_GET = 0,
  SK_KUBE_LIST,
  SK_KUBE_WATCH,
  SK_KUBE_CREATE,  /* POST */
  SK_KUBE_UPDATE,  /* PUT */
  SK_KUBE_PATCH,
  SK_KUBE_DELETE,
  SK_KUBE_VERB_COUNT
} sk_kube_verb_t;

/* Lower-case verb names as Kubernetes' audit and metrics use them: "get",
 * "list", "watch", "create", "update", "patch", "delete". */
const char *sk_kube_verb_name(sk_kube_verb_t verb);

typedef enum {
  SK_KUBE_PATCH_MERGE = 0, /* application/merge-patch+json */
  SK_KUBE_PATCH_JSON,      /* application/json-patch+json */
  SK_KUBE_PATCH_APPLY,     /* application/apply-patch+yaml (server-side apply;
                              needs field_manager; the body is sent as JSON,
                              which is YAML) */
  SK_KUBE_PATCH_STRATEGIC  /* application/strategic-merge-patch+json (built-in
                              kinds only; custom resources answer 415) */
} sk_kube_patch_type_t;

/* Optional parameters of one call. Zeroed fields are left out. */
typedef struct {
  /* list and watch */
  const char *label_selector;
  const char *field_selector;
  long limit;                   /* list page size; 0 = no paging */
  const char *continue_token;   /* list: metadata.continue of the last page */
  const char *resource_version; /* list/watch/get: where to start */
  long watch_timeout_s;         /* watch: timeoutSeconds */
  bool allow_bookmarks;         /* watch: allowWatchBookmarks=true */
  /* writes */
  const char *field_manager;
  bool force;                   /* server-side apply: force=true */
  bool dry_run;                 /* dryRun=All */
  sk_kube_patch_type_t patch_type;
  /* delete */
  const char *propagation;      /* "Foreground", "Background", "Orphan" */
  const char *precondition_uid;
  const char *precondition_rv;
  bool has_grace_period;        /* send gracePeriodSeconds = grace_period_s */
  long grace_period_s;
  /* any call: total time allowed in ms; 0 = the client's default */
  long timeout_ms;
} sk_kube_call_opts_t;

/*
 * The outcome of a call, handed (borrowed) to the completion callback.
 * body is the parsed JSON response (an object, or NULL when the response
 * was not JSON or there was none); for errors it is the apiserver's Status
 * object when it sent one. reason and message come from that Status (or
 * from the transport error); code is the HTTP status (0 when none
 * arrived). retry_after_s is the server's Retry-After (or
 * Status.details.retryAfterSeconds) for 429/5xx answers, -1 when absent.
 */
typedef struct {
  int err;
  long code;
  json_t *body;
  const char *reason;
  const char *message;
  long retry_after_s;
} sk_kube_result_t;

typedef struct sk_kube_client sk_kube_client_t;
typedef struct sk_kube_call sk_kube_call_t;

typedef void (*sk_kube_done_cb)(const sk_kube_result_t *res, void *arg);

/* Called when a request ends, for metrics: verb, HTTP code (0 for
 * transport errors), total seconds including the rate-limit wait. */
typedef void (*sk_kube_metric_fn)(sk_kube_verb_t verb, long code, double seconds, void *arg);

/*
 * Credentials, in this order: a static token; a token file, looked at
 * (stat) at most once a second and re-read when it changed, and looked at
 * again at once after a 401 (the failed call is not retried); an exec
 * plugin, run once for all the calls that wait for it, its credential
 * kept until 10 s before its expirationTimestamp, and run again after a
 * 401, the call then retried once. A client certificate (files, PEM data
 * or from the plugin) goes with every request.
 *
 * Every call, watches included, takes a slot from the client's token
 * bucket first and calls are sent in the order they were made.
 */
typedef struct {
  double qps;          /* client-side rate limit; 0 → 20 */
  int burst;           /* 0 → 30 */
  long timeout_ms;     /* default per-request timeout (not watches); 0 → 30 s */
  const char *user_agent;   /* NULL → SK_KUBE_USER_AGENT */
  sk_kube_log_fn log;  /* may be NULL */
  void *log_arg;
  sk_kube_metric_fn metric; /* may be NULL */
  void *metric_arg;
} sk_kube_client_opts_t;

/*
 * Creates a client for cfg (copied; the caller may destroy it). http is the
 * loop's HTTP client, borrowed (it must outlive the client); NULL makes the
 * client create and own one. opts may be NULL for the defaults. Returns a
 * new client or NULL on allocation failure.
 */
sk_kube_client_t *sk_kube_client_create(uv_loop_t *loop, sk_http_t *http,
                                        const sk_kube_config_t *cfg,
                                        const sk_kube_client_opts_t *opts);
/* Cancels every call (each gets its callback with SK_ECANCELED, from the
 * loop), stops exec plugins and frees the client once its handles have
 * closed; run the loop afterwards until it is empty. New calls fail with
 * SK_ESTATE from then on. Safe on NULL and from inside a callback. Destroy
 * the client's informers first. */
void sk_kube_client_destroy(sk_kube_client_t *c);

uv_loop_t *sk_kube_client_loop(const sk_kube_client_t *c);
/* The configured default namespace (borrowed). */
const char *sk_kube_client_namespace(const sk_kube_client_t *c);

/*
 * Starts a call. body is the request body for create/update/patch (read
 * only; NULL otherwise; an array is allowed for a JSON patch); bodies over
 * 3 MiB are refused with SK_ETOOBIG, as the apiserver would. For UPDATE
 * with ref->name NULL the name is taken from body's metadata.name, and for
 * CREATE/UPDATE with ref->namespace NULL the namespace from body's
 * metadata.namespace. DELETE sends propagation, grace period and
 * preconditions as a DeleteOptions body. done may be NULL; otherwise it
 * is called exactly once, from the loop,
 * never from inside this function. On success returns 0 and, when out is
 * not NULL, a borrowed handle valid until done returns (for
 * sk_kube_call_cancel). SK_EINVAL for a bad ref or body.
 *
 * A 401 answer with an exec plugin re-runs the plugin and retries the call
 * once. 429 is not retried here: res->retry_after_s tells when to.
 */
int sk_kube_call(sk_kube_client_t *c, sk_kube_verb_t verb, const sk_kube_ref_t *ref,
                 const json_t *body, const sk_kube_call_opts_t *opts, sk_kube_done_cb done,
                 void *arg, sk_kube_call_t **out);

/* Convenience forms of sk_kube_call. update_status PUTs ref's /status. */
int sk_kube_get(sk_kube_client_t *c, const sk_kube_ref_t *ref, sk_kube_done_cb done, void *arg,
                sk_kube_call_t **out);
int sk_kube_list(sk_kube_client_t *c, const sk_kube_ref_t *ref, const sk_kube_call_opts_t *opts,
                 sk_kube_done_cb done, void *arg, sk_kube_call_t **out);
int sk_kube_create(sk_kube_client_t *c, const sk_kube_ref_t *ref, const json_t *obj,
                   sk_kube_done_cb done, void *arg, sk_kube_call_t **out);
int sk_kube_update(sk_kube_client_t *c, const sk_kube_ref_t *ref, const json_t *obj,
                   sk_kube_done_cb done, void *arg, sk_kube_call_t **out);
int sk_kube_update_status(sk_kube_client_t *c, const sk_kube_ref_t *ref, const json_t *obj,
                          sk_kube_done_cb done, void *arg, sk_kube_call_t **out);
int sk_kube_patch(sk_kube_client_t *c, const sk_kube_ref_t *ref, sk_kube_patch_type_t type,
                  const json_t *patch, sk_kube_done_cb done, void *arg, sk_kube_call_t **out);
int sk_kube_delete(sk_kube_client_t *c, const sk_kube_ref_t *ref,
                   const sk_kube_call_opts_t *opts, sk_kube_done_cb done, void *arg,
                   sk_kube_call_t **out);

/* Cancels a call before its callback ran; the callback follows from the
 * loop with SK_ECANCELED. */
void sk_kube_call_cancel(sk_kube_call_t *call);

/*
 * Builds the URL path and query of a call into out (pure; exposed for
 * tests and for tools): e.g. "/api/v1/namespaces/ns/pods?limit=500" or
 * "/apis/skein.dev/v1alpha1/workflows?watch=true&resourceVersion=12".
 * Path segments and query values are percent-encoded. SK_EINVAL for a ref
 * that names no resource or version; SK_ETOOBIG when out is too small.
 */
int sk_kube_build_path(sk_kube_verb_t verb, const sk_kube_ref_t *ref,
                       const sk_kube_call_opts_t *opts, char *out, size_t outlen);

/* "namespace/name", or "name" for a cluster-scoped object (client-go's
 * MetaNamespaceKeyFunc) into out. SK_EINVAL when metadata.name is missing. */
int sk_kube_object_key(const json_t *obj, char *out, size_t outlen);
/* metadata.resourceVersion of obj (borrowed), or NULL. */
const char *sk_kube_object_rv(const json_t *obj);

/* ------------------------------------------------------------------------
 * Watch streams
 * ---------------------------------------------------------------------- */

typedef enum {
  SK_KUBE_EV_ADDED = 0,
  SK_KUBE_EV_MODIFIED,
  SK_KUBE_EV_DELETED,
  SK_KUBE_EV_BOOKMARK,
  SK_KUBE_EV_ERROR
} sk_kube_event_type_t;

const char *sk_kube_event_type_name(sk_kube_event_type_t t);

/* One watch event. object is borrowed. For ERROR events object is a
 * metav1.Status, code its code (410 means the resourceVersion expired) and
 * message its message; both are 0/NULL for other types. */
typedef struct {
  sk_kube_event_type_t type;
  json_t *object;
  long code;
  const char *message;
} sk_kube_event_t;

/* Return 0 to go on, or a negative SK_E* code to stop the stream. */
typedef int (*sk_kube_event_cb)(const sk_kube_event_t *ev, void *arg);

#define SK_KUBE_WATCH_MAX_LINE (16u << 20) /* one event line, 16 MiB */

/*
 * Parser for the newline-delimited JSON of a watch response (pure). Feed it
 * chunks as they arrive, in any split: it calls on_event once per complete
 * line, in order; blank lines are skipped. A line longer than max_line is
 * SK_ETOOBIG, a line that is not a JSON object with a known "type" (and an
 * "object" object) is SK_EPARSE. An ERROR event is delivered to on_event
 * and then, when its code is 410, feed returns SK_EGONE. After an error
 * the parser stays failed (every feed returns the same code).
 */
typedef struct {
  char *line;      /* partial line carried over between chunks */
  size_t len;
  size_t cap;
  size_t max_line;
  int failed;
  uint64_t events; /* events delivered so far */
  sk_kube_event_cb on_event;
  void *arg;
} sk_kube_watch_parser_t;

/* max_line 0 → SK_KUBE_WATCH_MAX_LINE. */
void sk_kube_watch_parser_init(sk_kube_watch_parser_t *p, size_t max_line,
                               sk_kube_event_cb on_event, void *arg);
void sk_kube_watch_parser_release(sk_kube_watch_parser_t *p);
int sk_kube_watch_parser_feed(sk_kube_watch_parser_t *p, const char *data, size_t len);
/* The stream ended: a non-blank unterminated last line is parsed as an
 * event (the server may omit the final newline). */
int sk_kube_watch_parser_finish(sk_kube_watch_parser_t *p);

/*
 * A raw watch: streams events of ref's collection (opts: resource_version,
 * watch_timeout_s, allow_bookmarks, selectors) to on_event, then calls done
 * once when the stream ends: err 0 for a normal end, SK_EGONE (code 410)
 * for a 410, whether an HTTP 410 or an ERROR event with code 410 (which
 * on_event also sees), or another error; a negative return of on_event
 * ends the stream with that code. arg goes to both callbacks. Without
 * opts->timeout_ms the local deadline is watch_timeout_s + 60 s (none
 * when that is 0). Most users want an informer instead.
 */
int sk_kube_watch(sk_kube_client_t *c, const sk_kube_ref_t *ref, const sk_kube_call_opts_t *opts,
                  sk_kube_event_cb on_event, sk_kube_done_cb done, void *arg,
                  sk_kube_call_t **out);

/* ------------------------------------------------------------------------
 * Informers
 * ---------------------------------------------------------------------- */

typedef struct sk_kube_informer sk_kube_informer_t;

/*
 * The cache holds each object as its compact JSON text (a jansson tree
 * costs about eleven times as much memory), so every object a handler, get
 * or foreach sees was parsed for that call and shares nothing with the
 * cache or with other callers.
 *
 * Handlers receive borrowed objects, valid during the call: json_incref
 * what you keep, and never modify them (one object may be passed to more
 * than one call). The cache already holds the new state when a handler
 * runs.
 * on_update gets every MODIFIED event (and, after a relist, each object
 * whose resourceVersion changed); on_delete gets the object's final state
 * (from the DELETED event, or the cached one when a relist found it gone);
 * on_synced is called once, after the first list was applied. Objects of a
 * list get the kind and apiVersion that watch events carry. Each handler
 * may be NULL. A handler may stop or destroy its informer: no further
 * handler is called then (the rest of that batch is dropped).
 */
typedef struct {
  void (*on_add)(sk_kube_informer_t *inf, json_t *obj, void *arg);
  void (*on_update)(sk_kube_informer_t *inf, json_t *old_obj, json_t *new_obj, void *arg);
  void (*on_delete)(sk_kube_informer_t *inf, json_t *obj, void *arg);
  void (*on_synced)(sk_kube_informer_t *inf, void *arg); /* after the first full list */
  void *arg;
} sk_kube_handlers_t;

typedef enum {
  SK_KUBE_INF_STOPPED = 0,
  SK_KUBE_INF_LISTING,
  SK_KUBE_INF_WATCHING,
  SK_KUBE_INF_BACKOFF
} sk_kube_informer_state_t;

const char *sk_kube_informer_state_name(sk_kube_informer_state_t s);

/*
 * Watches time out after a random timeout_min..max seconds and resume from
 * the last resourceVersion seen (events and bookmarks) without a relist;
 * a local deadline that passes counts as such an end, but a watch that
 * ends within a second without any event counts as a failure. Failures
 * (errors, 429, a 5xx) back off, with equal jitter, from backoff_initial
 * doubling to backoff_max, at least the server's Retry-After; the backoff
 * starts over once no failure happened for backoff_reset. After a failed
 * watch the informer watches again from the same version; after a failed
 * list it lists again.
 */
typedef struct {
  sk_kube_gvr_t gvr;
  const char *namespace;      /* NULL: all namespaces (or cluster-scoped) */
  const char *label_selector; /* may be NULL */
  const char *field_selector; /* may be NULL */
  long page_size;             /* 0 → 500 */
  long watch_timeout_min_s;   /* 0 → 300 */
  long watch_timeout_max_s;   /* 0 → 600 */
  long backoff_initial_ms;    /* 0 → 800 */
  long backoff_max_ms;        /* 0 → 30000 */
  long backoff_reset_ms;      /* healthy time that resets the backoff; 0 → 120000 */
  /* Drop metadata.managedFields from every object before it is cached and
   * handed to handlers (controller-runtime's default transform). They are
   * a large part of an object (a five-step Workflow: 2.6 KB of JSON with
   * them, 1.5 KB without; as a jansson tree 39 KB and 17 KB), and a PUT
   * that omits them keeps the stored ones. */
  bool strip_managed_fields;
  /* Trims an object in place before it is cached and handed to handlers
   * (client-go's SetTransform), after strip_managed_fields: list items and
   * the objects of ADDED, MODIFIED and DELETED events alike. For objects
   * that stay cached by the thousand but of which a few fields are read
   * (finished Pods). May be NULL. */
  void (*transform)(json_t *obj);
} sk_kube_informer_opts_t;

/* Creates an informer (strings in opts are copied). It does nothing until
 * started. Returns NULL on allocation failure or a bad gvr. */
sk_kube_informer_t *sk_kube_informer_create(sk_kube_client_t *c,
                                            const sk_kube_informer_opts_t *opts,
                                            const sk_kube_handlers_t *handlers);
/* Starts listing. SK_ESTATE when already running. Every list is a
 * consistent read (no resourceVersion), paged by page_size. A restart
 * after a stop replays every object still cached as an update (old == new
 * when it did not change), since handlers may have missed events. */
int sk_kube_informer_start(sk_kube_informer_t *inf);
/* Cancels in-flight requests and timers; the cache is kept. No handler is
 * called after stop returns. */
void sk_kube_informer_stop(sk_kube_informer_t *inf);
/* Stops and frees; handles close on the loop (run it until empty). Safe
 * on NULL. */
void sk_kube_informer_destroy(sk_kube_informer_t *inf);

sk_kube_informer_state_t sk_kube_informer_state(const sk_kube_informer_t *inf);
/* True once the first list has been applied to the cache. */
bool sk_kube_informer_has_synced(const sk_kube_informer_t *inf);
/* The cached object for key ("namespace/name"), parsed from the cache:
 * *out is a new reference (json_decref it), the caller's to keep or
 * change. SK_ENOENT (and *out NULL) when key is not cached; SK_ENOMEM. */
int sk_kube_informer_get(const sk_kube_informer_t *inf, const char *key, json_t **out);
/* Whether key is cached, without parsing its object. */
bool sk_kube_informer_has(const sk_kube_informer_t *inf, const char *key);
size_t sk_kube_informer_count(const sk_kube_informer_t *inf);
/* Bytes the cache takes: the objects' text, keys, versions and the table
 * (malloc's own overhead not counted). */
size_t sk_kube_informer_bytes(const sk_kube_informer_t *inf);
/* Calls fn for every cached object, in no particular order; each object
 * is parsed for the call (borrowed, valid during it): a walk costs a parse
 * of the whole cache, so keep it off hot paths. fn must not start, stop or
 * destroy the informer. 0, or SK_ENOMEM when an object could not be
 * parsed (the walk stops there). */
int sk_kube_informer_foreach(const sk_kube_informer_t *inf,
                             void (*fn)(const char *key, json_t *obj, void *arg), void *arg);
/* The last resourceVersion seen (borrowed), or "" before the first list. */
const char *sk_kube_informer_last_rv(const sk_kube_informer_t *inf);

#endif
