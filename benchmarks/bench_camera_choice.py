"""Benchmark: do the priority cameras see more of each shift's incidents than simple rules?

Two modes:

    uv run python benchmarks/bench_camera_choice.py chicago [--model historical] [--boot 10000]
    uv run python benchmarks/bench_camera_choice.py simulated [--shifts 42] [--k 4] [--days 730]

``chicago``: real data, the CTA 'L' stations as camera sites, every shift of 2018-2019 against
three rules and the hindsight optimum (see ``bench_camera_choice_chicago.py`` and
docs/priority_and_patrol.md). Its last line reads
``k=10: priority <share>, best rule <share> (<rule name>), p=<p>``.

``simulated``: on the simulated city (labelled simulated): issues one shift forecast per shift for the last
``--shifts`` shifts of the data (each from incidents before that shift only), then for every
shift compares the k cameras chosen by forecast risk with the k cameras that counted the most
people in the 28 days before the shift. Prints the pooled share of incidents seen by each.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from forecasting import jobs
from forecasting.config import load_settings
from forecasting.ingest import AdapterOptions
from forecasting.jobs import cameras as cj
from forecasting.jobs import forecasting as fj
from forecasting.jobs import priority as pj
from forecasting.patrol import shift_label
from forecasting.periods import Periods
from forecasting.simulate import SimulationConfig, simulate_city, write_city
from forecasting.store import migrate
from forecasting.store.session import make_engine, make_session_factory


def main() -> int:
    import bench_camera_choice_chicago as chicago

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    chicago.add_arguments(sub.add_parser("chicago", help="real data: Chicago CTA stations and assaults"))
    sim = sub.add_parser("simulated", help="the simulated city against the busiest cameras")
    sim.add_argument("--shifts", type=int, default=42)
    sim.add_argument("--k", type=int, default=4)
    sim.add_argument("--days", type=int, default=730)
    args = ap.parse_args()
    if args.mode == "chicago":
        return chicago.run(args)
    simulated(args)
    return 0


def simulated(args) -> None:
    """Pooled share of incidents seen by the priority cameras and by the busiest, on the simulated city."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_settings(data_dir=tmp)
        migrate.upgrade(cfg.resolved_database_url())
        factory = make_session_factory(make_engine(cfg.resolved_database_url()))
        city_cfg = SimulationConfig(seed=0, days=args.days)
        files = write_city(simulate_city(city_cfg), Path(tmp) / "city")
        jobs.ingest_incidents(factory, cfg, files["incidents"], "canonical", source="simulated",
                              options=AdapterOptions(tz=city_cfg.tz))
        cj.ingest_cameras(factory, cfg, files["cameras"], "canonical", source="simulated")
        cj.ingest_counts(factory, cfg, files["counts"], "canonical", source="simulated")
        stored = fj.load_events(factory)
        periods = Periods("shift")
        last = periods.index([stored.last_local])[0]
        first = periods.start([last - args.shifts + 1])[0]
        t0 = time.perf_counter()
        fj.issue_forecasts(factory, cfg, period="shift", at=first, count=args.shifts)
        t_fc = time.perf_counter() - t0
        seen_p = seen_b = total = 0
        wins = losses = 0
        for i in range(last - args.shifts + 1, last + 1):
            r = pj.evaluate_camera_choice(factory, cfg, shift=shift_label(i, periods), k=args.k)
            total += r["incidents"]
            seen_p += r["priority"]["seen"]
            seen_b += r["busiest"]["seen"]
            wins += r["priority"]["seen"] > r["busiest"]["seen"]
            losses += r["priority"]["seen"] < r["busiest"]["seen"]
        print(f"{args.shifts} shifts, k={args.k}: {total} incidents; priority cameras saw {seen_p} "
              f"({seen_p / max(total, 1):.1%}), the {args.k} busiest cameras saw {seen_b} "
              f"({seen_b / max(total, 1):.1%}); "
              f"priority better in {wins} shifts, worse in {losses}; forecasts took {t_fc:.0f} s")


if __name__ == "__main__":
    raise SystemExit(main())
