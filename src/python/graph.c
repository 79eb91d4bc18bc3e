/* graph.c - the Graph type: a ug_graph that Python code can build, lay out,
 * read and save.
 *
 * A Graph owns its ug_graph (the crawl binding hands one over through
 * ub_graph_wrap).  Records (ungil.Node, ungil.Edge) are named tuples from
 * ungil._graph, built here with tuple.__new__ so no Python code runs per
 * node; to_networkx lives there too.
 *
 * The core graph is not locked, and layout and save run with the GIL
 * released, so the object counts its users under the GIL: while a save
 * reads the graph nothing may change it, and while a layout changes it
 * nothing else may touch it.  A conflicting call raises RuntimeError
 * instead of racing.
 */
#include "binding.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

typedef struct {
    PyObject_HEAD
    ug_graph *graph;
    int readers;  /* saves running with the GIL released */
    int writing;  /* a layout running with the GIL released */
} GraphObject;

static int check_idle(GraphObject *self, int for_write) {
    if (self->writing || (for_write && self->readers)) {
        PyErr_SetString(PyExc_RuntimeError,
                        "the Graph is in use by another thread (layout or "
                        "save running)");
        return -1;
    }
    return 0;
}

static GraphObject *graph_alloc(PyTypeObject *type) {
    GraphObject *self = (GraphObject *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    int rc = ug_graph_new(&self->graph);
    if (rc) {
        Py_DECREF(self);
        ub_raise(rc);
        return NULL;
    }
    return self;
}

PyObject *ub_graph_wrap(ub_state *st, ug_graph *g) {
    GraphObject *self = (GraphObject *)st->graph_type->tp_alloc(st->graph_type, 0);
    if (!self) {
        ug_graph_free(g);
        return NULL;
    }
    self->graph = g;
    return (PyObject *)self;
}

static PyObject *graph_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    if (PyTuple_GET_SIZE(args) || (kw && PyDict_GET_SIZE(kw))) {
        PyErr_SetString(PyExc_TypeError, "Graph() takes no arguments");
        return NULL;
    }
    return (PyObject *)graph_alloc(type);
}

static void graph_dealloc(GraphObject *self) {
    PyTypeObject *tp = Py_TYPE(self);
    ug_graph_free(self->graph);
    tp->tp_free(self);
    Py_DECREF(tp);
}

/* A core code as an exception, with a clearer word for a bad index. */
static PyObject *raise_rc(int rc) {
    if (rc == UG_ERANGE) {
        PyErr_SetString(PyExc_IndexError, "no such node in the graph");
        return NULL;
    }
    return ub_raise(rc);
}

