"""Tests of forecasting.baselines."""

import re

import numpy as np
import pytest

from forecasting.baselines import (
    TOD_LAMBDAS,
    HindsightMap,
    HistoricalCounts,
    KDEBaseline,
    NaiveBaseline,
    ProMap,
    RateOracle,
    SEPPGrid,
    TimeOfDayBlend,
    TimeOfDayCounts,
    TimeOfDayShrunk,
)
from forecasting.errors import ConfigError, DataError
from forecasting.features import Panel
from forecasting.grid import Grid
from forecasting.periods import Periods


def _panel(y, cols=None):
    y = np.asarray(y, dtype=np.float32)
    n = y.shape[0]
    cols = np.arange(n) if cols is None else cols
    g = Grid(crs="EPSG:32610", cell_size=100, col=np.asarray(cols), row=np.zeros(n, int))
    return Panel(g, Periods("week"), 0, {"all": y})


def test_naive_and_historical_known_values():
    pan = _panel([[1, 2, 3, 4], [0, 0, 0, 8]])
    assert NaiveBaseline().fit(pan, 3).predict_risk(pan, 3).tolist() == [3, 0]
    assert HistoricalCounts(window_days=14).predict_risk(pan, 3).tolist() == [2.5, 0]
    assert HistoricalCounts(window_days=None).predict_risk(pan, 4).tolist() == [2.5, 2]
    # Window longer than the history: the mean over what exists.
    assert HistoricalCounts(window_days=700).predict_risk(pan, 2).tolist() == [1.5, 0]


def test_hindsight_reads_the_period_itself_and_is_flagged():
    pan = _panel([[1, 2, 3, 4], [0, 0, 0, 8]])
    h = HindsightMap()
    assert h.predict_risk(pan, 3).tolist() == [4, 8]
    assert h.is_forecast is False and NaiveBaseline.is_forecast is True


def test_rate_oracle_reads_both_sides_but_not_the_period_and_is_flagged():
    pan = _panel([[1, 3, 100, 3, 1, 6, 50], [0, 0, 0, 0, 0, 0, 9]])
    o = RateOracle(scale_days=7).fit(pan, 2)
    # Lag 1 weighs e^-1, lag 2 e^-2, lag 3 e^-3; column 2 itself never counts and column 6
    # (lag 4) lies beyond three scales.
    w1, w2, w3 = np.exp(-1), np.exp(-2), np.exp(-3)
    assert o.predict_risk(pan, 2).tolist() == pytest.approx(
        [(3 * w1 * 2 + 1 * w2 * 2 + 6 * w3) / (2 * w1 + 2 * w2 + w3), 0.0])
    # Cut at the panel's end: the past side only.
    assert o.predict_risk(pan, 6).tolist() == pytest.approx(
        [(6 * w1 + 1 * w2 + 3 * w3) / (w1 + w2 + w3), 0.0])
    assert o.is_forecast is False
    with pytest.raises(ConfigError, match="scale_days"):
        RateOracle(scale_days=0).fit(pan, 2)


def test_kde_preserves_mass_and_spreads_to_neighbours():
    cc, rr = np.meshgrid(np.arange(21), np.arange(21))
    g = Grid(crs="EPSG:32610", cell_size=100, col=cc.ravel(), row=rr.ravel())
    y = np.zeros((g.n_cells, 10), np.float32)
    centre = int(np.flatnonzero((g.col == 10) & (g.row == 10))[0])
    y[centre, :] = 1
    pan = Panel(g, Periods("week"), 0, {"all": y})
    s = KDEBaseline(bandwidth=150, window_days=None).predict_risk(pan, 10)
    assert s.sum() == pytest.approx(1.0, rel=0.02)
    right, far = centre + 1, centre + 2
    assert s[centre] > s[right] > s[far] > 0 and s[right] == pytest.approx(s[centre - 1])


