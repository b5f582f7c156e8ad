"""Backtesting and hot-spot metrics.

A split is an object (:class:`RollingOrigin`), a backtest is a function (:func:`backtest`).
Models are seen only through the protocol ``fit(panel, origin)`` / ``predict_risk(panel,
origin)``; this module imports no concrete model.

Metrics are pure functions of ``(scores, counts, areas)`` for one period, or of arrays shaped
``(n_periods, n_cells)``. Cells are flagged from the highest score down until the flagged area
reaches the requested share of the study area; ties are split in expectation (a tied block
straddling the threshold contributes pro rata), so cell order never favours a model.

PAI rises as cells shrink: compare models only at the same cell size.

Layer 4: imports layers 0-3 (but no model), numpy, pandas; matplotlib lazily for plots.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from forecasting.errors import ConfigError, DataError
from forecasting.features import Panel
from forecasting.periods import Periods

#: Area shares (fractions of the study area) reported everywhere.
AREA_SHARES = (0.005, 0.01, 0.02, 0.05)

PAI_CELL_SIZE_NOTE = ("PAI rises as cells shrink (a smaller flagged area for the same hits), "
                      "so models are only compared at the same cell size.")


class RiskModel(Protocol):
    """What the backtest needs from a model."""

    def fit(self, panel: Panel, origin: int) -> Any: ...

    def predict_risk(self, panel: Panel, origin: int) -> np.ndarray: ...

    # Optional: ``probability_from_mean(mu)``, calibrated P(at least one incident) for the
    # model's own predicted means; when present the backtest scores it (Brier, reliability).
    # Optional: ``predict_risk_many(panel, origins)``, the scores of several origins at once,
    # shape (len(origins), n_cells), equal to ``predict_risk`` at each; the backtest asks it
    # for every block of origins between two refits (features and predictions in one pass).


# -- metrics ------------------------------------------------------------------------------------
def _as2d(a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return a[None, :] if a.ndim == 1 else a


def captured(scores, counts, areas, share) -> np.ndarray:
    """Incidents captured by flagging the top ``share`` of area, per period.

    Parameters
    ----------
    scores, counts : array (n_cells,) or (n_periods, n_cells)
    areas : array (n_cells,)
    share : float in (0, 1], or an array of them

    Returns
    -------
    ndarray (n_periods,), or (n_periods, n_shares) when ``share`` is an array

    Examples
    --------
    >>> captured([3, 2, 1, 0], [5, 0, 1, 1], [1, 1, 1, 1], 0.5).tolist()
    [5.0]
    >>> captured([1, 1, 0, 0], [4, 0, 1, 1], [1, 1, 1, 1], 0.25).tolist()  # tie split
    [2.0]
    """
    shares = np.atleast_1d(np.asarray(share, dtype=np.float64))
    if not np.all((shares > 0) & (shares <= 1)):
        raise ConfigError(f"share must be a fraction in (0, 1]; got {share!r}")
    s, c = _as2d(scores), _as2d(counts)
    a = np.broadcast_to(np.asarray(areas, dtype=np.float64), s.shape)
    order = np.argsort(-s, axis=1, kind="stable")
    s_o = np.take_along_axis(s, order, 1)
    ca = np.cumsum(np.take_along_axis(a, order, 1), axis=1)
    cc = np.cumsum(np.take_along_axis(c, order, 1), axis=1)
    out = np.empty((s.shape[0], shares.size))
    for i in range(s.shape[0]):  # loop over periods; each is vectorised over cells and shares
        # Tie blocks: a block straddling the budget contributes pro rata to its area.
        ends = np.flatnonzero(np.r_[s_o[i, 1:] != s_o[i, :-1], True])
        area_end, cnt_end = ca[i, ends], cc[i, ends]
        area_start, cnt_start = np.r_[0.0, area_end[:-1]], np.r_[0.0, cnt_end[:-1]]
        budget = shares * ca[i, -1]
        b = np.minimum(np.searchsorted(area_end, budget * (1 - 1e-12), side="left"), len(ends) - 1)
        frac = (budget - area_start[b]) / np.maximum(area_end[b] - area_start[b], 1e-300)
        out[i] = cnt_start[b] + np.clip(frac, 0, 1) * (cnt_end[b] - cnt_start[b])
    return out if np.ndim(share) else out[:, 0]


def hit_rate(scores, counts, areas, share: float) -> float:
    """Share of incidents inside the top ``share`` of area, pooled over periods.

    Examples
    --------
    >>> hit_rate([3, 2, 1, 0], [5, 0, 1, 1], [1, 1, 1, 1], 0.5)
    0.7142857142857143
    """
    total = _as2d(counts).sum()
    return float(captured(scores, counts, areas, share).sum() / total) if total > 0 else np.nan


def pai(scores, counts, areas, share: float) -> float:
    """Predictive accuracy index: hit rate / area share.

    Examples
    --------
    >>> round(pai([3, 2, 1, 0], [5, 0, 1, 1], [1, 1, 1, 1], 0.25), 3)
    2.857
    """
    return hit_rate(scores, counts, areas, share) / share


def pei(scores, counts, areas, share: float) -> float:
    """Hit rate over the hindsight map's hit rate at the same area share (in [0, 1]).

    Examples
    --------
    >>> round(pei([0, 1, 2, 3], [5, 0, 1, 1], [1, 1, 1, 1], 0.25), 6)
    0.2
    """
    density = _as2d(counts) / np.asarray(areas, dtype=np.float64)
    best = hit_rate(density, counts, areas, share)
    return hit_rate(scores, counts, areas, share) / best if best > 0 else np.nan


def _hindsight_area(counts: np.ndarray, areas: np.ndarray, got: np.ndarray) -> np.ndarray:
    """Area the hindsight map needs to capture ``got`` (n_periods, k) incidents per period."""
    # The best map flags the densest cells first (a fractional knapsack).
    order = np.argsort(-counts / areas, axis=1, kind="stable")
    cc = np.cumsum(np.take_along_axis(counts, order, 1), axis=1)
    ca = np.cumsum(np.take_along_axis(areas, order, 1), axis=1)
    need = np.empty_like(got)
    for i in range(counts.shape[0]):  # loop over periods
        k = np.minimum(np.searchsorted(cc[i], got[i] * (1 - 1e-12), side="left"), cc.shape[1] - 1)
        prev_c = np.where(k > 0, cc[i, k - 1], 0.0)
        prev_a = np.where(k > 0, ca[i, k - 1], 0.0)
        # Within a cell the hindsight map gains incidents linearly with area.
        frac = (got[i] - prev_c) / np.maximum(cc[i, k] - prev_c, 1e-300)
        need[i] = np.where(got[i] > 0, prev_a + np.clip(frac, 0, 1) * (ca[i, k] - prev_a), 0.0)
    return need


def pei_star(scores, counts, areas, share):
    """PEI* (Hunt 2016): area the hindsight map needs to capture the model's count, over the
    model's area. Pooled over periods; in [0, 1].

    Examples
    --------
    >>> pei_star([3, 2, 1, 0], [5, 0, 1, 1], [1, 1, 1, 1], 0.5)  # hindsight gets 5 in 1 cell
    0.5
    """
    s, c = _as2d(scores), _as2d(counts)
    a = np.broadcast_to(np.asarray(areas, dtype=np.float64), s.shape)
    shares = np.atleast_1d(np.asarray(share, dtype=np.float64))
    got = captured(s, c, a[0], shares)
    need = _hindsight_area(c, a, got)
    out = need.sum(axis=0) / (shares * a.sum())
    return out if np.ndim(share) else float(out[0])


def capture_curve(scores, counts, areas, shares: Sequence[float] | None = None) -> pd.DataFrame:
    """Hit rate at many area shares (pooled over periods).

    Returns
    -------
    DataFrame with ``area_share`` and ``hit_rate``.
    """
    shares = np.asarray(shares if shares is not None else np.r_[np.linspace(0.0025, 0.05, 20),
                                                                 np.linspace(0.06, 1, 48)])
    tot = _as2d(counts).sum()
    got = captured(scores, counts, areas, shares).sum(axis=0)
    return pd.DataFrame({"area_share": shares, "hit_rate": got / tot if tot > 0 else np.nan})


def poisson_deviance(mu, counts, floor: float = 1e-4) -> float:
    """Mean Poisson deviance of expected counts ``mu`` (floored at ``floor``).

    Examples
    --------
    >>> poisson_deviance([1.0, 2.0], [1, 2])
    0.0
    """
    mu = np.maximum(np.asarray(mu, dtype=np.float64), floor)
    y = np.asarray(counts, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(y > 0, y * np.log(y / mu), 0.0)
    return float(np.mean(2 * (term - (y - mu))))


def brier_score(mu, counts) -> float:
    """Brier score of ``P(at least one) = 1 - exp(-mu)`` against ``counts > 0``.

    Examples
    --------
    >>> round(brier_score([0.0, 50.0], [0, 3]), 6)
    0.0
    """
    p = -np.expm1(-np.maximum(np.asarray(mu, dtype=np.float64), 0.0))
    return float(np.mean((p - (np.asarray(counts) > 0)) ** 2))


#: Edges of the predicted-probability bins of :func:`reliability`.
RELIABILITY_EDGES = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)


def reliability(prob, counts, edges=RELIABILITY_EDGES) -> list[dict]:
    """Reliability table of probabilities of at least one incident against ``counts > 0``.

    One row per non-empty bin of predicted probability: ``bin`` (lower edge), ``n``,
    ``predicted`` (mean probability) and ``observed`` (share of cell-periods with an incident).

    Examples
    --------
    >>> reliability([0.0, 0.0, 0.6, 0.6], [0, 0, 1, 0], edges=(0.0, 0.5, 1.0))
    [{'bin': 0.0, 'n': 2, 'predicted': 0.0, 'observed': 0.0}, {'bin': 0.5, 'n': 2, 'predicted': 0.6, 'observed': 0.5}]
    """
    p = np.asarray(prob, dtype=np.float64).ravel()
    hit = (np.asarray(counts) > 0).ravel().astype(np.float64)
    e = np.asarray(edges, dtype=np.float64)
    b = np.clip(np.searchsorted(e, p, side="right") - 1, 0, len(e) - 2)
    n = np.bincount(b, minlength=len(e) - 1)
    sp = np.bincount(b, p, minlength=len(e) - 1)
    so = np.bincount(b, hit, minlength=len(e) - 1)
    return [{"bin": float(e[i]), "n": int(n[i]), "predicted": float(sp[i] / n[i]),
             "observed": float(so[i] / n[i])} for i in np.flatnonzero(n)]


def paired_bootstrap(scores_a, scores_b, counts, areas, share: float, *, n_boot: int = 1000,
                     random_state: int = 0) -> dict:
    """Bootstrap over periods of PAI(a) - PAI(b) at ``share`` (the same resamples for both).

    Returns
    -------
    dict with ``diff`` (observed), ``ci_low``, ``ci_high`` (95 %), ``p_value`` (one-sided,
    share of resamples with difference <= 0) and ``n_boot``.
    """
    ca = captured(scores_a, counts, areas, share)
    cb = captured(scores_b, counts, areas, share)
    tot = _as2d(counts).sum(axis=1)
    rng = np.random.default_rng(random_state)
    idx = rng.integers(0, len(tot), size=(n_boot, len(tot)))
    with np.errstate(invalid="ignore", divide="ignore"):
        d = (ca[idx].sum(1) - cb[idx].sum(1)) / tot[idx].sum(1) / share
    obs = (ca.sum() - cb.sum()) / tot.sum() / share
    return {"diff": float(obs), "ci_low": float(np.nanpercentile(d, 2.5)),
            "ci_high": float(np.nanpercentile(d, 97.5)), "p_value": float(np.mean(d <= 0)),
            "n_boot": int(n_boot)}


# -- split and backtest -------------------------------------------------------------------------
@dataclass(frozen=True)
class RollingOrigin:
    """Forecast every period whose first day lies in ``[start, end]``, one at a time.

    Parameters
    ----------
    start, end : date-like (local)
    period : str or Periods, default "week"
    refit_every : int, default 4
        Models are refitted at the first origin and every ``refit_every`` origins after.

    Examples
    --------
    >>> sp = RollingOrigin("2024-01-01", "2024-01-31", "week", refit_every=2)
    >>> [str(d.date()) for d in sp.period_starts()]
    ['2024-01-01', '2024-01-08', '2024-01-15', '2024-01-22', '2024-01-29']
    >>> sp.refit_mask().tolist()
    [True, False, True, False, True]
    """

    start: Any
    end: Any
    period: Any = "week"
    refit_every: int = 4

    def __post_init__(self) -> None:
        if not (isinstance(self.refit_every, int | np.integer) and self.refit_every >= 1):
            raise ConfigError(f"refit_every must be a positive whole number of periods; got "
                              f"{self.refit_every!r}")
        if pd.Timestamp(self.end) < pd.Timestamp(self.start):
            raise ConfigError(f"end must not precede start; got start={self.start}, end={self.end}")

    @property
    def periods(self) -> Periods:
        return self.period if isinstance(self.period, Periods) else Periods(self.period)

    def period_indexes(self) -> np.ndarray:
        """Indexes of periods whose first day is in ``[start, end]``."""
        p = self.periods
        s, e = pd.Timestamp(self.start).normalize(), pd.Timestamp(self.end).normalize()
        lo = p.index([s])[0]
        lo = lo if p.start([lo])[0].normalize() >= s else lo + 1
        hi = p.index([e + pd.Timedelta(days=1) - pd.Timedelta(1, "ns")])[0]
        idx = np.arange(lo, hi + 1)
        keep = (p.start(idx).normalize() >= s) & (p.start(idx).normalize() <= e)
        if not keep.any():
            raise ConfigError(f"no {p.kind} starts between start={self.start} and end={self.end}")
        return idx[keep]

    def period_starts(self) -> pd.DatetimeIndex:
        return self.periods.start(self.period_indexes())

    def refit_mask(self) -> np.ndarray:
        return np.arange(len(self.period_indexes())) % self.refit_every == 0

    def origins(self, panel: Panel) -> np.ndarray:
        """Panel columns of the forecast periods (checked to lie inside the panel)."""
        if panel.periods != self.periods:
            raise ConfigError(f"split period {self.periods!r} differs from panel period "
                              f"{panel.periods!r}")
        cols = self.period_indexes() - panel.first
        if cols.min() < 1 or cols.max() >= panel.n_periods:
            raise DataError(f"forecast periods must lie inside the panel with history before "
                            f"them: columns {int(cols.min())}..{int(cols.max())}, panel has "
                            f"0..{panel.n_periods - 1}")
        return cols


@dataclass
class BacktestResult:
    """Scores and observations of a backtest.

    ``scores[(model, target)]`` and ``observed[target]`` are arrays ``(n_periods, n_cells)``;
    ``period_starts`` are local starts; ``reference`` names non-forecast references.
    """

    panel: Panel
    period_starts: pd.DatetimeIndex
    scores: dict[tuple[str, str], np.ndarray]
    observed: dict[str, np.ndarray]
    reference: set[str] = field(default_factory=set)
    timings: dict[str, float] = field(default_factory=dict)
    #: ``probabilities[(model, target)]``: calibrated P(at least one incident), periods x cells,
    #: for models with ``probability_from_mean``.
    probabilities: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(m for m, _ in self.scores))

    @property
    def targets(self) -> list[str]:
        return list(self.observed)


def backtest(models: Mapping[str, RiskModel | Callable[[], RiskModel]], panel: Panel,
             split: RollingOrigin, *, targets: Sequence[str] | None = None,
             progress: Callable[[str], None] | None = None, n_jobs: int = 2) -> BacktestResult:
    """Rolling-origin backtest of every model on every target.

    Parameters
    ----------
    models : mapping of name to model or zero-argument factory
        A model with ``get_params`` is cloned (``sklearn.base.clone``) per target; a factory is
        called per target. Models are refitted where ``split.refit_mask()`` is true; an
        object with ``is_forecast = False`` is reported as a reference. A model with
        ``predict_risk_many(panel, origins)`` is asked once per block of origins between two
        refits; others once per origin.
    panel : Panel
    split : RollingOrigin
    targets : sequence of str, optional
        Default: every target of the panel.
    progress : callable, optional
        Called with a short message after each (model, target).
    n_jobs : int, default 2
        (model, target) pairs run in up to this many threads, taken in the order given (models
        first, then targets), so two targets of the first, usually slowest, model start at once
        and the baselines fill the other thread around them. Each pair fits its own clone and
        the panel keeps two targets' feature caches (``features.CACHE_TARGETS``). Models are
        independent and seeded, so the scores do not depend on ``n_jobs``; the numeric
        libraries release the GIL, so two threads use two cores.
    """
    import queue
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    if not (isinstance(n_jobs, int | np.integer) and n_jobs >= 1):
        raise ConfigError(f"n_jobs must be a positive whole number of threads; got {n_jobs!r}")
    cols = split.origins(panel)
    refit = split.refit_mask()
    targets = list(targets) if targets is not None else panel.targets
    observed = {t: panel.counts[t][:, cols].T.astype(np.float64) for t in targets}
    blocks = np.split(np.arange(len(cols)), np.flatnonzero(refit)[1:])  # origins between refits
    views = {t: panel.for_target(t) for t in targets}

    said: queue.Queue = queue.Queue()

    def run_pair(name: str, spec, target: str):
        done = _run_one(spec, views[target], cols, blocks)
        said.put(f"{target}: {name} done in {done[3]:.1f}s")
        return done

    def relay() -> None:  # progress is called from the calling thread only (it may hold a session)
        while progress is not None and not said.empty():
            progress(said.get())

    pairs = [(name, spec, target) for name, spec in models.items() for target in targets]
    if n_jobs == 1:
        runs = {}
        for name, spec, target in pairs:
            runs[(name, target)] = run_pair(name, spec, target)
            relay()
    else:
        with ThreadPoolExecutor(max_workers=int(n_jobs)) as pool:
            # Each thread runs in a copy of the caller's context, so context variables set by the
            # caller (an open Dask cluster: forecasting.scaleout.cluster) reach the models.
            futures = {(name, target): pool.submit(contextvars.copy_context().run, run_pair,
                                                   name, spec, target)
                       for name, spec, target in pairs}
            pending = set(futures.values())
            while pending:
                _, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
                relay()
            runs = {key: f.result() for key, f in futures.items()}
        relay()
    scores: dict[tuple[str, str], np.ndarray] = {}
    reference, timings, probabilities = set(), {}, {}
    for target in targets:  # target-major, models in the order given, whatever ran first
        for name in models:
            out, prob, is_forecast, seconds = runs[(name, target)]
            scores[(name, target)] = out
            if prob is not None:
                probabilities[(name, target)] = prob
            if not is_forecast:
                reference.add(name)
            timings[f"{name}/{target}"] = seconds
    return BacktestResult(panel, panel.period_starts[cols], scores, observed, reference, timings,
                          probabilities)


def _run_one(spec, pt: Panel, cols: np.ndarray, blocks: list[np.ndarray]):
    """One model on one target: fit at the first origin of each block, score the block."""
    import time

    from sklearn.base import clone

    t0 = time.perf_counter()
    model = clone(spec) if hasattr(spec, "get_params") else spec()
    out = np.empty((len(cols), pt.n_cells))
    to_prob = getattr(model, "probability_from_mean", None)
    prob = np.empty_like(out) if to_prob is not None else None
    many = getattr(model, "predict_risk_many", None)
    for block in blocks:  # refits of the backtest
        model.fit(pt, int(cols[block[0]]))
        if many is not None:
            out[block] = many(pt, cols[block])
        else:
            for i in block:  # periods of the block
                out[i] = model.predict_risk(pt, int(cols[i]))
        if prob is not None:  # through the curve fitted before these periods
            prob[block] = to_prob(out[block])
    release = getattr(pt, "release", None)
    if release is not None:  # this target's feature caches: only the model just run reads them
        release()
    return out, prob, getattr(model, "is_forecast", True), time.perf_counter() - t0


# -- summaries ----------------------------------------------------------------------------------
def summarise(result: BacktestResult, *, shares: Sequence[float] = AREA_SHARES,
              n_boot: int = 1000, random_state: int = 0, challenger: str | None = "lgbm",
              ceiling: str | None = "rate_oracle") -> dict:
    """Every metric for every (model, target), plus bootstrap comparisons.

    The challenger (default ``"lgbm"``) is compared, at each share, with the strongest
    forecast baseline at that share (highest PAI; references excluded). When the reference
    ``ceiling`` was run, ``headroom`` records, per share, the PAI of the strongest baseline,
    the challenger and the ceiling, and the share of the room between baseline and ceiling
    the challenger won (NaN when the ceiling is not above the baseline), and the paired
    bootstrap p-value of the ceiling against that baseline: when even the ceiling's gain is
    within noise, a significant gain by a forecast of cells' rates is unlikely at that share
    (the ceiling is approximate: a model that pools neighbours can exceed it).
    """
    areas = result.panel.grid.areas
    out: dict[str, Any] = {"area_shares": list(shares), "note": PAI_CELL_SIZE_NOTE,
                           "references": sorted(result.reference),
                           "cell_size_m": result.panel.grid.cell_size,
                           "n_cells": result.panel.n_cells, "n_periods": len(result.period_starts),
                           "period": result.panel.periods.kind, "targets": {}}
    for target in result.targets:
        obs = result.observed[target]
        rows = {}
        sh = np.asarray(shares, dtype=np.float64)
        tot = obs.sum()
        best = captured(obs / areas, obs, areas, sh).sum(axis=0) / tot
        for model in result.models:
            s = result.scores[(model, target)]
            got = captured(s, obs, areas, sh)
            hit = got.sum(axis=0) / tot
            need = _hindsight_area(obs, np.broadcast_to(areas, obs.shape), got).sum(axis=0)
            m = {"n_incidents": float(tot)}
            for j, x in enumerate(sh):
                key = f"{x * 100:g}%"
                m[f"hit_rate@{key}"] = float(hit[j])
                m[f"pai@{key}"] = float(hit[j] / x)
                m[f"pei@{key}"] = float(hit[j] / best[j]) if best[j] > 0 else float("nan")
                m[f"pei_star@{key}"] = float(need[j] / (x * areas.sum() * obs.shape[0]))
            m["poisson_deviance"] = poisson_deviance(s, obs)
            m["brier"] = brier_score(s, obs)
            if (model, target) in result.probabilities:
                pr = result.probabilities[(model, target)]
                m["brier_calibrated"] = float(np.mean((pr - (obs > 0)) ** 2))
                m["reliability"] = reliability(pr, obs)
                m["reliability_poisson"] = reliability(-np.expm1(-np.maximum(s, 0.0)), obs)
            rows[model] = m
        entry: dict[str, Any] = {"models": rows, "bootstrap": {}}
        if challenger and (challenger, target) in result.scores:
            for sh in shares:
                key = f"{sh * 100:g}%"
                base = [m for m in rows if m != challenger and m not in result.reference]
                if not base:
                    continue
                best = max(base, key=lambda m, k=key: rows[m][f"pai@{k}"])
                bs = paired_bootstrap(result.scores[(challenger, target)],
                                      result.scores[(best, target)], obs, areas, sh,
                                      n_boot=n_boot, random_state=random_state)
                entry["bootstrap"][key] = {"challenger": challenger, "baseline": best, **bs}
                if ceiling in rows and ceiling in result.reference:
                    b0, c0 = rows[best][f"pai@{key}"], rows[challenger][f"pai@{key}"]
                    top = rows[ceiling][f"pai@{key}"]
                    # Could even the ceiling beat the baseline beyond noise? If not, a
                    # forecast of cells' rates is unlikely to.
                    cb = paired_bootstrap(result.scores[(ceiling, target)],
                                          result.scores[(best, target)], obs, areas, sh,
                                          n_boot=n_boot, random_state=random_state)
                    entry.setdefault("headroom", {})[key] = {
                        "baseline": best, "baseline_pai": b0, "challenger_pai": c0,
                        "ceiling": ceiling, "ceiling_pai": top,
                        "share_won": (c0 - b0) / (top - b0) if top > b0 else float("nan"),
                        "ceiling_p_value": cb["p_value"]}
        out["targets"][target] = entry
    _adjust_p_values(out)
    return out


def _adjust_p_values(summary: dict) -> None:
    """Add Benjamini-Hochberg adjusted p-values next to every raw bootstrap p-value, in place.

    One family per table: the challenger-vs-baseline p-values over every target and share of
    the run (``p_adjusted``), and the ceiling-vs-baseline ones (``ceiling_p_adjusted``).
    """
    from scipy.stats import false_discovery_control

    for block, raw, adj in (("bootstrap", "p_value", "p_adjusted"),
                            ("headroom", "ceiling_p_value", "ceiling_p_adjusted")):
        cells = [e for t in summary["targets"].values() for e in t.get(block, {}).values()]
        if not cells:
            continue
        p = np.array([c[raw] for c in cells], dtype=np.float64)
        q = np.full(p.shape, np.nan)
        ok = np.isfinite(p)
        if ok.any():
            q[ok] = false_discovery_control(np.clip(p[ok], 0.0, 1.0), method="bh")
        for c, v in zip(cells, q, strict=True):
            c[adj] = float(v)


def markdown_table(summary: dict, target: str, shares: Sequence[float] | None = None) -> str:
    """One markdown table: every model side by side for ``target`` (default: the summary's shares)."""
    if shares is None:
        shares = summary.get("area_shares", AREA_SHARES)
    rows = summary["targets"][target]["models"]
    refs = set(summary.get("references", []))
    keys = [f"{s * 100:g}%" for s in shares]
    head = (["model"] + [f"PAI@{k}" for k in keys] + [f"PEI*@{k}" for k in keys]
            + [f"hit@{keys[-1]}", "Poisson dev.", "Brier"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for model, m in rows.items():
        label = f"{model} (not a forecast)" if model in refs else model
        vals = ([f"{m[f'pai@{k}']:.2f}" for k in keys] + [f"{m[f'pei_star@{k}']:.2f}" for k in keys]
                + [f"{m[f'hit_rate@{keys[-1]}']:.3f}", f"{m['poisson_deviance']:.4f}",
                   f"{m['brier']:.4f}"])
        lines.append("| " + " | ".join([label] + vals) + " |")
    return "\n".join(lines)


def plot_capture_curves(result: BacktestResult, target: str, path: str | Path) -> Path:
    """Capture curves (hit rate vs area share, log x) of every model, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    areas = result.panel.grid.areas
    obs = result.observed[target]
    shares = np.geomspace(0.001, 1.0, 40)
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for model in result.models:
        cc = capture_curve(result.scores[(model, target)], obs, areas, shares)
        style = ":" if model in result.reference else "-"
        ax.plot(cc.area_share * 100, cc.hit_rate, style, label=model + (
            " (not a forecast)" if model in result.reference else ""))
    ax.set_xscale("log")
    ax.set_xlabel("share of study area flagged (%)")
    ax.set_ylabel("share of incidents captured")
    ax.set_title(f"Capture curves, {target} ({result.panel.grid.cell_size:g} m cells)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(result: BacktestResult, summary: dict, out_dir: str | Path, *,
                 plots: bool = True, extra: str = "") -> Path:
    """Write ``metrics.json``, ``report.md`` and capture-curve PNGs into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(summary, indent=2, default=float))
    ps = result.period_starts
    lines = ["# Backtest report", "",
             f"{len(ps)} {result.panel.periods.kind}ly forecasts, {ps[0].date()} to {ps[-1].date()}; "
             f"{result.panel.n_cells} cells of {result.panel.grid.cell_size:g} m "
             f"({result.panel.grid.crs.to_string()}). Each period is forecast from incidents "
             "before it only.", "", f"**{PAI_CELL_SIZE_NOTE}**", "",
             "`hindsight` is not a forecast: it is the period's own counts, the best any map "
             "could do, and the reference of PEI*.",
             "`rate_oracle` is not a forecast either: each cell's rate from its counts in the "
             "periods before and after the period (weights decaying with distance in time, the "
             "period itself excluded; at shift and hour periods only the periods in the same "
             "shift or hour of the day, a same-slot map in hindsight). It knows where "
             "crime usually is at that time but not the period's own chance variation, so it "
             "approximates the best any forecast of cells' underlying rates could do. The room "
             "a better model can win lies between the strongest baseline and `rate_oracle`; "
             "the gap from `rate_oracle` to `hindsight` is chance no rate forecast captures.",
             ""]
    if extra:
        lines += [extra, ""]
    for target in result.targets:
        lines += [f"## {target}", "", markdown_table(summary, target), ""]
        for key, b in summary["targets"][target]["bootstrap"].items():
            lines.append(f"- PAI@{key}: {b['challenger']} - {b['baseline']} = {b['diff']:+.2f} "
                         f"(95% CI {b['ci_low']:+.2f} to {b['ci_high']:+.2f}, one-sided p = "
                         f"{b['p_value']:.3f}, Benjamini-Hochberg adjusted over the run's table "
                         f"{b.get('p_adjusted', float('nan')):.3f}, {b['n_boot']} paired bootstrap "
                         "resamples of periods)")
        for model, m in summary["targets"][target]["models"].items():
            if "reliability" not in m:
                continue
            lines += ["", f"Calibrated probability of at least one incident per cell and period, "
                      f"`{model}`: Brier score {m['brier_calibrated']:.5f} (the Poisson reading "
                      f"1 - exp(-mu) of the same means: {m['brier']:.5f}). Isotonic curve fitted "
                      "at each refit on the validation periods before it. Reliability:", "",
                      "| predicted from | cell-periods | mean predicted | observed | "
                      "Poisson reading: mean predicted | observed |", "|---|---|---|---|---|---|"]
            pois = {r["bin"]: r for r in m["reliability_poisson"]}
            for r in m["reliability"]:
                q = pois.get(r["bin"])
                lines.append(f"| {r['bin']:g} | {r['n']} | {r['predicted']:.4f} | "
                             f"{r['observed']:.4f} | "
                             + (f"{q['predicted']:.4f} | {q['observed']:.4f} |" if q else "- | - |"))
            lines.append("")
        for key, r in summary["targets"][target].get("headroom", {}).items():
            sw = r["share_won"]
            won = ("" if np.isnan(sw) else "; above the ceiling" if sw > 1
                   else "; below the baseline" if sw < 0 else f"; {sw:.0%} of that room won")
            lines.append(f"- Room at PAI@{key}: strongest baseline {r['baseline']} "
                         f"{r['baseline_pai']:.2f}, {r['ceiling']} {r['ceiling_pai']:.2f} "
                         f"(one-sided p {r['ceiling_p_value']:.3f} against the baseline), "
                         f"challenger {r['challenger_pai']:.2f}{won} (ceiling's p Benjamini-"
                         f"Hochberg adjusted over the run: "
                         f"{r.get('ceiling_p_adjusted', float('nan')):.3f})")
        if plots:
            safe = "".join(ch if ch.isalnum() else "_" for ch in target)
            png = plot_capture_curves(result, target, out / f"capture_{safe}.png")
            lines += ["", f"![capture curves {target}]({png.name})"]
        lines.append("")
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path
