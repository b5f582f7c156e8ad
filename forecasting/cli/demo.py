"""``crimecast demo``: the sample city end to end, then the dashboard.

Two data sets, kept apart by their ``source``:

* ``vancouver``: a real cut of Vancouver PD incidents (data/sample), used for an honest
  backtest of every model against the field's baselines on real data;
* ``simulated``: a simulated city (clearly labelled) with incidents, cameras, hourly activity
  counts and places, because no public source has all three for one city. Forecasts, camera
  priority and patrol plans in the dashboard are for this city.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from forecasting.cli._common import factory, settings
from forecasting.cli.ingest import print_summaries
from forecasting.errors import InputError

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "data" / "sample"
DEMO_INCIDENTS = ("vancouver_4_neighbourhoods_2022_2024.csv.gz", "vancouver")


def _step(message: str) -> float:
    typer.secho(f"\n== {message}", bold=True)
    return time.perf_counter()


def _done(t0: float) -> None:
    typer.echo(f"   ({time.perf_counter() - t0:.1f} s)")


def demo(
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve the dashboard at the end.")] = True,
    host: Annotated[str, typer.Option(help="Address to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8050,
    days: Annotated[int, typer.Option(help="Days of simulated city history.")] = 730,
) -> None:
    """Prepare the sample city end to end (migrate, ingest, backtest, forecast, priorities), then serve."""
    from forecasting import jobs
    from forecasting.ingest import AdapterOptions
    from forecasting.jobs import cameras as cj
    from forecasting.jobs import forecasting as fj
    from forecasting.jobs import priority as pj
    from forecasting.simulate import SimulationConfig, simulate_city, write_city
    from forecasting.store import migrate

    cfg = settings()
    url = cfg.resolved_database_url()
    t = _step(f"database {url}")
    migrate.upgrade(url)
    session_factory = factory()
    _done(t)

    name, fmt = DEMO_INCIDENTS
    path = SAMPLE_DIR / name
    if not path.exists():
        raise InputError(f"bundled sample {path} is missing; is this a full checkout?")
    t = _step("real incidents: Vancouver sample (2022-2024, four neighbourhoods)")
    print_summaries([jobs.ingest_incidents(session_factory, cfg, path, fmt)])
    _done(t)

    t = _step("backtest on real data: weekly forecasts for the second half of 2024, every model")
    out = Path(cfg.data_dir) / "backtests" / "vancouver-sample-2024H2"
    run = fj.backtest_stored(session_factory, cfg, start="2024-07-01", end="2024-12-30", out_dir=out,
                             period="week", sources=["vancouver"], user="demo")
    typer.echo((out / "report.md").read_text().split("\n## ")[0])
    typer.echo(f"   report: {run.files['report']}")
    _done(t)

    t = _step(f"simulated city (labelled simulated): {days} days of incidents, cameras, counts and places")
    city_cfg = SimulationConfig(seed=0, days=days)
    files = write_city(simulate_city(city_cfg), Path(cfg.data_dir) / "simulated_city")
    summaries = [jobs.ingest_incidents(session_factory, cfg, files["incidents"], "canonical", source="simulated",
                                       options=AdapterOptions(tz=city_cfg.tz))]
    summaries.append(cj.ingest_cameras(session_factory, cfg, files["cameras"], "canonical", source="simulated"))
    summaries.append(cj.ingest_counts(session_factory, cfg, files["counts"], "canonical", source="simulated"))
    summaries.append(cj.ingest_places(session_factory, cfg, files["places"], category_column="category",
                                      source="simulated"))
    print_summaries(summaries)
    _done(t)

    t = _step("forecasts for the simulated city: the last 3 weeks and the next, the last 5 shifts and the next")
    for period, count in (("week", 4), ("shift", 6)):
        stored = fj.load_events(session_factory, sources=["simulated"])
        from forecasting.periods import Periods

        periods = Periods(period)
        next_start = periods.start([periods.index([stored.last_local])[0] + 1])[0]
        first = next_start - (count - 1) * periods.length
        runs = fj.issue_forecasts(session_factory, cfg, period=period, at=first, count=count,
                                  sources=["simulated"], user="demo")
        top = runs[-1]["top"].iloc[0]
        typer.echo(f"   {period}: {count} forecast runs; next {period} from {runs[-1]['period_start']}, top cell "
                   f"{top['cell_id']} expects {top['expected']:.2f} incidents: {'; '.join(top['reasons'][:2])}")
    _done(t)

    t = _step("camera priority and patrol plan for the next shift")
    priority = pj.camera_priority(session_factory, cfg, k=4)
    typer.echo(priority.as_text() if hasattr(priority, "as_text") else str(priority))
    try:
        check = pj.evaluate_camera_choice(session_factory, cfg, k=4)
        typer.echo(f"   share of the shift's incidents seen: {check}")
    except Exception as exc:  # noqa: BLE001 - the last shift may not be observed yet
        typer.echo(f"   (evaluation skipped: {exc})")
    plan = pj.patrol_plan(session_factory, cfg)
    typer.echo(f"   patrol plan: {len(plan.hotspots)} hotspots, {len(plan.visits)} visits")
    _done(t)

    import dashboards

    user, password = dashboards.ensure_demo_user(session_factory)
    typer.secho(f"\nDashboard account: {user} / {password}  (demo only; created afresh on every demo run)", bold=True)
    if serve:
        typer.echo(f"Serving the dashboard on http://{host}:{port} (Ctrl+C to stop)")
        dashboards.serve(cfg, host=host, port=port)
