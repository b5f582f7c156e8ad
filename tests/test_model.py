"""Tests of forecasting.model on a small synthetic panel."""

import json
import re

import numpy as np
import pytest
from sklearn.base import clone

from forecasting.errors import ConfigError, DataError, InputError
from forecasting.features import FeatureBuilder, Panel
from forecasting.grid import Grid
from forecasting.model import LGBMRiskModel, select_params, top_k_chance
from forecasting.periods import Periods

SMALL = dict(n_estimators=40, learning_rate=0.2, num_leaves=7, min_child_samples=20,
             training_days=7 * 100, validation_days=7 * 13, early_stopping_rounds=10, n_jobs=1,
             features=FeatureBuilder(windows_days=(7, 28, 364), neighbour_windows_days=(28,),
                                     half_lives_days=(14,), cross_windows_days=(28,)))


@pytest.fixture(scope="module")
def panel():
    rng = np.random.default_rng(7)
    cc, rr = np.meshgrid(np.arange(20), np.arange(15))
    g = Grid(crs="EPSG:32610", cell_size=150, col=cc.ravel(), row=rr.ravel())
    rate = rng.gamma(0.3, 0.5, g.n_cells)
    y = rng.poisson(rate[:, None], (g.n_cells, 160)).astype(np.float32)
    other = rng.poisson(rate[:, None], (g.n_cells, 160)).astype(np.float32)
    p = Periods("week")
    return Panel(g, p, int(p.index(["2021-01-04"])[0]), {"all": y + other, "theft": y}), rate


def test_estimator_contract(panel):
    m = LGBMRiskModel(**SMALL, random_state=3)
    assert not hasattr(m, "booster_")
    c = clone(m)
    assert c.get_params()["random_state"] == 3 and LGBMRiskModel().n_jobs == 1
    with pytest.raises(ConfigError, match=re.escape("unknown parameter 'alpha'")):
        m.set_params(alpha=1)


def test_fit_predict_ranks_true_rate(panel):
    pan, rate = panel
    pt = pan.for_target("theft")
    m = LGBMRiskModel(**SMALL).fit(pt, 150)
    assert m.fit(pt, 150) is m
    mu = m.predict_risk(pt, 150)
    assert mu.shape == (pan.n_cells,) and np.all(mu >= 0)
    assert np.corrcoef(mu, rate)[0, 1] > 0.6
    p = m.predict_proba(pt, 150)
    np.testing.assert_allclose(p, 1 - np.exp(-mu))
    md = m.metadata
    assert md["target"] == "theft" and md["feature_names"] == m.feature_names_
    assert md["training_window"][1] < md["origin_period_start"]
    assert md["data_hash"] == pan.data_hash
    json.dumps(md)


def test_seeded_fits_are_reproducible(panel):
    pan, _ = panel
    a = LGBMRiskModel(**SMALL, random_state=1).fit(pan, 150).predict_risk(pan, 150)
    b = LGBMRiskModel(**SMALL, random_state=1).fit(pan, 150).predict_risk(pan, 150)
    np.testing.assert_array_equal(a, b)


def test_save_load_round_trip(panel, tmp_path):
    pan, _ = panel
    m = LGBMRiskModel(**SMALL).fit(pan, 150)
    path = m.save(tmp_path / "m.json")
    m2 = LGBMRiskModel.load(path)
    np.testing.assert_allclose(m2.predict_risk(pan, 150), m.predict_risk(pan, 150), rtol=1e-6)
    assert m2.metadata == m.metadata
    assert m.blend_feature_ == m2.blend_feature_ == "rate_all"  # the default at weeks
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(InputError, match="model artifact format must be"):
        LGBMRiskModel.load(tmp_path / "bad.json")


