"""Read-only data providers of the dashboard, and the two writes it makes (audit, tasks).

Pages never touch the database: they call a :class:`DashboardProvider`. :class:`StoreProvider`
reads through the store's repository functions; :class:`FakeProvider` holds seeded in-memory
frames so callbacks can be unit-tested without a database or a browser.

Frame contracts (every provider returns these columns)
-----------------------------------------------------
runs
    ``id, grid_id, model, category, period, period_start, period_end, issued_at`` (UTC), newest
    period first.
forecast
    ``cell_id, expected_count, probability, score, rank, reasons (list of str), centroid_lon,
    centroid_lat, row, col, area_m2, polygon_wkt`` (WGS84), best rank first.
history
    ``period_start, count``: incidents in the cell in the periods before the forecast period.
cameras
    ``camera_id, name, kind, status, longitude, latitude, view_wkt`` (WGS84 view polygon).
places
    ``category, name, longitude, latitude``.
priority
    ``rank, camera_id, name, expected_in_view, marginal, n_cells, why``.
gaps
    ``cell_id, risk, risk_rank, reasons``: high-risk cells no camera sees.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from dashboards.analysis_data import FakeAnalysis, StoreAnalysis
from forecasting.errors import DataError, InputError

RUN_COLUMNS = ["id", "grid_id", "model", "category", "period", "period_start", "period_end", "issued_at"]
FORECAST_VIEW_COLUMNS = ["cell_id", "expected_count", "probability", "score", "rank", "reasons",
                         "centroid_lon", "centroid_lat", "row", "col", "area_m2", "polygon_wkt"]
CAMERA_COLUMNS = ["camera_id", "name", "kind", "status", "longitude", "latitude", "view_wkt"]
PLACE_COLUMNS = ["category", "name", "longitude", "latitude"]
PRIORITY_COLUMNS = ["rank", "camera_id", "name", "expected_in_view", "marginal", "n_cells", "why"]
GAP_COLUMNS = ["cell_id", "risk", "risk_rank", "reasons"]
TASK_KINDS = ("train", "backtest")


@dataclass(frozen=True)
class Account:
    """What the dashboard knows of a user: never more than name, role, state and hash."""

    username: str
    role: str
    disabled: bool
    password_hash: str = field(repr=False, default="")


@dataclass
class Backtest:
    """A stored backtest: its metrics summary (``metrics.json``) and output directory."""

    id: int
    created_at: datetime | None
    period: str
    metrics: dict
    out_dir: str | None = None
    created_by: str | None = None


@runtime_checkable
class DashboardProvider(Protocol):
    """Everything the pages read. Implementations must not write (see :class:`Recorder`)."""

    def forecast_runs(self) -> pd.DataFrame:
        """Stored forecast runs (``runs`` contract)."""

    def grid_crs(self, grid_id: int) -> str | None:
        """Projected CRS of a square grid (e.g. ``"EPSG:32610"``), or None when unknown."""

    def forecast(self, run_id: int) -> pd.DataFrame:
        """Per-cell forecast of a run (``forecast`` contract)."""

    def cell_history(self, run_id: int, cell_id: str, periods: int = 12) -> pd.DataFrame:
        """Recent incident counts of one cell (``history`` contract)."""

    def cameras(self) -> pd.DataFrame:
        """Cameras with their views (``cameras`` contract)."""

    def places(self) -> pd.DataFrame:
        """Places of interest (``places`` contract)."""

    def boundaries(self) -> dict[str, dict]:
        """Boundary layers: name -> GeoJSON FeatureCollection in WGS84."""

    def camera_priority(self, run_id: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Cameras ranked for a run's period, and the coverage gaps (``priority``, ``gaps``)."""

    def backtests(self) -> list[Backtest]:
        """The newest backtests first."""

    def model_versions(self) -> pd.DataFrame:
        """Model versions: ``id, name, category, period, train_start, train_end, created_at, created_by``."""

    def tasks(self) -> pd.DataFrame:
        """Background tasks: ``id, kind, status, progress, message, created_by, created_at``."""

    def export_formats(self) -> list[str]:
        """Formats :meth:`export_plan` accepts."""

    def patrol_plan(self, run_id: int, area: str | None) -> pd.DataFrame:
        """Hotspots of a shift's patrol plan: ``hotspot_id, area, rank, expected, visits, reasons``."""

    def export_plan(self, run_id: int, area: str | None, fmt: str, user: str | None = None) -> tuple[str, bytes]:
        """A patrol plan as ``(filename, content)`` in format ``fmt``; ``user`` goes into its provenance."""

    def get_account(self, username: str) -> Account | None:
        """The account with this name, or None."""

    def display_timezone(self) -> str:
        """IANA zone in which periods are labelled (the incidents' own zone)."""

    def analysis_options(self) -> dict:
        """Analysis page choices: ``categories``, default ``start``/``end``, data ``first``/``last`` day."""

    def analysis(self, kind: str, category: str, start: str | None, end: str | None):
        """A :class:`forecasting.analysis.AnalysisResult` (``hotspots``, ``emerging`` or ``near-repeat``)."""


