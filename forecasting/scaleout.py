"""Scale-out: the LightGBM risk model's features, training and scoring on a Dask cluster.

The grid is cut into square spatial tiles of ``tile`` x ``tile`` cells. Each tile travels to a
worker with a *halo*: the cells within :func:`halo_width` of it, as wide as the widest
neighbourhood any feature reads (the 5x5 block of ``n5_*``: 2 cells). A worker builds the
features of its tile plus halo with the ordinary :class:`~forecasting.features.FeatureBuilder`
(tile in, features out) and drops the halo rows, so every kept cell saw exactly the neighbours it
sees on one machine: tiled features equal single-machine features bit for bit (the box sums add
the same values in the same order). Training rows are built and subsampled per tile on the
workers and trained with :class:`lightgbm.dask.DaskLGBMRegressor` (the local model's settings);
each tile is scored where it lives.

:class:`DaskLGBMRiskModel` is :class:`~forecasting.model.LGBMRiskModel` with that path behind the
same ``fit(panel, origin)`` / ``predict_risk(panel, origin)`` protocol, so backtests, ``train``
and ``forecast`` use it unchanged; it saves the same artifact (a fitted model loads as an
``LGBMRiskModel``). It runs inside :func:`cluster`, which starts a ``LocalCluster`` (``"local"``)
or joins a running scheduler (an address).

Dask is imported only inside these functions: without a scheduler nothing here loads it.

Limits: square grids only (H3 rings would need ring halos), no context features, and weekly
periods when the time-of-day block is on (its profile is shrunk toward a city-wide share, which
no tile sees). The driver holds the panel (4 bytes per cell-period and target) and scatters the
tiles; features, training rows and scores live on the workers.

Layer 4 (beside evaluate, export, fairness): imports layers 0-3, numpy and, lazily, dask,
distributed and lightgbm.dask.
"""

from __future__ import annotations

import contextlib
import re
import sys
import time
import warnings
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

import lightgbm
import numpy as np

from forecasting import __version__
from forecasting.errors import ConfigError, DataError
from forecasting.features import FeatureBuilder, Panel
from forecasting.grid import Grid
from forecasting.model import ARTIFACT_FORMAT, LGBMRiskModel

#: Default tile side in cells (128 x 128 cells = 19 km at 150 m): a tile of five years of weeks
#: holds about 17 MB of counts per target, its features for one origin about 2.6 MB.
DEFAULT_TILE = 128
#: Smallest halo: the 5x5 neighbourhood counts (``n5_*``) reach 2 cells.
MIN_HALO = 2
_RING = re.compile(r"(?:^|_)nr?(\d+)_")


