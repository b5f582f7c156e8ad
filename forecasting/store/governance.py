"""Repository functions for accounts and the audit log (who viewed, exported, retrained what).

The audit log is a hash chain: each row stores ``prev_hash`` (the row before it, or
:data:`GENESIS`) and ``row_hash = sha256(prev_hash + canonical content)``. Editing a row breaks
its own hash; deleting or reordering rows breaks a link; truncating the newest rows is caught
by comparing with a head hash anchored elsewhere (``crimecast audit head``). Appends are
serialised (an advisory transaction lock on PostgreSQL, the database write lock on SQLite) so
concurrent writers never fork the chain. The retention purge deletes a prefix of the chain
and appends a checkpoint row naming the hash it replaced.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from forecasting.errors import ConfigError
from forecasting.store.models import AuditEvent, Forecast, ForecastRun, PatrolVisit, User

#: ``prev_hash`` of the first row ever written.
GENESIS = "0" * 64
#: Action of the row a purge appends: it records the purged span and the hash it replaced.
CHECKPOINT = "audit_checkpoint"
# Any fixed 64-bit key: the advisory lock that serialises appends on PostgreSQL.
_PG_LOCK_KEY = 0x63_72_69_6D_65_61_75


def _utc_text(at: datetime) -> str:
    # SQLite returns naive datetimes (stored as UTC); PostgreSQL returns aware ones.
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def chain_hash(prev_hash: str, *, at: datetime, username: str | None, action: str, target: str | None,
               details) -> str:
    """The hash of one audit row: sha256 over the previous hash and the row's canonical JSON.

    Examples
    --------
    >>> h = chain_hash(GENESIS, at=datetime(2024, 1, 1, tzinfo=UTC), username="ana", action="view",
    ...                target="forecast 1", details={"b": 1, "a": [1, 2]})
    >>> len(h), h == chain_hash(GENESIS, at=datetime(2024, 1, 1), username="ana", action="view",
    ...                         target="forecast 1", details={"a": [1, 2], "b": 1})
    (64, True)
    """
    content = json.dumps({"at": _utc_text(at), "username": username, "action": action, "target": target,
                          "details": details}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + content).encode("utf-8")).hexdigest()


def _lock_chain(session: Session) -> None:
    """Hold the append lock until the transaction ends, so the head read next is the real head."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    else:
        # A write statement takes SQLite's database write lock (a no-op update of no row).
        session.execute(update(AuditEvent).where(AuditEvent.id < 0).values(action=AuditEvent.action))


def _head(session: Session) -> tuple[int | None, str]:
    row = session.execute(select(AuditEvent.id, AuditEvent.row_hash).order_by(AuditEvent.id.desc()).limit(1)).first()
    return (None, GENESIS) if row is None else (row.id, row.row_hash)

if TYPE_CHECKING:  # pandas only where a frame is built: `crimecast users list` stays fast
    import pandas as pd


def record_audit(
    *, session: Session, username: str | None, action: str, target: str | None = None,
    details: dict | None = None,
) -> int:
    """Append one audit event to the hash chain; returns its id.

    Targets describe places and products, never persons. Text is cut to
    :data:`AUDIT_TEXT_LIMIT` characters (names to 64) before hashing: hostile input such as a
    600,000-character sign-in name must not grow the log. ``details`` is stored as it reads back
    from JSON (tuples become lists), so the hash computed now is the hash verified later.
    """
    username, action, target = _cut(username, 64), _cut(action, 32), _cut(target, AUDIT_TEXT_LIMIT)
    details = _cut_details(details)
    details = None if details is None else json.loads(json.dumps(details, default=str))
    _lock_chain(session)
    _, prev = _head(session)
    # Microseconds are the precision both SQLite and PostgreSQL keep.
    at = datetime.now(UTC)
    event = AuditEvent(at=at, username=username, action=action, target=target, details=details,
                       prev_hash=prev, row_hash=chain_hash(prev, at=at, username=username, action=action,
                                                           target=target, details=details))
    session.add(event)
    session.flush()
    return event.id


#: Longest text kept in one audit field (longer values are cut and marked with an ellipsis).
AUDIT_TEXT_LIMIT = 500


