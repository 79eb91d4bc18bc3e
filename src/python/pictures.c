/* pictures.c - the _Pictures type: a pictures job on its own native thread.
 *
 * Creating a _Pictures validates everything, builds the core job, adds
 * every URL and starts a native thread that runs ug_pictures_run with the
 * GIL never held.  wait(slice) sleeps with the GIL released until the job
 * ends or `slice` seconds pass, checking signals every 50 ms: Ctrl-C raises
 * the job's cancel flag, joins the thread (the job stops within about
 * 100 ms) and raises KeyboardInterrupt.  Once finished, results() gives one
 * tuple per URL in input order and summary() the totals.
 */
#include "binding.h"

#include <string.h>

#include "ungil/pictures.h"

typedef struct {
    PyObject_HEAD
    ug_pictures *job;
    PyObject *trace_obj;   /* the Trace recorded into, or NULL */
    PyObject *dest_prefix; /* dest with a trailing '/' */
    ub_core_thread thread; /* runs the job */
} PicturesObject;

static int run_job(void *ctx, const int *cancel) {
    return ug_pictures_run(((PicturesObject *)ctx)->job, cancel);
}

/* ---- options ------------------------------------------------------------ */

/* The kernel: options["kernel"] as ub_parse_kernel takes it, or None. */
static int get_kernel(PyObject *opts, ug_kernel *k) {
    PyObject *v = PyDict_GetItemString(opts, "kernel");
    if (!v || v == Py_None)
        return 0;
    return ub_parse_kernel(v, k);
}

static int read_options(PyObject *opts, ug_pictures_options *o) {
    ug_fetch_options *f = &o->fetch;
    unsigned threads = 0;
    if (ub_opt_uint(opts, "concurrency", 100000, &f->concurrency) ||
        ub_opt_uint(opts, "per_host", 100000, &f->per_host) ||
        ub_opt_uint(opts, "retries", 100000, &f->retries) ||
        ub_opt_ms(opts, "connect_timeout", &f->connect_timeout_ms) ||
        ub_opt_ms(opts, "timeout", &f->timeout_ms) ||
        ub_opt_ms(opts, "backoff", &f->backoff_ms) ||
        ub_opt_u64(opts, "max_bytes", &f->max_bytes) ||
        ub_opt_uint(opts, "threads", 100000, &threads) ||
        ub_opt_u64(opts, "max_held_bytes", &o->max_held_bytes) ||
        get_kernel(opts, &o->kernel))
        return -1;
    o->threads = threads;
    unsigned quality = (unsigned)o->jpeg_quality;
    if (ub_opt_uint(opts, "quality", 100000, &quality))
        return -1;
    o->jpeg_quality = (int)quality;
    uint64_t pictures = 0, pixels = o->max_pixels;
    if (ub_opt_u64(opts, "max_held_pictures", &pictures) ||
        ub_opt_u64(opts, "max_pixels", &pixels))
        return -1;
    o->max_held_pictures = (size_t)pictures;
    o->max_pixels = (size_t)pixels;
    PyObject *v = PyDict_GetItemString(opts, "format");
    if (v && v != Py_None) {
        const char *s = PyUnicode_Check(v) ? PyUnicode_AsUTF8(v) : NULL;
        if (s && !strcmp(s, "png"))
            o->format = UG_FORMAT_PNG;
        else if (s && !strcmp(s, "jpeg"))
            o->format = UG_FORMAT_JPEG;
        else {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_ValueError,
                             "format must be None, 'png' or 'jpeg', not %R", v);
            return -1;
        }
    }
    return 0;
}

/* ---- construction ------------------------------------------------------- */

