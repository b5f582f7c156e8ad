from __future__ import annotations

import pytest
from sqlalchemy import inspect, text

from forecasting.store import migrate
from forecasting.store.models import Base
from forecasting.store.session import make_engine


def _tables(url):
    engine = make_engine(url)
    try:
        # PostGIS owns spatial_ref_sys; the extension outlives our schema on purpose.
        return set(inspect(engine).get_table_names()) - {"alembic_version", "spatial_ref_sys"}
    finally:
        engine.dispose()


def _round_trip(url):
    migrate.upgrade(url)
    assert migrate.current(url) == migrate.head()
    assert _tables(url) == set(Base.metadata.tables)
    migrate.downgrade(url, "base")
    assert migrate.current(url) is None
    assert _tables(url) == set()
    migrate.upgrade(url)
    assert _tables(url) == set(Base.metadata.tables)


def test_sqlite_upgrade_downgrade_upgrade(settings):
    _round_trip(settings.resolved_database_url())


def test_migrations_match_the_models(sqlite_url):
    """Alembic's autogenerate finds nothing to add: the models and migrations agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    # Check constraints are not compared by autogenerate; anything else is drift.
    assert diff == []


@pytest.mark.db
def test_postgres_upgrade_downgrade_upgrade(postgres_url):
    _round_trip(postgres_url)


@pytest.mark.db
def test_postgres_has_postgis_geometry_with_gist_index(postgres_url):
    migrate.upgrade(postgres_url)
    engine = make_engine(postgres_url)
    with engine.begin() as conn:
        geom_type = conn.execute(text(
            "select format_type(atttypid, atttypmod) from pg_attribute "
            "where attrelid = 'incidents'::regclass and attname = 'geom'"
        )).scalar()
        index_def = conn.execute(text(
            "select indexdef from pg_indexes where tablename = 'incidents' and indexname = 'ix_incidents_geom'"
        )).scalar()
    engine.dispose()
    assert geom_type == "geometry(Point,4326)"
    assert "USING gist" in index_def


@pytest.mark.db
def test_postgres_geometry_columns_are_generated_from_wkt(postgres_url):
    migrate.upgrade(postgres_url)
    engine = make_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(text(
            "insert into grids (key, kind, created_at) values ('k', 'square', now())"
        ))
        conn.execute(text(
            "insert into cells (grid_id, cell_id, centroid_lon, centroid_lat, area_m2, polygon_wkt) "
            "values (1, 'c1', 0.5, 0.5, 1.0, 'POLYGON((0 0, 1 0, 1 1, 0 1, 0 0))')"
        ))
        area = conn.execute(text("select ST_Area(geom) from cells")).scalar()
        indexes = set(conn.execute(text(
            "select indexname from pg_indexes where indexdef like '%USING gist%'"
        )).scalars())
    engine.dispose()
    assert area == pytest.approx(1.0)
    assert {"ix_cells_geom", "ix_cameras_geom", "ix_cameras_view_geom", "ix_places_geom",
            "ix_area_values_geom", "ix_incidents_geom"} <= indexes
