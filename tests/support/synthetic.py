"""A seeded synthetic city for the dashboard's tests and benchmark: generators, and a store filled with them.

Test support only (not shipped in the installed package); nothing here is used when serving data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboards.contracts import FORECAST_VIEW_COLUMNS


def synthetic_cells(n: int, *, seed: int = 0, cell_size: float = 150.0, crs: str = "EPSG:32610") -> pd.DataFrame:
    """A compact block of ``n`` square cells (ids ``"150m_col_row"``) with WGS84 polygons and centroids.

    Used by :class:`FakeProvider`, the browser-test fixture and the benchmark.
    """
    from pyproj import Transformer

    side = int(np.ceil(np.sqrt(n)))
    r, c = np.divmod(np.arange(n), side)
    col0, row0 = 3300, 36300  # near downtown Vancouver in UTM 10N at 150 m
    col, row = col0 + c, row0 + r
    x0, y0 = col * cell_size, row * cell_size
    to_ll = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    xs = np.stack([x0, x0 + cell_size, x0 + cell_size, x0, x0], axis=1)
    ys = np.stack([y0, y0, y0 + cell_size, y0 + cell_size, y0], axis=1)
    lon, lat = to_ll.transform(xs.ravel(), ys.ravel())
    lon, lat = lon.reshape(xs.shape), lat.reshape(ys.shape)
    clon, clat = to_ll.transform(x0 + cell_size / 2, y0 + cell_size / 2)
    wkt = ["POLYGON((" + ", ".join(f"{a:.7f} {b:.7f}" for a, b in zip(lo, la, strict=True)) + "))"
           for lo, la in zip(lon, lat, strict=True)]
    return pd.DataFrame({"cell_id": [f"{cell_size:g}m_{a}_{b}" for a, b in zip(col, row, strict=True)],
                         "row": row, "col": col, "centroid_lon": clon, "centroid_lat": clat,
                         "area_m2": cell_size ** 2, "polygon_wkt": wkt})


_REASONS = [
    "{n} incidents in this cell in the last 4 weeks, {k}x the city average",
    "a bar or nightclub within 100 m",
    "high evening footfall at the nearest counting camera",
    "repeat burglaries nearby in the last 14 days (near-repeat effect)",
    "Friday and Saturday nights are the busiest periods here",
    "close to a rail station",
]


def synthetic_forecast(cells: pd.DataFrame, *, seed: int = 0, top_reasons: int = 200) -> pd.DataFrame:
    """A plausible forecast over ``cells``: a few hotspots plus noise, reasons for the top cells."""
    rng = np.random.default_rng(seed)
    c = cells["col"].to_numpy(float)
    r = cells["row"].to_numpy(float)
    lam = np.full(len(cells), 0.02)
    for _ in range(6):
        cc, rr = rng.choice(c), rng.choice(r)
        lam += rng.uniform(0.3, 2.0) * np.exp(-((c - cc) ** 2 + (r - rr) ** 2) / (2 * rng.uniform(2, 6) ** 2))
    lam *= rng.gamma(4, 0.25, len(cells))
    order = np.argsort(-lam, kind="stable")
    rank = np.empty(len(lam), dtype=np.int64)
    rank[order] = np.arange(1, len(lam) + 1)
    reasons = [None] * len(lam)
    for i in order[:top_reasons]:
        picks = rng.choice(len(_REASONS) - 1, 2, replace=False) + 1
        reasons[i] = [_REASONS[0].format(n=int(lam[i] * 4 + 1), k=round(1 + lam[i] * 3, 1))] + \
            [_REASONS[j] for j in picks]
    out = pd.DataFrame({"cell_id": cells["cell_id"].to_numpy(), "expected_count": lam,
                        "probability": 1 - np.exp(-lam), "score": lam, "rank": rank,
                        "reasons": [x if x is not None else [] for x in reasons]})
    out = out.join(cells.set_index("cell_id")[["centroid_lon", "centroid_lat", "row", "col", "area_m2", "polygon_wkt"]],
                   on="cell_id")
    out = out.sort_values("rank").reset_index(drop=True).loc[:, FORECAST_VIEW_COLUMNS[:-1]]
    return out.assign(label=(out["row"] % 40).astype(str) + "XX Market Avenue")


def synthetic_runs(n: int, start: str = "2024-06-03") -> pd.DataFrame:
    """``n`` weekly runs and ``n`` shift runs (8-hour shifts from 06:00 local) from ``start``."""
    t0 = pd.Timestamp(start, tz="America/Vancouver")
    rows = []
    for i in range(n):
        ws = t0 + pd.Timedelta(weeks=i)
        rows.append(("week", ws, ws + pd.Timedelta(weeks=1)))
    for i in range(n):
        ss = t0 + pd.Timedelta(hours=6 + 8 * i)
        rows.append(("shift", ss, ss + pd.Timedelta(hours=8)))
    return pd.DataFrame({
        "id": np.arange(1, len(rows) + 1), "grid_id": 1, "model": "lgbm", "category": "all",
        "period": [p for p, _, _ in rows],
        "period_start": pd.DatetimeIndex([s for _, s, _ in rows]).tz_convert("UTC"),
        "period_end": pd.DatetimeIndex([e for _, _, e in rows]).tz_convert("UTC"),
        "issued_at": pd.Timestamp("2024-06-02", tz="UTC"),
    }).sort_values(["period_start", "id"], ascending=[False, False]).reset_index(drop=True)


def camera_view_wkt(lon: float, lat: float, heading_deg: float, fov_deg: float = 70.0,
                    range_m: float = 120.0) -> str:
    """A camera's view sector as a WGS84 polygon (small-area approximation)."""
    angles = np.radians(heading_deg + np.linspace(-fov_deg / 2, fov_deg / 2, 9))
    dlat = range_m / 111_320.0
    dlon = range_m / (111_320.0 * np.cos(np.radians(lat)))
    xs = np.concatenate([[lon], lon + dlon * np.sin(angles), [lon]])
    ys = np.concatenate([[lat], lat + dlat * np.cos(angles), [lat]])
    return "POLYGON((" + ", ".join(f"{x:.7f} {y:.7f}" for x, y in zip(xs, ys, strict=True)) + "))"


