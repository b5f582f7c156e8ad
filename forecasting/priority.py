"""Camera monitoring priority, coverage gaps and camera siting.

Which camera feeds should a control room watch during the next shift, and where would a new
(or mobile) camera add the most? Both questions are *maximum coverage* problems over the cell
risk map: a camera covers a set of cells, and the value of a set of cameras is the risk of the
*union* of the cells they cover, so two cameras watching the same street are not counted twice.

Coverage by area (the default of the jobs): a camera covers the *part* of each cell inside its
view polygon, and the expected incidents in view are ``sum over cells of risk x covered share``
(risk spread evenly within a cell). Overlapping views must not count the same ground twice, so
each cell is cut into the *atoms* of the overlay of the views that reach it: every atom is seen by
a known set of cameras and weighs ``cell risk x atom area / cell area``. Maximum coverage over
cameras x atoms is then exact (the union of the chosen views, cell by cell) and still submodular,
so the same greedy applies. A camera site without a view polygon sees a circle of
:data:`VIEW_RADIUS_M` metres (:func:`site_views`).

The greedy algorithm (repeatedly add the camera with the largest marginal covered risk) reaches
at least ``1 - 1/e`` (about 63%) of the best possible covered risk for any k, because covered
risk is monotone and submodular (Nemhauser, Wolsey & Fisher 1978). Each greedy run also reports a
data-dependent upper bound on the optimum (``f(S_i) + sum of the k largest marginal gains`` at
every step ``i``), which usually certifies a far better ratio than 63%.

Frame contracts
---------------
cells
    GeoDataFrame with ``cell_id`` (str) and polygon ``geometry`` (any CRS; usually EPSG:4326).
views
    GeoDataFrame with ``camera_id`` (str) and view-polygon ``geometry``, in the cells' CRS.
forecasts (long)
    DataFrame with ``cell_id``, ``category`` (``"all"`` or a category) and ``expected_count``.
risk
    Series indexed by ``cell_id`` (missing cells count as zero risk), or an array aligned with
    :attr:`Coverage.cell_ids`.

Layer 3: imports ``errors``, ``schema``, ``grid`` plus numpy, pandas, scipy, shapely, geopandas.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.spatial import cKDTree

from forecasting.errors import ConfigError, CRSError, InputError, check_positive
from forecasting.grid import check_metric_crs, utm_crs
from forecasting.schema import ALL_CATEGORIES, require_columns

#: How a view covers a cell: the part of the cell inside the view (``area``), all of the cell when its
#: centroid lies in the view (``centroid``), or all of it when the view overlaps its interior (``intersects``).
COVERAGE_RULES = ("area", "centroid", "intersects")

#: View radius, metres, of a camera site that has no view polygon (e.g. a station taken as a camera site):
#: an assumption, stated wherever it is used.
VIEW_RADIUS_M = 150.0

#: Greedy guarantee for maximum coverage: greedy value >= (1 - 1/e) * optimum.
GREEDY_BOUND = 1.0 - 1.0 / np.e


@dataclass(frozen=True)
class Coverage:
    """Which cells each camera (or candidate site) covers.

    Attributes
    ----------
    matrix : scipy.sparse.csr_array
        ``(n_sets, n_cells)`` matrix of 0/1 floats; row ``i`` is camera ``set_ids[i]``.
    set_ids : ndarray of str
        Camera ids (or candidate site ids), in the order of the views given.
    cell_ids : ndarray of str
        Cell ids, in the order of the cells given.

    Examples
    --------
    >>> cov = Coverage(sparse.csr_array(np.array([[1.0, 0.0], [1.0, 1.0]])),
    ...                np.array(["c1", "c2"]), np.array(["a", "b"]))
    >>> cov.covered().tolist()
    [True, True]
    >>> cov.covered(["c1"]).tolist()
    [True, False]
    """

    matrix: sparse.csr_array
    set_ids: np.ndarray
    cell_ids: np.ndarray
    atom_cell: np.ndarray | None = None
    atom_share: np.ndarray | None = None

    @property
    def n_sets(self) -> int:
        """Number of cameras (or candidate sites)."""
        return int(self.matrix.shape[0])

    @property
    def n_cells(self) -> int:
        """Number of cells."""
        return int(len(self.cell_ids))

    @property
    def by_area(self) -> bool:
        """True when columns are atoms (pieces of cells, coverage by area), False when they are cells."""
        return self.atom_cell is not None

    def atom_weights(self, cell_values: np.ndarray) -> np.ndarray:
        """Per-column weights from per-cell values: ``value of the atom's cell x atom share`` (cells: as is)."""
        if not self.by_area:
            return cell_values
        v = np.asarray(cell_values, dtype=float)[self.atom_cell]
        return v * (self.atom_share if v.ndim == 1 else self.atom_share[:, None])

    def to_cells(self, columns: np.ndarray) -> np.ndarray:
        """Cell positions of column positions (atoms -> their cells, unique and sorted)."""
        columns = np.asarray(columns, dtype=np.int64)
        return np.unique(self.atom_cell[columns]) if self.by_area else columns

    def covered_share(self, ids: Sequence[str] | None = None) -> np.ndarray:
        """Share of each cell's area seen by any of the cameras ``ids`` (default: every camera)."""
        m = self.matrix if ids is None else self.matrix[self.positions(ids)]
        seen = (np.asarray(m.sum(axis=0)).ravel() > 0).astype(float)
        if not self.by_area:
            return seen
        return np.bincount(self.atom_cell, weights=seen * self.atom_share, minlength=self.n_cells)

    def positions(self, ids: Sequence[str]) -> np.ndarray:
        """Row positions of camera ids; unknown ids raise :class:`InputError`."""
        index = pd.Index(self.set_ids)
        pos = index.get_indexer(pd.Index(np.asarray(ids, dtype=object)))
        if (pos < 0).any():
            unknown = np.asarray(ids, dtype=object)[pos < 0].tolist()
            raise InputError(f"camera ids must be among the {self.n_sets} cameras of the coverage; "
                             f"got unknown {unknown[:5]}")
        return pos

    def covered(self, ids: Sequence[str] | None = None) -> np.ndarray:
        """Boolean mask of cells seen (in part, by area) by any of the cameras ``ids`` (default: every camera)."""
        return self.covered_share(ids) > 0

    def cells_per_set(self) -> np.ndarray:
        """Number of cells each camera covers (in part, by area)."""
        if not self.by_area:
            return np.diff(self.matrix.indptr).astype(np.int64)
        coo = self.matrix.tocoo()
        pairs = np.unique(np.column_stack([coo.row, self.atom_cell[coo.col]]), axis=0)
        return np.bincount(pairs[:, 0], minlength=self.n_sets).astype(np.int64) if len(pairs) else \
            np.zeros(self.n_sets, dtype=np.int64)

    def in_view(self, camera_id: str, cell_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cells one camera covers and, for each, ``value x share of the cell in its view``."""
        i = int(self.positions([camera_id])[0])
        cols = self.matrix.indices[self.matrix.indptr[i]:self.matrix.indptr[i + 1]]
        if not self.by_area:
            return cols, np.asarray(cell_values, dtype=float)[cols]
        cells, inv = np.unique(self.atom_cell[cols], return_inverse=True)
        return cells, np.bincount(inv, weights=self.atom_weights(cell_values)[cols], minlength=len(cells))


# ---------------------------------------------------------------------------- helpers
def check_k(name: str, k) -> int:
    """``k`` as an int when it is a positive integer (not a bool), else :class:`ConfigError` naming ``name``.

    Examples
    --------
    >>> check_k("k", 3)
    3
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ConfigError(f"{name} must be a positive integer; got {k!r}")
    return int(k)


def _check_same_crs(cells, views, what: str = "views") -> None:
    if cells.crs is None or views.crs is None:
        raise CRSError(f"cells and {what} must both carry a CRS; got cells crs={cells.crs} and "
                       f"{what} crs={views.crs}. Set it with .set_crs('EPSG:4326')")
    if cells.crs != views.crs:
        raise CRSError(f"cells and {what} must be in the same CRS; got cells {cells.crs.to_string()} "
                       f"and {what} {views.crs.to_string()}. Transform one with .to_crs(...)")


def _geometries(frame, what: str) -> np.ndarray:
    geoms = np.asarray(frame.geometry.values, dtype=object)
    bad = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if bad.any():
        raise InputError(f"{what} geometry must not be missing or empty; got {int(bad.sum())} such row(s)")
    return geoms


def _align_risk(risk, coverage: Coverage) -> np.ndarray:
    """Risk as a float array aligned with ``coverage.cell_ids`` (missing cells are zero)."""
    if isinstance(risk, pd.DataFrame):
        if "risk" not in risk.columns:
            raise InputError(f"risk frame must have a 'risk' column; got columns {list(risk.columns)}")
        risk = risk["risk"]
    if isinstance(risk, pd.Series):
        values = risk.reindex(pd.Index(coverage.cell_ids)).fillna(0.0).to_numpy(dtype=float)
    else:
        values = np.asarray(risk, dtype=float)
        if values.shape != (coverage.n_cells,):
            raise InputError(f"risk must have one value per cell ({coverage.n_cells}); got shape {values.shape}")
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"risk must be finite and non-negative; got {float(values[i])!r} at cell "
                         f"{coverage.cell_ids[i]!r}")
    return values


