"""What ungil.Pool adds to the Executor API: native worker threads that hold
the GIL only while Python code runs, map without a future per item, queue
statistics, traces of every task, and no leaks over many submits."""

import concurrent.futures as cf
import gc
import itertools
import json
import re
import sys
import threading
import time
import tracemalloc
import weakref
import xml.etree.ElementTree as ET

import pytest

import ungil

LONG = 30.0  # bounds a failing (hung) wait only


def blocker(gate, started):
    started.release()
    if not gate.wait(LONG):
        raise RuntimeError("gate never opened")
    return threading.get_ident()


def start_blockers(pool, gate, count):
    started = threading.Semaphore(0)
    futures = [pool.submit(blocker, gate, started) for _ in range(count)]
    for _ in range(count):
        assert started.acquire(timeout=LONG), "blocker did not start"
    return futures


def square(x):
    return x * x


def nothing(x):
    return None


# ---- native workers and the GIL -----------------------------------------

def test_pool_is_an_executor(pool):
    assert isinstance(pool, cf.Executor)
    assert pool.workers == 4
    assert repr(pool) == "<ungil.Pool workers=4 running>"
    pool.shutdown()
    assert repr(pool) == "<ungil.Pool workers=4 shut down>"


def test_tasks_run_on_worker_threads(make_pool):
    workers = 4
    pool = make_pool(workers)
    barrier = threading.Barrier(workers, timeout=LONG)

    def where():
        barrier.wait()  # all `workers` tasks must be running at once
        return threading.get_ident(), threading.get_native_id()

    results = [f.result(LONG) for f in
               [pool.submit(where) for _ in range(workers)]]
    idents = {ident for ident, _ in results}
    native = {nid for _, nid in results}
    assert len(idents) == workers and len(native) == workers
    assert threading.get_ident() not in idents
    assert threading.get_native_id() not in native


def test_map_runs_on_worker_threads(make_pool):
    pool = make_pool(2)
    idents = set(pool.map(lambda _: threading.get_ident(), range(50)))
    assert idents and threading.get_ident() not in idents
    assert len(idents) <= 2


def test_gil_released_while_workers_wait(make_pool):
    # Four sleeps of 0.3 s on four workers overlap: 1.2 s if they ran one
    # after another (a GIL held while waiting); the bound is generous.
    pool = make_pool(4)
    pool.submit(square, 1).result(LONG)  # workers are up
    t0 = time.monotonic()
    futures = [pool.submit(time.sleep, 0.3) for _ in range(4)]
    assert [f.result(LONG) for f in futures] == [None] * 4
    elapsed = time.monotonic() - t0
    assert elapsed < 1.0, f"4 x sleep(0.3) on 4 workers took {elapsed:.2f} s"


def test_main_thread_runs_while_workers_wait(make_pool, gate):
    pool = make_pool(2)
    futures = start_blockers(pool, gate, 2)
    # Both workers are inside a task: the main thread still runs Python.
    total = sum(range(100000))
    assert total == 4999950000
    gate.set()
    assert len({f.result(LONG) for f in futures}) == 2


def test_submit_from_a_worker(pool):
    def outer():
        return pool.submit(square, 12)

    inner = pool.submit(outer).result(LONG)
    assert isinstance(inner, cf.Future)
    assert inner.result(LONG) == 144


