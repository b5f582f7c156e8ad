"""The simulated city: seeded, labelled, loadable, and carrying the signal its model put there."""

from __future__ import annotations

import functools
import json
import re
import warnings

import numpy as np
import pandas as pd
import pytest
import shapely

from forecasting.errors import ConfigError
from forecasting.simulate import SimulationConfig, simulate_city, write_city

SMALL = SimulationConfig(seed=7, days=60, n_cameras=8, n_bars=30, n_shops=30, n_stations=4, n_schools=5)


@pytest.fixture(scope="module")
def city():
    return simulate_city(SMALL)


def test_same_seed_same_city_other_seed_other_city(city):
    again = simulate_city(SMALL)
    pd.testing.assert_frame_equal(city.incidents, again.incidents)
    pd.testing.assert_frame_equal(city.counts, again.counts)
    other = simulate_city(SimulationConfig(**{**SMALL.__dict__, "seed": 8}))
    assert len(other.incidents) != len(city.incidents) or not other.incidents.equals(city.incidents)


def test_the_generative_model_shows_in_the_data(city):
    inc, pl = city.incidents, city.places
    assert set(inc["category"]) == {"theft", "violence", "burglary"}
    # Violence happens near bars (the model puts it there); burglary is spread uniformly.
    bars = pl[pl["category"] == "bar"][["longitude", "latitude"]].to_numpy()

    def dist_to_bar(cat):
        xy = inc.loc[inc["category"] == cat, ["longitude", "latitude"]].to_numpy()
        return np.median(np.min(np.hypot(*(xy[:, None, :] - bars[None, :, :]).transpose(2, 0, 1)), axis=1))

    assert dist_to_bar("violence") < 0.5 * dist_to_bar("burglary")
    # Violence peaks at night, theft in the day (local time).
    local = inc["occurred_at"].dt.tz_convert(SMALL.tz).dt.hour
    night = local.isin([21, 22, 23, 0, 1, 2])
    assert night[inc["category"] == "violence"].mean() > 2 * night[inc["category"] == "theft"].mean()
    # Near repeats: roughly alpha / (1 - alpha) offspring per background incident.
    share = inc["parent_id"].notna().mean()
    assert 0.5 * SMALL.alpha < share < 1.5 * SMALL.alpha / (1 - SMALL.alpha)
    # Outages are absent hours, never zeros: fewer rows than camera-hours.
    assert len(city.counts) < SMALL.n_cameras * SMALL.days * 24
    assert city.truth["camera_hours_missing"] == SMALL.n_cameras * SMALL.days * 24 - len(city.counts)


def test_config_errors_name_the_parameter():
    with pytest.raises(ConfigError, match=re.escape("alpha must be in [0, 1) for the cascade to end; got 1.2")):
        simulate_city(SimulationConfig(alpha=1.2))
    with pytest.raises(ConfigError, match=re.escape("days must be a positive number; got 0")):
        simulate_city(SimulationConfig(days=0))


def test_files_are_labelled_and_load_through_the_cli(city, tmp_path, sqlite_url):
    from typer.testing import CliRunner

    from forecasting.cli import app
    from forecasting.store import cameras as crepo
    from forecasting.store import counts as counts_repo
    from forecasting.store import places as places_repo
    from forecasting.store.session import make_engine, make_session_factory, transaction

    files = write_city(city, tmp_path / "sim")
    names = sorted(p.name for p in (tmp_path / "sim").iterdir())
    assert names == ["README.md", "simulated_cameras.csv", "simulated_counts.csv.gz", "simulated_incidents.csv",
                     "simulated_places.csv", "simulated_truth.json"]
    assert "NOT real data" in files["readme"].read_text()
    run = CliRunner()
    base = ["--database-url", sqlite_url, "ingest"]
    cmds = [["incidents", str(files["incidents"]), "-f", "canonical", "--source", "simulated", "--tz", SMALL.tz],
            ["cameras", str(files["cameras"]), "-f", "canonical", "--source", "simulated"],
            ["counts", str(files["counts"]), "-f", "canonical", "--source", "simulated"],
            ["places", str(files["places"]), "--category-column", "category", "--id-column", "place_id",
             "--source", "simulated"]]
    out = {}
    for c in cmds:
        r = run.invoke(app, base + c + ["--json"])
        assert r.exit_code == 0, r.output
        out[c[0]] = json.loads(r.stdout)
    assert out["incidents"]["loaded"] == len(city.incidents)
    assert out["counts"]["loaded"] == len(city.counts) and out["counts"]["quarantined"] == 0
    assert out["counts"]["gaps"] > 0
    assert out["places"]["loaded"] == len(city.places)
    factory = make_session_factory(make_engine(sqlite_url))
    with transaction(factory) as s:
        assert crepo.load_cameras(session=s)["simulated"].all()
        assert places_repo.load_places(session=s)["simulated"].all()
        stored = counts_repo.load_counts(session=s)
    assert stored["people"].sum() == city.counts["people"].sum()


