"""Settings: environment variables prefixed ``CRIMECAST_`` and an optional TOML file.

Nothing is read at import time: call :func:`load_settings` (the CLI does, once).
Precedence, highest first: keyword arguments, environment, TOML file, defaults.
The TOML file is ``$CRIMECAST_CONFIG`` when set, else ``crimecast.toml`` in the
working directory when it exists.
"""

from __future__ import annotations

import os
from numbers import Integral
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from forecasting.errors import ConfigError

#: Default mapping of raw categories to groups, matched case-insensitively on substrings.
#: Order matters: the first pattern that matches wins; anything else maps to "other".
DEFAULT_CATEGORY_GROUPS: dict[str, str] = {
    "homicide": "violent",
    "assault": "violent",
    "battery": "violent",
    "robbery": "violent",
    "offence against a person": "violent",
    "violence": "violent",
    "sex": "violent",
    "weapon": "violent",
    "kidnap": "violent",
    "burglary": "burglary",
    "break and enter": "burglary",
    "vehicle theft": "vehicle",
    "theft of vehicle": "vehicle",
    "theft from vehicle": "vehicle",
    "vehicle crime": "vehicle",
    "motor vehicle": "vehicle",
    "theft": "theft",
    "larceny": "theft",
    "shoplifting": "theft",
    "bicycle": "theft",
    "stolen": "theft",
    "vandalism": "damage",
    "mischief": "damage",
    "criminal damage": "damage",
    "arson": "damage",
    "graffiti": "damage",
    "drug": "drugs",
    "narcotic": "drugs",
    "anti-social": "disorder",
    "public order": "disorder",
    "disorderly": "disorder",
    "drunk": "disorder",
    "prostitution": "disorder",
    "collision": "traffic",
    "traffic": "traffic",
}


#: The default grid cell edge in metres: the one place it is written (settings, grid, workflows use it).
DEFAULT_CELL_SIZE = 150.0
#: The default shift layout: three 8-hour shifts a day, the first starting at 06:00 local time.
DEFAULT_SHIFT_START = 6
DEFAULT_SHIFT_HOURS = 8


def _whole(value: object) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def check_shift_layout(shift_start: int, shift_hours: int) -> tuple[int, int]:
    """Return ``(shift_start, shift_hours)`` as ints if they make a shift layout, else raise :class:`ConfigError`.

    The one check of a shift layout: the settings and :class:`forecasting.periods.PeriodSpec` call it.

    Examples
    --------
    >>> check_shift_layout(22, 8)
    (22, 8)
    >>> check_shift_layout(6, 7)
    Traceback (most recent call last):
    ...
    forecasting.errors.ConfigError: shift_hours must be a whole number of hours dividing 24; got 7
    """
    if not (_whole(shift_hours) and 0 < shift_hours <= 24 and 24 % shift_hours == 0):
        raise ConfigError(f"shift_hours must be a whole number of hours dividing 24; got {shift_hours!r}")
    if not (_whole(shift_start) and 0 <= shift_start < 24):
        raise ConfigError(f"shift_start must be an hour in 0..23; got {shift_start!r}")
    return int(shift_start), int(shift_hours)


#: What ``crimecast db purge`` applies a retention limit to (``retention_<name>_days``).
RETENTION_TABLES = ("counts", "forecasts", "exports", "audit")


