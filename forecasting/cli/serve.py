"""``crimecast serve``: the dashboard behind waitress (a production WSGI server)."""

from __future__ import annotations

from typing import Annotated

import typer

from forecasting.cli._common import settings
from forecasting.errors import ConfigError


def serve(
    host: Annotated[str, typer.Option("--host", help="Bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8050,
    threads: Annotated[int, typer.Option("--threads", help="Worker threads.")] = 8,
) -> None:
    """Serve the dashboard (sign-in required) until Ctrl+C."""
    if not 0 < port < 65536:
        raise ConfigError(f"port must be in 1..65535; got {port}")
    if threads < 1:
        raise ConfigError(f"threads must be at least 1; got {threads}")
    import dashboards

    dashboards.serve(settings(), host, port, threads=threads)
