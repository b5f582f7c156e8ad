"""The Dash application: factory, production server and the demo account."""

from __future__ import annotations

import secrets
from pathlib import Path

from dashboards import auth, ids
from dashboards.settings import DashboardSettings, secret_key

DEMO_USER = "demo"


def create_app(settings, provider=None, *, recorder=None, dash_settings: DashboardSettings | None = None):
    """Build the dashboard (nothing is served; see :func:`serve`).

    Parameters
    ----------
    settings : forecasting.config.Settings
        Where the database and data directory are.
    provider : DashboardProvider, optional
        Data source of the pages; default a :class:`~dashboards.store_provider.StoreProvider` on the
        configured (migrated) database.
    recorder : Recorder, optional
        Audit and task writer; default a :class:`~dashboards.tasks.StoreRecorder`, or the
        provider itself when it is also a recorder (such as the tests' fake).
    dash_settings : DashboardSettings, optional
        Map, session and boundary settings; default from ``CRIMECAST_*`` environment variables.

    Returns
    -------
    dash.Dash
        ``app.server`` is the Flask WSGI application.

    Examples
    --------
    >>> import tempfile
    >>> from forecasting.config import load_settings
    >>> from tests.support.fake_provider import FakeProvider
    >>> app = create_app(load_settings(data_dir=tempfile.mkdtemp()), FakeProvider(n_cells=50))
    >>> type(app.server).__name__
    'Flask'
    """
    import dash
    import plotly.io as pio
    from dash import Input, Output, dcc, html

    from dashboards.contracts import Recorder
    from dashboards.pages import PageContext, page_modules
    from dashboards.store_provider import StoreProvider
    from dashboards.tasks import StoreRecorder

    ds = dash_settings or DashboardSettings()
    # Cached maps and cell panels are JSON encoded once (dashboards.figure_cache.encoded) and embedded in
    # responses as orjson fragments: Dash must encode responses with orjson ("auto" picks it; make it certain).
    pio.json.config.default_engine = "orjson"
    if provider is None:
        from forecasting.store.session import check_migrated, make_engine, make_session_factory

        url = settings.resolved_database_url()
        engine = make_engine(url)
        check_migrated(engine)
        factory = make_session_factory(engine)
        provider = StoreProvider(factory, boundary_files=ds.boundary_files, data_dir=settings.data_dir,
                                 timezone=settings.timezone, settings=settings)
        recorder = recorder or StoreRecorder(factory, url)
    if recorder is None:
        if not isinstance(provider, Recorder):
            raise TypeError("recorder is required when the provider does not also record (audit, tasks)")
        recorder = provider
    ctx = PageContext(provider=provider, recorder=recorder, settings=ds, timezone=provider.display_timezone(),
                      backtest_out_dir=str(Path(settings.artifacts_dir()) / "backtests"))
    pages = page_modules()
    app = dash.Dash(__name__, title="crimecast", suppress_callback_exceptions=True, update_title=None,
                    assets_folder=str(Path(__file__).parent / "assets"), serve_locally=True,
                    # Offline maps draw only cartesian traces: the 1.5 MB cartesian plotly.js bundle in
                    # assets/ replaces the 4.8 MB full one (a slow first load otherwise). Online maps
                    # need the map traces, so they skip it and dcc.Graph loads the full bundle.
                    assets_ignore=r"plotly-cartesian\.min\.js" if ds.online else "")
    auth.install(app.server, provider=provider, recorder=recorder,
                 secret_key=secret_key(ds, Path(settings.data_dir)), cookie_secure=ds.cookie_secure,
                 session_hours=ds.session_hours, idle_minutes=ds.session_idle_minutes)
    if ds.trusted_proxies:  # client address (throttling, audit) from X-Forwarded-For of these proxies only
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.server.wsgi_app = ProxyFix(app.server.wsgi_app, x_for=ds.trusted_proxies, x_proto=ds.trusted_proxies,
                                       x_host=ds.trusted_proxies)

    def shell():
        user = auth.current_user()
        badge = f"{user.username} ({user.role})" if user else ""
        return html.Div([
            dcc.Location(id=ids.URL),
            html.Div([html.Span("crimecast", className="cc-brand"),
                      *([html.Span("simulated city", id=ids.SIMULATED_BADGE, className="cc-simulated",
                                   title="Forecasts, cameras and patrol plans here describe a simulated city, "
                                         "not a real one")] if ctx.provider.simulated() else []),
                      html.Nav(id=ids.NAV, children=_nav(pages, "/"), style={"display": "flex", "gap": "18px"}),
                      html.Span([badge, " \u00b7 ", _sign_out_form()], id=ids.USER_BADGE,
                                className="cc-user")], className="cc-header"),
            html.Div(id=ids.PAGE, className="cc-main"),
        ])

    app.layout = shell
    by_path = {m.PATH: m for m in pages}

    @app.callback(Output(ids.PAGE, "children"), Output(ids.NAV, "children"), Input(ids.URL, "pathname"))
    def _route(path):
        page = by_path.get(path or "/")
        user = auth.current_user()
        if page is None:
            return html.H3(f"No page at {path}"), _nav(pages, path)
        recorder.audit(user.username if user else None, "view", target=f"page:{page.PATH}")
        return page.layout(ctx), _nav(pages, page.PATH)

    for m in pages:
        m.register(app, ctx)
    auth.add_security_headers(app.server, script_hashes=app.csp_hashes(), online=ds.online)
    _quiet_static_errors(app.server)
    app.crimecast_context = ctx
    return app


