"""``policeuk``: police.uk street-level crime CSVs.

``Crime ID`` (blank for anti-social behaviour), ``Month`` (``YYYY-MM``: month resolution,
kept as such and flagged), ``Longitude``, ``Latitude`` (snapped to map points; blank
when the location is withheld), ``Crime type``.
"""

from __future__ import annotations

import pandas as pd

from forecasting.ingest.base import IncidentAdapter
from forecasting.ingest.common import address_text, clean_text, parse_datetimes, to_float


class PoliceUKAdapter(IncidentAdapter):
    name = "policeuk"
    tz = "Europe/London"
    layouts = (("Crime ID", "Month", "Longitude", "Latitude", "Crime type"),)

    def convert(self, raw: pd.DataFrame, layout: int) -> tuple[pd.DataFrame, list[str]]:
        occurred, res = parse_datetimes(raw["Month"], (("%Y-%m", "month"),))
        address, address_col = address_text(raw, "Location")  # "On or near Park Street"
        out = pd.DataFrame(
            {
                "source_id": clean_text(raw["Crime ID"], default=None),
                "occurred_naive": occurred, "time_resolution": res,
                "longitude": to_float(raw["Longitude"]), "latitude": to_float(raw["Latitude"]),
                "category": clean_text(raw["Crime type"], "unknown"),
                "address": address,
            },
            index=raw.index,
        )
        return out, [*self.layouts[0], *address_col]
