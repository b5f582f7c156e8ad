"""``chicago``: the City of Chicago data portal export, and the compact cut in shared data.

Full export: ``ID, Date`` (``MM/DD/YYYY hh:mm:ss AM``), ``Primary Type``, ``Latitude``,
``Longitude`` (blank for some rows; then ``X Coordinate``/``Y Coordinate`` in Illinois
State Plane East feet, EPSG:3435, are projected). Compact cut: ``date, loc_cat, longitude,
latitude, district`` (aggravated assaults only, no id).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.ingest.base import IncidentAdapter
from forecasting.ingest.common import address_text, clean_text, parse_datetimes, project_to_wgs84, to_float

PORTAL_DATE_FORMATS = (
    ("%m/%d/%Y %I:%M:%S %p", "minute"),
    ("%Y-%m-%dT%H:%M:%S.%f", "minute"),
    ("%Y-%m-%d %H:%M:%S", "minute"),
)
CUT_DATE_FORMATS = (("%Y-%m-%d %H:%M", "minute"), ("%Y-%m-%d %H:%M:%S", "minute"))


class ChicagoAdapter(IncidentAdapter):
    name = "chicago"
    tz = "America/Chicago"
    layouts = (
        ("ID", "Date", "Primary Type", "Latitude", "Longitude"),
        ("date", "longitude", "latitude"),
    )

    def convert(self, raw: pd.DataFrame, layout: int) -> tuple[pd.DataFrame, list[str]]:
        if layout == 0:
            occurred, res = parse_datetimes(raw["Date"], PORTAL_DATE_FORMATS)
            lon, lat = to_float(raw["Longitude"]), to_float(raw["Latitude"])
            used = ["ID", "Date", "Primary Type", "Latitude", "Longitude"]
            sx = sy = pd.Series(np.nan, index=raw.index)
            source_crs = pd.Series("EPSG:4326", index=raw.index, dtype=object)
            if {"X Coordinate", "Y Coordinate"} <= set(raw.columns):
                sx, sy = to_float(raw["X Coordinate"]), to_float(raw["Y Coordinate"])
                fill = lon.isna() & sx.gt(0) & sy.gt(0)
                if fill.any():
                    plon, plat = project_to_wgs84(sx[fill], sy[fill], "EPSG:3435")
                    lon.loc[fill], lat.loc[fill] = plon, plat
                    source_crs.loc[fill] = "EPSG:3435"
            address, address_col = address_text(raw, "Block")
            out = pd.DataFrame(
                {
                    "source_id": clean_text(raw["ID"], default=None),
                    "occurred_naive": occurred, "time_resolution": res,
                    "longitude": lon, "latitude": lat, "source_x": sx, "source_y": sy,
                    "source_crs": source_crs,
                    "category": clean_text(raw["Primary Type"], "unknown"),
                    "address": address,
                },
                index=raw.index,
            )
            return out, used + address_col
        occurred, res = parse_datetimes(raw["date"], CUT_DATE_FORMATS)
        out = pd.DataFrame(
            {
                "source_id": pd.Series(None, index=raw.index, dtype=object),
                "occurred_naive": occurred, "time_resolution": res,
                "longitude": to_float(raw["longitude"]), "latitude": to_float(raw["latitude"]),
                "category": self.options.default_category or "AGGRAVATED ASSAULT",
            },
            index=raw.index,
        )
        return out, ["date", "longitude", "latitude"]
