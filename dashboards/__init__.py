"""crimecast web dashboard (Dash): risk map, cameras, models, exports, with sign-in and roles.

Public API: :func:`create_app`, :func:`serve`, :func:`ensure_demo_user`, and the provider protocol
:class:`dashboards.contracts.DashboardProvider`. Importing this package has no side effects.
"""

from __future__ import annotations


def create_app(settings, provider=None, **kwargs):
    """Build the Dash app; see :func:`dashboards.app.create_app`."""
    from dashboards.app import create_app as _create

    return _create(settings, provider, **kwargs)


def serve(settings, host: str = "127.0.0.1", port: int = 8050, **kwargs) -> None:
    """Serve with waitress; see :func:`dashboards.app.serve`."""
    from dashboards.app import serve as _serve

    _serve(settings, host, port, **kwargs)


def ensure_demo_user(factory, **kwargs) -> tuple[str, str]:
    """Create or reset the demo account; see :func:`dashboards.app.ensure_demo_user`."""
    from dashboards.app import ensure_demo_user as _ensure

    return _ensure(factory, **kwargs)


__all__ = ["create_app", "ensure_demo_user", "serve"]
