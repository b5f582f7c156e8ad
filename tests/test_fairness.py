"""Fairness figures: known answers for shares, Gini/HHI, persistence, the disparity flag and escaping."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from forecasting import fairness as fa
from forecasting.errors import ConfigError, DataError


def test_flag_top_takes_the_share_and_at_least_one_cell():
    s = np.array([[5.0, 1, 3, 2, 4, 0, 0, 0, 0, 0]])
    assert np.flatnonzero(fa.flag_top(s, 0.2)[0]).tolist() == [0, 4]
    assert fa.flag_top(s, 0.01).sum() == 1
    with pytest.raises(ConfigError, match=re.escape("share must be in (0, 1]; got 0")):
        fa.flag_top(s, 0)


def test_area_table_known_answer_with_population_visits_and_cameras():
    # Two periods, four cells; areas: cells 0-1 -> A, 2 -> B, 3 outside.
    flagged = np.array([[1, 1, 0, 0], [1, 0, 1, 0]], bool)
    incidents = np.array([[1, 0, 2, 5], [0, 1, 0, 0]])
    visits = np.array([[2, 0, 0, 0], [1, 0, 1, 0]])
    t = fa.area_table(["A", "B"], flagged=flagged, incidents=incidents, area_idx=np.array([0, 0, 1, -1]),
                      population=np.array([100.0, 300.0]), visits=visits, threshold=0.1)
    r = t.set_index("area")
    assert r.loc["A", "flagged_share"] == pytest.approx(3 / 4) and r.loc["A", "incident_share"] == pytest.approx(2 / 4)
    assert r.loc["A", "visit_share"] == pytest.approx(3 / 4) and r.loc["A", "population_share"] == 0.25
    assert r.loc["A", "excess"] == pytest.approx(0.25) and bool(r.loc["A", "over_attended"])
    assert r.loc["B", "excess"] == pytest.approx(-0.25) and not bool(r.loc["B", "over_attended"])


def test_threshold_is_exclusive_and_checked():
    t = fa.area_table(["A", "B"], flagged=np.array([[1, 0]], bool), incidents=np.array([[19, 1]]),
                      area_idx=np.array([0, 1]), threshold=0.05)
    assert t["excess"].round(6).tolist() == [0.05, -0.05] and not t["over_attended"].any()
    with pytest.raises(ConfigError, match=re.escape("threshold must be a share in [0, 1); got 1.5")):
        fa.area_table(["A"], flagged=np.ones((1, 1), bool), incidents=np.ones((1, 1)), area_idx=[0], threshold=1.5)


def test_gini_hhi_and_concentration_over_time():
    assert fa.gini(np.array([[1, 1, 1, 1.0]]))[0] == pytest.approx(0)
    assert fa.gini(np.array([[0, 0, 0, 1.0]]))[0] == pytest.approx(0.75)
    assert fa.hhi(np.array([[1, 1, 1, 1.0]]))[0] == pytest.approx(0.25)
    # Period 0 spreads flags over both areas, period 1 puts them all in area 0.
    flagged = np.array([[1, 0, 1, 0], [1, 1, 0, 0]], bool)
    c = fa.concentration(flagged, np.array([0, 0, 1, 1]), 2)
    assert c["gini"].tolist() == pytest.approx([0.0, 0.5]) and c["hhi"].tolist() == pytest.approx([0.5, 1.0])


def test_persistence_known_answer_and_short_series():
    f = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 0, 1, 1]], bool)
    assert fa.persistence(f, lags=[1, 2]) == {1: pytest.approx(0.5), 2: pytest.approx(0.0)}
    assert np.isnan(fa.persistence(f, lags=[3])[3])


def test_area_totals_match_a_loop_on_random_input():
    rng = np.random.default_rng(3)
    w = rng.poisson(2, (7, 50))
    idx = rng.integers(-1, 5, 50)
    got = fa.area_totals(w, idx, 5)
    want = np.array([[w[t, idx == a].sum() for a in range(5)] for t in range(7)])
    assert np.array_equal(got, want)
    with pytest.raises(DataError, match=re.escape("area_idx must have one entry per cell (50); got shape (3,)")):
        fa.area_totals(w, idx[:3], 5)


def test_assign_areas_uses_centroids_and_marks_outside():
    areas = gpd.GeoDataFrame({"name": ["West", "East"]}, geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)],
                             crs="EPSG:4326")
    idx, names = fa.assign_areas(np.array([0.5, 1.5, 5.0]), np.array([0.5, 0.5, 0.5]), "EPSG:4326", areas)
    assert idx.tolist() == [0, 1, -1] and names == ["West", "East"]


def test_summary_is_json_ready_and_names_over_attended_areas():
    rng = np.random.default_rng(0)
    incidents = rng.poisson(1.0, (10, 40))
    scores = np.tile(np.r_[np.ones(20) * 5, np.zeros(20)], (10, 1)) + rng.uniform(0, 0.1, (10, 40))
    idx = np.r_[np.zeros(20, int), np.ones(20, int)]
    out = fa.fairness_summary(scores, incidents, area_idx=idx, area_names=["North", "South"])
    json.dumps(out)
    e = out["by_share"]["5%"]
    # North holds every flagged cell but half the incidents; jittered ties re-draw the top cells.
    assert e["over_attended"] == ["North"] and e["persistence"]["1"] < 0.5
    steady = fa.fairness_summary(np.tile(np.arange(40.0), (10, 1)), incidents, area_idx=idx,
                                 area_names=["North", "South"])
    assert steady["by_share"]["5%"]["persistence"] == {"1": 1.0, "4": 1.0}
    assert steady["by_share"]["5%"]["over_attended"] == ["South"]
    assert out["n_areas"] == 2 and set(out["by_share"]) == {"1%", "5%"}


def test_markdown_escapes_hostile_area_names():
    hostile = "**Evil** | [click](javascript:alert(1))\n# heading <img src=x>"
    fair = fa.fairness_summary(np.array([[1.0, 0.0]] * 3), np.ones((3, 2)), area_idx=np.array([0, 1]),
                               area_names=[hostile, "Plain"])
    md = fa.fairness_markdown(fair)
    row = next(line for line in md.splitlines() if "Evil" in line and line.startswith("|"))
    assert not re.search(r"(?<!\\)<img|(?<!\\)\]\(|^#", md.split("\n", 1)[1], flags=re.M)
    assert len(re.findall(r"(?<!\\)\|", row)) == 5  # only the table's own column separators


def test_backtest_fairness_in_metrics_and_report(tmp_path):
    from forecasting.workflows import BacktestOptions, run_backtest

    from .test_workflows import FAST, FEATS, make_events

    ev = make_events(n=2000).assign(time_resolution="minute")
    areas = gpd.GeoDataFrame({"name": ["West", "East"]}, geometry=[box(-123.2, 49.2, -123.085, 49.3),
                                                                   box(-123.085, 49.2, -123.0, 49.3)],
                             crs="EPSG:4326")
    run = run_backtest(ev, BacktestOptions(start="2023-11-01", end="2023-12-31", cell_size=300,
                                           models=("lgbm", "naive"), lgbm_params=FAST, features=FEATS, n_boot=20,
                                           plots=False, areas=areas), out_dir=tmp_path)
    fair = json.loads((tmp_path / "metrics.json").read_text())["fairness"]
    assert fair["model"] == "lgbm" and fair["n_areas"] == 2 and set(fair["by_model"]) == {"lgbm", "naive"}
    shares = pd.DataFrame(fair["by_share"]["5%"]["areas"])
    assert shares["flagged_share"].sum() == pytest.approx(1) and set(shares["area"]) == {"West", "East"}
    assert "## Fairness of attention" in (tmp_path / "report.md").read_text()
    assert run.summary["fairness"] == fair
