"""Viewport reads of a stored run (``forecasting.store.viewport``) agree with the whole-run frame, on both backends."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.store import forecasts as F
from forecasting.store import viewport as V
from forecasting.store.session import make_engine, make_session_factory, transaction
from tests.support.synthetic import seed_store


def _check(factory):
    seed_store(factory, n_cells=900, n_runs=1, n_incidents=100)
    with transaction(factory) as s:
        run_id = int(F.forecast_runs(session=s)["id"].iloc[0])
        whole = F.forecast_frame(session=s, run_id=run_id)
        ext = V.forecast_extent(session=s, run_id=run_id)
        values = V.forecast_values(session=s, run_id=run_id)
        box = V.forecast_window(session=s, run_id=run_id, col_min=3305, col_max=3312, row_min=36310, row_max=36320)
        w, so, e, n = (float(whole["centroid_lon"].quantile(q)) for q in (0.2, 0.2, 0.6, 0.6))
        so, n = float(whole["centroid_lat"].quantile(0.2)), float(whole["centroid_lat"].quantile(0.6))
        lonlat = V.forecast_window_lonlat(session=s, run_id=run_id, west=w, south=so, east=e, north=n)
        sample = V.grid_sample(session=s, run_id=run_id, n=10)
    assert ext == {"n_cells": 900, "col_min": int(whole["col"].min()), "col_max": int(whole["col"].max()),
                   "row_min": int(whole["row"].min()), "row_max": int(whole["row"].max())}
    merged = values.merge(whole[["col", "row", "expected_count", "probability"]], on=["col", "row"],
                          suffixes=("", "_whole"))
    assert len(values) == len(merged) == 900
    np.testing.assert_allclose(merged["expected_count"], merged["expected_count_whole"])
    inside = whole[whole["col"].between(3305, 3312) & whole["row"].between(36310, 36320)]
    assert sorted(box["cell_id"]) == sorted(inside["cell_id"]) and len(box) == 8 * 11
    pd.testing.assert_series_equal(box.set_index("cell_id")["expected_count"].sort_index(),
                                   inside.set_index("cell_id")["expected_count"].sort_index())
    want = whole[whole["centroid_lon"].between(w, e) & whole["centroid_lat"].between(so, n)]
    assert sorted(lonlat["cell_id"]) == sorted(want["cell_id"]) and len(want) > 50
    assert len(sample) == 10 and list(sample.columns) == ["row", "col", "centroid_lon", "centroid_lat", "area_m2"]


def test_viewport_reads_on_sqlite(factory):
    _check(factory)


@pytest.mark.db
def test_viewport_reads_on_postgres_use_the_spatial_index(postgres_url):
    from forecasting.store import migrate

    migrate.upgrade(postgres_url)
    engine = make_engine(postgres_url)
    try:
        _check(make_session_factory(engine))
        with engine.connect() as conn:
            names = {r[0] for r in conn.exec_driver_sql("select indexname from pg_indexes where tablename = 'cells'")}
        assert {"ix_cells_geom", "ix_cells_grid_id_col_row"} <= names
    finally:
        engine.dispose()
