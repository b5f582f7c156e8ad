"""Repository functions for background tasks (queued, running, finished).

Every function takes a keyword-only ``session`` and never commits. Frames follow the
contracts in the docstrings; reasons are stored as JSON lists of sentences.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from forecasting.store.models import (
    Task,
)
from forecasting.store.repository import now_utc


def create_task(*, session: Session, kind: str, params: dict | None = None, created_by: str | None = None) -> int:
    """Queue a background task; returns its id."""
    task = Task(kind=kind, status="queued", progress=0.0, params=params, created_by=created_by, created_at=now_utc())
    session.add(task)
    session.flush()
    return task.id


def update_task(
    *, session: Session, task_id: int, status: str | None = None, progress: float | None = None,
    message: str | None = None, result: dict | None = None,
) -> None:
    """Record a task's progress or outcome."""
    values: dict = {}
    if status is not None:
        values["status"] = status
        if status == "running":
            values["started_at"] = now_utc()
        if status in ("succeeded", "failed"):
            values["finished_at"] = now_utc()
    if progress is not None:
        values["progress"] = float(progress)
    if message is not None:
        values["message"] = message
    if result is not None:
        values["result"] = result
    if values:
        session.execute(update(Task).where(Task.id == task_id).values(**values))


def get_task(*, session: Session, task_id: int) -> Task | None:
    """The task with this id."""
    return session.get(Task, task_id)


def list_tasks(*, session: Session, limit: int = 20) -> list[Task]:
    """The newest tasks first."""
    return list(session.scalars(select(Task).order_by(Task.id.desc()).limit(limit)))
