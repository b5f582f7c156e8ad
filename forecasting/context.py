"""Context features per cell and period: camera activity, places and area layers.

Pure computation on frames and a :class:`~forecasting.grid.Grid`; the output is dense arrays
with feature names, ready to join the forecasting panel (see :class:`ContextFeatures`).

Input frames
------------
cameras   ``camera_id, longitude, latitude, view_wkt`` (WGS84 polygon); optional ``source``.
counts    ``camera_id, period_start`` (tz-aware UTC), ``resolution`` (``hour``/``day``),
          ``people`` (float, NaN = not counted); optional ``source``.
places    ``category, longitude, latitude``.
areas     ``layer, area_id, hour_of_week`` (NA = all week), ``value, polygon_wkt`` (WGS84).

Rules
-----
*Coverage*: a cell is covered by a camera when the cell's centroid falls inside the camera's
view polygon (``shapely`` ``within``: a centroid exactly on the boundary is not covered).
*Leakage*: the activity features of the period starting at local time ``S`` use only counts
whose period starts strictly before ``S`` (at the counts' own resolution: daily counts
of ``S``'s day are not used for a period starting that day). Appending later counts changes
nothing (a property test pins this).
*Missing is not zero*: means are over the hours (or days) a camera actually reported; a
camera with no count in a window contributes nothing to that window.

Activity features (dynamic, cells x periods), for the count class ``value`` (default people):
``act_covered`` (1 if a covering camera reported in the recent window), ``act_recent`` (mean
per hour over the last ``recent_days``), ``act_usual`` (mean at the same hours of the week
over the ``usual_weeks`` weeks before), ``act_ratio`` ((recent + 1) / (baseline + 1), the
baseline being the mean over the ``usual_weeks`` weeks before the recent window), and the
same three for nearby cameras weighted by a Gaussian of distance (``act_near_*``, bandwidth
``near_bandwidth_m``), which reaches cells no camera sees. Static: ``cam_distance_km``.

Place features (static): per category, ``place_<cat>_count`` (in the cell),
``place_<cat>_dist_km`` (centroid to nearest), ``place_<cat>_kde`` (Gaussian kernel density per
km², bandwidth ``bandwidth_m``). Area features: ``area_<layer>``, the area-weighted value
(intensive: weighted mean of the overlapping polygons; extensive: sum of value x share of
each polygon's area); layers given per hour of week are averaged over each period's hours.

Layer 2: imports errors/schema/grid/periods plus numpy, pandas, scipy and shapely.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.spatial import cKDTree

from forecasting.errors import ConfigError, InputError
from forecasting.grid import Grid
from forecasting.periods import Periods
from forecasting.schema import require_columns

CAMERA_FRAME = ("camera_id", "longitude", "latitude", "view_wkt")
COUNT_FRAME = ("camera_id", "period_start", "resolution")
PLACE_FRAME = ("category", "longitude", "latitude")
AREA_FRAME = ("layer", "area_id", "hour_of_week", "value", "polygon_wkt")

_NS_HOUR = 3_600_000_000_000
_MONDAY = pd.Timestamp("1970-01-05").value  # hour-of-week 0 = Monday 00:00


@dataclass
class ContextFeatures:
    """Context features on one grid: static (cells x features) and dynamic (cells x periods x features).

    ``first`` is the period index of the dynamic block's column 0 (as in ``Panel.first``).

    Examples
    --------
    >>> cf = ContextFeatures(static=np.ones((2, 1), np.float32), static_names=["s"],
    ...                      dynamic=np.zeros((2, 3, 1), np.float32), dynamic_names=["d"], first=10)
    >>> X = cf.at(np.array([11, 12]))
    >>> X.shape, cf.names
    ((2, 2, 2), ['s', 'd'])
    """

    static: np.ndarray
    static_names: list[str]
    dynamic: np.ndarray
    dynamic_names: list[str]
    first: int = 0
    meta: dict = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return list(self.static_names) + list(self.dynamic_names)

    @property
    def n_cells(self) -> int:
        return int(self.static.shape[0])

    def at(self, period_index: np.ndarray) -> np.ndarray:
        """Features at absolute period indexes: shape (n_features, n_cells, n_periods), float32.

        Periods outside the dynamic block get the value of the nearest covered period.
        """
        idx = np.asarray(period_index, dtype=np.int64)
        n = self.n_cells
        out = np.empty((len(self.names), n, idx.size), dtype=np.float32)
        k = len(self.static_names)
        out[:k] = np.broadcast_to(self.static.T[:, :, None], (k, n, idx.size))
        if self.dynamic_names:
            col = np.clip(idx - self.first, 0, self.dynamic.shape[1] - 1)
            out[k:] = np.moveaxis(self.dynamic[:, col, :], 2, 0)
        return out

    def select(self, prefixes: tuple[str, ...]) -> ContextFeatures:
        """Only the features whose names start with one of ``prefixes`` (e.g. ``("act_", "cam_")``)."""
        s = [i for i, n in enumerate(self.static_names) if n.startswith(prefixes)]
        d = [i for i, n in enumerate(self.dynamic_names) if n.startswith(prefixes)]
        return ContextFeatures(self.static[:, s], [self.static_names[i] for i in s], self.dynamic[:, :, d],
                               [self.dynamic_names[i] for i in d], self.first, dict(self.meta))


# ------------------------------------------------------------------------------ geometry
def _to_grid_crs(grid: Grid, geoms: np.ndarray) -> np.ndarray:
    return shapely.transform(geoms, lambda xy: np.column_stack(grid.project(xy[:, 0], xy[:, 1])))


def camera_views(cameras: pd.DataFrame, grid: Grid) -> np.ndarray:
    """View polygons of ``cameras`` in the grid's CRS (shapely array)."""
    require_columns(cameras, CAMERA_FRAME, "cameras")
    geoms = shapely.from_wkt(cameras["view_wkt"].to_numpy(dtype=object), on_invalid="ignore")
    if shapely.is_missing(geoms).any():
        bad = cameras.loc[shapely.is_missing(geoms), "camera_id"].tolist()[:5]
        raise InputError(f"cameras.view_wkt must be WKT polygons; cameras {bad} have none")
    return _to_grid_crs(grid, geoms)


