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
        # A cell's recent incidents (the dashboard's cell panel): a box and a time window, read from the index alone.
        Index("ix_incidents_lon_lat_time", "longitude", "latitude", "occurred_at"),
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
    address: Mapped[str | None] = mapped_column(String(200))  # block or street as the source publishes it
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


# ------------------------------------------------------------------ forecasting
class Grid(Base):
    """A reproducible cell grid: square cells of ``cell_size`` metres in ``crs`` from an origin, or H3."""

    __tablename__ = "grids"
    __table_args__ = (UniqueConstraint("key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200))  # e.g. "square:EPSG:32610:150:0:0"
    kind: Mapped[str] = mapped_column(String(16))  # square or h3
    crs: Mapped[str | None] = mapped_column(String(32))
    cell_size: Mapped[float | None] = mapped_column(Float)
    origin_x: Mapped[float | None] = mapped_column(Float)
    origin_y: Mapped[float | None] = mapped_column(Float)
    h3_resolution: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Cell(Base):
    """One cell of a grid, with its WGS84 polygon as WKT (a PostGIS polygon on PostgreSQL)."""

    __tablename__ = "cells"
    # (grid, col, row): the risk map reads the cells in view by column and row range; with the id it
    # covers the far-out map's read of every cell (0007_cell_viewport).
    __table_args__ = (UniqueConstraint("grid_id", "cell_id"),
                      Index("ix_cells_grid_id_col_row", "grid_id", "col", "row", "cell_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id", ondelete="CASCADE"))
    cell_id: Mapped[str] = mapped_column(String(64))
    row: Mapped[int | None] = mapped_column(Integer)
    col: Mapped[int | None] = mapped_column(Integer)
    centroid_lon: Mapped[float] = mapped_column(Float)
    centroid_lat: Mapped[float] = mapped_column(Float)
    area_m2: Mapped[float] = mapped_column(Float)
    polygon_wkt: Mapped[str] = mapped_column(Text)
    label: Mapped[str | None] = mapped_column(String(300))  # most frequent address, else nearest named place


class ModelVersion(Base):
    """A fitted model: what it was trained on, with which settings, and how well it did."""

    __tablename__ = "model_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))  # lgbm, naive, kde, ...
    category: Mapped[str] = mapped_column(String(200))  # "all" or a category
    period: Mapped[str] = mapped_column(String(16))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"))
    train_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    train_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    params: Mapped[dict | None] = mapped_column(JSON)
    features: Mapped[list | None] = mapped_column(JSON)
    metrics: Mapped[dict | None] = mapped_column(JSON)
    data_hash: Mapped[str | None] = mapped_column(String(64))
    artifact_path: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str | None] = mapped_column(String(64))


class ForecastRun(Base):
    """One issued forecast: a model version scoring every cell for one period."""

    __tablename__ = "forecast_runs"
    __table_args__ = (Index("ix_forecast_runs_period_start", "period_start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id"))
    model: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(200))
    period: Mapped[str] = mapped_column(String(16))  # week, day, shift, hour
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    period_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    data_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Forecast(Base):
    """The forecast of one cell in one forecast run."""

    __tablename__ = "forecasts"
    # Covers the far-out risk map's read of a run's values (0007_cell_viewport).
    __table_args__ = (UniqueConstraint("run_id", "cell_id"),
                      Index("ix_forecasts_run_id_values", "run_id", "cell_id", "expected_count", "probability"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("forecast_runs.id", ondelete="CASCADE"))
    cell_id: Mapped[str] = mapped_column(String(64))
    expected_count: Mapped[float] = mapped_column(Float)
    probability: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    rank: Mapped[int] = mapped_column(Integer)
    reasons: Mapped[str | None] = mapped_column(Text)  # JSON list of sentences, top cells only


class Backtest(Base):
    """A stored backtest: parameters, metrics table and where its files are."""

    __tablename__ = "backtests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    period: Mapped[str] = mapped_column(String(16))
    cell_size: Mapped[float | None] = mapped_column(Float)
    start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    params: Mapped[dict | None] = mapped_column(JSON)
    metrics: Mapped[dict | None] = mapped_column(JSON)
    out_dir: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(64))


class Task(Base):
    """A background job (retrain, backtest) with visible progress."""

    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # queued, running, succeeded, failed
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str | None] = mapped_column(Text)
    params: Mapped[dict | None] = mapped_column(JSON)
    result: Mapped[dict | None] = mapped_column(JSON)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# ------------------------------------------------------- cameras, counts, places