/* An int that fits in C int; -1 with OverflowError or TypeError if not. */
static int as_int(PyObject *o, int *out) {
    long v = PyLong_AsLong(o);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (v < INT_MIN || v > INT_MAX) {
        PyErr_SetString(PyExc_OverflowError, "value out of range for a C int");
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* The UTF-8 text of a str without NUL characters (the core takes C
 * strings); NULL with ValueError or TypeError otherwise. */
static const char *text_arg(PyObject *o) {
    if (!PyUnicode_Check(o)) {
        PyErr_Format(PyExc_TypeError, "expected a str, not %.200s",
                     Py_TYPE(o)->tp_name);
        return NULL;
    }
    Py_ssize_t len;
    const char *s = PyUnicode_AsUTF8AndSize(o, &len);
    if (s && strlen(s) != (size_t)len) {
        PyErr_SetString(PyExc_ValueError, "embedded null character");
        return NULL;
    }
    return s;
}

/* Sets the attributes given as keywords (None leaves one unchanged). */
static int set_attrs(GraphObject *self, size_t i, PyObject *status,
                     PyObject *depth, PyObject *title, PyObject *ctype,
                     PyObject *bytes, PyObject *error) {
    ug_graph *g = self->graph;
    int rc = 0;
    if (status != Py_None) {
        int v;
        if (as_int(status, &v) < 0)
            return -1;
        rc = ug_graph_set_status(g, i, v);
    }
    if (!rc && depth != Py_None) {
        int v;
        if (as_int(depth, &v) < 0)
            return -1;
        rc = ug_graph_set_depth(g, i, v);
    }
    if (!rc && bytes != Py_None) {
        long long v = PyLong_AsLongLong(bytes);
        if (v == -1 && PyErr_Occurred())
            return -1;
        rc = ug_graph_set_bytes(g, i, (int64_t)v);
    }
    PyObject *texts[3] = {title, ctype, error};
    int (*setters[3])(ug_graph *, size_t, const char *) = {
        ug_graph_set_title, ug_graph_set_content_type, ug_graph_set_error};
    for (int k = 0; !rc && k < 3; k++) {
        if (texts[k] == Py_None)
            continue;
        const char *s = text_arg(texts[k]);
        if (!s)
            return -1;
        rc = setters[k](g, i, s);
    }
    if (rc) {
        raise_rc(rc);
        return -1;
    }
    return 0;
}

/* Node index for a URL (added if new) or an int index (checked). */
static int node_ref(GraphObject *self, PyObject *ref, size_t *index) {
    if (PyUnicode_Check(ref)) {
        const char *url = text_arg(ref);
        if (!url)
            return -1;
        int rc = ug_graph_add_node(self->graph, url, index);
        if (rc < 0) {
            raise_rc(rc);
            return -1;
        }
        return 0;
    }
    if (!PyLong_Check(ref) || PyBool_Check(ref)) {
        PyErr_Format(PyExc_TypeError,
                     "a node is a URL (str) or an index (int), not %.200s",
                     Py_TYPE(ref)->tp_name);
        return -1;
    }
    Py_ssize_t i = PyLong_AsSsize_t(ref);
    if (i == -1 && PyErr_Occurred())
        return -1;
    if (i < 0 || (size_t)i >= ug_graph_node_count(self->graph)) {
        PyErr_Format(PyExc_IndexError, "no node %zd in the graph", i);
        return -1;
    }
    *index = (size_t)i;
    return 0;
}

PyDoc_STRVAR(add_node_doc,
"add_node(url, *, status=None, depth=None, title=None, content_type=None,\n"
"         bytes=None, error=None)\n--\n\n"
"Add the node for url, or find it if it exists, set the attributes given\n"
"(None leaves one as it is) and return its index.  Text is stored cleaned:\n"
"invalid UTF-8 and control characters become U+FFFD, tabs and newlines a\n"
"space.");

static PyObject *graph_add_node(GraphObject *self, PyObject *args,
                                PyObject *kw) {
    static char *kwlist[] = {"url", "status", "depth", "title", "content_type",
                             "bytes", "error", NULL};
    PyObject *url, *status = Py_None, *depth = Py_None, *title = Py_None;
    PyObject *ctype = Py_None, *bytes = Py_None, *error = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "U|$OOOOOO:add_node", kwlist,
                                     &url, &status, &depth, &title, &ctype,
                                     &bytes, &error))
        return NULL;
    if (check_idle(self, 1) < 0)
        return NULL;
    size_t i;
    if (node_ref(self, url, &i) < 0 ||
        set_attrs(self, i, status, depth, title, ctype, bytes, error) < 0)
        return NULL;
    return PyLong_FromSize_t(i);
}

PyDoc_STRVAR(add_edge_doc,
"add_edge(source, target)\n--\n\n"
"Add the link source -> target, or count it once more.  Each end is a URL\n"
"(added as a node if new) or a node index.  Return True if the edge is new.");

static PyObject *graph_add_edge(GraphObject *self, PyObject *args) {
    PyObject *a, *b;
    if (!PyArg_ParseTuple(args, "OO:add_edge", &a, &b))
        return NULL;
    if (check_idle(self, 1) < 0)
        return NULL;
    size_t from, to;
    if (node_ref(self, a, &from) < 0 || node_ref(self, b, &to) < 0)
        return NULL;
    int rc = ug_graph_add_edge(self->graph, from, to);
    if (rc < 0)
        return raise_rc(rc);
    return PyBool_FromLong(rc);
}

