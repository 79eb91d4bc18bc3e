"""Experiment 1, I/O-bound: downloading pictures.

The course's first two demos: `download_picture(url, filename)` does one
requests.get and writes the bytes; called in turn, every response's waiting
time adds up; one threading.Thread per URL makes the waits overlap.  Here
they run against the local site (ungil.site) with a fixed latency per
response, next to a ThreadPoolExecutor, a multiprocessing.Pool and
ungil.download (one libcurl multi loop on a native thread).
"""

import concurrent.futures
import multiprocessing
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import requests

import ungil

from .results import Experiment, Row, fill, measure
from .timeline import Recorder, from_trace

__all__ = ["download_picture", "run_io"]


def download_picture(url, filename):
    """The slides' function: one requests.get, the bytes to a file."""
    response = requests.get(url)
    response.raise_for_status()
    with open(filename, "wb") as f:
        f.write(response.content)


def _targets(urls, dest):
    return [(url, os.path.join(dest, f"{i}.jpg")) for i, url in enumerate(urls)]


def sequential(urls, dest, target=download_picture):
    """One download after the other."""
    for url, filename in _targets(urls, dest):
        target(url, filename)


def thread_per_url(urls, dest, target=download_picture):
    """The slides' code: a Thread per URL, start them all, join them all."""
    threads = [threading.Thread(target=target, args=pair)
               for pair in _targets(urls, dest)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def thread_pool(urls, dest, workers):
    """ThreadPoolExecutor(workers).map over the URLs."""
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        list(pool.map(download_picture, *zip(*_targets(urls, dest))))


def process_pool(urls, dest, processes, context):
    """multiprocessing.Pool(processes).starmap over the URLs (start-up
    included: a pool is made for the job, as a script would)."""
    with context.Pool(processes) as pool:
        pool.starmap(download_picture, _targets(urls, dest))


def with_ungil(urls, dest, concurrency, trace=None):
    """ungil.download: every transfer on one native libcurl multi loop."""
    results = ungil.download(urls, dest, concurrency=concurrency, trace=trace,
                             names=[f"{i}.jpg" for i in range(len(urls))])
    failed = [r for r in results if not r.ok]
    if failed:
        raise RuntimeError(f"ungil.download failed: {failed[0].message}")


def mp_context(method=None):
    """The multiprocessing context of the lab: `method`, or forkserver where
    it exists (fork from a process with running threads, as the lab's is,
    can deadlock its children), else the platform's default.  A first tiny
    pool is started and closed here, so that the one-time start of the fork
    server is not counted against the first pool measured; the server
    imports the lab's task modules once, so that its children do not each
    import them again."""
    if method is None:
        methods = multiprocessing.get_all_start_methods()
        method = "forkserver" if "forkserver" in methods else None
    context = multiprocessing.get_context(method)
    if context.get_start_method() == "forkserver":
        context.set_forkserver_preload(["ungil.lab.cpu_bound",
                                        "ungil.lab.io_bound"])
    with context.Pool(1) as pool:
        pool.map(time.sleep, [0])
    return context


def _checked(urls, dest, expected):
    for i in range(len(urls)):
        path = Path(dest, f"{i}.jpg")
        size = path.stat().st_size if path.exists() else -1
        if size != expected[i]:
            raise RuntimeError(f"{path}: {size} bytes, expected {expected[i]}")


def run_io(site, n=24, repeat=3, workers=None, processes=8, timelines=True,
           mp_start=None, timeline_urls=12):
    """Downloads n pictures of `site` (an ungil.site.Site) in five ways,
    `repeat` times each, interleaved; returns an Experiment.  workers:
    threads of the ThreadPoolExecutor (default n); processes: size of the
    multiprocessing.Pool; the pool's start-up is part of its time."""
    if n < 1 or n > site.pictures:
        raise ValueError(f"n must be between 1 and {site.pictures}")
    urls = site.picture_urls(n)
    expected = [len(site.picture(i)) for i in range(n)]
    workers = workers or n
    context = mp_context(mp_start)
    root = Path(tempfile.mkdtemp(prefix="ungil-lab-io-"))

    def contender(fn, *args):
        def run():
            dest = root / "out"
            shutil.rmtree(dest, ignore_errors=True)
            dest.mkdir()
            start = time.perf_counter()
            fn(urls, str(dest), *args)
            seconds = time.perf_counter() - start
            _checked(urls, dest, expected)
            return seconds
        return run

    names = ["requests, sequential", "Thread per URL + requests",
             f"ThreadPoolExecutor({workers}) + requests",
             f"multiprocessing.Pool({processes}) + requests, incl. start",
             f"ungil.download (concurrency {n})"]
    try:
        measured = measure([
            (names[0], contender(sequential)),
            (names[1], contender(thread_per_url)),
            (names[2], contender(thread_pool, workers)),
            (names[3], contender(process_pool, processes, context)),
            (names[4], contender(with_ungil, n)),
        ], repeat)
        rows = [fill(Row(name, n, "pictures"), measured[name])
                for name in names]
        rows[0].note = f"every wait adds up: about {n} x {site.latency} s"
        rows[1].note = "the slides' code: waits overlap"
        rows[3].note = f"start method {context.get_start_method()}"
        rows[4].note = "one native libcurl multi loop, GIL released"
        timeline_list = []
        if timelines:
            timeline_list = _timelines(urls[:timeline_urls], root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return Experiment(
        key="io",
        title=f"1. I/O-bound: {n} pictures, {site.latency * 1000:.0f} ms "
              f"latency per response",
        description=(
            "Waiting is what Python threads are good at: a thread blocked "
            "in a socket call releases the GIL, so the waits of many "
            "threads overlap.  Sequential requests pay every wait in turn; "
            "processes overlap the waits too but pay to start; ungil runs "
            "every transfer on one native thread."),
        rows=rows, baseline=names[0], timelines=timeline_list,
        parameters={"n": n, "latency": site.latency, "workers": workers,
                    "processes": processes, "repeat": repeat})


def _timelines(urls, root):
    dest = root / "timeline"
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir()
    recorder = Recorder()
    threads = [threading.Thread(
        target=recorder.profiled(f"thread {i}", download_picture),
        args=(url, str(dest / f"{i}.jpg"))) for i, url in enumerate(urls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    python = recorder.timeline(
        f"Thread per URL + requests, {len(urls)} pictures",
        "Each thread is mostly blocked in socket calls, with the GIL "
        "released, so the waits overlap; the short Python parts take turns.")
    trace = ungil.Trace()
    with_ungil(urls, str(root / "timeline-ungil"), len(urls), trace=trace)
    native = from_trace(trace, f"ungil.download, {len(urls)} pictures",
                        "One bar per transfer, on ungil's native transfer "
                        "slots; no Python code runs meanwhile.")
    return [python, native]