def _cut(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _cut_value(v):
    """Scalars kept; strings cut; lists and mappings kept when their JSON is short, else cut as text."""
    if isinstance(v, int | float | bool) or v is None:
        return v
    if isinstance(v, str):
        return _cut(v, AUDIT_TEXT_LIMIT)
    as_json = json.dumps(v, default=str)
    return v if len(as_json) <= AUDIT_TEXT_LIMIT else _cut(as_json, AUDIT_TEXT_LIMIT)


def _cut_details(details: dict | None) -> dict | None:
    if details is None:
        return None
    return {_cut(k, 64): _cut_value(v) for k, v in list(details.items())[:32]}


def audit_head(*, session: Session) -> dict:
    """The newest row of the chain: ``{"id", "row_hash", "rows"}`` (``id`` None when empty).

    Anchor ``row_hash`` elsewhere (a ticket, a signed e-mail); a later
    ``crimecast audit verify --head HASH`` proves no row up to it was changed or cut.
    """
    head_id, head = _head(session)
    rows = int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)
    return {"id": head_id, "row_hash": head, "rows": rows}


@dataclass(frozen=True)
class ChainReport:
    """What :func:`verify_audit` found: ``ok``, rows checked, the head, and the first problem."""

    ok: bool
    rows: int
    head_id: int | None
    head_hash: str
    problem_id: int | None = None
    problem: str | None = None
    message: str = "the audit chain is intact"

    def to_dict(self) -> dict:
        return asdict(self)


def _classify_break(session: Session, row_id: int, prev_hash: str) -> tuple[str, str]:
    """Why a row's link fails: the row it names is elsewhere (reordered) or gone (deleted)."""
    other = session.scalar(select(AuditEvent.id).where(AuditEvent.row_hash == prev_hash).limit(1))
    if other is not None and other != row_id:
        return "reordered", (f"row {row_id} follows a row that is stored at id {other}: rows were "
                             "reordered")
    return "deleted", (f"row {row_id} names a previous row that no longer exists: a row before it "
                       "was deleted")


def verify_audit(*, session: Session, head: str | None = None, batch: int = 10_000) -> ChainReport:
    """Recompute the chain in id order and report the first edited, deleted or reordered row.

    Parameters
    ----------
    session : Session
    head : str, optional
        A head hash anchored earlier; the chain must still contain it (catches cut-off rows).
    batch : int, default 10000
        Rows read at a time (bounds memory).

    Returns
    -------
    ChainReport

    Examples
    --------
    Skipped in the test run: it needs a session ``s`` on a migrated database.

    >>> verify_audit(session=s).ok  # doctest: +SKIP
    True
    """
    cols = (AuditEvent.id, AuditEvent.at, AuditEvent.username, AuditEvent.action, AuditEvent.target,
            AuditEvent.details, AuditEvent.prev_hash, AuditEvent.row_hash)
    expected: str | None = None  # the previous row's stored hash
    first: tuple[int, str] | None = None
    checkpoints: dict[str, int | None] = {}  # replaced hash -> first kept id
    seen_head = head is None
    n, last_id, last_hash = 0, None, GENESIS
    problem: tuple[int, str, str] | None = None
    for r in session.execute(select(*cols).order_by(AuditEvent.id)).yield_per(batch):
        n += 1
        own = chain_hash(r.prev_hash or "", at=r.at, username=r.username, action=r.action, target=r.target,
                         details=r.details)
        if problem is None:
            if own != r.row_hash:
                problem = (r.id, "edited", f"row {r.id} ({r.action}) does not match its hash: it was edited")
            elif expected is not None and r.prev_hash != expected:
                problem = (r.id, *_classify_break(session, r.id, r.prev_hash))
        if first is None:
            first = (r.id, r.prev_hash)
        if r.action == CHECKPOINT and isinstance(r.details, dict):
            checkpoints[r.details.get("replaced_hash")] = r.details.get("first_kept_id") or r.id
        seen_head = seen_head or r.row_hash == head
        expected, last_id, last_hash = r.row_hash, r.id, r.row_hash
    if first is not None and first[1] != GENESIS and checkpoints.get(first[1]) != first[0]:
        # The oldest row must start the chain, or continue one a checkpoint says was purged.
        if problem is None or problem[0] > first[0]:
            problem = (first[0], "deleted", f"row {first[0]} is the oldest row but neither starts the chain "
                       "nor follows a purge checkpoint: older rows were deleted")
    if problem is None and not seen_head:
        problem = (last_id or 0, "truncated", f"the anchored head {head} is not in the chain: rows after "
                   "it were deleted or the chain was rewritten")
    if problem is None:
        return ChainReport(True, n, last_id, last_hash)
    return ChainReport(False, n, last_id, last_hash, problem[0], problem[1], problem[2])


