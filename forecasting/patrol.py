"""Patrol plans: hotspots from a shift forecast, with a dosage of short visits.

For each patrol area (beat or district polygons when given, else the whole study area) the
highest-risk cells are grouped into contiguous hotspots (connected components over the cell
raster's rows and columns), and the area's patrol time is spread over the shift as short visits
of 10 to 16 minutes: the Koper curve (Koper 1995: a police presence of about 15 minutes at a
hot spot deters crime for well beyond the visit; longer stays add little). Visits are allocated
in proportion to each hotspot's expected incidents (every hotspot gets one before any gets two)
and spread evenly over the shift, so each place is revisited at intervals.

Outputs describe places (cells, hotspots, addresses at block level), never persons.

Frame contracts
---------------
cells
    GeoDataFrame of a forecast: ``cell_id`` (str), ``row``, ``col`` (int, the grid raster),
    ``expected_count`` (float), ``reasons`` (list of str), polygon ``geometry`` in EPSG:4326;
    optionally ``risk`` (a severity-weighted risk used for ranking instead of ``expected_count``).
areas
    GeoDataFrame of patrol-area polygons with a name column (default ``name``), any CRS.
addresses
    DataFrame of recent incidents: ``longitude``, ``latitude`` (WGS84) and ``address``
    (block-level text, may be missing).

Layer 3: imports ``errors``, ``schema``, ``periods`` plus numpy, pandas, scipy, shapely, geopandas.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from forecasting.errors import ConfigError, CRSError, InputError
from forecasting.periods import Periods
from forecasting.schema import require_columns

#: Name of the single patrol area used when no area polygons are given.
WHOLE_AREA = "all"

#: Shortest and longest visit of the Koper curve, minutes.
KOPER_MINUTES = (10.0, 16.0)

_SHIFT_RE = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})\s*/\s*(\d+)\s*$")


# ----------------------------------------------------------------------------- shifts
def parse_shift(spec: str, periods: Periods | None = None) -> int:
    """Period index of a ``DATE/SHIFT`` label such as ``"2024-03-04/2"``.

    Shift ``n`` of a date starts ``shift_start + n * shift_hours`` after that date's midnight
    (default: 06:00, 14:00, 22:00), in local wall-clock time.

    Parameters
    ----------
    spec : str
    periods : Periods, optional
        A shift :class:`~forecasting.periods.Periods` (default: three 8-hour shifts from 06:00).

    Examples
    --------
    >>> p = Periods("shift")
    >>> str(p.start([parse_shift("2024-03-04/2", p)])[0])
    '2024-03-04 22:00:00'
    """
    periods = periods or Periods("shift")
    if periods.kind != "shift":
        raise ConfigError(f"periods must be shift periods; got {periods!r}")
    per_day = 24 // periods.shift_hours
    m = _SHIFT_RE.match(str(spec))
    if not m:
        raise ConfigError(f"shift must look like DATE/SHIFT, e.g. 2024-03-04/2; got {spec!r}")
    n = int(m.group(2))
    if n >= per_day:
        raise ConfigError(f"shift number must be in 0..{per_day - 1} ({per_day} shifts of "
                          f"{periods.shift_hours} h a day); got {n} in {spec!r}")
    try:
        day = pd.Timestamp(m.group(1))
    except ValueError as exc:
        raise ConfigError(f"shift date must be a calendar date YYYY-MM-DD; got {m.group(1)!r}") from exc
    return int(periods.index([day + pd.Timedelta(hours=periods.shift_start)])[0]) + n


def shift_label(index: int, periods: Periods | None = None) -> str:
    """Inverse of :func:`parse_shift`.

    Examples
    --------
    >>> p = Periods("shift")
    >>> shift_label(parse_shift("2024-03-04/2", p), p)
    '2024-03-04/2'
    """
    return (periods or Periods("shift")).spec.label(index)


# ----------------------------------------------------------------------------- config
@dataclass(frozen=True)
class PatrolConfig:
    """Settings of a patrol plan.

    Parameters
    ----------
    top_cells : int, default 10
        Highest-risk cells considered per patrol area (cells with zero risk never are).
    connectivity : {4, 8}, default 8
        Square cells sharing an edge (4) or an edge or corner (8) belong to one hotspot
        (H3 hexagons: those sharing an edge).
    visit_minutes : float, default 15
        Length of one visit; the Koper curve asks for 10 to 16 minutes.
    patrol_minutes : float, default 120
        Total hotspot patrol time per area per shift (capped at the shift length).
    max_reasons : int, default 3
        Reasons listed per hotspot.

    Examples
    --------
    >>> PatrolConfig(visit_minutes=30)
    Traceback (most recent call last):
    ...
    forecasting.errors.ConfigError: visit_minutes must be between 10 and 16 minutes (the Koper curve); got 30
    """

    top_cells: int = 10
    connectivity: int = 8
    visit_minutes: float = 15.0
    patrol_minutes: float = 120.0
    max_reasons: int = 3

    def __post_init__(self) -> None:
        for name in ("top_cells", "max_reasons"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
                raise ConfigError(f"{name} must be a positive integer; got {v!r}")
        if self.connectivity not in (4, 8):
            raise ConfigError(f"connectivity must be 4 or 8; got {self.connectivity!r}")
        lo, hi = KOPER_MINUTES
        if not isinstance(self.visit_minutes, int | float) or not lo <= self.visit_minutes <= hi:
            raise ConfigError(f"visit_minutes must be between {lo:g} and {hi:g} minutes (the Koper curve); "
                              f"got {self.visit_minutes!r}")
        if not isinstance(self.patrol_minutes, int | float) or not self.patrol_minutes > 0:
            raise ConfigError(f"patrol_minutes must be a positive number of minutes; got {self.patrol_minutes!r}")


# ----------------------------------------------------------------------------- pieces
def group_hotspots(cells: pd.DataFrame, connectivity: int = 8, by: str | None = None) -> np.ndarray:
    """Connected-component label of each cell over the grid's neighbours.

    Square cells are neighbours over the grid's rows and columns (``connectivity``); H3
    hexagons (every ``cell_id`` an H3 index) are neighbours when they share an edge, whatever
    ``connectivity`` says: a hexagon has six neighbours, which neither 4- nor 8-connectivity
    over its local coordinates gives.

    Parameters
    ----------
    cells : DataFrame
        ``row`` and ``col`` of the cells to group (the selected top cells), and ``cell_id``
        for H3 grids.
    connectivity : {4, 8}, default 8
    by : str, optional
        A column (e.g. the patrol area); cells with different values never join.

    Returns
    -------
    ndarray of int64
        Labels ``0..n_components-1`` in order of first appearance.

    Examples
    --------
    >>> c = pd.DataFrame({"row": [0, 0, 1, 5], "col": [0, 1, 2, 5]})
    >>> group_hotspots(c, 8).tolist(), group_hotspots(c, 4).tolist()
    ([0, 0, 0, 1], [0, 0, 1, 2])
    """
    if connectivity not in (4, 8):
        raise ConfigError(f"connectivity must be 4 or 8; got {connectivity!r}")
    require_columns(cells, ["row", "col"] + ([by] if by else []), "cells")
    n = len(cells)
    grp = cells[by].astype(str).to_numpy() if by else np.full(n, "")
    if _is_h3(cells):
        edges = _hexagon_edges(cells["cell_id"].to_numpy(), grp)
    else:
        if cells[["row", "col"]].isna().any().any():
            raise InputError("cells must have a row and col (square grids); got missing values")
        edges = _square_edges(cells["row"].to_numpy(np.int64), cells["col"].to_numpy(np.int64), grp, connectivity)
    graph = sparse.csr_array((np.ones(len(edges)), (edges["pos_x"], edges["pos_y"])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    # Renumber in order of first appearance, so the caller's ordering (e.g. by risk) carries over.
    _, first = np.unique(labels, return_index=True)
    rank = np.empty_like(first)
    rank[np.argsort(first)] = np.arange(first.size)
    return rank[labels].astype(np.int64)


def _square_edges(row: np.ndarray, col: np.ndarray, grp: np.ndarray, connectivity: int) -> pd.DataFrame:
    """Pairs ``pos_x, pos_y`` of square cells adjacent over rows and columns, within a group."""
    key = pd.DataFrame({"row": row, "col": col, "grp": grp, "pos": np.arange(row.size)})
    offsets = [(0, 1), (1, 0)] + ([(1, 1), (1, -1)] if connectivity == 8 else [])
    pairs = [key.assign(row=key["row"] + dr, col=key["col"] + dc).merge(key, on=["grp", "row", "col"])
             for dr, dc in offsets]  # one vectorised self-join per neighbour direction
    return pd.concat(pairs, ignore_index=True)


def _is_h3(cells: pd.DataFrame) -> bool:
    """Whether every ``cell_id`` is an H3 index (an H3 grid's cells)."""
    if "cell_id" not in cells.columns or not len(cells):
        return False
    import h3

    ids = pd.unique(cells["cell_id"].astype(str))
    return all(h3.is_valid_cell(c) for c in ids)  # h3 has no array API


def _hexagon_edges(cell_ids: np.ndarray, grp: np.ndarray) -> pd.DataFrame:
    """Pairs ``pos_x, pos_y`` of H3 cells sharing an edge, within a group."""
    import h3

    key = pd.DataFrame({"cell_id": cell_ids.astype(str), "grp": grp, "pos": np.arange(cell_ids.size)})
    ring = key.assign(cell_id=[h3.grid_ring(c, 1) for c in key["cell_id"]]).explode("cell_id")
    return ring.merge(key, on=["grp", "cell_id"])


def allocate_visits(weights: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` visits over hotspots: one each by weight first, the rest in proportion.

    The proportional part uses largest remainders, so counts sum exactly to ``total``.

    Examples
    --------
    >>> allocate_visits(np.array([3.0, 1.0]), 6).tolist()
    [4, 2]
    >>> allocate_visits(np.array([1.0, 3.0, 2.0]), 2).tolist()
    [0, 1, 1]
    """
    w = np.asarray(weights, dtype=float)
    n = w.size
    counts = np.zeros(n, dtype=np.int64)
    total = int(total)
    if n == 0 or total <= 0:
        return counts
    order = np.argsort(-w, kind="stable")
    if total <= n:
        counts[order[:total]] = 1
        return counts
    rest = total - n
    share = w / w.sum() * rest if w.sum() > 0 else np.full(n, rest / n)
    base = np.floor(share).astype(np.int64)
    left = rest - int(base.sum())
    base[np.argsort(-(share - base), kind="stable")[:left]] += 1
    return counts + 1 + base


def schedule_visits(counts: np.ndarray, start: pd.Timestamp, end: pd.Timestamp, visit_minutes: float,
                    weights: np.ndarray | None = None) -> pd.DataFrame:
    """Visit windows for one patrol unit: each hotspot's visits spread evenly over the shift.

    The shift is cut into as many equal slots as there are visits; visit ``j`` of a hotspot with
    ``n`` visits ideally falls at fraction ``(j + 0.5) / n`` of the shift, and slots are handed
    out in that order (higher weight first on ties), each visit centred in its slot. Visits
    therefore never overlap and repeat visits to one place are far apart.

    Returns
    -------
    DataFrame
        ``hotspot`` (position in ``counts``), ``visit`` (1-based per hotspot), ``start``, ``end``.

    Examples
    --------
    >>> s = schedule_visits(np.array([2, 1]), pd.Timestamp("2024-01-01 06:00"),
    ...                     pd.Timestamp("2024-01-01 14:00"), 15)
    >>> s.assign(start=s["start"].dt.strftime("%H:%M"))[["hotspot", "start"]].values.tolist()
    [[0, '07:12'], [1, '09:52'], [0, '12:32']]
    """
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    cols = ["hotspot", "visit", "start", "end"]
    if total == 0:
        return pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c in ("start", "end") else "int64")
                             for c in cols})
    w = np.zeros(counts.size) if weights is None else np.asarray(weights, dtype=float)
    h = np.repeat(np.arange(counts.size), counts)
    j = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    pos = (j + 0.5) / counts[h]
    order = np.lexsort((h, -w[h], pos))
    slot = np.empty(total, dtype=np.int64)
    slot[order] = np.arange(total)
    length = (pd.Timestamp(end) - pd.Timestamp(start)) / total
    visit = pd.Timedelta(minutes=visit_minutes)
    starts = (pd.Timestamp(start) + pd.TimedeltaIndex(slot * length) + (length - visit) / 2).floor("min")
    out = pd.DataFrame({"hotspot": h, "visit": j + 1, "start": starts, "end": starts + visit})
    return out.sort_values("start", kind="stable").reset_index(drop=True)


def assign_areas(cells, areas=None, name_col: str = "name") -> pd.Series:
    """Patrol area of each cell: the area polygon holding its centroid (NaN when none does).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> cells = gpd.GeoDataFrame({"cell_id": ["a", "b"]}, geometry=[box(0, 0, 1, 1), box(5, 5, 6, 6)],
    ...                          crs="EPSG:4326")
    >>> areas = gpd.GeoDataFrame({"name": ["north"]}, geometry=[box(-1, -1, 2, 2)], crs="EPSG:4326")
    >>> assign_areas(cells, areas).tolist()
    ['north', nan]
    """
    if areas is None:
        return pd.Series(WHOLE_AREA, index=cells.index, dtype=object)
    require_columns(areas, [name_col, "geometry"], "areas")
    if areas.crs is None or cells.crs is None:
        raise CRSError(f"cells and areas must both carry a CRS; got {cells.crs} and {areas.crs}")
    if areas.crs != cells.crs:
        areas = areas.to_crs(cells.crs)
    cent = shapely.centroid(np.asarray(cells.geometry.values, dtype=object))
    hit = shapely.STRtree(np.asarray(areas.geometry.values, dtype=object)).query(cent, predicate="within")
    # A centroid on a shared boundary belongs to the first area listed.
    first = pd.Series(hit[1], index=hit[0]).groupby(level=0).min()
    out = pd.Series(np.nan, index=cells.index, dtype=object)
    out.iloc[first.index.to_numpy()] = areas[name_col].astype(str).to_numpy()[first.to_numpy()]
    return out


def _top_reasons(sel: pd.DataFrame, risk: str, limit: int) -> pd.Series:
    """Reasons of each hotspot, the ones of its riskiest cells first, without repeats."""
    ex = sel[["hotspot", risk, "reasons"]].explode("reasons").dropna(subset=["reasons"])
    if ex.empty:
        return pd.Series([[] for _ in range(sel["hotspot"].nunique())], index=np.unique(sel["hotspot"]))
    agg = ex.groupby(["hotspot", "reasons"], sort=False)[risk].sum().reset_index()
    agg = agg.sort_values(["hotspot", risk], ascending=[True, False], kind="stable")
    agg = agg.groupby("hotspot").head(limit)
    got = agg.groupby("hotspot")["reasons"].agg(list)
    return got.reindex(np.unique(sel["hotspot"])).apply(lambda r: r if isinstance(r, list) else [])


def _addresses(sel, addresses: pd.DataFrame | None) -> pd.Series:
    """Most frequent address among the recent incidents inside each hotspot's cells."""
    if addresses is None or len(addresses) == 0:
        return pd.Series(dtype=object)
    require_columns(addresses, ["longitude", "latitude", "address"], "addresses")
    a = addresses.loc[addresses["address"].notna() & (addresses["address"].astype(str).str.strip() != "")]
    if a.empty:
        return pd.Series(dtype=object)
    pts = shapely.points(a["longitude"].to_numpy(float), a["latitude"].to_numpy(float))
    hit = shapely.STRtree(np.asarray(sel.geometry.values, dtype=object)).query(pts, predicate="within")
    df = pd.DataFrame({"point": hit[0], "hotspot": sel["hotspot"].to_numpy()[hit[1]]})
    df = df.drop_duplicates("point")
    df["address"] = a["address"].astype(str).str.strip().to_numpy()[df["point"].to_numpy()]
    n = df.groupby(["hotspot", "address"]).size().rename("n").reset_index()
    n = n.sort_values(["hotspot", "n", "address"], ascending=[True, False, True], kind="stable")
    return n.drop_duplicates("hotspot").set_index("hotspot")["address"]


# ----------------------------------------------------------------------------- the plan
@dataclass
class PatrolPlan:
    """A patrol plan for one shift (see :func:`build_patrol_plan`).

    Attributes
    ----------
    hotspots : GeoDataFrame
        One row per hotspot, ordered by area then rank: ``hotspot_id`` (``"H01"``...), ``area``,
        ``rank`` (within the area), ``n_cells``, ``cell_ids`` (list), ``expected`` (incidents
        expected this shift), ``risk`` (ranking value), ``longitude``/``latitude`` (the
        hotspot's centroid, or a point inside it when the centroid falls outside), ``address``
        (or None), ``reasons`` (list), ``visits``, ``patrol_minutes``; geometry = union of the
        cells (EPSG:4326).
    visits : DataFrame
        One row per visit window: ``hotspot_id``, ``area``, ``visit``, ``start``, ``end`` (naive
        local time), ``longitude``, ``latitude``, ``address``.
    cells : GeoDataFrame
        The selected cells with their ``hotspot_id``, ``area``, ``expected_count`` and geometry.
    meta : dict
        Provenance: ``shift``, ``period_start``, ``period_end`` (ISO local), ``timezone``,
        ``model``, ``model_version``, ``forecast_run_ids`` ... as given, plus ``config``.
    """

    hotspots: object
    visits: pd.DataFrame
    cells: object
    meta: dict = field(default_factory=dict)

    @property
    def areas(self) -> list[str]:
        """Patrol areas with at least one hotspot."""
        return list(dict.fromkeys(self.hotspots["area"].tolist()))

    def to_dict(self) -> dict:
        """JSON-serialisable plan (without polygons)."""
        hs = pd.DataFrame(self.hotspots.drop(columns="geometry"))
        vs = self.visits.assign(start=self.visits["start"].dt.strftime("%Y-%m-%dT%H:%M"),
                                end=self.visits["end"].dt.strftime("%Y-%m-%dT%H:%M"))
        return {"meta": self.meta,
                "hotspots": hs.astype(object).where(hs.notna(), None).to_dict(orient="records"),
                "visits": vs.astype(object).where(vs.notna(), None).to_dict(orient="records")}


def build_patrol_plan(cells, *, start, end, config: PatrolConfig | None = None, areas=None,
                      area_col: str = "name", addresses: pd.DataFrame | None = None,
                      meta: dict | None = None) -> PatrolPlan:
    """Build the patrol plan of one shift from a cell forecast.

    Parameters
    ----------
    cells : GeoDataFrame
        Forecast cells (see the module docstring), EPSG:4326.
    start, end : Timestamp-like
        Naive local start and end of the shift.
    config : PatrolConfig, optional
    areas : GeoDataFrame, optional
        Patrol-area polygons; each cell goes to the area holding its centroid. Default: one
        area, :data:`WHOLE_AREA`.
    area_col : str, default "name"
        Column of ``areas`` naming each area.
    addresses : DataFrame, optional
        Recent incidents with an ``address`` (see the module docstring); each hotspot is
        labelled with the most frequent one inside it.
    meta : dict, optional
        Provenance carried into every export (model version, forecast period ...).

    Returns
    -------
    PatrolPlan

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> cells = gpd.GeoDataFrame({"cell_id": ["a", "b", "c"], "row": [0, 0, 4], "col": [0, 1, 4],
    ...     "expected_count": [0.5, 0.3, 0.4], "reasons": [["busy bars"], [], []]},
    ...     geometry=[box(0, 0, .001, .001), box(.001, 0, .002, .001), box(.004, .004, .005, .005)],
    ...     crs="EPSG:4326")
    >>> plan = build_patrol_plan(cells, start="2024-03-04 22:00", end="2024-03-05 06:00")
    >>> plan.hotspots[["hotspot_id", "cell_ids", "visits"]].values.tolist()
    [['H01', ['a', 'b'], 5], ['H02', ['c'], 3]]
    """
    config = config or PatrolConfig()
    require_columns(cells, ["cell_id", "row", "col", "expected_count", "geometry"], "cells")
    if cells.crs is None or not cells.crs.equals("EPSG:4326"):
        raise CRSError(f"cells must be in EPSG:4326; got {cells.crs}. Transform with .to_crs('EPSG:4326')")
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    if start.tz is not None or end.tz is not None:
        raise ConfigError(f"start and end must be naive local times; got {start} and {end}")
    if not end > start:
        raise ConfigError(f"end must be after start; got start={start} and end={end}")
    risk = "risk" if "risk" in cells.columns else "expected_count"
    c = cells.copy()
    if "reasons" not in c.columns:
        c["reasons"] = [[] for _ in range(len(c))]
    c["reasons"] = [r if isinstance(r, list) else [] for r in c["reasons"]]
    c["area"] = assign_areas(c, areas, area_col).to_numpy()
    c = c.loc[c["area"].notna() & (c[risk] > 0)]
    c = c.sort_values(["area", risk, "cell_id"], ascending=[True, False, True], kind="stable")
    sel = c.loc[c.groupby("area", sort=False).cumcount() < config.top_cells].copy()
    sel["hotspot"] = group_hotspots(sel, config.connectivity, by="area") if len(sel) else np.array([], int)
    hs = _hotspot_table(sel, risk, config)
    addr = _addresses(sel, addresses)
    hs["address"] = hs.index.map(addr).astype(object) if len(addr) else None
    hs = hs.astype({"address": object})
    hs["address"] = hs["address"].where(hs["address"].notna(), None)

    shift_min = (end - start) / pd.Timedelta(minutes=1)
    per_area = int(min(config.patrol_minutes, shift_min) // config.visit_minutes)
    hs["visits"] = 0
    windows = []
    for _, grp in hs.groupby("area", sort=False):  # one patrol unit per area (a handful)
        counts = allocate_visits(grp["expected"].to_numpy(float), per_area)
        hs.loc[grp.index, "visits"] = counts
        sch = schedule_visits(counts, start, end, config.visit_minutes, grp["risk"].to_numpy(float))
        sch["hotspot"] = grp.index.to_numpy()[sch["hotspot"].to_numpy()]
        windows.append(sch)
    hs["patrol_minutes"] = hs["visits"] * float(config.visit_minutes)
    visits = _visit_table(hs, windows)
    sel["hotspot_id"] = sel["hotspot"].map(hs["hotspot_id"])
    out_cells = sel[["cell_id", "hotspot_id", "area", "expected_count", risk, "geometry"]]
    if risk == "expected_count":
        out_cells = out_cells.loc[:, ~out_cells.columns.duplicated()]
    info = dict(meta or {})
    info.setdefault("period_start", start.isoformat())
    info.setdefault("period_end", end.isoformat())
    info["config"] = asdict(config)
    hotspots = hs.reset_index(drop=True)
    return PatrolPlan(hotspots, visits, out_cells.reset_index(drop=True), info)


def _hotspot_table(sel, risk: str, config: PatrolConfig):
    """One row per hotspot: cells, expected incidents, geometry, centroid and reasons."""
    import geopandas as gpd

    cols = ["hotspot_id", "area", "rank", "n_cells", "cell_ids", "expected", "risk", "longitude",
            "latitude", "reasons"]
    if sel.empty:
        return gpd.GeoDataFrame({c: [] for c in cols}, geometry=[], crs="EPSG:4326")
    g = sel.groupby("hotspot", sort=True)
    hs = pd.DataFrame({"area": g["area"].first(), "n_cells": g.size(), "cell_ids": g["cell_id"].agg(list),
                       "expected": g["expected_count"].sum(), "risk": g[risk].sum()})
    hs["reasons"] = _top_reasons(sel, risk, config.max_reasons)
    geom = gpd.GeoSeries(sel.geometry.values, crs=sel.crs).groupby(sel["hotspot"].to_numpy()).agg(
        lambda s: shapely.union_all(np.asarray(s.values, dtype=object)))
    geom = np.asarray(geom.reindex(hs.index).to_numpy(), dtype=object)
    point = shapely.centroid(geom)
    inside = shapely.within(point, geom)
    point = np.where(inside, point, shapely.point_on_surface(geom))
    hs["longitude"], hs["latitude"] = shapely.get_x(point), shapely.get_y(point)
    hs["geometry"] = geom
    hs = hs.sort_values(["area", "risk"], ascending=[True, False], kind="stable")
    hs["rank"] = hs.groupby("area", sort=False).cumcount() + 1
    width = max(2, len(str(len(hs))))
    hs["hotspot_id"] = [f"H{i:0{width}d}" for i in range(1, len(hs) + 1)]
    out = gpd.GeoDataFrame(hs[cols], geometry=hs["geometry"].to_numpy(), crs="EPSG:4326")
    return out


def _visit_table(hs, windows: list[pd.DataFrame]) -> pd.DataFrame:
    cols = ["hotspot_id", "area", "visit", "start", "end", "longitude", "latitude", "address"]
    if not windows:
        return pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c in ("start", "end") else object)
                             for c in cols})
    v = pd.concat(windows, ignore_index=True)
    info = hs[["hotspot_id", "area", "longitude", "latitude", "address"]]
    v = v.join(info, on="hotspot")
    return v.sort_values(["area", "start"], kind="stable")[cols].reset_index(drop=True)
