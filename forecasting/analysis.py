"""The analyst's statistics on the forecasting grid: hot spots, emerging hot spots, near repeats.

Four products crime analysts have trusted for decades, computed on the project's own grid and
periods so they can be laid over a forecast:

* :func:`hot_spots`: Getis-Ord Gi* per cell (Getis & Ord 1992; Ord & Getis 1995) with a
  Benjamini-Hochberg false-discovery-rate correction, and Local Moran's I (Anselin 1995) with
  seeded conditional-permutation p-values, for high-low and low-high outliers.
* :func:`emerging_hot_spots`: Gi* per period over a space-time cube (neighbours in space and in
  the previous period(s)) plus a Mann-Kendall trend per cell, classified with the categories of
  ArcGIS Pro's *Emerging Hot Spot Analysis* (new, consecutive, intensifying, persistent,
  diminishing, sporadic, oscillating, historical; cold equivalents; no pattern).
* :func:`knox_test`: the near-repeat Knox test of the Near Repeat Calculator (Ratcliffe 2009):
  observed / expected pairs per space-time band, Monte Carlo significance by permuting times.
* :func:`near_repeat_windows`: turns a Knox result into the near-repeat window the features and
  the forecast's reasons can use, with a planner's sentence.
* :func:`training_summary` and :func:`feature_windows`: what training runs on the incidents before
  its cut-off, and how the window sets the near-repeat features (recorded in the model version).

Everything is an array operation over cells (sparse weights, one matrix product per statistic,
chunked permutations); no Python loop runs over cells or events. Rules and formulas are in
``docs/analysis.md``. Gi* and Local Moran's I agree with PySAL ``esda`` (``tests/test_analysis.py``).

Layer 3: imports layers 0-2 (``errors``, ``grid``, ``features``) plus numpy, pandas and scipy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse, stats

from forecasting.config import DEFAULT_CELL_SIZE
from forecasting.errors import ConfigError, DataError, InputError, check_positive
from forecasting.grid import Grid
from forecasting.periods import PeriodSpec, as_spec

#: Default space bands of the Knox test, metres (Near Repeat Calculator style).
DISTANCE_BANDS = (0.0, 150.0, 300.0, 450.0)
#: Default time bands of the Knox test, days.
TIME_BANDS = (0.0, 7.0, 14.0, 21.0)

#: Local Moran's I quadrants (esda's ``q`` codes 1..4).
QUADRANTS = {1: "High-High", 2: "Low-High", 3: "Low-Low", 4: "High-Low"}

#: Emerging hot spot categories, in the order ArcGIS lists them (hot, then cold).
EMERGING_PATTERNS = (
    "new hot spot", "consecutive hot spot", "intensifying hot spot", "persistent hot spot",
    "diminishing hot spot", "sporadic hot spot", "oscillating hot spot", "historical hot spot",
    "new cold spot", "consecutive cold spot", "intensifying cold spot", "persistent cold spot",
    "diminishing cold spot", "sporadic cold spot", "oscillating cold spot", "historical cold spot",
    "no pattern detected",
)

_NO_PATTERN = "no pattern detected"


# ------------------------------------------------------------------------- checks
def _check_alpha(name: str, value: float) -> float:
    try:
        ok = 0 < float(value) < 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ConfigError(f"{name} must be a probability strictly between 0 and 1; got {value!r}")
    return float(value)


def _check_values(values, n_cells: int, what: str = "values") -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if v.shape[0] != n_cells:
        raise InputError(f"{what} must have one row per grid cell ({n_cells}); got shape {v.shape}")
    if not np.isfinite(v).all():
        raise InputError(f"{what} must be finite numbers; got {int((~np.isfinite(v)).sum())} NaN/inf")
    return v


def _check_bands(name: str, edges: Sequence[float], unit: str) -> np.ndarray:
    e = np.asarray(edges, dtype=np.float64)
    if e.ndim != 1 or e.size < 2 or not np.isfinite(e).all() or e[0] < 0 or np.any(np.diff(e) <= 0):
        raise ConfigError(f"{name} must be at least two increasing non-negative {unit}, e.g. "
                          f"(0, 150, 300, 450); got {list(edges) if np.ndim(edges) else edges!r}")
    return e


# ------------------------------------------------------------------------ weights
def spatial_weights(grid: Grid, *, contiguity: str = "queen", distance: float | None = None,
                    k: int = 1) -> sparse.csr_matrix:
    """Binary neighbour matrix of the grid's cells (no self-weights).

    Parameters
    ----------
    grid : Grid
        A square grid (neighbours from row/col) or an H3 grid (k-ring).
    contiguity : {"queen", "rook"}, default "queen"
        Square grids: the 8 cells sharing an edge or corner (queen) or the 4 sharing an edge.
    distance : float, optional
        Square grids: instead of contiguity, every cell whose centre lies within this many
        metres of the cell's centre (a distance band; ``1.5 * cell_size`` equals queen).
    k : int, default 1
        H3 grids: the k-ring.

    Returns
    -------
    scipy.sparse.csr_matrix
        ``(n_cells, n_cells)``, ones where cells are neighbours, zero diagonal.

    Examples
    --------
    >>> g = Grid(crs="EPSG:32610", cell_size=100, col=np.array([0, 1, 2, 0]), row=np.array([0, 0, 0, 1]))
    >>> spatial_weights(g).sum(axis=1).A1.tolist()
    [2.0, 3.0, 1.0, 2.0]
    >>> spatial_weights(g, contiguity="rook").sum(axis=1).A1.tolist()
    [2.0, 2.0, 1.0, 1.0]
    """
    n = grid.n_cells
    if getattr(grid, "kind", "square") == "h3":
        if not (isinstance(k, int | np.integer) and k >= 1):
            raise ConfigError(f"k must be a positive integer (the H3 k-ring); got {k!r}")
        # The grid caches its k-ring matrix; reuse it rather than walk the rings again.
        w = grid.ring_matrix(int(k)).tocsr(copy=True)
        w.setdiag(0)
        w.eliminate_zeros()
        return w
    if distance is not None:
        check_positive("distance", distance, "metres")
        reach = int(np.floor(float(distance) / grid.cell_size))
        off = np.arange(-reach, reach + 1)
        dr, dc = (a.ravel() for a in np.meshgrid(off, off, indexing="ij"))
        keep = (np.hypot(dr, dc) * grid.cell_size <= float(distance)) & ((dr != 0) | (dc != 0))
    elif contiguity in ("queen", "rook"):
        dr, dc = (a.ravel() for a in np.meshgrid([-1, 0, 1], [-1, 0, 1], indexing="ij"))
        keep = (np.abs(dr) + np.abs(dc) == 1) if contiguity == "rook" else ((dr != 0) | (dc != 0))
    else:
        raise ConfigError(f"contiguity must be 'queen' or 'rook'; got {contiguity!r}")
    dr, dc = dr[keep], dc[keep]
    h, w_ = grid.raster_shape
    lookup = np.full((h, w_), -1, dtype=np.int64)
    lookup[grid.raster_row, grid.raster_col] = np.arange(n)
    # One vectorised lookup per offset: (cells x offsets) neighbour positions, -1 when absent.
    rr = grid.raster_row[:, None] + dr[None, :]
    cc = grid.raster_col[:, None] + dc[None, :]
    inside = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w_)
    j = np.full(rr.shape, -1, dtype=np.int64)
    j[inside] = lookup[rr[inside], cc[inside]]
    i = np.broadcast_to(np.arange(n)[:, None], j.shape)
    ok = j >= 0
    return sparse.csr_matrix((np.ones(int(ok.sum())), (i[ok], j[ok])), shape=(n, n))


def _with_self(w: sparse.spmatrix) -> sparse.csr_matrix:
    """Binary weights with ones on the diagonal (the 'star' of Gi*)."""
    w = sparse.csr_matrix(w, dtype=np.float64, copy=True)
    w.setdiag(1.0)
    return w


# ---------------------------------------------------------------------------- Gi*
def gi_star(values, weights: sparse.spmatrix) -> tuple[np.ndarray, np.ndarray]:
    """Getis-Ord Gi* z-scores and two-sided normal p-values.

    Parameters
    ----------
    values : array-like (n_cells,) or (n_cells, n_series)
        A value per cell (e.g. incident counts of a window); several columns are independent series.
    weights : sparse matrix (n_cells, n_cells)
        Binary neighbours (:func:`spatial_weights`); the cell itself is added (Gi*, "star").

    Returns
    -------
    z, p : ndarray
        ``z = (sum_j w_ij x_j - xbar W_i) / (s sqrt((n W_i - W_i^2) / (n - 1)))`` with binary
        weights including self (the ArcGIS and esda ``G_Local(star=True, transform="B")`` form);
        ``p = 2 * (1 - Phi(|z|))``. A constant field gives z = 0 and p = 1.

    Examples
    --------
    >>> g = Grid(crs="EPSG:32610", cell_size=100, col=np.arange(5), row=np.zeros(5, int))
    >>> z, p = gi_star(np.array([0, 0, 0, 5, 5.0]), spatial_weights(g))
    >>> bool(z[4] > z[0])
    True
    """
    x = np.asarray(values, dtype=np.float64)
    w = _with_self(weights)
    n = x.shape[0]
    if w.shape != (n, n):
        raise InputError(f"weights must be ({n}, {n}) for {n} cells; got {w.shape}")
    wi = np.asarray(w.sum(axis=1)).ravel()
    s1 = np.asarray(w.multiply(w).sum(axis=1)).ravel()
    xbar = x.mean(axis=0)
    s = np.sqrt(np.maximum((x * x).mean(axis=0) - xbar**2, 0.0))
    lag = w @ x
    shape = (-1,) + (1,) * (x.ndim - 1)
    den = s * np.sqrt(np.maximum(n * s1 - wi**2, 0.0) / (n - 1)).reshape(shape)
    num = lag - xbar * wi.reshape(shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    return z, 2.0 * stats.norm.sf(np.abs(z))


def fdr(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values), any shape (one family).

    Examples
    --------
    >>> fdr(np.array([0.01, 0.04, 0.03, 0.5])).round(3).tolist()
    [0.04, 0.053, 0.053, 0.5]
    """
    p = np.asarray(p, dtype=np.float64)
    if p.size == 0:
        return p.copy()
    return stats.false_discovery_control(p.ravel(), method="bh").reshape(p.shape)


