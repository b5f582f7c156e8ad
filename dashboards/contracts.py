"""What the dashboard's pages read and write: frame contracts and the two provider protocols.

Pages never touch the database: they call a :class:`DashboardProvider` (implemented by
:class:`dashboards.store_provider.StoreProvider`, reading through the store and asking
:mod:`forecasting.jobs` for every product) and write through a :class:`Recorder`
(:class:`dashboards.tasks.StoreRecorder`). Tests pass an in-memory fake (``tests/support``).

Frame contracts (every provider returns these columns)
-----------------------------------------------------
runs
    ``id, grid_id, model, category, period, period_start, period_end, issued_at`` (UTC), newest
    period first.
forecast
    ``cell_id, expected_count, probability, score, rank, reasons (list of str), centroid_lon,
    centroid_lat, row, col, area_m2, polygon_wkt`` (WGS84), best rank first, and ``label`` (the
    cell's name people recognise: a block address, street or nearby place; None when unknown).
streets
    ``name, wkt, simulated``: named street lines (WGS84).
history
    ``period_start, count``: incidents in the cell in the periods before the forecast period.
cameras
    ``camera_id, name, kind, status, longitude, latitude, view_wkt`` (WGS84 view polygon).
places
    ``category, name, longitude, latitude``.
priority
    ``rank, camera_id, name, expected_in_view, marginal, n_cells, why``: ``marginal`` (risk not
    seen by higher-ranked cameras) sets the order, ``expected_in_view`` is the camera on its own.
gaps
    ``cell_id, risk, risk_rank, reasons``: high-risk cells no camera sees.
record
    ``run_id, shift, period_start, incidents, priority, busiest, static``: share of each past
    shift's incidents seen by the priority feeds, the k busiest and the static rule.
watch
    ``hour`` (local start, ISO), then the ``priority`` columns but ``n_cells``: the k feeds of each hour.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

import pandas as pd

from forecasting.errors import InputError

RUN_COLUMNS = ["id", "grid_id", "model", "category", "period", "period_start", "period_end", "issued_at"]
FORECAST_VIEW_COLUMNS = ["cell_id", "expected_count", "probability", "score", "rank", "reasons",
                         "centroid_lon", "centroid_lat", "row", "col", "area_m2", "polygon_wkt", "label"]
CAMERA_COLUMNS = ["camera_id", "name", "kind", "status", "longitude", "latitude", "view_wkt"]
PLACE_COLUMNS = ["category", "name", "longitude", "latitude"]
PRIORITY_COLUMNS = ["rank", "camera_id", "name", "expected_in_view", "marginal", "n_cells", "why"]
RECORD_COLUMNS = ["run_id", "shift", "period_start", "incidents", "priority", "busiest", "static"]
WATCH_COLUMNS = ["hour", "rank", "camera_id", "name", "marginal", "expected_in_view", "why"]
GAP_COLUMNS = ["cell_id", "risk", "risk_rank", "reasons"]
TASK_KINDS = ("train", "backtest")
TASK_COLUMNS = ["id", "kind", "status", "progress", "message", "created_by", "created_at"]
PLAN_COLUMNS = ["hotspot_id", "area", "rank", "expected", "visits", "reasons"]


@dataclass(frozen=True)
class Account:
    """What the dashboard knows of a user: never more than name, role, state and hash."""

    username: str
    role: str
    disabled: bool
    password_hash: str = field(repr=False, default="")
    generation: int = 0  # session generation: a cookie issued under another one is refused


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
        """Projected CRS a square grid is drawn in (e.g. ``"EPSG:32610"``), or None for an unknown grid.

        The stored CRS, else the UTM zone of the grid's cells (the job decides; the pages never guess).
        """

    def forecast(self, run_id: int) -> pd.DataFrame:
        """Per-cell forecast of a run (``forecast`` contract)."""

    def forecast_cell(self, run_id: int, cell_id: str) -> pd.DataFrame:
        """One cell of a run (``forecast`` contract, one row or none): the panel of a large run reads no more."""

    def forecast_extent(self, run_id: int) -> dict:
        """``n_cells, col_min, col_max, row_min, row_max`` of a run's cells (ranges None for H3 grids)."""

    def forecast_window(self, run_id: int, col_min: int, col_max: int, row_min: int, row_max: int) -> pd.DataFrame:
        """The run's cells inside a column / row box (``cell_id, expected_count, probability, rank``, centroid,
        ``row, col, area_m2, label``): what a zoomed-in map of a large grid draws."""

    def forecast_values(self, run_id: int) -> pd.DataFrame:
        """Every cell of the run as numbers (``col, row, expected_count, probability``), for far-out block views."""

    def forecast_frame_cells(self, run_id: int) -> pd.DataFrame:
        """Some cells of the run's grid (``row, col, centroid_lon, centroid_lat, area_m2``) to fit the map frame."""

    def cell_history(self, run_id: int, cell_id: str, periods: int = 12) -> pd.DataFrame:
        """Recent incident counts of one cell (``history`` contract)."""

    def cameras(self) -> pd.DataFrame:
        """Cameras with their views (``cameras`` contract)."""

    def places(self) -> pd.DataFrame:
        """Places of interest (``places`` contract)."""

    def boundaries(self) -> dict[str, dict]:
        """Boundary layers: name -> GeoJSON FeatureCollection in WGS84."""

    def streets(self) -> pd.DataFrame:
        """Named street lines (``streets`` contract); empty when none are loaded."""

    def simulated(self) -> bool:
        """Whether the forecasts describe the simulated city (every output then says so)."""

    def camera_priority(self, run_id: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Cameras ranked for a run's period, and the coverage gaps (``priority``, ``gaps``)."""

    def watch_list(self, run_id: int, k: int = 4) -> pd.DataFrame:
        """Feeds to watch hour by hour through a shift (``watch`` contract; empty without hourly forecasts)."""

    def choice_record(self, k: int = 4) -> pd.DataFrame:
        """The camera choice on the last 30 shifts with outcomes (``record`` contract)."""

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

    def model_card(self, version_id: int) -> str:
        """The model card of a stored model version as escaped Markdown (as ``crimecast report model-card``)."""

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

    def end_sessions(self, username: str) -> None:
        """End every open session of ``username`` (sign-out)."""


def check_format(fmt: str, formats) -> str:
    """``fmt`` when it is one of ``formats``, else :class:`InputError`."""
    if fmt not in formats:
        raise InputError(f"fmt must be one of {list(formats)}; got {fmt!r}")
    return fmt


def area_names(boundaries: dict[str, dict]) -> list[str]:
    """``layer/name`` of every boundary feature (the areas a patrol plan can be cut to)."""
    out = []
    for layer, gj in boundaries.items():
        for f in gj.get("features", []):
            props = f.get("properties") or {}
            name = next((props[c] for c in NAME_KEYS if c in props), None)
            if name is not None:
                out.append(f"{layer}/{name}")
    return out


#: Feature properties that name a boundary area, in order of preference.
NAME_KEYS = ("name", "NAME", "Name", "district", "beat", "neighbourhood", "id")
