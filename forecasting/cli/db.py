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
) -> None:
    """Delete activity counts, count gaps and audit events older than `retention_days`."""
    import getpass

    from forecasting.jobs.governance import apply_retention

    cfg = settings()
    r = apply_retention(factory(), cfg, now=now, dry_run=dry_run, user=getpass.getuser())
    verb = "would delete" if r.dry_run else "deleted"
    typer.echo(f"{verb} {r.counts:,} activity counts, {r.gaps:,} count gaps and "
               f"{r.audit_events:,} audit events from before {r.before:%Y-%m-%d %H:%M} UTC "
               f"(retention_days = {cfg.retention_days})")
