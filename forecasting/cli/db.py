"""``crimecast db``: schema migrations and the retention purge."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from forecasting.cli._common import factory, settings, sub_app

db_app = sub_app("Create, upgrade or downgrade the database schema; apply the retention limit.")


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Upgrade the database schema (creates the database file when needed)."""
    from forecasting.store import migrate

    url = settings().resolved_database_url()
    migrate.upgrade(url, revision)
    typer.echo(f"database at revision {migrate.current(url)}")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision ('base' drops every table).")] = "-1",
) -> None:
    """Downgrade the database schema by one revision, or to REVISION."""
    from forecasting.store import migrate

    url = settings().resolved_database_url()
    migrate.downgrade(url, revision)
    typer.echo(f"database at revision {migrate.current(url) or 'base'}")


@db_app.command("current")
def db_current() -> None:
    """Print the schema revision of the database and the newest available."""
    from forecasting.store import migrate

    url = settings().resolved_database_url()
    typer.echo(f"current: {migrate.current(url) or 'base'}  head: {migrate.head()}")


@db_app.command("purge")
def db_purge(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would be deleted; delete nothing.")] = False,
    now: Annotated[datetime | None, typer.Option(help="Reference time (UTC; default: now).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Delete what is older than each table's retention (`retention_<table>_days`, default `retention_days`).

    Activity counts and gaps, forecast runs, export files under data_dir with stored patrol
    visits, and audit rows (a checkpoint row keeps the audit chain verifiable).
    """
    import getpass
    import json

    from forecasting.jobs.governance import apply_retention

    cfg = settings()
    r = apply_retention(factory(), cfg, now=now, dry_run=dry_run, user=getpass.getuser())
    if as_json:
        typer.echo(json.dumps(r.to_dict()))
        return
    verb = "would delete" if r.dry_run else "deleted"
    lines = {
        "counts": f"{r.counts:,} activity counts and {r.gaps:,} count gaps",
        "forecasts": f"{r.forecast_runs:,} forecast runs",
        "exports": f"{r.export_files:,} export files and {r.patrol_visits:,} patrol visits",
        "audit": f"{r.audit_events:,} audit events",
    }
    typer.echo(f"{verb}:")
    for table, what in lines.items():
        typer.echo(f"  {table:<9} {cfg.retention(table):>5} days, before {r.cutoffs[table]:%Y-%m-%d %H:%M} UTC: {what}")
