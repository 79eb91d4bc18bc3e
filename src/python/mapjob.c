/* mapjob.c - Pool.map without a future per item.
 *
 * A map job is a ring of entries (argument tuple in, result or exception
 * out) plus a few pool tasks called runners.  A runner takes the GIL once
 * and then claims chunks of `chunksize` entries and calls fn on each, until
 * no entry is left; so a trivial fn costs one vectorcall and a few stores,
 * and the GIL changes hands only when fn releases it (I/O) or every
 * switch interval (runners drop it voluntarily, since C callables never
 * reach the interpreter's own switch point).  The consumer, the iterator
 * that Pool.map returns, yields entries in input order, waiting for each
 * with the GIL released and interruptibly.
 *
 * Concurrency: every field but `completions`, `waiting` and the condition
 * is touched only with the GIL held, which is what orders runners,
 * consumers and cancellation.  A runner may drop the GIL inside fn, so it
 * re-reads the ring (which may have grown) after each call.  Runners bump
 * `completions` after each chunk and broadcast only when a consumer says it
 * is waiting.
 *
 * Lazy maps (buffersize > 0) keep at most buffersize entries in flight and
 * pull the next argument tuple from the source before waiting for each
 * result, as concurrent.futures does since Python 3.14; eager maps pull the
 * whole source when created.
 */
#include "binding.h"

#include <structmember.h>

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

enum { E_QUEUED, E_RUNNING, E_OK, E_ERROR, E_CANCELLED };

/* Runners hand the GIL over at least this often when fn never does. */
enum { GIL_SLICE_NS = 5 * 1000 * 1000 };

typedef struct {
    PyObject *args;  /* tuple while queued */
    PyObject *value; /* result (E_OK) or exception (E_ERROR) */
    int state;
} Entry;

typedef struct {
    PyObject_HEAD
    ub_pool_object *pool;
    PyObject *owner; /* the ungil.Pool, kept alive (and so waited for at
                      * exit) while the job runs */
    PyObject *fn;
    PyObject *source; /* iterator of argument tuples, NULL when drained */
    Entry *ring;
    uint64_t mask;
    uint64_t base;     /* first entry not yet yielded */
    uint64_t next_run; /* first entry no runner has claimed */
    uint64_t appended; /* one past the last entry */
    Py_ssize_t chunksize, buffersize;
    uint64_t deadline;
    unsigned long epoch;
    unsigned max_runners, active_runners;
    int closed;
    char interrupted; /* a signal (Ctrl-C) ended a wait, not an item */
    ug_trace *trace;
    uint32_t label;
    atomic_uint_fast64_t completions;
    atomic_int waiting;
    pthread_mutex_t lock;
    pthread_cond_t cond;
} MapJob;

int ub_pool_submit_task(ub_pool_object *self, const ug_task *task);

static Entry *entry_at(MapJob *job, uint64_t index) {
    return &job->ring[index & job->mask];
}

static void notify(MapJob *job) {
    atomic_fetch_add(&job->completions, 1);
    if (atomic_load(&job->waiting)) {
        pthread_mutex_lock(&job->lock);
        pthread_cond_broadcast(&job->cond);
        pthread_mutex_unlock(&job->lock);
    }
}

/* Cancels every unclaimed entry and stops taking more.  GIL held. */
static void close_job(MapJob *job) {
    if (job->closed)
        return;
    job->closed = 1;
    for (uint64_t i = job->next_run; i < job->appended; i++) {
        Entry *e = entry_at(job, i);
        Py_CLEAR(e->args);
        e->state = E_CANCELLED;
    }
    job->next_run = job->appended;
    Py_CLEAR(job->source);
    notify(job);
}

static int stale(MapJob *job) {
    return job->epoch != ub_pool_epoch(job->pool);
}

/* ---- runners (pool tasks) --------------------------------------------- */

static void run_entry(MapJob *job, uint64_t index) {
    Entry *e = entry_at(job, index);
    PyObject *args = e->args;
    e->args = NULL;
    e->state = E_RUNNING;
    PyObject *res = PyObject_Vectorcall(job->fn, &PyTuple_GET_ITEM(args, 0),
                                        (size_t)PyTuple_GET_SIZE(args), NULL);
    e = entry_at(job, index); /* fn may have let the ring grow */
    if (res) {
        e->value = res;
        e->state = E_OK;
    } else {
        e->value = ub_fetch_exception();
        e->state = E_ERROR;
    }
    Py_DECREF(args);
}

static int runner_run(void *arg) {
    MapJob *job = arg;
    if (ub_finalizing())
        return 0;
    PyGILState_STATE g = PyGILState_Ensure();
    uint64_t slice_start = ug_clock_ns();
    while (!job->closed && job->next_run < job->appended) {
        if (stale(job)) {
            close_job(job);
            break;
        }
        uint64_t first = job->next_run;
        uint64_t last = job->appended - first > (uint64_t)job->chunksize
                            ? first + (uint64_t)job->chunksize
                            : job->appended;
        job->next_run = last;
        uint64_t t0 = ug_clock_ns();
        for (uint64_t i = first; i < last; i++)
            run_entry(job, i);
        uint64_t t1 = ug_clock_ns();
        if (job->trace)
            ug_trace_record(job->trace, job->label, t0, t1, last - first);
        notify(job);
        if (t1 - slice_start >= GIL_SLICE_NS) {
            Py_BEGIN_ALLOW_THREADS
            Py_END_ALLOW_THREADS
            slice_start = ug_clock_ns();
        }
    }
    job->active_runners--;
    Py_DECREF(job);
    PyGILState_Release(g);
    return 0;
}

