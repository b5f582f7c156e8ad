"""Forecast periods in local wall-clock time: week (Monday start), day, shift and hour.

A period is an integer index counted from a fixed anchor, so indexes are comparable across
datasets: weeks from Monday 1970-01-05, days from 1970-01-01, hours from 1970-01-01 00:00 and
shifts from 1970-01-01 at ``shift_start`` o'clock. Timestamps are naive local datetimes (the
events frame's ``occurred_local``); DST transitions therefore never split or merge a period.

A :class:`PeriodSpec` (kind and shift layout) is the one value that names a period: parsed once
from the CLI or settings string, passed through forecasting, priority and exports, and stored with
every model version (``params["period_spec"]``) so a shift forecast is read back in its own layout.

Layer 1: imports only ``errors``/``schema``/``config`` plus numpy and pandas.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting.config import DEFAULT_SHIFT_HOURS, DEFAULT_SHIFT_START, check_shift_layout
from forecasting.errors import ConfigError
from forecasting.schema import PERIODS

_NS_HOUR = 3_600_000_000_000
_ANCHOR = {"week": pd.Timestamp("1970-01-05"), "day": pd.Timestamp("1970-01-01"),
           "hour": pd.Timestamp("1970-01-01"), "shift": pd.Timestamp("1970-01-01")}


@dataclass(frozen=True)
class PeriodSpec:
    """What a period is: its kind and, for shifts, the layout of the day's shifts.

    Parameters
    ----------
    kind : {"week", "day", "shift", "hour"}
    shift_start : int, default 6
        Hour (0-23, local time) at which the first shift of the day starts.
    shift_hours : int, default 8
        Shift length in hours; must divide 24.

    Only shifts have a layout: other kinds keep the default one, so two week specs are equal.
    ``str()`` is the kind, with ``:START+HOURS`` for a shift layout other than the default, and
    :meth:`parse` reads it back.

    Examples
    --------
    >>> spec = PeriodSpec.parse("shift", shift_start=22)
    >>> spec, str(spec)
    (PeriodSpec(kind='shift', shift_start=22, shift_hours=8), 'shift:22+8')
    >>> PeriodSpec.parse(str(spec)) == spec, str(PeriodSpec("week"))
    (True, 'week')
    >>> spec.label(spec.periods().index(pd.to_datetime(["2024-03-04 23:00"]))[0])
    '2024-03-04/0'
    """

    kind: str = "week"
    shift_start: int = DEFAULT_SHIFT_START
    shift_hours: int = DEFAULT_SHIFT_HOURS

    def __post_init__(self) -> None:
        if self.kind not in PERIODS:
            raise ConfigError(f"period must be one of {list(PERIODS)}; got {self.kind!r}")
        start, hours = check_shift_layout(self.shift_start, self.shift_hours)
        if self.kind != "shift":  # a layout only means something for shifts
            start, hours = DEFAULT_SHIFT_START, DEFAULT_SHIFT_HOURS
        object.__setattr__(self, "shift_start", start)
        object.__setattr__(self, "shift_hours", hours)

    @classmethod
    def parse(cls, text: str, *, shift_start: int | None = None, shift_hours: int | None = None) -> PeriodSpec:
        """The spec of a CLI or settings string: ``week``, ``day``, ``hour``, ``shift`` or ``shift:START+HOURS``.

        ``shift_start``/``shift_hours`` (the settings) fill the layout a bare ``shift`` leaves open;
        a layout written in ``text`` must agree with them.

        Raises
        ------
        ConfigError
            Naming the accepted forms, or the layout that disagrees.
        """
        kind, sep, layout = str(text).strip().partition(":")
        start, hours = shift_start, shift_hours
        if sep:
            a, plus, b = layout.partition("+")
            if kind != "shift" or not plus or not a.isdigit() or not b.isdigit():
                raise ConfigError(f"period must be week, day, hour, shift or shift:START+HOURS (e.g. shift:22+8); "
                                  f"got {text!r}")
            if (start is not None and start != int(a)) or (hours is not None and hours != int(b)):
                raise ConfigError(f"period {text!r} disagrees with shift_start={start}, shift_hours={hours}; "
                                  "give the layout once")
            start, hours = int(a), int(b)
        return cls(kind, DEFAULT_SHIFT_START if start is None else start,
                   DEFAULT_SHIFT_HOURS if hours is None else hours)

    def __str__(self) -> str:
        if self.kind == "shift" and (self.shift_start, self.shift_hours) != (DEFAULT_SHIFT_START, DEFAULT_SHIFT_HOURS):
            return f"shift:{self.shift_start}+{self.shift_hours}"
        return self.kind

    def to_dict(self) -> dict:
        """JSON-serialisable description (what a model version stores as ``params["period_spec"]``)."""
        return {"kind": self.kind, "shift_start": self.shift_start, "shift_hours": self.shift_hours}

    @classmethod
    def from_dict(cls, doc: dict | None, kind: str | None = None) -> PeriodSpec:
        """The spec of :meth:`to_dict`; ``None`` (a run stored before layouts were) is ``kind``'s default."""
        if not doc:
            return cls(kind or "week")
        return cls(doc["kind"], int(doc["shift_start"]), int(doc["shift_hours"]))

    def periods(self) -> Periods:
        """The index arithmetic of this spec."""
        return Periods(self.kind, shift_start=self.shift_start, shift_hours=self.shift_hours)

    def start(self, index) -> pd.DatetimeIndex:
        """Naive local start of each period index."""
        return self.periods().start(index)

    def label(self, index: int) -> str:
        """``DATE/SHIFT`` of a shift (e.g. ``2024-03-04/2``); the local start ``YYYY-MM-DD HH:MM`` otherwise."""
        p = self.periods()
        start = p.start([int(index)])[0]
        if self.kind != "shift":
            return f"{start:%Y-%m-%d %H:%M}"
        day = (start - pd.Timedelta(hours=self.shift_start)).date()
        return f"{day:%Y-%m-%d}/{int(p.shift_of_day([int(index)])[0])}"