def test_promap_weights_recent_and_near_incidents_more():
    y = np.zeros((12, 10), np.float32)
    y[2, 9] = 1  # last week, cell 2
    y[9, 3] = 1  # six weeks before, cell 9 (700 m away: beyond the 400 m bandwidth)
    pan = _panel(y)
    s = ProMap(bandwidth=400, window_days=56).predict_risk(pan, 10)
    assert s[2] > s[9] > 0
    assert s[2] / s[3] == pytest.approx(2.0)  # 1/(1+0) vs 1/(1+1) at one cell away
    assert s[9] / s[8] == pytest.approx(2.0)
    assert s.sum() == pytest.approx(2 / 8)  # rescaled to the mean count per week


def test_sepp_recovers_triggering_on_simulated_data():
    rng = np.random.default_rng(3)
    n, t, mu, theta, q = 200, 300, 0.05, 0.4, np.exp(-1.0)
    x = np.zeros((n, t))
    for s in range(t):  # simulation loop over periods
        trig = theta * (1 - q) * (x[:, :s] @ q ** (s - 1 - np.arange(s))) if s else 0
        x[:, s] = rng.poisson(mu + trig)
    pan = _panel(x)
    m = SEPPGrid(window_days=7 * 300, n_iter=200).fit(pan, 300)
    assert m.theta_ == pytest.approx(theta, abs=0.1)
    assert m.omega_ == pytest.approx(1.0, abs=0.4)
    assert np.mean(m.mu_) == pytest.approx(mu, rel=0.25)
    r = m.predict_risk(pan, 300)
    assert r.shape == (n,) and np.all(r >= m.mu_)


def test_sepp_needs_fit_and_data():
    pan = _panel(np.zeros((3, 5)))
    with pytest.raises(DataError, match="not fitted"):
        SEPPGrid().predict_risk(pan, 3)
    with pytest.raises(DataError, match="at least one incident"):
        SEPPGrid().fit(pan, 3)


# -- time-of-day baselines ---------------------------------------------------------------------
def _shift_panel(y):
    y = np.asarray(y, dtype=np.float32)
    g = Grid(crs="EPSG:32610", cell_size=100, col=np.arange(y.shape[0]), row=np.zeros(y.shape[0], int))
    return Panel(g, Periods("shift"), 0, {"all": y})


def test_time_of_day_counts_read_only_the_same_shift_known_values():
    # Three shifts a day over three days; column 9 is shift 0 of day 4.
    y = [[5, 0, 1, 3, 0, 0, 1, 7, 7],
         [0, 9, 9, 0, 9, 9, 0, 9, 9]]
    pan = _shift_panel(y)
    tod = TimeOfDayCounts(window_days=None).fit(pan, 9)
    assert tod.predict_risk(pan, 9).tolist() == [3.0, 0.0]  # (5 + 3 + 1) / 3
    # Shift 1 (column 7): columns 1 and 4 only.
    assert tod.predict_risk(pan, 7).tolist() == [0.0, 9.0]
    # A one-day window: the last same shift only.
    assert TimeOfDayCounts(window_days=1).predict_risk(pan, 9).tolist() == [1.0, 0.0]
    # Weekday x shift: nothing a week back in a three-day panel -> zeros, not an error.
    assert TimeOfDayCounts(weekday=True).fit(pan, 9).predict_risk(pan, 9).tolist() == [0, 0]


def test_time_of_day_weekday_reads_a_week_back():
    y = np.zeros((1, 3 * 15), np.float32)
    y[0, [0, 21, 22]] = [4, 2, 5]  # shift 0 of day 0 and day 7; shift 1 of day 7
    pan = _shift_panel(y)
    assert TimeOfDayCounts(window_days=None, weekday=True).predict_risk(pan, 42).tolist() == [3.0]


