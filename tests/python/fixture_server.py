"""A misbehaving HTTP/1.1 fixture server for the downloader tests and benchmarks.

Pure standard library.  One asyncio event loop in a background thread serves
127.0.0.1 on a random port, with a listen backlog of 1024 and TCP_NODELAY on
every accepted socket (Python's ThreadingHTTPServer has a backlog of 5 and
leaves Nagle on: a burst of connections stalls and every response pays about
40 ms of delayed ACK; see DESIGN.md, "Test servers and benchmarks").
Persistent connections (HTTP/1.1 keep-alive, pipelining), GET and HEAD on
every path, any method on ``/echo``.

Usage, from a test (``tests/python`` is on sys.path under pytest)::

    from fixture_server import FixtureServer, payload

    with FixtureServer(latency=0.0, lifetime=300) as srv:
        url = srv.url("/bytes/1000?seed=7")     # http://127.0.0.1:PORT/bytes/1000?seed=7
        ...                                    # fetch it with the code under test
        assert downloaded == payload(1000, seed=7)
        assert srv.hits("/bytes/1000") == 1

or with the pytest fixture: ``from fixture_server import http_fixture`` in a
test module, then take ``http_fixture`` as an argument (a fresh server per
test, closed afterwards).  From a bench script, load it by path::

    spec = importlib.util.spec_from_file_location(
        "fixture_server", REPO / "tests/python/fixture_server.py")
    fixture_server = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fixture_server)

API
---
``FixtureServer(latency=0.0, lifetime=300.0, keepalive_timeout=60.0, record=True)``
    Starts serving before the constructor returns.  ``latency`` is added
    before every response (seconds; also settable later: ``srv.latency = 0.1``).
    After ``lifetime`` seconds (None: never) the server shuts itself down,
    so a hung test cannot keep it alive.  Idle keep-alive connections are
    closed after ``keepalive_timeout``.  ``record=False`` keeps no request
    log (``hits`` still counts) for long benchmarks.
``srv.close()`` / ``with``
    Stops accepting, cancels every connection, frees the port and joins
    the thread (promptly, even mid-drip).  Idempotent.
``srv.url(path="/", host="127.0.0.1")``
    Absolute URL on this server; ``host="localhost"`` gives a different
    origin on the same server (for cross-origin checks).
``srv.host``, ``srv.port``, ``srv.origin``
``srv.latency``
    Seconds added before every response (read/write, any thread).
``srv.hits(path)``
    How many requests arrived for ``path``: without ``?``, any query
    counts; with ``?``, the exact request target only.
``srv.requests``
    A copy of the log, oldest first: ``Request`` objects with ``method``,
    ``target`` (path and query as sent), ``path`` (decoded), ``query``
    (dict, last value wins), ``version``, ``headers`` (case-insensitive:
    ``.get(name)``, ``.get_all(name)``, ``name in``), ``body`` (bytes),
    ``time`` (time.monotonic()), ``wall`` (time.time()), ``conn`` (serial
    number of the TCP connection: equal numbers mean a reused connection),
    and shortcuts ``range``, ``user_agent``, ``cookie``, ``authorization``,
    ``host``, ``referer`` (None when absent).
``srv.connections``
    How many TCP connections were accepted so far.
``srv.errors``
    Unexpected exceptions inside the server (should stay empty).
``srv.add_file(path, data, content_type="application/octet-stream", headers=None, status=200)``
    Serves ``data`` (bytes or str) at exactly ``path`` (query ignored),
    before any built-in route; Range and HEAD work; ``headers`` is a dict or
    a list of (name, value) pairs (repeat a name for several Set-Cookie).
    ``srv.remove_file(path)`` takes it away.
``srv.reset()``
    Clears the log, the hit counts and the fail/ratelimit counters.
``payload(n, seed=0, start=0, end=None)``
    The bytes ``/bytes/<n>?seed=<seed>`` serves (sliced to [start, end)).
    Content depends only on seed and offset: ``payload(10)`` is
    ``payload(20)[:10]``.  ``iter_payload`` yields it in 64 KiB pieces.
``gzip_payload(n, seed=0)``, ``gzip_bomb(mib=100)``
    The exact compressed bodies of ``/gzip/<n>`` and ``/gzip-bomb/<mib>``.
``DISPOSITIONS``
    kind -> Content-Disposition value of ``/disposition/<kind>``.

Paths
-----
Numbers in paths are decimal; <s> may be fractional seconds.  Query
parameters: ``seed`` (payload seed, default 0) wherever a body is made of
payload bytes; ``delay=<s>`` on ANY path sleeps before responding (added to
``srv.latency``).  <rest> is another path of this table (may hold slashes);
when omitted it is ``bytes/64``.  Unknown paths give 404; methods other than
GET/HEAD give 405 (except ``/echo`` and added files, which take any).

====================================  =========================================================
path                                  behaviour
====================================  =========================================================
/bytes/<n>                            200, ``payload(n, seed)``, Content-Length, Accept-Ranges,
                                      ETag, Last-Modified.  Range ``bytes=N-``, ``bytes=N-M``,
                                      ``bytes=-S``: 206 + Content-Range; start >= n: 416 +
                                      ``Content-Range: bytes */n``; several ranges or a bad
                                      header: the full 200.  If-Range not matching the ETag
                                      (or Last-Modified): the full 200.  Keep-alive.
/norange/<n>                          Like /bytes/<n> but ignores Range (always the full 200,
                                      no Accept-Ranges): resume must restart.
/eof/<n>                              200 without Content-Length, ``payload(n)``, then close
                                      (body delimited by EOF, as in HTTP/1.0).
/status/<code>                        Responds <code> (200-599) with body "<code> <reason>\\n"
                                      (no body for 204/304).  /status/404 is a plain 404.
/delay/<s>[/<rest>]                   Sleeps <s>, then serves /<rest> (or 200 "ok\\n").
/fail/<k>/<code>[/<rest>]             The first <k> requests for this exact target (path and
                                      query) get <code> (e.g. 500, 503); later ones get
                                      /<rest>.  Counters per target: vary the query (e.g.
                                      ``?t=1``) to get a fresh counter, or ``srv.reset()``.
/ratelimit/<k>/<s>[/<rest>]           First <k> requests for this target: 429 with
                                      ``Retry-After: <s>`` (as written, e.g. 1); then /<rest>.
/ratelimit-date/<k>/<s>[/<rest>]      Same, with ``Retry-After: <HTTP-date now + s>`` (1 s
                                      resolution: an HTTP-date has whole seconds).
/reset/<total>/<after>                Content-Length <total>, the first <after> payload bytes,
                                      then a TCP RST (SO_LINGER 0) once they left the kernel:
                                      the client reads <after> bytes, then ECONNRESET.
/reset-early                          RST right after reading the request (no response byte).
/close-early                          Clean close (FIN) without any response ("empty reply").
/truncate/<claimed>/<sent>            Content-Length <claimed>, only <sent> payload bytes,
                                      then a clean close (FIN).
/conflicting-length/<a>/<b>           Two headers ``Content-Length: <a>`` and
                                      ``Content-Length: <b>``; body ``payload(a)``; close.
/chunked/<n>                          Valid chunked ``payload(n)`` (``?chunk=<size>``, default
                                      4096) with the terminating 0-chunk.  Keep-alive.
/chunked-badsize/<n>                  Chunked: the first half of ``payload(n)`` in good
                                      chunks, then the size line ``zz`` and junk; close.
/chunked-noend/<n>                    Chunked: all of ``payload(n)`` but no terminating
                                      0-chunk; close.
/drip/<n>/<s>                         Content-Length <n>, then one payload byte every <s>
                                      seconds (first byte at once): below any sane
                                      low-speed limit (e.g. /drip/20/0.5).
/stall/<total>/<after>                Content-Length <total>, <after> payload bytes, then
                                      silence for ``?for=<s>`` (default 60), then close.
/redirect/<n>[/<rest>]                A chain of <n> redirects: /redirect/<n>/x ->
                                      /redirect/<n-1>/x -> ... -> /x (/redirect/0/x serves
                                      /x).  Status ``?code=`` (default 302); Location is
                                      absolute on the request's Host, ``?rel=1`` makes it a
                                      relative path.  The query string is carried along.
/redirect-loop[/a|/b]                 /redirect-loop/a -> /redirect-loop/b -> /redirect-loop/a
                                      forever (302; /redirect-loop goes to /a).
/redirect-to?url=<url>                302 to <url> exactly as given (percent-decoded once):
                                      any scheme, relative or absolute.  ``?code=`` as above.
/redirect-ftp                         302 to ftp://127.0.0.1:<port>/x  (non-http scheme).
/redirect-file                        302 to file:///etc/passwd.
/redirect-cross[/<rest>]              302 to the other origin of this server: Host
                                      127.0.0.1 -> http://localhost:<port>/<rest>, any other
                                      Host -> http://127.0.0.1:<port>/<rest>.  Check that
                                      Authorization/Cookie were dropped with /echo or
                                      ``srv.requests[-1].authorization``.
/redirect-nolocation                  302 without a Location header.
/gzip/<n>                             ``Content-Encoding: gzip`` of ``payload(n, seed)``
                                      (body == gzip_payload(n, seed); decodes to payload).
/gzip-bomb/<mib>                      ``Content-Encoding: gzip``: <mib> MiB of zeros; about
                                      1 KB on the wire per MiB (100 -> ~100 KB).  Built once
                                      per size (0.6 s for 100).
/disposition/<kind>                   200, body ``b"disposition:<kind>\\n"``, with the
                                      Content-Disposition of DISPOSITIONS[kind]:
                                      plain        attachment; filename="report.txt"
                                      traversal    attachment; filename="../../etc/passwd"
                                      encoded      attachment; filename*=UTF-8''%2e%2e%2fx
                                      absolute     attachment; filename="/etc/passwd"
                                      backslash    attachment; filename="..\\..\\windows\\win.ini"
                                      long         filename="aaa...a.bin" (``?len=``, 1000 a's)
                                      nul          attachment; filename*=UTF-8''evil%00.txt
                                      nul-raw      attachment; filename="evil<NUL byte>.txt"
                                      dotdot       attachment; filename=".."
                                      empty        attachment; filename=""
                                      both         filename="safe.txt" and
                                                   filename*=UTF-8''..%2F..%2Fevil.txt
                                      unicode      filename*=UTF-8''%E2%82%AC%20rates.txt
/disposition?value=<v>                Content-Disposition: <v> exactly (percent-decoded).
/huge-header/<n>                      200 with one header line ``X-Huge: aaa...`` of <n> bytes
                                      of value (1 MB: /huge-header/1048576).
/many-headers/<count>                 200 with <count> headers ``X-Fill-<i>: <i>``.
/garbage                              Writes ``this is not HTTP\\r\\n\\r\\n`` and closes.
/echo                                 Any method: 200 JSON of the request: method, target,
                                      path, query, version, headers (list of [name, value]),
                                      body (latin-1 text), conn.
====================================  =========================================================

Limits: request heads up to 1 MiB (else 431), request bodies up to 64 MiB
(Content-Length or chunked); ``Expect: 100-continue`` is answered.  The whole
server is one thread: payload bytes are made at about 250 MB/s (SHAKE-128)
and the last 16 MiB of 64 KiB blocks are cached, so it is for tests and
latency benchmarks, not throughput (that is nginx's job).  Fail/ratelimit
counters count every method (HEAD too).
Only 127.0.0.1 is bound: ``localhost`` works when it resolves to 127.0.0.1
(a client trying ::1 first gets a refusal and falls back).
"""

