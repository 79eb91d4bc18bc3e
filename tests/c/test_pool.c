/* test_pool.c - the thread pool, its futures and parallel_for (ungil/pool.h).
 *
 * Most tests need the workers to be busy at a known moment: a gate task
 * blocks its worker until the test opens the gate, and the test waits until
 * the expected number of workers stand at the gate.  Behind it, the queue
 * holds exactly what the test put there, so "full", "queued", "running"
 * and "cancelled before it started" are certain rather than likely.
 *
 * Task arguments that must be freed are heap items: a task frees its item
 * when it runs, the discard function when it is cancelled.  Under ASan a
 * lost or doubly freed item is then an error report, on top of the counts
 * the tests check.  Every shared counter is atomic, for TSan.
 */
#include "check.h"

#include <limits.h>
#include <pthread.h>
#include <sched.h>

#include "ungil/pool.h"

/* ---- helpers ------------------------------------------------------------ */

/* A pool of `workers` threads and a queue of `capacity` slots; NULL, after
 * a failed check, if it cannot start. */
static ug_pool *make_pool(unsigned workers, size_t capacity, int mode) {
    ug_pool_options opts;
    ug_pool_options_init(&opts);
    opts.workers = workers;
    opts.queue_capacity = capacity;
    opts.submit_mode = mode;
    ug_pool *pool = NULL;
    CHECK_RC(ug_pool_new(&opts, &pool), 0);
    return pool;
}

/* Submits fn(arg), without a discard function. */
static int submit_fn(ug_pool *pool, ug_task_fn fn, void *arg,
                     ug_future **future) {
    ug_task task = {.fn = fn, .arg = arg};
    return ug_pool_submit(pool, &task, future);
}

/* Blocks tasks until opened; counts the tasks standing at it. */
struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool open;
    unsigned waiting;
};

static void gate_init(struct gate *g) {
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->cond, NULL);
    g->open = false;
    g->waiting = 0;
}

static void gate_destroy(struct gate *g) {
    pthread_mutex_destroy(&g->lock);
    pthread_cond_destroy(&g->cond);
}

/* A task: waits at the gate until it opens. */
static int gate_pass(void *arg) {
    struct gate *g = arg;
    pthread_mutex_lock(&g->lock);
    g->waiting++;
    pthread_cond_broadcast(&g->cond);
    while (!g->open)
        pthread_cond_wait(&g->cond, &g->lock);
    g->waiting--;
    pthread_mutex_unlock(&g->lock);
    return 0;
}

/* Waits until `n` tasks stand at the gate. */
static void gate_wait_for(struct gate *g, unsigned n) {
    pthread_mutex_lock(&g->lock);
    while (g->waiting < n)
        pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
}

static void gate_open(struct gate *g) {
    pthread_mutex_lock(&g->lock);
    g->open = true;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

/* Fills the pool's `workers` workers with gate tasks and waits until each
 * stands at the gate. */
static void block_workers(ug_pool *pool, struct gate *g, unsigned workers) {
    for (unsigned i = 0; i < workers; i++)
        CHECK_RC(submit_fn(pool, gate_pass, g, NULL), 0);
    gate_wait_for(g, workers);
}

struct counts {
    atomic_int ran, discarded;
    atomic_llong sum, discarded_sum;
};

static int count_run(void *arg) {
    struct counts *c = arg;
    atomic_fetch_add(&c->ran, 1);
    return 0;
}

static void count_discard(void *arg) {
    struct counts *c = arg;
    atomic_fetch_add(&c->discarded, 1);
}

/* A heap argument, freed by whichever of run and discard is called. */
struct item {
    struct counts *counts;
    long long value;
    int rc; /* what the task returns */
};

static int item_run(void *arg) {
    struct item *it = arg;
    atomic_fetch_add(&it->counts->ran, 1);
    atomic_fetch_add(&it->counts->sum, it->value);
    int rc = it->rc;
    free(it);
    return rc;
}

static void item_discard(void *arg) {
    struct item *it = arg;
    atomic_fetch_add(&it->counts->discarded, 1);
    atomic_fetch_add(&it->counts->discarded_sum, it->value);
    free(it);
}

/* Submits a new heap item; frees it again if the pool refuses it. */
static int submit_item(ug_pool *pool, struct counts *c, long long value, int rc,
                       ug_future **future) {
    struct item *it = malloc(sizeof *it);
    if (!it)
        return UG_ENOMEM;
    *it = (struct item){c, value, rc};
    ug_task task = {.fn = item_run, .arg = it, .discard = item_discard};
    int err = ug_pool_submit(pool, &task, future);
    if (err)
        free(it);
    return err;
}

static ug_pool_stats stats_of(ug_pool *pool) {
    ug_pool_stats s;
    ug_pool_stats_get(pool, &s);
    return s;
}

/* ---- creating, submitting, running -------------------------------------- */

static void test_options_and_new(void) {
    ug_pool_options opts;
    memset(&opts, 0xff, sizeof opts);
    ug_pool_options_init(&opts);
    CHECK_UINT_EQ(opts.workers, 0);
    CHECK_UINT_EQ(opts.queue_capacity, 0);
    CHECK_INT_EQ(opts.submit_mode, UG_SUBMIT_BLOCK);
    CHECK_NULL(opts.trace);
    CHECK_NULL(opts.name);
    CHECK(opts.thread_start == NULL && opts.thread_stop == NULL);

    ug_pool *pool = NULL;
    if (CHECK_RC(ug_pool_new(NULL, &pool), 0)) {
        CHECK_UINT_EQ(ug_pool_workers(pool), sysconf(_SC_NPROCESSORS_ONLN));
        ug_pool_free(pool);
    }
    pool = make_pool(3, 0, UG_SUBMIT_FAIL);
    if (CHECK_NOT_NULL(pool))
        CHECK_UINT_EQ(ug_pool_workers(pool), 3);
    ug_pool_free(pool);

    CHECK_RC(ug_pool_new(NULL, NULL), UG_EINVAL);
    opts.workers = 100000;
    CHECK_RC(ug_pool_new(&opts, &pool), UG_EINVAL);
    ug_pool_options_init(&opts);
    opts.submit_mode = 7;
    CHECK_RC(ug_pool_new(&opts, &pool), UG_EINVAL);
    ug_pool_options_init(&opts);
    opts.queue_capacity = (size_t)1 << 40;
    CHECK_RC(ug_pool_new(&opts, &pool), UG_EINVAL);
    ug_pool_free(NULL);
}

static void test_bad_submits(void) {
    ug_pool *pool = make_pool(1, 0, UG_SUBMIT_BLOCK);
    if (!pool)
        return;
    ug_future *f = NULL;
    CHECK_RC(ug_pool_submit(pool, &(ug_task){.fn = NULL}, &f), UG_EINVAL);
    CHECK_RC(ug_pool_submit(pool, NULL, NULL), UG_EINVAL);
    CHECK_RC(submit_fn(NULL, count_run, NULL, NULL), UG_EINVAL);
    CHECK_RC(ug_pool_try_submit(pool, &(ug_task){.fn = NULL}, NULL), UG_EINVAL);
    ug_task mixed[2] = {{.fn = count_run}, {.fn = NULL}};
    CHECK_INT_EQ(ug_pool_submit_many(pool, mixed, 2), UG_EINVAL);
    CHECK_INT_EQ(ug_pool_submit_many(pool, NULL, 0), 0);
    CHECK_INT_EQ(ug_pool_submit_many(NULL, mixed, 1), UG_EINVAL);
    CHECK_UINT_EQ(stats_of(pool).completed, 0);
    ug_pool_free(pool);
}

/* One flag per task: each must end at exactly 1. */
static int mark(void *arg) {
    atomic_fetch_add((atomic_int *)arg, 1);
    return 0;
}

static void test_many_tasks(void) {
    enum { N = 10000 };
    atomic_int *flags = calloc(N, sizeof *flags);
    for (unsigned workers = 1; workers <= 3; workers++) {
        ug_pool *pool = make_pool(workers, 0, UG_SUBMIT_BLOCK);
        if (!pool)
            break;
        for (int i = 0; i < N; i++)
            atomic_store(&flags[i], 0);
        for (int i = 0; i < N; i++)
            CHECK_RC(submit_fn(pool, mark, &flags[i], NULL), 0);
        CHECK_RC(ug_pool_wait_idle(pool, -1), 0);
        int wrong = 0;
        for (int i = 0; i < N; i++)
            wrong += atomic_load(&flags[i]) != 1;
        CHECK_INT_EQ(wrong, 0);
        ug_pool_stats s = stats_of(pool);
        CHECK_UINT_EQ(s.completed, N);
        CHECK_UINT_EQ(s.queued, 0);
        CHECK_UINT_EQ(s.running, 0);
        ug_pool_free(pool);
    }
    free(flags);
}

static void test_submit_many(void) {
    enum { N = 1000 };
    struct counts c = {0};
    ug_task tasks[N];
    for (int i = 0; i < N; i++)
        tasks[i] = (ug_task){.fn = count_run, .arg = &c};

    /* A queue of 4 in blocking mode: submit_many waits for room as it goes. */
    ug_pool *pool = make_pool(2, 4, UG_SUBMIT_BLOCK);
    if (!pool)
        return;
    CHECK_INT_EQ(ug_pool_submit_many(pool, tasks, N), N);
    CHECK_RC(ug_pool_wait_idle(pool, -1), 0);
    CHECK_INT_EQ(atomic_load(&c.ran), N);
    CHECK_UINT(stats_of(pool).submit_waits, >, 0);
    ug_pool_free(pool);

    /* In failing mode it queues what fits and says how many. */
    atomic_store(&c.ran, 0);
    pool = make_pool(1, 8, UG_SUBMIT_FAIL);
    if (!pool)
        return;
    struct gate g;
    gate_init(&g);
    block_workers(pool, &g, 1);
    CHECK_INT_EQ(ug_pool_submit_many(pool, tasks, 20), 8);
    CHECK_INT_EQ(ug_pool_submit_many(pool, tasks, 5), UG_EFULL);
    CHECK_UINT_EQ(stats_of(pool).queued, 8);
    gate_open(&g);
    CHECK_RC(ug_pool_wait_idle(pool, -1), 0);
    CHECK_INT_EQ(atomic_load(&c.ran), 8);
    ug_pool_free(pool);
    gate_destroy(&g);
}

static void test_stats(void) {
    ug_pool *pool = make_pool(2, 0, UG_SUBMIT_BLOCK);
    if (!pool)
        return;
    ug_pool_stats s = stats_of(pool);
    CHECK_UINT_EQ(s.queued, 0);
    CHECK_UINT_EQ(s.running, 0);
    CHECK_UINT_EQ(s.completed, 0);
    CHECK_UINT_EQ(s.submit_waits, 0);
    struct gate g;
    gate_init(&g);
    block_workers(pool, &g, 2);
    struct counts c = {0};
    for (int i = 0; i < 5; i++)
        submit_fn(pool, count_run, &c, NULL);
    s = stats_of(pool);
    CHECK_UINT_EQ(s.queued, 5);
    CHECK_UINT_EQ(s.running, 2);
    CHECK_UINT_EQ(s.completed, 0);
    gate_open(&g);
    CHECK_RC(ug_pool_wait_idle(pool, -1), 0);
    s = stats_of(pool);
    CHECK_UINT_EQ(s.queued, 0);
    CHECK_UINT_EQ(s.running, 0);
    CHECK_UINT_EQ(s.completed, 7);
    /* With nothing left to do, the workers go to sleep (after yielding
     * once): they must not spin.  Allow them up to 5 s to get there. */
    uint64_t until = ug_clock_ns() + 5000000000u;
    while (stats_of(pool).idle_waits == 0 && ug_clock_ns() < until)
        sched_yield();
    CHECK_UINT(stats_of(pool).idle_waits, >, 0);
    ug_pool_free(pool);
    gate_destroy(&g);
}

/* ---- futures ------------------------------------------------------------ */

static int return_value(void *arg) { return (int)(intptr_t)arg; }

static void test_future_wait_and_status(void) {
    ug_pool *pool = make_pool(2, 0, UG_SUBMIT_BLOCK);
    if (!pool)
        return;
    struct gate g;
    gate_init(&g);
    ug_future *f = NULL;
    CHECK_RC(submit_fn(pool, gate_pass, &g, &f), 0);
    if (!CHECK_NOT_NULL(f))
        goto out;
    gate_wait_for(&g, 1);
    CHECK_INT_EQ(ug_future_state(f), UG_FUTURE_RUNNING);
    CHECK_RC(ug_future_status(f), UG_EBUSY);
    uint64_t t0 = ug_clock_ns();
    CHECK_RC(ug_future_wait(f, 30000000), UG_ETIMEDOUT);
    CHECK_UINT(ug_clock_ns() - t0, >=, 30000000);
    CHECK_RC(ug_future_wait(f, 0), UG_ETIMEDOUT);
    gate_open(&g);
    CHECK_RC(ug_future_wait(f, -1), 0);
    CHECK_INT_EQ(ug_future_state(f), UG_FUTURE_DONE);
    CHECK_RC(ug_future_status(f), 0);
    CHECK_RC(ug_future_wait(f, 0), 0);
    ug_future_release(f);

    /* The status is what the task returned. */
    const int codes[] = {0, UG_EIO, -1234, UG_EFAILED};
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
        f = NULL;
        ug_task task = {.fn = return_value, .arg = (void *)(intptr_t)codes[i]};
        CHECK_RC(ug_pool_submit(pool, &task, &f), 0);
        if (!f)
            continue;
        CHECK_RC(ug_future_wait(f, -1), 0);
        CHECK_RC(ug_future_status(f), codes[i]);
        ug_future_release(f);
    }
    ug_future_release(NULL);
out:
    ug_pool_free(pool);
    gate_destroy(&g);
}

