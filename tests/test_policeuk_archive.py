"""``crimecast ingest policeuk-archive``: a bulk download (folder per month, files per force) in one command."""

from __future__ import annotations

import json
import zipfile

import pandas as pd
import pytest
from typer.testing import CliRunner

from forecasting import jobs
from forecasting.cli import app as cli
from forecasting.store.models import Incident, QuarantinedRow

from .conftest import SAMPLE, stored_rows

SAMPLE_ZIP = SAMPLE / "policeuk_west_yorkshire_2018-07_sample.zip"
PERSON = "PERSON-DETAIL-MUST-NOT-BE-STORED"


def _write_archive(root):
    """Two months x two forces of street files (cut from the bundled sample), plus outcomes and stop and search."""
    with zipfile.ZipFile(SAMPLE_ZIP) as z, z.open(z.namelist()[0]) as f:
        street = pd.read_csv(f, dtype=str, keep_default_na=False)
    quarter = len(street) // 4
    counts = {}
    for i, (month, force) in enumerate([("2018-07", "west-yorkshire"), ("2018-07", "north-yorkshire"),
                                        ("2018-08", "west-yorkshire"), ("2018-08", "north-yorkshire")]):
        part = street.iloc[i * quarter:(i + 1) * quarter].assign(Month=month)
        folder = root / month
        folder.mkdir(parents=True, exist_ok=True)
        part.to_csv(folder / f"{month}-{force}-street.csv", index=False)
        pd.DataFrame({"Crime ID": part["Crime ID"].head(5), "Outcome type": "Suspect charged"}).to_csv(
            folder / f"{month}-{force}-outcomes.csv", index=False)
        pd.DataFrame({"Type": ["Person search"], "Date": [f"{month}-03T10:00:00+00:00"], "Gender": ["Male"],
                      "Age range": ["18-24"], "Self-defined ethnicity": [PERSON], "Latitude": ["53.8"],
                      "Longitude": ["-1.5"]}).to_csv(folder / f"{month}-{force}-stop-and-search.csv", index=False)
        counts[(month, force)] = len(part)
    (root / "README.txt").write_text("police.uk custom download")
    return counts


@pytest.fixture
def archive_dir(tmp_path):
    root = tmp_path / "download"
    counts = _write_archive(root)
    return root, counts


def _zip(folder, path):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                z.write(f, f.relative_to(folder).as_posix())
    return path


@pytest.mark.parametrize("as_zip", [False, True], ids=["folder", "zip"])
def test_every_month_and_force_is_ingested_and_stop_and_search_never(factory, settings, archive_dir, tmp_path, as_zip):
    root, counts = archive_dir
    path = _zip(root, tmp_path / "download.zip") if as_zip else root
    s = jobs.ingest_policeuk_archive(factory, settings, path)
    forces = s.by_force()
    assert sorted(forces) == ["north-yorkshire", "west-yorkshire"]
    for force, f in forces.items():
        assert f["months"] == ["2018-07", "2018-08"]
        assert f["rows_read"] == counts[("2018-07", force)] + counts[("2018-08", force)]
        assert f["rows_read"] == f["loaded"] + f["duplicates"] + f["quarantined"]
    assert stored_rows(factory, Incident) == sum(f["loaded"] for f in forces.values())
    assert stored_rows(factory, QuarantinedRow) == sum(f["quarantined"] for f in forces.values())
    assert [f.status for f in s.files] == ["succeeded"] * 4  # one run per street file, month then force
    assert sum("stop and search describes persons, never ingested" in x for x in s.skipped) == 4
    assert sum("case outcomes" in x for x in s.skipped) == 4
    assert any(x.startswith("README.txt: not a police.uk") for x in s.skipped)
    # Nothing of the stop-and-search files reached the database, in any column.
    from sqlalchemy import text

    from forecasting.store.session import transaction

    with transaction(factory) as sess:
        hits = sess.execute(text("select count(*) from incidents where attributes like :p or category like :p"),
                            {"p": f"%{PERSON}%"}).scalar()
        quarantined = sess.execute(text("select count(*) from quarantined_rows where raw like :p"),
                                   {"p": f"%{PERSON}%"}).scalar()
    assert hits == 0 and quarantined == 0
    again = jobs.ingest_policeuk_archive(factory, settings, path)
    assert sum(f["loaded"] for f in again.by_force().values()) == 0
    assert sum(f["duplicates"] for f in again.by_force().values()) == sum(
        f["loaded"] + f["duplicates"] for f in forces.values())


def test_force_filter_and_clear_errors(factory, settings, archive_dir, sqlite_url, tmp_path):
    root, counts = archive_dir
    s = jobs.ingest_policeuk_archive(factory, settings, root, forces=["north-yorkshire"])
    assert list(s.by_force()) == ["north-yorkshire"] and len(s.files) == 2
    env = {"CRIMECAST_DATABASE_URL": sqlite_url}
    r = CliRunner().invoke(cli, ["ingest", "policeuk-archive", str(root), "--force", "kent"], env=env)
    assert r.exit_code == 1
    assert "Error: --force must name forces in the archive (north-yorkshire, west-yorkshire); got kent" in r.output
    empty = tmp_path / "empty"
    empty.mkdir()
    r = CliRunner().invoke(cli, ["ingest", "policeuk-archive", str(empty)], env=env)
    assert r.exit_code == 1 and "no police.uk street files" in r.output


def test_cli_prints_a_summary_per_force(archive_dir, sqlite_url):
    root, counts = archive_dir
    env = {"CRIMECAST_DATABASE_URL": sqlite_url}
    r = CliRunner().invoke(cli, ["ingest", "policeuk-archive", str(root), "--json"], env=env)
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["forces"]["west-yorkshire"]["rows_read"] == counts[("2018-07", "west-yorkshire")] + counts[
        ("2018-08", "west-yorkshire")]
    r = CliRunner().invoke(cli, ["ingest", "policeuk-archive", str(root)], env=env)
    assert r.exit_code == 0, r.output
    assert "west-yorkshire" in r.output and "2 (2018-07 to 2018-08)" in r.output
    assert "skipped 4 file(s): stop and search describes persons, never ingested" in r.output
