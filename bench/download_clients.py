"""The HTTP clients that the download benchmarks compare, one per function.

Every client gets a list of URLs and a list of file paths (one per URL) and
writes each body to its own file; none keeps bodies in memory.  A client
raises if any transfer fails, so a broken run never produces a figure.

The benchmarks run each client in a child process of its own, so that its
CPU time can be measured alone (and a client's threads or connections never
outlive its run):

    python3 bench/download_clients.py JOB.json

JOB.json holds {"client": name, "urls": [...], "paths": [...],
"options": {...}}.  The child imports everything first, then times only the
client call, and prints one JSON line: {"seconds": wall seconds,
"cpu_user": ..., "cpu_system": ... (getrusage(RUSAGE_SELF) deltas over the
call: every thread of the child, nothing of the server)}.
"""

import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import types

import harness

CONCURRENCY = 100


# ---- ungil ------------------------------------------------------------

def ungil_download(urls, paths, concurrency=CONCURRENCY, threads=None,
                   dns_cache=60):
    """ungil.download: libcurl multi loops on native threads (threads=None:
    one per CPU).  dns_cache: seconds a DNS answer is kept (its default),
    or None for the whole run."""
    ungil = harness.import_ungil()
    dest = os.path.dirname(paths[0])
    names = [os.path.basename(p) for p in paths]
    results = ungil.download(urls, dest, names=names,
                             concurrency=concurrency, per_host=concurrency,
                             threads=threads, dns_cache=dns_cache)
    bad = [r for r in results if not r.ok]
    if bad:
        raise RuntimeError(f"ungil: {len(bad)} failed, first: "
                           f"{bad[0].url}: {bad[0].error} {bad[0].message}")


def system_libcurl_version():
    """The version of the libcurl ungil is built against (pkg-config)."""
    return subprocess.run(["pkg-config", "--modversion", "libcurl"],
                          capture_output=True, text=True,
                          check=True).stdout.strip()


def pycurl_libcurl_dir(tmp_root):
    """A directory holding "libcurl.so.4", a link to the libcurl that
    pycurl's wheel bundles (beside its own OpenSSL and nghttp2), for running
    ungil on the same libcurl as pycurl through LD_LIBRARY_PATH; returns
    (that directory, pycurl's libs directory, the libcurl version)."""
    import pycurl
    libs = os.path.join(os.path.dirname(os.path.dirname(pycurl.__file__)),
                        "pycurl.libs")
    found = [n for n in os.listdir(libs) if n.startswith("libcurl")]
    if len(found) != 1:
        raise RuntimeError(f"pycurl's wheel holds {found}, not one libcurl")
    link_dir = tempfile.mkdtemp(prefix="pycurl-libcurl-", dir=tmp_root)
    os.symlink(os.path.join(libs, found[0]),
               os.path.join(link_dir, "libcurl.so.4"))
    version = pycurl.version_info()[1]
    return link_dir, libs, version


# ---- pycurl -----------------------------------------------------------

def pycurl_slots(pycurl, multi, urls, paths, handles, part=False,
                 options=()):
    """The easy handles of a pycurl client, `handles` of them recycled over
    `urls`: refill() gives each free handle the next URL and its file and
    adds it to `multi`; finished(c, error) closes the file, notes a failure
    (or renames a complete "<path>.part" to its path, part=True), removes
    the handle and frees it; active() counts the handles in `multi`;
    close() closes them all; check() raises if any transfer failed.  A
    client calls refill() after finishing transfers and before it waits
    (DESIGN.md: a loop that waits first leaves slots idle).  `options`:
    (option, value) pairs set on every handle."""
    free = []
    for _ in range(min(handles, len(urls))):
        c = pycurl.Curl()
        c.setopt(pycurl.NOSIGNAL, 1)
        for option, value in options:
            c.setopt(option, value)
        free.append(c)
    pool = list(free)
    todo = iter(range(len(urls)))
    active = 0
    failures = []

    def refill():
        nonlocal active
        while free:
            i = next(todo, None)
            if i is None:
                return
            c = free.pop()
            c.index = i
            c.file = open(paths[i] + ".part" if part else paths[i], "wb")
            c.setopt(pycurl.URL, urls[i])
            c.setopt(pycurl.WRITEDATA, c.file)
            multi.add_handle(c)
            active += 1

    def finished(c, error=None):
        nonlocal active
        c.file.close()
        status = c.getinfo(pycurl.RESPONSE_CODE)
        if error or status != 200:
            failures.append((urls[c.index], error or status))
        elif part:
            os.rename(paths[c.index] + ".part", paths[c.index])
        multi.remove_handle(c)
        active -= 1
        free.append(c)

    def close():
        for c in pool:
            c.close()

    def check():
        if failures:
            raise RuntimeError(f"pycurl: {len(failures)} failed, first: "
                               f"{failures[0]}")

    return types.SimpleNamespace(refill=refill, finished=finished,
                                 active=lambda: active, close=close,
                                 check=check)


