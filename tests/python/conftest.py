"""Shared fixtures of the Python test suite.

Run it against a meson build directory:

    meson setup /tmp/bq -Dtests=false && ninja -C /tmp/bq
    UNGIL_BUILD=/tmp/bq PYTHONPATH=/tmp/bq/python python3 -m pytest tests/python

Everything that involves signals or interpreter exit runs in a child
interpreter (``run_python`` / ``start_python``) with the environment of this
one, the directory ungil was imported from first on PYTHONPATH, and a
timeout.  A child that overstays its timeout gets SIGABRT first, so that
faulthandler prints where each of its threads was stuck, and the test fails
with that output.
"""

import os
import pathlib
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import ungil

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]

# Generous: a child that needs this long is hung, not slow.
CHILD_TIMEOUT = 60.0


def child_env(extra=None):
    """The environment of a child interpreter: ours, with the directory
    that this process imported ungil from first on PYTHONPATH."""
    env = dict(os.environ)
    package_parent = str(pathlib.Path(ungil.__file__).resolve().parent.parent)
    paths = [package_parent]
    if env.get("PYTHONPATH"):
        paths += [p for p in env["PYTHONPATH"].split(os.pathsep)
                  if p and p != package_parent]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTHONSTARTUP", None)
    if extra:
        env.update(extra)
    return env


class ChildResult:
    """What a finished child left: returncode, stdout, stderr (str),
    elapsed (wall seconds from spawn to exit, measured by the parent)."""

    def __init__(self, returncode, stdout, stderr, elapsed):
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.elapsed = elapsed

    def __repr__(self):
        return (f"ChildResult(returncode={self.returncode}, "
                f"elapsed={self.elapsed:.3f}, stdout={self.stdout!r}, "
                f"stderr={self.stderr!r})")


def _python_argv(code):
    return [sys.executable, "-X", "faulthandler", "-c", textwrap.dedent(code)]


def finish(proc, timeout, started):
    """Waits for `proc` (a Popen with text pipes) at most `timeout` seconds
    and returns its ChildResult; on timeout dumps its threads (SIGABRT with
    faulthandler on), kills it and fails the test."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        try:
            out, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        pytest.fail(f"child still running after {timeout} s (hung); "
                    f"stdout:\n{out}\nstderr:\n{err}", pytrace=False)
    return ChildResult(proc.returncode, out, err, time.monotonic() - started)


def start_python(code, *, env=None):
    """Starts `code` in a child interpreter; returns (proc, start_time)."""
    started = time.monotonic()
    proc = subprocess.Popen(_python_argv(code), env=child_env(env),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            cwd=os.getcwd())
    return proc, started


def run_python(code, *, timeout=CHILD_TIMEOUT, env=None):
    """Runs `code` in a child interpreter and returns its ChildResult."""
    proc, started = start_python(code, env=env)
    with proc:
        return finish(proc, timeout, started)


def wait_for_line(proc, expected, timeout=CHILD_TIMEOUT):
    """Reads the child's stdout (unbuffered, through the raw descriptor)
    until a line equal to `expected` arrives; returns the lines read before
    it.  Fails the test if the child exits or `timeout` passes first."""
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    buf = b""
    while True:
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line.decode().strip() == expected:
                if buf:
                    pytest.fail(f"unexpected output after {expected!r}: "
                                f"{buf!r}", pytrace=False)
                return
        left = deadline - time.monotonic()
        if left <= 0:
            proc.kill()
            pytest.fail(f"child did not print {expected!r} within {timeout} s",
                        pytrace=False)
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                proc.wait()
                pytest.fail(f"child exited ({proc.returncode}) before printing "
                            f"{expected!r}; stdout: {buf!r}; stderr: "
                            f"{proc.stderr.read()!r}", pytrace=False)
            buf += chunk


class _Child:
    """The child-interpreter helpers, as one fixture (see run_python,
    start_python, wait_for_line and finish above)."""

    timeout = CHILD_TIMEOUT
    run = staticmethod(run_python)
    start = staticmethod(start_python)
    wait_for_line = staticmethod(wait_for_line)
    finish = staticmethod(finish)
    env = staticmethod(child_env)


@pytest.fixture(scope="session")
def child():
    """Runs Python code in child interpreters: child.run(code) ->
    ChildResult; child.start(code) -> (proc, start); child.wait_for_line(
    proc, "ready"); child.finish(proc, timeout, start) -> ChildResult."""
    return _Child


def poll_until(predicate, timeout=10.0, interval=0.005):
    """Calls predicate() until it returns true or `timeout` passes; returns
    its last value.  For conditions that another thread makes true soon
    (not a speed check: the timeout only bounds a failing test)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


@pytest.fixture(scope="session")
def wait_until():
    """wait_until(predicate, timeout=10) -> predicate's last value."""
    return poll_until


@pytest.fixture(scope="session")
def repo_root():
    return REPO_ROOT


@pytest.fixture(scope="session")
def ungil_cli():
    """Path of the built `ungil` command: $UNGIL_BUILD/src/cli/ungil."""
    build = os.environ.get("UNGIL_BUILD")
    if not build:
        pytest.fail("UNGIL_BUILD is not set: point it at the meson build "
                    "directory (the CLI is $UNGIL_BUILD/src/cli/ungil)",
                    pytrace=False)
    cli = pathlib.Path(build) / "src" / "cli" / "ungil"
    if not cli.is_file() or not os.access(cli, os.X_OK):
        pytest.fail(f"UNGIL_BUILD={build!r} has no executable {cli}: build it "
                    f"with `ninja -C {build}`", pytrace=False)
    return str(cli)


@pytest.fixture
def make_pool():
    """A factory of ungil.Pool objects that are shut down (pending work
    cancelled, then waited for) at the end of the test."""
    pools = []

    def make(*args, **kwargs):
        pool = ungil.Pool(*args, **kwargs)
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture
def pool(make_pool):
    """An ungil.Pool of 4 workers, shut down after the test."""
    return make_pool(4)


@pytest.fixture
def gate(make_pool):
    """A threading.Event that tasks can block on; always set at teardown,
    before the pools of make_pool are shut down (hence the dependency), so
    that a failing test never leaves workers blocked."""
    event = threading.Event()
    yield event
    event.set()
