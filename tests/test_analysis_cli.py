"""``crimecast analyse`` end to end on a small real sample (Chicago, two districts, 2017-2019)."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from forecasting.cli import app

from .conftest import SAMPLE

CHICAGO = SAMPLE / "chicago_aggravated_assaults_districts_1_18_2017_2019.csv.gz"
runner = CliRunner()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    env = {"CRIMECAST_DATA_DIR": str(tmp_path_factory.mktemp("analyse") / "var")}
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    result = runner.invoke(app, ["ingest", "incidents", str(CHICAGO), "--format", "chicago"], env=env)
    assert result.exit_code == 0, result.output
    return env


def _invoke(env, *args):
    return runner.invoke(app, ["analyse", *args], env=env)


def test_hotspots_json_and_geojson_match_the_job(env, tmp_path):
    from pathlib import Path

    import geopandas as gpd

    from forecasting.config import load_settings
    from forecasting.jobs.analysis import run_analysis
    from forecasting.store.session import make_engine, make_session_factory

    out = tmp_path / "hot.geojson"
    r = _invoke(env, "hotspots", "--start", "2019-01-01", "--end", "2019-12-31", "--permutations", "99",
                "--json", "--out", str(out))
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["kind"] == "hotspots" and doc["hot_spots"]["hot"] > 0 and doc["n_events"] > 500
    assert doc["top_cells"][0]["gi_z"] >= doc["top_cells"][-1]["gi_z"]
    cells = gpd.read_file(out)
    assert cells.crs.to_epsg() == 4326 and {"gi_z", "gi_q", "hot_spot", "moran_type"} <= set(cells.columns)
    # The same engine behind another front door gives the same answer.
    db = Path(env["CRIMECAST_DATA_DIR"]) / "crimecast.db"
    job = run_analysis(make_session_factory(make_engine(f"sqlite:///{db}")), load_settings(), "hotspots",
                       start="2019-01-01", end="2019-12-31", permutations=99)
    assert job.summary()["hot_spots"] == doc["hot_spots"]
    assert int((cells.hot_spot == "hot spot").sum()) == doc["hot_spots"]["hot"]


def test_near_repeat_prints_the_table_and_the_sentence(env, tmp_path):
    r = _invoke(env, "near-repeat", "--start", "2018-01-01", "--end", "2019-12-31", "--permutations", "99",
                "--out", str(tmp_path / "knox.csv"))
    assert r.exit_code == 0, r.output
    assert "Knox ratio" in r.stdout and "0-150 m" in r.stdout
    assert ("repeat within" in r.stdout) or ("No near-repeat window" in r.stdout)
    bands = pd.read_csv(tmp_path / "knox.csv")
    assert len(bands) == 9 and {"observed", "expected", "ratio", "p", "q"} <= set(bands.columns)
    j = _invoke(env, "near-repeat", "--start", "2018-01-01", "--end", "2019-12-31", "--permutations", "99",
                "--distance-bands", "0,100,200", "--time-bands", "0,3,7", "--json")
    doc = json.loads(j.stdout)
    assert len(doc["bands"]) == 4 and doc["permutations"] == 99


def test_emerging_counts_every_cell_once(env, tmp_path):
    r = _invoke(env, "emerging", "--start", "2018-01-01", "--end", "2019-12-31", "--json",
                "--out", str(tmp_path / "em.csv"))
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    table = pd.read_csv(tmp_path / "em.csv")
    assert sum(doc["emerging"].values()) == len(table) == doc["n_cells"]
    assert doc["n_periods"] >= 100


def test_emerging_shifts_take_the_shift_layout_of_the_settings(env):
    # 2019-12-01 to 2019-12-14: 14 whole days. Default shifts (06:00, 8 h): the window runs from the
    # shift begun 2019-11-30 22:00 to the one begun 2019-12-14 22:00, 43 shifts; 12-hour shifts from
    # 19:00, 2019-11-30 19:00 to 2019-12-14 19:00, 29 shifts.
    args = ["emerging", "--period", "shift", "--start", "2019-12-01", "--end", "2019-12-14", "--json"]
    default = json.loads(_invoke(env, *args).stdout)
    layout = {"CRIMECAST_SHIFT_START": "19", "CRIMECAST_SHIFT_HOURS": "12"}
    r = runner.invoke(app, ["analyse", *args], env={**env, **layout})
    assert r.exit_code == 0, r.output
    twelve = json.loads(r.stdout)
    assert (default["period"], default["n_periods"]) == ("shift", 43)
    assert (twelve["period"], twelve["n_periods"]) == ("shift:19+12", 29)


@pytest.mark.parametrize("args, message", [
    (["hotspots", "--start", "2019-13-01"], "Error: start and end must be dates such as 2024-01-31"),
    (["hotspots", "--start", "2019-02-01", "--end", "2019-01-01"], "Error: end must not precede start"),
    (["hotspots", "--category", "no such thing"], "Error: category 'no such thing' matches no incident"),
    (["hotspots", "--alpha", "2"], "Error: alpha must be a probability strictly between 0 and 1; got 2.0"),
    (["near-repeat", "--out", "x.geojson", "--permutations", "19"], "Error: a near-repeat result has no cells"),
    (["near-repeat", "--distance-bands", "0,a"], "Error: distance_bands must be comma-separated numbers"),
    (["emerging", "--out", "x.txt"], "Error: out must end in .geojson, .csv or .png; got 'x.txt'"),
])
def test_bad_input_is_one_error_line(env, args, message):
    r = _invoke(env, *args)
    assert r.exit_code == 1
    assert r.output.strip().splitlines()[-1].startswith(message), r.output


def test_importing_the_command_loads_no_heavy_library():
    code = ("import sys, forecasting.cli.analyse; "
            "print([m for m in ('numpy', 'pandas', 'scipy', 'matplotlib') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