def as_spec(period: str | PeriodSpec | Periods) -> PeriodSpec:
    """The :class:`PeriodSpec` of a period given as a string, a spec or a :class:`Periods`.

    Examples
    --------
    >>> as_spec("day"), as_spec(Periods("shift", shift_start=7, shift_hours=12)).label(0)
    (PeriodSpec(kind='day', shift_start=6, shift_hours=8), '1970-01-01/0')
    """
    if isinstance(period, PeriodSpec):
        return period
    if isinstance(period, Periods):
        return PeriodSpec(period.kind, period.shift_start, period.shift_hours)
    return PeriodSpec.parse(period)


class Periods:
    """Maps local timestamps to period indexes and back.

    Parameters
    ----------
    kind : {"week", "day", "shift", "hour"} or PeriodSpec
        Period length. Weeks start on Monday 00:00. A :class:`PeriodSpec` brings its own layout.
    shift_start : int, default 6
        Hour (0-23) at which the first shift of the day starts.
    shift_hours : int, default 8
        Shift length in hours; must divide 24 (three 8-hour shifts by default).

    Examples
    --------
    >>> p = Periods("week")
    >>> idx = p.index(pd.to_datetime(["2024-01-01 00:00", "2024-01-07 23:59", "2024-01-08 00:00"]))
    >>> (idx - idx[0]).tolist()
    [0, 0, 1]
    >>> str(p.start(idx[:1])[0].date())
    '2024-01-01'
    >>> s = Periods("shift", shift_start=6, shift_hours=8)
    >>> s.shift_of_day(s.index(pd.to_datetime(["2024-01-01 05:59", "2024-01-01 06:00"]))).tolist()
    [2, 0]
    """

    def __init__(self, kind: str | PeriodSpec = "week", *, shift_start: int = DEFAULT_SHIFT_START,
                 shift_hours: int = DEFAULT_SHIFT_HOURS) -> None:
        if isinstance(kind, PeriodSpec):
            kind, shift_start, shift_hours = kind.kind, kind.shift_start, kind.shift_hours
        if kind not in PERIODS:
            raise ConfigError(f"period must be one of {list(PERIODS)}; got {kind!r}")
        check_shift_layout(shift_start, shift_hours)
        self.kind = kind
        self.shift_start = int(shift_start)
        self.shift_hours = int(shift_hours)
        hours = {"week": 168, "day": 24, "hour": 1, "shift": self.shift_hours}[kind]
        self.length = pd.Timedelta(hours=hours)
        self.anchor = _ANCHOR[kind] + (pd.Timedelta(hours=self.shift_start) if kind == "shift"
                                       else pd.Timedelta(0))
        self._len_ns = hours * _NS_HOUR
        self._anchor_ns = self.anchor.value

    def __repr__(self) -> str:
        extra = f", shift_start={self.shift_start}, shift_hours={self.shift_hours}" \
            if self.kind == "shift" else ""
        return f"Periods({self.kind!r}{extra})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Periods) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(tuple(self.to_dict().items()))

    @property
    def spec(self) -> PeriodSpec:
        """The :class:`PeriodSpec` of these periods."""
        return as_spec(self)

    def to_dict(self) -> dict:
        """JSON-serialisable description."""
        return {"kind": self.kind, "shift_start": self.shift_start, "shift_hours": self.shift_hours}

    @property
    def days(self) -> float:
        """Period length in days."""
        return self._len_ns / (24 * _NS_HOUR)

    def from_days(self, days: float) -> int:
        """Number of whole periods closest to ``days`` (at least 1).

        Examples
        --------
        >>> Periods("week").from_days(364), Periods("day").from_days(28)
        (52, 28)
        """
        return max(1, int(round(days / self.days)))

    def index(self, timestamps) -> np.ndarray:
        """Period index (int64) of naive local timestamps; NaT raises."""
        tz = getattr(getattr(timestamps, "dt", timestamps), "tz", None)
        if tz is not None:
            raise ConfigError(f"timestamps must be naive local wall-clock times; got tz={tz}")
        ts = pd.DatetimeIndex(np.atleast_1d(np.asarray(timestamps, dtype="datetime64[ns]")))
        if ts.hasnans:
            raise ConfigError("timestamps must not contain NaT")
        ns = ts.as_unit("ns").asi8
        return (ns - self._anchor_ns) // self._len_ns

    def start(self, index) -> pd.DatetimeIndex:
        """Naive local start of each period index."""
        idx = np.asarray(index, dtype=np.int64)
        return pd.DatetimeIndex(pd.to_datetime(idx * self._len_ns + self._anchor_ns, unit="ns"))

    def floor(self, timestamps) -> pd.DatetimeIndex:
        """Start of the period containing each timestamp."""
        return self.start(self.index(timestamps))

    def shift_of_day(self, index) -> np.ndarray:
        """Shift number within the day (0 = the shift starting at ``shift_start``)."""
        return np.asarray(index, dtype=np.int64) % (24 // self.shift_hours)

    def calendar(self, index) -> dict[str, np.ndarray]:
        """Calendar attributes of each period's start, keyed by feature name.

        Weeks give ``week_of_year`` and ``month``; days add ``day_of_week``; shifts add
        ``shift``; hours add ``hour`` and ``day_of_week``.
        """
        st = self.start(index)
        mid = st + self.length / 2  # a week straddling two months is labelled by its middle
        out = {"week_of_year": np.asarray(mid.isocalendar().week, dtype=np.float32),
               "month": np.asarray(mid.month, dtype=np.float32)}
        if self.kind != "week":
            out["day_of_week"] = np.asarray(st.day_of_week, dtype=np.float32)
        if self.kind == "shift":
            out["shift"] = self.shift_of_day(index).astype(np.float32)
        if self.kind == "hour":
            out["hour"] = np.asarray(st.hour, dtype=np.float32)
        return out

    def holiday_days(self, index, country: str, subdiv: str | None = None) -> np.ndarray:
        """Number of public-holiday days overlapping each period (``holidays`` package).

        Examples
        --------
        >>> p = Periods("day")
        >>> p.holiday_days(p.index(pd.to_datetime(["2024-12-25", "2024-12-27"])), "CA").tolist()
        [1.0, 0.0]
        """
        import holidays  # lazy: only when holidays are configured

        idx = np.asarray(index, dtype=np.int64)
        st = self.start(idx)
        years = range(int(st.year.min()) - 1, int(st.year.max()) + 2)
        try:
            cal = holidays.country_holidays(country, subdiv=subdiv, years=years)
        except NotImplementedError as exc:
            raise ConfigError(f"holidays_country must be a country code the holidays package "
                              f"knows (e.g. 'CA', 'US'); got {country!r}") from exc
        days = pd.DatetimeIndex(sorted(pd.Timestamp(d) for d in cal)).as_unit("ns").asi8
        day_ns = 24 * _NS_HOUR
        # Holiday days overlapping [start, end): counted with two searchsorted calls.
        lo = st.as_unit("ns").asi8
        hi = lo + self._len_ns
        first = np.searchsorted(days + day_ns, lo, side="right")
        last = np.searchsorted(days, hi, side="left")
        return (last - first).clip(min=0).astype(np.float32)
