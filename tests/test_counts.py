"""Activity counts: the invariant, duplicates, conflicts, gaps, formats, atomicity and garbage."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import select

from forecasting.errors import InputError
from forecasting.jobs.cameras import ingest_cameras, ingest_counts
from forecasting.store import counts as counts_repo
from forecasting.store.models import ActivityCount, CountGap, QuarantinedRow
from forecasting.store.session import transaction

from .conftest import SAMPLE, shared_file, stored_rows

CAMS = "camera_id,longitude,latitude\nc1,-1.54,53.79\nc2,-1.55,53.79\n"
HEADER = "camera_id,period_start,people,vehicles\n"



def _check(factory, s):
    assert s.rows_read == s.loaded + s.duplicates + s.quarantined
    assert stored_rows(factory, ActivityCount, s.run_id) == s.loaded
    assert stored_rows(factory, QuarantinedRow, s.run_id) == s.quarantined


@pytest.fixture
def cams(factory, settings, tmp_path):
    (tmp_path / "cams.csv").write_text(CAMS)
    ingest_cameras(factory, settings, tmp_path / "cams.csv", "canonical")


def test_leeds_month_invariant_dst_hour_and_rerun(factory, settings):
    ingest_cameras(factory, settings, SAMPLE / "leeds_camera_locs.csv", "leeds")
    path = SAMPLE / "leeds_footfall_2016-03.csv.gz"
    s = ingest_counts(factory, settings, path, "leeds")
    _check(factory, s)
    assert s.rows_read == 5952
    # 01:00 on 27 March 2016 does not exist in Europe/London: one row per camera.
    assert s.quarantined_by_reason == {"nonexistent_local_time": 8}
    again = ingest_counts(factory, settings, path, "leeds")
    _check(factory, again)
    assert (again.loaded, again.duplicates) == (0, s.loaded)
    with transaction(factory) as sess:
        counts = counts_repo.load_counts(session=sess, sources=["leeds"])
        gaps = counts_repo.load_gaps(session=sess)
    assert counts["period_start"].dt.tz is not None and counts["people"].ge(0).all()
    # The skipped 01:00 is no real hour: each camera's UTC series stays whole, so no gap.
    assert gaps.empty and len(counts) == 5944


def test_duplicates_conflicts_unknown_and_bad_values(factory, settings, tmp_path, cams):
    (tmp_path / "a.csv").write_text(HEADER + "c1,2024-01-01T10:00,5,1\n")
    (tmp_path / "b.csv").write_text(
        HEADER + "c1,2024-01-01T10:00,5,1\n"       # duplicate of a stored row
        "c1,2024-01-01T11:00,6,\nc1,2024-01-01T11:00,6,\n"  # new, then an in-file duplicate
        "c1,2024-01-01T12:00,7,\nc1,2024-01-01T12:00,8,\n"  # new, then a conflicting duplicate
        "c1,2024-01-01T10:00,9,1\n"                # conflicts with the stored row
        "zz,2024-01-01T10:00,1,1\n"                # unknown camera
        "c2,2024-01-01T10:00,-1,\nc2,2024-01-01T11:00,,\nc2,2024-01-01T12:00,900000,\n"
        "c2,2024-01-01T13:00,2.5,\nc2,yesterday,3,\n,2024-01-01T10:00,3,\n")
    ingest_counts(factory, settings, tmp_path / "a.csv", "canonical")
    s = ingest_counts(factory, settings, tmp_path / "b.csv", "canonical")
    _check(factory, s)
    assert (s.loaded, s.duplicates) == (2, 2), s
    assert s.quarantined_by_reason == {
        "conflicting_duplicate": 2, "unknown_camera": 1, "negative_count": 1, "missing_count": 1,
        "implausible_count": 1, "non_integer_count": 1, "unparseable_date": 1, "missing_camera_id": 1}


def test_missing_hours_are_gaps_and_filling_them_removes_the_gap(factory, settings, tmp_path, cams):
    (tmp_path / "a.csv").write_text(HEADER + "".join(
        f"c1,2024-01-01T{h:02d}:00,{h},\n" for h in (0, 1, 5, 6, 9)))
    s = ingest_counts(factory, settings, tmp_path / "a.csv", "canonical")
    assert s.gaps == 2
    with transaction(factory) as sess:
        g = counts_repo.load_gaps(session=sess).sort_values("gap_start")
    assert g["gap_start"].dt.hour.tolist() == [2, 7] and g["gap_end"].dt.hour.tolist() == [5, 9]
    (tmp_path / "b.csv").write_text(HEADER + "".join(f"c1,2024-01-01T{h:02d}:00,{h},\n" for h in (2, 3, 4)))
    ingest_counts(factory, settings, tmp_path / "b.csv", "canonical")
    with transaction(factory) as sess:
        g = counts_repo.load_gaps(session=sess)
    assert g["gap_start"].dt.hour.tolist() == [7]
    # Zero counts are kept as zeros, never confused with gaps.
    with transaction(factory) as sess:
        c = counts_repo.load_counts(session=sess)
    assert 0.0 in c["people"].tolist()


def test_auckland_wide_rows_are_non_blank_cells(factory, settings):
    ingest_cameras(factory, settings, SAMPLE / "auckland_locations.csv", "auckland")
    path = SAMPLE / "auckland_hourly_2024-09.csv.gz"
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    cells = raw.drop(columns=["date", "hour", "year"])
    non_blank = int((cells != "").to_numpy().sum())
    s = ingest_counts(factory, settings, path, "auckland")
    _check(factory, s)
    assert s.rows_read == non_blank
    assert s.blank_cells == cells.size - non_blank
    # 2024-09-28 06:00 appears twice with different counts: later copies are conflicts.
    assert s.quarantined_by_reason["conflicting_duplicate"] >= 15
    assert s.quarantined_by_reason["nonexistent_local_time"] > 0  # 02:00 on 29 September


def test_melbourne_headerless_first_line_is_a_row(factory, settings):
    ingest_cameras(factory, settings, SAMPLE / "melbourne_sensor_locations.csv", "melbourne")
    s = ingest_counts(factory, settings, SAMPLE / "melbourne_counts_2012-10_sensors_1-6.csv.gz", "melbourne")
    _check(factory, s)
    assert s.rows_read == 4464
    assert s.quarantined_by_reason == {"nonexistent_local_time": 6}  # 02:00 on 7 October, 6 sensors


def test_cta_daily_entries(factory, settings):
    path = SAMPLE / "cta_station_entries_5_stations_2011.csv.gz"
    ingest_cameras(factory, settings, path, "chicago-cta")
    s = ingest_counts(factory, settings, path, "chicago-cta")
    _check(factory, s)
    with transaction(factory) as sess:
        res = set(sess.scalars(select(ActivityCount.resolution)).all())
    assert res == {"day"}
    assert s.duplicates > 0 and s.quarantined_by_reason.get("conflicting_duplicate", 0) > 0


def test_counts_need_a_registry(factory, settings, tmp_path):
    (tmp_path / "c.csv").write_text(HEADER + "c1,2024-01-01T10:00,5,1\n")
    with pytest.raises(InputError, match="no cameras of source 'canonical' are stored"):
        ingest_counts(factory, settings, tmp_path / "c.csv", "canonical")


def test_a_failure_midway_leaves_nothing(factory, settings, monkeypatch, tmp_path, cams):
    (tmp_path / "c.csv").write_text(HEADER + "".join(f"c1,2024-01-{d:02d}T10:00,{d},\n" for d in range(1, 29)))
    real, calls = counts_repo.insert_counts, []

    def flaky(**kw):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(**kw)

    monkeypatch.setattr(counts_repo, "insert_counts", flaky)
    small = settings.model_copy(update={"chunk_size": 10})
    with pytest.raises(OSError, match="No space left"):
        ingest_counts(factory, small, tmp_path / "c.csv", "canonical")
    assert stored_rows(factory, ActivityCount) == 0 and stored_rows(factory, CountGap) == 0


garbage = st.text(st.characters(blacklist_categories=("Cs",)), max_size=10)
value = st.one_of(garbage, st.sampled_from(["c1", "c2", "zz", "", "2024-01-01T10:00", "2024-01-01", "-1", "0", "7",
                                            "1e9", "nan", "inf", "3.5", "2024-03-31T02:30"]),
                  st.integers(-5, 10**6).map(str))


@hsettings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(value, min_size=1, max_size=5), max_size=20))
def test_garbage_counts_never_crash_and_nothing_is_lost(rows, factory, settings, tmp_path_factory, cams):
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["camera_id", "period_start", "people", "vehicles"])
    w.writerows(rows)
    path = tmp_path_factory.mktemp("g") / "garbage.csv"
    path.write_text(buf.getvalue(), newline="")
    s = ingest_counts(factory, settings, path, "canonical")
    lines = list(csv.reader(io.StringIO(buf.getvalue())))[1:]
    expected = sum(1 for r in lines if r and not (len(r) == 1 and not r[0].strip()))
    assert s.rows_read == expected
    _check(factory, s)


@pytest.mark.slow
@pytest.mark.shared
@pytest.mark.parametrize("fmt,reg,counts,expect", [
    ("leeds", ("leeds_footfall", "camera_locs.csv"), ("leeds_footfall", "footfall.csv.gz"),
     {"rows_read": 554360, "duplicates": 576, "quarantined_by_reason": {"nonexistent_local_time": 63}}),
    ("auckland", ("auckland_pedestrians", "locations.csv"), ("auckland_pedestrians", "hourly_counts.csv.gz"),
     {"rows_read": 1220823, "blank_cells": 67884}),
    ("melbourne", ("melbourne_pedestrians", "Pedestrian_sensor_locations.csv"),
     ("melbourne_pedestrians", "pedestriancounts_melbourne.zip"),
     {"rows_read": 656823, "quarantined_by_reason": {"missing_camera_id": 2, "missing_count": 14,
                                                     "nonexistent_local_time": 18}}),
])
def test_shared_count_files_ingest(factory, settings, fmt, reg, counts, expect):
    ingest_cameras(factory, settings, shared_file(*reg), fmt)
    s = ingest_counts(factory, settings, shared_file(*counts), fmt)
    _check(factory, s)
    for k, v in expect.items():
        got = dict(s.quarantined_by_reason) if k == "quarantined_by_reason" else getattr(s, k)
        assert got == v, k


def test_retention_purges_old_counts_gaps_and_audit_rows_only(factory, settings, cams, tmp_path):
    from datetime import UTC, datetime

    from forecasting.jobs.governance import apply_retention
    from forecasting.store.governance import audit_frame, record_audit
    from forecasting.store.models import AuditEvent

    # Two old hours with a gap between them, and two recent hours.
    (tmp_path / "a.csv").write_text(HEADER + "c1,2022-01-01T10:00,5,1\nc1,2022-01-01T13:00,2,0\n"
                                    "c1,2024-06-01T10:00,7,1\nc2,2024-06-01T11:00,3,0\n")
    ingest_counts(factory, settings, tmp_path / "a.csv", "canonical")
    with transaction(factory) as s:
        old = record_audit(session=s, username="ana", action="view", target="cell x")
        s.get(AuditEvent, old).at = datetime(2022, 1, 5, tzinfo=UTC)
        record_audit(session=s, username="ana", action="view", target="cell y")
    n_gaps = stored_rows(factory, CountGap)
    assert stored_rows(factory, ActivityCount) == 4 and n_gaps >= 1
    now = datetime(2024, 12, 31, tzinfo=UTC)  # retention_days 730: cut-off 2023-01-01
    dry = apply_retention(factory, settings, now=now, dry_run=True)
    assert (dry.counts, dry.audit_events, dry.dry_run) == (2, 1, True) and dry.gaps >= 1
    assert stored_rows(factory, ActivityCount) == 4 and stored_rows(factory, CountGap) == n_gaps
    done = apply_retention(factory, settings, now=now, user="admin")
    assert (done.counts, done.gaps, done.audit_events) == (dry.counts, dry.gaps, dry.audit_events)
    with transaction(factory) as s:
        kept = counts_repo.load_counts(session=s)
        audit = audit_frame(session=s)
    assert sorted(kept["people"].tolist()) == [3, 7]
    assert stored_rows(factory, CountGap) == n_gaps - done.gaps
    assert "cell x" not in audit["target"].tolist() and "cell y" in audit["target"].tolist()
    purge = audit[audit["action"] == "retention"].iloc[0]
    assert purge["username"] == "admin" and purge["details"]["counts"] == 2
    # Nothing left to purge: a second run deletes nothing.
    again = apply_retention(factory, settings, now=now)
    assert (again.counts, again.gaps, again.audit_events) == (0, 0, 0)
