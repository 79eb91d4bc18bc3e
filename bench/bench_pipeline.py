"""The course's download_picture, at scale: 500 JPEGs of 640x480 from a
local server that adds 50 ms to every response; each is downloaded,
decoded, filtered with ImageFilter.FIND_EDGES and saved as JPEG.

Contenders (each in a child process of its own, timed around the work
only, imports and the output directory made before the clock starts):
  - ungil.download_pictures(concurrency=64, per_host=64): transfers on one
    native loop, decode/filter/encode/save on native threads (one per CPU);
  - the course's version: one threading.Thread per URL (all 500 at once),
    each running requests.get + Image.open + filter(FIND_EDGES) + save;
  - ThreadPoolExecutor(32) + requests (one Session per worker) + Pillow:
    32 workers, so that 32 transfers are in flight (about 16 per core)
    while the pool stays small enough not to thrash two cores.
The pictures are photo-like (smooth gradients, a few shapes and sensor-like
noise; JPEG quality 85, about 40-50 kB each) and generated once into a
cache directory.  The server is tests/python/fixture_server.py serving them
from memory in a process of its own (see serve() below).

Also reported: each contender's peak memory (the child's maximum resident
set), ungil's peak bytes held between download and save, and, from one
traced ungil run, where the time goes: summed transfer time (waiting on
the network) against the summed decode, filter, encode and save CPU time.

Environment: PIPE_N (500), PIPE_LATENCY (0.05), PIPE_TPE_WORKERS (32),
BENCH_ROUNDS.
"""

import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import harness
from fixture_runner import load_fixture_server

N = int(os.environ.get("PIPE_N", "500"))
LATENCY = float(os.environ.get("PIPE_LATENCY", "0.05"))
TPE_WORKERS = int(os.environ.get("PIPE_TPE_WORKERS", "32"))
WIDTH, HEIGHT = 640, 480
CONCURRENCY = 64


# ---- data ----------------------------------------------------------------

def photo(seed):
    """A photo-like 640x480 RGB picture as JPEG bytes (quality 85)."""
    import numpy as np
    from PIL import Image, ImageDraw
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    channels = []
    for _ in range(3):
        fx, fy, phase = rng.uniform(0.002, 0.02, 2).tolist() + [rng.uniform(0, 6)]
        channels.append(128 + 60 * np.sin(x * fx + phase) * np.cos(y * fy)
                        + rng.uniform(-40, 40) * (x / WIDTH))
    arr = np.stack(channels, axis=-1)
    arr += rng.normal(0, 6, arr.shape)
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        x0, y0 = rng.integers(0, WIDTH - 60), rng.integers(0, HEIGHT - 60)
        w, h = rng.integers(20, 200, 2)
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.ellipse([x0, y0, x0 + w, y0 + h], fill=color)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def pictures_dir():
    """The cache of N generated pictures, made on first use."""
    root = Path(tempfile.gettempdir()) / f"ungil-bench-pipeline-{N}-v1"
    if not (root / "done").exists():
        root.mkdir(exist_ok=True)
        for i in range(N):
            (root / f"p{i:04d}.jpg").write_bytes(photo(i))
        (root / "done").write_text("ok\n")
    return root


# ---- the server (a child process) ----------------------------------------

def serve(directory, latency):
    """Serves every picture of `directory` at /pics/<name> with `latency`
    until stdin closes; prints the origin first."""
    fixture_server = load_fixture_server()
    srv = fixture_server.FixtureServer(latency=latency, lifetime=None,
                                       record=False)
    for path in sorted(Path(directory).glob("*.jpg")):
        srv.add_file(f"/pics/{path.name}", path.read_bytes(), "image/jpeg")
    print(srv.origin, flush=True)
    sys.stdin.read()
    srv.close()


class Server:
    def __init__(self, directory):
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(directory), str(LATENCY)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.origin = self.proc.stdout.readline().strip()
        if not self.origin.startswith("http://"):
            self.stop()
            raise RuntimeError("the picture server did not start")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---- the clients (each in a child process) --------------------------------

