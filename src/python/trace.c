/* trace.c - the Trace type: a ug_trace that Python code can save and read.
 *
 * A Trace owns its ug_trace.  Pools that record into it hold a reference to
 * the Trace object, so it outlives them.  Saving releases the GIL.
 */
#include "binding.h"

#include <errno.h>

typedef struct {
    PyObject_HEAD
    ug_trace *trace;
} TraceObject;

ug_trace *ub_trace_get(ub_state *st, PyObject *obj) {
    if (!PyObject_TypeCheck(obj, st->trace_type)) {
        PyErr_Format(PyExc_TypeError, "expected a Trace, got %.200s",
                     Py_TYPE(obj)->tp_name);
        return NULL;
    }
    return ((TraceObject *)obj)->trace;
}

static PyObject *trace_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    if (PyTuple_GET_SIZE(args) || (kw && PyDict_GET_SIZE(kw))) {
        PyErr_SetString(PyExc_TypeError, "Trace() takes no arguments");
        return NULL;
    }
    TraceObject *self = (TraceObject *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    int rc = ug_trace_new(&self->trace);
    if (rc) {
        Py_DECREF(self);
        return ub_raise(rc);
    }
    return (PyObject *)self;
}

static void trace_dealloc(TraceObject *self) {
    PyTypeObject *tp = Py_TYPE(self);
    ug_trace_free(self->trace);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static int append_event(const ug_trace_event *ev, void *ctx) {
    PyObject *row = Py_BuildValue("(Issddk)", ev->lane, ev->lane_name, ev->label,
                                  ev->start_ns / 1e9, ev->end_ns / 1e9,
                                  (unsigned long)ev->arg);
    if (!row)
        return -1;
    int rc = PyList_Append((PyObject *)ctx, row);
    Py_DECREF(row);
    return rc;
}

PyDoc_STRVAR(events_doc,
"events()\n--\n\n"
"All events so far as (lane, lane_name, label, start, end, arg) tuples,\n"
"lane by lane in recording order; start and end in seconds since the trace\n"
"began.");

static PyObject *trace_events(TraceObject *self, PyObject *unused) {
    PyObject *list = PyList_New(0);
    if (list && ug_trace_foreach(self->trace, append_event, list)) {
        Py_CLEAR(list);
    }
    return list;
}

PyDoc_STRVAR(save_doc,
"save(path, title=None)\n--\n\n"
"Write the trace to path: an SVG timeline when path ends in .svg, Chrome\n"
"trace JSON (for Perfetto) when it ends in .json.  The file appears whole\n"
"or not at all.");

static PyObject *trace_save(TraceObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"path", "title", NULL};
    PyObject *path = NULL;
    const char *title = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|z:save", kwlist,
                                     PyUnicode_FSConverter, &path, &title))
        return NULL;
    const char *p = PyBytes_AS_STRING(path);
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = ug_trace_save(self->trace, p, title);
    Py_END_ALLOW_THREADS
    if (rc == UG_EINVAL) {
        PyErr_Format(PyExc_ValueError,
                     "cannot tell the format of %R: use a name ending in .svg "
                     "or .json", path);
        Py_DECREF(path);
        return NULL;
    }
    if (rc) {
        errno = errno ? errno : EIO;
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, path);
        Py_DECREF(path);
        return NULL;
    }
    Py_DECREF(path);
    Py_RETURN_NONE;
}

static PyObject *trace_clear(TraceObject *self, PyObject *unused) {
    ug_trace_clear(self->trace);
    Py_RETURN_NONE;
}

static Py_ssize_t trace_len(TraceObject *self) {
    return (Py_ssize_t)ug_trace_count(self->trace);
}

static PyObject *trace_get_lanes(TraceObject *self, void *closure) {
    return PyLong_FromUnsignedLong(ug_trace_lanes(self->trace));
}

static PyObject *trace_get_dropped(TraceObject *self, void *closure) {
    return PyLong_FromSize_t(ug_trace_dropped(self->trace));
}

static PyMethodDef trace_methods[] = {
    {"events", (PyCFunction)trace_events, METH_NOARGS, events_doc},
    {"save", (PyCFunction)(void (*)(void))trace_save,
     METH_VARARGS | METH_KEYWORDS, save_doc},
    {"clear", (PyCFunction)trace_clear, METH_NOARGS,
     "clear()\n--\n\nForget every event.  Nothing may be recording."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef trace_getset[] = {
    {"lanes", (getter)trace_get_lanes, NULL, "Number of threads that recorded.",
     NULL},
    {"dropped", (getter)trace_get_dropped, NULL,
     "Events lost because memory ran out.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(trace_doc,
"Trace()\n--\n\n"
"A timeline of tasks: which thread ran what, from when to when.  Give it to\n"
"Pool(trace=...) to record every task; save it as SVG or Chrome trace JSON.");

static PyType_Slot trace_slots[] = {
    {Py_tp_new, trace_new},
    {Py_tp_dealloc, trace_dealloc},
    {Py_tp_methods, trace_methods},
    {Py_tp_getset, trace_getset},
    {Py_sq_length, trace_len},
    {Py_tp_doc, (void *)trace_doc},
    {0, NULL},
};

static PyType_Spec trace_spec = {
    .name = "ungil._ungil.Trace",
    .basicsize = sizeof(TraceObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = trace_slots,
};

int ub_trace_init_type(PyObject *module, ub_state *st) {
    st->trace_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(module, &trace_spec, NULL);
    if (!st->trace_type)
        return -1;
    return PyModule_AddType(module, st->trace_type);
}
