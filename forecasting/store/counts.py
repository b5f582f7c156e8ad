"""Repository functions for cameras' activity counts and the gaps in them.

Every function takes a keyword-only ``session`` and never commits (the caller owns the
transaction). Frames follow the contracts in :mod:`forecasting.ingest.cameras`,
:mod:`forecasting.ingest.counts` and :mod:`forecasting.ingest.places`; times are UTC.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from forecasting.store.models import ActivityCount, Camera, CountGap
from forecasting.store.repository import batches, bulk_insert, utc_series


def existing_counts(*, session: Session, pks: Sequence[int], start: datetime, end: datetime) -> pd.DataFrame:
    """Stored counts of cameras ``pks`` with ``start <= period_start <= end``.

    Returns ``camera_pk, period_start`` (UTC), ``resolution, content_hash``.
    """
    frames = []
    for batch in batches(pd.unique(np.asarray(pks, dtype=np.int64)).tolist()):
        q = select(ActivityCount.camera_pk, ActivityCount.period_start, ActivityCount.resolution,
                   ActivityCount.content_hash).where(
            ActivityCount.camera_pk.in_(batch), ActivityCount.period_start >= start,
            ActivityCount.period_start <= end)
        frames.append(pd.read_sql(q, session.connection()))
    if not frames:
        return pd.DataFrame(columns=["camera_pk", "period_start", "resolution", "content_hash"])
    out = pd.concat(frames, ignore_index=True)
    out["period_start"] = utc_series(out["period_start"])
    return out


_COUNT_WRITE = ("camera_pk", "period_start", "resolution", "people", "vehicles", "cyclists", "content_hash")


def insert_counts(*, session: Session, frame: pd.DataFrame, run_id: int) -> int:
    """Bulk-insert aggregate counts (``camera_pk, period_start, resolution, people, vehicles,
    cyclists, content_hash``); returns the row count."""
    if frame.empty:
        return 0
    out = frame.loc[:, list(_COUNT_WRITE)].copy()
    out["period_start"] = pd.to_datetime(out["period_start"], utc=True)
    for c in ("people", "vehicles", "cyclists"):
        out[c] = out[c].astype("Int64")
    out["run_id"] = run_id
    return bulk_insert(session, ActivityCount.__tablename__, out)


_STEP = {"hour": pd.Timedelta(hours=1), "day": pd.Timedelta(days=1)}


def recompute_gaps(*, session: Session, pks: Sequence[int], run_id: int | None = None) -> int:
    """Rebuild the ``missing`` gaps of cameras ``pks`` from all their stored counts.

    A gap is a run of periods without a count between a camera's first and last stored
    period (per resolution): ``gap_start`` is the first missing period, ``gap_end`` the start
    of the next period that has a count. Returns the number of gaps now stored.
    """
    pks = pd.unique(np.asarray(pks, dtype=np.int64)).tolist()
    if not pks:
        return 0
    frames = []
    for batch in batches(pks):
        session.execute(delete(CountGap).where(CountGap.camera_pk.in_(batch), CountGap.reason == "missing"))
        q = select(ActivityCount.camera_pk, ActivityCount.resolution, ActivityCount.period_start).where(
            ActivityCount.camera_pk.in_(batch))
        frames.append(pd.read_sql(q, session.connection()))
    counts = pd.concat(frames, ignore_index=True)
    gaps = find_gaps(counts)
    if gaps.empty:
        return 0
    gaps["reason"] = "missing"
    gaps["run_id"] = run_id
    return bulk_insert(session, CountGap.__tablename__, gaps)


def find_gaps(counts: pd.DataFrame) -> pd.DataFrame:
    """Runs of missing periods in ``camera_pk, resolution, period_start`` rows (vectorised).

    Examples
    --------
    >>> c = pd.DataFrame({"camera_pk": [1, 1, 1], "resolution": "hour",
    ...     "period_start": pd.to_datetime(["2024-01-01 00:00", "2024-01-01 01:00", "2024-01-01 05:00"], utc=True)})
    >>> g = find_gaps(c)
    >>> (str(g.gap_start[0]), str(g.gap_end[0]))
    ('2024-01-01 02:00:00+00:00', '2024-01-01 05:00:00+00:00')
    """
    if counts.empty:
        return pd.DataFrame(columns=["camera_pk", "gap_start", "gap_end"])
    c = counts.assign(period_start=utc_series(counts["period_start"]).to_numpy())
    c = c.sort_values(["camera_pk", "resolution", "period_start"], kind="stable")
    step = c["resolution"].map(_STEP).fillna(pd.Timedelta(hours=1))
    nxt = c["period_start"].shift(-1)
    same = (c["camera_pk"].shift(-1) == c["camera_pk"]) & (c["resolution"].shift(-1) == c["resolution"])
    gap = same & (nxt - c["period_start"] > step)
    return pd.DataFrame({
        "camera_pk": c.loc[gap, "camera_pk"].astype("int64").to_numpy(),
        "gap_start": (c.loc[gap, "period_start"] + step[gap]).to_numpy(),
        "gap_end": nxt[gap].to_numpy(),
    }).assign(gap_start=lambda d: pd.to_datetime(d["gap_start"], utc=True),
              gap_end=lambda d: pd.to_datetime(d["gap_end"], utc=True))


def load_counts(*, session: Session, sources: Iterable[str] | None = None, start: datetime | None = None,
                end: datetime | None = None) -> pd.DataFrame:
    """Stored counts: ``source, camera_id, period_start`` (UTC), ``resolution, people, vehicles, cyclists``."""
    q = select(Camera.source, Camera.camera_id, ActivityCount.period_start, ActivityCount.resolution,
               ActivityCount.people, ActivityCount.vehicles, ActivityCount.cyclists).join(
        Camera, Camera.id == ActivityCount.camera_pk)
    if sources:
        q = q.where(Camera.source.in_(list(sources)))
    if start is not None:
        q = q.where(ActivityCount.period_start >= start)
    if end is not None:
        q = q.where(ActivityCount.period_start < end)
    out = pd.read_sql(q, session.connection())
    out["period_start"] = utc_series(out["period_start"])
    for c in ("people", "vehicles", "cyclists"):
        out[c] = pd.to_numeric(out[c], errors="coerce").astype("float64")
    return out


def load_gaps(*, session: Session, sources: Iterable[str] | None = None) -> pd.DataFrame:
    """Stored gaps: ``source, camera_id, gap_start, gap_end`` (UTC), ``reason``."""
    q = select(Camera.source, Camera.camera_id, CountGap.gap_start, CountGap.gap_end, CountGap.reason).join(
        Camera, Camera.id == CountGap.camera_pk)
    if sources:
        q = q.where(Camera.source.in_(list(sources)))
    out = pd.read_sql(q, session.connection())
    out["gap_start"] = utc_series(out["gap_start"])
    out["gap_end"] = utc_series(out["gap_end"])
    return out


def purge_counts(*, session: Session, before: datetime, dry_run: bool = False) -> tuple[int, int]:
    """Delete counts and gaps older than ``before`` (the retention limit).

    Returns the numbers of counts and of gaps deleted (or that would be, with ``dry_run``).
    """
    old_counts = ActivityCount.period_start < before
    old_gaps = CountGap.gap_end <= before
    if dry_run:
        return (int(session.scalar(select(func.count()).select_from(ActivityCount).where(old_counts)) or 0),
                int(session.scalar(select(func.count()).select_from(CountGap).where(old_gaps)) or 0))
    n = session.execute(delete(ActivityCount).where(old_counts)).rowcount
    g = session.execute(delete(CountGap).where(old_gaps)).rowcount
    return int(n or 0), int(g or 0)


def count_rows(*, session: Session, model=ActivityCount, run_id: int | None = None) -> int:
    """Number of rows of ``model`` (optionally of one run)."""
    q = select(func.count()).select_from(model)
    if run_id is not None:
        q = q.where(model.run_id == run_id)
    return int(session.scalar(q) or 0)


__all__ = [
    "count_rows", "existing_counts", "find_gaps", "insert_counts", "load_counts", "load_gaps",
    "purge_counts", "recompute_gaps",
]
