"""Positional layers: points of interest by category, and area layers with values.

Places frame
------------
``place_id``   str, the source's id, else ``h<hash of the row>`` (``-<n>`` for the n-th repeat)
``category``   str, e.g. ``school``, ``rail_station``, ``bar``
``name``       str or None
``longitude``, ``latitude``  float64, WGS84 degrees
``row_number`` int, 1-based data row (or feature) of the source file

Areas frame
-----------
``area_id``       str; ``name`` str or None; ``hour_of_week`` Int64 (0 = Monday 00:00) or NA
``value``         float64
``polygon_wkt``   str, WGS84 polygon

Files: CSV/GZ/ZIP with longitude/latitude columns (names such as ``longitude``/``lon``/``X_Lon``
are recognised), a ``"(lat, lon)"`` column (``Location``, ``geo_point_2d``), a WKT column
(``point``, ``geometry``, ``the_geom``, ``wkt``) or a GeoJSON column (``Geom``); or GeoJSON /
GeoPackage read with geopandas (pyogrio). Area layers given as *points with values* (e.g. San
Francisco's modelled pedestrian volume at intersections) become the points' Voronoi cells,
clipped to the points' convex hull grown by the median spacing, so each location's value
covers the area nearest to it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from forecasting.errors import ConfigError, InputError
from forecasting.ingest.cameras import is_vector_file, vector_as_text
from forecasting.ingest.common import clean_text, hex_digits, row_hashes, to_float
from forecasting.ingest.pipeline import QUARANTINE_COLUMNS, Occurrences, json_rows
from forecasting.ingest.reader import check_path, iter_raw_chunks

PLACE_COLUMNS = ("place_id", "category", "name", "longitude", "latitude", "row_number")
AREA_COLUMNS = ("area_id", "name", "hour_of_week", "value", "polygon_wkt", "row_number")
PLACE_REASONS = ("empty_row", "missing_category", "missing_coordinates", "zero_coordinates",
                 "out_of_range_coordinates")
AREA_REASONS = ("empty_row", "missing_geometry", "missing_value", "invalid_hour_of_week")

_LON = ("longitude", "lon", "lng", "long", "x_lon", "x")
_LAT = ("latitude", "lat", "y_lat", "y")
_PAIR = ("location", "geo_point_2d", "geopoint", "coordinates", "latlon")
_WKT = ("point", "geometry", "the_geom", "wkt", "shape")
_GEOJSON = ("geom", "geo_shape", "geojson")
_NAMES = ("name", "station", "station_name", "stop_name", "school_name", "cultural_space_name", "business_name",
          "district_name", "loc_name", "locname", "address")


@dataclass
class PlaceChunk:
    """Canonical places or areas and quarantined rows; ``rows_read = len(rows) + len(quarantined)``."""

    rows: pd.DataFrame
    quarantined: pd.DataFrame
    rows_read: int


def _find(header: list[str], names: tuple[str, ...]) -> str | None:
    lower = {h.lower().strip(): h for h in header}
    return next((lower[n] for n in names if n in lower), None)


def _column(header: list[str], given: str | None, what: str) -> str | None:
    if given is None:
        return None
    if given not in header:
        raise InputError(f"{what} must be a column of the file; got {given!r}, the file has {header}")
    return given


def locate_columns(header: list[str], lon_column: str | None = None, lat_column: str | None = None) -> tuple:
    """How a header carries positions: ``("xy", lon, lat)``, ``("pair", col)``, ``("wkt", col)``
    or ``("geojson", col)``; InputError naming the columns looked for otherwise."""
    if lon_column or lat_column:
        return ("xy", _column(header, lon_column, "--lon-column"), _column(header, lat_column, "--lat-column"))
    lon, lat = _find(header, _LON), _find(header, _LAT)
    if lon and lat:
        return ("xy", lon, lat)
    for kind, names in (("pair", _PAIR), ("wkt", _WKT), ("geojson", _GEOJSON)):
        col = _find(header, names)
        if col:
            return (kind, col)
    raise InputError(
        f"cannot find coordinates: expected longitude/latitude columns (one of {list(_LON)} and one of "
        f"{list(_LAT)}), a '(lat, lon)' column {list(_PAIR)}, a WKT column {list(_WKT)} or a GeoJSON "
        f"column {list(_GEOJSON)}; the file has {header}"
    )


def parse_positions(raw: pd.DataFrame, how: tuple) -> tuple[pd.Series, pd.Series, np.ndarray | None]:
    """Longitude, latitude (NaN where unreadable) and, for WKT/GeoJSON, the geometries."""
    kind = how[0]
    if kind == "xy":
        return to_float(raw[how[1]]), to_float(raw[how[2]]), None
    text = raw[how[1]].astype("string")
    if kind == "pair":  # "(41.85, -87.66)" or "49.28, -123.11": latitude first
        parts = text.str.extract(r"^\s*\(?\s*([-0-9.eE+]+)\s*,\s*([-0-9.eE+]+)\s*\)?\s*$")
        return to_float(parts[1]), to_float(parts[0]), None
    if kind == "wkt":
        geoms = shapely.from_wkt(text.fillna("").where(text.str.strip() != "", None).to_numpy(dtype=object),
                                 on_invalid="ignore")
    else:
        geoms = shapely.from_geojson(text.where(text.str.contains("coordinates", na=False), None)
                                     .to_numpy(dtype=object), on_invalid="ignore")
    pts = shapely.point_on_surface(geoms)
    ok = ~shapely.is_missing(pts) & ~shapely.is_empty(pts)
    x = np.full(len(raw), np.nan)
    y = np.full(len(raw), np.nan)
    x[ok], y[ok] = shapely.get_x(pts[ok]), shapely.get_y(pts[ok])
    return pd.Series(x, index=raw.index), pd.Series(y, index=raw.index), geoms


def _empty_rows(raw: pd.DataFrame) -> pd.Series:
    return (raw.astype("string").fillna("").apply(lambda c: c.str.strip()) == "").all(axis=1)


def _position_reasons(lon: pd.Series, lat: pd.Series) -> dict[str, pd.Series]:
    return {
        "missing_coordinates": lon.isna() | lat.isna(),
        "zero_coordinates": (lon == 0) & (lat == 0),
        "out_of_range_coordinates": lon.notna() & lat.notna()
        & ~(lon.between(-180, 180) & lat.between(-90, 90, inclusive="neither")),
    }


def _first_reason(checks: dict[str, pd.Series], order: tuple[str, ...], index) -> pd.Series:
    reasons = pd.Series(pd.NA, index=index, dtype=object)
    for name in reversed(order):
        reasons[checks[name].fillna(False).to_numpy(dtype=bool)] = name
    return reasons


def _quarantined(raw, rows, member, reasons) -> pd.DataFrame:
    return pd.DataFrame({"row_number": rows, "member": member, "reason": reasons.to_numpy(),
                         "detail": None, "raw": json_rows(raw)}, columns=QUARANTINE_COLUMNS)


def _raw_blocks(path, chunk_size: int):
    p = Path(path)
    if is_vector_file(p):
        raw = vector_as_text(p)
        yield raw, np.arange(1, len(raw) + 1), None, pd.DataFrame(columns=QUARANTINE_COLUMNS), list(raw.columns)
        return
    check_path(p)
    for ch in iter_raw_chunks(p, chunk_size):
        yield ch.frame, ch.row_numbers.to_numpy(), ch.member, ch.bad.reindex(columns=QUARANTINE_COLUMNS), ch.header


def read_places(path, *, category: str | None = None, category_column: str | None = None,
                id_column: str | None = None, name_column: str | None = None,
                lon_column: str | None = None, lat_column: str | None = None,
                chunk_size: int = 100_000) -> Iterator[PlaceChunk]:
    """Stream canonical places from a CSV/GZ/ZIP, GeoJSON or GeoPackage file.

    Exactly one of ``category`` (every row) and ``category_column`` must be given.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "s.csv")
    >>> _ = open(p, "w").write("SCHOOL_NAME,LATITUDE,LONGITUDE\\nA,49.27,-123.08\\nB,,\\n")
    >>> ch = next(read_places(p, category="school"))
    >>> ch.rows[["category", "name"]].values.tolist(), ch.quarantined["reason"].tolist()
    ([['school', 'A']], ['missing_coordinates'])
    """
    if (category is None) == (category_column is None):
        raise ConfigError(f"give exactly one of category and category_column; got category={category!r}, "
                          f"category_column={category_column!r}")
    occurrences = Occurrences()
    how = None
    for raw, rows, member, bad, header in _raw_blocks(path, chunk_size):
        if how is None:
            how = locate_columns(header, lon_column, lat_column)
            cat_col = _column(header, category_column, "--category-column")
            id_col = _column(header, id_column, "--id-column")
            name_col = _column(header, name_column, "--name-column") or _find(header, _NAMES)
        lon, lat, _ = parse_positions(raw, how)
        cat = clean_text(raw[cat_col], default=None) if cat_col else pd.Series(category, index=raw.index,
                                                                                 dtype=object)
        checks = {"empty_row": _empty_rows(raw), "missing_category": cat.isna(), **_position_reasons(lon, lat)}
        reasons = _first_reason(checks, PLACE_REASONS, raw.index)
        ok = reasons.isna().to_numpy()
        hashes = row_hashes(raw.loc[ok])
        if id_col:
            ids = clean_text(raw.loc[ok, id_col], default=None)
            missing = ids.isna().to_numpy()
        else:
            ids = pd.Series(None, index=raw.index[ok], dtype=object)
            missing = np.ones(int(ok.sum()), dtype=bool)
        occ = occurrences.number(hashes[missing])
        gen = "h" + pd.Series(hex_digits(hashes[missing])) + np.where(occ > 0, "-" + occ.astype(str), "")
        ids.loc[ids.index[missing]] = gen.to_numpy()
        places = pd.DataFrame({
            "place_id": ids.to_numpy(), "category": cat[ok].to_numpy(),
            "name": clean_text(raw.loc[ok, name_col], default=None).to_numpy() if name_col else None,
            "longitude": lon[ok].to_numpy(), "latitude": lat[ok].to_numpy(), "row_number": rows[ok],
        })
        q = _quarantined(raw.loc[~ok], rows[~ok], member, reasons[~ok])
        q = pd.concat([bad, q], ignore_index=True) if len(bad) else q
        yield PlaceChunk(places, q, len(raw) + len(bad))


def read_areas(path, *, value_column: str, id_column: str | None = None, name_column: str | None = None,
               hour_column: str | None = None, chunk_size: int = 1_000_000) -> PlaceChunk:
    """Read an area layer (polygons with a value, or points with a value: see the module docstring).

    The whole file is read at once (area layers are small); rows without a usable geometry or
    value are quarantined.
    """
    blocks = list(_raw_blocks(path, chunk_size))
    raw = pd.concat([b[0] for b in blocks], ignore_index=True)
    rows = np.concatenate([b[1] for b in blocks])
    members = np.concatenate([np.full(len(b[0]), b[2], dtype=object) for b in blocks])
    bad = pd.concat([b[3] for b in blocks], ignore_index=True)
    header = blocks[0][4]
    value_col = _column(header, value_column, "--value-column")
    id_col = _column(header, id_column, "--id-column")
    name_col = _column(header, name_column, "--name-column") or _find(header, _NAMES)
    hour_col = _column(header, hour_column, "--hour-column")
    p = Path(path)
    if is_vector_file(p):
        import geopandas as gpd

        gdf = gpd.read_file(p)
        gdf = gdf.to_crs("EPSG:4326") if gdf.crs is not None and not gdf.crs.equals("EPSG:4326") else gdf
        geoms = np.asarray(gdf.geometry.values, dtype=object)
    else:
        how = locate_columns(header)
        lon, lat, geoms = parse_positions(raw, how)
        if geoms is None:
            geoms = shapely.points(lon.to_numpy(), lat.to_numpy())
            geoms[lon.isna().to_numpy() | lat.isna().to_numpy()] = None
    value = to_float(raw[value_col])
    how_ = to_float(raw[hour_col]) if hour_col else pd.Series(np.nan, index=raw.index)
    missing_geom = pd.Series(shapely.is_missing(geoms) | shapely.is_empty(geoms), index=raw.index)
    checks = {
        "empty_row": _empty_rows(raw), "missing_geometry": missing_geom,
        "missing_value": value.isna() | ~np.isfinite(value.fillna(0)),
        "invalid_hour_of_week": how_.notna() & ~(how_.between(0, 167) & (how_ == how_.round()))
        if hour_col else pd.Series(False, index=raw.index),
    }
    if hour_col:
        checks["invalid_hour_of_week"] |= how_.isna() & raw[hour_col].astype("string").str.strip().ne("")
    reasons = _first_reason(checks, AREA_REASONS, raw.index)
    ok = reasons.isna().to_numpy()
    g = geoms[ok]
    polys = _as_polygons(g)
    ids = clean_text(raw.loc[ok, id_col], default=None) if id_col else \
        pd.Series(hex_digits(row_hashes(raw.loc[ok, [c for c in header if c != value_col]])), index=raw.index[ok])
    areas = pd.DataFrame({
        "area_id": ids.fillna("row" + pd.Series(rows[ok], index=ids.index).astype(str)).to_numpy(),
        "name": clean_text(raw.loc[ok, name_col], default=None).to_numpy() if name_col else None,
        "hour_of_week": how_[ok].round().astype("Int64").to_numpy(),
        "value": value[ok].to_numpy(),
        "polygon_wkt": shapely.to_wkt(polys, rounding_precision=7),
        "row_number": rows[ok],
    })
    q = pd.DataFrame({"row_number": rows[~ok], "member": members[~ok], "reason": reasons[~ok].to_numpy(),
                      "detail": None, "raw": json_rows(raw.loc[~ok])}, columns=QUARANTINE_COLUMNS)
    q = pd.concat([bad, q], ignore_index=True) if len(bad) else q
    return PlaceChunk(areas, q, len(raw) + len(bad))


def _as_polygons(geoms: np.ndarray) -> np.ndarray:
    """Polygons as they are; points become their Voronoi cells (see the module docstring)."""
    if geoms.size == 0:
        return geoms
    is_point = shapely.get_type_id(geoms) == 0
    if not is_point.any():
        return geoms
    out = geoms.copy()
    pts = geoms[is_point]
    if pts.size == 1:
        out[is_point] = shapely.buffer(pts, 0.001)
        return out
    from scipy.spatial import cKDTree

    xy = shapely.get_coordinates(pts)
    d, _ = cKDTree(xy).query(xy, k=2)
    spacing = float(np.median(d[:, 1])) or 1e-4
    hull = shapely.buffer(shapely.convex_hull(shapely.multipoints(xy)), spacing)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(xy), extend_to=hull))
    cells = shapely.intersection(cells, hull)
    # Match each Voronoi cell to the point inside it (a spatial index query, vectorised).
    tree = shapely.STRtree(cells)
    pi, ci = tree.query(pts, predicate="intersects")
    first = pd.Series(ci).groupby(pi).first()
    matched = np.full(pts.size, None, dtype=object)
    matched[first.index.to_numpy()] = cells[first.to_numpy()]
    # Duplicate points share one cell; any unmatched point keeps a small square.
    miss = pd.isna(matched)
    matched[miss] = shapely.buffer(pts[miss], spacing / 2, cap_style="square")
    out[is_point] = matched
    return out


_SAFE = re.compile(r"[^a-z0-9_]+")


def slug(text: str) -> str:
    """A lower-case identifier: ``"Rapid Transit Stations" -> "rapid_transit_stations"``."""
    return _SAFE.sub("_", str(text).lower()).strip("_")


__all__ = ["AREA_COLUMNS", "PLACE_COLUMNS", "PlaceChunk", "locate_columns", "read_areas", "read_places", "slug"]
