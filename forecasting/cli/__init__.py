"""The ``crimecast`` command line: the composition root.

Commands parse their arguments, call the library, and print. A
:class:`~forecasting.errors.ForecastingError` (or a database error) becomes one clear
line on stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from forecasting.cli._common import Group, State

app = typer.Typer(
    cls=Group, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None,
    help="crimecast: forecast where and when crime risk is highest.",
)



@app.callback()
def _root(
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML settings file (default: crimecast.toml if present).")
    ] = None,
    database_url: Annotated[str | None, typer.Option("--database-url", help="Override the database URL.")] = None,
) -> None:
    """crimecast: forecast where and when crime risk is highest."""
    from forecasting.config import load_settings

    overrides = {}
    if database_url:
        overrides["database_url"] = database_url
    if config is not None:
        overrides["_toml_file"] = str(config)
    State.settings = load_settings(**overrides)


# Command groups: one module each; register new ones here.
def _register() -> None:
    from forecasting.cli.db import db_app
    from forecasting.cli.demo import demo
    from forecasting.cli.ingest import ingest_app
    from forecasting.cli.serve import serve
    from forecasting.cli.users import users_app

    app.add_typer(db_app, name="db")
    app.add_typer(ingest_app, name="ingest")
    app.command("demo")(demo)
    app.add_typer(users_app, name="users")
    app.command("serve")(serve)

    from forecasting.cli import forecast as fc

    app.command("train")(fc.train)
    app.command("forecast")(fc.forecast)
    app.command("backtest")(fc.backtest)

    from forecasting.cli import context as ctx

    ingest_app.command("cameras")(ctx.ingest_cameras_cmd)
    ingest_app.command("counts")(ctx.ingest_counts_cmd)
    ingest_app.command("places")(ctx.ingest_places_cmd)
    ingest_app.command("areas")(ctx.ingest_areas_cmd)
    app.command("simulate")(ctx.simulate_cmd)

    from forecasting.cli.priority import export_app, priority_app

    app.add_typer(priority_app, name="priority")
    app.add_typer(export_app, name="export")

    from forecasting.cli.governance import audit_app, report_app

    app.add_typer(audit_app, name="audit")
    app.add_typer(report_app, name="report")

    from forecasting.cli.analyse import analyse_app

    app.add_typer(analyse_app, name="analyse")


_register()


def main() -> None:
    """Console entry point."""
    app()
