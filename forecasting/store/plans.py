"""Read queries for monitoring priorities, camera siting and patrol plans.

Every function takes a keyword-only ``session`` and never commits. Times are UTC instants
(``ForecastRun.period_start`` is the UTC instant of the local period start).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import pandas as pd
from sqlalchemy import JSON, and_, cast, func, or_, select, type_coerce
from sqlalchemy.orm import Session

from forecasting.store.models import Camera, ForecastRun, Incident, ModelVersion


def data_timezone(*, session: Session) -> str | None:
    """The most frequent time zone of the stored incidents (None when there are none)."""
    row = session.execute(
        select(Incident.tz, func.count().label("n")).group_by(Incident.tz).order_by(func.count().desc()).limit(1)
    ).first()
    return row[0] if row else None


def latest_data_time(*, session: Session) -> pd.Timestamp | None:
    """The latest incident time (UTC); else the latest ``data_until`` of a forecast run; else None."""
    latest = session.scalar(select(func.max(Incident.occurred_at)))
    if latest is None:
        latest = session.scalar(select(func.max(ForecastRun.data_until)))
    if latest is None:
        return None
    ts = pd.Timestamp(latest)
    return ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC")


def model_versions(*, session: Session, ids: Iterable[int]) -> pd.DataFrame:
    """``id, name, category, period, train_end, created_at, data_hash`` of the given model versions."""
    ids = [int(i) for i in ids if i is not None and not pd.isna(i)]
    q = select(ModelVersion.id, ModelVersion.name, ModelVersion.category, ModelVersion.period,
               ModelVersion.train_end, ModelVersion.created_at, ModelVersion.data_hash).where(
        ModelVersion.id.in_(ids))
    return pd.read_sql(q, session.connection())


def active_cameras(*, session: Session, at: datetime, kinds: Sequence[str] | None = None,
                   statuses: Sequence[str] | None = ("active",)) -> pd.DataFrame:
    """Cameras in service at ``at`` (installed before, not retired), with their view polygons.

    Parameters
    ----------
    at : datetime
        An aware instant.
    kinds : sequence of str, optional
        Keep only these kinds (e.g. ``("cctv",)``); default every kind.
    statuses : sequence of str, optional
        Keep only these current statuses (default ``("active",)``; None for any).

    Returns
    -------
    DataFrame
        ``pk, source, camera_id, name, kind, longitude, latitude, view_wkt, status``, and
        ``camera_key``: the camera id, prefixed with ``source:`` when ids repeat across sources.
    """
    q = select(Camera.id.label("pk"), Camera.source, Camera.camera_id, Camera.name, Camera.kind,
               Camera.longitude, Camera.latitude, Camera.view_wkt, Camera.status).where(
        or_(Camera.installed_at.is_(None), Camera.installed_at <= at),
        or_(Camera.retired_at.is_(None), Camera.retired_at > at),
        and_(Camera.view_wkt.is_not(None), Camera.view_wkt != ""),
    ).order_by(Camera.id)
    if kinds:
        q = q.where(Camera.kind.in_(list(kinds)))
    if statuses:
        q = q.where(Camera.status.in_(list(statuses)))
    out = pd.read_sql(q, session.connection())
    out["camera_id"] = out["camera_id"].astype(str)
    dup = out["camera_id"].duplicated(keep=False)
    out["camera_key"] = out["camera_id"].where(~dup, out["source"].astype(str) + ":" + out["camera_id"])
    return out


def camera_people(*, session: Session, start: datetime, end: datetime,
                  pks: Sequence[int] | None = None) -> pd.DataFrame:
    """People counted per camera with ``start <= period_start < end``: ``pk, people`` (summed)."""
    from forecasting.store.models import ActivityCount

    q = select(ActivityCount.camera_pk.label("pk"), func.sum(ActivityCount.people).label("people")).where(
        ActivityCount.period_start >= start, ActivityCount.period_start < end,
        ActivityCount.people.is_not(None),
    ).group_by(ActivityCount.camera_pk)
    if pks is not None:
        q = q.where(ActivityCount.camera_pk.in_([int(p) for p in pks]))
    out = pd.read_sql(q, session.connection())
    out["people"] = pd.to_numeric(out["people"], errors="coerce").astype("float64")
    return out


def incident_addresses(*, session: Session, start: datetime | None, end: datetime | None,
                       keys: Sequence[str], bbox: tuple[float, float, float, float] | None = None) -> pd.DataFrame:
    """Incidents with a block-level address taken from the ``attributes`` JSON.

    The address is the first of ``keys`` present in an incident's attributes (e.g.
    ``HUNDRED_BLOCK`` for Vancouver, ``Address`` for San Francisco, ``Location`` for police.uk);
    the JSON is read by the database (SQLite ``json_extract``, PostgreSQL ``->>``).

    Returns
    -------
    DataFrame
        ``longitude, latitude, address`` (rows without any of the keys are left out).
    """
    if not keys:
        return pd.DataFrame(columns=["longitude", "latitude", "address"])
    dialect = session.get_bind().dialect.name
    doc = cast(Incident.attributes, JSON) if dialect == "postgresql" else type_coerce(Incident.attributes, JSON)
    parts = [doc[k].as_string() for k in keys]
    address = func.coalesce(*parts) if len(parts) > 1 else parts[0]
    q = select(Incident.longitude, Incident.latitude, address.label("address")).where(
        Incident.attributes.is_not(None))
    if dialect == "sqlite":
        q = q.where(func.json_valid(Incident.attributes) == 1)
    if start is not None:
        q = q.where(Incident.occurred_at >= start)
    if end is not None:
        q = q.where(Incident.occurred_at < end)
    if bbox is not None:
        w, s, e, n = bbox
        q = q.where(Incident.longitude.between(w, e), Incident.latitude.between(s, n))
    out = pd.read_sql(q, session.connection())
    return out.loc[out["address"].notna()].reset_index(drop=True)


__all__ = ["active_cameras", "camera_people", "data_timezone", "incident_addresses", "latest_data_time",
           "model_versions"]
