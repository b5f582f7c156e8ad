"""``generic``: any CSV, given a column mapping.

``--map occurred_at=Date --map latitude=Lat --map longitude=Lon --map category=Type
[--map incident_id=Ref]``; or ``--map x=Easting --map y=Northing --crs EPSG:27700`` for
projected coordinates. ``--date-format`` (strftime) is tried first, then common formats.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.errors import InputError
from forecasting.ingest.base import IncidentAdapter
from forecasting.ingest.common import address_text, clean_text, parse_datetimes, project_to_wgs84, to_float

COMMON_FORMATS = (
    ("%Y-%m-%d %H:%M:%S", "minute"),
    ("%Y-%m-%d %H:%M", "minute"),
    ("%Y-%m-%dT%H:%M:%S", "minute"),
    ("%m/%d/%Y %I:%M:%S %p", "minute"),
    ("%m/%d/%Y %H:%M", "minute"),
    ("%d/%m/%Y %H:%M", "minute"),
    ("%Y-%m-%d", "day"),
    ("%m/%d/%Y", "day"),
    ("%d/%m/%Y", "day"),
    ("%Y-%m", "month"),
    ("ISO8601", "minute"),
)
TARGETS = ("incident_id", "occurred_at", "latitude", "longitude", "x", "y", "category", "address")


class GenericAdapter(IncidentAdapter):
    name = "generic"

    def layout(self, header: list[str]) -> int:
        m = self.options.mapping
        unknown = sorted(set(m) - set(TARGETS))
        if unknown:
            raise InputError(f"--map targets must be among {list(TARGETS)}; got {unknown}")
        if "occurred_at" not in m:
            raise InputError("format 'generic' needs --map occurred_at=<column>")
        projected = "x" in m or "y" in m
        if projected and not ({"x", "y"} <= set(m) and self.options.crs):
            raise InputError("projected coordinates need --map x=<col> --map y=<col> and --crs EPSG:nnnn")
        if not projected and not {"latitude", "longitude"} <= set(m):
            raise InputError("format 'generic' needs --map latitude=<col> --map longitude=<col> (or x/y with --crs)")
        missing = [c for c in m.values() if c not in header]
        if missing:
            raise InputError(f"mapped column(s) {missing} are not in the file; it has {header}")
        return 0

    def convert(self, raw: pd.DataFrame, layout: int) -> tuple[pd.DataFrame, list[str]]:
        m = self.options.mapping
        formats = COMMON_FORMATS
        if self.options.date_format:
            formats = ((self.options.date_format, _resolution(self.options.date_format)), *formats)
        occurred, res = parse_datetimes(raw[m["occurred_at"]], formats, self.timezone())
        sx = sy = pd.Series(np.nan, index=raw.index)
        if "x" in m:
            sx, sy = to_float(raw[m["x"]]), to_float(raw[m["y"]])
            lon, lat = project_to_wgs84(sx, sy, self.options.crs)
            crs = self.options.crs
        else:
            lon, lat = to_float(raw[m["longitude"]]), to_float(raw[m["latitude"]])
            crs = "EPSG:4326"
        cat = (
            clean_text(raw[m["category"]], "unknown") if "category" in m
            else self.options.default_category or "unknown"
        )
        address, _ = address_text(raw, m.get("address"))
        out = pd.DataFrame(
            {
                "source_id": clean_text(raw[m["incident_id"]], default=None) if "incident_id" in m
                else pd.Series(None, index=raw.index, dtype=object),
                "occurred_naive": occurred, "time_resolution": res, "longitude": lon,
                "latitude": lat, "source_x": sx, "source_y": sy, "source_crs": crs,
                "category": cat, "address": address,
            },
            index=raw.index,
        )
        return out, list(m.values())


def _resolution(fmt: str) -> str:
    if "%M" in fmt:
        return "minute"
    if "%H" in fmt or "%I" in fmt:
        return "hour"
    return "day" if "%d" in fmt else "month"
