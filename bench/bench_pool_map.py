"""Pool.map and Pool.submit of a trivial Python function: ungil vs the
standard executors, 2 workers each.

The slow peers get fewer items (ThreadPoolExecutor does about 45,000 items/s
here, ProcessPoolExecutor with chunksize 1 about 7,500/s), so contenders
compare by items per second.  Every executor is created and warmed up once,
outside the timed part; each run times one map (or one batch of submits)
until its last result.  The issue asks ungil's map for at least 20x the
items/s of ThreadPoolExecutor.map.
"""

import os
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import harness

ungil = harness.import_ungil()

N_UNGIL = int(os.environ.get("POOL_MAP_ITEMS", 10**6))
N_THREADS = N_UNGIL // 10
N_PROC_1 = N_UNGIL // 50
N_PROC_BIG = N_UNGIL
BIG_CHUNK = 5000
N_SUBMIT = N_UNGIL // 10
TARGET = 20.0


def inc(x):
    return x + 1


def nap(x):
    time.sleep(0.05)
    return x


def mapper(executor, n, **kw):
    def run():
        t0 = time.perf_counter()
        out = list(executor.map(inc, range(n), **kw))
        seconds = time.perf_counter() - t0
        assert len(out) == n and out[-1] == n
        return seconds
    return run


def serial(n):
    def run():
        t0 = time.perf_counter()
        out = list(map(inc, range(n)))
        seconds = time.perf_counter() - t0
        assert len(out) == n and out[-1] == n
        return seconds
    return run


def submitter(executor, n):
    def run():
        t0 = time.perf_counter()
        futures = [executor.submit(inc, i) for i in range(n)]
        total = sum(f.result() for f in futures)
        seconds = time.perf_counter() - t0
        assert total == n * (n + 1) // 2
        return seconds
    return run


def main():
    facts = harness.machine()
    # The process pool forks first, while this process has one thread.
    procs = ProcessPoolExecutor(2)
    list(procs.map(nap, range(2)))
    threads = ThreadPoolExecutor(2)
    list(threads.map(inc, range(100)))
    pool = ungil.Pool(2)
    list(pool.map(inc, range(100)))
    C = harness.Contender
    try:
        tpe = "ThreadPoolExecutor(2).map"
        map_group = harness.run_group(
            "map(inc, range(n)), 2 workers",
            [C("ungil.Pool(2).map", mapper(pool, N_UNGIL), N_UNGIL),
             C(tpe, mapper(threads, N_THREADS), N_THREADS),
             C("ProcessPoolExecutor(2).map chunksize=1",
               mapper(procs, N_PROC_1, chunksize=1), N_PROC_1),
             C(f"ProcessPoolExecutor(2).map chunksize={BIG_CHUNK}",
               mapper(procs, N_PROC_BIG, chunksize=BIG_CHUNK), N_PROC_BIG),
             C("builtin map(), 1 thread, no pool", serial(N_UNGIL), N_UNGIL)],
            baseline=tpe)
        tpe_submit = "ThreadPoolExecutor(2).submit"
        submit_group = harness.run_group(
            f"submit(inc, i) + result(), {N_SUBMIT:,} tasks, 2 workers",
            [C("ungil.Pool(2).submit", submitter(pool, N_SUBMIT), N_SUBMIT),
             C(tpe_submit, submitter(threads, N_SUBMIT), N_SUBMIT)],
            baseline=tpe_submit)
    finally:
        pool.shutdown()
        threads.shutdown()
        procs.shutdown()
    ratio = harness.find(map_group, "ungil.Pool(2).map")["ratio"]
    notes = [
        "def inc(x): return x + 1.  Items per contender: "
        + ", ".join(f"{r['name']}: {r['items']:,}"
                    for r in map_group["contenders"]) + ".",
        "Executors are created and warmed up before timing; the process "
        "pool's start-up cost is not in these figures (see sum_upto).",
        "builtin map() is the reference without any pool: a trivial "
        "function is bound by the GIL, so no pool of threads can beat it.",
        "Ratio = items/s of the contender / items/s of the baseline.",
    ]
    harness.write_results(
        "pool_map", "Pool.map / Pool.submit vs concurrent.futures",
        [map_group, submit_group],
        [harness.target("ungil.Pool.map items/s vs ThreadPoolExecutor.map",
                        ratio, TARGET)],
        notes, facts)


if __name__ == "__main__":
    main()