def pycurl_multi(urls, paths, handles=CONCURRENCY, part=False):
    """pycurl's CurlMulti with `handles` easy handles, recycled
    (pycurl_slots), on a perform() and select() loop.  part=True: each
    body goes to "<path>.part", renamed to its path once complete, the
    file protocol ungil follows (a diagnostic of what that protocol
    costs)."""
    import pycurl

    multi = pycurl.CurlMulti()
    slots = pycurl_slots(pycurl, multi, urls, paths, handles, part)
    refill, finished, active = slots.refill, slots.finished, slots.active
    try:
        refill()
        while active():
            ret = pycurl.E_CALL_MULTI_PERFORM
            while ret == pycurl.E_CALL_MULTI_PERFORM:
                ret, _ = multi.perform()
            while True:
                queued, ok, err = multi.info_read()
                for c in ok:
                    finished(c)
                for c, _, message in err:
                    finished(c, message)
                refill()  # before waiting
                if not queued:
                    break
            if not active():
                break
            timeout_ms = multi.timeout()
            if timeout_ms != 0:
                multi.select(timeout_ms / 1000 if timeout_ms > 0 else 1.0)
    finally:
        slots.close()
        multi.close()
    slots.check()


def pycurl_socket(urls, paths, handles=CONCURRENCY, dns_cache_timeout=None):
    """pycurl's CurlMulti driven by socket_action on an epoll set, with
    `handles` easy handles recycled (pycurl_slots).  pycurl_multi's
    select() loop rests on curl_multi_fdset, which leaves out sockets
    numbered past FD_SETSIZE (1,024): with thousands of hosts, libcurl's
    idle connections push new sockets past it and select() sleeps out its
    timeout.  This loop has no such limit.  dns_cache_timeout:
    CURLOPT_DNS_CACHE_TIMEOUT (None: libcurl's 60 s; -1: kept for the
    run)."""
    import select

    import pycurl

    multi = pycurl.CurlMulti()
    epoll = select.epoll()
    watched = set()
    deadline = [None]  # when libcurl wants its timeout action, or None

    def on_socket(what, fd, _multi, _data):
        if what == pycurl.POLL_REMOVE:
            if fd in watched:
                watched.discard(fd)
                try:
                    epoll.unregister(fd)
                except OSError:
                    pass  # already closed: epoll dropped it
            return
        mask = ((select.EPOLLIN if what & pycurl.POLL_IN else 0)
                | (select.EPOLLOUT if what & pycurl.POLL_OUT else 0))
        try:
            if fd in watched:
                epoll.modify(fd, mask)
            else:
                epoll.register(fd, mask)
        except FileNotFoundError:  # closed, its number reused unannounced
            epoll.register(fd, mask)
        watched.add(fd)

    def on_timer(ms):
        deadline[0] = None if ms < 0 else time.monotonic() + ms / 1000

    multi.setopt(pycurl.M_SOCKETFUNCTION, on_socket)
    multi.setopt(pycurl.M_TIMERFUNCTION, on_timer)
    options = ([] if dns_cache_timeout is None
               else [(pycurl.DNS_CACHE_TIMEOUT, dns_cache_timeout)])
    slots = pycurl_slots(pycurl, multi, urls, paths, handles,
                         options=options)
    refill, finished, active = slots.refill, slots.finished, slots.active
    try:
        refill()
        while active():
            now = time.monotonic()
            if deadline[0] is not None and deadline[0] <= now:
                deadline[0] = None
                multi.socket_action(pycurl.SOCKET_TIMEOUT, 0)
            else:
                wait = 1.0 if deadline[0] is None else deadline[0] - now
                for fd, events in epoll.poll(wait):
                    mask = ((pycurl.CSELECT_IN if events & (
                        select.EPOLLIN | select.EPOLLHUP) else 0)
                        | (pycurl.CSELECT_OUT if events & select.EPOLLOUT
                           else 0)
                        | (pycurl.CSELECT_ERR if events & select.EPOLLERR
                           else 0))
                    multi.socket_action(fd, mask)
            queued = True
            while queued:
                queued, ok, err = multi.info_read()
                for c in ok:
                    finished(c)
                for c, _, message in err:
                    finished(c, message)
            refill()  # before waiting
    finally:
        slots.close()
        multi.close()
        epoll.close()
    slots.check()


