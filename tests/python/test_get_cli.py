"""`ungil get` ($UNGIL_BUILD/src/cli/ungil get) against the fixture server.

Exit status 0 only when every URL succeeded, 1 when any failed (each failure
listed on stderr with its reason), 2 for a bad command line, 130 after
Ctrl-C.  The progress line is drawn only when stderr is a terminal (checked
under a pseudo-terminal).  Files appear under their final names only when
complete.
"""

import pathlib
import re
import signal
import subprocess
import time

import pytest

from cli_pty import run_on_pty
from fixture_server import FixtureServer, payload

TIMEOUT = 60  # bounds a hung command only
SUMMARY = re.compile(r"^(\d+) of (\d+) files, [\d.]+ [kMGT]?B in [\d.]+ s "
                     r"\([\d.]+ [kMGT]?B/s\)(; (\d+) failed:)?$")


@pytest.fixture
def srv():
    with FixtureServer(lifetime=120) as server:
        yield server
        assert server.errors == []


def get(cli, *args, input=None, cwd=None, timeout=TIMEOUT):
    return subprocess.run([cli, "get", *args], capture_output=True, text=True,
                          input=input, cwd=cwd, timeout=timeout,
                          stdin=None if input is not None else
                          subprocess.DEVNULL)


def files(directory):
    directory = pathlib.Path(directory)
    out = {}
    for entry in directory.iterdir():
        assert entry.is_file() and not entry.is_symlink(), entry
        out[entry.name] = entry.read_bytes()
    return out


def stderr_lines(result):
    assert "\r" not in result.stderr and "\x1b" not in result.stderr, result
    return result.stderr.splitlines()


def check_summary(line, ok, total, failed=0):
    m = SUMMARY.match(line)
    assert m, line
    assert (int(m[1]), int(m[2])) == (ok, total), line
    assert (int(m[4]) if m[4] else 0) == failed, line


def max_in_flight(times, duration):
    """The most requests in flight at once, given arrival times of requests
    that each take `duration` seconds at the server."""
    events = sorted([(t, 1) for t in times] +
                    [(t + duration - 0.05, -1) for t in times],
                    key=lambda e: (e[0], e[1]))
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


# ---------------------------------------------------------------------------
# downloading

def test_get_downloads_every_url(ungil_cli, srv, tmp_path):
    dest = tmp_path / "out"
    urls = [srv.url("/bytes/1000?seed=a"), srv.url("/gzip/5000"),
            srv.url("/redirect/2/bytes/77"), srv.url("/chunked/30000")]
    result = get(ungil_cli, *urls, "-o", str(dest))
    assert result.returncode == 0, result
    assert result.stdout == ""
    [line] = stderr_lines(result)
    check_summary(line, 4, 4)
    assert files(dest) == {"1000": payload(1000, seed="a"),
                           "5000": payload(5000), "77": payload(77),
                           "30000": payload(30000)}


def test_get_proxy(ungil_cli, srv, tmp_path):
    # -x: every transfer through that proxy (the fixture server serves
    # absolute-form requests itself; only a proxy reaches a .invalid host).
    url = "http://files.invalid/bytes/40?seed=x"
    result = get(ungil_cli, "-x", srv.origin, url, "-o", str(tmp_path),
                 "--quiet")
    assert result.returncode == 0, result
    assert files(tmp_path) == {"40": payload(40, seed="x")}
    assert [q.host for q in srv.requests] == ["files.invalid"]


