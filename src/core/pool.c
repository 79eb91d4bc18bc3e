/* pool.c - fixed worker threads, a bounded lock-free task ring, futures,
 * parallel_for.
 *
 * The ring.  `ring` holds capacity (a power of two) cells; each carries an
 * atomic sequence number `seq` besides its task.  Positions count up from 0
 * and never wrap (64 bits); position `pos` lives in cell pos & mask.  A cell
 * whose seq is 2 pos is free for the producer of `pos`; 2 pos + 1 means that
 * producer has written it and it is ready for the consumer of `pos`, who
 * frees it for the next lap by storing 2 (pos + capacity).  (Doubling keeps
 * "ready for pos" and "free for pos + 1" apart when the capacity is 1.)
 * `tail` holds the next position to claim, shifted left by one, with the
 * CLOSED bit below it; `head` the next position to take.
 *
 * Submitting: a producer checks that the cells at the tail are free and
 * claims one (or a run, for submit_many) with a CAS on `tail`, writes the
 * task, then stores seq = 2 pos + 1 with release order.  A cell still holding
 * a task of the previous lap means the ring is full.  Shutdown sets CLOSED
 * in `tail` with one atomic OR, so every claim either happened before it
 * (and will run) or fails with UG_ESHUTDOWN; workers exit once `head` has
 * reached the closed tail.
 *
 * Taking: a worker counts the ready cells at `head` (its share: a sixteenth
 * of the queue split between the workers, at least 1, at most BATCH_MAX),
 * claims them with a CAS on `head`, copies them out, frees them, and runs
 * them with no lock held.  A cell whose producer has claimed but not yet
 * written it stops the count: the worker waits for it (yielding) rather
 * than sleeping.  No mutex is taken on either path while there is work.
 *
 * The mutex `lock` and its conditions serve only the slow paths: `not_empty`
 * (sleeping workers), `not_full` (submitters blocked on a full ring), `idle`
 * (wait_idle, shutdown).  Lost wake-ups are ruled out by two store-buffering
 * (Dekker) pairs, in which each side writes one variable, then reads the
 * other, with sequentially consistent order between the two:
 *  - worker: lock, idle_workers++, load tail; sleep only if tail == head.
 *    Producer: CAS tail (the claim), write, load idle_workers; if non-zero,
 *    lock, un-count one idle worker and signal it.  Either the worker sees
 *    the claim, or the producer sees the worker counted; since the worker
 *    holds the lock from counting itself until it waits, the signal cannot
 *    come before the wait.  A spurious wake-up leaves idle_workers one high,
 *    which costs one wasted signal, never a missed one.
 *  - blocked producer: lock, full_waiters++, load the tail cell's seq; wait
 *    only if it is still taken.  Consumer: store the freed cells' seq
 *    (release), a seq_cst fence (one per batch, cheaper than a seq_cst
 *    store per cell), load full_waiters; if non-zero, lock and broadcast
 *    `not_full`.  If the consumer reads no waiter, its fence precedes the
 *    producer's increment, hence the producer's load, which then sees the
 *    freed cell.
 * The task itself passes from producer to consumer through the cell's seq
 * (release store, acquire load), and the cell back the same way, so a
 * consumer's copy happens before the next lap's write; the CASes on `tail`
 * and `head` only arbitrate between producers, and between consumers.
 *
 * Idle: a worker with nothing to do yields for IDLE_SPIN_NS, then goes
 * through the lock to sleep; there it wakes wait_idle callers if the pool
 * is idle.  The last worker to get there has seen every completion (each
 * worker's counter is stored before it takes the lock), so some worker
 * always sees the idle pool.
 *
 * Accounting: each worker counts the tasks it finished (ran or discarded)
 * in its own cache line; cancel_pending counts its discards in `discarded`.
 * finished = their sum; queued = tail - head; running = head - finished;
 * idle means finished == tail.  Read in that order (acquire), finished <=
 * head <= tail, and an idle answer is true at the moment tail was read.
 *
 * Cancelling: cancel_pending stores the tail position in `cancel_upto` and
 * takes and discards every cell below it; a worker discards instead of
 * running any task whose position is below cancel_upto, so tasks popped
 * but not started are cancelled too, and tasks queued after the call
 * returns never are.
 *
 * Futures synchronise on the pool's second mutex, `fut_lock`, and its
 * condition `fut_cond`, so a future costs a small malloc and no kernel
 * object.  A future's state moves PENDING -> RUNNING (worker, CAS) or
 * PENDING -> CANCELLED (canceller, CAS), then RUNNING -> DONE.  Once final
 * a future never touches its pool again, which is why finished futures
 * may outlive it.  Finishing takes fut_lock only when someone waits or a
 * callback is registered: the finisher stores the final state, then reads
 * `fut_waiters` and the future's `has_callbacks`; a waiter raises
 * fut_waiters, and a registrar sets has_callbacks, before reading the
 * state (all four sequentially consistent, under fut_lock on their side),
 * so either the finisher sees them and takes the lock to wake them or
 * hand over the callbacks, or they see the final state.
 *
 * Lock order: `lock` and `fut_lock` are never held together, and no user
 * callback runs under either.
 *
 * Known limit: one ring shared by all workers; beyond a few dozen cores
 * the CAS on `head` and `tail` would contend, and per-worker deques with
 * stealing would scale better.
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

enum {
    BATCH_MAX = 16,       /* cells a worker takes at once, at most */
    CLAIM_MAX = 256,      /* cells submit_many claims at once, at most */
    DEFAULT_CAPACITY = 65536,
    CACHE_LINE = 64
};

