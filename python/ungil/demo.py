"""python -m ungil.demo: the course's demos on a local site, measured and drawn.

Starts ungil's embedded website (photo-like pictures and linked pages,
with latency), runs the lab's experiments with short settings, downloads
and filters the pictures with ungil.download_pictures (FIND_EDGES), crawls
the site with ungil.crawl, and writes everything to one directory:

    report.html      the lab's tables, charts and timelines, and the steps below
    pictures/        the pictures, filtered by ungil's native pipeline
    graph.html       the site's link graph (interactive, offline)
    timelines/       every timeline as SVG; ungil's native traces also as
                     Chrome trace JSON (open in Perfetto)

Nothing leaves this machine.
"""

import argparse
import base64
import html
import io
import os
import sys
import time
from pathlib import Path

import ungil

from . import lab
from .lab.mixed import ungil_pictures
from .lab.timeline import draw_timeline
from .site import Site


class Step:
    """What one step of the demo did: its name, seconds, a one-line
    summary, an HTML section for the report and, for the lab step, its
    experiments."""

    def __init__(self, name):
        self.name = name
        self.seconds = 0.0
        self.summary = ""
        self.html = ""
        self.experiments = []


def _run_step(step, fn, *args):
    start = time.perf_counter()
    fn(step, *args)
    step.seconds = time.perf_counter() - start
    return step


def _slug(text):
    keep = "".join(c if c.isalnum() else "-" for c in text.lower())
    return "-".join(part for part in keep.split("-") if part)[:60]


def lab_step(step, site, options, out):
    """Runs the lab against `site` and saves its timelines as SVG files;
    those of ungil's runs also as its own trace files (SVG and JSON)."""
    experiments = lab.run(lab.EXPERIMENTS, options, site=site)
    folder = out / "timelines"
    folder.mkdir(exist_ok=True)
    for experiment in experiments:
        for timeline in experiment.timelines:
            name = f"{experiment.key}-{_slug(timeline.title)}"
            _write(folder / f"{name}.svg", draw_timeline(timeline))
            if timeline.trace is not None:
                for ext in ("svg", "json"):
                    timeline.trace.save(folder / f"{name}.trace.{ext}",
                                        title=timeline.title)
    step.experiments = experiments
    measured = [e.key for e in experiments]
    step.summary = f"experiments {', '.join(measured)}"


def pictures_step(step, site, out):
    """ungil.download_pictures with FIND_EDGES into out/pictures, traced."""
    dest = out / "pictures"
    trace = ungil.Trace()
    urls = site.picture_urls()
    results = ungil_pictures(urls, str(dest), trace=trace)
    folder = out / "timelines"
    folder.mkdir(exist_ok=True)
    for ext in ("svg", "json"):
        path = folder / f"pictures-trace.{ext}"
        trace.save(path, title=f"ungil.download_pictures: {len(urls)} "
                               f"pictures, FIND_EDGES")
    step.summary = f"{len(results)} pictures filtered into {dest}"
    step.html = _thumbnails(site, results)


def crawl_step(step, site, out):
    """ungil.crawl from the site's home page (HTML only, every page); the
    link graph to out/graph.html."""
    graph = ungil.crawl(site.url("/"), content_types=["text/html"],
                  max_pages=site.pages + 10)
    path = out / "graph.html"
    graph.save(path, title="ungil's local site: the link graph")
    fetched = sum(1 for node in graph.nodes if node.status == 200)
    step.summary = (f"{fetched} pages fetched, {len(graph.nodes)} URLs and "
                    f"{graph.edge_count} links in {path}")
    step.html = (f'<p>The link graph of the site: <a href="graph.html">'
                 f"graph.html</a> ({fetched} pages fetched, "
                 f"{len(graph.nodes)} URLs, {graph.edge_count} links).</p>")


def _write(path, data):
    part = path.with_name(path.name + ".part")
    part.write_bytes(data)
    os.replace(part, path)


def _thumbnails(site, results, count=4):
    from PIL import Image

    cells = []
    for r in sorted(results, key=lambda r: r.index)[:count]:
        row = []
        for label, source in (("original", io.BytesIO(site.picture(r.index))),
                              ("FIND_EDGES", r.path)):
            with Image.open(source) as image:
                image.thumbnail((200, 150))
                buf = io.BytesIO()
                image.convert("RGB").save(buf, "JPEG", quality=80)
            data = base64.b64encode(buf.getvalue()).decode("ascii")
            row.append(f'<figure><img src="data:image/jpeg;base64,{data}" '
                       f'alt="{label} {r.index}"><figcaption>{label} '
                       f"{r.index}</figcaption></figure>")
        cells.append('<div style="display:flex;gap:1em">' + "".join(row)
                     + "</div>")
    return "".join(cells)


