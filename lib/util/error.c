#include "util/error.h"

const char *sk_strerror(int err) {
  switch (err) {
  case SK_OK: return "success";
  case SK_ENOMEM: return "out of memory";
  case SK_EINVAL: return "invalid argument";
  case SK_EIO: return "input/output error";
  case SK_ENOENT: return "not found";
  case SK_ETOOBIG: return "size limit exceeded";
  case SK_EPARSE: return "syntax error";
  case SK_EINVALID: return "validation failed";
  case SK_ERANGE: return "value out of range";
  case SK_EEXIST: return "already exists";
  case SK_ESTATE: return "not allowed in the current state";
  case SK_ECANCELED: return "cancelled";
  case SK_ETIMEDOUT: return "timed out";
  case SK_ENET: return "network error";
  case SK_EHTTP: return "HTTP error";
  case SK_ECONFLICT: return "conflict";
  case SK_EGONE: return "expired";
  case SK_EAUTH: return "not authorised";
  default: return "unknown error";
  }
}