def _quiet_static_errors(server) -> None:
    """A bad ``/_dash-component-suites/`` path is a 404 and one log line, not a 500 with a traceback."""
    from dash.exceptions import DependencyException
    from flask import request

    @server.errorhandler(DependencyException)
    def _not_found(_exc):
        server.logger.warning("not served: %s", request.path[:200])
        return "Not found", 404


def _sign_out_form():
    """Sign-out is a POST with the session's token (a GET link could be triggered by any page)."""
    from dash import dcc, html

    return html.Form([dcc.Input(type="hidden", name="csrf", value=auth.csrf_token()),
                      html.Button("Sign out", type="submit", id="sign-out", className="cc-signout")],
                     method="POST", action="/logout", style={"display": "inline"})


def _nav(pages, active: str):
    from dash import dcc

    return [dcc.Link(m.TITLE, href=m.PATH, className="active" if m.PATH == active else "",
                     id=f"nav-{m.TITLE.lower().replace(' ', '-')}") for m in pages]


def serve(settings, host: str = "127.0.0.1", port: int = 8050, *, threads: int = 8, provider=None) -> None:
    """Serve the dashboard with waitress (a production WSGI server) until interrupted.

    Parameters
    ----------
    settings : forecasting.config.Settings
    host : str, default "127.0.0.1"
        Bind address; use ``0.0.0.0`` only behind a TLS-terminating proxy.
    port : int, default 8050
    threads : int, default 8
        Worker threads: a slow callback of one user does not block others.
    """
    from waitress import serve as waitress_serve

    app = create_app(settings, provider)
    warm_up(app)
    print(f"crimecast dashboard on http://{host}:{port}/ (sign in; Ctrl+C stops)", flush=True)
    waitress_serve(app.server, host=host, port=port, threads=threads, ident="crimecast")


def warm_up(app) -> None:
    """Render the risk map once before serving, so the first sign-in does not pay for imports and cold reads.

    Nothing is audited: no user is involved. Failures are ignored (an empty database is fine).
    """
    from dashboards.pages import risk_map

    ctx = app.crimecast_context
    try:
        risk_map.layout(ctx)
        runs = ctx.provider.forecast_runs()
        if len(runs):
            risk_map.map_figure(ctx, int(runs.iloc[0]["id"]), "expected_count", ["cameras", "boundaries"])
        # The newest run of each period kind with the layers ticked on arrival: a run of a million cells
        # reads its values once (cached), so the first far-out view after sign-in is served from memory.
        for run_id in runs.sort_values("id").groupby("period")["id"].last():
            risk_map.map_figure(ctx, int(run_id), "expected_count", risk_map.default_layers(ctx.provider))
    except Exception:  # noqa: BLE001 - a warm-up must never stop the server from starting
        pass


def ensure_demo_user(factory, username: str = DEMO_USER, role: str = "analyst") -> tuple[str, str]:
    """Create (or reset) the demo account with a fresh random password, and return ``(username, password)``.

    Only for ``crimecast demo``: there is no default password anywhere else.

    Parameters
    ----------
    factory : sessionmaker
        Session factory on a migrated database.
    username : str, default "demo"
    role : {"viewer", "analyst", "admin"}, default "analyst"
    """
    from forecasting.store.governance import create_user, get_user, record_audit, set_password, set_role
    from forecasting.store.session import transaction

    password = secrets.token_urlsafe(12)
    with transaction(factory) as s:
        if get_user(session=s, username=username) is None:
            create_user(session=s, username=username, password=password, role=role)
        else:
            set_password(session=s, username=username, password=password)
            set_role(session=s, username=username, role=role)
        record_audit(session=s, username=None, action="user_demo", target=username)
    return username, password
