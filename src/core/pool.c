/* pool.c - fixed worker threads, a bounded task ring, futures, parallel_for.
 *
 * Design.  One mutex (`lock`) guards the ring of queued slots, the counters
 * and the shutdown flag; three condition variables hang off it: `not_empty`
 * (idle workers), `not_full` (submitters waiting for room) and `idle`
 * (threads in wait_idle or shutdown).  Submitters signal `not_empty` only
 * when a worker is idle.  A worker pops a small batch (its share of a
 * sixteenth of the queue, at most BATCH_MAX) under the lock and runs it
 * unlocked, which keeps the lock cold when tasks are tiny; a cancellation bumps
 * `cancel_gen`, and a worker checks it before each task of its batch, so
 * popped-but-not-started tasks are cancelled too.
 *
 * Futures synchronise on the pool's second mutex, `fut_lock`, and its
 * condition `fut_cond`, so a future costs a small malloc and no kernel
 * object.  A future's state moves PENDING -> RUNNING (worker, CAS) or
 * PENDING -> CANCELLED (canceller, CAS), then RUNNING -> DONE under
 * fut_lock.  Once final a future never touches its pool again, which is
 * why finished futures may outlive it.
 *
 * Lock order: `lock` and `fut_lock` are never held together, and no user
 * callback runs under either.
 *
 * Known limit: one queue lock shared by all workers; beyond a few dozen
 * cores a per-worker deque with stealing would scale better.
 */
#include "ungil/pool.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ungil/error.h"

enum { BATCH_MAX = 16, DEFAULT_CAPACITY = 65536 };

/* How long a worker that found the queue empty keeps looking before it
 * sleeps.  On a virtual machine a sleeping worker's CPU halts, and waking
 * it costs the producer a futex call plus an interrupt to that CPU: a
 * short look first keeps a steady stream of small tasks off that path. */
enum { IDLE_SPIN_NS = 50000 };

struct callback {
    struct callback *next;
    ug_future_cb cb;
    void *ctx;
};

struct ug_future {
    atomic_int refs;
    atomic_int state;          /* enum ug_future_state */
    int status;                /* written before state becomes DONE */
    ug_pool *pool;             /* used only while not final */
    struct callback *callbacks; /* guarded by pool->fut_lock */
};

struct slot {
    ug_task task;
    ug_future *future;
};

struct ug_pool {
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full, idle;
    struct slot *ring;
    size_t mask, head, count;  /* ring[(head + i) & mask], i < count */
    size_t running;            /* popped and not yet finished */
    unsigned idle_workers;     /* waiting on not_empty and not yet signalled
                                * (a spurious wakeup may leave it one high,
                                * which costs one wasted signal, never a
                                * missed one) */
    unsigned full_waiters, idle_waiters;
    unsigned live_workers;     /* threads that have not exited their loop */
    int shutdown;
    atomic_uint cancel_gen;
    atomic_uint pushes;        /* bumped by every push, read by spinning workers */
    uint64_t completed, submit_waits, idle_waits;

    pthread_mutex_t fut_lock;
    pthread_cond_t fut_cond;
    unsigned fut_waiters;

    pthread_t *threads;
    unsigned nworkers;
    ug_pool_options opts;
    char *name;
    uint32_t pf_label;
};

/* The pool whose worker is the current thread, to refuse self-waits. */
static _Thread_local ug_pool *current_pool;

static int cond_init_monotonic(pthread_cond_t *c) {
    pthread_condattr_t a;
    if (pthread_condattr_init(&a))
        return -1;
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(c, &a);
    pthread_condattr_destroy(&a);
    return rc;
}

/* Waits on `c` until the absolute monotonic time `deadline_ns` (0 = no
 * deadline).  Returns ETIMEDOUT once the deadline has passed. */
