"""The risk map reads only the cells in view: an index on (grid, column, row) of the cells.

With the cell id it also covers the far-out map's read of every cell's position, and
``ix_forecasts_run_id_values`` covers the read of a run's values: index-only reads, never a table
row per cell.

A forecast of a million cells is read by box (``forecasting.store.viewport``): the cells whose
column and row fall in the map's view. On PostgreSQL the longitude / latitude box uses the GiST
index on ``cells.geom`` that ``0002`` already made.

Revision ID: 0007_cell_viewport
Revises: 0006_incident_location_index
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0007_cell_viewport"
down_revision = "0006_incident_location_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cells", schema=None) as batch_op:
        batch_op.create_index("ix_cells_grid_id_col_row", ["grid_id", "col", "row", "cell_id"], unique=False)
    with op.batch_alter_table("forecasts", schema=None) as batch_op:
        batch_op.create_index("ix_forecasts_run_id_values", ["run_id", "cell_id", "expected_count", "probability"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("forecasts", schema=None) as batch_op:
        batch_op.drop_index("ix_forecasts_run_id_values")
    with op.batch_alter_table("cells", schema=None) as batch_op:
        batch_op.drop_index("ix_cells_grid_id_col_row")
