/* crawl.c - the _Crawl type: a crawler on its own thread.
 *
 * Creating a _Crawl compiles the options into a ug_crawl, adds the seeds
 * and starts a native thread that runs ug_crawl_run with the GIL never
 * held.  Each finished page is copied into a plain C record and appended
 * to the thread's queue (ub_core_thread, core_thread.c: unbounded, so a
 * slow consumer never stalls the crawl).  Iterating the object pops records and turns them into
 * ungil.Page tuples, waiting with the GIL released and interruptibly;
 * Ctrl-C (or close()) raises the crawl's cancel flag, and the thread stops
 * within about 100 ms.  graph() hands the finished crawl's link graph to
 * Python as an ungil.Graph (see graph.c).
 */
#include "binding.h"

#include <string.h>

#include "ungil/crawl.h"

/* A page copied out of the crawl's callback. */
typedef struct page_record {
    ub_record link;
    ug_crawl_page p; /* strings, links and counts below are owned copies */
} page_record;

typedef struct {
    PyObject_HEAD
    ug_crawl *crawl;
    PyTypeObject *page_type; /* ungil.Page, a tuple subclass */
    ub_core_thread thread; /* runs the crawl, queues the pages */
    ug_crawl_progress progress; /* the latest snapshot, under thread.lock */
} CrawlObject;

static char *copy_str(const char *s) { return s ? strdup(s) : NULL; }

static void record_free(ub_record *link) {
    page_record *rec = (page_record *)link;
    free((char *)rec->p.url);
    free((char *)rec->p.final_url);
    free((char *)rec->p.title);
    free((char *)rec->p.content_type);
    free((char *)rec->p.message);
    for (size_t i = 0; rec->p.links && i < rec->p.nlinks; i++)
        free((char *)rec->p.links[i]);
    free((void *)rec->p.links);
    free((void *)rec->p.counts);
    free(rec);
}

/* Crawl thread: copy the page and queue it. */
static void on_page(void *ctx, const ug_crawl_page *page) {
    CrawlObject *self = ctx;
    page_record *rec = calloc(1, sizeof *rec);
    if (!rec)
        return; /* out of memory even for the record: the page is lost */
    rec->p = *page;
    rec->p.url = copy_str(page->url);
    rec->p.final_url = copy_str(page->final_url);
    rec->p.title = copy_str(page->title);
    rec->p.content_type = copy_str(page->content_type);
    rec->p.message = copy_str(page->message);
    size_t n = page->nlinks;
    char **links = calloc(n ? n : 1, sizeof *links);
    uint32_t *counts = malloc((n ? n : 1) * sizeof *counts);
    rec->p.links = (const char *const *)links;
    rec->p.counts = counts;
    if (!links || !counts)
        rec->p.nlinks = 0;
    for (size_t i = 0; links && counts && i < n; i++) {
        links[i] = strdup(page->links[i]);
        counts[i] = page->counts[i];
        if (!links[i]) {
            rec->p.nlinks = i;
            break;
        }
    }
    ub_core_thread_push(&self->thread, &rec->link);
}

static void on_progress(void *ctx, const ug_crawl_progress *p) {
    CrawlObject *self = ctx;
    ub_core_thread_put_progress(&self->thread, &self->progress, p, sizeof *p);
}

static int run_crawl(void *ctx, const int *cancel) {
    return ug_crawl_run(((CrawlObject *)ctx)->crawl, cancel);
}

/* ---- construction ----------------------------------------------------- */

/* Borrowed UTF-8 views of the str items of the list opts[key] (NULL or
 * None: none), in a PyMem array the caller frees. */
static int str_list(PyObject *opts, const char *key, const char ***out,
                    size_t *n) {
    *out = NULL;
    *n = 0;
    PyObject *v = PyDict_GetItemString(opts, key);
    if (!v || v == Py_None)
        return 0;
    if (!PyList_Check(v)) {
        PyErr_Format(PyExc_TypeError, "%s must be a list of str", key);
        return -1;
    }
    Py_ssize_t len = PyList_GET_SIZE(v);
    const char **items = PyMem_Calloc(len ? (size_t)len : 1, sizeof *items);
    if (!items) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < len; i++) {
        PyObject *item = PyList_GET_ITEM(v, i);
        Py_ssize_t size;
        if (!PyUnicode_Check(item) ||
            !(items[i] = PyUnicode_AsUTF8AndSize(item, &size)) ||
            (size_t)size != strlen(items[i])) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_ValueError,
                             "%s[%zd] must be a str without NUL", key, i);
            PyMem_Free(items);
            return -1;
        }
    }
    *out = items;
    *n = (size_t)len;
    return 0;
}

