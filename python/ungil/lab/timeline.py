"""Timelines of real runs, drawn like the course's pictures.

For Python threads, a Recorder measures when each thread ran Python code
and when it waited, in one of two ways:

- Ticks, for CPU-bound loops: the loop calls `lane.tick()` every few
  thousand iterations (a clock read and an append).  While a thread holds
  the GIL its ticks come every few microseconds; a gap longer than half the
  switch interval (sys.getswitchinterval(), 5 ms by default) means that it
  was not running: it waited for the GIL, or, on a loaded machine, for a
  core.  Two such threads draw the GIL's serialisation directly: their
  "running" bars alternate and never overlap.
- A profile hook, for threads that call into C (sockets, Pillow): the
  thread runs under sys.setprofile, whose hook sees every Python call and
  return and every call of a built-in ("c_call" / "c_return").  A built-in
  call that lasts long is drawn "blocked in I/O" when it is one that
  releases the GIL to wait (recv, connect, sleep, a lock, opening, reading,
  writing or stat-ing a file) and "in C code" otherwise (Pillow's decoder and filters; Pillow
  releases the GIL inside them too).  Outside such calls the hook fires
  every few microseconds while the thread runs Python code, so a long gap
  there is again a wait.  Known limits: the time to
  take the GIL back after a blocking call counts as part of that call; a
  Python loop that calls nothing for longer than the threshold would be
  drawn as waiting; and on a busy machine a short built-in (isinstance)
  during which the operating system took the core away is drawn as C code.  The hook slows Python code down (several times for
  call-heavy code such as requests), so timed figures always come from
  separate, uninstrumented runs.

A wait is drawn as "waiting for the GIL" while another recorded thread ran
Python code (or C code, which may hold the GIL), and as "stalled" while no
recorded thread ran at all: then every thread was waiting for a core (the
machine is busy with other processes) or an unrecorded thread, such as the
one starting the others, held the GIL.

ungil's own runs are drawn from its native trace (ungil.Trace): one lane
per native thread or transfer slot, one bar per task.
"""

import io
import sys
import threading
import time
from dataclasses import dataclass, field

__all__ = ["KINDS", "Lane", "Recorder", "Timeline", "draw_timeline",
           "from_trace"]

# Kind of a segment -> (legend text, colour).
KINDS = {
    "python": ("running Python (holds the GIL)", "#2b6cb0"),
    "gil": ("waiting for the GIL (another thread ran Python)", "#cbd5e0"),
    "stalled": ("waiting, no recorded thread running (no free core)",
                "#fed7d7"),
    "io": ("blocked in I/O (GIL released)", "#f6ad55"),
    "c": ("in C code (Pillow, ungil)", "#9f7aea"),
    "native": ("ungil work on a native thread (no GIL)", "#38a169"),
    "transfer": ("ungil transfer on its native loop (no GIL)", "#dd6b20"),
}

# Built-ins that wait for something outside the interpreter (the network,
# the disk, a lock, the clock) and release the GIL while they do.
BLOCKING = frozenset({
    "recv", "recv_into", "recvfrom", "send", "sendall", "sendto", "connect",
    "connect_ex", "accept", "close", "shutdown", "getaddrinfo",
    "gethostbyname", "sleep", "acquire", "select", "poll", "epoll", "read",
    "readinto", "write", "flush", "do_handshake", "wait", "open", "stat",
    "lstat", "fstat", "listdir", "scandir", "fsync",
})


@dataclass
class Lane:
    """One thread's row: `segments` are (kind, start, end) in seconds since
    the recorder's origin, in time order; `ticks` the raw tick times of a
    ticking lane."""

    name: str
    segments: list = field(default_factory=list)
    ticks: list = field(default_factory=list)

    def tick(self, _now=time.perf_counter):
        """Marks that this thread is running Python code now (for loops)."""
        self.ticks.append(_now())

    def seconds(self, kind):
        """Total seconds of segments of `kind`."""
        return sum(end - start for k, start, end in self.segments
                   if k == kind)


