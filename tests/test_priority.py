"""Tests of forecasting.priority: coverage, greedy camera choice, gaps and siting."""

from __future__ import annotations

import itertools
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse
from shapely.geometry import Point, box

from forecasting import priority as pr
from forecasting.errors import ConfigError, CRSError, InputError

CRS = "EPSG:32610"


def _row_cells(n: int, size: float = 100.0) -> gpd.GeoDataFrame:
    """``n`` square cells in a row: c0 at x in [0, size), c1 next ..."""
    return gpd.GeoDataFrame({"cell_id": [f"c{i}" for i in range(n)]},
                            geometry=[box(i * size, 0, (i + 1) * size, size) for i in range(n)], crs=CRS)


def _views(spans: dict[str, tuple[float, float]], crs: str = CRS) -> gpd.GeoDataFrame:
    """Camera views as boxes spanning x in [x0, x1] over the row of cells."""
    return gpd.GeoDataFrame({"camera_id": list(spans)},
                            geometry=[box(x0, 10, x1, 90) for x0, x1 in spans.values()], crs=crs)


def _cov(sets: dict[str, list[int]], n: int) -> pr.Coverage:
    m = np.zeros((len(sets), n))
    for i, cells in enumerate(sets.values()):
        m[i, cells] = 1.0
    return pr.Coverage(sparse.csr_array(m), np.array(list(sets), dtype=object),
                       np.array([f"c{i}" for i in range(n)], dtype=object))


# ------------------------------------------------------------------------------ coverage
def test_coverage_centroid_rule_counts_only_cells_whose_centre_is_seen():
    cells = _row_cells(4)
    # cam1 sees c0's centre (50) and c1's (150); cam2 overlaps c2 but misses its centre (250).
    views = _views({"cam1": (20, 160), "cam2": (205, 240), "cam3": (240, 400)})
    cov = pr.coverage_matrix(cells, views)
    assert cov.matrix.toarray().tolist() == [[1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 1, 1]]
    assert cov.set_ids.tolist() == ["cam1", "cam2", "cam3"]
    assert cov.cell_ids.tolist() == ["c0", "c1", "c2", "c3"]


def test_coverage_intersects_rule_ignores_touching_edges():
    cells = _row_cells(4)
    views = _views({"cam1": (20, 160), "cam2": (205, 240), "edge": (300, 300.0)})
    views.loc[2, "geometry"] = box(200, 10, 300, 90)  # shares edges with c1 and c3, interior only with c2
    cov = pr.coverage_matrix(cells, views, rule="intersects")
    assert cov.matrix.toarray().tolist() == [[1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 0]]


def test_coverage_errors_name_parameter_and_values():
    cells = _row_cells(2)
    with pytest.raises(ConfigError, match=re.escape(
            "rule must be one of ['area', 'centroid', 'intersects']; got 'union'")):
        pr.coverage_matrix(cells, _views({"a": (0, 50)}), rule="union")
    with pytest.raises(CRSError, match="same CRS; got cells EPSG:32610 and views EPSG:4326"):
        pr.coverage_matrix(cells, _views({"a": (0, 50)}, crs="EPSG:4326"))
    with pytest.raises(InputError, match=re.escape("views frame is missing column(s) ['camera_id']")):
        pr.coverage_matrix(cells, gpd.GeoDataFrame({"id": ["a"]}, geometry=[box(0, 0, 1, 1)], crs=CRS))


def _boxes(spans: dict[str, tuple[float, float, float, float]]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"camera_id": list(spans)}, geometry=[box(*b) for b in spans.values()], crs=CRS)


