"""Repository functions for model versions (fitted models recorded with their data).

Every function takes a keyword-only ``session`` and never commits. Frames follow the
contracts in the docstrings; reasons are stored as JSON lists of sentences.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from forecasting.store.models import (
    ModelVersion,
)
from forecasting.store.repository import now_utc


def add_model_version(*, session: Session, **fields) -> int:
    """Record a fitted model (see :class:`~forecasting.store.models.ModelVersion`); returns its id."""
    fields.setdefault("created_at", now_utc())
    mv = ModelVersion(**fields)
    session.add(mv)
    session.flush()
    return mv.id


def list_model_versions(*, session: Session, limit: int = 50) -> pd.DataFrame:
    """The newest model versions first."""
    q = select(
        ModelVersion.id, ModelVersion.name, ModelVersion.category, ModelVersion.period,
        ModelVersion.train_start, ModelVersion.train_end, ModelVersion.created_at, ModelVersion.created_by,
        ModelVersion.metrics, ModelVersion.artifact_path, ModelVersion.data_hash,
    ).order_by(ModelVersion.id.desc()).limit(limit)
    return pd.read_sql(q, session.connection())


def get_model_version(*, session: Session, version_id: int) -> ModelVersion | None:
    """The model version with this id."""
    return session.get(ModelVersion, version_id)
