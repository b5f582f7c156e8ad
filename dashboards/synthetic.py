"""A synthetic-but-realistic city written through the store functions (browser tests, benchmark, demo).

Nothing here is used when serving real data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboards.provider import (
    synthetic_cameras,
    synthetic_cells,
    synthetic_districts,
    synthetic_forecast,
    synthetic_metrics,
    synthetic_places,
    synthetic_runs,
)


def seed_store(factory, *, n_cells: int = 2_500, n_runs: int = 3, n_incidents: int = 3_000, seed: int = 0,
               users: dict[str, tuple[str, str]] | None = None, boundaries_dir=None) -> dict:
    """Fill a migrated database with a grid, forecast runs, cameras, places, incidents, a backtest and accounts.

    Parameters
    ----------
    factory : sessionmaker
        Session factory on a migrated database.
    n_cells : int
        Cells of the square 150 m grid.
    n_runs : int
        Weekly runs and shift runs (each).
    n_incidents : int
        Incidents spread over the 12 weeks before the first run (cell histories).
    seed : int
    users : dict, optional
        name -> (password, role).
    boundaries_dir : path, optional
        Where to write ``districts.geojson``.

    Returns
    -------
    dict
        ``run_ids`` by period kind and the ``cells`` frame.
    """
    import json
    from pathlib import Path

    from forecasting.store import cameras as C
    from forecasting.store import forecasts as F
    from forecasting.store import governance as G
    from forecasting.store import repository as R
    from forecasting.store.session import transaction

    rng = np.random.default_rng(seed)
    cells = synthetic_cells(n_cells, seed=seed)
    runs = synthetic_runs(n_runs).sort_values("id")
    run_ids: dict[str, list[int]] = {}
    with transaction(factory) as s:
        grid_id = F.upsert_grid(session=s, key=f"square:EPSG:32610:150:0:0:{n_cells}", kind="square",
                                crs="EPSG:32610", cell_size=150.0, origin_x=0.0, origin_y=0.0)
        F.save_cells(session=s, grid_id=grid_id, cells=cells)
        mv = F.add_model_version(session=s, name="lgbm", category="all", period="week",
                                 grid_id=grid_id, train_start=pd.Timestamp("2022-01-03", tz="UTC").to_pydatetime(),
                                 train_end=pd.Timestamp("2024-06-03", tz="UTC").to_pydatetime(), created_by="analyst")
        for r in runs.itertuples():
            fc = synthetic_forecast(cells, seed=seed + int(r.id))
            rid = F.save_forecast(session=s, frame=fc, grid_id=grid_id, model="lgbm", category="all",
                                  period=r.period, period_start=r.period_start.to_pydatetime(),
                                  period_end=r.period_end.to_pydatetime(), model_version_id=mv)
            run_ids.setdefault(r.period, []).append(rid)
        F.add_backtest(session=s, period="week", cell_size=150.0, metrics=synthetic_metrics(), created_by="analyst")
        ingest = R.create_run(session=s, kind="cameras", source_path="synthetic", format="synthetic",
                              source="synthetic", sha256=None)
        cams = synthetic_cameras(cells, 12, seed=seed).assign(heading_deg=None, fov_deg=70.0, range_m=120.0,
                                                              installed_at=None, retired_at=None)
        C.insert_cameras(session=s, frame=cams, source="synthetic", run_id=ingest, simulated=True)
        places = synthetic_places(cells, 30, seed=seed)
        C.insert_places(session=s, frame=places.assign(place_id=[f"P{i}" for i in range(len(places))]),
                        source="synthetic", run_id=ingest, simulated=True)
        first = runs["period_start"].min()
        t = first - pd.to_timedelta(rng.uniform(0, 84 * 24 * 3600, n_incidents), unit="s")
        pick = rng.choice(len(cells), n_incidents, p=_weights(cells, seed))
        inc = pd.DataFrame({
            "incident_id": [f"I{i}" for i in range(n_incidents)], "occurred_at": t, "time_resolution": "minute",
            "tz": "America/Vancouver", "longitude": cells["centroid_lon"].to_numpy()[pick],
            "latitude": cells["centroid_lat"].to_numpy()[pick], "source_crs": "EPSG:4326", "source_x": None,
            "source_y": None, "category": "Theft", "category_group": "theft",
            "content_hash": [f"h{i}" for i in range(n_incidents)], "attributes": None})
        R.insert_incidents(session=s, frame=inc, source="synthetic", run_id=ingest)
        for name, (password, role) in (users or {}).items():
            G.create_user(session=s, username=name, password=password, role=role)
    if boundaries_dir is not None:
        Path(boundaries_dir).mkdir(parents=True, exist_ok=True)
        (Path(boundaries_dir) / "districts.geojson").write_text(json.dumps(synthetic_districts(cells)))
    return {"run_ids": run_ids, "cells": cells}


def _weights(cells: pd.DataFrame, seed: int) -> np.ndarray:
    """Incidents fall where the first forecast expects them (so histories and forecasts agree)."""
    fc = synthetic_forecast(cells, seed=seed + 1).set_index("cell_id")["expected_count"]
    w = fc.reindex(cells["cell_id"]).to_numpy(float) + 0.01
    return w / w.sum()
