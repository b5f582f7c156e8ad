"""Ingestion jobs: stream a source file into the store in one transaction.

A composition module (like ``cli``): it may import anything but ``cli``. Each job takes
a session factory and owns its transactions.
"""

from __future__ import annotations

import os
import queue
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
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
from forecasting.ingest.reader import check_encoding, check_path, skipped_members
from forecasting.store import repository as repo
from forecasting.store.session import ingest_lock, transaction


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
    skipped: list[str] = field(default_factory=list)  # zip members not read, each with why

    @property
    def quarantined(self) -> int:
        return int(sum(self.quarantined_by_reason.values()))

    def as_dict(self) -> dict:
        return {
            "path": self.path, "run_id": self.run_id, "status": self.status,
            "rows_read": self.rows_read, "loaded": self.loaded, "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "quarantined_by_reason": dict(sorted(self.quarantined_by_reason.items())),
            "error": self.error, "skipped_members": list(self.skipped),
        }


ProgressFn = Callable[[int], None]
T = TypeVar("T")


def atomic_run(
    factory: sessionmaker[Session], *, kind: str, path: Path, fmt: str, source: str, options: dict,
    body: Callable[[Session, IngestSummary], None], summary_type: type[IngestSummary] = IngestSummary,
    staged: bool = False, copy_workers: int = 2,
) -> IngestSummary:
    """Run ``body(session, summary)`` as one ingest run of ``path``.

    The run row is committed first (status ``running``); whatever ``body`` writes and the
    final status are then committed together, so a failure or a kill leaves no partial rows.
    A failed run is recorded with its error and the error is re-raised. Ingests of one database
    run one at a time (:func:`~forecasting.store.session.ingest_lock`): a second one waits.

    With ``staged=True`` (incidents) on SQLite, ``body``'s incident and quarantine inserts go to
    temporary tables while it reads and checks (no write lock held), then one short transaction
    publishes them with the run's status: sign-ins and audit rows keep working meanwhile.
    On PostgreSQL they go to two unlogged staging tables of the run, which ``copy_workers``
    connections fill with ``COPY`` in parallel (:class:`~forecasting.store.bulk.CopyPool`), and
    one ``INSERT ... SELECT`` publishes them with the run's status. A killed run's staging
    tables are dropped by the next ingest.
    """
    with ingest_lock(factory.kw["bind"]):
        return _atomic_run(factory, kind=kind, path=path, fmt=fmt, source=source, options=options, body=body,
                           summary_type=summary_type, staged=staged, copy_workers=copy_workers)


def _atomic_run(factory, *, kind, path, fmt, source, options, body, summary_type, staged,
                copy_workers) -> IngestSummary:
    with transaction(factory) as s:
        repo.fail_interrupted_runs(session=s)
        repo.drop_orphan_staging(session=s)
        run_id = repo.create_run(session=s, kind=kind, source_path=str(path), format=fmt, source=source,
                                 sha256=file_sha256(path), options=options)
    summary = summary_type(path=str(path), run_id=run_id)
    try:
        if staged:
            _run_staged(factory, body, summary, copy_workers)
        else:
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


def _run_staged(factory: sessionmaker[Session], body, summary: IngestSummary, copy_workers: int = 2) -> None:
    """``body`` into the staging tables, then publish them and the run's status in one short write."""
    from sqlalchemy.exc import OperationalError

    engine = factory.kw["bind"]
    with engine.connect() as conn:  # one connection throughout: temp tables are per connection
        s = Session(bind=conn, expire_on_commit=False)
        staging = False
        try:
            staging = repo.begin_staging(session=s, run_id=summary.run_id)
            if staging and conn.dialect.name == "postgresql":
                from forecasting.store.bulk import CopyPool

                s.commit()  # the COPY connections must see the staging tables
                with CopyPool(engine, copy_workers) as pool:
                    s.info["cc_copy_pool"] = pool
                    body(s, summary)
                    pool.join()
                s.info.pop("cc_copy_pool", None)
            else:
                body(s, summary)
            summary.status = "succeeded"
            if staging:
                s.commit()  # ends the read snapshot; the staged rows stay in this connection's temp tables
                for attempt in range(3):
                    try:
                        repo.publish_staged(session=s)
                        break
                    except OperationalError:
                        s.rollback()  # busy beyond the timeout: the staged rows are intact, try again
                        if attempt == 2:
                            raise
            repo.finish_run(session=s, run_id=summary.run_id, status="succeeded", **_counts(summary))
            s.commit()
        except BaseException:
            summary.status = "running"
            s.rollback()
            raise
        finally:
            if staging:  # the pooled connection outlives us: free the staged rows (temp_store is memory)
                try:
                    s.rollback()
                    repo.end_staging(session=s)
                    s.commit()
                except Exception:  # noqa: BLE001 - never mask the run's own error; drop the connection
                    conn.invalidate()
            s.close()


