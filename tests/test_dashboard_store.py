"""Accounts, the users CLI, the demo account, and the store-backed provider and recorder."""

from __future__ import annotations

import re
import time

import pytest
from typer.testing import CliRunner

from forecasting.cli import app as cli
from forecasting.errors import ConfigError
from forecasting.store import governance as G
from forecasting.store.session import transaction


def test_accounts_hash_passwords_and_check_them(factory):
    with transaction(factory) as s:
        G.create_user(session=s, username="ana", password="analyst-password", role="analyst")
    with transaction(factory) as s:
        u = G.get_user(session=s, username="ana")
        assert u.password_hash != "analyst-password" and "analyst-password" not in u.password_hash
        assert G.authenticate(session=s, username="ana", password="analyst-password").role == "analyst"
        assert G.authenticate(session=s, username="ana", password="wrong-password") is None
        assert G.authenticate(session=s, username="nobody", password="analyst-password") is None
        G.set_disabled(session=s, username="ana")
        assert G.authenticate(session=s, username="ana", password="analyst-password") is None
        assert G.list_users(session=s).to_dict("records")[0]["disabled"] is True


def test_account_errors_are_clear(factory):
    with transaction(factory) as s:
        with pytest.raises(ConfigError, match=re.escape("role must be one of ['viewer', 'analyst', 'admin']; "
                                                        "got 'root'")):
            G.create_user(session=s, username="x", password="long-enough-pw", role="root")
        with pytest.raises(ConfigError, match="password must be at least 10 characters; got 3"):
            G.create_user(session=s, username="x", password="abc")
        with pytest.raises(ConfigError, match="username must be"):
            G.create_user(session=s, username="a b", password="long-enough-pw")
        G.create_user(session=s, username="x", password="long-enough-pw")
        with pytest.raises(ConfigError, match="username 'x' is taken"):
            G.create_user(session=s, username="x", password="long-enough-pw")
    assert G.role_at_least("admin", "analyst") and not G.role_at_least("viewer", "analyst")


def test_users_cli(sqlite_url):
    env = {"CRIMECAST_DATABASE_URL": sqlite_url}
    run = CliRunner().invoke
    r = run(cli, ["users", "add", "ana", "--role", "analyst", "--password-stdin"], input="analyst-password\n", env=env)
    assert r.exit_code == 0, r.output
    r = run(cli, ["users", "add", "bob", "--role", "boss", "--password-stdin"], input="long-password\n", env=env)
    assert r.exit_code == 1 and "role must be one of" in r.output
    r = run(cli, ["users", "add", "ana", "--password-stdin"], input="analyst-password\n", env=env)
    assert r.exit_code == 1 and "taken" in r.output
    assert run(cli, ["users", "disable", "ana"], env=env).exit_code == 0
    out = run(cli, ["users", "list"], env=env).output
    assert re.search(r"ana\s+analyst\s+disabled", out)
    r = run(cli, ["users", "disable", "ghost"], env=env)
    assert r.exit_code == 1 and "no user named 'ghost'" in r.output


def test_serve_is_registered():
    r = CliRunner().invoke(cli, ["serve", "--help"])
    assert r.exit_code == 0 and "--port" in r.output


def test_demo_user_gets_a_fresh_random_password(factory):
    from dashboards import ensure_demo_user

    name, pw1 = ensure_demo_user(factory)
    _, pw2 = ensure_demo_user(factory)
    assert name == "demo" and pw1 != pw2 and len(pw1) >= 12
    with transaction(factory) as s:
        assert G.authenticate(session=s, username="demo", password=pw1) is None
        assert G.authenticate(session=s, username="demo", password=pw2).role == "analyst"


@pytest.fixture
def seeded(factory, tmp_path):
    from tests.support.synthetic import seed_store

    info = seed_store(factory, n_cells=400, n_incidents=2000, users={"ana": ("analyst-password", "analyst")},
                      boundaries_dir=tmp_path / "var" / "boundaries")
    return factory, info


def test_store_provider_reads_what_was_stored(seeded, settings):
    from dashboards.contracts import FORECAST_VIEW_COLUMNS
    from dashboards.store_provider import StoreProvider

    factory, info = seeded
    p = StoreProvider(factory, data_dir=settings.data_dir)
    runs = p.forecast_runs()
    assert sorted(runs["period"].unique()) == ["shift", "week"] and len(runs) == 6
    rid = info["run_ids"]["week"][0]
    fc = p.forecast(rid)
    assert list(fc.columns) == FORECAST_VIEW_COLUMNS and len(fc) == 400 and fc["rank"].is_monotonic_increasing
    assert isinstance(fc["reasons"].iloc[0], list) and fc["reasons"].iloc[0]
    assert p.grid_crs(1) == "EPSG:32610"
    h = p.cell_history(rid, fc["cell_id"].iloc[0])
    assert len(h) == 12 and h["count"].sum() > 0  # incidents were drawn where the forecast is high
    prio, gaps = p.camera_priority(rid)
    assert len(prio) == 12 and prio["expected_in_view"].iloc[0] > 0
    assert list(p.boundaries()) == ["districts"]
    assert p.display_timezone() == "America/Vancouver"
    name, data = p.export_plan(info["run_ids"]["shift"][0], "districts/East", "geojson", "ana")
    assert name.endswith(".geojson") and b"FeatureCollection" in data
    assert p.get_account("ana").role == "analyst" and p.get_account("nobody") is None