def course_picture(url, path):
    """The course's download_picture."""
    import requests
    from PIL import Image, ImageFilter
    response = requests.get(url)
    img = Image.open(io.BytesIO(response.content))
    img = img.filter(ImageFilter.FIND_EDGES)
    img.save(path)


def run_course(urls, paths):
    import threading
    threads = [threading.Thread(target=course_picture, args=(u, p))
               for u, p in zip(urls, paths)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {}


def run_tpe(urls, paths):
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import requests
    from PIL import Image, ImageFilter
    local = threading.local()

    def one(url, path):
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        img = Image.open(io.BytesIO(session.get(url).content))
        img.filter(ImageFilter.FIND_EDGES).save(path)

    with ThreadPoolExecutor(TPE_WORKERS) as pool:
        list(pool.map(one, urls, paths))
    return {}


def run_ungil(urls, paths, trace_path=None):
    ungil = harness.import_ungil()
    trace = ungil.Trace() if trace_path else None
    dest = os.path.dirname(paths[0])
    results = ungil.download_pictures(urls, dest, concurrency=CONCURRENCY,
                                      per_host=CONCURRENCY, trace=trace)
    bad = [r for r in results if not r.ok]
    if bad:
        raise RuntimeError(f"{len(bad)} pictures failed: {bad[0]}")
    extra = {"peak_held_bytes": results.summary["peak_held_bytes"],
             "peak_held_pictures": results.summary["peak_held_pictures"]}
    if trace is not None:
        # Busy time per kind of event, summed over lanes, from the trace.
        stages = dict.fromkeys(("transfer", "decode", "filter", "encode",
                                "save"), 0.0)
        for _, _, label, start, end, _ in trace.events():
            if label in stages:
                stages[label] += end - start
        extra["stages"] = stages
        trace.save(trace_path, "ungil.download_pictures")
    return extra


CLIENTS = {"ungil": run_ungil, "course": run_course, "tpe": run_tpe}


def client_main(name, origin, dest, trace_path):
    """Runs one client once; prints a JSON line with its measurements."""
    import requests  # noqa: F401  (imported before the clock, as all are)
    from PIL import Image  # noqa: F401
    harness.import_ungil()
    urls = [f"{origin}/pics/p{i:04d}.jpg" for i in range(N)]
    paths = [os.path.join(dest, f"p{i:04d}.jpg") for i in range(N)]
    kwargs = {"trace_path": trace_path} if trace_path else {}
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    extra = CLIENTS[name](urls, paths, **kwargs)
    seconds = time.perf_counter() - t0
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    saved = len([f for f in os.listdir(dest) if f.endswith(".jpg")])
    if saved != N:
        raise RuntimeError(f"{name}: {saved} files instead of {N}")
    extra.update(seconds=seconds, maxrss_mb=usage1.ru_maxrss / 1024,
                 cpu_s=(usage1.ru_utime - usage0.ru_utime
                        + usage1.ru_stime - usage0.ru_stime))
    print(json.dumps(extra), flush=True)


def contender(name, origin, tmp_root, trace_path=None):
    def run():
        dest = tempfile.mkdtemp(prefix="ungil-pipe-", dir=tmp_root)
        try:
            cmd = [sys.executable, __file__, "--client", name, origin, dest]
            if trace_path:
                cmd.append(str(trace_path))
            out = subprocess.run(cmd, capture_output=True, text=True,
                                 timeout=600, env=dict(os.environ))
            if out.returncode:
                raise RuntimeError(f"{name} failed:\n{out.stderr}")
            extra = json.loads(out.stdout.strip().splitlines()[-1])
        finally:
            shutil.rmtree(dest, ignore_errors=True)
        return extra.pop("seconds"), extra
    return run


# ---- the benchmark -------------------------------------------------------

def median_extra(row, key):
    values = sorted(e[key] for e in row.get("extra", ()) if key in e)
    return values[len(values) // 2] if values else None


def main():
    import download_clients as dc
    facts = harness.machine()
    directory = pictures_dir()
    tmp = dc.tmp_root()
    server = Server(directory)
    try:
        names = {
            "ungil": f"ungil.download_pictures (concurrency {CONCURRENCY}, "
                     f"native threads)",
            "course": "course: Thread per URL + requests + Pillow",
            "tpe": f"ThreadPoolExecutor({TPE_WORKERS}) + requests + Pillow",
        }
        group = harness.run_group(
            f"{N} JPEGs {WIDTH}x{HEIGHT}, {LATENCY * 1e3:.0f} ms per response: "
            f"download, FIND_EDGES, save",
            [harness.Contender(names[k], contender(k, server.origin, tmp), N,
                               "pictures") for k in ("ungil", "course", "tpe")],
            baseline=names["course"])
        trace_svg = harness.RESULTS_DIR / "pipeline_trace.svg"
        harness.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        _, traced = contender("ungil", server.origin, tmp, trace_svg)()
    finally:
        server.stop()
    dc.cpu_summary(group)
    for row in group["contenders"]:
        row["peak_rss_mb"] = median_extra(row, "maxrss_mb")
    ours = harness.find(group, names["ungil"])
    course = harness.find(group, names["course"])
    tpe = harness.find(group, names["tpe"])
    vs_tpe = ours["per_second"] / tpe["per_second"]
    targets = [
        harness.target("ungil vs the course's version (x)", ours["ratio"], 2.0),
        harness.target(f"ungil vs ThreadPoolExecutor({TPE_WORKERS}) (x)",
                       vs_tpe, 1.5),
    ]
    stages = traced["stages"]
    cpu_total = sum(stages[k] for k in ("decode", "filter", "encode", "save"))
    notes = [
        f"{harness.cores_label(facts)}. Median of {group['rounds']} rounds, "
        f"contenders interleaved; each in its own child process, timed "
        f"around the work only.",
        f"Speed-up: ungil {ours['ratio']:.2f}x the course's version, "
        f"{vs_tpe:.2f}x ThreadPoolExecutor({TPE_WORKERS}).",
        "Peak memory (maximum resident set of the client process, median): "
        + ", ".join(f"{r['name']} {r['peak_rss_mb']:.0f} MB"
                    for r in group["contenders"])
        + f". ungil held at most "
          f"{median_extra(ours, 'peak_held_bytes') / 1e6:.1f} MB of bodies and "
          f"pixels between download and save "
          f"({median_extra(ours, 'peak_held_pictures')} pictures).",
        f"Where ungil's time goes (one traced run, {trace_svg.name}; busy "
        f"seconds of the trace's bars summed over lanes, against a median "
        f"wall time of {ours['median']:.2f} s): "
        f"transfers {stages['transfer']:.1f} s summed over all pictures "
        f"(mostly the server's {LATENCY * 1e3:.0f} ms, overlapped "
        f"{CONCURRENCY} at a time); CPU {cpu_total:.2f} s summed: decode "
        f"{stages['decode']:.2f} s, filter {stages['filter']:.2f} s, encode "
        f"{stages['encode']:.2f} s, save {stages['save']:.2f} s.",
        f"Ideal for the network alone: {N} / {CONCURRENCY} x "
        f"{LATENCY * 1e3:.0f} ms = {N / CONCURRENCY * LATENCY:.2f} s; the "
        f"course's version starts all {N} threads at once.",
    ]
    harness.write_results("pipeline", "Pictures: download + FIND_EDGES + save",
                          [group], targets, notes, facts)
    for note in notes:
        print(note, file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(sys.argv[2], float(sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--client":
        client_main(sys.argv[2], sys.argv[3], sys.argv[4],
                    sys.argv[5] if len(sys.argv) > 5 else None)
    else:
        main()