/* How long a worker that found the queue empty keeps looking before it
 * sleeps.  On a virtual machine a sleeping worker's CPU halts, and waking
 * it costs the producer a futex call plus an interrupt to that CPU: a
 * short look first keeps a steady stream of small tasks off that path. */
enum { IDLE_SPIN_NS = 50000 };

/* The low bit of `tail`: set by shutdown; no claim succeeds after it. */
#define CLOSED ((uint64_t)1)

/* Pauses (in CPU pause instructions) after losing a race for an index. */
enum { BACKOFF_FIRST = 4, BACKOFF_MAX = 256 };

struct callback {
    struct callback *next;
    ug_future_cb cb;
    void *ctx;
};

struct ug_future {
    atomic_int refs;
    atomic_int state;          /* enum ug_future_state */
    int status;                /* written before state becomes DONE */
    atomic_bool has_callbacks; /* set (under fut_lock) before queueing one */
    ug_pool *pool;             /* used only while not final */
    struct callback *callbacks; /* guarded by pool->fut_lock */
};

struct slot {
    ug_task task;
    ug_future *future;
};

struct cell {
    _Atomic uint64_t seq;
    struct slot slot;          /* owned by whoever the seq says */
};

/* One per worker, on its own cache line. */
struct worker_stats {
    _Alignas(CACHE_LINE) _Atomic uint64_t completed; /* written by its worker */
    uint64_t idle_waits;                             /* guarded by lock */
};

struct ug_pool {
    _Alignas(CACHE_LINE) _Atomic uint64_t tail; /* next position << 1 | CLOSED */
    _Alignas(CACHE_LINE) _Atomic uint64_t head; /* next position to take */
    /* Read on the fast paths, written rarely. */
    _Alignas(CACHE_LINE) _Atomic unsigned idle_workers; /* asleep, not yet signalled */
    _Atomic unsigned full_waiters;  /* submitters waiting for room */
    _Atomic uint64_t cancel_upto;   /* positions below: cancelled unless started */
    _Atomic uint64_t discarded;     /* tasks discarded by cancel_pending */
    struct cell *ring;
    uint64_t mask;
    struct worker_stats *stats;

    _Alignas(CACHE_LINE) pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full, idle;
    unsigned idle_waiters;     /* threads in wait_idle or shutdown */
    unsigned live_workers;     /* threads that have not exited their loop */
    uint64_t submit_waits;