def test_store_recorder_marks_a_crashed_task_failed(seeded, sqlite_url):
    from dashboards.store_provider import StoreProvider
    from dashboards.tasks import StoreRecorder

    factory, _ = seeded
    rec = StoreRecorder(factory, sqlite_url, commands={"train": ["no-such-command"]})
    task_id = rec.start_task("train", {"period": "week"}, "ana")
    p = StoreProvider(factory)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        t = p.tasks()
        if t.loc[t["id"] == task_id, "status"].iloc[0] == "failed":
            break
        time.sleep(0.2)
    row = p.tasks().set_index("id").loc[task_id]
    assert row["status"] == "failed" and row["created_by"] == "ana" and row["message"]
    rec.audit("ana", "export", "forecast_run:1", {"format": "csv"})
    with transaction(factory) as s:
        a = G.audit_frame(session=s, action="export")
    assert a["username"].tolist() == ["ana"]


def test_cell_history_counts_the_incidents_inside_the_cell_per_period(seeded, settings):
    import numpy as np
    import pandas as pd
    import shapely

    from dashboards.store_provider import StoreProvider
    from forecasting.store.repository import load_incidents

    factory, info = seeded
    p = StoreProvider(factory, data_dir=settings.data_dir)
    rid = info["run_ids"]["week"][0]
    fc = p.forecast(rid)
    run = p.forecast_runs().set_index("id").loc[rid]
    with transaction(factory) as s:
        ev = load_incidents(session=s)  # every incident, every column: the slow way, as a reference
    for cell in fc["cell_id"].iloc[[0, 1, 50]]:
        h = p.cell_history(rid, cell)
        poly = shapely.from_wkt(fc.loc[fc["cell_id"] == cell, "polygon_wkt"].iloc[0])
        t = ev.loc[shapely.contains_xy(poly, ev["longitude"], ev["latitude"]), "occurred_at"]
        length = run["period_end"] - run["period_start"]
        expected = [int(((t >= s) & (t < s + length)).sum()) for s in h["period_start"]]
        assert h["count"].tolist() == expected
        assert h["period_start"].iloc[-1] + length == pd.Timestamp(run["period_start"])
    assert np.sum([p.cell_history(rid, c)["count"].sum() for c in fc["cell_id"].iloc[:3]]) > 0


def test_store_provider_sees_a_run_stored_after_it_listed_the_runs(seeded, settings):
    from dashboards.store_provider import StoreProvider
    from forecasting.store import forecasts as F
    from tests.support.synthetic import synthetic_cells, synthetic_forecast

    factory, info = seeded
    p = StoreProvider(factory, data_dir=settings.data_dir)
    runs = p.forecast_runs()
    assert p.forecast_runs().equals(runs)  # unchanged store: the kept list
    last = runs.sort_values("id").iloc[-1]
    length = last["period_end"] - last["period_start"]
    with transaction(factory) as s:
        rid = F.save_forecast(session=s, frame=synthetic_forecast(synthetic_cells(400), seed=99),
                              grid_id=int(last["grid_id"]), model="lgbm", category="all", period="week",
                              period_start=(last["period_end"]).to_pydatetime(),
                              period_end=(last["period_end"] + length).to_pydatetime(),
                              model_version_id=int(F.forecast_runs(session=s)["model_version_id"].iloc[0]))
    again = p.forecast_runs()
    assert len(again) == len(runs) + 1 and rid in set(again["id"])


def test_a_grid_stored_without_a_crs_is_drawn_in_the_utm_zone_of_its_cells(seeded, settings):
    from sqlalchemy import update

    from dashboards.store_provider import StoreProvider
    from forecasting.jobs.forecasting import grid_crs
    from forecasting.store.models import Grid
    from forecasting.store.session import transaction

    factory, info = seeded
    assert grid_crs(factory, 1) == "EPSG:32610" and grid_crs(factory, 999) is None
    with transaction(factory) as s:  # a grid stored before its CRS was recorded
        s.execute(update(Grid).where(Grid.id == 1).values(crs=None))
    assert StoreProvider(factory, data_dir=settings.data_dir).grid_crs(1) == "EPSG:32610"  # Vancouver's zone
