"""A simulated city with known truth: incidents, cameras with hourly counts, and places.

No public source gives crime, camera activity counts and places for one city, so the demo and
the tests use this generator. Everything it writes is labelled simulated.

The generative model
--------------------
Space: a ``size_m`` x ``size_m`` square (default 6 km) centred on ``centre`` (lon/lat; the
default sits over a real-looking Dutch city centre, but the city is fictional), in the local
UTM zone. Time: ``days`` days of hours from ``start`` (UTC), with local-time cycles in ``tz``.

1. **Activity centres** ``k = 1..K`` (shopping/nightlife districts): Gaussian bumps at random
   positions with spread ``sigma_k`` (250-600 m) and weight ``w_k``. Each centre's busyness
   drifts day by day: ``z_k(d) = rho z_k(d-1) + eps``, stationary s.d. ``drift_sd``, plus rare
   1-3-week *surges* (x ``surge_factor``; festivals, road works diverting people). The busyness
   multiplier is ``m_k(d) = exp(z_k(d))``.
2. **Footfall** at location ``x`` and hour ``h``: ``F(x, h) = P(how(h)) [sum_k w_k m_k(d) N(x; c_k,
   sigma_k) + 0.3 sum_s N(x; s, 150 m)]``, with ``P`` a weekly hour-of-week profile (commute
   peaks on weekdays, afternoon peak at weekends, quiet nights) and ``s`` the transit stations.
3. **Places**: bars and shops clustered around the centres (spread ``0.6 sigma_k``), transit
   stations along two lines through the centre, schools spread uniformly.
4. **Background crime** (Poisson in every hour):
   *theft* ~ footfall (rate ``theft_share`` of ``background_per_day``); *violence* around bars
   (within ~60 m) weighted by the night-time profile (Friday/Saturday 20:00-03:00) and the
   busyness of the bar's centre; *burglary* uniform in space on weekday daytimes.
5. **Near repeats** (self-excitation): every incident triggers ``Poisson(alpha)`` offspring of
   its category, after ``Exp(repeat_days)`` days, ``N(0, repeat_m)`` metres away; offspring
   trigger their own (a Hawkes cascade, ``alpha < 1``). Incidents after the end are dropped.
6. **Cameras**: ``n_cameras`` cameras, 75% placed where footfall is high, 25% anywhere; random
   heading, 60-120 degree field of view, 80-180 m range (street CCTV). Each counts people
   ``Poisson(people_scale F(x_cam, h))`` and vehicles (a commute profile) every hour.
   **Outages**: ``Poisson(outages_per_year)`` outages per camera-year lasting ``Exp(3 days)``
   (at least 2 hours), and two cameras installed a third of the way in: their hours are
   *absent* from the counts (gaps, never zeros).

So crime risk is driven by places (bars, stations), by footfall (centres) and by its recent
drift, which the cameras observe; the history of crime alone sees the drift only through
sparse incidents. Every draw uses one ``np.random.default_rng(seed)``.

Layer 2: imports layers 0-1 plus numpy, pandas, pyproj.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pyproj import Transformer

from forecasting.errors import ConfigError, check_positive
from forecasting.grid import utm_crs

SIMULATED_PREFIX = "simulated_"


@dataclass(frozen=True)
class SimulationConfig:
    """Parameters of the generative model (see the module docstring).

    Examples
    --------
    >>> SimulationConfig(days=30).days
    30
    """

    seed: int = 0
    days: int = 900
    start: str = "2023-01-02"
    tz: str = "Europe/Amsterdam"
    centre: tuple[float, float] = (5.1214, 52.0907)
    size_m: float = 6000.0
    n_centres: int = 6
    n_cameras: int = 40
    n_bars: int = 110
    n_shops: int = 150
    n_stations: int = 14
    n_schools: int = 30
    background_per_day: float = 36.0
    theft_share: float = 0.55
    violence_share: float = 0.27
    alpha: float = 0.25
    repeat_days: float = 2.0
    repeat_m: float = 60.0
    drift_rho: float = 0.97
    drift_sd: float = 0.45
    surges_per_year: float = 1.5
    surge_factor: float = 2.5
    people_scale: float = 600.0
    outages_per_year: float = 3.0

    def check(self) -> SimulationConfig:
        for name in ("days", "size_m", "background_per_day", "repeat_days", "repeat_m", "people_scale"):
            check_positive(name, getattr(self, name))
        if not 0 <= self.alpha < 1:
            raise ConfigError(f"alpha must be in [0, 1) for the cascade to end; got {self.alpha!r}")
        if not 0 <= self.drift_rho < 1:
            raise ConfigError(f"drift_rho must be in [0, 1); got {self.drift_rho!r}")
        if self.n_cameras < 1 or self.n_centres < 1:
            raise ConfigError(f"n_cameras and n_centres must be at least 1; got {self.n_cameras}, {self.n_centres}")
        if self.theft_share + self.violence_share > 1:
            raise ConfigError("theft_share + violence_share must be at most 1; got "
                              f"{self.theft_share + self.violence_share}")
        return self


@dataclass
class SimulatedCity:
    """What :func:`simulate_city` returns.

    Attributes
    ----------
    incidents : DataFrame
        Canonical incident CSV columns ``incident_id, occurred_at`` (UTC), ``latitude, longitude,
        category``, plus truth columns ``parent_id`` (None for background) and ``component``.
    cameras : DataFrame
        Canonical camera CSV columns (``camera_id, name, kind, longitude, latitude, heading_deg,
        fov_deg, range_m, installed_at, status``).
    counts : DataFrame
        Canonical long counts ``camera_id, period_start`` (UTC), ``people, vehicles``.
    places : DataFrame
        ``place_id, category, name, longitude, latitude``.
    truth : dict
        Centres, daily busyness multipliers and the configuration.
    """

    incidents: pd.DataFrame
    cameras: pd.DataFrame
    counts: pd.DataFrame
    places: pd.DataFrame
    truth: dict = field(default_factory=dict)
    config: SimulationConfig = field(default_factory=SimulationConfig)

    def summary(self) -> dict:
        return {"incidents": len(self.incidents), "cameras": len(self.cameras), "count_rows": len(self.counts),
                "places": len(self.places), "days": self.config.days,
                "first": str(self.incidents["occurred_at"].min()), "last": str(self.incidents["occurred_at"].max())}


# ----------------------------------------------------------------------------- profiles
def _profiles(local: pd.DatetimeIndex) -> dict[str, np.ndarray]:
    """Hour-of-week activity profiles (mean 1 over a week) at local times."""
    hour = local.hour.to_numpy()
    dow = local.day_of_week.to_numpy()
    weekend = dow >= 5
    h = hour.astype(float)

    def bump(mu, sd):
        return np.exp(-0.5 * ((h - mu) / sd) ** 2)

    day = np.where(weekend, 1.1 * bump(14.5, 3.5), 0.7 * bump(8.5, 1.2) + 0.9 * bump(13, 3) + 0.9 * bump(17.5, 1.5))
    people = 0.05 + day + 0.25 * bump(20.5, 2.0)
    vehicles = 0.1 + np.where(weekend, 0.5 * bump(13, 4), bump(8, 1.5) + bump(17, 1.8))
    late = (hour >= 20) | (hour < 3)
    fri_sat = ((dow == 4) | (dow == 5)) & (hour >= 20) | ((dow == 5) | (dow == 6)) & (hour < 3)
    night = 0.08 + 0.6 * late + 1.6 * fri_sat
    daytime = 0.2 + ((hour >= 8) & (hour < 18) & ~weekend)
    return {k: v / v.mean() for k, v in
            {"people": people, "vehicles": vehicles, "night": night, "daytime": daytime}.items()}


def _gauss(x, y, cx, cy, sd):
    """Unnormalised isotropic Gaussian bumps: points (n,) x centres (k,) -> (n, k)."""
    d2 = (x[:, None] - cx[None, :]) ** 2 + (y[:, None] - cy[None, :]) ** 2
    return np.exp(-0.5 * d2 / (sd[None, :] ** 2))


def _drift(rng, cfg: SimulationConfig, n_days: int) -> np.ndarray:
    """Daily log-busyness of each centre: AR(1) plus rare surges, shape (K, n_days)."""
    k = cfg.n_centres
    eps_sd = cfg.drift_sd * np.sqrt(1 - cfg.drift_rho ** 2)
    eps = rng.normal(0, eps_sd, (k, n_days))
    eps[:, 0] = rng.normal(0, cfg.drift_sd, k)
    # AR(1) as a linear filter along days (no Python loop over days).
    from scipy.signal import lfilter

    z = lfilter([1.0], [1.0, -cfg.drift_rho], eps, axis=1)
    n_surge = rng.poisson(cfg.surges_per_year * n_days / 365.25 * k)
    if n_surge:
        which = rng.integers(0, k, n_surge)
        start = rng.integers(0, n_days, n_surge)
        length = rng.integers(7, 22, n_surge)
        days = np.arange(n_days)
        hit = (days[None, :] >= start[:, None]) & (days[None, :] < (start + length)[:, None])
        bump = np.zeros((k, n_days))
        np.add.at(bump, which, hit * np.log(cfg.surge_factor))
        z = z + np.minimum(bump, np.log(cfg.surge_factor))
    return z


# ------------------------------------------------------------------------------ the city
@dataclass(frozen=True)
class _Area:
    """The city's square in local metres: (0, 0) is its south-west corner in the UTM zone."""

    size: float
    crs: object
    origin: tuple[float, float]
    to_lonlat: Transformer

    @classmethod
    def around(cls, cfg: SimulationConfig) -> _Area:
        crs = utm_crs(np.array([cfg.centre[0]]), np.array([cfg.centre[1]]))
        x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(*cfg.centre)
        return cls(cfg.size_m, crs, (x - cfg.size_m / 2, y - cfg.size_m / 2),
                   Transformer.from_crs(crs, "EPSG:4326", always_xy=True))

    def lonlat(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.to_lonlat.transform(np.asarray(x) + self.origin[0], np.asarray(y) + self.origin[1])


@dataclass(frozen=True)
class _Clock:
    """The simulated hours (UTC), their local activity profiles and the day each falls on."""

    hours: pd.DatetimeIndex
    profiles: dict[str, np.ndarray]
    day: np.ndarray

    @classmethod
    def of(cls, cfg: SimulationConfig) -> _Clock:
        hours = pd.date_range(pd.Timestamp(cfg.start, tz="UTC"), periods=cfg.days * 24, freq="h")
        return cls(hours, _profiles(hours.tz_convert(cfg.tz)), np.arange(hours.size) // 24)


@dataclass(frozen=True)
class _Centres:
    """Activity centres: positions, Gaussian spread (m), weight, and busyness (centres, days)."""

    x: np.ndarray
    y: np.ndarray
    sigma: np.ndarray
    weight: np.ndarray
    busyness: np.ndarray


@dataclass(frozen=True)
class _Sites:
    """Where places are: every place (local metres), and the bars and stations crime follows."""

    places: pd.DataFrame
    bar_x: np.ndarray
    bar_y: np.ndarray
    bar_centre: np.ndarray
    station_x: np.ndarray
    station_y: np.ndarray


def simulate_city(config: SimulationConfig | None = None) -> SimulatedCity:
    """Simulate the city described in the module docstring.

    Parameters
    ----------
    config : SimulationConfig, optional

    Returns
    -------
    SimulatedCity

    Examples
    --------
    >>> city = simulate_city(SimulationConfig(days=14, n_cameras=5, seed=1))
    >>> sorted(city.incidents["category"].unique())
    ['burglary', 'theft', 'violence']
    >>> bool(city.counts.groupby("camera_id").size().max() <= 14 * 24)
    True
    """
    cfg = (config or SimulationConfig()).check()
    # One generator, drawn from in this order: the order is part of what a seed reproduces.
    rng = np.random.default_rng(cfg.seed)
    area, clock = _Area.around(cfg), _Clock.of(cfg)
    centres = _activity_centres(rng, cfg)
    sites = _places(rng, cfg, centres)
    events = _cascade(rng, _background_crime(rng, cfg, centres, sites, clock), cfg, clock.hours.size, area.size)
    incidents = _incident_table(events, clock, area)
    cameras, counts, present = _cameras_and_counts(rng, cfg, centres, sites, clock, area)
    lon, lat = area.lonlat(sites.places["x"].to_numpy(), sites.places["y"].to_numpy())
    places = pd.DataFrame({"place_id": sites.places["place_id"], "category": sites.places["category"],
                           "name": sites.places["name"], "longitude": np.round(lon, 6), "latitude": np.round(lat, 6)})
    centre_lon, centre_lat = area.lonlat(centres.x, centres.y)
    truth = {
        "crs": area.crs.to_string(), "origin_xy": [float(area.origin[0]), float(area.origin[1])],
        "centres": [{"longitude": float(a), "latitude": float(b), "sigma_m": float(s), "weight": float(w)}
                    for a, b, s, w in zip(centre_lon, centre_lat, centres.sigma, centres.weight, strict=True)],
        "daily_multiplier": np.round(centres.busyness, 4).tolist(),
        "background_incidents": int((incidents["parent_id"].isna()).sum()),
        "offspring_incidents": int(incidents["parent_id"].notna().sum()),
        "camera_hours_missing": int((~present).sum()),
    }
    return SimulatedCity(incidents, cameras, counts, places, truth, cfg)


def _activity_centres(rng, cfg: SimulationConfig) -> _Centres:
    """Stage 1: centres at random inside the middle 70 % of the square, and their daily drift."""
    size, n = cfg.size_m, cfg.n_centres
    x = rng.uniform(0.15 * size, 0.85 * size, n)
    y = rng.uniform(0.15 * size, 0.85 * size, n)
    sigma = rng.uniform(250, 600, n)
    weight = rng.dirichlet(np.full(n, 3.0))
    return _Centres(x, y, sigma, weight, np.exp(_drift(rng, cfg, cfg.days)))


def _places(rng, cfg: SimulationConfig, centres: _Centres) -> _Sites:
    """Stage 3: bars and shops around the centres, stations on two lines, schools anywhere."""
    size = cfg.size_m

    def around(n, spread):
        k = rng.choice(centres.x.size, n, p=centres.weight)
        return (centres.x[k] + rng.normal(0, spread * centres.sigma[k]),
                centres.y[k] + rng.normal(0, spread * centres.sigma[k]), k)

    bar_x, bar_y, bar_centre = around(cfg.n_bars, 0.5)
    shop_x, shop_y, _ = around(cfg.n_shops, 0.7)
    along = np.linspace(0.05, 0.95, cfg.n_stations)
    line = np.arange(cfg.n_stations) % 2
    angle = rng.uniform(0, np.pi, 2)
    station_x = size / 2 + (along - 0.5) * size * np.cos(angle[line]) * 0.9 + rng.normal(0, 60, cfg.n_stations)
    station_y = size / 2 + (along - 0.5) * size * np.sin(angle[line]) * 0.9 + rng.normal(0, 60, cfg.n_stations)
    school_x, school_y = rng.uniform(0, size, cfg.n_schools), rng.uniform(0, size, cfg.n_schools)
    places = pd.DataFrame({
        "category": np.repeat(["bar", "shop", "transit_station", "school"],
                              [cfg.n_bars, cfg.n_shops, cfg.n_stations, cfg.n_schools]),
        "x": np.concatenate([bar_x, shop_x, station_x, school_x]),
        "y": np.concatenate([bar_y, shop_y, station_y, school_y]),
    })
    places = places[places["x"].between(0, size) & places["y"].between(0, size)].reset_index(drop=True)
    places["place_id"] = "simp" + pd.Series(np.arange(len(places))).astype(str).str.zfill(4)
    places["name"] = "Simulated " + places["category"].str.replace("_", " ") + " " + places.index.astype(str)
    return _Sites(places, bar_x, bar_y, bar_centre, station_x, station_y)


def _background_crime(rng, cfg: SimulationConfig, centres: _Centres, sites: _Sites, clock: _Clock) -> pd.DataFrame:
    """Stage 4: one Poisson draw per (source, hour) of theft, violence and burglary.

    Returns ``hour, x, y, category, component, t`` (``t``: hours since the start, continuous),
    inside the square.
    """
    size, profile, busy = cfg.size_m, clock.profiles, centres.busyness
    per_hour = cfg.background_per_day / 24.0
    events = []
    # Theft around centres (following their busyness) and stations (static).
    theft = per_hour * cfg.theft_share
    centre_share = 0.8
    rate = theft * centre_share * centres.weight[:, None] * busy[:, clock.day] * profile["people"][None, :]
    rate /= np.mean(busy)  # keep the expected total near the configured rate
    events.append(_draw(rng, rate, centres.x, centres.y, centres.sigma, "theft", "centre"))
    n_stations = sites.station_x.size
    rate = np.full((n_stations, clock.hours.size), theft * (1 - centre_share) / n_stations) * profile["people"][None, :]
    events.append(_draw(rng, rate, sites.station_x, sites.station_y, np.full(n_stations, 120.0), "theft", "station"))
    # Violence around bars at night, scaled by the busyness of the bar's centre.
    violence = per_hour * cfg.violence_share
    rate = (violence / max(sites.bar_x.size, 1) * busy[sites.bar_centre][:, clock.day] * profile["night"][None, :]
            / np.mean(busy))
    events.append(_draw(rng, rate, sites.bar_x, sites.bar_y, np.full(sites.bar_x.size, 60.0), "violence", "bar"))
    # Burglary: uniform in space, weekday daytimes.
    burglary = per_hour * (1 - cfg.theft_share - cfg.violence_share)
    hour = np.repeat(np.arange(clock.hours.size), rng.poisson(burglary * profile["daytime"]))
    events.append(pd.DataFrame({"hour": hour, "x": rng.uniform(0, size, hour.size),
                                "y": rng.uniform(0, size, hour.size), "category": "burglary",
                                "component": "uniform"}))
    ev = pd.concat(events, ignore_index=True)
    ev["t"] = ev["hour"] + rng.random(len(ev))
    return ev[ev["x"].between(0, size) & ev["y"].between(0, size)].reset_index(drop=True)


def _incident_table(ev: pd.DataFrame, clock: _Clock, area: _Area) -> pd.DataFrame:
    """Canonical incidents in time order, with the truth columns ``component`` and ``parent_id``."""
    occurred = clock.hours[0] + pd.to_timedelta(ev["t"].to_numpy() * 3600.0, unit="s")
    lon, lat = area.lonlat(ev["x"].to_numpy(), ev["y"].to_numpy())
    order = np.argsort(occurred.to_numpy(), kind="stable")
    ids = np.char.add("sim", np.char.zfill(np.arange(len(ev)).astype(str), 6)).astype(object)
    parent = ev["parent"].to_numpy()
    parent_id = np.where(parent >= 0, ids[np.maximum(parent, 0)], None)
    return pd.DataFrame({
        "incident_id": ids, "occurred_at": occurred.floor("s"), "latitude": np.round(lat, 6),
        "longitude": np.round(lon, 6), "category": ev["category"].to_numpy(),
        "component": ev["component"].to_numpy(), "parent_id": parent_id,
    }).iloc[order].reset_index(drop=True)


def _cameras_and_counts(rng, cfg: SimulationConfig, centres: _Centres, sites: _Sites, clock: _Clock,
                        area: _Area) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Stage 6: the camera registry, hourly counts and the (cameras, hours) availability mask."""
    size, profile, hours = cfg.size_m, clock.profiles, clock.hours
    n_busy = int(round(cfg.n_cameras * 0.75))  # placed where footfall is high; the rest anywhere
    k = rng.choice(centres.x.size, n_busy, p=centres.weight)
    x = np.concatenate([centres.x[k] + rng.normal(0, 0.7 * centres.sigma[k]),
                        rng.uniform(0.05 * size, 0.95 * size, cfg.n_cameras - n_busy)])
    y = np.concatenate([centres.y[k] + rng.normal(0, 0.7 * centres.sigma[k]),
                        rng.uniform(0.05 * size, 0.95 * size, cfg.n_cameras - n_busy)])
    x, y = np.clip(x, 0, size), np.clip(y, 0, size)
    n = x.size
    heading = rng.uniform(0, 360, n).round(0)
    fov = rng.uniform(60, 120, n).round(0)
    reach = rng.uniform(80, 180, n).round(0)
    near = _gauss(x, y, centres.x, centres.y, centres.sigma) * centres.weight[None, :] * centres.x.size
    station = 0.3 * _gauss(x, y, sites.station_x, sites.station_y, np.full(sites.station_x.size, 150.0)).sum(axis=1)
    level = near @ centres.busyness  # (cameras, days)
    mean_people = cfg.people_scale * (level[:, clock.day] + station[:, None] + 0.05) * profile["people"][None, :]
    mean_vehicles = (0.3 * cfg.people_scale * (0.3 + near.sum(axis=1) + station)[:, None]
                     * profile["vehicles"][None, :])
    people = rng.poisson(mean_people)
    vehicles = rng.poisson(mean_vehicles)
    present = _availability(rng, cfg, n, hours.size)
    ids = np.char.add("simcam", np.char.zfill(np.arange(n).astype(str), 3)).astype(object)
    cam, hour = np.nonzero(present)
    counts = pd.DataFrame({"camera_id": ids[cam], "period_start": hours[hour],
                           "people": people[cam, hour], "vehicles": vehicles[cam, hour]})
    installed = np.where(present.any(axis=1), hours[present.argmax(axis=1)].astype(str), None)
    lon, lat = area.lonlat(x, y)
    cameras = pd.DataFrame({
        "camera_id": ids, "name": [f"Simulated camera {i}" for i in range(n)], "kind": "cctv",
        "longitude": np.round(lon, 6), "latitude": np.round(lat, 6), "heading_deg": heading, "fov_deg": fov,
        "range_m": reach, "installed_at": pd.to_datetime(installed, utc=True).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "status": "active",
    })
    return cameras, counts, present


def _draw(rng, lam: np.ndarray, cx, cy, sd, category: str, component: str) -> pd.DataFrame:
    """Poisson counts per (source, hour) of rate ``lam``, placed ``N(source, sd)``."""
    n = rng.poisson(lam)
    src, hour = np.nonzero(n)
    reps = n[src, hour]
    src, hour = np.repeat(src, reps), np.repeat(hour, reps)
    return pd.DataFrame({"hour": hour, "x": cx[src] + rng.normal(0, 1, src.size) * sd[src],
                         "y": cy[src] + rng.normal(0, 1, src.size) * sd[src],
                         "category": category, "component": component})


def _cascade(rng, ev: pd.DataFrame, cfg: SimulationConfig, n_hours: int, L: float) -> pd.DataFrame:
    """Stage 5: near-repeat offspring, generation by generation (each generation vectorised)."""
    ev = ev.assign(parent=-1)
    frames = [ev]
    gen = ev
    offset = len(ev)
    while len(gen):
        n = rng.poisson(cfg.alpha, len(gen))
        idx = np.repeat(np.arange(len(gen)), n)
        if idx.size == 0:
            break
        parent_pos = gen.index.to_numpy()[idx]
        kids = pd.DataFrame({
            "t": gen["t"].to_numpy()[idx] + rng.exponential(cfg.repeat_days * 24, idx.size),
            "x": gen["x"].to_numpy()[idx] + rng.normal(0, cfg.repeat_m, idx.size),
            "y": gen["y"].to_numpy()[idx] + rng.normal(0, cfg.repeat_m, idx.size),
            "category": gen["category"].to_numpy()[idx], "component": "near_repeat", "parent": parent_pos,
        })
        kids["hour"] = np.floor(kids["t"]).astype(np.int64)
        keep = (kids["t"] < n_hours) & kids["x"].between(0, L) & kids["y"].between(0, L)
        kids = kids[keep.to_numpy()]
        kids.index = np.arange(offset, offset + len(kids))
        offset += len(kids)
        frames.append(kids)
        gen = kids
    out = pd.concat(frames)
    return out.sort_index().reset_index(drop=True)


def _availability(rng, cfg: SimulationConfig, n_c: int, n_hours: int) -> np.ndarray:
    """Boolean (cameras, hours): False during outages and before a late installation."""
    present = np.ones((n_c, n_hours), dtype=bool)
    years = n_hours / (24 * 365.25)
    n_out = rng.poisson(cfg.outages_per_year * years, n_c)
    cam = np.repeat(np.arange(n_c), n_out)
    start = rng.integers(0, n_hours, cam.size)
    length = np.maximum(rng.exponential(72, cam.size).astype(np.int64), 2)
    # Mark outages with a difference array: +1 at start, -1 at end, cumulative sum > 0 is out.
    diff = np.zeros((n_c, n_hours + 1), dtype=np.int32)
    np.add.at(diff, (cam, start), 1)
    np.add.at(diff, (cam, np.minimum(start + length, n_hours)), -1)
    present &= np.cumsum(diff, axis=1)[:, :n_hours] == 0
    late = rng.choice(n_c, size=min(2, n_c - 1), replace=False) if n_c > 2 else np.array([], dtype=int)
    present[late, : n_hours // 3] = False
    return present


# ------------------------------------------------------------------------------- writing
_README = """# Simulated city (NOT real data)

Every file in this directory was produced by `crimecast simulate` (seed {seed}) from the documented
generative model in `forecasting/simulate.py` (see also `docs/simulated_city.md`). Nothing here describes a real
place, person, camera or crime; the coordinates are placed over a real-looking location only so that the
maps look plausible.

| file | what | rows |
|---|---|---|
| simulated_incidents.csv | canonical incidents (`incident_id, occurred_at, latitude, longitude, category`);\
  truth columns `component`, `parent_id` | {incidents} |
| simulated_cameras.csv | canonical camera registry (location, heading, field of view, range) | {cameras} |
| simulated_counts.csv.gz | canonical long hourly counts (`camera_id, period_start, people, vehicles`);\
  outages are absent hours | {count_rows} |
| simulated_places.csv | places with lon/lat and category (bar, shop, transit_station, school) | {places} |
| simulated_truth.json | the hidden truth: centres, daily busyness multipliers, configuration | |

Load it (times are UTC with a `Z`; the city's local time zone is {tz}):

    crimecast ingest incidents simulated_incidents.csv --format canonical --source simulated --tz {tz}
    crimecast ingest cameras simulated_cameras.csv --format canonical --source simulated
    crimecast ingest counts simulated_counts.csv.gz --format canonical --source simulated
    crimecast ingest places simulated_places.csv --category-column category --id-column place_id --source simulated

Cameras and places loaded from `simulated_*` files carry `simulated = true` in the database.
"""


def write_city(city: SimulatedCity, out_dir) -> dict[str, Path]:
    """Write the city's files (all named ``simulated_*``) and a README into ``out_dir``.

    Returns
    -------
    dict of str to Path
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {k: out / f"{SIMULATED_PREFIX}{k}.csv" for k in ("incidents", "cameras", "places")}
    files["counts"] = out / f"{SIMULATED_PREFIX}counts.csv.gz"
    files["truth"] = out / f"{SIMULATED_PREFIX}truth.json"
    files["readme"] = out / "README.md"
    inc = city.incidents.assign(occurred_at=city.incidents["occurred_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    inc.to_csv(files["incidents"], index=False)
    city.cameras.to_csv(files["cameras"], index=False)
    city.places.to_csv(files["places"], index=False)
    # Format each distinct hour once (strftime per row costs seconds on ~1M rows).
    utc = city.counts["period_start"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    uniq, inv = np.unique(utc, return_inverse=True)
    text = np.asarray(pd.DatetimeIndex(uniq).strftime("%Y-%m-%dT%H:%M:%SZ"), dtype=object)[inv.ravel()]
    counts = city.counts.assign(period_start=text)
    # Fast gzip: the counts are the bulk of the bytes and compress well at level 1.
    counts.to_csv(files["counts"], index=False, compression={"method": "gzip", "compresslevel": 1})
    files["truth"].write_text(json.dumps({**city.truth, "config": asdict(city.config)}))
    files["readme"].write_text(_README.format(seed=city.config.seed, tz=city.config.tz, **city.summary()))
    return files


__all__ = ["SIMULATED_PREFIX", "SimulatedCity", "SimulationConfig", "simulate_city", "write_city"]
