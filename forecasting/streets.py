"""The simulated city's street grid: named streets and block addresses people can read.

A real source publishes each incident's block ("10XX W GEORGIA ST"); the simulated city
(:mod:`forecasting.simulate`) has none, so every map, patrol list and export of it would
locate places by coordinates only. This module lays a regular grid of named streets over the
simulated city's square and gives each point the block of its nearest street, in the
hundred-block style of Vancouver's open data. Everything here is simulated and labelled so.

Layer 2 (beside :mod:`forecasting.simulate`): numpy and pandas only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.errors import ConfigError

_M_PER_DEG_LAT = 111_320.0

#: Street names of the simulated city (fictional; north-south "Avenue", east-west "Street").
_NS_NAMES = ("Alder", "Birch", "Cedar", "Dock", "Elm", "Foundry", "Garden", "Harbour", "Iris", "Juniper",
             "Kiln", "Linden", "Mill", "Nutmeg", "Orchard", "Poplar", "Quarry", "Rowan", "Spruce", "Tanner",
             "Union", "Vine", "Willow", "Yew", "Zinc", "Abbey", "Bridge", "Canal", "Dean", "Ember", "Ferry")
_EW_NAMES = ("Market", "Station", "Church", "School", "Castle", "Priory", "Chapel", "Granary", "Weaver",
             "Cooper", "Mason", "Baker", "Carter", "Fisher", "Glover", "Hunter", "Miller", "Porter", "Sawyer",
             "Thatcher", "Turner", "Wheeler", "Archer", "Brewer", "Chandler", "Draper", "Fletcher", "Potter",
             "Ropewalk", "Salter", "Tyler")


@dataclass(frozen=True)
class StreetGrid:
    """A regular grid of named streets over a square of ``size_m`` metres around ``centre``.

    Parameters
    ----------
    centre : (float, float)
        Longitude and latitude of the square's centre (WGS84 degrees).
    size_m : float
        Side of the square, metres.
    spacing_m : float, default 250
        Distance between parallel streets, metres.

    Examples
    --------
    >>> g = StreetGrid(centre=(5.1214, 52.0907), size_m=1000.0, spacing_m=250.0)
    >>> len(g.lines())
    10
    >>> g.addresses([5.1214], [52.0907]).tolist()
    ['5XX Cedar Avenue']
    """

    centre: tuple[float, float]
    size_m: float
    spacing_m: float = 250.0

    def __post_init__(self) -> None:
        if not self.spacing_m > 0:
            raise ConfigError(f"spacing_m must be a positive number of metres; got {self.spacing_m}")
        if not self.size_m >= self.spacing_m:
            raise ConfigError(f"size_m must be at least spacing_m ({self.spacing_m}); got {self.size_m}")
        n = self.n_streets
        if n > len(_NS_NAMES):
            raise ConfigError(f"size_m / spacing_m allows at most {len(_NS_NAMES) - 1} blocks; got {n - 1}")

    @property
    def n_streets(self) -> int:
        """Streets in each direction."""
        return int(self.size_m // self.spacing_m) + 1

    def _to_m(self, lon, lat) -> tuple[np.ndarray, np.ndarray]:
        # Equirectangular around the centre: exact enough over a few kilometres.
        lon0, lat0 = self.centre
        kx = _M_PER_DEG_LAT * np.cos(np.radians(lat0))
        half = self.size_m / 2
        return ((np.asarray(lon, float) - lon0) * kx + half, (np.asarray(lat, float) - lat0) * _M_PER_DEG_LAT + half)

    def _to_deg(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        lon0, lat0 = self.centre
        kx = _M_PER_DEG_LAT * np.cos(np.radians(lat0))
        half = self.size_m / 2
        return (np.asarray(x, float) - half) / kx + lon0, (np.asarray(y, float) - half) / _M_PER_DEG_LAT + lat0

    def lines(self) -> pd.DataFrame:
        """The streets as ``name, wkt`` (one WGS84 LineString each), north-south first."""
        pos = np.arange(self.n_streets) * self.spacing_m
        ends = np.array([0.0, self.size_m])
        rows = []
        for i, p in enumerate(pos):
            lon, lat = self._to_deg([p, p], ends)
            rows.append((f"{_NS_NAMES[i]} Avenue", _wkt(lon, lat)))
        for j, p in enumerate(pos):
            lon, lat = self._to_deg(ends, [p, p])
            rows.append((f"{_EW_NAMES[j]} Street", _wkt(lon, lat)))
        return pd.DataFrame(rows, columns=["name", "wkt"])

    def addresses(self, longitude, latitude) -> np.ndarray:
        """The block of the nearest street for each point, e.g. ``"12XX Linden Avenue"``.

        The block number counts hundreds of metres along the street from the grid's west or
        south edge, as a hundred-block address does. Points outside the square get the block
        of the nearest street end.
        """
        x, y = self._to_m(longitude, latitude)
        last = self.n_streets - 1
        ix = np.clip(np.rint(x / self.spacing_m), 0, last).astype(int)
        iy = np.clip(np.rint(y / self.spacing_m), 0, last).astype(int)
        on_ns = np.abs(x - ix * self.spacing_m) <= np.abs(y - iy * self.spacing_m)
        along = np.clip(np.where(on_ns, y, x), 0, self.size_m)
        block = (along // 100).astype(int).astype(str)
        names = np.where(on_ns, np.asarray([f"{n} Avenue" for n in _NS_NAMES], dtype=object)[ix],
                         np.asarray([f"{n} Street" for n in _EW_NAMES], dtype=object)[iy])
        return (pd.Series(block) + "XX " + pd.Series(names)).to_numpy(dtype=object)


def simulated_streets(config) -> StreetGrid:
    """The street grid of a simulated city (a :class:`~forecasting.simulate.SimulationConfig`)."""
    spacing = max(250.0, config.size_m / (len(_NS_NAMES) - 1))
    return StreetGrid(centre=tuple(config.centre), size_m=config.size_m, spacing_m=spacing)


def name_city_streets(city) -> StreetGrid:
    """Give a simulated city's incidents the block of their nearest street (column ``address``, in place).

    Call before :func:`~forecasting.simulate.write_city` so the incidents file carries the
    addresses; write the street lines with :func:`write_streets`.

    Examples
    --------
    >>> from forecasting.simulate import SimulationConfig, simulate_city
    >>> city = simulate_city(SimulationConfig(days=7))
    >>> grid = name_city_streets(city)
    >>> bool(city.incidents["address"].str.contains("XX ").all())
    True
    """
    grid = simulated_streets(city.config)
    city.incidents["address"] = grid.addresses(city.incidents["longitude"], city.incidents["latitude"])
    return grid


def write_streets(lines: pd.DataFrame, path, *, simulated: bool = True) -> Path:
    """Write ``name, wkt`` LineStrings as a GeoJSON file that ``crimecast ingest streets`` reads.

    Examples
    --------
    >>> import tempfile
    >>> g = StreetGrid(centre=(5.1, 52.1), size_m=500.0)
    >>> p = write_streets(g.lines(), Path(tempfile.mkdtemp()) / "streets.geojson")
    >>> json.loads(p.read_text())["features"][0]["properties"]["name"]
    'Alder Avenue'
    """
    features = []
    for name, wkt in zip(lines["name"], lines["wkt"], strict=True):
        coords = [[float(v) for v in pair.split()] for pair in wkt[len("LINESTRING ("):-1].split(", ")]
        features.append({"type": "Feature", "properties": {"name": name, "simulated": simulated},
                         "geometry": {"type": "LineString", "coordinates": coords}})
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return out


def _wkt(lon: np.ndarray, lat: np.ndarray) -> str:
    return "LINESTRING (" + ", ".join(f"{a:.6f} {b:.6f}" for a, b in zip(lon, lat, strict=True)) + ")"


__all__ = ["StreetGrid", "name_city_streets", "simulated_streets", "write_streets"]