def test_explain_phrases_top_features(panel):
    pan, _ = panel
    m = LGBMRiskModel(**SMALL).fit(pan, 150)
    ex = m.explain(pan, 150, cells=np.array([0, 5]), top=3)
    assert list(ex.columns) == ["cell_id", "expected", "probability", "reasons", "reason_text"]
    assert all(1 <= len(r) <= 4 for r in ex.reasons)
    assert any("incident" in t for t in ex.reason_text)


def test_errors_are_clear(panel):
    pan, _ = panel
    with pytest.raises(DataError, match="not fitted yet"):
        LGBMRiskModel().predict_risk(pan, 150)
    with pytest.raises(DataError, match="too little history"):
        LGBMRiskModel(**SMALL).fit(pan, 10)
    with pytest.raises(ConfigError, match=re.escape("negative_rate must be in (0, 1]; got 0")):
        LGBMRiskModel(**(SMALL | {"negative_rate": 0})).fit(pan, 150)


def test_select_params_uses_validation_before_origin(panel):
    pan, _ = panel
    best, scores = select_params(pan, 150, [{"num_leaves": 3}, {"num_leaves": 7}], SMALL)
    assert len(scores) == 2 and best["num_leaves"] in (3, 7)
    assert best["num_leaves"] == [3, 7][int(np.argmin(scores))]


def test_offset_model_learns_a_correction_to_the_base_rate(panel, tmp_path):
    pan, rate = panel
    pt = pan.for_target("theft")
    m = LGBMRiskModel(**(SMALL | {"offset_days": 364})).fit(pt, 150)
    mu = m.predict_risk(pt, 150)
    assert np.all(mu > 0) and np.corrcoef(mu, rate)[0, 1] > 0.6
    m2 = LGBMRiskModel.load(m.save(tmp_path / "off.json"))
    np.testing.assert_allclose(m2.predict_risk(pt, 150), mu, rtol=1e-6)
    with pytest.raises(ConfigError, match=re.escape("needs the feature 'count_104p'")):
        LGBMRiskModel(**(SMALL | {"offset_days": 728})).fit(pt, 150)
    with pytest.raises(ConfigError, match="offset_days and offset_prior must be positive"):
        LGBMRiskModel(**(SMALL | {"offset_days": 0})).fit(pt, 150)


def test_auto_blend_is_chosen_from_the_grid_and_saved(panel, tmp_path):
    from forecasting.model import BLEND_GRID

    pan, _ = panel
    m = LGBMRiskModel(**(SMALL | {"blend": "auto"})).fit(pan, 150)
    assert m.blend_ in BLEND_GRID and m.metadata["blend"] == m.blend_
    m2 = LGBMRiskModel.load(m.save(tmp_path / "auto.json"))
    np.testing.assert_allclose(m2.predict_risk(pan, 150), m.predict_risk(pan, 150), rtol=1e-6)
    with pytest.raises(ConfigError, match=re.escape("blend must be a number in [0, 1] or 'auto'")):
        LGBMRiskModel(**(SMALL | {"blend": 2})).fit(pan, 150)


def test_poisson_objective_still_available(panel):
    pan, rate = panel
    m = LGBMRiskModel(**(SMALL | {"objective": "poisson"})).fit(pan, 150)
    assert m.metadata["params"]["objective"] == "poisson" and "valid_poisson" in m.metadata["metrics"]


def test_training_periods_sampled_evenly_over_the_week_at_short_periods():
    m = LGBMRiskModel(max_train_periods=100)
    p = Periods("shift")
    cols = np.arange(10, 1010)
    got = m._sample(cols, p)
    assert len(got) <= 100 and got[-1] == cols[-1]  # the newest period is always in
    # Every slot of the week (7 days x 3 shifts) is visited about equally.
    counts = np.bincount(got % 21, minlength=21)
    assert counts.min() >= counts.max() - 1 > 0
    # Weekly windows (fewer periods than the cap) keep every period: weekly fits are unchanged.
    assert np.array_equal(LGBMRiskModel()._sample(np.arange(5, 95), Periods("week")), np.arange(5, 95))
    with pytest.raises(ConfigError, match=re.escape("max_train_periods must be a whole number of periods >= 2; got 0")):
        LGBMRiskModel(max_train_periods=0)._check_params()


