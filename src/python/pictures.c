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

#include <pthread.h>
#include <string.h>
#include <time.h>

#include "ungil/pictures.h"

typedef struct {
    PyObject_HEAD
    ug_pictures *job;
    PyObject *trace_obj;   /* the Trace recorded into, or NULL */
    PyObject *dest_prefix; /* dest with a trailing '/' */
    pthread_t thread;
    int started, joined;
    int cancel;            /* read by the job with an atomic load */
    int run_rc;
    pthread_mutex_t lock;  /* guards finished */
    pthread_cond_t cond;
    int finished;
} PicturesObject;

static void *run_main(void *arg) {
    PicturesObject *self = arg;
    int rc = ug_pictures_run(self->job, &self->cancel);
    pthread_mutex_lock(&self->lock);
    self->run_rc = rc;
    self->finished = 1;
    pthread_cond_broadcast(&self->cond);
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

/* Cancels the job and joins its thread (GIL released by the caller). */
static void stop_job(PicturesObject *self) {
    if (!self->started || self->joined)
        return;
    __atomic_store_n(&self->cancel, 1, __ATOMIC_RELAXED);
    pthread_join(self->thread, NULL);
    self->joined = 1;
}

/* ---- options ------------------------------------------------------------ */

static int get_uint(PyObject *opts, const char *key, unsigned *out) {
    PyObject *v = PyDict_GetItemString(opts, key);
    if (!v || v == Py_None)
        return 0;
    unsigned long x = PyLong_AsUnsignedLong(v);
    if (x == (unsigned long)-1 && PyErr_Occurred())
        return -1;
    if (x > 100000) {
        PyErr_Format(PyExc_ValueError, "%s is too large", key);
        return -1;
    }
    *out = (unsigned)x;
    return 0;
}

static int get_ms(PyObject *opts, const char *key, unsigned *out) {
    PyObject *v = PyDict_GetItemString(opts, key);
    if (!v || v == Py_None)
        return 0;
    double s = PyFloat_AsDouble(v);
    if (s == -1.0 && PyErr_Occurred())
        return -1;
    if (!(s >= 0) || s > 4e6) {
        PyErr_Format(PyExc_ValueError, "%s must be between 0 and 4e6 seconds",
                     key);
        return -1;
    }
    *out = s > 0 && s < 0.001 ? 1 : (unsigned)(s * 1000);
    return 0;
}

static int get_u64(PyObject *opts, const char *key, uint64_t *out) {
    PyObject *v = PyDict_GetItemString(opts, key);
    if (!v || v == Py_None)
        return 0;
    *out = PyLong_AsUnsignedLongLong(v);
    return PyErr_Occurred() ? -1 : 0;
}

/* The kernel: options["kernel"] is a built-in name, or a tuple (size,
 * weights, scale or None, offset) as Pillow's Kernel takes them. */
static int get_kernel(PyObject *opts, ug_kernel *k) {
    PyObject *v = PyDict_GetItemString(opts, "kernel");
    if (!v || v == Py_None)
        return 0;
    if (PyUnicode_Check(v)) {
        const char *name = PyUnicode_AsUTF8(v);
        if (!name)
            return -1;
        if (ug_kernel_builtin(name, k)) {
            PyErr_Format(PyExc_ValueError, "unknown filter %R", v);
            return -1;
        }
        return 0;
    }
    int size;
    PyObject *weights, *scale;
    float offset;
    if (!PyArg_ParseTuple(v, "iOOf;kernel must be (size, weights, scale, offset)",
                          &size, &weights, &scale, &offset))
        return -1;
    PyObject *seq = PySequence_Fast(weights, "kernel weights must be a sequence");
    if (!seq)
        return -1;
    float w[25];
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if ((size != 3 && size != 5) || n != (Py_ssize_t)size * size) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError,
                        "kernel size must be 3 or 5 with size*size weights");
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        double d = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(seq, i));
        if (d == -1.0 && PyErr_Occurred()) {
            Py_DECREF(seq);
            return -1;
        }
        w[i] = (float)d;
    }
    Py_DECREF(seq);
    float s = 0;
    if (scale != Py_None) {
        double d = PyFloat_AsDouble(scale);
        if (d == -1.0 && PyErr_Occurred())
            return -1;
        s = (float)d;
    }
    if (ug_kernel_init(k, size, w, scale == Py_None ? NULL : &s, offset)) {
        PyErr_SetString(PyExc_ValueError, "invalid kernel");
        return -1;
    }
    return 0;
}

