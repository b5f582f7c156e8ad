"""Retention per table: ``apply_retention`` honours each limit, deletes old exports under data_dir only."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from forecasting.config import load_settings
from forecasting.jobs.governance import apply_retention
from forecasting.store import forecasts as frepo
from forecasting.store import governance as grepo
from forecasting.store import grids as grids_repo
from forecasting.store.models import AuditEvent, ForecastRun, PatrolVisit
from forecasting.store.session import transaction

from .conftest import stored_rows

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def _forecast(s, grid, start):
    frame = pd.DataFrame({"cell_id": ["a", "b"], "expected_count": [1.0, 0.5], "probability": [0.5, 0.3],
                          "score": [1.0, 0.5], "rank": [1, 2], "reasons": [None, None]})
    return frepo.save_forecast(session=s, frame=frame, grid_id=grid, model="lgbm", category="all", period="week",
                               period_start=start, period_end=start + pd.Timedelta(days=7))


def test_each_table_has_its_own_limit_and_exports_outside_data_dir_are_kept(factory, tmp_path):
    settings = load_settings(data_dir=str(tmp_path / "var"), retention_days=3650, retention_forecasts_days=30,
                             retention_exports_days=60, retention_audit_days=400)
    inside = tmp_path / "var" / "exports" / "old.csv"
    inside.parent.mkdir(parents=True)
    inside.write_text("x")
    outside = tmp_path / "elsewhere.csv"
    outside.write_text("x")
    with transaction(factory) as s:
        grid = grids_repo.upsert_grid(session=s, key="g", kind="square")
        _forecast(s, grid, datetime(2024, 10, 1, tzinfo=UTC))  # ended > 30 days ago
        _forecast(s, grid, datetime(2024, 12, 20, tzinfo=UTC))  # recent
        for path in (inside, outside):
            grepo.record_audit(session=s, username="ana", action="export", details={"path": str(path)})
        grepo.save_patrol_visits(session=s, visits=pd.DataFrame({
            "hotspot_id": ["H01", "H02"], "area": ["all", "all"],
            "start": [datetime(2024, 9, 1, 8, tzinfo=UTC), datetime(2024, 12, 30, 8, tzinfo=UTC)],
            "end": [datetime(2024, 9, 1, 8, 15, tzinfo=UTC), datetime(2024, 12, 30, 8, 15, tzinfo=UTC)],
            "cell_ids": [["a"], ["b", "c"]]}), audit_id=None, shift="x", model_version_id=None)
    with transaction(factory) as s:
        for e in s.query(AuditEvent):  # back-date the export records, as if written in August
            e.at = datetime(2024, 8, 1, tzinfo=UTC)
            e.prev_hash, e.row_hash = grepo.GENESIS, "x"
    dry = apply_retention(factory, settings, now=NOW, dry_run=True)
    assert (dry.forecast_runs, dry.patrol_visits, dry.export_files, dry.audit_events) == (1, 1, 1, 0)
    assert inside.exists() and stored_rows(factory, ForecastRun) == 2
    done = apply_retention(factory, settings, now=NOW, user="admin")
    assert (done.forecast_runs, done.patrol_visits, done.export_files) == (1, 1, 1)
    assert not inside.exists() and outside.exists()
    assert stored_rows(factory, ForecastRun) == 1 and stored_rows(factory, PatrolVisit) == 1
    assert done.cutoffs["forecasts"] == datetime(2024, 12, 2, tzinfo=UTC)
    with transaction(factory) as s:
        left = grepo.patrol_visits(session=s)
        event = grepo.audit_frame(session=s, action="retention").iloc[0]
    assert left["cell_ids"].tolist() == [["b", "c"]]
    assert event["details"]["retention_days"] == {"counts": 3650, "forecasts": 30, "exports": 60, "audit": 400}


def test_patrolled_mask_from_stored_visits(factory):
    from forecasting.jobs.governance import patrolled_mask

    with transaction(factory) as s:
        grepo.save_patrol_visits(session=s, visits=pd.DataFrame({
            "hotspot_id": ["H01", "H02", "H03"],
            "start": pd.to_datetime(["2024-01-02 08:00", "2024-01-09 09:00", "2023-12-01 00:00"], utc=True),
            "end": pd.to_datetime(["2024-01-02 08:15", "2024-01-09 09:15", "2023-12-01 00:15"], utc=True),
            "cell_ids": [["a", "b"], ["c", "zz"], ["a"]]}), audit_id=None, shift=None, model_version_id=None)
    starts = pd.date_range("2024-01-01", periods=3, freq="7D", tz="UTC")
    mask = patrolled_mask(factory, ["a", "b", "c"], starts, pd.Timedelta(days=7))
    assert mask.astype(int).tolist() == [[1, 1, 0], [0, 0, 1], [0, 0, 0]]
