"""Jobs for camera monitoring priority, camera siting, patrol plans and their exports.

A composition module: loads stored shift forecasts, cameras and incidents through the store,
calls the pure functions of :mod:`forecasting.priority`, :mod:`forecasting.patrol` and
:mod:`forecasting.export`, and records every export in the audit log. Each job takes a session
factory and owns its transactions.

Shift convention: ``ForecastRun.period_start`` is the UTC instant of the shift's local start;
shifts are read in the data's time zone (the incidents' most frequent ``tz``, else the
``timezone`` setting).
"""

from __future__ import annotations

import getpass
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session, sessionmaker

from forecasting import export as ex
from forecasting import patrol as pt
from forecasting import priority as pr
from forecasting.config import Settings
from forecasting.errors import ConfigError, DataError, InputError
from forecasting.jobs.governance import store_plan_visits
from forecasting.periods import Periods, PeriodSpec
from forecasting.schema import ALL_CATEGORIES
from forecasting.store import forecasts as fc
from forecasting.store import plans
from forecasting.store.governance import record_audit
from forecasting.store.repository import load_incidents
from forecasting.store.session import transaction

#: Camera kinds an operator can watch by default.
WATCHABLE_KINDS = ("cctv",)

NO_FORECAST = "no shift forecast stored; run `crimecast forecast --period shift` first"


# ------------------------------------------------------------------------ shift forecast
@dataclass
class ShiftForecast:
    """The stored forecast of one shift, ready for the pure functions.

    Attributes
    ----------
    label : str
        ``DATE/SHIFT``, e.g. ``"2024-03-04/2"``.
    start, end : Timestamp
        Naive local start and end.
    timezone : str
    cells : GeoDataFrame
        ``cell_id, row, col, expected_count, reasons, centroid_lon, centroid_lat, risk`` and cell
        polygons (EPSG:4326). ``expected_count`` is the ``"all"`` forecast (else the sum of the
        categories).
    risk : DataFrame
        :func:`forecasting.priority.cell_risk` frame indexed by ``cell_id``.
    meta : dict
        Provenance (shift, period, model, model version, forecast run ids, weights).
    periods : Periods or None
        The shifts in the layout the forecast was stored with (``None`` for a run of another kind).
    """

    label: str
    start: pd.Timestamp
    end: pd.Timestamp
    timezone: str
    cells: object
    risk: pd.DataFrame
    meta: dict = field(default_factory=dict)
    periods: Periods | None = None

    @property
    def start_utc(self) -> pd.Timestamp:
        return _to_utc(self.start, self.timezone)

    @property
    def end_utc(self) -> pd.Timestamp:
        return _to_utc(self.end, self.timezone)

    @property
    def reasons(self) -> pd.Series:
        return pd.Series(self.cells["reasons"].to_numpy(), index=self.cells["cell_id"].to_numpy())


def _to_utc(local: pd.Timestamp, tz: str) -> pd.Timestamp:
    return pd.Timestamp(local).tz_localize(tz, ambiguous=True, nonexistent="shift_forward").tz_convert("UTC")


def _timezone(s: Session, settings: Settings) -> str:
    return plans.data_timezone(session=s) or settings.timezone


