"""Known answers for the pieces of the Chicago camera-choice benchmark (scoring, optimum, rules)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
bench = pytest.importorskip("bench_camera_choice_chicago")


def _scorer() -> bench.Scorer:
    # 3 shifts, 3 stations. Shift 0: assault 0 seen by stations 0 and 1, assault 1 by station 2;
    # shift 1: assaults 2, 3, 4 seen by station 0, 1, 2 respectively; shift 2: none in view.
    pairs = pd.DataFrame({"shift": [0, 0, 0, 1, 1, 1], "ev": [0, 0, 1, 2, 3, 4], "st": [0, 1, 2, 0, 1, 2]})
    per = np.zeros((3, 3))
    np.add.at(per, (pairs["shift"], pairs["st"]), 1.0)
    return bench.Scorer(pairs["shift"].to_numpy(), pairs["ev"].to_numpy(), pairs["st"].to_numpy(),
                        np.array([4.0, 5.0, 2.0]), per)


def test_seen_counts_each_assault_once_in_the_union_of_chosen_views():
    sc = _scorer()
    cols = np.array([0, 1, 2])
    chosen = np.array([[0, 1], [0, 1], [0, 1]])  # stations 0 and 1 both see assault 0: counted once
    assert sc.seen(cols, chosen).tolist() == [1.0, 2.0, 0.0]
    assert sc.seen(cols[1:], chosen[1:]).tolist() == [2.0, 0.0]


def test_optimum_is_exact_including_the_integer_program():
    sc = _scorer()
    cols = np.array([0, 1, 2])
    assert sc.optimum(cols, 2).tolist() == [2.0, 2.0, 0.0]  # shift 1: 3 assaults, 3 stations, k = 2
    assert sc.optimum(cols, 1).tolist() == [1.0, 1.0, 0.0]
    assert sc.optimum(cols, 3).tolist() == [2.0, 3.0, 0.0]


def test_top_k_breaks_ties_by_station_order_and_same_shift_uses_only_that_shift():
    assert bench.top_k(np.array([[1.0, 3.0, 3.0, 0.0]]), 2).tolist() == [[1, 2]]
    from forecasting.periods import Periods

    periods = Periods("shift")
    per = np.zeros((9, 2))
    per[0, 0] = per[3, 0] = 1.0  # station 0: twice in shift 0 of the day
    per[1, 1] = per[4, 1] = per[5, 1] = 1.0  # station 1: in other shifts
    sc = bench.Scorer(np.zeros(0, int), np.zeros(0, int), np.zeros(0, int), np.ones(9), per)
    same = bench.rule_scores("same_shift", np.array([6]), sc, periods, 0, None, None)
    past = bench.rule_scores("past_year", np.array([6]), sc, periods, 0, None, None)
    assert same.tolist() == [[2.0, 0.0]] and past.tolist() == [[2.0, 3.0]]


def test_make_model_takes_the_core_shift_estimators_and_names_a_bad_model():
    from forecasting.baselines import HistoricalCounts, TimeOfDayBlend, TimeOfDayCounts, TimeOfDayShrunk
    from forecasting.errors import ConfigError
    from forecasting.model import LGBMRiskModel

    assert isinstance(bench.make_model("historical", 728), HistoricalCounts)
    tod = bench.make_model("tod_104", None)
    assert isinstance(tod, TimeOfDayCounts) and tod.window_days == 728 and not tod.weekday
    assert isinstance(bench.make_model("tod_blend", None), TimeOfDayBlend)
    shrunk = bench.make_model("tod_shrunk", 728, 10.0)
    assert isinstance(shrunk, TimeOfDayShrunk) and (shrunk.window_days, shrunk.alpha) == (728, 10.0)
    assert bench.make_model("tod_shrunk", 364).alpha is None  # fitted at each refit
    lgbm = bench.make_model("lgbm", None)
    assert isinstance(lgbm, LGBMRiskModel) and lgbm.n_jobs == 1
    with pytest.raises(ConfigError, match="--model.*'forest'"):
        bench.make_model("forest", None)


def test_alphas_are_numbers_or_eb():
    import argparse

    assert bench._alpha("eb") == "eb" and bench._alpha("10") == 10.0
    with pytest.raises(argparse.ArgumentTypeError, match="non-negative number or 'eb'; got 'none'"):
        bench._alpha("none")
