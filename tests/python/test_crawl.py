"""ungil.crawl and crawl_iter against the synthetic site (site_server.py).

Every configuration is checked against the EXACT graph a reference model
predicts: `expected_crawl` below restates docs/crawl.md as a plain
sequential breadth-first crawl over the site's table (each page's links,
statuses, redirects, robots rules), sharing no code with the crawler.  The
node set with status, depth, error and title, and the edge set with
counts, must be equal.  Then crawl_iter's records, cancellation (close and
Ctrl-C), the networkx conversion and argument errors.
"""

import collections
import re
import signal
import sys
import time
from pathlib import Path

import pytest

import ungil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from site_server import (SiteServer, Site, generated_site,  # noqa: E402
                         trap_site)

OUT = "outside the crawl scope"
EXCLUDED = "excluded by pattern"
DEPTH = "beyond the depth limit"
PAGES = "beyond the page limit"
QUERY = "too many query variants of this path"
ROBOTS = "disallowed by robots.txt"
REDIRECT = "reached by a redirect"
TOO_BIG = "body larger than the size limit"
MAX_REDIRECTS = "Maximum (10) redirects followed"


@pytest.fixture(scope="module")
def site():
    return trap_site()


@pytest.fixture(scope="module")
def server(site):
    with SiteServer(site, lifetime=300) as srv:
        yield srv


# ---- the reference model ----------------------------------------------------

def fetch_model(site, origin, url, max_bytes):
    """(status, final_url, error, title, links) of requesting `url`."""
    target = url[len(origin):]
    for _ in range(11):
        if target.split("?")[0] == "/big.bin":
            too_big = 50 * 1024 * 1024 > max_bytes
            return 200, origin + target, TOO_BIG if too_big else None, None, []
        page = site.page(target)
        if page is None:
            return 404, origin + target, "HTTP status 404", None, []
        location = dict(page.headers).get("Location")
        if page.status in (301, 302) and location:
            target = location
            continue
        if page.status != 200:
            return (page.status, origin + target,
                    f"HTTP status {page.status}", None, [])
        if len(page.body) > max_bytes:  # refused on its Content-Length
            return 200, origin + target, TOO_BIG, None, []
        links = []
        if page.content_type.startswith("text/html"):
            for href in page.links:
                if href.startswith("http://"):
                    links.append(href)
                elif href.startswith("#"):
                    links.append(origin + target.split("?")[0])
                elif href.startswith("/"):
                    links.append(origin + href)
        return 200, origin + target, None, page.title, links
    return 302, None, MAX_REDIRECTS, None, []


def robots_allowed(origin, url):
    path = url[len(origin):]
    return not path.startswith("/private/") or path == "/private/open.html"


def expected_crawl(site, origin, start="/", *, max_pages=1000, max_depth=None,
                   scope="host", include=(), exclude=(), robots=True,
                   max_query_variants=1000, max_bytes=10 << 20):
    """{url: (status, depth, error, title)}, Counter{(from, to): count}."""
    start = origin + start
    prefix = start[:start.rindex("/") + 1]
    nodes, follow, edges = {}, {}, collections.Counter()
    variants = collections.Counter()

    def why_not(url, depth):
        inside = url.startswith(origin + "/") if scope == "host" \
            else url.startswith(prefix)
        if not inside:
            return OUT
        if any(re.search(p, url) for p in exclude):
            return EXCLUDED
        if include and not any(re.search(p, url) for p in include):
            return EXCLUDED
        if max_depth is not None and depth > max_depth:
            return DEPTH
        return None

    nodes[start] = [0, 0, None, None]
    seen = {start}
    level, depth, used = [start], 0, 0
    while level:
        fetched = []
        for url in level:
            if robots and not robots_allowed(origin, url):
                nodes[url][2] = ROBOTS
            elif max_pages and used >= max_pages:
                nodes[url][2] = PAGES
            else:
                used += 1
                fetched.append(url)
        per_page, finals = [], []
        for url in fetched:
            status, final, error, title, links = fetch_model(
                site, origin, url, max_bytes)
            nodes[url][0], nodes[url][2], nodes[url][3] = status, error, title
            keep = []
            for link, count in collections.Counter(links).items():
                if link not in nodes:
                    why = why_not(link, depth + 1)
                    nodes[link] = [0, depth + 1, why, None]
                    follow[link] = why is None
                edges[url, link] += count
                if follow.get(link):
                    keep.append(link)
            per_page.append(keep)
            if final and final != url:
                finals.append((url, final))
        for url, final in finals:
            seen.add(final)
            if final not in nodes:
                nodes[final] = [0, depth, REDIRECT, None]
                follow[final] = False
            elif nodes[final][0] == 0 and nodes[final][2] is None:
                nodes[final][2] = REDIRECT
            edges[url, final] += 1
        full = max_pages and used >= max_pages
        level = []
        for keep in per_page:
            for link in keep:
                if link in seen:
                    continue
                seen.add(link)
                if full:
                    nodes[link][2] = PAGES
                    continue
                if "?" in link and max_query_variants:
                    key = link.split("?")[0]
                    variants[key] += 1
                    if variants[key] > max_query_variants:
                        nodes[link][2] = QUERY
                        continue
                level.append(link)
        depth += 1
    return {u: tuple(v) for u, v in nodes.items()}, edges


