"""Feature-building throughput: cell-periods per second.

Run: ``uv run python benchmarks/bench_features.py``. Builds a synthetic panel of the size of
the Vancouver 150 m grid (and a larger one) and times :meth:`FeatureBuilder.transform` for
every origin column. Prints cells, periods, features, seconds, cell-periods per second and the
process's peak resident memory after each size (it includes the float32 output).
"""

from __future__ import annotations

import resource
import sys
import time

import numpy as np

from forecasting.features import FeatureBuilder, Panel
from forecasting.grid import Grid
from forecasting.periods import Periods


def synthetic_panel(n_rows: int, n_cols: int, n_periods: int, seed: int = 0) -> Panel:
    rng = np.random.default_rng(seed)
    cc, rr = np.meshgrid(np.arange(n_cols), np.arange(n_rows))
    g = Grid(crs="EPSG:32610", cell_size=150, col=cc.ravel() + 3000, row=rr.ravel() + 36000)
    rate = rng.gamma(0.3, 0.4, g.n_cells)
    y = rng.poisson(rate[:, None], (g.n_cells, n_periods)).astype(np.float32)
    other = rng.poisson(rate[:, None], (g.n_cells, n_periods)).astype(np.float32)
    p = Periods("week")
    return Panel(g, p, int(p.index(["2020-01-06"])[0]), {"all": y + other, "cat": y}, "cat")


def measure(n_rows: int, n_cols: int, n_periods: int, repeats: int = 3) -> dict:
    pan = synthetic_panel(n_rows, n_cols, n_periods)
    fb = FeatureBuilder(holidays_country="CA")
    cols = np.arange(1, n_periods + 1)
    fb.transform(pan, cols[:5])  # warm-up: imports and holiday tables
    best = np.inf
    X = None
    for _ in range(repeats):
        X = None  # free the previous output first: peak memory is one output, not two
        t0 = time.perf_counter()
        X, names = fb.transform(pan, cols)
        best = min(best, time.perf_counter() - t0)
    cp = pan.n_cells * len(cols)
    return {"cells": pan.n_cells, "periods": len(cols), "features": len(names), "seconds": best,
            "cell_periods_per_s": cp / best, "output_mb": X.nbytes / 1e6}


def main() -> int:
    for shape in [(75, 60, 314), (170, 270, 520)]:
        r = measure(*shape)
        print(f"{r['cells']:6d} cells x {r['periods']} weekly origins, {r['features']} features: "
              f"{r['seconds']:.2f} s -> {r['cell_periods_per_s'] / 1e6:.1f} M cell-periods/s "
              f"(output {r['output_mb']:.0f} MB float32; peak RSS so far "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