struct waiter {
    ug_future *future;
    int rc;
};

static void *wait_forever(void *arg) {
    struct waiter *w = arg;
    w->rc = ug_future_wait(w->future, -1);
    return NULL;
}

static void test_future_many_waiters(void) {
    ug_pool *pool = make_pool(1, 0, UG_SUBMIT_BLOCK);
    if (!pool)
        return;
    struct gate g;
    gate_init(&g);
    ug_future *f = NULL;
    CHECK_RC(submit_fn(pool, gate_pass, &g, &f), 0);
    struct waiter w[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (struct waiter){f, 1};
        pthread_create(&th[i], NULL, wait_forever, &w[i]);
    }
    gate_wait_for(&g, 1);
    check_sleep_ms(20);
    gate_open(&g);
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        CHECK_RC(w[i].rc, 0);
    }
    CHECK_RC(ug_future_status(f), 0);
    ug_future_release(f);
    ug_pool_free(pool);
    gate_destroy(&g);
}

static void test_future_cancel_before_start(void) {
    ug_pool *pool = make_pool(1, 0, UG_SUBMIT_BLOCK);
    if (!pool)
        return;
    struct gate g;
    gate_init(&g);
    block_workers(pool, &g, 1);
    struct counts c = {0};
    ug_future *f = NULL, *kept = NULL;
    CHECK_RC(submit_item(pool, &c, 5, 0, &f), 0);
    CHECK_RC(submit_item(pool, &c, 7, 0, &kept), 0);
    if (!CHECK_NOT_NULL(f) || !CHECK_NOT_NULL(kept))
        goto out;
    CHECK_INT_EQ(ug_future_state(f), UG_FUTURE_PENDING);
    CHECK_RC(ug_future_status(f), UG_EBUSY);
    CHECK_RC(ug_future_cancel(f), 0);
    CHECK_INT_EQ(ug_future_state(f), UG_FUTURE_CANCELLED);
    CHECK_RC(ug_future_status(f), UG_ECANCELED);
    CHECK_RC(ug_future_wait(f, 0), 0); /* final: no waiting */
    CHECK_RC(ug_future_cancel(f), 0);  /* cancelling twice is harmless */
    gate_open(&g);
    CHECK_RC(ug_pool_wait_idle(pool, -1), 0);
    /* The cancelled task never ran and its argument was discarded once; the
     * other one ran normally. */
    CHECK_INT_EQ(atomic_load(&c.ran), 1);
    CHECK_INT_EQ(atomic_load(&c.sum), 7);
    CHECK_INT_EQ(atomic_load(&c.discarded), 1);
    CHECK_INT_EQ(ug_future_state(f), UG_FUTURE_CANCELLED);
    CHECK_INT_EQ(ug_future_state(kept), UG_FUTURE_DONE);
    CHECK_RC(ug_future_cancel(kept), UG_EBUSY);
    CHECK_UINT_EQ(stats_of(pool).completed, 3);
out:
    ug_future_release(f);
    ug_future_release(kept);
    ug_pool_free(pool);
    gate_destroy(&g);
}

static void test_future_cancel_running(void) {
    ug_pool *pool = make_pool(1, 0, UG_SUBMIT_BLOCK);
    if (!pool)
        return;
    struct gate g;
    gate_init(&g);
    ug_future *f = NULL;
    CHECK_RC(submit_fn(pool, gate_pass, &g, &f), 0);
    gate_wait_for(&g, 1);
    CHECK_RC(ug_future_cancel(f), UG_EBUSY);
    CHECK_INT_EQ(ug_future_state(f), UG_FUTURE_RUNNING);
    gate_open(&g);
    CHECK_RC(ug_future_wait(f, -1), 0);
    CHECK_RC(ug_future_status(f), 0);
    CHECK_RC(ug_future_cancel(f), UG_EBUSY);
    ug_future_release(f);
    ug_pool_free(pool);
    gate_destroy(&g);
}

