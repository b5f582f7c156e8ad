"""Vectorised parsing helpers shared by the source adapters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from forecasting.errors import CRSError

# A fixed key keeps ids and hashes identical across runs and machines (SipHash-2-4).
_HASH_KEY = "crimecast-2026-1"


def to_float(values: pd.Series) -> pd.Series:
    """Parse numbers; anything unparseable (or blank) becomes NaN."""
    return pd.to_numeric(values.astype("string").str.strip(), errors="coerce").astype("float64")


def parse_datetimes(
    values: pd.Series, formats: Sequence[tuple[str, str]], tz: str | None = None
) -> tuple[pd.Series, pd.Series]:
    """Try each ``(strftime format, resolution)`` in turn on the still-unparsed values.

    Real sources mix formats in one file, so every row gets the first format that fits.
    Returns naive local timestamps (NaT where nothing fits) and the resolution of each row.
    ``"ISO8601"`` is accepted as a format name; values carrying a UTC offset are
    converted to local time in ``tz`` (UTC when ``tz`` is None).
    """
    text = values.astype("string").str.strip()
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    res = pd.Series(pd.NA, index=values.index, dtype="string")
    todo = text.notna() & (text != "")
    for fmt, resolution in formats:
        if not todo.any():
            break
        if fmt == "ISO8601":
            parsed = _parse_iso(text[todo], tz or "UTC")
        else:
            parsed = pd.to_datetime(text[todo], format=fmt, errors="coerce")
        ok = parsed.notna() & parsed.between(_NS_MIN, _NS_MAX)
        idx = parsed.index[ok]
        out.loc[idx] = parsed[ok].astype("datetime64[ns]")
        res.loc[idx] = resolution
        todo.loc[idx] = False
    return out, res


# Nanosecond timestamps span 1677-2262; pandas 3 parses wider (microseconds), and a year
# like 0001 is garbage for crime data anyway, so such values count as unparseable.
_NS_MIN, _NS_MAX = pd.Timestamp("1678-01-01"), pd.Timestamp("2261-12-31")

_OFFSET = r"(?:Z|[+-]\d{2}:?\d{2})$"


def _parse_iso(text: pd.Series, tz: str) -> pd.Series:
    """ISO 8601 with or without offsets in one column: offsets win, else local time."""
    has_offset = text.str.contains(_OFFSET, regex=True, na=False)
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    if (~has_offset).any():
        naive = pd.to_datetime(text[~has_offset], format="ISO8601", errors="coerce")
        out.loc[~has_offset] = naive.where(naive.between(_NS_MIN, _NS_MAX))
    if has_offset.any():
        aware = pd.to_datetime(text[has_offset], format="ISO8601", errors="coerce", utc=True)
        local = aware.dt.tz_convert(tz).dt.tz_localize(None)
        out.loc[has_offset] = local.where(local.between(_NS_MIN, _NS_MAX))
    return out


def localize(naive: pd.Series, tz: str) -> pd.Series:
    """Local wall-clock times to UTC instants.

    The repeated autumn hour is read as daylight time and the skipped spring hour is
    shifted forward, so no row is lost to a DST transition.
    """
    flags = np.ones(len(naive), dtype=bool)
    local = naive.dt.tz_localize(tz, ambiguous=flags, nonexistent="shift_forward")
    return local.dt.tz_convert("UTC")


def project_to_wgs84(x: pd.Series, y: pd.Series, crs: str) -> tuple[pd.Series, pd.Series]:
    """Projected ``x, y`` in ``crs`` to WGS84 longitude/latitude (NaN stays NaN)."""
    from pyproj import CRS, Transformer
    from pyproj.exceptions import CRSError as PyprojCRSError

    try:
        src = CRS.from_user_input(crs)
    except PyprojCRSError:
        raise CRSError(f"crs must be a CRS such as 'EPSG:32610'; got {crs!r}") from None
    tr = Transformer.from_crs(src, "EPSG:4326", always_xy=True)
    lon, lat = tr.transform(x.to_numpy(dtype="float64"), y.to_numpy(dtype="float64"))
    lon = np.where(np.isfinite(lon), lon, np.nan)
    lat = np.where(np.isfinite(lat), lat, np.nan)
    return pd.Series(lon, index=x.index), pd.Series(lat, index=y.index)


def row_hashes(raw: pd.DataFrame) -> np.ndarray:
    """A 64-bit content hash (uint64) of each raw row: all columns, in header order."""
    if raw.empty:
        return np.zeros(0, dtype=np.uint64)
    h = pd.util.hash_pandas_object(raw.astype(object), index=False, hash_key=_HASH_KEY, categorize=False)
    return h.to_numpy(dtype=np.uint64)


def hex_digits(hashes: np.ndarray) -> np.ndarray:
    """uint64 hashes as 16-digit lowercase hex strings."""
    return np.char.mod("%016x", hashes).astype(object)


def map_groups(categories: pd.Series, mapping: Mapping[str, str]) -> pd.Series:
    """Map raw categories to groups: the first pattern found (case-insensitive) wins."""
    uniques = pd.unique(categories.astype(object))
    lowered = {c: str(c).lower() for c in uniques}
    table = {}
    for cat, low in lowered.items():  # loops over distinct categories, not rows
        table[cat] = next((g for pat, g in mapping.items() if pat.lower() in low), "other")
    return categories.map(table).astype(object)


def address_text(raw: pd.DataFrame, column: str | None) -> tuple[pd.Series, list[str]]:
    """The canonical ``address`` from an optional raw column, and the column list it consumed.

    Text is kept as the source publishes it (stripped, at most 200 characters); blank or
    absent values are None.

    Examples
    --------
    >>> raw = pd.DataFrame({"HUNDRED_BLOCK": ["10XX W 10TH AVE ", ""]})
    >>> address_text(raw, "HUNDRED_BLOCK")[0].tolist()
    ['10XX W 10TH AVE', None]
    >>> address_text(raw, "Block")[1]
    []
    """
    if not column or column not in raw.columns:
        return pd.Series(None, index=raw.index, dtype=object), []
    text = raw[column].astype("string").str.strip().str.slice(0, 200)
    text = text.astype(object)
    return text.where(text.notna() & (text != ""), None), [column]


def clean_text(values: pd.Series, default: str = "") -> pd.Series:
    """Strip whitespace; blanks become ``default``."""
    s = values.astype("string").str.strip().fillna("")
    return s.where(s != "", default).astype(object)
