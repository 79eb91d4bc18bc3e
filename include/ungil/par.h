/* ungil/par.h - native loops split over a pool: the course's GIL demo.
 *
 * ug_sum_upto computes 1 + 2 + ... + n with a loop that really runs, one
 * 128-bit addition per number, split into `threads` contiguous ranges that
 * run in parallel on a pool.  It exists to measure what threads do for
 * CPU-bound work, so it must not be folded into n(n+1)/2: see par.c for how
 * the compiler is kept from doing that.
 *
 * Thread-safety: reentrant; any number of calls may share one pool.
 */
#ifndef UNGIL_PAR_H
#define UNGIL_PAR_H

#include <stdint.h>

#include "ungil/pool.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An unsigned 128-bit integer, value = hi * 2^64 + lo. */
typedef struct ug_u128 {
    uint64_t lo;
    uint64_t hi;
} ug_u128;

/* Sums 1..n into *out (0 for n = 0; exact for every 64-bit n, since the
 * result is below 2^127).  The range is split into `threads` parts (0 = one
 * per worker of `pool`, or 1 without a pool) run by ug_parallel_for on
 * `pool`, which may be NULL to run on the calling thread alone.  If `cancel`
 * is not NULL, the loop stops within a few milliseconds of *cancel becoming
 * non-zero (it is read atomically) and returns UG_ECANCELED.  Blocks until
 * done.  Returns 0, UG_ECANCELED, UG_EINVAL or UG_ENOMEM. */
int ug_sum_upto(ug_pool *pool, uint64_t n, unsigned threads, const int *cancel,
                ug_u128 *out);

/* Writes the decimal digits of `v` and a NUL into buf, which must hold at
 * least 40 bytes.  Returns the number of digits. */
int ug_u128_format(ug_u128 v, char *buf);

#ifdef __cplusplus
}
#endif

#endif
