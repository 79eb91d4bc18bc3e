"""The crawlers that bench_crawl.py compares, each run in a child process.

    python3 bench/crawl_clients.py JOB.json

JOB.json holds {"client": name, "start": url, "max_pages": n,
"concurrency": c, "per_host": h}.  The child imports everything first, then
times only the crawl, and prints one JSON line: {"seconds", "cpu_user",
"cpu_system" (getrusage(RUSAGE_SELF) deltas: every thread of the child,
nothing of the server), "pages": pages fetched with status 200}.

Clients: ungil.crawl; ungil.fetch of the same pages as a list (the
transfers alone, for reference); Scrapy (bench/scrapy_spider.py); and the course
lab's crawler: worker threads of a ThreadPoolExecutor pulling URLs from a
queue, each fetching with requests (a Session per thread) and parsing with
BeautifulSoup, a lock around the seen-set.
"""

import json
import os
import queue
import resource
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urldefrag, urljoin, urlsplit

import harness


def ungil_crawl(start, max_pages, concurrency, per_host):
    ungil = harness.import_ungil()
    graph = ungil.crawl(start, max_pages=max_pages, concurrency=concurrency,
                        per_host=per_host, robots=False,
                        max_query_variants=0)
    return sum(node.status == 200 for node in graph.nodes)


def ungil_fetch(start, max_pages, concurrency, per_host):
    """Not a crawler: ungil.fetch of the site's pages /p/0.html ..
    /p/<max_pages - 1>.html, all known in advance (no parsing, no levels):
    what the server and the transfers alone allow."""
    ungil = harness.import_ungil()
    base = start.rsplit("/", 1)[0]
    urls = [f"{base}/{i}.html" for i in range(max_pages)]
    results = ungil.fetch(urls, concurrency=concurrency, per_host=per_host)
    return sum(r.status == 200 for r in results)


def scrapy_crawl(start, max_pages, concurrency, per_host):
    import scrapy_spider
    return scrapy_spider.crawl(start, max_pages, concurrency, per_host)


def lab_crawl(start, max_pages, concurrency, per_host):
    """The lab's design: workers pull URLs from a queue, fetch, parse, and
    put the new same-host links back."""
    import requests
    from bs4 import BeautifulSoup

    host = urlsplit(start).netloc
    todo = queue.Queue()
    seen = {start}
    lock = threading.Lock()
    state = {"pages": 0, "pending": 1}
    local = threading.local()
    todo.put(start)

    def worker():
        session = local.session = requests.Session()
        while True:
            url = todo.get()
            if url is None:
                return
            try:
                r = session.get(url, timeout=30)
                links = []
                if r.status_code == 200 and "html" in r.headers.get(
                        "Content-Type", ""):
                    soup = BeautifulSoup(r.text, "html.parser")
                    links = [urldefrag(urljoin(url, a["href"]))[0]
                             for a in soup.find_all("a", href=True)]
                with lock:
                    state["pages"] += r.status_code == 200
                    for link in links:
                        if (urlsplit(link).netloc == host and link not in seen
                                and len(seen) < max_pages):
                            seen.add(link)
                            state["pending"] += 1
                            todo.put(link)
            finally:
                with lock:
                    state["pending"] -= 1
                    if state["pending"] == 0:
                        for _ in range(concurrency):
                            todo.put(None)

    with ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(worker) for _ in range(concurrency)]:
            future.result()
    return state["pages"]


CLIENTS = {"ungil": ungil_crawl, "fetch": ungil_fetch, "scrapy": scrapy_crawl,
           "lab": lab_crawl}

PRELOAD = {
    "ungil": lambda: harness.import_ungil(),
    "fetch": lambda: harness.import_ungil(),
    "scrapy": lambda: __import__("scrapy_spider"),
    "lab": lambda: (__import__("requests"), __import__("bs4")),
}


def contender(client, start, max_pages, concurrency, per_host):
    """A harness contender: runs `client` in a child; checks that it
    fetched max_pages pages; returns (seconds, {"cpu_s", ...})."""
    def run():
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False,
                                         prefix="crawl-job-") as f:
            json.dump({"client": client, "start": start,
                       "max_pages": max_pages, "concurrency": concurrency,
                       "per_host": per_host}, f)
        try:
            out = subprocess.run([sys.executable, __file__, f.name],
                                 capture_output=True, text=True, timeout=1800)
        finally:
            os.unlink(f.name)
        if out.returncode:
            raise RuntimeError(f"{client} failed ({out.returncode}):\n"
                               f"{out.stderr[-4000:]}")
        res = json.loads(out.stdout.strip().splitlines()[-1])
        if res["pages"] < max_pages:
            raise RuntimeError(f"{client} fetched {res['pages']} pages, "
                               f"not {max_pages}")
        cpu = res["cpu_user"] + res["cpu_system"]
        return res["seconds"], {"cpu_s": cpu, "pages": res["pages"]}
    return run


def main(argv):
    with open(argv[0]) as f:
        job = json.load(f)
    PRELOAD[job["client"]]()
    u0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    pages = CLIENTS[job["client"]](job["start"], job["max_pages"],
                                   job["concurrency"], job["per_host"])
    seconds = time.perf_counter() - t0
    u1 = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"seconds": seconds, "pages": pages,
                      "cpu_user": u1.ru_utime - u0.ru_utime,
                      "cpu_system": u1.ru_stime - u0.ru_stime}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
