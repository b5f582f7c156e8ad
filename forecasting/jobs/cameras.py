"""Ingestion jobs for cameras, activity counts, places and area layers.

Same rules as :mod:`forecasting.jobs.ingest`: the run row is committed first (status
``running``); the rows, the quarantined rows and the final status are committed together in
one transaction, so a failure or a kill leaves nothing partial. Every row read is loaded, a
duplicate, or quarantined with a reason (``rows_read == loaded + duplicates + quarantined``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session, sessionmaker

from forecasting.config import Settings
from forecasting.errors import InputError
from forecasting.ingest import json_rows
from forecasting.ingest.cameras import DEFAULT_RANGE_M, camera_adapter, read_cameras
from forecasting.ingest.counts import count_adapter, read_counts
from forecasting.ingest.pipeline import QUARANTINE_COLUMNS
from forecasting.ingest.places import read_areas, read_places, slug
from forecasting.jobs.ingest import IngestSummary, ProgressFn, atomic_run, prefetch
from forecasting.store import areas as areas_repo
from forecasting.store import cameras as crepo
from forecasting.store import counts as counts_repo
from forecasting.store import places as places_repo
from forecasting.store import repository as repo


@dataclass
class ContextSummary(IngestSummary):
    """An :class:`IngestSummary` with the extras of cameras and counts.

    ``updated``: cameras whose registry entry changed (counted in ``loaded``); ``blank_cells``:
    blank cells of wide count files (missing hours, not rows); ``gaps``: stored gaps of the
    cameras this run touched.
    """

    updated: int = 0
    blank_cells: int = 0
    gaps: int = 0

    def as_dict(self) -> dict:
        return super().as_dict() | {"updated": self.updated, "blank_cells": self.blank_cells,
                                    "gaps": self.gaps}


def _is_simulated(path: Path, simulated: bool | None) -> bool:
    return simulated if simulated is not None else path.name.lower().startswith("simulated_")


def _check_file(path) -> Path:
    p = Path(path)
    if not p.exists():
        raise InputError(f"input file {str(p)!r} does not exist")
    if not p.is_file():
        raise InputError(f"input path {str(p)!r} is not a file")
    return p


def _atomic_run(factory: sessionmaker[Session], *, kind: str, path, fmt: str, source: str, options: dict,
                body: Callable[[Session, ContextSummary], None]) -> ContextSummary:
    """One ingest run with the summary extras of cameras and counts (see :func:`atomic_run`)."""
    return atomic_run(factory, kind=kind, path=_check_file(path), fmt=fmt, source=source, options=options,
                      body=body, summary_type=ContextSummary)


def _extra_quarantine(rows: pd.DataFrame, reason: str, detail: pd.Series, raw: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"row_number": rows["row_number"].to_numpy(), "member": None, "reason": reason,
                         "detail": detail.to_numpy(), "raw": raw}, columns=QUARANTINE_COLUMNS)


def _record(s: Session, summary: ContextSummary, quarantined: pd.DataFrame, rows_read: int,
            loaded: int, duplicates: int) -> None:
    repo.insert_quarantine(session=s, frame=quarantined, run_id=summary.run_id)
    summary.rows_read += rows_read
    summary.loaded += loaded
    summary.duplicates += duplicates
    if len(quarantined):
        summary.quarantined_by_reason.update(quarantined["reason"].value_counts().to_dict())


def _split_repeats(keys: pd.Series, content: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Masks (first, duplicate, conflict) of rows sharing a key within one frame."""
    first = ~keys.duplicated(keep="first").to_numpy()
    ref = content.groupby(keys.to_numpy(), sort=False).transform("first")
    same = (ref == content).to_numpy()
    return first, ~first & same, ~first & ~same


