"""Reference forecasts on the same grid and protocol as the model.

Every class has ``fit(panel, origin)`` returning ``self`` and ``predict_risk(panel, origin)``
returning a score per cell for the period at column ``origin``, computed from columns before it.
Scores are expected counts per period where the method defines one (naive, historical, KDE,
SEPP); ProMap's scores are rescaled to the recent mean count so deviance and Brier scores are
comparable. :class:`HindsightMap` and :class:`RateOracle` are *not* forecasts: the first reads
the period's own counts and bounds what any map could achieve; the second reads the weeks around
the period (future included, the period excluded) and approximates what a perfect estimate of
each cell's underlying rate would achieve.

Layer 3: imports layers 0-2, numpy and scipy.
"""

from __future__ import annotations

import numpy as np

from forecasting.errors import ConfigError, DataError
from forecasting.features import Panel, top_capture
from forecasting.params import Params, instance_of, is_number, positive_int, positive_number


class _Baseline(Params):
    """Shared estimator plumbing (parameters are the ``__init__`` keyword arguments)."""

    is_forecast = True

    def fit(self, panel: Panel, origin: int):
        """Nothing to learn beyond checking the parameters and the origin; returns ``self``."""
        self._validate_params()
        panel.check_origin(origin)
        self.fitted_ = True
        return self


class NaiveBaseline(_Baseline):
    """The previous period's count.

    Examples
    --------
    >>> from forecasting.grid import Grid
    >>> from forecasting.periods import Periods
    >>> g = Grid(crs="EPSG:32610", cell_size=100, col=np.array([0, 1]), row=np.array([0, 0]))
    >>> pan = Panel(g, Periods("week"), 0, {"all": np.array([[1., 2., 5.], [0., 3., 0.]], "f4")})
    >>> NaiveBaseline().fit(pan, 2).predict_risk(pan, 2).tolist()
    [2.0, 3.0]
    """

    def predict_risk(self, panel: Panel, origin: int) -> np.ndarray:
        origin = panel.check_origin(origin)
        return panel.y[:, origin - 1].astype(np.float64)


class HistoricalCounts(_Baseline):
    """Mean count per period over the last ``window_days`` (``None``: the whole history).

    Workflow names: ``historical_13``, ``historical_52``, ``historical_104`` (weeks: 91, 364
    and 728 days) and ``historical_all``.

    Examples
    --------
    >>> from forecasting.grid import Grid
    >>> from forecasting.periods import Periods
    >>> g = Grid(crs="EPSG:32610", cell_size=100, col=np.array([0]), row=np.array([0]))
    >>> pan = Panel(g, Periods("week"), 0, {"all": np.array([[4., 2., 0., 9.]], "f4")})
    >>> HistoricalCounts(window_days=14).predict_risk(pan, 3).tolist()
    [1.0]
    """

    _CONSTRAINTS = {"window_days": positive_int("days", none=True)}

    def __init__(self, *, window_days: int | None = 364) -> None:
        self.window_days = window_days

    def predict_risk(self, panel: Panel, origin: int) -> np.ndarray:
        origin = panel.check_origin(origin)
        w = origin if self.window_days is None else min(
            panel.periods.from_days(self.window_days), origin)
        return panel.y[:, origin - w:origin].sum(axis=1, dtype=np.float64) / w

    def predict_risk_many(self, panel: Panel, origins) -> np.ndarray:
        """:meth:`predict_risk` at several origins, shape ``(len(origins), n_cells)``."""
        origins = np.array([panel.check_origin(o) for o in np.atleast_1d(origins)], dtype=np.int64)
        w = None if self.window_days is None else panel.periods.from_days(self.window_days)
        sums, k = _strided_sums(panel.y, origins, 1, w, _carry(self, "predict"))
        return sums / k[:, None]


def _slot_period(panel: Panel, weekday: bool) -> int:
    """Columns between two periods in the same slot: a day's periods (x 7 for weekdays)."""
    p = panel.periods
    if p.kind == "week":
        raise ConfigError("time-of-day baselines need period 'day', 'shift' or 'hour'; got "
                          "period 'week'")
    per_day = int(round(1 / p.days))
    return per_day * (7 if weekday else 1)


def _slot_mean(y: np.ndarray, origin: int, m: int, window: int | None) -> np.ndarray:
    """Mean count per period over columns ``origin - m, origin - 2m, ...`` (``window`` of them).

    These are the periods in the same slot (shift, hour, weekday x shift) as the column
    ``origin``; all precede it. Fewer exist early in the history: the mean is over those.
    """
    k = origin // m if window is None else min(window, origin // m)
    if k == 0:
        return np.zeros(y.shape[0])
    return y[:, origin - k * m:origin:m].sum(axis=1, dtype=np.float64) / k


