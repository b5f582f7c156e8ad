"""Context ablation: LightGBM with and without activity/place features, PAI@1%/5%.

Run: ``uv run python benchmarks/bench_context_ablation.py [chicago|simulated|all] [--cell-size M] [--lgbm JSON]``.

* ``chicago``: aggravated assaults, weekly forecasts for 2018-2019 (history from 2014); activity
  sites are the CTA 'L' stations (daily entries, view = a circle of ``--station-range`` metres);
  places are the L stops and police stations.
* ``simulated``: the simulated city (``forecasting.simulate``, seed 0, 730 days), weekly
  forecasts for the last 30 weeks; cameras, hourly counts and places from the generator.

Everything goes through the library (adapters, context builder, ``run_backtest``), without the
database. Prints one JSON line per case.
"""

from __future__ import annotations

import argparse
import functools
import json
import time
import warnings
from pathlib import Path

import pandas as pd
import shapely

from forecasting.config import DEFAULT_CELL_SIZE
from forecasting.context import build_context
from forecasting.ingest.cameras import camera_adapter, read_cameras, view_polygons
from forecasting.ingest.counts import count_adapter, read_counts
from forecasting.ingest.places import read_places
from forecasting.workflows import BacktestOptions, run_backtest

DATA = Path("/work/shared/data")


def _concat(chunks, attr):
    return pd.concat([getattr(c, attr) for c in chunks], ignore_index=True)


def _chicago(station_range: float):
    raw = pd.read_csv(DATA / "chicago" / "chicago_aggravated_assaults.csv.gz").dropna(subset=["longitude", "latitude"])
    ev = pd.DataFrame({"occurred_local": pd.to_datetime(raw.date, format="%Y-%m-%d %H:%M"),
                       "longitude": raw.longitude.to_numpy(float), "latitude": raw.latitude.to_numpy(float),
                       "category": "aggravated assault", "category_group": "assault", "time_resolution": "minute"})
    ev = ev[ev.occurred_local >= "2014-01-01"]
    entries = DATA / "chicago" / "cta_L_station_daily_entries_2001_2021.csv.gz"
    cams = _concat(read_cameras(entries, camera_adapter("chicago-cta"), tz="America/Chicago",
                                default_range_m=station_range), "cameras").drop_duplicates("camera_id")
    counts = _concat(read_counts(entries, count_adapter("chicago-cta"), default_tz="America/Chicago"), "counts")
    counts = counts[counts.period_start >= pd.Timestamp("2013-01-01", tz="UTC")].drop_duplicates(
        ["camera_id", "period_start"])
    places = pd.concat([
        _concat(read_places(DATA / "chicago" / "CTA_L_Stops.csv", category="rail_station"), "rows"),
        _concat(read_places(DATA / "chicago" / "Police_Stations.csv", category="police_station"), "rows")])
    ctx = functools.partial(build_context, tz="America/Chicago", cameras=cams, counts=counts, places=places,
                            near_bandwidth_m=station_range)
    return ev, ctx, dict(start="2018-01-01", end="2019-12-31")


def _simulated():
    from forecasting.simulate import SimulationConfig, simulate_city

    city = simulate_city(SimulationConfig(seed=0, days=730))
    tz = city.config.tz
    inc = city.incidents
    ev = pd.DataFrame({"occurred_local": inc.occurred_at.dt.tz_convert(tz).dt.tz_localize(None),
                       "longitude": inc.longitude, "latitude": inc.latitude, "category": inc.category,
                       "category_group": inc.category})
    c = city.cameras
    cams = c.assign(view_wkt=shapely.to_wkt(view_polygons(c.longitude, c.latitude, c.heading_deg, c.fov_deg,
                                                         c.range_m)))
    ctx = functools.partial(build_context, tz=tz, cameras=cams, counts=city.counts.assign(resolution="hour"),
                            places=city.places)
    return ev, ctx, dict(start="2024-06-03", end="2024-12-30")


def ablation(events, context, *, start, end, cell_size: float, lgbm_params: dict | None = None) -> dict:
    """PAI and deviance of LightGBM without and with context features (same grid, same split)."""
    out = {}
    for use in (False, True):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            options = BacktestOptions(start=start, end=end, period="week", cell_size=cell_size, models=["lgbm"],
                                      context=context, n_boot=200, plots=False,
                                      lgbm_params={"use_context": use, **(lgbm_params or {})})
            run = run_backtest(events, options, out_dir=f"/tmp/crimecast_ablation_{use}")
        m = run.summary["targets"]["all"]["models"]["lgbm"]
        out["with_context" if use else "without_context"] = {
            "pai@1%": round(m["pai@1%"], 3), "pai@5%": round(m["pai@5%"], 3),
            "hit_rate@5%": round(m["hit_rate@5%"], 4), "poisson_deviance": round(m["poisson_deviance"], 5),
            "seconds": round(time.perf_counter() - t0, 1)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("case", nargs="?", default="all", choices=["chicago", "simulated", "all"])
    ap.add_argument("--cell-size", type=float, default=DEFAULT_CELL_SIZE)
    ap.add_argument("--station-range", type=float, default=400.0)
    ap.add_argument("--lgbm", type=json.loads, default={},
                    help='Extra LGBMRiskModel settings as JSON, e.g. \'{"n_jobs": 1}\' on a busy machine.')
    args = ap.parse_args()
    cases = ["simulated", "chicago"] if args.case == "all" else [args.case]
    for case in cases:
        t0 = time.perf_counter()
        ev, ctx, split = _chicago(args.station_range) if case == "chicago" else _simulated()
        res = ablation(ev, ctx, cell_size=args.cell_size, lgbm_params=args.lgbm, **split)
        print(json.dumps({"case": case, "cell_size": args.cell_size, **split, **res,
                          "total_s": round(time.perf_counter() - t0, 1)}), flush=True)


if __name__ == "__main__":
    main()
