"""Trust: a hash chain over the audit log, and stored patrol visits.

``audit_log`` gains ``prev_hash`` and ``row_hash`` (sha256; see
:mod:`forecasting.store.governance`); rows already there are chained in id order.
``patrol_visits`` holds the visit windows of exported patrol plans.

Revision ID: 0004_trust
Revises: 0003_hardening
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_trust"
down_revision = "0003_hardening"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from forecasting.store.governance import GENESIS, chain_hash

    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("row_hash", sa.String(length=64), nullable=True))
    conn = op.get_bind()
    log = sa.table("audit_log", sa.column("id", sa.Integer), sa.column("at", sa.DateTime(timezone=True)),
                   sa.column("username", sa.String), sa.column("action", sa.String),
                   sa.column("target", sa.Text), sa.column("details", sa.JSON),
                   sa.column("prev_hash", sa.String), sa.column("row_hash", sa.String))
    prev = GENESIS
    rows = conn.execute(sa.select(log.c.id, log.c.at, log.c.username, log.c.action, log.c.target,
                                  log.c.details).order_by(log.c.id)).all()
    for r in rows:  # a chain is sequential by nature: each hash needs the previous one
        h = chain_hash(prev, at=r.at, username=r.username, action=r.action, target=r.target, details=r.details)
        conn.execute(sa.update(log).where(log.c.id == r.id).values(prev_hash=prev, row_hash=h))
        prev = h
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("row_hash", existing_type=sa.String(length=64), nullable=False)

    op.create_table(
        "patrol_visits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("audit_id", sa.Integer(), nullable=True),
        sa.Column("exported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shift", sa.String(length=64), nullable=True),
        sa.Column("model_version_id", sa.Integer(), nullable=True),
        sa.Column("hotspot_id", sa.String(length=16), nullable=False),
        sa.Column("area", sa.String(length=300), nullable=True),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("cell_ids", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patrol_visits")),
    )
    with op.batch_alter_table("patrol_visits", schema=None) as batch_op:
        batch_op.create_index("ix_patrol_visits_start", ["start"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("patrol_visits", schema=None) as batch_op:
        batch_op.drop_index("ix_patrol_visits_start")
    op.drop_table("patrol_visits")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_column("row_hash")
        batch_op.drop_column("prev_hash")
