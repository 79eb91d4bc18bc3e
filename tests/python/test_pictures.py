"""ungil.download_pictures and `ungil pictures` against the fixture server.

Pictures are generated with Pillow (photo-like gradients with noise, in
JPEG and PNG, grey, RGB and RGBA) and served with latency; broken ones too:
a truncated JPEG, HTML served as .jpg, a 404, a PNG whose header claims
20000 x 20000 pixels (a decompression bomb), a palette PNG (Pillow refuses
to filter it).  Every saved picture must hold exactly the pixels of
Image.open(body).filter(...) (PNG output), every broken URL a result with
the right error and no file, and nothing may appear outside the
destination directory.
"""

import io
import os
import re
import signal
import struct
import subprocess
import time
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFilter

import ungil
from cli_pty import run_on_pty
from fixture_server import FixtureServer

TIMEOUT = 60  # bounds a hung command only
N_GOOD = 24
IDENTITY = (0, 0, 0, 0, 1, 0, 0, 0, 0)


def photo(seed, width, height, mode):
    """A photo-like picture: smooth gradients plus some noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([(x * (1 + c) + y * (3 - c)) % 256 for c in range(4)],
                    axis=-1).astype(np.int16)
    noise = rng.integers(-20, 21, base.shape, dtype=np.int16)
    arr = np.clip(base + noise, 0, 255).astype(np.uint8)
    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    arr = arr[..., 0] if channels == 1 else arr[..., :channels]
    return Image.fromarray(arr, mode)


def encode(img, fmt):
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def png_chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data)))


def bomb_png():
    """A valid-looking PNG header for 20000 x 20000 RGB pixels."""
    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
            + png_chunk(b"IDAT", zlib.compress(b"\0" * 1000))
            + png_chunk(b"IEND", b""))


def good_pictures():
    """(path, body) of the good pictures, all kinds mixed."""
    kinds = [("JPEG", "RGB", "jpg"), ("PNG", "RGB", "png"),
             ("JPEG", "L", "jpg"), ("PNG", "RGBA", "png"), ("PNG", "L", "png")]
    out = []
    for i in range(N_GOOD):
        fmt, mode, ext = kinds[i % len(kinds)]
        img = photo(i, 40 + 3 * i, 30 + 2 * i, mode)
        out.append((f"/pics/p{i:02d}.{ext}", encode(img, fmt)))
    return out


@pytest.fixture(scope="module")
def site():
    """The server and its pictures: good (path, body) pairs and broken
    paths by kind."""
    with FixtureServer(latency=0.01, lifetime=600) as srv:
        good = good_pictures()
        for path, body in good:
            srv.add_file(path, body, "image/jpeg" if path.endswith("jpg")
                         else "image/png")
        jpeg = encode(photo(99, 64, 64, "RGB"), "JPEG")
        palette = photo(98, 32, 32, "RGB").convert("P")
        broken = {
            "/bad/truncated.jpg": jpeg[:len(jpeg) // 2],
            "/bad/page.jpg": b"<!doctype html><html><body>hi</body></html>",
            "/bad/bomb.png": bomb_png(),
            "/bad/palette.png": encode(palette, "PNG"),
        }
        for path, body in broken.items():
            srv.add_file(path, body)
        # Two URLs with one name, and one whose name tries to climb out.
        srv.add_file("/a/same.png", good[1][1])
        srv.add_file("/b/same.png", good[3][1])
        srv.add_file("/pics/../evil.png", good[1][1])
        # Bodies whose names say another format (or none).
        srv.add_file("/mixed/png-as.jpg", good[1][1])
        srv.add_file("/mixed/jpeg-as.png", good[0][1])
        srv.add_file("/mixed/rgba-as.jpg", good[3][1])
        srv.add_file("/mixed/noext", good[1][1])
        yield srv, good
        assert srv.errors == []


def filtered(body, flt=ImageFilter.FIND_EDGES):
    return np.asarray(Image.open(io.BytesIO(body)).filter(flt))


def pixels(path):
    with Image.open(path) as img:
        return np.asarray(img)


def listing(directory):
    return sorted(os.listdir(directory))


def test_outputs_equal_pillow_in_input_order(site, tmp_path):
    srv, good = site
    dest = tmp_path / "out"
    urls = [srv.url(path) for path, _ in good]
    results = ungil.download_pictures(urls, dest, format="png", concurrency=8,
                                      threads=2)
    assert [r.index for r in results] == list(range(len(urls)))
    assert [r.url for r in results] == urls
    for (path, body), r in zip(good, results):
        assert r.ok, r
        assert r.status == 200 and r.bytes == len(body) and r.attempts == 1
        name = os.path.basename(path).rsplit(".", 1)[0] + ".png"
        assert r.path == os.path.join(str(dest), name)
        assert r.format == "PNG"
        assert r.input_format == ("JPEG" if path.endswith("jpg") else "PNG")
        src = Image.open(io.BytesIO(body))
        assert (r.width, r.height, r.mode) == (src.width, src.height, src.mode)
        assert r.out_bytes == os.path.getsize(r.path)
        assert np.array_equal(pixels(r.path), filtered(body)), path
    assert listing(dest) == sorted(os.path.basename(r.path) for r in results)
    assert listing(tmp_path) == ["out"]
    summary = results.summary
    assert summary["saved"] == len(good) and summary["failed"] == 0
    assert summary["bytes_in"] == sum(len(b) for _, b in good)
    assert 0 < summary["peak_held_bytes"]
    assert 0 < summary["peak_held_pictures"] <= 8 + 2 * 2


def test_broken_pictures_fail_with_reasons_and_leave_no_file(site, tmp_path):
    srv, good = site
    dest = tmp_path / "out"
    cases = [
        ("/bad/truncated.jpg", "corrupt", "decode", "corrupt or truncated"),
        ("/bad/page.jpg", "format", "decode", "not a JPEG or PNG"),
        ("/status/404", "http", "download", "404"),
        ("/bad/bomb.png", "bomb", "decode", "20000 x 20000"),
        ("/bad/palette.png", "mode", "filter", "cannot filter palette images"),
    ]
    urls = [srv.url(good[0][0])] + [srv.url(c[0]) for c in cases]
    results = ungil.download_pictures(urls, dest, concurrency=4, threads=2)
    assert results[0].ok
    for (path, error, stage, words), r in zip(cases, results[1:]):
        assert (r.error, r.stage) == (error, stage), r
        assert words in r.message, r
        assert r.path is None
    assert listing(dest) == ["p00.jpg"]
    assert results.summary["failed"] == len(cases)


def test_jpeg_output_decodes_like_pillow_output(site, tmp_path):
    srv, good = site
    picks = [(p, b) for p, b in good if p.endswith(".jpg")][:4]
    results = ungil.download_pictures([srv.url(p) for p, _ in picks],
                                      tmp_path, format="jpeg", threads=2)
    for (path, body), r in zip(picks, results):
        assert r.ok and r.format == "JPEG" and r.path.endswith(".jpg"), r
        with open(r.path, "rb") as f:
            assert f.read(3) == b"\xff\xd8\xff"
        # Our file, decoded by Pillow and by ungil (served back and run
        # through an identity kernel into PNG), gives the same pixels.
        with open(r.path, "rb") as f:
            srv.add_file(f"/ours/{os.path.basename(r.path)}", f.read())
        back = ungil.download_pictures(
            [srv.url(f"/ours/{os.path.basename(r.path)}")], tmp_path / "back",
            filter=(3, IDENTITY), format="png")[0]
        assert back.ok, back
        assert np.array_equal(pixels(back.path), pixels(r.path))
        # And it is the filtered picture: close to Pillow's own JPEG of it.
        theirs = pixels(io.BytesIO(encode(
            Image.open(io.BytesIO(body)).filter(ImageFilter.FIND_EDGES),
            "JPEG")))
        assert np.abs(pixels(r.path).astype(int) - theirs.astype(int)).mean() < 3


def test_keeping_formats_and_names(site, tmp_path):
    srv, good = site
    urls = [srv.url(good[0][0]), srv.url(good[1][0]), srv.url("/a/same.png"),
            srv.url("/b/same.png"), srv.url("/pics/%2E%2E%2Fevil.png")]
    results = ungil.download_pictures(urls, tmp_path / "o", threads=2)
    assert all(r.ok for r in results), results
    names = [os.path.basename(r.path) for r in results]
    assert names == ["p00.jpg", "p01.png", "same.png", "same (1).png",
                     "_evil.png"]
    with open(results[0].path, "rb") as f:
        assert f.read(3) == b"\xff\xd8\xff"
    assert np.array_equal(pixels(results[1].path), filtered(good[1][1]))
    assert np.array_equal(pixels(results[3].path), filtered(good[3][1]))
    assert listing(tmp_path) == ["o"]
    assert listing(tmp_path / "o") == sorted(names)


def test_name_picks_the_format(site, tmp_path):
    """format=None does what Pillow's save(path) does: the extension of the
    name picks the output format, whatever the body was; a name without an
    image extension keeps the input's format."""
    srv, good = site
    paths = ["/mixed/png-as.jpg", "/mixed/jpeg-as.png", "/mixed/rgba-as.jpg",
             "/mixed/noext"]
    results = ungil.download_pictures([srv.url(p) for p in paths],
                                      tmp_path, threads=2)
    png_as_jpg, jpeg_as_png, rgba_as_jpg, noext = results
    assert png_as_jpg.ok, png_as_jpg
    assert (png_as_jpg.input_format, png_as_jpg.format) == ("PNG", "JPEG")
    assert os.path.basename(png_as_jpg.path) == "png-as.jpg"
    with open(png_as_jpg.path, "rb") as f:
        assert f.read(3) == b"\xff\xd8\xff"
    theirs = pixels(io.BytesIO(encode(
        Image.open(io.BytesIO(good[1][1])).filter(ImageFilter.FIND_EDGES),
        "JPEG")))
    assert np.abs(pixels(png_as_jpg.path).astype(int)
                  - theirs.astype(int)).mean() < 3
    assert jpeg_as_png.ok, jpeg_as_png
    assert (jpeg_as_png.input_format, jpeg_as_png.format) == ("JPEG", "PNG")
    assert np.array_equal(pixels(jpeg_as_png.path), filtered(good[0][1]))
    # Pillow refuses RGBA as JPEG too; nothing is left under the name.
    assert rgba_as_jpg.error == "mode" and rgba_as_jpg.path is None
    assert "RGBA" in rgba_as_jpg.message and "JPEG" in rgba_as_jpg.message
    with pytest.raises(OSError, match="RGBA"):
        Image.open(io.BytesIO(good[3][1])).save(io.BytesIO(), "JPEG")
    assert noext.ok and (noext.input_format, noext.format) == ("PNG", "PNG")
    assert np.array_equal(pixels(noext.path), filtered(good[1][1]))
    assert listing(tmp_path) == ["jpeg-as.png", "noext", "png-as.jpg"]


