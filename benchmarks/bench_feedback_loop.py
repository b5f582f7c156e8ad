"""Feedback-loop experiment on the simulated city, without and with the guard.

The simulated city (:mod:`forecasting.simulate`) gives every incident that happened, recorded or
not: the truth. Each weekly round:

1. the forecast (an exponentially weighted mean of the weekly counts the model was trained on,
   half-life ``--half-life`` weeks; retrained every round) flags the top ``--top`` share of cells;
2. patrols go to the flagged cells (an ``--explore`` share of them, default 0, drawn at random);
3. each true incident is recorded with probability ``--detect`` (0.4) in an unpatrolled cell and
   ``--detect * --uplift`` (0.8: the documented detection uplift of 2) in a patrolled one;
4. the model is retrained on what was recorded: raw counts (no guard) or counts with incidents
   recorded during patrols weighted by ``1 / uplift`` (:func:`forecasting.fairness.discount_patrolled`,
   the guard).

The truth to compare with is the same model fitted on **every** incident (what it would forecast
if detection were even). Printed per policy: overlap of the flagged set with the true top cells
(share of true top cells flagged, mean over the last 10 rounds and at the last round), the
Gini of flagged cells over 16 districts (4 x 4 blocks of the city) and persistence (share of
flagged cells still flagged 4 rounds later), against the truth's own figures.

Run:  uv run --frozen python benchmarks/bench_feedback_loop.py [--rounds 30] [--seeds 3] [--explore 0.1]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd

from forecasting import fairness as fa
from forecasting.grid import build_grid
from forecasting.simulate import SimulationConfig, simulate_city


def weekly_truth(seed: int, weeks: int, cell_size: float):
    """True incidents per (week, cell) of a small simulated city, the grid and each cell's district."""
    cfg = SimulationConfig(seed=seed, days=7 * weeks, n_cameras=1, size_m=4000.0, background_per_day=30.0)
    city = simulate_city(cfg)
    inc = city.incidents
    grid = build_grid(inc["longitude"].to_numpy(), inc["latitude"].to_numpy(), cell_size=cell_size)
    cell = grid.locate(inc["longitude"].to_numpy(), inc["latitude"].to_numpy())
    t = pd.to_datetime(inc["occurred_at"], utc=True)
    week = ((t - t.min()).dt.days // 7).to_numpy()
    ok = (cell >= 0) & (week < weeks)
    truth = np.zeros((weeks, grid.n_cells))
    np.add.at(truth, (week[ok], cell[ok]), 1)
    x, y = grid.centroids_xy
    bx = np.minimum((4 * (x - x.min()) / (np.ptp(x) + 1e-9)).astype(int), 3)
    by = np.minimum((4 * (y - y.min()) / (np.ptp(y) + 1e-9)).astype(int), 3)
    return truth, grid, bx * 4 + by


def ew_forecast(history: np.ndarray, half_life: float) -> np.ndarray:
    """Exponentially weighted mean of the rows of ``history`` (newest last): the quick model."""
    w = 0.5 ** (np.arange(len(history))[::-1] / half_life)
    return (w[:, None] * history).sum(axis=0) / w.sum()


def run(truth, districts, *, warmup: int, detect: float, uplift: float, top: float, half_life: float,
        guard: bool, explore: float, seed: int) -> dict:
    """One policy over the rounds after ``warmup``; returns per-round figures."""
    rng = np.random.default_rng(seed)
    weeks, n = truth.shape
    recorded = rng.binomial(truth[:warmup].astype(int), detect).astype(float)  # no patrols yet
    train = recorded.copy()
    k = max(1, int(round(top * n)))
    flagged, true_flags = [], []
    for r in range(warmup, weeks):  # rounds are sequential: each depends on the last one's records
        score = ew_forecast(train, half_life) + rng.uniform(0, 1e-9, n)
        flag = fa.flag_top(score[None, :], top)[0]
        patrol = flag.copy()
        if explore > 0:
            n_x = int(round(explore * k))
            patrol[np.flatnonzero(flag)[rng.permutation(k)[:n_x]]] = False
            patrol[rng.choice(np.flatnonzero(~flag), n_x, replace=False)] = True
        p = np.where(patrol, min(1.0, detect * uplift), detect)
        rec = rng.binomial(truth[r].astype(int), p).astype(float)
        row = fa.discount_patrolled(rec[None], patrol[None], uplift)[0] if guard else rec
        train = np.vstack([train, row])
        flagged.append(patrol)
        true_flags.append(fa.flag_top(ew_forecast(truth[:r], half_life)[None, :] + 1e-12 * np.arange(n)[None, ::-1],
                                      top)[0])
    f, tf = np.array(flagged), np.array(true_flags)
    overlap = (f & tf).sum(axis=1) / tf.sum(axis=1)
    return {"overlap": overlap, "gini": fa.concentration(f, districts, 16)["gini"].to_numpy(),
            "persistence": fa.persistence(f, [4])[4],
            "true_gini": fa.concentration(tf, districts, 16)["gini"].to_numpy(),
            "true_persistence": fa.persistence(tf, [4])[4]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=26, help="weeks recorded without patrols before round 1")
    ap.add_argument("--seeds", type=int, default=3, help="cities (seeds 0..N-1); figures are means over them")
    ap.add_argument("--cell-size", type=float, default=200.0)
    ap.add_argument("--top", type=float, default=0.05, help="share of cells flagged and patrolled")
    ap.add_argument("--detect", type=float, default=0.4)
    ap.add_argument("--uplift", type=float, default=fa.DETECTION_UPLIFT)
    ap.add_argument("--half-life", type=float, default=8.0, help="weeks")
    ap.add_argument("--explore", type=float, default=0.0)
    a = ap.parse_args()
    t0 = time.perf_counter()
    policies = (("no guard", False), ("guard (1/uplift weights)", True))
    rows: dict[str, list] = {name: [] for name, _ in policies} | {"truth": []}
    for seed in range(a.seeds):
        truth, grid, districts = weekly_truth(seed, a.warmup + a.rounds, a.cell_size)
        print(f"city seed {seed}: {grid.n_cells} cells of {a.cell_size:g} m, {int(truth.sum()):,} true incidents "
              f"over {truth.shape[0]} weeks")
        common = dict(warmup=a.warmup, detect=a.detect, uplift=a.uplift, top=a.top, half_life=a.half_life,
                      seed=seed, explore=a.explore)
        for name, guard in policies:
            r = run(truth, districts, guard=guard, **common)
            ov = r["overlap"]
            rows[name].append([ov[:5].mean(), ov[-10:].mean(), ov[-1], r["gini"][-10:].mean(), r["persistence"]])
        rows["truth"].append([1, 1, 1, r["true_gini"][-10:].mean(), r["true_persistence"]])
    print(f"{a.warmup} warm-up weeks, {a.rounds} weekly rounds; top {a.top:.0%} of cells patrolled "
          f"(explore {a.explore:.0%}); detection {a.detect:.0%}, x{a.uplift:g} under patrol; half-life "
          f"{a.half_life:g} weeks; means over {a.seeds} cities")
    print(f"{'policy':<26}{'overlap r1-5':>13}{'overlap last10':>15}{'overlap last':>13}{'Gini last10':>12}"
          f"{'persist@4':>10}")
    for name, vals in rows.items():
        m = np.mean(vals, axis=0)
        label = "truth (every incident)" if name == "truth" else name
        print(f"{label:<26}{m[0]:>13.3f}{m[1]:>15.3f}{m[2]:>13.3f}{m[3]:>12.3f}{m[4]:>10.3f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{time.perf_counter() - t0:.1f} s, peak RSS {peak:.0f} MB (shared machine)")


if __name__ == "__main__":
    main()
