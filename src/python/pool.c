/* pool.c - the _Pool type: a ug_pool whose workers can run Python callables.
 *
 * Each worker attaches to the interpreter once, when it starts (a thread
 * state kept for its whole life), and then takes the GIL only around the
 * Python calls of a task.  A submitted call is a CallTask holding the
 * concurrent.futures.Future to complete; the Python layer (_pool.py) builds
 * the Executor API on top.
 *
 * Lifetime: a queued CallTask holds a reference to its _Pool, so the module
 * state it reads stays alive.  Dealloc never blocks: it shuts the pool down
 * and hands the join to a detached reaper thread, because the last
 * reference may be dropped on one of the pool's own workers (which cannot
 * join itself) or at interpreter exit (where a task may still be sleeping).
 */
#include "binding.h"

#include <pthread.h>

struct ub_pool_object {
    PyObject_HEAD
    ug_pool *pool;
    PyObject *trace_obj; /* the Trace recording this pool, or NULL */
    ug_trace *trace;
    unsigned workers;
    unsigned long epoch; /* bumped by cancel_pending; guarded by the GIL */
};

/* Which _Pool the current thread is a worker of, if any. */
static _Thread_local ub_pool_object *worker_of;
static _Thread_local PyGILState_STATE worker_gilstate;

ug_pool *ub_pool_native(ub_pool_object *self) { return self->pool; }
ug_trace *ub_pool_trace(ub_pool_object *self) { return self->trace; }
unsigned long ub_pool_epoch(ub_pool_object *self) { return self->epoch; }

/* ---- worker threads --------------------------------------------------- */

static void worker_start(void *ctx, unsigned index) {
    worker_of = ctx;
    worker_gilstate = PyGILState_Ensure();
    PyEval_SaveThread();
}

static void worker_stop(void *ctx, unsigned index) {
    worker_of = NULL;
    if (ub_finalizing())
        return; /* taking the GIL now would end the thread on the spot */
    PyEval_RestoreThread(PyGILState_GetThisThreadState());
    PyGILState_Release(worker_gilstate);
}

/* ---- one Python call -------------------------------------------------- */

typedef struct {
    ub_pool_object *pool; /* strong reference */
    PyObject *future, *fn, *args, *kwargs;
} CallTask;

static void call_task_free(CallTask *t) {
    Py_DECREF(t->pool);
    Py_DECREF(t->future);
    Py_DECREF(t->fn);
    Py_DECREF(t->args);
    Py_XDECREF(t->kwargs);
    PyMem_RawFree(t);
}

static void call_method(PyObject *obj, PyObject *name, PyObject *arg) {
    PyObject *r = arg ? PyObject_CallMethodOneArg(obj, name, arg)
                      : PyObject_CallMethodNoArgs(obj, name);
    if (r)
        Py_DECREF(r);
    else
        PyErr_WriteUnraisable(obj);
}

static int call_task_run(void *arg) {
    CallTask *t = arg;
    if (ub_finalizing())
        return 0; /* the interpreter is going away: leave the objects */
    PyGILState_STATE g = PyGILState_Ensure();
    ub_state *st = ub_state_of_type(Py_TYPE(t->pool));
    PyObject *ok = PyObject_CallMethodNoArgs(t->future, st->str_set_running);
    if (!ok) {
        PyErr_WriteUnraisable(t->future);
    } else if (ok == Py_True) {
        PyObject *res = PyObject_Call(t->fn, t->args, t->kwargs);
        if (res) {
            call_method(t->future, st->str_set_result, res);
            Py_DECREF(res);
        } else {
            PyObject *exc = ub_fetch_exception();
            call_method(t->future, st->str_set_exception, exc);
            Py_DECREF(exc);
        }
    }
    Py_XDECREF(ok);
    call_task_free(t);
    PyGILState_Release(g);
    return 0;
}

/* A call cancelled before it started: cancel its future and notify the
 * waiters of wait() and as_completed() (which only set_running_or_notify_
 * cancel does; the standard executors forget that on shutdown). */
static void call_task_discard(void *arg) {
    CallTask *t = arg;
    if (ub_finalizing())
        return;
    PyGILState_STATE g = PyGILState_Ensure();
    ub_state *st = ub_state_of_type(Py_TYPE(t->pool));
    call_method(t->future, st->str_cancel, NULL);
    call_method(t->future, st->str_set_running, NULL);
    call_task_free(t);
    PyGILState_Release(g);
}

/* Queues `task`, first without blocking; if the queue is full, waits for
 * room with the GIL released, so the workers can drain it. */
static int submit_task(ug_pool *pool, const ug_task *task) {
    int rc = ug_pool_try_submit(pool, task, NULL);
    if (rc == UG_EFULL) {
        Py_BEGIN_ALLOW_THREADS
        rc = ug_pool_submit(pool, task, NULL);
        Py_END_ALLOW_THREADS
    }
    return rc;
}

