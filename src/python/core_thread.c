/* core_thread.c - a core run on a native thread of its own, the GIL never
 * held by it: the thread behind _Download, _Crawl and _Pictures.  See
 * binding.h. */
#include "binding.h"

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

int ub_core_thread_poll(void *ctx, int64_t slice_ns) {
    ub_core_thread *t = ctx;
    uint64_t deadline;
    struct timespec ts = ub_cond_deadline(slice_ns, &deadline);
    pthread_mutex_lock(&t->lock);
    while (!t->finished && ug_clock_ns() < deadline)
        pthread_cond_timedwait(&t->cond, &t->lock, &ts);
    int done = t->finished;
    pthread_mutex_unlock(&t->lock);
    return done;
}

void ub_core_thread_destroy(ub_core_thread *t) {
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->cond);
}
