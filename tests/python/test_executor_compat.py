"""ungil.Pool as a concurrent.futures.Executor.

A representative set of what CPython's own Lib/test/test_concurrent_futures
checks of its executors (test_executor, test_shutdown, test_wait,
test_as_completed, test_thread_pool; the buffersize tests of Python 3.14),
rewritten for ungil.Pool.  Where CPython relies on sleeps to order events,
these tests block tasks on a threading.Event (the `gate` fixture) instead,
so that what they check does not depend on the machine's speed.
"""

import asyncio
import concurrent.futures as cf
import gc
import itertools
import threading
import time
import weakref

import pytest

import ungil

# Waits that only bound a failing test (a hang), never a speed check.
LONG = 30.0


# ---- helpers ------------------------------------------------------------

def mul(x, y):
    return x * y


def capture(*args, **kwargs):
    return args, kwargs


def raiser(exc_type, *args):
    raise exc_type(*args)


def fail_in_task():
    raise ValueError("raised in the task")


class MyBaseError(BaseException):
    pass


class FalseyBoolError(Exception):
    def __bool__(self):
        return False


class FalseyLenError(Exception):
    def __len__(self):
        return 0


class Blob:
    """An object that can be weakly referenced."""

    def __init__(self, value=0):
        self.value = value

    def method(self):
        return self.value


def blocker(gate, started=None, value=None):
    """A task that waits (GIL released) until `gate` is set."""
    if started is not None:
        started.release()
    if not gate.wait(LONG):
        raise RuntimeError("gate never opened")
    return value


def start_blockers(pool, gate, count):
    """Submits `count` blockers and returns their futures once all of them
    are running (so the pool's workers are all busy)."""
    started = threading.Semaphore(0)
    futures = [pool.submit(blocker, gate, started, i) for i in range(count)]
    for _ in range(count):
        assert started.acquire(timeout=LONG), "blocker did not start"
    return futures


# ---- submit, result, exception -----------------------------------------

def test_submit(pool):
    future = pool.submit(pow, 2, 8)
    assert future.result(timeout=LONG) == 256
    assert future.done() and not future.cancelled() and not future.running()
    assert future.exception() is None


def test_submit_keyword(pool):
    assert pool.submit(mul, 2, y=8).result(LONG) == 16
    # fn is positional-only, so `fn` and `self` are free keyword names.
    assert pool.submit(capture, 1, self=2, fn=3).result(LONG) == (
        (1,), {"self": 2, "fn": 3})
    with pytest.raises(TypeError):
        pool.submit(fn=capture, arg=1)
    with pytest.raises(TypeError):
        pool.submit(arg=1)


def test_submit_many_results_in_any_order(pool):
    futures = [pool.submit(mul, i, i) for i in range(200)]
    assert [f.result(LONG) for f in futures] == [i * i for i in range(200)]


def test_result_timeout(pool, gate):
    future, = start_blockers(pool, gate, 1)
    with pytest.raises(TimeoutError):
        future.result(timeout=0.1)
    with pytest.raises(TimeoutError):
        future.exception(timeout=0)
    assert not future.done()
    gate.set()
    assert future.result(timeout=LONG) == 0


def test_submit_non_callable(pool):
    # As with the standard executors, the TypeError reaches the future.
    future = pool.submit(42)
    assert isinstance(future.exception(LONG), TypeError)
    with pytest.raises(TypeError):
        next(pool.map(42, [1]))


def test_futures_are_concurrent_futures(pool, gate):
    future, = start_blockers(pool, gate, 1)
    assert isinstance(future, cf.Future)
    assert isinstance(future, ungil.Future)
    assert future.running() and not future.done()
    assert "running" in repr(future)
    gate.set()
    assert future.result(LONG) == 0
    assert "finished" in repr(future)


def test_exception_reaches_future(pool):
    future = pool.submit(fail_in_task)
    exc = future.exception(timeout=LONG)
    assert isinstance(exc, ValueError) and str(exc) == "raised in the task"
    with pytest.raises(ValueError, match="raised in the task"):
        future.result(LONG)
    # The traceback from the worker is kept: it reaches the task's frame.
    tb, names = exc.__traceback__, []
    while tb is not None:
        names.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    assert "fail_in_task" in names