/* Used by mapjob.c for its runner tasks. */
int ub_pool_submit_task(ub_pool_object *self, const ug_task *task) {
    return submit_task(self->pool, task);
}

/* ---- the type --------------------------------------------------------- */

static PyObject *pool_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"workers", "trace", "queue_size", "name", NULL};
    unsigned workers = 0;
    PyObject *trace_obj = Py_None;
    Py_ssize_t queue_size = 0;
    const char *name = "worker";
    if (!PyArg_ParseTupleAndKeywords(args, kw, "I|$Ons:_Pool", kwlist, &workers,
                                     &trace_obj, &queue_size, &name))
        return NULL;
    if (workers == 0 || workers > 4096) {
        PyErr_SetString(PyExc_ValueError, "workers must be between 1 and 4096");
        return NULL;
    }
    if (queue_size < 0) {
        PyErr_SetString(PyExc_ValueError, "queue_size must be >= 0");
        return NULL;
    }
    ub_state *st = ub_state_of_type(type);
    ug_trace *trace = NULL;
    if (trace_obj != Py_None && !(trace = ub_trace_get(st, trace_obj)))
        return NULL;

    ub_pool_object *self = (ub_pool_object *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    self->workers = workers;
    self->trace = trace;
    self->trace_obj = trace ? Py_NewRef(trace_obj) : NULL;

    ug_pool_options opts;
    ug_pool_options_init(&opts);
    opts.workers = workers;
    opts.queue_capacity = (size_t)queue_size;
    opts.trace = trace;
    opts.name = name;
    opts.thread_start = worker_start;
    opts.thread_stop = worker_stop;
    opts.thread_ctx = self;
    int rc;
    /* Workers take the GIL as they start. */
    Py_BEGIN_ALLOW_THREADS
    rc = ug_pool_new(&opts, &self->pool);
    Py_END_ALLOW_THREADS
    if (rc) {
        Py_DECREF(self);
        return ub_raise(rc);
    }
    return (PyObject *)self;
}

struct reaper_job {
    ug_pool *pool;
    PyObject *trace_obj;
};

static void *reaper_main(void *arg) {
    struct reaper_job *job = arg;
    ug_pool_free(job->pool);
    if (job->trace_obj && !ub_finalizing()) {
        PyGILState_STATE g = PyGILState_Ensure();
        Py_DECREF(job->trace_obj);
        PyGILState_Release(g);
    }
    free(job);
    return NULL;
}

static void pool_dealloc(ub_pool_object *self) {
    PyTypeObject *tp = Py_TYPE(self);
    if (self->pool) {
        ug_pool_shutdown(self->pool, 0, 0);
        struct reaper_job *job = malloc(sizeof *job);
        pthread_t tid;
        pthread_attr_t attr;
        int started = 0;
        if (job && !pthread_attr_init(&attr)) {
            job->pool = self->pool;
            job->trace_obj = self->trace_obj;
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
            started = !pthread_create(&tid, &attr, reaper_main, job);
            pthread_attr_destroy(&attr);
        }
        if (started) {
            self->trace_obj = NULL; /* now the reaper's */
        } else {
            free(job);
            if (worker_of != self) {
                Py_BEGIN_ALLOW_THREADS
                ug_pool_free(self->pool);
                Py_END_ALLOW_THREADS
            } /* else leak: a worker cannot join itself */
        }
    }
    Py_XDECREF(self->trace_obj);
    tp->tp_free(self);
    Py_DECREF(tp);
}

PyDoc_STRVAR(submit_doc,
"submit(future, fn, args, kwargs)\n--\n\n"
"Queue fn(*args, **kwargs) to complete `future`, a concurrent.futures.Future.");

