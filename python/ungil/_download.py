"""ungil.download, download_iter and fetch: many transfers at once, in C.

All transfers run on one libcurl multi loop on a native thread (see
src/core/fetch.c); this module shapes its results into Result objects and
draws progress.  The GIL is never held by the transfers.
"""

import os
import sys
import time
from typing import NamedTuple

from . import _ungil

__all__ = ["DownloadError", "Result", "download", "download_iter", "fetch"]


class DownloadError(Exception):
    """A failed Result, raised by Result.raise_for_error()."""

    def __init__(self, result):
        super().__init__(f"{result.url}: {result.message or result.error}")
        self.result = result


class Result(NamedTuple):
    """What happened to one URL (an immutable named tuple, built in C).

    index: position in the input.  url / final_url: as given / after
    redirects.  status: last HTTP status (0 if none).  http_version: 1, 2
    or 3 (0 if no response).  bytes: body size
    after decoding.  path: the file written (None in memory or on error).
    body: the body, for fetch().  dns, connect, tls, first_byte, total:
    seconds from the start of the last attempt, from libcurl.  attempts: 1
    when no retry was needed.  error: None, or one of "url", "network",
    "http", "too_big", "redirect", "protocol", "checksum", "timeout", "io",
    "invalid", "memory"; message: the reason in words.
    """

    index: int
    url: str
    final_url: str | None
    status: int
    http_version: int
    bytes: int
    path: str | None
    body: bytes | None
    content_type: str | None
    dns: float
    connect: float
    tls: float
    first_byte: float
    total: float
    attempts: int
    error: str | None
    message: str | None

    @property
    def ok(self):
        """True when the body arrived whole and verified."""
        return self.error is None

    def raise_for_error(self):
        """Raise DownloadError if this URL failed; return self otherwise."""
        if self.error is not None:
            raise DownloadError(self)
        return self


class _PlainBar:
    """A one-line progress display on stderr, for when tqdm is missing."""

    def __init__(self, total):
        self.total = total
        self.last = 0.0

    def update(self, done, failed, nbytes, rate):
        now = time.monotonic()
        if now - self.last < 0.2 and done < self.total:
            return
        self.last = now
        failed_text = f", {failed} failed" if failed else ""
        sys.stderr.write(f"\r{done}/{self.total} files{failed_text}, "
                         f"{_human(nbytes)}, {_human(rate)}/s ")
        sys.stderr.flush()

    def close(self):
        sys.stderr.write("\n")
        sys.stderr.flush()


class _TqdmBar:
    def __init__(self, tqdm, total):
        self.bar = tqdm(total=total, unit="file", dynamic_ncols=True)

    def update(self, done, failed, nbytes, rate):
        self.bar.n = done
        self.bar.set_postfix_str(f"{_human(nbytes)}, {_human(rate)}/s"
                                 + (f", {failed} failed" if failed else ""),
                                 refresh=False)
        self.bar.refresh()

    def close(self):
        self.bar.close()


def _human(n):
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _make_bar(kind, total):
    if kind == "plain":
        return _PlainBar(total)
    try:
        from tqdm import tqdm
    except ImportError:
        return _PlainBar(total)
    return _TqdmBar(tqdm, total)


_HEX = frozenset("0123456789abcdefABCDEF")


def _as_list(values, what, n):
    if values is None:
        return None
    values = list(values)
    if len(values) != n:
        raise ValueError(f"{what} must have one entry per URL "
                         f"({len(values)} for {n} URLs)")
    return values


def _dns_cache_seconds(dns_cache):
    """The engine's DNS cache lifetime for the dns_cache option: whole
    seconds, or -1 for None (answers kept for the whole run)."""
    if dns_cache is None:
        return -1
    if isinstance(dns_cache, bool) or not isinstance(dns_cache, (int, float)) \
            or not dns_cache >= 0:
        raise ValueError(f"dns_cache must be seconds (0 or more) or None, "
                         f"not {dns_cache!r}")
    return int(dns_cache)


def _proxy(proxy):
    """The proxy option, checked: None, "" or a proxy URL."""
    if proxy is not None and not isinstance(proxy, str):
        raise TypeError(f"proxy must be a str or None, not {proxy!r}")
    if proxy and "\0" in proxy:
        raise ValueError(f"proxy holds a NUL: {proxy!r}")
    return proxy


def _check_digests(digests):
    for i, digest in enumerate(digests or ()):
        if digest is not None and (not isinstance(digest, str)
                                   or len(digest) != 64
                                   or not _HEX.issuperset(digest)):
            raise ValueError(f"sha256[{i}] must be 64 hex digits or None, "
                             f"not {digest!r}")
    return digests


