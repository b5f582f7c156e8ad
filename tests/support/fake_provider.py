"""An in-memory dashboard provider (and recorder) over the synthetic city, for callback tests without a database.

Its rankings and plans come from the pure functions of :mod:`forecasting.priority` and
:mod:`forecasting.patrol` (test support may use them; the dashboard itself asks the jobs).
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from dashboards.analysis_data import CACHE_SIZE, PAGE_PERMUTATIONS, window_options
from dashboards.contracts import (
    GAP_COLUMNS,
    PRIORITY_COLUMNS,
    RECORD_COLUMNS,
    TASK_COLUMNS,
    TASK_KINDS,
    WATCH_COLUMNS,
    Account,
    Backtest,
    check_format,
)
from dashboards.figure_cache import FigureCache
from dashboards.store_provider import area_frame, plan_stem, plan_table
from forecasting.errors import DataError, InputError
from tests.support.synthetic import (
    synthetic_cameras,
    synthetic_cells,
    synthetic_districts,
    synthetic_events,
    synthetic_forecast,
    synthetic_metrics,
    synthetic_places,
    synthetic_runs,
    synthetic_streets,
)


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
                        tz: str, user: str | None = None):
    """Build a :class:`forecasting.patrol.PatrolPlan` of one run, limited to one area when given."""
    import geopandas as gpd

    from forecasting.patrol import build_patrol_plan

    cells = gpd.GeoDataFrame(forecast.drop(columns=["polygon_wkt"]),
                             geometry=gpd.GeoSeries.from_wkt(forecast["polygon_wkt"].to_numpy()), crs="EPSG:4326")
    areas_frame = area_frame(areas or {}, area) if area else None
    start = pd.Timestamp(run["period_start"]).tz_convert(tz).tz_localize(None)
    end = pd.Timestamp(run["period_end"]).tz_convert(tz).tz_localize(None)
    meta = {"forecast_run_ids": [int(run["id"])], "model": str(run["model"]), "timezone": tz,
            "period_start": start.isoformat(), "period_end": end.isoformat(), "shift": f"{start:%Y-%m-%d %H:%M}",
            "generated_at": datetime.now(UTC).isoformat(), "generated_by": user or ""}
    plan = build_patrol_plan(cells, start=start, end=end, areas=areas_frame, meta=meta)
    return plan


class FakeAnalysis:
    """Analysis reads of the fake provider: the engine (:func:`forecasting.analysis.analyse`) on a seeded
    synthetic city on ``self.cells`` with a planted growing hot spot and planted near repeats."""

    def _analysis_events(self) -> pd.DataFrame:
        if getattr(self, "_analysis_ev", None) is None:
            self._analysis_ev = synthetic_events(self.cells, seed=0)
        return self._analysis_ev

    def analysis_options(self) -> dict:
        return window_options(self._analysis_events())

    def analysis(self, kind: str, category: str, start: str | None, end: str | None):
        from forecasting.analysis import analyse

        if getattr(self, "_analysis", None) is None:
            self._analysis = FigureCache(size=CACHE_SIZE, ttl=float("inf"))
        return self._analysis.get_or((kind, category, start, end), lambda: analyse(
            self._analysis_events(), kind, category=category, start=start, end=end, permutations=PAGE_PERMUTATIONS))


class FakeProvider(FakeAnalysis):
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
        self._streets = synthetic_streets(self.cells)
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

    def forecast_cell(self, run_id: int, cell_id: str) -> pd.DataFrame:
        fc = self.forecast(run_id)
        return fc[fc["cell_id"] == str(cell_id)].copy()

    def forecast_extent(self, run_id: int) -> dict:
        fc = self.forecast(run_id)
        return {"n_cells": len(fc), "col_min": int(fc["col"].min()), "col_max": int(fc["col"].max()),
                "row_min": int(fc["row"].min()), "row_max": int(fc["row"].max())}

    def forecast_window(self, run_id: int, col_min: int, col_max: int, row_min: int, row_max: int) -> pd.DataFrame:
        fc = self.forecast(run_id)
        return fc[fc["col"].between(col_min, col_max) & fc["row"].between(row_min, row_max)].copy()

    def forecast_values(self, run_id: int) -> pd.DataFrame:
        return self.forecast(run_id).loc[:, ["col", "row", "expected_count", "probability"]]

    def forecast_frame_cells(self, run_id: int) -> pd.DataFrame:
        return self.forecast(run_id).head(256)

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

    def streets(self) -> pd.DataFrame:
        return self._streets.copy()

    def simulated(self) -> bool:
        return True

    def camera_priority(self, run_id: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        return rank_cameras(self.forecast(run_id), self._cameras)

    def choice_record(self, k: int = 4) -> pd.DataFrame:
        """A seeded record of 30 past shifts."""
        rng = np.random.default_rng(11)
        n = rng.integers(0, 9, 30)
        shares = {m: np.where(n > 0, rng.binomial(n, p) / np.maximum(n, 1), np.nan)
                  for m, p in (("priority", 0.4), ("busiest", 0.25), ("static", 0.3))}
        starts = pd.date_range("2024-05-23 06:00", periods=30, freq="8h")
        return pd.DataFrame({"run_id": np.arange(100, 130), "shift": [f"{t:%Y-%m-%d}/{(t.hour - 6) // 8}"
                                                                       for t in starts],
                             "period_start": [t.isoformat() for t in starts], "incidents": n, **shares},
                            columns=RECORD_COLUMNS)

    def watch_list(self, run_id: int, k: int = 4) -> pd.DataFrame:
        """No hourly forecasts in the fake city."""
        return pd.DataFrame(columns=WATCH_COLUMNS)

    def backtests(self) -> list[Backtest]:
        return [Backtest(1, datetime(2024, 6, 1, tzinfo=UTC), "week", synthetic_metrics(), None, "analyst")]

    def model_versions(self) -> pd.DataFrame:
        return pd.DataFrame({
            "id": [2, 1], "name": ["lgbm", "naive"], "category": ["all", "all"], "period": ["week", "week"],
            "train_start": pd.to_datetime(["2022-01-03", "2022-01-03"], utc=True),
            "train_end": pd.to_datetime(["2024-05-27", "2024-05-27"], utc=True),
            "created_at": pd.to_datetime(["2024-06-01", "2024-06-01"], utc=True),
            "created_by": ["analyst", "analyst"]})

    def model_card(self, version_id: int) -> str:
        """The card of one of the fake versions, through the same renderer as the store's engine."""
        from forecasting.reports import model_card, to_markdown

        versions = self.model_versions()
        row = versions.loc[versions["id"] == int(version_id)]
        if row.empty:
            return f"version must be the id of a stored model version; got {version_id}"
        v = {k: (None if pd.isna(x) else x) for k, x in row.iloc[0].to_dict().items()}
        bt = next((b for b in self.backtests() if b.period == v.get("period")), None)
        backtest = None if bt is None else {"id": bt.id, "start": None, "end": None, "metrics": bt.metrics}
        return to_markdown(model_card(v, backtest, {"audit": 730}))

    def tasks(self) -> pd.DataFrame:
        return pd.DataFrame(self._tasks[::-1], columns=TASK_COLUMNS)

    def export_formats(self) -> list[str]:
        from forecasting.export import EXPORT_FORMATS

        return list(EXPORT_FORMATS)

    def patrol_plan(self, run_id: int, area: str | None) -> pd.DataFrame:
        return plan_table(self._plan(run_id, area).hotspots)

    def export_plan(self, run_id: int, area: str | None, fmt: str, user: str | None = None) -> tuple[str, bytes]:
        """The plan's bytes; audited here, as the export job does (not by the page)."""
        import tempfile
        from pathlib import Path

        from forecasting.export import EXPORT_FORMATS, write_plan

        check_format(fmt, self.export_formats())
        name = f"{plan_stem(run_id, area)}{EXPORT_FORMATS[fmt]}"
        with tempfile.TemporaryDirectory(prefix="crimecast-export-") as tmp:
            content = Path(write_plan(self._plan(run_id, area, user), Path(tmp) / name, fmt)).read_bytes()
        self.audit(user, "export", target=f"patrol plan run {int(run_id)} ({fmt})",
                   details={"format": fmt, "area": area, "file": name, "bytes": len(content),
                            "forecast_run_ids": [int(run_id)]})
        return name, content

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

    def disable(self, username: str, disabled: bool = True) -> None:
        """Disable (or re-enable) an account, ending its sessions (for tests of revoked sessions)."""
        a = self._accounts[username]
        self._accounts[username] = Account(a.username, a.role, disabled, a.password_hash, a.generation + 1)

    def end_sessions(self, username: str) -> None:
        a = self._accounts[username]
        self._accounts[username] = Account(a.username, a.role, a.disabled, a.password_hash, a.generation + 1)