/* Records each callback call: how often, in which order, for which future,
 * on which thread. */
struct done_log {
    atomic_int calls;
    atomic_int order[4];
    ug_future *_Atomic seen_future;
    pthread_t thread;
    atomic_int on_caller_thread;
};

struct done_probe {
    struct done_log *log;
    int id;
};

static void on_done(ug_future *f, void *ctx) {
    struct done_probe *p = ctx;
    int n = atomic_fetch_add(&p->log->calls, 1);
    if (n < 4)
        atomic_store(&p->log->order[n], p->id);
    atomic_store(&p->log->seen_future, f);
    atomic_store(&p->log->on_caller_thread,
                 pthread_equal(pthread_self(), p->log->thread) != 0);
}

static void test_on_done(void) {
    ug_pool *pool = make_pool(1, 0, UG_SUBMIT_BLOCK);
    if (!pool)
        return;
    struct gate g;
    gate_init(&g);
    struct done_log log = {.thread = pthread_self()};
    struct done_probe first = {&log, 1}, second = {&log, 2}, late = {&log, 3};
    ug_future *f = NULL;
    CHECK_RC(submit_fn(pool, gate_pass, &g, &f), 0);
    if (!CHECK_NOT_NULL(f))
        goto out;
    /* Before completion: they wait, and run on the worker in order. */
    CHECK_RC(ug_future_on_done(f, on_done, &first), 0);
    CHECK_RC(ug_future_on_done(f, on_done, &second), 0);
    CHECK_INT_EQ(atomic_load(&log.calls), 0);
    gate_open(&g);
    CHECK_RC(ug_pool_wait_idle(pool, -1), 0); /* callbacks run before idle */
    CHECK_INT_EQ(atomic_load(&log.calls), 2);
    CHECK_INT_EQ(atomic_load(&log.order[0]), 1);
    CHECK_INT_EQ(atomic_load(&log.order[1]), 2);
    CHECK_PTR_EQ(atomic_load(&log.seen_future), f);
    CHECK_INT_EQ(atomic_load(&log.on_caller_thread), 0);
    /* After completion: at once, on this thread, once. */
    CHECK_RC(ug_future_on_done(f, on_done, &late), 0);
    CHECK_INT_EQ(atomic_load(&log.calls), 3);
    CHECK_INT_EQ(atomic_load(&log.order[2]), 3);
    CHECK_INT_EQ(atomic_load(&log.on_caller_thread), 1);
    CHECK_RC(ug_future_on_done(f, NULL, NULL), UG_EINVAL);
    check_sleep_ms(10);
    CHECK_INT_EQ(atomic_load(&log.calls), 3);
out:
    ug_future_release(f);
    ug_pool_free(pool);
    gate_destroy(&g);
}

static void count_done(ug_future *f, void *ctx) {
    (void)f;
    atomic_fetch_add((atomic_int *)ctx, 1);
}

/* A task ends while its caller registers a callback and waits: finishing
 * takes no lock when nobody waits, so the two must still meet.  Every
 * callback runs exactly once and no wait hangs (the watchdog would end
 * the test) or returns early. */
static void test_finish_races_wait_and_on_done(void) {
    ug_pool *pool = make_pool(2, 0, UG_SUBMIT_BLOCK);
    if (!pool)
        return;
    enum { N = 20000 };
    atomic_int calls = 0;
    int bad_waits = 0, bad_status = 0;
    for (int i = 0; i < N; i++) {
        ug_future *f = NULL;
        if (!CHECK_RC(submit_fn(pool, return_value, (void *)(intptr_t)(i & 7),
                                &f), 0))
            break;
        if (i & 1)
            CHECK_RC(ug_future_on_done(f, count_done, &calls), 0);
        bad_waits += ug_future_wait(f, -1) != 0;
        bad_status += ug_future_status(f) != (i & 7);
        if (!(i & 1))
            CHECK_RC(ug_future_on_done(f, count_done, &calls), 0);
        ug_future_release(f);
    }
    CHECK_RC(ug_pool_wait_idle(pool, -1), 0);
    CHECK_INT_EQ(atomic_load(&calls), N);
    CHECK_INT_EQ(bad_waits, 0);
    CHECK_INT_EQ(bad_status, 0);
    ug_pool_free(pool);
}

static void test_on_done_when_cancelled(void) {
    ug_pool *pool = make_pool(1, 0, UG_SUBMIT_BLOCK);
    if (!pool)
        return;
    struct gate g;
    gate_init(&g);
    block_workers(pool, &g, 1);
    struct counts c = {0};
    struct done_log log = {.thread = pthread_self()};
    struct done_probe probe = {&log, 1}, late = {&log, 2};
    ug_future *f = NULL;
    CHECK_RC(submit_item(pool, &c, 1, 0, &f), 0);
    if (!CHECK_NOT_NULL(f))
        goto out;
    CHECK_RC(ug_future_on_done(f, on_done, &probe), 0);
    CHECK_RC(ug_future_cancel(f), 0);
    /* The canceller runs the callbacks before cancel returns. */
    CHECK_INT_EQ(atomic_load(&log.calls), 1);
    CHECK_INT_EQ(atomic_load(&log.on_caller_thread), 1);
    CHECK_RC(ug_future_on_done(f, on_done, &late), 0);
    CHECK_INT_EQ(atomic_load(&log.calls), 2);
    gate_open(&g);
    CHECK_RC(ug_pool_wait_idle(pool, -1), 0);
    CHECK_INT_EQ(atomic_load(&log.calls), 2);
    CHECK_INT_EQ(atomic_load(&c.discarded), 1);
    CHECK_INT_EQ(atomic_load(&c.ran), 0);
out:
    ug_future_release(f);
    ug_pool_free(pool);
    gate_destroy(&g);
}

/* A completion callback may use the pool: here it submits a follow-up. */
struct chain {
    ug_pool *pool;
    struct counts *counts;
    atomic_int submit_rc;
};

static void submit_follow_up(ug_future *f, void *ctx) {
    struct chain *ch = ctx;
    atomic_store(&ch->submit_rc,
                 ug_pool_submit(ch->pool,
                                &(ug_task){.fn = count_run, .arg = ch->counts},
                                NULL));
}

static void test_callback_submits(void) {
    ug_pool *pool = make_pool(2, 0, UG_SUBMIT_BLOCK);
    if (!pool)
        return;
    struct gate g;
    gate_init(&g);
    struct counts c = {0};
    struct chain ch = {pool, &c, 1};
    ug_future *f = NULL;
    CHECK_RC(submit_fn(pool, gate_pass, &g, &f), 0);
    CHECK_RC(ug_future_on_done(f, submit_follow_up, &ch), 0);
    gate_open(&g);
    CHECK_RC(ug_future_wait(f, -1), 0);
    /* The follow-up is queued before the worker counts itself idle. */
    CHECK_RC(ug_pool_wait_idle(pool, -1), 0);
    CHECK_RC(atomic_load(&ch.submit_rc), 0);
    CHECK_INT_EQ(atomic_load(&c.ran), 1);
    ug_future_release(f);
    ug_pool_free(pool);
    gate_destroy(&g);
}

/* A task may submit to its own pool and wait for the result, as long as
 * another worker is free to run it. */
struct waits_inside {
    ug_pool *pool;
    struct counts *counts;
};

static int submit_and_wait(void *arg) {
    struct waits_inside *w = arg;
    ug_future *f = NULL;
    int rc = submit_fn(w->pool, count_run, w->counts, &f);
    if (rc)
        return rc;
    rc = ug_future_wait(f, 10000000000);
    if (!rc)
        rc = ug_future_status(f);
    ug_future_release(f);
    return rc;
}

static void test_task_waits_for_task(void) {
    ug_pool *pool = make_pool(2, 0, UG_SUBMIT_BLOCK);
    if (!pool)
        return;
    struct counts c = {0};
    struct waits_inside w = {pool, &c};
    ug_future *f = NULL;
    CHECK_RC(submit_fn(pool, submit_and_wait, &w, &f), 0);
    CHECK_RC(ug_future_wait(f, -1), 0);
    CHECK_RC(ug_future_status(f), 0);
    CHECK_INT_EQ(atomic_load(&c.ran), 1);
    ug_future_release(f);
    ug_pool_free(pool);
}

