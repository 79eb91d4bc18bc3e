"""The dns_cache option of ungil.download, ungil.crawl, `ungil get` and
`ungil crawl`: how long the engine reuses a DNS answer, checked against a
name whose address changes in the middle of a run.

Each run is a child process in a mount namespace of its own (unshare -m,
which needs root, as the tests have on this machine and in .ci/run) whose
/etc/hosts is a file of the test's, so the test moves the name without
touching the machine's.  The first URL resolves the name to 127.0.0.1 (the
fixture server) and waits a second for its response; once the server has
that request, the test points the name at 127.0.0.2, where nothing listens.
The second URL needs a new connection (the first body ends with the
connection's close), so it connects wherever the engine's DNS cache says:
to the server while the first answer is still reused, to 127.0.0.2
(refused) once it is not.
"""

import json
import subprocess
import sys

import pytest

import ungil
from conftest import child_env, poll_until
from fixture_server import FixtureServer

NAME = "ungil-dns-test.internal"
TIMEOUT = 60  # bounds a hung child only
FIRST, SECOND = "/delay/1/eof/10", "/eof/11"


@pytest.fixture
def srv():
    with FixtureServer(lifetime=120) as server:
        yield server
        assert server.errors == []


DOWNLOAD = """
import json, sys, ungil
urls, dest, dns_cache = json.loads(sys.argv[1])
results = ungil.download(urls, dest, concurrency=1, per_host=1, retries=0,
                         threads=1, dns_cache=dns_cache)
print(json.dumps([r.error for r in results]))
"""

CRAWL = """
import json, sys, ungil
urls, dest, dns_cache = json.loads(sys.argv[1])
graph = ungil.crawl(urls, max_depth=0, robots=False, concurrency=1,
                    per_host=1, retries=0, dns_cache=dns_cache)
errors = {n.url: n.error for n in graph.nodes}
print(json.dumps([errors[u] for u in urls]))
"""


def run_moving_name(srv, tmp_path, argv):
    """Runs `argv` (which fetches FIRST, then SECOND, on NAME) with NAME at
    127.0.0.1, moved to 127.0.0.2 once the server has the first request;
    returns the finished process."""
    hosts = tmp_path / "hosts"
    hosts.write_text(f"127.0.0.1 {NAME}\n")
    wrapped = ["unshare", "-m", "sh", "-c",
               'mount --bind "$0" /etc/hosts && exec "$@"', str(hosts), *argv]
    proc = subprocess.Popen(wrapped, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env=child_env(), cwd=tmp_path)
    try:
        assert poll_until(lambda: srv.hits(FIRST), timeout=TIMEOUT), \
            proc.stderr.read() if proc.poll() is not None else "no request"
        with open(hosts, "r+") as f:  # in place: the mount shows this inode
            f.truncate(0)
            f.write(f"127.0.0.2 {NAME}\n")
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    proc.out, proc.err = out, err
    return proc


def urls_of(srv):
    return [srv.url(FIRST, host=NAME), srv.url(SECOND, host=NAME)]


# dns_cache -> whether the second URL meets the new answer (and fails).
CASES = [(None, False), (60, False), (0, True)]


@pytest.mark.parametrize("code", [DOWNLOAD, CRAWL], ids=["download", "crawl"])
@pytest.mark.parametrize("dns_cache, moved", CASES)
def test_python_api_reuses_answers_as_long_as_asked(srv, tmp_path, code,
                                                    dns_cache, moved):
    job = json.dumps([urls_of(srv), str(tmp_path / "dest"), dns_cache])
    proc = run_moving_name(srv, tmp_path,
                           [sys.executable, "-c", code, job])
    assert proc.returncode == 0, proc.err
    first, second = json.loads(proc.out)
    assert first is None
    if not moved:
        assert second is None
    elif code is DOWNLOAD:
        assert second == "network"
    else:  # a crawl node's error is the reason in words
        assert "Couldn't connect to server" in second, second
    assert srv.hits(SECOND) == (0 if moved else 1)


@pytest.mark.parametrize("command", ["get", "crawl"])
@pytest.mark.parametrize("value, second_ok", [("run", True), ("60", True),
                                              ("0", False)])
def test_cli_reuses_answers_as_long_as_asked(srv, tmp_path, ungil_cli,
                                             command, value, second_ok):
    first, second = urls_of(srv)
    args = ["-j", "1", "--per-host", "1", "--dns-cache", value]
    if command == "get":
        args += ["--retry", "0", "--threads", "1", "-o", "dest", "-q"]
    else:
        args += ["--depth", "0", "--no-robots", "-q", "--json", "graph.json"]
    proc = run_moving_name(srv, tmp_path,
                           [ungil_cli, command, first, second, *args])
    assert srv.hits(SECOND) == (1 if second_ok else 0)
    if command == "get":
        assert proc.returncode == (0 if second_ok else 1), proc.err
        files = sorted(p.name for p in (tmp_path / "dest").iterdir())
        assert files == (["10", "11"] if second_ok else ["10"])
    else:
        assert proc.returncode == 0, proc.err
        nodes = {n["url"]: n for n in
                 json.loads((tmp_path / "graph.json").read_text())["nodes"]}
        assert nodes[first]["status"] == 200
        assert nodes[second]["status"] == (200 if second_ok else 0)


@pytest.mark.parametrize("bad", [-1, -0.5, "60", True, float("nan")])
def test_bad_dns_cache_values_are_refused(srv, tmp_path, bad):
    with pytest.raises(ValueError, match="dns_cache"):
        ungil.download([srv.url("/bytes/1")], tmp_path, dns_cache=bad)
    with pytest.raises(ValueError, match="dns_cache"):
        ungil.crawl(srv.url("/"), dns_cache=bad)
    assert srv.requests == []


@pytest.mark.parametrize("command", ["get", "crawl"])
@pytest.mark.parametrize("bad", ["-1", "x", "1.5", ""])
def test_cli_refuses_bad_dns_cache_values(ungil_cli, tmp_path, command, bad):
    proc = subprocess.run([ungil_cli, command, "http://127.0.0.1:9/",
                           "--dns-cache", bad], capture_output=True,
                          text=True, timeout=TIMEOUT, cwd=tmp_path)
    assert proc.returncode == 2, proc
    assert proc.stderr == (f"ungil {command}: --dns-cache needs whole seconds "
                           f"or 'run', not '{bad}'\n")