def test_falsey_exceptions_are_not_swallowed(pool):
    # gh-132063: an exception whose bool() or len() is false still counts.
    # (Future.result() itself ignores them before Python 3.14, in the base
    # class, so this checks what the pool stores: exception() and wait().)
    for exc_type, text in ((FalseyBoolError, "boolbool"),
                           (FalseyLenError, "lenlen")):
        future = pool.submit(raiser, exc_type, text)
        exc = future.exception(LONG)
        assert type(exc) is exc_type and str(exc) == text
        done, _ = cf.wait([future], timeout=LONG,
                          return_when=cf.FIRST_EXCEPTION)
        assert done == {future}
        with pytest.raises(exc_type, match=text):
            next(pool.map(raiser, [exc_type], [text]))


@pytest.mark.parametrize("exc_type", [MyBaseError, SystemExit, GeneratorExit])
def test_base_exception_subclasses_reach_future(pool, exc_type):
    future = pool.submit(raiser, exc_type, "from the worker")
    exc = future.exception(timeout=LONG)
    assert type(exc) is exc_type
    with pytest.raises(exc_type):
        future.result(LONG)
    # The worker survived it.
    assert pool.submit(mul, 6, 7).result(LONG) == 42


def test_base_exception_in_map_reaches_consumer(pool):
    results = pool.map(raiser, [MyBaseError], ["in map"])
    with pytest.raises(MyBaseError, match="in map"):
        next(results)


# ---- map ---------------------------------------------------------------

def test_map_results_in_order(pool):
    assert list(pool.map(pow, range(10), range(10))) == [
        pow(i, i) for i in range(10)]
    assert list(pool.map(str, range(100))) == [str(i) for i in range(100)]


def test_map_multiple_iterables_stop_at_shortest(pool):
    assert list(pool.map(mul, [1, 2, 3, 4], (10, 20))) == [10, 40]
    assert list(pool.map(capture, "ab", [1, 2], iter([None, None, 9]))) == [
        (("a", 1, None), {}), (("b", 2, None), {})]


def test_map_empty(pool):
    assert list(pool.map(str, [])) == []
    assert list(pool.map(mul, [], [1, 2])) == []
    assert list(pool.map(str)) == []
    assert list(pool.map(str, [], buffersize=2)) == []


def test_map_exception_raised_at_its_position(pool):
    results = pool.map(divmod, [1, 1, 1, 1], [2, 3, 0, 5])
    assert next(results) == (0, 1)
    assert next(results) == (0, 1)
    with pytest.raises(ZeroDivisionError):
        next(results)
    # As with the standard executors, the iterator is finished after it.
    with pytest.raises(StopIteration):
        next(results)


def test_map_timeout(pool, gate):
    def item(i):
        if i == 2:
            gate.wait(LONG)
        return i

    results = []
    with pytest.raises(cf.TimeoutError):
        for value in pool.map(item, range(3), timeout=0.5):
            results.append(value)
    assert results == [0, 1]


def test_map_timeout_is_not_raised_when_in_time(pool):
    assert list(pool.map(mul, range(20), range(20), timeout=LONG)) == [
        i * i for i in range(20)]


@pytest.mark.parametrize("chunksize", [1, 2, 7, 64, 1000])
def test_map_chunksize(pool, chunksize):
    assert list(pool.map(mul, range(300), range(300), chunksize=chunksize)) \
        == [i * i for i in range(300)]


def test_map_chunksize_exception_position(pool):
    values = [1] * 20
    values[13] = 0
    results = pool.map(divmod, [5] * 20, values, chunksize=4)
    for _ in range(13):
        assert next(results) == (5, 0)
    with pytest.raises(ZeroDivisionError):
        next(results)


@pytest.mark.parametrize("chunksize", [0, -1])
def test_map_chunksize_value_validation(pool, chunksize):
    with pytest.raises(ValueError):
        pool.map(str, range(4), chunksize=chunksize)


@pytest.mark.parametrize("chunksize", ["2", 2.0, None])
def test_map_chunksize_type_validation(pool, chunksize):
    with pytest.raises(TypeError):
        pool.map(str, range(4), chunksize=chunksize)


