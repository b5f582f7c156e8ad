"""An index for a cell's recent incidents: (longitude, latitude, occurred_at) on incidents.

The dashboard's cell panel counts the incidents of one cell over the last twelve periods. With
only ``ix_incidents_occurred_at`` that read fetched every incident of the twelve periods; this
index answers the bounding box and the time window from the index alone (the query reads no
other column).

Revision ID: 0006_incident_location_index
Revises: 0005_places
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0006_incident_location_index"
down_revision = "0005_places"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_incidents_lon_lat_time", "incidents", ["longitude", "latitude", "occurred_at"])


def downgrade() -> None:
    op.drop_index("ix_incidents_lon_lat_time", table_name="incidents")