def test_area_coverage_counts_the_seen_part_of_each_cell_and_overlaps_once():
    # Cells 100 x 100: c0 [0,100), c1 [100,200), c2 [200,300); risk 2, 4, 1.
    # A sees the right half of c0 and the left half of c1; B the lower half of c1 (a quarter of c1
    # overlaps A); C the right half of c2.
    cells = _row_cells(3)
    views = _boxes({"A": (50, 0, 150, 100), "B": (100, 0, 200, 50), "C": (250, 0, 300, 100)})
    cov = pr.coverage_matrix(cells, views, rule="area")
    assert cov.by_area and cov.n_cells == 3 and cov.matrix.shape == (3, 5)  # atoms: c0|A, c1|A, A&B, B, c2|C
    np.testing.assert_allclose(np.sort(cov.atom_share), [0.25, 0.25, 0.25, 0.5, 0.5])
    np.testing.assert_allclose(cov.covered_share(), [0.5, 0.75, 0.5])
    np.testing.assert_allclose(cov.covered_share(["B"]), [0.0, 0.5, 0.0])
    risk = pd.Series({"c0": 2.0, "c1": 4.0, "c2": 1.0})
    own = pr.camera_risk(cov, risk)
    np.testing.assert_allclose(own["risk"], [3.0, 2.0, 0.5])  # 2 x 0.5 + 4 x 0.5; 4 x 0.5; 1 x 0.5
    assert own["n_cells"].tolist() == [2, 1, 1]
    choice = pr.choose_cameras(cov, risk, k=3)
    # B adds only the quarter of c1 that A does not see: 4 x 0.25 = 1.0 > C's 0.5.
    assert choice["camera_id"].tolist() == ["A", "B", "C"]
    np.testing.assert_allclose(choice["marginal_risk"], [3.0, 1.0, 0.5])
    np.testing.assert_allclose(choice["overlap_risk"], [0.0, 1.0, 0.0])
    assert choice["new_cell_ids"].tolist() == [["c0", "c1"], ["c1"], ["c2"]]
    ex = pr.explain_choice(choice, cov, risk)
    assert ex["explanation"].iloc[1] == ("#2 B: 2.00 expected incidents in view, 1.00 not seen by higher-ranked "
                                         "cameras. Main cells: c1 (2.00).")


