/*
 * Names the controller gives: Pod names and label values, both capped at
 * 63 characters and shortened deterministically (a prefix and a hash of
 * the whole) when longer, so the same attempt always gets the same name.
 */
#include <stdio.h>
#include <string.h>

#include "controller/controller-int.h"
#include "controller/controller.h"
#include "util/error.h"

/* Characters of the original kept before "-<hash>" in a shortened name. */
#define PREFIX_LEN (SK_CONTROLLER_NAME_MAX - 1 - SK_CONTROLLER_HASH_HEX)

uint64_t sk__fnv1a64(const char *s, size_t len) {
  uint64_t h = 14695981039346656037ULL;
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211ULL;
  }
  return h;
}

static bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'); }

/* Writes full (len bytes) into out as it is when it fits, else shortened. */
static int shorten(const char *full, size_t len, char *out, size_t outlen) {
  if (len <= SK_CONTROLLER_NAME_MAX) {
    if (outlen <= len)
      return SK_ETOOBIG;
    memcpy(out, full, len);
    out[len] = '\0';
    return 0;
  }
  if (outlen <= SK_CONTROLLER_NAME_MAX)
    return SK_ETOOBIG;
  /* A name must end with an alphanumeric before the '-' that joins the
   * hash, or the result would hold "-." or "--"-style runs that labels
   * and DNS names refuse. */
  size_t keep = PREFIX_LEN;
  while (keep > 0 && !is_alnum(full[keep - 1]))
    keep--;
  uint64_t h = sk__fnv1a64(full, len);
  char hex[17];
  snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)h);
  memcpy(out, full, keep);
  size_t n = keep;
  if (n > 0)
    out[n++] = '-';
  memcpy(out + n, hex, SK_CONTROLLER_HASH_HEX);
  n += SK_CONTROLLER_HASH_HEX;
  out[n] = '\0';
  return 0;
}

int sk_controller_pod_name(const char *workflow, const char *instance, int attempt, char *out,
                           size_t outlen) {
  if (!workflow || !workflow[0] || !instance || !instance[0] || attempt < 1 || !out || !outlen)
    return SK_EINVAL;
  char full[600];
  int n = snprintf(full, sizeof(full), "%s-%s-%d", workflow, instance, attempt);
  if (n < 0 || (size_t)n >= sizeof(full))
    return SK_EINVAL;
  /* Names are lowercase already (validated), but a name is lowercased
   * anyway so that a Pod name is valid whatever came in. */
  for (int i = 0; i < n; i++)
    if (full[i] >= 'A' && full[i] <= 'Z')
      full[i] = (char)(full[i] - 'A' + 'a');
  return shorten(full, (size_t)n, out, outlen);
}

int sk_controller_label_value(const char *s, char *out, size_t outlen) {
  if (!s || !out || !outlen)
    return SK_EINVAL;
  return shorten(s, strlen(s), out, outlen);
}