@dataclass
class Timeline:
    """A titled set of lanes, ready to draw (see draw_timeline); `trace` is
    the ungil.Trace it was made from, if any (it can save itself as SVG or
    Chrome trace JSON)."""

    title: str
    lanes: list
    note: str = ""
    trace: object = None

    @property
    def span(self):
        """Seconds from the first segment's start to the last's end."""
        starts = [s for lane in self.lanes for _, s, _ in lane.segments]
        ends = [e for lane in self.lanes for _, _, e in lane.segments]
        return (max(ends) - min(starts)) if starts else 0.0


class Recorder:
    """Records Python threads as lanes on one shared clock.

    rec = Recorder()
    lane = rec.lane("thread 1")          # ticking: call lane.tick() in loops
    target = rec.profiled("thread 2", fn) # profiled: run target in a thread
    ...
    timeline = rec.timeline("title")     # after the threads are joined

    gap: seconds without a sign of life that count as waiting (default:
    half the interpreter's switch interval).  min_call: shortest built-in
    call drawn on its own (shorter ones count as running Python).
    """

    def __init__(self, gap=None, min_call=2e-4):
        self.origin = time.perf_counter()
        self.gap = sys.getswitchinterval() / 2 if gap is None else gap
        self.min_call = min_call
        self._lanes = []
        self._ticking = []
        self._lock = threading.Lock()

    def lane(self, name):
        """A new ticking lane: the thread that owns it calls .tick() as its
        loop progresses (first tick when it starts, last when it ends)."""
        lane = Lane(name)
        with self._lock:
            self._lanes.append(lane)
            self._ticking.append(lane)
        return lane

    def profiled(self, name, fn):
        """Returns a callable that runs fn(*args, **kwargs) under this
        recorder's profile hook, drawing the calling thread as lane `name`;
        use it as a Thread's target or call it on a worker thread."""
        lane = Lane(name)
        with self._lock:
            self._lanes.append(lane)

        def run(*args, **kwargs):
            hook = _ProfileHook(lane, self.origin, self.gap, self.min_call)
            sys.setprofile(hook)
            try:
                return fn(*args, **kwargs)
            finally:
                sys.setprofile(None)
                hook.finish()

        return run

    def timeline(self, title, note=""):
        """The lanes recorded so far as a Timeline (ticking lanes are turned
        into segments here)."""
        with self._lock:
            for lane in self._ticking:
                lane.segments = _segments_from_ticks(
                    [t - self.origin for t in lane.ticks], self.gap)
            self._ticking = []
            lanes = list(self._lanes)
        _split_waits(lanes)
        return Timeline(title, lanes, note)


def _segments_from_ticks(ticks, gap):
    segments = []
    if not ticks:
        return segments
    start = prev = ticks[0]
    for t in ticks[1:]:
        if t - prev > gap:
            segments.append(("python", start, prev))
            segments.append(("gil", prev, t))
            start = t
        prev = t
    segments.append(("python", start, prev))
    return segments


def _merged(intervals):
    out = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return out


def _split_waits(lanes):
    """Splits each lane's "gil" segments into "gil" (another lane ran) and
    "stalled" (no lane ran) pieces."""
    running = [[(s, e) for k, s, e in lane.segments if k in ("python", "c")]
               for lane in lanes]
    for i, lane in enumerate(lanes):
        others = _merged([iv for j, ivs in enumerate(running) if j != i
                          for iv in ivs])
        segments = []
        for kind, start, end in lane.segments:
            if kind != "gil":
                segments.append((kind, start, end))
                continue
            t = start
            for o_start, o_end in others:
                if o_end <= t:
                    continue
                if o_start >= end:
                    break
                if o_start > t:
                    segments.append(("stalled", t, o_start))
                segments.append(("gil", max(t, o_start), min(end, o_end)))
                t = min(end, o_end)
            if t < end:
                segments.append(("stalled", t, end))
        lane.segments = segments


