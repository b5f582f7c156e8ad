"""Conformance of every estimator the workflows can build (scikit-learn's ``parametrize_with_checks`` idea).

The list comes from ``workflows.make_models(KNOWN_MODELS)``, so a model or baseline added there
is checked here without editing this file: parameters read from ``__init__``, clone round-trip,
invalid parameters rejected at fit with the parameter's name, one score per cell in cell
order, and no leakage from the forecast period onwards (forecasts only; the references read the
future on purpose).
"""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest
from sklearn.base import clone

from forecasting.errors import ConfigError
from forecasting.features import FeatureBuilder, Panel
from forecasting.grid import Grid
from forecasting.params import is_number
from forecasting.periods import Periods
from forecasting.workflows import KNOWN_MODELS, make_models

# The LightGBM model, small enough to fit in a second on the panel below.
LGBM_SMALL = dict(n_estimators=15, num_leaves=7, min_child_samples=10, training_days=7 * 60,
                  validation_days=7 * 8, early_stopping_rounds=5, n_jobs=1)
FEATURES = FeatureBuilder(windows_days=(7, 28), neighbour_windows_days=(28,), half_lives_days=(14,),
                          cross_windows_days=(28,))
ESTIMATORS = make_models(list(KNOWN_MODELS), lgbm_params=LGBM_SMALL, features=FEATURES)
# The time-of-day baselines exist at short periods only: all of them (every window, weekday slots,
# the blend and the shrunk profile) are checked on a panel of shifts.
SHIFT_ONLY = make_models(["tod"], period="shift")
ESTIMATORS.update(SHIFT_ONLY)
NAMES = list(ESTIMATORS)
FORECASTS = [n for n in NAMES if getattr(ESTIMATORS[n], "is_forecast", True)]
PARAMETERS = [(n, p) for n in NAMES for p in ESTIMATORS[n].get_params(deep=False)]
ORIGIN = 100


def _panel(name: str | None = None) -> Panel:
    """A seeded 12 x 10 grid over 120 weeks (120 shifts for the short-period estimators)."""
    rng = np.random.default_rng(11)
    cc, rr = np.meshgrid(np.arange(12), np.arange(10))
    col, row = cc.ravel(), rr.ravel()
    rate = rng.gamma(0.4, 0.8, col.size)
    y = rng.poisson(rate[:, None], (col.size, 120)).astype(np.float32)
    p = Periods("shift" if name in SHIFT_ONLY else "week")
    return Panel(Grid(crs="EPSG:32610", cell_size=150, col=col, row=row), p,
                 int(p.index(["2021-01-04 06:00"])[0]), {"all": y})


@pytest.fixture
def panel(request) -> Panel:
    return _panel(request.node.callspec.params.get("name"))


def test_every_known_model_is_checked():
    assert {"lgbm", "naive", "rate_oracle", "hindsight"} <= set(NAMES)
    assert {"tod_13", "tod_all", "tod_weekday_52", "tod_blend", "tod_shrunk"} <= set(NAMES)
    assert set(FORECASTS) < set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_parameters_are_the_init_keywords(name):
    est = ESTIMATORS[name]
    init = inspect.signature(type(est).__init__).parameters
    keywords = [k for k, p in init.items() if p.kind is p.KEYWORD_ONLY]
    params = est.get_params(deep=False)
    assert sorted(params) == sorted(keywords)
    assert all(params[k] is getattr(est, k) for k in params)
    # Every parameter says what it accepts, so fit can reject a bad value by name.
    assert set(type(est)._CONSTRAINTS) == set(params)


@pytest.mark.parametrize("name", NAMES)
def test_clone_keeps_every_parameter(name):
    est = ESTIMATORS[name]
    changed = {k: v * 2 for k, v in est.get_params(deep=False).items() if is_number(v)}
    est = clone(est).set_params(**changed)
    twin = clone(est)
    assert type(twin) is type(est) and repr(twin) == repr(est)
    assert twin.get_params(deep=False).keys() == est.get_params(deep=False).keys()
    for k, v in est.get_params(deep=False).items():
        assert twin.get_params(deep=False)[k] == v, k


def test_a_clone_keeps_the_rate_oracle_scale():
    # The bug this suite was written for: a hand-kept parameter list without scale_days.
    oracle = ESTIMATORS["rate_oracle"].set_params(scale_days=7)
    assert clone(oracle).get_params() == {"scale_days": 7, "time_of_day": True}
    ESTIMATORS["rate_oracle"].set_params(scale_days=182)


@pytest.mark.parametrize(("name", "param"), PARAMETERS, ids=[f"{n}-{p}" for n, p in PARAMETERS])
def test_an_invalid_parameter_is_rejected_at_fit_by_name(name, param, panel):
    bad = object()
    est = clone(ESTIMATORS[name]).set_params(**{param: bad})
    with pytest.raises(ConfigError, match="^" + re.escape(f"{param} must be ") + ".*" + re.escape(repr(bad))):
        est.fit(panel, ORIGIN)


@pytest.mark.parametrize("name", NAMES)
def test_one_score_per_cell_in_cell_order(name, panel):
    est = ESTIMATORS[name]
    scores = clone(est).fit(panel, ORIGIN).predict_risk(panel, ORIGIN)
    assert scores.shape == (panel.n_cells,) and np.all(np.isfinite(scores))
    # The grid fixes the cell order: the one cell with incidents must get the highest score,
    # wherever it sits.
    for cell in (0, 57, panel.n_cells - 1):
        marked = _panel(name)
        marked.counts["all"][:] = 0
        marked.counts["all"][cell] = 5
        assert np.argmax(clone(est).fit(marked, ORIGIN).predict_risk(marked, ORIGIN)) == cell


@pytest.mark.parametrize("name", FORECASTS)
def test_nothing_from_the_forecast_period_on_is_read(name, panel):
    future = _panel(name)
    rng = np.random.default_rng(5)
    future.counts["all"][:, ORIGIN:] = rng.poisson(3.0, future.counts["all"][:, ORIGIN:].shape)
    assert not np.array_equal(future.y, panel.y)
    est = ESTIMATORS[name]
    np.testing.assert_array_equal(clone(est).fit(future, ORIGIN).predict_risk(future, ORIGIN),
                                  clone(est).fit(panel, ORIGIN).predict_risk(panel, ORIGIN))
