"""The Analysis page without a browser: pure builders, the callback on the fake provider, the store provider."""

from __future__ import annotations

import pandas as pd
import pytest
from flask import g

from dashboards import analysis_figures, create_app, ids
from dashboards.pages import analysis, page_modules
from tests.support.fake_provider import FakeProvider

from .conftest import SAMPLE


@pytest.fixture(scope="module")
def fake():
    return FakeProvider(n_cells=400, seed=1, accounts={"ana": ("analyst-password", "analyst")})


@pytest.fixture(scope="module")
def app(fake, tmp_path_factory):
    from forecasting.config import load_settings

    return create_app(load_settings(data_dir=str(tmp_path_factory.mktemp("var"))), fake)


def test_page_is_registered_and_lays_out(app, fake):
    assert analysis in page_modules()
    html = str(analysis.layout(app.crimecast_context))
    for cid in (ids.AN_CATEGORY, ids.AN_MAP, ids.AN_KNOX, ids.AN_SENTENCE):
        assert cid in html


def test_view_shows_the_planted_hot_spot_and_near_repeats_and_audits(app, fake):
    ctx = app.crimecast_context
    opts = fake.analysis_options()
    rc = app.server.test_request_context("/_dash-update-component", method="POST")
    rc.push()
    try:
        g.account = fake.get_account("ana")
        fig, patterns, knox, sentence, status = analysis.analysis_view(
            ctx, "burglary", "2023-01-02", opts["end"], user=fake.get_account("ana"))
    finally:
        rc.pop()
    names = {t.name for t in fig.data}
    assert names & {"new hot spot", "consecutive hot spot", "intensifying hot spot", "persistent hot spot"}
    assert sentence.startswith("burglary incidents here repeat within 150 m and ")
    assert "0-150 m" in str(knox) and "incidents" in status
    assert fake.audit_log[-1]["target"] == "analysis"


def test_bad_window_is_one_error_line(app):
    fig, patterns, knox, sentence, status = analysis.analysis_view(app.crimecast_context, "all", "2024-13-01",
                                                                   "2024-12-31")
    assert "Error: start and end must be dates" in str(status) and patterns is None


def test_knox_frame_and_map_builders():
    bands = pd.DataFrame({"distance_from": [0.0, 0, 150, 150], "distance_to": [150.0, 150, 300, 300],
                          "days_from": [0.0, 7, 0, 7], "days_to": [7.0, 14, 7, 14], "ratio": [2.5, 1.0, 1.1, 0.9],
                          "p": [0.001, 0.5, 0.2, 0.7], "q": [0.004, 0.6, 0.4, 0.7]})
    f = analysis_figures.knox_frame(bands)
    assert list(f.columns) == ["distance", "0-7 days", "7-14 days"]
    assert f.iloc[0, 1] == "2.50* (p 0.001)" and f.iloc[1, 2] == "0.90"
    t = pd.DataFrame({"cell_id": ["a", "b", "c"], "longitude": [-123.1, -123.09, -123.08],
                      "latitude": [49.28] * 3, "pattern": ["intensifying hot spot", "no pattern detected",
                                                          "<script>x</script>"],
                      "n_hot": [9, 0, 0], "n_cold": [0, 0, 0], "trend_z": [3.0, 0, 0], "total": [20.0, 1, 0]})
    fig = analysis_figures.emerging_map_figure(t)
    assert [tr.name for tr in fig.data] == ["intensifying hot spot", "no pattern detected"]
    assert fig.data[1].visible == "legendonly"


def test_store_provider_asks_the_job_and_agrees_with_it(tmp_path):
    from typer.testing import CliRunner

    from dashboards.store_provider import StoreProvider
    from forecasting.cli import app as cli
    from forecasting.jobs.analysis import run_analysis
    from forecasting.store.session import make_engine, make_session_factory

    env = {"CRIMECAST_DATA_DIR": str(tmp_path / "var")}
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "upgrade"], env=env).exit_code == 0
    r = runner.invoke(cli, ["ingest", "incidents", str(SAMPLE / "chicago_aggravated_assaults_districts_1_18_2017_2019"
                                                       ".csv.gz"), "--format", "chicago"], env=env)
    assert r.exit_code == 0, r.output
    factory = make_session_factory(make_engine(f"sqlite:///{tmp_path / 'var' / 'crimecast.db'}"))
    p = StoreProvider(factory)
    opts = p.analysis_options()
    assert opts["categories"][0] == "all" and opts["last"].startswith("2019-12")
    got = p.analysis("near-repeat", "all", opts["start"], opts["end"])
    assert p.analysis("near-repeat", "all", opts["start"], opts["end"]) is got  # cached
    ref = run_analysis(factory, None, "near-repeat", start=opts["start"], end=opts["end"], permutations=199)
    pd.testing.assert_frame_equal(got.table, ref.table)
