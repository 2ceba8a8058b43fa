/*
 * Identity for a local run: the uid and the generated name suffix, the way
 * the API server would assign them. Randomness comes from /dev/urandom,
 * never rand(): two runs started in the same second must not collide.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "local/local-int.h"
#include "util/error.h"

int sk__random_bytes(void *out, size_t n) {
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return SK_EIO;
  unsigned char *p = out;
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      close(fd);
      return SK_EIO;
    }
    p += r;
    n -= (size_t)r;
  }
  close(fd);
  return 0;
}

int sk__uuid4(char out[37]) {
  unsigned char b[16];
  int rc = sk__random_bytes(b, sizeof(b));
  if (rc < 0)
    return rc;
  /* RFC 4122 section 4.4: version 4 in the high nibble of byte 6, the
   * variant bits 10 in the top of byte 8. */
  b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
  b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
  snprintf(out, 37,
           "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
           b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
           b[14], b[15]);
  return 0;
}

int sk__random_suffix(char *out, size_t n) {
  static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  const unsigned limit = 252; /* 7 * 36: bytes at or above it are redrawn, so no bias */
  size_t i = 0;
  while (i < n) {
    unsigned char b[16];
    int rc = sk__random_bytes(b, sizeof(b));
    if (rc < 0)
      return rc;
    for (size_t k = 0; k < sizeof(b) && i < n; k++)
      if (b[k] < limit)
        out[i++] = alphabet[b[k] % 36];
  }
  out[n] = '\0';
  return 0;
}
