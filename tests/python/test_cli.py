"""The `ungil` command ($UNGIL_BUILD/src/cli/ungil): `ungil sum N [-j T]`,
--help, --version, exit statuses (0 done, 2 bad command line, 130 Ctrl-C)."""

import signal
import subprocess
import time

import pytest

import ungil

TIMEOUT = 60  # bounds a hung command only


def run(cli, *args):
    return subprocess.run([cli, *args], capture_output=True, text=True,
                          timeout=TIMEOUT, stdin=subprocess.DEVNULL)


def expected(n):
    return n * (n + 1) // 2


@pytest.mark.parametrize("n", [0, 1, 2, 10, 1000, 10**6 + 1, 12_345_679])
def test_sum_prints_the_exact_sum(ungil_cli, n):
    result = run(ungil_cli, "sum", str(n))
    assert result.returncode == 0, result
    assert result.stdout == f"{expected(n)}\n"
    assert result.stderr == ""


@pytest.mark.parametrize("threads_args", [
    ["-j", "1"], ["-j", "2"], ["-j", "3"], ["-j", "7"], ["-j5"],
    ["--threads", "4"], ["--threads=6"],
])
def test_sum_with_threads(ungil_cli, threads_args):
    n = 3_000_017
    result = run(ungil_cli, "sum", str(n), *threads_args)
    assert result.returncode == 0, result
    assert result.stdout == f"{expected(n)}\n"
    # Options may come before N as well.
    result = run(ungil_cli, "sum", *threads_args, str(n))
    assert result.returncode == 0, result
    assert result.stdout == f"{expected(n)}\n"


def test_sum_agrees_with_python_module(ungil_cli):
    n = 9_999_991
    result = run(ungil_cli, "sum", str(n), "-j", "2")
    assert int(result.stdout) == ungil.sum_upto(n, threads=2) == expected(n)


def test_sum_time_reports_on_stderr(ungil_cli):
    result = run(ungil_cli, "sum", "100000", "--time", "-j", "2")
    assert result.returncode == 0, result
    assert result.stdout == f"{expected(100000)}\n"
    assert "2 thread" in result.stderr and " s" in result.stderr


@pytest.mark.parametrize("bad", ["abc", "-5", "1.5", "", "12x", "0x10",
                                 "18446744073709551616", "1e6", " 5"])
def test_sum_bad_n(ungil_cli, bad):
    result = run(ungil_cli, "sum", bad)
    assert result.returncode == 2, result
    assert result.stdout == ""
    assert result.stderr.startswith("ungil sum: "), result
    assert "N" in result.stderr


@pytest.mark.parametrize("args", [
    ["sum"], ["sum", "5", "6"], ["sum", "5", "-j"], ["sum", "5", "-j", "0"],
    ["sum", "5", "-j", "x"], ["sum", "5", "-j", "-1"], ["sum", "5", "--nope"],
    ["sum", "5", "-j", "5000"],
])
def test_sum_bad_command_lines(ungil_cli, args):
    result = run(ungil_cli, *args)
    assert result.returncode == 2, result
    assert result.stdout == ""
    assert result.stderr.strip(), result


def test_sum_largest_n_is_accepted_as_a_number(ungil_cli):
    # 2**64 - 1 parses (it is the largest N); 2**64 does not.  Only the
    # parse is checked here: the loop itself is stopped by SIGINT below.
    result = run(ungil_cli, "sum", "18446744073709551616")
    assert result.returncode == 2
    assert "18446744073709551615" in result.stderr


def test_version(ungil_cli):
    result = run(ungil_cli, "--version")
    assert result.returncode == 0, result
    assert result.stdout.strip() == f"ungil {ungil.C_VERSION}"
    assert ungil.C_VERSION == ungil.__version__


def test_help(ungil_cli):
    for flag in ("--help", "-h"):
        result = run(ungil_cli, flag)
        assert result.returncode == 0, result
        assert result.stdout.startswith("usage: ungil")
        assert "sum N" in result.stdout
    result = run(ungil_cli, "sum", "--help")
    assert result.returncode == 0, result
    assert result.stdout.startswith("usage: ungil sum")
    assert "-j" in result.stdout


def test_no_arguments(ungil_cli):
    result = run(ungil_cli)
    assert result.returncode == 2, result
    assert "usage: ungil" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("name", ["frobnicate", "Sum", "--bogus"])
def test_unknown_subcommand(ungil_cli, name):
    result = run(ungil_cli, name)
    assert result.returncode == 2, result
    assert name in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("threads", ["1", "2", "8"])
def test_sigint_stops_a_huge_sum(ungil_cli, threads):
    proc = subprocess.Popen([ungil_cli, "sum", "18446744073709551615",
                             "-j", threads],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    with proc:
        time.sleep(0.3)  # well into the loop
        assert proc.poll() is None, "the sum of 2**64 - 1 numbers ended?"
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            pytest.fail("ungil sum ignored SIGINT")
        stopped = time.monotonic() - sent
    assert proc.returncode == 130, (proc.returncode, out, err)
    assert stopped < 0.5, f"took {stopped:.3f} s to stop"
    assert out == ""
    assert "interrupted" in err
