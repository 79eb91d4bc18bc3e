/* options.c - reading the arguments of the native job types.
 *
 * The Python layer hands _Download, _Crawl and _Pictures their settings as
 * one dict; the ub_opt_* helpers read one key each.  A missing key or None
 * keeps the default already in *out; a value of the wrong type or out of
 * range sets a Python exception and returns -1.  The other helpers convert
 * the URL lists and the destination directory.  Called with the GIL held.
 */
#include "binding.h"

#include <string.h>

int ub_opt_ulong(PyObject *opts, const char *key, unsigned long max,
                 unsigned long *out) {
    PyObject *v = PyDict_GetItemString(opts, key);
    if (!v || v == Py_None)
        return 0;
    unsigned long x = PyLong_AsUnsignedLong(v);
    if (x == (unsigned long)-1 && PyErr_Occurred())
        return -1;
    if (x > max) {
        PyErr_Format(PyExc_ValueError, "%s is too large", key);
        return -1;
    }
    *out = x;
    return 0;
}

int ub_opt_uint(PyObject *opts, const char *key, unsigned max,
                unsigned *out) {
    unsigned long x = *out;
    if (ub_opt_ulong(opts, key, max, &x) < 0)
        return -1;
    *out = (unsigned)x;
    return 0;
}

int ub_opt_long(PyObject *opts, const char *key, long min, long max,
                long *out) {
    PyObject *v = PyDict_GetItemString(opts, key);
    if (!v || v == Py_None)
        return 0;
    long x = PyLong_AsLong(v);
    if (x == -1 && PyErr_Occurred())
        return -1;
    if (x < min || x > max) {
        PyErr_Format(PyExc_ValueError, "%s must be from %ld to %ld", key, min,
                     max);
        return -1;
    }
    *out = x;
    return 0;
}

int ub_opt_u64(PyObject *opts, const char *key, uint64_t *out) {
    PyObject *v = PyDict_GetItemString(opts, key);
    if (!v || v == Py_None)
        return 0;
    *out = PyLong_AsUnsignedLongLong(v);
    return PyErr_Occurred() ? -1 : 0;
}

int ub_opt_ms(PyObject *opts, const char *key, unsigned *out) {
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

const char *ub_opt_str(PyObject *opts, const char *key) {
    PyObject *v = PyDict_GetItemString(opts, key);
    return v && PyUnicode_Check(v) ? PyUnicode_AsUTF8(v) : NULL;
}

int ub_utf8_item(PyObject *item, const char *what, Py_ssize_t i,
                 const char **out) {
    if (!PyUnicode_Check(item)) {
        PyErr_Format(PyExc_TypeError, "%s[%zd] must be a str, not %.100s", what,
                     i, Py_TYPE(item)->tp_name);
        return -1;
    }
    Py_ssize_t size;
    *out = PyUnicode_AsUTF8AndSize(item, &size);
    if (!*out)
        return -1;
    if ((size_t)size != strlen(*out)) {
        PyErr_Format(PyExc_ValueError, "%s[%zd] contains a NUL character",
                     what, i);
        return -1;
    }
    return 0;
}

PyObject *ub_dir_prefix(PyObject *dir) {
    Py_ssize_t len = PyUnicode_GET_LENGTH(dir);
    int slash = len && PyUnicode_READ_CHAR(dir, len - 1) == '/';
    return slash ? Py_NewRef(dir) : PyUnicode_FromFormat("%U/", dir);
}

PyObject *ub_path_in(PyObject *prefix, const char *name) {
    size_t n = strlen(name);
    int ascii = PyUnicode_IS_ASCII(prefix);
    for (size_t i = 0; ascii && i < n; i++)
        ascii = (unsigned char)name[i] < 128;
    if (!ascii) {
        PyObject *tail = PyUnicode_FromString(name);
        PyObject *path = tail ? PyUnicode_Concat(prefix, tail) : NULL;
        Py_XDECREF(tail);
        return path;
    }
    /* The usual case, built in place: one object, no decoding. */
    Py_ssize_t lp = PyUnicode_GET_LENGTH(prefix);
    PyObject *path = PyUnicode_New(lp + (Py_ssize_t)n, 127);
    if (path) {
        memcpy(PyUnicode_1BYTE_DATA(path), PyUnicode_1BYTE_DATA(prefix),
               (size_t)lp);
        memcpy(PyUnicode_1BYTE_DATA(path) + lp, name, n);
    }
    return path;
}
