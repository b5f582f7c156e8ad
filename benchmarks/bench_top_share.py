"""Why the model ties the baselines at 1 % of the area: model variants and rate ceilings.

Run:

    uv run python benchmarks/bench_top_share.py ceiling vancouver 2024-01-01 2025-12-31
    uv run python benchmarks/bench_top_share.py variants vancouver 2023-01-01 2023-12-31

``ceiling`` scores every period with maps that are *not forecasts*: each cell's counts in the
weeks before and after the period (flat windows of 4, 13, 26 and 52 weeks each side, and
exponential weights with scales of 13 and 26 weeks out to three scales), the period itself
excluded. They know each cell's rate at that time but not the period's own chance variation,
so they show how much room any forecast of cells' rates has above the baselines. The same
weights on the past side only (what a forecast may read) show where that room comes from.

``variants`` fits LightGBM variants every 13 weeks (``n_jobs=1``) on the same panel as
``bench_backtest.py`` and compares each with the strongest of ``historical_*`` and ``sepp`` at
1 % and 5 % (paired bootstrap over periods, 500 resamples). Settings are chosen on the 2023
validation year (Vancouver) before any backtest week; the variants are experiments that live
here, not in the package: a Poisson GLM on log window counts as the booster's offset
(``glm_offset``), LambdaRank per week (``rank``), a rank average of ``rank`` and the default
(``rank+default``), linear trees, larger trees, ``blend=0.5``, no negative subsampling and a
bag of four seeds.
"""

from __future__ import annotations

import argparse
import sys
import time

import lightgbm as lgb
import numpy as np
import pandas as pd
from bench_backtest import CASES
from scipy.stats import rankdata

from forecasting.evaluate import RollingOrigin, captured, paired_bootstrap
from forecasting.model import LGBMRiskModel
from forecasting.workflows import make_models, panel_for

REFIT = 13
SHARES = (0.01, 0.05)
KERNELS = {
    "flat4": lambda d: (np.abs(d) <= 4) * 1.0,
    "flat13": lambda d: (np.abs(d) <= 13) * 1.0,
    "flat26": lambda d: (np.abs(d) <= 26) * 1.0,
    "flat52": lambda d: (np.abs(d) <= 52) * 1.0,
    "exp13": lambda d: np.exp(-np.abs(d) / 13) * (np.abs(d) <= 39),
    "exp26": lambda d: np.exp(-np.abs(d) / 26) * (np.abs(d) <= 78),
}
#: Log-scaled inputs of the GLM offset (counts and intensities, not times or calendar).
GLM_INPUTS = ("count_", "n3_", "n5_", "nr", "other_", "rate_all", "same_season")


def _panel(case: str, start: str, end: str):
    spec = CASES[case]
    events = spec["load"]()
    events = events[events.occurred_local >= pd.Timestamp(spec["history"])]
    cats = list(events.category.value_counts().index[: spec["n_categories"]])
    pan = panel_for(events, start=start, end=end, categories=cats)
    return pan, ["all", *cats], RollingOrigin(start, end, "week", REFIT).origins(pan)


def _pai(scores, obs, areas, share) -> float:
    return float(captured(scores, obs, areas, share).sum() / obs.sum() / share)


def ceiling(case: str, start: str, end: str) -> None:
    pan, targets, cols = _panel(case, start, end)
    lag = np.arange(pan.n_periods)[None, :] - cols[:, None]  # (origins, columns)
    for target in targets:
        y = pan.counts[target].astype(np.float64)
        obs = y[:, cols].T
        for side in ("both sides", "past only"):
            out = []
            for name, kernel in KERNELS.items():
                w = kernel(lag)
                w[lag == 0] = 0.0
                if side == "past only":  # the same weights, but only what a forecast may read
                    w[lag > 0] = 0.0
                sc = (w / w.sum(axis=1, keepdims=True)) @ y.T  # (origins, cells)
                out.append(f"{name} {_pai(sc, obs, pan.grid.areas, .01):.2f}/"
                           f"{_pai(sc, obs, pan.grid.areas, .05):.2f}")
            print(f"{target[:24]:24s} {side:10s} PAI@1%/5%: " + " | ".join(out), flush=True)


class GLMOffset(LGBMRiskModel):
    """The booster learns a correction to a Poisson GLM on log window counts (its offset)."""

    def fit(self, panel, origin):
        p = panel.periods
        n_train = p.from_days(self.training_days)
        lo = max(origin - n_train, min(p.from_days(364), max(origin - n_train, 0)), 1)
        X, y, w, names = self._rows(panel, np.arange(lo, origin), np.random.default_rng(1))
        self.glm_cols_ = [i for i, n in enumerate(names)
                          if n.startswith(GLM_INPUTS) and "since" not in n]
        from sklearn.linear_model import PoissonRegressor

        Z = self._z(X)
        self.glm_ = PoissonRegressor(alpha=1e-4, max_iter=300, solver="newton-cholesky")
        self.glm_.fit(Z, y, sample_weight=w)
        return super().fit(panel, origin)

    def _z(self, X):
        Z = np.log(X[:, self.glm_cols_].astype(np.float64).clip(0) + 0.1)
        if not hasattr(self, "z_mean_"):
            self.z_mean_, self.z_sd_ = Z.mean(0), Z.std(0) + 1e-9
        return (Z - self.z_mean_) / self.z_sd_

    def _offset(self, X, names, periods):
        return self.glm_._linear_predictor(self._z(X)) if hasattr(self, "glm_") else None