def test_submit_from_many_threads(pool):
    results = {}

    def producer(k):
        results[k] = [pool.submit(pow, k, i) for i in range(1000)]

    threads = [threading.Thread(target=producer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(LONG)
    for k in range(8):
        assert [f.result(LONG) for f in results[k]] == [
            pow(k, i) for i in range(1000)]


def test_pool_dropped_while_working(wait_until):
    # The last reference to the pool goes away on one of its own workers
    # (when its last future completes): no hang, no crash, and it is freed.
    done = threading.Event()

    def start():
        pool = ungil.Pool(2)
        pool.submit(time.sleep, 0.05).add_done_callback(
            lambda _: done.set())
        return weakref.ref(pool)

    ref = start()
    assert done.wait(LONG)
    assert wait_until(lambda: (gc.collect(), ref() is None)[1])
    # Other pools still work.
    with ungil.Pool(1) as other:
        assert other.submit(square, 9).result(LONG) == 81


def test_task_keyboardinterrupt_is_not_a_ctrl_c(make_pool, gate):
    # A task that raises KeyboardInterrupt completes its future with it; a
    # later result() re-raises it, which is not the user pressing Ctrl-C in
    # the waiting thread, so the pool's other work must go on.
    pool = make_pool(1)

    def interrupting():
        raise KeyboardInterrupt

    bad = pool.submit(interrupting)
    assert isinstance(bad.exception(LONG), KeyboardInterrupt)
    start_blockers(pool, gate, 1)
    pending = pool.submit(square, 5)
    with pytest.raises(KeyboardInterrupt):
        bad.result(0)
    gate.set()
    assert not pending.cancelled()
    assert pending.result(LONG) == 25


def test_map_task_keyboardinterrupt_is_not_a_ctrl_c(make_pool, gate):
    # The same through map: the item's KeyboardInterrupt reaches the
    # consumer, but other work of the pool is not cancelled for it.
    pool = make_pool(1)

    def item(i):
        if i == 1:
            raise KeyboardInterrupt
        return i

    results = pool.map(item, range(3))
    assert next(results) == 0
    start_blockers(pool, gate, 1)
    pending = pool.submit(square, 6)
    with pytest.raises(KeyboardInterrupt):
        next(results)
    gate.set()
    assert not pending.cancelled()
    assert pending.result(LONG) == 36


# ---- map ---------------------------------------------------------------

@pytest.mark.parametrize("chunksize", [1, 100])
def test_map_100k_items_exact(pool, chunksize):
    n = 10**5
    results = list(pool.map(square, range(n), chunksize=chunksize))
    assert len(results) == n
    assert results == [i * i for i in range(n)]


def test_map_100k_items_builtin_fn(pool):
    n = 10**5
    assert list(pool.map(abs, range(-n, 0))) == list(range(n, 0, -1))


@pytest.mark.parametrize("how", ["close", "del"])
def test_map_closed_early_cancels_the_rest(make_pool, how):
    pool = make_pool(2)
    lock = threading.Lock()
    ran = 0

    def slow(i):
        nonlocal ran
        with lock:
            ran += 1
        time.sleep(0.01)
        return i

    results = pool.map(slow, range(1000))
    assert [next(results) for _ in range(3)] == [0, 1, 2]
    if how == "close":
        results.close()
    else:
        del results
    with lock:
        at_close = ran
    # What was running may finish (at most one item per worker); the
    # rest never starts.
    time.sleep(0.3)
    pool.shutdown(wait=True)
    assert at_close <= ran <= at_close + pool.workers
    assert ran < 1000
    assert pool.stats()["queued"] == 0


def test_map_cancelled_items_after_close_raise_nothing(pool):
    results = pool.map(square, range(100))
    assert next(results) == 0
    results.close()
    with pytest.raises(StopIteration):
        next(results)


def test_map_source_error_raised_from_map(pool):
    def bad_source():
        yield 1
        raise OSError("source broke")

    # The eager map reads its whole input at once, as Executor.map does.
    with pytest.raises(OSError, match="source broke"):
        pool.map(square, bad_source())


# ---- stats -------------------------------------------------------------

def test_stats_counts_queued_running_completed(make_pool, gate):
    pool = make_pool(2)
    stats = pool.stats()
    assert set(stats) >= {"queued", "running", "completed", "submit_waits",
                          "idle_waits"}
    assert all(isinstance(v, int) and v >= 0 for v in stats.values())
    assert stats["queued"] == 0 and stats["running"] == 0
    assert stats["completed"] == 0
    blocked = start_blockers(pool, gate, 2)
    pending = [pool.submit(square, i) for i in range(3)]
    stats = pool.stats()
    assert stats["running"] == 2 and stats["queued"] == 3
    gate.set()
    pool.shutdown(wait=True)
    assert [f.result(0) for f in pending] == [0, 1, 4]
    assert all(f.done() for f in blocked)
    stats = pool.stats()
    assert stats["queued"] == 0 and stats["running"] == 0
    assert stats["completed"] == 5


def test_bounded_queue_makes_submit_wait(make_pool, gate, wait_until):
    pool = make_pool(1, queue_size=4)
    start_blockers(pool, gate, 1)
    futures = []

    def producer():
        for i in range(20):
            futures.append(pool.submit(square, i))

    thread = threading.Thread(target=producer)
    thread.start()
    # The producer fills the queue, then waits for room with the GIL
    # released (this thread keeps running) and without busy looping.
    assert wait_until(lambda: pool.stats()["submit_waits"] >= 1)
    assert thread.is_alive()
    assert pool.stats()["queued"] <= 4
    assert len(futures) < 20
    gate.set()
    thread.join(LONG)
    assert not thread.is_alive()
    assert [f.result(LONG) for f in futures] == [i * i for i in range(20)]


# ---- traces ------------------------------------------------------------

def check_lanes_sequential(events):
    """Within one lane (one thread), events follow each other."""
    by_lane = {}
    for lane, _, _, start, end, _ in events:
        by_lane.setdefault(lane, []).append((start, end))
    for spans in by_lane.values():
        for (s0, e0), (s1, e1) in zip(spans, spans[1:]):
            assert s0 <= e0 <= s1 <= e1


def test_trace_records_one_event_per_task(make_pool):
    pool = make_pool(3, trace=True)
    assert isinstance(pool.trace, ungil.Trace)

    def traced_task(i):
        time.sleep(0.02 if i == 0 else 0)
        return i

    futures = [pool.submit(traced_task, i) for i in range(30)]
    pool.shutdown(wait=True)
    assert [f.result(0) for f in futures] == list(range(30))
    trace = pool.trace
    events = trace.events()
    assert len(events) == 30 == len(trace)
    assert trace.dropped == 0
    assert 1 <= trace.lanes <= 3
    assert {label for _, _, label, _, _, _ in events} == {
        traced_task.__qualname__}
    assert traced_task.__qualname__ == (
        "test_trace_records_one_event_per_task.<locals>.traced_task")
    for lane, name, _, start, end, _ in events:
        assert re.fullmatch(r"worker \d+", name), name
        assert 0 <= start <= end
    names = {(lane, name) for lane, name, *_ in events}
    # One name per lane, a different one for each worker.
    assert len({lane for lane, _ in names}) == len(names)
    assert len({name for _, name in names}) == len(names) <= 3
    check_lanes_sequential(events)
    # The one task that slept lasts at least its sleep.
    assert max(end - start for _, _, _, start, end, _ in events) >= 0.02


def test_trace_lane_names_follow_pool_name(make_pool):
    pool = make_pool(2, trace=True, name="io")
    pool.submit(square, 3).result(LONG)
    pool.shutdown(wait=True)
    (_, name, label, *_), = pool.trace.events()
    assert re.fullmatch(r"io \d", name)
    assert label == "square"


def test_trace_map_records_chunks(make_pool):
    pool = make_pool(2, trace=True)
    assert list(pool.map(square, range(100), chunksize=10)) == [
        i * i for i in range(100)]
    pool.shutdown(wait=True)
    events = pool.trace.events()
    assert events
    assert {label for _, _, label, *_ in events} == {"square"}
    items = [arg for *_, arg in events]
    assert sum(items) == 100 and max(items) <= 10 and min(items) >= 1
    check_lanes_sequential(events)


def test_trace_options(make_pool):
    assert make_pool(1).trace is None
    assert make_pool(1, trace=False).trace is None
    assert make_pool(1, trace=None).trace is None
    with pytest.raises(TypeError):
        ungil.Pool(1, trace="yes")
    with pytest.raises(TypeError):
        ungil.Trace(1)
    assert len(ungil.Trace()) == 0 and ungil.Trace().events() == []


def traced_pool_with_events(make_pool, tasks=12):
    pool = make_pool(2, trace=True)

    def traced_task(i):
        time.sleep(0.005)
        return i

    for f in [pool.submit(traced_task, i) for i in range(tasks)]:
        f.result(LONG)
    pool.shutdown(wait=True)
    return pool.trace, traced_task.__qualname__


def test_trace_save_svg(make_pool, tmp_path):
    trace, label = traced_pool_with_events(make_pool)
    path = tmp_path / "x.svg"
    trace.save(str(path), title="Twelve tasks & more <here>")
    root = ET.parse(path).getroot()  # well-formed XML, labels escaped
    assert root.tag in ("svg", "{http://www.w3.org/2000/svg}svg")
    texts = " ".join(t for el in root.iter()
                     for t in (el.text, el.tail) if t)
    assert "Twelve tasks & more <here>" in texts
    assert label in texts
    assert re.search(r"worker \d", texts)


def test_trace_save_json(make_pool, tmp_path):
    trace, label = traced_pool_with_events(make_pool)
    path = tmp_path / "x.json"
    trace.save(path)  # a path-like object works too
    with open(path) as f:
        data = json.load(f)
    events = data["traceEvents"]
    spans = [e for e in events if e.get("ph") == "X"]
    assert len(spans) == 12
    assert {e["name"] for e in spans} == {label}
    for e in spans:
        assert e["ts"] >= 0 and e["dur"] >= 0
    # Durations are microseconds; every task slept 5 ms.
    assert all(e["dur"] >= 5000 for e in spans)
    names = {e["tid"]: e["args"]["name"] for e in events
             if e.get("ph") == "M" and e.get("name") == "thread_name"}
    assert {e["tid"] for e in spans} <= set(names)
    assert all(re.fullmatch(r"worker \d", names[e["tid"]]) for e in spans)
    assert len({names[e["tid"]] for e in spans}) <= 2


@pytest.mark.parametrize("name", ["x.txt", "x", "x.svg.bak", "x.SVGZ"])
def test_trace_save_bad_extension(make_pool, tmp_path, name):
    trace, _ = traced_pool_with_events(make_pool, tasks=1)
    with pytest.raises(ValueError, match=r"\.svg"):
        trace.save(tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_trace_save_missing_directory(make_pool, tmp_path):
    trace, _ = traced_pool_with_events(make_pool, tasks=1)
    with pytest.raises(OSError):
        trace.save(tmp_path / "missing" / "x.json")


def test_shared_trace_between_pools(make_pool):
    trace = ungil.Trace()
    io = make_pool(1, trace=trace, name="io")
    cpu = make_pool(2, trace=trace, name="cpu")
    assert io.trace is trace and cpu.trace is trace

    def fetch(i):
        return i

    def compute(i):
        return -i

    assert [f.result(LONG) for f in [io.submit(fetch, i) for i in range(5)]] \
        == list(range(5))
    assert list(cpu.map(compute, range(5))) == [0, -1, -2, -3, -4]
    io.shutdown()
    cpu.shutdown()
    events = trace.events()
    by_label = {}
    for _, name, label, *_ in events:
        by_label.setdefault(label.rsplit(".", 1)[-1], set()).add(name)
    assert set(by_label) == {"fetch", "compute"}
    assert len(by_label["fetch"]) == 1
    assert re.fullmatch(r"io \d", *by_label["fetch"])
    assert 1 <= len(by_label["compute"]) <= 2
    assert all(re.fullmatch(r"cpu \d", n) for n in by_label["compute"])
    assert len([e for e in events if e[2].endswith("fetch")]) == 5
    # The trace outlives both pools.
    del io, cpu
    gc.collect()
    assert len(trace) == len(events)
    trace.clear()
    assert len(trace) == 0 and trace.events() == []


def test_trace_outlives_its_pool(tmp_path):
    pool = ungil.Pool(2, trace=True)
    pool.submit(square, 2).result(LONG)
    pool.shutdown(wait=True)
    trace = pool.trace
    ref = weakref.ref(pool)
    del pool
    gc.collect()
    assert ref() is None
    assert len(trace) == 1
    trace.save(tmp_path / "after.json")
    assert json.loads((tmp_path / "after.json").read_text())["traceEvents"]


# ---- references and memory over many submits ---------------------------

def test_100k_submits_leak_no_references_or_memory(make_pool):
    pool = make_pool(2)
    sentinel = object()

    def task(arg):
        return None

    for f in [pool.submit(task, sentinel) for _ in range(1000)]:
        f.result(LONG)  # warm up: workers, free lists, caches
    pool.submit(task, sentinel).result(LONG)
    # Wait for the workers to drop their references, then take a baseline.
    pool.shutdown(wait=True)
    pool = make_pool(2)
    gc.collect()
    base_refs = sys.getrefcount(sentinel), sys.getrefcount(task)

    tracemalloc.start()
    try:
        gc.collect()
        base_mem = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for _ in range(100):
            batch = [pool.submit(task, sentinel) for _ in range(1000)]
            for f in batch:
                assert f.result(LONG) is None
            del batch, f
        pool.shutdown(wait=True)
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (sys.getrefcount(sentinel), sys.getrefcount(task)) == base_refs
    # One leaked 16-byte block per task would be 1.6 MB; a live batch of
    # 1000 futures takes under 2 MB, 10^5 of them over 100 MB.
    assert current - base_mem < 100_000, f"{current - base_mem} bytes kept"
    assert peak - base_mem < 16_000_000, f"peak {peak - base_mem} bytes"


def test_100k_map_items_leak_no_references(make_pool, wait_until):
    pool = make_pool(2)
    sentinel = object()

    def settled():
        # A map's runner task hands over its last result, then drops its
        # reference to the job (and so to the function): counts are only
        # comparable once no runner is left.
        stats = pool.stats()
        return stats["queued"] == 0 and stats["running"] == 0

    list(pool.map(nothing, [sentinel] * 100))  # warm up
    assert wait_until(settled)
    gc.collect()
    base_refs = sys.getrefcount(sentinel), sys.getrefcount(nothing)
    results = pool.map(nothing, itertools.repeat(sentinel, 10**5),
                       chunksize=16)
    assert sum(1 for r in results if r is None) == 10**5
    del results
    assert wait_until(settled)
    gc.collect()
    assert (sys.getrefcount(sentinel), sys.getrefcount(nothing)) == base_refs
