"""ungil.site: a small local website for the lab and the demo.

It serves generated, photo-like JPEG pictures and HTML pages that link to
each other and to the pictures, on 127.0.0.1 with a random port, adding a
configurable latency before every response, so that downloads and crawls
have something realistic to wait for without touching the internet.

One asyncio event loop on a background thread serves every connection
(HTTP/1.1 keep-alive, GET and HEAD).  The listening socket has a backlog of
1024 and every accepted socket has TCP_NODELAY: with Python's
ThreadingHTTPServer (backlog 5, Nagle on) a burst of a hundred connections
stalls and every response pays about 40 ms of delayed ACK, and the lab
would measure the server instead of the clients.  Latency is an
asyncio.sleep, so waiting responses overlap and the server stays cheap.
Pictures are made once, when the site starts.

Paths:
    /                   the home page: links to the first pages and pictures
    /page/<i>.html      page i of `pages`: links to a few other pages
                        (a fixed pattern, see Site.links) and two pictures
    /pictures/<i>.jpg   picture i of `pictures` (JPEG, `size` pixels)
    /robots.txt         allows everything
Anything else is a 404.

    with Site(pictures=20, latency=0.05) as site:
        urls = site.picture_urls()          # http://127.0.0.1:PORT/pictures/0.jpg ...
        start = site.url("/")               # the crawl's starting page
"""

import asyncio
import io
import math
import random
import socket
import threading

__all__ = ["Site", "make_picture"]

_MAX_HEAD = 16 * 1024