def load_shift_forecast(
    factory: sessionmaker[Session], settings: Settings, *, shift: str | None = None, model: str | None = None,
    weights: Mapping[str, float] | None = None, periods: Periods | None = None, run_id: int | None = None,
) -> ShiftForecast:
    """Load the stored forecast of one shift (default: the first shift after the latest data).

    When no forecast is stored for the default shift, the newest stored shift forecast is used.
    With several models stored for the shift, ``model`` picks one (default: the most recently
    issued); one run per category (the latest issued) is combined with severity ``weights``.

    ``run_id`` (what the dashboard holds) selects that run's period and model instead of
    ``shift`` and ``model``; the run's period may be of any kind (a week, a day), so the
    dashboard and the CLI rank cameras for a stored run with the same code.

    Shifts are read in the layout stored with the forecasts (``PeriodSpec`` in the model
    version's params; the default layout for runs stored before layouts were): that of ``run_id``,
    else of the newest issued shift forecast. ``periods``, when given, must match a stored layout.

    Raises
    ------
    DataError
        When no shift forecast is stored, or none for the requested ``shift`` or ``run_id``.
    ConfigError
        When ``periods`` is not the layout the shift forecasts were stored with.
    """
    with transaction(factory) as s:
        tz = _timezone(s, settings)
        if run_id is not None:
            runs, want, model, shifts = _runs_like(s, int(run_id), tz, Periods("shift"))
            if shifts is not None:
                runs, periods = _runs_of_layout(s, runs, periods, run_id=int(run_id))
            else:
                periods = None
            shift = None
        else:
            runs = fc.forecast_runs(session=s, period="shift")
            if runs.empty:
                raise DataError(NO_FORECAST)
            runs, periods = _runs_of_layout(s, runs, periods)
            runs = _local_starts(runs, tz)
            want = _wanted_shift(s, runs, tz, shift, periods)
        match = _runs_of_start(runs, want, shift=shift, model=model, run_id=run_id, periods=periods, tz=tz)
        frames = []
        for run in match.itertuples(index=False):  # one run per category (a handful)
            f = fc.forecast_frame(session=s, run_id=int(run.id), with_cells=True)
            f["category"] = run.category
            frames.append(f)
        mv = plans.model_versions(session=s, ids=match["model_version_id"].dropna().astype(int).tolist())
    long = pd.concat(frames, ignore_index=True)
    label = _label(want, periods)
    if long.empty:
        raise DataError(f"the forecast of shift {label} holds no cell; re-issue it")
    cells, risk = _combined_cells(long, list(match["category"]), weights)
    period_end = match["period_end"].iloc[0]
    if pd.notna(period_end):
        end = period_end.tz_convert(tz).tz_localize(None)
    else:
        end = want + periods.length
    version = ",".join(str(int(v)) for v in match["model_version_id"].dropna().unique()) or None
    meta = {
        "shift": label, "period": str(match["period"].iloc[0]), "period_start": want.isoformat(),
        "period_end": end.isoformat(), "timezone": tz, "model": str(match["model"].iloc[0]),
        "model_version": version,
        "model_version_names": mv["name"].astype(str).tolist() if len(mv) else [],
        "forecast_run_ids": [int(i) for i in match["id"]], "categories": list(match["category"]),
        "issued_at": str(match["issued_at"].max()), "weights": dict(weights or {}),
    }
    if periods is not None:
        meta["period_spec"] = str(periods.spec)
    return ShiftForecast(meta["shift"], want, end, tz, cells, risk, meta, periods)


def stored_shifts(factory: sessionmaker[Session], settings: Settings) -> Periods:
    """The shifts of the newest issued shift forecast (the settings' layout when none is stored)."""
    with transaction(factory) as s:
        runs = fc.forecast_runs(session=s, period="shift")
        if len(runs):
            return _runs_of_layout(s, runs, None)[1]
    return PeriodSpec("shift", settings.shift_start, settings.shift_hours).periods()


def _runs_of_layout(s: Session, runs: pd.DataFrame, periods: Periods | None,
                    run_id: int | None = None) -> tuple[pd.DataFrame, Periods]:
    """The shift runs stored in one layout, and its shifts.

    The layout is ``periods``' when given (it must be stored: that of ``run_id`` when given, else
    of some run), else that of ``run_id``, else that of the newest issued run.
    """
    stored = fc.run_period_specs(session=s, run_ids=runs["id"].tolist())
    layout = pd.Series([str(PeriodSpec.from_dict(stored.get(int(i)), "shift")) for i in runs["id"]],
                       index=runs.index)
    ref = runs.loc[runs["id"] == run_id] if run_id is not None else runs.sort_values("issued_at").tail(1)
    have = str(layout.loc[ref.index[0]])
    if periods is not None:
        asked = str(periods.spec)
        if asked != have and (run_id is not None or not (layout == asked).any()):
            a, h = PeriodSpec.parse(asked), PeriodSpec.parse(have)
            raise ConfigError(
                f"shift_start={a.shift_start}, shift_hours={a.shift_hours} do not match the layout the shift "
                f"forecast was stored with (shift_start={h.shift_start}, shift_hours={h.shift_hours}); omit "
                "--shift-start/--shift-hours to use the stored layout, or re-issue the forecast with that "
                "layout in the settings (CRIMECAST_SHIFT_START, CRIMECAST_SHIFT_HOURS)")
        have = asked
    return runs.loc[layout == have], PeriodSpec.parse(have).periods()


def _local_starts(runs: pd.DataFrame, tz: str) -> pd.DataFrame:
    """``runs`` with ``local_start``: each run's period start as naive local time of ``tz``."""
    return runs.assign(local_start=runs["period_start"].dt.tz_convert(tz).dt.tz_localize(None))


