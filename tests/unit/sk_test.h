/*
 * A minimal unit-test harness: each test file defines TEST(name) functions
 * and lists them in main with RUN(name). Assertions print both values on
 * failure and the file ends with the plain closing line
 * "N passed, N failed" that CI reads.
 */
#ifndef SK_TEST_H
#define SK_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int sk_test_failed_now;
static int sk_test_passed;
static int sk_test_failed;

#define TEST(name) static void test_##name(void)

#define RUN(name)                                                                          \
  do {                                                                                     \
    sk_test_failed_now = 0;                                                                \
    test_##name();                                                                         \
    if (sk_test_failed_now) {                                                              \
      sk_test_failed++;                                                                    \
      printf("FAIL %s\n", #name);                                                          \
    } else {                                                                               \
      sk_test_passed++;                                                                    \
      printf("ok   %s\n", #name);                                                          \
    }                                                                                      \
  } while (0)

#define TEST_DONE()                                                                        \
  (printf("%d passed, %d failed\n", sk_test_passed, sk_test_failed), sk_test_failed ? 1 : 0)

#define FAILF(...)                                                                         \
  do {                                                                                     \
    printf("  %s:%d: ", __FILE__, __LINE__);                                               \
    printf(__VA_ARGS__);                                                                   \
    printf("\n");                                                                          \
    sk_test_failed_now = 1;                                                                \
  } while (0)

#define CHECK(cond)                                                                        \
  do {                                                                                     \
    if (!(cond))                                                                           \
      FAILF("check failed: %s", #cond);                                                    \
  } while (0)

#define CHECK_INT(got, want)                                                               \
  do {                                                                                     \
    long long g_ = (long long)(got), w_ = (long long)(want);                               \
    if (g_ != w_)                                                                          \
      FAILF("%s == %lld, want %lld", #got, g_, w_);                                        \
  } while (0)

#define CHECK_STR(got, want)                                                               \
  do {                                                                                     \
    const char *g_ = (got), *w_ = (want);                                                  \
    if (!g_ || !w_ || strcmp(g_, w_) != 0)                                                 \
      FAILF("%s == \"%s\", want \"%s\"", #got, g_ ? g_ : "(null)", w_ ? w_ : "(null)");    \
  } while (0)

/* Stops the current test when cond is false (for pointers needed later). */
#define REQUIRE(cond)                                                                      \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      FAILF("required: %s", #cond);                                                        \
      return;                                                                              \
    }                                                                                      \
  } while (0)

#endif
