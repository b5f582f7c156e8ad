"""Programmatic Alembic: ``upgrade``/``downgrade``/``current`` against a URL."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from forecasting.errors import StoreError
from forecasting.store import lite

if TYPE_CHECKING:  # alembic doubles the start-up time; `db current` reads the version without it
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the repository's ``migrations/`` and at ``url``."""
    from alembic.config import Config

    if not MIGRATIONS_DIR.is_dir():
        raise StoreError(f"migrations directory not found at {MIGRATIONS_DIR}")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["url"] = url
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Upgrade the database at ``url`` to ``revision``."""
    from alembic import command

    _run(command.upgrade, url, revision)


def downgrade(url: str, revision: str = "base") -> None:
    """Downgrade the database at ``url`` to ``revision`` (``base`` drops every table)."""
    from alembic import command

    _run(command.downgrade, url, revision)


def _run(fn, url: str, revision: str) -> None:
    from alembic.util.exc import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    try:
        fn(alembic_config(url), revision)
    except CommandError as exc:
        raise StoreError(f"migration to {revision!r} failed: {exc}") from None
    except SQLAlchemyError as exc:
        detail = getattr(exc, "orig", None) or exc
        raise StoreError(f"migration to {revision!r} failed: {type(exc).__name__}: {detail}") from None


def current(url: str) -> str | None:
    """The revision the database is at (None when never migrated; a missing SQLite file stays missing).

    Reads Alembic's one-row ``alembic_version`` table directly (with :mod:`sqlite3` for a
    SQLite file), so the command answers without importing Alembic or SQLAlchemy.
    """
    rows = lite.read(url, "SELECT version_num FROM alembic_version", table="alembic_version", missing_ok=True)
    return rows[0][0] if rows else None


_REVISION = re.compile(r"""^(down_revision|revision)\s*(?::[^=]*)?=\s*['"]([^'"]*)['"]""", re.MULTILINE)


def head() -> str | None:
    """The newest revision in ``migrations/``: the one no other revision builds on.

    Read from the revision files' ``revision``/``down_revision`` lines (a test checks it
    against Alembic's own ``ScriptDirectory``), so ``db current`` does not import Alembic.

    Examples
    --------
    The head (e.g. ``'0007_cell_viewport'``) starts with the number of the newest revision file:

    >>> newest = max(p.name for p in (MIGRATIONS_DIR / "versions").glob("*.py"))
    >>> head()[:4] == newest[:4]
    True
    """
    revisions, parents = set(), set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        found = dict((k, v) for k, v in _REVISION.findall(path.read_text(encoding="utf-8")))
        if "revision" in found:
            revisions.add(found["revision"])
            parents.add(found.get("down_revision"))
    heads = sorted(revisions - parents)
    if len(heads) > 1:
        raise StoreError(f"migrations/ has several heads {heads}; merge them with `alembic merge`")
    return heads[0] if heads else None
