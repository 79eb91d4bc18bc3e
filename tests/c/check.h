/* check.h - the tiny harness behind the C unit tests.
 *
 * A test program is a list of named `void f(void)` functions handed to
 * check_main, which runs them in order (or only those named on the command
 * line), prints each name as it starts, and ends with the line
 * "N passed, N failed".  Its exit status is 0 only when nothing failed.
 *
 * The CHECK_* macros are expressions that evaluate each operand once,
 * count a pass or a failure, print file:line, the expression and both
 * values on failure, and yield whether the check held, so a test can stop
 * early: `if (!CHECK_RC(ug_pool_new(NULL, &p), 0)) return;`.
 *
 * The counters are atomic, so checks may run on worker threads too.  Every
 * test function gets a watchdog (alarm) so that a deadlock ends the program
 * with the test's name on screen instead of hanging the suite.
 */
#ifndef UNGIL_TESTS_CHECK_H
#define UNGIL_TESTS_CHECK_H

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ungil/error.h"

/* Sanitizers make everything several times slower: tests shrink their
 * sizes when CHECK_SANITIZED is 1. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CHECK_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CHECK_SANITIZED 1
#endif
#endif
#ifndef CHECK_SANITIZED
#define CHECK_SANITIZED 0
#endif

/* Seconds one test function may take before the watchdog kills the run. */
enum { CHECK_WATCHDOG_S = 120 };

static atomic_uint check_passes, check_failures;

/* Counts one check; returns `ok`.  On failure prints the location and the
 * checked expression. */
static inline bool check_count(bool ok, const char *file, int line,
                               const char *what) {
    if (ok) {
        atomic_fetch_add(&check_passes, 1);
    } else {
        atomic_fetch_add(&check_failures, 1);
        printf("%s:%d: check failed: %s\n", file, line, what);
    }
    return ok;
}

/* Compares a and b with the operator spelled in `op` ("==", "<", ...). */
static inline bool check_compare(const char *op, int sign) {
    if (!strcmp(op, "=="))
        return sign == 0;
    if (!strcmp(op, "!="))
        return sign != 0;
    if (!strcmp(op, "<"))
        return sign < 0;
    if (!strcmp(op, "<="))
        return sign <= 0;
    if (!strcmp(op, ">"))
        return sign > 0;
    if (!strcmp(op, ">="))
        return sign >= 0;
    printf("check.h: unknown operator %s\n", op);
    return false;
}

static inline bool check_int(const char *file, int line, const char *expr,
                             const char *op, long long a, long long b) {
    bool ok = check_compare(op, (a > b) - (a < b));
    if (!check_count(ok, file, line, expr))
        printf("    left:  %lld\n    right: %lld\n", a, b);
    return ok;
}

static inline bool check_uint(const char *file, int line, const char *expr,
                              const char *op, unsigned long long a,
                              unsigned long long b) {
    bool ok = check_compare(op, (a > b) - (a < b));
    if (!check_count(ok, file, line, expr))
        printf("    left:  %llu\n    right: %llu\n", a, b);
    return ok;
}

static inline bool check_dbl(const char *file, int line, const char *expr,
                             const char *op, double a, double b) {
    bool ok = check_compare(op, (a > b) - (a < b));
    if (!check_count(ok, file, line, expr))
        printf("    left:  %.9g\n    right: %.9g\n", a, b);
    return ok;
}

/* NULL is equal only to NULL and prints as (null). */
static inline bool check_str(const char *file, int line, const char *expr,
                             bool want_equal, const char *a, const char *b) {
    bool equal = a && b ? !strcmp(a, b) : a == b;
    bool ok = equal == want_equal;
    if (!check_count(ok, file, line, expr))
        printf("    left:  \"%s\"\n    right: \"%s\"\n", a ? a : "(null)",
               b ? b : "(null)");
    return ok;
}

/* Does `hay` contain `needle`?  Prints both (the haystack cut at 200
 * characters) when it does not. */
static inline bool check_contains(const char *file, int line, const char *expr,
                                  const char *hay, const char *needle) {
    bool ok = hay && needle && strstr(hay, needle);
    if (!check_count(ok, file, line, expr))
        printf("    text:   \"%.200s\"\n    needle: \"%s\"\n",
               hay ? hay : "(null)", needle ? needle : "(null)");
    return ok;
}

static inline bool check_ptr(const char *file, int line, const char *expr,
                             bool want_equal, const void *a, const void *b) {
    bool ok = (a == b) == want_equal;
    if (!check_count(ok, file, line, expr))
        printf("    left:  %p\n    right: %p\n", a, b);
    return ok;
}

