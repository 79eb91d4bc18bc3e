"""Ctrl-C: one KeyboardInterrupt during result(), map, shutdown(wait=True)
or sum_upto returns control within half a second, cancels what has not
started, and never hangs the interpreter at exit.

Each case runs in a child interpreter.  SIGINT comes either from a timer
thread inside the child or from this process (os.kill after the child
prints "ready"), and the child measures on time.monotonic (one clock for
every process on Linux) how long the KeyboardInterrupt took, then reports
as JSON.  The tasks sleep for TASK_SLEEP seconds, so a child that waited
for them anywhere (in the interrupted call or at exit) would take that long;
the whole child must finish in well under that.
"""

import json
import signal
import time

import pytest

TASK_SLEEP = 10.0      # what an interrupted task would keep running for
PROMPT = 0.5           # the bound for returning control
CHILD_WALL = 5.0       # a whole child, startup included: << TASK_SLEEP

PRELUDE = f"""
import json, os, signal, sys, threading, time
import ungil

TASK_SLEEP = {TASK_SLEEP}
lock = threading.Lock()
started = []

def sleeper(i):
    with lock:
        started.append(i)
    time.sleep(TASK_SLEEP)
    return i

def wait_started(count):
    deadline = time.monotonic() + 30
    while len(started) < count:
        if time.monotonic() > deadline:
            sys.exit("tasks never started")
        time.sleep(0.005)

sent = []

def interrupt_after(delay):
    # Ctrl-C from a timer thread: SIGINT to the whole process, which Linux
    # hands to the main thread.
    def run():
        time.sleep(delay)
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)
    threading.Thread(target=run, daemon=True).start()

def report(**values):
    print(json.dumps(values), flush=True)
"""


def reports(result):
    """The JSON lines a child printed, merged into one dict."""
    merged = {}
    for line in result.stdout.splitlines():
        if line.startswith("{"):
            merged.update(json.loads(line))
    return merged


def check_child(result):
    assert result.returncode == 0, result
    assert "Traceback" not in result.stderr, result
    assert result.elapsed < CHILD_WALL, (
        f"the child took {result.elapsed:.2f} s: something waited for the "
        f"interrupted tasks ({TASK_SLEEP} s); {result}")
    return reports(result)


# Each body leaves `futures` (or None), runs the interrupted call in a try
# whose `except KeyboardInterrupt` records `caught`, and never shuts down.
CASES = {
    "result": """
pool = ungil.Pool(2)
futures = [pool.submit(sleeper, i) for i in range(8)]
wait_started(2)
interrupt_after(0.2)
try:
    futures[0].result()
except KeyboardInterrupt:
    caught = time.monotonic()
else:
    sys.exit("result() returned")
""",
    "map": """
pool = ungil.Pool(2)
futures = None
results = pool.map(sleeper, range(8))
wait_started(2)
interrupt_after(0.2)
try:
    for value in results:
        sys.exit("map yielded")
except KeyboardInterrupt:
    caught = time.monotonic()
else:
    sys.exit("map ended")
try:
    next(results)
except StopIteration:
    pass
else:
    sys.exit("map yielded after the interrupt")
""",
    "map_buffersize": """
pool = ungil.Pool(2)
futures = None
results = pool.map(sleeper, range(8), buffersize=4)
wait_started(2)
interrupt_after(0.2)
try:
    next(results)
except KeyboardInterrupt:
    caught = time.monotonic()
else:
    sys.exit("map yielded")
""",
    "shutdown": """
pool = ungil.Pool(2)
futures = [pool.submit(sleeper, i) for i in range(8)]
wait_started(2)
interrupt_after(0.2)
try:
    pool.shutdown(wait=True)
except KeyboardInterrupt:
    caught = time.monotonic()
else:
    sys.exit("shutdown() returned")
""",
}

AFTER = """
latency = caught - sent[0]
cancelled = None if futures is None else sum(f.cancelled() for f in futures)
running = None if futures is None else sum(f.running() for f in futures)
report(latency=latency, started=len(started), cancelled=cancelled,
       running=running, queued=pool.stats()["queued"])
time.sleep(0.3)  # nothing that was cancelled starts later
report(started_later=len(started))
"""


@pytest.mark.parametrize("case", sorted(CASES))
def test_ctrl_c_is_prompt_and_cancels_pending(child, case):
    result = child.run(PRELUDE + CASES[case] + AFTER)
    data = check_child(result)
    assert data["latency"] < PROMPT, data
    assert data["started"] == 2 and data["started_later"] == 2, data
    assert data["queued"] == 0, data
    if data["cancelled"] is not None:
        assert data["cancelled"] == 6, data
        assert data["running"] == 2, data


