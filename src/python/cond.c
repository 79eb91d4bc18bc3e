/* cond.c - condition variables that time out on the monotonic clock (the
 * clock of ug_clock_ns).  See binding.h. */
#include "binding.h"

#include <time.h>

void ub_cond_init_monotonic(pthread_cond_t *cond) {
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(cond, &ca);
    pthread_condattr_destroy(&ca);
}

struct timespec ub_cond_deadline(int64_t slice_ns, uint64_t *deadline) {
    *deadline = ug_clock_ns() + (uint64_t)slice_ns;
    return (struct timespec){.tv_sec = (time_t)(*deadline / 1000000000u),
                             .tv_nsec = (long)(*deadline % 1000000000u)};
}
