from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from forecasting.cli import app

from .conftest import REPO, SAMPLE

runner = CliRunner()
SF_TRAIN = SAMPLE / "sf_kaggle_train_sample.csv.gz"


def _invoke(args, env=None):
    return runner.invoke(app, args, env=env)


@pytest.fixture
def db_env(tmp_path):
    env = {"CRIMECAST_DATA_DIR": str(tmp_path / "var")}
    assert _invoke(["db", "upgrade"], env).exit_code == 0
    return env


def _commands(group, prefix=()):
    import typer.main

    cmd = typer.main.get_command(group)
    out = [prefix]
    for name, sub in getattr(cmd, "commands", {}).items():
        if hasattr(sub, "commands"):
            out += [(*prefix, name, *rest) for rest in _sub(sub)]
        else:
            out.append((*prefix, name))
    return out


def _sub(group):
    out = [()]
    for name, sub in group.commands.items():
        out += [(name, *rest) for rest in (_sub(sub) if hasattr(sub, "commands") else [()])]
    return out


@pytest.mark.parametrize("command", _commands(app), ids=lambda c: " ".join(c) or "crimecast")
def test_every_command_has_help(command):
    result = _invoke([*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_ingest_json_summary(db_env):
    path = SAMPLE / "sf_kaggle_train_sample.csv.gz"
    result = _invoke(["ingest", "incidents", str(path), "--format", "sf", "--json"], db_env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"rows_read", "loaded", "duplicates", "quarantined", "quarantined_by_reason"} <= set(data)
    assert data["rows_read"] == data["loaded"] + data["duplicates"] + data["quarantined"]
    assert data["quarantined_by_reason"]["out_of_range_coordinates"] > 0
    again = json.loads(_invoke(["ingest", "incidents", str(path), "-f", "sf", "--json"], db_env).stdout)
    assert again["loaded"] == 0 and again["duplicates"] == data["loaded"]


def test_ingest_table_and_runs(db_env):
    path = SAMPLE / "policeuk_west_yorkshire_2018-07_sample.zip"
    result = _invoke(["ingest", "incidents", str(path), "--format", "policeuk"], db_env)
    assert result.exit_code == 0
    assert "missing_coordinates" in result.output
    runs = json.loads(_invoke(["ingest", "runs", "--json"], db_env).stdout)
    assert runs[0]["status"] == "succeeded" and runs[0]["format"] == "policeuk"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "incidents", "missing.csv", "--format", "sf"], "Error: input file 'missing.csv' does not exist"),
        (["ingest", "incidents", str(SF_TRAIN), "--format", "nyc"], "Error: format must be one of"),
        (["ingest", "incidents", str(SF_TRAIN), "--format", "generic", "--map", "oops"],
         "Error: --map must look like target=column; got 'oops'"),
    ],
)
def test_errors_are_one_line_and_non_zero(db_env, args, message):
    result = _invoke(args, db_env)
    assert result.exit_code == 1
    assert result.stderr.strip().startswith(message)
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_not_migrated_database_says_how_to_fix(tmp_path):
    result = _invoke(["ingest", "runs"], {"CRIMECAST_DATA_DIR": str(tmp_path / "empty")})
    assert result.exit_code == 1
    assert "run `crimecast db upgrade` first" in result.stderr


def test_invalid_setting_is_one_line(tmp_path):
    result = _invoke(["ingest", "runs"], {"CRIMECAST_CELL_SIZE": "-5"})
    assert result.exit_code == 1
    assert "cell_size must be a positive number of metres; got -5.0" in result.stderr


def test_db_downgrade_and_current(db_env):
    from forecasting.store import migrate

    assert f"current: {migrate.head()}" in _invoke(["db", "current"], db_env).output
    from alembic.script import ScriptDirectory

    previous = ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_revision(migrate.head()).down_revision
    assert _invoke(["db", "downgrade"], db_env).exit_code == 0
    assert f"current: {previous}" in _invoke(["db", "current"], db_env).output
    assert _invoke(["db", "downgrade", "base"], db_env).exit_code == 0
    assert "current: base" in _invoke(["db", "current"], db_env).output


def test_db_purge_dry_run_then_purge(db_env):
    env = db_env | {"CRIMECAST_RETENTION_DAYS": "30"}
    out = _invoke(["db", "purge", "--dry-run", "--now", "2030-01-01"], env)
    assert out.exit_code == 0, out.output
    assert out.output.startswith("would delete:")
    assert "counts       30 days, before 2029-12-02 00:00 UTC: 0 activity counts and 0 count gaps" in out.output
    out = _invoke(["db", "purge", "--now", "2030-01-01"], env)
    assert out.exit_code == 0 and out.output.startswith("deleted:")
    # The purge itself is audited, so a later purge finds that event only once it is old.
    later = _invoke(["db", "purge", "--dry-run", "--now", "2100-01-01"], env)
    assert "audit        30 days, before 2099-12-02 00:00 UTC: 1 audit events" in later.output