def _greedy(matrix: sparse.csr_array, weights: np.ndarray, k: int,
            seen: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], float]:
    """Greedy maximum coverage: chosen rows, marginal gains, new cells per step, upper bound on OPT.

    Ties in marginal gain go to the larger stand-alone value, then to the earlier row. Values equal
    to 10 significant digits tie: sums over atoms differ in the last bits with their order.
    """
    n = matrix.shape[0]
    w = weights.astype(float).copy()
    covered = np.zeros(matrix.shape[1], dtype=bool) if seen is None else seen.copy()
    w[covered] = 0.0
    standalone = matrix @ w
    scale = float(np.abs(standalone).max()) if n else 1.0
    scale = scale if scale > 0 else 1.0
    alone_key = np.round(standalone / scale, 10)
    available = np.ones(n, dtype=bool)
    chosen, gains, new_cells = [], [], []
    value, bound = 0.0, np.inf
    for _ in range(min(k, n)):  # one sparse mat-vec per greedy step
        g = matrix @ w
        g_av = np.where(available, g, -np.inf)
        top = np.sort(g[available])[-k:]
        bound = min(bound, value + float(top.clip(min=0).sum()))
        j = int(np.lexsort((np.arange(n), -alone_key, -np.round(g_av / scale, 10)))[0])
        cells = matrix.indices[matrix.indptr[j]:matrix.indptr[j + 1]]
        fresh = cells[~covered[cells]]
        chosen.append(j)
        gains.append(float(g[j]))
        new_cells.append(fresh)
        value += float(g[j])
        covered[cells] = True
        w[cells] = 0.0
        available[j] = False
    if available.any():
        g = matrix @ w
        bound = min(bound, value + float(np.sort(g[available])[-k:].clip(min=0).sum()))
    else:
        bound = min(bound, value)
    return np.array(chosen, dtype=np.int64), np.array(gains), new_cells, bound