import asyncio
import email.utils
import fcntl
import gzip
import hashlib
import http
import itertools
import json
import socket
import struct
import termios
import threading
import time
import weakref
import zlib
from functools import lru_cache
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = [
    "FixtureServer", "Request", "Headers", "payload", "iter_payload",
    "gzip_payload", "gzip_bomb", "DISPOSITIONS", "BLOCK",
]

BLOCK = 65536
DEFAULT_REST = "bytes/64"
MAX_HEAD = 1 << 20
MAX_BODY = 64 << 20
LAST_MODIFIED = "Sat, 01 Jan 2000 00:00:00 GMT"


# ---------------------------------------------------------------------------
# Deterministic content

@lru_cache(maxsize=256)
def _block(seed, index):
    return hashlib.shake_128(
        b"ungil-fixture\0%s\0%d" % (seed.encode(), index)).digest(BLOCK)


def iter_payload(n, seed=0, start=0, end=None):
    """Yields payload(n, seed)[start:end] in pieces of at most 64 KiB."""
    seed = str(seed)
    end = n if end is None else min(end, n)
    pos = max(start, 0)
    while pos < end:
        index, offset = divmod(pos, BLOCK)
        take = min(BLOCK - offset, end - pos)
        block = _block(seed, index)
        yield block if take == BLOCK else block[offset:offset + take]
        pos += take


