"""Grid panel and features: the one place where the leakage guard lives.

A :class:`Panel` holds dense incident counts, cells x periods, for every target (``"all"`` and
each named category). :class:`FeatureBuilder` turns a panel into features for a set of
*origin* columns: the feature vector of cell ``i`` at origin ``t`` is computed from
``counts[:, :t]`` only (incidents strictly before the period being forecast). Everything is
built from cumulative sums along time, so any window count is one subtraction and features for
every origin come out of a handful of whole-array operations.

Memory: the counts of one target take ``4 * cells * periods`` bytes (float32). Building
features for ``n`` origins returns ``4 * n_features * cells * n`` bytes and, on the way, holds
a few float32/int32 arrays of ``4 * cells * periods`` bytes at a time (cumulative sums of the
target and of the other categories, one near-repeat filter output, the last-incident index,
raster box sums on the bounding raster): about ``5 x 4 * cells * periods`` bytes besides the
output. Every feature block is written straight into the output.

Layer 2: imports layers 0-1 plus numpy, pandas and scipy.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from forecasting.errors import ConfigError, DataError, InputError
from forecasting.grid import Grid
from forecasting.periods import Periods
from forecasting.schema import (
    ALL_CATEGORIES,
    CATEGORY,
    CATEGORY_GROUP,
    EVENT_COLUMNS,
    LATITUDE,
    LONGITUDE,
    OCCURRED_LOCAL,
    TIME_RESOLUTION,
    require_columns,
)

#: Time resolutions precise enough to place an incident in a period of each kind.
USABLE_RESOLUTIONS = {
    "week": ("minute", "hour", "day"),
    "day": ("minute", "hour", "day"),
    "shift": ("minute", "hour"),
    "hour": ("minute", "hour"),
}


def usable_events(events: pd.DataFrame, period: str) -> pd.DataFrame:
    """Drop events whose ``time_resolution`` is too coarse for ``period``, with a warning.

    Month-resolution rows cannot be placed in a week, day, shift or hour; day-resolution rows
    cannot be placed in a shift or hour. The frame follows the events contract (``schema``).
    """
    if TIME_RESOLUTION not in events.columns:
        return events
    ok = events[TIME_RESOLUTION].isin(USABLE_RESOLUTIONS[period]).to_numpy()
    if not ok.all():
        dropped = events.loc[~ok, TIME_RESOLUTION].value_counts().to_dict()
        warnings.warn(
            f"dropped {int((~ok).sum())} incident(s) whose time_resolution is too coarse for "
            f"period={period!r} ({dropped}); only {list(USABLE_RESOLUTIONS[period])} can be used",
            stacklevel=2,
        )
        if not ok.any():
            raise DataError(f"no incident has a time_resolution usable for period={period!r}; "
                            f"got {dropped}")
        return events.loc[ok]
    return events


def target_mask(events: pd.DataFrame, target: str) -> np.ndarray:
    """Boolean mask of the events counted by ``target``.

    ``"all"`` matches every event; another name matches ``category`` when any event has that
    category, else ``category_group``.
    """
    if target == ALL_CATEGORIES:
        return np.ones(len(events), dtype=bool)
    m = (events[CATEGORY] == target).to_numpy()
    if not m.any() and CATEGORY_GROUP in events.columns:
        m = (events[CATEGORY_GROUP] == target).to_numpy()
    if not m.any():
        known = sorted(set(events[CATEGORY].astype(str)) | set(events[CATEGORY_GROUP].astype(str)))
        raise DataError(f"category {target!r} matches no incident's category or category_group; "
                        f"known values include {known[:12]}")
    return m


@dataclass(eq=False)
class Panel:
    """Dense incident counts per target, cells x periods, on one grid.

    Attributes
    ----------
    grid : Grid
    periods : Periods
    first : int
        Period index of column 0.
    counts : dict of str to ndarray (n_cells, n_periods), float32
        Always holds ``"all"``.
    target : str
        The target models fit and predict (see :meth:`for_target`).
    data_hash : str
        Hash of the counts, recorded in model metadata.
    n_outside : int
        Incidents that fell outside the study area (not counted).
    context : ContextFeatures, optional
        Extra feature blocks (camera activity, places, areas) from :mod:`forecasting.context`;
        models that opt in (``LGBMRiskModel(use_context=True)``) append them to their features.
    """

    grid: Grid
    periods: Periods
    first: int
    counts: dict[str, np.ndarray]
    target: str = ALL_CATEGORIES
    data_hash: str = ""
    n_outside: int = 0
    _cache: dict = field(default_factory=dict, repr=False)
    context: object | None = field(default=None, repr=False)

    @property
    def n_cells(self) -> int:
        return self.grid.n_cells

    @property
    def n_periods(self) -> int:
        return next(iter(self.counts.values())).shape[1]

    @property
    def y(self) -> np.ndarray:
        """Counts of the current target."""
        return self.counts[self.target]

    @property
    def targets(self) -> list[str]:
        return list(self.counts)

    @property
    def period_starts(self) -> pd.DatetimeIndex:
        """Local start of every column's period."""
        return self.periods.start(self.first + np.arange(self.n_periods))

    def for_target(self, target: str) -> Panel:
        """The same panel (shared arrays and cache) with another current target."""
        if target not in self.counts:
            raise ConfigError(f"target must be one of {self.targets}; got {target!r}")
        return Panel(self.grid, self.periods, self.first, self.counts, target, self.data_hash,
                     self.n_outside, self._cache, self.context)

    def release(self) -> None:
        """Drop the feature caches of the current target (a model done with it frees them;
        another call recomputes them, with the same values)."""
        for k in [k for k in list(self._cache) if k[1] == self.target]:
            self._cache.pop(k, None)

    def column(self, when) -> int:
        """Column of the period containing local timestamp ``when`` (may be out of range)."""
        return int(self.periods.index([pd.Timestamp(when)])[0] - self.first)

    def check_origin(self, origin: int) -> int:
        """Return ``origin`` if it is a valid forecast column (1..n_periods), else raise."""
        origin = int(origin)
        if not 1 <= origin <= self.n_periods:
            raise DataError(f"origin must be a panel column in 1..{self.n_periods} (there must be "
                            f"history before it); got {origin}")
        return origin


