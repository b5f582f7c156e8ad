"""From raw chunks to canonical incidents and quarantined rows (pure; no database)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting import schema as S
from forecasting.errors import ConfigError
from forecasting.ingest.base import IncidentAdapter
from forecasting.ingest.common import hex_digits, localize, map_groups, row_hashes
from forecasting.ingest.reader import RawChunk, iter_raw_chunks
from forecasting.ingest.validate import row_reasons

QUARANTINE_COLUMNS = ["row_number", "member", "reason", "detail", "raw"]


@dataclass
class IngestChunk:
    """Canonical incidents and quarantined rows from one raw chunk.

    ``incidents`` has :data:`forecasting.schema.INCIDENT_COLUMNS` plus ``address``, ``source_x``,
    ``source_y``, ``content_hash`` and ``attributes`` (JSON text); ``quarantined`` has
    :data:`QUARANTINE_COLUMNS`. ``row_number`` is the 1-based data row in the file;
    ``id_from_source`` tells the source's own ids from generated ones.
    ``rows_read == len(incidents) + len(quarantined)``.
    """

    incidents: pd.DataFrame
    quarantined: pd.DataFrame
    rows_read: int


class Occurrences:
    """Numbers repeated identical rows of one file so that each keeps its own id.

    Sources without ids (police.uk anti-social behaviour, the Chicago cut) publish genuinely
    separate incidents as identical rows. The n-th copy gets id ``<hash>-<n>``, so the file
    loads every row once and a re-delivery of the same file maps onto the same ids.
    Memory: 16 bytes per distinct row hash seen in the file.
    """

    def __init__(self) -> None:
        self._keys = np.zeros(0, dtype=np.uint64)  # sorted distinct hashes seen so far
        self._counts = np.zeros(0, dtype=np.int64)

    def number(self, hashes: np.ndarray) -> np.ndarray:
        """0 for the first copy of a row in the file, 1 for the second, ..."""
        hashes = np.asarray(hashes, dtype=np.uint64)
        if hashes.size == 0:
            return np.zeros(0, dtype=np.int64)
        before = np.zeros(hashes.size, dtype=np.int64)
        if self._keys.size:
            pos = np.minimum(np.searchsorted(self._keys, hashes), self._keys.size - 1)
            found = self._keys[pos] == hashes
            before[found] = self._counts[pos[found]]
        # Rank of each row among equal hashes within the chunk (stable, so file order).
        order = np.argsort(hashes, kind="stable")
        sorted_h = hashes[order]
        starts = np.r_[True, sorted_h[1:] != sorted_h[:-1]]
        group_start = np.maximum.accumulate(np.where(starts, np.arange(sorted_h.size), 0))
        within = np.empty_like(order)
        within[order] = np.arange(sorted_h.size) - group_start
        uniq, counts = np.unique(hashes, return_counts=True)
        keys = np.concatenate([self._keys, uniq])
        allc = np.concatenate([self._counts, counts])
        self._keys, inverse = np.unique(keys, return_inverse=True)
        self._counts = np.bincount(inverse, weights=allc, minlength=self._keys.size).astype(np.int64)
        return before + within


def canonicalise(
    chunk: RawChunk, adapter: IncidentAdapter, layout: int, *, tz: str,
    category_groups: dict[str, str], study_area=None, occurrences: Occurrences,
) -> IngestChunk:
    """Convert, validate and hash one raw chunk."""
    raw = chunk.frame
    bad = chunk.bad.reindex(columns=QUARANTINE_COLUMNS)
    if raw.empty:
        return IngestChunk(_empty_incidents(), bad, chunk.rows_read)
    conv, used = adapter.convert(raw, layout)
    for col, default in (("source_x", np.nan), ("source_y", np.nan), ("source_crs", adapter.source_crs),
                         (S.ADDRESS, None)):
        if col not in conv:
            conv[col] = default
    occurred = localize(conv["occurred_naive"], tz)
    conv[S.OCCURRED_AT] = occurred
    reasons = row_reasons(conv, study_area=study_area)

    ok = reasons.isna()
    inc = conv.loc[ok].copy()
    hashes = row_hashes(raw)[ok.to_numpy()]
    hex_h = pd.Series(hex_digits(hashes), index=inc.index)
    src = inc["source_id"]
    no_id = src.isna().to_numpy()
    occ = pd.Series(occurrences.number(hashes[no_id]), index=inc.index[no_id])
    generated = "h" + hex_h[no_id] + np.where(occ > 0, "-" + occ.astype(str), "")
    inc[S.INCIDENT_ID] = src.where(~no_id, generated).astype(object)
    inc["id_from_source"] = ~no_id
    inc[S.CONTENT_HASH] = hex_h
    inc[S.TZ] = tz
    inc[S.CATEGORY_GROUP] = map_groups(inc[S.CATEGORY], category_groups)
    extra = [c for c in raw.columns if c not in used]
    inc[S.ATTRIBUTES] = json_rows(raw.loc[ok, extra]) if extra else None
    inc["row_number"] = chunk.row_numbers[ok.to_numpy()].to_numpy()
    inc = inc.reset_index(drop=True)

    rejected = reasons[~ok]
    q = pd.DataFrame(
        {
            "row_number": chunk.row_numbers[~ok.to_numpy()].to_numpy(),
            "member": chunk.member,
            "reason": rejected.to_numpy(),
            "detail": _details(raw.loc[~ok, used], rejected),
            "raw": json_rows(raw.loc[~ok]),
        }
    )
    quarantined = pd.concat([bad, q], ignore_index=True) if len(bad) else q
    return IngestChunk(inc.loc[:, _INCIDENT_OUT], quarantined.reindex(columns=QUARANTINE_COLUMNS),
                       chunk.rows_read)


_INCIDENT_OUT = [
    *S.INCIDENT_COLUMNS, S.ADDRESS, "source_x", "source_y", S.CONTENT_HASH, S.ATTRIBUTES, "row_number",
    "id_from_source",
]


def _empty_incidents() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in _INCIDENT_OUT})


def json_rows(frame: pd.DataFrame) -> list[str]:
    """Each row of ``frame`` as a JSON object string."""
    if frame.empty:
        return []
    # One C-level serialisation of the whole block instead of json.dumps per row. Split on
    # "\n" only: str.splitlines() would also split on U+2028 and friends inside values.
    text = frame.astype(object).to_json(orient="records", lines=True, force_ascii=False)
    return text.rstrip("\n").split("\n")


def _details(used: pd.DataFrame, reasons: pd.Series) -> list[str]:
    """A short human detail: the source values the check looked at."""
    if used.empty:
        return []
    cols = list(used.columns)
    text = used[cols[0]].astype("string").fillna("").radd(f"{cols[0]}=")
    for c in cols[1:]:
        text = text + f"; {c}=" + used[c].astype("string").fillna("")
    return text.str.slice(0, 300).tolist()


def read_incidents(
    path, adapter: IncidentAdapter, *, category_groups: dict[str, str], default_tz: str,
    study_area=None, chunk_size: int = 100_000, encoding: str = "utf-8",
) -> Iterator[IngestChunk]:
    """Stream canonical chunks from one file (see :class:`IngestChunk`), decoded with ``encoding``."""
    tz = adapter.timezone() or default_tz
    if not tz:
        raise ConfigError("a time zone is needed: pass --tz or set CRIMECAST_TIMEZONE")
    adapter = adapter.with_default_tz(tz)
    occurrences = Occurrences()
    layout = None
    for chunk in iter_raw_chunks(path, chunk_size, encoding=encoding):
        if layout is None:
            layout = adapter.layout(chunk.header)
        yield canonicalise(
            chunk, adapter, layout, tz=tz, category_groups=category_groups,
            study_area=study_area, occurrences=occurrences,
        )


def classify_duplicates(incidents: pd.DataFrame, existing: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Split a chunk against the stored hashes of the same ids.

    Returns boolean masks ``(duplicate, conflict)`` on ``incidents``' index: a duplicate has
    an id already stored (or earlier in the chunk) with the same content hash; a conflict
    has such an id with a different hash. Rows in neither mask are new.
    """
    ids, hashes = incidents[S.INCIDENT_ID], incidents[S.CONTENT_HASH]
    stored = ids.map(existing)
    in_store = stored.notna()
    first_hash = hashes.groupby(ids, sort=False).transform("first")
    repeat = ids.duplicated(keep="first")
    reference = stored.where(in_store, first_hash)
    seen = in_store | repeat
    same = reference == hashes
    return seen & same, seen & ~same


__all__ = [
    "IngestChunk", "QUARANTINE_COLUMNS", "canonicalise", "classify_duplicates", "json_rows",
    "read_incidents",
]
