"""Camera and counting-site registries: one adapter per format, plus view polygons.

Cameras frame (what :func:`read_cameras` yields and the store holds)
--------------------------------------------------------------------
``camera_id``     str, the source's id (unique within a source)
``name``          str or None
``kind``          str: ``cctv``, ``footfall_camera``, ``pedestrian_sensor``, ``rail_station``
``longitude``, ``latitude``  float64, WGS84 degrees
``heading_deg``   float64 or NaN, compass bearing the camera faces (0 = north, clockwise)
``fov_deg``       float64 or NaN, field-of-view angle centred on the heading
``range_m``       float64, how far the camera sees (metres)
``view_wkt``      str, WGS84 polygon of what the camera sees
``installed_at``, ``retired_at``  datetime64[UTC] or NaT
``status``        str: ``active``, ``offline`` or ``retired``

View polygon: a circle of ``range_m`` around the camera when the heading is unknown or the
field of view is 360 degrees, else a sector of ``fov_deg`` centred on ``heading_deg``. Points
are geodesic (``pyproj.Geod``), so the polygon is exact at any latitude.

A registry holds locations and geometry only: never imagery, faces, plates or device ids.

Formats (``--format``)
----------------------
``canonical``    CSV ``camera_id, longitude, latitude`` (+ optional ``name, kind, heading_deg,
                 fov_deg, range_m, installed_at, retired_at, status``), or GeoJSON/GeoPackage
                 points with those properties.
``leeds``        Leeds City Council footfall cameras ``FID, Id, LocName, X_Lon, Y_Lat``.
``melbourne``    City of Melbourne ``Sensor ID, Sensor Description, ..., Latitude, Longitude``.
``auckland``     Heart of the City ``Address, Latitude, Longitude`` (the address is the id).
``chicago-cta``  CTA 'L' stations: the daily-entries file (``station_id, stationname, lat,
                 long``) or ``CTA_L_Stops.csv`` (``MAP_ID, STATION_NAME, Location``); one
                 counting site per station, repeated rows of a station are duplicates.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import shapely

from forecasting.errors import ConfigError, InputError
from forecasting.ingest.base import match_layout
from forecasting.ingest.common import clean_text, localize, parse_datetimes, to_float
from forecasting.ingest.pipeline import QUARANTINE_COLUMNS, json_rows
from forecasting.ingest.reader import iter_raw_chunks

CAMERA_COLUMNS = (
    "camera_id", "name", "kind", "longitude", "latitude", "heading_deg", "fov_deg", "range_m",
    "view_wkt", "installed_at", "retired_at", "status",
)
CAMERA_KINDS = ("cctv", "footfall_camera", "pedestrian_sensor", "rail_station")
CAMERA_STATUSES = ("active", "offline", "retired")

#: Default radius of the circular view of a camera without heading/field of view, metres.
DEFAULT_RANGE_M = 50.0

#: Quarantine reasons of camera rows, in priority order.
CAMERA_REASONS = (
    "empty_row", "missing_id", "missing_coordinates", "zero_coordinates",
    "out_of_range_coordinates", "invalid_view", "unparseable_date", "invalid_status",
)

#: Suffixes of files read as vector layers (GeoJSON, GeoPackage) rather than as CSV.
VECTOR_SUFFIXES = (".geojson", ".json", ".gpkg")
_DATE_FORMATS = (("%Y-%m-%d", "day"), ("ISO8601", "minute"))


@dataclass
class CameraChunk:
    """Canonical cameras (:data:`CAMERA_COLUMNS` + ``row_number``) and quarantined rows."""

    cameras: pd.DataFrame
    quarantined: pd.DataFrame
    rows_read: int


class CameraAdapter:
    """Turns raw text rows of one registry format into camera columns.

    :meth:`convert` returns, on the raw index, ``camera_id, name, kind, longitude, latitude,
    heading_deg, fov_deg, range_m, installed_naive, retired_naive, status`` (NaN/None where
    the source has nothing).
    """

    name: ClassVar[str]
    kind: ClassVar[str] = "cctv"
    layouts: ClassVar[tuple[tuple[str, ...], ...]] = ()

    def layout(self, header: list[str]) -> int:
        """Index of the first layout whose columns are all in ``header``, else InputError."""
        return match_layout(header, self.layouts, what=f"camera format {self.name!r}", formats=CAMERA_FORMATS)

    def convert(self, raw: pd.DataFrame, layout: int) -> pd.DataFrame:
        raise NotImplementedError

    def _frame(self, raw: pd.DataFrame, *, camera_id, lon, lat, name=None, **extra) -> pd.DataFrame:
        nan = pd.Series(np.nan, index=raw.index, dtype="float64")
        none = pd.Series(None, index=raw.index, dtype=object)
        return pd.DataFrame({
            "camera_id": clean_text(camera_id, default=None),
            "name": clean_text(name, default=None) if name is not None else none,
            "kind": extra.get("kind", self.kind),
            "longitude": lon, "latitude": lat,
            "heading_deg": extra.get("heading_deg", nan), "fov_deg": extra.get("fov_deg", nan),
            "range_m": extra.get("range_m", nan),
            "installed_naive": extra.get("installed_naive", pd.Series(pd.NaT, index=raw.index,
                                                                      dtype="datetime64[ns]")),
            "retired_naive": extra.get("retired_naive", pd.Series(pd.NaT, index=raw.index,
                                                                  dtype="datetime64[ns]")),
            "bad_date": extra.get("bad_date", pd.Series(False, index=raw.index)),
            "status": extra.get("status", none),
        }, index=raw.index)


class CanonicalCameras(CameraAdapter):
    name = "canonical"
    layouts = (("camera_id", "longitude", "latitude"),)

    def convert(self, raw: pd.DataFrame, layout: int) -> pd.DataFrame:
        def opt(col):
            return raw[col] if col in raw.columns else pd.Series(None, index=raw.index, dtype=object)

        def date(col):
            text = clean_text(opt(col), default=None)
            parsed, _ = parse_datetimes(text, _DATE_FORMATS)
            return parsed, text.notna() & parsed.isna()

        inst, bad_i = date("installed_at")
        ret, bad_r = date("retired_at")
        kind = clean_text(opt("kind"), default=self.kind).str.lower()
        return self._frame(
            raw, camera_id=raw["camera_id"], name=opt("name"), lon=to_float(raw["longitude"]),
            lat=to_float(raw["latitude"]), kind=kind, heading_deg=to_float(opt("heading_deg")),
            fov_deg=to_float(opt("fov_deg")), range_m=to_float(opt("range_m")),
            installed_naive=inst, retired_naive=ret, bad_date=bad_i | bad_r,
            status=clean_text(opt("status"), default=None).str.lower(),
        )


class LeedsCameras(CameraAdapter):
    name = "leeds"
    kind = "footfall_camera"
    layouts = (("Id", "LocName", "X_Lon", "Y_Lat"),)

    def convert(self, raw: pd.DataFrame, layout: int) -> pd.DataFrame:
        return self._frame(raw, camera_id=raw["Id"], name=raw["LocName"],
                           lon=to_float(raw["X_Lon"]), lat=to_float(raw["Y_Lat"]))


class MelbourneCameras(CameraAdapter):
    name = "melbourne"
    kind = "pedestrian_sensor"
    layouts = (("Sensor ID", "Sensor Description", "Latitude", "Longitude"),)

    def convert(self, raw: pd.DataFrame, layout: int) -> pd.DataFrame:
        year = to_float(raw["Year Installed"]) if "Year Installed" in raw.columns else None
        inst = pd.to_datetime(year.astype("Int64").astype("string") + "-01-01", errors="coerce") \
            if year is not None else pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
        status = clean_text(raw["Status"], default=None).str.lower() if "Status" in raw.columns else None
        status = status.replace({"installed": "active", "removed": "retired"}) if status is not None else None
        extra = {"installed_naive": inst.astype("datetime64[ns]")}
        if status is not None:
            extra["status"] = status
        return self._frame(raw, camera_id=raw["Sensor ID"], name=raw["Sensor Description"],
                           lon=to_float(raw["Longitude"]), lat=to_float(raw["Latitude"]), **extra)


class AucklandCameras(CameraAdapter):
    name = "auckland"
    kind = "pedestrian_sensor"
    layouts = (("Address", "Latitude", "Longitude"),)

    def convert(self, raw: pd.DataFrame, layout: int) -> pd.DataFrame:
        # The counts file names its columns by address, so the address is the id.
        return self._frame(raw, camera_id=raw["Address"], name=raw["Address"],
                           lon=to_float(raw["Longitude"]), lat=to_float(raw["Latitude"]))


class ChicagoCTACameras(CameraAdapter):
    name = "chicago-cta"
    kind = "rail_station"
    layouts = (("station_id", "stationname", "lat", "long"), ("MAP_ID", "STATION_NAME", "Location"))

    def convert(self, raw: pd.DataFrame, layout: int) -> pd.DataFrame:
        if layout == 0:
            return self._frame(raw, camera_id=raw["station_id"], name=raw["stationname"],
                               lon=to_float(raw["long"]), lat=to_float(raw["lat"]))
        # "(41.857908, -87.669147)": latitude first.
        parts = raw["Location"].astype("string").str.extract(r"\(\s*([-0-9.eE+]+)\s*,\s*([-0-9.eE+]+)\s*\)")
        return self._frame(raw, camera_id=raw["MAP_ID"], name=raw["STATION_NAME"],
                           lon=to_float(parts[1]), lat=to_float(parts[0]))


CAMERA_FORMATS: dict[str, type[CameraAdapter]] = {
    a.name: a for a in (CanonicalCameras, LeedsCameras, MelbourneCameras, AucklandCameras, ChicagoCTACameras)
}


def camera_adapter(fmt: str) -> CameraAdapter:
    """The camera adapter of format ``fmt``; InputError naming the known formats otherwise."""
    try:
        return CAMERA_FORMATS[fmt]()
    except KeyError:
        raise InputError(f"camera format must be one of {sorted(CAMERA_FORMATS)}; got {fmt!r}") from None


# --------------------------------------------------------------------------- view polygons
def view_polygons(longitude, latitude, heading_deg=None, fov_deg=None, range_m=None, *,
                  default_range_m: float = DEFAULT_RANGE_M, n_arc: int = 32) -> np.ndarray:
    """WGS84 view polygons of cameras: circles, or sectors where heading and field of view are set.

    Parameters
    ----------
    longitude, latitude : array-like of float
        Camera positions, WGS84 degrees.
    heading_deg : array-like of float, optional
        Compass bearing of the view's axis (0 = north, 90 = east); NaN means unknown (circle).
    fov_deg : array-like of float, optional
        Field-of-view angle in (0, 360]; NaN or 360 gives a circle.
    range_m : array-like of float, optional
        View radius in metres; NaN takes ``default_range_m``.
    default_range_m : float, default 50
    n_arc : int, default 32
        Vertices along each arc.

    Returns
    -------
    ndarray of shapely Polygons

    Examples
    --------
    >>> p = view_polygons([-1.5424], [53.7966], [90.0], [90.0], [40.0])[0]
    >>> bool(p.contains(shapely.Point(-1.5420, 53.7966))), bool(p.contains(shapely.Point(-1.5428, 53.7966)))
    (True, False)
    """
    from pyproj import Geod

    if not default_range_m > 0:
        raise ConfigError(f"default_range_m must be a positive number of metres; got {default_range_m!r}")
    lon = np.asarray(longitude, dtype=float)
    lat = np.asarray(latitude, dtype=float)
    n = lon.size
    full = np.full(n, np.nan)
    head = full.copy() if heading_deg is None else np.asarray(heading_deg, dtype=float)
    fov = full.copy() if fov_deg is None else np.asarray(fov_deg, dtype=float)
    rng = full.copy() if range_m is None else np.asarray(range_m, dtype=float)
    rng = np.where(np.isfinite(rng), rng, default_range_m)
    circle = ~np.isfinite(head) | ~np.isfinite(fov) | (fov >= 360)
    fov_c = np.where(circle, 360.0, fov)
    head_c = np.where(circle, 0.0, head)
    # Arc azimuths per camera: (n, n_arc); circles close on themselves, sectors add the apex.
    frac = np.linspace(0.0, 1.0, n_arc)
    az = head_c[:, None] - fov_c[:, None] / 2 + fov_c[:, None] * frac[None, :]
    geod = Geod(ellps="WGS84")
    alon, alat, _ = geod.fwd(np.repeat(lon, n_arc), np.repeat(lat, n_arc), az.ravel(),
                             np.repeat(rng, n_arc))
    arc = np.stack([alon.reshape(n, n_arc), alat.reshape(n, n_arc)], axis=-1)
    apex = np.stack([lon, lat], axis=-1)[:, None, :]
    # Sector ring: apex, arc..., apex. Circle ring: arc..., first arc point (apex replaced).
    first = arc[:, :1, :]
    ring = np.concatenate([np.where(circle[:, None, None], first, apex), arc,
                           np.where(circle[:, None, None], first, apex)], axis=1)
    return shapely.polygons(ring)


# --------------------------------------------------------------------------------- reading
def _quarantine(raw: pd.DataFrame, row_numbers: np.ndarray, member, reasons: pd.Series) -> pd.DataFrame:
    return pd.DataFrame({
        "row_number": row_numbers, "member": member, "reason": reasons.to_numpy(),
        "detail": None, "raw": json_rows(raw),
    }, columns=QUARANTINE_COLUMNS)


def camera_reasons(conv: pd.DataFrame, empty: pd.Series) -> pd.Series:
    """The quarantine reason of each converted camera row (NA where the row is valid)."""
    lon, lat = conv["longitude"], conv["latitude"]
    fov, rng = conv["fov_deg"], conv["range_m"]
    checks = {
        "empty_row": empty,
        "missing_id": conv["camera_id"].isna(),
        "missing_coordinates": lon.isna() | lat.isna(),
        "zero_coordinates": (lon == 0) & (lat == 0),
        "out_of_range_coordinates": ~(lon.between(-180, 180) & lat.between(-90, 90, inclusive="neither"))
        & lon.notna() & lat.notna(),
        "invalid_view": (fov.notna() & ~fov.between(0, 360, inclusive="right"))
        | (conv["heading_deg"].notna() & ~conv["heading_deg"].between(0, 360, inclusive="left"))
        | (rng.notna() & ~(rng > 0)) | (rng > 5000),
        "unparseable_date": conv["bad_date"].astype(bool),
        "invalid_status": conv["status"].notna() & ~conv["status"].isin(CAMERA_STATUSES),
    }
    reasons = pd.Series(pd.NA, index=conv.index, dtype=object)
    for name in reversed(CAMERA_REASONS):  # the first reason in priority order wins
        m = checks[name].fillna(False).astype(bool)
        reasons[m] = name
    return reasons


def canonicalise_cameras(raw: pd.DataFrame, row_numbers: np.ndarray, member, adapter: CameraAdapter,
                         layout: int, *, tz: str, default_range_m: float,
                         now: pd.Timestamp | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Convert, validate and build the view polygons of one block of raw registry rows."""
    conv = adapter.convert(raw, layout)
    empty = (raw.astype("string").fillna("").apply(lambda c: c.str.strip()) == "").all(axis=1)
    reasons = camera_reasons(conv, empty)
    ok = reasons.isna().to_numpy()
    cams = conv.loc[ok].copy()
    cams["range_m"] = cams["range_m"].fillna(default_range_m)
    views = view_polygons(cams["longitude"], cams["latitude"], cams["heading_deg"], cams["fov_deg"],
                          cams["range_m"], default_range_m=default_range_m)
    cams["view_wkt"] = shapely.to_wkt(views, rounding_precision=7) if len(cams) else []
    cams["installed_at"] = localize(cams["installed_naive"], tz)
    cams["retired_at"] = localize(cams["retired_naive"], tz)
    now = now if now is not None else pd.Timestamp.now(tz="UTC")
    retired = cams["retired_at"].notna() & (cams["retired_at"] <= now)
    cams["status"] = cams["status"].where(cams["status"].notna(), "active").where(~retired, "retired")
    cams["row_number"] = row_numbers[ok]
    bad = _quarantine(raw.loc[~ok], row_numbers[~ok], member, reasons[~ok])
    return cams.loc[:, [*CAMERA_COLUMNS, "row_number"]].reset_index(drop=True), bad


