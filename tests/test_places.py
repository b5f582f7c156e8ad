"""Places and area layers: formats, ids, idempotency, Voronoi cells of valued points."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import shapely

from forecasting.errors import ConfigError, InputError
from forecasting.ingest.places import read_areas, read_places
from forecasting.jobs.cameras import ingest_areas, ingest_places
from forecasting.store import places as places_repo
from forecasting.store.session import transaction

from .conftest import shared_file


def test_formats_are_detected(tmp_path):
    (tmp_path / "xy.csv").write_text("NAME,LAT,LON\na,49.2,-123.1\n")
    (tmp_path / "pair.csv").write_text('STOP,Location\na,"(41.85, -87.66)"\n')
    (tmp_path / "wkt.csv").write_text('id,point\na,POINT (-122.4 37.7)\nb,garbage\n')
    (tmp_path / "gj.csv").write_text('STATION,Geom\na,"{""coordinates"":[-123.11,49.28],""type"":""Point""}"\n')
    got = {p: next(read_places(tmp_path / p, category="x")) for p in ("xy.csv", "pair.csv", "wkt.csv", "gj.csv")}
    assert got["xy.csv"].rows[["longitude", "latitude"]].values.tolist() == [[-123.1, 49.2]]
    assert got["pair.csv"].rows[["longitude", "latitude"]].values.tolist() == [[-87.66, 41.85]]
    assert got["wkt.csv"].rows[["longitude", "latitude"]].values.tolist() == [[-122.4, 37.7]]
    assert got["wkt.csv"].quarantined["reason"].tolist() == ["missing_coordinates"]
    assert got["gj.csv"].rows[["longitude", "latitude", "name"]].values.tolist() == [[-123.11, 49.28, "a"]]


def test_category_arguments_and_missing_coordinates_are_explicit(tmp_path):
    (tmp_path / "p.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ConfigError, match="give exactly one of category and category_column"):
        next(read_places(tmp_path / "p.csv"))
    with pytest.raises(InputError, match="cannot find coordinates"):
        next(read_places(tmp_path / "p.csv", category="x"))
    with pytest.raises(InputError, match=re.escape("--category-column must be a column of the file; got 'k'")):
        next(read_places(tmp_path / "p.csv", category_column="k", lon_column="a", lat_column="b"))


def test_places_ingest_is_idempotent_and_flags_simulated(factory, settings, tmp_path):
    path = tmp_path / "simulated_places.csv"
    path.write_text("category,name,longitude,latitude\nbar,A,-1.5,53.7\nbar,A,-1.5,53.7\nschool,,-1.6,53.7\n"
                    ",B,-1.5,53.7\nbar,C,,\n")
    s = ingest_places(factory, settings, path, category_column="category")
    assert (s.rows_read, s.loaded, s.duplicates) == (5, 3, 0)  # identical rows are separate places
    assert s.quarantined_by_reason == {"missing_category": 1, "missing_coordinates": 1}
    again = ingest_places(factory, settings, path, category_column="category")
    assert (again.loaded, again.duplicates) == (0, 3)
    with transaction(factory) as sess:
        pl = places_repo.load_places(session=sess)
    assert pl["simulated"].all() and sorted(pl["category"]) == ["bar", "bar", "school"]


def test_a_stable_id_with_new_content_is_a_conflict(factory, settings, tmp_path):
    (tmp_path / "a.csv").write_text("id,lon,lat\n1,-1.5,53.7\n")
    (tmp_path / "b.csv").write_text("id,lon,lat\n1,-1.6,53.7\n")
    ingest_places(factory, settings, tmp_path / "a.csv", category="station", id_column="id", source="s")
    s = ingest_places(factory, settings, tmp_path / "b.csv", category="station", id_column="id", source="s")
    assert s.quarantined_by_reason == {"conflicting_id": 1} and s.loaded == 0


def test_area_polygons_and_valued_points(factory, settings, tmp_path):
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"zone": "a", "pop": 100},
         "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [0.01, 0], [0.01, 0.01], [0, 0.01], [0, 0]]]}},
        {"type": "Feature", "properties": {"zone": "b", "pop": None},
         "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [0.01, 0], [0.01, 0.01], [0, 0]]]}}]}
    (tmp_path / "zones.geojson").write_text(json.dumps(fc))
    s = ingest_areas(factory, settings, tmp_path / "zones.geojson", layer="population", value_column="pop",
                     id_column="zone")
    assert (s.loaded, s.quarantined_by_reason) == (1, {"missing_value": 1})
    again = ingest_areas(factory, settings, tmp_path / "zones.geojson", layer="population", value_column="pop",
                         id_column="zone")
    assert (again.loaded, again.duplicates) == (0, 1)
    # Points with values become Voronoi cells that tile the hull: each point in its own cell.
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 0.02, (40, 2))
    lines = "".join(f"{i},POINT ({x:.6f} {y:.6f}),{i * 10}\n" for i, (x, y) in enumerate(xy))
    (tmp_path / "vol.csv").write_text("id,point,vol\n" + lines)
    ch = read_areas(tmp_path / "vol.csv", value_column="vol", id_column="id")
    polys = shapely.from_wkt(ch.rows["polygon_wkt"].to_numpy())
    assert shapely.contains(polys, shapely.points(xy)).all()
    overlap = shapely.area(shapely.union_all(polys)) / shapely.area(polys).sum()
    assert overlap == pytest.approx(1.0, abs=1e-6)


@pytest.mark.shared
@pytest.mark.parametrize("parts,kw,loaded", [
    (("chicago", "CTA_L_Stops.csv"), {"category": "rail_station", "id_column": "STOP_ID"}, 298),
    (("chicago", "Police_Stations.csv"), {"category": "police_station", "id_column": "DISTRICT"}, 22),
    (("vancouver", "poi", "schools.csv"), {"category_column": "SCHOOL_CATEGORY"}, 194),
    (("vancouver", "poi", "rapid-transit-stations.csv"), {"category": "rapid_transit_station"}, 22),
])
def test_shared_place_files(factory, settings, parts, kw, loaded):
    s = ingest_places(factory, settings, shared_file(*parts), **kw)
    assert s.loaded == loaded and s.rows_read == s.loaded + s.duplicates + s.quarantined


@pytest.mark.shared
def test_sf_pedestrian_volume_as_an_area_layer(factory, settings):
    s = ingest_areas(factory, settings, shared_file("san_francisco", "sf_pedestrian_volume_model.csv.gz"),
                     layer="pedestrian_volume", value_column="MODEL6_VOL", id_column="CNN")
    assert (s.rows_read, s.loaded) == (8135, 8135)
