"""Places people recognise: incident addresses, cell labels and named streets.

``incidents.address`` holds the block or street as the source publishes it (Vancouver
``HUNDRED_BLOCK``, San Francisco ``Address``, Chicago ``Block``, police.uk ``Location``),
filled by the ingest adapters. ``cells.label`` holds each cell's human label (its most
frequent published address, else the nearest named street or place), computed once per cell.
``streets`` holds named street lines (``crimecast ingest streets``), drawn on the risk map and
the patrol PDF.

Revision ID: 0005_places
Revises: 0004_trust
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_places"
down_revision = "0004_trust"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "streets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("street_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("wkt", sa.Text(), nullable=False),
        sa.Column("simulated", sa.Boolean(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["ingest_runs.id"], name=op.f("fk_streets_run_id_ingest_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_streets")),
        sa.UniqueConstraint("source", "street_id", name=op.f("uq_streets_source_street_id")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE streets ADD COLUMN geom geometry GENERATED ALWAYS AS "
                   "(ST_GeomFromText(wkt, 4326)) STORED")
        op.execute("CREATE INDEX ix_streets_geom ON streets USING gist (geom)")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("address", sa.String(length=200), nullable=True))
    with op.batch_alter_table("cells", schema=None) as batch_op:
        batch_op.add_column(sa.Column("label", sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cells", schema=None) as batch_op:
        batch_op.drop_column("label")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_column("address")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_streets_geom")
    op.drop_table("streets")
