"""Time ``crimecast forecast --period shift`` (the next shift) on the demo data (issue 10: < 10 s).

Needs a demo data directory (``crimecast demo --no-serve``, or ``--no-backtest`` for a faster
set-up); each repeat is a fresh process (imports, reading the stored incidents, training the
shift model on all history, scoring every cell with reasons, storing the run), as a user would
run it. Prints the median wall and CPU time, the peak RSS and the load average.

    CRIMECAST_DATA_DIR=var/demo uv run python benchmarks/bench_forecast.py --repeats 3
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time


def _run(args: list[str]) -> tuple[float, float, int, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "forecasting", *args], capture_output=True,
                          text=True, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode:
        sys.stderr.write(done.stderr)
    return wall, cpu, after.ru_maxrss, done.returncode


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--period", default="shift")
    a = ap.parse_args()
    if "CRIMECAST_DATA_DIR" not in os.environ:
        print("Error: set CRIMECAST_DATA_DIR to a demo data directory (crimecast demo --no-serve)")
        return 1
    args = ["forecast", "--period", a.period, "--top", "5"]
    _run(["--help"])  # warm the file cache (and the bytecode cache where it is written)
    load = os.getloadavg()
    runs = [_run(args) for _ in range(a.repeats)]
    if any(r[3] for r in runs):
        print("Error: the forecast command failed (its stderr is above)")
        return 1
    print(f"crimecast {' '.join(args)}: wall median {statistics.median(r[0] for r in runs):.2f} s "
          f"(runs {', '.join(f'{r[0]:.1f}' for r in runs)}), CPU median "
          f"{statistics.median(r[1] for r in runs):.2f} s, peak RSS {max(r[2] for r in runs) / 1024:.0f} MiB; "
          f"load average before {load[0]:.1f}, after {os.getloadavg()[0]:.1f} (2 cores, shared)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