static void runner_discard(void *arg) {
    MapJob *job = arg;
    if (ub_finalizing())
        return;
    PyGILState_STATE g = PyGILState_Ensure();
    job->active_runners--;
    notify(job); /* a consumer may now need to start another runner */
    Py_DECREF(job);
    PyGILState_Release(g);
}

/* Starts runners until there is one per worker or per unclaimed chunk.
 * Returns 0 or a UG_E... code when none could start (a shut-down pool). */
static int spawn_runners(MapJob *job) {
    uint64_t pending = job->appended - job->next_run;
    uint64_t chunks = (pending + (uint64_t)job->chunksize - 1) /
                      (uint64_t)job->chunksize;
    while (job->active_runners < job->max_runners &&
           job->active_runners < chunks) {
        ug_task task = {.fn = runner_run, .arg = job, .discard = runner_discard,
                        .label = UG_TRACE_NONE};
        Py_INCREF(job);
        job->active_runners++;
        int rc = ub_pool_submit_task(job->pool, &task);
        if (rc) {
            job->active_runners--;
            Py_DECREF(job);
            return job->active_runners ? 0 : rc;
        }
    }
    return 0;
}

/* ---- filling the ring ------------------------------------------------- */

static int grow(MapJob *job) {
    uint64_t cap = job->mask + 1, in_ring = job->appended - job->base;
    if (in_ring < cap)
        return 0;
    Entry *ring = PyMem_Calloc((size_t)cap * 2, sizeof *ring);
    if (!ring) {
        PyErr_NoMemory();
        return -1;
    }
    for (uint64_t i = job->base; i < job->appended; i++)
        ring[i & (cap * 2 - 1)] = job->ring[i & job->mask];
    PyMem_Free(job->ring);
    job->ring = ring;
    job->mask = cap * 2 - 1;
    return 0;
}

/* Appends up to `limit` tuples from the source (all when limit < 0).
 * Returns 0, or -1 with an exception from the source. */
static int pull(MapJob *job, Py_ssize_t limit) {
    while (job->source && limit != 0) {
        PyObject *item = PyIter_Next(job->source);
        if (!item) {
            Py_CLEAR(job->source);
            return PyErr_Occurred() ? -1 : 0;
        }
        if (!PyTuple_Check(item)) {
            Py_DECREF(item);
            PyErr_SetString(PyExc_TypeError, "map source must yield tuples");
            return -1;
        }
        if (grow(job) < 0) {
            Py_DECREF(item);
            return -1;
        }
        Entry *e = entry_at(job, job->appended++);
        e->args = item;
        e->value = NULL;
        e->state = E_QUEUED;
        if (limit > 0)
            limit--;
    }
    return 0;
}

PyObject *ub_mapjob_new(ub_state *st, ub_pool_object *pool, PyObject *owner,
                        PyObject *fn, PyObject *source, Py_ssize_t chunksize,
                        Py_ssize_t buffersize, uint64_t deadline) {
    PyObject *iter = PyObject_GetIter(source);
    if (!iter)
        return NULL;
    MapJob *job = PyObject_GC_New(MapJob, st->mapjob_type);
    if (!job) {
        Py_DECREF(iter);
        return NULL;
    }
    job->pool = (ub_pool_object *)Py_NewRef(pool);
    job->owner = Py_NewRef(owner);
    job->fn = Py_NewRef(fn);
    job->source = iter;
    job->mask = 63;
    job->ring = PyMem_Calloc(64, sizeof *job->ring);
    job->base = job->next_run = job->appended = 0;
    job->chunksize = chunksize;
    job->buffersize = buffersize;
    job->deadline = deadline;
    job->epoch = ub_pool_epoch(pool);
    job->max_runners = ug_pool_workers(ub_pool_native(pool));
    job->active_runners = 0;
    job->closed = 0;
    job->interrupted = 0;
    job->trace = ub_pool_trace(pool);
    job->label = job->trace ? ub_label_for(job->trace, fn) : 0;
    atomic_init(&job->completions, 0);
    atomic_init(&job->waiting, 0);
    ub_cond_init_monotonic(&job->cond);
    pthread_mutex_init(&job->lock, NULL);
    PyObject_GC_Track(job);
    if (!job->ring) {
        Py_DECREF(job);
        return PyErr_NoMemory();
    }
    if (pull(job, buffersize ? buffersize : -1) < 0) {
        Py_DECREF(job);
        return NULL;
    }
    int rc = spawn_runners(job);
    if (rc) {
        Py_DECREF(job);
        return ub_raise(rc);
    }
    return (PyObject *)job;
}