    pthread_mutex_t fut_lock;
    pthread_cond_t fut_cond;
    atomic_uint fut_waiters;   /* changed under fut_lock, read outside too */

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
    f->status = status;
    atomic_store(&f->state, state); /* see "Futures" at the top */
    bool waiters = atomic_load(&p->fut_waiters) != 0;
    if (!waiters && !atomic_load(&f->has_callbacks))
        return;
    pthread_mutex_lock(&p->fut_lock);
    struct callback *cbs = f->callbacks;
    f->callbacks = NULL;
    if (waiters)
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
    atomic_fetch_add(&p->fut_waiters, 1);
    while (!is_final(atomic_load(&f->state))) {
        if (cond_wait_until(&p->fut_cond, &p->fut_lock, deadline) == ETIMEDOUT &&
            !is_final(atomic_load(&f->state))) {
            rc = UG_ETIMEDOUT;
            break;
        }
    }
    if (atomic_fetch_sub(&p->fut_waiters, 1) == 1)
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
        atomic_store(&f->has_callbacks, true);
        bool queued = !is_final(atomic_load(&f->state));
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

/* ---- the ring --------------------------------------------------------- */

/* Waits a little after a lost CAS on `tail` or `head`, twice as long each
 * time, so that the winner claims again while the index's cache line is
 * still in its cache: without it, two producers on two cores pass the line
 * back and forth on every claim (measured: a third of the throughput). */
static void backoff(unsigned *spins) {
    for (unsigned i = 0; i < *spins; i++) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        __asm__ volatile("yield");
#else
        atomic_signal_fence(memory_order_seq_cst);
#endif
    }
    if (*spins < BACKOFF_MAX)
        *spins *= 2;
}

/* Claims up to `want` (>= 1) consecutive free cells for a producer.
 * Returns how many and sets *first, or UG_EFULL or UG_ESHUTDOWN. */
static long claim(ug_pool *p, size_t want, uint64_t *first) {
    unsigned spins = BACKOFF_FIRST;
    uint64_t t = atomic_load_explicit(&p->tail, memory_order_relaxed);
    for (;;) {
        if (t & CLOSED)
            return UG_ESHUTDOWN;
        uint64_t pos = t >> 1;
        size_t k = 0;
        uint64_t seq;
        while ((seq = atomic_load_explicit(&p->ring[(pos + k) & p->mask].seq,
                                           memory_order_acquire)) == 2 * (pos + k) &&
               ++k < want)
            ;
        if (k == 0 && seq < 2 * pos)
            return UG_EFULL; /* the cell still holds a task of the last lap */
        if (k == 0)
            t = atomic_load_explicit(&p->tail, memory_order_relaxed);
        else if (atomic_compare_exchange_weak_explicit(
                     &p->tail, &t, t + 2 * k, memory_order_seq_cst,
                     memory_order_relaxed)) {
            *first = pos;
            return (long)k;
        } else {
            backoff(&spins);
        }
    }
}

/* Writes a claimed cell and hands it to the workers. */
static void publish(ug_pool *p, uint64_t pos, const ug_task *task,
                    ug_future *f) {
    struct cell *c = &p->ring[pos & p->mask];
    c->slot.task = *task;
    c->slot.future = f;
    atomic_store_explicit(&c->seq, 2 * pos + 1, memory_order_release);
}

/* The producer's half of the sleep protocol, after publishing `n` tasks:
 * wakes up to `n` sleeping workers. */
static void wake_workers(ug_pool *p, size_t n) {
    if (!atomic_load_explicit(&p->idle_workers, memory_order_seq_cst))
        return;
    pthread_mutex_lock(&p->lock);
    for (; n && atomic_load_explicit(&p->idle_workers, memory_order_relaxed); n--) {
        atomic_fetch_sub_explicit(&p->idle_workers, 1, memory_order_relaxed);
        pthread_cond_signal(&p->not_empty);
    }
    pthread_mutex_unlock(&p->lock);
}

/* Takes up to `max` (>= 1) consecutive ready cells below position `end`
 * into `out`, frees them, and wakes blocked submitters.  Returns how many
 * (0 when none is ready) and sets *first. */