def test_ctrl_c_from_outside_during_result(child):
    # Like a terminal's Ctrl-C: SIGINT from another process.
    proc, start = child.start(PRELUDE + """
pool = ungil.Pool(2)
futures = [pool.submit(sleeper, i) for i in range(6)]
wait_started(2)
print("ready", flush=True)
try:
    futures[-1].result()
except KeyboardInterrupt:
    caught = time.monotonic()
report(caught=caught, cancelled=sum(f.cancelled() for f in futures))
""")
    with proc:
        child.wait_for_line(proc, "ready")
        time.sleep(0.1)  # into result()
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        result = child.finish(proc, child.timeout, start)
    data = check_child(result)
    assert data["caught"] - sent < PROMPT, data
    assert data["cancelled"] == 4, data


def test_ctrl_c_during_sum_upto(child):
    result = child.run(PRELUDE + """
go = threading.Event()
def run():
    go.wait()
    time.sleep(0.3)
    sent.append(time.monotonic())
    os.kill(os.getpid(), signal.SIGINT)
threading.Thread(target=run, daemon=True).start()
try:
    go.set()
    ungil.sum_upto(2**64 - 1)
except KeyboardInterrupt:
    caught = time.monotonic()
else:
    sys.exit("sum_upto returned")
report(latency=caught - sent[0])
# The native loop has stopped: the module works on.
report(after=ungil.sum_upto(1000))
""")
    data = check_child(result)
    assert data["latency"] < PROMPT, data
    assert data["after"] == 500500, data


def test_ctrl_c_during_sum_upto_more_threads_than_cpus(child):
    result = child.run(PRELUDE + """
go = threading.Event()
def run():
    go.wait()
    time.sleep(0.3)
    sent.append(time.monotonic())
    os.kill(os.getpid(), signal.SIGINT)
threading.Thread(target=run, daemon=True).start()
try:
    go.set()
    ungil.sum_upto(2**64 - 1, threads=8)
except KeyboardInterrupt:
    caught = time.monotonic()
else:
    sys.exit("sum_upto returned")
report(latency=caught - sent[0])
""")
    data = check_child(result)
    assert data["latency"] < PROMPT, data


UNCAUGHT = """
pool = ungil.Pool(2)
futures = [pool.submit(sleeper, i) for i in range({tasks})]
wait_started(2)
interrupt_after(0.2)
{body}
sys.exit("not interrupted")
"""


def check_uncaught(result):
    # Python ends an uncaught KeyboardInterrupt by dying of SIGINT.
    assert result.returncode in (-signal.SIGINT, 128 + signal.SIGINT), result
    assert result.stderr.rstrip().endswith("KeyboardInterrupt"), result
    assert result.elapsed < CHILD_WALL, (
        f"exit took {result.elapsed:.2f} s: it waited for the running "
        f"tasks ({TASK_SLEEP} s each); {result}")


@pytest.mark.parametrize("body", [
    "futures[0].result()",
    "list(pool.map(sleeper, range(100, 106)))",
    "pool.shutdown()",
])
def test_uncaught_ctrl_c_in_pool_call_exits_without_shutdown(child, body):
    # The KeyboardInterrupt ends the program: no shutdown(), no cleanup.
    check_uncaught(child.run(PRELUDE + UNCAUGHT.format(tasks=6, body=body)))


@pytest.mark.parametrize("body", [
    "ungil.sum_upto(2**64 - 1)",
    "time.sleep(60)",
])
def test_uncaught_ctrl_c_elsewhere_exits_without_waiting_for_pool(child, body):
    # Ctrl-C ends the program while it does something else than wait for
    # the pool, whose two tasks are still running: the interpreter must not
    # then sit at exit until they finish.
    check_uncaught(child.run(PRELUDE + UNCAUGHT.format(tasks=2, body=body)))


def test_ctrl_c_while_exit_waits_for_a_pool(child):
    # A pool left open: at exit the interpreter waits for its work, and a
    # Ctrl-C there stops the wait instead of hanging.
    proc, start = child.start(PRELUDE + """
pool = ungil.Pool(2)
futures = [pool.submit(sleeper, i) for i in range(6)]
wait_started(2)
print("ready", flush=True)
""")
    with proc:
        child.wait_for_line(proc, "ready")
        time.sleep(0.3)  # the main script has ended: exit is waiting
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        result = child.finish(proc, child.timeout, start)
        exited = time.monotonic()
    assert exited - sent < 2.0, result
    assert result.elapsed < CHILD_WALL, result
    assert "Fatal Python error" not in result.stderr, result