def build_panel(events: pd.DataFrame, grid: Grid, periods: Periods, *,
                targets: tuple[str, ...] | list[str] = (), start=None, end=None) -> Panel:
    """Count events per cell and period for ``"all"`` and each named target.

    Parameters
    ----------
    events : DataFrame
        Events frame (``schema.EVENT_COLUMNS``: ``occurred_local`` naive local datetime,
        ``longitude``/``latitude`` WGS84, ``category``, ``category_group``; optional
        ``time_resolution``, rows too coarse for the period are dropped with a warning).
    grid : Grid
    periods : Periods
    targets : sequence of str
        Categories to count besides ``"all"`` (``category``, falling back to ``category_group``).
    start, end : timestamp-like, optional
        First and last local times covered (default: the events' range). Events outside are
        ignored, so the panel's shape does not depend on events beyond ``end``.

    Returns
    -------
    Panel

    Examples
    --------
    >>> ev = pd.DataFrame({"occurred_local": pd.to_datetime(["2024-01-01", "2024-01-09"]),
    ...     "longitude": [-123.1, -123.1], "latitude": [49.28, 49.28],
    ...     "category": ["Mischief", "Mischief"], "category_group": ["p", "p"]})
    >>> from forecasting.grid import build_grid
    >>> p = build_panel(ev, build_grid(ev.longitude, ev.latitude), Periods("week"))
    >>> p.counts["all"].tolist()
    [[1.0, 1.0]]
    """
    require_columns(events, EVENT_COLUMNS, "events")
    events = usable_events(events, periods.kind)
    ts = pd.to_datetime(events[OCCURRED_LOCAL])
    if getattr(ts.dt, "tz", None) is not None:
        raise InputError(f"events.occurred_local must be naive local time; got tz={ts.dt.tz}")
    valid = ts.notna().to_numpy()
    if not valid.any():
        raise DataError("events frame holds no incident with a time")
    pidx = np.full(len(events), np.iinfo(np.int64).min)
    pidx[valid] = periods.index(ts[valid].to_numpy())
    first = int(periods.index([pd.Timestamp(start)])[0]) if start is not None \
        else int(pidx[valid].min())
    last = int(periods.index([pd.Timestamp(end)])[0]) if end is not None else int(pidx[valid].max())
    if last < first:
        raise ConfigError(f"end must not precede start; got start={start}, end={end}")
    n_t = last - first + 1
    pos = grid.locate(events[LONGITUDE].to_numpy(float), events[LATITUDE].to_numpy(float))
    in_time = valid & (pidx >= first) & (pidx <= last)
    keep = in_time & (pos >= 0)
    flat = pos[keep] * n_t + (pidx[keep] - first)
    counts: dict[str, np.ndarray] = {}
    names = [ALL_CATEGORIES] + [t for t in dict.fromkeys(targets) if t != ALL_CATEGORIES]
    h = hashlib.sha256()
    for name in names:
        m = target_mask(events, name)[keep]
        c = np.bincount(flat[m], minlength=grid.n_cells * n_t).reshape(grid.n_cells, n_t)
        counts[name] = c.astype(np.float32)
        h.update(name.encode())
        h.update(counts[name].tobytes())
    return Panel(grid, periods, first, counts, ALL_CATEGORIES, h.hexdigest()[:16],
                 int((in_time & (pos < 0)).sum()))


def top_capture(scores: np.ndarray, counts: np.ndarray, areas: np.ndarray,
                shares: tuple[float, ...]) -> float:
    """Summed PAI of the top-scored cells at ``shares`` (scores and counts: periods x cells).

    The validation criterion estimators choose a setting by (``TimeOfDayBlend``'s ``lambda_``,
    ``LGBMRiskModel``'s ``blend="auto"``). Ties straddling the threshold count pro rata, as in
    :mod:`forecasting.evaluate`, so cell order never decides a choice.

    Examples
    --------
    >>> counts = np.array([[3., 1., 0., 0.]])
    >>> top_capture(np.array([[.9, .5, .1, .1]]), counts, np.ones(4), (0.25,))  # 3 of 4 in a quarter
    3.0
    >>> top_capture(np.array([[.5, .5, .1, .1]]), counts, np.ones(4), (0.25,))  # a tie: half of each
    2.0
    """
    total = max(counts.sum(), 1e-12)
    a = areas / areas.sum()
    out = 0.0
    # Only the top of each period's ranking matters: the K highest scores always cover the
    # largest share (K: enough of the smallest cells to reach it), so sort just those. The
    # threshold below is a score value, the same whatever order ties come in.
    n = scores.shape[1]
    K = min(n, int(np.searchsorted(np.cumsum(np.sort(a)), max(shares))) + 2)
    top = np.argpartition(-scores, K - 1, axis=1)[:, :K] if K < n else \
        np.broadcast_to(np.arange(n), scores.shape)
    top_scores = np.take_along_axis(scores, top, axis=1)
    o = np.argsort(-top_scores, axis=1, kind="stable")
    sorted_scores = np.take_along_axis(top_scores, o, axis=1)
    cum = np.cumsum(a[np.take_along_axis(top, o, axis=1)], axis=1)
    for s in shares:  # two shares
        # Score threshold per period where the flagged area reaches s.
        j = np.minimum((cum < s).sum(axis=1), K - 1)
        thr = sorted_scores[np.arange(len(scores)), j][:, None]
        above = scores > thr
        tie = scores == thr
        area_above = (above * a).sum(axis=1, keepdims=True)
        area_tie = (tie * a).sum(axis=1, keepdims=True)
        frac = np.clip((s - area_above) / np.maximum(area_tie, 1e-300), 0, 1)
        got = (counts * above).sum() + (counts * tie * frac).sum()
        out += got / total / s
    return float(out)