static size_t take(ug_pool *p, struct slot *out, size_t max, uint64_t end,
                   uint64_t *first) {
    unsigned spins = BACKOFF_FIRST;
    uint64_t h = atomic_load_explicit(&p->head, memory_order_relaxed);
    size_t k;
    for (;;) {
        if (h >= end)
            return 0;
        if (max > end - h)
            max = (size_t)(end - h);
        k = 0;
        uint64_t seq;
        while ((seq = atomic_load_explicit(&p->ring[(h + k) & p->mask].seq,
                                           memory_order_acquire)) == 2 * (h + k) + 1 &&
               ++k < max)
            ;
        if (k == 0 && seq < 2 * h + 1)
            return 0; /* empty, or its producer is still writing it */
        if (k == 0)
            h = atomic_load_explicit(&p->head, memory_order_relaxed);
        else if (atomic_compare_exchange_weak_explicit(
                     &p->head, &h, h + k, memory_order_seq_cst,
                     memory_order_relaxed))
            break;
        else
            backoff(&spins);
    }
    for (size_t i = 0; i < k; i++) {
        struct cell *c = &p->ring[(h + i) & p->mask];
        out[i] = c->slot;
        atomic_store_explicit(&c->seq, 2 * (h + i + p->mask + 1),
                              memory_order_release);
    }
    *first = h;
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&p->full_waiters, memory_order_relaxed)) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_broadcast(&p->not_full);
        pthread_mutex_unlock(&p->lock);
    }
    return k;
}

/* Tasks finished (run or discarded) so far. */
static uint64_t finished(ug_pool *p) {
    uint64_t n = atomic_load_explicit(&p->discarded, memory_order_acquire);
    for (unsigned i = 0; i < p->nworkers; i++)
        n += atomic_load_explicit(&p->stats[i].completed, memory_order_acquire);
    return n;
}

