"""Ingest runs against a real SQLite database: invariant, idempotency, overlap, atomicity."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
from sqlalchemy import select

from forecasting import jobs
from forecasting.errors import InputError
from forecasting.store import repository as repo
from forecasting.store.models import Incident, IngestRun, QuarantinedRow
from forecasting.store.session import transaction

from .conftest import REPO, SAMPLE, stored_rows

VANCOUVER = SAMPLE / "vancouver_4_neighbourhoods_2022_2024.csv.gz"
HEADER = "incident_id,occurred_at,latitude,longitude,category\n"



def _check_invariant(factory, summary):
    assert summary.rows_read == summary.loaded + summary.duplicates + summary.quarantined
    assert stored_rows(factory, Incident, summary.run_id) == summary.loaded
    assert stored_rows(factory, QuarantinedRow, summary.run_id) == summary.quarantined


def test_same_file_twice_loads_nothing_the_second_time(factory, settings):
    first = jobs.ingest_incidents(factory, settings, VANCOUVER, "vancouver")
    _check_invariant(factory, first)
    assert first.loaded > 40_000 and first.duplicates == 0
    second = jobs.ingest_incidents(factory, settings, VANCOUVER, "vancouver")
    _check_invariant(factory, second)
    assert second.loaded == 0
    assert second.duplicates == first.loaded
    assert second.quarantined_by_reason == first.quarantined_by_reason
    with transaction(factory) as s:
        assert repo.count_incidents(session=s) == first.loaded
        run = repo.get_run(session=s, run_id=second.run_id)
        assert run.status == "succeeded" and run.duplicates == first.loaded
        assert len(run.sha256) == 64


def test_overlapping_file_loads_only_what_is_new(factory, settings, tmp_path):
    raw = pd.read_csv(VANCOUVER, dtype=str, keep_default_na=False)
    raw = raw[raw["X"].astype(float) != 0]
    a, b = raw.iloc[:3000], raw.iloc[2000:5000]
    a.to_csv(tmp_path / "a.csv", index=False)
    b.to_csv(tmp_path / "b.csv", index=False)
    sa = jobs.ingest_incidents(factory, settings, tmp_path / "a.csv", "vancouver")
    sb = jobs.ingest_incidents(factory, settings, tmp_path / "b.csv", "vancouver")
    overlap = a.iloc[2000:]
    assert sa.loaded == 3000
    assert sb.duplicates == len(overlap)
    assert sb.loaded == 2000
    with transaction(factory) as s:
        assert repo.count_incidents(session=s) == 5000


def test_same_id_with_different_content_is_quarantined(factory, settings, tmp_path):
    (tmp_path / "a.csv").write_text(
        HEADER + "x1,2024-01-01 10:00,51.5,-0.1,Theft\nx2,2024-01-01 11:00,51.5,-0.1,Theft\n"
    )
    (tmp_path / "b.csv").write_text(
        HEADER + "x1,2024-01-01 10:00,51.5,-0.1,Robbery\nx2,2024-01-01 11:00,51.5,-0.1,Theft\n"
        "x3,2024-01-02 11:00,51.5,-0.1,Theft\nx3,2024-01-02 11:00,51.5,-0.1,Theft\n"
        "x4,2024-01-02 11:00,51.5,-0.1,Theft\nx4,2024-01-02 12:00,51.5,-0.1,Theft\n"
    )
    jobs.ingest_incidents(factory, settings, tmp_path / "a.csv", "canonical")
    s = jobs.ingest_incidents(factory, settings, tmp_path / "b.csv", "canonical")
    _check_invariant(factory, s)
    assert (s.loaded, s.duplicates) == (2, 2)  # x3 and x4's first row are new
    assert s.quarantined_by_reason == {"conflicting_id": 2}  # x1 changed, x4's second row differs
    with transaction(factory) as sess:
        rows = sess.execute(
            select(QuarantinedRow.row_number, QuarantinedRow.detail).where(QuarantinedRow.run_id == s.run_id)
        ).all()
    assert sorted(r[0] for r in rows) == [1, 6]
    assert any("x1 already exists" in r[1] for r in rows)


def test_parsing_in_a_child_process_gives_the_same_result(factory, settings, tmp_path):
    """The process path (used for big files) loads exactly what the thread path loads."""
    from forecasting.store.session import make_engine, make_session_factory

    threaded = jobs.ingest_incidents(factory, settings, VANCOUVER, "vancouver", parse_in_process=False)
    other = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'other.db'}", "chunk_size": 7000})
    from forecasting.store import migrate

    migrate.upgrade(other.resolved_database_url())
    factory2 = make_session_factory(make_engine(other.resolved_database_url()))
    forked = jobs.ingest_incidents(factory2, other, VANCOUVER, "vancouver", parse_in_process=True)
    assert (forked.rows_read, forked.loaded, forked.quarantined_by_reason) == (
        threaded.rows_read, threaded.loaded, threaded.quarantined_by_reason)
    with transaction(factory) as s1, transaction(factory2) as s2:
        a = pd.read_sql("select incident_id, content_hash from incidents order by incident_id", s1.connection())
        b = pd.read_sql("select incident_id, content_hash from incidents order by incident_id", s2.connection())
    pd.testing.assert_frame_equal(a, b)


def test_an_error_in_the_parsing_process_fails_the_run_cleanly(factory, settings):
    with pytest.raises(InputError, match="format 'sf' needs columns"):
        jobs.ingest_incidents(factory, settings, VANCOUVER, "sf", parse_in_process=True)
    with transaction(factory) as s:
        (run,) = s.scalars(select(IngestRun)).all()
    assert run.status == "failed" and stored_rows(factory, Incident) == 0


def test_a_failure_midway_leaves_no_rows_and_is_recorded(factory, settings, monkeypatch):
    calls = {"n": 0}
    real = repo.insert_incidents

    def flaky(**kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        return real(**kwargs)

    monkeypatch.setattr(repo, "insert_incidents", flaky)
    settings = settings.model_copy(update={"chunk_size": 5000})
    with pytest.raises(OSError, match="No space left"):
        jobs.ingest_incidents(factory, settings, VANCOUVER, "vancouver")
    assert stored_rows(factory, Incident) == 0
    assert stored_rows(factory, QuarantinedRow) == 0
    with transaction(factory) as s:
        (run,) = repo.list_runs(session=s)
    assert run.status == "failed" and "No space left on device" in run.error


@pytest.mark.parametrize("in_process", [False, True], ids=["thread", "process"])
def test_a_killed_run_leaves_the_database_as_it_was(factory, settings, sqlite_url, tmp_path, in_process):
    """SIGKILL during the third chunk: nothing of the run survives; the run is marked failed."""
    before = jobs.ingest_incidents(factory, settings, SAMPLE / "sf_kaggle_test_sample.csv.gz", "sf")
    script = textwrap.dedent(
        f"""
        import os, signal
        from forecasting import jobs
        from forecasting.config import load_settings
        from forecasting.store import repository as repo
        from forecasting.store.session import make_engine, make_session_factory
        real, calls = repo.insert_incidents, []
        def killer(**kw):
            calls.append(1)
            if len(calls) == 3:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(**kw)
        repo.insert_incidents = killer
        settings = load_settings(database_url={sqlite_url!r}, chunk_size=5000)
        factory = make_session_factory(make_engine(settings.resolved_database_url()))
        jobs.ingest_incidents(factory, settings, {str(VANCOUVER)!r}, "vancouver", parse_in_process={in_process})
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-500:]
    assert stored_rows(factory, Incident) == before.loaded
    assert stored_rows(factory, QuarantinedRow) == before.quarantined
    with transaction(factory) as s:
        assert repo.fail_interrupted_runs(session=s) == 1
    with transaction(factory) as s:
        runs = {r.format: r for r in repo.list_runs(session=s)}
    assert runs["vancouver"].status == "failed"
    assert runs["vancouver"].error.startswith("interrupted")
    assert runs["sf"].status == "succeeded"


