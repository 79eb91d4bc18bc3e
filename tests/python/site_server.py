"""A synthetic web site with a known link structure, for the crawler's tests
and benchmarks.

Pure standard library.  A ``Site`` is a table of pages (path -> status,
content type, body, headers, and the links the body holds, in document
order) plus two endless routes: ``/cal?d=N`` (a calendar page linking to
the next day, forever) and ``/big.bin`` (50 MB announced and streamed).
``SiteServer`` serves a Site on 127.0.0.1, on a random port, from one
asyncio loop in a background thread: listen backlog 1024, TCP_NODELAY on
every connection (see DESIGN.md on why), HTTP/1.1 keep-alive, GET and HEAD,
optional latency before every response, and a lifetime after which it shuts
itself down so a hung test cannot keep it alive.

    from site_server import SiteServer, trap_site

    site = trap_site()
    with SiteServer(site) as srv:
        graph = ungil.crawl(srv.url("/"))
        srv.hits("/robots.txt")      # requests seen for that path

``trap_site()`` is the tests' site: a tree of pages, cross links, a robots.txt
with Disallow and Crawl-delay rules, and traps (calendar, redirect loop,
redirect, huge file, malformed HTML, a Latin-1 page, 404 and 500 pages
holding links, an off-site link, a PNG).  ``generated_site(n)`` is the
benchmarks' site: n pages of ~10 links each, which ``write_static`` also
writes as files for nginx.  ``python site_server.py --pages N --latency S``
serves a generated site until killed, printing its origin first; it uses
``serve_fast``: an asyncio Protocol with every response prepared in advance
and the latency as one timer per request (no task, no stream objects), so
that the server costs a few microseconds per request and the benchmark
measures the crawler, not the server.
"""

import argparse
import asyncio
import collections
import random
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import NamedTuple

BIG_SIZE = 50 * 1024 * 1024
CHUNK = 64 * 1024


class Page(NamedTuple):
    status: int
    content_type: str | None
    body: bytes
    headers: tuple = ()
    links: tuple = ()      # hrefs in document order, as the body writes them
    title: str | None = None


def html_page(title, links, extra=""):
    """A small valid HTML page with a <title> and one <a> per link."""
    items = "\n".join(f'<li><a href="{href}">link {i}</a></li>'
                      for i, href in enumerate(links))
    return (f"<!doctype html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>{title}</title></head>\n<body><h1>{title}</h1>\n"
            f"<ul>\n{items}\n</ul>{extra}</body></html>\n").encode()


class Site:
    """Pages by path ("/a/b", "/cal?d=3" is dynamic: see calendar())."""

    def __init__(self, robots=None):
        self.pages = {}
        if robots is not None:
            self.add("/robots.txt", 200, "text/plain", robots.encode())

    def add(self, path, status, content_type, body, headers=(), links=(),
            title=None):
        self.pages[path] = Page(status, content_type, body, tuple(headers),
                                tuple(links), title)

    def add_html(self, path, title, links, status=200):
        self.add(path, status, "text/html; charset=utf-8",
                 html_page(title, links), links=links, title=title)

    def redirect(self, path, location, status=302):
        self.add(path, status, "text/html", b"moved\n",
                 headers=[("Location", location)])

    def page(self, target):
        """The Page for a request target (path and query), or None."""
        if target in self.pages:
            return self.pages[target]
        path, _, query = target.partition("?")
        if path == "/cal":
            day = query[2:] if query.startswith("d=") else ""
            if day.isdigit():
                return calendar(int(day))
        return None


def calendar(day):
    """The endless calendar trap: day N links to day N + 1."""
    links = (f"/cal?d={day + 1}",)
    return Page(200, "text/html", html_page(f"Day {day}", links),
                links=links, title=f"Day {day}")


TRAP_ROBOTS = """\
# the tests' robots.txt
User-agent: *
Disallow: /private/
Allow: /private/open.html
Crawl-delay: 0.001

User-agent: otherbot
Disallow: /
"""


