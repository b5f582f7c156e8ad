"""``crimecast ingest``: load source files into the database."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from forecasting.cli._common import factory, settings, sub_app
from forecasting.errors import InputError

ingest_app = sub_app("Load source files into the database.")


def _parse_map(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InputError(f"--map must look like target=column; got {item!r}")
        out[key.strip()] = value.strip()
    return out


@ingest_app.command("incidents")
def ingest_incidents_cmd(
    paths: Annotated[list[Path], typer.Argument(help="CSV, CSV.GZ or ZIP files.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="canonical, chicago, sf, vancouver, policeuk or generic.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
    source: Annotated[str | None, typer.Option(help="Dataset that ids are unique within (default: format).")] = None,
    mapping: Annotated[list[str] | None, typer.Option("--map", help="generic: target=column (repeatable).")] = None,
    crs: Annotated[str | None, typer.Option(help="CRS of projected x/y, e.g. EPSG:27700.")] = None,
    date_format: Annotated[str | None, typer.Option(help="strftime format of the date column.")] = None,
    tz: Annotated[str | None, typer.Option(help="Time zone of local times (default: the format's own).")] = None,
    default_category: Annotated[str | None, typer.Option(help="Category for sources without one.")] = None,
    encoding: Annotated[str, typer.Option(help="Text encoding of the files (utf-8, latin-1, cp1252...).")] = "utf-8",
) -> None:
    """Ingest incident files: bad rows are quarantined with a reason, re-deliveries are skipped."""
    from forecasting import jobs
    from forecasting.ingest import AdapterOptions

    options = AdapterOptions(
        tz=tz, crs=crs, date_format=date_format, mapping=_parse_map(mapping or []),
        default_category=default_category,
    )
    cfg = settings()
    session_factory = factory(create=True)
    summaries = []
    for p in paths:
        with progress(p, enabled=not as_json) as advance:
            summaries.append(
                jobs.ingest_incidents(session_factory, cfg, p, fmt, options=options, source=source, progress=advance,
                                      encoding=encoding)
            )
    if as_json:
        typer.echo(json.dumps(summaries_total(summaries)))
    else:
        print_summaries(summaries)


@ingest_app.command("policeuk-archive")
def ingest_policeuk_archive_cmd(
    path: Annotated[Path, typer.Argument(help="A police.uk bulk download: the zip, or the folder it unpacks to.")],
    forces: Annotated[list[str] | None, typer.Option(
        "--force", help="Only this force (its file-name slug, e.g. west-yorkshire; repeatable).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
) -> None:
    """Ingest every month's street crimes of every force in a police.uk bulk download (stop and search skipped)."""
    from forecasting import jobs

    cfg, session_factory = settings(), factory()
    bars = []

    def bar(name: str):
        if bars:
            bars.pop().__exit__(None, None, None)
        bars.append(progress(Path(name), enabled=not as_json))
        return bars[-1].__enter__()

    try:
        summary = jobs.ingest_policeuk_archive(session_factory, cfg, path, forces=forces, progress=bar)
    finally:
        if bars:
            bars.pop().__exit__(None, None, None)
    if as_json:
        typer.echo(json.dumps(summary.as_dict()))
        return
    print_force_summary(summary)


