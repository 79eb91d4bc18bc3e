"""The lab's report: one self-contained HTML page.

Every chart and timeline is drawn with matplotlib and embedded as an SVG
data URI, and the style sheet is inline, so report.html can be mailed,
archived or opened offline: it refers to nothing outside itself.  Images
go in <img> elements rather than inline <svg> so that the ids inside
matplotlib's drawings can never clash between two of them.
"""

import base64
import datetime
import html
import io
import os
import platform
import sys
from pathlib import Path

import ungil

from .results import format_seconds, table_cells
from .timeline import draw_timeline

__all__ = ["chart", "machine", "write_report"]

_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto;
       max-width: 72em; padding: 0 1em; color: #1a202c; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { padding: 0.25em 0.6em; border-bottom: 1px solid #e2e8f0; }
th { text-align: left; background: #f7fafc; }
td.num { text-align: right; font-variant-numeric: tabular-nums;
         white-space: nowrap; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; }
figcaption { font-size: 0.85em; color: #4a5568; }
.meta { color: #4a5568; font-size: 0.9em; }
"""


def machine():
    """What the figures were measured on, as (label, value) pairs."""
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "unknown"
    cpu = platform.processor() or platform.machine()
    return [
        ("cores", str(os.cpu_count())),
        ("cpu", cpu),
        ("python", sys.version.split()[0]),
        ("ungil", f"{ungil.__version__} (C {ungil.C_VERSION})"),
        ("system", platform.platform()),
        ("load average", load),
        ("date", datetime.datetime.now(datetime.timezone.utc)
         .strftime("%Y-%m-%d %H:%M UTC")),
    ]


def chart(experiment, fmt="svg"):
    """A horizontal bar chart of the rows' median seconds with min..max
    whiskers (log scale when they span more than 30x).  Returns the image as bytes."""
    from matplotlib.figure import Figure

    rows = experiment.rows
    fig = Figure(figsize=(9, 0.9 + 0.42 * len(rows)), dpi=100)
    ax = fig.add_subplot()
    measured = [r.seconds for r in rows]
    for y, row in enumerate(rows):
        colour = "#38a169" if row.how.startswith("ungil") else "#2b6cb0"
        ax.barh(y, row.seconds, color=colour, height=0.6)
        ax.errorbar(row.seconds, y, xerr=[[row.seconds - row.low],
                                          [row.high - row.seconds]],
                    color="#1a202c", capsize=3, linewidth=0.8)
    log = max(measured) / max(min(measured), 1e-9) > 30
    if log:
        ax.set_xscale("log")
        left, right = min(measured) / 3, max(r.high for r in rows) * 4
    else:
        left, right = 0, max(r.high for r in rows) * 1.25
    ax.set_xlim(left, right)
    for y, row in enumerate(rows):
        x = row.high * 1.1 if log else row.high + right * 0.01
        ax.text(x, y, format_seconds(row.seconds), va="center", fontsize=8)
    ax.set_yticks(range(len(rows)), [r.how for r in rows], fontsize=8)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlabel("seconds (median of runs; whiskers: min .. max); "
                  "shorter is better")
    ax.set_title(experiment.title, fontsize=10, loc="left")
    ax.grid(axis="x", color="#dddddd", linewidth=0.5)
    ax.set_axisbelow(True)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format=fmt)
    return out.getvalue()


def _img(svg_bytes, alt):
    data = base64.b64encode(svg_bytes).decode("ascii")
    return (f'<img src="data:image/svg+xml;base64,{data}" '
            f'alt="{html.escape(alt)}">')


def _table(experiment):
    header, rows = table_cells(experiment)
    out = ["<table><thead><tr>"]
    out += [f"<th>{html.escape(h)}</th>" for h in header]
    out.append("</tr></thead><tbody>")
    for cells in rows:
        out.append("<tr>")
        for i, cell in enumerate(cells):
            cls = ' class="num"' if 1 <= i <= 5 else ""
            out.append(f"<td{cls}>{html.escape(cell)}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _section(experiment):
    parts = [f'<section id="{experiment.key}">',
             f"<h2>{html.escape(experiment.title)}</h2>",
             f"<p>{html.escape(experiment.description)}</p>",
             _table(experiment),
             f"<figure>{_img(chart(experiment), experiment.title)}</figure>"]
    for note in experiment.notes:
        parts.append(f'<p class="meta">{html.escape(note)}</p>')
    if experiment.timelines:
        parts.append("<h3>Timelines</h3>")
    for timeline in experiment.timelines:
        parts.append(f'<figure class="timeline">'
                     f"{_img(draw_timeline(timeline), timeline.title)}"
                     f"<figcaption>{html.escape(timeline.note)}"
                     f"</figcaption></figure>")
    params = ", ".join(f"{k}={v}" for k, v in experiment.parameters.items())
    parts.append(f'<p class="meta">Parameters: {html.escape(params)}</p>')
    parts.append("</section>")
    return "\n".join(parts)


def write_report(experiments, directory, title="ungil lab", intro=None,
                 extra_html=""):
    """Writes `directory`/report.html for `experiments` (Experiment
    objects) and returns its path.  `extra_html` is appended as is (the
    demo adds its own sections; it must be self-contained too).  The file
    is written under a temporary name and renamed when complete."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    meta = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td>"
                   f"</tr>" for k, v in machine())
    intro = intro or (
        "The course's demos, measured on this machine: downloading "
        "(waiting), summing (computing), both at once, and thread pools, "
        "each in Python threads, processes and ungil.  Timed figures are "
        "medians of interleaved runs; timelines come from separate, "
        "instrumented runs.")
    contents = "".join(f'<li><a href="#{e.key}">{html.escape(e.title)}'
                       f"</a></li>" for e in experiments)
    page = (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style>"
            f"</head><body><h1>{html.escape(title)}</h1>"
            f"<p>{html.escape(intro)}</p><table class=\"meta\">{meta}</table>"
            f"<ul>{contents}</ul>\n"
            + "\n".join(_section(e) for e in experiments)
            + extra_html + "\n</body></html>\n")
    path = directory / "report.html"
    part = directory / "report.html.part"
    part.write_text(page, encoding="utf-8")
    os.replace(part, path)
    return path