#: Bytes of origin-independent arrays :meth:`FeatureBuilder.transform` may keep on a panel
#: (one target at a time); larger panels recompute them per call.
STATE_BUDGET = 3 * 2**30
#: Bytes of features :meth:`FeatureBuilder.cached_transform` keeps (one block, one target).
CACHE_BUDGET = 256 * 2**20
#: Targets whose state and feature block a panel keeps at once: the backtest's two threads
#: may fit two targets' models together, and each would otherwise evict the other's.
CACHE_TARGETS = 2


def _cache_put(cache: dict, key: tuple, value):
    """``cache[key] = value``, first dropping the oldest entries of the same kind (``key[0]``)
    so at most ``CACHE_TARGETS`` remain; safe when two threads share the cache."""
    same = [k for k in list(cache) if k[0] == key[0] and k != key]
    for k in same[:max(0, len(same) - CACHE_TARGETS + 1)]:
        cache.pop(k, None)
    cache[key] = value
    return value


@dataclass(frozen=True)
class FeatureBuilder:
    """Feature recipe; :meth:`transform` computes it for many origins at once.

    Parameters
    ----------
    windows_days : tuple of int
        Lag windows (converted to whole periods, at least one); the whole history is always
        added as ``count_all``.
    neighbour_windows_days : tuple of int
        Windows for 3x3 and 5x5 neighbourhood counts (``n3_*``, ``n5_*``, ring sums excluding
        the cell itself).
    half_lives_days : tuple of float
        Half-lives of exponentially decaying near-repeat intensities (``nr_*``, own cell and
        the 3x3 ring).
    near_repeat_ring : int, default 1
        Reach, in cells, of the surrounding-cells near-repeat intensity: 1 is the 3x3 ring
        (``nr3_*``), 2 the 5x5 ring (``nr5_*``). Training can set it (and the half-lives) from a
        Knox test of the training incidents (:func:`forecasting.analysis.feature_windows`).
    cross_windows_days : tuple of int
        Windows for counts of the *other* categories (``all`` minus the target).
    holidays_country, holidays_subdiv : str, optional
        Public holidays per period (``holiday_days``) from the ``holidays`` package.
    include_xy : bool, default False
        Add the cell centre (km) as features (lets the model learn fixed spatial effects).
    time_of_day : bool, default True
        At day, shift and hour periods, add the cell's counts in the forecast period's slot
        (same shift or hour of the day; same weekday and slot) over several windows, its
        3x3 ring's, the other categories', and its time-of-day profile shrunk toward the
        ring's and the city's (see :func:`_time_of_day_names`). Nothing at weeks.

    Examples
    --------
    >>> fb = FeatureBuilder(windows_days=(7,), neighbour_windows_days=(), half_lives_days=(),
    ...                     cross_windows_days=())
    >>> y = np.array([[1., 0., 2., 0.]], dtype=np.float32)
    >>> from forecasting.grid import Grid
    >>> g = Grid(crs="EPSG:32610", cell_size=100, col=np.array([0]), row=np.array([0]))
    >>> pan = Panel(g, Periods("week"), 0, {"all": y})
    >>> X, names = fb.transform(pan, np.array([1, 3]))
    >>> feats = {n: float(v) for n, v in zip(names, X[:, 0, 1])}
    >>> feats["count_1p"], feats["count_all"]
    (2.0, 3.0)
    """

    windows_days: tuple[int, ...] = (7, 14, 28, 56, 91, 182, 364, 728, 1092)
    neighbour_windows_days: tuple[int, ...] = (7, 28, 91, 364, 1092)
    half_lives_days: tuple[float, ...] = (7, 28, 91)
    near_repeat_ring: int = 1
    cross_windows_days: tuple[int, ...] = (28, 364)
    holidays_country: str | None = None
    holidays_subdiv: str | None = None
    include_xy: bool = False
    time_of_day: bool = True

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, d: dict) -> FeatureBuilder:
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()})

    def _windows(self, days, periods: Periods) -> list[int]:
        return sorted({periods.from_days(d) for d in days})

    def feature_names(self, panel: Panel) -> list[str]:
        """Names of the features, in the order :meth:`transform` returns them (``FEATURE_TABLE``)."""
        return [n for block in FEATURE_TABLE for n in block.names(self, panel.periods)]

    def transform(self, panel: Panel, origins: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """Features at each origin column, from counts strictly before it.

        Walks ``FEATURE_TABLE``: each block names its features and computes them, written
        straight into the output.

        Parameters
        ----------
        panel : Panel
            Its current target is the one the features describe.
        origins : array of int
            Panel columns (1..n_periods); the feature at origin ``t`` reads columns ``< t``.

        Returns
        -------
        X : ndarray, shape (n_features, n_cells, n_origins), float32
        names : list of str
        """
        t = np.asarray(origins, dtype=np.int64)
        if t.size and (t.min() < 0 or t.max() > panel.n_periods):
            raise DataError(f"origins must be panel columns in 0..{panel.n_periods}; got "
                            f"{int(t.min())}..{int(t.max())}")
        ctx = _Context(self, panel, t)
        names = []
        for block in FEATURE_TABLE:
            block_names = block.names(self, panel.periods)
            k0 = ctx.k
            for v in block.compute(ctx):
                ctx.put(v)
            if ctx.k - k0 != len(block_names):  # a programming error in the table, not input
                raise RuntimeError(f"feature block {block.key!r} computed {ctx.k - k0} values "
                                   f"for {len(block_names)} names")
            names += block_names
        return ctx.out, names

    def _memo(self, panel: Panel, pad: int):
        """``memo(name, compute)``: origin-independent arrays of ``transform`` (cumulative sums,
        near-repeat filters, last-incident indexes), kept on the panel for the current target
        (and the ``CACHE_TARGETS - 1`` targets used before it) when they fit in
        ``STATE_BUDGET`` bytes, so later calls (refits, forecast blocks) only gather their
        columns. They depend on the counts alone, never on the origins asked for,
        so keeping them cannot leak. Otherwise each is computed, used and freed per call.
        """
        n, T = panel.y.shape
        n_arrays = 2 + len(self.half_lives_days) + 2 + (5 if self.time_of_day else 0)
        key = ("state", panel.target, repr(self), pad, id(panel.y))
        if 4 * n * (T + pad) * n_arrays > STATE_BUDGET:
            return lambda name, compute: compute()
        state = panel._cache.get(key)
        if state is None:
            state = _cache_put(panel._cache, key, {})

        def memo(name, compute):
            if name not in state:
                state[name] = compute()
            return state[name]

        return memo

    def cached_transform(self, panel: Panel, origins: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """:meth:`transform` for columns ``origins``, cached on the panel per target.

        A call outside the cached block computes a block of columns from ``min(origins)``
        (at least ``max(origins)``, about ``CACHE_BUDGET`` bytes of features, capped at the
        panel's end) and replaces the panel's block (``CACHE_TARGETS`` targets at a time), so
        memory stays bounded however long the panel; a backtest asks for its origins in order. Values are identical
        to :meth:`transform` (a feature at column ``t`` reads only columns ``< t``), so caching
        cannot leak.
        """
        t = np.asarray(origins, dtype=np.int64)
        key = ("features", panel.target, repr(self))
        hit = panel._cache.get(key)
        if hit is None or t.min() < hit[0] or t.max() >= hit[0] + hit[1].shape[2]:
            lo = int(t.min())
            block = int(np.clip(CACHE_BUDGET // (4 * len(self.feature_names(panel))
                                                 * panel.n_cells), 16, 1024))
            hi = min(max(int(t.max()), lo + block - 1), panel.n_periods)
            X, names = self.transform(panel, np.arange(lo, hi + 1))
            hit = _cache_put(panel._cache, key, (lo, X, names))
        lo, X, names = hit
        return X[:, :, t - lo], names


#: Pseudo-count of the empirical-Bayes time-of-day profiles (cell toward ring toward city):
#: a cell with fewer than about this many incidents leans mostly on its ring's profile.
TOD_PRIOR = 20.0
#: Windows (weeks) of the same-slot counts: own cell; same weekday and slot.
TOD_WEEKS = (13, 52, 104)
WEEKDAY_TOD_WEEKS = (52,)


def _slots(periods: Periods) -> list[tuple[str, int]]:
    """(prefix, columns between two periods of the same slot) for short periods."""
    per_day = int(round(1 / periods.days))
    out = [("tod", per_day)] if per_day > 1 else []
    return out + [("wdtod", 7 * per_day)]


def _time_of_day_names(periods: Periods, cross: bool) -> list[str]:
    """Names of the time-of-day block (empty at weeks).

    ``tod_{w}w`` / ``tod_all``: the cell's incidents in the same slot of the day (shift or
    hour) over the last ``w`` weeks / the whole history; ``wdtod_*``: same weekday and slot;
    ``n3_tod_52w``: the 3x3 ring's same-slot count; ``tod_share_eb``: the share of the cell's
    incidents falling in this slot, shrunk toward its ring's and the city's (empirical Bayes,
    pseudo-count ``TOD_PRIOR``), times the number of slots (1 = no time-of-day preference);
    ``tod_rate_eb``: the cell's 104-week rate times that profile (expected count this slot);
    ``ring_hours_since_last``: hours from the start of the last period with an incident in the
    3x3 ring (the cell itself excluded) to the forecast period's start (history length + 1
    period when none); ``other_tod_52w`` / ``other_hours_since_last``: other categories'
    same-slot count and hours since their last incident in the cell. (The cell's own hours
    since its last incident are ``since_last`` x the period's hours.)
    """
    if periods.kind == "week":
        return []
    names = []
    for prefix, _ in _slots(periods):
        weeks = TOD_WEEKS if prefix == "tod" else WEEKDAY_TOD_WEEKS
        names += [f"{prefix}_{w}w" for w in weeks] + [f"{prefix}_all"]
    main = _slots(periods)[0][0]
    names += [f"n3_{main}_52w", f"{main}_share_eb", f"{main}_rate_eb", "ring_hours_since_last"]
    if cross:
        names += [f"other_{main}_52w", "other_hours_since_last"]
    return names


def slot_cumsum(y: np.ndarray, m: int) -> np.ndarray:
    """``D[:, t]`` = incidents in columns ``s < t`` with ``s = t (mod m)``; shape (n, T + 1)."""
    n, T = y.shape
    L = -(-(T + 1) // m) * m
    R = np.zeros((n, L), dtype=np.float32)
    R[:, :T] = y
    R3 = R.reshape(n, L // m, m)
    D = np.zeros_like(R)
    D3 = D.reshape(n, L // m, m)
    np.cumsum(R3[:, :-1, :], axis=1, out=D3[:, 1:, :])
    del R, R3
    return D[:, :T + 1]


def _slot_window(D: np.ndarray, t: np.ndarray, m: int, k: int | None) -> np.ndarray:
    """Same-slot incidents in the ``k`` slot periods before each origin (all when ``None``)."""
    now = D[:, t]
    if k is None:
        return now
    return now - D[:, np.maximum(t - k * m, t % m)]


def _time_of_day_block(panel: Panel, t: np.ndarray, C: np.ndarray, cross: bool,
                       memo=lambda name, compute: compute()):
    """Values of :func:`_time_of_day_names` at origins ``t``, each (n_cells, n_origins).

    Reads only columns before each origin: slot cumulative sums at ``t`` hold columns ``< t``.
    """
    p, g = panel.periods, panel.grid
    y = panel.y
    slots = _slots(p)
    main_m = slots[0][1]
    main_all = main_52 = None
    for prefix, m in slots:
        D = memo(f"slot{m}", lambda m=m: slot_cumsum(y, m))
        weeks = TOD_WEEKS if prefix == "tod" else WEEKDAY_TOD_WEEKS
        for w in weeks:
            v = _slot_window(D, t, m, max(1, round(w * 7 / (m * p.days))))
            if m == main_m and w == 52:
                main_52 = v
            yield v
        v = _slot_window(D, t, m, None)
        if m == main_m:
            main_all = v
        yield v
        del D
    yield g.neighbour_sum(main_52, 1) - main_52
    # Empirical-Bayes profile: the city's share of incidents in this slot, the ring's shrunk
    # toward it, the cell's shrunk toward its ring's.
    cell_all = C[:, t]
    ring_slot = g.neighbour_sum(main_all, 1) - main_all
    ring_all = g.neighbour_sum(cell_all, 1) - cell_all
    city = (main_all.sum(axis=0) + 1.0) / (cell_all.sum(axis=0) + main_m)
    ring = (ring_slot + TOD_PRIOR * city) / (ring_all + TOD_PRIOR)
    share = (main_all + TOD_PRIOR * ring) / (cell_all + TOD_PRIOR)
    yield share * main_m
    w104 = p.from_days(728)
    span = np.minimum(t, w104).clip(min=1)
    recent = (cell_all - C[:, np.maximum(t - w104, 0)]) / span
    yield recent * share * main_m
    hours = np.float32(24 * p.days)
    yield hours * _since_last(memo("last_ring", lambda: _last_index(g.neighbour_sum(y, 1) - y)), t)
    if cross:
        if panel.target == ALL_CATEGORIES:
            yield np.zeros((panel.n_cells, t.size), dtype=np.float32)
            yield np.zeros((panel.n_cells, t.size), dtype=np.float32)
        else:
            D = memo("slot_other", lambda: slot_cumsum(panel.counts[ALL_CATEGORIES] - y, main_m))
            yield _slot_window(D, t, main_m, max(1, round(364 / (main_m * p.days))))
            del D
            last = memo("last_other", lambda: _last_index(panel.counts[ALL_CATEGORIES] - y))
            yield hours * _since_last(last, t)


def _last_index(series: np.ndarray) -> np.ndarray:
    """``L[:, s]`` = the last column ``<= s`` where ``series`` is positive (-1 if none), int32."""
    last = np.where(series > 0, np.arange(series.shape[1], dtype=np.int32), np.int32(-1))
    np.maximum.accumulate(last, axis=1, out=last)
    return last


def _since_last(last: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Periods from the last incident before each origin ``t`` to ``t`` (``t + 1`` when none).

    Reads ``last`` at column ``t - 1``: only periods strictly before the origin.
    """
    before = t - 1
    lt = _columns(last, np.maximum(before, 0)).astype(np.float32)
    lt[:, before < 0] = -1
    return np.where(lt >= 0, t - lt, t + 1).astype(np.float32)


# -- the feature table ---------------------------------------------------------------------------
class _Context:
    """What the feature blocks share at one :meth:`FeatureBuilder.transform` call.

    ``out`` is the output (features x cells x origins); ``k`` the next feature's row, so a
    block can compute in place into ``slot()``; ``Cp`` the target's cumulative counts with a
    leading zero column and ``P`` zero columns of padding in front, so counts before column
    ``t`` are ``C[:, t]`` and ``C[:, max(t - w, 0)]`` is a plain slice for contiguous origins.
    """

    def __init__(self, fb: FeatureBuilder, panel: Panel, t: np.ndarray) -> None:
        self.fb, self.panel, self.t = fb, panel, t
        self.p, self.g = panel.periods, panel.grid
        # float32 is exact for counts below 2**24 and halves memory traffic.
        self.y = panel.y.astype(np.float32, copy=False)
        self.n, self.n_o = self.y.shape[0], t.size
        self.out = np.empty((len(fb.feature_names(panel)), self.n, self.n_o), dtype=np.float32)
        self.k = 0
        p = self.p
        self.yr = p.from_days(364)
        self.P = max([2 * self.yr + 3] + fb._windows(fb.windows_days, p)
                     + fb._windows(fb.cross_windows_days, p))
        self.memo = fb._memo(panel, self.P)
        self.Cp = self.memo("C", lambda: self.cumsum_p(self.y))
        self.C = self.Cp[:, self.P:]
        self.contiguous = self.n_o > 0 and bool(np.all(np.diff(t) == 1))
        self.before = t - 1

    def put(self, v) -> None:
        out, k = self.out, self.k
        if v is not out[k] and not (isinstance(v, np.ndarray) and v.base is out):
            out[k] = v
        self.k += 1

    def slot(self) -> np.ndarray:
        """The output row of the next feature (scratch space for in-place blocks)."""
        return self.out[self.k]

    def cumsum_p(self, src: np.ndarray) -> np.ndarray:
        c = np.zeros((self.n, self.P + src.shape[1] + 1), dtype=np.float32)
        np.cumsum(src, axis=1, out=c[:, self.P + 1:])
        return c

    def at(self, cum_p: np.ndarray, shift: int) -> np.ndarray:
        """``cum[:, max(t - shift, 0)]`` (a view when origins are contiguous)."""
        if self.contiguous:
            a = self.P + int(self.t[0]) - shift
            return cum_p[:, a:a + self.n_o]
        return cum_p[:, self.P + self.t - shift]

    def win(self, cum_p: np.ndarray, w: int) -> np.ndarray:
        """Counts in the ``w`` periods before each origin, written into ``slot()``."""
        return np.subtract(self.at(cum_p, 0), self.at(cum_p, w), out=self.slot())


def _counts_names(fb: FeatureBuilder, p: Periods) -> list[str]:
    return [f"count_{w}p" for w in fb._windows(fb.windows_days, p)] + ["count_all"]


def _counts(c: _Context):
    for w in c.fb._windows(c.fb.windows_days, c.p):
        yield c.win(c.Cp, w)
    yield c.at(c.Cp, 0)


def _neighbour_names(fb: FeatureBuilder, p: Periods) -> list[str]:
    return [f"n{k}_{w}" for k in (3, 5)
            for w in [f"{w}p" for w in fb._windows(fb.neighbour_windows_days, p)] + ["all"]]


def _neighbours(c: _Context):
    # Neighbourhood sums commute with the time differences: convolve the few columns
    # needed once (ring = block minus the cell itself).
    t = c.t
    nwin = c.fb._windows(c.fb.neighbour_windows_days, c.p)
    need = np.unique(np.concatenate([t] + [np.maximum(t - w, 0) for w in nwin]))
    Csub = _columns(c.C, need)
    for r in (1, 2):
        ring = c.g.neighbour_sum(Csub, r)
        np.subtract(ring, Csub, out=ring)
        now = _columns(ring, np.searchsorted(need, t))
        for w in nwin:
            yield np.subtract(now, _columns(ring, np.searchsorted(need, np.maximum(t - w, 0))),
                              out=c.slot())
        yield now
        del ring, now


def _near_repeat_names(fb: FeatureBuilder, p: Periods) -> list[str]:
    return [n for h in fb.half_lives_days
            for n in (f"nr_{_hl(h)}", f"nr{2 * fb.near_repeat_ring + 1}_{_hl(h)}")]


def _near_repeat(c: _Context):
    # E[:, t] = sum_{s<t} y[:, s] * q**(t-1-s), a causal IIR filter; the value at origin t is
    # the filter's output at column t - 1 (zero at t = 0).
    before = c.before
    for h in c.fb.half_lives_days:
        q = 0.5 ** (1.0 / max(h / c.p.days, 1e-9))
        z = c.memo(f"nr{h}", lambda q=q: lfilter(np.array([1.0], np.float32),
                                                 np.array([1.0, -q], np.float32), c.y, axis=1))
        E = c.slot()
        E[:] = _columns(z, np.maximum(before, 0))
        E[:, before < 0] = 0
        del z
        yield E
        yield np.subtract(c.g.neighbour_sum(E, c.fb.near_repeat_ring), E, out=c.slot())


def _recency(c: _Context):
    # Periods since the last incident (history length + 1 when none), in this cell and in
    # its 3x3 block.
    for block in (False, True):
        last = c.memo(f"last{int(block)}",
                      lambda b=block: _last_index(c.g.neighbour_sum(c.y, 1) if b else c.y))
        yield _since_last(last, c.t)
        del last


def _rates(c: _Context):
    t, p, yr, Cp, at = c.t, c.p, c.yr, c.Cp, c.at
    hist = np.maximum(t, 1).astype(np.float32)
    rate = np.divide(at(Cp, 0), hist, out=c.slot())
    yield rate
    w13 = p.from_days(91)
    # ratio_recent = (recent rate + 0.1 / hist) / (rate + 0.1 / hist), written in place.
    prior = 0.1 / hist
    ratio = np.subtract(at(Cp, 0), at(Cp, w13), out=c.slot())
    ratio /= np.minimum(w13, hist)
    ratio += prior
    ratio /= rate + prior
    yield ratio
    trend = np.subtract(at(Cp, 0), at(Cp, yr), out=c.slot())
    trend -= at(Cp, yr)
    trend += at(Cp, 2 * yr)
    yield trend
    # Same season last year: the 5 periods centred on t - 1 year (all before t).
    C = c.C
    yield (at(Cp, yr - 3) - at(Cp, yr + 2) if yr >= 3 else
           C[:, np.minimum(np.maximum(t - yr + 3, 0), t)]
           - C[:, np.minimum(np.maximum(t - yr - 2, 0), t)])
    yield np.broadcast_to(hist, (c.n, c.n_o))


def _cross_names(fb: FeatureBuilder, p: Periods) -> list[str]:
    if not fb.cross_windows_days:
        return []
    return ([f"other_{w}p" for w in fb._windows(fb.cross_windows_days, p)]
            + ["other_all", "other_n3_all"])


def _cross(c: _Context):
    # Cross-category signal: incidents of every other category (none for "all").
    if not c.fb.cross_windows_days:
        return
    cross = c.fb._windows(c.fb.cross_windows_days, c.p)
    if c.panel.target == ALL_CATEGORIES:
        for _ in range(len(cross) + 2):
            zero = c.slot()
            zero[:] = 0
            yield zero
        return

    # Cumulative counts of the other categories = those of "all" minus the target's.
    def other_cumsum():
        cum = c.cumsum_p(c.panel.counts[ALL_CATEGORIES])
        return np.subtract(cum, c.Cp, out=cum)

    Cop = c.memo("Cother", other_cumsum)
    for w in cross:
        yield c.win(Cop, w)
    co_t = c.slot()
    co_t[:] = c.at(Cop, 0)
    yield co_t
    del Cop
    yield np.subtract(c.g.neighbour_sum(co_t, 1), co_t, out=c.slot())


def _calendar(c: _Context):
    for v in c.p.calendar(c.panel.first + c.t).values():
        yield np.broadcast_to(v, (c.n, c.n_o))


def _holidays(c: _Context):
    if c.fb.holidays_country:
        yield np.broadcast_to(c.p.holiday_days(c.panel.first + c.t, c.fb.holidays_country,
                                               c.fb.holidays_subdiv), (c.n, c.n_o))


def _xy(c: _Context):
    if c.fb.include_xy:
        cx, cy = c.g.centroids_xy
        yield np.broadcast_to((cx / 1000.0)[:, None], (c.n, c.n_o))
        yield np.broadcast_to((cy / 1000.0)[:, None], (c.n, c.n_o))


def _time_of_day(c: _Context):
    if c.fb.time_of_day and c.p.kind != "week":
        yield from _time_of_day_block(c.panel, c.t, c.C, bool(c.fb.cross_windows_days), c.memo)


class _Block(NamedTuple):
    """A row of ``FEATURE_TABLE``: ``names(builder, periods)`` and ``compute(context)``,
    a generator of one (cells x origins) array per name, in the same order."""

    key: str
    names: Callable[[FeatureBuilder, Periods], list[str]]
    compute: Callable[[_Context], Iterator[np.ndarray]]


#: The feature list, in output order: one row per block of features (docs/forecasting.md
#: describes each). :meth:`FeatureBuilder.feature_names` and :meth:`FeatureBuilder.transform`
#: both walk it, so names and values cannot drift apart.
FEATURE_TABLE: tuple[_Block, ...] = (
    _Block("counts", _counts_names, _counts),
    _Block("neighbours", _neighbour_names, _neighbours),
    _Block("near_repeat", _near_repeat_names, _near_repeat),
    _Block("recency", lambda fb, p: ["since_last", "n3_since_last"], _recency),
    _Block("rates", lambda fb, p: ["rate_all", "ratio_recent", "trend_year",
                                   "same_season_last_year", "history_periods"], _rates),
    _Block("cross", _cross_names, _cross),
    _Block("calendar", lambda fb, p: list(p.calendar(np.array([0]))), _calendar),
    _Block("holidays", lambda fb, p: ["holiday_days"] if fb.holidays_country else [], _holidays),
    _Block("xy", lambda fb, p: ["x_km", "y_km"] if fb.include_xy else [], _xy),
    _Block("time_of_day", lambda fb, p: (_time_of_day_names(p, bool(fb.cross_windows_days))
                                         if fb.time_of_day else []), _time_of_day),
)


def periods_spanned(name: str, periods: Periods) -> int:
    """Periods a count feature sums over, to read it as a mean count per period.

    ``count_{w}p`` spans ``w`` periods; ``tod_{w}w`` / ``wdtod_{w}w`` the same-slot periods in
    ``w`` weeks (fewer exist early in a history: the value is then an underestimate). Rates
    (``rate_all``, ``tod_rate_eb``) span 1.

    Examples
    --------
    >>> periods_spanned("tod_52w", Periods("shift")), periods_spanned("rate_all", Periods("shift"))
    (364, 1)
    """
    m = re.fullmatch(r"count_(\d+)p", name)
    if m:
        return int(m.group(1))
    m = re.fullmatch(r"(wd)?tod_(\d+)w", name)
    if m:
        slots = dict(_slots(periods))
        step = slots["wdtod" if m.group(1) else "tod"] if periods.kind != "week" else 1
        return max(1, round(int(m.group(2)) * 7 / (step * periods.days)))
    if name in ("rate_all", "tod_rate_eb"):
        return 1
    raise ConfigError(f"feature {name!r} is not a count over a window or a rate per period")


def _columns(a: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``a[:, idx]``: a view when ``idx`` is a run of consecutive columns, else a copy."""
    if idx.size and idx[-1] - idx[0] == idx.size - 1 and np.all(np.diff(idx) == 1):
        return a[:, int(idx[0]):int(idx[-1]) + 1]
    return a[:, idx]


def _hl(days: float) -> str:
    return f"{float(days):g}d"


def describe_feature(name: str, value: float, *, periods: Periods, cell_size: float) -> str:
    """A planner-readable phrase for one feature value.

    Examples
    --------
    >>> describe_feature("n3_4p", 14, periods=Periods("week"), cell_size=150)
    '14 incidents in the surrounding cells (within ~225 m) in the last 4 weeks'
    """
    unit = {"week": "week", "day": "day", "shift": "shift", "hour": "hour"}[periods.kind]

    def span(w: int) -> str:
        return f"the last {unit}" if w == 1 else f"the last {w} {unit}s"

    m = re.fullmatch(r"count_(\d+)p", name)
    if m:
        return f"{value:.0f} incidents in this cell in {span(int(m.group(1)))}"
    if name == "count_all":
        return f"{value:.0f} incidents in this cell over the whole history"
    m = re.fullmatch(r"n([35])_(\d+p|all)", name)
    if m:
        reach = (int(m.group(1)) // 2 + 0.5) * cell_size
        when = "over the whole history" if m.group(2) == "all" else f"in {span(int(m.group(2)[:-1]))}"
        return f"{value:.0f} incidents in the surrounding cells (within ~{reach:.0f} m) {when}"
    m = re.fullmatch(r"nr(\d*)_(.+)d", name)
    if m:
        where = "in the surrounding cells" if m.group(1) else "in this cell"
        return (f"recent incidents {where} (near-repeat intensity {value:.1f}, "
                f"half-life {m.group(2)} days)")
    def ago(n_periods: float) -> str:
        # Short periods read better in hours ("about 16 hours"); resolution is one period.
        if periods.kind in ("shift", "hour"):
            return f"about {n_periods * 24 * periods.days:.0f} hours"
        return f"{n_periods:.0f} {unit}(s)"

    if name == "since_last":
        return f"{ago(value)} since the last incident in this cell"
    if name == "n3_since_last":
        return f"{ago(value)} since the last incident in or around this cell"
    if name in ("ring_hours_since_last", "other_hours_since_last"):
        what = ("the last incident in the surrounding cells" if name.startswith("ring")
                else "the last incident of another category in this cell")
        return f"{ago(value / (24 * periods.days))} since {what}"
    if name == "rate_all":
        return f"long-run rate of {value:.2f} incidents per {unit}"
    if name == "ratio_recent":
        return f"recent rate is {value:.1f}x the cell's usual rate"
    if name == "trend_year":
        return f"{value:+.0f} incidents over the last year compared with the year before"
    if name == "same_season_last_year":
        return f"{value:.0f} incidents at this time last year"
    m = re.fullmatch(r"other_(\d+)p", name)
    if m:
        return f"{value:.0f} incidents of other categories in {span(int(m.group(1)))}"
    if name == "other_all":
        return f"{value:.0f} incidents of other categories in this cell over the whole history"
    if name == "other_n3_all":
        return (f"{value:.0f} incidents of other categories in the surrounding cells over the "
                "whole history")
    if name == "holiday_days":
        return f"{value:.0f} public holiday day(s) in the {unit}"
    if name in ("week_of_year", "month", "day_of_week", "shift", "hour"):
        return f"time of year/day ({name.replace('_', ' ')} {value:.0f})"
    slot = {"shift": "shift of the day", "hour": "hour of the day", "day": "weekday",
            "week": "week"}[periods.kind]
    m = re.fullmatch(r"(n3_|other_)?(wd)?tod_(\d+w|all)", name)
    if m:
        where = {"n3_": "in the surrounding cells", "other_": "of other categories in this cell",
                 None: "in this cell"}[m.group(1)]
        when = "over the whole history" if m.group(3) == "all" else \
            f"over the last {m.group(3)[:-1]} weeks"
        which = f"this weekday and {slot}" if m.group(2) and periods.kind != "day" else \
            f"this {slot}" if not m.group(2) else "this weekday"
        return f"{value:.0f} incidents {where} in {which} {when}"
    m = re.fullmatch(r"(wd)?tod_share_eb", name)
    if m:
        return (f"this {slot} usually gets {value:.1f}x its even share of the cell's incidents "
                "(pooled with the surrounding cells and the city)")
    m = re.fullmatch(r"(wd)?tod_rate_eb", name)
    if m:
        return f"usual rate in this {slot}: {value:.2f} incidents per {unit}"
    if name == "history_periods":
        return f"{value:.0f} {unit}s of history"
    return f"{name} = {value:.3g}"