# --------------------------------------------------------------------------- coverage
def coverage_matrix(cells, views, rule: str = "centroid") -> Coverage:
    """Sparse cameras x cells coverage from cell polygons and camera view polygons.

    Parameters
    ----------
    cells : GeoDataFrame
        ``cell_id`` and cell polygons.
    views : GeoDataFrame
        ``camera_id`` and view polygons, in the cells' CRS.
    rule : {"centroid", "intersects", "area"}, default "centroid"
        ``"centroid"``: a camera covers a cell when the cell's centroid lies inside the view
        (a view smaller than a cell may then cover nothing). ``"intersects"``: when the view
        overlaps the cell's interior (a camera may then cover several partly seen cells).
        ``"area"``: a camera covers the part of each cell inside its view; columns are then the
        atoms of the overlay of the views within each cell (see the module notes), so risk in
        view is ``sum of cell risk x covered share`` with overlaps counted once. Area shares are
        taken in the frames' CRS (in degrees they are exact to well under 1 % for city cells).

    Returns
    -------
    Coverage

    Raises
    ------
    CRSError
        When the two frames lack a CRS or differ in CRS.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> cells = gpd.GeoDataFrame({"cell_id": ["a", "b"]}, geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)],
    ...                          crs="EPSG:3857")
    >>> views = gpd.GeoDataFrame({"camera_id": ["c1"]}, geometry=[box(0.2, 0.2, 0.8, 0.8)], crs="EPSG:3857")
    >>> coverage_matrix(cells, views).matrix.toarray().tolist()
    [[1.0, 0.0]]
    """
    if rule not in COVERAGE_RULES:
        raise ConfigError(f"rule must be one of {list(COVERAGE_RULES)}; got {rule!r}")
    require_columns(cells, ["cell_id", "geometry"], "cells")
    require_columns(views, ["camera_id", "geometry"], "views")
    _check_same_crs(cells, views)
    cell_geoms = _geometries(cells, "cells")
    view_geoms = _geometries(views, "views")
    if rule == "area":
        return _area_coverage(cell_geoms, shapely.make_valid(view_geoms), _ids(views["camera_id"]),
                              _ids(cells["cell_id"]))
    if rule == "centroid":
        tree = shapely.STRtree(shapely.centroid(cell_geoms))
        pairs = tree.query(view_geoms, predicate="contains")
    else:
        tree = shapely.STRtree(cell_geoms)
        pairs = tree.query(view_geoms, predicate="intersects")
        # Views that only touch a cell's edge do not see into it.
        inter = shapely.area(shapely.intersection(view_geoms[pairs[0]], cell_geoms[pairs[1]]))
        pairs = pairs[:, inter > 0]
    matrix = sparse.csr_array((np.ones(pairs.shape[1]), (pairs[0], pairs[1])),
                              shape=(len(view_geoms), len(cell_geoms)))
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return Coverage(matrix, _ids(views["camera_id"]), _ids(cells["cell_id"]))


def _area_coverage(cell_geoms: np.ndarray, view_geoms: np.ndarray, set_ids: np.ndarray,
                   cell_ids: np.ndarray) -> Coverage:
    """Cameras x atoms coverage: the overlay of the views' pieces within each cell."""
    cell_area = shapely.area(cell_geoms)
    vi, ci = shapely.STRtree(cell_geoms).query(view_geoms, predicate="intersects")
    pieces = shapely.intersection(view_geoms[vi], cell_geoms[ci])
    # Keep the polygonal parts (an intersection may add the shared edge as a line).
    parts, owner = shapely.get_parts(pieces, return_index=True)
    poly = (shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 1e-9 * cell_area[ci[owner]])
    parts, vi, ci = parts[poly], vi[owner[poly]], ci[owner[poly]]
    n_sets = len(view_geoms)
    if len(parts) == 0:
        return Coverage(sparse.csr_array((n_sets, 0)), set_ids, cell_ids, np.zeros(0, dtype=np.int64),
                        np.zeros(0))
    # Atoms: the faces of all pieces' noded boundaries; each lies inside one cell. A face inside
    # no piece (ground enclosed by views but seen by none) is dropped.
    lines = shapely.union_all(shapely.boundary(parts))
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(lines)))
    faces = faces[shapely.area(faces) > 0]
    inside = shapely.point_on_surface(faces)
    fi, pi = shapely.STRtree(parts).query(inside, predicate="within")
    atoms, atom_of = np.unique(fi, return_inverse=True)
    atom_cell = np.zeros(len(atoms), dtype=np.int64)
    atom_cell[atom_of] = ci[pi]
    share = shapely.area(faces[atoms]) / cell_area[atom_cell]
    matrix = sparse.csr_array((np.ones(len(fi)), (vi[pi], atom_of)), shape=(n_sets, len(atoms)))
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return Coverage(matrix, set_ids, cell_ids, atom_cell, share)


