"""Shared fixtures: a migrated SQLite database per test, an optional real PostgreSQL."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
SHARED = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """No developer setting or crimecast.toml leaks into a test."""
    for key in list(os.environ):
        if key.startswith("CRIMECAST_") and key not in ("CRIMECAST_TEST_POSTGRES_URL", "CRIMECAST_REQUIRE_POSTGRES"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def settings(tmp_path):
    from forecasting.config import load_settings

    return load_settings(data_dir=str(tmp_path / "var"))


@pytest.fixture
def sqlite_url(settings):
    from forecasting.store import migrate

    url = settings.resolved_database_url()
    migrate.upgrade(url)
    return url


@pytest.fixture
def factory(sqlite_url):
    from forecasting.store.session import make_engine, make_session_factory

    engine = make_engine(sqlite_url)
    yield make_session_factory(engine)
    engine.dispose()


def stored_rows(factory, model, run_id=None) -> int:
    """Rows of ``model`` in the database (optionally of one ingest run)."""
    from forecasting.store.counts import count_rows
    from forecasting.store.session import transaction

    with transaction(factory) as s:
        return count_rows(session=s, model=model, run_id=run_id)


def shared_file(*parts: str) -> Path:
    """A file of ../shared/data, or skip with a visible reason when it is absent."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared data file {p} is absent (only on a development machine)")
    return p


@pytest.fixture(scope="session")
def postgres_server_url():
    """URL of a reachable PostgreSQL server, or skip (fail in CI) with the reason."""
    url = os.environ.get("CRIMECAST_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    from sqlalchemy import create_engine, text

    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
            has_postgis = conn.execute(
                text("select count(*) from pg_available_extensions where name = 'postgis'")
            ).scalar()
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any connection failure means "no server here"
        _skip_or_fail(f"no PostgreSQL server reachable at {url}: {type(exc).__name__}")
    if not has_postgis:
        _skip_or_fail("PostgreSQL is reachable but the PostGIS extension is not installed")
    return url


def _skip_or_fail(reason: str):
    if os.environ.get("CRIMECAST_REQUIRE_POSTGRES"):
        pytest.fail(reason + " (CRIMECAST_REQUIRE_POSTGRES is set)")
    pytest.skip(reason)


@pytest.fixture
def postgres_url(postgres_server_url):
    """A fresh, empty database on the server, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"crimecast_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_server_url).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
