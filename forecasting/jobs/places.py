"""Places people recognise: the streets layer and each cell's human label, computed once and stored.

A cell's label is its most frequent published block address (the canonical ``address`` of the
incidents inside it), else the name of the nearest street within :data:`STREET_RADIUS_M`, else
"near" the nearest named place within :data:`PLACE_RADIUS_M`, else empty. Every front door
(risk map hover and panel, forecast CLI, camera and patrol lists, exports) asks
:func:`cell_labels`, so a cell has one name everywhere.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session, sessionmaker

from forecasting.config import Settings
from forecasting.ingest.streets import check_streets_path, read_streets
from forecasting.jobs.ingest import IngestSummary, atomic_run
from forecasting.store import grids as grids_repo
from forecasting.store import plans
from forecasting.store import repository as repo
from forecasting.store import streets as sstore
from forecasting.store.session import transaction

#: A cell without an address takes the name of a street at most this far from its centre.
STREET_RADIUS_M = 120.0
#: ... else "near" a named place at most this far.
PLACE_RADIUS_M = 400.0
_M_PER_DEG = 111_320.0


def ingest_streets(factory: sessionmaker[Session], settings: Settings, path, *, source: str | None = None,
                   name_column: str | None = None, simulated: bool = False) -> IngestSummary:
    """Ingest a streets layer (GeoJSON/GeoPackage lines with names; see :mod:`forecasting.ingest.streets`).

    A street already stored for ``source`` (same name and geometry) counts as a duplicate.
    Cell labels computed before stay as they are.

    Examples
    --------
    Skipped in the test run: it needs a migrated database (``factory``) and the streets file.

    >>> ingest_streets(factory, settings, "streets.geojson").loaded  # doctest: +SKIP
    25
    """
    p = check_streets_path(path)
    source = source or p.stem

    def body(s: Session, summary: IngestSummary) -> None:
        chunk = read_streets(p, name_column=name_column)
        st = chunk.streets
        first = ~st["street_id"].duplicated().to_numpy()
        new = first & ~st["street_id"].isin(sstore.existing_street_ids(session=s, source=source)).to_numpy()
        sstore.insert_streets(session=s, frame=st.loc[new], source=source, run_id=summary.run_id,
                              simulated=simulated)
        repo.insert_quarantine(session=s, frame=chunk.quarantined, run_id=summary.run_id)
        summary.rows_read += chunk.rows_read
        summary.loaded += int(new.sum())
        summary.duplicates += int((~new).sum())
        summary.quarantined_by_reason.update(chunk.quarantined["reason"].value_counts().to_dict())

    fmt = "gpkg" if p.name.lower().endswith(".gpkg") else "geojson"
    return atomic_run(factory, kind="streets", path=p, fmt=fmt, source=source,
                      options={"name_column": name_column}, body=body)


def cell_labels(factory: sessionmaker[Session], *, grid_id: int) -> pd.Series:
    """The human label of every cell of a grid (cell_id -> label, ``None`` when nothing is known).

    Labels not stored yet are computed from the stored incidents, streets and places, then
    stored, so each cell's label is computed once.

    Examples
    --------
    Skipped in the test run: it needs a migrated database with a stored grid and incidents.

    >>> cell_labels(factory, grid_id=1).head(1)  # doctest: +SKIP
    cell_id
    150m_4294_38494    10XX W GEORGIA ST
    """
    with transaction(factory) as s:
        stored = sstore.cell_labels(session=s, grid_id=grid_id)
        todo = [c for c, lab in stored.items() if lab is None]
        if todo:
            cells = grids_repo.cells_frame(session=s, grid_id=grid_id)
            cells = cells.loc[cells["cell_id"].isin(todo)].reset_index(drop=True)
            computed = compute_labels(s, cells)
            sstore.set_cell_labels(session=s, grid_id=grid_id, labels=computed)
            stored.update(computed)
    out = pd.Series(stored, dtype=object, name="label")
    out.index.name = "cell_id"
    return out.where(out.fillna("").astype(str).str.len() > 0, None)


def run_labels(factory: sessionmaker[Session], *, run_id: int) -> pd.Series:
    """:func:`cell_labels` of the grid a forecast run scored (empty when the run does not exist)."""
    with transaction(factory) as s:
        grid_id = sstore.run_grid_id(session=s, run_id=run_id)
    if grid_id is None:
        return pd.Series(dtype=object, name="label")
    return cell_labels(factory, grid_id=grid_id)


def map_context(factory: sessionmaker[Session], bounds=None) -> dict:
    """What a map or export made from the stored data must say and may draw.

    Returns
    -------
    dict
        ``dataset``: ``"simulated city"`` when every stored incident comes from the simulated
        city (the demo ingests it with ``source="simulated"``), else None; ``streets``: the
        stored streets meeting ``bounds`` (west, south, east, north), ``name, wkt, simulated``.
    """
    with transaction(factory) as s:
        simulated = sstore.source_is_simulated(session=s)
        streets = sstore.streets_frame(session=s, bbox=None if bounds is None else tuple(map(float, bounds)))
    return {"dataset": "simulated city" if simulated else None, "streets": streets}


def compute_labels(s: Session, cells: pd.DataFrame) -> dict[str, str]:
    """Labels of ``cells`` (``cell_id, centroid_lon, centroid_lat, polygon_wkt``); ``""`` where none is found."""
    import shapely

    if cells.empty:
        return {}
    polys = shapely.from_wkt(cells["polygon_wkt"].to_numpy(dtype=object))
    w, so, e, n = shapely.total_bounds(polys)
    pad = PLACE_RADIUS_M / _M_PER_DEG
    labels = pd.Series("", index=cells.index, dtype=object)

    addresses = plans.incident_addresses(session=s, start=None, end=None, bbox=(w, so, e, n))
    if len(addresses):
        pts = shapely.points(addresses["longitude"].to_numpy(float), addresses["latitude"].to_numpy(float))
        point_i, cell_i = shapely.STRtree(polys).query(pts, predicate="within")
        if len(point_i):
            hits = pd.DataFrame({"cell": cell_i, "address": addresses["address"].to_numpy()[point_i]})
            top = (hits.groupby(["cell", "address"]).size().rename("n").reset_index()
                   .sort_values(["cell", "n", "address"], ascending=[True, False, True], kind="stable")
                   .drop_duplicates("cell"))
            labels.loc[top["cell"].to_numpy()] = top["address"].to_numpy()

    centres = shapely.points(*_scaled(cells["centroid_lon"], cells["centroid_lat"], cells["centroid_lat"].mean()))
    streets = sstore.streets_frame(session=s, bbox=(w - pad, so - pad, e + pad, n + pad))
    _nearest(labels, centres, streets["name"], shapely.from_wkt(streets["wkt"].to_numpy(dtype=object)),
             cells["centroid_lat"].mean(), STREET_RADIUS_M, "")
    places = sstore.named_places(session=s, bbox=(w - pad, so - pad, e + pad, n + pad))
    _nearest(labels, centres, places["name"],
             shapely.points(places["longitude"].to_numpy(float), places["latitude"].to_numpy(float)),
             cells["centroid_lat"].mean(), PLACE_RADIUS_M, "near ")
    return dict(zip(cells["cell_id"].astype(str), labels.astype(str), strict=True))


def _scaled(lon, lat, lat0: float) -> tuple[np.ndarray, np.ndarray]:
    # Degrees to metres around the data's latitude: nearest-neighbour distances in metres.
    k = np.cos(np.radians(lat0))
    return np.asarray(lon, float) * _M_PER_DEG * k, np.asarray(lat, float) * _M_PER_DEG


def _nearest(labels: pd.Series, centres, names: pd.Series, geoms, lat0: float, radius_m: float,
             prefix: str) -> None:
    """Fill empty labels with the nearest of ``geoms`` within ``radius_m`` (vectorised)."""
    import shapely

    empty = (labels == "").to_numpy()
    if not empty.any() or len(names) == 0:
        return
    k = np.cos(np.radians(lat0))
    scaled = shapely.transform(geoms, lambda xy: xy * np.array([_M_PER_DEG * k, _M_PER_DEG]))
    centre_i, geom_i = shapely.STRtree(scaled).query_nearest(centres[empty], max_distance=radius_m, all_matches=False)
    if len(centre_i):
        where = np.flatnonzero(empty)[centre_i]
        labels.iloc[where] = (prefix + names.iloc[geom_i].astype(str)).to_numpy(dtype=object)


__all__ = ["PLACE_RADIUS_M", "STREET_RADIUS_M", "cell_labels", "compute_labels", "ingest_streets", "map_context",
           "run_labels"]
