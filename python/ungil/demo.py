"""python -m ungil.demo: the course's GIL demo, measured and drawn.

Runs the lecture's sum_upto loop in pure Python, split over two Python
threads (no faster: the GIL lets one run at a time), and in C with
ungil.sum_upto on one and two native threads; then runs tasks on a traced
ungil.Pool and saves their timelines ("starts at 0, takes 0.5 s") as SVG and
Chrome trace JSON.  Everything stays on this machine.
"""

import argparse
import os
import threading
import time
from pathlib import Path

import ungil


def sum_upto_python(first, last):
    """The course's loop: output += i for i in first..last."""
    output = 0
    for i in range(first, last + 1):
        output += i
    return output


def in_python_threads(n, threads):
    """Splits the loop over Python threads, as the lecture's slide does."""
    parts = [0] * threads
    bounds = [n * k // threads for k in range(threads + 1)]

    def work(k):
        parts[k] = sum_upto_python(bounds[k] + 1, bounds[k + 1])

    pool = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(parts)


def timed(fn, *args):
    start = time.perf_counter()
    value = fn(*args)
    return value, time.perf_counter() - start


def gil_table(n_python, n_native):
    """Rows of (how, n, seconds, ns per number), all checked for exactness."""
    rows = []
    for how, fn, args, n in [
        ("Python loop, 1 thread", sum_upto_python, (1, n_python), n_python),
        ("Python loop, 2 threads", in_python_threads, (n_python, 2), n_python),
        ("ungil.sum_upto, 1 thread", ungil.sum_upto, (n_native, 1), n_native),
        ("ungil.sum_upto, 2 threads", ungil.sum_upto, (n_native, 2), n_native),
    ]:
        value, seconds = timed(fn, *args)
        if value != n * (n + 1) // 2:
            raise AssertionError(f"{how} gave a wrong sum for n={n}")
        rows.append((how, n, seconds, seconds / n * 1e9))
    return rows


def traced_timelines(out):
    """Saves two timelines of a traced 2-worker pool: waiting tasks overlap,
    and two native loops run side by side."""
    paths = []
    with ungil.Pool(2, trace=True) as pool:
        list(pool.map(time.sleep, [0.5, 0.5, 0.5, 0.5]))
    for ext in ("svg", "json"):
        path = out / f"timeline-sleep.{ext}"
        pool.trace.save(path, title="4 x time.sleep(0.5) on ungil.Pool(2)")
        paths.append(path)
    with ungil.Pool(2, trace=True) as pool:
        list(pool.map(ungil.sum_upto, [300_000_000] * 4))
    path = out / "timeline-sum_upto.svg"
    pool.trace.save(path, title="4 x ungil.sum_upto(3e8) on ungil.Pool(2)")
    paths.append(path)
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m ungil.demo",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="ungil-demo", type=Path,
                        help="directory for the timelines (default: %(default)s)")
    parser.add_argument("--n-python", type=int, default=10_000_000,
                        help="n for the Python loops (default: %(default)s)")
    parser.add_argument("--n-native", type=int, default=1_000_000_000,
                        help="n for ungil.sum_upto (default: %(default)s)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    print(f"The GIL demo on {os.cpu_count()} cores: 1 + 2 + ... + n\n")
    print(f"{'how':28} {'n':>14} {'seconds':>9} {'ns/number':>10}")
    for how, n, seconds, ns in gil_table(args.n_python, args.n_native):
        print(f"{how:28} {n:>14,} {seconds:>9.3f} {ns:>10.2f}")
    print()
    for path in traced_timelines(args.out):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
