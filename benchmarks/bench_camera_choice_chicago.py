"""Chicago: do the product's priority cameras see more of each shift's assaults than simple rules?

Real data (``../shared/data/chicago``; skipped with a reason when absent):

* camera sites: the CTA 'L' stations (``CTA_L_Stops.csv``, platforms grouped by ``MAP_ID``).
  Stations are covered by CCTV; **assumption**: each sees a circle of
  :data:`forecasting.priority.VIEW_RADIUS_M` (150 m) around the stop;
* activity: daily station entries (``cta_L_station_daily_entries_2001_2021.csv.gz``);
* incidents: aggravated assaults 2010-2019, minute resolution (``chicago_aggravated_assaults.csv.gz``).

For every 8-hour shift (06:00, 14:00, 22:00 local) of the test years, using only data before the
shift, k stations are chosen and scored by the share of *all* that shift's assaults (city-wide)
inside the union of the chosen views. Methods:

* ``priority``: the product's engine. A forecasting model of the core (``--model``, refit monthly
  on data before the refit point; by default ``tod_shrunk``, each cell's rate split by its
  time-of-day profile shrunk towards the city's, :class:`forecasting.baselines.TimeOfDayShrunk`)
  gives expected assaults per 150 m cell and shift on a grid restricted to the cells within reach
  of the stations plus a margin; then :func:`forecasting.priority.coverage_matrix` (coverage by
  area) and :func:`forecasting.priority.choose_cameras` (greedy, overlaps once), as the CLI does.
* ``busiest``: the k stations with most entries in the 28 days before the shift's day;
* ``past_year``: the k stations with most assaults in view in the 365 days before the shift;
* ``same_shift``: the same, counting only the same shift of the day;
* ``optimum``: the hindsight optimum of each shift (exact: one station per assault when the
  shift's assaults in view are at most k, else a small integer program).

Settings of ``priority`` (model, window, profile strength) are chosen on the validation year
(``--val-year``, 2017) only, then frozen for the test years (2018-2019). p-values: paired bootstrap
over shifts, one-sided (H1: priority's mean share is higher), Benjamini-Hochberg across the table.
"""

from __future__ import annotations

import itertools
import resource
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting import priority as pr
from forecasting.config import DEFAULT_CELL_SIZE
from forecasting.features import Panel, build_panel
from forecasting.grid import Grid
from forecasting.periods import Periods

UTM16N = "EPSG:32616"
KS = (5, 10, 20)
RULES = ("busiest", "past_year", "same_shift")


def data_dir() -> Path | None:
    """``../shared/data/chicago`` from the worktree, else ``/work/shared/data/chicago``."""
    for base in (Path(__file__).resolve().parents[2] / "shared" / "data", Path("/work/shared/data")):
        if (base / "chicago" / "CTA_L_Stops.csv").exists():
            return base / "chicago"
    return None


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------------------ data
def load_stations(d: Path) -> pd.DataFrame:
    """One row per station (``MAP_ID``): ``camera_id, name, longitude, latitude``."""
    s = pd.read_csv(d / "CTA_L_Stops.csv")
    ll = s["Location"].str.extract(r"\(\s*([-\d.]+)\s*,\s*([-\d.]+)\s*\)").astype(float)
    s = s.assign(latitude=ll[0], longitude=ll[1])
    g = s.groupby("MAP_ID").agg(name=("STATION_NAME", "first"), longitude=("longitude", "mean"),
                                latitude=("latitude", "mean")).reset_index()
    return pd.DataFrame({"camera_id": g["MAP_ID"].astype(str), "name": g["name"],
                         "longitude": g["longitude"], "latitude": g["latitude"]})


