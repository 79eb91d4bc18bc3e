/* native_tasks.c - no-op task throughput of the C pool (ug_pool).
 *
 * Usage: native_tasks [--case NAME|all] [--tasks N] [--workers W]
 *
 * Cases (each on a fresh pool of W workers, default 2):
 *   submit        one producer, ug_pool_submit without a future per task
 *   submit_many   one producer, ug_pool_submit_many in batches of 256
 *   two_producers two producer threads calling ug_pool_submit at once
 *   futures       one producer, ug_pool_submit with a future, released at once
 *
 * Before timing, each case runs one untimed warm-up of a queue's worth of
 * tasks (so the ring's pages are touched and the workers are awake).  The
 * clock then runs from the first submit until ug_pool_wait_idle returns.
 * Prints one JSON object per case on stdout: tasks, seconds,
 * tasks_per_second and the pool's counters for the timed part (stats).
 * Run by bench/bench_native_tasks.py, never by the tests.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ungil/error.h"
#include "ungil/pool.h"

enum { BATCH = 256, WARMUP = 65536 };

static int noop(void *arg) {
    (void)arg;
    return 0;
}

static const ug_task NOOP = {.fn = noop, .arg = NULL, .discard = NULL,
                             .label = 0};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, int rc) {
    fprintf(stderr, "native_tasks: %s: %s\n", what, ug_strerror(rc));
    exit(1);
}

/* ---- producers -------------------------------------------------------- */

static void produce_submit(ug_pool *pool, uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        int rc = ug_pool_submit(pool, &NOOP, NULL);
        if (rc)
            die("ug_pool_submit", rc);
    }
}

static void produce_many(ug_pool *pool, uint64_t n) {
    ug_task batch[BATCH];
    for (size_t i = 0; i < BATCH; i++)
        batch[i] = NOOP;
    while (n) {
        size_t k = n < BATCH ? (size_t)n : BATCH;
        long rc = ug_pool_submit_many(pool, batch, k);
        if (rc < 0)
            die("ug_pool_submit_many", (int)rc);
        n -= (uint64_t)rc;
    }
}

static void produce_futures(ug_pool *pool, uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        ug_future *f;
        int rc = ug_pool_submit(pool, &NOOP, &f);
        if (rc)
            die("ug_pool_submit (future)", rc);
        ug_future_release(f);
    }
}

struct producer {
    pthread_t thread;
    ug_pool *pool;
    uint64_t n;
    pthread_barrier_t *go;
};

static void *producer_main(void *arg) {
    struct producer *p = arg;
    pthread_barrier_wait(p->go);
    produce_submit(p->pool, p->n);
    return NULL;
}

/* ---- one case --------------------------------------------------------- */

static void run_case(const char *name, uint64_t tasks, unsigned workers) {
    ug_pool_options opts;
    ug_pool_options_init(&opts);
    opts.workers = workers;
    ug_pool *pool;
    int rc = ug_pool_new(&opts, &pool);
    if (rc)
        die("ug_pool_new", rc);

    produce_submit(pool, WARMUP);
    ug_pool_wait_idle(pool, -1);
    ug_pool_stats before, after;
    ug_pool_stats_get(pool, &before);

    double t0 = 0, t1;
    if (!strcmp(name, "submit")) {
        t0 = now_s();
        produce_submit(pool, tasks);
    } else if (!strcmp(name, "submit_many")) {
        t0 = now_s();
        produce_many(pool, tasks);
    } else if (!strcmp(name, "futures")) {
        t0 = now_s();
        produce_futures(pool, tasks);
    } else if (!strcmp(name, "two_producers")) {
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, 3);
        struct producer prod[2];
        for (int i = 0; i < 2; i++) {
            prod[i] = (struct producer){.pool = pool, .go = &go,
                                        .n = tasks / 2 + (i ? tasks % 2 : 0)};
            if (pthread_create(&prod[i].thread, NULL, producer_main, &prod[i]))
                die("pthread_create", UG_ETHREAD);
        }
        t0 = now_s();
        pthread_barrier_wait(&go);
        for (int i = 0; i < 2; i++)
            pthread_join(prod[i].thread, NULL);
        pthread_barrier_destroy(&go);
    } else {
        fprintf(stderr, "native_tasks: unknown case %s\n", name);
        exit(2);
    }
    ug_pool_wait_idle(pool, -1);
    t1 = now_s();
    ug_pool_stats_get(pool, &after);
    ug_pool_free(pool);

    uint64_t done = after.completed - before.completed;
    if (done != tasks) {
        fprintf(stderr, "native_tasks: %s: %" PRIu64 " of %" PRIu64
                        " tasks completed\n", name, done, tasks);
        exit(1);
    }
    double secs = t1 - t0;
    printf("{\"case\": \"%s\", \"workers\": %u, \"tasks\": %" PRIu64
           ", \"seconds\": %.6f, \"tasks_per_second\": %.0f, "
           "\"stats\": {\"completed\": %" PRIu64 ", \"submit_waits\": %" PRIu64
           ", \"idle_waits\": %" PRIu64 "}}\n",
           name, workers, tasks, secs, (double)tasks / secs, done,
           after.submit_waits - before.submit_waits,
           after.idle_waits - before.idle_waits);
    fflush(stdout);
}

int main(int argc, char **argv) {
    static const char *all[] = {"submit", "submit_many", "two_producers",
                                "futures"};
    const char *which = "all";
    uint64_t tasks = 4000000;
    unsigned workers = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--case") && i + 1 < argc)
            which = argv[++i];
        else if (!strcmp(argv[i], "--tasks") && i + 1 < argc)
            tasks = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--workers") && i + 1 < argc)
            workers = (unsigned)strtoul(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: native_tasks [--case NAME|all] "
                            "[--tasks N] [--workers W]\n");
            return 2;
        }
    }
    if (!tasks || !workers) {
        fprintf(stderr, "native_tasks: --tasks and --workers must be > 0\n");
        return 2;
    }
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        if (!strcmp(which, "all") || !strcmp(which, all[i]))
            run_case(all[i], tasks, workers);
    if (strcmp(which, "all")) {
        int known = 0;
        for (size_t i = 0; i < sizeof all / sizeof *all; i++)
            known |= !strcmp(which, all[i]);
        if (!known) {
            fprintf(stderr, "native_tasks: unknown case %s\n", which);
            return 2;
        }
    }
    return 0;
}
