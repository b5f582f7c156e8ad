"""Stream rows out of ``.csv``, ``.csv.gz`` and ``.zip`` files without losing any.

The CSV layer never drops a line: a row whose field count differs from the header, or
that the CSV parser rejects, is returned as a *bad row* with the reason, so the caller
can quarantine it. Everything is read as text; typing happens in the adapters.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import json
import re
import sys
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from forecasting.errors import InputError

# Real files have long free-text fields; the default limit (128 KiB) would reject them.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))

SUPPORTED_SUFFIXES = (".csv", ".csv.gz", ".zip", ".txt", ".tsv")
_MEMBER_SUFFIXES = (".csv", ".txt", ".tsv")
#: Quarantine reason of a row holding bytes that are not valid in the file's encoding.
UNDECODABLE = "undecodable_text"
# Undecodable bytes arrive as lone surrogates (errors="surrogateescape").
_SURROGATES = re.compile("[\udc80-\udcff]")


def check_encoding(encoding: str) -> str:
    """The codec name for ``encoding`` (``utf-8`` reads a BOM too), or :class:`InputError`.

    Examples
    --------
    >>> check_encoding("latin-1"), check_encoding("UTF8")
    ('iso8859-1', 'utf-8-sig')
    """
    try:
        name = codecs.lookup(encoding).name
    except (LookupError, TypeError):
        raise InputError(f"encoding must be a known text encoding such as utf-8, latin-1 or cp1252; "
                         f"got {encoding!r}") from None
    return "utf-8-sig" if name == "utf-8" else name


def skipped_members(path: str | Path) -> list[str]:
    """Members of a zip archive that ingestion skips, each with why (nested zips, non-CSV files)."""
    p = Path(path)
    if not p.name.lower().endswith(".zip"):
        return []
    try:
        with zipfile.ZipFile(p) as archive:
            names = [i.filename for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError):
        return []
    out = []
    for m in sorted(names):
        low = m.lower()
        if low.endswith(_MEMBER_SUFFIXES) and not m.startswith("__MACOSX"):
            continue
        why = "nested zip, not opened" if low.endswith(".zip") else \
            "macOS metadata" if m.startswith("__MACOSX") else "not a CSV file"
        out.append(f"{m} ({why})")
    return out


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


def iter_raw_chunks(path: str | Path, chunk_size: int = 100_000, encoding: str = "utf-8") -> Iterator[RawChunk]:
    """Yield :class:`RawChunk` blocks of at most ``chunk_size`` rows from ``path``.

    Zip archives yield the chunks of every ``.csv`` member in name order (see
    :func:`skipped_members` for the others). Text is decoded with ``encoding``; a row holding
    bytes that do not decode is a bad row with reason :data:`UNDECODABLE` (kept, with the
    bytes shown as U+FFFD), never silently altered. A truncated or corrupt ``.gz``/``.zip`` is
    an :class:`InputError` naming the file.

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
    encoding = check_encoding(encoding)
    try:
        yield from _file_chunks(p, chunk_size, encoding)
    except (EOFError, gzip.BadGzipFile, zlib.error, zipfile.BadZipFile) as exc:
        raise InputError(f"{p.name!r} is truncated or corrupt ({exc}); nothing from it was kept") from None


def _file_chunks(p: Path, chunk_size: int, encoding: str) -> Iterator[RawChunk]:
    name = p.name.lower()
    if name.endswith(".zip"):
        try:
            archive = zipfile.ZipFile(p)
        except zipfile.BadZipFile as exc:
            raise InputError(f"{p.name!r} is not a readable zip archive: {exc}") from None
        with archive:
            members = sorted(
                m for m in archive.namelist()
                if m.lower().endswith(_MEMBER_SUFFIXES) and not m.startswith("__MACOSX")
            )
            if not members:
                raise InputError(f"zip archive {p.name!r} holds no .csv file")
            for m in members:
                with archive.open(m) as raw:
                    yield from _chunks(_text(raw, encoding), chunk_size, member=m, label=f"{p.name}:{m}")
    elif name.endswith(".gz"):
        with gzip.open(p, "rb") as raw:
            yield from _chunks(_text(raw, encoding), chunk_size, member=None, label=p.name)
    else:
        with open(p, "rb") as raw:
            yield from _chunks(_text(raw, encoding), chunk_size, member=None, label=p.name)


def _text(raw, encoding: str) -> io.TextIOWrapper:
    # utf-8-sig drops a BOM; undecodable bytes become lone surrogates, caught per row (_Lines).
    return io.TextIOWrapper(raw, encoding=encoding, errors="surrogateescape", newline="")


class _Lines:
    """Lines for the csv reader: NULs dropped (the csv module refuses them), undecodable bytes
    replaced by U+FFFD and flagged, so the row that consumed the line can be quarantined."""

    def __init__(self, stream) -> None:
        self.stream, self.undecodable = stream, False

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = next(self.stream)
        if "\x00" in line:
            line = line.replace("\x00", "")
        if not line.isascii() and _SURROGATES.search(line):  # isascii is O(1): the common case costs nothing
            self.undecodable = True
            line = _SURROGATES.sub("\ufffd", line)
        return line


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
    lines = _Lines(stream)
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
    lines.undecodable = False  # the header may have had some: it was kept with U+FFFD
    encoding = getattr(stream, "encoding", "utf-8")
    for row_number, row, error in _rows(reader):
        if lines.undecodable:
            lines.undecodable = False
            bad.append(_bad(row_number, member, UNDECODABLE,
                            f"bytes that are not valid {encoding}; pass --encoding (e.g. latin-1 or cp1252)", row))
        elif error is not None:
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
