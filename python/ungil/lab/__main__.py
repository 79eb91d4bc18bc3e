"""python -m ungil.lab: run the course's experiments and print their tables.

With --report DIR, also writes DIR/report.html (charts and timelines, one
self-contained page).  See docs/lab.md.
"""

import argparse
import os
import sys
import time

from .report import write_report
from .runner import EXPERIMENTS, Options, run


def parser():
    """The command line of the lab."""
    d = Options()
    p = argparse.ArgumentParser(
        prog="python -m ungil.lab",
        description="The course's experiments, measured on this machine "
                    "against a local site: I/O-bound downloads, the "
                    "CPU-bound GIL demo, mixed work and thread pools, in "
                    "Python threads, processes and ungil.")
    p.add_argument("experiments", nargs="*", metavar="EXPERIMENT",
                   help=f"which to run: {', '.join(EXPERIMENTS)} "
                        f"(default: all)")
    p.add_argument("--report", metavar="DIR",
                   help="write DIR/report.html with charts and timelines")
    p.add_argument("-n", "--pictures", type=int, default=d.pictures,
                   help="pictures downloaded in experiment 1 "
                        "(default: %(default)s)")
    p.add_argument("--mixed-pictures", type=int, default=d.mixed_pictures,
                   help="pictures filtered in experiment 3 "
                        "(default: %(default)s)")
    p.add_argument("--latency", type=float, default=d.latency,
                   help="seconds the site waits before each response "
                        "(default: %(default)s)")
    p.add_argument("--processes", type=int, default=d.processes,
                   help="multiprocessing.Pool size in experiment 1 "
                        "(default: %(default)s)")
    p.add_argument("--sum-n", dest="n", type=int, default=d.n,
                   help="n of sum_upto in Python (default: %(default)s)")
    p.add_argument("--sum-n-native", dest="n_native", type=int,
                   default=d.n_native,
                   help="n of ungil.sum_upto (default: %(default)s)")
    p.add_argument("--threads", type=int, default=d.threads,
                   help="threads and processes of experiment 2 "
                        "(default: %(default)s)")
    p.add_argument("--pipeline-threads", type=int, default=None,
                   help="native threads of ungil.download_pictures "
                        "(default: its own)")
    p.add_argument("--tasks", type=int, default=d.tasks,
                   help="tiny tasks in experiment 4 (default: %(default)s)")
    p.add_argument("--native-tasks", type=int, default=d.native_tasks,
                   help="native tasks in experiment 4 (default: %(default)s)")
    p.add_argument("--native-n", type=int, default=d.native_n,
                   help="n of each native task (default: %(default)s)")
    p.add_argument("--workers", type=int, default=d.workers,
                   help="pool size in experiment 4 (default: %(default)s)")
    p.add_argument("--repeat", type=int, default=d.repeat,
                   help="runs per contender, interleaved; the median is "
                        "shown (default: %(default)s)")
    p.add_argument("--no-timelines", dest="timelines", action="store_false",
                   help="skip the instrumented runs that draw timelines")
    p.add_argument("--mp-start", choices=["fork", "forkserver", "spawn"],
                   help="multiprocessing start method (default: forkserver "
                        "where available)")
    return p


def options_from(args):
    """An Options from parsed arguments."""
    return Options(**{k: v for k, v in vars(args).items()
                      if k not in ("experiments", "report")})


def main(argv=None):
    """Entry point; returns the exit status."""
    args = parser().parse_args(argv)
    chosen = args.experiments or list(EXPERIMENTS)
    try:
        options = options_from(args)
        options.validate()
        if set(chosen) - set(EXPERIMENTS):
            raise ValueError(f"unknown experiment(s) "
                             f"{sorted(set(chosen) - set(EXPERIMENTS))}; "
                             f"choose from {', '.join(EXPERIMENTS)}")
    except ValueError as exc:
        parser().error(str(exc))
    print(f"ungil lab on {os.cpu_count()} cores; medians of {options.repeat} "
          f"interleaved runs\n", flush=True)
    start = time.perf_counter()
    experiments = run(chosen, options, progress=lambda key: print(
        f"running {key} ...", file=sys.stderr, flush=True))
    for experiment in experiments:
        print(experiment.table())
        for note in experiment.notes:
            print(f"  {note}")
        print()
    if args.report:
        path = write_report(experiments, args.report)
        print(f"report: {path}")
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