def site_views(sites: pd.DataFrame, radius_m: float = VIEW_RADIUS_M, *, view_col: str = "geometry",
               n_arc: int = 32):
    """Camera views in WGS84, a circle of ``radius_m`` around each site that has no view polygon.

    Parameters
    ----------
    sites : DataFrame or GeoDataFrame
        ``camera_id``, ``longitude``, ``latitude`` (WGS84) and optionally view polygons in
        ``view_col`` (missing or empty ones are replaced).
    radius_m : float, default :data:`VIEW_RADIUS_M`
    n_arc : int, default 32
        Vertices of each circle.

    Returns
    -------
    GeoDataFrame
        ``sites`` with polygon ``geometry`` (EPSG:4326) and ``view_assumed`` (True for circles).

    Examples
    --------
    >>> v = site_views(pd.DataFrame({"camera_id": ["s1"], "longitude": [-87.63], "latitude": [41.88]}))
    >>> bool(v["view_assumed"].iloc[0]), round(float(v.to_crs("EPSG:26916").area.iloc[0]) / 1e4, 1)
    (True, 7.0)
    """
    import geopandas as gpd
    from pyproj import Geod

    check_positive("radius_m", radius_m, "metres")
    require_columns(sites, ["camera_id", "longitude", "latitude"], "sites")
    n = len(sites)
    have = np.asarray(sites[view_col].values, dtype=object) if view_col in sites else np.full(n, None, dtype=object)
    missing = shapely.is_missing(have) | shapely.is_empty(have)
    lon = sites["longitude"].to_numpy(float)[missing]
    lat = sites["latitude"].to_numpy(float)[missing]
    az = np.linspace(0.0, 360.0, n_arc, endpoint=False)
    m = int(missing.sum())
    alon, alat, _ = Geod(ellps="WGS84").fwd(np.repeat(lon, n_arc), np.repeat(lat, n_arc), np.tile(az, m),
                                            np.full(m * n_arc, float(radius_m)))
    rings = np.stack([alon.reshape(m, n_arc), alat.reshape(m, n_arc)], axis=-1)
    have = have.copy()
    have[missing] = shapely.polygons(rings) if m else []
    frame = pd.DataFrame(sites).drop(columns=[view_col], errors="ignore")
    return gpd.GeoDataFrame(frame.assign(view_assumed=missing), geometry=have, crs="EPSG:4326")


def _ids(values) -> np.ndarray:
    """Ids as an object array of str."""
    return np.asarray(pd.Series(values).astype(str), dtype=object)


def cell_risk(forecasts: pd.DataFrame, weights: Mapping[str, float] | None = None,
              default_weight: float = 1.0) -> pd.DataFrame:
    """Expected incidents per cell by category, and a severity-weighted ``risk``.

    Parameters
    ----------
    forecasts : DataFrame
        Long frame: ``cell_id``, ``category`` and ``expected_count`` (one forecast run per category
        for the same period).
    weights : mapping of str to float, optional
        Severity weight per category. Unlisted categories get ``default_weight``.
    default_weight : float, default 1.0

    Returns
    -------
    DataFrame
        Indexed by ``cell_id``: one column of expected incidents per category, and ``risk``.
        ``risk = sum_c w_c E_c``; when ``"all"`` is present together with categories, its
        remainder ``max(E_all - sum_c E_c, 0)`` (incidents of no forecast category) is added with
        weight ``w_all`` (default ``default_weight``), so nothing is counted twice.

    Examples
    --------
    >>> f = pd.DataFrame({"cell_id": ["a", "a", "a"], "category": ["all", "violent", "theft"],
    ...                   "expected_count": [1.0, 0.2, 0.5]})
    >>> round(float(cell_risk(f, {"violent": 3.0})["risk"].iloc[0]), 6)
    1.4
    """
    require_columns(forecasts, ["cell_id", "category", "expected_count"], "forecasts")
    weights = dict(weights or {})
    for cat, w in weights.items():
        try:
            ok = np.isfinite(w) and w >= 0
        except TypeError:
            ok = False
        if not ok:
            raise ConfigError(f"severity weight of {cat!r} must be a non-negative number; got {w!r}")
    wide = forecasts.pivot_table(index="cell_id", columns="category", values="expected_count",
                                 aggfunc="sum", fill_value=0.0)
    wide.columns = [str(c) for c in wide.columns]
    wide.index = wide.index.astype(str)
    specific = [c for c in wide.columns if c != ALL_CATEGORIES]
    w = np.array([weights.get(c, default_weight) for c in specific], dtype=float)
    risk = wide[specific].to_numpy(float) @ w if specific else np.zeros(len(wide))
    if ALL_CATEGORIES in wide.columns:
        rest = wide[ALL_CATEGORIES].to_numpy(float)
        if specific:
            rest = (rest - wide[specific].to_numpy(float).sum(axis=1)).clip(min=0)
        risk = risk + weights.get(ALL_CATEGORIES, default_weight) * rest
    out = wide.copy()
    out["risk"] = risk
    out.columns.name = None
    return out


