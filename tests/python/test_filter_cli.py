"""`ungil filter` ($UNGIL_BUILD/src/cli/ungil filter) against Pillow.

The command runs the same engine as ungil.filter_files: every output must
be what Pillow's open -> filter -> save gives (PNG byte for byte in
pixels; JPEG as decoded by Pillow, as faithful as Pillow's own encoder).
Exit status 0 only when every file succeeded, 1 when any failed (each
failure listed on stderr with its reason), 2 for a bad command line, 130
after Ctrl-C.  Without a terminal there is no progress line, only the
summary.
"""

import io
import os
import pathlib
import re
import signal
import subprocess
import time

import numpy as np
import pytest
from PIL import Image, ImageFilter

from cli_pty import run_on_pty

TIMEOUT = 60  # bounds a hung command only
SUMMARY = re.compile(r"^(\d+) of (\d+) files written to (.+) in [\d.]+ s "
                     r"\([\d.]+ files/s\)(; (\d+) failed:)?$")


def picture(mode, width, height, seed):
    """A photo-like picture: gradients, a disc, mild noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    disc = (x - width / 2) ** 2 + (y - height / 3) ** 2 < (height / 4) ** 2
    rgb = np.stack([255 * x / width, 255 * y / height,
                    np.where(disc, 240.0, 60.0 + seed)], axis=-1)
    rgb += rng.normal(0, 3, rgb.shape)
    im = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))
    return im.convert(mode)


def load(path):
    im = Image.open(path)
    im.load()
    return im


def run(cli, *args, timeout=TIMEOUT):
    return subprocess.run([cli, "filter", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture
def inputs(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    files = {}
    for name, mode, size in (("a.png", "RGB", (64, 48)), ("b.png", "L", (50, 41)),
                             ("c.png", "RGBA", (33, 30)), ("d.jpg", "RGB", (80, 60))):
        picture(mode, *size, seed=len(files)).save(src / name)
        files[name] = src / name
    return files


def check_summary(line, ok, total, failed=0):
    m = SUMMARY.match(line)
    assert m, line
    assert (int(m[1]), int(m[2])) == (ok, total), line
    assert (int(m[5]) if m[5] else 0) == failed, line


def test_filter_writes_pillow_exact_outputs(ungil_cli, inputs, tmp_path):
    out = tmp_path / "out"
    r = run(ungil_cli, "FIND_EDGES", *inputs.values(), "-o", out)
    assert r.returncode == 0, r
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and "\r" not in r.stderr
    check_summary(lines[0], 4, 4)
    assert sorted(os.listdir(out)) == ["a.png", "b.png", "c.png", "d.jpg"]
    for name, src in inputs.items():
        want = load(src).filter(ImageFilter.FIND_EDGES)
        got = load(out / name)
        assert (got.mode, got.size) == (want.mode, want.size)
        if name.endswith(".png"):
            assert got.tobytes() == want.tobytes(), name
        else:
            buf = io.BytesIO()
            want.save(buf, "JPEG")
            exact = np.asarray(want).astype(int)
            ours = np.abs(np.asarray(got).astype(int) - exact).mean()
            theirs = np.abs(np.asarray(Image.open(buf)).astype(int) - exact).mean()
            assert ours <= 1.25 * theirs + 0.25


def test_failures_are_listed_and_fail_the_run(ungil_cli, inputs, tmp_path):
    bad = tmp_path / "in" / "bad.png"
    bad.write_bytes(b"not a picture")
    cut = tmp_path / "in" / "cut.jpg"
    cut.write_bytes(inputs["d.jpg"].read_bytes()[:300])
    missing = tmp_path / "in" / "missing.png"
    out = tmp_path / "out"
    r = run(ungil_cli, "blur", inputs["a.png"], bad, cut, missing,
            inputs["b.png"], "-o", out, "-j", "2")
    assert r.returncode == 1, r
    lines = r.stderr.splitlines()
    check_summary(lines[0], 2, 5, 3)
    assert lines[1:] == [f"  {bad}: cannot identify image file",
                         f"  {cut}: image file is truncated or corrupt",
                         f"  {missing}: No such file or directory"]
    assert sorted(os.listdir(out)) == ["a.png", "b.png"]
    assert load(out / "a.png").tobytes() == \
        load(inputs["a.png"]).filter(ImageFilter.BLUR).tobytes()
    quiet = run(ungil_cli, "blur", bad, inputs["a.png"], "-o", out, "--quiet")
    assert quiet.returncode == 1
    assert quiet.stderr.splitlines() == [f"  {bad}: cannot identify image file"]


def test_options_format_quality_jobs_and_none(ungil_cli, inputs, tmp_path):
    r = run(ungil_cli, "smooth", inputs["a.png"], inputs["d.jpg"],
            "-o", tmp_path / "png", "--format", "png", "--compress-level", "9",
            "-j", "1")
    assert r.returncode == 0, r
    assert sorted(os.listdir(tmp_path / "png")) == ["a.png", "d.png"]
    assert load(tmp_path / "png" / "d.png").tobytes() == \
        load(inputs["d.jpg"]).filter(ImageFilter.SMOOTH).tobytes()
    for q in (20, 95):
        r = run(ungil_cli, "smooth", inputs["a.png"], "-o", tmp_path / f"q{q}",
                "-f", "JPEG", "--quality", str(q), "-q")
        assert r.returncode == 0 and r.stderr == "", r
    small = (tmp_path / "q20" / "a.jpg").stat().st_size
    assert small < (tmp_path / "q95" / "a.jpg").stat().st_size
    r = run(ungil_cli, "none", inputs["c.png"], "-o", tmp_path / "same")
    assert r.returncode == 0, r
    assert load(tmp_path / "same" / "c.png").tobytes() == load(inputs["c.png"]).tobytes()
    # The same name twice: the second gets a numbered name, in input order.
    r = run(ungil_cli, "SHARPEN", inputs["a.png"], inputs["a.png"],
            "-o", tmp_path / "twice")
    assert r.returncode == 0, r
    assert sorted(os.listdir(tmp_path / "twice")) == ["a (1).png", "a.png"]


@pytest.mark.parametrize("args,message", [
    ([], "need a FILTER"),
    (["BLUR"], "need a FILTER and at least one input"),
    (["BLUR", "x.png"], "no output directory"),
    (["NOPE", "x.png", "-o", "out"], "unknown filter 'NOPE'"),
    (["BLUR", "x.png", "-o", "out", "-j", "0"], "-j needs a number"),
    (["BLUR", "x.png", "-o", "out", "--quality", "101"], "--quality needs"),
    (["BLUR", "x.png", "-o", "out", "--format", "gif"], "--format is jpeg or png"),
])
def test_bad_command_lines(ungil_cli, tmp_path, args, message):
    r = subprocess.run([ungil_cli, "filter", *args], capture_output=True,
                       text=True, timeout=TIMEOUT, cwd=tmp_path)
    assert r.returncode == 2, r
    assert message in r.stderr
    assert not (tmp_path / "out").exists()


def test_help_and_output_directory_errors(ungil_cli, inputs, tmp_path):
    r = run(ungil_cli, "--help")
    assert r.returncode == 0 and "FIND_EDGES" in r.stdout
    top = subprocess.run([ungil_cli, "--help"], capture_output=True, text=True,
                         timeout=TIMEOUT)
    assert "filter FILTER IN..." in top.stdout
    r = run(ungil_cli, "BLUR", inputs["a.png"], "-o", inputs["b.png"])
    assert r.returncode == 1 and "Not a directory" in r.stderr, r


def test_ctrl_c_stops_with_130(ungil_cli, inputs, tmp_path):
    out = tmp_path / "out"
    big = tmp_path / "big.png"
    picture("RGB", 640, 480, seed=9).save(big)
    proc = subprocess.Popen([ungil_cli, "filter", "SMOOTH_MORE", *[big] * 3000,
                             "-o", out, "-j", "1", "--compress-level", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (out.exists() and os.listdir(out)):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    written = os.listdir(out)
    assert 0 < len(written) < 3000
    m = re.search(r"interrupted after (\d+) of 3000 files", err)
    assert m, err
    assert int(m[1]) == len(written)
    assert not any(name.endswith(".part") for name in written)
    first = pathlib.Path(out / "big.png")
    assert load(first).tobytes() == load(big).filter(ImageFilter.SMOOTH_MORE).tobytes()


def test_progress_line_only_on_a_terminal(ungil_cli, inputs, tmp_path):
    bad = tmp_path / "in" / "bad.png"
    bad.write_bytes(b"nope")
    status, raw = run_on_pty([ungil_cli, "filter", "emboss", *inputs.values(),
                              bad, "-o", str(tmp_path / "out")])
    text = raw.decode()
    assert status == 1, text
    assert "\r\x1b[K[5/5]  (some failed)" in text
    lines = text.replace("\r\x1b[K", "\n").split("\n")
    summary = [ln.strip() for ln in lines if " files written to " in ln]
    assert len(summary) == 1
    check_summary(summary[0], 4, 5, 1)
    status, raw = run_on_pty([ungil_cli, "filter", "emboss", inputs["a.png"],
                              "-o", str(tmp_path / "quiet"), "--quiet"])
    text = raw.decode()
    assert (status, text) == (0, "")
