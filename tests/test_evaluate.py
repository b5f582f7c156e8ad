"""Tests of forecasting.evaluate: known-value metrics, invariants, split and backtest."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecasting.errors import ConfigError
from forecasting.evaluate import (
    RollingOrigin,
    backtest,
    brier_score,
    capture_curve,
    captured,
    hit_rate,
    markdown_table,
    pai,
    paired_bootstrap,
    pei,
    pei_star,
    poisson_deviance,
    summarise,
    write_report,
)
from forecasting.features import Panel
from forecasting.grid import Grid
from forecasting.periods import Periods

AREAS4 = [1.0, 1.0, 1.0, 1.0]


def test_hit_rate_pai_pei_known_values():
    scores, counts = [4, 3, 2, 1], [2, 0, 1, 1]
    assert hit_rate(scores, counts, AREAS4, 0.25) == pytest.approx(0.5)
    assert pai(scores, counts, AREAS4, 0.25) == pytest.approx(2.0)
    assert hit_rate(scores, counts, AREAS4, 0.5) == pytest.approx(0.5)
    # Hindsight at 50% captures 3 of 4; the model 2 of 4.
    assert pei(scores, counts, AREAS4, 0.5) == pytest.approx(2 / 3)
    # The model's 2 incidents need 1 hindsight cell instead of 2.
    assert pei_star(scores, counts, AREAS4, 0.5) == pytest.approx(0.5)
    assert pei_star(counts, counts, AREAS4, 0.25) == pytest.approx(1.0)


def test_partial_cell_and_ties_are_split_pro_rata():
    # 10% of 4 cells = 0.4 of the top cell.
    assert captured([3, 2, 1, 0], [5, 0, 0, 0], AREAS4, 0.1)[0] == pytest.approx(2.0)
    # All scores tied: every share captures that share of the incidents in expectation.
    assert captured([1, 1, 1, 1], [4, 0, 0, 0], AREAS4, 0.5)[0] == pytest.approx(2.0)


def test_unequal_areas_count_area_not_cells():
    # The top cell covers 75% of the area.
    assert captured([2, 1], [3, 1], [3.0, 1.0], 0.5)[0] == pytest.approx(2.0)


def test_deviance_and_brier_known_values():
    assert poisson_deviance([1.0], [0]) == pytest.approx(2.0)
    assert poisson_deviance([2.0], [1]) == pytest.approx(2 * (np.log(0.5) + 1))
    assert brier_score([np.log(2)], [1]) == pytest.approx(0.25)


def test_bad_share_is_named():
    with pytest.raises(ConfigError, match=re.escape("share must be a fraction in (0, 1]; got 1.5")):
        hit_rate([1], [1], [1], 1.5)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 10_000), st.integers(5, 60))
def test_hit_rate_rises_with_coverage(seed, n):
    rng = np.random.default_rng(seed)
    s, c, a = rng.random(n), rng.poisson(1.0, (3, n)), rng.uniform(0.5, 2, n)
    if c.sum() == 0:
        c[0, 0] = 1
    shares = np.linspace(0.01, 1, 25)
    got = captured(np.tile(s, (3, 1)), c, a, shares).sum(axis=0)
    assert np.all(np.diff(got) >= -1e-9)
    assert got[-1] == pytest.approx(c.sum())
    # The hindsight map is never beaten.
    best = captured(c / a, c, a, shares).sum(axis=0)
    assert np.all(got <= best + 1e-9)


def test_capture_curve_and_bootstrap():
    rng = np.random.default_rng(1)
    truth = rng.gamma(0.5, 1, 300)
    counts = rng.poisson(truth, (40, 300))
    good, noise = np.tile(truth, (40, 1)), rng.random((40, 300))
    cc = capture_curve(good, counts, np.ones(300), [0.01, 0.1, 1.0])
    assert cc.hit_rate.is_monotonic_increasing and cc.hit_rate.iloc[-1] == pytest.approx(1.0)
    b = paired_bootstrap(good, noise, counts, np.ones(300), 0.05, n_boot=300, random_state=0)
    assert b["diff"] > 0 and b["ci_low"] > 0 and b["p_value"] < 0.01
    same = paired_bootstrap(good, good, counts, np.ones(300), 0.05, n_boot=50)
    assert same["diff"] == 0 and same["p_value"] == 1.0
    # Seeded: the same call gives the same interval.
    assert paired_bootstrap(good, noise, counts, np.ones(300), 0.05, n_boot=300, random_state=0) == b


def test_rolling_origin_periods_and_refits():
    sp = RollingOrigin("2024-01-02", "2024-02-05", "week", refit_every=3)
    assert [str(d.date()) for d in sp.period_starts()] == [
        "2024-01-08", "2024-01-15", "2024-01-22", "2024-01-29", "2024-02-05"]
    assert sp.refit_mask().tolist() == [True, False, False, True, False]
    with pytest.raises(ConfigError, match="refit_every must be a positive whole number"):
        RollingOrigin("2024-01-01", "2024-02-01", refit_every=0)


class _Recorder:
    """A protocol model that records fits and predicts the last count."""

    def __init__(self):
        self.fits = []

    def fit(self, panel, origin):
        self.fits.append(origin)
        return self

    def predict_risk(self, panel, origin):
        return panel.y[:, origin - 1].astype(float)


def test_backtest_uses_protocol_and_refits_on_schedule(tmp_path):
    g = Grid(crs="EPSG:32610", cell_size=100, col=np.arange(5), row=np.zeros(5, int))
    rng = np.random.default_rng(0)
    y = rng.poisson(1.0, (5, 30)).astype(np.float32)
    p = Periods("week")
    pan = Panel(g, p, int(p.index(["2024-01-01"])[0]), {"all": y})
    rec = _Recorder()
    split = RollingOrigin(pan.period_starts[20], pan.period_starts[29], "week", refit_every=4)
    res = backtest({"rec": lambda: rec}, pan, split)
    assert rec.fits == [20, 24, 28]
    np.testing.assert_array_equal(res.scores[("rec", "all")], y[:, 19:29].T)
    np.testing.assert_array_equal(res.observed["all"], y[:, 20:30].T)
    summary = summarise(res, n_boot=20, challenger=None)
    assert "| rec |" in markdown_table(summary, "all")
    path = write_report(res, summary, tmp_path, plots=True)
    text = path.read_text()
    assert "PAI rises as cells shrink" in text and (tmp_path / "capture_all.png").exists()
    assert (tmp_path / "metrics.json").exists()


def test_headroom_records_room_and_report_phrases_it(tmp_path):
    from forecasting.evaluate import BacktestResult

    g = Grid(crs="EPSG:32610", cell_size=100, col=np.arange(100), row=np.zeros(100, int))
    p = Periods("week")
    rng = np.random.default_rng(1)
    rate = np.r_[np.full(10, 5.0), np.full(90, 0.2)]
    obs = rng.poisson(rate, (40, 100)).astype(float)
    pan = Panel(g, p, int(p.index(["2024-01-01"])[0]), {"all": obs.T.astype(np.float32)})
    noisy = rate + rng.normal(0, 2.0, (40, 100))
    scores = {("base", "all"): noisy, ("oracle", "all"): np.broadcast_to(rate, (40, 100)),
              ("worse", "all"): -noisy}
    res = BacktestResult(pan, pan.period_starts[:40], scores, {"all": obs}, {"oracle"})
    s = summarise(res, shares=(0.1,), n_boot=200, challenger="worse", ceiling="oracle")
    room = s["targets"]["all"]["headroom"]["10%"]
    models = s["targets"]["all"]["models"]
    # The challenger cannot be its own baseline; the ceiling is a reference, never a baseline.
    assert room["baseline"] == "base" and room["ceiling"] == "oracle"
    assert room["ceiling_pai"] == models["oracle"]["pai@10%"] > room["baseline_pai"]
    assert room["ceiling_p_value"] < 0.05 and room["share_won"] < 0
    text = write_report(res, s, tmp_path, plots=False).read_text()
    assert re.search(r"Room at PAI@10%: strongest baseline base [\d.]+, oracle [\d.]+ "
                     r"\(one-sided p [\d.]+ against the baseline\), challenger [\d.]+; "
                     r"below the baseline", text)
    # Without the ceiling reference there is no room entry.
    assert "headroom" not in summarise(res, shares=(0.1,), n_boot=20, challenger="worse",
                                       ceiling="absent")["targets"]["all"]


def test_bh_adjusted_p_values_over_the_whole_table(tmp_path):
    from scipy.stats import false_discovery_control

    from forecasting.evaluate import BacktestResult

    g = Grid(crs="EPSG:32610", cell_size=100, col=np.arange(100), row=np.zeros(100, int))
    p = Periods("week")
    rng = np.random.default_rng(2)
    rate = np.r_[np.full(10, 5.0), np.full(90, 0.2)]
    obs = {t: rng.poisson(rate, (30, 100)).astype(float) for t in ("all", "B")}
    pan = Panel(g, p, int(p.index(["2024-01-01"])[0]), {t: o.T.astype(np.float32) for t, o in obs.items()})
    scores = {}
    for t in obs:
        scores[("base", t)] = rate + rng.normal(0, 3.0, (30, 100))
        scores[("lgbm", t)] = rate + rng.normal(0, 1.0, (30, 100))
    res = BacktestResult(pan, pan.period_starts[:30], scores, obs, set())
    s = summarise(res, shares=(0.05, 0.1), n_boot=200)
    cells = [s["targets"][t]["bootstrap"][k] for t in ("all", "B") for k in ("5%", "10%")]
    raw = np.array([c["p_value"] for c in cells])
    # Adjusted over the whole table (2 targets x 2 shares), never per target.
    np.testing.assert_allclose([c["p_adjusted"] for c in cells], false_discovery_control(raw))
    assert all(c["p_adjusted"] >= c["p_value"] for c in cells)
    # Known values: BH of (0.01, 0.04, 0.03, 0.5) is (0.04, 0.0533, 0.0533, 0.5).
    from forecasting.evaluate import _adjust_p_values

    doc = {"targets": {"a": {"bootstrap": {"1%": {"p_value": 0.01}, "5%": {"p_value": 0.04}}},
                       "b": {"bootstrap": {"1%": {"p_value": 0.03}, "5%": {"p_value": 0.5}}}}}
    _adjust_p_values(doc)
    got = [doc["targets"][t]["bootstrap"][k]["p_adjusted"] for t in "ab" for k in ("1%", "5%")]
    np.testing.assert_allclose(got, [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.5])
    text = write_report(res, s, tmp_path, plots=False).read_text()
    assert "Benjamini-Hochberg adjusted over the run's table" in text


def test_backtest_scores_calibrated_probabilities_and_reports_reliability(tmp_path):
    from forecasting.evaluate import reliability

    assert reliability([0.005, 0.005, 0.6, 0.6], [0, 1, 1, 0], edges=(0.0, 0.5, 1.0)) == [
        {"bin": 0.0, "n": 2, "predicted": 0.005, "observed": 0.5},
        {"bin": 0.5, "n": 2, "predicted": 0.6, "observed": 0.5}]

    class Calibrated(_Recorder):
        def probability_from_mean(self, mu):
            return np.minimum(mu / 10.0, 1.0)

    g = Grid(crs="EPSG:32610", cell_size=100, col=np.arange(5), row=np.zeros(5, int))
    y = np.random.default_rng(0).poisson(1.0, (5, 30)).astype(np.float32)
    p = Periods("week")
    pan = Panel(g, p, int(p.index(["2024-01-01"])[0]), {"all": y})
    split = RollingOrigin(pan.period_starts[20], pan.period_starts[29], "week", refit_every=4)
    res = backtest({"cal": Calibrated}, pan, split)
    np.testing.assert_allclose(res.probabilities[("cal", "all")], np.minimum(y[:, 19:29].T / 10, 1))
    s = summarise(res, n_boot=20, challenger=None)
    m = s["targets"]["all"]["models"]["cal"]
    obs = y[:, 20:30].T
    assert m["brier_calibrated"] == pytest.approx(np.mean((np.minimum(y[:, 19:29].T / 10, 1) - (obs > 0)) ** 2))
    assert sum(r["n"] for r in m["reliability"]) == obs.size
    text = write_report(res, s, tmp_path, plots=False).read_text()
    assert "Calibrated probability of at least one incident" in text and "| predicted from |" in text


class _BlockRecorder(_Recorder):
    """A protocol model that also scores blocks of origins (and records the blocks)."""

    def __init__(self):
        super().__init__()
        self.blocks = []

    def predict_risk_many(self, panel, origins):
        self.blocks.append([int(o) for o in origins])
        return np.array([self.predict_risk(panel, int(o)) for o in origins])


def test_backtest_scores_blocks_between_refits_and_threads_change_nothing():
    g = Grid(crs="EPSG:32610", cell_size=100, col=np.arange(5), row=np.zeros(5, int))
    y = np.random.default_rng(1).poisson(1.0, (5, 30)).astype(np.float32)
    p = Periods("week")
    pan = Panel(g, p, int(p.index(["2024-01-01"])[0]), {"all": y, "x": y * 2})
    split = RollingOrigin(pan.period_starts[20], pan.period_starts[29], "week", refit_every=4)
    blocky, plain = _BlockRecorder(), _Recorder()
    one = backtest({"blocky": lambda: blocky, "plain": lambda: plain}, pan, split, n_jobs=1)
    assert blocky.blocks == [[20, 21, 22, 23], [24, 25, 26, 27], [28, 29]] * 2  # two targets
    assert blocky.fits == plain.fits == [20, 24, 28] * 2
    two = backtest({"blocky": _BlockRecorder, "plain": _Recorder}, pan, split, n_jobs=2)
    assert list(one.scores) == list(two.scores) == [("blocky", "all"), ("plain", "all"),
                                                     ("blocky", "x"), ("plain", "x")]
    for key in one.scores:
        np.testing.assert_array_equal(one.scores[key], two.scores[key])
    np.testing.assert_array_equal(one.scores[("blocky", "x")], 2 * y[:, 19:29].T)
    with pytest.raises(ConfigError, match=re.escape("n_jobs must be a positive whole number of threads; got 0")):
        backtest({"plain": _Recorder}, pan, split, n_jobs=0)