static int read_options(PyObject *opts, ug_crawl_options *o) {
    unsigned long pages = o->max_pages, robots = 1;
    if (ub_opt_uint(opts, "concurrency", UINT_MAX, &o->concurrency) ||
        ub_opt_uint(opts, "per_host", UINT_MAX, &o->per_host) ||
        ub_opt_ulong(opts, "max_pages", (unsigned long)-1, &pages) ||
        ub_opt_uint(opts, "retries", UINT_MAX, &o->retries) ||
        ub_opt_uint(opts, "max_redirects", UINT_MAX, &o->max_redirects) ||
        ub_opt_uint(opts, "max_query_variants", UINT_MAX,
                    &o->max_query_variants) ||
        ub_opt_ulong(opts, "robots", 1, &robots) ||
        ub_opt_ms(opts, "delay", &o->delay_ms) ||
        ub_opt_ms(opts, "max_crawl_delay", &o->max_crawl_delay_ms) ||
        ub_opt_ms(opts, "timeout", &o->timeout_ms) ||
        ub_opt_ms(opts, "connect_timeout", &o->connect_timeout_ms))
        return -1;
    o->max_pages = pages;
    o->robots = (int)robots;
    PyObject *v = PyDict_GetItemString(opts, "max_depth");
    if (v && v != Py_None) {
        long d = PyLong_AsLong(v);
        if (d == -1 && PyErr_Occurred())
            return -1;
        if (d < 0 || d > 1000000) {
            PyErr_SetString(PyExc_ValueError,
                            "max_depth must be None or from 0 to 1000000");
            return -1;
        }
        o->max_depth = (int)d;
    }
    v = PyDict_GetItemString(opts, "scope");
    if (v && v != Py_None) {
        long s = PyLong_AsLong(v);
        if (s == -1 && PyErr_Occurred())
            return -1;
        o->scope = (int)s;
    }
    if (ub_opt_u64(opts, "max_bytes", &o->max_bytes) ||
        ub_opt_long(opts, "dns_cache", -1, LONG_MAX, &o->dns_cache_s))
        return -1;
    o->user_agent = ub_opt_str(opts, "user_agent");
    o->ca_file = ub_opt_str(opts, "ca_file");
    o->proxy = ub_opt_str(opts, "proxy");
    return PyErr_Occurred() ? -1 : 0;
}

