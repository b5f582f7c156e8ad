"""Real processes against one database: concurrent ingests both complete (serialised by the ingest lock),
and sign-ins and audit writes keep working while a long ingest runs (SQLite stages rows in temp tables)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from .conftest import REPO, stored_rows


def _incidents_csv(path, n: int, seed: int, prefix: str) -> None:
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp("2023-01-01T00:00:00Z")
    frame = pd.DataFrame({
        "incident_id": [f"{prefix}{i}" for i in range(n)],
        "occurred_at": (t0 + pd.to_timedelta(rng.integers(0, 365 * 24 * 3600, n), unit="s")).strftime(
            "%Y-%m-%dT%H:%M:%SZ"),
        "latitude": 49.25 + rng.random(n) * 0.05, "longitude": -123.15 + rng.random(n) * 0.05,
        "category": rng.choice(["Theft", "Break and Enter", "Mischief"], n)})
    frame.to_csv(path, index=False)


def _ingest(url: str, path, chunk_size: int = 20_000) -> subprocess.Popen:
    env = {**os.environ, "CRIMECAST_DATABASE_URL": url, "CRIMECAST_CHUNK_SIZE": str(chunk_size)}
    return subprocess.Popen([sys.executable, "-m", "forecasting", "ingest", "incidents", str(path),
                             "--format", "canonical", "--json"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _two_concurrent_ingests(url, tmp_path):
    from forecasting.store.models import Incident, IngestRun
    from forecasting.store.session import make_engine, make_session_factory, transaction

    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    _incidents_csv(a, 60_000, 1, "a")
    _incidents_csv(b, 60_000, 2, "b")
    procs = [_ingest(url, a), _ingest(url, b)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err.decode()[-800:]
        assert b"locked" not in err
    engine = make_engine(url)
    factory = make_session_factory(engine)
    assert stored_rows(factory, Incident) == 120_000
    with transaction(factory) as s:
        assert {r.status for r in s.query(IngestRun).all()} == {"succeeded"}
    engine.dispose()


@pytest.mark.slow
def test_two_concurrent_sqlite_ingests_both_complete(sqlite_url, tmp_path):
    _two_concurrent_ingests(sqlite_url, tmp_path)


@pytest.mark.slow
@pytest.mark.db
def test_two_concurrent_postgres_ingests_both_complete(postgres_url, tmp_path):
    from forecasting.store import migrate

    migrate.upgrade(postgres_url)
    _two_concurrent_ingests(postgres_url, tmp_path)


def _writes_keep_working_during_ingest(url, tmp_path):
    """While a long ingest runs in another process, accounts are read and audit rows written within seconds."""
    from forecasting.store.governance import create_user, get_user, record_audit
    from forecasting.store.models import Incident, IngestRun
    from forecasting.store.session import make_engine, make_session_factory, transaction

    engine = make_engine(url)
    factory = make_session_factory(engine)
    with transaction(factory) as s:
        create_user(session=s, username="ana", password="analyst-password", role="analyst")
    big = tmp_path / "big.csv"
    _incidents_csv(big, 300_000, 3, "c")
    proc = _ingest(url, big, chunk_size=10_000)
    slowest, during = 0.0, 0
    try:
        while proc.poll() is None:
            t = time.monotonic()
            with transaction(factory) as s:  # what a sign-in does: read the account, write an audit row
                assert get_user(session=s, username="ana") is not None
                running = s.query(IngestRun).filter_by(status="running").count()
                record_audit(session=s, username="ana", action="sign_in", details={"address": "127.0.0.1"})
            slowest = max(slowest, time.monotonic() - t)
            during += bool(running)
            time.sleep(0.2)
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err.decode()[-800:]
    assert during >= 5, "the ingest ended before the writes could overlap it"
    assert slowest < 10.0, f"a sign-in write waited {slowest:.1f} s during the ingest"
    assert stored_rows(factory, Incident) == 300_000
    engine.dispose()


@pytest.mark.slow
def test_sqlite_sign_ins_keep_working_during_a_long_ingest(sqlite_url, tmp_path):
    _writes_keep_working_during_ingest(sqlite_url, tmp_path)


@pytest.mark.slow
@pytest.mark.db
def test_postgres_sign_ins_keep_working_during_a_long_ingest(postgres_url, tmp_path):
    from forecasting.store import migrate

    migrate.upgrade(postgres_url)
    _writes_keep_working_during_ingest(postgres_url, tmp_path)


def test_sqlite_database_file_is_private(settings):
    from forecasting.store import migrate

    url = settings.resolved_database_url()
    migrate.upgrade(url)
    path = settings.resolved_database_url().split("///", 1)[1]
    assert os.stat(path).st_mode & 0o777 == 0o600