static void test_future_outlives_pool(void) {
    ug_pool *pool = make_pool(2, 0, UG_SUBMIT_BLOCK);
    if (!pool)
        return;
    struct gate g;
    gate_init(&g);
    block_workers(pool, &g, 2);
    struct counts c = {0};
    ug_future *done = NULL, *cancelled = NULL, *queued = NULL;
    CHECK_RC(ug_pool_submit(pool, &(ug_task){.fn = return_value,
                                             .arg = (void *)(intptr_t)UG_EIO},
                            &done),
             0);
    CHECK_RC(submit_item(pool, &c, 1, 0, &cancelled), 0);
    CHECK_RC(submit_item(pool, &c, 2, -9, &queued), 0);
    CHECK_RC(ug_future_cancel(cancelled), 0);
    gate_open(&g);
    CHECK_RC(ug_future_wait(done, -1), 0);
    /* Freeing runs what is still queued; every future is final after. */
    ug_pool_free(pool);
    gate_destroy(&g);

    struct done_log log = {.thread = pthread_self()};
    struct done_probe probe = {&log, 1};
    CHECK_INT_EQ(ug_future_state(done), UG_FUTURE_DONE);
    CHECK_RC(ug_future_status(done), UG_EIO);
    CHECK_RC(ug_future_wait(done, -1), 0);
    CHECK_RC(ug_future_wait(done, 0), 0);
    CHECK_RC(ug_future_cancel(done), UG_EBUSY);
    CHECK_RC(ug_future_on_done(done, on_done, &probe), 0);
    CHECK_INT_EQ(atomic_load(&log.calls), 1);

    CHECK_INT_EQ(ug_future_state(cancelled), UG_FUTURE_CANCELLED);
    CHECK_RC(ug_future_status(cancelled), UG_ECANCELED);
    CHECK_RC(ug_future_wait(cancelled, -1), 0);
    CHECK_RC(ug_future_cancel(cancelled), 0);

    CHECK_INT_EQ(ug_future_state(queued), UG_FUTURE_DONE);
    CHECK_RC(ug_future_status(queued), -9);
    CHECK_INT_EQ(atomic_load(&c.ran), 1);
    CHECK_INT_EQ(atomic_load(&c.discarded), 1);
    ug_future_release(done);
    ug_future_release(cancelled);
    ug_future_release(queued);
}

/* ---- full queues -------------------------------------------------------- */

static void test_submit_fail_when_full(void) {
    /* Capacity 3 rounds up to 4. */
    ug_pool *pool = make_pool(2, 3, UG_SUBMIT_FAIL);
    if (!pool)
        return;
    struct gate g;
    gate_init(&g);
    block_workers(pool, &g, 2);
    struct counts c = {0};
    for (int i = 0; i < 4; i++)
        CHECK_RC(submit_item(pool, &c, 1, 0, NULL), 0);
    CHECK_RC(submit_item(pool, &c, 100, 0, NULL), UG_EFULL);
    ug_future *f = NULL;
    CHECK_RC(submit_item(pool, &c, 100, 0, &f), UG_EFULL);
    ug_task counter = {.fn = count_run, .arg = &c};
    CHECK_RC(ug_pool_try_submit(pool, &counter, NULL), UG_EFULL);
    ug_pool_stats s = stats_of(pool);
    CHECK_UINT_EQ(s.queued, 4);
    CHECK_UINT_EQ(s.running, 2);
    CHECK_UINT_EQ(s.submit_waits, 0);
    gate_open(&g);
    CHECK_RC(ug_pool_wait_idle(pool, -1), 0);
    CHECK_INT_EQ(atomic_load(&c.ran), 4);
    CHECK_INT_EQ(atomic_load(&c.sum), 4);
    /* Room again. */
    CHECK_RC(submit_item(pool, &c, 10, 0, NULL), 0);
    CHECK_RC(ug_pool_wait_idle(pool, -1), 0);
    CHECK_INT_EQ(atomic_load(&c.sum), 14);
    ug_pool_free(pool);
    gate_destroy(&g);
}

struct producer {
    ug_pool *pool;
    struct counts *counts;
    atomic_int returned;
    int rc;
};

static void *produce_one(void *arg) {
    struct producer *p = arg;
    p->rc = submit_item(p->pool, p->counts, 1, 0, NULL);
    atomic_store(&p->returned, 1);
    return NULL;
}

/* Waits up to 5 s for the pool to report a submitter waiting for room. */
static bool submitter_waiting(ug_pool *pool) {
    for (int i = 0; i < 500; i++) {
        if (stats_of(pool).submit_waits > 0)
            return true;
        check_sleep_ms(10);
    }
    return false;
}

static void test_submit_block_waits_for_room(void) {
    ug_pool *pool = make_pool(1, 2, UG_SUBMIT_BLOCK);
    if (!pool)
        return;
    struct gate g;
    gate_init(&g);
    block_workers(pool, &g, 1);
    struct counts c = {0};
    CHECK_RC(submit_item(pool, &c, 1, 0, NULL), 0);
    CHECK_RC(submit_item(pool, &c, 1, 0, NULL), 0);
    /* try_submit never blocks, whatever the mode. */
    ug_task counter = {.fn = count_run, .arg = &c};
    CHECK_RC(ug_pool_try_submit(pool, &counter, NULL), UG_EFULL);
    struct producer p = {pool, &c, 0, 1};
    pthread_t th;
    pthread_create(&th, NULL, produce_one, &p);
    CHECK(submitter_waiting(pool));
    check_sleep_ms(30);
    CHECK_INT_EQ(atomic_load(&p.returned), 0);
    gate_open(&g);
    pthread_join(th, NULL);
    CHECK_RC(p.rc, 0);
    CHECK_RC(ug_pool_wait_idle(pool, -1), 0);
    CHECK_INT_EQ(atomic_load(&c.ran), 3);
    ug_pool_free(pool);
    gate_destroy(&g);
}

static void test_shutdown_wakes_blocked_submitter(void) {
    ug_pool *pool = make_pool(1, 1, UG_SUBMIT_BLOCK);
    if (!pool)
        return;
    struct gate g;
    gate_init(&g);
    block_workers(pool, &g, 1);
    struct counts c = {0};
    CHECK_RC(submit_item(pool, &c, 1, 0, NULL), 0);
    struct producer p = {pool, &c, 0, 1};
    pthread_t th;
    pthread_create(&th, NULL, produce_one, &p);
    CHECK(submitter_waiting(pool));
    CHECK_RC(ug_pool_shutdown(pool, 0, 0), 0);
    pthread_join(th, NULL);
    CHECK_RC(p.rc, UG_ESHUTDOWN);
    gate_open(&g);
    ug_pool_free(pool);
    CHECK_INT_EQ(atomic_load(&c.ran), 1); /* queued before shutdown: runs */
    gate_destroy(&g);
}

/* ---- shutting down ------------------------------------------------------ */

static void test_submit_after_shutdown(void) {
    ug_pool *pool = make_pool(2, 0, UG_SUBMIT_BLOCK);
    if (!pool)
        return;
    struct counts c = {0};
    CHECK_RC(ug_pool_shutdown(pool, 1, 0), 0);
    CHECK_RC(ug_pool_shutdown(pool, 1, 1), 0); /* idempotent */
    ug_future *f = NULL;
    CHECK_RC(submit_item(pool, &c, 1, 0, &f), UG_ESHUTDOWN);
    ug_task counter = {.fn = count_run, .arg = &c};
    CHECK_RC(ug_pool_try_submit(pool, &counter, NULL), UG_ESHUTDOWN);
    CHECK_INT_EQ(ug_pool_submit_many(pool, &counter, 1), UG_ESHUTDOWN);
    CHECK_RC(ug_pool_wait_idle(pool, 0), 0);
    CHECK_UINT_EQ(ug_pool_cancel_pending(pool), 0);
    ug_pool_free(pool);
    CHECK_INT_EQ(atomic_load(&c.ran), 0);
}

struct opener {
    ug_pool *pool;
    struct gate *gate;
};

/* Opens the gate once the pool's queue is empty, i.e. once shutdown has
 * cancelled what was queued. */
static void *open_when_drained(void *arg) {
    struct opener *o = arg;
    while (stats_of(o->pool).queued > 0)
        check_sleep_ms(1);
    gate_open(o->gate);
    return NULL;
}

