"""The dashboard's data provider over the store: reads through repository functions, products through jobs.

Nothing here computes a product: camera rankings, patrol plans and their exports are asked of
:mod:`forecasting.jobs.priority`, so the dashboard shows what ``crimecast priority cameras`` and
``crimecast export patrol`` give for the same stored run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dashboards.analysis_data import StoreAnalysis
from dashboards.contracts import (
    CAMERA_COLUMNS,
    FORECAST_VIEW_COLUMNS,
    GAP_COLUMNS,
    NAME_KEYS,
    PLACE_COLUMNS,
    PLAN_COLUMNS,
    PRIORITY_COLUMNS,
    RUN_COLUMNS,
    TASK_COLUMNS,
    WATCH_COLUMNS,
    Account,
    Backtest,
    check_format,
)
from dashboards.figure_cache import FigureCache
from forecasting.errors import DataError, InputError


def priority_frame(choice: pd.DataFrame) -> pd.DataFrame:
    """The ``priority`` contract from a job's ranked choice (:func:`forecasting.jobs.priority.camera_priority`)."""
    return pd.DataFrame({
        "rank": choice["rank"].astype(int).to_numpy(),
        "camera_id": choice["camera_id"].astype(str).to_numpy(),
        "name": choice["name"].fillna("").astype(str).to_numpy() if "name" in choice else "",
        "expected_in_view": choice["standalone_risk"].to_numpy(float),
        "marginal": choice["marginal_risk"].to_numpy(float),
        "n_cells": choice["n_cells"].astype(int).to_numpy(),
        "why": choice["explanation"].to_numpy(),
    }, columns=PRIORITY_COLUMNS)


def plan_table(hotspots) -> pd.DataFrame:
    """The planner-facing hotspot table (``hotspot_id, area, rank, expected, visits, reasons``)."""
    hs = pd.DataFrame(hotspots.drop(columns="geometry", errors="ignore"))
    if hs.empty:
        return pd.DataFrame(columns=PLAN_COLUMNS)
    return hs.loc[:, PLAN_COLUMNS]


def plan_stem(run_id: int, area: str | None) -> str:
    """File name stem of a patrol-plan download (safe characters only)."""
    safe = "".join(ch if ch.isalnum() else "_" for ch in (area or "all"))
    return f"patrol_plan_run{int(run_id)}_{safe}"


def _name_column(frame) -> str:
    for c in NAME_KEYS:
        if c in frame.columns:
            return c
    cols = [c for c in frame.columns if c != "geometry"]
    if not cols:
        raise InputError("a boundary layer needs a name property on its features")
    return cols[0]


def area_frame(boundaries: dict[str, dict], area: str):
    """The polygon(s) of one ``layer/name`` boundary area as a GeoDataFrame with ``name`` = ``area``."""
    import geopandas as gpd

    layer, _, name = area.partition("/")
    gj = boundaries.get(layer)
    if gj is None:
        raise InputError(f"area must be 'layer/name' of a known boundary layer; got {area!r}")
    frame = gpd.GeoDataFrame.from_features(gj["features"], crs="EPSG:4326")
    key = _name_column(frame)
    hit = frame.loc[frame[key].astype(str) == name, ["geometry"]]
    if hit.empty:
        raise InputError(f"no area named {name!r} in boundary layer {layer!r}")
    return hit.assign(name=area)


def read_boundaries(paths) -> dict[str, dict]:
    """Load GeoJSON boundary files: file stem -> FeatureCollection (reprojected to WGS84)."""
    import geopandas as gpd

    out = {}
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise InputError(f"boundary file {p} does not exist; fix CRIMECAST_BOUNDARY_FILES")
        frame = gpd.read_file(p)
        if frame.crs is not None and frame.crs.to_epsg() != 4326:
            frame = frame.to_crs("EPSG:4326")
        out[p.stem] = json.loads(frame.to_json(drop_id=True))
    return out