class _ProfileHook:
    """The sys.setprofile hook of one thread (see the module's comment)."""

    def __init__(self, lane, origin, gap, min_call):
        self.lane = lane
        self.origin = origin
        self.gap = gap
        self.min_call = min_call
        self.now = time.perf_counter
        self.run_start = self.last = self.now() - origin
        self.call = None  # (name, start) of the built-in being called

    def __call__(self, frame, event, arg):
        now = self.now() - self.origin
        segments = self.lane.segments
        if event == "c_call":
            if self.call is None and now - self.last > self.gap:
                self._waited(now)
            self.call = (getattr(arg, "__name__", "?"), now)
        elif event in ("c_return", "c_exception"):
            if self.call is not None:
                name, start = self.call
                self.call = None
                if now - start >= self.min_call:
                    if start > self.run_start:
                        segments.append(("python", self.run_start, start))
                    kind = "io" if name in BLOCKING else "c"
                    segments.append((kind, start, now))
                    self.run_start = now
        else:
            # Python code runs: a built-in that called back into Python is
            # not "in C" any more.
            self.call = None
            if now - self.last > self.gap:
                self._waited(now)
        self.last = now

    def _waited(self, now):
        if self.last > self.run_start:
            self.lane.segments.append(("python", self.run_start, self.last))
        self.lane.segments.append(("gil", self.last, now))
        self.run_start = now

    def finish(self):
        end = self.now() - self.origin
        if end > self.run_start:
            self.lane.segments.append(("python", self.run_start, end))


def from_trace(trace, title, note="", origin=None):
    """A Timeline of an ungil.Trace: one lane per native lane, one segment
    per event, of kind "transfer" for the downloader's transfers and
    "native" for everything else.  Times start at the first event unless
    `origin` (seconds on the trace's clock) is given."""
    events = trace.events()
    if origin is None:
        origin = min((e[3] for e in events), default=0.0)
    lanes = {}
    for index, name, label, start, end, _arg in events:
        lane = lanes.setdefault(index, Lane(name))
        kind = "transfer" if label == "transfer" else "native"
        lane.segments.append((kind, start - origin, end - origin))
    ordered = sorted(lanes.values(), key=lambda lane: _natural(lane.name))
    return Timeline(title, ordered, note, trace)


def _natural(name):
    head = name.rstrip("0123456789")
    tail = name[len(head):]
    return (head, int(tail) if tail else -1)


def draw_timeline(timeline, fmt="svg", width=9.0, max_lanes=24):
    """Draws `timeline` with matplotlib: one row per lane, bars coloured by
    kind, a legend of the kinds present, time in seconds.  Returns the image
    as bytes (fmt "svg" or "png").  At most `max_lanes` rows are drawn (the
    title says how many were left out)."""
    from matplotlib.figure import Figure

    lanes = timeline.lanes[:max_lanes]
    hidden = len(timeline.lanes) - len(lanes)
    used = {k for lane in lanes for k, _, _ in lane.segments}
    legend_rows = (len(used & set(KINDS)) + 1) // 2
    height = 1.2 + 0.32 * max(1, len(lanes)) + 0.18 * legend_rows
    fig = Figure(figsize=(width, height), dpi=100)
    ax = fig.add_subplot()
    for row, lane in enumerate(lanes):
        for kind in KINDS:
            bars = [(s, max(e - s, 1e-9)) for k, s, e in lane.segments
                    if k == kind]
            if bars:
                ax.broken_barh(bars, (row - 0.4, 0.8),
                               facecolors=KINDS[kind][1],
                               edgecolor="none")
    ax.set_yticks(range(len(lanes)), [lane.name for lane in lanes],
                  fontsize=8)
    ax.set_ylim(len(lanes) - 0.5, -0.5)
    span = max([e for lane in lanes for _, _, e in lane.segments],
               default=1.0)
    ax.set_xlim(0, span * 1.01 or 1.0)
    ax.set_xlabel("seconds")
    title = timeline.title
    if hidden:
        title += f" (first {len(lanes)} of {len(timeline.lanes)} lanes)"
    ax.set_title(title, fontsize=10, loc="left")
    ax.grid(axis="x", color="#cccccc", linewidth=0.5)
    ax.set_axisbelow(True)
    from matplotlib.patches import Patch
    handles = [Patch(color=KINDS[k][1], label=KINDS[k][0])
               for k in KINDS if k in used]
    bottom = (0.08 + 0.18 * legend_rows) / height
    if handles:
        fig.legend(handles=handles, loc="lower center", fontsize=7, ncol=2,
                   frameon=False)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    out = io.BytesIO()
    fig.savefig(out, format=fmt)
    return out.getvalue()