def test_cli_simulate_writes_the_city(tmp_path):
    from typer.testing import CliRunner

    from forecasting.cli import app

    r = CliRunner().invoke(app, ["simulate", "--out", str(tmp_path / "c"), "--seed", "3", "--days", "20",
                                 "--cameras", "5", "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["cameras"] == 5 and summary["incidents"] > 100
    assert (tmp_path / "c" / "simulated_counts.csv.gz").exists()


def _events_and_context(city):
    from forecasting.context import build_context
    from forecasting.ingest.cameras import view_polygons

    tz = city.config.tz
    inc = city.incidents
    ev = pd.DataFrame({"occurred_local": inc["occurred_at"].dt.tz_convert(tz).dt.tz_localize(None),
                       "longitude": inc["longitude"], "latitude": inc["latitude"], "category": inc["category"],
                       "category_group": inc["category"]})
    c = city.cameras
    cams = c.assign(view_wkt=shapely.to_wkt(view_polygons(c["longitude"], c["latitude"], c["heading_deg"],
                                                         c["fov_deg"], c["range_m"])))
    ctx = functools.partial(build_context, tz=tz, cameras=cams, counts=city.counts.assign(resolution="hour"),
                            places=city.places)
    return ev, ctx


@pytest.mark.slow
def test_activity_and_place_features_recover_the_signal_the_model_put_there(tmp_path):
    """Ablation on the simulated city: with context, LightGBM's Poisson deviance and PAI@5% improve."""
    from forecasting.workflows import BacktestOptions, run_backtest

    city = simulate_city(SimulationConfig(seed=11, days=560, drift_sd=0.7, drift_rho=0.95))
    ev, ctx = _events_and_context(city)
    res = {}
    for use in (False, True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run = run_backtest(ev, BacktestOptions(
                start="2024-04-01", end="2024-07-08", period="week", cell_size=200, models=["lgbm"], context=ctx,
                n_boot=50, plots=False, lgbm_params={"use_context": use, "training_days": 364, "validation_days": 56}),
                out_dir=tmp_path / str(use))
        res[use] = run.summary["targets"]["all"]["models"]["lgbm"]
    dev_gain = 1 - res[True]["poisson_deviance"] / res[False]["poisson_deviance"]
    assert dev_gain > 0.01, (res[False]["poisson_deviance"], res[True]["poisson_deviance"])
    # Ranking at 5% of the area moves little over 15 weeks (measured: 7.00 -> 6.99): no worse than 3%.
    assert res[True]["pai@5%"] >= 0.97 * res[False]["pai@5%"]


def test_a_seed_reproduces_the_city_bit_for_bit():
    # Pinned when simulate_city was split into named stages (the digest before and after the
    # split was the same): the order of draws from the one generator is part of the contract.
    # A numpy or pandas upgrade that changes random streams or hashing would also move it.
    import hashlib

    city = simulate_city(SimulationConfig(days=90, n_cameras=8, seed=1))
    h = hashlib.sha256()
    for f in (city.incidents, city.cameras, city.counts, city.places):
        h.update(pd.util.hash_pandas_object(f, index=True).to_numpy().tobytes())
        h.update(json.dumps([list(map(str, f.columns)), list(map(str, f.dtypes))]).encode())
    h.update(json.dumps(city.truth, sort_keys=True).encode())
    assert h.hexdigest()[:16] == "bd8ec8e1952c196f"
