/* module.c - the _ungil extension module: state, error mapping, waiting.
 *
 * Multi-phase initialisation with module state and heap types, so the
 * module is torn down cleanly.  Subinterpreters are refused: worker threads
 * attach with PyGILState_Ensure, which knows only the main interpreter.  The module
 * declares that it needs the GIL (Py_mod_gil) where Python knows the slot:
 * map jobs keep their bookkeeping under the GIL, and a free-threaded build
 * would need per-job locks first.
 */
#include "binding.h"

#include <unistd.h>

ub_state *ub_state_of_module(PyObject *module) {
    return (ub_state *)PyModule_GetState(module);
}

ub_state *ub_state_of_type(PyTypeObject *type) {
    return (ub_state *)PyType_GetModuleState(type);
}

int ub_finalizing(void) {
#if PY_VERSION_HEX >= 0x030D0000
    return Py_IsFinalizing();
#else
    return _Py_IsFinalizing();
#endif
}

static PyObject *cancelled_error(void) {
    PyObject *mod = PyImport_ImportModule("concurrent.futures");
    if (!mod)
        return NULL;
    PyObject *cls = PyObject_GetAttrString(mod, "CancelledError");
    Py_DECREF(mod);
    return cls;
}

PyObject *ub_raise(int code) {
    PyObject *type = PyExc_RuntimeError;
    PyObject *owned = NULL;
    const char *msg = ug_strerror(code);
    switch (code) {
    case UG_ENOMEM:
        return PyErr_NoMemory();
    case UG_EINVAL:
        type = PyExc_ValueError;
        break;
    case UG_ESHUTDOWN:
        msg = "cannot schedule new futures after shutdown";
        break;
    case UG_ETIMEDOUT:
        type = PyExc_TimeoutError;
        break;
    case UG_ECANCELED:
        owned = cancelled_error();
        if (!owned)
            return NULL;
        type = owned;
        break;
    case UG_ETHREAD:
        msg = "can't start new thread";
        break;
    case UG_EIO:
        type = PyExc_OSError;
        break;
    case UG_ERANGE:
        type = PyExc_OverflowError;
        break;
    case UG_EFORMAT:
    case UG_ECORRUPT:
        type = PyExc_OSError;
        break;
    case UG_EMODE:
        type = PyExc_ValueError;
        break;
    default:
        break;
    }
    PyErr_SetString(type, msg);
    Py_XDECREF(owned);
    return NULL;
}

PyObject *ub_error_name(int code) {
    const char *name;
    switch (code) {
    case 0: Py_RETURN_NONE;
    case UG_EURL:
    case UG_ENONAME: name = "url"; break;
    case UG_ENET: name = "network"; break;
    case UG_EHTTP: name = "http"; break;
    case UG_ETOOBIG: name = "too_big"; break;
    case UG_EREDIRECT: name = "redirect"; break;
    case UG_EPROTOCOL: name = "protocol"; break;
    case UG_ECHECKSUM: name = "checksum"; break;
    case UG_ETIMEDOUT: name = "timeout"; break;
    case UG_ESCOPE: name = "type"; break; /* a content type not accepted */
    case UG_EFORMAT: name = "format"; break;
    case UG_ECORRUPT: name = "corrupt"; break;
    case UG_EBOMB: name = "bomb"; break;
    case UG_EMODE: name = "mode"; break;
    case UG_EIO:
    case UG_EUNSAFE:
    case UG_EEXIST: name = "io"; break;
    case UG_EINVAL: name = "invalid"; break;
    case UG_ENOMEM: name = "memory"; break;
    case UG_ECANCELED: name = "cancelled"; break;
    default: name = "error"; break;
    }
    return PyUnicode_FromString(name);
}

int ub_deadline(PyObject *timeout, uint64_t *deadline) {
    *deadline = 0;
    if (timeout == Py_None)
        return 0;
    double seconds = PyFloat_AsDouble(timeout);
    if (seconds == -1.0 && PyErr_Occurred())
        return -1;
    if (seconds != seconds) {
        PyErr_SetString(PyExc_ValueError, "timeout must not be NaN");
        return -1;
    }
    if (seconds < 0)
        seconds = 0;
    if (seconds > 1e9) /* about 30 years: treat as forever */
        return 0;
    *deadline = ug_clock_ns() + (uint64_t)(seconds * 1e9) + 1;
    return 0;
}

