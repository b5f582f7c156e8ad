"""Repository functions for area layers (values by area and hour of the week).

Every function takes a keyword-only ``session`` and never commits (the caller owns the
transaction). Frames follow the contracts in :mod:`forecasting.ingest.cameras`,
:mod:`forecasting.ingest.counts` and :mod:`forecasting.ingest.places`; times are UTC.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from forecasting.store.models import AreaValue
from forecasting.store.repository import bulk_insert


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
    return bulk_insert(session, AreaValue.__tablename__, out)


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
    "existing_area_values", "insert_area_values", "load_areas",
]