def _rank_model(pt, origin, block):
    """LambdaRank per week, gain = count (the incidents a flagged cell captures)."""
    fb = LGBMRiskModel().feature_builder()
    lo = max(origin - 104, 52, 1)
    rng = np.random.default_rng(0)

    def rows(c):
        X, names = fb.cached_transform(pt, c)
        Xr = X.transpose(0, 2, 1).reshape(X.shape[0], -1).T  # rows grouped by week
        y = pt.y[:, c].T.reshape(-1)
        q = np.repeat(np.arange(len(c)), pt.n_cells)
        keep = (y > 0) | (rng.random(y.size) < 0.1)
        return (Xr[keep], np.minimum(y[keep], 30).astype(int),
                np.bincount(q[keep], minlength=len(c)), names)

    Xt, yt, gt, names = rows(np.arange(lo, origin - 13))
    Xv, yv, gv, _ = rows(np.arange(origin - 13, origin))
    params = dict(objective="lambdarank", metric="ndcg", eval_at=[45], label_gain=list(range(31)),
                  lambdarank_truncation_level=200, learning_rate=0.05, num_leaves=15,
                  min_data_in_leaf=100, feature_fraction=0.8, bagging_fraction=0.8,
                  bagging_freq=1, seed=0, num_threads=1, verbosity=-1, max_bin=63)
    dt = lgb.Dataset(Xt, yt, group=gt, feature_name=names)
    dv = lgb.Dataset(Xv, yv, group=gv, reference=dt)
    b = lgb.train(params, dt, 300, valid_sets=[dv],
                  callbacks=[lgb.early_stopping(30, verbose=False)])
    return [b.predict(fb.cached_transform(pt, np.array([o]))[0][:, :, 0].T,
                      num_iteration=b.best_iteration) for o in block]


class _Linear(LGBMRiskModel):
    def _lgb_params(self):
        return super()._lgb_params() | {"linear_tree": True}


VARIANTS = {
    "default": lambda: LGBMRiskModel(n_jobs=1),
    "glm_offset": lambda: GLMOffset(n_jobs=1),
    "linear_tree": lambda: _Linear(n_jobs=1),
    "larger_trees": lambda: LGBMRiskModel(n_jobs=1, num_leaves=31, min_child_samples=50,
                                          learning_rate=0.05, n_estimators=400),
    "blend_0.5": lambda: LGBMRiskModel(n_jobs=1, blend=0.5),
    "all_zeros_kept": lambda: LGBMRiskModel(n_jobs=1, negative_rate=1.0),
}


def variants(case: str, start: str, end: str, names: list[str]) -> None:
    pan, targets, cols = _panel(case, start, end)
    areas = pan.grid.areas
    t0 = time.perf_counter()
    for target in targets:
        pt = pan.for_target(target)
        obs = pt.y[:, cols].T.astype(np.float64)
        sc: dict[str, list] = {}
        for k in range(0, len(cols), REFIT):  # refits (every 13 weeks)
            origin, block = int(cols[k]), cols[k:k + REFIT]
            for name, model in make_models(["historical", "sepp"]).items():
                model.fit(pt, origin)
                sc.setdefault(name, []).extend(model.predict_risk(pt, int(o)) for o in block)
            for name in names:
                if name == "rank":
                    sc.setdefault(name, []).extend(_rank_model(pt, origin, block))
                elif name == "bag4":
                    ms = [LGBMRiskModel(n_jobs=1, random_state=r).fit(pt, origin) for r in range(4)]
                    sc.setdefault(name, []).extend(
                        np.mean([m.predict_risk(pt, int(o)) for m in ms], axis=0) for o in block)
                else:
                    m = VARIANTS[name]().fit(pt, origin)
                    sc.setdefault(name, []).extend(m.predict_risk(pt, int(o)) for o in block)
        sc = {n: np.array(v) for n, v in sc.items()}
        if "rank" in sc and "default" in sc:
            sc["rank+default"] = (rankdata(sc["rank"], axis=1) + rankdata(sc["default"], axis=1))
        base = [n for n in sc if n.startswith("historical") or n == "sepp"]
        best = {s: max(base, key=lambda n, s=s: _pai(sc[n], obs, areas, s)) for s in SHARES}
        print(f"== {target}: strongest baseline "
              + ", ".join(f"@{s:.0%} {best[s]} {_pai(sc[best[s]], obs, areas, s):.2f}"
                          for s in SHARES), flush=True)
        for name in [n for n in sc if n not in base]:
            cells = []
            for s in SHARES:
                bs = paired_bootstrap(sc[name], sc[best[s]], obs, areas, s, n_boot=500)
                cells.append(f"@{s:.0%} {_pai(sc[name], obs, areas, s):6.2f} "
                             f"({bs['diff']:+.2f}, p {bs['p_value']:.2f})")
            print(f"  {name:16s} " + "   ".join(cells), flush=True)
        pt._cache.clear()
    print(f"{time.perf_counter() - t0:.0f} s")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["ceiling", "variants"])
    ap.add_argument("case", choices=list(CASES))
    ap.add_argument("start")
    ap.add_argument("end")
    ap.add_argument("--variants", default="default,glm_offset,rank,linear_tree,larger_trees,"
                                          "blend_0.5,all_zeros_kept,bag4")
    a = ap.parse_args(argv)
    if a.what == "ceiling":
        ceiling(a.case, a.start, a.end)
    else:
        variants(a.case, a.start, a.end, a.variants.split(","))
    return 0


if __name__ == "__main__":
    sys.exit(main())