static PyObject *pictures_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"urls", "dest", "options", NULL};
    PyObject *urls, *dest, *opts, *dest_bytes = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!OO!:_Pictures", kwlist,
                                     &PyList_Type, &urls, &dest, &PyDict_Type,
                                     &opts))
        return NULL;
    ug_pictures_options o;
    ug_pictures_options_init(&o);
    if (read_options(opts, &o) < 0)
        return NULL;
    PyObject *fs = PyOS_FSPath(dest);
    if (!fs)
        return NULL;
    if (!PyUnicode_Check(fs)) {
        Py_DECREF(fs);
        PyErr_SetString(PyExc_TypeError, "dest must be a str path");
        return NULL;
    }
    if (!PyUnicode_FSConverter(fs, &dest_bytes)) {
        Py_DECREF(fs);
        return NULL;
    }
    PicturesObject *self = (PicturesObject *)type->tp_alloc(type, 0);
    if (!self) {
        Py_DECREF(fs);
        Py_DECREF(dest_bytes);
        return NULL;
    }
    ub_core_thread_init(&self->thread);
    self->dest_prefix = ub_dir_prefix(fs);
    Py_DECREF(fs);
    if (!self->dest_prefix)
        goto fail;
    PyObject *trace_obj = PyDict_GetItemString(opts, "trace");
    if (trace_obj && trace_obj != Py_None) {
        o.trace = ub_trace_get(ub_state_of_type(type), trace_obj);
        if (!o.trace)
            goto fail;
        self->trace_obj = Py_NewRef(trace_obj);
    }
    o.dest_dir = PyBytes_AS_STRING(dest_bytes);
    int rc;
    Py_BEGIN_ALLOW_THREADS /* starts threads and opens the directory */
    rc = ug_pictures_new(&o, &self->job);
    Py_END_ALLOW_THREADS
    if (rc) {
        if (rc == UG_EINVAL)
            PyErr_Format(PyExc_NotADirectoryError, "not a directory: %R", dest);
        else
            ub_raise(rc);
        goto fail;
    }
    Py_ssize_t n = PyList_GET_SIZE(urls);
    for (Py_ssize_t i = 0; i < n; i++) {
        const char *u;
        if (ub_utf8_item(PyList_GET_ITEM(urls, i), "urls", i, &u) < 0)
            goto fail;
        long idx = ug_pictures_add(self->job, u);
        if (idx < 0) {
            ub_raise((int)idx);
            goto fail;
        }
    }
    if ((rc = ub_core_thread_start(&self->thread, run_job, self))) {
        ub_raise(rc);
        goto fail;
    }
    Py_DECREF(dest_bytes);
    return (PyObject *)self;
fail:
    Py_DECREF(dest_bytes);
    Py_DECREF(self);
    return NULL;
}

static void pictures_dealloc(PicturesObject *self) {
    PyTypeObject *tp = Py_TYPE(self);
    ug_pictures *job = self->job;
    Py_BEGIN_ALLOW_THREADS
    ub_core_thread_stop(&self->thread);
    ug_pictures_free(job);
    Py_END_ALLOW_THREADS
    Py_XDECREF(self->trace_obj);
    Py_XDECREF(self->dest_prefix);
    ub_core_thread_destroy(&self->thread);
    tp->tp_free(self);
    Py_DECREF(tp);
}

/* ---- waiting ------------------------------------------------------------ */

PyDoc_STRVAR(wait_doc,
"wait(timeout=None)\n--\n\n"
"Wait until the job has finished or `timeout` seconds passed; return True\n"
"when finished.  Ctrl-C cancels the job and raises KeyboardInterrupt.");

static PyObject *pictures_wait(PicturesObject *self, PyObject *args) {
    PyObject *timeout = Py_None;
    uint64_t deadline;
    if (!PyArg_ParseTuple(args, "|O:wait", &timeout) ||
        ub_deadline(timeout, &deadline) < 0)
        return NULL;
    /* The job queues no records and no progress: ready means finished. */
    int w = ub_wait(ub_core_thread_poll, &self->thread, deadline);
    if (w < 0) {
        Py_BEGIN_ALLOW_THREADS
        ub_core_thread_stop(&self->thread);
        Py_END_ALLOW_THREADS
        return NULL;
    }
    if (w == 1 && !self->thread.joined) {
        Py_BEGIN_ALLOW_THREADS
        ub_core_thread_join(&self->thread);
        Py_END_ALLOW_THREADS
    }
    return PyBool_FromLong(w);
}

/* Fails unless the run has finished and its thread is joined. */
static int check_joined(PicturesObject *self) {
    if (self->thread.joined && self->thread.finished)
        return 0;
    PyErr_SetString(PyExc_RuntimeError, "the pictures job has not finished");
    return -1;
}

static PyObject *to_tuple(PicturesObject *self, const ug_pictures_result *r) {
    PyObject *path = r->name ? ub_path_in(self->dest_prefix, r->name)
                             : Py_NewRef(Py_None);
    PyObject *err = ub_error_name(r->error);
    PyObject *tuple = NULL;
    if (path && err)
        tuple = Py_BuildValue(
            "(nszlKIddOiizzzKddddOzz)", (Py_ssize_t)r->index, r->url,
            r->final_url, r->status, (unsigned long long)r->bytes, r->attempts,
            r->first_byte_s, r->total_s, path, r->width, r->height,
            ug_image_mode_name(r->mode), ug_image_format_name(r->format_in),
            ug_image_format_name(r->format_out),
            (unsigned long long)r->out_bytes, r->decode_s, r->filter_s,
            r->encode_s, r->save_s, err, ug_pictures_stage_name(r->stage),
            r->message);
    Py_XDECREF(path);
    Py_XDECREF(err);
    return tuple;
}

