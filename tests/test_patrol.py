"""Tests of forecasting.patrol: shifts, hotspot grouping, dosage and the plan."""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from forecasting import patrol as pt
from forecasting.errors import ConfigError, CRSError
from forecasting.grid import Grid
from forecasting.periods import Periods

START, END = pd.Timestamp("2024-03-04 22:00"), pd.Timestamp("2024-03-05 06:00")


def _cells(values: dict[tuple[int, int], float], n: int = 8, reasons=None) -> gpd.GeoDataFrame:
    """An n x n raster of 150 m cells in UTM 10N (Vancouver) with the given (row, col) -> expected."""
    rows, cols = np.divmod(np.arange(n * n), n)
    g = Grid(crs="EPSG:32610", cell_size=150, col=3268 + cols, row=36388 + rows)
    polys = g.polygons()
    exp = np.array([values.get((int(r), int(c)), 0.0) for r, c in zip(g.raster_row, g.raster_col, strict=True)])
    reasons = reasons or {}
    return gpd.GeoDataFrame({
        "cell_id": g.cell_ids, "row": g.row, "col": g.col, "expected_count": exp,
        "reasons": [list(reasons.get((int(r), int(c)), [])) for r, c in zip(g.raster_row, g.raster_col,
                                                                              strict=True)],
    }, geometry=polys.geometry.values, crs="EPSG:4326")


# ------------------------------------------------------------------------------- shifts
def test_parse_shift_default_and_custom_shifts():
    p = Periods("shift")
    assert str(p.start([pt.parse_shift("2024-03-04/0", p)])[0]) == "2024-03-04 06:00:00"
    assert str(p.start([pt.parse_shift("2024-03-04/2", p)])[0]) == "2024-03-04 22:00:00"
    q = Periods("shift", shift_start=7, shift_hours=12)
    assert str(q.start([pt.parse_shift("2024-03-04/1", q)])[0]) == "2024-03-04 19:00:00"


def test_parse_shift_errors():
    with pytest.raises(ConfigError, match=re.escape("shift must look like DATE/SHIFT, e.g. 2024-03-04/2; got "
                                                    "'2024-03-04'")):
        pt.parse_shift("2024-03-04")
    with pytest.raises(ConfigError, match=re.escape("shift number must be in 0..2 (3 shifts of 8 h a day); got 3")):
        pt.parse_shift("2024-03-04/3")
    with pytest.raises(ConfigError, match="shift date must be a calendar date"):
        pt.parse_shift("2024-13-40/1")


@settings(max_examples=50, deadline=None)
@given(st.integers(50_000, 70_000), st.sampled_from([(6, 8), (7, 12), (0, 24), (22, 8)]))
def test_shift_label_round_trips(index, shape):
    p = Periods("shift", shift_start=shape[0], shift_hours=shape[1])
    assert pt.parse_shift(pt.shift_label(index, p), p) == index


# ------------------------------------------------------------------------------ hotspots
def test_group_hotspots_known_components():
    # (0,0)-(0,1) share an edge; (1,2) touches (0,1) at a corner; (3,3) is alone; (3,5) is alone.
    c = pd.DataFrame({"row": [0, 0, 1, 3, 3], "col": [0, 1, 2, 3, 5]})
    assert pt.group_hotspots(c, 8).tolist() == [0, 0, 0, 1, 2]
    assert pt.group_hotspots(c, 4).tolist() == [0, 0, 1, 2, 3]


def test_group_hotspots_never_joins_across_areas():
    c = pd.DataFrame({"row": [0, 0, 0], "col": [0, 1, 2], "area": ["n", "n", "s"]})
    assert pt.group_hotspots(c, 8, by="area").tolist() == [0, 0, 1]
    with pytest.raises(ConfigError, match=re.escape("connectivity must be 4 or 8; got 6")):
        pt.group_hotspots(c, 6)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_group_hotspots_matches_ndimage_label(seed):
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    mask = rng.random((7, 9)) < 0.35
    rows, cols = np.nonzero(mask)
    labels = pt.group_hotspots(pd.DataFrame({"row": rows, "col": cols}), 8)
    ref, n = ndimage.label(mask, structure=np.ones((3, 3)))
    assert labels.max() + 1 == n if len(rows) else True
    # Same partition: cells share a label exactly when ndimage gives them the same one.
    r = ref[rows, cols]
    assert np.array_equal(labels[:, None] == labels[None, :], r[:, None] == r[None, :])


# -------------------------------------------------------------------------------- dosage
def test_allocate_visits_one_each_then_in_proportion():
    assert pt.allocate_visits(np.array([3.0, 1.0]), 6).tolist() == [4, 2]
    assert pt.allocate_visits(np.array([1.0, 3.0, 2.0]), 2).tolist() == [0, 1, 1]
    assert pt.allocate_visits(np.array([1.0, 1.0]), 0).tolist() == [0, 0]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.01, 10.0), min_size=1, max_size=8), st.integers(0, 40))
