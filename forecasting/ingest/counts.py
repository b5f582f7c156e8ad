"""Activity counts per camera (or counting site) and hour or day: one adapter per format.

Counts are aggregates only: a number of people (and optionally vehicles and cyclists) that
a site saw in one period. No image, face, plate, device id or person ever enters.

Counts frame (what :func:`read_counts` yields)
-----------------------------------------------
``camera_id``     str, the site's id within its source (matches the cameras registry)
``period_start``  datetime64[UTC], start of the hour or day (local wall-clock in the source)
``resolution``    str, ``hour`` or ``day``
``people``, ``vehicles``, ``cyclists``  Int64 or NA (NA = the class is not counted)
``content_hash``  str, hash of the three counts (a re-delivery with equal counts is a duplicate)
``row_number``    int, 1-based data row of the source file

What a "row" is
---------------
Long formats (``canonical``, ``leeds``, ``melbourne``, ``chicago-cta``): one source line.
Wide formats (``auckland``: one column per sensor): one *non-blank* (sensor, hour) cell after
melting; a blank cell is a missing hour, not a row and not a zero, and is counted apart as
``blank_cells`` (missing hours become explicit gaps in the store).

Quarantine reasons produced here, in priority order: :data:`COUNT_REASONS`. Unknown cameras,
duplicates and conflicting duplicates are decided against the store by the ingest job.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from forecasting.errors import ConfigError, InputError
from forecasting.ingest.base import match_layout
from forecasting.ingest.common import clean_text, hex_digits, parse_datetimes, row_hashes, to_float
from forecasting.ingest.pipeline import QUARANTINE_COLUMNS, json_rows
from forecasting.ingest.reader import RawChunk, iter_raw_chunks

COUNT_CLASSES = ("people", "vehicles", "cyclists")
COUNT_COLUMNS = ("camera_id", "period_start", "resolution", *COUNT_CLASSES, "content_hash", "row_number")

#: Quarantine reasons of count rows decided from the row alone, in priority order.
COUNT_REASONS = (
    "missing_camera_id", "unparseable_date", "nonexistent_local_time", "implausible_date",
    "missing_count", "negative_count", "non_integer_count", "implausible_count",
)

#: Most a single site can plausibly count in one hour (14 per second, every second).
MAX_PER_HOUR = 50_000

_EARLIEST = pd.Timestamp("1990-01-01", tz="UTC")


@dataclass
class CountChunk:
    """Canonical counts (:data:`COUNT_COLUMNS`) and quarantined rows from one raw chunk.

    ``rows_read == len(counts) + len(quarantined)``; ``blank_cells`` counts the blank cells of
    wide formats (not rows).
    """

    counts: pd.DataFrame
    quarantined: pd.DataFrame
    rows_read: int
    blank_cells: int = 0


class CountAdapter:
    """Turns raw text rows of one counts format into long count rows.

    :meth:`convert` returns a frame with ``camera_id`` (str or NA), ``period_naive`` (naive
    local datetime, NaT when unparseable), ``resolution``, one text column per class in
    :data:`COUNT_CLASSES` (NA when not counted), ``pos`` (the raw row's position) and
    ``cell`` (the wide column a value came from, else None).
    """

    name: ClassVar[str]
    tz: ClassVar[str | None] = None
    layouts: ClassVar[tuple[tuple[str, ...], ...]] = ()
    #: Column names of a file without a header row (the first line is data).
    headerless: ClassVar[tuple[str, ...] | None] = None
    wide: ClassVar[bool] = False

    def layout(self, header: list[str]) -> int:
        """Index of the first layout whose columns are all in ``header``, else InputError."""
        return match_layout(header, self.layouts, what=f"counts format {self.name!r}", formats=COUNT_FORMATS)

    def convert(self, raw: pd.DataFrame, layout: int) -> pd.DataFrame:
        raise NotImplementedError

    def raw_rows(self, raw: pd.DataFrame, conv: pd.DataFrame) -> pd.DataFrame:
        """The source values behind converted rows (what a quarantined row keeps)."""
        return raw.iloc[conv["pos"].to_numpy()]

    @staticmethod
    def _long(raw: pd.DataFrame, camera_id, period, resolution, **classes) -> pd.DataFrame:
        na = pd.Series(pd.NA, index=raw.index, dtype="string")
        out = pd.DataFrame({
            "camera_id": clean_text(camera_id, default=None), "period_naive": period,
            "resolution": resolution,
            **{c: classes.get(c, na) for c in COUNT_CLASSES},
            "pos": np.arange(len(raw)), "cell": None,
        }, index=raw.index)
        return out.reset_index(drop=True)


_ISO = (("%Y-%m-%d", "day"), ("ISO8601", "hour"))


class CanonicalCounts(CountAdapter):
    name = "canonical"
    layouts = (("camera_id", "period_start", "people"),)

    def convert(self, raw: pd.DataFrame, layout: int) -> pd.DataFrame:
        when, res = parse_datetimes(raw["period_start"], _ISO, self.tz)
        if "resolution" in raw.columns:
            given = clean_text(raw["resolution"], default=None).str.lower()
            res = given.where(given.notna(), res)
        na = pd.Series(pd.NA, index=raw.index, dtype="string")
        return self._long(raw, raw["camera_id"], when, res.astype(object),
                          **{c: raw[c] if c in raw.columns else na for c in COUNT_CLASSES})


#: The footfall file names cameras by a short location; the registry by "Camera N".
_LEEDS_IDS = {
    "briggate": "Camera 1", "briggateatmcds": "Camera 2", "headrow": "Camera 3", "dortmundsq": "Camera 4",
    "albionstnorth": "Camera 5", "albionstsouth": "Camera 6", "commercialstlush": "Camera 7",
    "commercialstbarratts": "Camera 8",
}


class LeedsCounts(CountAdapter):
    name = "leeds"
    tz = "Europe/London"
    layouts = (("Date", "InCount", "LocationName", "Hour"),)

    def convert(self, raw: pd.DataFrame, layout: int) -> pd.DataFrame:
        # Three date formats in one file (01/01/2009, 2014-11-03, 01-Nov-16).
        day, _ = parse_datetimes(raw["Date"], (("%d/%m/%Y", "day"), ("%Y-%m-%d", "day"), ("%d-%b-%y", "day")))
        hour = to_float(raw["Hour"])
        ok_hour = hour.between(0, 23) & (hour == hour.round())
        when = (day + pd.to_timedelta(hour.where(ok_hour), unit="h")).where(ok_hour)
        key = raw["LocationName"].astype("string").str.lower().str.replace(r"[^a-z0-9]", "", regex=True)
        ids = key.map(_LEEDS_IDS).where(lambda s: s.notna(), raw["LocationName"])
        return self._long(raw, ids, when, "hour", people=raw["InCount"])


class MelbourneCounts(CountAdapter):
    name = "melbourne"
    tz = "Australia/Melbourne"
    headerless = ("date_time", "day", "hour", "sensor_id", "sensor_name", "count")
    layouts = (headerless,)

    def convert(self, raw: pd.DataFrame, layout: int) -> pd.DataFrame:
        when, _ = parse_datetimes(raw["date_time"], (("%d-%b-%Y %H:%M", "hour"),))
        return self._long(raw, raw["sensor_id"], when, "hour", people=raw["count"])


class ChicagoCTACounts(CountAdapter):
    name = "chicago-cta"
    tz = "America/Chicago"
    layouts = (("station_id", "date", "rides"),)

    def convert(self, raw: pd.DataFrame, layout: int) -> pd.DataFrame:
        when, _ = parse_datetimes(raw["date"], (("%Y-%m-%d", "day"), ("%m/%d/%Y", "day")))
        return self._long(raw, raw["station_id"], when, "day", people=raw["rides"])


class AucklandCounts(CountAdapter):
    name = "auckland"
    tz = "Pacific/Auckland"
    wide = True
    layouts = (("date", "hour"),)
    _ID_COLUMNS = ("date", "hour", "year")

    def convert(self, raw: pd.DataFrame, layout: int) -> pd.DataFrame:
        sensors = [c for c in raw.columns if c not in self._ID_COLUMNS]
        day, _ = parse_datetimes(raw["date"], (("%Y-%m-%d", "day"), ("%d/%m/%Y", "day")))
        hour = to_float(raw["hour"].astype("string").str.extract(r"^\s*(\d{1,2})\s*:", expand=False))
        ok_hour = hour.between(0, 23)
        when = (day + pd.to_timedelta(hour.where(ok_hour), unit="h")).where(ok_hour)
        values = raw[sensors].to_numpy(dtype=object)
        n, k = values.shape
        flat = values.ravel()  # row-major: (row 0, sensor 0..k-1), (row 1, ...)
        text = pd.Series(flat, dtype="string").str.strip()
        keep = (text.notna() & (text != "")).to_numpy()
        pos = np.repeat(np.arange(n), k)[keep]
        cell = np.tile(np.asarray(sensors, dtype=object), n)[keep]
        out = pd.DataFrame({
            "camera_id": cell, "period_naive": when.to_numpy()[pos], "resolution": "hour",
            "people": text[keep].to_numpy(), "vehicles": pd.NA, "cyclists": pd.NA,
            "pos": pos, "cell": cell,
        })
        out["period_naive"] = pd.to_datetime(out["period_naive"])
        out.attrs["blank_cells"] = int((~keep).sum())
        return out

    def raw_rows(self, raw: pd.DataFrame, conv: pd.DataFrame) -> pd.DataFrame:
        ids = raw.iloc[conv["pos"].to_numpy()][[c for c in self._ID_COLUMNS if c in raw.columns]]
        return ids.assign(sensor=conv["cell"].to_numpy(), value=conv["people"].to_numpy())


COUNT_FORMATS: dict[str, type[CountAdapter]] = {
    a.name: a for a in (CanonicalCounts, LeedsCounts, MelbourneCounts, AucklandCounts, ChicagoCTACounts)
}


def count_adapter(fmt: str) -> CountAdapter:
    """The counts adapter of format ``fmt``; InputError naming the known formats otherwise."""
    try:
        return COUNT_FORMATS[fmt]()
    except KeyError:
        raise InputError(f"counts format must be one of {sorted(COUNT_FORMATS)}; got {fmt!r}") from None


# ---------------------------------------------------------------------------- validation
def _localize(naive: pd.Series, tz: str, resolution: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Local wall-clock to UTC; an hour the clocks skipped is NaT and flagged (not shifted).

    The repeated autumn hour is read as daylight time. Days start at local midnight.
    """
    flags = np.ones(len(naive), dtype=bool)
    hourly = naive.dt.tz_localize(tz, ambiguous=flags, nonexistent="NaT")
    daily = naive.dt.tz_localize(tz, ambiguous=flags, nonexistent="shift_forward")
    is_day = resolution.astype(object).eq("day").fillna(False).to_numpy(dtype=bool)
    local = hourly.where(~is_day, daily)
    skipped = naive.notna() & local.isna()
    return local.dt.tz_convert("UTC"), skipped


def count_reasons(conv: pd.DataFrame, utc: pd.Series, skipped: pd.Series, values: pd.DataFrame,
                  now: pd.Timestamp) -> pd.Series:
    """The quarantine reason of each converted count row (NA where the row is valid)."""
    present = values.notna()
    cap = np.where(conv["resolution"].astype(object).eq("day").fillna(False).to_numpy(dtype=bool),
                   24 * MAX_PER_HOUR, MAX_PER_HOUR)
    checks = {
        "missing_camera_id": conv["camera_id"].isna(),
        "unparseable_date": conv["period_naive"].isna() | ~conv["resolution"].isin(("hour", "day")),
        "nonexistent_local_time": skipped,
        "implausible_date": utc.notna() & ~utc.between(_EARLIEST, now),
        "missing_count": ~present.any(axis=1),
        "negative_count": (values < 0).any(axis=1),
        "non_integer_count": (values.notna() & np.isfinite(values) & (values != values.round())).any(axis=1),
        "implausible_count": (~np.isfinite(values.fillna(0)) | values.gt(cap, axis=0)).any(axis=1),
    }
    reasons = pd.Series(pd.NA, index=conv.index, dtype=object)
    for name in reversed(COUNT_REASONS):  # the first reason in priority order wins
        reasons[checks[name].fillna(False).to_numpy(dtype=bool)] = name
    return reasons


def canonicalise_counts(chunk: RawChunk, adapter: CountAdapter, layout: int, *, tz: str,
                        now: pd.Timestamp | None = None) -> CountChunk:
    """Convert, melt (wide formats), validate and hash one raw chunk."""
    raw = chunk.frame
    bad = chunk.bad.reindex(columns=QUARANTINE_COLUMNS)
    if raw.empty:
        return CountChunk(_empty_counts(), bad, chunk.rows_read)
    conv = adapter.convert(raw, layout)
    blank = int(conv.attrs.get("blank_cells", 0))
    values = pd.DataFrame({c: to_float(conv[c].astype("string")) for c in COUNT_CLASSES})
    utc, skipped = _localize(conv["period_naive"], tz, conv["resolution"])
    now = now if now is not None else pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=1)
    reasons = count_reasons(conv, utc, skipped, values, now)
    ok = reasons.isna().to_numpy()
    rows = chunk.row_numbers.to_numpy()[conv["pos"].to_numpy()]
    out = pd.DataFrame({
        "camera_id": conv.loc[ok, "camera_id"].astype(object).to_numpy(),
        "period_start": utc[ok].to_numpy(),
        "resolution": conv.loc[ok, "resolution"].astype(object).to_numpy(),
    })
    for c in COUNT_CLASSES:
        out[c] = pd.array(values.loc[ok, c].round().to_numpy(), dtype="Int64")
    out["period_start"] = pd.to_datetime(out["period_start"], utc=True)
    # Hash the text of the counts: the same numbers give the same hash whatever the dtypes.
    parts = [out[c].astype("string").fillna("") for c in COUNT_CLASSES]
    text = parts[0] + "|" + parts[1] + "|" + parts[2]
    out["content_hash"] = hex_digits(row_hashes(text.to_frame())) if len(out) else []
    out["row_number"] = rows[ok]
    rejected = conv.loc[~ok]
    q = pd.DataFrame({
        "row_number": rows[~ok], "member": chunk.member, "reason": reasons[~ok].to_numpy(),
        "detail": _detail(rejected),
        "raw": json_rows(adapter.raw_rows(raw, rejected)),
    }, columns=QUARANTINE_COLUMNS)
    quarantined = pd.concat([bad, q], ignore_index=True) if len(bad) else q
    return CountChunk(out, quarantined, len(out) + len(quarantined), blank)


