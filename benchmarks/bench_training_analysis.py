"""Cost of the analyses training runs (``analysis.training_summary``) on a city's last year.

Run: ``uv run python benchmarks/bench_training_analysis.py vancouver|chicago [--category C] [--cut 2025-01-01]
[--days 365] [--permutations 199] [--max-pairs 500000] [--no-hot-spots]`` (under
``flock /tmp/crimecast-heavy.lock`` on the shared machine). Prints the seconds of each analysis (Knox,
Gi* + Local Moran's I, emerging hot spots), the pairs found and tested, the near-repeat finding, the
feature windows chosen from it, and the peak RSS. Times exclude reading the CSVs and building the grid
(printed separately); ``crimecast train`` pays this once per target.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import pandas as pd

from forecasting import analysis as A
from forecasting.config import DEFAULT_CELL_SIZE
from forecasting.grid import build_grid

sys.path.insert(0, str(Path(__file__).parent))
from bench_backtest import _load_chicago, _load_vancouver  # noqa: E402

LOADERS = {"vancouver": _load_vancouver, "chicago": _load_chicago}
CUTS = {"vancouver": "2025-01-01", "chicago": "2020-01-01"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("city", choices=sorted(LOADERS))
    ap.add_argument("--category", default="all")
    ap.add_argument("--cut", default=None, help="training cut-off (default: 2025-01-01 / 2020-01-01)")
    ap.add_argument("--days", type=int, default=A.TRAINING_DAYS)
    ap.add_argument("--permutations", type=int, default=A.TRAINING_PERMUTATIONS)
    ap.add_argument("--max-pairs", type=int, default=A.TRAINING_MAX_PAIRS, help="0: no bound")
    ap.add_argument("--cell-size", type=float, default=DEFAULT_CELL_SIZE)
    ap.add_argument("--no-hot-spots", action="store_true")
    a = ap.parse_args()
    cut = pd.Timestamp(a.cut or CUTS[a.city])
    t0 = time.perf_counter()
    ev = LOADERS[a.city]()
    ev = ev[ev.occurred_local < cut]
    grid = build_grid(ev.longitude.to_numpy(float), ev.latitude.to_numpy(float), cell_size=a.cell_size)
    print(f"{a.city}: {len(ev):,} incidents before {cut.date()}, {grid.n_cells:,} cells of {a.cell_size:g} m; "
          f"read + grid {time.perf_counter() - t0:.1f}s", flush=True)
    t0 = time.perf_counter()
    s = A.training_summary(ev, before=cut, category=a.category, days=a.days, permutations=a.permutations,
                           grid=grid, hot_spots=not a.no_hot_spots, max_pairs=a.max_pairs or None)
    total = time.perf_counter() - t0
    nr = s["near_repeat"]
    win = A.NearRepeatWindow(**nr["window"]) if nr.get("window") else None
    fw = A.feature_windows(win, cell_size=a.cell_size)
    print(f"category {a.category!r}, {s['start'][:10]} to {s['end'][:10]}: {nr.get('n_events', 0):,} incidents, "
          f"{nr.get('pairs_in_reach', 0):,} pairs within 450 m, {nr.get('pairs_tested', 0):,} tested, "
          f"{a.permutations} permutations")
    print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in s["seconds"].items()) + f"; total {total:.1f}")
    print(f"finding: {nr.get('sentence') or nr.get('note')}")
    print(f"feature windows: half-lives {fw['half_lives_days']} days, ring {fw['near_repeat_ring']} cell(s)")
    if s["hot_spots"]:
        print(f"hot spots: {s['hot_spots']}")
    if s["emerging"]:
        print(f"emerging: {s['emerging']}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")


if __name__ == "__main__":
    main()
