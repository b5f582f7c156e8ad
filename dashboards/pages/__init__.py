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
    #: Encoded maps of immutable runs, shared by users (keys name the layers' data version: no expiry needed).
    figures: FigureCache = field(default_factory=lambda: FigureCache(size=48, ttl=float("inf")))
    #: Encoded cell panels of immutable runs, per (run, cell): apart, so that clicks never push maps out.
    panels: FigureCache = field(default_factory=lambda: FigureCache(size=512, ttl=float("inf")))
    #: Small derived lists (period options per list of runs).
    options: FigureCache = field(default_factory=lambda: FigureCache(size=32, ttl=float("inf")))
    #: Fingerprints of the editable map layers (cameras, places), re-read at most every 30 s.
    layer_versions: FigureCache = field(default_factory=lambda: FigureCache(size=8, ttl=30.0))


def page_modules():
    """The page modules in navigation order."""
    from dashboards.pages import analysis, cameras, exports, models, risk_map, trust

    return [risk_map, cameras, models, exports, analysis, trust]