def test_map_submits_without_iteration(make_pool):
    # CPython issue 11777: map() starts the work before the first next().
    pool = make_pool(2)
    finished = []
    pool.map(finished.append, range(10))
    pool.shutdown(wait=True)
    assert sorted(finished) == list(range(10))


def test_shutdown_right_after_map(make_pool):
    # CPython issue 12456.
    pool = make_pool(2)
    pool.map(str, [2] * 3)
    pool.shutdown()
    assert pool.stats()["queued"] == 0


# ---- map with buffersize (Python 3.14) ----------------------------------

@pytest.mark.parametrize("buffersize", ["foo", 2.0, True])
def test_map_buffersize_type_validation(pool, buffersize):
    with pytest.raises(TypeError, match="buffersize must be an integer or None"):
        pool.map(str, range(4), buffersize=buffersize)


@pytest.mark.parametrize("buffersize", [0, -1])
def test_map_buffersize_value_validation(pool, buffersize):
    with pytest.raises(ValueError, match="buffersize must be None or > 0"):
        pool.map(str, range(4), buffersize=buffersize)


@pytest.mark.parametrize("buffersize", [1, 2, 4, 8])
def test_map_buffersize(pool, buffersize):
    results = pool.map(str, range(4), buffersize=buffersize)
    assert list(results) == ["0", "1", "2", "3"]


def test_map_buffersize_multiple_iterables(pool):
    results = pool.map(mul, range(4), range(10, 14), buffersize=2)
    assert list(results) == [i * (10 + i) for i in range(4)]


def test_map_buffersize_on_endless_iterable(pool):
    results = pool.map(str, itertools.count(), buffersize=2)
    assert [next(results) for _ in range(3)] == ["0", "1", "2"]
    results.close()
    results = pool.map(mul, itertools.count(), itertools.count(1),
                       buffersize=3)
    assert [next(results) for _ in range(5)] == [i * (i + 1) for i in range(5)]
    results.close()


def test_map_buffersize_keeps_in_flight_bounded(pool):
    buffersize = 8
    pulled = 0

    def endless():
        nonlocal pulled
        for i in itertools.count():
            pulled += 1
            yield i

    results = pool.map(mul, endless(), itertools.repeat(3), chunksize=2,
                       buffersize=buffersize)
    for consumed in range(1, 3001):
        assert next(results) == (consumed - 1) * 3
        assert consumed < pulled <= consumed + buffersize
    results.close()
    assert pulled <= 3000 + buffersize


def test_map_buffersize_source_error_at_its_position(pool):
    def source():
        yield 1
        yield 2
        raise OSError("source broke")

    results = pool.map(mul, source(), itertools.repeat(10), buffersize=1)
    assert next(results) == 10
    with pytest.raises(OSError, match="source broke"):
        next(results)


def test_map_buffersize_fetches_only_buffersize_without_iteration(make_pool):
    pool = make_pool(2)
    source = iter(range(10))
    pool.map(str, source, buffersize=2)
    pool.shutdown(wait=True)
    assert next(source) == 2


def test_map_buffersize_slow_consumer(pool):
    buffersize = 3
    lock = threading.Lock()
    started = pulled = 0

    def source():
        nonlocal pulled
        for i in range(40):
            pulled += 1
            yield i

    def task(i):
        nonlocal started
        with lock:
            started += 1
        return -i

    results = pool.map(task, source(), buffersize=buffersize)
    for consumed in range(1, 21):
        assert next(results) == -(consumed - 1)
        time.sleep(0.01)  # a slow consumer: the workers could run ahead
        with lock:
            assert started <= pulled <= consumed + buffersize
    results.close()


# ---- shutdown ----------------------------------------------------------

def test_shutdown_wait_waits_for_every_task(make_pool):
    pool = make_pool(2)
    futures = [pool.submit(time.sleep, 0.01) for _ in range(20)]
    pool.shutdown(wait=True)
    assert all(f.done() and not f.cancelled() for f in futures)
    assert [f.result(0) for f in futures] == [None] * 20
    stats = pool.stats()
    assert stats["queued"] == 0 and stats["running"] == 0


