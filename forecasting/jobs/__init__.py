"""Jobs that join the library to the store; the CLI and the dashboard call these.

A composition layer (like ``cli``): it may import anything but ``cli``. Each job takes a
session factory and owns its transactions. One module per domain.
"""

from forecasting.jobs.database import ensure_database
from forecasting.jobs.ingest import (
    ArchiveSummary,
    IngestSummary,
    atomic_run,
    ingest_incidents,
    ingest_policeuk_archive,
    prefetch,
)

__all__ = ["ArchiveSummary", "IngestSummary", "atomic_run", "ensure_database", "ingest_incidents",
           "ingest_policeuk_archive", "prefetch"]
