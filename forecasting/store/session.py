"""Engine and session factories (nothing is created at import time)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from forecasting.errors import StoreError


def make_engine(url: str, **kwargs) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout.

    Examples
    --------
    >>> make_engine("sqlite://").dialect.name
    'sqlite'
    """
    if url.startswith("sqlite"):
        from pathlib import Path

        from sqlalchemy.engine import make_url

        db = make_url(url).database
        if db and db != ":memory:":
            Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"timeout": 30})
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    # A 64 MiB page cache keeps the incident indexes hot during bulk ingestion.
    cur.execute("PRAGMA cache_size=-65536")
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """A ``sessionmaker`` bound to ``engine`` that does not expire objects on commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def sqlite_file_missing(url: str) -> bool:
    """True when ``url`` names a SQLite file that does not exist (connecting would create it empty).

    Examples
    --------
    >>> sqlite_file_missing("sqlite:///no/such/dir/crimecast.db")
    True
    >>> sqlite_file_missing("sqlite://")
    False
    """
    if not url.startswith("sqlite"):
        return False
    from pathlib import Path

    from sqlalchemy.engine import make_url

    db = make_url(url).database
    return bool(db) and db != ":memory:" and not db.startswith("file:") and not Path(db).expanduser().exists()


def require_database_file(url: str) -> None:
    """Raise :class:`StoreError` with the fix when ``url`` names a SQLite file that does not exist."""
    if sqlite_file_missing(url):
        from sqlalchemy.engine import make_url

        raise StoreError(
            f"no database at {make_url(url).database}; run `crimecast db upgrade` first, or point "
            "CRIMECAST_DATA_DIR or --config at an existing one (after `make demo`: CRIMECAST_DATA_DIR=var/demo)"
        )


def check_migrated(engine: Engine, table: str = "ingest_runs") -> None:
    """Raise :class:`StoreError` with the fix when the schema has not been created.

    A SQLite file that does not exist is reported without connecting, so a failed command
    leaves no empty database file behind.
    """
    require_database_file(engine.url.render_as_string(hide_password=False))
    try:
        names = inspect(engine).get_table_names()
    except OperationalError as exc:
        raise StoreError(f"cannot reach the database at {engine.url!r}: {exc.orig}") from None
    except SQLAlchemyError as exc:
        raise StoreError(f"database error at {engine.url!r}: {exc}") from None
    if table not in names:
        raise StoreError(
            f"the database at {engine.url.render_as_string(hide_password=True)} has no table "
            f"{table!r}; run `crimecast db upgrade` first"
        )