def payload(n, seed=0, start=0, end=None):
    """The n pseudo-random bytes that /bytes/<n>?seed=<seed> serves, sliced
    to [start, end).  SHAKE-128 of (seed, 64 KiB block number): stable
    across Python versions and machines, and a prefix of any longer one."""
    return b"".join(iter_payload(n, seed, start, end))


@lru_cache(maxsize=16)
def _gzip_payload(n, seed):
    return gzip.compress(payload(n, seed), mtime=0)


def gzip_payload(n, seed=0):
    """The body of /gzip/<n>?seed=<seed>: gzip of payload(n, seed)."""
    return _gzip_payload(n, str(seed))


@lru_cache(maxsize=4)
def gzip_bomb(mib=100):
    """The body of /gzip-bomb/<mib>: gzip of mib MiB of zero bytes."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    parts = [comp.compress(zeros) for _ in range(mib)]
    parts.append(comp.flush())
    return b"".join(parts)


DISPOSITIONS = {
    "plain": 'attachment; filename="report.txt"',
    "traversal": 'attachment; filename="../../etc/passwd"',
    "encoded": "attachment; filename*=UTF-8''%2e%2e%2fx",
    "absolute": 'attachment; filename="/etc/passwd"',
    "backslash": 'attachment; filename="..\\..\\windows\\win.ini"',
    "long": 'attachment; filename="' + "a" * 1000 + '.bin"',
    "nul": "attachment; filename*=UTF-8''evil%00.txt",
    "nul-raw": 'attachment; filename="evil\x00.txt"',
    "dotdot": 'attachment; filename=".."',
    "empty": 'attachment; filename=""',
    "both": ("attachment; filename=\"safe.txt\"; "
             "filename*=UTF-8''..%2F..%2Fevil.txt"),
    "unicode": "attachment; filename*=UTF-8''%E2%82%AC%20rates.txt",
}


# ---------------------------------------------------------------------------
# Requests

class Headers:
    """Request headers in arrival order, looked up case-insensitively."""

    __slots__ = ("_items",)

    def __init__(self, items):
        self._items = list(items)

    def get(self, name, default=None):
        name = name.lower()
        for key, value in self._items:
            if key.lower() == name:
                return value
        return default

    def get_all(self, name):
        name = name.lower()
        return [value for key, value in self._items if key.lower() == name]

    def __getitem__(self, name):
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name):
        return self.get(name) is not None

    def items(self):
        return list(self._items)

    def __iter__(self):
        return iter(self._items)

    def __len__(self):
        return len(self._items)

    def __repr__(self):
        return f"Headers({self._items!r})"


class Request:
    """One request as the server received it (see the module docstring)."""

    __slots__ = ("method", "target", "path", "query", "version", "headers",
                 "body", "time", "wall", "conn")

    def __init__(self, method, target, version, headers, conn):
        self.method = method
        self.target = target
        split = urlsplit(target)
        self.path = unquote(split.path) or "/"
        self.query = dict(parse_qsl(split.query, keep_blank_values=True))
        self.version = version
        self.headers = Headers(headers)
        self.body = b""
        self.time = time.monotonic()
        self.wall = time.time()
        self.conn = conn

    range = property(lambda self: self.headers.get("Range"))
    user_agent = property(lambda self: self.headers.get("User-Agent"))
    cookie = property(lambda self: self.headers.get("Cookie"))
    authorization = property(lambda self: self.headers.get("Authorization"))
    host = property(lambda self: self.headers.get("Host"))
    referer = property(lambda self: self.headers.get("Referer"))

    @property
    def keep_alive(self):
        tokens = {t.strip().lower()
                  for v in self.headers.get_all("Connection")
                  for t in v.split(",")}
        if self.version == "HTTP/1.1":
            return "close" not in tokens
        return "keep-alive" in tokens

    def __repr__(self):
        return (f"Request({self.method} {self.target} conn={self.conn} "
                f"headers={self.headers.items()!r})")


def _parse_head(data):
    lines = data.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return None
    if not parts[1].startswith("/"):
        # absolute-form (proxy style): keep only path and query
        split = urlsplit(parts[1])
        if not split.scheme:
            return None
        parts[1] = (split.path or "/") + ("?" + split.query if split.query
                                          else "")
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            return None
        headers.append((name, value.strip()))
    return parts[0], parts[1], parts[2], headers


class _BadRequest(Exception):
    pass


class _Close(Exception):
    """The handler already finished the connection (closed or reset)."""


def _reason(code):
    try:
        return http.HTTPStatus(code).phrase
    except ValueError:
        return "Unknown"


def _int(text, low=0, high=1 << 62):
    try:
        value = int(text, 10)
    except (TypeError, ValueError):
        raise _BadRequest(f"not a number: {text!r}") from None
    if not low <= value <= high:
        raise _BadRequest(f"out of range: {value}")
    return value


def _float(text):
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise _BadRequest(f"not a number: {text!r}") from None
    if not 0 <= value < 1e6:
        raise _BadRequest(f"out of range: {value}")
    return value


def _parse_range(value, total):
    """(start, end) exclusive, "unsatisfiable", or None (ignore the header)."""
    if not value or not value.startswith("bytes="):
        return None
    spec = value[6:].strip()
    if "," in spec:
        return None
    first, sep, last = spec.partition("-")
    first, last = first.strip(), last.strip()
    if not sep or not (first.isdigit() or (not first and last.isdigit())):
        return None
    if not first:
        suffix = int(last)
        if suffix == 0:
            return "unsatisfiable"
        return max(total - suffix, 0), total
    start = int(first)
    if last:
        if not last.isdigit() or int(last) < start:
            return None
        end = min(int(last) + 1, total)
    else:
        end = total
    if start >= total:
        return "unsatisfiable"
    return start, end


# ---------------------------------------------------------------------------
# Connections

class _Conn:
    def __init__(self, server, reader, writer, serial):
        self.server = server
        self.reader = reader
        self.writer = writer
        self.serial = serial

    def write(self, data):
        self.writer.write(data)

    async def drain(self):
        await self.writer.drain()

    def head(self, status, headers, reason=None):
        lines = [f"HTTP/1.1 {status} {reason or _reason(status)}",
                 "Server: ungil-fixture"]
        lines += [f"{name}: {value}" for name, value in headers]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def send(self, req, status, headers=(), body=b"", *,
                   content_type="text/plain; charset=utf-8", keep=True):
        """A well-formed response with Content-Length; returns keep-alive."""
        keep = keep and req.keep_alive
        headers = list(headers)
        if status not in (204, 304):
            headers.append(("Content-Type", content_type))
            headers.append(("Content-Length", str(len(body))))
        else:
            body = b""
        if not keep:
            headers.append(("Connection", "close"))
        elif req.version == "HTTP/1.0":
            headers.append(("Connection", "keep-alive"))
        data = self.head(status, headers)
        if req.method != "HEAD":
            data += body
        self.write(data)
        await self.drain()
        return keep

    async def send_stream(self, req, status, headers, length, chunks, *,
                          content_type="application/octet-stream"):
        """A response of `length` bytes taken from the iterable `chunks`."""
        keep = req.keep_alive
        headers = list(headers) + [("Content-Type", content_type),
                                   ("Content-Length", str(length))]
        if not keep:
            headers.append(("Connection", "close"))
        elif req.version == "HTTP/1.0":
            headers.append(("Connection", "keep-alive"))
        head = self.head(status, headers)
        if req.method == "HEAD":
            self.write(head)
        elif length <= BLOCK:
            self.write(head + b"".join(chunks))
        else:
            self.write(head)
            for chunk in chunks:
                self.write(chunk)
                await self.drain()
        await self.drain()
        return keep

    async def flush_all(self, timeout=2.0):
        """Waits until every written byte left asyncio and the kernel's send
        queue (so that a following RST does not discard them)."""
        transport = self.writer.transport
        transport.set_write_buffer_limits(0)
        await self.drain()
        sock = self.writer.get_extra_info("socket")
        deadline = time.monotonic() + timeout
        buf = bytearray(struct.calcsize("i"))
        while time.monotonic() < deadline:
            try:
                fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, buf)
            except OSError:
                return
            if struct.unpack("i", buf)[0] == 0:
                return
            await asyncio.sleep(0.001)

    async def reset(self):
        """Sends a TCP RST: SO_LINGER 0, then close."""
        await self.flush_all()
        sock = self.writer.get_extra_info("socket")
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                            struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.writer.transport.abort()
        raise _Close()

    async def close(self):
        """Flushes what was written, then a clean close (FIN)."""
        try:
            await self.drain()
        except ConnectionError:
            pass
        self.writer.close()
        raise _Close()


# ---------------------------------------------------------------------------
# The server

class FixtureServer:
    """The fixture server (see the module docstring)."""

    host = "127.0.0.1"

    def __init__(self, latency=0.0, lifetime=300.0, keepalive_timeout=60.0,
                 record=True):
        self.latency = float(latency)
        self.lifetime = lifetime
        self.keepalive_timeout = keepalive_timeout
        self.record = record
        self.port = None
        self.expired = False
        self.errors = []
        self._files = {}
        self._log = []
        self._lock = threading.Lock()
        self._path_hits = {}
        self._target_hits = {}
        self._counters = {}
        self._serials = itertools.count(1)
        self._accepted = 0
        self._tasks = set()
        self._transports = weakref.WeakSet()
        self._ready = threading.Event()
        self._start_error = None
        self._stop = None
        self._routes = {
            "bytes": self._r_bytes,
            "norange": self._r_norange,
            "eof": self._r_eof,
            "status": self._r_status,
            "delay": self._r_delay,
            "fail": self._r_fail,
            "ratelimit": self._r_ratelimit,
            "ratelimit-date": self._r_ratelimit,
            "reset": self._r_reset,
            "reset-early": self._r_reset_early,
            "close-early": self._r_close_early,
            "truncate": self._r_truncate,
            "conflicting-length": self._r_conflicting_length,
            "chunked": self._r_chunked,
            "chunked-badsize": self._r_chunked,
            "chunked-noend": self._r_chunked,
            "drip": self._r_drip,
            "stall": self._r_stall,
            "redirect": self._r_redirect,
            "redirect-loop": self._r_redirect_loop,
            "redirect-to": self._r_redirect_to,
            "redirect-ftp": self._r_redirect_ftp,
            "redirect-file": self._r_redirect_file,
            "redirect-cross": self._r_redirect_cross,
            "redirect-nolocation": self._r_redirect_nolocation,
            "gzip": self._r_gzip,
            "gzip-bomb": self._r_gzip_bomb,
            "disposition": self._r_disposition,
            "huge-header": self._r_huge_header,
            "many-headers": self._r_many_headers,
            "garbage": self._r_garbage,
            "echo": self._r_echo,
        }
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="fixture-server")
        self._thread.start()
        self._ready.wait()
        if self._start_error is not None:
            self._thread.join()
            self._thread = None
            raise self._start_error

    # -- public API --------------------------------------------------------

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<FixtureServer {self.origin}>"

    @property
    def origin(self):
        return f"http://{self.host}:{self.port}"

    def url(self, path="/", host=None):
        if not path.startswith("/"):
            path = "/" + path
        return f"http://{host or self.host}:{self.port}{path}"

    def hits(self, path):
        with self._lock:
            if "?" in path:
                return self._target_hits.get(path, 0)
            return self._path_hits.get(path, 0)

    @property
    def requests(self):
        with self._lock:
            return list(self._log)

    @property
    def connections(self):
        return self._accepted

    def add_file(self, path, data, content_type="application/octet-stream",
                 headers=None, status=200):
        if isinstance(data, str):
            data = data.encode()
        if isinstance(headers, dict):
            headers = list(headers.items())
        self._files[path] = (bytes(data), content_type, list(headers or ()),
                             int(status))

    def remove_file(self, path):
        self._files.pop(path, None)

    def reset(self):
        with self._lock:
            self._log.clear()
            self._path_hits.clear()
            self._target_hits.clear()
            self._counters.clear()

    def close(self):
        thread = self._thread
        if thread is None:
            return
        try:
            self._loop.call_soon_threadsafe(self._stop.set)
        except RuntimeError:
            pass  # the loop already ended (lifetime)
        thread.join(timeout=30)
        if thread.is_alive():
            raise RuntimeError("fixture server thread did not stop")
        self._thread = None

    # -- event loop --------------------------------------------------------

    def _run(self):
        loop = self._loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported to the caller
            if not self._ready.is_set():
                self._start_error = exc
            else:
                self.errors.append(exc)
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                asyncio.set_event_loop(None)
                loop.close()
                self._ready.set()

    async def _main(self):
        self._stop = asyncio.Event()
        server = await asyncio.start_server(
            self._handle, self.host, 0, backlog=1024, limit=MAX_HEAD,
            reuse_address=True)
        try:
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            try:
                await asyncio.wait_for(self._stop.wait(), self.lifetime)
            except asyncio.TimeoutError:
                self.expired = True
        finally:
            server.close()
            await self._cancel_connections()
            await server.wait_closed()

    async def _cancel_connections(self):
        """Cancels every connection handler, including those of connections
        accepted just before the listening socket closed, and aborts every
        transport, so that nothing outlives the loop."""
        current = asyncio.current_task()
        for _ in range(100):
            for _ in range(5):  # let accepted connections reach _handle
                await asyncio.sleep(0)
            handlers = list(self._tasks)
            for task in handlers:
                task.cancel()
            if handlers:
                await asyncio.gather(*handlers, return_exceptions=True)
                self._tasks.difference_update(handlers)
            for transport in list(self._transports):
                transport.abort()
            others = [t for t in asyncio.all_tasks()
                      if t is not current and not t.done()]
            if not others and not self._tasks:
                break
        for _ in range(5):  # let aborted transports close their sockets
            await asyncio.sleep(0)

    async def _handle(self, reader, writer):
        task = asyncio.current_task()
        self._tasks.add(task)
        self._accepted += 1
        self._transports.add(writer.transport)
        sock = writer.get_extra_info("socket")
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        conn = _Conn(self, reader, writer, next(self._serials))
        try:
            while True:
                req = await self._read_request(conn)
                if req is None:
                    break
                if not await self._respond(conn, req):
                    break
            writer.close()
        except _Close:
            pass
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError,
                asyncio.TimeoutError):
            writer.close()
        except asyncio.CancelledError:
            # Only close() cancels handlers.  Ending normally rather than
            # cancelled matters: Python 3.11's StreamReaderProtocol calls
            # task.exception() on the finished task, which raises (and logs)
            # for a cancelled one.
            writer.transport.abort()
        except Exception as exc:  # noqa: BLE001 - a bug in this file
            self.errors.append(exc)
            writer.transport.abort()
        finally:
            self._tasks.discard(task)

    async def _read_request(self, conn):
        reader = conn.reader
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"),
                                          self.keepalive_timeout)
        except asyncio.LimitOverrunError:
            conn.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                       b"Content-Length: 0\r\nConnection: close\r\n\r\n")
            return None
        except (asyncio.IncompleteReadError, ConnectionError,
                asyncio.TimeoutError):
            return None
        parsed = _parse_head(head.lstrip(b"\r\n"))
        if parsed is None:
            conn.write(b"HTTP/1.1 400 Bad Request\r\n"
                       b"Content-Length: 0\r\nConnection: close\r\n\r\n")
            return None
        req = Request(*parsed, conn.serial)
        length = req.headers.get("Content-Length")
        chunked = "chunked" in (req.headers.get("Transfer-Encoding") or "").lower()
        if (length not in (None, "0") or chunked) and \
                (req.headers.get("Expect") or "").lower() == "100-continue":
            conn.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if chunked:
            req.body = await self._read_chunked(reader)
        elif length is not None:
            if not length.isdigit() or int(length) > MAX_BODY:
                conn.write(b"HTTP/1.1 400 Bad Request\r\n"
                           b"Content-Length: 0\r\nConnection: close\r\n\r\n")
                return None
            req.body = await reader.readexactly(int(length))
        with self._lock:
            if self.record:
                self._log.append(req)
            self._path_hits[req.path] = self._path_hits.get(req.path, 0) + 1
            self._target_hits[req.target] = \
                self._target_hits.get(req.target, 0) + 1
        return req

    @staticmethod
    async def _read_chunked(reader):
        parts, size = [], 0
        while True:
            line = await reader.readuntil(b"\r\n")
            try:
                n = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise ConnectionError("bad chunk size in request") from None
            if n == 0:
                break
            size += n
            if size > MAX_BODY:
                raise ConnectionError("request body too large")
            parts.append(await reader.readexactly(n))
            await reader.readexactly(2)
        while (await reader.readuntil(b"\r\n")) != b"\r\n":
            pass  # trailers
        return b"".join(parts)

    async def _respond(self, conn, req):
        try:
            delay = self.latency + _float(req.query.get("delay", "0") or "0")
            if delay > 0:
                await asyncio.sleep(delay)
            return await self._route(conn, req, req.path)
        except _BadRequest as exc:
            return await conn.send(req, 400, body=f"{exc}\n".encode())

    async def _route(self, conn, req, path):
        entry = self._files.get(path)
        if entry is not None:
            return await self._serve_file(conn, req, *entry)
        parts = path.lstrip("/").split("/")
        handler = self._routes.get(parts[0])
        if handler is None:
            return await conn.send(req, 404, body=b"not found\n")
        if req.method not in ("GET", "HEAD") and parts[0] != "echo":
            return await conn.send(req, 405, [("Allow", "GET, HEAD")],
                                   b"method not allowed\n")
        return await handler(conn, req, parts[0], parts[1:])

    @staticmethod
    def _rest(args, start):
        rest = "/".join(args[start:])
        return "/" + (rest or DEFAULT_REST)

    def _count(self, key):
        with self._lock:
            self._counters[key] = count = self._counters.get(key, 0) + 1
        return count

    # -- routes ------------------------------------------------------------

    async def _serve_ranged(self, conn, req, total, piece, *, etag=None,
                            content_type="application/octet-stream",
                            headers=(), status=200):
        """200/206/416 for an entity of `total` bytes; piece(start, end)
        yields its bytes."""
        headers = list(headers) + [("Accept-Ranges", "bytes"),
                                   ("Last-Modified", LAST_MODIFIED)]
        if etag:
            headers.append(("ETag", etag))
        rng = None
        if status == 200:
            rng = _parse_range(req.range, total)
            if_range = req.headers.get("If-Range")
            if rng is not None and if_range is not None and \
                    if_range not in (etag, LAST_MODIFIED):
                rng = None
        if rng == "unsatisfiable":
            return await conn.send(req, 416, headers + [
                ("Content-Range", f"bytes */{total}")], b"")
        if rng is None:
            return await conn.send_stream(req, status, headers, total,
                                          piece(0, total),
                                          content_type=content_type)
        start, end = rng
        headers.append(("Content-Range", f"bytes {start}-{end - 1}/{total}"))
        return await conn.send_stream(req, 206, headers, end - start,
                                      piece(start, end),
                                      content_type=content_type)

    async def _serve_file(self, conn, req, data, content_type, headers,
                          status):
        etag = '"%s"' % hashlib.sha1(data).hexdigest()[:16]
        return await self._serve_ranged(
            conn, req, len(data),
            lambda s, e: [data[s:e]] if e - s <= BLOCK else
            (data[i:min(i + BLOCK, e)] for i in range(s, e, BLOCK)),
            etag=etag, content_type=content_type, headers=headers,
            status=status)

    def _seed(self, req):
        return req.query.get("seed", "0")

    async def _r_bytes(self, conn, req, name, args):
        n = _int(args[0] if args else None)
        seed = self._seed(req)
        etag = '"%s"' % hashlib.sha1(f"{n}\0{seed}".encode()).hexdigest()[:16]
        return await self._serve_ranged(
            conn, req, n, lambda s, e: iter_payload(n, seed, s, e), etag=etag)

    async def _r_norange(self, conn, req, name, args):
        n = _int(args[0] if args else None)
        return await conn.send_stream(req, 200, [], n,
                                      iter_payload(n, self._seed(req)))

    async def _r_eof(self, conn, req, name, args):
        n = _int(args[0] if args else None)
        conn.write(conn.head(200, [("Content-Type", "application/octet-stream"),
                                   ("Connection", "close")]))
        if req.method != "HEAD":
            for chunk in iter_payload(n, self._seed(req)):
                conn.write(chunk)
                await conn.drain()
        await conn.close()

    async def _r_status(self, conn, req, name, args):
        code = _int(args[0] if args else None, 200, 599)
        return await conn.send(req, code,
                               body=f"{code} {_reason(code)}\n".encode())

    async def _r_delay(self, conn, req, name, args):
        await asyncio.sleep(_float(args[0] if args else None))
        if len(args) > 1 and args[1]:
            return await self._route(conn, req, self._rest(args, 1))
        return await conn.send(req, 200, body=b"ok\n")

    async def _r_fail(self, conn, req, name, args):
        if len(args) < 2:
            raise _BadRequest("use /fail/<k>/<code>[/<rest>]")
        k = _int(args[0])
        code = _int(args[1], 200, 599)
        count = self._count(("fail", req.target))
        if count <= k:
            return await conn.send(
                req, code, body=f"failure {count} of {k}\n".encode())
        return await self._route(conn, req, self._rest(args, 2))

    async def _r_ratelimit(self, conn, req, name, args):
        if len(args) < 2:
            raise _BadRequest(f"use /{name}/<k>/<seconds>[/<rest>]")
        k = _int(args[0])
        seconds = _float(args[1])
        count = self._count((name, req.target))
        if count <= k:
            if name == "ratelimit":
                retry_after = args[1]
            else:
                retry_after = email.utils.formatdate(time.time() + seconds,
                                                     usegmt=True)
            return await conn.send(req, 429, [("Retry-After", retry_after)],
                                   f"rate limited {count} of {k}\n".encode())
        return await self._route(conn, req, self._rest(args, 2))

    async def _r_reset(self, conn, req, name, args):
        if len(args) != 2:
            raise _BadRequest("use /reset/<total>/<after>")
        total, after = _int(args[0]), _int(args[1])
        conn.write(conn.head(200, [("Content-Type", "application/octet-stream"),
                                   ("Content-Length", str(total))]))
        if req.method != "HEAD":
            for chunk in iter_payload(min(after, total), self._seed(req)):
                conn.write(chunk)
                await conn.drain()
        await conn.reset()

    async def _r_reset_early(self, conn, req, name, args):
        await conn.reset()

    async def _r_close_early(self, conn, req, name, args):
        await conn.close()

    async def _r_truncate(self, conn, req, name, args):
        if len(args) != 2:
            raise _BadRequest("use /truncate/<claimed>/<sent>")
        claimed, sent = _int(args[0]), _int(args[1])
        conn.write(conn.head(200, [("Content-Type", "application/octet-stream"),
                                   ("Content-Length", str(claimed)),
                                   ("Connection", "close")]))
        if req.method != "HEAD":
            for chunk in iter_payload(sent, self._seed(req)):
                conn.write(chunk)
                await conn.drain()
        await conn.close()

    async def _r_conflicting_length(self, conn, req, name, args):
        if len(args) != 2:
            raise _BadRequest("use /conflicting-length/<a>/<b>")
        a, b = _int(args[0]), _int(args[1])
        head = conn.head(200, [("Content-Type", "application/octet-stream"),
                               ("Content-Length", str(a)),
                               ("Content-Length", str(b)),
                               ("Connection", "close")])
        conn.write(head)
        if req.method != "HEAD":
            for chunk in iter_payload(a, self._seed(req)):
                conn.write(chunk)
                await conn.drain()
        await conn.close()

    async def _r_chunked(self, conn, req, name, args):
        n = _int(args[0] if args else None)
        size = _int(req.query.get("chunk", "4096"), 1, 1 << 24)
        keep = req.keep_alive and name == "chunked"
        headers = [("Content-Type", "application/octet-stream"),
                   ("Transfer-Encoding", "chunked")]
        if not keep:
            headers.append(("Connection", "close"))
        conn.write(conn.head(200, headers))
        if req.method == "HEAD":
            await conn.drain()
            return keep
        end = n // 2 if name == "chunked-badsize" else n
        seed = self._seed(req)
        for i in range(0, end, size):
            piece = payload(end, seed, i, i + size)
            conn.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await conn.drain()
        if name == "chunked":
            conn.write(b"0\r\n\r\n")
            await conn.drain()
            return keep
        if name == "chunked-badsize":
            conn.write(b"zz\r\nthis is not a chunk\r\n")
        await conn.close()

    async def _r_drip(self, conn, req, name, args):
        if len(args) != 2:
            raise _BadRequest("use /drip/<n>/<seconds>")
        n, interval = _int(args[0]), _float(args[1])
        conn.write(conn.head(200, [("Content-Type", "application/octet-stream"),
                                   ("Content-Length", str(n))]))
        await conn.drain()
        if req.method == "HEAD":
            return req.keep_alive
        data = payload(n, self._seed(req))
        for i in range(n):
            if i:
                await asyncio.sleep(interval)
            conn.write(data[i:i + 1])
            await conn.drain()
        return req.keep_alive

    async def _r_stall(self, conn, req, name, args):
        if len(args) != 2:
            raise _BadRequest("use /stall/<total>/<after>")
        total, after = _int(args[0]), _int(args[1])
        stall = _float(req.query.get("for", "60"))
        conn.write(conn.head(200, [("Content-Type", "application/octet-stream"),
                                   ("Content-Length", str(total))]))
        if req.method != "HEAD":
            conn.write(payload(min(after, total), self._seed(req)))
        await conn.drain()
        await asyncio.sleep(stall)
        await conn.close()

    async def _redirect(self, conn, req, location, code=None):
        code = _int(req.query.get("code", "302") if code is None else code,
                    300, 399)
        headers = [] if location is None else [("Location", location)]
        return await conn.send(req, code, headers,
                               f"redirect to {location}\n".encode())

    def _absolute(self, req, path):
        if req.query.get("rel") == "1":
            return path
        host = req.host or f"{self.host}:{self.port}"
        return f"http://{host}{path}"

    def _query(self, req):
        query = urlsplit(req.target).query
        return "?" + query if query else ""

    async def _r_redirect(self, conn, req, name, args):
        n = _int(args[0] if args else None, 0, 10000)
        rest = self._rest(args, 1)
        if n == 0:
            return await self._route(conn, req, rest)
        if n == 1:
            path = rest
        else:
            path = f"/redirect/{n - 1}{rest}"
        return await self._redirect(
            conn, req, self._absolute(req, path + self._query(req)))

    async def _r_redirect_loop(self, conn, req, name, args):
        other = "b" if args and args[0] == "a" else "a"
        return await self._redirect(
            conn, req, self._absolute(req, f"/redirect-loop/{other}"))

    async def _r_redirect_to(self, conn, req, name, args):
        url = req.query.get("url")
        if not url:
            raise _BadRequest("use /redirect-to?url=<url>")
        return await self._redirect(conn, req, url)

    async def _r_redirect_ftp(self, conn, req, name, args):
        return await self._redirect(conn, req,
                                    f"ftp://{self.host}:{self.port}/x")

    async def _r_redirect_file(self, conn, req, name, args):
        return await self._redirect(conn, req, "file:///etc/passwd")

    async def _r_redirect_cross(self, conn, req, name, args):
        host = (req.host or "").rsplit(":", 1)[0]
        other = "localhost" if host == self.host else self.host
        location = (f"http://{other}:{self.port}{self._rest(args, 0)}"
                    f"{self._query(req)}")
        return await self._redirect(conn, req, location)

    async def _r_redirect_nolocation(self, conn, req, name, args):
        return await self._redirect(conn, req, None)

    async def _r_gzip(self, conn, req, name, args):
        n = _int(args[0] if args else None, 0, 1 << 30)
        seed = self._seed(req)
        if n > (1 << 20):
            body = await asyncio.to_thread(gzip_payload, n, seed)
        else:
            body = gzip_payload(n, seed)
        return await conn.send(req, 200, [("Content-Encoding", "gzip")], body,
                               content_type="application/octet-stream")

    async def _r_gzip_bomb(self, conn, req, name, args):
        mib = _int(args[0] if args else "100", 1, 4096)
        # built off the loop (zlib releases the GIL): 0.6 s for 100 MiB
        body = await asyncio.to_thread(gzip_bomb, mib)
        return await conn.send(req, 200, [("Content-Encoding", "gzip")], body,
                               content_type="application/octet-stream")

    async def _r_disposition(self, conn, req, name, args):
        if args:
            kind = args[0]
            value = DISPOSITIONS.get(kind)
            if value is None:
                return await conn.send(req, 404, body=b"unknown kind\n")
            if kind == "long" and "len" in req.query:
                length = _int(req.query["len"], 1, 1 << 20)
                value = 'attachment; filename="' + "a" * length + '.bin"'
        else:
            kind = "raw"
            value = req.query.get("value")
            if value is None:
                raise _BadRequest("use /disposition/<kind> or ?value=")
        return await conn.send(req, 200, [("Content-Disposition", value)],
                               f"disposition:{kind}\n".encode(),
                               content_type="application/octet-stream")

    async def _r_huge_header(self, conn, req, name, args):
        n = _int(args[0] if args else None, 0, 1 << 30)
        return await conn.send(req, 200, [("X-Huge", "a" * n)], b"ok\n")

    async def _r_many_headers(self, conn, req, name, args):
        count = _int(args[0] if args else None, 0, 1 << 20)
        return await conn.send(req, 200,
                               [(f"X-Fill-{i}", str(i)) for i in range(count)],
                               b"ok\n")

    async def _r_garbage(self, conn, req, name, args):
        conn.write(b"this is not HTTP\r\n\r\n")
        await conn.close()

    async def _r_echo(self, conn, req, name, args):
        body = json.dumps({
            "method": req.method, "target": req.target, "path": req.path,
            "query": req.query, "version": req.version,
            "headers": [list(item) for item in req.headers.items()],
            "body": req.body.decode("latin-1"), "conn": req.conn,
        }, indent=1).encode()
        return await conn.send(req, 200, body=body,
                               content_type="application/json")


# ---------------------------------------------------------------------------
# pytest fixture (only when pytest is there: bench scripts may not have it)

try:
    import pytest
except ImportError:  # pragma: no cover
    pytest = None

if pytest is not None:
    @pytest.fixture
    def http_fixture():
        """A FixtureServer for one test, closed afterwards."""
        with FixtureServer() as srv:
            yield srv
