/*
 * Private declarations shared by the files of lib/kube (config, client,
 * credentials, watch, informer). Nothing outside lib/kube includes this.
 */
#ifndef SK_KUBE_KUBE_INT_H
#define SK_KUBE_KUBE_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kube/kube.h"
#include "util/buf.h"
#include "util/backoff.h"
#include "util/ratelimit.h"

/* ---- config helpers (config_util.c) ---- */

/* Writes a formatted message to err (when not NULL) and returns code. */
int sk__kube_errf(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Decodes standard base64 (padding optional, whitespace ignored) into a
 * new NUL-terminated buffer; *outlen gets the decoded length. SK_EPARSE on
 * a bad character or length. */
int sk__kube_b64_decode(const char *in, size_t inlen, char **out, size_t *outlen);

/* Resolves path against the directory of base_file (NULL or a name without
 * a '/': left as is). Absolute paths are returned unchanged. New string. */
char *sk__kube_resolve_path(const char *base_file, const char *path);

/* Reads a whole small file (at most max bytes) into a new NUL-terminated
 * buffer. SK_ENOENT, SK_EIO, SK_ETOOBIG. */
int sk__kube_read_file(const char *path, size_t max, char **out, size_t *outlen);

/* Zeroes a secret string (token, key) and frees it. Safe on NULL. */
void sk__kube_wipe_free(char *s);

/* Frees the members of an exec config and the struct itself. */
void sk__kube_exec_config_free(sk_kube_exec_config_t *e);
/* Deep copy; NULL on allocation failure (or when e is NULL). */
sk_kube_exec_config_t *sk__kube_exec_config_dup(const sk_kube_exec_config_t *e);
/* Deep copy of a whole config; NULL on allocation failure. */
sk_kube_config_t *sk__kube_config_dup(const sk_kube_config_t *cfg);

/* ---- kubeconfig merging (config.c) ---- */

/* One parsed kubeconfig file: its root object (borrowed from the caller)
 * and its name, for messages and relative paths. */
typedef struct {
  json_t *root;
  const char *file;
} sk__kube_cfgfile_t;

/* Builds a config from kubeconfig files merged in order (first definition
 * of a name wins). label names the source in messages (a path or the
 * KUBECONFIG list). */
int sk__kube_config_from_files(const sk__kube_cfgfile_t *files, size_t nfiles, const char *label,
                               const char *context, sk_kube_config_t **out, char *err,
                               size_t errlen);

/* ---- paths and results (client_path.c, client_status.c) ---- */

/* server + path + query of a call into a new string. */
int sk__kube_build_url(const char *server, sk_kube_verb_t verb, const sk_kube_ref_t *ref,
                       const sk_kube_call_opts_t *opts, char **out);

/* The SK_E* code for an HTTP status (0 for 2xx). */
int sk__kube_err_for_code(long code);

/* A call's result with the storage its strings and body live in. */
typedef struct {
  sk_kube_result_t pub;
  json_t *json;  /* owned: the parsed body */
  char *msgbuf;  /* owned: a message built here */
} sk__kube_outcome_t;

/* Fills o from a transport error (transport_err != 0, transport_text may be
 * NULL) or from an HTTP answer. Strings in o->pub point into o, into
 * transport_text (which must outlive o) or are static. */
int sk__kube_outcome_set(sk__kube_outcome_t *o, int transport_err, const char *transport_text,
                         long code, const char *body, size_t len, const char *retry_after);
void sk__kube_outcome_release(sk__kube_outcome_t *o);

/* ---- credentials (client_cred.c) ---- */

/* A credential from an exec plugin: a bearer token and/or a client
 * certificate and key (PEM), valid until expiry_ms (0: no expiry given). */
typedef struct {
  char *token;
  char *cert_pem;
  char *key_pem;
  int64_t expiry_ms;
} sk__kube_cred_t;

void sk__kube_cred_release(sk__kube_cred_t *c);

/* Parses a plugin's stdout as an ExecCredential of api_version (the
 * version the kubeconfig asked for). SK_EPARSE/SK_EINVALID with a message. */
int sk__kube_exec_parse(const char *out, size_t len, const char *api_version,
                        sk__kube_cred_t *cred, char *err, size_t errlen);

/* The KUBERNETES_EXEC_INFO value for cfg's plugin: an ExecCredential with
 * spec.interactive false and, when asked for, spec.cluster. New string. */
char *sk__kube_exec_info(const sk_kube_config_t *cfg);

/* A token file, re-read when it changes (projected service-account tokens
 * rotate about hourly). */
typedef struct {
  char *path;
  char *token;
  int64_t checked_mono; /* when the file was last stat'ed */
  uint64_t dev, ino, size;
  int64_t mtime_ns;
} sk__kube_tokenfile_t;

#define SK_KUBE_TOKENFILE_RECHECK_MS 1000

int sk__kube_tokenfile_init(sk__kube_tokenfile_t *tf, const char *path);
void sk__kube_tokenfile_release(sk__kube_tokenfile_t *tf);
/* The current token (borrowed until the next call): stats the file when
 * force is set or SK_KUBE_TOKENFILE_RECHECK_MS passed since the last look,
 * and re-reads it when it changed. A file that became unreadable keeps the
 * last good token; with none, returns SK_ENOENT/SK_EIO/SK_EINVALID (empty)
 * with a message. */
int sk__kube_tokenfile_get(sk__kube_tokenfile_t *tf, int64_t now_mono, bool force,
                           const char **token, char *err, size_t errlen);

/* ---- exec plugin runs (client_exec.c) ---- */

typedef struct sk__kube_exec_run sk__kube_exec_run_t;
/* err 0: cred holds the new credential, which the callee takes over (the
 * callback must move or release it). err != 0: msg says why. */
typedef void (*sk__kube_exec_done_cb)(int err, const char *msg, sk__kube_cred_t *cred, void *arg);

#define SK_KUBE_EXEC_TIMEOUT_MS 60000
#define SK_KUBE_EXEC_MAX_OUTPUT (1u << 20)

/* Runs cfg->exec on loop; done is called once from the loop, after every
 * handle of the run closed. */
int sk__kube_exec_start(uv_loop_t *loop, const sk_kube_config_t *cfg, long timeout_ms,
                        sk__kube_exec_done_cb done, void *arg, sk__kube_exec_run_t **out);
/* Kills the plugin; done follows with SK_ECANCELED. */
void sk__kube_exec_cancel(sk__kube_exec_run_t *run);

/* ---- the client (client.c, client_auth.c, client_verbs.c) ---- */

typedef enum {
  SK__CALL_QUEUED = 0, /* waiting for its rate-limit slot */
  SK__CALL_WAIT_CRED,  /* waiting for an exec plugin to produce a credential */
  SK__CALL_RUNNING,    /* the HTTP request is in flight */
  SK__CALL_FINISHING   /* ended before it ran (cancelled, failed): the
                          scheduler delivers its result from the loop */
} sk__call_state_t;

struct sk_kube_call {
  sk_kube_client_t *c;
  struct sk_kube_call *prev, *next; /* every live call of the client */
  sk__call_state_t state;
  sk_kube_verb_t verb;
  const char *method;
  char *url;
  char *body;
  size_t body_len;
  const char *content_type;
  long timeout_ms;
  int64_t enq_mono;   /* when the call was made, for the metric */
  int64_t start_at;   /* monotonic ms at which the rate limiter lets it go */
  sk_http_req_t *req;
  bool cancel_requested;
  bool retried_auth;  /* a 401 was retried once with a fresh credential */
  bool parked;        /* it waited for an exec plugin run */
  uint64_t cred_gen;  /* which exec credential the request carried */
  int fail;           /* FINISHING: the error to deliver */
  char *fail_msg;
  sk_kube_done_cb done;
  void *arg;
  /* watches */
  sk_kube_event_cb on_event;
  bool is_watch;
  sk_kube_watch_parser_t parser;
  sk_buf_t errbody;   /* the body of a non-200 watch answer */
};

struct sk_kube_client {
  uv_loop_t *loop;
  sk_http_t *http;
  bool own_http;
  sk_kube_config_t *cfg;
  char *ua_header;
  long timeout_ms;
  sk_ratelimit_t rl;
  uv_timer_t sched;
  int64_t sched_due;  /* when the armed scheduler fires; INT64_MAX: idle */
  sk_kube_call_t *calls, *calls_tail;
  /* credentials */
  bool has_tokenfile;
  sk__kube_tokenfile_t tokenfile;
  sk__kube_cred_t cred;       /* the exec plugin's current credential */
  bool cred_valid;
  uint64_t cred_gen;
  sk__kube_exec_run_t *exec_run;
  /* hooks */
  sk_kube_log_fn log;
  void *log_arg;
  sk_kube_metric_fn metric;
  void *metric_arg;
  bool destroying;
  bool closing;
};

/* Frees a destroyed client once no call and no plugin run is left. */
void sk__kube_client_maybe_free(sk_kube_client_t *c);
/* Arms the scheduler to run within delay_ms. */
void sk__kube_sched(sk_kube_client_t *c, int64_t delay_ms);
/* Sends a call whose slot has come: picks the credential (maybe waiting
 * for the exec plugin) and starts the HTTP request. */
void sk__kube_begin(sk_kube_call_t *call);
/* Ends a call that failed before or instead of its request: its callback
 * runs now (the caller is on the loop, never inside sk_kube_call). */
void sk__kube_fail_now(sk_kube_call_t *call, int err, const char *msg);
/* client_auth.c: the Authorization header value for a call into out, or
 * "" for none; returns 1 when the call must wait for an exec plugin (it is
 * then parked), or a negative error with msg filled. tls is completed with
 * an exec plugin's client certificate when it gave one. */
int sk__kube_auth(sk_kube_call_t *call, sk_buf_t *out, sk_http_tls_t *tls, char *msg,
                  size_t msglen);
/* client_auth.c: a 401 arrived; returns true when the call should be sent
 * again with a fresh credential. */
bool sk__kube_auth_rejected(sk_kube_call_t *call);
/* client_auth.c: stops a running exec plugin (client teardown). */
void sk__kube_auth_shutdown(sk_kube_client_t *c);

/* ---- the informer's cache (cache.c) ---- */

/* How cache changes are reported. stopped, when set, is asked between
 * events: once it returns true no further event is emitted (the informer
 * was stopped from a handler). */
typedef struct {
  void (*add)(json_t *obj, void *arg);
  void (*update)(json_t *old_obj, json_t *new_obj, void *arg);
  void (*del)(json_t *obj, void *arg);
  bool (*stopped)(void *arg);
  void *arg;
} sk__kube_emit_t;

/*
 * The cache holds each object as its compact JSON text, not as a jansson
 * tree: a tree costs about eleven times the text (every object a hash
 * table, every key and string its own allocation), and a controller's
 * cache is mostly objects nobody reads until they change. Readers parse
 * the text again (tens of microseconds for a Workflow).
 *
 * An entry is one allocation: its key ("namespace/name"), the object's
 * resourceVersion (to compare without parsing) and the text. Entries are
 * shared by reference count between the cache and a list in progress, so
 * that a relist of unchanged objects costs no second copy.
 */
typedef struct sk__kube_entry {
  uint32_t refs;
  uint32_t hash;  /* of the key */
  uint32_t len;   /* bytes of text */
  uint16_t klen;  /* bytes of key */
  uint16_t rvlen; /* bytes of resourceVersion */
  char data[];    /* key, NUL, resourceVersion, NUL, text, NUL */
} sk__kube_entry_t;

static inline const char *sk__kube_entry_key(const sk__kube_entry_t *e) { return e->data; }
static inline const char *sk__kube_entry_rv(const sk__kube_entry_t *e) {
  return e->data + e->klen + 1;
}
static inline const char *sk__kube_entry_text(const sk__kube_entry_t *e) {
  return e->data + e->klen + 1 + e->rvlen + 1;
}

/* A new entry (one reference) for obj, serialised compactly. SK_EINVAL
 * when obj has no name, SK_ETOOBIG for a key or resourceVersion that does
 * not fit, SK_ENOMEM. */
int sk__kube_entry_new(json_t *obj, sk__kube_entry_t **out);
void sk__kube_entry_unref(sk__kube_entry_t *e);
/* Parses the entry's text: *out is a new reference. SK_ENOMEM (the text
 * was written by jansson, so only memory can fail). */
int sk__kube_entry_parse(const sk__kube_entry_t *e, json_t **out);

/* Entries by key: open addressing with linear probing in a power-of-two
 * table of pointers (8 bytes a slot, at most 3/4 full), deletion by
 * backward shift, so there are no tombstones. Zero-initialised is
 * empty. Not to be changed while it is being walked. */
typedef struct {
  sk__kube_entry_t **slots;
  size_t cap;   /* a power of two, or 0 */
  size_t n;     /* entries */
  size_t bytes; /* allocated for the entries and the table */
} sk__kube_store_t;

/* Drops every entry and the table; the store is empty and usable. */
void sk__kube_store_clear(sk__kube_store_t *s);
/* The entry of key (borrowed), or NULL. */
sk__kube_entry_t *sk__kube_store_find(const sk__kube_store_t *s, const char *key);
/* Puts e under its key, taking the caller's reference; the entry it
 * replaces is unreferenced. SK_ENOMEM (e is then unreferenced too). */
int sk__kube_store_put(sk__kube_store_t *s, sk__kube_entry_t *e);
/* Removes key's entry and returns it with the store's reference, or NULL. */
sk__kube_entry_t *sk__kube_store_take(sk__kube_store_t *s, const char *key);
/* Walks the entries in no particular order: start with *pos = 0; NULL at
 * the end. */
sk__kube_entry_t *sk__kube_store_next(const sk__kube_store_t *s, size_t *pos);

/* Adds or replaces obj; emits add(obj) or update(old, obj) with old parsed
 * from the cache. SK_EINVAL when obj has no name; on SK_ENOMEM the cache
 * is unchanged and nothing is emitted. */
int sk__kube_cache_upsert(sk__kube_store_t *cache, json_t *obj, const sk__kube_emit_t *emit);
/* Removes obj's key; emits del with obj (the object's final state) when
 * the key was cached, or with obj anyway, since the deletion happened. */
int sk__kube_cache_remove(sk__kube_store_t *cache, json_t *obj, const sk__kube_emit_t *emit);
/* Adds an item of a list in progress to pending: the cache's own entry
 * when the item's resourceVersion is the cached one (shared, no copy),
 * else a new entry. SK_EINVAL when obj has no name. */
int sk__kube_cache_stage(sk__kube_store_t *pending, const sk__kube_store_t *cache, json_t *obj);
/* Replaces the contents of *cache with *fresh (left empty) after a full
 * list: objects whose resourceVersion did not change are kept as they
 * were (no event, unless all is set: then update(obj, obj) for each, after
 * a restart), changed ones emit update, new ones add, and vanished ones
 * del, so that no transition is lost across a relist. The cache is
 * swapped before any event, so handlers see the new contents. SK_ENOMEM
 * when an event was skipped because its object could not be parsed. */
int sk__kube_cache_replace(sk__kube_store_t *cache, sk__kube_store_t *fresh,
                           const sk__kube_emit_t *emit, bool all);

/* ---- informers (informer.c, informer_life.c) ---- */

/* One request of the informer. The informer may forget an op (stop, or a
 * newer op replaced it) while its request is still being cancelled; the op
 * then lives on, marked dead, until its callback arrives. */
typedef struct {
  sk_kube_informer_t *inf;
  bool dead;
} sk__kube_op_t;

struct sk_kube_informer {
  sk_kube_client_t *c;
  char *group, *version, *resource, *ns, *label_selector, *field_selector;
  char desc[160]; /* "skein.dev/v1alpha1/workflows in ml", for logs */
  sk_kube_informer_opts_t o;
  sk_kube_handlers_t h;
  sk_kube_informer_state_t state;
  sk__kube_store_t cache;
  sk__kube_store_t pending; /* items of the list in progress */
  char *cont;        /* continue token of the next page */
  char *last_rv;
  bool synced;
  bool synced_told;  /* on_synced was called */
  bool resync_all;   /* the next list replays every object (a restart) */
  int restarts;      /* consecutive list restarts for expired continue tokens */
  sk__kube_op_t *op;          /* the current request */
  sk_kube_call_t *call;
  uv_timer_t timer;
  sk_backoff_t backoff;
  int64_t last_failure; /* monotonic ms of the last backoff, for the reset */
  bool after_backoff_watch; /* what the backoff timer resumes */
  int64_t watch_started;
  uint64_t watch_events;
  uint64_t rng;
  int dispatch;      /* handler calls in progress (destroy waits for them) */
  int outstanding;   /* ops whose callbacks have not arrived */
  bool destroyed;
  bool timer_closed;
};

/* The one state-transition function: sets the state and logs the change
 * with its reason. */
void sk__kube_inf_transition(sk_kube_informer_t *inf, sk_kube_informer_state_t to,
                             const char *why);
/* Forgets the current request, cancelling it if it still runs. */
void sk__kube_inf_drop_op(sk_kube_informer_t *inf);
/* Requests the next list page (or the first). */
void sk__kube_inf_start_list(sk_kube_informer_t *inf);
/* Frees a destroyed informer once nothing refers to it any more. */
void sk__kube_inf_maybe_free(sk_kube_informer_t *inf);

/* ---- logging (client.c) ---- */

/* Logs through the client's sink, or util/log.h when it has none. v is the
 * verbosity of a debug line (1: state transitions, 2: per request). */
void sk__kube_log(const sk_kube_client_t *c, sk_kube_log_level_t level, int v, const char *fmt,
                  ...) __attribute__((format(printf, 4, 5)));

#endif
