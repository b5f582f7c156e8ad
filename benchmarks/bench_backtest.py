"""Backtest benchmark on the shared real data: accuracy, runtime and peak memory.

Run: ``uv run python benchmarks/bench_backtest.py [vancouver|chicago|all] [--out DIR]
[--cell-size M] [--lgbm JSON] [--period shift --start 2025-07-01 --end 2025-12-31
--refit-every 21 --n-categories 2 --history 2020-01-01]``.

Shift backtest of issue 10 (Vancouver, every model, three 8-hour shifts from 06:00)::

    flock /tmp/crimecast-heavy.lock timeout 1500 uv run --frozen python \
        benchmarks/bench_backtest.py vancouver --period shift --start 2025-07-01 \
        --end 2025-12-31 --refit-every 21 --n-categories 2

The loaders below read the raw files straight into an events frame, which is faster than
ingesting them into a throwaway database; they keep the same rows as the ingest adapters
(Vancouver 2020-2025: 184,426 incidents, the X=Y=0 rows dropped; Chicago: 148,636), as
``crimecast ingest --format vancouver|chicago`` reports.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from pyproj import Transformer

from forecasting.config import DEFAULT_CELL_SIZE
from forecasting.workflows import BacktestOptions, run_backtest

DATA = Path("/work/shared/data")


def _load_vancouver() -> pd.DataFrame:
    """VPD CSVs -> events frame (person offences, published at X=Y=0, dropped)."""
    files = sorted(glob.glob(str(DATA / "vancouver" / "crimedata_csv_AllNeighbourhoods_20*.csv.gz")))
    raw = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    raw = raw[(raw.X > 0) & (raw.Y > 0)]  # person offences are published at X=Y=0
    lon, lat = Transformer.from_crs("EPSG:32610", "EPSG:4326", always_xy=True).transform(
        raw.X.to_numpy(), raw.Y.to_numpy())
    when = pd.to_datetime(dict(year=raw.YEAR, month=raw.MONTH, day=raw.DAY, hour=raw.HOUR,
                               minute=raw.MINUTE))
    return pd.DataFrame({"occurred_local": when.to_numpy(), "longitude": lon, "latitude": lat,
                         "category": raw.TYPE.to_numpy(), "category_group": raw.TYPE.to_numpy(),
                         "time_resolution": "minute"})


def _load_chicago() -> pd.DataFrame:
    """Chicago aggravated assaults -> events frame."""
    raw = pd.read_csv(DATA / "chicago" / "chicago_aggravated_assaults.csv.gz")
    raw = raw.dropna(subset=["longitude", "latitude"])
    return pd.DataFrame({"occurred_local": pd.to_datetime(raw.date, format="%Y-%m-%d %H:%M"),
                         "longitude": raw.longitude.to_numpy(float),
                         "latitude": raw.latitude.to_numpy(float),
                         "category": "aggravated assault", "category_group": "assault",
                         "time_resolution": "minute"})


CASES = {
    "vancouver": dict(load=_load_vancouver, start="2024-01-01", end="2025-12-31", history="2020-01-01",
                      n_categories=4),
    "chicago": dict(load=_load_chicago, start="2018-01-01", end="2019-12-31", history="2010-01-01",
                    n_categories=0),
}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run(case: str, out: Path, models=None, *, period="week", start=None, end=None,
        n_categories=None, history=None, **kw) -> dict:
    spec = CASES[case]
    t0 = time.perf_counter()
    events = spec["load"]()
    events = events[events.occurred_local >= pd.Timestamp(history or spec["history"])]
    n_cat = spec["n_categories"] if n_categories is None else n_categories
    cats = list(events.category.value_counts().index[:n_cat])
    t_load = time.perf_counter() - t0
    print(f"[{case}] {len(events)} events, categories {cats}; load {t_load:.1f}s", flush=True)
    options = BacktestOptions(start=start or spec["start"], end=end or spec["end"], period=period,
                              cell_size=kw.pop("cell_size", DEFAULT_CELL_SIZE), categories=cats,
                              **({"models": models} if models else {}), **kw)
    run_ = run_backtest(events, options, out_dir=out / case, progress=lambda m: print(f"[{case}] {m}", flush=True))
    s = run_.summary
    print(f"\n[{case}] {period}s {start or spec['start']}..{end or spec['end']}: runtime "
          f"{run_.timings['total_s']:.1f}s (backtest {run_.timings['backtest_s']:.1f}s); "
          f"CPU {_cpu_s():.0f}s (all threads); peak RSS {_peak_mb():.0f} MB (shared machine); load average "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    slow = sorted(run_.result.timings.items(), key=lambda kv: -kv[1])[:6]
    print(f"[{case}] slowest (model/target seconds): "
          + ", ".join(f"{k} {v:.0f}" for k, v in slow))
    for target, entry in s["targets"].items():
        print(f"\n### {case} / {target}")
        for model, m in entry["models"].items():
            print(f"  {model:16s} PAI@1% {m['pai@1%']:6.2f}  PAI@5% {m['pai@5%']:5.2f}  "
                  f"PEI*@1% {m['pei_star@1%']:.2f}  dev {m['poisson_deviance']:.4f}")
        for key, b in entry["bootstrap"].items():
            print(f"  bootstrap PAI@{key}: lgbm - {b['baseline']} = {b['diff']:+.3f} "
                  f"[{b['ci_low']:+.3f}, {b['ci_high']:+.3f}] p={b['p_value']:.3f} "
                  f"(BH-adjusted {b['p_adjusted']:.3f})")
            ms = entry["models"]
            print(f"  ratio PAI@{key}: lgbm / {b['baseline']} = "
                  f"{ms['lgbm'][f'pai@{key}'] / ms[b['baseline']][f'pai@{key}']:.3f}")
        for key, r in entry.get("headroom", {}).items():
            print(f"  room PAI@{key}: {r['baseline']} {r['baseline_pai']:.2f} -> lgbm "
                  f"{r['challenger_pai']:.2f} -> {r['ceiling']} {r['ceiling_pai']:.2f} "
                  f"(ceiling vs baseline p={r['ceiling_p_value']:.3f}; share won {r['share_won']:.0%})")
    return {"timings": run_.timings, "peak_rss_mb": _peak_mb(), "cpu_s": _cpu_s(), "summary": s}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("case", nargs="?", default="all", choices=["all", *CASES])
    ap.add_argument("--out", default="/tmp/crimecast_bench")
    ap.add_argument("--models", default=None)
    ap.add_argument("--lgbm", default=None, help="JSON of LGBMRiskModel settings")
    ap.add_argument("--cell-size", type=float, default=DEFAULT_CELL_SIZE,
                    help="cell edge in metres (compare models only at one cell size)")
    ap.add_argument("--compare-shared", action="store_true",
                    help="measure per-category models against one shared model instead")
    ap.add_argument("--period", default="week", choices=["week", "day", "shift", "hour"])
    ap.add_argument("--start", default=None, help="first forecast day (default: the case's)")
    ap.add_argument("--end", default=None, help="last forecast day (default: the case's)")
    ap.add_argument("--history", default=None, help="first incident day read (default: the case's)")
    ap.add_argument("--refit-every", type=int, default=4)
    ap.add_argument("--n-categories", type=int, default=None,
                    help="targets besides 'all': the N largest categories")
    ap.add_argument("--n-boot", type=int, default=1000)
    a = ap.parse_args(argv)
    if a.compare_shared:
        res = compare_shared("vancouver", lgbm_params=json.loads(a.lgbm) if a.lgbm else None)
        Path(a.out).mkdir(parents=True, exist_ok=True)
        (Path(a.out) / "shared_vs_per_category.json").write_text(json.dumps(res, indent=2))
        return 0
    out = Path(a.out)
    kw = {"cell_size": a.cell_size, "period": a.period, "start": a.start, "end": a.end,
          "history": a.history, "refit_every": a.refit_every, "n_categories": a.n_categories,
          "n_boot": a.n_boot}
    if a.lgbm:
        kw["lgbm_params"] = json.loads(a.lgbm)
    models = a.models.split(",") if a.models else None
    for case in CASES if a.case == "all" else [a.case]:
        res = run(case, out, models, **kw)
        (out / case / "bench.json").write_text(json.dumps(
            {"timings": res["timings"], "peak_rss_mb": res["peak_rss_mb"], "cpu_s": res["cpu_s"]},
            indent=2))
    return 0



def compare_shared(case: str = "vancouver", refit_every: int = 13, lgbm_params=None) -> dict:
    """Measure one model per category against one shared model with the category as a feature.

    Both use the same settings, training rows and evaluation periods; the shared model is
    trained on the stacked rows of every category (plus a ``category_code`` feature).
    """
    import lightgbm as lgb

    from forecasting.evaluate import RollingOrigin, captured
    from forecasting.model import LGBMRiskModel
    from forecasting.workflows import panel_for

    spec = CASES[case]
    events = spec["load"]()
    cats = list(events.category.value_counts().index[: spec["n_categories"]])
    pan = panel_for(events, start=spec["start"], end=spec["end"], categories=cats)
    cols = RollingOrigin(spec["start"], spec["end"], "week", refit_every).origins(pan)
    params = dict(lgbm_params or {})
    sh = np.array([0.01, 0.05])
    per = {c: [] for c in cats}
    shared = {c: [] for c in cats}
    t_per = t_sh = 0.0
    for k in range(0, len(cols), refit_every):  # refits of the backtest
        origin, block = int(cols[k]), cols[k:k + refit_every]
        t0 = time.perf_counter()
        ms = {c: LGBMRiskModel(**params).fit(pan.for_target(c), origin) for c in cats}
        for c in cats:
            per[c] += [ms[c].predict_risk(pan.for_target(c), int(o)) for o in block]
        t1 = time.perf_counter()
        # Shared model: stack every category's rows with a code feature.
        m0 = LGBMRiskModel(**params)
        n_train, n_val = pan.periods.from_days(m0.training_days), pan.periods.from_days(m0.validation_days)
        h = m0._horizon(pan.periods)
        lo = max(origin - n_train, 1)
        rng = np.random.default_rng(0)
        parts_t, parts_v = [], []
        for code, c in enumerate(cats):  # loop over categories
            pt = pan.for_target(c)
            for cols_, parts in ((np.arange(lo, origin - n_val - h + 1), parts_t),
                                 (np.arange(origin - n_val - h + 1, origin - h + 1), parts_v)):
                X, y, w, names = m0._rows(pt, cols_, rng, h)
                parts.append((np.column_stack([X, np.full(len(y), code, np.float32)]), y, w))
        names = names + ["category_code"]
        dt = lgb.Dataset(np.vstack([p[0] for p in parts_t]), np.concatenate([p[1] for p in parts_t]),
                         weight=np.concatenate([p[2] for p in parts_t]), feature_name=names,
                         categorical_feature=["category_code"])
        dv = lgb.Dataset(np.vstack([p[0] for p in parts_v]), np.concatenate([p[1] for p in parts_v]),
                         weight=np.concatenate([p[2] for p in parts_v]), reference=dt)
        b = lgb.train(m0._lgb_params() | {"metric": "poisson"}, dt, m0.n_estimators,
                      valid_sets=[dv], callbacks=[lgb.early_stopping(m0.early_stopping_rounds,
                                                                     verbose=False)])
        for code, c in enumerate(cats):
            pt = pan.for_target(c)
            for o in block:
                X = m0.feature_builder().cached_transform(pt, np.array([o]))[0][:, :, 0].T
                mu = b.predict(np.column_stack([X, np.full(len(X), code, np.float32)]),
                               num_iteration=b.best_iteration)
                rate = X[:, names.index("rate_all")]
                shared[c].append((1 - m0.blend) * mu + m0.blend * rate)
        t_per += t1 - t0
        t_sh += time.perf_counter() - t1
    out = {"fit_seconds": {"per_category": t_per, "shared": t_sh}, "targets": {}}
    for c in cats:
        obs = pan.counts[c][:, cols].T
        tot = obs.sum()
        res = {}
        for name, sc in (("per_category", per[c]), ("shared", shared[c])):
            res[name] = (captured(np.array(sc), obs, pan.grid.areas, sh).sum(0) / tot / sh).round(2).tolist()
        out["targets"][c] = res
        print(f"[shared-vs-per] {c}: PAI@1%,5% per-category {res['per_category']} "
              f"shared {res['shared']}", flush=True)
    print(f"[shared-vs-per] fit+predict seconds: {out['fit_seconds']}")
    return out


if __name__ == "__main__":
    sys.exit(main())
