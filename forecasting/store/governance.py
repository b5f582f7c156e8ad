"""Repository functions for accounts and the audit log (who viewed, exported, retrained what)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from forecasting.errors import ConfigError
from forecasting.store.models import AuditEvent, User

if TYPE_CHECKING:  # pandas only where a frame is built: `crimecast users list` stays fast
    import pandas as pd


def record_audit(
    *, session: Session, username: str | None, action: str, target: str | None = None,
    details: dict | None = None,
) -> int:
    """Append one audit event; returns its id. Targets describe places and products, never persons."""
    event = AuditEvent(at=datetime.now(UTC), username=username, action=action, target=target, details=details)
    session.add(event)
    session.flush()
    return event.id


def purge_audit(*, session: Session, before: datetime, dry_run: bool = False) -> int:
    """Delete audit events older than ``before`` (the retention limit); returns how many."""
    old = AuditEvent.at < before
    if dry_run:
        return int(session.scalar(select(func.count()).select_from(AuditEvent).where(old)) or 0)
    return int(session.execute(delete(AuditEvent).where(old)).rowcount or 0)


def audit_frame(*, session: Session, action: str | None = None, limit: int = 500) -> pd.DataFrame:
    """The newest audit events first."""
    import pandas as pd

    q = select(AuditEvent.id, AuditEvent.at, AuditEvent.username, AuditEvent.action, AuditEvent.target,
               AuditEvent.details).order_by(AuditEvent.id.desc()).limit(limit)
    if action:
        q = q.where(AuditEvent.action == action)
    return pd.read_sql(q, session.connection())


def get_user(*, session: Session, username: str) -> User | None:
    """The account with this name, or None."""
    return session.scalar(select(User).where(User.username == username))


# --------------------------------------------------------------------- accounts
#: Roles in increasing order of privilege: an analyst may do all a viewer may, and so on.
ROLES = ("viewer", "analyst", "admin")
_USERNAME_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@")
MIN_PASSWORD_LENGTH = 10


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise ConfigError(f"role must be one of {list(ROLES)}; got {role!r}")
    return role


def _check_username(username: str) -> str:
    if not (isinstance(username, str) and 1 <= len(username) <= 64 and set(username) <= _USERNAME_OK):
        raise ConfigError(
            "username must be 1-64 characters of letters, digits and . _ - @; got " f"{username!r}"
        )
    return username


def _check_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        got = len(password) if isinstance(password, str) else type(password).__name__
        raise ConfigError(f"password must be at least {MIN_PASSWORD_LENGTH} characters; got {got}")
    return password


def role_at_least(role: str | None, needed: str) -> bool:
    """Whether ``role`` grants what ``needed`` grants (admin > analyst > viewer).

    Examples
    --------
    >>> role_at_least("admin", "analyst"), role_at_least("viewer", "analyst"), role_at_least(None, "viewer")
    (True, False, False)
    """
    _check_role(needed)
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def create_user(*, session: Session, username: str, password: str, role: str = "viewer") -> int:
    """Create an account with a salted password hash; returns its id.

    Parameters
    ----------
    session : Session
    username : str
        1-64 characters of letters, digits and ``. _ - @``.
    password : str
        At least :data:`MIN_PASSWORD_LENGTH` characters; only its hash is stored.
    role : {"viewer", "analyst", "admin"}

    Raises
    ------
    ConfigError
        When a value is invalid or the username is taken.

    Examples
    --------
    >>> create_user(session=s, username="ana", password="correct horse battery", role="analyst")  # doctest: +SKIP
    1
    """
    from werkzeug.security import generate_password_hash

    _check_username(username)
    _check_role(role)
    _check_password(password)
    if get_user(session=session, username=username) is not None:
        raise ConfigError(f"username {username!r} is taken; choose another or disable the old account")
    user = User(username=username, password_hash=generate_password_hash(password), role=role,
                disabled=False, created_at=datetime.now(UTC))
    session.add(user)
    session.flush()
    return user.id


def set_password(*, session: Session, username: str, password: str) -> None:
    """Replace the password of an existing account."""
    from werkzeug.security import generate_password_hash

    _check_password(password)
    user = _existing(session, username)
    user.password_hash = generate_password_hash(password)
    session.flush()


def set_disabled(*, session: Session, username: str, disabled: bool = True) -> None:
    """Disable (or re-enable) an account; a disabled account cannot sign in."""
    user = _existing(session, username)
    user.disabled = bool(disabled)
    session.flush()


def set_role(*, session: Session, username: str, role: str) -> None:
    """Change the role of an existing account."""
    _check_role(role)
    user = _existing(session, username)
    user.role = role
    session.flush()


def _existing(session: Session, username: str) -> User:
    user = get_user(session=session, username=username)
    if user is None:
        raise ConfigError(f"no user named {username!r}; see `crimecast users list`")
    return user


def list_users(*, session: Session) -> pd.DataFrame:
    """Accounts (``username, role, disabled, created_at``), never the hashes."""
    import pandas as pd

    out = pd.DataFrame(user_rows(session=session), columns=["username", "role", "disabled", "created_at"])
    out["disabled"] = out["disabled"].astype(bool)
    return out


def user_rows(*, session: Session) -> list[tuple[str, str, bool, datetime]]:
    """Accounts as ``(username, role, disabled, created_at)`` tuples by name, never the hashes.

    Examples
    --------
    >>> user_rows(session=s)  # doctest: +SKIP
    [('ana', 'admin', False, datetime.datetime(2026, 11, 30, 9, 0))]
    """
    q = select(User.username, User.role, User.disabled, User.created_at).order_by(User.username)
    return [(u, r, bool(d), c) for u, r, d, c in session.execute(q)]


def authenticate(*, session: Session, username: str, password: str) -> User | None:
    """The enabled account matching ``username`` and ``password``, else None.

    A hash is checked even for unknown names, so timing does not reveal which names exist.
    """
    from werkzeug.security import check_password_hash, generate_password_hash

    user = get_user(session=session, username=username) if isinstance(username, str) else None
    if user is None:
        check_password_hash(_dummy_hash(generate_password_hash), password or "")
        return None
    if not check_password_hash(user.password_hash, password or "") or user.disabled:
        return None
    return user


_DUMMY: list[str] = []


def _dummy_hash(make) -> str:
    if not _DUMMY:
        _DUMMY.append(make("not a password of anyone"))
    return _DUMMY[0]
