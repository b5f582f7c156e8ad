"""Repository functions for recorded backtests.

Every function takes a keyword-only ``session`` and never commits. Frames follow the
contracts in the docstrings; reasons are stored as JSON lists of sentences.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from forecasting.store.models import (
    Backtest,
)
from forecasting.store.repository import now_utc


def add_backtest(*, session: Session, **fields) -> int:
    """Record a backtest (see :class:`~forecasting.store.models.Backtest`); returns its id."""
    fields.setdefault("created_at", now_utc())
    bt = Backtest(**fields)
    session.add(bt)
    session.flush()
    return bt.id


def list_backtests(*, session: Session, limit: int = 20) -> list[Backtest]:
    """The newest backtests first."""
    return list(session.scalars(select(Backtest).order_by(Backtest.id.desc()).limit(limit)))
