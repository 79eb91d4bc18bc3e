"""ungil.crawl and crawl_iter: a concurrent, polite crawler, in C.

The whole crawl (frontier, seen-set, robots.txt, politeness, streaming link
extraction, the link graph) runs on a native thread on one libcurl multi
loop (see src/core/crawl.c and docs/crawl.md); this module shapes its pages
into Page records, draws progress and hands over the graph.  The GIL is
never held by the crawl.
"""

import sys
import time
from typing import NamedTuple

from . import _ungil
from ._download import _dns_cache_seconds, _human, _proxy

__all__ = ["Crawl", "Page", "crawl", "crawl_iter"]

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
_SCOPES = {"host": 0, "prefix": 1}


class Page(NamedTuple):
    """One fetched page (an immutable named tuple, built in C).

    index: order of fetching.  url: normalised, as requested; final_url:
    after redirects.  status: last HTTP status (0 if none).  depth: link
    distance from the start URL.  title: the HTML <title> or None.
    content_type, bytes: of the response body (bytes counted for 2xx
    only).  links: the distinct links of the page (absolute, normalised, in
    document order; only for 2xx HTML pages), link_counts: how often each
    appears.  error: None, or one of "http", "network", "timeout",
    "too_big", "redirect", "protocol", "type" (content type not accepted),
    "url", "memory", "error"; message: the reason in words.
    """

    index: int
    url: str
    final_url: str
    status: int
    depth: int
    title: str | None
    content_type: str | None
    bytes: int
    links: tuple
    link_counts: tuple
    error: str | None
    message: str | None

    @property
    def ok(self):
        """True for a page that arrived whole with a 2xx status."""
        return self.error is None


class _PlainBar:
    """A one-line progress display on stderr, for when tqdm is missing."""

    def __init__(self):
        self.last = 0.0

    def update(self, pages, failed, queued, depth, nbytes, elapsed,
               force=False):
        now = time.monotonic()
        if now - self.last < 0.2 and not force:
            return
        self.last = now
        rate = pages / elapsed if elapsed > 0 else 0.0
        failed_text = f", {failed} failed" if failed else ""
        sys.stderr.write(f"\r{pages} pages{failed_text}, depth {depth}, "
                         f"{queued} queued, {_human(nbytes)}, "
                         f"{rate:.0f} pages/s ")
        sys.stderr.flush()

    def close(self):
        sys.stderr.write("\n")
        sys.stderr.flush()


class _TqdmBar:
    def __init__(self, tqdm):
        self.bar = tqdm(unit="page", dynamic_ncols=True)

    def update(self, pages, failed, queued, depth, nbytes, elapsed,
               force=False):
        self.bar.n = pages
        self.bar.set_postfix_str(
            f"depth {depth}, {queued} queued, {_human(nbytes)}"
            + (f", {failed} failed" if failed else ""), refresh=False)
        self.bar.refresh()

    def close(self):
        self.bar.close()


def _make_bar(kind):
    if kind == "plain":
        return _PlainBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return _PlainBar()
    return _TqdmBar(tqdm)


def _patterns(value, what):
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    value = list(value)
    for item in value:
        if not isinstance(item, str):
            raise TypeError(f"{what} must be a str or a list of str, "
                            f"not {type(item).__name__}")
    return value


