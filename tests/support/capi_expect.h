/* The check macro of the C API tests (tests/test_*.c): counts checks and failures, and
 * prints a failed condition with vkrt_last_error(). main returns failures != 0. */
#ifndef VKRT_TEST_CAPI_EXPECT_H
#define VKRT_TEST_CAPI_EXPECT_H
#include <stdio.h>

#include "vkrt/vkrt.h"

static int failures = 0, checks = 0;
#define EXPECT(cond)                                                          \
    do {                                                                      \
        ++checks;                                                             \
        if (!(cond)) {                                                        \
            ++failures;                                                       \
            fprintf(stderr, "%s:%d: FAILED: %s (last error: %s)\n", __FILE__, \
                    __LINE__, #cond, vkrt_last_error());                      \
        }                                                                     \
    } while (0)

#endif