def _runs_like(s: Session, run_id: int, tz: str, periods: Periods):
    """The stored runs of the same period kind and grid as ``run_id``, its local start, model and periods.

    The periods are ``None`` when the run is not of shifts (a week, a day): labels then name dates.
    """
    runs = fc.forecast_runs(session=s)
    hit = runs.loc[runs["id"] == run_id]
    if hit.empty:
        raise DataError(f"run_id must be a stored forecast run; got {run_id!r}")
    r = hit.iloc[0]
    runs = _local_starts(runs.loc[(runs["period"] == r["period"]) & (runs["grid_id"] == r["grid_id"])], tz)
    want = pd.Timestamp(r["period_start"]).tz_convert(tz).tz_localize(None)
    return runs, want, str(r["model"]), periods if r["period"] == "shift" else None


def _wanted_shift(s: Session, runs: pd.DataFrame, tz: str, shift: str | None, periods: Periods) -> pd.Timestamp:
    """The local start of ``shift``; by default the shift after the latest data, else the newest stored."""
    if shift is not None:
        return periods.start([pt.parse_shift(shift, periods)])[0]
    latest = plans.latest_data_time(session=s)
    want = None
    if latest is not None:
        local = latest.tz_convert(tz).tz_localize(None)
        want = periods.start([periods.index([local])[0] + 1])[0]
    if want is None or not (runs["local_start"] == want).any():
        want = runs["local_start"].max()
    return want


def _runs_of_start(runs: pd.DataFrame, want: pd.Timestamp, *, shift: str | None, model: str | None,
                   run_id: int | None, periods: Periods | None, tz: str) -> pd.DataFrame:
    """One run per category starting at ``want``: of ``model`` (default the latest issued), the latest issued.

    A run asked for by id wins over later runs of its category; all must share one grid.
    """
    match = runs.loc[runs["local_start"] == want]
    if match.empty:
        have = ", ".join(pt.shift_label(i, periods) for i in
                         periods.index(runs["local_start"].drop_duplicates().head(3)))
        raise DataError(f"no shift forecast stored for shift {shift} (starting {want} {tz}); stored "
                        f"shifts include {have}; run `crimecast forecast --period shift` for that shift first")
    if model is not None:
        if not (match["model"] == model).any():
            raise ConfigError(f"model must be one of {sorted(match['model'].unique())} for this shift; "
                              f"got {model!r}")
        match = match.loc[match["model"] == model]
    else:
        match = match.loc[match["model"] == match.sort_values("issued_at")["model"].iloc[-1]]
    match = match.assign(_chosen=match["id"] == (-1 if run_id is None else int(run_id)))
    match = match.sort_values(["_chosen", "issued_at"]).drop_duplicates("category", keep="last")
    if match["grid_id"].nunique() > 1:
        raise DataError(f"the shift's forecasts use different grids {sorted(match['grid_id'].unique())}; "
                        "re-issue them on one grid")
    return match


def _combined_cells(long: pd.DataFrame, cats: list[str], weights: Mapping[str, float] | None):
    """Cells of the base category (``all`` when stored) with the severity-weighted ``risk``, and the risk table."""
    risk = pr.cell_risk(long, weights)
    base = ALL_CATEGORIES if ALL_CATEGORIES in cats else cats[0]
    cells = long.loc[long["category"] == base].drop(columns="category").drop_duplicates("cell_id")
    if base != ALL_CATEGORIES:
        cells["expected_count"] = risk[[c for c in cats]].sum(axis=1).reindex(cells["cell_id"]).to_numpy()
    cells["risk"] = risk["risk"].reindex(cells["cell_id"].astype(str)).fillna(0.0).to_numpy()
    return _geo(cells), risk


def _label(start: pd.Timestamp, periods: Periods | None) -> str:
    """``DATE/SHIFT`` of a shift; the local start (``YYYY-MM-DD HH:MM``) of a period of another kind."""
    if periods is None:
        return f"{start:%Y-%m-%d %H:%M}"
    return pt.shift_label(int(periods.index([start])[0]), periods)


def _geo(frame: pd.DataFrame):
    import geopandas as gpd
    import shapely

    geom = shapely.from_wkt(frame["polygon_wkt"].to_numpy(dtype=object))
    out = gpd.GeoDataFrame(frame.drop(columns="polygon_wkt").reset_index(drop=True), geometry=geom,
                           crs="EPSG:4326")
    out["cell_id"] = out["cell_id"].astype(str)
    return out