def _start(urls, dest=None, *, names=None, sha256=None,
           concurrency=64, per_host=8, threads=None, retries=3, timeout=None,
           connect_timeout=10.0, low_speed=(1, 30), max_bytes=None,
           max_redirects=10, backoff=0.2, backoff_max=10.0,
           retry_after_max=30, content_disposition=False, resume=False,
           user_agent=None, ca_file=None, proxy=None, dns_cache=60,
           trace=None, progress=False, _batch=1):
    """Checks the options (documented on download_iter) and starts the
    engine; returns the _Download and its progress bar, or None for none.
    _batch: the engine wakes the consumer once that many results wait, or
    at the end, instead of for each one."""
    urls = [os.fspath(u) if not isinstance(u, str) else u for u in urls]
    n = len(urls)
    if dest is not None:
        dest = os.fspath(dest)
        os.makedirs(dest, exist_ok=True)
    low_bytes, low_seconds = low_speed
    options = {
        "concurrency": concurrency, "per_host": per_host,
        "threads": (os.cpu_count() or 1) if threads is None else threads,
        "retries": retries,
        "timeout": timeout, "connect_timeout": connect_timeout,
        "low_speed_bytes": low_bytes, "low_speed_time": low_seconds,
        "max_bytes": max_bytes, "max_redirects": max_redirects,
        "backoff": backoff, "backoff_max": backoff_max,
        "retry_after_max": retry_after_max,
        "content_disposition": int(bool(content_disposition)),
        "resume": int(bool(resume)), "user_agent": user_agent,
        "ca_file": os.fspath(ca_file) if ca_file is not None else None,
        "proxy": _proxy(proxy),
        "dns_cache": _dns_cache_seconds(dns_cache),
        "trace": trace,
        "progress": int(bool(progress)),
        "batch": _batch,
    }
    if concurrency < 1 or per_host < 1 or options["threads"] < 1:
        raise ValueError("concurrency, per_host and threads must be at "
                         "least 1")
    options["result_type"] = Result
    job = _ungil._Download(urls, dest, _as_list(names, "names", n),
                           _check_digests(_as_list(sha256, "sha256", n)),
                           options)
    return job, (_make_bar(progress, n) if progress else None)


def download_iter(urls, dest=None, **options):
    """Download `urls` concurrently; yield a Result per URL as each finishes.

    dest: directory for the files (created if missing); None keeps bodies
    in memory (Result.body).  names: a file name per URL (made safe), else
    taken from the URL path, or with content_disposition=True from that
    header.  sha256: an expected hex digest per URL (or None entries).
    concurrency / per_host: transfers in flight, in all and per host.
    threads: transfer loops, each on a native thread of its own with its
    share of those caps (None: one per CPU); more than one pays when many
    small bodies arrive faster than one core can write them.
    retries: extra attempts on connection errors, timeouts, 5xx and 429,
    with exponential backoff (backoff .. backoff_max seconds, jittered) or
    the server's Retry-After (at most retry_after_max seconds).  timeout:
    seconds for a whole attempt (None: no limit); connect_timeout;
    low_speed=(bytes, seconds): abort a transfer slower than that.
    max_bytes: cap on each decoded body.  resume: continue "<name>.part"
    files left by an earlier run with a Range request.  ca_file: a PEM
    bundle to trust instead of the system's.  proxy: the proxy for every
    transfer, as curl's --proxy takes it ("http://host:port",
    "socks5h://host:port"); None (the default) takes it from the
    environment as curl does (http_proxy, https_proxy, all_proxy,
    no_proxy); "" uses none.  dns_cache: seconds a DNS
    answer is reused (default 60, libcurl's; None: for the whole run, which
    saves libcurl's walk over its cache after every transfer when there
    are thousands of hosts; 0: not at all).  trace: an ungil.Trace that
    gets one bar per transfer (lanes "transfer N").  progress: True for a
    progress bar (tqdm when installed), "plain" for a plain one.

    Files appear under their final name only when complete and verified;
    Ctrl-C stops every transfer within about a second and leaves no
    final-named partial file.
    """
    job, bar = _start(urls, dest, **options)
    done = failed = nbytes = 0
    rate = 0.0
    try:
        for item in job:
            if item is None:
                snapshot = job.progress()
                if snapshot and bar:
                    _, _, _, _, _, rate, _ = snapshot
                    bar.update(done, failed, nbytes, rate)
                continue
            done += 1
            failed += item.error is not None
            nbytes += item.bytes
            yield item
        if bar:  # the last snapshot may predate the last results
            bar.update(done, failed, nbytes, rate)
    finally:
        job.close()
        if bar:
            bar.close()


# download() takes its results in batches of this many: a thread switch
# per batch instead of two per file, while it still turns them into Result
# objects as the transfers go on, straight into their place in the list.
_RESULT_BATCH = 256


def download(urls, dest, **options):
    """Download `urls` into directory `dest`; return a Result per URL, in
    input order.  One failed URL never stops the others: check
    Result.ok / Result.error.  Options as for download_iter."""
    job, bar = _start(urls, dest, _batch=_RESULT_BATCH, **options)
    results = [None] * job.total
    rate = 0.0
    try:
        while not job.collect(results):  # the engine put each at its index
            snapshot = job.progress()
            if snapshot and bar:
                done, _, failed, _, nbytes, rate, _ = snapshot
                bar.update(done, failed, nbytes, rate)
        if bar:
            bar.update(len(results),
                       sum(r.error is not None for r in results),
                       sum(r.bytes for r in results), rate)
    finally:
        job.close()
        if bar:
            bar.close()
    return results


def fetch(urls, **options):
    """Fetch `urls` into memory; return a Result per URL, in input order,
    with the body in Result.body.  Options as for download_iter."""
    return download(urls, None, **options)