@runtime_checkable
class Recorder(Protocol):
    """The only writes of the dashboard: the audit trail and background tasks."""

    def audit(self, username: str | None, action: str, target: str | None = None,
              details: dict | None = None) -> None:
        """Append an audit event."""

    def start_task(self, kind: str, params: dict, username: str) -> int:
        """Queue a background task (``train`` or ``backtest``), start it, and return its id."""

    def authenticate(self, username: str, password: str) -> Account | None:
        """The enabled account matching the password (a read, but with a hashing cost)."""


# ------------------------------------------------------------------ pure helpers
def _check_format(fmt: str, formats) -> str:
    if fmt not in formats:
        raise InputError(f"fmt must be one of {list(formats)}; got {fmt!r}")
    return fmt


def rank_cameras(forecast: pd.DataFrame, cameras: pd.DataFrame, top_gaps: int = 20,
                 rule: str = "intersects") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rank cameras by the risk in view, and list high-risk cells no camera sees.

    Uses :mod:`forecasting.priority` (greedy maximum coverage, so overlapping views are not counted
    twice).

    Parameters
    ----------
    forecast : DataFrame
        ``forecast`` contract.
    cameras : DataFrame
        ``cameras`` contract.
    top_gaps : int, default 20
        Highest-risk cells examined for gaps.
    rule : {"intersects", "centroid"}
        When a camera covers a cell.

    Returns
    -------
    priority, gaps : DataFrame
        ``priority`` and ``gaps`` contracts.
    """
    import geopandas as gpd

    from forecasting import priority as P

    if forecast.empty:
        return pd.DataFrame(columns=PRIORITY_COLUMNS), pd.DataFrame(columns=GAP_COLUMNS)
    cells = gpd.GeoDataFrame({"cell_id": forecast["cell_id"].astype(str).to_numpy()},
                             geometry=gpd.GeoSeries.from_wkt(forecast["polygon_wkt"].to_numpy()),
                             crs="EPSG:4326")
    cams = cameras[cameras["view_wkt"].notna() & (cameras["view_wkt"].astype(str) != "")]
    views = gpd.GeoDataFrame({"camera_id": cams["camera_id"].astype(str).to_numpy()},
                             geometry=gpd.GeoSeries.from_wkt(cams["view_wkt"].to_numpy()), crs="EPSG:4326")
    risk = pd.Series(forecast["expected_count"].to_numpy(float), index=cells["cell_id"])
    reasons = pd.Series(forecast["reasons"].to_numpy(), index=cells["cell_id"])
    cov = P.coverage_matrix(cells, views, rule=rule)
    gaps = P.coverage_gaps(cov, risk, top=top_gaps, reasons=reasons)
    if len(views) == 0:
        return pd.DataFrame(columns=PRIORITY_COLUMNS), gaps.loc[:, GAP_COLUMNS]
    choice = P.explain_choice(P.choose_cameras(cov, risk, k=len(views)), cov, risk, reasons)
    names = cams.set_index(cams["camera_id"].astype(str))["name"]
    out = pd.DataFrame({
        "rank": choice["rank"].astype(int).to_numpy(),
        "camera_id": choice["camera_id"].astype(str).to_numpy(),
        "name": names.reindex(choice["camera_id"].astype(str)).fillna("").to_numpy(),
        "expected_in_view": choice["standalone_risk"].to_numpy(float),
        "marginal": choice["marginal_risk"].to_numpy(float),
        "n_cells": choice["n_cells"].astype(int).to_numpy(),
        "why": choice["explanation"].to_numpy(),
    })
    return out, gaps.loc[:, GAP_COLUMNS]


def _plan_from_forecast(forecast: pd.DataFrame, run: pd.Series, areas: dict | None, area: str | None,
                        tz: str, user: str | None = None) -> Any:
    """Build a :class:`forecasting.patrol.PatrolPlan` of one run, limited to one area when given."""
    import geopandas as gpd

    from forecasting.patrol import build_patrol_plan

    cells = gpd.GeoDataFrame(forecast.drop(columns=["polygon_wkt"]),
                             geometry=gpd.GeoSeries.from_wkt(forecast["polygon_wkt"].to_numpy()), crs="EPSG:4326")
    area_frame = None
    if area:
        layer, _, name = area.partition("/")
        gj = (areas or {}).get(layer)
        if gj is None:
            raise InputError(f"area must be 'layer/name' of a known boundary layer; got {area!r}")
        frame = gpd.GeoDataFrame.from_features(gj["features"], crs="EPSG:4326")
        key = _name_column(frame)
        area_frame = frame[frame[key].astype(str) == name].rename(columns={key: "name"})
        if area_frame.empty:
            raise InputError(f"no area named {name!r} in boundary layer {layer!r}")
    start = pd.Timestamp(run["period_start"]).tz_convert(tz).tz_localize(None)
    end = pd.Timestamp(run["period_end"]).tz_convert(tz).tz_localize(None)
    meta = {"forecast_run_ids": [int(run["id"])], "model": str(run["model"]), "timezone": tz,
            "period_start": start.isoformat(), "period_end": end.isoformat(), "shift": f"{start:%Y-%m-%d %H:%M}",
            "generated_at": datetime.now(UTC).isoformat(), "generated_by": user or ""}
    plan = build_patrol_plan(cells, start=start, end=end, areas=area_frame, meta=meta)
    return plan


def _name_column(frame) -> str:
    for c in ("name", "NAME", "Name", "district", "beat", "neighbourhood", "id"):
        if c in frame.columns:
            return c
    cols = [c for c in frame.columns if c != "geometry"]
    if not cols:
        raise InputError("a boundary layer needs a name property on its features")
    return cols[0]


def area_names(boundaries: dict[str, dict]) -> list[str]:
    """``layer/name`` of every boundary feature (the areas a patrol plan can be cut to)."""
    out = []
    for layer, gj in boundaries.items():
        for f in gj.get("features", []):
            props = f.get("properties") or {}
            name = next((props[c] for c in ("name", "NAME", "Name", "district", "beat", "neighbourhood", "id")
                         if c in props), None)
            if name is not None:
                out.append(f"{layer}/{name}")
    return out


def plan_table(plan) -> pd.DataFrame:
    """The planner-facing hotspot table of a patrol plan."""
    hs = pd.DataFrame(plan.hotspots.drop(columns="geometry"))
    if hs.empty:
        return pd.DataFrame(columns=["hotspot_id", "area", "rank", "expected", "visits", "reasons"])
    return hs.loc[:, ["hotspot_id", "area", "rank", "expected", "visits", "reasons"]]


def export_formats() -> list[str]:
    """Formats of :mod:`forecasting.export` (csv, geojson, kml, ics, pdf)."""
    from forecasting.export import EXPORT_FORMATS

    return list(EXPORT_FORMATS)


def render_plan(plan, fmt: str, stem: str) -> tuple[str, bytes]:
    """Serialise a patrol plan with :func:`forecasting.export.write_plan`; returns ``(filename, bytes)``."""
    import tempfile

    from forecasting.export import EXPORT_FORMATS, write_plan

    _check_format(fmt, EXPORT_FORMATS)
    name = f"{stem}{EXPORT_FORMATS[fmt]}"
    with tempfile.TemporaryDirectory(prefix="crimecast-export-") as tmp:
        path = write_plan(plan, Path(tmp) / name, fmt)
        return name, Path(path).read_bytes()


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


class _LRU(OrderedDict):
    """A tiny thread-safe LRU cache for per-run frames (forecasts are immutable once stored)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self.lock = threading.Lock()

    def get_or(self, key, make):
        with self.lock:
            if key in self:
                self.move_to_end(key)
                return self[key]
        value = make()
        with self.lock:
            self[key] = value
            while len(self) > self.size:
                self.popitem(last=False)
        return value


