"""The database a writing command works on: created and migrated when it is a new SQLite file.

``crimecast db upgrade`` stays the one way to move an existing database to a newer schema:
a command never migrates data it did not create.
"""

from __future__ import annotations

from forecasting.errors import StoreError
from forecasting.store import migrate
from forecasting.store.session import sqlite_file_missing


def ensure_database(url: str) -> None:
    """Create and migrate ``url`` when it names a SQLite file that does not exist yet; else check its revision.

    Parameters
    ----------
    url : str
        SQLAlchemy database URL.

    Raises
    ------
    StoreError
        When an existing database is not at the newest schema revision (the message says to
        run ``crimecast db upgrade``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> url = f"sqlite:///{pathlib.Path(tempfile.mkdtemp()) / 'new' / 'crimecast.db'}"
    >>> ensure_database(url)
    >>> migrate.current(url) == migrate.head()
    True
    """
    if sqlite_file_missing(url):
        migrate.upgrade(url)
        return
    current, head = migrate.current(url), migrate.head()
    if current != head:
        from sqlalchemy.engine import make_url

        shown = make_url(url).render_as_string(hide_password=True)
        raise StoreError(f"the database at {shown} is at schema revision {current or 'base'}, not {head}; "
                         "run `crimecast db upgrade` first")