def test_time_of_day_needs_short_periods_and_valid_window():
    with pytest.raises(ConfigError, match="period 'week'"):
        TimeOfDayCounts().fit(_panel([[1, 2, 3]]), 2)
    msg = "window_days must be a positive whole number of days or None; got -3"
    with pytest.raises(ConfigError, match=re.escape(msg)):
        TimeOfDayCounts(window_days=-3).fit(_shift_panel([[1, 2, 3, 4]]), 3)


def test_time_of_day_blend_known_value_and_lambda_chosen_before_origin():
    y = [[5, 0, 1, 3, 0, 0]]
    pan = _shift_panel(y)
    b = TimeOfDayBlend(window_days=None, lambdas=(1.0,)).fit(pan, 6)
    assert b.predict_risk(pan, 6).tolist() == [pytest.approx((4 + 9 / 6) / 2)]
    # Two cells: cell 0 busy on shift 0 only, cell 1 busy every shift but less on shift 0.
    rng = np.random.default_rng(0)
    n_days = 60
    lam0 = np.tile([3.0, 0.1, 0.1], n_days)
    lam1 = np.tile([1.0, 4.0, 4.0], n_days)
    y = np.stack([rng.poisson(lam0), rng.poisson(lam1)]).astype(np.float32)
    pan = _shift_panel(y)
    fit = TimeOfDayBlend(window_days=None, validation_days=20).fit(pan, 150)
    # The same-shift rate ranks cell 0 first on shift 0; the pooled rate never does.
    assert fit.lambda_ <= 1.0
    assert fit.validation_gain_.shape == (len(TOD_LAMBDAS),)
    # The choice reads only columns before the origin: changing later counts changes nothing.
    y2 = y.copy()
    y2[:, 150:] = 0
    assert TimeOfDayBlend(window_days=None, validation_days=20).fit(
        _shift_panel(y2), 150).lambda_ == fit.lambda_
    with pytest.raises(ConfigError, match="lambdas must be"):
        TimeOfDayBlend(lambdas=(-1.0,)).fit(pan, 150)


# -- blocks of origins (predict_risk_many) and the sparse SEPP ----------------------------------
def _dense_sepp_em(x, n_iter, theta, q, tol=1e-4):
    """The dense-array EM the sparse one replaced (filters over every cell-period)."""
    from scipy.signal import lfilter

    n_t, total = x.shape[1], x.sum()
    mu = x.mean(axis=1) * 0.5 + 1e-6
    for _ in range(n_iter):  # EM iterations
        old = (theta, q)
        z = lfilter([1.0], [1.0, -q], x, axis=1)
        a = np.zeros_like(x)
        a[:, 1:] = z[:, :-1]
        zz = lfilter([1.0], [1.0, -2 * q, q * q], x, axis=1)
        b = np.zeros_like(x)
        b[:, 1:] = zz[:, :-1]
        trig = theta * (1 - q) * a
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.where(x > 0, x / (mu[:, None] + trig), 0.0)
        n_trig = (trig * r).sum()
        mu = np.maximum((mu[:, None] * r).sum(axis=1) / n_t, 1e-9)
        mean_lag = (theta * (1 - q) * b * r).sum() / max(n_trig, 1e-12)
        theta = float(np.clip(n_trig / total, 1e-6, 0.99))
        q = float(np.clip(1 - 1 / max(mean_lag, 1.0 + 1e-9), 1e-6, 0.999))
        if abs(theta - old[0]) < tol and abs(q - old[1]) < tol:
            break
    return mu, theta, q


