"""Repository functions for cameras, activity counts, gaps, places and area layers.

Every function takes a keyword-only ``session`` and never commits (the caller owns the
transaction). Frames follow the contracts in :mod:`forecasting.ingest.cameras`,
:mod:`forecasting.ingest.counts` and :mod:`forecasting.ingest.places`; times are UTC.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from forecasting.store.models import ActivityCount, AreaValue, Camera, CountGap, Place
from forecasting.store.repository import _IN_BATCH, _bulk_insert

_CAMERA_FIELDS = (
    "name", "kind", "longitude", "latitude", "heading_deg", "fov_deg", "range_m", "view_wkt",
    "installed_at", "retired_at", "status",
)


def _utc(values) -> pd.Series:
    return pd.to_datetime(pd.Series(values), utc=True, format="mixed")


def _batches(values: Sequence, size: int = _IN_BATCH):
    for i in range(0, len(values), size):
        yield list(values[i:i + size])


# ------------------------------------------------------------------------------- cameras
def existing_cameras(*, session: Session, source: str, ids: Iterable[str] | None = None) -> pd.DataFrame:
    """Stored cameras of ``source`` (optionally only ``ids``): ``pk, camera_id`` + the camera fields."""
    cols = [Camera.id.label("pk"), Camera.camera_id] + [getattr(Camera, f) for f in _CAMERA_FIELDS]
    q = select(*cols).where(Camera.source == source)
    frames = []
    if ids is None:
        frames.append(pd.read_sql(q, session.connection()))
    else:
        for batch in _batches(pd.unique(np.asarray(list(ids), dtype=object))):
            frames.append(pd.read_sql(q.where(Camera.camera_id.in_(batch)), session.connection()))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["pk", "camera_id"])
    for c in ("installed_at", "retired_at"):
        if c in out:
            out[c] = _utc(out[c])
    return out


def insert_cameras(*, session: Session, frame: pd.DataFrame, source: str, run_id: int,
                   simulated: bool = False) -> int:
    """Bulk-insert canonical cameras (``camera_id`` + the camera fields); returns the row count."""
    if frame.empty:
        return 0
    out = frame.loc[:, ["camera_id", *_CAMERA_FIELDS]].copy()
    out["source"] = source
    out["simulated"] = bool(simulated)
    out["run_id"] = run_id
    return _bulk_insert(session, Camera.__tablename__, out)


def update_cameras(*, session: Session, frame: pd.DataFrame, run_id: int) -> int:
    """Overwrite the fields of stored cameras (``pk`` + the camera fields): a registry changes."""
    if frame.empty:
        return 0
    rows = frame.loc[:, ["pk", *_CAMERA_FIELDS]].astype(object)
    rows = rows.where(rows.notna(), None)
    params = [
        {**{f: (v.to_pydatetime() if isinstance(v, pd.Timestamp) else v)
            for f, v in zip(_CAMERA_FIELDS, r[1:], strict=True)}, "b_pk": int(r[0]), "run_id": run_id}
        for r in rows.itertuples(index=False, name=None)  # a registry is small; one dict per camera
    ]
    from sqlalchemy import bindparam

    stmt = update(Camera).where(Camera.id == bindparam("b_pk")).values(
        **{f: bindparam(f) for f in _CAMERA_FIELDS}, run_id=bindparam("run_id"))
    session.connection().execute(stmt, params)
    return len(params)


def camera_pks(*, session: Session, source: str) -> pd.Series:
    """Primary keys of a source's cameras, indexed by ``camera_id``."""
    rows = session.execute(select(Camera.camera_id, Camera.id).where(Camera.source == source)).all()
    if not rows:
        return pd.Series([], index=pd.Index([], dtype=object), dtype="int64")
    ids, pks = zip(*rows, strict=True)
    return pd.Series(pks, index=pd.Index(ids, dtype=object), dtype="int64")


def load_cameras(*, session: Session, sources: Iterable[str] | None = None) -> pd.DataFrame:
    """Stored cameras as a cameras frame plus ``pk``, ``source`` and ``simulated``."""
    cols = [Camera.id.label("pk"), Camera.source, Camera.camera_id, Camera.simulated] + \
        [getattr(Camera, f) for f in _CAMERA_FIELDS]
    q = select(*cols).order_by(Camera.id)
    if sources:
        q = q.where(Camera.source.in_(list(sources)))
    out = pd.read_sql(q, session.connection())
    for c in ("installed_at", "retired_at"):
        out[c] = _utc(out[c])
    out["simulated"] = out["simulated"].astype(bool)
    return out