PyDoc_STRVAR(from_edges_doc,
"from_edges(edges, nodes=())\n--\n\n"
"A new Graph from (source, target) URL pairs; `nodes` (URLs) are added\n"
"first, in order, so that they get the first indices.");

static PyObject *graph_from_edges(PyTypeObject *type, PyObject *args,
                                  PyObject *kw) {
    static char *kwlist[] = {"edges", "nodes", NULL};
    PyObject *edges, *nodes = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O:from_edges", kwlist, &edges,
                                     &nodes))
        return NULL;
    GraphObject *self = graph_alloc(type);
    PyObject *it = NULL, *item = NULL;
    if (!self)
        return NULL;
    if (nodes && nodes != Py_None) {
        if (!(it = PyObject_GetIter(nodes)))
            goto fail;
        while ((item = PyIter_Next(it))) {
            size_t i;
            if (!PyUnicode_Check(item)) {
                PyErr_SetString(PyExc_TypeError, "nodes must be URLs (str)");
                goto fail;
            }
            if (node_ref(self, item, &i) < 0)
                goto fail;
            Py_CLEAR(item);
        }
        Py_CLEAR(it);
        if (PyErr_Occurred())
            goto fail;
    }
    if (!(it = PyObject_GetIter(edges)))
        goto fail;
    while ((item = PyIter_Next(it))) {
        PyObject *pair = PySequence_Tuple(item);
        if (!pair)
            goto fail;
        size_t from, to;
        int ok = PyTuple_GET_SIZE(pair) == 2;
        if (!ok)
            PyErr_SetString(PyExc_ValueError,
                            "each edge must be a (source, target) pair");
        ok = ok && node_ref(self, PyTuple_GET_ITEM(pair, 0), &from) == 0 &&
             node_ref(self, PyTuple_GET_ITEM(pair, 1), &to) == 0;
        Py_DECREF(pair);
        if (!ok)
            goto fail;
        int rc = ug_graph_add_edge(self->graph, from, to);
        if (rc < 0) {
            raise_rc(rc);
            goto fail;
        }
        Py_CLEAR(item);
    }
    Py_CLEAR(it);
    if (PyErr_Occurred())
        goto fail;
    return (PyObject *)self;
fail:
    Py_XDECREF(item);
    Py_XDECREF(it);
    Py_DECREF(self);
    return NULL;
}

PyDoc_STRVAR(find_doc,
"find(url)\n--\n\nThe index of the node for url, or None.");

static PyObject *graph_find(GraphObject *self, PyObject *arg) {
    const char *url = text_arg(arg);
    if (!url || check_idle(self, 0) < 0)
        return NULL;
    size_t i;
    if (!ug_graph_find(self->graph, url, &i))
        Py_RETURN_NONE;
    return PyLong_FromSize_t(i);
}

/* Imports ungil._graph and returns its attribute `name` (new reference). */
static PyObject *helper(const char *name) {
    PyObject *mod = PyImport_ImportModule("ungil._graph");
    if (!mod)
        return NULL;
    PyObject *obj = PyObject_GetAttrString(mod, name);
    Py_DECREF(mod);
    return obj;
}

/* The Node record for node i. */
static PyObject *node_record(GraphObject *self, PyObject *node_type, size_t i,
                             int placed) {
    ug_graph_node nd;
    int rc = ug_graph_node_get(self->graph, i, &nd);
    if (rc)
        return raise_rc(rc);
    PyObject *depth = nd.depth >= 0 ? PyLong_FromLong(nd.depth) : Py_NewRef(Py_None);
    PyObject *bytes = nd.bytes >= 0 ? PyLong_FromLongLong(nd.bytes) : Py_NewRef(Py_None);
    PyObject *x = placed ? PyFloat_FromDouble(nd.x) : Py_NewRef(Py_None);
    PyObject *y = placed ? PyFloat_FromDouble(nd.y) : Py_NewRef(Py_None);
    PyObject *fields = NULL, *rec = NULL;
    if (depth && bytes && x && y)
        fields = Py_BuildValue("((nsiOzzOznnOO))", (Py_ssize_t)i, nd.url,
                               nd.status, depth, nd.title, nd.content_type,
                               bytes, nd.error, (Py_ssize_t)nd.in_degree,
                               (Py_ssize_t)nd.out_degree, x, y);
    if (fields)
        rec = PyTuple_Type.tp_new((PyTypeObject *)node_type, fields, NULL);
    Py_XDECREF(fields);
    Py_XDECREF(depth);
    Py_XDECREF(bytes);
    Py_XDECREF(x);
    Py_XDECREF(y);
    return rec;
}

