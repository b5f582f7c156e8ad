"""Tests of forecasting.features: panel counts and the leakage guard."""

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forecasting.errors import DataError, InputError
from forecasting.features import FeatureBuilder, Panel, build_panel, describe_feature
from forecasting.grid import Grid, build_grid
from forecasting.periods import Periods


def make_events(seed=0, n=3000, start="2021-01-04", days=3 * 365, cats=("burglary", "theft")):
    rng = np.random.default_rng(seed)
    hot = rng.integers(0, 8, n)
    return pd.DataFrame({
        "occurred_local": pd.Timestamp(start) + pd.to_timedelta(rng.uniform(0, days, n), unit="D"),
        "longitude": -123.1 + 0.004 * hot + rng.normal(0, 0.002, n),
        "latitude": 49.27 + 0.003 * (hot % 3) + rng.normal(0, 0.002, n),
        "category": rng.choice(list(cats), n),
        "category_group": "property",
    })


@pytest.fixture(scope="module")
def setup():
    ev = make_events()
    grid = build_grid(ev.longitude, ev.latitude, cell_size=200)
    return ev, grid


def test_counts_are_conserved(setup):
    ev, grid = setup
    pan = build_panel(ev, grid, Periods("week"), targets=["burglary"])
    assert pan.counts["all"].sum() == len(ev)
    assert pan.counts["burglary"].sum() == (ev.category == "burglary").sum()
    assert pan.n_outside == 0


def test_category_falls_back_to_group_and_unknown_fails(setup):
    ev, grid = setup
    pan = build_panel(ev, grid, Periods("week"), targets=["property"])
    assert pan.counts["property"].sum() == len(ev)
    with pytest.raises(DataError, match=re.escape("category 'arson' matches no incident")):
        build_panel(ev, grid, Periods("week"), targets=["arson"])