def test_sparse_sepp_matches_the_dense_em_and_blocks_match_single_origins():
    rng = np.random.default_rng(7)
    x = rng.poisson(0.08, (40, 120)).astype(np.float64)
    x[3, 50:60] += 2  # a burst, so triggering is estimated away from its floor
    pan = _panel(x)
    m = SEPPGrid(window_days=7 * 100, n_iter=25).fit(pan, 110)
    mu, theta, q = _dense_sepp_em(x[:, 10:110], 25, 0.1, np.exp(-0.5))
    np.testing.assert_allclose(m.mu_, mu, rtol=1e-10)
    assert m.theta_ == pytest.approx(theta, rel=1e-10)
    assert np.exp(-m.omega_) == pytest.approx(q, rel=1e-10)
    # Scores: base rate plus the decayed sum of every incident in the window before the origin.
    for o in (110, 115):
        ages = o - 1 - np.arange(10, o)
        want = m.mu_ + m.theta_ * (1 - q) * (x[:, 10:o] @ q ** ages)
        np.testing.assert_allclose(m.predict_risk(pan, o), want, rtol=1e-10)
    block = np.array([112, 110, 119, 111])  # any order
    np.testing.assert_allclose(m.predict_risk_many(pan, block),
                               [m.predict_risk(pan, o) for o in block], rtol=1e-12)


@pytest.mark.parametrize("make", [
    lambda: HistoricalCounts(window_days=21), lambda: HistoricalCounts(window_days=None),
    lambda: TimeOfDayCounts(window_days=7), lambda: TimeOfDayCounts(window_days=None),
    lambda: TimeOfDayCounts(window_days=14, weekday=True),
    lambda: TimeOfDayBlend(window_days=14, validation_days=7),
    lambda: RateOracle(scale_days=3), lambda: RateOracle(scale_days=3, time_of_day=False),
    lambda: KDEBaseline(bandwidth=150, window_days=7), lambda: ProMap(bandwidth=250, window_days=7)],
    ids=["hist21", "hist_all", "tod7", "tod_all", "tod_weekday", "blend", "oracle", "oracle_flat",
         "kde", "promap"])
def test_predict_risk_many_equals_predict_risk_at_each_origin(make):
    rng = np.random.default_rng(1)
    pan = _shift_panel(rng.poisson(0.7, (6, 150)))
    m = make().fit(pan, 100)
    origins = np.array([100, 101, 102, 103, 110, 104, 2])  # a block, a gap, out of order, early
    want = np.array([m.predict_risk(pan, o) for o in origins])
    got = m.predict_risk_many(pan, origins)
    assert got.shape == (len(origins), 6)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    # The next block continues from the sums carried over from this one.
    later = np.array([111, 112, 113, 125, 140])
    np.testing.assert_allclose(m.predict_risk_many(pan, later),
                               [m.predict_risk(pan, o) for o in later], rtol=1e-12, atol=1e-12)


def test_rate_oracle_at_shifts_reads_only_the_same_shift():
    # Cell 0 has incidents in the night shift (slot 2) only; cell 1 in every shift.
    y = np.zeros((2, 60), np.float32)
    y[0, 2::3] = 3
    y[1, :] = 1
    pan = _shift_panel(y)
    day, night = 30, 32  # slot 0 and slot 2 of day 10
    tod = RateOracle(scale_days=2).fit(pan, day)
    assert tod.predict_risk(pan, day).tolist() == pytest.approx([0.0, 1.0])
    assert tod.predict_risk(pan, night).tolist() == pytest.approx([3.0, 1.0])
    # Known value with incidents in one same-shift period only: weight e^-(lag/scale).
    y2 = np.zeros((1, 60), np.float32)
    y2[0, 36] = 6  # two days (6 shifts) after column 30, same shift
    scale = 6  # 2 days of shifts
    lags = np.arange(3, 3 * scale + 1, 3)  # same-shift lags 3..18 each side, 0 excluded
    w = np.exp(-lags / scale)
    want = 6 * np.exp(-6 / scale) / (2 * w.sum())
    assert RateOracle(scale_days=2).predict_risk(_shift_panel(y2), 30).tolist() == pytest.approx([want])
    # The flat oracle (every shift) ignores the time of day.
    flat = RateOracle(scale_days=2, time_of_day=False)
    assert 0.5 < flat.predict_risk(pan, day)[0] < 1.5 and 0.5 < flat.predict_risk(pan, night)[0] < 1.5