#: Files at least this large (bytes on disk) are parsed in a separate process.
PROCESS_PARSE_BYTES = 8 << 20


def ingest_incidents(
    factory: sessionmaker[Session], settings: Settings, path: str | Path, fmt: str, *,
    options: AdapterOptions | None = None, source: str | None = None,
    progress: ProgressFn | None = None, parse_in_process: bool | None = None, encoding: str = "utf-8",
) -> IngestSummary:
    """Ingest one incidents file in a single transaction (see :func:`atomic_run`).

    Parsing runs ahead of the database writes: in a thread, or for big files (at least
    :data:`PROCESS_PARSE_BYTES`, or ``parse_in_process=True``) in a child process, so that
    parsing and writing use both cores instead of sharing one interpreter lock. Text is decoded
    with ``encoding``; rows that do not decode are quarantined as ``undecodable_text``. Zip
    members that are not read (nested zips, other files) are listed in ``summary.skipped``.
    """
    p = check_path(path)
    check_encoding(encoding)
    skipped = skipped_members(p)
    adapter = incident_adapter(fmt, options)
    source = source or fmt

    def body(s: Session, summary: IngestSummary) -> None:
        summary.skipped = skipped
        # Generated ids are unique within a file by construction (row hash + copy number), so
        # when the source has nothing stored yet only the source's own ids need a lookup.
        fresh = repo.count_incidents(session=s, source=source) == 0
        make_chunks = partial(
            read_incidents, p, adapter, category_groups=settings.category_groups,
            default_tz=settings.timezone, study_area=settings.study_area,
            chunk_size=settings.chunk_size, encoding=encoding,
        )
        in_process = parse_in_process if parse_in_process is not None else p.stat().st_size >= PROCESS_PARSE_BYTES
        chunks = prefetch_process(make_chunks) if in_process else prefetch(make_chunks())
        for chunk in chunks:
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
                      options=_options_dict(options), body=body, staged=True, copy_workers=settings.copy_workers)


def prefetch_process(make: Callable[[], Iterator[T]], depth: int = 1) -> Iterator[T]:
    """Run the iterator ``make()`` in a child process, ``depth`` items ahead of the consumer.

    ``make`` must be picklable (a module-level function or a ``functools.partial`` of one).
    Errors in the child are re-raised here; the child stops when the consumer stops, and
    exits by itself if the parent dies (a killed ingest leaves no orphan behind).
    """
    import multiprocessing as mp

    ctx = mp.get_context("spawn")  # no fork: the parent may hold threads and database connections
    q = ctx.Queue(maxsize=depth)
    child = ctx.Process(target=_produce, args=(make, q, os.getpid()), name="crimecast-parse", daemon=True)
    child.start()
    try:
        while True:
            try:
                kind, payload = q.get(timeout=1.0)
            except queue.Empty:
                if not child.is_alive():
                    raise RuntimeError(
                        f"the parsing process ended unexpectedly (exit code {child.exitcode})") from None
                continue
            if kind == "error":
                raise payload
            if kind == "done":
                return
            yield payload
    finally:
        if child.is_alive():
            child.terminate()
        child.join(timeout=5)
        q.close()


