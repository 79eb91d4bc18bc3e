/* core_thread.c - a core run on a native thread of its own, the GIL never
 * held by it, and the queue of records it hands to Python: the thread
 * behind _Download, _Crawl and _Pictures.  See binding.h. */
#include "binding.h"

#include <stdbool.h>
#include <string.h>

void ub_core_thread_init(ub_core_thread *t) {
    pthread_mutex_init(&t->lock, NULL);
    ub_cond_init_monotonic(&t->cond);
}

static void *thread_main(void *arg) {
    ub_core_thread *t = arg;
    int rc = t->run(t->ctx, &t->cancel);
    pthread_mutex_lock(&t->lock);
    t->rc = rc;
    t->finished = 1;
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

int ub_core_thread_start(ub_core_thread *t,
                         int (*run)(void *ctx, const int *cancel),
                         void *ctx) {
    t->run = run;
    t->ctx = ctx;
    if (pthread_create(&t->thread, NULL, thread_main, t))
        return UG_ETHREAD;
    t->started = 1;
    return 0;
}

void ub_core_thread_stop(ub_core_thread *t) {
    if (t->started && !t->joined)
        __atomic_store_n(&t->cancel, 1, __ATOMIC_RELAXED);
    ub_core_thread_join(t);
}

void ub_core_thread_join(ub_core_thread *t) {
    if (!t->started || t->joined)
        return;
    pthread_join(t->thread, NULL);
    t->joined = 1;
}

void ub_core_thread_push(ub_core_thread *t, ub_record *rec) {
    rec->next = NULL;
    pthread_mutex_lock(&t->lock);
    if (t->tail)
        t->tail->next = rec;
    else
        t->head = rec;
    t->tail = rec;
    /* Otherwise the consumer finds it when it looks, or with the batch. */
    if (++t->queued >= t->batch && t->waiting)
        pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->lock);
}

void ub_core_thread_put_progress(ub_core_thread *t, void *dst,
                                 const void *src, size_t size) {
    pthread_mutex_lock(&t->lock);
    memcpy(dst, src, size);
    t->progress_new = 1;
    if (t->waiting)
        pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->lock);
}

int ub_core_thread_take_progress(ub_core_thread *t, void *out,
                                 const void *src, size_t size) {
    pthread_mutex_lock(&t->lock);
    int fresh = t->progress_new;
    if (fresh)
        memcpy(out, src, size);
    t->progress_new = 0;
    pthread_mutex_unlock(&t->lock);
    return fresh;
}

int ub_core_thread_poll(void *ctx, int64_t slice_ns) {
    ub_core_thread *t = ctx;
    uint64_t deadline;
    struct timespec ts = ub_cond_deadline(slice_ns, &deadline);
    pthread_mutex_lock(&t->lock);
    t->waiting = 1;
    while (!t->head && !t->finished && !t->progress_new &&
           ug_clock_ns() < deadline)
        pthread_cond_timedwait(&t->cond, &t->lock, &ts);
    t->waiting = 0;
    int ready = t->head || t->finished || t->progress_new;
    pthread_mutex_unlock(&t->lock);
    return ready;
}

/* Takes the oldest queued record (all of them when `all`), as a list
 * through ->next, with the run's state at that moment. */
static ub_record *take(ub_core_thread *t, bool all, int *finished, int *rc,
                       int *progress) {
    pthread_mutex_lock(&t->lock);
    ub_record *first = t->head;
    if (first && (all || !first->next)) {
        t->head = t->tail = NULL;
        t->queued = 0;
    } else if (first) {
        t->head = first->next;
        first->next = NULL;
        t->queued--;
    }
    *finished = t->finished;
    *rc = t->rc;
    *progress = t->progress_new;
    pthread_mutex_unlock(&t->lock);
    return first;
}

/* Waits (GIL released, interruptibly) for a record, progress or the end;
 * on Ctrl-C stops the run and returns -1 with the exception set. */
static int wait_for_more(ub_core_thread *t) {
    if (ub_wait(ub_core_thread_poll, t, 0) > 0)
        return 0;
    Py_BEGIN_ALLOW_THREADS
    ub_core_thread_stop(t);
    Py_END_ALLOW_THREADS
    return -1;
}

PyObject *ub_core_thread_next(ub_core_thread *t,
                              PyObject *(*convert)(void *owner,
                                                   ub_record *rec),
                              void (*release)(ub_record *rec), void *owner) {
    for (;;) {
        int finished, rc, progress;
        ub_record *rec = take(t, false, &finished, &rc, &progress);
        if (rec) {
            PyObject *obj = convert(owner, rec);
            release(rec);
            return obj;
        }
        if (finished) {
            if (rc && rc != UG_ECANCELED)
                return ub_raise(rc);
            return NULL; /* StopIteration */
        }
        if (progress)
            return Py_NewRef(Py_None); /* lets the caller draw progress */
        if (wait_for_more(t) < 0)
            return NULL;
    }
}

int ub_core_thread_collect(ub_core_thread *t,
                           int (*store)(void *owner, ub_record *rec),
                           void (*release)(ub_record *rec), void *owner) {
    for (;;) {
        int finished, rc, progress;
        ub_record *rec = take(t, true, &finished, &rc, &progress);
        while (rec) {
            ub_record *next = rec->next;
            int failed = store(owner, rec);
            release(rec);
            rec = next;
            if (failed) {
                for (; rec; rec = next) {
                    next = rec->next;
                    release(rec);
                }
                return -1;
            }
        }
        if (finished) {
            if (rc && rc != UG_ECANCELED) {
                ub_raise(rc);
                return -1;
            }
            return 1;
        }
        if (progress)
            return 0;
        if (wait_for_more(t) < 0)
            return -1;
    }
}

void ub_core_thread_drop(ub_core_thread *t, void (*release)(ub_record *rec)) {
    while (t->head) {
        ub_record *next = t->head->next;
        release(t->head);
        t->head = next;
    }
    t->tail = NULL;
    t->queued = 0;
}

void ub_core_thread_destroy(ub_core_thread *t) {
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->cond);
}