static PyObject *crawl_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"seeds", "options", NULL};
    PyObject *seeds, *opts;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!O!:_Crawl", kwlist,
                                     &PyList_Type, &seeds, &PyDict_Type, &opts))
        return NULL;
    ug_crawl_options o;
    ug_crawl_options_init(&o);
    const char **include = NULL, **exclude = NULL, **types = NULL;
    if (read_options(opts, &o) < 0 ||
        str_list(opts, "include", &include, &o.ninclude) < 0 ||
        str_list(opts, "exclude", &exclude, &o.nexclude) < 0 ||
        str_list(opts, "content_types", &types, &o.ncontent_types) < 0)
        goto fail_lists;
    o.include = include;
    o.exclude = exclude;
    o.content_types = types;
    for (size_t i = 0; i < o.ninclude + o.nexclude; i++) {
        const char *re = i < o.ninclude ? include[i] : exclude[i - o.ninclude];
        char message[256];
        if (ug_crawl_check_pattern(re, message, sizeof message)) {
            PyErr_Format(PyExc_ValueError, "bad pattern %R: %s",
                         PyList_GET_ITEM(PyDict_GetItemString(
                                             opts, i < o.ninclude ? "include"
                                                                  : "exclude"),
                                         (Py_ssize_t)(i < o.ninclude
                                                          ? i
                                                          : i - o.ninclude)),
                         message);
            goto fail_lists;
        }
    }
    PyObject *page_type = PyDict_GetItemString(opts, "page_type");
    if (!page_type || !PyType_Check(page_type) ||
        !PyType_IsSubtype((PyTypeObject *)page_type, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError,
                        "options['page_type'] must be a tuple subclass");
        goto fail_lists;
    }
    CrawlObject *self = (CrawlObject *)type->tp_alloc(type, 0);
    if (!self)
        goto fail_lists;
    ub_core_thread_init(&self->thread);
    self->page_type = (PyTypeObject *)Py_NewRef(page_type);
    PyObject *records = PyDict_GetItemString(opts, "records");
    o.on_page = records && PyObject_IsTrue(records) ? on_page : NULL;
    PyObject *want_progress = PyDict_GetItemString(opts, "progress");
    o.on_progress = want_progress && PyObject_IsTrue(want_progress) ? on_progress
                                                                    : NULL;
    o.ctx = self;
    int rc = ug_crawl_new(&o, &self->crawl);
    PyMem_Free(include);
    PyMem_Free(exclude);
    PyMem_Free(types);
    if (rc) {
        if (rc == UG_EINVAL)
            PyErr_SetString(PyExc_ValueError, "invalid crawl options");
        else
            ub_raise(rc);
        goto fail;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(seeds); i++) {
        PyObject *item = PyList_GET_ITEM(seeds, i);
        const char *url = PyUnicode_Check(item) ? PyUnicode_AsUTF8(item) : NULL;
        if (!url) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "start URLs must be str");
            goto fail;
        }
        rc = ug_crawl_add_seed(self->crawl, url);
        if (rc == UG_EURL) {
            PyErr_Format(PyExc_ValueError, "not an http(s) URL: %R", item);
            goto fail;
        }
        if (rc) {
            ub_raise(rc);
            goto fail;
        }
    }
    if ((rc = ub_core_thread_start(&self->thread, run_crawl, self))) {
        ub_raise(rc);
        goto fail;
    }
    return (PyObject *)self;
fail:
    Py_DECREF(self);
    return NULL;
fail_lists:
    PyMem_Free(include);
    PyMem_Free(exclude);
    PyMem_Free(types);
    return NULL;
}

static void crawl_dealloc(CrawlObject *self) {
    PyTypeObject *tp = Py_TYPE(self);
    Py_BEGIN_ALLOW_THREADS
    ub_core_thread_stop(&self->thread);
    Py_END_ALLOW_THREADS
    ug_crawl_free(self->crawl);
    Py_XDECREF(self->page_type);
    ub_core_thread_drop(&self->thread, record_free);
    ub_core_thread_destroy(&self->thread);
    tp->tp_free(self);
    Py_DECREF(tp);
}

/* ---- consuming -------------------------------------------------------- */

static PyObject *text(const char *s) {
    if (!s)
        Py_RETURN_NONE;
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace");
}

/* Builds the ungil.Page for `p`, fields in declaration order. */
static PyObject *to_page(CrawlObject *self, const ug_crawl_page *p) {
    PyObject *links = PyTuple_New((Py_ssize_t)p->nlinks);
    PyObject *counts = PyTuple_New((Py_ssize_t)p->nlinks);
    PyObject *fields = NULL, *page = NULL;
    for (size_t i = 0; links && counts && i < p->nlinks; i++) {
        PyObject *u = text(p->links[i]);
        PyObject *k = PyLong_FromUnsignedLong(p->counts[i]);
        if (!u || !k) {
            Py_XDECREF(u);
            Py_XDECREF(k);
            goto out;
        }
        PyTuple_SET_ITEM(links, (Py_ssize_t)i, u);
        PyTuple_SET_ITEM(counts, (Py_ssize_t)i, k);
    }
    if (links && counts)
        fields = Py_BuildValue("((nNNliNNKOONN))", (Py_ssize_t)p->index,
                               text(p->url), text(p->final_url), p->status,
                               p->depth, text(p->title), text(p->content_type),
                               (unsigned long long)p->bytes, links, counts,
                               ub_error_name(p->error), text(p->message));
    if (fields) /* tuple.__new__(Page, fields): no Python code runs */
        page = PyTuple_Type.tp_new(self->page_type, fields, NULL);
out:
    Py_XDECREF(fields);
    Py_XDECREF(links);
    Py_XDECREF(counts);
    return page;
}

