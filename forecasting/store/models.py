"""SQLAlchemy 2 declarative models.

Coordinates are plain numbers so SQLite needs no SpatiaLite. On PostgreSQL the
migrations add PostGIS geometry columns *generated* from those numbers (with GiST
indexes), so the ORM never has to know about them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class IngestRun(Base):
    """One invocation of an ingest over one source file."""

    __tablename__ = "ingest_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # incidents, cameras, counts, places
    source_path: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str | None] = mapped_column(String(64))
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    loaded: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    quarantined: Mapped[int] = mapped_column(Integer, default=0)
    quarantined_by_reason: Mapped[dict | None] = mapped_column(JSON)
    options: Mapped[dict | None] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))  # running, succeeded, failed
    error: Mapped[str | None] = mapped_column(Text)
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)


class Incident(Base):
    """A canonical incident. ``(source, incident_id)`` is the natural key."""

    __tablename__ = "incidents"
    __table_args__ = (
        UniqueConstraint("source", "incident_id"),
        Index("ix_incidents_occurred_at", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    incident_id: Mapped[str] = mapped_column(String(128))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    time_resolution: Mapped[str] = mapped_column(String(8))
    tz: Mapped[str] = mapped_column(String(64))
    longitude: Mapped[float] = mapped_column(Float)
    latitude: Mapped[float] = mapped_column(Float)
    source_crs: Mapped[str] = mapped_column(String(32))
    source_x: Mapped[float | None] = mapped_column(Float)
    source_y: Mapped[float | None] = mapped_column(Float)
    category: Mapped[str] = mapped_column(String(200))
    category_group: Mapped[str] = mapped_column(String(64))
    content_hash: Mapped[str] = mapped_column(String(32))
    attributes: Mapped[str | None] = mapped_column(Text)  # JSON object of the other source columns
    run_id: Mapped[int] = mapped_column(ForeignKey("ingest_runs.id"))


class QuarantinedRow(Base):
    """A source row that could not be loaded, kept verbatim with the reason."""

    __tablename__ = "quarantined_rows"
    __table_args__ = (Index("ix_quarantined_rows_run_id", "run_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("ingest_runs.id"))
    row_number: Mapped[int | None] = mapped_column(Integer)  # 1-based data row in the source file
    member: Mapped[str | None] = mapped_column(Text)  # file inside a zip, if any
    reason: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[str] = mapped_column(Text)  # JSON object column -> value, or the raw line
