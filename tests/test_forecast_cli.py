"""train / forecast / backtest commands end to end on a small real sample (Chicago, two districts)."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pytest
from typer.testing import CliRunner

from dashboards import tables
from forecasting.cli import app
from forecasting.store import backtests as backtests_repo
from forecasting.store import forecasts as fstore
from forecasting.store import grids as grids_repo
from forecasting.store import model_versions as versions_repo
from forecasting.store import tasks as tasks_repo
from forecasting.store.models import Grid
from forecasting.store.session import make_engine, make_session_factory, transaction

from .conftest import SAMPLE

CHICAGO = SAMPLE / "chicago_aggravated_assaults_districts_1_18_2017_2019.csv.gz"
runner = CliRunner()


@pytest.fixture
def env(tmp_path):
    env = {"CRIMECAST_DATA_DIR": str(tmp_path / "var")}
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    result = runner.invoke(app, ["ingest", "incidents", str(CHICAGO), "--format", "chicago"], env=env)
    assert result.exit_code == 0, result.output
    return env


def _factory(env):
    from pathlib import Path

    return make_session_factory(make_engine(f"sqlite:///{Path(env['CRIMECAST_DATA_DIR']) / 'crimecast.db'}"))


def test_backtest_writes_the_contract_on_a_throwaway_database(tmp_path):
    out = tmp_path / "bt"
    result = runner.invoke(app, [
        "backtest", "--incidents", str(CHICAGO), "--format", "chicago", "--start", "2019-10-07",
        "--end", "2019-11-25", "--period", "week", "--models", "lgbm,naive,historical", "--out", str(out),
    ], env={"CRIMECAST_DATA_DIR": str(tmp_path / "nodb")})
    assert result.exit_code == 0, result.output
    assert "PAI@1%" in result.output
    scores = pd.read_parquet(out / "scores.parquet")
    assert list(scores.columns[:5]) == ["model", "category", "cell_id", "period_start", "score"]
    cells = gpd.read_file(out / "cells.geojson")
    assert cells.crs.to_epsg() == 4326 and cells["cell_id"].is_unique
    periods = sorted(scores["period_start"].unique())
    assert len(periods) == 8 and str(periods[0]) == "2019-10-07"
    # Every model scores every cell of the study area in every period, once.
    per = scores.groupby(["model", "category"], observed=True).size()
    assert (per == len(cells) * len(periods)).all()
    assert set(scores["model"].astype(str)) == {"lgbm", "naive", "historical_13", "historical_52",
                                               "historical_104", "historical_all"}
    assert set(scores["cell_id"].astype(str)) == set(cells["cell_id"])
    metrics = json.loads((out / "metrics.json").read_text())
    assert "all" in json.dumps(metrics)
    # No database was configured: nothing was written to the default location.
    assert not (tmp_path / "nodb" / "crimecast.db").exists()


def test_train_records_model_versions(env):
    result = runner.invoke(app, ["train", "--period", "week", "--at", "2019-06-03", "--user", "ana"], env=env)
    assert result.exit_code == 0, result.output
    assert "  near repeats: " in result.output and "(Knox test, 2018-06-03 to 2019-06-03)" in result.output
    with transaction(_factory(env)) as s:
        versions = versions_repo.list_model_versions(session=s)
    assert len(versions) == 1
    v = versions.iloc[0]
    assert v["name"] == "lgbm" and v["category"] == "all" and v["created_by"] == "ana"
    assert pd.Timestamp(v["train_end"]).tz_localize(None) < pd.Timestamp("2019-06-04")
    assert len(v["data_hash"]) == 64


def test_forecast_stores_every_cell_with_reasons_and_prints_the_top(env):
    result = runner.invoke(app, ["forecast", "--period", "week", "--at", "2019-12-02", "--count", "2",
                                 "--top", "3", "--json"], env=env)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [d["period_start"][:10] for d in doc] == ["2019-12-02", "2019-12-09"]
    assert len(doc[0]["top"]) == 3 and doc[0]["top"][0]["reasons"]
    with transaction(_factory(env)) as s:
        runs = fstore.forecast_runs(session=s, period="week")
        frame = fstore.forecast_frame(session=s, run_id=int(runs.iloc[-1]["id"]))
        cells = grids_repo.cells_frame(session=s, grid_id=int(runs.iloc[-1]["grid_id"]))
    assert len(runs) == 2
    assert len(frame) == len(cells)  # every cell of the study area
    assert frame["rank"].tolist() == list(range(1, len(frame) + 1))
    assert (frame["expected_count"].diff().dropna() <= 1e-12).all()
    assert frame["probability"].between(0, 1).all()
    assert len(frame.loc[0, "reasons"]) >= 1
    # Stored runs are immutable: re-issuing a forecast adds a run with a new id, the earlier one is intact.
    first_id = int(runs.iloc[0]["id"])  # the week of 2019-12-09
    with transaction(_factory(env)) as s:
        frame = fstore.forecast_frame(session=s, run_id=first_id)
    again = runner.invoke(app, ["forecast", "--period", "week", "--at", "2019-12-09", "--json"], env=env)
    assert again.exit_code == 0, again.output
    new_id = json.loads(again.stdout)[0]["run_id"]
    with transaction(_factory(env)) as s:
        after = fstore.forecast_runs(session=s, period="week")
        old = fstore.forecast_frame(session=s, run_id=first_id)
        grids = s.query(Grid).count()
        versions = versions_repo.list_model_versions(session=s)
    assert len(after) == 3 and new_id > first_id and first_id in set(after["id"])
    pd.testing.assert_frame_equal(old, frame)
    assert grids == 1  # same parameters, same grid
    assert len(versions) == 2 and versions["id"].is_unique
    options = tables.period_options(after, "week", "all")
    latest = [o for o in options if "title" not in o]
    assert [o["value"] for o in latest][-1] == new_id and tables.default_period(options) == new_id
    earlier = [o for o in options if o["value"] == first_id][0]
    assert "earlier run" in earlier["label"] and earlier["title"] == f"superseded by run {new_id}"


def test_forecast_reports_progress_into_a_task(env):
    factory = _factory(env)
    with transaction(factory) as s:
        task_id = tasks_repo.create_task(session=s, kind="forecast", created_by="ana")
    result = runner.invoke(app, ["forecast", "--period", "week", "--task-id", str(task_id), "--json"], env=env)
    assert result.exit_code == 0, result.output
    with transaction(factory) as s:
        task = tasks_repo.get_task(session=s, task_id=task_id)
    assert task.status == "succeeded" and task.progress == 1.0 and task.finished_at is not None


def test_forecast_without_incidents_is_one_clear_line(tmp_path):
    env = {"CRIMECAST_DATA_DIR": str(tmp_path / "var")}
    runner.invoke(app, ["db", "upgrade"], env=env)
    result = runner.invoke(app, ["forecast", "--period", "week"], env=env)
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: no incidents are stored; run `crimecast ingest incidents` first"


def test_forecast_json_gives_the_run_and_every_cell_one_period_format(env):
    result = runner.invoke(app, ["forecast", "--period", "week", "--at", "2019-12-02", "--top", "3", "--json"],
                           env=env)
    assert result.exit_code == 0, result.output
    (run,) = json.loads(result.stdout)
    assert run["period_start"] == "2019-12-02T00:00:00"
    assert {c["period_start"] for c in run["top"]} == {run["period_start"]}
    assert all("label" in c for c in run["top"])  # the Chicago cut publishes no block: labels may be empty


def test_forecast_next_shift_with_time_of_day_reasons(env):
    result = runner.invoke(app, ["forecast", "--period", "shift", "--at", "2019-12-02 14:00", "--top", "3",
                                 "--json"], env=env)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc[0]["period_start"].startswith("2019-12-02T14:00")
    assert len(doc[0]["top"]) == 3 and all(t["reasons"] for t in doc[0]["top"])
    with transaction(_factory(env)) as s:
        runs = fstore.forecast_runs(session=s, period="shift")
        frame = fstore.forecast_frame(session=s, run_id=int(runs.iloc[-1]["id"]))
    assert len(runs) == 1 and frame["probability"].between(0, 1).all()


def test_train_with_stored_patrol_visits_records_the_guard(env):
    import numpy as np

    from forecasting.config import load_settings
    from forecasting.jobs import forecasting as fjobs
    from forecasting.schema import OCCURRED_LOCAL
    from forecasting.store import governance as grepo
    from forecasting.workflows import Forecaster

    factory, settings = _factory(env), load_settings(data_dir=env["CRIMECAST_DATA_DIR"])
    first = fjobs.train(factory, settings, at="2019-06-03")
    with transaction(factory) as s:
        v = versions_repo.get_model_version(session=s, version_id=first["model_version_ids"]["all"])
        assert v.params["patrol_guard"] == {"enabled": True, "applied": False, "uplift": 2.0,
                                            "patrolled_cell_periods": 0, "incidents_discounted": 0}
    # A patrol visited the busiest cell in the week of 2019-05-06 (local, America/Chicago).
    stored = fjobs.load_events(factory)
    grid = Forecaster.load(first["artifact"]).grid
    ev = stored.events
    week = ev[(ev[OCCURRED_LOCAL] >= "2019-05-06") & (ev[OCCURRED_LOCAL] < "2019-05-13")]
    cell = grid.locate(week["longitude"].to_numpy(float), week["latitude"].to_numpy(float))
    busiest = np.bincount(cell[cell >= 0]).argmax()
    cell_id = str(np.asarray(grid.cell_ids)[busiest])
    with transaction(factory) as s:
        grepo.save_patrol_visits(session=s, visits=pd.DataFrame({
            "hotspot_id": ["H01", "H02"], "area": ["all", "all"],
            "start": pd.to_datetime(["2019-05-08 15:00", "2019-06-04 15:00"], utc=True),
            "end": pd.to_datetime(["2019-05-08 16:00", "2019-06-04 16:00"], utc=True),
            "cell_ids": [[cell_id], [cell_id]]}), audit_id=None, shift="day", model_version_id=None)
    second = fjobs.train(factory, settings, at="2019-06-03")
    with transaction(factory) as s:
        v = versions_repo.get_model_version(session=s, version_id=second["model_version_ids"]["all"])
        audit = grepo.audit_frame(session=s, action="retrain").iloc[0]
    # Only the May visit counts (the June one is in the period being forecast).
    assert v.params["patrol_guard"] == {"enabled": True, "applied": True, "uplift": 2.0,
                                        "patrolled_cell_periods": 1,
                                        "incidents_discounted": int((cell == busiest).sum())}
    assert audit["details"]["patrol_guard"] == v.params["patrol_guard"]
    off = fjobs.train(factory, load_settings(data_dir=env["CRIMECAST_DATA_DIR"], patrol_guard=False),
                      at="2019-06-03")
    with transaction(factory) as s:
        v = versions_repo.get_model_version(session=s, version_id=off["model_version_ids"]["all"])
    assert v.params["patrol_guard"]["enabled"] is False and v.params["patrol_guard"]["incidents_discounted"] == 0


def test_a_writing_command_creates_and_migrates_a_new_sqlite_file(tmp_path):
    from forecasting.store import migrate

    db = tmp_path / "fresh" / "crimecast.db"
    result = runner.invoke(app, ["ingest", "incidents", str(CHICAGO), "--format", "chicago"],
                           env={"CRIMECAST_DATA_DIR": str(db.parent)})
    assert result.exit_code == 0, result.output
    assert migrate.current(f"sqlite:///{db}") == migrate.head()


def test_a_database_at_an_older_revision_is_not_migrated_by_a_command(tmp_path):
    from forecasting.store import migrate

    env = {"CRIMECAST_DATA_DIR": str(tmp_path / "var")}
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    assert runner.invoke(app, ["db", "downgrade"], env=env).exit_code == 0
    url = f"sqlite:///{tmp_path / 'var' / 'crimecast.db'}"
    older = migrate.current(url)
    assert older != migrate.head()
    for args in (["ingest", "incidents", str(CHICAGO), "--format", "chicago"],
                 ["backtest", "--incidents", str(CHICAGO), "--format", "chicago", "--start", "2019-10-07",
                  "--end", "2019-11-25", "--out", str(tmp_path / "bt")]):
        result = runner.invoke(app, args, env={**env, "CRIMECAST_DATABASE_URL": url})
        assert result.exit_code == 1, args
        assert result.stderr.strip() == (f"Error: the database at {url} is at schema revision {older}, not "
                                         f"{migrate.head()}; run `crimecast db upgrade` first")
        assert migrate.current(url) == older
    assert not (tmp_path / "bt").exists()


def test_the_demo_backtest_reads_a_throwaway_database_and_records_in_the_main_one(tmp_path):
    from forecasting.config import Settings
    from forecasting.jobs import ensure_database
    from forecasting.jobs import forecasting as fj
    from forecasting.store.models import Incident
    from forecasting.workflows import BacktestOptions

    url = f"sqlite:///{tmp_path / 'main.db'}"
    ensure_database(url)
    main = make_session_factory(make_engine(url))
    read = []
    options = BacktestOptions(start="2019-11-04", end="2019-11-25", models=("naive",), n_boot=50, plots=False)
    run = fj.backtest(main, Settings(data_dir=tmp_path, _toml_file=None), options, out_dir=tmp_path / "bt",
                      incidents=[CHICAGO], fmt="chicago", scratch=True, user="demo", dataset="Chicago sample",
                      on_ingest=lambda path, summary: read.append((path.name, summary.loaded)))
    assert read == [(CHICAGO.name, read[0][1])] and read[0][1] > 0
    with transaction(main) as s:
        assert s.query(Incident).count() == 0  # the incidents stayed in the throwaway database
        stored = backtests_repo.list_backtests(session=s)
    assert len(stored) == 1 and stored[0].created_by == "demo" and stored[0].metrics["dataset"] == "Chicago sample"
    assert stored[0].params == {"categories": [], "models": ["naive"], "refit_every": 4}
    assert run.files["report"].exists()


def test_train_records_the_near_repeat_test_and_the_model_card_cites_it(env):
    from forecasting import reports
    from forecasting.config import load_settings
    from forecasting.jobs import forecasting as fjobs
    from forecasting.jobs.governance import model_card_document

    factory = _factory(env)
    settings = load_settings(data_dir=env["CRIMECAST_DATA_DIR"], near_repeat_permutations=99, near_repeat_days=200)
    ids = fjobs.train(factory, settings, at="2019-06-03")["model_version_ids"]
    with transaction(factory) as s:
        v = versions_repo.get_model_version(session=s, version_id=ids["all"])
        a, features = v.params["analysis"], v.features
    nr = a["near_repeat"]
    assert a["enabled"] and nr["permutations"] == 99 and len(nr["bands"]) == 9 and nr["n_events"] > 100
    assert (a["start"], a["end"]) == ("2018-11-15 00:00:00", "2019-06-03 00:00:00")  # 200 days before the cut-off
    assert features["half_lives_days"] == a["feature_windows"]["half_lives_days"]
    assert features["near_repeat_ring"] == a["feature_windows"]["near_repeat_ring"]
    md = reports.to_markdown(model_card_document(factory, settings, ids["all"]))
    assert f"Knox near-repeat test of {nr['n_events']:,} incidents from 2018-11-15 to 2019-06-03" in md
    assert ("Finding: " + (nr["sentence"] or nr["note"])).replace("*", "\\*") in md
    off = fjobs.train(factory, load_settings(data_dir=env["CRIMECAST_DATA_DIR"], near_repeat_knox=False),
                      at="2019-06-03")["model_version_ids"]
    with transaction(factory) as s:
        v = versions_repo.get_model_version(session=s, version_id=off["all"])
        assert v.params["analysis"] == {"enabled": False}
        assert v.features["half_lives_days"] == [7, 28, 91] and v.features["near_repeat_ring"] == 1


def _cameras_on_cells(factory, cells: pd.DataFrame) -> None:
    """CCTV sites whose views are squares of about 200 m around these cells' centres."""
    from datetime import UTC, datetime

    import shapely

    from forecasting.store.models import Camera

    with transaction(factory) as s:
        for i, c in enumerate(cells.itertuples()):
            view = shapely.box(c.centroid_lon - 0.0012, c.centroid_lat - 0.0009,
                               c.centroid_lon + 0.0012, c.centroid_lat + 0.0009)
            s.add(Camera(source="city", camera_id=f"c{i}", name=f"Camera {i}", kind="cctv",
                         longitude=c.centroid_lon, latitude=c.centroid_lat, view_wkt=view.wkt,
                         installed_at=datetime(2015, 1, 1, tzinfo=UTC), status="active", simulated=True))


