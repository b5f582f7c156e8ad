"""Context features: coverage rule, leakage guard, known values, area weighting, model switch."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from forecasting.context import (
    ContextFeatures,
    activity_features,
    area_features,
    build_context,
    coverage,
    place_features,
)
from forecasting.errors import DataError
from forecasting.grid import Grid
from forecasting.ingest.cameras import view_polygons
from forecasting.periods import Periods

CRS = "EPSG:32631"


def _grid(n=12, size=50.0):
    c, r = np.meshgrid(np.arange(13000, 13000 + n), np.arange(115000, 115000 + n))
    return Grid(crs=CRS, cell_size=size, col=c.ravel(), row=r.ravel())


def _lonlat(g, x, y):
    return g.to_lonlat(x, y)


def _cameras(g, xs, ys, heading, fov, rng_m):
    lon, lat = _lonlat(g, xs, ys)
    views = view_polygons(lon, lat, heading, fov, rng_m)
    return pd.DataFrame({"camera_id": [f"c{i}" for i in range(len(xs))], "longitude": lon, "latitude": lat,
                         "view_wkt": shapely.to_wkt(views)})


@hsettings(max_examples=40, deadline=None)
@given(cams=st.lists(st.tuples(st.floats(0, 600), st.floats(0, 600), st.floats(0, 359.9),
                               st.floats(10, 360), st.floats(20, 200)), min_size=1, max_size=6))
def test_a_cell_is_covered_exactly_when_its_centroid_is_in_a_view(cams):
    g = _grid()
    x0, y0 = g.col.min() * g.cell_size, g.row.min() * g.cell_size
    xs, ys, h, f, r = (np.array(v) for v in zip(*cams, strict=True))
    frame = _cameras(g, x0 + xs, y0 + ys, h, f, r)
    got = coverage(frame, g).toarray()
    lon, lat = _lonlat(g, *g.centroids_xy)
    views = shapely.from_wkt(frame["view_wkt"].to_numpy())
    expected = shapely.within(shapely.points(lon, lat)[:, None], views[None, :])
    assert (got == expected).all()


def _hourly(camera, start, hours, value=10.0):
    ts = pd.date_range(start, periods=hours, freq="h", tz="UTC")
    return pd.DataFrame({"camera_id": camera, "period_start": ts, "resolution": "hour", "people": value})


@hsettings(max_examples=25, deadline=None)
@given(cut=st.integers(1, 12), extra=st.floats(0, 1e5), period=st.sampled_from(["week", "day", "hour"]))
def test_counts_at_or_after_a_period_start_never_change_its_features(cut, extra, period):
    g = _grid(4)
    cams = _cameras(g, [g.col.min() * 50 + 100], [g.row.min() * 50 + 100], [np.nan], [np.nan], [150])
    rng = np.random.default_rng(cut)
    counts = _hourly("c0", "2024-01-01", 24 * 7 * 12)
    counts["people"] = rng.poisson(20, len(counts)).astype(float)
    p = Periods(period)
    first = int(p.index([pd.Timestamp("2024-01-01")])[0])
    n = int(p.index([pd.Timestamp("2024-03-25")])[0]) - first + 1
    t = min(n - 1, cut * (n // 13))
    start = p.start([first + t])[0].tz_localize("UTC")
    before = counts[counts["period_start"] < start]
    after = pd.concat([before, counts[counts["period_start"] >= start].assign(people=extra)])
    a, _ = activity_features(before, cams, g, p, first, n)
    b, _ = activity_features(after, cams, g, p, first, n)
    np.testing.assert_array_equal(a[:, : t + 1], b[:, : t + 1])


def test_missing_hours_are_not_zeros():
    g = _grid(4)
    cams = _cameras(g, [g.col.min() * 50 + 50], [g.row.min() * 50 + 50], [np.nan], [np.nan], [60])
    full = _hourly("c0", "2024-01-01", 24 * 28, 10.0)
    holey = full[full["period_start"].dt.day % 3 != 0]  # an outage every third day
    p = Periods("week")
    first = int(p.index([pd.Timestamp("2024-01-01")])[0])
    a, names = activity_features(full, cams, g, p, first, 5)
    b, _ = activity_features(holey, cams, g, p, first, 5)
    k = names.index("act_recent")
    covered = a[:, 1, names.index("act_covered")] > 0
    assert covered.any() and not covered.all()
    np.testing.assert_allclose(b[covered, 1:, k], 10.0)  # a zero-filled outage would drag it down
    np.testing.assert_allclose(a[~covered, :, k], 0.0)


def test_place_features_known_values():
    g = _grid(4, 100.0)
    x0, y0 = g.col.min() * 100, g.row.min() * 100
    lon, lat = _lonlat(g, [x0 + 50, x0 + 60, x0 + 350], [y0 + 50, y0 + 50, y0 + 350])
    pl = pd.DataFrame({"category": ["Bar", "Bar", "School"], "longitude": lon, "latitude": lat})
    X, names = place_features(pl, g, bandwidth_m=100)
    assert names[:3] == ["place_bar_count", "place_bar_dist_km", "place_bar_kde"]
    assert X[:, names.index("place_bar_count")].sum() == 2 and X[0, 0] == 2
    assert X[0, names.index("place_school_dist_km")] == pytest.approx(np.hypot(300, 300) / 1000, rel=1e-4)
    assert X[:, names.index("place_bar_kde")].argmax() == 0


def test_area_weighting_conserves_extensive_totals_and_keeps_constants():
    g = _grid(6, 100.0)
    x0, y0 = g.col.min() * 100.0, g.row.min() * 100.0
    # Two polygons that cut cells in halves, well inside the grid.
    polys = [shapely.box(x0 + 50, y0 + 50, x0 + 350, y0 + 250), shapely.box(x0 + 350, y0 + 50, x0 + 550, y0 + 550)]
    wkt = shapely.to_wkt(shapely.transform(np.array(polys), lambda xy: np.column_stack(_lonlat(g, xy[:, 0], xy[:, 1]))))
    areas = pd.DataFrame({"layer": ["pop", "pop", "dens", "dens"], "area_id": ["a", "b", "a", "b"],
                          "hour_of_week": pd.array([pd.NA] * 4, dtype="Int64"), "value": [600.0, 400.0, 3.0, 3.0],
                          "polygon_wkt": list(wkt) * 2})
    st, names, _, _ = area_features(areas, g, extensive=("pop",))
    assert st[:, names.index("area_pop")].sum() == pytest.approx(1000.0, rel=1e-4)
    dens = st[:, names.index("area_dens")]
    assert np.allclose(dens[dens > 0], 3.0) and (dens == 0).sum() > 0


def test_hour_of_week_layers_average_the_period_hours():
    g = _grid(2, 100.0)
    box = shapely.box(*(np.array([g.col.min(), g.row.min(), g.col.max() + 1, g.row.max() + 1]) * 100.0))
    wkt = shapely.to_wkt(shapely.transform(box, lambda xy: np.column_stack(_lonlat(g, xy[:, 0], xy[:, 1]))))
    areas = pd.DataFrame({"layer": "footfall", "area_id": "z", "hour_of_week": pd.array(range(168), dtype="Int64"),
                          "value": np.arange(168.0), "polygon_wkt": wkt})
    p = Periods("day")
    first = int(p.index([pd.Timestamp("2024-01-01")])[0])  # a Monday
    _, _, dyn, names = area_features(areas, g, p, first, 7)
    assert names == ["area_footfall"]
    np.testing.assert_allclose(dyn[0, :, 0], [11.5 + 24 * d for d in range(7)])


def test_build_context_and_the_model_switch():
    from forecasting.features import FeatureBuilder, Panel
    from forecasting.model import LGBMRiskModel

    g = _grid(6, 100.0)
    lon, lat = _lonlat(g, *g.centroids_xy)
    cams = _cameras(g, [g.col.min() * 100 + 200], [g.row.min() * 100 + 200], [np.nan], [np.nan], [150])
    counts = _hourly("c0", "2023-01-02", 24 * 7 * 60)
    places = pd.DataFrame({"category": "bar", "longitude": lon[:3], "latitude": lat[:3]})
    p = Periods("week")
    first = int(p.index([pd.Timestamp("2023-01-02")])[0])
    ctx = build_context(g, p, first, 60, tz="UTC", cameras=cams, counts=counts, places=places)
    assert isinstance(ctx, ContextFeatures)
    assert ctx.names[0] == "cam_distance_km" and "act_recent" in ctx.names and "place_bar_kde" in ctx.names
    assert ctx.at(np.array([first + 10])).shape == (len(ctx.names), g.n_cells, 1)
    rng = np.random.default_rng(0)
    y = rng.poisson(0.3, (g.n_cells, 60)).astype(np.float32)
    fb = FeatureBuilder(windows_days=(7, 28), neighbour_windows_days=(28,), half_lives_days=(14,),
                        cross_windows_days=())
    params = dict(features=fb, n_estimators=20, training_days=280, validation_days=56, min_child_samples=5)
    panel = Panel(g, p, first, {"all": y})
    with pytest.raises(DataError, match=re.escape("use_context=True needs a panel with context features")):
        LGBMRiskModel(use_context=True, **params).fit(panel, 55)
    panel.context = ctx
    m = LGBMRiskModel(use_context=True, **params).fit(panel, 55)
    assert m.feature_names_[-len(ctx.names):] == ctx.names
    assert m.predict_risk(panel, 55).shape == (g.n_cells,)
    plain = LGBMRiskModel(**params).fit(panel, 55)
    assert not set(ctx.names) & set(plain.feature_names_)
