/* download.c - the _Download type: a fetch engine on its own thread.
 *
 * Creating a _Download adds every request and starts a native thread that
 * runs ug_fetch_run with the GIL never held.  Each result is copied into a
 * plain C record (one allocation) and appended to the thread's queue
 * (ub_core_thread, core_thread.c: unbounded, so a slow consumer never
 * stalls the transfers).  Iterating
 * the object pops records and turns them into ungil.Result tuples, waiting
 * with the GIL released and interruptibly; Ctrl-C (or close()) raises the
 * engine's cancel flag, and the thread stops within about 100 ms.
 *
 * The engine wakes a waiting consumer once `batch` records are queued (or
 * at the end, or with a progress snapshot): 1 for download_iter, which
 * yields each result as it comes; more for download(), which needs them
 * only at the end and would otherwise pay two thread switches a file.
 * Progress snapshots from the engine are kept for the consumer, which
 * draws them on its own thread.
 */
#include "binding.h"

#include <stdbool.h>
#include <string.h>

#include "ungil/fetch.h"

/* A result copied out of the engine's callback: the record, its strings
 * and its body in one allocation.  r.url is not copied (the consumer takes
 * it from the list of URLs), nor is r.final_url when it equals it. */
typedef struct record {
    ub_record link;
    bool final_is_url; /* r.final_url was r.url */
    ug_fetch_result r;
} record;

typedef struct {
    PyObject_HEAD
    ug_fetch *fetch;
    PyObject *trace_obj; /* the Trace recording the transfers, or NULL */
    PyTypeObject *result_type; /* ungil.Result, a tuple subclass */
    PyObject *dest_prefix; /* dest with a trailing separator, or NULL */
    PyObject *urls;   /* the list of URL strings, by index */
    PyObject *last_type; /* the last Content-Type made a str, or NULL */
    ub_core_thread thread; /* runs the engine, queues the records */
    ug_fetch_progress progress; /* the latest snapshot, under thread.lock */
    Py_ssize_t total;
} DownloadObject;

/* Appends `str` (or nothing for NULL) at *at; returns where it went. */
static const char *pack(char **at, const char *str, size_t len) {
    if (!str)
        return NULL;
    char *dst = *at;
    memcpy(dst, str, len + 1);
    *at += len + 1;
    return dst;
}

static size_t len_of(const char *s) { return s ? strlen(s) : 0; }

/* Engine thread: copy the result and queue it. */
static void on_done(void *ctx, const ug_fetch_result *res) {
    DownloadObject *self = ctx;
    const char *final_url =
        res->final_url && strcmp(res->final_url, res->url) ? res->final_url
                                                           : NULL;
    size_t lf = len_of(final_url), lp = len_of(res->path),
           lc = len_of(res->content_type), lm = len_of(res->message);
    size_t body = res->body ? res->bytes : 0;
    record *rec = malloc(sizeof *rec + body + lf + lp + lc + lm + 4);
    if (!rec)
        return; /* out of memory even for the record: the result is lost */
    rec->final_is_url = res->final_url && !final_url;
    rec->r = *res;
    char *at = (char *)(rec + 1);
    if (res->body) {
        memcpy(at, res->body, body);
        rec->r.body = (const unsigned char *)at;
        at += body;
    }
    rec->r.url = NULL;
    rec->r.final_url = pack(&at, final_url, lf);
    rec->r.path = pack(&at, res->path, lp);
    rec->r.content_type = pack(&at, res->content_type, lc);
    rec->r.message = pack(&at, res->message, lm);
    ub_core_thread_push(&self->thread, &rec->link);
}

static void on_progress(void *ctx, const ug_fetch_progress *p) {
    DownloadObject *self = ctx;
    ub_core_thread_put_progress(&self->thread, &self->progress, p, sizeof *p);
}

static void free_record(ub_record *rec) { free(rec); }

static int run_engine(void *ctx, const int *cancel) {
    return ug_fetch_run(((DownloadObject *)ctx)->fetch, cancel);
}

/* ---- construction ----------------------------------------------------- */

