"""Repository functions: every one takes a keyword-only ``session`` and never commits."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from forecasting import schema as S
from forecasting.store.models import Incident, IngestRun, QuarantinedRow

if TYPE_CHECKING:  # numpy/pandas load inside the functions that use them: `ingest runs` stays fast
    import numpy as np
    import pandas as pd

#: Values per ``IN (...)`` batch: SQLite allows 32766 bound parameters per statement; stay well
#: below for every backend.
IN_BATCH = 5000


def now_utc() -> datetime:
    """The current time, timezone-aware UTC (what every ``*_at`` column stores)."""
    return datetime.now(UTC)


def batches(values: Sequence, size: int = IN_BATCH) -> Iterator[list]:
    """``values`` in lists of at most ``size`` (for ``IN (...)`` queries).

    Examples
    --------
    >>> list(batches([1, 2, 3], size=2))
    [[1, 2], [3]]
    """
    for i in range(0, len(values), size):
        yield list(values[i:i + size])


def utc_series(values) -> pd.Series:
    """Stored times read back as a timezone-aware UTC series (SQLite returns naive or text times).

    Examples
    --------
    >>> utc_series(["2024-01-01 10:00:00"]).iloc[0]
    Timestamp('2024-01-01 10:00:00+0000', tz='UTC')
    """
    import pandas as pd

    return pd.to_datetime(pd.Series(values), utc=True, format="mixed")


def create_run(
    *, session: Session, kind: str, source_path: str, format: str, source: str,
    sha256: str | None, options: dict | None = None,
) -> int:
    """Insert an ingest run in status ``running`` and return its id."""
    run = IngestRun(
        kind=kind, source_path=source_path, format=format, source=source, sha256=sha256,
        options=options, started_at=now_utc(), status="running",
        host=socket.gethostname(), pid=os.getpid(),
    )
    session.add(run)
    session.flush()
    return run.id


def finish_run(
    *, session: Session, run_id: int, status: str, rows_read: int = 0, loaded: int = 0,
    duplicates: int = 0, quarantined: int = 0, quarantined_by_reason: dict | None = None,
    error: str | None = None,
) -> None:
    """Record the outcome of a run."""
    session.execute(
        update(IngestRun).where(IngestRun.id == run_id).values(
            status=status, rows_read=rows_read, loaded=loaded, duplicates=duplicates,
            quarantined=quarantined, quarantined_by_reason=quarantined_by_reason or {},
            error=error, finished_at=now_utc(),
        )
    )


def fail_interrupted_runs(*, session: Session) -> int:
    """Mark as failed the runs left ``running`` by a process on this host that no longer exists.

    A killed ingest cannot record its own failure; its data transaction was never
    committed, so only the run row needs mending. Returns the number of runs mended.
    """
    host = socket.gethostname()
    rows = session.execute(
        select(IngestRun.id, IngestRun.pid).where(
            IngestRun.status == "running", IngestRun.host == host
        )
    ).all()
    dead = [rid for rid, pid in rows if pid is None or not _pid_alive(pid)]
    if dead:
        session.execute(
            update(IngestRun).where(IngestRun.id.in_(dead)).values(
                status="failed", error="interrupted: the process ended before the run finished",
                finished_at=now_utc(),
            )
        )
    return len(dead)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def get_run(*, session: Session, run_id: int) -> IngestRun | None:
    """The run with this id, or None."""
    return session.get(IngestRun, run_id)


def list_runs(*, session: Session, kind: str | None = None, limit: int = 50) -> list[IngestRun]:
    """The most recent runs first."""
    q = select(IngestRun).order_by(IngestRun.id.desc()).limit(limit)
    if kind:
        q = q.where(IngestRun.kind == kind)
    return list(session.scalars(q))


# ------------------------------------------------------------------ staging
#: Temporary tables (private to one connection) holding an ingest's rows until it publishes them.
_STAGE = {"incidents": "cc_stage_incidents", "quarantined_rows": "cc_stage_quarantine"}
#: PostgreSQL: unlogged tables of one run (``<name>_r<run id>``), shared by the parallel COPY connections.
_PG_STAGE_PREFIX = "cc_stage_"


def _stage_columns(table: str) -> list[str]:
    if table == "incidents":
        return [*_INCIDENT_WRITE_COLUMNS, "source", "run_id"]
    return ["row_number", "member", "reason", "detail", "raw", "run_id"]


def begin_staging(*, session: Session, run_id: int | None = None) -> bool:
    """Stage this session's incident and quarantine inserts in staging tables; returns whether it does.

    SQLite has one writer at a time: an ingest that wrote straight into ``incidents`` would hold
    the write lock for its whole length, and sign-ins, audit rows and other ingests would time
    out. Temporary tables live in the connection's own temp database and take no lock on the
    main file, so the rows wait there until :func:`publish_staged` copies them in one short
    write.

    PostgreSQL (with ``run_id``): two unlogged tables named after the run, created and committed
    here so that several connections can ``COPY`` chunks into them in parallel
    (:class:`~forecasting.store.bulk.CopyPool`); :func:`publish_staged` moves them in one
    ``INSERT ... SELECT``. Without ``run_id`` PostgreSQL writes directly (returns False).
    """
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        if run_id is None:
            return False
        names = _pg_stage_names(int(run_id))
        for table, stage in names.items():
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {stage}")
            # Only the written columns: no id, and no generated geometry (filled when published).
            conn.exec_driver_sql(f"CREATE UNLOGGED TABLE {stage} AS SELECT {', '.join(_stage_columns(table))} "
                                 f"FROM {table} WITH NO DATA")
        conn.exec_driver_sql(f"CREATE INDEX ON {names['incidents']} (incident_id)")
        session.info["cc_staging"] = names
        return True
    if conn.dialect.name != "sqlite":
        return False
    for table, stage in _STAGE.items():
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{stage}")
        conn.exec_driver_sql(f"CREATE TEMP TABLE {stage} AS SELECT * FROM main.{table} WHERE 0")
    conn.exec_driver_sql(f"CREATE INDEX temp.ix_{_STAGE['incidents']} ON {_STAGE['incidents']} (incident_id)")
    session.info["cc_staging"] = dict(_STAGE)
    return True


def _pg_stage_names(run_id: int) -> dict[str, str]:
    return {"incidents": f"{_PG_STAGE_PREFIX}incidents_r{run_id}",
            "quarantined_rows": f"{_PG_STAGE_PREFIX}quarantine_r{run_id}"}


def publish_staged(*, session: Session) -> int:
    """Copy the staged rows into the real tables (call in a fresh, short transaction); returns incidents copied."""
    conn = session.connection()
    postgres = conn.dialect.name == "postgresql"
    n = 0
    for table, stage in session.info["cc_staging"].items():
        cols = _stage_columns(table) if postgres else [
            c for c in (Incident if table == "incidents" else QuarantinedRow).__table__.columns.keys() if c != "id"]
        names = ", ".join(cols)
        target, source = (table, stage) if postgres else (f"main.{table}", f"temp.{stage}")
        moved = conn.exec_driver_sql(f"INSERT INTO {target} ({names}) SELECT {names} FROM {source}")
        if table == "incidents":
            n = int(moved.rowcount or 0)
    return n


def end_staging(*, session: Session) -> None:
    """Drop the staging tables (after publishing, or to discard)."""
    conn = session.connection()
    names = session.info.pop("cc_staging", None) or _STAGE
    for stage in names.values():
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {stage}" if conn.dialect.name == "postgresql"
                             else f"DROP TABLE IF EXISTS temp.{stage}")
    session.info.pop("cc_copy_pool", None)


def drop_orphan_staging(*, session: Session) -> list[str]:
    """PostgreSQL: drop staging tables left by killed ingests (call holding the ingest lock); returns their names.

    Ingests of one database run one at a time, so while the caller holds the ingest lock no
    staging table belongs to a live run.
    """
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        return []  # SQLite's temporary tables end with their connection
    names = [r[0] for r in conn.exec_driver_sql(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE 'cc\\_stage\\_%%'")]
    for name in names:
        conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}"')
    return names


def _table(session: Session, table: str) -> str:
    staging = session.info.get("cc_staging")
    return staging[table] if staging else table


def existing_hashes(*, session: Session, source: str, ids: Sequence[str]) -> pd.Series:
    """Content hashes of the already-stored (or staged) incidents among ``ids``, indexed by incident id."""
    import pandas as pd

    stored = _existing_hashes(session, source, ids)
    staging = session.info.get("cc_staging")
    if not staging:
        return stored
    # Chunks still being copied in by the pool (snapshot first: whatever leaves it has committed).
    pool = session.info.get("cc_copy_pool")
    in_flight = pool.pending() if pool is not None else []
    staged = _existing_hashes(session, source, ids, table=staging["incidents"])
    parts = [p for p in (stored, staged, *_pending_hashes(in_flight, source, ids)) if len(p)]
    if len(parts) <= 1:
        return parts[0] if parts else stored
    both = pd.concat(parts)
    return both[~both.index.duplicated(keep="first")]


def _pending_hashes(frames: list[pd.DataFrame], source: str, ids: Sequence[str]) -> list[pd.Series]:
    import numpy as np
    import pandas as pd

    wanted = pd.Index(pd.unique(np.asarray(ids, dtype=object)))
    out = []
    for f in frames:
        hit = f[(f["source"] == source) & f["incident_id"].isin(wanted)]
        if len(hit):
            out.append(pd.Series(hit["content_hash"].to_numpy(dtype=object),
                                 index=pd.Index(hit["incident_id"].to_numpy(dtype=object), dtype=object)))
    return out


def _existing_hashes(session: Session, source: str, ids: Sequence[str], table: str = "incidents") -> pd.Series:
    import numpy as np
    import pandas as pd

    unique = pd.unique(np.asarray(ids, dtype=object))
    if table != "incidents":
        found = _lookup_via_temp_table(session, source, unique, table)
    elif len(unique) <= IN_BATCH:
        found = session.execute(
            select(Incident.incident_id, Incident.content_hash).where(
                Incident.source == source, Incident.incident_id.in_(unique.tolist())
            )
        ).all()
    else:
        found = _lookup_via_temp_table(session, source, unique)
    if not found:
        return pd.Series([], index=pd.Index([], dtype=object), dtype=object)
    ids_, hashes = zip(*found, strict=True)
    return pd.Series(hashes, index=pd.Index(ids_, dtype=object), dtype=object)


def _lookup_via_temp_table(session: Session, source: str, ids: np.ndarray,
                           table: str = "incidents") -> list[tuple[str, str]]:
    # One join against a temporary table beats thousands of IN-list parameters.
    import pandas as pd

    conn = session.connection()
    conn.exec_driver_sql("CREATE TEMP TABLE IF NOT EXISTS cc_lookup_ids (incident_id VARCHAR(128))")
    conn.exec_driver_sql("DELETE FROM cc_lookup_ids")
    bulk_insert(session, "cc_lookup_ids", pd.DataFrame({"incident_id": ids}))
    return list(
        conn.execute(
            text(
                f"SELECT i.incident_id, i.content_hash FROM {table} i "
                "JOIN cc_lookup_ids t ON t.incident_id = i.incident_id WHERE i.source = :source"
            ),
            {"source": source},
        ).all()
    )


_INCIDENT_WRITE_COLUMNS = (
    "incident_id", "occurred_at", "time_resolution", "tz", "longitude", "latitude",
    "source_crs", "source_x", "source_y", "category", "category_group", "content_hash",
    "attributes", "address",
)


def insert_incidents(*, session: Session, frame: pd.DataFrame, source: str, run_id: int) -> int:
    """Bulk-insert canonical incidents (see :mod:`forecasting.schema`); returns the row count."""
    import pandas as pd

    if frame.empty:
        return 0
    if S.ADDRESS not in frame.columns:  # optional in the canonical frame
        frame = frame.assign(**{S.ADDRESS: None})
    S.require_columns(frame, _INCIDENT_WRITE_COLUMNS, "incidents")
    out = frame.loc[:, list(_INCIDENT_WRITE_COLUMNS)].copy()
    out["occurred_at"] = pd.to_datetime(out["occurred_at"], utc=True)
    out["source"] = source
    out["run_id"] = run_id
    pool = session.info.get("cc_copy_pool")
    if pool is not None:  # PostgreSQL staging: a worker connection COPYs it in while we read on
        pool.submit(_table(session, Incident.__tablename__), out,
                    keys=out.loc[:, ["incident_id", "content_hash", "source"]])
        return len(out)
    return bulk_insert(session, _table(session, Incident.__tablename__), out)


def insert_quarantine(*, session: Session, frame: pd.DataFrame, run_id: int) -> int:
    """Bulk-insert quarantined rows (columns ``row_number, member, reason, detail, raw``)."""
    if frame.empty:
        return 0
    out = frame.loc[:, ["row_number", "member", "reason", "detail", "raw"]].copy()
    out["row_number"] = out["row_number"].astype("Int64")
    out["run_id"] = run_id
    pool = session.info.get("cc_copy_pool")
    if pool is not None:
        pool.submit(_table(session, QuarantinedRow.__tablename__), out)
        return len(out)
    return bulk_insert(session, _table(session, QuarantinedRow.__tablename__), out)


def bulk_insert(session: Session, table: str, frame: pd.DataFrame) -> int:
    """Insert a frame in the session's transaction at DBAPI speed.

    The ORM's bulk path builds a dict per row and costs ~10x the database's own time on
    millions of rows; PostgreSQL gets ``COPY``, other backends a plain ``executemany``.
    """
    cols = list(frame.columns)
    conn = session.connection()
    dbapi = conn.connection.dbapi_connection
    if conn.dialect.name == "postgresql":
        # COPY takes Python objects: timestamps as datetimes, missing values as None.
        rows = _python_rows(frame)
        with dbapi.cursor() as cur, cur.copy(
            f'COPY {table} ({", ".join(cols)}) FROM STDIN'
        ) as copy:
            for row in rows:
                copy.write_row(row)
        return len(frame)
    placeholders = ", ".join("?" if conn.dialect.paramstyle == "qmark" else "%s" for _ in cols)
    sql = f'INSERT INTO {table} ({", ".join(cols)}) VALUES ({placeholders})'
    cur = dbapi.cursor()
    try:
        cur.executemany(sql, _python_rows(frame, naive_utc=conn.dialect.name == "sqlite"))
    finally:
        cur.close()
    return len(frame)


def _python_rows(frame: pd.DataFrame, naive_utc: bool = False) -> list[list]:
    import pandas as pd

    out = frame.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.DatetimeTZDtype):
            ts = out[col].dt.tz_convert("UTC")
            # SQLAlchemy stores SQLite datetimes as naive ISO text; match its format exactly.
            out[col] = ts.dt.strftime("%Y-%m-%d %H:%M:%S.%f") if naive_utc else ts.dt.to_pydatetime()
    out = out.astype(object).where(out.notna(), None)
    return out.to_numpy(dtype=object).tolist()


def count_incidents(*, session: Session, source: str | None = None) -> int:
    """Number of stored incidents (optionally of one source)."""
    q = select(func.count()).select_from(Incident)
    if source:
        q = q.where(Incident.source == source)
    return int(session.scalar(q) or 0)


def load_incidents(
    *, session: Session, sources: Iterable[str] | None = None, start: datetime | None = None,
    end: datetime | None = None, resolutions: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Stored incidents as an incidents frame (:data:`forecasting.schema.INCIDENT_COLUMNS`)."""
    import pandas as pd

    cols = [getattr(Incident, c) for c in S.INCIDENT_COLUMNS] + [Incident.source]
    q = select(*cols)
    if sources:
        q = q.where(Incident.source.in_(list(sources)))
    if start is not None:
        q = q.where(Incident.occurred_at >= start)
    if end is not None:
        q = q.where(Incident.occurred_at < end)
    if resolutions:
        q = q.where(Incident.time_resolution.in_(list(resolutions)))
    frame = pd.read_sql(q, session.connection())
    frame[S.OCCURRED_AT] = pd.to_datetime(frame[S.OCCURRED_AT], utc=True)
    return frame


