/* test_par.c - ug_sum_upto and ug_u128_format (ungil/par.h).
 *
 * Every sum is compared with the closed form n(n+1)/2 computed here in
 * unsigned __int128, for many n and thread counts, with and without a
 * pool.  Cancellation is tested on n = 2^64 - 1, a loop that would run for
 * centuries: it must stop at once when the flag is already set and within
 * half a second when another thread sets it.
 */
#include "check.h"

#include <pthread.h>

#include "ungil/par.h"
#include "ungil/pool.h"

typedef unsigned __int128 u128;

static u128 to_u128(ug_u128 v) { return ((u128)v.hi << 64) | v.lo; }

static ug_u128 from_u128(u128 v) {
    return (ug_u128){.lo = (uint64_t)v, .hi = (uint64_t)(v >> 64)};
}

static u128 closed_form(uint64_t n) {
    u128 a = n, b = (u128)n + 1;
    return a % 2 == 0 ? a / 2 * b : b / 2 * a;
}

/* Seeded the same every run so failures reproduce. */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng_next(void) { return check_random(&rng_state); }

/* Checks one sum; prints n and threads when it is wrong. */
static void check_sum(ug_pool *pool, uint64_t n, unsigned threads) {
    ug_u128 got = {1, 1};
    int rc = ug_sum_upto(pool, n, threads, NULL, &got);
    ug_u128 want = from_u128(closed_form(n));
    bool ok = CHECK_RC(rc, 0);
    ok = CHECK_UINT_EQ(got.lo, want.lo) && ok;
    ok = CHECK_UINT_EQ(got.hi, want.hi) && ok;
    if (!ok)
        printf("    n = %llu, threads = %u, pool = %s\n", (unsigned long long)n,
               threads, pool ? "yes" : "NULL");
}

static void test_closed_form_itself(void) {
    /* The reference must be right before it judges anything. */
    CHECK(closed_form(0) == 0);
    CHECK(closed_form(1) == 1);
    CHECK(closed_form(10) == 55);
    CHECK(closed_form(1000) == 500500);
    CHECK(closed_form(UINT64_MAX) ==
          ((u128)UINT64_MAX * ((u128)UINT64_MAX + 1)) / 2);
}

static const uint64_t small_ns[] = {0, 1, 2, 3, 10, 1000, 4095, 65537};

static void test_small_n_without_pool(void) {
    const unsigned threads[] = {0, 1, 2, 3, 7};
    for (size_t i = 0; i < sizeof small_ns / sizeof *small_ns; i++)
        for (size_t t = 0; t < sizeof threads / sizeof *threads; t++)
            check_sum(NULL, small_ns[i], threads[t]);
}

static void test_small_n_on_pools(void) {
    const unsigned threads[] = {0, 1, 2, 3, 7};
    for (unsigned workers = 1; workers <= 3; workers++) {
        ug_pool_options opts;
        ug_pool_options_init(&opts);
        opts.workers = workers;
        ug_pool *pool = NULL;
        if (!CHECK_RC(ug_pool_new(&opts, &pool), 0))
            return;
        for (size_t i = 0; i < sizeof small_ns / sizeof *small_ns; i++)
            for (size_t t = 0; t < sizeof threads / sizeof *threads; t++)
                check_sum(pool, small_ns[i], threads[t]);
        ug_pool_free(pool);
    }
}

static void test_around_a_million(void) {
    ug_pool *pool = NULL;
    if (!CHECK_RC(ug_pool_new(NULL, &pool), 0))
        return;
    const unsigned threads[] = {1, 2, 3, 7};
    for (uint64_t n = 1000000 - 3; n <= 1000000 + 3; n++) {
        for (size_t t = 0; t < sizeof threads / sizeof *threads; t++) {
            check_sum(pool, n, threads[t]);
            check_sum(NULL, n, threads[t]);
        }
    }
    ug_pool_free(pool);
}

static void test_random_n(void) {
    ug_pool_options opts;
    ug_pool_options_init(&opts);
    opts.workers = 2;
    ug_pool *pool = NULL;
    if (!CHECK_RC(ug_pool_new(&opts, &pool), 0))
        return;
    const unsigned threads[] = {1, 2, 3, 7};
    for (int i = 0; i < 40; i++) {
        uint64_t n = rng_next() >> (64 - 21); /* below 2^21 */
        unsigned t = threads[rng_next() % 4];
        check_sum(i % 2 ? pool : NULL, n, t);
    }
    /* Many parts, each only a few numbers long. */
    for (int i = 0; i < 10; i++)
        check_sum(pool, rng_next() % 200, 1 + (unsigned)(rng_next() % 64));
    ug_pool_free(pool);
}

static void test_sum_past_2_64(void) {
    /* The first n whose sum no longer fits 64 bits; one part, so the loop's
     * own carry into the high word is what gets tested.  About 4 s. */
    uint64_t n = 6074001000u;
    CHECK(closed_form(n - 1) < ((u128)1 << 64));
    CHECK(closed_form(n) >= ((u128)1 << 64));
    check_sum(NULL, n, 1);
}