# ------------------------------------------------------------------ store-backed
class _PlanExports:
    """Patrol-plan table and exports shared by the providers; each supplies ``_plan``."""

    def export_formats(self) -> list[str]:
        return export_formats()

    def patrol_plan(self, run_id: int, area: str | None) -> pd.DataFrame:
        return plan_table(self._plan(run_id, area))

    def export_plan(self, run_id: int, area: str | None, fmt: str, user: str | None = None) -> tuple[str, bytes]:
        _check_format(fmt, self.export_formats())
        return render_plan(self._plan(run_id, area, user), fmt, _stem(run_id, area))


class StoreProvider(_PlanExports, StoreAnalysis):
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
    """

    def __init__(self, factory, *, boundary_files=(), data_dir: str | Path | None = None,
                 timezone: str = "UTC") -> None:
        self.factory = factory
        self.boundary_files = list(boundary_files)
        if not self.boundary_files and data_dir is not None:
            self.boundary_files = sorted((Path(data_dir) / "boundaries").glob("*.geojson"))
        self.timezone = timezone
        self._forecasts = _LRU(6)
        self._static: dict[str, Any] = {}

    def _read(self, fn: Callable, **kw):
        from forecasting.store.session import transaction

        with transaction(self.factory) as s:
            return fn(session=s, **kw)

    def forecast_runs(self) -> pd.DataFrame:
        from forecasting.store.forecasts import forecast_runs

        return self._read(forecast_runs).loc[:, RUN_COLUMNS]

    def _run(self, run_id: int) -> pd.Series:
        runs = self.forecast_runs()
        hit = runs[runs["id"] == int(run_id)]
        if hit.empty:
            raise DataError(f"no forecast run with id {run_id}")
        return hit.iloc[0]

    def grid_crs(self, grid_id: int) -> str | None:
        from forecasting.store.forecasts import get_grid

        return self._static.setdefault(("crs", grid_id), self._read(lambda session: getattr(
            get_grid(session=session, grid_id=int(grid_id)), "crs", None)))

    def forecast(self, run_id: int) -> pd.DataFrame:
        from forecasting.store.forecasts import forecast_frame

        return self._forecasts.get_or(int(run_id), lambda: self._read(
            forecast_frame, run_id=int(run_id)).loc[:, FORECAST_VIEW_COLUMNS])

    def cell_history(self, run_id: int, cell_id: str, periods: int = 12) -> pd.DataFrame:
        import shapely

        from forecasting.store.repository import load_incidents

        run = self._run(run_id)
        fc = self.forecast(run_id)
        hit = fc[fc["cell_id"] == str(cell_id)]
        if hit.empty:
            raise DataError(f"no cell {cell_id!r} in forecast run {run_id}")
        length = pd.Timestamp(run["period_end"]) - pd.Timestamp(run["period_start"])
        end = pd.Timestamp(run["period_start"])
        starts = pd.DatetimeIndex([end - length * (periods - i) for i in range(periods)])
        ev = self._read(load_incidents, start=starts[0].to_pydatetime(), end=end.to_pydatetime())
        poly = shapely.from_wkt(hit["polygon_wkt"].iloc[0])
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
        from forecasting.store.cameras import load_places

        return self._read(load_places).loc[:, PLACE_COLUMNS]

    def boundaries(self) -> dict[str, dict]:
        if "boundaries" not in self._static:
            self._static["boundaries"] = read_boundaries(self.boundary_files)
        return self._static["boundaries"]

    def camera_priority(self, run_id: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        return rank_cameras(self.forecast(run_id), self.cameras())

    def backtests(self) -> list[Backtest]:
        from forecasting.store.forecasts import list_backtests

        rows = self._read(list_backtests)
        return [Backtest(b.id, b.created_at, b.period, b.metrics or {}, b.out_dir, b.created_by) for b in rows]

    def model_versions(self) -> pd.DataFrame:
        from forecasting.store.forecasts import list_model_versions

        cols = ["id", "name", "category", "period", "train_start", "train_end", "created_at", "created_by"]
        return self._read(list_model_versions).loc[:, cols]

    def tasks(self) -> pd.DataFrame:
        from forecasting.store.forecasts import list_tasks

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

    def _plan(self, run_id: int, area: str | None, user: str | None = None):
        return _plan_from_forecast(self.forecast(run_id), self._run(run_id), self.boundaries(), area, self._tz(),
                                   user)

    def get_account(self, username: str) -> Account | None:
        from forecasting.store.governance import get_user

        def read(session):
            u = get_user(session=session, username=username)
            return None if u is None else Account(u.username, u.role, bool(u.disabled), u.password_hash)

        return self._read(read)


TASK_COLUMNS = ["id", "kind", "status", "progress", "message", "created_by", "created_at"]


def _stem(run_id: int, area: str | None) -> str:
    safe = "".join(ch if ch.isalnum() else "_" for ch in (area or "all"))
    return f"patrol_plan_run{int(run_id)}_{safe}"


class StoreRecorder:
    """Writes audit events and starts background tasks as subprocesses of ``python -m forecasting``.

    Parameters
    ----------
    factory : sessionmaker
    database_url : str
        Passed to the subprocess so it writes into the same database.
    commands : dict, optional
        Task kind -> argument list after ``python -m forecasting`` (``--task-id N`` is appended).
    """

    def __init__(self, factory, database_url: str, commands: dict[str, list[str]] | None = None) -> None:
        self.factory = factory
        self.database_url = database_url
        self.commands = commands or {"train": ["train"], "backtest": ["backtest"]}

    def audit(self, username, action, target=None, details=None) -> None:
        from forecasting.store.governance import record_audit
        from forecasting.store.session import transaction

        with transaction(self.factory) as s:
            record_audit(session=s, username=username, action=action, target=target, details=details)

    def authenticate(self, username: str, password: str) -> Account | None:
        from forecasting.store.governance import authenticate
        from forecasting.store.session import transaction

        with transaction(self.factory) as s:
            u = authenticate(session=s, username=username, password=password)
            return None if u is None else Account(u.username, u.role, bool(u.disabled))

    def start_task(self, kind: str, params: dict, username: str) -> int:
        from forecasting.store.forecasts import create_task
        from forecasting.store.session import transaction

        if kind not in self.commands:
            raise InputError(f"kind must be one of {list(self.commands)}; got {kind!r}")
        with transaction(self.factory) as s:
            task_id = create_task(session=s, kind=kind, params=params, created_by=username)
        args = [sys.executable, "-m", "forecasting", *self.commands[kind], *_task_args({**params, "user": username}),
                "--task-id", str(task_id)]
        env = {**os.environ, "CRIMECAST_DATABASE_URL": self.database_url}
        proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True)
        threading.Thread(target=self._watch, args=(proc, task_id), daemon=True, name=f"task-{task_id}").start()
        return task_id

    def _watch(self, proc: subprocess.Popen, task_id: int) -> None:
        """Mark the task failed if the process dies without saying so (bad arguments, crash)."""
        from forecasting.store.forecasts import get_task, update_task
        from forecasting.store.session import transaction

        _, err = proc.communicate()
        with transaction(self.factory) as s:
            task = get_task(session=s, task_id=task_id)
            if task is not None and task.status not in ("succeeded", "failed"):
                tail = (err or b"").decode(errors="replace").strip().splitlines()[-3:]
                status = "succeeded" if proc.returncode == 0 else "failed"
                update_task(session=s, task_id=task_id, status=status, progress=1.0 if status == "succeeded" else None,
                            message=" | ".join(tail) or f"exit code {proc.returncode}")


def _task_args(params: dict) -> list[str]:
    out = []
    for k, v in params.items():
        if v is None or v == "":
            continue
        out += [f"--{k.replace('_', '-')}", str(v)]
    return out


# ------------------------------------------------------------------ fake
class FakeProvider(_PlanExports, FakeAnalysis):
    """A seeded in-memory city: a square grid, forecast runs, cameras, places, a backtest, accounts.

    Also a :class:`Recorder` (audit events and tasks are kept in lists), so unit tests and the
    browser tests' fixtures need no subprocess.

    Parameters
    ----------
    n_cells : int, default 400
        Cells of the grid (a square-ish block of 150 m cells near Vancouver).
    n_runs : int, default 3
        Forecast runs per period kind (week and shift).
    seed : int, default 0

    Examples
    --------
    >>> p = FakeProvider(n_cells=100)
    >>> len(p.forecast(int(p.forecast_runs()["id"].iloc[0])))
    100
    """

    CRS = "EPSG:32610"

    def __init__(self, n_cells: int = 400, n_runs: int = 3, seed: int = 0, accounts: dict | None = None) -> None:
        from werkzeug.security import generate_password_hash

        self.rng = np.random.default_rng(seed)
        self.cells = synthetic_cells(n_cells, seed=seed)
        self._runs = synthetic_runs(n_runs)
        self._forecasts = {int(r.id): synthetic_forecast(self.cells, seed=seed + int(r.id))
                           for r in self._runs.itertuples()}
        self._cameras = synthetic_cameras(self.cells, 8, seed=seed)
        self._places = synthetic_places(self.cells, 20, seed=seed)
        self._boundaries = {"districts": synthetic_districts(self.cells)}
        self.audit_log: list[dict] = []
        self.started: list[dict] = []
        self._tasks: list[dict] = []
        accounts = accounts or {}
        self._accounts = {u: Account(u, role, False, generate_password_hash(pw, method="pbkdf2:sha256:1000"))
                          for u, (pw, role) in accounts.items()}

    # reads
    def forecast_runs(self) -> pd.DataFrame:
        return self._runs.copy()

    def grid_crs(self, grid_id: int) -> str | None:
        return self.CRS

    def forecast(self, run_id: int) -> pd.DataFrame:
        if int(run_id) not in self._forecasts:
            raise DataError(f"no forecast run with id {run_id}")
        return self._forecasts[int(run_id)]

    def cell_history(self, run_id: int, cell_id: str, periods: int = 12) -> pd.DataFrame:
        run = self._runs[self._runs["id"] == int(run_id)].iloc[0]
        length = run["period_end"] - run["period_start"]
        starts = pd.DatetimeIndex([run["period_start"] - length * (periods - i) for i in range(periods)])
        seed = sum(map(ord, str(cell_id)))
        return pd.DataFrame({"period_start": starts,
                             "count": np.random.default_rng(seed).poisson(1.5, periods).astype(int)})

    def cameras(self) -> pd.DataFrame:
        return self._cameras.copy()

    def places(self) -> pd.DataFrame:
        return self._places.copy()

    def boundaries(self) -> dict[str, dict]:
        return self._boundaries

    def camera_priority(self, run_id: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        return rank_cameras(self.forecast(run_id), self._cameras)

    def backtests(self) -> list[Backtest]:
        return [Backtest(1, datetime(2024, 6, 1, tzinfo=UTC), "week", synthetic_metrics(), None, "analyst")]

    def model_versions(self) -> pd.DataFrame:
        return pd.DataFrame({
            "id": [2, 1], "name": ["lgbm", "naive"], "category": ["all", "all"], "period": ["week", "week"],
            "train_start": pd.to_datetime(["2022-01-03", "2022-01-03"], utc=True),
            "train_end": pd.to_datetime(["2024-05-27", "2024-05-27"], utc=True),
            "created_at": pd.to_datetime(["2024-06-01", "2024-06-01"], utc=True),
            "created_by": ["analyst", "analyst"]})

    def tasks(self) -> pd.DataFrame:
        return pd.DataFrame(self._tasks[::-1], columns=TASK_COLUMNS)

    def _plan(self, run_id, area, user=None):
        run = self._runs[self._runs["id"] == int(run_id)].iloc[0]
        return _plan_from_forecast(self.forecast(run_id), run, self._boundaries, area, self.display_timezone(), user)

    def get_account(self, username: str) -> Account | None:
        return self._accounts.get(username)

    def display_timezone(self) -> str:
        return "America/Vancouver"

    # writes (a fake recorder)
    def audit(self, username, action, target=None, details=None) -> None:
        self.audit_log.append({"at": datetime.now(UTC), "username": username, "action": action,
                               "target": target, "details": details})

    def authenticate(self, username: str, password: str) -> Account | None:
        from werkzeug.security import check_password_hash

        acc = self._accounts.get(username)
        if acc is None or acc.disabled or not check_password_hash(acc.password_hash, password or ""):
            return None
        return acc

    def start_task(self, kind: str, params: dict, username: str) -> int:
        if kind not in TASK_KINDS:
            raise InputError(f"kind must be one of {list(TASK_KINDS)}; got {kind!r}")
        task_id = len(self._tasks) + 1
        self._tasks.append({"id": task_id, "kind": kind, "status": "queued", "progress": 0.0, "message": None,
                            "created_by": username, "created_at": datetime.now(UTC)})
        self.started.append({"kind": kind, "params": params, "username": username})
        return task_id

    def disable(self, username: str) -> None:
        """Disable an account (for tests of revoked sessions)."""
        a = self._accounts[username]
        self._accounts[username] = Account(a.username, a.role, True, a.password_hash)


# ------------------------------------------------------------------ synthetic city
def synthetic_cells(n: int, *, seed: int = 0, cell_size: float = 150.0, crs: str = "EPSG:32610") -> pd.DataFrame:
    """A compact block of ``n`` square cells (ids ``"150m_col_row"``) with WGS84 polygons and centroids.

    Used by :class:`FakeProvider`, the browser-test fixture and the benchmark.
    """
    from pyproj import Transformer

    side = int(np.ceil(np.sqrt(n)))
    r, c = np.divmod(np.arange(n), side)
    col0, row0 = 3300, 36300  # near downtown Vancouver in UTM 10N at 150 m
    col, row = col0 + c, row0 + r
    x0, y0 = col * cell_size, row * cell_size
    to_ll = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    xs = np.stack([x0, x0 + cell_size, x0 + cell_size, x0, x0], axis=1)
    ys = np.stack([y0, y0, y0 + cell_size, y0 + cell_size, y0], axis=1)
    lon, lat = to_ll.transform(xs.ravel(), ys.ravel())
    lon, lat = lon.reshape(xs.shape), lat.reshape(ys.shape)
    clon, clat = to_ll.transform(x0 + cell_size / 2, y0 + cell_size / 2)
    wkt = ["POLYGON((" + ", ".join(f"{a:.7f} {b:.7f}" for a, b in zip(lo, la, strict=True)) + "))"
           for lo, la in zip(lon, lat, strict=True)]
    return pd.DataFrame({"cell_id": [f"{cell_size:g}m_{a}_{b}" for a, b in zip(col, row, strict=True)],
                         "row": row, "col": col, "centroid_lon": clon, "centroid_lat": clat,
                         "area_m2": cell_size ** 2, "polygon_wkt": wkt})


_REASONS = [
    "{n} incidents in this cell in the last 4 weeks, {k}x the city average",
    "a bar or nightclub within 100 m",
    "high evening footfall at the nearest counting camera",
    "repeat burglaries nearby in the last 14 days (near-repeat effect)",
    "Friday and Saturday nights are the busiest periods here",
    "close to a rail station",
]


def synthetic_forecast(cells: pd.DataFrame, *, seed: int = 0, top_reasons: int = 200) -> pd.DataFrame:
    """A plausible forecast over ``cells``: a few hotspots plus noise, reasons for the top cells."""
    rng = np.random.default_rng(seed)
    c = cells["col"].to_numpy(float)
    r = cells["row"].to_numpy(float)
    lam = np.full(len(cells), 0.02)
    for _ in range(6):
        cc, rr = rng.choice(c), rng.choice(r)
        lam += rng.uniform(0.3, 2.0) * np.exp(-((c - cc) ** 2 + (r - rr) ** 2) / (2 * rng.uniform(2, 6) ** 2))
    lam *= rng.gamma(4, 0.25, len(cells))
    order = np.argsort(-lam, kind="stable")
    rank = np.empty(len(lam), dtype=np.int64)
    rank[order] = np.arange(1, len(lam) + 1)
    reasons = [None] * len(lam)
    for i in order[:top_reasons]:
        picks = rng.choice(len(_REASONS) - 1, 2, replace=False) + 1
        reasons[i] = [_REASONS[0].format(n=int(lam[i] * 4 + 1), k=round(1 + lam[i] * 3, 1))] + \
            [_REASONS[j] for j in picks]
    out = pd.DataFrame({"cell_id": cells["cell_id"].to_numpy(), "expected_count": lam,
                        "probability": 1 - np.exp(-lam), "score": lam, "rank": rank,
                        "reasons": [x if x is not None else [] for x in reasons]})
    out = out.join(cells.set_index("cell_id")[["centroid_lon", "centroid_lat", "row", "col", "area_m2", "polygon_wkt"]],
                   on="cell_id")
    return out.sort_values("rank").reset_index(drop=True).loc[:, FORECAST_VIEW_COLUMNS]


def synthetic_runs(n: int, start: str = "2024-06-03") -> pd.DataFrame:
    """``n`` weekly runs and ``n`` shift runs (8-hour shifts from 06:00 local) from ``start``."""
    t0 = pd.Timestamp(start, tz="America/Vancouver")
    rows = []
    for i in range(n):
        ws = t0 + pd.Timedelta(weeks=i)
        rows.append(("week", ws, ws + pd.Timedelta(weeks=1)))
    for i in range(n):
        ss = t0 + pd.Timedelta(hours=6 + 8 * i)
        rows.append(("shift", ss, ss + pd.Timedelta(hours=8)))
    return pd.DataFrame({
        "id": np.arange(1, len(rows) + 1), "grid_id": 1, "model": "lgbm", "category": "all",
        "period": [p for p, _, _ in rows],
        "period_start": pd.DatetimeIndex([s for _, s, _ in rows]).tz_convert("UTC"),
        "period_end": pd.DatetimeIndex([e for _, _, e in rows]).tz_convert("UTC"),
        "issued_at": pd.Timestamp("2024-06-02", tz="UTC"),
    }).sort_values(["period_start", "id"], ascending=[False, False]).reset_index(drop=True)


def camera_view_wkt(lon: float, lat: float, heading_deg: float, fov_deg: float = 70.0,
                    range_m: float = 120.0) -> str:
    """A camera's view sector as a WGS84 polygon (small-area approximation)."""
    angles = np.radians(heading_deg + np.linspace(-fov_deg / 2, fov_deg / 2, 9))
    dlat = range_m / 111_320.0
    dlon = range_m / (111_320.0 * np.cos(np.radians(lat)))
    xs = np.concatenate([[lon], lon + dlon * np.sin(angles), [lon]])
    ys = np.concatenate([[lat], lat + dlat * np.cos(angles), [lat]])
    return "POLYGON((" + ", ".join(f"{x:.7f} {y:.7f}" for x, y in zip(xs, ys, strict=True)) + "))"


