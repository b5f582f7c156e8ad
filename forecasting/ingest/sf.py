"""``sf``: San Francisco PD incidents in both Kaggle 'sf-crime' layouts.

Train: ``Dates`` (``YYYY-MM-DD HH:MM:SS``), ``Category``, ``X`` = longitude, ``Y`` =
latitude, no id. Test: ``Dates`` (``YYYY-MM-DD hh:mm:ssPM``), ``Id``, no category.
Placeholder rows sit at ``Y = 90``; validation quarantines them as out of range.
"""

from __future__ import annotations

import pandas as pd

from forecasting.ingest.base import IncidentAdapter
from forecasting.ingest.common import address_text, clean_text, parse_datetimes, to_float

DATE_FORMATS = (
    ("%Y-%m-%d %H:%M:%S", "minute"),
    ("%Y-%m-%d %I:%M:%S%p", "minute"),
    ("%Y-%m-%d %I:%M:%S %p", "minute"),
    ("%m/%d/%Y %I:%M:%S %p", "minute"),
    ("%m/%d/%Y %H:%M", "minute"),
)


class SanFranciscoAdapter(IncidentAdapter):
    name = "sf"
    tz = "America/Los_Angeles"
    layouts = (("Dates", "Category", "X", "Y"), ("Dates", "Id", "X", "Y"))

    def convert(self, raw: pd.DataFrame, layout: int) -> tuple[pd.DataFrame, list[str]]:
        occurred, res = parse_datetimes(raw["Dates"], DATE_FORMATS)
        if layout == 0:
            source_id = pd.Series(None, index=raw.index, dtype=object)
            category = clean_text(raw["Category"], "unknown")
            used = ["Dates", "Category", "X", "Y"]
        else:
            source_id = clean_text(raw["Id"], default=None)
            # The test layout withholds the category; keep the rows, labelled as such.
            category = pd.Series("UNCLASSIFIED", index=raw.index, dtype=object)
            used = ["Dates", "Id", "X", "Y"]
        address, address_col = address_text(raw, "Address")
        out = pd.DataFrame(
            {
                "source_id": source_id, "occurred_naive": occurred, "time_resolution": res,
                "longitude": to_float(raw["X"]), "latitude": to_float(raw["Y"]),
                "category": category, "address": address,
            },
            index=raw.index,
        )
        return out, used + address_col
