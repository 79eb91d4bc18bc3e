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

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "ungil/ungil.h"

typedef struct {
    PyTypeObject *pool_type;
    PyTypeObject *mapjob_type;
    PyTypeObject *trace_type;
    PyTypeObject *graph_type;
    PyTypeObject *image_type;
    PyObject *unidentified_image_error; /* ungil.UnidentifiedImageError */
    PyObject *decompression_bomb_error; /* ungil.DecompressionBombError */
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

/* The name of a failure in a result (Result.error, Page.error,
 * PictureResult.error): None for 0, else "url", "network", "http", ...;
 * "error" for a code without a name of its own.  NULL on no memory. */
PyObject *ub_error_name(int code);

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

/* A new pool of `workers` threads (0: one per CPU) named `name`, created
 * with the GIL released; NULL with an exception on failure. */
ug_pool *ub_new_pool(unsigned workers, const char *name);

/* The compute pool of the module state, created or (after fork) recreated
 * on demand.  NULL with an exception on failure. */
ug_pool *ub_compute_pool(ub_state *st);

/* Fills *k from a built-in filter name or a (size, weights, scale,
 * offset) tuple (size an int or a (w, h) pair), converting numbers as
 * Pillow does: double, then float32; a scale of None is the weights' sum
 * in double, in order.  -1 with an exception on bad input. */
int ub_parse_kernel(PyObject *spec, ug_kernel *k);

/* Reading one key of a job's options dict (options.c): a missing key or
 * None keeps *out; a bad value raises and returns -1. */
/* An int from 0 to `max` ("KEY is too large" above). */
int ub_opt_ulong(PyObject *opts, const char *key, unsigned long max,
                 unsigned long *out);
int ub_opt_uint(PyObject *opts, const char *key, unsigned max, unsigned *out);
/* An int from `min` to `max`. */
int ub_opt_long(PyObject *opts, const char *key, long min, long max,
                long *out);
/* Any int that fits in 64 bits unsigned. */
int ub_opt_u64(PyObject *opts, const char *key, uint64_t *out);
/* Seconds from 0 to 4e6 into milliseconds, at least 1 for any positive. */
int ub_opt_ms(PyObject *opts, const char *key, unsigned *out);
/* A borrowed UTF-8 view of a str value, or NULL (missing, None, not a str,
 * or an error set by the conversion). */
const char *ub_opt_str(PyObject *opts, const char *key);

/* A borrowed UTF-8 view of `item`, the i-th of the list named `what`;
 * raises TypeError for a non-str and ValueError for an embedded NUL (which
 * C would silently cut the string at). */
int ub_utf8_item(PyObject *item, const char *what, Py_ssize_t i,
                 const char **out);

/* A new reference to the str path `dir` ending in '/' (the prefix that
 * result paths are joined to), or NULL with an exception. */
PyObject *ub_dir_prefix(PyObject *dir);

/* The str `prefix` (from ub_dir_prefix) followed by `name` (UTF-8): the
 * path of a file the core wrote.  NULL with an exception on failure. */
PyObject *ub_path_in(PyObject *prefix, const char *name);

/* Initialises `cond` to time out on CLOCK_MONOTONIC (cond.c), the clock of
 * ug_clock_ns and of the binding's wait deadlines. */
void ub_cond_init_monotonic(pthread_cond_t *cond);

/* The time `slice_ns` from now, for pthread_cond_timedwait on such a
 * condition variable; also stores it as a ug_clock_ns time in *deadline. */
struct timespec ub_cond_deadline(int64_t slice_ns, uint64_t *deadline);

/* A record that a core run hands to Python (a result, a page): the
 * owner's record type starts with one. */
typedef struct ub_record {
    struct ub_record *next;
} ub_record;

/* A core run (ug_fetch_run, ug_crawl_run, ug_pictures_run) on a native
 * thread of its own that never takes the GIL (core_thread.c), with the
 * queue of records its callbacks hand to Python.  `lock` guards every
 * field from `finished` on, and whatever its owner keeps beside them (the
 * latest progress snapshot); `cond` (monotonic, for ub_cond_deadline) is
 * broadcast when the run returns and signalled for a consumer waiting on
 * records or progress.  Zeroed memory and ub_core_thread_init make one
 * ready to start; stop and join with the GIL released, then free the core
 * object, then drop the records left and destroy. */
typedef struct {
    int (*run)(void *ctx, const int *cancel);
    void *ctx;
    pthread_t thread;
    int started, joined;
    int cancel;   /* the run's cancel flag, read by the core atomically */
    int finished; /* the run returned ... */
    int rc;       /* ... with this code */
    ub_record *head, *tail; /* records not yet taken, oldest first */
    size_t queued;
    size_t batch; /* wake a waiting consumer once this many wait (0: 1) */
    int waiting;  /* a consumer sleeps on cond */
    int progress_new; /* a progress snapshot waits to be taken */
    pthread_mutex_t lock;
    pthread_cond_t cond;
} ub_core_thread;

void ub_core_thread_init(ub_core_thread *t);

/* Starts run(ctx, &t->cancel) on a new thread.  Returns 0 or UG_ETHREAD. */
int ub_core_thread_start(ub_core_thread *t,
                         int (*run)(void *ctx, const int *cancel),
                         void *ctx);

/* Raises the cancel flag and joins the thread; nothing if it never
 * started or is joined already. */
void ub_core_thread_stop(ub_core_thread *t);

/* Joins the thread without cancelling the run. */
void ub_core_thread_join(ub_core_thread *t);

/* A poll for ub_wait (ctx: the ub_core_thread): 1 once a record, a
 * progress snapshot or the end of the run is there. */
int ub_core_thread_poll(void *ctx, int64_t slice_ns);

/* Run thread: queues `rec` for the consumer. */
void ub_core_thread_push(ub_core_thread *t, ub_record *rec);

/* Run thread: copies the progress snapshot `src` (size bytes) into the
 * owner's `dst` and tells the consumer. */
void ub_core_thread_put_progress(ub_core_thread *t, void *dst,
                                 const void *src, size_t size);

/* Copies the owner's snapshot `src` to `out` and marks it taken; returns
 * 0 (out untouched) when none came since the last take. */
int ub_core_thread_take_progress(ub_core_thread *t, void *out,
                                 const void *src, size_t size);

/* The iterator step of a run's records (GIL held): the next record turned
 * into an object by convert(owner, rec) (then freed with release), None
 * when a progress snapshot came first, or NULL: at the end (no exception
 * set, or the run's error raised) or on Ctrl-C, which stops the run.
 * Waits with the GIL released. */
PyObject *ub_core_thread_next(ub_core_thread *t,
                              PyObject *(*convert)(void *owner,
                                                   ub_record *rec),
                              void (*release)(ub_record *rec), void *owner);

/* Takes every record of the run at once (GIL held), oldest first: each
 * goes to store(owner, rec), which returns 0 or -1 with an exception set,
 * and is then freed with release.  Returns 1 at the end of the run, 0 when
 * a progress snapshot waits, or -1: store failed, the run's error is
 * raised, or Ctrl-C, which stops the run.  Waits with the GIL released. */
int ub_core_thread_collect(ub_core_thread *t,
                           int (*store)(void *owner, ub_record *rec),
                           void (*release)(ub_record *rec), void *owner);

/* Frees the records never taken. */
void ub_core_thread_drop(ub_core_thread *t, void (*release)(ub_record *rec));

void ub_core_thread_destroy(ub_core_thread *t);

/* Creates the heap type of `spec` for `module` and adds it to the module
 * (for types the module state need not keep).  Returns 0 or -1. */
int ub_add_type(PyObject *module, PyType_Spec *spec);

/* Per-type setup, called from the module's exec slot. */
int ub_pool_init_type(PyObject *module, ub_state *st);
int ub_mapjob_init_type(PyObject *module, ub_state *st);
int ub_trace_init_type(PyObject *module, ub_state *st);
int ub_download_init_type(PyObject *module, ub_state *st);
int ub_graph_init_type(PyObject *module, ub_state *st);
int ub_crawl_init_type(PyObject *module, ub_state *st);
int ub_image_init_type(PyObject *module, ub_state *st);
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

/* Wraps a core graph into a new ungil.Graph object, which takes ownership
 * of `g` (it is freed with the object, or at once on failure).  Needs the
 * GIL.  Returns a new reference, or NULL with an exception set. */
PyObject *ub_graph_wrap(ub_state *st, ug_graph *g);

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
PyObject *ub_filter_files(PyObject *module, PyObject *args, PyObject *kw);
PyObject *ub_sum_upto(PyObject *module, PyObject *args, PyObject *kw);

#endif