def incident_times_in_box(
    *, session: Session, start: datetime, end: datetime, bounds: tuple[float, float, float, float],
) -> pd.DataFrame:
    """Time and position of the incidents in ``[start, end)`` inside a WGS84 bounding box.

    The light read behind a cell's history on the dashboard: three columns, and only the rows
    in the box (served by the ``ix_incidents_lon_lat_time`` index), instead of every incident of
    the period with every column.

    Parameters
    ----------
    session : Session
    start, end : datetime
        Half-open time window (timezone-aware).
    bounds : tuple of float
        ``(min_lon, min_lat, max_lon, max_lat)``, inclusive.

    Returns
    -------
    DataFrame
        ``occurred_at`` (UTC), ``longitude``, ``latitude``.
    """
    import pandas as pd

    min_lon, min_lat, max_lon, max_lat = (float(b) for b in bounds)
    q = (select(Incident.occurred_at, Incident.longitude, Incident.latitude)
         .where(Incident.longitude.between(min_lon, max_lon), Incident.latitude.between(min_lat, max_lat),
                Incident.occurred_at >= start, Incident.occurred_at < end))
    frame = pd.read_sql(q, session.connection())
    frame[S.OCCURRED_AT] = pd.to_datetime(frame[S.OCCURRED_AT], utc=True)
    return frame


__all__ = [
    "begin_staging", "count_incidents", "create_run", "drop_orphan_staging", "end_staging", "existing_hashes",
    "fail_interrupted_runs",
    "finish_run", "publish_staged",
    "get_run", "incident_times_in_box", "insert_incidents", "insert_quarantine", "list_runs",
    "load_incidents",
]
