"""``canonical``: ``incident_id, occurred_at`` (ISO 8601), ``latitude, longitude, category``."""

from __future__ import annotations

import pandas as pd

from forecasting.ingest.base import IncidentAdapter
from forecasting.ingest.common import clean_text, parse_datetimes, to_float

# Date-only values keep day resolution; anything with a clock time is minute resolution.
ISO_FORMATS = (("%Y-%m-%d", "day"), ("%Y-%m", "month"), ("ISO8601", "minute"))


class CanonicalAdapter(IncidentAdapter):
    name = "canonical"
    layouts = (("incident_id", "occurred_at", "latitude", "longitude", "category"),)

    def convert(self, raw: pd.DataFrame, layout: int) -> tuple[pd.DataFrame, list[str]]:
        occurred, resolution = parse_datetimes(raw["occurred_at"], ISO_FORMATS, self.timezone())
        out = pd.DataFrame(
            {
                "source_id": clean_text(raw["incident_id"], default=None),
                "occurred_naive": occurred,
                "time_resolution": resolution,
                "longitude": to_float(raw["longitude"]),
                "latitude": to_float(raw["latitude"]),
                "category": clean_text(raw["category"], "unknown"),
            },
            index=raw.index,
        )
        return out, list(self.layouts[0])