PyDoc_STRVAR(node_doc,
"node(index)\n--\n\nThe Node record of one node (IndexError if none).");

static PyObject *graph_node(GraphObject *self, PyObject *arg) {
    size_t i;
    if (!PyLong_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "node() takes an int index");
        return NULL;
    }
    if (check_idle(self, 0) < 0 || node_ref(self, arg, &i) < 0)
        return NULL;
    PyObject *type = helper("Node");
    if (!type)
        return NULL;
    PyObject *rec = node_record(self, type, i, ug_graph_has_layout(self->graph));
    Py_DECREF(type);
    return rec;
}

static PyObject *graph_get_nodes(GraphObject *self, void *closure) {
    if (check_idle(self, 0) < 0)
        return NULL;
    PyObject *type = helper("Node");
    if (!type)
        return NULL;
    size_t n = ug_graph_node_count(self->graph);
    int placed = ug_graph_has_layout(self->graph);
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; list && i < n; i++) {
        PyObject *rec = node_record(self, type, i, placed);
        if (!rec) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, rec);
    }
    Py_DECREF(type);
    return list;
}

static PyObject *graph_get_edges(GraphObject *self, void *closure) {
    if (check_idle(self, 0) < 0)
        return NULL;
    PyObject *type = helper("Edge");
    if (!type)
        return NULL;
    size_t m = ug_graph_edge_count(self->graph);
    PyObject *list = PyList_New((Py_ssize_t)m);
    for (size_t j = 0; list && j < m; j++) {
        ug_graph_edge e;
        ug_graph_edge_get(self->graph, j, &e);
        PyObject *fields = Py_BuildValue("((nnK))", (Py_ssize_t)e.from,
                                         (Py_ssize_t)e.to,
                                         (unsigned long long)e.count);
        PyObject *rec = fields ? PyTuple_Type.tp_new((PyTypeObject *)type,
                                                     fields, NULL)
                               : NULL;
        Py_XDECREF(fields);
        if (!rec) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)j, rec);
    }
    Py_DECREF(type);
    return list;
}

static PyObject *graph_get_edge_count(GraphObject *self, void *closure) {
    return PyLong_FromSize_t(ug_graph_edge_count(self->graph));
}

static PyObject *graph_get_has_layout(GraphObject *self, void *closure) {
    return PyBool_FromLong(ug_graph_has_layout(self->graph));
}

static Py_ssize_t graph_len(GraphObject *self) {
    return (Py_ssize_t)ug_graph_node_count(self->graph);
}

PyDoc_STRVAR(layout_doc,
"layout(iterations=100, seed=1, theta=1.2, threads=None)\n--\n\n"
"Compute a force-directed layout (Barnes-Hut, in C, GIL released) and store\n"
"it as the nodes' x and y.  threads: None uses ungil's compute pool (one\n"
"thread per CPU), 1 the calling thread only, k a pool of k threads.  The\n"
"result depends on the graph, iterations, seed and theta, never on the\n"
"number of threads.  Returns self.");

