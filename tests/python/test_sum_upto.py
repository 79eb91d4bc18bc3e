"""ungil.sum_upto(n, threads=None): the course's GIL demo loop in C.

Exact for every n >= 0 (a Python int beyond 64 bits), strict about its
arguments, and it releases the GIL while the loop runs.  Ctrl-C is in
test_interrupt.py.
"""

import inspect
import os
import random
import re
import threading

import pytest

import ungil


def expected(n):
    return n * (n + 1) // 2


SMALL = [0, 1, 2, 3, 4, 5, 7, 10, 63, 64, 65, 100, 1000, 4095, 4096, 4097]
LARGE = [10**6 + k for k in (-1, 0, 1, 2, 3, 7)] + [2**22 - 1, 2**22, 2**22 + 1]


@pytest.mark.parametrize("threads", [None, 1, 2, 3, 5, 8])
def test_exact_small_and_medium(threads):
    for n in SMALL + LARGE:
        assert ungil.sum_upto(n, threads) == expected(n), (n, threads)


@pytest.mark.parametrize("threads", [None, 1, 2, 3, 5, 8])
def test_exact_random(threads):
    rng = random.Random(20240 + (threads or 0))
    for n in [rng.randrange(10**7) for _ in range(8)]:
        assert ungil.sum_upto(n, threads=threads) == expected(n), (n, threads)


def test_fewer_numbers_than_threads():
    # Some of the threads get an empty range.
    for n in range(0, 12):
        for threads in (1, 2, 5, 8, 16):
            assert ungil.sum_upto(n, threads) == expected(n), (n, threads)


def test_many_more_threads_than_cpus():
    threads = 4 * (os.cpu_count() or 1) + 3
    assert ungil.sum_upto(10**6 + 1, threads=threads) == expected(10**6 + 1)


def test_result_beyond_64_bits():
    # 7.1e9 numbers: the sum is about 2.5e19 > 2**64, and with two threads
    # the upper half alone (about 1.9e19) carries out of 64 bits too.
    n = 7_100_000_001
    result = ungil.sum_upto(n, threads=2)
    assert result > 2**64
    assert result == expected(n)
    assert type(result) is int


def test_returns_int():
    assert type(ungil.sum_upto(0)) is int
    assert type(ungil.sum_upto(10)) is int
    assert ungil.sum_upto(n=10, threads=2) == 55


@pytest.mark.parametrize("bad", [1.5, "10", None, True, False, 10.0, b"10",
                                 [10], 1 + 0j])
def test_type_errors(bad):
    with pytest.raises(TypeError):
        ungil.sum_upto(bad)


@pytest.mark.parametrize("bad", [-1, -(2**70), 2**64, 2**64 + 1, 2**100])
def test_value_errors(bad):
    with pytest.raises(ValueError):
        ungil.sum_upto(bad)


@pytest.mark.parametrize("threads", [0, -1, 2**64, 10**6])
def test_threads_value_errors(threads):
    with pytest.raises(ValueError):
        ungil.sum_upto(10, threads=threads)


@pytest.mark.parametrize("threads", [1.5, "2", True])
def test_threads_type_errors(threads):
    with pytest.raises(TypeError):
        ungil.sum_upto(10, threads=threads)


def test_argument_count():
    with pytest.raises(TypeError):
        ungil.sum_upto()
    with pytest.raises(TypeError):
        ungil.sum_upto(1, 2, 3)
    with pytest.raises(TypeError):
        ungil.sum_upto(1, cores=2)


class Index:
    """A numpy-like integer: not an int, but has __index__."""

    def __init__(self, value):
        self.value = value

    def __index__(self):
        return self.value


class BadIndex:
    def __index__(self):
        raise ArithmeticError("no index today")


def test_accepts_index_objects():
    assert ungil.sum_upto(Index(10**6)) == expected(10**6)
    assert ungil.sum_upto(Index(100), threads=Index(3)) == 5050
    assert ungil.sum_upto(Index(0)) == 0
    with pytest.raises(ValueError):
        ungil.sum_upto(Index(-5))
    with pytest.raises(ValueError):
        ungil.sum_upto(Index(2**64))
    with pytest.raises(ArithmeticError, match="no index today"):
        ungil.sum_upto(BadIndex())


def test_int_subclass():
    class MyInt(int):
        pass

    assert ungil.sum_upto(MyInt(1000)) == 500500


def test_docstring_explains_the_compiler():
    doc = ungil.sum_upto.__doc__
    assert doc
    # The signature line became introspectable (not part of the text).
    params = inspect.signature(ungil.sum_upto).parameters
    assert list(params) == ["n", "threads"]
    assert params["threads"].default is None
    assert "compiler" in doc.lower()
    # It says what compilers would turn the loop into, and why they don't.
    assert re.search(r"n\s*\*\s*\(n\s*\+\s*1\)\s*/\s*2", doc)
    assert "asm" in doc
    assert "KeyboardInterrupt" in doc


def test_releases_the_gil():
    # While sum_upto runs in another Python thread, this one keeps running
    # Python code.  With the GIL held by the loop, this thread could not
    # run a single iteration between `inside` and `done`.
    inside = threading.Event()
    done = threading.Event()
    result = []

    def worker():
        inside.set()
        result.append(ungil.sum_upto(1_500_000_000, threads=1))
        done.set()

    thread = threading.Thread(target=worker)
    thread.start()
    assert inside.wait(30)
    iterations = 0
    while not done.is_set():
        iterations += 1
    thread.join(60)
    assert result == [expected(1_500_000_000)]
    # At least 0.3 s of loop on any machine of the last decades; this
    # thread's loop runs millions of times a second.
    assert iterations > 10_000, iterations


def test_concurrent_calls_from_python_threads():
    results = {}

    def call(i):
        results[i] = ungil.sum_upto(10**6 + i, threads=2)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == {i: expected(10**6 + i) for i in range(6)}


def test_works_in_a_pool_task(make_pool):
    pool = make_pool(2)
    futures = [pool.submit(ungil.sum_upto, 10**5 * i) for i in range(1, 5)]
    assert [f.result(60) for f in futures] == [
        expected(10**5 * i) for i in range(1, 5)]


def test_after_fork(child):
    # The compute pool of a parent is not inherited by a forked child: the
    # child makes its own.
    # GCC 12's ASan does not hold its allocator's locks across fork(): a
    # parent worker still freeing its task's memory as fork() happens
    # leaves the child's allocator locked (glibc's malloc is fork-safe).
    # Under ASan the parent lets its workers settle first.
    result = child.run("""
import os, time, ungil
assert ungil.sum_upto(1000) == 500500
if os.environ.get("UNGIL_SANITIZER") == "asan":
    time.sleep(0.2)
pid = os.fork()
if pid == 0:
    os._exit(0 if ungil.sum_upto(10**6) == 500000500000 else 3)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status), ungil.sum_upto(2000))
""")
    assert result.returncode == 0, result
    assert result.stdout.split() == ["0", "2001000"], result
