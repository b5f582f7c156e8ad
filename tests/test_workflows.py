"""Tests of forecasting.workflows: the backtest output contract, train and forecast."""

import json
import re

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from forecasting.errors import ConfigError, DataError
from forecasting.features import FeatureBuilder
from forecasting.workflows import BacktestOptions, Forecaster, forecast, make_models, run_backtest, train

FAST = dict(n_estimators=30, learning_rate=0.2, num_leaves=7, min_child_samples=20, n_jobs=1,
            training_days=7 * 60, validation_days=7 * 8, early_stopping_rounds=5)
FEATS = FeatureBuilder(windows_days=(7, 28, 364), neighbour_windows_days=(28,), half_lives_days=(14,))


def make_events(seed=0, n=4000):
    rng = np.random.default_rng(seed)
    hot = rng.integers(0, 6, n)
    return pd.DataFrame({
        "occurred_local": pd.Timestamp("2022-01-03") + pd.to_timedelta(rng.uniform(0, 2 * 365, n), unit="D"),
        "longitude": -123.1 + 0.006 * hot + rng.normal(0, 0.003, n),
        "latitude": 49.27 + 0.004 * (hot % 2) + rng.normal(0, 0.003, n),
        "category": rng.choice(["Mischief", "Theft"], n),
        "category_group": rng.choice(["property"], n),
        "time_resolution": np.where(np.arange(n) % 500 == 0, "month", "minute"),
    })


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bt")
    ev = make_events()
    msgs = []
    with pytest.warns(UserWarning, match="time_resolution is too coarse"):
        r = run_backtest(ev, BacktestOptions(start="2023-11-01", end="2023-12-31", cell_size=300,
                                             categories=["Mischief"], models=("lgbm", "naive", "historical",
                                                                              "kde", "promap", "sepp"),
                                             refit_every=4, lgbm_params=FAST, features=FEATS, n_boot=50,
                                             tune_candidates=[{"num_leaves": 3}, {"num_leaves": 7}]),
                         out_dir=out, progress=msgs.append)
    return r, out, ev, msgs


def test_output_files_follow_the_contract(run):
    r, out, ev, _ = run
    assert sorted(p.name for p in out.iterdir() if p.suffix != ".png") == [
        "cells.geojson", "metrics.json", "report.md", "scores.parquet"]
    cells = json.loads((out / "cells.geojson").read_text())
    ids = [f["properties"]["cell_id"] for f in cells["features"]]
    assert len(ids) == r.result.panel.n_cells == len(set(ids))
    crs = json.dumps(cells.get("crs", {"name": "EPSG:4326"}))
    assert "4326" in crs or "CRS84" in crs  # GeoJSON's default, lon/lat WGS84
    lon, lat = np.array(cells["features"][0]["geometry"]["coordinates"][0]).T
    assert -124 < lon.min() < -123 and 49 < lat.min() < 50
    t = pq.read_table(out / "scores.parquet")
    assert t.column_names == ["model", "category", "cell_id", "period_start", "score"]
    assert str(t.schema.field("period_start").type) == "date32[day]"
    df = t.to_pandas()
    assert set(df.category.astype(str)) == {"all", "Mischief"}
    expected_models = {"lgbm", "naive", "historical_13", "historical_52", "historical_104",
                       "historical_all", "kde", "promap", "sepp"}
    assert set(df.model.astype(str)) == expected_models  # no hindsight in the scores
    starts = sorted(set(df.period_start))
    assert str(starts[0]) == "2023-11-06" and str(starts[-1]) == "2023-12-25" and len(starts) == 8
    # Every cell, every period, every model and category exactly once.
    assert len(df) == len(expected_models) * 2 * 8 * len(ids)
    assert not df.duplicated(["model", "category", "cell_id", "period_start"]).any()
    assert set(df.cell_id.astype(str)) == set(ids)
    assert np.isfinite(df.score).all()
    # Written one (model, category) at a time, each row group holding its own scores.
    assert pq.ParquetFile(out / "scores.parquet").num_row_groups == len(expected_models) * 2
    got = df[(df.model == "sepp") & (df.category == "Mischief")].score.to_numpy()
    np.testing.assert_array_equal(got, r.result.scores[("sepp", "Mischief")].reshape(-1))