@pytest.mark.parametrize("flt", [
    "BLUR", ImageFilter.SHARPEN, ImageFilter.EMBOSS(),
    ImageFilter.Kernel((3, 3), [1, 2, 1, 0, 0, 0, -1, -2, -1], 1, 128),
    ImageFilter.Kernel((5, 5), list(range(25)))])
def test_filters_in_every_form(site, tmp_path, flt):
    srv, good = site
    results = ungil.download_pictures([srv.url(p) for p, _ in good[:5]],
                                      tmp_path, filter=flt, format="png",
                                      threads=2)
    pil = getattr(ImageFilter, flt) if isinstance(flt, str) else flt
    for (path, body), r in zip(good, results):
        assert r.ok, r
        assert np.array_equal(pixels(r.path), filtered(body, pil)), path


def test_kernel_tuple_and_bad_arguments(site, tmp_path):
    srv, good = site
    weights = (0, -1, 0, -1, 5, -1, 0, -1, 0)
    results = ungil.download_pictures([srv.url(good[1][0])], tmp_path,
                                      filter=(3, weights), format="png")
    assert np.array_equal(pixels(results[0].path),
                          filtered(good[1][1], ImageFilter.Kernel((3, 3), weights)))
    with pytest.raises(ValueError, match="unknown filter"):
        ungil.download_pictures([srv.url(good[0][0])], tmp_path, filter="NOPE")
    with pytest.raises(TypeError):
        ungil.download_pictures([srv.url(good[0][0])], tmp_path,
                                filter=ImageFilter.GaussianBlur(2))
    with pytest.raises(ValueError, match="format"):
        ungil.download_pictures([srv.url(good[0][0])], tmp_path, format="gif")
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(OSError):
        ungil.download_pictures([srv.url(good[0][0])], tmp_path / "file")


