"""ungil.lab and ungil.site: every experiment with tiny parameters, the
timeline recorder, the report and the command line.

The experiments really run (requests against the local site, Python
threads, multiprocessing pools, ungil); the assertions check the shape of
their tables and that every number is a real measurement, never how fast
anything was.
"""

import base64
import html
import io
import math
import re
import threading
import time

import pytest
import requests
from PIL import Image

import ungil
from ungil import lab
from ungil.site import Site


@pytest.fixture(scope="module")
def site():
    with Site(pictures=4, pages=12, latency=0.01, size=(160, 120),
              lifetime=900) as s:
        yield s


@pytest.fixture(scope="module")
def experiments(site):
    """One tiny run of every experiment, shared by the checks below."""
    options = dict(repeat=1)
    return {
        "io": lab.run_io(site, n=3, processes=2, timeline_urls=2, **options),
        "cpu": lab.run_cpu(n=200_000, n_native=2_000_000, list_n=20_000,
                           **options),
        "mixed": lab.run_mixed(site, n=2, timeline_urls=2, **options),
        "pool": lab.run_pool(tasks=300, native_tasks=3, native_n=2_000_000,
                             **options),
    }


def assert_sane(row):
    assert row.ok, (row.how, row.error)
    for value in (row.seconds, row.low, row.high):
        assert isinstance(value, float) and math.isfinite(value), row
        assert value > 0, row
    assert row.low <= row.seconds <= row.high
    assert row.runs == 1
    assert row.rate > 0


# ---- the site ------------------------------------------------------------

def test_site_serves_jpeg_pictures(site):
    body = requests.get(site.picture_urls()[1]).content
    assert body == site.picture(1)
    with Image.open(io.BytesIO(body)) as image:
        assert image.format == "JPEG"
        assert image.size == (160, 120)
        # Photo-like: many distinct colours, not a flat test card.
        assert len(image.convert("RGB").getcolors(1 << 16) or []) > 200
    assert site.picture(0) != site.picture(1)


def test_site_pages_link_to_pages_and_pictures(site):
    page = requests.get(site.url("/page/3.html"))
    assert page.headers["content-type"].startswith("text/html")
    hrefs = re.findall(r'href="(/page/\d+\.html)"', page.text)
    assert hrefs == [f"/page/{j}.html" for j in site.links(3)]
    assert re.findall(r'src="(/pictures/\d+\.jpg)"', page.text)
    # Every page is reachable from the home page.
    seen, todo = set(), [0, 1, 2]
    while todo:
        i = todo.pop()
        if i not in seen:
            seen.add(i)
            todo += site.links(i)
    assert seen == set(range(site.pages))


def test_site_errors(site):
    for path in ("/nope", "/page/12.html", "/pictures/4.jpg",
                 "/pictures/01.jpg", "/page/x.html"):
        assert requests.get(site.url(path)).status_code == 404, path
    assert requests.post(site.url("/"), data=b"x").status_code == 400
    assert requests.delete(site.url("/")).status_code == 405
    head = requests.head(site.url("/pictures/0.jpg"))
    assert head.status_code == 200
    assert int(head.headers["content-length"]) == len(site.picture(0))
    with pytest.raises(ValueError):
        site.picture_urls(5)
    with pytest.raises(ValueError):
        Site(pictures=0, pages=0)


def test_site_latency_and_close():
    with Site(pictures=1, pages=1, latency=0.0) as s:
        s.latency = 0.2
        start = time.monotonic()
        assert requests.get(s.url("/robots.txt")).status_code == 200
        assert time.monotonic() - start >= 0.2
        url = s.url("/")
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=5)


# ---- the experiments ------------------------------------------------------

