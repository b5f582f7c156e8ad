"""Helpers shared by every command module: the error-handling group, settings, sessions."""

from __future__ import annotations

import sys

import typer
from typer.core import TyperGroup

from forecasting.errors import ForecastingError


class Group(TyperGroup):
    """Turns every failure into one line ``Error: ...`` on stderr and exit code 1; help shows flags bare.

    Library errors keep their message; click's usage errors, a truncated stream (EOFError),
    Ctrl+C and unexpected exceptions too, so no traceback, box or ``Aborted.`` reaches the
    user. Long messages are cut; the full text (with the traceback of an unexpected error)
    goes to ``<data_dir>/crimecast.log``.
    """

    def get_command(self, ctx, cmd_name):
        cmd = super().get_command(ctx, cmd_name)
        if cmd is not None:
            _plain_metavars(cmd, ctx)
        return cmd

    def format_help(self, ctx, formatter):
        _plain_metavars(self, ctx)
        return super().format_help(ctx, formatter)

    def make_context(self, info_name, args, parent=None, **extra):
        from typer import _click as click  # typer vendors its own click: catch its exceptions

        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.ClickException as exc:
            _fail(exc.format_message())

    def invoke(self, ctx):
        from typer import _click as click

        try:
            return super().invoke(ctx)
        except (click.exceptions.NoArgsIsHelpError, typer.Exit, typer.Abort):
            raise
        except ForecastingError as exc:
            _fail(str(exc))
        except click.ClickException as exc:
            _fail(exc.format_message())
        except OSError as exc:
            _fail(f"{exc.strerror or exc}: {exc.filename or ''}".strip())
        except EOFError as exc:
            _fail(f"the input ended unexpectedly ({exc or 'end of file'})")
        except KeyboardInterrupt:
            _fail("interrupted by the user; nothing of an unfinished step was kept")
        except Exception as exc:  # noqa: BLE001 - the last resort: still one line, the traceback in the log
            # Only a command that imported SQLAlchemy can raise its errors; importing it here
            # just to name the class would cost every command (even a bad option) a second.
            sa_exc = sys.modules.get("sqlalchemy.exc")
            if sa_exc is not None and isinstance(exc, sa_exc.SQLAlchemyError):
                orig = getattr(exc, "orig", None) or exc
                text = str(orig).strip()
                _fail(f"database error: {text.splitlines()[0] if text else type(exc).__name__}", detail=str(exc))
            import traceback

            _fail(f"unexpected {type(exc).__name__}: {exc}", detail=traceback.format_exc())


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


#: Longest message printed; the whole one goes to the log.
MESSAGE_LIMIT = 300


def _fail(message: str, detail: str | None = None) -> None:
    message = " ".join(str(message).split())  # one line, whatever the message held
    log = _log(detail or message) if detail or len(message) > MESSAGE_LIMIT else None
    if len(message) > MESSAGE_LIMIT:
        message = message[: MESSAGE_LIMIT - 1] + "\u2026"
    if log:
        message += f" (details in {log})"
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(1)


def _log(text: str) -> str | None:
    """Append ``text`` to ``<data_dir>/crimecast.log``; returns its path, or None when it cannot."""
    from datetime import UTC, datetime
    from pathlib import Path

    try:
        path = Path(settings().data_dir) / "crimecast.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"{datetime.now(UTC).isoformat()} {text.rstrip()}\n")
        return str(path)
    except Exception:  # noqa: BLE001 - the error line matters more than the log
        return None


class State:
    """Settings chosen by the root callback (``--config``, ``--database-url``)."""

    settings = None


def settings():
    """The settings of this invocation, loaded once."""
    from forecasting.config import load_settings

    if State.settings is None:
        State.settings = load_settings()
    return State.settings


def factory(check: bool = True, create: bool = False):
    """A session factory on the configured database (checked to be migrated).

    ``create`` (commands that write): a SQLite file that does not exist yet is created and
    migrated; an existing database must be at the newest revision (see
    :func:`forecasting.jobs.ensure_database`).
    """
    from forecasting.store.session import check_migrated, make_engine, make_session_factory, require_database_file

    url = settings().resolved_database_url()
    if create:
        from forecasting.jobs.database import ensure_database

        ensure_database(url)
    elif check:
        require_database_file(url)  # before the engine: a failed command leaves no empty file or directory
    engine = make_engine(url)
    if check:
        check_migrated(engine)
    return make_session_factory(engine)


def sub_app(help_text: str) -> typer.Typer:
    """A command group that shares the error handling of the root."""
    return typer.Typer(cls=Group, no_args_is_help=True, help=help_text, rich_markup_mode=None)