/* No task queued or running (see "Accounting" above). */
static bool pool_idle(ug_pool *p) {
    uint64_t done = finished(p);
    return done == atomic_load_explicit(&p->tail, memory_order_acquire) >> 1;
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

/* A worker's share of the queue: a sixteenth of it split between the
 * workers, so that long tasks spread over all of them. */
static size_t worker_share(ug_pool *p) {
    uint64_t h = atomic_load_explicit(&p->head, memory_order_relaxed);
    uint64_t queued = (atomic_load_explicit(&p->tail, memory_order_relaxed) >> 1) - h;
    uint64_t share = queued / (16 * (uint64_t)p->nworkers);
    return share < 1 ? 1 : share > BATCH_MAX ? BATCH_MAX : (size_t)share;
}

/* Looks for a ready task, yielding so that a producer sharing this CPU
 * runs, for up to IDLE_SPIN_NS. */
static void idle_spin(ug_pool *p) {
    uint64_t until = ug_clock_ns() + IDLE_SPIN_NS;
    do {
        sched_yield();
        uint64_t h = atomic_load_explicit(&p->head, memory_order_relaxed);
        if (atomic_load_explicit(&p->ring[h & p->mask].seq,
                                 memory_order_relaxed) == 2 * h + 1)
            return;
    } while (ug_clock_ns() < until);
}

/* The worker's half of the sleep protocol: sleeps until signalled unless a
 * task has been claimed meanwhile.  Returns false once the pool is shut
 * down and every claimed task taken. */
static bool wait_for_work(ug_pool *p, struct worker_stats *ws) {
    pthread_mutex_lock(&p->lock);
    atomic_fetch_add_explicit(&p->idle_workers, 1, memory_order_seq_cst);
    uint64_t t = atomic_load_explicit(&p->tail, memory_order_seq_cst);
    bool drained = t >> 1 == atomic_load_explicit(&p->head, memory_order_relaxed);
    if (drained && !(t & CLOSED)) {
        ws->idle_waits++;
        if (p->idle_waiters && pool_idle(p))
            pthread_cond_broadcast(&p->idle);
        pthread_cond_wait(&p->not_empty, &p->lock);
    } else {
        atomic_fetch_sub_explicit(&p->idle_workers, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&p->lock);
    return !(drained && (t & CLOSED));
}

/* Runs (or, if cancelled meanwhile, discards) the batch taken at `first`. */
static void run_batch(ug_pool *p, struct worker_stats *ws, struct slot *batch,
                      size_t k, uint64_t first) {
    for (size_t i = 0; i < k; i++) {
        if (first + i <
            atomic_load_explicit(&p->cancel_upto, memory_order_relaxed))
            slot_discard(&batch[i]);
        else
            slot_run(p, &batch[i]);
    }
    uint64_t done = atomic_load_explicit(&ws->completed, memory_order_relaxed);
    atomic_store_explicit(&ws->completed, done + k, memory_order_release);
}

static void *worker_main(void *argp) {
    struct worker_start *start = argp;
    ug_pool *p = start->pool;
    unsigned index = start->index;
    free(start);
    struct worker_stats *ws = &p->stats[index];
    current_pool = p;
    if (p->opts.trace) {
        char lane[96];
        snprintf(lane, sizeof lane, "%s %u", p->name, index);
        ug_trace_name_thread(p->opts.trace, lane);
    }
    if (p->opts.thread_start)
        p->opts.thread_start(p->opts.thread_ctx, index);

    struct slot batch[BATCH_MAX];
    bool spun = false;
    for (;;) {
        uint64_t first;
        size_t k = take(p, batch, worker_share(p), UINT64_MAX, &first);
        if (k) {
            run_batch(p, ws, batch, k, first);
            spun = false;
        } else if (!spun) {
            idle_spin(p);
            spun = true;
        } else if (wait_for_work(p, ws)) {
            spun = false;
        } else {
            break; /* shut down and drained */
        }
    }

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

/* Memory aligned to a cache line, zeroed, or NULL. */
static void *alloc_lines(size_t size) {
    size = (size + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE;
    void *m = aligned_alloc(CACHE_LINE, size);
    if (m)
        memset(m, 0, size);
    return m;
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
    free(p->stats);
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

    ug_pool *p = alloc_lines(sizeof *p);
    if (!p)
        return UG_ENOMEM;
    p->opts = *opts;
    p->nworkers = opts->workers ? opts->workers : online_cpus();
    size_t cap = round_pow2(opts->queue_capacity ? opts->queue_capacity
                                                 : DEFAULT_CAPACITY);
    p->mask = cap - 1;
    p->ring = malloc(cap * sizeof *p->ring);
    p->stats = alloc_lines(p->nworkers * sizeof *p->stats);
    p->threads = calloc(p->nworkers, sizeof *p->threads);
    p->name = strdup(opts->name ? opts->name : "worker");
    if (!p->ring || !p->stats || !p->threads || !p->name) {
        free(p->ring);
        free(p->stats);
        free(p->threads);
        free(p->name);
        free(p);
        return UG_ENOMEM;
    }
    for (size_t i = 0; i < cap; i++)
        atomic_init(&p->ring[i].seq, 2 * (uint64_t)i);
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
        atomic_fetch_or(&p->tail, CLOSED);
        pthread_mutex_lock(&p->lock);
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

/* The blocked producer's half of its protocol: waits until the cell at the
 * tail is free (or claimed by another producer).  Returns 0 or
 * UG_ESHUTDOWN. */
static int wait_for_room(ug_pool *p) {
    int rc = 0;
    pthread_mutex_lock(&p->lock);
    atomic_fetch_add_explicit(&p->full_waiters, 1, memory_order_seq_cst);
    p->submit_waits++;
    for (;;) {
        uint64_t t = atomic_load_explicit(&p->tail, memory_order_seq_cst);
        if (t & CLOSED) {
            rc = UG_ESHUTDOWN;
            break;
        }
        uint64_t pos = t >> 1;
        if (atomic_load_explicit(&p->ring[pos & p->mask].seq,
                                 memory_order_seq_cst) >= 2 * pos)
            break;
        pthread_cond_wait(&p->not_full, &p->lock);
    }
    atomic_fetch_sub_explicit(&p->full_waiters, 1, memory_order_relaxed);
    pthread_mutex_unlock(&p->lock);
    return rc;
}

/* Claims up to `want` cells, waiting for room if `may_block`.  Returns
 * how many and sets *first, or UG_EFULL or UG_ESHUTDOWN. */
static long claim_or_wait(ug_pool *p, size_t want, bool may_block,
                          uint64_t *first) {
    for (;;) {
        long rc = claim(p, want, first);
        if (rc != UG_EFULL || !may_block)
            return rc;
        rc = wait_for_room(p);
        if (rc)
            return rc;
    }
}

/* Queues tasks without futures, in runs of up to CLAIM_MAX cells.
 * Returns the number queued, or a negative code if none was. */
static long push_many(ug_pool *p, const ug_task *tasks, size_t n,
                      bool may_block) {
    size_t done = 0;
    long rc = 0;
    while (done < n) {
        uint64_t first;
        rc = claim_or_wait(p, n - done < CLAIM_MAX ? n - done : CLAIM_MAX,
                           may_block, &first);
        if (rc < 0)
            break;
        for (long i = 0; i < rc; i++)
            publish(p, first + (uint64_t)i, &tasks[done + (size_t)i], NULL);
        wake_workers(p, (size_t)rc);
        done += (size_t)rc;
    }
    return done ? (long)done : rc;
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
        atomic_init(&f->has_callbacks, false);
        f->status = 0;
        f->pool = p;
        f->callbacks = NULL;
    }
    uint64_t pos;
    long rc = claim_or_wait(p, 1, may_block, &pos);
    if (rc < 0) {
        free(f);
        return (int)rc;
    }
    publish(p, pos, task, f);
    wake_workers(p, 1);
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
    if (!n)
        return 0;
    return push_many(p, tasks, n, p->opts.submit_mode == UG_SUBMIT_BLOCK);
}

/* ---- cancelling, waiting, shutting down -------------------------------- */

size_t ug_pool_cancel_pending(ug_pool *p) {
    pthread_mutex_lock(&p->lock); /* keeps cancel_upto growing */
    uint64_t end = atomic_load_explicit(&p->tail, memory_order_seq_cst) >> 1;
    if (end > atomic_load_explicit(&p->cancel_upto, memory_order_relaxed))
        atomic_store_explicit(&p->cancel_upto, end, memory_order_seq_cst);
    pthread_mutex_unlock(&p->lock);

    size_t n = 0;
    struct slot batch[BATCH_MAX];
    while (atomic_load_explicit(&p->head, memory_order_relaxed) < end) {
        uint64_t first;
        size_t k = take(p, batch, BATCH_MAX, end, &first);
        if (!k) {
            sched_yield(); /* a producer is still writing the next cell */
            continue;
        }
        for (size_t i = 0; i < k; i++)
            slot_discard(&batch[i]);
        atomic_fetch_add_explicit(&p->discarded, k, memory_order_release);
        n += k;
    }

    pthread_mutex_lock(&p->lock);
    if (p->idle_waiters && pool_idle(p))
        pthread_cond_broadcast(&p->idle);
    pthread_mutex_unlock(&p->lock);
    return n;
}

int ug_pool_wait_idle(ug_pool *p, int64_t timeout_ns) {
    if (current_pool == p)
        return UG_EBUSY;
    uint64_t deadline = deadline_after(timeout_ns);
    int rc = 0;
    pthread_mutex_lock(&p->lock);
    p->idle_waiters++;
    while (!pool_idle(p) && p->live_workers) {
        if (cond_wait_until(&p->idle, &p->lock, deadline) == ETIMEDOUT &&
            !pool_idle(p) && p->live_workers) {
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
    atomic_fetch_or_explicit(&p->tail, CLOSED, memory_order_seq_cst);
    pthread_mutex_lock(&p->lock);
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
    while (atomic_load(&p->fut_waiters))
        pthread_cond_wait(&p->fut_cond, &p->fut_lock);
    pthread_mutex_unlock(&p->fut_lock);
    pool_destroy(p);
}

void ug_pool_stats_get(ug_pool *p, ug_pool_stats *out) {
    pthread_mutex_lock(&p->lock);
    uint64_t done = finished(p);
    uint64_t head = atomic_load_explicit(&p->head, memory_order_acquire);
    uint64_t tail = atomic_load_explicit(&p->tail, memory_order_acquire) >> 1;
    out->queued = (size_t)(tail - head);
    out->running = (size_t)(head - done);
    out->completed = done;
    out->submit_waits = p->submit_waits;
    out->idle_waits = 0;
    for (unsigned i = 0; i < p->nworkers; i++)
        out->idle_waits += p->stats[i].idle_waits;
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
        long k = push_many(p, tasks, batch, false);
        if (k > 0)
            queued += (size_t)k;
        if (k < (long)batch)
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