static PyObject *graph_layout(GraphObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"iterations", "seed", "theta", "threads", NULL};
    ug_graph_layout_options o;
    ug_graph_layout_options_init(&o);
    unsigned long long seed = o.seed;
    int iterations = (int)o.iterations;
    PyObject *threads = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|iKdO:layout", kwlist,
                                     &iterations, &seed, &o.theta, &threads))
        return NULL;
    if (iterations < 0 || !(o.theta >= 0 && o.theta <= 2)) {
        PyErr_SetString(PyExc_ValueError,
                        "iterations must be >= 0 and theta in 0..2");
        return NULL;
    }
    o.iterations = (unsigned)iterations;
    o.seed = seed;
    ug_pool *own = NULL;
    if (threads == Py_None) {
        o.pool = ub_compute_pool(ub_state_of_type(Py_TYPE(self)));
        if (!o.pool)
            return NULL;
    } else {
        long k = PyLong_AsLong(threads);
        if (k == -1 && PyErr_Occurred())
            return NULL;
        if (k < 1 || k > 1024) {
            PyErr_SetString(PyExc_ValueError, "threads must be 1..1024");
            return NULL;
        }
        if (k > 1) {
            ug_pool_options po;
            ug_pool_options_init(&po);
            po.workers = (unsigned)(k - 1); /* the caller works too */
            po.name = "layout";
            int rc = ug_pool_new(&po, &own);
            if (rc)
                return ub_raise(rc);
            o.pool = own;
        }
    }
    if (check_idle(self, 1) < 0) {
        ug_pool_free(own);
        return NULL;
    }
    int rc;
    self->writing = 1;
    Py_BEGIN_ALLOW_THREADS
    rc = ug_graph_layout(self->graph, &o);
    ug_pool_free(own);
    Py_END_ALLOW_THREADS
    self->writing = 0;
    if (rc)
        return ub_raise(rc);
    return Py_NewRef(self);
}

/* The format for save/dumps: `format` if given, else from `name`. */
static int pick_format(PyObject *format, const char *name) {
    const char *f = name;
    if (format && format != Py_None) {
        if (!(f = PyUnicode_AsUTF8(format)))
            return -1;
    }
    int fmt = ug_graph_format_from_name(f);
    if (fmt < 0)
        PyErr_Format(PyExc_ValueError,
                     "unknown graph format '%s': use json, graphml, dot or "
                     "html (or a file name ending in one)",
                     f);
    return fmt;
}

PyDoc_STRVAR(save_doc,
"save(path, format=None, title=None)\n--\n\n"
"Write the graph to path as JSON, GraphML, DOT or a self-contained HTML\n"
"page, by format or else by the extension (.json, .graphml, .dot/.gv,\n"
".html/.htm).  The file appears whole or not at all (written to\n"
"path + '.part', then renamed).  The GIL is released while writing.  The\n"
"page uses the graph's layout, or computes one if there is none.");

static PyObject *graph_save(GraphObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"path", "format", "title", NULL};
    PyObject *path = NULL, *format = Py_None;
    const char *title = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|Oz:save", kwlist,
                                     PyUnicode_FSConverter, &path, &format,
                                     &title))
        return NULL;
    const char *p = PyBytes_AS_STRING(path);
    int fmt = pick_format(format, p);
    if (fmt < 0 || check_idle(self, 0) < 0) {
        Py_DECREF(path);
        return NULL;
    }
    int rc;
    self->readers++;
    errno = 0;
    Py_BEGIN_ALLOW_THREADS
    rc = ug_graph_save(self->graph, fmt, title, p);
    Py_END_ALLOW_THREADS
    self->readers--;
    if (rc == UG_EIO) {
        errno = errno ? errno : EIO;
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, path);
    } else if (rc) {
        ub_raise(rc);
    }
    Py_DECREF(path);
    if (rc)
        return NULL;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(dumps_doc,
"dumps(format, title=None)\n--\n\n"
"The graph as a str in format (json, graphml, dot or html), as save()\n"
"writes it.");

static PyObject *graph_dumps(GraphObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"format", "title", NULL};
    PyObject *format;
    const char *title = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "U|z:dumps", kwlist, &format,
                                     &title))
        return NULL;
    int fmt = pick_format(format, NULL);
    if (fmt < 0 || check_idle(self, 0) < 0)
        return NULL;
    char *out = NULL;
    size_t len = 0;
    int rc;
    self->readers++;
    Py_BEGIN_ALLOW_THREADS
    rc = ug_graph_write(self->graph, fmt, title, &out, &len);
    Py_END_ALLOW_THREADS
    self->readers--;
    if (rc)
        return ub_raise(rc);
    PyObject *s = PyUnicode_DecodeUTF8(out, (Py_ssize_t)len, "strict");
    free(out);
    return s;
}

