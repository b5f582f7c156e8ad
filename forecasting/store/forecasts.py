"""Repository functions for grids, cells, model versions, forecasts, backtests and tasks.

Every function takes a keyword-only ``session`` and never commits. Frames follow the
contracts in the docstrings; reasons are stored as JSON lists of sentences.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from forecasting.errors import DataError
from forecasting.store.models import (
    Backtest,
    Cell,
    Forecast,
    ForecastRun,
    Grid,
    ModelVersion,
    Task,
)
from forecasting.store.repository import _bulk_insert

CELL_COLUMNS = ["cell_id", "row", "col", "centroid_lon", "centroid_lat", "area_m2", "polygon_wkt"]
FORECAST_COLUMNS = ["cell_id", "expected_count", "probability", "score", "rank", "reasons"]


def _now() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------------ grids
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
                h3_resolution=h3_resolution, created_at=_now())
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
    return _bulk_insert(session, Cell.__tablename__, new) if len(new) else 0


def cells_frame(*, session: Session, grid_id: int) -> pd.DataFrame:
    """The stored cells of a grid (:data:`CELL_COLUMNS`)."""
    q = select(*[getattr(Cell, c) for c in CELL_COLUMNS]).where(Cell.grid_id == grid_id).order_by(Cell.id)
    return pd.read_sql(q, session.connection())


def get_grid(*, session: Session, grid_id: int) -> Grid | None:
    """The grid with this id."""
    return session.get(Grid, grid_id)


# --------------------------------------------------------------- model versions
def add_model_version(*, session: Session, **fields) -> int:
    """Record a fitted model (see :class:`~forecasting.store.models.ModelVersion`); returns its id."""
    fields.setdefault("created_at", _now())
    mv = ModelVersion(**fields)
    session.add(mv)
    session.flush()
    return mv.id


def list_model_versions(*, session: Session, limit: int = 50) -> pd.DataFrame:
    """The newest model versions first."""
    q = select(
        ModelVersion.id, ModelVersion.name, ModelVersion.category, ModelVersion.period,
        ModelVersion.train_start, ModelVersion.train_end, ModelVersion.created_at, ModelVersion.created_by,
        ModelVersion.metrics, ModelVersion.artifact_path, ModelVersion.data_hash,
    ).order_by(ModelVersion.id.desc()).limit(limit)
    return pd.read_sql(q, session.connection())


def get_model_version(*, session: Session, version_id: int) -> ModelVersion | None:
    """The model version with this id."""
    return session.get(ModelVersion, version_id)


# -------------------------------------------------------------------- forecasts
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
        period_start=period_start, period_end=period_end, issued_at=_now(), data_until=data_until,
    )
    session.add(run)
    session.flush()
    out = frame.loc[:, FORECAST_COLUMNS].copy()
    out["cell_id"] = out["cell_id"].astype(str)
    out["reasons"] = [None if r is None or (isinstance(r, float) and pd.isna(r)) else json.dumps(list(r))
                      for r in out["reasons"]]
    out["run_id"] = run.id
    _bulk_insert(session, Forecast.__tablename__, out)
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


def forecast_runs_stamp(*, session: Session) -> tuple[int, int]:
    """``(number of runs, highest run id)``: changes whenever a run is stored or deleted (runs are immutable).

    One small query, so a reader can keep the run list and re-read it only when this changes.
    """
    n, top = session.execute(select(func.count(ForecastRun.id), func.max(ForecastRun.id))).one()
    return int(n or 0), int(top or 0)


def forecast_frame(*, session: Session, run_id: int, with_cells: bool = True) -> pd.DataFrame:
    """Per-cell rows of a forecast run, best first; with the cells' geometry columns when asked."""
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
    frame = pd.read_sql(q, session.connection())
    frame["reasons"] = [json.loads(r) if isinstance(r, str) else [] for r in frame["reasons"]]
    return frame


# -------------------------------------------------------------------- backtests
def add_backtest(*, session: Session, **fields) -> int:
    """Record a backtest (see :class:`~forecasting.store.models.Backtest`); returns its id."""
    fields.setdefault("created_at", _now())
    bt = Backtest(**fields)
    session.add(bt)
    session.flush()
    return bt.id


def list_backtests(*, session: Session, limit: int = 20) -> list[Backtest]:
    """The newest backtests first."""
    return list(session.scalars(select(Backtest).order_by(Backtest.id.desc()).limit(limit)))


# ------------------------------------------------------------------------ tasks
def create_task(*, session: Session, kind: str, params: dict | None = None, created_by: str | None = None) -> int:
    """Queue a background task; returns its id."""
    task = Task(kind=kind, status="queued", progress=0.0, params=params, created_by=created_by, created_at=_now())
    session.add(task)
    session.flush()
    return task.id


def update_task(
    *, session: Session, task_id: int, status: str | None = None, progress: float | None = None,
    message: str | None = None, result: dict | None = None,
) -> None:
    """Record a task's progress or outcome."""
    values: dict = {}
    if status is not None:
        values["status"] = status
        if status == "running":
            values["started_at"] = _now()
        if status in ("succeeded", "failed"):
            values["finished_at"] = _now()
    if progress is not None:
        values["progress"] = float(progress)
    if message is not None:
        values["message"] = message
    if result is not None:
        values["result"] = result
    if values:
        session.execute(update(Task).where(Task.id == task_id).values(**values))


def get_task(*, session: Session, task_id: int) -> Task | None:
    """The task with this id."""
    return session.get(Task, task_id)


def list_tasks(*, session: Session, limit: int = 20) -> list[Task]:
    """The newest tasks first."""
    return list(session.scalars(select(Task).order_by(Task.id.desc()).limit(limit)))