def test_metrics_and_report(run):
    r, out, _, msgs = run
    assert any(m.startswith("tuning: validation losses") for m in msgs)
    m = json.loads((out / "metrics.json").read_text())
    assert set(m["targets"]) == {"all", "Mischief"}
    assert "hindsight" in m["targets"]["all"]["models"]
    assert m["references"] == ["hindsight", "rate_oracle"]
    assert "1%" in m["targets"]["all"]["bootstrap"]
    for key, room in m["targets"]["all"]["headroom"].items():
        models = m["targets"]["all"]["models"]
        assert room["baseline"] == m["targets"]["all"]["bootstrap"][key]["baseline"]
        assert room["ceiling_pai"] == models["rate_oracle"][f"pai@{key}"]
        assert room["challenger_pai"] == models["lgbm"][f"pai@{key}"]
        assert 0 <= room["ceiling_p_value"] <= 1
        if room["ceiling_pai"] > room["baseline_pai"]:
            assert room["share_won"] == pytest.approx(
                (room["challenger_pai"] - room["baseline_pai"])
                / (room["ceiling_pai"] - room["baseline_pai"]))
    text = (out / "report.md").read_text()
    assert "hindsight (not a forecast)" in text and "rate_oracle (not a forecast)" in text
    assert "PAI rises as cells shrink" in text and "Room at PAI@1%" in text


def test_scores_use_only_past_incidents(run, tmp_path):
    r, _, ev, _ = run
    # Adding incidents after the backtest changes no score.
    extra = make_events(seed=9, n=500).assign(
        occurred_local=lambda d: pd.Timestamp("2024-01-01") + (d.occurred_local - d.occurred_local.min()))
    with pytest.warns(UserWarning):
        r2 = run_backtest(pd.concat([ev, extra]), BacktestOptions(
            start="2023-11-01", end="2023-12-31", cell_size=300, categories=["Mischief"],
            models=("naive", "sepp"), plots=False, n_boot=10), out_dir=tmp_path)
    for key in [("naive", "all"), ("sepp", "Mischief")]:
        np.testing.assert_array_equal(r.result.scores[key], r2.result.scores[key])


def test_unknown_model_named():
    with pytest.raises(ConfigError, match=re.escape("models must be names from")):
        make_models(["magic"])


def test_no_history_before_start(tmp_path):
    ev = make_events(n=200)
    with pytest.raises(DataError, match="no incident before"), pytest.warns(UserWarning):
        run_backtest(ev, BacktestOptions(start="2020-01-01", end="2020-02-01", models=("naive",)), out_dir=tmp_path)


def test_train_save_load_and_forecast(tmp_path):
    ev = make_events(seed=1)
    with pytest.warns(UserWarning):
        fc = train(ev, at="2023-12-04", cell_size=300, categories=["Theft"], lgbm_params=FAST,
                   features=FEATS)
    assert set(fc.models) == {"all", "Theft"}
    assert fc.metadata["Theft"]["training_window"][1] < "2023-12-04"
    fc2 = Forecaster.load(fc.save(tmp_path / "fc"))
    with pytest.warns(UserWarning):
        top = forecast(ev, at="2023-12-06", category="Theft", top=5, forecaster=fc2)
    assert list(top["rank"]) == [1, 2, 3, 4, 5]
    assert top.expected.is_monotonic_decreasing
    assert str(top.period_start.iloc[0]) == "2023-12-04"
    assert all(isinstance(r, str) and r for r in top.reason_text)
    # The chance of being among the 5 busiest cells: a probability, 0 where the calibrated
    # chance of any incident is 0, and never above it (being in the top needs an incident).
    assert top.top_k_chance.between(0, 1).all()
    assert (top.top_k_chance <= top.probability + 0.05).all()


