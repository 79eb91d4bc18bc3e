/* par.c - the course's sum_upto loop, split over a pool.
 *
 * How the loop stays a loop.  GCC and Clang both recognise
 * `for (i = 1; i <= n; i++) s += i;` and replace it by a closed form
 * (GCC's final value replacement in the scalar-evolution pass), which would
 * make a benchmark of threads measure nothing.  Here the accumulator is a
 * pair of 64-bit words with an explicit carry, and after every addition an
 * empty asm statement claims to read and rewrite both words.  The compiler
 * must then keep every addition, in order, so the loop costs about one
 * cycle per number on one core, as a plain C loop would without the
 * optimisation; it cannot be vectorised either, which keeps the per-thread
 * speed the same as the course's C++ version.
 *
 * Each part checks the cancel flag every CHECK_EVERY numbers (a few
 * milliseconds), so a cancelled call returns promptly even for huge n.
 */
#include "ungil/par.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "ungil/error.h"

enum { CHECK_EVERY = 1 << 22 };

struct sum_job {
    uint64_t n;
    size_t parts;
    const int *cancel;
    ug_u128 *partial; /* one per part */
};

static int cancelled(const int *flag) {
    return flag && __atomic_load_n(flag, __ATOMIC_RELAXED);
}

/* Adds first..last (inclusive, first >= 1) into *out. */
static int sum_range(uint64_t first, uint64_t last, const int *cancel,
                     ug_u128 *out) {
    uint64_t lo = 0, hi = 0;
    uint64_t i = first;
    uint64_t left = last - first + 1; /* first >= 1, so this cannot wrap */
    while (left) {
        if (cancelled(cancel))
            return UG_ECANCELED;
        uint64_t block = left < CHECK_EVERY ? left : CHECK_EVERY;
        for (uint64_t k = 0; k < block; k++) {
            uint64_t v = i + k;
            lo += v;
            hi += lo < v;
            __asm__("" : "+r"(lo), "+r"(hi));
        }
        i += block;
        left -= block;
    }
    out->lo = lo;
    out->hi = hi;
    return 0;
}

/* Part p covers (n*p/parts, n*(p+1)/parts]. */
static uint64_t part_bound(uint64_t n, size_t p, size_t parts) {
    return (uint64_t)((unsigned __int128)n * p / parts);
}

static int sum_body(void *ctx, size_t begin, size_t end) {
    struct sum_job *job = ctx;
    for (size_t p = begin; p < end; p++) {
        uint64_t first = part_bound(job->n, p, job->parts) + 1;
        uint64_t last = part_bound(job->n, p + 1, job->parts);
        job->partial[p] = (ug_u128){0, 0};
        if (first <= last) {
            int rc = sum_range(first, last, job->cancel, &job->partial[p]);
            if (rc)
                return rc;
        }
    }
    return 0;
}

int ug_sum_upto(ug_pool *pool, uint64_t n, unsigned threads, const int *cancel,
                ug_u128 *out) {
    if (!out)
        return UG_EINVAL;
    *out = (ug_u128){0, 0};
    if (n == 0)
        return cancelled(cancel) ? UG_ECANCELED : 0;
    size_t parts = threads ? threads : pool ? ug_pool_workers(pool) : 1;
    if (parts > n)
        parts = (size_t)n;
    struct sum_job job = {.n = n, .parts = parts, .cancel = cancel};
    job.partial = calloc(parts, sizeof *job.partial);
    if (!job.partial)
        return UG_ENOMEM;
    int rc = ug_parallel_for(pool, parts, 1, sum_body, &job);
    if (!rc) {
        unsigned __int128 total = 0;
        for (size_t p = 0; p < parts; p++)
            total += ((unsigned __int128)job.partial[p].hi << 64) |
                     job.partial[p].lo;
        out->lo = (uint64_t)total;
        out->hi = (uint64_t)(total >> 64);
    }
    free(job.partial);
    return rc;
}

int ug_u128_format(ug_u128 v, char *buf) {
    unsigned __int128 x = ((unsigned __int128)v.hi << 64) | v.lo;
    char rev[40];
    int n = 0;
    do {
        rev[n++] = (char)('0' + (int)(x % 10));
        x /= 10;
    } while (x);
    for (int i = 0; i < n; i++)
        buf[i] = rev[n - 1 - i];
    buf[n] = '\0';
    return n;
}