def trap_site(depth=3, branching=3):
    """The tests' site.  Home "/" (depth 0) links to a tree /t/... of
    `depth` levels of `branching` children each, and to every trap; tree
    leaves link back to the next subtree's root (cross links)."""
    site = Site(TRAP_ROBOTS)
    tree = ["/t/0", "/t/1", "/t/2"][:branching]
    home_links = ["/about", *tree, "/cal?d=0", "/loop/a", "/go-about",
                  "/big.bin", "/broken.html", "/latin1.html", "/missing",
                  "/error", "http://offsite.invalid/x", "/private/secret",
                  "/private/open.html", "/img.png", "/about",
                  "mailto:someone@example.com", "#top"]
    site.add_html("/", "Home", home_links)
    site.add_html("/about", "About us", ["/", "/t/0"])

    def add_tree(path, level):
        children = ([f"{path}/{j}" for j in range(branching)]
                    if level < depth else [])
        top = int(path.split("/")[2])
        links = [*children, "/"] if children else [
            f"/t/{(top + 1) % branching}", "/"]
        site.add_html(path, f"Tree {path[3:]}", links)
        for child in children:
            add_tree(child, level + 1)

    for root in tree:
        add_tree(root, 1)
    site.redirect("/loop/a", "/loop/b")
    site.redirect("/loop/b", "/loop/a")
    site.redirect("/go-about", "/about", status=301)
    broken = (b"<html><head><title>Broken page</TITLE><body>"
              b"<a href=/t/0>unquoted<A HREF=\"/about\">upper"
              b"<a href='/t/1' href='/nowhere'>duplicate attribute"
              b"<p> <a href=\"/t/2\">stray <<<< <a href=\"/broken-end")
    site.add("/broken.html", 200, "text/html", broken,
             links=("/t/0", "/about", "/t/1", "/t/2"), title="Broken page")
    latin = ("<html><head><meta charset=\"iso-8859-1\"><title>Caf\xe9 "
             "cr\xe8me</title></head><body><a href=\"/t/2\">\xe0 la "
             "carte</a></body></html>").encode("latin-1")
    site.add("/latin1.html", 200, "text/html; charset=iso-8859-1", latin,
             links=("/t/2",), title="Caf\ufffd cr\ufffdme")
    site.add("/missing", 404, "text/html",
             html_page("Not found", ["/not-followed-404"]))
    site.add("/error", 500, "text/html",
             html_page("Server error", ["/not-followed-500"]))
    site.add_html("/private/secret", "Secret", ["/private/deeper"])
    site.add_html("/private/open.html", "Open", ["/about"])
    site.add("/img.png", 200, "image/png",
             b"\x89PNG\r\n\x1a\n" + bytes(200))
    return site


def generated_site(n, links=10, seed=1, robots=None):
    """n pages /p/<i>.html: page i links to its children 8i+1 .. 8i+8 of
    an 8-ary tree (so a breadth-first crawl reaches every page), then to
    random pages until it has `links` links."""
    rng = random.Random(seed)
    site = Site(robots)
    for i in range(n):
        hrefs = [f"/p/{k}.html" for k in range(8 * i + 1, min(8 * i + 9, n))]
        while len(hrefs) < links:
            hrefs.append(f"/p/{rng.randrange(n)}.html")
        site.add_html(f"/p/{i}.html", f"Page {i}", hrefs)
    return site


def write_static(site, root):
    """Writes every 200 page of `site` under directory `root` (for nginx);
    returns how many files."""
    root = Path(root)
    count = 0
    for path, page in site.pages.items():
        if page.status != 200 or "?" in path:
            continue
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(page.body)
        count += 1
    return count


