"""Dashboard settings, read from ``CRIMECAST_*`` environment variables (nothing at import time).

Kept apart from :class:`forecasting.config.Settings` because only the dashboard needs them.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Map styles that need no network; anything else is treated as a style URL.
OFFLINE_STYLES = ("white-bg",)


class DashboardSettings(BaseSettings):
    """Settings of the web dashboard.

    Environment variables: ``CRIMECAST_TILE_URL``, ``CRIMECAST_MAP_STYLE``, ``CRIMECAST_SECRET_KEY``,
    ``CRIMECAST_BOUNDARY_FILES`` (JSON list of GeoJSON paths), ``CRIMECAST_COOKIE_SECURE``,
    ``CRIMECAST_SESSION_HOURS``, ``CRIMECAST_SESSION_IDLE_MINUTES``, ``CRIMECAST_TRUSTED_PROXIES``,
    ``CRIMECAST_MAX_TASKS_PER_USER``.

    Examples
    --------
    >>> DashboardSettings(tile_url=None).online
    False
    """

    model_config = SettingsConfigDict(env_prefix="CRIMECAST_", extra="ignore")

    tile_url: str | None = Field(
        default=None,
        description="Raster tile URL template ({z}/{x}/{y}) for an online basemap; none by default (offline).",
    )
    map_style: str = Field(default="white-bg", description="Map style name or style-JSON URL (online only).")
    secret_key: str | None = Field(default=None, description="Session-cookie signing key; generated if absent.")
    boundary_files: list[Path] = Field(
        default_factory=list, description="GeoJSON boundary layers; else data_dir/boundaries/*.geojson."
    )
    cookie_secure: bool = Field(default=False, description="Send the session cookie over HTTPS only.")
    session_hours: float = Field(default=12.0, description="Hours a sign-in lasts at most (never re-issued).")
    session_idle_minutes: float = Field(default=30.0, description="Minutes without a request that end a session.")
    trusted_proxies: int = Field(
        default=0, ge=0, le=5,
        description="Reverse proxies in front of the server whose X-Forwarded-For is trusted (0: none).",
    )
    max_tasks_per_user: int = Field(default=2, ge=1, description="Background tasks one user may run at once.")

    @field_validator("session_hours", "session_idle_minutes")
    @classmethod
    def _positive(cls, v: float, info) -> float:
        if v <= 0:
            raise ValueError(f"{info.field_name} must be a positive number; got {v}")
        return v

    @property
    def online(self) -> bool:
        """Whether the map draws a basemap from the network."""
        return bool(self.tile_url) or self.map_style not in OFFLINE_STYLES


def secret_key(dash_settings: DashboardSettings, data_dir: Path) -> str:
    """The session signing key: the setting, else a key generated once and kept in ``data_dir``.

    The generated key lives in ``data_dir/dashboard_secret_key`` (mode 0600), so every worker and
    restart of one deployment share it while two deployments never do.
    """
    if dash_settings.secret_key:
        return dash_settings.secret_key
    path = Path(data_dir) / "dashboard_secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker won the race: use its key
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key