def test_shutdown_no_wait_returns_and_work_completes(make_pool, gate):
    pool = make_pool(2)
    running = start_blockers(pool, gate, 2)
    queued = pool.submit(mul, 3, 4)
    mapped = pool.map(abs, range(-5, 5))
    pool.shutdown(wait=False)
    assert not any(f.done() for f in running + [queued])
    with pytest.raises(RuntimeError):
        pool.submit(mul, 1, 1)
    gate.set()
    assert [f.result(LONG) for f in running] == [0, 1]
    assert queued.result(LONG) == 12
    assert list(mapped) == [abs(v) for v in range(-5, 5)]


def test_shutdown_cancel_futures(make_pool, gate):
    pool = make_pool(2)
    running = start_blockers(pool, gate, 2)
    ran = []
    pending = [pool.submit(ran.append, i) for i in range(10)]

    # Waiters installed before the cancellation must be told about it.
    outcome = {}

    def waiter():
        outcome["wait"] = cf.wait(pending, timeout=LONG)

    def completer():
        outcome["as_completed"] = list(cf.as_completed(pending, timeout=LONG))

    threads = [threading.Thread(target=waiter),
               threading.Thread(target=completer)]
    for t in threads:
        t.start()
    time.sleep(0.05)  # let both install their waiters
    pool.shutdown(wait=False, cancel_futures=True)
    for t in threads:
        t.join(LONG)
        assert not t.is_alive()
    done, not_done = outcome["wait"]
    assert done == set(pending) and not not_done
    assert sorted(map(id, outcome["as_completed"])) == sorted(map(id, pending))
    assert all(f.cancelled() for f in pending)
    # The running tasks were not cancelled and finish normally.
    assert not any(f.done() for f in running)
    gate.set()
    assert [f.result(LONG) for f in running] == [0, 1]
    pool.shutdown(wait=True)
    assert ran == []
    # Waiting afresh sees the cancelled futures as done too.
    done, not_done = cf.wait(pending, timeout=0)
    assert done == set(pending) and not not_done


def test_shutdown_cancel_futures_with_wait(make_pool, gate, wait_until):
    pool = make_pool(2)
    ran = []
    lock = threading.Lock()

    def task(i):
        with lock:
            ran.append(i)
        gate.wait(LONG)
        return i

    futures = [pool.submit(task, i) for i in range(50)]
    assert wait_until(lambda: len(ran) == 2)
    threading.Timer(0.2, gate.set).start()
    pool.shutdown(wait=True, cancel_futures=True)
    cancelled = [f for f in futures if f.cancelled()]
    others = [f for f in futures if not f.cancelled()]
    assert len(others) == 2 and len(cancelled) == 48
    assert sorted(f.result(0) for f in others) == sorted(ran)
    for f in cancelled:
        with pytest.raises(cf.CancelledError):
            f.result(0)


def test_shutdown_is_idempotent(make_pool):
    pool = make_pool(2)
    future = pool.submit(mul, 2, 3)
    pool.shutdown(wait=False)
    pool.shutdown(wait=True)
    pool.shutdown()
    pool.shutdown(wait=True, cancel_futures=True)
    assert future.result(0) == 6


def test_submit_after_shutdown(make_pool):
    pool = make_pool(2)
    pool.shutdown()
    with pytest.raises(RuntimeError, match="cannot schedule new futures "
                                           "after shutdown"):
        pool.submit(pow, 2, 5)
    with pytest.raises(RuntimeError):
        pool.map(str, range(3))


def test_context_manager(make_pool):
    with make_pool(2) as pool:
        futures = [pool.submit(time.sleep, 0.01) for _ in range(6)]
        results = pool.map(mul, range(5), range(5))
    assert all(f.done() for f in futures)
    assert list(results) == [0, 1, 4, 9, 16]
    with pytest.raises(RuntimeError):
        pool.submit(mul, 1, 2)


def test_many_sleeps_then_shutdown(make_pool):
    # CPython issue 12364: shutdown with many queued tasks does not hang.
    pool = make_pool(2)
    futures = [pool.submit(time.sleep, 0.001) for _ in range(50)]
    pool.shutdown()
    for f in futures:
        assert f.result(0) is None