static void test_shutdown_wait_cancel(void) {
    enum { QUEUED = 10 };
    ug_pool *pool = make_pool(2, 0, UG_SUBMIT_BLOCK);
    if (!pool)
        return;
    struct gate g;
    gate_init(&g);
    ug_future *running[2] = {NULL, NULL}, *queued[QUEUED] = {NULL};
    for (int i = 0; i < 2; i++)
        CHECK_RC(submit_fn(pool, gate_pass, &g, &running[i]), 0);
    gate_wait_for(&g, 2);
    struct counts c = {0};
    for (int i = 0; i < QUEUED; i++)
        CHECK_RC(submit_item(pool, &c, 1, 0, i % 2 ? &queued[i] : NULL), 0);
    struct opener o = {pool, &g};
    pthread_t th;
    pthread_create(&th, NULL, open_when_drained, &o);
    CHECK_RC(ug_pool_shutdown(pool, 1, 1), 0);
    pthread_join(th, NULL);

    /* Running tasks finished; queued ones were discarded, never run. */
    CHECK_INT_EQ(atomic_load(&c.discarded), QUEUED);
    CHECK_INT_EQ(atomic_load(&c.ran), 0);
    for (int i = 0; i < 2; i++) {
        CHECK_INT_EQ(ug_future_state(running[i]), UG_FUTURE_DONE);
        CHECK_RC(ug_future_status(running[i]), 0);
        ug_future_release(running[i]);
    }
    for (int i = 1; i < QUEUED; i += 2) {
        CHECK_INT_EQ(ug_future_state(queued[i]), UG_FUTURE_CANCELLED);
        CHECK_RC(ug_future_status(queued[i]), UG_ECANCELED);
        ug_future_release(queued[i]);
    }
    ug_pool_stats s = stats_of(pool);
    CHECK_UINT_EQ(s.completed, 2 + QUEUED);
    CHECK_UINT_EQ(s.running, 0);
    ug_pool_free(pool);
    gate_destroy(&g);
}

static void test_shutdown_without_wait(void) {
    for (int cancel = 0; cancel <= 1; cancel++) {
        ug_pool *pool = make_pool(2, 0, UG_SUBMIT_BLOCK);
        if (!pool)
            return;
        struct gate g;
        gate_init(&g);
        block_workers(pool, &g, 2);
        struct counts c = {0};
        for (int i = 0; i < 20; i++)
            CHECK_RC(submit_item(pool, &c, i, 0, NULL), 0);
        /* Returns at once although both workers are stuck. */
        uint64_t t0 = ug_clock_ns();
        CHECK_RC(ug_pool_shutdown(pool, 0, cancel), 0);
        CHECK_UINT(ug_clock_ns() - t0, <, 1000000000);
        CHECK_RC(submit_item(pool, &c, 1, 0, NULL), UG_ESHUTDOWN);
        CHECK_RC(ug_pool_wait_idle(pool, 20000000), UG_ETIMEDOUT);
        gate_open(&g);
        ug_pool_free(pool);
        CHECK_INT_EQ(atomic_load(&c.ran), cancel ? 0 : 20);
        CHECK_INT_EQ(atomic_load(&c.sum), cancel ? 0 : 190);
        CHECK_INT_EQ(atomic_load(&c.discarded), cancel ? 20 : 0);
        gate_destroy(&g);
    }
}

static void test_free_runs_queued_tasks(void) {
    ug_pool *pool = make_pool(1, 0, UG_SUBMIT_BLOCK);
    if (!pool)
        return;
    struct counts c = {0};
    for (int i = 0; i < 100; i++)
        CHECK_RC(submit_item(pool, &c, 1, 0, NULL), 0);
    ug_pool_free(pool); /* every item is freed by its task */
    CHECK_INT_EQ(atomic_load(&c.ran), 100);
    CHECK_INT_EQ(atomic_load(&c.discarded), 0);
}

static void test_cancel_pending(void) {
    ug_pool *pool = make_pool(1, 0, UG_SUBMIT_BLOCK);
    if (!pool)
        return;
    CHECK_UINT_EQ(ug_pool_cancel_pending(pool), 0);
    struct gate g;
    gate_init(&g);
    block_workers(pool, &g, 1);
    struct counts c = {0};
    ug_future *f[10] = {NULL};
    for (int i = 0; i < 10; i++)
        CHECK_RC(submit_item(pool, &c, 1, 0, i < 5 ? &f[i] : NULL), 0);
    ug_task plain = {.fn = count_run, .arg = &c, .discard = count_discard};
    CHECK_RC(ug_pool_submit(pool, &plain, NULL), 0);
    CHECK_UINT_EQ(ug_pool_cancel_pending(pool), 11);
    CHECK_INT_EQ(atomic_load(&c.discarded), 11);
    for (int i = 0; i < 5; i++)
        CHECK_INT_EQ(ug_future_state(f[i]), UG_FUTURE_CANCELLED);
    ug_pool_stats s = stats_of(pool);
    CHECK_UINT_EQ(s.queued, 0);
    CHECK_UINT_EQ(s.running, 1);
    /* The pool goes on working. */
    CHECK_RC(submit_item(pool, &c, 1, 0, NULL), 0);
    gate_open(&g);
    CHECK_RC(ug_pool_wait_idle(pool, -1), 0);
    CHECK_INT_EQ(atomic_load(&c.ran), 1);
    CHECK_UINT_EQ(stats_of(pool).completed, 1 + 11 + 1);
    for (int i = 0; i < 5; i++)
        ug_future_release(f[i]);
    ug_pool_free(pool);
    gate_destroy(&g);
}

static void test_wait_idle(void) {
    ug_pool *pool = make_pool(2, 0, UG_SUBMIT_BLOCK);
    if (!pool)
        return;
    CHECK_RC(ug_pool_wait_idle(pool, 0), 0);
    CHECK_RC(ug_pool_wait_idle(pool, -1), 0);
    struct gate g;
    gate_init(&g);
    block_workers(pool, &g, 1);
    uint64_t t0 = ug_clock_ns();
    CHECK_RC(ug_pool_wait_idle(pool, 30000000), UG_ETIMEDOUT);
    CHECK_UINT(ug_clock_ns() - t0, >=, 30000000);
    CHECK_RC(ug_pool_wait_idle(pool, 0), UG_ETIMEDOUT);
    gate_open(&g);
    CHECK_RC(ug_pool_wait_idle(pool, -1), 0);
    CHECK_RC(ug_pool_wait_idle(pool, 0), 0);
    ug_pool_free(pool);
    gate_destroy(&g);
}

/* A task that waits for its own pool to go idle, which would be forever. */
struct self_wait {
    ug_pool *pool;
    atomic_int rc;
};

static int wait_for_own_pool(void *arg) {
    struct self_wait *w = arg;
    atomic_store(&w->rc, ug_pool_wait_idle(w->pool, -1));
    return 0;
}

static void test_wait_idle_from_worker(void) {
    ug_pool *pool = make_pool(1, 0, UG_SUBMIT_BLOCK);
    if (!pool)
        return;
    struct self_wait w = {.pool = pool};
    atomic_init(&w.rc, 1);
    CHECK_RC(submit_fn(pool, wait_for_own_pool, &w, NULL), 0);
    CHECK_RC(ug_pool_wait_idle(pool, -1), 0);
    CHECK_RC(atomic_load(&w.rc), UG_EBUSY);
    ug_pool_free(pool);
}

/* ---- many producers ----------------------------------------------------- */

enum { PRODUCERS = 4 };

struct flood {
    ug_pool *pool;
    struct counts *counts;
    int per_producer;
    int index;
    atomic_int failures;
};

static void *flood_pool(void *arg) {
    struct flood *fl = arg;
    for (int i = 0; i < fl->per_producer; i++) {
        long long value = (long long)fl->index * fl->per_producer + i;
        ug_future *f = NULL;
        /* Every other producer also takes futures. */
        int rc = submit_item(fl->pool, fl->counts, value, 0,
                             fl->index % 2 ? &f : NULL);
        if (rc)
            atomic_fetch_add(&fl->failures, 1);
        ug_future_release(f);
    }
    return NULL;
}

static void test_many_producers(void) {
    int per = CHECK_SANITIZED ? 5000 : 20000;
    ug_pool *pool = make_pool(2, 1024, UG_SUBMIT_BLOCK);
    if (!pool)
        return;
    struct counts c = {0};
    struct flood fl[PRODUCERS];
    pthread_t th[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) {
        fl[i] = (struct flood){pool, &c, per, i, 0};
        pthread_create(&th[i], NULL, flood_pool, &fl[i]);
    }
    int failures = 0;
    for (int i = 0; i < PRODUCERS; i++) {
        pthread_join(th[i], NULL);
        failures += atomic_load(&fl[i].failures);
    }
    CHECK_RC(ug_pool_wait_idle(pool, -1), 0);
    long long total = (long long)PRODUCERS * per;
    CHECK_INT_EQ(failures, 0);
    CHECK_INT_EQ(atomic_load(&c.ran), total);
    CHECK_INT_EQ(atomic_load(&c.sum), total * (total - 1) / 2);
    CHECK_INT_EQ(atomic_load(&c.discarded), 0);
    CHECK_UINT_EQ(stats_of(pool).completed, total);
    ug_pool_free(pool);
}