def test_area_coverage_three_overlapping_views_in_one_cell():
    # One cell of risk 10; P = left 60 %, Q = right 60 % (20 % overlap), R = the bottom 30 % strip.
    cells = _row_cells(1)
    views = _boxes({"P": (0, 0, 60, 100), "Q": (40, 0, 100, 100), "R": (0, 0, 100, 30)})
    cov = pr.coverage_matrix(cells, views, rule="area")
    assert cov.matrix.shape[1] == 6  # the overlay of three views cuts the cell into six atoms
    np.testing.assert_allclose(cov.atom_share.sum(), 1.0)
    choice = pr.choose_cameras(cov, pd.Series({"c0": 10.0}), k=3)
    # P = 6 (tie with Q: the earlier); Q adds 40 % = 4; R's strip under P or Q is all seen by then.
    # Before Q, R would add only its part right of P: 40 x 30 = 12 % = 1.2 < 4.
    assert choice["camera_id"].tolist() == ["P", "Q", "R"]
    np.testing.assert_allclose(choice["marginal_risk"], [6.0, 4.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(choice["standalone_risk"], [6.0, 6.0, 3.0])
    assert choice.attrs["upper_bound"] == pytest.approx(10.0)


def test_area_greedy_value_is_the_risk_of_the_union_of_chosen_views():
    """Against shapely directly: covered risk = sum over cells of risk x area(union of views in cell) / area."""
    rng = np.random.default_rng(5)
    side = 6
    cells = gpd.GeoDataFrame({"cell_id": [f"c{i}" for i in range(side * side)]},
                             geometry=[box(c * 100, r * 100, c * 100 + 100, r * 100 + 100)
                                       for r in range(side) for c in range(side)], crs=CRS)
    centres = rng.uniform(50, 550, size=(12, 2))
    views = gpd.GeoDataFrame({"camera_id": [f"v{i}" for i in range(12)]},
                             geometry=[Point(x, y).buffer(r) for (x, y), r in zip(centres, rng.uniform(40, 160, 12),
                                                                                   strict=True)], crs=CRS)
    risk = pd.Series(rng.gamma(1.0, 1.0, side * side), index=cells["cell_id"])
    cov = pr.coverage_matrix(cells, views, rule="area")
    choice = pr.choose_cameras(cov, risk, k=5)
    for i in range(1, 6):
        union = views.set_index("camera_id").loc[choice["camera_id"].iloc[:i], "geometry"].union_all()
        seen = cells.geometry.intersection(union).area.to_numpy() / 1e4
        assert choice["cumulative_risk"].iloc[i - 1] == pytest.approx(float((risk.to_numpy() * seen).sum()), rel=1e-9)


def test_site_views_draw_the_documented_radius_only_where_a_view_is_missing():
    sites = gpd.GeoDataFrame({"camera_id": ["a", "b"], "longitude": [-87.63, -87.62], "latitude": [41.88, 41.88]},
                             geometry=[None, box(-87.621, 41.879, -87.619, 41.881)], crs="EPSG:4326")
    v = pr.site_views(sites)
    assert v["view_assumed"].tolist() == [True, False]
    area = v.to_crs("EPSG:26916").area.to_numpy()
    assert area[0] == pytest.approx(np.pi * pr.VIEW_RADIUS_M ** 2, rel=0.01)  # a 32-gon of radius 150 m
    assert v.geometry.iloc[1].equals(sites.geometry.iloc[1])
    with pytest.raises(ConfigError, match="radius_m must be a positive number of metres"):
        pr.site_views(sites, radius_m=0)


# ------------------------------------------------------------------------------ priority
def test_choose_cameras_does_not_count_overlapping_views_twice():
    # c0=3, c1=2, c2=2, c3=1. A={c0,c1}=5, B={c1,c2}=4, C={c2,c3}=3.
    # The two best cameras on their own (A, B) see 7 because c1 is counted once; greedy picks A then C = 8.
    cov = _cov({"A": [0, 1], "B": [1, 2], "C": [2, 3]}, 4)
    risk = pd.Series({"c0": 3.0, "c1": 2.0, "c2": 2.0, "c3": 1.0})
    choice = pr.choose_cameras(cov, risk, k=2)
    assert choice["camera_id"].tolist() == ["A", "C"]
    assert choice["marginal_risk"].tolist() == [5.0, 3.0]
    assert choice["cumulative_risk"].tolist() == [5.0, 8.0]
    assert choice["cumulative_share"].iloc[-1] == pytest.approx(1.0)
    assert choice["new_cell_ids"].tolist() == [["c0", "c1"], ["c2", "c3"]]
    assert choice.attrs["total_risk"] == 8.0
    assert choice.attrs["upper_bound"] >= 8.0 - 1e-12
    # With k=3 the third camera adds nothing new: its whole view is overlap.
    third = pr.choose_cameras(cov, risk, k=3).iloc[2]
    assert (third["camera_id"], third["marginal_risk"], third["overlap_risk"]) == ("B", 0.0, 4.0)


def test_choose_cameras_from_views_end_to_end_with_overlap():
    cells = _row_cells(5)
    views = _views({"wide": (0, 300), "left": (0, 200), "right": (300, 500), "mid": (200, 400)})
    cov = pr.coverage_matrix(cells, views)
    risk = pd.Series([1.0, 1.0, 1.0, 0.5, 0.5], index=[f"c{i}" for i in range(5)])
    choice = pr.choose_cameras(cov, risk, 2)
    assert choice["camera_id"].tolist() == ["wide", "right"]
    assert choice["marginal_risk"].sum() == pytest.approx(4.0)


def test_choose_cameras_ties_go_to_larger_view_then_first_listed():
    # A and C tie on everything: A (listed first) wins. Then B and C both add nothing new;
    # C, which sees more on its own, is the better backup feed.
    cov = _cov({"A": [0, 1], "B": [0], "C": [0, 1]}, 2)
    choice = pr.choose_cameras(cov, np.array([1.0, 1.0]), 2)
    assert choice["camera_id"].tolist() == ["A", "C"]
    assert choice["marginal_risk"].tolist() == [2.0, 0.0]


def test_choose_cameras_caps_k_at_number_of_cameras_and_validates():
    cov = _cov({"A": [0], "B": [1]}, 2)
    assert len(pr.choose_cameras(cov, np.array([1.0, 2.0]), 10)) == 2
    with pytest.raises(ConfigError, match=re.escape("k must be a positive integer; got 0")):
        pr.choose_cameras(cov, np.array([1.0, 2.0]), 0)
    with pytest.raises(ConfigError, match=re.escape("k must be a positive integer; got 1.5")):
        pr.choose_cameras(cov, np.array([1.0, 2.0]), 1.5)
    with pytest.raises(InputError, match=re.escape("risk must be finite and non-negative; got -1.0 at cell 'c1'")):
        pr.choose_cameras(cov, np.array([1.0, -1.0]), 1)
    with pytest.raises(InputError, match=re.escape("risk must have one value per cell (2); got shape (3,)")):
        pr.choose_cameras(cov, np.array([1.0, 1.0, 1.0]), 1)


def test_risk_series_missing_cells_count_as_zero():
    cov = _cov({"A": [0], "B": [1]}, 2)
    choice = pr.choose_cameras(cov, pd.Series({"c1": 0.4, "elsewhere": 9.0}), 1)
    assert choice["camera_id"].tolist() == ["B"] and choice["cumulative_share"].iloc[0] == pytest.approx(1.0)


def test_explanations_name_top_new_cells_and_their_reasons():
    cov = _cov({"A": [0, 1, 2], "B": [2, 3]}, 4)
    risk = pd.Series({"c0": 0.5, "c1": 0.1, "c2": 0.3, "c3": 0.2})
    reasons = pd.Series({"c0": ["4 incidents in the last 4 weeks"], "c3": ["bars close at 02:00"]})
    ex = pr.explain_choice(pr.choose_cameras(cov, risk, 2), cov, risk, reasons, top=2)
    assert ex["explanation"].iloc[0] == ("#1 A: 0.90 expected incidents in view, all new. Main cells: "
                                         "c0 (0.50; 4 incidents in the last 4 weeks), c2 (0.30).")
    assert ex["explanation"].iloc[1] == ("#2 B: 0.50 expected incidents in view, 0.20 not seen by higher-ranked "
                                         "cameras. Main cells: c3 (0.20; bars close at 02:00).")
    assert [c["cell_id"] for c in ex["top_cells"].iloc[0]] == ["c0", "c2"]


def test_cell_risk_weights_categories_and_the_unforecast_remainder():
    f = pd.DataFrame({
        "cell_id": ["a", "a", "a", "b", "b", "b"],
        "category": ["all", "violent", "theft"] * 2,
        "expected_count": [1.0, 0.2, 0.5, 0.3, 0.1, 0.3],
    })
    out = pr.cell_risk(f, {"violent": 3.0, "all": 0.5})
    # a: 3*0.2 + 1*0.5 + 0.5*(1.0-0.7) = 1.25; b: 3*0.1 + 0.3 + 0.5*max(0.3-0.4, 0) = 0.6
    assert out["risk"].round(9).to_dict() == {"a": 1.25, "b": 0.6}
    assert out.loc["a", "violent"] == 0.2
    only_all = pr.cell_risk(f.loc[f["category"] == "all"])
    assert only_all["risk"].tolist() == [1.0, 0.3]
    with pytest.raises(ConfigError, match=re.escape("severity weight of 'violent' must be a non-negative number; "
                                                    "got -2")):
        pr.cell_risk(f, {"violent": -2})


def test_camera_risk_sums_each_category_inside_each_view():
    cov = _cov({"A": [0, 1], "B": [1]}, 2)
    f = pd.DataFrame({"cell_id": ["c0", "c0", "c1", "c1"], "category": ["violent", "theft"] * 2,
                      "expected_count": [0.1, 0.2, 0.3, 0.4]})
    out = pr.camera_risk(cov, pr.cell_risk(f, {"violent": 2.0}))
    assert out["n_cells"].tolist() == [2, 1]
    assert out["violent"].round(9).tolist() == [0.4, 0.3]
    assert out["risk"].round(9).tolist() == [2 * 0.4 + 0.6, 2 * 0.3 + 0.4]


def _best(matrix: np.ndarray, w: np.ndarray, k: int) -> float:
    n = matrix.shape[0]
    return max(float(w[matrix[list(s)].max(axis=0) > 0].sum()) for s in itertools.combinations(range(n), min(k, n)))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 4))
