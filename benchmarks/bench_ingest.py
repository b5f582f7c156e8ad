"""Benchmark: ingest the full San Francisco train + test files (1.73 M rows) into SQLite.

Prints wall time, rows per second and peak resident memory of this process. Run with
``uv run python benchmarks/bench_ingest.py [--chunk-size N] [--all-shared]``; with
``--all-shared`` it also ingests every incident file of ../shared/data and prints the
counts per file (read, loaded, duplicates, quarantined by reason).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from forecasting import jobs
from forecasting.config import load_settings
from forecasting.store import migrate
from forecasting.store.session import make_engine, make_session_factory

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SF = [
    SHARED / "san_francisco" / "sf_kaggle_train_2003-01-06_2015-05-13.csv.gz",
    SHARED / "san_francisco" / "sf_kaggle_test_2003_2014.csv.gz",
]
OTHERS = [
    ("chicago", [SHARED / "chicago" / "chicago_aggravated_assaults.csv.gz"]),
    ("vancouver", sorted((SHARED / "vancouver").glob("crimedata_csv_AllNeighbourhoods_*.csv.gz"))),
    ("policeuk", sorted((SHARED / "policeuk_west_yorkshire").glob("*.csv.gz"))),
]


def _peak_mib() -> str:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return f"{own:,.0f} MiB (parsing process {child:,.0f} MiB)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunk-size", type=int, default=50_000)
    parser.add_argument("--all-shared", action="store_true")
    args = parser.parse_args()
    missing = [p for p in SF if not p.exists()]
    if missing:
        raise SystemExit(f"shared data absent: {missing}")
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(data_dir=tmp, chunk_size=args.chunk_size)
        url = settings.resolved_database_url()
        migrate.upgrade(url)
        factory = make_session_factory(make_engine(url))
        t0 = time.perf_counter()
        summaries = [jobs.ingest_incidents(factory, settings, p, "sf") for p in SF]
        dt = time.perf_counter() - t0
        rows = sum(s.rows_read for s in summaries)
        print(f"SF train+test into SQLite: {rows:,} rows in {dt:.1f} s "
              f"({rows / dt:,.0f} rows/s), chunk {args.chunk_size:,}, peak RSS {_peak_mib()}")
        for s in summaries:
            _print(s)
        if args.all_shared:
            for fmt, paths in OTHERS:
                for p in paths:
                    _print(jobs.ingest_incidents(factory, settings, p, fmt))
            print(f"peak RSS after all files: {_peak_mib()}")


def _print(s) -> None:
    reasons = ", ".join(f"{k}={v:,}" for k, v in sorted(s.quarantined_by_reason.items())) or "-"
    print(f"  {Path(s.path).name}: read {s.rows_read:,}, loaded {s.loaded:,}, "
          f"duplicates {s.duplicates:,}, quarantined {s.quarantined:,} ({reasons})")


if __name__ == "__main__":
    main()