def centroids(grid: Grid) -> np.ndarray:
    """Cell centroids as shapely points in the grid's CRS."""
    cx, cy = grid.centroids_xy
    return shapely.points(cx, cy)


def coverage(cameras: pd.DataFrame, grid: Grid) -> sparse.csr_matrix:
    """Cells x cameras boolean matrix: True where the cell's centroid is within the camera's view.

    Examples
    --------
    >>> from forecasting.grid import Grid
    >>> g = Grid(crs="EPSG:32631", cell_size=100, col=np.array([6500, 6501]), row=np.array([57720, 57720]))
    >>> lon, lat = g.to_lonlat(650050.0, 5772050.0)
    >>> view = shapely.Point(lon, lat).buffer(0.0003).wkt
    >>> cams = pd.DataFrame({"camera_id": ["c"], "longitude": [lon], "latitude": [lat], "view_wkt": [view]})
    >>> coverage(cams, g).toarray().ravel().tolist()
    [True, False]
    """
    views = camera_views(cameras, grid)
    pts = centroids(grid)
    tree = shapely.STRtree(views)
    cell_i, cam_j = tree.query(pts, predicate="within")
    return sparse.csr_matrix((np.ones(cell_i.size, dtype=bool), (cell_i, cam_j)),
                             shape=(grid.n_cells, len(cameras)))


def _xy(grid: Grid, frame: pd.DataFrame) -> np.ndarray:
    x, y = grid.project(frame["longitude"].to_numpy(float), frame["latitude"].to_numpy(float))
    return np.column_stack([x, y])


def camera_distance(cameras: pd.DataFrame, grid: Grid) -> np.ndarray:
    """Distance (km) from each cell centroid to the nearest camera; NaN when there is none."""
    if cameras.empty:
        return np.full(grid.n_cells, np.nan)
    d, _ = cKDTree(_xy(grid, cameras)).query(np.column_stack(grid.centroids_xy))
    return d / 1000.0


def _gaussian_weights(grid: Grid, xy: np.ndarray, bandwidth_m: float) -> sparse.csr_matrix:
    """Cells x points Gaussian weights ``exp(-d^2 / 2 bw^2)`` for points within 3 bandwidths."""
    cells = np.column_stack(grid.centroids_xy)
    if xy.shape[0] == 0:
        return sparse.csr_matrix((grid.n_cells, 0))
    d = cKDTree(cells).sparse_distance_matrix(cKDTree(xy), 3 * bandwidth_m, output_type="coo_matrix")
    w = np.exp(-0.5 * (d.data / bandwidth_m) ** 2)
    # Exact zero distances are dropped by sparse_distance_matrix; add them back.
    zero_i, zero_j = _coincident(cells, xy)
    rows = np.concatenate([d.row, zero_i])
    cols = np.concatenate([d.col, zero_j])
    vals = np.concatenate([w, np.ones(zero_i.size)])
    return sparse.csr_matrix((vals, (rows, cols)), shape=(grid.n_cells, xy.shape[0]))