def test_shutdown_wait_from_worker_raises(make_pool):
    pool = make_pool(2)
    future = pool.submit(lambda: pool.shutdown(wait=True))
    exc = future.exception(LONG)
    assert isinstance(exc, RuntimeError)
    # The pool is shut down all the same, and a later shutdown works.
    with pytest.raises(RuntimeError):
        pool.submit(mul, 1, 2)
    pool.shutdown(wait=True)


def test_shutdown_no_wait_from_worker(make_pool):
    pool = make_pool(2)
    future = pool.submit(lambda: pool.shutdown(wait=False))
    assert future.result(LONG) is None
    with pytest.raises(RuntimeError):
        pool.submit(mul, 1, 2)


# ---- workers -----------------------------------------------------------

@pytest.mark.parametrize("workers", [0, -1])
def test_workers_value_validation(workers):
    with pytest.raises(ValueError):
        ungil.Pool(workers)


@pytest.mark.parametrize("workers", ["x", True, 1.5])
def test_workers_type_validation(workers):
    with pytest.raises(TypeError):
        ungil.Pool(workers)


def test_default_workers(make_pool):
    pool = make_pool()
    assert pool.workers >= 1
    assert make_pool(3).workers == 3
    assert pool.submit(mul, 3, 3).result(LONG) == 9


# ---- cancel, wait, as_completed, callbacks -----------------------------

def test_cancel_pending_future(make_pool, gate):
    pool = make_pool(1)
    running, = start_blockers(pool, gate, 1)
    ran = []
    pending = pool.submit(ran.append, "ran")
    assert pending.cancel()
    assert pending.cancelled() and pending.done()
    assert not running.cancel()  # already running
    gate.set()
    assert running.result(LONG) == 0
    pool.shutdown(wait=True)
    assert ran == []
    with pytest.raises(cf.CancelledError):
        pending.result(0)
    assert not pending.running()

def test_cancel_finished_future_fails(pool):
    future = pool.submit(mul, 2, 2)
    assert future.result(LONG) == 4
    assert not future.cancel()
    assert not future.cancelled()


def test_wait_first_completed(pool, gate):
    slow, = start_blockers(pool, gate, 1)
    quick = pool.submit(mul, 2, 5)
    done, not_done = cf.wait([slow, quick], timeout=LONG,
                             return_when=cf.FIRST_COMPLETED)
    assert done == {quick} and not_done == {slow}


def test_wait_first_exception(pool, gate):
    slow, = start_blockers(pool, gate, 1)
    ok = pool.submit(mul, 2, 5)
    assert ok.result(LONG) == 10
    done, not_done = cf.wait([slow, ok], timeout=0.1,
                             return_when=cf.FIRST_EXCEPTION)
    assert done == {ok} and not_done == {slow}  # no exception yet: timeout
    bad = pool.submit(fail_in_task)
    done, not_done = cf.wait([slow, ok, bad], timeout=LONG,
                             return_when=cf.FIRST_EXCEPTION)
    assert done == {ok, bad} and not_done == {slow}


def test_wait_all_completed_and_timeout(pool, gate):
    slow, = start_blockers(pool, gate, 1)
    quick = [pool.submit(mul, i, 2) for i in range(5)]
    cancelled = cf.Future()
    cancelled.cancel()
    cancelled.set_running_or_notify_cancel()
    done, not_done = cf.wait(quick + [cancelled], timeout=LONG)
    assert done == set(quick) | {cancelled} and not not_done
    done, not_done = cf.wait(quick + [slow], timeout=0.1)
    assert done == set(quick) and not_done == {slow}
    gate.set()
    done, not_done = cf.wait(quick + [slow], timeout=LONG)
    assert not not_done


