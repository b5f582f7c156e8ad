"""Ingestion jobs: stream a source file into the store in one transaction.

A composition module (like ``cli``): it may import anything but ``cli``. Each job takes
a session factory and owns its transactions.
"""

from __future__ import annotations

import queue
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from sqlalchemy.orm import Session, sessionmaker

from forecasting.config import Settings
from forecasting.errors import ForecastingError
from forecasting.ingest import (
    AdapterOptions,
    classify_duplicates,
    file_sha256,
    incident_adapter,
    json_rows,
    read_incidents,
)
from forecasting.ingest.reader import check_path
from forecasting.store import repository as repo
from forecasting.store.session import transaction


@dataclass
class IngestSummary:
    """Counts of one ingest run. Invariant: ``rows_read == loaded + duplicates + quarantined``."""

    path: str
    run_id: int
    status: str = "running"
    rows_read: int = 0
    loaded: int = 0
    duplicates: int = 0
    quarantined_by_reason: Counter = field(default_factory=Counter)
    error: str | None = None

    @property
    def quarantined(self) -> int:
        return int(sum(self.quarantined_by_reason.values()))

    def as_dict(self) -> dict:
        return {
            "path": self.path, "run_id": self.run_id, "status": self.status,
            "rows_read": self.rows_read, "loaded": self.loaded, "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "quarantined_by_reason": dict(sorted(self.quarantined_by_reason.items())),
            "error": self.error,
        }


ProgressFn = Callable[[int], None]
T = TypeVar("T")


def atomic_run(
    factory: sessionmaker[Session], *, kind: str, path: Path, fmt: str, source: str, options: dict,
    body: Callable[[Session, IngestSummary], None], summary_type: type[IngestSummary] = IngestSummary,
) -> IngestSummary:
    """Run ``body(session, summary)`` as one ingest run of ``path``.

    The run row is committed first (status ``running``); whatever ``body`` writes and the
    final status are then committed together, so a failure or a kill leaves no partial rows.
    A failed run is recorded with its error and the error is re-raised.
    """
    with transaction(factory) as s:
        repo.fail_interrupted_runs(session=s)
        run_id = repo.create_run(session=s, kind=kind, source_path=str(path), format=fmt, source=source,
                                 sha256=file_sha256(path), options=options)
    summary = summary_type(path=str(path), run_id=run_id)
    try:
        with transaction(factory) as s:
            body(s, summary)
            summary.status = "succeeded"
            repo.finish_run(session=s, run_id=run_id, status="succeeded", **_counts(summary))
    except BaseException as exc:
        summary.status, summary.error = "failed", _describe(exc)
        with transaction(factory) as s:
            # Counts of a failed run describe what was read before the failure; nothing was kept.
            repo.finish_run(session=s, run_id=run_id, status="failed", error=summary.error,
                            rows_read=summary.rows_read)
        raise
    return summary


def ingest_incidents(
    factory: sessionmaker[Session], settings: Settings, path: str | Path, fmt: str, *,
    options: AdapterOptions | None = None, source: str | None = None,
    progress: ProgressFn | None = None,
) -> IngestSummary:
    """Ingest one incidents file in a single transaction (see :func:`atomic_run`)."""
    p = check_path(path)
    adapter = incident_adapter(fmt, options)
    source = source or fmt

    def body(s: Session, summary: IngestSummary) -> None:
        # Generated ids are unique within a file by construction (row hash + copy number), so
        # when the source has nothing stored yet only the source's own ids need a lookup.
        fresh = repo.count_incidents(session=s, source=source) == 0
        chunks = read_incidents(
            p, adapter, category_groups=settings.category_groups,
            default_tz=settings.timezone, study_area=settings.study_area,
            chunk_size=settings.chunk_size,
        )
        for chunk in prefetch(chunks):
            inc, quarantined = chunk.incidents, chunk.quarantined
            lookup = inc["incident_id"][inc["id_from_source"]] if fresh else inc["incident_id"]
            existing = repo.existing_hashes(session=s, source=source, ids=lookup)
            dup, conflict = classify_duplicates(inc, existing)
            if conflict.any():
                quarantined = _with_conflicts(quarantined, inc[conflict])
            new = inc[~dup & ~conflict]
            repo.insert_incidents(session=s, frame=new, source=source, run_id=summary.run_id)
            repo.insert_quarantine(session=s, frame=quarantined, run_id=summary.run_id)
            summary.rows_read += chunk.rows_read
            summary.loaded += len(new)
            summary.duplicates += int(dup.sum())
            summary.quarantined_by_reason.update(quarantined["reason"].value_counts().to_dict())
            if progress:
                progress(chunk.rows_read)

    return atomic_run(factory, kind="incidents", path=p, fmt=fmt, source=source,
                      options=_options_dict(options), body=body)


def prefetch(iterator: Iterator[T], depth: int = 1) -> Iterator[T]:
    """Run ``iterator`` in a background thread, ``depth`` items ahead of the consumer.

    Parsing the next chunk overlaps with writing the current one (the database driver
    and pandas release the GIL for much of their work). Errors are re-raised here.
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def work() -> None:
        try:
            for item in iterator:
                while not stop.is_set():
                    try:
                        q.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            q.put((done, exc))
            return
        q.put((done, None))

    thread = threading.Thread(target=work, name="crimecast-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, exc = q.get()
            if exc is not None:
                raise exc
            if item is done:
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def _with_conflicts(quarantined, conflicts):
    import pandas as pd

    extra = pd.DataFrame(
        {
            "row_number": conflicts["row_number"], "member": None, "reason": "conflicting_id",
            "detail": "id " + conflicts["incident_id"].astype(str)
            + " already exists with different content",
            "raw": json_rows(conflicts.drop(columns=["attributes"]).assign(
                occurred_at=conflicts["occurred_at"].astype(str)
            )),
        },
        index=conflicts.index,
    )
    return pd.concat([quarantined, extra], ignore_index=True)


def _counts(summary: IngestSummary) -> dict:
    return {
        "rows_read": summary.rows_read, "loaded": summary.loaded,
        "duplicates": summary.duplicates, "quarantined": summary.quarantined,
        "quarantined_by_reason": dict(summary.quarantined_by_reason),
    }


def _options_dict(options: AdapterOptions | None) -> dict:
    if options is None:
        return {}
    return {k: v for k, v in vars(options).items() if v}


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted by the user"
    if isinstance(exc, ForecastingError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