def test_python_dash_m_entry_point(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "forecasting", "--help"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0 and "ingest" in proc.stdout


def _one_line_error(result, start: str) -> str:
    assert result.exit_code == 1, result.output
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith(start), err
    assert "Traceback" not in result.output and "Aborted" not in result.output and "╭" not in result.output
    return err


def test_truncated_gzip_is_one_line(db_env, tmp_path):
    import gzip

    with gzip.open(tmp_path / "a.csv.gz", "wt") as f:
        f.write("incident_id,occurred_at,latitude,longitude,category\n")
        f.writelines(f"{i},2024-01-01T00:00:00Z,49.2,-123.1,Theft\n" for i in range(50_000))
    data = (tmp_path / "a.csv.gz").read_bytes()
    (tmp_path / "cut.csv.gz").write_bytes(data[: len(data) // 2])
    _one_line_error(_invoke(["ingest", "incidents", str(tmp_path / "cut.csv.gz"), "-f", "canonical"], db_env),
                    "Error: 'cut.csv.gz' is truncated or corrupt")


def test_huge_header_is_cut_and_logged(db_env, tmp_path):
    (tmp_path / "wide.csv").write_text("x" * 5_000_000 + "\n1\n")
    err = _one_line_error(_invoke(["ingest", "incidents", str(tmp_path / "wide.csv"), "-f", "sf"], db_env), "Error: ")
    assert len(err) < 600 and "details in" in err
    runs = json.loads(_invoke(["ingest", "runs", "--json"], db_env).stdout)
    assert runs[0]["status"] == "failed" and len(runs[0]["error"]) <= 1000


def test_usage_errors_are_one_line_with_status_1(db_env, tmp_path):
    _one_line_error(_invoke(["ingest", "incidents", str(SF_TRAIN)], db_env), "Error: Missing option")
    _one_line_error(_invoke(["forecast", "--count", "many"], db_env), "Error: Invalid value")


def test_unexpected_errors_are_one_line_and_logged(db_env, tmp_path, monkeypatch):
    from forecasting import jobs

    def boom(*a, **k):
        raise ZeroDivisionError("division by zero\nsecond line")

    monkeypatch.setattr(jobs, "ingest_incidents", boom)
    err = _one_line_error(_invoke(["ingest", "incidents", str(SF_TRAIN), "-f", "sf"], db_env),
                          "Error: unexpected ZeroDivisionError: division by zero second line")
    log = err.rsplit("details in ", 1)[1].rstrip(")")
    assert "Traceback" in open(log).read()


def test_encoding_option_and_undecodable_quarantine(db_env, tmp_path):
    (tmp_path / "l1.csv").write_bytes(b"incident_id,occurred_at,latitude,longitude,category\n"
                                      b"1,2024-01-01T00:00:00Z,49.2,-123.1,Caf\xe9 theft\n")
    utf8 = json.loads(_invoke(["ingest", "incidents", str(tmp_path / "l1.csv"), "-f", "canonical", "--json"],
                              db_env).stdout)
    assert utf8["quarantined_by_reason"] == {"undecodable_text": 1} and utf8["loaded"] == 0
    latin = json.loads(_invoke(["ingest", "incidents", str(tmp_path / "l1.csv"), "-f", "canonical", "--json",
                                "--encoding", "latin-1"], db_env).stdout)
    assert latin["loaded"] == 1
    _one_line_error(_invoke(["ingest", "incidents", str(tmp_path / "l1.csv"), "-f", "canonical",
                             "--encoding", "nope"], db_env), "Error: encoding must be a known text encoding")


def test_skipped_zip_members_in_the_summary(db_env, tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "a.zip", "w") as z:
        z.writestr("data.csv", "incident_id,occurred_at,latitude,longitude,category\n"
                               "1,2024-01-01T00:00:00Z,49.2,-123.1,Theft\n")
        z.writestr("more.zip", b"PK")
        z.writestr("readme.pdf", "%PDF")
    r = _invoke(["ingest", "incidents", str(tmp_path / "a.zip"), "-f", "canonical", "--json"], db_env)
    assert json.loads(r.stdout)["skipped_members"] == ["a.zip: more.zip (nested zip, not opened)",
                                                       "a.zip: readme.pdf (not a CSV file)"]
    r = _invoke(["ingest", "incidents", str(tmp_path / "a.zip"), "-f", "canonical"], db_env)
    assert "skipped in a.zip: more.zip (nested zip, not opened); readme.pdf (not a CSV file)" in r.stdout


def test_cli_import_loads_no_heavy_library():
    # In a fresh interpreter: the test process itself has imported everything already.
    code = ("import sys, forecasting.cli; heavy = ['lightgbm', 'dash', 'geopandas', 'matplotlib', 'sklearn', "
            "'scipy', 'pandas', 'sqlalchemy', 'alembic', 'plotly']; print([m for m in heavy if m in sys.modules])")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize("args", [["db", "current"], ["users", "list"], ["ingest", "runs"]])
def test_commands_without_modelling_load_no_modelling_library(db_env, args):
    code = ("import sys; from forecasting.cli import app\n"
            "try:\n    app(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "heavy = ['lightgbm', 'dash', 'geopandas', 'matplotlib', 'sklearn', 'scipy', 'shapely']\n"
            "print([m for m in heavy if m in sys.modules], 'alembic' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, **db_env})
    assert proc.stdout.strip().splitlines()[-1] == "[] False", proc.stdout + proc.stderr


@pytest.mark.parametrize("args", [["db", "current"], ["users", "list"], ["ingest", "runs"]])
def test_listings_on_sqlite_import_neither_sqlalchemy_nor_rich_tables_needlessly(db_env, args):
    # Issue 15: these must answer in < 1.5 s; importing SQLAlchemy alone takes about a second.
    code = ("import sys; from forecasting.cli import app\n"
            "try:\n    app(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "print('sqlalchemy' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, **db_env})
    assert proc.stdout.strip().splitlines()[-1] == "False", proc.stdout + proc.stderr


def test_ingest_runs_mends_a_run_whose_process_died(db_env, tmp_path):
    import socket
    import sqlite3

    with sqlite3.connect(tmp_path / "var" / "crimecast.db") as conn:
        conn.execute("INSERT INTO ingest_runs (kind, source_path, format, source, rows_read, loaded, duplicates, "
                     "quarantined, started_at, status, host, pid) VALUES ('incidents', '/d/x.csv', 'sf', 'sf', "
                     "0, 0, 0, 0, '2026-12-01 08:00:00', 'running', ?, NULL)", (socket.gethostname(),))
    (run,) = json.loads(_invoke(["ingest", "runs", "--json"], db_env).stdout)
    assert run["status"] == "failed" and run["error"].startswith("interrupted")


def test_bad_period_fails_before_any_data_is_read(tmp_path):
    result = _invoke(["forecast", "--period", "fortnight"], {"CRIMECAST_DATA_DIR": str(tmp_path / "none")})
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: period must be one of ['week', 'day', 'shift', 'hour']; got 'fortnight'"
    assert not (tmp_path / "none").exists()


def test_help_shows_flags_without_a_type():
    out = _invoke(["forecast", "--help"]).output
    assert "<bool>" not in out and "<list[" not in out
    assert re.search(r"--json\s+Print JSON\.", out)
    assert re.search(r"--source <str>\s+Only incidents of this source \(repeatable\)\.", out)


def test_missing_sqlite_file_is_not_created_by_a_failing_command(tmp_path):
    db = tmp_path / "var" / "crimecast.db"
    for args in (["priority", "cameras"], ["ingest", "runs"], ["users", "list"], ["db", "current"]):
        result = _invoke(args, {"CRIMECAST_DATA_DIR": str(tmp_path / "var")})
        assert not db.exists(), args
        if args != ["db", "current"]:
            assert result.exit_code == 1 and "run `crimecast db upgrade` first" in result.stderr, args
    assert "current: base" in _invoke(["db", "current"], {"CRIMECAST_DATA_DIR": str(tmp_path / "var")}).output


def test_users_add_creates_and_migrates_a_new_sqlite_file(tmp_path):
    from forecasting.store import migrate

    env = {"CRIMECAST_DATA_DIR": str(tmp_path / "fresh")}
    result = runner.invoke(app, ["users", "add", "ana", "--role", "admin", "--password-stdin"],
                           input="a-long-password\n", env=env)
    assert result.exit_code == 0, result.output
    assert migrate.current(f"sqlite:///{tmp_path / 'fresh' / 'crimecast.db'}") == migrate.head()
    assert _invoke(["users", "list"], env).output.split()[:3] == ["ana", "admin", "active"]


def test_users_add_refuses_a_database_at_an_older_revision(db_env, tmp_path):
    from forecasting.store import migrate

    assert _invoke(["db", "downgrade"], db_env).exit_code == 0
    url = f"sqlite:///{tmp_path / 'var' / 'crimecast.db'}"
    older = migrate.current(url)
    result = runner.invoke(app, ["users", "add", "ana", "--password-stdin"], input="a-long-password\n",
                           env={**db_env, "CRIMECAST_DATABASE_URL": url})
    assert result.exit_code == 1
    assert result.stderr.strip() == (f"Error: the database at {url} is at schema revision {older}, not "
                                     f"{migrate.head()}; run `crimecast db upgrade` first")
    assert migrate.current(url) == older


def test_ingest_runs_table_is_not_cut_at_80_columns(db_env):
    _invoke(["ingest", "incidents", str(SF_TRAIN), "--format", "sf"], db_env)
    out = _invoke(["ingest", "runs"], db_env).output
    assert "sf_kaggle_train_sample.csv.gz" in out and "succeeded" in out and "…" not in out


def test_head_read_from_files_matches_alembic():
    from alembic.script import ScriptDirectory

    from forecasting.store import migrate

    assert migrate.head() == ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_current_head()
