"""Tests of forecasting.periods."""

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecasting.errors import ConfigError
from forecasting.periods import Periods


def test_weeks_start_on_monday():
    p = Periods("week")
    ts = pd.to_datetime(["2024-03-03 23:59", "2024-03-04 00:00", "2024-03-10 23:59"])
    idx = p.index(ts)
    assert idx[1] == idx[0] + 1 and idx[2] == idx[1]
    assert (p.start(idx).day_of_week == 0).all()


def test_shift_boundaries_and_labels():
    p = Periods("shift", shift_start=6, shift_hours=8)
    ts = pd.to_datetime(["2024-01-01 05:59", "2024-01-01 06:00", "2024-01-01 14:00",
                         "2024-01-01 22:00", "2024-01-02 05:59"])
    idx = p.index(ts)
    assert p.shift_of_day(idx).tolist() == [2, 0, 1, 2, 2]
    assert str(p.start(idx[:1])[0]) == "2023-12-31 22:00:00"


def test_day_and_hour_indexes():
    d, h = Periods("day"), Periods("hour")
    ts = pd.to_datetime(["2024-01-01 23:30", "2024-01-02 00:10"])
    assert np.diff(d.index(ts)).tolist() == [1]
    assert h.calendar(h.index(ts))["hour"].tolist() == [23.0, 0.0]


def test_holidays_counted_per_week():
    p = Periods("week")
    idx = p.index(pd.to_datetime(["2024-12-23", "2024-12-30", "2024-07-15"]))
    # Christmas; New Year; none (Canada, national holidays).
    assert p.holiday_days(idx, "CA").tolist() == [1.0, 1.0, 0.0]
    # Ontario adds Boxing Day.
    assert p.holiday_days(idx, "CA", "ON").tolist() == [2.0, 1.0, 0.0]


def test_bad_arguments_are_named():
    with pytest.raises(ConfigError, match=re.escape("period must be one of")):
        Periods("fortnight")
    with pytest.raises(ConfigError, match=re.escape("shift_hours must be a whole number of hours dividing 24; got 7")):
        Periods("shift", shift_hours=7)


@settings(max_examples=60, deadline=None)
@given(st.datetimes(min_value=pd.Timestamp("1990-01-01").to_pydatetime(),
                    max_value=pd.Timestamp("2040-01-01").to_pydatetime()),
       st.sampled_from(["week", "day", "shift", "hour"]))
def test_timestamp_lies_in_its_period(dt, kind):
    p = Periods(kind)
    ts = pd.Timestamp(dt)
    start = p.floor([ts])[0]
    assert start <= ts < start + p.length