def test_trace_shows_transfers_and_cpu_overlapping(site, tmp_path):
    srv, good = site
    trace = ungil.Trace()
    # 50 ms per response, two at a time: twelve rounds of transfers, so the
    # CPU steps of the first pictures run while later ones download.
    results = ungil.download_pictures([srv.url(p + "?delay=0.05")
                                       for p, _ in good],
                                      tmp_path, trace=trace, concurrency=2,
                                      threads=2)
    assert all(r.ok for r in results)
    events = trace.events()
    transfers = [e for e in events if e[2] == "transfer"]
    cpu = [e for e in events if e[2] in ("decode", "filter", "encode", "save")]
    assert len(transfers) == len(good)
    assert {e[2] for e in cpu} == {"decode", "filter", "encode", "save"}
    assert len(cpu) == 4 * len(good)
    assert all(e[1].startswith("transfer ") for e in transfers)
    assert not any(e[1].startswith("transfer ") for e in cpu)
    overlapping = [(t, c) for t in transfers for c in cpu
                   if c[3] < t[4] and t[3] < c[4]]
    assert overlapping, "no CPU step ran while a transfer was in flight"
    trace.save(tmp_path / "t.svg")
    svg = (tmp_path / "t.svg").read_text()
    assert "transfer" in svg and "decode" in svg