def test_greedy_reaches_the_bound_and_the_upper_bound_holds(seed, k):
    rng = np.random.default_rng(seed)
    n_sets, n_cells = int(rng.integers(2, 7)), int(rng.integers(3, 10))
    m = (rng.random((n_sets, n_cells)) < 0.4).astype(float)
    w = rng.gamma(1.0, 1.0, n_cells)
    cov = pr.Coverage(sparse.csr_array(m), np.array([f"s{i}" for i in range(n_sets)], dtype=object),
                      np.array([f"c{i}" for i in range(n_cells)], dtype=object))
    choice = pr.choose_cameras(cov, w, k)
    opt = _best(m, w, k)
    got = float(choice["marginal_risk"].sum())
    assert got >= pr.GREEDY_BOUND * opt - 1e-9
    assert choice.attrs["upper_bound"] >= opt - 1e-9
    # Marginal gains of greedy never increase (submodularity).
    assert np.all(np.diff(choice["marginal_risk"].to_numpy()) <= 1e-12)


# ------------------------------------------------------------------------- gaps and siting
def test_coverage_gaps_lists_unseen_top_cells():
    cov = _cov({"A": [0, 2]}, 5)
    risk = pd.Series({"c0": 5.0, "c1": 4.0, "c2": 3.0, "c3": 2.0, "c4": 0.0})
    gaps = pr.coverage_gaps(cov, risk, top=4, reasons=pd.Series({"c1": ["near a station"]}))
    assert gaps["cell_id"].tolist() == ["c1", "c3"]
    assert gaps["risk_rank"].tolist() == [2, 4]
    assert gaps["reasons"].tolist() == [["near a station"], []]
    assert gaps.attrs["unseen_share"] == pytest.approx(6.0 / 14.0)


