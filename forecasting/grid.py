"""Spatial grids: square cells in a projected CRS, or H3 hexagons.

Points are assigned to cells by array arithmetic (floor division of projected coordinates),
never by spatial joins. Square grids are aligned to multiples of the cell size in projected
coordinates, so the same data, CRS and cell size always give the same cell ids.

A grid knows its *study area*: the cells a forecast covers. It is the set of cells meeting a
boundary polygon when one is given, else the cells holding at least one incident of the
history the grid is built from.

Layer 1: imports only ``errors``/``schema`` plus numpy, pandas, scipy, pyproj and shapely
(geopandas is imported lazily where a GeoDataFrame is returned).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from os import PathLike
from typing import Any

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer
from scipy import ndimage, sparse

from forecasting.config import DEFAULT_CELL_SIZE  # the default edge of a square cell, metres
from forecasting.errors import ConfigError, CRSError, InputError, check_positive

WGS84 = "EPSG:4326"


def utm_crs(longitude: np.ndarray, latitude: np.ndarray) -> CRS:
    """Return the WGS84 UTM zone CRS containing the centre of the points' extent.

    Examples
    --------
    >>> utm_crs(np.array([-123.1]), np.array([49.28])).to_epsg()
    32610
    """
    lon = np.asarray(longitude, dtype=float)
    lat = np.asarray(latitude, dtype=float)
    ok = np.isfinite(lon) & np.isfinite(lat)
    if not ok.any():
        raise InputError("cannot choose a UTM zone: no finite longitude/latitude given")
    lon_c = (np.nanmin(lon[ok]) + np.nanmax(lon[ok])) / 2
    lat_c = (np.nanmin(lat[ok]) + np.nanmax(lat[ok])) / 2
    zone = int(np.floor((lon_c + 180) / 6)) % 60 + 1
    return CRS.from_epsg((32600 if lat_c >= 0 else 32700) + zone)


def check_metric_crs(crs: Any) -> CRS:
    """Return ``crs`` as a :class:`pyproj.CRS` after checking it is projected in metres.

    Raises
    ------
    CRSError
        If the CRS is geographic or its axis unit is not the metre, naming the unit found.

    Examples
    --------
    >>> check_metric_crs("EPSG:32610").to_epsg()
    32610
    """
    try:
        out = CRS.from_user_input(crs)
    except Exception as exc:  # pyproj raises its own CRSError type
        raise CRSError(f"crs must be a CRS pyproj understands (e.g. 'EPSG:32610'); got {crs!r}") from exc
    units = {ax.unit_name for ax in out.axis_info}
    if not out.is_projected or not units <= {"metre", "meter"}:
        raise CRSError(
            f"crs must be a projected CRS in metres, because cell_size is in metres; got "
            f"{out.to_string()} with axis units {sorted(units)}. Pass crs=None to use the UTM "
            "zone of the data, or a metric CRS such as 'EPSG:32610'"
        )
    return out


def _read_boundary(boundary: Any, crs: CRS) -> shapely.Geometry:
    """Return the boundary as one shapely geometry in ``crs``."""
    if isinstance(boundary, str | PathLike):
        try:
            import geopandas as gpd  # lazy: only needed for files
        except ImportError as exc:  # pragma: no cover - geopandas is a dependency
            raise InputError("reading a boundary file needs geopandas") from exc
        boundary = gpd.read_file(boundary)
    if isinstance(boundary, dict):
        feats = boundary.get("features")
        geoms = (
            [shapely.geometry.shape(f["geometry"]) for f in feats]
            if feats is not None
            else [shapely.geometry.shape(boundary)]
        )
        boundary = shapely.union_all(geoms)
    if hasattr(boundary, "crs") and hasattr(boundary, "geometry"):
        # A GeoDataFrame/GeoSeries carries its CRS: transform, never guess.
        if boundary.crs is None:
            raise CRSError(
                "boundary has no CRS; expected a GeoDataFrame with a CRS (e.g. EPSG:4326); "
                "got crs=None. Set it with .set_crs(...)"
            )
        geom = shapely.union_all(np.asarray(boundary.to_crs(crs).geometry))
        return geom
    if not isinstance(boundary, shapely.Geometry):
        raise InputError(
            "boundary must be a shapely geometry, GeoJSON mapping, GeoDataFrame or file path; "
            f"got {type(boundary).__name__}"
        )
    minx, miny, maxx, maxy = boundary.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise CRSError(
            "a bare boundary geometry is read as EPSG:4326 longitude/latitude, but its bounds "
            f"{(minx, miny, maxx, maxy)} are outside that range (projected coordinates?). "
            f"Pass a GeoDataFrame carrying its CRS, or transform it to {WGS84}"
        )
    tr = Transformer.from_crs(WGS84, crs, always_xy=True)
    return shapely.transform(boundary, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))


#: Bytes of raster one :meth:`Grid.neighbour_sum` pass may allocate per temporary; larger
#: inputs are summed in chunks of columns.
NEIGHBOUR_CHUNK_BYTES = 256 * 2**20


class Grid:
    """Square cells of ``cell_size`` metres over a study area, in a projected CRS.

    Cell ``(col, row)`` covers ``[col*s, (col+1)*s) x [row*s, (row+1)*s)`` in projected
    coordinates (``s`` the cell size), so grids are aligned to a fixed origin and reproducible.
    Cells are ordered by ``(row, col)``; arrays indexed by cell follow that order.

    Build one with :func:`build_grid`.

    Attributes
    ----------
    crs : pyproj.CRS
        Projected CRS in metres.
    cell_size : float
        Edge length, metres.
    col, row : ndarray of int64
        Absolute column/row indexes of the study-area cells.
    cell_ids : ndarray of str
        Stable ids ``"{size}m_{col}_{row}"``.
    raster_row, raster_col : ndarray of int64
        Positions in the bounding raster (``raster_shape``), for neighbourhood convolutions.

    Examples
    --------
    >>> g = Grid(crs="EPSG:32610", cell_size=100, col=np.array([5, 6]), row=np.array([7, 7]))
    >>> g.cell_ids.tolist()
    ['100m_5_7', '100m_6_7']
    >>> g.locate_xy(np.array([650.0, 550.0, 0.0]), np.array([720.0, 799.0, 0.0])).tolist()
    [1, 0, -1]
    """

    kind = "square"

    def __init__(self, *, crs: Any, cell_size: float, col: np.ndarray, row: np.ndarray,
                 boundary: shapely.Geometry | None = None) -> None:
        self.crs = check_metric_crs(crs)
        self.cell_size = float(check_positive("cell_size", cell_size, "metres"))
        col = np.asarray(col, dtype=np.int64)
        row = np.asarray(row, dtype=np.int64)
        if col.shape != row.shape or col.ndim != 1 or col.size == 0:
            raise InputError(f"col and row must be equal-length non-empty 1-d arrays; got "
                             f"shapes {col.shape} and {row.shape}")
        order = np.lexsort((col, row))
        self.col, self.row = col[order], row[order]
        if np.any((np.diff(self.row) == 0) & (np.diff(self.col) == 0)):
            raise InputError("grid cells must be unique (col, row) pairs")
        self.boundary = boundary
        self.row0, self.col0 = int(self.row.min()), int(self.col.min())
        self.raster_row = self.row - self.row0
        self.raster_col = self.col - self.col0
        self.raster_shape = (int(self.raster_row.max()) + 1, int(self.raster_col.max()) + 1)
        self._lookup = np.full(self.raster_shape, -1, dtype=np.int64)
        self._lookup[self.raster_row, self.raster_col] = np.arange(self.col.size)
        self._to_xy = Transformer.from_crs(WGS84, self.crs, always_xy=True)
        self._to_lonlat = Transformer.from_crs(self.crs, WGS84, always_xy=True)

    # -- identity --------------------------------------------------------------------------
    @property
    def n_cells(self) -> int:
        """Number of cells in the study area."""
        return int(self.col.size)

    @property
    def cell_ids(self) -> np.ndarray:
        """Stable string ids, ``"{size}m_{col}_{row}"``."""
        size = f"{self.cell_size:g}m_"
        return np.char.add(np.char.add(np.char.add(size, self.col.astype(str)), "_"),
                           self.row.astype(str)).astype(object)

    def to_dict(self) -> dict:
        """JSON-serialisable description (for model artifacts and the store)."""
        return {"kind": self.kind, "crs": self.crs.to_string(), "cell_size": self.cell_size,
                "n_cells": self.n_cells, "col": self.col.tolist(), "row": self.row.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> Grid:
        """Inverse of :meth:`to_dict`."""
        return cls(crs=d["crs"], cell_size=d["cell_size"], col=np.array(d["col"]),
                   row=np.array(d["row"]))

    def fingerprint(self) -> str:
        """A short hash of CRS, cell size and cells."""
        import hashlib
        payload = json.dumps([self.kind, self.crs.to_string(), self.cell_size,
                              self.col.tolist(), self.row.tolist()]).encode()
        return hashlib.sha256(payload).hexdigest()[:16]

    def check_compatible(self, other: Grid) -> None:
        """Raise :class:`CRSError` if ``other`` differs in CRS, cell size or cells."""
        if self.kind != other.kind:
            raise CRSError(f"grid kinds differ: {self.kind!r} vs {other.kind!r}")
        if self.crs != other.crs:
            raise CRSError(f"grid CRS differ: {self.crs.to_string()} vs {other.crs.to_string()}; "
                           "rebuild one grid in the other's CRS")
        if self.cell_size != other.cell_size:
            raise CRSError(f"grid cell sizes differ: {self.cell_size:g} m vs "
                           f"{other.cell_size:g} m; compare models only at one cell size")
        if self.fingerprint() != other.fingerprint():
            raise CRSError(f"grids cover different cells ({self.n_cells} vs {other.n_cells})")

    # -- geometry --------------------------------------------------------------------------
    def project(self, longitude: np.ndarray, latitude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """WGS84 longitude/latitude to projected x/y metres."""
        x, y = self._to_xy.transform(np.asarray(longitude, float), np.asarray(latitude, float))
        return np.asarray(x), np.asarray(y)

    def to_lonlat(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Projected x/y metres to WGS84 longitude/latitude (the inverse of :meth:`project`)."""
        lon, lat = self._to_lonlat.transform(np.asarray(x, float), np.asarray(y, float))
        return np.asarray(lon), np.asarray(lat)

    def locate_xy(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Cell position (index into the grid's cell arrays) of projected points; -1 outside."""
        with np.errstate(invalid="ignore"):
            c = np.floor(np.asarray(x, float) / self.cell_size)
            r = np.floor(np.asarray(y, float) / self.cell_size)
        ok = np.isfinite(c) & np.isfinite(r)
        rc = np.where(ok, c, self.col0 - 1).astype(np.int64) - self.col0
        rr = np.where(ok, r, self.row0 - 1).astype(np.int64) - self.row0
        inside = (rr >= 0) & (rr < self.raster_shape[0]) & (rc >= 0) & (rc < self.raster_shape[1])
        out = np.full(rc.shape, -1, dtype=np.int64)
        out[inside] = self._lookup[rr[inside], rc[inside]]
        return out

    def locate(self, longitude: np.ndarray, latitude: np.ndarray) -> np.ndarray:
        """Cell position of WGS84 points; -1 for points outside the study area.

        Examples
        --------
        >>> g = build_grid(np.array([-123.10, -123.11]), np.array([49.28, 49.27]), cell_size=150)
        >>> g.locate(np.array([-123.10, 0.0]), np.array([49.28, 0.0])).tolist()
        [1, -1]
        """
        return self.locate_xy(*self.project(longitude, latitude))

    @property
    def centroids_xy(self) -> tuple[np.ndarray, np.ndarray]:
        """Projected cell centres, metres."""
        return (self.col + 0.5) * self.cell_size, (self.row + 0.5) * self.cell_size

    def boxes(self) -> np.ndarray:
        """Square cell polygons in the grid CRS (shapely array)."""
        s = self.cell_size
        return shapely.box(self.col * s, self.row * s, (self.col + 1) * s, (self.row + 1) * s)

    @property
    def areas(self) -> np.ndarray:
        """Cell areas in m²: the full square, or the part inside the boundary when one is set."""
        if self.boundary is None:
            return np.full(self.n_cells, self.cell_size**2)
        return shapely.area(shapely.intersection(self.boxes(), self.boundary))

    def polygons(self, crs: Any = WGS84):
        """Cells as a GeoDataFrame with column ``cell_id``, in ``crs`` (default EPSG:4326).

        Examples
        --------
        >>> g = Grid(crs="EPSG:32610", cell_size=150, col=np.array([3268]), row=np.array([36388]))
        >>> g.polygons().crs.to_epsg()
        4326
        """
        import geopandas as gpd  # lazy: a heavy import only needed for export

        gdf = gpd.GeoDataFrame({"cell_id": self.cell_ids}, geometry=self.boxes(), crs=self.crs)
        return gdf.to_crs(crs) if crs is not None else gdf

    # -- raster operations -----------------------------------------------------------------
    def to_raster(self, values: np.ndarray) -> np.ndarray:
        """Place ``values`` (cells first) on the bounding raster; zero outside the study area."""
        values = np.asarray(values)
        out = np.zeros(self.raster_shape + values.shape[1:], dtype=values.dtype)
        out[self.raster_row, self.raster_col] = values
        return out

    def from_raster(self, raster: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_raster` (reads the study-area cells)."""
        return raster[self.raster_row, self.raster_col]

    def neighbour_sum(self, values: np.ndarray, radius: int) -> np.ndarray:
        """Sum of ``values`` over the ``(2r+1) x (2r+1)`` block of cells around each cell.

        ``values`` has cells on the first axis (any trailing axes, e.g. periods, are kept).
        Box sums are a separable convolution over the raster, exact for integer-valued floats.

        Examples
        --------
        >>> g = Grid(crs="EPSG:32610", cell_size=1, col=np.array([0, 1, 5]), row=np.array([0, 0, 0]))
        >>> g.neighbour_sum(np.array([1.0, 2.0, 4.0]), 1).tolist()
        [3.0, 3.0, 4.0]
        """
        radius = int(radius)
        values = np.asarray(values)
        if radius == 0:
            return values.copy()
        h, w = self.raster_shape
        per_column = (h + 2 * radius) * (w + 2 * radius) * values.dtype.itemsize
        n_cols = int(np.prod(values.shape[1:], dtype=np.int64))
        if values.ndim > 1 and per_column * n_cols > NEIGHBOUR_CHUNK_BYTES:
            # The raster holds empty cells too (several times the study area's cells on a
            # city's bounding box) and three raster-sized temporaries are needed: sum a few
            # columns at a time so memory stays near the output's size. Sums are exact.
            flat = values.reshape(values.shape[0], n_cols)
            out = np.empty_like(flat)
            step = max(1, NEIGHBOUR_CHUNK_BYTES // per_column)
            for a in range(0, n_cols, step):  # chunks of columns (periods)
                out[:, a:a + step] = self._box_sum(flat[:, a:a + step], radius)
            return out.reshape(values.shape)
        return self._box_sum(values, radius)

    def _box_sum(self, values: np.ndarray, radius: int) -> np.ndarray:
        """:meth:`neighbour_sum` on the whole raster at once."""
        # A separable box convolution done as sums of shifted slices of the zero-padded
        # raster, accumulated in place: exact for counts, several times faster than ndimage
        # along leading axes, and no temporaries the size of the raster.
        h, w = self.raster_shape
        r = np.zeros((h + 2 * radius, w + 2 * radius) + values.shape[1:], dtype=values.dtype)
        r[self.raster_row + radius, self.raster_col + radius] = values
        rows = r[0:h] + r[1:h + 1]
        for d in range(2, 2 * radius + 1):
            np.add(rows, r[d:d + h], out=rows)
        del r
        out = rows[:, 0:w] + rows[:, 1:w + 1]
        for d in range(2, 2 * radius + 1):
            np.add(out, rows[:, d:d + w], out=out)
        return self.from_raster(out)

    def kernel_smooth(self, values: np.ndarray, weight: Callable[[np.ndarray], np.ndarray],
                      radius_m: float) -> np.ndarray:
        """Weighted sum over cells within ``radius_m`` of each cell centre.

        ``weight`` maps centre-to-centre distances in metres to weights; cells on the first
        axis of ``values`` (trailing axes kept). Implemented as a raster correlation.
        """
        reach = int(np.floor(radius_m / self.cell_size))
        off = np.arange(-reach, reach + 1)
        dist = np.hypot(off[:, None], off[None, :]) * self.cell_size
        kernel = np.where(dist <= radius_m, weight(dist), 0.0)
        r = self.to_raster(np.asarray(values, dtype=np.float64))
        kernel = kernel.reshape(kernel.shape + (1,) * (r.ndim - 2))
        return self.from_raster(ndimage.correlate(r, kernel, mode="constant"))


class H3Grid(Grid):
    """H3 hexagons of one resolution over a study area.

    Cell ids are H3 index strings. Neighbourhood sums use k-rings (k=1 ~ 3x3, k=2 ~ 5x5) as
    a sparse matrix; distances are between projected centroids. Point indexing calls the h3
    library once per *distinct* coordinate (h3 has no array API).
    """

    kind = "h3"

    def __init__(self, *, crs: Any, resolution: int, cells: np.ndarray,
                 boundary: shapely.Geometry | None = None) -> None:
        import h3  # lazy: optional dependency at runtime

        self._h3 = h3
        if not 0 <= int(resolution) <= 15:
            raise ConfigError(f"h3 resolution must be an integer in 0..15; got {resolution!r}")
        self.resolution = int(resolution)
        self.crs = check_metric_crs(crs)
        self._cells = np.array(sorted(set(np.asarray(cells, dtype=object).tolist())), dtype=object)
        if self._cells.size == 0:
            raise InputError("an H3 grid needs at least one cell")
        self.boundary = boundary
        self._pos = {c: i for i, c in enumerate(self._cells)}
        self._to_xy = Transformer.from_crs(WGS84, self.crs, always_xy=True)
        self._to_lonlat = Transformer.from_crs(self.crs, WGS84, always_xy=True)
        lat, lon = np.array([h3.cell_to_latlng(c) for c in self._cells]).T
        self._cx, self._cy = self.project(lon, lat)
        self.cell_size = float(np.sqrt(h3.average_hexagon_area(self.resolution, unit="m^2")))
        anchor = self._cells[0]
        ij = np.array([h3.cell_to_local_ij(anchor, c) for c in self._cells])
        self.raster_row, self.raster_col = ij[:, 0] - ij[:, 0].min(), ij[:, 1] - ij[:, 1].min()
        self.row, self.col = self.raster_row, self.raster_col
        self._rings: dict[int, sparse.csr_matrix] = {}

    @property
    def n_cells(self) -> int:
        return int(self._cells.size)

    @property
    def cell_ids(self) -> np.ndarray:
        return self._cells.copy()

    def to_dict(self) -> dict:
        return {"kind": self.kind, "crs": self.crs.to_string(), "resolution": self.resolution,
                "n_cells": self.n_cells, "cells": self._cells.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> H3Grid:
        return cls(crs=d["crs"], resolution=d["resolution"], cells=np.array(d["cells"]))

    def fingerprint(self) -> str:
        import hashlib
        payload = json.dumps([self.kind, self.resolution, self._cells.tolist()]).encode()
        return hashlib.sha256(payload).hexdigest()[:16]

    def locate(self, longitude: np.ndarray, latitude: np.ndarray) -> np.ndarray:
        pts = pd.DataFrame({"lon": np.asarray(longitude, float), "lat": np.asarray(latitude, float)})
        uniq, inv = np.unique(pts.to_numpy(), axis=0, return_inverse=True)
        ids = [self._h3.latlng_to_cell(la, lo, self.resolution) if np.isfinite(la + lo) else None
               for lo, la in uniq]
        pos = np.array([self._pos.get(c, -1) for c in ids], dtype=np.int64)
        return pos[inv.ravel()]

    def locate_xy(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        lon, lat = self._to_lonlat.transform(np.asarray(x, float), np.asarray(y, float))
        return self.locate(lon, lat)

    @property
    def centroids_xy(self) -> tuple[np.ndarray, np.ndarray]:
        return self._cx, self._cy

    def boxes(self) -> np.ndarray:
        polys = [shapely.Polygon([(lo, la) for la, lo in self._h3.cell_to_boundary(c)])
                 for c in self._cells]
        return shapely.transform(np.array(polys, dtype=object), lambda xy: np.column_stack(
            self._to_xy.transform(xy[:, 0], xy[:, 1])))

    @property
    def areas(self) -> np.ndarray:
        return shapely.area(self.boxes())

    def ring_matrix(self, k: int) -> sparse.csr_matrix:
        """Cells x cells 0/1 matrix of the cells within ``k`` H3 rings of each (itself included; cached)."""
        if k not in self._rings:
            rows, cols = [], []
            for i, c in enumerate(self._cells):
                for n in self._h3.grid_disk(c, k):
                    j = self._pos.get(n)
                    if j is not None:
                        rows.append(i)
                        cols.append(j)
            self._rings[k] = sparse.csr_matrix(
                (np.ones(len(rows)), (rows, cols)), shape=(self.n_cells, self.n_cells))
        return self._rings[k]

    def neighbour_sum(self, values: np.ndarray, radius: int) -> np.ndarray:
        v = np.asarray(values, dtype=np.float64)
        flat = v.reshape(v.shape[0], -1)
        return np.asarray(self.ring_matrix(int(radius)) @ flat).reshape(v.shape)

    def kernel_smooth(self, values: np.ndarray, weight: Callable[[np.ndarray], np.ndarray],
                      radius_m: float) -> np.ndarray:
        from scipy.spatial import cKDTree

        xy = np.column_stack(self.centroids_xy)
        pairs = cKDTree(xy).sparse_distance_matrix(cKDTree(xy), radius_m, output_type="coo_matrix")
        d = np.concatenate([pairs.data, np.zeros(self.n_cells)])
        i = np.concatenate([pairs.row, np.arange(self.n_cells)])
        j = np.concatenate([pairs.col, np.arange(self.n_cells)])
        keep = (d > 0) | (i == j)
        m = sparse.csr_matrix((weight(d[keep]), (i[keep], j[keep])),
                              shape=(self.n_cells, self.n_cells))
        v = np.asarray(values, dtype=np.float64)
        return np.asarray(m @ v.reshape(v.shape[0], -1)).reshape(v.shape)

    def to_raster(self, values: np.ndarray) -> np.ndarray:  # pragma: no cover - not used
        raise InputError("H3 grids have no square raster; use neighbour_sum/kernel_smooth")


def build_grid(longitude: np.ndarray, latitude: np.ndarray, *,
               cell_size: float = DEFAULT_CELL_SIZE, crs: Any = None, boundary: Any = None,
               h3_resolution: int | None = None) -> Grid:
    """Build the study-area grid from incident locations (the training history).

    Parameters
    ----------
    longitude, latitude : array-like
        WGS84 coordinates of the history's incidents (e.g. the events frame's columns).
    cell_size : float, default 150
        Square cell edge, metres.
    crs : CRS-like, optional
        Projected metric CRS. Default: the UTM zone of the points' extent.
    boundary : shapely geometry, GeoJSON mapping, GeoDataFrame or path, optional
        Study area. Cells meeting it form the grid; otherwise, the cells holding at least one
        of the given points. Bare geometries and GeoJSON are read as EPSG:4326.
    h3_resolution : int, optional
        Use H3 hexagons of this resolution instead of squares.

    Returns
    -------
    Grid

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> lon, lat = -123.1 + rng.normal(0, 0.01, 50), 49.28 + rng.normal(0, 0.01, 50)
    >>> g = build_grid(lon, lat, cell_size=500)
    >>> g.crs.to_epsg(), int(np.all(g.locate(lon, lat) >= 0))
    (32610, 1)
    """
    check_positive("cell_size", cell_size, "metres")
    lon = np.asarray(longitude, dtype=float)
    lat = np.asarray(latitude, dtype=float)
    ok = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90)
    lon, lat = lon[ok], lat[ok]
    if crs is None:
        if lon.size == 0 and boundary is None:
            raise InputError("cannot build a grid: no valid longitude/latitude and no boundary")
        if lon.size:
            crs = utm_crs(lon, lat)
        else:
            b = _read_boundary(boundary, CRS.from_epsg(4326)) if not hasattr(boundary, "crs") \
                else shapely.union_all(np.asarray(boundary.to_crs(WGS84).geometry))
            c = b.centroid
            crs = utm_crs(np.array([c.x]), np.array([c.y]))
    crs = check_metric_crs(crs)
    geom = _read_boundary(boundary, crs) if boundary is not None else None
    tr = Transformer.from_crs(WGS84, crs, always_xy=True)
    x, y = (np.asarray(a) for a in tr.transform(lon, lat))

    if h3_resolution is not None:
        import h3

        if geom is not None:
            lonlat = Transformer.from_crs(crs, WGS84, always_xy=True)
            g84 = shapely.transform(geom, lambda xy: np.column_stack(lonlat.transform(xy[:, 0], xy[:, 1])))
            cells = h3.geo_to_cells(g84.__geo_interface__, int(h3_resolution))
        else:
            uniq = np.unique(np.column_stack([lat, lon]), axis=0)
            cells = {h3.latlng_to_cell(a, o, int(h3_resolution)) for a, o in uniq}
        return H3Grid(crs=crs, resolution=int(h3_resolution), cells=np.array(list(cells)),
                      boundary=geom)

    s = float(cell_size)
    if geom is not None:
        minx, miny, maxx, maxy = geom.bounds
        cc, rr = np.meshgrid(np.arange(np.floor(minx / s), np.floor(maxx / s) + 1),
                             np.arange(np.floor(miny / s), np.floor(maxy / s) + 1))
        cc, rr = cc.ravel(), rr.ravel()
        shapely.prepare(geom)
        boxes = shapely.box(cc * s, rr * s, (cc + 1) * s, (rr + 1) * s)
        keep = shapely.intersects(geom, boxes) & ~shapely.touches(geom, boxes)
        col, row = cc[keep], rr[keep]
    else:
        cr = np.unique(np.column_stack([np.floor(x / s), np.floor(y / s)]), axis=0)
        col, row = cr[:, 0], cr[:, 1]
    if len(col) == 0:
        raise InputError("the study area holds no cells (empty boundary or no points)")
    return Grid(crs=crs, cell_size=s, col=col.astype(np.int64), row=row.astype(np.int64),
                boundary=geom)


def grid_from_dict(d: dict) -> Grid:
    """Rebuild a :class:`Grid` or :class:`H3Grid` from :meth:`Grid.to_dict` output."""
    return (H3Grid if d.get("kind") == "h3" else Grid).from_dict(d)