static void test_bad_arguments(void) {
    CHECK_RC(ug_sum_upto(NULL, 10, 1, NULL, NULL), UG_EINVAL);
}

static void test_cancel_preset(void) {
    ug_pool_options opts;
    ug_pool_options_init(&opts);
    opts.workers = 2;
    ug_pool *pool = NULL;
    if (!CHECK_RC(ug_pool_new(&opts, &pool), 0))
        return;
    int cancel = 1;
    for (int with_pool = 0; with_pool <= 1; with_pool++) {
        ug_u128 out = {7, 7};
        uint64_t t0 = ug_clock_ns();
        ug_pool *on = with_pool ? pool : NULL;
        CHECK_RC(ug_sum_upto(on, UINT64_MAX, 2, &cancel, &out), UG_ECANCELED);
        CHECK_UINT(ug_clock_ns() - t0, <, 200000000u);
        CHECK(to_u128(out) == 0);
    }
    /* n = 0 has no loop to stop, yet a set flag still means cancelled. */
    ug_u128 out;
    CHECK_RC(ug_sum_upto(pool, 0, 0, &cancel, &out), UG_ECANCELED);
    /* A clear flag does not get in the way. */
    cancel = 0;
    CHECK_RC(ug_sum_upto(pool, 100, 2, &cancel, &out), 0);
    CHECK(to_u128(out) == 5050);
    ug_pool_free(pool);
}

struct canceller {
    int *flag;
    unsigned delay_ms;
    _Atomic uint64_t cancelled_at;
};

static void *cancel_later(void *arg) {
    struct canceller *c = arg;
    check_sleep_ms(c->delay_ms);
    atomic_store(&c->cancelled_at, ug_clock_ns());
    __atomic_store_n(c->flag, 1, __ATOMIC_RELAXED);
    return NULL;
}

/* Starts a sum that would never end, cancels it from another thread after
 * 50 ms, and checks that it stops within half a second of that. */
static void cancel_from_thread(ug_pool *pool, unsigned threads) {
    int flag = 0;
    struct canceller c = {.flag = &flag, .delay_ms = 50};
    pthread_t th;
    if (!CHECK_INT_EQ(pthread_create(&th, NULL, cancel_later, &c), 0))
        return;
    ug_u128 out;
    uint64_t t0 = ug_clock_ns();
    int rc = ug_sum_upto(pool, UINT64_MAX, threads, &flag, &out);
    uint64_t t1 = ug_clock_ns();
    pthread_join(th, NULL);
    CHECK_RC(rc, UG_ECANCELED);
    uint64_t at = atomic_load(&c.cancelled_at);
    CHECK_UINT(at, >, t0);
    CHECK_UINT(t1, >=, at);
    CHECK_UINT(t1 - at, <, 500000000u);
}

static void test_cancel_from_another_thread(void) {
    ug_pool_options opts;
    ug_pool_options_init(&opts);
    opts.workers = 2;
    ug_pool *pool = NULL;
    if (!CHECK_RC(ug_pool_new(&opts, &pool), 0))
        return;
    cancel_from_thread(pool, 2);
    cancel_from_thread(pool, 3);
    cancel_from_thread(NULL, 1);
    /* The pool is still fine afterwards. */
    check_sum(pool, 123456, 2);
    ug_pool_free(pool);
}

static void check_format(u128 v, const char *want) {
    char buf[40];
    memset(buf, 'x', sizeof buf);
    int n = ug_u128_format(from_u128(v), buf);
    CHECK_STR_EQ(buf, want);
    CHECK_INT_EQ(n, (int)strlen(want));
}

static void test_u128_format(void) {
    check_format(0, "0");
    check_format(1, "1");
    check_format(9, "9");
    check_format(10, "10");
    check_format(UINT64_MAX, "18446744073709551615");
    check_format((u128)1 << 64, "18446744073709551616");
    check_format(((u128)1 << 64) + 1, "18446744073709551617");
    check_format((u128)10000000000000000000u * 10, "100000000000000000000");
    check_format(~(u128)0, "340282366920938463463374607431768211455");
    check_format(closed_form(UINT64_MAX),
                 "170141183460469231722463931679029329920");
}

int main(int argc, char **argv) {
    static const check_test tests[] = {
        CHECK_TEST(test_closed_form_itself),
        CHECK_TEST(test_small_n_without_pool),
        CHECK_TEST(test_small_n_on_pools),
        CHECK_TEST(test_around_a_million),
        CHECK_TEST(test_random_n),
        CHECK_TEST(test_sum_past_2_64),
        CHECK_TEST(test_bad_arguments),
        CHECK_TEST(test_cancel_preset),
        CHECK_TEST(test_cancel_from_another_thread),
        CHECK_TEST(test_u128_format),
    };
    return check_main(argc, argv, tests, sizeof tests / sizeof *tests);
}
