/* pool_tour.c - the C tour of the README as a program that checks itself.
 *
 * Submits a task and waits for its future, sums 1..n on all workers, runs a
 * parallel loop, and saves the pool's timeline.  Build: part of the Meson
 * build (build/examples/c/pool_tour); `meson test` runs it.
 */
#include <stdio.h>
#include <stdlib.h>

#include <ungil/ungil.h>

struct square {
    long in, out;
};

static int square(void *arg) {
    struct square *s = arg;
    s->out = s->in * s->in;
    return 0;
}

static int fill(void *ctx, size_t begin, size_t end) {
    int *v = ctx;
    for (size_t i = begin; i < end; i++)
        v[i] = (int)i;
    return 0;
}

int main(int argc, char **argv) {
    const char *timeline = argc > 1 ? argv[1] : "pool_tour.svg";
    ug_trace *trace = NULL;
    ug_pool *pool = NULL;
    int rc = ug_trace_new(&trace);
    if (rc)
        goto out;

    ug_pool_options opts;
    ug_pool_options_init(&opts);
    opts.workers = 2;
    opts.trace = trace;
    if ((rc = ug_pool_new(&opts, &pool)))
        goto out;

    struct square sq = {.in = 12};
    ug_future *f = NULL;
    if ((rc = ug_pool_submit(pool, &(ug_task){.fn = square, .arg = &sq}, &f)))
        goto out;
    rc = ug_future_wait(f, 5 * 1000000000LL);
    int status = ug_future_status(f);
    ug_future_release(f);
    if (rc || status || sq.out != 144) {
        fprintf(stderr, "square: %s\n", ug_strerror(rc ? rc : status));
        rc = rc ? rc : UG_EFAILED;
        goto out;
    }

    ug_u128 sum;
    char digits[40];
    if ((rc = ug_sum_upto(pool, 100000000, 0, NULL, &sum)))
        goto out;
    ug_u128_format(sum, digits);
    printf("1 + ... + 100000000 = %s\n", digits);

    int v[1000];
    if ((rc = ug_parallel_for(pool, 1000, 100, fill, v)))
        goto out;
    for (int i = 0; i < 1000; i++)
        if (v[i] != i)
            rc = UG_EFAILED;

    ug_pool_free(pool);
    pool = NULL;
    if (!rc)
        rc = ug_trace_save(trace, timeline, "pool_tour");
    if (!rc)
        printf("%zu events saved to %s\n", ug_trace_count(trace), timeline);
out:
    ug_pool_free(pool);
    ug_trace_free(trace);
    if (rc)
        fprintf(stderr, "pool_tour: %s (%s)\n", ug_strerror(rc), ug_err_name(rc));
    return rc ? EXIT_FAILURE : EXIT_SUCCESS;
}
