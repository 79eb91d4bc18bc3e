"""Runs a chosen set of the lab's experiments against one local site.

`run` is what `python -m ungil.lab` and the demo call: it starts an
ungil.site.Site when an experiment downloads (or uses the one given),
runs the experiments in the course's order and returns their Experiment
objects.  The defaults finish in about a minute on 2 cores.
"""

from dataclasses import dataclass, fields

from ..site import Site
from .cpu_bound import run_cpu
from .io_bound import run_io
from .mixed import run_mixed
from .thread_pool import run_pool

__all__ = ["EXPERIMENTS", "Options", "run"]

EXPERIMENTS = ("io", "cpu", "mixed", "pool")


@dataclass
class Options:
    """Parameters of a lab run (see `python -m ungil.lab --help`)."""

    pictures: int = 24          # experiment 1: pictures downloaded
    mixed_pictures: int = 16    # experiment 3: pictures filtered
    latency: float = 0.1        # seconds the site adds to every response
    processes: int = 8          # experiment 1: multiprocessing.Pool size
    n: int = 10_000_000         # experiment 2: sum_upto(n) in Python
    n_native: int = 100_000_000  # experiment 2: n for ungil.sum_upto
    threads: int = 2            # experiment 2: threads and processes
    pipeline_threads: int | None = None  # experiment 3: ungil's threads
    tasks: int = 20_000         # experiment 4: tiny tasks
    native_tasks: int = 16      # experiment 4: native tasks
    native_n: int = 5_000_000   # experiment 4: n of each native task
    workers: int = 2            # experiment 4: pool size
    repeat: int = 3             # runs per contender (median kept)
    timelines: bool = True      # draw timelines from instrumented runs
    mp_start: str | None = None  # multiprocessing start method

    def validate(self):
        """Raises ValueError for a parameter out of range."""
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                if value < 0 or (value == 0 and f.name != "latency"):
                    raise ValueError(f"{f.name} must be positive, not {value}")


def run(experiments=EXPERIMENTS, options=None, site=None, progress=None):
    """Runs `experiments` (keys of EXPERIMENTS) with `options` (an Options)
    and returns their Experiment objects in the course's order.  `site`: a
    running ungil.site.Site to use (one is started and closed here when
    needed and not given).  progress(key): called before each experiment."""
    options = options or Options()
    options.validate()
    unknown = set(experiments) - set(EXPERIMENTS)
    if unknown:
        raise ValueError(f"unknown experiment(s): {', '.join(sorted(unknown))}"
                         f"; choose from {', '.join(EXPERIMENTS)}")
    chosen = [key for key in EXPERIMENTS if key in experiments]
    own_site = None
    if site is None and {"io", "mixed"} & set(chosen):
        own_site = site = Site(
            pictures=max(options.pictures, options.mixed_pictures),
            latency=options.latency)
    try:
        results = []
        for key in chosen:
            if progress:
                progress(key)
            results.append(_one(key, options, site))
        return results
    finally:
        if own_site is not None:
            own_site.close()


def _one(key, o, site):
    if key == "io":
        return run_io(site, n=o.pictures, repeat=o.repeat,
                      processes=o.processes, timelines=o.timelines,
                      mp_start=o.mp_start)
    if key == "cpu":
        return run_cpu(n=o.n, repeat=o.repeat, threads=o.threads,
                       processes=o.threads, n_native=o.n_native,
                       timelines=o.timelines, mp_start=o.mp_start)
    if key == "mixed":
        return run_mixed(site, n=o.mixed_pictures, repeat=o.repeat,
                         threads=o.pipeline_threads, timelines=o.timelines)
    return run_pool(tasks=o.tasks, native_tasks=o.native_tasks,
                    native_n=o.native_n, workers=o.workers, repeat=o.repeat,
                    timelines=o.timelines)
