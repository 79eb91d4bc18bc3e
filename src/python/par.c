/* par.c - sum_upto: the course's GIL demo, bound to Python.
 *
 * The loop runs as a task on the module's compute pool (or, for more
 * threads than it has, on a pool made for the call), so the calling thread
 * only waits: in slices, with the GIL released, checking for Ctrl-C between
 * slices.  On KeyboardInterrupt it raises the cancel flag that the loop
 * polls every few milliseconds, waits for the task to stop, and re-raises.
 */
#include "binding.h"

typedef struct {
    ug_pool *pool;
    uint64_t n;
    unsigned threads;
    int cancel;
    ug_u128 sum;
} SumCall;

static int sum_task(void *arg) {
    SumCall *c = arg;
    return ug_sum_upto(c->pool, c->n, c->threads, &c->cancel, &c->sum);
}

static int poll_future(void *ctx, int64_t slice_ns) {
    return ug_future_wait(ctx, slice_ns) == 0;
}

/* Reads an int argument: TypeError for bool, float and non-integers,
 * ValueError for negatives and for values of 2**64 and more. */
static int as_u64(PyObject *obj, const char *what, uint64_t *out) {
    if (PyBool_Check(obj) || !PyIndex_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int, not %.100s", what,
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    PyObject *v = PyNumber_Index(obj);
    if (!v)
        return -1;
    PyObject *zero = PyLong_FromLong(0);
    int negative = zero ? PyObject_RichCompareBool(v, zero, Py_LT) : -1;
    Py_XDECREF(zero);
    if (negative) {
        if (negative > 0)
            PyErr_Format(PyExc_ValueError, "%s must be >= 0, got %R", what, v);
        Py_DECREF(v);
        return -1;
    }
    *out = PyLong_AsUnsignedLongLong(v);
    Py_DECREF(v);
    if (*out == (uint64_t)-1 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_ValueError,
                         "%s must be below 2**64 (at a billion numbers a "
                         "second that loop would take 585 years)", what);
        }
        return -1;
    }
    return 0;
}

static PyObject *u128_to_int(ug_u128 v) {
    PyObject *hi = PyLong_FromUnsignedLongLong(v.hi);
    PyObject *shift = PyLong_FromLong(64);
    PyObject *lo = PyLong_FromUnsignedLongLong(v.lo);
    PyObject *shifted = hi && shift ? PyNumber_Lshift(hi, shift) : NULL;
    PyObject *result = shifted && lo ? PyNumber_Or(shifted, lo) : NULL;
    Py_XDECREF(hi);
    Py_XDECREF(shift);
    Py_XDECREF(lo);
    Py_XDECREF(shifted);
    return result;
}

PyObject *ub_sum_upto(PyObject *module, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"n", "threads", NULL};
    PyObject *n_obj, *threads_obj = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O:sum_upto", kwlist, &n_obj,
                                     &threads_obj))
        return NULL;
    SumCall call = {0};
    if (as_u64(n_obj, "n", &call.n) < 0)
        return NULL;
    if (threads_obj != Py_None) {
        uint64_t threads;
        if (as_u64(threads_obj, "threads", &threads) < 0)
            return NULL;
        if (threads < 1 || threads > 4096) {
            PyErr_SetString(PyExc_ValueError,
                            "threads must be between 1 and 4096");
            return NULL;
        }
        call.threads = (unsigned)threads;
    }

    ub_state *st = ub_state_of_module(module);
    ug_pool *pool = ub_compute_pool(st);
    if (!pool)
        return NULL;
    ug_pool *own = NULL;
    if (call.threads > ug_pool_workers(pool)) {
        ug_pool_options opts;
        ug_pool_options_init(&opts);
        opts.workers = call.threads;
        opts.name = "sum_upto";
        int rc;
        Py_BEGIN_ALLOW_THREADS
        rc = ug_pool_new(&opts, &own);
        Py_END_ALLOW_THREADS
        if (rc)
            return ub_raise(rc);
        pool = own;
    }
    call.pool = pool;

    PyObject *result = NULL;
    ug_future *f = NULL;
    ug_task task = {.fn = sum_task, .arg = &call};
    int rc = ug_pool_try_submit(pool, &task, &f);
    if (rc) {
        ub_raise(rc);
        goto out;
    }
    if (ub_wait(poll_future, f, 0) < 0) {
        __atomic_store_n(&call.cancel, 1, __ATOMIC_RELAXED);
        Py_BEGIN_ALLOW_THREADS
        ug_future_wait(f, -1);
        Py_END_ALLOW_THREADS
        goto out; /* KeyboardInterrupt (or another signal's error) is set */
    }
    rc = ug_future_status(f);
    if (rc)
        ub_raise(rc);
    else
        result = u128_to_int(call.sum);
out:
    ug_future_release(f);
    if (own) {
        Py_BEGIN_ALLOW_THREADS
        ug_pool_free(own);
        Py_END_ALLOW_THREADS
    }
    return result;
}
