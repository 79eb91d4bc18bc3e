"""Crawling a 10,000-page site: ungil.crawl against Scrapy and the course
lab's thread-pool crawler; the same crawl behind 50 ms of latency against
its ideal time; the memory of the seen-set and frontier per URL.

The site is tests/python/site_server.py's generated_site: pages /p/<i>.html
of about 1 kB with 10 links each (the children 8i+1 .. 8i+8 of an 8-ary
tree, so breadth-first reaches every page, plus random cross links).

1. Throughput: the pages are written as static files and served by nginx
   (bench_download_throughput.Nginx: one worker, keep-alive, access_log
   off).  Every crawler runs in a child process (bench/crawl_clients.py)
   that measures the wall time of the crawl and its own CPU time, with the
   same limits: max pages, concurrency 64 in total and per host, robots.txt
   off, no delay (Scrapy: AutoThrottle off, retries off, log WARNING,
   breadth-first FIFO queues).  ungil crawls all the pages; the slow peers
   crawl a fixed breadth-first prefix of the same site (same start, same
   limits, max pages lower): Scrapy 2,000 pages, the lab crawler
   (ThreadPoolExecutor workers pulling from a queue, requests +
   BeautifulSoup) 1,000, so that the benchmark takes minutes, not a
   quarter of an hour.  They compare by pages per second and CPU per page.
   Target: ungil >= 20x Scrapy's pages/s.

2. Latency: the same site from a Python asyncio server in a process of its
   own (site_server.py --latency 0.05: 50 ms before every response; an
   asyncio Protocol with every response prepared and one timer per
   request, a few microseconds of server CPU per request), ungil at
   concurrency 64.  The ideal time of a breadth-first crawl is one
   latency per round of 64 requests, level by level, since a level's links
   are only known when its pages are in:  ideal = sum over depth levels d
   of ceil(pages_d / 64) * 50 ms.  (pages / 64 * 50 ms, without levels,
   is also reported; it ignores that a BFS cannot start level d + 1 early.)
   Target: ungil within 1.15x of the ideal.  ungil.fetch of the same URLs
   as a flat list is run too, as a reference for what the server allows.

3. Memory: tests/c/test_crawl's million_urls_memory adds 1,000,000 URLs to
   a seen-set and a frontier level and prints bytes per URL (the seen-set
   keeps an 8-byte hash per URL; the frontier keeps the URL text in an
   arena plus a 16-byte entry).

Environment: CRAWL_PAGES (10000), CRAWL_SCRAPY_PAGES (2000), CRAWL_LAB_PAGES
(1000), CRAWL_LATENCY_PAGES (10000), BENCH_ROUNDS.
"""

import importlib.util
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import crawl_clients
import download_clients
import harness
from bench_download_throughput import Nginx

N_PAGES = int(os.environ.get("CRAWL_PAGES", "10000"))
N_SCRAPY = min(N_PAGES, int(os.environ.get("CRAWL_SCRAPY_PAGES", "2000")))
N_LAB = min(N_PAGES, int(os.environ.get("CRAWL_LAB_PAGES", "1000")))
N_LATENCY = int(os.environ.get("CRAWL_LATENCY_PAGES", "10000"))
CONCURRENCY = 64
LATENCY = 0.05
TARGET_SCRAPY = 20.0
TARGET_IDEAL = 1.15


