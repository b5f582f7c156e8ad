"""The Analysis page's reads: emerging hot spots and Knox tests, asked of the analysis job.

Mixed into the providers (:class:`~dashboards.store_provider.StoreProvider`, the test suite's ``FakeProvider``):
the store-backed one calls :func:`forecasting.jobs.analysis.run_analysis` on the stored incidents, the
fake one runs the same engine (:func:`forecasting.analysis.analyse`) on a seeded synthetic city with a
planted growing hot spot and planted near repeats. Results are cached per (kind, category, window):
an analysis of stored incidents only changes when incidents are ingested, so the cache is small.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboards.figure_cache import FigureCache

#: Years of data the default window covers (the last ones).
DEFAULT_YEARS = 1
#: Knox and Local Moran permutations on the page: enough for a Benjamini-Hochberg q below 0.05 over
#: the 9 default bands, and a few seconds on a year of a city's incidents (the CLI defaults to 999).
PAGE_PERMUTATIONS = 199
_CACHE_SIZE = 8


def _options(events: pd.DataFrame) -> dict:
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
            self._analysis = FigureCache(size=_CACHE_SIZE, ttl=float("inf"))
        return self._analysis

    def analysis_options(self) -> dict:
        """``categories`` ("all" first), default ``start``/``end`` (the last year), the data's ``first``/``last``."""
        from forecasting.jobs.forecasting import load_events

        return self._analysis_cache().get_or("options", lambda: _options(load_events(self.factory).events))

    def analysis(self, kind: str, category: str, start: str | None, end: str | None):
        """An :class:`~forecasting.analysis.AnalysisResult` of the stored incidents (cached)."""
        from forecasting.jobs.analysis import run_analysis

        return self._analysis_cache().get_or((kind, category, start, end), lambda: run_analysis(
            self.factory, None, kind, category=category, start=start, end=end, permutations=PAGE_PERMUTATIONS))


class FakeAnalysis:
    """Analysis reads of the fake provider: a seeded synthetic city on ``self.cells``."""

    def _analysis_events(self) -> pd.DataFrame:
        if getattr(self, "_analysis_ev", None) is None:
            self._analysis_ev = synthetic_events(self.cells, seed=0)
        return self._analysis_ev

    def analysis_options(self) -> dict:
        return _options(self._analysis_events())

    def analysis(self, kind: str, category: str, start: str | None, end: str | None):
        from forecasting.analysis import analyse

        if getattr(self, "_analysis", None) is None:
            self._analysis = FigureCache(size=_CACHE_SIZE, ttl=float("inf"))
        return self._analysis.get_or((kind, category, start, end), lambda: analyse(
            self._analysis_events(), kind, category=category, start=start, end=end, permutations=PAGE_PERMUTATIONS))


def synthetic_events(cells: pd.DataFrame, *, seed: int = 0, weeks: int = 104) -> pd.DataFrame:
    """Two years of seeded burglaries on the cells: background, a hot spot growing in the last
    half-year, and near repeats (a fifth of incidents followed within 100 m and 5 days)."""
    rng = np.random.default_rng(seed)
    lon0, lat0 = cells["centroid_lon"].to_numpy(float), cells["centroid_lat"].to_numpy(float)
    t0 = pd.Timestamp("2023-01-02")
    n_bg = 6 * weeks
    i = rng.integers(0, len(cells), n_bg)
    days = rng.uniform(0, 7 * weeks, n_bg)
    hot = int(np.argmin((lon0 - np.median(lon0)) ** 2 + (lat0 - np.median(lat0)) ** 2))
    n_hot = 8 * 26
    i = np.r_[i, np.full(n_hot, hot)]
    days = np.r_[days, 7 * weeks - 7 * 26 * (1 - np.sqrt(rng.uniform(0, 1, n_hot)))]  # density rising to the end
    k = len(i) // 5
    src = rng.choice(len(i), k, replace=False)
    i = np.r_[i, i[src]]
    days = np.r_[days, np.minimum(days[src] + rng.uniform(0, 5, k), 7 * weeks - 0.01)]
    jitter = 0.0006  # about 50-65 m
    return pd.DataFrame({
        "occurred_local": t0 + pd.to_timedelta(days, unit="D"),
        "longitude": lon0[i] + rng.uniform(-jitter, jitter, len(i)),
        "latitude": lat0[i] + rng.uniform(-jitter / 1.5, jitter / 1.5, len(i)),
        "category": "burglary", "category_group": "burglary", "time_resolution": "minute",
    })