def make_picture(seed, size=(640, 480), quality=85, grain=None):
    """JPEG bytes of a photo-like picture: a sky gradient, a sun or moons,
    hills, softened edges and fine grain, different for every seed.

    grain: an "L" image of `size` to use as film grain (rolled by a
    seed-dependent offset); made here when None.  Sharing one between
    pictures makes each picture cheap (a few milliseconds).
    """
    from PIL import Image, ImageChops, ImageDraw, ImageFilter

    rng = random.Random(seed)
    width, height = size
    # Drawn at half size, softened and scaled up: smooth like a photo.
    small = (max(1, width // 2), max(1, height // 2))
    sw, sh = small
    sky_top = [rng.randrange(40, 140) for _ in range(3)]
    sky_low = [min(255, c + rng.randrange(60, 120)) for c in sky_top]
    sky = Image.linear_gradient("L").resize(small)
    image = Image.composite(Image.new("RGB", small, tuple(sky_low)),
                            Image.new("RGB", small, tuple(sky_top)), sky)
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randrange(2, 6)):
        r = rng.randrange(max(2, min(small) // 12), max(3, min(small) // 4))
        x, y = rng.randrange(sw), rng.randrange(max(1, sh // 2))
        colour = tuple(rng.randrange(256) for _ in range(3))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    for layer in range(3):
        base = sh * (0.55 + 0.12 * layer)
        phase, wave = rng.uniform(0, math.tau), rng.uniform(1.5, 4.0)
        points = [(x, base + sh * 0.08 * math.sin(phase + wave * x / sw))
                  for x in range(0, sw + 8, 8)]
        shade = 40 + 50 * layer
        colour = (shade // 2, shade + rng.randrange(40), shade // 3)
        draw.polygon(points + [(sw, sh), (0, sh)], fill=colour)
    image = image.filter(ImageFilter.BoxBlur(1)).resize(size,
                                                        Image.Resampling.BICUBIC)
    if grain is None:
        grain = Image.effect_noise(size, 24)
    grain = ImageChops.offset(grain, rng.randrange(width), rng.randrange(height))
    image = Image.blend(image, Image.merge("RGB", (grain, grain, grain)), 0.08)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


class Site:
    """The local website, serving from the moment the constructor returns.

    Site(pictures=20, pages=50, latency=0.05, size=(640, 480), seed=0,
         lifetime=600)

    pictures / pages: how many of each.  latency: seconds added before
    every response (readable and writable at any time).  size: pixels of
    every picture.  lifetime: seconds after which the site closes itself
    (None: never), so that a forgotten site cannot outlive its use.
    """

    def __init__(self, pictures=20, pages=50, latency=0.05, size=(640, 480),
                 seed=0, lifetime=600.0):
        if pictures < 0 or pages < 1:
            raise ValueError("pictures must be >= 0 and pages >= 1")
        if latency < 0:
            raise ValueError("latency must be >= 0")
        self.latency = float(latency)
        self.pages = pages
        grain = None
        if pictures:
            from PIL import Image
            grain = Image.effect_noise(size, 24)
        self._pictures = [make_picture(seed * 100003 + i, size, grain=grain)
                          for i in range(pictures)]
        self.hits = 0
        self._loop = asyncio.new_event_loop()
        self._server = None
        self._tasks = set()
        self._stopping = False
        ready = threading.Event()
        failure = []
        self._thread = threading.Thread(
            target=self._run, args=(ready, failure, lifetime),
            name="ungil.site", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        self.port = self._server.sockets[0].getsockname()[1]
        self.origin = f"http://127.0.0.1:{self.port}"

    # ---- the public side --------------------------------------------------

    @property
    def pictures(self):
        """Number of pictures served."""
        return len(self._pictures)

    def url(self, path="/"):
        """Absolute URL of `path` on this site."""
        return self.origin + path

    def picture_urls(self, n=None):
        """URLs of the first n pictures (all of them by default)."""
        n = self.pictures if n is None else n
        if n > self.pictures:
            raise ValueError(f"the site has {self.pictures} pictures, not {n}")
        return [self.url(f"/pictures/{i}.jpg") for i in range(n)]

    def picture(self, i):
        """The JPEG bytes served at /pictures/<i>.jpg."""
        return self._pictures[i]

    def links(self, i):
        """Indices of the pages that page i links to: its two children in a
        binary tree, the next page and one page further on, so a crawl from
        the home page reaches every page."""
        n = self.pages
        return sorted({j % n for j in (2 * i + 1, 2 * i + 2, i + 1, 7 * i + 3)}
                      - {i})

    def close(self):
        """Stops serving and joins the server thread.  Idempotent."""
        if self._thread.is_alive():
            try:
                self._loop.call_soon_threadsafe(self._stop)
            except RuntimeError:  # the loop closed itself meanwhile
                pass
        self._thread.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return (f"<ungil.site.Site {self.origin} pictures={self.pictures} "
                f"pages={self.pages} latency={self.latency}>")

    # ---- the server thread --------------------------------------------------

    def _run(self, ready, failure, lifetime):
        asyncio.set_event_loop(self._loop)
        try:
            self._server = self._loop.run_until_complete(asyncio.start_server(
                self._handle, "127.0.0.1", 0, backlog=1024, limit=_MAX_HEAD))
        except OSError as exc:
            failure.append(exc)
            ready.set()
            return
        if lifetime is not None:
            self._loop.call_later(lifetime, self._stop)
        ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    def _stop(self):
        if self._stopping:
            return
        self._stopping = True
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        self._loop.create_task(self._finish())

    async def _finish(self):
        await self._server.wait_closed()
        if self._tasks:
            await asyncio.wait(list(self._tasks))
        self._loop.stop()

    async def _handle(self, reader, writer):
        task = asyncio.current_task()
        self._tasks.add(task)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while await self._one_request(reader, writer):
                pass
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _one_request(self, reader, writer):
        """Serves one request; returns whether the connection stays open."""
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split()
        if len(parts) != 3:
            await self._respond(writer, 400, b"bad request\n", "text/plain",
                                close=True)
            return False
        method, target, version = parts
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        keep = (version == "HTTP/1.1"
                and headers.get("connection", "").lower() != "close")
        if headers.get("content-length", "0") != "0" or \
                "transfer-encoding" in headers:
            await self._respond(writer, 400, b"no request bodies here\n",
                                "text/plain", close=True)
            return False
        self.hits += 1
        if self.latency:
            await asyncio.sleep(self.latency)
        if method not in ("GET", "HEAD"):
            await self._respond(writer, 405, b"GET or HEAD only\n",
                                "text/plain", close=not keep)
            return keep
        status, body, ctype = self._route(target.split("?", 1)[0])
        await self._respond(writer, status, body, ctype, close=not keep,
                            head_only=method == "HEAD")
        return keep

    def _route(self, path):
        if path in ("/", "/index.html"):
            return 200, self._home().encode(), "text/html; charset=utf-8"
        if path == "/robots.txt":
            return 200, b"User-agent: *\nAllow: /\n", "text/plain"
        for prefix, suffix, count in (("/page/", ".html", self.pages),
                                      ("/pictures/", ".jpg", self.pictures)):
            if path.startswith(prefix) and path.endswith(suffix):
                number = path[len(prefix):-len(suffix)]
                if number.isdigit() and int(number) < count and \
                        str(int(number)) == number:
                    i = int(number)
                    if suffix == ".jpg":
                        return 200, self._pictures[i], "image/jpeg"
                    return 200, self._page(i).encode(), \
                        "text/html; charset=utf-8"
        return 404, b"not found\n", "text/plain"

    def _home(self):
        pages = "".join(f'<li><a href="/page/{i}.html">page {i}</a></li>'
                        for i in range(min(self.pages, 3)))
        pictures = "".join(f'<img src="/pictures/{i}.jpg" alt="picture {i}">'
                           for i in range(min(self.pictures, 3)))
        return (f"<!doctype html><html><head><title>ungil's local site"
                f"</title></head><body><h1>ungil's local site</h1>"
                f"<ul>{pages}</ul>{pictures}</body></html>")

    def _page(self, i):
        links = "".join(f'<li><a href="/page/{j}.html">page {j}</a></li>'
                        for j in self.links(i))
        pictures = ""
        if self.pictures:
            pictures = "".join(
                f'<img src="/pictures/{j % self.pictures}.jpg" alt="">'
                for j in (2 * i, 2 * i + 1))
        return (f"<!doctype html><html><head><title>page {i}</title></head>"
                f'<body><h1>page {i}</h1><p><a href="/">home</a></p>'
                f"<ul>{links}</ul>{pictures}</body></html>")

    async def _respond(self, writer, status, body, ctype, *, close,
                       head_only=False):
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found",
                  405: "Method Not Allowed"}[status]
        head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\n"
                f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n")
        writer.write(head.encode("latin-1"))
        if not head_only:
            writer.write(body)
        await writer.drain()
