"""Tests of forecasting.grid: alignment, point-to-cell, study area, CRS errors."""

import re

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from forecasting.errors import ConfigError, CRSError
from forecasting.grid import Grid, build_grid, grid_from_dict, utm_crs


def _points(seed=0, n=300):
    rng = np.random.default_rng(seed)
    return -123.1 + rng.normal(0, 0.01, n), 49.27 + rng.normal(0, 0.008, n)


def test_utm_zone_is_chosen_from_extent():
    assert utm_crs(np.array([-123.1]), np.array([49.3])).to_epsg() == 32610
    assert utm_crs(np.array([-87.6]), np.array([41.8])).to_epsg() == 32616
    assert utm_crs(np.array([151.2]), np.array([-33.9])).to_epsg() == 32756


def test_every_event_lands_in_its_own_history_grid():
    lon, lat = _points()
    g = build_grid(lon, lat, cell_size=150)
    pos = g.locate(lon, lat)
    assert (pos >= 0).all()
    # The study area is exactly the occupied cells.
    assert np.unique(pos).size == g.n_cells


def test_grid_is_aligned_to_multiples_of_cell_size_and_reproducible():
    lon, lat = _points()
    a = build_grid(lon, lat, cell_size=150)
    b = build_grid(lon[::-1], lat[::-1], cell_size=150)
    assert a.fingerprint() == b.fingerprint()
    x, y = a.project(lon, lat)
    pos = a.locate_xy(x, y)
    assert np.all(a.col[pos] * 150 <= x) and np.all(x < (a.col[pos] + 1) * 150)
    assert np.all(a.row[pos] * 150 <= y) and np.all(y < (a.row[pos] + 1) * 150)
    assert a.cell_ids[0].startswith("150m_")


def test_cell_geometry_areas_and_geojson_crs():
    lon, lat = _points()
    g = build_grid(lon, lat, cell_size=200)
    np.testing.assert_allclose(g.areas, 200.0**2)
    gdf = g.polygons()
    assert gdf.crs.to_epsg() == 4326
    assert list(gdf.columns) == ["cell_id", "geometry"]
    assert len(gdf) == g.n_cells
    # Each polygon contains the centroid of its cell once projected back.
    assert gdf.geometry.is_valid.all()


def test_boundary_defines_study_area_and_clips_areas():
    lon, lat = _points()
    poly = shapely.box(-123.11, 49.265, -123.09, 49.275)
    g = build_grid(lon, lat, cell_size=150, boundary=poly)
    assert g.areas.max() == pytest.approx(150**2)
    assert g.areas.min() < 150**2  # edge cells are clipped
    assert g.areas.sum() == pytest.approx(g.boundary.area, rel=1e-6)


def test_geographic_crs_fails_naming_both_values():
    lon, lat = _points()
    with pytest.raises(CRSError, match=re.escape("crs must be a projected CRS in metres")) as e:
        build_grid(lon, lat, crs="EPSG:4326")
    assert "EPSG:4326" in str(e.value) and "degree" in str(e.value)


def test_projected_bare_boundary_is_refused():
    lon, lat = _points()
    with pytest.raises(CRSError, match="read as EPSG:4326"):
        build_grid(lon, lat, boundary=shapely.box(490000, 5450000, 491000, 5451000))


def test_incompatible_grids_name_both_cell_sizes():
    lon, lat = _points()
    a, b = build_grid(lon, lat, cell_size=150), build_grid(lon, lat, cell_size=100)
    with pytest.raises(CRSError, match=re.escape("150 m vs 100 m")):
        a.check_compatible(b)


def test_bad_cell_size_message():
    with pytest.raises(ConfigError, match=re.escape("cell_size must be a positive number of metres; got -5")):
        build_grid(*_points(), cell_size=-5)


def test_neighbour_sum_known_values_and_round_trip():
    g = Grid(crs="EPSG:32610", cell_size=10, col=np.array([0, 1, 2, 0, 4]),
             row=np.array([0, 0, 0, 1, 4]))
    v = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    np.testing.assert_array_equal(g.neighbour_sum(v, 1), [7, 10, 5, 7, 5])
    np.testing.assert_array_equal(g.neighbour_sum(v, 2), [10, 10, 10, 10, 5])
    assert grid_from_dict(g.to_dict()).fingerprint() == g.fingerprint()


def test_h3_grid_locates_points():
    lon, lat = _points(n=100)
    g = build_grid(lon, lat, h3_resolution=9)
    pos = g.locate(lon, lat)
    assert (pos >= 0).all() and g.cell_ids[0].startswith("89")
    assert g.neighbour_sum(np.ones(g.n_cells), 1).max() <= 7


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 5000), st.floats(0, 5000)), min_size=1, max_size=60),
       st.sampled_from([50.0, 150.0, 333.0]))
def test_every_point_in_extent_lands_in_exactly_one_cell(pts, size):
    xy = np.array(pts) + np.array([480000.0, 5450000.0])
    g = Grid(crs="EPSG:32610", cell_size=size,
             col=np.unique(np.floor(xy / size), axis=0)[:, 0].astype(int),
             row=np.unique(np.floor(xy / size), axis=0)[:, 1].astype(int))
    pos = g.locate_xy(xy[:, 0], xy[:, 1])
    assert (pos >= 0).all()
    boxes = g.boxes()
    inside = shapely.contains_xy(boxes[:, None], xy[:, 0][None, :], xy[:, 1][None, :]) | \
        shapely.intersects_xy(boxes[:, None], xy[:, 0][None, :], xy[:, 1][None, :])
    # Half-open cells: a point on an edge belongs to the cell on its upper/right side only.
    x0, y0 = g.col[pos] * size, g.row[pos] * size
    assert np.all((xy[:, 0] >= x0) & (xy[:, 0] < x0 + size) & (xy[:, 1] >= y0) & (xy[:, 1] < y0 + size))
    assert inside[pos, np.arange(len(xy))].all()


def test_neighbour_sum_in_chunks_of_columns_equals_one_pass(monkeypatch):
    import forecasting.grid as grid_module

    rng = np.random.default_rng(5)
    cc, rr = np.meshgrid(np.arange(9), np.arange(7))
    keep = rng.random(cc.size) < 0.6  # a ragged study area inside its bounding raster
    g = Grid(crs="EPSG:32610", cell_size=100, col=cc.ravel()[keep], row=rr.ravel()[keep])
    values = rng.poisson(2.0, (g.n_cells, 50, 3)).astype(np.float32)
    whole = {r: g.neighbour_sum(values, r) for r in (1, 2)}
    monkeypatch.setattr(grid_module, "NEIGHBOUR_CHUNK_BYTES", 4 * 13 * 13 * 7)  # 7 columns a pass
    for r in (1, 2):
        chunked = g.neighbour_sum(values, r)
        assert chunked.dtype == values.dtype and chunked.shape == values.shape
        np.testing.assert_array_equal(chunked, whole[r])
