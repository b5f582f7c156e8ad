"""Stream rows out of ``.csv``, ``.csv.gz`` and ``.zip`` files without losing any.

The CSV layer never drops a line: a row whose field count differs from the header, or
that the CSV parser rejects, is returned as a *bad row* with the reason, so the caller
can quarantine it. Everything is read as text; typing happens in the adapters.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from forecasting.errors import InputError

# Real files have long free-text fields; the default limit (128 KiB) would reject them.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))

SUPPORTED_SUFFIXES = (".csv", ".csv.gz", ".zip", ".txt", ".tsv")


@dataclass
class RawChunk:
    """A block of consecutive data rows of one file (or zip member).

    Attributes
    ----------
    frame : DataFrame
        Well-formed rows, every column a string, columns named by the header.
    row_numbers : ndarray
        1-based data-row numbers of ``frame``'s rows in their file (header excluded).
    bad : DataFrame
        Rows the CSV layer rejected: ``row_number, member, reason, detail, raw``.
    member : str or None
        The member name inside a zip archive.
    """

    frame: pd.DataFrame
    row_numbers: pd.Series
    bad: pd.DataFrame
    member: str | None = None
    header: list[str] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return len(self.frame) + len(self.bad)


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_path(path: str | Path) -> Path:
    """Return ``path`` as a Path if it is a readable file of a supported kind."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"input file {str(p)!r} does not exist")
    if not p.is_file():
        raise InputError(f"input path {str(p)!r} is not a file")
    name = p.name.lower()
    if not name.endswith(SUPPORTED_SUFFIXES):
        raise InputError(
            f"input file {p.name!r} has an unsupported type; expected one of "
            f"{', '.join(SUPPORTED_SUFFIXES)}"
        )
    return p


def iter_raw_chunks(path: str | Path, chunk_size: int = 100_000) -> Iterator[RawChunk]:
    """Yield :class:`RawChunk` blocks of at most ``chunk_size`` rows from ``path``.

    Zip archives yield the chunks of every ``.csv`` member in name order.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "x.csv")
    >>> _ = open(p, "w").write("a,b\\n1,2\\n3\\n")
    >>> [(len(c.frame), len(c.bad)) for c in iter_raw_chunks(p)]
    [(1, 1)]
    """
    p = check_path(path)
    if chunk_size <= 0:
        raise InputError(f"chunk_size must be a positive integer; got {chunk_size}")
    name = p.name.lower()
    if name.endswith(".zip"):
        try:
            archive = zipfile.ZipFile(p)
        except zipfile.BadZipFile as exc:
            raise InputError(f"{p.name!r} is not a readable zip archive: {exc}") from None
        with archive:
            members = sorted(
                m for m in archive.namelist()
                if m.lower().endswith((".csv", ".txt", ".tsv")) and not m.startswith("__MACOSX")
            )
            if not members:
                raise InputError(f"zip archive {p.name!r} holds no .csv file")
            for m in members:
                with archive.open(m) as raw:
                    yield from _chunks(_text(raw), chunk_size, member=m, label=f"{p.name}:{m}")
    elif name.endswith(".gz"):
        with gzip.open(p, "rb") as raw:
            yield from _chunks(_text(raw), chunk_size, member=None, label=p.name)
    else:
        with open(p, "rb") as raw:
            yield from _chunks(_text(raw), chunk_size, member=None, label=p.name)


def _text(raw) -> io.TextIOWrapper:
    # utf-8-sig drops a BOM; undecodable bytes become U+FFFD so the row is kept, not lost.
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")


def _no_nul(stream) -> Iterator[str]:
    # The csv module refuses NUL bytes ("line contains NUL"); garbage files do contain them.
    for line in stream:
        yield line.replace("\x00", "") if "\x00" in line else line


def _sniff_delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] > 0 else ","


def _unique_header(header: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i, h in enumerate(header):
        h = h.strip() or f"column_{i + 1}"
        if h in seen:
            seen[h] += 1
            h = f"{h}.{seen[h]}"
        else:
            seen[h] = 0
        out.append(h)
    return out


def _chunks(stream, chunk_size: int, *, member: str | None, label: str) -> Iterator[RawChunk]:
    lines = _no_nul(stream)
    first = next(lines, None)
    while first is not None and not first.strip():
        first = next(lines, None)
    if first is None:
        raise InputError(f"{label} is empty: expected a header row")
    delimiter = _sniff_delimiter(first)

    def _all_lines():
        yield first
        yield from lines

    reader = csv.reader(_all_lines(), delimiter=delimiter)
    header = _unique_header(next(reader))
    width = len(header)
    good: list[list[str]] = []
    good_rows: list[int] = []
    bad: list[dict] = []
    row_number = 0
    for row_number, row, error in _rows(reader):
        if error is not None:
            bad.append(_bad(row_number, member, "csv_error", error, row))
        elif len(row) != width:
            bad.append(
                _bad(row_number, member, "wrong_field_count",
                     f"expected {width} fields, got {len(row)}", row)
            )
        else:
            good.append(row)
            good_rows.append(row_number)
        if len(good) + len(bad) >= chunk_size:
            yield _make_chunk(good, good_rows, bad, header, member)
            good, good_rows, bad = [], [], []
    if good or bad or row_number == 0:
        yield _make_chunk(good, good_rows, bad, header, member)


def _rows(reader) -> Iterator[tuple[int, list[str], str | None]]:
    """Number the non-blank rows; a csv.Error becomes a bad row and reading goes on."""
    n = 0
    while True:
        try:
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # blank line: not a row
                n += 1
                yield n, row, None
            return
        except csv.Error as exc:
            n += 1
            yield n, [], str(exc)


def _bad(row_number: int, member: str | None, reason: str, detail: str, row: list[str]) -> dict:
    return {
        "row_number": row_number, "member": member, "reason": reason, "detail": detail,
        "raw": json.dumps(row, ensure_ascii=False),
    }


def _make_chunk(good, good_rows, bad, header, member) -> RawChunk:
    frame = pd.DataFrame(good, columns=header, dtype=object) if good else pd.DataFrame(
        {h: pd.Series([], dtype=object) for h in header}
    )
    bad_frame = pd.DataFrame(bad, columns=["row_number", "member", "reason", "detail", "raw"])
    return RawChunk(
        frame=frame, row_numbers=pd.Series(good_rows, dtype="int64"), bad=bad_frame,
        member=member, header=list(header),
    )
