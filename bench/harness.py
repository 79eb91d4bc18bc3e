"""Shared helpers of the benchmarks in bench/.

A benchmark is a list of groups; a group is a set of contenders measured on
the same work, one of which is the baseline.  Contenders of a group run
interleaved (A B C A B C ...) for ROUNDS rounds, because this machine's
clock swings by up to 2x between back-to-back runs; each contender is then
summed up by the median of its runs, with min and max.

A contender is a callable that does its work once and returns the seconds
it measured (setup such as starting a pool stays outside that time), or a
(seconds, extra) pair whose `extra` dict is kept per run.  Each contender
has an item count, so that contenders doing different amounts of work
(a slow peer gets fewer items) compare by items per second:

    ratio = contender items/s / baseline items/s      (> 1: faster)

Results go to bench/results/<name>.json and a bar chart <name>.svg.
"""

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"


def rounds(default):
    """BENCH_ROUNDS when set, else `default` (5 for most benchmarks; more
    for those whose ratios sit close to their targets on a noisy VM)."""
    return int(os.environ.get("BENCH_ROUNDS", default))


ROUNDS = rounds(5)


def build_dir():
    """The meson build directory: $UNGIL_BUILD, default <repo>/build."""
    return Path(os.environ.get("UNGIL_BUILD", ROOT / "build"))


def import_ungil():
    """Imports ungil, from the build directory if it is not on sys.path."""
    try:
        import ungil
    except ImportError:
        sys.path.insert(0, str(build_dir() / "python"))
        import ungil
    return ungil


def timed(fn, *args):
    """Runs fn(*args) once; returns (seconds, its result)."""
    t0 = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - t0, result


# ---- machine facts -----------------------------------------------------

def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit():
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def cpu_pressure():
    """Linux PSI: % of time some task waited for a CPU (avg10, avg60)."""
    try:
        with open("/proc/pressure/cpu") as f:
            some = f.readline().split()
    except OSError:
        return None
    vals = dict(kv.split("=") for kv in some[1:])
    return {"avg10": float(vals["avg10"]), "avg60": float(vals["avg60"])}


def machine():
    """Facts about where the numbers come from."""
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {
        "nproc": os.cpu_count(),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.datetime.now(datetime.timezone.utc)
                .isoformat(timespec="seconds"),
        "git_commit": _git_commit(),
        "loadavg_at_start": load,
        "cpu_pressure_at_start": cpu_pressure(),
    }


def cores_label(facts=None):
    n = (facts or {}).get("nproc") or os.cpu_count()
    return f"{n}-core machine"


# ---- running -----------------------------------------------------------

class Contender:
    def __init__(self, name, fn, items, unit="items"):
        self.name, self.fn, self.items, self.unit = name, fn, items, unit


def run_group(title, contenders, baseline, rounds=None, note=None):
    """Runs the contenders interleaved; returns the group's result dict."""
    rounds = rounds or ROUNDS
    runs = {c.name: [] for c in contenders}
    extras = {c.name: [] for c in contenders}
    for r in range(rounds):
        for c in contenders:
            out = c.fn()
            seconds, extra = out if isinstance(out, tuple) else (out, None)
            runs[c.name].append(seconds)
            if extra is not None:
                extras[c.name].append(extra)
            print(f"  [{title}] round {r + 1}/{rounds} {c.name}: "
                  f"{seconds:.4f} s", file=sys.stderr, flush=True)
    rows = []
    for c in contenders:
        s = runs[c.name]
        med = statistics.median(s)
        row = {"name": c.name, "items": c.items, "unit": c.unit,
               "seconds": s, "median": med, "min": min(s), "max": max(s),
               "per_second": c.items / med if med > 0 else None,
               "ns_per_item": med / c.items * 1e9}
        if extras[c.name]:
            row["extra"] = extras[c.name]
        rows.append(row)
    base = next(r for r in rows if r["name"] == baseline)
    for row in rows:
        row["ratio"] = (row["per_second"] / base["per_second"]
                        if row["per_second"] and base["per_second"] else None)
    group = {"title": title, "baseline": baseline, "rounds": rounds,
             "contenders": rows}
    if note:
        group["note"] = note
    return group


def find(group, name):
    return next(r for r in group["contenders"] if r["name"] == name)


def round_rate(row, i):
    """Items per second of `row` in round i."""
    return row["items"] / row["seconds"][i]


def paired_median(a, b, per_round=round_rate):
    """The median over rounds of per_round(a, i) / per_round(b, i), for
    rows a and b of one group.  run_group runs a round's contenders one
    right after the other, so a change of the machine's speed between
    rounds (on this VM, a fifth within minutes) moves both figures of a
    round together and cancels in their ratio, where the ratio of two
    medians can set a fast round of one against a slow round of the
    other."""
    return statistics.median(per_round(a, i) / per_round(b, i)
                             for i in range(len(a["seconds"])))


_OPS = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b,
        "<": lambda a, b: a < b}


def target(what, value, required, op=">="):
    """A requirement of the issue: value must be >= required (or, with
    op "<=" or "<", at most / below it: a time or a cost)."""
    t = {"what": what, "value": value, "required": required,
         "met": value is not None and _OPS[op](value, required)}
    if op != ">=":
        t["op"] = op
    return t


