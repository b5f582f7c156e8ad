"""Read queries for monitoring priorities, camera siting and patrol plans.

Every function takes a keyword-only ``session`` and never commits. Times are UTC instants
(``ForecastRun.period_start`` is the UTC instant of the local period start).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import pandas as pd
from sqlalchemy import and_, func, or_, select
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
                       bbox: tuple[float, float, float, float] | None = None) -> pd.DataFrame:
    """Incidents with a published address (the canonical ``address`` column), for labelling places.

    Parameters
    ----------
    start, end : datetime, optional
        Occurred in ``[start, end)`` (UTC).
    bbox : (west, south, east, north), optional
        Only incidents inside this box (WGS84 degrees).

    Returns
    -------
    DataFrame
        ``longitude, latitude, address`` (incidents without an address are left out).

    Examples
    --------
    Skipped in the test run: it needs a session ``s`` on a migrated database.

    >>> incident_addresses(session=s, start=None, end=None).columns.tolist()  # doctest: +SKIP
    ['longitude', 'latitude', 'address']
    """
    q = select(Incident.longitude, Incident.latitude, Incident.address).where(Incident.address.is_not(None))
    if start is not None:
        q = q.where(Incident.occurred_at >= start)
    if end is not None:
        q = q.where(Incident.occurred_at < end)
    if bbox is not None:
        w, s, e, n = bbox
        q = q.where(Incident.longitude.between(w, e), Incident.latitude.between(s, n))
    return pd.read_sql(q, session.connection())


__all__ = ["active_cameras", "camera_people", "data_timezone", "incident_addresses", "latest_data_time",
           "model_versions"]
