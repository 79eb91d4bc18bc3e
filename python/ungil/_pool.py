"""ungil.Pool: a concurrent.futures.Executor whose workers are native threads.

The work happens in C (src/python/pool.c and mapjob.c on top of libungil's
pool); this module only shapes it into the Executor API and adds what the
standard executors lack: Ctrl-C that stops promptly, and Pool.map without a
future per item.
"""

import concurrent.futures
import os
import sys
import threading
import weakref

from . import _ungil

__all__ = ["Future", "Pool"]

# Pools still alive, shut down (and waited for) when the interpreter exits.
_live_pools = weakref.WeakSet()
_global_shutdown = False


class Future(concurrent.futures.Future):
    """A concurrent.futures.Future of an ungil.Pool.

    It behaves exactly like its base class, except that a KeyboardInterrupt
    while waiting in result() or exception() also cancels every task of the
    pool that has not started yet.
    """

    def __init__(self, pool):
        super().__init__()
        self._ungil_pool = pool

    def result(self, timeout=None):
        try:
            return super().result(timeout)
        except KeyboardInterrupt as exc:
            if exc is not self._exception:  # Ctrl-C, not the task's own
                self._ungil_pool._interrupt()
            raise

    def exception(self, timeout=None):
        try:
            return super().exception(timeout)
        except KeyboardInterrupt:
            self._ungil_pool._interrupt()
            raise


def _default_workers():
    count = getattr(os, "process_cpu_count", os.cpu_count)()
    return count or 1


class Pool(concurrent.futures.Executor):
    """A pool of native worker threads that is a concurrent.futures.Executor.

    Pool(workers=None, *, trace=False, queue_size=0, name="worker")

    workers: number of threads (default: one per CPU this process may use).
    trace: True to record every task in a new ungil.Trace (see .trace), or
        an existing Trace to share one timeline between pools.
    queue_size: bound of the native task queue (0: 65536); submit() waits
        for room, with the GIL released, when it is full.
    name: prefix of the worker lanes in the trace.

    Python callables run on the workers holding the GIL only while Python
    code runs.  map() runs chunks of items per GIL acquisition, without a
    Future per item.  Ctrl-C during result(), map() or shutdown(wait=True)
    raises KeyboardInterrupt promptly and cancels every task that has not
    started; the interpreter then exits without waiting for this pool.
    """

    def __init__(self, workers=None, *, trace=False, queue_size=0,
                 name="worker"):
        if workers is None:
            workers = _default_workers()
        elif isinstance(workers, bool) or not isinstance(workers, int):
            raise TypeError(f"workers must be an int, not "
                            f"{type(workers).__name__}")
        elif workers <= 0:
            raise ValueError("workers must be greater than 0")
        if trace is True:
            trace = _ungil.Trace()
        elif trace is False or trace is None:
            trace = None
        elif not isinstance(trace, _ungil.Trace):
            raise TypeError("trace must be a bool or an ungil.Trace")
        self._trace = trace
        self._native = _ungil._Pool(workers, trace=trace,
                                    queue_size=queue_size, name=name)
        self._shutdown = False
        self._interrupted = False
        _live_pools.add(self)

    @property
    def workers(self):
        """Number of worker threads."""
        return self._native.workers

    @property
    def trace(self):
        """The ungil.Trace recording this pool, or None."""
        return self._trace

    def submit(self, fn, /, *args, **kwargs):
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        if _global_shutdown:
            raise RuntimeError("cannot schedule new futures after "
                               "interpreter shutdown")
        future = Future(self)
        self._native.submit(future, fn, args, kwargs)
        return future

    submit.__doc__ = concurrent.futures.Executor.submit.__doc__

    def map(self, fn, *iterables, timeout=None, chunksize=1, buffersize=None):
        """Return an iterator of fn(*args) for args in zip(*iterables).

        As Executor.map: results come in order; an exception raised by fn
        is raised when its result is reached; TimeoutError if a result is
        not ready `timeout` seconds after the call.  chunksize items run
        one after another per claim (every item of a chunk on one worker).
        With buffersize, at most that many items are in flight and the
        iterables are read lazily, so an endless one works (Python 3.14).
        """
        if buffersize is not None:
            if isinstance(buffersize, bool) or not isinstance(buffersize, int):
                raise TypeError("buffersize must be an integer or None")
            if buffersize < 1:
                raise ValueError("buffersize must be None or > 0")
        if isinstance(chunksize, bool) or not isinstance(chunksize, int):
            raise TypeError("chunksize must be an integer")
        if chunksize < 1:
            raise ValueError("chunksize must be >= 1.")
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        job = self._native.map(self, fn, zip(*iterables), chunksize,
                               buffersize or 0, timeout)
        return self._results(job)

    def _results(self, job):
        try:
            yield from job
        except KeyboardInterrupt:
            if job.interrupted:  # Ctrl-C, not an item's own exception
                self._interrupt()
            raise
        finally:
            job.cancel()

    def shutdown(self, wait=True, *, cancel_futures=False):
        """Stop accepting work, as Executor.shutdown.

        With cancel_futures, tasks not started are cancelled (their futures
        report cancelled, and wait()/as_completed() see it).  With wait, the
        call returns once every started task has finished; Ctrl-C there
        cancels what has not started and raises KeyboardInterrupt.
        """
        self._shutdown = True
        try:
            self._native.shutdown(wait, cancel_futures)
        except KeyboardInterrupt:
            self._interrupt()
            raise

    def stats(self):
        """Counters of the native queue: queued, running, completed, ..."""
        return self._native.stats()

    def _interrupt(self):
        self._interrupted = True
        self._native.cancel_pending()

    def __repr__(self):
        state = "shut down" if self._shutdown else "running"
        return f"<ungil.Pool workers={self.workers} {state}>"


def _python_exit():
    # Runs before atexit handlers (as for the standard executors): pools
    # still open finish their work, unless Ctrl-C was pressed (in a wait on
    # the pool, at exit, or uncaught), in which case nothing more is waited
    # for.
    global _global_shutdown
    _global_shutdown = True
    pools = list(_live_pools)
    # A program ended by an uncaught Ctrl-C does not wait either.
    last = getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)
    interrupted = isinstance(last, KeyboardInterrupt)
    for pool in pools:
        if pool._interrupted or interrupted:
            pool._native.shutdown(False, True)
            continue
        try:
            pool._native.shutdown(True, False)
        except KeyboardInterrupt:
            interrupted = True
            pool._native.shutdown(False, True)


threading._register_atexit(_python_exit)
