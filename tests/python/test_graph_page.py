"""The interactive graph page in a real headless Chromium.

Each test writes a page with ungil.Graph.save, loads it from file:// in
`chromium --headless=new` and reads what the page did: the canvas records
how many nodes it drew (data-drawn) and physics steps (data-physics-steps),
the search box how many URLs matched (data-matches); a screenshot must show
many pixels of the node colours; Chromium's net log must show no request
for anything the page names, and the console no error.  The last test
drives the page like a reader over the DevTools protocol (aiohttp's
websocket client): hover for the tooltip, drag a node, pan, wheel-zoom,
type a search, click the physics box, switch colours.
"""

import asyncio
import json
import os
import random
import re
import shutil
import subprocess

import aiohttp
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


# ---- interactions, driven over the DevTools protocol ----------------------

class DevTools:
    """A page of a headless Chromium, driven over its DevTools websocket."""

    def __init__(self, ws):
        self.ws, self.next_id, self.exceptions = ws, 0, []

    async def send(self, method, **params):
        self.next_id += 1
        await self.ws.send_json({"id": self.next_id, "method": method,
                                 "params": params})
        while True:
            msg = await self.ws.receive_json(timeout=30)
            if msg.get("method") == "Runtime.exceptionThrown":
                self.exceptions.append(msg["params"]["exceptionDetails"])
            if msg.get("id") == self.next_id:
                assert "error" not in msg, msg["error"]
                return msg["result"]

    async def js(self, expression):
        out = await self.send("Runtime.evaluate", expression=expression,
                              returnByValue=True)
        return out["result"].get("value")

    async def until(self, expression, timeout=20.0):
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            value = await self.js(expression)
            if value:
                return value
            assert asyncio.get_running_loop().time() < deadline, expression
            await asyncio.sleep(0.05)

    async def mouse(self, kind, x, y, **extra):
        await self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, **extra)

    async def drag(self, start, end):
        await self.mouse("mousePressed", *start, button="left", buttons=1,
                         clickCount=1)
        for k in range(1, 5):
            await self.mouse("mouseMoved", start[0] + (end[0] - start[0]) * k / 4,
                             start[1] + (end[1] - start[1]) * k / 4,
                             button="left", buttons=1)
        await self.mouse("mouseReleased", *end, button="left", buttons=0,
                         clickCount=1)

    async def tip_at(self, point):
        """Hovers point; returns the tooltip's text ('' when hidden)."""
        await self.mouse("mouseMoved", point[0] + 300, point[1] + 1)
        await self.mouse("mouseMoved", *point)
        return await self.js("(t => t.hidden ? '' : t.textContent)"
                             "(document.getElementById('tip'))")


def screen_positions(graph, width, height):
    """Where the page puts each node at first: graph_page.js's fit()."""
    xs, ys = [n.x for n in graph.nodes], [n.y for n in graph.nodes]
    top = 48
    w, h = max(max(xs) - min(xs), 4), max(max(ys) - min(ys), 4)
    scale = min(width / w, (height - top) / h) * 0.92
    ox = width / 2 - scale * (min(xs) + max(xs)) / 2
    oy = top + (height - top) / 2 - scale * (min(ys) + max(ys)) / 2
    return [(x * scale + ox, y * scale + oy) for x, y in zip(xs, ys)]


def lonely(points, k, others, radius=25):
    return all(abs(points[k][0] - p[0]) > radius or abs(points[k][1] - p[1]) > radius
               for j, p in enumerate(others) if j != k)


async def drive(devtools_url, page_url, graph):
    async with aiohttp.ClientSession() as session:
        async with session.get(devtools_url + "/json/list") as resp:
            targets = await resp.json()
        ws_url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        async with session.ws_connect(ws_url, max_msg_size=0) as ws:
            page = DevTools(ws)
            await page.send("Runtime.enable")
            await page.send("Page.navigate", url=page_url)
            n = len(graph)
            await page.until(f"document.getElementById('graph')?.getAttribute('data-drawn') === '{n}'")
            width, height = await page.js("[innerWidth, innerHeight]")
            pos = screen_positions(graph, width, height)
            k = next(i for i in range(n) if lonely(pos, i, pos)
                     and 100 < pos[i][0] < width - 200 and 100 < pos[i][1] < height - 150)
            url = graph.node(k).url
            # Hover: the tooltip names the node's URL, title and status.
            tip = await page.tip_at(pos[k])
            assert url in tip and graph.node(k).title in tip
            assert f"status {graph.node(k).status}" in tip
            # Drag the node: it follows the mouse.
            moved = (pos[k][0] + 60, pos[k][1] + 45)
            await page.drag(pos[k], moved)
            assert url in await page.tip_at(moved)
            others = [p for j, p in enumerate(pos) if j != k]
            if lonely([pos[k]], 0, others + [moved]):
                assert url not in await page.tip_at(pos[k])
            # Pan: dragging the background moves everything.
            background = next((x, y) for x in range(width - 40, 40, -37)
                              for y in range(height - 40, 80, -29)
                              if all(abs(x - p[0]) > 30 or abs(y - p[1]) > 30
                                     for p in pos + [moved]))
            await page.drag(background, (background[0] - 90, background[1] + 30))
            assert url in await page.tip_at((moved[0] - 90, moved[1] + 30))
            # Wheel: zooming in far around the centre leaves nodes off screen.
            await page.mouse("mouseWheel", width / 2, height / 2, deltaX=0, deltaY=-2500)
            await page.until("+document.getElementById('graph').getAttribute('data-drawn') < %d" % n)
            # Search: typing rings the matches and reports their number.
            await page.js("document.getElementById('search').focus()")
            await page.send("Input.insertText", text="page/1")
            matches = sum("page/1" in node.url for node in graph.nodes)
            await page.until(f"document.getElementById('search').dataset.matches === '{matches}'")
            assert f"{matches} matches" in await page.js("document.getElementById('info').textContent")
            # Physics: a real click on the checkbox starts the simulation.
            box = await page.js("(r => [r.x + r.width / 2, r.y + r.height / 2])"
                                "(document.getElementById('physics').getBoundingClientRect())")
            await page.mouse("mousePressed", *box, button="left", buttons=1, clickCount=1)
            await page.mouse("mouseReleased", *box, button="left", clickCount=1)
            await page.until("+document.getElementById('graph').dataset.physicsSteps > 10")
            # Colour by status: the legend switches.
            await page.js("(s => { s.value = 'status'; s.dispatchEvent(new Event('change')); })"
                          "(document.getElementById('colour'))")
            await page.until("document.getElementById('legend').textContent.includes('HTTP status')")
            return page.exceptions


def test_interactions_over_devtools(tmp_path):
    assert CHROMIUM, "chromium is not installed (tools/setup-system.sh installs it)"
    g = crawl_like(30, seed=5).layout()
    page = tmp_path / "i.html"
    g.save(page)
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    proc = subprocess.Popen(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
         f"--user-data-dir={tmp_path / 'profile'}", "--no-first-run",
         "--disable-background-networking", "--disable-extensions",
         "--remote-debugging-port=0", f"--window-size={WIDTH},{HEIGHT}",
         "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        endpoint = None
        for line in proc.stderr:  # Chromium prints the endpoint at once
            match = re.search(r"DevTools listening on ws://([^/]+)/", line)
            if match:
                endpoint = "http://" + match.group(1)
                break
        assert endpoint, "Chromium did not open its DevTools port"
        exceptions = asyncio.run(asyncio.wait_for(
            drive(endpoint, page.as_uri(), g), timeout=90))
        assert exceptions == []
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stderr.close()