def purge_audit(*, session: Session, before: datetime, dry_run: bool = False, username: str | None = None) -> int:
    """Delete the oldest audit events, up to the first one at or after ``before``; returns how many.

    Only a prefix of the chain is removed (an event older than ``before`` but after a newer one
    waits for a later purge), and a :data:`CHECKPOINT` row is appended recording the span and
    the hash of the last purged row, so the rest still verifies.
    """
    if not dry_run:
        _lock_chain(session)
    first_kept = session.scalar(select(func.min(AuditEvent.id)).where(AuditEvent.at >= before))
    span = select(func.count(), func.min(AuditEvent.id), func.max(AuditEvent.id))
    if first_kept is not None:
        span = span.where(AuditEvent.id < first_kept)
    n, lo, hi = session.execute(span).one()
    n = int(n or 0)
    if dry_run or n == 0:
        return n
    replaced = session.scalar(select(AuditEvent.row_hash).where(AuditEvent.id == hi))
    session.execute(delete(AuditEvent).where(AuditEvent.id <= hi))
    record_audit(session=session, username=username, action=CHECKPOINT, target=f"audit rows {lo}-{hi}",
                 details={"purged_rows": n, "first_purged_id": lo, "last_purged_id": hi,
                          "before": _utc_text(before), "replaced_hash": replaced, "first_kept_id": first_kept})
    return n


def audit_activity(*, session: Session) -> pd.DataFrame:
    """Audit events per month and action (``month``, ``action``, ``events``): aggregate, no names."""
    import pandas as pd

    q = select(AuditEvent.at, AuditEvent.action)
    frame = pd.read_sql(q, session.connection())
    if frame.empty:
        return pd.DataFrame({"month": pd.Series(dtype=str), "action": pd.Series(dtype=str),
                             "events": pd.Series(dtype="int64")})
    month = pd.to_datetime(frame["at"], utc=True).dt.strftime("%Y-%m")
    return (frame.assign(month=month).groupby(["month", "action"]).size().rename("events").reset_index()
            .sort_values(["month", "action"], ignore_index=True))


# ---------------------------------------------------------------- patrol visits
def save_patrol_visits(*, session: Session, visits: pd.DataFrame, audit_id: int | None, shift: str | None,
                       model_version_id: int | None, exported_at: datetime | None = None) -> int:
    """Store the visit windows of an exported patrol plan; returns how many.

    ``visits``: ``hotspot_id, area, start, end`` (UTC), optional ``longitude, latitude, cell_ids``.
    """
    import pandas as pd

    if visits.empty:
        return 0
    at = exported_at or datetime.now(UTC)
    cols = {c: visits[c] if c in visits else None for c in ("longitude", "latitude", "cell_ids", "area")}
    frame = pd.DataFrame({
        "audit_id": audit_id, "exported_at": at, "shift": shift, "model_version_id": model_version_id,
        "hotspot_id": visits["hotspot_id"].astype(str), "area": cols["area"],
        "start": pd.to_datetime(visits["start"], utc=True), "end": pd.to_datetime(visits["end"], utc=True),
        "longitude": cols["longitude"], "latitude": cols["latitude"], "cell_ids": cols["cell_ids"],
    })
    records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    session.execute(PatrolVisit.__table__.insert(), [
        {**r, "start": r["start"].to_pydatetime(), "end": r["end"].to_pydatetime(),
         "cell_ids": None if r["cell_ids"] is None else [str(c) for c in r["cell_ids"]]} for r in records])
    return len(records)