static int read_options(PyObject *opts, ug_pictures_options *o) {
    ug_fetch_options *f = &o->fetch;
    unsigned threads = 0;
    if (get_uint(opts, "concurrency", &f->concurrency) ||
        get_uint(opts, "per_host", &f->per_host) ||
        get_uint(opts, "retries", &f->retries) ||
        get_ms(opts, "connect_timeout", &f->connect_timeout_ms) ||
        get_ms(opts, "timeout", &f->timeout_ms) ||
        get_ms(opts, "backoff", &f->backoff_ms) ||
        get_u64(opts, "max_bytes", &f->max_bytes) ||
        get_uint(opts, "threads", &threads) ||
        get_u64(opts, "max_held_bytes", &o->max_held_bytes) ||
        get_kernel(opts, &o->kernel))
        return -1;
    o->threads = threads;
    unsigned quality = (unsigned)o->jpeg_quality;
    if (get_uint(opts, "quality", &quality))
        return -1;
    o->jpeg_quality = (int)quality;
    uint64_t pictures = 0, pixels = o->max_pixels;
    if (get_u64(opts, "max_held_pictures", &pictures) ||
        get_u64(opts, "max_pixels", &pixels))
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
    pthread_mutex_init(&self->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&self->cond, &ca);
    pthread_condattr_destroy(&ca);
    Py_ssize_t len = PyUnicode_GET_LENGTH(fs);
    int slash = len && PyUnicode_READ_CHAR(fs, len - 1) == '/';
    self->dest_prefix = slash ? Py_NewRef(fs) : PyUnicode_FromFormat("%U/", fs);
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
        PyObject *item = PyList_GET_ITEM(urls, i);
        Py_ssize_t size;
        const char *u = PyUnicode_Check(item) ? PyUnicode_AsUTF8AndSize(item, &size)
                                              : NULL;
        if (!u) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_TypeError, "urls[%zd] must be a str, not %.100s",
                             i, Py_TYPE(item)->tp_name);
            goto fail;
        }
        if ((size_t)size != strlen(u)) {
            PyErr_Format(PyExc_ValueError, "urls[%zd] contains a NUL character", i);
            goto fail;
        }
        long idx = ug_pictures_add(self->job, u);
        if (idx < 0) {
            ub_raise((int)idx);
            goto fail;
        }
    }
    if (pthread_create(&self->thread, NULL, run_main, self)) {
        ub_raise(UG_ETHREAD);
        goto fail;
    }
    self->started = 1;
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
    stop_job(self);
    ug_pictures_free(job);
    Py_END_ALLOW_THREADS
    Py_XDECREF(self->trace_obj);
    Py_XDECREF(self->dest_prefix);
    pthread_mutex_destroy(&self->lock);
    pthread_cond_destroy(&self->cond);
    tp->tp_free(self);
    Py_DECREF(tp);
}

/* ---- waiting ------------------------------------------------------------ */

static int poll_finished(void *ctx, int64_t slice_ns) {
    PicturesObject *self = ctx;
    uint64_t deadline = ug_clock_ns() + (uint64_t)slice_ns;
    struct timespec ts = {.tv_sec = (time_t)(deadline / 1000000000u),
                          .tv_nsec = (long)(deadline % 1000000000u)};
    pthread_mutex_lock(&self->lock);
    while (!self->finished && ug_clock_ns() < deadline)
        pthread_cond_timedwait(&self->cond, &self->lock, &ts);
    int done = self->finished;
    pthread_mutex_unlock(&self->lock);
    return done;
}

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
    int w = ub_wait(poll_finished, self, deadline);
    if (w < 0) {
        Py_BEGIN_ALLOW_THREADS
        stop_job(self);
        Py_END_ALLOW_THREADS
        return NULL;
    }
    if (w == 1 && !self->joined) {
        Py_BEGIN_ALLOW_THREADS
        pthread_join(self->thread, NULL);
        Py_END_ALLOW_THREADS
        self->joined = 1;
    }
    return PyBool_FromLong(w);
}

/* Fails unless the run has finished and its thread is joined. */
static int check_joined(PicturesObject *self) {
    if (self->joined && self->finished)
        return 0;
    PyErr_SetString(PyExc_RuntimeError, "the pictures job has not finished");
    return -1;
}

static PyObject *error_name(int code) {
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
    case UG_ETIMEDOUT: name = "timeout"; break;
    case UG_EFORMAT: name = "format"; break;
    case UG_ECORRUPT: name = "corrupt"; break;
    case UG_EBOMB: name = "bomb"; break;
    case UG_EMODE: name = "mode"; break;
    case UG_EIO:
    case UG_EUNSAFE:
    case UG_EEXIST: name = "io"; break;
    case UG_ENOMEM: name = "memory"; break;
    case UG_ECANCELED: name = "cancelled"; break;
    default: name = "error"; break;
    }
    return PyUnicode_FromString(name);
}

static PyObject *to_tuple(PicturesObject *self, const ug_pictures_result *r) {
    PyObject *path = r->name ? PyUnicode_FromFormat("%U%s", self->dest_prefix,
                                                    r->name)
                             : Py_NewRef(Py_None);
    PyObject *err = error_name(r->error);
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
    stop_job(self);
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
    PyTypeObject *tp =
        (PyTypeObject *)PyType_FromModuleAndSpec(module, &pictures_spec, NULL);
    if (!tp)
        return -1;
    int rc = PyModule_AddType(module, tp);
    Py_DECREF(tp);
    return rc;
}