def test_get_defaults_to_the_current_directory(ungil_cli, srv, tmp_path):
    result = get(ungil_cli, srv.url("/bytes/12"), "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result
    assert result.stderr == ""
    assert files(tmp_path) == {"12": payload(12)}


def test_get_input_file(ungil_cli, srv, tmp_path):
    listing = tmp_path / "urls.txt"
    listing.write_text(f"# a comment\n\n  {srv.url('/bytes/30')}  \r\n"
                       f"\t{srv.url('/bytes/31')}\n#{srv.url('/bytes/32')}\n"
                       f"{srv.url('/bytes/33')}")          # no final newline
    dest = tmp_path / "out"
    result = get(ungil_cli, srv.url("/bytes/29"), "-i", str(listing),
                 "-o", str(dest))
    assert result.returncode == 0, result
    check_summary(stderr_lines(result)[-1], 4, 4)
    assert files(dest) == {str(n): payload(n) for n in (29, 30, 31, 33)}
    assert srv.hits("/bytes/32") == 0


def test_get_input_from_stdin(ungil_cli, srv, tmp_path):
    dest = tmp_path / "out"
    text = "".join(srv.url(f"/bytes/{n}") + "\n" for n in (40, 41, 42))
    result = get(ungil_cli, "-i", "-", "-o", str(dest), input=text)
    assert result.returncode == 0, result
    check_summary(stderr_lines(result)[-1], 3, 3)
    assert files(dest) == {str(n): payload(n) for n in (40, 41, 42)}


@pytest.mark.parametrize("args, total, per_host", [
    (["-j", "1"], 1, 1),
    (["-j", "3", "--per-host", "8"], 3, None),   # split between the hosts
    (["--jobs", "8", "--per-host", "2"], 4, 2),
    (["-j", "8", "--per-host", "4", "--threads", "3"], 8, 4),
    (["-j", "8", "--per-host", "4", "--threads", "1"], 8, 4),
], ids=["j1", "j3", "per-host2", "threads3", "threads1"])
def test_get_jobs_and_per_host(ungil_cli, srv, tmp_path, args, total,
                               per_host):
    d, n = 0.25, 4
    urls = [srv.url(f"/delay/{d}/bytes/{i}", host=host)
            for host in ("127.0.0.1", "localhost") for i in range(1, n + 1)]
    result = get(ungil_cli, *urls, *args, "-o", str(tmp_path), "-q")
    assert result.returncode == 0, result
    by_host = {}
    for q in srv.requests:
        by_host.setdefault(q.host.rsplit(":", 1)[0], []).append(q.time)
    assert sorted(len(v) for v in by_host.values()) == [n, n]
    assert max_in_flight([t for v in by_host.values() for t in v], d) == total
    for times in by_host.values():
        if per_host is not None:
            assert max_in_flight(times, d) == per_host
    names = {str(i) for i in range(1, n + 1)}
    names |= {f"{i} (1)" for i in range(1, n + 1)}
    assert set(files(tmp_path)) == names


def test_get_retry(ungil_cli, srv, tmp_path):
    enough, short = "/fail/2/500/bytes/10", "/fail/2/503/bytes/11"
    result = get(ungil_cli, srv.url(enough), "--retry", "2", "-o",
                 str(tmp_path))
    assert result.returncode == 0, result
    assert srv.hits(enough) == 3
    result = get(ungil_cli, srv.url(short), "--retry", "1", "-o",
                 str(tmp_path))
    assert result.returncode == 1, result
    lines = stderr_lines(result)
    check_summary(lines[0], 0, 1, failed=1)
    assert lines[1:] == [f"  {srv.url(short)}: HTTP 503"]
    assert srv.hits(short) == 2
    result = get(ungil_cli, srv.url("/fail/1/500/bytes/12"), "--retry", "0",
                 "-o", str(tmp_path), "-q")
    assert result.returncode == 1, result
    assert srv.hits("/fail/1/500/bytes/12") == 1
    assert files(tmp_path) == {"10": payload(10)}


def test_get_timeout(ungil_cli, srv, tmp_path):
    url = srv.url("/delay/5/bytes/10")
    started = time.monotonic()
    result = get(ungil_cli, url, "--timeout", "0.5", "--retry", "0", "-o",
                 str(tmp_path))
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result
    lines = stderr_lines(result)
    check_summary(lines[0], 0, 1, failed=1)
    assert len(lines) == 2 and lines[1].startswith(f"  {url}: ")
    assert "timed out" in lines[1]
    assert elapsed < 2.5, elapsed
    assert files(tmp_path) == {}


def test_get_max_size(ungil_cli, srv, tmp_path):
    big, small = srv.url("/bytes/1000"), srv.url("/bytes/100")
    result = get(ungil_cli, big, small, "--max-size", "100", "-o",
                 str(tmp_path))
    assert result.returncode == 1, result
    lines = stderr_lines(result)
    check_summary(lines[0], 1, 2, failed=1)
    assert len(lines) == 2 and lines[1].startswith(f"  {big}: ")
    assert "size limit" in lines[1]
    assert files(tmp_path) == {"100": payload(100)}


def test_get_quiet(ungil_cli, srv, tmp_path):
    result = get(ungil_cli, srv.url("/bytes/5"), "--quiet", "-o",
                 str(tmp_path))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    missing = srv.url("/status/404")
    result = get(ungil_cli, srv.url("/bytes/6"), missing, "-q", "-o",
                 str(tmp_path))
    assert result.returncode == 1, result
    assert result.stdout == ""
    assert result.stderr == f"  {missing}: HTTP 404\n"
    assert files(tmp_path) == {"5": payload(5), "6": payload(6)}


def test_get_exit_status_1_lists_every_failure(ungil_cli, srv, tmp_path):
    good = srv.url("/bytes/64")
    bad = {srv.url("/status/404"): "HTTP 404",
           srv.url("/reset/10000/5000"): "reset",
           "ftp://127.0.0.1/x": "scheme",
           srv.url("/redirect-loop"): "redirect",
           srv.url("/truncate/1000/10"): "remaining"}
    result = get(ungil_cli, good, *bad, "--retry", "0", "-o", str(tmp_path))
    assert result.returncode == 1, result
    lines = stderr_lines(result)
    check_summary(lines[0], 1, 6, failed=5)
    listed = lines[1:]
    assert len(listed) == 5, listed
    for url, reason in bad.items():
        [line] = [ln for ln in listed if ln.startswith(f"  {url}: ")]
        assert reason in line, line
    assert files(tmp_path) == {"64": payload(64)}


@pytest.mark.parametrize("args", [
    ["-j", "0"], ["-j", "x"], ["-j", "-1"], ["--per-host", "0"],
    ["--retry", "x"], ["--retry", "-1"], ["--timeout", "0"],
    ["--timeout", "abc"], ["--timeout", "-1"], ["--max-size", "0"],
    ["--max-size", "1k"], ["--threads", "0"], ["--threads", "x"], ["--bogus"], ["-i", "/nonexistent/urls.txt"],
    [], ["-j"],
], ids=lambda a: " ".join(a) or "no-url")
def test_get_bad_options_exit_2(ungil_cli, srv, tmp_path, args):
    dest = tmp_path / "out"
    url_args = [] if args in ([], ["-j"]) else [srv.url("/bytes/9")]
    result = get(ungil_cli, "-o", str(dest), *url_args, *args)
    assert result.returncode == 2, result
    assert result.stdout == ""
    assert result.stderr.strip(), "exit 2 without saying why"
    assert srv.requests == []
    assert not dest.exists() or files(dest) == {}


def test_get_help(ungil_cli):
    result = subprocess.run([ungil_cli, "get", "--help"], capture_output=True,
                            text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result
    assert result.stdout.startswith("usage: ungil get")
    for option in ("-i", "-o", "-j", "--per-host", "--retry", "--timeout",
                   "--max-size", "--quiet"):
        assert option in result.stdout
    assert result.stderr == ""


# ---------------------------------------------------------------------------
# the progress line

def test_get_progress_line_on_a_terminal(ungil_cli, srv, tmp_path):
    urls = [srv.url("/bytes/100"), srv.url("/delay/0.7/bytes/10")]
    status, err = run_on_pty([ungil_cli, "get", *urls, "-o", str(tmp_path)],
                             timeout=30)
    assert status == 0, err
    assert b"\r\x1b[K[" in err, err
    assert re.search(rb"\[1/2\] [\d.]+ [kMG]?B  [\d.]+ [kMG]?B/s  ETA ", err), err
    # Cleared before the summary, which ends the output.
    text = err.decode()
    assert text.endswith("\r\n"), err
    last = text.rsplit("\r\x1b[K", 1)[1].rstrip("\r\n")
    check_summary(last, 2, 2)
    assert files(tmp_path) == {"100": payload(100), "10": payload(10)}


def test_get_no_progress_line_on_a_pipe(ungil_cli, srv, tmp_path):
    urls = [srv.url("/bytes/100"), srv.url("/delay/0.7/bytes/10")]
    result = subprocess.run([ungil_cli, "get", *urls, "-o", str(tmp_path)],
                            capture_output=True, timeout=TIMEOUT,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result
    assert b"\r" not in result.stderr and b"\x1b" not in result.stderr
    [line] = result.stderr.decode().splitlines()
    check_summary(line, 2, 2)


def test_get_quiet_on_a_terminal(ungil_cli, srv, tmp_path):
    status, err = run_on_pty([ungil_cli, "get", srv.url("/delay/0.5/bytes/3"),
                              "-q", "-o", str(tmp_path)], timeout=30)
    assert (status, err) == (0, b"")


# ---------------------------------------------------------------------------
# Ctrl-C

def test_get_sigint_stops_promptly(ungil_cli, srv, tmp_path):
    urls = [srv.url(f"/drip/400/0.02?seed={i}") for i in range(3)]
    urls += [srv.url("/stall/100000/50000?for=20"), srv.url("/bytes/2000"),
             srv.url("/delay/10/bytes/10")]
    proc = subprocess.Popen([ungil_cli, "get", *urls, "-o", str(tmp_path)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    with proc:
        time.sleep(0.5)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("ungil get ignored SIGINT")
        elapsed = time.monotonic() - sent
    assert proc.returncode == 130, (out, err)
    assert elapsed < 1.0, elapsed
    assert "interrupted" in err
    assert out == ""
    full = {"0.02": payload(400), "0 (1).02": payload(400, seed=1),
            "0 (2).02": payload(400, seed=2), "50000": payload(100000),
            "2000": payload(2000), "10": payload(10)}
    for name, data in files(tmp_path).items():
        assert not name.endswith(".part"), name
        assert full.get(name) == data, name
