"""The period specification: one value from the CLI/settings string to the stored forecast and back."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from forecasting.cli import app
from forecasting.config import DEFAULT_CELL_SIZE, Settings, load_settings
from forecasting.errors import ConfigError
from forecasting.periods import Periods, PeriodSpec, as_spec

from .conftest import SAMPLE

runner = CliRunner()
LAYOUTS = [(s, h) for h in (1, 2, 3, 4, 6, 8, 12, 24) for s in range(24)]


@given(st.sampled_from(["week", "day", "hour"]) | st.just("shift"), st.sampled_from(LAYOUTS))
def test_str_round_trip(kind, layout):
    spec = PeriodSpec(kind, *layout)
    assert PeriodSpec.parse(str(spec)) == spec
    assert PeriodSpec.from_dict(spec.to_dict()) == spec
    assert as_spec(spec.periods()) == spec and spec.periods().spec == spec
    assert Periods(spec) == spec.periods()


def test_only_shifts_have_a_layout_and_the_default_prints_as_the_kind():
    assert str(PeriodSpec("shift")) == "shift" and str(PeriodSpec("shift", 22, 8)) == "shift:22+8"
    # A layout means nothing for weeks: two week specs are equal whatever the settings say.
    assert PeriodSpec("week", 22, 12) == PeriodSpec("week") and str(PeriodSpec("week", 22, 12)) == "week"
    assert PeriodSpec.parse("shift", shift_start=22, shift_hours=12) == PeriodSpec("shift", 22, 12)
    assert PeriodSpec.parse("shift:22+12", shift_start=22) == PeriodSpec("shift", 22, 12)
    assert PeriodSpec.from_dict(None, "shift") == PeriodSpec("shift", 6, 8)  # runs stored before layouts


def test_labels_follow_the_layout():
    ts = pd.to_datetime(["2024-03-04 22:30"])
    default, late = PeriodSpec("shift"), PeriodSpec("shift", 22, 8)
    assert default.label(default.periods().index(ts)[0]) == "2024-03-04/2"
    assert late.label(late.periods().index(ts)[0]) == "2024-03-04/0"
    assert str(late.start([late.periods().index(ts)[0]])[0]) == "2024-03-04 22:00:00"
    week = PeriodSpec("week")
    assert week.label(week.periods().index(ts)[0]) == "2024-03-04 00:00"


@pytest.mark.parametrize(("args", "message"), [
    (("fortnight",), "period must be one of"),
    (("shift", 6, 7), "shift_hours must be a whole number of hours dividing 24; got 7"),
    (("shift", 24, 8), "shift_start must be an hour in 0..23; got 24"),
    (("shift", 6.5, 8), "shift_start must be an hour in 0..23; got 6.5"),
    (("shift", True, 8), "shift_start must be an hour in 0..23; got True"),
])
def test_bad_spec_names_the_parameter(args, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        PeriodSpec(*args)


@pytest.mark.parametrize(("text", "message"), [
    ("shift:22", "period must be week, day, hour, shift or shift:START+HOURS (e.g. shift:22+8); got 'shift:22'"),
    ("week:6+8", "got 'week:6+8'"),
    ("shift:a+8", "got 'shift:a+8'"),
    ("shift:22+7", "shift_hours must be a whole number of hours dividing 24; got 7"),
])
def test_bad_strings_name_the_accepted_forms(text, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        PeriodSpec.parse(text)


def test_a_layout_given_twice_must_agree():
    with pytest.raises(ConfigError, match=re.escape("disagrees with shift_start=6")):
        PeriodSpec.parse("shift:22+8", shift_start=6)


def test_settings_hold_the_layout_and_the_cell_size():
    s = Settings(_toml_file=None)
    assert (s.shift_start, s.shift_hours, s.cell_size) == (6, 8, DEFAULT_CELL_SIZE)
    with pytest.raises(ConfigError, match=re.escape("shift_hours must be a whole number of hours dividing 24")):
        load_settings(shift_hours=5, _toml_file=None)
    with pytest.raises(ConfigError, match=re.escape("shift_start must be an hour in 0..23")):
        load_settings(shift_start=30, _toml_file=None)


# ----------------------------------------------------------------------------- stored with the run
@pytest.fixture(scope="module")
def late_shifts(tmp_path_factory):
    """Shift forecasts issued with 12-hour shifts from 22:00 (settings), on the Chicago sample."""
    from forecasting.jobs import forecasting as fj
    from forecasting.store.session import make_engine, make_session_factory

    data = tmp_path_factory.mktemp("late") / "var"
    env = {"CRIMECAST_DATA_DIR": str(data)}
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    sample = SAMPLE / "chicago_aggravated_assaults_districts_1_18_2017_2019.csv.gz"
    r = runner.invoke(app, ["ingest", "incidents", str(sample), "--format", "chicago"], env=env)
    assert r.exit_code == 0, r.output
    settings = load_settings(data_dir=data, shift_start=22, shift_hours=12)
    factory = make_session_factory(make_engine(settings.resolved_database_url()))
    runs = fj.issue_forecasts(factory, settings, period="shift", at="2019-06-03 22:00", count=2)
    return env, settings, factory, runs


def test_the_layout_is_stored_with_every_forecast_run(late_shifts):
    from forecasting.store import forecasts as fc
    from forecasting.store.session import transaction

    _, _, factory, runs = late_shifts
    with transaction(factory) as s:
        stored = fc.run_period_specs(session=s, run_ids=[r["run_id"] for r in runs])
        frame = fc.forecast_runs(session=s, period="shift")
    assert list(stored.values()) == [{"kind": "shift", "shift_start": 22, "shift_hours": 12}] * 2
    assert ((frame["period_end"] - frame["period_start"]) == pd.Timedelta(hours=12)).all()
    assert [str(pd.Timestamp(r["period_start"])) for r in runs] == ["2019-06-03 22:00:00", "2019-06-04 10:00:00"]


def test_the_lookup_reads_shifts_in_the_stored_layout(late_shifts):
    from forecasting.jobs import priority as jp

    _, _, factory, runs = late_shifts
    # Default settings (06:00, 8 h): the lookup still reads the stored 22:00 + 12 h layout.
    f = jp.load_shift_forecast(factory, load_settings(_toml_file=None), shift="2019-06-03/0")
    assert (f.label, str(f.start), str(f.end)) == ("2019-06-03/0", "2019-06-03 22:00:00", "2019-06-04 10:00:00")
    assert f.periods == Periods("shift", shift_start=22, shift_hours=12) and f.meta["period_spec"] == "shift:22+12"
    assert f.meta["forecast_run_ids"] == [runs[0]["run_id"]]
    assert jp.stored_shifts(factory, load_settings(_toml_file=None)) == f.periods
    # 10:00 the next morning is shift 1 of the day whose first shift starts at 22:00.
    same = jp.load_shift_forecast(factory, load_settings(_toml_file=None), shift="2019-06-03/1",
                                  periods=Periods("shift", shift_start=22, shift_hours=12))
    assert same.meta["forecast_run_ids"] == [runs[1]["run_id"]]


def test_a_mismatched_layout_is_refused(late_shifts):
    from forecasting.jobs import priority as jp

    env, _, factory, runs = late_shifts
    with pytest.raises(ConfigError, match=re.escape("shift_start=6, shift_hours=8 do not match the layout the shift "
                                                    "forecast was stored with (shift_start=22, shift_hours=12)")):
        jp.load_shift_forecast(factory, load_settings(_toml_file=None), periods=Periods("shift"))
    with pytest.raises(ConfigError, match="do not match"):
        jp.load_shift_forecast(factory, load_settings(_toml_file=None), run_id=runs[0]["run_id"],
                               periods=Periods("shift", shift_start=10, shift_hours=12))
    r = runner.invoke(app, ["priority", "cameras", "--shift-start", "6"], env=env)
    assert r.exit_code == 1
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: shift_start=6, shift_hours=8 do not match"), r.output


def test_a_backtest_keeps_a_non_default_layout():
    from forecasting.workflows import BacktestOptions

    assert "period_spec" not in BacktestOptions(start="2024-01-01", end="2024-02-01", period="shift").record()
    late = BacktestOptions(start="2024-01-01", end="2024-02-01", period=PeriodSpec("shift", 22, 12))
    assert late.record()["period_spec"] == {"kind": "shift", "shift_start": 22, "shift_hours": 12}