class Crawl:
    """A running crawl: iterate it for Page records as pages complete;
    graph() gives the link graph once it is done.  Closing it (or leaving
    a ``with`` block, or Ctrl-C while iterating) stops the crawl within
    about 100 ms; graph() then holds what was learned."""

    def __init__(self, job, bar):
        self._job = job
        self._bar = bar
        self._snapshot = (0, 0, 0, 0, 0, 0, 0, 0.0)

    def __iter__(self):
        return self

    def __next__(self):
        try:
            while True:
                item = next(self._job)
                if item is not None:
                    return item
                snapshot = self._job.progress()
                if snapshot:
                    self._snapshot = snapshot
                    self._draw()
        except StopIteration:
            snapshot = self._job.progress()  # the engine's final counts
            if snapshot:
                self._snapshot = snapshot
            self._finish_bar()
            raise
        except BaseException:
            self.close()
            raise

    def _draw(self, force=False):
        if self._bar:
            pages, failed, queued, _, _, depth, nbytes, elapsed = \
                self._snapshot
            self._bar.update(pages, failed, queued, depth, nbytes, elapsed,
                             force)

    def _finish_bar(self):
        if self._bar:
            self._draw(force=True)
            self._bar.close()
            self._bar = None

    def close(self):
        """Stop the crawl (if still running) and wait for it."""
        self._job.close()
        self._finish_bar()

    def graph(self):
        """The link graph (an ungil.Graph), after the crawl ended or was
        closed.  Can be taken once."""
        return self._job.graph()

    @property
    def memory(self):
        """Bytes the seen-set and the frontier held at the end."""
        return self._job.memory

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def crawl_iter(start, **options):
    """Crawl from `start` (a URL, or a list of them) breadth-first; return
    a Crawl that yields a Page per fetched page as it completes.

    max_pages: pages fetched at most (None: no limit).  max_depth: link
    distance from a start URL (None: no limit).  concurrency / per_host:
    transfers in flight, in all and per host.  scope: "host" (the start
    URLs' hosts) or "prefix" (under a start URL's directory).  include /
    exclude: POSIX extended regular expressions searched in each normalised
    URL: a URL is followed only if it matches one include pattern (when
    given) and no exclude pattern.  content_types: type prefixes to
    download (e.g. ["text/html"]); other responses stop after their
    headers.  robots: obey robots.txt (Disallow, Allow, Crawl-delay up to
    max_crawl_delay seconds).  user_agent: sent with every request; its
    first word is the robots.txt product token (default "ungil/0.1 ...").
    delay: seconds between request starts to one host.  timeout,
    connect_timeout: seconds per transfer.  retries: extra attempts on
    5xx and network errors.  max_bytes: body cap (a larger body is cut
    and recorded with error "too_big").  max_query_variants: distinct
    URLs followed per host and path that differ only in their query (an
    infinite calendar stops there; 0: no limit).  proxy: as for
    ungil.download (None: from the environment).  dns_cache: seconds a DNS
    answer is reused, None (the default) for the whole crawl, as Scrapy's
    DNS cache keeps them.  progress: True for a progress bar (tqdm when
    installed), "plain" for a plain one.

    Defaults: max_pages=1000, concurrency=64, per_host=8, scope="host",
    robots=True, delay=0, max_crawl_delay=10, timeout=30,
    connect_timeout=10, retries=1, max_redirects=10, max_bytes=10 MiB
    (DEFAULT_MAX_BYTES), max_query_variants=1000, dns_cache=None.

    The pages fetched, and their depths, are those of a sequential
    breadth-first crawl, whatever order responses arrive in.
    """
    return _crawl_job(start, True, **options)


def _crawl_job(start, records, *, max_pages=1000, max_depth=None,
                concurrency=64,
                per_host=8, scope="host", include=None, exclude=None,
                content_types=None, robots=True, user_agent=None, delay=0.0,
                max_crawl_delay=10.0, timeout=30.0, connect_timeout=10.0,
                retries=1, max_redirects=10, max_bytes=DEFAULT_MAX_BYTES,
                max_query_variants=1000, ca_file=None, proxy=None,
                dns_cache=None, progress=False):
    """The Crawl behind crawl_iter and crawl; `records` False leaves the
    Page records out (crawl() returns only the graph, so the crawl thread
    neither copies pages nor wakes Python for them)."""
    seeds = [start] if isinstance(start, str) else list(start)
    if not seeds:
        raise ValueError("no start URL")
    if scope not in _SCOPES:
        raise ValueError(f"scope must be 'host' or 'prefix', not {scope!r}")
    if concurrency < 1 or per_host < 1:
        raise ValueError("concurrency and per_host must be at least 1")
    if max_pages is not None and max_pages < 1:
        raise ValueError("max_pages must be at least 1 (or None)")
    if max_bytes is not None and max_bytes < 1:
        raise ValueError("max_bytes must be at least 1 (or None)")
    options = {
        "concurrency": concurrency, "per_host": per_host,
        "max_pages": 0 if max_pages is None else max_pages,
        "max_depth": max_depth, "scope": _SCOPES[scope],
        "include": _patterns(include, "include"),
        "exclude": _patterns(exclude, "exclude"),
        "content_types": _patterns(content_types, "content_types"),
        "robots": int(bool(robots)), "user_agent": user_agent,
        "delay": delay, "max_crawl_delay": max_crawl_delay,
        "timeout": timeout, "connect_timeout": connect_timeout,
        "retries": retries, "max_redirects": max_redirects,
        "max_bytes": 0 if max_bytes is None else max_bytes,
        "max_query_variants": max_query_variants,
        "ca_file": ca_file, "proxy": _proxy(proxy),
        "dns_cache": _dns_cache_seconds(dns_cache),
        "progress": int(bool(progress)),
        "page_type": Page, "records": int(bool(records)),
    }
    job = _ungil._Crawl(seeds, options)
    return Crawl(job, _make_bar(progress) if progress else None)


def crawl(start, **options):
    """Crawl from `start` and return the link graph (an ungil.Graph): a
    node per URL met (fetched pages with status, depth, title, content
    type, bytes, error; links not followed with status 0 and the reason as
    their error) and an edge per link with its count.  Options as for
    crawl_iter.  Ctrl-C stops the crawl within a second."""
    with _crawl_job(start, False, **options) as job:
        for _ in job:
            pass
        return job.graph()