def camera_risk(coverage: Coverage, risk) -> pd.DataFrame:
    """Expected incidents inside each camera's view (each camera on its own).

    Parameters
    ----------
    coverage : Coverage
    risk : DataFrame, Series or ndarray
        A :func:`cell_risk` frame (every column is summed: categories and ``risk``), a Series
        indexed by ``cell_id``, or an array aligned with ``coverage.cell_ids``.

    Returns
    -------
    DataFrame
        ``camera_id``, ``n_cells``, one column per category when given, ``risk``; cameras in
        coverage order.

    Examples
    --------
    >>> cov = Coverage(sparse.csr_array(np.array([[1.0, 1.0], [0.0, 1.0]])),
    ...                np.array(["c1", "c2"]), np.array(["a", "b"]))
    >>> camera_risk(cov, pd.Series({"a": 0.5, "b": 0.25}))["risk"].tolist()
    [0.75, 0.25]
    """
    out = pd.DataFrame({"camera_id": coverage.set_ids, "n_cells": coverage.cells_per_set()})
    if isinstance(risk, pd.DataFrame):
        frame = risk.reindex(pd.Index(coverage.cell_ids)).fillna(0.0)
        _align_risk(frame, coverage)
        sums = coverage.matrix @ coverage.atom_weights(frame.to_numpy(float))
        for j, col in enumerate(frame.columns):
            out[col] = sums[:, j]
    else:
        out["risk"] = coverage.matrix @ coverage.atom_weights(_align_risk(risk, coverage))
    return out


def choose_cameras(coverage: Coverage, risk, k: int) -> pd.DataFrame:
    """Greedily choose ``k`` cameras to watch by marginal covered risk.

    A cell seen by a higher-ranked camera adds nothing to a lower-ranked one, so overlapping
    views are not counted twice. Greedy reaches at least ``1 - 1/e`` of the best k-set.

    Parameters
    ----------
    coverage : Coverage
    risk : Series, DataFrame or ndarray
        Cell risk (see :func:`camera_risk`; of a frame only ``risk`` is used).
    k : int
        Operator capacity: feeds that can be watched at once. When larger than the number of
        cameras, every camera is ranked.

    Returns
    -------
    DataFrame
        One row per chosen camera, best first: ``rank``, ``camera_id``, ``marginal_risk`` (risk
        not seen by higher ranks), ``standalone_risk``, ``overlap_risk`` (already seen),
        ``cumulative_risk``, ``cumulative_share`` (of all cells' risk), ``n_cells``,
        ``new_cell_ids`` (list). ``attrs`` holds ``total_risk`` and ``upper_bound`` (no k cameras
        can see more than this).

    Examples
    --------
    >>> cov = Coverage(sparse.csr_array(np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 1.0]])),
    ...                np.array(["c1", "c2", "c3"]), np.array(["a", "b", "c"]))
    >>> choice = choose_cameras(cov, pd.Series({"a": 2.0, "b": 1.0, "c": 0.5}), k=2)
    >>> choice[["camera_id", "marginal_risk"]].values.tolist()
    [['c2', 3.5], ['c1', 0.0]]
    """
    k = check_k("k", k)
    if coverage.n_sets == 0:
        raise InputError("there are no cameras to choose from; got an empty coverage")
    w_cells = _align_risk(risk, coverage)
    w = coverage.atom_weights(w_cells)
    chosen, gains, fresh, bound = _greedy(coverage.matrix, w, k)
    standalone = (coverage.matrix @ w)[chosen]
    total = float(w_cells.sum())
    cum = np.cumsum(gains)
    out = pd.DataFrame({
        "rank": np.arange(1, len(chosen) + 1),
        "camera_id": coverage.set_ids[chosen],
        "marginal_risk": gains,
        "standalone_risk": standalone,
        "overlap_risk": (standalone - gains).clip(min=0),
        "cumulative_risk": cum,
        "cumulative_share": cum / total if total > 0 else np.zeros(len(chosen)),
        "n_cells": coverage.cells_per_set()[chosen],
        "new_cell_ids": [coverage.cell_ids[coverage.to_cells(c)].tolist() for c in fresh],
    })
    out.attrs.update(total_risk=total, upper_bound=float(bound))
    return out


