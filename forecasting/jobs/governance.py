"""Governance jobs: the retention limit on activity counts and the audit log.

A composition module: computes the cut-off from the settings and calls the store's purge
functions in one transaction, recording the purge itself in the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from forecasting.config import Settings
from forecasting.store import cameras as crepo
from forecasting.store.governance import purge_audit, record_audit
from forecasting.store.session import transaction


@dataclass(frozen=True)
class RetentionSummary:
    """What :func:`apply_retention` deleted (or would delete, with ``dry_run``)."""

    before: datetime
    counts: int
    gaps: int
    audit_events: int
    dry_run: bool


def apply_retention(factory: sessionmaker[Session], settings: Settings, *, now: datetime | None = None,
                    dry_run: bool = False, user: str | None = None) -> RetentionSummary:
    """Delete activity counts, count gaps and audit events older than ``retention_days``.

    Parameters
    ----------
    factory : sessionmaker
    settings : Settings
        ``retention_days`` sets the cut-off, ``now - retention_days`` (UTC).
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
    """
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    before = now - timedelta(days=settings.retention_days)
    with transaction(factory) as s:
        counts, gaps = crepo.purge_counts(session=s, before=before, dry_run=dry_run)
        audit = purge_audit(session=s, before=before, dry_run=dry_run, username=user)
        if not dry_run:
            record_audit(session=s, username=user, action="retention",
                         target=f"before {before.isoformat()}",
                         details={"counts": counts, "gaps": gaps, "audit_events": audit,
                                  "retention_days": settings.retention_days})
    return RetentionSummary(before, counts, gaps, audit, dry_run)
