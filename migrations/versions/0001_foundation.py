"""Foundation: ingest runs, canonical incidents, quarantined rows.

On PostgreSQL, PostGIS is enabled and ``incidents.geom`` is a generated
``geometry(Point, 4326)`` column with a GiST index; SQLite keeps plain numbers.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("source_path", sa.Text(), nullable=False),
        sa.Column("format", sa.String(32), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64)),
        sa.Column("rows_read", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("loaded", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("duplicates", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("quarantined", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("quarantined_by_reason", sa.JSON()),
        sa.Column("options", sa.JSON()),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("host", sa.String(255)),
        sa.Column("pid", sa.Integer()),
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("incident_id", sa.String(128), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("time_resolution", sa.String(8), nullable=False),
        sa.Column("tz", sa.String(64), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("source_crs", sa.String(32), nullable=False),
        sa.Column("source_x", sa.Float()),
        sa.Column("source_y", sa.Float()),
        sa.Column("category", sa.String(200), nullable=False),
        sa.Column("category_group", sa.String(64), nullable=False),
        sa.Column("content_hash", sa.String(32), nullable=False),
        sa.Column("attributes", sa.Text()),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("ingest_runs.id"), nullable=False),
        sa.UniqueConstraint("source", "incident_id"),
        sa.CheckConstraint("latitude BETWEEN -90 AND 90", name="latitude_range"),
        sa.CheckConstraint("longitude BETWEEN -180 AND 180", name="longitude_range"),
    )
    op.create_index("ix_incidents_occurred_at", "incidents", ["occurred_at"])
    op.create_table(
        "quarantined_rows",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("ingest_runs.id"), nullable=False),
        sa.Column("row_number", sa.Integer()),
        sa.Column("member", sa.Text()),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text()),
        sa.Column("raw", sa.Text(), nullable=False),
    )
    op.create_index("ix_quarantined_rows_run_id", "quarantined_rows", ["run_id"])

    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        op.execute(
            "ALTER TABLE incidents ADD COLUMN geom geometry(Point, 4326) GENERATED ALWAYS AS "
            "(ST_SetSRID(ST_MakePoint(longitude, latitude), 4326)) STORED"
        )
        op.execute("CREATE INDEX ix_incidents_geom ON incidents USING gist (geom)")


def downgrade() -> None:
    op.drop_index("ix_quarantined_rows_run_id", table_name="quarantined_rows")
    op.drop_table("quarantined_rows")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_incidents_geom")
    op.drop_index("ix_incidents_occurred_at", table_name="incidents")
    op.drop_table("incidents")
    op.drop_table("ingest_runs")