class Camera(Base):
    """A camera or counting site. Holds a location and a view polygon, never imagery."""

    __tablename__ = "cameras"
    __table_args__ = (UniqueConstraint("source", "camera_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    camera_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))  # cctv, footfall_camera, pedestrian_sensor, rail_station
    longitude: Mapped[float] = mapped_column(Float)
    latitude: Mapped[float] = mapped_column(Float)
    heading_deg: Mapped[float | None] = mapped_column(Float)
    fov_deg: Mapped[float | None] = mapped_column(Float)
    range_m: Mapped[float | None] = mapped_column(Float)
    view_wkt: Mapped[str] = mapped_column(Text)  # WGS84 polygon of what the camera sees
    installed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))  # active, offline, retired
    simulated: Mapped[bool] = mapped_column(default=False)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_runs.id"))


class ActivityCount(Base):
    """Aggregate counts per camera and hour (or day). No image, face, plate, device id or person."""

    __tablename__ = "activity_counts"
    __table_args__ = (
        UniqueConstraint("camera_pk", "period_start", "resolution"),
        Index("ix_activity_counts_period_start", "period_start"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_pk: Mapped[int] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolution: Mapped[str] = mapped_column(String(8))  # hour or day
    people: Mapped[int | None] = mapped_column(Integer)
    vehicles: Mapped[int | None] = mapped_column(Integer)
    cyclists: Mapped[int | None] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(32))
    run_id: Mapped[int] = mapped_column(ForeignKey("ingest_runs.id"))


class CountGap(Base):
    """A period a camera reported nothing (offline or missing): a missing hour is not a zero."""

    __tablename__ = "count_gaps"
    __table_args__ = (Index("ix_count_gaps_camera_pk", "camera_pk"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_pk: Mapped[int] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    gap_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    gap_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(String(32))  # missing, offline
    run_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_runs.id"))


class Place(Base):
    """A point of interest by category (risk-terrain input)."""

    __tablename__ = "places"
    __table_args__ = (UniqueConstraint("source", "place_id"), Index("ix_places_category", "category"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    place_id: Mapped[str] = mapped_column(String(128))
    category: Mapped[str] = mapped_column(String(100))
    name: Mapped[str | None] = mapped_column(String(300))
    longitude: Mapped[float] = mapped_column(Float)
    latitude: Mapped[float] = mapped_column(Float)
    simulated: Mapped[bool] = mapped_column(default=False)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_runs.id"))


class Street(Base):
    """A named street line (``crimecast ingest streets``): drawn on maps and the patrol PDF, labels cells."""

    __tablename__ = "streets"
    __table_args__ = (UniqueConstraint("source", "street_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    street_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(300))
    wkt: Mapped[str] = mapped_column(Text)  # WGS84 LineString or MultiLineString
    simulated: Mapped[bool] = mapped_column(default=False)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_runs.id"))


class AreaValue(Base):
    """A value of an area layer (population, footfall, land use) on one polygon, optionally by hour of week."""

    __tablename__ = "area_values"
    __table_args__ = (UniqueConstraint("layer", "area_id", "hour_of_week"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    layer: Mapped[str] = mapped_column(String(64))
    area_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str | None] = mapped_column(String(300))
    hour_of_week: Mapped[int | None] = mapped_column(Integer)  # 0 = Monday 00:00, None = all week
    value: Mapped[float] = mapped_column(Float)
    polygon_wkt: Mapped[str] = mapped_column(Text)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_runs.id"))


# ------------------------------------------------------------------- governance
class User(Base):
    """A dashboard account. Passwords are stored as salted hashes only."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("username"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))  # viewer, analyst, admin
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Bumped by sign-out, password change, disable and role change: older session cookies stop working.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class AuditEvent(Base):
    """Who viewed, exported or retrained what, and when."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    username: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))  # sign_in, view, export, retrain, backtest, ...
    target: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict | None] = mapped_column(JSON)
    # Hash chain (forecasting.store.governance): sha256 of the previous row's hash and this row's content.
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64))


class PatrolVisit(Base):
    """One visit window of an exported patrol plan (the feedback-loop guard reads these)."""

    __tablename__ = "patrol_visits"
    __table_args__ = (Index("ix_patrol_visits_start", "start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    audit_id: Mapped[int | None] = mapped_column(Integer)  # the export's audit event (no FK: audit rows are purged)
    exported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    shift: Mapped[str | None] = mapped_column(String(64))
    model_version_id: Mapped[int | None] = mapped_column(Integer)
    hotspot_id: Mapped[str] = mapped_column(String(16))
    area: Mapped[str | None] = mapped_column(String(300))
    start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    longitude: Mapped[float | None] = mapped_column(Float)
    latitude: Mapped[float | None] = mapped_column(Float)
    cell_ids: Mapped[list | None] = mapped_column(JSON)
