"""Analysis jobs: the analyst's statistics on the stored incidents.

Loads the stored incidents (one city, local time) and calls :func:`forecasting.analysis.analyse`,
the one engine of hot spots, emerging hot spots and near-repeat tests; the CLI and the dashboard
both come here. Nothing is written to the database: an analysis is a read.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session, sessionmaker

from forecasting import analysis
from forecasting.config import Settings
from forecasting.grid import DEFAULT_CELL_SIZE
from forecasting.jobs.forecasting import load_events, period_spec
from forecasting.periods import PeriodSpec, as_spec


def run_analysis(factory: sessionmaker[Session], settings: Settings | None, kind: str, *, category: str = "all",
                 start=None, end=None, cell_size: float | None = None, period: str | PeriodSpec = "week",
                 sources: Sequence[str] | None = None, **options) -> analysis.AnalysisResult:
    """Run one analysis (``hotspots``, ``emerging`` or ``near-repeat``) on the stored incidents.

    Parameters
    ----------
    factory : sessionmaker
        Session factory on a migrated database.
    settings : Settings, optional
        ``cell_size`` is the default cell edge (else 150 m); ``shift_start`` and ``shift_hours`` lay out
        the shifts of ``period="shift"`` (else 06:00, 8 hours).
    kind, category, start, end
        See :func:`forecasting.analysis.analyse`.
    cell_size : float, optional
        Metres; default ``settings.cell_size``.
    period : str or PeriodSpec, default "week"
        Periods of the emerging hot spot cube; a string takes the settings' shift layout.
    sources : sequence of str, optional
        Only incidents of these sources (one city).
    **options
        Passed to :func:`forecasting.analysis.analyse` (``alpha``, ``permutations``, ``time_lag``...).

    Returns
    -------
    forecasting.analysis.AnalysisResult
    """
    stored = load_events(factory, sources=sources)
    result = analysis.analyse(stored.events, kind, category=category, start=start, end=end,
                              cell_size=cell_size or (settings.cell_size if settings else DEFAULT_CELL_SIZE),
                              period=period_spec(settings, period) if settings else as_spec(period), **options)
    result.meta["timezone"] = stored.tz
    return result


def categories(factory: sessionmaker[Session], *, sources: Sequence[str] | None = None, top: int = 30) -> list[str]:
    """``"all"`` and the most frequent stored categories (for choosers)."""
    stored = load_events(factory, sources=sources)
    return ["all"] + stored.events["category"].value_counts().index[:top].astype(str).tolist()
