"""Fairness of attention: who is flagged, patrolled and watched, against where incidents are.

Pure functions over arrays (layer 4). ``flagged`` is a boolean ``(n_periods, n_cells)`` array
(the top share of cells of a forecast per period); ``area_idx`` maps each cell to an area of a
layer (Vancouver local areas, Chicago community areas, the demo's areas), ``-1`` outside every
area. From these:

- **area shares**: each area's share of flagged cells (and of patrol visits and camera attention
  where given) against its share of incidents and, where the layer has it, of population;
- **disparity flag**: an area is flagged when its share of attention exceeds its share of incidents
  by more than :data:`DISPARITY_THRESHOLD` (percentage points, absolute);
- **concentration** over time: Gini and Herfindahl-Hirschman index (HHI) of the flagged share by
  area, per period;
- **persistence**: the share of flagged cells still flagged ``k`` periods later.

These describe places and never persons. All user-supplied text (area names) goes through
:func:`md_escape` before it reaches Markdown.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from forecasting.errors import ConfigError, DataError

#: An area's share of attention may exceed its share of incidents by at most this (absolute,
#: 0.05 = 5 percentage points) before the report flags it. Chosen as a round figure a reader can
#: check by eye; with 22 Vancouver local areas the mean share is 4.5 %, so a flagged area gets
#: at least twice the attention its incidents alone would give it.
DISPARITY_THRESHOLD = 0.05
#: Shares of cells flagged as hotspots, as in the backtest tables.
FLAG_SHARES = (0.01, 0.05)
#: Lags of the persistence figure, in periods.
PERSISTENCE_LAGS = (1, 4)


def _check_2d(name: str, a) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 2:
        raise DataError(f"{name} must be a 2-D array (n_periods, n_cells); got shape {a.shape}")
    return a


def flag_top(scores, share: float) -> np.ndarray:
    """Boolean mask of the top ``share`` of cells per period (at least one cell), ties by position.

    Examples
    --------
    >>> flag_top(np.array([[0.1, 0.9, 0.5, 0.2]]), 0.5).astype(int).tolist()
    [[0, 1, 1, 0]]
    """
    s = _check_2d("scores", scores).astype(float)
    if not 0 < share <= 1:
        raise ConfigError(f"share must be in (0, 1]; got {share!r}")
    k = max(1, int(round(share * s.shape[1])))
    order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    out = np.zeros(s.shape, dtype=bool)
    np.put_along_axis(out, order, True, axis=1)
    return out


def area_totals(weights, area_idx, n_areas: int) -> np.ndarray:
    """Sum of ``weights (n_periods, n_cells)`` per period and area: ``(n_periods, n_areas)``.

    Cells with ``area_idx == -1`` are left out.

    Examples
    --------
    >>> area_totals(np.array([[1, 2, 3], [0, 1, 1]]), np.array([0, 1, 1]), 2).tolist()
    [[1.0, 5.0], [0.0, 2.0]]
    """
    w = _check_2d("weights", weights).astype(float)
    idx = np.asarray(area_idx)
    if idx.shape != (w.shape[1],):
        raise DataError(f"area_idx must have one entry per cell ({w.shape[1]}); got shape {idx.shape}")
    inside = idx >= 0
    t = np.repeat(np.arange(w.shape[0]), inside.sum())
    flat = t * n_areas + np.tile(idx[inside], w.shape[0])
    return np.bincount(flat, weights=w[:, inside].ravel(), minlength=w.shape[0] * n_areas).reshape(
        w.shape[0], n_areas)


def _share(totals: np.ndarray) -> np.ndarray:
    s = totals.sum(axis=-1, keepdims=True)
    return np.divide(totals, s, out=np.zeros_like(totals, dtype=float), where=s > 0)


def gini(shares) -> np.ndarray:
    """Gini coefficient of each row of ``shares`` (0 = equal, towards 1 = all in one area).

    Examples
    --------
    >>> gini(np.array([[0.25, 0.25, 0.25, 0.25], [0, 0, 0, 1.0]])).round(3).tolist()
    [0.0, 0.75]
    """
    x = np.sort(np.atleast_2d(np.asarray(shares, dtype=float)), axis=1)
    n = x.shape[1]
    total = x.sum(axis=1)
    i = np.arange(1, n + 1)
    g = (2 * (x * i).sum(axis=1) / np.where(total > 0, n * total, 1)) - (n + 1) / n
    return np.where(total > 0, g, np.nan)


def hhi(shares) -> np.ndarray:
    """Herfindahl-Hirschman index of each row (sum of squared shares; 1/n = equal, 1 = one area).

    Examples
    --------
    >>> hhi(np.array([[0.5, 0.5], [1.0, 0.0]])).tolist()
    [0.5, 1.0]
    """
    s = _share(np.atleast_2d(np.asarray(shares, dtype=float)))
    return np.where(s.sum(axis=1) > 0, (s ** 2).sum(axis=1), np.nan)


def persistence(flagged, lags: Sequence[int] = PERSISTENCE_LAGS) -> dict[int, float]:
    """Share of flagged cells still flagged ``k`` periods later, pooled over periods, per lag.

    Examples
    --------
    >>> f = np.array([[1, 1, 0], [1, 0, 1], [1, 0, 1]], dtype=bool)
    >>> persistence(f, lags=[1, 2])
    {1: 0.75, 2: 0.5}
    """
    f = _check_2d("flagged", flagged).astype(bool)
    out = {}
    for k in lags:  # a handful of lags; each is one array operation
        if k < 1 or k >= f.shape[0]:
            out[int(k)] = float("nan")
            continue
        base = f[:-k].sum()
        out[int(k)] = float((f[:-k] & f[k:]).sum() / base) if base else float("nan")
    return out


def area_table(area_names: Sequence[str], *, flagged, incidents, area_idx, population=None, visits=None,
               cameras=None, threshold: float = DISPARITY_THRESHOLD) -> pd.DataFrame:
    """Each area's share of attention against its share of incidents (and population).

    Parameters
    ----------
    area_names : sequence of str
        Names of the ``n_areas`` areas (``area_idx`` indexes them).
    flagged : ndarray (n_periods, n_cells) of bool
        Cells flagged per period.
    incidents : ndarray (n_periods, n_cells)
        Incidents recorded per cell and period.
    area_idx : ndarray (n_cells,) of int
        Area of each cell, ``-1`` outside every area.
    population : ndarray (n_areas,), optional
        Population (or another base) per area.
    visits, cameras : ndarray (n_periods, n_cells), optional
        Patrol visits and camera attention (e.g. chosen cameras' covered cells) per cell and period.
    threshold : float, default DISPARITY_THRESHOLD
        An area is ``over_attended`` when any attention share exceeds its incident share by more.

    Returns
    -------
    DataFrame
        One row per area: ``area``, ``flagged_share``, ``incident_share``, optional
        ``population_share``, ``visit_share``, ``camera_share``, ``excess`` (largest attention share
        minus incident share) and ``over_attended``; shares pooled over all periods.

    Examples
    --------
    >>> t = area_table(["A", "B"], flagged=np.array([[1, 1, 0, 0]], bool), incidents=np.array([[1, 1, 1, 1]]),
    ...                area_idx=np.array([0, 0, 1, 1]))
    >>> t[["area", "flagged_share", "incident_share", "over_attended"]].values.tolist()
    [['A', 1.0, 0.5, True], ['B', 0.0, 0.5, False]]
    """
    n = len(area_names)
    if not 0 <= threshold < 1:
        raise ConfigError(f"threshold must be a share in [0, 1); got {threshold!r}")
    idx = np.asarray(area_idx)

    def pooled(a):
        return _share(area_totals(a, idx, n).sum(axis=0))

    out = pd.DataFrame({"area": [str(a) for a in area_names], "flagged_share": pooled(flagged),
                        "incident_share": pooled(incidents)})
    attention = ["flagged_share"]
    if population is not None:
        pop = np.asarray(population, dtype=float)
        if pop.shape != (n,):
            raise DataError(f"population must have one value per area ({n}); got shape {pop.shape}")
        out["population_share"] = _share(np.nan_to_num(pop))
    for name, a in (("visit_share", visits), ("camera_share", cameras)):
        if a is not None:
            out[name] = pooled(a)
            attention.append(name)
    out["excess"] = out[attention].max(axis=1) - out["incident_share"]
    # A tolerance, so shares equal to the threshold up to rounding (1 - 0.95) are not flagged.
    out["over_attended"] = out["excess"] > threshold + 1e-9
    return out


def concentration(flagged, area_idx, n_areas: int) -> pd.DataFrame:
    """Gini and HHI of the flagged share by area, per period (``period``, ``gini``, ``hhi``).

    Without areas (``n_areas == 0``) each cell is its own area.
    """
    f = _check_2d("flagged", flagged).astype(float)
    shares = _share(area_totals(f, area_idx, n_areas)) if n_areas else _share(f)
    return pd.DataFrame({"period": np.arange(f.shape[0]), "gini": gini(shares), "hhi": hhi(shares)})


def assign_areas(x, y, crs, areas, name_col: str = "name") -> tuple[np.ndarray, list[str]]:
    """Index of the area (of ``areas``, a GeoDataFrame) holding each point; ``-1`` outside all.

    ``x, y`` are in ``crs`` (e.g. a grid's cell centroids); returns ``(area_idx, names)``, names
    from ``name_col`` else the row number.
    """
    import geopandas as gpd

    if areas.crs is None:
        raise DataError("areas have no CRS; set one (e.g. EPSG:4326) before assigning cells")
    names = (areas[name_col] if name_col in areas else pd.Series(range(len(areas)), index=areas.index))
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs=crs)
    polys = areas[["geometry"]].reset_index(drop=True).to_crs(crs)
    hit = gpd.sjoin(pts, polys, how="left", predicate="within")
    hit = hit[~hit.index.duplicated(keep="first")]
    idx = hit["index_right"].fillna(-1).to_numpy(dtype=int)
    return idx, [str(v) for v in names.to_numpy()]


def population_of(areas) -> np.ndarray | None:
    """The layer's population column (``population``/``pop``/``value``... case-insensitive), if numeric."""
    for col in areas.columns:
        if str(col).lower() in ("population", "pop", "pop_total", "residents"):
            values = pd.to_numeric(areas[col], errors="coerce")
            if values.notna().any():
                return values.to_numpy(dtype=float)
    return None


def fairness_summary(scores, incidents, *, area_idx=None, area_names: Sequence[str] = (), population=None,
                     visits=None, cameras=None, shares: Sequence[float] = FLAG_SHARES,
                     lags: Sequence[int] = PERSISTENCE_LAGS, threshold: float = DISPARITY_THRESHOLD) -> dict:
    """Fairness figures of one forecast series, as JSON-ready dict (the ``metrics.json`` entry).

    Parameters
    ----------
    scores, incidents : ndarray (n_periods, n_cells)
        Forecast scores and recorded incidents.
    area_idx, area_names : optional
        The area layer (see :func:`assign_areas`); without it, concentration is over cells and
        there is no area table.
    population, visits, cameras : optional
        See :func:`area_table`.

    Returns
    -------
    dict
        ``threshold``, ``n_areas``, and per share key (``"1%"``, ``"5%"``): ``gini_mean``,
        ``gini_first``, ``gini_last``, ``hhi_mean``, ``persistence`` (lag -> share), ``areas``
        (records of :func:`area_table`) and ``over_attended`` (area names).
    """
    s = _check_2d("scores", scores)
    y = _check_2d("incidents", incidents)
    if s.shape != y.shape:
        raise DataError(f"scores and incidents must have the same shape; got {s.shape} and {y.shape}")
    n_areas = len(area_names) if area_idx is not None else 0
    out: dict[str, Any] = {"threshold": threshold, "n_areas": n_areas, "n_periods": int(s.shape[0]),
                           "by_share": {}}
    for share in shares:
        f = flag_top(s, share)
        conc = concentration(f, area_idx if n_areas else np.zeros(s.shape[1], int), n_areas)
        entry = {"gini_mean": float(np.nanmean(conc["gini"])), "gini_first": float(conc["gini"].iloc[0]),
                 "gini_last": float(conc["gini"].iloc[-1]), "hhi_mean": float(np.nanmean(conc["hhi"])),
                 "persistence": {str(k): v for k, v in persistence(f, lags).items()}}
        if n_areas:
            table = area_table(area_names, flagged=f, incidents=y, area_idx=area_idx, population=population,
                               visits=visits, cameras=cameras, threshold=threshold)
            entry["areas"] = table.to_dict(orient="records")
            entry["over_attended"] = table.loc[table["over_attended"], "area"].tolist()
        out["by_share"][f"{share:.0%}"] = entry
    return out


def backtest_fairness(result, areas=None, *, target: str = "all", name_col: str = "name") -> dict:
    """Fairness figures of a backtest (:class:`~forecasting.evaluate.BacktestResult`) for ``metrics.json``.

    The challenger (``lgbm`` when present, else the first forecast model) gets the full summary
    (:func:`fairness_summary`) against the recorded incidents of ``target``; every forecast model
    gets its concentration and persistence under ``by_model`` for comparison.

    Parameters
    ----------
    result : BacktestResult
    areas : GeoDataFrame, optional
        Area layer (``name_col`` and polygons, any CRS); cells go to the area holding their centroid.
    """
    models = [m for m in result.models if m not in result.reference and (m, target) in result.scores]
    if not models:
        raise DataError(f"the backtest has no forecast model for target {target!r}")
    model = "lgbm" if "lgbm" in models else models[0]
    y = result.observed[target]
    kw: dict[str, Any] = {}
    layer = None
    if areas is not None:
        grid = result.panel.grid
        x, yy = grid.centroids_xy
        idx, names = assign_areas(x, yy, grid.crs, areas, name_col)
        kw = {"area_idx": idx, "area_names": names, "population": population_of(areas)}
        layer = {"areas": len(names), "cells_outside": int((idx < 0).sum())}
    out = {"model": model, "target": target, "layer": layer,
           **fairness_summary(result.scores[(model, target)], y, **kw)}
    out["by_model"] = {m: {k: {"gini_mean": e["gini_mean"], "persistence": e["persistence"]}
                           for k, e in fairness_summary(result.scores[(m, target)], y, **kw)["by_share"].items()}
                       for m in models}
    return out


#: Default detection uplift of a patrol: incidents in a patrolled cell are recorded this many times
#: as often as elsewhere (the feedback-loop benchmark's assumption; estimate it locally).
DETECTION_UPLIFT = 2.0


def discount_patrolled(counts, patrolled, uplift: float = DETECTION_UPLIFT) -> np.ndarray:
    """The feedback-loop guard: incidents recorded where and when a patrol was present count ``1/uplift``.

    Patrols record more of the incidents that happen where they are; a model retrained on raw
    counts then sends them back to the same cells. Weighting those counts by the inverse of the
    detection uplift makes the expected weighted count the same with or without a patrol, so
    the ranking follows underlying risk rather than past attention.

    Parameters
    ----------
    counts : ndarray (n_periods, n_cells)
        Recorded incidents.
    patrolled : ndarray (n_periods, n_cells) of bool
        Cell-periods with a patrol visit (from the stored patrol visits).
    uplift : float, default DETECTION_UPLIFT
        Detection with a patrol divided by detection without (at least 1).

    Examples
    --------
    >>> discount_patrolled(np.array([[4.0, 4.0]]), np.array([[True, False]]), uplift=2).tolist()
    [[2.0, 4.0]]
    """
    c = _check_2d("counts", counts).astype(float)
    p = _check_2d("patrolled", patrolled).astype(bool)
    if p.shape != c.shape:
        raise DataError(f"patrolled must have the shape of counts {c.shape}; got {p.shape}")
    if not uplift >= 1:
        raise ConfigError(f"uplift must be a number at least 1 (detection with a patrol over without); got {uplift!r}")
    return np.where(p, c / uplift, c)


# Characters that start emphasis, code, links/images, HTML, headings, tables or strike-through.
_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]<>#|~"})


def md_escape(text: Any) -> str:
    """Text safe inside Markdown (and a table cell): specials escaped, line breaks and controls dropped.

    A leading ``-``, ``+`` or ``1.`` (a list item) is escaped too; parentheses and full stops elsewhere
    are harmless once ``[`` and ``]`` are escaped, so prose stays readable.

    Examples
    --------
    >>> print(md_escape("**Kits** | <script>\\n[x](javascript:1)"))
    \\*\\*Kits\\*\\* \\| \\<script\\> \\[x\\](javascript:1)
    >>> print(md_escape("- 1. item"), md_escape("1. item"), md_escape("0.95 (0.9)"))
    \\- 1. item \\1. item 0.95 (0.9)
    """
    s = " ".join("".join(ch if ch.isprintable() else " " for ch in str(text)).split()).translate(_MD_SPECIAL)
    if s[:1] in ("-", "+", "=") or re.match(r"\d{1,9}[.)](\s|$)", s):
        s = "\\" + s
    return s


def fairness_markdown(fair: dict, *, model: str = "lgbm", max_rows: int = 30) -> str:
    """The fairness section of a report (Markdown); area names escaped."""
    lines = ["## Fairness of attention", "",
             f"Model `{md_escape(model)}`, {fair['n_periods']} periods. Concentration: Gini and HHI of the "
             "flagged share by " + ("area" if fair["n_areas"] else "cell (no area layer given)") +
             " per period (Gini 0 = spread evenly). Persistence: share of flagged cells still flagged "
             "k periods later. An area is *over-attended* when its share of flagged cells exceeds its "
             f"share of incidents by more than {fair['threshold']:.0%} (percentage points).", ""]
    for key, e in fair["by_share"].items():
        pers = ", ".join(f"{k} period(s) later {v:.0%}" for k, v in e["persistence"].items() if v == v)
        lines.append(f"- Top {key}: Gini mean {e['gini_mean']:.2f} (first period {e['gini_first']:.2f}, last "
                     f"{e['gini_last']:.2f}), HHI mean {e['hhi_mean']:.3f}; still flagged: {pers or 'n/a'}.")
        if "areas" in e:
            over = e["over_attended"]
            lines.append(f"  Over-attended areas: {', '.join(md_escape(a) for a in over) if over else 'none'}.")
    first = next(iter(fair["by_share"].values()), {})
    if first.get("areas"):
        key = next(iter(fair["by_share"]))
        cols = [c for c in ("flagged_share", "incident_share", "population_share", "visit_share", "camera_share")
                if c in first["areas"][0]]
        lines += ["", f"Shares by area at top {key} (largest excess first; areas without cells or incidents "
                  "left out):", "",
                  "| area | " + " | ".join(c.replace("_", " ") for c in cols) + " | excess |",
                  "|---|" + "---:|" * (len(cols) + 1)]
        # Areas the study area does not reach (every share zero) are left out of the table.
        rows = sorted((r for r in first["areas"] if any(r[c] > 0 for c in cols)), key=lambda r: -r["excess"])
        rows = rows[:max_rows]
        lines += ["| " + md_escape(r["area"]) + " | " + " | ".join(f"{r[c]:.1%}" for c in cols)
                  + f" | {r['excess']:+.1%}{' **over**' if r['over_attended'] else ''} |" for r in rows]
    return "\n".join(lines)