def _steps_html(steps):
    rows = "".join(
        f"<tr><td>{html.escape(s.name)}</td>"
        f'<td class="num">{s.seconds:.2f} s</td>'
        f"<td>{html.escape(s.summary)}</td></tr>" for s in steps)
    parts = ['<section id="demo"><h2>The demo\'s steps</h2><table><thead>'
             "<tr><th>step</th><th>time</th><th>what</th>"
             f"</tr></thead><tbody>{rows}</tbody></table>"]
    for s in steps:
        if s.html:
            parts.append(f"<h3>{html.escape(s.name)}</h3>{s.html}")
    parts.append("</section>")
    return "\n".join(parts)


def parser():
    """The command line of the demo."""
    p = argparse.ArgumentParser(prog="python -m ungil.demo",
                                description=__doc__.splitlines()[0])
    p.add_argument("--out", default="ungil-demo", type=Path,
                   help="directory for everything (default: %(default)s)")
    p.add_argument("--pictures", type=int, default=16,
                   help="pictures on the site (default: %(default)s)")
    p.add_argument("--pages", type=int, default=60,
                   help="linked pages on the site (default: %(default)s)")
    p.add_argument("--latency", type=float, default=0.05,
                   help="seconds the site waits before each response "
                        "(default: %(default)s)")
    p.add_argument("--repeat", type=int, default=2,
                   help="runs per contender in the lab (default: %(default)s)")
    p.add_argument("--sum-n", type=int, default=5_000_000,
                   help="n of sum_upto in Python (default: %(default)s)")
    p.add_argument("--sum-n-native", type=int, default=100_000_000,
                   help="n of ungil.sum_upto (default: %(default)s)")
    p.add_argument("--tasks", type=int, default=10_000,
                   help="tiny tasks of the thread-pool experiment "
                        "(default: %(default)s)")
    return p


def main(argv=None):
    """Entry point; returns the exit status."""
    args = parser().parse_args(argv)
    if args.pictures < 1 or args.pages < 1 or args.latency < 0:
        parser().error("--pictures and --pages must be >= 1, --latency >= 0")
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    options = lab.Options(
        pictures=args.pictures, mixed_pictures=max(1, args.pictures // 2),
        latency=args.latency, processes=4, n=args.sum_n,
        n_native=args.sum_n_native, tasks=args.tasks,
        native_tasks=8, repeat=args.repeat)
    started = time.perf_counter()
    print(f"ungil demo on {os.cpu_count()} cores: a local site with "
          f"{args.pictures} pictures and {args.pages} pages, "
          f"{args.latency * 1000:.0f} ms latency\n", flush=True)
    with Site(pictures=args.pictures, pages=args.pages,
              latency=args.latency) as site:
        steps = []
        for name, fn, extra in (
                ("lab: the course's experiments", lab_step, (options,)),
                ("ungil.download_pictures + FIND_EDGES", pictures_step, ()),
                ("ungil.crawl of the site", crawl_step, ())):
            print(f"{name} ...", file=sys.stderr, flush=True)
            steps.append(_run_step(Step(name), fn, site, *extra, out))
    experiments = steps[0].experiments
    report = lab.write_report(
        experiments, out, title="ungil demo",
        extra_html=_steps_html(steps))

    for experiment in experiments:
        print(_short_table(experiment))
        print()
    width = max(len(s.name) for s in steps)
    for s in steps:
        print(f"{s.name:{width}}  {s.seconds:6.1f} s  {s.summary}")
    print(f"\nwrote {out}/: report.html, "
          f"{len(list((out / 'timelines').glob('*')))} timelines"
          + ", pictures/, graph.html")
    print(f"open {report.resolve()}")
    print(f"done in {time.perf_counter() - started:.1f} s")
    return 0


def _short_table(experiment):
    lines = [experiment.title]
    for row in experiment.rows:
        speedup = experiment.speedup(row)
        ratio = "" if speedup is None else f"{speedup:8.3g}x"
        lines.append(f"  {row.how:52} {row.seconds:9.3f} s  {ratio}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
