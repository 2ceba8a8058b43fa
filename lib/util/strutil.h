/*
 * Checked string helpers: number parsing without atoi/strtol pitfalls, and
 * the name rules Kubernetes applies.
 */
#ifndef SK_UTIL_STRUTIL_H
#define SK_UTIL_STRUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parses a whole string as a base-10 integer; SK_EPARSE on any trailing or
 * missing digits, SK_ERANGE on overflow. */
int sk_parse_int64(const char *s, int64_t *out);
/* Parses a whole string as a finite double (no hex, no inf/nan). */
int sk_parse_double(const char *s, double *out);
/* True when s is a DNS-1123 label: 1-63 chars of [a-z0-9-], starting and
 * ending with an alphanumeric. */
bool sk_is_dns1123_label(const char *s);
/* True when s is a DNS-1123 subdomain (labels joined by dots, <= 253). */
bool sk_is_dns1123_subdomain(const char *s);
/* True when the len bytes at s are valid UTF-8 (no overlongs, no
 * surrogates). On failure *bad_off is the offset of the first bad byte. */
bool sk_utf8_valid(const char *s, size_t len, size_t *bad_off);
/* strdup that returns NULL for NULL. */
char *sk_strdup0(const char *s);
/* Copies exactly the n bytes at s into a new NUL-terminated string. Unlike
 * strndup it never looks past s[n-1], so s need not be terminated (ASan's
 * strndup interceptor reads on to find a NUL). */
char *sk_memdup_str(const char *s, size_t n);
/* Copies at most max bytes of s into a new string, appending "… (cut)" when
 * it had to cut; never cuts inside a UTF-8 sequence. */
char *sk_strdup_capped(const char *s, size_t max);

#endif
