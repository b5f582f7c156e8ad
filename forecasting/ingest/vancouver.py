"""``vancouver``: VPD GeoDASH open data.

``TYPE, YEAR, MONTH, DAY, HOUR, MINUTE, HUNDRED_BLOCK, NEIGHBOURHOOD, X, Y`` with X/Y in
UTM zone 10 metres (EPSG:32610), offset to the hundred block. Offences against a person
are published at X = Y = 0 for privacy; validation quarantines them as zero coordinates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.ingest.base import IncidentAdapter
from forecasting.ingest.common import address_text, clean_text, project_to_wgs84, to_float


class VancouverAdapter(IncidentAdapter):
    name = "vancouver"
    tz = "America/Vancouver"
    source_crs = "EPSG:32610"
    layouts = (("TYPE", "YEAR", "MONTH", "DAY", "HOUR", "MINUTE", "X", "Y"),)

    def convert(self, raw: pd.DataFrame, layout: int) -> tuple[pd.DataFrame, list[str]]:
        parts = {k: to_float(raw[k.upper()]) for k in ("year", "month", "day", "hour", "minute")}
        has_date = parts["year"].notna() & parts["month"].notna() & parts["day"].notna()
        clock = parts["hour"].notna() & parts["minute"].notna()
        frame = pd.DataFrame(
            {k: v.fillna(0 if k in ("hour", "minute") else 1) for k, v in parts.items()}
        )
        occurred = pd.to_datetime(frame, errors="coerce")
        occurred = occurred.where(has_date)
        res = pd.Series(np.where(clock, "minute", "day"), index=raw.index, dtype=object)
        x, y = to_float(raw["X"]), to_float(raw["Y"])
        crs = self.options.crs or self.source_crs
        # Zero means "withheld", not a place: keep it as zero so validation names the reason.
        zero = (x == 0) & (y == 0)
        lon, lat = project_to_wgs84(x.where(~zero), y.where(~zero), crs)
        lon, lat = lon.where(~zero, 0.0), lat.where(~zero, 0.0)
        address, address_col = address_text(raw, "HUNDRED_BLOCK")
        out = pd.DataFrame(
            {
                "source_id": pd.Series(None, index=raw.index, dtype=object),
                "occurred_naive": occurred, "time_resolution": res,
                "longitude": lon, "latitude": lat, "source_x": x, "source_y": y,
                "source_crs": crs,
                "category": clean_text(raw["TYPE"], "unknown"),
                "address": address,
            },
            index=raw.index,
        )
        return out, [*self.layouts[0], *address_col]
