/* cond.c - condition variables on the monotonic clock.  See binding.h. */
#include "binding.h"

#include <time.h>

void ub_cond_init_monotonic(pthread_cond_t *cond) {
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(cond, &ca);
    pthread_condattr_destroy(&ca);
}
