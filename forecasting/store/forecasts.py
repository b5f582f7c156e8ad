"""Repository functions for forecast runs and their per-cell rows.

Every function takes a keyword-only ``session`` and never commits. Frames follow the
contracts in the docstrings; reasons are stored as JSON lists of sentences.
"""

from __future__ import annotations

import json
from datetime import datetime

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from forecasting.errors import DataError
from forecasting.store.models import (
    Cell,
    Forecast,
    ForecastRun,
    ModelVersion,
)
from forecasting.store.repository import bulk_insert, now_utc

FORECAST_COLUMNS = ["cell_id", "expected_count", "probability", "score", "rank", "reasons"]


def save_forecast(
    *, session: Session, frame: pd.DataFrame, grid_id: int, model: str, category: str, period: str,
    period_start: datetime, period_end: datetime, model_version_id: int | None = None,
    data_until: datetime | None = None,
) -> int:
    """Store one forecast run and its per-cell rows; returns the new run's id.

    ``frame`` has :data:`FORECAST_COLUMNS`; ``reasons`` holds a list of sentences (or None).
    Stored runs are immutable: re-issuing a forecast for the same period adds a run with a new
    id and never deletes or rewrites the earlier one, so audit rows and exports that name
    "run 10" keep pointing at the numbers they described. Readers take the latest run of a
    period (:func:`forecast_runs` lists newest first) and may still open the earlier ones.
    """
    missing = [c for c in FORECAST_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"forecast frame is missing column(s) {missing}")
    run = ForecastRun(
        model_version_id=model_version_id, grid_id=grid_id, model=model, category=category, period=period,
        period_start=period_start, period_end=period_end, issued_at=now_utc(), data_until=data_until,
    )
    session.add(run)
    session.flush()
    out = frame.loc[:, FORECAST_COLUMNS].copy()
    out["cell_id"] = out["cell_id"].astype(str)
    out["reasons"] = [None if r is None or (isinstance(r, float) and pd.isna(r)) else json.dumps(list(r))
                      for r in out["reasons"]]
    out["run_id"] = run.id
    bulk_insert(session, Forecast.__tablename__, out)
    return run.id


def forecast_runs(
    *, session: Session, period: str | None = None, category: str | None = None, model: str | None = None,
) -> pd.DataFrame:
    """Stored forecast runs, newest period first (columns of :class:`ForecastRun`)."""
    q = select(
        ForecastRun.id, ForecastRun.model_version_id, ForecastRun.grid_id, ForecastRun.model,
        ForecastRun.category, ForecastRun.period, ForecastRun.period_start, ForecastRun.period_end,
        ForecastRun.issued_at, ForecastRun.data_until,
    ).order_by(ForecastRun.period_start.desc(), ForecastRun.id.desc())
    if period:
        q = q.where(ForecastRun.period == period)
    if category:
        q = q.where(ForecastRun.category == category)
    if model:
        q = q.where(ForecastRun.model == model)
    frame = pd.read_sql(q, session.connection())
    for c in ("period_start", "period_end", "issued_at", "data_until"):
        frame[c] = pd.to_datetime(frame[c], utc=True)
    return frame


def run_period_specs(*, session: Session, run_ids) -> dict[int, dict | None]:
    """Run id -> the period layout its model version stored (``params["period_spec"]``).

    ``None`` for a run without a model version or stored before layouts were (the default layout).
    """
    ids = [int(i) for i in run_ids]
    q = (select(ForecastRun.id, ModelVersion.params)
         .join(ModelVersion, ModelVersion.id == ForecastRun.model_version_id, isouter=True)
         .where(ForecastRun.id.in_(ids)))
    return {int(i): (p or {}).get("period_spec") for i, p in session.execute(q)}


def forecast_runs_stamp(*, session: Session) -> tuple[int, int]:
    """``(number of runs, highest run id)``: changes whenever a run is stored or deleted (runs are immutable).

    One small query, so a reader can keep the run list and re-read it only when this changes.
    """
    n, top = session.execute(select(func.count(ForecastRun.id), func.max(ForecastRun.id))).one()
    return int(n or 0), int(top or 0)


def forecast_frame(*, session: Session, run_id: int, with_cells: bool = True,
                   cell_id: str | None = None) -> pd.DataFrame:
    """Per-cell rows of a forecast run, best first; with the cells' geometry columns when asked.

    ``cell_id`` reads that one cell only (the risk map's cell panel on a run of a million cells).
    """
    cols = [getattr(Forecast, c) for c in FORECAST_COLUMNS]
    if with_cells:
        run = session.get(ForecastRun, run_id)
        if run is None:
            raise DataError(f"no forecast run with id {run_id}")
        q = (
            select(*cols, Cell.centroid_lon, Cell.centroid_lat, Cell.area_m2, Cell.polygon_wkt, Cell.row, Cell.col)
            .join(Cell, (Cell.cell_id == Forecast.cell_id) & (Cell.grid_id == run.grid_id))
            .where(Forecast.run_id == run_id)
            .order_by(Forecast.rank)
        )
    else:
        q = select(*cols).where(Forecast.run_id == run_id).order_by(Forecast.rank)
    if cell_id is not None:
        q = q.where(Forecast.cell_id == str(cell_id))
    frame = pd.read_sql(q, session.connection())
    frame["reasons"] = [json.loads(r) if isinstance(r, str) else [] for r in frame["reasons"]]
    return frame