def read_cameras(path, adapter: CameraAdapter, *, tz: str, default_range_m: float = DEFAULT_RANGE_M,
                 chunk_size: int = 100_000) -> Iterator[CameraChunk]:
    """Stream canonical cameras from a CSV/GZ/ZIP registry, or a GeoJSON/GeoPackage (canonical).

    Every data row comes back either as a camera or as a quarantined row with its reason.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "c.csv")
    >>> _ = open(p, "w").write("camera_id,longitude,latitude\\nc1,-1.54,53.79\\nc2,,\\n")
    >>> ch = next(read_cameras(p, camera_adapter("canonical"), tz="UTC"))
    >>> ch.cameras["camera_id"].tolist(), ch.quarantined["reason"].tolist()
    (['c1'], ['missing_coordinates'])
    """
    p = Path(path)
    if is_vector_file(p):
        if adapter.name != "canonical":
            raise InputError(f"GeoJSON/GeoPackage registries need --format canonical; got {adapter.name!r}")
        raw = vector_as_text(p)
        layout = adapter.layout(list(raw.columns))
        rows = np.arange(1, len(raw) + 1)
        cams, bad = canonicalise_cameras(raw, rows, None, adapter, layout, tz=tz, default_range_m=default_range_m)
        yield CameraChunk(cams, bad, len(raw))
        return
    layout = None
    for chunk in iter_raw_chunks(p, chunk_size):
        if layout is None:
            layout = adapter.layout(chunk.header)
        cams, bad = canonicalise_cameras(chunk.frame, chunk.row_numbers.to_numpy(), chunk.member, adapter,
                                         layout, tz=tz, default_range_m=default_range_m)
        q = pd.concat([chunk.bad.reindex(columns=QUARANTINE_COLUMNS), bad], ignore_index=True) \
            if len(chunk.bad) else bad
        yield CameraChunk(cams, q, chunk.rows_read)