def load_site_server():
    spec = importlib.util.spec_from_file_location(
        "site_server", harness.ROOT / "tests/python/site_server.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bfs_levels(site, start, max_pages):
    """Pages per depth level of a breadth-first crawl of `site` from
    `start`, cut at max_pages (in BFS order)."""
    seen, level, levels, total = {start}, [start], [], 0
    while level and total < max_pages:
        level = level[:max_pages - total]
        levels.append(len(level))
        total += len(level)
        nxt = []
        for path in level:
            for href in site.pages[path].links:
                if href not in seen:
                    seen.add(href)
                    nxt.append(href)
        level = nxt
    return levels


def throughput_group(site_server):
    work = Path(tempfile.mkdtemp(prefix="bench-crawl-"))
    nginx = None
    try:
        site = site_server.generated_site(N_PAGES)
        site_server.write_static(site, work / "root")
        nginx = Nginx(work / "root", work / "nginx")
        start = nginx.url("/p/0.html")
        with urllib.request.urlopen(start) as r:
            assert r.read() == site.pages["/p/0.html"].body

        def C(label, client, n):
            return harness.Contender(
                label, crawl_clients.contender(client, start, n, CONCURRENCY,
                                               CONCURRENCY), n, "pages")

        names = {
            "ungil": f"ungil.crawl (concurrency {CONCURRENCY})",
            "scrapy": f"Scrapy (CONCURRENT_REQUESTS {CONCURRENCY})",
            "lab": f"lab: ThreadPoolExecutor({CONCURRENCY}) + requests + bs4",
        }
        group = harness.run_group(
            f"{N_PAGES:,}-page site from local nginx, robots off",
            [C(names["ungil"], "ungil", N_PAGES),
             C(names["scrapy"], "scrapy", N_SCRAPY),
             C(names["lab"], "lab", N_LAB)],
            baseline=names["scrapy"])
    finally:
        if nginx:
            nginx.stop()
        shutil.rmtree(work, ignore_errors=True)
    download_clients.cpu_summary(group)
    return group, names


def latency_group(site_server):
    site = site_server.generated_site(N_LATENCY)
    levels = bfs_levels(site, "/p/0.html", N_LATENCY)
    ideal = sum(math.ceil(n / CONCURRENCY) for n in levels) * LATENCY
    flat = N_LATENCY / CONCURRENCY * LATENCY
    server = subprocess.Popen(
        [sys.executable, str(harness.ROOT / "tests/python/site_server.py"),
         "--pages", str(N_LATENCY), "--latency", str(LATENCY)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        origin = server.stdout.readline().strip()
        if not origin.startswith("http://"):
            raise RuntimeError("site_server.py did not start")
        start = origin + "/p/0.html"
        ungil_name = f"ungil.crawl (concurrency {CONCURRENCY})"
        ideal_name = "ideal BFS (one latency per 64 requests per level)"
        fetch_name = (f"ungil.fetch of the same {N_LATENCY:,} URLs, known in "
                      "advance (reference)")
        group = harness.run_group(
            f"{N_LATENCY:,} pages, {LATENCY * 1000:.0f} ms added per "
            "response (asyncio server)",
            [harness.Contender(ungil_name, crawl_clients.contender(
                "ungil", start, N_LATENCY, CONCURRENCY, CONCURRENCY),
                N_LATENCY, "pages"),
             harness.Contender(fetch_name, crawl_clients.contender(
                 "fetch", start, N_LATENCY, CONCURRENCY, CONCURRENCY),
                 N_LATENCY, "pages"),
             harness.Contender(ideal_name, lambda: ideal, N_LATENCY, "pages")],
            baseline=ideal_name)
    finally:
        server.stdin.close()
        server.terminate()
        server.wait(30)
    return group, ungil_name, fetch_name, ideal, flat, levels


def memory_per_url():
    """(seen-set, frontier) bytes per URL for 1,000,000 URLs, from the C
    test's measurement."""
    exe = harness.build_dir() / "tests/c/test_crawl"
    out = subprocess.run([str(exe), "million_urls_memory"],
                         capture_output=True, text=True, timeout=300)
    m = re.search(r"(\d+) URLs \(([\d.]+) bytes long on average\): seen-set "
                  r"([\d.]+) bytes per URL, frontier ([\d.]+)", out.stdout)
    if out.returncode or not m:
        raise RuntimeError(f"test_crawl failed:\n{out.stdout}{out.stderr}")
    return (int(m.group(1)), float(m.group(2)), float(m.group(3)),
            float(m.group(4)))


def main():
    facts = harness.machine()
    site_server = load_site_server()
    group, names = throughput_group(site_server)
    lat, lat_name, fetch_name, ideal, flat, levels = latency_group(site_server)
    n_urls, url_len, seen_b, frontier_b = memory_per_url()
    ungil_row = harness.find(group, names["ungil"])
    scrapy_row = harness.find(group, names["scrapy"])
    lab_row = harness.find(group, names["lab"])
    lat_row = harness.find(lat, lat_name)
    fetch_row = harness.find(lat, fetch_name)
    targets = [
        harness.target("ungil pages/s vs Scrapy", ungil_row["ratio"],
                       TARGET_SCRAPY),
        harness.target("ungil time vs the ideal BFS time at 50 ms latency",
                       lat_row["median"] / ideal, TARGET_IDEAL, op="<="),
    ]
    notes = [
        f"Site: {N_PAGES:,} pages of about 1 kB, 10 links each; BFS levels "
        f"of the latency run: {levels}.",
        "Each crawler runs in a child process; time and client CPU "
        "(getrusage of the child: all its threads, the server excluded) "
        "cover the crawl call only. Client CPU per page: " + ", ".join(
            f"{r['name']}: {r.get('cpu_us_per_item', float('nan')):.0f} us"
            for r in group["contenders"]) + ".",
        f"Same limits for all: max pages, concurrency {CONCURRENCY} in "
        f"total and per host, robots.txt off, no delay. ungil crawls all "
        f"{N_PAGES:,} pages; Scrapy crawls the first {N_SCRAPY:,} and the lab "
        f"crawler the first {N_LAB:,} pages of the same breadth-first crawl "
        f"(same start, a lower page limit), so all compare by pages/s and "
        f"CPU per page, not by total time.",
        f"nginx 1.22, one worker, shares the {facts['nproc']} cores with "
        f"the crawler.",
        f"Latency: ideal = sum over levels of ceil(pages/64) x 50 ms = "
        f"{ideal:.2f} s; pages/64 x 50 ms without levels = {flat:.2f} s. "
        f"ungil median {lat_row['median']:.2f} s = "
        f"{lat_row['median'] / ideal:.3f}x the ideal. For reference, "
        f"ungil.fetch of the same URLs as a flat list (no parsing, no "
        f"levels) took {fetch_row['median']:.2f} s = "
        f"{fetch_row['median'] / flat:.3f}x its own ideal (pages/64 x 50 "
        f"ms): what the server and the transfers alone allow here.",
        f"Memory for {n_urls:,} URLs ({url_len:.0f} bytes long on average): "
        f"seen-set {seen_b:.1f} bytes per URL (an 8-byte hash, table at "
        f"most 3/4 full), frontier level {frontier_b:.1f} bytes per URL "
        f"(text in an arena grown by doubling + 16-byte entries).",
        f"Scrapy: {scrapy_row['per_second']:,.0f} pages/s; lab: "
        f"{lab_row['per_second']:,.0f} pages/s.",
    ]
    harness.write_results("crawl", "Crawling a local site (10,000 pages)",
                          [group, lat], targets, notes, facts)


if __name__ == "__main__":
    main()
