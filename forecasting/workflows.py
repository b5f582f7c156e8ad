"""Composition of the forecasting core: backtests, training and forecasts from an events frame.

This module maps model names to estimators and writes the backtest output contract that other
tools score independently:

``cells.geojson``
    One polygon per cell, property ``cell_id``, EPSG:4326.
``scores.parquet``
    ``model`` (str), ``category`` (``"all"`` or the category), ``cell_id`` (str),
    ``period_start`` (date of the period's first day), ``score`` (float, higher = more risk),
    for every cell and period. Shift and hour backtests add ``period_start_local`` (timestamp),
    since several periods share a date. References (not forecasts) are not written.
``metrics.json``, ``report.md``, ``capture_*.png``
    See :mod:`forecasting.evaluate`.

Model names: ``lgbm``, ``naive``, ``historical`` (expands to ``historical_13``,
``historical_52``, ``historical_104``, ``historical_all``: mean count over the last 13, 52,
104 weeks and the whole history), ``kde``, ``promap``, ``sepp``, ``tod`` (the time-of-day
baselines of :func:`make_models`, at day, shift and hour periods only). Two labelled references that
are not forecasts are always added to metrics and the report: ``rate_oracle`` (each cell's rate from
its counts before and after the period, the period excluded: about the ceiling for forecasts of
cells' rates) and ``hindsight`` (the period's own counts: the ceiling for any map).

Composition module: imports every compute layer, never ``forecasting.store`` or ``forecasting.cli``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecasting import analysis, fairness, reports
from forecasting.baselines import (
    HindsightMap,
    HistoricalCounts,
    KDEBaseline,
    NaiveBaseline,
    ProMap,
    RateOracle,
    SEPPGrid,
    TimeOfDayBlend,
    TimeOfDayCounts,
    TimeOfDayShrunk,
)
from forecasting.config import DEFAULT_CELL_SIZE
from forecasting.errors import ConfigError, DataError, InputError
from forecasting.evaluate import BacktestResult, RollingOrigin, backtest, summarise, write_report
from forecasting.features import FeatureBuilder, Panel, build_panel, usable_events
from forecasting.grid import Grid, build_grid, grid_from_dict
from forecasting.model import LGBMRiskModel, select_params, top_k_chance
from forecasting.periods import Periods, PeriodSpec, as_spec
from forecasting.scaleout import DaskLGBMRiskModel
from forecasting.schema import (
    ALL_CATEGORIES,
    EVENT_COLUMNS,
    LATITUDE,
    LONGITUDE,
    OCCURRED_LOCAL,
    SCORE_COLUMNS,
    require_columns,
)

DEFAULT_MODELS = ("lgbm", "naive", "historical", "kde", "promap", "sepp", "tod")
#: References that are not forecasts, always added to metrics and reports.
REFERENCES = ("rate_oracle", "hindsight")
KNOWN_MODELS = DEFAULT_MODELS + REFERENCES


def _tod_models(period: str) -> dict[str, Any]:
    """The time-of-day baselines for ``period`` (none for weeks; weekday slots for days)."""
    if period == "week":
        return {}
    out: dict[str, Any] = {}
    if period != "day":  # at day periods the same slot of the day is every period
        for weeks in (13, 52, 104):
            out[f"tod_{weeks}"] = TimeOfDayCounts(window_days=weeks * 7)
        out["tod_all"] = TimeOfDayCounts(window_days=None)
    for weeks in (52, 104):
        out[f"tod_weekday_{weeks}"] = TimeOfDayCounts(window_days=weeks * 7, weekday=True)
    out["tod_weekday_all"] = TimeOfDayCounts(window_days=None, weekday=True)
    out["tod_blend"] = TimeOfDayBlend(weekday=period == "day")
    # alpha 30: the setting chosen on the validation year of the camera benchmark (Chicago 2017,
    # docs/priority_and_patrol.md), the one whose ranking beat the rules on 2018-2019; the
    # estimator's own default fits alpha at each refit instead.
    out["tod_shrunk"] = TimeOfDayShrunk(weekday=period == "day", alpha=30.0)
    return out


def make_models(names: Sequence[str], *, random_state: int = 0,
                lgbm_params: dict | None = None, features: FeatureBuilder | None = None,
                period: str | PeriodSpec = "week", distributed: bool = False) -> dict:
    """Estimators for the given model names (``historical`` expands to four windows).

    ``distributed=True`` makes ``lgbm`` a :class:`~forecasting.scaleout.DaskLGBMRiskModel`
    (trained and scored per spatial tile on the Dask cluster of the enclosing
    :func:`forecasting.scaleout.cluster` block); the baselines run in this process.

    ``tod`` expands to the time-of-day baselines at day, shift and hour periods
    (``tod_13``, ``tod_52``, ``tod_104``, ``tod_all``, ``tod_weekday_52``,
    ``tod_weekday_104``, ``tod_weekday_all``, ``tod_blend``, ``tod_shrunk``; at day periods
    only the weekday ones, the blend and the shrunk profile) and to nothing at weeks, where a
    slot of the day does not exist.

    Examples
    --------
    >>> list(make_models(["naive", "historical"]))
    ['naive', 'historical_13', 'historical_52', 'historical_104', 'historical_all']
    >>> list(make_models(["tod"], period="day"))
    ['tod_weekday_52', 'tod_weekday_104', 'tod_weekday_all', 'tod_blend', 'tod_shrunk']
    """
    out: dict[str, Any] = {}
    period = as_spec(period).kind
    tod = _tod_models(period)
    for name in names:
        if name == "tod":
            out.update(tod)
        elif name.startswith("tod_"):
            if name not in tod:
                raise ConfigError(f"models: {name!r} is not a time-of-day baseline at period "
                                  f"{period!r}; expected one of {list(tod)}")
            out[name] = tod[name]
        elif name == "lgbm":
            out[name] = _lgbm_class(distributed)(random_state=random_state, features=features,
                                                 **(lgbm_params or {}))
        elif name == "naive":
            out[name] = NaiveBaseline()
        elif name == "historical":
            for weeks in (13, 52, 104):
                out[f"historical_{weeks}"] = HistoricalCounts(window_days=weeks * 7)
            out["historical_all"] = HistoricalCounts(window_days=None)
        elif name.startswith("historical_"):
            w = name.split("_", 1)[1]
            out[name] = HistoricalCounts(window_days=None if w == "all" else int(w) * 7)
        elif name == "kde":
            out[name] = KDEBaseline()
        elif name == "promap":
            out[name] = ProMap()
        elif name == "sepp":
            out[name] = SEPPGrid()
        elif name == "hindsight":
            out[name] = HindsightMap()
        elif name == "rate_oracle":
            out[name] = RateOracle()
        else:
            raise ConfigError(f"models must be names from {list(KNOWN_MODELS)}; got {name!r}")
    return out


def _lgbm_class(distributed: bool) -> type[LGBMRiskModel]:
    """The LightGBM risk model of the single-process path, or its Dask twin."""
    return DaskLGBMRiskModel if distributed else LGBMRiskModel


def _prepare(events: pd.DataFrame, period: str) -> pd.DataFrame:
    require_columns(events, EVENT_COLUMNS, "events")
    events = usable_events(events, period)
    ok = events[OCCURRED_LOCAL].notna() & events[LONGITUDE].notna() & events[LATITUDE].notna()
    return events.loc[ok]


def _history_grid(events: pd.DataFrame, before: pd.Timestamp, *, cell_size: float, crs: Any,
                  boundary: Any, h3_resolution: int | None = None) -> Grid:
    hist = events.loc[pd.to_datetime(events[OCCURRED_LOCAL]) < before]
    if hist.empty and boundary is None:
        raise DataError(f"no incident before {before.date()} to define the study area; give a "
                        "boundary or an earlier history")
    return build_grid(hist[LONGITUDE].to_numpy(float), hist[LATITUDE].to_numpy(float),
                      cell_size=cell_size, crs=crs, boundary=boundary, h3_resolution=h3_resolution)


@dataclass
class BacktestRun:
    """What :func:`run_backtest` returns: the result, the summary and the written files."""

    result: BacktestResult
    summary: dict
    files: dict[str, Path]
    timings: dict[str, float] = field(default_factory=dict)


def scores_frame(result: BacktestResult, keys: list[tuple[str, str]] | None = None) -> pd.DataFrame:
    """The ``scores.parquet`` contract as a DataFrame (references excluded).

    ``keys`` restricts it to some (model, target) pairs; the categories of ``model`` and
    ``category`` are always every forecast model and target of the run, so frames of different
    pairs stack into one file.
    """
    grid = result.panel.grid
    ids = grid.cell_ids
    n_p, n_c = len(result.period_starts), grid.n_cells
    every = [k for k in result.scores if k[0] not in result.reference]
    if not every:
        raise DataError("the backtest holds no forecast model to write")
    keys = every if keys is None else keys
    models = list(dict.fromkeys(m for m, _ in every))
    targets = list(dict.fromkeys(t for _, t in every))
    per = n_p * n_c
    dates = np.repeat(result.period_starts.normalize().values.astype("datetime64[D]"), n_c)
    cells = np.tile(np.arange(n_c), n_p)
    # One frame built from integer codes: categorical strings stay compact for millions of rows.
    df = pd.DataFrame({
        "model": pd.Categorical.from_codes(
            np.repeat([models.index(m) for m, _ in keys], per), categories=models),
        "category": pd.Categorical.from_codes(
            np.repeat([targets.index(t) for _, t in keys], per), categories=targets),
        "cell_id": pd.Categorical.from_codes(np.tile(cells, len(keys)),
                                             categories=pd.Index(ids.astype(str))),
        "period_start": np.tile(dates, len(keys)),
        "score": np.concatenate([result.scores[k].reshape(-1) for k in keys]).astype(np.float64),
    })
    if result.panel.periods.kind in ("shift", "hour"):
        df["period_start_local"] = np.tile(np.repeat(np.asarray(result.period_starts), n_c),
                                           len(keys))
    return df


def _write_scores(result: BacktestResult, path: Path) -> None:
    """``scores.parquet``, one row group per (model, target): a frame of every score at once
    was most of a shift backtest's peak memory (Vancouver, three targets: 6 GB)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    keys = [k for k in result.scores if k[0] not in result.reference]
    if not keys:
        scores_frame(result)  # raises the error that names the problem
    writer = None
    try:
        for key in keys:
            df = scores_frame(result, [key])
            # Strings as dictionary-encoded utf8 and period_start as date32, the published types.
            table = pa.Table.from_pandas(df, preserve_index=False)
            del df
            fields = []
            for f in table.schema:
                if f.name in ("model", "category", "cell_id"):
                    fields.append(pa.field(f.name, pa.dictionary(pa.int32(), pa.string())))
                elif f.name == "period_start":
                    fields.append(pa.field(f.name, pa.date32()))
                else:
                    fields.append(f)
            table = table.cast(pa.schema(fields))
            assert tuple(table.column_names[:5]) == SCORE_COLUMNS
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


