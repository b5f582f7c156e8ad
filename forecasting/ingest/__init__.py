"""Ingestion: one module per source format, the only place raw column names appear.

>>> sorted(INCIDENT_FORMATS)
['canonical', 'chicago', 'generic', 'policeuk', 'sf', 'vancouver']
"""

from __future__ import annotations

from forecasting.errors import InputError
from forecasting.ingest.base import AdapterOptions, IncidentAdapter
from forecasting.ingest.canonical import CanonicalAdapter
from forecasting.ingest.chicago import ChicagoAdapter
from forecasting.ingest.generic import GenericAdapter
from forecasting.ingest.pipeline import (
    QUARANTINE_COLUMNS,
    IngestChunk,
    classify_duplicates,
    json_rows,
    read_incidents,
)
from forecasting.ingest.policeuk import PoliceUKAdapter
from forecasting.ingest.reader import file_sha256
from forecasting.ingest.sf import SanFranciscoAdapter
from forecasting.ingest.vancouver import VancouverAdapter

INCIDENT_FORMATS: dict[str, type[IncidentAdapter]] = {
    a.name: a
    for a in (
        CanonicalAdapter, ChicagoAdapter, SanFranciscoAdapter, VancouverAdapter,
        PoliceUKAdapter, GenericAdapter,
    )
}


def incident_adapter(fmt: str, options: AdapterOptions | None = None) -> IncidentAdapter:
    """The adapter for format ``fmt``; InputError naming the known formats otherwise."""
    try:
        cls = INCIDENT_FORMATS[fmt]
    except KeyError:
        raise InputError(
            f"format must be one of {sorted(INCIDENT_FORMATS)}; got {fmt!r}"
        ) from None
    return cls(options)


__all__ = [
    "INCIDENT_FORMATS", "QUARANTINE_COLUMNS", "AdapterOptions", "IngestChunk",
    "classify_duplicates", "file_sha256", "incident_adapter", "json_rows", "read_incidents",
]