def test_month_resolution_rows_are_dropped_with_message(setup):
    ev, grid = setup
    ev = ev.assign(time_resolution=np.where(np.arange(len(ev)) < 10, "month", "minute"))
    with pytest.warns(UserWarning, match=re.escape("dropped 10 incident(s) whose time_resolution is too coarse")):
        pan = build_panel(ev, grid, Periods("week"))
    assert pan.counts["all"].sum() == len(ev) - 10
    with pytest.raises(DataError, match="no incident has a time_resolution usable"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            build_panel(ev.assign(time_resolution="day"), grid, Periods("hour"))


def test_missing_columns_named():
    with pytest.raises(InputError, match=re.escape("events frame is missing column(s) ['category']")):
        build_panel(pd.DataFrame({"occurred_local": [], "longitude": [], "latitude": [],
                                  "category_group": []}), None, Periods("week"))


def test_known_feature_values():
    g = Grid(crs="EPSG:32610", cell_size=100, col=np.array([0, 1]), row=np.array([0, 0]))
    y = np.array([[1, 0, 2, 0, 1], [0, 3, 0, 0, 0]], dtype=np.float32)
    pan = Panel(g, Periods("week"), 0, {"all": y})
    fb = FeatureBuilder(windows_days=(7, 14), neighbour_windows_days=(14,), half_lives_days=(7,),
                        cross_windows_days=())
    X, names = fb.transform(pan, np.array([4]))
    f = dict(zip(names, X[:, 0, 0], strict=True))
    assert f["count_1p"] == 0 and f["count_2p"] == 2 and f["count_all"] == 3
    assert f["n3_2p"] == 0 and f["n3_all"] == 3  # the neighbour's 3 incidents, ring only
    assert f["since_last"] == 2 and f["history_periods"] == 4
    assert f["nr_7d"] == pytest.approx(2 * 0.5 + 1 * 0.5**3)
    assert f["rate_all"] == pytest.approx(0.75)


def test_cached_transform_equals_transform(setup):
    ev, grid = setup
    pan = build_panel(ev, grid, Periods("week"), targets=["theft"]).for_target("theft")
    fb = FeatureBuilder(holidays_country="CA")
    cols = np.array([60, 70, 100])
    a, _ = fb.transform(pan, cols)
    b, _ = fb.cached_transform(pan, cols)
    np.testing.assert_array_equal(a, b)


def test_the_panel_keeps_two_targets_caches_and_drops_the_oldest():
    # The backtest's two threads may fit two targets at once: neither may evict the other.
    g = Grid(crs="EPSG:32610", cell_size=100, col=np.arange(4), row=np.zeros(4, int))
    y = np.random.default_rng(0).poisson(1.0, (4, 60)).astype(np.float32)
    pan = Panel(g, Periods("week"), 0, {"all": y, "b": y + 1, "c": y * 2})
    fb = FeatureBuilder()
    for t in ("all", "b"):
        fb.cached_transform(pan.for_target(t), np.array([50]))
    kept = lambda kind: sorted(k[1] for k in pan._cache if k[0] == kind)  # noqa: E731
    assert kept("features") == kept("state") == ["all", "b"]
    want, _ = fb.transform(pan.for_target("c"), np.array([55]))
    got, _ = fb.cached_transform(pan.for_target("c"), np.array([55]))
    np.testing.assert_array_equal(got, want)
    assert kept("features") == kept("state") == ["b", "c"]
    pan.for_target("b").release()  # a model done with a target frees its caches
    assert kept("features") == kept("state") == ["c"]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(origin_week=st.integers(10, 140), n_future=st.integers(1, 400), seed=st.integers(0, 10_000))
def test_appending_future_incidents_changes_no_feature(setup, origin_week, n_future, seed):
    ev, grid = setup
    p = Periods("week")
    start, end = ev.occurred_local.min(), pd.Timestamp("2024-12-31")
    pan = build_panel(ev, grid, p, targets=["theft"], start=start, end=end)
    origin_ts = pan.period_starts[origin_week]
    past = ev[ev.occurred_local < origin_ts]
    rng = np.random.default_rng(seed)
    fut = make_events(seed=seed, n=n_future, start=str(origin_ts), days=200)
    fut = fut.assign(longitude=rng.choice(ev.longitude, n_future), latitude=rng.choice(ev.latitude, n_future))
    fb = FeatureBuilder(holidays_country="CA")
    cols = np.arange(1, origin_week + 1)
    a, _ = fb.transform(build_panel(past, grid, p, targets=["theft"], start=start, end=end).for_target("theft"), cols)
    b, _ = fb.transform(build_panel(pd.concat([past, fut]), grid, p, targets=["theft"], start=start,
                                    end=end).for_target("theft"), cols)
    np.testing.assert_array_equal(a, b)


def test_describe_feature_phrases():
    p = Periods("week")
    assert describe_feature("count_4p", 3, periods=p, cell_size=150) == \
        "3 incidents in this cell in the last 4 weeks"
    assert describe_feature("ratio_recent", 3.04, periods=p, cell_size=150) == \
        "recent rate is 3.0x the cell's usual rate"


@settings(max_examples=12, deadline=None)
@given(kind=st.sampled_from(["shift", "hour", "day"]), origin_frac=st.floats(0.2, 0.95),
       n_future=st.integers(1, 200), seed=st.integers(0, 10_000))
def test_appending_future_incidents_changes_no_feature_at_short_periods(kind, origin_frac, n_future, seed):
    # Time-of-day blocks included: same-slot counts, rings, profiles, other categories.
    ev = make_events(seed=1, n=1500, start="2023-01-02", days=70)
    grid = build_grid(ev.longitude, ev.latitude, cell_size=300)
    p = Periods(kind)
    start, end = ev.occurred_local.min(), pd.Timestamp("2023-04-30")
    full = build_panel(ev, grid, p, targets=["theft"], start=start, end=end)
    origin = max(2, int(origin_frac * full.column("2023-03-13")))
    origin_ts = full.period_starts[origin]
    past = ev[ev.occurred_local < origin_ts]
    rng = np.random.default_rng(seed)
    fut = make_events(seed=seed, n=n_future, start=str(origin_ts), days=30)
    fut = fut.assign(longitude=rng.choice(ev.longitude, n_future), latitude=rng.choice(ev.latitude, n_future))
    fb = FeatureBuilder(windows_days=(1, 7, 28), neighbour_windows_days=(7,), half_lives_days=(2,))
    cols = np.unique(rng.integers(1, origin + 1, 40))
    a, names = fb.transform(build_panel(past, grid, p, targets=["theft"], start=start, end=end)
                            .for_target("theft"), cols)
    b, _ = fb.transform(build_panel(pd.concat([past, fut]), grid, p, targets=["theft"], start=start,
                                    end=end).for_target("theft"), cols)
    assert any(n.endswith("tod_all") for n in names) and "other_" in " ".join(names)
    np.testing.assert_array_equal(a, b)


def test_time_of_day_features_known_values():
    g = Grid(crs="EPSG:32610", cell_size=100, col=np.array([0, 1]), row=np.array([0, 0]))
    # Three shifts a day for three days; column 9 is shift 0 of day 4.
    y = np.array([[5, 0, 1, 3, 0, 0, 1, 7, 7], [0, 9, 9, 0, 9, 9, 0, 9, 9]], dtype=np.float32)
    theft = (y > 4).astype(np.float32)
    pan = Panel(g, Periods("shift"), 0, {"all": y, "theft": theft})
    X, names = FeatureBuilder().transform(pan.for_target("theft"), np.array([9, 7]))
    f = {n: X[i, :, :] for i, n in enumerate(names)}
    assert f["tod_all"][:, 0].tolist() == [1, 0]  # column 0 only (5 > 4) in cell 0's shift 0
    assert f["tod_all"][:, 1].tolist() == [0, 2]  # shift 1 at column 7: columns 1 and 4
    assert f["other_tod_52w"][:, 0].tolist() == [8, 0]  # 4 + 3 + 1 other incidents
    assert f["n3_tod_52w"][:, 1].tolist() == [2, 0]  # the neighbour's same-shift count
    assert f["wdtod_all"][:, 0].tolist() == [0, 0]  # no same weekday a week back
    # Empirical Bayes, target "all" at column 9 (shift 0), cell 0: 9 of its 24 incidents in
    # shift 0; its ring (cell 1) 0 of 54; the city 9 of 78 (+1 / +3 smoothing).
    Xa, _ = FeatureBuilder().transform(pan, np.array([9]))
    city = 10 / 81
    ring = 20 * city / (54 + 20)
    share = (9 + 20 * ring) / (24 + 20)
    assert Xa[names.index("tod_share_eb"), 0, 0] == pytest.approx(3 * share, rel=1e-6)
    assert Xa[names.index("tod_rate_eb"), 0, 0] == pytest.approx(24 / 9 * 3 * share, rel=1e-6)
    assert describe_feature("tod_52w", 4, periods=Periods("shift"), cell_size=150) == \
        "4 incidents in this cell in this shift of the day over the last 52 weeks"
    # Weeks have no time-of-day block.
    wk = Panel(g, Periods("week"), 0, {"all": y})
    assert not [n for n in FeatureBuilder().feature_names(wk) if "tod" in n]


def test_hours_since_last_in_ring_and_other_categories_known_values():
    g = Grid(crs="EPSG:32610", cell_size=100, col=np.array([0, 1, 5]), row=np.array([0, 0, 0]))
    # Cell 0 and its ring (cell 1); cell 2 is alone. Shifts of 8 hours.
    y = np.array([[1, 0, 0, 0, 0], [0, 2, 0, 0, 3], [0, 0, 0, 0, 0]], dtype=np.float32)
    theft = np.array([[1, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]], dtype=np.float32)
    pan = Panel(g, Periods("shift"), 0, {"all": y, "theft": theft})
    X, names = FeatureBuilder().transform(pan, np.array([4, 5]))
    f = {n: X[i] for i, n in enumerate(names)}
    # Cell 0's ring last had one at column 1: 3 shifts before origin 4, 24 hours; the
    # incident at column 4 counts from origin 5 on (1 shift, 8 hours). Cell 2: none in 4
    # shifts of history (history + 1 periods = 5 shifts = 40 hours).
    assert f["ring_hours_since_last"][:, 0].tolist() == [24, 32, 40]
    assert f["ring_hours_since_last"][:, 1].tolist() == [8, 40, 48]
    Xt, _ = FeatureBuilder().transform(pan.for_target("theft"), np.array([4]))
    ft = {n: Xt[i] for i, n in enumerate(names)}
    # Other categories ("all" minus theft) in cell 1: the two at column 1, 3 shifts back.
    assert ft["other_hours_since_last"][:, 0].tolist() == [40, 24, 40]
    assert describe_feature("ring_hours_since_last", 24, periods=Periods("shift"), cell_size=150) \
        == "about 24 hours since the last incident in the surrounding cells"
    assert describe_feature("since_last", 2, periods=Periods("shift"), cell_size=150) \
        == "about 16 hours since the last incident in this cell"
