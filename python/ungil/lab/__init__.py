"""ungil.lab: the course's experiments, measured and drawn.

    python -m ungil.lab [--report DIR] [options]

or from Python:

    from ungil import lab
    experiments = lab.run(["cpu"], lab.Options(n=5_000_000, repeat=5))
    print(experiments[0].table())
    lab.write_report(experiments, "lab-report")     # lab-report/report.html

The experiments (one module each): io_bound (downloading pictures),
cpu_bound (the GIL demo, sum_upto), mixed (get + FIND_EDGES + save),
thread_pool (the lab's queue of tasks).  They run against ungil.site, a
local website, never the internet.  timeline records Python threads
(running Python, waiting for the GIL, blocked in I/O) and turns ungil's
native traces into the same kind of picture; report writes one
self-contained HTML page.
"""

from .cpu_bound import run_cpu
from .io_bound import run_io
from .mixed import run_mixed
from .report import write_report
from .results import Experiment, Row
from .runner import EXPERIMENTS, Options, run
from .thread_pool import run_pool
from .timeline import Lane, Recorder, Timeline, draw_timeline, from_trace

__all__ = ["EXPERIMENTS", "Experiment", "Lane", "Options",
           "Recorder", "Row", "Timeline", "draw_timeline", "from_trace",
           "run", "run_cpu", "run_io", "run_mixed", "run_pool",
           "write_report"]