def _coincident(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pairs = cKDTree(a).query_ball_tree(cKDTree(b), r=0.0) if len(a) and len(b) else []
    i = np.repeat(np.arange(len(pairs)), [len(p) for p in pairs]) if pairs else np.zeros(0, np.int64)
    j = np.concatenate([np.asarray(p, dtype=np.int64) for p in pairs]) if pairs else np.zeros(0, np.int64)
    return i.astype(np.int64), j.astype(np.int64)


# ------------------------------------------------------------------------------- activity
def _count_cube(counts: pd.DataFrame, camera_ids: np.ndarray, tz: str, value: str):
    """Dense (cameras, steps) sums and reporting counts on the counts' local time axis."""
    res = counts["resolution"].astype(str)
    step_h = 24 if (res == "day").all() else 1
    hourly = res == "hour"
    c = counts if step_h == 24 else counts.loc[hourly.to_numpy()]
    ts = pd.to_datetime(c["period_start"], utc=True)
    local = ts.dt.tz_convert(tz).dt.tz_localize(None).astype("datetime64[ns]")
    step_ns = step_h * _NS_HOUR
    idx = (local.to_numpy().astype(np.int64) - _MONDAY) // step_ns
    pos = pd.Index(camera_ids).get_indexer(c["camera_id"].astype(object))
    v = pd.to_numeric(c[value], errors="coerce").to_numpy(float)
    ok = (pos >= 0) & np.isfinite(v)
    if not ok.any():
        return None
    idx, pos, v = idx[ok], pos[ok], v[ok]
    i0 = int(idx.min())
    T = int(idx.max()) - i0 + 1
    S = np.zeros((camera_ids.size, T))
    M = np.zeros((camera_ids.size, T))
    np.add.at(S, (pos, idx - i0), v)
    np.add.at(M, (pos, idx - i0), 1.0)
    cS = np.concatenate([np.zeros((camera_ids.size, 1)), np.cumsum(S, axis=1)], axis=1)
    cM = np.concatenate([np.zeros((camera_ids.size, 1)), np.cumsum(M, axis=1)], axis=1)
    return cS, cM, i0, step_h


def activity_features(counts: pd.DataFrame, cameras: pd.DataFrame, grid: Grid, periods: Periods, first: int,
                      n_periods: int, *, tz: str = "UTC", value: str = "people", recent_days: float = 7,
                      usual_weeks: int = 8, near_bandwidth_m: float = 300.0) -> tuple[np.ndarray, list[str]]:
    """Camera activity per cell and period, from counts strictly before each period.

    Parameters
    ----------
    counts, cameras : DataFrame
        See the module docstring. Counts of cameras missing from ``cameras`` are ignored.
    grid : Grid
    periods : Periods
    first, n_periods : int
        Period index of the first column and the number of columns (as a ``Panel``).
    tz : str
        Local time zone of the panel's periods.
    value : str, default "people"
    recent_days, usual_weeks, near_bandwidth_m
        Window lengths and the bandwidth of the nearby-camera weights.

    Returns
    -------
    values : ndarray, shape (n_cells, n_periods, 7), float32
    names : list of str

    Examples
    --------
    >>> from forecasting.grid import Grid
    >>> g = Grid(crs="EPSG:32631", cell_size=100, col=np.array([6500]), row=np.array([57720]))
    >>> lon, lat = g.to_lonlat(650050.0, 5772050.0)
    >>> cams = pd.DataFrame({"camera_id": ["c"], "longitude": [lon], "latitude": [lat],
    ...                      "view_wkt": [shapely.Point(lon, lat).buffer(0.001).wkt]})
    >>> hours = pd.date_range("2024-01-01", periods=24 * 28, freq="h", tz="UTC")
    >>> counts = pd.DataFrame({"camera_id": "c", "period_start": hours, "resolution": "hour", "people": 10.0})
    >>> p = Periods("week")
    >>> X, names = activity_features(counts, cams, g, p, int(p.index([pd.Timestamp("2024-01-01")])[0]), 5)
    >>> [round(float(v), 1) for v in X[0, :, names.index("act_recent")]]
    [0.0, 10.0, 10.0, 10.0, 10.0]
    """
    require_columns(counts, (*COUNT_FRAME, value), "counts")
    require_columns(cameras, CAMERA_FRAME, "cameras")
    for name, v in (("recent_days", recent_days), ("usual_weeks", usual_weeks), ("near_bandwidth_m", near_bandwidth_m)):
        if not v > 0:
            raise ConfigError(f"{name} must be positive; got {v!r}")
    names = ["act_covered", "act_recent", "act_usual", "act_ratio", "act_near_recent", "act_near_usual",
             "act_near_ratio"]
    out = np.zeros((grid.n_cells, n_periods, len(names)), dtype=np.float32)
    ids = cameras["camera_id"].astype(object).to_numpy()
    cube = _count_cube(counts, ids, tz, value) if len(counts) and len(cameras) else None
    if cube is None:
        return out, names
    starts = periods.start(first + np.arange(n_periods))
    recent, usual, base = _camera_rates(cube, starts, periods.length, recent_days=recent_days,
                                        usual_weeks=int(usual_weeks))
    covering = coverage(cameras, grid).astype(np.float64)
    near = _gaussian_weights(grid, _xy(grid, cameras), near_bandwidth_m)
    out[:, :, 0:4] = _cell_activity(covering, recent, usual, base, with_covered=True)
    out[:, :, 4:7] = _cell_activity(near, recent, usual, base)
    return out, names


def _camera_rates(cube, starts: pd.DatetimeIndex, length: pd.Timedelta, *, recent_days: float,
                  usual_weeks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each camera's activity per hour before each period start: recent, usual (same slot), baseline.

    ``recent``: the last ``recent_days``; ``usual``: the same slot of the week in each of the
    last ``usual_weeks`` weeks; ``base``: the weeks before the recent window. Shape
    ``(n_cameras, n_periods)`` each; NaN where the camera reported nothing in the window.
    """
    cS, cM, i0, step_h = cube
    T = cS.shape[1] - 1
    s = (starts.as_unit("ns").asi8 - _MONDAY) // (step_h * _NS_HOUR) - i0
    week = 168 // step_h
    R = max(1, int(round(recent_days * 24 / step_h)))
    P = min(week, max(1, int(np.ceil(length / pd.Timedelta(hours=step_h)))))

    def window(a, b):
        a, b = np.clip(a, 0, T), np.clip(b, 0, T)
        return cS[:, b] - cS[:, a], cM[:, b] - cM[:, a]

    rs, rm = window(s - R, s)
    bs, bm = window(s - usual_weeks * week, s - R)
    us = np.zeros_like(rs)
    um = np.zeros_like(rm)
    for k in range(1, usual_weeks + 1):  # a handful of weekly lags, each a whole-array operation
        a, b = window(s - k * week, s - k * week + P)
        us += a
        um += b
    with np.errstate(invalid="ignore", divide="ignore"):
        recent = np.where(rm > 0, rs / np.maximum(rm, 1) / step_h, np.nan)  # per hour
        usual = np.where(um > 0, us / np.maximum(um, 1) / step_h, np.nan)
        base = np.where(bm > 0, bs / np.maximum(bm, 1) / step_h, np.nan)
    return recent, usual, base


def _cell_mean(W, cam_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean over cameras (``W``: cells x cameras) of the reported values, and the weight behind it."""
    has = np.isfinite(cam_values)
    num = W @ np.where(has, cam_values, 0.0)
    den = W @ has.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1e-12), 0.0), den