@dataclass(frozen=True)
class BacktestOptions:
    """The settings of one backtest run, passed as one value from the CLI through jobs to here.

    Parameters
    ----------
    start, end : date-like
        Every period whose first day lies in ``[start, end]`` is forecast from incidents
        before it.
    period : {"week", "day", "shift", "hour"} or PeriodSpec
        A string is parsed with :meth:`~forecasting.periods.PeriodSpec.parse` (default shift layout).
    cell_size : float, default 150
        Square cell edge, metres.
    categories : sequence of str
        Targets besides ``"all"`` (matched on ``category``, else ``category_group``).
    models : sequence of str
        See the module docstring; ``rate_oracle`` and ``hindsight`` are always added as
        references.
    refit_every : int, default 4
    random_state : int, default 0
    crs, boundary
        See :func:`forecasting.grid.build_grid`. Without a boundary, the study area is the
        cells with an incident before ``start``.
    lgbm_params : dict, optional
        Extra :class:`~forecasting.model.LGBMRiskModel` settings.
    features : FeatureBuilder, optional
    tune_candidates : sequence of dict, optional
        LightGBM settings to choose from by :func:`forecasting.model.select_params` on the
        validation tail before ``start`` (never on evaluation periods).
    n_boot : int, default 1000
        Bootstrap resamples of the summary's intervals.
    plots : bool, default True
        Write the capture-curve plots beside the report.
    context : callable, optional
        ``context(grid, periods, first, n_periods)`` returning a
        :class:`~forecasting.context.ContextFeatures` for the panel (e.g. a
        ``functools.partial`` of :func:`forecasting.context.build_context`); used by models
        with ``use_context=True`` (``lgbm_params={"use_context": True}``).
    areas : GeoDataFrame, optional
        Area layer (``name`` and polygons) for the fairness section's shares by area
        (:func:`forecasting.fairness.backtest_fairness`); without it, concentration is by cell.
    distributed : bool, default False
        Train and score ``lgbm`` per spatial tile on the Dask cluster of the enclosing
        :func:`forecasting.scaleout.cluster` block (see :func:`make_models`); where a run
        computes, not what it computes, so :meth:`record` leaves it out.

    Examples
    --------
    >>> opts = BacktestOptions(start="2024-01-01", end="2024-03-31", models=("naive",))
    >>> opts.period, opts.cell_size, opts.models
    ('week', 150.0, ('naive',))
    >>> opts.record()["models"]
    ['naive']
    """

    start: Any
    end: Any
    period: str | PeriodSpec = "week"
    cell_size: float = DEFAULT_CELL_SIZE
    categories: Sequence[str] = ()
    models: Sequence[str] = DEFAULT_MODELS
    refit_every: int = 4
    random_state: int = 0
    crs: Any = None
    boundary: Any = None
    lgbm_params: dict | None = None
    features: FeatureBuilder | None = None
    tune_candidates: Sequence[dict] | None = None
    n_boot: int = 1000
    plots: bool = True
    context: Callable[..., Any] | None = None
    areas: Any = None
    distributed: bool = False

    def record(self) -> dict:
        """The settings a stored backtest keeps beside its metrics (``backtests.params``).

        A shift layout other than the default is kept as ``period_spec`` (``backtests.period`` holds
        the kind only).
        """
        spec = as_spec(self.period)
        layout = {"period_spec": spec.to_dict()} if str(spec) != spec.kind else {}
        return {"categories": list(self.categories), "models": list(self.models), "refit_every": self.refit_every,
                **layout}


