"""Helpers shared by every command module: the error-handling group, settings, sessions."""

from __future__ import annotations

import sys

import typer
from typer.core import TyperGroup

from forecasting.errors import ForecastingError


class Group(TyperGroup):
    """Turns library errors into a one-line message and exit code 1; help shows flags bare."""

    def get_command(self, ctx, cmd_name):
        cmd = super().get_command(ctx, cmd_name)
        if cmd is not None:
            _plain_metavars(cmd, ctx)
        return cmd

    def format_help(self, ctx, formatter):
        _plain_metavars(self, ctx)
        return super().format_help(ctx, formatter)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ForecastingError as exc:
            _fail(str(exc))
        except OSError as exc:
            _fail(f"{exc.strerror or exc}: {exc.filename or ''}".strip())
        except Exception as exc:
            # Only a command that imported SQLAlchemy can raise its errors; importing it here
            # just to name the class would cost every command (even a bad option) a second.
            sa_exc = sys.modules.get("sqlalchemy.exc")
            if sa_exc is None or not isinstance(exc, sa_exc.SQLAlchemyError):
                raise
            orig = getattr(exc, "orig", None) or exc
            text = str(orig).strip()
            _fail(f"database error: {text.splitlines()[0] if text else type(exc).__name__}")


def _plain_metavars(cmd, ctx) -> None:
    """Show ``--json``, not ``--json <bool>``, and a repeatable option as ``<str>``, not ``<list[str]>``."""
    for param in cmd.get_params(ctx):
        if param.param_type_name != "option" or param.metavar is not None:
            continue
        if getattr(param, "is_flag", False):
            param.metavar = ""
        elif getattr(param, "multiple", False):
            label = param.display_type(ctx)
            if label.startswith("<list[") and label.endswith("]>"):
                param.metavar = f"<{label[6:-2]}>"


def _fail(message: str) -> None:
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(1)


class State:
    """Settings chosen by the root callback (``--config``, ``--database-url``)."""

    settings = None


def settings():
    """The settings of this invocation, loaded once."""
    from forecasting.config import load_settings

    if State.settings is None:
        State.settings = load_settings()
    return State.settings


def factory(check: bool = True):
    """A session factory on the configured database (checked to be migrated)."""
    from forecasting.store.session import check_migrated, make_engine, make_session_factory, require_database_file

    url = settings().resolved_database_url()
    if check:
        require_database_file(url)  # before the engine: a failed command leaves no empty file or directory
    engine = make_engine(url)
    if check:
        check_migrated(engine)
    return make_session_factory(engine)


def sub_app(help_text: str) -> typer.Typer:
    """A command group that shares the error handling of the root."""
    return typer.Typer(cls=Group, no_args_is_help=True, help=help_text, rich_markup_mode=None)
