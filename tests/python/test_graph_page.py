"""The interactive graph page in a real headless Chromium.

Each test writes a page with ungil.Graph.save, loads it from file:// in
`chromium --headless=new` and reads what the page did: the canvas records
how many nodes it drew (data-drawn) and physics steps (data-physics-steps),
the search box how many URLs matched (data-matches); a screenshot must show
many pixels of the node colours; Chromium's net log must show no request
for anything the page names, and the console no error.
"""

import json
import os
import random
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

import ungil

CHROMIUM = shutil.which("chromium")
DEPTH_COLOURS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4",
                 "#42d4f4", "#f032e6", "#9a6324", "#469990", "#808000"]
WIDTH, HEIGHT = 1200, 800


def chromium(tmp_path, url, *args, budget_ms=4000):
    """Runs headless Chromium on url; returns (stdout, stderr)."""
    assert CHROMIUM, "chromium is not installed (tools/setup-system.sh installs it)"
    cmd = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
           f"--user-data-dir={tmp_path / 'profile'}", "--no-first-run",
           "--disable-background-networking", "--disable-extensions",
           f"--window-size={WIDTH},{HEIGHT}", "--hide-scrollbars",
           f"--virtual-time-budget={budget_ms}", "--enable-logging=stderr",
           "--v=0", *args, url]
    # Under the ASan run LD_PRELOAD carries the sanitizer runtime, which is
    # for our extension, not for the browser.
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=100,
                          env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, proc.stderr


def attr(dom, element_id, name):
    tag = re.search(r'<[a-z]+ [^>]*id="%s"[^>]*>' % element_id, dom)
    assert tag, f"no element #{element_id} in the page"
    value = re.search(r'%s="([^"]*)"' % name, tag.group(0))
    return value.group(1) if value else None


def crawl_like(n, seed=1):
    """A site-like graph: a tree of fan-out 4 plus one random link back
    per page, with statuses and BFS depths."""
    rng = random.Random(seed)
    g = ungil.Graph()
    depth = [0] * n
    for i in range(n):
        if i:
            depth[i] = depth[(i - 1) // 4] + 1
        g.add_node(f"http://site.test/page/{i}", depth=depth[i],
                   status=rng.choice([200] * 12 + [301, 404, 500]),
                   title=f"Page {i} <b>&</b>")
    for i in range(1, n):
        g.add_edge((i - 1) // 4, i)
        g.add_edge(i, rng.randrange(i))
    return g


def console_errors(stderr):
    return [line for line in stderr.splitlines()
            if "CONSOLE" in line and ("Uncaught" in line or "Error" in line
                                      or "Refused" in line)]


def test_small_page_draws_searches_and_stays_offline(tmp_path):
    g = crawl_like(40)
    page = tmp_path / "small.html"
    g.save(page)
    html = page.read_text(encoding="utf-8")
    assert 'id="physics"' in html and 'id="search"' in html and 'id="colour"' in html
    assert not re.search(r'\b(src|href)\s*=', html, re.I)
    code = html.split('id="graph-data">', 1)[0] + html.rsplit("</script>", 2)[1]
    assert "Content-Security-Policy" in code and "default-src 'none'" in code
    assert not re.search(r"https?:|//[a-z]", code, re.I)  # no host named
    netlog = tmp_path / "net.json"
    dom, err = chromium(tmp_path, page.as_uri() + "#search=page/3",
                        f"--log-net-log={netlog}", "--dump-dom")
    # The view zooms to the matches, so some other nodes fall off screen.
    assert 11 <= int(attr(dom, "graph", "data-drawn")) <= 40
    # page/3, page/30 ... page/39: eleven URLs contain "page/3".
    assert attr(dom, "search", "data-matches") == "11"
    assert console_errors(err) == []
    requested = json.dumps(json.loads(netlog.read_text()))
    assert "site.test" not in requested
    assert page.as_uri() in requested  # the log did record the page itself


def test_physics_runs_and_status_colours(tmp_path):
    g = crawl_like(300)
    page = tmp_path / "p.html"
    g.save(page)
    dom, err = chromium(tmp_path, page.as_uri() + "#physics&colour=status",
                        "--dump-dom")
    assert int(attr(dom, "graph", "data-physics-steps")) > 0
    assert attr(dom, "graph", "data-drawn") == "300"
    assert "HTTP status" in dom and "4xx" in dom
    assert console_errors(err) == []


def colour_pixels(png, colours):
    """Pixels of the screenshot within a small distance of any colour."""
    with Image.open(png) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    hit = np.zeros(pixels.shape[:2], dtype=bool)
    for c in colours:
        rgb = np.array([int(c[k:k + 2], 16) for k in (1, 3, 5)], dtype=np.int16)
        hit |= (np.abs(pixels - rgb) < 12).all(axis=2)
    return int(hit.sum())


def test_5000_nodes_open_and_draw(tmp_path):
    g = crawl_like(5000, seed=2).layout()
    page = tmp_path / "big.html"
    g.save(page, title="5,000 pages")
    dom, err = chromium(tmp_path, page.as_uri(), "--dump-dom")
    assert attr(dom, "graph", "data-drawn") == "5000"
    assert console_errors(err) == []
    png = tmp_path / "big.png"
    chromium(tmp_path, page.as_uri(), f"--screenshot={png}")
    with Image.open(png) as image:
        assert image.size == (WIDTH, HEIGHT)
    # Nodes of every depth are drawn: many pixels in the depth colours.
    assert colour_pixels(png, DEPTH_COLOURS) > 20000


@pytest.mark.parametrize("title", ["</script><script>document.title='x'</script>",
                                   "\u2028\u2029<!--"])
def test_hostile_titles_do_not_break_the_page(tmp_path, title):
    g = ungil.Graph.from_edges([("http://a.test/" + title, "http://a.test/b")])
    g.add_node("http://a.test/b", title=title)
    page = tmp_path / "h.html"
    g.save(page, title=title)
    dom, err = chromium(tmp_path, page.as_uri(), "--dump-dom")
    assert attr(dom, "graph", "data-drawn") == "2"
    assert console_errors(err) == []