/* ---- consuming -------------------------------------------------------- */

struct wait_ctx {
    MapJob *job;
    uint64_t seen;
};

/* Blocks, without the GIL, until a chunk completes or the slice ends. */
static int poll_completion(void *arg, int64_t slice_ns) {
    struct wait_ctx *w = arg;
    MapJob *job = w->job;
    uint64_t deadline;
    struct timespec ts = ub_cond_deadline(slice_ns, &deadline);
    pthread_mutex_lock(&job->lock);
    atomic_fetch_add(&job->waiting, 1);
    while (atomic_load(&job->completions) == w->seen &&
           ug_clock_ns() < deadline)
        pthread_cond_timedwait(&job->cond, &job->lock, &ts);
    atomic_fetch_sub(&job->waiting, 1);
    pthread_mutex_unlock(&job->lock);
    return atomic_load(&job->completions) != w->seen;
}

static PyObject *job_next(MapJob *job) {
    if (job->buffersize && !job->closed) {
        /* Keep the buffer full: one new entry before waiting for the next. */
        if (pull(job, 1) < 0)
            return NULL;
    }
    if (job->base == job->appended)
        return NULL; /* StopIteration */
    Entry *e = entry_at(job, job->base);
    while (e->state == E_QUEUED || e->state == E_RUNNING) {
        if (!job->closed && stale(job))
            close_job(job);
        else if (e->state == E_QUEUED) {
            int rc = spawn_runners(job);
            if (rc) {
                close_job(job);
                return ub_raise(rc);
            }
        }
        if (e->state != E_QUEUED && e->state != E_RUNNING)
            break;
        struct wait_ctx w = {job, atomic_load(&job->completions)};
        int rc = ub_wait(poll_completion, &w, job->deadline);
        if (rc < 0) {
            job->interrupted = 1;
            return NULL;
        }
        if (rc == 0) {
            PyErr_SetNone(PyExc_TimeoutError);
            return NULL;
        }
        e = entry_at(job, job->base);
    }
    job->base++;
    PyObject *value = e->value;
    e->value = NULL;
    switch (e->state) {
    case E_OK:
        return value;
    case E_ERROR:
        ub_restore_exception(value);
        Py_DECREF(value);
        return NULL;
    default:
        return ub_raise(UG_ECANCELED);
    }
}

static PyObject *job_cancel(MapJob *job, PyObject *unused) {
    close_job(job);
    Py_RETURN_NONE;
}

static int job_traverse(MapJob *job, visitproc visit, void *arg) {
    Py_VISIT(Py_TYPE(job));
    Py_VISIT(job->pool);
    Py_VISIT(job->owner);
    Py_VISIT(job->fn);
    Py_VISIT(job->source);
    if (job->ring) {
        for (uint64_t i = job->base; i < job->appended; i++) {
            Py_VISIT(entry_at(job, i)->args);
            Py_VISIT(entry_at(job, i)->value);
        }
    }
    return 0;
}

static int job_clear(MapJob *job) {
    if (job->ring) {
        for (uint64_t i = job->base; i < job->appended; i++) {
            Py_CLEAR(entry_at(job, i)->args);
            Py_CLEAR(entry_at(job, i)->value);
        }
    }
    Py_CLEAR(job->source);
    Py_CLEAR(job->fn);
    Py_CLEAR(job->owner);
    Py_CLEAR(job->pool);
    return 0;
}

static void job_dealloc(MapJob *job) {
    PyTypeObject *tp = Py_TYPE(job);
    PyObject_GC_UnTrack(job);
    job_clear(job);
    PyMem_Free(job->ring);
    pthread_mutex_destroy(&job->lock);
    pthread_cond_destroy(&job->cond);
    PyObject_GC_Del(job);
    Py_DECREF(tp);
}

static PyMethodDef job_methods[] = {
    {"cancel", (PyCFunction)job_cancel, METH_NOARGS,
     "cancel()\n--\n\nCancel every item not started yet."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef job_members[] = {
    {"interrupted", T_BOOL, offsetof(MapJob, interrupted), READONLY,
     "True once a signal (Ctrl-C) interrupted a wait for a result; false "
     "when a KeyboardInterrupt came from an item itself."},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot job_slots[] = {
    {Py_tp_members, job_members},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, job_next},
    {Py_tp_methods, job_methods},
    {Py_tp_traverse, job_traverse},
    {Py_tp_clear, job_clear},
    {Py_tp_dealloc, job_dealloc},
    {Py_tp_doc, "An in-progress Pool.map: iterate it for the results in order."},
    {0, NULL},
};

static PyType_Spec job_spec = {
    .name = "ungil._ungil.MapJob",
    .basicsize = sizeof(MapJob),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = job_slots,
};

int ub_mapjob_init_type(PyObject *module, ub_state *st) {
    st->mapjob_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(module, &job_spec, NULL);
    if (!st->mapjob_type)
        return -1;
    return PyModule_AddType(module, st->mapjob_type);
}