PyDoc_STRVAR(to_networkx_doc,
"to_networkx()\n--\n\n"
"A networkx.DiGraph with node ids 0..n-1, the nodes' attributes (those\n"
"not None) and an edge attribute `count`.");

static PyObject *graph_to_networkx(GraphObject *self, PyObject *unused) {
    PyObject *fn = helper("to_networkx");
    if (!fn)
        return NULL;
    PyObject *res = PyObject_CallOneArg(fn, (PyObject *)self);
    Py_DECREF(fn);
    return res;
}

static PyObject *graph_repr(GraphObject *self) {
    return PyUnicode_FromFormat("<ungil.Graph: %zu nodes, %zu edges>",
                                ug_graph_node_count(self->graph),
                                ug_graph_edge_count(self->graph));
}

static PyMethodDef graph_methods[] = {
    {"add_node", (PyCFunction)(void (*)(void))graph_add_node,
     METH_VARARGS | METH_KEYWORDS, add_node_doc},
    {"add_edge", (PyCFunction)graph_add_edge, METH_VARARGS, add_edge_doc},
    {"from_edges", (PyCFunction)(void (*)(void))graph_from_edges,
     METH_VARARGS | METH_KEYWORDS | METH_CLASS, from_edges_doc},
    {"find", (PyCFunction)graph_find, METH_O, find_doc},
    {"node", (PyCFunction)graph_node, METH_O, node_doc},
    {"layout", (PyCFunction)(void (*)(void))graph_layout,
     METH_VARARGS | METH_KEYWORDS, layout_doc},
    {"save", (PyCFunction)(void (*)(void))graph_save,
     METH_VARARGS | METH_KEYWORDS, save_doc},
    {"dumps", (PyCFunction)(void (*)(void))graph_dumps,
     METH_VARARGS | METH_KEYWORDS, dumps_doc},
    {"to_networkx", (PyCFunction)graph_to_networkx, METH_NOARGS,
     to_networkx_doc},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef graph_getset[] = {
    {"nodes", (getter)graph_get_nodes, NULL,
     "Every node as an ungil.Node record, in index order.", NULL},
    {"edges", (getter)graph_get_edges, NULL,
     "Every edge as an ungil.Edge(source, target, count) record.", NULL},
    {"edge_count", (getter)graph_get_edge_count, NULL,
     "Number of distinct edges.", NULL},
    {"has_layout", (getter)graph_get_has_layout, NULL,
     "True once every node has a position.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(graph_doc,
"Graph()\n--\n\n"
"A directed link graph of URLs: nodes with crawl attributes (status,\n"
"depth, title, content type, bytes, error), edges counted by repeats.\n"
"len() is the number of nodes.  Build one with add_node/add_edge or\n"
"Graph.from_edges, or get one from ungil.crawl; lay it out with layout();\n"
"save it as JSON, GraphML, DOT or an offline interactive HTML page.");

static PyType_Slot graph_slots[] = {
    {Py_tp_new, graph_new},
    {Py_tp_dealloc, graph_dealloc},
    {Py_tp_methods, graph_methods},
    {Py_tp_getset, graph_getset},
    {Py_tp_repr, graph_repr},
    {Py_sq_length, graph_len},
    {Py_tp_doc, (void *)graph_doc},
    {0, NULL},
};

static PyType_Spec graph_spec = {
    .name = "ungil._ungil.Graph",
    .basicsize = sizeof(GraphObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = graph_slots,
};

int ub_graph_init_type(PyObject *module, ub_state *st) {
    st->graph_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(module, &graph_spec, NULL);
    if (!st->graph_type)
        return -1;
    return PyModule_AddType(module, st->graph_type);
}
