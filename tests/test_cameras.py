"""Camera registries: view polygons, adapters, idempotent ingestion, privacy by schema."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import shapely
from pyproj import Transformer
from sqlalchemy import inspect, select

from forecasting.errors import ConfigError, InputError
from forecasting.ingest.cameras import view_polygons
from forecasting.jobs.cameras import ingest_cameras
from forecasting.store import cameras as crepo
from forecasting.store.models import Camera
from forecasting.store.session import make_engine, transaction

from .conftest import SAMPLE, shared_file

LEEDS = SAMPLE / "leeds_camera_locs.csv"
CAM_HEADER = "camera_id,longitude,latitude,heading_deg,fov_deg,range_m,status\n"


def _metric(polys, lon0, lat0):
    tr = Transformer.from_crs("EPSG:4326", "EPSG:32630", always_xy=True)
    return shapely.transform(polys, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))


def test_a_sector_sees_ahead_within_range_and_nothing_behind():
    lon, lat = -1.5424, 53.7966
    sector = view_polygons([lon], [lat], [90.0], [60.0], [80.0])[0]  # facing east
    ahead = Transformer.from_crs("EPSG:4326", "EPSG:32630", always_xy=True)
    x, y = ahead.transform(lon, lat)
    back = Transformer.from_crs("EPSG:32630", "EPSG:4326", always_xy=True)
    east_70 = shapely.Point(*back.transform(x + 70, y))
    east_90 = shapely.Point(*back.transform(x + 90, y))
    west_10 = shapely.Point(*back.transform(x - 10, y))
    north_50 = shapely.Point(*back.transform(x, y + 50))
    assert sector.contains(east_70)
    assert not sector.contains(east_90) and not sector.contains(west_10) and not sector.contains(north_50)
    # Area of a 60-degree sector of radius 80 m: pi r^2 / 6 (within the polygon's chord error).
    area = shapely.area(_metric(np.array([sector]), lon, lat))[0]
    assert area == pytest.approx(np.pi * 80**2 / 6, rel=0.01)


def test_unknown_heading_or_full_circle_gives_a_circle_of_the_default_range():
    polys = view_polygons([-1.54, -1.54], [53.79, 53.79], [np.nan, 10.0], [90.0, 360.0], [np.nan, 30.0],
                          default_range_m=50)
    areas = shapely.area(_metric(polys, -1.54, 53.79))
    assert areas[0] == pytest.approx(np.pi * 50**2, rel=0.02)
    assert areas[1] == pytest.approx(np.pi * 30**2, rel=0.02)


def test_default_range_must_be_positive():
    with pytest.raises(ConfigError, match=re.escape("default_range_m must be a positive number of metres; got -5")):
        view_polygons([0.1], [0.1], default_range_m=-5)


def test_leeds_registry_blank_rows_are_quarantined_and_a_rerun_is_all_duplicates(factory, settings):
    first = ingest_cameras(factory, settings, LEEDS, "leeds")
    assert (first.rows_read, first.loaded, first.duplicates) == (16, 8, 0)
    assert first.quarantined_by_reason == {"empty_row": 8}
    again = ingest_cameras(factory, settings, LEEDS, "leeds")
    assert (again.loaded, again.duplicates, again.quarantined) == (0, 8, 8)
    with transaction(factory) as s:
        cams = crepo.load_cameras(session=s)
    assert len(cams) == 8 and set(cams["kind"]) == {"footfall_camera"}
    assert not cams["simulated"].any()
    views = shapely.from_wkt(cams["view_wkt"].to_numpy())
    assert shapely.contains(views, shapely.points(cams["longitude"], cams["latitude"])).all()


def test_a_changed_registry_entry_is_updated_and_an_in_file_conflict_is_quarantined(factory, settings, tmp_path):
    (tmp_path / "a.csv").write_text(CAM_HEADER + "c1,-1.54,53.79,90,60,40,active\nc2,-1.55,53.79,,,,\n")
    (tmp_path / "b.csv").write_text(CAM_HEADER + "c1,-1.54,53.79,90,60,40,offline\nc2,-1.55,53.79,,,,\n"
                                    "c3,-1.56,53.79,,,,\nc3,-1.57,53.79,,,,\nc4,-1.58,53.79,400,,,\n")
    ingest_cameras(factory, settings, tmp_path / "a.csv", "canonical")
    s = ingest_cameras(factory, settings, tmp_path / "b.csv", "canonical")
    assert s.rows_read == s.loaded + s.duplicates + s.quarantined
    assert (s.loaded, s.updated, s.duplicates) == (2, 1, 1)  # c1 updated, c3 new; c2 unchanged
    assert s.quarantined_by_reason == {"conflicting_id": 1, "invalid_view": 1}  # c3 again; heading 400
    with transaction(factory) as sess:
        status = dict(sess.execute(select(Camera.camera_id, Camera.status)).all())
    assert status == {"c1": "offline", "c2": "active", "c3": "active"}


def test_invalid_rows_get_named_reasons(factory, settings, tmp_path):
    (tmp_path / "bad.csv").write_text(
        CAM_HEADER + ",-1.5,53.7,,,,\nx1,,,,,,\nx2,0,0,,,,\nx3,200,53,,,,\nx4,-1.5,53.7,0,0,,\n"
        "x5,-1.5,53.7,,,-3,\nx6,-1.5,53.7,,,,broken\nok,-1.5,53.7,,,,\n")
    s = ingest_cameras(factory, settings, tmp_path / "bad.csv", "canonical")
    assert s.loaded == 1
    assert s.quarantined_by_reason == {
        "missing_id": 1, "missing_coordinates": 1, "zero_coordinates": 1, "out_of_range_coordinates": 1,
        "invalid_view": 2, "invalid_status": 1}


def test_geojson_registry_and_simulated_flag(factory, settings, tmp_path):
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [-1.54, 53.79]},
         "properties": {"camera_id": "g1", "heading_deg": 180, "fov_deg": 90, "range_m": 60}},
        {"type": "Feature", "geometry": None, "properties": {"camera_id": "g2"}}]}
    path = tmp_path / "simulated_cams.geojson"
    path.write_text(json.dumps(fc))
    s = ingest_cameras(factory, settings, path, "canonical")
    assert (s.loaded, s.quarantined_by_reason) == (1, {"missing_coordinates": 1})
    with transaction(factory) as sess:
        cams = crepo.load_cameras(session=sess)
    assert cams["simulated"].tolist() == [True] and cams["heading_deg"].tolist() == [180.0]


def test_cta_entries_give_one_site_per_station(factory, settings):
    s = ingest_cameras(factory, settings, SAMPLE / "cta_station_entries_5_stations_2011.csv.gz", "chicago-cta")
    assert s.loaded == 5 and s.rows_read == 2219
    # Station 40280 is published at two positions: the later one is a conflict, not a move.
    assert s.quarantined_by_reason.get("conflicting_id", 0) > 300
    assert s.rows_read == s.loaded + s.duplicates + s.quarantined


def test_wrong_format_is_refused_with_the_columns_found(factory, settings):
    with pytest.raises(InputError, match="camera format 'melbourne' needs columns"):
        ingest_cameras(factory, settings, LEEDS, "melbourne")
    with pytest.raises(InputError, match=re.escape("camera format must be one of")):
        ingest_cameras(factory, settings, LEEDS, "nope")


FORBIDDEN = re.compile(r"image|photo|face|plate|licen[cs]e|mac|device|person|people_id|imsi|imei|phone|"
                       r"bluetooth|wifi|track|biometric|name_of", re.I)


def test_count_tables_hold_aggregates_only_on_the_migrated_schema(sqlite_url):
    """Privacy by schema: no column that could hold an image, face, plate, device id or person."""
    engine = make_engine(sqlite_url)
    insp = inspect(engine)
    try:
        for table in ("activity_counts", "count_gaps", "cameras"):
            cols = insp.get_columns(table)
            assert cols, table
            for c in cols:
                assert not FORBIDDEN.search(c["name"]), (table, c["name"])
                t = str(c["type"]).upper()
                assert not any(b in t for b in ("BLOB", "BINARY", "BYTEA", "LARGEBINARY", "VARBINARY")), (table, c)
        counts = {c["name"] for c in insp.get_columns("activity_counts")}
        assert {"people", "vehicles", "cyclists"} <= counts
        assert {str(c["type"]).upper() for c in insp.get_columns("activity_counts")
                if c["name"] in ("people", "vehicles", "cyclists")} == {"INTEGER"}
    finally:
        engine.dispose()


def test_cli_ingest_cameras_json(sqlite_url, monkeypatch):
    from typer.testing import CliRunner

    from forecasting.cli import app

    r = CliRunner().invoke(app, ["--database-url", sqlite_url, "ingest", "cameras", str(LEEDS), "--format", "leeds",
                                 "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert (out["rows_read"], out["loaded"], out["quarantined"]) == (16, 8, 8)
    bad = CliRunner().invoke(app, ["--database-url", sqlite_url, "ingest", "cameras", str(LEEDS), "-f", "x"])
    assert bad.exit_code == 1 and "camera format must be one of" in bad.output


@pytest.mark.slow
@pytest.mark.shared
@pytest.mark.parametrize("fmt,parts,loaded,reasons", [
    ("leeds", ("leeds_footfall", "camera_locs.csv"), 8, {"empty_row": 8}),
    ("melbourne", ("melbourne_pedestrians", "Pedestrian_sensor_locations.csv"), 43, {}),
    ("auckland", ("auckland_pedestrians", "locations.csv"), 21, {}),
    ("chicago-cta", ("chicago", "CTA_L_Stops.csv"), 143, {"conflicting_id": 3}),
])
def test_shared_registries_ingest(factory, settings, fmt, parts, loaded, reasons):
    s = ingest_cameras(factory, settings, shared_file(*parts), fmt)
    assert s.rows_read == s.loaded + s.duplicates + s.quarantined
    assert s.loaded == loaded
    if reasons:
        assert s.quarantined_by_reason == reasons