static int cond_wait_until(pthread_cond_t *c, pthread_mutex_t *m,
                           uint64_t deadline_ns) {
    if (!deadline_ns)
        return pthread_cond_wait(c, m);
    struct timespec ts = {.tv_sec = (time_t)(deadline_ns / 1000000000u),
                          .tv_nsec = (long)(deadline_ns % 1000000000u)};
    return pthread_cond_timedwait(c, m, &ts);
}

static uint64_t deadline_after(int64_t timeout_ns) {
    if (timeout_ns < 0)
        return 0;
    return ug_clock_ns() + (uint64_t)timeout_ns + 1;
}

void ug_pool_options_init(ug_pool_options *opts) {
    memset(opts, 0, sizeof *opts);
    opts->submit_mode = UG_SUBMIT_BLOCK;
}

/* ---- futures ---------------------------------------------------------- */

static void future_unref(ug_future *f) {
    if (f && atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1)
        free(f);
}

void ug_future_release(ug_future *f) { future_unref(f); }

int ug_future_state(const ug_future *f) {
    return atomic_load_explicit(&((ug_future *)f)->state, memory_order_acquire);
}

int ug_future_status(const ug_future *f) {
    int s = ug_future_state(f);
    if (s == UG_FUTURE_CANCELLED)
        return UG_ECANCELED;
    if (s != UG_FUTURE_DONE)
        return UG_EBUSY;
    return f->status;
}

static bool is_final(int state) {
    return state == UG_FUTURE_DONE || state == UG_FUTURE_CANCELLED;
}

/* Makes `f` final (its state is already CANCELLED, or RUNNING to become
 * DONE), wakes waiters and runs callbacks in registration order. */
static void future_finish(ug_future *f, int state, int status) {
    ug_pool *p = f->pool;
    pthread_mutex_lock(&p->fut_lock);
    f->status = status;
    atomic_store_explicit(&f->state, state, memory_order_release);
    struct callback *cbs = f->callbacks;
    f->callbacks = NULL;
    if (p->fut_waiters)
        pthread_cond_broadcast(&p->fut_cond);
    pthread_mutex_unlock(&p->fut_lock);

    struct callback *rev = NULL;
    while (cbs) {
        struct callback *next = cbs->next;
        cbs->next = rev;
        rev = cbs;
        cbs = next;
    }
    while (rev) {
        struct callback *next = rev->next;
        rev->cb(f, rev->ctx);
        free(rev);
        rev = next;
    }
}

int ug_future_wait(ug_future *f, int64_t timeout_ns) {
    if (is_final(ug_future_state(f)))
        return 0;
    ug_pool *p = f->pool;
    uint64_t deadline = deadline_after(timeout_ns);
    int rc = 0;
    pthread_mutex_lock(&p->fut_lock);
    p->fut_waiters++;
    while (!is_final(ug_future_state(f))) {
        if (cond_wait_until(&p->fut_cond, &p->fut_lock, deadline) == ETIMEDOUT &&
            !is_final(ug_future_state(f))) {
            rc = UG_ETIMEDOUT;
            break;
        }
    }
    p->fut_waiters--;
    if (!p->fut_waiters)
        pthread_cond_broadcast(&p->fut_cond); /* ug_pool_free may wait for this */
    pthread_mutex_unlock(&p->fut_lock);
    return rc;
}

int ug_future_cancel(ug_future *f) {
    int expected = UG_FUTURE_PENDING;
    if (!atomic_compare_exchange_strong(&f->state, &expected,
                                        UG_FUTURE_CANCELLED))
        return expected == UG_FUTURE_CANCELLED ? 0 : UG_EBUSY;
    /* The slot stays queued; whoever pops it discards the argument. */
    future_finish(f, UG_FUTURE_CANCELLED, UG_ECANCELED);
    return 0;
}

