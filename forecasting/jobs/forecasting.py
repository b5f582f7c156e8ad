"""Forecasting jobs: train, issue forecasts and backtest from the stored incidents.

Composition: loads incidents from the store, calls :mod:`forecasting.workflows`, stores
grids, cells, model versions, forecast runs and backtests, and reports progress into a
``tasks`` row when one is given (the dashboard starts these jobs in the background).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session, sessionmaker

from forecasting import scaleout, workflows
from forecasting.config import Settings
from forecasting.errors import ConfigError, DataError
from forecasting.grid import Grid, utm_crs
from forecasting.jobs.database import ensure_database
from forecasting.jobs.ingest import IngestSummary, ingest_incidents
from forecasting.periods import Periods, PeriodSpec, as_spec
from forecasting.schema import ALL_CATEGORIES, OCCURRED_LOCAL, TZ, events_from_incidents
from forecasting.store import backtests as backtests_repo
from forecasting.store import forecasts as fstore
from forecasting.store import grids as grids_repo
from forecasting.store import model_versions as versions_repo
from forecasting.store import repository as repo
from forecasting.store import tasks as tasks_repo
from forecasting.store.governance import record_audit
from forecasting.store.session import make_engine, make_session_factory, transaction


@dataclass
class StoredEvents:
    """Events loaded from the store, with their time zone and a hash identifying the input."""

    events: pd.DataFrame
    tz: str
    data_hash: str
    last_local: pd.Timestamp


def load_events(factory: sessionmaker[Session], *, sources: Sequence[str] | None = None) -> StoredEvents:
    """All stored incidents of ``sources`` as an events frame (local time of their source)."""
    with transaction(factory) as s:
        incidents = repo.load_incidents(session=s, sources=sources)
    if incidents.empty:
        raise DataError("no incidents are stored; run `crimecast ingest incidents` first")
    zones = incidents[TZ].unique()
    if len(zones) > 1:
        raise DataError(
            f"stored incidents span several time zones {sorted(zones)}; choose one city with --source"
        )
    events = events_from_incidents(incidents)
    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(incidents[["incident_id", "source"]], index=False).to_numpy().tobytes())
    return StoredEvents(events, str(zones[0]), digest.hexdigest(), pd.Timestamp(events[OCCURRED_LOCAL].max()))


def store_grid(session: Session, grid: Grid) -> int:
    """Store a grid and its cells (idempotent); returns the grid id.

    Grids with the same parameters are one grid (a second weekly forecast reuses it); cells a
    larger extent brings are added, stored cells never change.
    """
    kind = getattr(grid, "kind", "square")
    params = dict(kind=kind, crs=grid.crs.to_string(),
                  cell_size=float(grid.cell_size) if getattr(grid, "cell_size", None) else None,
                  h3_resolution=getattr(grid, "resolution", None))
    grid_id = grids_repo.upsert_grid(
        session=session, key=grids_repo.grid_key(**params), origin_x=0.0, origin_y=0.0, **params,
    )
    polys = grid.polygons("EPSG:4326")
    # Centroids are taken in the metric CRS, then projected: a projected square's centre.
    cx, cy = grid.centroids_xy
    lon, lat = grid.to_lonlat(cx, cy)
    cells = pd.DataFrame({
        "cell_id": np.asarray(grid.cell_ids).astype(str),
        "row": getattr(grid, "row", np.full(grid.n_cells, -1)),
        "col": getattr(grid, "col", np.full(grid.n_cells, -1)),
        "centroid_lon": lon, "centroid_lat": lat, "area_m2": grid.areas,
        "polygon_wkt": polys.geometry.to_wkt(rounding_precision=7).to_numpy(),
    })
    grids_repo.save_cells(session=session, grid_id=grid_id, cells=cells)
    return grid_id


def grid_crs(factory: sessionmaker[Session], grid_id: int) -> str | None:
    """The projected CRS a stored grid is drawn in: its stored CRS, else the UTM zone of its cells.

    Grids stored without a CRS get the zone of their cells' extent (what they were built in by
    default). ``None`` for an unknown grid or one without cells.
    """
    with transaction(factory) as s:
        grid = grids_repo.get_grid(session=s, grid_id=int(grid_id))
        if grid is None:
            return None
        if grid.crs:
            return str(grid.crs)
        cells = grids_repo.cells_frame(session=s, grid_id=int(grid_id))
    if cells.empty:
        return None
    return utm_crs(cells["centroid_lon"].to_numpy(float), cells["centroid_lat"].to_numpy(float)).to_string()


class _Progress:
    """Reports to a task row (own short transactions) and to an optional callback."""

    def __init__(self, factory, task_id: int | None, say: Callable[[str], None] | None) -> None:
        self.factory, self.task_id, self.say = factory, task_id, say

    def __call__(self, message: str, fraction: float | None = None) -> None:
        if self.say:
            self.say(message)
        if self.task_id is not None:
            with transaction(self.factory) as s:
                tasks_repo.update_task(session=s, task_id=self.task_id, progress=fraction, message=message[:500])

    def start(self) -> None:
        if self.task_id is not None:
            with transaction(self.factory) as s:
                tasks_repo.update_task(session=s, task_id=self.task_id, status="running", progress=0.0)

    def finish(self, result: dict | None = None, error: str | None = None) -> None:
        if self.task_id is not None:
            with transaction(self.factory) as s:
                tasks_repo.update_task(
                    session=s, task_id=self.task_id, status="failed" if error else "succeeded",
                    progress=1.0 if not error else None, message=error, result=result,
                )


def _run_as_task(factory, task_id, say, body):
    progress = _Progress(factory, task_id, say)
    progress.start()
    try:
        result = body(progress)
    except BaseException as exc:
        progress.finish(error=str(exc) or type(exc).__name__)
        raise
    progress.finish(result=result if isinstance(result, dict) else None)
    return result


def patrol_guard(factory: sessionmaker[Session], settings: Settings, tz: str) -> workflows.PatrolMask | None:
    """The feedback-loop guard's mask source for :func:`workflows.train`, or ``None`` when it is off.

    Reads the stored patrol visits (``crimecast export patrol`` stores them before the shift)
    for the panel's periods, given in the incidents' local time ``tz``, via
    :func:`forecasting.jobs.governance.patrolled_mask`.

    Examples
    --------
    Skipped in the test run: it needs a migrated database (``factory``) and an incidents frame.

    >>> workflows.train(events, patrolled=patrol_guard(factory, settings, "UTC"))  # doctest: +SKIP
    """
    if not settings.patrol_guard:
        return None
    from forecasting.jobs.governance import patrolled_mask

    def mask(cell_ids, period_starts, period_length):
        starts = pd.DatetimeIndex(period_starts)
        # Local period starts to UTC; a period spanning a DST change is an hour off at its end,
        # which moves at most the visits in that hour.
        utc = starts.tz_localize(ZoneInfo(tz), ambiguous=np.ones(len(starts), bool),
                                 nonexistent="shift_forward").tz_convert("UTC")
        return patrolled_mask(factory, cell_ids, utc, period_length)

    return mask


def _guard_params(meta: dict, spec: PeriodSpec):
    """Model-version params with the guard's record (applied, incidents discounted), the training
    analyses (Knox near repeats, chosen feature windows, hot spots) and the period layout beside them.

    ``period_spec`` is what readers of the version's forecast runs rebuild the periods from
    (:meth:`PeriodSpec.from_dict`), so a shift forecast is never read with another layout.
    """
    return _jsonable({**(meta.get("params") or {}), "patrol_guard": meta.get("patrol_guard"),
                      "analysis": meta.get("analysis"), "period_spec": spec.to_dict()})


def period_spec(settings: Settings, period: str | PeriodSpec) -> PeriodSpec:
    """``period`` as a :class:`PeriodSpec`; a string takes the settings' shift layout.

    The one conversion of the CLI's ``--period`` string (and the dashboard's) into a spec.

    Examples
    --------
    >>> str(period_spec(Settings(shift_start=22, _toml_file=None), "shift"))
    'shift:22+8'
    """
    if isinstance(period, PeriodSpec):
        return period
    return PeriodSpec.parse(period, shift_start=settings.shift_start, shift_hours=settings.shift_hours)


def _near_repeat_line(record: dict | None) -> str | None:
    """One line on the training Knox test and the feature windows it chose (None when the step was off)."""
    if not (record or {}).get("enabled"):
        return None
    nr, fw = record.get("near_repeat") or {}, record.get("feature_windows") or {}
    finding = nr.get("sentence") or nr.get("note") or "no near-repeat window"
    return (f"{finding} (Knox test, {record.get('start', '')[:10]} to {record.get('end', '')[:10]}); feature "
            f"half-lives {', '.join(f'{h:g}' for h in fw.get('half_lives_days', []))} days, ring "
            f"{fw.get('near_repeat_ring', 1)} cell(s) ({fw.get('chosen_from', 'defaults')})")


def near_repeat_options(settings: Settings) -> dict:
    """:func:`workflows.train` options of the near-repeat step (off when ``near_repeat_knox`` is false)."""
    return {"near_repeat_days": settings.near_repeat_days if settings.near_repeat_knox else None,
            "near_repeat_permutations": settings.near_repeat_permutations}


@contextlib.contextmanager
def compute(settings: Settings, scheduler: str | None = None):
    """Where train, forecast and backtest compute: yields ``distributed`` for :mod:`forecasting.workflows`.

    ``scheduler`` (else the ``dask_scheduler`` setting) ``"local"`` starts a LocalCluster of
    ``dask_workers`` workers capped at ``dask_memory_limit``; an address joins a running
    scheduler; unset yields ``False`` and nothing Dask is imported (one process, as ever).
    """
    scheduler = scheduler or settings.dask_scheduler
    if not scheduler:
        yield False
        return
    with scaleout.cluster(scheduler, workers=settings.dask_workers, memory_limit=settings.dask_memory_limit,
                          tile=settings.dask_tile_cells):
        yield True


def _utc(ts: pd.Timestamp, tz: str) -> datetime:
    return pd.Timestamp(ts).tz_localize(ZoneInfo(tz), ambiguous=True, nonexistent="shift_forward").tz_convert(
        "UTC").to_pydatetime()


# ------------------------------------------------------------------------ train
def train(
    factory: sessionmaker[Session], settings: Settings, *, period: str | PeriodSpec = "week", at=None,
    categories: Sequence[str] = (), cell_size: float | None = None, sources: Sequence[str] | None = None,
    user: str | None = None, task_id: int | None = None, say: Callable[[str], None] | None = None,
    scheduler: str | None = None,
) -> dict:
    """Fit one LightGBM model per target on all stored history before ``at``; store the versions.

    Returns a dict with ``model_version_ids`` (target -> id), ``artifact`` (directory) and ``at``.
    A string ``period`` takes its shift layout from the settings (``shift_start``, ``shift_hours``).
    ``scheduler`` (default: the ``dask_scheduler`` setting) trains on a Dask cluster (:func:`compute`).
    """

    def body(progress):
        stored = load_events(factory, sources=sources)
        spec = period_spec(settings, period)  # a bad period fails inside the task
        kind = spec.kind
        progress(f"training {kind} models on {len(stored.events):,} incidents", 0.1)
        with compute(settings, scheduler) as distributed:
            forecaster = workflows.train(
                stored.events, at=at, period=spec, cell_size=cell_size or settings.cell_size,
                categories=list(categories), random_state=0,
                patrolled=patrol_guard(factory, settings, stored.tz), patrol_uplift=settings.patrol_uplift,
                distributed=distributed, **near_repeat_options(settings),
            )
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        directory = forecaster.save(settings.artifacts_dir() / "models" / f"{kind}-{stamp}")
        progress("storing model versions", 0.9)
        guard = _jsonable(next(iter(forecaster.metadata.values())).get("patrol_guard"))
        ids = {}
        with transaction(factory) as s:
            grid_id = store_grid(s, forecaster.grid)
            first = pd.Timestamp(stored.events[OCCURRED_LOCAL].min())
            for target, meta in forecaster.metadata.items():
                ids[target] = versions_repo.add_model_version(
                    session=s, name="lgbm", category=target, period=kind, grid_id=grid_id,
                    train_start=_utc(first, stored.tz), train_end=_utc(forecaster.at, stored.tz),
                    params=_guard_params(meta, spec), features=_jsonable(meta.get("features")),
                    metrics=_jsonable(meta.get("metrics")), data_hash=stored.data_hash,
                    artifact_path=str(directory), created_by=user,
                )
            record_audit(session=s, username=user or "cli", action="retrain", target=f"{kind} models",
                         details={"model_version_ids": ids, "at": str(forecaster.at), "patrol_guard": guard})
        return {"model_version_ids": ids, "artifact": str(directory), "at": str(forecaster.at),
                "patrol_guard": guard,
                "near_repeat": {t: _near_repeat_line(m.get("analysis")) for t, m in forecaster.metadata.items()}}

    return _run_as_task(factory, task_id, say, body)


def _jsonable(value):
    return json.loads(json.dumps(value, default=str)) if value is not None else None


# --------------------------------------------------------------------- forecast
def issue_forecasts(
    factory: sessionmaker[Session], settings: Settings, *, period: str | PeriodSpec = "week", at=None, count: int = 1,
    category: str = ALL_CATEGORIES, cell_size: float | None = None, sources: Sequence[str] | None = None,
    top: int = 20, user: str | None = None, task_id: int | None = None, say: Callable[[str], None] | None = None,
    scheduler: str | None = None, model: str = "lgbm",
) -> list[dict]:
    """Forecast ``count`` consecutive periods starting at ``at`` (default: the period after the data).

    ``model`` is ``lgbm`` (default) or a baseline of :func:`workflows.forecast_models` at the
    period (e.g. ``tod_shrunk``, the camera-priority risk of the Chicago benchmark); a baseline
    is stored the same way (:func:`_store_baseline`), so priority and the dashboard read it like
    any run.

    Each period is forecast only from incidents before it, by one model trained on the history
    before the first of them; every cell's expected count and probability are stored with
    the reasons in words. Periods after the data see no incident after the data's end: the
    first of them is the true forecast, so ``count`` > 1 is meant for periods inside the data
    (forecast versus observed). A string ``period`` takes its shift layout from the settings; the
    layout is stored with the model version (``params["period_spec"]``). ``scheduler`` (default: the
    ``dask_scheduler`` setting) trains and scores every cell per tile on a Dask cluster (:func:`compute`).
    """

    if model not in workflows.forecast_models(period_spec(settings, period)):
        raise ConfigError(f"--model must be one of {workflows.forecast_models(period_spec(settings, period))} "
                          f"at period {period_spec(settings, period).kind!r}; got {model!r}")

    def body(progress):
        with compute(settings, scheduler) as distributed:
            return forecast_body(progress, distributed)

    def forecast_body(progress, distributed):
        stored = load_events(factory, sources=sources)
        spec = period_spec(settings, period)  # a bad period fails inside the task
        kind = spec.kind
        periods = Periods(spec)
        if at is None:
            first = periods.start([periods.index([stored.last_local])[0] + 1])[0]
        else:
            first = periods.floor([pd.Timestamp(at)])[0]
        if model != "lgbm":
            return _store_baseline(factory, stored, spec, model=model, first=first, count=count,
                                   category=category, cell_size=cell_size or settings.cell_size, top=top,
                                   user=user, progress=progress)
        targets = [] if category == ALL_CATEGORIES else [category]
        progress(f"training the {kind} model on history before {first}", 0.05)
        guard = patrol_guard(factory, settings, stored.tz)
        forecaster = workflows.train(
            stored.events, at=first, period=spec, cell_size=cell_size or settings.cell_size,
            categories=targets, random_state=0, patrolled=guard, patrol_uplift=settings.patrol_uplift,
            distributed=distributed, **near_repeat_options(settings),
        )
        directory = forecaster.save(
            settings.artifacts_dir() / "models" / f"{kind}-{datetime.now(UTC):%Y%m%dT%H%M%S%f}")
        with transaction(factory) as s:
            grid_id = store_grid(s, forecaster.grid)
            meta = forecaster.metadata[category]
            version_id = versions_repo.add_model_version(
                session=s, name="lgbm", category=category, period=kind, grid_id=grid_id,
                train_start=_utc(stored.events[OCCURRED_LOCAL].min(), stored.tz),
                train_end=_utc(first, stored.tz), params=_guard_params(meta, spec),
                features=_jsonable(meta.get("features")), metrics=_jsonable(meta.get("metrics")),
                data_hash=stored.data_hash, artifact_path=str(directory), created_by=user,
            )
        out = []
        n_cells = forecaster.grid.n_cells
        for i in range(count):
            start = first + i * periods.length if kind != "week" else first + pd.Timedelta(weeks=i)
            progress(f"forecasting the {kind} from {start}", 0.1 + 0.85 * i / max(count, 1))
            frame = workflows.forecast(stored.events, at=start, period=spec, category=category,
                                       top=n_cells, top_k=top, forecaster=forecaster, patrolled=guard,
                                       patrol_uplift=settings.patrol_uplift)
            rows = pd.DataFrame({
                "cell_id": frame["cell_id"].astype(str), "expected_count": frame["expected"].astype(float),
                "probability": frame["probability"].astype(float), "score": frame["expected"].astype(float),
                "rank": frame["rank"].astype(int),
                "reasons": [list(r) if k < max(top, 200) else None for k, r in enumerate(frame["reasons"])],
            })
            with transaction(factory) as s:
                run_id = fstore.save_forecast(
                    session=s, frame=rows, grid_id=grid_id, model="lgbm", category=category, period=kind,
                    period_start=_utc(start, stored.tz), period_end=_utc(start + periods.length, stored.tz),
                    model_version_id=version_id, data_until=_utc(min(start, stored.last_local), stored.tz),
                )
            out.append({"run_id": run_id, "period_start": str(start), "top": frame.head(top)})
        return out

    return _run_as_task(factory, task_id, say, body)


#: How a baseline run's probabilities are read from its expected counts (stored with the run's version).
POISSON_READING = ("probability = 1 - exp(-expected_count): the chance of at least one incident "
                   "if the cell's count in the period is Poisson with the model's mean")


def _store_baseline(factory, stored: StoredEvents, spec: PeriodSpec, *, model: str, first, count: int,
                    category: str, cell_size: float, top: int, user, progress) -> list[dict]:
    """Fit baseline ``model`` before ``first``, store its version (no artifact) and one run per period."""
    progress(f"fitting the {model} baseline on history before {first}", 0.05)
    out = workflows.baseline_forecasts(stored.events, model, first=first, count=count, period=spec,
                                       category=category, cell_size=cell_size, top_k=top)
    periods = Periods(spec)
    params = _jsonable({**out.model.get_params(), "fitted_alpha": getattr(out.model, "alpha_", None),
                        "probability": POISSON_READING, "period_spec": spec.to_dict()})
    lon, lat = out.grid.to_lonlat(*out.grid.centroids_xy)
    results = []
    with transaction(factory) as s:  # one transaction: a failure stores no version and no run
        grid_id = store_grid(s, out.grid)
        version_id = versions_repo.add_model_version(
            session=s, name=model, category=category, period=spec.kind, grid_id=grid_id,
            train_start=_utc(stored.events[OCCURRED_LOCAL].min(), stored.tz), train_end=_utc(first, stored.tz),
            params=params, features=None, metrics={"probability": POISSON_READING},
            data_hash=stored.data_hash, artifact_path=None, created_by=user,
        )
        for start, frame in zip(out.starts, out.frames, strict=True):
            order = np.argsort(-frame["expected"].to_numpy(), kind="stable")
            ranked = frame.iloc[order].reset_index(drop=True)
            keep = np.arange(len(ranked)) < max(top, 200)
            rows = pd.DataFrame({
                "cell_id": ranked["cell_id"], "expected_count": ranked["expected"],
                "probability": ranked["probability"], "score": ranked["expected"],
                "rank": np.arange(1, len(ranked) + 1),
                "reasons": [[r] if k else None for r, k in zip(ranked["reason"], keep, strict=True)],
            })
            run_id = fstore.save_forecast(
                session=s, frame=rows, grid_id=grid_id, model=model, category=category, period=spec.kind,
                period_start=_utc(start, stored.tz), period_end=_utc(start + periods.length, stored.tz),
                model_version_id=version_id, data_until=_utc(min(start, stored.last_local), stored.tz),
            )
            head = order[:top]
            top_frame = pd.DataFrame({
                "rank": np.arange(1, len(head) + 1), "cell_id": ranked["cell_id"].to_numpy()[:top],
                "longitude": lon[head], "latitude": lat[head], "expected": ranked["expected"].to_numpy()[:top],
                "probability": ranked["probability"].to_numpy()[:top],
                "top_k_chance": ranked["top_k_chance"].to_numpy()[:top],
                "reasons": [[r] for r in ranked["reason"].to_numpy()[:top]],
                "reason_text": ranked["reason"].to_numpy()[:top], "period_start": pd.Timestamp(start).date(),
            })
            results.append({"run_id": run_id, "period_start": str(start), "top": top_frame})
    return results


# --------------------------------------------------------------------- backtest
def backtest(
    factory: sessionmaker[Session] | None, settings: Settings, options: workflows.BacktestOptions, *,
    out_dir: Path, incidents: Sequence[Path] = (), fmt: str = "canonical", scratch: bool = False,
    sources: Sequence[str] | None = None, dataset: str | None = None, user: str | None = None,
    task_id: int | None = None, say: Callable[[str], None] | None = None,
    on_ingest: Callable[[Path, IngestSummary], None] | None = None, scheduler: str | None = None,
) -> workflows.BacktestRun:
    """Backtest on stored incidents and record the backtest (settings, metrics, files) in the store.

    The one backtest job: the ``backtest`` and ``demo`` commands call it.

    Parameters
    ----------
    factory : sessionmaker or None
        The store the backtest is recorded in (and the incidents read from, unless ``scratch``);
        ``None`` with ``scratch`` records nothing.
    settings : Settings
    options : workflows.BacktestOptions
        The run's settings.
    out_dir : path
        Where :func:`forecasting.workflows.run_backtest` writes its files.
    incidents : sequence of path
        Incident files (format ``fmt``) ingested before the backtest; the backtest then uses
        their source only (unless ``sources`` names others).
    scratch : bool
        Ingest ``incidents`` into a throwaway database, deleted afterwards, and backtest on it,
        so the store at ``factory`` keeps only the record.
    sources : sequence of str, optional
        Only incidents of these sources.
    dataset : str, optional
        Names the data (e.g. ``"Vancouver PD incidents (real)"``) wherever the backtest is shown;
        default the sources.
    user, task_id, say
        Audit name, a ``tasks`` row to report progress into, a progress callback.
    on_ingest : callable, optional
        Receives each ingested file and its :class:`~forecasting.jobs.ingest.IngestSummary`.
    scheduler : str, optional
        Run ``lgbm`` on a Dask cluster (:func:`compute`); default the ``dask_scheduler`` setting.
    """
    if incidents:
        sources = list(sources or [fmt])
    dataset = dataset or (", ".join(sources) if sources else None)

    def body(progress):
        with tempfile.TemporaryDirectory(prefix="crimecast-backtest-") as tmp:
            source_db, engine = factory, None
            if scratch:
                url = f"sqlite:///{Path(tmp) / 'backtest.db'}"
                ensure_database(url)
                engine = make_engine(url)
                source_db = make_session_factory(engine)
            if source_db is None:
                raise ValueError("backtest needs a store to read incidents from (a factory or scratch=True)")
            for path in incidents:
                summary = ingest_incidents(source_db, settings, path, fmt)
                if on_ingest is not None:
                    on_ingest(Path(path), summary)
            stored = load_events(source_db, sources=sources)
            if engine is not None:
                engine.dispose()
        with compute(settings, scheduler) as distributed:
            return _run_and_record(factory, stored, replace(options, distributed=distributed), out_dir=out_dir,
                                   progress=progress, user=user, dataset=dataset)

    return _run_as_task(factory, task_id if factory is not None else None, say, body)


def _run_and_record(factory, stored: StoredEvents, options: workflows.BacktestOptions, *, out_dir, progress,
                    user, dataset) -> workflows.BacktestRun:
    n = {"i": 0}

    def say(msg: str) -> None:
        n["i"] += 1
        if progress:
            progress(msg, min(0.95, n["i"] / 200))

    run = workflows.run_backtest(stored.events, options, out_dir=out_dir, progress=say)
    if factory is not None:
        with transaction(factory) as s:
            backtests_repo.add_backtest(
                session=s, period=as_spec(options.period).kind, cell_size=options.cell_size,
                start=_utc(pd.Timestamp(options.start), stored.tz), end=_utc(pd.Timestamp(options.end), stored.tz),
                params=options.record(), metrics={**_jsonable(run.summary), "dataset": dataset},
                out_dir=str(Path(out_dir).resolve()), created_by=user,
            )
    return run