def _views(cams: pd.DataFrame):
    """Camera views (WGS84); a camera stored without a view polygon sees :data:`priority.VIEW_RADIUS_M` around it."""
    import shapely

    wkt = cams["view_wkt"].where(cams["view_wkt"].notna() & (cams["view_wkt"].astype(str) != ""), None)
    geom = shapely.from_wkt(wkt.to_numpy(dtype=object), on_invalid="warn")
    sites = pd.DataFrame({"camera_id": cams["camera_key"].to_numpy(), "name": cams["name"].to_numpy(),
                          "kind": cams["kind"].to_numpy(), "pk": cams["pk"].to_numpy(),
                          "longitude": cams["longitude"].to_numpy(), "latitude": cams["latitude"].to_numpy(),
                          "geometry": geom})
    located = sites["longitude"].notna() & sites["latitude"].notna()
    has_view = ~(shapely.is_missing(geom) | shapely.is_empty(geom))
    return pr.site_views(sites.loc[located | has_view].reset_index(drop=True))


def _cameras(factory, at: pd.Timestamp, kinds: Sequence[str] | None):
    with transaction(factory) as s:
        cams = plans.active_cameras(session=s, at=at.to_pydatetime(), kinds=kinds)
    views = _views(cams)
    if views.empty:
        what = f" of kind {list(kinds)}" if kinds else ""
        raise DataError(f"no active camera{what} with a view polygon at {at}; load a camera registry "
                        "(`crimecast ingest cameras`) or run `crimecast simulate` first")
    return views


# ---------------------------------------------------------------------------- priority
@dataclass
class CameraPriority:
    """What :func:`camera_priority` returns."""

    forecast: ShiftForecast
    views: object
    coverage: pr.Coverage
    choice: pd.DataFrame
    cameras: pd.DataFrame
    k: int
    gaps: pd.DataFrame = field(default_factory=pd.DataFrame)

    def to_dict(self) -> dict:
        ch = self.choice.drop(columns=["new_cell_ids"])
        return {**_head(self.forecast), "k": self.k, "n_cameras": int(self.coverage.n_sets),
                "total_risk": float(self.choice.attrs.get("total_risk", 0.0)),
                "covered_risk": float(self.choice["marginal_risk"].sum()),
                "upper_bound": float(self.choice.attrs.get("upper_bound", 0.0)),
                "cameras": _records(ch)}


def _head(f: ShiftForecast) -> dict:
    keys = ("shift", "period_start", "period_end", "timezone", "model", "model_version", "forecast_run_ids",
            "categories", "weights")
    return {k: f.meta.get(k) for k in keys}


def _records(frame: pd.DataFrame) -> list[dict]:
    out = frame.astype(object).where(frame.notna(), None)
    return [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()}
            for r in out.to_dict(orient="records")]


def camera_priority(
    factory: sessionmaker[Session], settings: Settings, *, shift: str | None = None, k: int = 4,
    rule: str = "area", weights: Mapping[str, float] | None = None, kinds: Sequence[str] | None = WATCHABLE_KINDS,
    model: str | None = None, top: int = 3, periods: Periods | None = None, run_id: int | None = None,
    top_gaps: int = 20,
) -> CameraPriority:
    """Rank the cameras to watch during one shift (greedy by marginal covered risk, explained).

    The one engine of the ranking: ``crimecast priority cameras`` and the dashboard's cameras page
    both call it (the dashboard with the ``run_id`` it shows). ``gaps`` lists the ``top_gaps``
    highest-risk cells that none of these cameras sees.
    """
    k = pr.check_k("k", k)
    f = load_shift_forecast(factory, settings, shift=shift, model=model, weights=weights, periods=periods,
                            run_id=run_id)
    views = _cameras(factory, f.start_utc, kinds)
    cov = pr.coverage_matrix(f.cells, views, rule=rule)
    choice = pr.choose_cameras(cov, f.risk, k)
    choice = pr.explain_choice(choice, cov, f.risk, f.reasons, top=top,
                               unit="expected incidents" if not weights else "weighted expected incidents")
    info = views.set_index("camera_id")[["name", "kind"]]
    choice.insert(2, "name", choice["camera_id"].map(info["name"]))
    if f.meta.get("period") in ("shift", "hour"):
        context = _context(factory, views, f, f.periods or periods or Periods("shift"))
        choice["context"] = choice["camera_id"].map(context)
        choice["explanation"] = choice["explanation"] + " Context: " + choice["context"] + "."
    gaps = pr.coverage_gaps(cov, f.risk, top=top_gaps, reasons=f.reasons)
    return CameraPriority(f, views, cov, choice, pr.camera_risk(cov, f.risk), k, gaps)


@dataclass
class WatchList:
    """What :func:`watch_list` returns: per hour of the shift, the ranked feeds."""

    forecast: ShiftForecast
    hours: pd.DataFrame
    k: int

    def to_dict(self) -> dict:
        return {**_head(self.forecast), "k": self.k, "hours": _records(self.hours)}