def explain_choice(choice: pd.DataFrame, coverage: Coverage, risk, reasons: pd.Series | None = None,
                   top: int = 3, unit: str = "expected incidents") -> pd.DataFrame:
    """Add ``top_cells`` (list of dicts) and a planner-readable ``explanation`` to each rank.

    Parameters
    ----------
    choice : DataFrame
        Output of :func:`choose_cameras`.
    coverage : Coverage
    risk : Series, DataFrame or ndarray
        The cell risk the choice was made on.
    reasons : Series, optional
        Cell id -> list of reason sentences (the forecast's ``reasons``).
    top : int, default 3
        Cells named per camera: the highest-risk cells it newly covers (or, when it adds
        nothing new, the highest-risk cells it sees).
    unit : str
        How the risk is phrased.

    Returns
    -------
    DataFrame
        ``choice`` with ``top_cells`` and ``explanation`` columns.

    Examples
    --------
    >>> cov = Coverage(sparse.csr_array(np.array([[1.0, 1.0]])), np.array(["c1"]), np.array(["a", "b"]))
    >>> r = pd.Series({"a": 0.6, "b": 0.2})
    >>> ex = explain_choice(choose_cameras(cov, r, 1), cov, r, pd.Series({"a": ["busy night-time economy"]}))
    >>> ex["explanation"].iloc[0]
    '#1 c1: 0.80 expected incidents in view, all new. Main cells: a (0.60; busy night-time economy), b (0.20).'
    """
    top = check_k("top", top)
    w = _align_risk(risk, coverage)
    rs = reasons if reasons is not None else pd.Series(dtype=object)
    rs = rs.copy()
    rs.index = rs.index.astype(str)
    tops, texts = [], []
    for row in choice.itertuples(index=False):  # one explanation per chosen camera (k rows)
        seen, in_view = coverage.in_view(row.camera_id, w)  # risk of each cell inside this view
        fresh = np.isin(seen, pd.Index(coverage.cell_ids).get_indexer(pd.Index(row.new_cell_ids, dtype=object)))
        pick = fresh if fresh.any() and in_view[fresh].sum() > 0 else np.ones(len(seen), dtype=bool)
        pool, vals = seen[pick], in_view[pick]
        order = np.argsort(-vals, kind="stable")[:top]
        cells = [{"cell_id": str(coverage.cell_ids[c]), "risk": float(v),
                  "reasons": list(rs.get(str(coverage.cell_ids[c]), None) or [])}
                 for c, v in zip(pool[order], vals[order], strict=True)]
        tops.append(cells)
        if row.standalone_risk <= 0:
            head = f"#{row.rank} {row.camera_id}: no forecast risk in view"
        elif row.overlap_risk <= 1e-12:
            head = f"#{row.rank} {row.camera_id}: {row.standalone_risk:.2f} {unit} in view, all new"
        else:
            head = (f"#{row.rank} {row.camera_id}: {row.standalone_risk:.2f} {unit} in view, "
                    f"{row.marginal_risk:.2f} not seen by higher-ranked cameras")
        named = ", ".join(
            f"{c['cell_id']} ({c['risk']:.2f}" + (f"; {'; '.join(c['reasons'][:2])})" if c["reasons"] else ")")
            for c in cells if c["risk"] > 0)
        texts.append(f"{head}. Main cells: {named}." if named else f"{head}.")
    out = choice.copy()
    out["top_cells"] = tops
    out["explanation"] = texts
    return out


# ------------------------------------------------------------------------ gaps and siting
def coverage_gaps(coverage: Coverage, risk, top: int = 20, reasons: pd.Series | None = None) -> pd.DataFrame:
    """High-risk cells that no camera sees.

    Parameters
    ----------
    coverage : Coverage
        Coverage of the cameras in service.
    risk : Series, DataFrame or ndarray
    top : int, default 20
        Look at the ``top`` highest-risk cells; report those no camera covers.
    reasons : Series, optional
        Cell id -> list of reason sentences.

    Returns
    -------
    DataFrame
        ``cell_id``, ``risk``, ``risk_rank`` (1 = highest-risk cell overall), ``reasons``; sorted by
        risk. ``attrs["unseen_share"]`` is the share of the top cells' risk that no camera sees.

    Examples
    --------
    >>> cov = Coverage(sparse.csr_array(np.array([[1.0, 0.0, 0.0]])), np.array(["c1"]), np.array(["a", "b", "c"]))
    >>> coverage_gaps(cov, pd.Series({"a": 3.0, "b": 2.0, "c": 1.0}), top=2)["cell_id"].tolist()
    ['b']
    """
    top = check_k("top", top)
    w = _align_risk(risk, coverage)
    order = np.argsort(-w, kind="stable")[:top]
    order = order[w[order] > 0]
    seen = coverage.covered() if coverage.n_sets else np.zeros(coverage.n_cells, dtype=bool)
    gaps = order[~seen[order]]
    rank = np.empty(len(w), dtype=np.int64)
    rank[np.argsort(-w, kind="stable")] = np.arange(1, len(w) + 1)
    rs = reasons if reasons is not None else pd.Series(dtype=object)
    ids = coverage.cell_ids[gaps]
    out = pd.DataFrame({"cell_id": ids, "risk": w[gaps], "risk_rank": rank[gaps],
                        "reasons": [list(rs.get(i, None) or []) for i in ids]})
    denom = float(w[order].sum())
    out.attrs["unseen_share"] = float(w[gaps].sum()) / denom if denom > 0 else 0.0
    return out


@dataclass
class Siting:
    """Suggested camera sites (see :func:`site_cameras`).

    Attributes
    ----------
    sites : GeoDataFrame
        ``rank``, ``site_id`` (the candidate cell's id), ``longitude``, ``latitude``,
        ``added_risk``, ``cumulative_risk``, ``n_new_cells``, ``new_cell_ids``; geometry = the
        view circle (EPSG:4326).
    unseen_risk : float
        Risk of all cells that no existing camera sees (what new sites could add at most).
    upper_bound : float
        No ``budget`` sites can add more risk than this (data-dependent bound).
    guarantee : float
        ``added / upper_bound``: a certified fraction of the optimum (at least 1 - 1/e).
    """

    sites: object
    unseen_risk: float
    upper_bound: float
    guarantee: float

    def summary(self) -> dict:
        """JSON-serialisable summary."""
        added = float(self.sites["added_risk"].sum()) if len(self.sites) else 0.0
        return {"added_risk": added, "unseen_risk": self.unseen_risk, "upper_bound": self.upper_bound,
                "guarantee": self.guarantee, "greedy_bound": GREEDY_BOUND}


