"""The risk map reads only the cells in view: an index on (grid, column, row) of the cells.

A forecast of a million cells is read by box (``forecasting.store.viewport``): the cells whose
column and row fall in the map's view. On PostgreSQL the longitude / latitude box uses the GiST
index on ``cells.geom`` that ``0002`` already made.

Revision ID: 0006_cell_viewport
Revises: 0005_places
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0006_cell_viewport"
down_revision = "0005_places"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cells", schema=None) as batch_op:
        batch_op.create_index("ix_cells_grid_id_col_row", ["grid_id", "col", "row"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cells", schema=None) as batch_op:
        batch_op.drop_index("ix_cells_grid_id_col_row")
