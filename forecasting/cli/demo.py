"""``crimecast demo``: the sample city end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from forecasting.cli._common import factory, settings
from forecasting.cli.ingest import print_summaries, progress
from forecasting.errors import InputError

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "data" / "sample"
DEMO_INCIDENTS = ("vancouver_4_neighbourhoods_2022_2024.csv.gz", "vancouver")


def demo(
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve the dashboard at the end.")] = True,
) -> None:
    """Prepare the bundled sample city end to end: migrate, ingest, forecast."""
    from forecasting import jobs
    from forecasting.store import migrate

    cfg = settings()
    url = cfg.resolved_database_url()
    typer.echo(f"database: {url}")
    migrate.upgrade(url)
    name, fmt = DEMO_INCIDENTS
    path = SAMPLE_DIR / name
    if not path.exists():
        raise InputError(f"bundled sample {path} is missing; is this a full checkout?")
    with progress(path, enabled=True) as advance:
        summary = jobs.ingest_incidents(factory(), cfg, path, fmt, progress=advance)
    print_summaries([summary])