def test_backpressure_caps_held_pictures(site, tmp_path):
    srv, good = site
    results = ungil.download_pictures([srv.url(p) for p, _ in good],
                                      tmp_path, concurrency=16, threads=1,
                                      max_held_pictures=3, format="png")
    assert all(r.ok for r in results)
    assert results.summary["peak_held_pictures"] <= 3
    # A byte cap of 1: once any body byte is held, no transfer starts until
    # every held picture is saved.  Transfers admitted together while
    # nothing was held (at most `concurrency`) still run: the cap is soft
    # by what running transfers receive.
    results = ungil.download_pictures([srv.url(p) for p, _ in good],
                                      tmp_path / "b", concurrency=4,
                                      per_host=4, threads=1, max_held_bytes=1,
                                      format="png")
    assert all(r.ok for r in results)
    assert 1 <= results.summary["peak_held_pictures"] <= 4
    assert results.summary["peak_held_bytes"] >= max(len(b) for _, b in good)


def test_ctrl_c_stops_promptly_without_partial_files(site, tmp_path, child):
    srv, good = site
    srv_slow = FixtureServer(latency=0.3, lifetime=120)
    try:
        for path, body in good:
            srv_slow.add_file(path, body)
        urls = [srv_slow.url(p) for p, _ in good] * 20
        dest = tmp_path / "out"
        proc, started = child.start(f"""
            import sys, time, ungil
            print("ready", flush=True)
            try:
                ungil.download_pictures({urls!r}, {str(dest)!r}, concurrency=4,
                                        threads=1)
            except KeyboardInterrupt:
                print("interrupted", flush=True)
                sys.exit(3)
            print("finished", flush=True)
        """)
        child.wait_for_line(proc, "ready")
        time.sleep(1.0)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        result = child.finish(proc, TIMEOUT, started)
        stopped = time.monotonic() - sent
    finally:
        srv_slow.close()
    assert result.returncode == 3, result
    assert "interrupted" in result.stdout
    assert stopped < 10, stopped  # a hang guard; the API promises ~1 s
    for name in listing(dest):
        assert not name.endswith(".part"), name
        with Image.open(dest / name) as img:
            img.load()  # every final name holds a whole picture


# ---- the CLI ------------------------------------------------------------

SUMMARY = re.compile(r"^(\d+) of (\d+) pictures saved, [\d.]+ [kMGT]?B "
                     r"downloaded, [\d.]+ [kMGT]?B written in [\d.]+ s; peak "
                     r"held [\d.]+ [kMGT]?B \((\d+) pictures\)"
                     r"(; (\d+) failed:)?$")


def pictures_cli(cli, *args, input=None):
    return subprocess.run([cli, "pictures", *args], capture_output=True,
                          text=True, input=input, timeout=TIMEOUT,
                          stdin=None if input is not None else
                          subprocess.DEVNULL)


