"""`ungil crawl`: the command line against the synthetic site.

Exports (JSON, GraphML read back by networkx, DOT, HTML), the page list on
stdout, the summary, exit statuses for bad command lines, an unreachable
start, and Ctrl-C (exit 130, with the graph of what was crawled written).
"""

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from site_server import SiteServer, generated_site, trap_site  # noqa: E402


@pytest.fixture(scope="module")
def server():
    with SiteServer(trap_site(), lifetime=300) as srv:
        yield srv


def run(cli, *args, timeout=60):
    return subprocess.run([cli, "crawl", *args], capture_output=True,
                          text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def test_exports(ungil_cli, server, tmp_path):
    nx = pytest.importorskip("networkx")
    out = {ext: tmp_path / f"site.{ext}" for ext in
           ("json", "graphml", "dot", "html")}
    r = run(ungil_cli, server.url("/"), "--depth", "1", "-j", "8",
            "--json", str(out["json"]), "--graphml", str(out["graphml"]),
            "--dot", str(out["dot"]), "--html", str(out["html"]))
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    assert "15 pages" in r.stderr and "404 x1" in r.stderr
    data = json.loads(out["json"].read_text())
    urls = {n["url"]: n for n in data["nodes"]}
    assert urls[server.url("/")]["status"] == 200
    assert urls[server.url("/")]["title"] == "Home"
    assert urls[server.url("/private/secret")]["error"] == \
        "disallowed by robots.txt"
    assert urls[server.url("/t/0/0")]["error"] == "beyond the depth limit"
    g = nx.read_graphml(out["graphml"])
    assert g.number_of_nodes() == len(data["nodes"])
    assert g.number_of_edges() == len(data["edges"])
    assert out["dot"].read_text().startswith("digraph")
    assert "<html" in out["html"].read_text().lower()
    assert not list(tmp_path.glob("*.part"))


def test_page_list_on_stdout(ungil_cli, server):
    r = run(ungil_cli, server.url("/"), "--depth", "1", "--no-robots",
            "--exclude", "loop|big", "--include", "/t/|/about|/$")
    assert r.returncode == 0, r.stderr
    rows = [line.split("\t") for line in r.stdout.splitlines()]
    assert sorted((s, d, u) for s, d, u, _ in rows) == sorted([
        ("200", "0", server.url("/")), ("200", "1", server.url("/about")),
        ("200", "1", server.url("/t/0")), ("200", "1", server.url("/t/1")),
        ("200", "1", server.url("/t/2"))])
    assert rows[0] == ["200", "0", server.url("/"), "Home"]


def test_max_pages_and_quiet(ungil_cli, server, tmp_path):
    out = tmp_path / "g.json"
    r = run(ungil_cli, server.url("/"), "-n", "5", "--quiet", "--json",
            str(out))
    assert r.returncode == 0 and r.stdout == "" and r.stderr == ""
    nodes = json.loads(out.read_text())["nodes"]
    assert sum(n["status"] != 0 for n in nodes) == 5


@pytest.mark.parametrize("args, message", [
    ([], "no start URL"),
    (["ftp://example.com/"], "not an http(s) URL"),
    (["http://x/", "--scope", "site"], "--scope"),
    (["http://x/", "--include", "("], "bad --include pattern"),
    (["http://x/", "-j", "0"], "-j"),
    (["http://x/", "--depth", "x"], "--depth"),
    (["http://x/", "--delay", "-1"], "--delay"),
])
def test_bad_command_lines(ungil_cli, args, message):
    r = run(ungil_cli, *args)
    assert r.returncode == 2
    assert message in r.stderr


def test_unreachable_start(ungil_cli, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = run(ungil_cli, f"http://127.0.0.1:{port}/", "--no-robots",
            "--json", str(tmp_path / "g.json"))
    assert r.returncode == 1
    assert "no start page could be fetched" in r.stderr
    node = json.loads((tmp_path / "g.json").read_text())["nodes"][0]
    assert node["status"] == 0 and node["error"]


def test_help(ungil_cli):
    r = subprocess.run([ungil_cli, "crawl", "--help"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0 and "--graphml" in r.stdout
    r = subprocess.run([ungil_cli, "--help"], capture_output=True, text=True,
                       timeout=30)
    assert "crawl URL" in r.stdout


def test_ctrl_c_writes_what_was_crawled(ungil_cli, tmp_path):
    out = tmp_path / "g.json"
    with SiteServer(generated_site(3000), latency=0.05, lifetime=120) as srv:
        proc = subprocess.Popen(
            [ungil_cli, "crawl", srv.url("/p/0.html"), "-n", "0", "-j", "4",
             "--json", str(out)], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while srv.hits("/p/9.html") == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted after" in err
    nodes = json.loads(out.read_text())["nodes"]
    assert 0 < sum(n["status"] == 200 for n in nodes) < 3000
