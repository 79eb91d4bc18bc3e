"""Runs a command with its stderr on a pseudo-terminal, as a user at a
terminal would see it: the CLI tests use it to check the progress line,
which the `ungil` subcommands draw only when stderr is a terminal."""

import os
import pty
import select
import subprocess
import time


def run_on_pty(argv, timeout=60):
    """Runs argv (stdin and stdout on /dev/null, stderr on a new
    pseudo-terminal) until it exits or `timeout` seconds pass; returns
    (exit status, the bytes the terminal received).  A command still
    running at the end is killed."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=slave)
    finally:
        os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the last writer closed
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        status = proc.wait(timeout=5)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return status, out