enum { WAIT_SLICE_NS = 50 * 1000 * 1000 };

int ub_wait(int (*poll)(void *ctx, int64_t slice_ns), void *ctx,
            uint64_t deadline) {
    for (;;) {
        int64_t slice = WAIT_SLICE_NS;
        if (deadline) {
            uint64_t now = ug_clock_ns();
            int64_t left = now >= deadline ? 0 : (int64_t)(deadline - now);
            if (left < slice)
                slice = left;
        }
        int done;
        Py_BEGIN_ALLOW_THREADS
        done = poll(ctx, slice);
        Py_END_ALLOW_THREADS
        if (done)
            return 1;
        if (PyErr_CheckSignals() < 0)
            return -1;
        if (deadline && ug_clock_ns() >= deadline)
            return 0;
    }
}

ug_pool *ub_new_pool(unsigned workers, const char *name) {
    ug_pool_options opts;
    ug_pool_options_init(&opts);
    opts.workers = workers;
    opts.name = name;
    ug_pool *pool = NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = ug_pool_new(&opts, &pool);
    Py_END_ALLOW_THREADS
    if (rc) {
        ub_raise(rc);
        return NULL;
    }
    return pool;
}

ug_pool *ub_compute_pool(ub_state *st) {
    if (st->compute_pool && st->compute_pid == getpid())
        return st->compute_pool;
    /* A pool inherited through fork() has no threads in this process; it is
     * left as it is (its memory belongs to the parent's image). */
    ug_pool *pool = ub_new_pool(0, "compute");
    if (!pool)
        return NULL;
    st->compute_pool = pool;
    st->compute_pid = getpid();
    return pool;
}

PyObject *ub_fetch_exception(void) {
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb) {
        PyException_SetTraceback(value, tb);
        Py_DECREF(tb);
    }
    Py_DECREF(type);
    return value;
#endif
}

void ub_restore_exception(PyObject *exc) {
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(Py_NewRef(exc));
#else
    PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(exc)), Py_NewRef(exc),
                  PyException_GetTraceback(exc));
#endif
}

uint32_t ub_label_for(ug_trace *trace, PyObject *fn) {
    PyObject *name = PyObject_GetAttrString(fn, "__qualname__");
    if (!name || !PyUnicode_Check(name)) {
        PyErr_Clear();
        Py_XDECREF(name);
        name = PyObject_Repr(fn);
        if (!name) {
            PyErr_Clear();
            return 0;
        }
    }
    const char *text = PyUnicode_AsUTF8(name);
    uint32_t id = 0;
    if (text)
        id = ug_trace_label(trace, text);
    else
        PyErr_Clear();
    Py_DECREF(name);
    return id;
}

int ub_add_type(PyObject *module, PyType_Spec *spec) {
    PyTypeObject *tp =
        (PyTypeObject *)PyType_FromModuleAndSpec(module, spec, NULL);
    if (!tp)
        return -1;
    int rc = PyModule_AddType(module, tp);
    Py_DECREF(tp);
    return rc;
}

/* ---- the module ------------------------------------------------------- */

static int module_exec(PyObject *module) {
    ub_state *st = ub_state_of_module(module);
    st->str_set_running = PyUnicode_InternFromString("set_running_or_notify_cancel");
    st->str_set_result = PyUnicode_InternFromString("set_result");
    st->str_set_exception = PyUnicode_InternFromString("set_exception");
    st->str_cancel = PyUnicode_InternFromString("cancel");
    if (!st->str_set_running || !st->str_set_result || !st->str_set_exception ||
        !st->str_cancel)
        return -1;
    if (ub_trace_init_type(module, st) < 0 || ub_pool_init_type(module, st) < 0 ||
        ub_mapjob_init_type(module, st) < 0 ||
        ub_download_init_type(module, st) < 0 ||
        ub_graph_init_type(module, st) < 0 ||
        ub_crawl_init_type(module, st) < 0 ||
        ub_image_init_type(module, st) < 0 ||
        ub_pictures_init_type(module, st) < 0)
        return -1;
    if (PyModule_AddStringConstant(module, "C_VERSION", UG_VERSION) < 0)
        return -1;
    return 0;
}