def watch_list(
    factory: sessionmaker[Session], settings: Settings, *, shift: str | None = None, run_id: int | None = None,
    k: int = 4, rule: str = "area", weights: Mapping[str, float] | None = None,
    kinds: Sequence[str] | None = WATCHABLE_KINDS, model: str | None = None, periods: Periods | None = None,
) -> WatchList:
    """Feeds to watch hour by hour through one shift, from the stored hourly forecasts.

    Each hour's ranking is :func:`camera_priority` on that hour's forecast run (the same engine,
    rule, kinds and weights as the shift's), so an operator rotating feeds sees, per hour, the
    ranked feeds, their expected incidents in view and the reasons in words.

    Returns
    -------
    WatchList
        ``hours``: ``hour`` (local start), ``rank, camera_id, name, marginal_risk,
        standalone_risk, explanation`` for the ``k`` feeds of each hour.

    Raises
    ------
    DataError
        When no hourly forecast is stored inside the shift.
    """
    k = pr.check_k("k", k)
    f = load_shift_forecast(factory, settings, shift=shift, model=model, weights=weights, periods=periods,
                            run_id=run_id)
    with transaction(factory) as s:
        runs = fc.forecast_runs(session=s, period="hour")
    if len(runs):
        runs = runs.loc[(runs["period_start"] >= f.start_utc) & (runs["period_start"] < f.end_utc)]
        if model is not None or f.meta.get("model") in set(runs["model"]):
            runs = runs.loc[runs["model"] == (model or f.meta.get("model"))]
        runs = runs.sort_values("issued_at").drop_duplicates(["period_start", "category"], keep="last")
        runs = runs.loc[runs["category"] == runs.groupby("period_start")["category"].transform("first")]
    if runs.empty:
        hours = int((f.end - f.start) / pd.Timedelta(hours=1))
        raise DataError(f"no hourly forecast stored inside shift {f.label}; run `crimecast forecast --period hour "
                        f"--at {f.start:%Y-%m-%dT%H:%M} --count {hours}` first")
    frames = []
    for run in runs.sort_values("period_start").itertuples(index=False):  # one ranking per hour (<= 24)
        res = camera_priority(factory, settings, run_id=int(run.id), k=k, rule=rule, weights=weights, kinds=kinds,
                              periods=f.periods)
        ch = res.choice.loc[:, ["rank", "camera_id", "name", "marginal_risk", "standalone_risk", "explanation"]]
        frames.append(ch.assign(hour=res.forecast.start.isoformat()))
    hours = pd.concat(frames, ignore_index=True)
    return WatchList(f, hours.loc[:, ["hour", *hours.columns[:-1]]], k)


def _context(factory, views, f: ShiftForecast, periods: Periods, days: int = 365) -> pd.Series:
    """Camera id -> a sentence on its view's own history in this shift of the day and its activity this week."""
    start = f.start_utc
    with transaction(factory) as s:
        inc = load_incidents(session=s, start=(start - pd.Timedelta(days=days)).to_pydatetime(),
                             end=start.to_pydatetime())
        week = plans.camera_people(session=s, start=(start - pd.Timedelta(days=7)).to_pydatetime(),
                                   end=start.to_pydatetime(), pks=views["pk"].tolist())
        usual = plans.camera_people(session=s, start=(start - pd.Timedelta(days=35)).to_pydatetime(),
                                    end=(start - pd.Timedelta(days=7)).to_pydatetime(), pks=views["pk"].tolist())
    sod = periods.shift_of_day(periods.index([f.start]))[0]
    if len(inc):
        local = pd.to_datetime(inc["occurred_at"], utc=True).dt.tz_convert(f.timezone).dt.tz_localize(None)
        inc = inc.loc[periods.shift_of_day(periods.index(local)) == sod]
    same = pr.in_view_counts(inc, views)
    w = views["pk"].map(week.set_index("pk")["people"]).to_numpy(float)
    u = views["pk"].map(usual.set_index("pk")["people"] / 4.0).to_numpy(float)
    change = np.where(u > 0, w / np.where(u > 0, u, 1.0) - 1.0, np.nan)
    return pd.Series(pr.context_reasons(same, change), index=views["camera_id"].to_numpy())


@dataclass
class SiteSuggestion:
    """What :func:`camera_sites` returns."""

    forecast: ShiftForecast
    gaps: pd.DataFrame
    siting: pr.Siting
    budget: int
    radius_m: float

    def to_dict(self) -> dict:
        sites = self.siting.sites.drop(columns="geometry")
        return {**_head(self.forecast), "budget": self.budget, "radius_m": self.radius_m,
                **self.siting.summary(), "unseen_top_share": float(self.gaps.attrs.get("unseen_share", 0.0)),
                "gaps": _records(self.gaps), "sites": _records(sites)}


