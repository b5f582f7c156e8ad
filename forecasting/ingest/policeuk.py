"""``policeuk``: police.uk street-level crime CSVs.

``Crime ID`` (blank for anti-social behaviour), ``Month`` (``YYYY-MM``: month resolution,
kept as such and flagged), ``Longitude``, ``Latitude`` (snapped to map points; blank
when the location is withheld), ``Crime type``.
"""

from __future__ import annotations

import re

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


# ------------------------------------------------------------------ bulk archives
#: ``2024-01/2024-01-west-yorkshire-street.csv``: month, force slug and kind of a bulk-download file.
_ARCHIVE_FILE = re.compile(r"(?:^|/)(?P<month>\d{4}-\d{2})-(?P<force>[a-z0-9-]+?)"
                           r"-(?P<kind>street|outcomes|stop-and-search)\.csv(?:\.gz)?$")

#: Why the other kinds of file in a bulk download are not ingested.
ARCHIVE_SKIPPED = {
    "outcomes": "case outcomes of crimes already in the street files, not incidents",
    "stop-and-search": "stop and search describes persons, never ingested",
}


def archive_files(names: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """Sort the file names of a police.uk bulk download into street files to ingest and skipped files.

    Parameters
    ----------
    names : list of str
        Paths inside the archive or folder (``/`` separated), e.g. ``2024-01/2024-01-west-yorkshire-street.csv``.

    Returns
    -------
    files : DataFrame
        ``name, month, force`` of the street files, by month then force.
    skipped : list of str
        ``"name: why"`` for every other file (outcomes, stop and search, anything else).

    Examples
    --------
    >>> files, skipped = archive_files(["2024-01/2024-01-west-yorkshire-street.csv",
    ...     "2024-01/2024-01-west-yorkshire-stop-and-search.csv", "2024-01/2024-01-west-yorkshire-outcomes.csv"])
    >>> files[["month", "force"]].to_numpy().tolist()
    [['2024-01', 'west-yorkshire']]
    >>> skipped[1]
    '2024-01/2024-01-west-yorkshire-stop-and-search.csv: stop and search describes persons, never ingested'
    """
    s = pd.Series(sorted(n for n in names if not n.endswith("/")), dtype=object)
    parts = s.str.extract(_ARCHIVE_FILE)
    street = parts["kind"] == "street"
    why = parts["kind"].map(ARCHIVE_SKIPPED).fillna("not a police.uk street, outcomes or stop-and-search file")
    skipped = (s[~street] + ": " + why[~street]).tolist()
    files = pd.DataFrame({"name": s[street], "month": parts.loc[street, "month"],
                          "force": parts.loc[street, "force"]}).sort_values(["month", "force"], kind="stable")
    return files.reset_index(drop=True), skipped
