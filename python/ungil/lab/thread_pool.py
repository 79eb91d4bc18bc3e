"""Experiment 4, thread pools: the lab's queue of tasks.

The lab's webscraper is a thread pool written by hand: worker threads pull
tasks from a queue.Queue until they meet a sentinel.  Here that paradigm
runs two kinds of task next to concurrent.futures.ThreadPoolExecutor and
ungil.Pool (native workers; Python callables run holding the GIL only while
Python code runs; map() runs chunks of items per GIL acquisition):

- tiny tasks (x + 1): what the pool itself costs per task;
- native tasks (ungil.sum_upto on one thread, a C loop that releases the
  GIL): any pool of threads runs them at once, so Python threads are useful
  as soon as the work happens in C that lets go of the GIL.
"""

import concurrent.futures
import queue
import threading
import time

import ungil

from .results import Experiment, Row, fill, measure
from .timeline import Recorder, from_trace

__all__ = ["QueuePool", "run_pool"]


def inc(x):
    """The tiny task."""
    return x + 1


def sum_native(n):
    """The native task: 1 + ... + n in C on this thread, GIL released."""
    return ungil.sum_upto(n, threads=1)


class QueuePool:
    """The lab's paradigm: `workers` threads pull (fn, arg, index) from a
    queue.Queue and store results in a list; None stops a worker."""

    def __init__(self, workers, wrap=None):
        self.tasks = queue.Queue()
        self.threads = []
        for k in range(workers):
            loop = self._work if wrap is None else wrap(k, self._work)
            self.threads.append(threading.Thread(target=loop))
        for t in self.threads:
            t.start()

    def _work(self):
        while True:
            task = self.tasks.get()
            if task is None:
                return
            fn, arg, index, results = task
            results[index] = fn(arg)

    def map(self, fn, args):
        """Every fn(arg), in order, once the queue has drained."""
        results = [None] * len(args)
        for index, arg in enumerate(args):
            self.tasks.put((fn, arg, index, results))
        self.close()
        return results

    def close(self):
        """Sends one sentinel per worker and joins them."""
        for _ in self.threads:
            self.tasks.put(None)
        for t in self.threads:
            t.join()
        self.threads = []


def _queue_map(fn, args, workers):
    return QueuePool(workers).map(fn, args)


def _executor_submit(fn, args, workers):
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return [f.result() for f in [pool.submit(fn, a) for a in args]]


def _executor_map(fn, args, workers):
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, args))


def _ungil_submit(fn, args, workers):
    with ungil.Pool(workers) as pool:
        return [f.result() for f in [pool.submit(fn, a) for a in args]]


def _ungil_map(fn, args, workers, chunksize=1):
    with ungil.Pool(workers) as pool:
        return list(pool.map(fn, args, chunksize=chunksize))


def run_pool(tasks=20_000, native_tasks=16, native_n=5_000_000, workers=2,
             repeat=3, timelines=True):
    """Runs `tasks` tiny tasks and `native_tasks` x ungil.sum_upto(native_n)
    on five pools of `workers` threads (pool start and shutdown included),
    `repeat` times each; returns an Experiment."""
    if tasks < 1 or native_tasks < 1 or workers < 1:
        raise ValueError("tasks, native_tasks and workers must be >= 1")
    tiny = list(range(tasks))
    tiny_expected = [x + 1 for x in tiny]
    native = [native_n] * native_tasks
    native_expected = [native_n * (native_n + 1) // 2] * native_tasks

    def contender(pool_fn, fn, args, expected):
        def run():
            start = time.perf_counter()
            results = pool_fn(fn, args, workers)
            seconds = time.perf_counter() - start
            if results != expected:
                raise AssertionError(f"{pool_fn.__name__} gave wrong results")
            return seconds
        return run

    pools = [("queue.Queue + threads", _queue_map),
             ("ThreadPoolExecutor.submit", _executor_submit),
             ("ThreadPoolExecutor.map", _executor_map),
             ("ungil.Pool.submit", _ungil_submit),
             ("ungil.Pool.map", _ungil_map)]
    contenders = []
    for label, pool_fn in pools:
        contenders.append((f"{label}, tiny tasks",
                           contender(pool_fn, inc, tiny, tiny_expected)))
    for label, pool_fn in pools:
        contenders.append((f"{label}, native tasks",
                           contender(pool_fn, sum_native, native,
                                     native_expected)))
    measured = measure(contenders, repeat)
    rows = []
    for name, _ in contenders:
        tiny_row = name.endswith("tiny tasks")
        rows.append(fill(Row(name, tasks if tiny_row else native_tasks,
                             "tasks", baseline=contenders[0 if tiny_row else
                                                          len(pools)][0]),
                         measured[name]))
    rows[0].note = "baseline: the lab's paradigm, workers pull from a queue"
    rows[4].note = "chunks of items per GIL acquisition"
    rows[5].note = (f"baseline; each task: ungil.sum_upto({native_n:,}) "
                    f"in C, GIL released")
    timeline_list = (_timelines(native_tasks, native_n, workers)
                     if timelines else [])
    return Experiment(
        key="pool",
        title=f"4. Thread pools: {tasks:,} tiny tasks and {native_tasks} "
              f"native tasks, {workers} workers",
        description=(
            "A pool of threads is a queue of tasks and workers pulling from "
            "it.  With tiny Python tasks the cost of the pool itself "
            "dominates; with tasks that run in C and release the GIL, every "
            "pool of threads keeps all its workers busy at once."),
        rows=rows, baseline=contenders[0][0], timelines=timeline_list,
        notes=["Speed-ups compare each row with the queue.Queue pool on "
               "the same kind of task."],
        parameters={"tasks": tasks, "native_tasks": native_tasks,
                    "native_n": native_n, "workers": workers,
                    "repeat": repeat})


def _timelines(native_tasks, native_n, workers):
    recorder = Recorder()
    count = min(native_tasks, 4 * workers)
    args = [native_n] * count
    pool = QueuePool(workers, wrap=lambda k, loop: recorder.profiled(
        f"queue worker {k}", loop))
    pool.map(sum_native, args)
    python = recorder.timeline(
        f"queue.Queue workers: {count} x ungil.sum_upto({native_n:,})",
        "Python threads calling C that releases the GIL run at once "
        "(purple: in C).")
    with ungil.Pool(workers, trace=True) as upool:
        list(upool.map(sum_native, args))
    native = from_trace(
        upool.trace, f"ungil.Pool({workers}): the same tasks",
        "One bar per task on each native worker.")
    return [python, native]