class StoreProvider(StoreAnalysis):
    """Reads the dashboard's data through the store's repository functions.

    Parameters
    ----------
    factory : sessionmaker
        Session factory on a migrated database.
    boundary_files : sequence of path, optional
        GeoJSON boundary layers; default every ``*.geojson`` in ``data_dir/boundaries``.
    data_dir : path, optional
    timezone : str, default "UTC"
        Wall-clock zone of patrol plans when the incidents do not tell.
    settings : forecasting.config.Settings, optional
        Passed to the jobs (default: built from ``data_dir`` and ``timezone``).

    Camera rankings, patrol plans and exports come from :mod:`forecasting.jobs.priority`, the
    same functions the command line calls, for the run the page shows.
    """

    def __init__(self, factory, *, boundary_files=(), data_dir: str | Path | None = None,
                 timezone: str = "UTC", settings=None) -> None:
        from forecasting.config import load_settings

        self.factory = factory
        self.settings = settings or load_settings(data_dir=str(data_dir or "var"), timezone=timezone,
                                                  _toml_file=None)
        self.boundary_files = list(boundary_files)
        if not self.boundary_files and data_dir is not None:
            self.boundary_files = sorted((Path(data_dir) / "boundaries").glob("*.geojson"))
        self.timezone = timezone
        self._runs = FigureCache(size=2, ttl=float("inf"))
        self._forecasts = FigureCache(size=6, ttl=float("inf"))
        self._priority = FigureCache(size=6, ttl=float("inf"))
        self._evaluations = FigureCache(size=64, ttl=float("inf"))
        self._views = FigureCache(size=32, ttl=float("inf"))  # extents, frame cells, values of stored runs
        self._static: dict[str, Any] = {}

    def _read(self, fn: Callable, **kw):
        from forecasting.store.session import transaction

        with transaction(self.factory) as s:
            return fn(session=s, **kw)

    def forecast_runs(self) -> pd.DataFrame:
        from forecasting.store.forecasts import forecast_runs, forecast_runs_stamp

        # Asked by every period switch and cell click: re-read the list only when a run was added or deleted.
        stamp = self._read(forecast_runs_stamp)
        runs = self._runs.get_or(stamp, lambda: self._read(forecast_runs).loc[:, RUN_COLUMNS])
        return runs.copy()

    def _run(self, run_id: int) -> pd.Series:
        runs = self.forecast_runs()
        hit = runs[runs["id"] == int(run_id)]
        if hit.empty:
            raise DataError(f"no forecast run with id {run_id}")
        return hit.iloc[0]

    def grid_crs(self, grid_id: int) -> str | None:
        from forecasting.jobs.forecasting import grid_crs

        key = ("crs", int(grid_id))
        if key not in self._static:  # grids never change
            self._static[key] = grid_crs(self.factory, int(grid_id))
        return self._static[key]

    def forecast(self, run_id: int) -> pd.DataFrame:
        from forecasting.jobs.places import run_labels
        from forecasting.store.forecasts import forecast_frame

        def load() -> pd.DataFrame:
            frame = self._read(forecast_frame, run_id=int(run_id)).loc[:, FORECAST_VIEW_COLUMNS[:-1]]
            labels = run_labels(self.factory, run_id=int(run_id))
            return frame.assign(label=frame["cell_id"].astype(str).map(labels).astype(object))

        return self._forecasts.get_or(int(run_id), load)

    def forecast_cell(self, run_id: int, cell_id: str) -> pd.DataFrame:
        from forecasting.jobs.places import run_labels
        from forecasting.store.forecasts import forecast_frame

        frame = self._read(forecast_frame, run_id=int(run_id), cell_id=str(cell_id)).loc[:, FORECAST_VIEW_COLUMNS[:-1]]
        labels = run_labels(self.factory, run_id=int(run_id))
        return frame.assign(label=frame["cell_id"].astype(str).map(labels).astype(object))

    def forecast_extent(self, run_id: int) -> dict:
        from forecasting.store.viewport import forecast_extent

        return self._views.get_or(("extent", int(run_id)), lambda: self._read(forecast_extent, run_id=int(run_id)))

    def forecast_window(self, run_id: int, col_min: int, col_max: int, row_min: int, row_max: int) -> pd.DataFrame:
        from forecasting.store.viewport import forecast_window

        return self._read(forecast_window, run_id=int(run_id), col_min=col_min, col_max=col_max, row_min=row_min,
                          row_max=row_max)

    def forecast_values(self, run_id: int) -> pd.DataFrame:
        from forecasting.store.viewport import forecast_values

        return self._views.get_or(("values", int(run_id)), lambda: self._read(forecast_values, run_id=int(run_id)))

    def forecast_frame_cells(self, run_id: int) -> pd.DataFrame:
        from forecasting.store.viewport import grid_sample

        return self._views.get_or(("frame", int(run_id)), lambda: self._read(grid_sample, run_id=int(run_id)))

    def cell_history(self, run_id: int, cell_id: str, periods: int = 12) -> pd.DataFrame:
        import shapely

        from forecasting.store.repository import incident_times_in_box

        run = self._run(run_id)
        hit = self.forecast_cell(run_id, str(cell_id))
        if hit.empty:
            raise DataError(f"no cell {cell_id!r} in forecast run {run_id}")
        length = pd.Timestamp(run["period_end"]) - pd.Timestamp(run["period_start"])
        end = pd.Timestamp(run["period_start"])
        starts = pd.DatetimeIndex([end - length * (periods - i) for i in range(periods)])
        poly = shapely.from_wkt(hit["polygon_wkt"].iloc[0])
        # Only the incidents in the cell's bounding box (an index read), then the exact polygon test.
        ev = self._read(incident_times_in_box, start=starts[0].to_pydatetime(), end=end.to_pydatetime(),
                        bounds=poly.bounds)
        inside = shapely.contains_xy(poly, ev["longitude"].to_numpy(float), ev["latitude"].to_numpy(float)) \
            if len(ev) else np.zeros(0, dtype=bool)
        t = pd.to_datetime(ev.loc[inside, "occurred_at"], utc=True)
        idx = np.searchsorted(starts.asi8, t.astype("int64").to_numpy(), side="right") - 1 if len(t) else []
        counts = np.bincount(np.asarray(idx, dtype=np.int64), minlength=periods)[:periods]
        return pd.DataFrame({"period_start": starts, "count": counts.astype(int)})

    def cameras(self) -> pd.DataFrame:
        from forecasting.store.cameras import load_cameras

        cams = self._read(load_cameras)
        cams = cams[cams["retired_at"].isna()] if "retired_at" in cams else cams
        return cams.loc[:, CAMERA_COLUMNS].reset_index(drop=True)

    def places(self) -> pd.DataFrame:
        from forecasting.store.places import load_places

        return self._read(load_places).loc[:, PLACE_COLUMNS]

    def boundaries(self) -> dict[str, dict]:
        if "boundaries" not in self._static:
            self._static["boundaries"] = read_boundaries(self.boundary_files)
        return self._static["boundaries"]

    def streets(self) -> pd.DataFrame:
        from forecasting.store.streets import streets_frame

        if "streets" not in self._static:
            self._static["streets"] = self._read(streets_frame)
        return self._static["streets"]

    def simulated(self) -> bool:
        from forecasting.store.streets import source_is_simulated

        if "simulated" not in self._static:  # read once (asked by every page shell)
            self._static["simulated"] = self._read(source_is_simulated)
        return self._static["simulated"]

    def camera_priority(self, run_id: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        return self._priority.get_or(int(run_id), lambda: self._rank(int(run_id)))

    def choice_record(self, k: int = 4) -> pd.DataFrame:
        from forecasting.jobs.priority import choice_record, evaluate_camera_choice

        def evaluate(run_id: int) -> dict:  # stored runs are immutable: each shift is evaluated once
            return self._evaluations.get_or((run_id, k), lambda: evaluate_camera_choice(
                self.factory, self.settings, run_id=run_id, k=k))

        return choice_record(self.factory, self.settings, n=30, k=k, evaluate=evaluate)

    def watch_list(self, run_id: int, k: int = 4) -> pd.DataFrame:
        from forecasting.jobs.priority import watch_list

        try:
            wl = watch_list(self.factory, self.settings, run_id=int(run_id), k=k)
        except DataError:  # no hourly forecast inside this shift (or not a shift run)
            return pd.DataFrame(columns=WATCH_COLUMNS)
        h = wl.hours
        return pd.DataFrame({"hour": h["hour"], "rank": h["rank"].astype(int), "camera_id": h["camera_id"].astype(str),
                             "name": h["name"].fillna("").astype(str), "marginal": h["marginal_risk"].astype(float),
                             "expected_in_view": h["standalone_risk"].astype(float), "why": h["explanation"]},
                            columns=WATCH_COLUMNS)

    def _rank(self, run_id: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        from forecasting.jobs.priority import camera_priority

        n = int(self.cameras()["view_wkt"].notna().sum())
        if n == 0:
            return pd.DataFrame(columns=PRIORITY_COLUMNS), pd.DataFrame(columns=GAP_COLUMNS)
        res = camera_priority(self.factory, self.settings, run_id=run_id, k=n)
        return priority_frame(res.choice), res.gaps.loc[:, GAP_COLUMNS]

    def backtests(self) -> list[Backtest]:
        from forecasting.store.backtests import list_backtests

        rows = self._read(list_backtests)
        return [Backtest(b.id, b.created_at, b.period, b.metrics or {}, b.out_dir, b.created_by) for b in rows]

    def model_versions(self) -> pd.DataFrame:
        from forecasting.store.model_versions import list_model_versions

        cols = ["id", "name", "category", "period", "train_start", "train_end", "created_at", "created_by"]
        return self._read(list_model_versions).loc[:, cols]

    def model_card(self, version_id: int) -> str:
        from forecasting.errors import DataError
        from forecasting.jobs.governance import model_card_document
        from forecasting.reports import to_markdown

        try:
            return to_markdown(model_card_document(self.factory, self.settings, int(version_id)))
        except DataError as exc:
            return str(exc)

    def tasks(self) -> pd.DataFrame:
        from forecasting.store.tasks import list_tasks

        rows = self._read(list_tasks)
        return pd.DataFrame([{"id": t.id, "kind": t.kind, "status": t.status, "progress": t.progress,
                              "message": t.message, "created_by": t.created_by, "created_at": t.created_at}
                             for t in rows], columns=TASK_COLUMNS)

    def _tz(self) -> str:
        from forecasting.store.plans import data_timezone

        if "tz" not in self._static:
            self._static["tz"] = self._read(data_timezone) or self.timezone
        return self._static["tz"]

    def display_timezone(self) -> str:
        return self._tz()

    def export_formats(self) -> list[str]:
        from forecasting.jobs.priority import export_formats

        return list(export_formats())

    def patrol_plan(self, run_id: int, area: str | None) -> pd.DataFrame:
        from forecasting.jobs.priority import patrol_plan

        plan = patrol_plan(self.factory, self.settings, run_id=int(run_id), **self._area(area))
        return plan_table(plan.hotspots)

    def export_plan(self, run_id: int, area: str | None, fmt: str, user: str | None = None) -> tuple[str, bytes]:
        from forecasting.jobs.priority import export_patrol_bytes

        check_format(fmt, self.export_formats())
        name, content, _ = export_patrol_bytes(self.factory, self.settings, fmt=fmt, stem=plan_stem(run_id, area),
                                               user=user, run_id=int(run_id), **self._area(area))
        return name, content

    def _area(self, area: str | None) -> dict:
        """Plan options cutting the plan to one ``layer/name`` boundary area (named so in the plan)."""
        if not area:
            return {}
        return {"area": area, "areas": area_frame(self.boundaries(), area)}

    def get_account(self, username: str) -> Account | None:
        from forecasting.store.governance import get_user

        def read(session):
            u = get_user(session=session, username=username)
            return None if u is None else Account(u.username, u.role, bool(u.disabled), u.password_hash,
                                                  u.session_generation or 0)

        return self._read(read)
