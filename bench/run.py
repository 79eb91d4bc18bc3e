"""Runs every bench/bench_*.py in turn, then bench/report.py.

    python3 bench/run.py [name ...]     # e.g. run.py pool_map sum_upto
    python3 bench/run.py download_latency download_throughput

The download benchmarks need requests, aiohttp and pycurl (the `bench`
extra) and nginx and wrk (tools/setup-system.sh); their helpers
(download_clients.py, fixture_runner.py) are not benchmarks themselves.

Each benchmark runs in its own interpreter with this environment
(BENCH_ROUNDS, UNGIL_BUILD, ...) and can also be run alone.  A benchmark
that fails is reported and the others still run; the exit status says
whether all succeeded.
"""

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv):
    scripts = sorted(HERE.glob("bench_*.py"))
    if argv:
        wanted = {a.removeprefix("bench_").removesuffix(".py") for a in argv}
        scripts = [s for s in scripts
                   if s.stem.removeprefix("bench_") in wanted]
    failed = []
    t0 = time.perf_counter()
    for script in scripts:
        print(f"== {script.name}", flush=True)
        t = time.perf_counter()
        rc = subprocess.call([sys.executable, str(script)], cwd=HERE)
        print(f"== {script.name}: {'ok' if rc == 0 else f'FAILED ({rc})'} "
              f"in {time.perf_counter() - t:.1f} s", flush=True)
        if rc:
            failed.append(script.name)
    rc = subprocess.call([sys.executable, str(HERE / "report.py")], cwd=HERE)
    if rc:
        failed.append("report.py")
    print(f"== all done in {time.perf_counter() - t0:.1f} s"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
