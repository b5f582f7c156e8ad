"""Start-up time of CLI commands that do no modelling (target: --help < 0.5 s, the others < 1.5 s).

Runs each command ``--repeats`` times in a fresh process against a freshly migrated SQLite
database and prints the median wall time, the median CPU time and the peak RSS.

    uv run python benchmarks/bench_cli.py --repeats 5
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

COMMANDS = (["--help"], ["db", "current"], ["users", "list"], ["ingest", "runs"],
            ["forecast", "--period", "fortnight"], ["priority", "cameras", "--k", "0"])


def _run(args: list[str], env: dict) -> tuple[float, float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "forecasting", *args], env=env, capture_output=True, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "CRIMECAST_DATA_DIR": tmp}
        subprocess.run([sys.executable, "-m", "forecasting", "db", "upgrade"], env=env, check=True,
                       capture_output=True)
        print(f"load average {os.getloadavg()[0]:.2f} (a shared machine: wall times are upper bounds)")
        print(f"{'command':<36} {'wall median':>12} {'cpu median':>11} {'peak RSS':>10}")
        for args in COMMANDS:
            runs = [_run(args, env) for _ in range(opts.repeats)]
            wall = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            print(f"{'crimecast ' + ' '.join(args):<36} {wall:>10.2f} s {cpu:>9.2f} s "
                  f"{max(r[2] for r in runs) / 1024:>7.0f} MiB")


if __name__ == "__main__":
    main()