def _cell_activity(W, recent, usual, base, *, with_covered: bool = False) -> np.ndarray:
    """Per cell and period: [covered,] recent, usual and the smoothed recent/baseline ratio (1 without data)."""
    r, den = _cell_mean(W, recent)
    u, _ = _cell_mean(W, usual)
    b, _ = _cell_mean(W, base)
    ratio = np.where(den > 0, (r + 1) / (b + 1), 1.0)
    blocks = [den > 0, r, u, ratio] if with_covered else [r, u, ratio]
    return np.stack(blocks, axis=-1)


# --------------------------------------------------------------------------------- places
def _category_slug(cat: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(cat).lower()).strip("_") or "unknown"


def place_features(places: pd.DataFrame, grid: Grid, *, categories: list[str] | None = None,
                   bandwidth_m: float = 200.0) -> tuple[np.ndarray, list[str]]:
    """Risk-terrain features per cell: count, distance to nearest and kernel density, per category.

    Returns
    -------
    values : ndarray, shape (n_cells, 3 * n_categories), float32
    names : list of str

    Examples
    --------
    >>> from forecasting.grid import Grid
    >>> g = Grid(crs="EPSG:32631", cell_size=100, col=np.array([6500, 6502]), row=np.array([57720, 57720]))
    >>> lon, lat = g.to_lonlat(650050.0, 5772050.0)
    >>> pl = pd.DataFrame({"category": ["bar"], "longitude": [lon], "latitude": [lat]})
    >>> X, names = place_features(pl, g)
    >>> names, X[:, 0].tolist(), [round(float(v), 2) for v in X[:, 1]]
    (['place_bar_count', 'place_bar_dist_km', 'place_bar_kde'], [1.0, 0.0], [0.0, 0.2])
    """
    require_columns(places, PLACE_FRAME, "places")
    if not bandwidth_m > 0:
        raise ConfigError(f"bandwidth_m must be a positive number of metres; got {bandwidth_m!r}")
    cats = sorted(places["category"].astype(str).unique()) if categories is None else list(categories)
    cells = np.column_stack(grid.centroids_xy)
    xy = _xy(grid, places)
    pos = grid.locate_xy(xy[:, 0], xy[:, 1])
    codes = pd.Categorical(places["category"].astype(str), categories=cats).codes
    out = np.zeros((grid.n_cells, 3 * len(cats)), dtype=np.float32)
    names: list[str] = []
    W = _gaussian_weights(grid, xy, bandwidth_m)
    onehot = sparse.csr_matrix((np.ones(int((codes >= 0).sum())), (np.nonzero(codes >= 0)[0], codes[codes >= 0])),
                               shape=(len(places), len(cats)))
    kde = np.asarray((W @ onehot).todense()) / (2 * np.pi * (bandwidth_m / 1000.0) ** 2)
    inside = (pos >= 0) & (codes >= 0)
    cnt = np.zeros((grid.n_cells, len(cats)))
    np.add.at(cnt, (pos[inside], codes[inside]), 1.0)
    for j, cat in enumerate(cats):  # loops over categories, not rows or cells
        pts = xy[codes == j]
        if len(pts):
            d, _ = cKDTree(pts).query(cells)
            dist = d / 1000.0
        else:
            dist = np.full(grid.n_cells, np.nan)
        out[:, 3 * j] = cnt[:, j]
        out[:, 3 * j + 1] = dist
        out[:, 3 * j + 2] = kde[:, j]
        slug = _category_slug(cat)
        names += [f"place_{slug}_count", f"place_{slug}_dist_km", f"place_{slug}_kde"]
    return out, names


