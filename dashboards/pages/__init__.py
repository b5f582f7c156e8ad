"""Pages of the dashboard. Each module has ``PATH``, ``TITLE``, ``layout(ctx)`` and ``register(app, ctx)``.

Callback bodies are plain functions of a :class:`PageContext` and their inputs, so tests call
them with a fake provider and no browser; ``register`` only wires them to component ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dashboards.contracts import DashboardProvider, Recorder
from dashboards.figure_cache import FigureCache
from dashboards.settings import DashboardSettings


@dataclass
class PageContext:
    """What every page needs: the data provider, the recorder of writes, and the settings."""

    provider: DashboardProvider
    recorder: Recorder
    settings: DashboardSettings = field(default_factory=DashboardSettings)
    timezone: str | None = None
    backtest_out_dir: str = "var/artifacts/backtests"
    figures: FigureCache = field(default_factory=FigureCache)  # built maps of immutable runs, shared by users


def page_modules():
    """The page modules in navigation order."""
    from dashboards.pages import analysis, cameras, exports, models, risk_map, trust

    return [risk_map, cameras, models, exports, analysis, trust]
