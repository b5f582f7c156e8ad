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


def _real_backtest(cfg) -> str:
    """Backtest on the real Vancouver sample in a throwaway database; record it in the main one.

    Kept out of the main database so that forecasts, cameras and patrol plans describe one city.
    Runs in a child process while the parent builds the simulated city (the two use both cores),
    so it returns what to print instead of printing.
    """
    from forecasting.jobs import forecasting as fj
    from forecasting.store.session import make_engine, make_session_factory
    from forecasting.workflows import BacktestOptions

    name, fmt = DEMO_INCIDENTS
    path = SAMPLE_DIR / name
    if not path.exists():
        raise InputError(f"bundled sample {path} is missing; is this a full checkout?")
    out = Path(cfg.data_dir) / "backtests" / "vancouver-sample-2024H2"
    # The parent may hold a long ingest transaction on the main database: wait for it rather than fail.
    main = make_session_factory(make_engine(cfg.resolved_database_url(), connect_args={"timeout": 900}))
    read = []
    run = fj.backtest(main, cfg, BacktestOptions(start="2024-07-01", end="2024-12-30", cell_size=cfg.cell_size),
                      out_dir=out, incidents=[path], fmt=fmt, scratch=True, user="demo",
                      dataset="Vancouver PD incidents (real data: 4 neighbourhoods)",
                      on_ingest=lambda p, s: read.append(
                          f"   {p.name}: read {s.rows_read:,}, loaded {s.loaded:,}, quarantined {s.quarantined:,}\n"))
    return ("".join(read) + (out / "report.md").read_text().split("![")[0] + f"\n   report: {run.files['report']}")


def demo(
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve the dashboard at the end.")] = True,
    host: Annotated[str, typer.Option(help="Address to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8050,
    days: Annotated[int, typer.Option(help="Days of simulated city history.")] = 730,
    backtest: Annotated[bool, typer.Option("--backtest/--no-backtest",
                                           help="Run the real-data (Vancouver) backtest.")] = True,
) -> None:
    """Prepare the sample city end to end (migrate, ingest, backtest, forecast, priorities), then serve."""
    from forecasting import jobs
    from forecasting.ingest import AdapterOptions
    from forecasting.jobs import cameras as cj
    from forecasting.jobs import forecasting as fj
    from forecasting.jobs import places as placej
    from forecasting.patrol import shift_label
    from forecasting.periods import Periods
    from forecasting.simulate import SIMULATED_PREFIX, SimulationConfig, simulate_city, write_city
    from forecasting.store import migrate
    from forecasting.streets import name_city_streets, write_streets

    cfg = settings()
    url = cfg.resolved_database_url()
    t = _step(f"database {url}")
    migrate.upgrade(url)
    session_factory = factory()
    _done(t)

    pending = None
    if backtest:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        _step("backtest on real data (Vancouver sample, weekly forecasts for the second half of 2024, every "
              "model): started in the background")
        t_backtest = time.perf_counter()
        pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        pending = pool.submit(_real_backtest, cfg)

    t = _step(f"simulated city (labelled simulated): {days} days of incidents, cameras, counts and places")
    city_cfg = SimulationConfig(seed=0, days=days)
    city = simulate_city(city_cfg)
    streets = name_city_streets(city)
    files = write_city(city, Path(cfg.data_dir) / "simulated_city")
    files["streets"] = write_streets(streets.lines(), files["incidents"].parent / f"{SIMULATED_PREFIX}streets.geojson")
    summaries = [jobs.ingest_incidents(session_factory, cfg, files["incidents"], "canonical", source="simulated",
                                       options=AdapterOptions(tz=city_cfg.tz))]
    summaries.append(cj.ingest_cameras(session_factory, cfg, files["cameras"], "canonical", source="simulated"))
    summaries.append(cj.ingest_counts(session_factory, cfg, files["counts"], "canonical", source="simulated"))
    summaries.append(cj.ingest_places(session_factory, cfg, files["places"], category_column="category",
                                      source="simulated"))
    summaries.append(placej.ingest_streets(session_factory, cfg, files["streets"], source="simulated", simulated=True))
    print_summaries(summaries)
    _done(t)

    if pending is not None:
        t = _step("backtest on real data: Vancouver sample (finishing in the background)")
        try:
            typer.echo(pending.result())
        finally:
            pool.shutdown()
        now = time.perf_counter()
        typer.echo(f"   ({now - t_backtest:.1f} s since it started; waited {now - t:.1f} s for it)")

    t = _step("forecasts: the last 3 weeks and the next one, the last 5 shifts and the next one")
    stored = fj.load_events(session_factory, sources=["simulated"])
    for period, count in (("week", 4), ("shift", 6)):
        periods = Periods(fj.period_spec(cfg, period))
        next_start = periods.start([periods.index([stored.last_local])[0] + 1])[0]
        runs = fj.issue_forecasts(session_factory, cfg, period=period, at=next_start - (count - 1) * periods.length,
                                  count=count, sources=["simulated"], user="demo")
        top = runs[-1]["top"].iloc[0]
        typer.echo(f"   {period}: {count} forecast runs; for the {period} from {runs[-1]['period_start']} the top "
                   f"cell {top['cell_id']} expects {top['expected']:.2f}: {'; '.join(top['reasons'][:2])}")
    _done(t)

    from forecasting.cli import priority as pc

    t = _step("cameras to watch in the next shift, and the check on the last observed shift")
    pc.priority_cameras(k=4)
    shifts = Periods(fj.period_spec(cfg, "shift"))  # the layout the shift forecasts were issued in
    label = shift_label(shifts.index([stored.last_local])[0], shifts)
    pc.priority_evaluate(shift=label, k=4)
    _done(t)

    t = _step("patrol plan for the next shift")
    export_dir = Path(cfg.data_dir) / "exports"
    export_dir.mkdir(parents=True, exist_ok=True)
    for fmt in ("csv", "pdf"):
        pc.export_patrol(fmt=fmt, out=export_dir / f"patrol_next_shift.{fmt}", user="demo")
    _done(t)

    import dashboards

    user, password = dashboards.ensure_demo_user(session_factory)
    typer.secho(f"\nDashboard account: {user} / {password}  (demo only; created afresh on every demo run)", bold=True)
    typer.echo(f"Command line on this data: CRIMECAST_DATA_DIR={cfg.data_dir} uv run crimecast priority cameras "
               "(see the README, 'After the demo')")
    if serve:
        typer.echo(f"Serving the dashboard on http://{host}:{port} (Ctrl+C to stop)")
        dashboards.serve(cfg, host=host, port=port)
