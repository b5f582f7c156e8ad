"""Hot spots (Gi*, Local Moran's I), emerging hot spots and the Knox test: known answers and esda agreement."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from forecasting import analysis as A
from forecasting.errors import ConfigError, InputError
from forecasting.grid import Grid


def square(side: int, cell: float = 100.0) -> Grid:
    r, c = np.divmod(np.arange(side * side), side)
    return Grid(crs="EPSG:32610", cell_size=cell, col=c, row=r)


def _esda():
    esda = pytest.importorskip("esda", reason="PySAL esda is not installed (dev dependency); agreement not checked")
    libpysal = pytest.importorskip("libpysal", reason="libpysal is not installed (dev dependency)")
    return esda, libpysal


def _w(libpysal, weights):
    from libpysal.weights import WSP

    return WSP(weights.tocsr()).to_W(silence_warnings=True)


# ------------------------------------------------------------------- weights
def test_weights_queen_rook_and_distance_band_on_a_square_grid():
    g = square(4)
    q = A.spatial_weights(g)
    assert q.diagonal().sum() == 0 and (q != q.T).nnz == 0
    card = np.asarray(q.sum(axis=1)).ravel().reshape(4, 4)
    assert card[0, 0] == 3 and card[0, 1] == 5 and card[1, 1] == 8
    rook = np.asarray(A.spatial_weights(g, contiguity="rook").sum(axis=1)).ravel().reshape(4, 4)
    assert rook[0, 0] == 2 and rook[1, 1] == 4
    band = A.spatial_weights(g, distance=150)  # 1.5 cells: the queen neighbours
    assert (band != q).nnz == 0
    wide = np.asarray(A.spatial_weights(g, distance=200).sum(axis=1)).ravel().reshape(4, 4)
    assert wide[1, 1] == 8 + 2  # two cells away straight, inside the grid: (1,3) and (3,1)


def test_weights_skip_cells_outside_the_study_area():
    g = Grid(crs="EPSG:32610", cell_size=100, col=np.array([0, 2]), row=np.array([0, 0]))
    assert A.spatial_weights(g).nnz == 0


def test_weights_reject_unknown_contiguity():
    with pytest.raises(ConfigError, match=re.escape("contiguity must be 'queen' or 'rook'; got 'bishop'")):
        A.spatial_weights(square(3), contiguity="bishop")


def test_weights_h3_k_ring():
    from forecasting.grid import build_grid

    rng = np.random.default_rng(0)
    lon, lat = -123.1 + rng.normal(0, 0.01, 400), 49.28 + rng.normal(0, 0.01, 400)
    g = build_grid(lon, lat, h3_resolution=8)
    w = A.spatial_weights(g)
    assert w.diagonal().sum() == 0 and np.asarray(w.sum(axis=1)).max() <= 6


# ----------------------------------------------------------------------- Gi*
def test_gi_star_matches_esda():
    esda, libpysal = _esda()
    g = square(12)
    w = A.spatial_weights(g)
    x = np.random.default_rng(3).poisson(2.0, g.n_cells).astype(float)
    z, p = A.gi_star(x, w)
    ref = esda.G_Local(x, _w(libpysal, A._with_self(w)), transform="B", star=True, permutations=0)
    np.testing.assert_allclose(z, ref.Zs, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(p, 2 * ref.p_norm, rtol=1e-10)


def test_gi_star_known_value_and_constant_field():
    g = Grid(crs="EPSG:32610", cell_size=1, col=np.arange(4), row=np.zeros(4, int))
    x = np.array([1.0, 2, 3, 10])
    z, _ = A.gi_star(x, A.spatial_weights(g))
    n, xbar, s = 4, x.mean(), x.std()
    wi = 2.0  # cell 0: itself and cell 1
    expect = (3.0 - xbar * wi) / (s * np.sqrt((n * wi - wi**2) / (n - 1)))
    assert z[0] == pytest.approx(expect)
    z0, p0 = A.gi_star(np.full(4, 3.0), A.spatial_weights(g))
    assert np.all(z0 == 0) and np.all(p0 == 1)


def test_planted_cluster_is_found_and_random_field_is_not():
    g = square(30)
    rng = np.random.default_rng(11)
    x = rng.poisson(1.0, g.n_cells).astype(float)
    block = (g.row >= 10) & (g.row < 14) & (g.col >= 20) & (g.col < 24)
    x[block] += rng.poisson(6.0, int(block.sum()))
    hs = A.hot_spots(x, g, alpha=0.05, permutations=199, random_state=0)
    hot = (hs.hot_spot == "hot spot").to_numpy()
    assert hot[block].mean() >= 0.9
    near = (g.row >= 9) & (g.row < 15) & (g.col >= 19) & (g.col < 25)  # the block and its ring
    assert not hot[~near].any()
    assert (hs.moran_type[block] == "High-High").mean() >= 0.5

    # Under the null (seeded Poisson fields) BH keeps the chance of any false hot spot near alpha.
    # The fields have 5 incidents per cell on average: Gi*'s normal approximation is anti-conservative
    # for sparser counts (docs/analysis.md: 20 % of mean-1 fields show a false spot).
    nulls = [A.hot_spots(np.random.default_rng(s).poisson(5.0, g.n_cells).astype(float), g, alpha=0.05,
                         permutations=99, random_state=s) for s in range(20)]
    assert sum((h.hot_spot != "not significant").any() for h in nulls) <= 2
    assert sum((h.moran_type != "not significant").any() for h in nulls) <= 3


def test_hot_spot_frame_columns_and_bins():
    g = square(10)
    x = np.zeros(g.n_cells)
    x[:3] = 30
    hs = A.hot_spots(x, g, permutations=99)
    assert list(hs.columns) == ["cell_id", "count", "gi_z", "gi_p", "gi_q", "gi_bin", "hot_spot", "moran_i",
                                "moran_p_sim", "moran_p", "moran_q", "moran_quadrant", "moran_type"]
    assert set(hs.gi_bin.unique()) <= {-3, -2, -1, 0, 1, 2, 3}
    assert (hs.gi_bin[hs.hot_spot == "hot spot"] > 0).all()


def test_hot_spots_reject_bad_input():
    g = square(3)
    with pytest.raises(InputError, match=re.escape("values must have one row per grid cell (9); got shape (4,)")):
        A.hot_spots(np.ones(4), g)
    with pytest.raises(ConfigError, match=re.escape("alpha must be a probability strictly between 0 and 1; got 5")):
        A.hot_spots(np.ones(9), g, alpha=5)
    with pytest.raises(InputError, match="finite"):
        A.hot_spots(np.r_[np.ones(8), np.nan], g)


# ------------------------------------------------------------ Local Moran's I
def test_local_moran_statistic_and_quadrants_match_esda():
    esda, libpysal = _esda()
    g = square(9)
    w = A.spatial_weights(g)
    x = np.random.default_rng(5).poisson(3.0, g.n_cells).astype(float)
    x[40] = 25  # a high value among ordinary ones
    mi, mp, mpz, mq = A.local_moran(x, w, permutations=99, random_state=1)
    ref = esda.Moran_Local(x, _w(libpysal, w), transformation="r", permutations=0)
    np.testing.assert_allclose(mi, ref.Is, rtol=1e-10, atol=1e-12)
    assert np.array_equal(mq, ref.q)


def test_local_moran_pseudo_p_values_match_an_independent_simulation():
    # Reference: each cell's conditional-permutation distribution drawn independently and at length.
    g = square(9)
    w = A.spatial_weights(g)
    x = np.random.default_rng(5).poisson(3.0, g.n_cells).astype(float)
    x[40] = 25
    mi, mp, mpz, _ = A.local_moran(x, w, permutations=1999, random_state=1)
    z = x - x.mean()
    scale = (g.n_cells - 1) / (z @ z)
    rng = np.random.default_rng(99)
    card = np.asarray(w.sum(axis=1)).ravel().astype(int)
    for i in (0, 4, 30, 40, 41, 80):
        others = np.delete(z, i)
        draws = np.argsort(rng.random((20000, others.size)), axis=1)[:, :card[i]]
        sims = scale * z[i] * others[draws].mean(axis=1)
        above = (sims >= mi[i]).mean()
        assert mp[i] == pytest.approx(min(above, 1 - above), abs=0.03)  # 1999 draws: MC error ~0.01
        zs = (mi[i] - sims.mean()) / sims.std()
        assert mpz[i] == pytest.approx(2 * stats.norm.sf(abs(zs)), abs=0.03)


def test_local_moran_finds_a_planted_outlier_and_is_seeded():
    g = square(15)
    rng = np.random.default_rng(2)
    x = rng.poisson(5.0, g.n_cells).astype(float)
    ring = (np.abs(g.row - 7) <= 1) & (np.abs(g.col - 7) <= 1)
    x[ring] = 0
    x[112] = 30  # a high cell (row 7, col 7) amid empty neighbours: a High-Low outlier
    hs = A.hot_spots(x, g, permutations=999, random_state=0)
    assert hs.moran_type.iloc[112] == "High-Low"
    assert (hs.moran_type.drop(index=112) == "High-Low").sum() == 0
    a = A.local_moran(x, A.spatial_weights(g), permutations=99, random_state=7)[1:3]
    b = A.local_moran(x, A.spatial_weights(g), permutations=99, random_state=7)[1:3]
    assert np.array_equal(a, b)


# --------------------------------------------------------------- Mann-Kendall
def test_mann_kendall_matches_kendalltau_with_ties():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 4, (6, 40)).astype(float)  # many ties
    x[0] += np.arange(40) / 10
    s, z, p = A.mann_kendall(x, continuity=False)
    for r in range(6):
        tau = stats.kendalltau(np.arange(40), x[r], method="asymptotic")
        assert p[r] == pytest.approx(tau.pvalue, rel=1e-9)
        assert np.sign(s[r]) == np.sign(tau.statistic)
    assert p[0] < 0.01


# ---------------------------------------------------------- emerging hot spots
def _cls(hot, cold=None, trend=0.0):
    hot = np.asarray(hot, dtype=bool)[None, :]
    cold = np.zeros_like(hot) if cold is None else np.asarray(cold, dtype=bool)[None, :]
    return A.classify_emerging(hot, cold, np.array([trend]), np.array([0.001 if trend else 0.9]))[0]


@pytest.mark.parametrize("hot, cold, trend, expected", [
    ([0] * 9 + [1], None, 0, "new hot spot"),
    ([0] * 7 + [1, 1, 1], None, 0, "consecutive hot spot"),
    ([1] * 10, None, 0, "persistent hot spot"),
    ([1] * 10, None, +3, "intensifying hot spot"),
    ([1] * 10, None, -3, "diminishing hot spot"),
    ([0, 1, 0, 0, 1, 1, 0, 0, 0, 1], None, 0, "sporadic hot spot"),
    ([0, 0, 0, 0, 0, 0, 0, 0, 0, 1], [1] + [0] * 9, 0, "oscillating hot spot"),
    ([1] * 9 + [0], None, 0, "historical hot spot"),
    ([0] * 10, None, 0, "no pattern detected"),
    ([0, 0, 1, 1, 1, 0, 0, 0, 0, 0], None, 0, "no pattern detected"),
])
def test_emerging_categories_hot(hot, cold, trend, expected):
    assert _cls(hot, cold, trend) == expected
    # The cold side mirrors the hot side (and an intensifying cold spot's z-scores fall).
    mirrored = _cls(cold if cold is not None else [0] * 10, hot, -trend)
    assert mirrored == expected.replace("hot spot", "cold spot")


def test_emerging_hot_spots_on_planted_cubes():
    g = square(16)
    rng = np.random.default_rng(4)
    n_t = 30
    x = rng.poisson(1.0, (g.n_cells, n_t)).astype(float)
    block = lambda r0, c0: (g.row >= r0) & (g.row < r0 + 3) & (g.col >= c0) & (g.col < c0 + 3)  # noqa: E731
    new, persistent, grows, fades = block(1, 1), block(1, 11), block(11, 1), block(11, 11)
    x[new, -1] += 9
    x[persistent] += 4
    x[grows] += np.linspace(3, 12, n_t)
    x[fades] += np.linspace(12, 3, n_t)
    out = A.emerging_hot_spots(x, g, period_starts=pd.date_range("2024-01-01", periods=n_t, freq="W-MON"))
    centre = lambda r, c: int(np.flatnonzero((g.row == r) & (g.col == c))[0])  # noqa: E731
    assert out.pattern.iloc[centre(2, 2)] == "new hot spot"
    assert out.pattern.iloc[centre(2, 12)] == "persistent hot spot"
    assert out.pattern.iloc[centre(12, 2)] == "intensifying hot spot"
    assert out.pattern.iloc[centre(12, 12)] == "diminishing hot spot"
    assert (out.pattern[~(new | persistent | grows | fades)] != "new hot spot").mean() > 0.95
    assert out.last_period.iloc[0] == pd.Timestamp("2024-07-22")
    # A random cube shows no hot-spot pattern at the stated FDR.
    null = A.emerging_hot_spots(rng.poisson(1.0, (g.n_cells, n_t)).astype(float), g)
    assert (null.pattern.str.contains("hot spot")).sum() == 0


def test_space_time_gi_star_uses_previous_periods():
    g = square(5)
    x = np.zeros((g.n_cells, 4))
    x[12, 1] = 10  # the centre cell, period 1
    z0, _ = A.space_time_gi_star(x, A.spatial_weights(g), time_lag=0)
    z1, _ = A.space_time_gi_star(x, A.spatial_weights(g), time_lag=1)
    assert z0[12, 2] < 0 < z1[12, 2]  # with a time lag, period 2 sees period 1's spike
    assert z1[12, 3] < 0


# ----------------------------------------------------------------- Knox test
def _repeats(seed: int, n: int = 1500, share: float = 0.3):
    rng = np.random.default_rng(seed)
    x, y, t = rng.uniform(0, 5000, n), rng.uniform(0, 5000, n), rng.uniform(0, 365, n)
    k = int(share * n)
    src = rng.choice(n, k, replace=False)
    ang = rng.uniform(0, 2 * np.pi, k)
    r = rng.uniform(0, 120, k)
    x = np.r_[x, x[src] + r * np.cos(ang)]
    y = np.r_[y, y[src] + r * np.sin(ang)]
    t = np.r_[t, t[src] + rng.uniform(0, 6, k)]
    return x, y, t


def test_knox_detects_a_planted_repeat_pattern():
    x, y, t = _repeats(0)
    k = A.knox_test(x, y, t, permutations=999, random_state=0)
    tab = k.table
    assert len(tab) == 9 and tab.observed.sum() > 0
    first = tab.iloc[0]
    assert (first.distance_to, first.days_to) == (150.0, 7.0)
    assert first.ratio > 2 and first.p == 0.001 and first.q < 0.01
    assert (tab.q.iloc[1:] >= 0.05).all()  # nothing planted beyond 150 m and 7 days
    win = A.near_repeat_windows(k)
    assert win is not None and win.distance_m == 150 and win.days == 7
    assert re.fullmatch(r"burglaries here repeat within 150 m and 7 days \d+\.\dx more often than chance",
                        win.sentence("burglaries"))


def test_knox_shuffled_times_show_no_pattern():
    x, y, t = _repeats(0)
    t = np.random.default_rng(9).permutation(t)
    k = A.knox_test(x, y, t, permutations=99, random_state=0)
    assert (k.table.q >= 0.05).all()
    assert np.allclose(k.table.ratio, 1, atol=0.35)
    assert A.near_repeat_windows(k) is None


def test_knox_counts_pairs_exactly_and_is_seeded():
    # Four events: pairs (0,1) at 100 m and 3 days, (0,2) at 200 m and 10 days, (1,2) ~224 m, 13 days.
    x = np.array([0.0, 100, 0, 5000])
    y = np.array([0.0, 0, 200, 5000])
    t = np.array([0.0, 3, 10, 0])
    k = A.knox_test(x, y, t, permutations=19, random_state=3)
    obs = k.table.set_index(["distance_to", "days_to"]).observed
    assert obs[(150.0, 7.0)] == 1 and obs[(300.0, 14.0)] == 2 and obs.sum() == 3
    assert k.pairs_in_reach == 3
    again = A.knox_test(x, y, t, permutations=19, random_state=3)
    pd.testing.assert_frame_equal(k.table, again.table)


def test_knox_small_chunks_give_the_same_counts():
    x, y, t = _repeats(2, n=400)
    a = A.knox_test(x, y, t, permutations=19, random_state=1)
    b = A.knox_test(x, y, t, permutations=19, random_state=1, chunk_pairs=37)
    pd.testing.assert_frame_equal(a.table, b.table)


def test_knox_rejects_bad_bands():
    with pytest.raises(ConfigError, match=re.escape("distance_bands must be at least two increasing")):
        A.knox_test(np.zeros(5), np.zeros(5), np.zeros(5), distance_bands=(0, 300, 150))
    with pytest.raises(ConfigError, match="permutations must be an integer of at least 9; got 2"):
        A.knox_test(np.zeros(5), np.zeros(5), np.zeros(5), permutations=2)


def test_summary_cites_each_product():
    g = square(10)
    x = np.zeros(g.n_cells)
    x[:4] = 20
    kx = A.knox_test(*_repeats(0, n=600), permutations=199)
    s = A.summary(hot=A.hot_spots(x, g, permutations=99), knox=kx, label="burglaries",
                  emerging=A.emerging_hot_spots(np.repeat(x[:, None], 5, axis=1), g))
    assert s["hot_spots"]["hot"] > 0 and s["hot_spots"]["share_of_incidents_in_hot_spots"] > 0.5
    assert sum(s["emerging"].values()) == g.n_cells
    assert s["near_repeat"]["sentence"].startswith("burglaries here repeat within 150 m")
    import json

    json.dumps(s)


def test_gi_star_and_local_moran_agree_with_esda_on_a_real_sample():
    """Chicago aggravated assaults (bundled cut: districts 1 and 18, 2019) on 150 m cells: tolerance 1e-9."""
    esda, libpysal = _esda()
    from forecasting.grid import build_grid

    from .conftest import SAMPLE

    raw = pd.read_csv(SAMPLE / "chicago_aggravated_assaults_districts_1_18_2017_2019.csv.gz").dropna(
        subset=["longitude", "latitude"])
    grid = build_grid(raw.longitude.to_numpy(), raw.latitude.to_numpy(), cell_size=150)
    in_2019 = raw.date.str.startswith("2019").to_numpy()
    pos = grid.locate(raw.longitude.to_numpy()[in_2019], raw.latitude.to_numpy()[in_2019])
    x = np.bincount(pos[pos >= 0], minlength=grid.n_cells).astype(float)
    w = A.spatial_weights(grid)
    z, _ = A.gi_star(x, w)
    ref = esda.G_Local(x, _w(libpysal, A._with_self(w)), transform="B", star=True, permutations=0)
    assert grid.n_cells > 300 and np.max(np.abs(z - ref.Zs)) < 1e-9
    mi, *_ = A.local_moran(x, w, permutations=9)
    ref_m = esda.Moran_Local(x, _w(libpysal, w), transformation="r", permutations=0)
    assert np.max(np.abs(mi - ref_m.Is)) < 1e-9


def test_knox_general_bands_match_a_direct_count():
    # Uneven bands that do not start at 0 take the general path; compare with a brute-force count.
    x, y, t = _repeats(3, n=300)
    k = A.knox_test(x, y, t, distance_bands=(50, 100, 400), time_bands=(1, 2, 10, 30), permutations=9)
    d = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    dt = np.abs(t[:, None] - t[None, :])
    iu = np.triu_indices(len(x), 1)
    d, dt = d[iu], dt[iu]
    expect = [int(((d >= a) & (d < b) & (dt >= c) & (dt < e)).sum())
              for a, b in ((50, 100), (100, 400)) for c, e in ((1, 2), (2, 10), (10, 30))]
    assert k.table.observed.tolist() == expect


def test_emerging_fdr_family_per_period():
    g = square(16)
    rng = np.random.default_rng(8)
    x = rng.poisson(1.0, (g.n_cells, 40)).astype(float)
    block = (g.row < 3) & (g.col < 3)
    x[block] += rng.poisson(3.0, (9, 40))
    for family in ("cube", "period"):
        out = A.emerging_hot_spots(x, g, fdr_family=family)
        assert out.pattern.iloc[int(np.flatnonzero((g.row == 1) & (g.col == 1))[0])].endswith("hot spot")
        assert (out.n_hot[~block] > 0).mean() < 0.1
    with pytest.raises(ConfigError, match=re.escape("fdr_family must be 'cube' or 'period'; got 'year'")):
        A.emerging_hot_spots(x, g, fdr_family="year")


def _events(n=600, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"occurred_local": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.uniform(0, 180, n),
                                                                                         unit="D"),
                         "longitude": -123.1 + rng.normal(0, .006, n), "latitude": 49.28 + rng.normal(0, .006, n),
                         "category": rng.choice(["theft", "burglary"], n), "category_group": "property"})


def test_card_summary_is_one_json_dict_of_the_three_analyses():
    import json

    s = A.card_summary(_events(), category="burglary", cell_size=300, permutations=49)
    assert set(s) == {"hot_spots", "emerging", "near_repeat", "parameters"}
    assert s["parameters"]["near-repeat"]["permutations"] == 49
    assert s["parameters"]["hotspots"]["category"] == "burglary"
    json.dumps(s)


def test_a_window_without_the_category_is_a_data_error():
    from forecasting.errors import DataError

    with pytest.raises(DataError, match=re.escape("no burglary incidents between 2024-01-01 and 2024-01-01")):
        A.analyse(_events().assign(category="theft").pipe(
            lambda e: pd.concat([e, e.head(1).assign(category="burglary", occurred_local=pd.Timestamp("2024-05-01"))])),
            "hotspots", category="burglary", start="2024-01-01", end="2024-01-01")


# ------------------------------------------------- the analyses at training time
def test_knox_max_pairs_tests_a_seeded_sample_of_pairs():
    x, y, t = _repeats(0, n=800)
    full = A.knox_test(x, y, t, permutations=99, random_state=0)
    same = A.knox_test(x, y, t, permutations=99, random_state=0, max_pairs=full.pairs_in_reach)
    pd.testing.assert_frame_equal(same.table, full.table)  # a bound not reached changes nothing
    cap = full.pairs_in_reach // 3
    a = A.knox_test(x, y, t, permutations=99, random_state=0, max_pairs=cap)
    b = A.knox_test(x, y, t, permutations=99, random_state=0, max_pairs=cap)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert a.pairs_in_reach == full.pairs_in_reach and a.meta["pairs_tested"] == cap
    assert a.table.observed.sum() / full.table.observed.sum() == pytest.approx(1 / 3, abs=0.08)
    assert a.table.ratio.iloc[0] > 2 and a.table.p.iloc[0] == 0.01  # the planted band is still found
    with pytest.raises(ConfigError, match=re.escape("max_pairs must be a positive whole number of pairs or None")):
        A.knox_test(x, y, t, permutations=99, max_pairs=0)


@pytest.mark.parametrize("window, cell, expected", [
    (A.NearRepeatWindow(150.0, 7.0, 3.0, 0.01), 150, ((3.5, 28.0, 91.0), 1)),
    (A.NearRepeatWindow(300.0, 14.0, 2.0, 0.01), 150, ((7.0, 28.0, 91.0), 2)),
    (A.NearRepeatWindow(450.0, 21.0, 2.0, 0.01), 100, ((10.5, 28.0, 91.0), 4)),
    (A.NearRepeatWindow(150.0, 60.0, 2.0, 0.01), 300, ((28.0, 30.0, 91.0), 1)),
    (None, 150, ((7.0, 28.0, 91.0), 1)),
])
def test_feature_windows_rule(window, cell, expected):
    fw = A.feature_windows(window, cell_size=cell)
    assert (fw["half_lives_days"], fw["near_repeat_ring"]) == expected


def _repeat_events(seed: int = 0, shuffle: bool = False) -> pd.DataFrame:
    """The planted repeat pattern of _repeats as an events frame (UTM 10N metres to lon/lat), days from 2024-01-01."""
    from pyproj import Transformer

    x, y, t = _repeats(seed)
    if shuffle:
        t = np.random.default_rng(9).permutation(t)
    lon, lat = Transformer.from_crs("EPSG:32610", "EPSG:4326", always_xy=True).transform(490_000 + x, 5_450_000 + y)
    return pd.DataFrame({"occurred_local": pd.Timestamp("2024-01-01") + pd.to_timedelta(t, unit="D"),
                         "longitude": lon, "latitude": lat, "category": "burglary", "category_group": "property"})


CUT = pd.Timestamp("2025-01-15")


def test_training_summary_takes_the_windows_from_a_planted_repeat_pattern():
    s = A.training_summary(_repeat_events(), before=CUT, category="burglary", days=400, permutations=199,
                           hot_spots=False)
    nr = s["near_repeat"]
    assert (nr["window"]["distance_m"], nr["window"]["days"]) == (150.0, 7.0)
    assert re.fullmatch(r"burglary incidents here repeat within 150 m and 7 days \d+\.\dx more often than chance",
                        nr["sentence"])
    assert nr["n_events"] == 1950 and len(nr["bands"]) == 9 and nr["permutations"] == 199
    fw = A.feature_windows(A.NearRepeatWindow(**nr["window"]), cell_size=150)
    assert fw == {"half_lives_days": (3.5, 28.0, 91.0), "near_repeat_ring": 1}


def test_training_summary_of_shuffled_times_keeps_the_default_windows():
    s = A.training_summary(_repeat_events(shuffle=True), before=CUT, category="burglary", days=400,
                           permutations=199, hot_spots=False)
    assert s["near_repeat"]["window"] is None and s["near_repeat"]["sentence"] is None
    assert "No near-repeat window" in s["near_repeat"]["note"]
    assert A.feature_windows(None, cell_size=150) == {"half_lives_days": (7.0, 28.0, 91.0), "near_repeat_ring": 1}


def test_training_summary_reads_nothing_at_or_after_the_cut_off():
    import json

    ev = _repeat_events()
    before = ev[ev.occurred_local < "2024-10-01"]
    # Future incidents: a dense burst of repeats right at and after the cut-off, and more of everything.
    later = _repeat_events(seed=5).assign(occurred_local=lambda e: e.occurred_local + pd.Timedelta(days=274))
    burst = later.head(200).assign(occurred_local=pd.Timestamp("2024-10-01"))
    kw = dict(before="2024-10-01", category="burglary", days=200, permutations=99, hot_spots=True)
    a = A.training_summary(before, **kw)
    b = A.training_summary(pd.concat([ev, later, burst]).sample(frac=1, random_state=1), **kw)
    a.pop("seconds"), b.pop("seconds")
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert a["end"] == "2024-10-01 00:00:00" and a["hot_spots"]["cells"] > 0 and a["emerging"]


def test_training_summary_without_incidents_of_the_category_has_no_window():
    s = A.training_summary(_repeat_events(), before=CUT, category="burglary", days=400, permutations=99,
                           hot_spots=False, max_pairs=None)
    assert s["near_repeat"]["pairs_tested"] == s["near_repeat"]["pairs_in_reach"]
    none = A.training_summary(_repeat_events().assign(category="theft"), before=CUT, category="burglary",
                              days=400, permutations=99, hot_spots=False)
    assert none["near_repeat"]["window"] is None and "burglary" in none["near_repeat"]["note"]