def test_shift_model_trains_on_the_period_itself_and_on_sampled_columns_only():
    rng = np.random.default_rng(3)
    cc, rr = np.meshgrid(np.arange(8), np.arange(6))
    g = Grid(crs="EPSG:32610", cell_size=150, col=cc.ravel(), row=rr.ravel())
    # Cells 0-23 busy on the night shift, 24-47 on the day shift.
    n_t = 3 * 7 * 80
    prof = np.where(np.arange(g.n_cells)[:, None] < 24, [0.05, 0.05, 1.2], [1.2, 0.05, 0.05])
    y = rng.poisson(np.tile(prof, n_t // 3)).astype(np.float32)
    p = Periods("shift")
    pan = Panel(g, p, int(p.index(["2022-01-03 06:00"])[0]), {"all": y})
    short = SMALL | dict(training_days=200, validation_days=28, max_train_periods=120,
                         features=FeatureBuilder(windows_days=(7, 28, 364), neighbour_windows_days=(28,),
                                                 half_lives_days=(14,)))
    m = LGBMRiskModel(**short)
    origin = n_t - 3  # a day shift (column % 3 == 0)
    m.fit(pan, origin)
    assert origin % 3 == 0 and "tod_52w" in m.feature_names_
    # At shifts the prediction is blended toward the time-of-day rate unless told otherwise.
    assert m.blend_feature is None and m.blend_feature_ == m.metadata_["blend_feature"] == "tod_rate_eb"
    assert m.blend_span_ == 1
    mu = m.predict_risk(pan, origin)
    # The target is the shift itself, not a week's mean: day-shift cells rank first.
    assert mu[24:].min() > mu[:24].max()
    mu_night = m.predict_risk(pan, origin + 2)
    assert mu_night[:24].min() > mu_night[24:].max()
    with pytest.raises(ConfigError, match=re.escape("offset_feature must be one of the model's features; got 'nope'")):
        LGBMRiskModel(**short, offset_feature="nope").fit(pan, origin)
    off = LGBMRiskModel(**short, offset_feature="tod_rate_eb").fit(pan, origin)
    assert off.predict_risk(pan, origin)[24:].mean() > off.predict_risk(pan, origin)[:24].mean()
    # Smoothed same-shift target, blended toward the 52-week same-shift mean.
    sm = LGBMRiskModel(**short, target_slot_days=7, blend_feature="tod_52w").fit(pan, origin)
    assert sm.blend_span_ == 364 and sm.metadata_["blend_span"] == 364
    mu = sm.predict_risk(pan, origin)
    assert mu[24:].min() > mu[:24].max()
    with pytest.raises(ConfigError, match=re.escape("blend_feature must be one of the model's features; got 'x'")):
        LGBMRiskModel(**short, blend_feature="x").fit(pan, origin)


def test_calibrated_probability_from_validation_rows(panel, tmp_path):
    pan, rate = panel
    pt = pan.for_target("theft")
    m = LGBMRiskModel(**SMALL).fit(pt, 150)
    x, p = m.proba_curve_
    assert np.all(np.diff(p) >= 0) and p.min() >= 0 and p.max() <= 1  # isotonic, a probability
    prob = m.predict_probability(pt, 150)
    assert prob.shape == (pan.n_cells,)
    # Out of sample (periods 150-159, after the fit): calibrated Brier no worse than the Poisson
    # reading by more than noise, and both far better than a constant.
    obs = pt.y[:, 150:160] > 0
    mus = np.stack([m.predict_risk(pt, c) for c in range(150, 160)], axis=1)
    cal = np.mean((m.probability_from_mean(mus) - obs) ** 2)
    pois = np.mean((-np.expm1(-mus) - obs) ** 2)
    assert cal <= pois + 0.005 and cal < np.mean((obs.mean() - obs) ** 2)
    # Saved and loaded with the artifact; explain reports the calibrated value.
    m2 = LGBMRiskModel.load(m.save(tmp_path / "m.json"))
    np.testing.assert_allclose(m2.predict_probability(pt, 150), prob)
    ex = m.explain(pt, 150, cells=np.array([0, 1]))
    np.testing.assert_allclose(ex["probability"], prob[[0, 1]])


def test_top_k_chance_known_values_and_seeded():
    p = np.array([0.6, 0.3, 0.0, 0.1])
    # k = every cell: in the top exactly when the cell has an incident, so the chance is p.
    np.testing.assert_allclose(top_k_chance(p, k=4, n_sims=20_000), p, atol=0.015)
    # One possible cell, k = 1: the top cell whenever it has an incident.
    np.testing.assert_allclose(top_k_chance(np.array([0.0, 0.4, 0.0]), k=1, n_sims=20_000),
                               [0, 0.4, 0], atol=0.015)
    # Two equal cells, k = 1: in unless the other has strictly more. With Poisson(lam) draws,
    # P(X >= 1 and Y <= X) = (1 + P(X = Y)) / 2 - P(X = Y = 0), computed exactly here.
    lam = -np.log1p(-0.5)
    from scipy.stats import poisson
    pmf = poisson.pmf(np.arange(40), lam)
    exact = (1 + (pmf ** 2).sum()) / 2 - pmf[0] ** 2
    got = top_k_chance(np.array([0.5, 0.5]), k=1, n_sims=40_000)
    np.testing.assert_allclose(got, exact, atol=0.01)
    np.testing.assert_array_equal(top_k_chance(p, 2, random_state=3), top_k_chance(p, 2, random_state=3))
    with pytest.raises(ConfigError, match=re.escape("k must be a whole number of cells >= 1; got 0")):
        top_k_chance(p, 0)


def test_slot_smoothed_target_averages_the_same_shift_on_the_next_days():
    g = Grid(crs="EPSG:32610", cell_size=150, col=np.array([0]), row=np.array([0]))
    y = np.arange(30, dtype=np.float32)[None, :]  # ten days of three shifts
    pan = Panel(g, Periods("shift"), 0, {"all": y})
    m = LGBMRiskModel(target_slot_days=4)
    assert m._horizon(pan.periods) == 10  # the row's shift and the same shift 3 days later
    # Column 2 and the same shift on the next three days: 2, 5, 8, 11.
    np.testing.assert_allclose(m._target(pan, np.array([2, 5]), 10), [[6.5, 9.5]])
    np.testing.assert_allclose(LGBMRiskModel()._target(pan, np.array([2]), 1), [[2.0]])


def test_predict_risk_many_equals_predict_risk_and_rolling_risk_refits(panel):
    from forecasting.model import rolling_risk

    panel, _ = panel
    m = LGBMRiskModel(**SMALL).fit(panel, 140)
    origins = np.array([143, 140, 141, 150])  # any order, with a gap
    want = np.array([m.predict_risk(panel, o) for o in origins])
    np.testing.assert_array_equal(m.predict_risk_many(panel, origins), want)
    # rolling_risk: a fit at 140 scores 140..142, a fit at 143 scores 143..144.
    risk = rolling_risk(panel, np.arange(140, 145), refit_every=3, params=SMALL)
    np.testing.assert_array_equal(risk[:3], m.predict_risk_many(panel, np.arange(140, 143)))
    later = LGBMRiskModel(**SMALL).fit(panel, 143)
    np.testing.assert_array_equal(risk[3:], later.predict_risk_many(panel, [143, 144]))
    with pytest.raises(ConfigError, match="origins must be a non-empty increasing sequence"):
        rolling_risk(panel, [141, 140], params=SMALL)
    with pytest.raises(ConfigError, match=re.escape("refit_every must be a positive whole number of origins; got 0")):
        rolling_risk(panel, [140], refit_every=0, params=SMALL)