def gi_bins(z: np.ndarray, q: np.ndarray) -> np.ndarray:
    """ArcGIS ``Gi_Bin``: +-3, +-2, +-1 for hot/cold spots at 99, 95, 90 % confidence (on q), else 0."""
    level = np.select([q < 0.01, q < 0.05, q < 0.10], [3, 2, 1], 0)
    return (np.sign(z) * level).astype(np.int8)


# ------------------------------------------------------------------ Local Moran's I
def local_moran(values, weights: sparse.spmatrix, *, permutations: int = 999, random_state: int | None = 0,
                chunk_cells: int = 2048) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Local Moran's I with conditional-permutation pseudo p-values (row-standardised weights).

    Parameters
    ----------
    values : array-like (n_cells,)
    weights : sparse matrix (n_cells, n_cells)
        Binary neighbours without self (:func:`spatial_weights`); rows are standardised here.
    permutations : int, default 999
        Conditional permutations: each cell keeps its value while ``k_i`` of the other ``n - 1``
        values are drawn, without replacement, as its neighbours. One draw of positions is shared
        by all cells, as esda does, so cells are processed in vectorised chunks.
    random_state : int, optional
        Seed of ``numpy.random.default_rng``.
    chunk_cells : int, default 2048
        Cells per chunk (bounds memory at ``8 * chunk_cells * permutations * max_k`` bytes).

    Returns
    -------
    I, p_sim, p_z, quadrant : ndarray
        ``I_i = (n - 1) z_i lag_i / sum z^2`` (esda's ``Is``); folded pseudo p-value
        ``(min(#sim >= I, #sim <= I) + 1) / (permutations + 1)`` (esda's ``p_sim``); two-sided
        normal p-value of ``(I - mean(sim)) / sd(sim)`` (esda's ``z_sim``), which, unlike the
        pseudo p-value, is not floored at ``1 / (permutations + 1)`` and so can pass a
        Benjamini-Hochberg threshold of ``alpha / n_cells``; quadrant 1 High-High, 2 Low-High,
        3 Low-Low, 4 High-Low (esda's ``q``). Cells without neighbours get I = 0, p = 1.

    Examples
    --------
    >>> g = Grid(crs="EPSG:32610", cell_size=100, col=np.arange(6), row=np.zeros(6, int))
    >>> I, p, pz, q = local_moran(np.array([9, 0, 0, 0, 0, 0.0]), spatial_weights(g), permutations=99)
    >>> int(q[0]), int(q[1])
    (4, 2)
    """
    if not (isinstance(permutations, int | np.integer) and permutations >= 9):
        raise ConfigError(f"permutations must be an integer of at least 9; got {permutations!r}")
    x = np.asarray(values, dtype=np.float64).ravel()
    n = x.size
    w = sparse.csr_matrix(weights, dtype=np.float64, copy=True)
    w.setdiag(0.0)
    w.eliminate_zeros()
    if w.shape != (n, n):
        raise InputError(f"weights must be ({n}, {n}) for {n} cells; got {w.shape}")
    card = np.diff(w.indptr)
    z = x - x.mean()
    den = float(z @ z)
    if den == 0.0 or n < 3:
        return np.zeros(n), np.ones(n), np.ones(n), np.zeros(n, dtype=np.int8)
    rs = sparse.diags(1.0 / np.maximum(card, 1)) @ w
    lag = rs @ z
    scale = (n - 1) / den
    moran = scale * z * lag
    quad = np.select([(z > 0) & (lag > 0), (z < 0) & (lag > 0), (z < 0) & (lag <= 0), (z > 0) & (lag <= 0)],
                     [1, 2, 3, 4], 0).astype(np.int8)
    kmax = int(card.max()) if n else 0
    p = np.ones(n)
    pz = np.ones(n)
    if kmax == 0:
        return np.zeros(n), p, pz, quad
    rng = np.random.default_rng(random_state)
    # Positions among the n - 1 *other* cells, shared by every cell: row r holds the first
    # kmax of a random permutation of 0..n-2 (drawn without replacement).
    rids = np.stack([rng.choice(n - 1, size=kmax, replace=False) for _ in range(permutations)])
    has = np.flatnonzero(card > 0)
    for a in range(0, has.size, chunk_cells):
        cells = has[a:a + chunk_cells]
        # Skip the cell itself: position r >= i maps to cell r + 1.
        idx = rids[None, :, :] + (rids[None, :, :] >= cells[:, None, None])
        draws = z[idx]  # (chunk, permutations, kmax)
        csum = np.cumsum(draws, axis=2)
        k = card[cells]
        sim_lag = np.take_along_axis(csum, (k - 1)[:, None, None], axis=2)[..., 0] / k[:, None]
        sim = scale * z[cells, None] * sim_lag
        above = (sim >= moran[cells, None]).sum(axis=1)
        larger = np.minimum(above, permutations - above)
        p[cells] = (larger + 1.0) / (permutations + 1.0)
        sd = sim.std(axis=1)
        zs = np.where(sd > 0, (moran[cells] - sim.mean(axis=1)) / np.where(sd > 0, sd, 1.0), 0.0)
        pz[cells] = 2.0 * stats.norm.sf(np.abs(zs))
    moran[card == 0] = 0.0
    return moran, p, pz, quad


# -------------------------------------------------------------------- hot spots
def hot_spots(values, grid: Grid, *, alpha: float = 0.05, contiguity: str = "queen",
              distance: float | None = None, permutations: int = 999,
              random_state: int | None = 0) -> pd.DataFrame:
    """Gi* hot and cold spots (FDR-corrected) and Local Moran's I clusters and outliers per cell.

    Parameters
    ----------
    values : array-like (n_cells,)
        Incident counts per cell of one window and category (e.g. a panel's counts summed over
        the window's columns), in the grid's cell order.
    grid : Grid
    alpha : float, default 0.05
        False discovery rate: a cell is a hot/cold spot when its Benjamini-Hochberg q-value is
        below ``alpha``; the same for Local Moran's I clusters and outliers.
    contiguity, distance
        Neighbours, see :func:`spatial_weights`.
    permutations : int, default 999
        Local Moran's I conditional permutations.
    random_state : int, optional

    Returns
    -------
    DataFrame
        One row per cell: ``cell_id, count, gi_z, gi_p, gi_q, gi_bin`` (ArcGIS ``Gi_Bin``, -3..3),
        ``hot_spot`` ("hot spot", "cold spot" or "not significant"), ``moran_i, moran_p_sim``
        (pseudo p-value), ``moran_p`` (from the permutation z-score), ``moran_q`` (BH of ``moran_p``),
        ``moran_quadrant`` (High-High, Low-High, Low-Low, High-Low), ``moran_type`` (the quadrant
        when significant at the FDR, else "not significant"; High-Low and Low-High are outliers).

    Examples
    --------
    >>> g = Grid(crs="EPSG:32610", cell_size=100, col=np.repeat(np.arange(10), 10),
    ...          row=np.tile(np.arange(10), 10))
    >>> x = np.zeros(100); x[[0, 1, 10, 11]] = 20
    >>> hs = hot_spots(x, g, permutations=99)
    >>> sorted(hs.loc[hs.hot_spot == "hot spot", "cell_id"])[:2]
    ['100m_0_0', '100m_0_1']
    """
    alpha = _check_alpha("alpha", alpha)
    x = _check_values(values, grid.n_cells)
    if x.ndim != 1:
        raise InputError(f"values must be one value per cell (1-d); got shape {x.shape}")
    w = spatial_weights(grid, contiguity=contiguity, distance=distance)
    z, p = gi_star(x, w)
    q = fdr(p)
    mi, mp, mpz, mq = local_moran(x, w, permutations=permutations, random_state=random_state)
    mqv = fdr(mpz)
    sig = q < alpha
    return pd.DataFrame({
        "cell_id": np.asarray(grid.cell_ids).astype(str), "count": x,
        "gi_z": z, "gi_p": p, "gi_q": q, "gi_bin": gi_bins(z, q),
        "hot_spot": np.where(sig & (z > 0), "hot spot", np.where(sig & (z < 0), "cold spot", "not significant")),
        "moran_i": mi, "moran_p_sim": mp, "moran_p": mpz, "moran_q": mqv,
        "moran_quadrant": pd.Series(mq).map(QUADRANTS).fillna("none").to_numpy(),
        "moran_type": np.where((mqv < alpha) & (mq > 0), pd.Series(mq).map(QUADRANTS).fillna("none").to_numpy(),
                               "not significant"),
    })


# ---------------------------------------------------------------- Mann-Kendall
def mann_kendall(series, *, continuity: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mann-Kendall trend test of each row against time, vectorised over rows.

    Parameters
    ----------
    series : array-like (n_series, n_times)
    continuity : bool, default True
        Apply the usual continuity correction ``(S - sign S) / sqrt(var S)``.

    Returns
    -------
    s, z, p : ndarray (n_series,)
        ``S = sum_{a<b} sign(x_b - x_a)``; its variance is corrected for ties
        ``(n(n-1)(2n+5) - sum_g t_g(t_g-1)(2t_g+5)) / 18``; ``p`` is two-sided normal. Rows that
        are constant give z = 0, p = 1. Without the continuity correction, ``p`` equals
        ``scipy.stats.kendalltau(range(n), x).pvalue`` (asymptotic method).

    Examples
    --------
    >>> s, z, p = mann_kendall(np.array([[1, 2, 3, 4, 5, 6, 7, 8.0], [3, 3, 3, 3, 3, 3, 3, 3]]))
    >>> s.tolist(), bool(p[0] < 0.01), float(p[1])
    ([28.0, 0.0], True, 1.0)
    """
    x = np.asarray(series, dtype=np.float64)
    if x.ndim != 2:
        raise InputError(f"series must be 2-d (series x times); got shape {x.shape}")
    m, n = x.shape
    s = np.zeros(m)
    # One whole-array step per lag over blocks of rows small enough to stay in cache (n - 1 steps
    # per block); comparisons in float32 where that keeps every value exact, else float64.
    xs = x.astype(np.float32) if np.array_equal(x.astype(np.float32), x) else x
    block = max(1, 65536 // max(n, 1))
    for a in range(0, m, block):
        xb = xs[a:a + block]
        acc = np.zeros(xb.shape[0], dtype=np.int64)
        for lag in range(1, n):
            d = xb[:, lag:] - xb[:, :-lag]
            acc += np.count_nonzero(d > 0, axis=1)
            acc -= np.count_nonzero(d < 0, axis=1)
        s[a:a + block] = acc
    srt = np.sort(x, axis=1)
    new = np.ones_like(srt, dtype=bool)
    new[:, 1:] = srt[:, 1:] != srt[:, :-1]
    group = np.cumsum(new, axis=1) - 1 + (np.arange(m) * n)[:, None]
    t = np.bincount(group.ravel(), minlength=m * n).reshape(m, n).astype(np.float64)
    ties = (t * (t - 1) * (2 * t + 5)).sum(axis=1)
    var = (n * (n - 1) * (2 * n + 5) - ties) / 18.0
    num = s - np.sign(s) if continuity else s
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(var > 0, num / np.sqrt(np.where(var > 0, var, 1.0)), 0.0)
    return s, z, 2.0 * stats.norm.sf(np.abs(z))


# ------------------------------------------------------------ emerging hot spots
def space_time_gi_star(counts, weights: sparse.spmatrix, *, time_lag: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Gi* of every bin of a space-time cube (cells x periods).

    The neighbourhood of bin ``(i, t)`` is the spatial neighbours of ``i`` and ``i`` itself, in
    period ``t`` and the ``time_lag`` previous periods (ArcGIS's "neighborhood time step"); the
    mean and standard deviation are those of the whole cube. Bins in the first periods have
    fewer temporal neighbours, which the formula accounts for.

    Returns
    -------
    z, p : ndarray (n_cells, n_periods)
    """
    x = np.asarray(counts, dtype=np.float64)
    if x.ndim != 2:
        raise InputError(f"counts must be 2-d (cells x periods); got shape {x.shape}")
    if not (isinstance(time_lag, int | np.integer) and time_lag >= 0):
        raise ConfigError(f"time_lag must be a non-negative integer of periods; got {time_lag!r}")
    w = _with_self(weights)
    n_cells, n_t = x.shape
    n = x.size
    lag = w @ x
    if time_lag:
        # Window sum over t - time_lag .. t along time, by a cumulative sum (one subtraction).
        c = np.cumsum(lag, axis=1)
        lag = c.copy()
        lag[:, time_lag + 1:] -= c[:, :-(time_lag + 1)]
        del c
    steps = np.minimum(np.arange(n_t), time_lag) + 1.0
    wi = np.asarray(w.sum(axis=1)).ravel()[:, None] * steps[None, :]
    xbar = x.mean()
    s = np.sqrt(max(float((x * x).mean() - xbar**2), 0.0))
    den = s * np.sqrt(np.maximum(n * wi - wi**2, 0.0) / (n - 1))  # binary weights: S1 = W
    lag -= xbar * wi
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(den > 0, lag / np.where(den > 0, den, 1.0), 0.0)
    return z, 2.0 * stats.norm.sf(np.abs(z))


def classify_emerging(hot: np.ndarray, cold: np.ndarray, trend_z: np.ndarray, trend_p: np.ndarray, *,
                      trend_alpha: float = 0.05, share: float = 0.9) -> np.ndarray:
    """ArcGIS emerging hot spot categories from per-bin significance and a per-cell trend.

    Parameters
    ----------
    hot, cold : bool ndarray (n_cells, n_periods)
        Significant hot / cold bins (a bin cannot be both).
    trend_z, trend_p : ndarray (n_cells,)
        Mann-Kendall trend of each cell's Gi* z-scores.
    trend_alpha : float, default 0.05
    share : float, default 0.9
        "At least 90 % of the periods".

    Returns
    -------
    ndarray of str
        One of :data:`EMERGING_PATTERNS` per cell; the rules are in ``docs/analysis.md``.

    Examples
    --------
    >>> hot = np.array([[0, 0, 0, 1], [1, 1, 1, 1], [0, 1, 0, 1]], bool)
    >>> classify_emerging(hot, np.zeros_like(hot), np.zeros(3), np.ones(3)).tolist()
    ['new hot spot', 'persistent hot spot', 'sporadic hot spot']
    """
    hot = np.asarray(hot, dtype=bool)
    cold = np.asarray(cold, dtype=bool)
    out = np.full(hot.shape[0], _NO_PATTERN, dtype=object)
    up = (np.asarray(trend_p) < trend_alpha) & (np.asarray(trend_z) > 0)
    down = (np.asarray(trend_p) < trend_alpha) & (np.asarray(trend_z) < 0)
    # Cold categories mirror hot ones with the roles of hot/cold and of the trend's sign swapped:
    # an intensifying cold spot grows colder (its z-scores fall).
    for name, a, b, stronger, weaker in (("hot", hot, cold, up, down), ("cold", cold, hot, down, up)):
        n_t = a.shape[1]
        last = a[:, -1]
        n_a = a.sum(axis=1)
        mostly = n_a >= share * n_t
        ever_b = b.any(axis=1)
        # Length of the final uninterrupted run of `a` bins.
        not_a = ~a
        last_gap = np.where(not_a.any(axis=1), n_t - 1 - np.argmax(not_a[:, ::-1], axis=1), -1)
        run = n_t - 1 - last_gap
        before_run = n_a - run  # `a` bins before the final run
        rules = [
            (last & mostly & stronger, f"intensifying {name} spot"),
            (last & mostly & weaker, f"diminishing {name} spot"),
            (last & mostly, f"persistent {name} spot"),
            (last & ever_b, f"oscillating {name} spot"),
            (last & (run == 1) & (before_run == 0), f"new {name} spot"),
            (last & (run >= 2) & (before_run == 0), f"consecutive {name} spot"),
            (last, f"sporadic {name} spot"),
            (~last & mostly, f"historical {name} spot"),
        ]
        todo = out == _NO_PATTERN
        for mask, label in rules:
            hit = todo & mask
            out[hit] = label
            todo &= ~hit
    return out


def emerging_hot_spots(counts, grid: Grid, *, alpha: float = 0.05, trend_alpha: float = 0.05,
                       time_lag: int = 1, contiguity: str = "queen", distance: float | None = None,
                       period_starts: Sequence | None = None, fdr_family: str = "cube") -> pd.DataFrame:
    """Emerging hot spot analysis of a cells x periods cube (ArcGIS Pro's categories).

    Parameters
    ----------
    counts : array-like (n_cells, n_periods)
        Incident counts per cell and period (a panel's counts of one category), at least 2 periods.
    grid : Grid
    alpha : float, default 0.05
        False discovery rate of the per-bin Gi* tests (Benjamini-Hochberg).
    fdr_family : {"cube", "period"}, default "cube"
        One family of every bin of the cube (the strictest), or one family per period (each
        period's map controlled on its own, as a per-period hot-spot map would be).
    trend_alpha : float, default 0.05
        Significance of the Mann-Kendall trend of each cell's Gi* z-scores.
    time_lag : int, default 1
        Previous periods in each bin's neighbourhood.
    contiguity, distance
        Spatial neighbours, see :func:`spatial_weights`.
    period_starts : sequence, optional
        Start of each period (only used to report the last period in the output).

    Returns
    -------
    DataFrame
        One row per cell: ``cell_id, total, pattern`` (one of :data:`EMERGING_PATTERNS`),
        ``n_hot, n_cold`` (significant bins), ``last_z`` (Gi* z of the final period),
        ``trend_z, trend_p`` (Mann-Kendall of the Gi* z-scores), ``last_period``.

    Examples
    --------
    >>> g = Grid(crs="EPSG:32610", cell_size=100, col=np.repeat(np.arange(8), 8), row=np.tile(np.arange(8), 8))
    >>> x = np.random.default_rng(0).poisson(0.2, (64, 12)).astype(float); x[:4, -1] += 12
    >>> emerging_hot_spots(x, g).pattern.iloc[0]
    'new hot spot'
    """
    alpha = _check_alpha("alpha", alpha)
    trend_alpha = _check_alpha("trend_alpha", trend_alpha)
    x = _check_values(counts, grid.n_cells, "counts")
    if x.ndim != 2 or x.shape[1] < 2:
        raise InputError(f"counts must be cells x periods with at least 2 periods; got shape {x.shape}")
    w = spatial_weights(grid, contiguity=contiguity, distance=distance)
    if fdr_family not in ("cube", "period"):
        raise ConfigError(f"fdr_family must be 'cube' or 'period'; got {fdr_family!r}")
    z, p = space_time_gi_star(x, w, time_lag=time_lag)
    q = fdr(p) if fdr_family == "cube" else stats.false_discovery_control(p, axis=0, method="bh")
    del p
    sig = q < alpha
    del q
    hot, cold = sig & (z > 0), sig & (z < 0)
    # Trends compare z-scores in float32 (7 significant digits): twice as fast, same answer
    # except for z-scores equal to 7 digits, which become ties.
    _, tz, tp = mann_kendall(z.astype(np.float32))
    pattern = classify_emerging(hot, cold, tz, tp, trend_alpha=trend_alpha)
    last = None if period_starts is None else pd.Timestamp(list(period_starts)[-1])
    return pd.DataFrame({
        "cell_id": np.asarray(grid.cell_ids).astype(str), "total": x.sum(axis=1), "pattern": pattern,
        "n_hot": hot.sum(axis=1), "n_cold": cold.sum(axis=1), "last_z": z[:, -1],
        "trend_z": tz, "trend_p": tp, "last_period": last,
    })


# ---------------------------------------------------------------------- Knox test
@dataclass
class KnoxResult:
    """A Knox near-repeat test: one row per (distance band, time band).

    Attributes
    ----------
    table : DataFrame
        ``distance_from, distance_to`` (metres), ``days_from, days_to``, ``observed`` (pairs),
        ``expected`` (mean over the permutations), ``ratio`` (observed / expected, the Near
        Repeat Calculator's Knox ratio), ``p`` (``(#sims >= observed + 1) / (permutations + 1)``),
        ``q`` (Benjamini-Hochberg over the bands).
    n_events, permutations, random_state : int
    pairs_in_reach : int
        Pairs within the largest distance band (all of them have their times permuted, unless
        ``meta["pairs_tested"]`` says a sample was; see ``max_pairs`` of :func:`knox_test`).
    """

    table: pd.DataFrame
    n_events: int
    permutations: int
    random_state: int | None
    pairs_in_reach: int
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-serialisable form."""
        return {"n_events": self.n_events, "permutations": self.permutations, "random_state": self.random_state,
                "pairs_in_reach": self.pairs_in_reach, "meta": self.meta,
                "bands": self.table.to_dict(orient="records")}


def knox_test(x, y, t_days, *, distance_bands: Sequence[float] = DISTANCE_BANDS,
              time_bands: Sequence[float] = TIME_BANDS, permutations: int = 999,
              random_state: int | None = 0, chunk_pairs: int = 4_000_000,
              max_pairs: int | None = None) -> KnoxResult:
    """Knox test of near repeats: are pairs close in space also close in time more than chance?

    Parameters
    ----------
    x, y : array-like
        Projected event coordinates, metres.
    t_days : array-like
        Event times in days (any origin), e.g. ``(occurred_local - t0) / 1 day``.
    distance_bands : sequence of float, default (0, 150, 300, 450)
        Band edges in metres; a pair at distance d is in band [a, b) (the first band includes 0).
    time_bands : sequence of float, default (0, 7, 14, 21)
        Band edges in days, [a, b).
    permutations : int, default 999
        Monte Carlo permutations of the times among the events (locations stay fixed). The
        smallest p-value is ``1 / (permutations + 1)``; with the 9 default bands, 99 permutations
        cannot give a Benjamini-Hochberg q below 0.05 unless at least two bands reach p = 0.01.
    random_state : int, optional
    chunk_pairs : int, default 4,000,000
        Pairs processed at once per permutation (bounds temporary memory at about 20 bytes each).
    max_pairs : int, optional
        Bound on the cost (pairs x permutations): when more pairs lie within the largest distance
        band, a seeded random sample of ``max_pairs`` of them is tested. The sample is drawn from
        the places alone, before any time is looked at, so the permutation test stays exact for
        it and its ratios estimate those of all pairs (``meta["pairs_tested"]``).

    Returns
    -------
    KnoxResult

    Notes
    -----
    Only pairs within the largest distance band can fall into a band, and permuting times does not
    move events, so those pairs are found once (``scipy.spatial.cKDTree.query_pairs``) and kept
    sorted by their first event as an int32 partner and an int32 band key (8 bytes a pair); each
    permutation is a ``np.repeat`` and a gather of the permuted times, and one ``bincount``, over
    chunks of about ``chunk_pairs`` pairs. Cost grows with pairs x permutations (see
    ``docs/analysis.md`` for measured figures).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> x, y, t = rng.uniform(0, 3000, 400), rng.uniform(0, 3000, 400), rng.uniform(0, 365, 400)
    >>> x = np.r_[x, x[:100] + 20]; y = np.r_[y, y[:100]]; t = np.r_[t, t[:100] + 2]
    >>> k = knox_test(x, y, t, permutations=49)
    >>> bool(k.table.ratio.iloc[0] > 2 and k.table.p.iloc[0] <= 0.02)
    True
    """
    from scipy.spatial import cKDTree

    d_edges = _check_bands("distance_bands", distance_bands, "metres")
    t_edges = _check_bands("time_bands", time_bands, "days")
    if not (isinstance(permutations, int | np.integer) and permutations >= 9):
        raise ConfigError(f"permutations must be an integer of at least 9; got {permutations!r}")
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    t = np.asarray(t_days, dtype=np.float64)
    if not (x.shape == y.shape == t.shape and x.ndim == 1):
        raise InputError(f"x, y and t_days must be 1-d arrays of one length; got {x.shape}, {y.shape}, {t.shape}")
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(t)
    x, y, t = x[ok], y[ok], t[ok]
    if x.size < 3:
        raise DataError(f"the Knox test needs at least 3 events with a place and a time; got {x.size}")
    pairs = cKDTree(np.column_stack([x, y])).query_pairs(r=float(d_edges[-1]), output_type="ndarray")
    d = np.hypot(x[pairs[:, 0]] - x[pairs[:, 1]], y[pairs[:, 0]] - y[pairs[:, 1]])
    dband = np.searchsorted(d_edges, d, side="right") - 1
    keep = (dband >= 0) & (d < d_edges[-1])
    del d
    rng = np.random.default_rng(random_state)
    if max_pairs is not None:
        if not (isinstance(max_pairs, int | np.integer) and max_pairs >= 1):
            raise ConfigError(f"max_pairs must be a positive whole number of pairs or None; got {max_pairs!r}")
        inside = np.flatnonzero(keep)
        if inside.size > max_pairs:
            # Chosen from places only (times unseen), so the permutation null holds for the sample.
            keep = np.zeros_like(keep)
            keep[rng.choice(inside, size=int(max_pairs), replace=False)] = True
        pairs_in_reach = int(inside.size)
        del inside
    else:
        pairs_in_reach = int(keep.sum())
    # Pairs sorted by their first event: its permuted time is then a np.repeat, not a gather.
    order = np.argsort(pairs[keep, 0], kind="stable")
    i_counts = np.bincount(pairs[keep, 0][order], minlength=x.size)
    j = pairs[keep, 1][order].astype(np.int32)
    nd, nt = d_edges.size - 1, t_edges.size - 1
    # Key of a pair = distance band * (nt + 1) + time band, the last time band meaning "beyond".
    base = (dband[keep][order] * (nt + 1)).astype(np.int32)
    del pairs, keep, order, dband
    n_pairs = int(j.size)
    width = float(t_edges[1] - t_edges[0])
    uniform = t_edges[0] == 0 and np.allclose(np.diff(t_edges), width)
    edges32 = t_edges.astype(np.float32)
    starts = np.r_[0, np.cumsum(i_counts)]

    def counts(times: np.ndarray) -> np.ndarray:
        u = times.astype(np.float32)
        out = np.zeros(nd * (nt + 1), dtype=np.int64)
        # Chunks cut at event boundaries so np.repeat of whole runs fills each chunk.
        cuts = np.searchsorted(starts, np.arange(0, n_pairs, chunk_pairs), side="right") - 1
        for a, b in zip(cuts, np.r_[cuts[1:], x.size], strict=True):
            lo, hi = starts[a], starts[b]
            if hi == lo:
                continue
            dt = np.repeat(u[a:b], i_counts[a:b])
            dt -= u[j[lo:hi]]
            np.abs(dt, out=dt)
            if uniform:
                dt *= np.float32(1.0 / width)
                tb = dt.astype(np.int32)
            else:
                tb = (np.searchsorted(edges32, dt, side="right") - 1).astype(np.int32)
                tb[tb < 0] = nt  # closer in time than the first edge: outside every band
            np.minimum(tb, nt, out=tb)
            tb += base[lo:hi]
            out += np.bincount(tb, minlength=out.size)
        return out.reshape(nd, nt + 1)[:, :nt].ravel()

    observed = counts(t)
    sims = np.empty((permutations, nd * nt), dtype=np.int64)
    for r in range(permutations):  # each permutation is whole-array work over the pairs
        sims[r] = counts(t[rng.permutation(t.size)])
    expected = sims.mean(axis=0)
    p = ((sims >= observed).sum(axis=0) + 1.0) / (permutations + 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(expected > 0, observed / np.where(expected > 0, expected, 1.0), np.nan)
    db, tb = np.divmod(np.arange(nd * nt), nt)
    table = pd.DataFrame({
        "distance_from": d_edges[db], "distance_to": d_edges[db + 1],
        "days_from": t_edges[tb], "days_to": t_edges[tb + 1],
        "observed": observed, "expected": expected, "ratio": ratio, "p": p, "q": fdr(p),
    })
    return KnoxResult(table, int(x.size), int(permutations), random_state, pairs_in_reach,
                      {"pairs_tested": n_pairs})


@dataclass(frozen=True)
class NearRepeatWindow:
    """The near-repeat window a Knox test supports: repeats within ``distance_m`` and ``days``.

    ``ratio`` is observed / expected pairs pooled over every band inside the window.
    """

    distance_m: float
    days: float
    ratio: float
    q: float

    def sentence(self, what: str = "incidents", where: str = "here") -> str:
        """A planner's sentence, e.g. "burglaries here repeat within 150 m and 14 days 2.1x more often than chance".

        Examples
        --------
        >>> NearRepeatWindow(150.0, 14.0, 2.06, 0.01).sentence("burglaries")
        'burglaries here repeat within 150 m and 14 days 2.1x more often than chance'
        """
        where = f" {where}" if where else ""
        return (f"{what}{where} repeat within {self.distance_m:g} m and {self.days:g} days "
                f"{self.ratio:.1f}x more often than chance")

    def to_dict(self) -> dict:
        return {"distance_m": self.distance_m, "days": self.days, "ratio": self.ratio, "q": self.q}


#: Smallest Knox ratio a band needs to count towards a near-repeat window: on years of a city's
#: incidents, ratios of 1.02 are significant but too small to plan for.
MIN_RATIO = 1.1


def no_window_sentence(alpha: float = 0.05, min_ratio: float = MIN_RATIO) -> str:
    """What to say when :func:`near_repeat_windows` finds no window."""
    return (f"No near-repeat window: the closest band is not both significant (FDR {alpha:g}) and at least "
            f"{min_ratio:g}x chance.")


def near_repeat_windows(knox: KnoxResult, *, alpha: float = 0.05,
                        min_ratio: float = MIN_RATIO) -> NearRepeatWindow | None:
    """The largest near-repeat window, anchored at (0 m, 0 days), of significantly raised bands.

    A band is *raised* when its q-value (BH over the bands) is below ``alpha`` and its Knox ratio
    is at least ``min_ratio`` (default 1.1: 10 % more pairs than chance). The window grows from
    the closest band: the distance reach is the
    outer edge of the last raised band in an unbroken run from the closest distance band in the
    first time band, and the time reach likewise along the first distance band; the window is
    kept only where every band inside it is raised (shrinking the longer side until it is).
    Returns None when the closest band itself is not raised (no near-repeat window worth planning for).

    Training turns the window into the near-repeat features' half-lives and ring
    (:func:`feature_windows`) and cites its sentence in the forecast's reasons and the model card
    (:func:`training_summary`; ``docs/analysis.md``).

    Examples
    --------
    >>> tab = pd.DataFrame({"distance_from": [0, 0, 150, 150], "distance_to": [150, 150, 300, 300],
    ...     "days_from": [0, 7, 0, 7], "days_to": [7, 14, 7, 14], "observed": [30, 20, 12, 10],
    ...     "expected": [10, 10, 10, 10.0], "ratio": [3, 2, 1.2, 1.0], "p": [.01, .01, .2, .5],
    ...     "q": [.02, .02, .27, .5]})
    >>> near_repeat_windows(KnoxResult(tab, 100, 99, 0, 80)).sentence()
    'incidents here repeat within 150 m and 14 days 2.5x more often than chance'
    """
    alpha = _check_alpha("alpha", alpha)
    tab = knox.table
    d_to = np.sort(tab["distance_to"].unique())
    t_to = np.sort(tab["days_to"].unique())
    raised = ((tab["q"] < alpha) & (tab["ratio"] >= min_ratio)).to_numpy().reshape(d_to.size, t_to.size)
    if not raised[0, 0]:
        return None
    nd = int(np.argmin(np.r_[raised[:, 0], False]))
    nt = int(np.argmin(np.r_[raised[0, :], False]))
    while not raised[:nd, :nt].all():  # shrink the longer side until the rectangle is all raised
        if nd >= nt:
            nd -= 1
        else:
            nt -= 1
    inside = (tab["distance_to"] <= d_to[nd - 1]) & (tab["days_to"] <= t_to[nt - 1])
    obs, exp = float(tab.loc[inside, "observed"].sum()), float(tab.loc[inside, "expected"].sum())
    return NearRepeatWindow(float(d_to[nd - 1]), float(t_to[nt - 1]), obs / exp if exp > 0 else float("nan"),
                            float(tab.loc[inside, "q"].max()))


# ----------------------------------------------------------------------- summary
def summary(*, hot: pd.DataFrame | None = None, emerging: pd.DataFrame | None = None,
            knox: KnoxResult | None = None, alpha: float = 0.05, label: str = "incidents") -> dict:
    """A small JSON-serialisable summary a model card or report can cite.

    Parameters
    ----------
    hot : DataFrame, optional
        :func:`hot_spots` output.
    emerging : DataFrame, optional
        :func:`emerging_hot_spots` output.
    knox : KnoxResult, optional
    alpha : float, default 0.05
        FDR of the near-repeat window.
    label : str
        What the incidents are, for the near-repeat sentence (e.g. "burglaries").

    Returns
    -------
    dict
        ``hot_spots`` (cells, hot, cold, share of incidents in hot cells, High-Low and Low-High
        outliers), ``emerging`` (cells per pattern), ``near_repeat`` (window and sentence, or
        None), each present only when its input is given.

    Examples
    --------
    >>> summary(hot=pd.DataFrame({"count": [5, 1.0], "hot_spot": ["hot spot", "not significant"],
    ...     "moran_type": ["High-High", "not significant"]}))["hot_spots"]["share_of_incidents_in_hot_spots"]
    0.833
    """
    out: dict = {}
    if hot is not None:
        total = float(hot["count"].sum())
        is_hot = hot["hot_spot"] == "hot spot"
        out["hot_spots"] = {
            "cells": int(len(hot)), "hot": int(is_hot.sum()), "cold": int((hot["hot_spot"] == "cold spot").sum()),
            "share_of_incidents_in_hot_spots": round(float(hot.loc[is_hot, "count"].sum()) / total, 3)
            if total > 0 else 0.0,
            "high_low_outliers": int((hot["moran_type"] == "High-Low").sum()),
            "low_high_outliers": int((hot["moran_type"] == "Low-High").sum()),
        }
    if emerging is not None:
        vc = emerging["pattern"].value_counts()
        out["emerging"] = {k: int(vc[k]) for k in EMERGING_PATTERNS if k in vc.index}
    if knox is not None:
        win = near_repeat_windows(knox, alpha=alpha)
        out["near_repeat"] = None if win is None else {**win.to_dict(), "sentence": win.sentence(label)}
    return out


# ------------------------------------------------------------ events front door
KINDS = ("hotspots", "emerging", "near-repeat")


@dataclass
class AnalysisResult:
    """One analysis of one category and window, as every front door (CLI, dashboard, card) shows it.

    Attributes
    ----------
    kind : {"hotspots", "emerging", "near-repeat"}
    category : str
    start, end : Timestamp
        Local window, ``start <= occurred_local < end``.
    table : DataFrame
        Per cell (``hotspots``: :func:`hot_spots` columns; ``emerging``: :func:`emerging_hot_spots`
        columns), each with ``longitude, latitude`` of the cell centre; or the Knox bands.
    grid : Grid or None
        The grid of the per-cell tables.
    meta : dict
        Parameters and counts (``n_events``, ``cell_size``, ...) and ``notes`` (caveats in words).
    knox : KnoxResult, optional
    """

    kind: str
    category: str
    start: pd.Timestamp
    end: pd.Timestamp
    table: pd.DataFrame
    grid: Grid | None = None
    meta: dict = field(default_factory=dict)
    knox: KnoxResult | None = None

    @property
    def window(self) -> NearRepeatWindow | None:
        """The near-repeat window (``near-repeat`` results only)."""
        return None if self.knox is None else near_repeat_windows(self.knox, alpha=self.meta.get("alpha", 0.05))

    def summary(self) -> dict:
        """:func:`summary` of this result plus what was analysed (JSON-serialisable)."""
        label = incident_label(self.category)
        s = summary(hot=self.table if self.kind == "hotspots" else None,
                    emerging=self.table if self.kind == "emerging" else None,
                    knox=self.knox, alpha=self.meta.get("alpha", 0.05), label=label)
        return {"kind": self.kind, "category": self.category, "start": str(self.start), "end": str(self.end),
                **{k: v for k, v in self.meta.items() if k != "notes"}, "notes": list(self.meta.get("notes", [])),
                **s}


def incident_label(category: str) -> str:
    """What a category's incidents are called in sentences ("burglary incidents", or "incidents")."""
    return "incidents" if category == "all" else f"{category} incidents"


def near_repeat_table(knox: KnoxResult, *, alpha: float = 0.05) -> str:
    """The Knox ratios as a text table, distance bands by time bands; ``*`` marks q < ``alpha``.

    Examples
    --------
    >>> tab = pd.DataFrame({"distance_from": [0.0, 0], "distance_to": [150.0, 150], "days_from": [0.0, 7],
    ...     "days_to": [7.0, 14], "observed": [30, 10], "expected": [10, 10.0], "ratio": [3.0, 1.0],
    ...     "p": [.001, .6], "q": [.002, .6]})
    >>> print(near_repeat_table(KnoxResult(tab, 50, 999, 0, 40)))
    Knox ratio (observed / expected pairs; * q < 0.05)
    distance, days        0-7      7-14
    0-150 m             3.00*     1.00
    """
    t = knox.table
    cols = [f"{a:g}-{b:g}" for a, b in t[["days_from", "days_to"]].drop_duplicates().to_numpy()]
    lines = [f"Knox ratio (observed / expected pairs; * q < {alpha:g})",
             "distance, days".ljust(15) + "".join(f"{c:>10s}" for c in cols)]
    for (a, b), g in t.groupby(["distance_from", "distance_to"], sort=True):
        cells = "".join(f"{r:9.2f}{'*' if q < alpha else ' '}" for r, q in zip(g["ratio"], g["q"], strict=True))
        lines.append((f"{f'{a:g}-{b:g} m':15s}" + cells).rstrip())
    return "\n".join(lines)


def _window(events: pd.DataFrame, category: str, start, end) -> tuple[pd.DataFrame, pd.Timestamp, pd.Timestamp]:
    """Events of ``category`` with ``start <= occurred_local < end + 1 day`` (``end`` is a last day)."""
    from forecasting.features import target_mask, usable_events
    from forecasting.schema import EVENT_COLUMNS, LATITUDE, LONGITUDE, OCCURRED_LOCAL, require_columns

    require_columns(events, EVENT_COLUMNS, "events")
    ts = pd.to_datetime(events[OCCURRED_LOCAL])
    try:
        s = pd.Timestamp(start) if start is not None else ts.min().floor("D")
        e = pd.Timestamp(end) + pd.Timedelta(days=1) if end is not None else ts.max().floor("D") + pd.Timedelta(days=1)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"start and end must be dates such as 2024-01-31; got start={start!r}, end={end!r}") from exc
    if pd.isna(s) or pd.isna(e) or e <= s:
        raise ConfigError(f"end must not precede start; got start={start}, end={end}")
    ev = usable_events(events, "day")
    ev = ev.loc[target_mask(ev, category)]  # an unknown category fails here, naming the known ones
    ts = pd.to_datetime(ev[OCCURRED_LOCAL])
    ok = (ts >= s) & (ts < e) & ev[LONGITUDE].notna() & ev[LATITUDE].notna()
    ev = ev.loc[ok.to_numpy()]
    if ev.empty:
        raise DataError(f"no {incident_label(category)} between {s.date()} and {(e - pd.Timedelta(days=1)).date()}")
    return ev, s, e


def analyse(events: pd.DataFrame, kind: str, *, category: str = "all", start=None, end=None,
            cell_size: float = DEFAULT_CELL_SIZE, grid: Grid | None = None, period: str | PeriodSpec = "week",
            alpha: float = 0.05,
            trend_alpha: float = 0.05, time_lag: int = 1, contiguity: str = "queen", distance: float | None = None,
            fdr_family: str = "cube", permutations: int | None = None, random_state: int | None = 0,
            distance_bands: Sequence[float] = DISTANCE_BANDS, time_bands: Sequence[float] = TIME_BANDS,
            max_pairs: int | None = None) -> AnalysisResult:
    """Run one analysis on an events frame: the single engine behind the CLI, the jobs and the dashboard.

    Parameters
    ----------
    events : DataFrame
        Events frame (``schema.EVENT_COLUMNS``). Its locations (every category, whole history)
        define the study area when no ``grid`` is given, as for the forecasts.
    kind : {"hotspots", "emerging", "near-repeat"}
    category : str, default "all"
        A ``category`` or ``category_group`` value, or "all".
    start, end : date-like, optional
        First and last day of the window (inclusive); default the events' range.
    cell_size : float, default 150
        Square cell edge in metres (ignored when ``grid`` is given).
    grid : Grid, optional
    period : str or PeriodSpec, default "week"
        Periods of the emerging hot spot cube (a string as :meth:`PeriodSpec.parse` reads it).
    alpha, trend_alpha, time_lag, contiguity, distance, fdr_family
        See :func:`hot_spots` and :func:`emerging_hot_spots`.
    permutations : int, optional
        Local Moran's I (default 999) or Knox (default 999) permutations.
    random_state : int, optional
    distance_bands, time_bands
        Knox bands, metres and days.
    max_pairs : int, optional
        Knox: test a seeded sample of at most this many pairs (see :func:`knox_test`).

    Returns
    -------
    AnalysisResult

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ev = pd.DataFrame({"occurred_local": pd.Timestamp("2024-01-01") + pd.to_timedelta(
    ...     rng.uniform(0, 90, 300), unit="D"), "longitude": -123.1 + rng.normal(0, .005, 300),
    ...     "latitude": 49.28 + rng.normal(0, .005, 300), "category": "theft", "category_group": "property"})
    >>> analyse(ev, "hotspots", cell_size=300, permutations=99).table.columns[:3].tolist()
    ['cell_id', 'longitude', 'latitude']
    """
    from forecasting.features import build_panel
    from forecasting.grid import build_grid
    from forecasting.schema import LATITUDE, LONGITUDE, OCCURRED_LOCAL

    if kind not in KINDS:
        raise ConfigError(f"kind must be one of {list(KINDS)}; got {kind!r}")
    alpha = _check_alpha("alpha", alpha)
    ev, s, e = _window(events, category, start, end)
    notes: list[str] = []
    meta = {"n_events": int(len(ev)), "alpha": alpha, "random_state": random_state}
    if grid is None:
        check_positive("cell_size", cell_size, "metres")
        ok = events[LONGITUDE].notna() & events[LATITUDE].notna()
        grid = build_grid(events.loc[ok, LONGITUDE].to_numpy(float), events.loc[ok, LATITUDE].to_numpy(float),
                          cell_size=cell_size)
    meta.update(cell_size=float(grid.cell_size), crs=grid.crs.to_string(), n_cells=int(grid.n_cells))
    if kind == "near-repeat":
        if len(ev) < 3:
            raise DataError(f"the Knox test needs at least 3 {incident_label(category)} in the window; got {len(ev)}")
        x, y = grid.project(ev[LONGITUDE].to_numpy(float), ev[LATITUDE].to_numpy(float))
        t = (pd.to_datetime(ev[OCCURRED_LOCAL]) - s) / pd.Timedelta(days=1)
        k = knox_test(x, y, t.to_numpy(float), distance_bands=distance_bands, time_bands=time_bands,
                      permutations=permutations or 999, random_state=random_state, max_pairs=max_pairs)
        meta.update(permutations=k.permutations, pairs_in_reach=k.pairs_in_reach,
                    pairs_tested=int(k.meta.get("pairs_tested", k.pairs_in_reach)),
                    distance_bands=[float(v) for v in distance_bands], time_bands=[float(v) for v in time_bands])
        notes.append("p = (permutations at least as extreme + 1) / (permutations + 1); q: Benjamini-Hochberg "
                     "over the bands")
        return AnalysisResult(kind, category, s, e, k.table, None, {**meta, "notes": notes}, k)
    spec = as_spec(period)
    periods = spec.periods()
    panel = build_panel(ev, grid, periods, targets=[] if category == "all" else [category],
                        start=s, end=e - pd.Timedelta(microseconds=1))
    counts = panel.counts[category if category in panel.counts else "all"]
    meta["n_outside"] = int(panel.n_outside)
    cx, cy = grid.centroids_xy
    lon, lat = grid.to_lonlat(cx, cy)
    if kind == "hotspots":
        x = counts.sum(axis=1, dtype=np.float64)
        mean = float(x.mean())
        if mean < 3:
            notes.append(f"sparse counts ({mean:.2f} per cell on average): Gi* p-values use a normal "
                         "approximation that finds too many spots below about 3 per cell; widen the window "
                         "or the cells")
        table = hot_spots(x, grid, alpha=alpha, contiguity=contiguity, distance=distance,
                          permutations=permutations or 999, random_state=random_state)
        meta.update(permutations=permutations or 999, contiguity=contiguity, distance=distance)
    else:
        if counts.shape[1] < 2:
            raise DataError(f"emerging hot spots need at least 2 {spec.kind}s in the window; got {counts.shape[1]}")
        table = emerging_hot_spots(counts, grid, alpha=alpha, trend_alpha=trend_alpha, time_lag=time_lag,
                                   contiguity=contiguity, distance=distance, period_starts=panel.period_starts,
                                   fdr_family=fdr_family)
        meta.update(period=str(spec), n_periods=int(counts.shape[1]), time_lag=time_lag, trend_alpha=trend_alpha,
                    contiguity=contiguity, distance=distance, fdr_family=fdr_family)
    table.insert(1, "longitude", np.asarray(lon, dtype=float))
    table.insert(2, "latitude", np.asarray(lat, dtype=float))
    return AnalysisResult(kind, category, s, e, table, grid, {**meta, "notes": notes})


def card_summary(events: pd.DataFrame, *, category: str = "all", start=None, end=None,
                 cell_size: float = DEFAULT_CELL_SIZE, permutations: int = 199, random_state: int | None = 0) -> dict:
    """The three analyses of one category and window, summarised for a model card in one dict.

    Runs :func:`analyse` for ``hotspots``, ``emerging`` and ``near-repeat`` with the defaults
    (FDR 0.05, weekly cube, 0-150-300-450 m x 0-7-14-21 days) and merges their
    :meth:`AnalysisResult.summary`; ``parameters`` records what was run. A year or two of
    incidents keeps the Knox test to seconds (``docs/analysis.md``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ev = pd.DataFrame({"occurred_local": pd.Timestamp("2024-01-01") + pd.to_timedelta(
    ...     rng.uniform(0, 120, 400), unit="D"), "longitude": -123.1 + rng.normal(0, .005, 400),
    ...     "latitude": 49.28 + rng.normal(0, .005, 400), "category": "theft", "category_group": "property"})
    >>> sorted(card_summary(ev, cell_size=300, permutations=49))
    ['emerging', 'hot_spots', 'near_repeat', 'parameters']
    """
    out: dict = {"parameters": {}}
    for kind in KINDS:
        r = analyse(events, kind, category=category, start=start, end=end, cell_size=cell_size,
                    permutations=permutations, random_state=random_state)
        s = r.summary()
        key = {"hotspots": "hot_spots", "emerging": "emerging", "near-repeat": "near_repeat"}[kind]
        out[key] = s.get(key)
        out["parameters"][kind] = {k: v for k, v in s.items() if k not in ("hot_spots", "emerging", "near_repeat")}
    return out


def write_result(result: AnalysisResult, path) -> str:
    """Write a result as GeoJSON (cells), CSV or PNG (map, or the Knox ratio heat table), by suffix.

    Returns the path written. Knox results have no cells: ``.geojson`` is refused for them.
    """
    from pathlib import Path

    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".geojson", ".csv", ".png"):
        raise ConfigError(f"out must end in .geojson, .csv or .png; got {str(path)!r}")
    if suffix == ".csv":
        result.table.to_csv(p, index=False)
    elif suffix == ".geojson":
        if result.grid is None:
            raise ConfigError("a near-repeat result has no cells: write it as .csv or .png, not .geojson")
        gdf = result.grid.polygons("EPSG:4326")
        gdf = gdf.merge(result.table.drop(columns=["longitude", "latitude"]), on="cell_id")
        for c in gdf.columns:
            if str(gdf[c].dtype).startswith("datetime"):
                gdf[c] = gdf[c].astype(str)
        p.write_text(gdf.to_json(drop_id=True))
    else:
        _plot(result, p)
    return str(p)


def _plot(result: AnalysisResult, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 7), dpi=110)
    title = f"{result.category}: {result.start.date()} to {(result.end - pd.Timedelta(days=1)).date()}"
    if result.kind == "near-repeat":
        t = result.table
        rows = [f"{a:g}-{b:g} m" for a, b in t[["distance_from", "distance_to"]].drop_duplicates().to_numpy()]
        cols = [f"{a:g}-{b:g} d" for a, b in t[["days_from", "days_to"]].drop_duplicates().to_numpy()]
        r = t["ratio"].to_numpy().reshape(len(rows), len(cols))
        q = t["q"].to_numpy().reshape(len(rows), len(cols))
        im = ax.imshow(r, cmap="RdBu_r", vmin=0, vmax=max(2.0, float(np.nanmax(r))))
        for (a, b), v in np.ndenumerate(r):
            ax.text(b, a, f"{v:.2f}{'*' if q[a, b] < result.meta.get('alpha', 0.05) else ''}", ha="center",
                    va="center")
        ax.set_xticks(range(len(cols)), cols)
        ax.set_yticks(range(len(rows)), rows)
        fig.colorbar(im, ax=ax, label="observed / expected pairs (* significant after BH)")
        ax.set_title(f"Knox near-repeat ratios, {title}")
    else:
        gdf = result.grid.polygons(None).merge(result.table, on="cell_id")
        if result.kind == "hotspots":
            colours = {-3: "#2166ac", -2: "#67a9cf", -1: "#d1e5f0", 0: "#f0f0f0", 1: "#fddbc7", 2: "#ef8a62",
                       3: "#b2182b"}
            gdf.plot(ax=ax, color=gdf["gi_bin"].map(colours).to_numpy(), linewidth=0)
            ax.set_title(f"Gi* hot and cold spots (FDR {result.meta['alpha']:g}), {title}")
        else:
            gdf.plot(ax=ax, column="pattern", categorical=True, legend=True, linewidth=0, cmap="tab20",
                     legend_kwds={"fontsize": 7, "loc": "lower left"})
            ax.set_title(f"Emerging hot spots, {title}")
        ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# ------------------------------------------------- the analyses at training time
#: Defaults of the near-repeat step of training (``crimecast train``): the last year of training
#: incidents and 199 permutations keep the Knox test to seconds on a city's year (docs/analysis.md);
#: with the 9 default bands, 199 permutations let a single band reach q < 0.05.
TRAINING_DAYS = 365
TRAINING_PERMUTATIONS = 199
#: Pairs the training Knox test permutes at most (a seeded sample of places beyond it): bounds its cost
#: at about pairs x permutations x 30 ns, a few seconds, however dense the city.
TRAINING_MAX_PAIRS = 500_000


def feature_windows(window: NearRepeatWindow | None, *, cell_size: float,
                    half_lives_days: Sequence[float] = (7, 28, 91)) -> dict:
    """Near-repeat feature settings (:class:`~forecasting.features.FeatureBuilder`) from a Knox window.

    The rule (``docs/analysis.md``): the shortest half-life of the near-repeat intensities becomes
    half the window's days (an incident at the window's edge then weighs a quarter), the longer
    half-lives stay; the ring of the surrounding-cells intensity reaches the window's distance,
    ``max(1, round(distance_m / cell_size))`` cells. Without a window (nothing significantly
    raised) the settings are the builder's own: ``half_lives_days`` and a ring of 1 (the 3x3 block).

    Parameters
    ----------
    window : NearRepeatWindow or None
        From :func:`near_repeat_windows`.
    cell_size : float
        Cell edge in metres (for H3 grids, the square root of the mean cell area).
    half_lives_days : sequence of float, default (7, 28, 91)
        The builder's half-lives, the first replaced.

    Returns
    -------
    dict
        ``half_lives_days`` (tuple of float, increasing) and ``near_repeat_ring`` (int, cells).

    Examples
    --------
    >>> feature_windows(NearRepeatWindow(300.0, 7.0, 2.0, 0.01), cell_size=150)
    {'half_lives_days': (3.5, 28.0, 91.0), 'near_repeat_ring': 2}
    >>> feature_windows(None, cell_size=150)
    {'half_lives_days': (7.0, 28.0, 91.0), 'near_repeat_ring': 1}
    """
    check_positive("cell_size", cell_size, "metres")
    base = sorted(float(h) for h in half_lives_days)
    if window is None or not base:
        return {"half_lives_days": tuple(base), "near_repeat_ring": 1}
    halves = sorted({window.days / 2.0, *base[1:]})
    return {"half_lives_days": tuple(halves),
            "near_repeat_ring": max(1, int(round(window.distance_m / float(cell_size))))}


def training_summary(events: pd.DataFrame, *, before, category: str = "all", days: int = TRAINING_DAYS,
                     permutations: int = TRAINING_PERMUTATIONS, alpha: float = 0.05, random_state: int | None = 0,
                     grid: Grid | None = None, cell_size: float = DEFAULT_CELL_SIZE, hot_spots: bool = True,
                     max_pairs: int | None = TRAINING_MAX_PAIRS) -> dict:
    """The analyses a model version records: Knox near repeats (and Gi* and emerging hot spots) before a cut-off.

    Only incidents strictly before ``before`` are read (the frame is cut first, so nothing at or
    after the training cut-off can reach the windows or the summary), and of those the last
    ``days`` days; they are sorted by time and place first, so the order of the rows does not
    matter. The Knox test uses the default bands (0-150-300-450 m x 0-7-14-21 days) and
    ``permutations`` seeded permutations; :func:`near_repeat_windows` picks the window. A category
    with fewer than 3 incidents in the window gets no window (a note says why), never an error.

    Parameters
    ----------
    events : DataFrame
        Events frame (``schema.EVENT_COLUMNS``).
    before : timestamp-like
        The training cut-off (local time): incidents at or after it are ignored.
    category : str, default "all"
        The model's target.
    days : int, default TRAINING_DAYS (365)
        Length of the analysed window ending at ``before``.
    permutations : int, default TRAINING_PERMUTATIONS (199)
        Knox (and Local Moran's I) permutations.
    alpha : float, default 0.05
        FDR of the bands, the hot spots and the emerging cube.
    random_state : int, optional
    grid : Grid, optional
        The model's grid (default: one of ``cell_size`` over the events before ``before``).
    hot_spots : bool, default True
        Also summarise Gi* hot spots and emerging hot spots (weeks) of the window.
    max_pairs : int, optional, default TRAINING_MAX_PAIRS (500,000)
        The Knox test permutes a seeded sample of at most this many pairs (:func:`knox_test`).

    Returns
    -------
    dict
        JSON-serialisable: ``category``, ``start``, ``end`` (local window, end exclusive),
        ``near_repeat`` (``n_events``, ``permutations``, ``random_state``, ``alpha``,
        ``pairs_in_reach``, ``bands`` (records with ratio, p, q), ``window`` (or None), ``sentence``
        (or None), ``note``), ``hot_spots`` and ``emerging`` (see :func:`summary`; None when off or
        when they could not run) and ``seconds`` per analysis.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ev = pd.DataFrame({"occurred_local": pd.Timestamp("2024-01-01") + pd.to_timedelta(
    ...     rng.uniform(0, 200, 400), unit="D"), "longitude": -123.1 + rng.normal(0, .005, 400),
    ...     "latitude": 49.28 + rng.normal(0, .005, 400), "category": "theft", "category_group": "property"})
    >>> s = training_summary(ev, before="2024-06-01", days=90, permutations=49, hot_spots=False)
    >>> s["end"], s["near_repeat"]["window"]
    ('2024-06-01 00:00:00', None)
    """
    import time

    from forecasting.schema import EVENT_COLUMNS, LATITUDE, LONGITUDE, OCCURRED_LOCAL, require_columns

    require_columns(events, EVENT_COLUMNS, "events")
    if not (isinstance(days, int | np.integer) and days > 0):
        raise ConfigError(f"days must be a positive whole number of days; got {days!r}")
    cut = pd.Timestamp(before)
    ts = pd.to_datetime(events[OCCURRED_LOCAL])
    # The leakage guard: the analyses never see an incident at or after the cut-off.
    past = events.loc[(ts < cut).to_numpy()]
    # Sorted, so the seeded permutations (and the result) do not depend on the order rows came in.
    past = past.assign(**{OCCURRED_LOCAL: ts[(ts < cut).to_numpy()]}).sort_values(
        [OCCURRED_LOCAL, LONGITUDE, LATITUDE], kind="stable")
    start = cut - pd.Timedelta(days=int(days))
    out: dict = {"category": category, "start": str(start), "end": str(cut), "days": int(days),
                 "near_repeat": None, "hot_spots": None, "emerging": None, "seconds": {}}
    if past.empty:
        out["near_repeat"] = {"window": None, "sentence": None, "note": f"no incident before {cut}"}
        return out
    if grid is None:
        ok = past[LONGITUDE].notna() & past[LATITUDE].notna()
        from forecasting.grid import build_grid

        grid = build_grid(past.loc[ok, LONGITUDE].to_numpy(float), past.loc[ok, LATITUDE].to_numpy(float),
                          cell_size=cell_size)
    # analyse() reads whole days, start <= t < end + 1 day: the last day is the one before the cut-off's
    # day, and the cut-off day's incidents before the cut-off are already in `past`.
    recent = past.loc[(pd.to_datetime(past[OCCURRED_LOCAL]) >= start).to_numpy()]
    last_day = (cut - pd.Timedelta(microseconds=1)).normalize()
    common = dict(category=category, start=start.normalize(), end=last_day, grid=grid, alpha=alpha,
                  permutations=permutations, random_state=random_state)
    label = incident_label(category)
    t0 = time.perf_counter()
    try:
        k = analyse(recent, "near-repeat", max_pairs=max_pairs, **common)
    except DataError as exc:
        out["near_repeat"] = {"window": None, "sentence": None, "note": str(exc)}
    else:
        win = k.window
        tab = k.table.astype({"observed": "int64"}).round({"expected": 2, "ratio": 3, "p": 4, "q": 4})
        out["near_repeat"] = {
            "n_events": k.knox.n_events, "permutations": k.knox.permutations, "random_state": random_state,
            "alpha": alpha, "min_ratio": MIN_RATIO, "pairs_in_reach": k.knox.pairs_in_reach,
            "pairs_tested": k.meta["pairs_tested"],
            "bands": tab.to_dict(orient="records"),
            "window": None if win is None else win.to_dict(),
            "sentence": None if win is None else win.sentence(label),
            "note": None if win is not None else no_window_sentence(alpha),
        }
    out["seconds"]["near_repeat"] = round(time.perf_counter() - t0, 3)
    if hot_spots:
        for kind, key in (("hotspots", "hot_spots"), ("emerging", "emerging")):
            t0 = time.perf_counter()
            try:
                r = analyse(recent, kind, **common)
            except DataError:
                continue
            out[key] = r.summary().get(key)
            out["seconds"][key] = round(time.perf_counter() - t0, 3)
    return out