static PyObject *pool_submit(ub_pool_object *self, PyObject *const *args,
                             Py_ssize_t nargs) {
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "submit() takes 4 arguments");
        return NULL;
    }
    if (!PyTuple_Check(args[2]) || (args[3] != Py_None && !PyDict_Check(args[3]))) {
        PyErr_SetString(PyExc_TypeError, "submit() needs an args tuple and a "
                                         "kwargs dict or None");
        return NULL;
    }
    CallTask *t = PyMem_RawMalloc(sizeof *t);
    if (!t)
        return PyErr_NoMemory();
    t->pool = (ub_pool_object *)Py_NewRef(self);
    t->future = Py_NewRef(args[0]);
    t->fn = Py_NewRef(args[1]);
    t->args = Py_NewRef(args[2]);
    t->kwargs = args[3] == Py_None || PyDict_GET_SIZE(args[3]) == 0
                    ? NULL
                    : Py_NewRef(args[3]);
    ug_task task = {.fn = call_task_run, .arg = t, .discard = call_task_discard,
                    .label = self->trace ? ub_label_for(self->trace, t->fn) : 0};
    int rc = submit_task(self->pool, &task);
    if (rc) {
        call_task_free(t);
        return ub_raise(rc);
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(map_doc,
"map(owner, fn, source, chunksize, buffersize, timeout)\n--\n\n"
"Start a map job over the argument tuples of iterator `source` and return\n"
"it; iterating the job yields the results in order.  buffersize 0 takes the\n"
"whole source now; otherwise at most buffersize items are in flight.\n"
"The job keeps `owner` (the ungil.Pool) alive while it runs.");

static PyObject *pool_map(ub_pool_object *self, PyObject *args) {
    PyObject *owner, *fn, *source, *timeout;
    Py_ssize_t chunksize, buffersize;
    if (!PyArg_ParseTuple(args, "OOOnnO:map", &owner, &fn, &source, &chunksize,
                          &buffersize, &timeout))
        return NULL;
    if (chunksize < 1 || buffersize < 0) {
        PyErr_SetString(PyExc_ValueError, "chunksize must be >= 1 and "
                                          "buffersize >= 0");
        return NULL;
    }
    uint64_t deadline;
    if (ub_deadline(timeout, &deadline) < 0)
        return NULL;
    return ub_mapjob_new(ub_state_of_type(Py_TYPE(self)), self, owner, fn,
                         source, chunksize, buffersize, deadline);
}

PyDoc_STRVAR(cancel_pending_doc,
"cancel_pending()\n--\n\n"
"Cancel every queued call and every map item not yet started; return how\n"
"many queued tasks were cancelled.");

static PyObject *pool_cancel_pending(ub_pool_object *self, PyObject *unused) {
    self->epoch++; /* map jobs started before now stop taking items */
    return PyLong_FromSize_t(ug_pool_cancel_pending(self->pool));
}

static int poll_idle(void *ctx, int64_t slice_ns) {
    return ug_pool_wait_idle(ctx, slice_ns) == 0;
}

PyDoc_STRVAR(shutdown_doc,
"shutdown(wait=True, cancel=False)\n--\n\n"
"Stop accepting work; with cancel, cancel what has not started; with wait,\n"
"wait (interruptibly) until every started task has finished.");

static PyObject *pool_shutdown(ub_pool_object *self, PyObject *args,
                               PyObject *kw) {
    static char *kwlist[] = {"wait", "cancel", NULL};
    int wait = 1, cancel = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|pp:shutdown", kwlist, &wait,
                                     &cancel))
        return NULL;
    if (cancel)
        self->epoch++;
    ug_pool_shutdown(self->pool, 0, cancel);
    if (!wait)
        Py_RETURN_NONE;
    if (worker_of == self) {
        PyErr_SetString(PyExc_RuntimeError, "cannot join current thread");
        return NULL;
    }
    int rc = ub_wait(poll_idle, self->pool, 0);
    if (rc < 0)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    ug_pool_shutdown(self->pool, 1, 0); /* idle now: the workers just exit */
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *pool_stats(ub_pool_object *self, PyObject *unused) {
    ug_pool_stats s;
    ug_pool_stats_get(self->pool, &s);
    return Py_BuildValue("{s:n,s:n,s:K,s:K,s:K}", "queued", (Py_ssize_t)s.queued,
                         "running", (Py_ssize_t)s.running, "completed",
                         (unsigned long long)s.completed, "submit_waits",
                         (unsigned long long)s.submit_waits, "idle_waits",
                         (unsigned long long)s.idle_waits);
}

static PyObject *pool_get_workers(ub_pool_object *self, void *closure) {
    return PyLong_FromUnsignedLong(self->workers);
}

static PyMethodDef pool_methods[] = {
    {"submit", (PyCFunction)(void (*)(void))pool_submit, METH_FASTCALL,
     submit_doc},
    {"map", (PyCFunction)pool_map, METH_VARARGS, map_doc},
    {"cancel_pending", (PyCFunction)pool_cancel_pending, METH_NOARGS,
     cancel_pending_doc},
    {"shutdown", (PyCFunction)(void (*)(void))pool_shutdown,
     METH_VARARGS | METH_KEYWORDS, shutdown_doc},
    {"stats", (PyCFunction)pool_stats, METH_NOARGS,
     "stats()\n--\n\nQueue and completion counters, as a dict."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef pool_getset[] = {
    {"workers", (getter)pool_get_workers, NULL, "Number of worker threads.",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot pool_slots[] = {
    {Py_tp_new, pool_new},
    {Py_tp_dealloc, pool_dealloc},
    {Py_tp_methods, pool_methods},
    {Py_tp_getset, pool_getset},
    {Py_tp_doc, "_Pool(workers, *, trace=None, queue_size=0, name='worker')\n--\n\n"
                "Native worker threads for Python calls; see ungil.Pool."},
    {0, NULL},
};

static PyType_Spec pool_spec = {
    .name = "ungil._ungil._Pool",
    .basicsize = sizeof(ub_pool_object),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = pool_slots,
};

int ub_pool_init_type(PyObject *module, ub_state *st) {
    st->pool_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(module, &pool_spec, NULL);
    if (!st->pool_type)
        return -1;
    return PyModule_AddType(module, st->pool_type);
}