def test_forecast_with_the_tod_shrunk_baseline_is_stored_and_ranked_like_any_run(env):
    import numpy as np
    import shapely

    from dashboards.store_provider import StoreProvider
    from forecasting.config import load_settings

    result = runner.invoke(app, ["forecast", "--period", "shift", "--at", "2019-12-02 22:00", "--count", "2",
                                 "--top", "3", "--model", "tod_shrunk", "--json"], env=env)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [d["period_start"] for d in doc] == ["2019-12-02T22:00:00", "2019-12-03T06:00:00"]
    assert 0 <= doc[0]["top"][0]["top_k_chance"] <= 1
    factory = _factory(env)
    with transaction(factory) as s:
        runs = fstore.forecast_runs(session=s, period="shift")
        versions = versions_repo.list_model_versions(session=s)
        frame = fstore.forecast_frame(session=s, run_id=doc[0]["run_id"])
        cells = grids_repo.cells_frame(session=s, grid_id=int(runs.iloc[0]["grid_id"]))
        v = versions_repo.get_model_version(session=s, version_id=int(versions.iloc[0]["id"]))
        name, artifact, params = v.name, v.artifact_path, dict(v.params)
    assert len(versions) == 1 and len(runs) == 2
    assert name == "tod_shrunk" and artifact is None
    assert params["window_days"] == 728 and params["period_spec"]["kind"] == "shift"
    assert "Poisson" in params["probability"] and params["fitted_alpha"] > 0
    assert set(runs["model"]) == {"tod_shrunk"}
    assert len(frame) == len(cells) and frame["rank"].tolist() == list(range(1, len(frame) + 1))
    np.testing.assert_allclose(frame["probability"], -np.expm1(-frame["expected_count"]))
    # The reason counts the cell's incidents in the 22:00-06:00 shift over the window, from the data.
    top = frame.iloc[0]
    n = int(top["reasons"][0].split(" ")[0])
    assert top["reasons"][0].startswith(f"{n} incident(s) in this cell in this shift of the day over the past")
    ev = pd.read_csv(CHICAGO, usecols=["date", "latitude", "longitude"])
    when = pd.to_datetime(ev["date"])
    cell = cells.set_index("cell_id").loc[top["cell_id"]]
    poly = shapely.from_wkt(cell["polygon_wkt"])
    inside = shapely.contains_xy(poly, ev["longitude"].to_numpy(), ev["latitude"].to_numpy())
    days = int(top["reasons"][0].split("past ")[1].split(" days")[0])
    in_slot = (when.dt.hour >= 22) | (when.dt.hour < 6)
    window = (when < pd.Timestamp("2019-12-02 22:00")) & (when >= pd.Timestamp("2019-12-02 22:00")
                                                           - pd.Timedelta(days=days))
    assert n == int((inside & in_slot & window).sum()) > 0
    # The priority engine reads it like any run, and the dashboard ranks the same cameras.
    _cameras_on_cells(factory, cells.set_index("cell_id").loc[frame["cell_id"].iloc[[0, 1, 5, 30]]].reset_index())
    r = runner.invoke(app, ["priority", "cameras", "--shift", "2019-12-02/2", "--k", "4", "--json"], env=env)
    assert r.exit_code == 0, r.output
    cam = json.loads(r.stdout)
    assert cam["model"] == "tod_shrunk" and cam["forecast_run_ids"] == [doc[0]["run_id"]]
    p = StoreProvider(factory, settings=load_settings(data_dir=env["CRIMECAST_DATA_DIR"]))
    prio, _ = p.camera_priority(doc[0]["run_id"])
    cli = pd.DataFrame(cam["cameras"])
    assert prio["camera_id"].tolist() == cli["camera_id"].tolist() and len(cli) == 4
    np.testing.assert_allclose(prio["marginal"], cli["marginal_risk"])
    # The text output prints a baseline run's cells like an lgbm run's.
    text = runner.invoke(app, ["forecast", "--period", "shift", "--at", "2019-12-03 14:00", "--top", "2",
                               "--model", "tod_shrunk"], env=env)
    assert text.exit_code == 0, text.output
    assert "P(among the top 2)" in text.output and "in this shift of the day over the past" in text.output


def test_forecast_with_an_unknown_model_is_one_line_and_stores_nothing(env):
    result = runner.invoke(app, ["forecast", "--period", "shift", "--model", "nope"], env=env)
    assert result.exit_code == 1
    line = result.stderr.strip()
    assert line.startswith("Error: --model must be one of ['lgbm', ") and "'tod_shrunk'" in line
    assert line.endswith("got 'nope'") and "\n" not in line and "'hindsight'" not in line
    with transaction(_factory(env)) as s:
        assert fstore.forecast_runs(session=s).empty
        assert versions_repo.list_model_versions(session=s).empty
