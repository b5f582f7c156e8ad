"""Governance jobs: retention limits per table (``crimecast db purge``).

A composition module: computes each cut-off from the settings and calls the store's purge
functions in one transaction, recording the purge itself in the audit log. Export files are
deleted after the transaction commits (a failed purge deletes no file), and only under
``data_dir``: a file the user wrote elsewhere is theirs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from forecasting.config import RETENTION_TABLES, Settings
from forecasting.store import counts as counts_repo
from forecasting.store import governance as grepo
from forecasting.store.session import transaction


@dataclass(frozen=True)
class RetentionSummary:
    """What :func:`apply_retention` deleted (or would delete, with ``dry_run``).

    ``before`` is the cut-off of the counts (kept for callers of the single-limit purge);
    ``cutoffs`` gives every table's.
    """

    before: datetime
    counts: int
    gaps: int
    audit_events: int
    dry_run: bool
    forecast_runs: int = 0
    patrol_visits: int = 0
    export_files: int = 0
    cutoffs: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["before"] = self.before.isoformat()
        out["cutoffs"] = {k: v.isoformat() for k, v in self.cutoffs.items()}
        return out


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except (ValueError, OSError):
        return False
    return True


def apply_retention(factory: sessionmaker[Session], settings: Settings, *, now: datetime | None = None,
                    dry_run: bool = False, user: str | None = None) -> RetentionSummary:
    """Delete what is older than each table's retention limit.

    Parameters
    ----------
    factory : sessionmaker
    settings : Settings
        ``retention_<table>_days`` (default ``retention_days``) for ``counts`` (activity counts and
        gaps), ``forecasts`` (forecast runs whose period ended before the cut-off), ``exports``
        (export files under ``data_dir`` recorded in the audit log, and stored patrol visits) and
        ``audit`` (a prefix of the audit chain, replaced by a checkpoint row).
    now : datetime, optional
        Default: the current time (UTC). Naive values are read as UTC.
    dry_run : bool, default False
        Count what would be deleted and delete nothing.
    user : str, optional
        Recorded with the ``retention`` audit event that a real purge writes (after the
        deletion, so the record of the purge itself is kept).

    Returns
    -------
    RetentionSummary

    Examples
    --------
    Skipped in the test run: it needs a migrated database (``factory``).

    >>> apply_retention(factory, settings, dry_run=True).counts  # doctest: +SKIP
    0
    """
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    cut = {t: now - timedelta(days=settings.retention(t)) for t in RETENTION_TABLES}
    root = Path(settings.data_dir)
    with transaction(factory) as s:
        counts, gaps = counts_repo.purge_counts(session=s, before=cut["counts"], dry_run=dry_run)
        runs = grepo.purge_forecasts(session=s, before=cut["forecasts"], dry_run=dry_run)
        visits = grepo.purge_patrol_visits(session=s, before=cut["exports"], dry_run=dry_run)
        # Read the export records before the audit purge can remove them.
        files = [p for p in map(Path, grepo.expired_exports(session=s, before=cut["exports"]))
                 if p.is_file() and _inside(p, root)]
        audit = grepo.purge_audit(session=s, before=cut["audit"], dry_run=dry_run, username=user)
        summary = RetentionSummary(cut["counts"], counts, gaps, audit, dry_run, runs, visits, len(files), cut)
        if not dry_run:
            grepo.record_audit(session=s, username=user, action="retention",
                               target=f"before {cut['counts'].isoformat()}",
                               details={**{k: v for k, v in summary.to_dict().items() if k != "dry_run"},
                                        "retention_days": {t: settings.retention(t) for t in RETENTION_TABLES}})
    if not dry_run:
        for p in files:
            p.unlink(missing_ok=True)
    return summary


def store_plan_visits(session: Session, plan, *, audit_id: int | None) -> int:
    """Store the visit windows of an exported patrol plan (UTC, with the hotspot's cells).

    The feedback-loop guard reads them back (:func:`forecasting.store.governance.patrol_visits`)
    to tell incidents recorded where and while a patrol was present from the rest.

    Parameters
    ----------
    session : Session
        The export's transaction, so visits exist exactly when the export's audit row does.
    plan : PatrolPlan
        ``visits`` (``hotspot_id, area, start, end`` in naive local time, ``longitude, latitude``),
        ``hotspots`` (``hotspot_id, cell_ids``) and ``meta`` (``timezone, shift, model_version``).
    audit_id : int, optional
        The export's audit event.

    Returns
    -------
    int
        Visits stored.
    """
    import pandas as pd

    visits = plan.visits
    if visits.empty:
        return 0
    tz = plan.meta.get("timezone") or "UTC"
    cells = pd.Series(plan.hotspots["cell_ids"].to_numpy(), index=plan.hotspots["hotspot_id"].astype(str))
    frame = visits.assign(
        start=pd.to_datetime(visits["start"]).dt.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
        .dt.tz_convert("UTC"),
        end=pd.to_datetime(visits["end"]).dt.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
        .dt.tz_convert("UTC"),
        cell_ids=visits["hotspot_id"].astype(str).map(cells).to_numpy(),
    ).dropna(subset=["start", "end"])
    version = str(plan.meta.get("model_version") or "")
    return grepo.save_patrol_visits(session=session, visits=frame, audit_id=audit_id, shift=plan.meta.get("shift"),
                                    model_version_id=int(version) if version.isdigit() else None)


def read_area_layer(path, name_col: str = "name"):
    """An area layer for the fairness figures: ``name``, polygons and any ``population`` column kept
    (:func:`forecasting.jobs.priority.read_areas_file`, the reader of patrol areas)."""
    from forecasting.jobs.priority import read_areas_file

    return read_areas_file(path, name_col)


def patrolled_mask(factory: sessionmaker[Session], cell_ids, period_starts, period_length):
    """Which cell-periods had a stored patrol visit: ``(n_periods, n_cells)`` bool, for the guard.

    Feed it with the recorded counts to :func:`forecasting.fairness.discount_patrolled` so a model
    retrained on them is not pulled back to where patrols were (the feedback loop).

    Parameters
    ----------
    factory : sessionmaker
    cell_ids : array-like of str
        The grid's cell ids, in panel order.
    period_starts : DatetimeIndex
        UTC starts of the periods.
    period_length : Timedelta

    Examples
    --------
    Skipped in the test run: it needs a migrated database with stored patrol visits.

    >>> patrolled_mask(factory, grid.cell_ids, starts, pd.Timedelta(weeks=1)).shape  # doctest: +SKIP
    (52, 1830)
    """
    import numpy as np
    import pandas as pd

    starts = pd.DatetimeIndex(period_starts)
    starts = starts.tz_localize("UTC") if starts.tz is None else starts.tz_convert("UTC")
    ids = pd.Index(np.asarray(cell_ids).astype(str))
    out = np.zeros((len(starts), len(ids)), dtype=bool)
    if not len(starts):
        return out
    with transaction(factory) as s:
        v = grepo.patrol_visits(session=s, start=starts[0].to_pydatetime(),
                                end=(starts[-1] + period_length).to_pydatetime())
    v = v.explode("cell_ids").dropna(subset=["cell_ids"])
    if v.empty:
        return out
    period = starts.searchsorted(v["start"].to_numpy(), side="right") - 1
    ok = (period >= 0) & (v["start"].to_numpy() < (starts[np.clip(period, 0, None)] + period_length).to_numpy())
    cell = ids.get_indexer(v["cell_ids"].astype(str))
    ok &= cell >= 0
    out[period[ok], cell[ok]] = True
    return out


# ------------------------------------------------------------------ model cards and transparency
def _retention_days(settings: Settings) -> dict[str, int]:
    return {t: settings.retention(t) for t in RETENTION_TABLES}


def _backtest_dict(b) -> dict | None:
    if b is None:
        return None
    return {"id": b.id, "created_at": str(b.created_at)[:19], "start": str(b.start)[:10] if b.start else None,
            "end": str(b.end)[:10] if b.end else None, "period": b.period, "metrics": b.metrics or {}}


def model_card_document(factory: sessionmaker[Session], settings: Settings, version_id: int | None = None):
    """The model card of a stored model version (default: the newest), with its period's latest backtest.

    Returns
    -------
    forecasting.reports.Document

    Raises
    ------
    DataError
        When no model version is stored, or none has ``version_id``.
    """
    from forecasting import reports
    from forecasting.errors import DataError
    from forecasting.store import backtests as backtests_repo
    from forecasting.store import model_versions as versions_repo

    with transaction(factory) as s:
        if version_id is None:
            rows = versions_repo.list_model_versions(session=s, limit=1)
            if rows.empty:
                raise DataError("no model version is stored; run `crimecast train` first")
            version_id = int(rows["id"].iloc[0])
        v = versions_repo.get_model_version(session=s, version_id=version_id)
        if v is None:
            raise DataError(f"version must be the id of a stored model version; got {version_id}")
        same = [b for b in backtests_repo.list_backtests(session=s, limit=50) if b.period == v.period]
        # Prefer the newest backtest that ran this model; else the newest of the period (the card says so).
        bt = next((b for b in same if v.name in ((b.metrics or {}).get("targets", {}).get("all", {})
                                                 .get("models", {}))), same[0] if same else None)
        version = {c: getattr(v, c) for c in ("id", "name", "category", "period", "train_start", "train_end",
                                               "features", "params", "metrics", "data_hash", "created_at",
                                               "created_by")}
        backtest = _backtest_dict(bt)
    return reports.model_card(version, backtest, _retention_days(settings))


def transparency_facts(factory: sessionmaker[Session], settings: Settings) -> dict:
    """Aggregate facts for the transparency report (no cell, hotspot or location)."""
    from sqlalchemy import func, select

    from forecasting.store import backtests as backtests_repo
    from forecasting.store.models import ActivityCount, Camera, Incident

    with transaction(factory) as s:
        by_source = dict(s.execute(select(Incident.source, func.count()).group_by(Incident.source)).all())
        first, last = s.execute(select(func.min(Incident.occurred_at), func.max(Incident.occurred_at))).one()
        cams = int(s.scalar(select(func.count()).select_from(Camera)) or 0)
        count_rows = int(s.scalar(select(func.count()).select_from(ActivityCount)) or 0)
        chain = grepo.verify_audit(session=s)
        by_month = grepo.audit_activity(session=s).to_dict(orient="records")
        purges = grepo.audit_frame(session=s, action="retention", limit=24)
        bt = next(iter(backtests_repo.list_backtests(session=s, limit=1)), None)
        backtest = _backtest_dict(bt)
    return {
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "incidents": {"total": int(sum(by_source.values())),
                      "by_source": {str(k): int(n) for k, n in by_source.items()},
                      "first": str(first)[:10] if first else None, "last": str(last)[:10] if last else None},
        "cameras": {"cameras": cams, "count_rows": count_rows},
        "retention": _retention_days(settings),
        "backtest": backtest,
        "audit": {"chain": {"ok": chain.ok, "rows": chain.rows, "message": chain.message}, "by_month": by_month},
        "purges": [{"at": r.at, "details": r.details} for r in purges.itertuples()],
    }