def test_io_experiment(experiments):
    e = experiments["io"]
    assert [r.how for r in e.rows] == [
        "requests, sequential", "Thread per URL + requests",
        "ThreadPoolExecutor(3) + requests",
        "multiprocessing.Pool(2) + requests, incl. start",
        "ungil.download (concurrency 3)"]
    for row in e.rows:
        assert_sane(row)
        assert row.items == 3 and row.unit == "pictures"
    assert e.speedup(e.rows[0]) == 1.0
    text = e.table()
    for row in e.rows:
        assert row.how in text
    python, native = e.timelines
    assert [lane.name for lane in python.lanes] == ["thread 0", "thread 1"]
    for lane in python.lanes:
        assert lane.seconds("io") > 0, lane.segments  # blocked in sockets
    assert len(native.lanes) >= 1
    assert all(k == "transfer" for lane in native.lanes
               for k, _, _ in lane.segments)


def test_cpu_experiment(experiments):
    e = experiments["cpu"]
    assert [r.how for r in e.rows] == [
        "pure Python, 1 thread", "pure Python, 2 threads",
        "multiprocessing.Pool(2), incl. start",
        "multiprocessing.Pool(2) (warm), numbers sent as a list",
        "ungil.sum_upto, 1 thread", "ungil.sum_upto, 2 threads"]
    for row in e.rows:
        assert_sane(row)
    assert [r.items for r in e.rows] == [200_000] * 3 + [20_000] + \
        [2_000_000] * 2
    split = e.rows[2].details
    assert set(split) == {"start", "compute", "transfer", "shutdown"}
    assert split["compute"] > 0 and split["start"] > 0
    data = e.rows[3].details
    assert data["bytes"] > 20_000 and data["pickle"] > 0
    python, native = e.timelines
    assert [lane.name for lane in python.lanes] == ["thread 0", "thread 1"]
    for lane in python.lanes:
        assert lane.seconds("python") > 0
    # One bar per task; both workers run at once unless one of them
    # finished its task before the other woke up.
    assert sum(len(lane.segments) for lane in native.lanes) == 2
    assert {lane.name for lane in native.lanes} <= {"worker 0", "worker 1"}


def test_mixed_experiment(experiments):
    e = experiments["mixed"]
    assert [r.how for r in e.rows] == [
        "requests + Pillow, sequential", "Thread per URL + requests + Pillow",
        "ungil.download_pictures"]
    for row in e.rows:
        assert_sane(row)
    python = e.timelines[0]
    assert len(python.lanes) == 2
    assert all(lane.seconds("io") > 0 for lane in python.lanes)
    assert len(e.timelines) == 2


def test_pool_experiment(experiments):
    e = experiments["pool"]
    pools = ["queue.Queue + threads", "ThreadPoolExecutor.submit",
             "ThreadPoolExecutor.map", "ungil.Pool.submit", "ungil.Pool.map"]
    assert [r.how for r in e.rows] == \
        [f"{p}, tiny tasks" for p in pools] + \
        [f"{p}, native tasks" for p in pools]
    for row in e.rows:
        assert_sane(row)
    assert e.speedup(e.rows[0]) == 1.0 and e.speedup(e.rows[5]) == 1.0
    assert "speed-up" in e.table().splitlines()[2]
    python, native = e.timelines
    assert [lane.name for lane in python.lanes] == ["queue worker 0",
                                                    "queue worker 1"]
    # The native task is a built-in that runs long: drawn as C code.
    assert sum(lane.seconds("c") for lane in python.lanes) > 0


def test_bad_parameters_are_refused(site):
    with pytest.raises(ValueError):
        lab.run_io(site, n=5)
    with pytest.raises(ValueError):
        lab.run(["io", "fft"])
    with pytest.raises(ValueError, match="repeat"):
        lab.run(["cpu"], lab.Options(repeat=0))


# ---- the timeline recorder ---------------------------------------------------

def _overlap(a, b):
    total = 0.0
    for _, s1, e1 in a:
        for _, s2, e2 in b:
            total += max(0.0, min(e1, e2) - max(s1, s2))
    return total


