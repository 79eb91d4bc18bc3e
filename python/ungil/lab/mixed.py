"""Experiment 3, mixed work: the course's drawn download_picture.

`download_picture(url, filename)` gets the bytes with requests, opens them
as a Pillow image, applies ImageFilter.FIND_EDGES and saves the result:
waiting, then computing.  In Python threads the waits overlap, and so do
Pillow's pixel loops (Pillow releases the GIL inside them), but decoding
the response, the Python glue and the GIL hand-overs take turns.
ungil.download_pictures runs the same pipeline natively: transfers on a
libcurl multi loop, decoding, filtering and encoding on native threads.
"""

import io
import shutil
import tempfile
import threading
import time
from pathlib import Path

import requests
from PIL import Image, ImageFilter

import ungil

from .io_bound import sequential, thread_per_url
from .results import Experiment, Row, fill, measure
from .timeline import Recorder, from_trace

__all__ = ["download_picture", "run_mixed", "ungil_pictures"]


def download_picture(url, filename):
    """The slides' mixed function: get, FIND_EDGES, save."""
    response = requests.get(url)
    response.raise_for_status()
    image = Image.open(io.BytesIO(response.content))
    image.filter(ImageFilter.FIND_EDGES).save(filename)


def ungil_pictures(urls, dest, concurrency=None, threads=None, trace=None):
    """ungil.download_pictures with FIND_EDGES; RuntimeError when a picture
    failed."""
    options = {"filter": "FIND_EDGES", "trace": trace}
    if concurrency is not None:
        options["concurrency"] = concurrency
    if threads is not None:
        options["threads"] = threads
    results = ungil.download_pictures(urls, dest, **options)
    failed = [r for r in results if not r.ok]
    if failed:
        raise RuntimeError(f"ungil.download_pictures failed on "
                           f"{failed[0].url}: {failed[0].message}")
    return results


def _check_outputs(dest, n):
    files = [p for p in Path(dest).iterdir() if p.is_file()
             and not p.name.endswith(".part") and p.stat().st_size > 0]
    if len(files) != n:
        raise RuntimeError(f"{dest}: {len(files)} pictures written, "
                           f"expected {n}")


def run_mixed(site, n=16, repeat=3, threads=None, timelines=True,
              timeline_urls=8):
    """Gets n pictures of `site`, applies FIND_EDGES and saves them, in
    three ways, `repeat` times each; returns an Experiment.  threads: the
    native threads of ungil.download_pictures (default: its own)."""
    if n < 1 or n > site.pictures:
        raise ValueError(f"n must be between 1 and {site.pictures}")
    urls = site.picture_urls(n)
    root = Path(tempfile.mkdtemp(prefix="ungil-lab-mixed-"))

    def contender(fn, *args):
        def run():
            dest = root / "out"
            shutil.rmtree(dest, ignore_errors=True)
            dest.mkdir()
            start = time.perf_counter()
            fn(urls, str(dest), *args)
            seconds = time.perf_counter() - start
            _check_outputs(dest, n)
            return seconds
        return run

    names = ["requests + Pillow, sequential",
             "Thread per URL + requests + Pillow",
             "ungil.download_pictures"]
    try:
        measured = measure([
            (names[0], contender(sequential, download_picture)),
            (names[1], contender(thread_per_url, download_picture)),
            (names[2], contender(ungil_pictures, n, threads)),
        ], repeat)
        rows = [fill(Row(name, n, "pictures"), measured[name])
                for name in names]
        rows[1].note = "waits overlap; decoding and glue take turns"
        rows[2].note = "native pipeline: fetch, decode, filter, encode"
        timeline_list = []
        if timelines:
            timeline_list = _timelines(urls[:timeline_urls], root, threads)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return Experiment(
        key="mixed",
        title=f"3. Mixed: {n} pictures, get + FIND_EDGES + save, "
              f"{site.latency * 1000:.0f} ms latency",
        description=(
            "The course's download_picture with a filter: each thread waits "
            "for its response (GIL released), then decodes, filters and "
            "encodes the picture.  The timeline shows which parts overlap "
            "and where the threads take turns."),
        rows=rows, baseline=names[0], timelines=timeline_list,
        parameters={"n": n, "latency": site.latency, "repeat": repeat,
                    "threads": threads})


def _timelines(urls, root, threads):
    dest = root / "timeline"
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir()
    recorder = Recorder()
    workers = [threading.Thread(
        target=recorder.profiled(f"thread {i}", download_picture),
        args=(url, str(dest / f"{i}.jpg"))) for i, url in enumerate(urls)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    timelines = [recorder.timeline(
        f"Thread per URL: get + FIND_EDGES + save, {len(urls)} pictures",
        "Orange: waiting for the response; purple: Pillow's C code "
        "(decode, filter, encode); blue: Python; grey: waiting for the "
        "GIL.")]
    trace = ungil.Trace()
    ungil_pictures(urls, str(root / "timeline-ungil"), len(urls), threads,
                   trace=trace)
    timelines.append(from_trace(
        trace, f"ungil.download_pictures, {len(urls)} pictures",
        "Transfers and image work on native threads; no GIL involved."))
    return timelines