# ---- aiohttp ----------------------------------------------------------

def aiohttp_download(urls, paths, limit=CONCURRENCY, semaphore=False):
    """aiohttp: one ClientSession, a connector limit of `limit`, one task per
    URL; each body is written with plain blocking file I/O (a local file
    write of a few KB).  Its resolver answers the *.localhost names of the
    many-host benchmark, which libcurl resolves by itself."""
    import asyncio

    import aiohttp
    from aiohttp.abc import AbstractResolver

    async def one(session, url, path):
        async with session.get(url) as response:
            response.raise_for_status()
            body = await response.read()
        with open(path, "wb") as f:
            f.write(body)

    async def bounded(gate, session, url, path):
        async with gate:
            await one(session, url, path)

    class LocalhostResolver(AbstractResolver):
        """Resolves "localhost" and "*.localhost" to 127.0.0.1, as
        libcurl does by itself (glibc resolves only "localhost"); other
        names fail."""

        async def resolve(self, host, port=0, family=socket.AF_INET):
            if host != "localhost" and not host.endswith(".localhost"):
                raise OSError(f"{host}: only *.localhost is resolved here")
            return [{"hostname": host, "host": "127.0.0.1", "port": port,
                     "family": socket.AF_INET, "proto": 0,
                     "flags": socket.AI_NUMERICHOST}]

        async def close(self):
            pass

    async def main():
        connector = aiohttp.TCPConnector(limit=limit,
                                         resolver=LocalhostResolver())
        async with aiohttp.ClientSession(connector=connector) as session:
            if semaphore:
                gate = asyncio.Semaphore(limit)
                await asyncio.gather(*(bounded(gate, session, u, p)
                                       for u, p in zip(urls, paths)))
            else:
                await asyncio.gather(*(one(session, u, p)
                                       for u, p in zip(urls, paths)))

    asyncio.run(main())


# ---- requests ---------------------------------------------------------

def requests_sequential(urls, paths):
    """requests, one URL after the other, on one Session (keep-alive)."""
    import requests

    with requests.Session() as session:
        for url, path in zip(urls, paths):
            response = session.get(url)
            response.raise_for_status()
            with open(path, "wb") as f:
                f.write(response.content)


def requests_pool(urls, paths, workers=CONCURRENCY):
    """ThreadPoolExecutor(workers), each worker thread with its own
    requests.Session (keep-alive; Session is not thread-safe)."""
    from concurrent.futures import ThreadPoolExecutor

    import requests

    local = threading.local()

    def one(url, path):
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        response = session.get(url)
        response.raise_for_status()
        with open(path, "wb") as f:
            f.write(response.content)

    with ThreadPoolExecutor(workers) as executor:
        for _ in executor.map(one, urls, paths):
            pass


def thread_per_url(urls, paths):
    """The course's version: one threading.Thread per URL running
    requests.get (a new connection each) and writing the file; start them
    all, join them all."""
    import requests

    errors = []

    def one(url, path):
        try:
            response = requests.get(url)
            response.raise_for_status()
            with open(path, "wb") as f:
                f.write(response.content)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append((url, exc))

    threads = [threading.Thread(target=one, args=(u, p))
               for u, p in zip(urls, paths)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"threads: {len(errors)} failed, first: "
                           f"{errors[0]}")


# ---- the parent side ---------------------------------------------------

def tmp_root():
    """Where the benchmarks put their files: $DL_TMP, else /dev/shm (a
    tmpfs) when there is one, else the system's temporary directory.  On
    this VM's ext4 disk, creating and writing a 20 KiB file costs 0.25 to
    0.4 ms of kernel time (2,000 files: 0.5-0.8 s of system CPU, against
    0.04 s on tmpfs), which would measure the disk rather than the
    clients."""
    root = os.environ.get("DL_TMP")
    if root:
        return root
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        return "/dev/shm"
    return None


