"""Experiment 2, CPU-bound: the course's GIL demo.

`sum_upto(n)` adds 1..n in a Python for loop.  Split over two Python
threads it is no faster, because only the thread holding the GIL runs
Python code; split over two processes it is, at the price of starting them
and of serialising whatever travels between them; ungil.sum_upto runs the
loop in C on native threads with the GIL released.

The multiprocessing rows show where their time goes: start-up (a pool made
for the job, as a script would), the compute time measured inside the
workers, and the rest (pickling, pipes, scheduling).  A second process row
sends the numbers themselves as a list to a pool already started, the way
data usually travels to worker processes, to show what serialisation costs
when there is data.
"""

import pickle
import threading
import time

import ungil

from .io_bound import mp_context
from .results import Experiment, Row, fill, measure
from .timeline import Recorder, from_trace

__all__ = ["run_cpu", "sum_upto", "sum_range"]

TICK_EVERY = 2000


def sum_upto(n):
    """The course's loop: 1 + 2 + ... + n."""
    output = 0
    for i in range(1, n + 1):
        output += i
    return output


def sum_range(first, last):
    """first + ... + last, in a Python loop."""
    output = 0
    for i in range(first, last + 1):
        output += i
    return output


def timed_sum_range(first, last):
    """sum_range and the seconds it took, measured where it ran."""
    start = time.perf_counter()
    value = sum_range(first, last)
    return value, time.perf_counter() - start


def timed_sum_list(numbers):
    """sum() of a list that was sent here, and the seconds it took."""
    start = time.perf_counter()
    value = 0
    for x in numbers:
        value += x
    return value, time.perf_counter() - start


