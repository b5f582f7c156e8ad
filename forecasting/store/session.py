"""Engine and session factories (nothing is created at import time)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from forecasting.errors import StoreError
from forecasting.store.lite import BUSY_TIMEOUT_SECONDS

if TYPE_CHECKING:  # the ORM costs half a second at import; only sessions need it
    from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, **kwargs) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout, and a new file is created 0600.

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
            path = Path(db).expanduser()
            path.parent.mkdir(parents=True, exist_ok=True)
            try:  # incidents and accounts are not for other local users; SQLite copies the mode to -wal/-shm
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except FileExistsError:
                pass
        # Writers wait up to this long for the lock (ingests publish in short writes; see ingest_lock).
        kwargs.setdefault("connect_args", {"timeout": BUSY_TIMEOUT_SECONDS})
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
    from sqlalchemy.orm import sessionmaker

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


@contextmanager
def ingest_lock(engine: Engine) -> Iterator[None]:
    """Hold the database's ingest lock: concurrent ingests run one after the other, each completing.

    SQLite: an exclusive ``flock`` on ``<database>.ingest-lock`` beside the file (one host, as
    SQLite itself). PostgreSQL: a session-level advisory lock on its own connection. Either is
    released when the holder ends, even by ``kill -9``.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT pg_advisory_lock(hashtext('crimecast-ingest'))")
            conn.commit()
            try:
                yield
            finally:
                conn.exec_driver_sql("SELECT pg_advisory_unlock(hashtext('crimecast-ingest'))")
                conn.commit()
        return
    db = engine.url.database
    if engine.dialect.name != "sqlite" or not db or db == ":memory:":
        yield
        return
    import fcntl

    fd = os.open(f"{Path(db).expanduser()}.ingest-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