def run_backtest(events: pd.DataFrame, options: BacktestOptions, *, out_dir,
                 progress: Callable[[str], None] | None = None) -> BacktestRun:
    """Backtest models from an events frame and write the output contract to ``out_dir``.

    Parameters
    ----------
    events : DataFrame
        Events frame (``schema.EVENT_COLUMNS``: ``occurred_local`` naive local datetime,
        ``longitude``/``latitude`` WGS84, ``category``, ``category_group``; optional
        ``time_resolution``: rows too coarse for the period are dropped with a warning).
    options : BacktestOptions
        The run's settings, one frozen value (``dataclasses.replace`` makes a variant).
    out_dir : path
    progress : callable, optional
        Receives short progress messages.

    Returns
    -------
    BacktestRun

    Examples
    --------
    >>> import tempfile
    >>> rng = np.random.default_rng(0)
    >>> events = pd.DataFrame({"occurred_local": pd.Timestamp("2024-01-01") + pd.to_timedelta(
    ...     rng.uniform(0, 120, 2000), unit="D"), "longitude": -123.1 + rng.normal(0, .01, 2000),
    ...     "latitude": 49.28 + rng.normal(0, .01, 2000), "category": "theft", "category_group": "property"})
    >>> options = BacktestOptions(start="2024-03-04", end="2024-04-22", models=("naive",), n_boot=20, plots=False)
    >>> run = run_backtest(events, options, out_dir=tempfile.mkdtemp())
    >>> sorted(run.files), run.result.scores[("naive", "all")].shape[0]  # eight weekly origins
    (['cells', 'metrics', 'report', 'scores'], 8)
    """
    o = options
    start, end, period, categories, models = o.start, o.end, o.period, o.categories, o.models
    random_state, lgbm_params, features = o.random_state, o.lgbm_params, o.features
    t0 = time.perf_counter()
    say = progress or (lambda msg: None)
    spec = as_spec(period)
    split = RollingOrigin(start, end, Periods(spec), o.refit_every)
    periods = split.periods
    events = _prepare(events, spec.kind)
    starts = split.period_starts()
    grid = _history_grid(events, starts[0], cell_size=o.cell_size, crs=o.crs, boundary=o.boundary)
    last_end = starts[-1] + periods.length - pd.Timedelta(1, "ns")
    first = pd.to_datetime(events[OCCURRED_LOCAL]).min()
    if first >= starts[0]:
        raise DataError(f"no incident before start={pd.Timestamp(start).date()}; a backtest needs "
                        "history before the first forecast period")
    panel = build_panel(events, grid, periods, targets=list(categories), start=first,
                        end=last_end)
    if o.context is not None:
        # Extra feature blocks (forecasting.context) for models built with use_context=True.
        panel.context = o.context(grid, periods, panel.first, panel.n_periods)
    say(f"panel: {panel.n_cells} cells x {panel.n_periods} {spec.kind}s, "
        f"{len(panel.targets)} target(s); {panel.n_outside} incidents outside the study area")
    if o.tune_candidates and "lgbm" in models:
        # Hyper-settings are chosen on the validation tail before the first forecast period
        # (target "all"), so evaluation periods never influence them.
        origin0 = int(split.origins(panel)[0])
        base = {"random_state": random_state, "features": features, **(lgbm_params or {})}
        best, losses = select_params(panel, origin0, list(o.tune_candidates), base)
        lgbm_params = {k: v for k, v in best.items() if k not in ("random_state", "features")}
        say(f"tuning: validation losses {[round(x, 5) for x in losses]}; chose {lgbm_params}")
    estimators = make_models(list(dict.fromkeys([*models, *REFERENCES])), random_state=random_state,
                             lgbm_params=lgbm_params, features=features, period=spec,
                             distributed=o.distributed)
    t1 = time.perf_counter()
    result = backtest(estimators, panel, split, progress=say)
    t2 = time.perf_counter()
    summary = summarise(result, n_boot=o.n_boot, random_state=random_state,
                        challenger="lgbm" if "lgbm" in estimators else None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"cells": out / "cells.geojson", "scores": out / "scores.parquet",
             "metrics": out / "metrics.json", "report": out / "report.md"}
    grid.polygons("EPSG:4326")[["cell_id", "geometry"]].to_file(files["cells"], driver="GeoJSON")
    _write_scores(result, files["scores"])
    summary["fairness"] = fairness.backtest_fairness(result, o.areas)
    summary["calibration"] = reports.backtest_calibration(result)
    write_report(result, summary, out, plots=o.plots, extra=fairness.fairness_markdown(
        summary["fairness"], model=summary["fairness"]["model"]))
    t3 = time.perf_counter()
    timings = {"prepare_s": t1 - t0, "backtest_s": t2 - t1, "write_s": t3 - t2,
               "total_s": t3 - t0}
    say(f"done in {timings['total_s']:.1f}s")
    return BacktestRun(result, summary, files, timings)


