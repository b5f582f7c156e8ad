"""The Analysis page's reads: emerging hot spots and Knox tests, asked of the analysis job.

Mixed into :class:`~dashboards.store_provider.StoreProvider`: it calls
:func:`forecasting.jobs.analysis.run_analysis` on the stored incidents (the test suite's fake
provider runs the same engine on synthetic events: ``tests/support``). Results are cached per
(kind, category, window): an analysis of stored incidents only changes when incidents are
ingested, so the cache is small.
"""

from __future__ import annotations

import pandas as pd

from dashboards.figure_cache import FigureCache

#: Years of data the default window covers (the last ones).
DEFAULT_YEARS = 1
#: Knox and Local Moran permutations on the page: enough for a Benjamini-Hochberg q below 0.05 over
#: the 9 default bands, and a few seconds on a year of a city's incidents (the CLI defaults to 999).
PAGE_PERMUTATIONS = 199
#: Analyses kept per provider.
CACHE_SIZE = 8


def window_options(events: pd.DataFrame) -> dict:
    """The page's choices for ``events``: categories ("all" first), the default window (last year), the data's span."""
    last = pd.Timestamp(events["occurred_local"].max()).normalize()
    first = pd.Timestamp(events["occurred_local"].min()).normalize()
    start = max(first, last - pd.DateOffset(years=DEFAULT_YEARS) + pd.Timedelta(days=1))
    cats = ["all"] + events["category"].value_counts().index[:30].astype(str).tolist()
    return {"categories": cats, "start": str(start.date()), "end": str(last.date()),
            "first": str(first.date()), "last": str(last.date())}


class StoreAnalysis:
    """Analysis reads of a store-backed provider (needs ``self.factory``)."""

    def _analysis_cache(self) -> FigureCache:
        if getattr(self, "_analysis", None) is None:
            self._analysis = FigureCache(size=CACHE_SIZE, ttl=float("inf"))
        return self._analysis

    def analysis_options(self) -> dict:
        """``categories`` ("all" first), default ``start``/``end`` (the last year), the data's ``first``/``last``."""
        from forecasting.jobs.forecasting import load_events

        return self._analysis_cache().get_or("options", lambda: window_options(load_events(self.factory).events))

    def analysis(self, kind: str, category: str, start: str | None, end: str | None):
        """An :class:`~forecasting.analysis.AnalysisResult` of the stored incidents (cached)."""
        from forecasting.jobs.analysis import run_analysis

        return self._analysis_cache().get_or((kind, category, start, end), lambda: run_analysis(
            self.factory, None, kind, category=category, start=start, end=end, permutations=PAGE_PERMUTATIONS))