def camera_sites(
    factory: sessionmaker[Session], settings: Settings, *, budget: int, radius_m: float = 100.0,
    shift: str | None = None, top: int = 20, rule: str = "area", weights: Mapping[str, float] | None = None,
    kinds: Sequence[str] | None = None, model: str | None = None, periods: Periods | None = None,
) -> SiteSuggestion:
    """Coverage gaps among the ``top`` risk cells, and up to ``budget`` new camera sites.

    Existing coverage counts every camera in service (any kind unless ``kinds`` is given);
    when there is none, every cell is a gap.
    """
    budget = pr.check_k("budget", budget)
    f = load_shift_forecast(factory, settings, shift=shift, model=model, weights=weights, periods=periods)
    with transaction(factory) as s:
        cams = plans.active_cameras(session=s, at=f.start_utc.to_pydatetime(), kinds=kinds)
    views = _views(cams)
    cov = pr.coverage_matrix(f.cells, views, rule=rule)
    gaps = pr.coverage_gaps(cov, f.risk, top=top, reasons=f.reasons)
    siting = pr.site_cameras(f.cells, f.risk, budget, radius_m, existing=cov)
    return SiteSuggestion(f, gaps, siting, budget, float(radius_m))


# ------------------------------------------------------------------------------ patrol
def read_areas_file(path, name_col: str = "name"):
    """An area layer from a vector file: ``name`` (from ``name_col``), polygons, every other column, WGS84.

    Raises
    ------
    InputError
        When the file is missing, has no ``name_col`` column or no CRS.
    """
    import geopandas as gpd

    p = Path(path)
    if not p.exists():
        raise InputError(f"areas file {str(p)!r} does not exist")
    areas = gpd.read_file(p)
    if name_col not in areas.columns:
        raise InputError(f"areas file must have a {name_col!r} column naming each area; got columns "
                         f"{[c for c in areas.columns if c != 'geometry']}. Pass --area-field")
    if areas.crs is None:
        raise InputError(f"areas file {str(p)!r} has no CRS; expected one (e.g. EPSG:4326)")
    if name_col != "name":
        areas = areas.drop(columns="name", errors="ignore").rename(columns={name_col: "name"})
    return areas.to_crs("EPSG:4326")


def load_areas(factory: sessionmaker[Session] | None = None, *, path=None, layer: str | None = None,
               name_col: str = "name"):
    """Patrol-area polygons from a vector file or a stored area layer (None when neither is given)."""
    import geopandas as gpd
    import shapely

    if path is not None:
        return read_areas_file(path, name_col)[["name", "geometry"]]
    if layer is not None:
        from forecasting.store.areas import load_areas as stored

        with transaction(factory) as s:
            rows = stored(session=s, layers=[layer])
        rows = rows.loc[rows["hour_of_week"].isna()].drop_duplicates("area_id")
        if rows.empty:
            raise DataError(f"no stored area layer {layer!r}; load one with `crimecast ingest areas` first")
        names = rows["name"].where(rows["name"].notna(), rows["area_id"]).astype(str)
        return gpd.GeoDataFrame({"name": names.to_numpy()}, geometry=shapely.from_wkt(
            rows["polygon_wkt"].to_numpy(dtype=object)), crs="EPSG:4326")
    return None


def patrol_plan(
    factory: sessionmaker[Session], settings: Settings, *, shift: str | None = None, area: str | None = None,
    areas=None, config: pt.PatrolConfig | None = None, weights: Mapping[str, float] | None = None,
    model: str | None = None, address_days: int = 365, periods: Periods | None = None, run_id: int | None = None,
) -> pt.PatrolPlan:
    """Build the patrol plan of one shift (default: the first shift after the latest data).

    Parameters
    ----------
    area : str, optional
        Keep only this patrol area (a name in ``areas``, or ``"all"`` without areas).
    areas : GeoDataFrame, optional
        Patrol-area polygons with a ``name`` column (see :func:`load_areas`).
    address_days : int, default 365
        Incidents of this many days before the shift label hotspots with their most frequent address.
    run_id : int, optional
        A stored forecast run (the dashboard's selection) instead of ``shift`` and ``model``.
    """
    f = load_shift_forecast(factory, settings, shift=shift, model=model, weights=weights, periods=periods,
                            run_id=run_id)
    if area is not None:
        if areas is None:
            if area != pt.WHOLE_AREA:
                raise ConfigError(f"area must be {pt.WHOLE_AREA!r} when no patrol areas are given (pass --areas "
                                  f"FILE or --areas-layer LAYER); got {area!r}")
        else:
            names = areas["name"].astype(str)
            if area not in set(names):
                raise ConfigError(f"area must be one of {sorted(set(names))}; got {area!r}")
            areas = areas.loc[names == area]
    minx, miny, maxx, maxy = f.cells.total_bounds
    with transaction(factory) as s:
        addresses = plans.incident_addresses(
            session=s, start=(f.start_utc - pd.Timedelta(days=address_days)).to_pydatetime(),
            end=f.start_utc.to_pydatetime(), bbox=(minx, miny, maxx, maxy))
    return pt.build_patrol_plan(f.cells, start=f.start, end=f.end, config=config, areas=areas,
                                addresses=addresses, meta={**f.meta, "area": area or pt.WHOLE_AREA})