# -- train / forecast --------------------------------------------------------------------------
@dataclass
class Forecaster:
    """Fitted models per target on one grid, as :func:`train` returns them.

    ``models[target]`` is an :class:`~forecasting.model.LGBMRiskModel`; its ``metadata`` dict
    is what the store records as a model version.
    """

    grid: Grid
    periods: Periods
    at: pd.Timestamp
    models: dict[str, LGBMRiskModel]

    @property
    def metadata(self) -> dict:
        return {t: m.metadata for t, m in self.models.items()}

    def save(self, directory) -> Path:
        """Write ``forecaster.json`` (grid, periods, cut-off) and ``model_<i>.json`` per target."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        files = {}
        for i, (target, m) in enumerate(self.models.items()):
            files[target] = m.save(d / f"model_{i}.json").name
        (d / "forecaster.json").write_text(json.dumps({
            "grid": self.grid.to_dict(), "periods": self.periods.to_dict(),
            "at": str(self.at), "models": files}))
        return d

    @classmethod
    def load(cls, directory) -> Forecaster:
        d = Path(directory)
        try:
            doc = json.loads((d / "forecaster.json").read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read forecaster in {str(d)!r}: {exc}") from exc
        p = doc["periods"]
        return cls(grid_from_dict(doc["grid"]),
                   Periods(p["kind"], shift_start=p["shift_start"], shift_hours=p["shift_hours"]),
                   pd.Timestamp(doc["at"]),
                   {t: LGBMRiskModel.load(d / f) for t, f in doc["models"].items()})


#: ``patrolled(cell_ids, period_starts, period_length)``: which cell-periods had a patrol visit,
#: ``(n_periods, n_cells)`` bool; ``period_starts`` are the panel's naive local period starts.
#: The forecasting jobs build one from the stored patrol visits (workflows never read the store).
PatrolMask = Callable[[np.ndarray, pd.DatetimeIndex, pd.Timedelta], np.ndarray]


def guard_panel(panel: Panel, patrolled: PatrolMask | None,
                uplift: float = fairness.DETECTION_UPLIFT, at=None) -> tuple[Panel, dict]:
    """The feedback-loop guard on a panel: counts recorded during patrol visits weighted ``1/uplift``.

    Every target's counts in a patrolled cell-period go through
    :func:`forecasting.fairness.discount_patrolled`, so both the features and the training target
    stop rewarding past attention. Only periods before ``at`` are guarded (visits of the period
    being forecast, exported before its shifts, are ignored), so no visit at or after an origin
    reaches its features.

    Parameters
    ----------
    panel : Panel
    patrolled : callable or None
        See :data:`PatrolMask`; ``None`` means the guard is off.
    uplift : float, default fairness.DETECTION_UPLIFT
    at : date-like, optional
        The cut-off: the period starting at (or containing) it and later ones are left as they are.

    Returns
    -------
    (Panel, dict)
        The guarded panel (the same object when nothing was patrolled) and a summary for the
        model metadata: ``enabled``, ``applied``, ``uplift``, ``patrolled_cell_periods``,
        ``incidents_discounted`` (recorded incidents, all categories, that were weighted down).

    Examples
    --------
    >>> g = Grid(crs="EPSG:32610", cell_size=150, col=np.array([0, 1]), row=np.array([0, 0]))
    >>> pan = Panel(g, Periods("week"), 0, {"all": np.array([[4., 4., 4.], [2., 2., 2.]], "f4")})
    >>> visits = np.array([[True, False], [False, False], [True, True]])  # periods x cells
    >>> guarded, info = guard_panel(pan, lambda ids, starts, length: visits, uplift=2.0,
    ...                             at=pan.period_starts[2])  # the third week is being forecast
    >>> guarded.y.tolist(), info["incidents_discounted"]
    ([[2.0, 4.0, 4.0], [2.0, 2.0, 2.0]], 4)
    """
    info = {"enabled": patrolled is not None, "applied": False, "uplift": float(uplift),
            "patrolled_cell_periods": 0, "incidents_discounted": 0}
    if patrolled is None:
        return panel, info
    if not uplift >= 1:
        raise ConfigError(f"patrol_uplift must be a number at least 1 (detection with a patrol over "
                          f"without); got {uplift!r}")
    mask = np.asarray(patrolled(np.asarray(panel.grid.cell_ids).astype(str), panel.period_starts,
                                panel.periods.length), dtype=bool)
    if mask.shape != (panel.n_periods, panel.n_cells):
        raise DataError(f"patrolled mask must have shape (n_periods, n_cells) = "
                        f"{(panel.n_periods, panel.n_cells)}; got {mask.shape}")
    if at is not None:
        mask = mask.copy()
        mask[max(panel.column(at), 0):] = False
    if not mask.any():
        return panel, info
    # Panel counts are (cells, periods); the guard works on (periods, cells).
    counts = {t: fairness.discount_patrolled(c.T, mask, uplift).T.astype(np.float32)
              for t, c in panel.counts.items()}
    info.update(applied=True, patrolled_cell_periods=int(mask.sum()),
                incidents_discounted=int(round(float(panel.counts[ALL_CATEGORIES].T[mask].sum()))))
    digest = hashlib.sha256(panel.data_hash.encode() + np.packbits(mask).tobytes()).hexdigest()[:16]
    return Panel(panel.grid, panel.periods, panel.first, counts, panel.target, digest, panel.n_outside,
                 context=panel.context), info


def train(events: pd.DataFrame, *, at=None, period: str | PeriodSpec = "week", cell_size: float = DEFAULT_CELL_SIZE,
          categories: Sequence[str] = (), crs: Any = None, boundary: Any = None,
          random_state: int = 0, lgbm_params: dict | None = None,
          features: FeatureBuilder | None = None, patrolled: PatrolMask | None = None,
          patrol_uplift: float = fairness.DETECTION_UPLIFT, distributed: bool = False,
          near_repeat_days: int | None = None,
          near_repeat_permutations: int = analysis.TRAINING_PERMUTATIONS) -> Forecaster:
    """Fit one LightGBM model per target on every period before ``at``.

    Parameters
    ----------
    events : DataFrame
        Events frame (see :func:`run_backtest`).
    at : date-like, optional
        Cut-off; the model forecasts the period starting at (or containing) ``at``.
        Default: the period after the last incident.
    patrolled : callable, optional
        The feedback-loop guard's mask of patrolled cell-periods (:data:`PatrolMask`); the
        panel's counts recorded there are weighted ``1 / patrol_uplift`` (:func:`guard_panel`).
        Each model's metadata records the guard under ``"patrol_guard"``.
    patrol_uplift : float, default fairness.DETECTION_UPLIFT
    distributed : bool, default False
        Train per spatial tile on the Dask cluster of the enclosing
        :func:`forecasting.scaleout.cluster` block; the models then also score per tile.
    near_repeat_days : int, optional
        When set, each target's near-repeat feature windows come from a Knox test of its
        incidents in the last ``near_repeat_days`` days before ``at``
        (:func:`forecasting.analysis.training_summary`, seeded with ``random_state``, then
        :func:`forecasting.analysis.feature_windows`; the builder's own windows when no band is
        significantly raised), and the test, Gi* and emerging hot spot summaries of the same window
        are recorded in each model's metadata under ``"analysis"``. ``None`` (default): the
        builder's windows as given, and ``"analysis"`` says the step was off.
    near_repeat_permutations : int, default analysis.TRAINING_PERMUTATIONS (199)

    Returns
    -------
    Forecaster
    """
    periods = Periods(as_spec(period))
    events = _prepare(events, periods.kind)
    ts = pd.to_datetime(events[OCCURRED_LOCAL])
    at = periods.floor([pd.Timestamp(at)])[0] if at is not None else \
        periods.start([periods.index([ts.max()])[0] + 1])[0]
    grid = _history_grid(events, at, cell_size=cell_size, crs=crs, boundary=boundary)
    panel = build_panel(events.loc[ts < at], grid, periods, targets=list(categories),
                        start=ts.min(), end=at)
    panel, guard = guard_panel(panel, patrolled, patrol_uplift, at=at)
    origin = panel.column(at)
    models = {}
    for target in panel.targets:
        builder, record = features, {"enabled": False}
        if near_repeat_days is not None:
            # Knox (and hot spot) statistics of the training incidents only: strictly before `at`.
            record = {"enabled": True, **analysis.training_summary(
                events.loc[ts < at], before=at, category=target, days=near_repeat_days,
                permutations=near_repeat_permutations, random_state=random_state, grid=grid)}
            base = features or FeatureBuilder()
            nr = record["near_repeat"] or {}
            win = analysis.NearRepeatWindow(**nr["window"]) if nr.get("window") else None
            chosen = analysis.feature_windows(win, cell_size=grid.cell_size, half_lives_days=base.half_lives_days)
            builder = replace(base, **chosen)
            record["feature_windows"] = {"half_lives_days": list(chosen["half_lives_days"]),
                                         "near_repeat_ring": chosen["near_repeat_ring"],
                                         "chosen_from": "knox" if win is not None else "defaults"}
        models[target] = _lgbm_class(distributed)(random_state=random_state, features=builder,
                                                  **(lgbm_params or {})).fit(panel.for_target(target), origin)
        models[target].metadata_["patrol_guard"] = dict(guard)
        models[target].metadata_["analysis"] = record
    return Forecaster(grid, periods, at, models)


def forecast(events: pd.DataFrame, *, at, period: str | PeriodSpec = "week", category: str = ALL_CATEGORIES,
             top: int = 20, forecaster: Forecaster | None = None, cell_size: float = DEFAULT_CELL_SIZE,
             crs: Any = None, boundary: Any = None, random_state: int = 0,
             patrolled: PatrolMask | None = None,
             patrol_uplift: float = fairness.DETECTION_UPLIFT,
             top_k: int | None = None) -> pd.DataFrame:
    """Score every cell for the period at ``at`` and return the top cells with reasons.

    Fits on all history before ``at`` unless a fitted ``forecaster`` is given (then only its
    grid is used and incidents before ``at`` feed the features). ``patrolled`` applies the
    feedback-loop guard (:func:`guard_panel`) to the history the features read, as in training.
    ``top_k`` (default ``top``) is the ``k`` of the ``top_k_chance`` column.

    Returns
    -------
    DataFrame
        ``rank``, ``cell_id``, ``longitude``, ``latitude`` (cell centre), ``expected``,
        ``probability`` (calibrated P(at least one incident)), ``top_k_chance`` (chance the
        cell is among the ``top_k`` busiest cells of the period, seeded Monte Carlo:
        :func:`forecasting.model.top_k_chance`),
        ``reasons`` (list of str), ``reason_text``, ``period_start``.
    """
    periods = Periods(as_spec(period))
    at = periods.floor([pd.Timestamp(at)])[0]
    if forecaster is None:
        forecaster = train(events, at=at, period=period, cell_size=cell_size,
                           categories=[] if category == ALL_CATEGORIES else [category], crs=crs,
                           boundary=boundary, random_state=random_state, patrolled=patrolled,
                           patrol_uplift=patrol_uplift)
    if category not in forecaster.models:
        raise ConfigError(f"category must be one of {list(forecaster.models)}; got {category!r}")
    events = _prepare(events, periods.kind)
    ts = pd.to_datetime(events[OCCURRED_LOCAL])
    hist = events.loc[ts < at]
    if hist.empty:
        raise DataError(f"no incident before at={at}; cannot forecast")
    targets = [] if category == ALL_CATEGORIES else [category]
    panel = build_panel(hist, forecaster.grid, forecaster.periods, targets=targets,
                        start=pd.to_datetime(hist[OCCURRED_LOCAL]).min(), end=at)
    panel, _ = guard_panel(panel, patrolled, patrol_uplift, at=at)
    pt = panel.for_target(category)
    origin = panel.column(at)
    model = forecaster.models[category]
    mu = model.predict_risk(pt, origin)
    best = np.argsort(-mu, kind="stable")[:top]
    ex = model.explain(pt, origin, cells=best)
    # Over every cell: whether a cell makes the top depends on all the others.
    chance = top_k_chance(model.probability_from_mean(mu), max(top if top_k is None else top_k, 1),
                          random_state=random_state)
    ex.insert(ex.columns.get_loc("probability") + 1, "top_k_chance", chance[best])
    cx, cy = forecaster.grid.centroids_xy
    lon, lat = forecaster.grid.to_lonlat(cx[best], cy[best])
    ex.insert(0, "rank", np.arange(1, len(best) + 1))
    ex.insert(2, "longitude", lon)
    ex.insert(3, "latitude", lat)
    ex["period_start"] = at.date()
    return ex


def forecast_models(period: str | PeriodSpec) -> list[str]:
    """Model names :func:`baseline_forecasts` (and ``lgbm``) can forecast ``period`` with.

    ``lgbm`` first, then every baseline of :func:`make_models` at that period that is a forecast
    (the references ``hindsight`` and ``rate_oracle`` read the future and are left out).

    Examples
    --------
    >>> forecast_models("week")[:3]
    ['lgbm', 'naive', 'historical_13']
    >>> "tod_shrunk" in forecast_models("shift"), "tod_shrunk" in forecast_models("week")
    (True, False)
    """
    models = make_models([m for m in DEFAULT_MODELS if m != "lgbm"], period=period)
    return ["lgbm", *(n for n, m in models.items() if getattr(m, "is_forecast", True))]


@dataclass
class BaselineForecasts:
    """What :func:`baseline_forecasts` returns: the grid, the fitted estimator and one frame per period.

    Each frame has ``cell_id``, ``expected`` (the estimator's expected count), ``probability``
    (``1 - exp(-expected)``: the chance of at least one incident if counts are Poisson),
    ``top_k_chance`` (:func:`forecasting.model.top_k_chance` of those probabilities) and
    ``reason`` (one sentence); ``starts`` are the periods' local starts.
    """

    grid: Grid
    model: Any
    starts: list
    frames: list


def baseline_forecasts(events: pd.DataFrame, name: str, *, first, count: int = 1,
                       period: str | PeriodSpec = "week", category: str = ALL_CATEGORIES,
                       cell_size: float = DEFAULT_CELL_SIZE, top_k: int = 20) -> BaselineForecasts:
    """Forecast ``count`` periods from ``first`` with the baseline ``name`` of :func:`make_models`.

    The estimator is fitted on the panel of incidents before ``first`` (the study area of
    :func:`panel_for`) and each period is scored by ``predict_risk`` from the columns before it,
    the protocol of the backtest. Periods after the data see no incident after its end.

    Raises
    ------
    ConfigError
        When ``name`` is not in :func:`forecast_models` (``lgbm`` has its own :func:`train`).
    """
    spec = as_spec(period)
    periods = Periods(spec)
    choices = forecast_models(spec)[1:]
    if name not in choices:
        raise ConfigError(f"model must be one of {['lgbm', *choices]}; got {name!r}")
    model = make_models([name], period=spec)[name]
    first = periods.floor([pd.Timestamp(first)])[0]
    starts = [periods.start([periods.index([first])[0] + i])[0] for i in range(count)]
    targets = [] if category == ALL_CATEGORIES else [category]
    panel = panel_for(events, start=first, end=starts[-1], period=spec, cell_size=cell_size,
                      categories=targets).for_target(category)
    model.fit(panel, panel.column(first))
    frames = []
    for start in starts:
        origin = panel.column(start)
        mu = np.clip(np.asarray(model.predict_risk(panel, origin), dtype=np.float64), 0.0, None)
        frames.append(pd.DataFrame({
            "cell_id": np.asarray(panel.grid.cell_ids).astype(str), "expected": mu,
            "probability": -np.expm1(-mu), "top_k_chance": top_k_chance(-np.expm1(-mu), max(int(top_k), 1)),
            "reason": _baseline_reasons(model, name, panel, origin, mu),
        }))
    return BaselineForecasts(panel.grid, model, starts, frames)


def _baseline_reasons(model, name: str, panel: Panel, origin: int, mu: np.ndarray) -> np.ndarray:
    """One sentence per cell: the same-slot history :class:`TimeOfDayShrunk` reads, else the model."""
    if isinstance(model, TimeOfDayShrunk):
        same, days = model.slot_history(panel, origin)
        slot = "weekday and " if model.weekday else ""
        unit = {"shift": "shift", "hour": "hour"}.get(panel.periods.kind, "day")
        return np.char.add(same.astype(str), f" incident(s) in this cell in this {slot}{unit} of the day over the "
                           f"past {days:g} days (model {name}, city profile shrinkage alpha "
                           f"{getattr(model, 'alpha_', float('nan')):.3g})")
    return np.char.add(np.char.add(f"model {name}: ", np.round(mu, 3).astype(str)),
                       " incident(s) expected in this period")


def panel_for(events: pd.DataFrame, *, start, end, period: str | PeriodSpec = "week",
              cell_size: float = DEFAULT_CELL_SIZE, categories: Sequence[str] = (), crs: Any = None,
              boundary: Any = None) -> Panel:
    """The panel :func:`run_backtest` would build (study area from incidents before ``start``)."""
    periods = Periods(as_spec(period))
    events = _prepare(events, periods.kind)
    s = periods.floor([pd.Timestamp(start)])[0]
    grid = _history_grid(events, s, cell_size=cell_size, crs=crs, boundary=boundary)
    return build_panel(events, grid, periods, targets=list(categories),
                       start=pd.to_datetime(events[OCCURRED_LOCAL]).min(), end=end)
