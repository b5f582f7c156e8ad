"""PostgreSQL ingests through parallel COPY into staging tables: the same rules as SQLite, atomic, killable."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from forecasting import jobs
from forecasting.store.models import Incident, IngestRun, QuarantinedRow
from forecasting.store.session import make_engine, make_session_factory, transaction

from .conftest import REPO, stored_rows

pytestmark = pytest.mark.db


def _file_with_repeats(path, n: int, seed: int) -> None:
    """Canonical rows whose ids repeat across chunks: exact re-deliveries and changed content (conflicts)."""
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp("2023-01-01T00:00:00Z")
    base = pd.DataFrame({
        "incident_id": [f"r{i}" for i in range(n)],
        "occurred_at": (t0 + pd.to_timedelta(rng.integers(0, 365 * 24 * 3600, n), unit="s")).strftime(
            "%Y-%m-%dT%H:%M:%SZ"),
        "latitude": 49.25 + rng.random(n) * 0.05, "longitude": -123.15 + rng.random(n) * 0.05,
        "category": rng.choice(["Theft", "Break and Enter", "Mischief"], n)})
    dup = base.sample(n // 10, random_state=1)
    conflict = base.sample(n // 20, random_state=2).assign(category="Changed")
    bad = base.head(50).assign(latitude=95.0, incident_id=[f"bad{i}" for i in range(50)])
    base = pd.concat([base, dup, conflict, bad], ignore_index=True)
    base.to_csv(path, index=False)


def _stored(factory) -> tuple[pd.DataFrame, pd.Series]:
    with transaction(factory) as s:
        conn = s.connection()
        inc = pd.read_sql(text("select source, incident_id, content_hash, category from incidents"), conn)
        q = pd.read_sql(text("select reason, row_number from quarantined_rows"), conn)
    return (inc.sort_values(["source", "incident_id"]).reset_index(drop=True),
            q.sort_values(["reason", "row_number"]).reset_index(drop=True))


def _pg_factory(postgres_url):
    from forecasting.store import migrate

    migrate.upgrade(postgres_url)
    engine = make_engine(postgres_url)
    return engine, make_session_factory(engine)


def test_parallel_copy_ingest_equals_the_sqlite_ingest(postgres_url, factory, settings, tmp_path):
    """Duplicates and conflicts spread over chunks copied by 3 connections are classified as on SQLite."""
    path = tmp_path / "repeats.csv"
    _file_with_repeats(path, 12_000, 5)
    small = settings.model_copy(update={"chunk_size": 1500, "copy_workers": 3})
    lite = jobs.ingest_incidents(factory, small, path, "canonical")
    engine, pg = _pg_factory(postgres_url)
    try:
        got = jobs.ingest_incidents(pg, small, path, "canonical")
        assert (got.rows_read, got.loaded, got.duplicates, got.quarantined_by_reason) == (
            lite.rows_read, lite.loaded, lite.duplicates, lite.quarantined_by_reason)
        assert got.duplicates == 1200 and got.quarantined_by_reason == {"conflicting_id": 600,
                                                                         "out_of_range_coordinates": 50}
        a, qa = _stored(factory)
        b, qb = _stored(pg)
        pd.testing.assert_frame_equal(a, b)
        pd.testing.assert_frame_equal(qa, qb)
        again = jobs.ingest_incidents(pg, small, path, "canonical")
        assert again.loaded == 0 and stored_rows(pg, Incident) == got.loaded
        with engine.connect() as conn:  # the staging tables are gone; the generated geometry is filled
            assert conn.execute(text("select count(*) from pg_tables where tablename like 'cc_stage%'")).scalar() == 0
            assert conn.execute(text("select count(*) from incidents where geom is null")).scalar() == 0
    finally:
        engine.dispose()


def test_a_failing_copy_fails_the_run_and_keeps_nothing(postgres_url, settings, tmp_path, monkeypatch):
    from forecasting.store import bulk

    path = tmp_path / "repeats.csv"
    _file_with_repeats(path, 6000, 6)
    real, calls = bulk.copy_frame, []

    def broken(conn, table, frame):
        calls.append(table)
        if len(calls) == 4:
            raise OSError(28, "No space left on device")
        return real(conn, table, frame)

    monkeypatch.setattr(bulk, "copy_frame", broken)
    engine, pg = _pg_factory(postgres_url)
    try:
        with pytest.raises(OSError, match="No space left"):
            jobs.ingest_incidents(pg, settings.model_copy(update={"chunk_size": 1000}), path, "canonical")
        assert stored_rows(pg, Incident) == 0 and stored_rows(pg, QuarantinedRow) == 0
        with transaction(pg) as s:
            (run,) = s.query(IngestRun).all()
            assert run.status == "failed" and "No space left" in run.error
        with engine.connect() as conn:
            assert conn.execute(text("select count(*) from pg_tables where tablename like 'cc_stage%'")).scalar() == 0
    finally:
        engine.dispose()


@pytest.mark.slow
def test_a_killed_copy_leaves_nothing(postgres_url, settings, tmp_path):
    """SIGKILL while chunks are being copied in: the real tables are untouched; the next ingest tidies up."""
    from .test_ingest_concurrency import _incidents_csv

    big, small = tmp_path / "big.csv", tmp_path / "small.csv"
    _incidents_csv(big, 200_000, 7, "k")
    _incidents_csv(small, 1000, 8, "s")
    engine, pg = _pg_factory(postgres_url)
    script = textwrap.dedent(f"""
        from forecasting import jobs
        from forecasting.config import load_settings
        from forecasting.store.session import make_engine, make_session_factory
        settings = load_settings(database_url={postgres_url!r}, chunk_size=5000, copy_workers=2)
        factory = make_session_factory(make_engine(settings.resolved_database_url()))
        jobs.ingest_incidents(factory, settings, {str(big)!r}, "canonical")
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stderr=subprocess.PIPE)
    try:
        staged, deadline = 0, time.monotonic() + 300
        while staged < 10_000 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            with engine.connect() as conn:
                name = conn.execute(text("select tablename from pg_tables where tablename like 'cc_stage_incidents%'")
                                    ).scalar()
                staged = conn.execute(text(f"select count(*) from {name}")).scalar() if name else 0
        assert staged >= 10_000, "the ingest never staged rows"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert stored_rows(pg, Incident) == 0 and stored_rows(pg, QuarantinedRow) == 0
    try:
        after = jobs.ingest_incidents(pg, settings, small, "canonical")
        assert after.loaded == 1000 and stored_rows(pg, Incident) == 1000
        with transaction(pg) as s:
            status = dict(s.query(IngestRun.id, IngestRun.status).all())
        assert sorted(status.values()) == ["failed", "succeeded"]
        with engine.connect() as conn:
            assert conn.execute(text("select count(*) from pg_tables where tablename like 'cc_stage%'")).scalar() == 0
    finally:
        engine.dispose()
