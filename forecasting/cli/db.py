"""``crimecast db``: schema migrations."""

from __future__ import annotations

from typing import Annotated

import typer

from forecasting.cli._common import settings, sub_app

db_app = sub_app("Create, upgrade or downgrade the database schema.")


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