static int module_traverse(PyObject *module, visitproc visit, void *arg) {
    ub_state *st = ub_state_of_module(module);
    Py_VISIT(st->pool_type);
    Py_VISIT(st->mapjob_type);
    Py_VISIT(st->trace_type);
    Py_VISIT(st->graph_type);
    Py_VISIT(st->image_type);
    Py_VISIT(st->unidentified_image_error);
    Py_VISIT(st->decompression_bomb_error);
    return 0;
}

static int module_clear(PyObject *module) {
    ub_state *st = ub_state_of_module(module);
    Py_CLEAR(st->pool_type);
    Py_CLEAR(st->mapjob_type);
    Py_CLEAR(st->trace_type);
    Py_CLEAR(st->graph_type);
    Py_CLEAR(st->image_type);
    Py_CLEAR(st->unidentified_image_error);
    Py_CLEAR(st->decompression_bomb_error);
    Py_CLEAR(st->str_set_running);
    Py_CLEAR(st->str_set_result);
    Py_CLEAR(st->str_set_exception);
    Py_CLEAR(st->str_cancel);
    return 0;
}

static void module_free(void *module) {
    ub_state *st = ub_state_of_module(module);
    module_clear(module);
    if (st->compute_pool && st->compute_pid == getpid()) {
        /* Its workers never run Python, so joining them cannot deadlock. */
        ug_pool *pool = st->compute_pool;
        st->compute_pool = NULL;
        Py_BEGIN_ALLOW_THREADS
        ug_pool_free(pool);
        Py_END_ALLOW_THREADS
    }
}

PyDoc_STRVAR(sum_upto_doc,
"sum_upto(n, threads=None)\n--\n\n"
"Return 1 + 2 + ... + n, computed by a loop in C split over native threads.\n\n"
"This is the course's GIL demo: the same loop in Python threads gets no\n"
"faster, while here `threads` native threads (default: one per CPU) each\n"
"add a contiguous range with the GIL released.  The result is exact for\n"
"every n from 0 to 2**64 - 1 (it is returned as a Python int, which may\n"
"exceed 64 bits).  The loop really runs, one addition per number: compilers\n"
"would normally replace such a loop by n*(n+1)/2 (GCC's final value\n"
"replacement), so the accumulator passes through an empty asm statement on\n"
"every iteration, which keeps each addition and prevents vectorisation;\n"
"expect about one CPU cycle per number per thread.\n\n"
"Ctrl-C stops the loop within a few milliseconds and raises\n"
"KeyboardInterrupt.  Raises TypeError if n is not an int (bool included)\n"
"and ValueError if n is negative, n >= 2**64 or threads < 1.");

PyDoc_STRVAR(filter_files_doc,
"_filter_files(paths, kernel, out_dir, threads=None, format=None,\n"
"              quality=75, compress_level=6, max_pixels=None,\n"
"              progress=None)\n--\n\n"
"Decode, filter, encode and save every file on the compute pool (a\n"
"max_pixels of None means no limit; kernel None only re-encodes;\n"
"progress(done, failed, total) is called about every 100 ms); a list\n"
"of (output name or None, error message or None) in input order.  See\n"
"ungil.filter_files.");

static PyMethodDef module_methods[] = {
    {"_filter_files", (PyCFunction)(void (*)(void))ub_filter_files,
     METH_VARARGS | METH_KEYWORDS, filter_files_doc},
    {"sum_upto", (PyCFunction)(void (*)(void))ub_sum_upto,
     METH_VARARGS | METH_KEYWORDS, sum_upto_doc},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
#ifdef Py_mod_multiple_interpreters
    {Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED},
#endif
#ifdef Py_mod_gil
    {Py_mod_gil, Py_MOD_GIL_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "ungil._ungil",
    .m_doc = "Binding of libungil: native pool, traces and kernels.",
    .m_size = sizeof(ub_state),
    .m_methods = module_methods,
    .m_slots = module_slots,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyMODINIT_FUNC PyInit__ungil(void) { return PyModuleDef_Init(&module_def); }
