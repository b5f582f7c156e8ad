"""The light read path of the store: same rows and errors through sqlite3 and through SQLAlchemy Core."""

from __future__ import annotations

import socket
import sqlite3

import pytest

from forecasting.errors import StoreError
from forecasting.store import lite, migrate


@pytest.fixture
def url(tmp_path):
    url = f"sqlite:///{tmp_path / 'cc.db'}"
    migrate.upgrade(url)
    with sqlite3.connect(tmp_path / "cc.db") as conn:
        conn.executemany(
            "INSERT INTO users (username, password_hash, role, disabled, created_at, session_generation) "
            "VALUES (?, 'x', ?, ?, ?, 0)",
            [("zoe", "viewer", 1, "2026-11-30 09:00:00.000000"), ("ana", "admin", 0, "2026-11-29 08:30:00.123456")],
        )
        conn.executemany(
            "INSERT INTO ingest_runs (kind, source_path, format, source, rows_read, loaded, duplicates, quarantined, "
            "started_at, status, host, pid) VALUES ('incidents', ?, 'sf', 'sf', 10, 9, 0, 1, ?, ?, ?, NULL)",
            [("/d/a.csv", "2026-11-29 08:00:00.000000", "succeeded", "elsewhere"),
             ("/d/b.csv", "2026-11-30 08:00:00.500000", "running", "elsewhere")],
        )
    return url


def test_sqlite_path_takes_only_plain_file_urls():
    assert lite.sqlite_path("sqlite:///rel/cc.db") == "rel/cc.db"
    assert lite.sqlite_path("sqlite+pysqlite:////abs/cc.db") == "/abs/cc.db"
    assert lite.sqlite_path("sqlite://") is None
    assert lite.sqlite_path("sqlite:///:memory:") is None
    assert lite.sqlite_path("sqlite:///cc.db?timeout=5") is None
    assert lite.sqlite_path("postgresql+psycopg://postgres@127.0.0.1/db") is None


def test_user_rows_are_sorted_and_carry_no_hash(url):
    assert lite.user_rows(url) == [
        ("ana", "admin", False, "2026-11-29 08:30:00.123456"),
        ("zoe", "viewer", True, "2026-11-30 09:00:00.000000"),
    ]


def test_ingest_run_rows_newest_first_with_iso_times(url):
    rows = lite.ingest_run_rows(url, limit=5)
    assert [r["path"] for r in rows] == ["/d/b.csv", "/d/a.csv"]
    assert rows[0]["started_at"] == "2026-11-30T08:00:00.500000"
    assert (rows[1]["rows_read"], rows[1]["loaded"], rows[1]["quarantined"], rows[1]["error"]) == (10, 9, 1, None)
    assert len(lite.ingest_run_rows(url, limit=1)) == 1


def test_running_runs_are_found_per_host(url):
    assert lite.running_runs_here(url, "elsewhere")
    assert not lite.running_runs_here(url, socket.gethostname())


def test_sqlite3_and_sqlalchemy_read_the_same_rows(url):
    sql = "SELECT username, role FROM users ORDER BY username"
    assert lite.read(url, sql) == lite._read_sqlalchemy(url, sql, {}, None, False) == [("ana", "admin"),
                                                                                        ("zoe", "viewer")]


def test_missing_file_or_schema_is_one_store_error_and_creates_nothing(tmp_path):
    missing = f"sqlite:///{tmp_path / 'none' / 'cc.db'}"
    with pytest.raises(StoreError, match="no database at .*run `crimecast db upgrade` first"):
        lite.read(missing, "SELECT 1")
    assert lite.read(missing, "SELECT 1", missing_ok=True) is None
    assert not (tmp_path / "none").exists()
    sqlite3.connect(tmp_path / "empty.db").close()
    with pytest.raises(StoreError, match="has no table 'users'; run `crimecast db upgrade` first"):
        lite.user_rows(f"sqlite:///{tmp_path / 'empty.db'}")
    assert migrate.current(f"sqlite:///{tmp_path / 'empty.db'}") is None


def test_a_broken_query_is_a_store_error(url):
    with pytest.raises(StoreError, match="database error"):
        lite.read(url, "SELECT no_such_column FROM users")


@pytest.mark.db
def test_postgres_reads_through_sqlalchemy_core(postgres_url):
    from datetime import UTC, datetime

    from sqlalchemy import text

    from forecasting.store.session import make_engine

    assert migrate.current(postgres_url) is None
    with pytest.raises(StoreError, match="has no table 'users'"):
        lite.user_rows(postgres_url)
    migrate.upgrade(postgres_url)
    assert migrate.current(postgres_url) == migrate.head()
    engine = make_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO ingest_runs (kind, source_path, format, source, rows_read, loaded, duplicates, "
                          "quarantined, started_at, status) VALUES ('incidents', '/d/a.csv', 'sf', 'sf', 3, 2, 0, 1, "
                          ":at, 'succeeded')"), {"at": datetime(2026, 11, 30, 8, tzinfo=UTC)})
    engine.dispose()
    (run,) = lite.ingest_run_rows(postgres_url, limit=5)
    assert (run["path"], run["loaded"]) == ("/d/a.csv", 2)
    assert datetime.fromisoformat(run["started_at"]) == datetime(2026, 11, 30, 8, tzinfo=UTC)  # server time zone aside
    assert lite.user_rows(postgres_url) == []
