"""Reads of one forecast run for a map viewport: its extent, the cells inside a box, its values.

A forecast of a million cells is too big to read, send and draw whole for every view. The risk
map asks for what is in view instead: :func:`forecast_window` reads the cells whose grid column
and row fall in a box, through the ``ix_cells_grid_id_col_row`` index (both backends; migration
``0007_cell_viewport``), and a far-out view aggregates :func:`forecast_values` (four numbers per
cell, no text) into blocks. On PostgreSQL, :func:`forecast_window_lonlat` reads a longitude /
latitude box through the PostGIS GiST index on ``cells.geom``.

Every function takes a keyword-only ``session`` and never commits.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from forecasting.errors import DataError
from forecasting.store.models import Cell, Forecast, ForecastRun

#: Columns of a viewport frame (a subset of the dashboard's forecast contract: no polygons, no reasons).
WINDOW_COLUMNS = ["cell_id", "expected_count", "probability", "rank", "centroid_lon", "centroid_lat", "row", "col",
                  "area_m2", "label"]


def _grid_id(session: Session, run_id: int) -> int:
    run = session.get(ForecastRun, int(run_id))
    if run is None:
        raise DataError(f"no forecast run with id {run_id}")
    return int(run.grid_id)


def _joined(session: Session, run_id: int, *cols):
    grid_id = _grid_id(session, run_id)
    return (select(*cols).select_from(Cell)
            .join(Forecast, (Forecast.cell_id == Cell.cell_id) & (Forecast.run_id == int(run_id)))
            .where(Cell.grid_id == grid_id))


def forecast_extent(*, session: Session, run_id: int) -> dict:
    """Cells of a run and the column / row range of its grid: ``n_cells, col_min, col_max, row_min, row_max``.

    The ranges are None when the cells have no rows and columns (H3 grids). Both reads are
    index-only (``ix_forecasts_run_id_values``, ``ix_cells_grid_id_col_row``).
    """
    grid_id = _grid_id(session, run_id)
    n = session.execute(select(func.count()).select_from(Forecast).where(Forecast.run_id == int(run_id))).scalar()
    c0, c1, r0, r1 = session.execute(select(func.min(Cell.col), func.max(Cell.col), func.min(Cell.row),
                                            func.max(Cell.row)).where(Cell.grid_id == grid_id)).one()
    return {"n_cells": int(n or 0), "col_min": c0, "col_max": c1, "row_min": r0, "row_max": r1}


def grid_sample(*, session: Session, run_id: int, n: int = 256) -> pd.DataFrame:
    """Some cells of the run's grid (``row, col, centroid_lon, centroid_lat, area_m2``), to fit a raster frame."""
    grid_id = _grid_id(session, run_id)
    q = (select(Cell.row, Cell.col, Cell.centroid_lon, Cell.centroid_lat, Cell.area_m2)
         .where(Cell.grid_id == grid_id, Cell.col.is_not(None)).limit(int(n)))
    return _frame(session, q, ["row", "col", "centroid_lon", "centroid_lat", "area_m2"])


def forecast_window(*, session: Session, run_id: int, col_min: int, col_max: int, row_min: int, row_max: int,
                    limit: int | None = None) -> pd.DataFrame:
    """The run's cells whose column and row fall in the box (inclusive), as :data:`WINDOW_COLUMNS`.

    ``limit`` keeps the best-ranked cells only (a sample for fitting the map's raster frame).
    """
    cols = [Cell.cell_id, Forecast.expected_count, Forecast.probability, Forecast.rank, Cell.centroid_lon,
            Cell.centroid_lat, Cell.row, Cell.col, Cell.area_m2, Cell.label]
    q = _joined(session, run_id, *cols).where(Cell.col.between(int(col_min), int(col_max)),
                                              Cell.row.between(int(row_min), int(row_max)))
    if limit is not None:
        q = q.order_by(Forecast.rank).limit(int(limit))
    return _frame(session, q, WINDOW_COLUMNS)


def forecast_window_lonlat(*, session: Session, run_id: int, west: float, south: float, east: float,
                           north: float) -> pd.DataFrame:
    """The run's cells whose centroid falls in a longitude / latitude box, as :data:`WINDOW_COLUMNS`.

    PostgreSQL asks the GiST index on ``cells.geom`` (``&&`` an envelope) before the exact test;
    SQLite compares the stored centroid numbers.
    """
    from sqlalchemy import literal_column

    cols = [Cell.cell_id, Forecast.expected_count, Forecast.probability, Forecast.rank, Cell.centroid_lon,
            Cell.centroid_lat, Cell.row, Cell.col, Cell.area_m2, Cell.label]
    q = _joined(session, run_id, *cols).where(Cell.centroid_lon.between(west, east),
                                              Cell.centroid_lat.between(south, north))
    if session.connection().dialect.name == "postgresql":
        q = q.where(literal_column("cells.geom").op("&&")(func.ST_MakeEnvelope(west, south, east, north, 4326)))
    return _frame(session, q, WINDOW_COLUMNS)


def forecast_values(*, session: Session, run_id: int) -> pd.DataFrame:
    """Every cell of the run as numbers only: ``col, row, expected_count, probability`` (for block aggregation).

    Two index-only reads joined here (``ix_cells_grid_id_col_row`` and ``ix_forecasts_run_id_values``
    hold every column asked for): a join in the database would visit a table row per cell.
    """
    grid_id = _grid_id(session, run_id)
    cells = _frame(session, select(Cell.cell_id, Cell.col, Cell.row).where(Cell.grid_id == grid_id),
                   ["cell_id", "col", "row"])
    values = _frame(session, select(Forecast.cell_id, Forecast.expected_count, Forecast.probability)
                    .where(Forecast.run_id == int(run_id)), ["cell_id", "expected_count", "probability"])
    frame = values.merge(cells, on="cell_id", how="inner", validate="one_to_one")
    return frame.loc[:, ["col", "row", "expected_count", "probability"]].astype(
        {"expected_count": float, "probability": float})


def _frame(session: Session, q, columns: list[str]) -> pd.DataFrame:
    # The DBAPI cursor straight into a frame: SQLAlchemy's Row objects cost more than the query on 1 M rows.
    conn = session.connection()
    compiled = q.compile(dialect=conn.dialect)
    params = ([compiled.params[k] for k in compiled.positiontup] if compiled.positional
              else compiled.params)
    cur = conn.connection.dbapi_connection.cursor()
    try:
        cur.execute(str(compiled), params)
        rows = cur.fetchall()
    finally:
        cur.close()
    return pd.DataFrame(rows, columns=columns)


__all__ = ["WINDOW_COLUMNS", "forecast_extent", "forecast_values", "forecast_window", "forecast_window_lonlat",
           "grid_sample"]