def load_entries(d: Path, stations: pd.DataFrame, start: str) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Daily entries, days x stations (0 where a station has no row)."""
    e = pd.read_csv(d / "cta_L_station_daily_entries_2001_2021.csv.gz", usecols=["station_id", "date", "rides"])
    e["date"] = pd.to_datetime(e["date"])
    e = e.loc[e["date"] >= pd.Timestamp(start)]
    days = pd.date_range(start, e["date"].max(), freq="D")
    col = pd.Index(stations["camera_id"]).get_indexer(e["station_id"].astype(str))
    ok = col >= 0
    rides = np.zeros((len(days), len(stations)))
    np.add.at(rides, ((e["date"].to_numpy()[ok] - days[0].to_datetime64()) // np.timedelta64(1, "D"),
                      col[ok]), e["rides"].to_numpy(float)[ok])
    return days, rides


def load_assaults(d: Path) -> pd.DataFrame:
    """Assaults as an events frame (local naive times), as ``bench_backtest`` loads them."""
    raw = pd.read_csv(d / "chicago_aggravated_assaults.csv.gz").dropna(subset=["longitude", "latitude"])
    return pd.DataFrame({"occurred_local": pd.to_datetime(raw["date"], format="%Y-%m-%d %H:%M"),
                         "longitude": raw["longitude"].to_numpy(float), "latitude": raw["latitude"].to_numpy(float),
                         "category": "aggravated assault", "category_group": "assault",
                         "time_resolution": "minute"})


def station_grid(stations: pd.DataFrame, cell_size: float, reach_m: float) -> Grid:
    """150 m cells whose box comes within ``reach_m`` of a station."""
    from pyproj import Transformer

    x, y = Transformer.from_crs("EPSG:4326", UTM16N, always_xy=True).transform(
        stations["longitude"].to_numpy(), stations["latitude"].to_numpy())
    n = int(np.ceil(reach_m / cell_size))
    off = np.arange(-n, n + 1)
    dc, dr = np.meshgrid(off, off)
    col = (np.floor(x / cell_size)[:, None] + dc.ravel()[None, :]).astype(np.int64).ravel()
    row = (np.floor(y / cell_size)[:, None] + dr.ravel()[None, :]).astype(np.int64).ravel()
    # Keep cells whose nearest point is within reach of their station.
    sx, sy = np.repeat(x, off.size ** 2), np.repeat(y, off.size ** 2)
    nx = np.clip(sx, col * cell_size, (col + 1) * cell_size)
    ny = np.clip(sy, row * cell_size, (row + 1) * cell_size)
    keep = np.hypot(nx - sx, ny - sy) <= reach_m
    cells = np.unique(np.column_stack([col[keep], row[keep]]), axis=0)
    return Grid(crs=UTM16N, cell_size=cell_size, col=cells[:, 0], row=cells[:, 1])


# ---------------------------------------------------------------------------- scoring
@dataclass
class Scorer:
    """Which assaults of each shift fall in which station's view; shares of a chosen set."""

    ev_shift: np.ndarray   # panel column of each in-view (assault, station) pair
    ev_id: np.ndarray      # assault of each pair
    ev_station: np.ndarray
    totals: np.ndarray     # all assaults (city-wide) per panel column
    per_station: np.ndarray  # columns x stations: assaults in each view (for the rules)

    def seen(self, cols: np.ndarray, chosen: np.ndarray) -> np.ndarray:
        """Assaults seen per shift in ``cols`` by the chosen stations (``len(cols) x k`` positions)."""
        mask = np.zeros((len(cols), self.per_station.shape[1]), dtype=bool)
        np.put_along_axis(mask, chosen, True, axis=1)
        where = np.full(self.totals.size, -1)
        where[cols] = np.arange(len(cols))
        pos = where[self.ev_shift]
        ok = pos >= 0
        hit = np.zeros(self.ev_id.size, dtype=bool)
        hit[ok] = mask[pos[ok], self.ev_station[ok]]
        ids, inv = np.unique(self.ev_id, return_inverse=True)
        seen_ev = np.bincount(inv, weights=hit, minlength=ids.size) > 0
        shift_of = np.zeros(ids.size, dtype=np.int64)
        shift_of[inv] = pos
        keep = seen_ev & (shift_of >= 0)
        return np.bincount(shift_of[keep], minlength=len(cols)).astype(float)

    def optimum(self, cols: np.ndarray, k: int) -> np.ndarray:
        """Hindsight maximum of assaults seen by any k stations, per shift (exact)."""
        where = np.full(self.totals.size, -1)
        where[cols] = np.arange(len(cols))
        pos = where[self.ev_shift]
        ok = pos >= 0
        pairs = pd.DataFrame({"pos": pos[ok], "ev": self.ev_id[ok], "st": self.ev_station[ok]})
        n_in = pairs.groupby("pos")["ev"].nunique().reindex(range(len(cols)), fill_value=0).to_numpy()
        out = n_in.astype(float)
        for p in np.flatnonzero(n_in > k):  # rare: more assaults in view than feeds
            out[p] = _max_coverage_milp(pairs.loc[pairs["pos"] == p], k)
        return out


