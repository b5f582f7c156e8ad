"""One error vocabulary for the whole package.

Every error a user can cause derives from :class:`ForecastingError`; the CLI turns it
into one clear line and a non-zero exit code. Messages say which parameter, what was
expected and what was given, e.g. ``"cell_size must be a positive number of metres; got -5"``.
"""

from __future__ import annotations


class ForecastingError(Exception):
    """Base class of every error the package raises on purpose."""


class ConfigError(ForecastingError, ValueError):
    """A setting or argument has an invalid value."""


class InputError(ForecastingError, ValueError):
    """An input file or frame cannot be used (missing columns, unknown format, ...)."""


class CRSError(ForecastingError, ValueError):
    """Two coordinate reference systems or units do not match."""


class DataError(ForecastingError):
    """The data is insufficient for the requested operation (e.g. no incidents before the origin)."""


class StoreError(ForecastingError):
    """The database is unreachable, not migrated, or refused a write."""


def check_positive(name: str, value: float, unit: str = "") -> float:
    """Return ``value`` if it is a positive number, else raise :class:`ConfigError`.

    Examples
    --------
    >>> check_positive("cell_size", 150, "metres")
    150
    """
    try:
        ok = value > 0
    except TypeError:
        ok = False
    if not ok:
        what = f"a positive number of {unit}" if unit else "a positive number"
        raise ConfigError(f"{name} must be {what}; got {value!r}")
    return value