def synthetic_cameras(cells: pd.DataFrame, n: int, *, seed: int = 0) -> pd.DataFrame:
    """``n`` CCTV cameras at random cell centroids with view sectors."""
    rng = np.random.default_rng(seed + 101)
    pick = rng.choice(len(cells), size=min(n, len(cells)), replace=False)
    lon = cells["centroid_lon"].to_numpy()[pick]
    lat = cells["centroid_lat"].to_numpy()[pick]
    heading = rng.uniform(0, 360, len(pick))
    return pd.DataFrame({
        "camera_id": [f"CAM-{i + 1:03d}" for i in range(len(pick))],
        "name": [f"{s} St camera" for s in rng.choice(["Granville", "Main", "Hastings", "Robson", "Davie",
                                                        "Pender", "Burrard", "Cambie"], len(pick))],
        "kind": "cctv", "status": "active", "longitude": lon, "latitude": lat,
        "view_wkt": [camera_view_wkt(a, b, h) for a, b, h in zip(lon, lat, heading, strict=True)],
    })


def synthetic_places(cells: pd.DataFrame, n: int, *, seed: int = 0) -> pd.DataFrame:
    """``n`` places of interest at random cell centroids."""
    rng = np.random.default_rng(seed + 202)
    pick = rng.choice(len(cells), size=min(n, len(cells)), replace=False)
    cats = rng.choice(["bar", "rail_station", "school", "atm", "convenience_store"], len(pick))
    return pd.DataFrame({"category": cats, "name": [f"{c.replace('_', ' ')} {i}" for i, c in enumerate(cats)],
                         "longitude": cells["centroid_lon"].to_numpy()[pick],
                         "latitude": cells["centroid_lat"].to_numpy()[pick]})


def synthetic_districts(cells: pd.DataFrame) -> dict:
    """Two districts (west and east halves of the cells' extent) as a GeoJSON FeatureCollection."""
    w, e = float(cells["centroid_lon"].min()) - 0.002, float(cells["centroid_lon"].max()) + 0.002
    s, n = float(cells["centroid_lat"].min()) - 0.002, float(cells["centroid_lat"].max()) + 0.002
    mid = (w + e) / 2

    def box(a, b):
        return {"type": "Polygon", "coordinates": [[[a, s], [b, s], [b, n], [a, n], [a, s]]]}

    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "West"}, "geometry": box(w, mid)},
        {"type": "Feature", "properties": {"name": "East"}, "geometry": box(mid, e)}]}


def synthetic_streets(cells: pd.DataFrame) -> pd.DataFrame:
    """Two named streets crossing the cells' extent (``streets`` contract)."""
    w, e = float(cells["centroid_lon"].min()), float(cells["centroid_lon"].max())
    s, n = float(cells["centroid_lat"].min()), float(cells["centroid_lat"].max())
    mx, my = (w + e) / 2, (s + n) / 2
    return pd.DataFrame({"name": ["Main Street", "Market Avenue"],
                         "wkt": [f"LINESTRING ({w} {my}, {e} {my})", f"LINESTRING ({mx} {s}, {mx} {n})"],
                         "simulated": [True, True]})