def test_as_completed(pool, gate):
    slow, = start_blockers(pool, gate, 1)
    quick = [pool.submit(mul, i, 3) for i in range(8)]
    seen = []
    with pytest.raises(TimeoutError):
        for f in cf.as_completed(quick + [slow, quick[0]], timeout=0.5):
            seen.append(f)
    # Each of the finished ones once (duplicates yield once), not the slow.
    assert sorted(map(id, seen)) == sorted(map(id, quick))
    gate.set()
    assert set(cf.as_completed([slow] + quick, timeout=LONG)) == {slow, *quick}
    assert sorted(f.result() for f in quick) == [i * 3 for i in range(8)]


def test_as_completed_zero_timeout(pool, gate):
    slow, = start_blockers(pool, gate, 1)
    quick = pool.submit(mul, 1, 1)
    assert quick.result(LONG) == 1
    seen = set()
    with pytest.raises(TimeoutError):
        for f in cf.as_completed([quick, slow], timeout=0):
            seen.add(f)
    assert seen == {quick}


def test_add_done_callback(pool, gate):
    called = []
    main = threading.get_ident()
    future, = start_blockers(pool, gate, 1)
    future.add_done_callback(
        lambda f: called.append((f, threading.get_ident())))
    assert called == []
    gate.set()
    assert future.result(LONG) == 0
    # It ran (exactly once) on the worker that completed the future; it may
    # still be running when result() returns, so wait for it.
    deadline = time.monotonic() + LONG
    while not called and time.monotonic() < deadline:
        time.sleep(0.005)
    assert len(called) == 1
    assert called[0][0] is future and called[0][1] != main
    # Added after completion: called at once, in the caller's thread.
    future.add_done_callback(
        lambda f: called.append((f, threading.get_ident())))
    assert called[1] == (future, main)


def test_add_done_callback_on_cancelled_future(make_pool, gate):
    pool = make_pool(1)
    start_blockers(pool, gate, 1)
    pending = pool.submit(mul, 1, 1)
    seen = []
    pending.add_done_callback(lambda f: seen.append(f.cancelled()))
    assert pending.cancel()
    assert seen == [True]


def test_asyncio_run_in_executor(pool):
    async def main():
        loop = asyncio.get_running_loop()
        values = await asyncio.gather(
            *(loop.run_in_executor(pool, mul, i, 10) for i in range(20)))
        with pytest.raises(ValueError, match="raised in the task"):
            await loop.run_in_executor(pool, fail_in_task)
        slept = await asyncio.wait_for(
            loop.run_in_executor(pool, time.sleep, 0.05), timeout=LONG)
        return values, slept

    values, slept = asyncio.run(main())
    assert values == [i * 10 for i in range(20)]
    assert slept is None


# ---- references --------------------------------------------------------

def collected(ref, timeout=LONG):
    """True once `ref` (a weakref) is dead; collects garbage while waiting."""
    deadline = time.monotonic() + timeout
    while ref() is not None:
        if time.monotonic() > deadline:
            return False
        gc.collect()
        time.sleep(0.005)
    return True


def test_no_stale_references(pool):
    # CPython issue 16284: the pool does not keep the callable alive.
    blob = Blob(5)
    ref = weakref.ref(blob)
    pool.submit(blob.method)  # the future is dropped at once
    del blob
    assert collected(ref), "the bound method's object was never released"


def test_argument_released_after_completion(pool):
    arg = Blob(7)
    ref = weakref.ref(arg)
    future = pool.submit(Blob.method, arg)
    assert future.result(LONG) == 7
    del arg
    # The future holds the result only, not the arguments.
    assert collected(ref), "the argument outlived its task"
    assert future.result(0) == 7


def test_callable_and_kwargs_released_after_completion(pool):
    class Callable:
        def __call__(self, *, value):
            return value.value

    fn, kwarg = Callable(), Blob(3)
    fn_ref, kwarg_ref = weakref.ref(fn), weakref.ref(kwarg)
    future = pool.submit(fn, value=kwarg)
    assert future.result(LONG) == 3
    del fn, kwarg
    assert collected(fn_ref) and collected(kwarg_ref)


def test_result_released_when_future_dropped(pool):
    future = pool.submit(Blob, 1)
    ref = weakref.ref(future.result(LONG))
    del future
    assert collected(ref)


def test_map_does_not_keep_results(pool):
    # CPython issue 14406: the result iterator drops each yielded result.
    for obj in pool.map(Blob, range(10)):
        ref = weakref.ref(obj)
        del obj
        assert collected(ref)


