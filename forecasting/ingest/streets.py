"""Street lines with names: the layer that lets people recognise places on maps and in the patrol PDF.

Streets frame
-------------
``street_id``   str, ``h<hash of name and geometry>`` (a re-delivery maps onto the same ids)
``name``        str, as the source publishes it
``wkt``         str, a WGS84 LineString or MultiLineString
``row_number``  int, 1-based feature of the source file

Files: GeoJSON or GeoPackage read with geopandas (pyogrio), reprojected to WGS84. The name is
the ``--name-column`` given, else the first of the usual names (``name``, ``street``,
``std_street``, ``streetname``, ``hblock``, ...). Features without a line geometry or a name are
quarantined with the reason (``missing_geometry``, ``not_a_line``, ``missing_name``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.errors import InputError
from forecasting.ingest.common import clean_text, hex_digits, row_hashes
from forecasting.ingest.pipeline import QUARANTINE_COLUMNS, json_rows

STREET_COLUMNS = ("street_id", "name", "wkt", "row_number")
STREET_REASONS = ("missing_geometry", "not_a_line", "missing_name")
STREET_SUFFIXES = (".geojson", ".json", ".gpkg")
_NAMES = ("name", "street", "std_street", "streetname", "street_name", "hblock", "fullname", "full_name",
          "road_name", "label")


@dataclass
class StreetChunk:
    """Canonical streets and quarantined features; ``rows_read = len(streets) + len(quarantined)``."""

    streets: pd.DataFrame
    quarantined: pd.DataFrame
    rows_read: int


def check_streets_path(path) -> Path:
    """``path`` as a Path when it is an existing GeoJSON or GeoPackage file, else InputError naming it."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"input file {str(p)!r} does not exist")
    if not p.name.lower().endswith(STREET_SUFFIXES):
        raise InputError(f"streets file must be GeoJSON or GeoPackage ({', '.join(STREET_SUFFIXES)}); got {p.name!r}")
    return p


def read_streets(path, *, name_column: str | None = None) -> StreetChunk:
    """Read a streets layer (see the module docstring).

    Parameters
    ----------
    path : path-like
        A ``.geojson``/``.json`` or ``.gpkg`` file of line features.
    name_column : str, optional
        The property holding the street name (default: found among the usual names).

    Examples
    --------
    >>> import json, tempfile
    >>> p = Path(tempfile.mkdtemp()) / "s.geojson"
    >>> _ = p.write_text(json.dumps({"type": "FeatureCollection", "features": [
    ...     {"type": "Feature", "properties": {"name": "Main St"},
    ...      "geometry": {"type": "LineString", "coordinates": [[0, 0], [0, 0.001]]}},
    ...     {"type": "Feature", "properties": {"name": ""},
    ...      "geometry": {"type": "LineString", "coordinates": [[0, 0], [0.001, 0]]}}]}))
    >>> c = read_streets(p)
    >>> c.streets["name"].tolist(), c.quarantined["reason"].tolist()
    (['Main St'], ['missing_name'])
    """
    import geopandas as gpd
    import shapely

    p = check_streets_path(path)
    gdf = gpd.read_file(p)
    if gdf.crs is not None and not gdf.crs.equals("EPSG:4326"):
        gdf = gdf.to_crs("EPSG:4326")
    props = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).astype(object)
    name_col = _name_column(list(props.columns), name_column)
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    kind = shapely.get_type_id(np.where(missing, None, geoms))
    not_line = ~missing & ~np.isin(kind, (1, 5))  # LineString, MultiLineString
    names = clean_text(props[name_col], default=None) if name_col else pd.Series(None, index=props.index)
    no_name = names.isna().to_numpy()
    reason = np.select([missing, not_line, no_name], list(STREET_REASONS), default="")
    ok = reason == ""
    rows = np.arange(1, len(gdf) + 1)
    wkt = shapely.to_wkt(geoms[ok], rounding_precision=7)
    key = pd.DataFrame({"name": names[ok].to_numpy(), "wkt": wkt})
    streets = pd.DataFrame({"street_id": "h" + pd.Series(hex_digits(row_hashes(key))), "name": key["name"],
                            "wkt": wkt, "row_number": rows[ok]})
    raw = props.loc[~ok].assign(geometry=shapely.to_wkt(np.where(missing, None, geoms)[~ok]))
    q = pd.DataFrame({"row_number": rows[~ok], "member": None, "reason": reason[~ok], "detail": None,
                      "raw": json_rows(raw) if len(raw) else []}, columns=QUARANTINE_COLUMNS)
    return StreetChunk(streets, q, len(gdf))


def _name_column(header: list[str], given: str | None) -> str | None:
    if given is not None:
        if given not in header:
            raise InputError(f"--name-column {given!r} is not a property of the file; it has {header}")
        return given
    lower = {h.lower(): h for h in header}
    return next((lower[n] for n in _NAMES if n in lower), None)


__all__ = ["STREET_COLUMNS", "STREET_REASONS", "StreetChunk", "check_streets_path", "read_streets"]
