/* ungil/pool.h - a fixed pool of worker threads pulling tasks from a queue.
 *
 * Workers pop tasks from one bounded multi-producer/multi-consumer queue (a
 * ring that submitting and popping use without a lock while there is work
 * and room) and run them.  A task is a function, an argument and an
 * optional `discard` function that frees the argument if the task never
 * runs.  Submitting may return a future: a handle to wait on (with a
 * timeout), to read the task's status from, to cancel before the task
 * starts, and to hang completion callbacks on.
 *
 * Ownership: a task's argument belongs to the pool from a successful submit
 * until exactly one of `fn` (the task ran) or `discard` (it was cancelled)
 * has been called with it.  A future carries one reference for the caller,
 * released with ug_future_release; the pool keeps its own until the task is
 * finished or cancelled.  A finished future stays valid after the pool is
 * freed.
 *
 * Thread-safety: every function may be called from any thread, workers
 * included, except ug_pool_free, which must not be called from a worker of
 * the same pool.  Callbacks (task functions, discard, completion callbacks,
 * thread hooks) are never called with a pool lock held, so they may submit,
 * wait or cancel; a task that waits for another task of the same pool can
 * deadlock a pool whose workers all do so (ug_parallel_for avoids that by
 * making the caller work too).
 */
#ifndef UNGIL_POOL_H
#define UNGIL_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "ungil/trace.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ug_pool ug_pool;
typedef struct ug_future ug_future;

/* A task: returns 0 or a negative code, which becomes the future's status.
 * It owns `arg` from the moment it is called. */
typedef int (*ug_task_fn)(void *arg);

/* A task label that records nothing in the trace: for tasks that record
 * finer events themselves (parallel_for's helpers record each chunk). */
#define UG_TRACE_NONE UINT32_MAX

/* What a submitter hands the pool. */
typedef struct ug_task {
    ug_task_fn fn;                /* required */
    void *arg;
    void (*discard)(void *arg);   /* called instead of fn if cancelled; may be NULL */
    uint32_t label;               /* ug_trace_label id, 0 = "task", or UG_TRACE_NONE */
} ug_task;

enum ug_submit_mode {
    UG_SUBMIT_BLOCK = 0, /* a full queue makes submit wait for room */
    UG_SUBMIT_FAIL = 1   /* a full queue makes submit return UG_EFULL */
};

typedef struct ug_pool_options {
    unsigned workers;        /* 0 = one per online CPU */
    size_t queue_capacity;   /* 0 = 65536; rounded up to a power of two */
    int submit_mode;         /* enum ug_submit_mode */
    ug_trace *trace;         /* record every task; borrowed, may be NULL */
    const char *name;        /* lane name prefix in the trace, default "worker" */
    /* Called on each worker thread when it starts and before it exits, with
     * the worker's index; the binding uses them to attach a thread to an
     * interpreter.  May be NULL. */
    void (*thread_start)(void *ctx, unsigned index);
    void (*thread_stop)(void *ctx, unsigned index);
    void *thread_ctx;
} ug_pool_options;

/* Fills `opts` with the defaults. */
void ug_pool_options_init(ug_pool_options *opts);

/* Starts a pool.  `opts` may be NULL for the defaults.  Returns 0 and sets
 * *out, UG_EINVAL, UG_ENOMEM or UG_ETHREAD (no thread is left running on
 * failure). */
int ug_pool_new(const ug_pool_options *opts, ug_pool **out);

/* Shuts the pool down (as ug_pool_shutdown with wait=1, cancel=0), joins
 * every worker and frees the pool.  Tasks still queued run first.  NULL is
 * harmless.  Never call it from one of the pool's own workers, nor while
 * another thread may still call ug_future_wait, _cancel or _on_done on one
 * of its futures that had not finished when it was called. */
void ug_pool_free(ug_pool *pool);

/* Number of worker threads. */
unsigned ug_pool_workers(const ug_pool *pool);

/* Queues `task`.  If `future` is not NULL, *future receives a new future
 * (one reference, for the caller).  Returns 0, UG_ESHUTDOWN after shutdown,
 * UG_EFULL when the queue is full in UG_SUBMIT_FAIL mode, UG_EINVAL or
 * UG_ENOMEM.  On failure the task is not queued and its argument stays with
 * the caller.  May block in UG_SUBMIT_BLOCK mode. */
int ug_pool_submit(ug_pool *pool, const ug_task *task, ug_future **future);

/* As ug_pool_submit, but never blocks: a full queue gives UG_EFULL in
 * either mode.  Callers that hold a lock the workers need (the Python
 * binding holds the GIL) try this first and block only after dropping it. */