def _strided_sums(y: np.ndarray, origins: np.ndarray, m: int, window: int | None,
                  carry: dict | None = None):
    """Per origin ``o``: the sum of ``y[:, o - k*m : o : m]`` and ``k``, with ``k`` the last
    ``window`` periods of the slot (all when ``None``, fewer early in the history).

    Origins of one slot are taken in time order and each sum is carried from the previous one
    (add the columns that entered, drop those that left), so a block of origins costs about
    one window read per slot instead of one per origin; the sums are exact for counts.
    ``carry`` (a dict the caller keeps) holds each slot's last sum for the next call on the
    same counts array ``y``, so a backtest's next block continues from this one.
    Returns ``(sums (n_origins, n_cells) float64, k (n_origins,))``.
    """
    origins = np.asarray(origins, dtype=np.int64)
    k = origins // m if window is None else np.minimum(window, origins // m)
    lo = origins - k * m
    out = np.empty((origins.size, y.shape[0]))
    if carry is not None and carry.get("y") is not y:  # other counts: nothing to carry
        carry.clear()
        carry["y"] = y
    for r in np.unique(origins % m):  # slots of the day (or week): a handful
        idx = np.flatnonzero(origins % m == r)
        idx = idx[np.argsort(origins[idx], kind="stable")]
        po, pa, cur = carry.get(int(r), (None, None, None)) if carry is not None else (None,) * 3
        for i in idx:  # origins of this slot, in time order
            o, a = int(origins[i]), int(lo[i])
            if po is None or o < po or a < pa or a >= po:  # no usable overlap: read afresh
                cur = y[:, a:o:m].sum(axis=1, dtype=np.float64)
            else:
                cur = (cur + y[:, po:o:m].sum(axis=1, dtype=np.float64)
                       - y[:, pa:a:m].sum(axis=1, dtype=np.float64))
            out[i] = cur
            po, pa = o, a
        if carry is not None:
            carry[int(r)] = (po, pa, cur)
    return out, k


def _carry(model, key) -> dict:
    """The model's carried slot sums for ``key`` (a private cache, not a learned attribute)."""
    return model.__dict__.setdefault("_carry", {}).setdefault(key, {})


class TimeOfDayCounts(_Baseline):
    """Mean count per period over past periods in the same slot of the day (and week).

    The rule an analyst uses at short periods: *the cells with the most incidents in this
    shift of the day over the past year*. The slot is the shift of the day at shift periods,
    the hour of the day at hour periods; with ``weekday=True`` the weekday as well (same
    weekday and shift; at day periods, the same weekday).

    Workflow names: ``tod_13``, ``tod_52``, ``tod_104``, ``tod_all`` (same slot of the day over
    13, 52, 104 weeks and the whole history) and ``tod_weekday_52``, ``tod_weekday_104``,
    ``tod_weekday_all`` (same weekday and slot).

    Parameters
    ----------
    window_days : int or None, default 364
        History read, in days (``None``: all of it).
    weekday : bool, default False
        Restrict to the same weekday too.

    Examples
    --------
    >>> from forecasting.grid import Grid
    >>> from forecasting.periods import Periods
    >>> g = Grid(crs="EPSG:32610", cell_size=100, col=np.array([0]), row=np.array([0]))
    >>> y = np.array([[5., 0., 1., 3., 0., 0.]], "f4")  # two days of three shifts
    >>> pan = Panel(g, Periods("shift"), 0, {"all": y})
    >>> TimeOfDayCounts(window_days=None).fit(pan, 6).predict_risk(pan, 6).tolist()
    [4.0]
    """

    _CONSTRAINTS = {"window_days": positive_int("days", none=True), "weekday": instance_of(bool, what="True or False")}

    def __init__(self, *, window_days: int | None = 364, weekday: bool = False) -> None:
        self.window_days = window_days
        self.weekday = weekday

    def fit(self, panel: Panel, origin: int) -> TimeOfDayCounts:
        super().fit(panel, origin)
        _slot_period(panel, self.weekday)  # no slot of the day at week periods
        return self

    def predict_risk(self, panel: Panel, origin: int) -> np.ndarray:
        origin = panel.check_origin(origin)
        m = _slot_period(panel, self.weekday)
        k = None if self.window_days is None else max(1, round(self.window_days / (m * panel.periods.days)))
        return _slot_mean(panel.y, origin, m, k)

    def predict_risk_many(self, panel: Panel, origins) -> np.ndarray:
        """:meth:`predict_risk` at several origins, shape ``(len(origins), n_cells)``."""
        origins = np.array([panel.check_origin(o) for o in np.atleast_1d(origins)], dtype=np.int64)
        m = _slot_period(panel, self.weekday)
        k = None if self.window_days is None else max(1, round(self.window_days / (m * panel.periods.days)))
        sums, kk = _strided_sums(panel.y, origins, m, k, _carry(self, "predict"))
        return sums / np.maximum(kk, 1)[:, None]


#: Weights of the all-slot rate ``TimeOfDayBlend`` chooses from.
TOD_LAMBDAS = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
#: Area shares whose validation capture ``TimeOfDayBlend`` maximises (summed PAI).
TOD_SHARES = (0.01, 0.05)