def test_recorder_shows_the_gil_serialising_cpu_threads():
    recorder = lab.Recorder()
    lanes = [recorder.lane(f"thread {k}") for k in range(2)]
    threads = [threading.Thread(target=lab.cpu_bound._ticking_sum,
                                args=(lane, 1, 3_000_000)) for lane in lanes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    timeline = recorder.timeline("two CPU-bound threads")
    assert [lane.name for lane in timeline.lanes] == ["thread 0", "thread 1"]
    running = [[s for s in lane.segments if s[0] == "python"]
               for lane in timeline.lanes]
    assert all(running)
    # The threads also waited, at least partly while the other one held
    # the GIL (the rest is "stalled": no core free on a busy machine).
    assert all(lane.seconds("gil") + lane.seconds("stalled") > 0
               for lane in timeline.lanes)
    assert sum(lane.seconds("gil") for lane in timeline.lanes) > 0
    # And their running bars (almost) never overlap: one at a time.
    busy = sum(lane.seconds("python") for lane in timeline.lanes)
    assert _overlap(*running) < 0.1 * busy


def test_recorder_shows_io_threads_overlapping():
    recorder = lab.Recorder()

    def wait():
        time.sleep(0.2)

    threads = [threading.Thread(target=recorder.profiled(f"t{k}", wait))
               for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    timeline = recorder.timeline("sleepers")
    waits = [[s for s in lane.segments if s[0] == "io"]
             for lane in timeline.lanes]
    assert all(len(w) == 1 for w in waits), waits
    # The three sleeps overlap pairwise: the GIL was released.
    assert _overlap(waits[0], waits[1]) > 0
    assert _overlap(waits[1], waits[2]) > 0


def test_draw_timeline_and_from_trace():
    with ungil.Pool(2, trace=True) as pool:
        list(pool.map(time.sleep, [0.02] * 4))
    timeline = lab.from_trace(pool.trace, "sleeps")
    assert sorted(lane.name for lane in timeline.lanes) == ["worker 0",
                                                            "worker 1"]
    assert sum(len(lane.segments) for lane in timeline.lanes) >= 2
    assert timeline.span > 0
    svg = lab.draw_timeline(timeline)
    assert svg.startswith(b"<?xml") and b"<svg" in svg
    assert b"worker 0" in svg or b"worker" in svg
    png = lab.draw_timeline(timeline, fmt="png")
    with Image.open(io.BytesIO(png)) as image:
        assert image.size[0] > 100


# ---- the report and the command line ------------------------------------------

URL_ATTR = re.compile(r'\b(?:src|href)\s*=\s*"([^"]*)"', re.IGNORECASE)


def test_report_is_self_contained(experiments, tmp_path):
    path = lab.write_report(list(experiments.values()), tmp_path / "r")
    assert path == tmp_path / "r" / "report.html"
    assert not list((tmp_path / "r").glob("*.part"))
    page = path.read_text(encoding="utf-8")
    targets = URL_ATTR.findall(page)
    assert targets
    assert not [t for t in targets if re.match(r"(?i)\s*(https?:)?//", t)]
    images = re.findall(r'<img src="data:image/svg\+xml;base64,([^"]+)"',
                        page)
    # A chart per experiment, plus its timelines.
    timelines = sum(len(e.timelines) for e in experiments.values())
    assert len(images) == len(experiments) + timelines
    for data in images:
        svg = base64.b64decode(data)
        assert b"<svg" in svg and len(svg) > 1000
    for e in experiments.values():
        assert f'id="{e.key}"' in page
        for row in e.rows:
            assert html.escape(row.how) in page


def test_command_line(child, tmp_path):
    result = child.run(f"""
        import sys
        from ungil.lab.__main__ import main
        sys.exit(main(["cpu", "pool", "--repeat", "1", "--sum-n", "100000",
                       "--sum-n-native", "1000000", "--tasks", "100",
                       "--native-tasks", "2", "--native-n", "1000",
                       "--report", {str(tmp_path / 'out')!r}]))
    """, timeout=110)
    assert result.returncode == 0, result.stderr
    assert "2. CPU-bound" in result.stdout
    assert "4. Thread pools" in result.stdout
    assert "pure Python, 2 threads" in result.stdout
    assert "1. I/O-bound" not in result.stdout
    assert (tmp_path / "out" / "report.html").is_file()
    bad = child.run("""
        from ungil.lab.__main__ import main
        main(["fft"])
    """)
    assert bad.returncode == 2
    assert "unknown experiment" in bad.stderr