# -------------------------------------------------------------------------------- counts
def existing_counts(*, session: Session, pks: Sequence[int], start: datetime, end: datetime) -> pd.DataFrame:
    """Stored counts of cameras ``pks`` with ``start <= period_start <= end``.

    Returns ``camera_pk, period_start`` (UTC), ``resolution, content_hash``.
    """
    frames = []
    for batch in _batches(pd.unique(np.asarray(pks, dtype=np.int64)).tolist()):
        q = select(ActivityCount.camera_pk, ActivityCount.period_start, ActivityCount.resolution,
                   ActivityCount.content_hash).where(
            ActivityCount.camera_pk.in_(batch), ActivityCount.period_start >= start,
            ActivityCount.period_start <= end)
        frames.append(pd.read_sql(q, session.connection()))
    if not frames:
        return pd.DataFrame(columns=["camera_pk", "period_start", "resolution", "content_hash"])
    out = pd.concat(frames, ignore_index=True)
    out["period_start"] = _utc(out["period_start"])
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
    return _bulk_insert(session, ActivityCount.__tablename__, out)


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
    for batch in _batches(pks):
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
    return _bulk_insert(session, CountGap.__tablename__, gaps)


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
    c = counts.assign(period_start=_utc(counts["period_start"]).to_numpy())
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
    out["period_start"] = _utc(out["period_start"])
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
    out["gap_start"] = _utc(out["gap_start"])
    out["gap_end"] = _utc(out["gap_end"])
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


# -------------------------------------------------------------------------------- places
def existing_place_hashes(*, session: Session, source: str, ids: Sequence[str]) -> pd.Series:
    """Content hashes (category|lon|lat|name) of stored places among ``ids``, indexed by place id."""
    frames = []
    for batch in _batches(pd.unique(np.asarray(ids, dtype=object)).tolist()):
        q = select(Place.place_id, Place.category, Place.longitude, Place.latitude, Place.name).where(
            Place.source == source, Place.place_id.in_(batch))
        frames.append(pd.read_sql(q, session.connection()))
    if not frames:
        return pd.Series([], index=pd.Index([], dtype=object), dtype=object)
    f = pd.concat(frames, ignore_index=True)
    return pd.Series(place_hash(f).to_numpy(), index=pd.Index(f["place_id"], dtype=object), dtype=object)


def place_hash(frame: pd.DataFrame) -> pd.Series:
    """A content key of places (category, rounded position, name) comparable across runs."""
    return (frame["category"].astype(str) + "|" + frame["longitude"].round(7).astype(str) + "|"
            + frame["latitude"].round(7).astype(str) + "|" + frame["name"].fillna("").astype(str))


def insert_places(*, session: Session, frame: pd.DataFrame, source: str, run_id: int,
                  simulated: bool = False) -> int:
    """Bulk-insert places (``place_id, category, name, longitude, latitude``)."""
    if frame.empty:
        return 0
    out = frame.loc[:, ["place_id", "category", "name", "longitude", "latitude"]].copy()
    out["source"] = source
    out["simulated"] = bool(simulated)
    out["run_id"] = run_id
    return _bulk_insert(session, Place.__tablename__, out)


def load_places(*, session: Session, sources: Iterable[str] | None = None,
                categories: Iterable[str] | None = None) -> pd.DataFrame:
    """Stored places: ``source, place_id, category, name, longitude, latitude, simulated``."""
    q = select(Place.source, Place.place_id, Place.category, Place.name, Place.longitude, Place.latitude,
               Place.simulated).order_by(Place.id)
    if sources:
        q = q.where(Place.source.in_(list(sources)))
    if categories:
        q = q.where(Place.category.in_(list(categories)))
    out = pd.read_sql(q, session.connection())
    out["simulated"] = out["simulated"].astype(bool)
    return out


# --------------------------------------------------------------------------------- areas
def existing_area_values(*, session: Session, layer: str) -> pd.DataFrame:
    """Stored values of an area layer: ``area_id, hour_of_week, value, polygon_wkt``."""
    q = select(AreaValue.area_id, AreaValue.hour_of_week, AreaValue.value, AreaValue.polygon_wkt).where(
        AreaValue.layer == layer)
    out = pd.read_sql(q, session.connection())
    out["hour_of_week"] = out["hour_of_week"].astype("Int64")
    return out


def insert_area_values(*, session: Session, frame: pd.DataFrame, layer: str, run_id: int) -> int:
    """Bulk-insert area values (``area_id, name, hour_of_week, value, polygon_wkt``)."""
    if frame.empty:
        return 0
    out = frame.loc[:, ["area_id", "name", "hour_of_week", "value", "polygon_wkt"]].copy()
    out["hour_of_week"] = out["hour_of_week"].astype("Int64")
    out["layer"] = layer
    out["run_id"] = run_id
    return _bulk_insert(session, AreaValue.__tablename__, out)


def load_areas(*, session: Session, layers: Iterable[str] | None = None) -> pd.DataFrame:
    """Stored area values: ``layer, area_id, name, hour_of_week, value, polygon_wkt``."""
    q = select(AreaValue.layer, AreaValue.area_id, AreaValue.name, AreaValue.hour_of_week, AreaValue.value,
               AreaValue.polygon_wkt).order_by(AreaValue.id)
    if layers:
        q = q.where(AreaValue.layer.in_(list(layers)))
    out = pd.read_sql(q, session.connection())
    out["hour_of_week"] = out["hour_of_week"].astype("Int64")
    return out


__all__ = [
    "camera_pks", "count_rows", "existing_area_values", "existing_cameras", "existing_counts",
    "existing_place_hashes", "find_gaps", "insert_area_values", "insert_cameras", "insert_counts",
    "insert_places", "load_areas", "load_cameras", "load_counts", "load_gaps", "load_places",
    "place_hash", "purge_counts", "recompute_gaps", "update_cameras",
]