def _clusters() -> tuple[gpd.GeoDataFrame, pd.Series]:
    """Cells of 100 m on a 10 x 3 raster; two risky clusters 600 m apart, and noise."""
    cells, ids = [], []
    for r in range(3):
        for c in range(10):
            cells.append(box(c * 100, r * 100, (c + 1) * 100, (r + 1) * 100))
            ids.append(f"{c}_{r}")
    g = gpd.GeoDataFrame({"cell_id": ids}, geometry=cells, crs=CRS)
    risk = pd.Series(0.01, index=ids)
    for c, r in [(1, 1), (2, 1), (1, 0)]:
        risk[f"{c}_{r}"] = 1.0
    for c, r in [(8, 1), (8, 2)]:
        risk[f"{c}_{r}"] = 0.8
    return g, risk


def test_siting_matches_the_brute_force_optimum():
    cells, risk = _clusters()
    s = pr.site_cameras(cells, risk, budget=2, radius_m=110)
    cand, _, _ = pr.candidate_coverage(cells, 110)
    m = cand.matrix.toarray()
    w = risk.reindex(cand.cell_ids).to_numpy()
    opt = _best(m, w, 2)
    assert s.sites["added_risk"].sum() == pytest.approx(opt)
    # The optimum covers both clusters entirely: 3 + 1.6 plus the noise cells around them.
    assert s.sites["site_id"].tolist() == ["1_1", "8_1"]
    assert set(s.sites["new_cell_ids"].iloc[0]) >= {"1_1", "2_1", "1_0"}
    assert s.upper_bound >= opt - 1e-9 and 1.0 >= s.guarantee >= pr.GREEDY_BOUND
    assert s.sites.crs.to_epsg() == 4326
    # The suggested view is a circle of the radius around the candidate cell's centre.
    area = s.sites.to_crs(CRS).geometry.area.iloc[0]
    assert area == pytest.approx(np.pi * 110**2, rel=0.01)


def test_siting_skips_risk_that_existing_cameras_already_see():
    cells, risk = _clusters()
    views = gpd.GeoDataFrame({"camera_id": ["old"]}, geometry=[box(0, 0, 300, 300)], crs=CRS)
    existing = pr.coverage_matrix(cells, views)
    s = pr.site_cameras(cells, risk, budget=1, radius_m=110, existing=existing)
    assert s.sites["site_id"].tolist() in (["8_1"], ["8_2"])
    assert s.unseen_risk == pytest.approx(risk.sum() - risk[[f"{c}_{r}" for c in range(3) for r in range(3)]].sum())


def test_siting_suggests_nothing_where_nothing_is_unseen_and_validates():
    cells, _ = _clusters()
    s = pr.site_cameras(cells, pd.Series(0.0, index=cells["cell_id"]), budget=3)
    assert len(s.sites) == 0 and s.summary()["added_risk"] == 0.0
    with pytest.raises(ConfigError, match=re.escape("budget must be a positive integer; got 0")):
        pr.site_cameras(cells, pd.Series(dtype=float), budget=0)
    with pytest.raises(ConfigError, match=re.escape("radius_m must be a positive number of metres; got -5")):
        pr.site_cameras(cells, pd.Series(dtype=float), budget=1, radius_m=-5)


# ----------------------------------------------------------------------------- evaluation
def test_busiest_cameras_and_share_seen():
    act = pd.DataFrame({"camera_id": ["a", "b", "c", "a"], "people": [10, 30, 5, 25]})
    assert pr.busiest_cameras(act, 2) == ["a", "b"]
    views = gpd.GeoDataFrame({"camera_id": ["a", "b"]}, geometry=[Point(0, 0).buffer(1), Point(0.5, 0).buffer(1)],
                             crs="EPSG:4326")
    pts = pd.DataFrame({"longitude": [0.0, 0.2, 1.4, 5.0], "latitude": [0.0, 0.0, 0.0, 0.0]})
    assert pr.share_seen(pts, views, ["a"]) == (2, 4)
    assert pr.share_seen(pts, views, ["a", "b"]) == (3, 4)  # the shared point counts once
    assert pr.share_seen(pts, views, []) == (0, 4)