def test_time_of_day_shrunk_known_values_between_the_same_slot_and_the_overall_rate():
    # Two days of three shifts; column 6 is shift 0. Cell 0: 6 on shift 0; cell 1: 2 on each other shift.
    y = [[3, 0, 0, 3, 0, 0],
         [0, 1, 1, 0, 1, 1]]
    pan = _shift_panel(y)
    # City profile p = (0.6, 0.2, 0.2); k = 2 periods per shift of the day.
    got = TimeOfDayShrunk(window_days=None, alpha=2.0).fit(pan, 6).predict_risk(pan, 6)
    assert got.tolist() == pytest.approx([6 / 2 * (6 + 1.2) / 8, 4 / 2 * 1.2 / 6])
    # alpha = 0 is the same-slot mean; a huge alpha the overall mean times the city's share.
    same = TimeOfDayShrunk(window_days=None, alpha=0.0).fit(pan, 6).predict_risk(pan, 6)
    assert same.tolist() == TimeOfDayCounts(window_days=None).fit(pan, 6).predict_risk(pan, 6).tolist()
    flat = TimeOfDayShrunk(window_days=None, alpha=1e9).fit(pan, 6).predict_risk(pan, 6)
    assert flat.tolist() == pytest.approx([3 * 0.6, 2 * 0.6])
    # Shift 1 (column 4) reads column 1 as its own slot (one whole day of history before it).
    assert TimeOfDayShrunk(window_days=None, alpha=0.0).fit(pan, 4).predict_risk(pan, 4).tolist() == [0.0, 1.0]
    # A one-day window reads the last three columns only.
    assert TimeOfDayShrunk(window_days=1, alpha=0.0).fit(pan, 6).predict_risk(pan, 6).tolist() == [3.0, 0.0]


def test_time_of_day_shrunk_fits_alpha_by_marginal_likelihood():
    rng = np.random.default_rng(3)
    n_cells, n_days = 400, 200
    # Every cell has the city's profile: the fitted strength is large (no cell-specific profile).
    same = rng.poisson(np.tile([0.3, 0.1, 0.1], n_days), (n_cells, 3 * n_days)).astype(np.float32)
    a_same = TimeOfDayShrunk(window_days=None).fit(_shift_panel(same), 3 * n_days).alpha_
    # Each cell has its own profile (Dirichlet with strength 5 around the city's): alpha near 5.
    prof = rng.dirichlet(5 * np.array([0.6, 0.2, 0.2]), n_cells)
    own = rng.poisson(np.tile(prof * 0.5, n_days)).astype(np.float32)
    a_own = TimeOfDayShrunk(window_days=None).fit(_shift_panel(own), 3 * n_days).alpha_
    assert a_same > 100 and 3 < a_own < 8
    # Only the window before the origin is read.
    later = own.copy()
    later[:, 300:] = 0
    assert TimeOfDayShrunk(window_days=None).fit(_shift_panel(later), 300).alpha_ == \
        TimeOfDayShrunk(window_days=None).fit(_shift_panel(own), 300).alpha_
    # No incident: alpha is undefined and the scores are zero.
    empty = TimeOfDayShrunk().fit(_shift_panel(np.zeros((2, 9))), 9)
    assert np.isnan(empty.alpha_) and empty.predict_risk(_shift_panel(np.zeros((2, 9))), 9).tolist() == [0, 0]


def test_time_of_day_shrunk_rejects_bad_parameters_and_needs_fit():
    pan = _shift_panel([[1, 2, 3, 4]])
    with pytest.raises(ConfigError, match=re.escape("alpha must be a non-negative number or None; got -1")):
        TimeOfDayShrunk(alpha=-1).fit(pan, 3)
    with pytest.raises(ConfigError, match="period 'week'"):
        TimeOfDayShrunk().fit(_panel([[1, 2, 3]]), 2)
    with pytest.raises(DataError, match="not fitted yet"):
        TimeOfDayShrunk().predict_risk(pan, 3)
