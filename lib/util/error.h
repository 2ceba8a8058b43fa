/*
 * Error codes shared by every skein module.
 *
 * Functions return 0 on success or one of these negative codes. Library
 * boundaries (errno, CURLcode, json_error_t) are converted to these at the
 * point where they are first seen, so callers only ever switch on SK_E*.
 */
#ifndef SK_UTIL_ERROR_H
#define SK_UTIL_ERROR_H

enum sk_err {
  SK_OK = 0,
  SK_ENOMEM = -1,    /* an allocation failed */
  SK_EINVAL = -2,    /* a bad argument or malformed input */
  SK_EIO = -3,       /* a read, write or spawn failed (see errno at the call) */
  SK_ENOENT = -4,    /* a file, key or object does not exist */
  SK_ETOOBIG = -5,   /* a hard size cap was reached */
  SK_EPARSE = -6,    /* syntax error in YAML, JSON, a template or expression */
  SK_EINVALID = -7,  /* a resource failed validation (see the diagnostics) */
  SK_ERANGE = -8,    /* a number is out of its allowed range */
  SK_EEXIST = -9,    /* the thing already exists */
  SK_ESTATE = -10,   /* the operation is not allowed in the current state */
  SK_ECANCELED = -11, /* the operation was cancelled */
  SK_ETIMEDOUT = -12, /* a deadline passed before the operation finished */
  SK_ENET = -13,      /* a connection could not be made or broke (DNS, TCP, TLS) */
  SK_EHTTP = -14,     /* the server answered with an error status */
  SK_ECONFLICT = -15, /* a write lost a race (HTTP 409 on resourceVersion) */
  SK_EGONE = -16,     /* a resource version or continue token expired (HTTP 410) */
  SK_EAUTH = -17      /* credentials are missing, or were refused (HTTP 401/403) */
};

/* Returns a static, human-readable description of an SK_E* code. */
const char *sk_strerror(int err);

#endif