static int read_options(PyObject *opts, ug_fetch_options *o) {
    unsigned tmp = 0;
    if (ub_opt_uint(opts, "concurrency", UINT_MAX, &o->concurrency) ||
        ub_opt_uint(opts, "per_host", UINT_MAX, &o->per_host) ||
        ub_opt_uint(opts, "retries", UINT_MAX, &o->retries) ||
        ub_opt_uint(opts, "threads", 1024, &o->threads) ||
        ub_opt_uint(opts, "max_redirects", UINT_MAX, &o->max_redirects) ||
        ub_opt_ms(opts, "backoff", &o->backoff_ms) ||
        ub_opt_ms(opts, "backoff_max", &o->backoff_max_ms) ||
        ub_opt_ms(opts, "connect_timeout", &o->connect_timeout_ms) ||
        ub_opt_ms(opts, "timeout", &o->timeout_ms) ||
        ub_opt_uint(opts, "low_speed_bytes", UINT_MAX, &o->low_speed_bytes) ||
        ub_opt_uint(opts, "low_speed_time", UINT_MAX, &o->low_speed_s) ||
        ub_opt_uint(opts, "retry_after_max", UINT_MAX, &o->retry_after_max_s) ||
        ub_opt_uint(opts, "content_disposition", UINT_MAX, &tmp))
        return -1;
    o->content_disposition = tmp != 0;
    tmp = 0;
    if (ub_opt_uint(opts, "resume", UINT_MAX, &tmp))
        return -1;
    o->resume = tmp != 0;
    if (ub_opt_u64(opts, "max_bytes", &o->max_bytes) ||
        ub_opt_long(opts, "dns_cache", -1, LONG_MAX, &o->dns_cache_s))
        return -1;
    PyObject *v = PyDict_GetItemString(opts, "max_header_bytes");
    if (v && v != Py_None) {
        o->max_header_bytes = PyLong_AsSize_t(v);
        if (PyErr_Occurred())
            return -1;
    }
    o->user_agent = ub_opt_str(opts, "user_agent");
    o->ca_file = ub_opt_str(opts, "ca_file");
    o->proxy = ub_opt_str(opts, "proxy");
    return PyErr_Occurred() ? -1 : 0;
}

/* Item i of `seq` (a list, or None for "no values"); NULL for None. */
static int item_str(PyObject *seq, Py_ssize_t i, const char *what,
                    const char **out) {
    *out = NULL;
    if (seq == Py_None || PyList_GET_ITEM(seq, i) == Py_None)
        return 0;
    return ub_utf8_item(PyList_GET_ITEM(seq, i), what, i, out);
}

static PyObject *download_new(PyTypeObject *type, PyObject *args,
                              PyObject *kw) {
    static char *kwlist[] = {"urls", "dest", "names", "sha256", "options", NULL};
    PyObject *urls, *dest = Py_None, *names = Py_None, *sums = Py_None;
    PyObject *opts = NULL, *dest_bytes = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!OOOO!:_Download", kwlist,
                                     &PyList_Type, &urls, &dest, &names, &sums,
                                     &PyDict_Type, &opts))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(urls);
    if ((names != Py_None && (!PyList_Check(names) || PyList_GET_SIZE(names) != n)) ||
        (sums != Py_None && (!PyList_Check(sums) || PyList_GET_SIZE(sums) != n))) {
        PyErr_SetString(PyExc_ValueError,
                        "names and sha256 must be lists as long as urls");
        return NULL;
    }
    ug_fetch_options o;
    ug_fetch_options_init(&o);
    if (read_options(opts, &o) < 0)
        return NULL;
    if (dest != Py_None && !PyUnicode_FSConverter(dest, &dest_bytes))
        return NULL;

    DownloadObject *self = (DownloadObject *)type->tp_alloc(type, 0);
    if (!self) {
        Py_XDECREF(dest_bytes);
        return NULL;
    }
    ub_core_thread_init(&self->thread);
    self->total = n;
    self->urls = Py_NewRef(urls);
    unsigned long batch = 1;
    if (ub_opt_ulong(opts, "batch", 1ul << 20, &batch))
        goto fail;
    self->thread.batch = batch;
    PyObject *result_type = PyDict_GetItemString(opts, "result_type");
    if (!result_type || !PyType_Check(result_type) ||
        !PyType_IsSubtype((PyTypeObject *)result_type, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "options['result_type'] must be a "
                                         "tuple subclass");
        goto fail;
    }
    self->result_type = (PyTypeObject *)Py_NewRef(result_type);
    if (dest != Py_None) {
        PyObject *fs = PyOS_FSPath(dest);
        if (!fs || !PyUnicode_Check(fs)) {
            if (fs)
                PyErr_SetString(PyExc_TypeError, "dest must be a str path");
            Py_XDECREF(fs);
            goto fail;
        }
        self->dest_prefix = ub_dir_prefix(fs);
        Py_DECREF(fs);
        if (!self->dest_prefix)
            goto fail;
    }
    PyObject *trace_obj = PyDict_GetItemString(opts, "trace");
    if (trace_obj && trace_obj != Py_None) {
        o.trace = ub_trace_get(ub_state_of_type(type), trace_obj);
        if (!o.trace)
            goto fail;
        self->trace_obj = Py_NewRef(trace_obj);
    }
    o.dest_dir = dest_bytes ? PyBytes_AS_STRING(dest_bytes) : NULL;
    o.on_done = on_done;
    PyObject *want_progress = PyDict_GetItemString(opts, "progress");
    o.on_progress = want_progress && PyObject_IsTrue(want_progress) ? on_progress
                                                                    : NULL;
    o.ctx = self;
    int rc = ug_fetch_new(&o, &self->fetch);
    if (rc) {
        if (rc == UG_EINVAL && dest_bytes)
            PyErr_Format(PyExc_NotADirectoryError,
                         "not a directory: %R", dest);
        else
            ub_raise(rc);
        goto fail;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        const char *u, *name, *sum;
        if (ub_utf8_item(PyList_GET_ITEM(urls, i), "urls", i, &u) < 0 ||
            item_str(names, i, "names", &name) < 0 ||
            item_str(sums, i, "sha256", &sum) < 0)
            goto fail;
        long idx = ug_fetch_add(self->fetch, u, name, sum, NULL);
        if (idx < 0) {
            ub_raise((int)idx);
            goto fail;
        }
    }
    if ((rc = ub_core_thread_start(&self->thread, run_engine, self))) {
        ub_raise(rc);
        goto fail;
    }
    Py_XDECREF(dest_bytes);
    return (PyObject *)self;