def synthetic_cameras(cells: pd.DataFrame, n: int, *, seed: int = 0) -> pd.DataFrame:
    """``n`` CCTV cameras at random cell centroids with view sectors."""
    rng = np.random.default_rng(seed + 101)
    pick = rng.choice(len(cells), size=min(n, len(cells)), replace=False)
    lon = cells["centroid_lon"].to_numpy()[pick]
    lat = cells["centroid_lat"].to_numpy()[pick]
    heading = rng.uniform(0, 360, len(pick))
    return pd.DataFrame({
        "camera_id": [f"CAM-{i + 1:03d}" for i in range(len(pick))],
        "name": [f"{s} St camera" for s in rng.choice(["Granville", "Main", "Hastings", "Robson", "Davie",
                                                        "Pender", "Burrard", "Cambie"], len(pick))],
        "kind": "cctv", "status": "active", "longitude": lon, "latitude": lat,
        "view_wkt": [camera_view_wkt(a, b, h) for a, b, h in zip(lon, lat, heading, strict=True)],
    })


def synthetic_places(cells: pd.DataFrame, n: int, *, seed: int = 0) -> pd.DataFrame:
    """``n`` places of interest at random cell centroids."""
    rng = np.random.default_rng(seed + 202)
    pick = rng.choice(len(cells), size=min(n, len(cells)), replace=False)
    cats = rng.choice(["bar", "rail_station", "school", "atm", "convenience_store"], len(pick))
    return pd.DataFrame({"category": cats, "name": [f"{c.replace('_', ' ')} {i}" for i, c in enumerate(cats)],
                         "longitude": cells["centroid_lon"].to_numpy()[pick],
                         "latitude": cells["centroid_lat"].to_numpy()[pick]})