def test_allocate_visits_sums_exactly_and_follows_weight(weights, total):
    w = np.array(weights)
    counts = pt.allocate_visits(w, total)
    assert counts.sum() == total
    if total >= len(w):
        assert counts.min() >= 1
    order = np.argsort(-w, kind="stable")
    # A heavier hotspot never gets fewer visits than a lighter one, up to the largest-remainder step.
    assert np.all(np.diff(counts[order]) <= 1)


def test_schedule_visits_spreads_short_non_overlapping_visits():
    s = pt.schedule_visits(np.array([4, 2, 2]), START, END, 15, weights=np.array([3.0, 2.0, 1.0]))
    assert len(s) == 8
    assert (s["end"] - s["start"] == pd.Timedelta(minutes=15)).all()
    assert s["start"].min() >= START and s["end"].max() <= END
    assert (s["start"].iloc[1:].to_numpy() >= s["end"].iloc[:-1].to_numpy()).all()
    gaps = s.loc[s["hotspot"] == 0, "start"].diff().dropna()
    assert gaps.min() >= pd.Timedelta(hours=1)  # four visits in 8 h: revisits at least an hour apart


# ---------------------------------------------------------------------------------- plan
def test_plan_groups_top_cells_into_contiguous_hotspots():
    values = {(1, 1): 1.0, (1, 2): 0.9, (2, 2): 0.7,  # an L-shaped cluster
              (6, 6): 0.8,                             # alone
              (5, 0): 0.3, (6, 1): 0.2}                # touching at a corner
    cells = _cells(values, reasons={(1, 1): ["5 incidents in the last 4 weeks"], (6, 6): ["near a station"]})
    plan = pt.build_patrol_plan(cells, start=START, end=END, config=pt.PatrolConfig(top_cells=6))
    h = plan.hotspots
    assert h["hotspot_id"].tolist() == ["H01", "H02", "H03"]
    assert h["n_cells"].tolist() == [3, 1, 2]
    assert h["expected"].round(9).tolist() == [2.6, 0.8, 0.5]
    assert h["reasons"].tolist() == [["5 incidents in the last 4 weeks"], ["near a station"], []]
    first = set(h["cell_ids"].iloc[0])
    assert first == set(cells.loc[cells["expected_count"] >= 0.7, "cell_id"]) - set(h["cell_ids"].iloc[1])
    # The centroid lies in the hotspot (the L's centroid is inside it here).
    assert h.geometry.iloc[0].contains(gpd.points_from_xy([h["longitude"].iloc[0]], [h["latitude"].iloc[0]])[0])
    # 120 minutes of 15-minute visits = 8 visits, one each first then by expected incidents.
    assert h["visits"].tolist() == [4, 2, 2]  # 1 each, then 5 by largest remainder: 3.33, 1.03, 0.64
    assert h["patrol_minutes"].sum() == 120
    assert len(plan.visits) == 8 and set(plan.visits["hotspot_id"]) == set(h["hotspot_id"])
    assert plan.meta["period_start"] == "2024-03-04T22:00:00"


def test_plan_selects_top_cells_only_and_never_zero_risk():
    cells = _cells({(0, 0): 0.5, (4, 4): 0.4, (7, 7): 0.1})
    plan = pt.build_patrol_plan(cells, start=START, end=END, config=pt.PatrolConfig(top_cells=2))
    assert plan.hotspots["expected"].tolist() == [0.5, 0.4]
    empty = pt.build_patrol_plan(_cells({}), start=START, end=END)
    assert len(empty.hotspots) == 0 and len(empty.visits) == 0


def test_plan_per_patrol_area_with_its_own_budget():
    cells = _cells({(1, 1): 1.0, (1, 2): 0.5, (6, 6): 0.8, (6, 5): 0.1})
    minx, miny, maxx, maxy = cells.total_bounds
    mid = (miny + maxy) / 2
    areas = gpd.GeoDataFrame({"beat": ["north", "south"]},
                             geometry=[box(minx, mid, maxx, maxy), box(minx, miny, maxx, mid)], crs="EPSG:4326")
    cfg = pt.PatrolConfig(top_cells=1, patrol_minutes=60)
    plan = pt.build_patrol_plan(cells, start=START, end=END, config=cfg, areas=areas, area_col="beat")
    assert plan.areas == ["north", "south"]
    assert plan.hotspots["rank"].tolist() == [1, 1]
    assert plan.hotspots["expected"].tolist() == [0.8, 1.0]  # row 6 is north (larger row = larger y)
    assert plan.visits.groupby("area").size().to_dict() == {"north": 4, "south": 4}