class SiteServer:
    """Serves `site`; see the module docstring."""

    def __init__(self, site, latency=0.0, lifetime=300.0):
        self.site = site
        self.latency = latency
        self.lifetime = lifetime
        self._hits = collections.Counter()
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._loop = None
        self._server = None
        self._tasks = set()
        self._error = None
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="site-server")
        self._thread.start()
        self._ready.wait(10)
        if self._error:
            raise self._error
        self.host, self.port = "127.0.0.1", self._port

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def origin(self):
        return f"http://{self.host}:{self.port}"

    def url(self, path="/"):
        return self.origin + path

    def hits(self, target):
        """Requests for `target` (path with its query, as sent)."""
        with self._lock:
            return self._hits[target]

    def all_hits(self):
        with self._lock:
            return dict(self._hits)

    def close(self):
        loop = self._loop
        if loop and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._stop)
            except RuntimeError:
                pass
        self._thread.join(10)

    # ---- the loop --------------------------------------------------------

    def _run(self):
        loop = self._loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._start())
        except OSError as e:
            self._error = e
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        if self.lifetime is not None:
            loop.call_later(self.lifetime, self._stop)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._shutdown())
            loop.close()

    async def _start(self):
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", 0, backlog=1024)
        self._port = self._server.sockets[0].getsockname()[1]

    def _stop(self):
        self._loop.stop()

    async def _shutdown(self):
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _handle(self, reader, writer):
        task = asyncio.current_task()
        self._tasks.add(task)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, version = lines[0].split(" ", 2)
                close = version == "HTTP/1.0" or any(
                    line.lower().startswith("connection:") and
                    "close" in line.lower() for line in lines[1:])
                with self._lock:
                    self._hits[target] += 1
                if self.latency:
                    await asyncio.sleep(self.latency)
                await self._respond(writer, method, target)
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, ValueError,
                asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _respond(self, writer, method, target):
        if target.split("?")[0] == "/big.bin":
            head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/octet-"
                    f"stream\r\nContent-Length: {BIG_SIZE}\r\n\r\n")
            writer.write(head.encode())
            if method != "HEAD":
                chunk = bytes(CHUNK)
                for _ in range(BIG_SIZE // CHUNK):
                    writer.write(chunk)
                    await writer.drain()
            await writer.drain()
            return
        page = self.site.page(target)
        if page is None:
            page = Page(404, "text/plain", b"no such page\n")
        head = [f"HTTP/1.1 {page.status} {_REASONS.get(page.status, 'X')}",
                f"Content-Length: {len(page.body)}"]
        if page.content_type:
            head.append(f"Content-Type: {page.content_type}")
        head += [f"{k}: {v}" for k, v in page.headers]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        if method != "HEAD":
            writer.write(page.body)
        await writer.drain()


_REASONS = {200: "OK", 301: "Moved Permanently", 302: "Found",
            404: "Not Found", 500: "Internal Server Error"}


class _FastProtocol(asyncio.Protocol):
    """One connection of serve_fast: parses request heads from the byte
    stream and answers each one `latency` seconds after it arrived."""

    def __init__(self, responses, latency):
        self.responses, self.latency = responses, latency
        self.buf = b""
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data):
        self.buf += data
        loop = asyncio.get_running_loop()
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buf = self.buf[:end], self.buf[end + 4:]
            line = head.split(b"\r\n", 1)[0].split(b" ")
            target = line[1] if len(line) == 3 else b""
            response = self.responses.get(target, _NOT_FOUND)
            if line[0] == b"HEAD":
                response = response[:response.index(b"\r\n\r\n") + 4]
            if self.latency:
                loop.call_later(self.latency, self._send, response)
            else:
                self._send(response)

    def _send(self, response):
        if not self.transport.is_closing():
            self.transport.write(response)


def _prepared(page):
    head = [f"HTTP/1.1 {page.status} {_REASONS.get(page.status, 'X')}",
            f"Content-Length: {len(page.body)}"]
    if page.content_type:
        head.append(f"Content-Type: {page.content_type}")
    head += [f"{k}: {v}" for k, v in page.headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + page.body


_NOT_FOUND = _prepared(Page(404, "text/plain", b"no such page\n"))


async def serve_fast(site, latency, ready, stop):
    """Serves the fixed pages of `site` (no endless routes) on 127.0.0.1
    until `stop` (an asyncio.Event) is set; calls ready(origin) first."""
    responses = {path.encode(): _prepared(page)
                 for path, page in site.pages.items()}
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: _FastProtocol(responses, latency), "127.0.0.1", 0,
        backlog=4096)
    ready(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
    await stop.wait()
    server.close()


def main(argv):
    parser = argparse.ArgumentParser(description="Serve a generated site.")
    parser.add_argument("--pages", type=int, default=10000)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args(argv)
    site = generated_site(args.pages)

    async def run():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        threading.Thread(target=lambda: (
            sys.stdin.read(), loop.call_soon_threadsafe(stop.set)),
            daemon=True).start()
        await serve_fast(site, args.latency,
                         lambda origin: print(origin, flush=True), stop)

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
