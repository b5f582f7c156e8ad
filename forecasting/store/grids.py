"""Repository functions for grids and their cells.

Every function takes a keyword-only ``session`` and never commits. Frames follow the
contracts in the docstrings; reasons are stored as JSON lists of sentences.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from forecasting.errors import DataError
from forecasting.store.models import (
    Cell,
    Grid,
)
from forecasting.store.repository import bulk_insert, now_utc

CELL_COLUMNS = ["cell_id", "row", "col", "centroid_lon", "centroid_lat", "area_m2", "polygon_wkt"]


def grid_key(*, kind: str, crs: str | None = None, cell_size: float | None = None, origin_x: float = 0.0,
             origin_y: float = 0.0, h3_resolution: int | None = None) -> str:
    """The key of a grid: its parameters, not its extent (more data adds cells to the same grid).

    Examples
    --------
    >>> grid_key(kind="square", crs="EPSG:32610", cell_size=150.0)
    'square:EPSG:32610:150:0:0'
    >>> grid_key(kind="h3", h3_resolution=9)
    'h3:9'
    """
    if kind == "h3":
        return f"h3:{h3_resolution}"
    return f"{kind}:{crs}:{cell_size:g}:{origin_x:g}:{origin_y:g}"


def upsert_grid(
    *, session: Session, key: str, kind: str, crs: str | None = None, cell_size: float | None = None,
    origin_x: float | None = None, origin_y: float | None = None, h3_resolution: int | None = None,
) -> int:
    """Id of the grid with this ``key`` (see :func:`grid_key`), creating it when new; grids are never changed."""
    found = session.scalar(select(Grid.id).where(Grid.key == key))
    if found is not None:
        return found
    grid = Grid(key=key, kind=kind, crs=crs, cell_size=cell_size, origin_x=origin_x, origin_y=origin_y,
                h3_resolution=h3_resolution, created_at=now_utc())
    session.add(grid)
    session.flush()
    return grid.id


def save_cells(*, session: Session, grid_id: int, cells: pd.DataFrame) -> int:
    """Insert the cells of ``cells`` (columns :data:`CELL_COLUMNS`) not yet stored; returns how many."""
    missing = [c for c in CELL_COLUMNS if c not in cells.columns]
    if missing:
        raise DataError(f"cells frame is missing column(s) {missing}")
    stored = set(session.scalars(select(Cell.cell_id).where(Cell.grid_id == grid_id)))
    new = cells.loc[~cells["cell_id"].astype(str).isin(stored), CELL_COLUMNS].copy()
    new["cell_id"] = new["cell_id"].astype(str)
    new["grid_id"] = grid_id
    return bulk_insert(session, Cell.__tablename__, new) if len(new) else 0


def cells_frame(*, session: Session, grid_id: int) -> pd.DataFrame:
    """The stored cells of a grid (:data:`CELL_COLUMNS`)."""
    q = select(*[getattr(Cell, c) for c in CELL_COLUMNS]).where(Cell.grid_id == grid_id).order_by(Cell.id)
    return pd.read_sql(q, session.connection())


def get_grid(*, session: Session, grid_id: int) -> Grid | None:
    """The grid with this id."""
    return session.get(Grid, grid_id)
