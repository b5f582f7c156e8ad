"""Repository functions for places (points of interest by category).

Every function takes a keyword-only ``session`` and never commits (the caller owns the
transaction). Frames follow the contracts in :mod:`forecasting.ingest.cameras`,
:mod:`forecasting.ingest.counts` and :mod:`forecasting.ingest.places`; times are UTC.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from forecasting.store.models import Place
from forecasting.store.repository import batches, bulk_insert


def existing_place_hashes(*, session: Session, source: str, ids: Sequence[str]) -> pd.Series:
    """Content hashes (category|lon|lat|name) of stored places among ``ids``, indexed by place id."""
    frames = []
    for batch in batches(pd.unique(np.asarray(ids, dtype=object)).tolist()):
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
    return bulk_insert(session, Place.__tablename__, out)


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


__all__ = [
    "existing_place_hashes", "insert_places", "load_places", "place_hash",
]
