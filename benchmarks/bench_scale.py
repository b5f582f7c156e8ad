"""Scale-out benchmark on a SIMULATED country: weekly features, training and one forecast of every cell on Dask.

Run (heavy: under the shared lock)::

    flock /tmp/crimecast-heavy.lock uv run --frozen python benchmarks/bench_scale.py --cities 4 --workers 1 2

The country is simulated (labelled so in every line printed): ``--cities`` cities of
:func:`forecasting.simulate.simulate_city` (``--city-km`` km squares, ``--per-day`` background
incidents a day, ``--years`` of history, each its own seed) on a lattice 55 km apart, one weekly
150 m grid over all of them. For each worker count it opens a ``LocalCluster`` capped at
``--memory-limit`` per worker and times, on the workers, the training of the LightGBM risk model
(:class:`forecasting.scaleout.DaskLGBMRiskModel`: scatter of the tiles, features and training
rows per tile, ``lightgbm.dask``) and one forecast of every cell (features and scores per tile).
Worker memory is read from the cluster (each worker's RSS, polled every 0.5 s) and compared with
the cap. Prints one JSON line per run with time per million cell-periods (cells x weeks of
history) and the per-tile costs (from the task stream) that docs/scaling.md projects from.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting import scaleout, workflows
from forecasting.periods import Periods
from forecasting.simulate import SimulationConfig, simulate_city


def simulated_country(cities: int, city_km: float, per_day: float, years: float, cache: Path | None) -> pd.DataFrame:
    """Events of ``cities`` simulated cities on a lattice 55 km apart (SIMULATED)."""
    key = f"country_{cities}x{city_km:g}km_{per_day:g}pd_{years:g}y.parquet"
    if cache and (cache / key).exists():
        return pd.read_parquet(cache / key)
    side = int(np.ceil(np.sqrt(cities)))
    frames = []
    for i in range(cities):  # one simulation per city; a handful to a few dozen
        r, c = divmod(i, side)
        cfg = SimulationConfig(seed=1000 + i, days=int(round(365.25 * years)), start="2021-01-04",
                               centre=(5.1 + 0.8 * (c - side / 2), 52.1 + 0.5 * (r - side / 2)),
                               size_m=city_km * 1000, n_centres=max(6, int(city_km * 1.5)),
                               n_bars=int(4 * city_km * city_km / 9), n_shops=int(5 * city_km * city_km / 9),
                               n_stations=max(14, int(city_km)), n_schools=max(30, int(city_km * 5)),
                               background_per_day=per_day, n_cameras=1)
        inc = simulate_city(cfg).incidents
        local = pd.to_datetime(inc["occurred_at"], utc=True).dt.tz_convert(cfg.tz).dt.tz_localize(None)
        frames.append(pd.DataFrame({"occurred_local": local, "longitude": inc["longitude"],
                                    "latitude": inc["latitude"], "category": inc["category"],
                                    "category_group": inc["category"]}))
    events = pd.concat(frames, ignore_index=True)
    if cache:
        cache.mkdir(parents=True, exist_ok=True)
        events.to_parquet(cache / key)
    return events


class MemoryWatch:
    """Peak RSS of every worker, read from the cluster every ``every`` seconds."""

    def __init__(self, client, every: float = 0.5) -> None:
        self.client, self.every, self.peak = client, every, {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        def rss():
            return psutil.Process().memory_info().rss

        while not self._stop.is_set():
            try:
                for addr, v in self.client.run(rss).items():
                    self.peak[addr] = max(self.peak.get(addr, 0), v)
            except Exception:  # noqa: BLE001 - a poll during shutdown; the next one counts
                pass
            self._stop.wait(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def run(panel, workers: int, memory_limit: str, tile: int, lgbm: dict | None = None) -> dict:
    from distributed import get_task_stream

    origin = panel.n_periods  # train on every week before the end, forecast the next one
    with scaleout.cluster("local", workers=workers, memory_limit=memory_limit, tile=tile) as c:
        limits = {a: v["limit"] for a, v in c.worker_memory().items()}
        with MemoryWatch(c.client) as watch, get_task_stream(c.client) as ts:
            t0 = time.perf_counter()
            model = scaleout.DaskLGBMRiskModel(**(lgbm or {})).fit(panel, origin)
            t1 = time.perf_counter()
            risk = model.predict_risk(panel, origin)
            t2 = time.perf_counter()
        restarts = sum(1 for a in c.client.scheduler_info()["workers"] if a not in limits)
    per = {}
    for task in ts.data:
        name = task["key"][0] if isinstance(task["key"], tuple) else str(task["key"])
        kind = name.split("-", 1)[0]
        d = sum(s["stop"] - s["start"] for s in task["startstops"] if s["action"] == "compute")
        per.setdefault(kind, []).append(d)
    cell_periods = panel.n_cells * panel.n_periods
    d = model.metadata["distributed"]
    return {
        "data": "SIMULATED country", "workers": workers, "memory_limit": memory_limit, "tile_cells": tile,
        "model_settings": lgbm or {},
        "tiles": d["tiles"], "cells": panel.n_cells, "weeks": panel.n_periods,
        "cell_periods_M": round(cell_periods / 1e6, 2), "train_rows": model.metadata["n_train_rows"],
        "fit_s": round(t1 - t0, 1), "scatter_s": d["scatter_s"], "rows_s": d["rows_s"], "train_s": d["train_s"],
        "forecast_s": round(t2 - t1, 1), "total_s": round(t2 - t0, 1),
        "s_per_M_cell_periods": round((t2 - t0) / (cell_periods / 1e6), 3),
        "per_tile_rows_s": round(float(np.mean(per.get("_tile_rows", [np.nan]))), 3),
        "per_tile_score_s": round(float(np.mean(per.get("_tile_scores", [np.nan]))), 3),
        "worker_peak_rss_GB": {a[-5:]: round(v / 1e9, 2) for a, v in sorted(watch.peak.items())},
        "worker_limit_GB": round(min(limits.values()) / 1e9, 2),
        "over_cap": any(v > limits.get(a, np.inf) for a, v in watch.peak.items()), "worker_restarts": restarts,
        "forecast_sum": round(float(risk.sum()), 1), "load": os.getloadavg()[0],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cities", type=int, default=4)
    ap.add_argument("--city-km", type=float, default=30.0)
    ap.add_argument("--per-day", type=float, default=165.0, help="background incidents a day per city")
    ap.add_argument("--years", type=float, default=5.0)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--memory-limit", default="4GB")
    ap.add_argument("--tile", type=int, default=scaleout.DEFAULT_TILE)
    ap.add_argument("--cache", type=Path, default=Path("var/bench_scale"))
    ap.add_argument("--lgbm", type=json.loads, default=None,
                    help='JSON of model settings, e.g. \'{"negative_rate": 0.02}\' (fewer zero rows: less memory)')
    ap.add_argument("--simulate-only", action="store_true", help="write the cached country and stop")
    args = ap.parse_args()
    t = time.perf_counter()
    events = simulated_country(args.cities, args.city_km, args.per_day, args.years, args.cache)
    t_sim = time.perf_counter() - t
    if args.simulate_only:
        print(json.dumps({"data": "SIMULATED country", "incidents": len(events), "simulate_s": round(t_sim, 1)}))
        return
    t = time.perf_counter()
    periods = Periods("week")
    end = pd.Timestamp(events["occurred_local"].max())
    at = periods.start([periods.index([end])[0]])[0]  # the last (partial) week is the one forecast
    panel = workflows.panel_for(events.loc[events["occurred_local"] < at], start=at, end=at - pd.Timedelta(1, "ns"))
    t_panel = time.perf_counter() - t
    print(json.dumps({"data": "SIMULATED country", "cities": args.cities, "city_km": args.city_km,
                      "incidents": len(events), "cells": panel.n_cells, "weeks": panel.n_periods,
                      "simulate_or_cache_s": round(t_sim, 1), "panel_s": round(t_panel, 1),
                      "load": os.getloadavg()[0]}), flush=True)
    del events
    for w in args.workers:
        print(json.dumps(run(panel, w, args.memory_limit, args.tile, args.lgbm)), flush=True)


if __name__ == "__main__":
    main()
