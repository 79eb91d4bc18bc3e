"""Tests of the fixture server itself (tests/python/fixture_server.py).

Each misbehaviour is checked at the byte level with raw sockets, and through
http.client or urllib where a standard client shows the symptom a downloader
must handle (IncompleteRead, ConnectionResetError, ...).
"""

import email.utils
import gzip
import http.client
import importlib.util
import json
import pathlib
import selectors
import socket
import threading
import time
import urllib.error
import urllib.request
import zlib

import pytest

from fixture_server import (DISPOSITIONS, FixtureServer, gzip_bomb,
                            gzip_payload, payload)


def _threads():
    return set(threading.enumerate())


@pytest.fixture
def srv():
    """A server per test; afterwards: no error inside it, no thread left."""
    before = _threads()
    server = FixtureServer(lifetime=60)
    yield server
    server.close()
    assert server.errors == []
    assert _threads() - before == set()


def connect(srv, timeout=5.0):
    return socket.create_connection((srv.host, srv.port), timeout=timeout)


def raw(srv, path, method="GET", headers=(), timeout=5.0):
    """Sends one request (Connection: close) on a fresh socket and reads
    until EOF or an error.  Returns (head, body, exception or None)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {srv.host}:{srv.port}",
             "Connection: close", *(f"{k}: {v}" for k, v in headers)]
    data, error = b"", None
    with connect(srv, timeout) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError as exc:
            error = exc
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body, error


def header_values(head, name):
    prefix = name.lower().encode() + b":"
    return [line.split(b":", 1)[1].strip()
            for line in head.split(b"\r\n")[1:]
            if line.lower().startswith(prefix)]


def get(srv, path, method="GET", headers=None, timeout=5.0):
    """(status, headers message, body) through http.client."""
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=timeout)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.msg, resp.read()
    finally:
        conn.close()


# -- content, Range, HEAD -----------------------------------------------------

def test_payload_is_deterministic_and_prefix_stable():
    assert len(payload(200_000, seed=3)) == 200_000
    assert payload(200_000, seed=3) == payload(200_000, seed="3")
    assert payload(10, 3) == payload(200_000, 3)[:10]
    assert payload(200_000, 3, start=70_000, end=70_100) == \
        payload(200_000, 3)[70_000:70_100]
    assert payload(100, 1) != payload(100, 2)
    assert payload(0) == b""


def test_bytes_body_head_and_seed(srv):
    status, msg, body = get(srv, "/bytes/300000?seed=abc")
    assert status == 200
    assert body == payload(300_000, "abc")
    assert msg["Content-Length"] == "300000"
    assert msg["Accept-Ranges"] == "bytes"
    status, msg, body = get(srv, "/bytes/300000?seed=abc", method="HEAD")
    assert (status, msg["Content-Length"], body) == (200, "300000", b"")
    assert get(srv, "/bytes/0")[2] == b""


def test_range_requests(srv):
    n = 100_000
    full = payload(n)
    for rng, start, end in [("bytes=10-", 10, n), ("bytes=10-19", 10, 20),
                            ("bytes=-5", n - 5, n),
                            ("bytes=99990-200000", 99_990, n)]:
        status, msg, body = get(srv, f"/bytes/{n}", headers={"Range": rng})
        assert status == 206, rng
        assert body == full[start:end], rng
        assert msg["Content-Range"] == f"bytes {start}-{end - 1}/{n}"
    status, msg, body = get(srv, f"/bytes/{n}", headers={"Range": f"bytes={n}-"})
    assert (status, msg["Content-Range"], body) == (416, f"bytes */{n}", b"")
    # several ranges or garbage: the whole entity
    for rng in ("bytes=0-1,5-6", "items=0-5", "bytes=5-2"):
        status, _, body = get(srv, f"/bytes/{n}", headers={"Range": rng})
        assert (status, len(body)) == (200, n), rng
    # If-Range: a matching ETag keeps the range, another one does not
    etag = get(srv, f"/bytes/{n}", method="HEAD")[1]["ETag"]
    assert get(srv, f"/bytes/{n}", headers={
        "Range": "bytes=10-", "If-Range": etag})[0] == 206
    assert get(srv, f"/bytes/{n}", headers={
        "Range": "bytes=10-", "If-Range": '"other"'})[0] == 200
    # a different seed is a different entity
    assert get(srv, f"/bytes/{n}?seed=1", method="HEAD")[1]["ETag"] != etag
    # /norange ignores Range
    status, msg, body = get(srv, f"/norange/{n}", headers={"Range": "bytes=10-"})
    assert (status, body, msg["Accept-Ranges"]) == (200, full, None)


def test_eof_delimited_body(srv):
    head, body, error = raw(srv, "/eof/5000?seed=2")
    assert error is None
    assert head.startswith(b"HTTP/1.1 200 ")
    assert header_values(head, "Content-Length") == []
    assert body == payload(5000, 2)


def test_status_404_405_and_bad_requests(srv):
    assert get(srv, "/status/418")[0:3:2] == (418, b"418 I'm a Teapot\n")
    assert get(srv, "/status/503")[0] == 503
    assert get(srv, "/status/204")[0:3:2] == (204, b"")
    assert get(srv, "/no/such/path")[0] == 404
    assert get(srv, "/status/404")[0] == 404
    assert get(srv, "/bytes/10", method="POST")[0] == 405
    assert get(srv, "/bytes/ten")[0] == 400
    with connect(srv) as sock:
        sock.sendall(b"NONSENSE\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 400 ")
    with connect(srv) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 431 ")


# -- connections, concurrency, latency ----------------------------------------

def test_keep_alive_many_requests_on_one_connection(srv):
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=5)
    try:
        started = time.monotonic()
        for i in range(30):
            conn.request("GET", f"/bytes/{100 + i}")
            resp = conn.getresponse()
            assert resp.read() == payload(100 + i)
        elapsed = time.monotonic() - started
    finally:
        conn.close()
    assert srv.connections == 1
    assert {r.conn for r in srv.requests} == {srv.requests[0].conn}
    # 30 round trips with a 40 ms delayed ACK each would take 1.2 s
    assert elapsed < 0.6, elapsed


def test_pipelined_requests_are_answered_in_order(srv):
    with connect(srv) as sock:
        sock.sendall(b"".join(b"GET /bytes/%d HTTP/1.1\r\nHost: x\r\n\r\n" % n
                              for n in (5, 6, 7)))
        sock.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    for n in (5, 6, 7):
        response = b"Content-Length: %d\r\n\r\n%s" % (n, payload(n))
        assert response in data
    assert data.count(b"HTTP/1.1 200 OK") == 4
    assert srv.connections == 1


def test_http10_closes_and_idle_connections_stay_open(srv):
    with connect(srv) as sock:
        sock.sendall(b"GET /bytes/3 HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
        assert data.endswith(b"\r\n\r\n" + payload(3))
    with connect(srv) as sock:  # idle keep-alive connection: close() ends it
        sock.sendall(b"GET /bytes/3 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(4096).endswith(payload(3))


def test_burst_of_200_connections(srv):
    """200 connections opened at once (the listen backlog is 1024), then
    200 requests, all answered well within the bound."""
    count = 200
    started = time.monotonic()
    socks = [connect(srv) for _ in range(count)]
    try:
        sel = selectors.DefaultSelector()
        received = {}
        for i, sock in enumerate(socks):
            sock.sendall(b"GET /bytes/%d HTTP/1.1\r\nHost: x\r\n"
                         b"Connection: close\r\n\r\n" % (1000 + i))
            sock.setblocking(False)
            sel.register(sock, selectors.EVENT_READ, i)
            received[i] = b""
        open_ = count
        while open_:
            events = sel.select(timeout=max(0.1, 5 - (time.monotonic() - started)))
            assert events, "responses stalled"
            for key, _ in events:
                chunk = key.fileobj.recv(65536)
                if chunk:
                    received[key.data] += chunk
                else:
                    sel.unregister(key.fileobj)
                    open_ -= 1
        sel.close()
    finally:
        for sock in socks:
            sock.close()
    elapsed = time.monotonic() - started
    for i, data in received.items():
        assert data.startswith(b"HTTP/1.1 200 OK")
        assert data.endswith(b"\r\n\r\n" + payload(1000 + i))
    assert srv.connections == count
    assert elapsed < 5, elapsed


def test_200_concurrent_clients_with_keep_alive(srv):
    count, per_client = 200, 3
    errors, barrier = [], threading.Barrier(count)

    def client():
        conn = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
        try:
            barrier.wait(timeout=10)
            for _ in range(per_client):
                conn.request("GET", "/bytes/2000?seed=c")
                resp = conn.getresponse()
                if resp.status != 200 or resp.read() != payload(2000, "c"):
                    errors.append("bad response")
        except Exception as exc:  # noqa: BLE001 - collected for the assert
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=client) for _ in range(count)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    elapsed = time.monotonic() - started
    assert errors == []
    assert srv.hits("/bytes/2000") == count * per_client
    assert srv.connections == count
    assert elapsed < 5, elapsed


def test_latency_setting_and_delays(srv):
    def timed(path):
        started = time.monotonic()
        status = get(srv, path)[0]
        return status, time.monotonic() - started

    assert timed("/bytes/10")[1] < 0.1
    srv.latency = 0.15
    status, elapsed = timed("/bytes/10")
    assert status == 200 and 0.15 <= elapsed < 0.4
    srv.latency = 0.0
    status, elapsed = timed("/bytes/10?delay=0.2")
    assert status == 200 and 0.2 <= elapsed < 0.45
    status, elapsed = timed("/delay/0.2/status/201")
    assert status == 201 and 0.2 <= elapsed < 0.45
    with FixtureServer(latency=0.1, lifetime=30) as slow:
        started = time.monotonic()
        assert get(slow, "/delay/0")[2] == b"ok\n"
        assert 0.1 <= time.monotonic() - started < 0.35


def test_latency_applies_concurrently(srv):
    """100 concurrent requests with 0.2 s of latency take about 0.2 s, not
    100 x 0.2 s: the latency is per response, not a server-wide lock."""
    srv.latency = 0.2
    results = []
    threads = [threading.Thread(target=lambda: results.append(
        get(srv, "/bytes/10", timeout=10)[0])) for _ in range(100)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    elapsed = time.monotonic() - started
    assert results == [200] * 100
    assert 0.2 <= elapsed < 2.0, elapsed


# -- failures that a retry fixes ----------------------------------------------

def test_fail_then_succeed(srv):
    path = "/fail/2/503/bytes/50?seed=4"
    assert [get(srv, path)[0] for _ in range(4)] == [503, 503, 200, 200]
    assert get(srv, path)[2] == payload(50, 4)
    assert srv.hits("/fail/2/503/bytes/50") == 5
    assert srv.hits(path) == 5
    # a different query is a different target with its own counter
    assert get(srv, "/fail/1/500?t=2")[0] == 500
    assert get(srv, "/fail/1/500?t=2")[2] == payload(64)
    srv.reset()
    assert srv.hits(path) == 0 and srv.requests == []
    assert get(srv, path)[0] == 503


def test_ratelimit_retry_after_seconds_and_date(srv):
    status, msg, _ = get(srv, "/ratelimit/1/2/bytes/10")
    assert (status, msg["Retry-After"]) == (429, "2")
    status, msg, body = get(srv, "/ratelimit/1/2/bytes/10")
    assert (status, body) == (200, payload(10))

    status, msg, _ = get(srv, "/ratelimit-date/2/30")
    assert status == 429
    when = email.utils.parsedate_to_datetime(msg["Retry-After"]).timestamp()
    assert msg["Retry-After"].endswith(" GMT")
    assert abs(when - (time.time() + 30)) <= 2
    assert get(srv, "/ratelimit-date/2/30")[0] == 429
    assert get(srv, "/ratelimit-date/2/30")[0] == 200


# -- broken transfers ---------------------------------------------------------

@pytest.mark.parametrize("total,after", [(100_000, 30_000), (1000, 0)])
def test_reset_mid_body(srv, total, after):
    head, body, error = raw(srv, f"/reset/{total}/{after}?seed=r")
    assert header_values(head, "Content-Length") == [str(total).encode()]
    assert body == payload(after, "r")
    assert isinstance(error, ConnectionResetError)
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=5)
    try:
        conn.request("GET", f"/reset/{total}/{after}")
        with pytest.raises((http.client.IncompleteRead, ConnectionResetError)):
            conn.getresponse().read()
    finally:
        conn.close()


def test_reset_early_and_close_early(srv):
    head, body, error = raw(srv, "/reset-early")
    assert (head, body) == (b"", b"")
    assert isinstance(error, ConnectionResetError)
    head, body, error = raw(srv, "/close-early")
    assert (head, body, error) == (b"", b"", None)
    with pytest.raises(http.client.RemoteDisconnected):
        get(srv, "/close-early")
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
        get(srv, "/reset-early")


def test_content_length_longer_than_body(srv):
    head, body, error = raw(srv, "/truncate/1000/600?seed=t")
    assert error is None  # a clean FIN, not a reset
    assert header_values(head, "Content-Length") == [b"1000"]
    assert body == payload(600, "t")
    with pytest.raises(http.client.IncompleteRead) as info:
        get(srv, "/truncate/1000/600?seed=t")
    assert info.value.partial == payload(600, "t")
    assert info.value.expected == 400


def test_conflicting_content_lengths(srv):
    head, body, error = raw(srv, "/conflicting-length/10/20")
    assert error is None
    assert header_values(head, "Content-Length") == [b"10", b"20"]
    assert body == payload(10)


def test_chunked_valid_and_broken(srv):
    status, msg, body = get(srv, "/chunked/10000?chunk=999&seed=k")
    assert (status, msg["Transfer-Encoding"]) == (200, "chunked")
    assert body == payload(10_000, "k")
    head, body, error = raw(srv, "/chunked/5?chunk=2")
    assert body == b"2\r\n" + payload(2) + b"\r\n2\r\n" + payload(5)[2:4] + \
        b"\r\n1\r\n" + payload(5)[4:] + b"\r\n0\r\n\r\n"

    head, body, error = raw(srv, "/chunked-badsize/10000")
    assert error is None
    assert b"\r\nzz\r\n" in body and not body.endswith(b"0\r\n\r\n")
    with pytest.raises(http.client.IncompleteRead):
        get(srv, "/chunked-badsize/10000")

    head, body, error = raw(srv, "/chunked-noend/10000")
    assert error is None
    assert body.endswith(payload(10_000)[-(10_000 % 4096):] + b"\r\n")
    assert not body.endswith(b"0\r\n\r\n")
    with pytest.raises(http.client.IncompleteRead):
        get(srv, "/chunked-noend/10000")


def test_drip_is_slow(srv):
    with connect(srv) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /drip/4/0.2 HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while not data.endswith(b"\r\n\r\n") and b"\r\n\r\n" not in data:
            data += sock.recv(4096)
        head, _, body = data.partition(b"\r\n\r\n")
        arrivals = []
        while len(body) < 4:
            chunk = sock.recv(4096)
            assert chunk
            body += chunk
            arrivals.append(time.monotonic() - started)
    assert header_values(head, "Content-Length") == [b"4"]
    assert body == payload(4)
    assert arrivals[-1] >= 0.6
    assert len(arrivals) >= 3  # a byte at a time, not one burst


def test_stall_mid_body_then_close(srv):
    with connect(srv) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /stall/100/10?for=0.3 HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while len(data.partition(b"\r\n\r\n")[2]) < 10:
            data += sock.recv(4096)
        first = time.monotonic() - started
        assert sock.recv(4096) == b""
        last = time.monotonic() - started
    assert data.partition(b"\r\n\r\n")[2] == payload(10)
    assert first < 0.2 and last >= 0.3


# -- redirects ----------------------------------------------------------------

def test_redirect_chain(srv):
    status, msg, _ = get(srv, "/redirect/3/bytes/10?seed=z")
    assert status == 302
    assert msg["Location"] == srv.url("/redirect/2/bytes/10?seed=z")
    assert get(srv, "/redirect/1/bytes/10?seed=z")[1]["Location"] == \
        srv.url("/bytes/10?seed=z")
    assert get(srv, "/redirect/2?rel=1&code=307")[0] == 307
    assert get(srv, "/redirect/2?rel=1")[1]["Location"] == \
        "/redirect/1/bytes/64?rel=1"
    with urllib.request.urlopen(srv.url("/redirect/3/bytes/10?seed=z"),
                                timeout=5) as resp:
        assert resp.read() == payload(10, "z")
        assert resp.url == srv.url("/bytes/10?seed=z")
    assert srv.hits("/redirect/3/bytes/10") == 2
    assert srv.hits("/redirect/1/bytes/10") == 2


def test_redirect_loop(srv):
    assert get(srv, "/redirect-loop")[1]["Location"] == srv.url("/redirect-loop/a")
    assert get(srv, "/redirect-loop/a")[1]["Location"] == srv.url("/redirect-loop/b")
    assert get(srv, "/redirect-loop/b")[1]["Location"] == srv.url("/redirect-loop/a")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(srv.url("/redirect-loop"), timeout=5)
    info.value.close()
    assert info.value.code == 302


def test_redirects_to_other_schemes_and_nowhere(srv):
    assert get(srv, "/redirect-ftp")[1]["Location"] == \
        f"ftp://127.0.0.1:{srv.port}/x"
    assert get(srv, "/redirect-file")[1]["Location"] == "file:///etc/passwd"
    status, msg, _ = get(srv, "/redirect-to?url=file%3A%2F%2F%2Fetc%2Fshadow&code=301")
    assert (status, msg["Location"]) == (301, "file:///etc/shadow")
    status, msg, _ = get(srv, "/redirect-nolocation")
    assert (status, msg["Location"]) == (302, None)


def test_cross_origin_redirect(srv):
    status, msg, _ = get(srv, "/redirect-cross/echo?x=1")
    assert msg["Location"] == f"http://localhost:{srv.port}/echo?x=1"
    status, msg, _ = get(srv, "/redirect-cross",
                         headers={"Host": f"localhost:{srv.port}"})
    assert msg["Location"] == f"http://127.0.0.1:{srv.port}/bytes/64"
    # the other origin is served by the same server
    with urllib.request.urlopen(srv.url("/echo", host="localhost"),
                                timeout=5) as resp:
        assert json.load(resp)["path"] == "/echo"
    assert srv.requests[-1].host == f"localhost:{srv.port}"


# -- encodings, headers -------------------------------------------------------

def test_gzip_body(srv):
    status, msg, body = get(srv, "/gzip/5000?seed=g")
    assert (status, msg["Content-Encoding"]) == (200, "gzip")
    assert body == gzip_payload(5000, "g")
    assert gzip.decompress(body) == payload(5000, "g")
    body = get(srv, "/gzip/3000000")[2]  # large ones are built off the loop
    assert gzip.decompress(body) == payload(3_000_000)


def test_gzip_bomb(srv):
    status, msg, body = get(srv, "/gzip-bomb/100", timeout=10)
    assert (status, msg["Content-Encoding"]) == (200, "gzip")
    assert body == gzip_bomb(100)
    assert len(body) < 200_000
    inflater = zlib.decompressobj(31)
    size, rest = 0, body
    while rest:
        out = inflater.decompress(rest, 1 << 20)
        assert out.count(0) == len(out)
        size += len(out)
        rest = inflater.unconsumed_tail
    assert size == 100 << 20


def test_hostile_content_disposition(srv):
    for kind, value in DISPOSITIONS.items():
        head, body, _ = raw(srv, f"/disposition/{kind}")
        assert header_values(head, "Content-Disposition") == \
            [value.encode("latin-1")], kind
        assert body == f"disposition:{kind}\n".encode()
    assert b"\x00" in DISPOSITIONS["nul-raw"].encode()
    assert "%00" in DISPOSITIONS["nul"]
    head, _, _ = raw(srv, "/disposition/long?len=5000")
    assert header_values(head, "Content-Disposition") == \
        [b'attachment; filename="' + b"a" * 5000 + b'.bin"']
    head, _, _ = raw(srv, "/disposition?value=inline%3B%20filename%3D%22%2Fx%22")
    assert header_values(head, "Content-Disposition") == [b'inline; filename="/x"']


def test_huge_and_many_headers(srv):
    head, body, _ = raw(srv, "/huge-header/1048576")
    assert header_values(head, "X-Huge") == [b"a" * 1048576]
    assert body == b"ok\n"
    with pytest.raises(http.client.LineTooLong):
        get(srv, "/huge-header/1048576")
    head, _, _ = raw(srv, "/many-headers/500")
    assert header_values(head, "X-Fill-499") == [b"499"]
    assert head.count(b"\r\nX-Fill-") == 500
    with pytest.raises(http.client.HTTPException):
        get(srv, "/many-headers/500")


def test_garbage_response(srv):
    head, body, error = raw(srv, "/garbage")
    assert (head, body, error) == (b"this is not HTTP", b"", None)
    with pytest.raises(http.client.BadStatusLine):
        get(srv, "/garbage")


# -- log, files, echo ---------------------------------------------------------

def test_request_log_and_echo(srv):
    headers = {"User-Agent": "ungil-test/1", "Cookie": "a=1",
               "Authorization": "Bearer t", "Range": "bytes=0-3"}
    before = time.monotonic()
    get(srv, "/bytes/10?seed=1", headers=headers)
    status, _, body = get(srv, "/echo?q=1", method="POST",
                          headers={"Content-Type": "text/plain"})
    req = srv.requests[0]
    assert (req.method, req.target, req.path, req.query) == \
        ("GET", "/bytes/10?seed=1", "/bytes/10", {"seed": "1"})
    assert (req.user_agent, req.cookie, req.authorization, req.range) == \
        ("ungil-test/1", "a=1", "Bearer t", "bytes=0-3")
    assert req.headers["cookie"] == "a=1" and "RANGE" in req.headers
    assert req.host == f"127.0.0.1:{srv.port}" and req.referer is None
    assert before <= req.time <= time.monotonic()
    echoed = json.loads(body)
    assert (echoed["method"], echoed["query"]) == ("POST", {"q": "1"})
    assert ["Content-Type", "text/plain"] in echoed["headers"]

    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=5)
    try:  # request bodies: Content-Length and chunked
        conn.request("PUT", "/echo", body=b"hello")
        assert json.loads(conn.getresponse().read())["body"] == "hello"
        conn.request("POST", "/echo", body=iter([b"ab", b"cd"]),
                     encode_chunked=True)
        assert json.loads(conn.getresponse().read())["body"] == "abcd"
    finally:
        conn.close()
    assert srv.requests[-1].body == b"abcd"


def test_add_file(srv):
    data = bytes(range(256)) * 1000
    srv.add_file("/files/a.bin", data, headers=[("Set-Cookie", "a=1"),
                                                ("Set-Cookie", "b=2")])
    srv.add_file("/page.html", "<p>hi</p>", content_type="text/html",
                 headers={"X-Test": "yes"})
    srv.add_file("/gone", b"gone\n", status=410)
    status, msg, body = get(srv, "/files/a.bin?v=1")
    assert (status, body) == (200, data)
    assert msg.get_all("Set-Cookie") == ["a=1", "b=2"]
    status, msg, body = get(srv, "/files/a.bin", headers={"Range": "bytes=100-"})
    assert (status, body) == (206, data[100:])
    status, msg, body = get(srv, "/page.html")
    assert (status, msg["Content-Type"], msg["X-Test"], body) == \
        (200, "text/html", "yes", b"<p>hi</p>")
    assert get(srv, "/gone")[0:3:2] == (410, b"gone\n")
    srv.add_file("/bytes/10", b"override")
    assert get(srv, "/bytes/10")[2] == b"override"
    srv.remove_file("/bytes/10")
    assert get(srv, "/bytes/10")[2] == payload(10)
    srv.remove_file("/page.html")
    assert get(srv, "/page.html")[0] == 404


# -- lifecycle ----------------------------------------------------------------

def test_close_is_prompt_with_busy_connections():
    before = _threads()
    server = FixtureServer(lifetime=60)
    socks = []
    try:
        for path in ("/drip/100/1", "/stall/100/10?for=60", "/delay/60"):
            sock = connect(server)
            socks.append(sock)
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        idle = connect(server)
        socks.append(idle)
        idle.sendall(b"GET /bytes/1 HTTP/1.1\r\nHost: x\r\n\r\n")
        idle.recv(4096)
        time.sleep(0.1)
        started = time.monotonic()
        server.close()
        assert time.monotonic() - started < 1.0
        for sock in socks:  # every connection was ended
            sock.settimeout(2)
            try:
                while sock.recv(65536):
                    pass
            except ConnectionResetError:
                pass
        with pytest.raises(ConnectionRefusedError):
            connect(server).close()
        server.close()  # idempotent
    finally:
        for sock in socks:
            sock.close()
        server.close()
    assert server.errors == []
    assert _threads() - before == set()


def test_lifetime_ends_the_server():
    before = _threads()
    server = FixtureServer(lifetime=0.3)
    try:
        assert get(server, "/bytes/1")[0] == 200
        deadline = time.monotonic() + 5
        while server._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.expired
        with pytest.raises(ConnectionRefusedError):
            connect(server).close()
    finally:
        server.close()
    assert _threads() - before == set()


def test_loads_by_path_for_bench_scripts():
    path = pathlib.Path(__file__).with_name("fixture_server.py")
    spec = importlib.util.spec_from_file_location("fixture_server_by_path", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with module.FixtureServer(lifetime=30) as server:
        with urllib.request.urlopen(server.url("/bytes/100?seed=b"),
                                    timeout=5) as resp:
            assert resp.read() == payload(100, "b")
