"""Every patrol-plan export, parsed back by an independent reader, holds the plan's hotspots."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest

from forecasting import export as ex
from forecasting import patrol as pt
from forecasting.errors import ConfigError
from forecasting.grid import Grid

META = {"shift": "2024-03-04/2", "period_start": "2024-03-04T22:00:00", "period_end": "2024-03-05T06:00:00",
        "timezone": "America/Vancouver", "model": "lgbm", "model_version": "7", "forecast_run_ids": [3, 4],
        "generated_at": "2024-03-04T20:15:00+00:00", "generated_by": "sgt.lee"}


@pytest.fixture(scope="module")
def plan() -> pt.PatrolPlan:
    rng = np.random.default_rng(7)
    n = 10
    rows, cols = np.divmod(np.arange(n * n), n)
    g = Grid(crs="EPSG:32610", cell_size=150, col=3268 + cols, row=36388 + rows)
    exp = rng.gamma(0.3, 0.1, n * n)
    for r, c, v in [(2, 2, 1.2), (2, 3, 0.9), (3, 3, 0.6), (7, 7, 1.0), (7, 8, 0.4), (5, 0, 0.7)]:
        exp[r * n + c] = v
    reasons = [["6 incidents in the last 4 weeks", "Friday night"] if v > 0.5 else [] for v in exp]
    cells = gpd.GeoDataFrame({"cell_id": g.cell_ids, "row": g.row, "col": g.col, "expected_count": exp,
                              "reasons": reasons}, geometry=g.polygons().geometry.values, crs="EPSG:4326")
    c = cells.geometry.iloc[2 * n + 2].centroid
    addresses = pd.DataFrame({"longitude": [c.x] * 3, "latitude": [c.y] * 3,
                              "address": ["10XX W GEORGIA ST", "10XX W GEORGIA ST", "Café Ünïcode Sq"]})
    return pt.build_patrol_plan(cells, start="2024-03-04 22:00", end="2024-03-05 06:00",
                                config=pt.PatrolConfig(top_cells=6), addresses=addresses, meta=META)


def test_fixture_plan_has_several_hotspots_and_an_address(plan):
    assert len(plan.hotspots) >= 3
    assert plan.hotspots["address"].iloc[0] == "10XX W GEORGIA ST"
    assert plan.visits["hotspot_id"].nunique() == len(plan.hotspots)


def test_csv_round_trip(plan, tmp_path):
    path = ex.write_plan(plan, tmp_path / "plan.csv")
    back = pd.read_csv(path)
    assert back["hotspot_id"].tolist() == plan.hotspots["hotspot_id"].tolist()
    assert np.allclose(back["expected"], plan.hotspots["expected"], atol=1e-4)
    assert back["visits"].tolist() == plan.hotspots["visits"].tolist()
    assert (back["model_version"].astype(str) == "7").all() and (back["shift"] == "2024-03-04/2").all()
    assert (back["generated_by"] == "sgt.lee").all()
    assert back["cell_ids"].iloc[0].split("; ") == plan.hotspots["cell_ids"].iloc[0]
    first = plan.visits.loc[plan.visits["hotspot_id"] == "H01"]
    assert back["visit_windows"].iloc[0].split("; ")[0] == first["start"].iloc[0].strftime("%H:%M") + "-" + \
        first["end"].iloc[0].strftime("%H:%M")


def test_geojson_round_trip(plan, tmp_path):
    path = ex.write_plan(plan, tmp_path / "plan.geojson")
    back = gpd.read_file(path)
    assert back.crs.to_epsg() == 4326
    assert back["hotspot_id"].tolist() == plan.hotspots["hotspot_id"].tolist()
    for got, want in zip(back.geometry, plan.hotspots.geometry, strict=True):
        assert got.symmetric_difference(want).area < 1e-12
    assert (back["period_start"] == META["period_start"]).all()
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["crimecast"]["model_version"] == "7" and doc["crimecast"]["forecast_run_ids"] == "3,4"


def test_kml_round_trip_via_gdal(plan, tmp_path):
    path = ex.write_plan(plan, tmp_path / "plan.kml")
    layers = pyogrio.list_layers(path)[:, 0].tolist()
    assert layers == ["Hotspots", "Hotspot areas"]
    pts = gpd.read_file(path, layer="Hotspots")
    assert pts["hotspot_id"].tolist() == plan.hotspots["hotspot_id"].tolist()
    assert np.allclose(pts.geometry.x, plan.hotspots["longitude"], atol=1e-6)
    assert np.allclose(pts.geometry.y, plan.hotspots["latitude"], atol=1e-6)
    assert pts["Name"].iloc[0] == "H01 10XX W GEORGIA ST"
    assert (pts["model_version"] == "7").all() and (pts["shift"] == META["shift"]).all()
    polys = gpd.read_file(path, layer="Hotspot areas")
    assert set(polys["hotspot_id"]) == set(plan.hotspots["hotspot_id"])
    first = polys.loc[polys["hotspot_id"] == "H01"].union_all()
    assert first.symmetric_difference(plan.hotspots.geometry.iloc[0]).area < 1e-10


def test_ics_round_trip(plan, tmp_path):
    from icalendar import Calendar

    path = ex.write_plan(plan, tmp_path / "plan.ics")
    cal = Calendar.from_ical(path.read_bytes())
    events = cal.walk("VEVENT")
    assert len(events) == len(plan.visits)
    assert str(cal["X-CRIMECAST-MODEL-VERSION"]) == "7" and str(cal["X-CRIMECAST-SHIFT"]) == "2024-03-04/2"
    ids = [re.match(r"Patrol visit (H\d+)", str(e["SUMMARY"])).group(1) for e in events]
    assert sorted(set(ids)) == sorted(plan.hotspots["hotspot_id"])
    # 22:00 in Vancouver (PST, UTC-8) is 06:00 UTC; every visit lies in the shift and lasts 15 minutes.
    starts = pd.to_datetime([e.decoded("DTSTART") for e in events], utc=True)
    ends = pd.to_datetime([e.decoded("DTEND") for e in events], utc=True)
    assert starts.min() >= pd.Timestamp("2024-03-05 06:00", tz="UTC")
    assert ends.max() <= pd.Timestamp("2024-03-05 14:00", tz="UTC")
    assert ((ends - starts) == pd.Timedelta(minutes=15)).all()
    local = plan.visits["start"].dt.tz_localize("America/Vancouver").dt.tz_convert("UTC")
    assert sorted(starts) == sorted(local)
    assert len({str(e["UID"]) for e in events}) == len(events)
    assert "10XX W GEORGIA ST" in {str(e["LOCATION"]) for e in events}


def test_pdf_round_trip(plan, tmp_path):
    from pypdf import PdfReader

    path = ex.write_plan(plan, tmp_path / "plan.pdf")
    reader = PdfReader(path)
    text = " ".join(p.extract_text() for p in reader.pages)
    flat = re.sub(r"\s+", "", text)
    for hid in plan.hotspots["hotspot_id"]:
        assert hid in flat
    assert "2024-03-04/2" in flat and "10XXWGEORGIAST" in flat
    assert "version7" in flat
    assert reader.metadata.title == "crimecast patrol plan 2024-03-04/2"
    assert reader.metadata.author == "sgt.lee"
    assert "model_version=7" in reader.metadata.get("/Keywords")
    assert any("/XObject" in p["/Resources"] for p in reader.pages)  # the map image


def test_ics_reads_the_repeated_autumn_hour_as_daylight_time(plan, tmp_path):
    from dataclasses import replace

    from icalendar import Calendar

    # 2024-11-03 in Vancouver: 01:00-02:00 happens twice (PDT, UTC-7, then PST, UTC-8). A visit
    # at 01:20 is 08:20 UTC, not 01:20 read as UTC (18:20 the day before in Vancouver).
    visits = plan.visits.iloc[:2].copy()
    visits["start"] = pd.to_datetime(["2024-11-03 01:20", "2024-11-03 03:00"])
    visits["end"] = visits["start"] + pd.Timedelta(minutes=15)
    cal = Calendar.from_ical(ex.write_plan(replace(plan, visits=visits), tmp_path / "dst.ics").read_bytes())
    starts = [pd.Timestamp(e.decoded("DTSTART")).tz_convert("UTC") for e in cal.walk("VEVENT")]
    assert starts == [pd.Timestamp("2024-11-03 08:20", tz="UTC"), pd.Timestamp("2024-11-03 11:00", tz="UTC")]


def test_empty_plan_exports_are_valid(tmp_path):
    cells = gpd.GeoDataFrame({"cell_id": ["a"], "row": [0], "col": [0], "expected_count": [0.0],
                              "reasons": [[]]}, geometry=gpd.GeoSeries.from_xy([0], [0]).buffer(1e-3).values,
                             crs="EPSG:4326")
    empty = pt.build_patrol_plan(cells, start="2024-03-04 06:00", end="2024-03-04 14:00", meta=META)
    assert pd.read_csv(ex.write_plan(empty, tmp_path / "e.csv")).empty
    assert len(gpd.read_file(ex.write_plan(empty, tmp_path / "e.geojson"))) == 0
    from icalendar import Calendar

    assert Calendar.from_ical(ex.write_plan(empty, tmp_path / "e.ics").read_bytes()).walk("VEVENT") == []
    from pypdf import PdfReader

    assert "No hotspot" in PdfReader(ex.write_plan(empty, tmp_path / "e.pdf")).pages[0].extract_text()


def test_unknown_format_is_a_clean_error(plan, tmp_path):
    with pytest.raises(ConfigError, match=re.escape("format must be one of ['csv', 'geojson', 'kml', 'ics', 'pdf']; "
                                                    "got 'docx'")):
        ex.write_plan(plan, tmp_path / "plan.docx")


def test_simulated_plans_say_so_in_every_format_and_the_pdf_map_draws_streets(plan, tmp_path):
    import dataclasses

    from pypdf import PdfReader

    sim = dataclasses.replace(plan, meta={**plan.meta, "dataset": "simulated city"})
    assert pd.read_csv(ex.write_plan(sim, tmp_path / "s.csv"))["dataset"].eq("simulated city").all()
    assert json.loads(ex.write_plan(sim, tmp_path / "s.geojson").read_text())["crimecast"]["dataset"] \
        == "simulated city"
    assert "simulated city" in ex.write_plan(sim, tmp_path / "s.kml").read_text()
    assert "simulated city" in ex.write_plan(sim, tmp_path / "s.ics").read_text().lower()
    w, s, e, n = plan.cells.total_bounds
    streets = pd.DataFrame({"name": ["Georgia Street"], "wkt": [f"LINESTRING ({w} {(s + n) / 2}, {e} {(s + n) / 2})"]})
    reader = PdfReader(ex.write_plan(sim, tmp_path / "s.pdf", streets=streets))
    assert reader.metadata.title == "crimecast patrol plan (simulated city) 2024-03-04/2"
    assert "SIMULATEDCITY" in re.sub(r"\s+", "", reader.pages[0].extract_text())
    bare, with_streets = ex._map_png(sim).getvalue(), ex._map_png(sim, streets).getvalue()
    assert bare != with_streets


def test_pdf_scale_bar_is_a_round_length_near_a_fifth_of_the_width():
    from matplotlib.figure import Figure

    ax = Figure().add_subplot()
    ax.set_xlim(0.0, 0.03)  # about 3.3 km at the equator
    ax.set_ylim(0.0, 0.02)
    ex._scale_bar(ax, 0.0)
    (line,) = ax.lines
    length_m = np.ptp(line.get_xdata()) * 111_320.0
    assert length_m == pytest.approx(500.0)
    assert ax.texts[0].get_text() == "500 m"