# ---- writing -----------------------------------------------------------

def write_results(name, title, groups, targets=(), notes=(), facts=None):
    """Writes results/<name>.json and results/<name>.svg; returns the dict."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    facts = dict(facts or machine())
    try:
        facts["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    facts["cpu_pressure_at_end"] = cpu_pressure()
    data = {"name": name, "title": title, "machine": facts,
            "groups": groups, "targets": list(targets), "notes": list(notes)}
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    chart(data, RESULTS_DIR / f"{name}.svg")
    print(f"wrote {path} and {name}.svg", file=sys.stderr)
    for t in data["targets"]:
        print(f"  target {t['what']}: {t['value']:.3g} "
              f"(required {t.get('op', '>=')} {t['required']}) "
              f"{'met' if t['met'] else 'NOT met'}", file=sys.stderr)
    return data


def fmt_rate(r):
    """3.05 M/s, 45.1 k/s, ..."""
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if r >= div:
            return f"{r / div:.3g} {suffix}/s"
    return f"{r:.3g}/s"


def chart(data, path):
    """One horizontal bar panel per group: median items/s, min-max whiskers;
    and for a group whose rows carry client CPU time (cpu_us_per_item), a
    second panel with the median CPU microseconds per item."""
    import matplotlib
    matplotlib.use("Agg")
    matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text
    matplotlib.rcParams["svg.hashsalt"] = "ungil"  # stable ids
    import matplotlib.pyplot as plt

    groups = data["groups"]
    panels = []
    for g in groups:
        panels.append((_rate_panel, g))
        if any("cpu_us_per_item" in r for r in g["contenders"]):
            panels.append((_cpu_panel, g))
    heights = [0.6 + 0.45 * len(g["contenders"]) for _, g in panels]
    fig, axes = plt.subplots(len(panels), 1, squeeze=False,
                             figsize=(9, 1.2 + sum(heights)),
                             gridspec_kw={"height_ratios": heights})
    for ax, (draw, g) in zip(axes[:, 0], panels):
        draw(ax, g)
    fig.suptitle(f"{data['title']} - {cores_label(data['machine'])}, "
                 f"{data['machine']['cpu']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, format=Path(path).suffix.lstrip(".") or "svg",
                metadata={"Date": None} if str(path).endswith(".svg") else None)
    plt.close(fig)


def _is_ours(row):
    return row["name"].startswith(("ungil", "ug_"))


def _cpu_panel(ax, g):
    """Median client CPU microseconds per item, min-max whiskers."""
    rows = [r for r in g["contenders"] if "cpu_us_per_item" in r][::-1]
    med = [r["cpu_us_per_item"] for r in rows]
    lo = [m - r["cpu_min"] / r["items"] * 1e6 for m, r in zip(med, rows)]
    hi = [r["cpu_max"] / r["items"] * 1e6 - m for m, r in zip(med, rows)]
    colors = ["tab:orange" if _is_ours(r) else "tab:gray" for r in rows]
    y = range(len(rows))
    ax.barh(y, med, xerr=[lo, hi], color=colors, capsize=3)
    ax.set_yticks(list(y), [r["name"] for r in rows], fontsize=8)
    unit = rows[0]["unit"].rstrip("s")
    ax.set_xlabel(f"client CPU µs per {unit} (median of {g['rounds']}, "
                  "whiskers min-max; less is better)", fontsize=8)
    if max(med) / min(med) > 30:
        ax.set_xscale("log")
    for yi, (m, h) in enumerate(zip(med, hi)):
        ax.text(m + h, yi, f"  {m:,.0f} µs", va="center", fontsize=7)
    ax.set_title(textwrap.fill(f"{g['title']}: client CPU", 110),
                 fontsize=9)
    ax.margins(x=0.35)


def _rate_panel(ax, g):
    """Median items per second, min-max whiskers, ratio labels."""
    rows = g["contenders"][::-1]
    med = [r["per_second"] for r in rows]
    lo = [m - r["items"] / r["max"] for m, r in zip(med, rows)]
    hi = [r["items"] / r["min"] - m for m, r in zip(med, rows)]
    colors = ["tab:orange" if _is_ours(r) else "tab:gray" for r in rows]
    y = range(len(rows))
    ax.barh(y, med, xerr=[lo, hi], color=colors, capsize=3)
    ax.set_yticks(list(y), [r["name"] for r in rows], fontsize=8)
    unit = rows[0]["unit"]
    ax.set_xlabel(f"{unit} per second (median of {g['rounds']}, "
                  "whiskers min-max)", fontsize=8)
    if max(med) / min(med) > 30:
        ax.set_xscale("log")
    for yi, (m, h, r) in enumerate(zip(med, hi, rows)):
        label = f"  {fmt_rate(m)}"
        if r["ratio"] is not None:
            label += f"  ({r['ratio']:.3g}x)"
        ax.text(m + h, yi, label, va="center", fontsize=7)
    ax.set_title(textwrap.fill(f"{g['title']} (ratio vs {g['baseline']})",
                               110), fontsize=9)
    ax.margins(x=0.35)