int ug_future_on_done(ug_future *f, ug_future_cb cb, void *ctx) {
    if (!cb)
        return UG_EINVAL;
    if (!is_final(ug_future_state(f))) {
        struct callback *node = malloc(sizeof *node);
        if (!node)
            return UG_ENOMEM;
        node->cb = cb;
        node->ctx = ctx;
        ug_pool *p = f->pool;
        pthread_mutex_lock(&p->fut_lock);
        bool queued = !is_final(ug_future_state(f));
        if (queued) {
            node->next = f->callbacks;
            f->callbacks = node;
        }
        pthread_mutex_unlock(&p->fut_lock);
        if (queued)
            return 0;
        free(node);
    }
    cb(f, ctx);
    return 0;
}

/* ---- running slots ---------------------------------------------------- */

static void slot_discard(struct slot *s) {
    if (s->task.discard)
        s->task.discard(s->task.arg);
    ug_future *f = s->future;
    if (f) {
        int expected = UG_FUTURE_PENDING;
        if (atomic_compare_exchange_strong(&f->state, &expected,
                                           UG_FUTURE_CANCELLED))
            future_finish(f, UG_FUTURE_CANCELLED, UG_ECANCELED);
        future_unref(f);
    }
}

static void slot_run(ug_pool *p, struct slot *s) {
    ug_future *f = s->future;
    if (f) {
        int expected = UG_FUTURE_PENDING;
        if (!atomic_compare_exchange_strong(&f->state, &expected,
                                            UG_FUTURE_RUNNING)) {
            slot_discard(s); /* cancelled through its future */
            return;
        }
    }
    ug_trace *trace = p->opts.trace;
    bool traced = trace && s->task.label != UG_TRACE_NONE;
    uint64_t t0 = traced ? ug_clock_ns() : 0;
    int rc = s->task.fn(s->task.arg);
    if (traced)
        ug_trace_record(trace, s->task.label, t0, ug_clock_ns(), 0);
    if (f) {
        future_finish(f, UG_FUTURE_DONE, rc);
        future_unref(f);
    }
}

/* ---- workers ---------------------------------------------------------- */

struct worker_start {
    ug_pool *pool;
    unsigned index;
};