# ---------------------------------------------------------------------------------- areas
def area_weights(polygons_wkt: np.ndarray, grid: Grid) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Cells x areas matrix of intersection areas (m²) and each area's own area (m²)."""
    polys = _to_grid_crs(grid, shapely.from_wkt(np.asarray(polygons_wkt, dtype=object), on_invalid="ignore"))
    polys = shapely.make_valid(polys)
    boxes = grid.boxes()
    tree = shapely.STRtree(polys)
    ci, ai = tree.query(boxes, predicate="intersects")
    inter = shapely.area(shapely.intersection(boxes[ci], polys[ai]))
    keep = inter > 0
    m = sparse.csr_matrix((inter[keep], (ci[keep], ai[keep])), shape=(grid.n_cells, polys.size))
    return m, shapely.area(polys)


def area_features(areas: pd.DataFrame, grid: Grid, periods: Periods | None = None, first: int = 0,
                  n_periods: int = 0, *, extensive: tuple[str, ...] = ()) -> tuple[np.ndarray, list[str],
                                                                                   np.ndarray, list[str]]:
    """Area-weighted interpolation of area layers to cells (geopandas-overlay equivalent).

    Intensive layers (densities, rates, modelled volumes: the default) give the mean of the
    overlapping polygons weighted by overlap area; layers named in ``extensive`` (counts such as
    population) give ``sum(value * overlap / polygon area)``. Cells no polygon touches get 0.

    Returns
    -------
    static : ndarray (n_cells, n_static_layers); static_names : list of str
    dynamic : ndarray (n_cells, n_periods, n_hourly_layers); dynamic_names : list of str
        Layers with ``hour_of_week`` values, averaged over each period's hours of the week.
    """
    require_columns(areas, AREA_FRAME, "areas")
    static, s_names, dyn, d_names = [], [], [], []
    for layer, a in areas.groupby("layer", sort=True):  # loops over layers, not rows
        ids, inv = np.unique(a["area_id"].astype(str).to_numpy(), return_inverse=True)
        wkt = a.groupby(inv)["polygon_wkt"].first().to_numpy()
        W, area = area_weights(wkt, grid)
        if layer in extensive:
            W = W @ sparse.diags(1.0 / np.maximum(area, 1e-9))
            den = np.ones(grid.n_cells)
        else:
            den = np.asarray(W.sum(axis=1)).ravel()
        how = a["hour_of_week"]
        name = f"area_{_category_slug(layer)}"
        if how.isna().all():
            v = np.zeros(ids.size)
            v[inv] = a["value"].to_numpy(float)
            num = W @ v
            static.append(np.where(den > 0, num / np.maximum(den, 1e-12), 0.0))
            s_names.append(name)
        else:
            if periods is None:
                raise ConfigError(f"area layer {layer!r} has hour_of_week values; pass periods to use it")
            V = np.zeros((ids.size, 168))
            h = how.fillna(-1).astype(int).to_numpy()
            V[inv[h >= 0], h[h >= 0]] = a["value"].to_numpy(float)[h >= 0]
            cell_how = (W @ V) / np.maximum(den, 1e-12)[:, None]  # (cells, 168)
            C = np.concatenate([np.zeros((grid.n_cells, 1)), np.cumsum(np.tile(cell_how, 2), axis=1)], axis=1)
            starts = periods.start(first + np.arange(n_periods))
            h0 = ((starts.as_unit("ns").asi8 - _MONDAY) // _NS_HOUR) % 168
            P = int(min(168, max(1, periods.length / pd.Timedelta(hours=1))))
            dyn.append((C[:, h0 + P] - C[:, h0]) / P)
            d_names.append(name)
    st = np.column_stack(static).astype(np.float32) if static else np.zeros((grid.n_cells, 0), np.float32)
    dy = np.stack(dyn, axis=2).astype(np.float32) if dyn else np.zeros((grid.n_cells, n_periods, 0), np.float32)
    return st, s_names, dy, d_names


# -------------------------------------------------------------------------------- compose
def build_context(grid: Grid, periods: Periods, first: int, n_periods: int, *, tz: str = "UTC",
                  cameras: pd.DataFrame | None = None, counts: pd.DataFrame | None = None,
                  places: pd.DataFrame | None = None, areas: pd.DataFrame | None = None,
                  place_bandwidth_m: float = 200.0, extensive: tuple[str, ...] = (),
                  **activity_options) -> ContextFeatures:
    """All context features of one grid and period range (any input may be omitted).

    Examples
    --------
    >>> from forecasting.grid import Grid
    >>> g = Grid(crs="EPSG:32631", cell_size=100, col=np.array([6500]), row=np.array([57720]))
    >>> cf = build_context(g, Periods("week"), 0, 3)
    >>> cf.names
    []
    """
    s_blocks, s_names, d_blocks, d_names = [], [], [], []
    if cameras is not None and len(cameras):
        s_blocks.append(camera_distance(cameras, grid)[:, None])
        s_names.append("cam_distance_km")
        if counts is not None:
            X, names = activity_features(counts, cameras, grid, periods, first, n_periods, tz=tz, **activity_options)
            d_blocks.append(X)
            d_names += names
    if places is not None and len(places):
        X, names = place_features(places, grid, bandwidth_m=place_bandwidth_m)
        s_blocks.append(X)
        s_names += names
    if areas is not None and len(areas):
        st, sn, dy, dn = area_features(areas, grid, periods, first, n_periods, extensive=extensive)
        s_blocks.append(st)
        s_names += sn
        d_blocks.append(dy)
        d_names += dn
    static = np.concatenate(s_blocks, axis=1).astype(np.float32) if s_blocks else \
        np.zeros((grid.n_cells, 0), np.float32)
    dynamic = np.concatenate(d_blocks, axis=2).astype(np.float32) if d_blocks else \
        np.zeros((grid.n_cells, n_periods, 0), np.float32)
    return ContextFeatures(static, s_names, dynamic, d_names, int(first), {"tz": tz})


__all__ = [
    "ContextFeatures", "activity_features", "area_features", "area_weights", "build_context",
    "camera_distance", "camera_views", "coverage", "place_features",
]