def _bounds(n, parts):
    cuts = [n * k // parts for k in range(parts + 1)]
    return [(cuts[k] + 1, cuts[k + 1]) for k in range(parts)]


def in_threads(n, threads):
    """The loop split over Python threads; returns the sum."""
    parts = [0] * threads

    def work(k, first, last):
        parts[k] = sum_range(first, last)

    pool = [threading.Thread(target=work, args=(k, *bounds))
            for k, bounds in enumerate(_bounds(n, threads))]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(parts)


def in_processes(n, processes, context, details):
    """The loop split over a multiprocessing.Pool made for the job; fills
    `details` with the seconds of its start, compute (slowest worker),
    transfer (the rest of the map: pickling, pipes, scheduling) and
    shutdown (close and join)."""
    begin = time.perf_counter()
    pool = context.Pool(processes)
    try:
        # The pool is ready once every worker has answered once.
        pool.map(time.sleep, [0] * processes, chunksize=1)
        started = time.perf_counter()
        results = pool.starmap(timed_sum_range, _bounds(n, processes),
                               chunksize=1)
        computed = time.perf_counter()
    finally:
        pool.close()
        pool.join()
    end = time.perf_counter()
    compute = max(seconds for _, seconds in results)
    details.setdefault("start", []).append(started - begin)
    details.setdefault("compute", []).append(compute)
    details.setdefault("transfer", []).append(computed - started - compute)
    details.setdefault("shutdown", []).append(end - computed)
    return sum(value for value, _ in results)


def in_processes_with_data(numbers, processes, context, details):
    """sum of a list, the list's parts sent to a warm multiprocessing.Pool;
    returns (sum, seconds of the map alone: pickling, pipes, unpickling and
    the sums) and fills `details` with the pickled size, the time to
    pickle it here (the workers unpickle as much again) and the compute
    time in the workers."""
    chunks = [numbers[k * len(numbers) // processes:
                      (k + 1) * len(numbers) // processes]
              for k in range(processes)]
    start = time.perf_counter()
    size = sum(len(pickle.dumps(c, pickle.HIGHEST_PROTOCOL)) for c in chunks)
    details.setdefault("pickle", []).append(time.perf_counter() - start)
    details["bytes"] = [size]
    with context.Pool(processes) as pool:
        pool.map(time.sleep, [0] * processes, chunksize=1)
        started = time.perf_counter()
        results = pool.map(timed_sum_list, chunks, chunksize=1)
        seconds = time.perf_counter() - started
    details.setdefault("compute", []).append(max(s for _, s in results))
    return sum(value for value, _ in results), seconds


def _exact_timed(fn, n):
    def run():
        value, seconds = fn()
        if value != n * (n + 1) // 2:
            raise AssertionError(f"wrong sum for n={n}: {value}")
        return seconds
    return run


def _exact(fn, n):
    def run():
        start = time.perf_counter()
        value = fn()
        seconds = time.perf_counter() - start
        if value != n * (n + 1) // 2:
            raise AssertionError(f"wrong sum for n={n}: {value}")
        return seconds
    return run


def _median(values):
    values = sorted(values)
    return values[len(values) // 2]


def run_cpu(n=10_000_000, repeat=3, threads=2, processes=2,
            n_native=None, timelines=True, mp_start=None, list_n=None):
    """Sums 1..n in six ways, `repeat` times each, interleaved; returns an
    Experiment.  n_native: n for ungil.sum_upto (default n; its loop is
    some fifty times faster, so a larger n shows its speed better).
    list_n: how many numbers the data-sending process row sends (default
    n // 10: a list of ints pickles to about 5 bytes per number and takes
    about 36 bytes each in memory)."""
    if n < 2:
        raise ValueError("n must be at least 2")
    n_native = n_native or n
    list_n = list_n or max(2, n // 10)
    context = mp_context(mp_start)
    numbers = list(range(1, list_n + 1))
    details, data_details = {}, {}
    names = ["pure Python, 1 thread", f"pure Python, {threads} threads",
             f"multiprocessing.Pool({processes}), incl. start",
             f"multiprocessing.Pool({processes}) (warm), numbers sent "
             f"as a list",
             "ungil.sum_upto, 1 thread", f"ungil.sum_upto, {threads} threads"]
    measured = measure([
        (names[0], _exact(lambda: sum_upto(n), n)),
        (names[1], _exact(lambda: in_threads(n, threads), n)),
        (names[2], _exact(lambda: in_processes(n, processes, context,
                                               details), n)),
        (names[3], _exact_timed(lambda: in_processes_with_data(
            numbers, processes, context, data_details), list_n)),
        (names[4], _exact(lambda: ungil.sum_upto(n_native, threads=1),
                          n_native)),
        (names[5], _exact(lambda: ungil.sum_upto(n_native, threads=threads),
                          n_native)),
    ], repeat)
    items = [n, n, n, list_n, n_native, n_native]
    rows = [fill(Row(name, count, "numbers"), measured[name])
            for name, count in zip(names, items)]
    rows[1].note = "the GIL lets one thread run Python at a time"
    rows[2].details = {k: _median(v) for k, v in details.items()}
    d = rows[2].details
    rows[2].note = (f"start {d['start']:.3f} s, compute {d['compute']:.3f} s "
                    f"(in workers), transfer {d['transfer']:.3f} s, "
                    f"shutdown {d['shutdown']:.3f} s")
    rows[3].details = {k: _median(v) for k, v in data_details.items()}
    d = rows[3].details
    rows[3].note = (f"{d['bytes'] / 1e6:.1f} MB pickled in {d['pickle']:.3f} "
                    f"s here (and unpickled there), compute "
                    f"{d['compute']:.3f} s in workers")
    rows[5].note = "the loop in C, GIL released"
    timeline_list = _timelines(n, threads, n_native) if timelines else []
    return Experiment(
        key="cpu",
        title=f"2. CPU-bound: sum_upto(n), n = {n:,} "
              f"(ungil: {n_native:,})",
        description=(
            "Computing is what Python threads cannot speed up: only the "
            "thread that holds the GIL runs Python code, so two threads "
            "take turns.  Processes run at once but pay to start and to "
            "serialise what they exchange; ungil's loop runs in C on "
            "native threads with the GIL released."),
        rows=rows, baseline=names[0], timelines=timeline_list,
        notes=[f"multiprocessing start method: {context.get_start_method()}."],
        parameters={"n": n, "n_native": n_native, "threads": threads,
                    "processes": processes, "repeat": repeat,
                    "list_n": list_n})


def _ticking_sum(lane, first, last):
    output = 0
    lane.tick()
    i = first
    while i <= last:
        stop = min(last, i + TICK_EVERY - 1)
        for j in range(i, stop + 1):
            output += j
        lane.tick()
        i = stop + 1
    return output


def _timelines(n, threads, n_native):
    recorder = Recorder()
    workers = [threading.Thread(
        target=_ticking_sum,
        args=(recorder.lane(f"thread {k}"), *bounds))
        for k, bounds in enumerate(_bounds(n, threads))]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    python = recorder.timeline(
        f"sum_upto({n:,}) in {threads} Python threads",
        "Each thread notes the time every few thousand additions; a gap "
        "means it was not running.  The bars alternate: the GIL "
        "serialises the threads.")
    with ungil.Pool(threads, trace=True) as pool:
        part = max(1, n_native // threads)
        futures = [pool.submit(ungil.sum_upto, part, 1)
                   for _ in range(threads)]
        for future in futures:
            future.result()
    native = from_trace(
        pool.trace, f"{threads} x ungil.sum_upto({part:,}) on "
                    f"ungil.Pool({threads})",
        "Both native workers run at once: the GIL is released around the "
        "loop in C.")
    return [python, native]