def patrol_visits(*, session: Session, start: datetime | None = None, end: datetime | None = None) -> pd.DataFrame:
    """Stored patrol visits overlapping ``[start, end)`` (UTC), oldest first."""
    import pandas as pd

    q = select(PatrolVisit.hotspot_id, PatrolVisit.area, PatrolVisit.start, PatrolVisit.end,
               PatrolVisit.longitude, PatrolVisit.latitude, PatrolVisit.cell_ids, PatrolVisit.shift,
               PatrolVisit.model_version_id).order_by(PatrolVisit.start)
    if start is not None:
        q = q.where(PatrolVisit.end > start)
    if end is not None:
        q = q.where(PatrolVisit.start < end)
    out = pd.read_sql(q, session.connection())
    for c in ("start", "end"):
        out[c] = pd.to_datetime(out[c], utc=True)
    return out


def purge_patrol_visits(*, session: Session, before: datetime, dry_run: bool = False) -> int:
    """Delete patrol visits that ended before ``before``; returns how many."""
    old = PatrolVisit.end < before
    if dry_run:
        return int(session.scalar(select(func.count()).select_from(PatrolVisit).where(old)) or 0)
    return int(session.execute(delete(PatrolVisit).where(old)).rowcount or 0)


def purge_forecasts(*, session: Session, before: datetime, dry_run: bool = False) -> int:
    """Delete forecast runs whose period ended before ``before``, with their cells; returns how many runs."""
    old = select(ForecastRun.id).where(ForecastRun.period_end < before)
    if dry_run:
        return int(session.scalar(select(func.count()).select_from(old.subquery())) or 0)
    session.execute(delete(Forecast).where(Forecast.run_id.in_(old)))
    return int(session.execute(delete(ForecastRun).where(ForecastRun.period_end < before)).rowcount or 0)


def expired_exports(*, session: Session, before: datetime) -> list[str]:
    """Paths of exports recorded in the audit log before ``before`` (for the file purge)."""
    rows = session.execute(select(AuditEvent.details).where(AuditEvent.action == "export",
                                                             AuditEvent.at < before)).scalars()
    return [d["path"] for d in rows if isinstance(d, dict) and isinstance(d.get("path"), str)]


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


def check_role(role: str) -> str:
    """``role`` if it is one of :data:`ROLES`, else a :class:`ConfigError`."""
    if role not in ROLES:
        raise ConfigError(f"role must be one of {list(ROLES)}; got {role!r}")
    return role


def check_username(username: str) -> str:
    """``username`` if it is 1-64 letters, digits and ``. _ - @``, else a :class:`ConfigError`."""
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
    check_role(needed)
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
    Skipped in the test run: it needs a session ``s`` on a migrated database.

    >>> create_user(session=s, username="ana", password="correct horse battery", role="analyst")  # doctest: +SKIP
    1
    """
    from werkzeug.security import generate_password_hash

    check_username(username)
    check_role(role)
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
    _bump(user)
    session.flush()


def set_disabled(*, session: Session, username: str, disabled: bool = True) -> None:
    """Disable (or re-enable) an account; a disabled account cannot sign in, and its sessions end."""
    user = _existing(session, username)
    user.disabled = bool(disabled)
    _bump(user)
    session.flush()


def set_role(*, session: Session, username: str, role: str) -> None:
    """Change the role of an existing account."""
    check_role(role)
    user = _existing(session, username)
    if user.role != role:
        user.role = role
        _bump(user)
    session.flush()


def end_sessions(*, session: Session, username: str) -> int:
    """End every open dashboard session of ``username`` (sign-out); returns the new session generation.

    A session cookie carries the generation it was issued under; the dashboard refuses any cookie
    whose generation is not the account's current one.
    """
    user = _existing(session, username)
    _bump(user)
    session.flush()
    return user.session_generation


def _bump(user: User) -> None:
    user.session_generation = (user.session_generation or 0) + 1


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
    Skipped in the test run: it needs a session ``s`` on a migrated database.

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