static void *worker_main(void *argp) {
    struct worker_start *ws = argp;
    ug_pool *p = ws->pool;
    unsigned index = ws->index;
    free(ws);
    current_pool = p;
    if (p->opts.trace) {
        char lane[96];
        snprintf(lane, sizeof lane, "%s %u", p->name, index);
        ug_trace_name_thread(p->opts.trace, lane);
    }
    if (p->opts.thread_start)
        p->opts.thread_start(p->opts.thread_ctx, index);

    struct slot batch[BATCH_MAX];
    pthread_mutex_lock(&p->lock);
    for (;;) {
        if (p->count == 0 && !p->shutdown) {
            /* Look for new work (yielding, so a producer sharing this CPU
             * runs) for up to IDLE_SPIN_NS before sleeping. */
            unsigned seen = atomic_load_explicit(&p->pushes, memory_order_relaxed);
            pthread_mutex_unlock(&p->lock);
            uint64_t until = ug_clock_ns() + IDLE_SPIN_NS;
            do
                sched_yield();
            while (atomic_load_explicit(&p->pushes, memory_order_relaxed) == seen &&
                   ug_clock_ns() < until);
            pthread_mutex_lock(&p->lock);
        }
        while (p->count == 0 && !p->shutdown) {
            p->idle_workers++;
            p->idle_waits++;
            if (p->running == 0 && p->idle_waiters)
                pthread_cond_broadcast(&p->idle);
            pthread_cond_wait(&p->not_empty, &p->lock);
        }
        if (p->count == 0)
            break; /* shut down and drained */
        size_t take = p->count / (16 * (size_t)p->nworkers);
        if (take < 1)
            take = 1;
        if (take > BATCH_MAX)
            take = BATCH_MAX;
        for (size_t i = 0; i < take; i++) {
            batch[i] = p->ring[p->head];
            p->head = (p->head + 1) & p->mask;
        }
        p->count -= take;
        p->running += take;
        unsigned gen = atomic_load_explicit(&p->cancel_gen, memory_order_relaxed);
        if (p->full_waiters)
            pthread_cond_broadcast(&p->not_full);
        pthread_mutex_unlock(&p->lock);

        for (size_t i = 0; i < take; i++) {
            if (atomic_load_explicit(&p->cancel_gen, memory_order_acquire) != gen)
                slot_discard(&batch[i]);
            else
                slot_run(p, &batch[i]);
        }

        pthread_mutex_lock(&p->lock);
        p->running -= take;
        p->completed += take;
        if (p->running == 0 && p->count == 0 && p->idle_waiters)
            pthread_cond_broadcast(&p->idle);
    }
    pthread_mutex_unlock(&p->lock);

    /* The stop hook runs before the worker counts itself out, so that a
     * waiting shutdown returns only once every hook has finished (the
     * binding detaches the thread from the interpreter here). */
    if (p->opts.thread_stop)
        p->opts.thread_stop(p->opts.thread_ctx, index);
    current_pool = NULL;
    pthread_mutex_lock(&p->lock);
    p->live_workers--;
    pthread_cond_broadcast(&p->idle);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static unsigned online_cpus(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

static size_t round_pow2(size_t n) {
    size_t c = 1;
    while (c < n)
        c <<= 1;
    return c;
}

/* Frees the parts of a pool whose threads are all joined (or never ran). */
static void pool_destroy(ug_pool *p) {
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->not_empty);
    pthread_cond_destroy(&p->not_full);
    pthread_cond_destroy(&p->idle);
    pthread_mutex_destroy(&p->fut_lock);
    pthread_cond_destroy(&p->fut_cond);
    free(p->ring);
    free(p->threads);
    free(p->name);
    free(p);
}

int ug_pool_new(const ug_pool_options *opts, ug_pool **out) {
    ug_pool_options defaults;
    if (!opts) {
        ug_pool_options_init(&defaults);
        opts = &defaults;
    }
    if (!out || opts->workers > 4096 ||
        (opts->submit_mode != UG_SUBMIT_BLOCK &&
         opts->submit_mode != UG_SUBMIT_FAIL) ||
        opts->queue_capacity > ((size_t)1 << 30))
        return UG_EINVAL;
    *out = NULL;

    ug_pool *p = calloc(1, sizeof *p);
    if (!p)
        return UG_ENOMEM;
    p->opts = *opts;
    p->nworkers = opts->workers ? opts->workers : online_cpus();
    size_t cap = round_pow2(opts->queue_capacity ? opts->queue_capacity
                                                 : DEFAULT_CAPACITY);
    p->mask = cap - 1;
    p->ring = malloc(cap * sizeof *p->ring);
    p->threads = calloc(p->nworkers, sizeof *p->threads);
    p->name = strdup(opts->name ? opts->name : "worker");
    if (!p->ring || !p->threads || !p->name) {
        free(p->ring);
        free(p->threads);
        free(p->name);
        free(p);
        return UG_ENOMEM;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_mutex_init(&p->fut_lock, NULL);
    cond_init_monotonic(&p->not_empty);
    cond_init_monotonic(&p->not_full);
    cond_init_monotonic(&p->idle);
    cond_init_monotonic(&p->fut_cond);
    if (opts->trace)
        p->pf_label = ug_trace_label(opts->trace, "parallel_for");

    int rc = 0;
    unsigned started = 0;
    for (; started < p->nworkers; started++) {
        struct worker_start *ws = malloc(sizeof *ws);
        if (!ws) {
            rc = UG_ENOMEM;
            break;
        }
        ws->pool = p;
        ws->index = started;
        pthread_mutex_lock(&p->lock);
        p->live_workers++;
        pthread_mutex_unlock(&p->lock);
        if (pthread_create(&p->threads[started], NULL, worker_main, ws)) {
            pthread_mutex_lock(&p->lock);
            p->live_workers--;
            pthread_mutex_unlock(&p->lock);
            free(ws);
            rc = UG_ETHREAD;
            break;
        }
    }
    if (rc) {
        pthread_mutex_lock(&p->lock);
        p->shutdown = 1;
        pthread_cond_broadcast(&p->not_empty);
        pthread_mutex_unlock(&p->lock);
        for (unsigned i = 0; i < started; i++)
            pthread_join(p->threads[i], NULL);
        pool_destroy(p);
        return rc;
    }
    *out = p;
    return 0;
}

unsigned ug_pool_workers(const ug_pool *p) { return p->nworkers; }

/* ---- submitting ------------------------------------------------------- */

/* Waits, with p->lock held, until the ring has room.  Returns 0,
 * UG_ESHUTDOWN or UG_EFULL. */
static int wait_for_room(ug_pool *p, bool may_block) {
    while (p->count > p->mask) {
        if (!may_block)
            return UG_EFULL;
        p->full_waiters++;
        p->submit_waits++;
        pthread_cond_wait(&p->not_full, &p->lock);
        p->full_waiters--;
        if (p->shutdown)
            return UG_ESHUTDOWN;
    }
    return 0;
}

static void push_locked(ug_pool *p, const ug_task *task, ug_future *f) {
    struct slot *s = &p->ring[(p->head + p->count) & p->mask];
    s->task = *task;
    s->future = f;
    p->count++;
    atomic_fetch_add_explicit(&p->pushes, 1, memory_order_relaxed);
    if (p->idle_workers) {
        /* The signaller un-counts the worker it wakes, so a burst of
         * submits wakes each idle worker once instead of signalling on
         * every submit until the woken one gets the lock. */
        p->idle_workers--;
        pthread_cond_signal(&p->not_empty);
    }
}

static int submit(ug_pool *p, const ug_task *task, ug_future **future,
                  bool may_block) {
    if (!p || !task || !task->fn)
        return UG_EINVAL;
    ug_future *f = NULL;
    if (future) {
        *future = NULL;
        f = malloc(sizeof *f);
        if (!f)
            return UG_ENOMEM;
        atomic_init(&f->refs, 2);
        atomic_init(&f->state, UG_FUTURE_PENDING);
        f->status = 0;
        f->pool = p;
        f->callbacks = NULL;
    }
    pthread_mutex_lock(&p->lock);
    int rc = p->shutdown ? UG_ESHUTDOWN : wait_for_room(p, may_block);
    if (!rc)
        push_locked(p, task, f);
    pthread_mutex_unlock(&p->lock);
    if (rc) {
        free(f);
        return rc;
    }
    if (future)
        *future = f;
    return 0;
}

int ug_pool_submit(ug_pool *p, const ug_task *task, ug_future **future) {
    return submit(p, task, future,
                  p && p->opts.submit_mode == UG_SUBMIT_BLOCK);
}

int ug_pool_try_submit(ug_pool *p, const ug_task *task, ug_future **future) {
    return submit(p, task, future, false);
}

long ug_pool_submit_many(ug_pool *p, const ug_task *tasks, size_t n) {
    if (!p || (n && !tasks))
        return UG_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!tasks[i].fn)
            return UG_EINVAL;
    bool may_block = p->opts.submit_mode == UG_SUBMIT_BLOCK;
    size_t done = 0;
    int rc = 0;
    pthread_mutex_lock(&p->lock);
    while (done < n) {
        rc = p->shutdown ? UG_ESHUTDOWN : wait_for_room(p, may_block);
        if (rc)
            break;
        push_locked(p, &tasks[done], NULL);
        done++;
    }
    pthread_mutex_unlock(&p->lock);
    return done ? (long)done : rc;
}

/* ---- cancelling, waiting, shutting down -------------------------------- */

size_t ug_pool_cancel_pending(ug_pool *p) {
    pthread_mutex_lock(&p->lock);
    size_t n = p->count;
    struct slot *taken = n ? malloc(n * sizeof *taken) : NULL;
    if (n && !taken) {
        /* No room to move them out: cancel in place, slot by slot. */
        while (p->count) {
            struct slot s = p->ring[p->head];
            p->head = (p->head + 1) & p->mask;
            p->count--;
            p->running++;
            pthread_mutex_unlock(&p->lock);
            slot_discard(&s);
            pthread_mutex_lock(&p->lock);
            p->running--;
            p->completed++;
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            taken[i] = p->ring[p->head];
            p->head = (p->head + 1) & p->mask;
        }
        p->count = 0;
        p->running += n; /* keeps wait_idle from returning mid-discard */
    }
    atomic_fetch_add_explicit(&p->cancel_gen, 1, memory_order_release);
    if (p->full_waiters)
        pthread_cond_broadcast(&p->not_full);
    pthread_mutex_unlock(&p->lock);

    if (taken) {
        for (size_t i = 0; i < n; i++)
            slot_discard(&taken[i]);
        free(taken);
        pthread_mutex_lock(&p->lock);
        p->running -= n;
        p->completed += n;
        if (p->running == 0 && p->count == 0)
            pthread_cond_broadcast(&p->idle);
        pthread_mutex_unlock(&p->lock);
    }
    return n;
}

int ug_pool_wait_idle(ug_pool *p, int64_t timeout_ns) {
    if (current_pool == p)
        return UG_EBUSY;
    uint64_t deadline = deadline_after(timeout_ns);
    int rc = 0;
    pthread_mutex_lock(&p->lock);
    p->idle_waiters++;
    while ((p->count || p->running) && p->live_workers) {
        if (cond_wait_until(&p->idle, &p->lock, deadline) == ETIMEDOUT &&
            (p->count || p->running) && p->live_workers) {
            rc = UG_ETIMEDOUT;
            break;
        }
    }
    p->idle_waiters--;
    pthread_mutex_unlock(&p->lock);
    return rc;
}

int ug_pool_shutdown(ug_pool *p, int wait, int cancel) {
    if (cancel)
        ug_pool_cancel_pending(p);
    pthread_mutex_lock(&p->lock);
    p->shutdown = 1;
    pthread_cond_broadcast(&p->not_empty);
    pthread_cond_broadcast(&p->not_full);
    int rc = 0;
    if (wait && current_pool == p) {
        rc = UG_EBUSY; /* a worker cannot wait for itself */
    } else if (wait) {
        p->idle_waiters++;
        while (p->live_workers)
            pthread_cond_wait(&p->idle, &p->lock);
        p->idle_waiters--;
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

void ug_pool_free(ug_pool *p) {
    if (!p)
        return;
    ug_pool_shutdown(p, 1, 0);
    for (unsigned i = 0; i < p->nworkers; i++)
        pthread_join(p->threads[i], NULL);
    /* Every future is final now; wait for threads still inside
     * ug_future_wait to leave the condition before destroying it. */
    pthread_mutex_lock(&p->fut_lock);
    while (p->fut_waiters)
        pthread_cond_wait(&p->fut_cond, &p->fut_lock);
    pthread_mutex_unlock(&p->fut_lock);
    pool_destroy(p);
}

void ug_pool_stats_get(ug_pool *p, ug_pool_stats *out) {
    pthread_mutex_lock(&p->lock);
    out->queued = p->count;
    out->running = p->running;
    out->completed = p->completed;
    out->submit_waits = p->submit_waits;
    out->idle_waits = p->idle_waits;
    pthread_mutex_unlock(&p->lock);
}

/* ---- parallel_for ----------------------------------------------------- */

/* Shared by the caller and its helper tasks; freed by the last reference.
 * Chunks are claimed with one atomic increment each. */
struct pf_job {
    atomic_size_t next_chunk;
    atomic_size_t chunks_done;
    atomic_int error;
    atomic_int refs;
    size_t n, grain, nchunks;
    ug_range_fn body;
    void *ctx;
    ug_trace *trace;
    uint32_t label;
    pthread_mutex_t lock;
    pthread_cond_t all_done;
};

static void pf_unref(void *arg) {
    struct pf_job *j = arg;
    if (atomic_fetch_sub_explicit(&j->refs, 1, memory_order_acq_rel) == 1) {
        pthread_mutex_destroy(&j->lock);
        pthread_cond_destroy(&j->all_done);
        free(j);
    }
}

static void pf_work(struct pf_job *j) {
    for (;;) {
        size_t c = atomic_fetch_add(&j->next_chunk, 1);
        if (c >= j->nchunks)
            return;
        if (!atomic_load_explicit(&j->error, memory_order_relaxed)) {
            size_t begin = c * j->grain;
            size_t end = j->n - begin < j->grain ? j->n : begin + j->grain;
            uint64_t t0 = j->trace ? ug_clock_ns() : 0;
            int rc = j->body(j->ctx, begin, end);
            if (j->trace)
                ug_trace_record(j->trace, j->label, t0, ug_clock_ns(), c);
            if (rc) {
                int zero = 0;
                atomic_compare_exchange_strong(&j->error, &zero, rc);
            }
        }
        if (atomic_fetch_add(&j->chunks_done, 1) + 1 == j->nchunks) {
            pthread_mutex_lock(&j->lock);
            pthread_cond_broadcast(&j->all_done);
            pthread_mutex_unlock(&j->lock);
        }
    }
}

static int pf_helper(void *arg) {
    pf_work(arg);
    pf_unref(arg);
    return 0;
}

int ug_parallel_for(ug_pool *p, size_t n, size_t grain, ug_range_fn body,
                    void *ctx) {
    if (!body)
        return UG_EINVAL;
    if (n == 0)
        return 0;
    unsigned workers = p ? p->nworkers : 1;
    if (grain == 0) {
        grain = n / (4 * (size_t)workers);
        if (grain == 0)
            grain = 1;
    }
    size_t nchunks = n / grain + (n % grain != 0);
    if (!p || nchunks == 1)
        return body(ctx, 0, n);

    struct pf_job *j = calloc(1, sizeof *j);
    if (!j)
        return UG_ENOMEM;
    j->n = n;
    j->grain = grain;
    j->nchunks = nchunks;
    j->body = body;
    j->ctx = ctx;
    j->trace = p->opts.trace;
    j->label = p->pf_label;
    pthread_mutex_init(&j->lock, NULL);
    pthread_cond_init(&j->all_done, NULL);

    /* The caller works too, so at most nchunks - 1 helpers are useful. */
    size_t helpers = nchunks - 1 < workers ? nchunks - 1 : workers;
    atomic_init(&j->refs, (int)helpers + 1);
    ug_task tasks[64];
    size_t queued = 0;
    while (queued < helpers) {
        size_t batch = helpers - queued < 64 ? helpers - queued : 64;
        for (size_t i = 0; i < batch; i++)
            tasks[i] = (ug_task){.fn = pf_helper, .arg = j, .discard = pf_unref,
                                 .label = UG_TRACE_NONE};
        /* Never block here: a worker calling parallel_for on a full queue
         * would wait for itself.  Unqueued helpers are done by the caller. */
        pthread_mutex_lock(&p->lock);
        size_t k = 0;
        while (k < batch && !p->shutdown && p->count <= p->mask)
            push_locked(p, &tasks[k++], NULL);
        pthread_mutex_unlock(&p->lock);
        queued += k;
        if (k < batch)
            break;
    }
    for (size_t i = queued; i < helpers; i++)
        pf_unref(j);

    pf_work(j);
    pthread_mutex_lock(&j->lock);
    while (atomic_load(&j->chunks_done) < nchunks)
        pthread_cond_wait(&j->all_done, &j->lock);
    pthread_mutex_unlock(&j->lock);
    int rc = atomic_load(&j->error);
    pf_unref(j);
    return rc;
}