def _detail(rejected: pd.DataFrame) -> list[str]:
    if rejected.empty:
        return []
    text = ("camera_id=" + rejected["camera_id"].astype("string").fillna("")
            + "; period=" + rejected["period_naive"].astype("string").fillna("")
            + "; people=" + rejected["people"].astype("string").fillna(""))
    return text.str.slice(0, 300).tolist()


def _empty_counts() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in COUNT_COLUMNS})


def _headerless(chunk: RawChunk, names: tuple[str, ...], first_of_file: bool) -> RawChunk:
    """A chunk of a file without header: the reader's 'header' is data row 1; rename the columns."""
    first = None
    if first_of_file and len(chunk.header) == len(names):
        # The reader names a blank header cell "column_<i>"; as data it was blank.
        cells = ["" if h == f"column_{i + 1}" else h for i, h in enumerate(chunk.header)]
        first = pd.DataFrame([cells], columns=list(chunk.frame.columns), dtype=object)
    frame = chunk.frame.copy()
    rows = chunk.row_numbers + 1
    bad = chunk.bad.assign(row_number=chunk.bad["row_number"] + 1)
    if first is not None:
        frame = pd.concat([first, frame], ignore_index=True)
        rows = pd.concat([pd.Series([1], dtype="int64"), rows], ignore_index=True)
    elif first_of_file:
        bad = pd.concat([pd.DataFrame([{
            "row_number": 1, "member": chunk.member, "reason": "wrong_field_count",
            "detail": f"expected {len(names)} fields, got {len(chunk.header)}",
            "raw": json_rows(pd.DataFrame([chunk.header]))[0]}]), bad], ignore_index=True)
    frame.columns = list(names)
    return RawChunk(frame=frame, row_numbers=rows, bad=bad, member=chunk.member, header=list(names))