def export_patrol(
    factory: sessionmaker[Session], settings: Settings, *, fmt: str, out, user: str | None = None,
    plan: pt.PatrolPlan | None = None, **plan_options,
) -> dict:
    """Write a patrol plan export and record it in the audit log (action ``export``).

    The file is written first; if the audit row cannot be recorded the file is removed, so no
    export exists without a record of who made it and when.

    Returns
    -------
    dict
        ``path, format, shift, period_start, period_end, model_version, hotspots, visits, audit_id``.
    """
    fmt = (fmt or "").lower()
    if fmt not in ex.EXPORT_FORMATS:
        raise ConfigError(f"format must be one of {list(ex.EXPORT_FORMATS)}; got {fmt!r}")
    plan = plan or patrol_plan(factory, settings, **plan_options)
    user = user or _os_user()
    now = datetime.now(UTC).replace(microsecond=0)
    from forecasting.jobs.places import map_context

    context = map_context(factory, plan.cells.total_bounds if len(plan.cells) else None)
    plan.meta = {**plan.meta, "generated_by": user, "generated_at": now.isoformat(), "dataset": context["dataset"]}
    path = ex.write_plan(plan, out, fmt, streets=context["streets"])
    details = {"format": fmt, "path": str(Path(path).resolve()), "product": "patrol_plan",
               **{k: plan.meta.get(k) for k in ("shift", "period_start", "period_end", "timezone", "model",
                                                "model_version", "forecast_run_ids", "area")},
               "hotspots": int(len(plan.hotspots)), "visits": int(len(plan.visits))}
    try:
        with transaction(factory) as s:
            audit_id = record_audit(session=s, username=user, action="export",
                                    target=f"patrol plan {plan.meta.get('shift')} ({fmt})", details=details)
            store_plan_visits(s, plan, audit_id=audit_id)  # the feedback-loop guard reads them
    except BaseException:
        Path(path).unlink(missing_ok=True)
        raise
    return {**details, "audit_id": audit_id, "generated_by": user, "generated_at": now.isoformat()}


def export_formats() -> dict[str, str]:
    """Patrol-plan export formats and their file suffixes (csv, geojson, kml, ics, pdf)."""
    return dict(ex.EXPORT_FORMATS)


def export_patrol_bytes(
    factory: sessionmaker[Session], settings: Settings, *, fmt: str, stem: str, user: str | None = None,
    **plan_options,
) -> tuple[str, bytes, dict]:
    """:func:`export_patrol` into memory, for a download: ``(filename, content, audit details)``.

    The export is made and audited exactly as on the command line; the file goes through a
    private temporary directory that is removed before returning.
    """
    import tempfile

    fmt = (fmt or "").lower()
    if fmt not in ex.EXPORT_FORMATS:
        raise ConfigError(f"format must be one of {list(ex.EXPORT_FORMATS)}; got {fmt!r}")
    name = f"{stem}{ex.EXPORT_FORMATS[fmt]}"
    with tempfile.TemporaryDirectory(prefix="crimecast-export-") as tmp:
        info = export_patrol(factory, settings, fmt=fmt, out=Path(tmp) / name, user=user, **plan_options)
        return name, Path(info["path"]).read_bytes(), info


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "unknown"


