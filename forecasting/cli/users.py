"""``crimecast users``: dashboard accounts (add, list, disable, enable, passwd)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from forecasting.cli._common import factory, settings, sub_app
from forecasting.errors import ConfigError

users_app = sub_app("Manage dashboard accounts (viewer, analyst, admin).")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise ConfigError("--password-stdin was given but stdin held no password")
        return password
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="Account name.")],
    role: Annotated[str, typer.Option("--role", help="viewer, analyst or admin.")] = "viewer",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
) -> None:
    """Create an account (the password is asked for, or read from stdin; only its hash is kept)."""
    from forecasting.store.governance import check_role, check_username, create_user, record_audit
    from forecasting.store.session import transaction

    check_username(name)
    check_role(role)
    password = _read_password(password_stdin)
    # The first account is often the first write: a new SQLite file is created and migrated, as by
    # the other writing commands; an existing database at an older revision is refused.
    with transaction(factory(create=True)) as s:
        create_user(session=s, username=name, password=password, role=role)
        record_audit(session=s, username=None, action="user_add", target=name, details={"role": role})
    typer.echo(f"created {role} account {name!r}")


@users_app.command("list")
def users_list() -> None:
    """List accounts: name, role, state, created."""
    from forecasting.store import lite

    rows = lite.user_rows(settings().resolved_database_url())  # no ORM: the listing answers in well under 1.5 s
    if not rows:
        typer.echo("no accounts; add one with `crimecast users add NAME --role admin`")
        return
    for username, role, disabled, created_at in rows:
        state = "disabled" if disabled else "active"
        typer.echo(f"{username:<24} {role:<8} {state:<8} {str(created_at)[:19]}")


def _set_disabled(name: str, disabled: bool) -> None:
    from forecasting.store.governance import record_audit, set_disabled
    from forecasting.store.session import transaction

    with transaction(factory()) as s:
        set_disabled(session=s, username=name, disabled=disabled)
        record_audit(session=s, username=None, action="user_disable" if disabled else "user_enable", target=name)
    typer.echo(f"{'disabled' if disabled else 'enabled'} account {name!r}")


@users_app.command("disable")
def users_disable(name: Annotated[str, typer.Argument(help="Account name.")]) -> None:
    """Disable an account: it can no longer sign in, and its open sessions end at the next request."""
    _set_disabled(name, True)


@users_app.command("enable")
def users_enable(name: Annotated[str, typer.Argument(help="Account name.")]) -> None:
    """Re-enable a disabled account."""
    _set_disabled(name, False)


@users_app.command("passwd")
def users_passwd(
    name: Annotated[str, typer.Argument(help="Account name.")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
) -> None:
    """Set a new password for an account."""
    from forecasting.store.governance import record_audit, set_password
    from forecasting.store.session import transaction

    password = _read_password(password_stdin)
    with transaction(factory()) as s:
        set_password(session=s, username=name, password=password)
        record_audit(session=s, username=None, action="user_passwd", target=name)
    typer.echo(f"password of {name!r} changed")