# -------------------------------------------------------------------------------- cameras
def _against_store(first: np.ndarray, dup: np.ndarray, conflict: np.ndarray, prev: pd.Series,
                   content) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Classify the first copies of keys against the stored content ``prev`` (NaN = not stored).

    Returns ``(dup, conflict, new)``: stored with equal content, stored with other content, not stored.
    """
    in_store = first & prev.notna().to_numpy()
    same = (prev == content).to_numpy()
    return dup | (in_store & same), conflict | (in_store & ~same), first & ~in_store


def _camera_key(c: pd.DataFrame) -> pd.Series:
    def text(v: pd.Series) -> pd.Series:
        return v.astype("string").fillna("")

    parts = [text(c["name"]), text(c["kind"])]
    parts += [text(c[k].astype("float64").round(7)) for k in ("longitude", "latitude", "heading_deg",
                                                            "fov_deg", "range_m")]
    parts += [text(pd.to_datetime(c[k], utc=True)) for k in ("installed_at", "retired_at")]
    parts += [text(c["status"])]
    out = parts[0]
    for p in parts[1:]:
        out = out + "|" + p
    return out.astype(object)


def ingest_cameras(factory: sessionmaker[Session], settings: Settings, path, fmt: str, *,
                   source: str | None = None, default_range_m: float = DEFAULT_RANGE_M,
                   simulated: bool | None = None, progress: ProgressFn | None = None) -> ContextSummary:
    """Ingest a camera or counting-site registry.

    A camera already stored with the same content is a duplicate; with different content
    (moved, retired, re-aimed) it is updated (counted in ``loaded`` and ``updated``). Within
    one file, a repeated id with different content is quarantined as ``conflicting_id``.
    Files named ``simulated_*`` (or ``simulated=True``) set the ``simulated`` flag.

    Examples
    --------
    Skipped in the test run: it needs a migrated database (``factory``) and the registry file.

    >>> ingest_cameras(factory, settings, "camera_locs.csv", "leeds").loaded  # doctest: +SKIP
    8
    """
    adapter = camera_adapter(fmt)
    source = source or fmt
    p = _check_file(path)
    sim = _is_simulated(p, simulated)

    def body(s: Session, summary: ContextSummary) -> None:
        seen: dict[str, str] = {}
        for chunk in prefetch(read_cameras(p, adapter, tz=settings.timezone, default_range_m=default_range_m,
                                           chunk_size=settings.chunk_size)):
            cams, quarantined = chunk.cameras, chunk.quarantined
            key = _camera_key(cams)
            first, dup, conflict = _split_repeats(cams["camera_id"], key)
            # Ids handled by an earlier chunk of this run.
            prev = cams["camera_id"].map(seen)
            in_run = first & prev.notna().to_numpy()
            dup |= in_run & (prev == key).to_numpy()
            conflict |= in_run & (prev != key).to_numpy()
            fresh = first & ~in_run
            stored = crepo.existing_cameras(session=s, source=source, ids=cams.loc[fresh, "camera_id"])
            cand = cams.loc[fresh].assign(_key=key[fresh])
            lookup = pd.DataFrame({"camera_id": stored["camera_id"].astype(object), "pk": stored["pk"],
                                   "_skey": _camera_key(stored) if len(stored) else pd.Series(dtype=object)})
            merged = cand.merge(lookup, on="camera_id", how="left")
            new = merged[merged["pk"].isna()]
            same = merged[merged["pk"].notna() & (merged["_skey"] == merged["_key"])]
            changed = merged[merged["pk"].notna() & (merged["_skey"] != merged["_key"])]
            crepo.insert_cameras(session=s, frame=new, source=source, run_id=summary.run_id, simulated=sim)
            crepo.update_cameras(session=s, frame=changed, run_id=summary.run_id)
            seen.update(dict(zip(cand["camera_id"], cand["_key"], strict=True)))
            if conflict.any():
                bad = cams.loc[conflict]
                quarantined = pd.concat([quarantined, _extra_quarantine(
                    bad, "conflicting_id", "camera " + bad["camera_id"].astype(str)
                    + " appears earlier in the file with different content",
                    json_rows(bad.drop(columns=["view_wkt"]).astype(str)))], ignore_index=True)
            summary.updated += len(changed)
            _record(s, summary, quarantined, chunk.rows_read, len(new) + len(changed), int(dup.sum()) + len(same))
            if progress:
                progress(chunk.rows_read)

    return _atomic_run(factory, kind="cameras", path=p, fmt=fmt, source=source,
                       options={"default_range_m": default_range_m, "simulated": sim}, body=body)


# --------------------------------------------------------------------------------- counts
def ingest_counts(factory: sessionmaker[Session], settings: Settings, path, fmt: str, *,
                  source: str | None = None, progress: ProgressFn | None = None) -> ContextSummary:
    """Ingest an activity-counts file for the cameras of ``source`` (default: the format name).

    Rows naming a camera not in the registry are quarantined as ``unknown_camera``; a
    camera-period already loaded (earlier in the file or in the store) with equal counts is a
    duplicate, with different counts ``conflicting_duplicate``. Afterwards the gaps of every
    touched camera are rebuilt from all its stored counts (a missing hour is not a zero).

    Examples
    --------
    Skipped in the test run: it needs a migrated database holding the cameras and the counts file.

    >>> ingest_counts(factory, settings, "footfall.csv.gz", "leeds").duplicates  # doctest: +SKIP
    576
    """
    adapter = count_adapter(fmt)
    source = source or fmt
    p = _check_file(path)

    def body(s: Session, summary: ContextSummary) -> None:
        pks = crepo.camera_pks(session=s, source=source)
        if pks.empty:
            raise InputError(f"no cameras of source {source!r} are stored; ingest the registry first "
                             f"(crimecast ingest cameras PATH --format {fmt} --source {source})")
        touched: set[int] = set()
        for chunk in prefetch(read_counts(p, adapter, default_tz=settings.timezone, chunk_size=settings.chunk_size)):
            c, quarantined = chunk.counts, chunk.quarantined
            pk = c["camera_id"].map(pks)
            unknown = pk.isna().to_numpy()
            extra = []
            if unknown.any():
                bad = c.loc[unknown]
                extra.append(_extra_quarantine(bad, "unknown_camera", "camera " + bad["camera_id"].astype(str)
                                               + f" is not in the registry of source {source!r}",
                                               json_rows(_printable(bad))))
            c = c.loc[~unknown].assign(camera_pk=pk[~unknown].astype("int64"))
            key = c["camera_pk"].astype(str) + "|" + c["period_start"].astype(str) + "|" + c["resolution"]
            first, dup, conflict = _split_repeats(key, c["content_hash"])
            if len(c):
                stored = counts_repo.existing_counts(session=s, pks=c["camera_pk"].unique(),
                                               start=c["period_start"].min().to_pydatetime(),
                                               end=c["period_start"].max().to_pydatetime())
                skey = stored["camera_pk"].astype(str) + "|" + stored["period_start"].astype(str) + "|" \
                    + stored["resolution"]
                shash = pd.Series(stored["content_hash"].to_numpy(), index=skey.to_numpy())
                prev = key.map(shash[~shash.index.duplicated()])
                dup, conflict, new = _against_store(first, dup, conflict, prev, c["content_hash"])
            else:
                new = first
            if conflict.any():
                bad = c.loc[conflict]
                extra.append(_extra_quarantine(
                    bad, "conflicting_duplicate", "camera " + bad["camera_id"].astype(str) + " at "
                    + bad["period_start"].astype(str) + " already has different counts",
                    json_rows(_printable(bad.drop(columns=["camera_pk"])))))
            if extra:
                quarantined = pd.concat([quarantined, *extra], ignore_index=True)
            counts_repo.insert_counts(session=s, frame=c.loc[new], run_id=summary.run_id)
            touched.update(c.loc[new, "camera_pk"].unique().tolist())
            summary.blank_cells += chunk.blank_cells
            _record(s, summary, quarantined, chunk.rows_read, int(new.sum()), int(dup.sum()))
            if progress:
                progress(chunk.rows_read)
        summary.gaps = counts_repo.recompute_gaps(session=s, pks=sorted(touched), run_id=summary.run_id)

    return _atomic_run(factory, kind="counts", path=p, fmt=fmt, source=source, options={}, body=body)


def _printable(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(period_start=frame["period_start"].astype(str)).astype(object)


# --------------------------------------------------------------------------------- places
def ingest_places(factory: sessionmaker[Session], settings: Settings, path, *, category: str | None = None,
                  category_column: str | None = None, source: str | None = None, id_column: str | None = None,
                  name_column: str | None = None, lon_column: str | None = None, lat_column: str | None = None,
                  simulated: bool | None = None, progress: ProgressFn | None = None) -> ContextSummary:
    """Ingest points of interest (CSV with lon/lat, WKT or '(lat, lon)' columns; GeoJSON; GeoPackage).

    Places without an id column get ``h<hash of the row>`` ids, so a re-delivery is a
    duplicate; an id stored with a different category, position or name is quarantined as
    ``conflicting_id``. The default source is the file's name without suffixes.

    Examples
    --------
    Skipped in the test run: it needs a migrated database (``factory``) and the places file.

    >>> ingest_places(factory, settings, "Police_Stations.csv", category="police_station").loaded  # doctest: +SKIP
    22
    """
    p = _check_file(path)
    source = source or slug(p.name.split(".")[0])
    sim = _is_simulated(p, simulated)
    fmt = _vector_format(p)

    def body(s: Session, summary: ContextSummary) -> None:
        for chunk in prefetch(read_places(p, category=category, category_column=category_column, id_column=id_column,
                                          name_column=name_column, lon_column=lon_column, lat_column=lat_column,
                                          chunk_size=settings.chunk_size)):
            pl, quarantined = chunk.rows, chunk.quarantined
            h = places_repo.place_hash(pl).astype(object)
            first, dup, conflict = _split_repeats(pl["place_id"], h)
            stored = places_repo.existing_place_hashes(session=s, source=source, ids=pl.loc[first, "place_id"])
            prev = pl["place_id"].map(stored)
            dup, conflict, new = _against_store(first, dup, conflict, prev, h)
            if conflict.any():
                bad = pl.loc[conflict]
                quarantined = pd.concat([quarantined, _extra_quarantine(
                    bad, "conflicting_id", "place " + bad["place_id"].astype(str) + " exists with different content",
                    json_rows(bad.astype(object)))], ignore_index=True)
            places_repo.insert_places(session=s, frame=pl.loc[new], source=source, run_id=summary.run_id, simulated=sim)
            _record(s, summary, quarantined, chunk.rows_read, int(new.sum()), int(dup.sum()))
            if progress:
                progress(chunk.rows_read)

    return _atomic_run(factory, kind="places", path=p, fmt=fmt, source=source,
                       options={"category": category, "category_column": category_column, "simulated": sim},
                       body=body)


def ingest_areas(factory: sessionmaker[Session], settings: Settings, path, *, layer: str, value_column: str,
                 id_column: str | None = None, name_column: str | None = None,
                 hour_column: str | None = None) -> ContextSummary:
    """Ingest an area layer: a value per polygon (optionally per hour of week).

    Points with values become Voronoi cells (see :mod:`forecasting.ingest.places`). An
    ``(area_id, hour_of_week)`` already stored with the same value and polygon is a duplicate,
    with different ones ``conflicting_id``.
    """
    p = _check_file(path)

    def body(s: Session, summary: ContextSummary) -> None:
        chunk = read_areas(p, value_column=value_column, id_column=id_column, name_column=name_column,
                           hour_column=hour_column)
        a, quarantined = chunk.rows, chunk.quarantined
        key = a["area_id"].astype(str) + "|" + a["hour_of_week"].astype("string").fillna("")
        content = a["value"].round(9).astype(str) + "|" + a["polygon_wkt"]
        first, dup, conflict = _split_repeats(key, content)
        stored = areas_repo.existing_area_values(session=s, layer=layer)
        skey = stored["area_id"].astype(str) + "|" + stored["hour_of_week"].astype("string").fillna("")
        sval = pd.Series((stored["value"].round(9).astype(str) + "|" + stored["polygon_wkt"]).to_numpy(),
                         index=skey.to_numpy())
        prev = key.map(sval)
        dup, conflict, new = _against_store(first, dup, conflict, prev, content)
        if conflict.any():
            bad = a.loc[conflict]
            quarantined = pd.concat([quarantined, _extra_quarantine(
                bad, "conflicting_id", "area " + bad["area_id"].astype(str) + " already has another value or shape",
                json_rows(bad.astype(object)))], ignore_index=True)
        areas_repo.insert_area_values(session=s, frame=a.loc[new], layer=layer, run_id=summary.run_id)
        _record(s, summary, quarantined, chunk.rows_read, int(new.sum()), int(dup.sum()))

    return _atomic_run(factory, kind="areas", path=p, fmt=_vector_format(p), source=layer,
                       options={"value_column": value_column, "hour_column": hour_column}, body=body)


def _vector_format(p: Path) -> str:
    name = p.name.lower()
    return "geojson" if name.endswith((".geojson", ".json")) else "gpkg" if name.endswith(".gpkg") else "csv"


__all__ = ["ContextSummary", "ingest_areas", "ingest_cameras", "ingest_counts", "ingest_places"]
