"""Figure and table builders of the dashboard, without a browser."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from dashboards import figures, tables
from forecasting.errors import InputError
from tests.support.fake_provider import FakeProvider, rank_cameras
from tests.support.synthetic import synthetic_metrics


@pytest.fixture(scope="module")
def fake():
    return FakeProvider(n_cells=144, seed=3)


def test_raster_map_puts_every_cell_value_at_its_row_and_col(fake):
    fc = fake.forecast(1)
    fig = figures.risk_map_figure(fc, crs=fake.CRS)
    z = np.asarray(fig.data[0].z)
    meta = fig.layout.meta
    r = fc["row"].to_numpy() - meta["row0"]
    c = fc["col"].to_numpy() - meta["col0"]
    np.testing.assert_allclose(z[r, c], fc["expected_count"].to_numpy())
    assert np.isfinite(z).sum() == len(fc)
    assert fig.data[0].colorbar.title.text == "Expected incidents"
    assert fig.layout.meta["kind"] == "raster" and fig.layout.meta["cell_size_m"] == pytest.approx(150, rel=1e-6)


def test_probability_measure_changes_values_and_legend(fake):
    fc = fake.forecast(1)
    fig = figures.risk_map_figure(fc, measure="probability", crs=fake.CRS)
    assert fig.data[0].colorbar.title.text.startswith("Probability")
    assert np.nanmax(np.asarray(fig.data[0].z)) <= 1.0


def test_layers_add_overlays_in_the_grid_frame(fake):
    fc = fake.forecast(1)
    fig = figures.risk_map_figure(fc, crs=fake.CRS, cameras=fake.cameras(), places=fake.places(),
                                  boundaries=fake.boundaries(), layers=["cameras", "places", "boundaries"])
    names = [t.name for t in fig.data]
    assert {"cameras", "places", "districts"} <= set(names)
    cams = next(t for t in fig.data if t.name == "cameras")
    # camera markers sit on cell centroids: they must land on integer raster positions inside the grid
    x = np.asarray(cams.x, dtype=float)
    assert np.allclose(x, np.round(x), atol=1e-3)
    assert (x >= 0).all() and (x < fig.layout.meta["col0"] + 1e9).all()


def test_highlighted_camera_gets_its_own_trace(fake):
    fc = fake.forecast(1)
    fig = figures.risk_map_figure(fc, crs=fake.CRS, cameras=fake.cameras(), layers=["cameras"],
                                  highlight_camera="CAM-002")
    assert "selected: CAM-002" in [t.name for t in fig.data]


def test_selected_cell_is_outlined(fake):
    fc = fake.forecast(1)
    fig = figures.risk_map_figure(fc, crs=fake.CRS, selected_cell=fc["cell_id"].iloc[5])
    assert len(fig.layout.shapes) == 1


def test_online_style_uses_a_tile_map(fake):
    fc = fake.forecast(1)
    fig = figures.risk_map_figure(fc, tile_url="https://tiles.example/{z}/{x}/{y}.png")
    assert fig.data[0].type == "choroplethmap"
    assert fig.layout.map.layers[0].source == ("https://tiles.example/{z}/{x}/{y}.png",)
    assert len(fig.data[0].geojson["features"]) == len(fc)


def test_grid_without_rows_falls_back_to_a_tile_map(fake):
    fc = fake.forecast(1).assign(row=np.nan)
    assert figures.risk_map_figure(fc).data[0].type == "choroplethmap"


def test_bad_measure_and_layer_are_named():
    fc = FakeProvider(n_cells=9).forecast(1)
    with pytest.raises(InputError, match=re.escape("measure must be one of ['expected_count', 'probability']; "
                                                   "got 'risk'")):
        figures.risk_map_figure(fc, measure="risk")
    with pytest.raises(InputError, match="layers must be among"):
        figures.risk_map_figure(fc, layers=["roads"])


def test_cell_at_inverts_the_raster(fake):
    fc = fake.forecast(1)
    fig = figures.risk_map_figure(fc, crs=fake.CRS)
    meta = fig.layout.meta
    for _, row in fc.sample(10, random_state=0).iterrows():
        point = {"curveNumber": 0, "x": int(row["col"]) - meta["col0"], "y": int(row["row"]) - meta["row0"]}
        assert figures.cell_at(fc, meta, point) == row["cell_id"]
    assert figures.cell_at(fc, meta, {"curveNumber": 2, "x": None, "y": None}) is None
    assert figures.cell_at(fc, meta, {"curveNumber": 0, "x": -5, "y": -5}) is None  # outside the grid
    assert figures.cell_at(fc, {}, {"curveNumber": 0, "location": "abc"}) == "abc"


def test_a_click_on_a_camera_marker_opens_the_cell_under_it(fake):
    import shapely

    fc = fake.forecast(1)
    cams = fake.cameras()
    fig = figures.risk_map_figure(fc, crs=fake.CRS, cameras=cams, layers=["cameras"])
    k = next(i for i, t in enumerate(fig.data) if t.name == "cameras")
    polys = dict(zip(fc["cell_id"], shapely.from_wkt(fc["polygon_wkt"].to_numpy()), strict=True))
    opened = 0
    for i, cam in enumerate(cams.itertuples()):
        point = {"curveNumber": k, "pointNumber": i, "x": float(fig.data[k].x[i]), "y": float(fig.data[k].y[i])}
        cell = figures.cell_at(fc, fig.layout.meta, point)
        if cell is not None:  # cameras outside the forecast's cells open nothing
            assert shapely.contains_xy(polys[cell], cam.longitude, cam.latitude)
            opened += 1
    assert opened >= len(cams) // 2


def test_history_figure_adds_the_forecast_bar():
    h = pd.DataFrame({"period_start": pd.date_range("2024-01-01", periods=4, freq="W-MON"), "count": [1, 0, 3, 2]})
    fig = figures.history_figure(h, 2.5, "week")
    assert list(fig.data[0].y) == [1, 0, 3, 2]
    assert fig.data[1].y == (2.5,) and fig.data[1].x[0] == pd.Timestamp("2024-01-29")


def test_capture_curves_one_line_per_model():
    fig = figures.capture_curve_figure(synthetic_metrics())
    assert [t.name for t in fig.data] == ["lgbm", "kde", "naive", "hindsight (not a forecast)"]
    lgbm = np.asarray(fig.data[0].y)
    assert np.all(np.diff(lgbm) > 0)
    with pytest.raises(InputError, match="target must be one of"):
        figures.capture_curve_figure(synthetic_metrics(), "burglary")


def test_backtest_table_side_by_side():
    t = tables.backtest_table(synthetic_metrics())
    assert t["Model"].tolist()[0] == "lgbm" and t["Model"].tolist()[-1].startswith("hindsight (not a forecast")
    for k in ("0.5%", "1%", "2%", "5%"):
        assert {f"PAI@{k}", f"Hit@{k}", f"PEI*@{k}"} <= set(t.columns)
    pai = t.set_index("Model")["PAI@1%"].astype(float)
    assert pai["lgbm"] > pai["naive"]


def test_period_options_soonest_first_and_filtered(fake):
    opts = tables.period_options(fake.forecast_runs(), "shift", "all", "America/Vancouver")
    assert [o["label"][:19] for o in opts] == ["Shift Mon 03 Jun 06", "Shift Mon 03 Jun 14", "Shift Mon 03 Jun 22"]
    assert opts[0]["label"].startswith("Shift Mon 03 Jun 06:00-14:00")
    assert tables.period_options(fake.forecast_runs(), "day") == []


def test_cell_summary_and_missing_reasons():
    fc = FakeProvider(n_cells=300).forecast(1)  # reasons are stored for the top 200 cells only
    top = tables.cell_summary(fc, fc["cell_id"].iloc[0])
    assert top["rank"] == 1 and "incidents in this cell" in top["reasons"][0]
    last = tables.cell_summary(fc, fc["cell_id"].iloc[-1])
    assert last["reasons"][0].startswith("No explanation stored")
    with pytest.raises(InputError, match="is not in this forecast"):
        tables.cell_summary(fc, "nope")


def test_rank_cameras_counts_overlap_once_and_finds_gaps(fake):
    fc = fake.forecast(4)
    priority, gaps = rank_cameras(fc, fake.cameras())
    assert priority["rank"].tolist() == list(range(1, len(priority) + 1))
    assert (priority["marginal"] <= priority["expected_in_view"] + 1e-9).all()
    assert priority["why"].str.startswith("#1 ").iloc[0]
    import shapely

    assert len(gaps) > 0 and (gaps["risk_rank"] <= 20).all()
    views = shapely.union_all(shapely.from_wkt(fake.cameras()["view_wkt"].to_numpy()))
    polys = shapely.from_wkt(fc.set_index("cell_id").loc[gaps["cell_id"], "polygon_wkt"].to_numpy())
    assert not shapely.intersects(polys, views).any()  # a gap is a top cell that no camera sees
    seen = fc[fc["rank"] <= 20].set_index("cell_id")
    seen = seen.drop(index=gaps["cell_id"])
    assert shapely.intersects(shapely.from_wkt(seen["polygon_wkt"].to_numpy()), views).all()
    t = tables.priority_table(priority)
    assert list(t.columns) == ["Rank", "Camera", "Expected in view", "Not seen by higher ranks", "Why"]


def test_tasks_and_versions_tables(fake):
    v = tables.versions_table(fake.model_versions())
    assert v["Trained on"].iloc[0] == "2022-01-03 to 2024-05-27"
    tasks = pd.DataFrame({"id": [1], "kind": ["train"], "status": ["running"], "progress": [0.42],
                          "message": [None], "created_by": ["ana"], "created_at": [pd.Timestamp("2024-01-01")]})
    assert tables.tasks_table(tasks)["Progress"].iloc[0] == "42%"


def test_camera_list_is_compact_and_shows_what_sets_the_order_beside_each_own_count():
    p = pd.DataFrame({"rank": np.arange(1, 13), "camera_id": [f"C{i}" for i in range(1, 13)],
                      "name": ["Main St"] + [""] * 11, "expected_in_view": np.linspace(0.9, 0.2, 12),
                      "marginal": np.linspace(0.9, 0.0, 12), "n_cells": 1, "why": "x"})
    p.loc[1, "expected_in_view"] = 1.5  # a big view mostly seen already: own > adds, yet ranked by adds
    top = tables.camera_list(p)
    assert len(top) == tables.CAMERA_LIST_TOP == 10 and top["label"].iloc[0] == "#1 C1 Main St"
    assert top.loc[1, ["adds", "own"]].tolist() == ["0.82", "1.50"]
    assert len(tables.camera_list(p, show_all=True)) == 12


def test_choice_record_figure_draws_three_methods_or_says_why_empty():
    rec = FakeProvider(n_cells=25).choice_record()
    fig = figures.choice_record_figure(rec, k=4)
    assert [t.name for t in fig.data] == ["priority (forecast)", "k busiest cameras",
                                          "most incidents in view, past year"]
    assert len(fig.data[0].x) == 30 and "Last 30 shifts" in fig.layout.title.text
    assert fig.layout.yaxis.tickformat == ".0%"
    empty = figures.choice_record_figure(rec.iloc[:0])
    assert not empty.data and "outcome" in empty.layout.annotations[0].text


def test_colour_bar_marks_its_capped_top_with_ge(fake):
    fc = fake.forecast(1).copy()
    fc.loc[0, "expected_count"] = 1000.0  # one outlier above the 99.5th percentile
    bar = figures.risk_map_figure(fc, crs=fake.CRS).data[0].colorbar
    assert bar.ticktext[-1].startswith("≥ ") and bar.ticktext[0] == "0"
    assert bar.tickvals[-1] < 1000.0
    uncapped = figures.colorbar(np.array([0.0, 0.5, 1.0]), "probability", 1.0)
    assert uncapped["ticktext"] == ["0%", "25%", "50%", "75%", "100%"]


def test_hover_names_cells_by_label_and_no_forecast_has_a_legend(fake):
    fc = fake.forecast(1)
    fig = figures.risk_map_figure(fc, crs=fake.CRS)
    text = np.asarray(fig.data[0].text, dtype=object)
    meta = fig.layout.meta
    first = fc.iloc[0]
    assert text[int(first["row"]) - meta["row0"], int(first["col"]) - meta["col0"]] == \
        f"{first['label']} ({first['cell_id']})"
    assert "%{text}" in fig.data[0].hovertemplate
    assert not [t for t in fig.data if (t.name or "").startswith("no forecast")]  # a full grid: no grey cell
    holed = figures.risk_map_figure(fc.iloc[1:], crs=fake.CRS)
    grey = next(t for t in holed.data if (t.name or "").startswith("no forecast"))
    assert grey.marker.color == figures.NO_FORECAST_COLOUR == holed.layout.plot_bgcolor
    unlabelled = figures.cell_names(fc.drop(columns="label").head(2))
    assert unlabelled.tolist() == fc["cell_id"].head(2).tolist()


def test_streets_are_drawn_offline_with_their_names(fake):
    fig = figures.risk_map_figure(fake.forecast(1), crs=fake.CRS, streets=fake.streets(), layers=["streets"])
    lines = next(t for t in fig.data if t.name == "streets")
    assert np.isnan(np.asarray(lines.x, dtype=float)).sum() == 1  # two lines, one separator
    names = next(t for t in fig.data if t.hovertemplate and "street" in t.hovertemplate)
    assert list(names.text) == ["Main Street", "Market Avenue"]
    assert figures.risk_map_figure(fake.forecast(1), crs=fake.CRS, streets=fake.streets()).layout.meta["kind"] \
        == "raster" and "streets" not in [t.name for t in figures.risk_map_figure(
            fake.forecast(1), crs=fake.CRS, streets=fake.streets()).data]


def test_layers_ticked_only_when_present_and_the_title_says_simulated(fake):
    from dashboards.pages import risk_map

    assert risk_map.default_layers(fake) == ["streets", "cameras", "boundaries"]

    class Bare(FakeProvider):
        def boundaries(self):
            return {}

        def streets(self):
            return pd.DataFrame(columns=["name", "wkt", "simulated"])

        def simulated(self):
            return False

    bare = Bare(n_cells=16)
    assert risk_map.default_layers(bare) == ["cameras"]
    assert risk_map.available_layers(bare) == ["cameras", "places"]
    run = fake.forecast_runs().iloc[0]
    assert risk_map.map_title(fake, run, "UTC").startswith("Simulated city: ")
    assert not risk_map.map_title(bare, run, "UTC").startswith("Simulated")


def test_capture_curve_labels_shares_as_percentages():
    fig = figures.capture_curve_figure(synthetic_metrics())
    assert list(fig.layout.xaxis.ticktext) == ["0.5 %", "1 %", "2 %", "5 %"]
    assert list(fig.layout.xaxis.tickvals) == [0.5, 1.0, 2.0, 5.0]


def test_models_page_names_the_backtest_dataset():
    from dashboards.contracts import Backtest
    from dashboards.pages import models

    m = {**synthetic_metrics(), "dataset": "Vancouver PD incidents (real data: 4 neighbourhoods)"}
    assert models.backtest_heading([Backtest(1, pd.Timestamp("2024-06-01", tz="UTC"), "week", m, None, "a")]) == \
        "Latest backtest (Vancouver PD incidents (real data: 4 neighbourhoods)): every model side by side"


def test_reasons_are_said_once_in_planner_units():
    reasons = ["recent incidents in this cell (near-repeat intensity 2.4, half-life 7 days)",
               "recent incidents in this cell (near-repeat intensity 3.1, half-life 28 days)",
               "recent incidents in the surrounding cells (near-repeat intensity 5.0, half-life 7 days)",
               "5 incidents in this cell in the last 4 weeks", "5 incidents in this cell in the last 4 weeks"]
    out = tables.readable_reasons(reasons)
    assert out == [
        "about 2.4 recent incidents in this cell, recent ones counting fully and older ones less "
        "(half weight after 7 days)",
        "about 5.0 recent incidents in the surrounding cells, recent ones counting fully and older ones less "
        "(half weight after 7 days)",
        "5 incidents in this cell in the last 4 weeks"]
    assert not any("intensity" in r for r in out)


# ---------------------------------------------------------------- large runs: what is in view only
def _extent(fc):
    return {"n_cells": len(fc), "col_min": int(fc["col"].min()), "col_max": int(fc["col"].max()),
            "row_min": int(fc["row"].min()), "row_max": int(fc["row"].max())}


def test_viewport_bounds_the_pixels_and_covers_what_is_in_view():
    rng = np.random.default_rng(3)
    ext = {"col_min": -40, "col_max": 2959, "row_min": 7, "row_max": 1806}
    for _ in range(200):
        x0, y0 = rng.uniform(-100, 3000), rng.uniform(-100, 1800)
        w = rng.uniform(1, 3000)
        relayout = {"xaxis.range[0]": x0, "xaxis.range[1]": x0 + w, "yaxis.range[0]": y0, "yaxis.range[1]": y0 + w}
        v = figures.viewport(relayout, ext, max_pixels=4096)
        assert v.shape[0] * v.shape[1] <= 4096
        assert v.block & (v.block - 1) == 0  # a power of two
        # The drawn box holds every cell of the view that lies on the grid.
        lo_c, hi_c = max(ext["col_min"], x0 + ext["col_min"]), min(ext["col_max"], x0 + w + ext["col_min"])
        if lo_c <= hi_c:
            assert v.col_min <= np.ceil(lo_c) and v.col_max >= np.floor(hi_c)
        assert ext["col_min"] <= v.col_min <= v.col_max <= ext["col_max"]
    whole = figures.viewport({"xaxis.autorange": True, "yaxis.autorange": True}, ext, max_pixels=4096)
    assert (whole.col_min, whole.col_max, whole.row_min, whole.row_max) == (-40, 2959, 7, 1806)
    assert whole.block == 64  # 3000 x 1800 cells: 47 x 29 blocks of 64; blocks of 32 would be 94 x 57 > 4096


def test_block_values_conserve_cells_and_expected_counts(fake):
    fc = fake.forecast(1)
    v = figures.viewport(None, _extent(fc), max_pixels=30)
    b = figures.block_values(fc, v)
    assert b["n_cells"].sum() == len(fc)
    assert np.isclose((b["expected_count"] * b["n_cells"]).sum(), fc["expected_count"].sum())
    # Known value: the block holding the first cell has the mean of the cells sharing its block indices.
    c0, r0 = v.col_min, v.row_min
    same = fc[((fc["col"] - c0) // v.block == 0) & ((fc["row"] - r0) // v.block == 0)]
    first = b[(b["bcol"] == 0) & (b["brow"] == 0)].iloc[0]
    assert first["n_cells"] == len(same) and np.isclose(first["expected_count"], same["expected_count"].mean())
    assert np.isclose(first["max_expected"], same["expected_count"].max())


def test_view_figure_draws_blocks_far_out_and_cells_close_in(fake):
    fc = fake.forecast(1)
    ext = _extent(fc)
    far = figures.viewport(None, ext, max_pixels=30)
    fig = figures.risk_map_view_figure(figures.block_values(fc, far), view=far, extent=ext, frame_cells=fc,
                                       crs=fake.CRS)
    z = np.asarray(fig.data[0].z, dtype=float)
    assert z.size <= 30 and fig.layout.meta["block"] == far.block > 1
    assert fig.data[0].dx == far.block and "blocks of" in fig.layout.annotations[0].text
    whole = figures.risk_map_figure(fc, crs=fake.CRS)
    near = figures.viewport({"xaxis.range[0]": 1, "xaxis.range[1]": 4, "yaxis.range[0]": 1, "yaxis.range[1]": 4},
                            ext, max_pixels=64)
    cells = fc[fc["col"].between(near.col_min, near.col_max) & fc["row"].between(near.row_min, near.row_max)]
    fig = figures.risk_map_view_figure(cells, view=near, extent=ext, frame_cells=fc, crs=fake.CRS)
    assert near.block == 1 and fig.layout.meta["block"] == 1 and near.shape == (8, 8) and len(cells) < len(fc)
    # Each cell of the view sits where the whole map puts it (same raster coordinates) with the same value.
    zw = np.asarray(whole.data[0].z, dtype=float)
    zv = np.asarray(fig.data[0].z, dtype=float)
    x0, y0 = int(fig.data[0].x0), int(fig.data[0].y0)
    np.testing.assert_array_equal(zv, zw[y0:y0 + zv.shape[0], x0:x0 + zv.shape[1]])
    assert figures.clicked_col_row(fig.layout.meta, {"x": x0 + 1, "y": y0}) == (near.col_min + 1, near.row_min)


def test_readable_reasons_keep_the_near_repeat_finding():
    knox = "burglary incidents here repeat within 150 m and 7 days 3.3x more often than chance"
    out = tables.readable_reasons([
        f"recent incidents in this cell (near-repeat intensity 2.4, half-life 3.5 days) — {knox}",
        "recent incidents in this cell (near-repeat intensity 3.1, half-life 28 days)"])
    assert out == ["about 2.4 recent incidents in this cell, recent ones counting fully and older ones less "
                   f"(half weight after 3.5 days) — {knox}"]