def is_vector_file(path) -> bool:
    """True when ``path`` names a GeoJSON or GeoPackage file (by its suffix, any case).

    Examples
    --------
    >>> is_vector_file("Police_Stations.GeoJSON"), is_vector_file("cameras.csv")
    (True, False)
    """
    return Path(path).name.lower().endswith(VECTOR_SUFFIXES)


def vector_as_text(path: Path) -> pd.DataFrame:
    """A GeoJSON/GeoPackage layer as text columns, with ``longitude/latitude`` of point features.

    Non-point geometries give their representative point; the attributes keep their names.
    """
    import geopandas as gpd

    try:
        gdf = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises its own error types
        raise InputError(f"cannot read {path.name!r} as GeoJSON/GeoPackage: {exc}") from None
    if gdf.crs is not None and not gdf.crs.equals("EPSG:4326"):
        gdf = gdf.to_crs("EPSG:4326")
    geom = gdf.geometry
    pts = shapely.point_on_surface(np.asarray(geom.values, dtype=object))
    out = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).astype(object)
    out = out.where(out.notna(), None).astype("string").astype(object)
    has = ~shapely.is_missing(pts) & ~shapely.is_empty(pts)
    x = np.full(len(gdf), None, dtype=object)
    y = np.full(len(gdf), None, dtype=object)
    x[has] = shapely.get_x(pts[has]).astype(str)
    y[has] = shapely.get_y(pts[has]).astype(str)
    if "longitude" not in out.columns:
        out["longitude"] = x
    if "latitude" not in out.columns:
        out["latitude"] = y
    return out.reset_index(drop=True)


__all__ = [
    "CAMERA_COLUMNS", "CAMERA_FORMATS", "CAMERA_REASONS", "CameraChunk", "DEFAULT_RANGE_M",
    "camera_adapter", "read_cameras", "view_polygons",
]
