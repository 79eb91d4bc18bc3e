/* binding.h - what the files of the _ungil extension share.
 *
 * The extension only binds libungil: it parses arguments, converts objects,
 * releases the GIL around core calls and maps UG_E... codes to exceptions.
 * Module state holds the heap types and the compute pool that native
 * kernels (sum_upto) run on; nothing is global.
 *
 * GIL rules of this layer: core calls that may block run with the GIL
 * released; code on a worker thread takes it with PyGILState_Ensure only
 * around Python calls; the GIL is never requested while a core lock is
 * held (the core never calls back under its locks), so the only lock order
 * is GIL -> core locks.
 */
#ifndef UNGIL_BINDING_H
#define UNGIL_BINDING_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <sys/types.h>

#include "ungil/ungil.h"

typedef struct {
    PyTypeObject *pool_type;
    PyTypeObject *mapjob_type;
    PyTypeObject *trace_type;
    /* Interned names of the concurrent.futures.Future methods we call. */
    PyObject *str_set_running;   /* set_running_or_notify_cancel */
    PyObject *str_set_result;
    PyObject *str_set_exception;
    PyObject *str_cancel;
    ug_pool *compute_pool; /* created on first use, for native kernels */
    pid_t compute_pid;     /* the process that created it (fork check) */
} ub_state;

ub_state *ub_state_of_module(PyObject *module);
ub_state *ub_state_of_type(PyTypeObject *type);

/* Raises the Python exception for a UG_E... code and returns NULL. */
PyObject *ub_raise(int code);

/* True once the interpreter is finalizing: worker threads must then not
 * try to take the GIL (they would be stopped on the spot). */
int ub_finalizing(void);

/* Waits, with the GIL held on entry and exit, until `poll` reports done.
 * `poll(ctx, slice_ns)` is called with the GIL released and should block
 * for at most slice_ns, returning 1 when done and 0 otherwise.  Between
 * slices signals are checked, so Ctrl-C raises KeyboardInterrupt within
 * about 50 ms.  `deadline` is an absolute ug_clock_ns time, or 0 for none.
 * Returns 1 when done, 0 on timeout, -1 with an exception set. */
int ub_wait(int (*poll)(void *ctx, int64_t slice_ns), void *ctx,
            uint64_t deadline);

/* Converts a timeout in seconds (None = forever) to an absolute deadline
 * for ub_wait (0 = none).  Returns -1 with an exception for bad values. */
int ub_deadline(PyObject *timeout, uint64_t *deadline);

/* The compute pool of the module state, created or (after fork) recreated
 * on demand.  NULL with an exception on failure. */
ug_pool *ub_compute_pool(ub_state *st);

/* Per-type setup, called from the module's exec slot. */
int ub_pool_init_type(PyObject *module, ub_state *st);
int ub_mapjob_init_type(PyObject *module, ub_state *st);
int ub_trace_init_type(PyObject *module, ub_state *st);
int ub_download_init_type(PyObject *module, ub_state *st);
int ub_pictures_init_type(PyObject *module, ub_state *st);

/* The Trace object's core trace (borrowed), or NULL with TypeError. */
ug_trace *ub_trace_get(ub_state *st, PyObject *obj);

/* A trace label for a Python callable: its __qualname__ (or repr). */
uint32_t ub_label_for(ug_trace *trace, PyObject *fn);

/* Fetches the current exception as one normalised object with its
 * traceback attached (never NULL when an exception is set). */
PyObject *ub_fetch_exception(void);
/* Raises `exc` (an exception instance), keeping its traceback. */
void ub_restore_exception(PyObject *exc);

/* The pool type's internals that the map job needs. */
typedef struct ub_pool_object ub_pool_object;
ug_pool *ub_pool_native(ub_pool_object *pool);
ug_trace *ub_pool_trace(ub_pool_object *pool);
unsigned long ub_pool_epoch(ub_pool_object *pool);

/* Creates a map job: see mapjob.c. */
PyObject *ub_mapjob_new(ub_state *st, ub_pool_object *pool, PyObject *owner,
                        PyObject *fn, PyObject *source, Py_ssize_t chunksize,
                        Py_ssize_t buffersize, uint64_t deadline);

/* Module-level functions defined outside module.c. */
PyObject *ub_sum_upto(PyObject *module, PyObject *args, PyObject *kw);

#endif