def test_time_of_day_baselines_join_every_short_period_backtest(tmp_path):
    assert not [m for m in make_models(["tod"], period="week")]
    assert list(make_models(["tod"], period="shift")) == [
        "tod_13", "tod_52", "tod_104", "tod_all", "tod_weekday_52", "tod_weekday_104",
        "tod_weekday_all", "tod_blend", "tod_shrunk"]
    with pytest.raises(ConfigError, match=re.escape("'tod_13' is not a time-of-day baseline at period 'day'")):
        make_models(["tod_13"], period="day")
    with pytest.warns(UserWarning):
        r = run_backtest(make_events(), BacktestOptions(start="2023-12-01", end="2023-12-03", period="shift",
                                                        cell_size=300, models=("naive", "tod"), plots=False,
                                                        n_boot=10), out_dir=tmp_path)
    models = set(r.result.models)
    assert {"tod_52", "tod_blend", "tod_weekday_all"} <= models
    assert np.isfinite(r.result.scores[("tod_blend", "all")]).all()
    assert "tod_blend" in (tmp_path / "report.md").read_text()


def test_guard_panel_discounts_patrolled_cell_periods_exactly():
    from forecasting.features import build_panel
    from forecasting.grid import build_grid
    from forecasting.periods import Periods
    from forecasting.workflows import guard_panel

    ev = make_events(seed=2, n=600)
    ev = ev.loc[ev["time_resolution"] == "minute"]
    panel = build_panel(ev, build_grid(ev.longitude, ev.latitude, cell_size=300), Periods("week"),
                        targets=["Theft"])
    raw = {t: c.copy() for t, c in panel.counts.items()}
    # The busiest cell-period and one more cell with incidents in another week are patrolled.
    c0, t0 = np.unravel_index(np.argmax(raw["all"]), raw["all"].shape)
    c1, t1 = map(int, np.argwhere((raw["all"] > 0) & (np.arange(panel.n_cells)[:, None] != c0))[0])
    mask = np.zeros((panel.n_periods, panel.n_cells), bool)
    mask[t0, c0] = mask[t1, c1] = True
    seen = {}

    def patrolled(ids, starts, length):
        seen.update(ids=ids, starts=starts, length=length)
        return mask

    guarded, info = guard_panel(panel, patrolled, uplift=4)
    assert len(seen["ids"]) == panel.n_cells and len(seen["starts"]) == panel.n_periods
    assert seen["length"] == pd.Timedelta(weeks=1)
    for t in ("all", "Theft"):
        expect = raw[t].copy()
        expect[c0, t0] /= 4
        expect[c1, t1] /= 4
        np.testing.assert_array_equal(guarded.counts[t], expect)  # others untouched
        np.testing.assert_array_equal(panel.counts[t], raw[t])  # the input panel is not modified
    assert info == {"enabled": True, "applied": True, "uplift": 4.0, "patrolled_cell_periods": 2,
                    "incidents_discounted": int(raw["all"][c0, t0] + raw["all"][c1, t1])}
    assert guarded.data_hash != panel.data_hash
    # No stored visit: nothing changes; guard off: recorded as such.
    same, info = guard_panel(panel, lambda ids, starts, length: np.zeros_like(mask))
    assert same is panel and info["enabled"] and not info["applied"] and info["incidents_discounted"] == 0
    same, info = guard_panel(panel, None)
    assert same is panel and not info["enabled"]
    with pytest.raises(DataError, match="shape"):
        guard_panel(panel, lambda ids, starts, length: mask[:, :1])
    with pytest.raises(ConfigError, match="patrol_uplift"):
        guard_panel(panel, patrolled, uplift=0.5)