def test_wrong_format_fails_before_any_row_and_records_the_run(factory, settings):
    with pytest.raises(InputError, match="format 'sf' needs columns"):
        jobs.ingest_incidents(factory, settings, VANCOUVER, "sf")
    with transaction(factory) as s:
        (run,) = s.scalars(select(IngestRun)).all()
    assert run.status == "failed" and "format 'sf' needs columns" in run.error
    assert stored_rows(factory, Incident) == 0


def test_study_area_quarantines_rows_outside(factory, settings):
    # A box around the Central Business District only.
    boxed = settings.model_copy(update={"study_area": (-123.13, 49.27, -123.10, 49.29)})
    s = jobs.ingest_incidents(factory, boxed, VANCOUVER, "vancouver")
    _check_invariant(factory, s)
    assert s.quarantined_by_reason["outside_study_area"] > 1000
    with transaction(factory) as sess:
        lons = sess.scalars(select(Incident.longitude)).all()
    assert min(lons) >= -123.13 and max(lons) <= -123.10


@pytest.mark.db
def test_ingest_into_postgres(postgres_url, settings):
    from sqlalchemy import text

    from forecasting.store import migrate
    from forecasting.store.session import make_engine, make_session_factory

    migrate.upgrade(postgres_url)
    engine = make_engine(postgres_url)
    factory = make_session_factory(engine)
    path = SAMPLE / "sf_kaggle_train_sample.csv.gz"
    first = jobs.ingest_incidents(factory, settings, path, "sf")
    again = jobs.ingest_incidents(factory, settings, path, "sf")
    _check_invariant(factory, first)
    assert again.loaded == 0 and again.duplicates == first.loaded
    with engine.connect() as conn:
        # The generated PostGIS point agrees with the stored numbers.
        bad = conn.execute(text(
            "select count(*) from incidents where abs(ST_X(geom) - longitude) > 1e-9 "
            "or abs(ST_Y(geom) - latitude) > 1e-9"
        )).scalar()
        within = conn.execute(text(
            "select count(*) from incidents where ST_DWithin(geom::geography, "
            "ST_SetSRID(ST_MakePoint(-122.4194, 37.7749), 4326)::geography, 20000)"
        )).scalar()
    engine.dispose()
    assert bad == 0
    assert within == first.loaded  # every loaded SF incident is within 20 km of City Hall


@pytest.mark.slow
@pytest.mark.shared
@pytest.mark.parametrize(
    ("parts", "fmt", "reason"),
    [
        (("vancouver", "crimedata_csv_AllNeighbourhoods_2024.csv.gz"), "vancouver", "zero_coordinates"),
        (("policeuk_west_yorkshire", "2016-07-west-yorkshire-street.csv.gz"), "policeuk", "missing_coordinates"),
        (("chicago", "chicago_aggravated_assaults.csv.gz"), "chicago", None),
    ],
)
def test_full_shared_files_ingest_with_their_adapter(factory, settings, parts, fmt, reason):
    from .conftest import shared_file

    path = shared_file(*parts)
    raw_rows = len(pd.read_csv(path, dtype=str, keep_default_na=False))
    s = jobs.ingest_incidents(factory, settings, path, fmt)
    _check_invariant(factory, s)
    assert s.rows_read == raw_rows
    if reason:
        assert s.quarantined_by_reason[reason] > 0
    again = jobs.ingest_incidents(factory, settings, path, fmt)
    assert again.loaded == 0 and again.duplicates == s.loaded
