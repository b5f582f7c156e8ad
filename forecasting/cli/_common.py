"""Helpers shared by every command module: the error-handling group, settings, sessions."""

from __future__ import annotations

import typer
from typer.core import TyperGroup

from forecasting.errors import ForecastingError


class Group(TyperGroup):
    """Turns library errors into a one-line message and exit code 1."""

    def invoke(self, ctx):
        from sqlalchemy.exc import SQLAlchemyError

        try:
            return super().invoke(ctx)
        except ForecastingError as exc:
            _fail(str(exc))
        except SQLAlchemyError as exc:
            orig = getattr(exc, "orig", None) or exc
            text = str(orig).strip()
            _fail(f"database error: {text.splitlines()[0] if text else type(exc).__name__}")
        except OSError as exc:
            _fail(f"{exc.strerror or exc}: {exc.filename or ''}".strip())


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
    from forecasting.store.session import check_migrated, make_engine, make_session_factory

    engine = make_engine(settings().resolved_database_url())
    if check:
        check_migrated(engine)
    return make_session_factory(engine)


def sub_app(help_text: str) -> typer.Typer:
    """A command group that shares the error handling of the root."""
    return typer.Typer(cls=Group, no_args_is_help=True, help=help_text)