def actual(graph):
    nodes = {n.url: (n.status, n.depth, n.error, n.title) for n in graph.nodes}
    urls = [n.url for n in graph.nodes]
    edges = collections.Counter({(urls[e.source], urls[e.target]): e.count
                                 for e in graph.edges})
    return nodes, edges


def check_graph(graph, site, origin, start="/", **options):
    want_nodes, want_edges = expected_crawl(site, origin, start, **options)
    got_nodes, got_edges = actual(graph)
    missing = want_nodes.keys() - got_nodes.keys()
    extra = got_nodes.keys() - want_nodes.keys()
    assert not missing and not extra, (sorted(missing), sorted(extra))
    wrong = {u: (got_nodes[u], want_nodes[u]) for u in want_nodes
             if got_nodes[u] != want_nodes[u]}
    assert not wrong, wrong
    assert got_edges == want_edges
    return got_nodes


# ---- exact graphs -------------------------------------------------------------

CONFIGS = {
    "full": dict(max_query_variants=3),
    "depth1": dict(max_depth=1),
    "depth0": dict(max_depth=0),
    "pages10": dict(max_pages=10),
    "pages25": dict(max_pages=25, max_query_variants=2),
    "include_exclude": dict(include=[r"/t/[01]", r"/about$"],
                            exclude=[r"/t/0/2"], max_query_variants=3),
    "no_robots": dict(robots=False, max_depth=3),
    "small_max_bytes": dict(max_bytes=300, max_depth=1),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_exact_graph(server, site, name):
    options = CONFIGS[name]
    graph = ungil.crawl(server.url("/"), concurrency=16, per_host=8,
                        **options)
    nodes = check_graph(graph, site, server.origin, **options)
    assert nodes[server.url("/")][:2] == (200, 0)


def test_exact_graph_prefix_scope(server, site):
    options = dict(scope="prefix", max_query_variants=3)
    graph = ungil.crawl(server.url("/t/1"), **options)
    nodes = check_graph(graph, site, server.origin, "/t/1", **options)
    assert nodes[server.url("/")] == (0, 1, OUT, None)
    assert nodes[server.url("/t/0")][0] == 200  # a cross link, under /t/


def test_traps_in_the_full_graph(server, site):
    robots_before = server.hits("/robots.txt")
    secret_before = server.hits("/private/secret")
    graph = ungil.crawl(server.url("/"), max_query_variants=3)
    nodes, edges = actual(graph)
    url = server.url
    assert nodes[url("/loop/a")][:3] == (302, 1, MAX_REDIRECTS)
    assert nodes[url("/big.bin")][:3] == (200, 1, TOO_BIG)
    assert nodes[url("/missing")][:3] == (404, 1, "HTTP status 404")
    assert nodes[url("/error")][:3] == (500, 1, "HTTP status 500")
    assert url("/not-followed-404") not in nodes
    assert url("/not-followed-500") not in nodes
    assert nodes["http://offsite.invalid/x"] == (0, 1, OUT, None)
    assert nodes[url("/private/secret")] == (0, 1, ROBOTS, None)
    assert url("/private/deeper") not in nodes
    assert nodes[url("/private/open.html")][:2] == (200, 1)
    assert nodes[url("/latin1.html")][3] == "Caf\ufffd cr\ufffdme"
    assert nodes[url("/broken.html")][3] == "Broken page"
    for path in ("/t/0", "/about", "/t/1", "/t/2"):
        assert edges[url("/broken.html"), url(path)] == 1
    assert url("/broken-end") not in nodes and url("/nowhere") not in nodes
    assert edges[url("/"), url("/about")] == 2
    assert edges[url("/"), url("/")] == 1          # "#top"
    assert edges[url("/go-about"), url("/about")] == 1  # the redirect
    assert edges[url("/go-about"), url("/t/0")] == 1    # /about's links
    calendar = sorted(u for u in nodes if "/cal?" in u)
    assert [nodes[u][2] for u in calendar] == [None, None, None, QUERY]
    assert server.hits("/robots.txt") == robots_before + 1
    assert server.hits("/private/secret") == secret_before


def test_robots_user_agent_group(server, site):
    """otherbot's group disallows everything: only robots.txt is asked."""
    before = server.all_hits()
    graph = ungil.crawl(server.url("/"), user_agent="otherbot/2.0")
    nodes, edges = actual(graph)
    assert nodes == {server.url("/"): (0, 0, ROBOTS, None)}
    assert not edges
    after = server.all_hits()
    assert {k: after[k] - before.get(k, 0) for k in after
            if after[k] != before.get(k, 0)} == {"/robots.txt": 1}


def test_content_type_filter(server, site):
    graph = ungil.crawl(server.url("/"), max_depth=1,
                        content_types=["text/html"])
    nodes, _ = actual(graph)
    status, depth, error, _ = nodes[server.url("/img.png")]
    assert (status, depth, error) == (200, 1, "content type not accepted")
    assert nodes[server.url("/about")][:3] == (200, 1, None)


def test_crawl_through_a_proxy(server):
    # proxy= reaches the site server as a proxy: it gets the absolute-form
    # targets (robots.txt first), which it does not serve.
    graph = ungil.crawl("http://site.invalid/", proxy=server.origin)
    [node] = graph.nodes
    assert (node.url, node.status, node.error) == (
        "http://site.invalid/", 404, "HTTP status 404")
    assert server.hits("http://site.invalid/robots.txt") == 1
    assert server.hits("http://site.invalid/") == 1


# ---- crawl_iter ------------------------------------------------------------------

def test_crawl_iter_pages(server, site):
    want_nodes, want_edges = expected_crawl(site, server.origin, max_depth=2)
    with ungil.crawl_iter(server.url("/"), max_depth=2) as job:
        pages = list(job)
        graph = job.graph()
    fetched = {u: v for u, v in want_nodes.items() if v[0]}
    assert {p.url: (p.status, p.depth, p.error is None and None or p.message,
                    p.title) for p in pages} == fetched
    assert sorted(p.index for p in pages) == list(range(len(pages)))
    by_url = {p.url: p for p in pages}
    home = by_url[server.url("/")]
    assert home.ok and home.content_type.startswith("text/html")
    assert home.bytes == len(site.pages["/"].body)
    assert dict(zip(home.links, home.link_counts)) == {
        to: n for (frm, to), n in want_edges.items() if frm == home.url}
    assert home.links[0] == server.url("/about")
    assert by_url[server.url("/missing")].error == "http"
    assert by_url[server.url("/big.bin")].error == "too_big"
    assert by_url[server.url("/loop/a")].error == "redirect"
    assert by_url[server.url("/img.png")].links == ()
    assert by_url[server.url("/go-about")].final_url == server.url("/about")
    # Pages of depth d all come before pages of depth d + 1.
    assert [p.depth for p in pages] == sorted(p.depth for p in pages)
    assert len(graph.nodes) == len(want_nodes)
    with pytest.raises(RuntimeError):
        job.graph()


def test_delay_and_progress(server, capsys):
    pages = list(ungil.crawl_iter(server.url("/"), max_depth=1, delay=0.01,
                                  progress="plain"))
    assert len(pages) == 15
    err = capsys.readouterr().err
    assert "15 pages" in err
    # crawl() takes no Page records; its bar counts from the engine's own.
    graph = ungil.crawl(server.url("/"), max_depth=1, progress="plain")
    assert sum(1 for node in graph.nodes if node.status) == 15
    assert "15 pages" in capsys.readouterr().err


def delay_site(crawl_delay):
    site = Site(f"User-agent: *\nCrawl-delay: {crawl_delay}\n")
    site.add_html("/", "Home", [f"/{i}" for i in range(1, 5)])
    for i in range(1, 5):
        site.add_html(f"/{i}", f"Page {i}", ["/"])
    return site


def test_crawl_delay_spaces_requests():
    """Five pages with Crawl-delay 0.1: starts are at least 0.1 s apart,
    so the crawl takes at least 0.4 s (a lower bound: load only adds)."""
    with SiteServer(delay_site(0.1), lifetime=60) as srv:
        started = time.monotonic()
        graph = ungil.crawl(srv.url("/"), concurrency=8, per_host=8)
        elapsed = time.monotonic() - started
        assert sum(n.status == 200 for n in graph.nodes) == 5
        assert elapsed >= 0.4
        # Without robots.txt, no Crawl-delay: the same pages, no spacing
        # needed (not timed), and robots.txt is not requested.
        before = srv.hits("/robots.txt")
        graph = ungil.crawl(srv.url("/"), robots=False)
        assert sum(n.status == 200 for n in graph.nodes) == 5
        assert srv.hits("/robots.txt") == before


def test_crawl_delay_is_clamped():
    """Crawl-delay: 3600 is clamped to max_crawl_delay (0.05 s here): the
    crawl completes."""
    with SiteServer(delay_site(3600), lifetime=60) as srv:
        graph = ungil.crawl(srv.url("/"), max_crawl_delay=0.05)
        assert sum(n.status == 200 for n in graph.nodes) == 5


def test_generated_site_reaches_every_page():
    site = generated_site(300)
    with SiteServer(site, lifetime=120) as srv:
        graph = ungil.crawl(srv.url("/p/0.html"), max_pages=None,
                            concurrency=32)
        assert sorted(n.url for n in graph.nodes if n.status == 200) == \
            sorted(srv.url(p) for p in site.pages if p.startswith("/p/"))
        assert all(srv.hits(p) == 1 for p in site.pages if p.startswith("/p/"))


# ---- cancellation ------------------------------------------------------------------

def test_close_stops_the_crawl():
    with SiteServer(generated_site(2000), latency=0.05, lifetime=120) as srv:
        job = ungil.crawl_iter(srv.url("/p/0.html"), concurrency=8,
                               max_pages=None)
        first = next(job)
        assert first.url == srv.url("/p/0.html")
        job.close()
        # Requests already on the wire may still reach the server (its
        # thread competes for the GIL); after that, nothing new arrives.
        time.sleep(0.5)
        hits = sum(srv.all_hits().values())
        time.sleep(0.5)
        assert sum(srv.all_hits().values()) == hits
        graph = job.graph()
        assert graph.node(0).status == 200
        assert hits < 2000


def test_ctrl_c_interrupts(child, repo_root):
    proc, started = child.start(f"""
        import sys
        sys.path.insert(0, {str(repo_root / 'tests/python')!r})
        import ungil
        from site_server import SiteServer, generated_site
        with SiteServer(generated_site(3000), latency=0.05) as srv:
            job = ungil.crawl_iter(srv.url("/p/0.html"), concurrency=4,
                                   max_pages=None)
            next(job)
            try:
                print("ready", flush=True)
                for page in job:
                    pass
                print("finished")
            except KeyboardInterrupt:
                print("interrupted", flush=True)
    """)
    child.wait_for_line(proc, "ready")
    proc.send_signal(signal.SIGINT)
    result = child.finish(proc, 30, started)
    assert result.returncode == 0, result
    assert result.stdout.strip().endswith("interrupted")


# ---- networkx and arguments ------------------------------------------------------

def test_networkx(server, site):
    nx = pytest.importorskip("networkx")
    graph = ungil.crawl(server.url("/"), max_depth=1)
    g = graph.to_networkx()
    assert isinstance(g, nx.DiGraph)
    assert g.number_of_nodes() == len(graph.nodes)
    assert g.number_of_edges() == len(graph.edges)
    home = next(i for i, d in g.nodes(data=True) if d["url"] == server.url("/"))
    about = next(i for i, d in g.nodes(data=True)
                 if d["url"] == server.url("/about"))
    assert g.edges[home, about]["count"] == 2
    assert g.nodes[home]["title"] == "Home"


def test_bad_arguments(server):
    with pytest.raises(ValueError, match="scope"):
        ungil.crawl(server.url("/"), scope="site")
    with pytest.raises(ValueError, match="bad pattern"):
        ungil.crawl(server.url("/"), include="(")
    with pytest.raises(ValueError, match="http"):
        ungil.crawl("ftp://example.com/")
    with pytest.raises(ValueError):
        ungil.crawl(server.url("/"), concurrency=0)
    with pytest.raises(TypeError):
        ungil.crawl(server.url("/"), exclude=[1])
    with pytest.raises(ValueError, match="no start URL"):
        ungil.crawl([])