fail:
    Py_XDECREF(dest_bytes);
    Py_DECREF(self);
    return NULL;
}

static void download_dealloc(DownloadObject *self) {
    PyTypeObject *tp = Py_TYPE(self);
    Py_BEGIN_ALLOW_THREADS
    ub_core_thread_stop(&self->thread);
    Py_END_ALLOW_THREADS
    ug_fetch_free(self->fetch);
    Py_XDECREF(self->trace_obj);
    Py_XDECREF(self->result_type);
    Py_XDECREF(self->dest_prefix);
    ub_core_thread_drop(&self->thread, free_record);
    Py_XDECREF(self->urls);
    Py_XDECREF(self->last_type);
    ub_core_thread_destroy(&self->thread);
    tp->tp_free(self);
    Py_DECREF(tp);
}

/* ---- consuming -------------------------------------------------------- */

/* A str from UTF-8 text, or None for NULL. */
static PyObject *str_or_none(const char *s) {
    return s ? PyUnicode_FromString(s) : Py_NewRef(Py_None);
}

/* The Content-Type as a str: the last one again when it repeats, as it
 * does for most files of a batch, or None. */
static PyObject *content_type(DownloadObject *self, const char *type) {
    if (!type)
        return Py_NewRef(Py_None);
    const char *last = self->last_type ? PyUnicode_AsUTF8(self->last_type)
                                       : NULL;
    if (!last || strcmp(last, type)) {
        PyObject *fresh = PyUnicode_FromString(type);
        if (!fresh)
            return NULL;
        Py_XSETREF(self->last_type, fresh);
    }
    return Py_NewRef(self->last_type);
}

/* Builds the ungil.Result for `r`, filling the tuple subclass directly
 * (no Python code runs): the fields in declaration order, the URL taken
 * from the input list, the path joined to the destination directory. */
static PyObject *to_result(DownloadObject *self, const record *rec) {
    const ug_fetch_result *r = &rec->r;
    PyObject *url = PyList_GET_ITEM(self->urls, (Py_ssize_t)r->index);
    PyObject *path = r->path && self->dest_prefix
                         ? ub_path_in(self->dest_prefix, r->path)
                         : Py_NewRef(Py_None);
    if (!path)
        return NULL;
    PyObject *fields[] = {
        PyLong_FromSsize_t((Py_ssize_t)r->index),
        Py_NewRef(url),
        r->final_url ? PyUnicode_FromString(r->final_url)
                     : Py_NewRef(rec->final_is_url ? url : Py_None),
        PyLong_FromLong(r->status),
        PyLong_FromLong(r->http_version),
        PyLong_FromUnsignedLongLong((unsigned long long)r->bytes),
        path,
        r->body ? PyBytes_FromStringAndSize((const char *)r->body,
                                            (Py_ssize_t)r->bytes)
                : Py_NewRef(Py_None),
        content_type(self, r->content_type),
        PyFloat_FromDouble(r->dns_s),
        PyFloat_FromDouble(r->connect_s),
        PyFloat_FromDouble(r->tls_s),
        PyFloat_FromDouble(r->first_byte_s),
        PyFloat_FromDouble(r->total_s),
        PyLong_FromUnsignedLong(r->attempts),
        ub_error_name(r->error),
        str_or_none(r->message),
    };
    enum { NFIELDS = sizeof fields / sizeof *fields };
    PyObject *result = self->result_type->tp_alloc(self->result_type, NFIELDS);
    bool atomic = true; /* no field can hold a reference cycle */
    for (Py_ssize_t i = 0; i < NFIELDS; i++) {
        if (!fields[i] || !result) {
            for (Py_ssize_t k = i; k < NFIELDS; k++)
                Py_XDECREF(fields[k]);
            Py_XDECREF(result);
            return NULL;
        }
        atomic = atomic && !PyObject_GC_IsTracked(fields[i]);
        PyTuple_SET_ITEM(result, i, fields[i]);
    }
    /* As CPython does for such tuples, but at once: thousands of results
     * kept in a list would otherwise be walked by every collection. */
    if (atomic)
        PyObject_GC_UnTrack(result);
    return result;
}

