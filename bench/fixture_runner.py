"""Serves tests/python/fixture_server.py in a process of its own until killed.

    python3 bench/fixture_runner.py [--latency SECONDS]

Prints the server's origin ("http://127.0.0.1:PORT") on one line of stdout
once it listens, then serves until SIGTERM, SIGINT or end of stdin.  The
benchmarks run the server this way so that it does not share the GIL (and
the core) with the client being measured: in one process, the server's
event loop waits for the GIL whenever a Python client holds it.
"""

import argparse
import importlib.util
import signal
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_fixture_server():
    """Imports tests/python/fixture_server.py by path."""
    spec = importlib.util.spec_from_file_location(
        "fixture_server", ROOT / "tests/python/fixture_server.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=0.0,
                        help="seconds added before every response")
    args = parser.parse_args(argv)
    fixture_server = load_fixture_server()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    # End of stdin (the parent died) stops the server too.
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()),
                     daemon=True).start()
    srv = fixture_server.FixtureServer(latency=args.latency, lifetime=None,
                                       record=False)
    try:
        print(srv.origin, flush=True)
        while not stop.wait(1.0):
            pass
    finally:
        srv.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