/* ---- the lock-free ring under stress ------------------------------------ */

/* How a stress producer submits. */
enum stress_how { ONE_BY_ONE, WITH_FUTURES, IN_BATCHES };

enum { STRESS_BATCH = 8 };

/* A producer thread: submits heap items valued base, base + 1, ... until
 * it has tried `n` or the pool refuses with anything but UG_EFULL, and
 * counts what the pool accepted. */
struct stresser {
    ug_pool *pool;
    struct counts *counts;
    enum stress_how how;
    long long base;
    int n;
    ug_future **futures; /* if not NULL: room for n, kept for the test */
    atomic_int *submitted; /* if not NULL: bumped after each accepted item */
    int nfutures, accepted, rejected, full, error;
    long long accepted_sum;
};

static void *stress_produce(void *arg) {
    struct stresser *s = arg;
    for (int i = 0; i < s->n;) {
        int k = s->how == IN_BATCHES && s->n - i >= STRESS_BATCH ? STRESS_BATCH : 1;
        ug_task tasks[STRESS_BATCH];
        for (int j = 0; j < k; j++) {
            struct item *it = malloc(sizeof *it);
            *it = (struct item){s->counts, s->base + i + j, 0};
            tasks[j] = (ug_task){.fn = item_run, .arg = it, .discard = item_discard};
        }
        ug_future *f = NULL;
        long rc;
        if (s->how == IN_BATCHES)
            rc = ug_pool_submit_many(s->pool, tasks, (size_t)k);
        else if ((rc = ug_pool_submit(s->pool, &tasks[0],
                                      s->how == WITH_FUTURES ? &f : NULL)) == 0)
            rc = 1;
        int queued = rc > 0 ? (int)rc : 0;
        for (int j = 0; j < queued; j++)
            s->accepted_sum += s->base + i + j;
        for (int j = queued; j < k; j++)
            free(tasks[j].arg);
        s->accepted += queued;
        s->rejected += k - queued;
        if (f && s->futures)
            s->futures[s->nfutures++] = f;
        else
            ug_future_release(f);
        if (s->submitted)
            atomic_fetch_add(s->submitted, queued);
        if (rc == UG_EFULL) {
            s->full++;
        } else if (rc < 0) {
            s->error = (int)rc;
            break;
        }
        i += k;
    }
    return NULL;
}

enum { STRESSERS = 4 };

/* Starts STRESSERS producers of `per` items each (values 0 .. total - 1),
 * taking turns at the ways of submitting. */
static void stress_start(struct stresser *s, pthread_t *th, ug_pool *pool,
                         struct counts *c, int per, atomic_int *submitted) {
    static const enum stress_how hows[STRESSERS] = {ONE_BY_ONE, WITH_FUTURES,
                                                    IN_BATCHES, ONE_BY_ONE};
    for (int i = 0; i < STRESSERS; i++) {
        s[i] = (struct stresser){.pool = pool, .counts = c, .how = hows[i],
                                 .base = (long long)i * per, .n = per,
                                 .submitted = submitted};
        if (hows[i] == WITH_FUTURES && per < INT_MAX)
            s[i].futures = calloc((size_t)per, sizeof *s[i].futures);
        pthread_create(&th[i], NULL, stress_produce, &s[i]);
    }
}

/* Checks that the kept futures are final: done with status 0, or (if
 * `cancelled_ok`) cancelled; releases them.  Returns how many were
 * cancelled. */
/* What the producers did, summed once they are all joined. */
struct stress_total {
    int accepted, rejected;
    long long accepted_sum;
    int unexpected; /* producers that ended otherwise than with `expect` */
};

static struct stress_total stress_join(struct stresser *s, pthread_t *th,
                                       int expect) {
    struct stress_total t = {0};
    for (int i = 0; i < STRESSERS; i++) {
        pthread_join(th[i], NULL);
        t.unexpected += s[i].error != expect;
        t.accepted += s[i].accepted;
        t.rejected += s[i].rejected;
        t.accepted_sum += s[i].accepted_sum;
    }
    return t;
}

static int stress_futures(struct stresser *s, bool cancelled_ok) {
    int bad = 0, cancelled = 0;
    for (int i = 0; i < STRESSERS; i++) {
        for (int j = 0; j < s[i].nfutures; j++) {
            ug_future *f = s[i].futures[j];
            int st = ug_future_state(f);
            if (st == UG_FUTURE_CANCELLED)
                cancelled++;
            bad += !(st == UG_FUTURE_DONE && ug_future_status(f) == 0) &&
                   !(st == UG_FUTURE_CANCELLED && cancelled_ok);
            ug_future_release(f);
        }
        free(s[i].futures);
    }
    CHECK_INT_EQ(bad, 0);
    return cancelled;
}

struct idle_checker {
    ug_pool *pool;
    struct counts *counts;
    atomic_int *submitted;
    atomic_int stop;
    int rounds, early, errors;
};

/* Calls wait_idle over and over while the producers run: each time it
 * returns, every item accepted before the call must have started. */
static void *check_idle(void *arg) {
    struct idle_checker *ic = arg;
    while (!atomic_load(&ic->stop)) {
        int before = atomic_load(ic->submitted);
        ic->errors += ug_pool_wait_idle(ic->pool, -1) != 0;
        ic->early += atomic_load(&ic->counts->ran) < before;
        ic->rounds++;
    }
    return NULL;
}

static void test_stress_small_queue_block(void) {
    int per = CHECK_SANITIZED ? 3000 : 30000;
    ug_pool *pool = make_pool(3, 4, UG_SUBMIT_BLOCK);
    if (!pool)
        return;
    struct counts c = {0};
    atomic_int submitted = 0;
    struct idle_checker ic = {.pool = pool, .counts = &c, .submitted = &submitted};
    pthread_t checker, th[STRESSERS];
    pthread_create(&checker, NULL, check_idle, &ic);
    struct stresser s[STRESSERS];
    stress_start(s, th, pool, &c, per, &submitted);
    struct stress_total t = stress_join(s, th, 0);
    atomic_store(&ic.stop, 1);
    pthread_join(checker, NULL);
    CHECK_RC(ug_pool_wait_idle(pool, -1), 0);

    long long total = (long long)STRESSERS * per;
    CHECK_INT_EQ(t.unexpected, 0);
    CHECK_INT_EQ(t.accepted, total);
    CHECK_INT_EQ(atomic_load(&c.ran), total);
    CHECK_INT_EQ(atomic_load(&c.sum), total * (total - 1) / 2);
    CHECK_INT_EQ(atomic_load(&c.discarded), 0);
    CHECK_INT(ic.rounds, >, 0);
    CHECK_INT_EQ(ic.early, 0);
    CHECK_INT_EQ(ic.errors, 0);
    stress_futures(s, false);
    ug_pool_stats st = stats_of(pool);
    CHECK_UINT_EQ(st.completed, total);
    CHECK_UINT_EQ(st.queued, 0);
    CHECK_UINT_EQ(st.running, 0);
    ug_pool_free(pool);
}

static void test_stress_fail_mode(void) {
    int per = CHECK_SANITIZED ? 3000 : 30000;
    ug_pool *pool = make_pool(2, 4, UG_SUBMIT_FAIL);
    if (!pool)
        return;
    struct counts c = {0};
    pthread_t th[STRESSERS];
    struct stresser s[STRESSERS];
    stress_start(s, th, pool, &c, per, NULL);
    struct stress_total t = stress_join(s, th, 0);
    CHECK_RC(ug_pool_wait_idle(pool, -1), 0);
    CHECK_INT_EQ(t.unexpected, 0);
    CHECK_INT_EQ(t.accepted + t.rejected, STRESSERS * per); /* none lost */
    CHECK_INT_EQ(atomic_load(&c.ran), t.accepted);
    CHECK_INT_EQ(atomic_load(&c.sum), t.accepted_sum);
    CHECK_INT_EQ(atomic_load(&c.discarded), 0);
    stress_futures(s, false);
    CHECK_UINT_EQ(stats_of(pool).completed, t.accepted);
    ug_pool_free(pool);
}

struct canceller {
    ug_pool *pool;
    atomic_int stop;
    long long cancelled;
};

static void *cancel_repeatedly(void *arg) {
    struct canceller *cn = arg;
    while (!atomic_load(&cn->stop)) {
        cn->cancelled += (long long)ug_pool_cancel_pending(cn->pool);
        sched_yield();
    }
    return NULL;
}

