"""Parallel ``COPY`` into an ingest's PostgreSQL staging tables.

An ingest on PostgreSQL stages its rows in two unlogged tables of its own
(``cc_stage_incidents_r<run>``, ``cc_stage_quarantine_r<run>``; see
:func:`forecasting.store.repository.begin_staging`). Unlike SQLite's temporary tables they are
visible to every connection, so :class:`CopyPool` hands each chunk to one of ``workers`` threads,
each with its own connection, that ``COPY``\\ s it in and commits. The server parses and writes
the chunks in parallel backends while the ingest reads and checks the next chunk. Nothing reaches
the real tables until one short ``INSERT ... SELECT`` publishes the staged rows with the run's
status: a failed or killed run leaves them as they were (the staging tables it leaves behind are
dropped by the next ingest, see :func:`forecasting.store.repository.drop_orphan_staging`).

Duplicate checks must see rows of earlier chunks that a worker has not committed yet:
:meth:`CopyPool.pending` returns the ids and hashes of the chunks still in flight.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Engine


class CopyPool:
    """Worker threads that ``COPY`` frames into staging tables, each on its own connection.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
        A PostgreSQL engine (psycopg 3).
    workers : int
        Parallel connections; at most ``2 * workers`` chunks are held in memory waiting.

    Use as a context manager; :meth:`join` waits for every chunk and re-raises the first error.
    Leaving the block without :meth:`join` (an error in the ingest) stops the workers; their
    chunks are in the staging tables only, which the caller drops.
    """

    def __init__(self, engine: Engine, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"workers must be a positive integer; got {workers}")
        self.engine, self.workers = engine, workers
        self._local = threading.local()
        self._conns: list = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(2 * workers)
        self._pending: dict[Future, pd.DataFrame] = {}
        self._futures: list[Future] = []
        self._pool: ThreadPoolExecutor | None = None

    def __enter__(self) -> CopyPool:
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="crimecast-copy")
        return self

    def __exit__(self, *exc) -> bool:
        assert self._pool is not None
        for f in self._futures:
            f.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)
        for conn in self._conns:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - closing a broken connection must not mask the error
                pass
        return False

    def submit(self, table: str, frame: pd.DataFrame, keys: pd.DataFrame | None = None) -> None:
        """Queue ``frame`` for ``COPY`` into ``table``; ``keys`` (ids and hashes) are kept until it commits.

        Blocks while ``2 * workers`` chunks are already waiting (bounded memory). Raises the error
        of an earlier chunk, so a failing ``COPY`` stops the ingest at the next chunk.
        """
        assert self._pool is not None, "use CopyPool as a context manager"
        self._raise_failed()
        self._slots.acquire()
        try:
            future = self._pool.submit(self._copy, table, frame)
        except BaseException:
            self._slots.release()
            raise
        with self._lock:
            self._futures.append(future)
            if keys is not None:
                self._pending[future] = keys
        future.add_done_callback(self._done)

    def pending(self) -> list[pd.DataFrame]:
        """Keys of the chunks not yet committed (snapshot: take it before querying the staging table)."""
        with self._lock:
            return list(self._pending.values())

    def join(self) -> None:
        """Wait for every queued chunk; re-raise the first error."""
        for f in list(self._futures):
            f.result()

    def _done(self, future: Future) -> None:
        with self._lock:
            self._pending.pop(future, None)
        self._slots.release()

    def _raise_failed(self) -> None:
        for f in list(self._futures):
            if f.done() and not f.cancelled() and f.exception() is not None:
                raise f.exception()

    def _connection(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self.engine.raw_connection()
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    def _copy(self, table: str, frame: pd.DataFrame) -> int:
        conn = self._connection()
        try:
            copy_frame(conn.dbapi_connection, table, frame)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        return len(frame)


def copy_frame(dbapi_connection, table: str, frame: pd.DataFrame) -> int:
    """``COPY`` a frame into ``table`` on a psycopg 3 connection (in its current transaction)."""
    import pandas as pd

    out = frame.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.DatetimeTZDtype):
            out[col] = out[col].dt.tz_convert("UTC").dt.to_pydatetime()
    rows = out.astype(object).where(out.notna(), None).to_numpy(dtype=object).tolist()
    cols = ", ".join(frame.columns)
    with dbapi_connection.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
        for row in rows:  # psycopg's C row writer; no per-row SQL
            copy.write_row(row)
    return len(frame)


__all__ = ["CopyPool", "copy_frame"]