def halo_width(builder: FeatureBuilder, panel: Panel) -> int:
    """Cells of halo a tile needs: the widest ``k x k`` block any feature name reads, ``(k-1)/2``.

    Block features are named ``n{k}_*`` (also inside ``nr{k}_*``, ``other_n{k}_*``); at least
    :data:`MIN_HALO`.

    Examples
    --------
    >>> from forecasting.periods import Periods
    >>> g = Grid(crs="EPSG:32610", cell_size=100, col=np.array([0]), row=np.array([0]))
    >>> halo_width(FeatureBuilder(), Panel(g, Periods("week"), 0, {"all": np.zeros((1, 3), np.float32)}))
    2
    """
    ks = [int(m.group(1)) for n in builder.feature_names(panel) for m in _RING.finditer(n)]
    return max([MIN_HALO, *[(k - 1) // 2 for k in ks]])


@dataclass(frozen=True)
class Tile:
    """One tile: the cells it answers for and the cells (with halo) its worker reads.

    Attributes
    ----------
    cells : ndarray of int
        Grid indices of the tile plus halo, ascending (grid order).
    core : ndarray of int
        Positions within ``cells`` of the tile's own cells.
    """

    cells: np.ndarray
    core: np.ndarray

    @property
    def core_cells(self) -> np.ndarray:
        """Grid indices of the tile's own cells."""
        return self.cells[self.core]


def plan_tiles(grid: Grid, tile: int, halo: int) -> list[Tile]:
    """Split a square grid into ``tile`` x ``tile``-cell tiles with ``halo`` cells around each.

    Every cell is in exactly one tile's core; empty tiles are skipped.

    Examples
    --------
    >>> g = Grid(crs="EPSG:32610", cell_size=100, col=np.arange(5), row=np.zeros(5, int))
    >>> [(t.cells.tolist(), t.core_cells.tolist()) for t in plan_tiles(g, 2, 1)]
    [([0, 1, 2], [0, 1]), ([1, 2, 3, 4], [2, 3]), ([3, 4], [4])]
    """
    if getattr(grid, "kind", "square") != "square":
        raise ConfigError(f"the Dask path tiles square grids only; got a {grid.kind!r} grid")
    if tile < 1 or halo < 0:
        raise ConfigError(f"tile must be a positive number of cells and halo non-negative; got {tile}, {halo}")
    r = grid.row - grid.row.min()
    c = grid.col - grid.col.min()
    lookup = np.full((int(r.max()) + 1 + 2 * halo, int(c.max()) + 1 + 2 * halo), -1, dtype=np.int64)
    lookup[r + halo, c + halo] = np.arange(grid.n_cells)
    key = (r // tile) * (int(c.max()) // tile + 1) + c // tile
    tiles = []
    for k in np.unique(key):  # one step per tile, never per cell
        tr, tc = divmod(int(k), int(c.max()) // tile + 1)
        window = lookup[tr * tile:(tr + 1) * tile + 2 * halo, tc * tile:(tc + 1) * tile + 2 * halo]
        cells = np.sort(window[window >= 0])
        core = np.flatnonzero(key[cells] == k)
        tiles.append(Tile(cells, core))
    return tiles


def sub_panel(panel: Panel, cells: np.ndarray) -> Panel:
    """The panel restricted to ``cells`` (grid indices, ascending): same periods, every target."""
    g = panel.grid
    sub = Grid(crs=g.crs, cell_size=g.cell_size, col=g.col[cells], row=g.row[cells], boundary=g.boundary)
    return Panel(sub, panel.periods, panel.first, {k: v[cells] for k, v in panel.counts.items()},
                 panel.target, panel.data_hash, 0)


def _check_local(builder: FeatureBuilder, panel: Panel) -> None:
    if builder.time_of_day and panel.periods.kind != "week":
        raise ConfigError("the Dask path needs features local to a halo: at day, shift and hour periods the "
                          "time-of-day profile is shrunk toward a city-wide share; use period 'week' or "
                          "FeatureBuilder(time_of_day=False)")


# ---------------------------------------------------------------- worker functions (picklable)
def _fresh(sub: Panel, target: str) -> Panel:
    # A fresh cache per call: a worker holds many tiles, so no tile keeps origin-independent state.
    return Panel(sub.grid, sub.periods, sub.first, sub.counts, target, sub.data_hash, 0)


def _core_panel(sub: Panel, core: np.ndarray, target: str) -> Panel:
    g = sub.grid
    grid = Grid(crs=g.crs, cell_size=g.cell_size, col=g.col[core], row=g.row[core], boundary=g.boundary)
    return Panel(grid, sub.periods, sub.first, {k: v[core] for k, v in sub.counts.items()}, target,
                 sub.data_hash, 0)


def _tile_features(sub: Panel, core: np.ndarray, builder: FeatureBuilder, target: str,
                   origins: np.ndarray) -> np.ndarray:
    X, _ = builder.transform(_fresh(sub, target), origins)
    return np.ascontiguousarray(X[:, core, :])


def _tile_rows(sub: Panel, core: np.ndarray, model: LGBMRiskModel, target: str, col_sets: list,
               seed: int, h: int) -> list:
    """Training rows ``(X, y, w, init_score)`` per column set for the tile's own cells."""
    pan = _fresh(sub, target)
    core_pan = _core_panel(sub, core, target)
    rng = np.random.default_rng(seed)
    cols = np.concatenate(col_sets)
    X, names = model.feature_builder().transform(pan, cols)
    X = X[:, core, :]
    out, i = [], 0
    for c in col_sets:
        out.append(model.training_rows(core_pan, X[:, :, i:i + len(c)], names, c, rng, h))
        i += len(c)
    return out


def _tile_scores(sub: Panel, core: np.ndarray, model: LGBMRiskModel, target: str, origin: int) -> np.ndarray:
    X = _tile_features(sub, core, model.feature_builder(), target, np.array([origin]))[:, :, 0].T
    return model.risk_from_features(X, sub)


def _part(rows, i: int, j: int):
    return rows[i][j]


# --------------------------------------------------------------------------------- the cluster
@dataclass
class Cluster:
    """A connected Dask client and the tiling settings of the runs inside :func:`cluster`."""

    client: object
    tile: int = DEFAULT_TILE
    _panel: tuple = field(default=(), repr=False)

    def tiles(self, panel: Panel, halo: int):
        """Tiles of ``panel`` and futures of their sub-panels on the workers (one scatter per panel)."""
        # The same counts object (held here, so its identity cannot be reused) at the same tiling.
        key = (panel.data_hash, panel.n_periods, halo, self.tile)
        if self._panel and self._panel[0] is panel.counts and self._panel[1] == key:
            return self._panel[2], self._panel[3]
        self._panel = ()  # release the previous panel's tiles before scattering the next
        tiles = plan_tiles(panel.grid, self.tile, halo)
        futures = self.client.scatter([sub_panel(panel, t.cells) for t in tiles])
        self._panel = (panel.counts, key, tiles, futures)
        return tiles, futures

    def worker_memory(self) -> dict[str, dict[str, float]]:
        """Per worker: ``memory`` (bytes in use now) and ``limit`` (its cap), from the scheduler."""
        info = self.client.scheduler_info()["workers"]
        return {a: {"memory": float(w["metrics"]["memory"]), "limit": float(w.get("memory_limit") or 0)}
                for a, w in info.items()}


_CURRENT: ContextVar[Cluster | None] = ContextVar("crimecast_dask_cluster", default=None)


def current() -> Cluster:
    """The :class:`Cluster` of the enclosing :func:`cluster` block."""
    c = _CURRENT.get()
    if c is None:
        raise ConfigError("the Dask path runs inside forecasting.scaleout.cluster(...); no cluster is open")
    return c


@contextlib.contextmanager
def cluster(scheduler: str, *, workers: int = 2, threads_per_worker: int = 1,
            memory_limit: str | float = "4GB", tile: int = DEFAULT_TILE,
            processes: bool = True) -> Iterator[Cluster]:
    """Open a Dask cluster for the runs inside the block.

    Parameters
    ----------
    scheduler : str
        ``"local"`` starts a ``LocalCluster`` of ``workers`` workers on this machine, each capped
        at ``memory_limit``; anything else is a scheduler address (``tcp://host:8786``) to join.
    workers, threads_per_worker, memory_limit, processes
        The LocalCluster's shape (ignored when joining a running cluster).
    tile : int, default DEFAULT_TILE
        Tile side in cells.

    Examples
    --------
    Skipped in the test run: it starts a Dask cluster of worker processes (and ``...`` stands for
    the backtest's other options).

    >>> with cluster("local", workers=2, memory_limit="4GB") as c:  # doctest: +SKIP
    ...     run = workflows.run_backtest(events, BacktestOptions(..., distributed=True), out_dir="out")
    """
    if not scheduler:
        raise ConfigError("scheduler must be 'local' or a Dask scheduler address; got an empty value")
    if workers < 1 or tile < 1:
        raise ConfigError(f"workers and tile must be positive; got workers={workers}, tile={tile}")
    from distributed import Client, LocalCluster

    with contextlib.ExitStack() as stack:
        if scheduler == "local":
            lc = stack.enter_context(LocalCluster(
                n_workers=workers, threads_per_worker=threads_per_worker, memory_limit=memory_limit,
                processes=processes, dashboard_address=None, silence_logs=40))
            client = stack.enter_context(Client(lc))
        else:
            try:
                client = stack.enter_context(Client(scheduler, timeout="20s"))
            except OSError as exc:
                raise ConfigError(f"cannot reach the Dask scheduler at {scheduler!r}: {exc}") from None
        c = Cluster(client, tile)
        token = _CURRENT.set(c)
        try:
            yield c
        finally:
            _CURRENT.reset(token)
            c._panel = ()


def tiled_transform(builder: FeatureBuilder, panel: Panel, origins: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """:meth:`FeatureBuilder.transform` computed per tile on the workers and gathered.

    Equal to ``builder.transform(panel, origins)`` (the equivalence tests check it); gathering
    is for tests and small panels, the model keeps rows on the workers.
    """
    _check_local(builder, panel)
    c = current()
    tiles, subs = c.tiles(panel, halo_width(builder, panel))
    origins = np.asarray(origins, dtype=np.int64)
    futs = [c.client.submit(_tile_features, s, t.core, builder, panel.target, origins, pure=False)
            for t, s in zip(tiles, subs, strict=True)]
    names = builder.feature_names(panel)
    X = np.empty((len(names), panel.n_cells, origins.size), dtype=np.float32)
    for t, part in zip(tiles, c.client.gather(futs), strict=True):
        X[:, t.core_cells, :] = part
    return X, names


def _early_stop(curve: np.ndarray, rounds: int) -> int:
    """Best iteration (1-based) as LightGBM's early stopping would pick it from a full curve."""
    best = np.minimum.accumulate(curve)
    improved = np.r_[True, best[1:] < best[:-1]]
    last = np.maximum.accumulate(np.where(improved, np.arange(curve.size), 0))
    stop = np.flatnonzero(np.arange(curve.size) - last >= rounds)
    end = int(stop[0]) if stop.size else curve.size - 1
    return int(last[end]) + 1


class DaskLGBMRiskModel(LGBMRiskModel):
    """:class:`~forecasting.model.LGBMRiskModel` trained and scored per tile on a Dask cluster.

    Same parameters, metadata and artifact as the local model. Training rows (with the local
    model's column choice, zero subsampling and weights; each tile draws from its own seeded
    generator) stay on the workers; :class:`lightgbm.dask.DaskLGBMRegressor` trains on them with
    the local settings for ``n_estimators`` rounds, and the best iteration is the one
    early stopping (``early_stopping_rounds``) would have kept on the validation curve. The
    probability curve is fitted on the gathered validation rows. Must run inside :func:`cluster`.
    """

    def _sklearn_params(self) -> dict:
        # The local model's lgb.train settings (model._lgb_params) under the sklearn names; threads
        # are the workers' (lightgbm.dask sets them from each worker's nthreads).
        return {"objective": self.objective, "n_estimators": int(self.n_estimators),
                "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
                "min_child_samples": self.min_child_samples, "subsample": self.subsample,
                "subsample_freq": 1 if self.subsample < 1 else 0, "colsample_bytree": self.colsample_bytree,
                "reg_lambda": self.reg_lambda, "random_state": self.random_state,
                "verbosity": -1, "max_bin": 63, "force_row_wise": True}

    def fit(self, panel: Panel, origin: int) -> DaskLGBMRiskModel:
        """Fit on cell-periods before ``origin``, per tile on the cluster (see the class docstring)."""
        import dask
        import dask.array as da
        from lightgbm.dask import DaskLGBMRegressor

        self._check_params()
        if self.use_context or self.blend == "auto":
            raise ConfigError("the Dask path does not support use_context=True or blend='auto' (both read the "
                              "whole grid at once); use the single-machine path")
        if self.target_slot_days is not None:
            raise ConfigError("the Dask path does not support target_slot_days (a short-period option); "
                              "use the single-machine path")
        builder = self.feature_builder()
        _check_local(builder, panel)
        origin = panel.check_origin(origin)
        c = current()
        t0 = time.perf_counter()
        p = panel.periods
        n_train, n_val, h = p.from_days(self.training_days), p.from_days(self.validation_days), self._horizon(p)
        warm = min(p.from_days(364), max(origin - n_train, 0))
        lo = max(origin - n_train, warm, 1)
        if origin - lo < n_val + h + 2:
            raise DataError(f"too little history before origin column {origin} to train "
                            f"(need more than {n_val + h + 2} periods; got {origin - lo})")
        tr_cols = self._sample(np.arange(lo, origin - n_val - h + 1), p)
        va_cols = self._sample(np.arange(origin - n_val - h + 1, origin - h + 1), p)
        halo = halo_width(builder, panel)
        tiles, subs = c.tiles(panel, halo)
        t_scatter = time.perf_counter()
        names = builder.feature_names(panel)
        seeds = np.random.SeedSequence(self.random_state).generate_state(len(tiles))
        rows = [c.client.submit(_tile_rows, s, t.core, self, panel.target, [tr_cols, va_cols], int(seed), h,
                                pure=False)
                for t, s, seed in zip(tiles, subs, seeds, strict=True)]
        sizes = c.client.gather([c.client.submit(lambda r: (len(r[0][1]), len(r[1][1])), r) for r in rows])
        t_rows = time.perf_counter()

        def arrays(which: int):
            parts = {j: [] for j in range(4)}
            for r, n in zip(rows, sizes, strict=True):
                if n[which] == 0:
                    continue
                for j in range(4):
                    d = dask.delayed(_part)(r, which, j)
                    shape = (n[which], len(names)) if j == 0 else (n[which],)
                    parts[j].append(da.from_delayed(d, shape=shape, dtype=np.float32 if j == 0 else np.float64))
            return [da.concatenate(parts[j]) for j in range(4)]

        Xt, yt, wt, ot = arrays(0)
        Xv, yv, wv, ov = arrays(1)
        has_offset = self.offset_days is not None or self.offset_feature is not None
        metric = {"poisson": "poisson", "tweedie": "tweedie"}.get(self.objective, "l2")
        reg = DaskLGBMRegressor(client=c.client, **self._sklearn_params())
        # lightgbm.dask logs its network set-up with print(); stdout carries `--json` output, so
        # its chatter goes to stderr. It also sets every worker's threads itself and says so.
        with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
            warnings.filterwarnings("ignore", message="Parameter n_jobs will be ignored")
            reg.fit(Xt, yt, sample_weight=wt, init_score=ot if has_offset else None, feature_name=names,
                    eval_X=(Xv,), eval_y=(yv,), eval_sample_weight=[wv],
                    eval_init_score=[ov] if has_offset else None, eval_metric=metric)
        local = reg.to_local()
        t_train = time.perf_counter()
        curve = np.asarray(local.evals_result_["valid_0"][metric], dtype=np.float64)
        self.booster_ = local.booster_
        self.feature_names_ = names
        self._resolve_blend(names, p)
        self.best_iteration_ = _early_stop(curve, int(self.early_stopping_rounds))
        self.blend_ = float(self.blend)
        Xv_, yv_, wv_ = (np.asarray(a) for a in c.client.compute([Xv, yv, wv], sync=True))
        self.proba_curve_ = self._calibrate(Xv_, yv_, wv_, panel)
        self.target_ = panel.target
        starts = panel.period_starts
        self.metadata_ = {
            "format": ARTIFACT_FORMAT, "crimecast_version": __version__,
            "lightgbm_version": lightgbm.__version__, "target": panel.target,
            "params": {k: v for k, v in self.get_params().items() if k != "features"},
            "features": builder.to_dict(), "feature_names": names,
            "training_window": [str(starts[lo].date()), str(starts[origin - 1].date())],
            "validation_window": [str(starts[origin - n_val].date()), str(starts[origin - 1].date())],
            "origin_period_start": str(panel.periods.start([panel.first + origin])[0]),
            "best_iteration": self.best_iteration_,
            "metrics": {f"valid_{metric}": float(curve[self.best_iteration_ - 1])},
            "blend": self.blend_, "blend_feature": self.blend_feature_, "blend_span": self.blend_span_,
            "proba_curve": [x.tolist() for x in self.proba_curve_],
            "n_train_rows": int(sum(n[0] for n in sizes)), "data_hash": panel.data_hash,
            "grid": {"kind": panel.grid.kind, "crs": panel.grid.crs.to_string(),
                     "cell_size": panel.grid.cell_size, "n_cells": panel.n_cells,
                     "fingerprint": panel.grid.fingerprint()},
            "periods": panel.periods.to_dict(),
            "distributed": {"engine": "lightgbm.dask", "tiles": len(tiles), "tile_cells": c.tile, "halo": halo,
                            "workers": len(c.client.scheduler_info()["workers"]),
                            # Wall seconds: tiles to workers, features and rows per tile, lightgbm.dask.
                            "scatter_s": round(t_scatter - t0, 3), "rows_s": round(t_rows - t_scatter, 3),
                            "train_s": round(t_train - t_rows, 3), "fit_s": round(time.perf_counter() - t0, 3)},
        }
        return self

    def predict_risk(self, panel: Panel, origin: int) -> np.ndarray:
        """Expected count per cell at column ``origin``, each tile scored on its worker."""
        self._check_fitted()
        origin = panel.check_origin(origin)
        builder = self.feature_builder()
        _check_local(builder, panel)
        if builder.feature_names(panel) != self.feature_names_:
            raise DataError("the panel's features differ from the model's; was it trained on another period?")
        c = current()
        tiles, subs = c.tiles(panel, halo_width(builder, panel))
        model = c.client.scatter(self._scoring_copy(), broadcast=True)
        futs = [c.client.submit(_tile_scores, s, t.core, model, panel.target, origin, pure=False)
                for t, s in zip(tiles, subs, strict=True)]
        out = np.empty(panel.n_cells, dtype=np.float64)
        for t, part in zip(tiles, c.client.gather(futs), strict=True):
            out[t.core_cells] = part
        return out

    def _features_at(self, panel: Panel, origin: int) -> np.ndarray:
        # explain() reads every cell's features at the origin: built per tile too.
        self._check_fitted()
        X, names = tiled_transform(self.feature_builder(), panel, np.array([origin]))
        if names != self.feature_names_:
            raise DataError("the panel's features differ from the model's; was it trained on another period?")
        return X[:, :, 0].T

    def _scoring_copy(self) -> LGBMRiskModel:
        # What a worker needs to score: a plain fitted model (booster, names, blend).
        m = LGBMRiskModel(**self.get_params())
        m.booster_, m.feature_names_, m.best_iteration_ = self.booster_, self.feature_names_, self.best_iteration_
        m.blend_, m.blend_span_, m.metadata_ = self.blend_, self.blend_span_, self.metadata_
        m.blend_feature_ = self.blend_feature_
        return m