def contender(client, urls, expect, options=None, tmp_root=None, env=None):
    """A harness contender running `client` on `urls` in a child process.

    Each run gets a fresh temporary directory, whose files the child names
    00000.bin, 00001.bin, ...; afterwards (outside the time) every file is
    checked with expect(paths) and the directory is removed.  Returns
    (seconds, {"cpu_s", "cpu_user", "cpu_system"}) as measured by the
    child.  `env`: variables to add to the child's environment.
    """
    def run():
        dest = tempfile.mkdtemp(prefix=f"dl-{client}-", dir=tmp_root)
        try:
            paths = [os.path.join(dest, f"{i:05d}.bin")
                     for i in range(len(urls))]
            with tempfile.NamedTemporaryFile(
                    "w", suffix=".json", prefix="dl-job-", dir=tmp_root,
                    delete=False) as f:
                json.dump({"client": client, "urls": urls, "paths": paths,
                           "options": options or {}}, f)
            try:
                out = subprocess.run([sys.executable, __file__, f.name],
                                     capture_output=True, text=True,
                                     timeout=600,
                                     env={**os.environ, **(env or {})})
            finally:
                os.unlink(f.name)
            if out.returncode:
                raise RuntimeError(f"{client} failed ({out.returncode}):\n"
                                   f"{out.stderr[-4000:]}")
            res = json.loads(out.stdout.strip().splitlines()[-1])
            expect(paths)
        finally:
            shutil.rmtree(dest, ignore_errors=True)
        cpu = res["cpu_user"] + res["cpu_system"]
        return res["seconds"], {"cpu_s": cpu, "cpu_user": res["cpu_user"],
                                "cpu_system": res["cpu_system"]}
    return run


def expect_files(expected, sample_every=1):
    """A check for contender(): every path exists with the size of
    expected(i) (a bytes object, or a path of a file to compare with), and
    every sample_every-th file has exactly its bytes."""
    def check(paths):
        for i, path in enumerate(paths):
            want = expected(i)
            if isinstance(want, (str, os.PathLike)):
                size = os.path.getsize(want)
                if i % sample_every == 0:
                    with open(want, "rb") as f:
                        want = f.read()
            else:
                size = len(want)
            try:
                got = os.path.getsize(path)
            except OSError:
                raise AssertionError(f"{path}: missing") from None
            if got != size:
                raise AssertionError(f"{path}: {got} bytes, not {size}")
            if i % sample_every == 0:
                with open(path, "rb") as f:
                    if f.read() != want:
                        raise AssertionError(f"{path}: wrong bytes")
    return check


def round_cpu(row, i):
    """Client CPU seconds per item of `row` in round i (for
    harness.paired_median)."""
    return row["extra"][i]["cpu_s"] / row["items"]


def cpu_summary(group):
    """Adds each contender's median client CPU seconds (and per item) to
    the rows of a harness group, from the runs' extras."""
    for row in group["contenders"]:
        cpu = [e["cpu_s"] for e in row.get("extra", ()) if "cpu_s" in e]
        if cpu:
            row["cpu_median"] = statistics.median(cpu)
            row["cpu_min"], row["cpu_max"] = min(cpu), max(cpu)
            row["cpu_us_per_item"] = row["cpu_median"] / row["items"] * 1e6
    return group


CLIENTS = {
    "ungil": ungil_download,
    "pycurl": pycurl_multi,
    "pycurl_socket": pycurl_socket,
    "aiohttp": aiohttp_download,
    "requests": requests_sequential,
    "requests_pool": requests_pool,
    "thread_per_url": thread_per_url,
}

# What each client imports, loaded before the clock starts.
PRELOAD = {
    "ungil": lambda: harness.import_ungil(),
    "pycurl": lambda: __import__("pycurl"),
    "pycurl_socket": lambda: (__import__("pycurl"), __import__("select")),
    "aiohttp": lambda: (__import__("asyncio"), __import__("aiohttp")),
    "requests": lambda: __import__("requests"),
    "requests_pool": lambda: (__import__("requests"),
                              __import__("concurrent.futures")),
    "thread_per_url": lambda: __import__("requests"),
}


def run_job(job):
    """Runs one client once; returns the dict the child prints."""
    name = job["client"]
    PRELOAD[name]()
    fn = CLIENTS[name]
    u0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    fn(job["urls"], job["paths"], **job.get("options", {}))
    seconds = time.perf_counter() - t0
    u1 = resource.getrusage(resource.RUSAGE_SELF)
    return {"seconds": seconds,
            "cpu_user": u1.ru_utime - u0.ru_utime,
            "cpu_system": u1.ru_stime - u0.ru_stime}


def main(argv):
    with open(argv[0]) as f:
        job = json.load(f)
    print(json.dumps(run_job(job)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