class Settings(BaseSettings):
    """Runtime settings of crimecast.

    Examples
    --------
    >>> s = Settings(data_dir="/tmp/cc", _toml_file=None)
    >>> s.resolved_database_url()
    'sqlite:////tmp/cc/crimecast.db'
    """

    model_config = SettingsConfigDict(env_prefix="CRIMECAST_", extra="ignore")

    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default a SQLite file in data_dir."
    )
    data_dir: Path = Field(default=Path("var"), description="Where the database and artifacts live.")
    cell_size: float = Field(default=DEFAULT_CELL_SIZE, description="Default grid cell size in metres.")
    # The shift layout of every shift forecast (forecasting.periods.PeriodSpec); stored with each run.
    shift_start: int = Field(default=DEFAULT_SHIFT_START, description="Hour (0-23) the first shift of the day starts.")
    shift_hours: int = Field(default=DEFAULT_SHIFT_HOURS, description="Shift length in hours (must divide 24).")
    timezone: str = Field(default="UTC", description="Time zone of sources that do not carry one.")
    retention_days: int = Field(default=730, description="Days that activity counts and audit rows are kept.")
    # Per-table retention (crimecast db purge); unset means retention_days.
    retention_counts_days: int | None = Field(default=None, description="Days activity counts and gaps are kept.")
    retention_forecasts_days: int | None = Field(default=None, description="Days issued forecast runs are kept.")
    retention_exports_days: int | None = Field(
        default=None, description="Days export files (under data_dir) and stored patrol visits are kept.")
    retention_audit_days: int | None = Field(default=None, description="Days audit rows are kept.")
    # The feedback-loop guard (docs/governance.md): train on counts recorded during stored patrol
    # visits weighted 1 / patrol_uplift. 2.0 is fairness.DETECTION_UPLIFT; estimate it locally.
    patrol_guard: bool = Field(default=True, description="Discount incidents recorded during patrol visits.")
    patrol_uplift: float = Field(default=2.0, description="Detection with a patrol over without (at least 1).")
    # Near-repeat windows from the training incidents (docs/analysis.md): a seeded Knox test of the
    # last near_repeat_days before the cut-off sets the near-repeat features and the reasons' sentence.
    near_repeat_knox: bool = Field(
        default=True, description="At training, choose the near-repeat feature windows from a Knox test.")
    near_repeat_days: int = Field(default=365, description="Days of training incidents the Knox test reads.")
    near_repeat_permutations: int = Field(default=199, description="Permutations of the training Knox test.")
    chunk_size: int = Field(default=50_000, description="Rows per ingestion chunk (bounds memory).")
    copy_workers: int = Field(
        default=2, description="PostgreSQL: connections that COPY ingest chunks into the staging tables in parallel.")
    study_area: tuple[float, float, float, float] | None = Field(
        default=None,
        description="Optional lon/lat box (west, south, east, north); rows outside are quarantined.",
    )
    # The scale-out path (forecasting.scaleout): unset runs train, forecast and backtest in one process.
    dask_scheduler: str | None = Field(
        default=None, description="Dask scheduler for train/forecast/backtest: 'local' (a LocalCluster) or an "
        "address such as tcp://host:8786; unset: one process, no Dask.")
    dask_workers: int = Field(default=2, description="Workers of a 'local' Dask cluster.")
    dask_memory_limit: str = Field(default="4GB", description="Memory cap per worker of a 'local' Dask cluster.")
    dask_tile_cells: int = Field(default=128, description="Side of a spatial tile in cells (Dask path).")
    category_groups: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_CATEGORY_GROUPS))

    @field_validator("cell_size")
    @classmethod
    def _positive_cell(cls, v: float) -> float:
        if v <= 0:
            raise ValueError(f"cell_size must be a positive number of metres; got {v}")
        return v

    @field_validator("shift_hours")
    @classmethod
    def _shift_hours(cls, v: int) -> int:
        return check_shift_layout(DEFAULT_SHIFT_START, v)[1]

    @field_validator("shift_start")
    @classmethod
    def _shift_start(cls, v: int) -> int:
        return check_shift_layout(v, DEFAULT_SHIFT_HOURS)[0]

    @field_validator("patrol_uplift")
    @classmethod
    def _uplift_at_least_one(cls, v: float) -> float:
        if not v >= 1:
            raise ValueError(f"patrol_uplift must be at least 1 (detection with a patrol over without); got {v}")
        return v

    @field_validator("near_repeat_permutations")
    @classmethod
    def _enough_permutations(cls, v: int) -> int:
        if v < 9:
            raise ValueError(f"near_repeat_permutations must be an integer of at least 9; got {v}")
        return v

    @field_validator("retention_days", "chunk_size", "copy_workers", "dask_workers", "dask_tile_cells",
                     "near_repeat_days", "retention_counts_days", "retention_forecasts_days", "retention_exports_days",
                     "retention_audit_days")
    @classmethod
    def _positive_int(cls, v: int | None) -> int | None:
        if v is not None and v <= 0:
            raise ValueError(f"must be a positive integer; got {v}")
        return v

    @field_validator("timezone")
    @classmethod
    def _known_tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"timezone must be an IANA name such as 'Europe/London'; got {v!r}") from exc
        return v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = init_settings.init_kwargs.pop("_toml_file", "auto")  # type: ignore[attr-defined]
        if toml_file == "auto":
            toml_file = os.environ.get("CRIMECAST_CONFIG") or (
                "crimecast.toml" if Path("crimecast.toml").exists() else None
            )
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file:
            if not Path(toml_file).exists():
                raise ConfigError(f"config file {toml_file!s} does not exist")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to ``sqlite:///<data_dir>/crimecast.db``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{Path(self.data_dir).expanduser().absolute() / 'crimecast.db'}"

    def retention(self, table: str) -> int:
        """Days rows of ``table`` (counts, forecasts, exports, audit) are kept.

        Examples
        --------
        >>> Settings(retention_days=90, retention_audit_days=400, _toml_file=None).retention("counts")
        90
        """
        if table not in RETENTION_TABLES:
            raise ConfigError(f"table must be one of {list(RETENTION_TABLES)}; got {table!r}")
        days = getattr(self, f"retention_{table}_days")
        return self.retention_days if days is None else days

    def artifacts_dir(self) -> Path:
        """Directory for model artifacts and reports (created on demand by writers)."""
        return Path(self.data_dir) / "artifacts"


def load_settings(**overrides: Any) -> Settings:
    """Build :class:`Settings`, turning validation errors into one clear :class:`ConfigError`."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ConfigError("invalid settings: " + "; ".join(parts)) from None