def test_train_with_a_patrol_mask_records_the_guard(tmp_path):
    ev = make_events(seed=1)
    calls = []

    def patrolled(ids, starts, length):
        calls.append(starts)
        mask = np.zeros((len(starts), len(ids)), bool)
        mask[-3:] = True  # every cell patrolled in the last three weeks before the cut-off
        return mask

    with pytest.warns(UserWarning):
        fc = train(ev, at="2023-12-04", cell_size=300, lgbm_params=FAST, features=FEATS, patrolled=patrolled)
    guard = fc.metadata["all"]["patrol_guard"]
    assert guard["applied"] and guard["incidents_discounted"] > 0
    # The last column is the period being forecast: its visits are not used (no leakage).
    assert calls[0][-1] == pd.Timestamp("2023-12-04")
    assert guard["patrolled_cell_periods"] == 2 * fc.grid.n_cells
    assert Forecaster.load(fc.save(tmp_path / "fc")).metadata["all"]["patrol_guard"] == guard


def test_train_takes_the_near_repeat_windows_from_a_knox_test_of_the_training_incidents(tmp_path):
    from forecasting.features import build_panel

    from .test_analysis import _repeat_events

    ev = _repeat_events()
    at = pd.Timestamp("2025-01-06")
    kw = dict(at=at, cell_size=150, lgbm_params=FAST, features=FEATS)
    fc = train(ev, near_repeat_days=400, near_repeat_permutations=199, **kw)
    m = fc.models["all"]
    a = m.metadata["analysis"]
    assert a["enabled"] and (a["near_repeat"]["window"]["distance_m"], a["near_repeat"]["window"]["days"]) == (150, 7)
    assert a["feature_windows"] == {"half_lives_days": [3.5], "near_repeat_ring": 1, "chosen_from": "knox"}
    assert m.metadata["features"]["half_lives_days"] == [3.5] and "nr3_3.5d" in m.feature_names_
    assert a["hot_spots"]["cells"] == fc.grid.n_cells
    # Incidents at and after the cut-off change nothing: not the test, not the windows, not the features.
    later = _repeat_events(seed=4).assign(occurred_local=lambda e: e.occurred_local + pd.Timedelta(days=375))
    fc2 = train(pd.concat([ev, later]), near_repeat_days=400, near_repeat_permutations=199, **kw)
    a2 = fc2.models["all"].metadata["analysis"]
    assert {k: v for k, v in a2.items() if k != "seconds"} == {k: v for k, v in a.items() if k != "seconds"}
    assert fc2.models["all"].feature_names_ == m.feature_names_
    # Off (the default): the builder's own windows, and the metadata says the step was off.
    off = train(ev, **kw).models["all"]
    assert off.metadata["analysis"] == {"enabled": False} and "nr3_14d" in off.feature_names_
    # Shuffled times: no window, so the builder's own windows, recorded as defaults.
    shuffled = train(_repeat_events(shuffle=True), near_repeat_days=400, near_repeat_permutations=199, **kw)
    sa = shuffled.models["all"].metadata["analysis"]
    assert sa["near_repeat"]["window"] is None and sa["feature_windows"]["chosen_from"] == "defaults"
    assert shuffled.models["all"].feature_names_ == off.feature_names_
    # The reasons cite the finding after the first near-repeat intensity within the window, once per cell.
    loaded = Forecaster.load(fc.save(tmp_path / "fc")).models["all"]
    hist = ev[ev.occurred_local < at]
    panel = build_panel(hist, fc.grid, fc.periods, start=hist.occurred_local.min(), end=at)
    ex = loaded.explain(panel, panel.column(at), top=len(loaded.feature_names_))
    sentence = a["near_repeat"]["sentence"]
    assert sentence.startswith("incidents here repeat within 150 m and 7 days")
    cited = 0
    for reasons in ex["reasons"]:
        short = [r for r in reasons if re.match(r"recent incidents .*half-life 3\.5 days\)", r)]
        assert sum(r.endswith(f" — {sentence}") for r in reasons) == (1 if short else 0)
        if short:
            assert short[0].endswith(f" — {sentence}")
            cited += 1
    assert cited > 0