# -------------------------------------------------------------------------- evaluation
def evaluate_camera_choice(
    factory: sessionmaker[Session], settings: Settings, *, shift: str | None = None, k: int = 4,
    lookback_days: int = 28, rule: str = "area", weights: Mapping[str, float] | None = None,
    kinds: Sequence[str] | None = WATCHABLE_KINDS, model: str | None = None, periods: Periods | None = None,
    run_id: int | None = None, static_days: int = 365,
) -> dict:
    """Share of the shift's incidents the chosen k cameras would have seen, against the k busiest.

    Also against a static rule: the k cameras with most incidents in view in the ``static_days``
    before the shift (``static``).

    The priority choice is :func:`camera_priority`'s (forecast risk, greedy, overlaps counted
    once). The baseline is the k cameras with most people counted (``activity_counts``) in the
    ``lookback_days`` before the shift — only data available before the shift is used for
    either choice. An incident is seen when its location lies inside a chosen camera's view.

    Returns
    -------
    dict
        ``shift, k, incidents`` (in the shift), and for ``priority`` and ``busiest``: ``cameras``,
        ``seen``, ``share`` (None when the shift has no incident); ``lift`` = priority share minus
        busiest share.
    """
    res = camera_priority(factory, settings, shift=shift, k=k, rule=rule, weights=weights, kinds=kinds,
                          model=model, periods=periods, run_id=run_id)
    f = res.forecast
    start, end = f.start_utc, f.end_utc
    with transaction(factory) as s:
        people = plans.camera_people(session=s, start=(start - pd.Timedelta(days=lookback_days)).to_pydatetime(),
                                     end=start.to_pydatetime(), pks=res.views["pk"].tolist())
        inc = load_incidents(session=s, start=start.to_pydatetime(), end=end.to_pydatetime())
        past = load_incidents(session=s, start=(start - pd.Timedelta(days=static_days)).to_pydatetime(),
                              end=start.to_pydatetime())
    past_in_view = pd.Series(pr.in_view_counts(past, res.views), index=res.views["camera_id"].to_numpy())
    static = past_in_view.sort_values(ascending=False, kind="stable").index[:k].astype(str).tolist()
    seen_s, _ = pr.share_seen(inc, res.views, static)
    key = res.views.set_index("pk")["camera_id"]
    activity = pd.DataFrame({"camera_id": people["pk"].map(key), "people": people["people"]}).dropna()
    busiest = pr.busiest_cameras(activity, k) if len(activity) else []
    chosen = res.choice["camera_id"].tolist()
    seen_p, n = pr.share_seen(inc, res.views, chosen)
    seen_b, _ = pr.share_seen(inc, res.views, busiest)

    def share(x: int) -> float | None:
        return x / n if n else None

    out = {**_head(f), "k": int(k), "lookback_days": int(lookback_days), "incidents": n,
           "priority": {"cameras": chosen, "seen": seen_p, "share": share(seen_p)},
           "busiest": {"cameras": busiest, "seen": seen_b, "share": share(seen_b)},
           "static": {"cameras": static, "seen": seen_s, "share": share(seen_s), "days": int(static_days)}}
    out["lift"] = None if n == 0 else out["priority"]["share"] - out["busiest"]["share"]
    if not busiest:
        out["busiest"]["note"] = f"no activity counts in the {lookback_days} days before the shift"
    return out


def choice_record(
    factory: sessionmaker[Session], settings: Settings, *, n: int = 30, k: int = 4, evaluate=None,
) -> pd.DataFrame:
    """The camera choice on the last ``n`` stored shift forecasts whose outcome is known.

    One :func:`evaluate_camera_choice` per shift (the latest issued run of each), so the record
    is computed from the stored forecasts by the same engine as everything else. ``evaluate``
    (default :func:`evaluate_camera_choice`) lets a caller cache evaluations of immutable runs.

    Returns
    -------
    DataFrame
        ``run_id, shift, period_start, incidents, priority, busiest, static`` (shares; NaN when the
        shift had no incident), oldest first; empty when no stored shift has ended.
    """
    n, k = pr.check_k("n", n), pr.check_k("k", k)
    with transaction(factory) as s:
        runs = fc.forecast_runs(session=s, period="shift")
        latest = plans.latest_data_time(session=s)
    cols = ["run_id", "shift", "period_start", "incidents", "priority", "busiest", "static"]
    if runs.empty or latest is None:
        return pd.DataFrame(columns=cols)
    done = runs.loc[runs["period_end"] <= latest].sort_values("issued_at").drop_duplicates("period_start", keep="last")
    done = done.sort_values("period_start").tail(n)
    evaluate = evaluate or (lambda run_id: evaluate_camera_choice(factory, settings, run_id=run_id, k=k))
    rows = []
    for run in done.itertuples(index=False):  # one evaluation per shift (n <= 30 by default)
        try:
            r = evaluate(int(run.id))
        except DataError:  # e.g. no camera in service then
            continue
        rows.append({"run_id": int(run.id), "shift": r["shift"], "period_start": r["period_start"],
                     "incidents": r["incidents"], "priority": r["priority"]["share"],
                     "busiest": r["busiest"]["share"], "static": r["static"]["share"]})
    return pd.DataFrame(rows, columns=cols).astype({"priority": float, "busiest": float, "static": float})

