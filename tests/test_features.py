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