static PyObject *convert_record(void *owner, ub_record *rec) {
    return to_result(owner, (const record *)rec);
}

static PyObject *download_next(DownloadObject *self) {
    return ub_core_thread_next(&self->thread, convert_record, free_record,
                               self);
}

/* What collect() fills: the list, by index. */
typedef struct {
    DownloadObject *self;
    PyObject *results;
} collecting;

/* collect()'s store: the Result goes to its index in the list. */
static int store_record(void *owner, ub_record *rec) {
    collecting *c = owner;
    Py_ssize_t i = (Py_ssize_t)((const record *)rec)->r.index;
    if (i >= PyList_GET_SIZE(c->results)) { /* shrunk while we waited */
        PyErr_SetString(PyExc_IndexError, "the results list was shortened");
        return -1;
    }
    PyObject *result = to_result(c->self, (const record *)rec);
    if (!result)
        return -1;
    PyObject *old = PyList_GET_ITEM(c->results, i);
    PyList_SET_ITEM(c->results, i, result);
    Py_DECREF(old);
    return 0;
}

PyDoc_STRVAR(collect_doc,
"collect(results)\n--\n\n"
"Put each result at its index in `results` (a list as long as the URLs)\n"
"as it comes; return True at the end, or False when a progress snapshot\n"
"is ready (call again after taking it).  Ctrl-C cancels the transfers.");

static PyObject *download_collect(DownloadObject *self, PyObject *results) {
    if (!PyList_CheckExact(results) || PyList_GET_SIZE(results) != self->total) {
        PyErr_SetString(PyExc_TypeError,
                        "collect() needs a list with one item per URL");
        return NULL;
    }
    collecting c = {self, results};
    int rc = ub_core_thread_collect(&self->thread, store_record, free_record,
                                    &c);
    return rc < 0 ? NULL : PyBool_FromLong(rc);
}

PyDoc_STRVAR(progress_doc,
"progress()\n--\n\n"
"The latest progress snapshot as (done, total, failed, active, bytes, rate,\n"
"elapsed) and mark it seen, or None if nothing changed since last time.");

static PyObject *download_progress(DownloadObject *self, PyObject *unused) {
    ug_fetch_progress p;
    if (!ub_core_thread_take_progress(&self->thread, &p, &self->progress,
                                      sizeof p))
        Py_RETURN_NONE;
    return Py_BuildValue("(nnnnKdd)", (Py_ssize_t)p.done, (Py_ssize_t)p.total,
                         (Py_ssize_t)p.failed, (Py_ssize_t)p.active,
                         (unsigned long long)p.bytes, p.rate, p.elapsed_s);
}

static PyObject *download_close(DownloadObject *self, PyObject *unused) {
    Py_BEGIN_ALLOW_THREADS
    ub_core_thread_stop(&self->thread);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *download_get_total(DownloadObject *self, void *closure) {
    return PyLong_FromSsize_t(self->total);
}

static PyMethodDef download_methods[] = {
    {"collect", (PyCFunction)download_collect, METH_O, collect_doc},
    {"progress", (PyCFunction)download_progress, METH_NOARGS, progress_doc},
    {"close", (PyCFunction)download_close, METH_NOARGS,
     "close()\n--\n\nCancel every transfer and wait for the engine to stop."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef download_getset[] = {
    {"total", (getter)download_get_total, NULL, "Number of requests.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot download_slots[] = {
    {Py_tp_new, download_new},
    {Py_tp_dealloc, download_dealloc},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, download_next},
    {Py_tp_methods, download_methods},
    {Py_tp_getset, download_getset},
    {Py_tp_doc,
     "_Download(urls, dest, names, sha256, options)\n--\n\n"
     "Run a fetch engine on a native thread; iterate for result tuples (and\n"
     "None whenever a progress snapshot is ready).  See ungil.download."},
    {0, NULL},
};

static PyType_Spec download_spec = {
    .name = "ungil._ungil._Download",
    .basicsize = sizeof(DownloadObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = download_slots,
};

int ub_download_init_type(PyObject *module, ub_state *st) {
    return ub_add_type(module, &download_spec);
}