def test_cli_all_good(site, tmp_path, ungil_cli):
    srv, good = site
    urls = "\n".join(srv.url(p) for p, _ in good[:6]) + "\n# comment\n\n"
    out = tmp_path / "out"
    trace = tmp_path / "trace.json"
    r = pictures_cli(ungil_cli, "-i", "-", "-o", str(out), "--format", "png",
                     "--threads", "2", "-j", "4", "--trace", str(trace),
                     input=urls)
    assert r.returncode == 0, r
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    m = SUMMARY.match(lines[0])
    assert m and (m[1], m[2]) == ("6", "6"), lines[0]
    for path, body in good[:6]:
        name = os.path.basename(path).rsplit(".", 1)[0] + ".png"
        assert np.array_equal(pixels(out / name), filtered(body))
    assert '"transfer"' in trace.read_text() and '"filter"' in trace.read_text()


def test_cli_failures_and_usage(site, tmp_path, ungil_cli):
    srv, good = site
    out = tmp_path / "out"
    r = pictures_cli(ungil_cli, srv.url(good[0][0]), srv.url("/status/404"),
                     srv.url("/bad/page.jpg"), "-o", str(out), "-f", "blur")
    assert r.returncode == 1, r
    lines = r.stderr.splitlines()
    m = SUMMARY.match(lines[0])
    assert m and (m[1], m[2], m[5]) == ("1", "3", "2"), lines[0]
    assert any("/status/404: download failed: HTTP status 404" in l
               for l in lines), lines
    assert any("/bad/page.jpg: decode failed: not a JPEG or PNG" in l
               for l in lines), lines
    assert listing(out) == ["p00.jpg"]
    assert np.array_equal(pixels(out / "p00.jpg").shape,
                          filtered(good[0][1]).shape)
    assert pictures_cli(ungil_cli, srv.url(good[0][0])).returncode == 2
    assert pictures_cli(ungil_cli, "-o", str(out)).returncode == 2
    assert pictures_cli(ungil_cli, "x", "-o", str(out),
                        "--filter", "NOPE").returncode == 2
    assert pictures_cli(ungil_cli, "x", "-o", str(out),
                        "--format", "gif").returncode == 2
    q = pictures_cli(ungil_cli, srv.url("/status/404"), "-o", str(out), "-q")
    assert q.returncode == 1
    assert q.stderr.splitlines() == [
        f"  {srv.url('/status/404')}: download failed: HTTP status 404"]


def test_cli_progress_line_on_a_terminal(site, tmp_path, ungil_cli):
    srv, good = site
    urls = [srv.url(p + "?delay=0.3") for p, _ in good[:8]]
    status, raw = run_on_pty([ungil_cli, "pictures", *urls, "-o",
                              str(tmp_path), "-j", "2"])
    out = raw.decode()
    assert status == 0, out
    assert re.search(r"\[\d+/8\] downloaded \d+", out), out
    assert "\x1b[K" in out
    assert "8 of 8 pictures saved" in out


def test_cli_ctrl_c_exits_130(site, tmp_path, ungil_cli):
    srv, good = site
    urls = [srv.url(p + f"?delay=0.5&k={k}") for k in range(10)
            for p, _ in good]
    proc = subprocess.Popen([ungil_cli, "pictures", "-i", "-", "-o",
                             str(tmp_path), "-j", "4"],
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    proc.stdin.write("\n".join(urls) + "\n")
    proc.stdin.close()
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    with proc:
        err = proc.stderr.read()
        proc.wait(timeout=TIMEOUT)
    assert proc.returncode == 130, err
    assert "interrupted after" in err
    for name in listing(tmp_path):
        assert not name.endswith(".part"), name


def test_python_progress_bar(site, tmp_path, capfd):
    srv, good = site
    results = ungil.download_pictures(
        [srv.url(p + "?delay=0.3") for p, _ in good[:6]], tmp_path,
        concurrency=2, progress="plain")
    assert all(r.ok for r in results)
    err = capfd.readouterr().err
    assert "6/6 files" in err, err


def test_retries_pass_a_full_pipeline(site, tmp_path):
    # Both held pictures fail once (503) and wait for their retry while new
    # requests queue in front of them; the retries must still start (they
    # are already held), or nothing would ever free room.
    srv, good = site
    urls = ([srv.url(f"/fail/1/503{good[i][0]}?t={time.monotonic()}")
             for i in range(2)]
            + [srv.url(p) for p, _ in good[2:8]])
    results = ungil.download_pictures(urls, tmp_path, concurrency=2,
                                      per_host=2, threads=1,
                                      max_held_pictures=2, format="png")
    assert all(r.ok for r in results), results
    assert [r.attempts for r in results[:2]] == [2, 2]
    assert results.summary["peak_held_pictures"] <= 2