def read_counts(path, adapter: CountAdapter, *, default_tz: str,
                chunk_size: int = 100_000) -> Iterator[CountChunk]:
    """Stream canonical counts from one CSV/GZ/ZIP file (see :class:`CountChunk`).

    The time zone is the format's own (Leeds: Europe/London, ...) else ``default_tz``.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "c.csv")
    >>> _ = open(p, "w").write("camera_id,period_start,people\\nc1,2024-01-01 10:00,5\\nc1,2024-01-01 11:00,-1\\n")
    >>> ch = next(read_counts(p, count_adapter("canonical"), default_tz="UTC"))
    >>> ch.counts["people"].tolist(), ch.quarantined["reason"].tolist()
    ([5], ['negative_count'])
    """
    tz = adapter.tz or default_tz
    if not tz:
        raise ConfigError("a time zone is needed: set CRIMECAST_TIMEZONE")
    layout = None
    members: set = set()
    for chunk in iter_raw_chunks(path, chunk_size):
        if adapter.headerless is not None:
            first_of_file = chunk.member not in members
            members.add(chunk.member)
            chunk = _headerless(chunk, adapter.headerless, first_of_file)
        if layout is None:
            layout = adapter.layout(chunk.header)
        yield canonicalise_counts(chunk, adapter, layout, tz=tz)


__all__ = [
    "COUNT_CLASSES", "COUNT_COLUMNS", "COUNT_FORMATS", "COUNT_REASONS", "CountChunk", "MAX_PER_HOUR",
    "count_adapter", "read_counts",
]
