/* my_c_module.c - the smallest useful C extension, as in the course.
 *
 *     >>> import my_c_module
 *     >>> my_c_module.method('unicorns', 1)
 *     '1 unicorns'
 *     >>> my_c_module.sum_upto(10**9)      # the GIL demo's loop, in C
 *     500000000500000000
 *
 * method() shows the classic argument parsing: PyArg_ParseTuple with the
 * format "si" turns a str and an int into a const char * and an int, and
 * raises TypeError by itself when they are not.  sum_upto() shows the one
 * thing that makes C extensions run on several cores: it releases the GIL
 * around a loop that touches no Python object, so other Python threads run
 * meanwhile.  README.md walks from here to how ungil does the same.
 *
 * The module uses multi-phase initialisation (PEP 489) and keeps no global
 * state, so it works in sub-interpreters; it declares that it does not need
 * the GIL on a free-threaded Python that knows the Py_mod_gil slot (its
 * functions read only their own arguments).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* method(name: str, n: int) -> str: "<n> <name>". */
static PyObject *method(PyObject *module, PyObject *args) {
    (void)module; /* the module object; this function needs nothing of it */
    const char *name;
    int n;
    if (!PyArg_ParseTuple(args, "si:method", &name, &n))
        return NULL; /* TypeError (or OverflowError) is already set */
    if (n < 0) {
        PyErr_SetString(PyExc_ValueError, "n must be >= 0");
        return NULL;
    }
    return PyUnicode_FromFormat("%d %s", n, name);
}

/* sum_upto(n: int) -> int: 1 + 2 + ... + n, computed with the GIL
 * released.  n must be below 2**32 so that the sum fits in 64 bits. */
static PyObject *sum_upto(PyObject *module, PyObject *args) {
    (void)module;
    unsigned long long n;
    if (!PyArg_ParseTuple(args, "K:sum_upto", &n))
        return NULL;
    if (n >= (1ULL << 32)) {
        PyErr_SetString(PyExc_ValueError, "n must be below 2**32");
        return NULL;
    }
    volatile unsigned long long sum = 0; /* keeps the loop a loop */
    Py_BEGIN_ALLOW_THREADS
    /* No Python object may be touched in here: another thread may be
     * running Python code at this very moment. */
    for (unsigned long long i = 1; i <= n; i++)
        sum += i;
    Py_END_ALLOW_THREADS
    return PyLong_FromUnsignedLongLong(sum);
}

static PyMethodDef methods[] = {
    {"method", method, METH_VARARGS,
     "method(name, n)\n--\n\nReturn the string '<n> <name>'."},
    {"sum_upto", sum_upto, METH_VARARGS,
     "sum_upto(n)\n--\n\n1 + 2 + ... + n, computed in C with the GIL "
     "released."},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot slots[] = {
#ifdef Py_mod_multiple_interpreters
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#ifdef Py_mod_gil
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "my_c_module",
    .m_doc = "The course's example C extension: method('unicorns', 1).",
    .m_size = 0,
    .m_methods = methods,
    .m_slots = slots,
};

PyMODINIT_FUNC PyInit_my_c_module(void) {
    return PyModuleDef_Init(&module_def);
}
