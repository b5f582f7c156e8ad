"""Small read-only queries for commands that do no modelling (``db current``, ``users list``, ``ingest runs``).

Importing SQLAlchemy costs about a second on a loaded 2-core machine, and its ORM half a
second more; a command that only lists a few rows should answer faster than that. So a
plain SQLite file URL (the default) is read with the standard library's :mod:`sqlite3`,
and any other URL (PostgreSQL, SQLite with query options) with SQLAlchemy Core ``text()``
queries; the ORM models are never imported. The SQL is the same for both: portable
``SELECT`` statements with ``:name`` parameters. Writes stay in the repository modules.

Errors are the store's own: a missing database file or schema raises the same
:class:`~forecasting.errors.StoreError` lines as :func:`forecasting.store.session.check_migrated`.
"""

from __future__ import annotations

import os
import re
from typing import Any

from forecasting.errors import StoreError

#: How long a SQLite writer waits for another one before "database is locked" (also used by the engine).
BUSY_TIMEOUT_SECONDS = 60

#: ``sqlite:///relative.db``, ``sqlite:////absolute.db`` (driver suffix allowed); no query options.
_SQLITE_FILE = re.compile(r"^sqlite(?:\+pysqlite)?:///(?P<path>[^?]+)$")


def sqlite_path(url: str) -> str | None:
    """The file a plain SQLite URL names, else None (memory, URI or query options: left to SQLAlchemy).

    Examples
    --------
    >>> sqlite_path("sqlite:////var/crimecast.db")
    '/var/crimecast.db'
    >>> sqlite_path("sqlite:///:memory:") is None, sqlite_path("postgresql+psycopg://h/db") is None
    (True, True)
    """
    m = _SQLITE_FILE.match(url)
    if m is None or m["path"] == ":memory:" or m["path"].startswith("file:"):
        return None
    return os.path.expanduser(m["path"])


def _display(url: str) -> str:
    if sqlite_path(url) is not None:
        return url
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def read(url: str, sql: str, params: dict[str, Any] | None = None, *, table: str | None = None,
         missing_ok: bool = False) -> list[tuple] | None:
    """Rows of one ``SELECT`` on the database at ``url``, as tuples.

    Parameters
    ----------
    url : str
        Database URL.
    sql : str
        A portable ``SELECT`` with ``:name`` parameters.
    params : dict, optional
        Parameter values.
    table : str, optional
        A table the query needs: when the schema lacks it, raise ``StoreError`` naming the fix
        (or return None when ``missing_ok``).
    missing_ok : bool
        Return None, not an error, when the SQLite file or ``table`` does not exist.

    Examples
    --------
    >>> read("sqlite:////no/such/crimecast.db", "SELECT 1", missing_ok=True) is None
    True
    """
    path = sqlite_path(url)
    if path is not None:
        return _read_sqlite(url, path, sql, params or {}, table, missing_ok)
    return _read_sqlalchemy(url, sql, params or {}, table, missing_ok)


def _missing_table(url: str, table: str, missing_ok: bool) -> None:
    if missing_ok:
        return None
    raise StoreError(f"the database at {_display(url)} has no table {table!r}; run `crimecast db upgrade` first")


def _read_sqlite(url, path, sql, params, table, missing_ok):
    import sqlite3

    if not os.path.exists(path):  # never connect: that would leave an empty file behind
        if missing_ok:
            return None
        raise StoreError(
            f"no database at {path}; run `crimecast db upgrade` first, or point "
            "CRIMECAST_DATA_DIR or --config at an existing one (after `make demo`: CRIMECAST_DATA_DIR=var/demo)"
        )
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot reach the database at {url!r}: {exc}") from None
    try:
        if table is not None and conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone() is None:
            return _missing_table(url, table, missing_ok)
        return [tuple(r) for r in conn.execute(sql, params)]
    except sqlite3.Error as exc:
        raise StoreError(f"database error at {url!r}: {exc}") from None
    finally:
        conn.close()


def _read_sqlalchemy(url, sql, params, table, missing_ok):
    from sqlalchemy import inspect, text
    from sqlalchemy.exc import OperationalError, SQLAlchemyError

    from forecasting.store.session import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if table is not None and not inspect(conn).has_table(table):
                return _missing_table(url, table, missing_ok)
            return [tuple(r) for r in conn.execute(text(sql), params)]
    except OperationalError as exc:
        raise StoreError(f"cannot reach the database at {_display(url)!r}: {exc.orig}") from None
    except SQLAlchemyError as exc:
        raise StoreError(f"database error at {_display(url)!r}: {exc}") from None
    finally:
        engine.dispose()


def user_rows(url: str) -> list[tuple[str, str, bool, str]]:
    """Accounts as ``(username, role, disabled, created_at)`` by name, never the hashes (``users list``).

    ``created_at`` is the stored timestamp as text (``YYYY-MM-DD HH:MM:SS...``).
    """
    rows = read(url, "SELECT username, role, disabled, created_at FROM users ORDER BY username", table="users")
    return [(u, r, bool(d), str(c)) for u, r, d, c in rows]


def ingest_run_rows(url: str, limit: int) -> list[dict[str, Any]]:
    """The ``limit`` most recent ingest runs, newest first, as plain dicts (``ingest runs``)."""
    from datetime import datetime

    rows = read(url, "SELECT id, kind, format, source, source_path, status, rows_read, loaded, duplicates, "
                "quarantined, started_at, error FROM ingest_runs ORDER BY id DESC LIMIT :limit",
                {"limit": limit}, table="ingest_runs")
    keys = ("id", "kind", "format", "source", "path", "status", "rows_read", "loaded", "duplicates",
            "quarantined", "started_at", "error")
    out = [dict(zip(keys, r, strict=True)) for r in rows]
    for r in out:  # sqlite3 returns the stored text; PostgreSQL a datetime
        at = r["started_at"]
        if isinstance(at, str):
            at = datetime.fromisoformat(at)
        r["started_at"] = at.isoformat() if at else None
    return out


def running_runs_here(url: str, host: str) -> bool:
    """Whether any ingest run on ``host`` is still marked running (it may need mending as interrupted)."""
    rows = read(url, "SELECT id FROM ingest_runs WHERE status = 'running' AND host = :host LIMIT 1",
                {"host": host}, table="ingest_runs")
    return bool(rows)
