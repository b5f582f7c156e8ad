"""Analysis benchmark on Chicago aggravated assaults 2010-2019: Gi*, emerging hot spots and Knox.

Run: ``uv run python benchmarks/bench_analysis.py [--stage gi|emerging|knox|esda|all]
[--cell-size 150] [--permutations 999] [--from 2010-01-01]`` (under ``flock /tmp/crimecast-heavy.lock`` on the
shared machine). Each stage runs in its own process so its peak RSS is its own; times exclude
reading the CSV (printed separately). Target: each stage under 60 s and 4 GB on 2 cores.

``esda`` checks the vectorised Gi* and Local Moran's I against PySAL esda on the real 2019
counts (tolerance 1e-9 on z-scores and I).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
import warnings

import numpy as np
import pandas as pd

from forecasting import analysis as A
from forecasting.config import DEFAULT_CELL_SIZE
from forecasting.features import build_panel
from forecasting.grid import build_grid
from forecasting.periods import Periods

sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
from bench_backtest import _load_chicago  # noqa: E402

STAGES = ("gi", "emerging", "knox", "esda")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _inputs(cell_size: float, start: str):
    t0 = time.perf_counter()
    ev = _load_chicago()
    ev = ev[(ev.occurred_local >= start) & (ev.occurred_local < "2020-01-01")]
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    grid = build_grid(ev.longitude.to_numpy(), ev.latitude.to_numpy(), cell_size=cell_size)
    panel = build_panel(ev, grid, Periods("week"))
    t_panel = time.perf_counter() - t0
    print(f"{len(ev):,} incidents, {grid.n_cells:,} cells of {cell_size:g} m x {panel.n_periods} weeks; "
          f"read {t_load:.1f}s, grid+panel {t_panel:.1f}s", flush=True)
    return ev, grid, panel


def stage(name: str, cell_size: float, permutations: int, start: str, fdr_family: str = "cube") -> None:
    ev, grid, panel = _inputs(cell_size, start)
    counts = panel.counts["all"]
    t0 = time.perf_counter()
    if name == "gi":
        hs = A.hot_spots(counts.sum(axis=1, dtype=np.float64), grid, permutations=permutations)
        s = A.summary(hot=hs)["hot_spots"]
        what = (f"Gi* + Local Moran's I ({permutations} permutations): {s['hot']:,} hot, {s['cold']:,} cold, "
                f"{s['share_of_incidents_in_hot_spots']:.1%} of incidents in hot spots")
    elif name == "emerging":
        em = A.emerging_hot_spots(counts, grid, period_starts=panel.period_starts, fdr_family=fdr_family)
        counts_by = A.summary(emerging=em)["emerging"]
        what = f"emerging hot spots (FDR per {fdr_family}): " + ", ".join(f"{k} {v:,}" for k, v in counts_by.items())
    elif name == "knox":
        x, y = grid.project(ev.longitude.to_numpy(), ev.latitude.to_numpy())
        t = ((ev.occurred_local - pd.Timestamp(start)) / pd.Timedelta(days=1)).to_numpy()
        k = A.knox_test(x, y, t, permutations=permutations)
        win = A.near_repeat_windows(k)
        what = (f"Knox ({permutations} permutations, {k.pairs_in_reach:,} pairs within 450 m): "
                f"{win.sentence('aggravated assaults') if win else 'no near-repeat window'}\n"
                + A.near_repeat_table(k))
    else:
        import esda
        from libpysal.weights import WSP

        warnings.simplefilter("ignore")
        x = panel.counts["all"][:, panel.n_periods - 52:].sum(axis=1, dtype=np.float64)  # the last year
        w = A.spatial_weights(grid)
        z, _ = A.gi_star(x, w)
        ref = esda.G_Local(x, WSP(A._with_self(w)).to_W(silence_warnings=True), transform="B", star=True,
                           permutations=0)
        mi = A.local_moran(x, w, permutations=9)[0]
        ref_m = esda.Moran_Local(x, WSP(w).to_W(silence_warnings=True), transformation="r", permutations=0)
        dz, dm = np.max(np.abs(z - ref.Zs)), np.max(np.abs(mi - ref_m.Is))
        what = (f"agreement with esda on 2019 counts ({grid.n_cells:,} cells): max |z - esda Zs| = {dz:.2e}, "
                f"max |I - esda Is| = {dm:.2e} (tolerance 1e-9): {'OK' if max(dz, dm) < 1e-9 else 'FAIL'}")
    dt = time.perf_counter() - t0
    print(f"[{name}] {dt:.1f}s, peak RSS {_peak_mb():,.0f} MB (process, including data)\n{what}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stage", default="all", choices=(*STAGES, "all"))
    ap.add_argument("--cell-size", type=float, default=DEFAULT_CELL_SIZE)
    ap.add_argument("--permutations", type=int, default=999)
    ap.add_argument("--fdr-family", default="cube", choices=("cube", "period"))
    ap.add_argument("--from", dest="start", default="2010-01-01", help="First day of the data used (to 2019-12-31).")
    a = ap.parse_args()
    if a.stage != "all":
        stage(a.stage, a.cell_size, a.permutations, a.start, a.fdr_family)
        return
    for name in STAGES:  # one process per stage: each peak RSS is its own
        subprocess.run([sys.executable, __file__, "--stage", name, "--cell-size", str(a.cell_size),
                        "--permutations", str(a.permutations), "--from", a.start, "--fdr-family", a.fdr_family],
                       check=True)


if __name__ == "__main__":
    main()