def test_map_releases_arguments_and_fn(pool):
    args = [Blob(i) for i in range(50)]
    refs = [weakref.ref(a) for a in args]
    fn = Blob.method
    results = pool.map(fn, args)
    del args
    assert list(results) == list(range(50))
    del results
    assert all(collected(r) for r in refs)


# ---- interpreter exit (child interpreters) -----------------------------

SLEEP_AND_PRINT = """
import sys, time
def sleep_and_print(seconds, text):
    time.sleep(seconds)
    sys.stdout.write(text + "\\n")  # one write: lines never interleave
    sys.stdout.flush()
"""


def test_exit_completes_submitted_work(child):
    # CPython's test_interpreter_shutdown: no shutdown() call at all.
    result = child.run(SLEEP_AND_PRINT + """
import ungil
pool = ungil.Pool(5)
pool.submit(sleep_and_print, 0.3, "apple")
""")
    assert result.returncode == 0, result
    assert result.stdout.split() == ["apple"], result
    assert result.stderr == "", result


def test_exit_completes_work_of_a_dropped_pool(child):
    # The pool object is gone (never shut down); its queued work still runs
    # before the interpreter exits, as with ThreadPoolExecutor.
    result = child.run(SLEEP_AND_PRINT + """
import ungil
def start():
    pool = ungil.Pool(2)
    for text in ("apple", "banana", "cherry"):
        pool.submit(sleep_and_print, 0.1, text)
start()
""")
    assert result.returncode == 0, result
    assert sorted(result.stdout.split()) == ["apple", "banana", "cherry"], result
    assert result.stderr == "", result


def test_exit_after_shutdown_without_wait(child):
    # CPython issue 39205.
    result = child.run(SLEEP_AND_PRINT + """
import ungil
pool = ungil.Pool(3)
pool.submit(sleep_and_print, 0.3, "apple")
pool.shutdown(wait=False)
""")
    assert result.returncode == 0, result
    assert result.stdout.split() == ["apple"], result
    assert result.stderr == "", result


def test_exit_after_shutdown_cancel_futures(child):
    result = child.run(SLEEP_AND_PRINT + """
import threading, ungil
started = threading.Event()
def first():
    started.set()
    sleep_and_print(0.3, "apple")
pool = ungil.Pool(1)
pool.submit(first)
pending = [pool.submit(sleep_and_print, 0, "banana") for _ in range(5)]
started.wait(30)
pool.shutdown(wait=False, cancel_futures=True)
print(sum(f.cancelled() for f in pending), flush=True)
""")
    assert result.returncode == 0, result
    assert result.stdout.split() == ["5", "apple"], result
    assert result.stderr == "", result


def test_exit_with_map_in_progress(child):
    result = child.run(SLEEP_AND_PRINT + """
import ungil
pool = ungil.Pool(2)
results = pool.map(sleep_and_print, [0.05] * 6, "abcdef")
next(results)
""")
    assert result.returncode == 0, result
    assert sorted(result.stdout.split()) == list("abcdef"), result
    assert result.stderr == "", result


def test_exit_with_map_in_progress_of_a_dropped_pool(child):
    result = child.run(SLEEP_AND_PRINT + """
import ungil
def start():
    pool = ungil.Pool(2)
    pool.map(sleep_and_print, [0.05] * 6, "abcdef")
start()
""")
    assert result.returncode == 0, result
    assert sorted(result.stdout.split()) == list("abcdef"), result
    assert result.stderr == "", result


def test_submit_from_atexit_handler(child):
    # CPython's test_submit_after_interpreter_shutdown.
    result = child.run("""
import atexit, ungil
@atexit.register
def run_last():
    try:
        pool.submit(id, None)
    except RuntimeError:
        print("runtime-error", flush=True)
        raise
pool = ungil.Pool(2)
pool.submit(id, 42).result()
""")
    # Errors in atexit hooks do not change the exit status.
    assert result.stdout.split() == ["runtime-error"], result
    assert ("RuntimeError: cannot schedule new futures after interpreter "
            "shutdown") in result.stderr, result