def synthetic_districts(cells: pd.DataFrame) -> dict:
    """Two districts (west and east halves of the cells' extent) as a GeoJSON FeatureCollection."""
    w, e = float(cells["centroid_lon"].min()) - 0.002, float(cells["centroid_lon"].max()) + 0.002
    s, n = float(cells["centroid_lat"].min()) - 0.002, float(cells["centroid_lat"].max()) + 0.002
    mid = (w + e) / 2

    def box(a, b):
        return {"type": "Polygon", "coordinates": [[[a, s], [b, s], [b, n], [a, n], [a, s]]]}

    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "West"}, "geometry": box(w, mid)},
        {"type": "Feature", "properties": {"name": "East"}, "geometry": box(mid, e)}]}


def synthetic_metrics() -> dict:
    """A ``metrics.json`` summary of three models in the shape :func:`forecasting.evaluate.summarise` writes."""
    shares = [0.005, 0.01, 0.02, 0.05]
    base = {"lgbm": 1.0, "kde": 0.85, "naive": 0.7, "hindsight": 2.2}
    models = {}
    for m, f in base.items():
        row = {"n_incidents": 1000.0, "poisson_deviance": 0.3 / f, "brier": 0.05 / f}
        for s in shares:
            key = f"{s * 100:g}%"
            hit = min(1.0, f * 0.9 * s ** 0.55)
            row[f"hit_rate@{key}"] = hit
            row[f"pai@{key}"] = hit / s
            row[f"pei@{key}"] = hit / min(1.0, 2.2 * 0.9 * s ** 0.55)
            row[f"pei_star@{key}"] = min(1.0, f / 2.2)
        models[m] = row
    return {"area_shares": shares, "references": ["hindsight"], "cell_size_m": 150.0, "n_cells": 400,
            "n_periods": 26, "period": "week", "targets": {"all": {"models": models, "bootstrap": {}}}}


def ensure_utc(ts) -> pd.Timestamp:
    """A UTC timestamp (naive values are taken as UTC)."""
    t = pd.Timestamp(ts)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


__all__ = [
    "Account", "Backtest", "DashboardProvider", "FakeProvider", "Recorder", "StoreProvider", "StoreRecorder",
    "area_names", "rank_cameras", "render_plan", "synthetic_cells", "synthetic_forecast",
]