/* Return codes print with their UG_E... names. */
static inline bool check_rc(const char *file, int line, const char *expr,
                            int got, int want) {
    bool ok = got == want;
    if (!check_count(ok, file, line, expr))
        printf("    got:  %s (%d)\n    want: %s (%d)\n",
               ug_err_name(got), got, ug_err_name(want), want);
    return ok;
}

/* Sleeps for `ms` milliseconds, for tests that give other threads time. */
static inline void check_sleep_ms(unsigned ms) {
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        continue;
}

#define CHECK_WHERE_ __FILE__, __LINE__

#define CHECK(cond) check_count((cond) ? true : false, CHECK_WHERE_, #cond)

/* CHECK_INT(a, <, b): signed comparison, both sides printed on failure. */
#define CHECK_INT(a, op, b)                                                   \
    check_int(CHECK_WHERE_, #a " " #op " " #b, #op, (long long)(a),          \
              (long long)(b))
#define CHECK_UINT(a, op, b)                                                  \
    check_uint(CHECK_WHERE_, #a " " #op " " #b, #op,                         \
               (unsigned long long)(a), (unsigned long long)(b))
#define CHECK_DBL(a, op, b)                                                   \
    check_dbl(CHECK_WHERE_, #a " " #op " " #b, #op, (double)(a), (double)(b))
#define CHECK_INT_EQ(a, b)                                                    \
    check_int(CHECK_WHERE_, #a " == " #b, "==", (long long)(a), (long long)(b))
#define CHECK_UINT_EQ(a, b)                                                   \
    check_uint(CHECK_WHERE_, #a " == " #b, "==", (unsigned long long)(a),    \
               (unsigned long long)(b))

#define CHECK_STR_EQ(a, b) check_str(CHECK_WHERE_, #a " == " #b, true, (a), (b))
#define CHECK_STR_NE(a, b)                                                    \
    check_str(CHECK_WHERE_, #a " != " #b, false, (a), (b))
#define CHECK_CONTAINS(hay, needle)                                           \
    check_contains(CHECK_WHERE_, #hay " contains " #needle, (hay), (needle))

#define CHECK_PTR_EQ(a, b) check_ptr(CHECK_WHERE_, #a " == " #b, true, (a), (b))
#define CHECK_PTR_NE(a, b)                                                    \
    check_ptr(CHECK_WHERE_, #a " != " #b, false, (a), (b))
#define CHECK_NULL(p) check_ptr(CHECK_WHERE_, #p " == NULL", true, (p), NULL)
#define CHECK_NOT_NULL(p)                                                     \
    check_ptr(CHECK_WHERE_, #p " != NULL", false, (p), NULL)

/* CHECK_RC(call, UG_ETIMEDOUT): an ungil return code. */
#define CHECK_RC(got, want)                                                   \
    check_rc(CHECK_WHERE_, #got " == " #want, (got), (want))

typedef struct check_test {
    const char *name;
    void (*fn)(void);
} check_test;

#define CHECK_TEST(fn) {#fn, fn}

/* Runs the tests named in argv (all of them without arguments), prints the
 * summary line and returns the exit status for main. */
static inline int check_main(int argc, char **argv, const check_test *tests,
                             size_t n) {
    for (int a = 1; a < argc; a++) {
        bool known = false;
        for (size_t i = 0; i < n; i++)
            known = known || !strcmp(argv[a], tests[i].name);
        if (!known) {
            printf("no test named %s\n", argv[a]);
            atomic_fetch_add(&check_failures, 1);
        }
    }
    for (size_t i = 0; i < n; i++) {
        bool chosen = argc < 2;
        for (int a = 1; a < argc; a++)
            chosen = chosen || !strcmp(argv[a], tests[i].name);
        if (!chosen)
            continue;
        unsigned failed_before = atomic_load(&check_failures);
        printf("-- %s\n", tests[i].name);
        fflush(stdout);
        alarm(CHECK_WATCHDOG_S);
        tests[i].fn();
        alarm(0);
        if (atomic_load(&check_failures) != failed_before)
            printf("   %s FAILED\n", tests[i].name);
    }
    unsigned passed = atomic_load(&check_passes);
    unsigned failed = atomic_load(&check_failures);
    printf("%u passed, %u failed\n", passed, failed);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* xorshift64*: the next number from *state (seed it with any non-zero
 * value; a fixed seed makes failures reproduce). */
static inline uint64_t check_random(uint64_t *state) {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 0x2545f4914f6cdd1dull;
}

#endif
