"""``crimecast train``, ``forecast`` and ``backtest``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from forecasting.cli._common import factory, settings
from forecasting.errors import ConfigError


def _check_period(value: str) -> str:
    # Checked while parsing, so a typo fails in a fraction of a second, before any data is read.
    from forecasting.schema import PERIODS

    if value not in PERIODS:
        raise ConfigError(f"period must be one of {list(PERIODS)}; got {value!r}")
    return value


PeriodOpt = Annotated[str, typer.Option("--period", help="week, day, shift or hour.", callback=_check_period)]
CategoryOpt = Annotated[list[str] | None, typer.Option("--category", help="A category target (repeatable).")]
TaskOpt = Annotated[int | None, typer.Option("--task-id", help="Report progress into this task row.")]
UserOpt = Annotated[str | None, typer.Option("--user", help="Who runs this (audit); default the OS user.")]
SourceOpt = Annotated[list[str] | None, typer.Option("--source", help="Only incidents of this source (repeatable).")]
SchedulerOpt = Annotated[str | None, typer.Option(
    "--scheduler", help="Run on Dask: 'local' (a LocalCluster; dask_workers, dask_memory_limit settings) or a "
    "scheduler address such as tcp://host:8786. Default: the dask_scheduler setting; unset: one process.")]


def _user(user: str | None) -> str:
    import getpass

    return user or getpass.getuser()


def _say(message: str) -> None:
    typer.echo(message, err=True)


def train(
    period: PeriodOpt = "week",
    at: Annotated[str | None, typer.Option(help="Cut-off date; default: after the latest incident.")] = None,
    category: CategoryOpt = None,
    cell_size: Annotated[float | None, typer.Option(help="Cell size in metres (default: settings).")] = None,
    source: SourceOpt = None,
    task_id: TaskOpt = None,
    user: UserOpt = None,
    scheduler: SchedulerOpt = None,
) -> None:
    """Fit LightGBM risk models on the stored incidents and record the model versions."""
    from forecasting.jobs import forecasting as fj

    result = fj.train(factory(), settings(), period=period, at=at, categories=category or [],
                      cell_size=cell_size, sources=source, user=_user(user), task_id=task_id, say=_say,
                      scheduler=scheduler)
    for target, vid in result["model_version_ids"].items():
        typer.echo(f"model version {vid}: lgbm, {period}, target {target!r}, trained on data before {result['at']}")
        if result.get("near_repeat", {}).get(target):
            typer.echo(f"  near repeats: {result['near_repeat'][target]}")
    typer.echo(f"artifacts: {result['artifact']}")


def forecast(
    period: PeriodOpt = "week",
    at: Annotated[str | None, typer.Option(help="First period to forecast; default: the one after the data.")] = None,
    count: Annotated[int, typer.Option(help="How many consecutive periods to forecast.")] = 1,
    category: Annotated[str, typer.Option(help="Target category, or 'all'.")] = "all",
    top: Annotated[int, typer.Option(help="How many top cells to print.")] = 10,
    cell_size: Annotated[float | None, typer.Option(help="Cell size in metres (default: settings).")] = None,
    source: SourceOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    task_id: TaskOpt = None,
    user: UserOpt = None,
    scheduler: SchedulerOpt = None,
    model: Annotated[str, typer.Option(
        help="lgbm, or a baseline of the backtest at this period (e.g. tod_shrunk), stored like an lgbm run.")
    ] = "lgbm",
) -> None:
    """Forecast every cell for the next period(s), store the scores, print the top cells with reasons."""
    import pandas as pd

    from forecasting.jobs import forecasting as fj
    from forecasting.jobs.places import run_labels

    if count < 1:
        raise ConfigError(f"count must be a positive integer; got {count}")
    session_factory = factory()
    runs = fj.issue_forecasts(session_factory, settings(), period=period, at=at, count=count, category=category,
                              cell_size=cell_size, sources=source, top=top, user=_user(user), task_id=task_id,
                              say=None if as_json else _say, scheduler=scheduler, model=model)
    for r in runs:
        # One period format everywhere: the run's local start, ISO 8601, on the run and on every cell.
        r["period_start"] = pd.Timestamp(r["period_start"]).isoformat()
        labels = run_labels(session_factory, run_id=r["run_id"])
        r["top"] = r["top"].assign(period_start=r["period_start"],
                                   label=r["top"]["cell_id"].astype(str).map(labels).astype(object))
    if as_json:
        typer.echo(json.dumps([
            {"run_id": r["run_id"], "period_start": r["period_start"],
             "top": json.loads(r["top"].drop(columns=["reason_text"], errors="ignore").to_json(
                 orient="records", date_format="iso"))}
            for r in runs
        ]))
        return
    for r in runs:
        typer.echo(f"{period} from {r['period_start']} (forecast run {r['run_id']}): top {top} cells")
        for row in r["top"].itertuples():
            where = f"{row.label} ({row.latitude:.5f}, {row.longitude:.5f})" if isinstance(row.label, str) \
                else f"{row.latitude:.5f}, {row.longitude:.5f}"
            typer.echo(f"{row.rank:>3}. cell {row.cell_id} at {where}: "
                       f"expected {row.expected:.2f} incidents, P(at least one) {row.probability:.0%}, "
                       f"P(among the top {top}) {row.top_k_chance:.0%}")
            for reason in row.reasons[:3]:
                typer.echo(f"       - {reason}")


def backtest(
    start: Annotated[str, typer.Option(help="First day of the backtest (inclusive).")],
    end: Annotated[str, typer.Option(help="Last day a forecast period may start on (inclusive).")],
    out: Annotated[Path, typer.Option("--out", help="Directory for cells.geojson, scores.parquet, metrics, report.")],
    incidents: Annotated[list[Path] | None, typer.Option("--incidents", help="Incident file(s) (repeatable).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="Format of --incidents.")] = "canonical",
    period: PeriodOpt = "week",
    cell_size: Annotated[float | None, typer.Option(help="Cell size in metres (default: settings).")] = None,
    category: CategoryOpt = None,
    models: Annotated[str, typer.Option(
        help="Comma-separated models (tod: time-of-day baselines, at day/shift/hour periods).")
    ] = "lgbm,naive,historical,kde,promap,sepp,tod",
    refit_every: Annotated[int, typer.Option(help="Refit the learned models every N periods.")] = 4,
    source: SourceOpt = None,
    task_id: TaskOpt = None,
    user: UserOpt = None,
    areas: Annotated[Path | None, typer.Option("--areas", help="Area layer (GeoJSON...) for the fairness "
                                               "shares by area.")] = None,
    area_field: Annotated[str, typer.Option("--area-field", help="Column naming each area.")] = "name",
    scheduler: SchedulerOpt = None,
) -> None:
    """Backtest every model on rolling origins and write the comparison (PAI, hit rate, PEI*).

    With --incidents, the files are ingested first (into the configured database, or into a
    throwaway one when no database_url is configured); without, the stored incidents are used.
    """
    from forecasting.jobs import forecasting as fj
    from forecasting.jobs.governance import read_area_layer
    from forecasting.workflows import BacktestOptions

    cfg = settings()
    options = BacktestOptions(
        start=start, end=end, period=fj.period_spec(cfg, period), cell_size=cell_size or cfg.cell_size,
        categories=tuple(category or ()),
        models=tuple(m.strip() for m in models.split(",") if m.strip()), refit_every=refit_every,
        areas=read_area_layer(areas, area_field) if areas else None,
    )
    # Files given and no database configured: a throwaway one, so the default location stays untouched.
    scratch = bool(incidents) and not cfg.database_url
    store = None if scratch else factory(create=bool(incidents))

    def ingested(path, summary):
        _say(f"{path.name}: read {summary.rows_read:,}, loaded {summary.loaded:,}, "
             f"duplicates {summary.duplicates:,}, quarantined {summary.quarantined:,}")

    run = fj.backtest(store, cfg, options, out_dir=out, incidents=incidents or (), fmt=fmt, scratch=scratch,
                      sources=source, user=_user(user), task_id=task_id, say=_say, on_ingest=ingested,
                      scheduler=scheduler)
    typer.echo((out / "report.md").read_text())
    typer.echo(f"files: {', '.join(str(p) for p in run.files.values())}")
