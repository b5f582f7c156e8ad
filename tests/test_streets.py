"""The simulated street grid, the streets layer and cell labels (known answers)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from forecasting.errors import ConfigError
from forecasting.streets import StreetGrid, name_city_streets, simulated_streets, write_streets

from .conftest import stored_rows


def test_street_grid_addresses_are_the_nearest_street_block():
    g = StreetGrid(centre=(0.0, 0.0), size_m=1000.0, spacing_m=250.0)
    # Metres from the south-west corner -> degrees at the equator.
    x = np.array([250.0, 130.0, 1000.0, 510.0])
    y = np.array([730.0, 500.0, 1000.0, 255.0])
    lon, lat = (x - 500) / 111_320.0, (y - 500) / 111_320.0
    assert g.addresses(lon, lat).tolist() == [
        "7XX Birch Avenue",    # on the second north-south street, 730 m north
        "1XX Church Street",   # 130 m east along the third east-west street
        "10XX Elm Avenue",     # the north-east corner: on both, north-south wins the tie
        "5XX Station Street",  # 5 m from the east-west street at 250 m, 10 m from a north-south one
    ]


def test_street_grid_lines_and_errors():
    lines = StreetGrid(centre=(5.1, 52.1), size_m=500.0, spacing_m=250.0).lines()
    assert lines["name"].tolist() == ["Alder Avenue", "Birch Avenue", "Cedar Avenue",
                                      "Market Street", "Station Street", "Church Street"]
    assert lines["wkt"].str.startswith("LINESTRING (").all()
    with pytest.raises(ConfigError, match="spacing_m must be a positive number of metres; got 0"):
        StreetGrid(centre=(0, 0), size_m=100.0, spacing_m=0.0)


def test_simulated_city_gets_block_addresses_and_streets(tmp_path):
    from forecasting.simulate import SimulationConfig, simulate_city

    city = simulate_city(SimulationConfig(days=14, seed=3))
    grid = name_city_streets(city)
    assert grid == simulated_streets(city.config)
    assert city.incidents["address"].str.fullmatch(r"\d+XX \w+ (Avenue|Street)").all()
    path = write_streets(grid.lines(), tmp_path / "streets.geojson")
    doc = json.loads(path.read_text())
    assert len(doc["features"]) == 2 * grid.n_streets
    assert doc["features"][0]["properties"] == {"name": "Alder Avenue", "simulated": True}


def test_ingest_streets_counts_duplicates_and_quarantines(factory, settings, tmp_path):
    from forecasting.jobs.places import ingest_streets
    from forecasting.store.models import Street

    grid = StreetGrid(centre=(5.1, 52.1), size_m=500.0, spacing_m=250.0)
    path = write_streets(grid.lines(), tmp_path / "streets.geojson")
    doc = json.loads(path.read_text())
    doc["features"].append({"type": "Feature", "properties": {"name": "Lost Lane"},
                            "geometry": {"type": "Point", "coordinates": [5.1, 52.1]}})
    path.write_text(json.dumps(doc))
    first = ingest_streets(factory, settings, path, source="town")
    assert (first.rows_read, first.loaded, first.quarantined) == (7, 6, 1)
    assert first.quarantined_by_reason == {"not_a_line": 1}
    again = ingest_streets(factory, settings, path, source="town")
    assert (again.loaded, again.duplicates) == (0, 6)
    assert stored_rows(factory, Street) == 6


def test_cell_labels_prefer_the_most_frequent_address_then_streets_then_places(factory, settings):
    from forecasting.jobs.places import cell_labels
    from forecasting.store import grids as grids_repo
    from forecasting.store import repository as repo
    from forecasting.store.places import insert_places
    from forecasting.store.session import transaction
    from forecasting.store.streets import insert_streets

    # Three 0.001-degree cells in a row along the equator.
    cells = pd.DataFrame({
        "cell_id": ["a", "b", "c"], "row": [0, 0, 0], "col": [0, 1, 2],
        "centroid_lon": [0.0005, 0.0015, 0.0095], "centroid_lat": [0.0005] * 3, "area_m2": [1.0] * 3,
        "polygon_wkt": [f"POLYGON (({x} 0, {x + 0.001} 0, {x + 0.001} 0.001, {x} 0.001, {x} 0))"
                        for x in (0.0, 0.001, 0.009)]})
    with transaction(factory) as s:
        gid = grids_repo.upsert_grid(session=s, key="test", kind="square", crs="EPSG:3857", cell_size=111.0,
                             origin_x=0.0, origin_y=0.0)
        grids_repo.save_cells(session=s, grid_id=gid, cells=cells)
        run = repo.create_run(session=s, kind="incidents", source_path="t", format="canonical", source="t",
                              sha256=None)
        addr = ["1XX A ST", "1XX A ST", "2XX B ST", None]
        repo.insert_incidents(session=s, run_id=run, source="t", frame=pd.DataFrame({
            "incident_id": list("wxyz"), "occurred_at": pd.Timestamp("2024-01-01", tz="UTC"),
            "time_resolution": "minute", "tz": "UTC", "longitude": [0.0002, 0.0004, 0.0006, 0.0015],
            "latitude": 0.0005, "source_crs": "EPSG:4326", "source_x": None, "source_y": None,
            "category": "x", "category_group": "other", "content_hash": list("wxyz"), "attributes": None,
            "address": addr}))
        insert_streets(session=s, run_id=run, source="t", frame=pd.DataFrame({
            "street_id": ["s1"], "name": ["Quay Road"], "wkt": ["LINESTRING (0.0015 -0.01, 0.0015 0.01)"]}))
        insert_places(session=s, run_id=run, source="t", frame=pd.DataFrame({
            "place_id": ["p1"], "category": ["rail_station"], "name": ["Central Station"],
            "longitude": [0.0097], "latitude": [0.0020], "row_number": [1]}))
    labels = cell_labels(factory, grid_id=gid)
    assert labels.to_dict() == {"a": "1XX A ST", "b": "Quay Road", "c": "near Central Station"}
    # Computed once: stored labels are served even after the inputs change.
    with transaction(factory) as s:
        s.execute(__import__("sqlalchemy").text("DELETE FROM streets"))
    assert cell_labels(factory, grid_id=gid).to_dict() == labels.to_dict()


def test_cell_labels_without_any_address_street_or_place_are_none(factory):
    from forecasting.jobs.places import cell_labels
    from forecasting.store import grids as grids_repo
    from forecasting.store.session import transaction

    cells = pd.DataFrame({"cell_id": ["a"], "row": [0], "col": [0], "centroid_lon": [0.0005],
                          "centroid_lat": [0.0005], "area_m2": [1.0],
                          "polygon_wkt": ["POLYGON ((0 0, 0.001 0, 0.001 0.001, 0 0.001, 0 0))"]})
    with transaction(factory) as s:
        gid = grids_repo.upsert_grid(session=s, key="empty", kind="square", crs="EPSG:3857", cell_size=111.0,
                             origin_x=0.0, origin_y=0.0)
        grids_repo.save_cells(session=s, grid_id=gid, cells=cells)
    assert cell_labels(factory, grid_id=gid).to_dict() == {"a": None}


def test_ingest_streets_command_and_its_errors(tmp_path):
    from typer.testing import CliRunner

    from forecasting.cli import app

    env = {"CRIMECAST_DATA_DIR": str(tmp_path / "var")}
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    path = write_streets(StreetGrid(centre=(5.1, 52.1), size_m=500.0).lines(), tmp_path / "s.geojson")
    out = runner.invoke(app, ["ingest", "streets", str(path), "--json"], env=env)
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["loaded"] == 6
    bad = runner.invoke(app, ["ingest", "streets", str(tmp_path / "s.csv")], env=env)
    assert bad.exit_code == 1 and bad.stderr.strip() == f"Error: input file {str(tmp_path / 's.csv')!r} does not exist"