def candidate_coverage(cells, radius_m: float, *, crs=None) -> tuple[Coverage, np.ndarray, np.ndarray]:
    """Coverage of candidate sites at every cell centroid, each seeing a circle of ``radius_m``.

    A candidate covers the cells whose centroids lie within ``radius_m`` (centroid rule, like
    :func:`coverage_matrix`). Distances are measured in ``crs`` (default: the UTM zone of the
    cells), with a KD-tree.

    Returns
    -------
    coverage : Coverage
        ``set_ids`` are the candidate cells' ids.
    longitude, latitude : ndarray
        WGS84 position of each candidate.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> cells = gpd.GeoDataFrame({"cell_id": ["a", "b", "c"]},
    ...     geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100), box(400, 0, 500, 100)], crs="EPSG:32610")
    >>> cov, _, _ = candidate_coverage(cells, 120)
    >>> cov.matrix.toarray().astype(int).tolist()
    [[1, 1, 0], [1, 1, 0], [0, 0, 1]]
    """
    check_positive("radius_m", radius_m, "metres")
    require_columns(cells, ["cell_id", "geometry"], "cells")
    if cells.crs is None:
        raise CRSError("cells must carry a CRS; got crs=None. Set it with .set_crs('EPSG:4326')")
    cent = shapely.centroid(_geometries(cells, "cells"))
    import geopandas as gpd

    pts = gpd.GeoSeries(cent, crs=cells.crs)
    ll = pts.to_crs("EPSG:4326")
    lon, lat = shapely.get_x(ll.values), shapely.get_y(ll.values)
    metric = check_metric_crs(crs) if crs is not None else utm_crs(lon, lat)
    xy = pts.to_crs(metric)
    xy = np.column_stack([shapely.get_x(xy.values), shapely.get_y(xy.values)])
    tree = cKDTree(xy)
    d = tree.sparse_distance_matrix(tree, radius_m, output_type="coo_matrix")
    n = len(xy)
    # sparse_distance_matrix drops zero distances (the candidate's own cell): add the diagonal.
    rows = np.concatenate([d.row, np.arange(n)])
    cols = np.concatenate([d.col, np.arange(n)])
    m = sparse.csr_array((np.ones(rows.size), (rows, cols)), shape=(n, n))
    m.sum_duplicates()
    m.data[:] = 1.0
    ids = _ids(cells["cell_id"])
    return Coverage(m, ids, ids), lon, lat


def site_cameras(cells, risk, budget: int, radius_m: float = 100.0, *, existing: Coverage | None = None,
                 crs=None) -> Siting:
    """Suggest up to ``budget`` new (or mobile) camera sites by greedy maximal covering.

    Candidate sites are cell centroids; a site sees the cells whose centroids lie within
    ``radius_m``. Risk already seen by ``existing`` cameras counts for nothing, so sites go
    where the gaps are. Greedy adds, at each step, the site that sees the most still-unseen
    risk: at least ``1 - 1/e`` of the optimum (``Siting.guarantee`` certifies a usually
    much better ratio). Sites that would add no risk are not suggested.

    Parameters
    ----------
    cells : GeoDataFrame
        ``cell_id`` and polygons, with a CRS.
    risk : Series, DataFrame or ndarray
        Cell risk.
    budget : int
        Number of sites to suggest at most.
    radius_m : float, default 100
        Radius of a new camera's view, metres.
    existing : Coverage, optional
        Coverage of the cameras in service (same cells).
    crs : CRS-like, optional
        Metric CRS for distances (default: the UTM zone of the cells).

    Returns
    -------
    Siting

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> cells = gpd.GeoDataFrame({"cell_id": ["a", "b", "c"]},
    ...     geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100), box(400, 0, 500, 100)], crs="EPSG:32610")
    >>> s = site_cameras(cells, pd.Series({"a": 1.0, "b": 1.0, "c": 1.5}), budget=1, radius_m=120)
    >>> s.sites["site_id"].tolist(), float(s.sites["added_risk"].iloc[0])
    (['a'], 2.0)
    """
    budget = check_k("budget", budget)
    cand, lon, lat = candidate_coverage(cells, radius_m, crs=crs)
    w = _align_risk(risk, cand)
    seen = None
    if existing is not None:
        if not np.array_equal(existing.cell_ids, cand.cell_ids):
            raise InputError("existing coverage must be over the same cells, in the same order, as cells")
        seen = existing.covered() if existing.n_sets else None
    unseen = w if seen is None else np.where(seen, 0.0, w)
    chosen, gains, fresh, bound = _greedy(cand.matrix, w, budget, seen=seen)
    keep = gains > 0
    chosen, gains = chosen[keep], gains[keep]
    fresh = [f for f, k_ in zip(fresh, keep, strict=True) if k_]
    import geopandas as gpd

    metric = check_metric_crs(crs) if crs is not None else utm_crs(lon, lat)
    centres = gpd.GeoSeries(gpd.points_from_xy(lon[chosen], lat[chosen]), crs="EPSG:4326")
    circles = centres.to_crs(metric).buffer(radius_m, 32).to_crs("EPSG:4326")
    sites = gpd.GeoDataFrame({
        "rank": np.arange(1, len(chosen) + 1),
        "site_id": cand.set_ids[chosen],
        "longitude": lon[chosen], "latitude": lat[chosen],
        "added_risk": gains, "cumulative_risk": np.cumsum(gains),
        "n_new_cells": np.array([len(f) for f in fresh], dtype=np.int64),
        "new_cell_ids": [cand.cell_ids[f].tolist() for f in fresh],
    }, geometry=circles.values, crs="EPSG:4326")
    added = float(gains.sum())
    guarantee = 1.0 if bound <= 0 else min(1.0, added / bound)
    return Siting(sites, float(unseen.sum()), float(bound), guarantee)