static void test_cancel_pending_races_producers(void) {
    int per = CHECK_SANITIZED ? 3000 : 30000;
    ug_pool *pool = make_pool(2, 16, UG_SUBMIT_BLOCK);
    if (!pool)
        return;
    struct counts c = {0};
    struct canceller cn = {.pool = pool};
    pthread_t canceller, th[STRESSERS];
    pthread_create(&canceller, NULL, cancel_repeatedly, &cn);
    struct stresser s[STRESSERS];
    stress_start(s, th, pool, &c, per, NULL);
    struct stress_total t = stress_join(s, th, 0);
    atomic_store(&cn.stop, 1);
    pthread_join(canceller, NULL);
    CHECK_RC(ug_pool_wait_idle(pool, -1), 0);

    /* Every item either ran or was discarded, exactly once (ASan reports
     * a double free or a leak on top of these counts). */
    long long total = (long long)STRESSERS * per;
    CHECK_INT_EQ(t.unexpected, 0);
    CHECK_INT_EQ(t.accepted, total);
    CHECK_INT_EQ(atomic_load(&c.ran) + atomic_load(&c.discarded), total);
    CHECK_INT_EQ(atomic_load(&c.sum) + atomic_load(&c.discarded_sum),
                 total * (total - 1) / 2);
    CHECK_INT(cn.cancelled, <=, atomic_load(&c.discarded));
    int cancelled_futures = stress_futures(s, true);
    CHECK_INT(cancelled_futures, <=, atomic_load(&c.discarded));
    CHECK_UINT_EQ(stats_of(pool).completed, total);
    CHECK_UINT_EQ(ug_pool_cancel_pending(pool), 0);
    ug_pool_free(pool);
}

static void test_shutdown_with_blocked_producers(void) {
    for (int cancel = 0; cancel <= 1; cancel++) {
        ug_pool *pool = make_pool(2, 4, UG_SUBMIT_BLOCK);
        if (!pool)
            return;
        struct gate g;
        gate_init(&g);
        block_workers(pool, &g, 2);
        struct counts c = {0};
        pthread_t th[STRESSERS];
        struct stresser s[STRESSERS];
        stress_start(s, th, pool, &c, INT_MAX, NULL);
        /* The ring fills and the producers block on it. */
        CHECK(submitter_waiting(pool));
        CHECK_RC(ug_pool_shutdown(pool, 0, cancel), 0);
        struct stress_total t = stress_join(s, th, UG_ESHUTDOWN);
        CHECK_INT_EQ(t.unexpected, 0);
        gate_open(&g);
        ug_pool_free(pool);
        CHECK_INT(t.accepted, >=, 4);
        CHECK_INT_EQ(atomic_load(&c.ran) + atomic_load(&c.discarded),
                     t.accepted);
        CHECK_INT_EQ(atomic_load(&c.sum) + atomic_load(&c.discarded_sum),
                     t.accepted_sum);
        if (!cancel)
            CHECK_INT_EQ(atomic_load(&c.discarded), 0);
        gate_destroy(&g);
    }
}

/* Shuts a pool down while producers flood it: whatever was accepted runs. */
static void test_shutdown_while_flooded(void) {
    ug_pool *pool = make_pool(2, 4, UG_SUBMIT_BLOCK);
    if (!pool)
        return;
    struct counts c = {0};
    pthread_t th[STRESSERS];
    struct stresser s[STRESSERS];
    stress_start(s, th, pool, &c, INT_MAX, NULL);
    while (atomic_load(&c.ran) < 1000)
        check_sleep_ms(1);
    CHECK_RC(ug_pool_shutdown(pool, 1, 0), 0);
    struct stress_total t = stress_join(s, th, UG_ESHUTDOWN);
    CHECK_INT_EQ(t.unexpected, 0);
    CHECK_INT_EQ(atomic_load(&c.ran), t.accepted);
    CHECK_INT_EQ(atomic_load(&c.sum), t.accepted_sum);
    CHECK_INT_EQ(atomic_load(&c.discarded), 0);
    CHECK_UINT_EQ(stats_of(pool).completed, t.accepted);
    ug_pool_free(pool);
}

/* ---- parallel_for ------------------------------------------------------- */

struct coverage {
    atomic_uchar *hits;
    size_t n, grain;
    bool check_grain;
    atomic_int bad_ranges;
};

static int cover(void *ctx, size_t begin, size_t end) {
    struct coverage *cv = ctx;
    if (begin >= end || end > cv->n ||
        (cv->check_grain && end - begin > cv->grain))
        atomic_fetch_add(&cv->bad_ranges, 1);
    for (size_t i = begin; i < end && i < cv->n; i++)
        atomic_fetch_add(&cv->hits[i], 1);
    return 0;
}

/* Runs one parallel_for and checks that every index was covered once. */
static void check_coverage(ug_pool *pool, size_t n, size_t grain) {
    struct coverage cv = {.n = n, .grain = grain, .check_grain = pool && grain};
    cv.hits = calloc(n ? n : 1, sizeof *cv.hits);
    int rc = ug_parallel_for(pool, n, grain, cover, &cv);
    size_t wrong = 0;
    for (size_t i = 0; i < n; i++)
        wrong += atomic_load(&cv.hits[i]) != 1;
    bool ok = CHECK_RC(rc, 0);
    ok = CHECK_UINT_EQ(wrong, 0) && ok;
    ok = CHECK_INT_EQ(atomic_load(&cv.bad_ranges), 0) && ok;
    if (!ok)
        printf("    n = %zu, grain = %zu, workers = %u\n", n, grain,
               pool ? ug_pool_workers(pool) : 0);
    free(cv.hits);
}

static void test_parallel_for_covers_every_index(void) {
    const size_t ns[] = {0, 1, 2, 3, 7, 64, 100, 1000, 4097};
    ug_pool *pools[3] = {NULL, make_pool(1, 0, UG_SUBMIT_BLOCK),
                         make_pool(2, 0, UG_SUBMIT_BLOCK)};
    for (int p = 0; p < 3; p++) {
        for (size_t i = 0; i < sizeof ns / sizeof *ns; i++) {
            size_t n = ns[i];
            const size_t grains[] = {0, 1, 2, 3, 7, 64, n, n + 1, 1000000};
            for (size_t k = 0; k < sizeof grains / sizeof *grains; k++)
                check_coverage(pools[p], n, grains[k]);
        }
    }
    ug_pool_free(pools[1]);
    ug_pool_free(pools[2]);
}

static void test_parallel_for_small_queue(void) {
    /* More helpers than the queue holds: the caller does the rest. */
    ug_pool *pool = make_pool(3, 1, UG_SUBMIT_BLOCK);
    if (!pool)
        return;
    check_coverage(pool, 1000, 1);
    struct gate g;
    gate_init(&g);
    block_workers(pool, &g, 3);
    check_coverage(pool, 500, 3); /* every worker is stuck: all on the caller */
    gate_open(&g);
    ug_pool_free(pool);
    gate_destroy(&g);
}

struct failing {
    size_t fail_at;
    int code;
    atomic_int chunks;
};

static int fail_at_index(void *ctx, size_t begin, size_t end) {
    struct failing *fl = ctx;
    atomic_fetch_add(&fl->chunks, 1);
    if (fl->fail_at >= begin && fl->fail_at < end)
        return fl->code;
    check_sleep_ms(1);
    return 0;
}

static void test_parallel_for_error_stops(void) {
    ug_pool *pool = make_pool(2, 0, UG_SUBMIT_BLOCK);
    if (!pool)
        return;
    /* The first chunk fails at once; the others take a millisecond each,
     * so most of the 200 are skipped. */
    struct failing fl = {.fail_at = 0, .code = -77};
    CHECK_RC(ug_parallel_for(pool, 200, 1, fail_at_index, &fl), -77);
    CHECK_INT(atomic_load(&fl.chunks), <, 100);
    /* A later chunk failing is reported too. */
    struct failing late = {.fail_at = 150, .code = UG_EIO};
    CHECK_RC(ug_parallel_for(pool, 200, 10, fail_at_index, &late), UG_EIO);
    struct failing alone = {.fail_at = 5, .code = UG_EFAILED};
    CHECK_RC(ug_parallel_for(NULL, 10, 1, fail_at_index, &alone), UG_EFAILED);
    CHECK_RC(ug_parallel_for(pool, 10, 1, NULL, NULL), UG_EINVAL);
    /* The pool is unharmed. */
    check_coverage(pool, 100, 3);
    ug_pool_free(pool);
}

/* The first chunk cancels everything queued, parallel_for's own helpers
 * included: the calling thread must still cover every index. */
struct cancelling {
    ug_pool *pool;
    struct coverage cv;
    atomic_int cancelled_once;
};

static int cancel_then_cover(void *ctx, size_t begin, size_t end) {
    struct cancelling *cc = ctx;
    int expected = 0;
    if (atomic_compare_exchange_strong(&cc->cancelled_once, &expected, 1))
        ug_pool_cancel_pending(cc->pool);
    return cover(&cc->cv, begin, end);
}

