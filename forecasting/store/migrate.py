"""Programmatic Alembic: ``upgrade``/``downgrade``/``current`` against a URL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from forecasting.errors import StoreError
from forecasting.store.session import make_engine

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the repository's ``migrations/`` and at ``url``."""
    if not MIGRATIONS_DIR.is_dir():
        raise StoreError(f"migrations directory not found at {MIGRATIONS_DIR}")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["url"] = url
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Upgrade the database at ``url`` to ``revision``."""
    _run(command.upgrade, url, revision)


def downgrade(url: str, revision: str = "base") -> None:
    """Downgrade the database at ``url`` to ``revision`` (``base`` drops every table)."""
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
    """The revision the database is at (None when never migrated)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def head() -> str | None:
    """The newest revision in ``migrations/``."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