def print_force_summary(summary) -> None:
    """The per-force table of an archive ingest, then the skipped files."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"police.uk archive {Path(summary.path).name}: ingested by force")
    for col in ("force", "months", "read", "loaded", "duplicates", "quarantined"):
        table.add_column(col, justify="left" if col in ("force", "months") else "right")
    for force, f in summary.by_force().items():
        months = f"{len(f['months'])} ({min(f['months'])} to {max(f['months'])})"
        table.add_row(force, months, f"{f['rows_read']:,}", f"{f['loaded']:,}", f"{f['duplicates']:,}",
                      f"{f['quarantined']:,}")
    print_table(table)
    console = Console()
    kinds = {}
    for line in summary.skipped:
        _, _, why = line.rpartition(": ")
        kinds[why] = kinds.get(why, 0) + 1
    for why, n in kinds.items():
        console.print(f"skipped {n} file(s): {why}", markup=False, highlight=False)


def summaries_total(summaries) -> dict:
    """The totals of several ingest summaries as one JSON-ready dict (what ``--json`` prints)."""
    from collections import Counter

    reasons: Counter = Counter()
    for s in summaries:
        reasons.update(s.quarantined_by_reason)
    return {
        "rows_read": sum(s.rows_read for s in summaries),
        "loaded": sum(s.loaded for s in summaries),
        "duplicates": sum(s.duplicates for s in summaries),
        "quarantined": sum(s.quarantined for s in summaries),
        "quarantined_by_reason": dict(sorted(reasons.items())),
        "skipped_members": [f"{Path(s.path).name}: {m}" for s in summaries for m in s.skipped],
        "files": [s.as_dict() for s in summaries],
    }


def print_summaries(summaries) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="ingest summary")
    table.add_column("file")
    for col in ("run", "read", "loaded", "duplicates", "quarantined"):
        table.add_column(col, justify="right")
    for s in summaries:
        table.add_row(Path(s.path).name, str(s.run_id), f"{s.rows_read:,}", f"{s.loaded:,}",
                      f"{s.duplicates:,}", f"{s.quarantined:,}")
    console.print(table)
    reasons = [(Path(s.path).name, r, n) for s in summaries for r, n in sorted(s.quarantined_by_reason.items())]
    if reasons:
        by_reason = Table(title="quarantined by reason")
        by_reason.add_column("file")
        by_reason.add_column("reason")
        by_reason.add_column("rows", justify="right")
        for name, r, n in reasons:
            by_reason.add_row(name, r, f"{n:,}")
        console.print(by_reason)
    for s in summaries:
        if s.skipped:
            console.print(f"skipped in {Path(s.path).name}: {'; '.join(s.skipped)}", markup=False, highlight=False)


class progress:
    """A rich progress bar on stderr while a file is read (silent when not a terminal)."""

    def __init__(self, path: Path, enabled: bool) -> None:
        self.path, self.enabled = path, enabled and sys.stderr.isatty()

    def __enter__(self):
        if not self.enabled:
            return None
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._bar = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                             TextColumn("{task.completed:,} rows"), TimeElapsedColumn(),
                             console=Console(stderr=True), transient=True)
        self._bar.start()
        task = self._bar.add_task(f"reading {self.path.name}", total=None)
        return lambda n: self._bar.advance(task, n)

    def __exit__(self, *exc):
        if self.enabled:
            self._bar.stop()
        return False


@ingest_app.command("streets")
def ingest_streets_cmd(
    path: Annotated[Path, typer.Argument(help="GeoJSON or GeoPackage of street lines with names.")],
    source: Annotated[str | None, typer.Option(help="Dataset name (default: the file name).")] = None,
    name_column: Annotated[str | None, typer.Option(help="Property holding the name (default: detected).")] = None,
    simulated: Annotated[bool, typer.Option("--simulated/--real", help="Flag the streets as simulated.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
) -> None:
    """Load named street lines: drawn on the risk map and the patrol PDF, and used to label cells."""
    from forecasting.jobs.places import ingest_streets

    summary = ingest_streets(factory(create=True), settings(), path, source=source, name_column=name_column,
                             simulated=simulated)
    if as_json:
        typer.echo(json.dumps(summaries_total([summary])))
    else:
        print_summaries([summary])


@ingest_app.command("runs")
def ingest_runs(
    limit: Annotated[int, typer.Option(help="How many runs to show.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List recent ingest runs with their counts and status."""
    import socket

    from forecasting.store import lite

    url = settings().resolved_database_url()
    # Read without the ORM (it costs about a second); only a run left `running` on this host may
    # need mending as interrupted, and that rare write goes through the repository.
    if lite.running_runs_here(url, socket.gethostname()):
        from forecasting.store import repository as repo
        from forecasting.store.session import transaction

        with transaction(factory()) as s:
            repo.fail_interrupted_runs(session=s)
    rows = lite.ingest_run_rows(url, limit)
    if as_json:
        typer.echo(json.dumps(rows))
        return
    from rich.table import Table

    table = Table(title="ingest runs")
    for col in ("id", "kind", "format", "file", "status", "read", "loaded", "dup", "quar", "error"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r["id"]), r["kind"], r["format"], Path(r["path"]).name, r["status"],
                      f"{r['rows_read']:,}", f"{r['loaded']:,}", f"{r['duplicates']:,}",
                      f"{r['quarantined']:,}", (r["error"] or "")[:120])
    print_table(table)


def print_table(table) -> None:
    """Print a rich table at its natural width: never squeezed to 80 columns when piped or narrow."""
    from rich.console import Console

    probe = Console()
    width = probe.measure(table, options=probe.options.update_width(10_000)).maximum
    Console(width=max(width, 80)).print(table)


