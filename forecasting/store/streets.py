"""What people recognise on the ground: named streets and the stored label of each cell.

Repository functions: every one takes a keyword-only ``session`` and never commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.orm import Session

from forecasting.store.models import Cell, ForecastRun, Incident, Place, Street

if TYPE_CHECKING:
    import pandas as pd


def existing_street_ids(*, session: Session, source: str) -> set[str]:
    """Ids of the streets already stored for ``source``."""
    return set(session.scalars(select(Street.street_id).where(Street.source == source)))


def insert_streets(*, session: Session, frame: pd.DataFrame, source: str, run_id: int,
                   simulated: bool = False) -> int:
    """Insert streets (``street_id, name, wkt``); returns how many."""
    if frame.empty:
        return 0
    session.execute(Street.__table__.insert(), [
        {"source": source, "street_id": sid, "name": name, "wkt": wkt, "simulated": simulated, "run_id": run_id}
        for sid, name, wkt in zip(frame["street_id"], frame["name"], frame["wkt"], strict=True)])
    return len(frame)


def streets_frame(*, session: Session, bbox: tuple[float, float, float, float] | None = None) -> pd.DataFrame:
    """Stored streets as ``name, wkt, simulated`` (optionally only those whose text bbox meets ``bbox``).

    Examples
    --------
    Skipped in the test run: it needs a session ``s`` on a migrated database.

    >>> streets_frame(session=s).columns.tolist()  # doctest: +SKIP
    ['name', 'wkt', 'simulated']
    """
    import pandas as pd

    out = pd.read_sql(select(Street.name, Street.wkt, Street.simulated).order_by(Street.id), session.connection())
    out["simulated"] = out["simulated"].astype(bool)
    if bbox is None or out.empty:
        return out
    import shapely

    geoms = shapely.from_wkt(out["wkt"].to_numpy(dtype=object))
    keep = shapely.intersects(geoms, shapely.box(*bbox))
    return out.loc[keep].reset_index(drop=True)


def cell_labels(*, session: Session, grid_id: int) -> dict[str, str | None]:
    """Stored labels of a grid's cells (``None``: not computed yet; ``""``: computed, nothing found)."""
    rows = session.execute(select(Cell.cell_id, Cell.label).where(Cell.grid_id == grid_id))
    return {cell: label for cell, label in rows}


def run_grid_id(*, session: Session, run_id: int) -> int | None:
    """The grid a forecast run scored (None when there is no such run)."""
    return session.scalar(select(ForecastRun.grid_id).where(ForecastRun.id == run_id))


def set_cell_labels(*, session: Session, grid_id: int, labels: Mapping[str, str]) -> int:
    """Store labels (``""`` for "computed, nothing nearby"); returns how many cells were updated."""
    if not labels:
        return 0
    stmt = (update(Cell.__table__).where(and_(Cell.__table__.c.grid_id == bindparam("g"),
                                             Cell.__table__.c.cell_id == bindparam("c")))
            .values(label=bindparam("l")))
    session.connection().execute(stmt, [{"g": grid_id, "c": c, "l": lab[:300]} for c, lab in labels.items()])
    return len(labels)


def named_places(*, session: Session, bbox: tuple[float, float, float, float] | None = None) -> pd.DataFrame:
    """Places with a name (``name, category, longitude, latitude``), to label cells without an address."""
    import pandas as pd

    q = select(Place.name, Place.category, Place.longitude, Place.latitude).where(
        Place.name.is_not(None), func.length(func.trim(Place.name)) > 0)
    if bbox is not None:
        w, s, e, n = bbox
        q = q.where(Place.longitude.between(w, e), Place.latitude.between(s, n))
    return pd.read_sql(q, session.connection())


def source_is_simulated(*, session: Session, sources=None) -> bool:
    """True when the stored incidents (of ``sources``) all come from the simulated city.

    How outputs know to say "simulated": the demo ingests the simulated city with
    ``source="simulated"``.
    """
    q = select(Incident.source).distinct()
    if sources:
        q = q.where(Incident.source.in_(list(sources)))
    found = set(session.scalars(q))
    return bool(found) and found <= {"simulated"}


__all__ = ["cell_labels", "existing_street_ids", "insert_streets", "named_places", "set_cell_labels",
           "run_grid_id", "source_is_simulated", "streets_frame"]
