"""Benchmark: ingest the full San Francisco train + test files (1.73 M rows) into SQLite or PostgreSQL.

Prints wall time, rows per second and peak resident memory of this process. Run with
``uv run python benchmarks/bench_ingest.py [--chunk-size N] [--all-shared] [--postgres URL]``; with
``--all-shared`` it also ingests every incident file of ../shared/data and prints the
counts per file (read, loaded, duplicates, quarantined by reason). With ``--postgres URL`` (a
server URL such as ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``) the files go into a
fresh database created on that server and dropped afterwards; ``--copy-workers N`` sets how many
connections COPY chunks into the staging table in parallel.
"""

from __future__ import annotations

import argparse
import contextlib
import os
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
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server URL (default: SQLite)")
    parser.add_argument("--copy-workers", type=int, default=None, help="PostgreSQL: parallel COPY connections")
    args = parser.parse_args()
    missing = [p for p in SF if not p.exists()]
    if missing:
        raise SystemExit(f"shared data absent: {missing}")
    with tempfile.TemporaryDirectory() as tmp, _database(args.postgres, tmp) as url:
        extra = {} if args.copy_workers is None else {"copy_workers": args.copy_workers}
        settings = load_settings(data_dir=tmp, chunk_size=args.chunk_size, database_url=url, **extra)
        migrate.upgrade(url)
        factory = make_session_factory(make_engine(url))
        t0 = time.perf_counter()
        summaries = [jobs.ingest_incidents(factory, settings, p, "sf") for p in SF]
        dt = time.perf_counter() - t0
        rows = sum(s.rows_read for s in summaries)
        backend = "PostgreSQL" if args.postgres else "SQLite"
        workers = f", {args.copy_workers} COPY workers" if args.copy_workers else ""
        print(f"SF train+test into {backend}{workers}: {rows:,} rows in {dt:.1f} s "
              f"({rows / dt:,.0f} rows/s), chunk {args.chunk_size:,}, peak RSS {_peak_mib()}")
        for s in summaries:
            _print(s)
        if args.all_shared:
            for fmt, paths in OTHERS:
                for p in paths:
                    _print(jobs.ingest_incidents(factory, settings, p, fmt))
            print(f"peak RSS after all files: {_peak_mib()}")


@contextlib.contextmanager
def _database(server: str | None, tmp: str):
    """A fresh database: a SQLite file in ``tmp``, or a new database on the PostgreSQL ``server`` (dropped after)."""
    if server is None:
        yield f"sqlite:///{tmp}/crimecast.db"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"crimecast_bench_{os.getpid()}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _print(s) -> None:
    reasons = ", ".join(f"{k}={v:,}" for k, v in sorted(s.quarantined_by_reason.items())) or "-"
    print(f"  {Path(s.path).name}: read {s.rows_read:,}, loaded {s.loaded:,}, "
          f"duplicates {s.duplicates:,}, quarantined {s.quarantined:,} ({reasons})")


if __name__ == "__main__":
    main()
