"""Audit hash chain: append and verify throughput on SQLite (a temporary file).

Run:  uv run --frozen python benchmarks/bench_audit_chain.py [--rows 20000]
Prints appends per second (one transaction per event, as the CLI and dashboard write them, and
batched in one transaction) and rows verified per second, with peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from forecasting.store import migrate
from forecasting.store.governance import record_audit, verify_audit
from forecasting.store.session import make_engine, make_session_factory, transaction


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=20_000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'audit.db'}"
        migrate.upgrade(url)
        engine = make_engine(url)
        factory = make_session_factory(engine)
        single = min(2_000, a.rows)
        t0 = time.perf_counter()
        for i in range(single):
            with transaction(factory) as s:
                record_audit(session=s, username="bench", action="view", target=f"forecast {i}", details={"i": i})
        t1 = time.perf_counter()
        with transaction(factory) as s:
            for i in range(a.rows - single):
                record_audit(session=s, username="bench", action="export", target=f"plan {i}",
                             details={"format": "csv", "i": i})
        t2 = time.perf_counter()
        with transaction(factory) as s:
            r = verify_audit(session=s)
        t3 = time.perf_counter()
        engine.dispose()
    assert r.ok and r.rows == a.rows
    print(f"{single:,} appends, one transaction each: {single / (t1 - t0):,.0f} /s")
    print(f"{a.rows - single:,} appends in one transaction: {(a.rows - single) / max(t2 - t1, 1e-9):,.0f} /s")
    print(f"verify {r.rows:,} rows: {t3 - t2:.2f} s ({r.rows / (t3 - t2):,.0f} rows/s)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MB (shared machine)")


if __name__ == "__main__":
    main()