int ug_pool_try_submit(ug_pool *pool, const ug_task *task, ug_future **future);

/* Queues `n` tasks without futures, claiming runs of queue slots at once.
 * Blocks for room as needed in UG_SUBMIT_BLOCK mode.  Returns the number queued (the
 * first ones; fewer than n only after shutdown, or when the queue filled in
 * UG_SUBMIT_FAIL mode) or a negative code if none was. */
long ug_pool_submit_many(ug_pool *pool, const ug_task *tasks, size_t n);

/* Cancels every queued task that has not started: each is discarded and its
 * future, if any, completes as cancelled.  Running tasks are not touched.
 * Returns the number cancelled. */
size_t ug_pool_cancel_pending(ug_pool *pool);

/* Stops accepting tasks.  With `cancel`, queued tasks are cancelled first.
 * With `wait`, blocks until every worker has finished (queued tasks run
 * unless cancelled); without, returns at once.  Idempotent; later calls may
 * add cancel or wait.  Returns 0, or UG_EBUSY when asked to wait from one of
 * the pool's own workers (it is shut down, but cannot wait for itself). */
int ug_pool_shutdown(ug_pool *pool, int wait, int cancel);

/* Waits until the pool has no queued and no running task, or `timeout_ns`
 * passes (negative = forever).  Returns 0, UG_ETIMEDOUT, or UG_EBUSY at once
 * when called from one of the pool's own workers (it would wait for
 * itself).  Used to wait in slices, checking for interrupts between them. */
int ug_pool_wait_idle(ug_pool *pool, int64_t timeout_ns);

/* Statistics, for benchmarks and tests: tasks queued right now, running
 * right now, and completed (run or cancelled) since creation. */
typedef struct ug_pool_stats {
    size_t queued;
    size_t running;
    uint64_t completed;
    uint64_t submit_waits; /* submits that had to wait for room */
    uint64_t idle_waits;   /* times a worker went to sleep on an empty queue */
} ug_pool_stats;
void ug_pool_stats_get(ug_pool *pool, ug_pool_stats *out);

/* Future states. */
enum ug_future_state {
    UG_FUTURE_PENDING = 0,
    UG_FUTURE_RUNNING = 1,
    UG_FUTURE_DONE = 2,
    UG_FUTURE_CANCELLED = 3
};

/* Called once when a future finishes (done or cancelled), on the thread
 * that finished it, or at once on the caller's thread if it already has. */
typedef void (*ug_future_cb)(ug_future *future, void *ctx);

/* The current state (enum ug_future_state). */
int ug_future_state(const ug_future *future);

/* The task's return value once done, UG_ECANCELED if cancelled, UG_EBUSY if
 * not finished yet. */
int ug_future_status(const ug_future *future);

/* Waits until the future is done or cancelled, or `timeout_ns` passes
 * (negative = forever).  Returns 0 or UG_ETIMEDOUT. */
int ug_future_wait(ug_future *future, int64_t timeout_ns);

/* Cancels a task that has not started: the future completes as cancelled
 * at once (callbacks run on the caller's thread); the task's argument is
 * discarded later, on whichever thread takes the task off the queue (often
 * a worker).  Returns 0, or UG_EBUSY if the task is already running or
 * finished. */
int ug_future_cancel(ug_future *future);

/* Adds a completion callback; runs it at once if the future has finished.
 * Returns 0 or UG_ENOMEM. */
int ug_future_on_done(ug_future *future, ug_future_cb cb, void *ctx);

/* Drops the caller's reference.  NULL is harmless. */
void ug_future_release(ug_future *future);

/* Body of a parallel loop: handles indices [begin, end); returns 0 or a
 * negative code, which stops the loop. */
typedef int (*ug_range_fn)(void *ctx, size_t begin, size_t end);

/* Runs body over [0, n) in chunks of `grain` indices (0 = about four chunks
 * per worker) on the pool's workers and on the calling thread, which works
 * too, so calling it from a worker cannot deadlock.  Blocks until every
 * chunk has finished.  Each chunk is recorded in the pool's trace under the
 * label "parallel_for".  Returns 0, the first non-zero value a body
 * returned (later chunks are skipped), UG_ENOMEM, or UG_EINVAL.  A shut-down
 * pool runs every chunk on the calling thread.  `pool` may be NULL: then the
 * calling thread runs the whole loop. */
int ug_parallel_for(ug_pool *pool, size_t n, size_t grain, ug_range_fn body,
                    void *ctx);

#ifdef __cplusplus
}
#endif

#endif