# ------------------------------------------------------------------------------ context
def in_view_counts(points: pd.DataFrame, views) -> np.ndarray:
    """How many of ``points`` (``longitude``, ``latitude``) fall in each view (views' row order).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> v = gpd.GeoDataFrame({"camera_id": ["a", "b"]}, geometry=[box(0, 0, 1, 1), box(0, 0, 2, 2)],
    ...                      crs="EPSG:4326")
    >>> in_view_counts(pd.DataFrame({"longitude": [0.5, 1.5], "latitude": [0.5, 0.5]}), v).tolist()
    [1, 2]
    """
    require_columns(points, ["longitude", "latitude"], "points")
    out = np.zeros(len(views), dtype=np.int64)
    if len(points) == 0 or len(views) == 0:
        return out
    pts = shapely.points(points["longitude"].to_numpy(float), points["latitude"].to_numpy(float))
    _, hit = shapely.STRtree(_geometries(views, "views")).query(pts, predicate="within")
    return np.bincount(hit, minlength=len(views)).astype(np.int64)


def context_reasons(same_shift: np.ndarray, change: np.ndarray, *, unit: str = "incidents") -> list[str]:
    """Sentences on a camera's own history and activity, one per camera.

    Parameters
    ----------
    same_shift : ndarray of int
        Incidents in the camera's view in the same shift of the day over the past year.
    change : ndarray of float
        Relative change of people counted this week against the usual (NaN: no counts).

    Examples
    --------
    >>> a, b = context_reasons(np.array([3, 0]), np.array([0.4, np.nan]))
    >>> a.split("; ")[0]
    '3 incidents within view in this shift of the day over the past year'
    >>> a.split("; ")[1]
    'people counted here 40 % above usual this week'
    >>> b
    'no incident within view in this shift of the day over the past year'
    """
    out = []
    for n, c in zip(np.asarray(same_shift), np.asarray(change, dtype=float), strict=True):  # one per camera
        head = (f"{int(n)} {unit if n != 1 else unit.rstrip('s')} within view" if n else
                f"no {unit.rstrip('s')} within view") + " in this shift of the day over the past year"
        if np.isfinite(c) and abs(c) >= 0.05:
            head += f"; people counted here {abs(c):.0%} {'above' if c > 0 else 'below'} usual this week".replace(
                "%", " %")
        out.append(head)
    return out


# ----------------------------------------------------------------------------- evaluation
def busiest_cameras(activity: pd.DataFrame, k: int) -> list[str]:
    """The ``k`` cameras with most people counted (ties: the camera listed first).

    Parameters
    ----------
    activity : DataFrame
        ``camera_id`` and ``people`` (any number of rows per camera; summed).
    k : int

    Examples
    --------
    >>> busiest_cameras(pd.DataFrame({"camera_id": ["a", "b", "a"], "people": [5, 9, 6]}), 1)
    ['a']
    """
    k = check_k("k", k)
    require_columns(activity, ["camera_id", "people"], "activity")
    tot = activity.groupby("camera_id", sort=False)["people"].sum(min_count=1).dropna()
    return tot.sort_values(ascending=False, kind="stable").index[:k].astype(str).tolist()


def share_seen(points: pd.DataFrame, views, camera_ids: Sequence[str]) -> tuple[int, int]:
    """How many of ``points`` fall inside the union of the given cameras' views.

    Parameters
    ----------
    points : DataFrame
        ``longitude`` and ``latitude`` (in the views' CRS axis order: x, y).
    views : GeoDataFrame
        ``camera_id`` and view polygons.
    camera_ids : sequence of str

    Returns
    -------
    (seen, total) : tuple of int

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> v = gpd.GeoDataFrame({"camera_id": ["a"]}, geometry=[box(0, 0, 1, 1)], crs="EPSG:4326")
    >>> share_seen(pd.DataFrame({"longitude": [0.5, 2.0], "latitude": [0.5, 0.5]}), v, ["a"])
    (1, 2)
    """
    require_columns(points, ["longitude", "latitude"], "points")
    require_columns(views, ["camera_id", "geometry"], "views")
    pick = views["camera_id"].astype(str).isin([str(c) for c in camera_ids]).to_numpy()
    pts = shapely.points(points["longitude"].to_numpy(float), points["latitude"].to_numpy(float))
    if not pick.any() or len(pts) == 0:
        return 0, len(pts)
    tree = shapely.STRtree(_geometries(views.loc[pick], "views"))
    hit = tree.query(pts, predicate="within")
    return int(np.unique(hit[0]).size), len(pts)
