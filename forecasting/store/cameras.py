"""Repository functions for the camera registry (cameras of a source, their fields and keys).

Every function takes a keyword-only ``session`` and never commits (the caller owns the
transaction). Frames follow the contracts in :mod:`forecasting.ingest.cameras`,
:mod:`forecasting.ingest.counts` and :mod:`forecasting.ingest.places`; times are UTC.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from forecasting.store.models import Camera
from forecasting.store.repository import batches, bulk_insert, utc_series

_CAMERA_FIELDS = (
    "name", "kind", "longitude", "latitude", "heading_deg", "fov_deg", "range_m", "view_wkt",
    "installed_at", "retired_at", "status",
)


def existing_cameras(*, session: Session, source: str, ids: Iterable[str] | None = None) -> pd.DataFrame:
    """Stored cameras of ``source`` (optionally only ``ids``): ``pk, camera_id`` + the camera fields."""
    cols = [Camera.id.label("pk"), Camera.camera_id] + [getattr(Camera, f) for f in _CAMERA_FIELDS]
    q = select(*cols).where(Camera.source == source)
    frames = []
    if ids is None:
        frames.append(pd.read_sql(q, session.connection()))
    else:
        for batch in batches(pd.unique(np.asarray(list(ids), dtype=object))):
            frames.append(pd.read_sql(q.where(Camera.camera_id.in_(batch)), session.connection()))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["pk", "camera_id"])
    for c in ("installed_at", "retired_at"):
        if c in out:
            out[c] = utc_series(out[c])
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
    return bulk_insert(session, Camera.__tablename__, out)


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
        out[c] = utc_series(out[c])
    out["simulated"] = out["simulated"].astype(bool)
    return out


__all__ = [
    "camera_pks", "existing_cameras", "insert_cameras", "load_cameras", "update_cameras",
]
