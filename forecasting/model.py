"""LightGBM risk model: expected incident counts per cell and period.

:class:`LGBMRiskModel` follows the scikit-learn estimator contract and the backtest protocol
``fit(panel, origin)`` / ``predict_risk(panel, origin)``: ``origin`` is the panel column being
forecast; training rows are (cell, period) pairs of earlier columns whose features come from
:class:`~forecasting.features.FeatureBuilder` (so nothing at or after a row's period is read).

Layer 3: imports layers 0-2, numpy, pandas and lightgbm.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from forecasting import __version__
from forecasting.errors import ConfigError, DataError, InputError
from forecasting.features import FeatureBuilder, Panel, describe_feature, periods_spanned, top_capture
from forecasting.params import (
    Params,
    instance_of,
    is_int,
    is_number,
    non_negative_int,
    number_in,
    positive_int,
    positive_number,
)
from forecasting.periods import Periods

ARTIFACT_FORMAT = "crimecast-lgbm/1"
#: What the prediction is blended toward by default, per period kind (the rest: ``rate_all``).
#: Chosen on the Vancouver shift validation quarter, before any backtest (docs/forecasting.md).
BLEND_FEATURES = {"shift": "tod_rate_eb", "hour": "tod_rate_eb"}
#: Blend weights ``blend="auto"`` chooses from.
BLEND_GRID = (0.0, 0.15, 0.3, 0.45, 0.6, 0.75)
#: Area shares whose validation capture ``blend="auto"`` maximises (summed PAI).
BLEND_SHARES = (0.01, 0.05)
#: Bytes of features built at once for training rows (then subsampled); the panel is read
#: once per pass, so fewer, larger passes are faster.
ROW_BUDGET = 768 * 2**20
#: Monte Carlo draws :func:`top_k_chance` uses by default (standard error <= 0.5 / sqrt(n)).
TOP_K_SIMS = 1000
#: Periods :meth:`LGBMRiskModel.predict_risk_many` scores per booster call.
PREDICT_CHUNK = 64


class LGBMRiskModel(Params):
    """Gradient-boosted (Tweedie, log link) model of the count per cell and period.

    Parameters
    ----------
    objective : str, default "tweedie"
        LightGBM objective ("tweedie" with variance power 1.5, "poisson", "regression", ...).
        Log-link objectives ("tweedie", "poisson") are needed for ``offset_days``. Tweedie
        was chosen over Poisson on the 2023 Vancouver validation year (before any backtest
        period): +0.25 PAI@1 % on average over four targets, same PAI@5 %.
    n_estimators, learning_rate, num_leaves, min_child_samples, subsample, colsample_bytree,
    reg_lambda : LightGBM settings.
    training_days : int, default 728
        Length of the training window before the origin (rows are cell-periods).
    validation_days : int, default 91
        Time-ordered tail of the training window used for early stopping.
    early_stopping_rounds : int, default 20
    negative_rate : float, default 0.1
        Share of zero-count rows kept; kept zeros are weighted ``1 / negative_rate`` so the
        mean stays calibrated.
    blend : float or "auto", default 0.3
        Weight of the cell's long-run rate (``blend_feature``) blended into the prediction
        (shrinks noise).
        ``"auto"`` picks it from ``BLEND_GRID`` by the capture of the top 1 % and 5 % of the
        area over the validation tail (out-of-sample for the booster, before the origin);
        the choice is ``blend_``.
    blend_feature : str, optional
        What the prediction is blended toward: a feature read as a mean count per period
        (:func:`~forecasting.features.periods_spanned`), e.g. ``"rate_all"`` (the cell's
        long-run rate), ``"tod_52w"`` (the cell's mean in the period's shift or hour of the day
        over 52 weeks: the time-of-day rule) or ``"tod_rate_eb"`` (the cell's rate in this
        slot of the day, shrunk toward its ring's and the city's profile). By default
        (``None``) ``"tod_rate_eb"`` at shift and hour periods and ``"rate_all"`` at weeks and
        days (:func:`default_blend_feature`): on the Vancouver shift validation quarter
        2025-04-01..2025-06-30 blending toward ``tod_rate_eb`` scored PAI@1 % x1.001 of the
        strongest baseline (mean over three targets) against x0.993 toward ``rate_all``
        (docs/forecasting.md, round 3). The value used is ``blend_feature_``.
    target_slot_days : int, optional
        Training target for ranking: the mean count in the row's slot of the day (same shift
        or hour) over this many days from the row's period (at weeks and days: the next
        periods). Early stopping, ``blend="auto"`` and the probability calibration still use
        one-period outcomes (the last ``validation_days``).
    target_days : int, optional
        Training target: the mean count per period over this many days from the row's period
        (default: one period). A longer target averages out noise in the quantity the ranking
        depends on, the cell's underlying rate, but at shift and hour periods it also averages
        away the time of day; only rows whose whole target span lies before the origin are
        used.
    max_train_periods : int, default 364
        At most this many training (and, separately, validation) periods are used as rows:
        when the window holds more (shift and hour periods), they are taken at an even stride
        that cycles through every slot of the week (shift or hour x weekday), and features are
        computed for those columns only. Weekly windows (about 90 periods) use every period.
    offset_days : int, optional
        When set, the booster learns a multiplicative correction to a base rate instead of the
        rate itself: each row gets the offset (LightGBM ``init_score``)
        ``log((count over the last offset_days + offset_prior) / window periods)``, read from
        the ``count_{w}p`` feature (so it obeys the features' leakage guard; the window must be
        one of ``features.windows_days``). Trees give piecewise-constant rates, so without an
        offset the densest cells fall into a few leaves and tie; the offset keeps the base
        rate's fine ranking at the top of the map and the trees adjust it.
    offset_prior : float, default 0.5
        Pseudo-count added to the offset window so cells with no history get a finite base.
    offset_feature : str, optional
        Alternative to ``offset_days``: the offset is ``log(feature + 1e-3)`` of a feature that
        is itself an expected count per period, e.g. ``"tod_rate_eb"`` (the cell's rate in the
        period's shift or hour of the day, empirical Bayes; see
        :class:`~forecasting.features.FeatureBuilder`), so the trees correct the time-of-day
        baseline instead of relearning it. Off by default at every period: on the Vancouver
        shift validation quarter 2025-04-01..2025-06-30 it scored PAI@1 % x0.978 of the best
        time-of-day count against x0.997 without it (docs/forecasting.md).
    features : FeatureBuilder or dict, optional
    random_state : int, default 0
    n_jobs : int, default 1
        LightGBM threads. One: on the 2-core machine a fit with two threads took twice the
        CPU time and wall time of a fit with one whenever anything else ran (OpenMP threads
        wait on each other), and the backtest already runs models in two threads
        (:func:`forecasting.evaluate.backtest`). Predictions do not depend on it beyond
        floating-point summation order.
    use_context : bool, default False
        Append the panel's context features (camera activity, places, areas; see
        :mod:`forecasting.context`) to the history features.

    Attributes
    ----------
    booster_ : lightgbm.Booster
    feature_names_ : list of str
    best_iteration_ : int
    metadata_ : dict

    Examples
    --------
    >>> m = LGBMRiskModel(n_estimators=50)
    >>> m.get_params()["n_estimators"]
    50
    """

    def __init__(self, *, objective: str = "tweedie", n_estimators: int = 150,
                 learning_rate: float = 0.1, num_leaves: int = 15, min_child_samples: int = 200,
                 subsample: float = 0.8, colsample_bytree: float = 0.8, reg_lambda: float = 1.0,
                 training_days: int = 728, validation_days: int = 91,
                 early_stopping_rounds: int = 20, negative_rate: float = 0.1, blend: float = 0.3,
                 target_days: int | None = None, max_train_periods: int = 364,
                 features: FeatureBuilder | dict | None = None,
                 random_state: int = 0, n_jobs: int = 1, use_context: bool = False,
                 offset_days: int | None = None, offset_prior: float = 0.5,
                 offset_feature: str | None = None, target_slot_days: int | None = None,
                 blend_feature: str | None = None) -> None:
        self.objective = objective
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.training_days = training_days
        self.validation_days = validation_days
        self.early_stopping_rounds = early_stopping_rounds
        self.negative_rate = negative_rate
        self.blend = blend
        self.target_days = target_days
        self.max_train_periods = max_train_periods
        self.features = features
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.use_context = use_context
        self.offset_days = offset_days
        self.offset_prior = offset_prior
        self.offset_feature = offset_feature
        self.target_slot_days = target_slot_days
        self.blend_feature = blend_feature

    # -- sklearn plumbing: parameters come from __init__; what each accepts, checked at fit --
    _CONSTRAINTS = {
        "objective": instance_of(str, what="a LightGBM objective name"),
        "n_estimators": positive_int(), "learning_rate": positive_number(),
        "num_leaves": positive_int(), "min_child_samples": non_negative_int(),
        "subsample": number_in(0, 1, low_open=True), "colsample_bytree": number_in(0, 1, low_open=True),
        "reg_lambda": number_in(0, float("inf")),
        "training_days": positive_int(), "validation_days": positive_int(),
        "early_stopping_rounds": positive_int(),
        "negative_rate": ((lambda v: is_number(v) and 0 < v <= 1), "in (0, 1]"),
        "blend": ((lambda v: (isinstance(v, str) and v == "auto") or (is_number(v) and 0 <= v <= 1)),
                  "a number in [0, 1] or 'auto'"),
        "target_days": ((lambda v: v is None or (is_number(v) and v > 0)), "a positive number of days or None"),
        "max_train_periods": ((lambda v: is_int(v) and v >= 2), "a whole number of periods >= 2"),
        "features": instance_of(FeatureBuilder, dict, type(None), what="a FeatureBuilder, a dict or None"),
        "random_state": non_negative_int(), "n_jobs": (is_int, "a whole number"),
        "use_context": instance_of(bool, what="True or False"),
        # Positivity of the offset pair is checked together in _check_params.
        "offset_days": ((lambda v: v is None or is_int(v)), "a whole number or None"),
        "offset_prior": (is_number, "a number"),
        "offset_feature": instance_of(str, type(None), what="a feature name or None"),
        "target_slot_days": positive_int(none=True),
        "blend_feature": instance_of(str, type(None), what="a feature name or None"),
    }

    def __repr__(self) -> str:
        return f"LGBMRiskModel(objective={self.objective!r}, n_estimators={self.n_estimators})"

    def feature_builder(self) -> FeatureBuilder:
        """The :class:`FeatureBuilder` the model computes its history features with (``features``, else the default)."""
        f = self.features
        if f is None:
            return FeatureBuilder()
        return FeatureBuilder.from_dict(f) if isinstance(f, dict) else f

    # -- context features (cameras, places, areas): an opt-in extension point -----------------
    def _with_context(self, panel: Panel, X: np.ndarray, names: list[str], cols: np.ndarray):
        """Append ``panel.context`` (a :class:`forecasting.context.ContextFeatures`) when ``use_context``."""
        if not self.use_context:
            return X, names
        ctx = getattr(panel, "context", None)
        if ctx is None:
            raise DataError("use_context=True needs a panel with context features (panel.context); got None. "
                            "Pass context= to run_backtest, or set panel.context")
        extra = ctx.at(panel.first + np.asarray(cols, dtype=np.int64))
        return np.concatenate([X, extra], axis=0), list(names) + list(ctx.names)

    def _check_params(self) -> None:
        self._validate_params()
        if self.offset_days is not None and not (self.offset_days > 0 and self.offset_prior > 0):
            raise ConfigError(f"offset_days and offset_prior must be positive; got "
                              f"offset_days={self.offset_days!r}, offset_prior={self.offset_prior!r}")
        if not (isinstance(self.max_train_periods, int | np.integer) and self.max_train_periods >= 2):
            raise ConfigError(f"max_train_periods must be a whole number of periods >= 2; got "
                              f"{self.max_train_periods!r}")
        if self.target_days is not None and not self.target_days > 0:
            raise ConfigError(f"target_days must be a positive number of days or None; got "
                              f"{self.target_days!r}")
        if self.validation_days >= self.training_days:
            raise ConfigError(f"validation_days must be shorter than training_days; got "
                              f"{self.validation_days} >= {self.training_days}")

    def _lgb_params(self) -> dict:
        return {"objective": self.objective, "learning_rate": self.learning_rate,
                "num_leaves": self.num_leaves, "min_data_in_leaf": self.min_child_samples,
                "bagging_fraction": self.subsample, "bagging_freq": 1 if self.subsample < 1 else 0,
                "feature_fraction": self.colsample_bytree, "lambda_l2": self.reg_lambda,
                "seed": self.random_state, "num_threads": self.n_jobs, "verbosity": -1,
                "max_bin": 63, "force_row_wise": True}

    def _offset(self, X: np.ndarray, names: list[str], periods) -> np.ndarray | None:
        """Log base rate per row (rows x features ``X``) from ``count_{w}p``, or None."""
        if self.offset_feature is not None:
            if self.offset_feature not in names:
                raise ConfigError(f"offset_feature must be one of the model's features; got "
                                  f"{self.offset_feature!r} (features: {names[:4]}...)")
            return np.log(X[:, names.index(self.offset_feature)].astype(np.float64) + 1e-3)
        if self.offset_days is None:
            return None
        w = periods.from_days(self.offset_days)
        name = f"count_{w}p"
        if name not in names:
            raise ConfigError(f"offset_days={self.offset_days!r} needs the feature {name!r}; add "
                              f"{self.offset_days} to features.windows_days")
        return np.log((X[:, names.index(name)].astype(np.float64) + self.offset_prior) / w)

    # -- training -----------------------------------------------------------------------------
    def _horizon(self, periods) -> int:
        """Periods a training row's target spans (from its own period on)."""
        if self.target_slot_days is not None:
            m, k = self._slot_target(periods)
            return (k - 1) * m + 1
        return 1 if self.target_days is None else periods.from_days(self.target_days)

    def _slot_target(self, periods) -> tuple[int, int]:
        """(columns between two periods of the same slot of the day, periods averaged)."""
        m = max(1, int(round(1 / periods.days)))
        return m, max(1, periods.from_days(self.target_slot_days) // m)

    def _target(self, panel: Panel, cols: np.ndarray, h: int) -> np.ndarray:
        """Training target at ``cols``: the count, or its mean over the ``h`` periods from each."""
        if h == 1:
            return panel.y[:, cols]
        if self.target_slot_days is not None:
            # Same slot of the day (shift, hour) on the next k days: sum k strided columns.
            m, k = self._slot_target(panel.periods)
            y = np.zeros((panel.n_cells, len(cols)), dtype=np.float64)
            for j in range(k):  # k whole-array adds (k <= a few dozen)
                y += panel.y[:, cols + j * m]
            return y / k
        cum = np.zeros((panel.n_cells, panel.n_periods + 1))
        np.cumsum(panel.y, axis=1, out=cum[:, 1:])
        return (cum[:, cols + h] - cum[:, cols]) / h

    def _rows(self, panel: Panel, cols: np.ndarray, rng: np.random.Generator | None, h: int = 1):
        """Training rows at columns ``cols`` (see :meth:`_row_sets`)."""
        return self._row_sets(panel, [cols], rng, h)[0]

    def _row_sets(self, panel: Panel, col_sets: list[np.ndarray], rng, h: int | list[int] = 1) -> list:
        """Rows ``(X, y, weight, names)`` per set of columns; features for those columns only.

        All sets go through one :meth:`FeatureBuilder.transform` pass when their features fit
        in ``ROW_BUDGET`` bytes (each pass reads the whole panel); otherwise each set is built
        in chunks, each subsampled before the next, so memory follows the rows kept.
        """
        hs = list(h) if isinstance(h, list) else [h] * len(col_sets)
        cols = np.concatenate(col_sets)
        n_feat = len(self.feature_builder().feature_names(panel)) + (
            len(panel.context.names) if self.use_context and panel.context is not None else 0)
        chunk = max(16, ROW_BUDGET // (4 * n_feat * panel.n_cells))
        if len(cols) <= chunk:
            X, names = self.feature_builder().transform(panel, cols)
            X, names = self._with_context(panel, X, names, cols)
            out, i = [], 0
            for c, hc in zip(col_sets, hs, strict=True):  # training, then validation
                out.append(self._sample_rows(panel, X[:, :, i:i + len(c)], names, c, rng, hc))
                i += len(c)
            return out
        out = []
        for c, hc in zip(col_sets, hs, strict=True):
            parts = [self._chunk_rows(panel, c[i:i + chunk], rng, hc)
                     for i in range(0, len(c), chunk)]  # a few chunks per set
            out.append(parts[0] if len(parts) == 1 else (
                np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                np.concatenate([p[2] for p in parts]), parts[0][3]))
        return out

    def _chunk_rows(self, panel: Panel, cols: np.ndarray, rng, h: int):
        X, names = self.feature_builder().transform(panel, cols)
        X, names = self._with_context(panel, X, names, cols)
        return self._sample_rows(panel, X, names, cols, rng, h)

    def _sample_rows(self, panel: Panel, X: np.ndarray, names: list[str], cols: np.ndarray,
                     rng, h: int):
        """Flatten features ``X`` at ``cols`` to rows and subsample the zero-count ones."""
        y = self._target(panel, cols, h)
        # Rows are cell-major within each origin; flatten with features last for LightGBM.
        Xr = X.reshape(X.shape[0], -1).T
        yr = y.reshape(-1).astype(np.float64)
        w = np.ones_like(yr)
        if rng is not None and self.negative_rate < 1:
            keep = (yr > 0) | (rng.random(yr.size) < self.negative_rate)
            w = np.where(yr > 0, 1.0, 1.0 / self.negative_rate)[keep]
            Xr, yr = Xr[keep], yr[keep]
        return np.ascontiguousarray(Xr), yr, w, names

    def training_rows(self, panel: Panel, X: np.ndarray, names: list[str], cols: np.ndarray, rng,
                      h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Booster rows of features ``X`` (features x cells x ``len(cols)``) computed at ``cols``.

        What :meth:`fit` trains on, for a caller that computed the features itself (the Dask
        path, per tile): zero-count rows subsampled at ``negative_rate`` with ``rng`` (``None``:
        all kept), the target over ``h`` periods from each column.

        Returns
        -------
        (X, y, weight, init_score)
            Rows x features, and per row the target, its weight and the log base-rate offset
            (zeros when the model has none).
        """
        Xr, yr, w, _ = self._sample_rows(panel, X, names, cols, rng, h)
        off = self._offset(Xr, names, panel.periods)
        return Xr, yr, w, np.zeros_like(yr) if off is None else off

    def _sample(self, cols: np.ndarray, periods) -> np.ndarray:
        """At most ``max_train_periods`` of ``cols`` at an even stride cycling through the week's slots."""
        cap = int(self.max_train_periods)
        if len(cols) <= cap:
            return cols
        week = max(1, round(7 / periods.days))
        stride = -(-len(cols) // cap)
        while np.gcd(stride, week) != 1:  # coprime: consecutive picks visit every slot
            stride += 1
        # Anchored on the newest column so the most recent periods are always in.
        return cols[::-1][::stride][::-1]

    def fit(self, panel: Panel, origin: int) -> LGBMRiskModel:
        """Fit on cell-periods before ``origin`` for the panel's current target.

        Parameters
        ----------
        panel : Panel
        origin : int
            First panel column *not* used as a training target (the period to forecast).

        Returns
        -------
        self
        """
        self._check_params()
        origin = panel.check_origin(origin)
        p = panel.periods
        n_train = p.from_days(self.training_days)
        n_val = p.from_days(self.validation_days)
        # Rows need a year of history so that long-window features mean the same thing in
        # training as at forecast time.
        warm = min(p.from_days(364), max(origin - n_train, 0))
        lo = max(origin - n_train, warm, 1)
        if origin - lo < n_val + self._horizon(p) + 2:
            raise DataError(f"too little history before origin column {origin} to train "
                            f"(need more than {n_val + self._horizon(p) + 2} periods; got "
                            f"{origin - lo})")
        rng = np.random.default_rng(self.random_state)
        h = self._horizon(p)
        # Each row's target spans h periods, all of which must precede the origin.
        tr_cols = self._sample(np.arange(lo, origin - n_val - h + 1), p)
        if self.target_slot_days is None:
            va_cols = self._sample(np.arange(origin - n_val - h + 1, origin - h + 1), p)
            h_val = h
        else:
            # The smoothed target is for ranking only: early stopping, the blend and the
            # probability calibration are on one-period outcomes, the quantity forecast.
            va_cols = self._sample(np.arange(origin - n_val, origin), p)
            h_val = 1
        (Xt, yt, wt, names), (Xv, yv, wv, _) = self._row_sets(panel, [tr_cols, va_cols], rng,
                                                              [h, h_val])
        params = self._lgb_params()
        dtrain = lgb.Dataset(Xt, yt, weight=wt, feature_name=names, free_raw_data=True,
                             init_score=self._offset(Xt, names, p),
                             params={"max_bin": 63, "verbosity": -1})
        dvalid = lgb.Dataset(Xv, yv, weight=wv, reference=dtrain,
                             init_score=self._offset(Xv, names, p))
        evals: dict = {}
        metric = {"poisson": "poisson", "tweedie": "tweedie"}.get(self.objective, "l2")
        booster = lgb.train({**params, "metric": metric}, dtrain, self.n_estimators,
                            valid_sets=[dvalid], valid_names=["valid"],
                            callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False),
                                       lgb.record_evaluation(evals)])
        self.booster_ = booster
        self.feature_names_ = names
        self._resolve_blend(names, p)
        self.best_iteration_ = int(booster.best_iteration or self.n_estimators)
        self.blend_ = (self._choose_blend(panel, va_cols) if self.blend == "auto"
                       else float(self.blend))
        self.proba_curve_ = self._calibrate(Xv, yv, wv, panel)
        self.target_ = panel.target
        starts = panel.period_starts
        curve = evals.get("valid", {}).get(metric, [float("nan")])
        self.metadata_ = {
            "format": ARTIFACT_FORMAT,
            "crimecast_version": __version__,
            "lightgbm_version": lgb.__version__,
            "target": panel.target,
            "params": {k: v for k, v in self.get_params().items() if k != "features"},
            "features": self.feature_builder().to_dict(),
            "feature_names": names,
            "training_window": [str(starts[lo].date()), str(starts[origin - 1].date())],
            "validation_window": [str(starts[origin - n_val].date()),
                                  str(starts[origin - 1].date())],
            "origin_period_start": str(panel.periods.start([panel.first + origin])[0]),
            "best_iteration": self.best_iteration_,
            "metrics": {f"valid_{metric}": float(curve[self.best_iteration_ - 1])},
            "blend": self.blend_,
            "blend_feature": self.blend_feature_,
            "blend_span": self.blend_span_,
            "proba_curve": [c.tolist() for c in self.proba_curve_],
            "n_train_rows": int(yt.size),
            "data_hash": panel.data_hash,
            "grid": {"kind": panel.grid.kind, "crs": panel.grid.crs.to_string(),
                     "cell_size": panel.grid.cell_size, "n_cells": panel.n_cells,
                     "fingerprint": panel.grid.fingerprint()},
            "periods": panel.periods.to_dict(),
        }
        return self

    @property
    def metadata(self) -> dict:
        """JSON-serialisable description of the fitted model (for the store's model versions)."""
        self._check_fitted()
        return self.metadata_

    def _check_fitted(self) -> None:
        if not hasattr(self, "booster_"):
            raise DataError("this LGBMRiskModel is not fitted yet; call fit(panel, origin) first")

    def _features_at(self, panel: Panel, origin: int) -> np.ndarray:
        return self._features_many(panel, np.array([origin]))[0]

    def _features_many(self, panel: Panel, origins: np.ndarray) -> np.ndarray:
        """Features at ``origins``, shape (n_origins, n_cells, n_features), checked against training."""
        self._check_fitted()
        X, names = self.feature_builder().cached_transform(panel, origins)
        X, names = self._with_context(panel, X, names, origins)
        if names != self.feature_names_:
            raise InputError(f"feature names differ from training: expected "
                             f"{self.feature_names_[:5]}..., got {names[:5]}...")
        g = self.metadata_["grid"]
        if (g["cell_size"] != panel.grid.cell_size or g["crs"] != panel.grid.crs.to_string()):
            from forecasting.errors import CRSError

            raise CRSError(f"panel grid ({panel.grid.crs.to_string()}, {panel.grid.cell_size:g} m) "
                           f"differs from the model's ({g['crs']}, {g['cell_size']:g} m)")
        return X.transpose(2, 1, 0)

    def predict_risk(self, panel: Panel, origin: int) -> np.ndarray:
        """Expected count per cell for the period at column ``origin`` (history before it).

        Returns
        -------
        ndarray, shape (n_cells,)
        """
        origin = panel.check_origin(origin)
        return self.risk_from_features(self._features_at(panel, origin), panel)

    def predict_risk_many(self, panel: Panel, origins) -> np.ndarray:
        """Expected count per cell for the periods at columns ``origins``, all at once.

        Features for every origin come from one feature pass (history before each origin
        only) and the booster predicts all rows in one call: the same values as
        :meth:`predict_risk` at each origin, without a pass and a call per period. Origins
        are taken in chunks of at most ``PREDICT_CHUNK`` periods so memory stays bounded.

        Parameters
        ----------
        panel : Panel
        origins : array of int
            Panel columns to forecast (each is forecast from the columns before it).

        Returns
        -------
        ndarray, shape (len(origins), n_cells)
        """
        origins = np.array([panel.check_origin(o) for o in np.atleast_1d(origins)], dtype=np.int64)
        out = np.empty((origins.size, panel.n_cells))
        order = np.argsort(origins, kind="stable")  # in time order, so the feature cache is reused
        for i in range(0, origins.size, PREDICT_CHUNK):  # a few chunks of periods
            idx = order[i:i + PREDICT_CHUNK]
            X = self._features_many(panel, origins[idx])
            rows = X.reshape(-1, X.shape[2])  # origin-major rows
            out[idx] = self.risk_from_features(rows, panel).reshape(len(idx), panel.n_cells)
        return out

    def risk_from_features(self, X: np.ndarray, panel: Panel) -> np.ndarray:
        """Expected counts of feature rows ``X`` (rows x ``feature_names_``) of ``panel``'s periods.

        The fitted booster's prediction (with the base-rate offset when one is set), blended
        towards ``blend_feature_``: :meth:`predict_risk` once the features are computed.
        """
        return self._blend(X, self._mu(X, panel))

    def _mu(self, X: np.ndarray, panel: Panel) -> np.ndarray:
        """Booster prediction (expected count), with the base-rate offset when one is set."""
        off = self._offset(X, self.feature_names_, panel.periods)
        if off is None:
            return self.booster_.predict(X, num_iteration=self.best_iteration_)
        raw = self.booster_.predict(X, num_iteration=self.best_iteration_, raw_score=True)
        return np.exp(raw + off)

    def _resolve_blend(self, names: list[str], periods: Periods) -> None:
        """Set ``blend_feature_`` (the setting, or the period's default) and ``blend_span_``."""
        feature = self.blend_feature or default_blend_feature(periods)
        if self.blend_feature is None and feature not in names:
            feature = "rate_all"  # time-of-day features switched off
        if feature not in names:
            raise ConfigError(f"blend_feature must be one of the model's features; got "
                              f"{feature!r} (features: {names[:4]}...)")
        self.blend_feature_ = feature
        self.blend_span_ = periods_spanned(feature, periods)

    def _blend(self, X: np.ndarray, mu: np.ndarray, blend: float | None = None) -> np.ndarray:
        """Shrink towards the cell's long-run rate (``blend_``); see the class docstring."""
        b = self.blend_ if blend is None else blend
        if not b:
            return mu
        rate = X[:, self.feature_names_.index(self.blend_feature_)] / self.blend_span_
        return (1 - b) * mu + b * rate

    def _choose_blend(self, panel: Panel, va_cols: np.ndarray) -> float:
        """The ``BLEND_GRID`` weight with the best top-of-map capture over ``va_cols``.

        The booster never trained on these columns and they all precede the origin, so the
        choice is out-of-sample and leaks nothing from the forecast periods.
        """
        X, names = self.feature_builder().transform(panel, va_cols)
        X, _ = self._with_context(panel, X, names, va_cols)
        Xr = X.reshape(X.shape[0], -1).T  # rows cell-major within each origin
        mu = self._mu(Xr, panel)
        obs = panel.y[:, va_cols].T.astype(np.float64)  # (periods, cells)
        order_area = panel.grid.areas
        gains = [top_capture(self._blend(Xr, mu, b).reshape(panel.n_cells, -1).T, obs,
                              order_area, BLEND_SHARES) for b in BLEND_GRID]
        return float(BLEND_GRID[int(np.argmax(gains))])

    def predict_proba(self, panel: Panel, origin: int) -> np.ndarray:
        """Probability of at least one incident per cell, ``1 - exp(-mu)`` (Poisson).

        A Poisson reading of a Tweedie mean; :meth:`predict_probability` is calibrated.
        """
        return -np.expm1(-self.predict_risk(panel, origin))

    def _calibrate(self, X: np.ndarray, y: np.ndarray, w: np.ndarray, panel: Panel):
        """Isotonic curve of P(count > 0) on the predicted mean, over the validation rows.

        The rows precede the origin and the booster stopped on them but never fitted them;
        kept zeros carry their ``1 / negative_rate`` weights, so frequencies are unbiased.
        Returns ``(x, p)`` knots for :func:`numpy.interp`.
        """
        from sklearn.isotonic import IsotonicRegression

        mu = self.risk_from_features(X, panel)
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        iso.fit(mu, (y > 0).astype(np.float64), sample_weight=w)
        return np.asarray(iso.X_thresholds_, np.float64), np.asarray(iso.y_thresholds_, np.float64)

    def probability_from_mean(self, mu: np.ndarray) -> np.ndarray:
        """Calibrated P(at least one incident) for predicted means ``mu`` (see :meth:`predict_probability`)."""
        self._check_fitted()
        x, p = self.proba_curve_
        return np.interp(mu, x, p)

    def predict_probability(self, panel: Panel, origin: int) -> np.ndarray:
        """Calibrated probability of at least one incident per cell in the period at ``origin``.

        Isotonic regression of the observed indicator (count > 0) on the predicted mean,
        fitted at each :meth:`fit` on the validation tail before the origin (held out from the
        booster's training rows), for the loss actually trained: no Poisson assumption under
        the Tweedie fit. ``explain`` and the stored forecasts report it.
        """
        return self.probability_from_mean(self.predict_risk(panel, origin))

    def explain(self, panel: Panel, origin: int, cells: np.ndarray | None = None,
                top: int = 3) -> pd.DataFrame:
        """Top contributing features per cell, phrased for a planner.

        Contributions are LightGBM ``pred_contrib`` values (log-rate scale); the ``top``
        largest positive ones are described with their values. The first of them that is a
        near-repeat intensity with a half-life within the near-repeat window found by the Knox test
        of the training incidents (``metadata_["analysis"]["near_repeat"]``) ends with that test's
        sentence, e.g. "... — burglary incidents here repeat within 150 m and 7 days 3.3x more
        often than chance".

        Returns
        -------
        DataFrame
            ``cell_id``, ``expected``, ``probability``, ``reasons`` (list of str),
            ``reason_text`` (joined with "; ").
        """
        origin = panel.check_origin(origin)
        X = self._features_at(panel, origin)
        cells = np.arange(panel.n_cells) if cells is None else np.asarray(cells, dtype=np.int64)
        Xc = X[cells]
        contrib = self.booster_.predict(Xc, num_iteration=self.best_iteration_, pred_contrib=True)
        contrib = contrib[:, :-1]  # last column is the bias
        mu = self.risk_from_features(Xc, panel)
        order = np.argsort(-contrib, axis=1)[:, :top]
        reasons = []
        ratio_i = self.feature_names_.index("ratio_recent")
        knox, short = _near_repeat_sentence(self.metadata_, self.feature_names_)
        for i in range(len(cells)):  # a handful of top cells; phrasing is per-cell text
            rs, said = [], False
            for j in order[i]:
                if contrib[i, j] > 0:
                    r = describe_feature(self.feature_names_[j], float(Xc[i, j]), periods=panel.periods,
                                         cell_size=panel.grid.cell_size)
                    if knox and not said and short[j]:
                        r, said = f"{r} — {knox}", True
                    rs.append(r)
            if Xc[i, ratio_i] >= 1.5 and ratio_i not in order[i]:
                rs.append(f"{Xc[i, ratio_i]:.1f}x the cell's usual rate")
            reasons.append(rs)
        return pd.DataFrame({"cell_id": panel.grid.cell_ids[cells], "expected": mu,
                             "probability": self.probability_from_mean(mu), "reasons": reasons,
                             "reason_text": ["; ".join(r) for r in reasons]})

    # -- persistence --------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write one JSON artifact: metadata plus the LightGBM model text."""
        self._check_fitted()
        path = Path(path)
        doc = {"metadata": self.metadata_, "params": self.get_params() | {
            "features": self.feature_builder().to_dict()},
            "model": self.booster_.model_to_string(num_iteration=self.best_iteration_)}
        path.write_text(json.dumps(doc))
        return path

    @classmethod
    def load(cls, path: str | Path) -> LGBMRiskModel:
        """Read an artifact written by :meth:`save`."""
        path = Path(path)
        try:
            doc = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read model artifact {str(path)!r}: {exc}") from exc
        fmt = doc.get("metadata", {}).get("format")
        if fmt != ARTIFACT_FORMAT:
            raise InputError(f"model artifact format must be {ARTIFACT_FORMAT!r}; got {fmt!r}")
        m = cls(**doc["params"])
        m.booster_ = lgb.Booster(model_str=doc["model"])
        m.metadata_ = doc["metadata"]
        m.feature_names_ = m.metadata_["feature_names"]
        m.blend_span_ = int(m.metadata_.get("blend_span", 1))
        # Artifacts from before the per-period default blended toward the long-run rate.
        m.blend_feature_ = m.metadata_.get("blend_feature", m.blend_feature or "rate_all")
        m.best_iteration_ = m.booster_.current_iteration()
        m.blend_ = float(m.metadata_.get("blend", m.blend if m.blend != "auto" else 0.3))
        curve = m.metadata_.get("proba_curve")
        # Artifacts from before calibration: the Poisson reading, on a fine grid of means.
        grid = np.r_[0.0, np.geomspace(1e-4, 50, 200)]
        m.proba_curve_ = ((np.asarray(curve[0]), np.asarray(curve[1])) if curve
                          else (grid, -np.expm1(-grid)))
        m.target_ = m.metadata_["target"]
        return m


def default_blend_feature(periods: Periods) -> str:
    """The feature :class:`LGBMRiskModel` blends toward when ``blend_feature`` is not set.

    Examples
    --------
    >>> default_blend_feature(Periods("shift")), default_blend_feature(Periods("week"))
    ('tod_rate_eb', 'rate_all')
    """
    return BLEND_FEATURES.get(periods.kind, "rate_all")


def rolling_risk(panel: Panel, origins, *, refit_every: int = 21,
                 params: dict[str, Any] | None = None) -> np.ndarray:
    """LightGBM expected counts per cell for many periods, refitted as a backtest would.

    A model is fitted at the first origin and again every ``refit_every`` origins (in the
    order given, each fit on the history before its origin); each block of origins between
    two fits is scored by :meth:`LGBMRiskModel.predict_risk_many` (one feature pass and one
    booster call per block). This is what a product scoring many shifts needs, e.g. the
    cameras to watch in each of several hundred shifts.

    Parameters
    ----------
    panel : Panel
        Its current target is forecast (``panel.for_target(...)`` picks another).
    origins : array of int
        Increasing panel columns to forecast.
    refit_every : int, default 21
        Origins per fitted model (21 shifts: a week).
    params : dict, optional
        :class:`LGBMRiskModel` settings.

    Returns
    -------
    ndarray, shape (len(origins), n_cells)

    Examples
    --------
    >>> from forecasting.grid import Grid
    >>> from forecasting.periods import Periods
    >>> g = Grid(crs="EPSG:32610", cell_size=150, col=np.arange(25) % 5, row=np.arange(25) // 5)
    >>> y = np.random.default_rng(0).poisson(0.3, (25, 300)).astype("f4")  # 100 days of shifts
    >>> pan = Panel(g, Periods("shift"), 0, {"all": y})
    >>> small = {"n_estimators": 10, "training_days": 60, "validation_days": 14}
    >>> risk = rolling_risk(pan, np.arange(258, 300), params=small)  # the last 14 days: two fits
    >>> risk.shape, bool((risk >= 0).all())
    ((42, 25), True)
    """
    origins = np.asarray(origins, dtype=np.int64)
    if origins.ndim != 1 or origins.size == 0 or np.any(np.diff(origins) <= 0):
        raise ConfigError(f"origins must be a non-empty increasing sequence of panel columns; got "
                          f"{origins.size} values")
    if not (isinstance(refit_every, int | np.integer) and refit_every >= 1):
        raise ConfigError(f"refit_every must be a positive whole number of origins; got {refit_every!r}")
    out = np.empty((origins.size, panel.n_cells))
    for i in range(0, origins.size, int(refit_every)):  # one fit per block of origins
        model = LGBMRiskModel(**(params or {})).fit(panel, int(origins[i]))
        out[i:i + refit_every] = model.predict_risk_many(panel, origins[i:i + refit_every])
    return out


def _near_repeat_sentence(metadata: dict, names: list[str]) -> tuple[str | None, np.ndarray]:
    """The Knox sentence recorded at training, and which features it explains: the near-repeat
    intensities (``nr_*``, ``nr3_*``...) whose half-life lies within the window's days."""
    nr = ((metadata or {}).get("analysis") or {}).get("near_repeat") or {}
    window, sentence = nr.get("window"), nr.get("sentence")
    if not (window and sentence):
        return None, np.zeros(len(names), dtype=bool)
    half = [re.fullmatch(r"nr\d*_(.+)d", n) for n in names]
    return sentence, np.array([m is not None and float(m.group(1)) <= float(window["days"]) for m in half])



def select_params(panel: Panel, origin: int, candidates: list[dict[str, Any]],
                  base: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[float]]:
    """Choose hyper-settings by time-ordered validation strictly before ``origin``.

    Each candidate is fitted with ``origin`` as the cut-off; its early-stopping validation
    score (the last ``validation_days`` before ``origin``) ranks it. Call it with the first
    evaluation column so evaluation periods never influence the choice.

    Returns
    -------
    best : dict
        ``base`` updated with the best candidate.
    scores : list of float
        Validation loss per candidate (lower is better).
    """
    base = dict(base or {})
    scores = []
    for cand in candidates:
        m = LGBMRiskModel(**(base | cand)).fit(panel, origin)
        scores.append(next(iter(m.metadata_["metrics"].values())))
    best = candidates[int(np.nanargmin(scores))]
    return base | best, scores




def top_k_chance(probability: np.ndarray, k: int, *, n_sims: int = TOP_K_SIMS,
                 random_state: int = 0) -> np.ndarray:
    """Chance that each cell is among the ``k`` busiest cells of the period.

    A cell is *in the top k* when it has at least one incident and fewer than ``k`` cells have
    strictly more (ties at the boundary are all in, so a quiet period can have more than ``k``
    such cells). Outcomes are drawn independently per cell from a Poisson whose chance of at
    least one incident is the given (calibrated) ``probability``, ``n_sims`` seeded draws,
    vectorised in chunks.

    Parameters
    ----------
    probability : array (n_cells,)
        Calibrated P(at least one incident) per cell
        (:meth:`LGBMRiskModel.probability_from_mean`).
    k : int
        Size of the top set (at least 1).
    n_sims : int, default ``TOP_K_SIMS``
    random_state : int, default 0

    Returns
    -------
    ndarray (n_cells,)
        Share of the draws in which the cell is in the top ``k``.

    Examples
    --------
    >>> chance = top_k_chance(np.array([0.9, 0.5, 0.0]), k=1, n_sims=2000)
    >>> bool(chance[0] > chance[1] > chance[2] == 0)
    True
    """
    if not (is_int(k) and k >= 1):
        raise ConfigError(f"k must be a whole number of cells >= 1; got {k!r}")
    if not (is_int(n_sims) and n_sims >= 1):
        raise ConfigError(f"n_sims must be a whole number >= 1; got {n_sims!r}")
    p = np.clip(np.asarray(probability, dtype=np.float64), 0.0, 1.0 - 1e-9)
    lam = -np.log1p(-p)  # Poisson mean with P(count >= 1) = p
    n = lam.size
    if n == 0:
        return np.zeros(0)
    kk = min(int(k), n)
    rng = np.random.default_rng(random_state)
    hits = np.zeros(n)
    chunk = max(1, 2**22 // n)  # about 32 MB of draws at a time
    for s0 in range(0, int(n_sims), chunk):  # a few chunks of whole-array draws
        draws = rng.poisson(lam, size=(min(chunk, int(n_sims) - s0), n))
        kth = -np.partition(-draws, kk - 1, axis=1)[:, kk - 1:kk]
        hits += ((draws >= kth) & (draws > 0)).sum(axis=0)
    return hits / int(n_sims)
