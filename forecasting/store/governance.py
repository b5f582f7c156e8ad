"""Repository functions for accounts and the audit log (who viewed, exported, retrained what)."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from forecasting.store.models import AuditEvent, User


def record_audit(
    *, session: Session, username: str | None, action: str, target: str | None = None,
    details: dict | None = None,
) -> int:
    """Append one audit event; returns its id. Targets describe places and products, never persons."""
    event = AuditEvent(at=datetime.now(UTC), username=username, action=action, target=target, details=details)
    session.add(event)
    session.flush()
    return event.id


def audit_frame(*, session: Session, action: str | None = None, limit: int = 500) -> pd.DataFrame:
    """The newest audit events first."""
    q = select(AuditEvent.id, AuditEvent.at, AuditEvent.username, AuditEvent.action, AuditEvent.target,
               AuditEvent.details).order_by(AuditEvent.id.desc()).limit(limit)
    if action:
        q = q.where(AuditEvent.action == action)
    return pd.read_sql(q, session.connection())


def get_user(*, session: Session, username: str) -> User | None:
    """The account with this name, or None."""
    return session.scalar(select(User).where(User.username == username))