class TimeOfDayBlend(_Baseline):
    """Same-slot counts plus ``lambda_`` x all-slot counts per slot, ``lambda_`` chosen on validation.

    Score = ``(same + lambda_ * all / m) / (k * (1 + lambda_))`` over the last ``window_days``:
    ``same`` counts the cell's incidents in the forecast period's slot (shift or hour of the
    day; at day periods its weekday), ``all`` those in every slot, ``m`` the slots per day
    (per week at day periods) and ``k`` the number of same-slot periods, so the score is a mean
    count per period: a convex mix of the cell's same-slot rate and its overall rate.
    ``lambda_`` is chosen from ``lambdas`` at each fit by the capture of the top 1 % and 5 %
    of the area over the ``validation_days`` before the origin (never the forecast periods).

    Workflow name: ``tod_blend``.

    Parameters
    ----------
    window_days : int or None, default 728
    validation_days : int, default 91
    lambdas : tuple of float, default ``TOD_LAMBDAS``
    weekday : bool, default False
        Slot = weekday x slot of the day (used at day periods, where the slot is the weekday).

    Examples
    --------
    >>> from forecasting.grid import Grid
    >>> from forecasting.periods import Periods
    >>> g = Grid(crs="EPSG:32610", cell_size=100, col=np.array([0]), row=np.array([0]))
    >>> y = np.array([[5., 0., 1., 3., 0., 0.]], "f4")
    >>> pan = Panel(g, Periods("shift"), 0, {"all": y})
    >>> b = TimeOfDayBlend(window_days=None, lambdas=(1.0,)).fit(pan, 6)
    >>> b.predict_risk(pan, 6).tolist()  # (4 + 1 * 9 / 6) / 2
    [2.75]
    """

    _CONSTRAINTS = {
        "window_days": positive_int("days", none=True), "validation_days": positive_int("days"),
        "lambdas": ((lambda v: isinstance(v, tuple | list) and len(v) > 0
                     and all(is_number(x) and 0 <= x < float("inf") for x in v)),
                    "a non-empty sequence of non-negative numbers"),
        "weekday": instance_of(bool, what="True or False")}

    def __init__(self, *, window_days: int | None = 728, validation_days: int = 91,
                 lambdas: tuple[float, ...] = TOD_LAMBDAS, weekday: bool = False) -> None:
        self.window_days = window_days
        self.validation_days = validation_days
        self.lambdas = lambdas
        self.weekday = weekday

    def _k(self, panel: Panel, m: int) -> int | None:
        if self.window_days is None:
            return None
        return max(1, round(self.window_days / (m * panel.periods.days)))

    def _parts(self, panel: Panel, origin: int) -> tuple[np.ndarray, np.ndarray]:
        """(same-slot mean, all-slot mean) per period over the window before ``origin``."""
        m = _slot_period(panel, self.weekday)
        k = self._k(panel, m)
        same = _slot_mean(panel.y, origin, m, k)
        n = origin if k is None else min(k * m, origin)
        every = panel.y[:, origin - n:origin].sum(axis=1, dtype=np.float64) / max(n, 1)
        return same, every

    def fit(self, panel: Panel, origin: int) -> TimeOfDayBlend:
        super().fit(panel, origin)
        _slot_period(panel, self.weekday)  # no slot of the day at week periods
        origin = panel.check_origin(origin)
        lams = np.asarray(self.lambdas, dtype=np.float64)
        n_val = min(panel.periods.from_days(self.validation_days), origin - 1)
        cols = np.arange(origin - n_val, origin)
        if lams.size == 1 or cols.size == 0:
            self.lambda_ = float(lams[0])
            self.validation_gain_ = np.full(lams.size, np.nan)
            return self
        # Validation periods precede the origin; each is scored from the history before it.
        same, every = self._parts_many(panel, cols, "validation")
        obs = panel.y[:, cols].T.astype(np.float64)
        areas = panel.grid.areas
        gains = np.array([top_capture((same + lam * every) / (1 + lam), obs, areas, TOD_SHARES)
                          for lam in lams])
        self.validation_gain_ = gains
        self.lambda_ = float(lams[int(np.argmax(gains))])
        return self

    def predict_risk(self, panel: Panel, origin: int) -> np.ndarray:
        origin = panel.check_origin(origin)
        if not hasattr(self, "lambda_"):
            raise DataError("this TimeOfDayBlend is not fitted yet; call fit(panel, origin) first")
        same, every = self._parts(panel, origin)
        return (same + self.lambda_ * every) / (1 + self.lambda_)

    def _parts_many(self, panel: Panel, origins: np.ndarray,
                    purpose: str = "predict") -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_parts` at several origins, each (n_origins, n_cells), carried origin to origin."""
        m = _slot_period(panel, self.weekday)
        k = self._k(panel, m)
        same, kk = _strided_sums(panel.y, origins, m, k, _carry(self, (purpose, "same")))
        every, nn = _strided_sums(panel.y, origins, 1, None if k is None else k * m,
                                  _carry(self, (purpose, "every")))
        return same / np.maximum(kk, 1)[:, None], every / np.maximum(nn, 1)[:, None]

    def predict_risk_many(self, panel: Panel, origins) -> np.ndarray:
        """:meth:`predict_risk` at several origins, shape ``(len(origins), n_cells)``."""
        origins = np.array([panel.check_origin(o) for o in np.atleast_1d(origins)], dtype=np.int64)
        if not hasattr(self, "lambda_"):
            raise DataError("this TimeOfDayBlend is not fitted yet; call fit(panel, origin) first")
        same, every = self._parts_many(panel, origins)
        return (same + self.lambda_ * every) / (1 + self.lambda_)


class TimeOfDayShrunk(_Baseline):
    """A cell's overall rate times its time-of-day profile, shrunk towards the city's (empirical Bayes).

    Over the last ``window_days`` before the forecast period, with ``n_cj`` the cell's incidents in
    slot ``j`` of the day (shift or hour; with ``weekday``, weekday x slot), ``n_c`` its total,
    ``p_j`` the city's share of slot ``j`` and ``k`` the number of periods of each slot in the
    window, the score for a period in slot ``j`` is

        ``n_c / k * (n_cj + alpha * p_j) / (n_c + alpha)``

    an expected count per period: the cell's rate split over the slots by its own profile where it
    has many incidents and by the city's where it has few. ``alpha = 0`` gives the same-slot mean
    (:class:`TimeOfDayCounts`), a large ``alpha`` the overall mean times the city's slot share
    (ranked as :class:`HistoricalCounts`). With ``alpha=None`` it is fitted at each ``fit`` by
    maximising the Dirichlet-multinomial marginal likelihood of the cells' slot counts over the
    window before the origin (the profiles' spread around the city's), so no validation grid is
    needed.

    Workflow name: ``tod_shrunk``. The camera-priority risk of the Chicago benchmark: on its
    validation year (2017, assaults near CTA stations, 728 days) the fitted ``alpha`` is 11-16 and
    fixed strengths of 10 and 30 score alike, above historical counts, KDE and the other
    time-of-day baselines (see docs/priority_and_patrol.md).

    Parameters
    ----------
    window_days : int or None, default 728
        History read, in days (``None``: all of it).
    alpha : float or None, default None
        Pseudo-incidents of the city's profile added to each cell's (``None``: fitted).
    weekday : bool, default False
        Slots are weekday x slot of the day (at day periods: the weekday).

    Attributes
    ----------
    alpha_ : float
        The strength used (``nan`` when fitted on a window without incidents).

    Examples
    --------
    >>> from forecasting.grid import Grid
    >>> from forecasting.periods import Periods
    >>> g = Grid(crs="EPSG:32610", cell_size=100, col=np.array([0, 1]), row=np.array([0, 0]))
    >>> y = np.array([[3., 0., 0., 3., 0., 0.], [0., 1., 1., 0., 1., 1.]], "f4")  # two days
    >>> pan = Panel(g, Periods("shift"), 0, {"all": y})
    >>> m = TimeOfDayShrunk(window_days=None, alpha=2.0).fit(pan, 6)
    >>> m.predict_risk(pan, 6).round(3).tolist()  # p = (.6, .2, .2): 6/2 (6+1.2)/8, 4/2 (0+1.2)/6
    [2.7, 0.4]
    """

    _CONSTRAINTS = {"window_days": positive_int("days", none=True),
                    "alpha": ((lambda v: v is None or (is_number(v) and 0 <= v < float("inf"))),
                              "a non-negative number or None"),
                    "weekday": instance_of(bool, what="True or False")}

    def __init__(self, *, window_days: int | None = 728, alpha: float | None = None,
                 weekday: bool = False) -> None:
        self.window_days = window_days
        self.alpha = alpha
        self.weekday = weekday

    def _window(self, panel: Panel, origin: int) -> tuple[np.ndarray, int, int]:
        """The columns read before ``origin`` (whole days of slots), slots per cycle, periods per slot."""
        m = _slot_period(panel, self.weekday)
        k = origin // m
        if self.window_days is not None:
            k = min(k, max(1, round(self.window_days / (m * panel.periods.days))))
        return panel.y[:, origin - k * m:origin], m, k

    def slot_history(self, panel: Panel, origin: int) -> tuple[np.ndarray, float]:
        """What the score for ``origin`` reads of each cell's own slot: its incidents, and over how many days.

        Returns
        -------
        (ndarray of int64, float)
            Per cell, the incidents in the periods of ``origin``'s slot within the window; the
            window's length in days.

        Examples
        --------
        >>> from forecasting.grid import Grid
        >>> from forecasting.periods import Periods
        >>> g = Grid(crs="EPSG:32610", cell_size=100, col=np.array([0]), row=np.array([0]))
        >>> pan = Panel(g, Periods("shift"), 0, {"all": np.array([[3., 0., 1., 2., 0., 0.]], "f4")})
        >>> counts, days = TimeOfDayShrunk(window_days=None).slot_history(pan, 6)
        >>> counts.tolist(), days
        ([5], 2.0)
        """
        y, m, k = self._window(panel, origin)
        return y[:, 0::m].sum(axis=1).astype(np.int64), k * m * panel.periods.days

    def _slot_counts(self, panel: Panel, origin: int) -> np.ndarray:
        """Counts per cell and slot over the window (slot 0 = the slot of ``origin``)."""
        y, m, k = self._window(panel, origin)
        # Column origin - k*m + i*m + j lies in the same slot as origin when j = 0.
        return np.stack([y[:, j::m].sum(axis=1, dtype=np.float64) for j in range(m)], axis=1)

    def fit(self, panel: Panel, origin: int) -> TimeOfDayShrunk:
        super().fit(panel, origin)
        origin = panel.check_origin(origin)
        if self.alpha is not None:
            self.alpha_ = float(self.alpha)
            return self
        self.alpha_ = _dirichlet_strength(self._slot_counts(panel, origin))
        return self

    def predict_risk(self, panel: Panel, origin: int) -> np.ndarray:
        origin = panel.check_origin(origin)
        if not hasattr(self, "alpha_"):
            raise DataError("this TimeOfDayShrunk is not fitted yet; call fit(panel, origin) first")
        y, m, k = self._window(panel, origin)
        if k == 0:
            return np.zeros(panel.n_cells)
        # Two row sums (all slots, the origin's slot) instead of a per-slot table: one per shift.
        n_c = y.sum(axis=1, dtype=np.float64)
        same = y[:, ::m].sum(axis=1, dtype=np.float64)
        if n_c.sum() == 0:
            return np.zeros(panel.n_cells)
        p0 = same.sum() / n_c.sum()
        a = self.alpha_ if np.isfinite(self.alpha_) else 0.0
        share = np.divide(same + a * p0, n_c + a, out=np.full(n_c.size, p0), where=n_c + a > 0)
        return n_c / k * share


def _dirichlet_strength(n_cj: np.ndarray) -> float:
    """Concentration ``alpha`` of cells' slot shares around the pooled share, by marginal likelihood.

    The Dirichlet-multinomial log-likelihood with mean fixed at the pooled profile ``p``:
    ``sum_c [lnG(alpha) - lnG(n_c + alpha) + sum_j (lnG(n_cj + alpha p_j) - lnG(alpha p_j))]``,
    maximised over ``log alpha`` in [-7, 12]. ``nan`` without incidents.
    """
    from scipy.optimize import minimize_scalar
    from scipy.special import gammaln

    n_c = n_cj.sum(axis=1)
    total = n_c.sum()
    if total == 0:
        return float("nan")
    p = n_cj.sum(axis=0) / total
    used = p > 0  # a slot without any incident adds nothing to any cell's likelihood
    x, p, n_c = n_cj[n_c > 0][:, used], p[used], n_c[n_c > 0]

    def neg_loglik(log_a: float) -> float:
        a = np.exp(log_a)
        return -float((gammaln(a) - gammaln(n_c + a)).sum() + (gammaln(x + a * p) - gammaln(a * p)).sum())

    return float(np.exp(minimize_scalar(neg_loglik, bounds=(-7.0, 12.0), method="bounded").x))


class KDEBaseline(_Baseline):
    """Gaussian kernel density over cell centroids of past counts.

    Parameters
    ----------
    bandwidth : float, default 200
        Gaussian standard deviation, metres.
    window_days : int or None, default 364
        History used (``None``: all).
    """

    _CONSTRAINTS = {"bandwidth": positive_number("metres"), "window_days": positive_int("days", none=True)}

    def __init__(self, *, bandwidth: float = 200.0, window_days: int | None = 364) -> None:
        self.bandwidth = bandwidth
        self.window_days = window_days

    def predict_risk(self, panel: Panel, origin: int) -> np.ndarray:
        origin = panel.check_origin(origin)
        if not self.bandwidth > 0:
            raise ConfigError(f"bandwidth must be a positive number of metres; got {self.bandwidth!r}")
        w = origin if self.window_days is None else min(
            panel.periods.from_days(self.window_days), origin)
        mean = panel.y[:, origin - w:origin].sum(axis=1, dtype=np.float64) / w
        return self._smooth(panel, mean)

    def _smooth(self, panel: Panel, mean: np.ndarray) -> np.ndarray:
        h = float(self.bandwidth)
        # Kernel weights sum to ~1 over the plane, so the smoothed field is still a rate.
        area = panel.grid.cell_size**2
        return panel.grid.kernel_smooth(
            mean, lambda d: area / (2 * np.pi * h * h) * np.exp(-0.5 * (d / h) ** 2), 3 * h)

    def predict_risk_many(self, panel: Panel, origins) -> np.ndarray:
        """:meth:`predict_risk` at several origins (one smoothing of every origin's map)."""
        origins = np.array([panel.check_origin(o) for o in np.atleast_1d(origins)], dtype=np.int64)
        if not self.bandwidth > 0:
            raise ConfigError(f"bandwidth must be a positive number of metres; got {self.bandwidth!r}")
        w = None if self.window_days is None else panel.periods.from_days(self.window_days)
        sums, k = _strided_sums(panel.y, origins, 1, w, _carry(self, "predict"))
        return self._smooth(panel, (sums / k[:, None]).T).T


class ProMap(_Baseline):
    """Prospective hot-spotting (Bowers, Johnson & Pease 2004).

    Score = sum over past incidents within ``bandwidth`` metres and ``window_days`` of
    ``1/(1+d) * 1/(1+t)``, ``d`` the distance in cells and ``t`` the age in weeks (an incident
    in the period just before the origin has ``t = 0``). Scores are rescaled so that their sum
    is the mean total count per period over the window.
    """

    _CONSTRAINTS = {"bandwidth": positive_number("metres"), "window_days": positive_int("days")}

    def __init__(self, *, bandwidth: float = 400.0, window_days: int = 56) -> None:
        self.bandwidth = bandwidth
        self.window_days = window_days

    def predict_risk(self, panel: Panel, origin: int) -> np.ndarray:
        return self.predict_risk_many(panel, np.array([origin]))[0]

    def predict_risk_many(self, panel: Panel, origins) -> np.ndarray:
        """Scores at several origins, shape ``(len(origins), n_cells)`` (one smoothing for all)."""
        origins = np.array([panel.check_origin(o) for o in np.atleast_1d(origins)], dtype=np.int64)
        p, g = panel.periods, panel.grid
        temporal = np.empty((panel.n_cells, origins.size))
        total = np.empty(origins.size)
        for i, origin in enumerate(origins):  # origins of the block: a window read each
            w = min(p.from_days(self.window_days), int(origin))
            recent = panel.y[:, origin - w:origin].astype(np.float64)[:, ::-1]  # age 0 first
            age_weeks = np.floor(np.arange(w) * p.days / 7.0)
            temporal[:, i] = recent @ (1.0 / (1.0 + age_weeks))
            total[i] = recent.sum() / w
        score = g.kernel_smooth(temporal, lambda d: 1.0 / (1.0 + d / g.cell_size), self.bandwidth).T
        s = score.sum(axis=1)
        scale = np.divide(total, s, out=np.ones_like(s), where=s > 0)
        return score * scale[:, None]


class SEPPGrid(_Baseline):
    """Grid self-exciting point process (Mohler et al. 2015), fitted by EM.

    Intensity in cell ``n`` at time ``t`` (in periods):
    ``lambda_n(t) = mu_n + sum_{t_i < t} theta * omega * exp(-omega * (t - t_i))``.
    On period counts the kernel is integrated over each period of lag ``k >= 1``:
    ``theta * (1 - q) * q**(k - 1)`` with ``q = exp(-omega)``.

    The E-step needs the triggering sums only where incidents happened (elsewhere the
    responsibilities are zero), so they are computed on the non-zero cell-periods alone: a
    causal recursion over each cell's successive incidents, one step per incident rank,
    vectorised across cells. At shift and hour periods fewer than 1 % of cell-periods hold an
    incident, so this is about two orders of magnitude less work and memory than filtering the
    dense cells x periods window, with the same estimates up to floating-point rounding.

    Parameters
    ----------
    window_days : int, default 728
        Training window.
    n_iter : int, default 40
        Maximum EM iterations (stops earlier when theta and q move less than ``tol``).
    theta0, omega0 : float
        Starting values (``omega`` per period); a refit starts from the previous solution.
    """

    _CONSTRAINTS = {"window_days": positive_int("days"), "n_iter": positive_int(), "theta0": positive_number(),
                    "omega0": positive_number(), "tol": positive_number()}

    def __init__(self, *, window_days: int = 728, n_iter: int = 40, theta0: float = 0.1,
                 omega0: float = 0.5, tol: float = 1e-4) -> None:
        self.window_days = window_days
        self.tol = tol
        self.n_iter = n_iter
        self.theta0 = theta0
        self.omega0 = omega0

    @staticmethod
    def _events(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
        """Non-zero cell-periods of ``x`` (cells x periods): cell, period, count, and the
        positions of each cell's 2nd, 3rd, ... incident period (one array per rank)."""
        cell, t = np.nonzero(x)  # row-major: sorted by cell, then period
        c = x[cell, t].astype(np.float64)
        per_cell = np.bincount(cell, minlength=x.shape[0])
        rank = np.arange(cell.size) - np.repeat(np.cumsum(per_cell) - per_cell, per_cell)
        order = np.argsort(rank, kind="stable")
        bounds = np.cumsum(np.bincount(rank))
        steps = [order[bounds[r - 1]:bounds[r]] for r in range(1, bounds.size)]
        return cell, t, c, steps

    @staticmethod
    def _lagged(t: np.ndarray, c: np.ndarray, steps: list[np.ndarray], q: float):
        """At each incident ``j`` of a cell: ``a_j = sum_{i<j} q**(t_j-1-t_i) c_i`` and
        ``b_j = sum_{i<j} (t_j-t_i) q**(t_j-1-t_i) c_i`` over the cell's earlier incidents.

        Recursion over ranks: with ``S_j = sum_{i<=j} q**(t_j-t_i) c_i`` and
        ``R_j = sum_{i<=j} (t_j-t_i) q**(t_j-t_i) c_i``, a step of ``d = t_j - t_{j-1}``
        periods gives ``S_j = c_j + q**d S_{j-1}`` and ``R_j = q**d (R_{j-1} + d S_{j-1})``.
        """
        s, r = c.copy(), np.zeros_like(c)
        a, b = np.zeros_like(c), np.zeros_like(c)
        for j in steps:  # one step per incident rank, vectorised across cells
            prev = j - 1
            d = (t[j] - t[prev]).astype(np.float64)
            decay = q ** (d - 1)
            sp = s[prev]
            a[j] = decay * sp
            b[j] = decay * (r[prev] + d * sp)
            s[j] = c[j] + q * a[j]
            r[j] = q * b[j]
        return a, b

    def fit(self, panel: Panel, origin: int) -> SEPPGrid:
        self._validate_params()
        origin = panel.check_origin(origin)
        w = min(panel.periods.from_days(self.window_days), origin)
        x = panel.y[:, origin - w:origin]
        cell, t, c, steps = self._events(x)
        total = c.sum()
        if total == 0:
            raise DataError("SEPP needs at least one incident in its training window")
        n, n_t = x.shape
        theta, q = float(self.theta0), float(np.exp(-self.omega0))
        mu = np.bincount(cell, c, minlength=n) / n_t * 0.5 + 1e-6
        if getattr(self, "mu_", None) is not None and self.mu_.shape == mu.shape:
            # Refit on a window shifted by a few periods: start from the last solution.
            mu, theta, q = self.mu_.copy(), self.theta_, float(np.exp(-self.omega_))
        for _ in range(int(self.n_iter)):
            old = (theta, q)
            a, b = self._lagged(t, c, steps, q)
            trig = theta * (1 - q) * a
            r = c / (mu[cell] + trig)  # responsibilities' scale; zero where no incident
            p_bg = mu * np.bincount(cell, r, minlength=n)
            n_trig = (trig * r).sum()
            lag_w = theta * (1 - q) * (b * r).sum()
            mu = np.maximum(p_bg / n_t, 1e-9)
            theta = float(np.clip(n_trig / total, 1e-6, 0.99))
            mean_lag = lag_w / max(n_trig, 1e-12)
            q = float(np.clip(1 - 1 / max(mean_lag, 1.0 + 1e-9), 1e-6, 0.999))
            if abs(theta - old[0]) < self.tol and abs(q - old[1]) < self.tol:
                break
        self.mu_, self.theta_, self.omega_ = mu, theta, -np.log(q)
        self.window_ = (origin - w, origin)
        return self

    def predict_risk(self, panel: Panel, origin: int) -> np.ndarray:
        return self.predict_risk_many(panel, np.array([origin]))[0]

    def predict_risk_many(self, panel: Panel, origins) -> np.ndarray:
        """Scores for several origin columns at once, shape ``(len(origins), n_cells)``.

        Triggering from every past incident in the fitted window up to each origin, carried
        from one origin to the next (``E(o') = q**(o'-o) E(o) + new periods``), so a block of
        consecutive origins reads each column once.
        """
        if not hasattr(self, "mu_"):
            raise DataError("this SEPPGrid is not fitted yet; call fit(panel, origin) first")
        origins = np.array([panel.check_origin(o) for o in np.atleast_1d(origins)], dtype=np.int64)
        q = np.exp(-self.omega_)
        out = np.empty((origins.size, panel.n_cells))
        e, at = np.zeros(panel.n_cells), self.window_[0]
        for i in np.argsort(origins, kind="stable"):  # origins in time order
            o = int(origins[i])
            if o < at:  # before the last one asked: start again from the window's start
                e, at = np.zeros(panel.n_cells), self.window_[0]
            e = e * q ** (o - at) + _decayed_sum(panel.y, at, o, q)
            at = o
            out[i] = self.mu_ + self.theta_ * (1 - q) * e
        return out


#: Columns of the counts read at once by :func:`_decayed_sum` (bounds its float64 copy).
_SUM_CHUNK = 512


def _decayed_sum(y: np.ndarray, lo: int, hi: int, q: float) -> np.ndarray:
    """``sum_{s in [lo, hi)} q**(hi-1-s) y[:, s]`` per cell, read in column chunks."""
    out = np.zeros(y.shape[0])
    for a in range(lo, hi, _SUM_CHUNK):  # a few chunks of columns
        b = min(a + _SUM_CHUNK, hi)
        out += y[:, a:b].astype(np.float64) @ q ** (hi - 1 - np.arange(a, b, dtype=np.float64))
    return out


class HindsightMap(_Baseline):
    """NOT A FORECAST: the evaluation period's own counts (best fixed map in hindsight).

    It is the upper bound a map could reach and the reference for PEI*. Labelled
    ``hindsight (not a forecast)`` in reports; never written to ``scores.parquet``.
    """

    is_forecast = False

    def predict_risk(self, panel: Panel, origin: int) -> np.ndarray:
        origin = int(origin)
        if not 0 <= origin < panel.n_periods:
            raise DataError(f"hindsight needs the period's counts; origin {origin} is outside "
                            f"the panel's 0..{panel.n_periods - 1}")
        # Densest cells first (equal-area grids: the counts themselves).
        areas = panel.grid.areas
        return panel.y[:, origin].astype(np.float64) * (areas.mean() / areas)


class RateOracle(_Baseline):
    """NOT A FORECAST: each cell's recent-and-coming rate around the forecast period.

    The score is a weighted mean of the cell's counts in the periods before *and after* the
    period, weights ``exp(-|lag| / scale)`` out to three scales, the period itself excluded
    (cut at the panel's ends). At shift and hour periods (``time_of_day=True``) it reads only
    the periods in the same slot of the day (the same shift, the same hour): a same-slot map
    in hindsight, since a rate that ignored the time of day is no ceiling there (the
    time-of-day count rules beat it). It knows where crime usually is at that time, but not
    the period's own chance variation, so it approximates the ceiling for forecasts of cells'
    underlying rates from their own counts: the gap between it and the strongest baseline is
    the room a better rate forecast could win, the gap between it and :class:`HindsightMap`
    is chance no rate forecast captures. It is an approximation: a model that also reads
    neighbours and other categories can exceed it. Labelled ``(not a forecast)`` in reports;
    never written to ``scores.parquet``.

    Parameters
    ----------
    scale_days : int, default 182
        Decay scale of the weights (26 weeks: on the 2023 Vancouver validation year and the
        2018-2019 Chicago backtest it came out best or close to best, on average over
        targets, among flat windows of 13, 26 and 52 weeks and scales of 13 and 26 weeks).
    time_of_day : bool, default True
        At shift and hour periods, read only periods in the forecast period's slot of the
        day (no effect at day and week periods).

    Examples
    --------
    >>> from forecasting.grid import Grid
    >>> from forecasting.periods import Periods
    >>> g = Grid(crs="EPSG:32610", cell_size=100, col=np.array([0]), row=np.array([0]))
    >>> pan = Panel(g, Periods("week"), 0, {"all": np.array([[2., 2., 9., 2., 2.]], np.float32)})
    >>> RateOracle().fit(pan, 2).predict_risk(pan, 2).tolist()
    [2.0]
    >>> y = np.array([[0., 0., 3., 0., 0., 3., 0., 0., 3.]], np.float32)  # night shifts only
    >>> pan = Panel(g, Periods("shift"), 0, {"all": y})
    >>> RateOracle().predict_risk_many(pan, [4, 5]).round(6).tolist()  # day shift, night shift
    [[0.0], [3.0]]
    """

    is_forecast = False
    _CONSTRAINTS = {"scale_days": positive_int("days"), "time_of_day": instance_of(bool, what="True or False")}

    def __init__(self, *, scale_days: int = 182, time_of_day: bool = True) -> None:
        self.scale_days = scale_days
        self.time_of_day = time_of_day

    def _step(self, panel: Panel) -> int:
        """Columns between two periods the oracle reads together: a day's periods at shifts
        and hours (same slot), else 1."""
        p = panel.periods
        return int(round(1 / p.days)) if self.time_of_day and p.kind in ("shift", "hour") else 1

    def predict_risk(self, panel: Panel, origin: int) -> np.ndarray:
        return self.predict_risk_many(panel, np.array([origin]))[0]

    def predict_risk_many(self, panel: Panel, origins) -> np.ndarray:
        """Scores at several origin columns, shape ``(len(origins), n_cells)``.

        One weight matrix per slot of the day (lags x origins) and one product with the
        slot's columns, read in chunks, instead of one pass over the window per origin.
        """
        origins = np.asarray(np.atleast_1d(origins), dtype=np.int64)
        bad = (origins < 0) | (origins >= panel.n_periods)
        if bad.any():
            raise DataError(f"rate_oracle needs the periods around the forecast; origin "
                            f"{int(origins[bad][0])} is outside the panel's 0..{panel.n_periods - 1}")
        scale = panel.periods.from_days(self.scale_days)
        m = self._step(panel)
        out = np.zeros((origins.size, panel.n_cells))
        for r in np.unique(origins % m):  # slots of the day: at most 24
            idx = np.flatnonzero(origins % m == r)
            o = origins[idx]
            lo = max(int(o.min()) - 3 * scale, 0)
            lo += (r - lo) % m  # first column of this slot
            cols = np.arange(lo, min(int(o.max()) + 3 * scale + 1, panel.n_periods), m)
            lag = np.abs(cols[:, None] - o[None, :])
            w = np.where((lag <= 3 * scale) & (lag > 0), np.exp(-lag / scale), 0.0)
            tot = w.sum(axis=0)
            w = np.divide(w, tot, out=np.zeros_like(w), where=tot > 0)
            acc = np.zeros((panel.n_cells, o.size))
            for a in range(0, cols.size, _SUM_CHUNK):  # chunks of columns bound the float64 copy
                acc += panel.y[:, cols[a:a + _SUM_CHUNK]].astype(np.float64) @ w[a:a + _SUM_CHUNK]
            out[idx] = acc.T
        return out
