"""End to end: `crimecast priority` and `crimecast export patrol` on a migrated SQLite database
filled through the store, and the camera-choice evaluation on hand-built data."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

from forecasting.cli import app
from forecasting.config import load_settings
from forecasting.grid import Grid

runner = CliRunner()
TZ = "America/Vancouver"
# Shift 2024-03-04/2 = 22:00 local (PST, UTC-8) = 06:00 UTC on 2024-03-05.
SHIFT = "2024-03-04/2"
SHIFT_START_UTC = datetime(2024, 3, 5, 6, tzinfo=UTC)
SHIFT_END_UTC = datetime(2024, 3, 5, 14, tzinfo=UTC)
N = 8
HOT = {(1, 1): 1.0, (1, 2): 0.9, (2, 1): 0.8, (2, 2): 0.7, (6, 6): 0.8, (6, 5): 0.5}


def _grid() -> Grid:
    rows, cols = np.divmod(np.arange(N * N), N)
    return Grid(crs="EPSG:32610", cell_size=150, col=3268 + cols, row=36388 + rows)


def _cells_frame(g: Grid) -> pd.DataFrame:
    polys = g.polygons().geometry.values
    cent = shapely.centroid(np.asarray(polys))
    return pd.DataFrame({"cell_id": g.cell_ids.astype(str), "row": g.row, "col": g.col,
                         "centroid_lon": shapely.get_x(cent), "centroid_lat": shapely.get_y(cent),
                         "area_m2": 150.0 * 150.0, "polygon_wkt": shapely.to_wkt(polys)})


def _cell_poly(g: Grid, r: int, c: int):
    polys = g.polygons().geometry.values
    return polys[int(np.flatnonzero((g.raster_row == r) & (g.raster_col == c))[0])]


def _view(g: Grid, cells: list[tuple[int, int]]):
    """A view polygon seeing exactly these cells (their union: the same cells by area and by centroid)."""
    return shapely.union_all([_cell_poly(g, r, c) for r, c in cells])


def _fill(factory, *, with_forecast=True, incidents_in_shift=False):
    from forecasting.store import forecasts as fc
    from forecasting.store import grids as grids_repo
    from forecasting.store import model_versions as versions_repo
    from forecasting.store import repository as repo
    from forecasting.store.models import ActivityCount, Camera
    from forecasting.store.session import transaction

    g = _grid()
    cells = _cells_frame(g)
    exp = np.array([HOT.get((int(r), int(c)), 0.01) for r, c in zip(g.raster_row, g.raster_col, strict=True)])
    reasons = [["5 incidents in the last 4 weeks", "Friday night"] if v >= 0.8 else None for v in exp]
    with transaction(factory) as s:
        gid = grids_repo.upsert_grid(session=s, key="square:EPSG:32610:150:0:0", kind="square", crs="EPSG:32610",
                             cell_size=150.0, origin_x=0.0, origin_y=0.0)
        grids_repo.save_cells(session=s, grid_id=gid, cells=cells)
        if with_forecast:
            mv = versions_repo.add_model_version(session=s, name="lgbm", category="all", period="shift", grid_id=gid)
            frame = pd.DataFrame({"cell_id": cells["cell_id"], "expected_count": exp,
                                  "probability": -np.expm1(-exp), "score": exp,
                                  "rank": pd.Series(-exp).rank(method="first").astype(int).to_numpy(),
                                  "reasons": reasons})
            fc.save_forecast(session=s, frame=frame, grid_id=gid, model="lgbm", category="all", period="shift",
                             period_start=SHIFT_START_UTC, period_end=SHIFT_END_UTC, model_version_id=mv,
                             data_until=SHIFT_START_UTC)
        run = repo.create_run(session=s, kind="incidents", source_path="test", format="vancouver",
                              source="vancouver", sha256=None)
        # History: incidents on the two clusters with block addresses; the last one at 21:30 local.
        spots = [((1, 1), "10XX W GEORGIA ST"), ((1, 1), "10XX W GEORGIA ST"), ((2, 2), "11XX ROBSON ST"),
                 ((6, 6), "9XX GRANVILLE ST"), ((0, 7), "1XX MAIN ST")]
        rows = []
        for i, ((r, c), addr) in enumerate(spots):
            p = _cell_poly(g, r, c).centroid
            rows.append({"incident_id": f"h{i}", "occurred_at": pd.Timestamp("2024-03-05 05:30", tz="UTC")
                         - pd.Timedelta(days=i), "lon": p.x, "lat": p.y, "address": addr, "attributes": json.dumps(
                             {"NEIGHBOURHOOD": "Central Business District"})})
        if incidents_in_shift:
            # During the shift: 3 on cluster 1, 1 on cluster 2, 1 at the busy square (low risk).
            for i, (r, c) in enumerate([(1, 1), (2, 2), (1, 2), (6, 6), (4, 0)]):
                p = _cell_poly(g, r, c).centroid
                rows.append({"incident_id": f"s{i}", "occurred_at": pd.Timestamp("2024-03-05 08:00", tz="UTC"),
                             "lon": p.x, "lat": p.y, "address": None, "attributes": None})
        inc = pd.DataFrame(rows)
        frame = pd.DataFrame({
            "incident_id": inc["incident_id"], "occurred_at": inc["occurred_at"], "time_resolution": "minute",
            "tz": TZ, "longitude": inc["lon"], "latitude": inc["lat"], "source_crs": "EPSG:4326",
            "source_x": None, "source_y": None, "category": "Theft from Vehicle", "category_group": "vehicle",
            "content_hash": inc["incident_id"], "attributes": inc["attributes"], "address": inc["address"]})
        repo.insert_incidents(session=s, frame=frame, source="vancouver", run_id=run)
        # Cameras: A sees cluster 1; B half of it (overlap); C cluster 2; D the busy square (low risk);
        # E is retired and F offline: neither may be chosen.
        views = {"A": [(1, 1), (1, 2), (2, 1), (2, 2)], "B": [(1, 2), (2, 2)], "C": [(6, 6), (6, 5)],
                 "D": [(4, 0), (5, 0)], "E": [(6, 6)], "F": [(1, 1)]}
        pks = {}
        for cid, vc in views.items():
            v = _view(g, vc)
            cam = Camera(source="city", camera_id=cid, name=f"Camera {cid}", kind="cctv",
                         longitude=v.centroid.x, latitude=v.centroid.y, view_wkt=v.wkt,
                         installed_at=datetime(2020, 1, 1, tzinfo=UTC),
                         retired_at=datetime(2023, 1, 1, tzinfo=UTC) if cid == "E" else None,
                         status={"E": "retired", "F": "offline"}.get(cid, "active"), simulated=True)
            s.add(cam)
            s.flush()
            pks[cid] = cam.id
        crun = repo.create_run(session=s, kind="counts", source_path="test", format="canonical", source="city",
                               sha256=None)
        people = {"A": 50, "B": 400, "C": 20, "D": 900}
        for cid, n in people.items():
            for d in range(3):
                s.add(ActivityCount(camera_pk=pks[cid], period_start=SHIFT_START_UTC - pd.Timedelta(days=d + 1),
                                    resolution="day", people=n, content_hash=f"{cid}{d}", run_id=crun))
    return g


@pytest.fixture
def env(tmp_path, factory, settings):
    return {"CRIMECAST_DATA_DIR": str(tmp_path / "var")}


def _run(args, env):
    return runner.invoke(app, args, env=env)


def test_priority_cameras_json_default_shift(env, factory):
    _fill(factory)
    r = _run(["priority", "cameras", "--k", "2", "--json"], env)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["shift"] == SHIFT and doc["timezone"] == TZ
    assert doc["period_start"] == "2024-03-04T22:00:00"
    assert [c["camera_id"] for c in doc["cameras"]] == ["A", "C"]
    assert doc["n_cameras"] == 4  # E retired, F offline
    # Coverage by area: the views are the cells' union, up to the 1e-7 degree rounding of stored WKT.
    assert doc["cameras"][0]["marginal_risk"] == pytest.approx(3.4, rel=1e-3)
    assert doc["cameras"][1]["marginal_risk"] == pytest.approx(1.3, rel=1e-3)
    assert doc["cameras"][0]["top_cells"][0]["reasons"] == ["5 incidents in the last 4 weeks", "Friday night"]
    assert "not seen by higher-ranked" not in doc["cameras"][0]["explanation"]


def test_priority_cameras_text_and_explicit_shift(env, factory):
    _fill(factory)
    r = _run(["priority", "cameras", "--shift", SHIFT, "--k", "3"], env)
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f"shift {SHIFT} (2024-03-04T22:00:00 to 2024-03-05T06:00:00 {TZ}), model lgbm")
    assert lines[1].startswith("#1 A: 3.40 expected incidents in view, all new. Main cells:")
    # Third pick: B only re-sees cluster 1; D sees the busy square's low risk, which is new.
    assert lines[3].startswith("#3 D:")


def test_priority_sites_json(env, factory):
    from sqlalchemy import update

    from forecasting.store.models import Camera
    from forecasting.store.session import transaction

    g = _fill(factory)
    with transaction(factory) as s:  # camera C goes offline: cluster 2 is unseen
        s.execute(update(Camera).where(Camera.camera_id == "C").values(status="offline"))
    r = _run(["priority", "sites", "--budget", "1", "--radius", "160", "--gaps", "6", "--json"], env)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    ids = pd.Series(g.cell_ids.astype(str), index=list(zip(g.raster_row.tolist(), g.raster_col.tolist(),
                                                           strict=True)))
    assert [(x["cell_id"], x["risk_rank"]) for x in doc["gaps"]] == [(ids[(6, 6)], 4), (ids[(6, 5)], 6)]
    assert doc["unseen_top_share"] == pytest.approx(1.3 / 4.7)
    assert len(doc["sites"]) == 1
    site = doc["sites"][0]
    assert site["site_id"] in (ids[(6, 6)], ids[(6, 5)])
    assert {ids[(6, 6)], ids[(6, 5)]} <= set(site["new_cell_ids"])
    assert site["added_risk"] == pytest.approx(1.3 + 0.01 * (site["n_new_cells"] - 2))
    assert doc["guarantee"] >= 0.632 and doc["upper_bound"] >= site["added_risk"]
    r = _run(["priority", "sites", "--budget", "1", "--radius", "160"], env)
    assert r.exit_code == 0 and "site 1: " in r.stdout


def test_export_patrol_every_format_and_audit(env, factory, tmp_path):
    from forecasting.store.governance import audit_frame, patrol_visits
    from forecasting.store.session import transaction

    _fill(factory)
    for fmt in ("csv", "geojson", "kml", "ics", "pdf"):
        out = tmp_path / f"plan.{fmt}"
        r = _run(["export", "patrol", "--format", fmt, "--out", str(out), "--user", "analyst1", "--json"], env)
        assert r.exit_code == 0, r.output
        doc = json.loads(r.stdout)
        assert doc["shift"] == SHIFT and doc["hotspots"] == 2 and out.exists()
    back = pd.read_csv(tmp_path / "plan.csv")
    assert back["address"].tolist() == ["10XX W GEORGIA ST", "9XX GRANVILLE ST"]
    assert set(back["model_version"].astype(str)) == {"1"}
    gj = gpd.read_file(tmp_path / "plan.geojson")
    assert gj["hotspot_id"].tolist() == back["hotspot_id"].tolist()
    with transaction(factory) as s:
        audit = audit_frame(session=s, action="export")
    assert len(audit) == 5 and set(audit["username"]) == {"analyst1"}
    assert sorted(d["format"] for d in audit["details"]) == ["csv", "geojson", "ics", "kml", "pdf"]
    assert all(d["shift"] == SHIFT and d["model_version"] == "1" for d in audit["details"])
    with transaction(factory) as s:  # every export stores its visit windows for the feedback-loop guard
        visits = patrol_visits(session=s)
    assert len(visits) == 5 * doc["visits"] and visits["cell_ids"].map(len).min() >= 1


def test_export_patrol_default_user_is_the_os_user(env, factory, tmp_path, monkeypatch):
    from forecasting.store.governance import audit_frame
    from forecasting.store.session import transaction

    monkeypatch.setattr("getpass.getuser", lambda: "os-user")
    _fill(factory)
    r = _run(["export", "patrol", "--format", "csv", "--out", str(tmp_path / "p.csv")], env)
    assert r.exit_code == 0, r.output
    assert "2 hotspots" in r.stdout
    with transaction(factory) as s:
        assert audit_frame(session=s, action="export")["username"].tolist() == ["os-user"]


def test_export_patrol_by_area(env, factory, tmp_path):
    g = _fill(factory)
    minx, miny, maxx, maxy = g.polygons().total_bounds
    mid = (miny + maxy) / 2
    areas = gpd.GeoDataFrame({"beat": ["north", "south"]},
                             geometry=[shapely.box(minx, mid, maxx, maxy), shapely.box(minx, miny, maxx, mid)],
                             crs="EPSG:4326")
    areas.to_file(tmp_path / "beats.geojson", driver="GeoJSON")
    out = tmp_path / "south.csv"
    r = _run(["export", "patrol", "--format", "csv", "--out", str(out), "--areas", str(tmp_path / "beats.geojson"),
              "--area-field", "beat", "--area", "south", "--json"], env)
    assert r.exit_code == 0, r.output
    back = pd.read_csv(out)
    assert back["area"].tolist() == ["south"] and back["address"].tolist() == ["10XX W GEORGIA ST"]
    r = _run(["export", "patrol", "--format", "csv", "--out", str(out), "--areas", str(tmp_path / "beats.geojson"),
              "--area-field", "beat", "--area", "east"], env)
    assert r.exit_code == 1
    assert r.stderr.strip() == "Error: area must be one of ['north', 'south']; got 'east'"


def test_clean_one_line_errors(env, factory, tmp_path):
    _fill(factory, with_forecast=False)
    for args in (["priority", "cameras"], ["priority", "sites", "--budget", "2"],
                 ["export", "patrol", "--format", "csv", "--out", str(tmp_path / "x.csv")]):
        r = _run(args, env)
        assert r.exit_code == 1, r.output
        assert r.stderr.strip() == "Error: no shift forecast stored; run `crimecast forecast --period shift` first"
    assert not (tmp_path / "x.csv").exists()


def test_argument_errors(env, factory, tmp_path):
    _fill(factory)
    cases = [
        (["priority", "cameras", "--k", "0"], "Error: k must be a positive integer; got 0"),
        (["priority", "cameras", "--shift", "2024-03-04"],
         "Error: shift must look like DATE/SHIFT, e.g. 2024-03-04/2; got '2024-03-04'"),
        (["priority", "cameras", "--weight", "violent"],
         "Error: --weight must look like CATEGORY=NUMBER, e.g. violent=3; got 'violent'"),
        (["priority", "sites", "--budget", "0"], "Error: budget must be a positive integer; got 0"),
        (["export", "patrol", "--format", "docx", "--out", str(tmp_path / "a.docx")],
         "Error: format must be one of ['csv', 'geojson', 'kml', 'ics', 'pdf']; got 'docx'"),
        (["export", "patrol", "--format", "csv", "--out", str(tmp_path / "a.csv"), "--visit-minutes", "45"],
         "Error: visit_minutes must be between 10 and 16 minutes (the Koper curve); got 45.0"),
        (["export", "patrol", "--format", "csv", "--out", str(tmp_path / "a.csv"), "--area", "north"],
         "Error: area must be 'all' when no patrol areas are given (pass --areas FILE or --areas-layer LAYER); "
         "got 'north'"),
    ]
    for args, message in cases:
        r = _run(args, env)
        assert r.exit_code == 1, (args, r.output)
        assert r.stderr.strip() == message
    r = _run(["priority", "cameras", "--shift", "2024-03-05/0"], env)
    assert r.exit_code == 1
    assert re.fullmatch(r"Error: no shift forecast stored for shift 2024-03-05/0 \(starting 2024-03-05 06:00:00 "
                        r"America/Vancouver\); stored shifts include 2024-03-04/2; run .*", r.stderr.strip())


def test_no_cameras_is_a_clean_error(env, factory):
    from sqlalchemy import delete

    from forecasting.store.models import ActivityCount, Camera
    from forecasting.store.session import transaction

    _fill(factory)
    with transaction(factory) as s:
        s.execute(delete(ActivityCount))
        s.execute(delete(Camera))
    r = _run(["priority", "cameras"], env)
    assert r.exit_code == 1
    assert r.stderr.strip().startswith("Error: no active camera of kind ['cctv'] with a view polygon at")


def test_evaluate_camera_choice_against_the_busiest_cameras(factory, settings):
    from forecasting.jobs.priority import evaluate_camera_choice

    _fill(factory, incidents_in_shift=True)
    doc = evaluate_camera_choice(factory, settings, shift=SHIFT, k=2, lookback_days=7)
    assert doc["incidents"] == 5
    assert doc["priority"]["cameras"] == ["A", "C"]
    assert doc["busiest"]["cameras"] == ["D", "B"]  # by people counted in the week before the shift
    # A+C see the 4 incidents on the clusters; D+B see the busy square's one and 2 of cluster 1's.
    assert (doc["priority"]["seen"], doc["busiest"]["seen"]) == (4, 3)
    assert doc["priority"]["share"] == pytest.approx(0.8) and doc["lift"] == pytest.approx(0.2)


def test_evaluate_command_json(env, factory):
    _fill(factory, incidents_in_shift=True)
    r = _run(["priority", "evaluate", "--shift", SHIFT, "--k", "2", "--json"], env)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["busiest"]["share"] == pytest.approx(0.6)


def test_dashboard_and_cli_give_the_same_ranking_for_the_same_run(env, factory, settings):
    """Two front doors, one engine: the cameras page (provider) and `priority cameras --json`."""
    from dashboards.store_provider import StoreProvider

    _fill(factory)
    p = StoreProvider(factory, settings=settings)
    run_id = int(p.forecast_runs()["id"].iloc[0])
    prio, gaps = p.camera_priority(run_id)
    r = _run(["priority", "cameras", "--shift", SHIFT, "--k", str(len(prio)), "--json"], env)
    assert r.exit_code == 0, r.output
    cli = pd.DataFrame(json.loads(r.stdout)["cameras"])
    assert prio["camera_id"].tolist() == cli["camera_id"].tolist() == ["A", "C", "D", "B"]
    np.testing.assert_allclose(prio["marginal"], cli["marginal_risk"])
    np.testing.assert_allclose(prio["expected_in_view"], cli["standalone_risk"])
    assert prio["why"].tolist() == cli["explanation"].tolist()
    assert prio["name"].tolist() == ["Camera A", "Camera C", "Camera D", "Camera B"]


def test_dashboard_export_is_made_and_audited_by_the_export_job(env, factory, settings):
    from dashboards.store_provider import StoreProvider
    from forecasting.store.governance import audit_frame
    from forecasting.store.session import transaction

    _fill(factory)
    p = StoreProvider(factory, settings=settings)
    run_id = int(p.forecast_runs()["id"].iloc[0])
    name, content = p.export_plan(run_id, None, "csv", "ana")
    assert name == f"patrol_plan_run{run_id}_all.csv"
    assert b"10XX W GEORGIA ST" in content  # addresses, as in `crimecast export patrol`
    with transaction(factory) as s:
        a = audit_frame(session=s, action="export")
    assert a["username"].tolist() == ["ana"]
    d = a["details"].iloc[0]
    d = json.loads(d) if isinstance(d, str) else d
    assert d["product"] == "patrol_plan" and d["shift"] == SHIFT and d["forecast_run_ids"] == [run_id]
    table = p.patrol_plan(run_id, None)
    assert list(table.columns) == ["hotspot_id", "area", "rank", "expected", "visits", "reasons"] and len(table)


def test_watch_list_by_hour_follows_each_hours_forecast(env, factory):
    from forecasting.store import forecasts as fc
    from forecasting.store.session import transaction

    g = _fill(factory)
    cells = _cells_frame(g)
    r = _run(["priority", "cameras", "--by-hour", "--shift", SHIFT], env)
    assert r.exit_code == 1 and "no hourly forecast stored inside shift 2024-03-04/2" in r.output
    # Hour 1 is hot on cluster 1 (camera A), hour 2 on cluster 2 (camera C).
    with transaction(factory) as s:
        for h, hot in enumerate([{(1, 1), (2, 2)}, {(6, 6), (6, 5)}]):
            exp = np.array([1.0 if (int(r_), int(c)) in hot else 0.01 for r_, c in
                            zip(g.raster_row, g.raster_col, strict=True)])
            frame = pd.DataFrame({"cell_id": cells["cell_id"], "expected_count": exp, "probability": -np.expm1(-exp),
                                  "score": exp, "rank": pd.Series(-exp).rank(method="first").astype(int).to_numpy(),
                                  "reasons": None})
            start = SHIFT_START_UTC + pd.Timedelta(hours=h)
            fc.save_forecast(session=s, frame=frame, grid_id=1, model="lgbm", category="all", period="hour",
                             period_start=start, period_end=start + pd.Timedelta(hours=1))
    r = _run(["priority", "cameras", "--by-hour", "--shift", SHIFT, "--k", "1", "--json"], env)
    assert r.exit_code == 0, r.output
    hours = pd.DataFrame(json.loads(r.stdout)["hours"])
    assert hours["hour"].tolist() == ["2024-03-04T22:00:00", "2024-03-04T23:00:00"]
    assert hours["camera_id"].tolist() == ["A", "C"]
    np.testing.assert_allclose(hours["standalone_risk"], [2.02, 2.0], rtol=1e-3)
    assert hours["explanation"].str.contains("Context: .* within view in this shift of the day").all()
    text = _run(["priority", "cameras", "--by-hour", "--shift", SHIFT, "--k", "1"], env)
    assert text.exit_code == 0 and "22:00\n  #1 A:" in text.stdout and "23:00\n  #1 C:" in text.stdout
    # The dashboard asks the same job for the shift run it shows.
    from dashboards.store_provider import StoreProvider

    p = StoreProvider(factory, settings=load_settings(data_dir=env["CRIMECAST_DATA_DIR"], timezone=TZ,
                                                      _toml_file=None))
    shift_run = int(p.forecast_runs().query("period == 'shift'")["id"].iloc[0])
    watch = p.watch_list(shift_run, k=1)
    assert watch["camera_id"].tolist() == ["A", "C"] and watch["why"].tolist() == hours["explanation"].tolist()


def test_choice_record_scores_stored_shifts_with_outcomes_against_two_rules(factory, settings):
    from forecasting.jobs.priority import choice_record, evaluate_camera_choice
    from forecasting.store import repository as repo
    from forecasting.store.session import transaction

    _fill(factory, incidents_in_shift=True)
    assert choice_record(factory, settings, k=2).empty  # the shift has not ended in the data yet
    doc = evaluate_camera_choice(factory, settings, shift=SHIFT, k=2)
    # Past year in view: A 3 (two at (1,1), one at (2,2)), B 1, C 1, D 0: the static rule takes A and B
    # (ties: the camera listed first), which see cluster 1's three incidents of the shift.
    assert doc["static"]["cameras"] == ["A", "B"] and doc["static"]["seen"] == 3
    with transaction(factory) as s:  # a later incident: the shift's outcome is now known
        run = repo.create_run(session=s, kind="incidents", source_path="t", format="canonical", source="x",
                              sha256=None)
        repo.insert_incidents(session=s, frame=pd.DataFrame({
            "incident_id": ["late"], "occurred_at": [pd.Timestamp("2024-03-05 20:00", tz="UTC")],
            "time_resolution": "minute", "tz": TZ, "longitude": [0.0], "latitude": [0.0], "source_crs": "EPSG:4326",
            "source_x": None, "source_y": None, "category": "x", "category_group": "x", "content_hash": ["late"],
            "attributes": None}), source="x", run_id=run)
    rec = choice_record(factory, settings, k=2)
    assert rec["shift"].tolist() == [SHIFT] and rec["incidents"].tolist() == [5]
    np.testing.assert_allclose(rec[["priority", "busiest", "static"]].to_numpy(), [[0.8, 0.6, 0.6]])


def test_evaluate_defaults_to_the_latest_shift_with_outcomes(env, factory):
    _fill(factory, incidents_in_shift=True)
    r = _run(["priority", "evaluate", "--k", "2"], env)
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"shift {SHIFT}, k=2: priority cameras saw 4/5 (80%); busiest cameras saw 3/5 (60%)")


def test_evaluate_says_why_it_cannot_score(env, factory):
    _fill(factory, incidents_in_shift=False)
    r = _run(["priority", "evaluate", "--shift", SHIFT, "--k", "2"], env)
    assert r.exit_code == 0, r.output
    assert "priority cameras saw not scored" in r.stdout
    assert f"not scored: no incident is stored in shift {SHIFT}" in r.stdout
