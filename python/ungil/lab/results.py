"""What an experiment of the lab gives back: rows of measurements, the
timelines drawn from its instrumented runs, and the plain-text table.

Every contender of an experiment is a function that does its own set-up and
returns the seconds of the part that is measured.  `measure` runs the
contenders interleaved (A B C, A B C, ...) on this noisy machine and keeps
the median with the minimum and maximum, so that a burst of load from
elsewhere hits every contender alike.
"""

import math
import statistics
from dataclasses import dataclass, field

__all__ = ["Experiment", "Row", "format_table", "measure"]


@dataclass
class Row:
    """One contender: `how` it ran, the median `seconds` of its runs (None
    until measured), `items` handled per run in `unit`s.  `details` holds named figures that explain the
    time (seconds or counts), `note` a short remark for the table.
    `baseline`: the `how` of the row this one's speed-up refers to, when
    not the experiment's baseline."""

    how: str
    items: int
    unit: str
    seconds: float | None = None
    low: float | None = None
    high: float | None = None
    runs: int = 0
    note: str = ""
    details: dict = field(default_factory=dict)
    baseline: str | None = None

    @property
    def ok(self):
        """True when the row has a measurement."""
        return self.seconds is not None

    @property
    def rate(self):
        """Items per second (median), or None before it is measured."""
        if not self.ok or self.seconds <= 0:
            return None
        return self.items / self.seconds


@dataclass
class Experiment:
    """The outcome of one experiment: its `key` ("io", "cpu", "mixed",
    "pool"), a `title`, what it shows (`description`), its rows, the `how`
    of the row that ratios refer to, timelines (ungil.lab.timeline.Timeline
    objects) and notes for the report."""

    key: str
    title: str
    description: str
    rows: list
    baseline: str
    timelines: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    parameters: dict = field(default_factory=dict)

    def row(self, how):
        """The row whose `how` is `how` (KeyError if none)."""
        for row in self.rows:
            if row.how == how:
                return row
        raise KeyError(how)

    def speedup(self, row):
        """Rate of `row` / rate of its baseline row (None if either is not
        measured)."""
        base = self.row(row.baseline or self.baseline)
        if not row.ok or not base.ok or row.rate is None or not base.rate:
            return None
        return row.rate / base.rate

    def table(self):
        """The rows as a plain-text table."""
        return format_table(self)


def measure(contenders, repeat):
    """Runs every contender `repeat` times, interleaved, and returns
    {name: (median, min, max, runs)}.

    contenders: a list of (name, fn), fn() -> measured seconds.
    """
    times = {name: [] for name, _ in contenders}
    for _ in range(max(1, repeat)):
        for name, fn in contenders:
            seconds = fn()
            if not (isinstance(seconds, float) and math.isfinite(seconds)
                    and seconds >= 0):
                raise ValueError(f"{name} measured {seconds!r} seconds")
            times[name].append(seconds)
    return {name: (statistics.median(values), min(values), max(values),
                   len(values)) for name, values in times.items()}


def fill(row, measured):
    """Copies a result of `measure` into `row` and returns it."""
    row.seconds, row.low, row.high, row.runs = measured
    return row


def format_seconds(seconds):
    """A duration for a table: 1.23 s, 45.6 ms, 789 µs."""
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def format_rate(rate, unit):
    """A rate for a table: 1.2 M numbers/s."""
    for factor, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if rate >= factor:
            return f"{rate / factor:.3g} {prefix} {unit}/s"
    return f"{rate:.3g} {unit}/s"


def table_cells(experiment):
    """The table as header + rows of strings (shared by the text and HTML
    renderings)."""
    own = any(row.baseline for row in experiment.rows)
    header = ["how", "items", "median", "min .. max", "rate",
              "speed-up" if own else f"vs {experiment.baseline}", "note"]
    rows = []
    for row in experiment.rows:
        speedup = experiment.speedup(row)
        rows.append([
            row.how, f"{row.items:,}", format_seconds(row.seconds),
            f"{format_seconds(row.low)} .. {format_seconds(row.high)}",
            format_rate(row.rate, row.unit),
            "" if speedup is None else f"{speedup:.3g}x", row.note])
    return header, rows


def format_table(experiment):
    """Plain-text table of an experiment, with its title."""
    header, rows = table_cells(experiment)
    widths = [max(len(r[i]) for r in [header] + rows)
              for i in range(len(header) - 1)]
    lines = [experiment.title, ""]
    for cells in [header] + rows:
        text = "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))
        lines.append((text + "  " + cells[-1]).rstrip())
    return "\n".join(lines)