PyDoc_STRVAR(results_doc,
"results()\n--\n\n"
"One tuple per URL, in input order, once the job has finished: the fields\n"
"of ungil.PictureResult.");

static PyObject *pictures_results(PicturesObject *self, PyObject *unused) {
    if (check_joined(self) < 0)
        return NULL;
    size_t n = ug_pictures_count(self->job);
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; list && i < n; i++) {
        PyObject *t = to_tuple(self, ug_pictures_result_at(self->job, i));
        if (!t)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, (Py_ssize_t)i, t);
    }
    return list;
}

PyDoc_STRVAR(summary_doc,
"summary()\n--\n\n"
"The totals of the finished run as a dict: total, saved, failed, bytes_in,\n"
"bytes_out, peak_held_bytes, peak_held_pictures, elapsed, and the summed\n"
"seconds download, decode, filter, encode, save.");

static PyObject *pictures_summary(PicturesObject *self, PyObject *unused) {
    if (check_joined(self) < 0)
        return NULL;
    ug_pictures_summary s;
    ug_pictures_summary_get(self->job, &s);
    return Py_BuildValue(
        "{s:n,s:n,s:n,s:K,s:K,s:K,s:n,s:d,s:d,s:d,s:d,s:d,s:d}", "total",
        (Py_ssize_t)s.total, "saved", (Py_ssize_t)s.saved, "failed",
        (Py_ssize_t)s.failed, "bytes_in", (unsigned long long)s.bytes_in,
        "bytes_out", (unsigned long long)s.bytes_out, "peak_held_bytes",
        (unsigned long long)s.peak_held_bytes, "peak_held_pictures",
        (Py_ssize_t)s.peak_held_pictures, "elapsed", s.elapsed_s, "download",
        s.download_s, "decode", s.decode_s, "filter", s.filter_s, "encode",
        s.encode_s, "save", s.save_s);
}

PyDoc_STRVAR(progress_doc,
"progress()\n--\n\n"
"A snapshot (total, downloaded, done, failed, bytes_in, held_bytes,\n"
"held_pictures, elapsed), also while the job runs.");

static PyObject *pictures_progress(PicturesObject *self, PyObject *unused) {
    ug_pictures_progress p;
    ug_pictures_progress_get(self->job, &p);
    return Py_BuildValue("(nnnnKKnd)", (Py_ssize_t)p.total,
                         (Py_ssize_t)p.downloaded, (Py_ssize_t)p.done,
                         (Py_ssize_t)p.failed, (unsigned long long)p.bytes_in,
                         (unsigned long long)p.held_bytes,
                         (Py_ssize_t)p.held_pictures, p.elapsed_s);
}

static PyObject *pictures_close(PicturesObject *self, PyObject *unused) {
    Py_BEGIN_ALLOW_THREADS
    ub_core_thread_stop(&self->thread);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyMethodDef pictures_methods[] = {
    {"wait", (PyCFunction)pictures_wait, METH_VARARGS, wait_doc},
    {"results", (PyCFunction)pictures_results, METH_NOARGS, results_doc},
    {"summary", (PyCFunction)pictures_summary, METH_NOARGS, summary_doc},
    {"progress", (PyCFunction)pictures_progress, METH_NOARGS, progress_doc},
    {"close", (PyCFunction)pictures_close, METH_NOARGS,
     "close()\n--\n\nCancel the job and wait for its thread to stop."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot pictures_slots[] = {
    {Py_tp_new, pictures_new},
    {Py_tp_dealloc, pictures_dealloc},
    {Py_tp_methods, pictures_methods},
    {Py_tp_doc,
     "_Pictures(urls, dest, options)\n--\n\n"
     "Run a pictures job (download, filter, save) on a native thread.\n"
     "See ungil.download_pictures."},
    {0, NULL},
};

static PyType_Spec pictures_spec = {
    .name = "ungil._ungil._Pictures",
    .basicsize = sizeof(PicturesObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = pictures_slots,
};

int ub_pictures_init_type(PyObject *module, ub_state *st) {
    return ub_add_type(module, &pictures_spec);
}