def _max_coverage_milp(pairs: pd.DataFrame, k: int) -> float:
    """Exact maximum coverage on one shift's (assault, station) pairs with scipy's MILP solver."""
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import coo_array

    ev, ei = np.unique(pairs["ev"], return_inverse=True)
    st, si = np.unique(pairs["st"], return_inverse=True)
    n_e, n_s = ev.size, st.size
    # variables: y_e (seen), x_s (watched); y_e <= sum_s x_s ; sum x_s <= k
    a = coo_array((np.concatenate([np.ones(n_e), -np.ones(len(pairs))]),
                   (np.concatenate([np.arange(n_e), ei]), np.concatenate([np.arange(n_e), n_e + si]))),
                  shape=(n_e, n_e + n_s)).tocsr()
    budget = np.concatenate([np.zeros(n_e), np.ones(n_s)])[None, :]
    res = milp(c=np.concatenate([-np.ones(n_e), np.zeros(n_s)]),
               constraints=[LinearConstraint(a, -np.inf, 0), LinearConstraint(budget, 0, k)],
               integrality=np.ones(n_e + n_s), bounds=Bounds(0, 1))
    return float(round(-res.fun))


def build_scorer(events: pd.DataFrame, views, periods: Periods, first: int, n_cols: int) -> Scorer:
    import shapely

    col = periods.index(events["occurred_local"].to_numpy()) - first
    inside = (col >= 0) & (col < n_cols)
    ev = events.loc[inside].reset_index(drop=True)
    col = col[inside]
    pts = shapely.points(ev["longitude"].to_numpy(float), ev["latitude"].to_numpy(float))
    e_i, s_i = shapely.STRtree(np.asarray(views.geometry.values)).query(pts, predicate="within")
    totals = np.bincount(col, minlength=n_cols).astype(float)
    per = np.zeros((n_cols, len(views)))
    np.add.at(per, (col[e_i], s_i), 1.0)
    return Scorer(col[e_i], e_i, s_i, totals, per)