static PyObject *convert_record(void *owner, ub_record *rec) {
    return to_page(owner, &((const page_record *)rec)->p);
}

static PyObject *crawl_next(CrawlObject *self) {
    return ub_core_thread_next(&self->thread, convert_record, record_free,
                               self);
}

PyDoc_STRVAR(progress_doc,
"progress()\n--\n\n"
"The latest progress snapshot as (pages, failed, queued, active, seen,\n"
"depth, bytes, elapsed) and mark it seen, or None if nothing changed.");

static PyObject *crawl_progress(CrawlObject *self, PyObject *unused) {
    ug_crawl_progress p;
    if (!ub_core_thread_take_progress(&self->thread, &p, &self->progress,
                                      sizeof p))
        Py_RETURN_NONE;
    return Py_BuildValue("(nnnnniKd)", (Py_ssize_t)p.pages,
                         (Py_ssize_t)p.failed, (Py_ssize_t)p.queued,
                         (Py_ssize_t)p.active, (Py_ssize_t)p.seen, p.depth,
                         (unsigned long long)p.bytes, p.elapsed_s);
}

static PyObject *crawl_close(CrawlObject *self, PyObject *unused) {
    Py_BEGIN_ALLOW_THREADS
    ub_core_thread_stop(&self->thread);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

PyDoc_STRVAR(graph_doc,
"graph()\n--\n\n"
"The link graph as an ungil.Graph, once the crawl has finished or was\n"
"closed (then it holds what was learned); can be taken only once.");

/* Joins the crawl thread if it has finished (or was stopped); raises
 * RuntimeError and returns -1 while it still runs. */
static int require_finished(CrawlObject *self) {
    pthread_mutex_lock(&self->thread.lock);
    int finished = self->thread.finished;
    pthread_mutex_unlock(&self->thread.lock);
    if (!finished && !self->thread.joined) {
        PyErr_SetString(PyExc_RuntimeError,
                        "the crawl is still running: iterate it to the end "
                        "or close() it first");
        return -1;
    }
    Py_BEGIN_ALLOW_THREADS
    ub_core_thread_join(&self->thread);
    Py_END_ALLOW_THREADS
    return 0;
}

static PyObject *crawl_graph(CrawlObject *self, PyObject *unused) {
    if (require_finished(self) < 0)
        return NULL;
    ug_graph *g = ug_crawl_take_graph(self->crawl);
    if (!g) {
        PyErr_SetString(PyExc_RuntimeError, "the graph was already taken");
        return NULL;
    }
    return ub_graph_wrap(ub_state_of_type(Py_TYPE(self)), g);
}

static PyObject *crawl_get_memory(CrawlObject *self, void *closure) {
    if (require_finished(self) < 0)
        return NULL;
    return PyLong_FromSize_t(ug_crawl_memory(self->crawl));
}

static PyMethodDef crawl_methods[] = {
    {"progress", (PyCFunction)crawl_progress, METH_NOARGS, progress_doc},
    {"graph", (PyCFunction)crawl_graph, METH_NOARGS, graph_doc},
    {"close", (PyCFunction)crawl_close, METH_NOARGS,
     "close()\n--\n\nCancel the crawl and wait for it to stop."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef crawl_getset[] = {
    {"memory", (getter)crawl_get_memory, NULL,
     "Bytes held by the seen-set and the frontier, after the crawl.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot crawl_slots[] = {
    {Py_tp_new, crawl_new},
    {Py_tp_dealloc, crawl_dealloc},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, crawl_next},
    {Py_tp_methods, crawl_methods},
    {Py_tp_getset, crawl_getset},
    {Py_tp_doc,
     "_Crawl(seeds, options)\n--\n\n"
     "Run a crawler on a native thread; iterate for page tuples (and None\n"
     "whenever a progress snapshot is ready).  See ungil.crawl_iter."},
    {0, NULL},
};

static PyType_Spec crawl_spec = {
    .name = "ungil._ungil._Crawl",
    .basicsize = sizeof(CrawlObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = crawl_slots,
};

int ub_crawl_init_type(PyObject *module, ub_state *st) {
    return ub_add_type(module, &crawl_spec);
}
