"""Pages of the dashboard. Each module has ``PATH``, ``TITLE``, ``layout(ctx)`` and ``register(app, ctx)``.

Callback bodies are plain functions of a :class:`PageContext` and their inputs, so tests call
them with a fake provider and no browser; ``register`` only wires them to component ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dashboards.provider import DashboardProvider, Recorder
from dashboards.settings import DashboardSettings


@dataclass
class PageContext:
    """What every page needs: the data provider, the recorder of writes, and the settings."""

    provider: DashboardProvider
    recorder: Recorder
    settings: DashboardSettings = field(default_factory=DashboardSettings)
    timezone: str | None = None
    backtest_out_dir: str = "var/artifacts/backtests"


def page_modules():
    """The page modules in navigation order."""
    from dashboards.pages import analysis, cameras, exports, models, risk_map

    return [risk_map, cameras, models, exports, analysis]