def test_plan_labels_hotspots_with_their_most_frequent_address():
    cells = _cells({(1, 1): 1.0, (6, 6): 0.8})
    c11 = cells.loc[cells["expected_count"] == 1.0].geometry.iloc[0].centroid
    c66 = cells.loc[cells["expected_count"] == 0.8].geometry.iloc[0].centroid
    addresses = pd.DataFrame({
        "longitude": [c11.x, c11.x, c11.x, c66.x, 0.0],
        "latitude": [c11.y, c11.y, c11.y, c66.y, 0.0],
        "address": ["10XX W GEORGIA ST", "10XX W GEORGIA ST", "11XX ROBSON ST", None, "FAR AWAY"],
    })
    plan = pt.build_patrol_plan(cells, start=START, end=END, addresses=addresses)
    assert plan.hotspots["address"].tolist() == ["10XX W GEORGIA ST", None]
    assert plan.visits.loc[plan.visits["hotspot_id"] == "H01", "address"].unique().tolist() == ["10XX W GEORGIA ST"]


def test_plan_describes_places_never_persons():
    cells = _cells({(1, 1): 1.0})
    plan = pt.build_patrol_plan(cells, start=START, end=END)
    text = str(plan.to_dict()).lower()
    for word in ("incident_id", "name", "person", "offender", "victim"):
        assert word not in set(plan.hotspots.columns) | set(plan.visits.columns)
    assert "incident_id" not in text


def test_config_and_input_errors():
    with pytest.raises(ConfigError, match=re.escape("visit_minutes must be between 10 and 16 minutes (the Koper "
                                                    "curve); got 30")):
        pt.PatrolConfig(visit_minutes=30)
    with pytest.raises(ConfigError, match=re.escape("top_cells must be a positive integer; got 0")):
        pt.PatrolConfig(top_cells=0)
    with pytest.raises(ConfigError, match=re.escape("patrol_minutes must be a positive number of minutes; got -1")):
        pt.PatrolConfig(patrol_minutes=-1)
    cells = _cells({(1, 1): 1.0})
    with pytest.raises(CRSError, match="cells must be in EPSG:4326; got EPSG:32610"):
        pt.build_patrol_plan(cells.to_crs("EPSG:32610"), start=START, end=END)
    with pytest.raises(ConfigError, match="end must be after start"):
        pt.build_patrol_plan(cells, start=END, end=START)


def test_patrol_time_is_capped_by_the_shift():
    cells = _cells({(1, 1): 1.0, (4, 4): 1.0})
    cfg = pt.PatrolConfig(patrol_minutes=10_000, visit_minutes=16)
    plan = pt.build_patrol_plan(cells, start=START, end=START + pd.Timedelta(hours=2), config=cfg)
    assert len(plan.visits) == 7  # 120 // 16
    v = plan.visits.sort_values("start")
    assert (v["start"].iloc[1:].to_numpy() >= v["end"].iloc[:-1].to_numpy()).all()


def test_h3_hotspots_join_hexagons_that_share_an_edge_and_only_those():
    import h3

    from forecasting.grid import H3Grid

    centre = h3.latlng_to_cell(49.28, -123.12, 9)
    ij = h3.cell_to_local_ij(centre, centre)
    # In H3's local IJ coordinates the six neighbours are (+-1, 0), (0, +-1), (1, 1) and (-1, -1):
    # (1, 1) is a neighbour that 4-connectivity misses, (1, -1) a cell two steps away that
    # 8-connectivity joins.
    diagonal = h3.local_ij_to_cell(centre, ij[0] + 1, ij[1] + 1)
    apart = h3.local_ij_to_cell(centre, ij[0] + 1, ij[1] - 1)
    assert h3.are_neighbor_cells(centre, diagonal) and h3.grid_distance(centre, apart) == 2
    g = H3Grid(crs="EPSG:32610", resolution=9, cells=np.array([centre, diagonal, apart]))
    cells = pd.DataFrame({"cell_id": g.cell_ids, "row": g.row, "col": g.col})
    pos = {c: i for i, c in enumerate(g.cell_ids)}
    for connectivity in (4, 8):
        labels = pt.group_hotspots(cells, connectivity)
        assert labels[pos[centre]] == labels[pos[diagonal]] != labels[pos[apart]]
    # A whole ring around a cell is one hotspot.
    ring = np.array([centre, *h3.grid_ring(centre, 1)])
    g = H3Grid(crs="EPSG:32610", resolution=9, cells=ring)
    assert set(pt.group_hotspots(pd.DataFrame({"cell_id": g.cell_ids, "row": g.row, "col": g.col}))) == {0}