def _produce(make, q, parent_pid: int) -> None:
    """Child side of :func:`prefetch_process`."""
    try:
        for item in make():
            while True:
                try:
                    q.put(("item", item), timeout=0.5)
                    break
                except queue.Full:
                    if os.getppid() != parent_pid:
                        # The parent is gone: nobody will read, so do not wait at exit to
                        # flush the queue into a pipe whose reader is dead.
                        q.cancel_join_thread()
                        return
    except BaseException as exc:  # noqa: BLE001 - handed to the consumer
        try:
            q.put(("error", exc))
        except Exception:  # noqa: BLE001 - the exception itself may not pickle
            q.put(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
        return
    q.put(("done", None))


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


#: Longest error text stored with a run (a 5 MB header line must not land in ingest_runs.error).
ERROR_TEXT_LIMIT = 1000


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        text = "interrupted by the user"
    elif isinstance(exc, ForecastingError):
        text = str(exc)
    else:
        text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= ERROR_TEXT_LIMIT else text[: ERROR_TEXT_LIMIT - 1] + "\u2026"


@dataclass
class ArchiveSummary:
    """What ``ingest policeuk-archive`` did: one ingest run per street file, and the files it skipped."""

    path: str
    files: list[IngestSummary] = field(default_factory=list)
    months: list[str] = field(default_factory=list)  # of each file, in the order of ``files``
    forces: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def by_force(self) -> dict[str, dict]:
        """Counts summed per force: ``months, rows_read, loaded, duplicates, quarantined, quarantined_by_reason``."""
        out: dict[str, dict] = {}
        for force, month, s in zip(self.forces, self.months, self.files, strict=True):
            f = out.setdefault(force, {"months": [], "rows_read": 0, "loaded": 0, "duplicates": 0, "quarantined": 0,
                                       "quarantined_by_reason": Counter()})
            f["months"].append(month)
            for k in ("rows_read", "loaded", "duplicates", "quarantined"):
                f[k] += getattr(s, k)
            f["quarantined_by_reason"].update(s.quarantined_by_reason)
        for f in out.values():
            f["quarantined_by_reason"] = dict(sorted(f["quarantined_by_reason"].items()))
        return out

    def as_dict(self) -> dict:
        return {"path": self.path, "forces": self.by_force(), "skipped": list(self.skipped),
                "files": [s.as_dict() for s in self.files]}


def ingest_policeuk_archive(
    factory: sessionmaker[Session], settings: Settings, path: str | Path, *, forces: list[str] | None = None,
    progress: Callable[[str], ProgressFn | None] | None = None,
) -> ArchiveSummary:
    """Ingest a police.uk bulk download (a zip or its unpacked folder): every month's street file of every force.

    The download holds a folder per month (``2024-01/``) with three files per force:
    ``2024-01-<force>-street.csv`` (ingested, format ``policeuk``), ``-outcomes.csv`` and
    ``-stop-and-search.csv`` (skipped, each named in ``summary.skipped`` with why: stop and search
    describes persons and is never ingested). ``forces`` (slugs such as ``west-yorkshire``) keeps
    only those forces.

    Each street file is one ingest run (:func:`ingest_incidents`, atomic on its own), in month
    then force order. An error stops the command at that file: the files before it stay loaded
    and a re-run counts them as duplicates, so the command can simply be run again.
    """
    import shutil
    import tempfile
    import zipfile

    from forecasting.errors import InputError
    from forecasting.ingest.policeuk import archive_files

    p = Path(path)
    if not p.exists():
        raise InputError(f"input path {str(p)!r} does not exist")
    is_zip = p.is_file()
    if is_zip:
        try:
            with zipfile.ZipFile(p) as z:
                names = z.namelist()
        except zipfile.BadZipFile as exc:
            raise InputError(f"{p.name!r} is neither a folder nor a readable zip archive: {exc}") from None
    else:
        names = [f.relative_to(p).as_posix() for f in p.rglob("*") if f.is_file()]
    files, skipped = archive_files(names)
    if files.empty:
        raise InputError(f"no police.uk street files (YYYY-MM/YYYY-MM-<force>-street.csv) in {str(p)!r}")
    if forces:
        wanted = [f.strip().lower() for f in forces]
        missing = sorted(set(wanted) - set(files["force"]))
        if missing:
            raise InputError(f"--force must name forces in the archive ({', '.join(sorted(set(files['force'])))}); "
                             f"got {', '.join(missing)}")
        files = files[files["force"].isin(wanted)]
    summary = ArchiveSummary(path=str(p), skipped=skipped)
    with tempfile.TemporaryDirectory(prefix="crimecast-policeuk-") as tmp:
        for name, month, force in files.itertuples(index=False):  # one ingest run per file, not per row
            if is_zip:  # one member at a time on disk: a national archive is many gigabytes unpacked
                target = Path(tmp) / Path(name).name
                with zipfile.ZipFile(p) as z, z.open(name) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            else:
                target = p / name
            s = ingest_incidents(factory, settings, target, "policeuk",
                                 progress=progress(name) if progress else None)
            s.path = f"{p.name}/{name}" if is_zip else str(target)
            summary.files.append(s)
            summary.months.append(month)
            summary.forces.append(force)
            if is_zip:
                target.unlink()
    return summary