# ------------------------------------------------------------------------------ rules
def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Per row, positions of the k largest scores (ties: the station listed first)."""
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def rule_scores(rule: str, cols: np.ndarray, sc: Scorer, periods: Periods, first: int,
                days: pd.DatetimeIndex, rides: np.ndarray) -> np.ndarray:
    """Scores (shifts x stations) of a rule, from data strictly before each shift."""
    year = periods.from_days(365)
    if rule == "past_year":
        cum = np.vstack([np.zeros(sc.per_station.shape[1]), np.cumsum(sc.per_station, axis=0)])
        return cum[cols] - cum[np.maximum(cols - year, 0)]
    if rule == "same_shift":
        per = 24 // periods.shift_hours
        out = np.zeros((len(cols), sc.per_station.shape[1]))
        for lag in range(per, year + 1, per):  # 365 same-shift lags: one slice each
            out += sc.per_station[np.maximum(cols - lag, 0)] * (cols - lag >= 0)[:, None]
        return out
    if rule == "busiest":
        day = periods.start(first + cols).normalize()
        d = ((day - days[0]) // pd.Timedelta(days=1)).to_numpy()
        cum = np.vstack([np.zeros(rides.shape[1]), np.cumsum(rides, axis=0)])
        return cum[d] - cum[np.maximum(d - 28, 0)]
    raise ValueError(rule)


# --------------------------------------------------------------------------- priority
#: Models whose window is set by ``--windows`` (``tod_shrunk`` also by ``--alphas``); the others are
#: the core's shift-period estimators (``forecasting.workflows.make_models(period="shift")``: ``tod_*``
#: baselines, ``lgbm``) with their own windows, tried once each.
WINDOWED = ("historical", "kde", "tod_shrunk")


def make_model(name: str, window_days: int | None, alpha: float | None = None):
    """The risk model ``name``, an estimator of the core (what ``crimecast forecast --model`` fits).

    ``historical``/``kde``: counts or KDE over ``window_days``; ``tod_shrunk``: the same counts split
    by the cell's time-of-day profile shrunk towards the city's with strength ``alpha`` (``None``:
    fitted by marginal likelihood at each refit); else the core's estimator of that name.
    """
    from forecasting.baselines import HistoricalCounts, KDEBaseline, TimeOfDayShrunk
    from forecasting.errors import ConfigError
    from forecasting.workflows import make_models

    if name == "historical":
        return HistoricalCounts(window_days=window_days)
    if name == "kde":
        return KDEBaseline(window_days=window_days)
    if name == "tod_shrunk":
        return TimeOfDayShrunk(window_days=window_days, alpha=alpha)
    if name == "lgbm" or name.startswith("tod_"):
        # Same estimators as `crimecast backtest --period shift`; one thread on the shared machine.
        return make_models([name], period="shift", lgbm_params={"n_jobs": 1})[name]
    raise ConfigError(f"--model must be historical, kde, tod_shrunk, lgbm or a tod_* baseline; got {name!r}")


def priority_choices(model_name: str, window_days: int | None, alpha: float | None, panel: Panel,
                     cov: pr.Coverage, cols: np.ndarray, kmax: int,
                     refit_months: int = 1) -> tuple[np.ndarray, list[float]]:
    """Greedy k-max choices per shift (positions) and the fitted ``alpha_`` of each refit.

    The model is refit every ``refit_months`` on the data before the block's first shift; each
    shift's forecast reads only the columns before it; the engine is the CLI's
    (:func:`forecasting.priority.choose_cameras` on the area coverage).
    """
    start = panel.periods.start(panel.first + cols)
    month = (start.year * 12 + start.month - 1) // refit_months
    out = np.zeros((len(cols), kmax), dtype=np.int64)
    model = make_model(model_name, window_days, alpha)
    fitted = []
    for m in pd.unique(month):  # one refit per block of months (a handful of fits)
        idx = np.flatnonzero(month == m)
        model.fit(panel, int(cols[idx[0]]))
        fitted.append(float(getattr(model, "alpha_", np.nan)))
        for i in idx:  # one forecast and one greedy per shift
            choice = pr.choose_cameras(cov, model.predict_risk(panel, int(cols[i])), kmax)
            out[i, :len(choice)] = cov.positions(choice["camera_id"])
    return out, fitted


# ---------------------------------------------------------------------------- statistics
def paired_bootstrap_p(a: np.ndarray, b: np.ndarray, n_boot: int, rng) -> float:
    """One-sided p of mean(a - b) <= 0 by a paired bootstrap over shifts (share of resampled means <= 0)."""
    d = a - b
    idx = rng.integers(0, d.size, size=(n_boot, d.size))
    means = d[idx].mean(axis=1)
    return float((1 + (means <= 0).sum()) / (n_boot + 1))


# --------------------------------------------------------------------------------- main
def run(args) -> int:
    from scipy.stats import false_discovery_control

    d = data_dir()
    if d is None:
        print("skipped: ../shared/data/chicago is absent (the Chicago evaluation needs the shared data)")
        return 0
    t0 = time.perf_counter()
    periods = Periods("shift")
    stations = load_stations(d)
    views = pr.site_views(stations, pr.VIEW_RADIUS_M)
    days, rides = load_entries(d, stations, args.history_start)
    events = load_assaults(d)
    events = events.loc[(events["occurred_local"] >= pd.Timestamp(args.history_start))
                        & (events["occurred_local"] < pd.Timestamp(f"{args.test_years[-1] + 1}-01-01"))]
    grid = station_grid(stations, args.cell_size, pr.VIEW_RADIUS_M + args.margin)
    panel = build_panel(events, grid, periods, start=args.history_start,
                        end=f"{args.test_years[-1]}-12-31 23:59")
    cells = grid.polygons(crs=UTM16N)
    cov = pr.coverage_matrix(cells, views.to_crs(UTM16N), rule="area")
    sc = build_scorer(events, views, periods, panel.first, panel.n_periods)
    t_load = time.perf_counter() - t0
    print(f"{len(stations)} stations (views of {pr.VIEW_RADIUS_M:.0f} m, assumed); {grid.n_cells} cells of "
          f"{args.cell_size:.0f} m within {pr.VIEW_RADIUS_M + args.margin:.0f} m; {cov.matrix.shape[1]} atoms; "
          f"{len(events)} assaults since {args.history_start} ({len(sc.ev_id)} in some view); load {t_load:.0f} s",
          flush=True)

    def cols_of(years) -> np.ndarray:
        lo = panel.column(f"{years[0]}-01-01 06:00")
        hi = panel.column(f"{years[-1] + 1}-01-01 06:00")
        c = np.arange(lo, hi)
        return c[sc.totals[c] > 0]  # a shift without any assault has no share

    kmax = max(KS)
    # 1. validation: choose window and profile strength on the validation year only.
    val = cols_of([args.val_year])
    best, table = None, []
    settings = [(m, w, a) for m, w, a in itertools.product(args.model, args.windows, args.alphas)
                if m == "tod_shrunk"]
    settings += [(m, w, "-") for m, w in itertools.product(args.model, args.windows)
                 if m in WINDOWED and m != "tod_shrunk"]
    settings += [(m, None, "-") for m in args.model if m not in WINDOWED]
    for model, w, a in settings:
        ch, fitted = priority_choices(model, w, None if a in ("-", "eb") else a, panel, cov, val, kmax,
                                      args.refit_months)
        share = (sc.seen(val, ch[:, :10]) / sc.totals[val]).mean()
        table.append((model, w, a, share))
        if best is None or share > best[3]:
            best = (model, w, a, share)
        fit_note = f", fitted alpha {np.nanmin(fitted):.1f}-{np.nanmax(fitted):.1f}" if a == "eb" else ""
        print(f"  validated {model} window {w} alpha {a}: {share:.4f}{fit_note} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"validation {args.val_year} ({len(val)} shifts), priority mean share at k=10 by "
          f"(model, window_days, alpha): " + ", ".join(f"({m}, {w}, {a}) {s:.4f}" for m, w, a, s in table))
    m_best, w_best, a_best, _ = best
    print(f"chosen on {args.val_year}: model {m_best}, window_days={w_best}, alpha={a_best}", flush=True)

    # 2. test years, settings frozen.
    test = cols_of(args.test_years)
    t1 = time.perf_counter()
    pri, fitted = priority_choices(m_best, w_best, None if a_best in ("-", "eb") else a_best, panel, cov,
                                   test, kmax, args.refit_months)
    t_pri = time.perf_counter() - t1
    if a_best == "eb":
        print(f"test years: alpha fitted at each refit {np.nanmin(fitted):.1f}-{np.nanmax(fitted):.1f}")
    rng = np.random.default_rng(args.seed)
    tot = sc.totals[test]
    res, pvals = {}, []
    for k in KS:
        shares = {"priority": sc.seen(test, pri[:, :k]) / tot}
        for rule in RULES:
            shares[rule] = sc.seen(test, top_k(rule_scores(rule, test, sc, periods, panel.first, days, rides), k)) / tot
        shares["optimum"] = sc.optimum(test, k) / tot
        res[k] = shares
        for rule in RULES:
            pvals.append(((k, rule), paired_bootstrap_p(shares["priority"], shares[rule], args.boot, rng)))
    adj = dict(zip([key for key, _ in pvals], false_discovery_control([p for _, p in pvals], method="bh"),
                   strict=True))
    raw = dict(pvals)
    print(f"\ntest {args.test_years[0]}-{args.test_years[-1]}: {len(test)} shifts with assaults, "
          f"{int(tot.sum())} assaults, {int(sc.seen(test, np.tile(np.arange(len(stations)), (len(test), 1))).sum())} "
          f"in some station's view")
    print(f"{'k':>3} {'method':<11} {'mean share':>10} {'of optimum':>10} {'p (raw)':>8} {'p (BH)':>7}")
    for k in KS:
        opt = res[k]["optimum"].mean()
        for name, s in res[k].items():
            p = f"{raw[(k, name)]:8.4f} {adj[(k, name)]:7.4f}" if name in RULES else f"{'':8} {'':7}"
            print(f"{k:>3} {name:<11} {s.mean():10.4f} {s.mean() / opt if opt else float('nan'):10.1%} {p}")
    wall = time.perf_counter() - t0
    print(f"\nwall time {wall:.0f} s (priority on the test years {t_pri:.0f} s) on a shared 2-core machine; "
          f"peak RSS {peak_rss_mb():.0f} MB")
    best_rule = max(RULES, key=lambda r: res[10][r].mean())
    verdict = "beats" if all(adj[(10, r)] < 0.05 and res[10]["priority"].mean() > res[10][r].mean()
                             for r in RULES) else "does not beat"
    print(f"priority {verdict} every rule at k=10 beyond noise (BH-adjusted one-sided p < 0.05)")
    print(f"k=10: priority {res[10]['priority'].mean():.4f}, best rule {res[10][best_rule].mean():.4f} "
          f"({best_rule}), p={adj[(10, best_rule)]:.4f}")
    return 0


def _alpha(text: str) -> float | str:
    """``--alphas`` values: a non-negative number or ``eb`` (fitted)."""
    import argparse

    if text == "eb":
        return text
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"alpha must be a non-negative number or 'eb'; got {text!r}")
    return value


def add_arguments(ap) -> None:
    ap.add_argument("--model", nargs="+", default=["tod_shrunk"],
                    help="risk models tried on the validation year: historical, kde, tod_shrunk (over "
                         "--windows; tod_shrunk also over --alphas), lgbm and the core's time-of-day "
                         "baselines tod_13, tod_52, tod_104, tod_all, tod_weekday_52, tod_weekday_104, "
                         "tod_weekday_all, tod_blend (their own windows)")
    ap.add_argument("--windows", type=int, nargs="+", default=[728],
                    help="model windows (days) tried on the validation year")
    ap.add_argument("--alphas", type=_alpha, nargs="+", default=["eb", 10.0, 30.0],
                    help="tod_shrunk's profile strengths tried on the validation year ('eb': fitted at "
                         "each refit by marginal likelihood)")
    ap.add_argument("--refit-months", type=int, default=1, help="months between model refits")
    ap.add_argument("--val-year", type=int, default=2017)
    ap.add_argument("--test-years", type=int, nargs="+", default=[2018, 2019])
    ap.add_argument("--history-start", default="2013-01-01")
    ap.add_argument("--cell-size", type=float, default=DEFAULT_CELL_SIZE)
    ap.add_argument("--margin", type=float, default=150.0, help="metres of cells beyond the views")
    ap.add_argument("--boot", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)

