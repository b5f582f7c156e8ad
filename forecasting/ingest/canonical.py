"""``canonical``: ``incident_id, occurred_at`` (ISO 8601), ``latitude, longitude, category``."""

from __future__ import annotations

import pandas as pd

from forecasting.ingest.base import IncidentAdapter
from forecasting.ingest.common import address_text, clean_text, parse_datetimes, to_float

# Date-only values keep day resolution; anything with a clock time is minute resolution.
ISO_FORMATS = (("%Y-%m-%d", "day"), ("%Y-%m", "month"), ("ISO8601", "minute"))


class CanonicalAdapter(IncidentAdapter):
    name = "canonical"
    layouts = (("incident_id", "occurred_at", "latitude", "longitude", "category"),)

    def convert(self, raw: pd.DataFrame, layout: int) -> tuple[pd.DataFrame, list[str]]:
        occurred, resolution = parse_datetimes(raw["occurred_at"], ISO_FORMATS, self.timezone())
        address, address_col = address_text(raw, "address")
        out = pd.DataFrame(
            {
                "source_id": clean_text(raw["incident_id"], default=None),
                "occurred_naive": occurred,
                "time_resolution": resolution,
                "longitude": to_float(raw["longitude"]),
                "latitude": to_float(raw["latitude"]),
                "category": clean_text(raw["category"], "unknown"),
                "address": address,
            },
            index=raw.index,
        )
        return out, [*self.layouts[0], *address_col]