def synthetic_metrics() -> dict:
    """A ``metrics.json`` summary of three models in the shape :func:`forecasting.evaluate.summarise` writes."""
    shares = [0.005, 0.01, 0.02, 0.05]
    base = {"lgbm": 1.0, "kde": 0.85, "naive": 0.7, "hindsight": 2.2}
    models = {}
    for m, f in base.items():
        row = {"n_incidents": 1000.0, "poisson_deviance": 0.3 / f, "brier": 0.05 / f}
        for s in shares:
            key = f"{s * 100:g}%"
            hit = min(1.0, f * 0.9 * s ** 0.55)
            row[f"hit_rate@{key}"] = hit
            row[f"pai@{key}"] = hit / s
            row[f"pei@{key}"] = hit / min(1.0, 2.2 * 0.9 * s ** 0.55)
            row[f"pei_star@{key}"] = min(1.0, f / 2.2)
        models[m] = row
    return {"area_shares": shares, "references": ["hindsight"], "cell_size_m": 150.0, "n_cells": 400,
            "n_periods": 26, "period": "week", "targets": {"all": {"models": models, "bootstrap": {}}}}


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

    from forecasting.store import backtests as backtests_repo
    from forecasting.store import cameras as C
    from forecasting.store import forecasts as F
    from forecasting.store import governance as G
    from forecasting.store import grids as grids_repo
    from forecasting.store import model_versions as versions_repo
    from forecasting.store import places as places_repo
    from forecasting.store import repository as R
    from forecasting.store.session import transaction

    rng = np.random.default_rng(seed)
    cells = synthetic_cells(n_cells, seed=seed)
    runs = synthetic_runs(n_runs).sort_values("id")
    run_ids: dict[str, list[int]] = {}
    with transaction(factory) as s:
        grid_id = grids_repo.upsert_grid(session=s, key=f"square:EPSG:32610:150:0:0:{n_cells}", kind="square",
                                crs="EPSG:32610", cell_size=150.0, origin_x=0.0, origin_y=0.0)
        grids_repo.save_cells(session=s, grid_id=grid_id, cells=cells)
        mv = versions_repo.add_model_version(session=s, name="lgbm", category="all", period="week",
                                 grid_id=grid_id, train_start=pd.Timestamp("2022-01-03", tz="UTC").to_pydatetime(),
                                 train_end=pd.Timestamp("2024-06-03", tz="UTC").to_pydatetime(), created_by="analyst")
        for r in runs.itertuples():
            fc = synthetic_forecast(cells, seed=seed + int(r.id))
            rid = F.save_forecast(session=s, frame=fc, grid_id=grid_id, model="lgbm", category="all",
                                  period=r.period, period_start=r.period_start.to_pydatetime(),
                                  period_end=r.period_end.to_pydatetime(), model_version_id=mv)
            run_ids.setdefault(r.period, []).append(rid)
        backtests_repo.add_backtest(session=s, period="week", cell_size=150.0, metrics=synthetic_metrics(),
                                    created_by="analyst")
        ingest = R.create_run(session=s, kind="cameras", source_path="synthetic", format="synthetic",
                              source="synthetic", sha256=None)
        cams = synthetic_cameras(cells, 12, seed=seed).assign(heading_deg=None, fov_deg=70.0, range_m=120.0,
                                                              installed_at=None, retired_at=None)
        C.insert_cameras(session=s, frame=cams, source="synthetic", run_id=ingest, simulated=True)
        places = synthetic_places(cells, 30, seed=seed)
        places_repo.insert_places(session=s, frame=places.assign(place_id=[f"P{i}" for i in range(len(places))]),
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


def synthetic_events(cells: pd.DataFrame, *, seed: int = 0, weeks: int = 104) -> pd.DataFrame:
    """Two years of seeded burglaries on the cells: background, a hot spot growing in the last
    half-year, and near repeats (a fifth of incidents followed within 100 m and 5 days)."""
    rng = np.random.default_rng(seed)
    lon0, lat0 = cells["centroid_lon"].to_numpy(float), cells["centroid_lat"].to_numpy(float)
    t0 = pd.Timestamp("2023-01-02")
    n_bg = 6 * weeks
    i = rng.integers(0, len(cells), n_bg)
    days = rng.uniform(0, 7 * weeks, n_bg)
    hot = int(np.argmin((lon0 - np.median(lon0)) ** 2 + (lat0 - np.median(lat0)) ** 2))
    n_hot = 8 * 26
    i = np.r_[i, np.full(n_hot, hot)]
    days = np.r_[days, 7 * weeks - 7 * 26 * (1 - np.sqrt(rng.uniform(0, 1, n_hot)))]  # density rising to the end
    k = len(i) // 5
    src = rng.choice(len(i), k, replace=False)
    i = np.r_[i, i[src]]
    days = np.r_[days, np.minimum(days[src] + rng.uniform(0, 5, k), 7 * weeks - 0.01)]
    jitter = 0.0006  # about 50-65 m
    return pd.DataFrame({
        "occurred_local": t0 + pd.to_timedelta(days, unit="D"),
        "longitude": lon0[i] + rng.uniform(-jitter, jitter, len(i)),
        "latitude": lat0[i] + rng.uniform(-jitter / 1.5, jitter / 1.5, len(i)),
        "category": "burglary", "category_group": "burglary", "time_resolution": "minute",
    })