static void test_parallel_for_helpers_cancelled(void) {
    ug_pool *pool = make_pool(2, 0, UG_SUBMIT_BLOCK);
    if (!pool)
        return;
    struct gate g;
    gate_init(&g);
    block_workers(pool, &g, 2); /* helpers stay queued until cancelled */
    struct cancelling cc = {.pool = pool, .cv = {.n = 300, .grain = 1}};
    cc.cv.hits = calloc(300, sizeof *cc.cv.hits);
    CHECK_RC(ug_parallel_for(pool, 300, 1, cancel_then_cover, &cc), 0);
    size_t wrong = 0;
    for (size_t i = 0; i < 300; i++)
        wrong += atomic_load(&cc.cv.hits[i]) != 1;
    CHECK_UINT_EQ(wrong, 0);
    CHECK_UINT_EQ(stats_of(pool).queued, 0);
    gate_open(&g);
    ug_pool_free(pool);
    free(cc.cv.hits);
    gate_destroy(&g);
}

/* parallel_for from inside a task, and from inside a parallel_for body. */
struct nested {
    ug_pool *pool;
    atomic_llong sum;
    atomic_int errors;
};

static int inner_body(void *ctx, size_t begin, size_t end) {
    struct nested *ns = ctx;
    for (size_t i = begin; i < end; i++)
        atomic_fetch_add(&ns->sum, (long long)i);
    return 0;
}

static int outer_body(void *ctx, size_t begin, size_t end) {
    struct nested *ns = ctx;
    for (size_t i = begin; i < end; i++)
        if (ug_parallel_for(ns->pool, 10, 1, inner_body, ns) != 0)
            atomic_fetch_add(&ns->errors, 1);
    return 0;
}

static int nested_task(void *arg) {
    struct nested *ns = arg;
    return ug_parallel_for(ns->pool, 100, 3, outer_body, ns);
}

static void test_parallel_for_nested(void) {
    for (unsigned workers = 1; workers <= 2; workers++) {
        ug_pool *pool = make_pool(workers, 0, UG_SUBMIT_BLOCK);
        if (!pool)
            return;
        struct nested ns = {.pool = pool};
        /* More such tasks than workers: every worker nests at once. */
        ug_future *f[4] = {NULL};
        for (int i = 0; i < 4; i++)
            CHECK_RC(submit_fn(pool, nested_task, &ns, &f[i]), 0);
        for (int i = 0; i < 4; i++) {
            if (!f[i])
                continue;
            /* A deadlock shows as a timeout here, not as a hang. */
            CHECK_RC(ug_future_wait(f[i], 20000000000), 0);
            CHECK_RC(ug_future_status(f[i]), 0);
        }
        /* And from this thread, while no worker is busy. */
        CHECK_RC(nested_task(&ns), 0);
        CHECK_RC(ug_pool_wait_idle(pool, -1), 0);
        CHECK_INT_EQ(atomic_load(&ns.errors), 0);
        CHECK_INT_EQ(atomic_load(&ns.sum), 5 * 100 * 45);
        for (int i = 0; i < 4; i++)
            ug_future_release(f[i]);
        ug_pool_free(pool);
    }
}

static int record_thread(void *ctx, size_t begin, size_t end) {
    pthread_t *seen = ctx;
    for (size_t i = begin; i < end; i++)
        seen[i] = pthread_self();
    return 0;
}

static void test_parallel_for_after_shutdown(void) {
    ug_pool *pool = make_pool(2, 0, UG_SUBMIT_BLOCK);
    if (!pool)
        return;
    ug_pool_shutdown(pool, 1, 0);
    check_coverage(pool, 1000, 7);
    pthread_t seen[50];
    CHECK_RC(ug_parallel_for(pool, 50, 1, record_thread, seen), 0);
    int elsewhere = 0;
    for (int i = 0; i < 50; i++)
        elsewhere += !pthread_equal(seen[i], pthread_self());
    CHECK_INT_EQ(elsewhere, 0);
    ug_pool_free(pool);
}

/* ---- thread hooks ------------------------------------------------------- */

struct hooks {
    atomic_int starts, stops;
    atomic_uint start_mask, stop_mask;
    atomic_int on_main;
    pthread_t main;
    unsigned stop_delay_ms;
};

static void hook_start(void *ctx, unsigned index) {
    struct hooks *h = ctx;
    atomic_fetch_add(&h->starts, 1);
    atomic_fetch_or(&h->start_mask, 1u << index);
    if (pthread_equal(pthread_self(), h->main))
        atomic_fetch_add(&h->on_main, 1);
}

static void hook_stop(void *ctx, unsigned index) {
    struct hooks *h = ctx;
    check_sleep_ms(h->stop_delay_ms);
    atomic_fetch_add(&h->stops, 1);
    atomic_fetch_or(&h->stop_mask, 1u << index);
    if (pthread_equal(pthread_self(), h->main))
        atomic_fetch_add(&h->on_main, 1);
}

static void test_thread_hooks(void) {
    for (unsigned workers = 1; workers <= 4; workers += 3) {
        struct hooks h = {.main = pthread_self(), .stop_delay_ms = 20};
        ug_pool_options opts;
        ug_pool_options_init(&opts);
        opts.workers = workers;
        opts.thread_start = hook_start;
        opts.thread_stop = hook_stop;
        opts.thread_ctx = &h;
        ug_pool *pool = NULL;
        if (!CHECK_RC(ug_pool_new(&opts, &pool), 0))
            return;
        struct counts c = {0};
        for (int i = 0; i < 100; i++)
            submit_fn(pool, count_run, &c, NULL);
        CHECK_RC(ug_pool_wait_idle(pool, -1), 0);
        CHECK_INT_EQ(atomic_load(&h.stops), 0);
        /* A waiting shutdown returns only after every worker's stop hook. */
        CHECK_RC(ug_pool_shutdown(pool, 1, 0), 0);
        CHECK_INT_EQ(atomic_load(&h.stops), workers);
        ug_pool_free(pool);
        unsigned all = (1u << workers) - 1;
        CHECK_INT_EQ(atomic_load(&h.starts), workers);
        CHECK_INT_EQ(atomic_load(&h.stops), workers);
        CHECK_UINT_EQ(atomic_load(&h.start_mask), all);
        CHECK_UINT_EQ(atomic_load(&h.stop_mask), all);
        CHECK_INT_EQ(atomic_load(&h.on_main), 0);
        CHECK_INT_EQ(atomic_load(&c.ran), 100);
    }
}

int main(int argc, char **argv) {
    static const check_test tests[] = {
        CHECK_TEST(test_options_and_new),
        CHECK_TEST(test_bad_submits),
        CHECK_TEST(test_many_tasks),
        CHECK_TEST(test_submit_many),
        CHECK_TEST(test_stats),
        CHECK_TEST(test_future_wait_and_status),
        CHECK_TEST(test_future_many_waiters),
        CHECK_TEST(test_future_cancel_before_start),
        CHECK_TEST(test_future_cancel_running),
        CHECK_TEST(test_on_done),
        CHECK_TEST(test_on_done_when_cancelled),
        CHECK_TEST(test_finish_races_wait_and_on_done),
        CHECK_TEST(test_callback_submits),
        CHECK_TEST(test_task_waits_for_task),
        CHECK_TEST(test_future_outlives_pool),
        CHECK_TEST(test_submit_fail_when_full),
        CHECK_TEST(test_submit_block_waits_for_room),
        CHECK_TEST(test_shutdown_wakes_blocked_submitter),
        CHECK_TEST(test_submit_after_shutdown),
        CHECK_TEST(test_shutdown_wait_cancel),
        CHECK_TEST(test_shutdown_without_wait),
        CHECK_TEST(test_free_runs_queued_tasks),
        CHECK_TEST(test_cancel_pending),
        CHECK_TEST(test_wait_idle),
        CHECK_TEST(test_wait_idle_from_worker),
        CHECK_TEST(test_many_producers),
        CHECK_TEST(test_stress_small_queue_block),
        CHECK_TEST(test_stress_fail_mode),
        CHECK_TEST(test_cancel_pending_races_producers),
        CHECK_TEST(test_shutdown_with_blocked_producers),
        CHECK_TEST(test_shutdown_while_flooded),
        CHECK_TEST(test_parallel_for_covers_every_index),
        CHECK_TEST(test_parallel_for_small_queue),
        CHECK_TEST(test_parallel_for_error_stops),
        CHECK_TEST(test_parallel_for_helpers_cancelled),
        CHECK_TEST(test_parallel_for_nested),
        CHECK_TEST(test_parallel_for_after_shutdown),
        CHECK_TEST(test_thread_hooks),
    };
    return check_main(argc, argv, tests, sizeof tests / sizeof *tests);
}
